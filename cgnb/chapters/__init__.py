"""The chapters of the book, one package each, built only on :mod:`cgnb.engine`'s public API.

Every chapter package ``cgnb.chapters.<name>`` has the same roles (a module where the chapter has
that part): ``__init__`` defines ``CHAPTER`` (a :class:`cgnb.engine.book.Chapter`: name, number,
title, claims and stored-run catalog), ``claims`` its claims, ``tasks`` and ``models`` its data and
networks, ``setting`` its parameters and how a run is computed or read back, ``measures`` what it
computes from the runs, ``figures`` every plot. No chapter imports another one.

:func:`all_chapters` finds the chapters by walking this package, so no list of them is kept by hand.
"""
from __future__ import annotations

import importlib
import pkgutil

from ..engine.book import Chapter


def all_chapters() -> list[Chapter]:
    """Every chapter package's ``CHAPTER``, in book order (by number).

    Raises:
      ValueError: a chapter package has no ``CHAPTER``, its name is not its package's, or two
        chapters share a number.
    """
    chapters = []
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        chapter = getattr(module, "CHAPTER", None)
        if not isinstance(chapter, Chapter):
            raise ValueError(f"chapter package cgnb.chapters.{info.name} defines no CHAPTER (a cgnb.engine.book.Chapter)")
        if chapter.name != info.name:
            raise ValueError(f"cgnb.chapters.{info.name}.CHAPTER is named {chapter.name!r}; a chapter's name is its "
                             f"package's")
        chapters.append(chapter)
    numbers = [c.number for c in chapters]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"two chapters share a number: {sorted(numbers)}")
    return sorted(chapters, key=lambda c: c.number)


def chapter(name: str) -> Chapter:
    """The chapter named ``name`` (e.g. ``"coherent_gradients"``).

    Raises:
      KeyError: no chapter has that name (the message lists the names).
    """
    found = {c.name: c for c in all_chapters()}
    if name not in found:
        raise KeyError(f"no chapter {name!r}; the chapters are {list(found)}")
    return found[name]
