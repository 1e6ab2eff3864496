"""Chapter 4's measures, computed from label-noise sweeps (Chatterjee, "Coherent Gradients", ICLR 2020, section 2).

The training itself is :func:`cgnb.engine.sweep.run_sweep` (plain SGD on MNIST with label noise,
one variant per noise level and seed, gradient statistics recorded on a fixed sample of training
examples; :mod:`cgnb.chapters.coherent_gradients.setting`). This module holds what the chapter
computes *from* those runs:

* :func:`by_noise` -- one record of a sweep as a (seeds, records) array per noise level;
* Figure 1 measures: :func:`learned_fraction` (fraction of an example group classified as
  its training label at least once by each record step), :func:`first_learned_median`,
  :func:`early_loss_slope`, :func:`mean_steps_to_reach`, :func:`order_margin`, collected
  per noise level and seed by :func:`training_table` (shown by :func:`table_rows`);
* Figure 2 measures: :func:`pristine_share`, :func:`fitted_step` (first record where the
  pristine examples are fitted), :func:`mean_from` of ``alpha_p - alpha_c`` from there on,
  collected by :func:`alpha_summary`; :func:`m_coherence` (Chatterjee and Zielinski's m * alpha);
* Figure 3 (per-example contributions over the first steps) is in
  :mod:`cgnb.chapters.coherent_gradients.contributions`.

All arrays are numpy; V = variants, R = records, S = seeds, K = null worlds.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...engine.curves import first_step_reaching

# ----------------------------------------------------------------------------- selecting curves


def by_noise(result, name: str, noise: float) -> np.ndarray:
    """Record ``name`` of every seed at label noise ``noise``.

    Args:
      result: a :class:`cgnb.engine.sweep.SweepResult`.
      name: a record, e.g. ``"train_acc"`` or ``"null_alpha_p"``.
      noise: one of the sweep's noise levels.

    Returns:
      (S, R) in the sweep's seed order, (S, R, K) for the null-world records ``null_*``.

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


def mean_steps_to_reach(accuracy: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Steps to reach an accuracy level, averaged over all levels in [0, 1].

    For a non-decreasing accuracy curve a(t), ``int_0^1 T(level) dlevel = int_0^T (1 - a(t)) dt``
    where T(level) is the first time a(t) >= level; the right side (trapezoid rule over the
    records, from the first to the last record) summarises how quickly the whole curve rises
    without picking a level.

    Args:
      accuracy: (..., R) accuracy curves; steps: (R,) their record steps, R >= 2.

    Returns:
      (...) steps.

    Raises:
      ValueError: fewer than two records, or curves and steps of different lengths.
    """
    accuracy, steps = np.asarray(accuracy, float), np.asarray(steps, float)
    if accuracy.shape[-1] != steps.shape[0] or len(steps) < 2:
        raise ValueError(f"curves need >= 2 records matching steps; got {accuracy.shape[-1]} and {steps.shape[0]}")
    gap = 1.0 - accuracy
    return np.sum((gap[..., 1:] + gap[..., :-1]) / 2 * np.diff(steps), axis=-1)


def order_margin(values: Sequence[float], increasing: bool = True) -> float:
    """Smallest step between neighbours of ``values`` in the expected direction.

    Args:
      values: (L,) L >= 2 values in order (e.g. one per noise level).
      increasing: the expected direction.

    Returns:
      ``> 0``: strictly monotone in that direction; ``== 0``: a tie (also ``inf`` next to ``inf``);
      ``< 0``: a pair in the wrong order (its size).

    Raises:
      ValueError: ``values`` is not 1-D with at least two entries.
    """
    v = np.asarray(values, float)
    if v.ndim != 1 or len(v) < 2:
        raise ValueError(f"order_margin needs a 1-D sequence of at least two values, got shape {v.shape}")
    with np.errstate(invalid="ignore"):
        diffs = np.diff(v) if increasing else -np.diff(v)
    both_inf = np.isinf(v[1:]) & np.isinf(v[:-1]) & (np.sign(v[1:]) == np.sign(v[:-1]))
    diffs = np.where(both_inf, 0.0, diffs)
    return float(np.min(diffs))


def separation(reach: np.ndarray) -> float:
    """How cleanly more noise takes more steps: the smallest, over neighbouring noise levels, of the fastest
    seed of the noisier level minus the slowest seed of the other.

    Args:
      reach: (L, S) the step at which each seed first reaches an accuracy level
        (:func:`cgnb.engine.curves.first_step_reaching`; NaN or ``inf``: never), per noise level
        (ascending) and seed.

    Returns:
      ``> 0``: every seed of each level is slower than every seed of the level below; ``0``: a tie,
      also when neither level ever reaches the accuracy; ``< 0``: the seeds overlap (by that many steps).

    Raises:
      ValueError: ``reach`` is not (L >= 2, S).
    """
    reach = np.asarray(reach, float)
    if reach.ndim != 2 or len(reach) < 2:
        raise ValueError(f"reach must be (noise levels >= 2, seeds), got shape {reach.shape}")
    reach = np.where(np.isnan(reach), np.inf, reach)  # never reached: later than any step
    slower, faster = reach[1:].min(axis=1), reach[:-1].max(axis=1)
    with np.errstate(invalid="ignore"):
        gaps = np.where(np.isinf(slower) & np.isinf(faster), 0.0, slower - faster)
    return float(np.min(gaps))


def training_table(result, slope_steps: int, levels: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """Figure 1's numbers per noise level and seed.

    Args:
      result: a :class:`cgnb.engine.sweep.SweepResult` of a label-noise sweep.
      slope_steps: the first steps over which :func:`early_loss_slope` is taken.
      levels: the noise levels (L,) to tabulate; default all of the sweep's.

    Returns:
      ``noise`` (L,) and, each (L, S): ``final train`` / ``final test``, the accuracies at the last
      record; ``loss slope``; ``mean steps`` (:func:`mean_steps_to_reach` of the training accuracy);
      ``median p`` / ``median c`` (:func:`first_learned_median` of the pristine / corrupt examples).
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


def table_rows(table: dict[str, np.ndarray]) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of :func:`training_table` for :func:`cgnb.engine.plots.show_table`: per noise
    level the mean over seeds and, in brackets, the seeds' range."""
    names = [k for k in table if k != "noise"]
    rows = []
    for i, n in enumerate(table["noise"]):
        cells = [f"{n:.0%}"]
        for k in names:
            v = table[k][i]
            if np.all(np.isnan(v)):
                cells.append("-")
                continue
            digits = 4 if np.nanmax(np.abs(v)) < 10 else 0
            cells.append(f"{np.nanmean(v):.{digits}f} [{np.nanmin(v):.{digits}f}, {np.nanmax(v):.{digits}f}]")
        rows.append(cells)
    return ["noise", *names], rows


# ----------------------------------------------------------------------------- figure 2 and 3 measures


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


def mean_from(values: np.ndarray, steps: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Mean of each row over its records from step ``start`` (inclusive) to the end.

    Args:
      values: (S, R) or null-world records (S, R, K); steps: (R,) record steps;
      start: (S,) the first step of each row's window.

    Returns:
      (S,) or (S, K); NaN for a row whose ``start`` is NaN, ``inf`` or past the last record.

    Raises:
      ValueError: the shapes do not match.
    """
    values, steps, start = np.asarray(values, float), np.asarray(steps, float), np.asarray(start, float)
    if values.shape[1] != len(steps) or start.shape != values.shape[:1]:
        raise ValueError(f"values must be (S, R[, K]) with R = {len(steps)} and start (S,); got "
                         f"{values.shape} and {start.shape}")
    keep = steps[None, :] >= start[:, None]  # (S, R)
    keep = keep.reshape(keep.shape + (1,) * (values.ndim - 2))
    count = keep.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (values * keep).sum(axis=1) / count, np.nan)


def fitted_step(result, noise: float, level: float) -> np.ndarray:
    """Per seed, the first record step at which the pristine accuracy reaches ``level``: (S,) (NaN if never)."""
    return first_step_reaching(result.steps, by_noise(result, "pristine_acc", noise), level)


def alpha_summary(result, noise: float, fit_level: float, last_fraction: float | None = None
                  ) -> dict[str, np.ndarray]:
    """The Figure 2 numbers behind claim C4.5 at one noise level (S seeds, K null worlds).

    The crossover is looked for where the paper's mechanism puts it: once the pristine examples
    are fitted. Returns ``share`` (S,) the pristine fraction of the statistics sample; ``start`` (S,)
    and ``null_start`` (S, K) ``alpha_p`` at step 0; ``fitted`` (S,) the first record step with
    pristine training accuracy >= ``fit_level`` (:func:`fitted_step`); ``window`` (S,) the step the
    window starts at: ``fitted``, or, where the pristine examples never reach ``fit_level`` and
    ``last_fraction`` is given, the first record of the run's last ``last_fraction`` (else NaN);
    ``gap`` (S,) and ``null_gap`` (S, K) the mean of ``alpha_p - alpha_c`` over the records from
    ``window`` to the end (:func:`mean_from`; NaN where there is no window): negative means alpha_p
    lies below alpha_c there (a crossover).
    """
    index = result.index(noise=noise)
    d = lambda prefix: by_noise(result, prefix + "alpha_p", noise) - by_noise(result, prefix + "alpha_c", noise)
    fitted = fitted_step(result, noise, fit_level)
    window = fitted
    if last_fraction is not None:
        if not 0 < last_fraction <= 1:
            raise ValueError(f"last_fraction must be in (0, 1], got {last_fraction}")
        steps = np.asarray(result.steps, float)
        tail_start = steps[min(len(steps) - 1, int(np.ceil((1 - last_fraction) * (len(steps) - 1))))]
        window = np.where(np.isfinite(fitted), fitted, tail_start)
    return {
        "share": pristine_share(result.pristine[index], result.config.stats_examples),
        "start": by_noise(result, "alpha_p", noise)[:, 0],
        "null_start": by_noise(result, "null_alpha_p", noise)[:, 0, :],
        "fitted": fitted,
        "window": window,
        "gap": mean_from(d(""), result.steps, window),
        "null_gap": mean_from(d("null_"), result.steps, window),
    }


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
