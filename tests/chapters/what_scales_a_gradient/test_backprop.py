"""Tests of cgnb.chapters.what_scales_a_gradient.backprop (against jax.grad, a float64 numpy backprop and hand values)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import nets
from cgnb.chapters.what_scales_a_gradient import backprop

from .problems import SIZES, batch, mlp_params


def _targets(loss, labels, k):
    if loss == "softmax_ce":
        return labels
    if loss == "sigmoid_bce":
        return jax.nn.one_hot(labels, k)
    return jax.random.normal(jax.random.PRNGKey(5), (len(labels), k))


def _numpy_backprop(params, x, delta_out):
    """Independent float64 reference: loops over examples and units."""
    ws = [np.asarray(p["w"], np.float64) for p in params]
    bs = [np.asarray(p["b"], np.float64) for p in params]
    x = np.asarray(x, np.float64)
    grads = [np.zeros_like(w) for w in ws]
    for i in range(len(x)):
        acts, pre = [x[i]], []
        for w, b in zip(ws[:-1], bs[:-1]):
            z = np.array([sum(acts[-1][p] * w[p, q] for p in range(w.shape[0])) + b[q] for q in range(w.shape[1])])
            pre.append(z)
            acts.append(np.maximum(z, 0.0))
        delta = np.asarray(delta_out[i], np.float64)
        for l in reversed(range(len(ws))):
            grads[l] += np.outer(acts[l], delta)
            if l > 0:
                delta = (ws[l] @ delta) * (pre[l - 1] > 0)
    return grads


def test_forward_matches_models_apply_and_keeps_patterns():
    params, (x, _) = mlp_params(), batch()
    fwd = backprop.forward(params, x)
    np.testing.assert_allclose(fwd.outputs, nets.forward(params, x), rtol=1e-6, atol=1e-6)
    assert [a.shape for a in fwd.inputs] == [(9, 7), (9, 5), (9, 4), (9, 6)]
    assert [m.shape for m in fwd.masks] == [(9, 5), (9, 4), (9, 6)]
    for a, m in zip(fwd.inputs[1:], fwd.masks):
        assert set(np.unique(np.asarray(m))) <= {0.0, 1.0}
        np.testing.assert_array_equal(np.asarray(a) > 0, np.asarray(m) > 0)


def _relative_error(value, reference) -> float:
    """``max |value - reference| / max |reference|``, in float64."""
    value, reference = np.asarray(value, np.float64), np.asarray(reference, np.float64)
    return float(np.max(np.abs(value - reference)) / np.max(np.abs(reference)))


@pytest.mark.parametrize("loss", backprop.LOSSES)
def _by_hand(params, x, targets, loss):
    """Gradients of the batch-mean loss by the explicit backward pass, ``delta_L = (Yhat - Y) / B``."""
    fwd = backprop.forward(params, x)
    return backprop.backward(params, fwd, backprop.output_error(fwd.outputs, targets, loss) / x.shape[0])


@pytest.mark.parametrize("loss", backprop.LOSSES)
def test_backward_and_product_formula_match_jax_grad(loss):
    params, (x, labels) = mlp_params(), batch()
    targets = _targets(loss, labels, SIZES[-1])
    ref = backprop.autodiff_gradients(params, x, targets, loss)
    mine = _by_hand(params, x, targets, loss)
    fwd = backprop.forward(params, x)
    error = backprop.output_error(fwd.outputs, targets, loss) / x.shape[0]
    for l in range(len(params)):
        assert _relative_error(mine[l]["w"], ref[l]["w"]) < 1e-5
        assert _relative_error(mine[l]["b"], ref[l]["b"]) < 1e-5
        assert _relative_error(backprop.product_formula(params, x, fwd.masks, error, l), ref[l]["w"]) < 1e-5
    wrong = [dict(p, w=p["w"] * 1.01) if i == 2 else p for i, p in enumerate(params)]
    assert _relative_error(_by_hand(wrong, x, targets, loss)[1]["w"], ref[1]["w"]) > 1e-3


def test_backward_matches_float64_numpy_loops():
    params, (x, labels) = mlp_params(key=3), batch()
    fwd = backprop.forward(params, x)
    delta_out = backprop.output_error(fwd.outputs, labels, "softmax_ce") / 9
    ref = _numpy_backprop(params, x, np.asarray(delta_out))
    for g, r in zip(backprop.backward(params, fwd, delta_out), ref):
        np.testing.assert_allclose(g["w"], r, rtol=1e-5, atol=1e-7)


def test_product_formula_does_not_use_the_layers_own_weights():
    params, (x, labels) = mlp_params(), batch()
    fwd = backprop.forward(params, x)
    error = backprop.output_error(fwd.outputs, labels, "softmax_ce")
    for l in range(len(params)):
        garbage = [dict(p, w=p["w"] * 0 + 123.0) if i == l else p for i, p in enumerate(params)]
        np.testing.assert_array_equal(backprop.product_formula(params, x, fwd.masks, error, l),
                                      backprop.product_formula(garbage, x, fwd.masks, error, l))
    with pytest.raises(ValueError, match="layer must be in 0..3"):
        backprop.product_formula(params, x, fwd.masks, error, 4)


def test_output_error_hand_values_and_jax_grad():
    z = jnp.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    np.testing.assert_allclose(backprop.output_error(z, jnp.array([0, 0]), "softmax_ce"), [[-0.5, 0.5], [-0.25, 0.25]],
                               atol=1e-7)
    np.testing.assert_allclose(backprop.output_error(z, jnp.ones((2, 2)), "sigmoid_bce"), [[-0.5, -0.5], [-0.25, -0.5]],
                               atol=1e-7)
    np.testing.assert_allclose(backprop.output_error(z, jnp.ones((2, 2)), "squared"), z - 1.0)
    logits = 3.0 * jax.random.normal(jax.random.PRNGKey(0), (9, 3))
    for loss, y in (("softmax_ce", jnp.arange(9) % 3), ("sigmoid_bce", jnp.eye(3)[jnp.arange(9) % 3]),
                    ("squared", logits[::-1])):
        grad = jax.grad(lambda z: jnp.sum(backprop.loss_per_example(z, y, loss)))(logits)
        np.testing.assert_allclose(grad, backprop.output_error(logits, y, loss), atol=1e-6)
    # a mismatched pair is caught: sigmoid outputs scored with squared error
    mismatched = jax.grad(lambda z: 0.5 * jnp.sum((jax.nn.sigmoid(z) - 1.0) ** 2))(logits)
    assert np.max(np.abs(mismatched - backprop.output_error(jax.nn.sigmoid(logits), jnp.ones_like(logits), "squared"))) > 0.1


def test_bad_inputs_say_what_is_wrong():
    params, (x, labels) = mlp_params(), batch()
    with pytest.raises(ValueError, match="unknown loss"):
        backprop.output_error(x, labels, "hinge")
    with pytest.raises(ValueError, match="targets must be int labels"):
        backprop.output_error(jnp.zeros((9, 3)), jnp.zeros((9, 2)), "squared")
    with pytest.raises(ValueError, match="batch norm"):
        backprop.forward(nets.init(jax.random.PRNGKey(0), (3, 4, 2), batchnorm=True), jnp.ones((1, 3)))
    with pytest.raises(ValueError, match="one pattern per hidden layer"):
        backprop.forward(params, x, masks=[jnp.ones((9, 5))])
