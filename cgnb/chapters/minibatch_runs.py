"""Chapter 6's runs: each network variant trained per seed, with snapshots, and per-seed tables.

* :func:`train_variant` -- one variant (plain / dropout / batch norm) and seed, trained with
  :func:`cgnb.chapters.minibatch.train_with_snapshots`, kept at the start and mid-training;
* :func:`train_variants` -- all variants x seeds, keyed ``"<variant>/<seed>"`` (what the notebook
  stores with :func:`cgnb.engine.store.memoize`);
* :func:`seed_table`, :func:`per_seed` -- one measure per seed, gathered from per-run results.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import numpy as np
import optax

from ..engine import nets
from ..engine.losses import Loss
from . import minibatch

WHENS = ("start", "mid")


def train_variant(loss_fn: Loss, x: np.ndarray, y: np.ndarray, *, sizes: Sequence[int], batchnorm: bool,
                  dropout: float, seed: int, optimizer: optax.GradientTransformation, batch_size: int,
                  steps: int, mid_step: int) -> dict[str, Any]:
    """Train one variant from ``nets.init(PRNGKey(1000 + seed), sizes, batchnorm=batchnorm)``.

    Minibatches of ``batch_size`` in shuffled epochs and dropout keys from RNG seed ``2000 + seed``
    (a fresh key per step when ``dropout > 0``); ``loss_fn(params, x, y, key=None) -> (B,)``.

    Args:
      x, y: training set (N, D), (N,).
      sizes: layer widths ``(D, hidden..., 1)``.

    Returns:
      ``{"losses": (steps,) minibatch losses, "start": params at step 0, "mid": params at mid_step}``.
    """
    params = nets.init(jax.random.PRNGKey(1000 + seed), sizes, batchnorm=batchnorm)
    losses, snaps = minibatch.train_with_snapshots(
        loss_fn, params, x, y, optimizer=optimizer, batch_size=batch_size,
        steps=steps, snapshot_steps=(0, mid_step), seed=2000 + seed, noisy=dropout > 0)
    return {"losses": losses, "start": snaps[0], "mid": snaps[mid_step]}


def train_variants(loss_fns: Mapping[str, Loss], variants: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
                   x: np.ndarray, y: np.ndarray, **settings: Any) -> dict[str, dict[str, Any]]:
    """:func:`train_variant` for every variant and seed: ``{"<name>/<seed>": run}``.

    ``variants[name]`` holds ``batchnorm`` and ``dropout``; ``loss_fns[name]`` its loss;
    ``settings`` the remaining keyword arguments of :func:`train_variant` (sizes, optimizer,
    batch_size, steps, mid_step).
    """
    missing = set(variants) - set(loss_fns)
    if missing:
        raise ValueError(f"no loss for the variants {sorted(missing)}; give loss_fns one per variant")
    return {f"{name}/{seed}": train_variant(loss_fns[name], x, y, batchnorm=v["batchnorm"], dropout=v["dropout"],
                                            seed=seed, **settings)
            for name, v in variants.items() for seed in seeds}


def seed_table(stats: Mapping[tuple, Mapping[str, Any]], key: str, names: Sequence[str],
               seeds: Sequence[int]) -> dict[tuple[str, str], np.ndarray]:
    """``{(name, when): (S,) mean of stats[name, seed, when][key] per seed}`` for ``when`` in start, mid."""
    return {(n, w): np.array([np.mean(stats[n, s, w][key]) for s in seeds]) for n in names for w in WHENS}


def per_seed(values: Mapping[tuple, Any], name: str, when: str, seeds: Sequence[int]) -> np.ndarray:
    """``values[name, seed, when]`` for every seed: (S,)."""
    return np.array([values[name, s, when] for s in seeds])
