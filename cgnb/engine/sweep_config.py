"""A sweep's configuration: :class:`SweepConfig` (everything but data and variants) and
:class:`Variants` (the V experiment variants), each validated on construction.

The conventions they describe are in :mod:`cgnb.engine.sweep`'s docstring. The model of every
sweep is fixed: the MLP of :attr:`SweepConfig.sizes` with :data:`per_example_loss`.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Sequence

import jax
import numpy as np

from . import checks, losses, sampler

METHODS = ("sgd", "winsorized", "rm3")
SAMPLINGS = sampler.SAMPLINGS
STATS = ("alphas", "coherence")
DEFAULT_CHUNK = 1000  # steps per compiled call when chunk_steps is not given

#: The per-example loss ``per_example_loss(params, x (B, d), y (B,)) -> (B,)``: softmax
#: cross-entropy of the MLP. A :class:`cgnb.engine.losses.MLPLoss`, so the MLP fast paths
#: (winsorized mean and coherence without per-example gradient tensors) apply.
per_example_loss = losses.MLPLoss(losses.cross_entropy)


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
      method: ``"sgd"``, ``"winsorized"`` or ``"rm3"`` (see :mod:`cgnb.engine.sweep`).
      c_max: static upper bound of the variants' winsorization levels ``c``
        (``winsorized`` only; needs ``2 * c_max < batch_size``).
      record_every: steps between records.
      chunk_steps: steps per compiled call and per checkpoint; a multiple of
        ``record_every`` that divides ``steps``. Default: the largest such value <= 1000.
      sampling: ``"epochs"`` (shuffled epochs) or ``"uniform"`` (i.i.d. indices each step).
      stats: gradient statistics recorded at record steps, any of
        ``"alphas"`` (alpha_p/alpha_c of :func:`cgnb.engine.stats.group_alphas` for the real
        pristine mask and for ``n_null`` null-world masks) and ``"coherence"``
        (:func:`cgnb.engine.stats.coherence` of the per-example gradients).
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
        that takes minutes per step; with ``c`` static it takes tens of milliseconds. For a grid
        over several ``c``, run one sweep per level.
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
        try:
            for name in ("steps", "batch_size", "record_every", "eval_batch"):
                checks.integer(name, getattr(self, name), minimum=1)
            for name in ("c_max", "n_null", "stats_examples"):
                checks.integer(name, getattr(self, name), minimum=0)
            for name in ("chunk_steps", "eval_examples", "test_examples"):
                value = getattr(self, name)
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                          or value < 1):
                    raise ValueError(f"{name} must be None (the default) or an integer >= 1, got {value!r}")
            checks.real("lr", self.lr, positive=True)
            checks.real("w_scale", self.w_scale, positive=True)
        except ValueError as error:
            raise ConfigError(f"SweepConfig: {error}") from None
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
        try:
            checks.integer_array("Variants.labels", self.labels, minimum=0)
            whole = {name: checks.integer_array(f"Variants.{name}", getattr(self, name))
                     for name in ("seed", "c")}
        except ValueError as error:
            raise ConfigError(str(error)) from None
        for name, dtype in (("seed", np.int64), ("c", np.int32)):
            fields[name] = np.broadcast_to(whole[name].astype(dtype), (v,)).copy()
        fields["noise"] = np.broadcast_to(np.asarray(self.noise, np.float64), (v,)).copy()
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

        try:
            noise_levels = [checks.real("noise level", n, low=0.0, high=1.0) for n in noise_levels]
        except ValueError as error:
            raise ConfigError(f"Variants.noise_grid: {error} (a fraction of corrupted labels)") from None
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
