"""Tests of cgnb.chapters.gradient_dosage.measures (first-layer dose, dose ratio, reliance)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import nets
from cgnb.chapters.gradient_dosage import measures, models, tasks


def test_flip_reliance_is_the_weight_of_a_linear_model():
    x, _ = tasks.agreeing_features(jax.random.PRNGKey(0), 50, n_irrelevant=1)
    params = {"w": jnp.array([2.0, -0.5, 0.25, 3.0]), "b": jnp.float32(1.0)}
    np.testing.assert_allclose(measures.flip_reliance(models.apply_linear, params, x, range(3)), [2.0, -0.5, 0.25], rtol=1e-6)


def test_dose_ratio():
    dose = np.zeros((2, 3, 5))
    dose[:, :, 0], dose[:, :, 1], dose[:, :, 2] = 3.0, 1.0, 2.0
    np.testing.assert_allclose(measures.dose_ratio(dose), [2.0, 2.0])


def test_first_layer_dose_formats():
    g_mlp = nets.init(jax.random.PRNGKey(0), (3, 4, 1))
    np.testing.assert_allclose(measures.first_layer_dose(g_mlp), np.sum(np.asarray(g_mlp[0]["w"]) ** 2, 1),
                               rtol=1e-6)
    g_lin = {"w": jnp.array([1.0, -2.0]), "b": jnp.float32(0.0)}
    np.testing.assert_allclose(measures.first_layer_dose(g_lin), [1.0, 4.0])
    with pytest.raises(TypeError):
        measures.first_layer_dose({"q": jnp.zeros(2)})
