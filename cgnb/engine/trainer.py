"""Training steps: a gradient rule followed by an optax chain.

A :class:`Step` is the one contract for "one update on a minibatch"::

    grads = rule(loss, params, x, y)                       # a gradient rule (RULES)
    updates, opt_state = tx.update(grads, opt_state, params)  # an optax GradientTransformation
    params = optax.apply_updates(params, updates)

Gradient rules
  ``"mean"``         :func:`mean_gradient`, ``jax.grad`` of the batch's mean loss.
  ``"per_example"``  :func:`per_example_gradient`, the B per-example gradients as a
                     :class:`cgnb.engine.pergrad.PerExample` (an MLP's factors: the (B, P) tensor
                     never exists). The first transform of ``tx`` must aggregate them, e.g.
                     :func:`cgnb.engine.transforms.winsorized_mean`.

For example, the three methods of :mod:`cgnb.engine.sweep`::

    Step(loss, "mean", optax.sgd(lr))                                         # sgd
    Step(loss, "mean", optax.chain(transforms.rm3(), optax.sgd(lr)))          # rm3
    Step(loss, "per_example", optax.chain(transforms.winsorized_mean(c, c_max), optax.sgd(lr)))

Reference: optax's ``GradientTransformation``, https://optax.readthedocs.io
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import optax

from . import losses, pergrad

OptState = Any
GradientRule = Callable[[losses.Loss, losses.Params, jax.Array, jax.Array], Any]


def mean_gradient(loss: losses.Loss, params: losses.Params, x: jax.Array, y: jax.Array) -> losses.Params:
    """``jax.grad`` of :func:`cgnb.engine.losses.mean_loss`: a pytree like ``params``. x (B, ...), y (B, ...)."""
    return jax.grad(lambda p: losses.mean_loss(loss, p, x, y))(params)


def per_example_gradient(loss: losses.Loss, params: losses.Params, x: jax.Array, y: jax.Array) -> pergrad.PerExample:
    """The B per-example gradients of ``loss`` on x (B, ...), y (B, ...): :func:`cgnb.engine.pergrad.per_example`."""
    return pergrad.per_example(loss, params, x, y)


def apply_updates(tx: optax.GradientTransformation, params: losses.Params, opt_state: OptState,
                  grads: Any) -> tuple[losses.Params, OptState]:
    """One optimizer update: ``tx.update`` of ``grads``, then ``optax.apply_updates``: ``(params, opt_state)``."""
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


RULES: dict[str, GradientRule] = {"mean": mean_gradient, "per_example": per_example_gradient}


def torch_style_sgd(lr: float, *, momentum: float = 0.0,
                    weight_decay: float | jax.Array = 0.0) -> optax.GradientTransformation:
    """PyTorch's ``SGD(lr, momentum, weight_decay)`` as an optax chain.

    ``g' = g + weight_decay * params`` (L2 decay added to the gradient, not decoupled), then
    heavy-ball momentum ``buf = momentum * buf + g'`` and ``params -= lr * buf``:
    ``optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(lr, momentum))``.
    ``weight_decay`` may be a traced scalar (``vmap`` over decays); ``momentum=0`` is plain SGD.
    """
    if any(isinstance(v, (int, float)) and v < 0 for v in (lr, momentum)):
        raise ValueError(f"lr and momentum must be >= 0, got lr={lr}, momentum={momentum}")
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(lr, momentum=momentum or None))


@dataclasses.dataclass(frozen=True)
class Step:
    """One training update: the gradient rule ``rule`` of ``loss``, then the optax chain ``tx``.

    Attributes:
      loss: a per-example :data:`cgnb.engine.losses.Loss`, ``loss(params, x, y) -> (B,)``.
      rule: a key of :data:`RULES`, ``"mean"`` or ``"per_example"``.
      tx: the optax ``GradientTransformation`` fed the rule's output.

    Use ``opt_state = step.init(params)``, then ``params, opt_state = step(params, opt_state, x, y)``
    (pure, so it may be jitted, vmapped or scanned). :meth:`gradient` and :meth:`apply` are its
    two halves, for a loop that also looks at the gradient.
    """

    loss: losses.Loss
    rule: str
    tx: optax.GradientTransformation

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"unknown gradient rule {self.rule!r}; use one of {sorted(RULES)}")
        if not (callable(getattr(self.tx, "init", None)) and callable(getattr(self.tx, "update", None))):
            raise ValueError(f"tx must be an optax.GradientTransformation (with init and update), got "
                             f"{type(self.tx).__name__}; e.g. optax.sgd(lr)")

    def init(self, params: losses.Params) -> OptState:
        """The optax state of ``tx`` for ``params``."""
        return self.tx.init(params)

    def gradient(self, params: losses.Params, x: jax.Array, y: jax.Array):
        """The rule's output on the minibatch x (B, ...), y (B, ...) (what ``tx`` is fed)."""
        return RULES[self.rule](self.loss, params, x, y)

    def apply(self, params: losses.Params, opt_state: OptState, grads) -> tuple[losses.Params, OptState]:
        """``tx`` on the rule's output ``grads``, then ``optax.apply_updates``: ``(params, opt_state)``."""
        return apply_updates(self.tx, params, opt_state, grads)

    def __call__(self, params: losses.Params, opt_state: OptState, x: jax.Array, y: jax.Array
                 ) -> tuple[losses.Params, OptState]:
        """One update on the minibatch x (B, ...), y (B, ...): ``(params, opt_state)``."""
        return self.apply(params, opt_state, self.gradient(params, x, y))


__all__ = ["Step", "RULES", "GradientRule", "mean_gradient", "per_example_gradient", "apply_updates",
           "torch_style_sgd"]
