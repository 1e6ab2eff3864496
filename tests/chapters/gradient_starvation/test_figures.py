"""Tests of cgnb.chapters.gradient_starvation.figures (the grid and the chapter's figures)."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from cgnb.engine import plots
from cgnb.chapters.gradient_starvation import figures, models, tasks


def test_grid_points_layout():
    axis, points = figures.grid_points(1.0, 3)
    np.testing.assert_allclose(axis, [-1, 0, 1])
    np.testing.assert_allclose(points[1], [0.0, -1.0])         # row-major in x2: second point moves along x1
    logits = np.asarray(points[:, 0] + 10 * points[:, 1]).reshape(3, 3)
    assert logits[2, 0] == pytest.approx(-1 + 10)               # row = x2 index, column = x1 index


def test_figures_draw_without_problems():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from types import SimpleNamespace
    data = tasks.moons_task(0, 30, 30, 0.1, 0.1)
    params = jax.vmap(lambda k: models.init_torch_mlp(k, (2, 4, 1)))(jax.random.split(jax.random.PRNGKey(0), 2))
    names = ["plain", "SD", "weight decay", "10x longer", "dropout", "moon only"]
    neutral = {name: np.array([0.5, 0.6]) for name in names}
    hist = SimpleNamespace(steps=np.tile([10, 20], (2, 1)), tracked=np.full((2, 2), 0.6), dose=np.ones((2, 2, 2)))
    figs = (figures.plot_task_sets(data), figures.plot_boundaries({n: params for n in names}, data, n=10),
            figures.plot_reliance(neutral, {n: hist for n in names}, 20, 0.55),
            figures.plot_dose_per_input({n: hist for n in names}))
    for fig in figs:
        assert fig.axes and plots.problems(fig) == []
        plt.close(fig)
