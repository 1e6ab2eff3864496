"""Coherent gradients (chapter 4): measures and figures computed from label-noise sweeps.

The training itself is :func:`cgnb.engine.sweep.run_sweep` (plain SGD on MNIST with label noise,
one variant per noise level and seed, gradient statistics recorded on a fixed sample of
training examples). This module holds what chapter 4 computes *from* those runs, after
Chatterjee, "Coherent Gradients", ICLR 2020, section 2:

* :func:`by_noise` -- one record of a sweep as a (seeds, records) array per noise level;
* Figure 1 measures: :func:`learned_fraction` (fraction of an example group classified as
  its training label at least once by each record step), :func:`first_learned_median`,
  :func:`early_loss_slope`, :func:`mean_steps_to_reach`, :func:`order_margin`, collected
  per noise level and seed by :func:`training_table`;
* Figure 2 measures: :func:`pristine_share`, :func:`window_mean` of ``alpha_p - alpha_c``,
  collected by :func:`alpha_summary`;
* Figure 3: :func:`early_contributions` replays the first SGD steps of each variant and
  records every example's contribution ``<gbar, g_i>`` on the whole training set, so that
  :func:`group_curves` gives the mean cumulative contribution per pristine / corrupt example
  ``abar_p(t) = (1 / m_p) sum_{tau < t} sum_{i in P} <gbar_tau, g_{i,tau}>`` and any number
  of null worlds (:func:`null_designations`, :func:`contribution_gaps`) costs nothing;
* the figures :func:`plot_training`, :func:`plot_alphas`, :func:`plot_norm_ratio`,
  :func:`plot_contributions`, :func:`plot_gap_null`, :func:`plot_coherence`.

All arrays are numpy; V = variants, R = records, S = seeds, K = null worlds.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from jax import lax

from ..engine import pergrad, plots, sweep

# ----------------------------------------------------------------------------- selecting curves


def by_noise(result, name: str, noise: float) -> np.ndarray:
    """Record ``name`` of every seed at label noise ``noise``: (S, R) (or (S, R, K) for ``null_*``).

    ``result`` is a :class:`cgnb.engine.sweep.SweepResult`; the seeds are in the sweep's order.
    """
    index = result.index(noise=noise)
    if len(index) == 0:
        raise ValueError(f"the sweep has no variant with noise {noise}; it has noise levels "
                         f"{sorted(set(np.round(result.noise, 6).tolist()))}")
    return np.asarray(result.records[name])[index]


def noise_levels(result) -> list[float]:
    """The distinct noise levels of a sweep, ascending."""
    return sorted(set(float(n) for n in np.round(np.asarray(result.noise, float), 6)))


# ----------------------------------------------------------------------------- figure 1 measures


def learned_fraction(first_learned: np.ndarray, mask: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Fraction of the masked examples learned by each record step: (V, R).

    Args:
      first_learned: (V, N) first record step at which each example was classified as its
        training label, ``-1`` if never (:attr:`cgnb.engine.sweep.SweepResult.first_learned`).
      mask: (V, N) bool, the group (e.g. the pristine examples); an empty group gives NaN.
      steps: (R,) record steps.

    Returns:
      ``out[v, r] = #{i in group: 0 <= first_learned[v, i] <= steps[r]} / #group``.
    """
    first_learned, mask = np.asarray(first_learned), np.asarray(mask, bool)
    if first_learned.shape != mask.shape or first_learned.ndim != 2:
        raise ValueError(f"first_learned and mask must both be (V, N); got {first_learned.shape} and {mask.shape}")
    steps = np.asarray(steps)
    learned = (first_learned[:, :, None] >= 0) & (first_learned[:, :, None] <= steps[None, None, :])
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, None] > 0, (learned & mask[:, :, None]).sum(axis=1) / count[:, None], np.nan)


def first_learned_median(first_learned: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median first-learned step of the masked examples, per variant: (V,).

    Examples never learned (``-1``) count as learned after every record (``+inf``), so a
    group of which fewer than half were learned has median ``inf``; an empty group NaN.
    """
    first_learned, mask = np.asarray(first_learned, float), np.asarray(mask, bool)
    if first_learned.shape != mask.shape or first_learned.ndim != 2:
        raise ValueError(f"first_learned and mask must both be (V, N); got {first_learned.shape} and {mask.shape}")
    steps = np.where(first_learned < 0, np.inf, first_learned)
    return np.array([np.median(s[m]) if m.any() else np.nan for s, m in zip(steps, mask)])


def early_loss_slope(loss: np.ndarray, steps: np.ndarray, until: int) -> np.ndarray:
    """Mean loss decrease per step over the first ``until`` steps: ``(L(0) - L(until)) / until``.

    ``loss`` (..., R) recorded at ``steps`` (R,), which must contain 0 and ``until``.
    By the paper's equation (1), ``-dL/dt ~ lr * |g|^2``, so the slope measures the
    squared norm of the full gradient early in training.
    """
    loss, steps = np.asarray(loss, float), np.asarray(steps)
    missing = [s for s in (0, until) if s not in steps]
    if until <= 0 or missing:
        raise ValueError(f"until must be a positive record step and steps must contain 0 and {until}; "
                         f"missing {missing} in steps {steps[:5]}...")
    i0, i1 = int(np.flatnonzero(steps == 0)[0]), int(np.flatnonzero(steps == until)[0])
    return (loss[..., i0] - loss[..., i1]) / until


def mean_steps_to_reach(curves: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Steps to reach an accuracy level, averaged over all levels in [0, 1]: (..., R) -> (...).

    For a non-decreasing accuracy curve a(t), ``int_0^1 T(level) dlevel = int_0^T (1 - a(t)) dt``
    where T(level) is the first time a(t) >= level; the right side (trapezoid rule over the
    records, from the first to the last record) is returned, so one number summarises how
    quickly the whole curve rises without picking a level.
    """
    curves, steps = np.asarray(curves, float), np.asarray(steps, float)
    if curves.shape[-1] != steps.shape[0] or len(steps) < 2:
        raise ValueError(f"curves need >= 2 records matching steps; got {curves.shape[-1]} and {steps.shape[0]}")
    gap = 1.0 - curves
    return np.sum((gap[..., 1:] + gap[..., :-1]) / 2 * np.diff(steps), axis=-1)


def order_margin(values: Sequence[float], increasing: bool = True) -> float:
    """Smallest step between neighbours of ``values`` in the expected direction.

    ``> 0``: strictly monotone (increasing, or decreasing with ``increasing=False``);
    ``== 0``: a tie; ``< 0``: a pair in the wrong order (its size). Infinities are
    compared as numbers (``inf - inf`` counts as a tie).
    """
    v = np.asarray(values, float)
    if v.ndim != 1 or len(v) < 2:
        raise ValueError(f"order_margin needs a 1-D sequence of at least two values, got shape {v.shape}")
    with np.errstate(invalid="ignore"):
        diffs = np.diff(v) if increasing else -np.diff(v)
    both_inf = np.isinf(v[1:]) & np.isinf(v[:-1]) & (np.sign(v[1:]) == np.sign(v[:-1]))
    diffs = np.where(both_inf, 0.0, diffs)
    return float(np.min(diffs))


def training_table(result, slope_steps: int, levels: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """Figure 1's numbers per noise level and seed: each entry (L, S) (``noise``: (L,)).

    ``final train`` / ``final test``: accuracies at the last record; ``loss slope``:
    :func:`early_loss_slope` over the first ``slope_steps`` steps; ``mean steps``:
    :func:`mean_steps_to_reach` of the training accuracy; ``median p`` / ``median c``:
    :func:`first_learned_median` of the pristine / corrupt examples (NaN for an empty group).
    """
    levels = noise_levels(result) if levels is None else list(levels)
    rows: dict[str, list] = {k: [] for k in ("final train", "final test", "loss slope", "mean steps",
                                             "median p", "median c")}
    for n in levels:
        index = result.index(noise=n)
        train_acc = by_noise(result, "train_acc", n)
        rows["final train"].append(train_acc[:, -1])
        rows["final test"].append(by_noise(result, "test_acc", n)[:, -1])
        rows["loss slope"].append(early_loss_slope(by_noise(result, "train_loss", n), result.steps, slope_steps))
        rows["mean steps"].append(mean_steps_to_reach(train_acc, result.steps))
        first, pristine = result.first_learned[index], result.pristine[index]
        rows["median p"].append(first_learned_median(first, pristine))
        rows["median c"].append(first_learned_median(first, ~pristine))
    table = {k: np.array(v, float) for k, v in rows.items()}
    table["noise"] = np.array(levels, float)
    return table


def format_table(table: dict[str, np.ndarray]) -> str:
    """A text table of :func:`training_table`: mean over seeds, and the seeds' range in brackets."""
    names = [k for k in table if k != "noise"]
    lines = ["noise  " + "  ".join(f"{k:>22}" for k in names)]
    for i, n in enumerate(table["noise"]):
        cells = []
        for k in names:
            v = table[k][i]
            if np.all(np.isnan(v)):
                cells.append(f"{'-':>22}")
                continue
            digits = 4 if np.nanmax(np.abs(v)) < 10 else 0
            cells.append(f"{np.nanmean(v):>8.{digits}f} [{np.nanmin(v):.{digits}f}, {np.nanmax(v):.{digits}f}]".rjust(22))
        lines.append(f"{n:>5.0%}  " + "  ".join(cells))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- figure 2 and 3 measures


def pristine_share(pristine: np.ndarray, n: int) -> np.ndarray:
    """Fraction of pristine examples among the first ``n`` (the statistics sample): (V,)."""
    pristine = np.asarray(pristine, bool)
    if pristine.ndim != 2 or not 0 < n <= pristine.shape[1]:
        raise ValueError(f"pristine must be (V, N) with N >= n >= 1; got shape {pristine.shape} and n={n}")
    return pristine[:, :n].mean(axis=1)


def window_mean(values: np.ndarray, steps: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Mean over the records whose step lies in ``[lo, hi] * steps[-1]``: (..., R) -> (...).

    The records are the last axis of ``values``; move the null-world axis of (..., R, K)
    records in front of it first (``np.moveaxis(values, -1, -2)``).
    """
    values, steps = np.asarray(values, float), np.asarray(steps, float)
    lo, hi = window
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"window must be fractions 0 <= lo < hi <= 1 of the run, got {window}")
    if values.shape[-1] != len(steps):
        raise ValueError(f"values have {values.shape[-1]} records on their last axis, steps {len(steps)}")
    keep = (steps >= lo * steps[-1]) & (steps <= hi * steps[-1])
    if not keep.any():
        raise ValueError(f"no record step falls in the window {window} of a run of {steps[-1]:g} steps")
    return values[..., keep].mean(axis=-1)


def alpha_summary(result, noise: float, window: tuple[float, float]) -> dict[str, np.ndarray]:
    """The Figure 2 numbers behind claim C4.5 at one noise level (S seeds, K null worlds).

    Returns ``share`` (S,) the pristine fraction of the statistics sample; ``start`` (S,) and
    ``null_start`` (S, K) ``alpha_p`` at step 0; ``gap`` (S,) and ``null_gap`` (S, K) the mean
    of ``alpha_p - alpha_c`` over the records in ``window`` (fractions of the run, see
    :func:`window_mean`): negative means alpha_p lies below alpha_c there (a crossover).
    """
    index = result.index(noise=noise)
    d = lambda prefix: by_noise(result, prefix + "alpha_p", noise) - by_noise(result, prefix + "alpha_c", noise)
    return {
        "share": pristine_share(result.pristine[index], result.config.stats_examples),
        "start": by_noise(result, "alpha_p", noise)[:, 0],
        "null_start": by_noise(result, "null_alpha_p", noise)[:, 0, :],
        "gap": window_mean(d(""), result.steps, window),
        "null_gap": window_mean(np.moveaxis(d("null_"), -1, 1), result.steps, window),
    }


# ----------------------------------------------------------------------------- per-example contributions


def _blocks(m: int, block: int) -> tuple[int, int]:
    """``(n_blocks, padded size)`` covering m examples with blocks of at most ``block``."""
    if m < 1 or block < 1:
        raise ValueError(f"need at least one example and a positive block size, got m={m}, block={block}")
    n_blocks = -(-m // block)
    size = -(-m // n_blocks)
    return n_blocks, n_blocks * size


def sample_statistics(params, x: jax.Array, y: jax.Array, block: int = 1000) -> tuple[jax.Array, jax.Array]:
    """Per-example contributions and coherence of a sample at ``params``.

    With ``g_i = grad l_i`` and ``gbar = (1/M) sum_i g_i`` over the M examples x (M, d), y (M,):

    * ``c_i = <gbar, g_i>`` (M,), one forward-mode pass along ``gbar``; ``lr * c_i`` is the
      first-order decrease of example i's loss under a full-batch gradient step, and
      ``sum_i c_i = M |gbar|^2``;
    * coherence ``|gbar|^2 / mean_i |g_i|^2`` (scalar), with the squared norms from
      :func:`cgnb.engine.pergrad.mlp_per_example_sq_norms` (no per-example gradient tensors).

    Examples are processed ``block`` at a time (``lax.map``) to bound memory.
    """
    loss = sweep.per_example_loss
    m = x.shape[0]
    n_blocks, padded = _blocks(m, block)
    pad = padded - m
    xb = jnp.pad(x, ((0, pad), (0, 0))).reshape(n_blocks, -1, x.shape[1])
    yb = jnp.pad(y, (0, pad)).reshape(n_blocks, -1)
    wb = (jnp.arange(padded) < m).astype(x.dtype).reshape(n_blocks, -1)

    def add_block_grad(total, args):  # summed over blocks in the carry: memory O(parameters)
        xi, yi, wi = args
        g = jax.grad(lambda p: jnp.sum(wi * loss(p, xi, yi)))(params)
        return jax.tree_util.tree_map(jnp.add, total, g), None

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    total, _ = lax.scan(add_block_grad, zeros, (xb, yb, wb))
    gbar = jax.tree_util.tree_map(lambda g: g / m, total)

    def block_stats(args):
        xi, yi, wi = args
        c = jax.jvp(lambda p: loss(p, xi, yi), (params,), (gbar,))[1]
        sq = pergrad.mlp_per_example_sq_norms(loss, params, xi, yi)
        return c, jnp.sum(wi * sq)

    c, sq = lax.map(block_stats, (xb, yb, wb))
    gbar_sq = sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(gbar))
    return c.reshape(-1)[:m], gbar_sq / (jnp.sum(sq) / m)


def early_contributions(config: sweep.SweepConfig, data, variants: sweep.Variants, steps: int, *,
                        examples: int | None = None, block: int = 1000) -> dict[str, np.ndarray]:
    """Per-example contributions along the first ``steps`` SGD steps of every variant.

    Replays exactly the trajectory :func:`cgnb.engine.sweep.run_sweep` trains for ``config`` (same
    initial parameters :func:`cgnb.engine.sweep.initial_params`, minibatches
    :func:`cgnb.engine.sweep.batch_indices` and update :func:`cgnb.engine.sweep.train_step`), and before
    each step tau = 0..steps-1 computes :func:`sample_statistics` on the first ``examples``
    training examples (default: all) with the variant's training labels.

    Returns a dict of numpy arrays:
      ``decrease`` (V, steps, M): ``lr * <gbar_tau, g_{i,tau}>``, the first-order loss decrease
        of example i due to step tau had it followed the sample's mean gradient (nats);
      ``coherence`` (V, steps); ``pristine`` (V, M); ``noise``, ``seed`` (V,); ``steps`` (steps,).
    """
    if config.method != "sgd":
        raise ValueError(f"early_contributions replays plain SGD; got method={config.method!r}")
    n = data.x_train.shape[0]
    m = n if examples is None else int(examples)
    if not 1 <= m <= n:
        raise ValueError(f"examples must be in [1, {n}] (the training set), got {examples}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    params = sweep.initial_params(config, variants)
    indices = np.stack([sweep.batch_indices(int(seed), 0, steps, n, config.batch_size, config.sampling)
                        for seed in variants.seed])
    x = jnp.asarray(data.x_train)

    def one(params, labels, idx):
        optimizer = sweep.make_optimizer(config)

        def step(carry, batch):
            p, opt_state = carry
            c, coh = sample_statistics(p, x[:m], labels[:m], block)
            p, opt_state = sweep.train_step(p, opt_state, x[batch], labels[batch], optimizer)
            return (p, opt_state), (c, coh)

        _, (c, coh) = lax.scan(step, (params, optimizer.init(params)), idx)
        return c, coh

    c, coh = jax.jit(jax.vmap(one))(params, jnp.asarray(variants.labels), jnp.asarray(indices))
    return {"decrease": config.lr * np.asarray(c), "coherence": np.asarray(coh),
            "pristine": np.asarray(variants.pristine[:, :m]), "noise": np.asarray(variants.noise),
            "seed": np.asarray(variants.seed), "steps": np.arange(steps)}


def group_curves(decrease: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Mean cumulative contribution per example of each group after t = 0..T steps: (V, T + 1) each.

    ``f_p(t) = (1 / m_p) sum_{tau < t} sum_{i in P} decrease[:, tau, i]`` (and ``f_c`` for the
    corrupt group ``~mask``), via :func:`cgnb.engine.pergrad.group_contributions`; ``f(0) = 0``.
    This is the paper's Figure 3 statistic with the learning rate as its scale factor.
    """
    decrease, mask = np.asarray(decrease, float), np.asarray(mask, bool)
    if decrease.ndim != 3 or mask.shape != (decrease.shape[0], decrease.shape[2]):
        raise ValueError(f"decrease must be (V, T, M) and mask (V, M); got {decrease.shape} and {mask.shape}")
    dot_p = np.einsum("vtm,vm->vt", decrease, mask)
    dot_c = np.einsum("vtm,vm->vt", decrease, ~mask)
    f = pergrad.group_contributions(dot_p, dot_c, mask.sum(1)[:, None], (~mask).sum(1)[:, None], axis=1)
    zero = np.zeros((decrease.shape[0], 1))
    return {"pristine": np.concatenate([zero, np.asarray(f["f_p"])], axis=1),
            "corrupt": np.concatenate([zero, np.asarray(f["f_c"])], axis=1)}


def null_designations(mask: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """``k`` null worlds per variant: random permutations of each row of ``mask`` (V, M) -> (V, k, M)."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 2 or k < 1:
        raise ValueError(f"mask must be (V, M) and k >= 1; got shape {mask.shape}, k={k}")
    rng = np.random.default_rng(seed)
    return np.stack([[rng.permutation(row) for _ in range(k)] for row in mask])


def contribution_gaps(decrease: np.ndarray, mask: np.ndarray, nulls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``f_p - f_c`` after all T steps: real (V,) and in each null world (V, K).

    ``decrease`` (V, T, M), ``mask`` (V, M), ``nulls`` (V, K, M) from :func:`null_designations`.
    Each gap is the mean total contribution of a pristine example minus that of a corrupt one.
    """
    total = np.asarray(decrease, float).sum(axis=1)  # (V, M) per-example totals

    def gap(m):
        m = np.asarray(m, bool)
        return (total * m).sum(-1) / m.sum(-1) - (total * ~m).sum(-1) / (~m).sum(-1)

    return gap(mask), gap(np.asarray(nulls, bool).transpose(1, 0, 2)).T


# ----------------------------------------------------------------------------- figures

NOISE_LABEL = "label noise {:.0%}"
GROUP_STYLE = {"pristine": dict(color="tab:blue", linestyle="-"), "corrupt": dict(color="tab:red", linestyle="--")}


def _noise_colors(levels: Sequence[float]) -> dict[float, object]:
    return dict(zip(levels, plots.colors(len(levels), "plasma")))


def plot_training(result, levels: Sequence[float] | None = None) -> plt.Figure:
    """The paper's Figure 1: training accuracy, test accuracy, training loss, examples learned.

    One curve per noise level (mean over seeds, min-max band); the last panel shows the
    fraction of pristine (solid) and corrupt (dashed) examples learned by each step.
    """
    levels = noise_levels(result) if levels is None else list(levels)
    color = _noise_colors(levels)
    fig, axes = plots.grid(1, 4, size=(3.4, 2.9))
    steps = result.steps
    for n in levels:
        kw = dict(color=color[n])
        plots.band(axes[0, 0], steps, by_noise(result, "train_acc", n), NOISE_LABEL.format(n), **kw)
        plots.band(axes[0, 1], steps, by_noise(result, "test_acc", n), NOISE_LABEL.format(n), **kw)
        plots.band(axes[0, 2], steps, by_noise(result, "train_loss", n), NOISE_LABEL.format(n), **kw)
        index = result.index(noise=n)
        for group, mask in (("pristine", result.pristine[index]), ("corrupt", ~result.pristine[index])):
            fraction = learned_fraction(result.first_learned[index], mask, steps)
            if np.isnan(fraction).all():
                continue
            plots.band(axes[0, 3], steps, fraction, color=color[n], linestyle=GROUP_STYLE[group]["linestyle"])
    plots.label(axes[0, 0], "training step", "training accuracy (noisy labels)", "(a) training accuracy")
    plots.label(axes[0, 1], "training step", "test accuracy", "(b) test accuracy")
    plots.label(axes[0, 2], "training step", "training loss (nats)", "(c) training loss")
    plots.label(axes[0, 3], "training step", "fraction learned", "(d) examples learned")
    axes[0, 2].set_yscale("log")
    axes[0, 1].axhline(0.1, color="grey", linewidth=0.8, linestyle=":", label="chance")
    axes[0, 0].legend(fontsize=8)
    from matplotlib.lines import Line2D

    axes[0, 3].legend([Line2D([], [], color="k", **{k: v for k, v in GROUP_STYLE[g].items() if k != "color"})
                       for g in ("pristine", "corrupt")], ["pristine", "corrupt"], fontsize=8, loc="lower right")
    return fig


def _group_rows(result, levels: Sequence[float], n_null: int, value) -> tuple[plt.Figure, np.ndarray]:
    """Shared layout of Figures 2 and 3: row 0 real designations, rows 1.. null worlds; one column per level.

    ``value(n, group, null)`` returns the (S, R) curves to draw (``null=None`` for the real
    designation).
    """
    fig, axes = plots.grid(1 + n_null, len(levels), size=(3.3, 2.1), sharex=True)
    for j, n in enumerate(levels):
        for row in range(1 + n_null):
            ax = axes[row, j]
            null = None if row == 0 else row - 1
            for group in ("pristine", "corrupt"):
                plots.band(ax, result.steps, value(n, group, null), group, **GROUP_STYLE[group])
            title = NOISE_LABEL.format(n) + (", real" if null is None else f", null world {null + 1}")
            ax.set_title(title, fontsize=9)
    return fig, axes


def plot_alphas(result, levels: Sequence[float], n_null: int = 3, stats_examples: int | None = None) -> plt.Figure:
    """The paper's Figure 2: ``alpha_p`` and ``alpha_c`` against step, real and in null worlds.

    Row 0 uses the real pristine/corrupt designation, each further row one null world (the
    designation randomly permuted over the statistics sample). The dotted line is the
    pristine share of the sample, where ``alpha_p`` would sit if pristine and corrupt
    examples pushed alike.
    """
    stats_examples = stats_examples or result.config.stats_examples

    def value(n, group, null):
        name = "alpha_p" if group == "pristine" else "alpha_c"
        if null is None:
            return by_noise(result, name, n)
        return by_noise(result, "null_" + name, n)[..., null]

    fig, axes = _group_rows(result, levels, n_null, value)
    for j, n in enumerate(levels):
        share = pristine_share(result.pristine[result.index(noise=n)], stats_examples).mean()
        for row in range(1 + n_null):
            axes[row, j].axhline(share, color="tab:blue", linewidth=0.8, linestyle=":")
            axes[row, j].set_ylim(-0.1, 1.1)
        axes[-1, j].set_xlabel("training step")
    for row in range(1 + n_null):
        axes[row, 0].set_ylabel(r"share of $|g|^2$")
    axes[0, 0].legend(fontsize=8)
    return fig


def plot_norm_ratio(result, levels: Sequence[float], window: tuple[float, float] | None = None) -> plt.Figure:
    """``|g_p| / |g_c|`` against step: ``alpha_p < alpha_c`` exactly when this ratio is below 1.

    (``<g, g_p> - <g, g_c> = |g_p|^2 - |g_c|^2`` for ``g = g_p + g_c``.) The optional
    ``window`` (fractions of the run) is shaded.
    """
    color = _noise_colors(levels)
    fig, axes = plots.grid(1, 1, size=(5.0, 3.0))
    ax = axes[0, 0]
    for n in levels:
        ratio = by_noise(result, "norm_p", n) / by_noise(result, "norm_c", n)
        plots.band(ax, result.steps, ratio, NOISE_LABEL.format(n), color=color[n])
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    if window is not None:
        ax.axvspan(window[0] * result.steps[-1], window[1] * result.steps[-1], color="grey", alpha=0.1,
                   label="window of the C4.5 means")
    ax.set_yscale("log")
    plots.label(ax, "training step", r"$|g_p|\,/\,|g_c|$ (statistics sample)")
    ax.legend(fontsize=8)
    return fig


def plot_contributions(early: dict, levels: Sequence[float], nulls: np.ndarray | None = None,
                       n_null: int = 3) -> plt.Figure:
    """The paper's Figure 3: mean cumulative contribution per pristine / corrupt example.

    ``early`` from :func:`early_contributions`; row 0 uses the real designation, rows
    1..n_null the first null worlds of ``nulls`` (V, K, M) (:func:`null_designations`).
    Curves: mean over seeds with min-max band, after t = 0..T steps.
    """
    if nulls is None:
        nulls = null_designations(early["pristine"], n_null)
    steps = np.arange(early["decrease"].shape[1] + 1)
    fig, axes = plots.grid(1 + n_null, len(levels), size=(3.3, 2.1), sharex=True)
    for j, n in enumerate(levels):
        index = np.flatnonzero(np.isclose(early["noise"], n))
        if len(index) == 0:
            raise ValueError(f"no variant with noise {n} in the early contributions")
        decrease = early["decrease"][index]
        for row in range(1 + n_null):
            mask = early["pristine"][index] if row == 0 else nulls[index, row - 1]
            curves = group_curves(decrease, mask)
            ax = axes[row, j]
            for group in ("pristine", "corrupt"):
                plots.band(ax, steps, curves[group], group, **GROUP_STYLE[group])
            title = NOISE_LABEL.format(n) + (", real" if row == 0 else f", null world {row}")
            ax.set_title(title, fontsize=9)
        axes[-1, j].set_xlabel("training steps taken")
    for row in range(1 + n_null):
        axes[row, 0].set_ylabel("loss decrease\nper example (nats)")
    axes[0, 0].legend(fontsize=8)
    return fig


def plot_gap_null(gap: np.ndarray, null_gap: np.ndarray, noise: float) -> plt.Figure:
    """Histogram of the null-world gaps ``f_p - f_c`` (all seeds pooled) with each seed's real gap."""
    fig, axes = plots.grid(1, 1, size=(5.0, 2.8))
    ax = axes[0, 0]
    ax.hist(np.ravel(null_gap), bins=40, color="grey", alpha=0.7,
            label=f"null worlds ({null_gap.shape[1]} per seed)")
    for i, g in enumerate(np.ravel(gap)):
        ax.axvline(g, color="tab:blue", linewidth=1.5, label="real, per seed" if i == 0 else None)
    plots.label(ax, "pristine minus corrupt loss decrease per example (nats)", "null worlds",
                f"{NOISE_LABEL.format(noise)}: real gap against the null worlds")
    ax.legend(fontsize=8)
    return fig


def plot_coherence(early: dict, result, levels: Sequence[float] | None = None) -> plt.Figure:
    """Coherence ``|E g_i|^2 / E|g_i|^2`` of the per-example gradients against step, per noise level.

    Left: the first steps on the whole training sample of ``early`` (:func:`early_contributions`);
    right: the whole run on the sweep's statistics sample (``result``, records ``coherence``).
    The dotted lines mark 1/M, the value M equally long orthogonal gradients would give.
    """
    levels = noise_levels(result) if levels is None else list(levels)
    color = _noise_colors(levels)
    fig, axes = plots.grid(1, 2, size=(4.2, 3.1))
    steps = np.arange(early["coherence"].shape[1])
    for n in levels:
        index = np.flatnonzero(np.isclose(early["noise"], n))
        plots.band(axes[0, 0], steps, early["coherence"][index], NOISE_LABEL.format(n), color=color[n])
        plots.band(axes[0, 1], result.steps, by_noise(result, "coherence", n), NOISE_LABEL.format(n),
                   color=color[n])
    for ax, m, title in ((axes[0, 0], early["pristine"].shape[1], "first steps, whole training set"),
                         (axes[0, 1], result.config.stats_examples, "whole run, statistics sample")):
        ax.axhline(1 / m, color="grey", linestyle=":", linewidth=1)
        ax.text(ax.get_xlim()[1], 1 / m, f"1/M, M={m}", ha="right", va="bottom", fontsize=8, color="grey")
        ax.set_yscale("log")
        plots.label(ax, "training step", r"coherence $|E\,g_i|^2 / E\,|g_i|^2$", title)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    return fig


def cached_early_contributions(config: sweep.SweepConfig, data, variants: sweep.Variants, steps: int, *,
                               examples: int | None = None, block: int = 1000) -> dict[str, np.ndarray]:
    """:func:`early_contributions` through :func:`cgnb.engine.store.memoize` (keyed by every input)."""
    from ..engine import store

    key = {"config": config.to_json(), "x_train": data.x_train, "labels": variants.labels,
           "pristine": variants.pristine, "seed": variants.seed, "noise": variants.noise, "steps": int(steps),
           "examples": examples, "block": int(block)}
    return store.memoize("coherent-early-contributions", key,
                         lambda: early_contributions(config, data, variants, steps, examples=examples, block=block))
