#!/usr/bin/env bash
# Run every test: the cgnb unit tests, the notebook checks, and every chapter notebook
# executed top to bottom by nbval (a failed claim assertion fails its notebook).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
python scripts/notebooks.py check
python -m pytest tests notebooks book/claims.ipynb --nbval-lax --nbval-current-env -p no:cacheprovider \
  --durations=15 "$@"
