"""Where cgnb writes and reads: the claims ledger, the result cache and the stored runs.

Inside a checkout of the book (a folder holding ``_toc.yml`` and ``cgnb/``, found by
walking up from the working directory) everything goes under that folder; elsewhere
(e.g. a Colab runtime) under ``~/.cgnb``. Both can be overridden by environment
variables, ``CGNB_CLAIMS_DIR`` and ``CGNB_CACHE_DIR``.

Reference: jupyter-book's table of contents (``_toc.yml``), which marks the book's root.
"""
from __future__ import annotations

import os
from pathlib import Path


def book_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: cwd) that holds the book, or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "cgnb").is_dir():
            return folder
    return None


def _base() -> Path:
    root = book_root()
    return root if root is not None else Path.home() / ".cgnb"


def claims_dir() -> Path:
    """Folder of the claims ledger: ``$CGNB_CLAIMS_DIR`` or ``<book>/_build/claims``."""
    env = os.environ.get("CGNB_CLAIMS_DIR")
    return Path(env) if env else _base() / "_build" / "claims"


def cache_dir() -> Path:
    """Folder of the result cache: ``$CGNB_CACHE_DIR`` or ``<book>/.cache/cgnb``."""
    env = os.environ.get("CGNB_CACHE_DIR")
    return Path(env) if env else _base() / ".cache" / "cgnb"


def results_dir() -> Path:
    """Folder of the stored runs (:mod:`cgnb.engine.runs`): ``$CGNB_RESULTS_DIR`` or ``<book>/book/results``.

    Outside a checkout (e.g. a Colab runtime) there is no book folder: ``~/.cgnb/book/results``,
    which holds stored runs only if they were copied or computed there.
    """
    env = os.environ.get("CGNB_RESULTS_DIR")
    return Path(env) if env else _base() / "book" / "results"
