"""The claims page's rendering: grouped by chapter, linked to the inline results, escaped."""
import pytest

from cgnb.engine import ledger


def _record(claim, chapter, status="holds", note=""):
    return {"chapter": chapter, "claim": claim, "statement": "a < b & c", "profile": "quick", "value": 0.5,
            "op": "<=", "threshold": 1.0, "holds": status == "holds",
            "outcome": "holds" if status in ("holds", "fails") else status, "status": status, "note": note}


def test_anchor_is_a_valid_html_id():
    assert ledger.anchor("C4.1") == "claim-c4-1"
    assert ledger.anchor("C1.2a") == "claim-c1-2a"
    assert ledger.anchor("C4.1", "quick") == ledger.anchor("C4.1", "paper") == "claim-c4-1"
    assert ledger.anchor("C4.1", "fashion-60k") == "claim-c4-1-fashion-60k"  # a stored run's result
    with pytest.raises(ValueError):
        ledger.anchor("")


def test_claims_html_groups_by_chapter_and_links_each_claim_to_its_result():
    chapters = {"ch1": ("1. One", "../notebooks/01_one.html"), "ch2": ("2. Two", "../notebooks/02_two.html")}
    records = [_record("C1.1", "ch1"), _record("C2.1", "ch2", "not reproduced", note="too small <here>")]
    html = ledger.claims_html(records, chapters)
    assert html.index("1. One") < html.index("C1.1") < html.index("2. Two") < html.index("C2.1")
    assert 'href="../notebooks/01_one.html#claim-c1-1"' in html
    assert 'href="../notebooks/02_two.html#claim-c2-1"' in html
    assert "cgnb-badge cgnb-not-reproduced" in html and "cgnb-badge cgnb-holds" in html
    assert "a &lt; b &amp; c" in html and "too small &lt;here&gt;" in html  # escaped, not raw HTML
    assert html.count('data-label="result"') == 2 and html.count('data-label="profile"') == 2
    stored = dict(_record("C1.1", "ch1"), profile="big-run")
    assert 'href="../notebooks/01_one.html#claim-c1-1-big-run"' in ledger.claims_html([stored], chapters)


def test_claims_html_says_when_a_chapter_has_no_record_and_rejects_unknown_chapters():
    html = ledger.claims_html([], {"ch1": ("1. One", "one.html")})
    assert "No record" in html
    with pytest.raises(ValueError, match="ch9"):
        ledger.claims_html([_record("C9.1", "ch9")], {"ch1": ("1. One", "one.html")})
