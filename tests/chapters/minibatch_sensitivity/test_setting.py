"""Tests of cgnb.chapters.minibatch_sensitivity.setting: training with snapshots, the variants per seed."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.chapters.minibatch_sensitivity import measures, models, setting
from cgnb.engine import nets, sampler

from .problems import data, mlp_params


def _small_data(n=64, d=5):
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (n, d)), np.float32)
    return x, x[:, 0] * 2.0


def test_train_with_snapshots_matches_a_manual_loop():
    params, (x, y) = mlp_params(), data()
    loss = models.make_loss()
    opt = optax.sgd(1e-3)
    losses, snaps = setting.train_and_snapshot(loss, params, x, y, optimizer=opt, batch_size=32, steps=5,
                                           snapshot_steps=[0, 2, 5], seed=4)
    assert losses.shape == (5,) and sorted(snaps) == [0, 2, 5]
    assert measures.fingerprint(snaps[0]) == measures.fingerprint(params)
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
        setting.train_and_snapshot(loss, params, x, y, optimizer=opt, batch_size=32, steps=5, snapshot_steps=[6],
                               seed=4)


def test_train_variant_matches_train_with_snapshots():
    x, y = _small_data()
    loss = models.make_loss()
    settings = dict(sizes=(5, 8, 1), optimizer=optax.sgd(1e-2), batch_size=16, steps=8, mid_step=4)
    run = setting.train_variant(loss, x, y, batchnorm=False, dropout=0.0, seed=1, **settings)
    params = nets.init(jax.random.PRNGKey(1001), (5, 8, 1))
    losses, snaps = setting.train_and_snapshot(loss, params, x, y, optimizer=settings["optimizer"], batch_size=16,
                                                   steps=8, snapshot_steps=(0, 4), seed=2001)
    np.testing.assert_array_equal(run["losses"], losses)
    for a, b in zip(jax.tree_util.tree_leaves(run["mid"]), jax.tree_util.tree_leaves(snaps[4])):
        np.testing.assert_array_equal(a, b)
    assert run["losses"].shape == (8,)


def test_train_variants_keys_and_missing_loss():
    x, y = _small_data()
    variants = {"plain": dict(batchnorm=False, dropout=0.0), "dropout": dict(batchnorm=False, dropout=0.2)}
    loss_fns = {name: models.make_loss(v["dropout"]) for name, v in variants.items()}
    settings = dict(sizes=(5, 4, 1), optimizer=optax.sgd(1e-2), batch_size=16, steps=4, mid_step=2)
    runs = setting.train_variants(loss_fns, variants, (0, 1), x, y, **settings)
    assert list(runs) == ["plain/0", "plain/1", "dropout/0", "dropout/1"]
    with pytest.raises(ValueError, match="no loss"):
        setting.train_variants({"plain": loss_fns["plain"]}, variants, (0,), x, y, **settings)


def test_train_runs_caches_each_run_and_matches_train_variant(tmp_path, monkeypatch):
    monkeypatch.setenv("CGNB_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("CGNB_NO_CACHE", raising=False)
    x, y = _small_data()
    variants = setting.variants(0.2)
    losses = {name: models.make_loss(v["dropout"]) for name, v in variants.items()}
    settings = dict(sizes=(5, 8, 1), learning_rate=1e-2, batch_size=16, steps=8, mid_step=4)
    runs = setting.train_runs(losses, variants, [3], x, y, **settings)
    assert sorted(runs) == ["batch norm/3", "dropout/3", "plain/3"]
    direct = setting.train_variant(losses["plain"], x, y, sizes=(5, 8, 1), batchnorm=False, dropout=0.0, seed=3,
                                   optimizer=optax.sgd(1e-2), batch_size=16, steps=8, mid_step=4)
    np.testing.assert_array_equal(runs["plain/3"]["losses"], direct["losses"])
    assert len(list(tmp_path.glob("minibatch_sensitivity-run-*.npz"))) == 3
    again = setting.train_runs(losses, {"plain": variants["plain"]}, [3], x, y, **settings)
    np.testing.assert_array_equal(again["plain/3"]["losses"], runs["plain/3"]["losses"])
    assert len(list(tmp_path.glob("minibatch_sensitivity-run-*.npz"))) == 3


def test_parameters_are_the_notebooks_parameters_cell():
    from pathlib import Path

    from cgnb.engine import aot
    from cgnb.chapters.minibatch_sensitivity import CHAPTER

    cell = aot.notebook_parameters(Path(__file__).resolve().parents[3] / CHAPTER.notebook, "quick")
    assert tuple(cell) == setting.PARAMETERS
    assert isinstance(cell["seeds"], list) and len(cell["seeds"]) >= 5
