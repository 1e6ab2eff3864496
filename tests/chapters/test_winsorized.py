"""cgnb.chapters.winsorized (chapter 5) against hand formulas and a numpy sort-and-clip reference."""
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

from cgnb.engine import losses, nets, sweep
from cgnb.chapters import winsorized

matplotlib.use("Agg")

SIZES = (6, 5, 4, 3)


def _batch(n=10, key=1):
    x = jax.random.uniform(jax.random.PRNGKey(key), (n, SIZES[0]))
    y = jax.random.randint(jax.random.PRNGKey(key + 1), (n,), 0, SIZES[-1])
    return x, y


def test_overfit_is_the_papers_formula():
    train_acc, test_acc = np.array([0.9, 1.0]), np.array([0.8, 0.5])
    np.testing.assert_allclose(winsorized.overfit(train_acc, test_acc, 0.5),
                               [0.9 - (0.05 + 0.5 * 0.8), 1.0 - (0.05 + 0.5 * 0.5)])
    # clean data: overfit is the generalization gap; all-random labels: train accuracy minus chance
    assert winsorized.overfit(0.9, 0.7, 0.0) == pytest.approx(0.2)
    assert winsorized.overfit(1.0, 0.3, 1.0) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="noise"):
        winsorized.overfit(1.0, 1.0, 1.5)


def _fake_result(eval_examples=None):
    steps = np.array([0, 10, 20])
    records = {"train_acc": np.array([[0.1, 0.5, 0.7], [0.1, 0.6, 0.9]]),
               "test_acc": np.array([[0.1, 0.4, 0.5], [0.1, 0.5, 0.6]]),
               "pristine_acc": np.zeros((2, 3)), "corrupt_acc": np.zeros((2, 3))}
    pristine = np.array([[True, True, False, False], [True, True, True, False]])
    config = sweep.SweepConfig(sizes=(4, 2), steps=20, record_every=10, method="winsorized", c_max=2,
                               eval_examples=eval_examples)
    return sweep.SweepResult(config, steps, records, np.zeros((2, 4), int), pristine,
                             noise=np.array([0.5, 0.5]), seed=np.array([0, 0]), c=np.array([0, 2]))


def test_curves_select_one_variant_and_its_exact_proper_accuracy():
    result = _fake_result()
    curve = winsorized.curves(result, 0.5, c=2)
    assert curve.c == 2 and curve.noise == 0.5
    assert curve.proper == pytest.approx(0.75)
    np.testing.assert_allclose(curve.overfit, [0.1, 0.6, 0.9] - (0.05 + 0.5 * np.array([0.1, 0.5, 0.6])))
    assert winsorized.excess_over_proper(curve) == pytest.approx(0.15)
    with pytest.raises(ValueError, match="found 2"):
        winsorized.curves(result, 0.5)
    with pytest.raises(ValueError, match="eval_examples"):
        winsorized.curves(_fake_result(eval_examples=2), 0.5, c=0)


def _numpy_winsorized_update(params, x, y, lr, c):
    """Reference: per-example gradients, then a sort per coordinate, clip, mean (numpy)."""
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
            new[name] = np.asarray(layer[name], np.float64) - lr * np.clip(values, lo, hi).mean(axis=0)
        out.append(new)
    return out


def test_one_update_winsorized_matches_sort_and_clip():
    params = nets.init(jax.random.PRNGKey(0), SIZES)
    x, y = _batch()
    for c in (1, 2):  # one compiled program: c is traced
        got = winsorized.one_update(params, x, y, method="winsorized", lr=0.5, c=c, c_max=2)
        want = _numpy_winsorized_update(params, x, y, 0.5, c)
        for g_layer, w_layer in zip(got, want):
            for name in w_layer:
                np.testing.assert_allclose(np.asarray(g_layer[name]), w_layer[name], atol=1e-6)
    plain = winsorized.one_update(params, x, y, method="sgd", lr=0.5)
    assert max(float(jnp.max(jnp.abs(a - b))) for a, b in
               zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(plain))) > 1e-4


def test_update_difference_c0_is_plain_sgd_up_to_rounding():
    params = nets.init(jax.random.PRNGKey(0), SIZES)
    x, y = _batch()
    diff = winsorized.update_difference(params, x, y, lr=0.5, c_max=2)
    assert diff["max_update"] > 1e-3
    assert diff["relative"] <= 1e-5
    assert diff["bitwise"] in (0.0, 1.0)


def test_step_times_times_each_method():
    params = nets.init(jax.random.PRNGKey(0), SIZES)
    x, y = _batch()
    times = winsorized.step_times(params, x, y, lr=0.1, repeats=2, rounds=1, methods={
        "sgd": {"method": "sgd"}, "rm3": {"method": "rm3"},
        "w": {"method": "winsorized", "c": 1, "c_max": 2}})
    assert set(times) == {"sgd", "rm3", "w"} and all(t > 0 for t in times.values())
    # the step program is shared with one_update: compiled once per configuration
    assert winsorized.step_program("sgd", 0.1, 0) is winsorized.step_program("sgd", 0.1, 0)
    with pytest.raises(ValueError, match="unknown step arguments"):
        winsorized.step_times(params, x, y, lr=0.1, methods={"sgd": {"method": "sgd", "cc": 1}})


def test_plots_have_one_panel_per_cell():
    result = _fake_result()
    curve0, curve2 = winsorized.curves(result, 0.5, c=0), winsorized.curves(result, 0.5, c=2)
    fig = winsorized.plot_grid({(0, 0.5): curve0, (2, 0.5): curve2}, [0, 2], [0.5])
    assert len(fig.axes) == 2
    fig = winsorized.plot_methods({"sgd": {0.5: curve0}, "winsorized": {0.5: curve2}}, [0.5])
    assert len(fig.axes) == 3
    fig = winsorized.plot_memorization({(0, 0.5): curve0, (2, 0.5): curve2}, [0, 2], [0.0, 0.5],
                                   extra={"rm3": {0.5: curve0}})
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3


def test_run_winsorized_static_levels_match_the_traced_engine_sweep():
    """One sweep per c with c compiled in gives the engine's traced-c sweep's records."""
    rng = np.random.default_rng(0)
    from cgnb.engine import data as cdata
    ds = cdata.Dataset(rng.uniform(size=(40, SIZES[0])).astype(np.float32), rng.integers(0, 3, 40).astype(np.int32),
                       rng.uniform(size=(20, SIZES[0])).astype(np.float32), rng.integers(0, 3, 20).astype(np.int32),
                       "test", "random")
    variants = sweep.Variants.noise_grid(jax.random.PRNGKey(0), ds.y_train, [0.5], cs=[1, 2])
    config = sweep.SweepConfig(sizes=SIZES, steps=6, record_every=3, batch_size=10, lr=0.5, method="winsorized",
                               c_max=2)
    traced = sweep.run_sweep(config, ds, variants, cache=False, progress=False)
    static = winsorized.run_winsorized(config, ds, variants, cache=False, progress=False)
    assert sorted(static) == [1, 2]
    for c, result in static.items():
        assert result.config.c_max == c and list(result.c) == [c]
        v = int(traced.index(c=c)[0])
        np.testing.assert_allclose(result.train_loss[0], traced.train_loss[v], rtol=1e-5)


def test_static_step_program_matches_traced_one():
    params = nets.init(jax.random.PRNGKey(0), SIZES)
    x, y = _batch()
    init, step = winsorized.step_program("winsorized", 0.5, 2, True)
    got = step(params, init(params, 0), x, y, jnp.int32(0))[0]  # c argument ignored: c = 2 compiled in
    want = _numpy_winsorized_update(params, x, y, 0.5, 2)
    for g_layer, w_layer in zip(got, want):
        for name in w_layer:
            np.testing.assert_allclose(np.asarray(g_layer[name]), w_layer[name], atol=1e-6)
    with pytest.raises(ValueError, match="static"):
        winsorized.step_program("sgd", 0.5, 0, True)


def test_chance_agreement_and_memorization_margin():
    curve = winsorized.curves(_fake_result(), 0.5, c=2)          # proper 0.75, test [0.1, 0.5, 0.6]
    np.testing.assert_allclose(winsorized.chance_agreement(curve), 0.25 * (1 - np.array([0.1, 0.5, 0.6])) / 9)
    expected = np.max(np.array([0.1, 0.6, 0.9]) - 0.75 - 0.25 * (1 - np.array([0.1, 0.5, 0.6])) / 9)
    assert winsorized.memorization_margin(curve) == pytest.approx(expected)
    # a network at proper accuracy plus exactly the chance agreement memorizes nothing: margin 0
    flat = winsorized.Curves(**{**curve.__dict__, "train_acc": 0.75 + winsorized.chance_agreement(curve)})
    assert winsorized.memorization_margin(flat) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="num_classes"):
        winsorized.chance_agreement(curve, num_classes=1)


def test_spread_and_seed_curves():
    assert winsorized.spread([0.1, 0.4, 0.2]) == pytest.approx((0.7 / 3, 0.3))
    assert winsorized.spread([0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError, match="non-empty"):
        winsorized.spread([])
    runs = winsorized.seed_curves(_fake_result(), 0.5, c=2)
    assert len(runs) == 1 and runs[0].c == 2
    with pytest.raises(ValueError, match="no variant"):
        winsorized.seed_curves(_fake_result(), 0.25)


def test_seeded_grid_gives_all_seeds_only_at_claim_levels():
    y = np.arange(40) % 10
    v = winsorized.seeded_grid(jax.random.PRNGKey(0), y, [0.0, 0.5, 1.0], seeds=[0, 1, 2], claim_levels=[0.5],
                               cs=[1, 4])
    assert len(v) == (1 + 3 + 1) * 2
    assert sorted(set(v.seed[v.noise == 0.5])) == [0, 1, 2] and set(v.seed[v.noise != 0.5]) == {0}
    # a (noise, seed) cell has the labels noise_grid gives it, whatever else is in the grid
    alone = sweep.Variants.noise_grid(jax.random.PRNGKey(0), y, [0.5], seeds=[1])
    np.testing.assert_array_equal(v.labels[(v.noise == 0.5) & (v.seed == 1)][0], alone.labels[0])
    with pytest.raises(ValueError, match="claim_levels"):
        winsorized.seeded_grid(jax.random.PRNGKey(0), y, [0.0], seeds=[0], claim_levels=[0.5])


def test_grid_plot_draws_seed_bands():
    result = _fake_result()
    cell = [winsorized.curves(result, 0.5, c=0), winsorized.curves(result, 0.5, c=2)]
    fig = winsorized.plot_grid({(0, 0.5): cell}, [0], [0.5])
    assert len(fig.axes[0].collections) == 3                  # a band for train, test and overfit
    assert "2 seeds" in fig.axes[0].get_title()
