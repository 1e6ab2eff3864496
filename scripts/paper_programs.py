"""Each chapter's paper-profile programs, compiled ahead of time for abstract inputs.

Settings come from each notebook's ``parameters`` cell under ``CGNB_PROFILE=paper``
(:func:`cgnb.engine.aot.notebook_parameters`); nothing is trained and no data is loaded. Each chapter
says which programs a paper run spends its time and memory in, in
``cgnb.chapters.<name>.setting.paper_programs``; the chapters are found by
:func:`cgnb.chapters.all_chapters`.

Run ``python scripts/paper_programs.py [CHAPTER ...]`` (names or numbers; default: every chapter) to
print the figures and write ``book/_generated/paper_memory.md`` (and ``.json``).
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgnb.chapters import all_chapters  # noqa: E402
from cgnb.engine import aot, nets, sweep  # noqa: E402
from cgnb.engine.book import Chapter  # noqa: E402

S = jax.ShapeDtypeStruct
Program = tuple[str, Callable, tuple, dict]  # (name, function, abstract args, abstract kwargs)


def params_of(chapter: Chapter) -> dict[str, Any]:
    """The chapter notebook's ``parameters`` cell under the paper profile."""
    return aot.notebook_parameters(ROOT / chapter.notebook, "paper")


def _stacked(tree, v: int):
    return jax.tree_util.tree_map(lambda a: S((v,) + a.shape, a.dtype), tree)


def sweep_chunk(config: sweep.SweepConfig, num_variants: int, n_train: int, n_test: int,
                level: int | None = None) -> tuple[Callable, tuple]:
    """The sweep's chunk program (:func:`cgnb.engine.sweep.programs`, ``level`` compiled in) and its abstract
    inputs ``(states, variants, arrays, indices (V, chunk, B), start)`` for V variants on (n_train, d) data."""
    init, chunk = sweep.programs(config, level)
    v, d = num_variants, config.sizes[0]
    arrays = sweep.Arrays(S((n_train, d), jnp.float32), S((n_train,), jnp.int32),
                          S((n_test, d), jnp.float32), S((n_test,), jnp.int32))
    n_stats = min(config.stats_examples, n_train)
    n_null = config.n_null if "alphas" in config.stats else 0
    variants = sweep.VariantArrays(S((v, n_train), jnp.int32), S((v, n_train), jnp.bool_), S((v,), jnp.int32),
                                   S((v, n_null, n_stats), jnp.bool_))
    params = _stacked(jax.eval_shape(lambda: nets.init(jax.random.PRNGKey(0), config.sizes)), v)
    states = jax.eval_shape(init, params, variants, arrays)[0]
    return chunk, (states, variants, arrays, S((v, config.chunk, config.batch_size), jnp.int32), S((), jnp.int32))


def chapter_programs(chapter: Chapter) -> list[Program]:
    """The chapter's paper-profile programs: its ``setting.paper_programs`` on its notebook's paper parameters."""
    setting = importlib.import_module(f"cgnb.chapters.{chapter.name}.setting")
    return setting.paper_programs(params_of(chapter), sweep_chunk=sweep_chunk)


def select(keys: list[str]) -> list[Chapter]:
    """The chapters named (``coherent_gradients``) or numbered (``4``, ``04``); every chapter, in book order, for none.

    Raises:
      SystemExit: a name or number that is no chapter's (the message lists the chapters).
    """
    chapters = all_chapters()
    by_key = {**{c.name: c for c in chapters}, **{f"{c.number}": c for c in chapters},
              **{f"{c.number:02d}": c for c in chapters}}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise SystemExit(f"no chapter {unknown}; the chapters are " + ", ".join(f"{c.number:02d} {c.name}" for c in chapters))
    return [by_key[k] for k in keys] if keys else chapters


def _compile(fn: Callable, args: tuple, kwargs: dict) -> dict:
    if kwargs:  # jit the call so abstract keyword arguments are traced too
        return aot.program_memory(lambda *a, **k: fn(*a, **k), *args, **kwargs)
    return aot.program_memory(fn, *args)


def chapter_memory(chapter: Chapter) -> list[dict]:
    """``[{chapter, program, argument, output, temp, alias, generated_code, total, compile_s}]`` for a chapter."""
    return [{"chapter": chapter.name, "program": label, **_compile(fn, args, kwargs)}
            for label, fn, args, kwargs in chapter_programs(chapter)]


def table(rows: list[dict], limit: float = aot.T4_LIMIT) -> str:
    lines = ["| chapter | program | arguments | outputs | temporaries | total (GiB) | fits a T4 | compile (s) |",
             "|---|---|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        ok = "n/a" if r["total"] is None else ("yes" if r["total"] < limit else "**no**")
        lines.append(f"| {r['chapter']} | {r['program']} | {aot.gib(r['argument'])} | {aot.gib(r['output'])} | "
                     f"{aot.gib(r['temp'])} | {aot.gib(r['total'])} | {ok} | {r['compile_s']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter names or numbers (default: every chapter)")
    parser.add_argument("--out", default=str(ROOT / "book" / "_generated" / "paper_memory"),
                        help="path stem of the .md and .json written ('' writes nothing)")
    args = parser.parse_args(argv)
    rows = []
    for chapter in select(args.chapters):
        for row in chapter_memory(chapter):
            print(f"{row['chapter']} {row['program']}: total {aot.gib(row['total'])} GiB "
                  f"(temp {aot.gib(row['temp'])}), compiled in {row['compile_s']:.1f} s", flush=True)
            rows.append(row)
    if args.out:
        head = (f"Compiled on {jax.default_backend().upper()} with jax {jax.__version__}; sizes in GiB "
                f"(2^30 bytes); a T4 is taken to leave {aot.T4_LIMIT / aot.GIB:.0f} GiB to a program.\n\n")
        Path(args.out + ".md").write_text(head + table(rows) + "\n")
        Path(args.out + ".json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
