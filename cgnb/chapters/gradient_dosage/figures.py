"""Chapter 1's figures: dose, accuracy and reliance by head start; weight decay; shared features.

Every function takes the numbers the chapter computed and returns the matplotlib figure.

Reference: "Gradient Dosage" (blog post, 11 September 2022).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...engine import plots


def plot_head_start_runs(steps: np.ndarray, dose: dict[str, np.ndarray], accuracy: dict[str, np.ndarray],
                         reliance: np.ndarray, majority: float, single: float):
    """Top: cumulative dose per feature for ``k=1`` and ``k=8``; bottom: accuracy by head start, reliance at k=8.

    ``steps`` (R,) record steps; ``dose[name]`` (S, R, D) for the names ``"k=1"`` and ``"k=8"``;
    ``accuracy[name]`` (S, R) test accuracy for each head start to show; ``reliance`` (S, R, 3)
    :func:`cgnb.chapters.gradient_dosage.measures.flip_reliance` of the k=8 network; ``majority`` / ``single`` the test accuracy of
    the majority vote and of feature 1 alone. Returns the figure.
    """
    feature_colors = plots.colors(4, "tab10")
    fig, axes = plots.grid(2, 2, size=(4.6, 3.2))
    for ax, name in zip(axes[0], ["k=1", "k=8"]):
        cum = np.cumsum(dose[name], axis=1)
        for f in range(3):
            plots.band(ax, steps, cum[..., f], label=f"feature {f + 1}", color=feature_colors[f])
        plots.band(ax, steps, cum[..., 3:].mean(-1), label="irrelevant (mean)", color="grey")
        ax.set_yscale("log")
        plots.label(ax, "training step", "cumulative dose $\\sum_t \\|g_f\\|^2$", f"dose per feature, {name}")
        ax.legend(fontsize=8)
    ax = axes[1, 0]
    for name, color in zip(accuracy, plots.colors(len(accuracy))):
        plots.band(ax, steps, accuracy[name], label=name, color=color)
    ax.axhline(majority, color="k", ls="--", lw=1, label=f"majority vote {majority:.3f}")
    ax.axhline(single, color="k", ls=":", lw=1, label=f"feature 1 alone {single:.3f}")
    ax.set_xscale("log"); ax.set_ylim(0.85, 0.985)
    plots.label(ax, "training step", "test accuracy", "accuracy by head start k")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    for f in range(3):
        plots.band(ax, steps, reliance[..., f], label=f"feature {f + 1}", color=feature_colors[f])
    ax.axhline(np.log(9), color="k", ls="--", lw=1, label="log 9 (Bayes weight)")
    ax.set_xscale("log")
    plots.label(ax, "training step", "reliance $r_f$ (logit units)", "reliance per feature, k=8")
    ax.legend(fontsize=8)
    return fig


def plot_head_start_effects(head_starts: Sequence[float], ratios: dict[str, np.ndarray], ratio_linear: np.ndarray,
                            reach: dict[str, dict[float, np.ndarray]]):
    """Left: dose ratio by head start (per seed and median, with the two controls); right: steps to halfway.

    ``ratios`` holds :func:`cgnb.chapters.gradient_dosage.measures.dose_ratio` (S,) for ``"k=<k>"`` of every head start and for
    ``"k=8, input weights only"``; ``ratio_linear`` (S,) that of the linear model.
    ``reach[label][k]`` (S,): the step at which the run with head start k reached the halfway
    accuracy, one curve per label (e.g. with and without weight decay). Returns the figure.
    """
    fig, axes = plots.grid(1, 2, size=(4.6, 3.2))
    ax = axes[0, 0]
    rng = np.random.default_rng(0)
    for i, k in enumerate(head_starts):
        r = ratios[f"k={k:g}"]
        ax.scatter(np.full(len(r), k) * np.exp(rng.uniform(-0.06, 0.06, len(r))), r, color="C0", s=14,
                   label="whole recognizer x k (per seed)" if i == 0 else None)
    ax.plot(head_starts, [np.median(ratios[f"k={k:g}"]) for k in head_starts], color="C0", label="median")
    input_only = ratios["k=8, input weights only"]
    ax.scatter(np.full(len(input_only), 8.0) * 1.15, input_only, color="C3", marker="x", label="input weights only x 8")
    if "k=8 as input weights x 64" in ratios:
        same_logit = ratios["k=8 as input weights x 64"]
        ax.scatter(np.full(len(same_logit), 8.0) * 1.3, same_logit, color="C1", marker="+", s=30,
                   label="input weights x 64 (same initial logit as k=8)")
    ax.scatter(np.full(len(ratio_linear), 1.0) * 0.85, ratio_linear, color="C2", marker="s", s=14,
               label="linear model, $w_1$ = log 9 at start")
    ax.axhline(9, color="k", ls="--", lw=1, label="the post's ~9x")
    ax.axhline(1, color="grey", ls=":", lw=1)
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xticks(head_starts, [f"{k:g}" for k in head_starts]); ax.minorticks_off()
    plots.label(ax, "head start k (initial scale factor)", "dose ratio $D_1 / \\bar D_{2,3}$", "dose ratio by head start")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for i, (label, by_k) in enumerate(reach.items()):
        ks = list(by_k)
        med = [np.nanmedian(by_k[k]) for k in ks]
        lo = [np.nanmin(by_k[k]) for k in ks]
        hi = [np.nanmax(by_k[k]) for k in ks]
        ax.errorbar(np.array(ks) * (1 + 0.08 * i), med, yerr=[np.subtract(med, lo), np.subtract(hi, med)], marker="o",
                    capsize=3, label=label)
    ax.set_xscale("log"); ax.set_xticks(head_starts, [f"{k:g}" for k in head_starts]); ax.minorticks_off()
    plots.label(ax, "head start k", "steps to reach accuracy\nhalfway to the majority vote", "the head start delays the others")
    ax.legend(fontsize=8)
    return fig


def plot_weight_decay_sweep(weight_decays: Sequence[float], ratios: np.ndarray, final_accuracy: np.ndarray,
                            majority: float, single: float, head_start: float):
    """Left: dose ratio against weight decay; right: final test accuracy against weight decay.

    ``ratios`` and ``final_accuracy`` are (W, S): :func:`cgnb.chapters.gradient_dosage.measures.dose_ratio` and the test accuracy at the
    end of training, per weight decay (W, in the order of ``weight_decays``, all > 0 or 0 first)
    and seed; ``majority`` and ``single`` are the accuracies of the majority vote and of feature 1
    alone; ``head_start`` is the k the runs used. Returns the figure.
    """
    ratios, final_accuracy = np.asarray(ratios), np.asarray(final_accuracy)
    if ratios.shape != final_accuracy.shape or ratios.shape[0] != len(weight_decays):
        raise ValueError(f"need ratios and final_accuracy of shape (W={len(weight_decays)}, S), got "
                         f"{ratios.shape} and {final_accuracy.shape}")
    x = np.arange(len(weight_decays))
    fig, axes = plots.grid(1, 2, size=(4.4, 3.2))
    for ax, values, what in [(axes[0, 0], ratios, "dose ratio $D_1 / \\bar D_{2,3}$"),
                             (axes[0, 1], final_accuracy, "final test accuracy")]:
        for s in range(values.shape[1]):
            ax.plot(x, values[:, s], color="C0", alpha=0.35, lw=0.8, marker="o", ms=3)
        ax.plot(x, np.median(values, axis=1), color="C0", lw=2, label="median over seeds")
        ax.set_xticks(x, [f"{w:g}" for w in weight_decays])
        plots.label(ax, "weight decay", what, f"head start k = {head_start:g}: {what.split(' ')[0]}"
                    if ax is axes[0, 0] else f"head start k = {head_start:g}: accuracy at the end")
    axes[0, 0].set_yscale("log"); axes[0, 0].axhline(1, color="grey", ls=":", lw=1)
    axes[0, 0].axhline(9, color="k", ls="--", lw=1, label="the post's ~9x")
    axes[0, 1].axhline(majority, color="k", ls="--", lw=1, label="majority vote")
    axes[0, 1].axhline(single, color="grey", ls=":", lw=1, label="feature 1 alone")
    for ax in axes[0]:
        ax.legend(fontsize=8)
    return fig


def plot_sharing(sizes: np.ndarray, general_dose: np.ndarray, memorizer_dose_by_size: np.ndarray,
                 steps: np.ndarray, norms: np.ndarray, n_groups: int, group_size: np.ndarray, weight_decay: float):
    """Left: dose of general recognizers and of the memorizers of their examples, by group size; right: erosion.

    ``sizes`` (G,) the group sizes; ``general_dose`` (W, S, G) and ``memorizer_dose_by_size``
    (W, S, G) mean dose per group size, without (W = 0) and with (W = 1) weight decay;
    ``steps`` (R,) record steps; ``norms`` (S, R, n_groups + N) :func:`cgnb.chapters.gradient_dosage.models.recognizer_norms`
    under weight decay; ``group_size`` (n_groups,) the size of each group. Returns the figure.
    """
    fig, axes = plots.grid(1, 2, size=(4.6, 3.2))
    ax = axes[0, 0]
    seeds = general_dose.shape[1]
    for w, (label, color) in enumerate([("no weight decay", "C0"), (f"weight decay {weight_decay:g}", "C1")]):
        for s in range(seeds):
            ax.plot(sizes, general_dose[w, s], "o-", color=color, alpha=0.6, label=f"general, {label}" if s == 0 else None)
        for s in range(seeds):
            ax.plot(sizes, memorizer_dose_by_size[w, s], "x--", color=color, alpha=0.6,
                    label=f"memorizers of those examples, {label}" if s == 0 else None)
    ax.set_xscale("log"); ax.set_yscale("log")
    plots.label(ax, "examples sharing the group feature", "dose $D_f$ (summed squared gradient)", "dose grows with sharing")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    ax = axes[0, 1]
    mem_norm = norms[..., n_groups:].mean(-1)
    plots.band(ax, steps, mem_norm / mem_norm[:, :1], label="memorizers (identity)", color="k")
    for g, color in zip(sizes, plots.colors(len(sizes))):
        gn = norms[..., :n_groups][..., group_size == g].mean(-1)
        plots.band(ax, steps, gn / gn[:, :1], label=f"general, shared by {g}", color=color)
    ax.set_xscale("log"); ax.set_yscale("log")
    plots.label(ax, "training step", "recognizer norm / initial norm", f"erosion under weight decay {weight_decay:g}")
    ax.legend(fontsize=7)
    return fig
