"""Chapter 2's figures: scaling responses, the width-3 toy, random toys, depth, output errors.

Every function takes the numbers the chapter computed and returns the matplotlib figure; none
computes a gradient. Layers are counted from 1 in labels, from 0 in indices.

Reference: "Grokking gradients in deep neural networks" (article summary).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ...engine import plots

SCALING_TITLES = {"input": "scale the input X", "error": "scale the error Ŷ−Y",
                  "other": "scale another layer's W", "own": "scale the layer's own W"}


def plot_scaling_responses(responses: Mapping[tuple, object], scales: Sequence[float], n_layers: int,
                           exponents: Mapping[str, int]):
    """How each factor of a layer's weight gradient scales the gradient's norm, one panel per factor.

    ``responses[factor, layer, other, kind]``: objects with ``scales`` (K,) and ``norm_ratio``
    (K,), ``kind`` ``"fixed"`` (error held fixed) or ``"true"`` (error follows the network);
    ``other`` is the scaled layer for ``factor == "other"`` (the next one is shown), else None.
    ``exponents[factor]``: the predicted ratio is ``s ** exponent``. Returns the figure.
    """
    fig, axes = plots.grid(1, len(exponents), size=(3.1, 3.0), sharey=True)
    layer_colors = plots.colors(n_layers, "plasma")
    s_grid = np.asarray(scales)
    for ax, factor in zip(axes[0], exponents):
        k = exponents[factor]
        ax.plot(s_grid, s_grid ** k, color="black", lw=6, alpha=0.15,
                label="prediction: ratio = s" if k else "prediction: ratio = 1")
        for layer in range(n_layers):
            other = (layer + 1) % n_layers if factor == "other" else None
            r = responses[factor, layer, other, "fixed"]
            ax.plot(r.scales, r.norm_ratio, "o", ms=7 - 1.3 * layer, color=layer_colors[layer],
                    label=f"layer {layer + 1}, error fixed")
            if (factor, layer, other, "true") in responses:
                t = responses[factor, layer, other, "true"]
                ax.plot(t.scales, t.norm_ratio, "--", color=layer_colors[layer], lw=1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        plots.label(ax, "scaling factor s", "‖dW(s)‖ / ‖dW(1)‖" if factor == "input" else "", SCALING_TITLES[factor])
    axes[0][2].text(0.12, 4, "other = next layer\n(last layer: first)", fontsize=8)
    axes[0][0].plot([], [], "k--", lw=1.2, label="error follows the network")
    axes[0][0].legend(fontsize=7.5, loc="upper left")
    fig.suptitle("Each factor of a layer's weight gradient, scaled by s (4-layer MLP on MNIST, at initialisation)")
    return fig


def plot_toy_gradients(full: Sequence[np.ndarray], off: Sequence[np.ndarray], energy: Sequence[float]):
    """The width-3 toy's weight gradients (3, 3) per layer, all units active (top) and one unit off (bottom).

    ``energy[l]`` is the squared-norm ratio of layer l (off / full), shown in the bottom titles.
    Returns the figure.
    """
    fig, axes = plots.grid(2, len(full), size=(2.3, 2.3))
    for row, grads in enumerate((full, off)):
        for l, g in enumerate(grads):
            ax = axes[row][l]
            g = np.abs(np.asarray(g)) + 0.0
            ax.imshow(g, cmap="viridis", vmin=0, vmax=27)
            for (i, j), v in np.ndenumerate(g):
                ax.text(j, i, f"{v:g}", ha="center", va="center", color="white" if v < 14 else "black", fontsize=10)
            ax.set_xticks(range(3), [f"{j + 1}" for j in range(3)])
            ax.set_yticks(range(3), [f"{i + 1}" for i in range(3)])
            ax.grid(False)
            state = "all units active" if row == 0 else "unit 2 of hidden layer 2 off"
            plots.label(ax, "output unit of the layer", "input unit" if l == 0 else "",
                        f"dL/dW{l + 1}\n{state}" if row == 0 else f"dL/dW{l + 1}, norm² ×{energy[l]:.3f}")
    fig.suptitle("Width-3 toy (all weights, inputs and errors 1): gradient entries = number of active paths")
    return fig


def plot_random_toys(toys: Mapping[str, Mapping[str, np.ndarray]], far: Sequence[int], rho_line: np.ndarray,
                     predicted_line: np.ndarray, toy_seeds: int):
    """Left: norm² kept against the spread rho of the unit contributions, with the predicted line; right: histogram.

    ``toys[family]`` holds ``rho`` and ``mean_ratio`` (seeds, layers) for the families
    ``"positive"`` and ``"zero_mean"``; ``far`` the layers away from the silenced unit;
    ``predicted_line`` the predicted ratio at ``rho_line``. Returns the figure.
    """
    fig, axes = plots.grid(1, 2, size=(4.6, 3.4))
    ax = axes[0][0]
    ax.plot(rho_line, predicted_line, color="black", lw=1, label="1/3 + ρ/3")
    markers = {"positive": ("o", "tab:orange"), "zero_mean": ("^", "tab:blue")}
    for family, r in toys.items():
        m, c = markers[family]
        ax.scatter(r["rho"][:, far].ravel(), r["mean_ratio"][:, far].ravel(), s=8, marker=m, color=c, alpha=0.5,
                   label=f"{family} weights, layers W1, W4")
    ax.scatter(toys["positive"]["rho"][:, 1:3].ravel(), toys["positive"]["mean_ratio"][:, 1:3].ravel(), s=40,
               marker="s", facecolor="none", edgecolor="black", label="layers W2, W3 (both families)")
    for level in (4 / 9, 2 / 3):
        ax.axhline(level, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(0.3, 10)
    ax.set_ylim(0.4, 3.0)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plt.FormatStrFormatter("%g"))
        axis.set_minor_formatter(plt.NullFormatter())
    ax.set_yticks([0.4, 4 / 9, 0.5, 2 / 3, 1, 2, 3], ["0.4", "4/9", "0.5", "2/3", "1", "2", "3"])
    ax.set_xticks([1 / 3, 0.5, 1, 2, 5, 10], ["1/3", "0.5", "1", "2", "5", "10"])
    plots.label(ax, "spread of unit contributions ρ", "norm² kept, mean over silenced unit",
                "every toy lies on the line")
    ax.legend(fontsize=7.5, loc="upper left")
    ax = axes[0][1]
    bins = np.linspace(0.4, 1.2, 41)
    for family, r in toys.items():
        ax.hist(np.clip(r["mean_ratio"][:, far].ravel(), 0.4, 1.2), bins=bins, alpha=0.6, color=markers[family][1],
                label=f"{family} weights")
    for level in (4 / 9, 2 / 3):
        ax.axvline(level, color="grey", ls=":", lw=1)
    plots.label(ax, "norm² kept by layers W1 and W4 (clipped at 1.2)", "number of toy layers",
                f"{toy_seeds} random toys per family")
    ax.legend(fontsize=8)
    return fig


def plot_depth_sweep(depths: Sequence[int], sweep: Mapping[str, np.ndarray], w_scales: Sequence[float],
                     predicted: np.ndarray, title: str):
    """First-layer gradient against depth: per-example RMS, batch gradient, and their coherence.

    ``sweep["log_example_rms"]`` and ``sweep["log_norm"]``: (scales, seeds, depths) natural logs;
    ``predicted`` (scales,) the predicted slope in nats per layer, drawn through each mean.
    Returns the figure.
    """
    fig, axes = plots.grid(1, 3, size=(3.6, 3.3))
    scale_colors = plots.colors(len(w_scales), "viridis")
    d = np.asarray(depths)
    for i, s in enumerate(w_scales):
        for ax, key_name in ((axes[0][0], "log_example_rms"), (axes[0][1], "log_norm")):
            ys = sweep[key_name][i] / np.log(10)
            plots.band(ax, d, ys, label=f"w_scale {s:g}", color=scale_colors[i], marker="o", ms=4, ls="none")
            centre = ys.mean()
            ax.plot(d, centre + predicted[i] / np.log(10) * (d - d.mean()), "-", color=scale_colors[i], lw=1.2)
        coherence = 2 * (sweep["log_norm"][i] - sweep["log_example_rms"][i])     # log of |mean g|² / mean |g|²
        plots.band(axes[0][2], d, np.exp(coherence), label=f"w_scale {s:g}", color=scale_colors[i], marker="o", ms=3)
    axes[0][0].plot([], [], "k-", lw=1.2, label="predicted slope ½ log(p n σ²)")
    axes[0][0].plot([], [], "ko", ms=4, label="measured (band: seeds)")
    plots.label(axes[0][0], "depth L (weight layers)", "log10 RMS per-example ‖∂ℓ/∂W1‖", "each example's push")
    plots.label(axes[0][1], "depth L (weight layers)", "log10 ‖∂L/∂W1‖ of the batch mean", "the batch gradient")
    plots.label(axes[0][2], "depth L (weight layers)", "coherence ‖mean g‖² / mean ‖g‖²",
                "agreement of the examples' pushes")
    axes[0][2].set_yscale("log")
    axes[0][0].legend(fontsize=7.5)
    fig.suptitle(title)
    return fig


def plot_output_errors(gaps: Mapping[str, float], z_line: np.ndarray, matched: np.ndarray, mismatched: np.ndarray):
    """Left: largest |jax.grad - (Yhat - Y)| per output loss; right: |dl/dz| of a matched and a mismatched pair.

    ``gaps[loss]`` for ``"softmax_ce"``, ``"sigmoid_bce"``, ``"squared"``; ``matched`` and
    ``mismatched`` (Z,) the output gradients at the logits ``z_line`` (Z,). Returns the figure.
    """
    fig, axes = plots.grid(1, 2, size=(4.2, 3.2))
    ax = axes[0][0]
    names = {"softmax_ce": "softmax +\ncross-entropy", "sigmoid_bce": "sigmoid +\nbinary CE",
             "squared": "identity +\nsquared error"}
    values = [max(v, 1e-10) for v in gaps.values()]
    bars = ax.bar([names[k] for k in gaps], values, color=plots.colors(3, "viridis"))
    for bar, v in zip(bars, gaps.values()):
        ax.text(bar.get_x() + bar.get_width() / 2, max(v, 1e-10) * 1.5, f"{v:.1e}" if v else "0 (exact)",
                ha="center", va="bottom", fontsize=8)
    ax.axhline(np.finfo(np.float32).eps, color="grey", ls=":", label="float32 resolution")
    ax.axhline(1e-5, color="black", ls="--", lw=1, label="tolerance")
    ax.set_yscale("log")
    ax.set_ylim(1e-10, 1e-4)
    plots.label(ax, "", "max |∂ℓ/∂z − (Ŷ − Y)| (512 × 10 logits)", "jax.grad vs Ŷ − Y")
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[0][1]
    ax.plot(z_line, np.abs(matched), label="sigmoid + binary CE: |ŷ − y|")
    ax.plot(z_line, np.abs(mismatched), label="sigmoid + squared error: |ŷ − y| σ′(z)")
    plots.label(ax, "logit z (target y = 1)", "|∂ℓ/∂z|", "a wrong, confident output")
    ax.legend(fontsize=8, loc="center right", bbox_to_anchor=(1.0, 0.62))
    return fig
