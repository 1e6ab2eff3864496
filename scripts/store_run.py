"""Compute a chapter's stored run and write it to the book's results folder (book/results/<chapter>/<name>/).

    python scripts/store_run.py coherent_gradients fashion-60k [--results-dir DIR]

The computation goes through the result cache ($CGNB_CACHE_DIR), so an interrupted run resumes at
its last finished chunk when started again. A chapter's stored runs and what they set are its
``CHAPTER.catalog`` (a :class:`cgnb.engine.runs.Catalog`, e.g. in
``cgnb.chapters.coherent_gradients.setting``); the replay test (tests/chapters/test_stored_runs.py)
checks that a stored run still matches the engine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgnb.chapters import all_chapters  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    catalogs = {c.name: c.catalog for c in all_chapters() if c.catalog is not None}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", choices=sorted(catalogs))
    parser.add_argument("name", help="the stored run, e.g. fashion-60k")
    parser.add_argument("--results-dir", default=None, help="default: $CGNB_RESULTS_DIR or book/results")
    args = parser.parse_args(argv)
    catalog = catalogs[args.chapter]
    if args.name not in catalog.settings:
        parser.error(f"{args.chapter} has no stored run {args.name!r}; it has {sorted(catalog.settings)}")
    start = time.perf_counter()
    folder = catalog.store(args.name, directory=Path(args.results_dir) if args.results_dir else None)
    print(f"{args.chapter}/{args.name}: written to {folder} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
