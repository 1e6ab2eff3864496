"""Chapter 5's runs: one setting's sweeps (plain SGD, RM3, winsorized SGD), computed or read back.

A :class:`Setting` is what the chapter's ``parameters`` cell sets; :func:`seeded_grid` its variants.
:func:`compute` trains its three kinds of sweep: plain SGD and RM3 over the noise levels, and
winsorized SGD at every ``c > 0`` (:func:`run_winsorized`, one compiled program per level);
:func:`compute_control` the control runs (the largest c at smaller learning rates).
:func:`stored_arrays` and :func:`from_stored` turn :class:`Computed` into the arrays of a stored run
(:mod:`cgnb.engine.runs`) and back; :data:`CATALOG` lists the chapter's stored runs; :func:`grids`
gives the per-cell curves every figure and claim of the chapter reads, whichever run they come from, and
:func:`show` gathers one run as the notebook shows and checks it;
:func:`paper_programs` builds the paper profile's programs for the memory check.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np

from ...engine import data as data_lib
from ...engine import runs, sweep
from . import claims, measures

#: Training examples on which every record measures the network (dead units are units none of them activates).
MODEL_EXAMPLES = 1000


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting of the chapter (the notebook's parameters): data, network, training and the variant grid.

    The variants are :func:`seeded_grid`'s: every seed at the
    ``claim_levels`` noise levels, the first seed at the others.
    """

    source: str
    n_train: int
    n_test: int | None
    hidden: tuple[int, ...]
    steps: int
    record_every: int
    noise_levels: tuple[float, ...]
    cs: tuple[int, ...]
    claim_levels: tuple[float, ...]
    seeds: tuple[int, ...]
    lr: float = 0.1
    batch_size: int = 100

    def __post_init__(self):
        for name, kind in (("hidden", int), ("noise_levels", float), ("cs", int), ("claim_levels", float),
                           ("seeds", int)):
            object.__setattr__(self, name, tuple(kind(v) for v in getattr(self, name)))
        if 0 not in self.cs:
            raise ValueError(f"cs must include 0 (plain SGD, the grid's first row); got {self.cs}")

    @property
    def sizes(self) -> tuple[int, ...]:
        """The MLP's widths, ``(784, *hidden, 10)``."""
        return (784, *self.hidden, 10)

    def config(self, method: str) -> sweep.SweepConfig:
        """The sweep configuration of ``method`` (``"sgd"``, ``"rm3"`` or ``"winsorized"``); every record also
        measures the network itself (the ``"model"`` statistic: weight norms, logit spread, dead units) on
        the first :data:`MODEL_EXAMPLES` training examples."""
        return sweep.SweepConfig(sizes=self.sizes, steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                                 method=method, record_every=self.record_every, keep_params=False,
                                 stats=("model",), stats_examples=min(MODEL_EXAMPLES, self.n_train))

    def load_data(self) -> data_lib.Dataset:
        """The first ``n_train`` training and ``n_test`` test images of ``source``."""
        return data_lib.subset(data_lib.load_mnist(self.source), self.n_train, self.n_test)

    def variants(self, data: data_lib.Dataset, cs: Sequence[int] = (0,)) -> sweep.Variants:
        """The variants (:func:`seeded_grid`) with winsorization levels ``cs``."""
        return seeded_grid(jax.random.PRNGKey(0), data.y_train, self.noise_levels, seeds=self.seeds,
                           claim_levels=self.claim_levels, cs=cs)

    def as_dict(self) -> dict[str, Any]:
        """The fields, JSON-like (a stored run's config)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any]) -> "Setting":
        """The setting of a notebook's parameters (a mapping holding every field, e.g. ``globals()``).

        Raises:
          KeyError: a field is missing (named in the message).
        """
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in values]
        if missing:
            raise KeyError(f"the parameters lack {missing}; the chapter's parameters cell sets every field of Setting")
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})

    def describe(self) -> str:
        """The setting's scale in words, e.g. ``30,000 fashion images, 784-152-152-152-10, 30,000 steps, 1 seed``."""
        seeds = f"{len(self.seeds)} seed{'s' if len(self.seeds) > 1 else ''}"
        network = "-".join(map(str, self.sizes))
        return f"{self.n_train:,} {self.source} images, {network}, {self.steps:,} steps, {seeds}"


#: The names the chapter's ``parameters`` cell sets: the :class:`Setting` and the control and timing runs.
PARAMETERS = (*(f.name for f in dataclasses.fields(Setting)), "control_lrs", "control_noise", "timing_repeats")


@dataclasses.dataclass
class Computed:
    """A setting's sweeps: ``sgd`` and ``rm3`` (c = 0) and ``winsorized`` by level c > 0."""

    sgd: sweep.SweepResult
    rm3: sweep.SweepResult
    winsorized: dict[int, sweep.SweepResult]
    wall_s: float = float("nan")

    @property
    def from_cache(self) -> bool:
        """Whether every sweep came from the result cache."""
        return all(r.from_cache for r in (self.sgd, self.rm3, *self.winsorized.values()))


def compute(setting: Setting, data: data_lib.Dataset | None = None, *, progress: bool | None = None) -> Computed:
    """Train the setting's sweeps, each cached and resumable: sgd and rm3 on the plain variants, then one
    winsorized sweep per level c > 0 (:func:`run_winsorized`).

    Args:
      setting: the run's :class:`Setting`; data: its data (``setting.load_data()`` when None);
      progress: whether the sweeps show progress bars (None: the engine decides).

    Returns:
      :class:`Computed` with the three kinds of sweep and the wall time in seconds.
    """
    start = time.perf_counter()
    data = setting.load_data() if data is None else data
    plain = setting.variants(data)
    sgd = sweep.run_sweep(setting.config("sgd"), data, plain, progress=progress, desc="sgd")
    rm3 = sweep.run_sweep(setting.config("rm3"), data, plain, progress=progress, desc="rm3")
    levels = [c for c in setting.cs if c > 0]
    wins = run_winsorized(setting.config("winsorized"), data, setting.variants(data, levels),
                          progress=progress) if levels else {}
    return Computed(sgd, rm3, wins, time.perf_counter() - start)


def grids(computed: Computed, cs: Sequence[int], noise_levels: Sequence[float]) -> tuple[dict, dict]:
    """``(grid, rm3_grid)``: a list of :class:`cgnb.chapters.winsorized_sgd.measures.VariantCurves` (one per
    seed) for each ``(c, noise)`` cell (c = 0 is plain SGD) and for RM3 at each noise level."""
    grid = {(c, n): measures.seed_curves(computed.sgd, n) if c == 0 else
            measures.seed_curves(computed.winsorized[c], n, c=c) for c in cs for n in noise_levels}
    return grid, {n: measures.seed_curves(computed.rm3, n) for n in noise_levels}


def stored_arrays(computed: Computed, setting: Setting, data: data_lib.Dataset) -> dict[str, np.ndarray]:
    """The arrays of a stored run: every sweep, and the variants of the plain and of each winsorized sweep."""
    plain, wins = setting.variants(data), setting.variants(data, [c for c in setting.cs if c > 0])
    arrays = {**runs.sweep_arrays("sgd", computed.sgd), **runs.sweep_arrays("rm3", computed.rm3),
              **runs.variants_arrays("variants-plain", plain)}
    for c, result in computed.winsorized.items():
        arrays.update(runs.sweep_arrays(f"winsorized-c{c}", result))
        arrays.update(runs.variants_arrays(f"variants-c{c}", wins[wins.c == c]))
    return arrays


def from_stored(run: runs.StoredRun) -> Computed:
    """The :class:`Computed` of a stored run written with :func:`stored_arrays`."""
    levels = sorted(int(k.split("/")[0][len("winsorized-c"):]) for k in run.arrays
                    if k.startswith("winsorized-c") and k.endswith("/config"))
    return Computed(run.sweep("sgd"), run.sweep("rm3"), {c: run.sweep(f"winsorized-c{c}") for c in levels},
                    run.provenance["wall_s"])


# ----------------------------------------------------------------------------- the stored runs


#: The chapter's stored runs (:class:`cgnb.engine.runs.Catalog`). ``fashion-60k``: the paper's own setting on
#: Fashion-MNIST: all 60,000 training and 10,000 test images, the 784-256-256-256-10 MLP (335,114 parameters,
#: 5.59 per example), 60,000 steps (100 epochs), learning rate 0.1, batch 100, every noise level and c and
#: RM3, one seed, recording the network (weight norms, logit spread, dead units) every 1,000 steps. It
#: replaced ``fashion-30k`` (half the images, 784-152-152-152-10, the same parameters per example and epochs).
#: A replay recomputes the first 3 records of every sweep (``replay_steps``: at least the first 1,000 steps of
#: the c = 4 sweep).
CATALOG = runs.Catalog(
    chapter="winsorized_sgd",
    settings={"fashion-60k": Setting(source="fashion", n_train=60_000, n_test=None, hidden=(256, 256, 256),
                                     steps=60_000, record_every=1000, noise_levels=(0.0, 0.25, 0.5, 0.75, 1.0),
                                     cs=(0, 1, 2, 4), claim_levels=(0.25, 0.5, 0.75), seeds=(0,))},
    compute=compute, arrays=stored_arrays, read=from_stored, replay_prefixes=("winsorized-c4", "variants-c4"),
    replay_steps=1000)


# ----------------------------------------------------------------------------- showing runs side by side


@dataclasses.dataclass
class Shown(runs.Shown):
    """One run as the notebook shows and checks it (:class:`cgnb.engine.runs.Shown`, ``results`` a
    :class:`Computed`), with its ``grid`` and ``rm3_grid`` from :func:`grids` and its ``control``
    (learning rate -> the seeds' :class:`cgnb.chapters.winsorized_sgd.measures.VariantCurves` at the
    largest c and the control noise level; empty for a run without control) and, for a stored run,
    the :class:`cgnb.engine.runs.StoredRun` it was read from (its provenance)."""

    grid: dict
    rm3_grid: dict
    control: dict = dataclasses.field(default_factory=dict)
    stored: runs.StoredRun | None = None

    @property
    def has_model(self) -> bool:
        """Whether the run recorded the network itself (weight norms, logit spread, dead units)."""
        return all(curve.has_model for cell in self.grid.values() for curve in cell)


def show(name: str, label: str, ledger, setting: Setting, computed: Computed,
         control: Mapping[float, sweep.SweepResult] | None = None) -> Shown:
    """One run as the notebook shows and checks it: its sweeps as per-cell curves (:func:`grids`) and
    its control sweeps (:func:`compute_control`) as curves by learning rate."""
    grid, rm3_grid = grids(computed, setting.cs, setting.noise_levels)
    curves = {lr: measures.seed_curves(result, float(result.noise[0])) for lr, result in (control or {}).items()}
    return Shown(name, label, ledger, setting, computed, grid, rm3_grid, curves)


def open_stored(chapter, name: str, ledger: Callable[..., Any], *, directory=None) -> Shown:
    """The stored run ``name`` of ``chapter`` (its :data:`CATALOG` entry, checked against the setting asked for)
    as the notebook shows and checks it, with its own ledger ``ledger(chapter, profile=name, parameters=...)``
    (``chapter`` as the run can check it: :func:`cgnb.chapters.winsorized_sgd.claims.for_run`); ``directory``:
    the results folder (default the book's)."""
    stored_setting, results, stored = chapter.catalog.open(name, directory=directory)
    run = show(name, chapter.catalog.title(stored), None, stored_setting, results)
    run.ledger = ledger(claims.for_run(chapter, run.has_model), profile=name, parameters=stored_setting.as_dict())
    run.stored = stored
    return run


# ----------------------------------------------------------------------------- the variants and the winsorized sweeps


def seeded_grid(key: jax.Array, y_train: np.ndarray, noise_levels: Sequence[float], *, seeds: Sequence[int],
                claim_levels: Sequence[float], cs: Sequence[int] = (0,)) -> sweep.Variants:
    """Variants: every seed at the ``claim_levels`` noise levels, the first seed at the others.

    Labels, initialisation and minibatch order are :meth:`cgnb.engine.sweep.Variants.noise_grid`'s,
    so a (noise, seed) cell is the same whatever else the grid holds.
    """
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    missing = [n for n in claim_levels if n not in noise_levels]
    if missing:
        raise ValueError(f"claim_levels {missing} are not among the noise levels {list(noise_levels)}")
    parts = [sweep.Variants.noise_grid(key, y_train, [n], seeds=seeds if n in claim_levels else seeds[:1], cs=cs)
             for n in noise_levels]
    return sweep.Variants.concat(*parts)


def compute_control(setting: Setting, data: data_lib.Dataset, lrs: Sequence[float], noise: float, *,
                    progress: bool | None = None) -> dict[float, sweep.SweepResult]:
    """Winsorized SGD at the largest c and one noise level with other learning rates: every seed, with the
    labels, initialisation and minibatch order of the same cells of the setting's grid.

    Returns:
      ``{lr: SweepResult}``, each cached and resumable like the grid's sweeps.

    Raises:
      ValueError: a learning rate is not positive.
    """
    bad = [lr for lr in lrs if not lr > 0]
    if bad:
        raise ValueError(f"control learning rates must be positive, got {bad}")
    c = max(setting.cs)
    variants = seeded_grid(jax.random.PRNGKey(0), data.y_train, [noise], seeds=setting.seeds,
                           claim_levels=[noise], cs=[c])
    config = winsorized_config(setting.config("winsorized"), c)
    return {float(lr): sweep.run_sweep(dataclasses.replace(config, lr=float(lr)), data, variants, progress=progress,
                                       desc=f"control c={c}, lr={lr}") for lr in lrs}


def winsorized_config(config: sweep.SweepConfig, c: int) -> sweep.SweepConfig:
    """``config`` for winsorized SGD at the level ``c`` (``c_max = c``; a sweep whose variants all share
    one level compiles it in)."""
    return dataclasses.replace(config, method="winsorized", c_max=c)


def run_winsorized(config: sweep.SweepConfig, data, variants: sweep.Variants, **kwargs) -> dict[int, sweep.SweepResult]:
    """Winsorized sweeps of ``variants``, one per distinct level c, each with that level compiled in.

    Returns ``{c: SweepResult}`` (the variants with that c, ``config`` with ``method="winsorized"`` and
    ``c_max = c``). The updates are those of :func:`cgnb.engine.sweep.run_sweep` with c traced; only the
    compiled program differs. ``kwargs`` go to :func:`cgnb.engine.sweep.run_sweep`.
    """
    results = {}
    for c in sorted(int(v) for v in np.unique(variants.c)):
        results[c] = sweep.run_sweep(winsorized_config(config, c), data, variants[variants.c == c],
                                     **{"desc": f"winsorized c={c}", **kwargs})
    return results


# ----------------------------------------------------------------------------- the paper profile's programs


def paper_programs(parameters: Mapping[str, Any], *, sweep_chunk: Callable) -> list[tuple]:
    """The paper profile's programs for the memory check: the chunk programs of sgd, rm3 and winsorized
    SGD at the largest c (compiled with c static, as :func:`run_winsorized` trains).

    Args:
      parameters: the notebook's ``parameters`` cell under the paper profile (every :class:`Setting` field).
      sweep_chunk: ``sweep_chunk(config, num_variants, n_train, n_test, level) -> (function, abstract args)``.

    Returns:
      ``[(label, function, abstract args, abstract kwargs)]``, one per method.
    """
    own = Setting.from_parameters(parameters)
    variants = sum(len(own.seeds) if n in own.claim_levels else 1 for n in own.noise_levels)
    c = max(own.cs)
    out = []
    for label, config, level in (("sgd", own.config("sgd"), None), ("rm3", own.config("rm3"), None),
                                 (f"winsorized c={c}", winsorized_config(own.config("winsorized"), c), c)):
        fn, args = sweep_chunk(config, variants, own.n_train, own.n_test, level)
        out.append((f"sweep chunk {label}: {variants} variants x {config.chunk} steps", fn, args, {}))
    return out
