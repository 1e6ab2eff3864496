"""Tests of cgnb.chapters.winsorized_sgd.setting: the variant grid, the static-c sweeps, a setting stored and read back."""
import jax
import numpy as np
import pytest

from cgnb.chapters.winsorized_sgd import setting
from cgnb.engine import runs, sweep

from .problems import SIZES


def test_run_winsorized_static_levels_match_the_traced_engine_sweep():
    """One sweep per c with c compiled in gives the engine's traced-c sweep's records."""
    rng = np.random.default_rng(0)
    from cgnb.engine import data as cdata
    ds = cdata.Dataset(rng.uniform(size=(40, SIZES[0])).astype(np.float32), rng.integers(0, 3, 40).astype(np.int32),
                       rng.uniform(size=(20, SIZES[0])).astype(np.float32), rng.integers(0, 3, 20).astype(np.int32),
                       "test", "random")
    variants = sweep.Variants.noise_grid(jax.random.PRNGKey(0), ds.y_train, [0.5], cs=[1, 2])
    config = sweep.SweepConfig(sizes=SIZES, steps=6, record_every=3, batch_size=10, lr=0.5, method="winsorized",
                               c_max=2)
    traced = sweep.run_sweep(config, ds, variants, cache=False, progress=False)
    static = setting.run_winsorized(config, ds, variants, cache=False, progress=False)
    assert sorted(static) == [1, 2]
    for c, result in static.items():
        assert result.config.c_max == c and list(result.c) == [c]
        v = int(traced.index(c=c)[0])
        np.testing.assert_allclose(result.train_loss[0], traced.train_loss[v], rtol=1e-5)


def test_seeded_grid_gives_all_seeds_only_at_claim_levels():
    y = np.arange(40) % 10
    v = setting.seeded_grid(jax.random.PRNGKey(0), y, [0.0, 0.5, 1.0], seeds=[0, 1, 2], claim_levels=[0.5],
                               cs=[1, 4])
    assert len(v) == (1 + 3 + 1) * 2
    assert sorted(set(v.seed[v.noise == 0.5])) == [0, 1, 2] and set(v.seed[v.noise != 0.5]) == {0}
    # a (noise, seed) cell has the labels noise_grid gives it, whatever else is in the grid
    alone = sweep.Variants.noise_grid(jax.random.PRNGKey(0), y, [0.5], seeds=[1])
    np.testing.assert_array_equal(v.labels[(v.noise == 0.5) & (v.seed == 1)][0], alone.labels[0])
    with pytest.raises(ValueError, match="claim_levels"):
        setting.seeded_grid(jax.random.PRNGKey(0), y, [0.0], seeds=[0], claim_levels=[0.5])


TINY = setting.Setting(source="embedded", n_train=300, n_test=100, hidden=(6, 6), steps=40, record_every=20,
                               noise_levels=(0.0, 0.5), cs=(0, 1, 2), claim_levels=(0.5,), seeds=(0, 1))


@pytest.fixture()
def stored_tiny(tmp_path, monkeypatch):
    monkeypatch.setitem(setting.CATALOG.settings, "tiny", TINY)
    monkeypatch.setattr(setting, "CATALOG", setting.CATALOG.__class__(
        **{**setting.CATALOG.__dict__, "replay_prefixes": ("winsorized-c2", "variants-c2"), "replay_steps": 20}))
    setting.CATALOG.store("tiny", directory=tmp_path)
    return tmp_path


def test_a_stored_setting_reads_back_as_computed(stored_tiny):
    stored_setting, stored, run = setting.CATALOG.open("tiny", directory=stored_tiny)
    computed = setting.compute(TINY)  # from the result cache
    assert stored_setting == TINY and sorted(stored.winsorized) == [1, 2]
    for a, b in [(stored.sgd, computed.sgd), (stored.rm3, computed.rm3),
                 *((stored.winsorized[c], computed.winsorized[c]) for c in (1, 2))]:
        assert a.config == b.config
        for k, v in b.records.items():
            np.testing.assert_array_equal(a.records[k], v, err_msg=k)
    grid, rm3_grid = setting.grids(stored, TINY.cs, TINY.noise_levels)
    assert len(grid[(2, 0.5)]) == 2 and len(grid[(1, 0.0)]) == 1 and len(rm3_grid[0.5]) == 2
    assert grid[(2, 0.5)][0].c == 2 and grid[(0, 0.5)][0].c == 0


def test_the_replay_of_the_winsorized_sweep_matches(stored_tiny):
    run = setting.CATALOG.load("tiny", directory=stored_tiny)
    steps, stored, replayed = setting.CATALOG.replay(run)
    np.testing.assert_array_equal(steps, [0, 20])
    for k in stored:
        np.testing.assert_allclose(replayed[k], stored[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_settings_need_plain_sgd_and_refuse_other_configs(stored_tiny, monkeypatch):
    with pytest.raises(ValueError, match="must include 0"):
        setting.Setting(**{**TINY.as_dict(), "cs": (1, 2)})
    monkeypatch.setitem(setting.CATALOG.settings, "tiny",
                        setting.Setting(**{**TINY.as_dict(), "hidden": (6, 7)}))
    with pytest.raises(runs.ConfigMismatch, match="hidden"):
        setting.CATALOG.open("tiny", directory=stored_tiny)


def test_paper_programs_compile_the_three_methods_with_c_static():
    seen = []

    def sweep_chunk(config, v, n_train, n_test, level=None):
        seen.append((config, v, n_train, n_test, level))
        return (lambda: None), ()

    programs = setting.paper_programs(TINY.as_dict(), sweep_chunk=sweep_chunk)
    assert [p[0].split(":")[0] for p in programs] == ["sweep chunk sgd", "sweep chunk rm3", "sweep chunk winsorized c=2"]
    assert [(c.method, c.c_max, level) for c, *_, level in seen] == [("sgd", 0, None), ("rm3", 0, None),
                                                                      ("winsorized", 2, 2)]
    assert {(v, n, m) for _, v, n, m, _ in seen} == {(3, 300, 100)}  # seeds 0, 1 at 0.5; seed 0 at 0.0


def test_the_control_trains_the_grids_cells_at_another_learning_rate():
    data = TINY.load_data()
    control = setting.compute_control(TINY, data, [0.03], 0.5, progress=False)
    result = control[0.03]
    assert result.config.lr == 0.03 and result.config.c_max == max(TINY.cs) and list(result.c) == [2, 2]
    grid = TINY.variants(data, [2])
    cells = grid[grid.noise == 0.5]
    np.testing.assert_array_equal(result.pristine, cells.pristine)   # the labels of the grid's cells
    np.testing.assert_array_equal(result.seed, cells.seed)
    run = setting.show("quick", "tiny", None, TINY, setting.compute(TINY, data), control)
    assert sorted(run.control) == [0.03] and len(run.control[0.03]) == 2 and run.has_model
    with pytest.raises(ValueError, match="positive"):
        setting.compute_control(TINY, data, [0.0], 0.5)


def test_a_stored_run_opens_with_its_own_ledger(stored_tiny):
    from cgnb.chapters.winsorized_sgd import CHAPTER
    seen = {}

    def ledger(chapter, **kwargs):
        seen.update(kwargs, chapter=chapter)
        return "ledger"

    run = setting.open_stored(CHAPTER, "tiny", ledger, directory=stored_tiny)
    assert run.ledger == "ledger" and run.stored.name == "tiny" and run.has_model
    assert seen["profile"] == "tiny" and seen["parameters"] == TINY.as_dict()
    assert seen["chapter"] is CHAPTER                                 # the tiny run recorded the network


def test_the_parameters_are_the_notebooks():
    from pathlib import Path

    from cgnb.engine import aot
    notebook = Path(__file__).resolve().parents[3] / "notebooks" / "05_winsorized_sgd.ipynb"
    for profile in ("quick", "paper"):
        values = aot.notebook_parameters(notebook, profile)
        assert sorted(values) == sorted(setting.PARAMETERS)
        assert setting.Setting.from_parameters(values).cs[0] == 0
    with pytest.raises(KeyError, match="lack"):
        setting.Setting.from_parameters({"source": "embedded"})
