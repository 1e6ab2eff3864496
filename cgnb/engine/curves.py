"""Measures of recorded curves: when a curve reaches a level, how it rises and falls, slopes.

A *curve* is a sequence of values recorded at increasing steps, the last axis of an array;
leading axes (seeds, settings) are kept unless a function says otherwise.

* :func:`first_step_reaching` -- the first step at which a curve reaches a level.
* :func:`fit_slope` -- least-squares slope of values against x (optionally log-log), pooled.
* :func:`largest_rise`, :func:`peak_drop` -- how far a curve goes up between records, and how
  far it ends below its peak.
* :func:`moving_average`, :func:`falling_ratio` -- trailing means and whether a loss still falls.

Reference: ``numpy.polyfit`` (least squares) for the slopes.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def first_step_reaching(steps: Sequence[float], values: np.ndarray, level: float) -> float | np.ndarray:
    """The first entry of ``steps`` at which ``values`` is ``>= level``; NaN where it never is.

    Args:
      steps: (R,) the step of each record.
      values: (R,) one curve, or (..., R) one curve per leading index.
      level: the level to reach.

    Returns:
      A float for a 1-D ``values``, else a float array of shape ``values.shape[:-1]``.
    """
    steps, values = np.asarray(steps), np.asarray(values)
    if values.ndim < 1 or values.shape[-1] != steps.shape[-1] or steps.ndim != 1:
        raise ValueError(f"need steps (R,) and values (..., R) with the same R, got {steps.shape} and {values.shape}")
    hit = values >= level
    first = np.where(hit.any(axis=-1), steps[np.argmax(hit, axis=-1)], np.nan).astype(float)
    return float(first) if values.ndim == 1 else first


def fit_slope(x: Sequence[float], values: np.ndarray, *, loglog: bool = False) -> float:
    """Least-squares slope of ``values`` (..., D) against ``x`` (D,), pooled over leading axes.

    With ``loglog=True`` the slope of ``log values`` against ``log x`` (both must be positive):
    the exponent of a power law ``values ~ x ** slope``.
    """
    x, values = np.asarray(x, float), np.asarray(values, float)
    if values.shape[-1:] != x.shape or x.ndim != 1:
        raise ValueError(f"need x (D,) and values (..., D), got {x.shape} and {values.shape}")
    if loglog:
        if np.any(x <= 0) or np.any(values <= 0):
            raise ValueError("fit_slope(loglog=True) needs positive x and values")
        x, values = np.log(x), np.log(values)
    return float(np.polyfit(np.broadcast_to(x, values.shape).ravel(), values.ravel(), 1)[0])


def largest_rise(values: Sequence[float]) -> float:
    """``max_k (values[k+1] - values[k])``: <= 0 for a non-increasing sequence (needs >= 2 values)."""
    values = np.asarray(values, float)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"largest_rise needs a 1-D sequence of at least two values, got shape {values.shape}")
    return float(np.max(np.diff(values)))


def peak_drop(values: np.ndarray, smooth: int = 1) -> float:
    """How far the curve (R,) ends below its maximum: ``max(v) - v[-1]``, after a running mean.

    ``smooth`` records are averaged (a running mean over full windows) before the maximum
    and the end are read, so that a single noisy record does not count as a peak.
    """
    values = np.asarray(values, float)
    if values.ndim != 1 or len(values) < smooth or smooth < 1:
        raise ValueError(f"peak_drop needs a 1-D curve of at least smooth={smooth} >= 1 records, "
                         f"got shape {values.shape}")
    smoothed = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
    return float(smoothed.max() - smoothed[-1])


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean of a curve (R,) over ``window`` records (shorter at the start): (R,) float64."""
    values = np.asarray(values, np.float64)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (cumulative[index] - cumulative[start]) / (index - start)


def falling_ratio(values: np.ndarray, step: int, window: int) -> float:
    """Mean of a curve (R,) over ``[step, step + window)`` over its mean on ``[step - window, step)``.

    Below 1 while the curve (a loss) still falls around ``step``.
    """
    values = np.asarray(values)
    if window < 1 or step - window < 0 or step + window > len(values):
        raise ValueError(f"windows of {window} steps around step {step} do not fit a curve of {len(values)} steps")
    return float(np.mean(values[step:step + window]) / np.mean(values[step - window:step]))
