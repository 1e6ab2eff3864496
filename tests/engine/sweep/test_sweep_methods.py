"""Tests of cgnb.engine.sweep.methods: the methods' steps, bit for bit as the engine computed them before the
step contract existed (the frozen copies below are the reference), and the registry's checks."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax

from cgnb.engine import losses, pergrad, sweep, transforms
from cgnb.engine.winsorize import kernel, network, outer

from mlp_problems import step_problem

LOSS = losses.MLPLoss()


# ----------------------------------------------------------------------------- frozen reference


def frozen_mlp_winsorized_grad(loss, params, x, y, c, c_max=None):
    """The MLP winsorized gradient exactly as the engine computed it before (pergrad.mlp_winsorized_grad)."""
    batch = x.shape[0]
    c_use, _ = kernel.check_c(c, c_max, batch)
    if c_use is None:
        raise ValueError("the frozen reference takes a static c (a traced c now runs the static kernel per level)")
    if c_use == 0:
        return jax.grad(lambda p: jnp.mean(loss(p, x, y)))(params)
    f = pergrad.mlp_factors(loss, params, x, y)
    rows, cols = outer.MLP_TILE_ROWS, outer.MLP_TILE_COLS
    plan = outer.tile_plan(f.inputs, f.deltas, rows, cols)
    dtype = plan.left.dtype
    n_tiles = max(2, len(plan.left_index))
    left_index = jnp.asarray(np.resize(plan.left_index, n_tiles))
    right_index = jnp.asarray(np.resize(plan.right_index, n_tiles))

    def tile(t):
        lf = lax.dynamic_index_in_dim(plan.left, left_index[t], 0, keepdims=False)
        rf = lax.dynamic_index_in_dim(plan.right, right_index[t], 0, keepdims=False)
        return network.winsorized_mean(lambda i: lf[i][:, None] * rf[i][None, :], batch, c_use, dtype)

    out = kernel.tile_loop(n_tiles, tile, (rows, cols), dtype)
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


@pytest.mark.parametrize("method, c, c_max, traced", [
    ("sgd", 0, 0, False), ("rm3", 0, 0, False), ("winsorized", 2, 2, False), ("winsorized", 0, 0, False),
    ("winsorized", 1, 3, True), ("winsorized", 0, 3, True)])
def test_method_steps_are_bit_identical_to_the_former_engine(method, c, c_max, traced):
    params, xs, ys = step_problem()

    def new(level):
        step = sweep.method_step(method, 0.1, level, c_max)
        return run_steps(step.init, step, params, xs, ys)

    def old(level):
        return run_steps(*frozen_step(method, 0.1, level, c_max), params, xs, ys)

    if traced:  # c traced per variant, as in a sweep: the same numbers as the former static-c kernel
        got, want = jax.jit(new)(jnp.int32(c)), jax.jit(lambda: old(c))()
    else:
        got, want = jax.jit(lambda: new(c))(), jax.jit(lambda: old(c))()
    # A traced c takes the sorting network, which sums the clipped values in sorted order (c = 0: in
    # example order, where jax.grad of the mean sums inside the backward pass): the same mean up to
    # float rounding. A compiled-in c is bit-identical.
    same = (lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-8)) if traced \
        else np.testing.assert_array_equal
    for u, v in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        same(np.asarray(u), np.asarray(v))


# ----------------------------------------------------------------------------- the registry


def test_the_registry_and_the_config_step():
    assert tuple(sweep.METHODS) == ("sgd", "winsorized", "rm3")
    assert [m for m in sweep.METHODS if sweep.METHODS[m].uses_levels] == ["winsorized"]
    assert sweep.method_step("winsorized", 0.1, 0, 2).rule == "mean"  # a compiled-in c = 0 is the sgd step
    assert sweep.method_step("winsorized", 0.1, 1, 2).rule == "per_example"
    cfg = sweep.MethodConfig(method="rm3", lr=0.3)
    assert cfg.step().rule == "mean" and sweep.config_step(cfg).rule == "mean"
    with pytest.raises(sweep.ConfigError, match="unknown method"):
        sweep.method_step("adam", 0.1)


def test_levels_are_checked_and_a_shared_one_is_compiled_in():
    wins, sgd = sweep.METHODS["winsorized"], sweep.METHODS["sgd"]
    assert wins.compiled_level(np.array([2, 2])) == 2 and wins.compiled_level(np.array([0, 2])) is None
    assert sgd.compiled_level(np.array([0, 0])) is None
    wins.check_levels(np.array([0, 2]), 2)
    with pytest.raises(sweep.ConfigError, match="variants use c up to 3 but c_max=2"):
        wins.check_levels(np.array([0, 3]), 2)
    with pytest.raises(sweep.ConfigError, match="method='sgd' ignores them"):
        sgd.check_levels(np.array([0, 1]), 0)
    with pytest.raises(sweep.ConfigError, match=r"needs 2 \* c_max < batch_size"):
        wins.check(5, 10)
    with pytest.raises(sweep.ConfigError, match="c_max=1 only means something for method='winsorized'"):
        sgd.check(1, 10)
