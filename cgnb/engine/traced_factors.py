"""Per-example gradients of any loss, factored wherever its traced program shows an outer product.

An MLP written as an :class:`cgnb.engine.losses.MLPLoss` gets its factors from the engine's own
forward pass (:class:`cgnb.engine.pergrad.MLPFactors`). Any other loss -- a plain function, a net
with dropout keys, a custom architecture -- has its per-example gradients computed by
``jax.vmap(jax.grad(...))``. In that program a dense weight's per-example gradient is a batched
``dot_general`` whose contraction has size one (example i's ``outer(a_i, delta_i)``), possibly
transposed; :func:`traced_factors` reads the program (its jaxpr, with the loss's own nested ``jax.jit``
calls inlined: :func:`flat_program`), and for every parameter produced that way returns the two operands
instead of the (B, d_in, d_out) product. The other parameters
(biases, scalars, convolution kernels, anything else) keep their materialised (B, ...) gradients.

:class:`TracedFactors` then offers the operations of :class:`cgnb.engine.pergrad.PerExample` at
the factored cost: the mean is one matrix product per weight, the squared norms come from the
factors' norms, and the winsorized mean forms each value on the fly
(:func:`cgnb.engine.winsorize.winsorize_outer`), so the (B, P) gradients never exist.

The values are those of ``jax.vmap(jax.grad(...))``: each factored entry is the product of the two
operands that the batched ``dot_general`` multiplies (the same floats eagerly; two separately compiled
programs may round the shared forward and backward passes differently in the last bit).

Reference: Goodfellow, "Efficient per-example gradient computations", arXiv 1510.01799 (2015);
JAX, "Writing custom Jaxpr interpreters" (a program read and evaluated again).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.extend import core as jcore

from . import winsorize
from .losses import Params
from .pergrad import Materialised, PerExample, layer_sq_norms, weighted_layer_grads, with_total

#: A leaf's layout: ("outer", k) -- the k-th factor pair, the gradient ``outer(lefts[k][i], rights[k][i])``;
#: ("dense", k) -- ``dense[k]``, the materialised (B, ...) gradients.
Layout = tuple[str, int]


@dataclasses.dataclass(frozen=True)
class TracedFactors(PerExample):
    """Per-example gradients, the dense weights' as factor pairs, the rest materialised.

    Attributes:
      lefts, rights: per factored leaf, (B, m) and (B, n): example i's gradient of that (m, n) leaf is
        ``outer(lefts[k][i], rights[k][i])``.
      dense: per other leaf, its per-example gradients (B, ...).
      layout: per leaf of the parameters (in ``treedef`` order), where its gradient is.
      treedef: the parameters' tree structure.
    """

    lefts: tuple
    rights: tuple
    dense: tuple
    layout: tuple
    treedef: Any

    @property
    def batch_size(self) -> int:
        return self.lefts[0].shape[0]  # traced_factors makes one only where some leaf is factored

    def _assemble(self, outer: list, dense: list) -> Params:
        """The parameters' pytree from per-leaf results of the factored and the dense leaves."""
        parts = {"outer": outer, "dense": dense}
        return jax.tree_util.tree_unflatten(self.treedef, [parts[kind][k] for kind, k in self.layout])

    @property
    def _materialised(self) -> Materialised:
        """The leaves that stay materialised, with the operations of :class:`cgnb.engine.pergrad.Materialised`."""
        return Materialised(self.dense)

    def mean(self) -> Params:
        batch = self.batch_size
        return self._assemble([a.T @ d / batch for a, d in zip(self.lefts, self.rights)], self._materialised.mean())

    def sq_norms(self) -> jax.Array:
        return sum(layer_sq_norms(a, d, bias=False) for a, d in zip(self.lefts, self.rights)) + \
            self._materialised.sq_norms()

    def group_sums(self, weights: jax.Array) -> Params:
        rows = with_total(weights, jnp.zeros(self.batch_size, self.lefts[0].dtype))
        return self._assemble([weighted_layer_grads(a, d, rows)["w"] for a, d in zip(self.lefts, self.rights)],
                              self._materialised.group_sums(weights))

    def winsorized_mean(self, c: int | jax.Array, c_max: int | None = None, method: str | None = None) -> Params:
        # one kernel for every factored leaf (the bias row it also returns is not a leaf here)
        outer = [layer["w"] for layer in winsorize.winsorize_outer(self.lefts, self.rights, c, c_max, method)]
        dense = self._materialised.winsorized_mean(c, c_max, method) if self.dense else ()
        return self._assemble(outer, dense)

    def materialise(self) -> Params:
        return self._assemble([a[:, :, None] * d[:, None, :] for a, d in zip(self.lefts, self.rights)], self.dense)


jax.tree_util.register_dataclass(TracedFactors, data_fields=["lefts", "rights", "dense"],
                                 meta_fields=["layout", "treedef"])


# ============================================================================ reading the program


def _outer_operands(eqn: Any, batch: int) -> tuple[Any, Any] | None:
    """``(lhs, rhs)`` if ``eqn`` is a batched ``dot_general`` (batch axis 0 on both sides) whose
    contraction has size one and whose operands have one free axis each: its output (B, m, n) is then
    ``outer(lhs[i], rhs[i])`` for every example i; None otherwise."""
    if eqn.primitive.name != "dot_general":
        return None
    (l_contract, r_contract), (l_batch, r_batch) = eqn.params["dimension_numbers"]
    lhs, rhs = eqn.invars
    if tuple(l_batch) != (0,) or tuple(r_batch) != (0,) or not all(
            isinstance(v, jcore.Var) for v in (lhs, rhs)):
        return None
    l_shape, r_shape, out = lhs.aval.shape, rhs.aval.shape, eqn.outvars[0].aval
    if l_shape[0] != batch or r_shape[0] != batch:
        return None
    if math.prod(l_shape[i] for i in l_contract) != 1 or math.prod(r_shape[i] for i in r_contract) != 1:
        return None
    if len(l_shape) - 1 - len(l_contract) != 1 or len(r_shape) - 1 - len(r_contract) != 1:
        return None
    if not (lhs.aval.dtype == rhs.aval.dtype == out.dtype):
        return None
    return lhs, rhs


def _factor_pair(var: Any, producers: dict, batch: int) -> tuple[Any, Any] | None:
    """The operands ``(left, right)`` whose per-example outer product is the (B, m, n) value ``var``
    (a ``dot_general`` as in :func:`_outer_operands`, or its transpose swapping m and n); None if
    ``var`` is not produced that way."""
    if not isinstance(var, jcore.Var) or len(var.aval.shape) != 3:
        return None
    eqn = producers.get(var)
    if eqn is None:
        return None
    if eqn.primitive.name == "transpose" and tuple(eqn.params["permutation"]) == (0, 2, 1):
        pair = _outer_operands(producers[eqn.invars[0]], batch) if eqn.invars[0] in producers else None
        return None if pair is None else (pair[1], pair[0])
    return _outer_operands(eqn, batch)


#: Names of the nested-call primitive of ``jax.jit`` (``jit`` since JAX 0.7; ``pjit`` before).
JIT_CALLS = ("jit", "pjit")
#: Levels of nested calls inlined at most; a call nested deeper stays a call (correct, only not factored).
MAX_NESTING = 32


def _calls_to_inline(jaxpr: Any) -> list:
    """The top-level nested ``jax.jit`` calls of ``jaxpr`` not yet marked to be inlined."""
    return [eqn for eqn in jaxpr.eqns if eqn.primitive.name in JIT_CALLS and not eqn.params.get("inline", True)]


def flat_program(fn: Callable, *flat_args: Any) -> tuple[Any, Any]:
    """``jax.make_jaxpr(fn, return_shape=True)(*flat_args)``, with its nested ``jax.jit`` calls inlined.

    A loss that jits its own layers hides their outer products inside nested calls. Each pass marks the
    top-level calls ``inline=True`` and traces the program again, which JAX then stages in place (where a
    call has no sharding or layout of its own; one that has stays a call); a pass may expose the calls
    nested one level deeper, so passes repeat until no unmarked call is left at the top level (at most
    :data:`MAX_NESTING` passes).
    """
    closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*flat_args)
    for _ in range(MAX_NESTING):
        if not _calls_to_inline(closed.jaxpr):
            break
        marked = closed.jaxpr.replace(eqns=[
            eqn.replace(params={**eqn.params, "inline": True}) if eqn.primitive.name in JIT_CALLS else eqn
            for eqn in closed.jaxpr.eqns])
        consts = closed.consts
        closed = jax.make_jaxpr(lambda *flat: jax.core.eval_jaxpr(marked, consts, *flat))(*flat_args)
    return closed, out_shape


def traced_factors(per_example_grads: Callable[..., Params], *args: Any) -> PerExample:
    """The per-example gradients ``per_example_grads(*args)`` (leaves (B, ...)), factored where they can be.

    Args:
      per_example_grads: a function returning per-example gradients, e.g.
        ``jax.vmap(jax.grad(single_example_loss), in_axes=(None, 0, 0))``.
      *args: its arguments (arrays or pytrees of arrays; the batch B is the leading axis of the
        gradients' leaves).
    Returns:
      A :class:`TracedFactors` where at least one leaf is an outer product of two per-example
      vectors, else :class:`cgnb.engine.pergrad.Materialised` of the gradients.
    """
    flat_args, in_tree = jax.tree_util.tree_flatten(args)
    closed, out_shape = flat_program(lambda *flat: per_example_grads(*jax.tree_util.tree_unflatten(in_tree, flat)),
                                     *flat_args)
    jaxpr = closed.jaxpr
    leaves_shape, treedef = jax.tree_util.tree_flatten(out_shape)
    pairs = [None] * len(jaxpr.outvars)
    if leaves_shape and all(len(s.shape) >= 1 for s in leaves_shape):  # a batch axis B on every leaf
        batch = leaves_shape[0].shape[0]
        producers = {out: eqn for eqn in jaxpr.eqns for out in eqn.outvars}
        pairs = [_factor_pair(var, producers, batch) for var in jaxpr.outvars]
    if all(pair is None for pair in pairs):
        return Materialised(jax.tree_util.tree_unflatten(
            treedef, jax.core.eval_jaxpr(jaxpr, closed.consts, *flat_args)))
    outvars, layout, n_outer, n_dense = [], [], 0, 0
    for var, pair in zip(jaxpr.outvars, pairs):
        if pair is None:
            outvars.append(var)
            layout.append(("dense", n_dense))
            n_dense += 1
        else:
            outvars.extend(pair)
            layout.append(("outer", n_outer))
            n_outer += 1
    debug = jaxpr.debug_info  # names the program's results: one per value it now returns
    if debug is not None and getattr(debug, "result_paths", None) is not None:
        debug = debug._replace(result_paths=tuple(f"factors[{i}]" for i in range(len(outvars))))
    values = iter(jax.core.eval_jaxpr(jaxpr.replace(outvars=outvars, debug_info=debug), closed.consts, *flat_args))
    lefts, rights, dense = [], [], []
    for kind, _ in layout:
        if kind == "dense":
            dense.append(next(values))
        else:
            left, right = next(values), next(values)
            lefts.append(left.reshape(batch, -1))
            rights.append(right.reshape(batch, -1))
    return TracedFactors(tuple(lefts), tuple(rights), tuple(dense), tuple(layout), treedef)


__all__ = ["TracedFactors", "traced_factors", "Layout", "JIT_CALLS", "MAX_NESTING", "flat_program"]
