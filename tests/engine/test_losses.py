"""Tests of cgnb.engine.losses: the output losses, the metrics and MLPLoss."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import losses, nets


def test_cross_entropy_and_accuracy():
    logits = jnp.array([[2.0, 0.0], [0.0, 1.0]])
    labels = jnp.array([0, 0])
    expected = -np.log(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))[[0, 1], [0, 0]]
    np.testing.assert_allclose(losses.cross_entropy(logits, labels), expected, rtol=1e-6)
    assert float(losses.accuracy(logits, labels)) == 0.5


def test_logistic_and_binary_accuracy():
    logits = jnp.array([2.0, 1.0, 0.0, -3.0])
    y = jnp.array([1.0, -1.0, 1.0, 1.0])
    np.testing.assert_allclose(losses.logistic(logits, y), np.log1p(np.exp(-np.array([2.0, -1.0, 0.0, -3.0]))),
                               rtol=1e-6)
    assert float(losses.binary_accuracy(logits, y)) == pytest.approx(0.25)  # logit 0 counts as wrong


def test_squared_error_is_per_example():
    pred, y = jnp.array([[1.0], [3.0]]), jnp.array([0.0, 1.0])
    np.testing.assert_array_equal(losses.squared_error(pred, y), [1.0, 4.0])
    np.testing.assert_array_equal(losses.squared_error(pred[:, 0], y), [1.0, 4.0])
    with pytest.raises(ValueError, match=r"pred \(B, 1\) and y \(B,\)"):
        losses.squared_error(jnp.ones((2, 2)), y)


def test_mlp_loss_is_a_per_example_loss_of_the_forward_pass():
    params = nets.init(jax.random.key(0), (5, 4, 3))
    x = jax.random.normal(jax.random.key(1), (6, 5))
    y = jnp.arange(6) % 3
    got = losses.MLPLoss()(params, x, y)
    assert got.shape == (6,)
    np.testing.assert_array_equal(got, losses.cross_entropy(nets.forward(params, x), y))
    with pytest.raises(ValueError, match="takes no key"):
        losses.MLPLoss()(params, x, y, key=jax.random.key(2))


def test_mean_loss_is_the_batch_objective_and_passes_a_key_only_when_given():
    params = nets.init(jax.random.PRNGKey(0), (4, 3))
    x, y = jnp.ones((2, 4)), jnp.array([0, 2])
    np.testing.assert_array_equal(losses.mean_loss(losses.MLPLoss(), params, x, y),
                                  jnp.mean(losses.cross_entropy(nets.forward(params, x), y)))
    seen = []

    def noisy(p, x, y, *, key=None):
        seen.append(key)
        return jnp.zeros(x.shape[0])

    losses.mean_loss(noisy, params, x, y)
    losses.mean_loss(noisy, params, x, y, key=jax.random.PRNGKey(1))
    assert seen[0] is None and seen[1] is not None
