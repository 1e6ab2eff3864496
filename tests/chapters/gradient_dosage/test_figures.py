"""Tests of cgnb.chapters.gradient_dosage.figures (the chapter's figures draw)."""
from __future__ import annotations

import numpy as np
import pytest

from cgnb.chapters.gradient_dosage import figures


def test_figures_draw():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(0)
    steps = np.array([10, 20, 30])
    dose = {"k=1": rng.uniform(0.1, 1, (2, 3, 5)), "k=8": rng.uniform(0.1, 1, (2, 3, 5))}
    acc = {"k=1": rng.uniform(0.9, 0.97, (2, 3)), "k=8": rng.uniform(0.9, 0.97, (2, 3))}
    figs = [figures.plot_head_start_runs(steps, dose, acc, rng.normal(size=(2, 3, 3)), 0.97, 0.9),
            figures.plot_head_start_effects([1.0, 8.0], {"k=1": np.ones(2), "k=8": 3 * np.ones(2),
                                                        "k=8, input weights only": 0.5 * np.ones(2)},
                                           np.ones(2), {"no weight decay": {1.0: np.array([10.0, 20]), 8.0: np.array([30.0, np.nan])}}),
            figures.plot_sharing(np.array([1, 4]), rng.uniform(1, 2, (2, 2, 2)), rng.uniform(0.1, 1, (2, 2, 2)), steps,
                                rng.uniform(1, 2, (2, 3, 2 + 5)), 2, np.array([1, 4]), 0.01)]
    figs.append(figures.plot_weight_decay_sweep([0.0, 0.1], rng.uniform(0.5, 9, (2, 3)), rng.uniform(0.9, 0.97, (2, 3)),
                                               0.97, 0.9, 8.0))
    for fig in figs:
        assert fig.axes
        plt.close(fig)


def test_weight_decay_sweep_figure_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        figures.plot_weight_decay_sweep([0.0, 0.1], np.ones((3, 2)), np.ones((3, 2)), 0.97, 0.9, 8.0)
