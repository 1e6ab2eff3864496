"""Chapter 2's figures: scaling responses, the width-3 toy, random toys, depth, output errors.

Every function takes the numbers the chapter computed and returns the matplotlib figure; none
computes a gradient. Layers are counted from 1 in labels, from 0 in indices. The figures follow the
book's standard (:mod:`cgnb.engine.plots`): sized to the column, legends outside the data.

Reference: "Grokking gradients in deep neural networks" (article summary).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ...engine import plots

SCALING_TITLES = {"input": "the input X", "error": "the error Ŷ − Y",
                  "other": "the next layer's W", "own": "the layer's own W"}
FAMILY_STYLE = {"positive": ("o", plots.PALETTE[1]), "zero_mean": ("^", plots.PALETTE[0])}


def plot_scaling_responses(responses: Mapping[tuple, object], n_layers: int, exponents: Mapping[str, int]):
    """How each factor of a layer's weight gradient scales the gradient's norm, one panel per factor.

    ``responses[factor, layer, other, kind]``: objects with ``scales`` (K,) and ``norm_ratio``
    (K,), ``kind`` ``"fixed"`` (error held fixed) or ``"true"`` (error follows the network);
    ``other`` is the scaled layer for ``factor == "other"`` (the next one is shown, the first for
    the last layer), else None. ``exponents[factor]``: the predicted ratio is ``s ** exponent``.
    Returns the figure (legend below the panels).
    """
    fig, axes = plots.grid(1, len(exponents), size=(1.85, 2.3), sharey=True)
    layer_colors = plots.colors(n_layers)
    for ax, factor in zip(axes[0], exponents):
        s = responses[factor, 0, 1 if factor == "other" else None, "fixed"].scales
        ax.plot(s, s ** exponents[factor], color="black", lw=6, alpha=0.15, label="prediction (error fixed)")
        for layer in range(n_layers):
            other = (layer + 1) % n_layers if factor == "other" else None
            r = responses[factor, layer, other, "fixed"]
            ax.plot(r.scales, r.norm_ratio, "o", ms=6 - layer, color=layer_colors[layer], label=f"layer {layer + 1}")
            if (factor, layer, other, "true") in responses:
                t = responses[factor, layer, other, "true"]
                ax.plot(t.scales, t.norm_ratio, "--", color=layer_colors[layer], lw=1.1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        plots.label(ax, "factor s", "‖dW(s)‖ / ‖dW(1)‖" if factor == "input" else "", SCALING_TITLES[factor])
        ax.title.set_fontsize(10)
    axes[0][0].plot([], [], "k--", lw=1.1, label="error follows the network")
    plots.legend_outside(fig, "below", fontsize=9)
    return fig


def plot_toy_gradients(full: Sequence[np.ndarray], off: Sequence[np.ndarray], energy: Sequence[float]):
    """The width-3 toy's weight gradients (3, 3) per layer, all units active (top) and one unit off (bottom).

    ``energy[l]`` is the squared-norm ratio of layer l (off / full), shown under the bottom panels.
    Returns the figure.
    """
    fig, axes = plots.grid(2, len(full), size=(1.75, 1.9))
    top = max(float(np.max(np.abs(g))) for g in full)
    for row, grads in enumerate((full, off)):
        for l, g in enumerate(grads):
            ax = axes[row][l]
            g = np.abs(np.asarray(g)) + 0.0
            ax.imshow(g, cmap="viridis", vmin=0, vmax=top)
            for (i, j), v in np.ndenumerate(g):
                ax.text(j, i, f"{v:g}", ha="center", va="center", color="white" if v < top / 2 else "black",
                        fontsize=9)
            ax.set_xticks(range(3), [f"{j + 1}" for j in range(3)])
            ax.set_yticks(range(3), [f"{i + 1}" for i in range(3)])
            ax.tick_params(labelsize=8)
            ax.grid(False)
            ax.set_title(f"dL/dW{l + 1}" + ("" if row == 0 else f"\nnorm² × {energy[l]:.3g}"), fontsize=10)
        axes[row][0].set_ylabel("all active" if row == 0 else "unit 2 of layer 2 off", fontsize=9)
    return fig


def plot_random_toys(toys: Mapping[str, Mapping[str, np.ndarray]], far: Sequence[int], rho_line: np.ndarray,
                     predicted_line: np.ndarray):
    """Left: norm² kept against the spread rho of the unit contributions, with the predicted line; right: histogram.

    ``toys[family]`` holds ``rho`` and ``mean_ratio`` (seeds, layers) for the families
    ``"positive"`` and ``"zero_mean"``; ``far`` the layers away from the silenced unit;
    ``predicted_line`` the predicted ratio at ``rho_line``. Returns the figure (legend below).
    """
    fig, axes = plots.grid(1, 2, size=(3.5, 3.0))
    ax = axes[0][0]
    ax.plot(rho_line, predicted_line, color="black", lw=1, label="1/3 + ρ/3")
    near = [l for l in range(toys["positive"]["rho"].shape[1]) if l not in far]
    for family, r in toys.items():
        m, c = FAMILY_STYLE[family]
        ax.scatter(r["rho"][:, far].ravel(), r["mean_ratio"][:, far].ravel(), s=8, marker=m, color=c, alpha=0.5,
                   label=f"{family.replace('_', '-')} weights, far layers")
    ax.scatter(toys["positive"]["rho"][:, near].ravel(), toys["positive"]["mean_ratio"][:, near].ravel(), s=40,
               marker="s", facecolor="none", edgecolor="black", label="layers touching the unit")
    for level in (4 / 9, 2 / 3):
        ax.axhline(level, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(0.3, 10)
    ax.set_ylim(0.4, 3.0)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(plt.NullFormatter())
    ax.set_yticks([4 / 9, 2 / 3, 1, 2, 3], ["4/9", "2/3", "1", "2", "3"])
    ax.set_xticks([1 / 3, 1, 3, 10], ["1/3", "1", "3", "10"])
    plots.label(ax, "spread ρ of the units' contributions", "norm² kept (mean over the unit)")
    ax = axes[0][1]
    bins = np.linspace(0.4, 1.2, 33)
    for family, r in toys.items():
        ax.hist(np.clip(r["mean_ratio"][:, far].ravel(), 0.4, 1.2), bins=bins, alpha=0.6, color=FAMILY_STYLE[family][1])
    for level in (4 / 9, 2 / 3):
        ax.axvline(level, color="grey", ls=":", lw=1)
    ax.set_xticks([4 / 9, 2 / 3, 1.0], ["4/9", "2/3", "1"])
    plots.label(ax, "norm² kept by the far layers (≤ 1.2)", "toy layers")
    plots.legend_outside(fig, "below", fontsize=9, ncols=2)
    return fig


def plot_depth_sweep(depths: Sequence[int], sweep: Mapping[str, np.ndarray], w_scales: Sequence[float],
                     predicted: np.ndarray):
    """First-layer gradient against depth: per-example RMS, batch gradient, and their coherence.

    ``sweep["log_example_rms"]`` and ``sweep["log_norm"]``: (scales, seeds, depths) natural logs;
    ``predicted`` (scales,) the predicted slope in nats per layer, drawn through each mean.
    Returns the figure (legend below).
    """
    fig, axes = plots.grid(1, 3, size=(2.45, 2.5))
    scale_colors = plots.colors(len(w_scales))
    d = np.asarray(depths)
    for i, s in enumerate(w_scales):
        for ax, key_name in ((axes[0][0], "log_example_rms"), (axes[0][1], "log_norm")):
            ys = sweep[key_name][i] / np.log(10)
            plots.band(ax, d, ys, label=f"weight scale {s:g}", color=scale_colors[i], marker="o", ms=3, ls="none")
            ax.plot(d, ys.mean() + predicted[i] / np.log(10) * (d - d.mean()), "-", color=scale_colors[i], lw=1.1)
        coherence = np.exp(2 * (sweep["log_norm"][i] - sweep["log_example_rms"][i]))   # |mean g|² / mean |g|²
        plots.band(axes[0][2], d, coherence, color=scale_colors[i], marker="o", ms=3)
    axes[0][0].plot([], [], "k-", lw=1.1, label="predicted slope ½ log(p n σ²)")
    plots.label(axes[0][0], "depth L", "log10 ‖∂ℓ/∂W1‖ (RMS)", "each example's push")
    plots.label(axes[0][1], "depth L", "log10 ‖∂L/∂W1‖", "the batch gradient")
    plots.label(axes[0][2], "depth L", "coherence", "agreement of the pushes")
    axes[0][2].set_yscale("log")
    axes[0][2].yaxis.set_minor_formatter(plt.NullFormatter())
    for ax in axes[0]:
        ax.title.set_fontsize(10)
    plots.legend_outside(fig, "below", fontsize=9)
    return fig


def plot_depth_slopes(slopes: Mapping[str, np.ndarray], w_scales: Sequence[float], tolerance: float):
    """Fitted per-layer slope of each network against its predicted slope, corrected and literal.

    ``slopes["fitted"]``, ``["predicted"]``, ``["literal"]``: (scales, seeds) in nats per layer;
    the band ``|fitted - predicted| <= tolerance`` around the diagonal is shaded. Returns the figure.
    """
    fig, axes = plots.grid(1, 1, size=(5.8, 3.6))
    ax = axes[0][0]
    scale_colors = plots.colors(len(w_scales))
    every = np.concatenate([slopes[k].ravel() for k in ("fitted", "predicted", "literal")])
    line = np.array([every.min() - 0.1, every.max() + 0.1])
    ax.fill_between(line, line - tolerance, line + tolerance, color="grey", alpha=0.25, lw=0,
                    label=f"± {tolerance:g} nats/layer")
    ax.plot(line, line, color="black", lw=0.8)
    for i, s in enumerate(w_scales):
        ax.scatter(slopes["predicted"][i], slopes["fitted"][i], color=scale_colors[i], s=22,
                   label=f"weight scale {s:g}")
        ax.scatter(slopes["literal"][i], slopes["fitted"][i], facecolor="none", edgecolor=scale_colors[i], s=22)
    ax.scatter([], [], facecolor="none", edgecolor="black", s=22, label="literal (gain × p)")
    ax.scatter([], [], color="black", s=22, label="corrected ½ log(p n σ²)")
    ax.set_xlim(*line)
    ax.set_ylim(*line)
    ax.set_box_aspect(1)
    plots.label(ax, "predicted slope (nats/layer)", "fitted slope (nats/layer)")
    plots.legend_outside(ax, "right", fontsize=9)
    return fig


def plot_output_errors(gaps: Mapping[str, float], tolerance: float, z_line: np.ndarray, matched: np.ndarray,
                       mismatched: np.ndarray):
    """Left: largest |jax.grad - (Yhat - Y)| per output loss; right: |dl/dz| of a matched and a mismatched pair.

    ``gaps[loss]`` for ``"softmax_ce"``, ``"sigmoid_bce"``, ``"squared"``; ``matched`` and
    ``mismatched`` (Z,) the output gradients at the logits ``z_line`` (Z,). Returns the figure.
    """
    fig, axes = plots.grid(1, 2, size=(3.6, 3.0))
    ax = axes[0][0]
    names = {"softmax_ce": "softmax\n+ CE", "sigmoid_bce": "sigmoid\n+ BCE", "squared": "identity\n+ squared"}
    floor = 1e-10
    bars = ax.bar([names[k] for k in gaps], [max(v, floor) for v in gaps.values()], color=plots.colors(3))
    for bar, v in zip(bars, gaps.values()):
        ax.text(bar.get_x() + bar.get_width() / 2, max(v, floor) * 1.5, f"{v:.1e}" if v else "0",
                ha="center", va="bottom", fontsize=8)
    ax.axhline(np.finfo(np.float32).eps, color="grey", ls=":", label="float32 resolution")
    ax.axhline(tolerance, color="black", ls="--", lw=1, label="tolerance")
    ax.set_yscale("log")
    ax.set_ylim(floor, 1e-3)
    ax.tick_params(axis="x", labelsize=9)
    plots.label(ax, "", "max |∂ℓ/∂z − (Ŷ − Y)|")
    ax.legend(fontsize=8, loc="upper left", ncols=2)
    ax = axes[0][1]
    ax.plot(z_line, matched, label="sigmoid + BCE")
    ax.plot(z_line, mismatched, label="sigmoid + squared")
    ax.set_ylim(0, 1.5)
    plots.label(ax, "logit z (target y = 1)", "|∂ℓ/∂z|")
    ax.legend(fontsize=8, loc="upper right")
    return fig
