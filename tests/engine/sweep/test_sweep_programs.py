"""Tests of cgnb.engine.sweep.programs: the programs are keyed on what shapes them, and nothing else."""
import dataclasses

import jax
import jax.numpy as jnp

from cgnb.engine import sweep

from sweep_reference import config


def test_sweeps_that_differ_in_length_or_kept_parameters_share_their_programs():
    base = config(steps=12, chunk_steps=6)
    assert sweep.programs(base) is sweep.programs(dataclasses.replace(base, steps=24, keep_params=False))
    assert sweep.programs(base) is sweep.programs(dataclasses.replace(base, sampling="uniform", w_scale=2.0))
    assert sweep.programs(base) is not sweep.programs(dataclasses.replace(base, lr=0.5))
    assert sweep.programs(base) is not sweep.programs(dataclasses.replace(base, stats=("coherence",)))


def test_the_level_is_part_of_the_key_only_for_a_method_that_uses_levels():
    wins = config(method="winsorized", c_max=2)
    assert sweep.program(wins, 2).level == 2 and sweep.program(wins).level is None
    assert sweep.programs(wins, 2) is not sweep.programs(wins)
    assert sweep.program(config(), 2).level is None and sweep.programs(config(), 2) is sweep.programs(config())


def test_a_programs_step_uses_the_compiled_level_or_the_traced_one():
    wins = config(method="winsorized", c_max=2)
    rules = []

    def rule_of(program, c):  # traced, as a variant's level is inside the programs
        rules.append(program.step(c).rule)
        return c

    jax.eval_shape(lambda c: rule_of(sweep.program(wins, 0), c), jnp.int32(2))
    jax.eval_shape(lambda c: rule_of(sweep.program(wins), c), jnp.int32(0))
    assert rules == ["mean", "per_example"]  # a compiled-in 0 is the sgd step; a traced level winsorizes
    key = sweep.program(wins, 1)
    assert key.records == wins.part(sweep.RecordsConfig) and key.chunk == 6 and key.record_every == 3
