"""Tests of cgnb.chapters.winsorized_sgd.updates against a numpy sort-and-clip reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import losses, nets
from cgnb.chapters.winsorized_sgd import updates

from .problems import SIZES, batch


def _numpy_winsorized_update(params, x, y, lr, c):
    """Reference: per-example gradients by vmap of grad, then a sort per coordinate, clip, mean (numpy);
    the update, -lr times that mean."""
    def single(p, xi, yi):
        return losses.cross_entropy(nets.forward(p, xi[None]), yi[None])[0]

    grads = jax.vmap(jax.grad(single), in_axes=(None, 0, 0))(params, x, y)
    out = []
    for layer, g in zip(params, grads):
        new = {}
        for name in layer:
            values = np.asarray(g[name], np.float64)
            ordered = np.sort(values, axis=0)
            lo, hi = ordered[c], ordered[len(values) - 1 - c]
            new[name] = -lr * np.clip(values, lo, hi).mean(axis=0)
        out.append(new)
    return out


def test_one_update_winsorized_matches_sort_and_clip():
    params = nets.init(jax.random.PRNGKey(0), SIZES)
    x, y = batch()
    for c in (1, 2):  # one compiled program: c is traced
        got = updates.one_update(params, x, y, method="winsorized", lr=0.5, c=c, c_max=2)
        want = _numpy_winsorized_update(params, x, y, 0.5, c)
        for g_layer, w_layer in zip(got, want):
            for name in w_layer:
                np.testing.assert_allclose(np.asarray(g_layer[name]), w_layer[name], atol=1e-6)
    plain = updates.one_update(params, x, y, method="sgd", lr=0.5)
    assert max(float(jnp.max(jnp.abs(a - b))) for a, b in
               zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(plain))) > 1e-4


def test_update_difference_c0_is_plain_sgd_up_to_rounding():
    params = nets.init(jax.random.PRNGKey(0), SIZES)
    x, y = batch()
    diff = updates.update_difference(params, x, y, lr=0.5, c_max=2)
    assert diff["max_update"] > 1e-3
    assert diff["relative"] <= 1e-5
    assert diff["bitwise"] in (0.0, 1.0)


def test_step_times_times_each_method():
    params = nets.init(jax.random.PRNGKey(0), SIZES)
    x, y = batch()
    times = updates.step_times(params, x, y, lr=0.1, repeats=2, rounds=1, methods={
        "sgd": {"method": "sgd"}, "rm3": {"method": "rm3"},
        "w": {"method": "winsorized", "c": 1, "c_max": 2}})
    assert set(times) == {"sgd", "rm3", "w"} and all(t > 0 for t in times.values())
    # the step program is shared with one_update: compiled once per configuration
    assert updates.step_program("sgd", 0.1, 0) is updates.step_program("sgd", 0.1, 0)
    with pytest.raises(ValueError, match="unknown step arguments"):
        updates.step_times(params, x, y, lr=0.1, methods={"sgd": {"method": "sgd", "cc": 1}})


def test_static_step_program_matches_traced_one():
    params = nets.init(jax.random.PRNGKey(0), SIZES)
    x, y = batch()
    init, step = updates.step_program("winsorized", 0.5, 2, True)
    got = step(params, init(params, 0), x, y, jnp.int32(0))[0]  # c argument ignored: c = 2 compiled in
    want = _numpy_winsorized_update(params, x, y, 0.5, 2)
    for g_layer, w_layer, p_layer in zip(got, want, params):
        for name in w_layer:
            np.testing.assert_allclose(np.asarray(g_layer[name]) - np.asarray(p_layer[name]), w_layer[name],
                                       atol=1e-6)
    with pytest.raises(ValueError, match="static"):
        updates.step_program("sgd", 0.5, 0, True)
    with pytest.raises(ValueError, match="static"):
        updates.update_program("rm3", 0.5, 0, True)


def test_sort_and_clip_is_the_papers_definition_and_the_engine_matches_it():
    values = np.array([[5.0, -1.0], [1.0, 0.0], [2.0, 9.0], [-7.0, 1.0], [3.0, 2.0]])
    # c = 1: column 0 clipped to [1, 3] -> (3 + 1 + 2 + 1 + 3) / 5; column 1 to [0, 2] -> (0 + 0 + 2 + 1 + 2) / 5
    np.testing.assert_allclose(updates.sort_and_clip(values, 1), [2.0, 1.0])
    np.testing.assert_allclose(updates.sort_and_clip(values, 0), values.mean(axis=0))
    with pytest.raises(ValueError, match="c must be"):
        updates.sort_and_clip(values, 3)
    params = nets.init(jax.random.PRNGKey(0), SIZES)
    x, y = batch()
    assert updates.sort_and_clip_gap(params, x, y, lr=0.5, c=2) <= 1e-6
    # a wrong level is caught: the engine's c = 1 update is not the c = 2 reference
    wrong = updates.one_update(params, x, y, method="winsorized", lr=0.5, c=1, static=True)
    want = _numpy_winsorized_update(params, x, y, 0.5, 2)
    assert max(float(np.max(np.abs(np.asarray(g[k]) - w[k]))) for g, w in zip(wrong, want) for k in w) > 1e-4
