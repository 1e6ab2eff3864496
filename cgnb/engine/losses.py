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
import numpy as np

from . import checks, nets
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


def check_labels(logits: jax.Array, labels) -> jax.Array:
    """``labels`` (B,) as an integer array for ``logits`` (B, K), checked as the sweep checks its labels.

    The dtype and shapes are always checked; the values (every label in ``[0, K)``: a -1 would silently
    take class K-1's loss, a K gives NaN) when they are concrete, i.e. not traced inside ``jit`` or
    ``vmap`` (a traced caller checks its labels before tracing, as :func:`cgnb.engine.sweep.run_sweep` does).

    Raises:
      ValueError: labels not an integer (B,) array for (B, K) logits, or a concrete label outside ``[0, K)``.
    """
    try:
        values = np.asarray(labels)
    except jax.errors.TracerArrayConversionError:
        values = None
    shape, dtype = (values.shape, values.dtype) if values is not None else (labels.shape, labels.dtype)
    if logits.ndim != 2 or shape != logits.shape[:1]:
        raise ValueError(f"class labels must be (B,) for logits (B, K); got labels {shape} and logits {logits.shape}")
    if not jnp.issubdtype(dtype, jnp.integer):
        raise ValueError(f"class labels must have an integer dtype, got {dtype}; convert whole-number labels with "
                         f"labels.astype(int)")
    if values is not None:
        checks.labels_in_range("class labels", values, logits.shape[-1])
    return jnp.asarray(labels)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example softmax cross-entropy: logits (B, K), int labels (B,) in ``[0, K)`` -> (B,).

    Raises:
      ValueError: labels that :func:`check_labels` refuses.
    """
    labels = check_labels(logits, labels)
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1)[:, 0]


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows whose arg-max equals the label: logits (B, K), labels (B,) in ``[0, K)`` -> scalar.

    Raises:
      ValueError: labels that :func:`check_labels` refuses.
    """
    return jnp.mean(jnp.argmax(logits, axis=-1) == check_labels(logits, labels))


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


__all__ = ["Params", "Loss", "OutputLoss", "mean_loss", "check_labels", "cross_entropy", "accuracy", "logistic",
           "binary_accuracy", "squared_error", "MLPLoss"]
