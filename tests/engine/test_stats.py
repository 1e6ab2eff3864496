"""Tests of cgnb.engine.stats against Python loops and explicit per-example gradients."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import stats

from mlp_problems import XENT, xent, mlp_problem, loop_grads



def jitted(name, *static):
    """stats.<name> under jax.jit (eager calls dispatch every primitive separately: slow)."""
    return jax.jit(getattr(stats, name), static_argnums=static)


# ----------------------------------------------------------------------------- coherence


def linear_loss(params, x, y):
    """l_i = <w, x_i>: the per-example gradient is x_i."""
    del y
    return x @ params["w"]


def test_coherence_identical_gradients_is_one():
    x = jnp.tile(jnp.array([[1.0, -2.0, 0.5]]), (5, 1))
    alpha = jitted("coherence", 0)(linear_loss, {"w": jnp.zeros(3)}, x, jnp.zeros(5))
    np.testing.assert_allclose(alpha, 1.0, rtol=1e-6)


@pytest.mark.parametrize("m", [2, 5, 8])
def test_coherence_orthogonal_equal_norm_is_one_over_m(m):
    x = 3.0 * jnp.eye(m)
    alpha = jitted("coherence", 0)(linear_loss, {"w": jnp.zeros(m)}, x, jnp.zeros(m))
    np.testing.assert_allclose(alpha, 1.0 / m, rtol=1e-6)


def test_coherence_fast_path_equals_generic_and_loop():
    params, x, y = mlp_problem(batch=12)
    rows = loop_grads(xent, params, x, y)
    want = np.sum(rows.mean(axis=0) ** 2) / np.mean(np.sum(rows ** 2, axis=1))
    fast = jitted("coherence", 0)(XENT, params, x, y)  # auto -> mlp
    generic = jitted("coherence", 0)(xent, params, x, y)  # auto -> vmap
    np.testing.assert_allclose(fast, want, rtol=1e-5)
    np.testing.assert_allclose(generic, want, rtol=1e-5)
    vmapped = jax.jit(lambda p: stats.coherence(XENT, p, x, y, method="vmap"))(params)
    np.testing.assert_allclose(vmapped, want, rtol=1e-5)


def test_mean_pairwise_cosine_equals_a_loop_and_rejects_zero_rows():
    g = np.random.default_rng(5).normal(size=(6, 20)).astype(np.float32)
    want = np.mean([g[i] @ g[j] / np.linalg.norm(g[i]) / np.linalg.norm(g[j])
                    for i, j in itertools.combinations(range(6), 2)])
    np.testing.assert_allclose(stats.mean_pairwise_cosine(g), want, rtol=1e-5)
    assert stats.mean_pairwise_cosine(np.ones((4, 3))) == pytest.approx(1.0)
    assert stats.mean_pairwise_cosine(np.array([[1.0, 0], [-1.0, 0]])) == pytest.approx(-1.0)
    g[0] = 0.0  # a zero gradient has no direction
    with pytest.raises(ValueError, match="1 of the 6 gradients are zero"):
        stats.mean_pairwise_cosine(g)


def test_row_statistics_from_the_gram_matrix():
    g = np.random.default_rng(3).normal(size=(5, 7))
    m = stats.gram(g)
    assert m.dtype == np.float64 and m.shape == (5, 5)
    np.testing.assert_allclose(m, g @ g.T, rtol=1e-12)
    want = np.sum(g.mean(0) ** 2) / np.mean(np.sum(g ** 2, axis=1))
    assert stats.coherence_of_rows(g) == pytest.approx(want, rel=1e-12)
    assert stats.coherence_from_gram(m) == stats.coherence_of_rows(g)
    assert stats.cosine_from_gram(m) == stats.mean_pairwise_cosine(g)
    assert stats.coherence_of_rows(np.tile(g[:1], (4, 1))) == pytest.approx(1.0)
    assert stats.coherence_of_rows(np.array([[1.0, 0], [-1.0, 0]])) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="all gradients are zero"):
        stats.coherence_of_rows(np.zeros((3, 2)))


# ----------------------------------------------------------------------------- pristine / corrupt groups


def test_group_alphas_equal_a_per_example_computation():
    params, x, y = mlp_problem(batch=10)
    mask = jnp.array([1, 1, 0, 1, 0, 0, 1, 1, 1, 0], bool)
    rows = loop_grads(xent, params, x, y)
    m = np.asarray(mask)
    g_p, g_c = rows[m].sum(0), rows[~m].sum(0)
    g = g_p + g_c
    got = jitted("group_alphas", 0)(xent, params, x, y, mask)
    np.testing.assert_allclose(got["alpha_p"], g @ g_p / (g @ g), rtol=1e-4)
    np.testing.assert_allclose(got["alpha_c"], g @ g_c / (g @ g), rtol=1e-4)
    np.testing.assert_allclose(got["alpha_p"] + got["alpha_c"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(got["dot_p"], g @ g_p, rtol=1e-4)
    np.testing.assert_allclose(got["norm"], np.linalg.norm(g), rtol=1e-5)
    np.testing.assert_allclose(got["norm_p"], np.linalg.norm(g_p), rtol=1e-5)
    np.testing.assert_allclose(got["norm_c"], np.linalg.norm(g_c), rtol=1e-5)
    np.testing.assert_allclose(got["cos_pc"], g_p @ g_c / np.linalg.norm(g_p) / np.linalg.norm(g_c), rtol=1e-4)
    assert float(got["n_p"]) == 6 and float(got["n_c"]) == 4


def test_contributions_sum_to_alpha_of_any_designation():
    params, x, y = mlp_problem(batch=10)
    rows = loop_grads(xent, params, x, y)
    c = np.asarray(jitted("contributions", 0)(xent, params, x, y))
    np.testing.assert_allclose(c, rows @ rows.sum(0), rtol=1e-4, atol=1e-7)
    masks = jnp.array([[1, 1, 0, 1, 0, 0, 1, 1, 1, 0], [0, 1, 1, 0, 1, 0, 1, 0, 1, 1]], bool)
    alphas = jitted("group_alphas_many", 0)(xent, params, x, y, masks)
    np.testing.assert_allclose(c @ np.asarray(masks, float).T / c.sum(), alphas["alpha_p"], rtol=1e-4)
    np.testing.assert_allclose(c.sum(), alphas["sq_norm"][0], rtol=1e-4)


def test_null_masks_are_permutations_and_group_alphas_many_matches_single_calls():
    params, x, y = mlp_problem(batch=10)
    mask = jnp.arange(10) < 3
    nulls = stats.null_masks(jax.random.PRNGKey(7), mask, 4)
    assert nulls.shape == (4, 10) and nulls.dtype == jnp.bool_
    assert (np.asarray(nulls).sum(axis=1) == 3).all()
    assert len({tuple(r) for r in np.asarray(nulls)}) > 1  # not all the same world
    np.testing.assert_array_equal(nulls, stats.null_masks(jax.random.PRNGKey(7), mask, 4))
    many = jax.jit(stats.group_alphas_many, static_argnums=0)(xent, params, x, y, nulls)
    single = jax.jit(stats.group_alphas, static_argnums=0)
    for k in range(4):
        one = single(xent, params, x, y, nulls[k])
        for name in ("alpha_p", "alpha_c", "norm_p", "norm_c"):
            np.testing.assert_allclose(many[name][k], one[name], rtol=1e-5)


def test_group_contributions_equal_a_loop():
    rng = np.random.default_rng(6)
    dot_p, dot_c = rng.normal(size=(2, 10))
    got = stats.group_contributions(dot_p, dot_c, 30, 70)
    want_p = [sum(dot_p[:t + 1]) / 30 for t in range(10)]
    want_c = [sum(dot_c[:t + 1]) / 70 for t in range(10)]
    np.testing.assert_allclose(got["f_p"], want_p, rtol=1e-5)
    np.testing.assert_allclose(got["f_c"], want_c, rtol=1e-5)
    # from group_alphas records: alpha_p |g|^2 = <g, g_p>; an empty group gives NaN
    assert np.isnan(stats.group_contributions(dot_p, dot_c, 0, 100)["f_p"]).all()


def test_null_masks_with_a_numpy_generator_keep_its_stream():
    mask = np.array([[1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], bool)
    got = stats.null_masks(np.random.default_rng(3), mask, 4)
    rng = np.random.default_rng(3)
    want = np.stack([[rng.permutation(row) for _ in range(4)] for row in mask])
    np.testing.assert_array_equal(got, want)
    assert got.shape == (2, 4, 5) and (got.sum(-1) == mask.sum(-1)[:, None]).all()
    assert stats.null_masks(np.random.default_rng(3), mask[0], 2).shape == (2, 5)


def test_bad_inputs_raise_clear_errors():
    params, x, y = mlp_problem()
    with pytest.raises(ValueError, match="MLPLoss"):
        stats.coherence(xent, params, x, y, method="mlp")
    with pytest.raises(ValueError, match="method must be"):
        stats.coherence(xent, params, x, y, method="fast")
    with pytest.raises(ValueError, match="M >= 2"):
        stats.mean_pairwise_cosine(np.ones((1, 4)))
    with pytest.raises(ValueError, match="boolean"):
        stats.group_alphas(xent, params, x, y, jnp.ones(8))
    with pytest.raises(ValueError, match="batch size 8"):
        stats.group_alphas(xent, params, x, y, jnp.ones(7, bool))
    with pytest.raises(ValueError, match=r"must be \(B,\)"):
        stats.group_alphas(xent, params, x, y, jnp.ones((2, 8), bool))
    with pytest.raises(ValueError, match="k .* must be >= 1"):
        stats.null_masks(jax.random.PRNGKey(0), jnp.ones(8, bool), 0)
    with pytest.raises(ValueError, match="numpy.random.Generator|np.random.Generator"):
        stats.null_masks(jax.random.PRNGKey(0), jnp.ones((2, 8), bool), 2)
    with pytest.raises(ValueError, match="same shape"):
        stats.group_contributions(jnp.ones(3), jnp.ones(4), 1, 1)


def test_group_alphas_mlp_fast_path_equals_generic():
    params, x, y = mlp_problem(batch=10)
    masks = stats.null_masks(jax.random.PRNGKey(1), jnp.arange(10) < 4, 3)
    fast = jitted("group_alphas_many", 0)(XENT, params, x, y, masks)
    generic = jitted("group_alphas_many", 0)(xent, params, x, y, masks)
    for name in generic:
        np.testing.assert_allclose(fast[name], generic[name], rtol=2e-5, atol=1e-7, err_msg=name)
