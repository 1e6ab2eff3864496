"""Tests of cgnb.engine.pergrad against numpy references and Python loops (timings: benchmarks/)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import losses, nets, pergrad, traced_factors

from mlp_problems import XENT, xent, mlp_problem, loop_grads



def jitted(name, *static):
    """pergrad.<name> under jax.jit (eager calls dispatch every primitive separately: slow)."""
    return jax.jit(getattr(pergrad, name), static_argnums=static)


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


def test_per_example_grads_is_the_vmap_of_grad_idiom_and_the_mlp_fast_path_agrees():
    params, x, y = mlp_problem()
    generic = jitted("per_example_grads", 0)(xent, params, x, y)
    single = lambda p, xi, yi: xent(p, xi[None], yi[None])[0]  # noqa: E731
    idiom = jax.jit(jax.vmap(jax.grad(single), in_axes=(None, 0, 0)))(params, x, y)
    assert tree_max_abs_diff(generic, idiom) == 0.0
    fast = jitted("per_example_grads", 0)(XENT, params, x, y)
    assert jax.tree_util.tree_structure(fast) == jax.tree_util.tree_structure(generic)
    assert tree_max_abs_diff(fast, generic) < 1e-6


def test_per_example_grads_give_each_example_its_own_key():
    params = nets.init(jax.random.PRNGKey(0), (4, 50, 1))
    x, y = jnp.ones((3, 4)), jnp.zeros(3)

    def noisy(p, xb, yb, *, key=None):
        return losses.squared_error(nets.forward(p, xb, dropout_rate=0.5, key=key), yb)

    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    got = pergrad.per_example_grads(noisy, params, x, y, keys=keys)
    for i in range(3):
        want = jax.grad(lambda p: noisy(p, x[i:i + 1], y[i:i + 1], key=keys[i])[0])(params)
        assert tree_max_abs_diff(jax.tree_util.tree_map(lambda l: l[i], got), want) < 1e-6
    assert tree_max_abs_diff(jax.tree_util.tree_map(lambda l: l[0], got),
                             jax.tree_util.tree_map(lambda l: l[1], got)) > 0  # different noise


def test_ravel_concatenates_leaves():
    tree = [{"b": jnp.ones(2), "w": jnp.arange(6.0).reshape(2, 3)}]
    np.testing.assert_array_equal(pergrad.ravel(tree), np.r_[np.ones(2), np.arange(6.0)])


# ----------------------------------------------------------------------------- MLP fast paths


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


# ----------------------------------------------------------------------------- one representation


def both_forms(params, x, y):
    return (jax.jit(pergrad.per_example, static_argnums=0, static_argnames="form")(XENT, params, x, y, form="factors"),
            jax.jit(pergrad.per_example, static_argnums=0, static_argnames="form")(XENT, params, x, y,
                                                                                  form="materialised"))


def test_the_dispatch_picks_factors_only_where_they_apply():
    params, x, y = mlp_problem()
    assert isinstance(pergrad.per_example(XENT, params, x, y), pergrad.MLPFactors)
    assert isinstance(pergrad.per_example(xent, params, x, y), traced_factors.TracedFactors)  # a plain function
    assert isinstance(pergrad.per_example(xent, params, x, y, form="materialised"), pergrad.Materialised)
    bn = nets.init(jax.random.PRNGKey(0), (6, 5, 3), batchnorm=True)
    assert isinstance(pergrad.per_example(XENT, bn, x, y), traced_factors.TracedFactors)  # vmap(grad), read
    with pytest.raises(ValueError, match="form must be one of"):
        pergrad.per_example(XENT, params, x, y, form="lazy")


def test_both_forms_offer_the_same_operations():
    params, x, y = mlp_problem()
    factors, materialised = both_forms(params, x, y)
    rows = loop_grads(xent, params, x, y)
    assert factors.batch_size == materialised.batch_size == x.shape[0]
    for g in (factors, materialised):
        np.testing.assert_allclose(pergrad.ravel(g.mean()), rows.mean(axis=0), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(g.sq_norms(), np.sum(rows ** 2, axis=1), rtol=1e-5)
        weights = jnp.asarray(np.random.default_rng(0).normal(size=(3, x.shape[0])), jnp.float32)
        sums = g.group_sums(weights)  # the total, then one row per weight vector
        for k, w in enumerate([np.ones(x.shape[0]), *np.asarray(weights)]):
            np.testing.assert_allclose(pergrad.ravel(jax.tree_util.tree_map(lambda l: l[k], sums)),
                                       w @ rows, rtol=1e-4, atol=1e-6)
        assert tree_max_abs_diff(g.materialise(), materialised.grads) < 1e-6
    assert tree_max_abs_diff(factors.winsorized_mean(1), materialised.winsorized_mean(1)) < 1e-6


def test_group_sums_without_per_example_gradients():
    params, x, y = mlp_problem()
    masks = jnp.array([[True, False] * 4, [False] * 8])
    rows = loop_grads(xent, params, x, y)
    for loss in (XENT, xent):  # factors, or one backward pass per row
        sums = pergrad.group_sums(loss, params, x, y, masks)
        for k, w in enumerate([np.ones(8), *np.asarray(masks, np.float32)]):
            np.testing.assert_allclose(pergrad.ravel(jax.tree_util.tree_map(lambda l: l[k], sums)),
                                       w @ rows, rtol=1e-4, atol=1e-6)


def test_layer_sq_norms_with_and_without_the_bias():
    a, d = jnp.array([[1.0, 2.0]]), jnp.array([[3.0]])
    np.testing.assert_array_equal(pergrad.layer_sq_norms(a, d), [(5.0 + 1.0) * 9.0])
    np.testing.assert_array_equal(pergrad.layer_sq_norms(a, d, bias=False), [45.0])


# ----------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="same leading size B"):
        pergrad.per_example_grads(xent, *mlp_problem()[:2], jnp.zeros(3, jnp.int32))

    params, x, y = mlp_problem()
    bn_params = nets.init(jax.random.PRNGKey(0), (6, 5, 3), batchnorm=True)
    with pytest.raises(ValueError, match="without batch norm"):
        pergrad.mlp_factors(XENT, bn_params, x, y)
    with pytest.raises(ValueError, match="MLPLoss"):
        pergrad.mlp_per_example_sq_norms(xent, params, x, y)
    with pytest.raises(ValueError, match="MLPLoss"):
        pergrad.per_example(xent, params, x, y, form="factors")
    with pytest.raises(ValueError, match="batch is empty"):
        pergrad.check_batch(jnp.zeros((0, 2)), jnp.zeros(0))
