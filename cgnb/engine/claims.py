"""A chapter's claims and the rules that decide them, written down before the run.

A :class:`Claim` is what a source says. Each of its :class:`Rule` objects is one check: a statistic
measured once per seed (or per run), the direction the claim predicts, a threshold with the reason
for it, and the uncertainty :class:`Band` the statistic is compared with. A chapter lists its
claims in ``cgnb/chapters/<name>/claims.py``; :func:`cgnb.engine.verdicts.decide` turns measured
values into one of the :data:`VERDICTS`, :class:`cgnb.engine.ledger.Ledger` records them.

Reference: the verdict vocabulary follows ``shared/CLAIMS.md`` of the book's repository.
"""
from __future__ import annotations

import dataclasses
import math
import re

CLAIM_ID = re.compile(r"C\d+\.\d+[a-z]?")
RULE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")

#: Every verdict a check or a claim can get, from best supported to least testable.
VERDICTS = ("holds", "inconclusive", "not reproduced", "refuted", "not testable")
#: The directions a claim can predict: ``statistic <op> threshold``.
OPS = (">", ">=", "<", "<=")
BANDS = ("seeds", "range", "exact")
ROLLUPS = ("all", "any")
KINDS = ("claim", "literal", "implementation")


@dataclasses.dataclass(frozen=True)
class Band:
    """How the uncertainty of a statistic is computed from its per-seed values.

    Attributes:
      kind: ``"seeds"``: the mean over seeds +- t(0.975, n - 1) * s / sqrt(n), a 95 % interval of the
        mean (zero width with one value); ``"range"``: from the smallest to the largest seed, so a
        claim holds only if every seed agrees; ``"exact"``: no band, for implementation checks whose
        threshold is itself a floating-point tolerance.
      binomial: the number of examples behind a statistic that is an accuracy (a proportion); the
        band then covers at least the Wilson score interval at z = 2 of the estimate on that many
        examples (:func:`cgnb.engine.verdicts.wilson`; about +- 2 binomial standard errors, with a
        width at 0 and 1). 0: not a proportion.
    """

    kind: str = "seeds"
    binomial: int = 0

    def __post_init__(self):
        if self.kind not in BANDS:
            raise ValueError(f"a band's kind is one of {BANDS}, got {self.kind!r}")
        if isinstance(self.binomial, bool) or not isinstance(self.binomial, int) or self.binomial < 0:
            raise ValueError(f"Band.binomial is the number of examples behind an accuracy (an int >= 0), "
                             f"got {self.binomial!r}")

    def describe(self) -> str:
        """The band in words, e.g. ``"mean ± 95 % t-interval over seeds"``."""
        text = {"seeds": "mean ± 95 % t-interval over seeds", "range": "every seed (min to max)",
                "exact": "exact comparison"}[self.kind]
        return text + (f", at least the binomial (Wilson) interval of {self.binomial:,} examples" if self.binomial else "")


@dataclasses.dataclass(frozen=True)
class Rule:
    """One check of a claim: ``statistic <op> threshold`` decided against an uncertainty band.

    Attributes:
      name: the check's name within its claim, e.g. ``"fits"`` (lower-case, digits, ``-``, ``_``).
      statistic: what is measured once per seed or run, in words.
      op: the direction the claim predicts, one of :data:`OPS`.
      threshold: the value the statistic must pass.
      why: the reason for this threshold (a source's number, a chance level, a float tolerance).
      band: the uncertainty the statistic is compared with.
      miss: the verdict when the whole band lies on the wrong side of the threshold:
        ``"not reproduced"`` (the effect is absent), or ``"refuted"`` for a literal statement
        that the measurement contradicts.
      refute_at: where the opposite of the claim is established: a band lying wholly beyond this
        value on the wrong side is ``"refuted"``; None: this check never refutes.
      degenerate_ok: a run that collapsed or never learned still counts (the claim is about such
        failures); by default any degenerate run makes the check ``"not testable"``.
      decides: False for a check that is shown as context and left out of the claim's verdict.
    """

    name: str
    statistic: str
    op: str
    threshold: float
    why: str
    band: Band = Band()
    miss: str = "not reproduced"
    refute_at: float | None = None
    degenerate_ok: bool = False
    decides: bool = True

    def __post_init__(self):
        if not RULE_NAME.fullmatch(self.name or ""):
            raise ValueError(f"a rule's name is lower-case letters, digits, '-' or '_', e.g. 'fits'; got {self.name!r}")
        if self.op not in OPS:
            raise ValueError(f"rule {self.name!r}: op must be one of {OPS}, got {self.op!r}")
        for field in ("threshold", "refute_at"):
            value = getattr(self, field)
            if value is None and field == "refute_at":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"rule {self.name!r}: {field} must be a finite number, got {value!r}")
        if self.miss not in ("not reproduced", "refuted"):
            raise ValueError(f"rule {self.name!r}: miss is 'not reproduced' or 'refuted', got {self.miss!r}")
        if self.refute_at is not None and self.beyond(self.refute_at, self.threshold):
            raise ValueError(f"rule {self.name!r}: refute_at={self.refute_at} lies on the side where the claim "
                             f"holds ({self.op} {self.threshold}); it must be on the other side")
        for field in ("statistic", "why"):
            if not getattr(self, field).strip():
                raise ValueError(f"rule {self.name!r} needs a {field}")

    def beyond(self, value: float, threshold: float) -> bool:
        """Whether ``value`` lies on the claim's side of ``threshold`` (``value <op> threshold``)."""
        return {">": value > threshold, ">=": value >= threshold,
                "<": value < threshold, "<=": value <= threshold}[self.op]

    def expected(self) -> str:
        """The claim's side of the threshold in words, e.g. ``">= 0.99"``."""
        return f"{self.op} {self.threshold:.4g}"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a chapter's source and the rules that decide it.

    Attributes:
      id: e.g. ``"C4.1"`` (chapter 4's first claim); a letter suffix marks a claim split off
        another one (``"C1.2a"``).
      statement: what the source says, in a sentence (quoted where the source is literal).
      short: the claim in a few words, for the findings tables.
      rules: its checks; a chapter may decide a rule once per cell (noise level, c, ...).
      rollup: how the checks' verdicts make the claim's: ``"all"`` (a universal claim: it holds
        only if every deciding check holds) or ``"any"`` (an existential one: it holds if some
        check holds); see :func:`cgnb.engine.verdicts.rollup`.
      kind: ``"claim"`` (the source's claim), ``"literal"`` (the source's literal words, e.g. a
        number, beside the corrected form the book derives) or ``"implementation"`` (a check of
        the book's own code or of a theorem, not of the source's empirical claim).
      not_testable: why the chapter's model cannot express the claim; the claim then has no rules
        and its verdict is ``"not testable"``.
    """

    id: str
    statement: str
    short: str = ""
    rules: tuple[Rule, ...] = ()
    rollup: str = "all"
    kind: str = "claim"
    not_testable: str = ""

    def __post_init__(self):
        if not CLAIM_ID.fullmatch(self.id or ""):
            raise ValueError(f"a claim id looks like 'C4.1' or 'C1.2a'; got {self.id!r}")
        if not self.statement.strip():
            raise ValueError(f"claim {self.id} needs the source's statement")
        object.__setattr__(self, "rules", tuple(self.rules))
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"claim {self.id}: two rules share a name in {names}")
        if self.rollup not in ROLLUPS:
            raise ValueError(f"claim {self.id}: rollup is one of {ROLLUPS}, got {self.rollup!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind is one of {KINDS}, got {self.kind!r}")
        if self.not_testable and self.rules:
            raise ValueError(f"claim {self.id} is declared not testable, so it cannot also have rules")

    def rule(self, name: str | None = None) -> Rule:
        """The rule called ``name``; None: the claim's only rule.

        Raises:
          KeyError: no such rule, or ``name`` is None and the claim has several (or none).
        """
        if name is None:
            if len(self.rules) != 1:
                raise KeyError(f"claim {self.id} has {len(self.rules)} rules {[r.name for r in self.rules]}: "
                               f"name the one to decide")
            return self.rules[0]
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(f"claim {self.id} has no rule {name!r}; its rules are {[r.name for r in self.rules]}")
