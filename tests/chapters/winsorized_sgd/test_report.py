"""Tests of cgnb.chapters.winsorized_sgd.report: the numbers the prose cites, from a run."""
import cgnb
from cgnb.chapters.winsorized_sgd import CHAPTER, claims, decisions, report

from .problems import TINY_SETTING, fake_run


def test_scale_compares_parameters_per_example_with_the_papers():
    numbers = report.scale(TINY_SETTING, "own")
    assert report.parameter_count((784, 256, 256, 256, 10)) == 335_114
    assert numbers["paper_per_example"] == "5.59" and numbers["own_network"] == "784-5-4-10"
    assert numbers["own_per_example"] == f"{report.parameter_count(TINY_SETTING.sizes) / 4000:.2f}"


def test_numbers_cover_each_run_with_its_prefix(tmp_path):
    quick = fake_run("quick", cgnb.Ledger(CHAPTER, directory=tmp_path, show=False))
    stored = fake_run("stored", cgnb.Ledger(claims.for_run(CHAPTER, False), profile="stored", directory=tmp_path,
                                             show=False), model=False, control=False)
    for run in (quick, stored):
        for decide in (decisions.decide_c52, decisions.decide_c53, decisions.decide_c54, decisions.decide_c55):
            decide(run)
    numbers = report.numbers([quick, stored], 0.25)
    assert numbers["tolerance"] == "5%" and numbers["drop"] == "0.02"
    assert numbers["own_degenerate"] == "1 of 14" and numbers["stored_degenerate"] == "1 of 14"
    assert numbers["own_C52_split"] == "not reproduced in 2 of 4 checks, holds in 1, not testable in 1"
    assert numbers["stored_C55_split"] == "not testable" and "stored_25_norm_sgd" not in numbers
    assert numbers["own_25_norm_strong"] == "25.0" and numbers["own_25_norm_sgd"] == "5.0"
    assert numbers["own_25_dead_last"] == "0%" and numbers["own_25_dead_before"] == "0%"
