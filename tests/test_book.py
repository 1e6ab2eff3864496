"""The book's frame: table of contents, notebook hygiene, citations, claim coverage."""
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from cgnb.chapters import EXPECTED_CLAIMS

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("nbscript", ROOT / "scripts" / "notebooks.py")
nbscript = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nbscript)
site = importlib.util.spec_from_file_location("check_site", ROOT / "scripts" / "check_site.py")

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
    cited = {k.strip() for t in texts for group in re.findall(r"\{cite[pt]?\}`([^`]+)`", t) for k in group.split(",")}
    assert cited, "no citations found"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_chapter_checks_all_its_claims_through_the_ledger(path):
    chapter = f"ch{int(path.name[:2])}"
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert f'Ledger("{chapter}")' in source
    last = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"][-1]
    assert f'.finish(EXPECTED_CLAIMS["{chapter}"])' in last, "the last code cell must publish the run's records"
    checked = set(re.findall(r"""\.check\(\s*["'](C\d+\.\d+)["']""", source))
    assert set(EXPECTED_CLAIMS[chapter]) <= checked, f"not checked: {set(EXPECTED_CLAIMS[chapter]) - checked}"


def test_check_site_reads_the_toc():
    module = importlib.util.module_from_spec(site)
    site.loader.exec_module(module)
    assert module.toc_pages(ROOT / "_toc.yml") == toc_files()


@pytest.mark.parametrize("path", NOTEBOOKS + sorted((ROOT / "book").glob("*.md")), ids=lambda p: p.name)
def test_no_python_api_roles(path):
    """The book has no API reference pages, so a {func}/{class}/... role is an unresolved
    reference, which the CI build (-n -W) turns into an error: write `cgnb.module.name`."""
    roles = re.findall(r"\{(?:py:)?(?:func|class|meth|mod|attr|obj|data)\}`[^`]*`", path.read_text())
    assert not roles, f"{path.name}: Sphinx API roles without an API reference: {roles}"
