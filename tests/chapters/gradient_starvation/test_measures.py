"""Tests of cgnb.chapters.gradient_starvation.measures (accuracies on the task's sets)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters.gradient_starvation import measures, models, tasks


def test_moons_task_sets_and_accuracies():
    data = tasks.moons_task(3, 40, 60, 0.1, 0.1)
    x, y = tasks.starvation_moons(jax.random.split(jax.random.fold_in(jax.random.PRNGKey(3), 1), 3)[0], 40, 0.1, 0.1)
    np.testing.assert_array_equal(data["x"], x)
    assert data["x_test"].shape == data["x_neutral"].shape == data["x_permuted"].shape == (60, 2)
    np.testing.assert_array_equal(data["x_neutral"][:, 1], data["x_test"][:, 1])
    params = models.init_torch_mlp(jax.random.PRNGKey(0), (2, 8, 1))
    acc = measures.accuracies(params, data)
    assert set(acc) == {"train", "test", "neutralized", "x1 shuffled"}
    logits = models.apply_mlp(params, data["x_test"])
    assert float(acc["test"]) == pytest.approx(float(jnp.mean(jnp.sign(logits) == data["y_test"])))
