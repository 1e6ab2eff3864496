"""Tests of cgnb.engine.winsorize.sorting: the pruned sorting network against numpy's sort, every level."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine.winsorize import sorting

from winsorize_reference import check_against_sort, outlier_data, sort_winsorize

BATCHES = [2, 3, 64, 100, 128]


def apply_pairs(columns, pairs):
    """The comparators ``pairs`` on the rows of ``columns`` (n, m), in numpy: (n, m)."""
    wires = list(np.asarray(columns))
    for i, j in pairs:
        wires[i], wires[j] = np.minimum(wires[i], wires[j]), np.maximum(wires[i], wires[j])
    return np.stack(wires)


@pytest.mark.parametrize("n", range(1, 11))
def test_sorting_pairs_sort_every_zero_one_input(n):
    """The 0-1 principle: a comparator network sorts every input iff it sorts all 2**n 0-1 inputs."""
    inputs = np.array(list(itertools.product((0, 1), repeat=n))).T  # (n, 2**n)
    assert all(i < j for i, j in sorting.sorting_pairs(n))
    np.testing.assert_array_equal(apply_pairs(inputs, sorting.sorting_pairs(n)), np.sort(inputs, axis=0))


@pytest.mark.parametrize("n", [13, 64, 100, 128, 200])
def test_sorting_pairs_sort_random_columns(n):
    values = np.random.default_rng(n).normal(size=(n, 500))
    np.testing.assert_array_equal(apply_pairs(values, sorting.sorting_pairs(n)), np.sort(values, axis=0))


@pytest.mark.parametrize("n", BATCHES)
def test_pruned_network_gives_both_bounds_and_the_middle_for_every_static_level(n):
    """For every c the kept comparators put s_(c) and s_(n-1-c) on their wires and the middle values,
    in some order, between them (all the static kernel reads)."""
    values = outlier_data(n, seed=n)
    ordered = np.sort(values, axis=0)
    for c in range((n - 1) // 2 + 1):
        wires = apply_pairs(values, sorting.winsorizing_pairs(n, c, c))
        np.testing.assert_array_equal(wires[[c, n - 1 - c]], ordered[[c, n - 1 - c]], err_msg=f"n={n} c={c}")
        np.testing.assert_array_equal(np.sort(wires[c:n - c], axis=0), ordered[c:n - c], err_msg=f"n={n} c={c}")
    full = sorting.sorting_pairs(n)
    assert sorting.winsorizing_pairs(n, 0, (n - 1) // 2) == full  # every level up to (n-1)/2 needs the whole sort
    if n >= 64:
        assert len(sorting.winsorizing_pairs(n, 4, 4)) < len(full)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_every_traced_level_and_some_static_ones_equal_sort_and_clip(batch):
    """Ties, +-inf and huge outliers (outlier_data); one program for every traced c in [0, (B-1)/2].

    The traced program is called once per level: ``vmap`` over c alone, with data shared by every
    level, makes XLA:CPU duplicate the network into each level's consumers (book/performance.md)."""
    a = jnp.asarray(outlier_data(batch))
    c_max = (batch - 1) // 2

    def mean(a, c):
        return sorting.winsorized_mean(lambda i: a[i], batch, c, c_max, a.dtype)

    traced = jax.jit(mean)
    for c in range(c_max + 1):
        check_against_sort(np.asarray(a), traced(a, jnp.int32(c)), c)
    statics = {1, c_max} if batch == 128 else {1, 7, 8, 10, 20, c_max // 2, c_max}
    for c in sorted(statics & set(range(1, c_max + 1))):
        check_against_sort(np.asarray(a), jax.jit(mean, static_argnums=1)(a, c), c)
    for c in (-1, c_max + 1):  # a traced c outside [0, c_max] cannot raise
        assert np.isnan(np.asarray(traced(a, jnp.int32(c)))).all()


@pytest.mark.parametrize("batch", [16, 17])
def test_every_static_level_of_a_small_batch_equals_sort_and_clip(batch):
    a = jnp.asarray(outlier_data(batch, seed=batch))
    mean = jax.jit(lambda a, c: sorting.winsorized_mean(lambda i: a[i], batch, c, 0, a.dtype), static_argnums=1)
    for c in range((batch - 1) // 2 + 1):
        check_against_sort(np.asarray(a), mean(a, c), c)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_traced_level_vmapped_with_its_data_below_a_smaller_c_max():
    a = outlier_data(100, seed=3)
    levels = [0, 1, 5, 12]
    stacked = jnp.asarray(np.stack([a] * len(levels)))
    got = jax.jit(jax.vmap(lambda v, c: sorting.winsorized_mean(lambda i: v[i], 100, c, 12, v.dtype)))(
        stacked, jnp.array(levels))
    for row, c in enumerate(levels):
        check_against_sort(a, got[row], c)


def test_nan_is_clipped_like_an_infinite_value_and_signed_zeros_are_kept():
    a = np.random.default_rng(5).normal(size=(20, 30)).astype(np.float32)
    a[:, 5] = np.where(np.arange(20) % 2, 0.0, -0.0)
    with_inf, with_nan, with_negative_nan, negative_inf = a.copy(), a.copy(), a.copy(), a.copy()
    with_inf[4, :3], with_nan[4, :3] = np.inf, np.nan
    with_negative_nan[4, :3], negative_inf[4, :3] = -np.nan, -np.inf  # sign bit set: orders below -inf

    def mean(v, c):
        return np.asarray(jax.jit(lambda v: sorting.winsorized_mean(lambda i: v[i], 20, c, 0, v.dtype))(v))

    for c in (1, 8):
        np.testing.assert_array_equal(mean(with_nan, c), mean(with_inf, c))
        np.testing.assert_array_equal(mean(with_negative_nan, c), mean(negative_inf, c))
        np.testing.assert_allclose(mean(with_inf, c), sort_winsorize(with_inf, c), rtol=1e-6, atol=1e-7)
        assert np.asarray(mean(a, c))[5] == 0.0


def test_network_size_and_fit():
    assert sorting.network_fits(100, None, 49)  # every level of B = 100 in one program
    assert all(sorting.network_fits(100, c) for c in range(50))
    assert all(sorting.network_fits(128, c) for c in range(64))
    assert not sorting.network_fits(128, None, 63)  # the traced full sort of 128 is too large
    assert not sorting.network_fits(256, 10)
    assert sorting.network_ops(100, None, 49) > sorting.network_ops(100, 49)


def test_helpers_and_bad_sizes():
    np.testing.assert_array_equal(sorting.tree_sum([jnp.float32(v) for v in (1, 2, 3, 4, 5)]), 15.0)
    wires = sorting.sorted_wires([jnp.int32(3), jnp.int32(1)], [(0, 1)])
    assert [int(w) for w in wires] == [1, 3]
    with pytest.raises(ValueError, match="n >= 1"):
        sorting.sorting_pairs(0)
