"""Tests of cgnb.engine.sweep.variants: the noise grid's layout and keys, selection, concatenation, checks."""
import jax
import numpy as np
import pytest

from cgnb.engine import data, seeds, sweep

from sweep_reference import N


def test_noise_grid_layout(tiny):
    v = sweep.Variants.noise_grid(jax.random.PRNGKey(0), tiny.y_train, [0.0, 0.5], seeds=(0, 1), cs=(0, 2))
    assert len(v) == 8 and v.labels.shape == (8, N) and v.labels.dtype == np.int32
    np.testing.assert_array_equal(v.noise, [0, 0, 0, 0, .5, .5, .5, .5])
    np.testing.assert_array_equal(v.seed, [0, 0, 1, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(v.c, [0, 2] * 4)
    np.testing.assert_array_equal(v.pristine, v.labels == tiny.y_train)
    np.testing.assert_array_equal(v.labels[4], v.labels[5])  # c shares the corruption
    assert not np.array_equal(v.labels[4], v.labels[6])  # seeds do not
    assert v.pristine[0].all() and 0.4 < v.pristine[4].mean() < 0.8
    assert len(sweep.Variants.concat(v, v[:1])) == 9


def test_noise_grid_labels_come_from_the_noise_key(tiny):
    key = jax.random.PRNGKey(7)
    v = sweep.Variants.noise_grid(key, tiny.y_train, [0.25, 0.5], seeds=(3,))
    want = data.corrupt_labels(seeds.noise_key(key, 0.5, 3), tiny.y_train, 0.5)
    np.testing.assert_array_equal(v.labels[1], want.labels)
    alone = sweep.Variants.noise_grid(key, tiny.y_train, [0.5], seeds=(3,))
    np.testing.assert_array_equal(alone.labels[0], v.labels[1])  # a level's corruption ignores the others


def test_selection_and_read_only_arrays(tiny):
    v = sweep.Variants.noise_grid(jax.random.PRNGKey(0), tiny.y_train, [0.0, 0.5], seeds=(0, 1))
    picked = v[v.noise == 0.5]
    assert len(picked) == 2 and (picked.noise == 0.5).all() and len(v[2]) == 1
    with pytest.raises(ValueError, match="read-only"):
        v.labels[0, 0] = 1


def test_bad_variants_say_what_is_wrong():
    with pytest.raises(sweep.ConfigError, match="labels' shape"):
        sweep.Variants(np.zeros((2, 5)), np.zeros((2, 4)), 0, 0, 0.0)
    with pytest.raises(sweep.ConfigError, match="seeds must be in"):
        sweep.Variants(np.zeros((1, 5)), np.zeros((1, 5)), -1, 0, 0.0)
    with pytest.raises(sweep.ConfigError, match="must be \\(V, N\\)"):
        sweep.Variants(np.zeros(5), np.zeros(5))
    with pytest.raises(sweep.ConfigError, match="levels c must be >= 0"):
        sweep.Variants(np.zeros((1, 5)), np.zeros((1, 5)), 0, -1)
    with pytest.raises(sweep.ConfigError, match="noise level"):
        sweep.Variants.noise_grid(jax.random.PRNGKey(0), np.zeros(4, int), [1.5])
