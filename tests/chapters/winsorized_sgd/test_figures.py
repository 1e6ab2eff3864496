"""Tests of cgnb.chapters.winsorized_sgd.figures: one panel per cell or run, the book's figure standard."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from cgnb.chapters.winsorized_sgd import decisions, figures  # noqa: E402
from cgnb.engine import plots  # noqa: E402

from .problems import fake_run  # noqa: E402


@pytest.fixture(scope="module")
def runs():
    plots.use_style()
    return [fake_run("quick"), fake_run("stored", model=False, control=False)]


def test_the_grid_has_one_panel_per_cell_and_meets_the_standard(runs):
    run = runs[0]
    fig = figures.plot_grid(run.grid, run.setting.cs, run.setting.noise_levels)
    assert len(fig.axes) == len(run.setting.cs) * len(run.setting.noise_levels)
    assert len(fig.axes[1].collections) == 3          # seed bands of training and test accuracy and overfit
    assert plots.problems(fig) == []


@pytest.mark.parametrize("draw, panels", [
    (lambda runs: figures.plot_memorization(runs, runs[0].setting.claim_levels), 4),
    (lambda runs: figures.plot_overfit_by_c(runs, [decisions.health(r) for r in runs]), 2),
    (lambda runs: figures.plot_methods(runs), 2),
    (lambda runs: figures.plot_mechanism(runs, 0.25), 4),       # the stored run recorded no network
    (lambda runs: figures.plot_control(runs[0], 0.25), 2),
])
def test_each_figure_draws_its_panels_and_meets_the_standard(runs, draw, panels):
    fig = draw(runs)
    assert len(fig.axes) == panels
    assert plots.problems(fig) == []


def test_colours_of_c_are_distinct_and_plain_sgd_is_named():
    assert len({figures.c_colour(c) for c in (0, 1, 2, 4, 8)}) == 5
    assert figures.c_label(0) == "c = 0 (SGD)" and figures.c_label(4) == "c = 4"
    assert all(plots.contrast(colour) >= 3 for colour in (*figures.C_COLOURS.values(), *figures.NOISE_COLOURS))
