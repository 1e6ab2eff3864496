"""Training sweeps: the engine's loop (:mod:`cgnb.engine.loop`) ``vmap``-ed over variants, cached, resumable.

A *sweep* trains one MLP architecture (:attr:`SweepConfig.sizes`) with one method on
several *variants* at once. Variants differ only in data: training labels (label
noise), the pristine mask, the seed (initialisation and minibatch order) and the
winsorization level ``c``. The whole sweep is one compiled program::

    jit(vmap(chunk, over variants))      # optionally sharded over local devices
      chunk = loop.train over record blocks  # chunk_steps steps = one compiled call
        block = scan over record_every SGD steps, then one evaluation (its record probe)

so no Python runs between steps, and records are accumulated inside the scan.

Usage::

    config = sweep.SweepConfig(sizes=(784, 2048, 10), steps=2000, record_every=100)
    variants = sweep.Variants.noise_grid(jax.random.PRNGKey(0), data.y_train, [0.0, 0.5, 1.0])
    result = sweep.run_sweep(config, data, variants)
    result.test_acc          # (V, R) test accuracy at result.steps (R,)

Conventions (all documented on :class:`SweepConfig`):

* **Methods**: each is a :class:`cgnb.engine.trainer.Step`, a gradient rule followed by an
  optax chain (:func:`method_step`): ``"sgd"`` = mean gradient -> ``optax.sgd(lr)``;
  ``"rm3"`` = mean gradient -> ``chain(transforms.rm3(), sgd)``; ``"winsorized"`` =
  per-example gradients -> ``chain(transforms.winsorized_mean(c, c_max), sgd)``
  (:mod:`cgnb.engine.transforms`; for the MLP the per-example gradients stay in factored form).
  The learning rate is constant.
* **Minibatches**: ``sampling="epochs"`` (default) walks through a fresh random
  permutation of the training set every epoch of ``N // batch_size`` steps (the
  ``N % batch_size`` left-over examples of each permutation are skipped);
  ``sampling="uniform"`` draws each step's ``batch_size`` indices independently and
  uniformly with replacement. Both are drawn on the host with numpy as a pure function
  of the variant's seed and the step (:func:`cgnb.engine.sampler.batch_indices`) and fed to each compiled
  chunk as an array, so the compiled programs contain no random-number code.
* **Randomness per variant**: its integer seed gives the initial parameters
  (:func:`init_params`: :func:`cgnb.engine.nets.init` with ``variant_keys(seed)[0]``), the
  minibatch order (:func:`cgnb.engine.sampler.batch_indices`) and the null-world masks
  (``variant_keys(seed)[1]``). Variants with the same seed share initialisation and
  minibatch order, whatever their labels or ``c``.
* **Records** are taken at steps ``0, record_every, 2 * record_every, ..., steps``
  (``R = steps // record_every + 1``). Training loss/accuracy (on the variant's noisy
  labels), pristine/corrupt accuracy and ``first_learned`` use the *evaluation subset*:
  the first ``eval_examples`` training examples (all of them by default); test metrics
  use the first ``test_examples`` test examples (all by default). The optional
  gradient statistics use the first ``stats_examples`` training examples.
* **first_learned** (V, N_eval): the first record step at which the example is
  classified as its (noisy) training label, ``-1`` if never. Its resolution is
  ``record_every`` steps; an example counts as learned at the first record where it is
  correct, even if it is forgotten later.
* **Cost of records**: each record runs a forward pass over the evaluation and test
  subsets (about ``(N_eval + N_test) / (3 * batch_size)`` training steps' worth of
  compute) plus, when asked, the gradient statistics. Keep
  ``record_every`` large, or the subsets small, at full MNIST scale.
* **Cache**: results live in the result store (:mod:`cgnb.engine.store`) under
  ``cache_dir() / "train" / <key>``, where the key (:func:`sweep_key`) hashes the config,
  every data and variant array, the engine's code and the software environment. After
  each chunk the training state (parameters, optimizer state, ``first_learned``; the step
  is the chunk count) and the records so far are written atomically to
  ``checkpoint.npz``, so an interrupted sweep resumes from its last finished chunk and a
  finished one (``result.npz``) is loaded without training; an unreadable file is moved
  aside with a warning and recomputed. ``cache=False`` or ``CGNB_NO_CACHE=1`` bypass it.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import checks, loop, losses, nets, paths, sampler, stats, store, trainer, transforms, winsorize, xla
from .evaluation import eval_sizes, evaluate, measure, update_first_learned
from .results import SweepResult, checkpoint_from_arrays, result_from_arrays, save_checkpoint
from .sweep_config import METHODS, ConfigError, SweepConfig, Variants, per_example_loss


# --------------------------------------------------------------------------------------
# The pure training functions (one variant; vmapped by run_sweep)
# --------------------------------------------------------------------------------------


class TrainState(NamedTuple):
    """Per-variant training state: ``params``, ``opt_state``, ``first_learned`` (N_eval,) int32."""

    params: losses.Params
    opt_state: Any
    first_learned: jax.Array


class Arrays(NamedTuple):
    """Data shared by all variants: ``x_train`` (N, d), ``y_true`` (N,) clean labels, ``x_test``, ``y_test``."""

    x_train: jax.Array
    y_true: jax.Array
    x_test: jax.Array
    y_test: jax.Array


class VariantArrays(NamedTuple):
    """One variant's inputs to the compiled programs (stacked with a leading V axis in a sweep)."""

    labels: jax.Array  # (N,) int32 training labels
    pristine: jax.Array  # (N,) bool
    c: jax.Array  # () int32 winsorization level
    null_masks: jax.Array  # (n_null, S) bool null-world pristine masks of the statistics subset


def mean_loss(params: losses.Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean of :func:`per_example_loss` over the batch x (B, d), y (B,) with B >= 1: scalar."""
    if x.shape[0] == 0:
        raise ValueError("mean_loss of an empty batch (B = 0) is undefined; pass at least one example")
    return jnp.mean(per_example_loss(params, x, y))


def variant_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """``(init_key, null_key)``: the JAX PRNG keys of a variant, derived from its integer seed."""
    k_init, k_null = jax.random.split(jax.random.PRNGKey(seed), 2)
    return k_init, k_null


def init_params(seed: int, config: SweepConfig) -> losses.Params:
    """A variant's initial parameters: :func:`cgnb.engine.nets.init` with ``variant_keys(seed)[0]``."""
    return nets.init(variant_keys(seed)[0], config.sizes, w_scale=config.w_scale)


def method_step(method: str, lr: float, c: jax.Array | int = 0, c_max: int = 0) -> trainer.Step:
    """The training step of a sweep method (see the module docstring), as a :class:`cgnb.engine.trainer.Step`.

    ``sgd``: mean gradient -> ``optax.sgd(lr)``; ``rm3``: mean gradient ->
    ``optax.chain(transforms.rm3(), optax.sgd(lr))``; ``winsorized``: per-example gradients
    (an MLP's factors) -> ``optax.chain(transforms.winsorized_mean(c, c_max), optax.sgd(lr))``,
    with ``c`` traced and bounded by the Python int ``c_max``, or a Python int (compiled in).
    Winsorizing at a compiled-in ``c = 0`` clips nothing: that step is the ``sgd`` step.
    The loss is :data:`per_example_loss`.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; use one of {METHODS}")
    sgd = optax.sgd(lr)
    if method == "rm3":
        return trainer.Step(per_example_loss, "mean", optax.chain(transforms.rm3(), sgd))
    if method == "winsorized" and winsorize.check_levels(c, c_max) != 0:
        return trainer.Step(per_example_loss, "per_example",
                            optax.chain(transforms.winsorized_mean(c, c_max), sgd))
    return trainer.Step(per_example_loss, "mean", sgd)


def config_step(config: SweepConfig, c: jax.Array | int = 0) -> trainer.Step:
    """:func:`method_step` of ``config`` for a variant's level ``c`` (the constant ``config.c_max``
    with ``config.static_c``)."""
    return method_step(config.method, config.lr, config.c_max if config.static_c else c, config.c_max)


def init_variant(params: losses.Params, variant: VariantArrays, arrays: Arrays, config: SweepConfig
                 ) -> tuple[TrainState, dict[str, jax.Array]]:
    """Initial state of one variant from its initial ``params``, and its step-0 record."""
    opt_state = config_step(config, variant.c).init(params)
    n_eval = eval_sizes(config, arrays)[0]
    record, first = evaluate(params, jnp.int32(0), jnp.full((n_eval,), -1, jnp.int32), variant, arrays, config)
    return TrainState(params, opt_state, first), record


def train_chunk(state: TrainState, variant: VariantArrays, arrays: Arrays, indices: jax.Array,
                start: jax.Array, config: SweepConfig) -> tuple[TrainState, dict[str, jax.Array]]:
    """Train one variant for ``config.chunk`` steps from step ``start``, recording every ``record_every``.

    :func:`cgnb.engine.loop.train` with the step of :func:`config_step` and
    :func:`cgnb.engine.evaluation.measure` as its record probe; ``first_learned`` is then updated
    record by record (:func:`cgnb.engine.evaluation.update_first_learned`).
    ``indices`` (chunk, B) are the minibatches' training-set indices (:func:`sweep_indices`).
    Returns the new state and the records, each with a leading axis ``chunk // record_every``.
    """
    step = config_step(config, variant.c)
    trace = loop.train(loop.step_gradient(step), step.tx, state.params, arrays.x_train, variant.labels,
                       steps=config.chunk, record_every=config.record_every, indices=indices,
                       opt_state=state.opt_state, record_probe=lambda p: measure(p, variant, arrays, config))
    records, correct = trace.records
    ends = start + config.record_every * (1 + jnp.arange(config.chunk // config.record_every, dtype=jnp.int32))
    first = update_first_learned(state.first_learned, correct, ends)
    return TrainState(trace.params, trace.opt_state, first), records


def _programs(config: SweepConfig) -> tuple[Callable, Callable]:
    """The compiled sweep functions, vmapped over variants:

    ``init(params, variants, arrays) -> (states, records)`` and
    ``chunk(states, variants, arrays, indices, start) -> (states, records)``.

    Sweeps that differ only in the number of steps (or ``keep_params``) share them.
    """
    return _compiled(dataclasses.replace(config, steps=config.chunk, chunk_steps=config.chunk, keep_params=True))


@functools.lru_cache(maxsize=32)
def _compiled(config: SweepConfig) -> tuple[Callable, Callable]:
    init = xla.jit(jax.vmap(functools.partial(init_variant, config=config), in_axes=(0, 0, None)))
    chunk = xla.jit(jax.vmap(functools.partial(train_chunk, config=config), in_axes=(0, 0, None, 0, None)))
    return init, chunk


# --------------------------------------------------------------------------------------
# Running a sweep
# --------------------------------------------------------------------------------------


def sweep_key(config: SweepConfig, data, variants: Variants) -> str:
    """Hex key of a sweep (:func:`cgnb.engine.store.key` of kind ``"train"``).

    Hashes the config, every data array (``x_train``, ``y_train``, ``x_test``, ``y_test``)
    and variant array by content, the engine's code and the software environment, so a
    change to any of them recomputes instead of reusing stale results.
    """
    arrays = {name: getattr(data, name) for name in ("x_train", "y_train", "x_test", "y_test")}
    arrays.update({f.name: getattr(variants, f.name) for f in dataclasses.fields(Variants)})
    return store.key("train", {"config": json.loads(config.to_json()), "arrays": arrays})


def _check_inputs(config: SweepConfig, data, variants: Variants) -> None:
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
    if len(data.x_test) != len(data.y_test):
        raise ConfigError(f"x_test has {len(data.x_test)} rows but y_test has {len(data.y_test)} labels")
    if len(data.y_train) != n:
        raise ConfigError(f"x_train has {n} rows but y_train has {len(data.y_train)} labels")
    if config.batch_size > n:
        raise ConfigError(f"batch_size={config.batch_size} is larger than the training set ({n} examples)")
    for name, total in (("eval_examples", n), ("test_examples", len(data.x_test))):
        value = getattr(config, name)
        if value is not None and value > total:
            raise ConfigError(f"{name}={value} but there are only {total} examples; use at most {total} or None")
    if config.stats and config.stats_examples > n:
        raise ConfigError(f"stats_examples={config.stats_examples} but the training set has {n} examples")
    if config.method == "winsorized" and variants.c.max() > config.c_max:
        raise ConfigError(f"variants use c up to {variants.c.max()} but c_max={config.c_max}; set "
                          f"c_max={variants.c.max()} (c_max is static, c is traced per variant)")
    if config.static_c and (variants.c != config.c_max).any():
        raise ConfigError(f"static_c=True compiles c={config.c_max} in, but the variants use c={np.unique(variants.c)}; "
                          f"run one sweep per level or set static_c=False")
    if config.method != "winsorized" and variants.c.any():
        raise ConfigError(f"variants set winsorization levels c={np.unique(variants.c)} but method="
                          f"{config.method!r} ignores them; use method='winsorized' or c=0")


def _placement(num_variants: int, shard: bool | None):
    """``(variant_sharding, replicated)`` over a 1-D mesh of all local devices, or ``(None, None)``."""
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


def _per_seed(seeds: np.ndarray, make: Callable[[int], Any]) -> list:
    """``[make(seed) for seed in seeds]``, calling ``make`` once per distinct seed."""
    made = {int(seed): make(int(seed)) for seed in np.unique(seeds)}
    return [made[int(seed)] for seed in seeds]


def initial_params(config: SweepConfig, variants: Variants) -> losses.Params:
    """The variants' initial parameters (:func:`init_params`), stacked: leading axis V."""
    per_variant = _per_seed(variants.seed, lambda seed: init_params(seed, config))
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *per_variant)


def sweep_indices(config: SweepConfig, variants: Variants, chunk_index: int, n: int) -> np.ndarray:
    """Minibatch indices of every variant for one chunk: (V, chunk, B) int32 (:func:`cgnb.engine.sampler.batch_indices`)."""
    start = chunk_index * config.chunk
    return np.stack(_per_seed(variants.seed, lambda seed: sampler.batch_indices(
        seed, start, config.chunk, n, config.batch_size, config.sampling)))


def variant_inputs(config: SweepConfig, variants: Variants) -> VariantArrays:
    """The variants' arrays for the compiled programs, with their null-world masks (V, n_null, S).

    The null masks of a variant are ``stats.null_masks(variant_keys(seed)[1], pristine[:S],
    n_null)`` on its statistics subset of S examples (empty unless ``"alphas"`` is asked for).
    """
    n_stats = min(config.stats_examples, variants.labels.shape[1])
    if "alphas" in config.stats and config.n_null:
        masks = np.stack([np.asarray(stats.null_masks(variant_keys(int(seed))[1], jnp.asarray(p[:n_stats]),
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
    """
    _check_inputs(config, data, variants)
    cache = cache and store.enabled()
    key = sweep_key(config, data, variants)
    folder = paths.cache_dir() / "train" / key
    result_file, checkpoint_file = folder / "result.npz", folder / "checkpoint.npz"
    stored = store.read_entry(result_file, functools.partial(result_from_arrays, key=key)) if cache else None
    if stored is not None:
        stored.from_cache = True
        return stored

    sharded, replicated = _placement(len(variants), shard)

    def place(tree, sharding):
        return tree if sharding is None else jax.device_put(tree, sharding)

    arrays = place(Arrays(*(jnp.asarray(a) for a in (data.x_train, data.y_train, data.x_test, data.y_test))),
                   replicated)
    variant_arrays = place(variant_inputs(config, variants), sharded)
    init, chunk = _programs(config)
    params = place(initial_params(config, variants), sharded)
    checkpoint = None
    if cache and checkpoint_file.is_file():
        like = jax.eval_shape(init, params, variant_arrays, arrays)[0]
        checkpoint = store.read_entry(checkpoint_file, functools.partial(checkpoint_from_arrays, like=like))
    if checkpoint is not None:
        done, states, records = checkpoint
        states = place(states, sharded)
    else:
        states, first_record = init(params, variant_arrays, arrays)
        done, records = 0, {k: v[:, None] for k, v in _to_numpy(first_record).items()}
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

    n_eval = eval_sizes(config, arrays)[0]
    result = SweepResult(
        config=config, steps=config.record_steps, records=records,
        first_learned=np.asarray(states.first_learned), pristine=np.asarray(variants.pristine[:, :n_eval]),
        noise=np.asarray(variants.noise), seed=np.asarray(variants.seed), c=np.asarray(variants.c),
        params=_to_numpy(states.params) if config.keep_params else None, key=key, chunks_run=chunks_run)
    if cache:
        result.save(result_file)
        checkpoint_file.unlink(missing_ok=True)
    return result
