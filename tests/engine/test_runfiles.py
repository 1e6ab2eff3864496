"""Tests of cgnb.engine.runfiles: a stored run's files are checked when read, and sealed to each other."""
import json
import warnings
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cgnb.engine import runfiles, runs, store

CONFIG = {"source": "fashion", "n_train": 60000, "width": 2048}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path):
    arrays = {"sweep/records/test_acc": np.linspace(0, 1, 10, dtype=np.float32).reshape(2, 5),
              "sweep/steps": np.arange(5), "note": np.array("x")}
    return runs.save_run("ch9", "big", CONFIG, arrays, wall_s=3.0, directory=tmp_path)


def load(folder):
    return runs.load_run("ch9", "big", directory=folder.parent.parent)


def edit_json(folder, change):
    provenance = json.loads((folder / "run.json").read_text())
    change(provenance)
    (folder / "run.json").write_text(json.dumps(provenance))


def edit_arrays(folder, change):
    arrays = dict(np.load(folder / "arrays.npz", allow_pickle=False))
    change(arrays)
    np.savez_compressed(folder / "arrays.npz", **arrays)


def test_a_saved_run_is_sealed_and_reads_back(folder):
    provenance = json.loads((folder / "run.json").read_text())
    assert sorted(provenance["arrays_sha256"]) == ["note", "sweep/records/test_acc", "sweep/steps"]
    assert load(folder).arrays["sweep/steps"].tolist() == [0, 1, 2, 3, 4]


def last_column(arrays):
    arrays["sweep/records/test_acc"][:, -1] = [0.95, 0.1]


@pytest.mark.parametrize("change, message", [
    (last_column, "array sweep/records/test_acc: its content differs from the digest run.json records"),
    (lambda a: a.pop("sweep/steps"), "array sweep/steps: sealed in run.json, absent from arrays.npz"),
    (lambda a: a.update(extra=np.zeros(1)), "array extra: in arrays.npz, not sealed in run.json"),
    (lambda a: a.update(note=np.array("x", "<U2")), "array note: its content differs"),
])
def test_an_edited_array_is_a_stored_run_error_naming_it(folder, change, message):
    edit_arrays(folder, change)
    with pytest.raises(runs.StoredRunError, match="altered after it was written") as error:
        load(folder)
    assert message in str(error.value) and "python scripts/store_run.py ch9 big" in str(error.value)
    assert "git checkout --" in str(error.value)


@pytest.mark.parametrize("change", [lambda p: p.update(config_hash="0" * 64),
                                    lambda p: p["config"].update(width=1024)])
def test_an_edited_config_or_config_hash_is_a_stored_run_error(folder, change):
    edit_json(folder, change)
    with pytest.raises(runs.StoredRunError, match=r"config_hash: run.json records \w+\.\.\., its config hashes to"):
        load(folder)


def test_another_engine_fingerprint_is_reported_not_an_error(folder):
    edit_json(folder, lambda p: p.update(engine="f" * 64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = load(folder)
    assert not run.engine_matches and "this engine differs" in run.provenance_markdown()


def test_an_unsealed_run_says_how_to_seal_it(folder):
    edit_json(folder, lambda p: p.pop("arrays_sha256"))
    with pytest.raises(runs.StoredRunError, match=r"is not sealed .*python scripts/seal_run.py ch9 big"):
        load(folder)


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "must hold a JSON object, got a list"),
    ("{not json", "is unreadable .JSONDecodeError"),
    (None, "has no 'machine' field"),
    ("config-string", r"'config' must be a dict, got str"),
    ("wall-string", r"'wall_s' must be a int or float, got str '3'"),
    ("machine-empty", r"'machine' lacks \['backend', 'device_kind', 'cpu_cores', 'processor'\]"),
])
def test_a_malformed_run_json_gives_one_clear_error(folder, text, message):
    provenance = json.loads((folder / "run.json").read_text())
    edits = {None: lambda p: p.pop("machine"), "config-string": lambda p: p.update(config="fashion"),
             "wall-string": lambda p: p.update(wall_s="3"), "machine-empty": lambda p: p.update(machine={})}
    if text in edits:
        edits[text](provenance)
        text = json.dumps(provenance)
    (folder / "run.json").write_text(text)
    with pytest.raises(runs.StoredRunError, match=message) as error:
        load(folder)
    assert "run.json" in str(error.value) and "scripts/store_run.py ch9 big" in str(error.value)


def test_a_missing_record_array_read_from_a_run_is_a_stored_run_error(folder):
    run = runs.StoredRun("ch9", "big", {}, {"sweep/steps": np.arange(5)})
    with pytest.raises(runs.StoredRunError, match=r"its arrays under 'sweep' cannot be read \(KeyError"):
        run.sweep("sweep")
    with pytest.raises(runs.StoredRunError, match="scripts/store_run.py ch9 big"):
        run.variants("sweep")


def test_arrays_that_decompress_beyond_the_bound_are_refused_before_decompressing(folder, monkeypatch):
    arrays = {"zeros": np.zeros(2 ** 21, np.uint8)}  # 2 MiB of zeros: a few KiB compressed
    runs.save_run("ch9", "big", CONFIG, arrays, wall_s=1, directory=folder.parent.parent)
    assert (folder / "arrays.npz").stat().st_size < 2 ** 16
    monkeypatch.setattr(runfiles, "MAX_ARRAYS_BYTES", 2 ** 20)
    monkeypatch.setattr(store, "read_arrays", lambda path: pytest.fail("decompressed"))
    with pytest.raises(runs.StoredRunError, match=r"would decompress to 2 MiB, more than the 1 MiB"):
        load(folder)


def test_seal_refreshes_a_migrated_config_and_is_idempotent(folder):
    edit_json(folder, lambda p: p["config"].update(width=1024))  # a migration renames or changes a field
    assert runfiles.seal(folder) is True
    assert load(folder).config["width"] == 1024
    text = (folder / "run.json").read_text()
    assert runfiles.seal(folder) is False and (folder / "run.json").read_text() == text


def test_seal_run_script_seals_a_run_without_recomputing_it(folder):
    edit_json(folder, lambda p: p.pop("arrays_sha256"))
    before = (folder / "arrays.npz").read_bytes()
    script = [sys.executable, str(ROOT / "scripts" / "seal_run.py"), "--results-dir", str(folder.parent.parent)]
    out = subprocess.run([*script, "ch9", "big"], capture_output=True, text=True, check=True).stdout
    assert "ch9/big: sealed" in out and (folder / "arrays.npz").read_bytes() == before
    load(folder)
    again = subprocess.run([*script, "--all"], capture_output=True, text=True, check=True).stdout
    assert "ch9/big: already sealed, unchanged" in again
    (folder / "run.json").write_text("[]")
    failed = subprocess.run([*script, "ch9", "big"], capture_output=True, text=True)
    assert failed.returncode == 1 and "must hold a JSON object" in failed.stderr


def test_a_stored_runs_folder_and_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        folder = runs.save_run("ch9", "big", CONFIG, {"x": np.zeros(2)}, wall_s=1, directory=tmp_path)
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == 0o755
    assert {(folder / f).stat().st_mode & 0o777 for f in ("run.json", "arrays.npz")} == {0o644}


def test_the_new_folder_of_a_killed_write_is_removed_by_the_next_write(tmp_path):
    stale, live = tmp_path / "ch9" / ".big.abc.new", tmp_path / "ch9" / ".big.def.new"
    for new in (stale, live):
        new.mkdir(parents=True)
        (new / "arrays.npz").write_bytes(b"partial")
    old = stale.stat().st_mtime - 2 * store.STALE_TEMP_S
    os.utime(stale, (old, old))
    runs.save_run("ch9", "big", CONFIG, {"x": np.zeros(2)}, wall_s=1, directory=tmp_path)
    assert not stale.exists() and live.exists()
