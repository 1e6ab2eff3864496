"""Winsorized SGD and RM3 (chapter 5): overfit, claim measures, step costs and the Figure-4 grid.

The training itself is :func:`cgnb.engine.sweep.run_sweep` with ``method="winsorized"`` (per-example
gradients clipped per parameter to the (c+1)-th largest and smallest value of the minibatch,
then averaged: :func:`cgnb.engine.transforms.winsorized_mean`), ``"rm3"`` (coordinate-wise median of the
last three minibatch gradients: :func:`cgnb.engine.transforms.rm3`) or ``"sgd"``. This module holds what
chapter 5 computes *from* those runs:

* :func:`overfit` -- the Coherent Gradients paper's overfit
  ``train_acc - (n / 10 + (1 - n) * test_acc)`` (Chatterjee, ICLR 2020, section 3.3);
* :func:`curves` -- one variant's curves and its exact proper accuracy, from a sweep result;
* the claim measures :func:`excess_over_proper`, :func:`chance_agreement` (the training accuracy
  a network that memorizes nothing gets from the corrupt labels) and :func:`memorization_margin`
  (the curve measures it also uses, largest rise, peak drop, first step reaching a level, are
  :mod:`cgnb.engine.curves`); :func:`seed_curves` and :func:`spread` for the seeds of one cell;
* :func:`seeded_grid` -- the variants: all seeds where a claim is checked, one seed elsewhere;
* :func:`update_difference` -- one winsorized ``c = 0`` update against one plain SGD update
  on the same minibatch (claim C5.1), through the engine's own update code;
* :func:`run_winsorized` -- the winsorized sweeps, one per level c with c static (see there why);
* :func:`step_program` / :func:`step_times` -- the engine's jitted step of each method and its cost;
* :func:`plot_grid` / :func:`plot_methods` -- the paper's Figure 4 layout and the RM3 comparison.
"""
from __future__ import annotations

import dataclasses
import functools
import statistics
import time
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..engine import sweep, xla
from ..engine.losses import Params

# ----------------------------------------------------------------------------- measures


def overfit(train_acc: np.ndarray, test_acc: np.ndarray, noise: float | np.ndarray) -> np.ndarray:
    """The paper's overfit ``train_acc - (n / 10 + (1 - n) * test_acc)`` (same shape as the inputs).

    ``n / 10 + (1 - n) * test_acc`` is the training accuracy expected from a model that
    classifies the (1 - n) kept labels as well as it classifies the test set and the n
    randomized ones at chance (1/10); the excess over it is memorization of training
    examples. ``noise`` broadcasts against the accuracies, e.g. shape (V, 1) for (V, R) curves.
    """
    train_acc, test_acc = np.asarray(train_acc, float), np.asarray(test_acc, float)
    noise = np.asarray(noise, float)
    if np.any((noise < 0) | (noise > 1)):
        raise ValueError(f"noise must be a fraction in [0, 1], got {noise}")
    return train_acc - (noise / 10 + (1 - noise) * test_acc)


@dataclasses.dataclass(frozen=True)
class Curves:
    """One variant's curves (each (R,) over ``steps``) and its data.

    Attributes:
      steps: (R,) record steps.
      train_acc, test_acc, pristine_acc, corrupt_acc: (R,) accuracies (training ones on
        the variant's noisy labels).
      overfit: (R,) :func:`overfit`.
      noise: the label-noise fraction n.
      c: the winsorization level (0 for sgd / rm3).
      proper: the exact proper accuracy, the fraction of training labels left unchanged
        (:attr:`cgnb.engine.data.NoisyLabels.proper_accuracy`); the paper's formula
        ``(1 - n) + n / 10`` is its expectation.
    """

    steps: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    pristine_acc: np.ndarray
    corrupt_acc: np.ndarray
    overfit: np.ndarray
    noise: float
    c: int
    proper: float


def curves(result: sweep.SweepResult, noise: float, c: int | None = None, seed: int | None = None) -> Curves:
    """The curves of the single variant of ``result`` with this noise level (and c, seed).

    The exact proper accuracy is the mean of the variant's pristine mask over the training
    evaluation subset, which must be the whole training set (``eval_examples=None``) so that
    it is the data set's proper accuracy.
    """
    index = result.index(noise=noise, c=c, seed=seed)
    if len(index) != 1:
        raise ValueError(f"expected one variant with noise={noise}, c={c}, seed={seed}; found {len(index)} "
                         f"(noise levels {np.unique(result.noise)}, c {np.unique(result.c)}, "
                         f"seeds {np.unique(result.seed)}); pass c= or seed= to choose")
    if result.config.eval_examples is not None:
        raise ValueError("curves() needs training accuracy on the whole training set: run the sweep with "
                         f"eval_examples=None (it has eval_examples={result.config.eval_examples})")
    v = int(index[0])
    train_acc, test_acc = np.asarray(result.train_acc[v], float), np.asarray(result.test_acc[v], float)
    noise = float(result.noise[v])
    return Curves(steps=np.asarray(result.steps), train_acc=train_acc, test_acc=test_acc,
                  pristine_acc=np.asarray(result.pristine_acc[v], float),
                  corrupt_acc=np.asarray(result.corrupt_acc[v], float),
                  overfit=overfit(train_acc, test_acc, noise), noise=noise, c=int(result.c[v]),
                  proper=float(np.mean(result.pristine[v])))


def excess_over_proper(curve: Curves) -> float:
    """Largest excess of the training accuracy over the proper accuracy during training."""
    return float(np.max(curve.train_acc - curve.proper))


def chance_agreement(curve: Curves, num_classes: int = 10) -> np.ndarray:
    """(R,) training accuracy a network that memorizes nothing gets from the corrupt labels by chance.

    Such a network treats a corrupt example like a test example: it is wrong about its true
    class with probability ``1 - test_acc`` (measured at the same record), and a wrong
    prediction lands on the one class the label was moved to with probability about
    ``1 / (num_classes - 1)``. Weighted by the corrupt fraction ``1 - proper``:
    ``(1 - proper) * (1 - test_acc) / (num_classes - 1)``.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return (1.0 - curve.proper) * (1.0 - curve.test_acc) / (num_classes - 1)


def memorization_margin(curve: Curves) -> float:
    """Largest ``train_acc - proper - chance_agreement`` over the records: > 0 means memorization."""
    return float(np.max(curve.train_acc - curve.proper - chance_agreement(curve)))


def seed_curves(result: sweep.SweepResult, noise: float, c: int | None = None) -> list[Curves]:
    """The :class:`Curves` of every seed of ``result`` at this noise level (and c), by seed."""
    index = result.index(noise=noise, c=c)
    if len(index) == 0:
        raise ValueError(f"no variant with noise={noise}, c={c} (noise levels {np.unique(result.noise)}, "
                         f"c {np.unique(result.c)})")
    return [curves(result, noise, c=c, seed=int(s)) for s in sorted(np.unique(result.seed[index]))]


def spread(values: Sequence[float]) -> tuple[float, float]:
    """``(mean, max - min)`` of per-seed values (range 0 for a single seed)."""
    values = np.asarray(values, float)
    if values.ndim != 1 or len(values) < 1:
        raise ValueError(f"spread needs a non-empty 1-D sequence, got shape {values.shape}")
    return float(values.mean()), float(values.max() - values.min())


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


# ----------------------------------------------------------------------------- winsorized sweeps


def run_winsorized(config: sweep.SweepConfig, data, variants: sweep.Variants, **kwargs) -> dict[int, sweep.SweepResult]:
    """Winsorized sweeps of ``variants``, one per distinct level c, each compiled with c static.

    Returns ``{c: SweepResult}`` (the variants with that c, ``config`` with
    ``method="winsorized"``, ``c_max = c`` and ``static_c=True``). The updates are those of
    :func:`cgnb.engine.sweep.run_sweep` with c traced; only the compiled program differs, because
    XLA:CPU runs the traced-c kernel with ``c_max >= 3`` minutes per step (see
    :attr:`cgnb.engine.sweep.SweepConfig.static_c`). ``kwargs`` go to :func:`cgnb.engine.sweep.run_sweep`.
    """
    results = {}
    for c in sorted(int(v) for v in np.unique(variants.c)):
        cfg = dataclasses.replace(config, method="winsorized", c_max=c)
        results[c] = sweep.run_sweep(cfg, data, variants[variants.c == c],
                                     **{"desc": f"winsorized c={c}", **kwargs})
    return results


# ----------------------------------------------------------------------------- one update


@functools.lru_cache(maxsize=16)
def step_program(method: str, lr: float, c_max: int = 0, static: bool = False):
    """The engine's training step for one method, jitted once per configuration.

    Returns ``(init, step)``: ``init(params, c) -> opt_state`` and
    ``step(params, opt_state, x (B, d), y (B,), c) -> (params, opt_state)``, where ``c`` is a
    traced int32 bounded by the static ``c_max`` (as in :func:`cgnb.engine.sweep.run_sweep`). With
    ``static=True`` (winsorized only) the level is the Python int ``c_max`` and the ``c``
    argument is ignored: the program :func:`run_winsorized` trains with. The step is the
    sweep's :func:`cgnb.engine.sweep.method_step` (a :class:`cgnb.engine.trainer.Step`).
    """
    if static and method != "winsorized":
        raise ValueError(f"static=True only applies to method='winsorized', got {method!r}")
    c_max = c_max if method == "winsorized" else 0

    def make(c):
        return sweep.method_step(method, lr, c_max if static else c, c_max)

    def init(params, c):
        return make(c).init(params)

    def step(params, opt_state, x, y, c):
        return make(c)(params, opt_state, x, y)

    return xla.jit(init), xla.jit(step)


def one_update(params: Params, x: jax.Array, y: jax.Array, *, method: str, lr: float, c: int = 0,
               c_max: int = 0) -> Params:
    """Parameters after one step of the engine's update rule from a fresh optimizer state.

    x (B, d), y (B,); ``c`` is traced, ``c_max`` static (see :func:`step_program`).
    """
    init, step = step_program(method, float(lr), int(c_max))
    c = jnp.int32(c)
    return step(params, init(params, c), x, y, c)[0]


def update_difference(params: Params, x: jax.Array, y: jax.Array, *, lr: float, c_max: int) -> dict:
    """One winsorized update at ``c = 0`` against one plain SGD update on the same batch.

    Both go through the engine's step (:func:`one_update`); the winsorized one with ``c`` traced
    and bounded by ``c_max``, as in a sweep. Returns a dict of floats: ``max_abs`` = max
    |difference| of the new parameters, ``max_update`` = max |SGD update|, ``relative`` =
    max_abs / max_update, and ``bitwise`` = 1.0 when the two parameter sets are bit-for-bit
    identical, else 0.0.
    """
    sgd = one_update(params, x, y, method="sgd", lr=lr)
    wins = one_update(params, x, y, method="winsorized", lr=lr, c=0, c_max=c_max)
    leaves = zip(jax.tree_util.tree_leaves(sgd), jax.tree_util.tree_leaves(wins), jax.tree_util.tree_leaves(params))
    max_abs = max_update = 0.0
    bitwise = True
    for s, w, p in leaves:
        s, w, p = np.asarray(s), np.asarray(w), np.asarray(p)
        max_abs = max(max_abs, float(np.max(np.abs(s - w))))
        max_update = max(max_update, float(np.max(np.abs(s - p))))
        bitwise &= bool(np.array_equal(s, w))
    return {"max_abs": max_abs, "max_update": max_update,
            "relative": max_abs / max_update if max_update else float("nan"), "bitwise": float(bitwise)}


# ----------------------------------------------------------------------------- step costs


def step_times(params: Params, x: jax.Array, y: jax.Array, *, lr: float, methods: Mapping[str, dict],
               repeats: int = 20, rounds: int = 3) -> dict[str, float]:
    """Seconds per jitted training step of each method, on one minibatch x (B, d), y (B,).

    ``methods`` maps a label to the step's keyword arguments, e.g.
    ``{"sgd": {"method": "sgd"}, "winsorized": {"method": "winsorized", "c": 4, "static": True}}``
    (``static``: the level c compiled in, as :func:`run_winsorized` trains; otherwise c is
    traced and bounded by ``c_max``).
    Each method runs the compiled step of :func:`step_program` (the same program
    :func:`one_update` uses, so nothing is compiled twice) ``repeats`` times, carrying the
    parameters and the optimizer state from step to step (so RM3 really keeps its last
    gradients); the result is the median over ``rounds`` such runs of the time per step.
    The methods take turns round by round, so a change in the machine's load affects them
    alike. The time includes one Python dispatch per step (microseconds).
    """
    if repeats < 1 or rounds < 1:
        raise ValueError(f"repeats and rounds must be >= 1, got {repeats}, {rounds}")
    programs = {}
    for label, kwargs in methods.items():
        kwargs = dict(kwargs)
        method, c, c_max = kwargs.pop("method"), kwargs.pop("c", 0), kwargs.pop("c_max", 0)
        static = bool(kwargs.pop("static", False))
        if kwargs:
            raise ValueError(f"unknown step arguments for {label!r}: {sorted(kwargs)}; "
                             "use method, c, c_max, static")
        if static:
            c_max = c
        init, step = step_program(method, float(lr), int(c_max), static)
        c = jnp.int32(c)
        state = init(params, c)
        jax.block_until_ready(step(params, state, x, y, c))  # compile and warm up
        programs[label] = (step, state, c)
    seconds: dict[str, list[float]] = {label: [] for label in programs}
    for _ in range(rounds):
        for label, (step, state, c) in programs.items():
            p = params
            start = time.perf_counter()
            for _ in range(repeats):
                p, state = step(p, state, x, y, c)
            jax.block_until_ready(p)
            seconds[label].append((time.perf_counter() - start) / repeats)
    return {label: statistics.median(values) for label, values in seconds.items()}


# ----------------------------------------------------------------------------- figures


def _as_list(cell: Curves | Sequence[Curves]) -> list[Curves]:
    return [cell] if isinstance(cell, Curves) else list(cell)


def _band(ax, steps: np.ndarray, runs: Sequence[np.ndarray], colour, label: str, **kwargs) -> None:
    """Mean line over the runs (each (R,)) and, for several runs, a min-max band."""
    stacked = np.stack(runs)
    ax.plot(steps, stacked.mean(axis=0), color=colour, label=label, **kwargs)
    if len(runs) > 1:
        ax.fill_between(steps, stacked.min(axis=0), stacked.max(axis=0), color=colour, alpha=0.25, linewidth=0)


def plot_grid(grid: Mapping[tuple[int, float], Curves | Sequence[Curves]], cs: Sequence[int],
              noise_levels: Sequence[float], *, title: str | None = None):
    """The paper's Figure 4: rows c, columns noise; training and test accuracy, overfit, proper accuracy.

    ``grid[(c, noise)]`` is that panel's :class:`Curves`, or a list of them (one per seed): the
    lines are then the seed means and the bands span the seeds' minimum to maximum. Returns the figure.
    """
    from ..engine import plots

    fig, axes = plots.grid(len(cs), len(noise_levels), size=(2.9, 2.2), sharex=True, sharey=True)
    for i, c in enumerate(cs):
        for j, noise in enumerate(noise_levels):
            ax, runs = axes[i, j], _as_list(grid[(c, noise)])
            steps = runs[0].steps
            _band(ax, steps, [r.train_acc for r in runs], "C0", "training accuracy (noisy labels)")
            _band(ax, steps, [r.test_acc for r in runs], "C1", "test accuracy")
            _band(ax, steps, [r.overfit for r in runs], "C2", "overfit")
            ax.axhline(float(np.mean([r.proper for r in runs])), color="0.3", linestyle="--", linewidth=1,
                       label="proper accuracy (exact fraction of unchanged labels)")
            ax.set_ylim(-0.05, 1.05)
            if i == 0:
                ax.set_title(f"noise {noise:.0%} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
            if j == 0:
                ax.set_ylabel(f"c = {c}\naccuracy / overfit (fraction)")
            if i == len(cs) - 1:
                ax.set_xlabel("training step")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, bbox_to_anchor=(0.5, 1.0))
    if title:
        fig.suptitle(title, y=1.06)
    return fig


def plot_methods(rows: Mapping[str, Mapping[float, Curves]], noise_levels: Sequence[float], *,
                 title: str | None = None):
    """One column per noise level; rows: training accuracy, test accuracy, overfit; one line per method.

    ``rows[label][noise]`` is the :class:`Curves` of that method at that noise level, or a list
    of them (one per seed: mean line, min-max band). The proper accuracy is drawn dashed in the training-accuracy row. Returns the figure.
    """
    from ..engine import plots

    fig, axes = plots.grid(3, len(noise_levels), size=(2.9, 2.2), sharex=True, sharey="row")
    colours = plots.colors(len(rows), "plasma")
    names = ("training accuracy", "test accuracy", "overfit")
    for j, noise in enumerate(noise_levels):
        for colour, (label, by_noise) in zip(colours, rows.items()):
            runs = _as_list(by_noise[noise])
            for i, name in enumerate(("train_acc", "test_acc", "overfit")):
                _band(axes[i, j], runs[0].steps, [getattr(r, name) for r in runs], colour, label)
        first = _as_list(next(iter(rows.values()))[noise])
        axes[0, j].axhline(float(np.mean([r.proper for r in first])), color="0.3", linestyle="--", linewidth=1,
                           label="proper accuracy")
        axes[0, j].set_title(f"noise {noise:.0%}")
        axes[-1, j].set_xlabel("training step")
    for i, name in enumerate(names):
        axes[i, 0].set_ylabel(f"{name}\n(fraction)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, 1.0))
    if title:
        fig.suptitle(title, y=1.08)
    return fig


def plot_memorization(grid: Mapping[tuple[int, float], Curves], cs: Sequence[int], noise_levels: Sequence[float],
                      extra: Mapping[str, Mapping[float, Curves]] | None = None):
    """Fraction of corrupt examples classified as their (wrong) training label, against step.

    One panel per noise level > 0, one line per winsorization level c (``grid[(c, noise)]``)
    and per entry of ``extra`` (``extra[label][noise]``, dashed); a cell may hold one
    :class:`Curves` or a list (one per seed: mean line, min-max band). Returns the figure.
    """
    from ..engine import plots

    noisy = [n for n in noise_levels if n > 0]
    fig, axes = plots.grid(1, len(noisy), size=(2.9, 2.4), sharey=True)
    colours = plots.colors(len(cs))
    for ax, noise in zip(axes[0], noisy):
        for colour, c in zip(colours, cs):
            runs = _as_list(grid[(c, noise)])
            _band(ax, runs[0].steps, [r.corrupt_acc for r in runs], colour, f"c = {c}")
        for k, (label, by_noise) in enumerate((extra or {}).items()):
            runs = _as_list(by_noise[noise])
            _band(ax, runs[0].steps, [r.corrupt_acc for r in runs], f"C{3 + k}", label, linestyle="--")
        ax.set_ylim(-0.03, 1.03)
        plots.label(ax, "training step", "corrupt labels fitted (fraction)" if noise == noisy[0] else "",
                    f"noise {noise:.0%}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, 1.0))
    return fig
