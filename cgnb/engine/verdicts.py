"""Verdicts by rule: measured values and a :class:`cgnb.engine.claims.Rule` give one verdict.

:func:`decide` compares a statistic's per-seed values with its rule. The band (see
:class:`cgnb.engine.claims.Band`) is an interval ``[low, high]`` around the estimate; with the
claim predicting ``statistic > threshold``:

* **holds**: the whole band lies beyond the threshold (``low > threshold``);
* **not reproduced** (or the rule's ``miss``): the whole band lies on the wrong side
  (``high <= threshold``);
* **refuted**: the whole band lies beyond the rule's ``refute_at`` on the wrong side;
* **inconclusive**: the band contains the threshold;
* **not testable**: a run behind the values collapsed or never learned (unless the rule says
  such runs are the phenomenon), or the check's premise is absent in this run (``not_testable``:
  e.g. "milder than dropout" where the effect to be milder does not occur).

:func:`rollup` turns the verdicts of a claim's checks into the claim's verdict, by the claim's
stated rule (``"all"`` or ``"any"``).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

import numpy as np

from .claims import VERDICTS, Claim, Rule

#: Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom; beyond, 2.0 (conservative).
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)
BINOMIAL_Z = 2.0


def t_quantile(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df >= 1`` degrees of freedom (2.0 beyond 30)."""
    if df < 1:
        raise ValueError(f"t_quantile needs df >= 1, got {df}")
    return T_975[df - 1] if df <= len(T_975) else 2.0


@dataclasses.dataclass(frozen=True)
class Decision:
    """What :func:`decide` found for one check.

    Attributes:
      verdict: one of :data:`cgnb.engine.claims.VERDICTS`.
      estimate: the statistic (the mean over seeds for a ``seeds`` band, else the middle of the range).
      low, high: the band around it.
      n: the number of values (seeds or runs).
      reason: one sentence on why this verdict, in terms of the band and the threshold.
    """

    verdict: str
    estimate: float
    low: float
    high: float
    n: int
    reason: str


def as_values(values: float | Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    """``values`` as a 1-D float array of finite numbers.

    Raises:
      TypeError: a value is not a real number (a string, a bool, an object).
      ValueError: no values, or a value is NaN or infinite (a failed measurement, not a result).
    """
    array = np.asarray(values, dtype=object).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{what}: no values to decide on")
    numbers = []
    for value in array:
        if isinstance(value, (bool, np.bool_, str, bytes)) or not np.isscalar(value) and not hasattr(value, "dtype"):
            raise TypeError(f"{what}: every value must be a real number, got {type(value).__name__} {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(f"{what}: every value must be a real number, got {type(value).__name__} "
                            f"{value!r:.40}") from None
        if not math.isfinite(number):
            raise ValueError(f"{what}: a measured value is {number}; a claim cannot rest on it (the computation "
                             f"behind it failed, e.g. an empty group or a diverged run). Fix the measurement.")
        numbers.append(number)
    return np.asarray(numbers, dtype=np.float64)


def band(rule: Rule, values: np.ndarray) -> tuple[float, float, float]:
    """``(estimate, low, high)`` of ``values`` (n,) under the rule's band."""
    n = len(values)
    if rule.band.kind == "range":
        estimate, low, high = float(np.median(values)), float(values.min()), float(values.max())
    else:
        estimate = float(values.mean())
        half = 0.0
        if rule.band.kind == "seeds" and n > 1:
            half = t_quantile(n - 1) * float(values.std(ddof=1)) / math.sqrt(n)
        low, high = estimate - half, estimate + half
    if rule.band.binomial:
        wilson_low, wilson_high = wilson(estimate, rule.band.binomial)
        low, high = min(low, wilson_low), max(high, wilson_high)
    return estimate, low, high


def wilson(p: float, n: int, z: float = BINOMIAL_Z) -> tuple[float, float]:
    """Wilson's score interval ``(low, high)`` of a proportion ``p`` observed on ``n`` examples.

    Unlike ``p +- z sqrt(p (1 - p) / n)`` it keeps a width at ``p = 0`` or ``1`` (0 of 3 null worlds
    does not establish a rate below 5 %: the interval is [0, 0.57]) and stays inside [0, 1]; away
    from 0 and 1 on many examples the two agree. Reference: Wilson, JASA 22 (1927), 209-212.

    Raises:
      ValueError: ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"a binomial interval needs n >= 1 examples, got {n}")
    p = min(max(float(p), 0.0), 1.0)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _near_and_far(rule: Rule, low: float, high: float) -> tuple[float, float]:
    """The band's ends nearest to and farthest from the claim's side."""
    return (low, high) if rule.op in (">", ">=") else (high, low)


def with_examples(rule: Rule, examples: int | None) -> Rule:
    """``rule`` with its binomial band on ``examples`` examples, the count of this run (e.g. its test set,
    or its null worlds), which may differ from the count the rule states; None: ``rule`` unchanged.

    Raises:
      ValueError: the rule's band has no binomial part (its statistic is not a proportion), or
        ``examples`` is not a positive int.
    """
    if examples is None:
        return rule
    if not rule.band.binomial:
        raise ValueError(f"rule {rule.name!r}: its band has no binomial part (Band(binomial=N) in the claims "
                         f"registry), so it takes no number of examples")
    if isinstance(examples, bool) or not isinstance(examples, (int, np.integer)) or examples < 1:
        raise ValueError(f"rule {rule.name!r}: examples is the number of examples behind the proportion, an "
                         f"int >= 1; got {examples!r}")
    return dataclasses.replace(rule, band=dataclasses.replace(rule.band, binomial=int(examples)))


def decide(rule: Rule, values: float | Sequence[float] | np.ndarray, *,
           degenerate: Iterable[str] = (), not_testable: str = "",
           examples: int | None = None) -> Decision:
    """The verdict of one check.

    Args:
      rule: the check's rule.
      values: (n,) the statistic per seed or run (a scalar for one run).
      degenerate: one line per run behind the values that collapsed or never learned (e.g.
        ``"seed 3 collapsed at step 2,300"``); empty when every run is sound.
      not_testable: why this check cannot be decided in this run although its runs are sound
        (its premise is absent, e.g. a comparison with an effect that did not occur); empty
        when it can. The values are still measured and shown.
      examples: for a rule with a binomial band, the number of examples behind the proportion in
        this run (:func:`with_examples`); None: the rule's own count.

    Returns:
      A :class:`Decision`.

    Raises:
      TypeError, ValueError: a value is not a finite real number (see :func:`as_values`), or
        ``examples`` is given for a rule without a binomial band.
    """
    rule = with_examples(rule, examples)
    values = as_values(values, f"rule {rule.name!r}")
    estimate, low, high = band(rule, values)
    n = len(values)
    degenerate = [d for d in degenerate if d]
    if not_testable.strip():
        return Decision("not testable", estimate, low, high, n, "not testable in this run: " + not_testable.strip())
    if degenerate and not rule.degenerate_ok:
        return Decision("not testable", estimate, low, high, n,
                        "a run behind it is degenerate, so it supports nothing: " + "; ".join(degenerate))
    worst, best = _near_and_far(rule, low, high)
    where = f"[{low:.4g}, {high:.4g}]" if high > low else f"{estimate:.4g}"
    if rule.beyond(worst, rule.threshold):
        return Decision("holds", estimate, low, high, n, f"{where} lies wholly {rule.expected()}")
    if rule.refute_at is not None and not rule.beyond(best, rule.refute_at) and best != rule.refute_at:
        return Decision("refuted", estimate, low, high, n,
                        f"{where} lies wholly beyond {rule.refute_at:.4g}, the opposite of the claim")
    if not rule.beyond(best, rule.threshold) and best != rule.threshold:
        return Decision(rule.miss, estimate, low, high, n, f"{where} lies wholly outside {rule.expected()}")
    touches = "contains" if high > low else "sits on"  # a band, or a value with no spread (every seed alike)
    return Decision("inconclusive", estimate, low, high, n, f"{where} {touches} the threshold {rule.threshold:.4g}")


def rollup(claim: Claim, verdicts: Sequence[str]) -> str:
    """The claim's verdict from the verdicts of its deciding checks.

    ``"all"`` (a universal claim): **holds** if every check holds; else **refuted** if any check is
    refuted, **not reproduced** if any is not reproduced, **not testable** if none could be tested,
    and **inconclusive** otherwise. ``"any"`` (an existential claim): **holds** if some check holds,
    otherwise as ``"all"``. A claim declared not testable, or with no check, is **not testable**.

    Raises:
      ValueError: a verdict is not one of :data:`cgnb.engine.claims.VERDICTS`.
    """
    unknown = sorted(set(verdicts) - set(VERDICTS))
    if unknown:
        raise ValueError(f"claim {claim.id}: unknown verdicts {unknown}; use {VERDICTS}")
    if claim.not_testable or not verdicts:
        return "not testable"
    if all(v == "holds" for v in verdicts) or (claim.rollup == "any" and "holds" in verdicts):
        return "holds"
    for verdict in ("refuted", "not reproduced"):
        if verdict in verdicts:
            return verdict
    if all(v == "not testable" for v in verdicts):
        return "not testable"
    return "inconclusive"


def rollup_rule(claim: Claim) -> str:
    """The claim's roll-up rule in words, as the claims page states it."""
    if claim.rollup == "any":
        return "holds if any check holds; otherwise the most severe of refuted, not reproduced, inconclusive"
    return "holds only if every check holds; otherwise the most severe of refuted, not reproduced, inconclusive"


def counts(verdicts: Sequence[str]) -> str:
    """``"holds in 3 of 9 checks, not reproduced in 6"``: how the checks split, most frequent first."""
    if not verdicts:
        return "no check"
    tally = {v: sum(x == v for x in verdicts) for v in VERDICTS if v in verdicts}
    parts = sorted(tally.items(), key=lambda item: (-item[1], VERDICTS.index(item[0])))
    (first, k), rest = parts[0], parts[1:]
    noun = "check" if len(verdicts) == 1 else "checks"
    text = f"{first} in {k} of {len(verdicts)} {noun}"
    return text + "".join(f", {v} in {m}" for v, m in rest)
