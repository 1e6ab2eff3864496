import sys
import types

from cgnb.engine import display


def test_outside_a_notebook_markdown_is_printed(capsys):
    assert display.in_notebook() is False
    display.show_markdown("**bold**")
    assert capsys.readouterr().out == "**bold**\n"


def test_glue_hands_the_value_to_myst_nb(monkeypatch):
    calls = []
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display: calls.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    display.glue("acc", 0.5)
    display.glue("table", "| a |", markdown=True)
    assert calls[0] == ("acc", 0.5, False)
    assert calls[1][0] == "table" and calls[1][1].data == "| a |" and calls[1][2] is False


def test_glue_without_myst_nb_does_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)
    display.glue("acc", 0.5)
