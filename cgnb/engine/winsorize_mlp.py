"""The c-winsorized mean gradient of an MLP from its per-example gradients in factored form.

:func:`mlp_winsorized_grad` equals :func:`cgnb.engine.winsorize.winsorize` of the (B, P)
per-example gradients, leaf by leaf, but builds them tile by tile from the layer inputs and
back-propagated errors (:class:`cgnb.engine.pergrad.MLPFactors`), so they never exist in memory.
It runs the same kernel (:mod:`cgnb.engine.winsorize`) on each tile.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import pergrad
from .winsorize import (MLP_TILE_COLS, MLP_TILE_ROWS, _check_c, _levels_by_switch, _one_kernel, _pick_method,
                        _tile_loop, _tile_mean)

class _TilePlan(NamedTuple):
    left: jax.Array  # (n_left_blocks, B, R)
    right: jax.Array  # (n_right_blocks, B, C)
    left_index: np.ndarray  # (n_tiles,) which left block each tile uses
    right_index: np.ndarray  # (n_tiles,)
    layers: list  # per layer: (first tile, n_row_tiles, n_col_tiles, rows, cols, transposed)


def _mlp_tile_plan(f: pergrad.MLPFactors, rows: int, cols: int) -> _TilePlan:
    """Cover every layer's (d_in + 1) x d_out gradient (bias as a row of ones) with tiles.

    A tile's values for example i are ``left[i][:, None] * right[i][None, :]``; narrow layers
    are laid out transposed (delta on the left) when that needs fewer padded tiles.
    """
    batch = f.losses.shape[0]
    ones = jnp.ones((batch, 1), f.inputs[0].dtype)
    lefts, rights, li, ri, layers = [], [], [], [], []
    n_left = n_right = n_tiles = 0
    for a, d in zip(f.inputs, f.deltas):
        aug = jnp.concatenate([a, ones], axis=1)

        def padded(m, n):
            return -(-m // rows) * rows * (-(-n // cols) * cols)

        transposed = padded(d.shape[1], aug.shape[1]) < padded(aug.shape[1], d.shape[1])
        lf, rf = (d, aug) if transposed else (aug, d)
        nr, nc = -(-lf.shape[1] // rows), -(-rf.shape[1] // cols)
        lefts.append(jnp.pad(lf, ((0, 0), (0, nr * rows - lf.shape[1]))).reshape(batch, nr, rows))
        rights.append(jnp.pad(rf, ((0, 0), (0, nc * cols - rf.shape[1]))).reshape(batch, nc, cols))
        li += [n_left + r for r in range(nr) for _ in range(nc)]
        ri += [n_right + s for _ in range(nr) for s in range(nc)]
        layers.append((n_tiles, nr, nc, lf.shape[1], rf.shape[1], transposed))
        n_left, n_right, n_tiles = n_left + nr, n_right + nc, n_tiles + nr * nc
    left = jnp.concatenate(lefts, axis=1).transpose(1, 0, 2)
    right = jnp.concatenate(rights, axis=1).transpose(1, 0, 2)
    return _TilePlan(left, right, np.asarray(li, np.int32), np.asarray(ri, np.int32), layers)


def mlp_winsorized_grad(factors: pergrad.MLPFactors, c: int | jax.Array, c_max: int | None = None,
                        method: str | None = None) -> list:
    """The c-winsorized mean gradient of an MLP from its per-example gradients in factored form.

    ``factors`` are :func:`cgnb.engine.pergrad.mlp_factors` of a batch of B examples. Returns a
    pytree like the MLP's parameters (``[{"w": (d_in, d_out), "b": (d_out,)}, ...]``, no batch
    axis) equal to :func:`winsorize` of the per-example gradients leaf by leaf, computed tile by
    tile so that the (B, P) per-example gradients never exist in memory. ``c``, ``c_max`` as in
    :func:`winsorize`; a Python int c = 0 returns the mean gradient ``sum_i outer(a_i, delta_i) / B``.
    """
    if not isinstance(factors, pergrad.MLPFactors):
        raise ValueError(f"mlp_winsorized_grad needs pergrad.MLPFactors (from pergrad.mlp_factors), got "
                         f"{type(factors).__name__}; for per-example gradient arrays use winsorize")
    batch = factors.losses.shape[0]
    c_static, k = _check_c(c, c_max, batch)
    if c_static == 0:
        return [{"w": a.T @ d / batch, "b": jnp.sum(d, axis=0) / batch}
                for a, d in zip(factors.inputs, factors.deltas)]
    c_use = c_static if c_static is not None else c
    method = _pick_method(method, c_static, k - 1, batch)
    plan = _mlp_tile_plan(factors, MLP_TILE_ROWS, MLP_TILE_COLS)
    dtype = plan.left.dtype
    # at least two tiles: a single-trip loop would be inlined and its kernel re-fused per consumer
    n_tiles = max(2, len(plan.left_index))
    left_index = jnp.asarray(np.resize(plan.left_index, n_tiles))
    right_index = jnp.asarray(np.resize(plan.right_index, n_tiles))

    def tile(t, level):
        lf = lax.dynamic_index_in_dim(plan.left, left_index[t], 0, keepdims=False)  # (B, R)
        rf = lax.dynamic_index_in_dim(plan.right, right_index[t], 0, keepdims=False)  # (B, C)
        return _tile_mean(lambda i: lf[i][:, None] * rf[i][None, :], lambda: lf[:, :, None] * rf[:, None, :],
                          batch, level, k - 1, dtype, method)

    def run(level):
        return _tile_loop(n_tiles, functools.partial(tile, level=level), (MLP_TILE_ROWS, MLP_TILE_COLS), dtype)

    if c_static is not None and method == "network":  # all tiles as one kernel, split across the threads
        out = _one_kernel(lambda: jax.vmap(functools.partial(tile, level=c_static))(jnp.arange(n_tiles)),
                          plan.left[0, 0, 0], (n_tiles, MLP_TILE_ROWS, MLP_TILE_COLS), dtype)
    else:
        out = _levels_by_switch(run, c_use, k - 1, method)
    grads = []
    for first, nr, nc, n_rows, n_cols, transposed in plan.layers:
        block = out[first:first + nr * nc].reshape(nr, nc, MLP_TILE_ROWS, MLP_TILE_COLS)
        block = block.transpose(0, 2, 1, 3).reshape(nr * MLP_TILE_ROWS, nc * MLP_TILE_COLS)[:n_rows, :n_cols]
        if transposed:
            block = block.T
        grads.append({"w": block[:-1], "b": block[-1]})
    return grads


__all__ = ["mlp_winsorized_grad"]
