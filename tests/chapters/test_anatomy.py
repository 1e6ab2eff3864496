"""cgnb.anatomy against jax.grad, a float64 numpy backprop, and hand-computed width-3 toys."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters import anatomy as an
from cgnb.engine import nets

SIZES = (7, 5, 4, 6, 3)


def _params(key=0, sizes=SIZES, bias=0.3, w_scale=1.0):
    params = nets.init(jax.random.PRNGKey(key), sizes, w_scale=w_scale)
    if bias:
        keys = jax.random.split(jax.random.PRNGKey(key + 1000), len(params))
        params = [dict(p, b=bias * jax.random.normal(k, p["b"].shape)) for p, k in zip(params, keys)]
    return params


def _batch(key=1, n=9, d=SIZES[0], k=SIZES[-1]):
    x = jax.random.normal(jax.random.PRNGKey(key), (n, d))
    labels = jax.random.randint(jax.random.PRNGKey(key + 1), (n,), 0, k)
    return x, labels


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
    params, (x, _) = _params(), _batch()
    fwd = an.forward(params, x)
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


@pytest.mark.parametrize("loss", an.LOSSES)
def test_backward_and_product_formula_match_jax_grad(loss):
    params, (x, labels) = _params(), _batch()
    targets = _targets(loss, labels, SIZES[-1])
    ref = an.autodiff_gradients(params, x, targets, loss)
    mine = an.gradients(params, x, targets, loss)
    fwd = an.forward(params, x)
    error = an.output_error(fwd.outputs, targets, loss) / x.shape[0]
    for l in range(len(params)):
        assert _relative_error(mine[l]["w"], ref[l]["w"]) < 1e-5
        assert _relative_error(mine[l]["b"], ref[l]["b"]) < 1e-5
        assert _relative_error(an.product_formula(params, x, fwd.masks, error, l), ref[l]["w"]) < 1e-5
    errors = np.asarray(an.formula_errors(params, x, targets, loss))
    assert errors.shape == (4, 3) and errors.max() < 1e-5
    wrong = [dict(p, w=p["w"] * 1.01) if i == 2 else p for i, p in enumerate(params)]
    assert _relative_error(an.gradients(wrong, x, targets, loss)[1]["w"], ref[1]["w"]) > 1e-3


def test_backward_matches_float64_numpy_loops():
    params, (x, labels) = _params(key=3), _batch()
    fwd = an.forward(params, x)
    delta_out = an.output_error(fwd.outputs, labels, "softmax_ce") / 9
    ref = _numpy_backprop(params, x, np.asarray(delta_out))
    for g, r in zip(an.backward(params, fwd, delta_out), ref):
        np.testing.assert_allclose(g["w"], r, rtol=1e-5, atol=1e-7)


def test_product_formula_does_not_use_the_layers_own_weights():
    params, (x, labels) = _params(), _batch()
    fwd = an.forward(params, x)
    error = an.output_error(fwd.outputs, labels, "softmax_ce")
    for l in range(len(params)):
        garbage = [dict(p, w=p["w"] * 0 + 123.0) if i == l else p for i, p in enumerate(params)]
        np.testing.assert_array_equal(an.product_formula(params, x, fwd.masks, error, l),
                                      an.product_formula(garbage, x, fwd.masks, error, l))
    with pytest.raises(ValueError, match="layer must be in 0..3"):
        an.product_formula(params, x, fwd.masks, error, 4)


def test_output_error_hand_values_and_jax_grad():
    z = jnp.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    np.testing.assert_allclose(an.output_error(z, jnp.array([0, 0]), "softmax_ce"), [[-0.5, 0.5], [-0.25, 0.25]],
                               atol=1e-7)
    np.testing.assert_allclose(an.output_error(z, jnp.ones((2, 2)), "sigmoid_bce"), [[-0.5, -0.5], [-0.25, -0.5]],
                               atol=1e-7)
    np.testing.assert_allclose(an.output_error(z, jnp.ones((2, 2)), "squared"), z - 1.0)
    logits = 3.0 * jax.random.normal(jax.random.PRNGKey(0), (9, 3))
    for loss, y in (("softmax_ce", jnp.arange(9) % 3), ("sigmoid_bce", jnp.eye(3)[jnp.arange(9) % 3]),
                    ("squared", logits[::-1])):
        grad = jax.grad(lambda z: jnp.sum(an.loss_per_example(z, y, loss)))(logits)
        np.testing.assert_allclose(grad, an.output_error(logits, y, loss), atol=1e-6)
        assert float(an.output_error_gap(logits, y, loss)) <= 1e-6
    # a mismatched pair is caught: sigmoid outputs scored with squared error
    mismatched = jax.grad(lambda z: 0.5 * jnp.sum((jax.nn.sigmoid(z) - 1.0) ** 2))(logits)
    assert np.max(np.abs(mismatched - an.output_error(jax.nn.sigmoid(logits), jnp.ones_like(logits), "squared"))) > 0.1


def test_bad_inputs_say_what_is_wrong():
    params, (x, labels) = _params(), _batch()
    with pytest.raises(ValueError, match="unknown loss"):
        an.output_error(x, labels, "hinge")
    with pytest.raises(ValueError, match="targets must be int labels"):
        an.output_error(jnp.zeros((9, 3)), jnp.zeros((9, 2)), "squared")
    with pytest.raises(ValueError, match="batch norm"):
        an.forward(nets.init(jax.random.PRNGKey(0), (3, 4, 2), batchnorm=True), jnp.ones((1, 3)))
    with pytest.raises(ValueError, match="one pattern per hidden layer"):
        an.forward(params, x, masks=[jnp.ones((9, 5))])


@pytest.mark.parametrize("factor", an.FACTORS)
def test_gradient_is_linear_in_each_factor_but_its_own_weights(factor):
    params, (x, labels) = _params(bias=0.0), _batch()
    fwd = an.forward(params, x)
    error = an.output_error(fwd.outputs, labels, "softmax_ce") / 9
    scales = [0.3, 1.7, 6.0]
    for layer in range(len(params)):
        others = [o for o in range(len(params)) if o != layer] if factor == "other" else [None]
        for other in others:
            r = an.scaling_response(params, x, error, layer, factor, scales, other=other)
            assert r.exponent == an.EXPONENTS[factor]
            assert np.all(r.flipped == 0)
            assert np.max(r.deviation) < 1e-5
            np.testing.assert_allclose(r.norm_ratio, np.asarray(scales) ** r.exponent, rtol=1e-5)


def test_linearity_breaks_with_biases_or_a_true_error():
    params, (x, labels) = _params(bias=0.5), _batch()
    error = jnp.ones((9, 3))
    r = an.scaling_response(params, x, error, 3, "input", [0.2, 5.0])
    assert np.max(r.deviation) > 1e-2 and np.max(r.flipped) > 0
    plain = _params(bias=0.0)
    true = an.scaling_response(plain, x, None, 1, "other", [4.0], other=2, targets=labels)
    assert abs(true.norm_ratio[0] - 4.0) > 1e-3  # the softmax error moves with the logits
    with pytest.raises(ValueError, match="with targets"):
        an.scaling_response(plain, x, None, 1, "error", [2.0], targets=labels)
    with pytest.raises(ValueError, match="positive"):
        an.scaling_response(plain, x, error, 1, "input", [-1.0])
    with pytest.raises(ValueError, match="other != layer"):
        an.scaling_response(plain, x, error, 1, "other", [2.0], other=1)
    with pytest.raises(ValueError, match="factor must be one of"):
        an.scaling_response(plain, x, error, 1, "bias", [2.0])
