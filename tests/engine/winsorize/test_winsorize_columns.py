"""Tests of cgnb.engine.winsorize.columns (winsorize, winsorize_tree) against the sort-and-clip reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import winsorize

from winsorize_reference import check_against_sort, outlier_data, sort_winsorize


@pytest.fixture(scope="module")
def tied():
    """Integer-valued floats with many ties; B = 16 so every sum and mean is exact."""
    return np.random.default_rng(0).integers(-3, 4, size=(16, 9, 7)).astype(np.float32)


@pytest.mark.parametrize("c", [0, 1, 2, 4])
def test_winsorize_equals_sort_and_clip_with_ties(tied, c):
    got = jax.jit(winsorize.winsorize, static_argnums=1)(jnp.asarray(tied), c)
    np.testing.assert_array_equal(np.asarray(got), sort_winsorize(tied, c))


def test_winsorize_random_data_and_extremes():
    a = np.random.default_rng(1).normal(size=(11, 300)).astype(np.float32)
    a[:, 0] = 5.0  # all equal
    a[3, 1] = np.inf  # one infinite outlier is clipped away for c >= 1
    a[:, 2] = [-0.0, 0.0] * 5 + [0.0]  # signed zeros
    for c in (1, 3, 5):
        got = np.asarray(jax.jit(winsorize.winsorize, static_argnums=1)(jnp.asarray(a), c))
        np.testing.assert_allclose(got, sort_winsorize(a, c), rtol=1e-6, atol=1e-7)
    assert np.isinf(winsorize.winsorize(jnp.asarray(a), 0)[1])


def test_winsorize_c0_is_exactly_the_mean():
    a = jnp.asarray(np.random.default_rng(2).normal(size=(10, 33)).astype(np.float32))
    np.testing.assert_array_equal(winsorize.winsorize(a, 0), jnp.mean(a, axis=0))
    np.testing.assert_array_equal(winsorize.winsorize(a, 0, c_max=3), jnp.mean(a, axis=0))


def test_winsorize_traced_c_is_one_program(tied):
    program = jax.jit(jax.vmap(lambda c: winsorize.winsorize(jnp.asarray(tied), c, c_max=4)))
    got = np.asarray(program(jnp.array([0, 1, 2, 4, 3])))
    for row, c in enumerate([0, 1, 2, 4, 3]):
        np.testing.assert_array_equal(got[row], sort_winsorize(tied, c))
    # a traced c outside [0, c_max] cannot raise: it gives NaN
    assert np.isnan(np.asarray(program(jnp.array([5, -1, 5, -1, 7])))).all()


def test_winsorize_static_c_below_c_max(tied):
    got = jax.jit(lambda a: winsorize.winsorize(a, 2, c_max=4))(jnp.asarray(tied))
    np.testing.assert_array_equal(got, sort_winsorize(tied, 2))


def test_winsorize_tree_processes_all_leaves_together(tied):
    tree = {"a": jnp.asarray(tied), "b": jnp.asarray(tied[:, 0, :3])}
    got = jax.jit(winsorize.winsorize_tree, static_argnums=1)(tree, 2)
    for name in tree:
        np.testing.assert_array_equal(got[name], sort_winsorize(tree[name], 2))
    exact = winsorize.winsorize_tree(tree, 0)
    np.testing.assert_array_equal(exact["a"], jnp.mean(tree["a"], axis=0))


@pytest.mark.parametrize("batch", [2, 3, 64, 100, 128])
@pytest.mark.parametrize("method", ["bisect", "sort"])
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_every_level_traced_and_static_equals_sort_and_clip(batch, method):
    a = outlier_data(batch)
    c_max = (batch - 1) // 2
    levels = jnp.arange(c_max + 1)
    traced = jax.jit(jax.vmap(lambda c: winsorize.winsorize(jnp.asarray(a), c, c_max=c_max, method=method)))(levels)
    for c in range(c_max + 1):
        check_against_sort(a, traced[c], c)
    for c in sorted({min(1, c_max), c_max // 2, c_max} - {0}):
        check_against_sort(a, winsorize.winsorize(jnp.asarray(a), c, method=method), c)


@pytest.mark.parametrize("batch", [2, 3, 64, 100, 128])
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_default_choice_every_level_traced_and_static(batch):
    """What the CPU runs by default: a traced c up to (B-1)/2 (the sorting network, or bisection at B = 128),
    and the static levels of the insertion network and beyond it."""
    a = outlier_data(batch, seed=1)
    c_max = (batch - 1) // 2
    traced = jax.jit(jax.vmap(lambda c: winsorize.winsorize(jnp.asarray(a), c, c_max=c_max)))(jnp.arange(c_max + 1))
    for c in range(c_max + 1):
        check_against_sort(a, traced[c], c)
    for c in sorted({1, 2, 4, winsorize.NETWORK_MAX_LEVEL + 1, c_max} & set(range(1, c_max + 1))):
        check_against_sort(a, jax.jit(winsorize.winsorize, static_argnums=1)(jnp.asarray(a), c), c)


@pytest.mark.parametrize("batch", [2, 3, 64, 100])
def test_insertion_network_every_level_it_serves(batch):
    a = outlier_data(batch, seed=2)
    for c in range(1, min(winsorize.NETWORK_MAX_LEVEL, (batch - 1) // 2) + 1):
        check_against_sort(a, winsorize.winsorize(jnp.asarray(a), c, method="network"), c)


def test_nan_in_the_first_value_gives_the_same_winsorized_mean():
    """The fused kernel runs a second (identical) trip when its first input value is NaN; the
    result is the same as with an infinite value there (a NaN orders above +inf)."""
    a = np.random.default_rng(5).normal(size=(9, 40)).astype(np.float32)
    with_inf, with_nan = a.copy(), a.copy()
    with_inf[0, 0], with_nan[0, 0] = np.inf, np.nan
    for c in (1, 2):
        np.testing.assert_array_equal(np.asarray(winsorize.winsorize(jnp.asarray(with_nan), c)),
                                      np.asarray(winsorize.winsorize(jnp.asarray(with_inf), c)))
        np.testing.assert_allclose(np.asarray(winsorize.winsorize(jnp.asarray(with_inf), c)),
                                   sort_winsorize(with_inf, c), rtol=1e-6, atol=1e-7)


def test_bad_inputs_raise_clear_errors():
    a = jnp.zeros((10, 3))
    with pytest.raises(ValueError, match="0 <= c < B/2"):
        winsorize.winsorize(a, 5)
    with pytest.raises(ValueError, match="0 <= c < B/2"):
        winsorize.winsorize(a, -1)
    with pytest.raises(ValueError, match="0 <= c_max < B/2"):
        winsorize.winsorize(a, 1, c_max=5)
    with pytest.raises(ValueError, match="exceeds c_max"):
        winsorize.winsorize(a, 3, c_max=2)
    with pytest.raises(ValueError, match="pass c_max"):
        jax.jit(lambda c: winsorize.winsorize(a, c))(1)
    with pytest.raises(ValueError, match="c must be an integer"):
        winsorize.winsorize(a, 1.5)
    with pytest.raises(ValueError, match="c_max must be a Python int"):
        jax.jit(lambda m: winsorize.winsorize(a, 1, c_max=m))(2)
    with pytest.raises(ValueError, match="floating"):
        winsorize.winsorize(jnp.zeros((10, 3), jnp.int32), 1)
    with pytest.raises(ValueError, match="leading batch axis"):
        winsorize.winsorize(jnp.zeros(()), 0)
    with pytest.raises(ValueError, match="same leading batch axis"):
        winsorize.winsorize_tree({"a": jnp.zeros((4, 2)), "b": jnp.zeros((5,))}, 1)
    with pytest.raises(ValueError, match="empty pytree"):
        winsorize.winsorize_tree({}, 1)
