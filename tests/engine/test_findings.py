from cgnb.engine import findings, ledger
from cgnb.engine.book import Chapter
from cgnb.engine.claims import Claim, Rule

RULE = Rule("drop", "a drop", ">", 0.0, "a reason")
CHAPTER = Chapter("toy", 9, "Toy", (Claim("C9.1", "it drops", short="drops", rules=(RULE,)),
                                    Claim("C9.2", "cells", rules=(RULE,)),
                                    Claim("C9.3", "no model", not_testable="the model has no units")))


def records(tmp_path, profile=None):
    book = ledger.Ledger(CHAPTER, directory=tmp_path, profile=profile)
    book.decide("C9.1", [1.0, 1.1, 0.9])
    for cell, values in (("a", [1.0, 1.2, 1.1]), ("b", [-1.0, -1.2, -1.1]), ("c", [1.0, 1.1, 1.05])):
        book.decide("C9.2", values, cell=cell)
    book.finish()
    return ledger.load_records(tmp_path)


def test_one_finding_per_claim_and_profile(tmp_path):
    records(tmp_path)
    found = findings.findings(CHAPTER, records(tmp_path, "stored-1"))
    assert [(f.claim.id, f.profile) for f in found] == [
        ("C9.1", "quick"), ("C9.2", "quick"), ("C9.3", "quick"),
        ("C9.1", "stored-1"), ("C9.2", "stored-1"), ("C9.3", "stored-1")]
    one, cells, untestable = found[:3]
    assert one.verdict == "holds" and "needs > 0" in one.measured
    assert cells.verdict == "not reproduced" and cells.split == "holds in 2 of 3 checks, not reproduced in 1"
    assert "outside" in cells.why
    assert untestable.verdict == "not testable" and untestable.why == "the model has no units"


def test_markdown_table_has_a_column_per_profile(tmp_path):
    records(tmp_path)
    table = findings.markdown_table(findings.findings(CHAPTER, records(tmp_path, "stored-1")))
    head, rule, *rows = table.splitlines()
    assert head == "| claim | in short | quick | stored-1 | measured | why |"
    assert rows[0].startswith("| C9.1 | drops | ✅ holds | ✅ holds |")
    assert findings.markdown_table([]).startswith("*No claim")


def test_a_claim_without_records_is_reported(tmp_path):
    found = findings.finding(CHAPTER.claims[0], "quick", [])
    assert found.verdict == "not testable" and "no check" in found.why
