"""The V variants of a sweep: what differs between its runs (labels, pristine mask, seed, level c).

Variants differ only in data: training labels (label noise), the pristine mask, the seed
(initialisation, minibatch order and null-world masks) and the winsorization level ``c``. Variants
with the same seed share initialisation and minibatch order, whatever their labels or ``c``.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 2.1 (label noise with pristine examples).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import numpy as np

from .. import checks, data
from ..seeds import noise_key
from .types import ConfigError

INT32_MAX = 2 ** 31 - 1


@dataclasses.dataclass(frozen=True, eq=False)
class Variants:
    """The V experiment variants of a sweep, as stacked arrays (read-only).

    Attributes:
      labels: (V, N) int32 training labels (possibly noisy).
      pristine: (V, N) bool, True where the label is unchanged.
      seed: (V,) int64, seeds the initialisation, the minibatch order and the null masks; in [0, 2**31).
      c: (V,) int32 winsorization levels (0 for methods that use none).
      noise: (V,) float64 label-noise fraction, metadata only (NaN when unknown).

    ``seed``, ``c`` and ``noise`` may be given as scalars (shared by all variants).

    Raises:
      ConfigError: arrays of the wrong shape, non-integer labels, seeds or levels, no variant.
    """

    labels: np.ndarray
    pristine: np.ndarray
    seed: np.ndarray | int = 0
    c: np.ndarray | int = 0
    noise: np.ndarray | float = float("nan")

    def __post_init__(self):
        try:  # checked before any conversion, so that no value wraps around in int32
            labels = checks.integer_array("Variants.labels", self.labels, minimum=0, maximum=INT32_MAX)
            whole = {name: checks.integer_array(f"Variants.{name}", getattr(self, name), maximum=INT32_MAX)
                     for name in ("seed", "c")}
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if labels.ndim != 2:
            raise ConfigError(f"Variants.labels must be (V, N), got shape {labels.shape}")
        v, n = labels.shape
        pristine = np.asarray(self.pristine, bool)
        if pristine.shape != (v, n):
            raise ConfigError(f"Variants.pristine must have the labels' shape {(v, n)}, got {pristine.shape}")
        fields = {"labels": labels.astype(np.int32), "pristine": pristine}
        for name, dtype in (("seed", np.int64), ("c", np.int32)):
            fields[name] = np.broadcast_to(whole[name].astype(dtype), (v,)).copy()
        fields["noise"] = np.broadcast_to(np.asarray(self.noise, np.float64), (v,)).copy()
        if v < 1:
            raise ConfigError("Variants needs at least one variant")
        if fields["seed"].min() < 0 or fields["seed"].max() >= 2 ** 31:
            raise ConfigError(f"seeds must be in [0, 2**31), got {fields['seed']}")
        if fields["c"].min() < 0:
            raise ConfigError(f"winsorization levels c must be >= 0, got {fields['c']}")
        for name, value in fields.items():
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, index) -> "Variants":
        """The variants selected by an index, slice, index array or boolean mask."""
        index = np.arange(len(self))[index]
        index = np.atleast_1d(index)
        return Variants(self.labels[index], self.pristine[index], self.seed[index], self.c[index],
                        self.noise[index])

    @classmethod
    def noise_grid(cls, key: jax.Array, y_train: np.ndarray, noise_levels: Sequence[float], *,
                   seeds: Sequence[int] = (0,), cs: Sequence[int] = (0,)) -> "Variants":
        """All combinations of noise level x seed x c, in that (row-major) order.

        The labels of (noise level n, seed s) are :func:`cgnb.engine.data.corrupt_labels` with key
        :func:`cgnb.engine.seeds.noise_key` ``(key, n, s)``: each seed gets its own corruption, a
        noise level gets the same corruption whatever the other levels in the list, and variants
        that differ only in ``c`` share labels, initialisation and minibatch order.

        Raises:
          ConfigError: a noise level outside [0, 1].
        """
        try:
            noise_levels = [checks.real("noise level", n, low=0.0, high=1.0) for n in noise_levels]
        except ValueError as error:
            raise ConfigError(f"Variants.noise_grid: {error} (a fraction of corrupted labels)") from None
        rows = []
        for noise in noise_levels:
            for s in seeds:
                noisy = data.corrupt_labels(noise_key(key, noise, s), y_train, float(noise))
                for c in cs:
                    rows.append((noisy.labels, noisy.pristine, int(s), int(c), float(noise)))
        return cls(*(np.stack(col) for col in zip(*rows)))

    @classmethod
    def concat(cls, *parts: "Variants") -> "Variants":
        """Stack several Variants (same N) along the variant axis."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))


__all__ = ["Variants"]
