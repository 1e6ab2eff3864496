"""Chapter 1's runs: every seed and setting vmapped in one jitted program, on the engine's full-batch trainer.

* :func:`recognizer_runs` -- recognizer networks with a head start on feature 1;
* :func:`linear_runs` -- the linear model with a head start ``w_1`` at start;
* :func:`sharing_runs` -- general (shared) against memorizing (identity) recognizers;
* :func:`paper_programs` -- the paper profile's program, for the memory check.

Each run is :func:`cgnb.engine.fullbatch.train_binary` with
:func:`cgnb.chapters.gradient_dosage.measures.first_layer_dose` as its dose.

Reference: "Gradient Dosage" (blog post, 11 September 2022).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from ...engine import fullbatch, losses, xla
from ...engine.losses import Params
from ...engine.trainer import torch_style_sgd
from . import measures, models, tasks


def recognizer_runs(x_train: jax.Array, y_train: jax.Array, x_test: jax.Array, y_test: jax.Array, *,
                    seeds: int, units: int, lr: float, steps: int, record_every: int,
                    head_start: jax.Array, readout_head_start: jax.Array,
                    weight_decay: jax.Array) -> tuple[Params, fullbatch.History]:
    """Recognizer networks (three cloned recognizers, recognizer 1 with a head start), all settings x seeds.

    Setting ``h`` starts from :func:`cgnb.chapters.gradient_dosage.models.init_recognizers` with
    ``head_start[h]``, ``readout_head_start[h]`` and ``clones=3`` (seed = PRNG key
    ``0 .. seeds-1``) and trains with :func:`cgnb.engine.trainer.torch_style_sgd`
    ``(lr, weight_decay=weight_decay[h])``; ``tracked`` is (test accuracy,
    :func:`cgnb.chapters.gradient_dosage.measures.flip_reliance` of features 1-3 on the first 1000 test examples).

    Args:
      x_train, y_train: (N, D), (N,) in {-1, +1}; x_test, y_test: (M, D), (M,).
      head_start, readout_head_start, weight_decay: (H,) one entry per setting.

    Returns:
      Parameters and a :class:`cgnb.engine.fullbatch.History` with leading axes (H, seeds): ``dose`` (H, S, R, D),
      ``tracked`` = (accuracy (H, S, R), reliance (H, S, R, 3)), R = steps // record_every.
    """
    n_inputs = x_train.shape[1]

    def run(seed, k_input, k_readout, wd):
        params = models.init_recognizers(jax.random.PRNGKey(seed), n_inputs, units, head_start=k_input,
                                         readout_head_start=k_readout, clones=3)
        track = lambda p: (losses.binary_accuracy(models.apply_recognizers(p, x_test), y_test),
                           measures.flip_reliance(models.apply_recognizers, p, x_test[:1000], range(3)))
        return fullbatch.train_binary(params, models.apply_recognizers, x_train, y_train,
                                      optimizer=torch_style_sgd(lr, weight_decay=wd), steps=steps,
                                      record_every=record_every, dose_fn=measures.first_layer_dose, track=track)

    program = xla.jit(jax.vmap(jax.vmap(run, (0, None, None, None)), (None, 0, 0, 0)))
    return program(jnp.arange(seeds), head_start, readout_head_start, weight_decay)


def linear_runs(x_train: jax.Array, y_train: jax.Array, x_test: jax.Array, y_test: jax.Array, *,
                seeds: int, lr: float, steps: int, record_every: int,
                head_start: float) -> tuple[Params, fullbatch.History]:
    """Logistic regression with ``w_1 += head_start`` at start, one run per seed (PRNG key ``0 .. seeds-1``).

    The model is :func:`cgnb.chapters.gradient_dosage.models.init_linear`, trained with plain SGD
    (:func:`cgnb.engine.trainer.torch_style_sgd` ``(lr)``); ``tracked`` is the test accuracy.

    Args:
      x_train, y_train, x_test, y_test: as in :func:`recognizer_runs`.
      head_start: the initial weight added to ``w_1``.

    Returns:
      Parameters and a :class:`cgnb.engine.fullbatch.History` with leading axis S = seeds:
      ``dose`` (S, R, D), ``tracked`` (S, R).
    """
    n_inputs = x_train.shape[1]

    def run(seed, k):
        params = models.init_linear(jax.random.PRNGKey(seed), n_inputs, head_start=k)
        track = lambda p: losses.binary_accuracy(models.apply_linear(p, x_test), y_test)
        return fullbatch.train_binary(params, models.apply_linear, x_train, y_train, optimizer=torch_style_sgd(lr),
                                      steps=steps, record_every=record_every, dose_fn=measures.first_layer_dose,
                                      track=track)

    return xla.jit(jax.vmap(run, (0, None)))(jnp.arange(seeds), head_start)


def sharing_runs(x: jax.Array, y: jax.Array, *, seeds: int, units: int, lr: float, steps: int,
                 record_every: int, weight_decays: jax.Array) -> tuple[Params, fullbatch.History]:
    """Recognizer networks (``scale=0.3``) on :func:`cgnb.chapters.gradient_dosage.tasks.shared_and_identity_features`.

    One run per weight decay (W,) and seed (PRNG key ``0 .. seeds-1``), trained with
    :func:`cgnb.engine.trainer.torch_style_sgd` ``(lr, weight_decay=wd)``; ``tracked`` is
    :func:`cgnb.chapters.gradient_dosage.models.recognizer_norms`.

    Args:
      x, y: (N, D) 0/1 group and identity features, (N,) labels in {-1, +1}.
      weight_decays: (W,).

    Returns:
      Parameters and a :class:`cgnb.engine.fullbatch.History` with leading axes (W, S): ``dose`` (W, S, R, D),
      ``tracked`` (W, S, R, D).
    """
    def run(seed, wd):
        params = models.init_recognizers(jax.random.PRNGKey(seed), x.shape[1], units, scale=0.3)
        return fullbatch.train_binary(params, models.apply_recognizers, x, y,
                                      optimizer=torch_style_sgd(lr, weight_decay=wd), steps=steps,
                                      record_every=record_every, dose_fn=measures.first_layer_dose,
                                      track=models.recognizer_norms)

    return xla.jit(jax.vmap(jax.vmap(run, (0, None)), (None, 0)))(jnp.arange(seeds), weight_decays)


def paper_programs(parameters: Mapping[str, Any], *, sweep_chunk: Callable | None = None) -> list[tuple]:
    """The paper profile's program for the memory check: experiment A's :func:`recognizer_runs`.

    All settings (as the notebook builds them: every head start, three controls and every weight
    decay) and seeds are vmapped in one program of ``parameters["steps"]`` steps.

    Args:
      parameters: experiment A's entries of the notebook's paper-profile ``parameters`` cell (``n_train``,
        ``n_test``, ``agreement``, ``n_irrelevant``, ``units``, ``lr``, ``steps``, ``record_every``, ``seeds``,
        ``head_starts``, ``weight_decays``).
      sweep_chunk: not used; every chapter's builder takes it.

    Returns:
      One ``(label, function, abstract args, abstract kwargs)``.
    """
    del sweep_chunk
    p = parameters
    settings = len(p["head_starts"]) + 3 + len(p["weight_decays"])
    make = lambda n: tasks.agreeing_features(jax.random.PRNGKey(0), n, agreement=p["agreement"],
                                             n_irrelevant=p["n_irrelevant"])
    (xtr, ytr), (xte, yte) = jax.eval_shape(lambda: make(p["n_train"])), jax.eval_shape(lambda: make(p["n_test"]))
    run = functools.partial(recognizer_runs, seeds=p["seeds"], units=p["units"], lr=p["lr"],
                            steps=p["steps"], record_every=p["record_every"])
    h = jax.ShapeDtypeStruct((settings,), jnp.float32)
    return [("recognizer runs", lambda a, b, c, d, k, r, w: run(a, b, c, d, head_start=k, readout_head_start=r,
                                                              weight_decay=w), (xtr, ytr, xte, yte, h, h, h), {})]
