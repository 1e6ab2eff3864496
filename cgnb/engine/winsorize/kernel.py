"""The winsorization kernel: level checks, the choice of algorithm, one tile's winsorized mean, the tile loops.

:mod:`.columns` (arrays and pytrees of per-example values) and :mod:`.outer` (an MLP's factored
per-example gradients) cut their coordinates into tiles and run :func:`tile_mean` on each.

Algorithms (``method=``; the default is :func:`pick_method`'s)
  "network"  the insertion networks of :mod:`.network`: a static c, small ``B * c``, on the CPU
  "sorting"  the pruned sorting network of :mod:`.sorting`: any c, static or traced, where the
             network stays small enough to compile (:func:`.sorting.network_fits`), on the CPU
  "bisect"   :func:`.bisect.bounds`, counting bit by bit: any c, a small program
  "sort"     :func:`.sort.bounds`, a sort over the batch: the GPU / TPU default
All give the exact order statistics. An algorithm that finds the two clipping bounds is one more
module with ``bounds(keys (n, ...), c) -> (lo, hi)`` and one entry in :data:`BOUNDS`.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3 (winsorized SGD).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import bisect, network, sort, sorting
from .keys import from_key, to_key

#: Algorithms that find the clipping bounds: ``bounds(keys (n, ...), c) -> (lo, hi)`` keys.
BOUNDS: dict[str, Callable[[jax.Array, Any], tuple[jax.Array, jax.Array]]] = {
    "bisect": bisect.bounds,
    "sort": sort.bounds,
}
#: Algorithms that compute the whole winsorized mean of a tile (all tiles in one kernel).
NETWORKS = ("network", "sorting")
METHODS = (*NETWORKS, *BOUNDS)
#: On the CPU the insertion network serves a static c <= NETWORK_MAX_LEVEL with B * c <= NETWORK_MAX_WORK
#: and B <= NETWORK_MAX_BATCH, the region where its unrolled program compiles quickly (book/performance.md,
#: "Engine notes"); the sorting network any other level where it fits; bisection everything else.
NETWORK_MAX_LEVEL = 6
NETWORK_MAX_WORK = 600
NETWORK_MAX_BATCH = 128


# ============================================================================ levels


def static_int(value: Any, name: str) -> int | None:
    """``int(value)`` for a concrete integer, None for a traced one.

    Raises:
      ValueError: ``value`` is not an integer (a bool, a float, an array of several values).
    """
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (bool, np.bool_)) or not (np.ndim(value) == 0 and np.issubdtype(
            np.asarray(value).dtype, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def check_levels(c: int | jax.Array, c_max: int | None) -> int | None:
    """Check the types of a level: c an integer (Python or traced), c_max None or a Python int.

    Returns:
      ``int(c)`` for a concrete c, None for a traced one (the ranges need the batch size: :func:`check_c`).
    Raises:
      ValueError: c is not an integer, or c_max is traced.
    """
    c_static = static_int(c, "c")
    if c_max is not None and static_int(c_max, "c_max") is None:
        raise ValueError("c_max must be a Python int (it fixes the program's size); pass the traced "
                         "winsorization level as c")
    return c_static


def check_c(c: int | jax.Array, c_max: int | None, batch: int) -> tuple[int | None, int]:
    """Check a level for a batch of ``batch`` examples.

    Args:
      c: 0 <= c < batch / 2, a Python int or a traced integer (then ``c_max`` is required).
      c_max: None or a Python int, 0 <= c_max < batch / 2, bounding c.
      batch: the batch size B.
    Returns:
      ``(c_static, levels)``: ``int(c)`` or None for a traced c, and the largest level the program
      serves (``c_max``, else c).
    Raises:
      ValueError: a level out of range, a traced c without ``c_max``, a traced ``c_max``.
    """
    c_static = static_int(c, "c")
    if c_max is not None:
        c_max = static_int(c_max, "c_max")
        if c_max is None:
            raise ValueError("c_max must be a Python int (it fixes the program's size); "
                             "pass the traced winsorization level as c")
        if not 0 <= c_max or not 2 * c_max < batch:
            raise ValueError(f"c_max must satisfy 0 <= c_max < B/2 = {batch / 2:g} for a batch of "
                             f"{batch} examples, got c_max={c_max}")
    if c_static is not None:
        if not 0 <= c_static or not 2 * c_static < batch:
            raise ValueError(f"c must satisfy 0 <= c < B/2 = {batch / 2:g} for a batch of {batch} "
                             f"examples, got c={c_static}")
        if c_max is not None and c_static > c_max:
            raise ValueError(f"c={c_static} exceeds c_max={c_max}; raise c_max or lower c")
    elif c_max is None:
        raise ValueError("c is traced (e.g. vmapped over winsorization levels): pass c_max, a Python "
                         "int bounding it, so that one program serves every c in [0, c_max]")
    return c_static, (c_max if c_max is not None else c_static)


def pick_method(method: str | None, c_static: int | None, levels: int, batch: int) -> str:
    """The algorithm: ``method`` if given, else by backend, level and batch size.

    Off the CPU: ``"sort"``. On the CPU: ``"network"`` for a static c up to :data:`NETWORK_MAX_LEVEL`
    with ``batch * c <= NETWORK_MAX_WORK`` and ``batch <= NETWORK_MAX_BATCH``; else ``"sorting"`` where
    :func:`cgnb.engine.winsorize.sorting.network_fits` (c, or a traced c up to ``levels``); else ``"bisect"``.

    Raises:
      ValueError: ``method`` is not one of :data:`METHODS`, or is ``"network"`` for a traced c.
    """
    if method is not None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS} or None, got {method!r}")
        if method == "network" and c_static is None:
            raise ValueError("method='network' needs a Python int c (the insertion network is unrolled for one "
                             "level); for a traced c use method='sorting' or None")
        return method
    if jax.default_backend() != "cpu":
        return "sort"
    if c_static is not None and (c_static <= NETWORK_MAX_LEVEL and batch * c_static <= NETWORK_MAX_WORK
                                 and batch <= NETWORK_MAX_BATCH):
        return "network"
    return "sorting" if sorting.network_fits(batch, c_static, levels) else "bisect"


# ============================================================================ one tile


def clipped_mean(example: Callable[[int], jax.Array], n: int, lo: jax.Array, hi: jax.Array, dtype) -> jax.Array:
    """``sum_i clip(example(i), lo, hi) / n``, the bounds given as keys, summed in example order.

    The clip works on keys, so a NaN is clipped away like an infinite value.
    """
    total = None
    for i in range(n):
        value = from_key(lax.clamp(lo, to_key(example(i)), hi), dtype)
        total = value if total is None else total + value
    return total / n


def mean_in_order(example: Callable[[int], jax.Array], n: int) -> jax.Array:
    """``sum_i example(i) / n`` summed in example order (the level c = 0)."""
    total = example(0)
    for i in range(1, n):
        total = total + example(i)
    return total / n


def nan_outside(value: jax.Array, c: jax.Array, levels: int) -> jax.Array:
    """``value`` where the traced level c lies in [0, levels], NaN elsewhere."""
    return jnp.where((c >= 0) & (c <= levels), value, jnp.nan)


def tile_mean(example: Callable[[int], jax.Array], block: Callable[[], jax.Array], n: int,
              c: int | jax.Array, levels: int, dtype, method: str) -> jax.Array:
    """The winsorized mean of one tile of coordinates over ``n`` examples.

    Args:
      example: ``example(i)`` (tile shape), example i's values.
      block: ``block()`` (n, *tile shape), all of them at once (for the bounds algorithms).
      n: the number of examples.
      c: a Python int, or (not with ``"network"``) a traced level in [0, levels].
      levels: the largest level the program serves.
      dtype: the values' floating dtype.
      method: one of :data:`METHODS` (:func:`pick_method`).
    Returns:
      The winsorized mean (tile shape); NaN where a traced c lies outside [0, levels].
    """
    static = isinstance(c, int)
    if static and c == 0:
        return mean_in_order(example, n)
    if method == "network":  # a static c (pick_method)
        return network.winsorized_mean(example, n, c, dtype)
    if method == "sorting":
        return sorting.winsorized_mean(example, n, c, levels, dtype)
    lo, hi = BOUNDS[method](to_key(block()), c)
    mean = clipped_mean(example, n, lo, hi, dtype)
    return mean if static else nan_outside(mean, c, levels)


# ============================================================================ loops over tiles


def tile_loop(n_tiles: int, tile: Callable[[jax.Array], jax.Array], tile_shape: tuple[int, ...],
              dtype) -> jax.Array:
    """``stack([tile(t) for t in range(n_tiles)])`` by a ``fori_loop``: (n_tiles, *tile_shape).

    The loop compiles the tile's kernel once (no copy fused into each consumer); ``n_tiles >= 2``,
    since a single trip would be inlined.
    """
    def body(t, out):
        return lax.dynamic_update_index_in_dim(out, tile(t), t, 0)

    return lax.fori_loop(0, n_tiles, body, jnp.zeros((n_tiles, *tile_shape), dtype))


def one_kernel(compute: Callable[[], jax.Array], opaque: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """``compute()`` (of ``shape``) as a kernel of its own, which no consumer of the result fuses a copy of.

    ``compute()`` is the body of a while loop, a fusion boundary, whose trip count is one unless the
    scalar ``opaque`` is NaN (then two trips compute the same value twice), so that the compiler
    cannot know it and inline the loop.
    """
    trips = 1 + jnp.isnan(opaque).astype(jnp.int32)

    def body(state):
        return state[0] + 1, compute()

    return lax.while_loop(lambda state: state[0] < trips, body, (jnp.int32(0), jnp.zeros(shape, dtype)))[1]


__all__ = ["BOUNDS", "METHODS", "NETWORK_MAX_LEVEL", "NETWORK_MAX_WORK", "NETWORK_MAX_BATCH", "static_int",
           "check_levels", "check_c", "pick_method", "clipped_mean", "mean_in_order", "nan_outside", "tile_mean",
           "tile_loop", "one_kernel", "NETWORKS"]
