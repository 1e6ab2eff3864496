"""Full-batch training of a binary classifier on the logistic loss, recording each input's gradient dose.

The *dose* of input ``f`` over a run is the summed squared gradient that reaches the weights
reading that input, ``D_f = sum_t ||dL_t / dW_in[f, :]||^2``, where ``L_t`` is the training
objective at step ``t`` (data loss plus the optional penalty; weight decay put in the optimizer
is not part of it). :func:`train_binary` is :func:`cgnb.engine.loop.train` on the whole training
set with the dose as its step probe; it is pure (jit it, ``vmap`` it over seeds or settings).

Reference: "Gradient Dosage" (blog post, 11 September 2022), where a feature recognizer's dose is
the gradient it receives over training.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import loop, losses
from .losses import Params

ApplyFn = Callable[..., jax.Array]
"""``apply_fn(params, x (B, D), key) -> logits (B,)``; ``key`` is a PRNG key (dropout) or None."""


class History(NamedTuple):
    """What :func:`train_binary` recorded, one row per chunk of ``record_every`` steps.

    Attributes:
      dose: (C, D) the step values of ``dose_fn`` summed over each chunk.
      loss: (C,) training objective at the last step of each chunk (before that step's update).
      tracked: ``track(params)`` after each chunk, stacked along a leading axis C.
      steps: (C,) number of steps done at the end of each chunk.
    """

    dose: jax.Array
    loss: jax.Array
    tracked: Any
    steps: jax.Array


def input_dose(grads: Params) -> jax.Array:
    """Squared gradient norm of each input's first-layer weights of a :mod:`cgnb.engine.nets` MLP: (D,).

    Args:
      grads: gradients in the nets format, ``grads[0]["w"]`` (D, d_1).
    """
    return jnp.sum(grads[0]["w"] ** 2, axis=1)


def train_binary(params: Params, apply_fn: ApplyFn, x: jax.Array, y: jax.Array, *,
                 optimizer: optax.GradientTransformation, steps: int, record_every: int = 1,
                 dose_fn: Callable[[Params], jax.Array] = input_dose,
                 penalty: Callable[[jax.Array], jax.Array] | None = None, key: jax.Array | None = None,
                 track: Callable[[Params], Any] | None = None) -> tuple[Params, History]:
    """Full-batch training on ``mean(logistic(logits, y))`` (plus ``penalty(logits)``), recording the dose.

    Args:
      params: initial parameters.
      apply_fn: ``apply_fn(params, x, key) -> logits (N,)``; ``key`` is that step's PRNG key, or None.
      x, y: the training set (N, D) and its labels (N,) in {-1, +1}.
      optimizer: an optax transformation (put weight decay there, e.g.
        :func:`cgnb.engine.trainer.torch_style_sgd`).
      steps: full-batch steps, a multiple of ``record_every``.
      record_every: chunk length: the dose is summed and ``track`` evaluated once per chunk.
      dose_fn: a step's gradient pytree -> that step's dose per input (D,).
      penalty: ``penalty(logits (N,)) -> scalar`` added to the objective (e.g. Spectral Decoupling);
        None adds nothing.
      key: PRNG key split into one key per step for ``apply_fn``; None passes None.
      track: ``track(params) -> pytree`` recorded after every chunk; None records zeros.

    Returns:
      The final parameters and a :class:`History` with ``steps // record_every`` rows.

    Raises:
      ValueError: ``steps`` is not a positive multiple of ``record_every``, or x and y differ in length.
    """
    keys = None if key is None else jax.random.split(key, steps)

    def gradient(p, xb, yb, k):
        def objective(p):
            logits = apply_fn(p, xb, k)
            data_loss = jnp.mean(losses.logistic(logits, yb))
            return data_loss if penalty is None else data_loss + penalty(logits)
        return jax.value_and_grad(objective)(p)

    trace = loop.train(gradient, optimizer, params, x, y, steps=steps, record_every=record_every, keys=keys,
                       step_probe=lambda p, grads, loss: (dose_fn(grads), loss),
                       block_reduce=lambda block: (jnp.sum(block[0], axis=0), block[1][-1]),
                       record_probe=track or (lambda p: jnp.zeros(())))
    dose, loss = trace.step_values
    chunks = steps // record_every
    return trace.params, History(dose, loss, trace.records, record_every * jnp.arange(1, chunks + 1))


__all__ = ["ApplyFn", "History", "input_dose", "train_binary"]
