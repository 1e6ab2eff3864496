"""Tests of cgnb.chapters.coherent_gradients.measures (what the figures and claims measure in a label-noise sweep)."""
import numpy as np
import pytest

from cgnb.chapters.coherent_gradients import measures
from cgnb.engine import stats

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


def test_record_index_counts_on_the_recording_grid():
    steps = np.array([0, 10, 20, 50, 100])
    np.testing.assert_array_equal(measures.record_index(steps, [0, 20, 100, np.nan, np.inf]), [0, 2, 4, 5, 5])
    with pytest.raises(ValueError, match="not record steps"):
        measures.record_index(steps, [30])


def test_reach_records_and_table():
    result, _, _ = fake_sweep(n_records=6)
    result.records["train_acc"] = np.array([[0, .2, .5, .9, 1, 1], [0, .5, .9, 1, 1, 1],
                                            [0, .1, .1, .2, .5, .6], [0, 0, .1, .5, .9, .95]])
    reach = measures.reach_records(result, [0.25, 0.75], 0.9)   # noise 0.25: variants 0, 1; 0.75: 2, 3
    np.testing.assert_array_equal(reach, [[3, 2], [6, 4]])        # variant 2 never: one past the last record
    header, rows = measures.reach_table(result, [0.25, 0.75], [0.5, 0.9])
    assert header == ["accuracy", "25% noise", "75% noise"]
    assert rows[0] == ["0.50", "2 [1, 2]", "4 [3, 4]"] and rows[1][2] == "4 [4, 4] (1 never)"


def test_fitted_window_opens_with_the_pristine_and_closes_with_the_corrupt_examples():
    result, _, _ = fake_sweep(n_records=8)
    result.records["pristine_acc"] = np.tile([0, .5, .995, 1, 1, 1, 1, 1], (4, 1)).astype(float)
    result.records["corrupt_acc"] = np.tile([0, 0, .1, .5, .8, .99, 1, 1], (4, 1)).astype(float)
    result.records["pristine_acc"][3] = 0.5   # variant 3 (noise 0.75, seed 1): never fitted
    result.records["corrupt_acc"][2] = 0.5    # variant 2: corrupt never fitted, the window runs to the end
    start, end = measures.fitted_window(result, 0.25, 0.99)
    np.testing.assert_array_equal(start, [2, 2]) and np.testing.assert_array_equal(end, [5, 5])
    start, end = measures.fitted_window(result, 0.75, 0.99)
    assert start[0] == 2 and end[0] == 7 and np.isnan(start[1]) and np.isnan(end[1])


def test_window_means_in_blocks():
    values = np.arange(10.0)
    np.testing.assert_allclose(measures.window_means(values, 2, 7), [4.5])
    np.testing.assert_allclose(measures.window_means(values, 2, 7, blocks=3), [2.5, 4.5, 6.5])
    np.testing.assert_allclose(measures.window_means(values, 4, 5, blocks=5), [4, 5])  # fewer records than blocks
    np.testing.assert_allclose(measures.window_means(np.stack([values, -values]), 0, 1), [[0.5], [-0.5]])
    with pytest.raises(ValueError, match="start <= end"):
        measures.window_means(values, 5, 2)


def test_null_alpha_gaps_from_contributions_and_from_recorded_worlds():
    result, grads, masks = fake_sweep()
    got = measures.null_alpha_gaps(result, 0.25, worlds=7, rng_seed=3)   # (S, R, K) from the contributions
    assert got.shape == (2, 6, 7)
    for s, v in enumerate(result.index(noise=0.25)):
        nulls = stats.null_masks(np.random.default_rng([3, int(result.seed[v])]), result.pristine[v], 7)
        for r in range(6):
            g = grads[v, r].sum(0)
            alpha_p = np.array([g @ grads[v, r][m].sum(0) / (g @ g) for m in nulls])
            np.testing.assert_allclose(got[s, r], alpha_p - (1 - alpha_p), rtol=1e-6, atol=1e-9)
    del result.records["contribution"]
    recorded = measures.null_alpha_gaps(result, 0.25, worlds=7)   # the sweep's own null worlds
    want = result.records["null_alpha_p"][:2] - result.records["null_alpha_c"][:2]
    np.testing.assert_allclose(recorded, want)


def test_m_coherence_scales_by_the_sample_size():
    result, _, _ = fake_sweep()
    result.records["coherence"] = np.full((4, 6), 0.01)
    np.testing.assert_allclose(measures.m_coherence(result, 0.25), 0.12)  # m = 12


def test_by_noise_selects_seeds_and_explains_a_missing_level():
    result, _, _ = fake_sweep()
    assert measures.by_noise(result, "dot_p", 0.75).shape == (2, 6)
    assert measures.by_noise(result, "null_dot_p", 0.25).shape == (2, 6, 3)
    assert measures.noise_levels(result) == [0.25, 0.75]
    assert measures.has_level(result, 0.75) and not measures.has_level(result, 0.5)
    with pytest.raises(ValueError, match="noise levels"):
        measures.by_noise(result, "dot_p", 0.5)


def test_largest_jump_finds_a_spike():
    result, _, _ = fake_sweep(n_records=5)
    result.records["train_loss"] = np.array([[2, 1, .5, .4, .3]] * 2 + [[2, 1, 1.5, .4, .3], [2, 1, 1.1, .4, .3]])
    step, before, after = measures.largest_jump(result, "train_loss", 0.75)
    assert step == 2 and before == pytest.approx(1.0) and after == pytest.approx(1.3)


def test_degenerate_names_collapsed_runs_and_runs_that_never_learned():
    result, _, _ = fake_sweep(n_records=6)
    result.noise = np.array([0.0, 0.0, 0.5, 0.5])                      # seeds 0, 1 at each level
    sound = np.array([0.1, 0.5, 0.8, 0.95, 0.99, 1.0])
    result.records.update(train_acc=np.stack([sound, sound, sound, sound]),
                          train_loss=np.stack([np.linspace(2.3, 0.1, 6)] * 4),
                          pristine_acc=np.stack([sound, sound, sound, np.full(6, 0.12)]))
    assert measures.degenerate(result, 0.0) == []
    lines = measures.degenerate(result, 0.5)
    assert len(lines) == 1 and lines[0].startswith("50% noise, seed 1: never learned")
    result.records["train_acc"][2, 3:] = 0.1
    result.records["train_loss"][2, 3:] = np.log(10)
    assert "seed 0: collapsed at step 3" in measures.degenerate(result, 0.5)[0]
