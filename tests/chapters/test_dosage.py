"""Tests of cgnb.chapters.dosage (chapter 1: agreeing features, recognizer networks, reliance)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters import dosage


def test_majority_vote_accuracy_formula():
    assert dosage.majority_vote_accuracy(0.9, 3) == pytest.approx(0.9**3 + 3 * 0.9**2 * 0.1)
    assert dosage.majority_vote_accuracy(0.9, 3) == pytest.approx(0.972)
    assert dosage.majority_vote_accuracy(0.7, 1) == pytest.approx(0.7)
    # brute force over all 2^5 vote patterns
    p = 0.8
    brute = 0.0
    for pattern in range(2**5):
        right = [(pattern >> i) & 1 for i in range(5)]
        prob = np.prod([p if r else 1 - p for r in right])
        brute += prob * (sum(right) >= 3)
    assert dosage.majority_vote_accuracy(p, 5) == pytest.approx(brute)
    with pytest.raises(ValueError, match="odd"):
        dosage.majority_vote_accuracy(0.9, 2)


def test_agreeing_features_statistics():
    x, y = dosage.agreeing_features(jax.random.PRNGKey(0), 40_000, agreement=0.9, n_irrelevant=4)
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == (40_000, 7) and y.shape == (40_000,) and x.dtype == np.float32
    assert set(np.unique(y)) == {-1.0, 1.0} and set(np.unique(x[:, :3])) == {-1.0, 1.0}
    agree = x[:, :3] == y[:, None]
    np.testing.assert_allclose(agree.mean(0), 0.9, atol=0.006)
    # conditional independence given the label: all three agree with probability 0.9^3
    assert agree.all(1).mean() == pytest.approx(0.9**3, abs=0.008)
    # majority vote accuracy matches the formula
    assert np.mean(np.asarray(dosage.majority_vote(jnp.asarray(x[:, :3]))) == y) == pytest.approx(0.972, abs=0.004)
    # irrelevant inputs: standard normal, uncorrelated with the label
    assert abs(np.corrcoef(x[:, 3], y)[0, 1]) < 0.02
    assert x[:, 3:].std() == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="agreement"):
        dosage.agreeing_features(jax.random.PRNGKey(0), 10, agreement=0.4)


def test_shared_and_identity_features_layout():
    task = dosage.shared_and_identity_features(jax.random.PRNGKey(3), (1, 4, 16), 2)
    x, y, group = task["x"], task["y"], task["group"]
    n, g = len(y), task["n_groups"]
    assert g == 6 and n == 2 * (1 + 4 + 16) and x.shape == (n, g + n)
    assert np.all(x.sum(1) == 2)                          # one group feature + one identity feature
    np.testing.assert_array_equal(x[:, g:], np.eye(n))
    np.testing.assert_array_equal(x[:, :g].sum(0), task["group_size"])
    for k in range(g):                                    # a group shares its label
        assert len(set(y[group == k])) == 1


def test_recognizer_network_matches_loop_and_head_start():
    key = jax.random.PRNGKey(0)
    p = dosage.init_recognizers(key, 5, 3, head_start=4.0, readout_head_start=2.0, clones=3)
    base = dosage.init_recognizers(key, 5, 3, clones=3)
    np.testing.assert_allclose(p["a"][0], 4.0 * base["a"][0])
    np.testing.assert_allclose(p["v"][0], 2.0 * base["v"][0])
    np.testing.assert_array_equal(base["a"][1], base["a"][0])
    np.testing.assert_array_equal(base["a"][2], base["a"][0])
    assert not np.allclose(base["a"][3], base["a"][0])
    p = {**p, "b": jax.random.normal(jax.random.PRNGKey(1), (5, 3)), "c": jnp.float32(0.3)}
    x = jax.random.normal(jax.random.PRNGKey(2), (4, 5))
    a, b, v = (np.asarray(p[k], np.float64) for k in "abv")
    expected = np.array([sum(v[f, j] * max(a[f, j] * xi[f] + b[f, j], 0.0) for f in range(5) for j in range(3)) + 0.3
                         for xi in np.asarray(x, np.float64)])
    np.testing.assert_allclose(dosage.apply_recognizers(p, x), expected, rtol=1e-5)
    np.testing.assert_allclose(dosage.recognizer_norms(p), np.sqrt((a**2 + b**2 + v**2).sum(1)), rtol=1e-5)


def test_flip_reliance_is_the_weight_of_a_linear_model():
    x, _ = dosage.agreeing_features(jax.random.PRNGKey(0), 50, n_irrelevant=1)
    params = {"w": jnp.array([2.0, -0.5, 0.25, 3.0]), "b": jnp.float32(1.0)}
    np.testing.assert_allclose(dosage.flip_reliance(dosage.apply_linear, params, x, range(3)), [2.0, -0.5, 0.25], rtol=1e-6)


def test_dose_ratio():
    dose = np.zeros((2, 3, 5))
    dose[:, :, 0], dose[:, :, 1], dose[:, :, 2] = 3.0, 1.0, 2.0
    np.testing.assert_allclose(dosage.dose_ratio(dose), [2.0, 2.0])


def test_figures_draw():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(0)
    steps = np.array([10, 20, 30])
    dose = {"k=1": rng.uniform(0.1, 1, (2, 3, 5)), "k=8": rng.uniform(0.1, 1, (2, 3, 5))}
    acc = {"k=1": rng.uniform(0.9, 0.97, (2, 3)), "k=8": rng.uniform(0.9, 0.97, (2, 3))}
    figs = [dosage.plot_head_start_runs(steps, dose, acc, rng.normal(size=(2, 3, 3)), 0.97, 0.9),
            dosage.plot_head_start_effects([1.0, 8.0], {"k=1": np.ones(2), "k=8": 3 * np.ones(2),
                                                        "k=8, input weights only": 0.5 * np.ones(2)},
                                           np.ones(2), {"no weight decay": {1.0: np.array([10.0, 20]), 8.0: np.array([30.0, np.nan])}}),
            dosage.plot_sharing(np.array([1, 4]), rng.uniform(1, 2, (2, 2, 2)), rng.uniform(0.1, 1, (2, 2, 2)), steps,
                                rng.uniform(1, 2, (2, 3, 2 + 5)), 2, np.array([1, 4]), 0.01)]
    figs.append(dosage.plot_weight_decay_sweep([0.0, 0.1], rng.uniform(0.5, 9, (2, 3)), rng.uniform(0.9, 0.97, (2, 3)),
                                               0.97, 0.9, 8.0))
    for fig in figs:
        assert fig.axes
        plt.close(fig)


def test_weight_decay_sweep_figure_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        dosage.plot_weight_decay_sweep([0.0, 0.1], np.ones((3, 2)), np.ones((3, 2)), 0.97, 0.9, 8.0)
