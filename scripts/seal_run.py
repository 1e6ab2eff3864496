"""Add or refresh the seal of a stored run (book/results/<chapter>/<name>/) without recomputing it.

    python scripts/seal_run.py coherent_gradients fashion-60k [--results-dir DIR]
    python scripts/seal_run.py --all [--results-dir DIR]

The seal (``config_hash`` and ``arrays_sha256`` in ``run.json``, :mod:`cgnb.engine.runfiles`) ties
``run.json`` to ``arrays.npz``; reading a stored run checks it. Run this after a change that migrates
``run.json`` files (a renamed config field, say) or to seal a run written before seals existed, and
only when the arrays are the ones computed: sealing an edited run hides the edit. Running it again
changes nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgnb.engine import paths, runfiles, runs  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", nargs="?", help="e.g. coherent_gradients")
    parser.add_argument("name", nargs="?", help="the stored run, e.g. fashion-60k")
    parser.add_argument("--all", action="store_true", help="seal every stored run in the results folder")
    parser.add_argument("--results-dir", default=None, help="default: $CGNB_RESULTS_DIR or book/results")
    args = parser.parse_args(argv)
    if args.all == bool(args.chapter and args.name) or bool(args.chapter) != bool(args.name):
        parser.error("give a chapter and a run name, or --all")
    directory = Path(args.results_dir) if args.results_dir else paths.results_dir()
    if args.all:
        folders = sorted(run.parent for run in directory.glob(f"*/*/{runfiles.RUN_FILE}"))
    else:
        folders = [runs.run_dir(args.chapter, args.name, directory)]
    for folder in folders:
        try:
            changed = runfiles.seal(folder)
        except runfiles.StoredRunError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"{folder.relative_to(directory)}: {'sealed' if changed else 'already sealed, unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
