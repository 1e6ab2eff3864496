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


def test_partial_recovery_holds_c32_but_not_c34(tmp_path):
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_all(ledger, neutral([0.55, 0.56, 0.55], [0.8, 0.81, 0.79], [0.99, 0.99, 0.98],
                                                       [0.56, 0.57, 0.55]), longer=10))
    assert found[("C3.1", "near-chance")] == "holds" and found[("C3.2", "plain")] == "holds"
    assert found[("C3.2", "dropout")] == "holds" and found[("C3.3", "every-seed")] == "holds"
    assert found[("C3.4", "full")] == "not reproduced"


def test_no_recovery_fails_c32_and_full_recovery_holds_c34(tmp_path):
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_all(ledger, neutral([0.55] * 3, [0.56, 0.57, 0.55], [0.99] * 3, [0.56] * 3),
                                       longer=10))
    assert found[("C3.2", "plain")] == "not reproduced" and found[("C3.3", "every-seed")] == "not reproduced"
    ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    found = verdicts(claims.decide_all(ledger, neutral([0.55] * 3, [0.98, 0.99, 0.985], [0.99] * 3, [0.56] * 3),
                                       longer=10))
    assert found[("C3.4", "full")] == "holds"
