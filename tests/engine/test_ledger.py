import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cgnb.engine import ledger
from cgnb.engine.book import Chapter
from cgnb.engine.claims import Band, Claim, Rule

FITS = Rule("fits", "final training accuracy", ">=", 0.99, "the paper's level", band=Band("range"))
FALLS = Rule("falls", "test accuracy drop", ">", 0.0, "a drop")
CHAPTER = Chapter("toy", 9, "Toy", (Claim("C9.1", "it fits", rules=(FITS,)),
                                    Claim("C9.2", "it falls", rules=(FALLS,)),
                                    Claim("C9.3", "needs a model we lack", not_testable="no such model")))


def published(tmp_path, stem="toy"):
    return [json.loads(line) for line in (tmp_path / f"{stem}.jsonl").read_text().splitlines()]


def test_decide_records_the_verdict_and_never_raises_on_it(tmp_path):
    book = ledger.Ledger(CHAPTER, directory=tmp_path, parameters={"seeds": (0, 1)})
    held = book.decide("C9.1", [0.995, 0.999], cell="25 %")
    missed = book.decide("C9.2", [-0.5, -0.4, -0.6])
    assert held.verdict == "holds" and missed.verdict == "not reproduced"
    assert "C9.1 holds" in repr(held) and 'id="claim-c9-1-fits-25"' in held._repr_markdown_()
    assert book.finish() == tmp_path / "toy.jsonl"
    records = published(tmp_path)
    assert [r["verdict"] for r in records] == ["holds", "not reproduced"]
    assert records[0]["parameters"] == {"seeds": [0, 1]} and records[0]["profile"] == "quick"
    assert all(ledger.validate_record(r) is None for r in records)
    assert not list(tmp_path.glob("*.running"))


def test_a_check_whose_premise_is_absent_is_recorded_not_testable_with_its_values(tmp_path):
    book = ledger.Ledger(CHAPTER, directory=tmp_path)
    result = book.decide("C9.2", [0.5, 0.6], not_testable="the effect it compares with did not occur")
    assert result.verdict == "not testable" and result.record["values"] == [0.5, 0.6]
    assert "did not occur" in result.record["reason"]


def test_unknown_claims_and_rules_are_defects(tmp_path):
    book = ledger.Ledger(CHAPTER, directory=tmp_path)
    with pytest.raises(KeyError, match="no claim 'C9.7'"):
        book.decide("C9.7", [1.0])
    with pytest.raises(KeyError, match="no rule 'x'"):
        book.decide("C9.1", [1.0], rule="x")
    with pytest.raises(ValueError, match="nan"):
        book.decide("C9.1", [float("nan")])
    with pytest.raises(TypeError, match="Chapter"):
        ledger.Ledger("toy", directory=tmp_path)


def test_an_undecided_claim_fails_finish_and_keeps_the_last_records(tmp_path):
    good = ledger.Ledger(CHAPTER, directory=tmp_path)
    good.decide("C9.1", [1.0])
    good.decide("C9.2", [1.0])
    good.finish()
    partial = ledger.Ledger(CHAPTER, directory=tmp_path)
    partial.decide("C9.1", [0.5])
    with pytest.raises(RuntimeError, match=r"claims \['C9.2'\] were not decided"):
        partial.finish()
    assert [r["verdict"] for r in published(tmp_path)] == ["holds", "holds"]


def test_nothing_decided_publishes_nothing(tmp_path):
    (tmp_path / "toy.jsonl").write_text("kept\n")
    assert ledger.Ledger(CHAPTER, directory=tmp_path).finish() is None
    assert (tmp_path / "toy.jsonl").read_text() == "kept\n"


def test_deciding_a_check_twice_keeps_the_last(tmp_path):
    book = ledger.Ledger(CHAPTER, directory=tmp_path)
    book.decide("C9.1", [0.5])
    book.decide("C9.1", [1.0])
    book.decide("C9.2", [1.0])
    book.finish()
    assert [r["verdict"] for r in published(tmp_path)] == ["holds", "holds"]


def test_two_runs_of_one_chapter_never_mix(tmp_path):
    first, second = ledger.Ledger(CHAPTER, directory=tmp_path), ledger.Ledger(CHAPTER, directory=tmp_path)
    first.decide("C9.1", [1.0])
    second.decide("C9.1", [0.5])
    second.decide("C9.2", [-1.0])
    first.decide("C9.2", [1.0])
    second.finish()
    assert [r["verdict"] for r in published(tmp_path)] == ["not reproduced", "not reproduced"]
    first.finish()
    assert [r["verdict"] for r in published(tmp_path)] == ["holds", "holds"]


def test_a_stored_run_has_its_own_file(tmp_path):
    book = ledger.Ledger(CHAPTER, directory=tmp_path, profile="fashion-60k")
    book.decide("C9.1", [1.0])
    book.decide("C9.2", [1.0])
    book.finish()
    assert published(tmp_path, "toy@fashion-60k")[0]["profile"] == "fashion-60k"
    assert ledger.anchor("C9.1", "fits", "", "fashion-60k") == "claim-c9-1-fits-fashion-60k"
    for bad in ("a/b", "a@b", " x", ""):
        with pytest.raises(ValueError, match="plain name"):
            ledger.Ledger(CHAPTER, directory=tmp_path, profile=bad)


@pytest.mark.parametrize("line,match", [
    ("{not json", "not JSON"), ('["a list"]', "JSON object"), ('{"claim": "C9.1"}', "are missing"),
])
def test_malformed_ledger_files_name_the_file_and_line(tmp_path, line, match):
    book = ledger.Ledger(CHAPTER, directory=tmp_path)
    book.decide("C9.1", [1.0])
    book.decide("C9.2", [1.0])
    book.finish()
    with open(tmp_path / "toy.jsonl", "a") as fh:
        fh.write(line + "\n")
    with pytest.raises(ledger.LedgerFileError, match=rf"toy.jsonl, line 3: .*{match}.*delete it and rebuild"):
        ledger.load_records(tmp_path)


def test_a_record_with_a_non_number_or_unknown_verdict_is_malformed():
    record = {k: "" for k in ledger.RECORD_KEYS} | {"values": [1.0], "estimate": 1.0, "low": 1.0, "high": 1.0,
                                                    "threshold": "inf", "verdict": "holds"}
    assert "must be numbers" in ledger.validate_record(record)
    assert "not one of" in ledger.validate_record(record | {"threshold": 1.0, "verdict": "fails"})


def test_running_file_is_per_run(tmp_path):
    a, b = ledger.Ledger(CHAPTER, directory=tmp_path), ledger.Ledger(CHAPTER, directory=tmp_path)
    assert a.running != b.running and str(os.getpid()) in a.running.name


def test_a_run_decides_a_binomial_band_on_its_own_number_of_examples(tmp_path):
    rate = Rule("rare", "fraction of null worlds that cross", "<", 0.05, "5 % level", band=Band(binomial=1000))
    chapter = Chapter("toy", 9, "Toy", (Claim("C9.1", "rare", rules=(rate,)),))
    book = ledger.Ledger(chapter, directory=tmp_path)
    few = book.decide("C9.1", [0.0], cell="3 worlds", examples=3)
    many = book.decide("C9.1", [0.0], cell="5000 worlds", examples=5000)
    assert (few.verdict, many.verdict) == ("inconclusive", "holds")
    assert "of 3 examples" in few.record["band"] and "of 5,000 examples" in many.record["band"]
    with pytest.raises(ValueError, match="no binomial part"):
        ledger.Ledger(CHAPTER, directory=tmp_path).decide("C9.2", [1.0], examples=10)


@pytest.mark.parametrize("values, error, match", [
    ("0.5", TypeError, r"C9.1 \(fits, 25 %\): every value must be a real number, got str '0.5'"),
    (np.array([True, False]), TypeError, r"C9.1 \(fits, 25 %\): every value must be a real number, got bool True"),
    ([10 ** 400], TypeError, r"C9.1 \(fits, 25 %\): every value must be a real number, got int 1000000000"),
    ([1.0, float("inf")], ValueError, r"C9.1 \(fits, 25 %\): a measured value is inf"),
])
def test_values_that_are_not_finite_numbers_are_defects_naming_the_claim(tmp_path, values, error, match):
    book = ledger.Ledger(CHAPTER, directory=tmp_path)
    with pytest.raises(error, match=match):
        book.decide("C9.1", values, cell="25 %")
    assert book.records == {} and not list(tmp_path.glob("*"))


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), "0.5"])
def test_a_non_finite_or_string_threshold_never_reaches_a_record(threshold):
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        Rule("fits", "final training accuracy", ">=", threshold, "the paper's level")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_a_record_holding_a_non_finite_number_is_malformed(tmp_path, number):
    book = ledger.Ledger(CHAPTER, directory=tmp_path)
    book.decide("C9.1", [1.0])
    book.decide("C9.2", [1.0])
    book.finish()
    text = (tmp_path / "toy.jsonl").read_text().splitlines()
    record = json.loads(text[0])
    text[0] = json.dumps(record).replace(f'"threshold": {record["threshold"]}', f'"threshold": {number}')
    (tmp_path / "toy.jsonl").write_text("\n".join(text) + "\n")
    with pytest.raises(ledger.LedgerFileError, match=r"toy.jsonl, line 1: .*must be finite"):
        ledger.load_records(tmp_path)


RUN_ONE_CHAPTER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from cgnb.engine import ledger
    from cgnb.engine.book import Chapter
    from cgnb.engine.claims import Band, Claim, Rule
    fits = Rule("fits", "final training accuracy", ">=", 0.99, "the paper's level", band=Band("range"))
    chapter = Chapter("toy", 9, "Toy", (Claim("C9.1", "it fits", rules=(fits,)),))
    book = ledger.Ledger(chapter, directory=Path(sys.argv[1]))
    value = float(sys.argv[2])
    for cell in range(20):
        book.decide("C9.1", [value], cell=str(cell))
        time.sleep(0.01)
    book.finish()
""")


def test_two_processes_running_one_chapter_publish_one_run_each_never_a_mix(tmp_path):
    """Two processes open one chapter's ledger a moment apart, check and finish: the published file holds one
    run's records, all of them, never a mix; neither empties the other's running file."""
    script = tmp_path / "run_chapter.py"
    script.write_text(RUN_ONE_CHAPTER)
    claims = tmp_path / "claims"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, str(script), str(claims), value], env=env) for value in ("1.0", "0.5")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    records = published(claims)
    assert len(records) == 20 and len({r["verdict"] for r in records}) == 1
    assert sorted(int(r["cell"]) for r in records) == list(range(20))
    assert not list(claims.glob("*.running")) and not list(claims.glob("*.tmp"))


def test_finish_removes_the_stale_files_of_killed_runs_and_keeps_live_ones(tmp_path):
    killed, fresh = tmp_path / "toy.jsonl.1-aaaa.running", tmp_path / "toy.jsonl.2-bbbb.running"
    half = tmp_path / "toy.jsonl.cccc.tmp"
    other = tmp_path / "toy@fashion-60k.jsonl.3-dddd.running"
    for file in (killed, fresh, half, other):
        file.write_text("{}\n")
    for file in (killed, half, other):
        old = file.stat().st_mtime - 2 * ledger.STALE_S
        os.utime(file, (old, old))
    book = ledger.Ledger(CHAPTER, directory=tmp_path)
    book.decide("C9.1", [1.0])
    book.decide("C9.2", [1.0])
    book.finish()
    assert not killed.exists() and not half.exists() and fresh.exists() and other.exists()
