"""Tests of cgnb.engine.sweep.model: the sweep's MLP, its loss and its initial parameters."""
import jax
import numpy as np
import pytest

from cgnb.engine import losses, nets, seeds, sweep


def test_initial_parameters_come_from_the_variants_init_key():
    model = sweep.ModelConfig(sizes=(5, 4, 3), w_scale=0.5)
    got = sweep.init_params(7, model)
    want = nets.init(seeds.variant_keys(7)[0], (5, 4, 3), w_scale=0.5)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_array_equal(a, b)


def test_the_loss_is_the_mlps_cross_entropy():
    assert sweep.per_example_loss == losses.MLPLoss(losses.cross_entropy)
    params = nets.init(jax.random.PRNGKey(0), (4, 3))
    x, y = np.ones((2, 4), np.float32), np.array([0, 2])
    np.testing.assert_array_equal(sweep.per_example_loss(params, x, y),
                                  losses.cross_entropy(nets.forward(params, x), y))


def test_model_checks():
    assert sweep.ModelConfig(sizes=[3.0, 2]).sizes == (3, 2)
    with pytest.raises(sweep.ConfigError, match="sizes must list"):
        sweep.ModelConfig(sizes=(3,))
    with pytest.raises(sweep.ConfigError, match="w_scale must be > 0"):
        sweep.ModelConfig(sizes=(3, 2), w_scale=0.0)
