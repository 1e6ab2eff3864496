"""The house style: figure sizes that fit the page, colours visible on white."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
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


def test_figure_size_keeps_narrow_grids_and_caps_wide_ones_at_the_column():
    assert plots.figure_size(1, 2, (3.0, 2.0)) == (6.0, 2.0)
    width, height = plots.figure_size(2, 6, (3.0, 2.0))
    assert width == pytest.approx(plots.COLUMN_IN)
    assert height / width == pytest.approx(4.0 / 18.0)
    assert plots.figure_size(1, 6, (3.0, 2.0), max_width=plots.WIDE_IN)[0] == pytest.approx(plots.WIDE_IN)
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


def test_the_style_writes_sharp_figures_with_framed_legends():
    plots.use_style()
    assert matplotlib.rcParams["savefig.dpi"] >= 150 and matplotlib.rcParams["legend.frameon"]


def test_paired_panels_sit_side_by_side_with_a_shared_y_axis():
    plots.use_style()
    fig, axes = plots.paired(("quick", "fashion-60k"), rows=2)
    assert axes.shape == (2, 2) and [a.get_title() for a in axes[0]] == ["quick", "fashion-60k"]
    axes[0, 0].plot([0, 1], [0, 5])
    axes[0, 1].plot([0, 100], [0, 1])
    fig.canvas.draw()
    assert axes[0, 0].get_ylim() == axes[0, 1].get_ylim()  # levels compare across the runs
    assert axes[0, 0].get_xlim() != axes[0, 1].get_xlim()  # each run keeps its own span of steps
    assert fig.get_size_inches()[0] <= plots.COLUMN_IN + 1e-9
    with pytest.raises(ValueError):
        plots.paired(())
    plt.close(fig)


def test_shared_norm_covers_every_compared_panel():
    a, b = np.array([[-36.0, 1.0]]), np.array([7.2, -54.0, np.nan])
    norm = plots.shared_norm(a, b, symmetric=True)
    assert (norm.vmin, norm.vmax) == (-54.0, 54.0)
    plain = plots.shared_norm(np.array([0.2, 0.4]), np.array([0.9]))
    assert (plain.vmin, plain.vmax) == pytest.approx((0.2, 0.9))
    assert plots.shared_norm(np.arange(101.0), quantile=0.9).vmax == pytest.approx(90.0)
    with pytest.raises(ValueError):
        plots.shared_norm(np.array([np.nan]))
    with pytest.raises(ValueError):
        plots.shared_norm(a, quantile=0.0)


def test_one_colorbar_for_all_compared_panels():
    plots.use_style()
    fig, axes = plots.grid(1, 3, size=(2.4, 2.2))
    norm = plots.shared_norm(np.array([-2.0, 3.0]), symmetric=True)
    for ax in axes[0]:
        ax.imshow(np.random.default_rng(0).normal(size=(4, 4)), norm=norm, cmap="RdBu_r")
    bar = plots.shared_colorbar(fig, axes, norm, label="decision function")
    assert len(fig.axes) == 4 and bar.norm.vmin == -3.0
    assert plots.problems(fig) == []
    plt.close(fig)


def _curves(ax):
    x = np.linspace(0, 1, 200)
    ax.plot(x, np.ones_like(x) * 0.95, label="0 %")
    ax.plot(x, np.ones_like(x) * 0.85, label="25 %")


def test_problems_finds_a_legend_over_the_data_and_legend_outside_fixes_it():
    plots.use_style()
    fig, axes = plots.grid(1, 1, size=(5.0, 3.0))
    _curves(axes[0, 0])
    axes[0, 0].legend(loc="upper right")
    assert any("covers" in p for p in plots.problems(fig))
    axes[0, 0].get_legend().remove()
    plots.legend_outside(axes[0, 0], "right")
    assert plots.problems(fig) == []
    plt.close(fig)
    fig, axes = plots.grid(1, 2, size=(3.0, 2.5))
    for ax in axes[0]:
        _curves(ax)
    legend = plots.legend_outside(fig, "below")
    assert [t.get_text() for t in legend.get_texts()] == ["0 %", "25 %"]  # each label once
    assert plots.problems(fig) == []
    with pytest.raises(ValueError):
        plots.legend_outside(fig, "left")
    plt.close(fig)


def test_problems_finds_overprinted_tick_labels_and_a_figure_wider_than_the_column():
    plots.use_style()
    fig, axes = plots.grid(1, 1, size=(2.0, 2.0))
    ax = axes[0, 0]
    ax.set_xticks(range(10), [f"label {i}" for i in range(10)])
    found = plots.problems(fig)
    assert any("printed over each other" in p and "label" in p for p in found), found
    plt.close(fig)
    fig = plt.figure(figsize=(plots.COLUMN_IN + 2, 2))
    fig.add_subplot().plot([0, 1], [0, 1])
    assert any("wider than the column" in p for p in plots.problems(fig))
    plt.close(fig)


def test_problems_does_not_count_a_figure_label_twice():
    plots.use_style()
    fig, axes = plots.grid(1, 2, size=(2.5, 2.0))
    fig.supxlabel("epoch")
    fig.supylabel("accuracy")
    fig.suptitle("a title")
    assert plots.problems(fig) == []
    plt.close(fig)
