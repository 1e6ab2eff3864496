"""Tests of cgnb.engine.traced_factors: the factors read from a traced vmap(grad) program give the same
per-example gradients and the same statistics as the materialised gradients (timings: benchmarks/)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.engine import nets, pergrad, trainer, transforms
from cgnb.engine.traced_factors import TracedFactors, traced_factors

from mlp_problems import loop_grads, mlp_problem, xent


def forms(loss, params, x, y, keys=None):
    """``per_example`` of ``loss`` as the dispatch picks it and as vmap(grad) gives it, both jitted."""
    def run(form):
        return jax.jit(lambda p, x, y, k: pergrad.per_example(loss, p, x, y, keys=k, form=form))(params, x, y, keys)
    return run("auto"), run("materialised")


def leaves(tree):
    return jax.tree_util.tree_leaves(tree)


def assert_trees_equal(a, b):
    for u, v in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def assert_trees_close(a, b):
    """Equal up to float rounding: two compiled programs may round the shared forward and backward passes
    differently in the last bit."""
    for u, v in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-6, atol=1e-7)


def test_every_dense_weight_of_a_plain_function_is_found_as_a_factor_pair():
    params, x, y = mlp_problem()
    factored, materialised = forms(xent, params, x, y)
    assert isinstance(factored, TracedFactors) and isinstance(materialised, pergrad.Materialised)
    kinds = {path: kind for (path, _), (kind, _) in zip(jax.tree_util.tree_flatten_with_path(params)[0],
                                                         factored.layout)}
    assert all(kind == ("outer" if path[-1].key == "w" else "dense") for path, kind in kinds.items())
    assert factored.batch_size == x.shape[0]
    assert_trees_close(factored.materialise(), materialised.grads)
    # eagerly, each entry is the very product that the batched dot_general computes
    assert_trees_equal(pergrad.per_example(xent, params, x, y).materialise(),
                       pergrad.per_example(xent, params, x, y, form="materialised").grads)


def test_the_factored_statistics_equal_those_of_the_materialised_gradients():
    params, x, y = mlp_problem(batch=12)
    factored, materialised = forms(xent, params, x, y)
    rows = loop_grads(xent, params, x, y)
    np.testing.assert_allclose(pergrad.ravel(factored.mean()), rows.mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(factored.sq_norms(), np.sum(rows ** 2, axis=1), rtol=1e-5)
    weights = jnp.asarray(np.random.default_rng(0).normal(size=(3, x.shape[0])), jnp.float32)
    sums = factored.group_sums(weights)
    for k, w in enumerate([np.ones(x.shape[0]), *np.asarray(weights)]):
        np.testing.assert_allclose(pergrad.ravel(jax.tree_util.tree_map(lambda l: l[k], sums)), w @ rows,
                                   rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("c, c_max, method", [(1, None, None), (2, None, None), (4, None, None),
                                              (5, None, "sorting"), (3, None, "bisect")])
def test_the_winsorized_mean_is_exactly_that_of_the_materialised_gradients(c, c_max, method):
    params, x, y = mlp_problem(batch=12)
    factored, materialised = forms(xent, params, x, y)
    win = jax.jit(lambda g: g.winsorized_mean(c, c_max, method))
    # exact on the factors' own values: the kernel forms each product on the fly
    assert_trees_equal(win(factored), win(pergrad.Materialised(factored.materialise())))
    assert_trees_close(win(factored), win(materialised))


def test_a_traced_level_gives_the_same_winsorized_mean():
    params, x, y = mlp_problem(batch=12)
    factored, materialised = forms(xent, params, x, y)
    win = jax.jit(lambda g, c: g.winsorized_mean(c, 3))
    for c in (0, 2, 3):
        got, want = win(factored, jnp.int32(c)), win(materialised, jnp.int32(c))
        assert max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(leaves(got), leaves(want))) < 1e-7


def test_dropout_keys_keep_the_weights_factored():
    params, x, y = mlp_problem()
    keys = jax.random.split(jax.random.PRNGKey(3), x.shape[0])

    def dropout_loss(p, x, y, key):  # a random mask on the hidden units, one key per example
        hidden = jax.nn.relu(x @ p[0]["w"] + p[0]["b"])
        hidden = hidden * jax.random.bernoulli(key, 0.5, hidden.shape) * 2.0
        return xent(p[1:], hidden, y)

    factored, materialised = forms(dropout_loss, params, x, y, keys)
    assert isinstance(factored, TracedFactors)
    assert [kind for kind, _ in factored.layout].count("outer") == len(params)  # every weight
    assert_trees_close(factored.materialise(), materialised.grads)


def test_a_parameter_used_twice_or_elementwise_stays_materialised():
    params = {"w": jax.random.normal(jax.random.PRNGKey(0), (4, 4)), "s": jnp.arange(1.0, 5.0)}
    x = jax.random.normal(jax.random.PRNGKey(1), (6, 4))
    y = jnp.zeros((6,))

    def shared(p, x, y):  # w twice: its gradient is a sum of two outer products, s elementwise
        h = jnp.tanh(x @ p["w"]) @ p["w"]
        return jnp.sum((h * p["s"]) ** 2, axis=1) + y

    got = pergrad.per_example(shared, params, x, y)
    assert isinstance(got, pergrad.Materialised)  # nothing factors: the gradients as vmap(grad) gives them
    assert_trees_equal(got.grads, pergrad.per_example(shared, params, x, y, form="materialised").grads)


def test_mixed_leaves_under_vmap_over_parameters():
    """A sweep vmaps its steps over the variants' parameters: the program is read per variant."""
    sizes = (6, 5, 3)
    stacked = jax.vmap(lambda k: nets.init(k, sizes))(jax.random.split(jax.random.PRNGKey(0), 3))
    _, x, y = mlp_problem(sizes=sizes)
    got = jax.jit(jax.vmap(lambda p: pergrad.per_example(xent, p, x, y).winsorized_mean(2)))(stacked)
    want = jax.jit(jax.vmap(lambda p: pergrad.per_example(xent, p, x, y, form="materialised")
                            .winsorized_mean(2)))(stacked)
    assert_trees_close(got, want)


def test_the_engine_step_of_a_plain_function_loss_equals_the_pytree_path():
    params, x, y = mlp_problem(batch=12)
    tx = optax.chain(transforms.winsorized_mean(2), optax.sgd(0.1))
    step = trainer.Step(xent, "per_example", tx)
    got = jax.jit(lambda p: step(p, step.init(p), x, y)[0])(params)
    want = jax.jit(lambda p: optax.apply_updates(p, tx.update(pergrad.per_example_grads(xent, p, x, y),
                                                               tx.init(p), p)[0]))(params)
    assert_trees_close(got, want)


def test_per_example_grads_of_a_plain_function_are_vmap_of_grad_itself():
    """``per_example_grads`` keeps the program it always ran for losses the engine does not factor itself."""
    params, x, y = mlp_problem()
    got = jax.make_jaxpr(lambda p: pergrad.per_example_grads(xent, p, x, y))(params)
    assert any(eqn.primitive.name == "dot_general" and len(eqn.outvars[0].aval.shape) == 3
               for eqn in got.jaxpr.eqns)  # the batched outer products are still there


def test_traced_factors_of_a_function_without_outer_products_is_materialised():
    params = {"a": jnp.arange(3.0)}
    x = jnp.arange(12.0).reshape(4, 3)
    grads = jax.vmap(jax.grad(lambda p, xi: jnp.sum(jnp.sin(p["a"] * xi))), in_axes=(None, 0))
    got = traced_factors(grads, params, x)
    assert isinstance(got, pergrad.Materialised)
    np.testing.assert_array_equal(got.grads["a"], grads(params, x)["a"])


def nested_jit_loss(params, x, y):
    """:func:`mlp_problems.xent`'s network with every layer in a ``jax.jit`` of its own, all inside another."""
    @jax.jit
    def dense(layer, h):
        return h @ layer["w"] + layer["b"]

    @jax.jit
    def logits(params, h):
        for layer in params[:-1]:
            h = jax.nn.relu(dense(layer, h))
        return dense(params[-1], h)
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, x), y)


def test_a_loss_made_of_nested_jit_calls_is_factored_like_a_flat_one():
    params, x, y = mlp_problem()
    factored, materialised = forms(nested_jit_loss, params, x, y)
    assert isinstance(factored, TracedFactors)
    assert [kind for kind, _ in factored.layout] == [
        "outer" if path[-1].key == "w" else "dense" for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    assert_trees_close(factored.materialise(), materialised.grads)
    assert_trees_close(factored.mean(), forms(xent, params, x, y)[0].mean())


def test_a_nested_call_with_its_own_sharding_stays_a_call_and_is_still_correct():
    """JAX stages a call with a sharding of its own as a call even when asked to inline it: its weight stays
    materialised, the values are unchanged, and the reading ends."""
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    params, x, y = mlp_problem((6, 5, 3), batch=4)
    pinned = jax.jit(lambda layer, h: h @ layer["w"], in_shardings=sharding, out_shardings=sharding)

    def loss(params, x, y):
        hidden = jax.nn.relu(pinned(params[0], x) + params[0]["b"])
        return optax.softmax_cross_entropy_with_integer_labels(hidden @ params[1]["w"] + params[1]["b"], y)

    factored, materialised = forms(loss, params, x, y)
    assert [kind for kind, _ in factored.layout] == ["dense", "dense", "dense", "outer"]
    assert_trees_close(factored.materialise(), materialised.grads)
