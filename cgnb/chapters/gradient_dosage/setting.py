"""Chapter 1's runs: every seed and setting vmapped in one jitted program, on the engine's full-batch trainer.

* :func:`placements` -- where a head start sits (input weights, read-out, whole recognizer), each
  giving recognizer 1 the same initial logit;
* :func:`head_start_runs` -- recognizer networks with those head starts, with and without weight decay;
* :func:`linear_runs` -- the linear model with a head start ``w_1`` at start;
* :func:`sharing_runs` -- general (shared) against memorizing (identity) recognizers;
* :func:`paper_programs` -- the paper profile's program, for the memory check.

Each run is :func:`cgnb.engine.fullbatch.train_binary`; each seed draws its own data
(:func:`cgnb.chapters.gradient_dosage.tasks.seeded_task`) and initialisation (``PRNGKey(seed)``).

Reference: "Gradient Dosage" (blog post, 11 September 2022).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import fullbatch, losses, xla
from ...engine.losses import Params
from ...engine.trainer import torch_style_sgd
from . import measures, models, tasks

#: The settings every head-start run is compared with: no head start.
CONTROL = "no head start"
#: Test examples on which the reliance on each feature is measured.
RELIANCE_EXAMPLES = 1000


def placements(head_start: float) -> dict[str, tuple[float, float]]:
    """Where recognizer 1's head start sits: name -> (input-weight factor, read-out factor).

    Recognizer 1's output is ``v_1 relu(a_1 x_1)`` (zero biases at the start), so multiplying its
    input weights by ``k``, its read-out by ``k`` or both by ``sqrt(k)`` gives the same initial logit:
    the network starts out listening to feature 1 equally in all three. They differ in where the
    gradient is enlarged by construction: ``dL/da_1`` is proportional to ``v_1`` and ``dL/dv_1`` to
    ``a_1``, so each layer's dose is multiplied by the square of the *other* layer's factor at equal error.

    Args:
      head_start: k >= 1, the factor on recognizer 1's initial output.

    Raises:
      ValueError: ``head_start`` below 1.
    """
    if not head_start >= 1.0:
        raise ValueError(f"head_start is the factor on recognizer 1's initial output, >= 1; got {head_start}")
    root = math.sqrt(head_start)
    return {CONTROL: (1.0, 1.0), "input weights": (head_start, 1.0), "read-out": (1.0, head_start),
            "whole recognizer": (root, root)}


@dataclasses.dataclass(frozen=True)
class HeadStartRuns:
    """The recognizer networks of :func:`head_start_runs`, one row per placement and weight decay.

    Attributes:
      placements: (P,) names of :func:`placements`; weight_decays: (W,).
      steps: (R,) the step at each record.
      dose: (P, W, S, R, 2, D) per record, the input-weight (0) and read-out (1) dose of each input
        (:func:`cgnb.chapters.gradient_dosage.measures.recognizer_dose`, summed over the record's steps).
      test: (P, W, S, R) test accuracy; vote: (P, W, S, R) the exact accuracy of the network's vote on
        the three features (:func:`cgnb.chapters.gradient_dosage.measures.vote_accuracy`);
        reliance: (P, W, S, R, 3) :func:`cgnb.chapters.gradient_dosage.measures.flip_reliance`;
        loss: (P, W, S, R) training loss.
    """

    placements: tuple[str, ...]
    weight_decays: tuple[float, ...]
    steps: np.ndarray
    dose: np.ndarray
    test: np.ndarray
    vote: np.ndarray
    reliance: np.ndarray
    loss: np.ndarray

    def index(self, placement: str, weight_decay: float = 0.0) -> tuple[int, int]:
        """The (placement, weight decay) row of ``placement`` at ``weight_decay``.

        Raises:
          KeyError: no such placement or weight decay in these runs.
        """
        if placement not in self.placements or weight_decay not in self.weight_decays:
            raise KeyError(f"no run with placement {placement!r} and weight decay {weight_decay}; the runs have "
                           f"{list(self.placements)} x {list(self.weight_decays)}")
        return self.placements.index(placement), self.weight_decays.index(weight_decay)


def seeded_data(seeds: jax.Array, *, n_train: int, n_test: int, agreement: float, n_irrelevant: int
                ) -> tuple[jax.Array, ...]:
    """Every seed's training and test sets (:func:`cgnb.chapters.gradient_dosage.tasks.seeded_task`).

    Drawn once, outside the training programs, which take them as inputs (drawn inside, the draw
    may be recomputed at every step).

    Returns:
      ``x_train`` (S, n_train, D), ``y_train`` (S, n_train), ``x_test`` (S, n_test, D), ``y_test`` (S, n_test).
    """
    draw = functools.partial(tasks.seeded_task, n_train=n_train, n_test=n_test, agreement=agreement,
                             n_irrelevant=n_irrelevant)
    return xla.jit(jax.vmap(draw))(seeds)


def head_start_program(seeds: jax.Array, data: tuple[jax.Array, ...], k_in: jax.Array, k_out: jax.Array,
                       wds: jax.Array, *, agreement: float, units: int, lr: float, steps: int,
                       record_every: int) -> fullbatch.History:
    """The jitted, vmapped program of :func:`head_start_runs`: settings (H,) x seeds (S,).

    Args:
      seeds: (S,) int; data: :func:`seeded_data` of those seeds.
      k_in, k_out, wds: (H,) each setting's input-weight and read-out factors and weight decay.
      agreement, units, lr, steps, record_every: as in :func:`head_start_runs`.

    Returns:
      A :class:`cgnb.engine.fullbatch.History` with leading axes (H, S); ``tracked`` is a dict of
      ``test``, ``vote`` and ``reliance``.
    """
    n_inputs = data[0].shape[-1]

    def run(seed, x, y, x_test, y_test, scale_in, scale_out, wd):
        params = models.init_recognizers(jax.random.PRNGKey(seed), n_inputs, units, head_start=scale_in,
                                         readout_head_start=scale_out, clones=3, orient=True)
        apply = models.apply_recognizers
        track = lambda p: {
            "test": losses.binary_accuracy(apply(p, x_test), y_test),
            "vote": measures.vote_accuracy(apply, p, agreement=agreement, n_inputs=n_inputs),
            "reliance": measures.flip_reliance(apply, p, x_test[:RELIANCE_EXAMPLES], range(3))}
        return fullbatch.train_binary(params, apply, x, y, optimizer=torch_style_sgd(lr, weight_decay=wd),
                                      steps=steps, record_every=record_every, dose_fn=measures.recognizer_dose,
                                      track=track)[1]

    per_seed = jax.vmap(run, (0, 0, 0, 0, 0, None, None, None))
    program = xla.jit(jax.vmap(per_seed, (None, None, None, None, None, 0, 0, 0)))
    return program(seeds, *data, k_in, k_out, wds)


def head_start_runs(seeds: Sequence[int], *, head_start: float, weight_decays: Sequence[float], **task_and_training
                    ) -> HeadStartRuns:
    """Recognizer networks (three cloned recognizers, recognizer 1 with a head start): placements x decays x seeds.

    Every placement of :func:`placements` ``(head_start)`` is trained at every weight decay with
    :func:`cgnb.engine.trainer.torch_style_sgd` ``(lr, weight_decay=wd)`` on seed ``s``'s data
    (:func:`cgnb.chapters.gradient_dosage.tasks.seeded_task`), from
    :func:`cgnb.chapters.gradient_dosage.models.init_recognizers` with ``PRNGKey(s)``, ``clones=3`` and
    ``orient=True`` (the three recognizers start reading their features the right way round).

    Args:
      seeds: the seeds (S,).
      head_start: the factor on recognizer 1's initial output; weight_decays: (W,).
      task_and_training: ``n_train``, ``n_test``, ``agreement``, ``n_irrelevant`` (the task) and
        ``units``, ``lr``, ``steps``, ``record_every`` (the training), as :func:`head_start_program` takes them.

    Returns:
      A :class:`HeadStartRuns`.
    """
    places = placements(head_start)
    grid = [(*places[name], wd) for name in places for wd in weight_decays]
    k_in, k_out, wds = (jnp.array([row[i] for row in grid], jnp.float32) for i in range(3))
    task = {k: task_and_training.pop(k) for k in ("n_train", "n_test", "n_irrelevant")}
    seeds = jnp.asarray(seeds, jnp.int32)
    data = seeded_data(seeds, agreement=task_and_training["agreement"], **task)
    hist = head_start_program(seeds, data, k_in, k_out, wds, **task_and_training)
    shape = (len(places), len(weight_decays))
    split = lambda a: np.asarray(a).reshape(shape + np.shape(a)[1:])
    return HeadStartRuns(tuple(places), tuple(float(w) for w in weight_decays), np.asarray(hist.steps[0, 0]),
                         split(hist.dose), split(hist.tracked["test"]), split(hist.tracked["vote"]),
                         split(hist.tracked["reliance"]), split(hist.loss))


def linear_runs(seeds: Sequence[int], *, n_train: int, n_test: int, agreement: float, n_irrelevant: int, lr: float,
                steps: int, record_every: int, head_start: float) -> fullbatch.History:
    """Logistic regression with ``w_1 += head_start`` at start, one run per seed, on the seed's data.

    The model is :func:`cgnb.chapters.gradient_dosage.models.init_linear` (``PRNGKey(seed)``), trained
    with plain SGD (:func:`cgnb.engine.trainer.torch_style_sgd` ``(lr)``); ``tracked`` is the test accuracy.

    Returns:
      A :class:`cgnb.engine.fullbatch.History` with leading axis S: ``dose`` (S, R, D), ``tracked`` (S, R).
    """
    def run(seed):
        x, y, x_test, y_test = tasks.seeded_task(seed, n_train=n_train, n_test=n_test, agreement=agreement,
                                                 n_irrelevant=n_irrelevant)
        params = models.init_linear(jax.random.PRNGKey(seed), x.shape[1], head_start=head_start)
        track = lambda p: losses.binary_accuracy(models.apply_linear(p, x_test), y_test)
        return fullbatch.train_binary(params, models.apply_linear, x, y, optimizer=torch_style_sgd(lr),
                                      steps=steps, record_every=record_every, dose_fn=measures.first_layer_dose,
                                      track=track)[1]

    return xla.jit(jax.vmap(run))(jnp.asarray(seeds, jnp.int32))


def sharing_runs(x: jax.Array, y: jax.Array, seeds: Sequence[int], *, units: int, lr: float, steps: int,
                 record_every: int, weight_decays: Sequence[float]) -> fullbatch.History:
    """Recognizer networks (``scale=0.3``) on :func:`cgnb.chapters.gradient_dosage.tasks.shared_and_identity_features`.

    One run per weight decay (W,) and seed (S,) (``PRNGKey(seed)``), trained with
    :func:`cgnb.engine.trainer.torch_style_sgd` ``(lr, weight_decay=wd)``; ``tracked`` is
    :func:`cgnb.chapters.gradient_dosage.models.recognizer_norms`.

    Args:
      x, y: (N, D) 0/1 group and identity features, (N,) labels in {-1, +1}.
      seeds: (S,); weight_decays: (W,).

    Returns:
      A :class:`cgnb.engine.fullbatch.History` with leading axes (W, S): ``dose`` (W, S, R, D),
      ``tracked`` (W, S, R, D).
    """
    def run(seed, wd):
        params = models.init_recognizers(jax.random.PRNGKey(seed), x.shape[1], units, scale=0.3)
        return fullbatch.train_binary(params, models.apply_recognizers, x, y,
                                      optimizer=torch_style_sgd(lr, weight_decay=wd), steps=steps,
                                      record_every=record_every, dose_fn=measures.first_layer_dose,
                                      track=models.recognizer_norms)[1]

    program = xla.jit(jax.vmap(jax.vmap(run, (0, None)), (None, 0)))
    return program(jnp.asarray(seeds, jnp.int32), jnp.asarray(weight_decays, jnp.float32))


def paper_programs(parameters: Mapping[str, Any], *, sweep_chunk: Callable | None = None) -> list[tuple]:
    """The paper profile's program for the memory check: :func:`head_start_program` of every setting.

    Args:
      parameters: the notebook's paper-profile ``parameters`` (``seeds``, ``head_start``,
        ``weight_decays``, ``n_train``, ``n_test``, ``agreement``, ``n_irrelevant``, ``units``, ``lr``,
        ``steps``, ``record_every``).
      sweep_chunk: not used; every chapter's builder takes it.

    Returns:
      One ``(label, function, abstract args, abstract kwargs)``.
    """
    del sweep_chunk
    p = parameters
    run = functools.partial(head_start_program, **{k: p[k] for k in ("agreement", "units", "lr", "steps",
                                                                     "record_every")})
    settings = len(placements(p["head_start"])) * len(p["weight_decays"])
    seeds = jax.ShapeDtypeStruct((len(p["seeds"]),), jnp.int32)
    data = jax.eval_shape(lambda s: seeded_data(s, n_train=p["n_train"], n_test=p["n_test"],
                                                agreement=p["agreement"], n_irrelevant=p["n_irrelevant"]), seeds)
    h = jax.ShapeDtypeStruct((settings,), jnp.float32)
    return [("head-start runs", run, (seeds, data, h, h, h), {})]
