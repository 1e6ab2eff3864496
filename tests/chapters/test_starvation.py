"""Tests of cgnb.chapters.starvation (chapter 3: the paper's two moons, PyTorch-style MLP, SD, grid)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.chapters import starvation


def test_two_moons_matches_sklearn_construction():
    x, y = starvation.two_moons(jax.random.PRNGKey(0), 301, noise=0.0)
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == (301, 2) and (y == -1).sum() == 150 and (y == 1).sum() == 151
    sklearn = pytest.importorskip("sklearn.datasets")
    ref_x, ref_y = sklearn.make_moons(n_samples=301, noise=0.0, shuffle=False)
    ours = sorted(map(tuple, np.round(np.c_[x, y], 5)))
    theirs = sorted(map(tuple, np.round(np.c_[ref_x, 2 * ref_y - 1], 5)))
    np.testing.assert_allclose(np.array(ours), np.array(theirs), atol=1e-5)


def test_two_moons_deterministic_and_noisy():
    a = starvation.two_moons(jax.random.PRNGKey(5), 300, 0.1)
    b = starvation.two_moons(jax.random.PRNGKey(5), 300, 0.1)
    c = starvation.two_moons(jax.random.PRNGKey(6), 300, 0.1)
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
    raw_x, raw_y = starvation.two_moons(key, 300, 0.1)
    x, y = starvation.starvation_moons(key, 300, 0.1, margin)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(raw_y))
    np.testing.assert_allclose(np.asarray(x), _paper_moons_reference(raw_x, np.asarray(raw_y), margin), atol=1e-5)


def test_starvation_moons_separable_with_margin():
    for seed in range(5):
        x, y = starvation.starvation_moons(jax.random.PRNGKey(seed), 300, 0.1, 0.1)
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == (300, 2)
        # x1 separates the classes with a gap of at least 2 * margin around 0
        assert x[y > 0, 0].max() <= -0.1 + 1e-6 and x[y < 0, 0].min() >= 0.1 - 1e-6
        # x2 alone does not separate them
        assert x[y > 0, 1].max() > x[y < 0, 1].min()


def test_neutralize_and_permute_feature():
    x, y = starvation.starvation_moons(jax.random.PRNGKey(0), 2000, 0.1, 0.1)
    xn = np.asarray(starvation.neutralize_feature(x, y, 0))
    y = np.asarray(y)
    assert abs(xn[y > 0, 0].mean()) < 1e-5 and abs(xn[y < 0, 0].mean()) < 1e-5
    np.testing.assert_allclose(xn[:, 1], np.asarray(x)[:, 1])
    # within a class the points keep their relative positions (a pure shift)
    np.testing.assert_allclose(np.diff(xn[y > 0, 0]), np.diff(np.asarray(x)[y > 0, 0]), atol=1e-5)
    assert np.mean(np.sign(-xn[:, 0]) == y) < 0.65          # the linear read-out is close to a coin
    xp = np.asarray(starvation.permute_feature(jax.random.PRNGKey(1), x, 0))
    np.testing.assert_allclose(np.sort(xp[:, 0]), np.sort(np.asarray(x)[:, 0]))
    assert abs(np.mean(np.sign(-xp[:, 0]) == y) - 0.5) < 0.04


def test_torch_mlp_init_bounds():
    p = starvation.init_torch_mlp(jax.random.PRNGKey(0), (2, 500, 1))
    assert p[0]["w"].shape == (2, 500) and p[1]["w"].shape == (500, 1)
    for layer, fan_in in zip(p, (2, 500)):
        for leaf in (layer["w"], layer["b"]):
            assert float(jnp.max(jnp.abs(leaf))) <= 1 / np.sqrt(fan_in)
        assert float(jnp.max(jnp.abs(layer["w"]))) > 0.9 / np.sqrt(fan_in)    # uniform, fills the range
    assert starvation.apply_mlp(p, jnp.ones((7, 2))).shape == (7,)


def test_spectral_decoupling_value():
    logits = jnp.array([2.0, -1.0, 0.0, 3.0])
    assert float(starvation.spectral_decoupling(logits, 0.003)) == pytest.approx(0.003 * (4 + 1 + 0 + 9) / 4)


def test_grid_points_layout():
    axis, points = starvation.grid_points(1.0, 3)
    np.testing.assert_allclose(axis, [-1, 0, 1])
    np.testing.assert_allclose(points[1], [0.0, -1.0])         # row-major in x2: second point moves along x1
    logits = np.asarray(points[:, 0] + 10 * points[:, 1]).reshape(3, 3)
    assert logits[2, 0] == pytest.approx(-1 + 10)               # row = x2 index, column = x1 index


def test_moons_task_sets_and_accuracies():
    data = starvation.moons_task(3, 40, 60, 0.1, 0.1)
    x, y = starvation.starvation_moons(jax.random.split(jax.random.fold_in(jax.random.PRNGKey(3), 1), 3)[0], 40, 0.1, 0.1)
    np.testing.assert_array_equal(data["x"], x)
    assert data["x_test"].shape == data["x_neutral"].shape == data["x_permuted"].shape == (60, 2)
    np.testing.assert_array_equal(data["x_neutral"][:, 1], data["x_test"][:, 1])
    params = starvation.init_torch_mlp(jax.random.PRNGKey(0), (2, 8, 1))
    acc = starvation.accuracies(params, data)
    assert set(acc) == {"train", "test", "neutralized", "x1 shuffled"}
    logits = starvation.apply_mlp(params, data["x_test"])
    assert float(acc["test"]) == pytest.approx(float(jnp.mean(jnp.sign(logits) == data["y_test"])))


def test_figures_draw():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from types import SimpleNamespace
    data = starvation.moons_task(0, 30, 30, 0.1, 0.1)
    params = jax.vmap(lambda k: starvation.init_torch_mlp(k, (2, 4, 1)))(jax.random.split(jax.random.PRNGKey(0), 2))
    neutral = {"plain": np.array([0.5, 0.6]), "SD": np.array([0.7, 0.8])}
    hist = SimpleNamespace(steps=np.tile([10, 20], (2, 1)), tracked=np.full((2, 2), 0.6), dose=np.ones((2, 2, 2)))
    for fig in (starvation.plot_task_sets(data), starvation.plot_boundaries({"plain": params, "SD": params}, data, neutral, n=10),
                starvation.plot_reliance(neutral, {"plain": hist, "SD": hist}, 20, 0.55),
                starvation.plot_dose_per_input({"plain": hist, "SD": hist})):
        assert fig.axes
        plt.close(fig)


# ----------------------------------------------------------------------------- training

def test_train_with_sd_records_dose_and_loss_of_the_sd_objective():
    key = jax.random.PRNGKey(0)
    params = starvation.init_torch_mlp(key, (2, 16, 1))
    x, y = starvation.starvation_moons(key, 32, 0.1, 0.1)
    coef = 0.5

    def objective(p):
        logits = starvation.apply_mlp(p, x)
        return jnp.mean(jnp.log1p(jnp.exp(-y * logits))) + coef * jnp.mean(logits**2)

    grads = jax.grad(objective)(params)
    expected = np.sum(np.asarray(grads[0]["w"]) ** 2, axis=1)
    _, hist = starvation.train_with_sd(params, starvation.apply_mlp, x, y, optimizer=optax.sgd(0.0), steps=3,
                                       record_every=1, sd_coef=coef)
    np.testing.assert_allclose(hist.dose, np.tile(expected, (3, 1)), rtol=1e-5)   # lr 0: same gradient each step
    np.testing.assert_allclose(hist.loss, float(objective(params)), rtol=1e-6)
    np.testing.assert_array_equal(hist.steps, [1, 2, 3])


def test_train_with_sd_rejects_bad_input():
    x, y = starvation.starvation_moons(jax.random.PRNGKey(0), 16)
    p = starvation.init_torch_mlp(jax.random.PRNGKey(0), (2, 4, 1))
    with pytest.raises(ValueError, match="multiple"):
        starvation.train_with_sd(p, starvation.apply_mlp, x, y, optimizer=optax.sgd(0.1), steps=10, record_every=3)
    with pytest.raises(ValueError, match=r"x \(N, \.\.\.\) and y \(N, \.\.\.\) of the same length"):
        starvation.train_with_sd(p, starvation.apply_mlp, x, y[:5], optimizer=optax.sgd(0.1), steps=10, record_every=5)


def test_moons_run_vmaps_and_dropout_is_reproducible():
    run = functools.partial(starvation.moons_run, n_train=64, n_test=64, noise=0.1, margin=0.1, hidden=8, lr=1e-2,
                            momentum=0.9, n_steps=20, chunks=4)
    params, hist = jax.jit(jax.vmap(jax.vmap(run, (0, None, None)), (None, 0, 0)))(
        jnp.arange(2), jnp.array([0.0, 0.003]), jnp.array([0.0, 0.01]))
    assert hist.dose.shape == (2, 2, 4, 2) and hist.tracked.shape == (2, 2, 4) and params[0]["w"].shape == (2, 2, 2, 8)
    np.testing.assert_array_equal(hist.steps[0, 0], [5, 10, 15, 20])
    drop = jax.jit(functools.partial(run, sd=0.0, wd=0.0, drop=0.5))
    np.testing.assert_array_equal(drop(1)[1].loss, drop(1)[1].loss)
    assert not np.array_equal(drop(1)[1].loss, run(1, 0.0, 0.0)[1].loss)
