"""Tests of cgnb.engine.runs: stored runs with provenance, the config check, and the replay of a stored sweep."""
import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from cgnb.engine import data as cdata
from cgnb.engine import replay, runs, store, sweep

CONFIG = {"source": "fashion", "n_train": 60000, "noise_levels": [0.0, 0.5], "width": 2048}


def test_save_and_load_round_trip_with_provenance(tmp_path):
    arrays = {"curve": np.linspace(0, 1, 7, dtype=np.float32), "mask": np.array([True, False]), "name": np.array("x")}
    folder = runs.save_run("ch9", "big", CONFIG, arrays, wall_s=12.34, directory=tmp_path)
    assert folder == tmp_path / "ch9" / "big" and {p.name for p in folder.iterdir()} == {"run.json", "arrays.npz"}
    run = runs.load_run("ch9", "big", CONFIG, directory=tmp_path)
    for k, v in arrays.items():
        np.testing.assert_array_equal(run.arrays[k], v)
        assert run.arrays[k].dtype == v.dtype
    p = run.provenance
    assert p["config"] == store.canonical(CONFIG) and p["config_hash"] == runs.config_hash(CONFIG)
    assert p["engine"] == store.engine_fingerprint() and p["wall_s"] == 12.3
    assert set(p["machine"]) >= {"backend", "device_kind", "cpu_cores"} and p["environment"]["jax"]
    assert p["date"].endswith("+00:00") and "commit" in p and "dirty" in p
    assert run.label.startswith("big (cpu, ") and "machine" in run.provenance_markdown()
    header, rule_line = run.provenance_markdown().splitlines()[:2]
    assert header.startswith("| run | `") and rule_line == "|---|---|"   # no empty header row
    assert runs.load_run("ch9", "big", directory=tmp_path).config == p["config"]  # no config: no check


def test_config_hash_is_canonical():
    assert runs.config_hash({"a": 1, "b": (2, 3)}) == runs.config_hash({"b": [2, 3], "a": 1})
    assert runs.config_hash({"a": 1}) != runs.config_hash({"a": 2})


def test_a_different_config_is_refused_with_every_difference(tmp_path):
    runs.save_run("ch9", "big", CONFIG, {"x": np.zeros(2)}, wall_s=1, directory=tmp_path)
    asked = {**CONFIG, "width": 1024, "steps": 10}
    del asked["source"]
    with pytest.raises(runs.ConfigMismatch) as error:
        runs.load_run("ch9", "big", asked, directory=tmp_path)
    text = str(error.value)
    assert "width: stored 2048, asked 1024" in text and "steps: stored '<absent>', asked 10" in text
    assert "source: stored 'fashion', asked '<absent>'" in text and "scripts/store_run.py ch9 big" in text


def test_missing_or_unreadable_runs_say_how_to_make_them(tmp_path):
    with pytest.raises(runs.StoredRunError, match="scripts/store_run.py ch9 none"):
        runs.load_run("ch9", "none", directory=tmp_path)
    folder = runs.save_run("ch9", "big", CONFIG, {"x": np.zeros(2)}, wall_s=1, directory=tmp_path)
    (folder / "arrays.npz").write_bytes(b"not a zip")
    with pytest.raises(runs.StoredRunError, match="unreadable"):
        runs.load_run("ch9", "big", directory=tmp_path)


def test_a_new_write_replaces_the_whole_run_and_a_failed_one_leaves_it(tmp_path, monkeypatch):
    runs.save_run("ch9", "big", CONFIG, {"x": np.zeros(2), "y": np.ones(1)}, wall_s=1, directory=tmp_path)
    runs.save_run("ch9", "big", {**CONFIG, "width": 8}, {"x": np.ones(3)}, wall_s=2, directory=tmp_path)
    run = runs.load_run("ch9", "big", directory=tmp_path)
    assert set(run.arrays) == {"x"} and run.config["width"] == 8 and run.provenance["wall_s"] == 2
    assert sorted(p.name for p in (tmp_path / "ch9").iterdir()) == ["big"]  # no temporary folders left

    def broken(path, write):
        raise OSError("disk full")

    monkeypatch.setattr(runs.store, "atomic_write", broken)
    with pytest.raises(OSError, match="disk full"):
        runs.save_run("ch9", "big", CONFIG, {"x": np.zeros(5)}, wall_s=3, directory=tmp_path)
    monkeypatch.undo()
    run = runs.load_run("ch9", "big", directory=tmp_path)
    assert run.arrays["x"].shape == (3,) and run.provenance["wall_s"] == 2
    assert sorted(p.name for p in (tmp_path / "ch9").iterdir()) == ["big"]


def test_bad_names_and_values_are_refused_before_anything_is_written(tmp_path):
    for chapter, name in (("ch9", "a/b"), ("", "x"), ("ch9", ".hidden")):
        with pytest.raises(ValueError, match="plain folder name"):
            runs.save_run(chapter, name, CONFIG, {"x": np.zeros(1)}, wall_s=1, directory=tmp_path)
    with pytest.raises(TypeError, match="object"):
        runs.save_run("ch9", "big", CONFIG, {"x": np.array([{}], dtype=object)}, wall_s=1, directory=tmp_path)
    with pytest.raises(TypeError):
        runs.save_run("ch9", "big", {"f": object()}, {"x": np.zeros(1)}, wall_s=1, directory=tmp_path)
    assert not (tmp_path / "ch9").exists()


def test_results_dir_follows_the_environment(tmp_path, monkeypatch):
    from cgnb.engine import paths

    monkeypatch.setenv("CGNB_RESULTS_DIR", str(tmp_path))
    assert paths.results_dir() == tmp_path
    runs.save_run("ch9", "big", CONFIG, {"x": np.zeros(1)}, wall_s=1)
    assert (tmp_path / "ch9" / "big" / "run.json").is_file()


# ---------------------------------------------------------------------------- sweeps and their replay


@pytest.fixture(scope="module")
def tiny_sweep():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(260, 12)).astype(np.float32)
    y = np.argmax(x @ rng.normal(size=(12, 3)), axis=1).astype(np.int32)
    data = cdata.Dataset(x[:200], y[:200], x[200:], y[200:], "tiny", "random linear teacher")
    import jax

    variants = sweep.Variants.noise_grid(jax.random.PRNGKey(0), data.y_train, [0.0, 0.5], seeds=[0])
    config = sweep.SweepConfig(sizes=(12, 16, 3), steps=60, batch_size=10, lr=0.1, record_every=10,
                               stats=("alphas", "coherence"), stats_examples=40, n_null=2, keep_params=False)
    result = sweep.run_sweep(config, data, variants, cache=False, progress=False)
    return data, variants, result


def stored_tiny(tmp_path, data, variants, result, config_result=None):
    arrays = {**runs.sweep_arrays("s", config_result or result), **runs.variants_arrays("v", variants)}
    runs.save_run("ch9", "tiny", {"data_sha256": runs.data_digest(data)}, arrays, wall_s=1, directory=tmp_path)
    return runs.load_run("ch9", "tiny", directory=tmp_path)


def test_stored_sweeps_and_variants_read_back(tmp_path, tiny_sweep):
    data, variants, result = tiny_sweep
    run = stored_tiny(tmp_path, data, variants, result)
    back = run.sweep("s")
    assert back.config == result.config and back.params is None
    for k, v in result.records.items():
        np.testing.assert_array_equal(back.records[k], v)
    np.testing.assert_array_equal(back.first_learned, result.first_learned)
    v = run.variants("v")
    assert run.arrays["v/labels"].dtype == np.uint8
    for name in ("labels", "pristine", "seed", "c", "noise"):
        np.testing.assert_array_equal(getattr(v, name), getattr(variants, name))
    with pytest.raises(runs.StoredRunError, match="nothing under 'w'"):
        run.tree("w")


def test_replay_recomputes_the_first_steps(tmp_path, tiny_sweep):
    data, variants, result = tiny_sweep
    run = stored_tiny(tmp_path, data, variants, result)
    steps, stored, replayed = runs.replay_sweep(run, "s", "v", data, 20)
    np.testing.assert_array_equal(steps, [0, 10, 20])
    for k in stored:
        np.testing.assert_allclose(replayed[k], stored[k], rtol=1e-5, atol=1e-6, err_msg=k)
    with pytest.raises(runs.StoredRunError, match="multiple of"):
        runs.replay_sweep(run, "s", "v", data, 15)
    other = dataclasses.replace(data, x_train=data.x_train + 1)
    with pytest.raises(runs.StoredRunError, match="other data"):
        runs.replay_sweep(run, "s", "v", other, 20)


def test_replay_exposes_a_run_computed_otherwise(tmp_path, tiny_sweep):
    """A stored run whose training differs from what the engine now does (here: another learning rate in the
    stored config than the one that produced its records) replays to clearly different records."""
    data, variants, result = tiny_sweep
    drifted = dataclasses.replace(result, config=dataclasses.replace(result.config, lr=0.13))
    run = stored_tiny(tmp_path, data, variants, result, config_result=drifted)
    steps, stored, replayed = runs.replay_sweep(run, "s", "v", data, 20)
    assert np.max(np.abs(replayed["train_loss"][:, -1] - stored["train_loss"][:, -1])) > 1e-3
    np.testing.assert_allclose(replayed["train_loss"][:, 0], stored["train_loss"][:, 0], rtol=1e-6)  # same start


def test_a_catalog_names_its_runs_and_refuses_others(tmp_path):
    catalog = runs.Catalog("ch9", {}, compute=None, arrays=None, read=None, replay_prefixes=("s", "v"),
                           replay_steps=10)
    with pytest.raises(runs.StoredRunError, match="ch9 has no stored run 'x'; it has \\[\\]"):
        catalog.load("x", directory=tmp_path)


@dataclasses.dataclass(frozen=True)
class _Setting:
    """The smallest setting a catalog takes: data, JSON fields and a description."""

    scale: float

    def load_data(self):
        x = np.arange(6, dtype=np.float32).reshape(3, 2)
        return cdata.Dataset(x, np.arange(3), x, np.arange(3), "test", "three examples")

    def as_dict(self):
        return dataclasses.asdict(self)

    def describe(self):
        return f"scale {self.scale}"


def _catalog(settings):
    def compute(setting, data, *, progress):
        assert progress
        return SimpleNamespace(values=setting.scale * data.x_train, wall_s=2.0, from_cache=True)

    return runs.Catalog("ch9", settings, compute=compute, arrays=lambda results, setting, data: {"v": results.values},
                        read=lambda run: run.arrays["v"], replay_prefixes=("s", "v"), replay_steps=10)


def test_a_catalog_stores_opens_and_titles_its_runs(tmp_path, capsys):
    catalog = _catalog({"small": _Setting(2.0)})
    folder = catalog.store("small", directory=tmp_path)
    assert folder == tmp_path / "ch9" / "small" and "came from the result cache" in capsys.readouterr().out
    setting, values, run = catalog.open("small", directory=tmp_path)
    assert setting == _Setting(2.0) and run.config["data_sha256"] == runs.data_digest(setting.load_data())
    np.testing.assert_array_equal(values, 2.0 * setting.load_data().x_train)
    assert catalog.title(run).startswith("stored run small: scale 2.0; ")
    assert catalog.available() == runs.available()
    changed = _catalog({"small": _Setting(3.0)})
    with pytest.raises(runs.ConfigMismatch, match="scale: stored 2.0, asked 3.0"):
        changed.open("small", directory=tmp_path)


def test_a_catalog_replays_derived_summaries_only_when_it_has_a_replay_for_them(tmp_path):
    catalog = _catalog({"small": _Setting(2.0)})
    catalog.store("small", directory=tmp_path)
    run = catalog.load("small", directory=tmp_path)
    assert catalog.replay_derived(run) == {}
    seen = []

    def first_step(stored_run, setting, data):
        seen.append((setting, data.description))
        return {"v, first row": (stored_run.arrays["v"][:1], 2.0 * data.x_train[:1])}

    replaying = dataclasses.replace(catalog, replay_summaries=first_step)
    (stored, recomputed), = replaying.replay_derived(run).values()
    np.testing.assert_array_equal(stored, recomputed)
    assert seen == [(_Setting(2.0), "three examples")]


def test_stored_runs_are_available_in_a_checkout_or_with_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("CGNB_RESULTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no book here
    assert not runs.available()
    monkeypatch.setenv("CGNB_RESULTS_DIR", str(tmp_path))
    assert runs.available()


@dataclasses.dataclass(frozen=True)
class _TinySetting:
    """A setting whose data is the tiny sweep's."""

    data: Any = dataclasses.field(compare=False)

    def load_data(self):
        return self.data

    def as_dict(self):
        return {"tiny": True}

    def describe(self):
        return "tiny"


def test_replay_all_covers_every_sweep_of_a_run_with_its_own_variants(tmp_path, tiny_sweep):
    import jax

    data, variants, result = tiny_sweep
    others = sweep.Variants.noise_grid(jax.random.PRNGKey(1), data.y_train, [0.25], seeds=[3])
    other = sweep.run_sweep(dataclasses.replace(result.config, steps=40), data, others, cache=False, progress=False)
    arrays = {**runs.sweep_arrays("s", result), **runs.variants_arrays("v", variants),
              **runs.sweep_arrays("t", other), **runs.variants_arrays("w", others), "summary/x": np.zeros(3)}
    setting = _TinySetting(data)
    catalog = runs.Catalog("ch9", {"tiny": setting}, compute=None, arrays=None, read=None,
                           replay_prefixes=("s", "v"), replay_steps=50)
    runs.save_run("ch9", "tiny", catalog.config("tiny", data), arrays, wall_s=1, directory=tmp_path)
    run = catalog.load("tiny", directory=tmp_path)
    assert replay.sweep_prefixes(run) == ["s", "t"]
    assert replay.variants_of(run, "s") == "v" and replay.variants_of(run, "t") == "w"
    replays = catalog.replay_all(run)
    assert sorted(replays) == ["s", "t"]
    np.testing.assert_array_equal(replays["s"][0], [0, 10, 20, 30, 40, 50])  # the catalog's 50 replay steps
    np.testing.assert_array_equal(replays["t"][0], [0, 10, 20, 30])  # REPLAY_RECORDS trained records
    for prefix, (steps, stored, replayed) in replays.items():
        for k in stored:
            np.testing.assert_allclose(replayed[k], stored[k], rtol=1e-5, atol=1e-6, err_msg=f"{prefix}/{k}")


def test_a_sweep_whose_variants_are_not_stored_cannot_be_replayed(tmp_path, tiny_sweep):
    data, variants, result = tiny_sweep
    arrays = {**runs.sweep_arrays("s", result), **runs.variants_arrays("v", variants[:1])}
    runs.save_run("ch9", "tiny", {}, arrays, wall_s=1, directory=tmp_path)
    run = runs.load_run("ch9", "tiny", directory=tmp_path)
    with pytest.raises(runs.StoredRunError, match=r"0 of the stored variant sets \['v'\] fit the sweep 's'"):
        replay.variants_of(run, "s")


def test_replay_steps_cover_the_records_asked_for_within_the_sweep():
    config = sweep.SweepConfig(sizes=(4, 3), steps=60, record_every=10)
    assert replay.replay_steps(config, 3) == 30
    assert replay.replay_steps(config, 3, at_least=45) == 50
    assert replay.replay_steps(config, 9) == 60
