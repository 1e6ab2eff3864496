"""Tests of cgnb.chapters.what_scales_a_gradient.measures (scaling responses, depth statistics and the depth sweep)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import nets
from cgnb.chapters.what_scales_a_gradient import backprop, measures

from .problems import SIZES, batch, mlp_params


@pytest.mark.parametrize("loss", backprop.LOSSES)
def test_formula_errors_are_at_float_precision_and_catch_a_wrong_gradient(loss):
    params, (x, labels) = mlp_params(), batch()
    targets = labels if loss == "softmax_ce" else jax.nn.one_hot(labels, SIZES[-1])
    errors = np.asarray(measures.formula_errors(params, x, targets, loss))
    assert errors.shape == (4, 3) and errors.max() < 1e-5
    assert float(measures.output_error_gap(3.0 * x[:, :3], labels % 3 if loss == "softmax_ce" else targets[:, :3],
                                           loss)) <= 1e-6


@pytest.mark.parametrize("factor", measures.FACTORS)
def test_gradient_is_linear_in_each_factor_but_its_own_weights(factor):
    params, (x, labels) = mlp_params(bias=0.0), batch()
    fwd = backprop.forward(params, x)
    error = backprop.output_error(fwd.outputs, labels, "softmax_ce") / 9
    scales = [0.3, 1.7, 6.0]
    for layer in range(len(params)):
        others = [o for o in range(len(params)) if o != layer] if factor == "other" else [None]
        for other in others:
            r = measures.scaling_response(params, x, error, layer, factor, scales, other=other)
            assert r.exponent == measures.EXPONENTS[factor]
            assert np.all(r.flipped == 0)
            assert np.max(r.deviation) < 1e-5
            np.testing.assert_allclose(r.norm_ratio, np.asarray(scales) ** r.exponent, rtol=1e-5)


def test_linearity_breaks_with_biases_or_a_true_error():
    params, (x, labels) = mlp_params(bias=0.5), batch()
    error = jnp.ones((9, 3))
    r = measures.scaling_response(params, x, error, 3, "input", [0.2, 5.0])
    assert np.max(r.deviation) > 1e-2 and np.max(r.flipped) > 0
    plain = mlp_params(bias=0.0)
    true = measures.scaling_response(plain, x, None, 1, "other", [4.0], other=2, targets=labels)
    assert abs(true.norm_ratio[0] - 4.0) > 1e-3  # the softmax error moves with the logits
    with pytest.raises(ValueError, match="with targets"):
        measures.scaling_response(plain, x, None, 1, "error", [2.0], targets=labels)
    with pytest.raises(ValueError, match="positive"):
        measures.scaling_response(plain, x, error, 1, "input", [-1.0])
    with pytest.raises(ValueError, match="other != layer"):
        measures.scaling_response(plain, x, error, 1, "other", [2.0], other=1)
    with pytest.raises(ValueError, match="factor must be one of"):
        measures.scaling_response(plain, x, error, 1, "bias", [2.0])


def test_depth_stats_against_autodiff_and_per_example_grads():
    params, (x, labels) = mlp_params(bias=0.0), batch()
    stats = measures.depth_stats(params, x, labels)
    ref = backprop.autodiff_gradients(params, x, labels)[0]["w"]
    assert float(stats.grad_norm) == pytest.approx(float(jnp.linalg.norm(ref)), rel=1e-5)
    per_example = np.asarray(backprop.per_example_gradients(params, x, labels, "softmax_ce")[0]["w"], np.float64)
    assert per_example.shape == (9, 7, 5)
    np.testing.assert_allclose(per_example.mean(0), ref, rtol=1e-4, atol=1e-7)
    rms = np.sqrt(np.mean(np.sum(per_example ** 2, axis=(1, 2))))
    assert float(stats.example_grad_rms) == pytest.approx(rms, rel=1e-5)
    assert len(stats.activation_rate) == 3 and len(stats.weight_var) == 2 and len(stats.delta_norms) == 4


def test_depth_sweep_shapes_scale_equivalence_and_nesting():
    x, labels = batch()
    key = jax.random.PRNGKey(2)
    a = nets.init(key, (7, 5, 5, 3), w_scale=1.7)
    b = nets.init(key, (7, 5, 5, 3))
    for la, lb in zip(a, b):
        np.testing.assert_array_equal(la["w"], 1.7 * lb["w"])
    nested = measures.nested_networks(b, [2, 3])
    assert [len(n) for n in nested] == [2, 3] and nested[0][-1] is b[-1]
    out = measures.depth_sweep(key, x, labels, [2, 3, 4], width=5, w_scales=[0.5, 2.0], seeds=[0, 1, 2], num_classes=3)
    assert out["log_norm"].shape == (2, 3, 3) == out["activation_rate"].shape
    assert np.isnan(out["hidden_var"][:, :, 0]).all() and np.isfinite(out["hidden_var"][:, :, 1:]).all()
    # zero biases: the ReLU patterns do not depend on the scale
    np.testing.assert_allclose(out["activation_rate"][0], out["activation_rate"][1])
    with pytest.raises(ValueError, match=">= 2"):
        measures.depth_sweep(key, x, labels, [1, 2], 5, [1.0], [0], 3)


def test_predicted_gain():
    assert measures.predicted_log_gain(0.5, 100, 0.02) == pytest.approx(0.0)
    assert measures.predicted_log_gain(0.5, 128, 1 / 128) == pytest.approx(0.5 * np.log(0.5))
