"""A claim of a source, as a chapter's claims registry (``cgnb/chapters/<name>/claims.py``) lists it.

This is the registry's first form (an id and the source's statement); the decision rule of each
claim is added by the verdicts work.
"""
from __future__ import annotations

import dataclasses
import re

CLAIM_ID = re.compile(r"C\d+\.\d+[a-z]?")


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a chapter's source.

    Attributes:
      id: e.g. ``"C4.1"`` (chapter 4's first claim); a letter suffix marks a claim split off
        another one (``"C1.2a"``).
      statement: what the source says, in a sentence (quoted where the source is literal).
    """

    id: str
    statement: str

    def __post_init__(self):
        if not CLAIM_ID.fullmatch(self.id):
            raise ValueError(f"a claim id looks like 'C4.1' or 'C1.2a'; got {self.id!r}")
        if not self.statement.strip():
            raise ValueError(f"claim {self.id} needs the source's statement")
