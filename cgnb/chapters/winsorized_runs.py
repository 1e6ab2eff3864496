"""Winsorized SGD (chapter 5): the runs of one setting, computed or read back from a stored run.

A :class:`Setting` is what the chapter's ``parameters`` cell sets. :func:`compute` trains its three
kinds of sweep: plain SGD and RM3 over the noise levels, and winsorized SGD at every ``c > 0``
(:func:`cgnb.chapters.winsorized.run_winsorized`, one compiled program per level).
:func:`stored_arrays` and :func:`from_stored` turn :class:`Runs` into the arrays of a stored run
(:mod:`cgnb.engine.runs`) and back; :data:`CATALOG` lists the chapter's stored runs; :func:`grids`
gives the per-cell curves every figure and claim of the chapter reads, whichever run they come from.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

import jax
import numpy as np

from ..engine import data as data_lib
from ..engine import runs, sweep
from . import winsorized


@dataclasses.dataclass(frozen=True)
class Setting:
    """One chapter-5 setting (the notebook's parameters): data, network, training and the variant grid.

    The variants are :func:`cgnb.chapters.winsorized.seeded_grid`'s: every seed at the
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
        return (784, *self.hidden, 10)

    def config(self, method: str) -> sweep.SweepConfig:
        return sweep.SweepConfig(sizes=self.sizes, steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                                 method=method, record_every=self.record_every, keep_params=False)

    def load_data(self) -> data_lib.Dataset:
        return data_lib.subset(data_lib.load_mnist(self.source), self.n_train, self.n_test)

    def variants(self, data: data_lib.Dataset, cs: Sequence[int] = (0,)) -> sweep.Variants:
        return winsorized.seeded_grid(jax.random.PRNGKey(0), data.y_train, self.noise_levels, seeds=self.seeds,
                                      claim_levels=self.claim_levels, cs=cs)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Runs:
    """A setting's sweeps: ``sgd`` and ``rm3`` (c = 0) and ``winsorized`` by level c > 0."""

    sgd: sweep.SweepResult
    rm3: sweep.SweepResult
    winsorized: dict[int, sweep.SweepResult]
    wall_s: float = float("nan")

    @property
    def from_cache(self) -> bool:
        return all(r.from_cache for r in (self.sgd, self.rm3, *self.winsorized.values()))


def compute(setting: Setting, data: data_lib.Dataset | None = None, *, progress: bool | None = None) -> Runs:
    """Train the setting's sweeps (each cached and resumable)."""
    start = time.perf_counter()
    data = setting.load_data() if data is None else data
    plain = setting.variants(data)
    sgd = sweep.run_sweep(setting.config("sgd"), data, plain, progress=progress, desc="sgd")
    rm3 = sweep.run_sweep(setting.config("rm3"), data, plain, progress=progress, desc="rm3")
    levels = [c for c in setting.cs if c > 0]
    wins = winsorized.run_winsorized(setting.config("winsorized"), data, setting.variants(data, levels),
                                     progress=progress) if levels else {}
    return Runs(sgd, rm3, wins, time.perf_counter() - start)


def grids(computed: Runs, cs: Sequence[int], noise_levels: Sequence[float]) -> tuple[dict, dict]:
    """``(grid, rm3_grid)``: a list of :class:`cgnb.chapters.winsorized.Curves` (one per seed) for each
    ``(c, noise)`` cell (c = 0 is plain SGD) and for RM3 at each noise level."""
    grid = {(c, n): winsorized.seed_curves(computed.sgd, n) if c == 0 else
            winsorized.seed_curves(computed.winsorized[c], n, c=c) for c in cs for n in noise_levels}
    return grid, {n: winsorized.seed_curves(computed.rm3, n) for n in noise_levels}


def stored_arrays(computed: Runs, setting: Setting, data: data_lib.Dataset) -> dict[str, np.ndarray]:
    """The arrays of a stored run: every sweep, and the variants of the plain and of each winsorized sweep."""
    plain, wins = setting.variants(data), setting.variants(data, [c for c in setting.cs if c > 0])
    arrays = {**runs.sweep_arrays("sgd", computed.sgd), **runs.sweep_arrays("rm3", computed.rm3),
              **runs.variants_arrays("variants-plain", plain)}
    for c, result in computed.winsorized.items():
        arrays.update(runs.sweep_arrays(f"winsorized-c{c}", result))
        arrays.update(runs.variants_arrays(f"variants-c{c}", wins[wins.c == c]))
    return arrays


def from_stored(run: runs.StoredRun) -> Runs:
    """The :class:`Runs` of a stored run written with :func:`stored_arrays`."""
    levels = sorted(int(k.split("/")[0][len("winsorized-c"):]) for k in run.arrays
                    if k.startswith("winsorized-c") and k.endswith("/config"))
    return Runs(run.sweep("sgd"), run.sweep("rm3"), {c: run.sweep(f"winsorized-c{c}") for c in levels},
                run.provenance["wall_s"])


# ----------------------------------------------------------------------------- the stored runs


def _compute_stored(setting: Setting, data: data_lib.Dataset) -> tuple[dict[str, np.ndarray], float]:
    computed = compute(setting, data, progress=True)
    if computed.from_cache:
        print("note: this run came from the result cache; its wall time counts only what was computed now")
    return stored_arrays(computed, setting, data), computed.wall_s


#: The chapter's stored runs (:class:`cgnb.engine.runs.Catalog`). ``fashion-30k``: the first 30,000
#: Fashion-MNIST training images and all 10,000 test images, a 784-152-152-152-10 MLP (167,362 parameters,
#: 5.58 per example; the paper's 5.59) for 30,000 steps (100 epochs, the paper's), learning rate 0.1, batch
#: 100; every noise level and c, one seed. The paper's 60,000 examples (784-256-256-256-10, 60,000 steps)
#: cost about four times as much (examples x parameters), more CPU time than this book had. A replay
#: recomputes the first 300 steps of the c = 4 sweep.
CATALOG = runs.Catalog(
    chapter="ch5",
    settings={"fashion-30k": Setting(source="fashion", n_train=30_000, n_test=None, hidden=(152, 152, 152),
                                     steps=30_000, record_every=300, noise_levels=(0.0, 0.25, 0.5, 0.75, 1.0),
                                     cs=(0, 1, 2, 4), claim_levels=(0.25, 0.5, 0.75), seeds=(0,))},
    compute=_compute_stored, read=from_stored, replay_prefixes=("winsorized-c4", "variants-c4"), replay_steps=300)


def load_stored(name: str, *, directory=None) -> tuple[Setting, Runs, runs.StoredRun]:
    """The stored run ``name`` (checked against the setting :data:`CATALOG` asks for) as :class:`Runs`."""
    return CATALOG.open(name, directory=directory)


# ----------------------------------------------------------------------------- showing runs side by side


@dataclasses.dataclass
class Shown:
    """One run as the notebook shows and checks it: ``name`` is the ledger profile (``quick``/``paper`` or the
    stored run's name), ``label`` the figure title, ``grid``/``rm3_grid`` from :func:`grids`."""

    name: str
    label: str
    ledger: Any
    setting: Setting
    grid: dict
    rm3_grid: dict


def stored_label(setting: Setting, run: runs.StoredRun) -> str:
    """Figure title of a stored run: scale, network, steps, seeds, machine and date."""
    seeds = f"{len(setting.seeds)} seed{'s' if len(setting.seeds) > 1 else ''}"
    network = "-".join(map(str, setting.sizes))
    return run.title(f"{setting.n_train:,} {setting.source} images, {network}, {setting.steps:,} steps, {seeds}")
