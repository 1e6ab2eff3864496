"""Whether a training run can support a claim: collapse and failure to learn, from its recorded curves.

A run that *collapsed* (after having learned, its network outputs a constant: the training loss is
back at ln K, the accuracy back at chance) or that *never learned* (its pristine examples stayed far
below what plain SGD fits at the same noise) supports no claim: :func:`cgnb.engine.verdicts.decide`
makes a check resting on one ``"not testable"`` (unless the claim is about such runs). The lines
these functions return name what happened and when, for the record's reason.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: A run "had learned" once its accuracy rose this far above chance.
LEARNED_MARGIN = 0.2
#: A loss within this of ln K is a constant prediction (the uniform softmax has loss exactly ln K).
LOSS_EPS = 0.01
#: Binomial standard errors above chance that still count as "at chance".
CHANCE_SE = 3.0
#: A run "never learned" when its best pristine accuracy got less than this share of plain SGD's
#: gain over chance.
LEARNED_SHARE = 0.5


def _curve(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{name}: an empty curve")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: the curve has non-finite values (a diverged run is an error, not a result)")
    return array


def at_chance(accuracy: float, num_classes: int, examples: int) -> bool:
    """Whether ``accuracy`` on ``examples`` examples is within :data:`CHANCE_SE` binomial s.e. of chance."""
    chance = 1.0 / num_classes
    return accuracy <= chance + CHANCE_SE * math.sqrt(chance * (1 - chance) / max(examples, 1))


def collapse(steps: Sequence[int], loss: Sequence[float], accuracy: Sequence[float], *, num_classes: int,
             examples: int) -> str:
    """``"collapsed at step s (loss 2.303 = ln 10, accuracy 0.101)"`` or ``""``.

    A run collapsed when it had learned (accuracy above chance by :data:`LEARNED_MARGIN` at some
    record) and from some later record to the end its loss stays within :data:`LOSS_EPS` of ln K or
    its accuracy stays at chance (:func:`at_chance`).

    Args:
      steps: (R,) record steps.
      loss: (R,) training loss at the records.
      accuracy: (R,) training accuracy at the records.
      num_classes: K.
      examples: examples behind each accuracy (for the binomial test of "at chance").
    """
    steps = np.asarray(steps)
    loss, accuracy = _curve(loss, "loss"), _curve(accuracy, "accuracy")
    if not len(steps) == len(loss) == len(accuracy):
        raise ValueError(f"steps, loss and accuracy must have one value per record, got {len(steps)}, "
                         f"{len(loss)}, {len(accuracy)}")
    chance, ln_k = 1.0 / num_classes, math.log(num_classes)
    learned = np.flatnonzero(accuracy >= chance + LEARNED_MARGIN)
    if learned.size == 0:
        return ""
    flat = (np.abs(loss - ln_k) <= LOSS_EPS) | np.array([at_chance(a, num_classes, examples) for a in accuracy])
    if not flat[-1]:
        return ""
    start = len(flat) - 1
    while start > 0 and flat[start - 1]:
        start -= 1
    if start <= learned[0]:
        return ""
    return (f"collapsed at step {int(steps[start]):,} after reaching accuracy {accuracy.max():.3f} "
            f"(end: loss {loss[-1]:.4f}, ln {num_classes} = {ln_k:.4f}; accuracy {accuracy[-1]:.3f})")


def never_learned(pristine: Sequence[float], reference: Sequence[float], *, num_classes: int) -> str:
    """``"never learned: best pristine accuracy 0.21 against plain SGD's 0.98"`` or ``""``.

    Args:
      pristine: (R,) the run's accuracy on its pristine training examples.
      reference: (R',) plain SGD's pristine accuracy at the same noise level (and seed).
      num_classes: K.
    """
    best, ref = float(_curve(pristine, "pristine").max()), float(_curve(reference, "reference").max())
    chance = 1.0 / num_classes
    if ref <= chance or best >= chance + LEARNED_SHARE * (ref - chance):
        return ""
    return (f"never learned: best pristine accuracy {best:.3f} against plain SGD's {ref:.3f} "
            f"(less than {LEARNED_SHARE:.0%} of its gain over chance {chance:.2f})")
