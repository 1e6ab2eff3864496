"""Tests of cgnb.engine.winsorize.kernel: level checks, the choice of algorithm, one tile, the loops."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine.winsorize import kernel

from winsorize_reference import check_against_sort, outlier_data


def test_method_choice_by_level_batch_and_backend(monkeypatch):
    assert kernel.pick_method(None, 4, 4, 100) == "network"
    assert kernel.pick_method(None, 2, 49, 100) == "network"  # a static c below a large c_max
    assert kernel.pick_method(None, 6, 6, 100) == "network"
    assert kernel.pick_method(None, 4, 4, 128) == "network"
    # other static levels and every traced one: the sorting network where it fits, else bisection
    assert kernel.pick_method(None, kernel.NETWORK_MAX_LEVEL + 1, 49, 20) == "sorting"
    assert kernel.pick_method(None, 5, 5, 128) == "sorting"  # B * c above NETWORK_MAX_WORK
    assert kernel.pick_method(None, 49, 49, 100) == "sorting"
    assert kernel.pick_method(None, None, 4, 100) == "sorting"  # a traced c: no branch per level
    assert kernel.pick_method(None, None, 49, 100) == "sorting"
    assert kernel.pick_method(None, None, 63, 128) == "bisect"  # the traced full sort of 128 is too large
    assert kernel.pick_method(None, 1, 1, 256) == "bisect"  # B above NETWORK_MAX_BATCH, and too large to sort
    assert kernel.pick_method("sort", 1, 1, 10) == "sort"
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert kernel.pick_method(None, 2, 2, 100) == "sort"
    with pytest.raises(ValueError, match="method must be one of"):
        kernel.pick_method("heap", 2, 2, 100)
    with pytest.raises(ValueError, match="needs a Python int c"):
        kernel.pick_method("network", None, 2, 100)


def test_every_algorithm_is_a_method():
    assert kernel.METHODS == (*kernel.NETWORKS, *kernel.BOUNDS)
    assert set(kernel.BOUNDS) == {"bisect", "sort"} and kernel.NETWORKS == ("network", "sorting")


def test_check_c_returns_the_static_level_and_the_programs_largest():
    assert kernel.check_c(2, None, 10) == (2, 2)
    assert kernel.check_c(2, 4, 10) == (2, 4)
    levels = jax.jit(lambda c: jnp.int32(kernel.check_c(c, 3, 10)[1]))(1)
    assert int(levels) == 3
    with pytest.raises(ValueError, match="exceeds c_max"):
        kernel.check_c(3, 2, 10)
    with pytest.raises(ValueError, match="pass c_max"):
        jax.jit(lambda c: kernel.check_c(c, None, 10)[1])(1)
    with pytest.raises(ValueError, match="c_max must be a Python int"):
        jax.jit(lambda m: kernel.check_levels(1, m))(2)
    with pytest.raises(ValueError, match="c must be an integer"):
        kernel.check_levels(True, None)
    assert kernel.check_levels(3, 4) == 3 and kernel.static_int(np.int64(2), "c") == 2


@pytest.mark.parametrize("method", kernel.METHODS)
@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("c", [0, 1, 3])
def test_one_tile_equals_sort_and_clip_for_every_method(method, c):
    a = jnp.asarray(outlier_data(11))
    got = jax.jit(lambda a: kernel.tile_mean(lambda i: a[i], lambda: a, 11, c, c, a.dtype, method))(a)
    check_against_sort(np.asarray(a), got, c)


@pytest.mark.parametrize("method", ["sorting", "bisect"])
def test_traced_levels_outside_the_range_give_nan(method):
    a = jnp.asarray(outlier_data(9))

    def tile_at(c):
        return kernel.tile_mean(lambda i: a[i], lambda: a, 9, c, 3, a.dtype, method)

    got = jax.jit(jax.vmap(tile_at))(jnp.array([2, 4, -1]))
    check_against_sort(np.asarray(a), got[0], 2)
    assert np.isnan(np.asarray(got[1:])).all()


def test_tile_loop_stacks_the_tiles_and_one_kernel_computes_once_or_twice_the_same():
    out = jax.jit(lambda: kernel.tile_loop(3, lambda t: jnp.full((2,), t, jnp.float32), (2,), jnp.float32))()
    np.testing.assert_array_equal(out, [[0, 0], [1, 1], [2, 2]])
    for opaque in (0.0, np.nan):  # NaN: two trips of the same body
        got = jax.jit(lambda o: kernel.one_kernel(lambda: jnp.arange(4.0) * 2, o, (4,), jnp.float32))(opaque)
        np.testing.assert_array_equal(got, [0, 2, 4, 6])


def test_sums_in_example_order():
    values = jnp.asarray(np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32))
    mean = kernel.mean_in_order(lambda i: values[i], 7)
    total = values[0]
    for i in range(1, 7):
        total = total + values[i]
    np.testing.assert_array_equal(mean, total / 7)
