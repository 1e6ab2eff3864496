"""The two files of a stored run (:mod:`cgnb.engine.runs`), read with every check, and their seal.

``run.json`` is read as a JSON object holding each provenance field of :data:`FIELDS` with its type.
Its *seal* ties it to ``arrays.npz``: ``config_hash`` (the sha256 of its ``config``) and
``arrays_sha256`` (the :func:`cgnb.engine.store.digest` of every array, by name). Reading
(:func:`read_run`) bounds what ``arrays.npz`` may decompress to (:data:`MAX_ARRAYS_BYTES`), then
recomputes both parts of the seal: any edit of an array, of the config or of the recorded hash, and
any array added or removed, is a :class:`StoredRunError` that names the file, what differs and the
command that recomputes the run. :func:`seal` adds or refreshes the seal of a run whose arrays are
trusted, without recomputing them (``scripts/seal_run.py``).

Reference: the ``.npz`` format (a zip archive of ``.npy`` files, ``numpy.lib.format``); ``zipfile``'s
central directory gives each member's uncompressed size before anything is decompressed.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import store

RUN_FILE, ARRAYS_FILE = "run.json", "arrays.npz"
#: The most bytes a stored run's ``arrays.npz`` may decompress to (the book's runs hold a few MB).
MAX_ARRAYS_BYTES = 256 * 2 ** 20
#: Provenance fields of ``run.json`` and the types each must have.
FIELDS = {"config": dict, "config_hash": str, "engine": str, "commit": (str, type(None)), "dirty": bool,
          "machine": dict, "environment": dict, "date": str, "wall_s": (int, float)}
MACHINE_FIELDS = ("backend", "device_kind", "cpu_cores", "processor")
ENVIRONMENT_FIELDS = ("jax", "jaxlib", "numpy", "optax")


class StoredRunError(ValueError):
    """A stored run is missing, unreadable, altered or does not fit what was asked for."""


def recompute_command(chapter: str, name: str) -> str:
    """The shell command that computes the stored run ``<chapter>/<name>`` again."""
    return f"python scripts/store_run.py {chapter} {name}"


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of ``config`` (keys sorted, arrays by content): :func:`cgnb.engine.store.digest`."""
    return store.digest(dict(config))


def config_differences(stored: Mapping[str, Any], asked: Mapping[str, Any]) -> list[str]:
    """One line per key whose value differs between two configs (compared canonically)."""
    a, b = store.canonical(dict(stored)), store.canonical(dict(asked))
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            lines.append(f"{key}: stored {a.get(key, '<absent>')!r}, asked {b.get(key, '<absent>')!r}")
    return lines


def array_digests(arrays: Mapping[str, np.ndarray]) -> dict[str, str]:
    """``{name: digest}`` of each array (its content, dtype and shape: :func:`cgnb.engine.store.digest`)."""
    return {name: store.digest(np.asarray(array)) for name, array in sorted(arrays.items())}


def read_json(path: Path, fix: str) -> dict[str, Any]:
    """``path``'s JSON object; ``fix`` says what to do when it is not one.

    Raises:
      StoredRunError: unreadable, not JSON, or not a JSON object (the message names the file).
    """
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StoredRunError(f"{path} is unreadable ({type(error).__name__}: {error}); {fix}") from error
    if not isinstance(value, dict):
        raise StoredRunError(f"{path} must hold a JSON object, got a {type(value).__name__}; {fix}")
    return value


def check_fields(provenance: Mapping[str, Any], path: Path, fix: str) -> None:
    """Raise :class:`StoredRunError` naming the first field of :data:`FIELDS` (or of ``machine``/``environment``)
    that ``provenance`` lacks or holds with the wrong type."""
    for name, kind in FIELDS.items():
        if name not in provenance:
            raise StoredRunError(f"{path} has no {name!r} field; {fix}")
        if not isinstance(provenance[name], kind) or isinstance(provenance[name], bool) != (kind is bool):
            wanted = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise StoredRunError(f"{path}: {name!r} must be a {wanted}, got "
                                 f"{type(provenance[name]).__name__} {provenance[name]!r:.60}; {fix}")
    for part, names in (("machine", MACHINE_FIELDS), ("environment", ENVIRONMENT_FIELDS)):
        missing = [n for n in names if n not in provenance[part]]
        if missing:
            raise StoredRunError(f"{path}: {part!r} lacks {missing}; {fix}")


def read_arrays(path: Path, fix: str, *, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of ``path`` (``allow_pickle=False``), refused before decompressing when they would exceed ``max_bytes``.

    Raises:
      StoredRunError: not a readable ``.npz``, or its members' uncompressed sizes sum to more than ``max_bytes``
        (default :data:`MAX_ARRAYS_BYTES`).
    """
    max_bytes = MAX_ARRAYS_BYTES if max_bytes is None else max_bytes
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(member.file_size for member in archive.infolist())
    except (OSError, zipfile.BadZipFile) as error:
        raise StoredRunError(f"{path} is unreadable ({type(error).__name__}: {error}); {fix}") from error
    if size > max_bytes:
        raise StoredRunError(f"{path} would decompress to {size / 2 ** 20:.0f} MiB, more than the "
                             f"{max_bytes / 2 ** 20:.0f} MiB a stored run may hold; {fix}")
    try:
        return store.read_arrays(path)
    except (ValueError, OSError) as error:
        raise StoredRunError(f"{path} is unreadable ({error}); {fix}") from error


def seal_differences(provenance: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> list[str]:
    """One line per way ``provenance``'s seal (``config_hash``, ``arrays_sha256``) disagrees with its config and ``arrays``."""
    lines = []
    if provenance["config_hash"] != config_hash(provenance["config"]):
        lines.append(f"config_hash: run.json records {provenance['config_hash'][:16]}..., its config hashes to "
                     f"{config_hash(provenance['config'])[:16]}...")
    stored, actual = provenance["arrays_sha256"], array_digests(arrays)
    for name in sorted(set(stored) | set(actual)):
        if name not in actual:
            lines.append(f"array {name}: sealed in run.json, absent from {ARRAYS_FILE}")
        elif name not in stored:
            lines.append(f"array {name}: in {ARRAYS_FILE}, not sealed in run.json")
        elif stored[name] != actual[name]:
            lines.append(f"array {name}: its content differs from the digest run.json records")
    return lines


def read_run(folder: Path, chapter: str, name: str, *, max_bytes: int | None = None
             ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(provenance, arrays)`` of the stored run in ``folder``, every field and the seal checked.

    Raises:
      StoredRunError: a file is unreadable or malformed, too large, unsealed, or its seal disagrees
        with its config or arrays (each difference is listed with the command that recomputes the run).
    """
    folder = Path(folder)
    make = recompute_command(chapter, name)
    fix = f"recompute it with `{make}`"
    provenance = read_json(folder / RUN_FILE, fix)
    check_fields(provenance, folder / RUN_FILE, fix)
    arrays = read_arrays(folder / ARRAYS_FILE, fix, max_bytes=max_bytes)
    digests = provenance.get("arrays_sha256")
    if not isinstance(digests, dict):
        raise StoredRunError(f"{folder / RUN_FILE} is not sealed (no 'arrays_sha256' object): nothing ties it to "
                             f"{ARRAYS_FILE}. If its arrays are the ones computed, seal it with "
                             f"`python scripts/seal_run.py {chapter} {name}`; else {fix}")
    differences = seal_differences(provenance, arrays)
    if differences:
        raise StoredRunError(f"stored run {chapter}/{name} ({folder}) was altered after it was written:\n  "
                             + "\n  ".join(differences) + f"\n{fix[0].upper()}{fix[1:]}, or restore its files "
                             f"from git (`git checkout -- {folder}`)")
    return provenance, arrays


def seal(folder: Path, *, max_bytes: int | None = None) -> bool:
    """Add or refresh the seal of the stored run in ``folder``: ``config_hash`` from its ``config``,
    ``arrays_sha256`` from its ``arrays.npz``, nothing recomputed. Idempotent.

    Returns:
      Whether ``run.json`` changed (False when it was already sealed so).

    Raises:
      StoredRunError: ``run.json`` is not a JSON object with a ``config`` object, or ``arrays.npz`` is unreadable.
    """
    folder = Path(folder)
    fix = "a stored run can be sealed only when both of its files are readable"
    provenance = read_json(folder / RUN_FILE, fix)
    if not isinstance(provenance.get("config"), dict):
        raise StoredRunError(f"{folder / RUN_FILE} has no 'config' object; {fix}")
    arrays = read_arrays(folder / ARRAYS_FILE, fix, max_bytes=max_bytes)
    sealed = {**provenance, "config_hash": config_hash(provenance["config"]), "arrays_sha256": array_digests(arrays)}
    if sealed == provenance:
        return False
    write_json(folder / RUN_FILE, sealed)
    return True


def write_json(path: Path, provenance: Mapping[str, Any]) -> None:
    """Write ``run.json`` atomically, as :func:`cgnb.engine.runs.save_run` does (keys sorted, one space indent)."""
    text = json.dumps(dict(provenance), indent=1, sort_keys=True) + "\n"
    store.atomic_write(Path(path), lambda fh: fh.write(text.encode()))


__all__ = ["RUN_FILE", "ARRAYS_FILE", "MAX_ARRAYS_BYTES", "FIELDS", "StoredRunError", "recompute_command",
           "config_hash", "config_differences", "array_digests", "read_json", "check_fields", "read_arrays", "seal_differences",
           "read_run", "seal", "write_json"]
