"""Tests of cgnb.synthetic (toy data for chapters 1 and 3) and cgnb.dose (dose, SD, reliance)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.engine import nets
from cgnb.chapters import dose, synthetic


# ----------------------------------------------------------------------------- synthetic

def test_majority_vote_accuracy_formula():
    assert synthetic.majority_vote_accuracy(0.9, 3) == pytest.approx(0.9**3 + 3 * 0.9**2 * 0.1)
    assert synthetic.majority_vote_accuracy(0.9, 3) == pytest.approx(0.972)
    assert synthetic.majority_vote_accuracy(0.7, 1) == pytest.approx(0.7)
    # brute force over all 2^5 vote patterns
    p = 0.8
    brute = 0.0
    for pattern in range(2**5):
        right = [(pattern >> i) & 1 for i in range(5)]
        prob = np.prod([p if r else 1 - p for r in right])
        brute += prob * (sum(right) >= 3)
    assert synthetic.majority_vote_accuracy(p, 5) == pytest.approx(brute)
    with pytest.raises(ValueError, match="odd"):
        synthetic.majority_vote_accuracy(0.9, 2)


def test_agreeing_features_statistics():
    x, y = synthetic.agreeing_features(jax.random.PRNGKey(0), 40_000, agreement=0.9, n_irrelevant=4)
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == (40_000, 7) and y.shape == (40_000,) and x.dtype == np.float32
    assert set(np.unique(y)) == {-1.0, 1.0} and set(np.unique(x[:, :3])) == {-1.0, 1.0}
    agree = x[:, :3] == y[:, None]
    np.testing.assert_allclose(agree.mean(0), 0.9, atol=0.006)
    # conditional independence given the label: all three agree with probability 0.9^3
    assert agree.all(1).mean() == pytest.approx(0.9**3, abs=0.008)
    # majority vote accuracy matches the formula
    assert np.mean(np.asarray(synthetic.majority_vote(jnp.asarray(x[:, :3]))) == y) == pytest.approx(0.972, abs=0.004)
    # irrelevant inputs: standard normal, uncorrelated with the label
    assert abs(np.corrcoef(x[:, 3], y)[0, 1]) < 0.02
    assert x[:, 3:].std() == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="agreement"):
        synthetic.agreeing_features(jax.random.PRNGKey(0), 10, agreement=0.4)


def test_shared_and_identity_features_layout():
    task = synthetic.shared_and_identity_features(jax.random.PRNGKey(3), (1, 4, 16), 2)
    x, y, group = task["x"], task["y"], task["group"]
    n, g = len(y), task["n_groups"]
    assert g == 6 and n == 2 * (1 + 4 + 16) and x.shape == (n, g + n)
    assert np.all(x.sum(1) == 2)                          # one group feature + one identity feature
    np.testing.assert_array_equal(x[:, g:], np.eye(n))
    np.testing.assert_array_equal(x[:, :g].sum(0), task["group_size"])
    for k in range(g):                                    # a group shares its label
        assert len(set(y[group == k])) == 1


def test_two_moons_matches_sklearn_construction():
    x, y = synthetic.two_moons(jax.random.PRNGKey(0), 301, noise=0.0)
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == (301, 2) and (y == -1).sum() == 150 and (y == 1).sum() == 151
    sklearn = pytest.importorskip("sklearn.datasets")
    ref_x, ref_y = sklearn.make_moons(n_samples=301, noise=0.0, shuffle=False)
    ours = sorted(map(tuple, np.round(np.c_[x, y], 5)))
    theirs = sorted(map(tuple, np.round(np.c_[ref_x, 2 * ref_y - 1], 5)))
    np.testing.assert_allclose(np.array(ours), np.array(theirs), atol=1e-5)


def test_two_moons_deterministic_and_noisy():
    a = synthetic.two_moons(jax.random.PRNGKey(5), 300, 0.1)
    b = synthetic.two_moons(jax.random.PRNGKey(5), 300, 0.1)
    c = synthetic.two_moons(jax.random.PRNGKey(6), 300, 0.1)
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
    raw_x, raw_y = synthetic.two_moons(key, 300, 0.1)
    x, y = synthetic.starvation_moons(key, 300, 0.1, margin)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(raw_y))
    np.testing.assert_allclose(np.asarray(x), _paper_moons_reference(raw_x, np.asarray(raw_y), margin), atol=1e-5)


def test_starvation_moons_separable_with_margin():
    for seed in range(5):
        x, y = synthetic.starvation_moons(jax.random.PRNGKey(seed), 300, 0.1, 0.1)
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == (300, 2)
        # x1 separates the classes with a gap of at least 2 * margin around 0
        assert x[y > 0, 0].max() <= -0.1 + 1e-6 and x[y < 0, 0].min() >= 0.1 - 1e-6
        # x2 alone does not separate them
        assert x[y > 0, 1].max() > x[y < 0, 1].min()


def test_neutralize_and_permute_feature():
    x, y = synthetic.starvation_moons(jax.random.PRNGKey(0), 2000, 0.1, 0.1)
    xn = np.asarray(synthetic.neutralize_feature(x, y, 0))
    y = np.asarray(y)
    assert abs(xn[y > 0, 0].mean()) < 1e-5 and abs(xn[y < 0, 0].mean()) < 1e-5
    np.testing.assert_allclose(xn[:, 1], np.asarray(x)[:, 1])
    # within a class the points keep their relative positions (a pure shift)
    np.testing.assert_allclose(np.diff(xn[y > 0, 0]), np.diff(np.asarray(x)[y > 0, 0]), atol=1e-5)
    assert np.mean(np.sign(-xn[:, 0]) == y) < 0.65          # the linear read-out is close to a coin
    xp = np.asarray(synthetic.permute_feature(jax.random.PRNGKey(1), x, 0))
    np.testing.assert_allclose(np.sort(xp[:, 0]), np.sort(np.asarray(x)[:, 0]))
    assert abs(np.mean(np.sign(-xp[:, 0]) == y) - 0.5) < 0.04


# ----------------------------------------------------------------------------- losses and models

def test_logistic_loss_and_spectral_decoupling_values():
    logits = jnp.array([2.0, -1.0, 0.0, 3.0])
    y = jnp.array([1.0, 1.0, -1.0, -1.0])
    np.testing.assert_allclose(dose.logistic_loss(logits, y), np.log1p(np.exp(-np.array([2.0, -1.0, 0.0, -3.0]))),
                               rtol=1e-6)
    assert float(dose.spectral_decoupling(logits, 0.003)) == pytest.approx(0.003 * (4 + 1 + 0 + 9) / 4)
    assert float(dose.binary_accuracy(logits, y)) == pytest.approx(0.25)   # logit 0 counts as wrong


def test_recognizer_network_matches_loop_and_head_start():
    key = jax.random.PRNGKey(0)
    p = dose.init_recognizers(key, 5, 3, head_start=4.0, readout_head_start=2.0, clones=3)
    base = dose.init_recognizers(key, 5, 3, clones=3)
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
    np.testing.assert_allclose(dose.apply_recognizers(p, x), expected, rtol=1e-5)
    np.testing.assert_allclose(dose.recognizer_norms(p), np.sqrt((a**2 + b**2 + v**2).sum(1)), rtol=1e-5)


def test_torch_mlp_init_bounds():
    p = dose.init_torch_mlp(jax.random.PRNGKey(0), (2, 500, 1))
    assert p[0]["w"].shape == (2, 500) and p[1]["w"].shape == (500, 1)
    for layer, fan_in in zip(p, (2, 500)):
        for leaf in (layer["w"], layer["b"]):
            assert float(jnp.max(jnp.abs(leaf))) <= 1 / np.sqrt(fan_in)
        assert float(jnp.max(jnp.abs(layer["w"]))) > 0.9 / np.sqrt(fan_in)    # uniform, fills the range
    assert dose.apply_mlp(p, jnp.ones((7, 2))).shape == (7,)


# ----------------------------------------------------------------------------- dose

def test_dose_of_linear_model_equals_hand_computation():
    # two examples, two inputs, w = b = 0: sigma(0) = 1/2, so dL/dw = -mean(y x) / 2 at step 0
    x = jnp.array([[1.0, 2.0], [-1.0, 0.5]])
    y = jnp.array([1.0, -1.0])
    params = {"w": jnp.zeros(2), "b": jnp.zeros(())}
    g0 = -np.mean(np.asarray(y)[:, None] * np.asarray(x), axis=0) / 2           # [-0.5, -0.375]
    np.testing.assert_allclose(g0, [-0.5, -0.375])
    _, hist = dose.train_binary(params, dose.apply_linear, x, y, optimizer=optax.sgd(0.1), steps=1)
    np.testing.assert_allclose(hist.dose[0], g0**2, rtol=1e-6)
    # two steps by hand (numpy): w1 = -0.1 g0 (the bias gradient -mean(y)/2 is 0 here), then the second gradient
    w1 = -0.1 * g0
    margins = np.asarray(y) * (np.asarray(x) @ w1)
    weights = 1 / (1 + np.exp(margins))                                          # sigma(-margin)
    g1 = -np.mean((np.asarray(y) * weights)[:, None] * np.asarray(x), axis=0)
    _, hist2 = dose.train_binary(params, dose.apply_linear, x, y, optimizer=optax.sgd(0.1), steps=2, record_every=2)
    np.testing.assert_allclose(hist2.dose[0], g0**2 + g1**2, rtol=1e-5)


def test_dose_of_mlp_rows_and_sd_gradient():
    key = jax.random.PRNGKey(0)
    params = dose.init_torch_mlp(key, (2, 16, 1))
    x, y = synthetic.starvation_moons(key, 32, 0.1, 0.1)
    coef = 0.5

    def objective(p):
        logits = dose.apply_mlp(p, x)
        return jnp.mean(jnp.log1p(jnp.exp(-y * logits))) + coef * jnp.mean(logits**2)

    grads = jax.grad(objective)(params)
    expected = np.sum(np.asarray(grads[0]["w"]) ** 2, axis=1)
    _, hist = dose.train_binary(params, dose.apply_mlp, x, y, optimizer=optax.sgd(0.0), steps=3, sd_coef=coef)
    np.testing.assert_allclose(hist.dose, np.tile(expected, (3, 1)), rtol=1e-5)   # lr 0: same gradient each step
    np.testing.assert_allclose(hist.loss, float(objective(params)), rtol=1e-6)


def test_train_binary_vmaps_over_seeds_and_settings_and_learns():
    x, y = synthetic.agreeing_features(jax.random.PRNGKey(0), 200, n_irrelevant=2)

    def run(seed, wd):
        p = dose.init_recognizers(jax.random.PRNGKey(seed), 5, 4)
        track = lambda q: dose.binary_accuracy(dose.apply_recognizers(q, x), y)
        return dose.train_binary(p, dose.apply_recognizers, x, y, optimizer=dose.sgd(0.1, weight_decay=wd),
                                 steps=100, record_every=25, track=track)

    _, hist = jax.jit(jax.vmap(jax.vmap(run, (0, None)), (None, 0)))(jnp.arange(2), jnp.array([0.0, 1e-3]))
    assert hist.dose.shape == (2, 2, 4, 5) and hist.tracked.shape == (2, 2, 4)
    np.testing.assert_array_equal(hist.steps[0, 0], [25, 50, 75, 100])
    assert float(hist.tracked[..., -1].min()) > 0.9


def test_train_binary_dropout_key_changes_runs_and_is_reproducible():
    x, y = synthetic.starvation_moons(jax.random.PRNGKey(0), 64, 0.1, 0.1)
    p = dose.init_torch_mlp(jax.random.PRNGKey(1), (2, 32, 1))
    apply = functools.partial(dose.apply_mlp, dropout_rate=0.5)
    run = jax.jit(lambda k: dose.train_binary(p, apply, x, y, optimizer=optax.sgd(0.1), steps=5, key=k)[1].loss)
    np.testing.assert_array_equal(run(jax.random.PRNGKey(2)), run(jax.random.PRNGKey(2)))
    assert not np.allclose(run(jax.random.PRNGKey(2)), run(jax.random.PRNGKey(3)))


def test_train_binary_rejects_bad_input():
    x, y = synthetic.agreeing_features(jax.random.PRNGKey(0), 10)
    p = dose.init_linear(jax.random.PRNGKey(0), 3)
    with pytest.raises(ValueError, match="multiple"):
        dose.train_binary(p, dose.apply_linear, x, y, optimizer=optax.sgd(0.1), steps=10, record_every=3)
    with pytest.raises(ValueError, match=r"x \(N, D\)"):
        dose.train_binary(p, dose.apply_linear, x, y[:5], optimizer=optax.sgd(0.1), steps=10)


def test_sgd_matches_pytorch_update_rule():
    # PyTorch SGD(lr, momentum, weight_decay): g' = g + wd p; buf = mu buf + g'; p -= lr buf
    opt = dose.sgd(0.1, momentum=0.9, weight_decay=0.01)
    p = {"w": jnp.array([1.0, -2.0])}
    state = opt.init(p)
    buf = np.zeros(2)
    ref = np.array([1.0, -2.0])
    for g in ([0.5, 0.5], [-1.0, 2.0], [0.3, 0.0]):
        updates, state = opt.update({"w": jnp.array(g)}, state, p)
        p = optax.apply_updates(p, updates)
        buf = 0.9 * buf + (np.array(g) + 0.01 * ref)
        ref = ref - 0.1 * buf
        np.testing.assert_allclose(p["w"], ref, rtol=1e-6)


# ----------------------------------------------------------------------------- reliance and helpers

def test_flip_reliance_is_the_weight_of_a_linear_model():
    x, _ = synthetic.agreeing_features(jax.random.PRNGKey(0), 50, n_irrelevant=1)
    params = {"w": jnp.array([2.0, -0.5, 0.25, 3.0]), "b": jnp.float32(1.0)}
    np.testing.assert_allclose(dose.flip_reliance(dose.apply_linear, params, x, range(3)), [2.0, -0.5, 0.25], rtol=1e-6)


def test_first_step_reaching_loglog_slope_and_grid():
    steps = np.array([10, 20, 30, 40])
    values = np.array([[0.1, 0.5, 0.9, 0.95], [0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_array_equal(dose.first_step_reaching(values, steps, 0.9), [30.0, np.nan])
    assert dose.loglog_slope([1, 4, 16], [3, 48, 768]) == pytest.approx(2.0)
    axis, points = dose.grid_points(1.0, 3)
    np.testing.assert_allclose(axis, [-1, 0, 1])
    np.testing.assert_allclose(points[1], [0.0, -1.0])         # row-major in x2: second point moves along x1
    logits = np.asarray(points[:, 0] + 10 * points[:, 1]).reshape(3, 3)
    assert logits[2, 0] == pytest.approx(-1 + 10)               # row = x2 index, column = x1 index


def test_first_layer_dose_formats():
    g_mlp = nets.init(jax.random.PRNGKey(0), (3, 4, 1))
    np.testing.assert_allclose(dose.first_layer_dose(g_mlp), np.sum(np.asarray(g_mlp[0]["w"]) ** 2, 1), rtol=1e-6)
    g_lin = {"w": jnp.array([1.0, -2.0]), "b": jnp.float32(0.0)}
    np.testing.assert_allclose(dose.first_layer_dose(g_lin), [1.0, 4.0])
    with pytest.raises(TypeError):
        dose.first_layer_dose({"q": jnp.zeros(2)})
