"""Chapter 6's task: a regression on numbers written as text, in fixed-width fields of one-hot characters.

Each example is one line of nine numeric fields, each rendered right-aligned in a fixed
number of characters (integers, decimals, signed numbers, clock times ``HH:MM:SS`` and
``MM:SS``), padded with spaces or underscores, e.g. (``|`` marks field borders)::

    | 48213|07:13:52| 3170.25|_-817|_4.37|41:09| -6.20| 12.805|  -5102|

The line is one-hot encoded over the 15 symbols :data:`ALPHABET` = ``0123456789. -:_``
into ``x`` of shape ``(total_width * 15,)``; the target is ``y = 10 * d`` where ``d`` is
the value of one designated field (:data:`DEFAULT_TARGET`, a decimal in [0, 10)). To predict
``y`` a network has to *read* that field: find its characters, their place values and
the sign. This is the task of the blog "Gradients are sensitive to minibatch composition",
whose own data set is not public; the layout here is ours.

Values are drawn as integers in the field's smallest unit (``10**-decimals`` for decimals,
seconds for times), so that rendering is exact.

Reference: "Gradients are sensitive to minibatch composition" (blog post).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import numpy as np

ALPHABET = "0123456789. -:_"
NUM_SYMBOLS = len(ALPHABET)
PADS = (" ", "_")
KINDS = ("int", "decimal", "time")
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


@dataclasses.dataclass(frozen=True)
class Field:
    """One fixed-width numeric field.

    Attributes:
      name: a label for plots and errors.
      kind: ``"int"``, ``"decimal"`` (``decimals`` digits after ``'.'``) or ``"time"``
        (``HH:MM:SS`` when ``width == 8``, ``MM:SS`` when ``width == 5``; value in seconds).
      width: number of characters; values are right-aligned and left-padded with ``pad``.
      low, high: inclusive range of values drawn by :func:`make_task` (in seconds for times).
      decimals: digits after the decimal point (``"decimal"`` only, >= 1).
      pad: ``" "`` or ``"_"``.
    """

    name: str
    kind: str
    width: int
    low: float
    high: float
    decimals: int = 0
    pad: str = " "

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.pad not in PADS:
            raise ValueError(f"field {self.name!r}: pad must be one of {PADS}, got {self.pad!r}")
        if self.width < 1:
            raise ValueError(f"field {self.name!r}: width must be >= 1, got {self.width}")
        if self.kind == "decimal" and self.decimals < 1:
            raise ValueError(f"field {self.name!r}: a decimal field needs decimals >= 1, got {self.decimals}")
        if self.kind != "decimal" and self.decimals != 0:
            raise ValueError(f"field {self.name!r}: only decimal fields take decimals, got {self.decimals}")
        if self.kind == "time" and self.width not in (5, 8):
            raise ValueError(f"field {self.name!r}: a time field is MM:SS (width 5) or HH:MM:SS (width 8), "
                             f"got width {self.width}")
        if self.low > self.high:
            raise ValueError(f"field {self.name!r}: low {self.low} > high {self.high}")
        for value in (self.low, self.high):  # the whole range must fit the width
            render_field(self, value)

    @property
    def unit(self) -> float:
        """The smallest step of a value: ``10**-decimals`` (1 for int and time fields)."""
        return 10.0 ** -self.decimals


def render_field(field: Field, value: float) -> str:
    """``value`` written into exactly ``field.width`` characters, right-aligned.

    Raises:
      ValueError: the value is not a whole number of ``field.unit``, is negative for a
        time, or does not fit the width (say which field and how wide it would be).
    """
    units = round(value / field.unit)
    if abs(units * field.unit - value) > 1e-9 * max(1.0, abs(value)):
        raise ValueError(f"field {field.name!r} ({field.kind}, {field.decimals} decimals) cannot hold {value!r}: "
                         f"it is not a multiple of {field.unit:g}")
    if field.kind == "int":
        text = str(int(units))
    elif field.kind == "decimal":
        text = f"{units * field.unit:.{field.decimals}f}"
    else:
        if units < 0:
            raise ValueError(f"time field {field.name!r} cannot hold a negative number of seconds: {value!r}")
        minutes, seconds = divmod(int(units), 60)
        if field.width == 5:
            text = f"{minutes:02d}:{seconds:02d}"
        else:
            hours, minutes = divmod(minutes, 60)
            text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if len(text) > field.width:
        raise ValueError(f"value {value!r} needs {len(text)} characters ({text!r}) but field {field.name!r} "
                         f"is {field.width} wide; widen the field or narrow its range")
    return text.rjust(field.width, field.pad)


DEFAULT_FIELDS: tuple[Field, ...] = (
    Field("id", "int", 6, 0, 99_999),
    Field("clock", "time", 8, 0, 86_399),
    Field("price", "decimal", 8, 0, 9_999.99, decimals=2),
    Field("count", "int", 5, -999, 999, pad="_"),
    Field("level", "decimal", 5, 0, 9.99, decimals=2, pad="_"),
    Field("lap", "time", 5, 0, 3_599),
    Field("delta", "decimal", 6, -9.99, 9.99, decimals=2),
    Field("ratio", "decimal", 7, 0, 99.999, decimals=3),
    Field("offset", "int", 7, -99_999, 99_999),
)
"""The nine fields of the book's task (total width 57, so 855 one-hot inputs)."""
DEFAULT_TARGET = 4
"""Index of the designated field ``d`` in :data:`DEFAULT_FIELDS` ("level", values in [0, 9.99], so y in [0, 99.9])."""
SIGNED_TARGET = 6
"""Index of a signed field ("delta", values in [-9.99, 9.99]): a zero-mean target for comparison."""


def total_width(fields: Sequence[Field] = DEFAULT_FIELDS) -> int:
    """Characters in one line: the sum of the field widths."""
    return int(sum(f.width for f in fields))


def input_dim(fields: Sequence[Field] = DEFAULT_FIELDS) -> int:
    """Length of the one-hot input: ``total_width * 15``."""
    return total_width(fields) * NUM_SYMBOLS


def show_line(fields: Sequence[Field], line: str, sep: str = "|") -> str:
    """``line`` with ``sep`` between the fields, for display: ``"| 48213|07:13:52|...|"``."""
    parts, start = [], 0
    for f in fields:
        parts.append(line[start:start + f.width])
        start += f.width
    return sep + sep.join(parts) + sep


def encode(lines: Sequence[str]) -> np.ndarray:
    """One-hot encode equal-length lines: (N,) strings of length W -> (N, W * 15) float32.

    Position ``w`` of line ``n`` sets ``x[n, w * 15 + ALPHABET.index(char)] = 1``.

    Raises:
      ValueError: lines of different lengths or characters outside :data:`ALPHABET`.
    """
    lines = list(lines)
    if not lines:
        return np.zeros((0, 0), np.float32)
    width = len(lines[0])
    if any(len(s) != width for s in lines):
        raise ValueError("all lines must have the same length to be encoded together")
    if any(ord(c) > 127 for s in lines for c in s):
        raise ValueError(f"lines may only hold characters of the alphabet {ALPHABET!r}")
    codes = np.frombuffer("".join(lines).encode("ascii"), np.uint8).reshape(len(lines), width)
    return encode_codes(codes)


def decode(x: np.ndarray) -> list[str]:
    """Inverse of :func:`encode`: (N, W * 15) one-hot rows -> N strings of length W.

    Raises:
      ValueError: the last axis is not a multiple of 15, or some position is not exactly one-hot.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] % NUM_SYMBOLS:
        raise ValueError(f"expected (N, W * {NUM_SYMBOLS}) one-hot rows, got shape {x.shape}")
    chars = x.reshape(len(x), -1, NUM_SYMBOLS)
    if not (np.all((chars == 0) | (chars == 1)) and np.all(chars.sum(-1) == 1)):
        raise ValueError("input is not one-hot: every character position needs exactly one 1 among its 15 entries")
    table = np.array(list(ALPHABET))
    return ["".join(row) for row in table[chars.argmax(-1)]]


@dataclasses.dataclass(frozen=True)
class FieldTask:
    """A generated data set. ``x`` (N, W*15) float32 one-hot, ``y`` (N,) float32 = ``scale * values[:, target]``,
    ``values`` (N, F) float64 the numbers written, ``lines`` (N,) the text."""

    x: np.ndarray
    y: np.ndarray
    values: np.ndarray
    lines: tuple[str, ...]
    fields: tuple[Field, ...]
    target: int
    scale: float

    def __len__(self) -> int:
        return len(self.y)


def sample_values(key: jax.Array, n: int, fields: Sequence[Field] = DEFAULT_FIELDS) -> np.ndarray:
    """Draw ``n`` values per field, uniform over the whole units in ``[low, high]``: (n, F) float64.

    Raises:
      ValueError: ``n < 0``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    keys = jax.random.split(key, len(fields))
    columns = []
    for k, f in zip(keys, fields):
        lo, hi = round(f.low / f.unit), round(f.high / f.unit)
        units = np.asarray(jax.random.randint(k, (n,), lo, hi + 1, dtype=np.int32), np.int64)
        columns.append(np.round(units * f.unit, f.decimals))
    return np.stack(columns, axis=1) if columns else np.zeros((n, 0))


def _units(field: Field, column: np.ndarray) -> np.ndarray:
    """Values -> whole numbers of ``field.unit`` (int64); raises if a value is not a whole number of units."""
    units = np.round(column / field.unit)
    off = np.abs(units * field.unit - column) > 1e-9 * np.maximum(1.0, np.abs(column))
    if np.any(off):
        bad = column[np.argmax(off)]
        raise ValueError(f"field {field.name!r} ({field.kind}, {field.decimals} decimals) cannot hold {bad!r}: "
                         f"it is not a multiple of {field.unit:g}")
    return units.astype(np.int64)


def _render_column(field: Field, column: np.ndarray) -> np.ndarray:
    """Vectorised :func:`render_field`: values (n,) -> ASCII codes (n, width) uint8."""
    units = _units(field, column)
    n, width = len(units), field.width
    out = np.full((n, width), ord(field.pad), np.uint8)
    digit = lambda v: (ord("0") + v).astype(np.uint8)  # noqa: E731
    if field.kind == "time":
        if np.any(units < 0):
            raise ValueError(f"time field {field.name!r} cannot hold a negative number of seconds: "
                             f"{column[np.argmax(units < 0)]!r}")
        limit = 3_600 if width == 5 else 360_000
        if np.any(units >= limit):
            raise ValueError(f"value {column[np.argmax(units >= limit)]!r} s does not fit time field "
                             f"{field.name!r} of width {width}; widen the field or narrow its range")
        parts = [units // 60, units % 60] if width == 5 else [units // 3600, units // 60 % 60, units % 60]
        for i, part in enumerate(parts):
            out[:, 3 * i] = digit(part // 10)
            out[:, 3 * i + 1] = digit(part % 10)
            if i < len(parts) - 1:
                out[:, 3 * i + 2] = ord(":")
        return out
    magnitude, negative = np.abs(units), units < 0
    # digits of the magnitude (at least one before the point, plus the decimals)
    n_digits = 1 + sum((magnitude >= 10 ** k).astype(np.int64) for k in range(1, 19))
    n_digits = np.maximum(n_digits, field.decimals + 1)
    length = n_digits + (field.decimals > 0) + negative
    if np.any(length > width):
        i = int(np.argmax(length > width))
        raise ValueError(f"value {column[i]!r} needs {length[i]} characters but field {field.name!r} is {width} "
                         f"wide; widen the field or narrow its range")
    rest, pos = magnitude.copy(), width - 1
    for k in range(int(n_digits.max(initial=1))):
        if field.decimals and k == field.decimals:
            out[:, pos] = ord(".")
            pos -= 1
        write = k < n_digits
        out[write, pos] = digit(rest[write] % 10)
        rest //= 10
        pos -= 1
    sign_pos = width - length
    rows = np.flatnonzero(negative)
    out[rows, sign_pos[rows]] = ord("-")
    return out


def render_lines(fields: Sequence[Field], values: np.ndarray) -> np.ndarray:
    """Every row of ``values`` (N, F) rendered field by field (:func:`render_field`) and concatenated: ASCII
    codes (N, total_width) uint8.

    Raises:
      ValueError: ``values`` not (N, F), or a value a field cannot hold.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 2 or values.shape[1] != len(fields):
        raise ValueError(f"values must be (N, {len(fields)}) for {len(fields)} fields, got shape {values.shape}")
    if not len(fields):
        return np.zeros((len(values), 0), np.uint8)
    return np.concatenate([_render_column(f, values[:, i]) for i, f in enumerate(fields)], axis=1)


def encode_codes(codes: np.ndarray) -> np.ndarray:
    """One-hot encode ASCII codes (N, W) uint8 -> (N, W * 15) float32 (see :func:`encode`).

    Raises:
      ValueError: a character outside :data:`ALPHABET`.
    """
    lookup = np.full(256, -1, np.int64)
    for c, i in _INDEX.items():
        lookup[ord(c)] = i
    index = lookup[codes]
    if np.any(index < 0):
        bad = sorted({chr(c) for c in np.unique(codes[index < 0])})
        raise ValueError(f"characters {bad!r} are not in the alphabet {ALPHABET!r}")
    x = np.zeros((*codes.shape, NUM_SYMBOLS), np.float32)
    np.put_along_axis(x, index[..., None], 1.0, axis=2)
    return x.reshape(len(codes), codes.shape[1] * NUM_SYMBOLS)


def make_task(key: jax.Array, n: int, fields: Sequence[Field] = DEFAULT_FIELDS, *, target: int = DEFAULT_TARGET,
              scale: float = 10.0) -> FieldTask:
    """``n`` examples of the task, deterministic for ``key``: y = ``scale`` * (value of field ``target``).

    Returns a :class:`FieldTask`; ``x`` is ``(n, total_width * 15)`` float32.

    Raises:
      ValueError: no fields, or ``target`` not one of them.
    """
    fields = tuple(fields)
    if not fields:
        raise ValueError("make_task needs at least one field")
    if not 0 <= target < len(fields):
        raise ValueError(f"target must index one of the {len(fields)} fields, got {target}")
    values = sample_values(key, n, fields)
    codes = render_lines(fields, values)
    text, width = codes.tobytes().decode("ascii"), codes.shape[1]
    lines = tuple(text[i * width:(i + 1) * width] for i in range(n))
    x = encode_codes(codes)
    y = (scale * values[:, target]).astype(np.float32)
    return FieldTask(x, y, values, lines, fields, target, float(scale))
