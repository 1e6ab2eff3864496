"""Tests of cgnb.engine.sampler (seeded minibatch orders)."""
import numpy as np
import pytest

from cgnb.engine import sampler


def test_epoch_batches_cover_each_epoch_once():
    idx = sampler.batch_indices(seed=5, start=0, count=24, n=50, batch_size=8)  # 6 steps per epoch
    assert idx.shape == (24, 8) and idx.dtype == np.int32
    for epoch in range(4):
        used = idx[6 * epoch:6 * epoch + 6].ravel()
        assert len(np.unique(used)) == 48  # no repeats; the 2 left-over examples are skipped
    assert not np.array_equal(idx[:6], idx[6:12])  # a fresh permutation each epoch
    # a pure function of (seed, step): any window agrees with the whole run
    np.testing.assert_array_equal(sampler.batch_indices(5, 10, 7, 50, 8), idx[10:17])
    assert not np.array_equal(sampler.batch_indices(6, 0, 24, 50, 8), idx)


def test_epoch_batches_follow_the_documented_permutation():
    idx = sampler.batch_indices(3, 0, 4, 20, 5)  # one epoch of 4 steps
    np.testing.assert_array_equal(idx.ravel(), np.random.default_rng([3, 0, 0]).permutation(20))


def test_uniform_batches_are_windows_of_one_stream():
    idx = sampler.batch_indices(1, 0, 40, 30, 10, "uniform")
    assert idx.shape == (40, 10) and idx.min() >= 0 and idx.max() < 30
    assert any(len(np.unique(row)) < 10 for row in idx)  # drawn with replacement
    np.testing.assert_array_equal(sampler.batch_indices(1, 7, 5, 30, 10, "uniform"), idx[7:12])


def test_disjoint_batches():
    b = sampler.disjoint_batches(0, 100, 8, 12)
    assert b.shape == (12, 8) and b.dtype == np.int32
    assert len(np.unique(b)) == 96 and b.min() >= 0 and b.max() < 100
    np.testing.assert_array_equal(b, sampler.disjoint_batches(0, 100, 8, 12))
    assert not np.array_equal(b, sampler.disjoint_batches(1, 100, 8, 12))


def test_bad_input_says_what_to_change():
    with pytest.raises(ValueError, match="unknown sampling 'shuffle'"):
        sampler.batch_indices(0, 0, 3, 10, 2, "shuffle")
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, n=10\]"):
        sampler.batch_indices(0, 0, 3, 10, 11)
    with pytest.raises(ValueError, match="need 104 examples"):
        sampler.disjoint_batches(0, 100, 8, 13)
    with pytest.raises(ValueError, match="must be >= 1"):
        sampler.disjoint_batches(0, 100, 0, 3)
