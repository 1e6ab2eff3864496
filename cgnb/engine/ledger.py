"""The claims ledger: check a claim on a measured value, record the outcome, show it, fail loudly.

Every chapter asserts its source's claims through :func:`check` (or a :class:`Ledger`
bound to the chapter). Each check appends one JSON record to
``<claims_dir>/<chapter>.jsonl``::

    {"chapter": "ch2", "claim": "C2.1", "statement": "...", "profile": "quick",
     "value": 3.1e-08, "op": "<=", "threshold": 1e-05, "holds": true,
     "outcome": "holds", "status": "holds", "note": "", "time": "..."}

Each claim ends as one of three outcomes: **holds** (asserted), **not reproduced** (measured and
shown; the note says why it does not hold in this setting) or **refuted** (the measurement
contradicts the source; the note gives the evidence). A check raises :class:`ClaimFailed` (an
``AssertionError``, so nbval fails the notebook) when its result is not the declared outcome,
with what was expected and what was measured. A measured value that is not finite (NaN, inf)
is never recorded: the check raises :class:`ValueError`. In a notebook each check shows its
result as one line where it runs (:class:`ClaimResult`).

A notebook's run is a :class:`Ledger`: its records go to ``<chapter>.jsonl.running`` and replace
``<chapter>.jsonl`` only when :meth:`Ledger.finish` confirms that the run is complete (every
expected claim checked, none failed), so a run that fails half-way never erases the records of
the last good run. The book's claims page renders the records with :func:`claims_html`; each
inline result carries the anchor :func:`anchor` that the page links to.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import numbers
import os
import re
import html as _html
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import display, paths, profiles

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


OUTCOMES = ("holds", "not reproduced", "refuted")
ICONS = {"holds": "✅", "not reproduced": "⚠️", "refuted": "❌", "fails": "🛑", "unexpectedly holds": "🛑"}


@dataclasses.dataclass
class ClaimResult:
    """What one check recorded; true when the comparison held. Renders as one line in a notebook.

    Attributes:
      record: the ledger record (see the module docstring).
    """

    record: dict
    _shown: bool = dataclasses.field(default=False, repr=False)

    def __bool__(self) -> bool:
        return bool(self.record["holds"])

    @property
    def status(self) -> str:
        """``holds``, ``not reproduced``, ``refuted``, ``fails`` or ``unexpectedly holds``."""
        return self.record["status"]

    def line(self) -> str:
        """e.g. ``✅ C4.1 holds: measured 0.998, expected >= 0.99. <statement>``."""
        r = self.record
        threshold = tuple(r["threshold"]) if r["op"] == "within" else r["threshold"]
        text = (f"{ICONS[r['status']]} **{r['claim']} {r['status']}**: measured {_fmt(r['value'])}, "
                f"expected {describe(r['op'], threshold)}. {r['statement']}")
        label = "Note" if r["status"] == "holds" else "Why"
        return text + (f" *{label}: {r['note']}*" if r.get("note") else "")

    def _repr_markdown_(self) -> str:
        return self.line()

    def _ipython_display_(self) -> None:
        if not self._shown:
            self._shown = True
            record = self.record
            display.show_markdown(f'<span id="{anchor(record["claim"], record["profile"])}"></span>' + self.line())

    def __repr__(self) -> str:
        return self.line()


def check(
    chapter: str,
    claim: str,
    statement: str,
    value: Any,
    op: str,
    threshold: Any,
    *,
    outcome: str = "holds",
    note: str = "",
    directory: Path | None = None,
    file: Path | None = None,
    profile: str | None = None,
) -> ClaimResult:
    """Check ``value op threshold`` for a claim, append its record, show it, raise if it is not as declared.

    Args:
      chapter: chapter id, e.g. ``"ch2"``; names the record file.
      claim: claim id, e.g. ``"C2.1"`` (chapter 2's first claim).
      statement: the claim in plain words, as the claims page shows it.
      value: the number (or bool) measured in this run.
      op: one of ``< <= > >= == within``; ``value op threshold`` is the source's statement.
      threshold: the number to compare with; ``(low, high)`` for ``within``.
      outcome: what the chapter found, one of :data:`OUTCOMES`: ``"holds"`` (asserted: the check
        fails if the comparison does not hold), ``"not reproduced"`` (measured and shown, the
        comparison does not hold in this setting, ``note`` says why) or ``"refuted"`` (the
        measurement, which could have confirmed it, contradicts the source; ``note`` gives the
        evidence). For the last two the check fails if the comparison unexpectedly holds, so a
        change that makes the claim reproduce is noticed and the text updated.
      note: the reason or evidence shown beside the record (required unless ``outcome="holds"``).
      directory: where the ledger lives (default :func:`cgnb.engine.paths.claims_dir`).
      file: the record file (default ``<directory>/<chapter>.jsonl``; a :class:`Ledger` passes
        its run's file).
      profile: what computed the value: default the active profile (``quick`` or ``paper``); a
        check on a stored run (:mod:`cgnb.engine.runs`) passes the run's name, e.g. ``"fashion-60k"``.

    Returns:
      A :class:`ClaimResult` (true when the comparison held); in a notebook it is shown as one line
      (e.g. ``✅ C4.1 holds: measured 0.998, expected >= 0.99``) right where the check runs.

    Raises:
      ClaimFailed: the result is not the declared ``outcome``.
      ValueError, TypeError: malformed op, threshold, outcome or value, or a value that is not finite.
    """
    if not chapter or not claim:
        raise ValueError("check needs a chapter id (e.g. 'ch2') and a claim id (e.g. 'C2.1')")
    if outcome not in OUTCOMES:
        raise ValueError(f"claim {claim}: outcome must be one of {OUTCOMES}, got {outcome!r}")
    if outcome != "holds" and not note.strip():
        raise ValueError(f"claim {claim}: a claim recorded as {outcome!r} needs a note giving the reason or evidence")
    value = _as_number(value, f"value of claim {claim}")
    if not isinstance(value, bool) and not math.isfinite(value):
        raise ValueError(f"claim {claim} ({chapter}): the measured value is {value}, not a number a claim can "
                         f"rest on; the computation behind it failed (e.g. an empty group or a diverged run). "
                         f"Fix the measurement; nothing was recorded.")
    holds = evaluate(value, op, threshold)
    if outcome == "holds":
        status = "holds" if holds else "fails"
    else:
        status = "unexpectedly holds" if holds else outcome
    profile = _profile_name(profile)
    record = {
        "chapter": chapter,
        "claim": claim,
        "statement": statement,
        "profile": profile,
        "value": _jsonable(value),
        "op": op,
        "threshold": _jsonable(threshold),
        "holds": holds,
        "outcome": outcome,
        "status": status,
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
    result = ClaimResult(record)
    if display.in_notebook():
        result._ipython_display_()
    if status == "unexpectedly holds":
        raise ClaimFailed(
            f"Claim {claim} ({chapter}, profile {profile}) was recorded as {outcome}, but it holds: "
            f"measured {value!r}, {describe(op, threshold)}. Update the chapter's text and the check. "
            f"Claim: {statement}")
    if status == "fails":
        raise ClaimFailed(
            f"Claim {claim} ({chapter}, profile {profile}) does not hold: expected value "
            f"{describe(op, threshold)}, measured {value!r}. Claim: {statement}"
        )
    return result


def _profile_name(profile: str | None) -> str:
    """``profile`` checked (a plain name), or the active profile when None."""
    if profile is None:
        return profiles.profile()
    if not isinstance(profile, str) or not profile.strip() or any(ch in profile for ch in "/\\@") \
            or profile != profile.strip():
        raise ValueError(f"a profile must be a plain name such as 'quick' or a stored run's name such as "
                         f"'fashion-60k' (no '/', '\\', '@' or surrounding spaces); got {profile!r}")
    return profile


class Ledger:
    """One run of a chapter's checks: :func:`check` bound to the chapter, published by :meth:`finish`.

    A notebook creates one ``Ledger("ch2")`` at its top and calls ``ledger.finish(expected)`` in
    its last cell. Until then the run's records live in ``<chapter>.jsonl.running``; the records
    of the last finished run (``<chapter>.jsonl``) stay untouched, so a run that fails half-way
    (a failed claim, an exception, an interrupted kernel) never erases them.

    A chapter that also checks its claims on a stored run (:mod:`cgnb.engine.runs`) opens a second
    ledger with the run's name as ``profile``, e.g. ``Ledger("ch4", profile="fashion-60k")``: its
    records go to ``<chapter>@<profile>.jsonl`` and stand beside the chapter's own on the claims page.
    """

    def __init__(self, chapter: str, directory: Path | None = None, profile: str | None = None):
        if not chapter or "/" in chapter or "@" in chapter:
            raise ValueError(f"a ledger needs a chapter id without '/' or '@', e.g. 'ch2'; got {chapter!r}")
        self.chapter = chapter
        self.profile = None if profile is None else _profile_name(profile)
        self.directory = Path(directory) if directory is not None else paths.claims_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = chapter if self.profile is None else f"{chapter}@{self.profile}"
        self.path = self.directory / f"{stem}.jsonl"
        self.running = self.directory / f"{stem}.jsonl.running"
        self.running.write_text("", encoding="utf-8")
        self.failed: list[str] = []

    def check(self, claim: str, statement: str, value: Any, op: str, threshold: Any, **kwargs) -> ClaimResult:
        """See :func:`check`; the record goes to this run's file."""
        try:
            return check(self.chapter, claim, statement, value, op, threshold, file=self.running,
                         profile=self.profile, **kwargs)
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
        """C2.10 after C2.9, C1.2a right after C1.2: numeric parts first, then any suffix."""
        parts = [re.match(r"(\d*)(.*)", p).groups() for p in r["claim"].lstrip("C").split(".")]
        return tuple((int(num) if num else 0, rest) for num, rest in parts) + (r["claim"],)

    return sorted(records, key=key)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.4g}"
    return str(value)


def summary(records: list[dict], expected: Mapping[str, Sequence[str]] | None = None) -> str:
    """One Markdown paragraph: how many claims hold, are not reproduced, refuted, failed, or are missing.

    ``expected`` maps each chapter id to the claim ids it must check (e.g.
    ``{"ch1": ("C1.1", "C1.2")}``); the claims among them that no record checks are listed
    as missing. ``None``: nothing is reported missing.
    """
    seen = {r["claim"] for r in records}
    count = {s: sum(r["status"] == s for r in records) for s in (*OUTCOMES, "fails", "unexpectedly holds")}
    missing = [c for ids in (expected or {}).values() for c in ids if c not in seen]
    profiles_seen = sorted({r["profile"] for r in records}) or ["none"]
    text = (f"**{len(records)} checks** in the last build (profile: {', '.join(profiles_seen)}): "
            f"{count['holds']} hold, {count['not reproduced']} not reproduced, {count['refuted']} refuted"
            f" (each with its reason in the chapter); "
            f"{count['fails'] + count['unexpectedly holds']} failed their assertion")
    if expected is not None:
        text += (f"; not yet checked by any chapter: {', '.join(missing)}." if missing
                 else "; every expected claim was checked.")
    else:
        text += "."
    return text


def anchor(claim: str, profile: str | None = None) -> str:
    """HTML id of a claim's inline result in its chapter, e.g. ``"C4.1"`` -> ``"claim-c4-1"``.

    A record of a stored run (``profile`` not one of :data:`cgnb.engine.profiles.PROFILES`) gets its
    own id, e.g. ``anchor("C4.1", "fashion-60k")`` -> ``"claim-c4-1-fashion-60k"``.
    """
    if not claim:
        raise ValueError("anchor needs a claim id, e.g. 'C4.1'")
    text = claim if profile is None or profile in profiles.PROFILES else f"{claim}-{profile}"
    return "claim-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _status_class(status: str) -> str:
    return "cgnb-" + status.replace(" ", "-")


CLAIMS_COLUMNS = ("claim", "statement", "profile", "measured", "expected", "result")


def claims_html(records: list[dict], chapters: Mapping[str, tuple[str, str]]) -> str:
    """The claims page's tables as HTML: one table per chapter, one row per record.

    Args:
      records: ledger records (see the module docstring), e.g. from :func:`load_records`.
      chapters: chapter id -> (title, URL of the chapter's page), e.g.
        ``{"ch4": ("4. Coherent gradients", "../notebooks/04_coherent_gradients.html")}``; each claim
        id links to ``<URL>#<anchor(claim)>``, its result inline in the chapter.

    Each row shows the claim (icon and link), the statement with the chapter's note, the profile
    it ran in, the measured value, the expected comparison, and the status as a coloured badge;
    the stylesheet turns rows into cards on narrow screens (``data-label`` names each cell).

    Raises:
      ValueError: a record's chapter is not in ``chapters``.
    """
    unknown = sorted({r["chapter"] for r in records} - set(chapters))
    if unknown:
        raise ValueError(f"records of chapters {unknown} have no entry in chapters (known: {sorted(chapters)})")
    esc = _html.escape
    parts = []
    for chapter, (title, url) in chapters.items():
        rows = [r for r in records if r["chapter"] == chapter]
        parts.append(f'<h2 class="cgnb-claims-chapter" id="claims-{esc(chapter)}">'
                     f'<a href="{esc(url)}">{esc(title)}</a></h2>')
        if not rows:
            parts.append("<p>No record from this chapter in the last build.</p>")
            continue
        head = "".join(f"<th>{c}</th>" for c in CLAIMS_COLUMNS)
        body = []
        for r in rows:
            threshold = tuple(r["threshold"]) if r["op"] == "within" else r["threshold"]
            status = r.get("status", "holds")
            note = f'<span class="cgnb-note">{esc(r["note"])}</span>' if r.get("note") else ""
            cells = [
                ("claim", f'{ICONS.get(status, "")} <a href="{esc(url)}#{anchor(r["claim"], r["profile"])}">{esc(r["claim"])}</a>', ""),
                ("statement", esc(r["statement"]) + note, ""),
                ("profile", esc(str(r["profile"])), ""),
                ("measured", esc(_fmt(r["value"])), "cgnb-num"),
                ("expected", esc(describe(r["op"], threshold)), "cgnb-num"),
                ("result", f'<span class="cgnb-badge {_status_class(status)}">{ICONS.get(status, "")} {esc(status)}</span>', ""),
            ]
            body.append("<tr>" + "".join(
                f'<td data-label="{name}"' + (f' class="{cls}"' if cls else "") + f">{content}</td>"
                for name, content, cls in cells) + "</tr>")
        parts.append(f'<table class="cgnb-claims"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')
    return "\n".join(parts)
