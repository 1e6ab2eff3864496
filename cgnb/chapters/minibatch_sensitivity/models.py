"""Chapter 6's model: a :mod:`cgnb.engine.nets` MLP regressor, its loss, and its scalar parameters by coordinate.

* :func:`make_loss` -- the per-example squared error (with dropout when a key is given);
  :func:`centre_output` -- the same network with its mean prediction moved to the targets' mean;
* a :data:`Coord` ``(layer, leaf, unit)`` names one scalar parameter: :func:`bias_coords`,
  :func:`live_units`, :func:`bias_pairs` choose biases, :func:`get_coords` / :func:`set_coords` read
  and write them, :func:`split_coords` / :func:`join_coords` separate what a jitted function compiles
  in (layer and leaf) from what it traces (the unit).

Reference: "Gradients are sensitive to minibatch composition" (blog post).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import nets
from ...engine.losses import Loss, Params, squared_error

Coord = tuple[int, str, int]
"""A scalar parameter: ``(layer index in the params list, leaf name, unit index)``, e.g. ``(1, "b", 0)``."""


def centre_output(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
    """The same network with its output shifted so that its mean prediction on ``x`` is the mean of ``y``.

    Only the last layer's bias changes (by ``mean(y) - mean(forward(params, x))``, no dropout;
    batch norm uses the statistics of ``x``), so every example's error ``f(x_i) - y_i`` loses
    the part that all examples share at a start of one-signed targets, and nothing else.

    Args:
      params: a :mod:`cgnb.engine.nets` MLP with one output.
      x, y: (N, D) and (N,).

    Raises:
      ValueError: empty or mismatched data, or a network with more than one output.
    """
    if len(x) == 0 or np.ndim(y) != 1 or len(x) != len(y):
        raise ValueError(f"need x (N, D) and y (N,) with N >= 1, got {np.shape(x)} and {np.shape(y)}")
    if np.shape(params[-1]["b"]) != (1,):
        raise ValueError(f"centre_output needs a network with one output, got a last bias of shape "
                         f"{np.shape(params[-1]['b'])}")
    shift = jnp.mean(jnp.asarray(y)) - jnp.mean(nets.forward(params, jnp.asarray(x))[:, 0])
    centred = list(params)
    centred[-1] = {**params[-1], "b": params[-1]["b"] + shift}
    return centred


def make_loss(dropout_rate: float = 0.0) -> Loss:
    """``loss(params, x (B, D), y (B,), key=None) -> (B,)``: per-example squared error of ``nets.forward``;
    dropout is active when a key is given.

    Raises:
      ValueError: ``dropout_rate`` outside [0, 1).
    """
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")

    def loss(params: Params, x: jax.Array, y: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        return squared_error(nets.forward(params, x, dropout_rate=dropout_rate, key=key), y)

    return loss


def bias_coords(params: Params, layers: Sequence[int] = (1, 2), unit: int = 0,
                leaf: str | None = None) -> tuple[Coord, ...]:
    """The bias of unit ``unit`` in each hidden layer of ``layers`` (0-indexed, as the blog counts).

    With batch normalisation the bias ``b`` in front of the normalisation is cancelled by the
    mean subtraction (its gradient is zero), so by default the bias that acts, the shift ``beta``,
    is used; ``leaf="b"`` forces the pre-normalisation bias.

    Raises:
      ValueError: a layer that is not hidden, a missing leaf or a unit out of range.
    """
    coords = []
    for layer in layers:
        if not 0 <= layer < len(params) - 1:
            raise ValueError(f"layer {layer} is not a hidden layer; this model has hidden layers 0..{len(params) - 2}")
        name = leaf if leaf is not None else ("beta" if "beta" in params[layer] else "b")
        if name not in params[layer]:
            raise ValueError(f"layer {layer} has no parameter {name!r}; it has {sorted(params[layer])}")
        if not 0 <= unit < params[layer][name].shape[0]:
            raise ValueError(f"unit {unit} out of range for layer {layer} of width {params[layer][name].shape[0]}")
        coords.append((layer, name, unit))
    return tuple(coords)


def live_units(snapshots: Sequence[Params], x: jax.Array, layer: int, count: int = 1,
               min_active: float = 0.2) -> list[int]:
    """The ``count`` lowest-index units of hidden ``layer`` active (ReLU > 0) on at least ``min_active`` of ``x``
    in every snapshot.

    A unit that is never active has a bias gradient of exactly zero, an arrow without a direction. Raises if
    fewer than ``count`` units qualify.

    Raises:
      ValueError: a layer that is not hidden, or fewer than ``count`` live units.
    """
    ok = None
    for params in snapshots:
        if not 0 <= layer < len(params) - 1:
            raise ValueError(f"layer {layer} is not a hidden layer; this model has hidden layers 0..{len(params) - 2}")
        hidden = nets.forward(params, jnp.asarray(x), intermediates=True).inputs[layer + 1]  # relu output
        active = np.asarray(jnp.mean(hidden > 0, axis=0))
        ok = active >= min_active if ok is None else ok & (active >= min_active)
    units = [int(u) for u in np.flatnonzero(ok)[:count]]
    if len(units) < count:
        raise ValueError(f"only {len(units)} units of hidden layer {layer} are active on at least {min_active:.0%} of "
                         f"the examples in every snapshot, {count} were asked for")
    return units


def bias_pairs(snapshots: Sequence[Params], x: jax.Array, layers: tuple[int, int] = (1, 2), count: int = 1,
               min_active: float = 0.2, leaf: str | None = None) -> list[tuple[Coord, Coord]]:
    """``count`` pairs of biases (one per layer of ``layers``) of units that are alive in all ``snapshots``.

    Pair ``i`` takes the ``i``-th live unit of each layer (see :func:`live_units`, :func:`bias_coords`).
    """
    units = [live_units(snapshots, x, layer, count, min_active) for layer in layers]
    return [tuple(bias_coords(snapshots[0], layers=(layer,), unit=u[i], leaf=leaf)[0]
                  for layer, u in zip(layers, units))
            for i in range(count)]


def get_coords(tree: Params, coords: Sequence[Coord]) -> jax.Array:
    """The scalars at ``coords`` of a params/gradient pytree, stacked on the last axis: (..., len(coords)).

    Leading axes of the leaves (e.g. a stack of K gradients) are kept.
    """
    return jnp.stack([tree[layer][name][..., unit] for layer, name, unit in coords], axis=-1)


def split_coords(coords: Sequence[Coord]) -> tuple[tuple[tuple[int, str], ...], jax.Array]:
    """``coords`` as a static part ``((layer, name), ...)`` and the unit indices (C,) int32, so that jitted
    functions compile once per layer/leaf layout, not once per unit."""
    coords = tuple(tuple(c) for c in coords)
    return tuple((int(c[0]), str(c[1])) for c in coords), jnp.asarray([int(c[2]) for c in coords], jnp.int32)


def join_coords(static: tuple[tuple[int, str], ...], units: jax.Array) -> tuple:
    """Inverse of :func:`split_coords`: the coordinates ``((layer, leaf, unit), ...)``, units possibly traced."""
    return tuple((layer, name, units[i]) for i, (layer, name) in enumerate(static))


def set_coords(params: Params, coords: Sequence[Coord], values: jax.Array) -> Params:
    """A copy of ``params`` with the scalars at ``coords`` set to ``values`` (len(coords),)."""
    new = [dict(layer) for layer in params]
    for i, (layer, name, unit) in enumerate(coords):
        new[layer][name] = new[layer][name].at[unit].set(values[i])
    return new
