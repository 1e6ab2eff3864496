"""A long run never loses finished work: real SIGKILL / SIGINT mid-sweep, two processes on one store.

Each case runs a small sweep in a separate Python process (as a notebook kernel would), interrupts it
for real after its first checkpoint is on disk, and checks that a rerun resumes and reproduces the
uninterrupted run bit for bit.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import sys, time
    import jax, numpy as np
    from cgnb.engine import data, sweep
    rng = np.random.default_rng(0)
    x = rng.normal(size=(88, 12)).astype(np.float32)
    y = np.argmax(x @ rng.normal(size=(12, 3)), axis=1).astype(np.int32)
    ds = data.Dataset(x[:64], y[:64], x[64:], y[64:], "tiny", "random linear teacher")
    config = sweep.SweepConfig(sizes=(12, 8, 3), steps=40, batch_size=8, lr=0.2, record_every=2, chunk_steps=4)
    variants = sweep.Variants.noise_grid(jax.random.PRNGKey(3), ds.y_train, [0.0, 0.5], seeds=(0, 1))
    pause = float(sys.argv[2])
    def slow(done, total):
        print(f"chunk {done}/{total}", flush=True)
        time.sleep(pause)
    result = sweep.run_sweep(config, ds, variants, progress=False, on_chunk=slow)
    np.savez(sys.argv[1], test_acc=result.test_acc, train_loss=result.train_loss,
             first_learned=result.first_learned, chunks_run=result.chunks_run,
             **{f"p{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree_util.tree_leaves(result.params))})
""")


def run(tmp_path: Path, cache: Path, out: str, pause: float = 0.0, env=None) -> subprocess.Popen:
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT)
    environment = dict(os.environ, CGNB_CACHE_DIR=str(cache), JAX_PLATFORMS="cpu", **(env or {}))
    # A shell without job control starts background commands with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: restore the default so that Ctrl-C reaches the script
    # however the test suite was started.
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / out), str(pause)], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_checkpoint(cache: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    start = time.time()
    while time.time() - start < timeout:
        if list(cache.glob("train/*/checkpoint.npz")):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended before its first checkpoint:\n{proc.stdout.read()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no checkpoint appeared")


def load(path: Path) -> dict:
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def assert_same_run(a: dict, b: dict) -> None:
    for name in a:
        if name != "chunks_run":
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    proc = run(folder, folder / "cache", "reference.npz")
    assert proc.wait(timeout=300) == 0, proc.stdout.read()
    return load(folder / "reference.npz")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_interrupted_process_resumes_bit_identical(tmp_path, reference, sig):
    cache = tmp_path / "cache"
    first = run(tmp_path, cache, "first.npz", pause=0.5)
    wait_for_checkpoint(cache, first)
    first.send_signal(sig)
    first.wait(timeout=60)
    assert first.returncode != 0, "the interrupted run should not have finished"
    assert not list(cache.glob("train/*/result.npz")), "an interrupted sweep must not write a final result"
    second = run(tmp_path, cache, "second.npz")
    assert second.wait(timeout=300) == 0, second.stdout.read()
    resumed = load(tmp_path / "second.npz")
    assert 0 < int(resumed["chunks_run"]) < 10, "the rerun should have resumed, not started over"
    assert_same_run(resumed, reference)
    assert not list(cache.glob("train/*/*.tmp")) and not list(cache.glob("train/*/.*.tmp"))


def test_two_processes_on_one_store_do_not_corrupt_each_other(tmp_path, reference):
    cache = tmp_path / "cache"
    a = run(tmp_path, cache, "a.npz", pause=0.05)
    b = run(tmp_path, cache, "b.npz", pause=0.05)
    assert a.wait(timeout=300) == 0, a.stdout.read()
    assert b.wait(timeout=300) == 0, b.stdout.read()
    assert_same_run(load(tmp_path / "a.npz"), reference)
    assert_same_run(load(tmp_path / "b.npz"), reference)
    third = run(tmp_path, cache, "c.npz")
    assert third.wait(timeout=300) == 0, third.stdout.read()
    assert int(load(tmp_path / "c.npz")["chunks_run"]) == 0, "a finished sweep is loaded, not retrained"
