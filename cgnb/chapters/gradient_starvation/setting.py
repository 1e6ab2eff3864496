"""Chapter 3's runs: one seed and variant of the two-moons MLP, and the paper profile's program.

:func:`moons_run` trains with :func:`cgnb.engine.fullbatch.train_binary`, Spectral Decoupling as its
penalty; :func:`paper_programs` compiles the paper profile's longest run for the memory check.

Reference: Pezeshki et al., "Gradient Starvation: A Learning Proclivity in Neural Networks", NeurIPS 2021.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from ...engine import fullbatch, losses
from ...engine.losses import Params
from ...engine.trainer import torch_style_sgd
from . import models, tasks

#: PRNG key ``DROPOUT_SEED_OFFSET + seed`` draws a run's dropout masks.
DROPOUT_SEED_OFFSET = 10_000


def moons_run(seed: int | jax.Array, sd: float | jax.Array, wd: float | jax.Array, *, n_train: int, n_test: int,
              noise: float, margin: float, hidden: int, lr: float, momentum: float, n_steps: int, chunks: int,
              drop: float = 0.0, moon_only: bool = False) -> tuple[Params, fullbatch.History]:
    """One seed of one variant of the chapter: a (2, hidden, 1) MLP on :func:`cgnb.chapters.gradient_starvation.tasks.moons_task`.

    The network (:func:`cgnb.chapters.gradient_starvation.models.init_torch_mlp`, PRNG key ``seed``)
    trains for ``n_steps`` full-batch steps on the logistic loss plus
    :func:`~cgnb.chapters.gradient_starvation.models.spectral_decoupling` with coefficient ``sd``,
    through :func:`cgnb.engine.trainer.torch_style_sgd` ``(lr, momentum, weight_decay=wd)``, with
    dropout ``drop`` on the hidden units (masks from PRNG key ``DROPOUT_SEED_OFFSET + seed``).
    With ``moon_only`` it trains on the training set with ``x1`` neutralized
    (:func:`cgnb.chapters.gradient_starvation.tasks.neutralize_feature`): the moon shape is then the
    only feature, and its accuracy on the neutralized test set is what that feature alone allows.

    Args:
      seed, sd, wd: the run's seed, SD coefficient and weight decay; each may be traced (vmap).
      n_train, n_test, noise, margin: the task (:func:`~cgnb.chapters.gradient_starvation.tasks.moons_task`).
      hidden, lr, momentum, n_steps, drop: the network and its training.
      moon_only: train without the linear feature (a Python bool).
      chunks: records over the run (``n_steps`` must be a multiple of it).

    Returns:
      The final parameters and a :class:`cgnb.engine.fullbatch.History` of ``chunks`` rows; ``dose``
      (chunks, 2) per input, ``tracked`` (chunks,) the accuracy on the x1-neutralized test set.
    """
    d = tasks.moons_task(seed, n_train, n_test, noise, margin)
    params = models.init_torch_mlp(jax.random.PRNGKey(seed), (2, hidden, 1))
    apply = functools.partial(models.apply_mlp, dropout_rate=drop)
    track = lambda p: losses.binary_accuracy(models.apply_mlp(p, d["x_neutral"]), d["y_test"])
    x = tasks.neutralize_feature(d["x"], d["y"], 0) if moon_only else d["x"]
    return fullbatch.train_binary(params, apply, x, d["y"],
                                  optimizer=torch_style_sgd(lr, momentum=momentum, weight_decay=wd),
                                  steps=n_steps, record_every=n_steps // chunks,
                                  penalty=lambda logits: models.spectral_decoupling(logits, sd),
                                  key=jax.random.PRNGKey(DROPOUT_SEED_OFFSET + seed) if drop > 0 else None,
                                  track=track)


def paper_programs(parameters: Mapping[str, Any], *, sweep_chunk: Callable | None = None) -> list[tuple]:
    """The paper profile's program for the memory check: the "train longer" variant, all seeds vmapped.

    Args:
      parameters: the notebook's paper-profile ``parameters`` (the task, the network, ``steps``, ``longer``,
        ``chunks``, ``seeds``).
      sweep_chunk: ignored here (the runs are full-batch, no sweep).

    Returns:
      A list with the one program, as ``(label, function, abstract args, {})``.
    """
    del sweep_chunk
    p = parameters
    n_steps = p["longer"] * p["steps"]
    run = functools.partial(moons_run, n_train=p["n_train"], n_test=p["n_test"], noise=p["noise"],
                            margin=p["margin"], hidden=p["hidden"], lr=p["lr"], momentum=p["momentum"],
                            chunks=p["chunks"], sd=0.0, wd=0.0, n_steps=n_steps)
    return [(f"moons runs, {n_steps} steps", jax.vmap(run), (jax.ShapeDtypeStruct((len(p["seeds"]),), jnp.int32),), {})]
