"""Chapter 1's training: full-batch binary training that records the gradient dose, and the runs.

The *dose* of input feature ``f`` over a training run is the summed squared gradient that
reaches the weights reading that input::

    D_f = sum_t || dL_t / dW_in[f, :] ||^2

where ``L_t`` is the training objective at step ``t`` (data loss plus any penalty in the loss,
such as Spectral Decoupling; weight decay is applied by the optimizer and is not part of the
dose) and ``W_in[f, :]`` is row ``f`` of the first-layer weights (for a linear model, the
single weight ``w_f``). :func:`train_binary` records it per step while it trains: it is the
engine's loop (:func:`cgnb.engine.loop.train`) with the dose as its step probe.

The chapter's runs (all seeds and settings vmapped in one jitted program):

* :func:`recognizer_runs` -- recognizer networks with a head start on feature 1;
* :func:`linear_runs` -- the linear model with a head start ``w_1`` at start;
* :func:`sharing_runs` -- general (shared) against memorizing (identity) recognizers.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from ..engine import losses, loop, xla
from ..engine.losses import Params
from ..engine.trainer import torch_style_sgd
from . import dosage

ApplyFn = Callable[..., jax.Array]


def first_layer_dose(grads: Params) -> jax.Array:
    """Squared gradient norm of each input's first-layer weights: (D,).

    Works for :func:`cgnb.chapters.dosage.init_linear` (``w_f ** 2``),
    :func:`cgnb.chapters.dosage.init_recognizers` (row ``a[f]``) and :mod:`cgnb.engine.nets`
    MLPs (row ``f`` of ``params[0]["w"]``).
    """
    if isinstance(grads, (list, tuple)):
        return jnp.sum(grads[0]["w"] ** 2, axis=1)
    if "a" in grads:
        return jnp.sum(grads["a"] ** 2, axis=1)
    if "w" in grads:
        return grads["w"] ** 2
    raise TypeError("first_layer_dose needs linear {'w','b'}, recognizer {'a','b','v','c'} or cgnb.engine.nets parameters")


@dataclasses.dataclass(frozen=True)
class History:
    """What :func:`train_binary` recorded, one row per chunk of ``record_every`` steps.

    Attributes:
      dose: (C, D) summed squared first-layer gradient of each input over each chunk.
      loss: (C,) training objective at the last step of each chunk (before that step's update).
      tracked: ``track(params)`` after each chunk, stacked along a leading axis C.
      steps: (C,) number of steps done at the end of each chunk.
    """

    dose: jax.Array
    loss: jax.Array
    tracked: Any
    steps: jax.Array


jax.tree_util.register_pytree_node(
    History,
    lambda h: ((h.dose, h.loss, h.tracked, h.steps), None),
    lambda _, c: History(*c),
)


def train_binary(
    params: Params,
    apply_fn: ApplyFn,
    x: jax.Array,
    y: jax.Array,
    *,
    optimizer: optax.GradientTransformation,
    steps: int,
    record_every: int = 1,
    key: jax.Array | None = None,
    dose_fn: Callable[[Params], jax.Array] = first_layer_dose,
    track: Callable[[Params], Any] | None = None,
) -> tuple[Params, History]:
    """Full-batch training on the logistic loss, recording the dose.

    Each step computes ``L = mean(losses.logistic(apply_fn(params, x, key_t), y))``, its gradient
    ``g`` (the dose adds
    ``dose_fn(g)``), and applies ``optimizer`` (put weight decay there, e.g.
    :func:`cgnb.engine.trainer.torch_style_sgd`). Runs :func:`cgnb.engine.loop.train` (the dose
    is its step probe, ``track`` its record probe); pure: jit it and ``vmap`` it over seeds or
    settings (e.g. the weight decay inside ``optimizer``).

    Args:
      params: initial parameters.
      apply_fn: ``apply_fn(params, x, key) -> logits (B,)``; ``key`` is a fresh PRNG key per
        step (``None`` when no ``key`` is given), for dropout.
      x, y: training inputs (N, D) and labels (N,) in {-1, +1}.
      optimizer: an optax transformation.
      steps: number of full-batch steps; must be a multiple of ``record_every``.
      record_every: chunk length; dose is summed and ``track`` evaluated once per chunk.
      key: PRNG key for ``apply_fn`` (dropout); ``None`` for deterministic models.
      dose_fn: maps a gradient pytree to the per-input dose of that step, (D,).
      track: optional ``track(params) -> pytree`` recorded after every chunk (e.g. test
        accuracy, weight norms).

    Returns:
      The final parameters and a :class:`History` with ``steps // record_every`` rows.
    """
    keys = None if key is None else jax.random.split(key, steps)

    def gradient(p, xb, yb, k):
        def objective(p):
            logits = apply_fn(p, xb, k)
            return jnp.mean(losses.logistic(logits, yb))
        return jax.value_and_grad(objective)(p)

    trace = loop.train(gradient, optimizer, params, x, y, steps=steps, record_every=record_every, keys=keys,
                       step_probe=lambda p, grads, loss: (dose_fn(grads), loss),
                       block_reduce=lambda block: (jnp.sum(block[0], axis=0), block[1][-1]),
                       record_probe=track or (lambda p: jnp.zeros(())))
    dose, loss = trace.step_values
    chunks = steps // record_every
    return trace.params, History(dose, loss, trace.records, record_every * jnp.arange(1, chunks + 1))


# ----------------------------------------------------------------------------- the chapter's runs

def recognizer_runs(x_train: jax.Array, y_train: jax.Array, x_test: jax.Array, y_test: jax.Array, *,
                    seeds: int, units: int, lr: float, steps: int, record_every: int,
                    head_start: jax.Array, readout_head_start: jax.Array,
                    weight_decay: jax.Array) -> tuple[Params, History]:
    """Recognizer networks (three cloned recognizers, recognizer 1 with a head start), all settings x seeds.

    Setting ``h`` starts from :func:`cgnb.chapters.dosage.init_recognizers` with
    ``head_start[h]``, ``readout_head_start[h]`` and ``clones=3`` (seed = PRNG key
    ``0 .. seeds-1``) and trains with :func:`cgnb.engine.trainer.torch_style_sgd`
    ``(lr, weight_decay=weight_decay[h])``; ``tracked`` is (test accuracy,
    :func:`cgnb.chapters.dosage.flip_reliance` of features 1-3 on the first 1000 test examples).

    Args:
      x_train, y_train: (N, D), (N,) in {-1, +1}; x_test, y_test: (M, D), (M,).
      head_start, readout_head_start, weight_decay: (H,) one entry per setting.

    Returns:
      Parameters and a :class:`History` with leading axes (H, seeds): ``dose`` (H, S, R, D),
      ``tracked`` = (accuracy (H, S, R), reliance (H, S, R, 3)), R = steps // record_every.
    """
    n_inputs = x_train.shape[1]

    def run(seed, k_input, k_readout, wd):
        params = dosage.init_recognizers(jax.random.PRNGKey(seed), n_inputs, units, head_start=k_input,
                                         readout_head_start=k_readout, clones=3)
        track = lambda p: (losses.binary_accuracy(dosage.apply_recognizers(p, x_test), y_test),
                           dosage.flip_reliance(dosage.apply_recognizers, p, x_test[:1000], range(3)))
        return train_binary(params, dosage.apply_recognizers, x_train, y_train,
                            optimizer=torch_style_sgd(lr, weight_decay=wd), steps=steps,
                            record_every=record_every, track=track)

    runs = xla.jit(jax.vmap(jax.vmap(run, (0, None, None, None)), (None, 0, 0, 0)))
    return runs(jnp.arange(seeds), head_start, readout_head_start, weight_decay)


def linear_runs(x_train: jax.Array, y_train: jax.Array, x_test: jax.Array, y_test: jax.Array, *,
                seeds: int, lr: float, steps: int, record_every: int,
                head_start: float) -> tuple[Params, History]:
    """Logistic regression with ``w_1 += head_start`` at start (:func:`cgnb.chapters.dosage.init_linear`), per seed.

    Plain SGD (:func:`cgnb.engine.trainer.torch_style_sgd` ``(lr)``); ``tracked`` is the test accuracy.
    Inputs as in :func:`recognizer_runs`. Returns parameters and a :class:`History` with leading
    axis S = seeds: ``dose`` (S, R, D), ``tracked`` (S, R).
    """
    n_inputs = x_train.shape[1]

    def run(seed, k):
        params = dosage.init_linear(jax.random.PRNGKey(seed), n_inputs, head_start=k)
        track = lambda p: losses.binary_accuracy(dosage.apply_linear(p, x_test), y_test)
        return train_binary(params, dosage.apply_linear, x_train, y_train, optimizer=torch_style_sgd(lr),
                            steps=steps, record_every=record_every, track=track)

    return xla.jit(jax.vmap(run, (0, None)))(jnp.arange(seeds), head_start)


def sharing_runs(x: jax.Array, y: jax.Array, *, seeds: int, units: int, lr: float, steps: int,
                 record_every: int, weight_decays: jax.Array) -> tuple[Params, History]:
    """Recognizer networks (``scale=0.3``) on :func:`cgnb.chapters.dosage.shared_and_identity_features`.

    One run per weight decay (W,) and seed (PRNG key ``0 .. seeds-1``), trained with
    :func:`cgnb.engine.trainer.torch_style_sgd` ``(lr, weight_decay=wd)``; ``tracked`` is
    :func:`cgnb.chapters.dosage.recognizer_norms`.

    Args:
      x, y: (N, D) 0/1 group and identity features, (N,) labels in {-1, +1}.
      weight_decays: (W,).

    Returns:
      Parameters and a :class:`History` with leading axes (W, S): ``dose`` (W, S, R, D),
      ``tracked`` (W, S, R, D).
    """
    def run(seed, wd):
        params = dosage.init_recognizers(jax.random.PRNGKey(seed), x.shape[1], units, scale=0.3)
        return train_binary(params, dosage.apply_recognizers, x, y, optimizer=torch_style_sgd(lr, weight_decay=wd),
                            steps=steps, record_every=record_every, track=dosage.recognizer_norms)

    return xla.jit(jax.vmap(jax.vmap(run, (0, None)), (None, 0)))(jnp.arange(seeds), weight_decays)
