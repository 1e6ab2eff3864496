"""Tests of cgnb.chapters.gradient_starvation.tasks (the paper's two moons and the test sets without x1)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters.gradient_starvation import tasks


def test_two_moons_matches_sklearn_construction():
    x, y = tasks.two_moons(jax.random.PRNGKey(0), 301, noise=0.0)
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == (301, 2) and (y == -1).sum() == 150 and (y == 1).sum() == 151
    sklearn = pytest.importorskip("sklearn.datasets")
    ref_x, ref_y = sklearn.make_moons(n_samples=301, noise=0.0, shuffle=False)
    ours = sorted(map(tuple, np.round(np.c_[x, y], 5)))
    theirs = sorted(map(tuple, np.round(np.c_[ref_x, 2 * ref_y - 1], 5)))
    np.testing.assert_allclose(np.array(ours), np.array(theirs), atol=1e-5)


def test_two_moons_deterministic_and_noisy():
    a = tasks.two_moons(jax.random.PRNGKey(5), 300, 0.1)
    b = tasks.two_moons(jax.random.PRNGKey(5), 300, 0.1)
    c = tasks.two_moons(jax.random.PRNGKey(6), 300, 0.1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], c[0])


def _paper_moons_reference(x_moons, y_pm1, margin):
    """The transform of Pezeshki et al.'s code (numpy), applied to given raw moons."""
    x = np.array(x_moons, dtype=np.float64)
    n = len(x)
    x = x - np.concatenate([0.5 * np.ones((n, 1)), y_pm1[:, None] * 0.3], 1)
    x[:, 1] = x[:, 1] - x[:, 1].mean()
    x[:, 1] = x[:, 1] * np.sign(-x[:, 1] * y_pm1)
    x[:, 1] = x[:, 1] - y_pm1 * margin
    return x[:, ::-1]


@pytest.mark.parametrize("margin", [0.1, -0.1])
def test_starvation_moons_is_the_paper_transform(margin):
    key = jax.random.PRNGKey(2)
    raw_x, raw_y = tasks.two_moons(key, 300, 0.1)
    x, y = tasks.starvation_moons(key, 300, 0.1, margin)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(raw_y))
    np.testing.assert_allclose(np.asarray(x), _paper_moons_reference(raw_x, np.asarray(raw_y), margin), atol=1e-5)


def test_starvation_moons_separable_with_margin():
    for seed in range(5):
        x, y = tasks.starvation_moons(jax.random.PRNGKey(seed), 300, 0.1, 0.1)
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == (300, 2)
        # x1 separates the classes with a gap of at least 2 * margin around 0
        assert x[y > 0, 0].max() <= -0.1 + 1e-6 and x[y < 0, 0].min() >= 0.1 - 1e-6
        # x2 alone does not separate them
        assert x[y > 0, 1].max() > x[y < 0, 1].min()


def test_neutralize_and_permute_feature():
    x, y = tasks.starvation_moons(jax.random.PRNGKey(0), 2000, 0.1, 0.1)
    xn = np.asarray(tasks.neutralize_feature(x, y, 0))
    y = np.asarray(y)
    assert abs(xn[y > 0, 0].mean()) < 1e-5 and abs(xn[y < 0, 0].mean()) < 1e-5
    np.testing.assert_allclose(xn[:, 1], np.asarray(x)[:, 1])
    # within a class the points keep their relative positions (a pure shift)
    np.testing.assert_allclose(np.diff(xn[y > 0, 0]), np.diff(np.asarray(x)[y > 0, 0]), atol=1e-5)
    assert np.mean(np.sign(-xn[:, 0]) == y) < 0.65          # the linear read-out is close to a coin
    xp = np.asarray(tasks.permute_feature(jax.random.PRNGKey(1), x, 0))
    np.testing.assert_allclose(np.sort(xp[:, 0]), np.sort(np.asarray(x)[:, 0]))
    assert abs(np.mean(np.sign(-xp[:, 0]) == y) - 0.5) < 0.04
