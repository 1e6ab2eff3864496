"""Chapter 3's figures: the task's sets, decision boundaries, reliance on x1, dose per input.

Every function takes the numbers the chapter computed and returns the matplotlib figure.

Reference: Pezeshki et al., "Gradient Starvation: A Learning Proclivity in Neural Networks", NeurIPS 2021.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ...engine import plots
from ...engine.losses import Params
from . import models

SET_LABELS = {"x": "training set", "x_neutral": "test: x1 neutralized", "x_permuted": "test: x1 shuffled"}


def grid_points(lim: float = 2.0, n: int = 100) -> tuple[np.ndarray, jax.Array]:
    """An ``n x n`` grid over ``[-lim, lim]^2``: the axis (n,) and the points (n * n, 2), row-major in x2.

    ``logits.reshape(n, n)`` of a model applied to the points has row ``i`` at ``x2 = axis[i]``
    and column ``j`` at ``x1 = axis[j]``, as ``plt.contour(axis, axis, logits)`` expects.

    Raises:
      ValueError: ``n < 2`` or ``lim <= 0``.
    """
    if n < 2 or lim <= 0:
        raise ValueError(f"need n >= 2 and lim > 0, got n={n}, lim={lim}")
    axis = np.linspace(-lim, lim, n, dtype=np.float32)
    g1, g2 = np.meshgrid(axis, axis)
    return axis, jnp.asarray(np.stack([g1.ravel(), g2.ravel()], axis=1))


def _scatter_classes(ax, x: np.ndarray, y: np.ndarray, size: float = 3.0, labels: bool = False) -> None:
    for c, color, label in [(1.0, "C0", "class +1"), (-1.0, "C3", "class -1")]:
        ax.scatter(x[y == c, 0], x[y == c, 1], s=size, color=color, label=label if labels else None)


def plot_task_sets(data: dict[str, jax.Array]):
    """The training set and the two test sets without the linear feature, side by side; returns the figure."""
    fig, axes = plots.grid(1, 3, size=(3.3, 3.2))
    for ax, name in zip(axes[0], SET_LABELS):
        x, y = np.asarray(data[name]), np.asarray(data["y" if name == "x" else "y_test"])
        _scatter_classes(ax, x, y, size=4, labels=True)
        ax.set_xlim(-2, 2); ax.set_ylim(-2, 2)
        plots.label(ax, "$x_1$ (linear feature)", "$x_2$", SET_LABELS[name])
    axes[0, 0].legend(fontsize=8, loc="lower right")
    return fig


def plot_boundaries(params: dict[str, Params], data: dict[str, jax.Array], neutralized: dict[str, np.ndarray],
                    lim: float = 2.0, n: int = 100):
    """Decision boundaries of each variant (columns) over the training set and the neutralized test set (rows).

    ``params[name]`` holds one MLP per seed (leading axis S); the mean logit is shaded (a colour
    bar per top panel), each seed's boundary is thin and the mean's thick. ``neutralized[name]``
    (S,) are the neutralized test accuracies, named with their mean ± std in every panel's title.
    Returns the figure.
    """
    axis, points = grid_points(lim, n)
    names = list(params)
    fig, axes = plots.grid(2, len(names), size=(2.9, 2.8))
    for j, name in enumerate(names):
        logits = np.asarray(jax.vmap(lambda p: models.apply_mlp(p, points))(params[name]))
        logits = logits.reshape(-1, len(axis), len(axis))
        mean_logit = logits.mean(0)
        for row, set_name in enumerate(["x", "x_neutral"]):
            ax = axes[row, j]
            x = np.asarray(data[set_name]); y = np.asarray(data["y" if set_name == "x" else "y_test"])[: len(x)]
            if row == 0:
                top = np.abs(mean_logit).max()
                shade = ax.contourf(axis, axis, mean_logit, 20, cmap="RdBu", vmin=-top, vmax=top, alpha=0.8)
                fig.colorbar(shade, ax=ax, label=f"logit (mean of {len(logits)} seeds)", shrink=0.85)
            for seed_logit in logits:
                ax.contour(axis, axis, seed_logit, [0.0], colors="k", linewidths=0.6, alpha=0.5)
            ax.contour(axis, axis, mean_logit, [0.0], colors="k", linewidths=1.8)
            show = slice(None) if row == 0 else slice(0, 400)
            _scatter_classes(ax, x[show], y[show])
            acc = neutralized[name]
            where = "training set" if row == 0 else "neutralized test set"
            plots.label(ax, "$x_1$", "$x_2$", f"{name} ({where})\nneutralized acc. {acc.mean():.3f} ± {acc.std():.3f}")
    return fig


def plot_reliance(neutralized: dict[str, np.ndarray], histories: dict, steps: int, linear_alone: float):
    """Left: neutralized test accuracy per variant (bar = mean, dots = seeds); right: over training.

    ``neutralized[name]`` (S,); ``histories[name]`` has ``steps`` (S, R) and ``tracked`` (S, R),
    the neutralized accuracy recorded during training; ``linear_alone`` is the accuracy of
    ``sign(-x1)`` on the neutralized set. Returns the figure.
    """
    names = list(neutralized)
    colors = plots.colors(len(names), "tab10")
    fig, axes = plots.grid(1, 2, size=(4.4, 3.2))
    ax = axes[0, 0]
    for j, name in enumerate(names):
        seeds = len(neutralized[name])
        ax.bar(j, neutralized[name].mean(), color=colors[j], alpha=0.6)
        ax.scatter(np.full(seeds, j) + np.linspace(-0.2, 0.2, seeds), neutralized[name], color="k", s=10, zorder=3)
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="chance")
    ax.axhline(linear_alone, color="k", ls="--", lw=1, label="sign of $x_1$ alone")
    ax.set_xticks(range(len(names)), names, rotation=25, ha="right"); ax.set_ylim(0.4, 1.0)
    plots.label(ax, "", "accuracy on the neutralized test set", "which feature is used")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for name, color in zip(names, colors):
        h = histories[name]
        plots.band(ax, np.asarray(h.steps[0]) / steps, np.asarray(h.tracked), label=name, color=color)
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    plots.label(ax, f"training steps / {steps}", "neutralized test accuracy", "over training")
    ax.legend(fontsize=8)
    return fig


def plot_dose_per_input(histories: dict):
    """Cumulative dose of x1 and x2 (left) and their ratio (right) over training, per variant.

    ``histories[name]`` has ``steps`` (S, R) and ``dose`` (S, R, 2). Returns the figure.
    """
    fig, axes = plots.grid(1, 2, size=(4.4, 3.2))
    for name, color in zip(histories, ["C0", "C1", "C2", "C4", "C5"]):
        h = histories[name]
        x_axis = np.asarray(h.steps[0])
        cum = np.cumsum(np.asarray(h.dose), axis=1)          # (seed, record, input)
        plots.band(axes[0, 0], x_axis, cum[..., 0], label=f"{name}: $x_1$", color=color)
        plots.band(axes[0, 0], x_axis, cum[..., 1], label=f"{name}: $x_2$", color=color, ls="--")
        plots.band(axes[0, 1], x_axis, cum[..., 1] / cum[..., 0], label=name, color=color)
    axes[0, 0].set_xscale("log"); axes[0, 1].set_xscale("log")
    plots.label(axes[0, 0], "training step", "cumulative dose $D_{x_i}$", "dose per input")
    plots.label(axes[0, 1], "training step", "dose ratio $D_{x_2} / D_{x_1}$", "share of the moon coordinate")
    axes[0, 0].legend(fontsize=8, loc="center right"); axes[0, 1].legend(fontsize=8)
    return fig
