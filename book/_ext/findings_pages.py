"""The book's findings, rendered from the claims ledger at build time.

Directives (each page that uses one is read after every chapter, see ``cgnb_book.LAST_DOCS``):

- ``{cgnb-findings}``: the landing page's "findings at a glance": per chapter its question, how
  its claims' verdicts split per profile and an "Open in Colab" badge, then one row per claim
  (the claim in a few words, its verdict per profile, measured against expected, why).
- ``{cgnb-claims}``: the claims page: one section per chapter (real headings, so the page's
  contents list them), one row per claim with its verdicts per profile side by side, each row
  expandable to its checks (rule, cell, statistic, values, band, threshold, reason); every check
  row carries :func:`cgnb.engine.ledger.anchor`, the id of its inline result in the chapter.
- ``{cgnb-cite}``: how to cite the book, with the version from ``pyproject.toml``.
- ``{cgnb-run-locally}``: the three lines that build the book locally (``git clone`` of the
  repository in ``_config.yml``, then the README's two commands).

Everything is built from :func:`cgnb.engine.findings.findings` (one verdict per claim per
profile), so the pages agree with the ledger and with the chapters' findings boxes.
"""
from __future__ import annotations

import html
import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from cgnb.engine import ledger as ledger_lib
from cgnb.engine import verdicts as verdicts_lib
from cgnb.engine.book import Chapter
from cgnb.engine.claims import VERDICTS
from cgnb.engine.findings import Finding, findings

ROOT = Path(__file__).resolve().parents[2]
COLAB = "https://colab.research.google.com/github"
LOGGER = logging.getLogger(__name__)
#: ``link(docname, fragment) -> URL`` from the page being written to another page of the book.
Link = Callable[[str, str], str]

esc = html.escape


# ---- what the pages are built from ------------------------------------------------------------

def book_chapters() -> list[Chapter]:
    """The book's chapters (``cgnb.chapters.all_chapters()``), in order."""
    from cgnb import chapters

    return list(chapters.all_chapters())


def chapter_doc(chapter: Chapter) -> str:
    """The chapter's page (docname), e.g. ``notebooks/04_coherent_gradients``."""
    return chapter.notebook.removesuffix(".ipynb")


def profiles_of(records: Iterable[Mapping]) -> list[str]:
    """The profiles present in ``records``: ``quick``, ``paper``, then stored runs by name."""
    seen = {r["profile"] for r in records}
    return [p for p in ("quick", "paper") if p in seen] + sorted(seen - {"quick", "paper"})


def chapter_findings(chapter: Chapter, records: Sequence[Mapping]) -> tuple[list[str], list[Finding]]:
    """The chapter's profiles and its :class:`Finding` per claim and profile."""
    own = [r for r in records if r["chapter"] == chapter.name]
    profiles = profiles_of(own)
    return profiles, findings(chapter, own, profiles) if profiles else []


def unknown_chapters(chapters: Sequence[Chapter], records: Iterable[Mapping]) -> list[str]:
    """Chapters named by records that are not in the book (a renamed or removed chapter)."""
    return sorted({r["chapter"] for r in records} - {c.name for c in chapters})


def colab_url(repository: str, notebook: str, branch: str = "main") -> str:
    """The Colab URL of ``notebook`` in ``repository`` (``https://github.com/<owner>/<name>``)."""
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)/?", repository or "")
    if not match:
        raise ValueError(f"the book's repository must be a GitHub URL (https://github.com/<owner>/<name>), "
                         f"got {repository!r}: set repository.url in _config.yml")
    return f"{COLAB}/{match.group(1)}/blob/{branch}/{notebook}"


# ---- pieces of HTML -------------------------------------------------------------------------

def verdict_class(verdict: str) -> str:
    return "cgnb-" + verdict.replace(" ", "-")


def badge(verdict: str, profile: str = "") -> str:
    """A verdict as a coloured badge, e.g. ``✅ holds``, with the profile after it when given."""
    where = f' <span class="cgnb-profile">{esc(profile)}</span>' if profile else ""
    return (f'<span class="cgnb-badge {verdict_class(verdict)}">{ledger_lib.ICONS[verdict]} '
            f"{esc(verdict)}</span>{where}")


def split(found: Sequence[Finding]) -> str:
    """How a chapter's claims split in one profile, e.g. ``3 of 5 claims hold, 1 refuted, 1 not reproduced``."""
    tally = Counter(f.verdict for f in found)
    holds = tally.pop("holds", 0)
    parts = [f"{holds} of {len(found)} claim{'s' if len(found) != 1 else ''} hold"]
    parts += [f"{n} {v}" for v, n in sorted(tally.items(), key=lambda item: VERDICTS.index(item[0]))]
    return ", ".join(parts)


def cells(row: Sequence[tuple[str, str]], cls: str = "") -> str:
    """One table row; each cell carries its column name for the narrow-screen card layout."""
    body = "".join(f'<td data-label="{esc(name)}">{content}</td>' for name, content in row)
    return f'<tr class="{cls}">{body}</tr>' if cls else f"<tr>{body}</tr>"


def claim_row_id(claim_id: str) -> str:
    """The id of a claim's row on the claims page, e.g. ``finding-c4-1``."""
    return "finding-" + re.sub(r"[^a-z0-9]+", "-", claim_id.lower()).strip("-")


# ---- the landing page -------------------------------------------------------------------------

def chapter_headline(chapter: Chapter, profiles: Sequence[str], found: Sequence[Finding], link: Link,
                     colab: str) -> str:
    """The chapter's row: title (linked), question, verdict split per profile, Colab badge."""
    title = f'<a href="{esc(link(chapter_doc(chapter), ""))}">{chapter.number}. {esc(chapter.title)}</a>'
    question = f' <span class="cgnb-question">{esc(chapter.question)}</span>' if chapter.question else ""
    if profiles:
        splits = "; ".join(f"<strong>{esc(p)}</strong>: {esc(split([f for f in found if f.profile == p]))}"
                           for p in profiles)
    else:
        splits = "not run in this build"
    badge_html = (f'<a class="cgnb-colab" href="{esc(colab)}" title="Open this chapter\'s notebook in Google Colab">'
                  f"Open in Colab</a>")
    return (f'<tr class="cgnb-chapter-row"><th colspan="4" scope="rowgroup">{title}{question}'
            f'<span class="cgnb-split">{splits}</span>{badge_html}</th></tr>')


def landing_html(chapters: Sequence[Chapter], records: Sequence[Mapping], link: Link, repository: str,
                 claims_doc: str = "book/claims") -> str:
    """The landing page's findings table (HTML): per chapter a headline row, then one row per claim.

    Args:
      chapters: the book's chapters, in order.
      records: the ledger's records (any chapters).
      link: URL from the landing page to another page and fragment.
      repository: the book's GitHub URL (for the Colab badges).
      claims_doc: the claims page, where each claim id links to (its row).
    """
    head = "".join(f"<th>{name}</th>" for name in ("claim", "verdict", "measured (expected)", "why"))
    rows = []
    for chapter in chapters:
        profiles, found = chapter_findings(chapter, records)
        rows.append(chapter_headline(chapter, profiles, found, link, colab_url(repository, chapter.notebook)))
        for claim in chapter.claims:
            mine = [f for f in found if f.claim.id == claim.id]
            first = mine[0] if mine else None
            ident = (f'<a href="{esc(link(claims_doc, claim_row_id(claim.id)))}">{esc(claim.id)}</a> '
                     f"{esc(claim.short or claim.statement)}")
            verdict = " ".join(badge(f.verdict, f.profile) for f in mine) or "not decided in this build"
            rows.append(cells([("claim", ident), ("verdict", verdict),
                               ("measured (expected)", esc(first.measured) if first else "–"),
                               ("why", esc(first.why) if first else "–")]))
    return (f'<table class="cgnb-claims cgnb-findings"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


# ---- the claims page --------------------------------------------------------------------------

CHECK_COLUMNS = ("profile", "rule", "cell", "statistic", "values", "estimate [band]", "expected", "verdict",
                 "reason")


def _number(x: float) -> str:
    return f"{x:.4g}"


def check_rows(records: Sequence[Mapping], chapter_url: str, used: set[str]) -> str:
    """One row per check (ledger record); its id is the anchor of its inline result in the chapter."""
    rows = []
    for r in records:
        ident = ledger_lib.anchor(r["claim"], r["rule"], r["cell"], r["profile"])
        unique, k = ident, 1
        while unique in used:  # two records with the same anchor (e.g. quick and paper): keep ids unique
            k += 1
            unique = f"{ident}-{k}"
        used.add(unique)
        values = ", ".join(_number(v) for v in r["values"])
        band = (f"{_number(r['estimate'])} [{_number(r['low'])}, {_number(r['high'])}]"
                if r["high"] > r["low"] else _number(r["estimate"]))
        context = "" if r["decides"] else ' <span class="cgnb-context">context, not deciding</span>'
        rule = f'<a href="{esc(chapter_url)}#{esc(ident)}">{esc(r["rule"])}</a>{context}'
        note = f'<span class="cgnb-note">{esc(r["note"])}</span>' if r["note"] else ""
        expected = f"{esc(r['op'])} {_number(r['threshold'])} <span class=\"cgnb-why\">{esc(r['why'])}</span>"
        rows.append(f'<tr id="{esc(unique)}">' + "".join(
            f'<td data-label="{name}">{content}</td>' for name, content in (
                ("profile", esc(r["profile"])), ("rule", rule), ("cell", esc(r["cell"]) or "–"),
                ("statistic", esc(r["statistic"])), ("values", f"{values} <span class=\"cgnb-n\">(n = {r['n']})</span>"),
                ("estimate [band]", f"{band} <span class=\"cgnb-why\">{esc(r['band'])}</span>"),
                ("expected", expected), ("verdict", badge(r["verdict"])),
                ("reason", esc(r["reason"]) + note))) + "</tr>")
    head = "".join(f"<th>{c}</th>" for c in CHECK_COLUMNS)
    return f'<table class="cgnb-claims cgnb-checks"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def claims_table(chapter: Chapter, records: Sequence[Mapping], link: Link, used: set[str]) -> str:
    """The chapter's claims (HTML): one row per claim, its verdict per profile side by side, its
    checks in a ``<details>`` under it."""
    profiles, found = chapter_findings(chapter, records)
    if not profiles:
        return "<p>No check of this chapter was recorded in this build.</p>"
    chapter_url = link(chapter_doc(chapter), "")
    head = "".join(f"<th>{name}</th>" for name in ("claim", *profiles))
    rows = []
    for claim in chapter.claims:
        mine = {f.profile: f for f in found if f.claim.id == claim.id}
        kind = "" if claim.kind == "claim" else f' <span class="cgnb-kind">{esc(claim.kind)}</span>'
        checks = [r for p in profiles for r in mine[p].records] if mine else []
        details = (f"<details><summary>{len(checks)} check{'s' if len(checks) != 1 else ''}: "
                   f"{esc(verdicts_lib.rollup_rule(claim))}</summary>"
                   f"{check_rows(checks, chapter_url, used)}</details>") if checks else (
                   f'<p class="cgnb-note">{esc(claim.not_testable or "no check of this claim ran")}</p>')
        statement = (f'<strong>{esc(claim.id)}</strong>{kind} {esc(claim.short)}'
                     f'<span class="cgnb-statement">{esc(claim.statement)}</span>{details}')
        verdict_cells = [(p, badge(mine[p].verdict) + f'<span class="cgnb-split">{esc(mine[p].split)}</span>'
                          if p in mine else "–") for p in profiles]
        rows.append(f'<tr id="{claim_row_id(claim.id)}">' + "".join(
            f'<td data-label="{esc(name)}">{content}</td>' for name, content in [("claim", statement), *verdict_cells])
            + "</tr>")
    return (f'<table class="cgnb-claims cgnb-claim-rows"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


# ---- how to cite ------------------------------------------------------------------------------

def version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """cgnb's version, from ``pyproject.toml``."""
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


def citation(title: str, author: str, year: str, the_version: str, url: str) -> tuple[str, str]:
    """``(sentence, bibtex)``: how to cite the book."""
    sentence = f"{author}, {title}, version {the_version} ({year}), {url}."
    key = "cgnb" + year
    bibtex = (f"@software{{{key},\n  title   = {{{title}}},\n  author  = {{{{{author}}}}},\n"
              f"  version = {{{the_version}}},\n  year    = {{{year}}},\n  url     = {{{url}}}\n}}")
    return sentence, bibtex


# ---- directives -------------------------------------------------------------------------------

def _records() -> list[dict]:
    return ledger_lib.load_records()


class _LedgerDirective(SphinxDirective):
    """A directive rendered from the ledger while the page is read (the page is read last)."""

    def link(self) -> Link:
        builder, here = self.env.app.builder, self.env.docname

        def to(doc: str, fragment: str = "") -> str:
            try:
                uri = builder.get_relative_uri(here, doc)
            except Exception:  # noqa: BLE001 - a builder without page URIs: link by name
                uri = doc + ".html"
            return uri + (f"#{fragment}" if fragment else "")

        return to

    def data(self) -> tuple[list[Chapter], list[dict]]:
        chapters, records = book_chapters(), _records()
        for name in unknown_chapters(chapters, records):
            LOGGER.warning(f"cgnb: ledger records of chapter {name!r}, which is not in cgnb.chapters.all_chapters(); "
                           f"they are left out (delete its ledger file or rebuild)", location=self.get_location())
        return chapters, records


class FindingsDirective(_LedgerDirective):
    """``{cgnb-findings}``: the landing page's findings at a glance."""

    def run(self):
        chapters, records = self.data()
        return [nodes.raw("", landing_html(chapters, records, self.link(), _repository_url()), format="html")]


class ClaimsDirective(_LedgerDirective):
    """``{cgnb-claims}``: one section per chapter (a real heading), its claims table under it."""

    def run(self):
        chapters, records = self.data()
        link, used, sections = self.link(), set(), []
        for chapter in chapters:
            section = nodes.section(ids=[f"claims-{chapter.name.replace('_', '-')}"])
            section += nodes.title(text=f"{chapter.number}. {chapter.title}")
            intro = nodes.paragraph()
            intro += nodes.reference("", "Read the chapter", refuri=link(chapter_doc(chapter), ""), internal=True)
            if chapter.question:
                intro += nodes.Text(f" — {chapter.question}")
            section += intro
            section += nodes.raw("", claims_table(chapter, records, link, used), format="html")
            sections.append(section)
        return sections


class CiteDirective(SphinxDirective):
    """``{cgnb-cite}``: how to cite the book (its version from pyproject.toml)."""

    def run(self):
        config = self.config
        year = re.sub(r"\D.*", "", str(config.copyright)) or "n.d."
        sentence, bibtex = citation(config.project, config.author, year, version(), _repository_url())
        paragraph = nodes.paragraph(text=sentence)
        block = nodes.literal_block(bibtex, bibtex, language="bibtex")
        return [paragraph, block]


def run_locally(repository: str) -> str:
    """The three shell lines that clone the book and build and test it (the README's commands)."""
    folder = repository.rstrip("/").rsplit("/", 1)[-1]
    return (f"git clone {repository} && cd {folder}\n"
            "bash scripts/build_book.sh  # the site, in _build/html\n"
            "bash scripts/test.sh        # the tests and notebooks")


class RunLocallyDirective(SphinxDirective):
    """``{cgnb-run-locally}``: :func:`run_locally` as a shell block."""

    def run(self):
        text = run_locally(_repository_url())
        return [nodes.literal_block(text, text, language="bash")]


def _repository_url() -> str:
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config.get("repository", {}).get("url", "")


def setup(app):
    app.add_directive("cgnb-findings", FindingsDirective)
    app.add_directive("cgnb-claims", ClaimsDirective)
    app.add_directive("cgnb-cite", CiteDirective)
    app.add_directive("cgnb-run-locally", RunLocallyDirective)
