"""``jax.jit`` with the compiler options the engine's kernels are tuned for, and the process's allocator.

Contents
  COMPILER_OPTIONS   XLA options every program of the engine and the chapters is compiled with:
                     512-bit vectors preferred on the CPU (the winsorization kernels' min/max chains
                     run on AVX-512 where the CPU has it; elsewhere LLVM keeps the widest it has)
  jit                ``jax.jit(fn, compiler_options=COMPILER_OPTIONS, ...)``
  keep_freed_memory  set glibc's allocator to reuse freed memory instead of returning it to the
                     system: an explicit call, made by :func:`cgnb.engine.sweep.run_sweep` and the
                     benchmark (``benchmarks/bench_engine.py``); importing cgnb changes nothing.
                     ``CGNB_MALLOC=system`` opts out.

Why both exist, with the measurements behind them: ``book/performance.md`` ("Engine notes").

Reference: XLA's debug options (``xla_cpu_prefer_vector_width``); glibc's ``mallopt(3)``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp

COMPILER_OPTIONS: dict[str, Any] = {"xla_cpu_prefer_vector_width": 512}


def staging() -> bool:
    """True while a function is being staged out into a program (traced by ``jax.jit``, ``jax.eval_shape``,
    a ``lax.scan`` body, ...): a new constant is then a tracer. False at the top level and under
    ``vmap`` or ``grad`` alone, which run their primitives eagerly."""
    return isinstance(jnp.asarray(False), jax.core.Tracer)


def jit(fn: Callable, **kwargs: Any) -> Callable:
    """``jax.jit(fn, **kwargs)`` compiled with :data:`COMPILER_OPTIONS` (``compiler_options=`` entries
    given here override them).

    JAX accepts compiler options only on a top-level ``jit``: called with traced arguments, or while
    a program is being staged (:func:`staging`), the result runs as a plain ``jax.jit(fn)`` and the
    outer program's options apply. ``.lower`` (ahead-of-time compilation) compiles with the options.
    """
    options = {**COMPILER_OPTIONS, **kwargs.pop("compiler_options", {})}
    top = jax.jit(fn, compiler_options=options, **kwargs)
    nested = jax.jit(fn, **kwargs)

    @functools.wraps(fn)
    def call(*args: Any, **kw: Any) -> Any:
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves((args, kw))) or staging():
            return nested(*args, **kw)
        return top(*args, **kw)

    call.lower = top.lower  # type: ignore[attr-defined]
    return call


# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Make glibc's ``malloc`` keep freed memory for reuse; True where it took effect.

    One arena for all threads (``M_ARENA_MAX = 1``), no separate memory maps for large blocks
    (``M_MMAP_MAX = 0``) and no trimming of the heap below 2 GiB of free memory at its top
    (``M_TRIM_THRESHOLD``): the process's resident memory then stays at its peak, and XLA:CPU's
    buffers are not mapped and zeroed afresh on every run. Call it early (before the first
    computation) so that it covers XLA's threads; later calls return the first call's answer.
    Does nothing (returns False) where the C library is not glibc, or when the environment
    variable ``CGNB_MALLOC`` is ``system``.
    """
    if os.environ.get("CGNB_MALLOC", "") == "system":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2 ** 31 - 1))
    return all(mallopt(param, value) == 1 for param, value in settings)


__all__ = ["COMPILER_OPTIONS", "staging", "jit", "keep_freed_memory"]
