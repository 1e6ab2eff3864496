"""Chapter 5's figures: the paper's Figure 4 grid, the methods side by side, memorization of corrupt labels.

Every function takes :class:`cgnb.chapters.winsorized_sgd.measures.VariantCurves` (one per seed of a
cell: the line is their mean, the band their range) and returns the matplotlib figure.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...engine import plots
from .measures import VariantCurves


def _as_list(cell: VariantCurves | Sequence[VariantCurves]) -> list[VariantCurves]:
    return [cell] if isinstance(cell, VariantCurves) else list(cell)


def plot_grid(grid: Mapping[tuple[int, float], VariantCurves | Sequence[VariantCurves]], cs: Sequence[int],
              noise_levels: Sequence[float], *, title: str | None = None):
    """The paper's Figure 4: rows c, columns noise; training and test accuracy, overfit, proper accuracy.

    ``grid[(c, noise)]`` is that panel's :class:`VariantCurves`, or a list of them (one per seed): the
    lines are then the seed means and the bands span the seeds' minimum to maximum. Returns the figure.
    """
    fig, axes = plots.grid(len(cs), len(noise_levels), size=(2.9, 2.2), sharex=True, sharey=True)
    for i, c in enumerate(cs):
        for j, noise in enumerate(noise_levels):
            ax, runs = axes[i, j], _as_list(grid[(c, noise)])
            steps = runs[0].steps
            plots.band(ax, steps, np.stack([r.train_acc for r in runs]), "training accuracy (noisy labels)", "C0")
            plots.band(ax, steps, np.stack([r.test_acc for r in runs]), "test accuracy", "C1")
            plots.band(ax, steps, np.stack([r.overfit for r in runs]), "overfit", "C2")
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


def plot_methods(rows: Mapping[str, Mapping[float, VariantCurves]], noise_levels: Sequence[float], *,
                 title: str | None = None):
    """One column per noise level; rows: training accuracy, test accuracy, overfit; one line per method.

    ``rows[label][noise]`` is the :class:`VariantCurves` of that method at that noise level, or a list
    of them (one per seed: mean line, min-max band). The proper accuracy is drawn dashed in the training-accuracy row. Returns the figure.
    """
    fig, axes = plots.grid(3, len(noise_levels), size=(2.9, 2.2), sharex=True, sharey="row")
    colours = plots.colors(len(rows), "plasma")
    names = ("training accuracy", "test accuracy", "overfit")
    for j, noise in enumerate(noise_levels):
        for colour, (label, by_noise) in zip(colours, rows.items()):
            runs = _as_list(by_noise[noise])
            for i, name in enumerate(("train_acc", "test_acc", "overfit")):
                plots.band(axes[i, j], runs[0].steps, np.stack([getattr(r, name) for r in runs]), label, colour)
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


def plot_memorization(grid: Mapping[tuple[int, float], VariantCurves], cs: Sequence[int], noise_levels: Sequence[float],
                      extra: Mapping[str, Mapping[float, VariantCurves]] | None = None):
    """Fraction of corrupt examples classified as their (wrong) training label, against step.

    One panel per noise level > 0, one line per winsorization level c (``grid[(c, noise)]``)
    and per entry of ``extra`` (``extra[label][noise]``, dashed); a cell may hold one
    :class:`VariantCurves` or a list (one per seed: mean line, min-max band). Returns the figure.
    """
    noisy = [n for n in noise_levels if n > 0]
    fig, axes = plots.grid(1, len(noisy), size=(2.9, 2.4), sharey=True)
    colours = plots.colors(len(cs))
    for ax, noise in zip(axes[0], noisy):
        for colour, c in zip(colours, cs):
            runs = _as_list(grid[(c, noise)])
            plots.band(ax, runs[0].steps, np.stack([r.corrupt_acc for r in runs]), f"c = {c}", colour)
        for k, (label, by_noise) in enumerate((extra or {}).items()):
            runs = _as_list(by_noise[noise])
            plots.band(ax, runs[0].steps, np.stack([r.corrupt_acc for r in runs]), label, f"C{3 + k}", linestyle="--")
        ax.set_ylim(-0.03, 1.03)
        plots.label(ax, "training step", "corrupt labels fitted (fraction)" if noise == noisy[0] else "",
                    f"noise {noise:.0%}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, 1.0))
    return fig
