"""Plot helpers shared by the chapters: one house style (white PNG, readable on a dark theme)."""
from __future__ import annotations

from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
    "legend.frameon": False,
}


def use_style() -> None:
    """Apply the book's style and make inline figures PNG on a white background."""
    mpl.rcParams.update(STYLE)
    try:  # inside IPython: PNG output, so the site shows <img> figures
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except Exception:  # noqa: BLE001 - outside a notebook there is nothing to configure
        pass


def band(ax: plt.Axes, x: np.ndarray, ys: np.ndarray, label: str | None = None, color=None, **kwargs):
    """Plot the mean of ``ys`` (S, T) over seeds against ``x`` (T,) with a min-max band."""
    ys = np.asarray(ys)
    if ys.ndim == 1:
        ys = ys[None]
    (line,) = ax.plot(x, ys.mean(0), label=label, color=color, **kwargs)
    if len(ys) > 1:
        ax.fill_between(x, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def grid(nrows: int, ncols: int, *, size: tuple[float, float] = (3.2, 2.6), **kwargs):
    """``plt.subplots`` with a per-panel size; always returns a 2-D array of axes."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False,
                             constrained_layout=True, **kwargs)
    return fig, axes


def label(ax: plt.Axes, x: str, y: str, title: str | None = None) -> None:
    """Set axis labels (with units) and an optional title."""
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title)


def colors(n: int, cmap: str = "viridis") -> Sequence:
    """``n`` colours spaced along a colormap."""
    return [mpl.colormaps[cmap](v) for v in np.linspace(0.05, 0.9, n)]
