"""``jax.jit`` with the compiler options the engine's kernels are tuned for.

Contents
  COMPILER_OPTIONS   XLA options every program of the engine and the chapters is compiled with
  jit                ``jax.jit(fn, compiler_options=COMPILER_OPTIONS, ...)``
  keep_freed_memory  glibc's allocator set to reuse freed memory instead of returning it to the
                     system (importing :mod:`cgnb.engine` calls it; ``CGNB_MALLOC=system`` opts out)

On the CPU, XLA asks LLVM for 256-bit vectors by default. The order-statistics kernels of
:mod:`cgnb.engine.winsorize` are long chains of integer min/max, and with 512-bit vectors
(AVX-512) they run on half as many instructions: the winsorized step of the chapter-5 MLP at
c = 4 took 3.2 ms instead of 5.2 ms on this book's 2-core build machine (``benchmarks/bench_engine.py``
keeps a row compiled without the option). Where the CPU has no AVX-512, LLVM keeps the widest
vectors it has; the matrix products (library calls) and GPU programs are unaffected (the
option is a field of XLA's debug options, which every backend accepts).

XLA:CPU allocates a program's buffers with ``malloc`` on every run. glibc serves a large buffer
from fresh pages of a new memory map (or a thread's own arena) and hands them back when it is
freed, so every run pays the kernel for zeroing and mapping them again: materialising the
per-example gradients of the chapter-5 MLP (B x P = 134 MB) took 75 ms, 65 % of it in the
kernel. :func:`keep_freed_memory` makes every thread allocate from one heap that keeps what is
freed (up to 2 GiB at its top); the same program then took 23 ms.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from typing import Any, Callable

import jax

COMPILER_OPTIONS: dict[str, Any] = {"xla_cpu_prefer_vector_width": 512}


def jit(fn: Callable, **kwargs: Any) -> Callable:
    """``jax.jit(fn, **kwargs)`` compiled with :data:`COMPILER_OPTIONS` (``compiler_options=``
    entries given here override them).

    JAX accepts compiler options only on a top-level ``jit``: called inside another traced
    function (``jax.jit``, ``vmap``, ``grad``), the result runs as a plain ``jax.jit(fn)`` and
    the outer program's options apply. ``.lower`` (ahead-of-time compilation) compiles with the
    options.
    """
    options = {**COMPILER_OPTIONS, **kwargs.pop("compiler_options", {})}
    top = jax.jit(fn, compiler_options=options, **kwargs)
    nested = jax.jit(fn, **kwargs)

    @functools.wraps(fn)
    def call(*args: Any, **kw: Any) -> Any:
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves((args, kw))):
            return nested(*args, **kw)
        try:
            return top(*args, **kw)
        except ValueError as error:  # traced without traced arguments (only closed-over values)
            if "compiler_options" not in str(error):
                raise
            return nested(*args, **kw)

    call.lower = top.lower  # type: ignore[attr-defined]
    return call


# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def keep_freed_memory() -> bool:
    """Make glibc's ``malloc`` keep freed memory for reuse; True where it took effect.

    One arena for all threads (``M_ARENA_MAX = 1``), no separate memory maps for large blocks
    (``M_MMAP_MAX = 0``) and no trimming of the heap below 2 GiB of free memory at its top
    (``M_TRIM_THRESHOLD``): a process's resident memory then stays at its peak. Does nothing
    (returns False) where the C library is not glibc, or when the environment variable
    ``CGNB_MALLOC`` is ``system``.
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


__all__ = ["COMPILER_OPTIONS", "jit", "keep_freed_memory"]
