"""Gradient aggregations as optax ``GradientTransformation`` s: the first link of a step's chain.

Contents
  winsorized_mean   per-example gradients -> their coordinate-wise c-winsorized mean
                    (the Coherent Gradients paper's winsorized SGD)
  rm3, RM3State     the coordinate-wise median of the last three (mean) gradients
  median3           elementwise median of three arrays without sorting

Chain them before an optimizer, e.g. ``optax.chain(winsorized_mean(c), optax.sgd(lr))`` fed
per-example gradients, or ``optax.chain(rm3(), optax.sgd(lr))`` fed mean gradients
(:mod:`cgnb.engine.trainer` builds such steps).

Reference: Chatterjee, ICLR 2020, section 3 (winsorized SGD); Zielinski, Krishnan and Chatterjee,
arXiv 2003.07422 (RM3).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import pergrad, winsorize

PyTree = Any


def winsorized_mean(c: int | jax.Array, c_max: int | None = None,
                    method: str | None = None) -> optax.GradientTransformation:
    """Aggregate per-example updates into their coordinate-wise c-winsorized mean.

    The Coherent Gradients paper's winsorized SGD (Chatterjee, ICLR 2020, section 3): with
    ``g_ij`` the gradient of example i for parameter j in a minibatch of B,

        lo_j = (c+1)-th smallest of g_1j..g_Bj,   hi_j = (c+1)-th largest,
        g~_j = (1/B) sum_i clip(g_ij, lo_j, hi_j),

    and SGD steps along ``g~``. c = 0 is plain SGD. Use::

        tx = optax.chain(winsorized_mean(c), optax.sgd(lr))
        updates, state = tx.update(pergrad.per_example_grads(loss, params, x, y), state, params)

    ``update(per_example_updates, state, params=None)`` takes either

    * a :class:`cgnb.engine.pergrad.PerExample` (what :func:`cgnb.engine.pergrad.per_example` and the
      ``"per_example"`` rule of :mod:`cgnb.engine.trainer` give: an MLP's factors never become the
      (B, P) gradients), or
    * a pytree whose leaves carry a leading batch axis B (all leaves are processed together by one
      kernel, :func:`cgnb.engine.winsorize.winsorize_tree`; a Python int c = 0 is exactly
      ``jnp.mean`` over the batch),

    and returns the winsorized pytree without the batch axis.

    Args:
      c: a Python int, or a traced integer bounded by the Python int ``c_max``
        (see :func:`cgnb.engine.winsorize.winsorize`).
      c_max: None or a Python int.
      method: force an order-statistics algorithm (:data:`cgnb.engine.winsorize.METHODS`; default:
        chosen by backend, level and batch size).
    Returns:
      An optax ``GradientTransformation`` with an empty state.
    Raises:
      ValueError: c or c_max of the wrong type, an unknown method (the ranges are checked in update).
    """
    winsorize.check_levels(c, c_max)  # types now; the range needs B and is checked in update
    if method is not None and method not in winsorize.METHODS:
        raise ValueError(f"method must be one of {winsorize.METHODS} or None, got {method!r}")

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        if isinstance(updates, pergrad.PerExample):
            return updates.winsorized_mean(c, c_max, method), state
        return winsorize.winsorize_tree(updates, c, c_max, method), state

    return optax.GradientTransformation(init_fn, update_fn)


class RM3State(NamedTuple):
    """State of :func:`rm3`: the previous two gradients and how many gradients were seen."""
    count: jax.Array  # int32 scalar
    previous: PyTree  # g_{t-1}
    before: PyTree  # g_{t-2}


def median3(a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
    """Elementwise median of three arrays without sorting: ``max(min(a, b), min(max(a, b), c))``."""
    return jnp.maximum(jnp.minimum(a, b), jnp.minimum(jnp.maximum(a, b), c))


def rm3() -> optax.GradientTransformation:
    """RM3: the coordinate-wise median of the current and the two previous minibatch gradients.

    From Zielinski, Krishnan and Chatterjee, "Weak and Strong Gradient Directions: Explaining
    Memorization, Generalization, and Hardness of Examples at Scale" (arXiv 2003.07422): at step
    t the update is ``median(g_t, g_{t-1}, g_{t-2})`` per coordinate, which suppresses directions
    that only one minibatch supports (weak directions) without per-example gradients.

    The first two steps have fewer than three gradients; missing ones are replaced by the
    current gradient, so step 1 returns ``g_1`` and step 2 returns ``median(g_2, g_1, g_2) = g_2``:
    the first two updates are plain SGD updates. Feed mean (minibatch) gradients.
    """
    def init_fn(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return RM3State(jnp.zeros((), jnp.int32), zeros, zeros)

    def update_fn(updates, state, params=None):
        del params
        count = state.count

        def one(g, prev, before):
            prev = jnp.where(count >= 1, prev, g)
            before = jnp.where(count >= 2, before, g)
            return median3(g, prev, before)

        out = jax.tree_util.tree_map(one, updates, state.previous, state.before)
        return out, RM3State(jnp.minimum(count + 1, 2), updates, state.previous)

    return optax.GradientTransformation(init_fn, update_fn)


__all__ = ["winsorized_mean", "rm3", "RM3State", "median3"]
