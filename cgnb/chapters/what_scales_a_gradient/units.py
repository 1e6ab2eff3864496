"""Chapter 2's inactive units: what switching a unit off does to every layer's weight gradient (C2.3).

A unit whose ReLU is off for an example zeroes its column of the layer's weight gradient and its
row of the next layer's (:func:`inactive_unit_gradients`). Switching one unit off for the whole
batch (:func:`unit_off`, :func:`weight_gradients`, :func:`unit_contributions`) leaves a fraction
of each layer's squared gradient norm (:func:`attenuation`), predicted by the spread of the units'
contributions ``rho`` (:func:`predicted_energy_ratio`); :func:`random_toys` measures both on random
width-3 networks. The forward and backward pass are :mod:`cgnb.chapters.what_scales_a_gradient.backprop`.

Reference: "Grokking gradients in deep neural networks" (article summary).
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import xla
from ...engine.losses import Params
from .backprop import backward, forward, per_example_gradients


def unit_off(masks: Sequence[jax.Array], hidden: int, unit: int) -> tuple:
    """Copy of ``masks`` with ``unit`` of hidden layer ``hidden`` switched off for every example.

    Raises:
      ValueError: ``hidden`` or ``unit`` out of range.
    """
    if not 0 <= hidden < len(masks):
        raise ValueError(f"hidden must be in 0..{len(masks) - 1}, got {hidden}")
    if not 0 <= unit < masks[hidden].shape[-1]:
        raise ValueError(f"unit must be in 0..{masks[hidden].shape[-1] - 1}, got {unit}")
    return tuple(m.at[:, unit].set(0.0) if i == hidden else m for i, m in enumerate(masks))


def weight_gradients(params: Params, x: jax.Array, error: jax.Array,
                     masks: Sequence[jax.Array] | None = None) -> list[jax.Array]:
    """All layers' ``dW`` for a given output error and (optionally) given ReLU patterns."""
    fwd = forward(params, x, masks)
    return [g["w"] for g in backward(params, fwd, error)]


def unit_contributions(params: Params, x: jax.Array, error: jax.Array, masks: Sequence[jax.Array],
                       hidden: int) -> tuple[list[jax.Array], list[list[jax.Array]]]:
    """Each layer's ``dW`` with all patterns ``masks`` and with each unit of ``hidden`` off.

    Returns ``(full, off)``: ``full[l]`` is layer l's ``dW``; ``off[j][l]`` the same with
    unit ``j`` of hidden layer ``hidden`` switched off (every other pattern held fixed).
    Because every ``S`` enters a layer's gradient once and linearly, the part that flows
    through unit ``j``, ``c_j = full - off[j]``, adds up over ``j`` to ``full`` when the
    biases are zero.
    """
    full = weight_gradients(params, x, error, masks)
    width = masks[hidden].shape[-1]
    off = [weight_gradients(params, x, error, unit_off(masks, hidden, j)) for j in range(width)]
    return full, off


def predicted_energy_ratio(rho: float, width: int) -> float:
    """Mean over which unit is off of ``||g - c_j||^2 / ||g||^2`` when ``g = sum_j c_j``.

    ``sum_j ||g - c_j||^2 = (n - 2) ||g||^2 + sum_j ||c_j||^2``, so the mean is
    ``(n - 2)/n + rho/n``: ``((n-1)/n)^2`` for coherent units (4/9 at n = 3),
    ``(n-1)/n`` for orthogonal ones (2/3 at n = 3).
    """
    return (width - 2) / width + rho / width


def attenuation(off: jax.Array, full: jax.Array) -> dict[str, float]:
    """How much of one layer's gradient ``full`` (d_in, d_out) is left in ``off`` (same shape).

    Returns ``energy`` ``||off||^2 / ||full||^2`` (the squared norm: the dose of chapter 1),
    ``norm`` its square root, ``total`` ``sum(off) / sum(full)``, ``zeroed`` the fraction of
    entries that became exactly zero, and ``survivor_min`` / ``survivor_max``: the range
    of ``off / full`` over the entries that did not (NaN when none survive).
    """
    off, full = np.asarray(off, np.float64), np.asarray(full, np.float64)
    energy = float(np.sum(off ** 2) / np.sum(full ** 2))
    zero = (off == 0) & (full != 0)
    keep = (off != 0) & (full != 0)
    factor = off[keep] / full[keep]
    return {"energy": energy, "norm": float(np.sqrt(energy)), "total": float(off.sum() / full.sum()),
            "zeroed": float(zero.mean()),
            "survivor_min": float(factor.min()) if factor.size else float("nan"),
            "survivor_max": float(factor.max()) if factor.size else float("nan")}


def inactive_unit_gradients(params: Params, x: jax.Array, targets: jax.Array,
                            loss: str = "softmax_ce") -> dict[str, object]:
    """Per-example ``jax.grad`` gradients checked against the ReLU patterns.

    For each example ``i`` and hidden unit ``j`` of hidden layer ``h`` that is inactive on
    that example (``S_h[i, j] = 0``), the column ``j`` of the example's gradient of layer
    ``h`` and the row ``j`` of layer ``h + 1`` should be exactly zero.

    Returns a dict: ``max_abs`` (largest absolute gradient entry in any such column or
    row, over all examples and hidden layers), ``inactive`` (H,) fraction of (example,
    unit) pairs that are inactive per hidden layer, ``zero_columns`` (H,) fraction of
    (example, unit) pairs whose gradient column is all zero.
    """
    masks = forward(params, x).masks
    per_example = per_example_gradients(params, x, targets, loss)
    worst, inactive, zero_columns = 0.0, [], []
    for h, mask in enumerate(masks):
        column = jnp.max(jnp.abs(per_example[h]["w"]), axis=1)   # (B, d_h): max over inputs
        row = jnp.max(jnp.abs(per_example[h + 1]["w"]), axis=2)  # (B, d_h): max over outputs
        off = mask == 0
        worst = max(worst, float(jnp.max(jnp.where(off, jnp.maximum(column, row), 0.0))))
        inactive.append(float(jnp.mean(off)))
        zero_columns.append(float(jnp.mean(column == 0)))
    return {"max_abs": worst, "inactive": np.array(inactive), "zero_columns": np.array(zero_columns)}


TOY_FAMILIES = ("positive", "zero_mean")


def random_toys(seed: int, seeds: int, family: str, depth: int = 4, hidden: int = 1,
                width: int = 3) -> dict[str, np.ndarray]:
    """Switch off each unit of one hidden layer in random width-``width`` toys; energy left per layer.

    Each toy is ``depth`` square ``width x width`` layers with zero biases, one input
    example, output error held at all ones and every ReLU pattern held at "all active"
    (``S = I``) except the unit switched off, as in the article's comparison.
    ``family="positive"``: weights and input uniform in [0, 1) (all paths push the same
    way); ``"zero_mean"``: Glorot-uniform weights, the distribution of
    :func:`cgnb.engine.nets.init` (uniform in +-sqrt(6 / (2 width))), and a standard normal input.
    The toys are drawn with numpy's generator seeded by ``seed`` (cheap to compile).

    Returns a dict: ``ratio`` (seeds, width, depth) ``||dW_l(unit j off)||^2 / ||dW_l||^2``;
    ``mean_ratio`` (seeds, depth) its mean over the unit ``j``; ``rho`` (seeds, depth) the
    spread ``sum_j ||c_j||^2 / ||sum_j c_j||^2`` of the units' contributions ``c_j``; ``predicted`` (seeds, depth)
    :func:`predicted_energy_ratio` of ``rho``; ``zeroed`` (seeds,) largest absolute entry of
    the zeroed column (layer ``hidden``) and row (layer ``hidden + 1``).

    Raises:
      ValueError: an unknown family, or ``hidden`` not a hidden layer.
    """
    if family not in TOY_FAMILIES:
        raise ValueError(f"family must be one of {TOY_FAMILIES}, got {family!r}")
    if not 0 <= hidden < depth - 1:
        raise ValueError(f"hidden must be a hidden layer, 0..{depth - 2}; got {hidden}")
    rng = np.random.default_rng(seed)
    if family == "positive":
        ws = rng.uniform(0.0, 1.0, (seeds, depth, width, width))
        xs = rng.uniform(0.0, 1.0, (seeds, 1, width))
    else:
        limit = np.sqrt(6.0 / (2 * width))
        ws = rng.uniform(-limit, limit, (seeds, depth, width, width))
        xs = rng.normal(size=(seeds, 1, width))
    ratio, rho, zeroed = _toy_study(jnp.asarray(ws, jnp.float32), jnp.asarray(xs, jnp.float32), hidden)
    ratio, rho = np.asarray(ratio, np.float64), np.asarray(rho, np.float64)
    return {"ratio": ratio, "mean_ratio": ratio.mean(axis=1), "rho": rho,
            "predicted": predicted_energy_ratio(rho, width), "zeroed": np.asarray(zeroed)}


@functools.partial(xla.jit, static_argnames="hidden")
def _toy_study(ws: jax.Array, xs: jax.Array, hidden: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Vmapped core of :func:`random_toys`: ws (T, L, n, n), xs (T, 1, n)."""
    depth, width = ws.shape[1], ws.shape[2]

    def one(w, x):
        params = [{"w": w[l], "b": jnp.zeros(width)} for l in range(depth)]
        error = jnp.ones((1, width))
        masks = tuple(jnp.ones((1, width)) for _ in range(depth - 1))
        full = weight_gradients(params, x, error, masks)
        silenced = jnp.ones((width, 1, width)) - jnp.eye(width)[:, None, :]   # (unit, B=1, width)
        off = jax.vmap(lambda m: weight_gradients(
            params, x, error, masks[:hidden] + (m,) + masks[hidden + 1:]))(silenced)  # leaves (unit, in, out)
        energy = [jnp.sum(g ** 2) for g in full]
        ratio = jnp.stack([jnp.sum(o ** 2, axis=(1, 2)) / e for o, e in zip(off, energy)], axis=1)  # (unit, L)
        contrib = [g[None] - o for g, o in zip(full, off)]                     # (unit, in, out) per layer
        rho = jnp.stack([jnp.sum(c ** 2) / jnp.sum(jnp.sum(c, axis=0) ** 2) for c in contrib])
        units = jnp.arange(width)
        zeroed = jnp.maximum(jnp.max(jnp.abs(off[hidden][units, :, units])),
                             jnp.max(jnp.abs(off[hidden + 1][units, units, :])))
        return ratio, rho, zeroed

    return jax.vmap(one)(ws, xs)
