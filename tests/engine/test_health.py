import math

import numpy as np
import pytest

from cgnb.engine import health

STEPS = np.arange(0, 1100, 100)


def test_a_run_that_learned_then_fell_to_a_constant_collapsed():
    acc = np.array([0.1, 0.5, 0.8, 0.87, 0.8, 0.5, 0.2, 0.1, 0.1, 0.1, 0.1])
    loss = np.array([2.3, 1.5, 0.6, 0.4, 0.8, 1.6, 2.2, math.log(10), 2.3028, 2.3027, 2.3026])
    line = health.collapse(STEPS, loss, acc, num_classes=10, examples=4000)
    assert line.startswith("collapsed at step 700") and "0.870" in line


def test_healthy_and_never_learning_runs_did_not_collapse():
    rising = np.linspace(0.1, 0.95, 11)
    assert health.collapse(STEPS, 2.3 - 2 * rising, rising, num_classes=10, examples=4000) == ""
    flat = np.full(11, 0.1)
    assert health.collapse(STEPS, np.full(11, math.log(10)), flat, num_classes=10, examples=4000) == ""


def test_a_dip_that_recovers_is_not_a_collapse():
    acc = np.array([0.1, 0.6, 0.8, 0.1, 0.1, 0.7, 0.8, 0.85, 0.86, 0.88, 0.9])
    assert health.collapse(STEPS, 2.3 - acc, acc, num_classes=10, examples=4000) == ""


def test_at_chance_uses_the_binomial_error():
    assert health.at_chance(0.107, 10, 4000) and not health.at_chance(0.13, 10, 4000)
    assert health.at_chance(0.13, 10, 100)


def test_never_learned_compares_with_plain_sgd():
    plain = np.linspace(0.1, 0.98, 11)
    assert health.never_learned(np.linspace(0.1, 0.3, 11), plain, num_classes=10).startswith("never learned")
    assert health.never_learned(np.linspace(0.1, 0.9, 11), plain, num_classes=10) == ""


def test_bad_curves_are_errors():
    with pytest.raises(ValueError, match="non-finite"):
        health.collapse(STEPS, np.full(11, np.nan), np.full(11, 0.5), num_classes=10, examples=10)
    with pytest.raises(ValueError, match="one value per record"):
        health.collapse(STEPS[:3], np.ones(11), np.ones(11), num_classes=10, examples=10)
