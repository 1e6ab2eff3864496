"""Tests of cgnb.chapters.gradient_dosage.claims (the rules decide the dose and vote claims)."""
from __future__ import annotations

import numpy as np

from cgnb.engine.ledger import Ledger
from cgnb.chapters.gradient_dosage import CHAPTER, claims, setting


def fake_runs(vote, dose_ratio=0.5):
    """HeadStartRuns with 3 seeds, 8 records; recognizer 1's dose = dose_ratio x the others'."""
    places = tuple(setting.placements(64.0))
    dose = np.ones((4, 1, 3, 8, 2, 5))
    dose[..., 0] = dose_ratio
    shape = (4, 1, 3, 8)
    return setting.HeadStartRuns(places, (0.0,), np.arange(1, 9) * 10, dose, np.zeros(shape), vote,
                                 np.zeros(shape + (3,)), np.zeros(shape))


def verdicts(results):
    return {(r.record["claim"], r.record["rule"], r.record["cell"]): r.verdict for r in results}


def test_less_dose_refutes_c11_and_its_literal(tmp_path):
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_dose(ledger, fake_runs(np.zeros((4, 1, 3, 8)), dose_ratio=0.5)))
    assert found[("C1.1", "input-weights", "input weights")] == "refuted"
    assert found[("C1.1a", "read-out", "read-out")] == "refuted"
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_dose(ledger, fake_runs(np.zeros((4, 1, 3, 8)), dose_ratio=9.0)))
    assert found[("C1.1", "read-out", "read-out")] == "holds"
    assert found[("C1.1a", "input-weights", "input weights")] == "holds"


def test_vote_rules(tmp_path):
    majority = 0.972
    vote = np.full((4, 1, 3, 8), majority)
    vote[1:, :, :, :2] = 0.9                                # head starts reach the majority vote later
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_accuracy(ledger, fake_runs(vote), majority))
    assert found[("C1.2a", "delay", "input weights, weight decay 0")] == "holds"
    assert found[("C1.2", "end", "input weights, weight decay 0")] == "refuted"
    vote[1:] = 0.9
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_accuracy(ledger, fake_runs(vote), majority))
    assert found[("C1.2", "end", "read-out, weight decay 0")] == "holds"
    vote[1:, :, :, -2] = 0.936                               # the vote still changes: not converged
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_accuracy(ledger, fake_runs(vote), majority))
    assert found[("C1.2", "end", "read-out, weight decay 0")] == "not testable"
