"""Per-example gradients and their statistics (the winsorized mean and RM3 live in
:mod:`cgnb.engine.winsorize` and :mod:`cgnb.engine.transforms`).

``per_example_grads(loss, params, x, y)`` is the one entry point: ``jax.vmap(jax.grad(...))`` of a
per-example :data:`cgnb.engine.losses.Loss` (``loss(params, x (B, ...), y (B, ...)) -> (B,)``), or,
for an :class:`cgnb.engine.losses.MLPLoss` of :mod:`cgnb.engine.nets` parameters without batch
norm, the factored MLP fast path. Their statistics live in :mod:`cgnb.engine.stats`.

Contents
  per_example_grads          g_i = grad l_i for every example: leaves with a leading axis B
  MLPFactors, mlp_factors    per-example gradients of dense layers in factored form a_i (x) delta_i
  mlp_per_example_sq_norms   |g_i|^2 for every example from one forward and one backward pass
  ravel                      a pytree flattened to one vector
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from . import nets
from .losses import Loss, MLPLoss, Params

# ============================================================================ per-example gradients


def per_example_grads(loss: Loss, params: Params, x: jax.Array, y: jax.Array, *,
                      keys: jax.Array | None = None) -> Params:
    """Gradients of every example's loss: a pytree like ``params`` whose leaves have a leading axis B.

    ``g_i = grad_params loss(params, x[i:i+1], y[i:i+1])[0]`` for a per-example
    :data:`cgnb.engine.losses.Loss`, ``x`` (B, ...), ``y`` (B, ...). ``keys`` (B,) gives example i
    the noise key ``keys[i]`` (dropout). An :class:`cgnb.engine.losses.MLPLoss` without keys takes
    the factored fast path: ``grad w_l = outer(a_i, delta_i)``, ``grad b_l = delta_i``
    (:func:`mlp_factors`).
    """
    _check_batch(x, y)
    if keys is None and isinstance(loss, MLPLoss) and _is_plain_mlp(params):
        f = mlp_factors(loss, params, x, y)
        return [{"w": a[:, :, None] * d[:, None, :], "b": d} for a, d in zip(f.inputs, f.deltas)]

    def single_example_loss(p, xi, yi, ki=None):
        if ki is None:
            return loss(p, xi[None], yi[None])[0]
        return loss(p, xi[None], yi[None], key=ki)[0]

    if keys is not None:
        return jax.vmap(jax.grad(single_example_loss), in_axes=(None, 0, 0, 0))(params, x, y, keys)
    return jax.vmap(jax.grad(single_example_loss), in_axes=(None, 0, 0))(params, x, y)


def ravel(tree: Params) -> jax.Array:
    """All leaves of ``tree`` flattened and concatenated: (P,) (``jax.flatten_util.ravel_pytree``)."""
    return ravel_pytree(tree)[0]


def _check_batch(x: jax.Array, y: jax.Array) -> None:
    """x (B, ...) and y (B, ...) share a leading batch size B >= 1 (shapes are static: no cost in jit)."""
    if jnp.ndim(x) < 1 or jnp.ndim(y) < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be batches with the same leading size B, got shapes "
                         f"{jnp.shape(x)} and {jnp.shape(y)}")
    if x.shape[0] == 0:
        raise ValueError("the batch is empty (B = 0): a per-example statistic of no examples is undefined; "
                         "pass at least one example")


# ============================================================================ MLP fast paths


class MLPFactors(NamedTuple):
    """Per-example gradients of an MLP in factored form (one entry per dense layer).

    For example i and layer l: ``grad w_l = outer(inputs[l][i], deltas[l][i])`` and
    ``grad b_l = deltas[l][i]``; ``inputs[l]`` (B, d_in) is the layer input, ``deltas[l]``
    (B, d_out) the gradient of example i's loss w.r.t. the layer's pre-activation.
    """
    inputs: list
    deltas: list
    losses: jax.Array  # (B,)


def _is_plain_mlp(params: Params) -> bool:
    return isinstance(params, (list, tuple)) and len(params) > 0 and all(
        isinstance(l, Mapping) and set(l) == {"w", "b"} for l in params)


def _check_mlp(params: Params) -> None:
    if not _is_plain_mlp(params):
        raise ValueError("the MLP fast path needs cgnb.engine.nets parameters without batch norm: a list of "
                         "{'w': (d_in, d_out), 'b': (d_out,)} dicts; use the generic functions otherwise")


def mlp_factors(loss: MLPLoss, params: Params, x: jax.Array, y: jax.Array) -> MLPFactors:
    """Layer inputs and per-example pre-activation gradients from one forward and one backward pass.

    Zero perturbations ``e_l`` (B, d_out) are added to every pre-activation ``z_l``; since the
    examples do not interact, ``d(sum_i l_i)/d e_l[i] = d l_i / d z_l[i] = deltas[l][i]``.
    """
    if not isinstance(loss, MLPLoss):
        raise ValueError(f"the MLP fast path needs loss=losses.MLPLoss(output_loss), got {loss!r}")
    _check_mlp(params)
    _check_batch(x, y)

    def summed(eps):
        trace = nets.forward(params, x, shifts=eps, intermediates=True)
        losses = loss.output_loss(trace.outputs, y)
        return jnp.sum(losses), (list(trace.inputs[:len(params)]), losses)

    zeros = [jnp.zeros((x.shape[0], layer["w"].shape[1]), x.dtype) for layer in params]
    deltas, (inputs, losses) = jax.grad(summed, has_aux=True)(zeros)
    return MLPFactors(inputs, deltas, losses)


def mlp_per_example_sq_norms(loss: MLPLoss, params: Params, x: jax.Array,
                             y: jax.Array) -> jax.Array:
    """``|g_i|^2`` over all parameters for every example: (B,), without per-example gradients.

    A dense layer contributes ``|a_i|^2 |delta_i|^2`` (weights: the squared norm of an outer
    product) plus ``|delta_i|^2`` (bias), with a_i the layer input and delta_i the gradient of
    l_i w.r.t. the pre-activation (Goodfellow, "Efficient per-example gradient computations", 2015).
    """
    f = mlp_factors(loss, params, x, y)
    return sum((jnp.sum(a * a, axis=1) + 1.0) * jnp.sum(d * d, axis=1) for a, d in zip(f.inputs, f.deltas))


def _mlp_mean_grad(f: MLPFactors) -> list:
    batch = f.losses.shape[0]
    return [{"w": a.T @ d / batch, "b": jnp.sum(d, axis=0) / batch} for a, d in zip(f.inputs, f.deltas)]


__all__ = ["per_example_grads", "ravel", "MLPFactors", "mlp_factors", "mlp_per_example_sq_norms"]
