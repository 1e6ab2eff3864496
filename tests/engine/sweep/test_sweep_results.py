"""Tests of cgnb.engine.sweep.results: a result's arrays and files, its selection, checkpoints."""
import jax
import numpy as np
import pytest

from cgnb.engine import store, sweep
from cgnb.engine.sweep import results

from sweep_reference import assert_results_equal, config, grid


def test_result_arrays_round_trip_and_index(tiny, tmp_path):
    variants = grid(tiny, cs=(0,))
    result = sweep.run_sweep(config(), tiny, variants, cache=False, progress=False)
    result.save(tmp_path / "r.npz")
    loaded = sweep.SweepResult.from_arrays(store.read_arrays(tmp_path / "r.npz"))
    assert loaded.config == result.config
    assert_results_equal(loaded, result)
    np.testing.assert_array_equal(loaded.pristine, result.pristine)
    np.testing.assert_array_equal(result.index(noise=0.5), [2, 3])
    np.testing.assert_array_equal(result.index(noise=0.5, seed=1), [3])
    assert result["test_acc"] is result.test_acc and len(result) == 4
    with pytest.raises(AttributeError, match="test_acc"):
        result.no_such_record
    with pytest.raises(ValueError, match="not nope"):
        results.result_from_arrays(result.to_arrays(), "nope")


def test_checkpoint_round_trip_and_a_mismatched_one(tmp_path):
    states = sweep.TrainState([{"w": np.ones((2, 3), np.float32)}], (), np.full((2, 4), -1, np.int32))
    records = {"train_acc": np.zeros((2, 3))}
    results.save_checkpoint(tmp_path / "c.npz", 2, states, records)
    done, back, got = results.checkpoint_from_arrays(store.read_arrays(tmp_path / "c.npz"), like=states)
    assert done == 2 and sorted(got) == ["train_acc"]
    for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(states)):
        np.testing.assert_array_equal(a, b)
    other = states._replace(first_learned=np.zeros((2, 5), np.int32))
    with pytest.raises(ValueError, match="where this sweep has"):
        results.checkpoint_from_arrays(store.read_arrays(tmp_path / "c.npz"), like=other)


def test_a_checkpoint_whose_chunks_done_disagrees_with_its_records_is_refused(tmp_path):
    """An edited ``chunks_done`` would return (and cache) a result missing records."""
    cfg = config(steps=18)  # 3 chunks of 2 records each
    states = sweep.TrainState([{"w": np.ones((2, 3), np.float32)}], (), np.full((2, 4), -1, np.int32))
    results.save_checkpoint(tmp_path / "c.npz", 1, states, {"train_acc": np.zeros((2, 3))})
    files = store.read_arrays(tmp_path / "c.npz")
    assert results.checkpoint_from_arrays(files, like=states, config=cfg)[0] == 1
    for done, message in ((2, r"record train_acc has shape \[2, 3\] but 2 chunks of 2 variants leave \(2, 5, ...\)"),
                          (4, r"chunks_done=4 is outside \[1, 3\]"), (0, r"chunks_done=0 is outside")):
        with pytest.raises(ValueError, match=message):
            results.checkpoint_from_arrays({**files, "chunks_done": np.array(done)}, like=states, config=cfg)
    with pytest.raises(ValueError, match="chunks_done must be one integer"):
        results.checkpoint_from_arrays({**files, "chunks_done": np.array(1.0)}, like=states, config=cfg)


def test_a_stored_result_missing_records_is_refused(tiny):
    result = sweep.run_sweep(config(), tiny, grid(tiny), cache=False, progress=False)
    files = result.to_arrays()
    cut = {k: (v[:, :3] if k.startswith("records/") else v) for k, v in files.items()}
    with pytest.raises(ValueError, match=r"record \w+ has shape \[4, 3\] but 2 chunks of 4 variants leave \(4, 5"):
        results.result_from_arrays(cut, result.key)
