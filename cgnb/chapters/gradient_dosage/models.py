"""Chapter 1's models: logistic regression and the recognizer network, one logit per example (B,).

* :func:`init_linear` / :func:`apply_linear` -- logistic regression, ``x @ w + b``.
* :func:`init_recognizers` / :func:`apply_recognizers` -- a *recognizer network*: every input
  ``x_f`` has its own group of ``units`` ReLU units (its feature recognizer), and the logit is the
  sum of their read-outs, ``sum_f sum_j v[f, j] relu(a[f, j] x_f + b[f, j])``: an MLP whose first
  layer is block-diagonal; the network "listens" to recognizer ``f`` through its read-out ``v[f]``.

Reference: "Gradient Dosage" (blog post, 11 September 2022).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ...engine.losses import Params


def init_linear(key: jax.Array, n_inputs: int, *, scale: float = 0.01, head_start: float | jax.Array = 0.0) -> Params:
    """Logistic regression ``{"w": (D,), "b": ()}``; ``w ~ scale * N(0, 1)``, then ``w[0] += head_start``.

    Args:
      key: PRNG key; n_inputs: D.
      scale: standard deviation of the initial weights.
      head_start: an initial logit weight on input 0: the model starts out already reading that
        feature (``log 9`` is the best weight for a lone 90%-agreeing feature).
    """
    w = scale * jax.random.normal(key, (n_inputs,), jnp.float32)
    return {"w": w.at[0].add(head_start), "b": jnp.zeros((), jnp.float32)}


def apply_linear(params: Params, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Logit ``x @ w + b``: x (B, D) -> (B,)."""
    del key
    return x @ params["w"] + params["b"]


def init_recognizers(
    key: jax.Array,
    n_inputs: int,
    units: int = 8,
    *,
    scale: float = 1.0,
    head_start: float | jax.Array = 1.0,
    readout_head_start: float | jax.Array | None = None,
    clones: int = 0,
    orient: bool = False,
) -> Params:
    """A recognizer network: ``units`` ReLU units per input, read out into one logit.

    Parameters ``{"a": (D, U), "b": (D, U), "v": (D, U), "c": ()}``: ``a ~ scale * N(0, 1)``,
    ``v ~ scale * N(0, 1) / sqrt(U * D)`` (so the initial logit is O(scale**2)), zero biases.

    Args:
      key: PRNG key.
      n_inputs: D, the number of inputs (one recognizer each).
      units: U, ReLU units per recognizer.
      scale: multiplies all initial weights.
      head_start: recognizer 0's input weights ``a[0]`` are multiplied by it (its units respond
        more strongly to input 0 from the start).
      readout_head_start: recognizer 0's read-out ``v[0]`` is multiplied by it (the network
        *listens* to recognizer 0 more from the start); ``None``: the same as ``head_start``
        (the whole recognizer starts larger); 1.0: a head start of the input weights only.
      clones: recognizers ``1 .. clones-1`` start as exact copies of recognizer 0 (before the
        head start), so that the first ``clones`` inputs start on equal footing except for the
        head start. 0 or 1: all recognizers independent.
      orient: flip recognizer 0's read-out (and its clones') if needed so that it reads its input
        with a positive sign at the start (``sum_j v_j a_j > 0``, i.e. ``r(+1) > r(-1)``): a head
        start then starts the network on a feature that agrees with the label, as the dose
        argument assumes, instead of on its opposite in half of the seeds.

    Raises:
      ValueError: ``n_inputs`` or ``units`` below 1, or ``clones`` outside [0, n_inputs].
    """
    if n_inputs < 1 or units < 1:
        raise ValueError(f"need n_inputs >= 1 and units >= 1, got {n_inputs}, {units}")
    if clones < 0 or clones > n_inputs:
        raise ValueError(f"clones must be in [0, n_inputs={n_inputs}], got {clones}")
    k_a, k_v = jax.random.split(key)
    a = scale * jax.random.normal(k_a, (n_inputs, units), jnp.float32)
    v = scale * jax.random.normal(k_v, (n_inputs, units), jnp.float32) / np.sqrt(units * n_inputs)
    if orient:
        n = max(clones, 1)
        v = v.at[:n].multiply(jnp.where(jnp.sum(v[0] * a[0]) < 0, -1.0, 1.0))
    if clones > 1:
        a = a.at[1:clones].set(a[0])
        v = v.at[1:clones].set(v[0])
    a = a.at[0].multiply(head_start)
    v = v.at[0].multiply(head_start if readout_head_start is None else readout_head_start)
    return {"a": a, "b": jnp.zeros((n_inputs, units), jnp.float32), "v": v, "c": jnp.zeros((), jnp.float32)}


def recognizer_outputs(params: Params, x: jax.Array) -> jax.Array:
    """Each recognizer's contribution to the logit: x (B, D) -> (B, D)."""
    hidden = jax.nn.relu(x[:, :, None] * params["a"] + params["b"])   # (B, D, U)
    return jnp.einsum("bdu,du->bd", hidden, params["v"])


def apply_recognizers(params: Params, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Logit of the recognizer network: the sum of all recognizer outputs plus ``c``; (B, D) -> (B,)."""
    del key
    return jnp.sum(recognizer_outputs(params, x), axis=1) + params["c"]


def recognizer_norms(params: Params) -> jax.Array:
    """Parameter norm of each recognizer, ``sqrt(|a_f|^2 + |b_f|^2 + |v_f|^2)``: (D,)."""
    return jnp.sqrt(jnp.sum(params["a"] ** 2 + params["b"] ** 2 + params["v"] ** 2, axis=1))
