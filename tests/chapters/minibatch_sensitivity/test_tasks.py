"""Tests of cgnb.chapters.minibatch_sensitivity.tasks: the text-field regression task (rendering, one-hot encoding, targets)."""
import jax
import numpy as np
import pytest

from cgnb.chapters.minibatch_sensitivity import tasks as F


def _parse_field(field, text):
    """Reference reader, the inverse of ``render_field``: the value written in ``text`` (``field.width`` chars)."""
    if len(text) != field.width:
        raise ValueError(f"field {field.name!r} is {field.width} characters wide, got {len(text)}: {text!r}")
    body = text.lstrip(field.pad)
    if field.kind == "time":
        parts = body.split(":")
        if len(parts) != (2 if field.width == 5 else 3) or not all(p.isdigit() for p in parts):
            raise ValueError(f"field {field.name!r}: {text!r} is not a clock time of width {field.width}")
        seconds = 0
        for p in parts:
            seconds = 60 * seconds + int(p)
        return float(seconds)
    try:
        return float(int(body)) if field.kind == "int" else round(float(body), field.decimals)
    except ValueError:
        raise ValueError(f"field {field.name!r} ({field.kind}): cannot read a number from {text!r}") from None


def _render_line(fields, values):
    """Reference: one example's text, the fields rendered one at a time and concatenated."""
    if len(values) != len(fields):
        raise ValueError(f"got {len(values)} values for {len(fields)} fields")
    return "".join(F.render_field(f, v) for f, v in zip(fields, values))


def _parse_line(fields, line):
    """Reference reader, the inverse of ``_render_line``: the values (len(fields),) float64."""
    if len(line) != F.total_width(fields):
        raise ValueError(f"a line is {F.total_width(fields)} characters for these fields, got {len(line)}: {line!r}")
    values, start = [], 0
    for f in fields:
        values.append(_parse_field(f, line[start:start + f.width]))
        start += f.width
    return np.asarray(values, np.float64)


def test_render_field_examples():
    assert F.render_field(F.Field("a", "int", 6, 0, 99_999), 42) == "    42"
    assert F.render_field(F.Field("b", "int", 5, -999, 999, pad="_"), -817) == "_-817"
    level = F.Field("c", "decimal", 5, 0, 9.99, decimals=2, pad="_")
    assert F.render_field(level, 4.37) == "_4.37"
    assert F.render_field(level, 0) == "_0.00"
    assert F.render_field(F.Field("d", "decimal", 6, -9.99, 9.99, decimals=2), -6.2) == " -6.20"
    assert F.render_field(F.Field("e", "time", 8, 0, 86_399), 7 * 3600 + 13 * 60 + 52) == "07:13:52"
    assert F.render_field(F.Field("f", "time", 5, 0, 3_599), 41 * 60 + 9) == "41:09"


def test_default_layout():
    assert len(F.DEFAULT_FIELDS) == 9
    assert F.total_width() == sum(f.width for f in F.DEFAULT_FIELDS) == 57
    assert F.input_dim() == 57 * 15
    assert F.ALPHABET == "0123456789. -:_" and F.NUM_SYMBOLS == 15
    target = F.DEFAULT_FIELDS[F.DEFAULT_TARGET]
    assert target.low >= 0  # a positive target: all errors share a sign at initialisation
    assert F.DEFAULT_FIELDS[F.SIGNED_TARGET].low < 0


def _edge_values(n: int = 64) -> np.ndarray:
    """Values that stress the renderer: range ends, zero, powers of ten and random ones."""
    rng = np.random.default_rng(0)
    columns = []
    for f in F.DEFAULT_FIELDS:
        lo, hi = round(f.low / f.unit), round(f.high / f.unit)
        special = [lo, hi, 0, 1, 9, 10, 99, 100, -1, -10, -100]
        special = [u for u in special if lo <= u <= hi]
        units = np.concatenate([special, rng.integers(lo, hi + 1, n - len(special))])
        columns.append(np.round(units * f.unit, f.decimals))
    return np.stack(columns, axis=1)


def test_vectorised_rendering_matches_reference():
    values = _edge_values()
    codes = F.render_lines(F.DEFAULT_FIELDS, values)
    assert codes.shape == (len(values), F.total_width())
    for row, value_row in zip(codes, values):
        assert row.tobytes().decode() == _render_line(F.DEFAULT_FIELDS, value_row)


def test_encode_decode_round_trip_strings_and_numbers():
    task = F.make_task(jax.random.PRNGKey(3), 200)
    assert F.decode(task.x) == list(task.lines)
    for line, row in zip(F.decode(task.x), task.values):
        np.testing.assert_array_equal(_parse_line(task.fields, line), row)
    values = _edge_values()
    lines = [_render_line(F.DEFAULT_FIELDS, v) for v in values]
    back = [_parse_line(F.DEFAULT_FIELDS, s) for s in F.decode(F.encode(lines))]
    np.testing.assert_array_equal(np.stack(back), values)


def test_one_hot_layout_against_a_loop():
    lines = ["0123456789. -:_", "_:- .9876543210"]
    x = F.encode(lines)
    assert x.shape == (2, 15 * 15) and x.dtype == np.float32
    expected = np.zeros((2, 15 * 15), np.float32)
    for n, line in enumerate(lines):
        for w, c in enumerate(line):
            expected[n, w * 15 + F.ALPHABET.index(c)] = 1.0
    np.testing.assert_array_equal(x, expected)


def test_target_is_ten_times_the_designated_field():
    task = F.make_task(jax.random.PRNGKey(0), 300)
    assert task.x.shape == (300, F.input_dim()) and task.y.shape == (300,) and task.values.shape == (300, 9)
    assert task.y.dtype == np.float32 and len(task) == 300
    # independent of task.values: read the designated field off the decoded text
    start = sum(f.width for f in task.fields[: task.target])
    width = task.fields[task.target].width
    read = np.array([float(line[start:start + width].lstrip(" _")) for line in F.decode(task.x)])
    np.testing.assert_allclose(task.y, 10 * read, rtol=1e-6)
    other = F.make_task(jax.random.PRNGKey(0), 300, target=F.SIGNED_TARGET, scale=2.0)
    np.testing.assert_array_equal(other.x, task.x)
    np.testing.assert_allclose(other.y, 2.0 * task.values[:, F.SIGNED_TARGET], rtol=1e-6)


def test_values_cover_the_ranges():
    task = F.make_task(jax.random.PRNGKey(1), 2000)
    for i, f in enumerate(task.fields):
        assert task.values[:, i].min() >= f.low and task.values[:, i].max() <= f.high
        assert np.unique(task.values[:, i]).size > 50


def test_deterministic_for_a_key():
    a, b = F.make_task(jax.random.PRNGKey(7), 100), F.make_task(jax.random.PRNGKey(7), 100)
    c = F.make_task(jax.random.PRNGKey(8), 100)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.lines == b.lines
    assert not np.array_equal(a.x, c.x)


def test_value_that_does_not_fit_is_a_clear_error():
    field = F.Field("level", "decimal", 5, 0, 9.99, decimals=2, pad="_")
    with pytest.raises(ValueError, match="needs 6 characters.*5 wide"):
        F.render_field(field, 123.5)
    with pytest.raises(ValueError, match="needs 6 characters.*5 wide"):
        F.render_lines([field], np.array([[1.0], [123.5]]))
    with pytest.raises(ValueError, match="does not fit|needs"):
        F.Field("small", "int", 3, 0, 1000)  # the declared range itself does not fit
    with pytest.raises(ValueError, match="not a multiple of 0.01"):
        F.render_field(field, 1.234)
    with pytest.raises(ValueError, match="not a multiple"):
        F.render_lines([field], np.array([[1.234]]))
    with pytest.raises(ValueError, match="negative"):
        F.render_field(F.Field("t", "time", 5, 0, 3_599), -3)
    with pytest.raises(ValueError, match="does not fit time field"):
        F.render_lines([F.Field("t", "time", 5, 0, 3_599)], np.array([[3_600.0]]))


def test_bad_specs_and_inputs():
    with pytest.raises(ValueError, match="kind"):
        F.Field("x", "float", 5, 0, 1)
    with pytest.raises(ValueError, match="pad"):
        F.Field("x", "int", 5, 0, 1, pad="0")
    with pytest.raises(ValueError, match="decimals"):
        F.Field("x", "decimal", 5, 0, 1)
    with pytest.raises(ValueError, match="MM:SS"):
        F.Field("x", "time", 6, 0, 10)
    with pytest.raises(ValueError, match="low"):
        F.Field("x", "int", 5, 3, 1)
    with pytest.raises(ValueError, match="alphabet"):
        F.encode(["12a4"])
    with pytest.raises(ValueError, match="same length"):
        F.encode(["12", "123"])
    with pytest.raises(ValueError, match="not one-hot"):
        F.decode(np.zeros((1, 30), np.float32))
    with pytest.raises(ValueError, match=r"\(N, W \* 15\)"):
        F.decode(np.zeros((1, 31), np.float32))
    with pytest.raises(ValueError, match="target"):
        F.make_task(jax.random.PRNGKey(0), 10, target=9)


def test_show_line():
    line = _render_line(F.DEFAULT_FIELDS, [48213, 26032, 3170.25, -817, 4.37, 2469, -6.2, 12.805, -5102])
    assert F.show_line(F.DEFAULT_FIELDS, line) == "| 48213|07:13:52| 3170.25|_-817|_4.37|41:09| -6.20| 12.805|  -5102|"
