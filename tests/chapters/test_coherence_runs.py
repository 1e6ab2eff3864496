"""Tests of cgnb.chapters.coherence_runs: a chapter-4 setting computed, stored, read back and replayed."""
import numpy as np
import pytest

from cgnb.chapters import coherence_runs
from cgnb.engine import runs

TINY = coherence_runs.Setting(source="embedded", n_train=300, width=8, noise_levels=(0.0, 0.5), seeds=(0,), steps=100,
                              record_every=50, opening_steps=40, opening_every=20, stats_examples=40, n_null=2,
                              contribution_steps=3, null_worlds=20)


@pytest.fixture()
def stored_tiny(tmp_path, monkeypatch):
    monkeypatch.setitem(coherence_runs.CATALOG.settings, "tiny", TINY)
    folder = coherence_runs.CATALOG.store("tiny", directory=tmp_path)
    return tmp_path, folder


def test_a_stored_setting_reads_back_as_computed(stored_tiny):
    directory, folder = stored_tiny
    assert folder == directory / "ch4" / "tiny"
    setting, stored, run = coherence_runs.load_stored("tiny", directory=directory)
    computed = coherence_runs.compute(TINY)  # from the result cache: the same sweeps
    assert setting == TINY and run.config["data_sha256"] == runs.data_digest(TINY.load_data())
    np.testing.assert_array_equal(stored.result.steps, [0, 20, 40, 50, 100])
    for k, v in computed.result.records.items():
        np.testing.assert_array_equal(stored.result.records[k], v, err_msg=k)
    for k, v in computed.early.items():
        np.testing.assert_array_equal(stored.early[k], v, err_msg=k)
    assert stored.early["curves"].shape == (2, 3, 2, 4) and stored.early["null_gap"].shape == (2, 20)


def test_the_replay_of_a_fresh_stored_run_matches(stored_tiny):
    directory, _ = stored_tiny
    _, _, run = coherence_runs.load_stored("tiny", directory=directory)
    steps, stored, replayed = coherence_runs.CATALOG.replay(run, steps=40)
    np.testing.assert_array_equal(steps, [0, 20, 40])
    for k in stored:
        np.testing.assert_allclose(replayed[k], stored[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_a_changed_setting_is_refused(stored_tiny, monkeypatch):
    directory, _ = stored_tiny
    monkeypatch.setitem(coherence_runs.CATALOG.settings, "tiny",
                        coherence_runs.Setting(**{**TINY.as_dict(), "steps": 150}))
    with pytest.raises(runs.ConfigMismatch, match="steps: stored 100, asked 150"):
        coherence_runs.load_stored("tiny", directory=directory)
    with pytest.raises(runs.StoredRunError, match="no stored run 'nope'"):
        coherence_runs.load_stored("nope", directory=directory)


def test_stored_label_names_scale_machine_and_date(stored_tiny):
    directory, _ = stored_tiny
    setting, _, run = coherence_runs.load_stored("tiny", directory=directory)
    label = coherence_runs.stored_label(setting, run)
    assert "300 embedded images, 784-8-10, 100 steps, 1 seed" in label and run.provenance["date"][:10] in label
