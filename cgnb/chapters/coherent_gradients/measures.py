"""Chapter 4's measures, computed from label-noise sweeps (Chatterjee, "Coherent Gradients", ICLR 2020, section 2).

The training itself is :func:`cgnb.engine.sweep.run_sweep` (plain SGD with label noise, one variant
per noise level and seed; :mod:`cgnb.chapters.coherent_gradients.setting`). This module holds what
the chapter computes *from* those runs:

* selecting curves: :func:`by_noise`, :func:`noise_levels`;
* Figures 1-2 and claims C4.1-C4.4: :func:`learned_fraction`, :func:`first_learned_median`,
  :func:`early_loss_slope`, :func:`record_index`, :func:`reach_records`, :func:`reach_table`;
* Figure 3 and claim C4.5: :func:`pristine_share`, :func:`fitted_window` (from the pristine examples
  fitted to the corrupt ones fitted), :func:`window_means`, :func:`null_alpha_gaps` (alpha_p - alpha_c
  in any number of null worlds, from each example's recorded contribution);
* beyond the paper: :func:`m_coherence`;
* :func:`degenerate`: the runs that collapsed or never learned, per noise level and seed.

All arrays are numpy; V = variants, R = records, S = seeds, K = null worlds.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...engine import health, stats
from ...engine.curves import first_step_reaching

# ----------------------------------------------------------------------------- selecting curves


def by_noise(result, name: str, noise: float) -> np.ndarray:
    """Record ``name`` of every seed at label noise ``noise``.

    Args:
      result: a :class:`cgnb.engine.sweep.SweepResult`.
      name: a record, e.g. ``"train_acc"`` or ``"null_alpha_p"``.
      noise: one of the sweep's noise levels.

    Returns:
      (S, R) in the sweep's seed order; (S, R, ...) for a record with more axes (``null_*``: K).

    Raises:
      ValueError: no variant has that noise level (the message lists the levels).
    """
    index = result.index(noise=noise)
    if len(index) == 0:
        raise ValueError(f"the sweep has no variant with noise {noise}; it has noise levels "
                         f"{sorted(set(np.round(result.noise, 6).tolist()))}")
    return np.asarray(result.records[name])[index]


def noise_levels(result) -> list[float]:
    """The distinct noise levels of a sweep, ascending."""
    return sorted(set(float(n) for n in np.round(np.asarray(result.noise, float), 6)))


def has_level(result, noise: float) -> bool:
    """Whether the sweep ran label noise ``noise``."""
    return bool(np.any(np.isclose(np.asarray(result.noise, float), noise)))


# ----------------------------------------------------------------------------- figures 1 and 2, C4.1-C4.4


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
    """Median first-learned step of the masked examples, per variant.

    Examples never learned (``-1``) count as learned after every record (``+inf``), so a
    group of which fewer than half were learned has median ``inf``.

    Args:
      first_learned: (V, N) first record step each example was learned, ``-1`` if never.
      mask: (V, N) bool, the group.

    Returns:
      (V,) float; NaN for an empty group.

    Raises:
      ValueError: the two arrays are not both (V, N).
    """
    first_learned, mask = np.asarray(first_learned, float), np.asarray(mask, bool)
    if first_learned.shape != mask.shape or first_learned.ndim != 2:
        raise ValueError(f"first_learned and mask must both be (V, N); got {first_learned.shape} and {mask.shape}")
    steps = np.where(first_learned < 0, np.inf, first_learned)
    return np.array([np.median(s[m]) if m.any() else np.nan for s, m in zip(steps, mask)])


def early_loss_slope(loss: np.ndarray, steps: np.ndarray, until: int) -> np.ndarray:
    """Mean loss decrease per step over the first ``until`` steps: ``(L(0) - L(until)) / until``.

    By the paper's equation (1), ``-dL/dt ~ lr * |g|^2``, so the slope measures the squared norm
    of the full gradient early in training.

    Args:
      loss: (..., R) loss curves recorded at ``steps`` (R,), which must contain 0 and ``until``.
      until: a positive record step.

    Returns:
      (...) nats per step.

    Raises:
      ValueError: ``until`` is not positive or ``steps`` lacks 0 or ``until``.
    """
    loss, steps = np.asarray(loss, float), np.asarray(steps)
    missing = [s for s in (0, until) if s not in steps]
    if until <= 0 or missing:
        raise ValueError(f"until must be a positive record step and steps must contain 0 and {until}; "
                         f"missing {missing} in steps {steps[:5]}...")
    i0, i1 = int(np.flatnonzero(steps == 0)[0]), int(np.flatnonzero(steps == until)[0])
    return (loss[..., i0] - loss[..., i1]) / until


def record_index(steps: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The index of each step ``at`` among the record ``steps`` (R,); NaN or ``inf`` (never): R, one past the end.

    Counting in records puts a time read off the recording grid on that grid's own scale: two times
    one record apart are a tie (the grid cannot tell them apart).

    Raises:
      ValueError: a finite ``at`` is not one of ``steps``.
    """
    steps, at = np.asarray(steps), np.asarray(at, float)
    out = np.full(at.shape, float(len(steps)))
    finite = np.isfinite(at)
    index = np.searchsorted(steps, at[finite])
    on_grid = (index < len(steps)) & (steps[np.minimum(index, len(steps) - 1)] == at[finite])
    if not on_grid.all():
        raise ValueError(f"steps {np.unique(at[finite][~on_grid])[:5].tolist()} are not record steps")
    out[finite] = index
    return out


def reach_records(result, levels: Sequence[float], accuracy: float) -> np.ndarray:
    """The record at which each seed's training accuracy first reaches ``accuracy``: (L, S), per noise level
    in ``levels``; ``R`` (one past the last record) where it never does (:func:`record_index`)."""
    return np.stack([record_index(result.steps, first_step_reaching(result.steps, by_noise(result, "train_acc", n),
                                                                    accuracy))
                     for n in levels])


def reach_table(result, levels: Sequence[float], accuracies: Sequence[float]) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: per accuracy, the first step each noise level reaches it (mean over seeds and the
    seeds' range; "never" where no seed does), for :func:`cgnb.engine.plots.show_table`."""
    rows = []
    for accuracy in accuracies:
        cells = [f"{accuracy:.2f}"]
        for n in levels:
            at = np.atleast_1d(first_step_reaching(result.steps, by_noise(result, "train_acc", n), accuracy))
            reached = at[np.isfinite(at)]
            if not len(reached):
                cells.append("never")
                continue
            text = f"{reached.mean():,.0f} [{reached.min():,.0f}, {reached.max():,.0f}]"
            cells.append(text + (f" ({len(at) - len(reached)} never)" if len(reached) < len(at) else ""))
        rows.append(cells)
    return ["accuracy", *(f"{n:.0%} noise" for n in levels)], rows


# ----------------------------------------------------------------------------- figure 3 and C4.5


def pristine_share(pristine: np.ndarray, n: int) -> np.ndarray:
    """Fraction of pristine examples among the first ``n`` (the statistics sample).

    Args:
      pristine: (V, N) bool; n: the sample size, 1 <= n <= N.

    Returns:
      (V,).

    Raises:
      ValueError: ``pristine`` is not (V, N) with N >= n >= 1.
    """
    pristine = np.asarray(pristine, bool)
    if pristine.ndim != 2 or not 0 < n <= pristine.shape[1]:
        raise ValueError(f"pristine must be (V, N) with N >= n >= 1; got shape {pristine.shape} and n={n}")
    return pristine[:, :n].mean(axis=1)


def fitted_window(result, noise: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the records ``(start, end)`` (S,) each of the window where the paper places the crossover.

    ``start``: the first record at which the pristine training accuracy reaches ``level`` (NaN if it
    never does: the window never opens); ``end``: the first record at or after ``start`` at which the
    corrupt accuracy reaches ``level``, else the last record.
    """
    pristine = by_noise(result, "pristine_acc", noise)
    corrupt = np.nan_to_num(by_noise(result, "corrupt_acc", noise), nan=1.0)
    last = len(result.steps) - 1
    start, end = np.full(len(pristine), np.nan), np.full(len(pristine), np.nan)
    for s, (p, c) in enumerate(zip(pristine, corrupt)):
        opened = np.flatnonzero(p >= level)
        if not len(opened):
            continue
        start[s] = opened[0]
        closed = np.flatnonzero(c[opened[0]:] >= level)
        end[s] = opened[0] + closed[0] if len(closed) else last
    return start, end


def window_means(values: np.ndarray, start: int, end: int, blocks: int = 1) -> np.ndarray:
    """Means of ``values`` (..., R) over the records ``start..end`` (inclusive), split into up to ``blocks``
    consecutive blocks of about equal length (fewer when the window has fewer records): (..., B).

    Raises:
      ValueError: an empty window or ``blocks < 1``.
    """
    values = np.asarray(values, float)
    if not 0 <= start <= end < values.shape[-1] or blocks < 1:
        raise ValueError(f"need 0 <= start <= end < R={values.shape[-1]} and blocks >= 1; got start={start}, "
                         f"end={end}, blocks={blocks}")
    window = values[..., int(start):int(end) + 1]
    parts = np.array_split(np.arange(window.shape[-1]), min(blocks, window.shape[-1]))
    return np.stack([window[..., part].mean(axis=-1) for part in parts], axis=-1)


def null_alpha_gaps(result, noise: float, worlds: int, rng_seed: int = 0) -> np.ndarray:
    """``alpha_p - alpha_c`` in null worlds, per seed, record and world: (S, R, K).

    With each example's contribution ``c_i = <g, g_i>`` recorded (the sweep statistic
    ``"contributions"``), a null world is a random permutation of the pristine designation over the
    statistics sample (:func:`cgnb.engine.stats.null_masks` with ``np.random.default_rng([rng_seed,
    seed])``) and ``alpha_p = sum_{i in P} c_i / sum_i c_i``: ``worlds`` of them, K = ``worlds``.
    Otherwise the null worlds recorded in the sweep (``null_alpha_p``, ``null_alpha_c``) are used and
    K is their number.
    """
    if "contribution" not in result.records:
        return by_noise(result, "null_alpha_p", noise) - by_noise(result, "null_alpha_c", noise)
    c = by_noise(result, "contribution", noise)  # (S, R, M)
    index = result.index(noise=noise)
    pristine = np.asarray(result.pristine)[index][:, :c.shape[-1]]
    gaps = []
    for seed, mask, contribution in zip(np.asarray(result.seed)[index], pristine, c):
        nulls = stats.null_masks(np.random.default_rng([rng_seed, int(seed)]), mask, worlds)  # (K, M)
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha_p = contribution @ nulls.T.astype(float) / contribution.sum(-1, keepdims=True)
        gaps.append(2 * alpha_p - 1)
    return np.stack(gaps)


# ----------------------------------------------------------------------------- beyond the paper; soundness


def m_coherence(result, noise: float) -> np.ndarray:
    """``m * alpha``: the coherence of the m-example statistics sample times m (Chatterjee and
    Zielinski's m-coherence): 1 for m orthogonal per-example gradients of equal length, m when they
    are all equal; about the number of examples a typical example's gradient helps.

    Args:
      result: a sweep with the ``coherence`` record; noise: one of its noise levels.

    Returns:
      (S, R) per seed and record.
    """
    return result.config.stats_examples * by_noise(result, "coherence", noise)


def largest_jump(result, name: str, noise: float) -> tuple[int, float, float]:
    """The largest rise of record ``name`` (mean over seeds) from one record to the next at ``noise``:
    ``(step after the rise, value before, value after)``, e.g. a spike in the training loss."""
    values = by_noise(result, name, noise).mean(axis=0)
    i = int(np.argmax(np.diff(values)))
    return int(result.steps[i + 1]), float(values[i]), float(values[i + 1])


def degenerate(result, noise: float) -> list[str]:
    """One line per run at ``noise`` that collapsed (:func:`cgnb.engine.health.collapse`) or, with label noise
    below 100 %, whose pristine examples never learned what the clean run of its seed learned
    (:func:`cgnb.engine.health.never_learned`); empty when every run is sound."""
    lines = []
    n_eval = result.first_learned.shape[1]
    clean = by_noise(result, "train_acc", 0.0) if has_level(result, 0.0) else None
    index = result.index(noise=noise)
    for i, seed in zip(index, np.asarray(result.seed)[index]):
        loss, acc = result.records["train_loss"][i], result.records["train_acc"][i]
        line = health.collapse(result.steps, loss, acc, num_classes=10, examples=n_eval)
        if not line and clean is not None and 0 < noise < 1:
            reference = clean[list(np.asarray(result.seed)[result.index(noise=0.0)]).index(seed)]
            line = health.never_learned(result.records["pristine_acc"][i], reference, num_classes=10)
        if line:
            lines.append(f"{noise:.0%} noise, seed {int(seed)}: {line}")
    return lines
