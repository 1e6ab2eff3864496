"""The claims ledger: each check's verdict, decided by its rule, recorded, shown, published.

A notebook opens one :class:`Ledger` for its chapter (a :class:`cgnb.engine.book.Chapter`, whose
claims carry their rules) and calls :meth:`Ledger.decide` with the values it measured::

    ledger = Ledger(CHAPTER, parameters=dataclasses.asdict(setting))
    ledger.decide("C4.1", final_train_acc_per_seed, cell="25 %")   # shown inline, never raises on a verdict
    ledger.finish()                                                   # publishes this run's records

Each decision is one JSON record (:data:`RECORD_KEYS`) in ``<claims_dir>/<chapter>[@<profile>].jsonl``.
A run's records are kept in memory and in its own ``.running`` file (one per run, so two runs of a
chapter never mix), and :meth:`Ledger.finish` replaces the published file atomically once every
claim of the chapter was decided. A verdict never raises: only defects do (an unknown claim or
rule, a value that is not a finite number, a claim left undecided at :meth:`Ledger.finish`).

A chapter that also decides its claims on a stored run (:mod:`cgnb.engine.runs`) opens a second
ledger with the run's name as ``profile``; its records stand beside the chapter's own.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import display, paths, profiles, store, verdicts
from .book import Chapter
from .claims import VERDICTS, Claim

ICONS = {"holds": "✅", "inconclusive": "◻️", "not reproduced": "⚠️", "refuted": "❌", "not testable": "∅"}
RECORD_KEYS = ("chapter", "claim", "rule", "cell", "profile", "parameters", "statistic", "values", "n",
               "estimate", "low", "high", "band", "op", "threshold", "why", "verdict", "reason", "note",
               "decides", "time")
NUMBER_KEYS = ("estimate", "low", "high", "threshold")
#: Seconds after which a ``.running`` or ``.tmp`` file of a chapter is left over from a killed run;
#: :meth:`Ledger.finish` removes such files (a live run's running file is only a copy of its records).
STALE_S = 24 * 3600


class LedgerFileError(ValueError):
    """A ledger file on disk is malformed: its name, line and what to do are in the message."""


def check_profile(profile: str | None) -> str:
    """``profile`` checked (a plain name), or the active profile when None."""
    if profile is None:
        return profiles.profile()
    if not isinstance(profile, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", profile):
        raise ValueError(f"a profile is a plain name such as 'quick' or a stored run's name such as "
                         f"'fashion-60k' (letters, digits, '.', '_', '-'); got {profile!r}")
    return profile


def anchor(claim: str, rule: str = "", cell: str = "", profile: str | None = None) -> str:
    """HTML id of one check's inline result, e.g. ``anchor("C4.5", "crossing", "25 %")`` ->
    ``"claim-c4-5-crossing-25"``; a stored run's record adds its name."""
    if not claim:
        raise ValueError("anchor needs a claim id, e.g. 'C4.1'")
    stored = "" if profile is None or profile in profiles.PROFILES else profile
    text = "-".join(part for part in (claim, rule, cell, stored) if part)
    return "claim-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def line(record: Mapping[str, Any]) -> str:
    """One record as a Markdown line, e.g. ``✅ **C4.1 holds** (fits, 25 %): ...``."""
    where = ", ".join(part for part in (record["rule"], record["cell"]) if part)
    values = record["values"]
    measured = (f"{record['estimate']:.4g} [{record['low']:.4g}, {record['high']:.4g}]"
                if record["high"] > record["low"] else f"{record['estimate']:.4g}")
    runs = f"{record['n']} run" + ("s" if record["n"] != 1 else "")
    text = (f"{ICONS[record['verdict']]} **{record['claim']} {record['verdict']}** ({where}): {record['statistic']} "
            f"= {measured} ({runs}, {record['band']}); the claim needs {record['op']} {record['threshold']:.4g} "
            f"({record['why']}). *{record['reason']}.*")
    if len(values) > 1:
        text += " Per run: " + ", ".join(f"{v:.4g}" for v in values) + "."
    return text + (f" {record['note']}" if record["note"] else "")


class Result:
    """One decided check; shows itself as one Markdown line in a notebook (with its anchor)."""

    def __init__(self, record: dict):
        self.record = record

    @property
    def verdict(self) -> str:
        return self.record["verdict"]

    def _repr_markdown_(self) -> str:
        r = self.record
        return f'<span id="{anchor(r["claim"], r["rule"], r["cell"], r["profile"])}"></span>' + line(r)

    def __repr__(self) -> str:
        return line(self.record)


class Ledger:
    """One run of a chapter's checks, published by :meth:`finish`.

    Args:
      chapter: the chapter (its claims and their rules).
      profile: what computed the values: default the active profile; a stored run's name for a
        check on a stored run (its records go to ``<chapter>@<profile>.jsonl``).
      parameters: the run's parameters (JSON-able), recorded with every decision so that a test can
        tell a run with the profile's defaults from a reader's own.
      directory: the ledger folder (default :func:`cgnb.engine.paths.claims_dir`).
      show: show each decision inline (default: inside a notebook).
    """

    def __init__(self, chapter: Chapter, *, profile: str | None = None, parameters: Mapping[str, Any] | None = None,
                 directory: Path | None = None, show: bool | None = None):
        if not isinstance(chapter, Chapter):
            raise TypeError(f"Ledger needs the chapter's Chapter (cgnb.chapters.<name>.CHAPTER), got {chapter!r}")
        self.chapter = chapter
        self.profile = check_profile(profile)
        self.stored = profile is not None
        self.parameters = json.loads(json.dumps(dict(parameters or {}), default=_plain))
        self.directory = Path(directory) if directory is not None else paths.claims_dir()
        stem = chapter.name if not self.stored else f"{chapter.name}@{self.profile}"
        self.path = self.directory / f"{stem}.jsonl"
        self.running = self.directory / f"{stem}.jsonl.{os.getpid()}-{uuid.uuid4().hex[:8]}.running"
        self.show = display.in_notebook() if show is None else show
        self.records: dict[tuple[str, str, str], dict] = {}

    def claim(self, claim_id: str) -> Claim:
        """The chapter's claim ``claim_id``. Raises KeyError naming the chapter's claims."""
        for claim in self.chapter.claims:
            if claim.id == claim_id:
                return claim
        raise KeyError(f"chapter {self.chapter.name} has no claim {claim_id!r}; its claims are "
                       f"{list(self.chapter.claim_ids)}")

    def decide(self, claim_id: str, values: Any, *, rule: str | None = None, cell: str = "",
               degenerate: Sequence[str] = (), not_testable: str = "", note: str = "",
               examples: int | None = None) -> Result:
        """Decide one check of a claim by its rule on the values measured in this run.

        Args:
          claim_id: e.g. ``"C4.1"``.
          values: (n,) the rule's statistic per seed or run, or one number.
          rule: the rule's name; None when the claim has one rule.
          cell: which part of the experiment the values come from, e.g. ``"c = 4, 25 %"``.
          degenerate: one line per run behind the values that collapsed or never learned.
          not_testable: why the check cannot be decided in this run although its runs are sound
            (its premise is absent); the verdict is then ``"not testable"`` with this reason.
          note: context shown with the result (never a verdict).
          examples: for a rule with a binomial band, the number of examples behind the proportion in
            this run (e.g. a stored run's test set); None: the count the rule states.

        Returns:
          The :class:`Result` (shown inline in a notebook). Deciding the same check again in the
          same run replaces the earlier record.

        Raises:
          KeyError: no such claim or rule in the chapter's registry.
          TypeError, ValueError: a value is not a finite real number, or ``examples`` is given for a
            rule without a binomial band.
        """
        claim = self.claim(claim_id)
        the_rule = verdicts.with_examples(claim.rule(rule), examples)
        values = verdicts.as_values(values, f"{claim.id} ({the_rule.name}{', ' + str(cell) if cell else ''})")
        decision = verdicts.decide(the_rule, values, degenerate=degenerate, not_testable=not_testable)
        record = {
            "chapter": self.chapter.name, "claim": claim.id, "rule": the_rule.name, "cell": str(cell),
            "profile": self.profile, "parameters": self.parameters, "statistic": the_rule.statistic,
            "values": [float(v) for v in values], "n": decision.n,
            "estimate": decision.estimate, "low": decision.low, "high": decision.high,
            "band": the_rule.band.describe(), "op": the_rule.op, "threshold": float(the_rule.threshold),
            "why": the_rule.why, "verdict": decision.verdict, "reason": decision.reason, "note": note,
            "decides": the_rule.decides, "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        self.records[(claim.id, the_rule.name, record["cell"])] = record
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.running, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        result = Result(record)
        if self.show:
            display.show_markdown(result._repr_markdown_())
        return result

    def undecided(self) -> list[str]:
        """Claims of the chapter with rules that no check of this run decided."""
        decided = {claim for claim, _, _ in self.records}
        return [c.id for c in self.chapter.claims if c.rules and c.id not in decided]

    def finish(self) -> Path | None:
        """Publish this run's records as the chapter's (or the stored run's) records.

        Returns:
          The published file, or None when nothing was decided (nothing is published then, and the
          last published records stay).

        Raises:
          RuntimeError: a claim with rules was not decided in this run (a defect of the notebook); the
            last published records are kept.
        """
        if not self.records:
            return None
        missing = self.undecided()
        if missing:
            raise RuntimeError(f"{self.chapter.name} ({self.profile}): claims {missing} were not decided in this "
                               f"run; the records of the last finished run in {self.path} are kept, this run's are "
                               f"in {self.running}")
        lines = "".join(json.dumps(r) + "\n" for r in self.records.values())
        tmp = self.path.with_name(self.path.name + f".{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(lines, encoding="utf-8")
        os.replace(tmp, self.path)
        self.running.unlink(missing_ok=True)
        self.remove_stale()
        return self.path

    def remove_stale(self) -> list[Path]:
        """Remove this chapter's (or stored run's) ``.running`` and ``.tmp`` files not modified for
        :data:`STALE_S` seconds: left by runs that were killed. Returns the files removed."""
        return [file for pattern in (f"{self.path.name}.*.running", f"{self.path.name}.*.tmp")
                for file in store.remove_stale_temps(self.directory, older_than=STALE_S, pattern=pattern)]


def _plain(value: Any) -> Any:
    """JSON form of a parameter value that json cannot write itself (a numpy number or array, a path)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def validate_record(record: Any) -> str | None:
    """What is wrong with one ledger record, or None when it is well formed."""
    if not isinstance(record, dict):
        return f"a record is a JSON object, got {type(record).__name__}"
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        return f"keys {missing} are missing"
    if record["verdict"] not in VERDICTS:
        return f"verdict {record['verdict']!r} is not one of {VERDICTS}"
    numbers = [record[k] for k in NUMBER_KEYS] + list(record["values"] if isinstance(record["values"], list) else [None])
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers):
        return "estimate, low, high, threshold and values must be numbers"
    if not all(math.isfinite(x) for x in numbers):
        return "estimate, low, high, threshold and values must be finite (a NaN or Infinity was written)"
    if not all(isinstance(record[k], str) for k in ("chapter", "claim", "rule", "cell", "profile")):
        return "chapter, claim, rule, cell and profile must be strings"
    return None


def read(file: Path) -> list[dict]:
    """The records of one ledger file, each checked (:func:`validate_record`).

    Raises:
      LedgerFileError: a line is not JSON or not a well-formed record; the message names the file,
        the line and how to recover (delete the file and rebuild the chapter).
    """
    records = []
    for number, text in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            problem = f"not JSON ({error.msg})"
        else:
            problem = validate_record(record)
        if problem:
            raise LedgerFileError(f"{file}, line {number}: {problem}. The file was not written by this version of "
                                  f"cgnb or was edited; delete it and rebuild the chapter (its notebook) to "
                                  f"write it again.")
        records.append(record)
    return records


def load_records(directory: Path | None = None, chapters: Sequence[str] | None = None) -> list[dict]:
    """Every published record in the ledger folder (``*.jsonl``; running files are not published), or
    those of the named ``chapters`` (their own and their stored runs' files)."""
    folder = Path(directory) if directory is not None else paths.claims_dir()
    files = sorted(folder.glob("*.jsonl"))
    if chapters is not None:
        files = [f for f in files if f.stem.split("@")[0] in chapters]
    return [r for file in files for r in read(file)]
