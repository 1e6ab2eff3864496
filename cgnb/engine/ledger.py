"""The claims ledger: check a claim on a measured value, record the outcome, fail loudly.

Every chapter asserts its source's claims through :func:`check` (or a :class:`Ledger`
bound to the chapter). Each check appends one JSON record to
``<claims_dir>/<chapter>.jsonl``::

    {"chapter": "ch2", "claim": "C2.1", "statement": "...", "profile": "quick",
     "value": 3.1e-08, "op": "<=", "threshold": 1e-05, "holds": true,
     "status": "checked", "note": "", "time": "..."}

and raises :class:`ClaimFailed` (an ``AssertionError``, so nbval fails the notebook) with
what was expected and what was measured when the claim does not hold. A measured value that is
not finite (NaN, inf) is never recorded: the check raises :class:`ValueError`.

A notebook's run is a :class:`Ledger`: its records go to ``<chapter>.jsonl.running`` and replace
``<chapter>.jsonl`` only when :meth:`Ledger.finish` confirms that the run is complete (every
expected claim checked, none failed), so a run that fails half-way never erases the records of
the last good run. A claim that the
sources make only at full scale is checked with ``paper_only=True``: in the ``paper``
profile it is asserted as usual, in ``quick`` it is measured and recorded with status
``"paper-only"`` but not asserted. The book's claims page renders all records of the
last build with :func:`records_table`.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import paths, profiles

OPS = ("<", "<=", ">", ">=", "==", "within")

class ClaimFailed(AssertionError):
    """A claim did not hold on the value measured in this run."""


def _as_number(value: Any, what: str) -> float | bool:
    if isinstance(value, (bool,)) or (hasattr(value, "dtype") and getattr(value, "dtype") == bool):
        return bool(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number or a bool, got {type(value).__name__}: {value!r}") from None
    return number


def evaluate(value: float | bool, op: str, threshold: Any) -> bool:
    """Whether ``value op threshold`` holds; ``within`` takes ``threshold=(low, high)``, inclusive."""
    if op not in OPS:
        raise ValueError(f"op {op!r} is not supported; use one of {OPS}")
    if op == "within":
        if not (isinstance(threshold, Sequence) and len(threshold) == 2):
            raise ValueError(f"op 'within' needs threshold=(low, high), got {threshold!r}")
        low, high = (float(t) for t in threshold)
        if low > high:
            raise ValueError(f"op 'within' needs low <= high, got ({low}, {high})")
        return bool(low <= float(value) <= high)
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool({
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "==": lambda a, b: a == b,
    }[op](value, threshold))


def _jsonable(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, numbers.Number) or hasattr(x, "dtype"):
        number = float(x)
        return number if math.isfinite(number) else str(number)
    return str(x)


def describe(op: str, threshold: Any) -> str:
    """Human form of a comparison, e.g. ``"<= 1e-05"`` or ``"in [0.9, 1.1]"``."""
    if op == "within":
        low, high = threshold
        return f"in [{low:.4g}, {high:.4g}]"
    if isinstance(threshold, bool):
        return f"{op} {threshold}"
    try:
        return f"{op} {float(threshold):.4g}"
    except (TypeError, ValueError):
        return f"{op} {threshold}"


def check(
    chapter: str,
    claim: str,
    statement: str,
    value: Any,
    op: str,
    threshold: Any,
    *,
    paper_only: bool = False,
    reproduced: bool = True,
    note: str = "",
    directory: Path | None = None,
    file: Path | None = None,
) -> bool:
    """Check ``value op threshold`` for a claim, append its record, raise if it fails.

    Args:
      chapter: chapter id, e.g. ``"ch2"``; names the record file.
      claim: claim id, e.g. ``"C2.1"`` (chapter 2's first claim).
      statement: the claim in plain words, as the claims page shows it.
      value: the number (or bool) measured in this run.
      op: one of ``< <= > >= == within``.
      threshold: the number to compare with; ``(low, high)`` for ``within``.
      paper_only: the claim is made at full scale only: asserted in the ``paper``
        profile, measured and recorded but not asserted in ``quick``.
      reproduced: ``False`` for a claim of the source that this chapter measured and found
        not to hold (the text says why): recorded as ``"not reproduced"``, and the check
        fails if the claim unexpectedly holds.
      note: free text shown beside the record (e.g. why a claim is paper-only).
      directory: where the ledger lives (default :func:`cgnb.engine.paths.claims_dir`).
      file: the record file (default ``<directory>/<chapter>.jsonl``; a :class:`Ledger` passes
        its run's file).

    Returns:
      Whether the claim holds.

    Raises:
      ClaimFailed: the claim is asserted in this profile and does not hold, or it was
        declared not reproduced and holds.
      ValueError, TypeError: malformed op, threshold or value, or a value that is not finite.
    """
    if not chapter or not claim:
        raise ValueError("check needs a chapter id (e.g. 'ch2') and a claim id (e.g. 'C2.1')")
    if paper_only and not reproduced:
        raise ValueError(f"claim {claim}: paper_only and reproduced=False exclude each other; choose one")
    value = _as_number(value, f"value of claim {claim}")
    if not isinstance(value, bool) and not math.isfinite(value):
        raise ValueError(f"claim {claim} ({chapter}): the measured value is {value}, not a number a claim can "
                         f"rest on; the computation behind it failed (e.g. an empty group or a diverged run). "
                         f"Fix the measurement; nothing was recorded.")
    holds = evaluate(value, op, threshold)
    profile = profiles.profile()
    asserted = not (paper_only and profile != "paper")
    record = {
        "chapter": chapter,
        "claim": claim,
        "statement": statement,
        "profile": profile,
        "value": _jsonable(value),
        "op": op,
        "threshold": _jsonable(threshold),
        "holds": holds,
        "status": "not reproduced" if not reproduced else ("checked" if asserted else "paper-only"),
        "note": note,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if file is None:
        folder = Path(directory) if directory is not None else paths.claims_dir()
        file = folder / f"{chapter}.jsonl"
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    if not reproduced:
        if holds:
            raise ClaimFailed(
                f"Claim {claim} ({chapter}, profile {profile}) was declared not reproduced, but it holds: "
                f"measured {value!r}, {describe(op, threshold)}. Update the chapter's text and the check. "
                f"Claim: {statement}")
        return holds
    if asserted and not holds:
        raise ClaimFailed(
            f"Claim {claim} ({chapter}, profile {profile}) does not hold: expected value "
            f"{describe(op, threshold)}, measured {value!r}. Claim: {statement}"
        )
    return holds


class Ledger:
    """One run of a chapter's checks: :func:`check` bound to the chapter, published by :meth:`finish`.

    A notebook creates one ``Ledger("ch2")`` at its top and calls ``ledger.finish(expected)`` in
    its last cell. Until then the run's records live in ``<chapter>.jsonl.running``; the records
    of the last finished run (``<chapter>.jsonl``) stay untouched, so a run that fails half-way
    (a failed claim, an exception, an interrupted kernel) never erases them.
    """

    def __init__(self, chapter: str, directory: Path | None = None):
        if not chapter or "/" in chapter:
            raise ValueError(f"a ledger needs a chapter id without '/', e.g. 'ch2'; got {chapter!r}")
        self.chapter = chapter
        self.directory = Path(directory) if directory is not None else paths.claims_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{chapter}.jsonl"
        self.running = self.directory / f"{chapter}.jsonl.running"
        self.running.write_text("", encoding="utf-8")
        self.failed: list[str] = []

    def check(self, claim: str, statement: str, value: Any, op: str, threshold: Any, **kwargs) -> bool:
        """See :func:`check`; the record goes to this run's file."""
        try:
            return check(self.chapter, claim, statement, value, op, threshold, file=self.running, **kwargs)
        except Exception:
            self.failed.append(claim)
            raise

    def finish(self, expected: Sequence[str] = ()) -> None:
        """Publish this run's records as the chapter's records, if the run is complete.

        Args:
          expected: claim ids the chapter must have checked (e.g. ``("C2.1", "C2.2")``).

        Raises:
          RuntimeError: a check of this run failed, or an expected claim was not checked; the
            last good records are kept and this run's stay in ``<chapter>.jsonl.running``.
        """
        checked = {r["claim"] for r in _read(self.running)}
        missing = [c for c in expected if c not in checked]
        if self.failed or missing:
            raise RuntimeError(
                f"{self.chapter}: this run is incomplete (failed checks: {self.failed or 'none'}; expected "
                f"claims not checked: {missing or 'none'}); the records of the last finished run in {self.path} "
                f"are kept, this run's are in {self.running}")
        os.replace(self.running, self.path)


def _read(file: Path) -> list[dict]:
    if not file.is_file():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_records(directory: Path | None = None) -> list[dict]:
    """All records in the ledger folder, sorted by chapter then claim id."""
    folder = Path(directory) if directory is not None else paths.claims_dir()
    records = [r for file in sorted(folder.glob("*.jsonl")) for r in _read(file)]

    def key(r: dict) -> tuple:
        parts = r["claim"].lstrip("C").split(".")
        return tuple(int(p) if p.isdigit() else 0 for p in parts) + (r["claim"],)

    return sorted(records, key=key)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.4g}"
    return str(value)


def _result(record: dict) -> str:
    """One word or phrase for a record: what was asserted and whether it held."""
    status, holds = record["status"], record["holds"]
    if status == "paper-only":
        return "paper-only (" + ("holds here" if holds else "**does not hold** at this scale") + ")"
    if status == "not reproduced":
        return "**not reproduced**"
    return "holds" if holds else "**fails**"


def records_table(records: list[dict]) -> str:
    """A Markdown table of ledger records, one row per record: claim, statement, measured
    value, expected comparison, result (the profile is added to the result when the records
    come from more than one)."""
    several_profiles = len({r["profile"] for r in records}) > 1
    head = "| claim | statement | measured | expected | result |\n|---|---|---:|---|---|\n"
    rows = []
    for r in records:
        threshold = tuple(r["threshold"]) if r["op"] == "within" else r["threshold"]
        statement = r["statement"].replace("|", "\\|")
        if r.get("note"):
            statement += f" *({r['note']})*".replace("|", "\\|")
        result = _result(r) + (f" [{r['profile']}]" if several_profiles else "")
        rows.append(f"| {r['claim']} | {statement} | {_fmt(r['value'])} | {describe(r['op'], threshold)} | {result} |")
    return head + "\n".join(rows) + "\n"


def summary(records: list[dict], expected: Mapping[str, Sequence[str]] | None = None) -> str:
    """One Markdown paragraph: how many claims hold, are paper-only, failed, or are missing.

    ``expected`` maps each chapter id to the claim ids it must check (e.g.
    ``{"ch1": ("C1.1", "C1.2")}``); the claims among them that no record checks are listed
    as missing. ``None``: nothing is reported missing.
    """
    seen = {r["claim"] for r in records}
    checked = [r for r in records if r["status"] == "checked"]
    held = sum(r["holds"] for r in checked)
    paper_only = [r for r in records if r["status"] == "paper-only"]
    refuted = [r for r in records if r["status"] == "not reproduced"]
    missing = [c for ids in (expected or {}).values() for c in ids if c not in seen]
    profiles_seen = sorted({r["profile"] for r in records}) or ["none"]
    text = (f"**{len(records)} checks** in the last build (profile: {', '.join(profiles_seen)}): "
            f"{held} of {len(checked)} asserted checks hold, {len(checked) - held} failed; "
            f"{len(paper_only)} paper-only (recorded, not asserted); "
            f"{len(refuted)} found not to reproduce (asserted to fail, explained in the chapter)")
    if expected is not None:
        text += (f"; not yet checked by any chapter: {', '.join(missing)}." if missing
                 else "; every expected claim was checked.")
    else:
        text += "."
    return text
