"""A sweep's configuration: four concerns, and :class:`SweepConfig`, the one flat record of them all.

  :class:`cgnb.engine.sweep.model.ModelConfig`      what is trained (sizes, w_scale)
  :class:`cgnb.engine.sweep.methods.MethodConfig`   how (method, lr, c_max)
  :class:`ScheduleConfig`                           for how long, on which minibatches, when it
                                                    records and checkpoints
  :class:`cgnb.engine.sweep.records.RecordsConfig`  what each record measures

:class:`SweepConfig` has every field of the four (``SweepConfig(sizes=..., steps=..., method=...)``)
and ``keep_params``; each concern checks its own fields, and the sweep checks what ties them
together. The conventions the fields describe are in :mod:`cgnb.engine.sweep`'s docstring.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, sections 2.1 and 3.1 (the experiments sweeps run).
"""
from __future__ import annotations

import dataclasses
import json
from typing import TypeVar

import numpy as np

from .. import checks, sampler
from .methods import METHODS, MethodConfig
from .model import ModelConfig
from .records import RecordsConfig
from .types import ConfigError

DEFAULT_CHUNK = 1000  # steps per compiled call when chunk_steps is not given
Concern = TypeVar("Concern")


def default_chunk(steps: int, record_every: int) -> int:
    """The largest multiple of ``record_every`` that divides ``steps`` and is <= :data:`DEFAULT_CHUNK` (at least one block)."""
    blocks = steps // record_every
    best = 1
    for k in range(1, blocks + 1):
        if blocks % k == 0 and k * record_every <= DEFAULT_CHUNK:
            best = k
    return best * record_every


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScheduleConfig:
    """How long a sweep trains, on which minibatches, when it records and checkpoints.

    Attributes:
      steps: training steps per variant; a multiple of ``record_every``.
      batch_size: minibatch size B.
      record_every: steps between records.
      chunk_steps: steps per compiled call and per checkpoint; a multiple of ``record_every`` that
        divides ``steps``. Default: the largest such value <= :data:`DEFAULT_CHUNK`.
      sampling: ``"epochs"`` (shuffled epochs) or ``"uniform"`` (i.i.d. indices each step),
        :func:`cgnb.engine.sampler.batch_indices`.
    """

    steps: int
    batch_size: int = 100
    record_every: int = 100
    chunk_steps: int | None = None
    sampling: str = "epochs"

    def __post_init__(self):
        self.check_schedule()

    def check_schedule(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field of the schedule and how to fix it."""
        try:
            for name in ("steps", "batch_size", "record_every"):
                checks.integer(name, getattr(self, name), minimum=1)
            checks.optional_integer("chunk_steps", self.chunk_steps, minimum=1)
        except ValueError as error:
            raise ConfigError(f"SweepConfig: {error}") from None
        if self.sampling not in sampler.SAMPLINGS:
            raise ConfigError(f"unknown sampling {self.sampling!r}; use one of {sampler.SAMPLINGS}")
        if self.steps % self.record_every:
            lo = self.steps // self.record_every * self.record_every
            raise ConfigError(
                f"steps ({self.steps}) must be a multiple of record_every ({self.record_every}): use "
                f"steps={max(lo, self.record_every)} or {lo + self.record_every}, or a record_every that divides "
                f"{self.steps}")
        if self.chunk_steps is not None and self.chunk_steps % self.record_every:
            raise ConfigError(
                f"chunk_steps ({self.chunk_steps}) must be a positive multiple of record_every "
                f"({self.record_every}), e.g. {self.record_every * max(1, self.chunk_steps // self.record_every)}"
                f"; or leave chunk_steps=None for a default")
        if self.chunk_steps is not None and self.steps % self.chunk_steps:
            raise ConfigError(
                f"steps ({self.steps}) must be a multiple of chunk_steps ({self.chunk_steps}), so every "
                f"compiled chunk has the same length; e.g. chunk_steps="
                f"{default_chunk(self.steps, self.record_every)} or leave chunk_steps=None")

    @property
    def chunk(self) -> int:
        """Steps per compiled call (``chunk_steps`` or its default)."""
        return self.chunk_steps or default_chunk(self.steps, self.record_every)

    @property
    def num_chunks(self) -> int:
        """Compiled calls per sweep: ``steps // chunk``."""
        return self.steps // self.chunk

    @property
    def record_steps(self) -> np.ndarray:
        """(R,) the steps at which records are taken: 0, record_every, ..., steps."""
        return np.arange(0, self.steps + 1, self.record_every)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepConfig(ModelConfig, MethodConfig, ScheduleConfig, RecordsConfig):
    """Everything about a sweep except its data and variants: the fields of its four concerns, and

    Attributes:
      keep_params: keep the final parameters (with a leading variant axis) in the result.

    e.g. ``SweepConfig(sizes=(784, 2048, 10), steps=2000, record_every=100, stats=("alphas",))``.
    Frozen and hashable; checked on construction (:class:`ConfigError` names the first bad field).
    """

    keep_params: bool = True

    def __post_init__(self):
        for concern in (ModelConfig, MethodConfig, ScheduleConfig, RecordsConfig):
            concern.__post_init__(self)
        METHODS[self.method].check(self.c_max, self.batch_size)

    def part(self, concern: type[Concern]) -> Concern:
        """The fields of one concern (e.g. ``config.part(RecordsConfig)``) as that concern's record."""
        return concern(**{f.name: getattr(self, f.name) for f in dataclasses.fields(concern)})

    def to_json(self) -> str:
        """The config as JSON (every field, keys sorted): what results store and keys hash."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SweepConfig":
        """The config of :meth:`to_json`'s text.

        Configs stored before the winsorized method chose its program itself carry ``static_c``; it is
        dropped, since a winsorized sweep whose variants all have one level compiles that level in
        (:meth:`cgnb.engine.sweep.methods.Method.compiled_level`), as ``static_c=True`` did.

        Raises:
          ConfigError: a stored ``static_c=True`` on a method that uses no levels, or a bad field.
        """
        fields = json.loads(text)
        if fields.pop("static_c", False) and not METHODS[fields.get("method", "sgd")].uses_levels:
            raise ConfigError(f"a stored config has static_c=True with method={fields.get('method')!r}; "
                              f"only a method that uses winsorization levels compiles one in")
        fields["sizes"] = tuple(fields["sizes"])
        fields["stats"] = tuple(fields["stats"])
        return cls(**fields)


__all__ = ["DEFAULT_CHUNK", "default_chunk", "ScheduleConfig", "SweepConfig"]
