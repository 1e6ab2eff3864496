"""The sorting-network algorithm: the winsorized mean for any c, static or traced, in one vectorised pass.

Every coordinate's n values, as integer keys (:mod:`.keys`), pass Batcher's odd-even merge sort
restricted to the comparators the winsorized mean needs (:func:`winsorizing_pairs`); each
comparator is one elementwise integer minimum and maximum over all coordinates at once. With the
sorted keys ``s_(0) <= ... <= s_(n-1)``,

    sum_i clip(v_i, s_(c), s_(n-1-c)) = sum_{c <= k <= n-1-c} s_(k) + c * s_(c) + c * s_(n-1-c)

for a static c; a traced c only selects the two bounds among the sorted wires, so one program
serves every c <= c_max. The program grows with the number of comparators, not with c:
:func:`network_fits` says which (n, c, c_max) XLA:CPU still compiles into one vectorised loop.

Reference: Batcher, "Sorting networks and their applications", AFIPS 1968; Knuth, TAOCP vol. 3,
5.3.4 (algorithm M); Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from .keys import from_key, to_key

#: Estimated operations per coordinate (:func:`network_ops`) up to which XLA:CPU compiles the kernel
#: into one vectorised loop (book/performance.md, "Engine notes").
NETWORK_OP_BUDGET = 3300


@functools.lru_cache(maxsize=None)
def sorting_pairs(n: int) -> tuple[tuple[int, int], ...]:
    """Batcher's odd-even merge sort of n wires: comparators ``(i, j)``, i < j, in order.

    Each comparator puts the minimum of wires i and j on wire i and the maximum on wire j. The
    network for the next power of two is restricted to the first n wires (the others would hold
    +inf, which no comparator moves).

    Raises:
      ValueError: n < 1.
    """
    if n < 1:
        raise ValueError(f"a sorting network needs n >= 1 wires, got {n}")
    size = 1 << max(0, (n - 1).bit_length())
    pairs: list[tuple[int, int]] = []

    def merge(lo: int, length: int, r: int) -> None:  # merge the sorted halves of [lo, lo + length)
        step = 2 * r
        if step < length:
            merge(lo, length, step)
            merge(lo + r, length, step)
            pairs.extend((i, i + r) for i in range(lo + r, lo + length - r, step))
        else:
            pairs.append((lo, lo + r))

    def sort(lo: int, length: int) -> None:
        if length > 1:
            sort(lo, length // 2)
            sort(lo + length // 2, length // 2)
            merge(lo, length, 1)

    sort(0, size)
    return tuple((i, j) for i, j in pairs if j < n)


@functools.lru_cache(maxsize=None)
def winsorizing_pairs(n: int, low: int, high: int) -> tuple[tuple[int, int], ...]:
    """The comparators of :func:`sorting_pairs` (n) that a winsorized mean at levels ``low..high`` needs.

    After the network, the wires ``low..high`` and ``n-1-high..n-1-low`` must hold their order
    statistics exactly, the wires strictly between ``high`` and ``n-1-high`` are only summed, the
    others are unused. Walking the network backwards, a comparator whose outputs are both summed or
    both unused only reorders a sum (or nothing) and is dropped; the others are kept, and their
    inputs must then be exact.
    """
    needed = {w: "exact" if low <= w <= high or n - 1 - high <= w <= n - 1 - low else
              "sum" if high < w < n - 1 - high else None for w in range(n)}
    kept = []
    for i, j in reversed(sorting_pairs(n)):
        if needed[i] != needed[j] or needed[i] == "exact":
            needed[i] = needed[j] = "exact"
            kept.append((i, j))
    return tuple(reversed(kept))


def network_ops(n: int, c: int | None, c_max: int | None = None) -> int:
    """Estimated operations per coordinate of :func:`winsorized_mean` for n values and a static c
    (``c_max`` unused), or a traced c bounded by ``c_max`` (``c`` None)."""
    if c is not None:
        return 2 * len(winsorizing_pairs(n, c, c)) + 6 * n
    return 2 * len(winsorizing_pairs(n, 0, c_max)) + 6 * n + 3 * (c_max + 1)


def network_fits(n: int, c: int | None, c_max: int | None = None) -> bool:
    """Whether the kernel for (n, c, c_max) (:func:`network_ops`) stays within :data:`NETWORK_OP_BUDGET`."""
    return network_ops(n, c, c_max) <= NETWORK_OP_BUDGET


def sorted_wires(keys: Sequence[jax.Array], pairs: Sequence[tuple[int, int]]) -> list[jax.Array]:
    """The wires ``keys`` after the comparators ``pairs``: min on the lower wire, max on the upper."""
    wires = list(keys)
    for i, j in pairs:
        wires[i], wires[j] = lax.min(wires[i], wires[j]), lax.max(wires[i], wires[j])
    return wires


def tree_sum(values: Sequence[jax.Array]) -> jax.Array:
    """The sum of ``values``, added pairwise (short dependency chains)."""
    values = list(values)
    while len(values) > 1:
        values = [values[k] + values[k + 1] if k + 1 < len(values) else values[k] for k in range(0, len(values), 2)]
    return values[0]


def winsorized_mean(example: Callable[[int], jax.Array], n: int, c: int | jax.Array, levels: int,
                    dtype) -> jax.Array:
    """The c-winsorized mean of ``n`` values ``example(i)`` (floats of ``dtype``, one shape).

    Args:
      example: ``example(i)`` is example i's values, i in [0, n).
      n: the number of examples, n >= 1.
      c: 0 <= c < n / 2, a Python int, or a traced integer in [0, levels] (the result is NaN outside).
      levels: the largest level a traced c may take (c_max); ignored for a Python int c.
      dtype: the values' floating dtype.
    Returns:
      The elementwise winsorized mean, of ``example(0)``'s shape. A NaN orders like an infinite
      value (:mod:`.keys`), so for c >= 1 it is clipped away as one would be.
    """
    keys = [to_key(example(i)) for i in range(n)]
    if isinstance(c, int):
        wires = sorted_wires(keys, winsorizing_pairs(n, c, c))
        lo, hi = from_key(wires[c], dtype), from_key(wires[n - 1 - c], dtype)
        middle = tree_sum([from_key(w, dtype) for w in wires[c:n - c]])
        return (middle + c * lo + c * hi) / n
    wires = sorted_wires(keys, winsorizing_pairs(n, 0, levels))
    lo, hi = wires[0], wires[n - 1]
    for j in range(1, levels + 1):  # the wires are sorted: s_(c) and s_(n-1-c) picked by c
        lo = jnp.where(j <= c, wires[j], lo)
        hi = jnp.where(j <= c, wires[n - 1 - j], hi)
    clipped = [lax.max(w, lo) if k <= levels else lax.min(w, hi) if k >= n - 1 - levels else w
               for k, w in enumerate(wires)]
    if 2 * levels + 1 == n:  # the middle wire is both s_(levels) and s_(n-1-levels)
        clipped[levels] = lax.clamp(lo, wires[levels], hi)
    total = tree_sum([from_key(w, dtype) for w in clipped])
    return jnp.where((c >= 0) & (c <= levels), total / n, jnp.nan)


__all__ = ["NETWORK_OP_BUDGET", "sorting_pairs", "winsorizing_pairs", "network_ops", "network_fits",
           "sorted_wires", "tree_sum", "winsorized_mean"]
