"""Tests of cgnb.chapters.gradient_dosage.figures (the chapter's figures draw, with nothing overprinted)."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from cgnb.engine import plots
from cgnb.chapters.gradient_dosage import figures, measures, setting, tasks


def test_figures_draw_without_problems():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(0)
    places = tuple(setting.placements(64.0))
    steps = np.array([10, 20, 30])
    task = tasks.shared_and_identity_features(jax.random.PRNGKey(0), (1, 4), 2)
    n_in = task["n_groups"] + len(task["y"])
    shared = measures.sharing_measures(rng.uniform(0.1, 1, (2, 3, 3, n_in)), rng.uniform(1, 2, (2, 3, 3, n_in)), task)
    figs = [figures.plot_dose_ratios(places, rng.uniform(0.05, 20, (4, 2, 5))),
            figures.plot_vote(steps, rng.uniform(0.9, 0.97, (4, 2, 5, 3)), places, (0.0, 0.01), 0.972, 0.9),
            figures.plot_sharing(shared, steps, rng.uniform(1, 2, (3, 3, n_in)), task, 0.01)]
    for fig in figs:
        assert fig.axes and plots.problems(fig) == []
        plt.close(fig)


def test_dose_ratio_figure_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        figures.plot_dose_ratios(("a", "b"), np.ones((3, 2, 4)))
