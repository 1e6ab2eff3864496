"""A sweep's compiled programs: one variant's initial record and its training chunk, ``vmap``-ed over variants.

The whole sweep is two compiled programs::

    init  = jit(vmap(init_variant))                   # the step-0 record of every variant
    chunk = jit(vmap(train_chunk, over variants))     # optionally sharded over local devices
      train_chunk = loop.train over record blocks     # chunk steps = one compiled call
        block = scan over record_every SGD steps, then one record (its record probe)

so no Python runs between steps. They are compiled once per :class:`Program`, what shapes them:
the method (and a compiled-in level), ``record_every``, the chunk length and what a record
measures; sweeps that differ only in their number of steps, their data or their variants share them.

Reference: ``jax.vmap`` and ``jax.lax.scan``; :func:`cgnb.engine.loop.train`.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp

from .. import loop, nets, trainer, xla
from .config import SweepConfig
from .methods import METHODS, MethodConfig
from .records import RecordsConfig, learned, measure, update_first_learned
from .types import Arrays, TrainState, VariantArrays


@dataclasses.dataclass(frozen=True)
class Program:
    """What shapes a sweep's compiled programs, and nothing else: their cache key.

    Attributes:
      method: the method, its learning rate and ``c_max``.
      level: the winsorization level compiled in (every variant shares it), or None (traced per variant).
      record_every: steps per record block.
      chunk: steps per compiled call.
      records: what each record measures.
    """

    method: MethodConfig
    level: int | None
    record_every: int
    chunk: int
    records: RecordsConfig

    def step(self, c: jax.Array) -> trainer.Step:
        """The training step of a variant whose traced level is ``c`` (ignored when a level is compiled in)."""
        return self.method.step(c if self.level is None else self.level)


def program(config: SweepConfig, level: int | None = None) -> Program:
    """The :class:`Program` of ``config``, with ``level`` compiled in (methods that use levels only)."""
    uses_levels = METHODS[config.method].uses_levels
    return Program(config.part(MethodConfig), level if uses_levels else None, config.record_every, config.chunk,
                   config.part(RecordsConfig))


def init_variant(params: nets.Params, variant: VariantArrays, arrays: Arrays, program: Program
                 ) -> tuple[TrainState, dict[str, jax.Array]]:
    """Initial state of one variant from its initial ``params``, and its step-0 record (:func:`measure`)."""
    opt_state = program.step(variant.c).init(params)
    n_eval = program.records.subset_sizes(arrays)[0]
    record, correct = measure(params, variant, arrays, program.records)
    first = learned(jnp.full((n_eval,), -1, jnp.int32), correct, jnp.int32(0))
    return TrainState(params, opt_state, first), record


def train_chunk(state: TrainState, variant: VariantArrays, arrays: Arrays, indices: jax.Array,
                start: jax.Array, program: Program) -> tuple[TrainState, dict[str, jax.Array]]:
    """Train one variant for ``program.chunk`` steps from step ``start``, recording every ``record_every``.

    :func:`cgnb.engine.loop.train` with the program's step and :func:`measure` as its record probe;
    ``first_learned`` is then updated record by record.

    Args:
      state: the variant's :class:`TrainState`.
      variant, arrays: its inputs and the shared data.
      indices: (chunk, B) the minibatches' training-set indices.
      start: () int32, the step the chunk starts at.
      program: the :class:`Program`.
    Returns:
      The new state and the records, each with a leading axis ``chunk // record_every``.
    """
    step = program.step(variant.c)
    trajectory = loop.train(loop.step_gradient(step), step.tx, state.params, arrays.x_train, variant.labels,
                            steps=program.chunk, record_every=program.record_every, indices=indices,
                            opt_state=state.opt_state,
                            record_probe=lambda p: measure(p, variant, arrays, program.records))
    records, correct = trajectory.records
    blocks = program.chunk // program.record_every
    ends = start + program.record_every * (1 + jnp.arange(blocks, dtype=jnp.int32))
    first = update_first_learned(state.first_learned, correct, ends)
    return TrainState(trajectory.params, trajectory.opt_state, first), records


def programs(config: SweepConfig, level: int | None = None) -> tuple[Callable, Callable]:
    """The compiled programs of a sweep, vmapped over variants (:func:`cgnb.engine.xla.jit`).

    ``init(params, variants, arrays) -> (states, records)`` and
    ``chunk(states, variants, arrays, indices (V, chunk, B), start) -> (states, records)``; ``params``,
    ``variants``, ``states`` and ``indices`` carry a leading variant axis V.

    Args:
      config: the sweep's configuration.
      level: the winsorization level every variant shares, compiled in; None traces each variant's c
        (bounded by ``config.c_max``). Ignored by methods that use no levels.
    Returns:
      ``(init, chunk)``, compiled once per :class:`Program`.
    """
    return _compiled(program(config, level))


@functools.lru_cache(maxsize=32)
def _compiled(program: Program) -> tuple[Callable, Callable]:
    init = xla.jit(jax.vmap(functools.partial(init_variant, program=program), in_axes=(0, 0, None)))
    chunk = xla.jit(jax.vmap(functools.partial(train_chunk, program=program), in_axes=(0, 0, None, 0, None)))
    return init, chunk


__all__ = ["Program", "program", "init_variant", "train_chunk", "programs"]
