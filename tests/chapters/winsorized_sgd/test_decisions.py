"""Tests of cgnb.chapters.winsorized_sgd.decisions: each claim decided on made-up runs whose outcome is known."""
import numpy as np
import pytest

import cgnb
from cgnb.chapters.winsorized_sgd import CHAPTER, claims, decisions
from cgnb.engine import data as data_lib

from .problems import fake_run


def _ledger(tmp_path, chapter=CHAPTER, profile=None):
    return cgnb.Ledger(chapter, profile=profile, directory=tmp_path, show=False)


def _verdicts(ledger):
    return {"/".join(part for part in key if part): record["verdict"] for key, record in ledger.records.items()}


def test_health_names_the_collapsed_run_and_only_it():
    lines = decisions.health(fake_run())
    assert [cell for cell, found in lines.items() if found] == [(4, 0.25)]
    assert lines[(4, 0.25)][0].startswith("c = 4, 25 %, seed 1: collapsed at step")
    assert decisions.health_rows(fake_run(collapse=None)) == [["every cell", "no run collapsed or failed to learn"]]


def test_each_claim_is_decided_by_its_rule_and_degenerate_runs_support_nothing(tmp_path):
    run = fake_run(ledger=_ledger(tmp_path))
    for decide in (decisions.decide_c52, decisions.decide_c53, decisions.decide_c54, decisions.decide_c55):
        decide(run)
    found = _verdicts(run.ledger)
    assert found["C5.2/not-memorized/c = 1, 25 %"] == "not reproduced"      # c = 1 memorizes
    assert found["C5.2/not-memorized/c = 4, 25 %"] == "not testable"        # seed 1 collapsed
    assert found["C5.2/not-memorized/c = 4, 50 %"] == "holds"
    assert found["C5.3/falls/25 %"] == "not testable" and found["C5.3/monotone/25 %"] == "not testable"
    assert found["C5.3/falls/50 %"] == "holds" and found["C5.3/monotone/50 %"] == "holds"
    assert found["C5.4/peaks-declines/c = 4, 50 %"] == "holds"
    assert found["C5.4/peaks-declines/c = 4, 25 %"] != "not testable"       # the collapse is the decline
    assert "collapsed" in run.ledger.records[("C5.4", "peaks-declines", "c = 4, 25 %")]["note"]
    assert found["C5.5/outgrows-sgd/c = 4, 50 %"] == "holds"
    assert found["C5.5/smaller-rate/c = 4, 25 %, lr 0.03"] == "holds"
    assert run.ledger.undecided() == ["C5.1"]


def test_c52_is_not_testable_where_plain_sgd_memorized_nothing_either(tmp_path):
    """A run too short to memorize: c = 4 'memorizes nothing', but neither does plain SGD, so that says nothing."""
    run = fake_run(ledger=_ledger(tmp_path), collapse=None)
    for noise in run.setting.claim_levels:
        run.grid[(0, noise)] = run.grid[(4, noise)]
    decisions.decide_c52(run)
    found = _verdicts(run.ledger)
    assert {found[f"C5.2/not-memorized/c = 4, {n}"] for n in ("25 %", "50 %")} == {"not testable"}
    assert found["C5.2/not-memorized/c = 1, 25 %"] == "not reproduced"  # memorizing without a control still counts
    assert "plain SGD at 25 % memorized no more" in run.ledger.records[("C5.2", "not-memorized", "c = 4, 25 %")]["reason"]


def test_a_run_without_the_network_statistics_leaves_c55_not_testable(tmp_path):
    chapter = claims.for_run(CHAPTER, has_model=False)
    run = fake_run("stored", ledger=_ledger(tmp_path, chapter, profile="stored"), model=False, control=False)
    for decide in (decisions.decide_c52, decisions.decide_c53, decisions.decide_c54, decisions.decide_c55):
        decide(run)
    assert not any(key[0] == "C5.5" for key in run.ledger.records)
    assert run.ledger.undecided() == ["C5.1"]
    assert claims.for_run(CHAPTER, has_model=True) is CHAPTER
    with pytest.raises(ValueError, match="recorded the network"):
        decisions.measures.output_norm_ratio(run.grid[(4, 0.5)][0], run.grid[(0, 0.5)][0])


def test_c51_decides_both_rules_on_the_runs_network(tmp_path):
    rng = np.random.default_rng(0)
    data = data_lib.Dataset(rng.uniform(size=(100, 784)).astype(np.float32), rng.integers(0, 10, 100).astype(np.int32),
                            rng.uniform(size=(10, 784)).astype(np.float32), rng.integers(0, 10, 10).astype(np.int32),
                            "test", "random")
    run = fake_run(ledger=_ledger(tmp_path))
    decisions.decide_c51(run.ledger, run.setting, data)
    found = _verdicts(run.ledger)
    assert found == {"C5.1/plain-at-c0": "holds", "C5.1/sort-and-clip/c = 1": "holds",
                     "C5.1/sort-and-clip/c = 4": "holds"}


def test_seeds_must_match_across_levels_of_c(tmp_path):
    run = fake_run(ledger=_ledger(tmp_path))
    run.grid[(1, 0.5)] = run.grid[(1, 0.5)][:2]
    with pytest.raises(ValueError, match="different seeds"):
        decisions.decide_c53(run)
