"""Tests of cgnb.engine.paths: the book's folders inside a checkout, ~/.cgnb outside, and the overrides."""
from pathlib import Path

from cgnb.engine import paths


def make_book(root: Path) -> Path:
    (root / "cgnb").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\n")
    return root


def test_inside_a_checkout_everything_goes_under_the_book(tmp_path, monkeypatch):
    book = make_book(tmp_path / "book")
    (book / "notebooks").mkdir()
    monkeypatch.chdir(book / "notebooks")
    for name in ("CGNB_CLAIMS_DIR", "CGNB_CACHE_DIR", "CGNB_RESULTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert paths.book_root() == book.resolve()
    assert paths.claims_dir() == book.resolve() / "_build" / "claims"
    assert paths.cache_dir() == book.resolve() / ".cache" / "cgnb"
    assert paths.results_dir() == book.resolve() / "book" / "results"


def test_outside_a_checkout_it_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CGNB_RESULTS_DIR", raising=False)
    assert paths.book_root() is None
    assert paths.results_dir() == tmp_path / "home" / ".cgnb" / "book" / "results"


def test_environment_variables_override(tmp_path, monkeypatch):
    monkeypatch.setenv("CGNB_CLAIMS_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("CGNB_CACHE_DIR", str(tmp_path / "k"))
    monkeypatch.setenv("CGNB_RESULTS_DIR", str(tmp_path / "r"))
    assert (paths.claims_dir(), paths.cache_dir(), paths.results_dir()) == (tmp_path / "c", tmp_path / "k",
                                                                           tmp_path / "r")
