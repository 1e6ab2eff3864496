"""Tests of cgnb.chapters.coherent_gradients.figures: every figure draws two runs side by side from small made-up
sweeps and meets the book's figure standard (cgnb.engine.plots.problems)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cgnb.chapters.coherent_gradients import figures as F  # noqa: E402
from cgnb.engine import plots  # noqa: E402

from .sweeps import fake_run  # noqa: E402

LEVELS = [0.25, 0.75]


RUNS = [fake_run("this run (quick)", seeds=2), fake_run("stored run (big)", seeds=1, records=60, seed=1)]


@pytest.mark.parametrize("draw", [
    lambda runs: F.plot_training(runs, LEVELS), lambda runs: F.plot_loss_learned(runs, LEVELS),
    lambda runs: F.plot_alpha_gaps(runs, LEVELS), lambda runs: F.plot_norm_ratio(runs, LEVELS),
    lambda runs: F.plot_contributions(runs, LEVELS), lambda runs: F.plot_contribution_null(runs, 0.75),
    lambda runs: F.plot_coherence(runs, LEVELS), lambda runs: F.plot_m_coherence(runs, LEVELS),
], ids=["training", "loss", "alphas", "norm-ratio", "contributions", "contribution-null", "coherence", "m-coherence"])
def test_each_figure_pairs_the_runs_and_meets_the_standard(draw):
    fig = draw(RUNS)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:2] == ["this run (quick)", "stored run (big)"]
    assert plots.problems(fig) == []
    assert len(fig.legends) == 1   # one legend, below the panels
    plt.close(fig)


def test_one_run_alone_draws_too():
    fig = F.plot_training(RUNS[:1], LEVELS)
    assert plots.problems(fig) == [] and len(fig.axes) == 2
    plt.close(fig)


def test_running_mean_keeps_the_start():
    values = np.array([10.0, 0, 0, 0, 0, 0, 0, 0, 0])
    smooth = F.running_mean(values, 5)
    assert smooth[0] == 10.0 and smooth[1] == 0.0        # the first record alone, then r // 2 on each side
    np.testing.assert_allclose(F.running_mean(np.arange(9.0), 5), np.arange(9.0))   # symmetric windows
    spike = np.zeros(9)
    spike[4] = 5.0
    assert F.running_mean(spike, 5)[4] == pytest.approx(1.0)   # five records around the middle


def test_noise_colours_are_the_same_in_every_figure():
    assert F.noise_colors([0.25, 0.75]) == {0.25: F.LEVEL_COLORS[0.25], 0.75: F.LEVEL_COLORS[0.75]}
    assert len(set(F.noise_colors([0.1, 0.2, 0.3]).values())) == 3


def test_step_axis_labels_do_not_meet():
    fig, ax = plt.subplots(figsize=(3, 2))
    steps = np.concatenate([np.arange(0, 300, 10), np.arange(300, 7001, 50)])
    ax.plot(steps, np.linspace(0, 1, len(steps)))
    F.step_axis(ax, steps)
    assert plots.problems(fig) == []
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "0" and "$10^{1}$" not in labels
    plt.close(fig)
