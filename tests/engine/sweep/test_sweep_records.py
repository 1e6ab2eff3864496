"""Tests of cgnb.engine.sweep.records: one record of one variant, first_learned, the statistics registry."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import sweep
from cgnb.engine.sweep import records


def identity_model():
    """A linear 2-class model predicting argmax(x)."""
    return [{"w": jnp.eye(2), "b": jnp.zeros(2)}]


def test_measure_a_hand_made_case():
    # examples 0..5: predictions argmax(x) = 0 0 1 1 0 1
    x = jnp.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0], [0, 1]], jnp.float32)
    y_true = jnp.array([0, 0, 1, 1, 1, 0], jnp.int32)
    labels = jnp.array([0, 1, 1, 0, 0, 0], jnp.int32)  # noisy: examples 1, 3, 4 changed
    pristine = labels == y_true  # T F T F F T
    arrays = sweep.Arrays(x, y_true, x[:4], y_true[:4])
    variant = sweep.VariantArrays(labels, pristine, jnp.int32(0), jnp.zeros((0, 6), bool))
    record, correct = jax.jit(lambda *a: records.measure(*a, records=sweep.RecordsConfig(eval_batch=4)))(
        identity_model(), variant, arrays)
    # correct w.r.t. noisy labels: T F T F T F
    np.testing.assert_array_equal(correct, [True, False, True, False, True, False])
    assert record["train_acc"] == pytest.approx(3 / 6)
    assert record["pristine_acc"] == pytest.approx(2 / 3)  # examples 0, 2 of 0, 2, 5
    assert record["corrupt_acc"] == pytest.approx(1 / 3)  # example 4 of 1, 3, 4 (memorised)
    assert record["corrupt_true_acc"] == pytest.approx(2 / 3)  # examples 1, 3 predict their clean labels
    assert record["test_acc"] == pytest.approx(1.0)
    # newly correct examples get the step; earlier firsts stay even when now wrong (example 5)
    first = records.learned(jnp.array([-1, 2, -1, -1, -1, 4]), correct, jnp.int32(7))
    np.testing.assert_array_equal(first, [7, 2, 7, -1, 7, 4])


def test_group_accuracy_of_an_empty_group_is_nan():
    x = jnp.eye(2, dtype=jnp.float32)
    y = jnp.array([0, 1], jnp.int32)
    variant = sweep.VariantArrays(y, jnp.ones(2, bool), jnp.int32(0), jnp.zeros((0, 2), bool))
    record, _ = records.measure(identity_model(), variant, sweep.Arrays(x, y, x, y), sweep.RecordsConfig())
    assert record["pristine_acc"] == 1.0 and np.isnan(record["corrupt_acc"])


def test_first_learned_record_by_record():
    correct = jnp.array([[False, True, False], [True, False, False], [True, True, False]])
    first = records.update_first_learned(jnp.array([-1, -1, 5]), correct, jnp.array([10, 20, 30]))
    np.testing.assert_array_equal(first, [20, 10, 5])


def test_statistics_registry_and_subset_sizes():
    assert set(sweep.STATISTICS) == {"alphas", "coherence"}
    assert [s for s, stat in sweep.STATISTICS.items() if stat.uses_null_masks] == ["alphas"]
    assert sweep.RecordsConfig(stats=("alphas",), n_null=2).draws_null_masks
    assert not sweep.RecordsConfig(stats=("alphas",), n_null=0).draws_null_masks
    assert not sweep.RecordsConfig(stats=("coherence",)).draws_null_masks
    assert sweep.RecordsConfig(stats="coherence").stats == ("coherence",)
    arrays = sweep.Arrays(jnp.zeros((50, 2)), jnp.zeros(50), jnp.zeros((7, 2)), jnp.zeros(7))
    assert sweep.RecordsConfig(stats_examples=400).subset_sizes(arrays) == (50, 7, 50)
    assert sweep.RecordsConfig(eval_examples=10, test_examples=3).subset_sizes(arrays) == (10, 3, 50)
