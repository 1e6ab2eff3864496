"""Per-example gradients in one representation, and everything the engine computes from them.

:func:`per_example` is the one dispatch: for a batch x (B, ...), y (B, ...) it returns a
:class:`PerExample`, either

* :class:`MLPFactors` -- for an :class:`cgnb.engine.losses.MLPLoss` of :mod:`cgnb.engine.nets`
  parameters without batch norm (and no noise keys): each dense layer's gradient of example i is
  ``outer(a_i, delta_i)`` (weights) and ``delta_i`` (bias), kept as the factors ``a`` (layer
  inputs) and ``delta`` (pre-activation gradients) from one forward and one backward pass; or
* :class:`cgnb.engine.traced_factors.TracedFactors` -- any other per-example
  :data:`cgnb.engine.losses.Loss` whose ``jax.vmap(jax.grad(...))`` program computes some weight's
  per-example gradients as outer products: those weights as factor pairs read from the program, the
  other parameters materialised; or
* :class:`Materialised` -- ``jax.vmap(jax.grad(...))`` of any per-example
  :data:`cgnb.engine.losses.Loss`: a pytree like ``params`` whose leaves have a leading axis B.

All offer the same operations: :meth:`~PerExample.mean`, :meth:`~PerExample.sq_norms`,
:meth:`~PerExample.group_sums`, :meth:`~PerExample.winsorized_mean` and
:meth:`~PerExample.materialise`. :func:`group_sums` is the same dispatch for weighted sums, which
a generic loss computes by backward passes without materialising anything.

Reference: Goodfellow, "Efficient per-example gradient computations", arXiv 1510.01799 (2015).
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Mapping

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from . import nets, winsorize
from .losses import Loss, MLPLoss, Params

FORMS = ("auto", "factors", "materialised")


class PerExample(abc.ABC):
    """The B per-example gradients g_i of a batch, in some representation (see the module docstring)."""

    @property
    @abc.abstractmethod
    def batch_size(self) -> int:
        """B."""

    @abc.abstractmethod
    def mean(self) -> Params:
        """``(1/B) sum_i g_i``: a pytree like the parameters."""

    @abc.abstractmethod
    def sq_norms(self) -> jax.Array:
        """``|g_i|^2`` over all parameters: (B,)."""

    @abc.abstractmethod
    def group_sums(self, weights: jax.Array) -> Params:
        """The total ``sum_i g_i``, then ``sum_i w_ki g_i`` for every row k of ``weights`` (K, B) (e.g. a group's
        boolean mask): leaves with a leading axis 1 + K."""

    @abc.abstractmethod
    def winsorized_mean(self, c: int | jax.Array, c_max: int | None = None, method: str | None = None) -> Params:
        """The coordinate-wise c-winsorized mean (:func:`cgnb.engine.winsorize.winsorize`): like the parameters."""

    @abc.abstractmethod
    def materialise(self) -> Params:
        """The gradients themselves: a pytree like the parameters whose leaves have a leading axis B."""


@dataclasses.dataclass(frozen=True)
class Materialised(PerExample):
    """Per-example gradients as a pytree: ``grads`` like the parameters, every leaf with a leading axis B."""

    grads: Params

    @property
    def batch_size(self) -> int:
        return jax.tree_util.tree_leaves(self.grads)[0].shape[0]

    def mean(self) -> Params:
        return jax.tree_util.tree_map(lambda leaf: jnp.mean(leaf, axis=0), self.grads)

    def sq_norms(self) -> jax.Array:
        return sum(jnp.sum(leaf.reshape(leaf.shape[0], -1) ** 2, axis=1)
                   for leaf in jax.tree_util.tree_leaves(self.grads))

    def group_sums(self, weights: jax.Array) -> Params:
        def sums(leaf):
            return jnp.tensordot(with_total(weights, jnp.zeros(leaf.shape[:1], leaf.dtype)), leaf, axes=1)

        return jax.tree_util.tree_map(sums, self.grads)

    def winsorized_mean(self, c: int | jax.Array, c_max: int | None = None, method: str | None = None) -> Params:
        return winsorize.winsorize_tree(self.grads, c, c_max, method)

    def materialise(self) -> Params:
        return self.grads


@dataclasses.dataclass(frozen=True)
class MLPFactors(PerExample):
    """Per-example gradients of an MLP in factored form, one entry per dense layer.

    For example i and layer l: ``grad w_l = outer(inputs[l][i], deltas[l][i])`` and
    ``grad b_l = deltas[l][i]``.

    Attributes:
      inputs: per layer, the layer input (B, d_in).
      deltas: per layer, the gradient of example i's loss w.r.t. the layer's pre-activation (B, d_out).
      losses: (B,) the examples' losses.
    """

    inputs: list
    deltas: list
    losses: jax.Array

    @property
    def batch_size(self) -> int:
        return self.losses.shape[0]

    def mean(self) -> Params:
        batch = self.batch_size
        return [{"w": a.T @ d / batch, "b": jnp.sum(d, axis=0) / batch} for a, d in zip(self.inputs, self.deltas)]

    def sq_norms(self) -> jax.Array:
        return sum(layer_sq_norms(a, d) for a, d in zip(self.inputs, self.deltas))

    def group_sums(self, weights: jax.Array) -> Params:
        cotangents = with_total(weights, self.losses)
        return [weighted_layer_grads(a, d, cotangents) for a, d in zip(self.inputs, self.deltas)]

    def winsorized_mean(self, c: int | jax.Array, c_max: int | None = None, method: str | None = None) -> Params:
        return winsorize.winsorize_outer(self.inputs, self.deltas, c, c_max, method)

    def materialise(self) -> Params:
        return [{"w": a[:, :, None] * d[:, None, :], "b": d} for a, d in zip(self.inputs, self.deltas)]


# both are pytrees, so they pass through jit, vmap and scan like the gradients they stand for
jax.tree_util.register_dataclass(Materialised, data_fields=["grads"], meta_fields=[])
jax.tree_util.register_dataclass(MLPFactors, data_fields=["inputs", "deltas", "losses"], meta_fields=[])


def layer_sq_norms(a: jax.Array, d: jax.Array, *, bias: bool = True) -> jax.Array:
    """``|g_i|^2`` of a dense layer from its factors a (B, d_in), d (B, d_out): (B,).

    The weight gradient ``outer(a_i, d_i)`` has the squared norm ``|a_i|^2 |d_i|^2``; with ``bias``
    the bias gradient ``d_i`` adds ``|d_i|^2``: ``(|a_i|^2 + 1) |d_i|^2``.
    """
    a_sq = jnp.sum(a * a, axis=1)
    return ((a_sq + 1.0) if bias else a_sq) * jnp.sum(d * d, axis=1)


def with_total(weights: jax.Array, losses: jax.Array) -> jax.Array:
    """A row of ones (the total), then ``weights`` (K, B) cast to the dtype of ``losses`` (B,): (1 + K, B)."""
    return jnp.concatenate([jnp.ones_like(losses)[None], weights.astype(losses.dtype)])


def weighted_layer_grads(a: jax.Array, d: jax.Array, weights: jax.Array) -> dict:
    """Dense-layer gradients of ``sum_i w_ki l_i`` for every row w_k of ``weights`` (K, B), from the factors
    a (B, d_in), d (B, d_out): {"w": (K, d_in, d_out), "b": (K, d_out)}, one matrix product
    ``a^T [w_1 d, ..., w_K d]`` for all K."""
    k, (batch, d_out) = weights.shape[0], d.shape
    wd = weights[:, :, None] * d[None]  # (K, B, d_out)
    w = (a.T @ wd.transpose(1, 0, 2).reshape(batch, k * d_out)).reshape(a.shape[1], k, d_out)
    return {"w": w.transpose(1, 0, 2), "b": jnp.sum(wd, axis=1)}


# ============================================================================ the dispatch


def check_batch(x: jax.Array, y: jax.Array) -> None:
    """Raise ValueError unless x (B, ...) and y (B, ...) share a leading batch size B >= 1."""
    if jnp.ndim(x) < 1 or jnp.ndim(y) < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be batches with the same leading size B, got shapes "
                         f"{jnp.shape(x)} and {jnp.shape(y)}")
    if x.shape[0] == 0:
        raise ValueError("the batch is empty (B = 0): a per-example statistic of no examples is undefined; "
                         "pass at least one example")


def _is_plain_mlp(params: Params) -> bool:
    return isinstance(params, (list, tuple)) and len(params) > 0 and all(
        isinstance(l, Mapping) and set(l) == {"w", "b"} for l in params)


def _factorable(loss: Loss, params: Params, keys: jax.Array | None) -> bool:
    """Whether the factored MLP path applies: an MLPLoss of plain MLP parameters, no noise keys."""
    return keys is None and isinstance(loss, MLPLoss) and _is_plain_mlp(params)


def per_example(loss: Loss, params: Params, x: jax.Array, y: jax.Array, *, keys: jax.Array | None = None,
                form: str = "auto") -> PerExample:
    """The per-example gradients of ``loss`` on the batch x (B, ...), y (B, ...).

    Args:
      loss: a per-example :data:`cgnb.engine.losses.Loss`, ``loss(params, x, y) -> (B,)``.
      params: the parameters.
      x, y: the batch.
      keys: (B,) example i's noise key (dropout); rules out :class:`MLPFactors` (the loss is traced instead).
      form: ``"auto"`` (:class:`MLPFactors` where they apply; else the factors that the traced
        ``jax.vmap(jax.grad(...))`` program shows, :class:`cgnb.engine.traced_factors.TracedFactors`,
        where one parameter's gradient is an outer product; else :class:`Materialised`),
        ``"factors"`` (:class:`MLPFactors`) or ``"materialised"`` (``jax.vmap(jax.grad(...))`` as it is).
    Returns:
      A :class:`PerExample`.
    Raises:
      ValueError: mismatched or empty batches; ``form="factors"`` for a loss that is not an
        :class:`cgnb.engine.losses.MLPLoss` of plain MLP parameters; an unknown ``form``.
    """
    check_batch(x, y)
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if form == "factors" or (form == "auto" and _factorable(loss, params, keys)):
        return mlp_factors(loss, params, x, y)

    def single_example_loss(p, xi, yi, ki=None):
        if ki is None:
            return loss(p, xi[None], yi[None])[0]
        return loss(p, xi[None], yi[None], key=ki)[0]

    args = (params, x, y) if keys is None else (params, x, y, keys)
    grads = jax.vmap(jax.grad(single_example_loss), in_axes=(None, *[0] * (len(args) - 1)))
    if form == "auto":  # the dense weights' outer products, read from the traced program
        from .traced_factors import traced_factors  # imported here: that module builds on this one
        return traced_factors(grads, *args)
    return Materialised(grads(*args))


def per_example_grads(loss: Loss, params: Params, x: jax.Array, y: jax.Array, *,
                      keys: jax.Array | None = None) -> Params:
    """``g_i = grad_params loss(params, x[i:i+1], y[i:i+1])[0]`` for every example: leaves with a leading axis B.

    :meth:`PerExample.materialise` of :func:`per_example` (an MLP's factors are multiplied out; any
    other loss's gradients are ``jax.vmap(jax.grad(...))`` itself).
    """
    form = "auto" if _factorable(loss, params, keys) else "materialised"
    return per_example(loss, params, x, y, keys=keys, form=form).materialise()


def mlp_factors(loss: MLPLoss, params: Params, x: jax.Array, y: jax.Array) -> MLPFactors:
    """Layer inputs and per-example pre-activation gradients from one forward and one backward pass.

    Zero perturbations ``e_l`` (B, d_out) are added to every pre-activation ``z_l``; since the
    examples do not interact, ``d(sum_i l_i)/d e_l[i] = d l_i / d z_l[i] = deltas[l][i]``.

    Raises:
      ValueError: ``loss`` is not an :class:`cgnb.engine.losses.MLPLoss`, the parameters have batch
        norm, or the batch is empty or mismatched.
    """
    if not isinstance(loss, MLPLoss):
        raise ValueError(f"the MLP fast path needs loss=losses.MLPLoss(output_loss), got {loss!r}")
    if not _is_plain_mlp(params):
        raise ValueError("the MLP fast path needs cgnb.engine.nets parameters without batch norm: a list of "
                         "{'w': (d_in, d_out), 'b': (d_out,)} dicts; use the generic functions otherwise")
    check_batch(x, y)

    def summed(eps):
        trace = nets.forward(params, x, shifts=eps, intermediates=True)
        losses = loss.output_loss(trace.outputs, y)
        return jnp.sum(losses), (list(trace.inputs[:len(params)]), losses)

    zeros = [jnp.zeros((x.shape[0], layer["w"].shape[1]), x.dtype) for layer in params]
    deltas, (inputs, losses) = jax.grad(summed, has_aux=True)(zeros)
    return MLPFactors(inputs, deltas, losses)


def mlp_per_example_sq_norms(loss: MLPLoss, params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """``|g_i|^2`` over all parameters for every example, (B,), from :func:`mlp_factors` (no per-example gradients)."""
    return mlp_factors(loss, params, x, y).sq_norms()


def group_sums(loss: Loss, params: Params, x: jax.Array, y: jax.Array, weights: jax.Array) -> Params:
    """:meth:`PerExample.group_sums` of ``loss``'s per-example gradients: the total ``sum_i g_i``, then
    ``sum_i w_ki g_i`` for every row k of ``weights`` (K, B): leaves with a leading axis 1 + K.

    Where :class:`MLPFactors` apply, one backward pass and one matrix product per layer for all rows;
    otherwise one backward pass of ``loss`` per row (separate passes, not ``vmap``), with no
    per-example gradients. ``weights`` (bool or float) are cast to the losses' dtype.
    """
    check_batch(x, y)
    if _factorable(loss, params, None):
        return mlp_factors(loss, params, x, y).group_sums(weights)
    losses, vjp = jax.vjp(lambda p: loss(p, x, y), params)
    per_row = [vjp(w)[0] for w in with_total(weights, losses)]
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *per_row)


def ravel(tree: Params) -> jax.Array:
    """All leaves of ``tree`` flattened and concatenated: (P,) (``jax.flatten_util.ravel_pytree``)."""
    return ravel_pytree(tree)[0]


__all__ = ["FORMS", "PerExample", "Materialised", "MLPFactors", "per_example", "per_example_grads", "mlp_factors",
           "mlp_per_example_sq_norms", "layer_sq_norms", "with_total", "weighted_layer_grads", "group_sums",
           "check_batch", "ravel"]
