"""Tests of cgnb.chapters: the chapters are found by walking the package."""
import pytest

from cgnb import chapters
from cgnb.engine.book import Chapter


def test_every_chapter_package_is_found_in_book_order():
    found = chapters.all_chapters()
    assert all(isinstance(c, Chapter) for c in found)
    assert [c.number for c in found] == sorted(c.number for c in found)
    assert {c.name for c in found} == {"gradient_dosage", "what_scales_a_gradient", "gradient_starvation",
                                       "coherent_gradients", "winsorized_sgd", "minibatch_sensitivity"}
    for c in found:
        assert c.claim_ids and all(claim.startswith(f"C{c.number}.") for claim in c.claim_ids)
        assert c.catalog is None or c.catalog.chapter == c.name  # a stored run lives under the chapter's name


def test_a_chapter_by_name_and_an_unknown_one():
    assert chapters.chapter("coherent_gradients").number == 4
    with pytest.raises(KeyError, match="no chapter 'ch4'"):
        chapters.chapter("ch4")


def test_a_package_without_its_chapter_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "stray"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.setattr(chapters, "__path__", [*chapters.__path__, str(tmp_path)])
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="defines no CHAPTER"):
        chapters.all_chapters()
