"""The house style: figure sizes that fit the page, colours visible on white."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cgnb.engine import plots  # noqa: E402


def test_every_palette_colour_is_visible_on_white():
    assert all(plots.contrast(c) >= 3.0 for c in plots.PALETTE)
    # the light colours the palette leaves out would fail the same test
    assert plots.contrast("#F0E442") < 3.0 and plots.contrast("#56B4E9") < 3.0


@pytest.mark.parametrize("cmap", [None, "viridis", "plasma", "cividis", "tab10", "Blues"])
def test_colors_stay_visible_on_white_and_distinct(cmap):
    cs = plots.colors(7, cmap)
    assert len(cs) == 7
    assert min(plots.contrast(c) for c in cs) >= 2.95
    assert len({matplotlib.colors.to_hex(c) for c in cs}) == 7


def test_colors_rejects_bad_input():
    with pytest.raises(ValueError):
        plots.colors(0)
    with pytest.raises(ValueError):
        plots.colors(3, "no-such-map")


def test_figure_size_keeps_narrow_grids_and_caps_wide_ones():
    assert plots.figure_size(1, 2, (3.0, 2.0)) == (6.0, 2.0)
    width, height = plots.figure_size(2, 6, (3.0, 2.0))
    assert width == pytest.approx(plots.WIDE_IN)
    assert height / width == pytest.approx(4.0 / 18.0)
    with pytest.raises(ValueError):
        plots.figure_size(0, 1, (3.0, 2.0))


def test_grid_uses_the_style_fonts_and_size():
    plots.use_style()
    fig, axes = plots.grid(1, 2, size=(3.0, 2.5))
    assert axes.shape == (1, 2)
    assert tuple(fig.get_size_inches()) == pytest.approx((6.0, 2.5))
    assert matplotlib.rcParams["font.size"] >= 11 and matplotlib.rcParams["xtick.labelsize"] >= 10
    plt.close(fig)


def test_markdown_table_escapes_pipes_and_checks_row_lengths(capsys):
    text = plots.markdown_table(["a", "b|c"], [[1, "x|y"], [2.5, ""]])
    assert text.splitlines() == ["| a | b\\|c |", "|---|---|", "| 1 | x\\|y |", "| 2.5 |  |"]
    with pytest.raises(ValueError, match="every row must have 2 cells"):
        plots.markdown_table(["a", "b"], [[1]])
    plots.show_table(["a"], [[1]])  # outside a notebook: printed as text
    assert "| a |" in capsys.readouterr().out
