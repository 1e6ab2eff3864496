"""Tests of cgnb.engine.sweep.records: one record of one variant, first_learned, the statistics registry."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import sweep
from cgnb.engine.sweep import records


def identity_model():
    """A linear 2-class model predicting argmax(x)."""
    return [{"w": jnp.eye(2), "b": jnp.zeros(2)}]


def test_measure_a_hand_made_case():
    # examples 0..5: predictions argmax(x) = 0 0 1 1 0 1
    x = jnp.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0], [0, 1]], jnp.float32)
    y_true = jnp.array([0, 0, 1, 1, 1, 0], jnp.int32)
    labels = jnp.array([0, 1, 1, 0, 0, 0], jnp.int32)  # noisy: examples 1, 3, 4 changed
    pristine = labels == y_true  # T F T F F T
    arrays = sweep.Arrays(x, y_true, x[:4], y_true[:4])
    variant = sweep.VariantArrays(labels, pristine, jnp.int32(0), jnp.zeros((0, 6), bool))
    record, correct = jax.jit(lambda *a: records.measure(*a, records=sweep.RecordsConfig(eval_batch=4)))(
        identity_model(), variant, arrays)
    # correct w.r.t. noisy labels: T F T F T F
    np.testing.assert_array_equal(correct, [True, False, True, False, True, False])
    assert record["train_acc"] == pytest.approx(3 / 6)
    assert record["pristine_acc"] == pytest.approx(2 / 3)  # examples 0, 2 of 0, 2, 5
    assert record["corrupt_acc"] == pytest.approx(1 / 3)  # example 4 of 1, 3, 4 (memorised)
    assert record["corrupt_true_acc"] == pytest.approx(2 / 3)  # examples 1, 3 predict their clean labels
    assert record["test_acc"] == pytest.approx(1.0)
    # newly correct examples get the step; earlier firsts stay even when now wrong (example 5)
    first = records.learned(jnp.array([-1, 2, -1, -1, -1, 4]), correct, jnp.int32(7))
    np.testing.assert_array_equal(first, [7, 2, 7, -1, 7, 4])


def test_group_accuracy_of_an_empty_group_is_nan():
    x = jnp.eye(2, dtype=jnp.float32)
    y = jnp.array([0, 1], jnp.int32)
    variant = sweep.VariantArrays(y, jnp.ones(2, bool), jnp.int32(0), jnp.zeros((0, 2), bool))
    record, _ = records.measure(identity_model(), variant, sweep.Arrays(x, y, x, y), sweep.RecordsConfig())
    assert record["pristine_acc"] == 1.0 and np.isnan(record["corrupt_acc"])


def test_first_learned_record_by_record():
    correct = jnp.array([[False, True, False], [True, False, False], [True, True, False]])
    first = records.update_first_learned(jnp.array([-1, -1, 5]), correct, jnp.array([10, 20, 30]))
    np.testing.assert_array_equal(first, [20, 10, 5])


def test_statistics_registry_and_subset_sizes():
    assert set(sweep.STATISTICS) == {"alphas", "coherence", "model", "contributions"}
    assert [s for s, stat in sweep.STATISTICS.items() if stat.uses_null_masks] == ["alphas"]
    assert sweep.RecordsConfig(stats=("alphas",), n_null=2).draws_null_masks
    assert not sweep.RecordsConfig(stats=("alphas",), n_null=0).draws_null_masks
    assert not sweep.RecordsConfig(stats=("coherence",)).draws_null_masks
    assert sweep.RecordsConfig(stats="coherence").stats == ("coherence",)
    arrays = sweep.Arrays(jnp.zeros((50, 2)), jnp.zeros(50), jnp.zeros((7, 2)), jnp.zeros(7))
    assert sweep.RecordsConfig(stats_examples=400).subset_sizes(arrays) == (50, 7, 50)
    assert sweep.RecordsConfig(eval_examples=10, test_examples=3).subset_sizes(arrays) == (10, 3, 50)


def test_model_statistic_by_hand():
    # hidden layer: unit 0 = relu(x0 - x1), unit 1 = relu(-x0 - x1 - 1) never fires on x >= 0
    params = [{"w": jnp.array([[1.0, -1.0], [-1.0, -1.0]]), "b": jnp.array([0.0, -1.0])},
              {"w": jnp.array([[2.0, 0.0], [0.0, 3.0]]), "b": jnp.zeros(2)}]
    x = jnp.array([[1.0, 0.0], [3.0, 1.0], [0.0, 2.0]])
    out = records.STATISTICS["model"].compute(params, x, None, None, None)
    np.testing.assert_allclose(out["weight_norm"], [2.0, np.sqrt(13.0)], rtol=1e-6)
    # hidden unit 0: 1, 2, 0 -> logits (2, 0), (4, 0), (0, 0): spreads 2, 4, 0
    assert float(out["logit_spread"]) == pytest.approx(2.0)
    np.testing.assert_allclose(out["dead_units"], [0.5])


def toy_task(seed: int, noise: float):
    """60 training examples of a linearly separable toy task and its variants at ``noise``, seeds 0 and 1."""
    from cgnb.engine import data
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    ds = data.Dataset(x, y, x[:20], y[:20], source="toy", description="toy")
    return ds, sweep.Variants.noise_grid(jax.random.PRNGKey(0), ds.y_train, [noise], seeds=[0, 1])


def test_a_sweep_records_the_model_statistic_per_variant():
    ds, variants = toy_task(0, 0.0)
    config = sweep.SweepConfig(sizes=(5, 8, 6, 2), steps=20, batch_size=10, record_every=10, stats=("model",),
                               stats_examples=30)
    result = sweep.run_sweep(config, ds, variants, cache=False, progress=False)
    assert result.records["weight_norm"].shape == (2, 3, 3)
    assert result.records["dead_units"].shape == (2, 3, 2) and result.records["logit_spread"].shape == (2, 3)
    assert np.all((result.records["dead_units"] >= 0) & (result.records["dead_units"] <= 1))


def test_a_sweep_records_each_examples_contribution_and_it_gives_the_alphas():
    ds, variants = toy_task(1, 0.5)
    config = sweep.SweepConfig(sizes=(5, 8, 2), steps=20, batch_size=10, record_every=10,
                               stats=("alphas", "contributions"), stats_examples=30, n_null=0)
    result = sweep.run_sweep(config, ds, variants, cache=False, progress=False)
    c = result.records["contribution"]
    assert c.shape == (2, 3, 30)
    pristine = variants.pristine[:, None, :30]
    np.testing.assert_allclose((c * pristine).sum(-1) / c.sum(-1), result.records["alpha_p"], rtol=1e-3)
