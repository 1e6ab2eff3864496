"""Tests of cgnb.chapters.gradient_dosage.tasks (agreeing features, majority vote, shared and identity features)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters.gradient_dosage import tasks


def test_majority_vote_accuracy_formula():
    assert tasks.majority_vote_accuracy(0.9, 3) == pytest.approx(0.9**3 + 3 * 0.9**2 * 0.1)
    assert tasks.majority_vote_accuracy(0.9, 3) == pytest.approx(0.972)
    assert tasks.majority_vote_accuracy(0.7, 1) == pytest.approx(0.7)
    # brute force over all 2^5 vote patterns
    p = 0.8
    brute = 0.0
    for pattern in range(2**5):
        right = [(pattern >> i) & 1 for i in range(5)]
        prob = np.prod([p if r else 1 - p for r in right])
        brute += prob * (sum(right) >= 3)
    assert tasks.majority_vote_accuracy(p, 5) == pytest.approx(brute)
    with pytest.raises(ValueError, match="odd"):
        tasks.majority_vote_accuracy(0.9, 2)


def test_agreeing_features_statistics():
    x, y = tasks.agreeing_features(jax.random.PRNGKey(0), 40_000, agreement=0.9, n_irrelevant=4)
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == (40_000, 7) and y.shape == (40_000,) and x.dtype == np.float32
    assert set(np.unique(y)) == {-1.0, 1.0} and set(np.unique(x[:, :3])) == {-1.0, 1.0}
    agree = x[:, :3] == y[:, None]
    np.testing.assert_allclose(agree.mean(0), 0.9, atol=0.006)
    # conditional independence given the label: all three agree with probability 0.9^3
    assert agree.all(1).mean() == pytest.approx(0.9**3, abs=0.008)
    # majority vote accuracy matches the formula
    assert np.mean(np.asarray(tasks.majority_vote(jnp.asarray(x[:, :3]))) == y) == pytest.approx(0.972, abs=0.004)
    # irrelevant inputs: standard normal, uncorrelated with the label
    assert abs(np.corrcoef(x[:, 3], y)[0, 1]) < 0.02
    assert x[:, 3:].std() == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="agreement"):
        tasks.agreeing_features(jax.random.PRNGKey(0), 10, agreement=0.4)


def test_shared_and_identity_features_layout():
    task = tasks.shared_and_identity_features(jax.random.PRNGKey(3), (1, 4, 16), 2)
    x, y, group = task["x"], task["y"], task["group"]
    n, g = len(y), task["n_groups"]
    assert g == 6 and n == 2 * (1 + 4 + 16) and x.shape == (n, g + n)
    assert np.all(x.sum(1) == 2)                          # one group feature + one identity feature
    np.testing.assert_array_equal(x[:, g:], np.eye(n))
    np.testing.assert_array_equal(x[:, :g].sum(0), task["group_size"])
    for k in range(g):                                    # a group shares its label
        assert len(set(y[group == k])) == 1
