"""Tests of cgnb.chapters.gradient_starvation.setting (one run of the chapter on the engine's full-batch trainer)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters.gradient_starvation import setting


def test_moons_run_vmaps_and_dropout_is_reproducible():
    run = functools.partial(setting.moons_run, n_train=64, n_test=64, noise=0.1, margin=0.1, hidden=8, lr=1e-2,
                            momentum=0.9, n_steps=20, chunks=4)
    params, hist = jax.jit(jax.vmap(jax.vmap(run, (0, None, None)), (None, 0, 0)))(
        jnp.arange(2), jnp.array([0.0, 0.003]), jnp.array([0.0, 0.01]))
    assert hist.dose.shape == (2, 2, 4, 2) and hist.tracked.shape == (2, 2, 4) and params[0]["w"].shape == (2, 2, 2, 8)
    np.testing.assert_array_equal(hist.steps[0, 0], [5, 10, 15, 20])
    drop = jax.jit(functools.partial(run, sd=0.0, wd=0.0, drop=0.5))
    np.testing.assert_array_equal(drop(1)[1].loss, drop(1)[1].loss)
    assert not np.array_equal(drop(1)[1].loss, run(1, 0.0, 0.0)[1].loss)


def test_moon_only_trains_without_the_linear_feature():
    run = functools.partial(setting.moons_run, n_train=64, n_test=64, noise=0.1, margin=0.1, hidden=8, lr=1e-2,
                            momentum=0.9, n_steps=20, chunks=4, sd=0.0, wd=0.0)
    plain, moon = run(0)[1], run(0, moon_only=True)[1]
    assert moon.dose.shape == plain.dose.shape
    assert not np.allclose(moon.loss, plain.loss)


def test_paper_programs_take_seeds_as_a_list():
    parameters = dict(n_train=16, n_test=16, noise=0.1, margin=0.1, hidden=4, lr=1e-2, momentum=0.9, steps=4,
                      longer=2, chunks=2, seeds=[0, 1, 2])
    [(label, fn, args, kwargs)] = setting.paper_programs(parameters)
    params, hist = jax.eval_shape(fn, *args, **kwargs)
    assert hist.dose.shape == (3, 2, 2) and "8 steps" in label
