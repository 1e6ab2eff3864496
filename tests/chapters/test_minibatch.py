"""cgnb.minibatch: gradients at fixed parameters, their agreement, the nearby field, the noise scale."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.chapters import minibatch as M
from cgnb.engine import nets, sampler, stats

SIZES = (12, 8, 7, 6, 1)


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, SIZES[0])).astype(np.float32)
    y = (x[:, 0] * 3 + np.abs(x[:, 1]) + 2).astype(np.float32)
    return x, y


def _mean_grad(loss):
    """``jax.grad`` of a minibatch's mean loss, ``(params, x, y, key=None) -> grads``, jitted."""
    return jax.jit(jax.grad(lambda p, xb, yb, key=None: jnp.mean(loss(p, xb, yb, key=key))))


def _params(batchnorm=False, seed=0):
    return nets.init(jax.random.PRNGKey(seed), SIZES, batchnorm=batchnorm)


def test_make_loss_is_per_example_and_checks_the_rate():
    params, (x, y) = _params(), _data(16)
    loss = M.make_loss()
    got = loss(params, jnp.asarray(x), jnp.asarray(y))
    assert got.shape == (16,)
    np.testing.assert_array_equal(got, (nets.forward(params, jnp.asarray(x))[:, 0] - y) ** 2)
    with pytest.raises(ValueError, match="dropout_rate"):
        M.make_loss(1.0)


def test_bias_coords_get_set():
    plain, bn = _params(), _params(batchnorm=True)
    assert M.bias_coords(plain) == ((1, "b", 0), (2, "b", 0))
    assert M.bias_coords(bn, unit=3) == ((1, "beta", 3), (2, "beta", 3))
    with pytest.raises(ValueError, match="not a hidden layer"):
        M.bias_coords(plain, layers=(3,))
    with pytest.raises(ValueError, match="unit"):
        M.bias_coords(plain, unit=100)
    coords = M.bias_coords(plain, unit=2)
    new = M.set_coords(plain, coords, jnp.array([0.5, -0.25]))
    np.testing.assert_allclose(M.get_coords(new, coords), [0.5, -0.25])
    assert float(plain[1]["b"][2]) == 0.0  # the original is untouched
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 2 * a]), new)
    np.testing.assert_allclose(M.get_coords(stacked, coords), [[0.5, -0.25], [1.0, -0.5]])


def test_batchnorm_cancels_the_pre_normalisation_bias():
    """Why the batch-norm variant is projected on beta: the gradient of b in front of the normalisation is zero."""
    params, (x, y) = _params(batchnorm=True), _data()
    params = M.set_coords(params, ((1, "beta", 0),), jnp.array([0.3]))
    g = _mean_grad(M.make_loss())(params, jnp.asarray(x[:32]), jnp.asarray(y[:32]))
    scale = float(jnp.max(jnp.abs(g[1]["beta"])))
    assert scale > 1e-3
    assert float(jnp.max(jnp.abs(g[1]["b"]))) < 1e-4 * scale


def test_live_units_skip_dead_ones():
    params, (x, _) = _params(), _data()
    params = M.set_coords(params, ((1, "b", 0), (1, "b", 1)), jnp.array([-100.0, -100.0]))
    units = M.live_units([params], jnp.asarray(x), layer=1, count=2, min_active=0.05)
    assert 0 not in units and 1 not in units and units == sorted(units)
    pairs = M.bias_pairs([params, _params()], jnp.asarray(x), count=1, min_active=0.05)
    assert pairs[0][0][:2] == (1, "b") and pairs[0][0][2] >= 2 and pairs[0][1][:2] == (2, "b")
    with pytest.raises(ValueError, match="only"):
        M.live_units([params], jnp.asarray(x), layer=1, count=8, min_active=0.05)


def test_fingerprint_is_bitwise():
    params = _params()
    same = jax.tree_util.tree_map(lambda a: jnp.array(np.asarray(a)), params)
    assert M.fingerprint(params) == M.fingerprint(same)
    tiny = M.set_coords(params, ((0, "b", 0),), jnp.array([np.float32(1e-30)]))
    assert M.fingerprint(params) != M.fingerprint(tiny)


def test_minibatch_gradients_match_reference_and_params_are_fixed():
    params, (x, y) = _params(), _data()
    batches = sampler.disjoint_batches(1, len(y), 16, 5)
    coords = M.bias_coords(params, unit=1)
    loss = M.make_loss()
    result = M.minibatch_gradients(loss, params, x, y, batches, coords)
    assert result.params_fixed and result.snapshot == M.fingerprint(params)
    assert result.flat.shape == (5, nets.num_params(params)) and result.projected.shape == (5, 2)
    grad = _mean_grad(loss)
    for k, index in enumerate(batches):
        g = grad(params, jnp.asarray(x[index]), jnp.asarray(y[index]))
        np.testing.assert_allclose(result.flat[k], jax.flatten_util.ravel_pytree(g)[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.projected[k], [g[1]["b"][1], g[2]["b"][1]], rtol=1e-5, atol=1e-7)
    forged = M.MinibatchGradients(result.flat, result.projected, coords, result.snapshot,
                                  result.before, result.after[:-1] + ("0" * 64,))
    assert not forged.params_fixed


def test_minibatch_gradients_with_dropout_keys():
    params, (x, y) = _params(), _data()
    batches = sampler.disjoint_batches(1, len(y), 16, 3)
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    loss = M.make_loss(0.5)
    result = M.minibatch_gradients(loss, params, x, y, batches, M.bias_coords(params), keys)
    g = _mean_grad(loss)(params, jnp.asarray(x[batches[2]]), jnp.asarray(y[batches[2]]), keys[2])
    np.testing.assert_allclose(result.flat[2], jax.flatten_util.ravel_pytree(g)[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one key per minibatch"):
        M.minibatch_gradients(loss, params, x, y, batches, M.bias_coords(params), keys[:2])


def test_noise_scale_formulas():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(40, 6)) + 0.5
    mean = g.mean(0)
    ns = M.noise_scale(float(mean @ mean), float(np.mean(np.sum(g * g, 1))), 40)
    trace = np.sum(np.var(g, axis=0, ddof=1))
    assert ns.trace_sigma == pytest.approx(trace)
    assert ns.g_norm2 == pytest.approx(mean @ mean - trace / 40)
    assert ns.b_simple == pytest.approx(ns.trace_sigma / ns.g_norm2)
    # two batch sizes with exact expectations recover |G|^2 and tr(Sigma)
    two = M.noise_scale_two_batches(16, 3.0 + 40.0 / 16, 256, 3.0 + 40.0 / 256)
    assert two.g_norm2 == pytest.approx(3.0) and two.trace_sigma == pytest.approx(40.0)
    np.testing.assert_allclose(M.predicted_alpha([1, 10], 10.0), [1 / 11, 0.5])
    with pytest.raises(ValueError):
        M.noise_scale_two_batches(64, 1.0, 16, 1.0)


def test_noise_scale_is_unbiased_on_synthetic_gradients():
    rng = np.random.default_rng(1)
    true_g, sigma = np.array([1.0, -2.0, 0.5]), np.array([3.0, 1.0, 2.0])  # tr(Sigma) = 14, |G|^2 = 5.25
    estimates = []
    for _ in range(400):
        g = true_g + sigma * rng.normal(size=(20, 3))
        m = g.mean(0)
        estimates.append(M.noise_scale(float(m @ m), float(np.mean(np.sum(g * g, 1))), 20))
    assert np.mean([e.trace_sigma for e in estimates]) == pytest.approx(14.0, rel=0.05)
    assert np.mean([e.g_norm2 for e in estimates]) == pytest.approx(5.25, rel=0.1)


def test_per_example_gradient_stats_against_loop():
    params, (x, y) = _params(), _data(64)
    loss = M.make_loss()
    noise = M.per_example_gradient_stats(loss, params, x, y, chunk=16)
    grad = _mean_grad(loss)
    flat = np.stack([np.asarray(jax.flatten_util.ravel_pytree(
        grad(params, jnp.asarray(x[i:i + 1]), jnp.asarray(y[i:i + 1])))[0], np.float64) for i in range(64)])
    trace = np.sum(np.var(flat, axis=0, ddof=1))
    assert noise.trace_sigma == pytest.approx(trace, rel=1e-4)
    mean = flat.mean(0)
    assert noise.g_norm2 == pytest.approx(mean @ mean - trace / 64, rel=1e-4)
    with pytest.raises(ValueError, match="multiple of chunk"):
        M.per_example_gradient_stats(loss, params, x[:60], y[:60], chunk=16)


def test_train_with_snapshots_matches_a_manual_loop():
    params, (x, y) = _params(), _data()
    loss = M.make_loss()
    opt = optax.sgd(1e-3)
    losses, snaps = M.train_with_snapshots(loss, params, x, y, optimizer=opt, batch_size=32, steps=5,
                                           snapshot_steps=[0, 2, 5], seed=4)
    assert losses.shape == (5,) and sorted(snaps) == [0, 2, 5]
    assert M.fingerprint(snaps[0]) == M.fingerprint(params)
    order = sampler.batch_indices(4, 0, 5, len(y), 32)
    p = params
    value_and_grad = jax.jit(jax.value_and_grad(lambda q, xb, yb: jnp.mean(loss(q, xb, yb))))
    for s in range(5):
        if s == 2:
            for a, b in zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(snaps[2])):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        value, g = value_and_grad(p, jnp.asarray(x[order[s]]), jnp.asarray(y[order[s]]))
        assert float(losses[s]) == pytest.approx(float(value), rel=1e-5)
        p = jax.tree_util.tree_map(lambda a, b: a - 1e-3 * b, p, g)
    for a, b in zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(snaps[5])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="snapshot steps"):
        M.train_with_snapshots(loss, params, x, y, optimizer=opt, batch_size=32, steps=5, snapshot_steps=[6],
                               seed=4)


def test_minibatch_variance_and_summarise():
    g = np.random.default_rng(3).normal(size=(6, 4))
    assert M.minibatch_variance(g) == pytest.approx(np.sum(np.var(g, axis=0, ddof=1)))
    projected = np.random.default_rng(4).normal(size=(6, 4))
    result = M.MinibatchGradients(g, projected, ((1, "b", 0), (2, "b", 0), (1, "b", 1), (2, "b", 1)), "s",
                                  ("s",) * 6, ("s",) * 5 + ("t",))
    out = M.summarise(result)
    assert out["cos_full"] == pytest.approx(stats.mean_pairwise_cosine(g))
    assert out["alpha"] == pytest.approx(stats.coherence_of_rows(g))
    assert out["sq_norm"] == pytest.approx(np.mean(np.sum(g * g, 1)))
    assert out["cos_2d"] == pytest.approx([stats.mean_pairwise_cosine(projected[:, :2]),
                                           stats.mean_pairwise_cosine(projected[:, 2:])])
    assert out["changed"] == 1
    with pytest.raises(ValueError, match="pairs"):
        M.summarise(M.MinibatchGradients(g, projected[:, :3], (), "s", (), ()))


def test_bias_coords_leaf():
    bn = _params(batchnorm=True)
    assert M.bias_coords(bn, leaf="b") == ((1, "b", 0), (2, "b", 0))
    with pytest.raises(ValueError, match="no parameter"):
        M.bias_coords(_params(), leaf="beta")


@pytest.mark.parametrize("batchnorm", [False, True])
def test_centre_output_matches_the_mean_and_changes_only_the_last_bias(batchnorm):
    params = nets.init(jax.random.PRNGKey(0), (5, 8, 8, 1), batchnorm=batchnorm)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (64, 5)))
    y = 50.0 + np.arange(64, dtype=np.float32)
    centred = M.centre_output(params, x, y)
    assert abs(float(jnp.mean(nets.forward(centred, jnp.asarray(x)))) - y.mean()) < 1e-3 * y.mean()
    # before, every error had one sign; after, the errors have mean zero
    assert np.all(np.asarray(nets.forward(params, jnp.asarray(x)))[:, 0] < y)
    for old, new in zip(jax.tree_util.tree_leaves(params[:-1]), jax.tree_util.tree_leaves(centred[:-1])):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(params[-1]["w"], centred[-1]["w"])


def test_centre_output_rejects_bad_input():
    params = nets.init(jax.random.PRNGKey(0), (5, 8, 2))
    with pytest.raises(ValueError, match="one output"):
        M.centre_output(params, np.ones((4, 5)), np.ones(4))
    with pytest.raises(ValueError, match="need x"):
        M.centre_output(nets.init(jax.random.PRNGKey(0), (5, 8, 1)), np.ones((4, 5)), np.ones(3))
