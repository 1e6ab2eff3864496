"""Tests of cgnb.chapters.coherent_gradients.measures (Figure 1 and 2 measures of a label-noise sweep)."""
import numpy as np
import pytest

from cgnb.chapters.coherent_gradients import measures

from .sweeps import fake_sweep


def test_learned_fraction_matches_a_loop():
    rng = np.random.default_rng(0)
    steps = np.arange(0, 50, 10)
    first = rng.choice(np.r_[-1, steps], size=(3, 40))
    mask = rng.random((3, 40)) < 0.4
    mask[2] = False  # an empty group gives NaN
    got = measures.learned_fraction(first, mask, steps)
    for v in range(3):
        for r, s in enumerate(steps):
            members = first[v][mask[v]]
            want = np.mean((members >= 0) & (members <= s)) if len(members) else np.nan
            np.testing.assert_allclose(got[v, r], want)
    assert np.isnan(got[2]).all()


def test_learned_fraction_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="both be"):
        measures.learned_fraction(np.zeros((2, 3)), np.zeros((2, 4), bool), np.arange(3))


def test_first_learned_median_counts_never_learned_as_infinite():
    first = np.array([[0, 10, 20, -1, -1, 40], [5, 5, -1, -1, -1, -1]])
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], bool)
    got = measures.first_learned_median(first, mask)
    assert got[0] == 10 and got[1] == np.inf
    assert np.isnan(measures.first_learned_median(first, np.zeros_like(mask))).all()


def test_early_loss_slope():
    steps = np.array([0, 50, 100])
    loss = np.array([[2.3, 1.3, 0.3], [2.3, 2.2, 2.1]])
    np.testing.assert_allclose(measures.early_loss_slope(loss, steps, 100), [0.02, 0.002])
    np.testing.assert_allclose(measures.early_loss_slope(loss, steps, 50), [0.02, 0.002])
    with pytest.raises(ValueError, match="must contain"):
        measures.early_loss_slope(loss, steps, 70)


def test_order_margin():
    assert measures.order_margin([1, 2, 4]) == 1
    assert measures.order_margin([4, 2, 1], increasing=False) == 1
    assert measures.order_margin([1, 3, 2]) == -1  # a pair in the wrong order
    assert measures.order_margin([1, 2, 2]) == 0
    assert measures.order_margin([1, np.inf, np.inf]) == 0  # two 'never's tie
    assert measures.order_margin([1, np.inf]) == np.inf
    with pytest.raises(ValueError):
        measures.order_margin([1])


def test_pristine_share_and_mean_from():
    pristine = np.array([[1, 1, 0, 0, 1], [0, 0, 0, 1, 1]], bool)
    np.testing.assert_allclose(measures.pristine_share(pristine, 4), [0.5, 0.25])
    steps = np.arange(0, 110, 10)
    values = np.tile(np.arange(11.0), (3, 1))
    # row 0 from step 30 (values 3..10, mean 6.5), row 1 from 95 (value 10), row 2 never
    got = measures.mean_from(values, steps, np.array([30, 95, np.inf]))
    np.testing.assert_allclose(got[:2], [6.5, 10.0])
    assert np.isnan(got[2])
    null = np.stack([values, 2 * values], axis=-1)  # (S, R, K)
    np.testing.assert_allclose(measures.mean_from(null, steps, np.array([30, 95, 0]))[:2], [[6.5, 13], [10, 20]])
    with pytest.raises(ValueError, match="start"):
        measures.mean_from(values, steps, np.array([0, 0]))


def test_alpha_summary_starts_where_the_pristine_examples_are_fitted():
    result, _, masks = fake_sweep(n_records=11)
    fitted_at = np.array([[0.5] * 11, [0.5] * 11, [0.5] * 11, [0.5] * 11])
    fitted_at[2, 4:] = 1.0   # variant 2 (noise 0.75, seed 0) fitted from step 4
    fitted_at[3, 9:] = 1.0   # variant 3 from step 9
    result.records["pristine_acc"] = fitted_at
    out = measures.alpha_summary(result, 0.75, 0.999)
    rows = [2, 3]
    alpha_p, alpha_c = result.records["alpha_p"][rows], result.records["alpha_c"][rows]
    np.testing.assert_allclose(out["share"], masks[rows, 0].mean(-1))
    np.testing.assert_allclose(out["start"], alpha_p[:, 0])
    np.testing.assert_allclose(out["null_start"], result.records["null_alpha_p"][rows][:, 0, :])
    np.testing.assert_array_equal(out["fitted"], [4, 9])
    gap = alpha_p - alpha_c
    np.testing.assert_allclose(out["gap"], [gap[0, 4:].mean(), gap[1, 9:].mean()])
    null = result.records["null_alpha_p"][rows] - result.records["null_alpha_c"][rows]
    np.testing.assert_allclose(out["null_gap"], np.stack([null[0, 4:].mean(0), null[1, 9:].mean(0)]))
    assert out["null_gap"].shape == (2, 3)
    unfitted = measures.alpha_summary(result, 0.25, 0.999)  # pristine accuracy never reaches 0.999
    assert np.isnan(unfitted["fitted"]).all() and np.isnan(unfitted["gap"]).all()
    tail = measures.alpha_summary(result, 0.25, 0.999, last_fraction=0.2)  # then the last fifth: steps 8..10
    np.testing.assert_array_equal(tail["window"], [8, 8])
    gap = result.records["alpha_p"][[0, 1]] - result.records["alpha_c"][[0, 1]]
    np.testing.assert_allclose(tail["gap"], gap[:, 8:].mean(1))
    np.testing.assert_array_equal(measures.alpha_summary(result, 0.75, 0.999, last_fraction=0.2)["window"], [4, 9])


def test_separation_counts_never_reaching_as_a_tie():
    inf = np.inf
    assert measures.separation(np.array([[10, 20], [30, 40], [50, 60]])) == 10
    assert measures.separation(np.array([[10, 20], [15, 40]])) == -5  # overlapping seeds
    assert measures.separation(np.array([[10.0], [inf], [inf]])) == 0  # the noisy levels never get there
    assert measures.separation(np.array([[10.0], [20.0], [inf]])) == 10
    assert measures.separation(np.array([[10.0], [np.nan], [np.nan]])) == 0  # NaN: never reached, as inf
    with pytest.raises(ValueError):
        measures.separation(np.array([1.0, 2.0]))


def test_m_coherence_scales_by_the_sample_size():
    result, _, _ = fake_sweep()
    result.records["coherence"] = np.full((4, 6), 0.01)
    np.testing.assert_allclose(measures.m_coherence(result, 0.25), 0.12)  # m = 12


def test_by_noise_selects_seeds_and_explains_a_missing_level():
    result, _, _ = fake_sweep()
    assert measures.by_noise(result, "dot_p", 0.75).shape == (2, 6)
    assert measures.by_noise(result, "null_dot_p", 0.25).shape == (2, 6, 3)
    assert measures.noise_levels(result) == [0.25, 0.75]
    with pytest.raises(ValueError, match="noise levels"):
        measures.by_noise(result, "dot_p", 0.5)


def test_mean_steps_to_reach_is_the_area_above_the_curve():
    steps = np.linspace(0, 100, 11)
    linear = steps / 100  # a(t) = t / T reaches level l at t = 100 l: the mean over levels is 50
    np.testing.assert_allclose(measures.mean_steps_to_reach(linear, steps), 50.0)
    jump = np.where(steps >= 30, 1.0, 0.2)  # 0.2 until the record at 30, then 1: trapezoid area 16 + 4
    np.testing.assert_allclose(measures.mean_steps_to_reach(jump, steps), 20.0)
    slower = np.clip(steps / 150, 0, 1)
    assert measures.mean_steps_to_reach(slower, steps) > measures.mean_steps_to_reach(linear, steps)
    with pytest.raises(ValueError):
        measures.mean_steps_to_reach(linear[:3], steps)
