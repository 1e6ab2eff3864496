"""Tests of cgnb.chapters.coherent_gradients.setting: a setting computed, stored, read back and replayed; combine."""
import dataclasses

import jax
import numpy as np
import pytest

from cgnb.chapters.coherent_gradients import setting
from cgnb.engine import runs

from .sweeps import fake_sweep, shifted


TINY = setting.Setting(source="embedded", n_train=300, width=8, noise_levels=(0.0, 0.5), seeds=(0,), steps=100,
                              record_every=50, opening_steps=40, opening_every=20, stats_examples=40, n_null=2,
                              contribution_steps=3, null_worlds=20)


@pytest.fixture()
def stored_tiny(tmp_path, monkeypatch):
    monkeypatch.setitem(setting.CATALOG.settings, "tiny", TINY)
    folder = setting.CATALOG.store("tiny", directory=tmp_path)
    return tmp_path, folder


def test_a_stored_setting_reads_back_as_computed(stored_tiny):
    directory, folder = stored_tiny
    assert folder == directory / "coherent_gradients" / "tiny"
    stored_setting, stored, run = setting.CATALOG.open("tiny", directory=directory)
    computed = setting.compute(TINY)  # from the result cache: the same sweeps
    assert stored_setting == TINY and computed.from_cache and run.config["data_sha256"] == runs.data_digest(TINY.load_data())
    np.testing.assert_array_equal(stored.result.steps, [0, 20, 40, 50, 100])
    for k, v in computed.result.records.items():
        np.testing.assert_array_equal(stored.result.records[k], v, err_msg=k)
    for k, v in computed.early.items():
        np.testing.assert_array_equal(stored.early[k], v, err_msg=k)
    assert stored.early["curves"].shape == (2, 1 + setting.DRAWN_NULLS, 2, 4) and stored.early["null_gap"].shape == (2, 20)


def test_the_replay_of_a_fresh_stored_run_matches(stored_tiny):
    directory, _ = stored_tiny
    _, _, run = setting.CATALOG.open("tiny", directory=directory)
    steps, stored, replayed = setting.CATALOG.replay(run, steps=40)
    np.testing.assert_array_equal(steps, [0, 20, 40])
    for k in stored:
        np.testing.assert_allclose(replayed[k], stored[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_the_first_step_of_the_derived_summaries_replays_and_a_changed_one_does_not(stored_tiny):
    directory, _ = stored_tiny
    _, _, run = setting.CATALOG.open("tiny", directory=directory)
    derived = setting.CATALOG.replay_derived(run)
    assert sorted(derived) == ["early/coherence, step 0", "early/curves, real designation after step 1"]
    assert derived["early/curves, real designation after step 1"][0].shape == (2, 2)  # variants x (pristine, corrupt)
    for name, (stored, recomputed) in derived.items():
        assert np.isfinite(stored).any(), name
        np.testing.assert_allclose(recomputed, stored, rtol=1e-5, atol=1e-7, err_msg=name)
    doctored = dataclasses.replace(run, arrays={**run.arrays, "early/coherence": run.arrays["early/coherence"] * 1.1})
    stored, recomputed = setting.CATALOG.replay_derived(doctored)["early/coherence, step 0"]
    assert not np.allclose(recomputed, stored, rtol=1e-3)


def test_a_changed_setting_is_refused(stored_tiny, monkeypatch):
    directory, _ = stored_tiny
    monkeypatch.setitem(setting.CATALOG.settings, "tiny",
                        setting.Setting(**{**TINY.as_dict(), "steps": 150}))
    with pytest.raises(runs.ConfigMismatch, match="steps: stored 100, asked 150"):
        setting.CATALOG.open("tiny", directory=directory)
    with pytest.raises(runs.StoredRunError, match="no stored run 'nope'"):
        setting.CATALOG.open("nope", directory=directory)


def test_the_title_of_a_stored_run_names_scale_machine_and_date(stored_tiny):
    directory, _ = stored_tiny
    _, _, run = setting.CATALOG.open("tiny", directory=directory)
    label = setting.CATALOG.title(run)
    assert "300 embedded images, 784-8-10, 100 steps, 1 seed" in label and run.provenance["date"][:10] in label


def test_combine_joins_fine_early_records_to_the_long_run():
    base, _, _ = fake_sweep()
    early = shifted(base, np.arange(0, 31, 5), 5)
    late = shifted(base, np.arange(0, 101, 20), 20)
    early.first_learned[:] = -1
    early.first_learned[0, 0] = 5
    late.first_learned[:] = 40
    late.first_learned[0, 0] = 20
    both = setting.combine(early, late)
    np.testing.assert_array_equal(both.steps, [0, 5, 10, 15, 20, 25, 30, 40, 60, 80, 100])
    np.testing.assert_allclose(both.records["train_acc"][0], both.steps / 100)
    assert both.first_learned[0, 0] == 5 and both.first_learned[0, 1] == 40
    with pytest.raises(ValueError, match="same trajectory"):
        setting.combine(shifted(base, np.arange(0, 31, 5), 5, offset=0.1), late)
    with pytest.raises(ValueError, match="shorter"):
        setting.combine(late, early)
    other = dataclasses.replace(late, config=dataclasses.replace(late.config, lr=0.5))
    with pytest.raises(ValueError, match="lr"):
        setting.combine(early, other)


def test_paper_programs_are_the_two_sweep_chunks_and_the_replay():
    parameters = {**TINY.as_dict(), "early_examples": None}
    seen = []

    def sweep_chunk(config, v, n_train, n_test):
        seen.append((config, v, n_train, n_test))
        return (lambda: None), ()

    programs = setting.paper_programs(parameters, sweep_chunk=sweep_chunk)
    assert [p[0].split(":")[0] for p in programs] == ["sweep chunk (late)", "sweep chunk (opening)",
                                                      "early contributions (Figure 3)"]
    assert seen[0] == (TINY.config(), 2, 300, setting.MNIST_TEST) and seen[1][0] == TINY.opening_config()
    _, replay, args, _ = programs[2]
    c, coherence = jax.eval_shape(replay, *args)
    assert c.shape == (2, 3, 300) and coherence.shape == (2, 3)
