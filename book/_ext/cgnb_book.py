"""Sphinx extension of the book: the claims page is read (and executed) after every chapter.

The claims page renders the ledger records that the chapter notebooks write while they
execute, so it must be read last and on every build, never from Sphinx's environment
cache. Sphinx reads documents in sorted order; this moves the claims page to the end.
"""
from __future__ import annotations

CLAIMS_DOC = "book/claims"


def _claims_last(app, env, docnames: list[str]) -> None:
    if CLAIMS_DOC in docnames:
        docnames.remove(CLAIMS_DOC)
        docnames.append(CLAIMS_DOC)


def _claims_always_outdated(app, env, added, changed, removed) -> list[str]:
    return [CLAIMS_DOC] if CLAIMS_DOC in env.found_docs else []


def setup(app):
    app.connect("env-get-outdated", _claims_always_outdated)
    app.connect("env-before-read-docs", _claims_last)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
