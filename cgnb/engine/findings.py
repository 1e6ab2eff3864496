"""Findings: one verdict per claim per profile, rolled up from the ledger's records by the claim's rule.

The chapters' findings boxes, the claims page and the landing page are all built from
:func:`findings` and rendered with :func:`markdown_table`, so they always agree with the ledger.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, Sequence

from . import verdicts
from .book import Chapter
from .claims import Claim
from .ledger import ICONS

SEVERITY = ("refuted", "not reproduced", "inconclusive", "not testable", "holds")


@dataclasses.dataclass(frozen=True)
class Finding:
    """A claim's verdict in one profile.

    Attributes:
      claim: the claim, with its rules.
      profile: ``quick``, ``paper`` or a stored run's name.
      verdict: the claim's verdict (:func:`cgnb.engine.verdicts.rollup` of its deciding checks).
      split: how its checks split, e.g. ``"holds in 3 of 9 checks, not reproduced in 6"``.
      measured: the measured value against the expected one (one check), or the split (several).
      why: one sentence: the reason of the most severe deciding check.
      records: the ledger records behind it.
    """

    claim: Claim
    profile: str
    verdict: str
    split: str
    measured: str
    why: str
    records: tuple[dict, ...]


def _measured(record: Mapping) -> str:
    value = (f"{record['estimate']:.3g} [{record['low']:.3g}, {record['high']:.3g}]"
             if record["high"] > record["low"] else f"{record['estimate']:.3g}")
    return f"{value} (needs {record['op']} {record['threshold']:.3g})"


def finding(claim: Claim, profile: str, records: Sequence[Mapping]) -> Finding:
    """The :class:`Finding` of ``claim`` from its records in ``profile`` (possibly none)."""
    deciding = [r for r in records if r["decides"]]
    verdict_list = [r["verdict"] for r in deciding]
    verdict = verdicts.rollup(claim, verdict_list)
    split = verdicts.counts(verdict_list) if deciding else "no check"
    if claim.not_testable:
        return Finding(claim, profile, verdict, "not testable", "–", claim.not_testable, tuple(records))
    if not deciding:
        return Finding(claim, profile, verdict, split, "–", "no check of this claim ran", tuple(records))
    worst = min(deciding, key=lambda r: SEVERITY.index(r["verdict"]))
    measured = _measured(deciding[0]) if len(deciding) == 1 else split
    return Finding(claim, profile, verdict, split, measured, worst["reason"], tuple(records))


def findings(chapter: Chapter, records: Iterable[Mapping], profiles: Sequence[str] | None = None) -> list[Finding]:
    """One :class:`Finding` per claim of ``chapter`` and per profile present in ``records``.

    Args:
      chapter: the chapter whose claims are rolled up.
      records: ledger records (of any chapters; the chapter's own are used).
      profiles: the profiles to report, in order; None: those in the records (``quick`` and
        ``paper`` first, stored runs after, by name).
    """
    own = [r for r in records if r["chapter"] == chapter.name]
    if profiles is None:
        seen = {r["profile"] for r in own}
        profiles = [p for p in ("quick", "paper") if p in seen] + sorted(seen - {"quick", "paper"})
    return [finding(claim, profile, [r for r in own if r["claim"] == claim.id and r["profile"] == profile])
            for profile in profiles for claim in chapter.claims]


def verdict_badge(verdict: str) -> str:
    """``"✅ holds"``: a verdict with its icon."""
    return f"{ICONS[verdict]} {verdict}"


def markdown_table(found: Sequence[Finding]) -> str:
    """A Markdown table, one row per claim, one verdict column per profile, then measured and why
    (of the first profile). Its first column is named "claim": the book's ``cgnb.js`` finds a findings
    table by that name to lay it out as cards on a narrow screen."""
    if not found:
        return "*No claim was decided in this build.*"
    profiles = list(dict.fromkeys(f.profile for f in found))
    claims = list(dict.fromkeys(f.claim.id for f in found))
    by_key = {(f.claim.id, f.profile): f for f in found}
    header = ["claim", "in short", *profiles, "measured", "why"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for claim_id in claims:
        first = by_key[(claim_id, profiles[0])] if (claim_id, profiles[0]) in by_key else \
            next(f for f in found if f.claim.id == claim_id)
        cells = [claim_id, first.claim.short or first.claim.statement,
                 *(verdict_badge(by_key[(claim_id, p)].verdict) if (claim_id, p) in by_key else "–" for p in profiles),
                 first.measured, first.why]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)
