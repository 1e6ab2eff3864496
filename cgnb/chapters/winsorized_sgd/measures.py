"""Chapter 5's measures of winsorized SGD and RM3 runs: overfit, memorization, per-variant curves.

* :func:`overfit` -- the Coherent Gradients paper's overfit ``train_acc - (n / 10 + (1 - n) * test_acc)``;
* :func:`variant_curves` -- one variant's curves and its exact proper accuracy, from a sweep result;
  :func:`seed_curves` and :func:`spread` for the seeds of one cell;
* :func:`chance_agreement` (the training accuracy a network that memorizes nothing gets from the corrupt
  labels) and :func:`memorization_margin`; the curve measures it also uses (largest rise, peak drop,
  first step reaching a level) are :mod:`cgnb.engine.curves`.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ...engine import sweep


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
    noise = float(result.noise[v])
    return VariantCurves(steps=np.asarray(result.steps), train_acc=train_acc, test_acc=test_acc,
                         pristine_acc=np.asarray(result.pristine_acc[v], float),
                         corrupt_acc=np.asarray(result.corrupt_acc[v], float),
                         overfit=overfit(train_acc, test_acc, noise), noise=noise, c=int(result.c[v]),
                         proper=float(np.mean(result.pristine[v])))


def chance_agreement(curve: VariantCurves, num_classes: int = 10) -> np.ndarray:
    """(R,) training accuracy a network that memorizes nothing gets from the corrupt labels by chance.

    Such a network treats a corrupt example like a test example: it is wrong about its true
    class with probability ``1 - test_acc`` (measured at the same record), and a wrong
    prediction lands on the one class the label was moved to with probability about
    ``1 / (num_classes - 1)``. Weighted by the corrupt fraction ``1 - proper``:
    ``(1 - proper) * (1 - test_acc) / (num_classes - 1)``.

    Raises:
      ValueError: fewer than two classes.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return (1.0 - curve.proper) * (1.0 - curve.test_acc) / (num_classes - 1)


def memorization_margin(curve: VariantCurves) -> float:
    """Largest ``train_acc - proper - chance_agreement`` over the records: > 0 means memorization."""
    return float(np.max(curve.train_acc - curve.proper - chance_agreement(curve)))


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
