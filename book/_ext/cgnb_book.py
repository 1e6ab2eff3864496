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


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated <script> entries (sphinx-thebe registers its config script twice under
    Jupyter Book 1.0.4, which makes the browser report 'THEBE_JS_URL has already been declared')."""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("env-get-outdated", _claims_always_outdated)
    app.connect("env-before-read-docs", _claims_last)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
