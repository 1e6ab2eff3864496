"""Tests of cgnb.chapters.dosage_training (chapter 1: training that records the gradient dose, the runs)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.engine import losses, nets, trainer
from cgnb.chapters import dosage, dosage_training


def _mlp_logit(params, x, key=None, dropout_rate=0.0):
    return nets.forward(params, x, dropout_rate=dropout_rate, key=key)[:, 0]


def test_dose_of_linear_model_equals_hand_computation():
    # two examples, two inputs, w = b = 0: sigma(0) = 1/2, so dL/dw = -mean(y x) / 2 at step 0
    x = jnp.array([[1.0, 2.0], [-1.0, 0.5]])
    y = jnp.array([1.0, -1.0])
    params = {"w": jnp.zeros(2), "b": jnp.zeros(())}
    g0 = -np.mean(np.asarray(y)[:, None] * np.asarray(x), axis=0) / 2           # [-0.5, -0.375]
    np.testing.assert_allclose(g0, [-0.5, -0.375])
    _, hist = dosage_training.train_binary(params, dosage.apply_linear, x, y, optimizer=optax.sgd(0.1), steps=1)
    np.testing.assert_allclose(hist.dose[0], g0**2, rtol=1e-6)
    # two steps by hand (numpy): w1 = -0.1 g0 (the bias gradient -mean(y)/2 is 0 here), then the second gradient
    w1 = -0.1 * g0
    margins = np.asarray(y) * (np.asarray(x) @ w1)
    weights = 1 / (1 + np.exp(margins))                                          # sigma(-margin)
    g1 = -np.mean((np.asarray(y) * weights)[:, None] * np.asarray(x), axis=0)
    _, hist2 = dosage_training.train_binary(params, dosage.apply_linear, x, y, optimizer=optax.sgd(0.1), steps=2,
                                            record_every=2)
    np.testing.assert_allclose(hist2.dose[0], g0**2 + g1**2, rtol=1e-5)


def test_dose_of_mlp_rows_and_sd_gradient():
    key = jax.random.PRNGKey(0)
    params = nets.init(key, (2, 16, 1))
    x = jax.random.normal(jax.random.PRNGKey(1), (32, 2))
    y = jnp.sign(x[:, 0])

    def objective(p):
        return jnp.mean(jnp.log1p(jnp.exp(-y * _mlp_logit(p, x))))

    grads = jax.grad(objective)(params)
    expected = np.sum(np.asarray(grads[0]["w"]) ** 2, axis=1)
    _, hist = dosage_training.train_binary(params, _mlp_logit, x, y, optimizer=optax.sgd(0.0), steps=3)
    np.testing.assert_allclose(hist.dose, np.tile(expected, (3, 1)), rtol=1e-5)   # lr 0: same gradient each step
    np.testing.assert_allclose(hist.loss, float(objective(params)), rtol=1e-6)


def test_train_binary_vmaps_over_seeds_and_settings_and_learns():
    x, y = dosage.agreeing_features(jax.random.PRNGKey(0), 200, n_irrelevant=2)

    def run(seed, wd):
        p = dosage.init_recognizers(jax.random.PRNGKey(seed), 5, 4)
        track = lambda q: losses.binary_accuracy(dosage.apply_recognizers(q, x), y)
        return dosage_training.train_binary(p, dosage.apply_recognizers, x, y,
                                            optimizer=trainer.torch_style_sgd(0.1, weight_decay=wd),
                                            steps=100, record_every=25, track=track)

    _, hist = jax.jit(jax.vmap(jax.vmap(run, (0, None)), (None, 0)))(jnp.arange(2), jnp.array([0.0, 1e-3]))
    assert hist.dose.shape == (2, 2, 4, 5) and hist.tracked.shape == (2, 2, 4)
    np.testing.assert_array_equal(hist.steps[0, 0], [25, 50, 75, 100])
    assert float(hist.tracked[..., -1].min()) > 0.9


def test_train_binary_dropout_key_changes_runs_and_is_reproducible():
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 2))
    y = jnp.sign(x[:, 0])
    p = nets.init(jax.random.PRNGKey(1), (2, 32, 1))
    apply = lambda q, xb, k: _mlp_logit(q, xb, k, dropout_rate=0.5)
    run = jax.jit(lambda k: dosage_training.train_binary(p, apply, x, y, optimizer=optax.sgd(0.1), steps=5, key=k)[1].loss)
    np.testing.assert_array_equal(run(jax.random.PRNGKey(2)), run(jax.random.PRNGKey(2)))
    assert not np.allclose(run(jax.random.PRNGKey(2)), run(jax.random.PRNGKey(3)))


def test_train_binary_rejects_bad_input():
    x, y = dosage.agreeing_features(jax.random.PRNGKey(0), 10)
    p = dosage.init_linear(jax.random.PRNGKey(0), 3)
    with pytest.raises(ValueError, match="multiple"):
        dosage_training.train_binary(p, dosage.apply_linear, x, y, optimizer=optax.sgd(0.1), steps=10, record_every=3)
    with pytest.raises(ValueError, match=r"x \(N, \.\.\.\) and y \(N, \.\.\.\) of the same length"):
        dosage_training.train_binary(p, dosage.apply_linear, x, y[:5], optimizer=optax.sgd(0.1), steps=10)


def test_first_layer_dose_formats():
    g_mlp = nets.init(jax.random.PRNGKey(0), (3, 4, 1))
    np.testing.assert_allclose(dosage_training.first_layer_dose(g_mlp), np.sum(np.asarray(g_mlp[0]["w"]) ** 2, 1),
                               rtol=1e-6)
    g_lin = {"w": jnp.array([1.0, -2.0]), "b": jnp.float32(0.0)}
    np.testing.assert_allclose(dosage_training.first_layer_dose(g_lin), [1.0, 4.0])
    with pytest.raises(TypeError):
        dosage_training.first_layer_dose({"q": jnp.zeros(2)})


def test_runs_shapes_and_match_a_single_train_binary():
    x, y = dosage.agreeing_features(jax.random.PRNGKey(0), 64, n_irrelevant=2)
    xt, yt = dosage.agreeing_features(jax.random.PRNGKey(1), 32, n_irrelevant=2)
    common = dict(seeds=2, lr=0.05, steps=20, record_every=10)
    _, hist = dosage_training.recognizer_runs(x, y, xt, yt, units=3, head_start=jnp.array([1.0, 8.0]),
                                              readout_head_start=jnp.array([1.0, 8.0]),
                                              weight_decay=jnp.array([0.0, 0.01]), **common)
    assert hist.dose.shape == (2, 2, 2, 5) and hist.tracked[0].shape == (2, 2, 2) and hist.tracked[1].shape == (2, 2, 2, 3)
    _, lin = dosage_training.linear_runs(x, y, xt, yt, head_start=float(np.log(9.0)), **common)
    assert lin.dose.shape == (2, 2, 5) and lin.tracked.shape == (2, 2)
    params = dosage.init_linear(jax.random.PRNGKey(1), 5, head_start=float(np.log(9.0)))
    _, one = dosage_training.train_binary(params, dosage.apply_linear, x, y, optimizer=trainer.torch_style_sgd(0.05),
                                          steps=20, record_every=10)
    np.testing.assert_allclose(lin.dose[1], one.dose, rtol=1e-5)
    _, shared = dosage_training.sharing_runs(x, y, units=2, weight_decays=jnp.array([0.0, 0.01]), **common)
    assert shared.dose.shape == (2, 2, 2, 5) and shared.tracked.shape == (2, 2, 2, 5)
