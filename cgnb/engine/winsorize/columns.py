"""The winsorized mean of an array, or of a pytree, of per-example values.

:func:`winsorize` works on one array (B, ...), :func:`winsorize_tree` on a pytree whose leaves all
carry the batch axis B (e.g. :func:`cgnb.engine.pergrad.per_example_grads`), processed by one kernel.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from .kernel import NETWORKS, check_c, one_kernel, pick_method, tile_loop, tile_mean

PyTree = Any
GENERIC_TILE = 8192  # coordinates per loop iteration of the bounds algorithms


def winsorize(per_example: jax.Array, c: int | jax.Array, c_max: int | None = None,
              method: str | None = None) -> jax.Array:
    """The c-winsorized mean over the leading (batch) axis: (B, ...) -> (...).

    For every coordinate j with values ``v_1j..v_Bj`` sorted as ``v_(1) <= ... <= v_(B)``::

        lo_j = v_(c+1),   hi_j = v_(B-c),   w_j = (1/B) sum_i clip(v_ij, lo_j, hi_j),

    i.e. the c smallest and c largest values are replaced by the (c+1)-th smallest / largest
    (ties count with their multiplicity, as in a sort). A NaN counts as an infinite value.

    Args:
      per_example: (B, ...) floating array, e.g. one leaf of :func:`cgnb.engine.pergrad.per_example_grads`.
      c: 0 <= c < B/2; a Python int (``c = 0`` returns ``jnp.mean(per_example, axis=0)`` itself), or a
        traced integer (then ``c_max`` is required, and the result is NaN for a c outside [0, c_max]).
      c_max: a Python int bounding a traced c, so that one program serves every level in [0, c_max]
        (``vmap`` over c runs as one program); a traced c = 0 equals the mean up to float rounding.
      method: force an algorithm of :data:`cgnb.engine.winsorize.kernel.METHODS` (default: by backend,
        level and batch size, :func:`cgnb.engine.winsorize.kernel.pick_method`).
    Returns:
      The winsorized mean, of shape ``per_example.shape[1:]``.
    Raises:
      ValueError: no batch axis, a non-floating array, or a level out of range.

    Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
    """
    per_example = jnp.asarray(per_example)
    if per_example.ndim < 1 or per_example.shape[0] < 1:
        raise ValueError(f"per_example must have a leading batch axis of size >= 1, got shape "
                         f"{per_example.shape}")
    if not jnp.issubdtype(per_example.dtype, jnp.floating):
        raise ValueError(f"per_example must be a floating array, got dtype {per_example.dtype}")
    batch = per_example.shape[0]
    c_static, levels = check_c(c, c_max, batch)
    if c_static == 0:
        return jnp.mean(per_example, axis=0)
    shape = per_example.shape[1:]
    return _winsorize_columns(per_example.reshape(batch, -1), c, c_static, levels, method).reshape(shape)


def _winsorize_columns(flat: jax.Array, c: int | jax.Array, c_static: int | None, levels: int,
                       method: str | None) -> jax.Array:
    """The winsorized mean of every column of ``flat`` (B, n) -> (n,), for a checked c >= 1 (static)
    or a traced c in [0, levels]. The networks read all columns in one kernel; the bounds
    algorithms loop over tiles of a padded copy."""
    (batch, n), dtype = flat.shape, flat.dtype
    method = pick_method(method, c_static, levels, batch)
    c_use = c_static if c_static is not None else c
    if method in NETWORKS:
        return one_kernel(lambda: tile_mean(lambda i: flat[i], lambda: flat, batch, c_use, levels, dtype, method),
                          flat[0, 0], (n,), dtype)
    n_tiles = max(2, -(-n // GENERIC_TILE))
    width = -(-n // n_tiles)
    flat = jnp.pad(flat, ((0, 0), (0, n_tiles * width - n))).reshape(batch, n_tiles, width)

    def tile(t):
        block = lax.dynamic_index_in_dim(flat, t, 1, keepdims=False)  # (B, width)
        return tile_mean(lambda i: block[i], lambda: block, batch, c_use, levels, dtype, method)

    return tile_loop(n_tiles, tile, (width,), dtype).reshape(-1)[:n]


def _stack_leaves(per_example: PyTree) -> tuple[jax.Array, Callable[[jax.Array], PyTree], int]:
    """Per-example pytree (leading axis B on every leaf) -> (B, P) array, its unravel, B."""
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
    c = 0 returns ``jnp.mean(leaf, axis=0)`` of every leaf (no concatenation). ``c``, ``c_max`` and
    ``method`` as in :func:`winsorize`.

    Raises:
      ValueError: an empty pytree, leaves without one shared batch axis, non-floating leaves, a level
        out of range.
    """
    flat, unravel, batch = _stack_leaves(per_example)
    c_static, levels = check_c(c, c_max, batch)
    if c_static == 0:  # the exact mean of every leaf
        return jax.tree_util.tree_map(lambda leaf: jnp.mean(leaf, axis=0), per_example)
    return unravel(_winsorize_columns(flat, c, c_static, levels, method))


__all__ = ["GENERIC_TILE", "winsorize", "winsorize_tree"]
