"""Tests of cgnb.chapters.minibatch_sensitivity.measures: minibatch gradients at fixed parameters, their
agreement, the noise scale, per-seed tables."""
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters.minibatch_sensitivity import measures, models
from cgnb.engine import nets, sampler, stats

from .problems import data, mean_grad, mlp_params


def test_fingerprint_is_bitwise():
    params = mlp_params()
    same = jax.tree_util.tree_map(lambda a: jnp.array(np.asarray(a)), params)
    assert measures.fingerprint(params) == measures.fingerprint(same)
    tiny = models.set_coords(params, ((0, "b", 0),), jnp.array([np.float32(1e-30)]))
    assert measures.fingerprint(params) != measures.fingerprint(tiny)


def test_minibatch_gradients_match_reference_and_params_are_fixed():
    """The blog's "the parameters did not change between the minibatches" (C6.3 in shared/CLAIMS.md), as a test of
    the chapter's code: every minibatch gradient is jax.grad at the snapshot, and the snapshot is unchanged."""
    params, (x, y) = mlp_params(), data()
    batches = sampler.disjoint_batches(1, len(y), 16, 5)
    coords = models.bias_coords(params, unit=1)
    loss = models.make_loss()
    result = measures.minibatch_gradients(loss, params, x, y, batches, coords)
    assert measures.agreement(result)["changed"] == 0 and result.snapshot == measures.fingerprint(params)
    assert result.flat.shape == (5, nets.num_params(params)) and result.projected.shape == (5, 2)
    grad = mean_grad(loss)
    for k, index in enumerate(batches):
        g = grad(params, jnp.asarray(x[index]), jnp.asarray(y[index]))
        np.testing.assert_allclose(result.flat[k], jax.flatten_util.ravel_pytree(g)[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.projected[k], [g[1]["b"][1], g[2]["b"][1]], rtol=1e-5, atol=1e-7)
    forged = measures.MinibatchGradients(result.flat, result.projected, coords, result.snapshot, "0" * 64)
    assert measures.agreement(forged)["changed"] == 1


def test_minibatch_gradients_with_dropout_keys():
    params, (x, y) = mlp_params(), data()
    batches = sampler.disjoint_batches(1, len(y), 16, 3)
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    loss = models.make_loss(0.5)
    result = measures.minibatch_gradients(loss, params, x, y, batches, models.bias_coords(params), keys)
    g = mean_grad(loss)(params, jnp.asarray(x[batches[2]]), jnp.asarray(y[batches[2]]), keys[2])
    np.testing.assert_allclose(result.flat[2], jax.flatten_util.ravel_pytree(g)[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one key per minibatch"):
        measures.minibatch_gradients(loss, params, x, y, batches, models.bias_coords(params), keys[:2])


def test_noise_scale_formulas():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(40, 6)) + 0.5
    mean = g.mean(0)
    ns = measures.noise_scale(float(mean @ mean), float(np.mean(np.sum(g * g, 1))), 40)
    trace = np.sum(np.var(g, axis=0, ddof=1))
    assert ns.trace_sigma == pytest.approx(trace)
    assert ns.g_norm2 == pytest.approx(mean @ mean - trace / 40)
    assert ns.b_simple == pytest.approx(ns.trace_sigma / ns.g_norm2)
    # two batch sizes with exact expectations recover |G|^2 and tr(Sigma)
    two = measures.noise_scale_two_batches(16, 3.0 + 40.0 / 16, 256, 3.0 + 40.0 / 256)
    assert two.g_norm2 == pytest.approx(3.0) and two.trace_sigma == pytest.approx(40.0)
    np.testing.assert_allclose(measures.predicted_alpha([1, 10], 10.0), [1 / 11, 0.5])
    with pytest.raises(ValueError):
        measures.noise_scale_two_batches(64, 1.0, 16, 1.0)


def test_noise_scale_is_unbiased_on_synthetic_gradients():
    rng = np.random.default_rng(1)
    true_g, sigma = np.array([1.0, -2.0, 0.5]), np.array([3.0, 1.0, 2.0])  # tr(Sigma) = 14, |G|^2 = 5.25
    estimates = []
    for _ in range(400):
        g = true_g + sigma * rng.normal(size=(20, 3))
        m = g.mean(0)
        estimates.append(measures.noise_scale(float(m @ m), float(np.mean(np.sum(g * g, 1))), 20))
    assert np.mean([e.trace_sigma for e in estimates]) == pytest.approx(14.0, rel=0.05)
    assert np.mean([e.g_norm2 for e in estimates]) == pytest.approx(5.25, rel=0.1)


def test_per_example_gradient_stats_against_loop():
    params, (x, y) = mlp_params(), data(64)
    loss = models.make_loss()
    noise = measures.per_example_gradient_stats(loss, params, x, y, chunk=16)
    grad = mean_grad(loss)
    flat = np.stack([np.asarray(jax.flatten_util.ravel_pytree(
        grad(params, jnp.asarray(x[i:i + 1]), jnp.asarray(y[i:i + 1])))[0], np.float64) for i in range(64)])
    trace = np.sum(np.var(flat, axis=0, ddof=1))
    assert noise.trace_sigma == pytest.approx(trace, rel=1e-4)
    mean = flat.mean(0)
    assert noise.g_norm2 == pytest.approx(mean @ mean - trace / 64, rel=1e-4)
    with pytest.raises(ValueError, match="multiple of chunk"):
        measures.per_example_gradient_stats(loss, params, x[:60], y[:60], chunk=16)


def test_agreement_of_gradient_rows():
    g = np.random.default_rng(3).normal(size=(6, 4))
    projected = np.random.default_rng(4).normal(size=(6, 4))
    result = measures.MinibatchGradients(g, projected, ((1, "b", 0), (2, "b", 0), (1, "b", 1), (2, "b", 1)), "s",
                                         "t")
    out = measures.agreement(result)
    assert out["cos_full"] == pytest.approx(stats.mean_pairwise_cosine(g))
    assert out["alpha"] == pytest.approx(stats.coherence_of_rows(g))
    assert out["sq_norm"] == pytest.approx(np.mean(np.sum(g * g, 1)))
    assert out["variance"] == pytest.approx(np.sum(np.var(g, axis=0, ddof=1)))
    assert out["cos_2d"] == pytest.approx([stats.mean_pairwise_cosine(projected[:, :2]),
                                           stats.mean_pairwise_cosine(projected[:, 2:])])
    assert out["changed"] == 1
    with pytest.raises(ValueError, match="pairs"):
        measures.agreement(measures.MinibatchGradients(g, projected[:, :3], (), "s", "s"))


def test_seed_table_and_per_seed():
    stats = {(n, s, w): {"alpha": np.array([s, s + 2.0])} for n in ("a", "b") for s in (0, 1) for w in ("start", "mid")}
    table = measures.seed_table(stats, "alpha", ["a", "b"], (0, 1))
    assert set(table) == {(n, w) for n in ("a", "b") for w in ("start", "mid")}
    np.testing.assert_array_equal(table["a", "mid"], [1.0, 2.0])
    values = {("a", s, "mid"): 10.0 + s for s in (0, 1)}
    np.testing.assert_array_equal(measures.per_seed(values, "a", "mid", (0, 1)), [10.0, 11.0])
