"""Chapter 4's figures: each draws the runs it is given side by side (this run, then a stored run), with
shared axes (:func:`cgnb.engine.plots.paired`) and one legend below the panels.

A *run* here is anything with ``short`` (its column title), ``result`` (a label-noise sweep),
``early`` (:func:`cgnb.chapters.coherent_gradients.contributions.condense`) and ``setting`` (its
``null_worlds``): :class:`cgnb.chapters.coherent_gradients.setting.Shown`. Several seeds are drawn as
their mean with a min-max band; a single seed's noisy statistics as a running mean over the faint raw
curve.

Figures: :func:`plot_training` and :func:`plot_loss_learned` (the paper's Figure 1), :func:`plot_alpha_gaps`
(Figure 2 against the null worlds), :func:`plot_norm_ratio`, :func:`plot_contributions` (Figure 3),
:func:`plot_contribution_null`, :func:`plot_coherence` and :func:`plot_m_coherence`.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, Figures 1-3.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

from ...engine import plots
from . import measures
from .claims import FITTED

NOISE_LABEL = "{:.0%} noise"
GROUPS = {"pristine": dict(color=plots.PALETTE[0], linestyle="-"),
          "corrupt": dict(color=plots.PALETTE[1], linestyle="--")}
NULL_COLOR = "#8c8c8c"
PANEL = (3.6, 2.3)


#: The paper's noise levels' colours: black and four of Okabe and Ito's hues, told apart at a glance and the same
#: in every figure.
LEVEL_COLORS = {0.0: "#000000", 0.25: "#0072B2", 0.5: "#009E73", 0.75: "#D55E00", 1.0: "#CC79A7"}


def noise_colors(levels: Sequence[float]) -> dict[float, object]:
    """One colour per noise level: :data:`LEVEL_COLORS` for the paper's levels, else ordered ones
    (:func:`cgnb.engine.plots.colors`)."""
    if all(round(float(n), 6) in LEVEL_COLORS for n in levels):
        return {n: LEVEL_COLORS[round(float(n), 6)] for n in levels}
    return dict(zip(levels, plots.colors(len(levels))))


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running mean of a curve (R,) over up to ``window`` records; record r averages at most r // 2
    records on each side, so the first records (and the start of the run) are not smeared."""
    values = np.asarray(values, float)
    r = np.arange(len(values))
    half = np.minimum(max(0, window // 2), np.minimum(r // 2, (len(values) - 1 - r)))
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    return (cumulative[r + half + 1] - cumulative[r - half]) / (2 * half + 1)


def log_y(ax) -> None:
    """A logarithmic y axis (labelled by :func:`label_logs` once the data are drawn)."""
    ax.set_yscale("log")


def label_logs(axes) -> None:
    """Label each logarithmic y axis in plain numbers at 1 and 3 times its decades (decades only when it spans
    more than two and a half), without minor labels, which would print over each other."""
    for ax in np.ravel(axes):
        if ax.get_yscale() != "log":
            continue
        low, high = ax.get_ylim()
        subs = (1.0, 3.0) if np.log10(high / low) <= 2.5 else (1.0,)
        ax.yaxis.set_major_locator(LogLocator(10, subs=subs))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def curve(ax, steps: np.ndarray, ys: np.ndarray, label: str | None = None, *, smooth: bool = False, **kw):
    """Seeds (S, R) as their mean with a min-max band; one seed as it is, or with ``smooth`` as a running mean
    (over a fortieth of its records) drawn over the faint raw curve."""
    ys = np.atleast_2d(np.asarray(ys, float))
    if len(ys) > 1 or not smooth:
        return plots.band(ax, steps, ys, label, **kw)
    ax.plot(steps, ys[0], color=kw.get("color"), alpha=0.25, linewidth=0.8)
    return ax.plot(steps, running_mean(ys[0], max(3, len(steps) // 40)), label=label, **kw)[0]


def step_axis(ax, steps: np.ndarray) -> None:
    """The step axis: linear up to the first record after 0, logarithmic beyond (symlog), ticks at 0 and at the
    decades past the linear part, so that no two labels meet."""
    steps = np.asarray(steps)
    if len(steps) < 3:
        return
    first = float(steps[1])
    ax.set_xscale("symlog", linthresh=first, linscale=0.5)
    ax.set_xlim(0, steps[-1])
    decades = [10.0 ** k for k in range(int(np.ceil(np.log10(first * 10))), int(np.log10(steps[-1])) + 1)]
    ax.xaxis.set_major_locator(FixedLocator([0.0, *decades]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: "0" if x == 0 else f"$10^{{{int(round(np.log10(x)))}}}$"))
    ax.xaxis.set_minor_locator(NullLocator())


def paired(runs: Sequence, rows: int, *, sharey="row", size=PANEL):
    """The figure and its axes (rows, runs): one column per run, titled with its ``short``, step axes set."""
    fig, axes = plots.paired([run.short for run in runs], size=size, rows=rows, sharey=sharey)
    return fig, axes


def finish(fig, axes, runs: Sequence, ylabels: Sequence[str], *, xlabel: str = "training step",
           handles=None, labels=None, steps: bool = True) -> plt.Figure:
    """Step axes, the row labels on the left, the x label on the bottom row, one legend below the panels."""
    for j, run in enumerate(runs):
        for i in range(axes.shape[0]):
            if steps:
                step_axis(axes[i, j], run.result.steps)
        axes[-1, j].set_xlabel(xlabel)
    for i, text in enumerate(ylabels):
        axes[i, 0].set_ylabel(text)
    label_logs(axes)
    if handles is not None:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4))
    return fig


def noise_handles(levels: Sequence[float]) -> tuple[list, list]:
    color = noise_colors(levels)
    return [Line2D([], [], color=color[n]) for n in levels], [NOISE_LABEL.format(n) for n in levels]


# ----------------------------------------------------------------------------- Figure 1 of the paper


def plot_training(runs: Sequence, levels: Sequence[float]) -> plt.Figure:
    """Training accuracy (on the noisy labels) and test accuracy against step, per noise level."""
    color = noise_colors(levels)
    fig, axes = paired(runs, 2)
    for j, run in enumerate(runs):
        for i, name in enumerate(("train_acc", "test_acc")):
            for n in levels:
                curve(axes[i, j], run.result.steps, measures.by_noise(run.result, name, n), smooth=True,
                      color=color[n])
            axes[i, j].axhline(0.1, color=NULL_COLOR, linewidth=0.8, linestyle=":")
    handles, labels = noise_handles(levels)
    handles.append(Line2D([], [], color=NULL_COLOR, linewidth=0.8, linestyle=":"))
    return finish(fig, axes, runs, ["training accuracy", "test accuracy"], handles=handles,
                  labels=labels + ["chance"])


def plot_loss_learned(runs: Sequence, levels: Sequence[float]) -> plt.Figure:
    """Training loss (log scale) and the fraction of pristine (solid) and corrupt (dashed) examples learned."""
    color = noise_colors(levels)
    fig, axes = paired(runs, 2)
    for j, run in enumerate(runs):
        result = run.result
        for n in levels:
            curve(axes[0, j], result.steps, measures.by_noise(result, "train_loss", n), smooth=True, color=color[n])
            index = result.index(noise=n)
            for group, mask in (("pristine", result.pristine[index]), ("corrupt", ~result.pristine[index])):
                fraction = measures.learned_fraction(result.first_learned[index], mask, result.steps)
                if not np.isnan(fraction).all():
                    curve(axes[1, j], result.steps, fraction, color=color[n], linestyle=GROUPS[group]["linestyle"])
        log_y(axes[0, j])
    handles, labels = noise_handles(levels)
    handles += [Line2D([], [], color="k", linestyle=GROUPS[g]["linestyle"]) for g in GROUPS]
    return finish(fig, axes, runs, ["training loss (nats)", "fraction learned"], handles=handles,
                  labels=labels + ["pristine", "corrupt"])


# ----------------------------------------------------------------------------- Figure 2 of the paper, C4.5


def plot_alpha_gaps(runs: Sequence, levels: Sequence[float]) -> plt.Figure:
    """``alpha_p - alpha_c`` against step per noise level (rows): the real designation against the null
    worlds (grey: 5-95 % of them, or their range when there are few), with the window where the paper places
    the crossover shaded (from the pristine examples fitted to the corrupt ones, the median over seeds)."""
    fig, axes = paired(runs, len(levels), sharey=True)
    for j, run in enumerate(runs):
        result = run.result
        for i, n in enumerate(levels):
            ax = axes[i, j]
            nulls = measures.null_alpha_gaps(result, n, run.setting.null_worlds)  # (S, R, K)
            pooled = np.moveaxis(nulls, 1, -1).reshape(-1, len(result.steps))
            low, high = (np.percentile(pooled, [5, 95], axis=0) if len(pooled) >= 20
                         else (pooled.min(0), pooled.max(0)))
            ax.fill_between(result.steps, low, high, color=NULL_COLOR, alpha=0.35, linewidth=0)
            gap = measures.by_noise(result, "alpha_p", n) - measures.by_noise(result, "alpha_c", n)
            curve(ax, result.steps, gap, smooth=True, color=plots.PALETTE[0])
            start, end = measures.fitted_window(result, n, FITTED)
            if np.isfinite(start).any():
                a, b = np.nanmedian(start), np.nanmedian(end)
                ax.axvspan(result.steps[int(a)], result.steps[int(b)], color=plots.PALETTE[2], alpha=0.12, linewidth=0)
            ax.axhline(0, color="k", linewidth=0.8)
            ax.set_ylim(-1.05, 1.05)
    handles = [Line2D([], [], color=plots.PALETTE[0]), Patch(color=NULL_COLOR, alpha=0.35),
               Patch(color=plots.PALETTE[2], alpha=0.12)]
    return finish(fig, axes, runs, [rf"{NOISE_LABEL.format(n)}: $\alpha_p-\alpha_c$" for n in levels],
                  handles=handles, labels=["real designation", "null worlds", "window (fitted)"])


def plot_norm_ratio(runs: Sequence, levels: Sequence[float]) -> plt.Figure:
    """``|g_p| / |g_c|`` against step (log scale): ``alpha_p < alpha_c`` exactly when it is below 1
    (``<g, g_p> - <g, g_c> = |g_p|^2 - |g_c|^2``); dotted: each seed's first record with the pristine examples fitted."""
    color = noise_colors(levels)
    fig, axes = paired(runs, 1, sharey=True)
    for j, run in enumerate(runs):
        result, ax = run.result, axes[0, j]
        for n in levels:
            ratio = measures.by_noise(result, "norm_p", n) / measures.by_noise(result, "norm_c", n)
            curve(ax, result.steps, ratio, smooth=True, color=color[n])
            start, _ = measures.fitted_window(result, n, FITTED)
            for a in start[np.isfinite(start)]:
                ax.axvline(result.steps[int(a)], color=color[n], linestyle=":", linewidth=1)
        ax.axhline(1.0, color="k", linewidth=0.8)
        log_y(ax)
    handles, labels = noise_handles(levels)
    return finish(fig, axes, runs, [r"$|g_p|\,/\,|g_c|$"], handles=handles, labels=labels)


# ----------------------------------------------------------------------------- Figure 3 of the paper, C4.6


def plot_contributions(runs: Sequence, levels: Sequence[float]) -> plt.Figure:
    """The mean cumulative loss decrease per pristine (solid) and corrupt (dashed) example over the first steps,
    per noise level (rows); grey: the same in the null worlds drawn (the designation permuted)."""
    fig, axes = paired(runs, len(levels), sharey="row", size=(3.6, 2.0))
    for j, run in enumerate(runs):
        curves = np.asarray(run.early["curves"])  # (V, 1 + drawn, 2, T + 1)
        steps = np.arange(curves.shape[-1])
        for i, n in enumerate(levels):
            index = np.flatnonzero(np.isclose(run.early["noise"], n))
            for k in range(1, curves.shape[1]):
                for g, group in enumerate(GROUPS):
                    axes[i, j].plot(steps, curves[index, k, g].mean(0), color=NULL_COLOR, linewidth=0.8,
                                    linestyle=GROUPS[group]["linestyle"])
            for g, group in enumerate(GROUPS):
                curve(axes[i, j], steps, curves[index, 0, g], **GROUPS[group])
    handles = [Line2D([], [], **GROUPS[g]) for g in GROUPS] + [Line2D([], [], color=NULL_COLOR, linewidth=0.8)]
    return finish(fig, axes, runs, [f"{NOISE_LABEL.format(n)}:\nnats per example" for n in levels],
                  xlabel="training steps taken", handles=handles, labels=["pristine", "corrupt", "null worlds"],
                  steps=False)


def standardized_gaps(early: dict, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """The real pristine-minus-corrupt gaps (S,) and the null worlds' (S, K), each in units of its seed's null
    spread (minus the null mean, over the null standard deviation)."""
    index = np.flatnonzero(np.isclose(np.asarray(early["noise"], float), noise))
    gap, null = np.asarray(early["gap"])[index], np.asarray(early["null_gap"])[index]
    mean, sd = null.mean(axis=1, keepdims=True), null.std(axis=1, keepdims=True)
    return (gap - mean[:, 0]) / sd[:, 0], (null - mean) / sd


def plot_contribution_null(runs: Sequence, noise: float) -> plt.Figure:
    """The null worlds' gaps (histogram) and each seed's real gap (lines) at one noise level, in units of the null
    worlds' standard deviation, so that runs of different scales share an axis."""
    fig, axes = paired(runs, 1, sharey=True)
    reals = [standardized_gaps(run.early, noise)[0] for run in runs]
    right = max(4.0, 1.1 * max(float(np.max(r)) for r in reals))
    for j, run in enumerate(runs):
        real, null = standardized_gaps(run.early, noise)
        axes[0, j].hist(null.ravel(), bins=np.linspace(-4, right, 60), density=True, color=NULL_COLOR, alpha=0.7)
        for g in real:
            axes[0, j].axvline(g, color=plots.PALETTE[0], linewidth=1.5)
        axes[0, j].set_xlim(-4, right)
    handles = [Patch(color=NULL_COLOR, alpha=0.7), Line2D([], [], color=plots.PALETTE[0], linewidth=1.5)]
    return finish(fig, axes, runs, ["density"], xlabel="gap (null-world s.d.)", handles=handles,
                  labels=["null worlds", "real designation, per seed"], steps=False)


# ----------------------------------------------------------------------------- beyond the paper


def plot_coherence(runs: Sequence, levels: Sequence[float]) -> plt.Figure:
    """Coherence ``|E g_i|^2 / E |g_i|^2`` per noise level: the first steps on the whole training set (top, every
    step) and the whole run on the statistics sample (bottom; dotted: ``1/M`` for its M examples)."""
    color = noise_colors(levels)
    fig, axes = paired(runs, 2, sharey="row")
    for j, run in enumerate(runs):
        early, result = run.early, run.result
        first_steps = np.arange(np.asarray(early["coherence"]).shape[1])
        for n in levels:
            index = np.flatnonzero(np.isclose(early["noise"], n))
            curve(axes[0, j], first_steps, np.asarray(early["coherence"])[index], color=color[n])
            curve(axes[1, j], result.steps, measures.by_noise(result, "coherence", n), smooth=True, color=color[n])
        axes[1, j].axhline(1 / result.config.stats_examples, color=NULL_COLOR, linestyle=":", linewidth=1)
        log_y(axes[0, j])
        log_y(axes[1, j])
        step_axis(axes[1, j], result.steps)
        axes[0, j].set_xlabel("training step (first steps)")
        axes[1, j].set_xlabel("training step")
    handles, labels = noise_handles(levels)
    handles.append(Line2D([], [], color=NULL_COLOR, linestyle=":", linewidth=1))
    axes[0, 0].set_ylabel("coherence,\nwhole training set")
    axes[1, 0].set_ylabel("coherence,\nstatistics sample")
    label_logs(axes)
    fig.legend(handles, labels + ["1/M (sample)"], loc="outside lower center", ncols=min(4, len(labels) + 1))
    return fig


def plot_m_coherence(runs: Sequence, levels: Sequence[float]) -> plt.Figure:
    """Chatterjee and Zielinski's m-coherence ``m * alpha`` on the m-example statistics sample (log scale); the
    line at 1 is the orthogonal floor."""
    color = noise_colors(levels)
    fig, axes = paired(runs, 1, sharey=True)
    for j, run in enumerate(runs):
        for n in levels:
            curve(axes[0, j], run.result.steps, measures.m_coherence(run.result, n), smooth=True, color=color[n])
        axes[0, j].axhline(1.0, color="k", linewidth=0.8)
        log_y(axes[0, j])
    handles, labels = noise_handles(levels)
    return finish(fig, axes, runs, [r"m-coherence $m\,\alpha$"], handles=handles, labels=labels)
