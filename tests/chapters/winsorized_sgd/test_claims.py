"""Tests of cgnb.chapters.winsorized_sgd.claims: every claim has rules that can fail."""
from cgnb.chapters.winsorized_sgd import CHAPTER, claims
from cgnb.engine import verdicts


def test_every_claim_has_rules_and_each_rule_can_go_either_way():
    assert [c.id for c in claims.CLAIMS] == ["C5.1", "C5.2", "C5.3", "C5.4", "C5.5"]
    assert CHAPTER.claims == claims.CLAIMS
    assert claims.CLAIMS[0].kind == "implementation"
    for claim in claims.CLAIMS:
        assert claim.rules and claim.short
        for rule in claim.rules:
            on_side = rule.threshold + (1 if rule.op.startswith(">") else -1)
            off_side = rule.threshold - (1 if rule.op.startswith(">") else -1)
            assert verdicts.decide(rule, [on_side]).verdict == "holds", (claim.id, rule.name)
            assert verdicts.decide(rule, [off_side]).verdict == "not reproduced", (claim.id, rule.name)


def test_only_the_claims_about_degenerate_runs_count_them():
    ok = {(c.id, r.name) for c in claims.CLAIMS for r in c.rules if r.degenerate_ok}
    assert ok == {("C5.4", "peaks-declines"), ("C5.5", "outgrows-sgd")}
    rule = claims.CLAIMS[1].rule("not-memorized")
    assert verdicts.decide(rule, [0.0], degenerate=["seed 1 collapsed"]).verdict == "not testable"
