"""Tests of cgnb.engine.winsorize against a sort-and-clip numpy reference (timings: benchmarks/)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import pergrad, winsorize, winsorize_mlp

from mlp_problems import XENT, xent, mlp_problem



def sort_winsorize(a, c):
    """Reference: sort each coordinate, clip to the (c+1)-th smallest / largest, average."""
    a = np.asarray(a)
    s = np.sort(a, axis=0)
    return np.clip(a, s[c], s[a.shape[0] - 1 - c]).sum(axis=0) / a.shape[0]


def tree_max_abs_diff(a, b):
    return max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(jax.tree_util.tree_leaves(a),
                                                                 jax.tree_util.tree_leaves(b)))


def generic_grads(params, x, y):
    """Per-example gradients by vmap(grad) of the plain loss (no MLP fast path)."""
    return jax.jit(pergrad.per_example_grads, static_argnums=0)(xent, params, x, y)


def factors(params, x, y):
    return jax.jit(pergrad.mlp_factors, static_argnums=0)(XENT, params, x, y)


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


@pytest.mark.parametrize("sizes", [(6, 5, 4, 3), (40, 300, 3)])
def test_mlp_winsorized_grad_equals_generic(sizes):
    params, x, y = mlp_problem(sizes, batch=9)
    per_example = generic_grads(params, x, y)
    f = factors(params, x, y)
    for c in (1, 4):
        got = jax.jit(winsorize_mlp.mlp_winsorized_grad, static_argnums=1)(f, c)
        want = jax.tree_util.tree_map(lambda g: sort_winsorize(g, c), per_example)
        assert tree_max_abs_diff(got, want) < 1e-6


def test_mlp_winsorized_grad_traced_c_and_c0():
    params, x, y = mlp_problem(batch=9)
    per_example = generic_grads(params, x, y)
    f = factors(params, x, y)
    got = jax.jit(jax.vmap(lambda c: winsorize_mlp.mlp_winsorized_grad(f, c, c_max=2)))(jnp.array([0, 1, 2]))
    for row, c in enumerate([0, 1, 2]):
        want = jax.tree_util.tree_map(lambda g: sort_winsorize(g, c), per_example)
        assert tree_max_abs_diff(jax.tree_util.tree_map(lambda l: l[row], got), want) < 1e-6
    plain = jax.jit(jax.grad(lambda p: jnp.mean(xent(p, x, y))))(params)
    assert tree_max_abs_diff(winsorize_mlp.mlp_winsorized_grad(f, 0), plain) < 1e-6


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
    with pytest.raises(ValueError, match="MLPFactors"):
        winsorize_mlp.mlp_winsorized_grad(a, 1)
    with pytest.raises(ValueError, match="c_max must be a Python int"):
        jax.jit(lambda m: winsorize.check_levels(1, m))(2)


def outlier_data(batch, seed=0):
    """(B, 9) quarter-integers with many ties (every sum exact in float32); column 0 holds +inf and
    -inf, column 1 huge finite outliers, so a wrong rank or an unclipped outlier shows."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-8, 9, size=(batch, 9)).astype(np.float32) / 4
    a[0, 0], a[-1, 0] = np.inf, -np.inf
    a[batch // 2, 1], a[batch // 3, 1] = 3e30, -1e30
    return a


def check_against_sort(a, got, c):
    """Agreement with the sort-and-clip reference up to the rounding of the final division by B
    (XLA may multiply by 1/B): a wrong order statistic moves a mean by >= 1/(4 B) here, or by
    ~1e30 / B if an outlier is not clipped. For c = 0 the outlier columns are inf/nan or rounded
    differently, so only the tied columns are compared."""
    want = sort_winsorize(a, c)
    cols = slice(None) if c else slice(2, None)
    np.testing.assert_allclose(np.asarray(got)[cols], want[cols], rtol=3e-7, atol=0, err_msg=f"B={a.shape[0]} c={c}")


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


@pytest.mark.parametrize("batch", [2, 3, 64, 100])
def test_network_every_level_traced_and_static(batch):
    a = outlier_data(batch, seed=1)
    c_max = min(winsorize.NETWORK_MAX_LEVEL, (batch - 1) // 2)
    traced = jax.jit(jax.vmap(lambda c: winsorize.winsorize(jnp.asarray(a), c, c_max=c_max,
                                                            method="network")))(jnp.arange(c_max + 1))
    for c in range(c_max + 1):
        check_against_sort(a, traced[c], c)
        if c:
            check_against_sort(a, winsorize.winsorize(jnp.asarray(a), c, method="network"), c)


def test_method_choice_by_level_batch_and_backend(monkeypatch):
    assert winsorize._pick_method(None, 4, 4, 100) == "network"
    assert winsorize._pick_method(None, None, winsorize.NETWORK_MAX_LEVEL + 1, 20) == "bisect"
    assert winsorize._pick_method(None, winsorize.NETWORK_MAX_LEVEL + 1, 49, 20) == "bisect"
    assert winsorize._pick_method(None, 2, 49, 100) == "network"  # a static c below a large c_max
    assert winsorize._pick_method(None, 6, 6, 100) == "network"
    assert winsorize._pick_method(None, 5, 5, 128) == "bisect"  # B * c above NETWORK_MAX_WORK
    assert winsorize._pick_method(None, 4, 4, 128) == "network"
    assert winsorize._pick_method(None, 1, 1, 256) == "bisect"  # B above NETWORK_MAX_BATCH
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert winsorize._pick_method(None, 2, 2, 100) == "sort"
    with pytest.raises(ValueError, match="method must be one of"):
        winsorize._pick_method("heap", 2, 2, 100)


@pytest.mark.parametrize("c", [4, 5])
def test_mlp_default_at_batch_128_compiles_and_is_exact(c):
    """B = 128: c = 4 runs the network, c = 5 the counting algorithm (the network at c = 5 did not
    compile in 30 s on XLA:CPU, so a wrong choice here hangs the test rather than passing it)."""
    params, x, y = mlp_problem((30, 20, 3), batch=128)
    got = jax.jit(winsorize_mlp.mlp_winsorized_grad, static_argnums=1)(factors(params, x, y), c)
    per_example = generic_grads(params, x, y)
    for leaf_got, leaf in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(per_example)):
        np.testing.assert_allclose(np.asarray(leaf_got), sort_winsorize(leaf, c), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["bisect", "sort"])
def test_mlp_winsorized_grad_large_c_and_forced_methods(method):
    params, x, y = mlp_problem((40, 300, 3), batch=21)
    per_example = generic_grads(params, x, y)
    f = factors(params, x, y)
    got = jax.jit(jax.vmap(lambda c: winsorize_mlp.mlp_winsorized_grad(f, c, c_max=10, method=method)))(jnp.array([0, 3, 10]))
    for row, c in enumerate([0, 3, 10]):
        want = jax.tree_util.tree_map(lambda g: sort_winsorize(g, c), per_example)
        assert tree_max_abs_diff(jax.tree_util.tree_map(lambda l: l[row], got), want) < 1e-6


def test_network_kernel_is_computed_once_for_two_consumers():
    """A winsorized gradient read twice (parameter update and a norm) is one kernel: XLA does not
    fuse a copy of it into each consumer, nor into each layer's update (the min/max count of the
    compiled program neither doubles with a second consumer nor grows with the layers)."""
    def min_max_ops(sizes, with_norm):
        params, x, y = mlp_problem(sizes, batch=12)

        def step(f):
            g = winsorize_mlp.mlp_winsorized_grad(f, 2)
            new = [jax.tree_util.tree_map(lambda w, u: w - 0.1 * u, p, u) for p, u in zip(params, g)]
            return (new, sum(jnp.sum(leaf ** 2) for leaf in jax.tree_util.tree_leaves(g))) if with_norm else new

        text = jax.jit(step).lower(factors(params, x, y)).compile().as_text()
        return text.count(" maximum(") + text.count(" minimum(")

    once, twice = min_max_ops((60, 50, 40, 3), False), min_max_ops((60, 50, 40, 3), True)
    assert once >= 2 * 2 * 12  # the network is there: ~4 c min/max per example (fewer for the first ones)
    assert twice < 1.5 * once, (once, twice)
    assert min_max_ops((20, 3), False) == once  # one copy, whatever the number of layers


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
