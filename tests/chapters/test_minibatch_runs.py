"""Tests of cgnb.chapters.minibatch_runs (chapter 6: variants trained per seed, per-seed tables)."""
from __future__ import annotations

import jax
import numpy as np
import optax
import pytest

from cgnb.engine import nets
from cgnb.chapters import minibatch, minibatch_runs


def _data(n=64, d=5):
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (n, d)), np.float32)
    return x, x[:, 0] * 2.0


def test_train_variant_matches_train_with_snapshots():
    x, y = _data()
    loss = minibatch.make_loss()
    settings = dict(sizes=(5, 8, 1), optimizer=optax.sgd(1e-2), batch_size=16, steps=8, mid_step=4)
    run = minibatch_runs.train_variant(loss, x, y, batchnorm=False, dropout=0.0, seed=1, **settings)
    params = nets.init(jax.random.PRNGKey(1001), (5, 8, 1))
    losses, snaps = minibatch.train_with_snapshots(loss, params, x, y, optimizer=settings["optimizer"], batch_size=16,
                                                   steps=8, snapshot_steps=(0, 4), seed=2001)
    np.testing.assert_array_equal(run["losses"], losses)
    for a, b in zip(jax.tree_util.tree_leaves(run["mid"]), jax.tree_util.tree_leaves(snaps[4])):
        np.testing.assert_array_equal(a, b)
    assert run["losses"].shape == (8,)


def test_train_variants_keys_and_missing_loss():
    x, y = _data()
    variants = {"plain": dict(batchnorm=False, dropout=0.0), "dropout": dict(batchnorm=False, dropout=0.2)}
    loss_fns = {name: minibatch.make_loss(v["dropout"]) for name, v in variants.items()}
    settings = dict(sizes=(5, 4, 1), optimizer=optax.sgd(1e-2), batch_size=16, steps=4, mid_step=2)
    runs = minibatch_runs.train_variants(loss_fns, variants, (0, 1), x, y, **settings)
    assert list(runs) == ["plain/0", "plain/1", "dropout/0", "dropout/1"]
    with pytest.raises(ValueError, match="no loss"):
        minibatch_runs.train_variants({"plain": loss_fns["plain"]}, variants, (0,), x, y, **settings)


def test_seed_table_and_per_seed():
    stats = {(n, s, w): {"alpha": np.array([s, s + 2.0])} for n in ("a", "b") for s in (0, 1) for w in ("start", "mid")}
    table = minibatch_runs.seed_table(stats, "alpha", ["a", "b"], (0, 1))
    assert set(table) == {(n, w) for n in ("a", "b") for w in ("start", "mid")}
    np.testing.assert_array_equal(table["a", "mid"], [1.0, 2.0])
    values = {("a", s, "mid"): 10.0 + s for s in (0, 1)}
    np.testing.assert_array_equal(minibatch_runs.per_seed(values, "a", "mid", (0, 1)), [10.0, 11.0])
