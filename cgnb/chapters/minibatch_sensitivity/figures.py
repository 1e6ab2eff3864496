"""Chapter 6's figures: loss curves, minibatch gradients at one point, their agreement, fields, roughness.

Every function takes the numbers the chapter computed (plain arrays and dicts) and returns the
matplotlib figure; none trains or measures. ``colors`` maps each variant (``"plain"``,
``"dropout"``, ``"batch norm"``) to its colour; ``when`` is ``"start"`` or ``"mid"``; a bias
coordinate ``(layer, leaf, unit)`` names one bias of a hidden layer.

Reference: "Gradients are sensitive to minibatch composition" (blog post).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...engine import plots
from .measures import WHENS


def _when_title(name: str, when: str, mid_step: int) -> str:
    return f"{name}, {'start' if when == 'start' else f'step {mid_step}'}"


def _coord(c) -> str:
    return f"{c[1]}[{c[0]}][{c[2]}]"


def plot_loss_curves(smoothed: Mapping[str, np.ndarray], colors: Mapping[str, str], mid_step: int, window: int):
    """Training loss per variant: ``smoothed[name]`` (seeds, steps) moving averages; returns the figure."""
    fig, axes = plots.grid(1, len(smoothed), size=(3.4, 2.7), sharey=True)
    for ax, name in zip(axes[0], smoothed):
        curves = smoothed[name]
        plots.band(ax, np.arange(1, curves.shape[1] + 1), curves, label=f"{len(curves)} seeds", color=colors[name])
        ax.axvline(mid_step, color="k", ls="--", lw=1, label=f"mid snapshot (step {mid_step})")
        ax.set_yscale("log")
        plots.label(ax, "training step", f"minibatch loss (mean of {window} steps)", name)
    axes[0, 0].legend()
    return fig


def plot_minibatch_gradients(projected: Mapping[tuple[str, str], np.ndarray], pairs: Mapping[str, Sequence],
                             colors: Mapping[str, str], mid_step: int):
    """The minibatch gradients projected on one bias pair, as arrows from the origin, with their mean.

    ``projected[name, when]`` (K, >= 2): K minibatch gradients on the pair's two biases (the
    first two columns); ``pairs[name][0]`` the pair ``(c1, c2)``. Rows: start / mid; columns:
    variants. Returns the figure.
    """
    names = list(colors)
    fig, axes = plots.grid(2, len(names), size=(3.2, 3.0))
    for j, name in enumerate(names):
        c1, c2 = pairs[name][0]
        for i, when in enumerate(WHENS):
            ax, g = axes[i, j], np.asarray(projected[name, when])[:, :2]
            ax.quiver(np.zeros(len(g)), np.zeros(len(g)), g[:, 0], g[:, 1], angles="xy", scale_units="xy", scale=1,
                      color=colors[name], alpha=0.6, width=0.008)
            mean = g.mean(0)
            ax.quiver([0], [0], [mean[0]], [mean[1]], angles="xy", scale_units="xy", scale=1, color="crimson", width=0.015)
            r = 1.1 * np.abs(g).max()
            ax.set_xlim(-r, r); ax.set_ylim(-r, r); ax.set_aspect("equal")
            plots.label(ax, f"dJ/d{_coord(c1)}  (loss / bias unit)", f"dJ/d{_coord(c2)}  (loss / bias unit)",
                        _when_title(name, when, mid_step))
    axes[0, 0].plot([], [], color="crimson", label=f"mean of the {len(g)}")
    axes[0, 0].legend(loc="lower left", fontsize=8)
    return fig


def plot_agreement(measures: Mapping[str, Mapping[tuple[str, str], np.ndarray]], colors: Mapping[str, str],
                   mid_step: int):
    """Bars per variant and time (dots: seeds) for each agreement measure.

    ``measures[title][name, when]`` (seeds,), e.g. titles ``"full gradient"``, ``"2-D projection"``
    (mean pairwise cosines) and ``"coherence alpha"``. Returns the figure.
    """
    names = list(colors)
    fig, axes = plots.grid(1, len(measures), size=(3.2, 2.7), sharey=True)
    for ax, (what, values) in zip(axes[0], measures.items()):
        for j, name in enumerate(names):
            for k, when in enumerate(WHENS):
                x = j + (k - 0.5) * 0.35
                ax.bar(x, values[name, when].mean(), width=0.33, color=colors[name], alpha=1.0 if when == "start" else 0.45,
                       label=(when if when == "start" else f"step {mid_step}") if j == 0 else None)
                ax.scatter(np.full(len(values[name, when]), x), values[name, when], color="k", s=8, zorder=3)
        ax.set_xticks(range(len(names)), names)
        plots.label(ax, "variant", "alpha" if "alpha" in what else "mean pairwise cosine", what)
    axes[0, -1].legend(loc="upper right")
    return fig


def plot_fields(fields: Mapping[tuple[str, str], np.ndarray], offsets: np.ndarray, pairs: Mapping[str, Sequence],
                roughness: Mapping[tuple[str, str], float], colors: Mapping[str, str], mid_step: int):
    """The gradient field of one minibatch on a grid of bias offsets, per variant and time.

    ``fields[name, when]`` (P, P, 2): the gradient on the pair's two biases at each grid point
    (offsets (P,) in bias units); arrows are scaled by the largest; ``roughness[name, when]``
    (degrees) goes in the title. Returns the figure.
    """
    names = list(colors)
    fig, axes = plots.grid(2, len(names), size=(3.2, 3.1))
    for j, name in enumerate(names):
        c1, c2 = pairs[name][0]
        for i, when in enumerate(WHENS):
            ax, f = axes[i, j], np.asarray(fields[name, when])
            u = f / np.linalg.norm(f, axis=-1, keepdims=True).max()
            ax.quiver(offsets[:, None] + 0 * offsets, 0 * offsets[:, None] + offsets, u[..., 0], u[..., 1],
                      color=colors[name], angles="xy", pivot="mid")
            ax.plot([0], [0], "o", mfc="none", mec="crimson", ms=12)
            ax.set_aspect("equal")
            plots.label(ax, f"offset of {_coord(c1)} (bias units)", f"offset of {_coord(c2)} (bias units)",
                        f"{_when_title(name, when, mid_step)}: {roughness[name, when]:.0f}°")
    return fig


def plot_roughness_by_spacing(spacings: Sequence[float], roughness: Mapping[str, np.ndarray],
                              styles: Mapping[str, tuple[str, str]], mid_step: int):
    """Roughness against grid spacing: ``roughness[label]`` (seeds, spacings); ``styles[label]`` (color, linestyle)."""
    fig, axes = plots.grid(1, 1, size=(6.4, 3.2))
    ax = axes[0, 0]
    for label, (color, ls) in styles.items():
        plots.band(ax, np.array(spacings), roughness[label], label=label, color=color, ls=ls, marker="o")
    ax.set_xscale("log")
    plots.label(ax, "grid spacing (bias units)", "roughness (degrees)", f"mid-training (step {mid_step})")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def plot_batch_size_law(batch_sizes: np.ndarray, measured: Mapping[str, np.ndarray], grid_b: np.ndarray,
                        predicted_alpha: np.ndarray, predicted_variance: np.ndarray):
    """Agreement and spread of minibatch gradients against the minibatch size B, with the predictions.

    ``measured["alpha"]``, ``measured["cos_full"]``, ``measured["variance"]``: (seeds, len(batch_sizes));
    ``predicted_alpha`` ``B / (B + B_simple)`` and ``predicted_variance`` ``tr(Sigma) / B``: (seeds, len(grid_b)).
    Returns the figure.
    """
    fig, axes = plots.grid(1, 2, size=(4.0, 3.0))
    ax = axes[0, 0]
    plots.band(ax, batch_sizes, measured["alpha"], label="alpha (measured)", marker="o")
    plots.band(ax, batch_sizes, measured["cos_full"], label="mean pairwise cosine", marker="s")
    plots.band(ax, grid_b, predicted_alpha, label="B / (B + B_simple)", color="k", ls="--")
    ax.set_xscale("log")
    plots.label(ax, "minibatch size B (examples)", "agreement of 50 minibatch gradients", "plain, mid-training")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    plots.band(ax, batch_sizes, measured["variance"], label="E|g_B - mean|^2 (measured)", marker="o")
    plots.band(ax, grid_b, predicted_variance, label="tr(Sigma) / B (per-example)", color="k", ls="--")
    ax.set_xscale("log"); ax.set_yscale("log")
    plots.label(ax, "minibatch size B (examples)", "spread of minibatch gradients (loss^2 / param^2)", "the 1/B law")
    ax.legend(fontsize=8)
    return fig
