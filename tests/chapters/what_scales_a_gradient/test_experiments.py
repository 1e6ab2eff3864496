"""Tests of cgnb.chapters.what_scales_a_gradient.experiments (the statistics the chapter's claims are decided on)."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from cgnb.engine import nets
from cgnb.chapters.what_scales_a_gradient import experiments, measures, units

from .problems import SIZES, batch, mlp_params


def test_formula_check_gives_float_level_errors_per_loss():
    x, labels = batch(n=6, d=7, k=10)
    out = experiments.formula_check(jax.random.PRNGKey(0), x, labels, [2, 3], width=5, seed=0)
    assert set(out) == {"softmax_ce", "sigmoid_bce", "squared"}
    assert all(errors.shape == (5, 3) and errors.max() < 1e-5 for errors in out.values())


def test_scaling_study_is_exact_with_zero_biases_and_refuses_flipped_patterns():
    x, labels = batch()
    study = experiments.scaling_study(mlp_params(bias=0.0), x, labels, [0.5, 2.0])
    assert study.linear < 1e-5 and study.own < 1e-5
    assert set(study.following) == {"input", "other", "own"} and study.following["own"] > 1e-3
    assert ("error", 0, None, "true") not in study.responses and ("input", 0, None, "true") in study.responses
    with pytest.raises(RuntimeError, match="zero biases"):
        experiments.scaling_study(mlp_params(bias=3.0), x, labels, [0.1, 10.0])


def test_biased_scaling_departs_from_proportional():
    x, labels = batch()
    out = experiments.biased_scaling(mlp_params(bias=0.3), x, labels, [0.1, 1.0, 10.0])
    assert out["flipped"] > 0 and out["departure"] > 1e-3
    zero = experiments.biased_scaling(mlp_params(bias=0.0), x, labels, [0.1, 10.0])
    assert zero["flipped"] == 0 and zero["departure"] < 1e-5


def test_ones_toys_give_the_squared_norm_numbers_and_contradict_the_per_entry_reading():
    toy = experiments.ones_toys()
    assert toy["squared_norm"] < 1e-6
    assert toy["unit_layers"] == pytest.approx(1 / 3, abs=1e-6)      # surviving entries keep factor 1
    assert toy["other_layers"] == pytest.approx(2 / 3 - 4 / 9, abs=1e-6)  # every entry keeps 2/3
    np.testing.assert_allclose(toy["deep_energy"], experiments.expected_energy(7, 2), atol=1e-6)


def test_random_toy_summary_reads_floor_ceiling_and_line():
    toys = {f: units.random_toys(3, 20, f) for f in units.TOY_FAMILIES}
    summary = experiments.random_toy_summary(toys, [0, 3])
    assert summary["floor"] >= 4 / 9 - 1e-5 and summary["positive_ceiling"] <= 2 / 3 + 1e-5
    assert summary["on_line"] < 1e-4
    broken = {f: dict(r, mean_ratio=r["mean_ratio"] * 0.5) for f, r in toys.items()}
    assert experiments.random_toy_summary(broken, [0, 3])["floor"] < 4 / 9


def test_depth_slopes_recover_a_known_rate():
    depths = np.array([2, 4, 6, 8])
    rate, var, width = 0.5, 2.0 / 10, 10          # predicted 1/2 log(0.5 * 10 * 0.2) = 0
    sweep = {"depths": depths, "activation_rate": np.full((1, 2, 4), rate),
             "hidden_var": np.concatenate([np.full((1, 2, 1), np.nan), np.full((1, 2, 3), var)], axis=2),
             "log_example_rms": np.stack([0.3 * depths, -0.1 * depths])[None],
             "log_norm": np.stack([0.2 * depths, 0.2 * depths])[None]}
    out = experiments.depth_slopes(sweep, width)
    np.testing.assert_allclose(out["fitted"], [[0.3, -0.1]])
    np.testing.assert_allclose(out["fitted_batch"], [[0.2, 0.2]])
    np.testing.assert_allclose(out["predicted"], 0.0, atol=1e-12)
    np.testing.assert_allclose(out["literal"], np.log(np.sqrt(2.0) * 0.5))


def test_output_error_cases_and_sigmoid_pairs():
    gaps = experiments.output_error_cases(0, examples=32)
    assert set(gaps) == {"softmax_ce", "sigmoid_bce", "squared"} and max(gaps.values()) < 1e-5
    matched, mismatched = experiments.sigmoid_pairs(np.array([-8.0, 0.0, 8.0]))
    assert matched[0] > 0.99 and mismatched[0] < 1e-3 and matched[1] == pytest.approx(0.5)


def test_with_random_biases_keeps_the_weights():
    params = nets.init(jax.random.PRNGKey(0), SIZES)
    biased = experiments.with_random_biases(params, 1)
    assert all(np.array_equal(a["w"], b["w"]) and np.any(b["b"] != 0) for a, b in zip(params, biased))
    assert measures.FACTORS
