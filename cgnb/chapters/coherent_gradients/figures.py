"""Chapter 4's figures, drawn from label-noise sweeps and the replayed early steps.

:func:`plot_training` (the paper's Figure 1 in one row), :func:`plot_alphas` (Figure 2:
alpha_p and alpha_c, real and null worlds), :func:`plot_norm_ratio`, :func:`plot_contributions`
(Figure 3), :func:`plot_gap_null` and :func:`plot_coherence`. Each returns its figure; the
measures they draw are those of :mod:`cgnb.chapters.coherent_gradients.measures`.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, Figures 1-3.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ...engine import plots
from .measures import by_noise, learned_fraction, m_coherence, noise_levels, pristine_share

NOISE_LABEL = "label noise {:.0%}"
GROUP_STYLE = {"pristine": dict(color="tab:blue", linestyle="-"), "corrupt": dict(color="tab:red", linestyle="--")}


def _noise_colors(levels: Sequence[float]) -> dict[float, object]:
    return dict(zip(levels, plots.colors(len(levels), "plasma")))


def log_steps(ax, steps: np.ndarray) -> None:
    """A step axis linear up to the first record after 0 and logarithmic beyond (symlog), when the
    records are spaced unevenly (a :func:`cgnb.chapters.coherent_gradients.setting.combine`-d sweep)."""
    steps = np.asarray(steps)
    if len(steps) > 2 and len(set(np.diff(steps).tolist())) > 1:
        ax.set_xscale("symlog", linthresh=float(steps[1]), linscale=0.3)
        ax.set_xlim(steps[0], steps[-1])


def plot_training(result, levels: Sequence[float] | None = None) -> plt.Figure:
    """The paper's Figure 1: training accuracy, test accuracy, training loss, examples learned.

    One curve per noise level (mean over seeds, min-max band); the last panel shows the
    fraction of pristine (solid) and corrupt (dashed) examples learned by each step.
    """
    levels = noise_levels(result) if levels is None else list(levels)
    color = _noise_colors(levels)
    fig, axes = plots.grid(1, 4, size=(3.4, 2.9))
    steps = result.steps
    for n in levels:
        kw = dict(color=color[n])
        plots.band(axes[0, 0], steps, by_noise(result, "train_acc", n), NOISE_LABEL.format(n), **kw)
        plots.band(axes[0, 1], steps, by_noise(result, "test_acc", n), NOISE_LABEL.format(n), **kw)
        plots.band(axes[0, 2], steps, by_noise(result, "train_loss", n), NOISE_LABEL.format(n), **kw)
        index = result.index(noise=n)
        for group, mask in (("pristine", result.pristine[index]), ("corrupt", ~result.pristine[index])):
            fraction = learned_fraction(result.first_learned[index], mask, steps)
            if np.isnan(fraction).all():
                continue
            plots.band(axes[0, 3], steps, fraction, color=color[n], linestyle=GROUP_STYLE[group]["linestyle"])
    plots.label(axes[0, 0], "training step", "training accuracy (noisy labels)", "(a) training accuracy")
    plots.label(axes[0, 1], "training step", "test accuracy", "(b) test accuracy")
    plots.label(axes[0, 2], "training step", "training loss (nats)", "(c) training loss")
    plots.label(axes[0, 3], "training step", "fraction learned", "(d) examples learned")
    axes[0, 2].set_yscale("log")
    for ax in axes[0]:
        log_steps(ax, steps)
    axes[0, 1].axhline(0.1, color="grey", linewidth=0.8, linestyle=":", label="chance")
    axes[0, 0].legend(fontsize=8)
    from matplotlib.lines import Line2D

    axes[0, 3].legend([Line2D([], [], color="k", **{k: v for k, v in GROUP_STYLE[g].items() if k != "color"})
                       for g in ("pristine", "corrupt")], ["pristine", "corrupt"], fontsize=8, loc="lower right")
    return fig


def _group_rows(result, levels: Sequence[float], n_null: int, value) -> tuple[plt.Figure, np.ndarray]:
    """Shared layout of Figures 2 and 3: row 0 real designations, rows 1.. null worlds; one column per level.

    ``value(n, group, null)`` returns the (S, R) curves to draw (``null=None`` for the real
    designation).
    """
    fig, axes = plots.grid(1 + n_null, len(levels), size=(3.3, 2.1), sharex=True)
    for j, n in enumerate(levels):
        for row in range(1 + n_null):
            ax = axes[row, j]
            null = None if row == 0 else row - 1
            for group in ("pristine", "corrupt"):
                plots.band(ax, result.steps, value(n, group, null), group, **GROUP_STYLE[group])
            title = NOISE_LABEL.format(n) + (", real" if null is None else f", null world {null + 1}")
            ax.set_title(title, fontsize=9)
            log_steps(ax, result.steps)
    return fig, axes


def plot_alphas(result, levels: Sequence[float], n_null: int = 3, stats_examples: int | None = None) -> plt.Figure:
    """The paper's Figure 2: ``alpha_p`` and ``alpha_c`` against step, real and in null worlds.

    Row 0 uses the real pristine/corrupt designation, each further row one null world (the
    designation randomly permuted over the statistics sample). The dotted line is the
    pristine share of the sample, where ``alpha_p`` would sit if pristine and corrupt
    examples pushed alike.
    """
    stats_examples = stats_examples or result.config.stats_examples

    def value(n, group, null):
        name = "alpha_p" if group == "pristine" else "alpha_c"
        if null is None:
            return by_noise(result, name, n)
        return by_noise(result, "null_" + name, n)[..., null]

    fig, axes = _group_rows(result, levels, n_null, value)
    for j, n in enumerate(levels):
        share = pristine_share(result.pristine[result.index(noise=n)], stats_examples).mean()
        for row in range(1 + n_null):
            axes[row, j].axhline(share, color="tab:blue", linewidth=0.8, linestyle=":")
            axes[row, j].set_ylim(-0.1, 1.1)
        axes[-1, j].set_xlabel("training step")
    for row in range(1 + n_null):
        axes[row, 0].set_ylabel(r"share of $|g|^2$")
    axes[0, 0].legend(fontsize=8)
    return fig


def plot_norm_ratio(result, levels: Sequence[float], fitted: dict[float, np.ndarray] | None = None) -> plt.Figure:
    """``|g_p| / |g_c|`` against step: ``alpha_p < alpha_c`` exactly when this ratio is below 1.

    (``<g, g_p> - <g, g_c> = |g_p|^2 - |g_c|^2`` for ``g = g_p + g_c``.) ``fitted`` maps a noise
    level to its seeds' first steps with the pristine examples fitted
    (:func:`cgnb.chapters.coherent_gradients.measures.fitted_step`); each is marked on its curve's colour.
    """
    color = _noise_colors(levels)
    fig, axes = plots.grid(1, 1, size=(5.0, 3.0))
    ax = axes[0, 0]
    for n in levels:
        ratio = by_noise(result, "norm_p", n) / by_noise(result, "norm_c", n)
        plots.band(ax, result.steps, ratio, NOISE_LABEL.format(n), color=color[n])
        for s in np.ravel((fitted or {}).get(n, [])):
            if np.isfinite(s):
                ax.axvline(s, color=color[n], linestyle=":", linewidth=1)
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    log_steps(ax, result.steps)
    plots.label(ax, "training step", r"$|g_p|\,/\,|g_c|$ (statistics sample)")
    ax.legend(fontsize=8)
    return fig


def plot_contributions(condensed: dict, levels: Sequence[float]) -> plt.Figure:
    """The paper's Figure 3: mean cumulative contribution per pristine / corrupt example.

    ``condensed`` from :func:`cgnb.chapters.coherent_gradients.contributions.condense`; row 0 uses the real
    designation, the next rows its first null worlds. Curves: mean over seeds with min-max band,
    after t = 0..T steps.
    """
    curves = np.asarray(condensed["curves"])  # (V, rows, 2, T + 1)
    rows, steps = curves.shape[1], np.arange(curves.shape[-1])
    fig, axes = plots.grid(rows, len(levels), size=(3.3, 2.1), sharex=True)
    for j, n in enumerate(levels):
        index = np.flatnonzero(np.isclose(condensed["noise"], n))
        if len(index) == 0:
            raise ValueError(f"no variant with noise {n} in the early contributions")
        for row in range(rows):
            ax = axes[row, j]
            for g, group in enumerate(("pristine", "corrupt")):
                plots.band(ax, steps, curves[index, row, g], group, **GROUP_STYLE[group])
            title = NOISE_LABEL.format(n) + (", real" if row == 0 else f", null world {row}")
            ax.set_title(title, fontsize=9)
        axes[-1, j].set_xlabel("training steps taken")
    for row in range(rows):
        axes[row, 0].set_ylabel("loss decrease\nper example (nats)")
    axes[0, 0].legend(fontsize=8)
    return fig


def plot_gap_null(gap: np.ndarray, null_gap: np.ndarray, noise: float) -> plt.Figure:
    """Histogram of the null-world gaps ``f_p - f_c`` (all seeds pooled) with each seed's real gap."""
    fig, axes = plots.grid(1, 1, size=(5.0, 2.8))
    ax = axes[0, 0]
    ax.hist(np.ravel(null_gap), bins=40, color="grey", alpha=0.7,
            label=f"null worlds ({null_gap.shape[1]} per seed)")
    for i, g in enumerate(np.ravel(gap)):
        ax.axvline(g, color="tab:blue", linewidth=1.5, label="real, per seed" if i == 0 else None)
    plots.label(ax, "pristine minus corrupt loss decrease per example (nats)", "null worlds",
                f"{NOISE_LABEL.format(noise)}: real gap against the null worlds")
    ax.legend(fontsize=8)
    return fig


def plot_coherence(early: dict, result, levels: Sequence[float] | None = None) -> plt.Figure:
    """Coherence ``|E g_i|^2 / E|g_i|^2`` of the per-example gradients against step, per noise level.

    Left: the first steps on the whole training sample of ``early`` (:func:`cgnb.chapters.coherent_gradients.contributions.condense`);
    right: the whole run on the sweep's statistics sample (``result``, records ``coherence``).
    The dotted lines mark 1/M, the value M equally long orthogonal gradients would give.
    """
    levels = noise_levels(result) if levels is None else list(levels)
    color = _noise_colors(levels)
    fig, axes = plots.grid(1, 2, size=(4.2, 3.1))
    steps = np.arange(early["coherence"].shape[1])
    for n in levels:
        index = np.flatnonzero(np.isclose(early["noise"], n))
        plots.band(axes[0, 0], steps, early["coherence"][index], NOISE_LABEL.format(n), color=color[n])
        plots.band(axes[0, 1], result.steps, by_noise(result, "coherence", n), NOISE_LABEL.format(n),
                   color=color[n])
    for ax, m, title in ((axes[0, 0], early["pristine"].shape[1], "first steps, whole training set"),
                         (axes[0, 1], result.config.stats_examples, "whole run, statistics sample")):
        ax.axhline(1 / m, color="grey", linestyle=":", linewidth=1)
        ax.text(ax.get_xlim()[1], 1 / m, f"1/M, M={m}", ha="right", va="bottom", fontsize=8, color="grey")
        ax.set_yscale("log")
        plots.label(ax, "training step", r"coherence $|E\,g_i|^2 / E\,|g_i|^2$", title)
    log_steps(axes[0, 1], result.steps)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    return fig


def plot_m_coherence(result, levels: Sequence[float]) -> plt.Figure:
    """Chatterjee and Zielinski's m-coherence ``m * alpha`` on the m-example statistics sample against step.

    Mean over seeds with min-max band; the dotted line is 1, the value for m orthogonal per-example
    gradients of equal length.
    """
    color = _noise_colors(levels)
    fig, axes = plots.grid(1, 1, size=(5.0, 3.0))
    ax = axes[0, 0]
    for n in levels:
        plots.band(ax, result.steps, m_coherence(result, n), NOISE_LABEL.format(n), color=color[n])
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1, label="orthogonal floor (1)")
    ax.set_yscale("log")
    log_steps(ax, result.steps)
    plots.label(ax, "training step", rf"m-coherence $m\,\alpha$ (m = {result.config.stats_examples})")
    ax.legend(fontsize=8)
    return fig
