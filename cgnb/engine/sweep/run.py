"""Running a sweep: its inputs checked, its programs run chunk by chunk, cached, checkpointed and resumable.

Minibatches are drawn on the host with numpy as a pure function of the variant's seed and the step
(:func:`cgnb.engine.sampler.batch_indices`) and fed to each compiled chunk as an array, so the
compiled programs contain no random-number code. Results live in the result store
(:mod:`cgnb.engine.store`) under ``cache_dir() / "train" / <key>``, where the key (:func:`sweep_key`)
hashes the config, every data and variant array, the engine's code and the software environment.
After each chunk the training state and the records so far are written atomically to
``checkpoint.npz``, so an interrupted sweep resumes from its last finished chunk and a finished
one (``result.npz``) is loaded without training; an unreadable file is moved aside with a warning
and recomputed. ``cache=False`` or ``CGNB_NO_CACHE=1`` bypass it.

Reference: ``jax.sharding`` (the variant axis split over local devices).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import sys
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import checks, nets, paths, sampler, seeds, stats, store, xla
from .. import data as data_lib
from .config import SweepConfig
from .methods import METHODS
from .model import init_params
from .programs import programs
from .results import SweepResult, checkpoint_from_arrays, result_from_arrays, save_checkpoint
from .types import Arrays, ConfigError, VariantArrays
from .variants import Variants


def sweep_key(config: SweepConfig, data, variants: Variants) -> str:
    """Hex key of a sweep (:func:`cgnb.engine.store.key` of kind ``"train"``).

    Hashes the config, every data array (``x_train``, ``y_train``, ``x_test``, ``y_test``) and
    variant array by content, the engine's code and the software environment, so a change to any
    of them recomputes instead of reusing stale results.
    """
    arrays = {name: getattr(data, name) for name in ("x_train", "y_train", "x_test", "y_test")}
    arrays.update({f.name: getattr(variants, f.name) for f in dataclasses.fields(Variants)})
    return store.key("train", {"config": json.loads(config.to_json()), "arrays": arrays})


def check_inputs(config: SweepConfig, data, variants: Variants) -> None:
    """Raise :class:`ConfigError` unless ``data`` and ``variants`` fit ``config`` (widths, sizes, labels, levels)
    and ``data`` can be trained on (:func:`cgnb.engine.data.validate`: finite inputs, integer labels, no empty set)."""
    try:
        data_lib.validate(data)
    except ValueError as error:
        raise ConfigError(f"data: {error}") from None
    n, d = data.x_train.shape
    if config.sizes[0] != d:
        raise ConfigError(f"sizes[0]={config.sizes[0]} but the inputs have {d} features; use sizes=({d}, ...)")
    if variants.labels.shape[1] != n:
        raise ConfigError(f"variants have {variants.labels.shape[1]} labels each but the training set has {n} "
                          f"examples; build the variants from this data set's y_train")
    k = max(int(variants.labels.max()), int(np.max(data.y_train)), int(np.max(data.y_test))) + 1
    if config.sizes[-1] < k:
        raise ConfigError(f"the output width sizes[-1]={config.sizes[-1]} is smaller than the {k} classes "
                          f"in the labels")
    try:
        for name, labels in (("y_train", data.y_train), ("y_test", data.y_test)):
            checks.labels_in_range(f"data.{name}", labels, config.sizes[-1])
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if config.batch_size > n:
        raise ConfigError(f"batch_size={config.batch_size} is larger than the training set ({n} examples)")
    for name, total in (("eval_examples", n), ("test_examples", len(data.x_test))):
        value = getattr(config, name)
        if value is not None and value > total:
            raise ConfigError(f"{name}={value} but there are only {total} examples; use at most {total} or None")
    if config.stats and config.stats_examples > n:
        raise ConfigError(f"stats_examples={config.stats_examples} but the training set has {n} examples")
    METHODS[config.method].check_levels(variants.c, config.c_max)


class DivergedError(RuntimeError):
    """A variant's loss became NaN or infinite: its accuracies would be those of a NaN network (class 0
    everywhere), so the sweep stops instead of reporting them."""


def check_finite_losses(records: dict[str, np.ndarray], variants: Variants, steps: np.ndarray) -> None:
    """Raise :class:`DivergedError` naming the first variant and record step whose training or test loss is
    not finite; ``records`` maps names to (V, R) arrays recorded at ``steps`` (R,)."""
    for name in ("train_loss", "test_loss"):
        bad = ~np.isfinite(np.asarray(records[name]))
        if bad.any():
            v, r = (int(i) for i in np.argwhere(bad)[0])
            raise DivergedError(
                f"variant {v} (noise {variants.noise[v]:g}, seed {variants.seed[v]}, c {variants.c[v]}) has "
                f"{name} = {records[name][v, r]} at the record of step {int(steps[r])}: it diverged (or its "
                f"inputs hold NaN/inf), so no accuracy of it is reported. Lower the learning rate or check the "
                f"data; the chunks finished before it stay checkpointed")


def placement(num_variants: int, shard: bool | None):
    """``(variant_sharding, replicated)`` over a 1-D mesh of all local devices, or ``(None, None)``.

    Raises:
      ConfigError: ``shard=True`` with one device, or a number of variants the devices do not divide.
    """
    devices = jax.local_devices()
    usable = len(devices) > 1 and num_variants % len(devices) == 0
    if shard and not usable:
        raise ConfigError(f"shard=True needs several local devices and a number of variants divisible by "
                          f"their count; got {num_variants} variants on {len(devices)} device(s). Use shard=None")
    if shard is False or not usable:
        return None, None
    mesh = jax.sharding.Mesh(np.array(devices), ("variants",))
    spec = jax.sharding.PartitionSpec
    return jax.sharding.NamedSharding(mesh, spec("variants")), jax.sharding.NamedSharding(mesh, spec())


def _per_seed(seeds_: np.ndarray, make: Callable[[int], Any]) -> list:
    """``[make(seed) for seed in seeds_]``, calling ``make`` once per distinct seed."""
    made = {int(seed): make(int(seed)) for seed in np.unique(seeds_)}
    return [made[int(seed)] for seed in seeds_]


def initial_params(config: SweepConfig, variants: Variants) -> nets.Params:
    """The variants' initial parameters (:func:`cgnb.engine.sweep.model.init_params`), stacked: leading axis V."""
    per_variant = _per_seed(variants.seed, lambda seed: init_params(seed, config))
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *per_variant)


def sweep_indices(config: SweepConfig, variants: Variants, chunk_index: int, n: int) -> np.ndarray:
    """Minibatch indices of every variant for one chunk: (V, chunk, B) int32 (:func:`cgnb.engine.sampler.batch_indices`)."""
    start = chunk_index * config.chunk
    return np.stack(_per_seed(variants.seed, lambda seed: sampler.batch_indices(
        seed, start, config.chunk, n, config.batch_size, config.sampling)))


def variant_inputs(config: SweepConfig, variants: Variants) -> VariantArrays:
    """The variants' arrays for the compiled programs, with their null-world masks (V, n_null, S).

    The null masks of a variant are ``stats.null_masks(seeds.variant_keys(seed)[1], pristine[:S], n_null)``
    on its statistics subset of S examples (empty unless a recorded statistic uses them).
    """
    n_stats = min(config.stats_examples, variants.labels.shape[1])
    if config.draws_null_masks:
        masks = np.stack([np.asarray(stats.null_masks(seeds.variant_keys(int(seed))[1], jnp.asarray(p[:n_stats]),
                                                        config.n_null))
                          for seed, p in zip(variants.seed, variants.pristine)])
    else:
        masks = np.zeros((len(variants), 0, n_stats), bool)
    return VariantArrays(jnp.asarray(variants.labels), jnp.asarray(variants.pristine),
                         jnp.asarray(variants.c, jnp.int32), jnp.asarray(masks, bool))


def _to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def run_sweep(config: SweepConfig, data, variants: Variants, *, cache: bool = True, progress: bool | None = None,
              shard: bool | None = None, on_chunk: Callable[[int, int], None] | None = None,
              desc: str | None = None) -> SweepResult:
    """Train all variants with ``config`` on ``data``; cached on disk and resumable.

    Sets glibc's allocator to keep freed memory (:func:`cgnb.engine.xla.keep_freed_memory`) first.

    Args:
      config: the sweep's :class:`SweepConfig`.
      data: a :class:`cgnb.engine.data.Dataset` (``x_train`` (N, d), ``y_train`` (N,) clean labels,
        ``x_test``, ``y_test``).
      variants: the V :class:`Variants`; their labels (V, N) are the training labels.
      cache: reuse a finished result, resume an interrupted one, and checkpoint after every
        chunk under ``cgnb.engine.paths.cache_dir() / "train"``. With ``cache=False`` nothing is
        read or written.
      progress: show a tqdm progress bar (steps); ``None``: only when stderr is a terminal (never in a
        notebook or a book build, where a bar would end up in the page).
      shard: split the variant axis over all local devices (``None``: when there are
        several and they divide V).
      on_chunk: called as ``on_chunk(chunks_done, num_chunks)`` after each chunk has been
        checkpointed (e.g. to stop early by raising).
      desc: progress-bar label.
    Returns:
      A :class:`SweepResult` with records of shape (V, R).
    Raises:
      ConfigError: the data or the variants do not fit the config (:func:`check_inputs`), or ``shard``
        cannot be honoured.
      DivergedError: a variant's loss became NaN or infinite (:func:`check_finite_losses`).
      cgnb.engine.store.CacheUnwritable: ``cache`` is on and the cache folder cannot be written (checked
        before training).
    """
    check_inputs(config, data, variants)
    xla.keep_freed_memory()
    cache = cache and store.enabled()
    key = sweep_key(config, data, variants)
    folder = paths.cache_dir() / "train" / key
    result_file, checkpoint_file = folder / "result.npz", folder / "checkpoint.npz"
    stored = store.read_entry(result_file, functools.partial(result_from_arrays, key=key)) if cache else None
    if stored is not None:
        stored.from_cache = True
        return stored

    if cache:
        store.check_writable(folder)
        store.remove_stale_temps(folder)
    sharded, replicated = placement(len(variants), shard)

    def place(tree, sharding):
        return tree if sharding is None else jax.device_put(tree, sharding)

    arrays = place(Arrays(*(jnp.asarray(a) for a in (data.x_train, data.y_train, data.x_test, data.y_test))),
                   replicated)
    variant_arrays = place(variant_inputs(config, variants), sharded)
    init, chunk = programs(config, METHODS[config.method].compiled_level(variants.c))
    params = place(initial_params(config, variants), sharded)
    checkpoint = None
    if cache and checkpoint_file.is_file():
        like = jax.eval_shape(init, params, variant_arrays, arrays)[0]
        checkpoint = store.read_entry(checkpoint_file, functools.partial(checkpoint_from_arrays, like=like,
                                                                         config=config))
    if checkpoint is not None:
        done, states, records = checkpoint
        states = place(states, sharded)
    else:
        states, first_record = init(params, variant_arrays, arrays)
        done, records = 0, {k: v[:, None] for k, v in _to_numpy(first_record).items()}
        check_finite_losses(records, variants, config.record_steps[:1])
    del params

    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=done * config.chunk, desc=desc or f"sweep {key[:8]}",
                   unit="step", leave=False)
    chunks_run = 0
    try:
        for i in range(done, config.num_chunks):
            indices = place(jnp.asarray(sweep_indices(config, variants, i, len(data.x_train))), sharded)
            states, chunk_records = chunk(states, variant_arrays, arrays, indices, jnp.int32(i * config.chunk))
            chunk_records = _to_numpy(chunk_records)
            check_finite_losses(chunk_records, variants, i * config.chunk + config.record_every * np.arange(
                1, config.chunk // config.record_every + 1))
            records = {k: np.concatenate([records[k], chunk_records[k]], axis=1) for k in records}
            chunks_run += 1
            if cache:
                save_checkpoint(checkpoint_file, i + 1, states, records)
            if bar is not None:
                bar.update(config.chunk)
            if on_chunk is not None:
                on_chunk(i + 1, config.num_chunks)
    finally:
        if bar is not None:
            bar.close()

    n_eval = config.subset_sizes(arrays)[0]
    result = SweepResult(
        config=config, steps=config.record_steps, records=records,
        first_learned=np.asarray(states.first_learned), pristine=np.asarray(variants.pristine[:, :n_eval]),
        noise=np.asarray(variants.noise), seed=np.asarray(variants.seed), c=np.asarray(variants.c),
        params=_to_numpy(states.params) if config.keep_params else None, key=key, chunks_run=chunks_run)
    if cache:
        result.save(result_file)
        checkpoint_file.unlink(missing_ok=True)
    return result


__all__ = ["sweep_key", "check_inputs", "DivergedError", "check_finite_losses", "placement", "initial_params",
           "sweep_indices", "variant_inputs", "run_sweep"]
