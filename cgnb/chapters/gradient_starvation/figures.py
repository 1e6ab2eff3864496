"""Chapter 3's figures: the task's sets, decision boundaries, reliance on x1, dose per input.

Every function takes the numbers the chapter computed and returns the matplotlib figure.

Reference: Pezeshki et al., "Gradient Starvation: A Learning Proclivity in Neural Networks", NeurIPS 2021.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.ticker import NullFormatter

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
    plots.legend_outside(fig, "below")
    return fig


def plot_boundaries(params: dict[str, Params], data: dict[str, jax.Array], lim: float = 2.0, n: int = 100,
                    columns: int = 3):
    """Decision boundaries of each variant over the neutralized test set, one panel per variant.

    ``params[name]`` holds one MLP per seed (leading axis S). Each panel shades the probability of
    class +1 given by the mean logit over seeds, on one colour scale for all panels (0 to 1), and
    draws each seed's boundary thin and the mean's thick over the first 400 neutralized test points.
    Returns the figure.
    """
    axis, points = grid_points(lim, n)
    names = list(params)
    rows = -(-len(names) // columns)
    fig, axes = plots.grid(rows, columns, size=(2.3, 2.2), sharex=True, sharey=True)
    norm = plots.shared_norm(np.array([0.0, 1.0]))
    x, y = np.asarray(data["x_neutral"])[:400], np.asarray(data["y_test"])[:400]
    for ax, name in zip(axes.ravel(), names):
        logits = np.asarray(jax.vmap(lambda p: models.apply_mlp(p, points))(params[name]))
        logits = logits.reshape(-1, len(axis), len(axis))
        mean_logit = logits.mean(0)
        ax.contourf(axis, axis, 1.0 / (1.0 + np.exp(-mean_logit)), 20, cmap="RdBu", norm=norm, alpha=0.8)
        for seed_logit in logits:
            ax.contour(axis, axis, seed_logit, [0.0], colors="k", linewidths=0.6, alpha=0.5)
        ax.contour(axis, axis, mean_logit, [0.0], colors="k", linewidths=1.8)
        _scatter_classes(ax, x, y, size=2)
        ax.set_title(name)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("$x_1$")
    for ax in axes[:, 0]:
        ax.set_ylabel("$x_2$")
    plots.shared_colorbar(fig, axes, norm, cmap="RdBu", label="P(class +1), mean logit")
    return fig


def plot_reliance(neutral: dict[str, np.ndarray], histories: dict, steps: int, linear_alone: float):
    """Left: neutralized test accuracy per variant (bar = mean, dots = seeds); right: over training.

    ``neutral[name]`` (S,); ``histories[name]`` has ``steps`` (S, R) and ``tracked`` (S, R),
    the neutralized accuracy recorded during training; ``linear_alone`` is the accuracy of
    ``sign(-x1)`` on the neutralized set. The accuracy axis starts at chance (0.5): below it a
    network would be reading the classes the wrong way round. Returns the figure.
    """
    names = list(neutral)
    colors = plots.colors(len(names), "tab10")
    fig, axes = plots.grid(1, 2, size=(3.0, 2.8))
    ax = axes[0, 0]
    for j, name in enumerate(names):
        seeds = len(neutral[name])
        ax.barh(j, neutral[name].mean() - 0.5, left=0.5, color=colors[j], alpha=0.6)
        ax.scatter(neutral[name], np.full(seeds, j) + np.linspace(-0.2, 0.2, seeds), color="k", s=8, zorder=3)
    ax.axvline(linear_alone, color="k", ls="--", lw=1, label="sign of $x_1$ alone")
    ax.set_yticks(range(len(names)), names); ax.set_xlim(0.5, 1.0); ax.invert_yaxis()
    plots.label(ax, "neutralized test accuracy", "", "at the end")
    ax = axes[0, 1]
    for name, color in zip(names, colors):
        h = histories[name]
        plots.band(ax, np.asarray(h.steps[0]) / steps, np.asarray(h.tracked), label=name, color=color)
    ax.set_xscale("log"); ax.set_ylim(0.5, 1.0); ax.xaxis.set_minor_formatter(NullFormatter())
    plots.label(ax, f"training steps / {steps}", "", "over training")
    plots.legend_outside(fig, "below", ncols=3)
    return fig


def plot_dose_per_input(histories: dict):
    """Cumulative dose of x1 and x2 for plain and SD (left) and the share of x2 for every variant (right).

    ``histories[name]`` has ``steps`` (S, R) and ``dose`` (S, R, 2); the first two names are drawn on
    the left. Returns the figure.
    """
    fig, axes = plots.grid(1, 2, size=(3.0, 2.8))
    names = list(histories)
    for j, (name, color) in enumerate(zip(names, plots.colors(len(names), "tab10"))):
        h = histories[name]
        x_axis = np.asarray(h.steps[0])
        cum = np.cumsum(np.asarray(h.dose), axis=1)          # (seed, record, input)
        if j < 2:
            plots.band(axes[0, 0], x_axis, cum[..., 0], color=color)
            plots.band(axes[0, 0], x_axis, cum[..., 1], color=color, ls="--")
        plots.band(axes[0, 1], x_axis, cum[..., 1] / cum[..., 0], label=name, color=color)
    for ax in axes[0]:
        ax.set_xscale("log"); ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter()); ax.yaxis.set_minor_formatter(NullFormatter())
    plots.label(axes[0, 0], "training step", "cumulative dose", "$x_1$ solid, $x_2$ dashed")
    plots.label(axes[0, 1], "training step", "$D_{x_2} / D_{x_1}$", "share of the moon coordinate")
    plots.legend_outside(fig, "below", ncols=3)
    return fig
