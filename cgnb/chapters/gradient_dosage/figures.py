"""Chapter 1's figures: dose ratios by head-start placement, the vote over training, shared features.

Every function takes the numbers the chapter computed and returns the matplotlib figure, drawn to
the book's standard (:mod:`cgnb.engine.plots`: legends outside the data, shared axes).

Reference: "Gradient Dosage" (blog post, 11 September 2022).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.ticker import NullFormatter

from ...engine import plots

LAYERS = ("input-weight dose", "read-out dose")


def plot_dose_ratios(placements: Sequence[str], ratios: np.ndarray):
    """Recognizer 1's dose over the mean of recognizers 2 and 3's, per placement, layer and seed.

    Args:
      placements: (P,) names of the head-start placements.
      ratios: (P, 2, S) dose ratios; layer 0 the input weights, 1 the read-out.

    Raises:
      ValueError: ``ratios`` does not have shape (len(placements), 2, S).
    """
    ratios = np.asarray(ratios)
    if ratios.ndim != 3 or ratios.shape[:2] != (len(placements), 2):
        raise ValueError(f"ratios must have shape ({len(placements)}, 2, seeds), got shape {ratios.shape}")
    fig, axes = plots.grid(1, 1, size=(5.2, 3.0))
    ax = axes[0, 0]
    x = np.arange(len(placements))
    for layer, (name, color, shift) in enumerate(zip(LAYERS, plots.colors(2), (-0.12, 0.12))):
        for s in range(ratios.shape[2]):
            ax.plot(x + shift, ratios[:, layer, s], "o", color=color, alpha=0.6, ms=4,
                    label=name if s == 0 else None)
        ax.plot(x + shift, np.exp(np.log(ratios[:, layer]).mean(-1)), "_", color=color, ms=18, mew=2)
    for level, style, text in ((1.0, ":", "equal dose (1x)"), (3.0, "--", "several times (3x)"),
                               (9.0, "-.", "the post's 9x")):
        ax.axhline(level, color="k", ls=style, lw=1, label=text)
    ax.set_yscale("log")
    ax.set_xticks(x, [p.replace(" ", "\n", 1) for p in placements])
    plots.label(ax, "where the head start sits", "dose ratio, 1 : (2, 3)")
    plots.legend_outside(ax, "right")
    return fig


def plot_vote(steps: np.ndarray, vote: np.ndarray, placements: Sequence[str], weight_decays: Sequence[float],
              majority: float, single: float):
    """The accuracy of the network's vote over training, one panel per weight decay, one curve per placement.

    Args:
      steps: (R,) record steps; vote: (P, W, S, R) vote accuracy (band = seeds).
      placements: (P,); weight_decays: (W,); majority, single: the majority vote's and one feature's accuracy.
    """
    fig, axes = plots.grid(1, len(weight_decays), size=(3.0, 2.6), sharey=True)
    for w, (ax, wd) in enumerate(zip(axes[0], weight_decays)):
        for p, (name, color) in enumerate(zip(placements, plots.colors(len(placements), "tab10"))):
            plots.band(ax, steps, vote[p, w], label=name, color=color)
        ax.axhline(majority, color="k", ls="--", lw=1, label="majority vote")
        ax.axhline(single, color="k", ls=":", lw=1, label="feature 1 alone")
        ax.set_xscale("log")
        plots.label(ax, "training step", "vote accuracy" if w == 0 else "", f"weight decay {wd:g}")
    plots.legend_outside(fig, "below")
    return fig


def plot_sharing(shared: dict[str, np.ndarray], steps: np.ndarray, norms: np.ndarray, task: dict,
                 weight_decay: float):
    """Left: dose of general recognizers and of their examples' memorizers by group size; right: erosion.

    Args:
      shared: :func:`cgnb.chapters.gradient_dosage.measures.sharing_measures` output.
      steps: (R,) record steps; norms: (S, R, n_groups + N) recognizer norms under weight decay.
      task: the task's dict (``n_groups``, ``group_size``); weight_decay: the decay of ``norms``.
    """
    sizes, n_groups, group_size = shared["sizes"], task["n_groups"], np.asarray(task["group_size"])
    fig, axes = plots.grid(1, 2, size=(3.0, 2.7))
    ax = axes[0, 0]
    for w, (label, color) in enumerate([("no decay", "C0"), (f"decay {weight_decay:g}", "C1")]):
        for s in range(shared["general"].shape[1]):
            ax.plot(sizes, shared["general"][w, s], "o-", color=color, alpha=0.6,
                    label=f"general, {label}" if s == 0 else None)
            ax.plot(sizes, shared["memorizers"][w, s], "x--", color=color, alpha=0.6,
                    label=f"memorizers, {label}" if s == 0 else None)
    ax.set_xscale("log"); ax.set_yscale("log")
    plots.label(ax, "examples sharing the group feature", "total dose", "dose by sharing")
    ax = axes[0, 1]
    mem_norm = norms[..., n_groups:].mean(-1)
    plots.band(ax, steps, mem_norm / mem_norm[:, :1], label="memorizers (identity)", color="k")
    for g, color in zip(sizes, plots.colors(len(sizes))):
        gn = norms[..., :n_groups][..., group_size == g].mean(-1)
        plots.band(ax, steps, gn / gn[:, :1], label=f"general, shared by {g}", color=color)
    ax.set_xscale("log"); ax.set_yscale("log")
    plots.label(ax, "training step", "norm / initial norm", f"erosion, decay {weight_decay:g}")
    for ax in axes[0]:
        ax.xaxis.set_minor_formatter(NullFormatter()); ax.yaxis.set_minor_formatter(NullFormatter())
        plots.legend_outside(ax, "below", ncols=1, bbox_to_anchor=(0.5, -0.45))
    return fig
