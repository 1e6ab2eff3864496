"""Chapter 6's runs: each network variant trained per seed, kept at the start and mid-training.

* :func:`train_and_snapshot` -- minibatch training on the engine's loop that keeps the parameters at
  chosen steps (:func:`cgnb.engine.loop.train_keeping_snapshots`);
* :func:`train_variant` -- one variant (plain / dropout / batch norm) and seed; :func:`train_variants`
  -- all variants x seeds, keyed ``"<variant>/<seed>"`` (what the notebook stores with
  :func:`cgnb.engine.store.memoize`);
* :func:`variants` -- the three networks' settings; :data:`PARAMETERS` -- the notebook's parameters;
* :func:`paper_programs` -- the paper profile's training program, for the memory check.

Reference: "Gradients are sensitive to minibatch composition" (blog post).
"""
from __future__ import annotations

import math
import sys
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ...engine import loop, nets, sampler, store
from ...engine.losses import Loss, Params
from . import models, tasks

#: The names the notebook's ``parameters`` cell defines, in its order (the ledger records them).
PARAMETERS = ("seeds", "n_train", "hidden", "dropout_rate", "learning_rate", "batch_size", "mid_epochs", "mid_step",
              "after", "steps", "num_minibatches", "num_pairs", "grid_points", "grid_spacing", "spacings",
              "field_batches", "batch_sizes", "per_example_n")
#: The variants: plain, dropout on every hidden layer, batch normalisation on every hidden layer.
VARIANTS = ("plain", "dropout", "batch norm")
#: A variant's initial parameters come from PRNG key ``INIT_SEED_OFFSET + seed``.
INIT_SEED_OFFSET = 1000
#: Its batch order and dropout keys from RNG seed ``ORDER_SEED_OFFSET + seed``.
ORDER_SEED_OFFSET = 2000


def train_and_snapshot(loss_fn: Loss, params: Params, x: np.ndarray, y: np.ndarray, *,
                         optimizer: optax.GradientTransformation, batch_size: int, steps: int,
                         snapshot_steps: Sequence[int], seed: int, noisy: bool = False
                         ) -> tuple[np.ndarray, dict[int, Params]]:
    """Minibatch training (:func:`cgnb.engine.loop.train_keeping_snapshots`) that keeps the parameters at chosen steps.

    Args:
      loss_fn: ``loss(params, x, y, key=None) -> (B,)``; each step descends its mean.
      params: initial parameters.
      x, y: training set (N, D), (N,).
      optimizer: an optax transformation (e.g. ``optax.adam(1e-3)``); pass the same object to
        reuse the compilation.
      batch_size, steps: minibatch size and number of updates.
      snapshot_steps: steps ``s`` in [0, steps] at which to keep the parameters *before* update ``s``
        (0 = initial parameters).
      seed: RNG seed of the batch order (shuffled epochs, :func:`cgnb.engine.sampler.batch_indices`)
        and, when ``noisy``, of the dropout keys (``jax.random.split(PRNGKey(seed), steps)``).
      noisy: pass a fresh key to ``loss_fn`` at every step (dropout); otherwise None.

    Returns:
      ``(losses (steps,), {s: params at step s})``, losses being each step's minibatch loss.
    """
    if any(not 0 <= s <= steps for s in snapshot_steps):
        raise ValueError(f"snapshot steps must lie in [0, {steps}], got {list(snapshot_steps)}")
    order = jnp.asarray(sampler.batch_indices(seed, 0, steps, len(y), batch_size, "epochs"))
    keys = jax.random.split(jax.random.PRNGKey(seed), steps) if noisy else None
    trace, snapshots = loop.train_keeping_snapshots(
        loop.mean_loss_gradient(loss_fn), optimizer, params, jnp.asarray(x), jnp.asarray(y), steps=steps,
        snapshot_steps=snapshot_steps, indices=order, keys=keys, step_probe=loss_probe,
        block_reduce=loop.block_all)
    return np.asarray(trace.step_values).reshape(steps), snapshots


def loss_probe(params: Params, grads: Params, loss: jax.Array) -> jax.Array:
    """The step's minibatch loss (a step probe of :func:`cgnb.engine.loop.train`)."""
    return loss


def train_variant(loss_fn: Loss, x: np.ndarray, y: np.ndarray, *, sizes: Sequence[int], batchnorm: bool,
                  dropout: float, seed: int, optimizer: optax.GradientTransformation, batch_size: int,
                  steps: int, mid_step: int) -> dict[str, Any]:
    """Train one variant from ``nets.init(PRNGKey(INIT_SEED_OFFSET + seed), sizes, batchnorm=batchnorm)``.

    Minibatches of ``batch_size`` in shuffled epochs and dropout keys from RNG seed ``ORDER_SEED_OFFSET + seed``
    (a fresh key per step when ``dropout > 0``); ``loss_fn(params, x, y, key=None) -> (B,)``.

    Args:
      loss_fn: the variant's loss; x, y: training set (N, D), (N,).
      sizes: layer widths ``(D, hidden..., 1)``; batchnorm, dropout: the variant.
      seed: the run's seed; optimizer, batch_size, steps: its training; mid_step: the second snapshot.

    Returns:
      ``{"losses": (steps,) minibatch losses, "start": params at step 0, "mid": params at mid_step}``.
    """
    params = nets.init(jax.random.PRNGKey(INIT_SEED_OFFSET + seed), sizes, batchnorm=batchnorm)
    losses, snaps = train_and_snapshot(
        loss_fn, params, x, y, optimizer=optimizer, batch_size=batch_size,
        steps=steps, snapshot_steps=(0, mid_step), seed=ORDER_SEED_OFFSET + seed, noisy=dropout > 0)
    return {"losses": losses, "start": snaps[0], "mid": snaps[mid_step]}


def train_variants(loss_fns: Mapping[str, Loss], variants: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
                   x: np.ndarray, y: np.ndarray, **settings: Any) -> dict[str, dict[str, Any]]:
    """:func:`train_variant` for every variant and seed: ``{"<name>/<seed>": run}``.

    ``variants[name]`` holds ``batchnorm`` and ``dropout``; ``loss_fns[name]`` its loss;
    ``settings`` the remaining keyword arguments of :func:`train_variant` (sizes, optimizer,
    batch_size, steps, mid_step).

    Raises:
      ValueError: a variant has no loss.
    """
    missing = set(variants) - set(loss_fns)
    if missing:
        raise ValueError(f"no loss for the variants {sorted(missing)}; give loss_fns one per variant")
    return {f"{name}/{seed}": train_variant(loss_fns[name], x, y, batchnorm=v["batchnorm"], dropout=v["dropout"],
                                            seed=seed, **settings)
            for name, v in variants.items() for seed in seeds}


def train_runs(loss_fns: Mapping[str, Loss], variants: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
               x: np.ndarray, y: np.ndarray, *, sizes: Sequence[int], learning_rate: float, batch_size: int,
               steps: int, mid_step: int) -> dict[str, dict[str, Any]]:
    """:func:`train_variant` with plain SGD at ``learning_rate`` for every variant and seed, each run kept in the
    result cache (:func:`cgnb.engine.store.memoize`, keyed on its settings, the data and this module's code),
    so that a new seed list trains only its new seeds.

    Returns:
      ``{"<name>/<seed>": run}`` as :func:`train_variants`.
    """
    optimizer = optax.sgd(learning_rate)   # one object: the training program compiles once per variant
    data = store.digest({"x": np.asarray(x), "y": np.asarray(y)})
    runs = {}
    for name, v in variants.items():
        for seed in seeds:
            config = dict(v, seed=seed, sizes=list(sizes), learning_rate=learning_rate, batch_size=batch_size,
                          steps=steps, mid_step=mid_step, data=data)
            runs[f"{name}/{seed}"] = jax.tree_util.tree_map(jnp.asarray, store.memoize(
                "minibatch_sensitivity-run", config, lambda: train_variant(
                    loss_fns[name], x, y, sizes=sizes, batchnorm=v["batchnorm"], dropout=v["dropout"], seed=seed,
                    optimizer=optimizer, batch_size=batch_size, steps=steps, mid_step=mid_step),
                sources=[models, tasks, sys.modules[__name__]]))
    return runs


def variants(dropout_rate: float) -> dict[str, dict[str, Any]]:
    """The settings of :data:`VARIANTS`: ``{name: {"batchnorm": bool, "dropout": rate}}``."""
    return {"plain": {"batchnorm": False, "dropout": 0.0}, "dropout": {"batchnorm": False, "dropout": dropout_rate},
            "batch norm": {"batchnorm": True, "dropout": 0.0}}


def paper_programs(parameters: Mapping[str, Any], *, sweep_chunk: Callable | None = None) -> list[tuple]:
    """The paper profile's program for the memory check: training to the mid-training snapshot, dropout variant.

    It is :func:`cgnb.engine.loop.train` as :func:`train_and_snapshot` runs its first segment
    (``mid_step`` steps of plain SGD at ``learning_rate``, minibatches of ``batch_size``).

    Args:
      parameters: the paper profile's ``hidden``, ``learning_rate``, ``dropout_rate``, ``steps``, ``mid_step``,
        ``n_train`` and ``batch_size``.
      sweep_chunk: no sweep to compile in this chapter.

    Returns:
      ``[(label, segment program, abstract (params, x, y), abstract indices, keys and optimizer state)]``.
    """
    del sweep_chunk
    p = parameters
    sizes = (tasks.input_dim(), *p["hidden"], 1)
    params = jax.eval_shape(lambda: nets.init(jax.random.PRNGKey(0), sizes))
    optimizer = optax.sgd(p["learning_rate"])
    segment = p["mid_step"]
    record_every = math.gcd(p["steps"], p["mid_step"])
    gradient = loop.mean_loss_gradient(models.make_loss(p["dropout_rate"]))

    def segment_program(params, x, y, *, indices, keys, opt_state):
        return loop.train(gradient, optimizer, params, x, y, steps=segment, record_every=record_every, indices=indices,
                          keys=keys, opt_state=opt_state, step_probe=loss_probe, block_reduce=loop.block_all)

    keys = jax.eval_shape(lambda: jax.random.split(jax.random.PRNGKey(0), segment))
    args = (params, jax.ShapeDtypeStruct((p["n_train"], sizes[0]), jnp.float32),
            jax.ShapeDtypeStruct((p["n_train"],), jnp.float32))
    kwargs = dict(indices=jax.ShapeDtypeStruct((segment, p["batch_size"]), jnp.int32), keys=keys,
                  opt_state=jax.eval_shape(optimizer.init, params))
    return [(f"training to the snapshot, dropout: {segment} steps", segment_program, args, kwargs)]
