"""Each chapter's paper-profile training program, compiled ahead of time for abstract inputs.

Settings come from each notebook's ``parameters`` cell under ``CGNB_PROFILE=paper``
(:func:`cgnb.engine.aot.notebook_parameters`); nothing is trained and no data is loaded.
What is compiled per chapter (the program a paper run spends its time and memory in):

  ch1  the recognizer runs of experiment A (all settings x seeds vmapped, all steps in one program)
  ch2  one forward/backward of the mean loss of the deepest MLP on the gradient batch
  ch3  the moons runs of the "train longer" variant (seeds vmapped, all steps in one program)
  ch4  the sweep's chunk program (noise levels x seeds vmapped, one chunk of steps, with statistics)
  ch5  the sweep's chunk programs for sgd, rm3 and winsorized c = max(cs) (static c)
  ch6  the training segment up to the mid-training snapshot of the dropout variant

Run ``python scripts/paper_programs.py`` to print the figures and write
``book/_generated/paper_memory.md`` (and ``.json``).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgnb.engine import aot, loop, nets, sweep  # noqa: E402

NOTEBOOKS = {
    "ch1": "01_gradient_dosage.ipynb", "ch2": "02_what_scales_a_gradient.ipynb",
    "ch3": "03_gradient_starvation.ipynb", "ch4": "04_coherent_gradients.ipynb",
    "ch5": "05_winsorized_sgd.ipynb", "ch6": "06_minibatch_sensitivity.ipynb",
}
MNIST = {"n_train": 60_000, "n_test": 10_000, "d": 784}
S = jax.ShapeDtypeStruct
Program = tuple[str, Callable, tuple, dict]  # (name, function, abstract args, abstract kwargs)


def params_of(name: str) -> dict[str, Any]:
    return aot.notebook_parameters(ROOT / "notebooks" / NOTEBOOKS[name], "paper")


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


def ch1() -> list[Program]:
    from cgnb.chapters import dosage, dosage_training
    p = params_of("ch1")
    settings = len(p["head_starts"]) + 3 + len(p["weight_decays"])  # as the notebook's settings dict
    make = lambda n: dosage.agreeing_features(jax.random.PRNGKey(0), n, agreement=p["agreement"],
                                               n_irrelevant=p["n_irrelevant"])
    (xtr, ytr), (xte, yte) = jax.eval_shape(lambda: make(p["n_train"])), jax.eval_shape(lambda: make(p["n_test"]))
    run = functools.partial(dosage_training.recognizer_runs, seeds=p["seeds"], units=p["units"], lr=p["lr"],
                            steps=p["steps"], record_every=p["record_every"])
    h = S((settings,), jnp.float32)
    return [("recognizer runs", lambda a, b, c, d, k, r, w: run(a, b, c, d, head_start=k, readout_head_start=r,
                                                              weight_decay=w), (xtr, ytr, xte, yte, h, h, h), {})]


def ch2() -> list[Program]:
    p = params_of("ch2")
    depth = max(p["depths"])
    sizes = (MNIST["d"],) + (p["width"],) * (depth - 1) + (10,)
    params = jax.eval_shape(lambda: nets.init(jax.random.PRNGKey(0), sizes))
    loss = lambda q, x, y: jnp.mean(sweep.per_example_loss(q, x, y))
    return [(f"forward/backward, depth {depth}", jax.value_and_grad(loss),
             (params, S((p["batch"], MNIST["d"]), jnp.float32), S((p["batch"],), jnp.int32)), {})]


def ch3() -> list[Program]:
    from cgnb.chapters import starvation
    p = params_of("ch3")
    run = functools.partial(starvation.moons_run, n_train=p["n_train"], n_test=p["n_test"], noise=p["noise"],
                            margin=p["margin"], hidden=p["hidden"], lr=p["lr"], momentum=p["momentum"],
                            chunks=p["chunks"], sd=0.0, wd=0.0, n_steps=p["longer"] * p["steps"])
    return [(f"moons runs, {p['longer'] * p['steps']} steps", jax.vmap(run), (S((p["seeds"],), jnp.int32),), {})]


def ch4() -> list[Program]:
    p = params_of("ch4")
    config = sweep.SweepConfig(sizes=(MNIST["d"], p["width"], 10), steps=p["steps"], batch_size=100, lr=0.1,
                               record_every=p["record_every"], stats=("alphas", "coherence"),
                               stats_examples=p["stats_examples"], n_null=p["n_null"])
    opening = dataclasses.replace(config, steps=p["opening_steps"], record_every=p["opening_every"], chunk_steps=None)
    v = len(p["noise_levels"]) * len(p["seeds"])
    out = []
    for label, cfg in (("late", config), ("opening", opening)):
        fn, args = sweep_chunk(cfg, v, p["n_train"], MNIST["n_test"])
        out.append((f"sweep chunk ({label}): {v} variants x {cfg.chunk} steps", fn, args, {}))
    out.append(early_contributions(config, v, p["n_train"], p["contribution_steps"], p["early_examples"]))
    return out


def early_contributions(config: sweep.SweepConfig, v: int, n: int, steps: int, m: int) -> Program:
    """Figure 3's program: the body of :func:`cgnb.chapters.coherence_contributions.early_contributions`
    (the same loop and step probe, vmapped over V variants) for abstract parameters, labels and indices."""
    from cgnb.chapters import coherence_contributions as cc
    step = sweep.config_step(config)

    def program(params, x, labels, idx):
        def one(params, labels, idx):
            trace = loop.train(loop.step_gradient(step), step.tx, params, x, labels, steps=steps, indices=idx,
                               step_probe=lambda p, grads, loss: cc.sample_statistics(p, x[:m], labels[:m]),
                               block_reduce=loop.block_all)
            return trace.step_values
        return jax.vmap(one)(params, labels, idx)

    params = _stacked(jax.eval_shape(lambda: nets.init(jax.random.PRNGKey(0), config.sizes)), v)
    args = (params, S((n, config.sizes[0]), jnp.float32), S((v, n), jnp.int32),
            S((v, steps, config.batch_size), jnp.int32))
    return (f"early contributions (Figure 3): {v} variants x {steps} steps x {m} examples", program, args, {})


def ch5() -> list[Program]:
    p = params_of("ch5")
    sizes = (MNIST["d"], *p["hidden"], 10)
    plain = sum(1 if n not in p["claim_levels"] else len(p["seeds"]) for n in p["noise_levels"])
    out = []
    for method, c in (("sgd", 0), ("rm3", 0), ("winsorized", max(p["cs"]))):
        config = sweep.SweepConfig(sizes=sizes, steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"],
                                   method=method, c_max=c, record_every=p["record_every"], keep_params=False)
        fn, args = sweep_chunk(config, plain, p["n_train"], p["n_test"], level=c)
        out.append((f"sweep chunk {method}{f' c={c}' if c else ''}: {plain} variants x {config.chunk} steps",
                    fn, args, {}))
    return out


def ch6() -> list[Program]:
    from cgnb.chapters import fields, minibatch
    p = params_of("ch6")
    sizes = (fields.input_dim(), *p["hidden"], 1)
    params = jax.eval_shape(lambda: nets.init(jax.random.PRNGKey(0), sizes))
    optimizer = optax.sgd(p["learning_rate"])
    segment = p["mid_step"]
    record_every = math.gcd(p["steps"], p["mid_step"])
    gradient = minibatch._mean_loss_gradient(minibatch.make_loss(p["dropout_rate"]))
    fn = functools.partial(loop.jitted_train, gradient, optimizer, steps=segment, record_every=record_every,
                           step_probe=minibatch._loss_probe, block_reduce=loop.block_all)
    keys = jax.eval_shape(lambda: jax.random.split(jax.random.PRNGKey(0), segment))
    args = (params, S((p["n_train"], sizes[0]), jnp.float32), S((p["n_train"],), jnp.float32))
    kwargs = dict(indices=S((segment, p["batch_size"]), jnp.int32), keys=keys,
                  opt_state=jax.eval_shape(optimizer.init, params))
    return [(f"training to the snapshot, dropout: {segment} steps", fn, args, kwargs)]


CHAPTERS: dict[str, Callable[[], list[Program]]] = {"ch1": ch1, "ch2": ch2, "ch3": ch3, "ch4": ch4, "ch5": ch5,
                                                   "ch6": ch6}


def _compile(fn: Callable, args: tuple, kwargs: dict) -> dict:
    if kwargs:  # jit the call so abstract keyword arguments are traced too
        return aot.program_memory(lambda *a, **k: fn(*a, **k), *args, **kwargs)
    return aot.program_memory(fn, *args)


def chapter_memory(name: str) -> list[dict]:
    """``[{chapter, program, argument, output, temp, alias, generated_code, total, compile_s}]`` for a chapter."""
    return [{"chapter": name, "program": label, **_compile(fn, args, kwargs)}
            for label, fn, args, kwargs in CHAPTERS[name]()]


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
    parser.add_argument("chapters", nargs="*", default=list(CHAPTERS))
    parser.add_argument("--out", default=str(ROOT / "book" / "_generated" / "paper_memory"),
                        help="path stem of the .md and .json written ('' writes nothing)")
    args = parser.parse_args(argv)
    rows = []
    for name in args.chapters:
        for row in chapter_memory(name):
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
