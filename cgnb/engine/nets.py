"""Multilayer perceptrons as plain parameter pytrees.

Parameters are a list with one dict per dense layer::

    params[l] = {"w": (d_in, d_out), "b": (d_out,)}                # every layer
    params[l] = {..., "gamma": (d_out,), "beta": (d_out,)}         # hidden layers, batchnorm=True

A hidden layer computes ``h = relu(bn(h_prev @ w + b))`` (``bn`` only with batch norm,
then ``dropout`` when asked); the last layer is linear and returns logits (or the
regression output). Inputs are ``(B, d_in)`` arrays, outputs ``(B, d_out)``.

Reference: Glorot and Bengio, AISTATS 2010 (initialisation); Ioffe and Szegedy, ICML 2015 (batch norm).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp

Params = Any
"""A parameter pytree: for this module's MLPs ``[{"w": (d_in, d_out), "b": (d_out,)}, ...]``; any pytree
for the engine's generic code (losses, per-example gradients, the training loop)."""

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


class Trace(NamedTuple):
    """What :func:`forward` computed on the way, for a network of L dense layers (0-based ``l``).

    Attributes:
      inputs: L arrays; ``inputs[l]`` (B, d_in of layer l) is layer l's input (``inputs[0] = x``;
        after dropout when dropout is on).
      preactivations: L arrays; ``preactivations[l]`` (B, d_out of layer l) = ``inputs[l] @ w + b``
        (after batch norm for a batch-norm layer); the last one is the outputs.
      masks: L - 1 arrays; ``masks[l]`` (B, d_out) the 0./1. ReLU derivative of hidden layer l
        (or the fixed masks handed to :func:`forward`).
      outputs: (B, d_out) the last layer's outputs (logits).
    """

    inputs: tuple
    preactivations: tuple
    masks: tuple
    outputs: jax.Array


def forward(
    params: Params,
    x: jax.Array,
    *,
    masks: Sequence[jax.Array] | None = None,
    dropout_rate: float = 0.0,
    key: jax.Array | None = None,
    intermediates: bool = False,
    shifts: Sequence[jax.Array] | None = None,
) -> jax.Array | Trace:
    """The forward pass: ``x`` (B, d_in) -> outputs (B, d_out), or a :class:`Trace` of every layer.

    Args:
      masks: fixed 0/1 activation masks, one (B, d_out) per hidden layer: hidden layer l then
        outputs ``z_l * masks[l]`` instead of ``relu(z_l)`` (the network is then linear in each
        weight matrix and in ``x``).
      dropout_rate, key: inverted dropout on the hidden activations when ``dropout_rate > 0``
        and a ``key`` is given; without a key the call is deterministic (evaluation).
      intermediates: return a :class:`Trace` (layer inputs, pre-activations, ReLU masks, outputs)
        instead of the outputs alone.
      shifts: arrays (B, d_out), one per layer, added to every pre-activation; differentiating
        with respect to zero shifts gives each example's ``d loss_i / d z_l[i]``
        (:func:`cgnb.engine.pergrad.mlp_factors`).
    """
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
    d_in = params[0]["w"].shape[0]
    if jnp.ndim(x) != 2 or x.shape[1] != d_in:
        raise ValueError(f"x must be a batch (B, {d_in}) for this network's {d_in} inputs, got shape {jnp.shape(x)}; "
                         f"reshape the inputs (e.g. images flattened to (B, {d_in})) or build the net for them")
    hidden = params[:-1]
    if masks is not None and len(masks) != len(hidden):
        raise ValueError(f"masks must hold one pattern per hidden layer ({len(hidden)}), got {len(masks)}")
    if shifts is not None and len(shifts) != len(params):
        raise ValueError(f"shifts must hold one array per layer ({len(params)}), got {len(shifts)}")
    keys = jax.random.split(key, len(hidden)) if (key is not None and dropout_rate > 0) else [None] * len(hidden)
    h, inputs, pre, kept = x, [], [], []
    for l, (layer, k) in enumerate(zip(hidden, keys)):
        inputs.append(h)
        z = h @ layer["w"] + layer["b"]
        if shifts is not None:
            z = z + shifts[l]
        if "gamma" in layer:
            z = batch_norm(z, layer["gamma"], layer["beta"])
        if masks is None:
            h = jax.nn.relu(z)
            s = (z > 0).astype(z.dtype) if intermediates else None
        else:
            s = jnp.asarray(masks[l], z.dtype)
            h = z * s
        if k is not None:
            keep = jax.random.bernoulli(k, 1.0 - dropout_rate, h.shape)
            h = jnp.where(keep, h / (1.0 - dropout_rate), 0.0)
        pre.append(z)
        kept.append(s)
    inputs.append(h)
    out = h @ params[-1]["w"] + params[-1]["b"]
    if shifts is not None:
        out = out + shifts[-1]
    if not intermediates:
        return out
    return Trace(tuple(inputs), tuple(pre) + (out,), tuple(kept), out)


def pad_to_blocks(a: jax.Array, block: int) -> jax.Array:
    """``a`` (N, ...) zero-padded to a multiple of ``block`` rows and cut into blocks: (ceil(N / block), block, ...)."""
    pad = (-a.shape[0]) % block
    return jnp.pad(a, ((0, pad),) + ((0, 0),) * (a.ndim - 1)).reshape((-1, block) + a.shape[1:])


def forward_in_blocks(params: Params, x: jax.Array, block: int) -> jax.Array:
    """:func:`forward` of x (N, d_in), ``block`` examples at a time (``lax.map``, to bound memory): (N, d_out).

    N <= ``block`` is one forward pass; otherwise the last block is zero-padded (:func:`pad_to_blocks`).
    """
    n = x.shape[0]
    if n <= block:
        return forward(params, x)
    outputs = jax.lax.map(lambda chunk: forward(params, chunk), pad_to_blocks(x, block))
    return outputs.reshape(-1, outputs.shape[-1])[:n]


def num_params(params: Params) -> int:
    """Total number of scalars in a parameter pytree."""
    return int(sum(p.size for p in jax.tree_util.tree_leaves(params)))
