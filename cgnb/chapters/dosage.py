"""Chapter 1, gradient dosage: binary feature tasks, feature-recognizer models and reliance.

Tasks (inputs ``x`` (N, D) float32, labels ``y`` (N,) float32 in {-1, +1}):

* :func:`agreeing_features` -- binary (+-1) features that each agree with the label on a
  fraction ``agreement`` of the examples, independently of each other given the label, plus
  irrelevant inputs.
* :func:`majority_vote_accuracy` / :func:`majority_vote` -- what a vote of those features
  reaches: for three features that agree with probability p, ``p**3 + 3 p**2 (1 - p)``.
* :func:`shared_and_identity_features` -- general versus memorizing recognizers: each
  example has a group feature (shared by all examples of its group, which share the label)
  and an identity feature (its own one-hot).

Models (all return one logit per example, ``(B,)``):

* :func:`init_linear` / :func:`apply_linear` -- logistic regression, ``x @ w + b``.
* :func:`init_recognizers` / :func:`apply_recognizers` -- a *recognizer network*: every input
  ``x_f`` has its own group of ``units`` ReLU units (its feature recognizer), and the logit is
  the sum of their read-outs, ``sum_f sum_j v[f, j] relu(a[f, j] x_f + b[f, j])``. It is an
  MLP whose first layer is block-diagonal; the network "listens" to recognizer ``f`` through
  its read-out weights ``v[f]``.

The *dose* of input ``f`` is the summed squared gradient reaching the weights that read it
(``sum_t ||dL_t / dW_in[f, :]||^2``), recorded while training by
:func:`cgnb.chapters.dosage_training.train_binary`. Reliance: :func:`flip_reliance` (effective logit weight
of a +-1 feature).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..engine import plots
from ..engine.losses import Params

ApplyFn = Callable[..., jax.Array]


def _pm1(bits: jax.Array) -> jax.Array:
    """Booleans -> float32 +1 (True) / -1 (False)."""
    return jnp.where(bits, 1.0, -1.0).astype(jnp.float32)


def agreeing_features(
    key: jax.Array,
    n: int,
    *,
    n_features: int = 3,
    agreement: float = 0.9,
    n_irrelevant: int = 0,
) -> tuple[jax.Array, jax.Array]:
    """Binary features that each agree with the label on a fraction ``agreement`` of examples.

    The label is +-1 with probability 1/2. Feature ``f`` of example ``i`` equals ``y_i`` with
    probability ``agreement`` and ``-y_i`` otherwise, independently across features and
    examples (the features are conditionally independent given the label). The last
    ``n_irrelevant`` columns are standard normal noise, independent of everything.

    Args:
      key: PRNG key.
      n: number of examples.
      n_features: number of label-agreeing +-1 features (columns ``0 .. n_features-1``).
      agreement: probability that a feature equals the label, in (0.5, 1].
      n_irrelevant: number of irrelevant N(0, 1) columns appended after the features.

    Returns:
      ``x`` (n, n_features + n_irrelevant) float32 and ``y`` (n,) float32 in {-1, +1}.
    """
    if n < 1 or n_features < 1 or n_irrelevant < 0:
        raise ValueError(f"need n >= 1, n_features >= 1, n_irrelevant >= 0; got {n}, {n_features}, {n_irrelevant}")
    if not 0.5 < agreement <= 1.0:
        raise ValueError(f"agreement must be in (0.5, 1] (a feature better than a coin flip), got {agreement}")
    k_label, k_agree, k_noise = jax.random.split(key, 3)
    y = _pm1(jax.random.bernoulli(k_label, 0.5, (n,)))
    agree = _pm1(jax.random.bernoulli(k_agree, agreement, (n, n_features)))
    features = agree * y[:, None]
    noise = jax.random.normal(k_noise, (n, n_irrelevant), jnp.float32)
    return jnp.concatenate([features, noise], axis=1), y


def majority_vote_accuracy(agreement: float, n_features: int = 3) -> float:
    """Probability that the majority of ``n_features`` independent votes is right.

    Each vote is right with probability ``p = agreement``:
    ``sum_{k > n/2} C(n, k) p**k (1 - p)**(n - k)``; for n = 3 this is ``p**3 + 3 p**2 (1 - p)``
    (0.972 for p = 0.9). ``n_features`` must be odd so that there are no ties.
    """
    if n_features < 1 or n_features % 2 == 0:
        raise ValueError(f"n_features must be odd (no tied votes), got {n_features}")
    p = float(agreement)
    return float(sum(math.comb(n_features, k) * p**k * (1 - p) ** (n_features - k)
                     for k in range(n_features // 2 + 1, n_features + 1)))


def majority_vote(features: jax.Array) -> jax.Array:
    """The majority vote of +-1 features: ``features`` (N, F) with odd F -> (N,) in {-1, +1}."""
    if features.shape[-1] % 2 == 0:
        raise ValueError(f"need an odd number of voting features, got {features.shape[-1]}")
    return jnp.sign(jnp.sum(features, axis=-1))


def shared_and_identity_features(
    key: jax.Array,
    group_sizes: tuple[int, ...] = (1, 4, 16, 64),
    groups_per_size: int = 4,
) -> dict[str, np.ndarray]:
    """Examples that share a group feature with their group and own an identity feature.

    There are ``groups_per_size`` groups of each size in ``group_sizes``; every example of a
    group has the group's label (random +-1, one per group). The inputs are
    ``[group one-hot | identity one-hot]``: column ``g`` (``g < n_groups``) is the *general*
    feature shared by all examples of group ``g``; column ``n_groups + i`` is the
    *memorizing* feature that only example ``i`` has.

    Returns:
      dict with ``x`` (N, n_groups + N) float32 0/1, ``y`` (N,) float32 +-1, ``group`` (N,)
      int (each example's group), ``group_size`` (n_groups,) int (size of each group),
      ``n_groups`` (int).
    """
    sizes = tuple(int(s) for s in group_sizes)
    if not sizes or min(sizes) < 1 or groups_per_size < 1:
        raise ValueError(f"group_sizes must be positive and groups_per_size >= 1, got {sizes}, {groups_per_size}")
    group_size = np.tile(np.asarray(sizes), groups_per_size)
    n_groups = len(group_size)
    group = np.repeat(np.arange(n_groups), group_size)
    n = len(group)
    labels = np.asarray(_pm1(jax.random.bernoulli(key, 0.5, (n_groups,))))
    x = np.concatenate([np.eye(n_groups, dtype=np.float32)[group], np.eye(n, dtype=np.float32)], axis=1)
    return {"x": x, "y": labels[group].astype(np.float32), "group": group, "group_size": group_size,
            "n_groups": n_groups}


def init_linear(key: jax.Array, n_inputs: int, *, scale: float = 0.01, head_start: float | jax.Array = 0.0) -> Params:
    """Logistic regression ``{"w": (D,), "b": ()}``; ``w ~ scale * N(0, 1)``, then ``w[0] += head_start``.

    ``head_start`` is an initial logit weight on input 0: the model starts out already reading
    that feature (``log 9`` is the best weight for a lone 90%-agreeing feature).
    """
    w = scale * jax.random.normal(key, (n_inputs,), jnp.float32)
    return {"w": w.at[0].add(head_start), "b": jnp.zeros((), jnp.float32)}


def apply_linear(params: Params, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Logit ``x @ w + b``: x (B, D) -> (B,)."""
    del key
    return x @ params["w"] + params["b"]


def init_recognizers(
    key: jax.Array,
    n_inputs: int,
    units: int = 8,
    *,
    scale: float = 1.0,
    head_start: float | jax.Array = 1.0,
    readout_head_start: float | jax.Array | None = None,
    clones: int = 0,
) -> Params:
    """A recognizer network: ``units`` ReLU units per input, read out into one logit.

    Parameters ``{"a": (D, U), "b": (D, U), "v": (D, U), "c": ()}``: ``a ~ scale * N(0, 1)``,
    ``v ~ scale * N(0, 1) / sqrt(U * D)`` (so the initial logit is O(scale**2)), zero biases.

    Args:
      key: PRNG key.
      n_inputs: D, the number of inputs (one recognizer each).
      units: U, ReLU units per recognizer.
      scale: multiplies all initial weights.
      head_start: recognizer 0's input weights ``a[0]`` are multiplied by it (its units respond
        more strongly to input 0 from the start).
      readout_head_start: recognizer 0's read-out ``v[0]`` is multiplied by it (the network
        *listens* to recognizer 0 more from the start); ``None``: the same as ``head_start``
        (the whole recognizer starts larger); 1.0: a head start of the input weights only.
      clones: recognizers ``1 .. clones-1`` start as exact copies of recognizer 0 (before the
        head start), so that the first ``clones`` inputs start on equal footing except for the
        head start. 0 or 1: all recognizers independent.
    """
    if n_inputs < 1 or units < 1:
        raise ValueError(f"need n_inputs >= 1 and units >= 1, got {n_inputs}, {units}")
    if clones < 0 or clones > n_inputs:
        raise ValueError(f"clones must be in [0, n_inputs={n_inputs}], got {clones}")
    k_a, k_v = jax.random.split(key)
    a = scale * jax.random.normal(k_a, (n_inputs, units), jnp.float32)
    v = scale * jax.random.normal(k_v, (n_inputs, units), jnp.float32) / np.sqrt(units * n_inputs)
    if clones > 1:
        a = a.at[1:clones].set(a[0])
        v = v.at[1:clones].set(v[0])
    a = a.at[0].multiply(head_start)
    v = v.at[0].multiply(head_start if readout_head_start is None else readout_head_start)
    return {"a": a, "b": jnp.zeros((n_inputs, units), jnp.float32), "v": v, "c": jnp.zeros((), jnp.float32)}


def recognizer_outputs(params: Params, x: jax.Array) -> jax.Array:
    """Each recognizer's contribution to the logit: x (B, D) -> (B, D)."""
    hidden = jax.nn.relu(x[:, :, None] * params["a"] + params["b"])   # (B, D, U)
    return jnp.einsum("bdu,du->bd", hidden, params["v"])


def apply_recognizers(params: Params, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Logit of the recognizer network: the sum of all recognizer outputs plus ``c``; (B, D) -> (B,)."""
    del key
    return jnp.sum(recognizer_outputs(params, x), axis=1) + params["c"]


def recognizer_norms(params: Params) -> jax.Array:
    """Parameter norm of each recognizer, ``sqrt(|a_f|^2 + |b_f|^2 + |v_f|^2)``: (D,)."""
    return jnp.sqrt(jnp.sum(params["a"] ** 2 + params["b"] ** 2 + params["v"] ** 2, axis=1))


def flip_reliance(apply_fn: ApplyFn, params: Params, x: jax.Array, columns) -> jax.Array:
    """Effective logit weight of each +-1 input: half the mean logit change when it is flipped.

    ``r_f = mean_i (logit(x_i) - logit(x_i with x_if -> -x_if)) * x_if / 2``. For a linear model
    this is exactly ``w_f``; for a network it is the weight of the best additive reading of the
    feature. The Bayes-optimal logit for three 90% features is ``log 9 * sum_f x_f``, so
    ``r_f = log 9 = 2.197`` for each; the network follows the majority vote when no
    ``r_f`` exceeds the sum of the others.

    Returns:
      (len(columns),) float32.
    """
    base = apply_fn(params, x, None)
    out = []
    for c in columns:
        flipped = apply_fn(params, x.at[:, c].multiply(-1.0), None)
        out.append(jnp.mean((base - flipped) * x[:, c]) / 2.0)
    return jnp.stack(out)



# ----------------------------------------------------------------------------- the chapter's measures and figures

def dose_ratio(dose: np.ndarray) -> np.ndarray:
    """Total dose of feature 1 over the mean total dose of features 2 and 3, per seed.

    ``dose`` (S, R, D): per seed, record and input (inputs 0, 1, 2 are the three agreeing
    features) -> (S,).
    """
    total = np.asarray(dose).sum(axis=1)
    return total[:, 0] / total[:, 1:3].mean(axis=1)


def plot_head_start_runs(steps: np.ndarray, dose: dict[str, np.ndarray], accuracy: dict[str, np.ndarray],
                         reliance: np.ndarray, majority: float, single: float):
    """Top: cumulative dose per feature for ``k=1`` and ``k=8``; bottom: accuracy by head start, reliance at k=8.

    ``steps`` (R,) record steps; ``dose[name]`` (S, R, D) for the names ``"k=1"`` and ``"k=8"``;
    ``accuracy[name]`` (S, R) test accuracy for each head start to show; ``reliance`` (S, R, 3)
    :func:`flip_reliance` of the k=8 network; ``majority`` / ``single`` the test accuracy of
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

    ``ratios`` holds :func:`dose_ratio` (S,) for ``"k=<k>"`` of every head start and for
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

    ``ratios`` and ``final_accuracy`` are (W, S): :func:`dose_ratio` and the test accuracy at the
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
    ``steps`` (R,) record steps; ``norms`` (S, R, n_groups + N) :func:`recognizer_norms`
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
