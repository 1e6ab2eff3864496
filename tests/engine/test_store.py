import numpy as np
import pytest

from cgnb.engine import store


def test_memoize_computes_once_and_reloads(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3.0), "n": 2}

    first = store.memoize("exp", {"lr": 0.1}, compute)
    second = store.memoize("exp", {"lr": 0.1}, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], second["x"])
    store.memoize("exp", {"lr": 0.2}, compute)
    assert len(calls) == 2


def test_key_depends_on_array_content_and_source():
    a = store.config_key("e", {"y": np.array([1, 2, 3])})
    b = store.config_key("e", {"y": np.array([1, 2, 4])})
    assert a != b and a == store.config_key("e", {"y": np.array([1, 2, 3])})
    assert len(store.source_fingerprint()) == 64


def test_no_cache_env_recomputes(monkeypatch):
    calls = []
    store.memoize("exp", {}, lambda: calls.append(1) or 1)
    monkeypatch.setenv("CGNB_NO_CACHE", "1")
    store.memoize("exp", {}, lambda: calls.append(1) or 1)
    assert len(calls) == 2


def test_failed_compute_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        store.memoize("exp", {}, lambda: (_ for _ in ()).throw(RuntimeError("boom")), directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,config,match", [("", {}, "non-empty"), ("a/b", {}, "without '/'"),
                                                ("e", {"f": object()}, "JSON-like or arrays")])
def test_bad_keys(name, config, match):
    with pytest.raises((ValueError, TypeError), match=match):
        store.config_key(name, config)
