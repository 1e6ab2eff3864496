"""``jax.jit`` with the compiler options the engine's kernels are tuned for.

Contents
  COMPILER_OPTIONS   XLA options every program of the engine and the chapters is compiled with
  jit                ``jax.jit(fn, compiler_options=COMPILER_OPTIONS, ...)``

On the CPU, XLA asks LLVM for 256-bit vectors by default. The order-statistics kernels of
:mod:`cgnb.engine.winsorize` are long chains of integer min/max, and with 512-bit vectors
(AVX-512) they run on half as many instructions: the winsorized step of the chapter-5 MLP at
c = 4 took 5.7 ms instead of 9.6 ms on this book's 2-core build machine (``benchmarks/bench_engine.py``
keeps a row compiled without the option). Where the CPU has no AVX-512, LLVM keeps the widest
vectors it has; the matrix products (library calls) and GPU programs are unaffected (the
option is a field of XLA's debug options, which every backend accepts).
"""
from __future__ import annotations

from typing import Any, Callable

import jax

COMPILER_OPTIONS: dict[str, Any] = {"xla_cpu_prefer_vector_width": 512}


def jit(fn: Callable, **kwargs: Any) -> Callable:
    """``jax.jit(fn, **kwargs)`` compiled with :data:`COMPILER_OPTIONS` (``compiler_options=``
    entries given here override them)."""
    options = {**COMPILER_OPTIONS, **kwargs.pop("compiler_options", {})}
    return jax.jit(fn, compiler_options=options, **kwargs)


__all__ = ["COMPILER_OPTIONS", "jit"]
