"""Tests of cgnb.engine.winsorize.outer: the winsorized mean of an MLP's factored per-example gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import winsorize
from cgnb.engine.winsorize import kernel, outer

from mlp_problems import mlp_problem, xent
from winsorize_reference import factors, generic_grads, sort_winsorize, tree_max_abs_diff


def outer_mean(f, c, c_max=None, method=None):
    return winsorize.winsorize_outer(f.inputs, f.deltas, c, c_max, method)


@pytest.mark.parametrize("sizes", [(6, 5, 4, 3), (40, 300, 3)])
def test_outer_equals_the_materialised_gradients(sizes):
    params, x, y = mlp_problem(sizes, batch=9)
    per_example = generic_grads(params, x, y)
    f = factors(params, x, y)
    for c in (1, 4):
        got = jax.jit(outer_mean, static_argnums=1)(f, c)
        want = jax.tree_util.tree_map(lambda g: sort_winsorize(g, c), per_example)
        assert tree_max_abs_diff(got, want) < 1e-6


def test_outer_traced_c_and_c0():
    params, x, y = mlp_problem(batch=9)
    per_example = generic_grads(params, x, y)
    f = factors(params, x, y)
    got = jax.jit(jax.vmap(lambda c: outer_mean(f, c, c_max=2)))(jnp.array([0, 1, 2]))
    for row, c in enumerate([0, 1, 2]):
        want = jax.tree_util.tree_map(lambda g: sort_winsorize(g, c), per_example)
        assert tree_max_abs_diff(jax.tree_util.tree_map(lambda l: l[row], got), want) < 1e-6
    plain = jax.jit(jax.grad(lambda p: jnp.mean(xent(p, x, y))))(params)
    assert tree_max_abs_diff(outer_mean(f, 0), plain) < 1e-6


@pytest.mark.parametrize("c", [4, 5])
def test_default_at_batch_128_compiles_and_is_exact(c):
    """B = 128: c = 4 runs the insertion network, c = 5 the sorting network (the insertion network at
    c = 5 compiles for minutes on XLA:CPU, so a wrong choice here hangs the test rather than passing it)."""
    params, x, y = mlp_problem((30, 20, 3), batch=128)
    got = jax.jit(outer_mean, static_argnums=1)(factors(params, x, y), c)
    per_example = generic_grads(params, x, y)
    for leaf_got, leaf in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(per_example)):
        np.testing.assert_allclose(np.asarray(leaf_got), sort_winsorize(leaf, c), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["sorting", "bisect", "sort"])
def test_large_c_and_forced_methods(method):
    params, x, y = mlp_problem((40, 300, 3), batch=21)
    per_example = generic_grads(params, x, y)
    f = factors(params, x, y)
    got = jax.jit(jax.vmap(lambda c: outer_mean(f, c, c_max=10, method=method)))(jnp.array([0, 3, 10]))
    for row, c in enumerate([0, 3, 10]):
        want = jax.tree_util.tree_map(lambda g: sort_winsorize(g, c), per_example)
        assert tree_max_abs_diff(jax.tree_util.tree_map(lambda l: l[row], got), want) < 1e-6


@pytest.mark.parametrize("sizes,batch,c_max", [((40, 300, 3), 21, 10), ((30, 20, 3), 100, 4)])
def test_sorting_network_every_level_static_and_traced(sizes, batch, c_max):
    """The default beyond the insertion network: static c, a single traced c up to (B-1)/2 (one program,
    called at every level checked), and c vmapped with the variants' own factors up to c_max."""
    params, x, y = mlp_problem(sizes, batch=batch)
    per_example = generic_grads(params, x, y)
    f = factors(params, x, y)
    top = (batch - 1) // 2
    every_level = jax.jit(lambda c: outer_mean(f, c, c_max=top))
    stacked = jax.tree_util.tree_map(lambda leaf: jnp.stack([leaf] * 3), f)
    vmapped = [0, 3, c_max]
    traced = jax.jit(jax.vmap(lambda g, c: outer_mean(g, c, c_max=c_max)))(stacked, jnp.array(vmapped))
    for c in (0, 3, 8, top):
        want = jax.tree_util.tree_map(lambda g: sort_winsorize(g, c), per_example)
        if c:
            assert tree_max_abs_diff(jax.jit(outer_mean, static_argnums=1)(f, c), want) < 1e-6
        assert tree_max_abs_diff(every_level(c), want) < 1e-6
        if c in vmapped:
            assert tree_max_abs_diff(jax.tree_util.tree_map(lambda l: l[vmapped.index(c)], traced), want) < 1e-6


def test_network_kernel_is_computed_once_for_two_consumers():
    """A winsorized gradient read twice (parameter update and a norm) is one kernel: XLA does not
    fuse a copy of it into each consumer, nor into each layer's update (the min/max count of the
    compiled program neither doubles with a second consumer nor grows with the layers)."""
    def min_max_ops(sizes, with_norm):
        params, x, y = mlp_problem(sizes, batch=12)

        def step(f):
            g = outer_mean(f, 2)
            new = [jax.tree_util.tree_map(lambda w, u: w - 0.1 * u, p, u) for p, u in zip(params, g)]
            return (new, sum(jnp.sum(leaf ** 2) for leaf in jax.tree_util.tree_leaves(g))) if with_norm else new

        text = jax.jit(step).lower(factors(params, x, y)).compile().as_text()
        return text.count(" maximum(") + text.count(" minimum(")

    once, twice = min_max_ops((60, 50, 40, 3), False), min_max_ops((60, 50, 40, 3), True)
    assert once >= 2 * 2 * 12  # the network is there: ~4 c min/max per example (fewer for the first ones)
    assert twice < 1.5 * once, (once, twice)
    assert min_max_ops((20, 3), False) == once  # one copy, whatever the number of layers


def test_tile_plan_covers_every_layer_once():
    """Every (d_in + 1) x d_out gradient is covered by whole tiles, narrow layers transposed."""
    params, x, y = mlp_problem((40, 300, 3), batch=5)
    f = factors(params, x, y)
    plan = outer.tile_plan(f.inputs, f.deltas, outer.MLP_TILE_ROWS, outer.MLP_TILE_COLS)
    assert len(plan.layers) == 2 and len(plan.left_index) == len(plan.right_index)
    first, nr, nc, rows, cols, transposed = plan.layers[1]
    assert transposed and (rows, cols) == (3, 301)  # 301 x 3 laid out as 3 x 301: fewer padded tiles
    assert first + nr * nc == len(plan.left_index)


@pytest.mark.parametrize("one_program", [True, False])
def test_map_tiles_summing_every_tile_gives_the_mean_gradient(one_program):
    """The tiles' values summed in example order, assembled back into layers: the mean of the per-example
    gradients (the benchmark's floor of the kernel's loop nest computes this)."""
    params, x, y = mlp_problem((40, 300, 3), batch=7)
    f = factors(params, x, y)

    def tiles_summed(f):
        plan = outer.tile_plan(f.inputs, f.deltas, outer.MLP_TILE_ROWS, outer.MLP_TILE_COLS)
        return outer.map_tiles(plan, lambda example, _block: kernel.mean_in_order(example, 7), one_program)

    got = jax.jit(tiles_summed)(f)
    want = jax.tree_util.tree_map(lambda g: jnp.mean(g, axis=0), generic_grads(params, x, y))
    assert tree_max_abs_diff(got, want) < 1e-6


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="one \\(inputs, deltas\\) pair per dense layer"):
        winsorize.winsorize_outer([], [], 1)
    with pytest.raises(ValueError, match="0 <= c < B/2"):
        winsorize.winsorize_outer([jnp.zeros((4, 2))], [jnp.zeros((4, 3))], 2)
