"""Tests of cgnb.engine.trainer.

Steps: the sweep's three methods as ``Step`` s (gradient rule + optax chain) must compute
bit-for-bit what the engine computed before the step contract existed; the frozen copies of
that code below are the reference.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax

from cgnb.engine import losses, nets, pergrad, sweep, trainer, transforms, winsorize, winsorize_mlp

LOSS = losses.MLPLoss()


# ----------------------------------------------------------------------------- frozen reference


def frozen_mlp_winsorized_grad(loss, params, x, y, c, c_max=None):
    """The MLP winsorized gradient exactly as the engine computed it before (pergrad.mlp_winsorized_grad)."""
    batch = x.shape[0]
    c_use, _ = winsorize._check_c(c, c_max, batch)
    if c_use is None:
        raise ValueError("the frozen reference takes a static c (a traced c now runs the static kernel per level)")
    if c_use == 0:
        return jax.grad(lambda p: jnp.mean(loss(p, x, y)))(params)
    f = pergrad.mlp_factors(loss, params, x, y)
    rows, cols = winsorize.MLP_TILE_ROWS, winsorize.MLP_TILE_COLS
    plan = winsorize_mlp._mlp_tile_plan(f, rows, cols)
    dtype = plan.left.dtype
    n_tiles = max(2, len(plan.left_index))
    left_index = jnp.asarray(np.resize(plan.left_index, n_tiles))
    right_index = jnp.asarray(np.resize(plan.right_index, n_tiles))

    def tile(t):
        lf = lax.dynamic_index_in_dim(plan.left, left_index[t], 0, keepdims=False)
        rf = lax.dynamic_index_in_dim(plan.right, right_index[t], 0, keepdims=False)
        return winsorize._winsorized_kernel(lambda i: lf[i][:, None] * rf[i][None, :], batch, c_use, dtype)

    out = winsorize._tile_loop(n_tiles, tile, (rows, cols), dtype)
    grads = []
    for first, nr, nc, n_rows, n_cols, transposed in plan.layers:
        block = out[first:first + nr * nc].reshape(nr, nc, rows, cols)
        block = block.transpose(0, 2, 1, 3).reshape(nr * rows, nc * cols)[:n_rows, :n_cols]
        grads.append({"w": block.T[:-1] if transposed else block[:-1], "b": block.T[-1] if transposed else block[-1]})
    return grads


def frozen_step(method, lr, c, c_max):
    """The sweep's former make_optimizer + train_step: ``(init, step)``."""
    sgd = optax.sgd(lr)
    opt = optax.chain(transforms.rm3(), sgd) if method == "rm3" else sgd

    def step(params, opt_state, x, y):
        if method == "winsorized":
            grads = frozen_mlp_winsorized_grad(LOSS, params, x, y, c, c_max)
        else:
            grads = jax.grad(lambda p, x, y: jnp.mean(LOSS(p, x, y)))(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return opt.init, step


def run_steps(init, step, params, xs, ys):
    def body(carry, xy):
        return step(*carry, *xy), None

    return lax.scan(body, (params, init(params)), (xs, ys))[0][0]


def tiny_problem(steps=3, batch=8, sizes=(10, 300, 4)):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    params = nets.init(k1, sizes)
    xs = jax.random.normal(k2, (steps, batch, sizes[0]))
    ys = jax.random.randint(k3, (steps, batch), 0, sizes[-1])
    return params, xs, ys


# ----------------------------------------------------------------------------- steps


@pytest.mark.parametrize("method, c, c_max, traced", [
    ("sgd", 0, 0, False), ("rm3", 0, 0, False), ("winsorized", 2, 2, False), ("winsorized", 0, 0, False),
    ("winsorized", 1, 3, True), ("winsorized", 0, 3, True)])
def test_method_steps_are_bit_identical_to_the_former_engine(method, c, c_max, traced):
    params, xs, ys = tiny_problem()

    def new(level):
        step = sweep.method_step(method, 0.1, level, c_max)
        return run_steps(step.init, step, params, xs, ys)

    def old(level):
        return run_steps(*frozen_step(method, 0.1, level, c_max), params, xs, ys)

    if traced:  # c traced per variant, as in a sweep: the same numbers as the former static-c kernel
        got, want = jax.jit(new)(jnp.int32(c)), jax.jit(lambda: old(c))()
    else:
        got, want = jax.jit(lambda: new(c))(), jax.jit(lambda: old(c))()
    # A traced c = 0 sums the per-example gradients in example order, jax.grad of the mean sums them
    # inside the backward pass: the same mean up to float rounding (chapters compile c = 0 statically).
    same = (lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-8)) if traced and c == 0 \
        else np.testing.assert_array_equal
    for u, v in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        same(np.asarray(u), np.asarray(v))


def test_step_rules_and_chain():
    params, xs, ys = tiny_problem(steps=1)
    x, y = xs[0], ys[0]
    mean = trainer.Step(LOSS, "mean", optax.sgd(0.5))
    grads = mean.gradient(params, x, y)
    plain = jax.grad(lambda p: jnp.mean(LOSS(p, x, y)))(params)
    for u, v in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(plain)):
        np.testing.assert_array_equal(u, v)
    assert isinstance(trainer.per_example_gradient(LOSS, params, x, y), pergrad.MLPFactors)

    def plain_loss(p, x, y):
        return losses.cross_entropy(nets.forward(p, x), y)

    per_example = trainer.per_example_gradient(plain_loss, params, x, y)
    assert jax.tree_util.tree_leaves(per_example)[0].shape[0] == x.shape[0]
    # the generic path (pytree of per-example gradients) and the MLP fast path (factors) agree
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
    with pytest.raises(sweep.ConfigError, match="unknown method"):
        sweep.method_step("adam", 0.1)


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
