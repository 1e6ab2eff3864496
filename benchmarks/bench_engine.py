"""Engine benchmark: what per-example statistics cost relative to a plain SGD step.

Run from the repository root::

    python benchmarks/bench_engine.py            # ~21 repeats per measurement
    python benchmarks/bench_engine.py --quick    # fewer repeats

Set-up: the chapter-5 MLP 784-256-256-256-10, minibatch B = 100 of random MNIST-shaped data.
Every "step" is a jitted function params -> params (gradient, aggregation, ``optax.sgd``).
All measurements are taken in one run: each function is compiled and warmed up, then the
functions are timed round-robin (so that a change in machine load hits all of them alike), each
timed call right after an untimed call of the same function, ``block_until_ready`` after every
call; a ratio is the median over repeats of the per-repeat ratio to the plain step timed in the
same round. Results go to ``book/_generated/benchmark.md``
(included by ``book/performance.md``) and ``book/_generated/benchmark.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax import lax

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from cgnb.engine import losses, nets, pergrad, stats, trainer, transforms, xla  # noqa: E402
from cgnb.engine.winsorize import kernel, outer  # noqa: E402

SIZES = (784, 256, 256, 256, 10)
BATCH = 100
LR = 0.1
SCAN_STEPS = 100
VARIANTS = 5
SWEEP_STEPS = 10
CH5_LEVELS = (0, 1, 2, 4, 4)
CH5_STATIC = (1, 2, 4)  # chapter 5 compiles one sweep per level (cgnb.chapters.winsorized_sgd.setting.run_winsorized)
CH5_TARGETS = {4: 4.5, 2: 3.0, 1: 2.5}  # issue 23, per variant-step
SORTING_LEVELS = (8, 10, 20, 49)  # static levels beyond the insertion network: the sorting network's
SORTING_C_MAX = 49  # ... and a traced c up to (B-1)/2 in one program
DEFAULT_VECTORS = "XLA's default 256-bit vectors"
DEFAULT_VECTORS_OPTION = {"xla_cpu_prefer_vector_width": 256}


# ----------------------------------------------------------------------------- steps


def xent(params, x, y):
    """Per-example cross-entropy of the MLP (a plain function: the generic code paths)."""
    return losses.cross_entropy(nets.forward(params, x), y)


@jax.jit
def jitted_layer(layer, h):
    return h @ layer["w"] + layer["b"]


def nested_jit_xent(params, x, y):
    """The same loss with every layer a ``jax.jit`` call of its own (as user code often writes it)."""
    h = x
    for layer in params[:-1]:
        h = jax.nn.relu(jitted_layer(layer, h))
    return losses.cross_entropy(jitted_layer(params[-1], h), y)


MLP_XENT = losses.MLPLoss()  # the same loss, recognised by pergrad's MLP fast paths
SGD = optax.sgd(LR)


def sgd_apply(params, grads):
    updates, _ = SGD.update(grads, SGD.init(params), params)
    return optax.apply_updates(params, updates)


def plain_step(params, x, y):
    return sgd_apply(params, jax.grad(lambda p: jnp.mean(xent(p, x, y)))(params))


def per_example_step(params, x, y):
    """The engine's per-example gradients of a plain-function loss (``pergrad.per_example``: the factors read
    from the traced ``vmap(grad)`` program), their mean, SGD."""
    return sgd_apply(params, pergrad.per_example(xent, params, x, y).mean())


def vmap_mean_step(params, x, y):
    """``jax.vmap(jax.grad(...))`` as it is, ``jnp.mean`` over the batch, SGD (the compiler sums the batched
    outer products elementwise, not as a matrix product)."""
    g = pergrad.per_example_grads(xent, params, x, y)
    return sgd_apply(params, jax.tree_util.tree_map(lambda l: jnp.mean(l, axis=0), g))


def per_example_materialised(params, x, y):
    """The per-example gradients themselves as the output: (B, ...) leaves, B x P floats."""
    return pergrad.per_example_grads(xent, params, x, y)


def generic_winsorized_step(c: int, loss: Callable = xent) -> Callable:
    """The engine's winsorized step for a plain-function loss: the ``"per_example"`` rule (factors read from
    the traced program; the biases' (B, d) gradients materialised) -> winsorized_mean -> sgd."""
    engine_step = trainer.Step(loss, "per_example", optax.chain(transforms.winsorized_mean(c), SGD))

    def step(params, x, y):
        return engine_step(params, engine_step.init(params), x, y)[0]
    return step


def winsorized_step(c: int) -> Callable:
    """The pytree path: ``per_example_grads`` (the (B, P) gradients of ``vmap(grad)``) -> winsorized_mean -> sgd."""
    tx = optax.chain(transforms.winsorized_mean(c), SGD)

    def step(params, x, y):
        updates, _ = tx.update(pergrad.per_example_grads(xent, params, x, y), tx.init(params), params)
        return optax.apply_updates(params, updates)
    return step


def mlp_winsorized_step(c: int, method: str | None = None) -> Callable:
    """The engine's winsorized step: per-example gradients as MLP factors -> winsorized_mean -> sgd
    (``method`` forces an algorithm of :data:`cgnb.engine.winsorize.METHODS`)."""
    engine_step = trainer.Step(MLP_XENT, "per_example", optax.chain(transforms.winsorized_mean(c, method=method), SGD))

    def step(params, x, y):
        return engine_step(params, engine_step.init(params), x, y)[0]
    return step


def tiles_summed_step(params, x, y):
    """The MLP path's loop nest with no comparisons: every tile's values ``a_i[r] * delta_i[s]`` formed and
    summed value by value in example order (what the networks do besides their min/max), then sgd. The
    floor of any kernel that forms each per-example value in these tiles."""
    factors = pergrad.mlp_factors(MLP_XENT, params, x, y)
    plan = outer.tile_plan(factors.inputs, factors.deltas, outer.MLP_TILE_ROWS, outer.MLP_TILE_COLS)
    grads = outer.map_tiles(plan, lambda example, _block: kernel.mean_in_order(example, BATCH), one_program=True)
    return sgd_apply(params, grads)


def mlp_winsorized_traced_step(c_max: int, method: str | None = None) -> Callable:
    """The MLP fast path with the level c a run-time argument bounded by ``c_max`` (one program
    for every level, as a vmapped sweep over c runs it)."""
    def step(params, x, y, c):
        engine_step = trainer.Step(MLP_XENT, "per_example",
                                   optax.chain(transforms.winsorized_mean(c, c_max, method), SGD))
        return engine_step(params, engine_step.init(params), x, y)[0]
    return step


def sweep_run(step: Callable, levels: jax.Array | None = None) -> Callable:
    """VARIANTS runs vmapped over their initial parameters (and levels c), each a lax.scan of
    ``step`` over the same minibatches: what a chapter's sweep runs."""
    def run(stacked, xs, ys, cs):
        def one(params, c):
            def body(p, batch):
                return (step(p, *batch) if levels is None else step(p, *batch, c)), None
            return lax.scan(body, params, (xs, ys))[0]
        return jax.vmap(one)(stacked, cs)
    return run


def plain_step_with_alphas(params, x, y, mask):
    """A plain step that also records alpha_p / alpha_c (chapter 4 records them every
    ``record_every`` steps; every step here, an upper bound)."""
    alphas = stats.group_alphas(MLP_XENT, params, x, y, mask)
    new = plain_step(params, x, y)
    return jax.tree_util.tree_map(lambda l: l + 0.0 * alphas["alpha_p"], new)


def sort_winsorized_step(c: int) -> Callable:
    """Baseline: sort the B values of every coordinate, clip to [v_(c+1), v_(B-c)], average."""
    def winsorize_by_sort(g):
        s = jnp.sort(g, axis=0)
        return jnp.mean(jnp.clip(g, s[c], s[g.shape[0] - 1 - c]), axis=0)

    def step(params, x, y):
        g = pergrad.per_example_grads(xent, params, x, y)
        return sgd_apply(params, jax.tree_util.tree_map(winsorize_by_sort, g))
    return step


def alphas_stats(params, x, y, mask):
    return stats.group_alphas(xent, params, x, y, mask)


def alphas_stats_mlp(params, x, y, mask):
    return stats.group_alphas(MLP_XENT, params, x, y, mask)


def coherence_fast(params, x, y):
    return stats.coherence(MLP_XENT, params, x, y)


def coherence_vmap(params, x, y):
    return stats.coherence(xent, params, x, y, method="vmap")


def scan_run(params, xs, ys):
    def body(p, batch):
        return plain_step(p, *batch), None
    return lax.scan(body, params, (xs, ys))[0]


# ----------------------------------------------------------------------------- chapter 4's sweep as it runs


def chapter4_sweep_as_run(repeats: int) -> dict:
    """Chapter 4's quick sweep through the engine (``run_sweep``, cache off): 5 variants of 784-136-10 on 4,000
    random MNIST-shaped examples and 1,000 test examples, 1,000 steps, a record every 50 steps, with the chapter's
    gradient statistics (alpha_p/alpha_c for the real and 3 null designations, coherence; 400 examples) against
    the same sweep recording accuracies only. Returns the median per-sweep time and the median paired ratio."""
    import numpy as np

    from cgnb.engine import data as cdata
    from cgnb.engine import sweep

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5000, 784)).astype(np.float32)
    y = rng.integers(0, 10, 5000).astype(np.int32)
    data = cdata.Dataset(x[:4000], y[:4000], x[4000:], y[4000:], "random", "random MNIST-shaped data")
    variants = sweep.Variants.noise_grid(jax.random.PRNGKey(0), data.y_train, [0.0, 0.25, 0.5, 0.75, 1.0])
    base = sweep.SweepConfig(sizes=(784, 136, 10), steps=1000, record_every=50, keep_params=False)
    configs = {"stats": dataclasses.replace(base, stats=("alphas", "coherence")), "plain": base}
    compile_s, times = {}, {name: [] for name in configs}
    for name, config in configs.items():  # the first call compiles the sweep's programs
        start = time.perf_counter()
        sweep.run_sweep(config, data, variants, cache=False, progress=False)
        compile_s[f"chapter-4 sweep ({name}), first run"] = time.perf_counter() - start
    for _ in range(repeats):
        for name, config in configs.items():
            start = time.perf_counter()
            sweep.run_sweep(config, data, variants, cache=False, progress=False)
            times[name].append(time.perf_counter() - start)
    ratio = statistics.median(a / b for a, b in zip(times["stats"], times["plain"]))
    return {"ms": 1e3 * statistics.median(times["stats"]), "ratio": ratio, "compile_s": compile_s,
            "setup": "784-136-10, 5 variants, 1,000 steps, records every 50"}


# ----------------------------------------------------------------------------- peers (optional extras)


def torch_peer(params, x, y) -> dict[str, tuple[Callable, tuple]]:
    """PyTorch on the same MLP, batch and weights: a plain step and ``torch.func.vmap(grad)`` per-example
    gradients + mean + SGD, the peer of ``vmap_mean_step``. Empty when torch is not installed (it is an
    optional extra, not a dependency: ``pip install torch``)."""
    try:
        import torch
        from torch.func import functional_call, grad, vmap
    except ImportError:
        return {}
    import numpy as np

    layers = []
    for layer in params:
        linear = torch.nn.Linear(*np.asarray(layer["w"]).shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.asarray(layer["w"]).T.copy()))
            linear.bias.copy_(torch.from_numpy(np.asarray(layer["b"]).copy()))
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    weights = {k: v.detach() for k, v in model.named_parameters()}
    tx, ty = torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(y)).long()

    def loss_one(w, xi, yi):
        logits = functional_call(model, w, (xi[None],))
        return torch.nn.functional.cross_entropy(logits, yi[None])

    per_example = vmap(grad(loss_one), in_dims=(None, 0, 0))

    def per_example_step():
        g = per_example(weights, tx, ty)
        return {k: w - LR * g[k].mean(0) for k, w in weights.items()}

    def plain():
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(tx), ty).backward()
        with torch.no_grad():
            return {k: w - LR * w.grad for k, w in model.named_parameters()}

    return {"torch plain step": (lambda: plain() and None, ()),
            "torch func.vmap(grad) per-example + mean": (lambda: per_example_step() and None, ())}


def official_winsorized_step(c: int) -> Callable:
    """The Coherent Gradients paper's winsorization as its text defines it, in numpy: per-example gradients
    (B x P, from JAX), then per parameter the c-th and (100 - c)-th percentiles over the B examples
    (``np.percentile``), clip, average, SGD."""
    import numpy as np

    grads = jax.jit(per_example_materialised)

    def step(params, x, y):
        g = [np.asarray(leaf).reshape(leaf.shape[0], -1) for leaf in jax.tree_util.tree_leaves(grads(params, x, y))]
        new = []
        for p, leaf in zip(jax.tree_util.tree_leaves(params), g):
            low, high = np.percentile(leaf, [c, 100 - c], axis=0)
            new.append(np.asarray(p) - LR * np.clip(leaf, low, high).mean(0).reshape(p.shape))
        return None
    return step


# ----------------------------------------------------------------------------- timing


def _torch_version() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


def compile_fn(fn: Callable, *args, options: dict | None = None) -> tuple[Callable, float]:
    start = time.perf_counter()
    compiled = xla.jit(fn, **({} if options is None else {"compiler_options": options})).lower(*args).compile()
    return compiled, time.perf_counter() - start


def timed(fn: Callable, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def round_robin(fns: dict[str, tuple[Callable, tuple]], repeats: int, baseline: str) -> dict[str, dict]:
    """Time every function ``repeats`` times, interleaved; ratios are paired with ``baseline``."""
    for fn, args in fns.values():  # warm-up
        jax.block_until_ready(fn(*args))
        jax.block_until_ready(fn(*args))
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (fn, args) in fns.items():
            jax.block_until_ready(fn(*args))  # untimed: caches and allocator warm for this function
            times[name].append(timed(fn, *args))
    base = times[baseline]
    return {name: {"ms": 1e3 * statistics.median(t),
                   "ratio": statistics.median(a / b for a, b in zip(t, base))}
            for name, t in times.items()}


# ----------------------------------------------------------------------------- report


def machine_info() -> dict:
    device = jax.devices()[0]
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "jax": jax.__version__, "backend": jax.default_backend(), "device": str(device),
            "device_kind": getattr(device, "device_kind", ""), "cpu_count": os.cpu_count(),
            "cpu": cpu, "python": platform.python_version(), "load_average": load}


def markdown(rows: list[dict], info: dict, extra: dict) -> str:
    lines = [
        f"Measured {info['date']} on backend `{info['backend']}` ({info['device_kind'] or info['device']}), "
        f"{info['cpu_count']} CPU cores ({info['cpu']}), JAX {info['jax']}; load average at start "
        f"{', '.join(f'{v:.1f}' for v in info['load_average']) if info['load_average'] else 'n/a'}. "
        f"MLP {'-'.join(map(str, SIZES))} ({extra['params']:,} parameters), B = {BATCH}, "
        f"{extra['repeats']} repeats; plain SGD step {extra['plain_ms']:.2f} ms.",
        "",
        "| measurement | ms | ratio | target | met |",
        "|---|---:|---:|---:|:---:|",
    ]
    for r in rows:
        target = r.get("target")
        if target is None:
            target_s, met = "", ""
        else:
            op, value = target
            target_s = f"{op}\u00a0{value:g}{r.get('unit', '×')}"
            met = "yes" if (r["ratio"] <= value if op == "≤" else r["ratio"] >= value) else "no"
        ms = f"{r['ms']:.2f}" if r.get("ms") is not None else ""
        unit = r.get("unit", "×")
        lines.append(f"| {r['name']} | {ms} | {r['ratio']:.2f}{unit} | {target_s} | {met} |")
    lines += ["", (f"Peers: PyTorch {extra['torch']} (`torch.func.vmap(grad)`, an optional extra, not a dependency of "
                   f"cgnb) on the same MLP, batch and weights." if extra.get("torch") else
                   "Peers: PyTorch is not installed here, so its row is left out (`pip install torch` adds it).")
              + " The official winsorization is the paper's definition in numpy: per-example gradients, then "
                "`np.percentile` per parameter over the batch, clip, average."]
    lines += ["", "Every program is compiled with `cgnb.engine.xla.jit` (options "
              f"`{extra['compiler_options']}`); glibc's allocator keeps freed memory for reuse "
              f"(`cgnb.engine.xla.keep_freed_memory`): {'yes' if extra['keeps_freed_memory'] else 'no'}."]
    lines += ["", "Compile times (s, first call): " + ", ".join(
        f"{k} {v:.1f}" for k, v in extra["compile_s"].items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a rough, fast run)")
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "_generated",
                        help="folder for benchmark.md and benchmark.json")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 21
    keeps_freed_memory = xla.keep_freed_memory()  # before the first computation, so it covers XLA's threads
    info = machine_info()

    key = jax.random.PRNGKey(0)
    k_init, k_x, k_y, k_mask = jax.random.split(key, 4)
    params = nets.init(k_init, SIZES)
    n_params = nets.num_params(params)
    x = jax.random.uniform(k_x, (BATCH, SIZES[0]), jnp.float32)
    y = jax.random.randint(k_y, (BATCH,), 0, SIZES[-1])
    mask = jax.random.bernoulli(k_mask, 0.5, (BATCH,))
    data = (params, x, y)

    candidates = {
        "plain SGD step": (plain_step, data),
        "per-example gradients + mean": (per_example_step, data),
        "per-example gradients + mean, vmap(grad) materialised": (vmap_mean_step, data),
        "per-example gradients materialised": (per_example_materialised, data),
        "winsorized c=4 (generic loss)": (generic_winsorized_step(4), data),
        "winsorized c=1 (generic loss)": (generic_winsorized_step(1), data),
        "winsorized c=4 (generic loss, layers in nested jit calls)": (generic_winsorized_step(4, nested_jit_xent), data),
        "winsorized c=4 (per-example grads + winsorized_mean)": (winsorized_step(4), data),
        "winsorized c=1 (per-example grads + winsorized_mean)": (winsorized_step(1), data),
        "winsorized c=4 (MLP fast path)": (mlp_winsorized_step(4), data),
        "winsorized c=1 (MLP fast path)": (mlp_winsorized_step(1), data),
        "MLP path's tiles summed value by value": (tiles_summed_step, data),
        "winsorized traced c=4 (c_max=4, MLP fast path, sorting network)": (mlp_winsorized_traced_step(4), (*data, jnp.int32(4))),
        **{f"winsorized c={c} (MLP fast path, sorting network)": (mlp_winsorized_step(c), data) for c in SORTING_LEVELS},
        f"winsorized traced c=10 (c_max={SORTING_C_MAX}, MLP fast path, sorting network)": (
            mlp_winsorized_traced_step(SORTING_C_MAX), (*data, jnp.int32(10))),
        "winsorized c=10 (MLP fast path, bisection forced)": (mlp_winsorized_step(10, "bisect"), data),
        "winsorized c=4 (jnp.sort baseline)": (sort_winsorized_step(4), data),
        "alpha_p / alpha_c (group_alphas)": (alphas_stats, (*data, mask)),
        "alpha_p / alpha_c (group_alphas, MLP fast path)": (alphas_stats_mlp, (*data, mask)),
        "coherence (MLP fast path)": (coherence_fast, data),
        "coherence (vmap per-example grads)": (coherence_vmap, data),
    }
    mm_a = jax.random.normal(jax.random.PRNGKey(1), (2048, 2048), jnp.float32)
    candidates["matmul 2048x2048"] = (lambda m: m @ m, (mm_a,))
    compiled, compile_s = {}, {}
    for name, (fn, fn_args) in candidates.items():
        compiled[name], compile_s[name] = compile_fn(fn, *fn_args)
        print(f"compiled {name}: {compile_s[name]:.1f} s", flush=True)
    # the same kernel compiled without the engine's 512-bit vector preference (xla.COMPILER_OPTIONS)
    name = f"winsorized c=4 (MLP fast path, {DEFAULT_VECTORS})"
    candidates[name] = candidates["winsorized c=4 (MLP fast path)"]
    compiled[name], compile_s[name] = compile_fn(candidates[name][0], *data, options=DEFAULT_VECTORS_OPTION)
    # the sort baseline costs ~1000 plain steps per call: time it on a few repeats only
    slow = {"winsorized c=4 (jnp.sort baseline)", "winsorized c=10 (MLP fast path, bisection forced)"}
    fast_fns = {n: (compiled[n], candidates[n][1]) for n in candidates if n not in slow}
    results = round_robin(fast_fns, repeats, "plain SGD step")
    slow_fns = {"plain SGD step": fast_fns["plain SGD step"],
                **{n: (compiled[n], candidates[n][1]) for n in slow}}
    results.update({n: r for n, r in round_robin(slow_fns, 3, "plain SGD step").items() if n in slow})
    plain_ms = results["plain SGD step"]["ms"]

    # peers, timed in rounds with the plain JAX step: PyTorch's per-example gradients (when installed) and the
    # paper's numpy-percentile winsorization
    peers = {"plain SGD step": fast_fns["plain SGD step"], **torch_peer(params, x, y),
             "official winsorization c=4 (numpy percentile)": (official_winsorized_step(4), data)}
    peer_res = round_robin(peers, 3 if args.quick else 7, "plain SGD step")

    # FLOP rate of the plain step against a large matmul, timed in the same rounds
    mm_n = 2048
    mm_gflops = 2 * mm_n ** 3 / (results["matmul 2048x2048"]["ms"] / 1e3) / 1e9
    step_gflops = 6 * BATCH * n_params / (plain_ms / 1e3) / 1e9
    efficiency = 6 * BATCH * n_params / (2 * mm_n ** 3) * results["matmul 2048x2048"]["ratio"]

    # lax.scan over SCAN_STEPS steps against a Python loop of jitted steps
    xs = jax.random.uniform(k_x, (SCAN_STEPS, BATCH, SIZES[0]), jnp.float32)
    ys = jax.random.randint(k_y, (SCAN_STEPS, BATCH), 0, SIZES[-1])
    scan_c, compile_s["scan 100 steps"] = compile_fn(scan_run, params, xs, ys)
    step_c = compiled["plain SGD step"]

    def python_loop(p, xs, ys):
        for t in range(SCAN_STEPS):
            p = step_c(p, xs[t], ys[t])
        return p

    xs_list = [xs[t] for t in range(SCAN_STEPS)]
    ys_list = [ys[t] for t in range(SCAN_STEPS)]
    loop_fn = lambda p, _xs, _ys: python_loop(p, xs_list, ys_list)  # noqa: E731
    loop_res = round_robin({"loop": (loop_fn, (params, xs, ys)), "scan": (scan_c, (params, xs, ys))},
                           max(3, repeats // 4), "loop")

    # a vmapped sweep of VARIANTS runs against VARIANTS sequential runs (scan of SCAN_STEPS each)
    stacked = jax.vmap(lambda k: nets.init(k, SIZES))(jax.random.split(k_init, VARIANTS))
    singles = [jax.tree_util.tree_map(lambda l: l[v], stacked) for v in range(VARIANTS)]
    sweep_c, compile_s["vmapped sweep"] = compile_fn(jax.vmap(scan_run, in_axes=(0, None, None)), stacked, xs, ys)

    def sequential(_p, xs, ys):
        return [scan_c(p, xs, ys) for p in singles]

    sweep_res = round_robin({"sequential": (sequential, (None, xs, ys)), "vmap": (sweep_c, (stacked, xs, ys))},
                            max(3, repeats // 4), "sequential")

    # the chapters' sweeps: VARIANTS runs vmapped, each a lax.scan of SWEEP_STEPS steps, against the
    # same structure running plain steps: the ratio is per variant-step, within one program shape
    sxs, sys_ = xs[:SWEEP_STEPS], ys[:SWEEP_STEPS]
    levels = jnp.array(CH5_LEVELS, jnp.int32)
    masks = jnp.broadcast_to(mask, (SWEEP_STEPS, BATCH))
    chapter_fns = {
        "plain": (sweep_run(plain_step), (stacked, sxs, sys_, levels)),
        "chapter 5": (sweep_run(mlp_winsorized_traced_step(max(CH5_LEVELS)), levels), (stacked, sxs, sys_, levels)),
        # what chapter 5 runs (winsorized.run_winsorized): one program per level, c compiled in
        **{f"chapter 5 c={c}": (sweep_run(mlp_winsorized_step(c)), (stacked, sxs, sys_, levels)) for c in CH5_STATIC},
        "chapter 5 floor": (sweep_run(tiles_summed_step), (stacked, sxs, sys_, levels)),
        "chapter 4": (sweep_run(lambda p, x, y, m: plain_step_with_alphas(p, x, y, m), levels),
                      (stacked, sxs, sys_, masks)),
    }
    chapter_compiled = {}
    for name, (fn, fn_args) in chapter_fns.items():
        if name == "chapter 4":  # the mask takes the place of the level: scanned with the batches
            def fn(stacked, xs, ys, ms):
                def one(params):
                    def body(p, batch):
                        return plain_step_with_alphas(p, *batch), None
                    return lax.scan(body, params, (xs, ys, ms))[0]
                return jax.vmap(one)(stacked)
        chapter_compiled[name], compile_s[f"{name} sweep"] = compile_fn(fn, *fn_args)
        print(f"compiled {name} sweep: {compile_s[f'{name} sweep']:.1f} s", flush=True)
    chapter_res = round_robin({n: (chapter_compiled[n], chapter_fns[n][1]) for n in chapter_fns},
                              max(3, repeats // 4), "plain")

    ch4_sweep = chapter4_sweep_as_run(3 if args.quick else 5)
    compile_s.update(ch4_sweep.pop("compile_s"))

    rows = [
        {"name": "per-example gradients + mean (generic loss: factors read from the traced vmap(grad)) / plain step",
         **results["per-example gradients + mean"], "target": ("≤", 1.3)},
        {"name": "per-example gradients + mean (vmap(grad) as it is, then jnp.mean) / plain step",
         **results["per-example gradients + mean, vmap(grad) materialised"]},
        {"name": "per-example gradients materialised (B×P output) / plain step",
         **results["per-example gradients materialised"]},
        *({"name": f"{n} / plain step", **results[n]} for n in (
            "winsorized c=4 (per-example grads + winsorized_mean)",
            "winsorized c=1 (per-example grads + winsorized_mean)")),
        *({"name": f"{n} / plain step", **results[n], "target": ("≤", t)} for n, t in (
            ("winsorized c=4 (generic loss)", 15.0),
            ("winsorized c=1 (generic loss)", 15.0),
            ("winsorized c=4 (generic loss, layers in nested jit calls)", 15.0),
            ("winsorized c=4 (MLP fast path)", 5.0), ("winsorized c=1 (MLP fast path)", 3.0),
            *((f"winsorized c={c} (MLP fast path, sorting network)", 15.0) for c in SORTING_LEVELS),
            (f"winsorized traced c=10 (c_max={SORTING_C_MAX}, MLP fast path, sorting network)", 15.0),
            )),
        *({"name": f"{n} / plain step", **results[n]} for n in (
            f"winsorized c=4 (MLP fast path, {DEFAULT_VECTORS})", "MLP path's tiles summed value by value",
            "winsorized traced c=4 (c_max=4, MLP fast path, sorting network)", "winsorized c=10 (MLP fast path, bisection forced)")),
        {"name": "winsorized c=4 (jnp.sort baseline) / plain step", **results["winsorized c=4 (jnp.sort baseline)"]},
        *({"name": f"chapter-5 sweep as the chapter runs it: {VARIANTS} variants at c = {c} (compiled in) vmapped "
                   f"in lax.scan, per variant-step / plain variant-step in the same program shape",
           **chapter_res[f"chapter 5 c={c}"], "target": ("≤", CH5_TARGETS[c])} for c in CH5_STATIC),
        {"name": f"chapter-5 sweep's floor: {VARIANTS} variants, the MLP path's tiles summed value by value (no "
                 f"comparisons) vmapped in lax.scan, per variant-step / plain variant-step",
         **chapter_res["chapter 5 floor"]},
        {"name": f"chapter-5 grid in one program: {VARIANTS} variants c = {CH5_LEVELS} (traced, c_max = "
                 f"{max(CH5_LEVELS)}) vmapped in lax.scan, per variant-step / plain variant-step",
         **chapter_res["chapter 5"]},
        {"name": f"chapter-4 sweep: {VARIANTS} variants vmapped in lax.scan, plain step + alpha_p/alpha_c "
                 f"every step, per variant-step / plain variant-step", **chapter_res["chapter 4"]},
        {"name": "chapter-4 sweep: what alpha_p/alpha_c add to a variant-step (the row above minus 1) / plain "
                 "variant-step", "ms": chapter_res["chapter 4"]["ms"] - chapter_res["plain"]["ms"],
         "ratio": chapter_res["chapter 4"]["ratio"] - 1.0, "target": ("≤", 2.0)},
        {"name": f"chapter-4 sweep as the chapter runs it (the engine's run_sweep: {ch4_sweep['setup']}), records with "
                 f"alpha_p/alpha_c, 3 null worlds and coherence / the same sweep recording accuracies only",
         "ms": ch4_sweep["ms"], "ratio": ch4_sweep["ratio"], "target": ("≤", 2.0)},
        {"name": "alpha_p / alpha_c statistics (generic vjp) / plain step",
         **results["alpha_p / alpha_c (group_alphas)"], "target": ("≤", 2.0)},
        {"name": "alpha_p / alpha_c statistics (MLP fast path) / plain step",
         **results["alpha_p / alpha_c (group_alphas, MLP fast path)"], "target": ("≤", 2.0)},
        {"name": "coherence, MLP fast path / plain step", **results["coherence (MLP fast path)"]},
        {"name": "coherence, vmap per-example grads / plain step", **results["coherence (vmap per-example grads)"]},
        *({"name": f"peer: {n} / plain JAX step", **peer_res[n]} for n in peer_res if n != "plain SGD step"),
        {"name": f"plain step GFLOP/s (6·B·P) / 2048² matmul GFLOP/s ({step_gflops:.1f} / {mm_gflops:.1f})",
         "ms": None, "ratio": 100 * efficiency, "unit": "%", "target": ("≥", 40.0)},
        {"name": f"lax.scan of {SCAN_STEPS} steps / Python loop of {SCAN_STEPS} jitted steps",
         "ms": loop_res["scan"]["ms"], "ratio": loop_res["scan"]["ratio"]},
        {"name": f"vmapped sweep of {VARIANTS} runs / {VARIANTS} sequential runs ({SCAN_STEPS} steps each)",
         "ms": sweep_res["vmap"]["ms"], "ratio": sweep_res["vmap"]["ratio"]},
    ]
    extra = {"params": n_params, "repeats": repeats, "plain_ms": plain_ms,
             "compile_s": {k: round(v, 2) for k, v in compile_s.items()},
             "step_gflops": step_gflops, "matmul_gflops": mm_gflops,
             "python_loop_ms": loop_res["loop"]["ms"], "sequential_ms": sweep_res["sequential"]["ms"],
             "torch": _torch_version(), "compiler_options": dict(xla.COMPILER_OPTIONS),
             "keeps_freed_memory": keeps_freed_memory}
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, info, extra)
    (args.out / "benchmark.md").write_text(table)
    payload = {"machine": info, "setup": {"sizes": SIZES, "batch": BATCH, "lr": LR, "quick": args.quick},
               "rows": [{**r, "target": list(r["target"]) if r.get("target") else None} for r in rows],
               **extra}
    (args.out / "benchmark.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(table)
    return payload


if __name__ == "__main__":
    main()
