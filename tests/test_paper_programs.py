"""Every chapter's paper-profile program, compiled on the CPU for abstract inputs, fits a 16 GB T4."""
from pathlib import Path

import pytest

from cgnb.chapters import all_chapters, chapter
from cgnb.engine import aot
from repo_files import load_module

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def programs():
    return load_module("scripts/paper_programs.py")


@pytest.mark.parametrize("name", [c.name for c in all_chapters()])
def test_paper_program_fits_a_t4(programs, name):
    rows = programs.chapter_memory(chapter(name))
    assert rows, f"{name} compiled no program"
    for row in rows:
        assert aot.fits(row), f"{name} {row['program']}: {aot.gib(row['total'])} GiB >= 15 GiB"


def test_the_check_fails_for_a_program_too_big_for_a_t4(programs):
    """The chapter-4 chunk program with 60x the paper's variants needs more than a T4 has."""
    p = programs.params_of(chapter("coherent_gradients"))
    from cgnb.engine import sweep
    config = sweep.SweepConfig(sizes=(784, p["width"], 10), steps=p["steps"], record_every=p["record_every"],
                               stats=("alphas", "coherence"), stats_examples=p["stats_examples"], n_null=3)
    fn, args = programs.sweep_chunk(config, 900, 60_000, 10_000)
    report = aot.program_memory(fn, *args)
    assert not aot.fits(report), aot.gib(report["total"])


def test_parameters_are_the_paper_profile(programs):
    assert programs.params_of(chapter("coherent_gradients"))["width"] == 2048
    assert programs.params_of(chapter("winsorized_sgd"))["n_train"] == 60_000


def test_chapters_are_chosen_by_name_or_number(programs):
    assert [c.name for c in programs.select(["04", "gradient_dosage", "6"])] == [
        "coherent_gradients", "gradient_dosage", "minibatch_sensitivity"]
    assert programs.select([]) == all_chapters()
    with pytest.raises(SystemExit, match="no chapter"):
        programs.select(["ch4"])
