# Sourced by the build and test scripts: create .venv with Python >= 3.10 if missing,
# install the pinned requirements (and cgnb, editable) once per change of requirements.txt.
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
source .venv/bin/activate
stamp=.venv/.cgnb-requirements
if ! cmp -s requirements.txt "$stamp" 2>/dev/null; then
  python -m pip install -q --upgrade pip
  python -m pip install -q -r requirements.txt
  cp requirements.txt "$stamp"
fi
export CGNB_PROFILE=${CGNB_PROFILE:-quick}
