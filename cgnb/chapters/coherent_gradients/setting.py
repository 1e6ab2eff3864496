"""Chapter 4's runs: one setting's label-noise sweeps, computed or read back from a stored run.

A :class:`Setting` is what the chapter's ``parameters`` cell sets. :func:`compute` trains its sweeps
(:func:`cgnb.engine.sweep.run_sweep`: a long sweep and a finely recorded opening of the same runs,
joined by :func:`combine`) and the per-example contributions over the first steps
(:func:`cgnb.chapters.coherent_gradients.contributions.condense`). :func:`stored_arrays` and
:func:`from_stored` turn :class:`Computed` into the arrays of a stored run (:mod:`cgnb.engine.runs`)
and back, so the notebook plots and checks a stored run with the same code as the run it computes
itself; :data:`CATALOG` lists the chapter's stored runs; :func:`paper_programs` builds the paper
profile's programs for the memory check.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 2.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import data as data_lib
from ...engine import nets, runs, sweep
from . import contributions

@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting of the chapter (the notebook's parameters).

    ``source``/``n_train``: the data (:func:`cgnb.engine.data.load_mnist`, first ``n_train``
    training images); ``width``: hidden units of the MLP 784-width-10; ``n_null``: null worlds
    recorded inside the sweep; ``contributions``: record each statistics example's ``<g, g_i>``
    (the sweep statistic ``"contributions"``), from which any number of null worlds follow
    (:func:`cgnb.chapters.coherent_gradients.measures.null_alpha_gaps`); the rest as named in the
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
    n_null: int = 0
    contribution_steps: int = 10
    early_examples: int | None = None
    null_worlds: int = 1000
    contributions: bool = True

    def __post_init__(self):
        object.__setattr__(self, "noise_levels", tuple(float(n) for n in self.noise_levels))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))

    def config(self) -> sweep.SweepConfig:
        """The long sweep's configuration."""
        stats = ("alphas", "coherence") + (("contributions",) if self.contributions else ())
        return sweep.SweepConfig(sizes=(784, self.width, 10), steps=self.steps, batch_size=100, lr=0.1,
                                 record_every=self.record_every, stats=stats,
                                 stats_examples=self.stats_examples, n_null=self.n_null, keep_params=False)

    def opening_config(self) -> sweep.SweepConfig:
        """The opening sweep: the same runs' first ``opening_steps`` steps, recorded every ``opening_every``."""
        return dataclasses.replace(self.config(), steps=self.opening_steps, record_every=self.opening_every,
                                   chunk_steps=None)

    def load_data(self) -> data_lib.Dataset:
        """The first ``n_train`` training images of ``source`` and all its test images."""
        return data_lib.subset(data_lib.load_mnist(self.source), self.n_train)

    def variants(self, data: data_lib.Dataset) -> sweep.Variants:
        """Every noise level x seed (:meth:`cgnb.engine.sweep.Variants.noise_grid`)."""
        return sweep.Variants.noise_grid(jax.random.PRNGKey(0), data.y_train, self.noise_levels, seeds=self.seeds)

    def as_dict(self) -> dict[str, Any]:
        """The fields, JSON-like (a stored run's config)."""
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """The setting's scale in words, e.g. ``60,000 fashion images, 784-2048-10, 200,000 steps, 1 seed``."""
        seeds = f"{len(self.seeds)} seed{'s' if len(self.seeds) > 1 else ''}"
        return f"{self.n_train:,} {self.source} images, 784-{self.width}-10, {self.steps:,} steps, {seeds}"


@dataclasses.dataclass
class Computed:
    """A setting's results: ``result`` (opening and long sweep joined), ``early`` (the condensed
    contributions of the first steps) and the ``opening`` sweep alone (what a replay recomputes)."""

    result: Any
    opening: Any
    early: dict[str, np.ndarray]
    wall_s: float = float("nan")

    @property
    def from_cache(self) -> bool:
        """Whether (parts of) the sweeps came from the result cache."""
        return bool(self.opening.from_cache or self.result.from_cache)


#: Null worlds whose curves the figures draw (all of them enter the claims).
DRAWN_NULLS = 3


def compute(setting: Setting, data: data_lib.Dataset | None = None, *, progress: bool | None = None) -> Computed:
    """Train the setting's sweeps (cached and resumable) and condense its first steps' contributions.

    Args:
      setting: what to run; data: its data set (default ``setting.load_data()``);
      progress: show progress bars (None: the engine's default).

    Returns:
      The setting's :class:`Computed`, with the seconds it took.
    """
    start = time.perf_counter()
    data = setting.load_data() if data is None else data
    variants = setting.variants(data)
    late = sweep.run_sweep(setting.config(), data, variants, progress=progress, desc="long sweep")
    opening = sweep.run_sweep(setting.opening_config(), data, variants, progress=progress, desc="opening")
    early = contributions.cached_early_contributions(setting.config(), data, variants, setting.contribution_steps,
                                                     examples=setting.early_examples)
    condensed = contributions.condense(early, setting.null_worlds, min(DRAWN_NULLS, setting.null_worlds))
    return Computed(combine(opening, late), opening, condensed, time.perf_counter() - start)


def stored_arrays(computed: Computed, setting: Setting, data: data_lib.Dataset) -> dict[str, np.ndarray]:
    """The arrays of a stored run: the joined sweep, the opening sweep, its variants and the condensed contributions."""
    arrays = {**runs.sweep_arrays("result", computed.result), **runs.sweep_arrays("opening", computed.opening),
              **runs.variants_arrays("variants", setting.variants(data))}
    arrays.update({f"early/{k}": v for k, v in computed.early.items()})
    return arrays


def from_stored(run: runs.StoredRun) -> Computed:
    """The :class:`Computed` of a stored run written with :func:`stored_arrays`."""
    return Computed(run.sweep("result"), run.sweep("opening"), run.tree("early"), run.provenance["wall_s"])


def replay_early(run: runs.StoredRun, setting: Setting, data: data_lib.Dataset
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The first step of a stored run's early contributions (``early/``), recomputed now without the cache.

    :func:`contributions.early_contributions` over one step of the stored variants gives the
    coherence of step 0 (V, 1) and, per variant, the mean contribution of a pristine and of a
    corrupt example after one step (V, 2): the real designation's first point of Figure 3's curves.
    Returns ``{name: (stored, recomputed)}``.
    """
    early = contributions.early_contributions(setting.config(), data, run.variants("variants"), 1,
                                              examples=setting.early_examples)
    first = contributions.group_curves(early["decrease"], np.asarray(early["pristine"], bool))
    stored = run.tree("early")
    return {"early/coherence, step 0": (np.asarray(stored["coherence"])[:, :1], early["coherence"]),
            "early/curves, real designation after step 1": (
                np.asarray(stored["curves"])[:, 0, :, 1],
                np.stack([first["pristine"][:, 1], first["corrupt"][:, 1]], axis=1))}


# ----------------------------------------------------------------------------- the stored runs

MNIST_TEST = 10_000  # test images of MNIST and Fashion-MNIST


#: The chapter's stored runs (:class:`cgnb.engine.runs.Catalog`). ``fashion-60k``: all 60,000 Fashion-MNIST
#: training images (full MNIST needs a download the CI machines cannot make) with the paper's network
#: (784-2048-10), learning rate (0.1) and batch (100), one seed, for 200,000 steps (twice the paper's, so
#: that the noisy runs can fit their labels; the chapter shows where they stood at 100,000), with three
#: null worlds recorded in the sweep (it predates the recorded contributions). A replay recomputes the
#: first 100 steps of its opening sweep.
CATALOG = runs.Catalog(
    chapter="coherent_gradients",
    settings={"fashion-60k": Setting(source="fashion", n_train=60000, width=2048,
                                     noise_levels=(0.0, 0.25, 0.5, 0.75, 1.0), seeds=(0,), steps=200_000,
                                     record_every=500, opening_steps=2000, opening_every=20, n_null=3,
                                     contributions=False)},
    compute=compute, arrays=stored_arrays, read=from_stored, replay_prefixes=("opening", "variants"),
    replay_steps=100, replay_summaries=replay_early)


# ----------------------------------------------------------------------------- showing runs side by side


@dataclasses.dataclass
class Shown(runs.Shown):
    """One run as the notebook shows and checks it (:class:`cgnb.engine.runs.Shown`, ``results`` a
    :class:`Computed`), with ``slope_steps``, the first steps over which C4.3's early loss slope is
    taken, and ``n_test``, the number of test images."""

    slope_steps: int
    n_test: int

    @property
    def short(self) -> str:
        """A column title: ``this run (quick)`` or ``stored run (fashion-60k)``."""
        return ("this run" if self.name in ("quick", "paper") else "stored run") + f" ({self.name})"

    @property
    def result(self):
        return self.results.result

    @property
    def early(self) -> dict[str, np.ndarray]:
        return self.results.early


#: The notebook's ``parameters`` cell, by name: the fields of :class:`Setting` it sets, then what the chapter's
#: checks take (``slope_steps``: C4.3's early slope window) and the stored run it shows beside its own.
PARAMETERS = ("source", "n_train", "width", "noise_levels", "seeds", "steps", "record_every", "opening_steps",
              "opening_every", "stats_examples", "contribution_steps", "early_examples", "null_worlds",
              "slope_steps", "stored_run", "stored_slope_steps")


def mlp_parameters(width: int) -> int:
    """Parameters of the MLP 784-width-10 (weights and biases)."""
    return 784 * width + width + width * 10 + 10


def scale_table(own: Setting) -> str:
    """A Markdown table of this setting's scale beside the paper's (MNIST, 784-2048-10, 100,000 steps of 100):
    data, network, parameters, parameters per training example, steps and epochs."""
    paper = Setting(source="MNIST", n_train=60000, width=2048, noise_levels=(), seeds=(0,), steps=100_000,
                    record_every=500, opening_steps=0, opening_every=1)
    rows = [("data", *(f"{s.n_train:,} {s.source} images" for s in (own, paper)))]
    rows.append(("network", *(f"784-{s.width}-10" for s in (own, paper))))
    rows.append(("parameters", *(f"{mlp_parameters(s.width):,}" for s in (own, paper))))
    rows.append(("parameters per example", *(f"{mlp_parameters(s.width) / s.n_train:.1f}" for s in (own, paper))))
    rows.append(("SGD steps of 100", *(f"{s.steps:,}" for s in (own, paper))))
    rows.append(("epochs", *(f"{s.steps * 100 / s.n_train:.0f}" for s in (own, paper))))
    lines = ["| | this run | the paper |", "|---|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters cell's values from a namespace (the notebook's ``globals()``), by :data:`PARAMETERS`.

    Raises:
      KeyError: a parameter is missing (the message names it).
    """
    missing = [k for k in PARAMETERS if k not in namespace]
    if missing:
        raise KeyError(f"the parameters cell must define {missing}")
    return {k: namespace[k] for k in PARAMETERS}


def from_parameters(values: Mapping[str, Any]) -> Setting:
    """The :class:`Setting` of the parameters cell (its other fields at their defaults)."""
    names = [f.name for f in dataclasses.fields(Setting)]
    return Setting(**{k: v for k, v in values.items() if k in names})


def run_now(own: Setting, ledger, slope_steps: int, data: data_lib.Dataset | None = None) -> Shown:
    """This profile's run of ``own``, computed (or read from the result cache), as the notebook shows it."""
    data = own.load_data() if data is None else data
    return Shown(ledger.profile, own.describe(), ledger, own, compute(own, data, progress=False), slope_steps,
                 len(data.y_test))


def open_stored(name: str, ledger, slope_steps: int) -> tuple[Shown, runs.StoredRun]:
    """The stored run ``name`` of :data:`CATALOG` (its config checked), as the notebook shows it, and the run."""
    stored_setting, results, run = CATALOG.open(name)
    return Shown(name, CATALOG.title(run), ledger, stored_setting, results, slope_steps, MNIST_TEST), run


# ----------------------------------------------------------------------------- joining the opening to the long sweep


#: SweepConfig fields that may differ between the two sweeps :func:`combine` joins (the rest fix the trajectory).
_RECORDING_FIELDS = ("steps", "record_every", "chunk_steps")


def combine(early, late, atol: float = 0.02):
    """Join a short sweep of the first steps, recorded often, to the long sweep of the same runs.

    ``early`` and ``late`` are :class:`cgnb.engine.sweep.SweepResult` of the same variants and
    configuration except the recording (steps, ``record_every``, ``chunk_steps``): they train
    the same trajectory (same initial parameters and minibatches). The result keeps every record
    of ``early`` and the records of ``late`` after ``early``'s last step; ``first_learned`` takes
    ``early``'s finer value where an example was learned within the early steps. Its config is
    ``late``'s (so ``record_every`` is no longer the spacing of ``steps``).

    Raises:
      ValueError: the sweeps differ in anything but their recording, ``early`` is not shorter,
        or the training accuracies of the records both hold differ by more than ``atol``
        (the two runs are not the same trajectory).
    """
    a = {k: v for k, v in dataclasses.asdict(early.config).items() if k not in _RECORDING_FIELDS}
    b = {k: v for k, v in dataclasses.asdict(late.config).items() if k not in _RECORDING_FIELDS}
    if a != b:
        diff = sorted(k for k in a if a[k] != b[k])
        raise ValueError(f"combine needs sweeps of one configuration; they differ in {diff}")
    for name in ("noise", "seed", "c", "pristine"):
        if not np.array_equal(np.asarray(getattr(early, name)), np.asarray(getattr(late, name))):
            raise ValueError(f"combine needs the same variants; their {name} differ")
    if early.steps[-1] >= late.steps[-1]:
        raise ValueError(f"the early sweep ({early.steps[-1]} steps) must be shorter than the late one "
                         f"({late.steps[-1]})")
    shared = np.intersect1d(early.steps, late.steps)
    ie, il = np.searchsorted(early.steps, shared), np.searchsorted(late.steps, shared)
    drift = np.max(np.abs(early.records["train_acc"][:, ie] - late.records["train_acc"][:, il]))
    if drift > atol:
        raise ValueError(f"the sweeps' training accuracies differ by {drift:.3g} > {atol} at their shared "
                         f"steps {shared.tolist()}: not the same trajectory")
    keep = late.steps > early.steps[-1]
    records = {k: np.concatenate([early.records[k], np.asarray(late.records[k])[:, keep]], axis=1)
               for k in late.records}
    first = np.where(early.first_learned >= 0, early.first_learned, late.first_learned)
    return dataclasses.replace(late, steps=np.concatenate([early.steps, late.steps[keep]]), records=records,
                               first_learned=first, from_cache=early.from_cache and late.from_cache)


# ----------------------------------------------------------------------------- the paper profile's programs


def paper_programs(parameters: Mapping[str, Any], *, sweep_chunk: Callable) -> list[tuple]:
    """The paper profile's programs for the memory check: both sweeps' chunk programs and Figure 3's replay.

    Args:
      parameters: the notebook's ``parameters`` cell under the paper profile (every :class:`Setting` field).
      sweep_chunk: ``sweep_chunk(config, num_variants, n_train, n_test) -> (function, abstract args)``,
        the sweep's chunk program for abstract inputs.

    Returns:
      ``[(label, function, abstract args, abstract kwargs)]``: the long and the opening sweep's chunk,
      then :func:`cgnb.chapters.coherent_gradients.contributions.replay_program` for all variants.
    """
    own = Setting(**{field.name: parameters[field.name] for field in dataclasses.fields(Setting)
                     if field.name in parameters or field.default is dataclasses.MISSING})
    v, n = len(own.noise_levels) * len(own.seeds), own.n_train
    out = []
    for label, config in (("late", own.config()), ("opening", own.opening_config())):
        fn, args = sweep_chunk(config, v, n, MNIST_TEST)
        out.append((f"sweep chunk ({label}): {v} variants x {config.chunk} steps", fn, args, {}))
    config, steps, m = own.config(), own.contribution_steps, own.early_examples or n

    def replay(params, x, labels, indices):
        return contributions.replay_program(config, x, steps, m)(params, labels, indices)

    one = jax.eval_shape(lambda: nets.init(jax.random.PRNGKey(0), config.sizes))
    params = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct((v,) + a.shape, a.dtype), one)
    args = (params, jax.ShapeDtypeStruct((n, config.sizes[0]), jnp.float32), jax.ShapeDtypeStruct((v, n), jnp.int32),
            jax.ShapeDtypeStruct((v, steps, config.batch_size), jnp.int32))
    out.append((f"early contributions (Figure 3): {v} variants x {steps} steps x {m} examples", replay, args, {}))
    return out
