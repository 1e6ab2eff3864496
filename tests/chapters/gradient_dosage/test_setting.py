"""Tests of cgnb.chapters.gradient_dosage.setting (the chapter's runs on the engine's full-batch trainer)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cgnb.engine import fullbatch, trainer
from cgnb.chapters.gradient_dosage import measures, models, setting, tasks


def test_runs_shapes_and_match_a_single_train_binary():
    x, y = tasks.agreeing_features(jax.random.PRNGKey(0), 64, n_irrelevant=2)
    xt, yt = tasks.agreeing_features(jax.random.PRNGKey(1), 32, n_irrelevant=2)
    common = dict(seeds=2, lr=0.05, steps=20, record_every=10)
    _, hist = setting.recognizer_runs(x, y, xt, yt, units=3, head_start=jnp.array([1.0, 8.0]),
                                      readout_head_start=jnp.array([1.0, 8.0]),
                                      weight_decay=jnp.array([0.0, 0.01]), **common)
    assert hist.dose.shape == (2, 2, 2, 5) and hist.tracked[0].shape == (2, 2, 2) and hist.tracked[1].shape == (2, 2, 2, 3)
    _, lin = setting.linear_runs(x, y, xt, yt, head_start=float(np.log(9.0)), **common)
    assert lin.dose.shape == (2, 2, 5) and lin.tracked.shape == (2, 2)
    params = models.init_linear(jax.random.PRNGKey(1), 5, head_start=float(np.log(9.0)))
    _, one = fullbatch.train_binary(params, models.apply_linear, x, y, optimizer=trainer.torch_style_sgd(0.05),
                                    steps=20, record_every=10, dose_fn=measures.first_layer_dose)
    np.testing.assert_allclose(lin.dose[1], one.dose, rtol=1e-5)
    _, shared = setting.sharing_runs(x, y, units=2, weight_decays=jnp.array([0.0, 0.01]), **common)
    assert shared.dose.shape == (2, 2, 2, 5) and shared.tracked.shape == (2, 2, 2, 5)
