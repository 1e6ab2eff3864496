"""The coordinate-wise c-winsorized mean over a batch axis: the kernel and its algorithms.

Contents
  winsorize             (B, ...) -> (...): clip every coordinate to its (c+1)-th smallest / largest
                        value over the batch, then average
  winsorize_tree        the same for a pytree of per-example values (one kernel for all leaves)
  (the MLP fast path, from per-example gradients in factored form, is
  :mod:`cgnb.engine.winsorize_mlp`)
  GENERIC_TILE, MLP_TILE_ROWS, MLP_TILE_COLS   the kernels' tiling
  METHODS, NETWORK_MAX_LEVEL, NETWORK_MAX_WORK, NETWORK_MAX_BATCH   the order-statistics
                        algorithms and when the CPU default switches

Algorithms (``method=``; default by backend, level and batch size, see ``_pick_method``)
  "network"  the insertion networks below, for c (or c_max) <= NETWORK_MAX_LEVEL, B * c <=
             NETWORK_MAX_WORK and B <= NETWORK_MAX_BATCH on the CPU (where it compiles in seconds); a
             traced c runs one tile loop per level under ``lax.switch`` (``_levels_by_switch``)
  "bisect"   the (c+1)-th smallest / largest integer key built bit by bit by counting
             (``_bisect_bounds``): 32 passes for float32 whatever c, compiles in seconds; larger c
  "sort"     ``jnp.sort`` over the batch axis: the GPU / TPU default
  The last two clip the values between the two order statistics (on keys) and sum them in
  example order; all three give the exact order statistics.

The optax transform that applies it to per-example gradients is
:func:`cgnb.engine.transforms.winsorized_mean`.

How the winsorized mean is computed fast
  Sorting the B per-example values of every coordinate costs ~1000x a plain SGD step on a CPU.
  The c-winsorized mean only needs the c largest and c smallest values of every coordinate and
  the two clipping bounds: ``sum_i clip(g_i, lo, hi) = (sum of the B - 2c middle values) +
  c * hi + c * lo``. One pass over the examples finds them with two insertion networks of
  2c min/max each (see ``_winsorized_kernel``), adding the middle values as they fall out, so
  no extreme value is ever subtracted (infinite outliers are clipped away as by a sort).
  Four details make this fast on XLA:CPU:

  * the min/max run on integer keys (the float's bits, negatives flipped, so that integer order
    is float order) -- one instruction each instead of the NaN-aware float min/max sequence;
  * the loop over examples is unrolled into a single loop fusion with a single output (XLA:CPU
    forms no multi-output loop fusions by default -- ``xla_cpu_use_multi_output_fusion`` is
    off -- so carrying the running lists through a ``lax.scan`` recomputes them once per
    list); for a static c that expression covers all coordinates at once as the body of a
    while loop (so that XLA compiles it once instead of fusing a copy into every consumer),
    and XLA:CPU splits it across its threads (``_one_kernel``; the loops of ``_tile_loop``
    serve the other algorithms);
  * the engine compiles with 512-bit vectors preferred on the CPU
    (:data:`cgnb.engine.xla.COMPILER_OPTIONS`): the min/max chains run on half as many
    instructions where the CPU has AVX-512;
  * for MLPs, :func:`cgnb.engine.winsorize_mlp.mlp_winsorized_grad` never materialises the (B, P) per-example gradients:
    each tile computes ``a_i[r] * delta_i[s]`` on the fly from the layer inputs ``a`` and the
    pre-activation gradients ``delta``.

  NaN keys order above +inf (or below -inf for a negative sign bit), so a NaN is clipped away
  like an infinite value when c >= 1 (a sort-and-clip would return NaN).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


PyTree = Any

# Tile sizes of the order-statistics kernels (coordinates per loop iteration).
GENERIC_TILE = 8192
MLP_TILE_ROWS = 32
MLP_TILE_COLS = 256
# Order-statistics algorithms (see _pick_method): "network" (insertion networks, ~4 c min/max per
# value; its unrolled program grows with B * c), "bisect" (counting bit by bit on the integer
# keys: 32 passes whatever c, a small program), "sort" (jnp.sort over the batch: the GPU choice).
# On the CPU the network serves c (or c_max) <= NETWORK_MAX_LEVEL with B * c <= NETWORK_MAX_WORK and
# B <= NETWORK_MAX_BATCH, bisection everything else. XLA:CPU's compile time of the unrolled
# network is not smooth in B and c: for the MLP path at B = 100, c = 8 compiled in 4 s and c = 9
# did not finish in 90 s; at B = 128, c = 4 took 2.4 s, c = 5 did not finish in 30 s (13 s at
# B = 127); B = 256, c = 2 did not finish in 30 s; B = 120, c = 5 and B = 100, c = 6 took 2 s.
METHODS = ("network", "bisect", "sort")
NETWORK_MAX_LEVEL = 6
NETWORK_MAX_WORK = 600
NETWORK_MAX_BATCH = 128


# ============================================================================ the kernel

# The insertion network works on integer keys: for IEEE floats, flipping the 31 magnitude bits of
# negative numbers makes signed-integer order equal float order (-0.0 sorts just below +0.0, which
# changes no clipped value). The map is its own inverse.
_KEY_DTYPES = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}
_UNSIGNED_DTYPES = {2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}


def _to_key(x: jax.Array) -> jax.Array:
    itype = _KEY_DTYPES[x.dtype.itemsize]
    return _flip(lax.bitcast_convert_type(x, itype))


def _from_key(k: jax.Array, dtype) -> jax.Array:
    return lax.bitcast_convert_type(_flip(k), dtype)


def _flip(i: jax.Array) -> jax.Array:
    bits = 8 * i.dtype.itemsize
    sign = lax.shift_right_arithmetic(i, np.array(bits - 1, i.dtype))
    return lax.bitwise_xor(i, lax.bitwise_and(sign, np.array(2 ** (bits - 1) - 1, i.dtype)))


def _insert(running: list[jax.Array], value: jax.Array, keep: Callable, pass_on: Callable) -> list[jax.Array]:
    """Push ``value`` through the sorted running list ``running`` (updated in place), one
    elementwise compare-exchange per entry: ``keep`` (max for a top list, min for a bottom list)
    stays, ``pass_on`` moves down. Returns ``[value, out_1, ..., out_L]``: what leaves each
    depth, so ``out_L`` is the value pushed out of the whole list."""
    carries, carry = [value], value
    for j in range(len(running)):
        running[j], carry = keep(running[j], carry), pass_on(running[j], carry)
        carries.append(carry)
    return carries


def _winsorized_kernel(example: Callable[[int], jax.Array], n: int, c: int, dtype) -> jax.Array:
    """Winsorized mean over ``n`` examples ``example(i)`` (same shape each) for a static c >= 1.

    Every value passes two insertion networks of integer keys: ``top`` keeps the c largest
    values seen; the value it evicts (not among the c largest) enters ``bot``, which keeps the c
    smallest of those; the value ``bot`` evicts is a middle value and is added to ``mid``. At
    the end ``hi`` = the largest value evicted by ``top`` = the (c+1)-th largest, ``lo`` = the
    smallest evicted by ``bot`` = the (c+1)-th smallest, and the winsorized mean is
    ``(mid + c * hi + c * lo) / n`` -- no extreme value is ever subtracted, so infinite or huge
    outliers are clipped away exactly as by a sort. One expression (the loop over examples is
    unrolled): about 4 c integer min/max per value.
    """
    mid = hi = lo = None
    top: list = []
    bot: list = []
    for i in range(n):
        value = example(i)
        key = _to_key(value)
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
        mid = mid + _from_key(middle, dtype)
    hi, lo = _from_key(hi, dtype), _from_key(lo, dtype)
    return (mid + c * hi + c * lo) / n


def _unsigned(keys: jax.Array) -> jax.Array:
    """Integer keys -> unsigned integers of the same order (sign bit flipped)."""
    utype = _UNSIGNED_DTYPES[keys.dtype.itemsize]
    bits = 8 * keys.dtype.itemsize
    return lax.bitwise_xor(lax.bitcast_convert_type(keys, utype), np.array(1 << (bits - 1), utype))


def _bisect_bounds(keys: jax.Array, c: int | jax.Array) -> tuple[jax.Array, jax.Array]:
    """Keys of the (c+1)-th smallest and largest over axis 0 of ``keys`` (n, ...), by counting.

    The k-th smallest of every coordinate is built bit by bit from the top: bit b is 0 when at
    least k values are <= (the bits found so far, bit b = 0, all lower bits 1). One pass over
    the n values per bit (32 for float32), both ranks in the same pass; the program's size does
    not depend on c or n, and c may be traced.
    """
    n, bits = keys.shape[0], 8 * keys.dtype.itemsize
    u = _unsigned(keys)
    utype = u.dtype
    need = jnp.stack([jnp.asarray(c) + 1, n - jnp.asarray(c)]).astype(jnp.int32)  # ranks of lo, hi
    need = need.reshape((2,) + (1,) * (u.ndim - 1))

    def body(j, ans):  # ans (2, ...): the bits of both order statistics found so far
        bit = lax.shift_left(np.array(1, utype), (bits - 1 - j).astype(utype))
        probe = lax.bitwise_or(ans, bit - np.array(1, utype))
        count = jnp.sum((u[None] <= probe[:, None]).astype(jnp.int32), axis=1)
        return jnp.where(count >= need, ans, lax.bitwise_or(ans, bit))

    ans = lax.fori_loop(0, bits, body, jnp.zeros((2,) + u.shape[1:], utype))
    keys_out = lax.bitcast_convert_type(lax.bitwise_xor(ans, np.array(1 << (bits - 1), utype)), keys.dtype)
    return keys_out[0], keys_out[1]


def _sort_bounds(keys: jax.Array, c: int | jax.Array) -> tuple[jax.Array, jax.Array]:
    """Keys of the (c+1)-th smallest and largest over axis 0 by a sort (fast on GPUs)."""
    s = jnp.sort(keys, axis=0)
    n = keys.shape[0]
    return (lax.dynamic_index_in_dim(s, c, 0, keepdims=False),
            lax.dynamic_index_in_dim(s, n - 1 - jnp.asarray(c), 0, keepdims=False))


def _clipped_mean(example: Callable[[int], jax.Array], n: int, lo: jax.Array, hi: jax.Array,
                  dtype) -> jax.Array:
    """``sum_i clip(example(i), lo, hi) / n`` with the bounds given as keys; the clip works on
    keys, so NaNs are clipped away like infinite values. Summed in example order."""
    total = None
    for i in range(n):
        value = _from_key(lax.clamp(lo, _to_key(example(i)), hi), dtype)
        total = value if total is None else total + value
    return total / n


def _mean_in_order(example: Callable[[int], jax.Array], n: int) -> jax.Array:
    """``sum_i example(i) / n`` summed in example order (c = 0)."""
    total = example(0)
    for i in range(1, n):
        total = total + example(i)
    return total / n


def _pick_method(method: str | None, c_static: int | None, levels: int, batch: int) -> str:
    """The order-statistics algorithm: ``method`` if given, else by backend, level and batch size
    (the network where XLA:CPU compiles it in seconds, see :data:`NETWORK_MAX_WORK`)."""
    if method is not None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS} or None, got {method!r}")
        return method
    if jax.default_backend() != "cpu":
        return "sort"
    level = levels if c_static is None else c_static
    small = level <= NETWORK_MAX_LEVEL and batch * level <= NETWORK_MAX_WORK and batch <= NETWORK_MAX_BATCH
    return "network" if small else "bisect"


def _tile_mean(example: Callable[[int], jax.Array], block: Callable[[], jax.Array], n: int,
               c: int | jax.Array, levels: int, dtype, method: str) -> jax.Array:
    """The winsorized mean of one tile: values ``example(i)`` or all at once ``block()`` (n, ...)."""
    static = isinstance(c, int)
    if static and c == 0:
        return _mean_in_order(example, n)
    if method == "network":  # a static c here: a traced one is split by _levels_by_switch
        return _winsorized_kernel(example, n, c, dtype)
    keys = _to_key(block())
    lo, hi = (_bisect_bounds if method == "bisect" else _sort_bounds)(keys, c)
    mean = _clipped_mean(example, n, lo, hi, dtype)
    return mean if static else _nan_outside(mean, c, levels)


def _nan_outside(value: jax.Array, c: jax.Array, levels: int) -> jax.Array:
    return jnp.where((c >= 0) & (c <= levels), value, jnp.nan)


def _levels_by_switch(run: Callable[[int | jax.Array], jax.Array], c: int | jax.Array, levels: int,
                      method: str) -> jax.Array:
    """``run(c)`` (a whole tile loop); a traced c with the network becomes one branch per level,
    each its own tile loop with the static kernel. Selecting the level inside one network (per
    example, or from two lists at the end), or branching per tile, made XLA:CPU fuse the levels
    into one expression it split and recomputed: minutes per step for c_max >= 3. Under ``vmap``
    every branch runs."""
    if isinstance(c, int) or method != "network":
        return run(c)
    branches = [lambda level=level: run(level) for level in range(levels + 1)]
    return _nan_outside(lax.switch(jnp.clip(c, 0, levels), branches), c, levels)


def _tile_loop(n_tiles: int, tile: Callable[[jax.Array], jax.Array], tile_shape: tuple[int, ...],
               dtype) -> jax.Array:
    """``stack([tile(t) for t in range(n_tiles)])`` by a ``fori_loop`` over the tiles: (n_tiles, *tile_shape).

    The loop keeps XLA from fusing a copy of the (large, unrolled) kernel into every consumer of
    the result, so it is compiled once; but the kernel then writes in place into the loop's
    output, and XLA:CPU runs such kernels on one thread. Every loop runs >= 2 trips (a single
    trip would be inlined). The passes of the counting algorithm (which re-read each tile 32
    times and so want it in cache) and the branches of a traced c run this way; the static-c
    network runs as one kernel over all coordinates (:func:`_one_kernel`), which XLA:CPU splits
    across its threads (1.8 of 2 cores busy, against 1.1 for the loop).
    """
    def body(t, out):
        return lax.dynamic_update_index_in_dim(out, tile(t), t, 0)

    return lax.fori_loop(0, n_tiles, body, jnp.zeros((n_tiles, *tile_shape), dtype))


def _one_kernel(compute: Callable[[], jax.Array], opaque: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """``compute()`` (of ``shape``) as a kernel of its own that no consumer of the result fuses a copy of.

    XLA fuses an elementwise expression into each of its consumers, so a winsorized gradient read
    by the parameter update and by, say, a norm would be computed twice (measured: 2x the time),
    and ``lax.optimization_barrier`` does not prevent it (XLA:CPU removes barriers before
    fusion). A while loop is a fusion boundary: ``compute()`` is its body, and its trip count is
    one unless the scalar ``opaque`` is NaN -- then two trips compute the same value twice -- so
    that XLA cannot know it and inline the loop. (A conditional would do as well, but under
    ``vmap`` its predicate is batched and both branches run.)
    """
    trips = 1 + jnp.isnan(opaque).astype(jnp.int32)

    def body(state):
        return state[0] + 1, compute()

    return lax.while_loop(lambda state: state[0] < trips, body, (jnp.int32(0), jnp.zeros(shape, dtype)))[1]


def _static_int(value: Any, name: str) -> int | None:
    """``int(value)`` when value is a concrete integer, None when it is traced."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (bool, np.bool_)) or not (np.ndim(value) == 0 and np.issubdtype(
            np.asarray(value).dtype, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def check_levels(c: int | jax.Array, c_max: int | None) -> int | None:
    """Raise ValueError unless c is an integer (Python or traced) and c_max None or a Python int.

    Returns ``int(c)`` for a concrete c, None for a traced one. The range checks need the batch
    size and happen when the kernel runs.
    """
    c_static = _static_int(c, "c")
    if c_max is not None and _static_int(c_max, "c_max") is None:
        raise ValueError("c_max must be a Python int (it fixes the program's size); pass the traced "
                         "winsorization level as c")
    return c_static


def _check_c(c: int | jax.Array, c_max: int | None, batch: int) -> tuple[int | None, int]:
    """Validate (c, c_max) for a batch of ``batch``; returns (static c or None, k = c_max + 1)."""
    c_static = _static_int(c, "c")
    if c_max is not None:
        c_max = _static_int(c_max, "c_max")
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
    k = (c_max if c_max is not None else c_static) + 1
    return c_static, k


def winsorize(per_example: jax.Array, c: int | jax.Array, c_max: int | None = None,
              method: str | None = None) -> jax.Array:
    """The c-winsorized mean over the leading (batch) axis: (B, ...) -> (...).

    For every coordinate j with values ``v_1j..v_Bj`` sorted as ``v_(1) <= ... <= v_(B)``::

        lo_j = v_(c+1),   hi_j = v_(B-c),   w_j = (1/B) sum_i clip(v_ij, lo_j, hi_j),

    i.e. the c smallest and c largest values are replaced by the (c+1)-th smallest / largest
    (ties count with their multiplicity, as in a sort). ``c = 0`` is the mean; a Python int
    ``c = 0`` returns ``jnp.mean(per_example, axis=0)`` itself.

    Args:
      per_example: (B, ...) floating array, e.g. one leaf of :func:`cgnb.engine.pergrad.per_example_grads`.
      c: 0 <= c < B/2; a Python int, or a traced integer (then ``c_max`` is required and the
        result is NaN for a c outside [0, c_max]).
      c_max: static upper bound of c: one program keeps the c_max extreme values of each side
        and selects the evictions at level c at run time, so ``vmap`` over c in {0, 1, 2, 4}
        (c_max = 4) runs as one program. A traced c = 0 equals the mean up to float rounding.

    Cost: one pass over the B examples with about 4 c integer min/max per value (4 c_max plus
    two selections for a traced c); no sort. NaNs count as infinite values (see the module doc).
    """
    per_example = jnp.asarray(per_example)
    if per_example.ndim < 1 or per_example.shape[0] < 1:
        raise ValueError(f"per_example must have a leading batch axis of size >= 1, got shape "
                         f"{per_example.shape}")
    if not jnp.issubdtype(per_example.dtype, jnp.floating):
        raise ValueError(f"per_example must be a floating array, got dtype {per_example.dtype}")
    batch = per_example.shape[0]
    c_static, k = _check_c(c, c_max, batch)
    if c_static == 0:
        return jnp.mean(per_example, axis=0)
    shape = per_example.shape[1:]
    return _winsorize_columns(per_example.reshape(batch, -1), c, c_static, k - 1, method).reshape(shape)


def _winsorize_columns(flat: jax.Array, c: int | jax.Array, c_static: int | None, levels: int,
                       method: str | None) -> jax.Array:
    """The winsorized mean of every column of ``flat`` (B, n) -> (n,), for a checked c >= 1
    (static) or traced c in [0, levels].

    The static-c network reads all columns in one kernel; the loops of the other algorithms read
    tiles of a padded copy.
    """
    (batch, n), dtype = flat.shape, flat.dtype
    method = _pick_method(method, c_static, levels, batch)
    if c_static is not None and method == "network":
        return _one_kernel(lambda: _winsorized_kernel(lambda i: flat[i], batch, c_static, dtype), flat[0, 0], (n,), dtype)
    n_tiles = max(2, -(-n // GENERIC_TILE))
    width = -(-n // n_tiles)
    flat = jnp.pad(flat, ((0, 0), (0, n_tiles * width - n))).reshape(batch, n_tiles, width)

    def tile(t, level):
        block = lax.dynamic_index_in_dim(flat, t, 1, keepdims=False)  # (B, width)
        return _tile_mean(lambda i: block[i], lambda: block, batch, level, levels, dtype, method)

    def run(level):
        return _tile_loop(n_tiles, functools.partial(tile, level=level), (width,), dtype)

    c_use = c_static if c_static is not None else c
    return _levels_by_switch(run, c_use, levels, method).reshape(-1)[:n]


def _stack_leaves(per_example: PyTree) -> tuple[jax.Array, Callable[[jax.Array], PyTree], int]:
    """Per-example pytree (leading axis B on every leaf) -> (B, P) array, unravel, B. (Reading the
    leaves inside the network's kernel instead of this copy made XLA:CPU's code 3.5x slower.)"""
    leaves, treedef = jax.tree_util.tree_flatten(per_example)
    if not leaves:
        raise ValueError("per-example updates are an empty pytree")
    batch = leaves[0].shape[0] if jnp.ndim(leaves[0]) else None
    if batch is None or any(jnp.ndim(l) < 1 or l.shape[0] != batch for l in leaves):
        raise ValueError("per-example updates must have the same leading batch axis B on every leaf, "
                         f"got shapes {[jnp.shape(l) for l in leaves]}; feed pergrad.per_example_grads(...)")
    if not all(jnp.issubdtype(l.dtype, jnp.floating) for l in leaves):
        raise ValueError(f"per-example updates must be floating arrays, got dtypes {[l.dtype for l in leaves]}")
    shapes = [l.shape[1:] for l in leaves]
    sizes = [math.prod(s) for s in shapes]
    dtype = jnp.result_type(*leaves)
    flat = jnp.concatenate([l.reshape(batch, -1).astype(dtype) for l in leaves], axis=1)

    def unravel(vec):
        parts, start = [], 0
        for leaf, shape, size in zip(leaves, shapes, sizes):
            parts.append(vec[start:start + size].reshape(shape).astype(leaf.dtype))
            start += size
        return jax.tree_util.tree_unflatten(treedef, parts)

    return flat, unravel, batch


def winsorize_tree(per_example: PyTree, c: int | jax.Array, c_max: int | None = None,
                   method: str | None = None) -> PyTree:
    """:func:`winsorize` of a pytree of per-example values: every leaf (B, ...) -> (...).

    All leaves are concatenated into one (B, P) array and processed by one kernel; a Python int
    c = 0 returns ``jnp.mean(leaf, axis=0)`` of every leaf (no concatenation).
    """
    flat, unravel, batch = _stack_leaves(per_example)
    c_static, k = _check_c(c, c_max, batch)
    if c_static == 0:  # the exact mean of every leaf (XLA folds it into a backward pass)
        return jax.tree_util.tree_map(lambda leaf: jnp.mean(leaf, axis=0), per_example)
    return unravel(_winsorize_columns(flat, c, c_static, k - 1, method))


__all__ = ["check_levels", "winsorize", "winsorize_tree", "METHODS", "NETWORK_MAX_LEVEL", "NETWORK_MAX_WORK",
           "NETWORK_MAX_BATCH", "GENERIC_TILE", "MLP_TILE_ROWS", "MLP_TILE_COLS"]
