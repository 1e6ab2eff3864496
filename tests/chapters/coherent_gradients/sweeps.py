"""Small made-up sweeps and runs shared by the chapter-4 tests."""
import dataclasses
import types

import numpy as np

from cgnb.chapters.coherent_gradients import contributions as C
from cgnb.engine import sweep


def fake_sweep(seed=0, n_variants=4, n_records=6, m=12, d=5, k=3):
    """A SweepResult whose group statistics come from explicit random per-example gradients.

    Returns the result and, per variant, the per-example gradients (R, m, d) and the masks
    (1 + k, m) (real designation first, then the null worlds).
    """
    rng = np.random.default_rng(seed)
    noise = np.array([0.25, 0.25, 0.75, 0.75][:n_variants])
    grads = rng.normal(size=(n_variants, n_records, m, d))
    masks = np.zeros((n_variants, 1 + k, m), bool)
    pristine = np.zeros((n_variants, m), bool)
    for v in range(n_variants):
        pristine[v] = rng.random(m) < 1 - noise[v]
        pristine[v, :2] = [True, False]  # both groups non-empty
        masks[v, 0] = pristine[v]
        for j in range(k):
            masks[v, 1 + j] = rng.permutation(pristine[v])
    names = ("dot_p", "dot_c", "n_p", "n_c", "alpha_p", "alpha_c")
    records = {name: np.zeros((n_variants, n_records, 1 + k)) for name in names}
    for v in range(n_variants):
        for r in range(n_records):
            g = grads[v, r].sum(0)
            for j in range(1 + k):
                g_p = grads[v, r][masks[v, j]].sum(0)
                records["dot_p"][v, r, j] = g @ g_p
                records["dot_c"][v, r, j] = g @ (g - g_p)
                records["n_p"][v, r, j] = masks[v, j].sum()
                records["n_c"][v, r, j] = m - masks[v, j].sum()
                records["alpha_p"][v, r, j] = g @ g_p / (g @ g)
                records["alpha_c"][v, r, j] = g @ (g - g_p) / (g @ g)
    flat = {}
    for name, values in records.items():
        flat[name] = values[..., 0]
        flat["null_" + name] = values[..., 1:]
    flat["contribution"] = np.einsum("vrmd,vrd->vrm", grads, grads.sum(2))  # <g, g_i>
    config = sweep.SweepConfig(sizes=(d, 3, 2), steps=n_records - 1, record_every=1, stats=("alphas",),
                               n_null=k, stats_examples=m)
    result = sweep.SweepResult(config, np.arange(n_records), flat, np.zeros((n_variants, m), np.int32), pristine,
                               noise, np.array([0, 1, 0, 1][:n_variants]), np.zeros(n_variants, np.int32))
    return result, grads, masks


def shifted(result, steps, record_every, offset=0.0):
    """A copy of ``result`` recorded at ``steps`` with train_acc = step / 100 + offset."""
    config = dataclasses.replace(result.config, steps=int(steps[-1]), record_every=record_every, chunk_steps=None)
    records = {k: np.zeros((len(result.noise), len(steps))) for k in ("train_acc", "test_acc")}
    records["train_acc"] += steps / 100 + offset
    return dataclasses.replace(result, config=config, steps=np.asarray(steps), records=records,
                               first_learned=result.first_learned.copy())


def fake_run(short: str, seeds: int, records: int = 40, seed: int = 0):
    """A run with every record the figures read, over ``records`` records at steps 0, 10, 20, ... (then 50 apart)."""
    result, _, _ = fake_sweep(seed=seed, n_records=records)
    rng = np.random.default_rng(seed)
    keep = [0, 2] if seeds == 1 else [0, 1, 2, 3]
    for name, values in list(result.records.items()):
        result.records[name] = values[keep]
    result.noise, result.seed, result.pristine = result.noise[keep], result.seed[keep], result.pristine[keep]
    result.first_learned = rng.choice([-1, 0, 10, 20, 30], size=result.pristine.shape)
    result.c = result.c[keep]
    steps = np.concatenate([np.arange(0, 100, 10), 100 + 50 * np.arange(1, records - 9)])
    result.steps = steps
    v, r = len(keep), records
    rise = np.clip(np.linspace(0.1, 1.0, r), 0, 1)
    result.records.update(
        train_acc=np.tile(rise, (v, 1)), test_acc=np.tile(rise * 0.8, (v, 1)) + rng.normal(0, 0.01, (v, r)),
        train_loss=np.tile(np.linspace(2.3, 0.01, r), (v, 1)), pristine_acc=np.tile(rise, (v, 1)),
        corrupt_acc=np.tile(rise ** 2, (v, 1)), norm_p=rng.uniform(0.5, 2, (v, r)), norm_c=rng.uniform(0.5, 2, (v, r)),
        coherence=rng.uniform(0.003, 0.05, (v, r)))
    decrease = rng.normal(size=(v, 3, result.pristine.shape[1]))
    early = {"decrease": decrease, "pristine": result.pristine, "noise": result.noise, "seed": result.seed,
             "coherence": rng.uniform(0.005, 0.05, (v, 3))}
    condensed = C.condense(early, null_worlds=50, n_null=3)
    setting = types.SimpleNamespace(null_worlds=30, steps=int(steps[-1]), early_examples=None,
                                    n_train=result.pristine.shape[1])
    return types.SimpleNamespace(short=short, name=short.split("(")[-1].rstrip(")"), result=result, early=condensed,
                                 setting=setting, slope_steps=10, n_test=1000, ledger=None)
