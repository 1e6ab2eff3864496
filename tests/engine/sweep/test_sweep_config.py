"""Tests of cgnb.engine.sweep.config: the four concerns, their checks, the schedule, JSON and its migration."""
import dataclasses
import json

import numpy as np
import pytest

from cgnb.engine import sweep

from sweep_reference import config


@pytest.mark.parametrize("overrides, message", [
    (dict(steps=10), r"steps \(10\) must be a multiple of record_every \(3\).*steps=9 or 12"),
    (dict(chunk_steps=4), r"chunk_steps \(4\) must be a positive multiple of record_every \(3\)"),
    (dict(steps=12, chunk_steps=9), r"steps \(12\) must be a multiple of chunk_steps \(9\)"),
    (dict(chunk_steps=0), r"chunk_steps must be None \(the default\) or an integer >= 1"),
    (dict(method="adam"), r"unknown method 'adam'"),
    (dict(sampling="random"), r"unknown sampling 'random'"),
    (dict(c_max=1), r"c_max=1 only means something for method='winsorized'"),
    (dict(method="winsorized", c_max=4), r"needs 2 \* c_max < batch_size"),
    (dict(stats=("alpha",)), r"unknown stats \['alpha'\]"),
    (dict(stats=("coherence", "coherence")), r"lists a statistic twice"),
    (dict(stats="alphas", stats_examples=1), r"stats_examples must be >= 2"),
    (dict(sizes=(12,)), r"sizes must list"),
    (dict(lr=0.0), r"lr must be > 0"),
    (dict(w_scale=float("inf")), r"w_scale must be finite"),
    (dict(record_every=0), r"record_every must be >= 1"),
    (dict(n_null=-1), r"n_null must be >= 0"),
    (dict(c_max=-1), r"c_max must be >= 0"),
    (dict(eval_examples=0), r"eval_examples must be None"),
    (dict(test_examples=2.5), r"test_examples must be None"),
])
def test_bad_config_says_what_is_wrong(overrides, message):
    with pytest.raises(sweep.ConfigError, match=message):
        config(**overrides)


def test_static_c_is_no_longer_a_field():
    with pytest.raises(TypeError, match="static_c"):
        config(method="winsorized", c_max=2, static_c=True)


def test_a_config_is_its_four_concerns():
    cfg = config(method="winsorized", c_max=2, stats=("coherence",), w_scale=0.5)
    assert cfg.part(sweep.ModelConfig) == sweep.ModelConfig(sizes=cfg.sizes, w_scale=0.5)
    assert cfg.part(sweep.MethodConfig) == sweep.MethodConfig(method="winsorized", lr=0.2, c_max=2)
    assert cfg.part(sweep.ScheduleConfig).chunk == 6
    assert cfg.part(sweep.RecordsConfig).stats == ("coherence",)
    concerns = (sweep.ModelConfig, sweep.MethodConfig, sweep.ScheduleConfig, sweep.RecordsConfig)
    names = [f.name for concern in concerns for f in dataclasses.fields(concern)]
    assert sorted(names + ["keep_params"]) == sorted(f.name for f in dataclasses.fields(sweep.SweepConfig))
    # a concern checks its own fields on its own too
    with pytest.raises(sweep.ConfigError, match="unknown sampling"):
        sweep.ScheduleConfig(steps=4, record_every=2, sampling="random")


def test_schedule_chunks_and_record_steps():
    cfg = config(steps=12, record_every=3, chunk_steps=None)
    assert cfg.chunk == 12 and cfg.num_chunks == 1
    np.testing.assert_array_equal(cfg.record_steps, [0, 3, 6, 9, 12])
    assert sweep.default_chunk(200_000, 500) == 1000 and sweep.default_chunk(1200, 100) == 600
    assert sweep.default_chunk(6000, 2000) == 2000  # at least one block


def test_json_round_trip_and_hash():
    cfg = config(stats=("alphas", "coherence"), eval_examples=40)
    again = sweep.SweepConfig.from_json(cfg.to_json())
    assert again == cfg and hash(again) == hash(cfg)
    assert dataclasses.replace(cfg, steps=24).steps == 24


def test_configs_stored_with_static_c_read_back_as_the_same_sweep():
    """Stored runs of chapter 5 carry static_c=True; the winsorized method now compiles a shared level in."""
    stored = json.loads(config(method="winsorized", c_max=2).to_json())
    again = sweep.SweepConfig.from_json(json.dumps({**stored, "static_c": True}))
    assert again == config(method="winsorized", c_max=2)
    with pytest.raises(sweep.ConfigError, match="static_c=True with method='sgd'"):
        sweep.SweepConfig.from_json(json.dumps({**json.loads(config().to_json()), "static_c": True}))
