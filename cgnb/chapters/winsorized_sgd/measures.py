"""Chapter 5's measures of winsorized SGD and RM3 runs: overfit, memorization, per-variant curves.

* :func:`overfit` -- the Coherent Gradients paper's overfit ``train_acc - (n / 10 + (1 - n) * test_acc)``;
* :func:`variant_curves` -- one variant's curves and its exact proper accuracy, from a sweep result;
  :func:`seed_curves` and :func:`spread` for the seeds of one cell;
* :func:`memorization` (corrupt labels fitted beyond chance), :func:`decline` (how far both accuracies
  end below their peak), :func:`mean_overfit`, :func:`output_norm_ratio`;
* :func:`health_lines` -- whether a run collapsed or never learned (:mod:`cgnb.engine.health`), so that
  it supports no claim.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ...engine import curves, health, sweep

#: Classes of the chapter's data sets (MNIST, Fashion-MNIST).
NUM_CLASSES = 10
#: Records averaged before a curve's peak, end or largest value is read (one noisy record is no peak).
SMOOTH = 3


def overfit(train_acc: np.ndarray, test_acc: np.ndarray, noise: float | np.ndarray) -> np.ndarray:
    """The paper's overfit ``train_acc - (n / 10 + (1 - n) * test_acc)`` (same shape as the inputs).

    ``n / 10 + (1 - n) * test_acc`` is the training accuracy expected from a model that
    classifies the (1 - n) kept labels as well as it classifies the test set and the n
    randomized ones at chance (1/10); the excess over it is memorization of training
    examples.

    Args:
      train_acc, test_acc: accuracies of the same shape, e.g. (V, R) curves.
      noise: the label-noise fraction n, broadcast against them (e.g. (V, 1)).

    Raises:
      ValueError: a noise fraction outside [0, 1].
    """
    train_acc, test_acc = np.asarray(train_acc, float), np.asarray(test_acc, float)
    noise = np.asarray(noise, float)
    if np.any((noise < 0) | (noise > 1)):
        raise ValueError(f"noise must be a fraction in [0, 1], got {noise}")
    return train_acc - (noise / 10 + (1 - noise) * test_acc)


@dataclasses.dataclass(frozen=True)
class VariantCurves:
    """One variant's curves (each (R,) over ``steps``) and its data.

    Attributes:
      steps: (R,) record steps.
      train_acc, test_acc, pristine_acc, corrupt_acc: (R,) accuracies (training ones on
        the variant's noisy labels).
      overfit: (R,) :func:`overfit`.
      noise: the label-noise fraction n.
      c: the winsorization level (0 for sgd / rm3).
      proper: the exact proper accuracy, the fraction of training labels left unchanged
        (:attr:`cgnb.engine.data.NoisyLabels.proper_accuracy`); the paper's formula
        ``(1 - n) + n / 10`` is its expectation.
      seed: the variant's seed.
      epochs: (R,) record steps in epochs (passes over the training set).
      train_loss: (R,) training loss on the noisy labels.
      weight_norm: (R, L) each layer's weight norm, logit_spread: (R,) mean largest minus
        smallest logit, dead_units: (R, L - 1) each hidden layer's share of units no example
        activates (the sweep statistic ``"model"``); None when the run did not record them.
    """

    steps: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    pristine_acc: np.ndarray
    corrupt_acc: np.ndarray
    overfit: np.ndarray
    noise: float
    c: int
    proper: float
    seed: int = 0
    epochs: np.ndarray | None = None
    train_loss: np.ndarray | None = None
    weight_norm: np.ndarray | None = None
    logit_spread: np.ndarray | None = None
    dead_units: np.ndarray | None = None

    @property
    def has_model(self) -> bool:
        """Whether the run recorded the network itself (weight norms, logit spread, dead units)."""
        return self.weight_norm is not None


def variant_curves(result: sweep.SweepResult, noise: float, c: int | None = None,
                   seed: int | None = None) -> VariantCurves:
    """The curves of the single variant of ``result`` with this noise level (and c, seed).

    The exact proper accuracy is the mean of the variant's pristine mask over the training
    evaluation subset, which must be the whole training set (``eval_examples=None``) so that
    it is the data set's proper accuracy.

    Raises:
      ValueError: not exactly one variant matches (pass ``c`` or ``seed``), or the sweep evaluated a
        subset of the training set.
    """
    index = result.index(noise=noise, c=c, seed=seed)
    if len(index) != 1:
        raise ValueError(f"expected one variant with noise={noise}, c={c}, seed={seed}; found {len(index)} "
                         f"(noise levels {np.unique(result.noise)}, c {np.unique(result.c)}, "
                         f"seeds {np.unique(result.seed)}); pass c= or seed= to choose")
    if result.config.eval_examples is not None:
        raise ValueError("variant_curves() needs training accuracy on the whole training set: run the sweep with "
                         f"eval_examples=None (it has eval_examples={result.config.eval_examples})")
    v = int(index[0])
    train_acc, test_acc = np.asarray(result.train_acc[v], float), np.asarray(result.test_acc[v], float)
    noise, steps = float(result.noise[v]), np.asarray(result.steps)
    model = {name: np.asarray(result.records[name][v], float) if name in result.records else None
             for name in ("weight_norm", "logit_spread", "dead_units")}
    return VariantCurves(steps=steps, train_acc=train_acc, test_acc=test_acc,
                         pristine_acc=np.asarray(result.pristine_acc[v], float),
                         corrupt_acc=np.asarray(result.corrupt_acc[v], float),
                         overfit=overfit(train_acc, test_acc, noise), noise=noise, c=int(result.c[v]),
                         proper=float(np.mean(result.pristine[v])), seed=int(result.seed[v]),
                         epochs=steps * result.config.batch_size / result.pristine.shape[1],
                         train_loss=np.asarray(result.train_loss[v], float), **model)


def seed_curves(result: sweep.SweepResult, noise: float, c: int | None = None) -> list[VariantCurves]:
    """The :class:`VariantCurves` of every seed of ``result`` at this noise level (and c), by seed.

    Raises:
      ValueError: no variant has this noise level (and c).
    """
    index = result.index(noise=noise, c=c)
    if len(index) == 0:
        raise ValueError(f"no variant with noise={noise}, c={c} (noise levels {np.unique(result.noise)}, "
                         f"c {np.unique(result.c)})")
    return [variant_curves(result, noise, c=c, seed=int(s)) for s in sorted(np.unique(result.seed[index]))]


def spread(values: Sequence[float]) -> tuple[float, float]:
    """``(mean, max - min)`` of per-seed values (range 0 for a single seed).

    Raises:
      ValueError: ``values`` is empty or not 1-D.
    """
    values = np.asarray(values, float)
    if values.ndim != 1 or len(values) < 1:
        raise ValueError(f"spread needs a non-empty 1-D sequence, got shape {values.shape}")
    return float(values.mean()), float(values.max() - values.min())


def smoothed(values: np.ndarray, window: int = SMOOTH) -> np.ndarray:
    """Running mean of a curve (R,) over full windows of ``window`` records: (R - window + 1,).

    Raises:
      ValueError: fewer than ``window`` records.
    """
    values = np.asarray(values, float)
    if values.ndim != 1 or len(values) < window or window < 1:
        raise ValueError(f"a curve of at least window={window} >= 1 records is needed, got shape {values.shape}")
    return np.convolve(values, np.ones(window) / window, mode="valid")


def memorization(curve: VariantCurves, num_classes: int = NUM_CLASSES) -> float:
    """Largest excess of the corrupt examples fitted over chance: max over records of the running mean
    (:data:`SMOOTH` records) of ``corrupt_acc - (1 - test_acc) / (num_classes - 1)``.

    ``corrupt_acc`` is the fraction of corrupt training examples predicted as their (wrong) training
    label; a network that memorizes none of them agrees with that label only when it errs on the
    example's true class (about ``1 - test_acc``) and lands on that one class (about one time in
    ``num_classes - 1``). 0: nothing memorized; ``1 - chance``: every corrupt label memorized.

    Raises:
      ValueError: the curve has no corrupt examples (noise 0).
    """
    if curve.noise == 0 or not np.all(np.isfinite(curve.corrupt_acc)):
        raise ValueError(f"memorization needs corrupt examples; this run has noise {curve.noise:.0%}")
    return float(np.max(smoothed(curve.corrupt_acc - (1 - curve.test_acc) / (num_classes - 1))))


def decline(curve: VariantCurves) -> float:
    """The smaller of the training and the test accuracy's drop from its peak to the end of the run
    (:func:`cgnb.engine.curves.peak_drop` after a running mean over :data:`SMOOTH` records): > 0 when
    both curves turn down."""
    return min(curves.peak_drop(curve.train_acc, smooth=SMOOTH), curves.peak_drop(curve.test_acc, smooth=SMOOTH))


def mean_overfit(curve: VariantCurves) -> float:
    """The overfit averaged over the run's records: the area under its curve over the run's length, which
    grows with the rate at which overfit grows (the paper's reading of its Figure 4)."""
    return float(np.mean(curve.overfit))


def output_norm_ratio(curve: VariantCurves, reference: VariantCurves) -> float:
    """The output layer's weight norm at the end of ``curve`` over the same at the end of ``reference``.

    Raises:
      ValueError: a run did not record the network (the sweep statistic ``"model"``).
    """
    if not (curve.has_model and reference.has_model):
        raise ValueError("output_norm_ratio needs runs that recorded the network (sweep stats=('model',))")
    return float(curve.weight_norm[-1, -1] / reference.weight_norm[-1, -1])


def health_lines(curve: VariantCurves, reference: VariantCurves, examples: int, *,
                 collapse: bool = True) -> list[str]:
    """What makes a run unable to support a claim, one line each (empty for a sound run).

    Args:
      curve: the run.
      reference: plain SGD at the same noise level and seed (its pristine accuracy is what the run
        should approach; :func:`cgnb.engine.health.never_learned`).
      examples: training examples behind each training accuracy (the binomial test of "at chance").
      collapse: also test for a collapse (:func:`cgnb.engine.health.collapse`: loss back at ln 10 or
        accuracy at chance after having learned). "Learned" and "at chance" are read on the pristine
        training examples: the training accuracy against noisy labels cannot rise far above chance at
        high noise (at 75 % its ceiling, the proper accuracy, is 0.325), so a run there that learned and
        then fell to a constant output would not count as having learned.

    Returns:
      Lines such as ``"c = 4, 25 %, seed 2: collapsed at step 2,300 ..."``.
    """
    where = f"c = {curve.c}, {100 * curve.noise:g} %, seed {curve.seed}: "
    lines = [health.never_learned(curve.pristine_acc, reference.pristine_acc, num_classes=NUM_CLASSES)]
    if collapse:
        lines.append(health.collapse(curve.steps, curve.train_loss, curve.pristine_acc, num_classes=NUM_CLASSES,
                                     examples=max(1, round(examples * curve.proper))))
    return [where + line for line in lines if line]
