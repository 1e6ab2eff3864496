"""The insertion-network algorithm: the winsorized mean in one pass over the examples, for a static c.

Every value passes two insertion networks of integer keys (:mod:`.keys`): ``top`` keeps the c
largest values seen; the value it evicts enters ``bot``, which keeps the c smallest of those; the
value ``bot`` evicts is a middle value and is added to ``mid``. At the end ``hi`` (the largest
value evicted by ``top``) is the (c+1)-th largest, ``lo`` (the smallest evicted by ``bot``) the
(c+1)-th smallest, and

    sum_i clip(v_i, lo, hi) = mid + c * hi + c * lo,

so no extreme value is ever subtracted: infinite or huge outliers are clipped away exactly as by a
sort. About 4 c integer min/max per value; the loop over the examples is unrolled, so the program
grows with ``n * c``.

Reference: Knuth, TAOCP vol. 3, 5.3.4 (sorting networks); Chatterjee, ICLR 2020, section 3.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from .keys import from_key, to_key


def _insert(running: list[jax.Array], value: jax.Array, keep: Callable, pass_on: Callable) -> list[jax.Array]:
    """Push ``value`` through the sorted list ``running`` (updated in place), one elementwise
    compare-exchange per entry: ``keep`` (max for a top list, min for a bottom list) stays,
    ``pass_on`` moves down. Returns ``[value, out_1, ..., out_L]``: what leaves each depth, so
    ``out_L`` is the value pushed out of the whole list."""
    carries, carry = [value], value
    for j in range(len(running)):
        running[j], carry = keep(running[j], carry), pass_on(running[j], carry)
        carries.append(carry)
    return carries


def winsorized_mean(example: Callable[[int], jax.Array], n: int, c: int, dtype) -> jax.Array:
    """The c-winsorized mean of ``n`` values ``example(i)`` (floats of ``dtype``, one shape), for a static c >= 1.

    Args:
      example: ``example(i)`` is example i's values, i in [0, n).
      n: the number of examples, > 2 c.
      c: the level, a Python int >= 1.
      dtype: the values' floating dtype.
    Returns:
      The elementwise winsorized mean, of ``example(0)``'s shape.
    """
    mid = hi = lo = None
    top: list = []
    bot: list = []
    for i in range(n):
        value = example(i)
        key = to_key(value)
        if i == 0:
            itype = key.dtype
            mid = jnp.zeros_like(value)
            hi = jnp.full_like(key, jnp.iinfo(itype).min)
            lo = jnp.full_like(key, jnp.iinfo(itype).max)
        carries = _insert(top, key, keep=lax.max, pass_on=lax.min)
        if len(top) < c:  # fewer than c values so far: nothing leaves the top-c list
            top.append(carries[-1])
            continue
        evicted = carries[c]
        hi = lax.max(hi, evicted)
        carries = _insert(bot, evicted, keep=lax.min, pass_on=lax.max)
        if len(bot) < c:
            bot.append(carries[-1])
            continue
        middle = carries[c]
        lo = lax.min(lo, middle)
        mid = mid + from_key(middle, dtype)
    hi, lo = from_key(hi, dtype), from_key(lo, dtype)
    return (mid + c * hi + c * lo) / n


__all__ = ["winsorized_mean"]
