"""Helpers of the sweep tests: a small config and variant grid, a plain reference loop, comparisons."""
import jax
import jax.numpy as jnp
import numpy as np

from cgnb.engine import sampler, sweep

N, N_TEST, D, K, B = 64, 24, 12, 3, 8


def config(**overrides):
    fields = dict(sizes=(D, 8, K), steps=12, batch_size=B, lr=0.2, record_every=3, chunk_steps=6)
    fields.update(overrides)
    return sweep.SweepConfig(**fields)


def grid(tiny, noise=(0.0, 0.5), seeds=(0, 1), cs=(0,)):
    return sweep.Variants.noise_grid(jax.random.PRNGKey(3), tiny.y_train, noise, seeds=seeds, cs=cs)


def assert_results_equal(a, b, exact=True):
    check = np.testing.assert_array_equal if exact else (
        lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-5, atol=2e-6))
    assert sorted(a.records) == sorted(b.records)
    for k in a.records:
        check(a.records[k], b.records[k])
    np.testing.assert_array_equal(a.first_learned, b.first_learned)
    for pa, pb in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)):
        check(pa, pb)


def per_example_loss(p, x, y):
    """Cross-entropy of a one-hidden-layer ReLU MLP, written out: (B,)."""
    logits = jnp.maximum(x @ p[0]["w"] + p[0]["b"], 0.0) @ p[1]["w"] + p[1]["b"]
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1)[:, 0]


def reference_sgd(tiny, labels, seed, cfg):
    """Plain Python loop, own loss and update: params after each record block."""
    params = sweep.init_params(seed, cfg)
    grad = jax.jit(jax.grad(lambda p, x, y: jnp.mean(per_example_loss(p, x, y))))
    history = [params]
    for t in range(cfg.steps):
        batch = sampler.batch_indices(seed, t, 1, N, cfg.batch_size, cfg.sampling)[0]
        g = grad(params, tiny.x_train[batch], labels[batch])
        params = jax.tree_util.tree_map(lambda p, d: p - cfg.lr * d, params, g)
        if (t + 1) % cfg.record_every == 0:
            history.append(params)
    return history


def numpy_accuracy(params, x, y):
    h = np.maximum(x @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"]), 0)
    return float(np.mean(np.argmax(h @ np.asarray(params[1]["w"]) + np.asarray(params[1]["b"]), 1) == y))
