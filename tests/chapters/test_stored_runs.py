"""The replay check of every stored run in the book (book/results/): the first REPLAY_RECORDS trained records of
every sweep it holds, recomputed now on this machine from the sweep's stored config and variants, must match
its stored records (reading the run first checks its seal: cgnb.engine.runfiles).

Its derived summaries (arrays that are no sweep's records, such as chapter 4's early contributions) are
recomputed for their first step by the chapter's Catalog.replay_summaries and compared the same way.

A stored run holds results too slow to recompute on every build; this test is what keeps it honest. When the
engine or a chapter's setting changes what a run computes, the replay differs and the test names the run and
the command that regenerates it.

Tolerance, measured: on the machine that stored the runs the replay agrees exactly (0 difference in every
record of coherent_gradients/fashion-60k over 100 steps and winsorized_sgd/fashion-30k over 300; fashion-30k has since
been replaced by fashion-60k). With XLA forced to one thread, which
changes the order of float32 sums, the largest difference was 2.4e-7 absolute (a test loss) and 5.4e-7 relative.
Another CPU may also flip a borderline prediction, 1e-4 of an accuracy on 10,000 test images. ATOL = RTOL = 1e-3 is
ten times that and far below what a real change does (a learning rate 30 % off moves the losses by more than 1e-3
within 20 steps: tests/engine/test_runs.py).
"""
import numpy as np
import pytest

from cgnb.chapters import all_chapters
from cgnb.engine import paths
from cgnb.engine.replay import REPLAY_RECORDS, sweep_prefixes, variants_of

ATOL, RTOL = 1e-3, 1e-3
#: The derived summaries are small numbers (coherences of 0.004-0.02, contributions of 0.05-0.5 nats after one step),
#: so they are compared with RTOL alone (and an absolute floor far below them); the replay agrees to 1e-8 here.
DERIVED_ATOL = 1e-7

CATALOGS = {c.name: c.catalog for c in all_chapters() if c.catalog is not None}
CASES = [(chapter, name) for chapter, catalog in sorted(CATALOGS.items()) for name in sorted(catalog.settings)]


def test_the_chapters_with_stored_runs_are_found():
    assert sorted(CATALOGS) == ["coherent_gradients", "winsorized_sgd"]
    assert all(catalog.chapter == chapter for chapter, catalog in CATALOGS.items())


def test_every_stored_run_is_in_the_book():
    for chapter, name in CASES:
        folder = paths.results_dir() / chapter / name
        assert (folder / "run.json").is_file() and (folder / "arrays.npz").is_file(), \
            f"stored run {chapter}/{name} is missing: `python scripts/store_run.py {chapter} {name}` computes it"


def differences(stored: dict, replayed: dict, atol: float = ATOL) -> list[str]:
    """One line per record whose replayed values differ from the stored ones beyond atol + RTOL * |stored|."""
    bad = []
    for key in sorted(stored):
        a, b = np.asarray(stored[key], float), np.asarray(replayed[key], float)
        both_nan = np.isnan(a) & np.isnan(b)
        off = ~both_nan & ~(np.abs(a - b) <= atol + RTOL * np.abs(a))
        if off.any():
            bad.append(f"{key}: largest difference {np.nanmax(np.abs(a - b)):.3g}")
    return bad


def test_the_comparison_flags_drift_and_nothing_else():
    stored = {"train_acc": np.array([[0.5, 0.9]]), "alpha_p": np.array([[np.nan, 0.3]])}
    assert differences(stored, {"train_acc": np.array([[0.5, 0.9004]]), "alpha_p": np.array([[np.nan, 0.3]])}) == []
    drifted = differences(stored, {"train_acc": np.array([[0.5, 0.91]]), "alpha_p": np.array([[0.1, 0.3]])})
    assert [line.split(":")[0] for line in drifted] == ["alpha_p", "train_acc"]


@pytest.mark.parametrize("chapter,name", CASES)
def test_stored_run_replays(chapter, name):
    """Every sweep of the run, over its first REPLAY_RECORDS trained records (each with its own variants)."""
    catalog = CATALOGS[chapter]
    run = catalog.load(name)  # checks the seal, the stored config against the chapter's setting, and the data
    replays = catalog.replay_all(run)
    assert set(replays) == set(sweep_prefixes(run)) and catalog.replay_prefixes[0] in replays
    failures = []
    for prefix, (steps, stored, replayed) in sorted(replays.items()):
        assert len(steps) >= 1 + REPLAY_RECORDS, f"{prefix}: only the records at steps {steps} were compared"
        bad = differences(stored, replayed)
        if bad:
            failures.append(f"sweep {prefix!r} over its first {steps[-1]} steps ({len(bad)} records differ beyond "
                            f"{ATOL} + {RTOL} x |stored|):\n    " + "\n    ".join(bad))
    assert not failures, (f"stored run {chapter}/{name} no longer matches the engine:\n  " + "\n  ".join(failures)
                          + f"\nIf the change is intended, regenerate it: python scripts/store_run.py {chapter} {name} "
                            f"(and commit book/results/{chapter}/{name}/).")


def derived_arrays(run) -> list[str]:
    """The run's arrays that belong to no sweep and no stored variants: its derived summaries."""
    owners = [f"{prefix}/" for prefix in sweep_prefixes(run)]
    owners += [f"{prefix}/" for prefix in {variants_of(run, prefix) for prefix in sweep_prefixes(run)}]
    return sorted(name for name in run.arrays if not any(name.startswith(owner) for owner in owners))


@pytest.mark.parametrize("chapter,name", CASES)
def test_stored_run_replays_the_first_step_of_its_derived_summaries(chapter, name):
    catalog = CATALOGS[chapter]
    run = catalog.load(name)
    derived = derived_arrays(run)
    if catalog.replay_summaries is None:
        assert derived == [], f"stored run {chapter}/{name} holds derived arrays {derived} that no replay checks"
        return
    assert derived, f"{chapter}'s catalog replays derived summaries, but {name} holds none"
    replays = catalog.replay_derived(run)
    bad = differences({k: s for k, (s, _) in replays.items()}, {k: r for k, (_, r) in replays.items()}, DERIVED_ATOL)
    assert not bad, (f"stored run {chapter}/{name}: the first step of its derived summaries no longer matches:\n  "
                     + "\n  ".join(bad) + f"\nIf the change is intended: python scripts/store_run.py {chapter} {name}")
