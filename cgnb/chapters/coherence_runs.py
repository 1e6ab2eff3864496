"""Coherent gradients (chapter 4): the runs of one setting, computed or read back from a stored run.

A :class:`Setting` is what the chapter's ``parameters`` cell sets. :func:`compute` trains its
label-noise sweeps (:func:`cgnb.engine.sweep.run_sweep`: a long sweep and a finely recorded
opening of the same runs, joined by :func:`cgnb.chapters.coherence.combine`) and the per-example
contributions over the first steps (:func:`cgnb.chapters.coherence_contributions.summarize`).
:func:`stored_arrays` and :func:`from_stored` turn a :class:`Runs` into the arrays of a stored run
(:mod:`cgnb.engine.runs`) and back, so the notebook plots and checks a stored run with the same code
as the run it computes itself; :data:`CATALOG` lists the chapter's stored runs.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np

from ..engine import data as data_lib
from ..engine import runs, sweep
from . import coherence, coherence_contributions


@dataclasses.dataclass(frozen=True)
class Setting:
    """One chapter-4 setting (the notebook's parameters).

    ``source``/``n_train``: the data (:func:`cgnb.engine.data.load_mnist`, first ``n_train``
    training images); ``width``: hidden units of the MLP 784-width-10; the rest as named in the
    notebook (SGD with batch 100 and learning rate 0.1 throughout, as in the paper).
    """

    source: str
    n_train: int
    width: int
    noise_levels: tuple[float, ...]
    seeds: tuple[int, ...]
    steps: int
    record_every: int
    opening_steps: int
    opening_every: int
    stats_examples: int = 400
    n_null: int = 3
    contribution_steps: int = 10
    early_examples: int | None = None
    null_worlds: int = 1000

    def __post_init__(self):
        object.__setattr__(self, "noise_levels", tuple(float(n) for n in self.noise_levels))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))

    def config(self) -> sweep.SweepConfig:
        """The long sweep's configuration."""
        return sweep.SweepConfig(sizes=(784, self.width, 10), steps=self.steps, batch_size=100, lr=0.1,
                                 record_every=self.record_every, stats=("alphas", "coherence"),
                                 stats_examples=self.stats_examples, n_null=self.n_null, keep_params=False)

    def opening_config(self) -> sweep.SweepConfig:
        """The opening sweep: the same runs' first ``opening_steps`` steps, recorded every ``opening_every``."""
        return dataclasses.replace(self.config(), steps=self.opening_steps, record_every=self.opening_every,
                                   chunk_steps=None)

    def load_data(self) -> data_lib.Dataset:
        return data_lib.subset(data_lib.load_mnist(self.source), self.n_train)

    def variants(self, data: data_lib.Dataset) -> sweep.Variants:
        return sweep.Variants.noise_grid(jax.random.PRNGKey(0), data.y_train, self.noise_levels, seeds=self.seeds)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Runs:
    """A setting's results: ``result`` (opening and long sweep joined), ``early`` (the summary of the
    first steps' contributions) and the ``opening`` sweep alone (what a replay recomputes)."""

    result: Any
    opening: Any
    early: dict[str, np.ndarray]
    wall_s: float = float("nan")


def compute(setting: Setting, data: data_lib.Dataset | None = None, *, progress: bool | None = None) -> Runs:
    """Train the setting's sweeps (cached and resumable) and summarise its first steps' contributions."""
    start = time.perf_counter()
    data = setting.load_data() if data is None else data
    variants = setting.variants(data)
    late = sweep.run_sweep(setting.config(), data, variants, progress=progress, desc="long sweep")
    opening = sweep.run_sweep(setting.opening_config(), data, variants, progress=progress, desc="opening")
    early = coherence_contributions.cached_early_contributions(setting.config(), data, variants,
                                                               setting.contribution_steps,
                                                               examples=setting.early_examples)
    summary = coherence_contributions.summarize(early, setting.null_worlds, setting.n_null)
    return Runs(coherence.combine(opening, late), opening, summary, time.perf_counter() - start)


def stored_arrays(computed: Runs, variants: sweep.Variants) -> dict[str, np.ndarray]:
    """The arrays of a stored run: the joined sweep, the opening sweep, its variants and the summary."""
    arrays = {**runs.sweep_arrays("result", computed.result), **runs.sweep_arrays("opening", computed.opening),
              **runs.variants_arrays("variants", variants)}
    arrays.update({f"early/{k}": v for k, v in computed.early.items()})
    return arrays


def from_stored(run: runs.StoredRun) -> Runs:
    """The :class:`Runs` of a stored run written with :func:`stored_arrays`."""
    return Runs(run.sweep("result"), run.sweep("opening"), run.tree("early"), run.provenance["wall_s"])


# ----------------------------------------------------------------------------- the stored runs


def _compute_stored(setting: Setting, data: data_lib.Dataset) -> tuple[dict[str, np.ndarray], float]:
    computed = compute(setting, data, progress=True)
    if computed.opening.from_cache or computed.result.from_cache:
        print(f"note: parts of this run came from the result cache; its wall time ({computed.wall_s:.0f} s) counts "
              f"only what was computed now")
    return stored_arrays(computed, setting.variants(data)), computed.wall_s


#: The chapter's stored runs (:class:`cgnb.engine.runs.Catalog`). ``fashion-60k``: all 60,000 Fashion-MNIST
#: training images (full MNIST needs a download the CI machines cannot make) with the paper's network
#: (784-2048-10), learning rate (0.1) and batch (100), one seed, for 200,000 steps: at the paper's 100,000
#: the noisy runs had not yet fitted their labels. A replay recomputes the first 100 steps of its opening sweep.
CATALOG = runs.Catalog(
    chapter="ch4",
    settings={"fashion-60k": Setting(source="fashion", n_train=60000, width=2048,
                                     noise_levels=(0.0, 0.25, 0.5, 0.75, 1.0), seeds=(0,), steps=200_000,
                                     record_every=500, opening_steps=2000, opening_every=20)},
    compute=_compute_stored, read=from_stored, replay_prefixes=("opening", "variants"), replay_steps=100)


def load_stored(name: str, *, directory=None) -> tuple[Setting, Runs, runs.StoredRun]:
    """The stored run ``name`` (checked against the setting :data:`CATALOG` asks for) as :class:`Runs`."""
    return CATALOG.open(name, directory=directory)


# ----------------------------------------------------------------------------- showing runs side by side


@dataclasses.dataclass
class Shown:
    """One run as the notebook shows and checks it: the profile's own run or a stored run.

    ``name`` is the ledger profile (``quick``/``paper`` or the stored run's name), ``label`` the
    figure title, ``slope_steps`` the first steps over which C4.3's early loss slope is taken,
    ``n_test`` the number of test images.
    """

    name: str
    label: str
    ledger: Any
    setting: Setting
    runs: Runs
    slope_steps: int
    n_test: int

    @property
    def result(self):
        return self.runs.result

    @property
    def early(self) -> dict[str, np.ndarray]:
        return self.runs.early


def stored_label(setting: Setting, run: runs.StoredRun) -> str:
    """Figure title of a stored run: scale, network, steps, seeds, machine and date."""
    seeds = f"{len(setting.seeds)} seed{'s' if len(setting.seeds) > 1 else ''}"
    return run.title(f"{setting.n_train:,} {setting.source} images, 784-{setting.width}-10, {setting.steps:,} steps, {seeds}")
