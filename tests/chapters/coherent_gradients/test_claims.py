"""Tests of cgnb.chapters.coherent_gradients.claims: the registry written before the runs."""
from cgnb.chapters.coherent_gradients import CHAPTER, claims
from cgnb.engine import verdicts
from cgnb.engine.claims import Band


def test_every_claim_has_rules_with_reasons():
    assert CHAPTER.claim_ids == ("C4.1", "C4.2", "C4.3", "C4.4", "C4.5", "C4.6")
    for claim in claims.CLAIMS:
        assert claim.rules and claim.short and claim.rollup == "all"
        assert all(rule.why and rule.statistic for rule in claim.rules)


def test_the_proportions_carry_a_binomial_band_and_the_times_a_one_record_tie():
    rules = {(c.id, r.name): r for c in claims.CLAIMS for r in c.rules}
    for key in (("C4.2", "chance"), ("C4.5", "null-quiet"), ("C4.6", "beyond-null")):
        assert rules[key].band.binomial > 0
    assert rules[("C4.1", "fits")].band == Band("seeds")          # the whole training set: no sampling error
    for key in (("C4.3", "reach"), ("C4.4", "sooner")):
        assert rules[key].op == ">" and rules[key].threshold == 1.0
    assert rules[("C4.5", "crossing")].op == "<" and rules[("C4.5", "crossing")].threshold == 0.0


def test_each_rule_can_fail():
    """A rule that cannot fail decides nothing: each gives 'not reproduced' on values on the wrong side."""
    for claim in claims.CLAIMS:
        for rule in claim.rules:
            wrong = rule.threshold + (-1.0 if rule.op in (">", ">=") else 1.0)
            assert verdicts.decide(rule, [wrong, wrong - 0.01, wrong + 0.01]).verdict == "not reproduced", rule.name
