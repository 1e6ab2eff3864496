"""Tests of cgnb.chapters.coherent_gradients.contributions (Figure 3's per-example contributions)."""
import numpy as np
import pytest

from cgnb.chapters.coherent_gradients import contributions
from cgnb.engine import stats, sweep

N_TINY, D_TINY, K_TINY = 40, 12, 3


@pytest.fixture(scope="module")
def tiny():
    """A small learnable 3-class problem: labels from a random linear teacher."""
    from cgnb.engine import data as cdata

    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_TINY + 10, D_TINY)).astype(np.float32)
    y = np.argmax(x @ rng.normal(size=(D_TINY, K_TINY)), axis=1).astype(np.int32)
    return cdata.Dataset(x[:N_TINY], y[:N_TINY], x[N_TINY:], y[N_TINY:], "tiny", "random linear teacher")


def test_sample_statistics_match_explicit_per_example_gradients():
    import jax
    import jax.numpy as jnp

    from cgnb.engine import nets, pergrad

    rng = np.random.default_rng(2)
    params = nets.init(jax.random.PRNGKey(0), (D_TINY, 7, K_TINY))
    x = jnp.asarray(rng.normal(size=(10, D_TINY)), jnp.float32)
    y = jnp.asarray(rng.integers(0, K_TINY, 10), jnp.int32)
    g = pergrad.per_example_grads(sweep.per_example_loss, params, x, y)
    flat = np.concatenate([np.asarray(leaf).reshape(10, -1) for leaf in jax.tree_util.tree_leaves(g)], axis=1)
    gbar = flat.mean(0)
    stats = jax.jit(contributions.sample_statistics, static_argnames="block")
    for block in (4, 10, 64):  # padded blocks, one exact block, one block larger than the sample
        c, coh = stats(params, x, y, block=block)
        np.testing.assert_allclose(c, flat @ gbar, rtol=2e-4, atol=1e-6)
        np.testing.assert_allclose(coh, gbar @ gbar / np.mean(np.sum(flat ** 2, 1)), rtol=2e-4)


def test_early_contributions_follow_the_engine_trajectory(tiny):
    """Group sums of the replayed contributions equal the engine's recorded <g, g_p> at every step."""
    import jax

    steps, m = 5, 24
    config = sweep.SweepConfig(sizes=(D_TINY, 8, K_TINY), steps=steps, batch_size=8, lr=0.2, record_every=1,
                               stats=("alphas", "coherence"), n_null=0, stats_examples=m)
    variants = sweep.Variants.noise_grid(jax.random.PRNGKey(3), tiny.y_train, [0.25, 0.75], seeds=(0, 1))
    result = sweep.run_sweep(config, tiny, variants, cache=False, progress=False)
    early = contributions.early_contributions(config, tiny, variants, steps, examples=m, block=10)
    assert early["decrease"].shape == (4, steps, m)
    mask = early["pristine"]
    dot_p = np.einsum("vtm,vm->vt", early["decrease"], mask) / config.lr * m
    dot_c = np.einsum("vtm,vm->vt", early["decrease"], ~mask) / config.lr * m
    np.testing.assert_allclose(dot_p, result.records["dot_p"][:, :steps], rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(dot_c, result.records["dot_c"][:, :steps], rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(early["coherence"], result.records["coherence"][:, :steps], rtol=2e-3)
    curves = contributions.group_curves(early["decrease"], mask)
    assert curves["pristine"].shape == (4, steps + 1) and np.all(curves["pristine"][:, 0] == 0)
    np.testing.assert_allclose(curves["pristine"][:, -1] * mask.sum(1), (early["decrease"].sum(1) * mask).sum(1),
                               rtol=1e-6)


def test_contribution_gaps_and_null_masks():
    rng = np.random.default_rng(4)
    decrease = rng.normal(size=(2, 3, 10))
    mask = np.zeros((2, 10), bool)
    mask[:, :4] = True
    nulls = stats.null_masks(np.random.default_rng(1), mask, 5)
    assert nulls.shape == (2, 5, 10) and np.all(nulls.sum(-1) == 4)
    assert not np.all(nulls[0, 0] == nulls[0, 1])
    gap, null_gap = contributions.contribution_gaps(decrease, mask, nulls)
    total = decrease.sum(1)
    for v in range(2):
        assert np.isclose(gap[v], total[v, :4].mean() - total[v, 4:].mean())
        for k in range(5):
            m = nulls[v, k]
            assert np.isclose(null_gap[v, k], total[v, m].mean() - total[v, ~m].mean())


def test_condense_keeps_what_the_figure_and_c46_need():
    rng = np.random.default_rng(5)
    decrease = rng.normal(size=(2, 4, 30))
    pristine = rng.random((2, 30)) < 0.6
    early = {"decrease": decrease, "pristine": pristine, "coherence": rng.random((2, 4)),
             "noise": np.array([0.25, 0.5]), "seed": np.array([0, 0])}
    summary = contributions.condense(early, null_worlds=40, n_null=2, rng_seed=3)
    nulls = stats.null_masks(np.random.default_rng(3), pristine, 40)
    gap, null_gap = contributions.contribution_gaps(decrease, pristine, nulls)
    np.testing.assert_allclose(summary["gap"], gap)
    np.testing.assert_allclose(summary["null_gap"], null_gap)
    assert summary["curves"].shape == (2, 3, 2, 5)
    for row, mask in enumerate([pristine, nulls[:, 0], nulls[:, 1]]):
        curves = contributions.group_curves(decrease, mask)
        np.testing.assert_allclose(summary["curves"][:, row, 0], curves["pristine"])
        np.testing.assert_allclose(summary["curves"][:, row, 1], curves["corrupt"])
    with pytest.raises(ValueError, match="n_null"):
        contributions.condense(early, null_worlds=2, n_null=3)


def test_contribution_gaps_do_not_depend_on_the_block_size():
    rng = np.random.default_rng(6)
    decrease, mask = rng.normal(size=(1, 2, 25)), rng.random((1, 25)) < 0.5
    nulls = stats.null_masks(np.random.default_rng(0), mask, 33)
    a = contributions.contribution_gaps(decrease, mask, nulls, block=100)
    b = contributions.contribution_gaps(decrease, mask, nulls, block=7)
    np.testing.assert_allclose(a[1], b[1])
