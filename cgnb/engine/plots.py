"""Plot helpers shared by the chapters: one house style, sized for the book's page.

Figures are drawn at 100 dpi on a white background (so they read the same in the site's light
and dark themes), with 11 pt text (10 pt ticks): a figure up to :data:`COLUMN_IN` inches wide is
shown at its natural size in the text column of a 1400 px window, so its labels stay at least
13 px high. A wider grid (up to :data:`WIDE_IN`) is laid out full-width by the book (see
``book/_ext``); :func:`grid` shrinks the panels of anything wider. Colours are colour-blind safe
(Okabe and Ito's palette without its light yellow, orange and sky blue, plus two dark hues; the
dark part of ``plasma`` for ordered series): each has a contrast of at least 3:1 against white.

Reference: Okabe and Ito, "Color Universal Design" (2008); WCAG 2.1 contrast ratio.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler

from . import display

#: Width (inches, at 100 dpi) shown unscaled in the text column at 1400 px.
COLUMN_IN = 7.4
#: Widest figure (inches) the book lays out full-width; wider grids get smaller panels.
WIDE_IN = 10.0
#: Categorical colours (Okabe & Ito 2008, without the colours too light on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#7F6A00", "#5A5A8C")
#: Colormap of ordered series; :func:`colors` uses its dark part (up to red-orange).
SEQUENTIAL = "plasma"

STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.4, 4.0),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 12,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "image.cmap": "viridis",
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


def figure_size(nrows: int, ncols: int, size: tuple[float, float]) -> tuple[float, float]:
    """Figure size (width, height) in inches for ``nrows`` x ``ncols`` panels of ``size`` each.

    The width is capped at :data:`WIDE_IN`; panels of a wider grid shrink, keeping their aspect.
    """
    if nrows < 1 or ncols < 1:
        raise ValueError(f"a grid needs at least one row and one column, got {nrows} x {ncols}")
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"panel size must be positive (width, height) in inches, got {size}")
    shrink = min(1.0, WIDE_IN / (size[0] * ncols))
    return size[0] * ncols * shrink, size[1] * nrows * shrink


def grid(nrows: int, ncols: int, *, size: tuple[float, float] = (3.2, 2.6), **kwargs):
    """``plt.subplots`` with a per-panel size (see :func:`figure_size`); always a 2-D array of axes."""
    fig, axes = plt.subplots(nrows, ncols, figsize=figure_size(nrows, ncols, size), squeeze=False,
                             constrained_layout=True, **kwargs)
    return fig, axes


def label(ax: plt.Axes, x: str, y: str, title: str | None = None) -> None:
    """Set axis labels (with units) and an optional title."""
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title)


def colors(n: int, cmap: str | None = None) -> Sequence:
    """``n`` colours, each with a contrast of at least 3:1 against white.

    ``cmap=None``: ordered colours along the dark part of ``plasma``. A sequential colormap name
    (e.g. ``"viridis"``): spaced from its dark end up to where it becomes too light for white.
    A qualitative one (e.g. ``"tab10"``): the book's :data:`PALETTE`, repeated if ``n`` is larger.
    """
    if n < 1:
        raise ValueError(f"colors needs n >= 1, got {n}")
    cmap = SEQUENTIAL if cmap is None else cmap
    if cmap not in mpl.colormaps:
        raise ValueError(f"unknown colormap {cmap!r}")
    colormap = mpl.colormaps[cmap]
    if isinstance(colormap, mpl.colors.ListedColormap) and colormap.N <= 20:
        return [PALETTE[i % len(PALETTE)] for i in range(n)]
    grid_ = np.linspace(0.0, 1.0, 101)
    dark_end = 0.0 if contrast(colormap(0.0)) >= contrast(colormap(1.0)) else 1.0
    usable = [abs(v - dark_end) for v in grid_ if contrast(colormap(v)) >= 3.0]
    reach = max(usable) if usable else 0.0
    spots = np.linspace(0.0, reach, n)
    return [colormap(abs(dark_end - v)) for v in spots]


def contrast(color, background="white") -> float:
    """WCAG contrast ratio of ``color`` against ``background`` (1 to 21)."""
    def luminance(c) -> float:
        channels = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in mpl.colors.to_rgb(c)]
        return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]

    a, b = sorted((luminance(color), luminance(background)))
    return (b + 0.05) / (a + 0.05)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown pipe table (the book renders it as an HTML table that wraps at any width).

    Args:
      header: the column titles.
      rows: one sequence of cells per row (formatted with ``str``), each as long as ``header``.
    """
    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"every row must have {len(header)} cells (one per column of {list(header)})")

    def cells(values):
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    return "\n".join([cells(header), "|" + "---|" * len(header), *(cells(row) for row in rows)])


def show_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Show :func:`markdown_table` as a table in a notebook; print it as text elsewhere."""
    display.show_markdown(markdown_table(header, rows))
