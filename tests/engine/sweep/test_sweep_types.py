"""Tests of cgnb.engine.sweep.types: the containers the programs take are pytrees with the fields they name."""
import jax
import numpy as np

from cgnb.engine import sweep


def test_containers_are_pytrees_in_field_order():
    arrays = sweep.Arrays(np.zeros((2, 3)), np.zeros(2), np.zeros((1, 3)), np.zeros(1))
    assert [leaf.shape for leaf in jax.tree_util.tree_leaves(arrays)] == [(2, 3), (2,), (1, 3), (1,)]
    variant = sweep.VariantArrays(np.zeros(2), np.ones(2, bool), np.int32(1), np.zeros((0, 2), bool))
    assert variant._fields == ("labels", "pristine", "c", "null_masks")
    state = sweep.TrainState([{"w": np.ones(2)}], (), np.full(2, -1))
    assert len(jax.tree_util.tree_leaves(state)) == 2


def test_config_errors_are_value_errors():
    assert issubclass(sweep.ConfigError, ValueError)
