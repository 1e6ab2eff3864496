"""Tests of cgnb.chapters.winsorized_sgd.measures against the paper's formulas."""
import numpy as np
import pytest

from cgnb.chapters.winsorized_sgd import measures

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


def test_chance_agreement_and_memorization_margin():
    curve = measures.variant_curves(fake_result(), 0.5, c=2)          # proper 0.75, test [0.1, 0.5, 0.6]
    np.testing.assert_allclose(measures.chance_agreement(curve), 0.25 * (1 - np.array([0.1, 0.5, 0.6])) / 9)
    expected = np.max(np.array([0.1, 0.6, 0.9]) - 0.75 - 0.25 * (1 - np.array([0.1, 0.5, 0.6])) / 9)
    assert measures.memorization_margin(curve) == pytest.approx(expected)
    # a network at proper accuracy plus exactly the chance agreement memorizes nothing: margin 0
    flat = measures.VariantCurves(**{**curve.__dict__, "train_acc": 0.75 + measures.chance_agreement(curve)})
    assert measures.memorization_margin(flat) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="num_classes"):
        measures.chance_agreement(curve, num_classes=1)


def test_spread_and_seed_curves():
    assert measures.spread([0.1, 0.4, 0.2]) == pytest.approx((0.7 / 3, 0.3))
    assert measures.spread([0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError, match="non-empty"):
        measures.spread([])
    runs = measures.seed_curves(fake_result(), 0.5, c=2)
    assert len(runs) == 1 and runs[0].c == 2
    with pytest.raises(ValueError, match="no variant"):
        measures.seed_curves(fake_result(), 0.25)
