"""Tests of cgnb.chapters.winsorized_sgd.figures: one panel per cell, seed bands."""
import matplotlib

matplotlib.use("Agg")

from cgnb.chapters.winsorized_sgd import figures, measures  # noqa: E402

from .problems import fake_result  # noqa: E402


def test_plots_have_one_panel_per_cell():
    result = fake_result()
    curve0, curve2 = measures.variant_curves(result, 0.5, c=0), measures.variant_curves(result, 0.5, c=2)
    fig = figures.plot_grid({(0, 0.5): curve0, (2, 0.5): curve2}, [0, 2], [0.5])
    assert len(fig.axes) == 2
    fig = figures.plot_methods({"sgd": {0.5: curve0}, "winsorized": {0.5: curve2}}, [0.5])
    assert len(fig.axes) == 3
    fig = figures.plot_memorization({(0, 0.5): curve0, (2, 0.5): curve2}, [0, 2], [0.0, 0.5],
                                   extra={"rm3": {0.5: curve0}})
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3


def test_grid_plot_draws_seed_bands():
    result = fake_result()
    cell = [measures.variant_curves(result, 0.5, c=0), measures.variant_curves(result, 0.5, c=2)]
    fig = figures.plot_grid({(0, 0.5): cell}, [0], [0.5])
    assert len(fig.axes[0].collections) == 3                  # a band for train, test and overfit
    assert "2 seeds" in fig.axes[0].get_title()
