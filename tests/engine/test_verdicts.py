import math

import numpy as np
import pytest

from cgnb.engine import verdicts
from cgnb.engine.claims import Band, Claim, Rule


def rule(op=">", threshold=0.0, band=Band(), **kw):
    return Rule("r", "a statistic", op, threshold, "a reason", band=band, **kw)


def test_t_interval_of_the_mean():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    estimate, low, high = verdicts.band(rule(), values)
    half = 2.776 * values.std(ddof=1) / math.sqrt(5)
    assert estimate == 3.0 and low == pytest.approx(3 - half) and high == pytest.approx(3 + half)
    assert verdicts.t_quantile(1) == 12.706 and verdicts.t_quantile(100) == 2.0
    with pytest.raises(ValueError):
        verdicts.t_quantile(0)


@pytest.mark.parametrize("values,verdict", [
    ([1.0, 1.1, 0.9, 1.05, 0.95], "holds"),            # band well above 0
    ([0.1, -0.1, 0.05, 0.0, 0.02], "inconclusive"),     # band contains 0
    ([-1.0, -1.1, -0.9, -1.05, -0.95], "not reproduced"),
])
def test_verdict_follows_the_band(values, verdict):
    assert verdicts.decide(rule(), values).verdict == verdict


@pytest.mark.parametrize("op", [">", "<"])
def test_a_band_that_touches_the_threshold_is_a_tie_not_a_miss(op):
    """Every seed one record apart under a rule "more than one record": the band [1, 1] contains the
    threshold, so the measurement cannot tell (inconclusive); just beyond it, the miss stands."""
    tie = verdicts.decide(rule(op=op, threshold=1.0), [1.0] * 5)
    assert tie.verdict == "inconclusive" and tie.reason == "1 sits on the threshold 1"
    assert verdicts.decide(rule(op=op, threshold=1.0), [0.5, 1.5, 1.0]).reason.endswith("contains the threshold 1")
    off = 0.5 if op == ">" else 1.5
    assert verdicts.decide(rule(op=op, threshold=1.0), [off] * 5).verdict == "not reproduced"


def test_every_verdict_can_change_when_the_effect_is_absent():
    present, absent = [0.3, 0.32, 0.29, 0.31, 0.3], [0.001, -0.002, 0.0, 0.002, -0.001]
    assert verdicts.decide(rule(), present).verdict == "holds"
    assert verdicts.decide(rule(), absent).verdict == "inconclusive"


def test_less_than_rules_mirror():
    r = rule(op="<", threshold=0.1)
    assert verdicts.decide(r, [0.01, 0.02, 0.015]).verdict == "holds"
    assert verdicts.decide(r, [0.5, 0.6, 0.55]).verdict == "not reproduced"


def test_refuted_when_the_opposite_is_established():
    r = rule(op=">", threshold=3.0, refute_at=1.0)   # "several times the dose"; below 1x is the opposite
    assert verdicts.decide(r, [0.16, 0.14, 0.2, 0.13, 0.21]).verdict == "refuted"
    assert verdicts.decide(r, [2.0, 2.2, 1.9]).verdict == "not reproduced"
    literal = rule(op="<=", threshold=1e-6, miss="refuted", band=Band("exact"))
    assert verdicts.decide(literal, 0.333).verdict == "refuted"
    assert verdicts.decide(literal, 0.0).verdict == "holds"


def test_range_band_needs_every_seed():
    r = rule(band=Band("range"))
    assert verdicts.decide(r, [0.1, 0.2, 0.3]).verdict == "holds"
    assert verdicts.decide(r, [0.1, 0.2, -0.01]).verdict == "inconclusive"
    assert verdicts.decide(r, [-0.1, -0.2]).verdict == "not reproduced"


def test_binomial_band_widens_a_single_accuracy():
    r = rule(op=">=", threshold=0.99, band=Band(binomial=1000))
    d = verdicts.decide(r, [0.993])     # Wilson at z = 2 of 0.993 on 1000 examples: [0.9854, 0.9967]
    assert d.verdict == "inconclusive" and (d.low, d.high) == pytest.approx(verdicts.wilson(0.993, 1000))
    assert d.low == pytest.approx(0.98542, abs=1e-5) and d.high == pytest.approx(0.99666, abs=1e-5)
    assert verdicts.decide(rule(op=">=", threshold=0.9, band=Band(binomial=1000)), [0.995]).verdict == "holds"


def test_wilson_interval_keeps_a_width_at_zero_and_one():
    """0 of 3 null worlds crossing cannot establish a rate below 5 %; 0 of 5,000 can."""
    assert verdicts.wilson(0.0, 3) == pytest.approx((0.0, 4 / 7))
    assert verdicts.wilson(1.0, 4000) == pytest.approx((4000 / 4004, 1.0))
    rate = rule(op="<", threshold=0.05, band=Band(binomial=3))
    assert verdicts.decide(rate, [0.0]).verdict == "inconclusive"
    assert verdicts.decide(rule(op="<", threshold=0.05, band=Band(binomial=5000)), [0.0]).verdict == "holds"
    low, high = verdicts.wilson(0.3, 10_000)       # far from 0 and 1 it is the usual +- 2 s.e.
    assert (high - low) / 2 == pytest.approx(2 * math.sqrt(0.3 * 0.7 / 10_000), rel=1e-3)
    with pytest.raises(ValueError, match="n >= 1"):
        verdicts.wilson(0.5, 0)


def test_one_value_without_binomial_is_a_point_estimate():
    d = verdicts.decide(rule(), [0.5])
    assert d.verdict == "holds" and d.low == d.high == 0.5 and d.n == 1


def test_degenerate_runs_support_nothing_unless_the_claim_is_about_them():
    d = verdicts.decide(rule(), [1.0, 1.1, 1.2], degenerate=["", "seed 1 collapsed at step 300"])
    assert d.verdict == "not testable" and "seed 1 collapsed" in d.reason
    assert verdicts.decide(rule(degenerate_ok=True), [1.0, 1.1, 1.2], degenerate=["x"]).verdict == "holds"


def test_a_check_whose_premise_is_absent_is_not_testable_with_its_reason():
    d = verdicts.decide(rule(degenerate_ok=True), [1.0, 1.1, 1.2], not_testable="the effect to compare with is absent")
    assert d.verdict == "not testable" and d.reason.endswith("the effect to compare with is absent")
    assert d.estimate == pytest.approx(1.1)   # still measured
    assert verdicts.decide(rule(), [1.0, 1.1, 1.2], not_testable="  ").verdict == "holds"


@pytest.mark.parametrize("values,error,match", [
    ([1.0, float("nan")], ValueError, "nan"), ([float("inf")], ValueError, "inf"), ([], ValueError, "no values"),
    (["0.5"], TypeError, "real number"), ([True], TypeError, "real number"), (np.array([True, False]), TypeError, "real"),
    ([10 ** 400], TypeError, "real number"), ([object()], TypeError, "real number"),
])
def test_values_that_are_not_finite_numbers_are_defects(values, error, match):
    with pytest.raises(error, match=match):
        verdicts.decide(rule(), values)


def test_rollup_rules():
    universal = Claim("C1.1", "s", rules=(rule(),))
    existential = Claim("C1.1", "s", rules=(rule(),), rollup="any")
    assert verdicts.rollup(universal, ["holds", "holds"]) == "holds"
    assert verdicts.rollup(universal, ["holds", "not reproduced", "inconclusive"]) == "not reproduced"
    assert verdicts.rollup(universal, ["holds", "refuted", "not reproduced"]) == "refuted"
    assert verdicts.rollup(universal, ["holds", "inconclusive"]) == "inconclusive"
    assert verdicts.rollup(universal, ["holds", "not testable"]) == "inconclusive"
    assert verdicts.rollup(universal, ["not testable"] * 2) == "not testable"
    assert verdicts.rollup(universal, []) == "not testable"
    assert verdicts.rollup(existential, ["not reproduced", "holds"]) == "holds"
    assert verdicts.rollup(existential, ["not reproduced", "inconclusive"]) == "not reproduced"
    assert verdicts.rollup(Claim("C1.1", "s", not_testable="no model"), []) == "not testable"
    with pytest.raises(ValueError, match="unknown verdicts"):
        verdicts.rollup(universal, ["fails"])
    assert "every check" in verdicts.rollup_rule(universal) and "any check" in verdicts.rollup_rule(existential)


def test_counts():
    assert verdicts.counts(["holds"] * 3 + ["not reproduced"] * 6) == "not reproduced in 6 of 9 checks, holds in 3"
    assert verdicts.counts(["holds"]) == "holds in 1 of 1 check"
    assert verdicts.counts([]) == "no check"


def test_a_run_states_its_own_number_of_examples_for_a_binomial_band():
    """A rule states a binomial count (e.g. the quick profile's 1,000 test images); a stored run with 10,000
    decides with its own, and a rule whose statistic is not a proportion takes none."""
    r = rule(op="<=", threshold=0.13, band=Band(binomial=1000))
    assert verdicts.decide(r, [0.115]).verdict == "inconclusive"           # Wilson on 1,000: up to 0.137
    assert verdicts.decide(r, [0.115], examples=10_000).verdict == "holds"  # on 10,000: up to 0.122
    assert verdicts.with_examples(r, 10_000).band == Band(binomial=10_000)
    assert verdicts.with_examples(r, None) is r
    with pytest.raises(ValueError, match="no binomial part"):
        verdicts.decide(rule(), [1.0], examples=100)
    with pytest.raises(ValueError, match="int >= 1"):
        verdicts.with_examples(r, 0)
