"""Tests of cgnb.chapters.winsorized_sgd.measures against the paper's formulas."""
import numpy as np
import pytest

from cgnb.chapters.winsorized_sgd import measures

from .problems import curve as curve_
from .problems import fake_result


def test_overfit_is_the_papers_formula():
    train_acc, test_acc = np.array([0.9, 1.0]), np.array([0.8, 0.5])
    np.testing.assert_allclose(measures.overfit(train_acc, test_acc, 0.5),
                               [0.9 - (0.05 + 0.5 * 0.8), 1.0 - (0.05 + 0.5 * 0.5)])
    # clean data: overfit is the generalization gap; all-random labels: train accuracy minus chance
    assert measures.overfit(0.9, 0.7, 0.0) == pytest.approx(0.2)
    assert measures.overfit(1.0, 0.3, 1.0) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="noise"):
        measures.overfit(1.0, 1.0, 1.5)


def test_curves_select_one_variant_and_its_exact_proper_accuracy():
    result = fake_result()
    curve = measures.variant_curves(result, 0.5, c=2)
    assert curve.c == 2 and curve.noise == 0.5
    assert curve.proper == pytest.approx(0.75)
    np.testing.assert_allclose(curve.overfit, [0.1, 0.6, 0.9] - (0.05 + 0.5 * np.array([0.1, 0.5, 0.6])))
    with pytest.raises(ValueError, match="found 2"):
        measures.variant_curves(result, 0.5)
    with pytest.raises(ValueError, match="eval_examples"):
        measures.variant_curves(fake_result(eval_examples=2), 0.5, c=0)


def test_memorization_is_the_largest_smoothed_excess_over_chance():
    curve = curve_(4, 0.5, 0, memorized=0.3)
    chance = (1 - curve.test_acc) / 9
    assert measures.memorization(curve) == pytest.approx(np.max(np.convolve(curve.corrupt_acc - chance,
                                                                            np.ones(3) / 3, "valid")))
    assert measures.memorization(curve_(4, 0.5, 0, memorized=0.0)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="corrupt"):
        measures.memorization(curve_(4, 0.0, 0))
    with pytest.raises(ValueError, match="window"):
        measures.smoothed(np.ones(2), 3)


def test_decline_needs_both_curves_to_turn_down():
    assert measures.decline(curve_(4, 0.5, 0, end=0.5)) > 0.1
    flat = curve_(4, 0.5, 0)
    assert measures.decline(flat) == pytest.approx(0.0, abs=1e-9)
    falling_test_only = measures.VariantCurves(**{**flat.__dict__, "test_acc": flat.test_acc[::-1]})
    assert measures.decline(falling_test_only) == pytest.approx(0.0, abs=1e-9)


def test_mean_overfit_and_the_output_norm_ratio():
    curve = curve_(4, 0.5, 0, norm=20.0)
    assert measures.mean_overfit(curve) == pytest.approx(np.mean(curve.overfit))
    assert measures.output_norm_ratio(curve, curve_(0, 0.5, 0, norm=5.0)) == pytest.approx(4.0)


def test_a_collapse_at_high_noise_is_found_on_the_pristine_examples():
    """At 75 % noise the training accuracy (noisy labels) stays below chance + 0.2 even for a run that learned;
    its pristine examples show that it learned, then fell to a constant output."""
    plain = curve_(0, 0.75, 0)
    collapsed = curve_(4, 0.75, 0, collapse=True)
    assert collapsed.train_acc.max() < 0.3 and collapsed.pristine_acc.max() > 0.8
    lines = measures.health_lines(collapsed, plain, 4000)
    assert len(lines) == 1 and lines[0].startswith("c = 4, 75 %, seed 0: collapsed at step")


def test_health_lines_name_a_collapse_and_a_run_that_never_learned():
    sound, plain = curve_(4, 0.25, 2), curve_(0, 0.25, 2)
    assert measures.health_lines(sound, plain, 4000) == []
    collapsed = measures.health_lines(curve_(4, 0.25, 2, collapse=True), plain, 4000)
    assert len(collapsed) == 1 and collapsed[0].startswith("c = 4, 25 %, seed 2: collapsed at step 1,500")
    weak = curve_(4, 0.25, 2, peak=0.3)
    assert measures.health_lines(weak, plain, 4000)[0].startswith("c = 4, 25 %, seed 2: never learned")
    assert measures.health_lines(curve_(4, 0.25, 2, collapse=True), plain, 4000, collapse=False) == []


def test_spread_and_seed_curves():
    assert measures.spread([0.1, 0.4, 0.2]) == pytest.approx((0.7 / 3, 0.3))
    assert measures.spread([0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError, match="non-empty"):
        measures.spread([])
    runs = measures.seed_curves(fake_result(), 0.5, c=2)
    assert len(runs) == 1 and runs[0].c == 2
    with pytest.raises(ValueError, match="no variant"):
        measures.seed_curves(fake_result(), 0.25)
