"""Tests of cgnb.chapters.what_scales_a_gradient.claims: the registry's kinds and the depth decisions."""
from __future__ import annotations

import numpy as np

from cgnb.engine import ledger as ledger_module
from cgnb.chapters.what_scales_a_gradient import CHAPTER, claims


def test_literal_statements_are_claims_of_their_own_refuted_on_a_miss():
    kinds = {c.id: c.kind for c in claims.CLAIMS}
    assert kinds == {"C2.1": "implementation", "C2.2": "implementation", "C2.3": "implementation",
                     "C2.3a": "literal", "C2.4": "claim", "C2.4a": "literal", "C2.5": "implementation"}
    for claim in claims.CLAIMS:
        for rule in claim.rules:
            assert (rule.miss == "refuted") == (claim.kind == "literal")
            assert rule.band.kind == "exact" if claim.kind == "implementation" else True
            assert rule.band.kind == "seeds" if claim.id.startswith("C2.4") else True


def test_decide_depth_decides_each_scale_and_skips_the_direction_of_a_flat_prediction(tmp_path):
    book = ledger_module.Ledger(CHAPTER, directory=tmp_path, show=False)
    predicted = np.array([[-0.7] * 5, [0.0] * 5, [0.35] * 5])
    depth = {"predicted": predicted, "fitted": predicted + 0.01, "fitted_batch": predicted - 0.02,
             "literal": predicted - 0.35}
    results = claims.decide_depth(book, depth, [0.5, 1.4142, 2.0])
    verdicts = {(r.record["claim"], r.record["rule"], r.record["cell"]): r.verdict for r in results}
    assert verdicts[("C2.4", "rate", "w_scale 0.5")] == "holds"
    assert verdicts[("C2.4a", "rate", "w_scale 2")] == "refuted"
    assert ("C2.4", "direction", "w_scale 1.4142") not in verdicts
    assert verdicts[("C2.4", "direction", "w_scale 2")] == "holds"
    wrong = dict(depth, fitted_batch=-predicted)
    again = claims.decide_depth(book, wrong, [0.5, 1.4142, 2.0])
    assert [r.verdict for r in again if r.record["rule"] == "direction"] == ["not reproduced", "not reproduced"]
