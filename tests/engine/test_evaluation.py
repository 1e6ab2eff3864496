"""Tests of cgnb.engine.evaluation: one record of one variant and its first_learned update."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import evaluation, sweep


def jit_evaluate(cfg):
    return jax.jit(lambda *args: evaluation.evaluate(*args, config=cfg))


def identity_model():
    """A linear 2-class model predicting argmax(x)."""
    return [{"w": jnp.eye(2), "b": jnp.zeros(2)}]


def test_evaluate_hand_made_case():
    # examples 0..5: predictions argmax(x) = 0 0 1 1 0 1
    x = jnp.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0], [0, 1]], jnp.float32)
    y_true = jnp.array([0, 0, 1, 1, 1, 0], jnp.int32)
    labels = jnp.array([0, 1, 1, 0, 0, 0], jnp.int32)  # noisy: examples 1, 3, 4 changed
    pristine = labels == y_true  # T F T F F T
    cfg = sweep.SweepConfig(sizes=(2, 2), steps=1, batch_size=2, record_every=1)
    arrays = sweep.Arrays(x, y_true, x[:4], y_true[:4])
    variant = sweep.VariantArrays(labels, pristine, jnp.int32(0), jnp.zeros((0, 6), bool))
    first_before = jnp.array([-1, 2, -1, -1, -1, 4], jnp.int32)
    record, first = jit_evaluate(cfg)(identity_model(), jnp.int32(7), first_before, variant, arrays)
    # correct w.r.t. noisy labels: T F T F T F
    assert record["train_acc"] == pytest.approx(3 / 6)
    assert record["pristine_acc"] == pytest.approx(2 / 3)  # examples 0, 2 of 0, 2, 5
    assert record["corrupt_acc"] == pytest.approx(1 / 3)  # example 4 of 1, 3, 4 (memorised)
    assert record["corrupt_true_acc"] == pytest.approx(2 / 3)  # examples 1, 3 predict their clean labels
    assert record["test_acc"] == pytest.approx(1.0)
    # newly correct examples get step 7; earlier firsts stay even when now wrong (example 5)
    np.testing.assert_array_equal(first, [7, 2, 7, -1, 7, 4])


def test_group_accuracy_of_an_empty_group_is_nan():
    x = jnp.eye(2, dtype=jnp.float32)
    y = jnp.array([0, 1], jnp.int32)
    cfg = sweep.SweepConfig(sizes=(2, 2), steps=1, batch_size=2, record_every=1)
    variant = sweep.VariantArrays(y, jnp.ones(2, bool), jnp.int32(0), jnp.zeros((0, 2), bool))
    record, _ = jit_evaluate(cfg)(identity_model(), jnp.int32(0), jnp.full(2, -1, jnp.int32), variant,
                                  sweep.Arrays(x, y, x, y))
    assert record["pristine_acc"] == 1.0 and np.isnan(record["corrupt_acc"])
