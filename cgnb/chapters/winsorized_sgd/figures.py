"""Chapter 5's figures: the paper's Figure 4 grid, memorization, overfit against c, the mechanism of the
decline, the learning-rate control, and the methods side by side.

The grid takes one run's cells (``{(c, noise): [VariantCurves per seed]}``); the others take the runs
to compare (:class:`cgnb.chapters.winsorized_sgd.setting.Shown`, the quick run and the stored runs) and
draw them side by side with shared axes (:func:`cgnb.engine.plots.paired`), one column per run, time in
epochs so that runs of different length line up. A line is the seeds' mean, its band their range.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3 and Figure 4.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib import ticker

from ...engine import plots
from . import measures
from .claims import MEMORIZATION_TOLERANCE
from .measures import VariantCurves

#: One colour per winsorization level (c = 0 is plain SGD, black); RM3 and the noise levels have their own.
C_COLOURS = {0: "#000000", 1: "#0072B2", 2: "#009E73", 4: "#D55E00", 8: "#CC79A7"}
RM3_COLOUR = "#CC79A7"
NOISE_COLOURS = ("#5A5A8C", "#0072B2", "#009E73", "#D55E00", "#7F6A00")
EPOCHS = "epoch"


def c_label(c: int) -> str:
    """``"c = 2"``, and ``"c = 0 (SGD)"`` for plain SGD."""
    return f"c = {c}" + (" (SGD)" if c == 0 else "")


def c_colour(c: int) -> str:
    """The colour of winsorization level ``c`` (levels without their own colour share the palette's last)."""
    return C_COLOURS.get(c, plots.PALETTE[-1])


def _stack(cell: Sequence[VariantCurves], name: str) -> np.ndarray:
    return np.stack([np.asarray(getattr(curve, name), float) for curve in cell])


def _log_scale(ax) -> None:
    """A log y axis labelled with plain numbers (``20``, not ``2 x 10^1``) on its major ticks only."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _band(ax, cell: Sequence[VariantCurves], values: np.ndarray, label: str, colour: str, **kwargs):
    return plots.band(ax, cell[0].epochs, values, label, colour, **kwargs)


def plot_grid(grid: Mapping[tuple[int, float], Sequence[VariantCurves]], cs: Sequence[int],
              noise_levels: Sequence[float]):
    """The paper's Figure 4 for one run: rows c, columns noise; training and test accuracy, overfit, and
    the exact proper accuracy (dashed), against epochs. Returns the figure."""
    fig, axes = plots.grid(len(cs), len(noise_levels), size=(1.48, 1.2), sharex=True, sharey=True)
    for i, c in enumerate(cs):
        for j, noise in enumerate(noise_levels):
            ax, cell = axes[i, j], grid[(c, noise)]
            _band(ax, cell, _stack(cell, "train_acc"), "training accuracy (noisy labels)", plots.PALETTE[0])
            _band(ax, cell, _stack(cell, "test_acc"), "test accuracy", plots.PALETTE[1])
            _band(ax, cell, _stack(cell, "overfit"), "overfit", plots.PALETTE[2])
            ax.axhline(float(np.mean([r.proper for r in cell])), color="0.35", linestyle="--", linewidth=1,
                       label="proper accuracy")
            ax.set_ylim(-0.05, 1.05)
            ax.set_yticks([0, 0.5, 1], ["0", ".5", "1"])
            if i == 0:
                ax.set_title(f"{noise:.0%} noise", fontsize=10)
            if j == 0:
                ax.set_ylabel(f"c = {c}")
    axes[-1, len(noise_levels) // 2].set_xlabel(EPOCHS)
    plots.legend_outside(fig, "below")
    return fig


def plot_memorization(runs: Sequence, levels: Sequence[float]):
    """Corrupt training examples predicted as their wrong label beyond chance, ``corrupt_acc - (1 -
    test_acc) / 9``, against epochs: one row per noise level, one column per run, one line per c (RM3
    dashed); the dotted line is C5.2's tolerance. Returns the figure."""
    fig, axes = plots.paired([run.name for run in runs], rows=len(levels), size=(3.6, 1.9), sharex=True)
    for col, run in enumerate(runs):
        for row, noise in enumerate(levels):
            ax = axes[row, col]
            cells = [(c_label(c), run.grid[(c, noise)], c_colour(c), "-") for c in run.setting.cs]
            for label, cell, colour, style in cells + [("RM3", run.rm3_grid[noise], RM3_COLOUR, "--")]:
                excess = _stack(cell, "corrupt_acc") - (1 - _stack(cell, "test_acc")) / (measures.NUM_CLASSES - 1)
                _band(ax, cell, excess, label, colour, linestyle=style)
            ax.axhline(MEMORIZATION_TOLERANCE, color="0.35", linestyle=":", linewidth=1.2, label="C5.2 tolerance")
            ax.set_title(f"{run.name}, {noise:.0%} noise", fontsize=10)
            if col == 0:
                ax.set_ylabel("beyond chance")
        axes[-1, col].set_xlabel(EPOCHS)
    plots.legend_outside(fig, "below")
    return fig


def plot_overfit_by_c(runs: Sequence, degenerate: Sequence[Mapping[tuple[int, float], list[str]]]):
    """The overfit averaged over the run against c, one line per noise level, one panel per run; bars
    span the seeds, an open marker is a cell with a collapsed or never-learned run
    (``degenerate[i][(c, noise)]`` non-empty for run i). Returns the figure."""
    fig, axes = plots.paired([run.name for run in runs], size=(3.6, 2.8))
    for ax, run, lines in zip(axes[0], runs, degenerate):
        cs = list(run.setting.cs)
        for colour, noise in zip(NOISE_COLOURS, run.setting.noise_levels):
            values = [[measures.mean_overfit(r) for r in run.grid[(c, noise)]] for c in cs]
            mean = np.array([np.mean(v) for v in values])
            spans = np.array([[m - min(v), max(v) - m] for m, v in zip(mean, values)]).T
            ax.errorbar(range(len(cs)), mean, yerr=spans, color=colour, marker="o", capsize=2,
                        label=f"{noise:.0%} noise")
            bad = [k for k, c in enumerate(cs) if lines[(c, noise)]]
            ax.plot(bad, mean[bad], linestyle="none", marker="o", markersize=9, markerfacecolor="white",
                    markeredgecolor=colour, label="_degenerate")
        ax.set_xticks(range(len(cs)), [str(c) for c in cs])
        if any(lines.values()):
            ax.plot([], [], linestyle="none", marker="o", markersize=9, markerfacecolor="white",
                    markeredgecolor="0.3", label="a run collapsed or never learned")
        ax.set_xlabel("winsorization level c")
    axes[0, 0].set_ylabel("mean overfit")
    plots.legend_outside(fig, "below")
    return fig


def plot_mechanism(runs: Sequence, noise: float):
    """What happens inside the network at one noise level, per c: training accuracy, the output layer's
    weight norm, the logit spread and the dead units of the last two hidden layers (dashed: the one
    before the last), against epochs; one column per run that recorded the network. Returns the figure."""
    runs = [run for run in runs if run.has_model]
    fig, axes = plots.paired([run.name for run in runs], rows=4, size=(3.6, 1.75), sharex=True, sharey="row")
    for col, run in enumerate(runs):
        for c in run.setting.cs:
            cell, colour = run.grid[(c, noise)], c_colour(c)
            norm = _stack(cell, "weight_norm")[:, :, -1]
            dead = _stack(cell, "dead_units")
            rows = ((_stack(cell, "train_acc"), "-"), (norm, "-"), (_stack(cell, "logit_spread"), "-"),
                    (dead[:, :, -1], "-"))
            for row, (values, style) in enumerate(rows):
                _band(axes[row, col], cell, values, c_label(c), colour, linestyle=style)
            if dead.shape[2] > 1:
                _band(axes[3, col], cell, dead[:, :, -2], None, colour, linestyle="--", linewidth=1.2)
        for row in (1, 2):
            _log_scale(axes[row, col])
    for row, name in enumerate(("training\naccuracy", "output-layer\nweight norm", "logit spread",
                                "dead units\n(last hidden)")):
        axes[row, 0].set_ylabel(name)
    for ax in axes[-1]:
        ax.set_xlabel(EPOCHS)
    plots.legend_outside(fig, "below")
    return fig


def plot_control(run, noise: float):
    """The control at one noise level: plain SGD and the largest c at the run's learning rate, and the
    largest c at each smaller one (``run.control``): training accuracy and the output layer's weight
    norm against epochs. Returns the figure."""
    c = max(run.setting.cs)
    fig, axes = plots.grid(1, 2, size=(3.7, 2.6), sharex=True)
    series = [(f"plain SGD, lr {run.setting.lr:g}", run.grid[(0, noise)], "#000000", "-"),
              (f"c = {c}, lr {run.setting.lr:g}", run.grid[(c, noise)], c_colour(c), "-")]
    series += [(f"c = {c}, lr {lr:g}", cell, colour, "--")
               for (lr, cell), colour in zip(sorted(run.control.items(), reverse=True), ("#0072B2", "#009E73"))]
    for label, cell, colour, style in series:
        _band(axes[0, 0], cell, _stack(cell, "train_acc"), label, colour, linestyle=style)
        if cell[0].has_model:
            _band(axes[0, 1], cell, _stack(cell, "weight_norm")[:, :, -1], label, colour, linestyle=style)
    plots.label(axes[0, 0], EPOCHS, "training accuracy")
    plots.label(axes[0, 1], EPOCHS, "output-layer weight norm")
    _log_scale(axes[0, 1])
    plots.legend_outside(fig, "below")
    return fig


def plot_methods(runs: Sequence):
    """Plain SGD, RM3 and winsorized SGD at the largest c: the overfit averaged over the run against the
    noise level, one panel per run (bars span the seeds). Returns the figure."""
    fig, axes = plots.paired([run.name for run in runs], size=(3.6, 2.6))
    for ax, run in zip(axes[0], runs):
        c = max(run.setting.cs)
        levels = list(run.setting.noise_levels)
        methods = (("plain SGD", {n: run.grid[(0, n)] for n in levels}, "#000000"),
                   ("RM3", run.rm3_grid, RM3_COLOUR), (f"winsorized, c = {c}", {n: run.grid[(c, n)] for n in levels},
                                                         c_colour(c)))
        for label, cells, colour in methods:
            values = [[measures.mean_overfit(r) for r in cells[n]] for n in levels]
            mean = np.array([np.mean(v) for v in values])
            spans = np.array([[m - min(v), max(v) - m] for m, v in zip(mean, values)]).T
            ax.errorbar([100 * n for n in levels], mean, yerr=spans, color=colour, marker="o", capsize=2, label=label)
        ax.set_xlabel("label noise (%)")
    axes[0, 0].set_ylabel("mean overfit")
    plots.legend_outside(fig, "below")
    return fig
