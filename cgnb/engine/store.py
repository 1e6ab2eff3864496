"""A small on-disk memo for experiment results, keyed by what produced them.

``memoize(name, config, compute)`` returns ``compute()``'s result, stored under
:func:`cgnb.engine.paths.cache_dir` with a key that hashes ``name``, the JSON form of
``config`` and a fingerprint of cgnb's own source files, so a change to the engine or
to the experiment's configuration recomputes, while rerunning a notebook or building
the book reuses the result. Results are pytrees of arrays and Python scalars; they are
stored as numpy (pickled, written atomically). Set ``CGNB_NO_CACHE=1`` to recompute.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import jax
import numpy as np

from . import paths

T = TypeVar("T")
PACKAGE_DIR = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """sha256 of every ``cgnb/*.py`` file (names and contents), hex."""
    digest = hashlib.sha256()
    for file in sorted(PACKAGE_DIR.glob("*.py")):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (np.ndarray, jax.Array)):
        array = np.asarray(value)
        return {"array_sha256": hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest(),
                "shape": list(array.shape), "dtype": str(array.dtype)}
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise TypeError(f"cache config values must be JSON-like or arrays, got {type(value).__name__}: {value!r}")


def config_key(name: str, config: dict) -> str:
    """Hex key of an experiment: its name, its config (arrays hashed by content) and cgnb's source."""
    if not name or "/" in name:
        raise ValueError(f"cache name must be a non-empty string without '/', got {name!r}")
    payload = json.dumps({"name": name, "config": _canonical(config), "cgnb": source_fingerprint()},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace`` (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def memoize(name: str, config: dict, compute: Callable[[], T], *, directory: Path | None = None) -> T:
    """``compute()`` once per (name, config, cgnb source); later calls load the stored result."""
    folder = Path(directory) if directory is not None else paths.cache_dir()
    path = folder / f"{name}-{config_key(name, config)}.pkl"
    if path.is_file() and os.environ.get("CGNB_NO_CACHE", "") in ("", "0"):
        with open(path, "rb") as fh:
            return pickle.load(fh)
    result = jax.tree_util.tree_map(lambda x: np.asarray(x) if isinstance(x, jax.Array) else x, compute())
    atomic_write_bytes(path, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    return result
