"""Chapter 6's nearby field: minibatch gradients on a grid around two scalar parameters.

Two scalar parameters ``x = (x1, x2)`` (biases, :func:`cgnb.chapters.minibatch_sensitivity.models.bias_coords`) are
moved over a grid ``x + (e_i, e_j)`` (:func:`grid_offsets`) with everything else fixed;
:func:`gradient_field` returns the 2-D gradient ``grad_x J`` of one minibatch at every grid point,
:func:`roughness` the mean angle between neighbouring arrows, and :func:`field_roughness` both
for many pairs and minibatches. With dropout the noise is fresh at every grid point (as at every
training step) or one frozen mask.

Reference: "Gradients are sensitive to minibatch composition" (blog post).
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import xla
from ...engine.losses import Loss, Params
from .models import Coord, get_coords, join_coords, set_coords, split_coords


def grid_offsets(spacing: float, n: int) -> np.ndarray:
    """``n`` (odd) offsets ``spacing * (-(n-1)/2, ..., 0, ..., (n-1)/2)``; the middle one is the true value.

    Raises:
      ValueError: ``n`` not odd and >= 3, or ``spacing <= 0``.
    """
    if n < 3 or n % 2 == 0:
        raise ValueError(f"the grid needs an odd number n >= 3 of points per axis (a centre), got {n}")
    if not spacing > 0:
        raise ValueError(f"spacing must be > 0, got {spacing}")
    return spacing * (np.arange(n) - (n - 1) // 2)


def gradient_field(loss_fn: Loss, params: Params, coords: Sequence[Coord], x: jax.Array, y: jax.Array,
                   offsets: np.ndarray, *, key: jax.Array | None = None, fresh_noise: bool = True) -> np.ndarray:
    """The 2-D gradient ``grad_(x1, x2) J`` on the grid ``(x1 + offsets[i], x2 + offsets[j])``, one minibatch.

    Args:
      loss_fn, params: as in :func:`cgnb.chapters.minibatch_sensitivity.measures.minibatch_gradients`; all other parameters stay at ``params``.
      coords: the two scalars ``(x1, x2)``.
      x, y: one minibatch (B, D), (B,).
      offsets: (n,) grid offsets (:func:`grid_offsets`).
      key: PRNG key for the loss's noise (dropout), or None for a deterministic loss.
      fresh_noise: with a key, draw new noise at every grid point (as every training step does),
        otherwise use the same key everywhere (a frozen dropout mask).

    Returns:
      (n, n, 2) float64: ``field[i, j] = grad at (x1 + offsets[i], x2 + offsets[j])``.

    Raises:
      ValueError: not exactly two coordinates.
    """
    if len(coords) != 2:
        raise ValueError(f"a gradient field needs exactly two coordinates, got {len(coords)}")
    offsets = np.asarray(offsets, np.float32)
    n = len(offsets)
    centre = get_coords(params, coords)
    d1, d2 = np.meshgrid(offsets, offsets, indexing="ij")
    points = centre + jnp.asarray(np.stack([d1.ravel(), d2.ravel()], axis=1))
    if key is None:
        keys, mode = None, "none"
    elif fresh_noise:
        keys, mode = jax.random.split(key, n * n), "fresh"
    else:
        keys, mode = key, "fixed"
    static, units = split_coords(coords)
    field = _field_fn(loss_fn, static, mode)(params, points, jnp.asarray(x), jnp.asarray(y), keys, units)
    return np.asarray(field, np.float64).reshape(n, n, 2)


@functools.lru_cache(maxsize=64)
def _field_fn(loss_fn: Loss, static: tuple[tuple[int, str], ...], mode: str):
    """Jitted ``(params, points (G, 2), x, y, keys, units) -> (G, 2)`` gradients at the grid points."""

    def partial_grad(params, values, x, y, k, units):
        coords = join_coords(static, units)
        return jax.grad(lambda v: jnp.mean(loss_fn(set_coords(params, coords, v), x, y, key=k)))(values)

    def fn(p, pts, x, y, keys, units):
        if mode == "none":
            return jax.vmap(lambda v: partial_grad(p, v, x, y, None, units))(pts)
        if mode == "fresh":
            return jax.vmap(lambda v, k: partial_grad(p, v, x, y, k, units))(pts, keys)
        return jax.vmap(lambda v: partial_grad(p, v, x, y, keys, units))(pts)

    return xla.jit(fn)


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees, in [0, 180], between 2-D vectors ``a`` and ``b`` (..., 2) (a zero vector counts as angle 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = np.arctan2(a[..., 1], a[..., 0]) - np.arctan2(b[..., 1], b[..., 0])
    return np.degrees(np.abs((diff + np.pi) % (2 * np.pi) - np.pi))


def roughness(field: np.ndarray) -> float:
    """Mean angle (degrees) between the arrows of horizontally and vertically adjacent grid points.

    ``field`` (n, m, 2); 0 for a uniform field, about 90 for arrows of random directions.

    Raises:
      ValueError: ``field`` not (n, m, 2) with n, m >= 2.
    """
    field = np.asarray(field)
    if field.ndim != 3 or field.shape[-1] != 2 or min(field.shape[:2]) < 2:
        raise ValueError(f"field must be (n, m, 2) with n, m >= 2, got shape {field.shape}")
    along_i = angle_between(field[1:, :], field[:-1, :])
    along_j = angle_between(field[:, 1:], field[:, :-1])
    return float(np.mean(np.concatenate([along_i.ravel(), along_j.ravel()])))


def field_roughness(loss_fn: Loss, params: Params, pairs: Sequence[tuple[Coord, Coord]], x: np.ndarray,
                    y: np.ndarray, batches: np.ndarray, offsets: np.ndarray, *, key: jax.Array | None = None,
                    fresh_noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """:func:`roughness` of the field of every pair in ``pairs`` for every minibatch in ``batches`` (M, B).

    With a ``key``, minibatch ``m`` gets noise key ``fold_in(key, m)`` (fresh per grid point unless
    ``fresh_noise=False``). Returns ``(roughness (len(pairs), M) degrees, field of pair 0 and minibatch 0
    (n, n, 2))``.
    """
    out, first = np.zeros((len(pairs), len(batches))), None
    for p, pair in enumerate(pairs):
        for m, index in enumerate(np.asarray(batches)):
            k = None if key is None else jax.random.fold_in(key, m)
            field = gradient_field(loss_fn, params, pair, x[index], y[index], offsets, key=k, fresh_noise=fresh_noise)
            out[p, m] = roughness(field)
            if first is None:
                first = field
    return out, first
