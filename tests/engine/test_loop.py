"""Tests of cgnb.engine.loop (the one training loop and its probes)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.engine import loop

X = jnp.asarray(np.random.default_rng(0).normal(size=(12, 3)), jnp.float32)
Y = X @ jnp.array([1.0, -2.0, 0.5])
W0 = {"w": jnp.zeros(3)}
LR = 0.1


def _gradient(params, x, y, key):
    """Mean squared error of a linear model: (loss, grads)."""
    return jax.value_and_grad(lambda p: jnp.mean((x @ p["w"] - y) ** 2))(params)


def _by_hand(steps, indices=None):
    """Plain gradient descent written out: the parameters and (loss, |g|^2) before each step."""
    p, seen = W0, []
    for t in range(steps):
        xb, yb = (X, Y) if indices is None else (X[indices[t]], Y[indices[t]])
        loss, g = _gradient(p, xb, yb, None)
        seen.append((p, float(loss), float(jnp.sum(g["w"] ** 2))))
        p = {"w": p["w"] - LR * g["w"]}
    return p, seen


def test_full_batch_with_probes_matches_a_hand_loop():
    trace = loop.train(_gradient, optax.sgd(LR), W0, X, Y, steps=6, record_every=3,
                       step_probe=lambda p, g, loss: {"loss": loss, "g2": jnp.sum(g["w"] ** 2)},
                       record_probe=lambda p: p["w"])
    final, seen = _by_hand(6)
    np.testing.assert_allclose(trace.params["w"], final["w"], rtol=1e-6)
    # step probe summed over each block of 3 steps (block_sum, the default)
    np.testing.assert_allclose(trace.step_values["g2"], [sum(s[2] for s in seen[:3]), sum(s[2] for s in seen[3:])],
                               rtol=1e-5)
    # record probe after steps 3 and 6
    np.testing.assert_allclose(trace.records, [seen[3][0]["w"], final["w"]], rtol=1e-6)


def test_block_reducers_and_minibatch_indices():
    indices = jnp.asarray(np.random.default_rng(1).integers(0, 12, (4, 5)))
    probe = lambda p, g, loss: loss
    last = loop.train(_gradient, optax.sgd(LR), W0, X, Y, steps=4, record_every=2, indices=indices,
                      step_probe=probe, block_reduce=lambda values: values[-1])
    every = loop.train(_gradient, optax.sgd(LR), W0, X, Y, steps=4, record_every=2, indices=indices,
                       step_probe=probe, block_reduce=loop.block_all)
    _, seen = _by_hand(4, indices)
    losses = [s[1] for s in seen]
    np.testing.assert_allclose(every.step_values, np.reshape(losses, (2, 2)), rtol=1e-5)
    np.testing.assert_allclose(last.step_values, losses[1::2], rtol=1e-5)
    assert last.records is None


def test_keys_reach_the_gradient_rule_one_per_step():
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    seen = loop.train(lambda p, x, y, k: (jax.random.uniform(k), jax.tree_util.tree_map(jnp.zeros_like, p)),
                      optax.sgd(LR), W0, X, Y, steps=4, keys=keys, step_probe=lambda p, g, loss: loss,
                      block_reduce=loop.block_all)
    np.testing.assert_array_equal(seen.step_values[0], jax.vmap(jax.random.uniform)(keys))


def test_train_is_jittable_vmappable_and_resumable():
    run = jax.jit(jax.vmap(lambda w: loop.train(_gradient, optax.sgd(LR), {"w": w}, X, Y, steps=4).params["w"]))
    out = run(jnp.stack([W0["w"], W0["w"] + 1]))
    whole = loop.train(_gradient, optax.sgd(LR), W0, X, Y, steps=4)
    np.testing.assert_allclose(out[0], whole.params["w"], rtol=1e-6)  # vmap may round differently
    half = loop.train(_gradient, optax.sgd(LR), W0, X, Y, steps=2)
    rest = loop.train(_gradient, optax.sgd(LR), half.params, X, Y, steps=2, opt_state=half.opt_state)
    np.testing.assert_array_equal(rest.params["w"], whole.params["w"])


def test_snapshots_are_the_trajectory_of_one_run():
    indices = jnp.asarray(np.random.default_rng(2).integers(0, 12, (6, 4)))
    trace, snaps = loop.train_keeping_snapshots(_gradient, optax.sgd(LR), W0, X, Y, steps=6, snapshot_steps=(0, 2, 6),
                                             indices=indices, step_probe=lambda p, g, loss: loss,
                                             block_reduce=loop.block_all)
    whole = loop.train(_gradient, optax.sgd(LR), W0, X, Y, steps=6, indices=indices)
    _, seen = _by_hand(6, indices)
    assert sorted(snaps) == [0, 2, 6]
    np.testing.assert_array_equal(snaps[0]["w"], W0["w"])
    np.testing.assert_allclose(snaps[2]["w"], seen[2][0]["w"], rtol=1e-6)
    np.testing.assert_allclose(snaps[6]["w"], whole.params["w"], rtol=1e-6)
    np.testing.assert_allclose(np.ravel(trace.step_values), [s[1] for s in seen], rtol=1e-5)


def test_mean_loss_gradient_and_the_jitted_loop():
    def loss(params, x, y, *, key=None):  # a per-example loss: squared error of the linear model
        return (x @ params["w"] - y) ** 2

    gradient = loop.mean_loss_gradient(loss)
    assert loop.mean_loss_gradient(loss) is gradient  # the same function: jitted_train reuses compilations
    value, grads = gradient(W0, X, Y, None)
    want_value, want_grads = _gradient(W0, X, Y, None)
    np.testing.assert_allclose(value, want_value, rtol=1e-6)
    np.testing.assert_allclose(grads["w"], want_grads["w"], rtol=1e-6)
    jitted = loop.jitted_train(gradient, optax.sgd(LR), W0, X, Y, steps=4, record_every=2)
    plain = loop.train(gradient, optax.sgd(LR), W0, X, Y, steps=4, record_every=2)
    np.testing.assert_allclose(jitted.params["w"], plain.params["w"], rtol=1e-6)
    assert isinstance(plain, loop.Trajectory)


def test_bad_input_says_what_to_change():
    with pytest.raises(ValueError, match="multiple of record_every"):
        loop.train(_gradient, optax.sgd(LR), W0, X, Y, steps=5, record_every=2)
    with pytest.raises(ValueError, match="one row per step"):
        loop.train(_gradient, optax.sgd(LR), W0, X, Y, steps=4, indices=jnp.zeros((3, 2), jnp.int32))
    with pytest.raises(ValueError, match="snapshot steps must lie in"):
        loop.train_keeping_snapshots(_gradient, optax.sgd(LR), W0, X, Y, steps=4, snapshot_steps=(5,))
    with pytest.raises(ValueError, match="must divide every snapshot step"):
        loop.train_keeping_snapshots(_gradient, optax.sgd(LR), W0, X, Y, steps=4, snapshot_steps=(3,), record_every=2)
