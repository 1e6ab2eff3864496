"""Stored runs: results too expensive to recompute on every build, kept in the book with their provenance.

A stored run is the folder ``<results>/<chapter>/<name>/`` (:func:`cgnb.engine.paths.results_dir`,
``book/results`` in a checkout) with two files:

``run.json``
  the provenance: ``config`` (everything the chapter set, JSON), ``config_hash`` (sha256 of
  its canonical JSON), ``engine`` (:func:`cgnb.engine.store.engine_fingerprint`), ``commit``
  (git, with ``dirty`` when the working tree differed from it), ``machine`` (backend, device
  kind, CPU cores, platform), ``environment`` (library versions, precision flags), ``date``
  (UTC) and ``wall_s`` (seconds the computation took);
``arrays.npz``
  named numpy arrays, compressed, read with ``allow_pickle=False``: the curves and statistics
  the chapter plots and checks. A sweep is kept under a prefix (:func:`sweep_arrays`), with
  the variants it trained (:func:`variants_arrays`), so that :func:`replay_sweep` can
  recompute its first steps and compare.

``run.json`` is sealed to ``arrays.npz``: it records the digest of every array and the hash of its
config (:mod:`cgnb.engine.runfiles`). :func:`save_run` writes a run (both files atomically);
:func:`load_run` reads one, checks every field, the size of the arrays and the seal (an altered run
is a :class:`StoredRunError`), notes in its provenance table when this engine's fingerprint differs
from the one that computed it (the replay test checks it still matches), and checks that its stored config is what the chapter asks for
(:class:`ConfigMismatch` lists what differs).

Reference: ``numpy.savez_compressed`` and ``numpy.load(allow_pickle=False)`` (the ``.npz`` format).
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import jax
import numpy as np

from . import paths, runfiles, store
from .replay import DATA_ARRAYS, REPLAY_RECORDS, data_digest, replay_steps, replay_sweep, sweep_prefixes, variants_of
from .runfiles import ARRAYS_FILE, RUN_FILE, StoredRunError, config_differences, config_hash
from .sweep import SweepResult, Variants


class ConfigMismatch(StoredRunError):
    """The stored run was computed with another config than the one the chapter asks for."""


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine() -> dict[str, Any]:
    """What computed the run: JAX backend, device kind and count, CPU cores, OS and processor."""
    device = jax.devices()[0]
    return {"backend": jax.default_backend(), "device_kind": device.device_kind,
            "devices": jax.device_count(), "cpu_cores": os.cpu_count(),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine()}


def provenance(config: Mapping[str, Any], wall_s: float) -> dict[str, Any]:
    """The ``run.json`` content of a run computed now, from this checkout, with ``config``."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"config": store.canonical(dict(config)), "config_hash": config_hash(config),
            "engine": store.engine_fingerprint(), "commit": commit, "dirty": bool(status),
            "machine": machine(), "environment": store.environment(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "wall_s": round(float(wall_s), 1)}


def available() -> bool:
    """Whether stored runs can be read: in a checkout of the book or with ``$CGNB_RESULTS_DIR`` set.

    A bare install (e.g. Colab with ``pip install cgnb``) has no results folder, and a chapter then
    shows its own run only; inside a checkout a missing stored run is an error (:func:`load_run`).
    """
    return bool(os.environ.get("CGNB_RESULTS_DIR")) or paths.book_root() is not None


def run_dir(chapter: str, name: str, directory: Path | None = None) -> Path:
    """``<directory or results_dir()>/<chapter>/<name>``; both names must be plain folder names."""
    for what, value in (("chapter", chapter), ("run name", name)):
        if not value or any(ch in value for ch in "/\\") or value.startswith("."):
            raise ValueError(f"a stored run's {what} must be a plain folder name such as 'coherent_gradients' or "
                             f"'fashion-60k'; got {value!r}")
    return (Path(directory) if directory is not None else paths.results_dir()) / chapter / name


def save_run(chapter: str, name: str, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *,
             wall_s: float, directory: Path | None = None) -> Path:
    """Write the stored run ``<chapter>/<name>`` and return its folder.

    ``config`` must be JSON-like (what the chapter sets, e.g. its notebook parameters for the run);
    ``arrays`` numbers, booleans or strings (no objects). Both files are written into a new folder
    beside the run's, which then replaces it, so an interrupted write leaves the previous run whole
    and a reader never sees the files of two different writes together; the new folders of writes
    killed more than :data:`cgnb.engine.store.STALE_TEMP_S` seconds ago are removed.
    """
    folder = run_dir(chapter, name, directory)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for key, array in arrays.items():
        if array.dtype.hasobject:
            raise TypeError(f"array {key!r} has dtype object; store numbers, booleans or strings")
    json.dumps(dict(config))  # fails early, with the offending value, if the config is not JSON
    sealed = {"chapter": chapter, "name": name, **provenance(config, wall_s),
              "arrays_sha256": runfiles.array_digests(arrays)}
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{name}.*.new"):  # left by a write that was killed
        if datetime.datetime.now().timestamp() - stale.stat().st_mtime > store.STALE_TEMP_S:
            shutil.rmtree(stale, ignore_errors=True)
    new = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{name}.", suffix=".new"))
    new.chmod(0o777 & ~store.umask())  # mkdtemp makes it 0700, whatever the umask
    old = folder.parent / f".{name}.old"
    try:
        store.atomic_write(new / ARRAYS_FILE, lambda fh: np.savez_compressed(fh, **arrays))
        runfiles.write_json(new / RUN_FILE, sealed)
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        os.replace(new, folder)
    finally:
        shutil.rmtree(new, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return folder


@dataclasses.dataclass(frozen=True)
class StoredRun:
    """A stored run as read by :func:`load_run`: its names, ``provenance`` (``run.json``) and ``arrays``."""

    chapter: str
    name: str
    provenance: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def config(self) -> dict[str, Any]:
        return self.provenance["config"]

    @property
    def engine_matches(self) -> bool:
        """Whether this engine's fingerprint is the one that computed the run."""
        return self.provenance["engine"] == store.engine_fingerprint()

    @property
    def where(self) -> str:
        """Machine and date, e.g. ``cpu, 2 cores, 2026-11-30``."""
        m = self.provenance["machine"]
        machine = f"{m['backend']}, {m['cpu_cores']} cores" if m["backend"] == "cpu" else m["device_kind"]
        return f"{machine}, {self.provenance['date'][:10]}"

    @property
    def label(self) -> str:
        """A short label: run name, machine and date, e.g. ``fashion-60k (cpu, 2 cores, 2026-11-30)``."""
        return f"{self.name} ({self.where})"

    def title(self, scale: str) -> str:
        """A figure title: ``stored run <name>: <scale>; <machine, date>``."""
        return f"stored run {self.name}: {scale}; {self.where}"

    def provenance_markdown(self) -> str:
        """A Markdown table of the provenance (config hash, engine, commit, machine, versions, date, wall time),
        headed by the run's name (a table with an empty header row renders as a blank bar)."""
        p, m, env = self.provenance, self.provenance["machine"], self.provenance["environment"]
        rows = [("run", f"`{self.chapter}/{self.name}`"), ("config hash", f"`{p['config_hash'][:16]}`"),
                ("engine fingerprint", f"`{p['engine'][:16]}`" + ("" if self.engine_matches else
                                       " (this engine differs; the replay test checks it still matches)")),
                ("git commit", f"`{(p['commit'] or 'unknown')[:12]}`" + (" (with local changes)" if p["dirty"] else "")),
                ("machine", f"{m['backend']} ({m['device_kind']}), {m['cpu_cores']} CPU cores, {m['processor']}"),
                ("JAX", f"{env['jax']} (jaxlib {env['jaxlib']}), numpy {env['numpy']}, optax {env['optax']}"),
                ("date (UTC)", p["date"]), ("wall time", f"{p['wall_s'] / 60:.1f} min")]
        return f"| {rows[0][0]} | {rows[0][1]} |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows[1:])

    def sweep(self, prefix: str) -> SweepResult:
        """The sweep stored under ``prefix`` by :func:`sweep_arrays` (without parameters)."""
        return self._decode(prefix, SweepResult.from_arrays)

    def variants(self, prefix: str) -> Variants:
        """The variants stored under ``prefix`` by :func:`variants_arrays`."""
        return self._decode(prefix, lambda a: Variants(a["labels"], a["pristine"], a["seed"], a["c"], a["noise"]))

    def _decode(self, prefix: str, decode: Callable[[dict[str, np.ndarray]], Any]) -> Any:
        try:
            return decode(_under(self.arrays, prefix, self))
        except StoredRunError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise StoredRunError(f"stored run {self.chapter}/{self.name}: its arrays under {prefix!r} cannot be "
                                 f"read ({type(error).__name__}: {error}); recompute it with "
                                 f"`{runfiles.recompute_command(self.chapter, self.name)}`") from error

    def tree(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays stored under ``prefix`` (``prefix/<name>``) as a dict by name."""
        return _under(self.arrays, prefix, self)


def _under(arrays: Mapping[str, np.ndarray], prefix: str, run: StoredRun) -> dict[str, np.ndarray]:
    found = {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}
    if not found:
        prefixes = sorted({k.split("/", 1)[0] for k in arrays})
        raise StoredRunError(f"stored run {run.chapter}/{run.name} holds nothing under {prefix!r}; it holds {prefixes}")
    return found


def load_run(chapter: str, name: str, config: Mapping[str, Any] | None = None, *,
             directory: Path | None = None) -> StoredRun:
    """Read the stored run ``<chapter>/<name>``; with ``config``, check it is the one stored.

    Raises:
      StoredRunError: the run is missing, unreadable, malformed or altered since it was written
        (:func:`cgnb.engine.runfiles.read_run`; the message says what differs and how to compute it).
      ConfigMismatch: ``config`` differs from the stored config; the message lists each difference.

    A run computed by an engine with another fingerprint loads (its provenance table says so,
    :attr:`StoredRun.engine_matches`): the replay test checks that this engine still reproduces it,
    and a Python warning would print into every chapter that shows the run.
    """
    folder = run_dir(chapter, name, directory)
    make = runfiles.recompute_command(chapter, name)
    if not (folder / RUN_FILE).is_file() or not (folder / ARRAYS_FILE).is_file():
        raise StoredRunError(f"no stored run {chapter}/{name} in {folder.parent} (it needs {RUN_FILE} and "
                             f"{ARRAYS_FILE}); compute it with `{make}` or point CGNB_RESULTS_DIR at the "
                             f"book's results folder")
    prov, arrays = runfiles.read_run(folder, chapter, name)
    if config is not None:
        differences = config_differences(prov["config"], config)
        if differences:
            raise ConfigMismatch(f"stored run {chapter}/{name} was computed with another config than the one "
                                 f"asked for:\n  " + "\n  ".join(differences)
                                 + f"\nEither ask for the stored config or recompute the run with `{make}`.")
    return StoredRun(chapter, name, prov, arrays)


# ----------------------------------------------------------------------------- sweeps in stored runs


def sweep_arrays(prefix: str, result: SweepResult) -> dict[str, np.ndarray]:
    """A sweep's arrays (:meth:`SweepResult.to_arrays` without parameters) under ``prefix/``."""
    arrays = dataclasses.replace(result, params=None).to_arrays()
    return {f"{prefix}/{k}": v for k, v in arrays.items()}


def variants_arrays(prefix: str, variants: Variants) -> dict[str, np.ndarray]:
    """The variants' arrays under ``prefix/`` (labels as uint8 when they fit)."""
    labels = variants.labels.astype(np.uint8) if variants.labels.max() < 256 else variants.labels
    return {f"{prefix}/labels": labels, f"{prefix}/pristine": variants.pristine, f"{prefix}/seed": variants.seed,
            f"{prefix}/c": variants.c, f"{prefix}/noise": variants.noise}


# ----------------------------------------------------------------------------- a chapter's stored runs


@dataclasses.dataclass(frozen=True)
class Catalog:
    """A chapter's stored runs: their settings by name, how one is computed, stored and read back.

    A *setting* has ``load_data()`` (a :class:`cgnb.engine.data.Dataset`), ``as_dict()`` (its
    JSON-like fields) and ``describe()`` (its scale in words, for a figure title). The chapter's
    *results* of a setting have ``wall_s`` (seconds computing them took) and ``from_cache``
    (whether any part came from the result cache).

    Attributes:
      chapter: the chapter's name, e.g. ``"coherent_gradients"`` (the folder under the results folder).
      settings: run name -> setting.
      compute: ``compute(setting, data, *, progress) -> results``.
      arrays: ``arrays(results, setting, data) -> {name: array}``, what a stored run keeps.
      read: ``read(run) -> results``, a stored run as the chapter's results (:meth:`open`).
      replay_prefixes: ``(sweep prefix, variants prefix)`` of the stored sweep :meth:`replay` recomputes.
      replay_steps: how many of its first steps :meth:`replay` recomputes.
      replay_summaries: ``replay_summaries(run, setting, data) -> {name: (stored, recomputed)}``: the first step of
        the run's derived summaries (arrays that are not a sweep's trained records) recomputed now, for
        :meth:`replay_derived`; None when the chapter's stored runs hold no such summaries.
    """

    chapter: str
    settings: Mapping[str, Any]
    compute: Callable[..., Any]
    arrays: Callable[[Any, Any, Any], Mapping[str, np.ndarray]]
    read: Callable[[StoredRun], Any]
    replay_prefixes: tuple[str, str]
    replay_steps: int
    replay_summaries: Callable[[StoredRun, Any, Any], Mapping[str, tuple[np.ndarray, np.ndarray]]] | None = None

    @staticmethod
    def available() -> bool:
        """:func:`available`: whether stored runs can be read here."""
        return available()

    def setting(self, name: str) -> Any:
        """The setting of run ``name``.

        Raises:
          StoredRunError: the chapter has no stored run ``name`` (the message lists those it has).
        """
        if name not in self.settings:
            raise StoredRunError(f"{self.chapter} has no stored run {name!r}; it has {sorted(self.settings)}")
        return self.settings[name]

    def config(self, name: str, data) -> dict[str, Any]:
        """The config run ``name`` is stored and asked for under: its setting and the digest of its data."""
        return {**self.setting(name).as_dict(), "data_sha256": data_digest(data)}

    def store(self, name: str, *, directory: Path | None = None) -> Path:
        """Compute run ``name`` (through the result cache) and write it (:func:`save_run`); returns its folder."""
        setting = self.setting(name)
        data = setting.load_data()
        results = self.compute(setting, data, progress=True)
        if results.from_cache:
            print(f"note: (parts of) this run came from the result cache; its wall time ({results.wall_s:.0f} s) "
                  f"counts only what was computed now")
        return save_run(self.chapter, name, self.config(name, data), self.arrays(results, setting, data),
                        wall_s=results.wall_s, directory=directory)

    def open(self, name: str, *, directory: Path | None = None) -> tuple[Any, Any, StoredRun]:
        """``(setting, read(run), run)`` of run ``name`` (:meth:`load`), ``read`` turning it into the chapter's results."""
        run = self.load(name, directory=directory)
        return self.setting(name), self.read(run), run

    def load(self, name: str, *, directory: Path | None = None) -> StoredRun:
        """Read run ``name``, checking its stored config against the setting asked for here (and its data)."""
        return load_run(self.chapter, name, self.config(name, self.setting(name).load_data()), directory=directory)

    def title(self, run: StoredRun) -> str:
        """A figure title for ``run``: its setting's scale (``describe()``), machine and date."""
        return run.title(self.setting(run.name).describe())

    def replay(self, run: StoredRun, steps: int | None = None):
        """:func:`replay_sweep` of the run's replayed sweep over its first ``steps`` (default ``replay_steps``)."""
        sweep_prefix, variants_prefix = self.replay_prefixes
        data = self.setting(run.name).load_data()
        return replay_sweep(run, sweep_prefix, variants_prefix, data, steps or self.replay_steps)

    def replay_all(self, run: StoredRun, records: int = REPLAY_RECORDS) -> dict[str, tuple]:
        """:func:`replay_sweep` of every sweep of the run (:func:`sweep_prefixes`) over its first ``records``
        trained records (at least the ``replay_steps`` of the catalog's replayed sweep), each with the stored
        variants it was trained on (:func:`variants_of`): ``{sweep prefix: (steps, stored, replayed)}``."""
        data = self.setting(run.name).load_data()
        return {prefix: replay_sweep(run, prefix, variants_of(run, prefix), data, replay_steps(
            run.sweep(prefix).config, records, self.replay_steps if prefix == self.replay_prefixes[0] else 0))
            for prefix in sweep_prefixes(run)}

    def replay_derived(self, run: StoredRun) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The first step of the run's derived summaries, stored and recomputed now
        (:attr:`replay_summaries`): ``{name: (stored, recomputed)}``, empty when the chapter keeps none."""
        if self.replay_summaries is None:
            return {}
        setting = self.setting(run.name)
        return dict(self.replay_summaries(run, setting, setting.load_data()))


@dataclasses.dataclass
class Shown:
    """One run as a notebook shows and checks it: the profile's own run or a stored run.

    Attributes:
      name: the ledger profile (``quick``/``paper``, or the stored run's name).
      label: the figure title.
      ledger: the :class:`cgnb.engine.ledger.Ledger` its claims are checked in.
      setting: the chapter's setting of the run.
      results: the chapter's results of it (computed now, or read back by :meth:`Catalog.open`).
    """

    name: str
    label: str
    ledger: Any
    setting: Any
    results: Any
