#!/usr/bin/env bash
# Run every test: the cgnb unit tests, the notebook checks, and every chapter notebook
# executed top to bottom by nbval (a defect fails its notebook; verdicts never do), then the guarded verdicts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
python scripts/notebooks.py check
python -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider \
  --durations=15 "$@"
