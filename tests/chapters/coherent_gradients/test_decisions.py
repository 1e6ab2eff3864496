"""Tests of cgnb.chapters.coherent_gradients.decisions: each claim's statistics from a run, handed to a real ledger."""
import numpy as np
import pytest

from cgnb.chapters.coherent_gradients import CHAPTER, decisions, measures
from cgnb.engine.ledger import Ledger

from .sweeps import fake_run


@pytest.fixture()
def runs(tmp_path):
    quick, stored = fake_run("this run (quick)", seeds=2), fake_run("stored run (big)", seeds=1, records=60, seed=1)
    quick.ledger = Ledger(CHAPTER, directory=tmp_path, show=False)
    stored.ledger = Ledger(CHAPTER, profile="big", directory=tmp_path, show=False)
    return quick, stored


def verdicts(run) -> dict:
    return {(r["claim"], r["rule"], r["cell"]): r for r in run.ledger.records.values()}


def test_every_claim_is_decided_and_published(runs, capsys):
    quick, stored = runs
    for claim in CHAPTER.claim_ids:
        decisions.decide(runs, claim)
    for run in runs:
        assert run.ledger.undecided() == [] and run.ledger.finish() is not None
    found = verdicts(quick)
    # noise levels 25 % and 75 % only: C4.2's chance and C4.5 at 50 % cannot be made and say why
    chance = found[("C4.2", "chance", "100 %")]
    assert chance["verdict"] == "not testable" and "100 % noise was not run" in chance["reason"]
    assert found[("C4.5", "crossing", "50 %")]["verdict"] == "not testable"
    # the fake runs end at training accuracy 1.0 for every seed: fitted
    assert found[("C4.1", "fits", "25 %")]["verdict"] == "holds" and found[("C4.1", "fits", "25 %")]["n"] == 2
    assert "| C4.1 fits, 25 % | >= 0.99 |" in capsys.readouterr().out


def test_the_crossing_is_measured_in_the_window_and_a_single_seed_in_blocks(runs):
    quick, stored = runs
    for run in runs:
        run.result.records["pristine_acc"][:, 20:] = 1.0    # fitted from record 20
        run.result.records["corrupt_acc"][:, :] = 0.5
        run.result.records["corrupt_acc"][:, 30:] = 1.0     # the corrupt ones from record 30
    values = decisions.crossing_values(quick.result, 0.25, worlds=40)
    gap = decisions.alpha_gap(quick.result, 0.25)
    np.testing.assert_allclose(values["crossing"], gap[:, 20:31].mean(axis=1))
    np.testing.assert_array_equal(values["windows"], [[20, 30], [20, 30]])
    nulls = measures.null_alpha_gaps(quick.result, 0.25, 40)
    np.testing.assert_allclose(values["null"], (nulls[:, 20:31].mean(axis=1) < 0).mean(axis=1))
    assert values["worlds"] == 40 and values["missing"] == []
    one = decisions.crossing_values(stored.result, 0.25, worlds=40)
    assert one["crossing"].shape == (5,)           # one seed: five blocks of its window
    np.testing.assert_allclose(one["crossing"].mean(), decisions.alpha_gap(stored.result, 0.25)[0, 20:31].mean(),
                               rtol=0.2)
    stored.result.records["pristine_acc"][:] = 0.5  # never fitted: the window never opens, not testable
    stored.ledger.records.clear()
    decisions.crossing(stored)
    crossing = verdicts(stored)[("C4.5", "crossing", "25 %")]
    assert crossing["verdict"] == "not testable" and "never opens" in crossing["reason"]


def test_a_reach_gap_the_records_cannot_resolve_is_not_testable(runs):
    quick, _ = runs
    acc = quick.result.records["train_acc"]
    acc[:] = 0.2
    acc[:, 1:] = 0.95           # every run reaches 0.9 at the first record after step 0
    decisions.learning_speed(quick)
    reach = verdicts(quick)[("C4.3", "reach", "0.9, 25 % → 75 %")]
    assert reach["verdict"] == "not testable" and "by the first record" in reach["reason"]
    never = verdicts(quick)[("C4.3", "reach", "0.99, 25 % → 75 %")]
    assert never["verdict"] == "not testable" and "neither" in never["reason"]


def test_pristine_first_counts_records(runs):
    quick, _ = runs
    first = quick.result.first_learned
    first[:] = np.where(quick.result.pristine, 10, 60)    # pristine at record 1, corrupt at step 60: record 6
    decisions.pristine_first(quick)
    record = verdicts(quick)[("C4.4", "sooner", "25 %")]
    assert record["values"] == [5.0, 5.0] and record["verdict"] == "holds"


def test_the_contribution_p_value_is_the_share_of_null_worlds_at_least_as_far(runs):
    quick, _ = runs
    early = {"noise": np.array([0.75, 0.75]), "gap": np.array([1.0, 0.0]),
             "null_gap": np.array([[0.5, 2.0, 1.0, -1.0], [0.5, -0.5, 0.0, -1.0]])}
    np.testing.assert_allclose(decisions.contribution_p_values(early, 0.75), [0.5, 0.5])


def test_table_pairs_the_runs_and_carries_the_anchors(runs):
    quick, stored = runs
    results = decisions.fits(quick) + decisions.fits(stored)
    text = decisions.table(results, {"quick": "this run", "big": "stored"})
    lines = text.splitlines()
    assert lines[0] == "| check | needs | this run | verdict | stored | verdict |"
    assert 'id="claim-c4-1-fits-25"' in text and 'id="claim-c4-1-fits-25-big"' in text
    assert len(lines) == 2 + len(measures.noise_levels(quick.result))
    with pytest.raises(KeyError, match="C4.9"):
        decisions.decide(runs, "C4.9")


def test_rules_markdown_lists_every_rule_of_the_claims():
    text = decisions.rules_markdown(["C4.5"])
    assert text.startswith("**C4.5**") and all(f"`{r}`" in text for r in ("starts-above", "crossing", "null-quiet"))
    assert "Band:" in text and "C4.1" not in text
