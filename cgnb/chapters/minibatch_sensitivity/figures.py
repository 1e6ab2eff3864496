"""Chapter 6's figures: loss curves, minibatch gradients at one point, their agreement, fields, roughness.

Every function takes the numbers the chapter computed (plain arrays and dicts) and returns the
matplotlib figure; none trains or measures. ``colors`` maps each variant (``"plain"``,
``"dropout"``, ``"batch norm"``) to its colour; ``when`` is ``"start"`` or ``"mid"``; a bias
coordinate ``(layer, leaf, unit)`` names one bias of a hidden layer. The figures follow the book's
standard (:mod:`cgnb.engine.plots`): sized to the column, legends outside the data.

Reference: "Gradients are sensitive to minibatch composition" (blog post).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...engine import plots
from .measures import WHENS

#: The variants' colours (the book's palette).
COLORS = {"plain": plots.PALETTE[0], "dropout": plots.PALETTE[1], "batch norm": plots.PALETTE[2]}
#: The fields whose roughness the chapter compares, and their colours.
FIELD_COLORS = {"plain": COLORS["plain"], "dropout": COLORS["dropout"], "dropout, frozen mask": plots.PALETTE[5],
                "batch norm": COLORS["batch norm"]}


def _when(when: str, mid_step: int) -> str:
    return "start" if when == "start" else f"step {mid_step:,}"


def _coord(c) -> str:
    return f"{c[1]}{c[0]}[{c[2]}]"


def plot_loss_curves(smoothed: Mapping[str, np.ndarray], colors: Mapping[str, str], mid_step: int):
    """Training loss per variant: ``smoothed[name]`` (seeds, steps) moving averages; returns the figure."""
    fig, axes = plots.grid(1, len(smoothed), size=(2.45, 2.3), sharey=True)
    for ax, name in zip(axes[0], smoothed):
        curves = smoothed[name]
        plots.band(ax, np.arange(1, curves.shape[1] + 1), curves, label="mean over seeds (band: min–max)",
                   color=colors[name])
        ax.axvline(mid_step, color="k", ls="--", lw=1, label="mid-training snapshot")
        ax.set_yscale("log")
        plots.label(ax, "training step", "minibatch loss" if ax is axes[0, 0] else "", name)
    plots.legend_outside(fig, "below", fontsize=9)
    return fig


def plot_minibatch_gradients(projected: Mapping[tuple[str, str], np.ndarray], pairs: Mapping[str, Sequence],
                             colors: Mapping[str, str], mid_step: int):
    """The minibatch gradients projected on one bias pair, as arrows from the origin, with their mean.

    ``projected[name, when]`` (K, >= 2): K minibatch gradients on the pair's two biases (the
    first two columns); ``pairs[name][0]`` the pair ``(c1, c2)``. Rows: start / mid; columns:
    variants; each panel has its own scale. Returns the figure.
    """
    names = list(colors)
    fig, axes = plots.grid(2, len(names), size=(2.45, 2.45))
    for j, name in enumerate(names):
        c1, c2 = pairs[name][0]
        for i, when in enumerate(WHENS):
            ax, g = axes[i, j], np.asarray(projected[name, when])[:, :2]
            ax.axhline(0, color="grey", lw=0.6)
            ax.axvline(0, color="grey", lw=0.6)
            ax.quiver(np.zeros(len(g)), np.zeros(len(g)), g[:, 0], g[:, 1], angles="xy", scale_units="xy", scale=1,
                      color=colors[name], alpha=0.6, width=0.01)
            mean = g.mean(0)
            ax.quiver([0], [0], [mean[0]], [mean[1]], angles="xy", scale_units="xy", scale=1, color="black",
                      width=0.02)
            r = 1.1 * np.abs(g).max()
            ax.set_xlim(-r, r)
            ax.set_ylim(-r, r)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}, {_when(when, mid_step)}", fontsize=10)
            if i == 1:
                ax.set_xlabel(f"∂J/∂{_coord(c1)}", fontsize=9)
            ax.set_ylabel(f"∂J/∂{_coord(c2)}", fontsize=9)
    axes[0, 0].plot([], [], color="black", lw=2, label=f"mean of the {len(g)} minibatch gradients")
    axes[0, 0].plot([], [], color="grey", lw=2, label="one minibatch's gradient")
    plots.legend_outside(fig, "below", fontsize=9)
    return fig


def plot_agreement(tables: Mapping[str, Mapping[str, Mapping[tuple[str, str], np.ndarray]]],
                   colors: Mapping[str, str], mid_step: int):
    """Mean pairwise cosine of the minibatch gradients per variant, start and mid-training (bars: seed
    means, dots: seeds), as trained and with the shared error removed.

    ``tables[row][column][name, when]`` (seeds,): rows e.g. ``"as trained"``, ``"shared error
    removed"``; columns e.g. ``"full gradient"``, ``"two biases"``. Returns the figure.
    """
    names = list(colors)
    rows, columns = list(tables), list(next(iter(tables.values())))
    fig, axes = plots.grid(len(rows), len(columns), size=(3.5, 2.2), sharey="row", sharex=True)
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            ax, values = axes[i, j], tables[row][column]
            for v, name in enumerate(names):
                for k, when in enumerate(WHENS):
                    x = v + (k - 0.5) * 0.38
                    ax.bar(x, values[name, when].mean(), width=0.36, color=colors[name],
                           alpha=1.0 if when == "start" else 0.4, edgecolor=colors[name])
                    ax.scatter(np.full(len(values[name, when]), x), values[name, when], color="black", s=6, zorder=3)
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xticks(range(len(names)), names)
            ax.set_title(f"{column}, {row}", fontsize=10)
            if j == 0:
                ax.set_ylabel("mean pairwise cosine")
    axes[0, 0].bar([0], [0], color="grey", alpha=1.0, label="start (solid)")
    axes[0, 0].bar([0], [0], color="grey", alpha=0.4, label=f"{_when('mid', mid_step)} (light)")
    axes[0, 0].scatter([], [], color="black", s=6, label="one seed")
    plots.legend_outside(fig, "below", fontsize=9)
    return fig


def plot_fields(fields: Mapping[tuple[str, str], np.ndarray], offsets: np.ndarray,
                roughness: Mapping[tuple[str, str], float], colors: Mapping[str, str], mid_step: int):
    """The gradient field of one minibatch on a grid of bias offsets, per variant (columns) and time (rows).

    ``fields[name, when]`` (P, P, 2): the gradient on the pair's two biases at each grid point
    (offsets (P,) in bias units); arrows are scaled by the largest in each panel;
    ``roughness[name, when]`` (degrees) goes in the title. Returns the figure.
    """
    names = list(colors)
    fig, axes = plots.grid(2, len(names), size=(2.45, 2.45))
    for j, name in enumerate(names):
        for i, when in enumerate(WHENS):
            ax, f = axes[i, j], np.asarray(fields[name, when])
            u = f / np.linalg.norm(f, axis=-1, keepdims=True).max()
            ax.quiver(offsets[:, None] + 0 * offsets, 0 * offsets[:, None] + offsets, u[..., 0], u[..., 1],
                      color=colors[name], angles="xy", pivot="mid")
            ax.plot([0], [0], "o", mfc="none", mec="black", ms=12)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}, {_when(when, mid_step)}\nroughness {roughness[name, when]:.0f}°", fontsize=10)
    return fig


def plot_roughness(rough: Mapping[tuple[str, str], np.ndarray], styles: Mapping[str, str], mid_step: int):
    """Roughness of the nearby field per field kind, start and mid-training (bars: seed means, dots: seeds).

    ``rough[label, when]`` (seeds,) in degrees; ``styles[label]`` its colour. Returns the figure.
    """
    labels = list(styles)
    fig, axes = plots.grid(1, 1, size=(6.0, 2.9))
    ax = axes[0, 0]
    for v, label in enumerate(labels):
        for k, when in enumerate(WHENS):
            x = v + (k - 0.5) * 0.38
            ax.bar(x, rough[label, when].mean(), width=0.36, color=styles[label], alpha=1.0 if when == "start" else 0.4,
                   edgecolor=styles[label])
            ax.scatter(np.full(len(rough[label, when]), x), rough[label, when], color="black", s=6, zorder=3)
    ax.set_xticks(range(len(labels)), [label.replace(", ", ",\n") for label in labels])
    ax.set_ylim(0, 95)
    plots.label(ax, "", "roughness (degrees)")
    ax.bar([0], [0], color="grey", alpha=1.0, label="start (solid)")
    ax.bar([0], [0], color="grey", alpha=0.4, label=f"{_when('mid', mid_step)} (light)")
    ax.scatter([], [], color="black", s=6, label="one seed")
    plots.legend_outside(ax, "right", fontsize=9)
    return fig


def plot_roughness_by_spacing(spacings: Sequence[float], roughness: Mapping[str, np.ndarray],
                              styles: Mapping[str, tuple[str, str]]):
    """Roughness against grid spacing: ``roughness[label]`` (seeds, spacings); ``styles[label]`` (color, linestyle)."""
    fig, axes = plots.grid(1, 1, size=(6.2, 2.9))
    ax = axes[0, 0]
    for label, (color, ls) in styles.items():
        if label in roughness:
            plots.band(ax, np.array(spacings), roughness[label], label=label, color=color, ls=ls, marker="o")
    ax.set_xscale("log")
    ax.set_ylim(0, 95)
    plots.label(ax, "grid spacing (bias units)", "roughness (degrees)")
    plots.legend_outside(ax, "right", fontsize=9)
    return fig


def plot_batch_size_law(batch_sizes: np.ndarray, measured: Mapping[str, np.ndarray], grid_b: np.ndarray,
                        predicted_alpha: np.ndarray, predicted_variance: np.ndarray):
    """Agreement and spread of minibatch gradients against the minibatch size B, with the predictions.

    ``measured["alpha"]``, ``measured["cos_full"]``, ``measured["variance"]``: (seeds, len(batch_sizes));
    ``predicted_alpha`` ``B / (B + B_simple)`` and ``predicted_variance`` ``tr(Sigma) / B``: (seeds, len(grid_b)),
    drawn as their median over seeds. Returns the figure.
    """
    fig, axes = plots.grid(1, 2, size=(3.6, 2.9))
    ax = axes[0, 0]
    plots.band(ax, batch_sizes, measured["alpha"], label="coherence α", marker="o")
    plots.band(ax, batch_sizes, measured["cos_full"], label="mean pairwise cosine", marker="s")
    ax.plot(grid_b, np.median(predicted_alpha, axis=0), label="B / (B + B_simple), median", color="black", ls="--")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.3)
    plots.label(ax, "minibatch size B", "agreement")
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[0, 1]
    plots.band(ax, batch_sizes, measured["variance"], label="measured spread", marker="o")
    ax.plot(grid_b, np.median(predicted_variance, axis=0), label="tr(Σ) / B, median", color="black", ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plots.label(ax, "minibatch size B", "E|g_B − mean|²")
    ax.legend(fontsize=8, loc="lower left")
    return fig
