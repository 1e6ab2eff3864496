"""Tests of cgnb.engine.fullbatch: full-batch logistic training that records each input's dose."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.engine import fullbatch, losses, nets, trainer


def _linear(params, x, key=None):
    return x @ params["w"] + params["b"]


def _mlp_logit(params, x, key=None, dropout_rate=0.0):
    return nets.forward(params, x, dropout_rate=dropout_rate, key=key)[:, 0]


def _linear_dose(grads):
    return grads["w"] ** 2


def _moons_like(n=32, seed=1):
    x = jax.random.normal(jax.random.PRNGKey(seed), (n, 2))
    return x, jnp.sign(x[:, 0])


def test_dose_of_a_linear_model_equals_the_hand_computation():
    # two examples, two inputs, w = b = 0: sigma(0) = 1/2, so dL/dw = -mean(y x) / 2 at step 0
    x = jnp.array([[1.0, 2.0], [-1.0, 0.5]])
    y = jnp.array([1.0, -1.0])
    params = {"w": jnp.zeros(2), "b": jnp.zeros(())}
    g0 = -np.mean(np.asarray(y)[:, None] * np.asarray(x), axis=0) / 2           # [-0.5, -0.375]
    np.testing.assert_allclose(g0, [-0.5, -0.375])
    _, hist = fullbatch.train_binary(params, _linear, x, y, optimizer=optax.sgd(0.1), steps=1, dose_fn=_linear_dose)
    np.testing.assert_allclose(hist.dose[0], g0**2, rtol=1e-6)
    # two steps by hand (numpy): w1 = -0.1 g0 (the bias gradient -mean(y)/2 is 0 here), then the second gradient
    w1 = -0.1 * g0
    margins = np.asarray(y) * (np.asarray(x) @ w1)
    weights = 1 / (1 + np.exp(margins))                                          # sigma(-margin)
    g1 = -np.mean((np.asarray(y) * weights)[:, None] * np.asarray(x), axis=0)
    _, hist2 = fullbatch.train_binary(params, _linear, x, y, optimizer=optax.sgd(0.1), steps=2, record_every=2,
                                      dose_fn=_linear_dose)
    np.testing.assert_allclose(hist2.dose[0], g0**2 + g1**2, rtol=1e-5)


def test_input_dose_is_the_squared_norm_of_each_first_layer_row():
    g = nets.init(jax.random.PRNGKey(0), (3, 4, 1))
    np.testing.assert_allclose(fullbatch.input_dose(g), np.sum(np.asarray(g[0]["w"]) ** 2, 1), rtol=1e-6)


@pytest.mark.parametrize("coef", [0.0, 0.5])
def test_dose_and_loss_are_those_of_the_objective_with_its_penalty(coef):
    params = nets.init(jax.random.PRNGKey(0), (2, 16, 1))
    x, y = _moons_like()
    penalty = None if coef == 0.0 else (lambda logits: coef * jnp.mean(logits ** 2))

    def objective(p):
        logits = _mlp_logit(p, x)
        return jnp.mean(jnp.log1p(jnp.exp(-y * logits))) + coef * jnp.mean(logits ** 2)

    expected = np.sum(np.asarray(jax.grad(objective)(params)[0]["w"]) ** 2, axis=1)
    _, hist = fullbatch.train_binary(params, _mlp_logit, x, y, optimizer=optax.sgd(0.0), steps=3, penalty=penalty)
    np.testing.assert_allclose(hist.dose, np.tile(expected, (3, 1)), rtol=1e-5)   # lr 0: same gradient each step
    np.testing.assert_allclose(hist.loss, float(objective(params)), rtol=1e-6)
    np.testing.assert_array_equal(hist.steps, [1, 2, 3])


def test_a_penalty_changes_the_trajectory():
    params = nets.init(jax.random.PRNGKey(0), (2, 16, 1))
    x, y = _moons_like()
    plain = fullbatch.train_binary(params, _mlp_logit, x, y, optimizer=optax.sgd(0.5), steps=4)[1].loss
    penalised = fullbatch.train_binary(params, _mlp_logit, x, y, optimizer=optax.sgd(0.5), steps=4,
                                       penalty=lambda logits: jnp.mean(logits ** 2))[1].loss
    assert not np.allclose(plain, penalised)


def test_vmaps_over_seeds_and_settings_and_learns():
    x, y = _moons_like(200, seed=3)

    def run(seed, wd):
        p = nets.init(jax.random.PRNGKey(seed), (2, 8, 1))
        track = lambda q: losses.binary_accuracy(_mlp_logit(q, x), y)
        return fullbatch.train_binary(p, _mlp_logit, x, y, optimizer=trainer.torch_style_sgd(0.5, weight_decay=wd),
                                      steps=100, record_every=25, track=track)

    _, hist = jax.jit(jax.vmap(jax.vmap(run, (0, None)), (None, 0)))(jnp.arange(2), jnp.array([0.0, 1e-3]))
    assert hist.dose.shape == (2, 2, 4, 2) and hist.tracked.shape == (2, 2, 4)
    np.testing.assert_array_equal(hist.steps[0, 0], [25, 50, 75, 100])
    assert float(hist.tracked[..., -1].min()) > 0.9


def test_a_dropout_key_changes_runs_and_is_reproducible():
    x, y = _moons_like(64, seed=0)
    p = nets.init(jax.random.PRNGKey(1), (2, 32, 1))
    apply = lambda q, xb, k: _mlp_logit(q, xb, k, dropout_rate=0.5)
    run = jax.jit(lambda k: fullbatch.train_binary(p, apply, x, y, optimizer=optax.sgd(0.1), steps=5, key=k)[1].loss)
    np.testing.assert_array_equal(run(jax.random.PRNGKey(2)), run(jax.random.PRNGKey(2)))
    assert not np.allclose(run(jax.random.PRNGKey(2)), run(jax.random.PRNGKey(3)))


def test_rejects_bad_input():
    x, y = _moons_like(10)
    p = nets.init(jax.random.PRNGKey(0), (2, 4, 1))
    with pytest.raises(ValueError, match="multiple"):
        fullbatch.train_binary(p, _mlp_logit, x, y, optimizer=optax.sgd(0.1), steps=10, record_every=3)
    with pytest.raises(ValueError, match=r"x \(N, \.\.\.\) and y \(N, \.\.\.\) of the same length"):
        fullbatch.train_binary(p, _mlp_logit, x, y[:5], optimizer=optax.sgd(0.1), steps=10)
