"""Tests of cgnb.chapters.minibatch_sensitivity.claims: which statistic decides, and when a check is not testable."""
import numpy as np

from cgnb.engine import ledger as ledger_module
from cgnb.chapters.minibatch_sensitivity import CHAPTER, claims


def book(tmp_path):
    return ledger_module.Ledger(CHAPTER, directory=tmp_path, show=False)


def test_the_forced_statistics_are_context_and_the_blogs_invariant_is_no_claim():
    assert [c.id for c in claims.CLAIMS] == ["C6.1", "C6.2"]
    deciding = {(c.id, r.name) for c in claims.CLAIMS for r in c.rules if r.decides}
    assert deciding == {("C6.1", "centred"), ("C6.1", "centred-2d"), ("C6.2", "dropout"), ("C6.2", "batch-norm"),
                        ("C6.2", "milder")}
    assert all(r.refute_at is not None for c in claims.CLAIMS for r in c.rules if r.decides)


def table(start, mid, names=("plain",)):
    cell = {(n, "start"): np.asarray(start) for n in names} | {(n, "mid"): np.asarray(mid) for n in names}
    return {row: {column: cell for column in (claims.FULL, claims.TWO_BIASES)}
            for row in (claims.AS_TRAINED, claims.CENTRED)}


def test_decide_agreement_decides_on_the_centred_drop(tmp_path):
    results = claims.decide_agreement(book(tmp_path), table([0.9, 0.91, 0.92], [0.1, 0.12, 0.08]), ["plain"])
    assert {r.record["rule"]: r.verdict for r in results} == {"centred": "holds", "centred-2d": "holds",
                                                             "raw": "holds", "raw-2d": "holds"}
    rising = claims.decide_agreement(book(tmp_path), table([0.01, 0.02, 0.015], [0.2, 0.25, 0.22]), ["plain"])
    assert rising[0].verdict == "refuted" and rising[0].record["decides"] and not rising[2].record["decides"]
    stale = claims.decide_agreement(book(tmp_path), table([0.9, 0.9, 0.9], [0.1, 0.1, 0.1]), ["plain"],
                                    {"plain": ["plain, seed 1: the loss never fell"]})
    assert {r.verdict for r in stale} == {"not testable"}


def rough(plain, frozen, bn, fresh=(60.0, 70.0, 65.0)):
    return {"plain": np.asarray(plain), "dropout": np.asarray(fresh), "dropout, frozen mask": np.asarray(frozen),
            "batch norm": np.asarray(bn)}


def test_milder_is_not_testable_unless_batch_norm_is_rougher_than_plain(tmp_path):
    smoother = claims.decide_roughness(book(tmp_path), rough([8, 9, 10], [4, 5, 3], [2, 3, 2.5]))
    verdicts = {r.record["rule"]: r.verdict for r in smoother}
    assert verdicts == {"dropout": "refuted", "dropout-fresh": "holds", "batch-norm": "refuted",
                        "milder": "not testable"}
    assert "compares nothing" in smoother[-1].record["reason"]
    rougher = claims.decide_roughness(book(tmp_path), rough([2, 3, 2.5], [20, 25, 22], [8, 9, 10]))
    assert {r.record["rule"]: r.verdict for r in rougher} == {"dropout": "holds", "dropout-fresh": "holds",
                                                             "batch-norm": "holds", "milder": "holds"}
