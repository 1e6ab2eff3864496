#!/usr/bin/env bash
# Build the book: make the virtual environment if missing, install, execute every notebook
# (profile $CGNB_PROFILE, default quick) and write the static site to _build/html.
# Extra arguments go to `jupyter-book build` (CI passes -W -n --keep-going).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
jupyter-book build . "$@"
echo "The site is in $(pwd)/_build/html/index.html"
