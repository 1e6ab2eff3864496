"""Tests of cgnb.engine.sweep.run: scanned sweeps against plain loops, vmap, cache, resume, records, errors."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cgnb.engine import pergrad, sampler, store, sweep, transforms

from sweep_reference import B, N, assert_results_equal, config, grid, numpy_accuracy, per_example_loss, reference_sgd


@pytest.mark.parametrize("sampling", ["epochs", "uniform"])
def test_scanned_sgd_equals_python_loop(tiny, sampling):
    cfg = config(sampling=sampling)
    variants = grid(tiny)[2:3]  # noise 0.5, seed 0
    result = sweep.run_sweep(cfg, tiny, variants, cache=False, progress=False)
    history = reference_sgd(tiny, variants.labels[0], 0, cfg)
    for got, want in zip(jax.tree_util.tree_leaves(result.params), jax.tree_util.tree_leaves(history[-1])):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.steps, [0, 3, 6, 9, 12])
    want_train = [numpy_accuracy(p, tiny.x_train, variants.labels[0]) for p in history]
    want_test = [numpy_accuracy(p, tiny.x_test, tiny.y_test) for p in history]
    np.testing.assert_allclose(result.train_acc[0], want_train, atol=1e-6)
    np.testing.assert_allclose(result.test_acc[0], want_test, atol=1e-6)
    assert result.train_loss.shape == (1, 5)


@pytest.mark.parametrize("method", ["rm3", "winsorized"])
def test_scanned_transform_methods_equal_python_loop(tiny, method):
    """The scan threads the optimizer state like a loop over the engine's own transforms."""
    cfg = config(method=method, c_max=1 if method == "winsorized" else 0, steps=6, chunk_steps=3)
    variants = grid(tiny, noise=(0.25,), seeds=(2,), cs=(1,) if method == "winsorized" else (0,))
    result = sweep.run_sweep(cfg, tiny, variants, cache=False, progress=False)

    if method == "winsorized":
        tx = optax.chain(transforms.winsorized_mean(1, 1), optax.sgd(cfg.lr))
    else:
        tx = optax.chain(transforms.rm3(), optax.sgd(cfg.lr))
    @jax.jit
    def step(params, state, x, y):
        if method == "winsorized":
            g = pergrad.per_example_grads(per_example_loss, params, x, y)
        else:
            g = jax.grad(lambda p: jnp.mean(per_example_loss(p, x, y)))(params)
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    params = sweep.init_params(2, cfg)
    state = tx.init(params)
    for t in range(cfg.steps):
        batch = sampler.batch_indices(2, t, 1, N, B)[0]
        params, state = step(params, state, tiny.x_train[batch], variants.labels[0][batch])
    for got, want in zip(jax.tree_util.tree_leaves(result.params), jax.tree_util.tree_leaves(params)):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)


def test_winsorized_c0_equals_sgd_and_c_is_traced_or_compiled_in(tiny):
    variants = grid(tiny, noise=(0.5,), seeds=(0,), cs=(0, 2))
    wins = sweep.run_sweep(config(method="winsorized", c_max=2), tiny, variants, cache=False, progress=False)
    sgd = sweep.run_sweep(config(), tiny, variants[:1], cache=False, progress=False)
    np.testing.assert_allclose(wins.train_loss[0], sgd.train_loss[0], rtol=1e-5)
    assert not np.allclose(wins.train_loss[1], wins.train_loss[0])  # c=2 really clips
    static = sweep.run_sweep(config(method="winsorized", c_max=2), tiny, variants[1:], cache=False, progress=False)
    np.testing.assert_allclose(static.train_loss[0], wins.train_loss[1], rtol=1e-5)  # c compiled in = c traced


def test_vmapped_sweep_equals_each_variant_alone(tiny):
    cfg = config()
    variants = grid(tiny)
    together = sweep.run_sweep(cfg, tiny, variants, cache=False, progress=False)
    assert together.train_acc.shape == (4, 5) and together.first_learned.shape == (4, N)
    for i in range(len(variants)):
        alone = sweep.run_sweep(cfg, tiny, variants[i], cache=False, progress=False)
        for k in together.records:
            np.testing.assert_allclose(together.records[k][i], alone.records[k][0], rtol=2e-5, atol=2e-6)
        np.testing.assert_array_equal(together.first_learned[i], alone.first_learned[0])
    # seeds change the run, noise changes the labels
    assert not np.allclose(together.train_loss[0], together.train_loss[1])
    assert not np.array_equal(variants.labels[0], variants.labels[2])


def test_same_seed_is_bit_identical(tiny):
    cfg, variants = config(), grid(tiny)
    assert_results_equal(sweep.run_sweep(cfg, tiny, variants, cache=False, progress=False),
                         sweep.run_sweep(cfg, tiny, variants, cache=False, progress=False))


def test_records_at_step_zero_are_the_initial_model(tiny):
    cfg, variants = config(), grid(tiny)
    result = sweep.run_sweep(cfg, tiny, variants, cache=False, progress=False)
    for i, seed in enumerate(variants.seed):
        init = sweep.init_params(int(seed), cfg)
        assert result.train_acc[i, 0] == pytest.approx(numpy_accuracy(init, tiny.x_train, variants.labels[i]))
        assert result.test_acc[i, 0] == pytest.approx(numpy_accuracy(init, tiny.x_test, tiny.y_test))


# ---------------------------------------------------------------------------- records


def test_first_learned_in_a_sweep(tiny):
    result = sweep.run_sweep(config(), tiny, grid(tiny), cache=False, progress=False)
    first = result.first_learned
    assert first.shape == (4, N) and result.pristine.shape == (4, N)
    assert set(np.unique(first)) <= {-1, *result.steps.tolist()}
    # everything correct now has been learned by now
    for r, step in enumerate(result.steps):
        learned_by = np.mean((first >= 0) & (first <= step), axis=1)
        assert np.all(learned_by >= result.train_acc[:, r] - 1e-6)


def test_gradient_statistics_and_evaluation_subsets(tiny):
    cfg = config(stats=("alphas", "coherence"), n_null=2, stats_examples=32, eval_examples=40, test_examples=10)
    variants = grid(tiny, noise=(0.5,), seeds=(0, 1))
    result = sweep.run_sweep(cfg, tiny, variants, cache=False, progress=False)
    assert result.first_learned.shape == (2, 40) and result.pristine.shape == (2, 40)
    np.testing.assert_array_equal(result.pristine, variants.pristine[:, :40])
    final = [{k: v[i] for k, v in layer.items()} for layer in result.params for i in (0,)]
    assert result.train_acc[0, -1] == pytest.approx(numpy_accuracy(final, tiny.x_train[:40], variants.labels[0, :40]))
    assert result.test_acc[0, -1] == pytest.approx(numpy_accuracy(final, tiny.x_test[:10], tiny.y_test[:10]))
    assert result.alpha_p.shape == (2, 5) and result.null_alpha_p.shape == (2, 5, 2)
    np.testing.assert_allclose(result.n_p, variants.pristine[:, None, :32].sum(-1).repeat(5, 1))
    np.testing.assert_allclose(result.alpha_p + result.alpha_c, 1.0, atol=1e-4)
    np.testing.assert_allclose(result.null_alpha_p + result.null_alpha_c, 1.0, atol=1e-4)
    assert np.all((result.coherence > 0) & (result.coherence <= 1 + 1e-5))
    masks = np.asarray(sweep.variant_inputs(cfg, variants).null_masks)  # (V, n_null, S)
    assert masks.shape == (2, 2, 32)
    np.testing.assert_array_equal(masks.sum(-1), variants.pristine[:, :32].sum(-1, keepdims=True).repeat(2, 1))
    assert not np.array_equal(masks[0, 0], variants.pristine[0, :32])


# ---------------------------------------------------------------------------- cache and resume


def test_cache_hit_does_not_train(tiny):
    cfg, variants = config(), grid(tiny)
    first = sweep.run_sweep(cfg, tiny, variants, progress=False)
    assert not first.from_cache and first.chunks_run == cfg.num_chunks == 2
    again = sweep.run_sweep(cfg, tiny, variants, progress=False)
    assert again.from_cache and again.chunks_run == 0
    assert_results_equal(first, again)
    np.testing.assert_array_equal(again.noise, variants.noise)
    # other variants (or data, or config: see test_key_hashes_data_and_variants) are another entry
    other = sweep.run_sweep(cfg, tiny, grid(tiny, seeds=(2, 3)), progress=False)
    assert not other.from_cache and other.chunks_run == 2


def test_no_cache_env_disables_cache(tiny, monkeypatch):
    cfg, variants = config(), grid(tiny)
    sweep.run_sweep(cfg, tiny, variants, progress=False)
    monkeypatch.setenv("CGNB_NO_CACHE", "1")
    assert not sweep.run_sweep(cfg, tiny, variants, progress=False).from_cache


def test_key_hashes_data_and_variants(tiny):
    cfg, variants = config(), grid(tiny)
    key = sweep.sweep_key(cfg, tiny, variants)
    x = tiny.x_train.copy()
    x[0, 0] += 1
    import dataclasses
    assert sweep.sweep_key(cfg, dataclasses.replace(tiny, x_train=x), variants) != key
    assert sweep.sweep_key(cfg, tiny, variants[:3]) != key
    assert sweep.sweep_key(config(n_null=4), tiny, variants) != key
    assert sweep.sweep_key(cfg, tiny, grid(tiny)) == key


def test_interrupted_sweep_resumes_from_last_chunk(tiny):
    cfg = config(steps=18)  # 3 chunks of 6 steps
    variants = grid(tiny)
    uninterrupted = sweep.run_sweep(cfg, tiny, variants, cache=False, progress=False)
    calls = []

    def stop_after_first(done, total):
        calls.append(done)
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(cfg, tiny, variants, progress=False, on_chunk=stop_after_first)
    key = sweep.sweep_key(cfg, tiny, variants)
    assert (Path(os.environ["CGNB_CACHE_DIR"]) / "train" / key / "checkpoint.npz").is_file()
    resumed = sweep.run_sweep(cfg, tiny, variants, progress=False, on_chunk=lambda d, t: calls.append(d))
    assert calls == [1, 2, 3] and resumed.chunks_run == 2 and not resumed.from_cache
    assert_results_equal(resumed, uninterrupted)
    assert not (Path(os.environ["CGNB_CACHE_DIR"]) / "train" / key / "checkpoint.npz").exists()


def spoil(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"garbage" * 50}[how])


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage"])
def test_corrupt_checkpoint_warns_and_restarts(tiny, how):
    cfg, variants = config(steps=18), grid(tiny)
    uninterrupted = sweep.run_sweep(cfg, tiny, variants, cache=False, progress=False)

    def stop(done, total):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(cfg, tiny, variants, progress=False, on_chunk=stop)
    folder = Path(os.environ["CGNB_CACHE_DIR"]) / "train" / sweep.sweep_key(cfg, tiny, variants)
    spoil(folder / "checkpoint.npz", how)
    with pytest.warns(RuntimeWarning, match="checkpoint.npz"):
        again = sweep.run_sweep(cfg, tiny, variants, progress=False)
    assert again.chunks_run == cfg.num_chunks and len(list(folder.glob("checkpoint.npz.corrupt-*"))) == 1
    assert_results_equal(again, uninterrupted)


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage"])
def test_corrupt_result_warns_and_recomputes(tiny, how):
    cfg, variants = config(), grid(tiny)
    first = sweep.run_sweep(cfg, tiny, variants, progress=False)
    folder = Path(os.environ["CGNB_CACHE_DIR"]) / "train" / first.key
    spoil(folder / "result.npz", how)
    with pytest.warns(RuntimeWarning, match="result.npz"):
        again = sweep.run_sweep(cfg, tiny, variants, progress=False)
    assert not again.from_cache and again.chunks_run == cfg.num_chunks
    assert_results_equal(again, first)
    assert sweep.run_sweep(cfg, tiny, variants, progress=False).from_cache


def test_a_cache_folder_that_is_a_file_fails_before_training(tiny, monkeypatch, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("CGNB_CACHE_DIR", str(tmp_path / "file"))
    calls = []
    with pytest.raises(store.CacheUnwritable, match="CGNB_NO_CACHE"):
        sweep.run_sweep(config(), tiny, grid(tiny), progress=False, on_chunk=lambda d, t: calls.append(d))
    assert calls == []


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("overrides, variants_of, message", [
    (dict(sizes=(10, 8, 3)), None, r"sizes\[0\]=10 but the inputs have 12 features"),
    (dict(sizes=(12, 8, 2)), None, r"output width sizes\[-1\]=2 is smaller than the 3 classes"),
    (dict(batch_size=100), None, r"batch_size=100 is larger than the training set"),
    (dict(eval_examples=65), None, r"eval_examples=65 but there are only 64"),
    (dict(stats=("coherence",), stats_examples=100), None, r"stats_examples=100 but the training set has 64"),
    (dict(method="winsorized", c_max=1), dict(cs=(0, 2)), r"variants use c up to 2 but c_max=1"),
    (dict(), dict(cs=(0, 1)), r"method='sgd' ignores them"),
])
def test_bad_inputs_say_what_is_wrong(tiny, overrides, variants_of, message):
    variants = grid(tiny, **(variants_of or {}))
    with pytest.raises(sweep.ConfigError, match=message):
        sweep.run_sweep(config(**overrides), tiny, variants, cache=False, progress=False)


def test_a_diverging_variant_stops_the_sweep_naming_the_variant_and_step(tiny):
    """A NaN network predicts class 0 everywhere: its accuracies must never be reported."""
    variants = grid(tiny, noise=(0.0,), seeds=(0, 1))
    with pytest.raises(sweep.DivergedError, match=r"variant \d \(noise 0, seed \d, c 0\) has train_loss = (nan|inf) at "
                                                  r"the record of step (3|6|9|12): it diverged"):
        sweep.run_sweep(config(lr=1e30), tiny, variants, cache=False, progress=False)


def test_check_finite_losses_names_the_first_bad_record():
    variants = sweep.Variants(np.zeros((2, 3)), np.ones((2, 3), bool), seed=[4, 5], noise=[0.0, 0.25])
    records = {"train_loss": np.array([[1.0, 0.5, 0.4], [1.0, 0.9, 0.8]]),
               "test_loss": np.array([[1.0, 0.5, 0.4], [1.0, np.inf, np.nan]])}
    with pytest.raises(sweep.DivergedError, match=r"variant 1 \(noise 0.25, seed 5, c 0\) has test_loss = inf at "
                                                  r"the record of step 30"):
        sweep.check_finite_losses(records, variants, np.array([0, 30, 60]))
    records["test_loss"][1] = 0.3
    sweep.check_finite_losses(records, variants, np.array([0, 30, 60]))


def test_variants_of_another_training_set_are_refused(tiny):
    with pytest.raises(sweep.ConfigError, match="variants have 5 labels each but the training set has 64"):
        sweep.run_sweep(config(), tiny, sweep.Variants(np.zeros((1, 5)), np.ones((1, 5)), 0, 0, 0.0),
                        cache=False, progress=False)


# ---------------------------------------------------------------------------- sharding


SHARD_SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    from cgnb.engine import data, sweep
    assert jax.local_device_count() == 4, jax.devices()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(88, 12)).astype(np.float32)
    y = np.argmax(x @ rng.normal(size=(12, 3)), 1).astype(np.int32)
    d = data.Dataset(x[:64], y[:64], x[64:], y[64:], "tiny", "")
    cfg = sweep.SweepConfig(sizes=(12, 8, 3), steps=12, batch_size=8, lr=0.2, record_every=3, chunk_steps=6)
    v = sweep.Variants.noise_grid(jax.random.PRNGKey(3), d.y_train, [0.0, 0.5], seeds=(0, 1))
    assert sweep.placement(len(v), None)[0] is not None  # shard=None would shard too
    a = sweep.run_sweep(cfg, d, v, shard=True, progress=False)
    b = sweep.run_sweep(cfg, d, v, shard=False, cache=False, progress=False)
    assert a.from_cache is False and a.chunks_run == 2
    for k in a.records:
        np.testing.assert_allclose(a.records[k], b.records[k], rtol=1e-5, atol=1e-6, equal_nan=True)
    for pa, pb in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)):
        np.testing.assert_allclose(pa, pb, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a.first_learned, b.first_learned)
    print("SHARDED-OK")
""")


def test_sharded_sweep_equals_unsharded(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               CGNB_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", SHARD_SCRIPT], env=env, capture_output=True, text=True,
                         timeout=600)
    assert "SHARDED-OK" in out.stdout, out.stderr[-3000:]
    with pytest.raises(sweep.ConfigError, match="shard=True needs several local devices"):
        sweep.placement(3, True)
