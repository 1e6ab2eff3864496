"""The book's table of contents as data: a chapter and the claims it decides.

Each chapter package (``cgnb/chapters/<name>/``) defines one :class:`Chapter` as ``CHAPTER`` in its
``__init__``; :func:`cgnb.chapters.all_chapters` finds them by walking the package, so no list of
chapters is kept by hand. The chapter's claims (its ``claims.py``) are :class:`cgnb.engine.claims.Claim`
records.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from .claims import Claim

NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclasses.dataclass(frozen=True)
class Chapter:
    """One chapter of the book.

    Attributes:
      name: the chapter's one name: its package (``cgnb.chapters.<name>``), its notebook
        (``notebooks/<number:02d>_<name>.ipynb``), its ledger file and its stored-run folder,
        e.g. ``"coherent_gradients"``.
      number: its place in the book (1, 2, ...); claim ids start with ``C<number>.``.
      title: the chapter's title, e.g. ``"Coherent gradients"``.
      claims: the claims it decides, in the order the chapter checks them.
      catalog: its stored runs (a :class:`cgnb.engine.runs.Catalog`), or None.
      question: the chapter's question in one sentence, for the landing page.
      sources: the bibliography keys (``book/references.bib``) of the sources it reproduces.
    """

    name: str
    number: int
    title: str
    claims: tuple[Claim, ...]
    catalog: Any = None
    question: str = ""
    sources: tuple[str, ...] = ()

    def __post_init__(self):
        if not NAME.fullmatch(self.name):
            raise ValueError(f"a chapter name is lower-case letters, digits and '_', e.g. 'coherent_gradients'; "
                             f"got {self.name!r}")
        prefix = f"C{self.number}."
        wrong = [c.id for c in self.claims if not c.id.startswith(prefix)]
        if wrong:
            raise ValueError(f"chapter {self.number} ({self.name}): claim ids must start with {prefix!r}, got {wrong}")
        ids = [c.id for c in self.claims]
        if len(set(ids)) != len(ids):
            raise ValueError(f"chapter {self.name}: a claim id is listed twice in {ids}")

    @property
    def notebook(self) -> str:
        """Path of the chapter's notebook from the book's root, e.g. ``notebooks/04_coherent_gradients.ipynb``."""
        return f"notebooks/{self.number:02d}_{self.name}.ipynb"

    @property
    def claim_ids(self) -> tuple[str, ...]:
        """The ids of :attr:`claims`, in order."""
        return tuple(c.id for c in self.claims)
