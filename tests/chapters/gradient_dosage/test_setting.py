"""Tests of cgnb.chapters.gradient_dosage.setting (the chapter's runs on the engine's full-batch trainer)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import fullbatch, trainer
from cgnb.chapters.gradient_dosage import measures, models, setting, tasks

TASK = dict(n_train=64, n_test=32, agreement=0.9, n_irrelevant=2)


def test_placements_give_the_same_initial_output():
    places = setting.placements(16.0)
    assert places[setting.CONTROL] == (1.0, 1.0)
    assert {k_in * k_out for k_in, k_out in places.values()} == {1.0, 16.0}
    with pytest.raises(ValueError, match=">= 1"):
        setting.placements(0.5)


def test_head_start_runs_shapes_and_index():
    runs = setting.head_start_runs([0, 3], head_start=4.0, weight_decays=[0.0, 0.01], units=3, lr=0.05, steps=20,
                                   record_every=10, **TASK)
    assert runs.dose.shape == (4, 2, 2, 2, 2, 5) and runs.vote.shape == (4, 2, 2, 2)
    assert runs.reliance.shape == (4, 2, 2, 2, 3) and list(runs.steps) == [10, 20]
    assert runs.index("read-out", 0.01) == (2, 1)
    with pytest.raises(KeyError, match="no run"):
        runs.index("nowhere")
    assert np.all((runs.vote > 0) & (runs.vote <= tasks.majority_vote_accuracy(0.9) + 1e-6))


def test_linear_runs_match_a_single_train_binary_on_the_seeds_data():
    lin = setting.linear_runs([0, 5], lr=0.05, steps=20, record_every=10, head_start=float(np.log(9.0)), **TASK)
    assert lin.dose.shape == (2, 2, 5) and lin.tracked.shape == (2, 2)
    x, y, _, _ = tasks.seeded_task(5, **TASK)
    params = models.init_linear(jax.random.PRNGKey(5), 5, head_start=float(np.log(9.0)))
    _, one = fullbatch.train_binary(params, models.apply_linear, x, y, optimizer=trainer.torch_style_sgd(0.05),
                                    steps=20, record_every=10, dose_fn=measures.first_layer_dose)
    np.testing.assert_allclose(lin.dose[1], one.dose, rtol=1e-5)


def test_sharing_runs_shapes():
    x, y = tasks.agreeing_features(jax.random.PRNGKey(0), 64, n_irrelevant=2)
    shared = setting.sharing_runs(x, y, [0, 1], units=2, lr=0.05, steps=20, record_every=10,
                                  weight_decays=[0.0, 0.01])
    assert shared.dose.shape == (2, 2, 2, 5) and shared.tracked.shape == (2, 2, 2, 5)


def test_paper_programs_lower_on_abstract_inputs():
    parameters = dict(seeds=[0, 1], head_start=64.0, weight_decays=[0.0, 0.01], units=2, lr=0.05, steps=4,
                      record_every=2, **TASK)
    [(label, fn, args, kwargs)] = setting.paper_programs(parameters)
    out = jax.eval_shape(fn, *args, **kwargs)
    assert label == "head-start runs" and out.dose.shape == (8, 2, 2, 2, 5)
