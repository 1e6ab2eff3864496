"""Training sweeps: ``lax.scan`` loops, ``vmap`` over experiment variants, cached and resumable.

A *sweep* trains one MLP architecture (:attr:`SweepConfig.sizes`) with one method on
several *variants* at once. Variants differ only in data: training labels (label
noise), the pristine mask, the seed (initialisation and minibatch order) and the
winsorization level ``c``. The whole sweep is one compiled program::

    jit(vmap(chunk, over variants))      # optionally sharded over local devices
      chunk = scan over record blocks    # chunk_steps steps = one compiled call
        block = scan over record_every SGD steps, then one evaluation (a record)

so no Python runs between steps, and records are accumulated inside the scan.

Usage::

    config = sweep.SweepConfig(sizes=(784, 2048, 10), steps=2000, record_every=100)
    variants = sweep.Variants.noise_grid(jax.random.PRNGKey(0), data.y_train, [0.0, 0.5, 1.0])
    result = sweep.run_sweep(config, data, variants)
    result.test_acc          # (V, R) test accuracy at result.steps (R,)

Conventions (all documented on :class:`SweepConfig`):

* **Methods**: ``"sgd"`` (mean minibatch gradient), ``"winsorized"`` (per-example
  gradients -> :func:`cgnb.engine.pergrad.winsorized_mean` ``(c, c_max)`` -> SGD), ``"rm3"``
  (mean gradient -> :func:`cgnb.engine.pergrad.rm3` -> SGD). The learning rate is constant.
* **Minibatches**: ``sampling="epochs"`` (default) walks through a fresh random
  permutation of the training set every epoch of ``N // batch_size`` steps (the
  ``N % batch_size`` left-over examples of each permutation are skipped);
  ``sampling="uniform"`` draws each step's ``batch_size`` indices independently and
  uniformly with replacement. Both are drawn on the host with numpy as a pure function
  of the variant's seed and the step (:func:`batch_indices`) and fed to each compiled
  chunk as an array, so the compiled programs contain no random-number code.
* **Randomness per variant**: its integer seed gives the initial parameters
  (:func:`init_params`: :func:`cgnb.engine.nets.init` with ``variant_keys(seed)[0]``), the
  minibatch order (:func:`batch_indices`) and the null-world masks
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
* **Cache**: results live in ``cgnb.engine.paths.cache_dir() / "train" / <key>``, where the
  key hashes the config, every data and variant array, the cgnb version and the source
  of the engine modules (:func:`engine_fingerprint`). After each chunk the training
  state (parameters, optimizer state, ``first_learned``; the step is the chunk count)
  and the records so far are written atomically (temporary file, then ``os.replace``),
  so an interrupted sweep resumes from its last finished chunk and a finished one is
  loaded without training. ``cache=False`` or ``CGNB_NO_CACHE=1`` bypass it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import functools
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from . import nets, paths, pergrad
from .. import __version__

METHODS = ("sgd", "winsorized", "rm3")
SAMPLINGS = ("epochs", "uniform")
STATS = ("alphas", "coherence")
CACHE_FORMAT = 1  # bump when the meaning of cached files changes
ENGINE_SOURCES = ("sweep.py", "nets.py", "pergrad.py")  # their code is part of the cache key
DEFAULT_CHUNK = 1000  # steps per compiled call when chunk_steps is not given


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


class ConfigError(ValueError):
    """A sweep configuration, its data or its variants are inconsistent."""


def _default_chunk(steps: int, record_every: int) -> int:
    """The largest multiple of ``record_every`` that divides ``steps`` and is <= 1000 (at least one block)."""
    blocks = steps // record_every
    best = 1
    for k in range(1, blocks + 1):
        if blocks % k == 0 and k * record_every <= DEFAULT_CHUNK:
            best = k
    return best * record_every


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """Everything about a sweep except its data and variants (hashable, so it keys compilation).

    Attributes:
      sizes: MLP layer widths ``(d_in, h_1, ..., d_out)``, e.g. ``(784, 2048, 10)``.
      steps: training steps per variant; a multiple of ``record_every``.
      batch_size: minibatch size B.
      lr: constant learning rate of the final SGD step.
      method: ``"sgd"``, ``"winsorized"`` or ``"rm3"`` (see the module docstring).
      c_max: static upper bound of the variants' winsorization levels ``c``
        (``winsorized`` only; needs ``2 * c_max < batch_size``).
      record_every: steps between records.
      chunk_steps: steps per compiled call and per checkpoint; a multiple of
        ``record_every`` that divides ``steps``. Default: the largest such value <= 1000.
      sampling: ``"epochs"`` (shuffled epochs) or ``"uniform"`` (i.i.d. indices each step).
      stats: gradient statistics recorded at record steps, any of
        ``"alphas"`` (alpha_p/alpha_c of :func:`cgnb.engine.pergrad.group_alphas` for the real
        pristine mask and for ``n_null`` null-world masks) and ``"coherence"``
        (:func:`cgnb.engine.pergrad.coherence` of the per-example gradients).
      n_null: number of null-world masks (random permutations of the pristine mask over
        the statistics subset, fixed per variant).
      stats_examples: size of the statistics subset (first training examples).
      eval_examples: size of the training evaluation subset (first training examples);
        None = the whole training set.
      test_examples: size of the test subset; None = the whole test set.
      eval_batch: examples per forward pass when evaluating (bounds memory).
      keep_params: keep the final parameters (with a leading variant axis) in the result.
      w_scale: multiplies the Glorot initial weights (:func:`cgnb.engine.nets.init`).
      static_c: compile the winsorization level in as the constant ``c_max`` instead of
        tracing the variants' ``c`` (every variant must then have ``c == c_max``). XLA:CPU
        compiles the winsorized kernel with a traced ``c`` and ``c_max >= 3`` into a program
        that takes minutes per step; with ``c`` static it takes tens of milliseconds. A grid
        over several ``c`` is then one sweep per level (:func:`cgnb.chapters.winsorized.run_winsorized`).
    """

    sizes: tuple[int, ...]
    steps: int
    batch_size: int = 100
    lr: float = 0.1
    method: str = "sgd"
    c_max: int = 0
    record_every: int = 100
    chunk_steps: int | None = None
    sampling: str = "epochs"
    stats: tuple[str, ...] = ()
    n_null: int = 3
    stats_examples: int = 400
    eval_examples: int | None = None
    test_examples: int | None = None
    eval_batch: int = 1000
    keep_params: bool = True
    w_scale: float = 1.0
    static_c: bool = False

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        stats = (self.stats,) if isinstance(self.stats, str) else tuple(self.stats)
        object.__setattr__(self, "stats", stats)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first inconsistent field and how to fix it."""
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ConfigError(f"sizes must list the input width, hidden widths and output width, all >= 1 "
                              f"(e.g. (784, 2048, 10)); got {self.sizes}")
        for name in ("steps", "batch_size", "record_every", "eval_batch"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; use one of {METHODS}")
        if self.sampling not in SAMPLINGS:
            raise ConfigError(f"unknown sampling {self.sampling!r}; use one of {SAMPLINGS}")
        if self.steps % self.record_every:
            lo = self.steps // self.record_every * self.record_every
            raise ConfigError(
                f"steps ({self.steps}) must be a multiple of record_every ({self.record_every}): use "
                f"steps={max(lo, self.record_every)} or {lo + self.record_every}, or a record_every that divides "
                f"{self.steps}")
        if self.chunk_steps is not None:
            if self.chunk_steps < 1 or self.chunk_steps % self.record_every:
                raise ConfigError(
                    f"chunk_steps ({self.chunk_steps}) must be a positive multiple of record_every "
                    f"({self.record_every}), e.g. {self.record_every * max(1, self.chunk_steps // self.record_every)}"
                    f"; or leave chunk_steps=None for a default")
            if self.steps % self.chunk_steps:
                raise ConfigError(
                    f"steps ({self.steps}) must be a multiple of chunk_steps ({self.chunk_steps}), so every "
                    f"compiled chunk has the same length; e.g. chunk_steps="
                    f"{_default_chunk(self.steps, self.record_every)} or leave chunk_steps=None")
        if self.c_max < 0:
            raise ConfigError(f"c_max must be >= 0, got {self.c_max}")
        if self.c_max and self.method != "winsorized":
            raise ConfigError(f"c_max={self.c_max} only means something for method='winsorized' "
                              f"(got method={self.method!r}); set c_max=0")
        if self.static_c and self.method != "winsorized":
            raise ConfigError(f"static_c=True only applies to method='winsorized' (got method={self.method!r}); "
                              f"set static_c=False")
        if 2 * self.c_max >= self.batch_size:
            raise ConfigError(f"winsorizing at c_max={self.c_max} clips to the (c+1)-th largest and smallest of "
                              f"batch_size={self.batch_size} values: needs 2 * c_max < batch_size")
        unknown = [s for s in self.stats if s not in STATS]
        if unknown:
            raise ConfigError(f"unknown stats {unknown}; use a tuple of {STATS}, e.g. stats=('alphas',)")
        if len(set(self.stats)) != len(self.stats):
            raise ConfigError(f"stats lists a statistic twice: {self.stats}")
        if self.n_null < 0:
            raise ConfigError(f"n_null must be >= 0, got {self.n_null}")
        if self.stats and self.stats_examples < 2:
            raise ConfigError(f"stats_examples must be >= 2 to compute gradient statistics, got "
                              f"{self.stats_examples}")
        for name in ("eval_examples", "test_examples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be None (all examples) or >= 1, got {value}")

    @property
    def chunk(self) -> int:
        """Steps per compiled call (``chunk_steps`` or its default)."""
        return self.chunk_steps or _default_chunk(self.steps, self.record_every)

    @property
    def num_chunks(self) -> int:
        return self.steps // self.chunk

    @property
    def record_steps(self) -> np.ndarray:
        """(R,) the steps at which records are taken: 0, record_every, ..., steps."""
        return np.arange(0, self.steps + 1, self.record_every)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SweepConfig":
        fields = json.loads(text)
        fields["sizes"] = tuple(fields["sizes"])
        fields["stats"] = tuple(fields["stats"])
        return cls(**fields)


# --------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Variants:
    """The V experiment variants of a sweep, as stacked arrays.

    Attributes:
      labels: (V, N) int32 training labels (possibly noisy).
      pristine: (V, N) bool, True where the label is unchanged.
      seed: (V,) int, seeds the initialisation, the minibatch order and the null masks.
      c: (V,) int32 winsorization levels (0 for methods other than ``winsorized``).
      noise: (V,) float64 label-noise fraction, metadata only (NaN when unknown).

    ``seed``, ``c`` and ``noise`` may be given as scalars (shared by all variants).
    """

    labels: np.ndarray
    pristine: np.ndarray
    seed: np.ndarray | int = 0
    c: np.ndarray | int = 0
    noise: np.ndarray | float = float("nan")

    def __post_init__(self):
        labels = np.asarray(self.labels, np.int32)
        if labels.ndim != 2:
            raise ConfigError(f"Variants.labels must be (V, N), got shape {labels.shape}")
        v, n = labels.shape
        pristine = np.asarray(self.pristine, bool)
        if pristine.shape != (v, n):
            raise ConfigError(f"Variants.pristine must have the labels' shape {(v, n)}, got {pristine.shape}")
        fields = {"labels": labels, "pristine": pristine}
        for name, dtype in (("seed", np.int64), ("c", np.int32), ("noise", np.float64)):
            value = np.broadcast_to(np.asarray(getattr(self, name), dtype), (v,)).copy()
            fields[name] = value
        if v < 1:
            raise ConfigError("Variants needs at least one variant")
        if fields["seed"].min() < 0 or fields["seed"].max() >= 2 ** 31:
            raise ConfigError(f"seeds must be in [0, 2**31), got {fields['seed']}")
        if fields["c"].min() < 0:
            raise ConfigError(f"winsorization levels c must be >= 0, got {fields['c']}")
        for name, value in fields.items():
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, index) -> "Variants":
        """The variants selected by an index, slice, index array or boolean mask."""
        index = np.arange(len(self))[index]
        index = np.atleast_1d(index)
        return Variants(self.labels[index], self.pristine[index], self.seed[index], self.c[index],
                        self.noise[index])

    @classmethod
    def noise_grid(cls, key: jax.Array, y_train: np.ndarray, noise_levels: Sequence[float], *,
                   seeds: Sequence[int] = (0,), cs: Sequence[int] = (0,)) -> "Variants":
        """All combinations of noise level x seed x c, in that (row-major) order.

        The labels of (noise level n, seed s) are :func:`cgnb.engine.data.corrupt_labels` with key
        ``fold_in(fold_in(key, round(n * 1e6)), s)``: each seed gets its own corruption, a
        noise level gets the same corruption whatever the other levels in the list, and
        variants that differ only in ``c`` share labels, initialisation and minibatch order.
        """
        from . import data as _data

        rows = []
        for noise in noise_levels:
            for s in seeds:
                key_ns = jax.random.fold_in(jax.random.fold_in(key, int(round(float(noise) * 1e6))), int(s))
                noisy = _data.corrupt_labels(key_ns, y_train, float(noise))
                for c in cs:
                    rows.append((noisy.labels, noisy.pristine, int(s), int(c), float(noise)))
        return cls(*(np.stack(col) for col in zip(*rows)))

    @classmethod
    def clean(cls, y_train: np.ndarray, *, seeds: Sequence[int] = (0,), cs: Sequence[int] = (0,)) -> "Variants":
        """The clean labels (noise 0), once per seed x c."""
        y = np.asarray(y_train, np.int32)
        rows = [(y, np.ones_like(y, bool), int(s), int(c), 0.0) for s in seeds for c in cs]
        return cls(*(np.stack(col) for col in zip(*rows)))

    @classmethod
    def concat(cls, *parts: "Variants") -> "Variants":
        """Stack several Variants (same N) along the variant axis."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))


# --------------------------------------------------------------------------------------
# The pure training functions (one variant; vmapped by run_sweep)
# --------------------------------------------------------------------------------------


class TrainState(NamedTuple):
    """Per-variant training state: ``params``, ``opt_state``, ``first_learned`` (N_eval,) int32."""

    params: nets.Params
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


#: The per-example loss ``per_example_loss(params, x (B, d), y (B,)) -> (B,)``: softmax
#: cross-entropy of the MLP. A :class:`cgnb.engine.pergrad.MLPLoss`, so pergrad's MLP fast paths
#: (winsorized mean and coherence without per-example gradient tensors) apply.
per_example_loss = pergrad.MLPLoss(nets.cross_entropy)


def mean_loss(params: nets.Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean of :func:`per_example_loss` over the batch: scalar."""
    return jnp.mean(per_example_loss(params, x, y))


def variant_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """``(init_key, null_key)``: the JAX PRNG keys of a variant, derived from its integer seed."""
    k_init, k_null = jax.random.split(jax.random.PRNGKey(seed), 2)
    return k_init, k_null


def init_params(seed: int, config: SweepConfig) -> nets.Params:
    """A variant's initial parameters: :func:`cgnb.engine.nets.init` with ``variant_keys(seed)[0]``."""
    return nets.init(variant_keys(seed)[0], config.sizes, w_scale=config.w_scale)


def batch_indices(seed: int, start: int, count: int, n: int, batch_size: int,
                  sampling: str = "epochs") -> np.ndarray:
    """Minibatch indices for steps ``start, ..., start + count - 1``: (count, batch_size) int32.

    Drawn on the host with numpy, a pure function of ``(seed, step)`` (so chunking and
    resuming do not change them, and the compiled programs hold no random-number code):

    * ``epochs``: with ``E = n // batch_size`` steps per epoch, step t takes positions
      ``(t % E) * B, ..., (t % E) * B + B - 1`` of the permutation
      ``np.random.default_rng([seed, 0, t // E]).permutation(n)``; the last ``n % B``
      examples of each permutation are not used in that epoch.
    * ``uniform``: step t takes ``np.random.default_rng([seed, 1, t]).integers(0, n, B)``:
      independent uniform draws with replacement.
    """
    if sampling not in SAMPLINGS:
        raise ConfigError(f"unknown sampling {sampling!r}; use one of {SAMPLINGS}")
    if not 0 < batch_size <= n:
        raise ConfigError(f"batch_size must be in [1, n={n}], got {batch_size}")
    steps = range(int(start), int(start) + int(count))
    if sampling == "uniform":
        rows = [np.random.default_rng([seed, 1, t]).integers(0, n, batch_size) for t in steps]
        return np.asarray(rows, np.int32).reshape(count, batch_size)
    per_epoch = n // batch_size
    perms: dict[int, np.ndarray] = {}
    out = np.empty((count, batch_size), np.int32)
    for i, t in enumerate(steps):
        epoch, pos = divmod(t, per_epoch)
        if epoch not in perms:
            perms[epoch] = np.random.default_rng([seed, 0, epoch]).permutation(n)
        out[i] = perms[epoch][pos * batch_size:(pos + 1) * batch_size]
    return out


class WinsorizedSGD(NamedTuple):
    """SGD on the c-winsorized mean gradient: optax's ``(init, update)`` pair plus ``c``, ``c_max``.

    ``init``/``update`` are those of ``optax.sgd(lr)`` and act on the *aggregated* gradient;
    :func:`train_step` computes that gradient with :func:`cgnb.engine.pergrad.mlp_winsorized_grad`,
    which equals ``pergrad.winsorized_mean(c, c_max)`` applied to the per-example gradients
    without materialising them (B times less memory, much faster).
    """

    init: Callable
    update: Callable
    c: jax.Array | int
    c_max: int


def make_optimizer(config: SweepConfig, c: jax.Array | int = 0) -> optax.GradientTransformation | WinsorizedSGD:
    """The update rule of ``config.method`` (``c`` may be traced; ``config.c_max`` bounds it;
    with ``config.static_c`` the level is the constant ``config.c_max`` and ``c`` is ignored).

    ``sgd``: ``optax.sgd(lr)`` on the mean gradient; ``rm3``:
    ``optax.chain(pergrad.rm3(), optax.sgd(lr))`` on the mean gradient; ``winsorized``: a
    :class:`WinsorizedSGD`. Use it with :func:`train_step`.
    """
    sgd = optax.sgd(config.lr)
    if config.method == "winsorized":
        return WinsorizedSGD(sgd.init, sgd.update, config.c_max if config.static_c else c, config.c_max)
    if config.method == "rm3":
        return optax.chain(pergrad.rm3(), sgd)
    return sgd


def step_gradient(params: nets.Params, x: jax.Array, y: jax.Array, optimizer) -> nets.Params:
    """The gradient a step follows: the mean gradient, or the winsorized mean for :class:`WinsorizedSGD`."""
    if isinstance(optimizer, WinsorizedSGD):
        return pergrad.mlp_winsorized_grad(per_example_loss, params, x, y, optimizer.c, optimizer.c_max)
    return jax.grad(mean_loss)(params, x, y)


def train_step(params: nets.Params, opt_state: Any, x: jax.Array, y: jax.Array,
               optimizer: optax.GradientTransformation | WinsorizedSGD, method: str | None = None
               ) -> tuple[nets.Params, Any]:
    """One update on the minibatch x (B, d), y (B,) with ``optimizer`` from :func:`make_optimizer`.

    Returns ``(params, opt_state)``. ``method`` is only checked against the optimizer.
    """
    if method is not None and (method == "winsorized") != isinstance(optimizer, WinsorizedSGD):
        raise ConfigError(f"method={method!r} does not match the optimizer {type(optimizer).__name__}; "
                          f"build it with make_optimizer(config) for that method")
    grads = step_gradient(params, x, y, optimizer)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def predict_logits(params: nets.Params, x: jax.Array, block: int) -> jax.Array:
    """Logits (N, K) for x (N, d), computed ``block`` examples at a time to bound memory."""
    n = x.shape[0]
    if n <= block:
        return nets.apply(params, x)
    pad = (-n) % block
    xb = jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, block, x.shape[1])
    logits = lax.map(lambda chunk: nets.apply(params, chunk), xb)
    return logits.reshape(-1, logits.shape[-1])[:n]


def _group_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` over ``mask``; NaN for an empty group."""
    count = jnp.sum(mask)
    return jnp.where(count > 0, jnp.sum(jnp.where(mask, values, 0.0)) / jnp.maximum(count, 1), jnp.nan)


def _eval_sizes(config: SweepConfig, arrays: Arrays) -> tuple[int, int, int]:
    n, n_test = arrays.x_train.shape[0], arrays.x_test.shape[0]
    return (config.eval_examples or n, config.test_examples or n_test, min(config.stats_examples, n))


def _gradient_stats(params: nets.Params, x: jax.Array, y: jax.Array, pristine: jax.Array,
                    null_masks: jax.Array, config: SweepConfig) -> dict[str, jax.Array]:
    """The requested statistics on the statistics subset x (S, d), y (S,), pristine (S,).

    ``null_masks`` (n_null, S) are the null worlds' pristine masks.
    """
    out = {}
    if "alphas" in config.stats:
        masks = jnp.concatenate([pristine[None], null_masks])  # (1 + n_null, S): real, then nulls
        alphas = pergrad.group_alphas_many(per_example_loss, params, x, y, masks)
        out.update({k: v[0] for k, v in alphas.items()})
        if config.n_null:
            out.update({f"null_{k}": v[1:] for k, v in alphas.items()})
    if "coherence" in config.stats:
        out["coherence"] = pergrad.coherence(per_example_loss, params, x, y)
    return out


def evaluate(params: nets.Params, step: jax.Array, first_learned: jax.Array, variant: VariantArrays,
             arrays: Arrays, config: SweepConfig) -> tuple[dict[str, jax.Array], jax.Array]:
    """One record of one variant, and ``first_learned`` updated with this record step.

    Returns ``(record, first_learned)``; the record maps names to scalars, or to (n_null,)
    for the null-world statistics ``null_*``:
      train_loss, train_acc: evaluation subset, noisy labels;
      pristine_acc, corrupt_acc: the same accuracy on its pristine / corrupt examples
        (NaN for an empty group); corrupt_true_acc: corrupt examples classified as their
        original (clean) label;
      test_loss, test_acc: test subset;
      with ``"alphas"`` in ``config.stats``: every scalar of :func:`cgnb.engine.pergrad.group_alphas`
        on the statistics subset (alpha_p, alpha_c, dot_p, dot_c, sq_norm, norm, norm_p, norm_c,
        cos_pc, n_p, n_c) for the real pristine mask, and the same with prefix ``null_`` and
        shape (n_null,) for the null-world masks;
      with ``"coherence"``: coherence, :func:`cgnb.engine.pergrad.coherence` on the statistics subset.
    """
    n_eval, n_test, n_stats = _eval_sizes(config, arrays)
    logits = predict_logits(params, arrays.x_train[:n_eval], config.eval_batch)
    labels, pristine = variant.labels[:n_eval], variant.pristine[:n_eval]
    predicted = jnp.argmax(logits, axis=-1)
    correct = predicted == labels
    test_logits = predict_logits(params, arrays.x_test[:n_test], config.eval_batch)
    record = {
        "train_loss": jnp.mean(nets.cross_entropy(logits, labels)),
        "train_acc": jnp.mean(correct),
        "pristine_acc": _group_mean(correct, pristine),
        "corrupt_acc": _group_mean(correct, ~pristine),
        "corrupt_true_acc": _group_mean(predicted == arrays.y_true[:n_eval], ~pristine),
        "test_loss": jnp.mean(nets.cross_entropy(test_logits, arrays.y_test[:n_test])),
        "test_acc": nets.accuracy(test_logits, arrays.y_test[:n_test]),
    }
    if config.stats:
        record.update(_gradient_stats(params, arrays.x_train[:n_stats], variant.labels[:n_stats],
                                      variant.pristine[:n_stats], variant.null_masks, config))
    first_learned = jnp.where((first_learned < 0) & correct, step, first_learned)
    return record, first_learned


def init_variant(params: nets.Params, variant: VariantArrays, arrays: Arrays, config: SweepConfig
                 ) -> tuple[TrainState, dict[str, jax.Array]]:
    """Initial state of one variant from its initial ``params``, and its step-0 record."""
    opt_state = make_optimizer(config, variant.c).init(params)
    n_eval = _eval_sizes(config, arrays)[0]
    record, first = evaluate(params, jnp.int32(0), jnp.full((n_eval,), -1, jnp.int32), variant, arrays, config)
    return TrainState(params, opt_state, first), record


def train_chunk(state: TrainState, variant: VariantArrays, arrays: Arrays, indices: jax.Array,
                start: jax.Array, config: SweepConfig) -> tuple[TrainState, dict[str, jax.Array]]:
    """Train one variant for ``config.chunk`` steps from step ``start``, recording every ``record_every``.

    ``indices`` (chunk, B) are the minibatches' training-set indices (:func:`batch_indices`).
    Returns the new state and the records, each with a leading axis ``chunk // record_every``.
    """
    n_blocks = config.chunk // config.record_every
    optimizer = make_optimizer(config, variant.c)
    idx = indices.reshape(n_blocks, config.record_every, config.batch_size)

    def one_step(carry, batch):
        params, opt_state = carry
        return train_step(params, opt_state, arrays.x_train[batch], variant.labels[batch], optimizer,
                          config.method), None

    def block(state, inputs):
        batches, end = inputs
        (params, opt_state), _ = lax.scan(one_step, (state.params, state.opt_state), batches)
        record, first = evaluate(params, end, state.first_learned, variant, arrays, config)
        return TrainState(params, opt_state, first), record

    ends = start + config.record_every * (1 + jnp.arange(n_blocks, dtype=jnp.int32))
    return lax.scan(block, state, (idx, ends))


def _programs(config: SweepConfig) -> tuple[Callable, Callable]:
    """The compiled sweep functions, vmapped over variants:

    ``init(params, variants, arrays) -> (states, records)`` and
    ``chunk(states, variants, arrays, indices, start) -> (states, records)``.

    Sweeps that differ only in the number of steps (or ``keep_params``) share them.
    """
    return _compiled(dataclasses.replace(config, steps=config.chunk, chunk_steps=config.chunk, keep_params=True))


@functools.lru_cache(maxsize=32)
def _compiled(config: SweepConfig) -> tuple[Callable, Callable]:
    init = jax.jit(jax.vmap(functools.partial(init_variant, config=config), in_axes=(0, 0, None)))
    chunk = jax.jit(jax.vmap(functools.partial(train_chunk, config=config), in_axes=(0, 0, None, 0, None)))
    return init, chunk


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


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
        """Write the result to one ``.npz`` file (atomically)."""
        arrays = {"config": np.array(self.config.to_json()), "key": np.array(self.key), "steps": self.steps,
                  "first_learned": self.first_learned, "pristine": self.pristine, "noise": self.noise,
                  "seed": self.seed, "c": self.c}
        arrays.update({f"records/{k}": v for k, v in self.records.items()})
        if self.params is not None:
            arrays.update({f"params/{i}/{k}": np.asarray(v) for i, layer in enumerate(self.params)
                           for k, v in layer.items()})
        _atomic_savez(Path(path), arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SweepResult":
        """Read a result written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as npz:
            files = {k: npz[k] for k in npz.files}
        records = {k.split("/", 1)[1]: v for k, v in files.items() if k.startswith("records/")}
        layers: dict[int, dict[str, np.ndarray]] = {}
        for k, v in files.items():
            if k.startswith("params/"):
                _, i, name = k.split("/")
                layers.setdefault(int(i), {})[name] = v
        params = [layers[i] for i in sorted(layers)] or None
        return cls(SweepConfig.from_json(str(files["config"])), files["steps"], records, files["first_learned"],
                   files["pristine"], files["noise"], files["seed"], files["c"], params, str(files["key"]))


# --------------------------------------------------------------------------------------
# Cache and checkpoints
# --------------------------------------------------------------------------------------


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` to a temporary file next to ``path``, then ``os.replace`` it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


@functools.lru_cache(maxsize=1)
def engine_fingerprint() -> str:
    """sha256 of the sources that determine training results (train, models, pergrad), hex."""
    h = hashlib.sha256()
    for name in ENGINE_SOURCES:
        path = Path(__file__).resolve().parent / name
        h.update(name.encode())
        h.update(path.read_bytes() if path.is_file() else b"missing")
    return h.hexdigest()


def sweep_key(config: SweepConfig, data, variants: Variants) -> str:
    """Hex digest identifying a sweep.

    Hashes the config, every data array (``x_train``, ``y_train``, ``x_test``, ``y_test``)
    and variant array by content, the cgnb version and :func:`engine_fingerprint`, so a
    change to the engine's code recomputes instead of reusing stale results.
    """
    h = hashlib.sha256()
    h.update(f"cgnb {__version__} {engine_fingerprint()} train-cache {CACHE_FORMAT}\n{config.to_json()}\n".encode())
    named = [("x_train", data.x_train), ("y_train", data.y_train), ("x_test", data.x_test),
             ("y_test", data.y_test)]
    named += [(f.name, getattr(variants, f.name)) for f in dataclasses.fields(Variants)]
    for name, array in named:
        array = np.ascontiguousarray(array)
        h.update(f"{name} {array.dtype.str} {array.shape}\n".encode())
        h.update(array.tobytes())
    return h.hexdigest()[:24]


def _save_checkpoint(path: Path, chunks_done: int, states: TrainState, records: dict[str, np.ndarray]) -> None:
    leaves = jax.tree_util.tree_leaves(states)
    arrays = {"chunks_done": np.array(chunks_done)}
    arrays.update({f"state/{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)})
    arrays.update({f"records/{k}": v for k, v in records.items()})
    _atomic_savez(path, arrays)


def _load_checkpoint(path: Path, like: TrainState) -> tuple[int, TrainState, dict[str, np.ndarray]]:
    """Read a checkpoint; ``like`` (arrays or ShapeDtypeStructs) gives the state's structure."""
    with np.load(path, allow_pickle=False) as npz:
        files = {k: npz[k] for k in npz.files}
    leaves, treedef = jax.tree_util.tree_flatten(like)
    loaded = [files[f"state/{i:04d}"] for i in range(len(leaves))]
    for got, want in zip(loaded, leaves):
        if got.shape != want.shape:
            raise ConfigError(f"checkpoint {path} does not match this sweep (state shape {got.shape} vs "
                              f"{want.shape}); delete the file to start over")
    records = {k.split("/", 1)[1]: v for k, v in files.items() if k.startswith("records/")}
    return int(files["chunks_done"]), jax.tree_util.tree_unflatten(treedef, loaded), records


# --------------------------------------------------------------------------------------
# Running a sweep
# --------------------------------------------------------------------------------------


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
                          f"run one sweep per level (cgnb.chapters.winsorized.run_winsorized) or set static_c=False")
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


def initial_params(config: SweepConfig, variants: Variants) -> nets.Params:
    """The variants' initial parameters (:func:`init_params`), stacked: leading axis V."""
    per_variant = _per_seed(variants.seed, lambda seed: init_params(seed, config))
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *per_variant)


def sweep_indices(config: SweepConfig, variants: Variants, chunk_index: int, n: int) -> np.ndarray:
    """Minibatch indices of every variant for one chunk: (V, chunk, B) int32 (:func:`batch_indices`)."""
    start = chunk_index * config.chunk
    return np.stack(_per_seed(variants.seed, lambda seed: batch_indices(
        seed, start, config.chunk, n, config.batch_size, config.sampling)))


def variant_inputs(config: SweepConfig, variants: Variants) -> VariantArrays:
    """The variants' arrays for the compiled programs, with their null-world masks (V, n_null, S).

    The null masks of a variant are ``pergrad.null_masks(variant_keys(seed)[1], pristine[:S],
    n_null)`` on its statistics subset of S examples (empty unless ``"alphas"`` is asked for).
    """
    n_stats = min(config.stats_examples, variants.labels.shape[1])
    if "alphas" in config.stats and config.n_null:
        masks = np.stack([np.asarray(pergrad.null_masks(variant_keys(int(seed))[1], jnp.asarray(p[:n_stats]),
                                                        config.n_null))
                          for seed, p in zip(variants.seed, variants.pristine)])
    else:
        masks = np.zeros((len(variants), 0, n_stats), bool)
    return VariantArrays(jnp.asarray(variants.labels), jnp.asarray(variants.pristine),
                         jnp.asarray(variants.c, jnp.int32), jnp.asarray(masks, bool))


def _to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def run_sweep(config: SweepConfig, data, variants: Variants, *, cache: bool = True, progress: bool = True,
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
      progress: show a tqdm progress bar (steps).
      shard: split the variant axis over all local devices (``None``: when there are
        several and they divide V).
      on_chunk: called as ``on_chunk(chunks_done, num_chunks)`` after each chunk has been
        checkpointed (e.g. to stop early by raising).
      desc: progress-bar label.

    Returns:
      A :class:`SweepResult` with records of shape (V, R).
    """
    _check_inputs(config, data, variants)
    cache = cache and os.environ.get("CGNB_NO_CACHE", "") in ("", "0")
    key = sweep_key(config, data, variants)
    folder = paths.cache_dir() / "train" / key
    result_file, checkpoint_file = folder / "result.npz", folder / "checkpoint.npz"
    if cache and result_file.is_file():
        result = SweepResult.load(result_file)
        result.from_cache = True
        return result

    sharded, replicated = _placement(len(variants), shard)

    def place(tree, sharding):
        return tree if sharding is None else jax.device_put(tree, sharding)

    arrays = place(Arrays(*(jnp.asarray(a) for a in (data.x_train, data.y_train, data.x_test, data.y_test))),
                   replicated)
    variant_arrays = place(variant_inputs(config, variants), sharded)
    init, chunk = _programs(config)
    params = place(initial_params(config, variants), sharded)
    if cache and checkpoint_file.is_file():
        like = jax.eval_shape(init, params, variant_arrays, arrays)[0]
        done, states, records = _load_checkpoint(checkpoint_file, like)
        states = place(states, sharded)
    else:
        states, first_record = init(params, variant_arrays, arrays)
        done, records = 0, {k: v[:, None] for k, v in _to_numpy(first_record).items()}
    del params

    bar = None
    if progress:
        from tqdm.auto import tqdm

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
                _save_checkpoint(checkpoint_file, i + 1, states, records)
            if bar is not None:
                bar.update(config.chunk)
            if on_chunk is not None:
                on_chunk(i + 1, config.num_chunks)
    finally:
        if bar is not None:
            bar.close()

    n_eval = _eval_sizes(config, arrays)[0]
    result = SweepResult(
        config=config, steps=config.record_steps, records=records,
        first_learned=np.asarray(states.first_learned), pristine=np.asarray(variants.pristine[:, :n_eval]),
        noise=np.asarray(variants.noise), seed=np.asarray(variants.seed), c=np.asarray(variants.c),
        params=_to_numpy(states.params) if config.keep_params else None, key=key, chunks_run=chunks_run)
    if cache:
        result.save(result_file)
        checkpoint_file.unlink(missing_ok=True)
    return result
