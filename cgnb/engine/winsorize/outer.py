"""The winsorized mean of per-example dense-layer gradients given as outer products, never materialised.

For example i, a dense layer's weight gradient is ``outer(a_i, delta_i)`` and its bias gradient
``delta_i`` (``a`` the layer input, ``delta`` the gradient of the loss with respect to the
pre-activation: :class:`cgnb.engine.pergrad.MLPFactors`). :func:`winsorize_outer` equals
:func:`cgnb.engine.winsorize.winsorize` of the (B, P) per-example gradients, leaf by leaf, but forms
each tile's values ``a_i[r] * delta_i[s]`` on the fly, so the (B, P) gradients never exist.

Reference: Goodfellow, "Efficient per-example gradient computations", 2015 (the factored form).
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .kernel import NETWORKS, check_c, one_kernel, pick_method, tile_loop, tile_mean

MLP_TILE_ROWS = 32  # tile shape of the factored path (rows of a, columns of delta)
MLP_TILE_COLS = 256


class TilePlan(NamedTuple):
    """Every layer's (d_in + 1) x d_out gradient (bias as a row of ones) covered with tiles."""
    left: jax.Array  # (n_left_blocks, B, R)
    right: jax.Array  # (n_right_blocks, B, C)
    left_index: np.ndarray  # (n_tiles,) which left block each tile uses
    right_index: np.ndarray  # (n_tiles,)
    layers: list  # per layer: (first tile, n_row_tiles, n_col_tiles, rows, cols, transposed)


def tile_plan(inputs: Sequence[jax.Array], deltas: Sequence[jax.Array], rows: int, cols: int) -> TilePlan:
    """The tiles of every layer's gradient: a tile's values for example i are ``left[i][:, None] * right[i][None, :]``.

    Narrow layers are laid out transposed (delta on the left) when that needs fewer padded tiles.

    Args:
      inputs, deltas: per layer, a (B, d_in) and delta (B, d_out).
      rows, cols: the tile shape.
    """
    batch = inputs[0].shape[0]
    ones = jnp.ones((batch, 1), inputs[0].dtype)
    lefts, rights, li, ri, layers = [], [], [], [], []
    n_left = n_right = n_tiles = 0
    for a, d in zip(inputs, deltas):
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
    return TilePlan(left, right, np.asarray(li, np.int32), np.asarray(ri, np.int32), layers)


def winsorize_outer(inputs: Sequence[jax.Array], deltas: Sequence[jax.Array], c: int | jax.Array,
                    c_max: int | None = None, method: str | None = None) -> list:
    """The c-winsorized mean gradient of dense layers whose per-example gradients are given in factored form.

    Args:
      inputs: per layer, the layer inputs ``a`` (B, d_in).
      deltas: per layer, the pre-activation gradients ``delta`` (B, d_out).
      c, c_max, method: as in :func:`cgnb.engine.winsorize.winsorize`; a Python int c = 0 returns the
        mean gradient ``sum_i outer(a_i, delta_i) / B``.
    Returns:
      ``[{"w": (d_in, d_out), "b": (d_out,)}, ...]``: :func:`cgnb.engine.winsorize.winsorize` of the
      per-example gradients ``{"w": outer(a_i, delta_i), "b": delta_i}``, leaf by leaf.
    Raises:
      ValueError: no layers, or a level out of range.
    """
    if not inputs or len(inputs) != len(deltas):
        raise ValueError(f"winsorize_outer needs one (inputs, deltas) pair per dense layer, got {len(inputs)} "
                         f"inputs and {len(deltas)} deltas; use pergrad.mlp_factors(...) to get them")
    batch = inputs[0].shape[0]
    c_static, levels = check_c(c, c_max, batch)
    if c_static == 0:
        return [{"w": a.T @ d / batch, "b": jnp.sum(d, axis=0) / batch} for a, d in zip(inputs, deltas)]
    c_use = c_static if c_static is not None else c
    method = pick_method(method, c_static, levels, batch)
    plan = tile_plan(inputs, deltas, MLP_TILE_ROWS, MLP_TILE_COLS)
    return map_tiles(plan, lambda example, block: tile_mean(example, block, batch, c_use, levels, plan.left.dtype,
                                                             method), one_program=method in NETWORKS)


def map_tiles(plan: TilePlan, per_tile: Callable[[Callable[[int], jax.Array], Callable[[], jax.Array]], jax.Array],
              one_program: bool) -> list:
    """Every layer's gradient computed tile by tile: ``per_tile(example, block)`` (R, C) for each tile of ``plan``.

    Args:
      plan: :func:`tile_plan`'s tiles (of shape ``MLP_TILE_ROWS x MLP_TILE_COLS``).
      per_tile: given ``example(i)`` (R, C), example i's values ``left[i][:, None] * right[i][None, :]``, and
        ``block()`` (B, R, C), all of them at once, one tile's result.
      one_program: all tiles as one kernel (:func:`cgnb.engine.winsorize.kernel.one_kernel`), as the networks
        run; else a loop over the tiles.
    Returns:
      ``[{"w": (d_in, d_out), "b": (d_out,)}, ...]`` assembled from the tiles.
    """
    dtype = plan.left.dtype
    # at least two tiles: a single-trip loop would be inlined and its kernel re-fused per consumer
    n_tiles = max(2, len(plan.left_index))
    left_index = jnp.asarray(np.resize(plan.left_index, n_tiles))
    right_index = jnp.asarray(np.resize(plan.right_index, n_tiles))

    def tile(t):
        lf = lax.dynamic_index_in_dim(plan.left, left_index[t], 0, keepdims=False)  # (B, R)
        rf = lax.dynamic_index_in_dim(plan.right, right_index[t], 0, keepdims=False)  # (B, C)
        return per_tile(lambda i: lf[i][:, None] * rf[i][None, :], lambda: lf[:, :, None] * rf[:, None, :])

    shape = (n_tiles, MLP_TILE_ROWS, MLP_TILE_COLS)
    if one_program:
        out = one_kernel(lambda: jax.vmap(tile)(jnp.arange(n_tiles)), plan.left[0, 0, 0], shape, dtype)
    else:
        out = tile_loop(n_tiles, tile, shape[1:], dtype)
    return _untile(out, plan)


def _untile(out: jax.Array, plan: TilePlan) -> list:
    """The layers' gradients ``[{"w", "b"}, ...]`` from the tiles ``out`` (n_tiles, R, C) of ``plan``."""
    grads = []
    for first, nr, nc, n_rows, n_cols, transposed in plan.layers:
        block = out[first:first + nr * nc].reshape(nr, nc, MLP_TILE_ROWS, MLP_TILE_COLS)
        block = block.transpose(0, 2, 1, 3).reshape(nr * MLP_TILE_ROWS, nc * MLP_TILE_COLS)[:n_rows, :n_cols]
        if transposed:
            block = block.T
        grads.append({"w": block[:-1], "b": block[-1]})
    return grads


__all__ = ["MLP_TILE_ROWS", "MLP_TILE_COLS", "TilePlan", "tile_plan", "winsorize_outer", "map_tiles"]
