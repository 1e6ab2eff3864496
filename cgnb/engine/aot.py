"""Ahead-of-time checks of a program's memory before a device runs it.

:func:`program_memory` compiles a function for abstract inputs (``jax.ShapeDtypeStruct``; no
array is allocated and nothing runs) and returns XLA's memory analysis of the compiled program;
:func:`fits` says whether it fits a device of a given size. :func:`notebook_parameters` reads a
notebook's ``parameters`` cell under a profile (``quick`` or ``paper``), so a check uses the
settings the notebook itself would run with.

The figures are those of the backend that compiles (on a CPU, XLA:CPU's buffer assignment);
a GPU compilation fuses and lays out differently, so they estimate, not measure, a GPU's use.

Reference: JAX ahead-of-time lowering and compilation, https://jax.readthedocs.io/en/latest/aot.html
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable


from . import profiles, xla

GIB = 2 ** 30
T4_LIMIT = 15 * GIB  # a 16 GB Colab T4 leaves about 15 GiB to a program
FIELDS = ("argument", "output", "temp", "alias", "generated_code")


def program_memory(fn: Callable, *args: Any, **kwargs: Any) -> dict[str, float | None]:
    """Compile ``fn`` (with :func:`cgnb.engine.xla.jit`) for abstract ``args``/``kwargs`` and report its memory, in bytes.

    ``fn`` may already be jitted (its own static arguments are kept). Returns ``argument``,
    ``output``, ``temp``, ``alias``, ``generated_code`` (None where the backend reports nothing),
    ``total`` = argument + output + temp (None if any is unknown) and ``compile_s``.
    """
    jitted = fn if hasattr(fn, "lower") else xla.jit(fn)
    start = time.perf_counter()
    compiled = jitted.lower(*args, **kwargs).compile()
    seconds = time.perf_counter() - start
    stats = compiled.memory_analysis()
    report: dict[str, float | None] = {
        name: (None if stats is None else getattr(stats, f"{name}_size_in_bytes", None)) for name in FIELDS}
    parts = [report[name] for name in ("argument", "output", "temp")]
    report["total"] = None if any(p is None for p in parts) else float(sum(parts))
    report["compile_s"] = seconds
    return report


def fits(report: dict[str, float | None], limit: float = T4_LIMIT) -> bool:
    """True when the report's ``total`` is known and below ``limit`` bytes.

    Raises:
      ValueError: the backend reported no memory analysis (``total`` is None), so nothing is known.
    """
    if report.get("total") is None:
        raise ValueError("the backend gave no memory analysis for this program (memory_analysis() is None); "
                         "compile it on a backend that reports one (XLA:CPU or XLA:GPU)")
    return report["total"] < limit


def notebook_parameters(notebook: str | Path, profile: str = "paper") -> dict[str, Any]:
    """The variables a notebook's ``parameters`` cell defines under ``profile``.

    Executes only that cell's source (it may use ``cgnb.pick`` and plain Python) with
    ``$CGNB_PROFILE`` set to ``profile``, restoring the environment afterwards.

    Raises:
      ValueError: the notebook has no cell tagged ``parameters``, or the profile is unknown.
    """
    if profile not in profiles.PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {profiles.PROFILES}")
    cells = json.loads(Path(notebook).read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not sources:
        raise ValueError(f"{notebook} has no cell tagged 'parameters'")
    import cgnb  # the cell's own import

    saved = os.environ.get(profiles.ENV_VAR)
    os.environ[profiles.ENV_VAR] = profile
    try:
        namespace: dict[str, Any] = {"cgnb": cgnb}
        exec(compile(sources[0], f"{notebook}:parameters", "exec"), namespace)
    finally:
        if saved is None:
            os.environ.pop(profiles.ENV_VAR, None)
        else:
            os.environ[profiles.ENV_VAR] = saved
    return {k: v for k, v in namespace.items() if not k.startswith("__") and k != "cgnb"}


def gib(value: float | None) -> str:
    """Bytes as GiB with three decimals, or ``n/a``."""
    return "n/a" if value is None else f"{value / GIB:.3f}"
