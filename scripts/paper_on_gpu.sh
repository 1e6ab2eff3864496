#!/usr/bin/env bash
# Run the paper profile chapter by chapter on a machine with a GPU, in the order given.
#
#   bash scripts/paper_on_gpu.sh [CHAPTER ...]       # chapters as 04 05 01 ...; default: every chapter of
#                                                    # cgnb.chapters.all_chapters(), in book order
#   PAPER_STEPS=500 bash scripts/paper_on_gpu.sh 03  # a rehearsal with 500 training steps
#
# Before training, the paper programs are compiled for abstract inputs and their memory
# checked (scripts/paper_programs.py). Each chapter then runs with CGNB_PROFILE=paper through
# scripts/paper_run.py, which prints steps/s and the ETA of the chapter. Executed notebooks,
# timings and the claims ledger go to $PAPER_OUT (default _build/paper; ledger in
# $PAPER_OUT/claims unless CGNB_CLAIMS_DIR is set). Interrupted? Run it again: finished
# chapters are skipped and the sweep cache resumes an unfinished chapter at its last chunk.
# Environment: PAPER_STEPS (shorten training), PAPER_FORCE=1 (rerun finished chapters),
# PAPER_SKIP_MEMORY=1 (skip the memory check), PAPER_EXTRA (more arguments to paper_run.py),
# PAPER_NOTEBOOKS (folder of the notebooks, default notebooks).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${PAPER_OUT:-_build/paper}
export CGNB_CLAIMS_DIR=${CGNB_CLAIMS_DIR:-$OUT/claims}
mkdir -p "$OUT" "$CGNB_CLAIMS_DIR"
chapters=("$@")
if [ ${#chapters[@]} -eq 0 ]; then
  read -r -a chapters <<< "$("$PY" -c "from cgnb.chapters import all_chapters; print(*(f'{c.number:02d}' for c in all_chapters()))")"
fi
"$PY" -c "import jax; print('backend:', jax.default_backend(), jax.devices())"

if [ "${PAPER_SKIP_MEMORY:-0}" != 1 ]; then
  "$PY" scripts/paper_programs.py "${chapters[@]}" --out "$OUT/paper_memory" || { echo "memory check failed"; exit 1; }
fi

extra=()
[ -n "${PAPER_STEPS:-}" ] && extra+=(--steps "$PAPER_STEPS")
[ "${PAPER_FORCE:-0}" = 1 ] && extra+=(--force)
read -r -a more <<< "${PAPER_EXTRA:-}"
failed=()
for c in "${chapters[@]}"; do
  nb=$(ls "${PAPER_NOTEBOOKS:-notebooks}"/"$c"_*.ipynb 2>/dev/null | head -1)
  [ -n "$nb" ] || { echo "no notebook for chapter $c"; failed+=("$c"); continue; }
  echo "=== chapter $c: $nb ($(date -u +%H:%M:%S) UTC)"
  "$PY" scripts/paper_run.py "$nb" --out-dir "$OUT" "${extra[@]}" "${more[@]}" || failed+=("$c")
done
echo "executed notebooks, timings: $OUT; ledger: $CGNB_CLAIMS_DIR"
[ ${#failed[@]} -eq 0 ] || { echo "chapters with errors: ${failed[*]}"; exit 1; }
