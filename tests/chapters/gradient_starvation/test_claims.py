"""Tests of cgnb.chapters.gradient_starvation.claims (the rules decide on neutralized-test accuracies)."""
from __future__ import annotations

import numpy as np

from cgnb.engine.ledger import Ledger
from cgnb.chapters.gradient_starvation import CHAPTER, claims


def verdicts(results):
    return {(r.record["claim"], r.record["rule"]): r.verdict for r in results}


def neutral(plain, sd, moon, baseline):
    base = np.array(baseline)
    return {"plain": np.array(plain), "SD": np.array(sd), "moon only": np.array(moon), "weight decay": base,
            "10x longer": base, "dropout": base}


def fitted(plain=1.0):
    """Training accuracies: every network fitted its training set (``plain``'s may be set)."""
    full = np.ones(3)
    return {"plain": np.full(3, plain), "SD": full, "moon only": full * 0.73, "weight decay": full,
            "10x longer": full, "dropout": full}


def test_partial_recovery_holds_c32_but_not_c34(tmp_path):
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_all(ledger, neutral([0.55, 0.56, 0.55], [0.8, 0.81, 0.79], [0.99, 0.99, 0.98],
                                                       [0.56, 0.57, 0.55]), longer=10, train=fitted()))
    assert found[("C3.1", "near-chance")] == "holds" and found[("C3.2", "plain")] == "holds"
    assert found[("C3.2", "dropout")] == "holds" and found[("C3.3", "every-seed")] == "holds"
    assert found[("C3.4", "full")] == "not reproduced"


def test_no_recovery_fails_c32_and_full_recovery_holds_c34(tmp_path):
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_all(ledger, neutral([0.55] * 3, [0.56, 0.57, 0.55], [0.99] * 3, [0.56] * 3),
                                       longer=10, train=fitted()))
    assert found[("C3.2", "plain")] == "not reproduced" and found[("C3.3", "every-seed")] == "not reproduced"
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_all(ledger, neutral([0.55] * 3, [0.98, 0.99, 0.985], [0.99] * 3, [0.56] * 3),
                                       longer=10, train=fitted()))
    assert found[("C3.4", "full")] == "holds"


def test_a_plain_network_that_never_learned_supports_no_claim_on_it(tmp_path):
    """Near chance on the neutralized set is also what a network that learned nothing gives."""
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_all(ledger, neutral([0.55] * 3, [0.8] * 3, [0.99] * 3, [0.56] * 3),
                                       longer=10, train=fitted(plain=0.6)))
    assert found[("C3.1", "near-chance")] == "not testable" and found[("C3.3", "every-seed")] == "not testable"
    assert found[("C3.2", "plain")] == "not testable" and found[("C3.2", "dropout")] == "holds"
    assert found[("C3.4", "full")] == "not reproduced"
