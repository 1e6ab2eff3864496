"""Tests of cgnb.pergrad against numpy references and Python loops (timings: benchmarks/)."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.engine import nets, pergrad

XENT = pergrad.MLPLoss()


def jitted(name, *static):
    """pergrad.<name> under jax.jit (eager calls dispatch every primitive separately: slow)."""
    return jax.jit(getattr(pergrad, name), static_argnums=static)


def xent(params, x, y):
    """The same loss as XENT, as a plain function (generic code paths)."""
    return nets.cross_entropy(nets.apply(params, x), y)


def mlp_problem(sizes=(6, 5, 4, 3), batch=8, seed=0):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = nets.init(k1, sizes)
    x = jax.random.normal(k2, (batch, sizes[0]))
    y = jax.random.randint(k3, (batch,), 0, sizes[-1])
    return params, x, y


def loop_grads(loss_fn, params, x, y):
    """Per-example gradients by a Python loop of jax.grad, raveled: (B, P) numpy."""
    grad_one = jax.jit(jax.grad(lambda p, xi, yi: loss_fn(p, xi, yi)[0]))
    return np.stack([np.asarray(pergrad.ravel(grad_one(params, x[i:i + 1], y[i:i + 1])))
                     for i in range(x.shape[0])])


def sort_winsorize(a, c):
    """Reference: sort each coordinate, clip to the (c+1)-th smallest / largest, average."""
    a = np.asarray(a)
    s = np.sort(a, axis=0)
    return np.clip(a, s[c], s[a.shape[0] - 1 - c]).sum(axis=0) / a.shape[0]


def tree_max_abs_diff(a, b):
    return max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(jax.tree_util.tree_leaves(a),
                                                                 jax.tree_util.tree_leaves(b)))


# ----------------------------------------------------------------------------- per-example gradients


def test_per_example_grads_equal_a_loop_of_grad():
    params, x, y = mlp_problem()
    got = jitted("per_example_grads", 0)(xent, params, x, y)
    rows = np.stack([np.asarray(pergrad.ravel(jax.tree_util.tree_map(lambda l: l[i], got)))
                     for i in range(x.shape[0])])
    np.testing.assert_allclose(rows, loop_grads(xent, params, x, y), rtol=1e-5, atol=1e-6)


def test_per_example_grads_work_for_any_pytree():
    params = {"a": jnp.arange(3.0), "nested": (jnp.ones((2, 2)),)}
    x = jnp.arange(12.0).reshape(4, 3)
    y = jnp.arange(4.0)

    def loss(p, x, y):  # (B,)
        return (x @ p["a"] - y) ** 2 + jnp.sum(p["nested"][0]) * y

    got = pergrad.per_example_grads(loss, params, x, y)
    assert got["a"].shape == (4, 3) and got["nested"][0].shape == (4, 2, 2)
    want_a = 2 * (x @ params["a"] - y)[:, None] * x
    np.testing.assert_allclose(got["a"], want_a, rtol=1e-6)
    np.testing.assert_allclose(got["nested"][0], jnp.broadcast_to(y[:, None, None], (4, 2, 2)))


def test_ravel_concatenates_leaves():
    tree = [{"b": jnp.ones(2), "w": jnp.arange(6.0).reshape(2, 3)}]
    np.testing.assert_array_equal(pergrad.ravel(tree), np.r_[np.ones(2), np.arange(6.0)])


# ----------------------------------------------------------------------------- winsorization


@pytest.fixture(scope="module")
def tied():
    """Integer-valued floats with many ties; B = 16 so every sum and mean is exact."""
    return np.random.default_rng(0).integers(-3, 4, size=(16, 9, 7)).astype(np.float32)


@pytest.mark.parametrize("c", [0, 1, 2, 4])
def test_winsorize_equals_sort_and_clip_with_ties(tied, c):
    got = jitted("winsorize", 1)(jnp.asarray(tied), c)
    np.testing.assert_array_equal(np.asarray(got), sort_winsorize(tied, c))


def test_winsorize_random_data_and_extremes():
    a = np.random.default_rng(1).normal(size=(11, 300)).astype(np.float32)
    a[:, 0] = 5.0  # all equal
    a[3, 1] = np.inf  # one infinite outlier is clipped away for c >= 1
    a[:, 2] = [-0.0, 0.0] * 5 + [0.0]  # signed zeros
    for c in (1, 3, 5):
        got = np.asarray(jitted("winsorize", 1)(jnp.asarray(a), c))
        np.testing.assert_allclose(got, sort_winsorize(a, c), rtol=1e-6, atol=1e-7)
    assert np.isinf(pergrad.winsorize(jnp.asarray(a), 0)[1])


def test_winsorize_c0_is_exactly_the_mean(tied):
    a = jnp.asarray(np.random.default_rng(2).normal(size=(10, 33)).astype(np.float32))
    np.testing.assert_array_equal(pergrad.winsorize(a, 0), jnp.mean(a, axis=0))
    np.testing.assert_array_equal(pergrad.winsorize(a, 0, c_max=3), jnp.mean(a, axis=0))


def test_winsorize_traced_c_is_one_program(tied):
    sweep = jax.jit(jax.vmap(lambda c: pergrad.winsorize(jnp.asarray(tied), c, c_max=4)))
    got = np.asarray(sweep(jnp.array([0, 1, 2, 4, 3])))
    for row, c in enumerate([0, 1, 2, 4, 3]):
        np.testing.assert_array_equal(got[row], sort_winsorize(tied, c))
    # a traced c outside [0, c_max] cannot raise: it gives NaN
    assert np.isnan(np.asarray(sweep(jnp.array([5, -1, 5, -1, 7])))).all()


def test_winsorize_static_c_below_c_max(tied):
    got = jax.jit(lambda a: pergrad.winsorize(a, 2, c_max=4))(jnp.asarray(tied))
    np.testing.assert_array_equal(got, sort_winsorize(tied, 2))


@pytest.mark.parametrize("c", [1, 4])
def test_winsorized_mean_transform_in_an_optax_chain(c):
    params, x, y = mlp_problem(batch=10)
    per_example = jitted("per_example_grads", 0)(xent, params, x, y)
    tx = optax.chain(pergrad.winsorized_mean(c), optax.sgd(0.1))
    state = tx.init(params)
    updates, _ = jax.jit(tx.update)(per_example, state, params)
    want = jax.tree_util.tree_map(lambda g: -0.1 * sort_winsorize(g, c), per_example)
    assert jax.tree_util.tree_structure(updates) == jax.tree_util.tree_structure(params)
    assert tree_max_abs_diff(updates, want) < 1e-7


def test_winsorized_mean_c0_update_is_the_plain_sgd_update():
    params, x, y = mlp_problem(batch=10)
    per_example = jitted("per_example_grads", 0)(xent, params, x, y)
    tx = pergrad.winsorized_mean(0)
    got, state = jax.jit(tx.update)(per_example, tx.init(params))
    assert isinstance(state, optax.EmptyState)
    want = jax.tree_util.tree_map(lambda g: jnp.mean(g, axis=0), per_example)
    for u, v in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_array_equal(u, v)
    plain = jax.jit(jax.grad(lambda p: jnp.mean(xent(p, x, y))))(params)
    assert tree_max_abs_diff(got, plain) < 1e-6


def test_winsorized_mean_traced_c_under_jit_and_vmap():
    params, x, y = mlp_problem(batch=10)
    per_example = jitted("per_example_grads", 0)(xent, params, x, y)

    @jax.jit
    @jax.vmap
    def sweep(c):
        return pergrad.winsorized_mean(c, 2).update(per_example, optax.EmptyState())[0]

    got = sweep(jnp.array([0, 2]))
    for row, c in enumerate([0, 2]):
        want = jax.tree_util.tree_map(lambda g: sort_winsorize(g, c), per_example)
        assert tree_max_abs_diff(jax.tree_util.tree_map(lambda l: l[row], got), want) < 1e-7


# ----------------------------------------------------------------------------- MLP fast paths


@pytest.mark.parametrize("sizes", [(6, 5, 4, 3), (40, 300, 3)])
def test_mlp_winsorized_grad_equals_generic(sizes):
    params, x, y = mlp_problem(sizes, batch=9)
    per_example = jitted("per_example_grads", 0)(xent, params, x, y)
    for c in (1, 4):
        got = jax.jit(pergrad.mlp_winsorized_grad, static_argnums=(0, 4))(XENT, params, x, y, c)
        want = jax.tree_util.tree_map(lambda g: sort_winsorize(g, c), per_example)
        assert tree_max_abs_diff(got, want) < 1e-6


def test_mlp_winsorized_grad_traced_c_and_c0():
    params, x, y = mlp_problem(batch=9)
    per_example = jitted("per_example_grads", 0)(xent, params, x, y)
    got = jax.jit(jax.vmap(lambda c: pergrad.mlp_winsorized_grad(XENT, params, x, y, c, c_max=2)))(
        jnp.array([0, 1, 2]))
    for row, c in enumerate([0, 1, 2]):
        want = jax.tree_util.tree_map(lambda g: sort_winsorize(g, c), per_example)
        assert tree_max_abs_diff(jax.tree_util.tree_map(lambda l: l[row], got), want) < 1e-6
    plain = jax.jit(jax.grad(lambda p: jnp.mean(xent(p, x, y))))(params)
    exact = jitted("mlp_winsorized_grad", 0, 4)(XENT, params, x, y, 0)
    for u, v in zip(jax.tree_util.tree_leaves(exact), jax.tree_util.tree_leaves(plain)):
        np.testing.assert_array_equal(u, v)


def test_mlp_factors_and_sq_norms_equal_per_example_gradients():
    params, x, y = mlp_problem()
    rows = loop_grads(xent, params, x, y)
    np.testing.assert_allclose(jitted("mlp_per_example_sq_norms", 0)(XENT, params, x, y),
                               np.sum(rows ** 2, axis=1), rtol=1e-5)
    f = jitted("mlp_factors", 0)(XENT, params, x, y)
    np.testing.assert_allclose(f.losses, xent(params, x, y), rtol=1e-6)
    per_example = jitted("per_example_grads", 0)(xent, params, x, y)
    for layer, a, d in zip(per_example, f.inputs, f.deltas):
        np.testing.assert_allclose(layer["w"], a[:, :, None] * d[:, None, :], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(layer["b"], d, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- RM3


def test_rm3_is_the_median_of_the_last_three_gradients():
    rng = np.random.default_rng(3)
    grads = [{"w": rng.normal(size=(3, 2)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}
             for _ in range(6)]
    tx = pergrad.rm3()
    state = tx.init(jax.tree_util.tree_map(jnp.zeros_like, grads[0]))
    update = jax.jit(tx.update)
    for t, g in enumerate(grads):
        got, state = update(jax.tree_util.tree_map(jnp.asarray, g), state)
        for name in g:
            if t < 2:  # missing gradients are the current one: plain SGD updates
                want = g[name]
            else:
                want = np.median(np.stack([grads[t][name], grads[t - 1][name], grads[t - 2][name]]), axis=0)
            np.testing.assert_array_equal(np.asarray(got[name]), want)


def test_median3_without_sort_matches_numpy_with_ties():
    rng = np.random.default_rng(4)
    a, b, c = (rng.integers(0, 3, 200).astype(np.float32) for _ in range(3))
    np.testing.assert_array_equal(pergrad.median3(a, b, c), np.median(np.stack([a, b, c]), axis=0))


# ----------------------------------------------------------------------------- coherence


def linear_loss(params, x, y):
    """l_i = <w, x_i>: the per-example gradient is x_i."""
    del y
    return x @ params["w"]


def test_coherence_identical_gradients_is_one():
    x = jnp.tile(jnp.array([[1.0, -2.0, 0.5]]), (5, 1))
    alpha = jitted("coherence", 0)(linear_loss, {"w": jnp.zeros(3)}, x, jnp.zeros(5))
    np.testing.assert_allclose(alpha, 1.0, rtol=1e-6)


@pytest.mark.parametrize("m", [2, 5, 8])
def test_coherence_orthogonal_equal_norm_is_one_over_m(m):
    x = 3.0 * jnp.eye(m)
    alpha = jitted("coherence", 0)(linear_loss, {"w": jnp.zeros(m)}, x, jnp.zeros(m))
    np.testing.assert_allclose(alpha, 1.0 / m, rtol=1e-6)


def test_coherence_fast_path_equals_generic_and_loop():
    params, x, y = mlp_problem(batch=12)
    rows = loop_grads(xent, params, x, y)
    want = np.sum(rows.mean(axis=0) ** 2) / np.mean(np.sum(rows ** 2, axis=1))
    fast = jitted("coherence", 0)(XENT, params, x, y)  # auto -> mlp
    generic = jitted("coherence", 0)(xent, params, x, y)  # auto -> vmap
    np.testing.assert_allclose(fast, want, rtol=1e-5)
    np.testing.assert_allclose(generic, want, rtol=1e-5)
    vmapped = jax.jit(lambda p: pergrad.coherence(XENT, p, x, y, method="vmap"))(params)
    np.testing.assert_allclose(vmapped, want, rtol=1e-5)


def test_mean_pairwise_cosine_equals_a_loop():
    g = np.random.default_rng(5).normal(size=(6, 20)).astype(np.float32)
    want = np.mean([g[i] @ g[j] / np.linalg.norm(g[i]) / np.linalg.norm(g[j])
                    for i, j in itertools.combinations(range(6), 2)])
    np.testing.assert_allclose(pergrad.mean_pairwise_cosine(jnp.asarray(g)), want, rtol=1e-5)
    g[0] = 0.0  # a zero row has cosine 0 with all others
    want0 = np.sum([g[i] @ g[j] / np.linalg.norm(g[i]) / np.linalg.norm(g[j])
                    for i, j in itertools.combinations(range(1, 6), 2)]) / 15
    np.testing.assert_allclose(pergrad.mean_pairwise_cosine(jnp.asarray(g)), want0, rtol=1e-5)


# ----------------------------------------------------------------------------- pristine / corrupt groups


def test_group_alphas_equal_a_per_example_computation():
    params, x, y = mlp_problem(batch=10)
    mask = jnp.array([1, 1, 0, 1, 0, 0, 1, 1, 1, 0], bool)
    rows = loop_grads(xent, params, x, y)
    m = np.asarray(mask)
    g_p, g_c = rows[m].sum(0), rows[~m].sum(0)
    g = g_p + g_c
    got = jitted("group_alphas", 0)(xent, params, x, y, mask)
    np.testing.assert_allclose(got["alpha_p"], g @ g_p / (g @ g), rtol=1e-4)
    np.testing.assert_allclose(got["alpha_c"], g @ g_c / (g @ g), rtol=1e-4)
    np.testing.assert_allclose(got["alpha_p"] + got["alpha_c"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(got["dot_p"], g @ g_p, rtol=1e-4)
    np.testing.assert_allclose(got["norm"], np.linalg.norm(g), rtol=1e-5)
    np.testing.assert_allclose(got["norm_p"], np.linalg.norm(g_p), rtol=1e-5)
    np.testing.assert_allclose(got["norm_c"], np.linalg.norm(g_c), rtol=1e-5)
    np.testing.assert_allclose(got["cos_pc"], g_p @ g_c / np.linalg.norm(g_p) / np.linalg.norm(g_c), rtol=1e-4)
    assert float(got["n_p"]) == 6 and float(got["n_c"]) == 4


def test_null_masks_are_permutations_and_group_alphas_many_matches_single_calls():
    params, x, y = mlp_problem(batch=10)
    mask = jnp.arange(10) < 3
    nulls = pergrad.null_masks(jax.random.PRNGKey(7), mask, 4)
    assert nulls.shape == (4, 10) and nulls.dtype == jnp.bool_
    assert (np.asarray(nulls).sum(axis=1) == 3).all()
    assert len({tuple(r) for r in np.asarray(nulls)}) > 1  # not all the same world
    np.testing.assert_array_equal(nulls, pergrad.null_masks(jax.random.PRNGKey(7), mask, 4))
    many = jax.jit(pergrad.group_alphas_many, static_argnums=0)(xent, params, x, y, nulls)
    single = jax.jit(pergrad.group_alphas, static_argnums=0)
    for k in range(4):
        one = single(xent, params, x, y, nulls[k])
        for name in ("alpha_p", "alpha_c", "norm_p", "norm_c"):
            np.testing.assert_allclose(many[name][k], one[name], rtol=1e-5)


def test_group_contributions_equal_a_loop():
    rng = np.random.default_rng(6)
    dot_p, dot_c = rng.normal(size=(2, 10))
    got = pergrad.group_contributions(dot_p, dot_c, 30, 70)
    want_p = [sum(dot_p[:t + 1]) / 30 for t in range(10)]
    want_c = [sum(dot_c[:t + 1]) / 70 for t in range(10)]
    np.testing.assert_allclose(got["f_p"], want_p, rtol=1e-5)
    np.testing.assert_allclose(got["f_c"], want_c, rtol=1e-5)
    # from group_alphas records: alpha_p |g|^2 = <g, g_p>; an empty group gives NaN
    assert np.isnan(pergrad.group_contributions(dot_p, dot_c, 0, 100)["f_p"]).all()


# ----------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_clear_errors():
    a = jnp.zeros((10, 3))
    with pytest.raises(ValueError, match="0 <= c < B/2"):
        pergrad.winsorize(a, 5)
    with pytest.raises(ValueError, match="0 <= c < B/2"):
        pergrad.winsorize(a, -1)
    with pytest.raises(ValueError, match="0 <= c_max < B/2"):
        pergrad.winsorize(a, 1, c_max=5)
    with pytest.raises(ValueError, match="exceeds c_max"):
        pergrad.winsorize(a, 3, c_max=2)
    with pytest.raises(ValueError, match="pass c_max"):
        jax.jit(lambda c: pergrad.winsorize(a, c))(1)
    with pytest.raises(ValueError, match="c must be an integer"):
        pergrad.winsorize(a, 1.5)
    with pytest.raises(ValueError, match="c_max must be a Python int"):
        jax.jit(lambda m: pergrad.winsorize(a, 1, c_max=m))(2)
    with pytest.raises(ValueError, match="c_max must be a Python int"):
        jax.jit(lambda m: pergrad.winsorized_mean(1, c_max=m))(2)
    with pytest.raises(ValueError, match="floating"):
        pergrad.winsorize(jnp.zeros((10, 3), jnp.int32), 1)
    with pytest.raises(ValueError, match="leading batch axis"):
        pergrad.winsorize(jnp.zeros(()), 0)
    with pytest.raises(ValueError, match="same leading batch axis"):
        pergrad.winsorized_mean(1).update({"a": jnp.zeros((4, 2)), "b": jnp.zeros((5,))}, optax.EmptyState())
    with pytest.raises(ValueError, match="same leading size B"):
        pergrad.per_example_grads(xent, *mlp_problem()[:2], jnp.zeros(3, jnp.int32))

    params, x, y = mlp_problem()
    bn_params = nets.init(jax.random.PRNGKey(0), (6, 5, 3), batchnorm=True)
    with pytest.raises(ValueError, match="without batch norm"):
        pergrad.mlp_factors(XENT, bn_params, x, y)
    with pytest.raises(ValueError, match="MLPLoss"):
        pergrad.mlp_winsorized_grad(xent, params, x, y, 1)
    with pytest.raises(ValueError, match="MLPLoss"):
        pergrad.mlp_per_example_sq_norms(xent, params, x, y)
    with pytest.raises(ValueError, match="MLPLoss"):
        pergrad.coherence(xent, params, x, y, method="mlp")
    with pytest.raises(ValueError, match="method must be"):
        pergrad.coherence(xent, params, x, y, method="fast")
    with pytest.raises(ValueError, match="M >= 2"):
        pergrad.mean_pairwise_cosine(jnp.ones((1, 4)))
    with pytest.raises(ValueError, match="boolean"):
        pergrad.group_alphas(xent, params, x, y, jnp.ones(8))
    with pytest.raises(ValueError, match="batch size 8"):
        pergrad.group_alphas(xent, params, x, y, jnp.ones(7, bool))
    with pytest.raises(ValueError, match=r"must be \(B,\)"):
        pergrad.group_alphas(xent, params, x, y, jnp.ones((2, 8), bool))
    with pytest.raises(ValueError, match="k .* must be >= 1"):
        pergrad.null_masks(jax.random.PRNGKey(0), jnp.ones(8, bool), 0)
    with pytest.raises(ValueError, match="same shape"):
        pergrad.group_contributions(jnp.ones(3), jnp.ones(4), 1, 1)


def test_group_alphas_mlp_fast_path_equals_generic():
    params, x, y = mlp_problem(batch=10)
    masks = pergrad.null_masks(jax.random.PRNGKey(1), jnp.arange(10) < 4, 3)
    fast = jitted("group_alphas_many", 0)(XENT, params, x, y, masks)
    generic = jitted("group_alphas_many", 0)(xent, params, x, y, masks)
    for name in generic:
        np.testing.assert_allclose(fast[name], generic[name], rtol=2e-5, atol=1e-7, err_msg=name)
