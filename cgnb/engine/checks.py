"""Argument checks at the engine's public boundary, each with a message that says how to fix it.

Every public entry point (configs, variants, data helpers) validates its arguments once, here,
instead of letting a bad value train silently (``c=2.5`` truncated to 2, ``lr=inf``) or fail
deep inside tracing with a raw JAX error.

Reference: the numeric tower of Python's ``numbers`` module (PEP 3141).
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

INT64_MAX = 2 ** 63 - 1


def integer(name: str, value: Any, *, minimum: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (Python or numpy, not bool, not float) >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__} {value!r}"
                         + (f"; use {name}={int(value)}" if _is_whole(value) else ""))
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def optional_integer(name: str, value: Any, *, minimum: int | None = None) -> int | None:
    """None, or :func:`integer` of ``value``: a setting whose default (None) means "all" or "automatic"."""
    if value is None:
        return None
    try:
        return integer(name, value, minimum=minimum)
    except ValueError:
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{name} must be None (the default) or an integer{bound}, got {value!r}") from None


def real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
         positive: bool = False) -> float:
    """``value`` as a finite ``float`` (not a string, not bool), optionally in ``[low, high]`` or ``> 0``."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, (numbers.Real, np.number)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def integer_array(name: str, values: Any, *, minimum: int | None = None, maximum: int | None = None) -> np.ndarray:
    """``values`` as an int64 numpy array; floats are accepted only when every entry is whole.

    The range is checked on the values as given, before any conversion, so a value that an integer
    type cannot hold (a label >= 2**32 meant for int32, 2**64 - 1 for int64) is refused, never wrapped.
    """
    array = np.asarray(values)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array) | (array != np.round(array))
        if bad.any():
            raise ValueError(f"{name} must hold integers, got {array[bad].ravel()[:3].tolist()} "
                             f"(at flat positions {np.flatnonzero(bad)[:3].tolist()})")
    if not array.size:
        return array.astype(np.int64)
    low, high = int(array.min()), int(array.max())
    if minimum is not None and low < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {low} at flat position {int(np.argmin(array))}")
    top = INT64_MAX if maximum is None else min(maximum, INT64_MAX)
    if high > top or low < -INT64_MAX - 1:
        where, value = (int(np.argmax(array)), high) if high > top else (int(np.argmin(array)), low)
        raise ValueError(f"{name} must be <= {top}, got {value} at flat position {where}")
    return array.astype(np.int64)


def finite_array(name: str, values: Any, *, ndim: int | None = None) -> np.ndarray:
    """``values`` as a numpy array of real numbers, every entry finite (a NaN or inf input trains silently
    to a NaN network, whose predictions are all class 0).

    Raises:
      ValueError: not a real dtype, the wrong number of axes, or a NaN/inf entry (its position is named).
    """
    array = np.asarray(values)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} holds {int(bad.sum())} non-finite values (the first, {array[first]}, at index "
                             f"{first}); remove or impute them before training")
    return array


def labels_in_range(name: str, labels: Any, num_classes: int) -> None:
    """Every label is an integer in ``[0, num_classes)`` (a -1 would index class K-1, a K gives NaN)."""
    array = integer_array(name, labels)
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        wrong = array[(array < 0) | (array >= num_classes)]
        raise ValueError(f"{name} must lie in [0, {num_classes}) for {num_classes} classes, got "
                         f"{sorted(set(wrong.ravel().tolist()))[:5]}; relabel the data or widen the output layer")


def _is_whole(value: Any) -> bool:
    try:
        return math.isfinite(float(value)) and float(value) == int(value)
    except (TypeError, ValueError, OverflowError):
        return False
