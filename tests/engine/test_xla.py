"""Tests of cgnb.engine.xla: jax.jit with the engine's compiler options."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cgnb.engine import xla


def test_jit_computes_what_jax_jit_computes():
    f = lambda a, n: jnp.cumsum(a) * n  # noqa: E731
    a = jnp.arange(10.0)
    np.testing.assert_array_equal(xla.jit(f, static_argnums=1)(a, 3), jax.jit(f, static_argnums=1)(a, 3))


def test_the_options_reach_the_compiler(monkeypatch):
    """XLA rejects an unknown option by name: proof that COMPILER_OPTIONS are passed on."""
    monkeypatch.setattr(xla, "COMPILER_OPTIONS", {**xla.COMPILER_OPTIONS, "xla_no_such_option": 1})
    with pytest.raises(Exception, match="xla_no_such_option"):
        xla.jit(lambda a: a + 1)(jnp.ones(3))


def test_options_given_override_the_defaults():
    assert "xla_cpu_prefer_vector_width" in xla.COMPILER_OPTIONS
    out = xla.jit(lambda a: a * 2, compiler_options={"xla_cpu_prefer_vector_width": 256})(jnp.ones(4))
    np.testing.assert_array_equal(out, 2 * np.ones(4))
    with pytest.raises(Exception, match="xla_other_unknown"):
        xla.jit(lambda a: a * 2, compiler_options={"xla_other_unknown": 1})(jnp.ones(4))


FAULTS_SCRIPT = """
import ctypes, resource, sys, threading
import cgnb, cgnb.engine
from cgnb.engine import xla
kept = xla.keep_freed_memory() if sys.argv[1] == "call" else None
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def fill_and_free(size=100_000_000):  # as XLA:CPU does with a program's buffer
    pointer = libc.malloc(size)
    ctypes.memset(pointer, 1, size)
    libc.free(pointer)
def allocate():  # in a thread, as XLA:CPU allocates its buffers
    for _ in range(2):
        fill_and_free()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        fill_and_free()
    out.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4)
out = []
t = threading.Thread(target=allocate); t.start(); t.join()
print(kept, out[0])
"""


def _faults_per_allocation(malloc_setting: str, how: str) -> tuple[str, float]:
    import os
    import subprocess
    import sys
    env = {**os.environ, "CGNB_MALLOC": malloc_setting}
    out = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT, how], env=env, capture_output=True, text=True,
                         check=True)
    kept, faults = out.stdout.split()
    return kept, float(faults)


def test_importing_cgnb_leaves_the_allocator_and_keep_freed_memory_changes_it():
    """A 100 MB buffer freed and allocated again costs ~25,000 page faults (4 KiB pages) under glibc's
    defaults: still after ``import cgnb``, none once ``keep_freed_memory()`` is called; CGNB_MALLOC=system
    opts out of the call."""
    _, imported_faults = _faults_per_allocation("", "import")
    kept, faults = _faults_per_allocation("", "call")
    system_kept, system_faults = _faults_per_allocation("system", "call")
    assert (kept, system_kept) == ("True", "False")
    assert imported_faults > 10_000 and system_faults > 10_000, (imported_faults, system_faults)
    assert faults < 1_000, faults


def test_the_sweep_runner_keeps_freed_memory(monkeypatch):
    import numpy as np

    from cgnb.engine import data, sweep
    calls = []
    monkeypatch.setattr(xla, "keep_freed_memory", lambda: calls.append(1) or True)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.arange(8, dtype=np.int32) % 2
    ds = data.Dataset(x, y, x, y, "toy", "toy")
    sweep.run_sweep(sweep.SweepConfig(sizes=(3, 2), steps=2, record_every=1, batch_size=4), ds,
                    sweep.Variants(y[None], np.ones((1, 8), bool)), cache=False, progress=False)
    assert calls == [1]


def test_staging_is_detected_directly():
    assert not xla.staging()
    seen = []
    jax.jit(lambda a: seen.append(xla.staging()) or a)(1.0)
    jax.vmap(lambda a: seen.append(xla.staging()) or a)(jnp.ones(2))
    jax.eval_shape(lambda: seen.append(xla.staging()) or 0)
    assert seen == [True, False, True]


def test_jit_inside_another_traced_function_runs_without_its_options():
    """JAX refuses compiler options on a nested jit; xla.jit then runs as a plain jit inside."""
    inner = xla.jit(lambda a: a * 3)
    a = jnp.arange(4.0)
    np.testing.assert_array_equal(jax.jit(lambda a: inner(a) + 1)(a), 3 * a + 1)
    np.testing.assert_array_equal(jax.jit(lambda: inner(a))(), 3 * a)  # closed over, no traced argument
    np.testing.assert_array_equal(jax.vmap(inner)(a[:, None]), 3 * a[:, None])
    assert jax.jit(lambda a: inner(a)).lower(a).compile() is not None
    assert inner.lower(a).compile() is not None
