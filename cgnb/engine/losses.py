"""The one loss contract, and the losses the chapters use.

``Params`` is any parameter pytree (defined with the parameter format, :data:`cgnb.engine.nets.Params`).

A :data:`Loss` is a *per-example* loss of a model::

    loss(params, x (B, ...), y (B, ...), *, key=None) -> (B,)

one value per example of the batch; ``key`` (optional) is the PRNG key of the model's noise
(dropout), ``None`` for a deterministic evaluation. Take ``jnp.mean`` of it for the usual
batch objective; :func:`cgnb.engine.pergrad.per_example_grads` differentiates it per example.

An *output loss* compares a model's outputs with targets, ``(outputs (B, ...), y (B, ...)) -> (B,)``:
:func:`cross_entropy`, :func:`logistic`, :func:`squared_error`. :class:`MLPLoss` turns one into a
:data:`Loss` of an MLP that pergrad's fast paths recognise. :func:`accuracy` and
:func:`binary_accuracy` are batch metrics (scalars); :func:`mean_loss` is the batch objective.

Reference: Goodfellow, Bengio and Courville, "Deep Learning" (2016), section 6.2.2 (output units and losses).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from . import nets
from .nets import Params

Loss = Callable[..., jax.Array]
"""``loss(params, x (B, ...), y (B, ...), *, key=None) -> (B,)``: one loss per example."""

OutputLoss = Callable[[jax.Array, jax.Array], jax.Array]
"""``output_loss(outputs (B, ...), y (B, ...)) -> (B,)``."""


def mean_loss(loss: Loss, params: Params, x: jax.Array, y: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
    """The batch objective: the mean of the per-example ``loss`` over x (B, ...), y (B, ...): scalar.

    ``key`` is passed on to ``loss`` only when given, so a loss without a ``key`` argument works too.
    """
    return jnp.mean(loss(params, x, y) if key is None else loss(params, x, y, key=key))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example softmax cross-entropy: logits (B, K), int labels (B,) -> (B,)."""
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1)[:, 0]


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows whose arg-max equals the label: logits (B, K), labels (B,) -> scalar."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def logistic(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Per-example logistic loss ``log(1 + exp(-y * logit))``: logits, y (B,) with y in {-1, +1} -> (B,)."""
    return jax.nn.softplus(-y * logits)


def binary_accuracy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Fraction of examples with ``sign(logit) == y``, y in {-1, +1} (a logit of exactly 0 counts as wrong): scalar."""
    return jnp.mean(jnp.sign(logits) == y)


def squared_error(pred: jax.Array, y: jax.Array) -> jax.Array:
    """Per-example squared error of a regressor: pred (B, 1) or (B,), y (B,) -> ``(pred - y)^2`` (B,)."""
    pred = pred.reshape(pred.shape[0], -1)
    if pred.shape[1] != 1 or y.shape != pred.shape[:1]:
        raise ValueError(f"squared_error expects pred (B, 1) and y (B,), got {pred.shape} and {y.shape}")
    return (pred[:, 0] - y) ** 2


@dataclasses.dataclass(frozen=True)
class MLPLoss:
    """Per-example loss of a :mod:`cgnb.engine.nets` MLP: ``output_loss(nets.forward(params, x), y)``.

    A :data:`Loss` like any other, ``MLPLoss()(params, x, y) -> (B,)``; :mod:`cgnb.engine.pergrad`
    and :mod:`cgnb.engine.stats` recognise it and use the factored fast paths (no per-example
    gradient tensors). ``output_loss`` defaults to softmax :func:`cross_entropy`. The fast paths
    reject batch-norm parameters (the examples of a batch would interact); dropout is off.
    """
    output_loss: OutputLoss = cross_entropy

    def __call__(self, params: Params, x: jax.Array, y: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        if key is not None:
            raise ValueError("MLPLoss has no dropout, so it takes no key; pass key=None")
        return self.output_loss(nets.forward(params, x), y)


__all__ = ["Params", "Loss", "OutputLoss", "mean_loss", "cross_entropy", "accuracy", "logistic", "binary_accuracy",
           "squared_error", "MLPLoss"]
