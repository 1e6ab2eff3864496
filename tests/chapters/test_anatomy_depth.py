"""Tests of cgnb.chapters.anatomy_depth (the first-layer gradient against depth)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import nets
from cgnb.chapters import anatomy as an
from cgnb.chapters import anatomy_depth as depth
from test_anatomy import _batch, _params  # tests/chapters is on sys.path under pytest


def test_depth_stats_against_autodiff_and_per_example_grads():
    params, (x, labels) = _params(bias=0.0), _batch()
    stats = depth.depth_stats(params, x, labels)
    ref = an.autodiff_gradients(params, x, labels)[0]["w"]
    assert float(stats.grad_norm) == pytest.approx(float(jnp.linalg.norm(ref)), rel=1e-5)
    per_example = np.asarray(an.per_example_gradients(params, x, labels, "softmax_ce")[0]["w"], np.float64)
    assert per_example.shape == (9, 7, 5)
    np.testing.assert_allclose(per_example.mean(0), ref, rtol=1e-4, atol=1e-7)
    rms = np.sqrt(np.mean(np.sum(per_example ** 2, axis=(1, 2))))
    assert float(stats.example_grad_rms) == pytest.approx(rms, rel=1e-5)
    assert len(stats.activation_rate) == 3 and len(stats.weight_var) == 2 and len(stats.delta_norms) == 4


def test_depth_sweep_shapes_scale_equivalence_and_nesting():
    x, labels = _batch()
    key = jax.random.PRNGKey(2)
    a = nets.init(key, (7, 5, 5, 3), w_scale=1.7)
    b = nets.init(key, (7, 5, 5, 3))
    for la, lb in zip(a, b):
        np.testing.assert_array_equal(la["w"], 1.7 * lb["w"])
    nested = depth.nested_networks(b, [2, 3])
    assert [len(n) for n in nested] == [2, 3] and nested[0][-1] is b[-1]
    out = depth.depth_sweep(key, x, labels, [2, 3, 4], width=5, w_scales=[0.5, 2.0], seeds=3, num_classes=3)
    assert out["log_norm"].shape == (2, 3, 3) == out["activation_rate"].shape
    assert np.isnan(out["hidden_var"][:, :, 0]).all() and np.isfinite(out["hidden_var"][:, :, 1:]).all()
    # zero biases: the ReLU patterns do not depend on the scale
    np.testing.assert_allclose(out["activation_rate"][0], out["activation_rate"][1])
    with pytest.raises(ValueError, match=">= 2"):
        depth.depth_sweep(key, x, labels, [1, 2], 5, [1.0], 1, 3)


def test_predicted_gain():
    assert depth.predicted_log_gain(0.5, 100, 0.02) == pytest.approx(0.0)
    assert depth.predicted_log_gain(0.5, 128, 1 / 128) == pytest.approx(0.5 * np.log(0.5))
