"""The replay check of every stored run in the book (book/results/): its first steps, recomputed now on this
machine from its stored config and variants, must match its stored records.

A stored run holds results too slow to recompute on every build; this test is what keeps it honest. When the
engine or a chapter's setting changes what a run computes, the replay differs and the test names the run and
the command that regenerates it.

Tolerance: the replay runs the same float32 programs, so on the machine that stored the run it agrees exactly
(measured: 0 difference in every record). On another CPU, XLA may order float32 sums differently; after 100
steps that moves the weights by about 1e-6 relative, which can flip a few of 60,000 borderline predictions
(1e-4 in an accuracy) and the statistics by about 1e-5 relative. ATOL = 2e-3 and RTOL = 1e-2 are over ten
times those, and far below what a real change does: a learning rate 30 % off moves the records by 1e-2 to
1e-1 (tests/engine/test_runs.py shows a drifted run failing).
"""
import importlib

import numpy as np
import pytest

from cgnb.chapters import STORED_RUN_MODULES
from cgnb.engine import paths

ATOL, RTOL = 2e-3, 1e-2

CATALOGS = {chapter: importlib.import_module(module).CATALOG for chapter, module in STORED_RUN_MODULES.items()}
CASES = [(chapter, name) for chapter, catalog in sorted(CATALOGS.items()) for name in sorted(catalog.settings)]


def test_every_stored_run_is_in_the_book():
    for chapter, name in CASES:
        folder = paths.results_dir() / chapter / name
        assert (folder / "run.json").is_file() and (folder / "arrays.npz").is_file(), \
            f"stored run {chapter}/{name} is missing: `python scripts/store_run.py {chapter} {name}` computes it"


@pytest.mark.parametrize("chapter,name", CASES)
def test_stored_run_replays(chapter, name):
    catalog = CATALOGS[chapter]
    run = catalog.load(name)  # checks the stored config against the chapter's setting, and the data
    steps, stored, replayed = catalog.replay(run)
    bad = []
    for key in sorted(stored):
        a, b = np.asarray(stored[key], float), np.asarray(replayed[key], float)
        both_nan = np.isnan(a) & np.isnan(b)
        off = ~both_nan & ~(np.abs(a - b) <= ATOL + RTOL * np.abs(a))
        if off.any():
            bad.append(f"{key}: largest difference {np.nanmax(np.abs(a - b)):.3g}")
    assert not bad, (f"stored run {chapter}/{name} no longer matches the engine over its first {steps[-1]} steps "
                     f"({len(bad)} records differ beyond {ATOL} + {RTOL} x |stored|):\n  " + "\n  ".join(bad)
                     + f"\nIf the change is intended, regenerate it: python scripts/store_run.py {chapter} {name} "
                       f"(and commit book/results/{chapter}/{name}/).")
