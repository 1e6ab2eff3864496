"""Tests of cgnb.chapters.gradient_dosage.models (logistic regression and the recognizer network)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cgnb.chapters.gradient_dosage import models


def test_recognizer_network_matches_loop_and_head_start():
    key = jax.random.PRNGKey(0)
    p = models.init_recognizers(key, 5, 3, head_start=4.0, readout_head_start=2.0, clones=3)
    base = models.init_recognizers(key, 5, 3, clones=3)
    np.testing.assert_allclose(p["a"][0], 4.0 * base["a"][0])
    np.testing.assert_allclose(p["v"][0], 2.0 * base["v"][0])
    np.testing.assert_array_equal(base["a"][1], base["a"][0])
    np.testing.assert_array_equal(base["a"][2], base["a"][0])
    assert not np.allclose(base["a"][3], base["a"][0])
    p = {**p, "b": jax.random.normal(jax.random.PRNGKey(1), (5, 3)), "c": jnp.float32(0.3)}
    x = jax.random.normal(jax.random.PRNGKey(2), (4, 5))
    a, b, v = (np.asarray(p[k], np.float64) for k in "abv")
    expected = np.array([sum(v[f, j] * max(a[f, j] * xi[f] + b[f, j], 0.0) for f in range(5) for j in range(3)) + 0.3
                         for xi in np.asarray(x, np.float64)])
    np.testing.assert_allclose(models.apply_recognizers(p, x), expected, rtol=1e-5)
    np.testing.assert_allclose(models.recognizer_norms(p), np.sqrt((a**2 + b**2 + v**2).sum(1)), rtol=1e-5)


def test_orient_starts_every_clone_reading_its_input_positively():
    for seed in range(6):
        p = models.init_recognizers(jax.random.PRNGKey(seed), 5, 4, head_start=8.0, clones=3, orient=True)
        out = models.apply_recognizers(p, jnp.array([[1.0, 1, 1, 0, 0], [-1.0, -1, -1, 0, 0]]))
        assert out[0] > out[1]
        plain = models.init_recognizers(jax.random.PRNGKey(seed), 5, 4, head_start=8.0, clones=3)
        np.testing.assert_allclose(np.abs(p["v"]), np.abs(plain["v"]))
