"""Tests of cgnb.engine.seeds: each function reproduces the expression it names, bit for bit."""
import jax
import numpy as np

from cgnb.engine import seeds


def same_key(a, b):
    np.testing.assert_array_equal(jax.random.key_data(a), jax.random.key_data(b))


def test_variant_keys_split_the_seeds_key_in_two():
    k_init, k_null = seeds.variant_keys(5)
    want = jax.random.split(jax.random.PRNGKey(5), 2)
    same_key(k_init, want[0])
    same_key(k_null, want[1])


def test_offset_key_is_the_key_of_offset_plus_seed():
    same_key(seeds.offset_key(3, 1000), jax.random.PRNGKey(1003))
    same_key(seeds.offset_key(3, 10_000), jax.random.PRNGKey(10_003))
    assert not np.array_equal(jax.random.key_data(seeds.offset_key(3, 1000)),
                              jax.random.key_data(seeds.offset_key(3, 10_000)))


def test_noise_key_folds_in_the_level_then_the_seed():
    key = jax.random.PRNGKey(0)
    want = jax.random.fold_in(jax.random.fold_in(key, 250_000), 2)
    same_key(seeds.noise_key(key, 0.25, 2), want)
    same_key(seeds.noise_key(key, np.float32(0.25), np.int64(2)), want)
    same_key(seeds.noise_key(key, 1.0, 0), jax.random.fold_in(jax.random.fold_in(key, 1_000_000), 0))
