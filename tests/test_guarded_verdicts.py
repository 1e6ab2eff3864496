"""The book's verdicts are guarded: the last build's ledger must give the verdicts in tests/verdicts.json.

Runs after the notebooks (``after_notebooks``), so ``bash scripts/test.sh`` compares the verdicts of
the notebooks it just executed; a changed verdict is a deliberate edit of tests/verdicts.json
(``python scripts/verdicts.py update``) in a commit that says why.
"""
import json
import os
from pathlib import Path

import pytest
from repo_files import ROOT, load_module

CLAIMS_DIR = Path(os.environ.get("CGNB_CLAIMS_DIR") or ROOT / "_build" / "claims")  # before the test isolation
script = load_module("scripts/verdicts.py")


@pytest.mark.after_notebooks
def test_the_build_gives_the_guarded_verdicts():
    from cgnb.engine import ledger
    records = ledger.load_records(CLAIMS_DIR)
    assert records, (f"no ledger records in {CLAIMS_DIR}: build the book (bash scripts/build_book.sh) or run the "
                     f"notebooks (bash scripts/test.sh) first")
    found, problems = script.guarded(records)
    assert not problems, "\n".join(problems)
    expected = json.loads(script.FILE.read_text(encoding="utf-8"))
    lines = script.differences(expected, found, records)
    assert not lines, ("verdicts differ from tests/verdicts.json (if the change is meant, run "
                       "`python scripts/verdicts.py update` and say why in the commit):\n" + "\n".join(lines))


def test_differences_name_each_changed_check_with_its_values():
    record = {"chapter": "toy", "profile": "quick", "claim": "C9.1", "rule": "fits", "cell": "25 %",
              "verdict": "inconclusive", "statistic": "accuracy", "estimate": 0.98, "low": 0.97, "high": 0.99,
              "op": ">=", "threshold": 0.99, "values": [0.97, 0.99]}
    expected = {"toy": {"quick": {"C9.1/fits/25 %": "holds", "C9.2/drop": "holds"}}}
    found = {"toy": {"quick": {"C9.1/fits/25 %": "inconclusive"}}}
    lines = script.differences(expected, found, [record])
    assert lines[0].startswith("toy quick C9.1/fits/25 %: guarded holds, this build inconclusive: accuracy = 0.98")
    assert lines[1] == "toy quick C9.2/drop: guarded holds, this build (not decided)"
    assert script.differences(expected, expected, []) == []
