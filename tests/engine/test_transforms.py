"""Tests of cgnb.engine.transforms with hand-computable answers (in the style of optax's
contrib/_privacy_test.py: example i's per-example gradients are full of one value v_i)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.engine import pergrad, transforms

BATCH = 8
PARAMS = {"key_a": (jnp.zeros((2, 3, 4)), jnp.zeros([])), "key_b": jnp.zeros((6, 7))}
VALUES = jnp.arange(BATCH, dtype=jnp.float32) ** 2  # v_i = i^2: 0, 1, 4, ..., 49 (asymmetric)
# c-winsorized mean of 0, 1, 4, 9, 16, 25, 36, 49: clip to [v_c, v_{7-c}], then average
EXPECTED = {0: 140 / 8, 1: (1 + 1 + 4 + 9 + 16 + 25 + 36 + 36) / 8, 2: (3 * 4 + 9 + 16 + 3 * 25) / 8,
            3: (4 * 9 + 4 * 16) / 8}


def per_example_tree():
    """Example i's gradient is v_i in every coordinate of every leaf (leading axis B)."""
    return jax.tree_util.tree_map(
        lambda p: jnp.moveaxis(VALUES * jnp.ones(p.shape + (BATCH,)), -1, 0), PARAMS)


def filled(value, tree=PARAMS):
    return jax.tree_util.tree_map(lambda p: jnp.full(p.shape, value, jnp.float32), tree)


def assert_trees_equal(got, want, rtol=0.0):
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for u, v in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol)


def test_c0_recovers_the_mean():
    tx = transforms.winsorized_mean(0)
    state = tx.init(PARAMS)
    assert isinstance(state, optax.EmptyState)
    update = jax.jit(tx.update)
    for _ in range(3):
        updates, state = update(per_example_tree(), state)
        assert_trees_equal(updates, jax.tree_util.tree_map(lambda g: g.mean(0), per_example_tree()))


@pytest.mark.parametrize("c", [1, 2, 3])
def test_winsorized_mean_first_in_a_chain(c):
    tx = optax.chain(transforms.winsorized_mean(c), optax.sgd(0.5))
    state = tx.init(PARAMS)
    update = jax.jit(tx.update)
    for _ in range(3):
        updates, state = update(per_example_tree(), state, PARAMS)
        assert_trees_equal(updates, filled(-0.5 * EXPECTED[c]))


def test_traced_c_under_vmap():
    run = jax.jit(jax.vmap(lambda c: transforms.winsorized_mean(c, 3).update(per_example_tree(),
                                                                             optax.EmptyState())[0]))
    got = run(jnp.arange(4))
    for c in range(4):
        assert_trees_equal(jax.tree_util.tree_map(lambda l: l[c], got), filled(EXPECTED[c]), rtol=1e-7)


@pytest.mark.parametrize("c", [0, 1, 3])
def test_mlp_factors_take_the_fast_path(c):
    """One dense layer with inputs 1 and deltas v_i: grad w = grad b = v_i for example i."""
    f = pergrad.MLPFactors(inputs=[jnp.ones((BATCH, 2))], deltas=[jnp.broadcast_to(VALUES[:, None], (BATCH, 3))],
                           losses=jnp.zeros(BATCH))
    params = [{"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}]
    tx = optax.chain(transforms.winsorized_mean(c), optax.sgd(0.5))
    updates, _ = jax.jit(tx.update)(f, tx.init(params), params)
    assert_trees_equal(updates, filled(-0.5 * EXPECTED[c], params))


@pytest.mark.parametrize("c", [0, 2])
def test_materialised_per_example_gradients_are_the_pytree(c):
    """A pergrad.Materialised (the generic "per_example" rule's output) winsorizes like its pytree."""
    tx = transforms.winsorized_mean(c)
    wrapped = jax.jit(tx.update)(pergrad.Materialised(per_example_tree()), optax.EmptyState())[0]
    assert_trees_equal(wrapped, jax.jit(tx.update)(per_example_tree(), optax.EmptyState())[0], rtol=0)


def test_rm3_is_the_median_of_the_last_three_gradients():
    rng = np.random.default_rng(3)
    grads = [{"w": rng.normal(size=(3, 2)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}
             for _ in range(6)]
    tx = transforms.rm3()
    state = tx.init(jax.tree_util.tree_map(jnp.zeros_like, grads[0]))
    update = jax.jit(tx.update)
    for t, g in enumerate(grads):
        got, state = update(jax.tree_util.tree_map(jnp.asarray, g), state)
        for name in g:
            if t < 2:  # missing gradients are the current one: plain SGD updates
                want = g[name]
            else:
                want = np.median(np.stack([grads[t][name], grads[t - 1][name], grads[t - 2][name]]), axis=0)
            np.testing.assert_array_equal(np.asarray(got[name]), want)


def test_rm3_first_in_a_chain():
    """Gradients 1, 5, 2, 9, 3 (all coordinates): updates -lr * (1, 5, 2, 5, 3)."""
    tx = optax.chain(transforms.rm3(), optax.sgd(0.5))
    state = tx.init(PARAMS)
    update = jax.jit(tx.update)
    for g, want in zip([1.0, 5.0, 2.0, 9.0, 3.0], [1.0, 5.0, 2.0, 5.0, 3.0]):
        updates, state = update(filled(g), state, PARAMS)
        assert_trees_equal(updates, filled(-0.5 * want))


def test_median3_without_sort_matches_numpy_with_ties():
    rng = np.random.default_rng(4)
    a, b, c = (rng.integers(0, 3, 200).astype(np.float32) for _ in range(3))
    np.testing.assert_array_equal(transforms.median3(a, b, c), np.median(np.stack([a, b, c]), axis=0))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="c_max must be a Python int"):
        jax.jit(lambda m: transforms.winsorized_mean(1, c_max=m))(2)
    with pytest.raises(ValueError, match="c must be an integer"):
        transforms.winsorized_mean(1.5)
    with pytest.raises(ValueError, match="same leading batch axis"):
        transforms.winsorized_mean(1).update({"a": jnp.zeros((4, 2)), "b": jnp.zeros((5,))}, optax.EmptyState())
    with pytest.raises(ValueError, match="0 <= c < B/2"):
        transforms.winsorized_mean(4).update(per_example_tree(), optax.EmptyState())
