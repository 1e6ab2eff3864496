"""Tests of cgnb.engine.curves (measures of recorded curves)."""
from __future__ import annotations

import numpy as np
import pytest

from cgnb.engine import curves


def test_first_step_reaching_one_curve_and_many():
    steps = np.array([10, 20, 30, 40])
    assert curves.first_step_reaching(steps, [0.1, 0.6, 0.4, 0.9], 0.5) == 20.0
    assert isinstance(curves.first_step_reaching(steps, [0.1, 0.6, 0.4, 0.9], 0.5), float)
    assert np.isnan(curves.first_step_reaching(steps, [0.1, 0.2, 0.3, 0.4], 0.5))
    values = np.array([[0.1, 0.5, 0.9, 0.95], [0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_array_equal(curves.first_step_reaching(steps, values, 0.9), [30.0, np.nan])
    assert curves.first_step_reaching(steps, values[None], 0.9).shape == (1, 2)
    with pytest.raises(ValueError, match="same R"):
        curves.first_step_reaching(steps, values[:, :3], 0.9)


def test_fit_slope_linear_pooled_and_loglog():
    depths = np.array([1.0, 2.0, 3.0])
    assert curves.fit_slope(depths, np.stack([0.3 * depths + 1, 0.3 * depths - 1])) == pytest.approx(0.3)
    assert curves.fit_slope([1, 4, 16], [3, 48, 768], loglog=True) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive"):
        curves.fit_slope([1, 2], [1, 0], loglog=True)
    with pytest.raises(ValueError, match=r"x \(D,\)"):
        curves.fit_slope([1, 2, 3], [1, 2])


def test_rise_and_drop():
    assert curves.largest_rise([0.5, 0.3, 0.3, 0.1]) == pytest.approx(0.0)
    assert curves.largest_rise([0.5, 0.3, 0.35, 0.1]) == pytest.approx(0.05)
    assert curves.peak_drop(np.array([0.1, 0.5, 0.9, 0.6])) == pytest.approx(0.3)
    assert curves.peak_drop(np.array([0.1, 0.5, 0.9, 0.95])) == 0.0
    # smoothing: the single spike at 0.9 is averaged with its neighbours
    assert curves.peak_drop(np.array([0.5, 0.5, 0.9, 0.5, 0.5, 0.5]), smooth=3) == pytest.approx(1.9 / 3 - 0.5)
    with pytest.raises(ValueError, match="two values"):
        curves.largest_rise([1.0])


def test_moving_average_and_falling_ratio():
    np.testing.assert_allclose(curves.moving_average(np.array([1.0, 3, 5, 7]), 2), [1, 2, 4, 6])
    with pytest.raises(ValueError, match="window"):
        curves.moving_average(np.ones(3), 0)
    assert curves.falling_ratio(np.array([4.0, 4, 2, 2]), 2, 2) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="do not fit"):
        curves.falling_ratio(np.ones(5), 1, 2)
