"""Tests of cgnb.chapters.minibatch_sensitivity.models: the loss, the centred output, biases by coordinate."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters.minibatch_sensitivity import models
from cgnb.engine import nets

from .problems import data, mean_grad, mlp_params


def test_make_loss_is_per_example_and_checks_the_rate():
    params, (x, y) = mlp_params(), data(16)
    loss = models.make_loss()
    got = loss(params, jnp.asarray(x), jnp.asarray(y))
    assert got.shape == (16,)
    np.testing.assert_array_equal(got, (nets.forward(params, jnp.asarray(x))[:, 0] - y) ** 2)
    with pytest.raises(ValueError, match="dropout_rate"):
        models.make_loss(1.0)


def test_bias_coords_get_set():
    plain, bn = mlp_params(), mlp_params(batchnorm=True)
    assert models.bias_coords(plain) == ((1, "b", 0), (2, "b", 0))
    assert models.bias_coords(bn, unit=3) == ((1, "beta", 3), (2, "beta", 3))
    with pytest.raises(ValueError, match="not a hidden layer"):
        models.bias_coords(plain, layers=(3,))
    with pytest.raises(ValueError, match="unit"):
        models.bias_coords(plain, unit=100)
    coords = models.bias_coords(plain, unit=2)
    new = models.set_coords(plain, coords, jnp.array([0.5, -0.25]))
    np.testing.assert_allclose(models.get_coords(new, coords), [0.5, -0.25])
    assert float(plain[1]["b"][2]) == 0.0  # the original is untouched
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 2 * a]), new)
    np.testing.assert_allclose(models.get_coords(stacked, coords), [[0.5, -0.25], [1.0, -0.5]])


def test_batchnorm_cancels_the_pre_normalisation_bias():
    """Why the batch-norm variant is projected on beta: the gradient of b in front of the normalisation is zero."""
    params, (x, y) = mlp_params(batchnorm=True), data()
    params = models.set_coords(params, ((1, "beta", 0),), jnp.array([0.3]))
    g = mean_grad(models.make_loss())(params, jnp.asarray(x[:32]), jnp.asarray(y[:32]))
    scale = float(jnp.max(jnp.abs(g[1]["beta"])))
    assert scale > 1e-3
    assert float(jnp.max(jnp.abs(g[1]["b"]))) < 1e-4 * scale


def test_live_units_skip_dead_ones():
    params, (x, _) = mlp_params(), data()
    params = models.set_coords(params, ((1, "b", 0), (1, "b", 1)), jnp.array([-100.0, -100.0]))
    units = models.live_units([params], jnp.asarray(x), layer=1, count=2, min_active=0.05)
    assert 0 not in units and 1 not in units and units == sorted(units)
    pairs = models.bias_pairs([params, mlp_params()], jnp.asarray(x), count=1, min_active=0.05)
    assert pairs[0][0][:2] == (1, "b") and pairs[0][0][2] >= 2 and pairs[0][1][:2] == (2, "b")
    with pytest.raises(ValueError, match="only"):
        models.live_units([params], jnp.asarray(x), layer=1, count=8, min_active=0.05)


def test_bias_coords_leaf():
    bn = mlp_params(batchnorm=True)
    assert models.bias_coords(bn, leaf="b") == ((1, "b", 0), (2, "b", 0))
    with pytest.raises(ValueError, match="no parameter"):
        models.bias_coords(mlp_params(), leaf="beta")


@pytest.mark.parametrize("batchnorm", [False, True])
def test_centre_output_matches_the_mean_and_changes_only_the_last_bias(batchnorm):
    params = nets.init(jax.random.PRNGKey(0), (5, 8, 8, 1), batchnorm=batchnorm)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (64, 5)))
    y = 50.0 + np.arange(64, dtype=np.float32)
    centred = models.centre_output(params, x, y)
    assert abs(float(jnp.mean(nets.forward(centred, jnp.asarray(x)))) - y.mean()) < 1e-3 * y.mean()
    # before, every error had one sign; after, the errors have mean zero
    assert np.all(np.asarray(nets.forward(params, jnp.asarray(x)))[:, 0] < y)
    for old, new in zip(jax.tree_util.tree_leaves(params[:-1]), jax.tree_util.tree_leaves(centred[:-1])):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(params[-1]["w"], centred[-1]["w"])


def test_centre_output_rejects_bad_input():
    params = nets.init(jax.random.PRNGKey(0), (5, 8, 2))
    with pytest.raises(ValueError, match="one output"):
        models.centre_output(params, np.ones((4, 5)), np.ones(4))
    with pytest.raises(ValueError, match="need x"):
        models.centre_output(nets.init(jax.random.PRNGKey(0), (5, 8, 1)), np.ones((4, 5)), np.ones(3))
