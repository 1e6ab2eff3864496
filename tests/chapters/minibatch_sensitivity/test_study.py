"""Tests of cgnb.chapters.minibatch_sensitivity.study on a small regression problem."""
import jax
import numpy as np
import pytest

from cgnb.chapters.minibatch_sensitivity import claims, measures, models, study

from .problems import data, mlp_params


def small_runs():
    x, y = data()
    variants = {"plain": {"batchnorm": False, "dropout": 0.0}, "dropout": {"batchnorm": False, "dropout": 0.3}}
    losses = {name: models.make_loss(v["dropout"]) for name, v in variants.items()}
    trained = {f"{name}/{s}": {"start": mlp_params(seed=s), "mid": mlp_params(seed=s + 10),
                               "losses": np.linspace(10.0, 1.0, 40)} for name in variants for s in (0, 1)}
    pairs = {(name, s): models.bias_pairs([trained[f"{name}/{s}"]["start"]], x, count=1, min_active=0.0)
             for name in variants for s in (0, 1)}
    return x, y, variants, losses, trained, pairs


def test_learning_health_flags_a_run_that_never_learned():
    trained = {"plain/0": {"losses": np.linspace(10.0, 1.0, 40)}, "plain/1": {"losses": np.full(40, 3.0)}}
    ratios, degenerate = study.learning_health(trained, ["plain"], [0, 1], 30, 10)
    assert ratios["plain", 0] < 1 and ratios["plain", 1] == pytest.approx(1.0)
    assert len(degenerate["plain"]) == 1 and "seed 1" in degenerate["plain"][0]
    short = {"plain/0": {"losses": np.linspace(10.0, 1.0, 40)}}
    assert study.learning_health(short, ["plain"], [0], 20, 20)[1] == {"plain": []}


def test_agreement_tables_and_the_cosine_table():
    x, y, variants, losses, trained, pairs = small_runs()
    batches = study.measurement_batches([0, 1], len(y), 16, 4)
    raw, centred = study.agreement_tables(losses, variants, trained, x, y, [0, 1], batches, pairs)
    assert set(raw) == set(centred) == {(n, s, w) for n in variants for s in (0, 1) for w in ("start", "mid")}
    direct = measures.agreement(measures.minibatch_gradients(losses["plain"], trained["plain/1"]["mid"], x, y,
                                                             batches[1], [c for p in pairs["plain", 1] for c in p]))
    assert raw["plain", 1, "mid"]["cos_full"] == pytest.approx(direct["cos_full"])
    table = study.cosine_table(raw, centred, list(variants), [0, 1])
    assert table[claims.CENTRED][claims.FULL]["plain", "mid"].shape == (2,)
    assert table[claims.AS_TRAINED][claims.TWO_BIASES]["dropout", "start"][1] == pytest.approx(
        np.mean(raw["dropout", 1, "start"]["cos_2d"]))


def test_roughness_tables_add_a_frozen_mask_for_dropout():
    x, y, variants, losses, trained, pairs = small_runs()
    batches = study.measurement_batches([0, 1], len(y), 16, 2)
    offsets = np.linspace(-0.1, 0.1, 3)
    rough, shown = study.roughness_tables(losses, variants, trained, x, y, [0, 1], batches, pairs, offsets, 1)
    labels = {k[0] for k in rough}
    assert labels == {"plain", "dropout", "dropout, frozen mask"}
    assert shown["plain", "mid"].shape == (3, 3, 2) and all(0 <= v <= 180 for v in rough.values())


def test_batch_size_study_shapes():
    x, y, variants, losses, trained, pairs = small_runs()
    out = study.batch_size_study(losses["plain"], trained, x, y, [0, 1], pairs, (4, 16), 5, 64)
    assert out["by_size"]["alpha"].shape == (2, 2) and out["noise"][0].n == 64
    assert jax.tree_util.tree_structure(out["two_batch"]) is not None
