"""Replaying a stored run's sweeps: their first records, recomputed now from the stored config and variants.

A stored run (:mod:`cgnb.engine.runs`) keeps each sweep under a prefix (``<prefix>/config``,
``<prefix>/records/<name>``, ...: :func:`sweep_prefixes`) and the variants it trained under another
(``<prefix>/labels``, ...). :func:`variants_of` finds a sweep's variants by the per-variant arrays both
hold; :func:`replay_sweep` trains the sweep's first steps again with this engine, without the cache,
and returns the stored and recomputed records side by side, for the replay test to compare.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020 (the sweeps the book's stored runs hold).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from . import store, sweep
from .runfiles import StoredRunError

if TYPE_CHECKING:
    from .runs import StoredRun

DATA_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
#: Trained records (after the initial one) each sweep of a stored run is replayed over.
REPLAY_RECORDS = 3
#: The per-variant arrays a sweep's result and its stored variants both hold.
VARIANT_FIELDS = ("pristine", "seed", "c", "noise")


def data_digest(data) -> str:
    """sha256 (hex) of a dataset's training and test arrays (:func:`cgnb.engine.store.digest` of them by
    name): which data a stored run was computed on."""
    return store.digest({name: getattr(data, name) for name in DATA_ARRAYS})


def sweep_prefixes(run: StoredRun) -> list[str]:
    """The prefixes under which ``run`` holds a sweep (a ``config``, a ``key`` and records), sorted."""
    names = set(run.arrays)
    return sorted(name[: -len("/config")] for name in names if name.endswith("/config")
                  and name[: -len("config")] + "key" in names
                  and any(other.startswith(name[: -len("config")] + "records/") for other in names))


def variants_of(run: StoredRun, prefix: str) -> str:
    """The prefix of the stored variants the sweep ``prefix`` trained: the one whose per-variant arrays
    (:data:`VARIANT_FIELDS`) equal the sweep's.

    Raises:
      StoredRunError: no stored variants, or more than one set with different labels, fit the sweep.
    """
    result = run.sweep(prefix)
    candidates = sorted(name[: -len("/labels")] for name in run.arrays if name.endswith("/labels"))
    fits = [c for c in candidates if all(np.array_equal(run.arrays.get(f"{c}/{field}"), getattr(result, field))
                                         for field in VARIANT_FIELDS)]
    distinct = {store.digest(run.arrays[f"{c}/labels"]): c for c in fits}
    if len(distinct) != 1:
        raise StoredRunError(f"stored run {run.chapter}/{run.name}: {len(distinct)} of the stored variant sets "
                             f"{candidates} fit the sweep {prefix!r}, so it cannot be replayed")
    return fits[0]


def replay_steps(config: sweep.SweepConfig, records: int, at_least: int = 0) -> int:
    """Steps that cover ``records`` trained records of a sweep of ``config`` (and ``at_least`` steps),
    a multiple of its ``record_every`` and at most its ``steps``."""
    every = config.record_every
    return min(config.steps, max(records * every, -(-at_least // every) * every))


def replay_sweep(run: StoredRun, prefix: str, variants_prefix: str, data, steps: int
                 ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Recompute the first ``steps`` steps of the sweep ``prefix`` of ``run`` with this engine.

    The sweep's stored config is shortened to ``steps`` (its recording interval kept) and trained
    on ``data`` with the stored variants, without the cache.

    Returns:
      ``(steps, stored, replayed)``: the record steps both hold (R,) and, per record name, the
      stored and the recomputed values at those steps (V, R[, K]).

    Raises:
      StoredRunError: ``steps`` is not a multiple of the sweep's recording interval, or ``data`` is
        not the data the run was computed on.
    """
    stored = run.sweep(prefix)
    config = stored.config
    if steps < config.record_every or steps % config.record_every or steps > config.steps:
        raise StoredRunError(f"replay steps must be a multiple of the sweep's record_every ({config.record_every}) "
                             f"and at most its {config.steps} steps; got {steps}")
    want = run.config.get("data_sha256")
    if want is not None and data_digest(data) != want:
        raise StoredRunError(f"stored run {run.chapter}/{run.name} was computed on other data (sha256 "
                             f"{want[:12]}...) than the data given ({data_digest(data)[:12]}...)")
    short = dataclasses.replace(config, steps=steps, chunk_steps=None, keep_params=False)
    replayed = sweep.run_sweep(short, data, run.variants(variants_prefix), cache=False, progress=False)
    shared = np.intersect1d(stored.steps, replayed.steps)
    i_stored, i_replayed = np.searchsorted(stored.steps, shared), np.searchsorted(replayed.steps, shared)
    return (shared, {k: np.asarray(v)[:, i_stored] for k, v in stored.records.items()},
            {k: np.asarray(replayed.records[k])[:, i_replayed] for k in stored.records})


__all__ = ["DATA_ARRAYS", "REPLAY_RECORDS", "VARIANT_FIELDS", "data_digest", "sweep_prefixes", "variants_of",
           "replay_steps", "replay_sweep"]
