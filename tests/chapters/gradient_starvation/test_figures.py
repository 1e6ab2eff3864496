"""Tests of cgnb.chapters.gradient_starvation.figures (the grid and the chapter's figures)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.chapters.gradient_starvation import figures, models, tasks


def test_grid_points_layout():
    axis, points = figures.grid_points(1.0, 3)
    np.testing.assert_allclose(axis, [-1, 0, 1])
    np.testing.assert_allclose(points[1], [0.0, -1.0])         # row-major in x2: second point moves along x1
    logits = np.asarray(points[:, 0] + 10 * points[:, 1]).reshape(3, 3)
    assert logits[2, 0] == pytest.approx(-1 + 10)               # row = x2 index, column = x1 index


def test_figures_draw():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from types import SimpleNamespace
    data = tasks.moons_task(0, 30, 30, 0.1, 0.1)
    params = jax.vmap(lambda k: models.init_torch_mlp(k, (2, 4, 1)))(jax.random.split(jax.random.PRNGKey(0), 2))
    neutral = {"plain": np.array([0.5, 0.6]), "SD": np.array([0.7, 0.8])}
    hist = SimpleNamespace(steps=np.tile([10, 20], (2, 1)), tracked=np.full((2, 2), 0.6), dose=np.ones((2, 2, 2)))
    for fig in (figures.plot_task_sets(data), figures.plot_boundaries({"plain": params, "SD": params}, data, neutral, n=10),
                figures.plot_reliance(neutral, {"plain": hist, "SD": hist}, 20, 0.55),
                figures.plot_dose_per_input({"plain": hist, "SD": hist})):
        assert fig.axes
        plt.close(fig)
