import pytest

from cgnb.engine.book import Chapter
from cgnb.engine.claims import Claim


def test_a_chapter_names_its_notebook_and_claims():
    chapter = Chapter("coherent_gradients", 4, "Coherent gradients", (Claim("C4.1", "fits"), Claim("C4.2", "falls")))
    assert chapter.notebook == "notebooks/04_coherent_gradients.ipynb"
    assert chapter.claim_ids == ("C4.1", "C4.2")


@pytest.mark.parametrize("kw,match", [
    (dict(name="Coherent"), "lower-case"),
    (dict(claims=(Claim("C5.1", "x"),)), "must start with 'C4.'"),
    (dict(claims=(Claim("C4.1", "x"), Claim("C4.1", "y"))), "listed twice"),
])
def test_malformed_chapters_are_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        Chapter(**{"name": "coherent_gradients", "number": 4, "title": "t", "claims": (), **kw})
