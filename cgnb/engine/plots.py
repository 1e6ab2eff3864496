"""Plot helpers shared by the chapters: one house style, sized for the book's text column.

The standard every figure of the book follows (Coherent Gradients NoteBook, issue "findings first"):

* **Resolution**: laid out at 100 dpi with 11 pt text (10 pt ticks) and written as PNG at twice that
  (200 dpi, :data:`EXPORT_DPI`) with its display size in the output's metadata, so it is sharp on
  high-density screens and shown at the laid-out size.
* **Width**: at most :data:`COLUMN_IN` inches, the text column of a 1400 px window (the book's
  ``COLUMN_PX``); :func:`grid`, :func:`paired` and :func:`figure_size` shrink wider grids to it, so a
  figure never spills past the column (which would hide the page's contents list).
* **Legends** are framed (:data:`STYLE`); :func:`legend_outside` puts one outside the data, right
  of or below the panels.
* **Compared panels share one colour scale** (:func:`shared_norm`, one :func:`shared_colorbar`)
  and paired runs (a quick run beside a stored run) sit side by side with shared axes (:func:`paired`).
* :func:`problems` lists what breaks the standard in a drawn figure (overprinted labels, a legend
  over the data, too wide); a chapter's tests assert it is empty for each figure.

Figures are drawn on a white background (so they read the same in the site's light and dark
themes). Colours are colour-blind safe (Okabe and Ito's palette without its light yellow, orange and
sky blue, plus two dark hues; the dark part of ``plasma`` for ordered series): each has a contrast
of at least 3:1 against white.

Reference: Okabe and Ito, "Color Universal Design" (2008); WCAG 2.1 contrast ratio.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler

from . import display

#: Width (inches, at 100 dpi) shown unscaled in the text column at 1400 px: the widest a figure gets.
COLUMN_IN = 7.4
#: Widest figure (inches) the book still lays out full-width, over the page's contents; avoid it.
WIDE_IN = 10.0
#: Resolution of the figures written for the book (twice the layout's 100 dpi).
EXPORT_DPI = 200
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
    "savefig.dpi": EXPORT_DPI,
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
    "legend.frameon": True,
    "legend.framealpha": 0.92,
    "legend.edgecolor": "#bbbbbb",
    "legend.fancybox": False,
    "lines.linewidth": 1.8,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Apply the book's style; inline figures become PNGs at twice the layout's resolution."""
    mpl.rcParams.update(STYLE)
    try:  # inside IPython: 2x PNG with its display size (the site shows <img> figures at that size)
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
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


def figure_size(nrows: int, ncols: int, size: tuple[float, float], max_width: float = COLUMN_IN
                ) -> tuple[float, float]:
    """Figure size (width, height) in inches for ``nrows`` x ``ncols`` panels of ``size`` each.

    The width is capped at ``max_width`` (the text column); panels of a wider grid shrink,
    keeping their aspect.
    """
    if nrows < 1 or ncols < 1:
        raise ValueError(f"a grid needs at least one row and one column, got {nrows} x {ncols}")
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"panel size must be positive (width, height) in inches, got {size}")
    shrink = min(1.0, max_width / (size[0] * ncols))
    return size[0] * ncols * shrink, size[1] * nrows * shrink


def grid(nrows: int, ncols: int, *, size: tuple[float, float] = (3.2, 2.6), max_width: float = COLUMN_IN,
         **kwargs):
    """``plt.subplots`` with a per-panel size (see :func:`figure_size`); always a 2-D array of axes."""
    fig, axes = plt.subplots(nrows, ncols, figsize=figure_size(nrows, ncols, size, max_width), squeeze=False,
                             constrained_layout=True, **kwargs)
    return fig, axes


def paired(titles: Sequence[str] = ("this run", "stored run"), *, size: tuple[float, float] = (3.6, 2.8),
           sharex: bool = False, sharey: bool = True, rows: int = 1):
    """Side-by-side panels for the same plot of two (or more) runs, e.g. the quick run beside a
    stored run: one row of ``len(titles)`` panels at the same size, titled, with shared axes.

    Args:
      titles: one title per run, left to right.
      size: each panel's (width, height) in inches before the grid is fitted to the column.
      sharex: share the x axis (False when the runs span different step counts; give each the
        same scale, e.g. both logarithmic, instead).
      sharey: share the y axis, so the runs' levels compare at a glance.
      rows: rows of such pairs (e.g. one per noise level).

    Returns:
      ``(fig, axes)``, axes of shape (rows, len(titles)).
    """
    if not titles:
        raise ValueError("paired needs at least one title (one per run)")
    fig, axes = grid(rows, len(titles), size=size, sharex=sharex, sharey=sharey)
    for ax, title in zip(axes[0], titles):
        ax.set_title(title)
    return fig, axes


def shared_norm(*arrays, symmetric: bool = False, quantile: float = 1.0) -> mpl.colors.Normalize:
    """One colour scale for panels that are compared: the range of all ``arrays`` together.

    Args:
      arrays: the values each panel shows (any shapes; NaNs ignored).
      symmetric: centre the scale on 0 (``[-m, m]``), e.g. for a signed decision function.
      quantile: use this quantile of the absolute values (or of the range) instead of the extremes,
        so a few outliers do not wash out the rest (1.0: the extremes).

    Raises:
      ValueError: no finite value, or ``quantile`` outside (0, 1].
    """
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.array([])
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("shared_norm needs at least one finite value")
    if symmetric:
        m = float(np.quantile(np.abs(values), quantile)) or 1.0
        return mpl.colors.Normalize(-m, m)
    low, high = (float(np.quantile(values, 1.0 - quantile)), float(np.quantile(values, quantile)))
    return mpl.colors.Normalize(low, high if high > low else low + 1.0)


def shared_colorbar(fig: plt.Figure, axes, norm: mpl.colors.Normalize, cmap: str = "RdBu_r", label: str = ""):
    """One colour bar for all ``axes`` (drawn with ``norm`` and ``cmap``), right of the panels."""
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    bar = fig.colorbar(mappable, ax=np.asarray(axes).ravel().tolist(), shrink=0.9, pad=0.02)
    if label:
        bar.set_label(label)
    return bar


def legend_outside(target, where: str = "right", **kwargs):
    """A framed legend outside the data: right of the panels or below them.

    Args:
      target: an Axes (its own handles) or a Figure (the handles of all its axes, each label once).
      where: ``"right"`` or ``"below"``.
    """
    if where not in ("right", "below"):
        raise ValueError(f"where is 'right' or 'below', got {where!r}")
    axes = target.axes if isinstance(target, plt.Figure) else [target]
    handles, labels = {}, []
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            if text not in handles:
                handles[text] = handle
                labels.append(text)
    place = ({"loc": "center left", "bbox_to_anchor": (1.01, 0.5)} if where == "right"
             else {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2), "ncols": min(len(labels), 4)})
    if isinstance(target, plt.Figure):
        place = {"loc": "outside right center"} if where == "right" else {
            "loc": "outside lower center", "ncols": min(len(labels), 4)}
    return target.legend([handles[t] for t in labels], labels, **{**place, **kwargs})


def _texts(fig: plt.Figure) -> list[mpl.text.Text]:
    """The figure's visible, non-empty texts outside legends: titles, axis and tick labels, texts."""
    texts = list(fig.texts) + [t for t in (getattr(fig, name, None) for name in ("_suptitle", "_supxlabel", "_supylabel"))
                               if t is not None]
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            texts += [axis.label, axis.get_offset_text(), *_drawn_ticklabels(axis)]
    unique = list({id(t): t for t in texts}.values())  # a suptitle or supxlabel is also in fig.texts
    return [t for t in unique if t.get_visible() and t.get_text().strip()]


def _drawn_ticklabels(axis) -> list[mpl.text.Text]:
    """The tick labels of ``axis`` inside its view interval (the others exist but are not drawn)."""
    low, high = sorted(axis.get_view_interval())
    slack = 1e-9 * max(1.0, abs(high - low))
    labels = []
    for locs, texts in ((axis.get_majorticklocs(), axis.get_majorticklabels()),
                        (axis.get_minorticklocs(), axis.get_minorticklabels())):
        labels += [t for loc, t in zip(locs, texts) if low - slack <= loc <= high + slack]
    return labels


def problems(fig: plt.Figure) -> list[str]:
    """What breaks the book's figure standard in ``fig`` (drawn first): one line per problem.

    * two texts (tick labels, axis labels, titles, colour-bar labels) printed over each other;
    * an axes' legend that covers data points of its lines or scatter;
    * a figure wider than the column (:data:`COLUMN_IN`, with its outside legends).

    A chapter's figure tests assert ``plots.problems(fig) == []``.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    page = fig.bbox.padded(2)
    boxes = [(t.get_text().strip(), t.get_window_extent(renderer)) for t in _texts(fig)]
    boxes = [(text, box) for text, box in boxes if page.contains(*box.p0) and page.contains(*box.p1)]  # drawn ones
    for i, (first, box) in enumerate(boxes):
        for second, other in boxes[i + 1:]:
            overlap = mpl.transforms.Bbox.intersection(box, other)
            if overlap is not None and overlap.width > 1 and overlap.height > 1:
                found.append(f"texts {first!r} and {second!r} are printed over each other")
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None or not legend.get_visible():
            continue
        frame = legend.get_window_extent(renderer)
        points = [ax.transData.transform(line.get_xydata()) for line in ax.get_lines() if line.get_visible()]
        points += [ax.transData.transform(c.get_offsets()) for c in ax.collections
                   if isinstance(c, mpl.collections.PathCollection) and len(c.get_offsets())]
        xy = np.concatenate([np.asarray(b, dtype=np.float64).reshape(-1, 2) for b in points]) if points else np.zeros((0, 2))
        covered = int(np.sum((xy[:, 0] >= frame.x0) & (xy[:, 0] <= frame.x1) & (xy[:, 1] >= frame.y0)
                             & (xy[:, 1] <= frame.y1)))
        if covered:
            found.append(f"the legend of {ax.get_title() or 'a panel'!r} covers {covered} data points")
    width = fig.get_tightbbox(renderer).width
    if width > COLUMN_IN + 0.05:
        found.append(f"the figure is {width:.2f} in wide, wider than the column ({COLUMN_IN} in)")
    return found


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
