import pytest

from cgnb.engine.claims import Band, Claim, Rule


def rule(**kw):
    base = dict(name="fits", statistic="final training accuracy", op=">=", threshold=0.99, why="the paper's level")
    return Rule(**{**base, **kw})


def test_a_rule_knows_its_side_of_the_threshold():
    r = rule()
    assert r.beyond(0.995, 0.99) and r.beyond(0.99, 0.99) and not r.beyond(0.98, 0.99)
    assert rule(op="<", threshold=0.1).beyond(0.05, 0.1) and not rule(op="<", threshold=0.1).beyond(0.1, 0.1)
    assert r.expected() == ">= 0.99"


@pytest.mark.parametrize("kw,match", [
    (dict(op="=="), "op must be one of"),
    (dict(threshold=float("nan")), "threshold must be a finite number"),
    (dict(threshold=float("inf")), "threshold must be a finite number"),
    (dict(threshold="0.5"), "threshold must be a finite number"),
    (dict(threshold=True), "threshold must be a finite number"),
    (dict(refute_at=1.0), "refute_at=1.0 lies on the side where the claim holds"),
    (dict(refute_at=float("inf")), "refute_at must be a finite number"),
    (dict(miss="holds"), "miss is"),
    (dict(name="Bad Name"), "a rule's name"),
    (dict(why=" "), "needs a why"),
])
def test_malformed_rules_are_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        rule(**kw)


def test_band_validation_and_words():
    assert "t-interval" in Band().describe() and "binomial" in Band(binomial=1000).describe()
    assert "every seed" in Band("range").describe()
    with pytest.raises(ValueError, match="kind is one of"):
        Band("worst")
    with pytest.raises(ValueError, match="number of examples"):
        Band(binomial=-1)


def test_claim_validation_and_rule_lookup():
    c = Claim("C4.1", "every noise level fits", rules=(rule(), rule(name="other")))
    assert c.rule("other").name == "other"
    with pytest.raises(KeyError, match="has 2 rules"):
        c.rule()
    with pytest.raises(KeyError, match="no rule 'x'"):
        c.rule("x")
    assert Claim("C1.2a", "weak form", rules=[rule()]).rule().name == "fits"
    for kw, match in [(dict(id="4.1"), "claim id"), (dict(statement=""), "statement"),
                      (dict(rules=(rule(), rule())), "share a name"), (dict(rollup="most"), "rollup"),
                      (dict(kind="theorem"), "kind"), (dict(rules=(rule(),), not_testable="no model"), "not testable")]:
        with pytest.raises(ValueError, match=match):
            Claim(**{"id": "C4.1", "statement": "s", **kw})
