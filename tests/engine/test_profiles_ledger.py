import json
import subprocess
import sys

import numpy as np
import pytest

import cgnb
from cgnb.engine import ledger, profiles


def test_profile_default_and_paper(monkeypatch):
    assert cgnb.profile() == "quick"
    assert cgnb.pick(quick=1, paper=2) == 1
    monkeypatch.setenv("CGNB_PROFILE", "paper")
    assert cgnb.profile() == "paper"
    assert cgnb.pick(quick=1, paper=2) == 2


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CGNB_PROFILE", "nonsense")
    with pytest.raises(profiles.ProfileError, match=r"CGNB_PROFILE='nonsense' is not a known profile.*quick, paper"):
        cgnb.profile()


def test_unknown_profile_fails_a_fresh_interpreter():
    env = {"CGNB_PROFILE": "nonsense", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", "import cgnb; cgnb.pick(quick=1, paper=2)"],
                          capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "not a known profile" in done.stderr


def read(tmp_path, chapter, running=True):
    """The records of a chapter's current run (``running``) or of its last finished run."""
    name = f"{chapter}.jsonl.running" if running else f"{chapter}.jsonl"
    lines = (tmp_path / "claims" / name).read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("value,op,threshold,holds", [
    (0.5, "<", 1.0, True), (1.0, "<", 1.0, False), (1.0, "<=", 1.0, True), (2.0, ">", 1.0, True),
    (1.0, ">=", 1.0, True), (0.9, ">=", 1.0, False), (True, "==", True, True), (0.3, "within", (0.2, 0.4), True),
    (0.5, "within", (0.2, 0.4), False), (float("nan"), "<", 1.0, False), (np.float32(2.0), ">", 1, True),
])
def test_evaluate(value, op, threshold, holds):
    assert ledger.evaluate(value, op, threshold) is holds


def test_check_records_and_passes(tmp_path):
    book_ledger = cgnb.Ledger("chX")
    result = book_ledger.check("C9.1", "error is small", np.float32(1e-7), "<=", 1e-5)
    assert bool(result) is True and result.line().startswith("✅ **C9.1 holds**: measured 1e-07, expected <= 1e-05.")
    (record,) = read(tmp_path, "chX")
    assert record["claim"] == "C9.1" and record["holds"] is True and record["status"] == "holds"
    assert record["profile"] == "quick" and record["chapter"] == "chX"
    assert record["value"] == pytest.approx(1e-7) and record["threshold"] == 1e-5 and record["op"] == "<="


def test_failed_claim_raises_with_expected_and_measured_and_is_recorded(tmp_path):
    book_ledger = cgnb.Ledger("chX")
    with pytest.raises(ledger.ClaimFailed, match=r"C9\.2 .*expected value >= 0\.9, measured 0\.5.*accuracy is high"):
        book_ledger.check("C9.2", "accuracy is high", 0.5, ">=", 0.9)
    (record,) = read(tmp_path, "chX")
    assert record["holds"] is False


def test_outcome_is_validated_and_not_holds_needs_a_reason(tmp_path):
    run = cgnb.Ledger("chX")
    with pytest.raises(ValueError, match="outcome must be one of"):
        run.check("C9.3", "s", 0.1, ">", 0.5, outcome="paper-only")
    with pytest.raises(ValueError, match="needs a note"):
        run.check("C9.3", "s", 0.1, ">", 0.5, outcome="not reproduced")
    result = run.check("C9.3", "source says big", 0.1, ">", 0.5, outcome="refuted", note="measured small on 5 seeds")
    assert not result and result.status == "refuted" and read(tmp_path, "chX")[0]["outcome"] == "refuted"
    assert result.line() == ("❌ **C9.3 refuted**: measured 0.1, expected > 0.5. source says big "
                             "*Why: measured small on 5 seeds*")


def test_new_run_starts_empty_and_keeps_other_chapters(tmp_path):
    first = cgnb.Ledger("chA")
    first.check("C1.1", "a", 1, "==", 1)
    first.finish(["C1.1"])
    other = cgnb.Ledger("chB")
    other.check("C2.1", "b", 1, "==", 1)
    other.finish()
    cgnb.Ledger("chA")
    assert (tmp_path / "claims" / "chA.jsonl.running").read_text() == ""
    assert len(read(tmp_path, "chA", running=False)) == 1 and len(read(tmp_path, "chB", running=False)) == 1


def test_failed_or_incomplete_run_never_erases_the_last_good_records(tmp_path):
    good = cgnb.Ledger("chX")
    good.check("C9.1", "a", 1.0, "<", 2.0)
    good.check("C9.2", "b", 1.0, "<", 2.0)
    good.finish(["C9.1", "C9.2"])
    assert not (tmp_path / "claims" / "chX.jsonl.running").exists()
    failing = cgnb.Ledger("chX")
    with pytest.raises(ledger.ClaimFailed):
        failing.check("C9.1", "a", 3.0, "<", 2.0)
    with pytest.raises(RuntimeError, match=r"incomplete \(failed checks: \['C9.1'\]"):
        failing.finish(["C9.1", "C9.2"])
    interrupted = cgnb.Ledger("chX")
    interrupted.check("C9.1", "a", 1.0, "<", 2.0)
    with pytest.raises(RuntimeError, match=r"expected claims not checked: \['C9.2'\]"):
        interrupted.finish(["C9.1", "C9.2"])
    assert [r["value"] for r in read(tmp_path, "chX", running=False)] == [1.0, 1.0]
    assert [r["claim"] for r in ledger.load_records()] == ["C9.1", "C9.2"], "unfinished runs are not shown"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), np.float32("nan")])
def test_non_finite_measurements_are_never_recorded(tmp_path, value):
    run = cgnb.Ledger("chX")
    for reproduced in (True, False):
        with pytest.raises(ValueError, match="not a number a claim can rest on"):
            run.check("C9.5", "s", value, ">", 0.5, outcome="holds" if reproduced else "not reproduced", note="n")
    assert read(tmp_path, "chX") == []


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(op="~"), ValueError, "op '~' is not supported"),
    (dict(op="within", threshold=1.0), ValueError, r"needs threshold=\(low, high\)"),
    (dict(op="within", threshold=(2.0, 1.0)), ValueError, "low <= high"),
    (dict(value="big"), TypeError, "must be a number or a bool"),
    (dict(claim=""), ValueError, "needs a chapter id"),
])
def test_bad_checks_are_clear_errors(kwargs, error, match):
    args = dict(chapter="chX", claim="C9.9", statement="s", value=1.0, op="<", threshold=2.0) | kwargs
    with pytest.raises(error, match=match):
        ledger.check(**args)


def test_load_records_sorts_claims_numerically(tmp_path):
    book_ledger = cgnb.Ledger("chX")
    book_ledger.check("C10.1", "later", 1.0, "<", 2.0)
    book_ledger.check("C2.10", "ten", 1.0, "<", 2.0)
    book_ledger.check("C2.9", "nine | pipe", 3.0, "<", 2.0, outcome="not reproduced", note="why")
    book_ledger.finish()
    records = ledger.load_records()
    assert [r["claim"] for r in records] == ["C2.9", "C2.10", "C10.1"]
    assert [r["status"] for r in records] == ["not reproduced", "holds", "holds"]


def test_summary_counts_and_lists_missing_claims():
    ledger.check("ch2", "C2.1", "a", 1.0, "<", 2.0)
    ledger.check("ch2", "C2.2", "b", 3.0, "<", 2.0, outcome="not reproduced", note="why")
    with pytest.raises(ledger.ClaimFailed):
        ledger.check("ch2", "C2.3", "c", 3.0, "<", 2.0)
    expected = {"ch1": ("C1.1",), "ch2": ("C2.1", "C2.2", "C2.3"), "ch6": ("C6.3",)}
    text = ledger.summary(ledger.load_records(), expected)
    assert "**3 checks**" in text and "1 hold, 1 not reproduced, 0 refuted" in text and "1 failed their" in text
    assert "C1.1" in text and "C2.1," not in text and "C6.3." in text
    assert "every expected claim was checked" in ledger.summary(ledger.load_records(), {"ch2": ("C2.1",)})
    assert "missing" not in ledger.summary(ledger.load_records()) and "not yet checked" not in ledger.summary(ledger.load_records())


def test_not_reproduced_claim_is_recorded_and_must_keep_failing(tmp_path):
    book_ledger = cgnb.Ledger("chX")
    assert not book_ledger.check("C9.4", "source says positive", -1.0, ">", 0, outcome="not reproduced", note="n")
    assert read(tmp_path, "chX")[0]["status"] == "not reproduced"
    with pytest.raises(ledger.ClaimFailed, match="recorded as not reproduced, but it holds"):
        book_ledger.check("C9.4", "source says positive", 1.0, ">", 0, outcome="not reproduced", note="n")
    fresh = cgnb.Ledger("chX")
    fresh.check("C9.4", "source says positive", -1.0, ">", 0, outcome="not reproduced", note="n")
    fresh.finish(["C9.4"])
    assert "1 not reproduced" in ledger.summary(ledger.load_records())


def test_a_stored_run_has_its_own_ledger_beside_the_chapters(tmp_path):
    own = cgnb.Ledger("chA")
    own.check("C1.1", "a", 1, "==", 1)
    stored = cgnb.Ledger("chA", profile="big-run")
    result = stored.check("C1.1", "a", 2, "==", 2)
    assert result.record["profile"] == "big-run"
    stored.finish(["C1.1"])
    own.finish(["C1.1"])
    folder = tmp_path / "claims"
    assert sorted(p.name for p in folder.iterdir()) == ["chA.jsonl", "chA@big-run.jsonl"]
    records = ledger.load_records(folder)
    assert [(r["claim"], r["profile"], r["value"]) for r in records] == [("C1.1", "quick", 1), ("C1.1", "big-run", 2)]
    for bad in ("a/b", "", " x", "a@b"):
        with pytest.raises(ValueError, match="plain name"):
            cgnb.Ledger("chA", profile=bad)
