"""Tests of cgnb.chapters.winsorized_runs: a chapter-5 setting computed, stored, read back and replayed."""
import numpy as np
import pytest

from cgnb.chapters import winsorized_runs
from cgnb.engine import runs

TINY = winsorized_runs.Setting(source="embedded", n_train=300, n_test=100, hidden=(6, 6), steps=40, record_every=20,
                               noise_levels=(0.0, 0.5), cs=(0, 1, 2), claim_levels=(0.5,), seeds=(0, 1))


@pytest.fixture()
def stored_tiny(tmp_path, monkeypatch):
    monkeypatch.setitem(winsorized_runs.CATALOG.settings, "tiny", TINY)
    monkeypatch.setattr(winsorized_runs, "CATALOG", winsorized_runs.CATALOG.__class__(
        **{**winsorized_runs.CATALOG.__dict__, "replay_prefixes": ("winsorized-c2", "variants-c2"), "replay_steps": 20}))
    winsorized_runs.CATALOG.store("tiny", directory=tmp_path)
    return tmp_path


def test_a_stored_setting_reads_back_as_computed(stored_tiny):
    setting, stored, run = winsorized_runs.load_stored("tiny", directory=stored_tiny)
    computed = winsorized_runs.compute(TINY)  # from the result cache
    assert setting == TINY and sorted(stored.winsorized) == [1, 2]
    for a, b in [(stored.sgd, computed.sgd), (stored.rm3, computed.rm3),
                 *((stored.winsorized[c], computed.winsorized[c]) for c in (1, 2))]:
        assert a.config == b.config
        for k, v in b.records.items():
            np.testing.assert_array_equal(a.records[k], v, err_msg=k)
    grid, rm3_grid = winsorized_runs.grids(stored, TINY.cs, TINY.noise_levels)
    assert len(grid[(2, 0.5)]) == 2 and len(grid[(1, 0.0)]) == 1 and len(rm3_grid[0.5]) == 2
    assert grid[(2, 0.5)][0].c == 2 and grid[(0, 0.5)][0].c == 0


def test_the_replay_of_the_winsorized_sweep_matches(stored_tiny):
    run = winsorized_runs.CATALOG.load("tiny", directory=stored_tiny)
    steps, stored, replayed = winsorized_runs.CATALOG.replay(run)
    np.testing.assert_array_equal(steps, [0, 20])
    for k in stored:
        np.testing.assert_allclose(replayed[k], stored[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_settings_need_plain_sgd_and_refuse_other_configs(stored_tiny, monkeypatch):
    with pytest.raises(ValueError, match="must include 0"):
        winsorized_runs.Setting(**{**TINY.as_dict(), "cs": (1, 2)})
    monkeypatch.setitem(winsorized_runs.CATALOG.settings, "tiny",
                        winsorized_runs.Setting(**{**TINY.as_dict(), "hidden": (6, 7)}))
    with pytest.raises(runs.ConfigMismatch, match="hidden"):
        winsorized_runs.load_stored("tiny", directory=stored_tiny)
