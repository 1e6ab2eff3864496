"""The result store: content-addressed ``.npz`` files under :func:`cgnb.engine.paths.cache_dir`.

A key (:func:`key`) hashes a kind, the canonical JSON of a config (arrays by content, dtype
and shape: :func:`canonical`, :func:`digest`), the engine sources that can change results
(:func:`engine_fingerprint`), the software environment and every JAX setting or XLA flag that can
change a result (:func:`environment`), cgnb's version and :data:`FORMAT`. Entries are ``.npz``
files read with ``allow_pickle=False``; structure travels as JSON inside them, and each entry
carries the digest of its arrays (:data:`SEAL`), checked on read. Writes are atomic
(:func:`atomic_write`) and create files as the umask says; temporary files a killed process left
behind are removed once stale (:func:`remove_stale_temps`). An unreadable or edited entry is a
cache miss: it is reported with a warning, moved aside as ``<name>.corrupt-<time>`` and
recomputed (:func:`read_entry`). A cache folder that cannot be written is detected before
anything is computed (:func:`check_writable`). :func:`memoize` stores pytrees of
dicts/lists/tuples of arrays and Python scalars; sweeps keep their checkpoints and results here
too. ``CGNB_NO_CACHE`` is read by :func:`enabled` only.

Reference: the ``.npz`` format (``numpy.lib.format``), read with ``allow_pickle=False``.
"""
from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import tempfile
import types
import warnings
from pathlib import Path
from typing import IO, Any, Callable, Sequence, TypeVar

import jax
import numpy as np

from . import paths

T = TypeVar("T")
FORMAT = 3  # bump when the meaning of stored files changes
#: The member of every entry that holds the digest of its other arrays (:func:`digest`).
SEAL = "__sha256__"
#: Seconds after which a temporary file of :func:`atomic_write` is left over from a killed process (no
#: write takes this long), and :func:`remove_stale_temps` removes it.
STALE_TEMP_S = 3600
#: JAX settings that change what a computation gives (random bits, precision, the compiled program),
#: part of :func:`environment` and so of every key.
RESULT_SETTINGS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_default_prng_impl",
                   "jax_threefry_partitionable", "jax_random_seed_offset", "jax_enable_custom_prng",
                   "jax_high_dynamic_range_gumbel", "jax_numpy_dtype_promotion", "jax_softmax_custom_jvp",
                   "jax_use_direct_linearize", "jax_disable_jit", "jax_disable_most_optimizations",
                   "jax_exec_time_optimization_effort", "jax_memory_fitting_effort", "jax_optimization_level",
                   "jax_allow_f16_reductions")
ENGINE_DIR = Path(__file__).resolve().parent
#: Engine modules that cannot change a computed result (paths relative to the engine folder).
NOT_RESULTS = ("aot.py", "book.py", "claims.py", "display.py", "ledger.py", "paths.py", "plots.py", "profiles.py",
               "replay.py", "runfiles.py", "runs.py")
_ON, _OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def enabled() -> bool:
    """False when ``$CGNB_NO_CACHE`` says so (1/true/yes/on; 0/false/no/off or empty keep the cache)."""
    value = os.environ.get("CGNB_NO_CACHE", "").strip().lower()
    if value not in _ON + _OFF:
        raise ValueError(f"CGNB_NO_CACHE={os.environ['CGNB_NO_CACHE']!r} is not understood: set it to 1/true/yes/on "
                         f"to recompute everything, or 0/false/no/off (or unset it) to use the cache")
    return value in _OFF


# --------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def engine_sources() -> list[str]:
    """The engine's ``.py`` files (sub-packages included) that can change a result: their paths relative to
    :data:`ENGINE_DIR`, sorted, without :data:`NOT_RESULTS`."""
    names = sorted(f.relative_to(ENGINE_DIR).as_posix() for f in ENGINE_DIR.rglob("*.py"))
    return [name for name in names if name not in NOT_RESULTS]


@functools.lru_cache(maxsize=1)
def engine_fingerprint() -> str:
    """sha256 (hex) of the engine's sources that can change a result (:func:`engine_sources`), each named by
    its path relative to ``cgnb/engine``: editing, adding or removing one of them changes every key."""
    hasher = hashlib.sha256()
    for name in engine_sources():
        hasher.update(f"{name} {_file_digest(ENGINE_DIR / name)}\n".encode())
    return hasher.hexdigest()


def environment() -> dict[str, Any]:
    """What computes results besides the code: library versions, the backend and its device kind, the JAX
    settings of :data:`RESULT_SETTINGS` (the PRNG implementation, ``threefry_partitionable``, precision, ...)
    and ``$XLA_FLAGS``."""
    import jaxlib
    import optax

    settings = {name: str(getattr(jax.config, name, None)) for name in RESULT_SETTINGS}
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "numpy": np.__version__,
            "optax": optax.__version__, "backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind,
            "x64": bool(jax.config.jax_enable_x64),
            "matmul_precision": str(jax.config.jax_default_matmul_precision),
            "settings": settings, "xla_flags": os.environ.get("XLA_FLAGS", "")}


def canonical(value: Any) -> Any:
    """``value`` as JSON-ready data: dict keys sorted, arrays replaced by their sha256, dtype and shape."""
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (np.ndarray, jax.Array)):
        array = np.ascontiguousarray(value)
        return {"array_sha256": hashlib.sha256(array.tobytes()).hexdigest(),
                "shape": list(array.shape), "dtype": array.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise TypeError(f"cache config values must be JSON-like or arrays, got {type(value).__name__}: {value!r}")


def digest(value: Any) -> str:
    """sha256 (hex) of :func:`canonical` ``(value)`` as sorted JSON: equal exactly when the values are
    (arrays bit for bit, with their dtype and shape)."""
    return hashlib.sha256(json.dumps(canonical(value), sort_keys=True).encode()).hexdigest()


def key(kind: str, config: Any, *, sources: Sequence[types.ModuleType] = ()) -> str:
    """24-hex-digit key of ``config`` (see the module docstring); ``sources``: modules whose code counts too."""
    if not kind or "/" in kind or "\\" in kind:
        raise ValueError(f"cache name must be a non-empty string without '/', got {kind!r}")
    from .. import __version__

    modules = {module.__name__: _file_digest(Path(module.__file__)) for module in sources}
    payload = {"format": FORMAT, "cgnb": __version__, "kind": kind, "config": config,
               "engine": engine_fingerprint(), "environment": environment(), "sources": modules}
    return digest(payload)[:24]


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


class CorruptEntry(ValueError):
    """A stored file that cannot be read as what it should hold."""


class CacheUnwritable(OSError):
    """The result cache folder cannot be written; the message says how to point it elsewhere or turn it off."""


def umask() -> int:
    """The process's file-mode creation mask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and write and remove a probe file in it, before anything is computed.

    Raises:
      CacheUnwritable: the folder cannot be created or written (read-only, a file in its place, full disk);
        the message names ``CGNB_CACHE_DIR`` and ``CGNB_NO_CACHE``.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise CacheUnwritable(
            f"the result cache folder {folder} cannot be written ({type(error).__name__}: {error}); nothing was "
            f"computed. Point CGNB_CACHE_DIR at a writable folder, or set CGNB_NO_CACHE=1 to compute without "
            f"the cache") from error


def remove_stale_temps(folder: Path, *, older_than: float = STALE_TEMP_S, pattern: str = ".*.tmp") -> list[Path]:
    """Remove the temporary files of :func:`atomic_write` in ``folder`` (``.<name>.<random>.tmp``, or those
    ``pattern`` matches) not modified for ``older_than`` seconds: left over from a process killed between
    writing and renaming.

    Returns:
      The files removed (one that another process removed first is left out).
    """
    removed = []
    now = datetime.datetime.now().timestamp()
    for tmp in Path(folder).glob(pattern):
        try:
            if now - tmp.stat().st_mtime > older_than and tmp.is_file():
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:
            continue
    return removed


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """``write(file)`` into a temporary file beside ``path``, fsync it, then ``os.replace`` it into place.

    Readers see the old file or the whole new one, never a part; the temporary file is
    removed if anything fails (including KeyboardInterrupt).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes it 0600, whatever the umask
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Store named arrays as one ``.npz`` file, atomically, sealed with their digest (:data:`SEAL`, checked by
    :func:`read_sealed`); object arrays are refused."""
    arrays = {name: np.asarray(a) for name, a in arrays.items()}
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype object, which npz can only store pickled; "
                            f"store numbers, booleans or strings")
    if SEAL in arrays:
        raise ValueError(f"{SEAL!r} is the name of the seal; name the array otherwise")
    atomic_write(path, lambda fh: np.savez(fh, **arrays, **{SEAL: np.array(digest(arrays))}))


def read_sealed(path: Path) -> dict[str, np.ndarray]:
    """The arrays :func:`write_arrays` stored in ``path``, their seal checked and removed.

    Raises:
      CorruptEntry: the file is unreadable, has no seal, or its arrays no longer match it (edited).
      FileNotFoundError: there is no file.
    """
    arrays = read_arrays(path)
    if SEAL not in arrays:
        raise CorruptEntry(f"{path} has no seal ({SEAL}): it was not written by this version of cgnb")
    seal = str(arrays.pop(SEAL))
    if digest(arrays) != seal:
        raise CorruptEntry(f"{path} does not match its seal: its arrays were changed after it was written")
    return arrays


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file (``allow_pickle=False``); :class:`CorruptEntry` if it is unreadable."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise CorruptEntry(f"{path} holds a single array, not an .npz archive")
        with loaded as npz:
            return {name: npz[name] for name in npz.files}
    except (CorruptEntry, FileNotFoundError):
        raise
    except Exception as error:  # BadZipFile, EOFError, ValueError (pickled data), OSError, ...
        raise CorruptEntry(f"{path} is not a readable .npz archive ({type(error).__name__}: {error})") from error


def set_aside(path: Path, reason: str) -> Path:
    """Warn that ``path`` is unusable and rename it to ``<name>.corrupt-<time>`` (returns the new path)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another process moved or replaced it meanwhile
        pass
    warnings.warn(f"cached file {path} is unusable ({reason}); moved it to {aside.name} and recomputing",
                  RuntimeWarning, stacklevel=3)
    return aside


def read_entry(path: Path, decode: Callable[[dict[str, np.ndarray]], T]) -> T | None:
    """``decode(read_sealed(path))``, or None when there is no file or it cannot be read or decoded.

    An unusable file (truncated, empty, garbage, pickled data, edited after it was written, the wrong
    structure: any exception of ``read_sealed`` or ``decode``) is moved aside with a warning (:func:`set_aside`).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return decode(read_sealed(path))
    except FileNotFoundError:
        return None
    except Exception as error:
        set_aside(path, f"{type(error).__name__}: {error}")
        return None


# --------------------------------------------------------------------------------------
# Pytrees
# --------------------------------------------------------------------------------------


def _encode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON description of ``tree``; its arrays are added to ``arrays`` as ``leaf/<i>``."""
    if isinstance(tree, dict):
        if not all(isinstance(k, str) for k in tree):
            raise TypeError(f"stored dicts need string keys, got keys {list(tree)[:5]}")
        return {"dict": [[k, _encode(v, arrays)] for k, v in tree.items()]}
    if isinstance(tree, (list, tuple)) and type(tree) in (list, tuple):
        return {type(tree).__name__: [_encode(v, arrays) for v in tree]}
    if isinstance(tree, (np.ndarray, jax.Array, np.generic)):
        name = f"leaf/{len(arrays)}"
        arrays[name] = np.asarray(tree)
        return {"array" if not isinstance(tree, np.generic) else "scalar": name}
    if isinstance(tree, (bool, int, float, str)) or tree is None:
        return {"value": tree}
    raise TypeError(f"cannot store a {type(tree).__name__} ({tree!r:.80}): results must be dicts (string keys), "
                    f"lists and tuples of arrays and Python scalars")


def _decode(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    (kind, value), = node.items()
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in value}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays) for v in value]
        return items if kind == "list" else tuple(items)
    if kind == "array":
        return arrays[value]
    if kind == "scalar":
        return arrays[value][()]
    if kind == "value":
        return value
    raise CorruptEntry(f"unknown node {kind!r} in a stored structure")


def write_tree(path: Path, tree: Any) -> None:
    """Store a pytree of dicts/lists/tuples, arrays and Python scalars as one ``.npz`` (atomically)."""
    arrays: dict[str, np.ndarray] = {}
    structure = _encode(tree, arrays)
    write_arrays(path, {"structure": np.array(json.dumps(structure)), **arrays})


def decode_tree(arrays: dict[str, np.ndarray]) -> Any:
    """The pytree of :func:`write_tree` from its arrays (arrays come back as numpy arrays)."""
    return _decode(json.loads(str(arrays["structure"])), arrays)


def memoize(name: str, config: Any, compute: Callable[[], T], *, directory: Path | None = None,
            sources: Sequence[types.ModuleType] = ()) -> T:
    """``compute()`` once per key (:func:`key` of ``name``, ``config`` and ``sources``); later calls read it.

    The result (dicts with string keys, lists, tuples, arrays, Python scalars) is stored in
    ``<directory or cache_dir()>/<name>-<key>.npz`` and returned with jax arrays as numpy
    arrays, as it will read back. Pass a chapter's module in ``sources`` so that editing its
    code recomputes. With the cache off (:func:`enabled`) nothing is read or written.

    Raises:
      CacheUnwritable: the result is not stored yet and the folder cannot be written (before computing).
    """
    folder = Path(directory) if directory is not None else paths.cache_dir()
    path = folder / f"{name}-{key(name, config, sources=sources)}.npz"
    if not enabled():
        return _as_numpy(compute())
    stored = read_entry(path, lambda arrays: (decode_tree(arrays),))
    if stored is not None:
        return stored[0]
    check_writable(folder)
    remove_stale_temps(folder)
    result = _as_numpy(compute())
    write_tree(path, result)
    return result


def _as_numpy(tree: Any) -> Any:
    """``tree`` with its jax arrays as numpy arrays (what :func:`decode_tree` gives back)."""
    arrays: dict[str, np.ndarray] = {}
    return _decode(_encode(tree, arrays), arrays)
