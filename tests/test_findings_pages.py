"""The landing page's findings, the claims page and the citation line, rendered from a toy ledger."""
import re
import sys
from pathlib import Path

import pytest

from cgnb.engine import ledger
from cgnb.engine.book import Chapter
from cgnb.engine.claims import Band, Claim, Rule

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import findings_pages as pages  # noqa: E402  (the book's extension, imported as Sphinx imports it)

RULE = Rule("drop", "a drop", ">", 0.0, "a drop is what the source predicts", band=Band("seeds"))
TOY = Chapter("toy_chapter", 9, "Toy chapter", (
    Claim("C9.1", "The source says it drops.", short="it drops", rules=(RULE,)),
    Claim("C9.2", "It drops at every noise level.", short="drops everywhere", rules=(RULE,)),
    Claim("C9.3", "Units die.", short="units die", not_testable="the model has no units")),
    question="Does it drop?")
OTHER = Chapter("other", 8, "Other", (Claim("C8.1", "Something", short="something", rules=(RULE,)),))
REPO = "https://github.com/owner/book"


def records(tmp_path):
    for profile in (None, "stored-1"):
        book = ledger.Ledger(TOY, directory=tmp_path, profile=profile, show=False)
        book.decide("C9.1", [1.0, 1.1, 0.9])
        for cell, values in (("25 %", [1.0, 1.2, 1.1]), ("50 %", [-1.0, -1.2, -1.1])):
            book.decide("C9.2", values, cell=cell)
        book.finish()
    return ledger.load_records(tmp_path)


def link(doc, fragment=""):
    return f"/{doc}.html" + (f"#{fragment}" if fragment else "")


def test_colab_url_and_run_locally_come_from_the_repository():
    assert pages.colab_url(REPO, TOY.notebook) == (
        "https://colab.research.google.com/github/owner/book/blob/main/notebooks/09_toy_chapter.ipynb")
    with pytest.raises(ValueError, match="GitHub URL"):
        pages.colab_url("https://example.org/book", TOY.notebook)
    lines = pages.run_locally(REPO).splitlines()
    assert lines[0] == f"git clone {REPO} && cd book" and len(lines) == 3
    assert lines[1].startswith("bash scripts/build_book.sh") and lines[2].startswith("bash scripts/test.sh")


def test_landing_page_has_a_headline_per_chapter_and_a_row_per_claim(tmp_path):
    html = pages.landing_html([OTHER, TOY], records(tmp_path), link, REPO)
    assert html.count('class="cgnb-chapter-row"') == 2
    assert "Does it drop?" in html and "not run in this build" in html  # OTHER has no records
    assert "<strong>quick</strong>: 1 of 3 claims hold, 1 not reproduced, 1 not testable" in html
    assert "<strong>stored-1</strong>" in html
    assert html.count("Open in Colab") == 2 and "notebooks/09_toy_chapter.ipynb" in html
    assert 'href="/book/claims.html#finding-c9-1">C9.1</a> it drops' in html
    row = re.search(r"<tr><td data-label=\"claim\">.*?C9.2.*?</tr>", html).group(0)
    assert row.count("cgnb-badge cgnb-not-reproduced") == 2  # quick and stored-1 side by side
    assert "holds in 1 of 2 checks, not reproduced in 1" in row


def test_claims_table_expands_to_checks_with_unique_anchors(tmp_path):
    used = set()
    html = pages.claims_table(TOY, records(tmp_path), link, used)
    head = re.search(r"<thead>(.*?)</thead>", html).group(1)
    assert head == "<tr><th>claim</th><th>quick</th><th>stored-1</th></tr>"
    assert html.count("<details>") == 2 and "holds only if every check holds" in html
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids)) == 3 + 6  # 3 claim rows, 3 checks in each of 2 profiles
    assert ledger.anchor("C9.2", "drop", "25 %") in ids and ledger.anchor("C9.2", "drop", "25 %", "stored-1") in ids
    assert f'href="/{pages.chapter_doc(TOY)}.html#{ledger.anchor("C9.1", "drop")}"' in html
    assert "the model has no units" in html
    again = pages.claims_table(TOY, records(tmp_path), link, used)  # same anchors on one page: made unique
    assert not set(re.findall(r'<tr id="(claim-[^"]+)"', again)) & set(ids)


def test_a_chapter_without_records_says_so(tmp_path):
    assert "No check" in pages.claims_table(OTHER, records(tmp_path), link, set())
    assert pages.unknown_chapters([OTHER], records(tmp_path)) == ["toy_chapter"]


def test_citation_carries_the_version():
    sentence, bibtex = pages.citation("The Book", "the authors", "2026", pages.version(), REPO)
    assert f"version {pages.version()}" in sentence and REPO in sentence
    assert "@software{cgnb2026," in bibtex and "version = {" in bibtex
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", pages.version())


def test_the_directives_render_sections_in_a_sphinx_build(tmp_path, monkeypatch):
    """A two-page Sphinx project: the claims page gets one real section per chapter (so the
    page's contents list them) and the landing table renders; the citation has the version."""
    from sphinx.application import Sphinx

    claims = tmp_path / "claims"
    records(claims)
    monkeypatch.setenv("CGNB_CLAIMS_DIR", str(claims))
    monkeypatch.setattr(pages, "book_chapters", lambda: [TOY])
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "conf.py").write_text("extensions = ['myst_parser', 'findings_pages']\nproject = 'Toy'\n"
                                 "author = 'the authors'\ncopyright = '2026'\n")
    (src / "index.md").write_text("# Toy\n\n```{toctree}\nclaims\n```\n\n```{cgnb-findings}\n```\n\n"
                                  "## Cite\n\n```{cgnb-cite}\n```\n")
    (src / "claims.md").write_text("# Claims\n\nIntro.\n\n```{cgnb-claims}\n```\n")
    (src / "notebooks").mkdir()
    (src / "notebooks" / "09_toy_chapter.md").write_text("# Toy chapter\n")
    app = Sphinx(str(src), str(src), str(out), str(tmp_path / "doctrees"), "html", status=None,
                 warning=None, freshenv=True)
    app.build()
    page = (out / "claims.html").read_text()
    assert re.search(r'<section id="claims-toy-chapter">\s*<h2>9\. Toy chapter', page)
    assert app.env.tocs["claims"].astext().count("Toy chapter") == 1  # the in-page contents lists it
    assert 'id="finding-c9-1"' in page and "<details>" in page
    index = (out / "index.html").read_text()
    assert "cgnb-findings" in index and f"version {pages.version()}" in index
