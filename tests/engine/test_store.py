"""Tests of cgnb.engine.store: keys, memo round trips, unreadable entries, atomic writes, CGNB_NO_CACHE."""
import os
import pickle
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import store


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def only_file(folder: Path) -> Path:
    (path,) = [p for p in folder.iterdir() if p.suffix == ".npz"]
    return path


# ---------------------------------------------------------------------------- keys


def test_key_depends_on_kind_config_and_array_content():
    a = store.key("e", {"y": np.array([1, 2, 3])})
    assert a == store.key("e", {"y": np.array([1, 2, 3])}) and len(a) == 24
    assert a != store.key("e", {"y": np.array([1, 2, 4])})
    assert a != store.key("e", {"y": np.array([1, 2, 3], np.int8)})
    assert a != store.key("e", {"y": np.array([[1, 2, 3]])})
    assert a != store.key("f", {"y": np.array([1, 2, 3])})
    assert store.key("e", {"a": 1, "b": 2}) == store.key("e", {"b": 2, "a": 1})


def test_key_depends_on_engine_source_and_environment(monkeypatch):
    base = store.key("e", {})
    monkeypatch.setattr(store, "engine_fingerprint", lambda: "edited")
    assert store.key("e", {}) != base
    monkeypatch.undo()
    for field in ("jax", "jaxlib", "numpy", "optax", "backend", "x64", "matmul_precision"):
        env = {**store.environment(), field: "other"}
        monkeypatch.setattr(store, "environment", lambda env=env: env)
        assert store.key("e", {}) != base, field
    monkeypatch.undo()
    assert store.key("e", {}) == base


def test_engine_fingerprint_covers_engine_modules_that_can_change_results(tmp_path, monkeypatch):
    assert len(store.engine_fingerprint()) == 64
    assert "sweep/run.py" in store.engine_sources() and "winsorize/kernel.py" in store.engine_sources()
    assert not set(store.NOT_RESULTS) & set(store.engine_sources())
    (tmp_path / "sweep").mkdir()
    for name in ("nets.py", "sweep/run.py", *store.NOT_RESULTS):
        (tmp_path / name).write_text("x = 1\n")
    monkeypatch.setattr(store, "ENGINE_DIR", tmp_path)
    fingerprint = store.engine_fingerprint.__wrapped__
    base = fingerprint()
    for name in ("plots.py", "ledger.py", "profiles.py", "paths.py", "display.py", "aot.py"):
        (tmp_path / name).write_text("x = 2  # a label or a path\n")
    assert fingerprint() == base
    (tmp_path / "nets.py").write_text("x = 2\n")
    edited = fingerprint()
    (tmp_path / "trainer.py").write_text("")  # a new engine module counts too
    added = fingerprint()
    assert len({base, edited, added}) == 3


def test_editing_a_file_in_a_sub_package_changes_the_key(tmp_path, monkeypatch):
    (tmp_path / "winsorize").mkdir()
    for name in ("nets.py", "winsorize/kernel.py", "winsorize/__init__.py"):
        (tmp_path / name).write_text("x = 1\n")
    monkeypatch.setattr(store, "ENGINE_DIR", tmp_path)
    monkeypatch.setattr(store, "engine_fingerprint", store.engine_fingerprint.__wrapped__)
    base = store.key("train", {"a": 1})
    (tmp_path / "winsorize" / "kernel.py").write_text("x = 2\n")
    edited = store.key("train", {"a": 1})
    (tmp_path / "winsorize" / "select.py").write_text("x = 3\n")  # a new algorithm module counts too
    assert len({base, edited, store.key("train", {"a": 1})}) == 3


def test_digest_is_equal_exactly_for_equal_values():
    a = store.digest({"x": np.arange(3), "n": [1, (2, 3)]})
    assert a == store.digest({"n": [1, [2, 3]], "x": np.arange(3)}) and len(a) == 64
    assert a != store.digest({"x": np.arange(3).astype(np.int8), "n": [1, (2, 3)]})
    assert a != store.digest({"x": np.arange(3), "n": [1, (2, 4)]})
    assert store.digest([{"w": np.zeros(2)}]) != store.digest([{"w": np.zeros(3)}])


def test_key_includes_sources_when_given():
    import cgnb.engine.paths as a_module

    assert store.key("e", {}, sources=[a_module]) != store.key("e", {})


@pytest.mark.parametrize("name,config,match", [("", {}, "non-empty"), ("a/b", {}, "without '/'"),
                                                ("e", {"f": object()}, "JSON-like or arrays")])
def test_bad_keys(name, config, match):
    with pytest.raises((ValueError, TypeError), match=match):
        store.key(name, config)


# ---------------------------------------------------------------------------- memo


def test_memoize_computes_once_and_reloads(tmp_path):
    compute, calls = counting({"x": np.arange(3.0), "n": 2})
    first = store.memoize("exp", {"lr": 0.1}, compute)
    second = store.memoize("exp", {"lr": 0.1}, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], second["x"])
    store.memoize("exp", {"lr": 0.2}, compute)
    assert len(calls) == 2


def test_memo_round_trip_of_nested_structures(tmp_path):
    value = {"plain/0": {"losses": jnp.arange(4.0), "start": [{"w": np.ones((2, 3), np.float32), "b": np.zeros(3)}]},
             "tuple": (1, 2.5, "text", None, True), "scalar": np.float32(0.25), "empty": [], "nested": [[np.int8(3)]],
             "nan": float("nan"), "big": 2 ** 70}
    first = store.memoize("nest", {}, lambda: value, directory=tmp_path)
    again = store.memoize("nest", {}, lambda: pytest.fail("recomputed"), directory=tmp_path)
    for got in (first, again):
        assert type(got["plain/0"]["losses"]) is np.ndarray
        np.testing.assert_array_equal(got["plain/0"]["losses"], np.arange(4.0))
        assert got["plain/0"]["start"][0]["w"].dtype == np.float32 and list(got["plain/0"]["start"][0]) == ["w", "b"]
        assert got["tuple"] == (1, 2.5, "text", None, True) and type(got["tuple"][0]) is int
        assert type(got["scalar"]) is np.float32 and got["scalar"] == 0.25
        assert got["empty"] == [] and type(got["nested"][0][0]) is np.int8
        assert np.isnan(got["nan"]) and got["big"] == 2 ** 70


def test_memo_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(TypeError, match="cannot store a set"):
        store.memoize("bad", {}, lambda: {"s": {1, 2}}, directory=tmp_path)
    with pytest.raises(TypeError, match="string keys"):
        store.memoize("bad", {}, lambda: {1: 2}, directory=tmp_path)
    with pytest.raises(TypeError, match="dtype object"):
        store.memoize("bad", {}, lambda: np.array([None, 1]), directory=tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".npz"]


def test_memo_sources_recompute_when_a_module_changes(tmp_path, monkeypatch):
    import types

    module_file = tmp_path / "chapter_x.py"
    module_file.write_text("A = 1\n")
    module = types.ModuleType("chapter_x")
    module.__file__ = str(module_file)
    compute, calls = counting(1)
    store.memoize("m", {}, compute, directory=tmp_path / "c", sources=[module])
    store.memoize("m", {}, compute, directory=tmp_path / "c", sources=[module])
    module_file.write_text("A = 2\n")
    store.memoize("m", {}, compute, directory=tmp_path / "c", sources=[module])
    assert len(calls) == 2


def test_failed_compute_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        store.memoize("exp", {}, lambda: (_ for _ in ()).throw(RuntimeError("boom")), directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- unreadable entries


class Marker:
    """Unpickling this creates a marker file: the store must never do it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def pickle_bytes(marker: Path) -> bytes:
    return pickle.dumps({"x": Marker(marker)})


def npz_with_object_array(marker: Path) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, structure=np.array('{"array": "leaf/0"}'), **{"leaf/0": np.array([Marker(marker)], object)})
    return buffer.getvalue()


@pytest.mark.parametrize("make", [pickle_bytes, npz_with_object_array])
def test_crafted_pickles_are_not_executed_but_recomputed(tmp_path, make):
    marker = tmp_path / "marker"
    compute, calls = counting({"x": np.ones(2)})
    store.memoize("crafted", {}, compute, directory=tmp_path / "c")
    path = only_file(tmp_path / "c")
    path.write_bytes(make(marker))
    with pytest.warns(RuntimeWarning, match=str(path.name)):
        result = store.memoize("crafted", {}, compute, directory=tmp_path / "c")
    assert not marker.exists() and len(calls) == 2
    np.testing.assert_array_equal(result["x"], np.ones(2))
    assert len(list((tmp_path / "c").glob(f"{path.name}.corrupt-*"))) == 1


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize("spoil", [truncated, lambda data: b"", lambda data: b"garbage" * 20,
                                   lambda data: np.lib.format.magic(1, 0) + b"\x00" * 10])
def test_unreadable_memo_warns_moves_aside_and_recomputes(tmp_path, spoil):
    compute, calls = counting({"x": np.arange(5)})
    store.memoize("spoilt", {}, compute, directory=tmp_path)
    path = only_file(tmp_path)
    path.write_bytes(spoil(path.read_bytes()))
    with pytest.warns(RuntimeWarning, match="unusable"):
        result = store.memoize("spoilt", {}, compute, directory=tmp_path)
    assert len(calls) == 2 and len(list(tmp_path.glob("*.corrupt-*"))) == 1
    np.testing.assert_array_equal(result["x"], np.arange(5))
    assert store.memoize("spoilt", {}, compute, directory=tmp_path)["x"].shape == (5,) and len(calls) == 2


def test_wrong_structure_is_a_miss(tmp_path):
    compute, calls = counting({"x": np.arange(5)})
    store.memoize("wrong", {}, compute, directory=tmp_path)
    path = only_file(tmp_path)
    store.write_arrays(path, {"structure": np.array('{"array": "leaf/9"}')})
    with pytest.warns(RuntimeWarning, match="KeyError"):
        store.memoize("wrong", {}, compute, directory=tmp_path)
    assert len(calls) == 2


def test_read_arrays_names_the_file(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"nonsense")
    with pytest.raises(store.CorruptEntry, match="bad.npz"):
        store.read_arrays(path)
    np.save(tmp_path / "one.npy", np.arange(3))
    with pytest.raises(store.CorruptEntry, match="single array"):
        store.read_arrays(tmp_path / "one.npy")


# ---------------------------------------------------------------------------- atomic writes


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path):
    path = tmp_path / "f.npz"
    store.write_arrays(path, {"a": np.arange(3)})

    def half_then_fail(fh):
        fh.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.atomic_write(path, half_then_fail)
    assert [p.name for p in tmp_path.iterdir()] == ["f.npz"]
    np.testing.assert_array_equal(store.read_arrays(path)["a"], np.arange(3))


def test_atomic_write_fsyncs_before_replacing(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    store.atomic_write(tmp_path / "f", lambda fh: fh.write(b"x"))
    assert events == ["fsync", "replace"] and (tmp_path / "f").read_bytes() == b"x"


# ---------------------------------------------------------------------------- CGNB_NO_CACHE


@pytest.mark.parametrize("value,on", [("", True), ("0", True), ("false", True), ("No", True), ("OFF", True),
                                      ("1", False), ("true", False), ("YES", False), ("on", False), (" 1 ", False)])
def test_no_cache_spellings(monkeypatch, value, on):
    monkeypatch.setenv("CGNB_NO_CACHE", value)
    assert store.enabled() is on


def test_no_cache_rejects_other_values(monkeypatch):
    monkeypatch.setenv("CGNB_NO_CACHE", "maybe")
    with pytest.raises(ValueError, match="CGNB_NO_CACHE='maybe'.*1/true/yes/on"):
        store.enabled()


def test_no_cache_env_recomputes_and_writes_nothing(monkeypatch, tmp_path):
    compute, calls = counting(1)
    store.memoize("exp", {}, compute, directory=tmp_path)
    monkeypatch.setenv("CGNB_NO_CACHE", "1")
    store.memoize("exp", {}, compute, directory=tmp_path / "off")
    assert len(calls) == 2 and not (tmp_path / "off").exists()


# ---------------------------------------------------------------------------- reliability (issue 24)


@pytest.mark.parametrize("setting, value", [("jax_default_prng_impl", "rbg"), ("jax_threefry_partitionable", False)])
def test_key_depends_on_the_prng_implementation_and_partitionable_flag(setting, value):
    import jax

    before = store.key("k", {})
    old = getattr(jax.config, setting)
    jax.config.update(setting, value)
    try:
        assert store.key("k", {}) != before
    finally:
        jax.config.update(setting, old)
    assert store.key("k", {}) == before


def test_key_depends_on_xla_flags(monkeypatch):
    before = store.key("k", {})
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
    assert store.key("k", {}) != before


def test_an_edited_entry_is_recomputed_like_a_corrupt_one(tmp_path):
    compute, calls = counting({"x": np.arange(5.0)})
    store.memoize("edited", {}, compute, directory=tmp_path)
    path = only_file(tmp_path)
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["leaf/0"] = arrays["leaf/0"] + 1  # the value changed, the seal kept
    np.savez(path, **arrays)
    with pytest.warns(RuntimeWarning, match="does not match its seal"):
        result = store.memoize("edited", {}, compute, directory=tmp_path)
    assert len(calls) == 2
    np.testing.assert_array_equal(result["x"], np.arange(5.0))


def test_an_entry_without_a_seal_is_a_miss(tmp_path):
    compute, calls = counting({"x": np.arange(5)})
    store.memoize("unsealed", {}, compute, directory=tmp_path)
    path = only_file(tmp_path)
    arrays = dict(np.load(path, allow_pickle=False))
    del arrays[store.SEAL]
    np.savez(path, **arrays)
    with pytest.warns(RuntimeWarning, match="has no seal"):
        store.memoize("unsealed", {}, compute, directory=tmp_path)
    assert len(calls) == 2
    with pytest.raises(ValueError, match="name of the seal"):
        store.write_arrays(tmp_path / "x.npz", {store.SEAL: np.arange(2)})


def read_only_filesystem(*args, **kwargs):
    raise OSError(30, "Read-only file system")


@pytest.mark.parametrize("make", ["read_only", "read_only_filesystem", "a_file"])
def test_an_unwritable_cache_folder_is_detected_before_computing(tmp_path, monkeypatch, make):
    folder = tmp_path / "cache"
    if make == "a_file":
        folder.write_text("not a folder")
    elif make == "read_only_filesystem":  # what a root user meets on a read-only mount
        folder.mkdir()
        monkeypatch.setattr(store.tempfile, "mkstemp", read_only_filesystem)
    else:
        folder.mkdir()
        folder.chmod(0o555)
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user that may write anywhere")
    compute, calls = counting({"x": np.arange(3)})
    with pytest.raises(store.CacheUnwritable, match=r"cannot be written .*CGNB_CACHE_DIR.*CGNB_NO_CACHE=1"):
        store.memoize("ro", {}, compute, directory=folder)
    assert calls == []


def test_stale_temp_files_are_removed_and_fresh_ones_kept(tmp_path):
    stale, fresh = tmp_path / ".a.npz.x1.tmp", tmp_path / ".b.npz.x2.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"partial")
    old = stale.stat().st_mtime - 2 * store.STALE_TEMP_S
    os.utime(stale, (old, old))
    compute, _ = counting({"x": np.arange(3)})
    store.memoize("temps", {}, compute, directory=tmp_path)
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_written_files_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        store.write_arrays(tmp_path / "f.npz", {"a": np.arange(3)})
    finally:
        os.umask(old)
    assert (tmp_path / "f.npz").stat().st_mode & 0o777 == 0o666 & ~mask
