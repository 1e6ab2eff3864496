"""scripts/notebooks.py's reader checks, each shown failing on an injected case."""
import nbformat
from repo_files import load_module

nbscript = load_module("scripts/notebooks.py")


def test_typed_numbers_and_verdicts_are_found_outside_code_math_and_glue():
    text = ("The head start gets 12.1x the dose, accuracy 0.798, and C4.1 holds; **refuted** too. "
            "Glued {glue:text}`acc:.3f`, code `0.123`, math $0.456$ and [a link](https://x.org/0.789) are fine.")
    assert nbscript.typed_in_markdown(text) == ["12.1x", "0.798", "C4.1 holds", "**refuted**"]


def test_the_source_numbers_comment_and_rule_explanations_pass():
    text = "The post says 0.972 and 4/9.<!-- source numbers: 0.972 --> A claim holds if its band is above 0."
    assert nbscript.typed_in_markdown(text) == []
    assert nbscript.typed_in_markdown("The claim holds when the band lies beyond.") == []
    assert nbscript.typed_in_markdown("Here the claim holds.") == ["the claim holds"]


def test_visible_code_cells_are_short_and_narrow():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("\n".join(["x = 1"] * 13)),
                nbformat.v4.new_code_cell("y = '" + "a" * 90 + "'"),
                nbformat.v4.new_code_cell("\n".join(["x = 1"] * 30), metadata={"tags": ["hide-input"]}),
                nbformat.v4.new_markdown_cell("We measured 0.8312 here.")]
    found = nbscript.reader_problems(nb)
    assert len(found) == 3
    assert "cell 1: a visible code cell of 13 lines" in found[0]
    assert "cell 2: lines [1] are wider than 88 columns" in found[1]
    assert "cell 4: Markdown types ['0.8312']" in found[2]


def test_the_parameters_cell_is_folded_and_decisions_stay_open():
    params = nbformat.v4.new_code_cell("seeds = [0, 1]", metadata={"tags": ["parameters"]})
    decide = nbformat.v4.new_code_cell("claims.decide_all(ledger, run)")
    assert nbscript.folds(params) and not nbscript.must_stay_open(params)
    assert nbscript.must_stay_open(decide) and not nbscript.folds(decide)
