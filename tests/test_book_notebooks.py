"""The book's frame: table of contents, notebook hygiene, citations, claim coverage."""
import tomllib
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from cgnb.chapters import all_chapters
from repo_files import load_module

ROOT = Path(__file__).resolve().parents[1]
nbscript = load_module("scripts/notebooks.py")

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [c["file"] for c in part["chapters"]]
    return files


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    files = toc_files()
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}" in files, f"{nb.name} is not in _toc.yml"
    for name in files:
        assert any((ROOT / f"{name}{suffix}").is_file() for suffix in (".md", ".ipynb")), f"{name} missing"
    assert "book/claims" in files


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_hygiene(path):
    assert nbscript.problems(path) == []


def test_install_cell_uses_the_one_repository_url():
    url = CONFIG["repository"]["url"]
    assert url.startswith("https://github.com/")
    assert nbscript.repository_url() == url
    assert f"git+{url}" in nbscript.install_cell_source()
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


def bib_keys() -> set[str]:
    return set(re.findall(r"@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text()))


def test_every_citation_is_in_references_bib():
    keys = bib_keys()
    texts = [p.read_text() for p in [*NOTEBOOKS, *ROOT.glob("book/*.md"), *ROOT.glob("book/*.ipynb")]]
    cited = {k.strip() for t in texts for group in re.findall(r"\{cite(?::?[pt])?\}`([^`]+)`", t) for k in group.split(",")}
    assert cited, "no citations found"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


CHAPTERS = all_chapters()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_each_chapter_decides_its_claims_through_its_ledger(chapter):
    """The notebook opens the chapter's ledger and publishes it last; Ledger.finish raises when a claim with
    rules was left undecided, so a run of the notebook (nbval, the build) checks that every claim is decided."""
    cells = [c.source for c in nbformat.read(ROOT / chapter.notebook, as_version=4).cells if c.cell_type == "code"]
    source = "\n".join(cells)
    assert "Ledger(CHAPTER" in source, "the notebook must open cgnb.Ledger(CHAPTER, ...)"
    assert ".finish()" in cells[-1], "the last code cell must publish the run's records"
    assert f"from cgnb.chapters.{chapter.name} import" in source
    assert not re.search(r"outcome\s*=", source), "a notebook never declares an outcome"
    assert all(claim.rules or claim.not_testable for claim in chapter.claims), \
        f"claims without a rule: {[c.id for c in chapter.claims if not (c.rules or c.not_testable)]}"


def test_every_notebook_is_a_chapter_and_the_toc_lists_them_in_order():
    assert [str(p.relative_to(ROOT)) for p in NOTEBOOKS] == [c.notebook for c in CHAPTERS]
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = [entry["file"] for entry in toc["parts"][0]["chapters"]]
    assert listed == [c.notebook.removesuffix(".ipynb") for c in CHAPTERS], "_toc.yml's first part must list the chapters"
    assert [c.number for c in CHAPTERS] == list(range(1, len(CHAPTERS) + 1))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_a_chapters_title_is_its_notebooks_heading(chapter):
    cells = nbformat.read(ROOT / chapter.notebook, as_version=4).cells
    headings = [line for c in cells if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("# ")]
    assert headings[0] == f"# {chapter.number}. {chapter.title}"


def test_the_extension_reads_a_chapter_name_from_its_page():
    ext = _book_ext()
    assert [ext._chapter_id(c.notebook.removesuffix(".ipynb")) for c in CHAPTERS] == [c.name for c in CHAPTERS]
    assert ext._chapter_id("book/claims") == "book/claims"


def test_check_site_reads_the_toc():
    module = load_module("scripts/check_site.py")
    assert module.toc_pages(ROOT / "_toc.yml") == toc_files()


@pytest.mark.parametrize("path", NOTEBOOKS + sorted((ROOT / "book").glob("*.md")), ids=lambda p: p.name)
def test_no_python_api_roles(path):
    """The book has no API reference pages, so a {func}/{class}/... role is an unresolved
    reference, which the CI build (-n -W) turns into an error: write `cgnb.module.name`."""
    roles = re.findall(r"\{(?:py:)?(?:func|class|meth|mod|attr|obj|data)\}`[^`]*`", path.read_text())
    assert not roles, f"{path.name}: Sphinx API roles without an API reference: {roles}"


def test_colab_links_have_no_dot_segment():
    """sphinx-book-theme builds Colab links as .../blob/<branch>/<path_to_book>/<page>: "." gives "/./"."""
    path = CONFIG["repository"]["path_to_book"].strip("/")
    assert path not in (".", "./") and "/./" not in f"/{path}/"


def test_the_package_ships_every_subpackage():
    """A non-editable install (the Colab path) ships the packages pyproject.toml's find rule selects."""
    from setuptools import find_packages

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    shipped = set(find_packages(where=str(ROOT), include=include))
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "cgnb").rglob("__init__.py")}
    assert found and found <= shipped, f"packages pyproject.toml does not ship: {sorted(found - shipped)}"


def _cell(source: str, tags=()):
    return nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)} if tags else {})


@pytest.mark.parametrize("source, tags", [
    ("import jax\nfrom cgnb.engine import plots\nplots.use_style()", ()),
    ("fig = coherence_figures.plot_training(result)\nplt.show()", ()),
    ("result = sweep.run_sweep(config, mnist, variants)", ()),
    ("try:\n    import cgnb\nexcept ImportError:\n    pass", (nbscript.INSTALL_TAG,)),
])
def test_sync_folds_install_import_plot_and_runner_cells(source, tags):
    assert nbscript.folds(_cell(source, tags))


def test_sync_folds_the_parameters_cell():
    assert nbscript.folds(_cell("n_train = cgnb.pick(quick=600, paper=60000)\nimport numpy as np", ("parameters",)))


@pytest.mark.parametrize("source, tags", [
    ("grads = pergrad.per_example_grads(loss, params, x, y)", ()),
    ('ledger.decide("C4.1", values)\nfig = plots.grid(1, 1)', ()),
    ("fig = plots.grid(1, 1)", ("show-input",)),
    ("ratio = a / b", ()),
])
def test_sync_keeps_the_cells_a_reader_should_see_open(source, tags):
    assert not nbscript.folds(_cell(source, tags))


def test_check_reports_an_unfolded_plot_cell_and_a_folded_claim_check(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell(nbscript.install_cell_source(), [nbscript.INSTALL_TAG, "hide-input"]),
                _cell("n = 3", ["parameters"]),
                _cell("fig = plots.grid(1, 1)"),
                _cell('ledger.decide("C1.1", values)', ["hide-input"])]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    found = nbscript.problems(path)
    assert any("code cell 2 should be folded" in p for p in found)  # the parameters cell
    assert any("code cell 3 should be folded" in p for p in found)
    assert any("code cell 4 must stay open" in p for p in found)
    nbscript.sync(path)
    tags = [c.metadata.get("tags", []) for c in nbformat.read(path, as_version=4).cells]
    assert all("hide-input" in t for t in tags[1:])  # sync adds, never removes an author's tag


def _book_ext():
    return load_module("book/_ext/cgnb_book.py")


def test_bibliography_labels_are_author_year_without_latex():
    from pybtex.database import parse_file

    ext = _book_ext()
    labels = {key: ext.author_year(entry) for key, entry in parse_file(ROOT / "book" / "references.bib").entries.items()}
    assert labels["chatterjee2020coherent"] == "Chatterjee 2020"
    assert labels["arpit2017closer"] == "Arpit et al. 2017"
    assert labels["glorot2010understanding"] == "Glorot & Bengio 2010"
    assert not [label for label in labels.values() if set(label) & set("{}\\")], labels


def test_header_buttons_launch_only_on_chapters_and_no_pdf():
    ext = _book_ext()

    def context():
        return {"header_buttons": [
            {"label": "download-buttons", "buttons": [{"label": "download-source-button"}, {"label": "download-pdf-button"}]},
            {"label": "launch-buttons", "buttons": [{"label": "colab"}]}]}

    chapter, claims = context(), context()
    ext._header_buttons(None, "notebooks/01_x", "page.html", chapter, None)
    ext._header_buttons(None, "book/claims", "page.html", claims, None)
    assert [b["label"] for b in chapter["header_buttons"]] == ["download-buttons", "launch-buttons"]
    assert [b["label"] for b in claims["header_buttons"]] == ["download-buttons"]
    assert [b["label"] for b in chapter["header_buttons"][0]["buttons"]] == ["download-source-button"]
    assert "executed" in chapter["header_buttons"][0]["buttons"][0]["tooltip"]


def test_ledger_pages_are_in_the_toc_and_read_last():
    """The claims, status and landing pages render the chapters' ledger, so they are read after every
    chapter; the full bibliography last, so that citations resolve to it rather than to the landing page."""
    assert {"book/status", "book/claims", "book/glossary", "book/references"} <= set(toc_files())
    ext = _book_ext()
    docs = ["book/references", "book/intro", "book/status", "book/claims", "notebooks/01_x", "book/glossary"]
    ext._last(None, None, docs)
    assert docs == ["notebooks/01_x", "book/glossary", "book/claims", "book/status", "book/intro", "book/references"]


GLOSSARY_TERMS = ("dose", "coherence", "m-coherence", "alpha_p", "alpha_c", "pristine", "corrupt", "proper accuracy",
                  "overfit", "null world", "winsorization level c", "RM3", "Spectral Decoupling", "holds",
                  "inconclusive", "not reproduced", "refuted", "not testable")


def test_glossary_defines_the_book_terms_and_every_term_reference_resolves():
    text = (ROOT / "book" / "glossary.md").read_text()
    blocks = re.findall(r"```\{glossary\}\n(.*?)```", text, flags=re.S)
    terms = {line.strip().lower() for block in blocks for line in block.splitlines()
             if line.strip() and not line.startswith(" ")}
    assert {t.lower() for t in GLOSSARY_TERMS} <= terms, sorted({t.lower() for t in GLOSSARY_TERMS} - terms)
    pages = [*NOTEBOOKS, *ROOT.glob("book/*.md")]
    used = {m.group(2) or m.group(1) for p in pages
            for m in re.finditer(r"\{term\}`([^`<]+?)(?:\s*<([^>]+)>)?`", p.read_text())}
    assert {u.strip().lower() for u in used} <= terms, sorted({u.strip().lower() for u in used} - terms)
