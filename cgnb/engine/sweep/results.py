"""What a sweep produced (:class:`SweepResult`) and its files: the result ``.npz`` and the resumable
checkpoint, both written atomically with :mod:`cgnb.engine.store`.

Reference: the ``.npz`` format (``numpy.lib.format``), read with ``allow_pickle=False``.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import jax
import numpy as np

from .. import nets, store
from .config import SweepConfig
from .types import TrainState


@dataclasses.dataclass(eq=False)
class SweepResult:
    """What a sweep produced, as numpy arrays with a leading variant axis V.

    Attributes:
      config: the :class:`SweepConfig`.
      steps: (R,) record steps.
      records: name -> (V, R) array (``null_*``: (V, R, n_null)); also reachable as
        attributes, e.g. ``result.test_acc``.
      first_learned: (V, N_eval) first record step each evaluation example was
        classified as its training label, -1 if never.
      pristine: (V, N_eval) the evaluation subset's pristine masks (to split first_learned).
      noise, seed, c: (V,) the variants' metadata, for selecting curves (:meth:`index`).
      params: final parameters with a leading V axis (None unless ``config.keep_params``).
      key: the cache key.
      from_cache: this result was loaded from a finished cache entry, no training ran.
      chunks_run: chunks trained by this call (0 from cache; fewer than all after a resume).
    """

    config: SweepConfig
    steps: np.ndarray
    records: dict[str, np.ndarray]
    first_learned: np.ndarray
    pristine: np.ndarray
    noise: np.ndarray
    seed: np.ndarray
    c: np.ndarray
    params: nets.Params | None = None
    key: str = ""
    from_cache: bool = False
    chunks_run: int = 0

    def __getattr__(self, name: str) -> np.ndarray:
        records = self.__dict__.get("records", {})
        if name in records:
            return records[name]
        raise AttributeError(f"SweepResult has no attribute or record {name!r}; records: {sorted(records)}")

    def __getitem__(self, name: str) -> np.ndarray:
        return self.records[name]

    def __len__(self) -> int:
        return len(self.seed)

    def index(self, *, noise: float | None = None, seed: int | None = None, c: int | None = None) -> np.ndarray:
        """Indices of the variants matching all given metadata, e.g. ``result.index(noise=0.5, c=2)``."""
        keep = np.ones(len(self), bool)
        if noise is not None:
            keep &= np.isclose(self.noise, noise)
        if seed is not None:
            keep &= self.seed == seed
        if c is not None:
            keep &= self.c == c
        return np.flatnonzero(keep)

    def save(self, path: str | os.PathLike) -> None:
        """Write the result to one ``.npz`` file, atomically (:func:`cgnb.engine.store.write_arrays`)."""
        store.write_arrays(Path(path), self.to_arrays())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The result as named arrays: config (JSON), key, steps, records/<name>, params/<layer>/<name>, ..."""
        arrays = {"config": np.array(self.config.to_json()), "key": np.array(self.key), "steps": self.steps,
                  "first_learned": self.first_learned, "pristine": self.pristine, "noise": self.noise,
                  "seed": self.seed, "c": self.c}
        arrays.update({f"records/{k}": v for k, v in self.records.items()})
        if self.params is not None:
            arrays.update({f"params/{i}/{k}": np.asarray(v) for i, layer in enumerate(self.params)
                           for k, v in layer.items()})
        return arrays

    @classmethod
    def from_arrays(cls, files: dict[str, np.ndarray]) -> "SweepResult":
        """The result of :meth:`to_arrays`' arrays (or of a stored run's, :mod:`cgnb.engine.runs`)."""
        records = {k.split("/", 1)[1]: v for k, v in files.items() if k.startswith("records/")}
        layers: dict[int, dict[str, np.ndarray]] = {}
        for k, v in files.items():
            if k.startswith("params/"):
                _, i, name = k.split("/")
                layers.setdefault(int(i), {})[name] = v
        params = [layers[i] for i in sorted(layers)] or None
        return cls(SweepConfig.from_json(str(files["config"])), files["steps"], records, files["first_learned"],
                   files["pristine"], files["noise"], files["seed"], files["c"], params, str(files["key"]))


def save_checkpoint(path: Path, chunks_done: int, states: TrainState, records: dict[str, np.ndarray]) -> None:
    """Write a checkpoint atomically: ``chunks_done``, the states' leaves (leading axis V) and the records
    so far, name -> (V, R_done)."""
    leaves = jax.tree_util.tree_leaves(states)
    arrays = {"chunks_done": np.array(chunks_done)}
    arrays.update({f"state/{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)})
    arrays.update({f"records/{k}": v for k, v in records.items()})
    store.write_arrays(path, arrays)


def checkpoint_from_arrays(files: dict[str, np.ndarray], like: TrainState, config: SweepConfig | None = None
                           ) -> tuple[int, TrainState, dict[str, np.ndarray]]:
    """``(chunks_done, states, records)`` of a checkpoint; ``like`` (arrays or ShapeDtypeStructs) gives the
    state's structure, ``config`` (when given) the number of records ``chunks_done`` chunks leave.

    Raises:
      ValueError: the arrays do not fit ``like``, or ``chunks_done`` is not an integer in
        ``[1, config.num_chunks]`` whose records are all there: (V, 1 + chunks_done * records per chunk).
    """
    leaves, treedef = jax.tree_util.tree_flatten(like)
    loaded = [files[f"state/{i:04d}"] for i in range(len(leaves))]
    for got, want in zip(loaded, leaves):
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ValueError(f"state {got.dtype}{list(got.shape)} where this sweep has {want.dtype}{list(want.shape)}")
    records = {k.split("/", 1)[1]: v for k, v in files.items() if k.startswith("records/")}
    done = files["chunks_done"]
    if done.shape != () or not np.issubdtype(done.dtype, np.integer):
        raise ValueError(f"chunks_done must be one integer, got {done.dtype}{list(done.shape)}")
    if config is not None:
        check_records(records, int(done), config, like.first_learned.shape[0])
    return int(done), jax.tree_util.tree_unflatten(treedef, loaded), records


def check_records(records: dict[str, np.ndarray], chunks_done: int, config: SweepConfig, variants: int) -> None:
    """Raise ValueError unless ``records`` hold every record of ``chunks_done`` chunks of a sweep of ``config``
    for ``variants`` variants: each (V, 1 + chunks_done * chunk // record_every[, ...])."""
    if not 1 <= chunks_done <= config.num_chunks:
        raise ValueError(f"chunks_done={chunks_done} is outside [1, {config.num_chunks}] for this sweep")
    if not records:
        raise ValueError("the checkpoint holds no records")
    want = 1 + chunks_done * (config.chunk // config.record_every)
    for name, values in records.items():
        if values.shape[:2] != (variants, want):
            raise ValueError(f"record {name} has shape {list(values.shape)} but {chunks_done} chunks of {variants} "
                             f"variants leave ({variants}, {want}, ...)")


def result_from_arrays(files: dict[str, np.ndarray], key: str) -> SweepResult:
    """The stored result of the sweep ``key``.

    Raises:
      ValueError: the file holds another sweep's result, or not every record of it (each record (V, R) at
        the config's R record steps).
    """
    result = SweepResult.from_arrays(files)
    if result.key != key:
        raise ValueError(f"it holds the result of sweep {result.key}, not {key}")
    if not np.array_equal(result.steps, result.config.record_steps):
        raise ValueError(f"its steps are not the sweep's {len(result.config.record_steps)} record steps")
    check_records(result.records, result.config.num_chunks, result.config, len(result))
    return result


__all__ = ["SweepResult", "save_checkpoint", "checkpoint_from_arrays", "check_records", "result_from_arrays"]
