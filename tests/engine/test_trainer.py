"""Tests of cgnb.engine.trainer: the gradient rules, the Step contract, the optimizer update, torch_style_sgd.

(The sweep's methods as Steps, bit for bit against the former engine: tests/engine/sweep/test_sweep_methods.py.)
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.engine import losses, nets, pergrad, trainer, transforms

from mlp_problems import step_problem

LOSS = losses.MLPLoss()


# ----------------------------------------------------------------------------- steps


def test_step_rules_and_chain():
    params, xs, ys = step_problem(steps=1)
    x, y = xs[0], ys[0]
    mean = trainer.Step(LOSS, "mean", optax.sgd(0.5))
    grads = mean.gradient(params, x, y)
    plain = jax.grad(lambda p: jnp.mean(LOSS(p, x, y)))(params)
    for u, v in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(plain)):
        np.testing.assert_array_equal(u, v)
    assert isinstance(trainer.per_example_gradient(LOSS, params, x, y), pergrad.MLPFactors)
    updated, _ = trainer.apply_updates(optax.sgd(0.5), params, optax.sgd(0.5).init(params), plain)
    for u, p, g in zip(jax.tree_util.tree_leaves(updated), jax.tree_util.tree_leaves(params),
                       jax.tree_util.tree_leaves(plain)):
        np.testing.assert_allclose(u, p - 0.5 * g, rtol=1e-6, atol=1e-7)

    def plain_loss(p, x, y):
        return losses.cross_entropy(nets.forward(p, x), y)

    per_example = trainer.per_example_gradient(plain_loss, params, x, y)
    assert isinstance(per_example, pergrad.PerExample) and not isinstance(per_example, pergrad.MLPFactors)
    assert per_example.batch_size == x.shape[0]
    # the generic path (factors read from vmap(grad)) and the MLP fast path (factors) agree
    generic = trainer.Step(plain_loss, "per_example", optax.chain(transforms.winsorized_mean(1), optax.sgd(0.5)))
    fast = trainer.Step(LOSS, "per_example", optax.chain(transforms.winsorized_mean(1), optax.sgd(0.5)))
    a = jax.jit(generic)(params, generic.init(params), x, y)[0]
    b = jax.jit(fast)(params, fast.init(params), x, y)[0]
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)


def test_step_bad_inputs():
    with pytest.raises(ValueError, match="unknown gradient rule"):
        trainer.Step(LOSS, "median", optax.sgd(0.1))
    with pytest.raises(ValueError, match="GradientTransformation"):
        trainer.Step(LOSS, "mean", 0.1)


# ----------------------------------------------------------------------------- torch_style_sgd


def test_torch_style_sgd_matches_pytorch_update_rule():
    # PyTorch SGD(lr, momentum, weight_decay): g' = g + wd p; buf = mu buf + g'; p -= lr buf
    opt = trainer.torch_style_sgd(0.1, momentum=0.9, weight_decay=0.01)
    p = {"w": jnp.array([1.0, -2.0])}
    state = opt.init(p)
    buf = np.zeros(2)
    ref = np.array([1.0, -2.0])
    for g in ([0.5, 0.5], [-1.0, 2.0], [0.3, 0.0]):
        updates, state = opt.update({"w": jnp.array(g)}, state, p)
        p = optax.apply_updates(p, updates)
        buf = 0.9 * buf + (np.array(g) + 0.01 * ref)
        ref = ref - 0.1 * buf
        np.testing.assert_allclose(p["w"], ref, rtol=1e-6)


def test_torch_style_sgd_rejects_negative_rates():
    with pytest.raises(ValueError, match="lr and momentum"):
        trainer.torch_style_sgd(-0.1)
