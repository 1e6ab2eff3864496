"""Tests of cgnb.chapters.gradient_starvation.models (the PyTorch-style MLP and Spectral Decoupling)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters.gradient_starvation import models


def test_torch_mlp_init_bounds():
    p = models.init_torch_mlp(jax.random.PRNGKey(0), (2, 500, 1))
    assert p[0]["w"].shape == (2, 500) and p[1]["w"].shape == (500, 1)
    for layer, fan_in in zip(p, (2, 500)):
        for leaf in (layer["w"], layer["b"]):
            assert float(jnp.max(jnp.abs(leaf))) <= 1 / np.sqrt(fan_in)
        assert float(jnp.max(jnp.abs(layer["w"]))) > 0.9 / np.sqrt(fan_in)    # uniform, fills the range
    assert models.apply_mlp(p, jnp.ones((7, 2))).shape == (7,)


def test_spectral_decoupling_value():
    logits = jnp.array([2.0, -1.0, 0.0, 3.0])
    assert float(models.spectral_decoupling(logits, 0.003)) == pytest.approx(0.003 * (4 + 1 + 0 + 9) / 4)
