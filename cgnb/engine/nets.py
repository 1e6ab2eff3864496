"""Multilayer perceptrons as plain parameter pytrees.

Parameters are a list with one dict per dense layer::

    params[l] = {"w": (d_in, d_out), "b": (d_out,)}                # every layer
    params[l] = {..., "gamma": (d_out,), "beta": (d_out,)}         # hidden layers, batchnorm=True

A hidden layer computes ``h = relu(bn(h_prev @ w + b))`` (``bn`` only with batch norm,
then ``dropout`` when asked); the last layer is linear and returns logits (or the
regression output). Inputs are ``(B, d_in)`` arrays, outputs ``(B, d_out)``.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

Params = list[dict[str, jax.Array]]

BN_EPS = 1e-5


def init(key: jax.Array, sizes: Sequence[int], *, batchnorm: bool = False, w_scale: float = 1.0) -> Params:
    """Glorot/Xavier-uniform weights (times ``w_scale``), zero biases.

    Args:
      key: PRNG key.
      sizes: layer widths ``(d_in, h_1, ..., h_k, d_out)``; at least two entries.
      batchnorm: add ``gamma`` (ones) and ``beta`` (zeros) to every hidden layer.
      w_scale: multiplies every initial weight (1.0 is plain Glorot).
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least an input and an output width, all >= 1; got {sizes}")
    keys = jax.random.split(key, len(sizes) - 1)
    glorot = jax.nn.initializers.glorot_uniform()
    params: Params = []
    for i, (k, d_in, d_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        layer = {"w": w_scale * glorot(k, (d_in, d_out), jnp.float32), "b": jnp.zeros((d_out,), jnp.float32)}
        if batchnorm and i < len(sizes) - 2:
            layer["gamma"] = jnp.ones((d_out,), jnp.float32)
            layer["beta"] = jnp.zeros((d_out,), jnp.float32)
        params.append(layer)
    return params


def batch_norm(z: jax.Array, gamma: jax.Array, beta: jax.Array) -> jax.Array:
    """Normalise ``z`` (B, d) with the batch's own mean and variance, then scale and shift.

    cgnb keeps no running averages: evaluation also normalises with the statistics of
    the batch it is given (use large evaluation batches).
    """
    mean = jnp.mean(z, axis=0)
    var = jnp.var(z, axis=0)
    return gamma * (z - mean) * jax.lax.rsqrt(var + BN_EPS) + beta


def apply(
    params: Params,
    x: jax.Array,
    *,
    dropout_rate: float = 0.0,
    key: jax.Array | None = None,
) -> jax.Array:
    """Forward pass: ``x`` (B, d_in) -> outputs (B, d_out).

    Dropout (inverted, on hidden activations) is applied when ``dropout_rate > 0``
    and a ``key`` is given; without a key the call is deterministic (evaluation).
    """
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
    h = x
    hidden = params[:-1]
    keys = jax.random.split(key, len(hidden)) if (key is not None and dropout_rate > 0) else [None] * len(hidden)
    for layer, k in zip(hidden, keys):
        z = h @ layer["w"] + layer["b"]
        if "gamma" in layer:
            z = batch_norm(z, layer["gamma"], layer["beta"])
        h = jax.nn.relu(z)
        if k is not None:
            keep = jax.random.bernoulli(k, 1.0 - dropout_rate, h.shape)
            h = jnp.where(keep, h / (1.0 - dropout_rate), 0.0)
    return h @ params[-1]["w"] + params[-1]["b"]


def num_params(params: Params) -> int:
    """Total number of scalars in a parameter pytree."""
    return int(sum(p.size for p in jax.tree_util.tree_leaves(params)))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example softmax cross-entropy: logits (B, K), int labels (B,) -> (B,)."""
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1)[:, 0]


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows whose arg-max equals the label: scalar."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)
