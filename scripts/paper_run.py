"""Run one chapter notebook under the paper profile, timed, and write the executed notebook.

    python scripts/paper_run.py notebooks/04_coherent_gradients.ipynb [--out-dir _build/paper]
        [--steps N] [--cpu] [--set name=value ...] [--force]

Parameters are overridden the way papermill does it: a cell assigning them is inserted right
after the notebook's ``parameters`` cell. ``--steps N`` shortens every training-step parameter
of the chapter to N (rounded up to a multiple of its record interval), for a rehearsal of the
run; ``--cpu`` also shrinks the sizes a CPU cannot afford (:data:`CPU_SIZES`: data, widths, record
intervals) while keeping the paper profile's structure (its data source, seeds, grids and analyses),
which is how the test suite runs every chapter's paper configuration; ``--set`` takes a Python
literal. The notebook runs with ``CGNB_PROFILE=paper``; the result cache (``$CGNB_CACHE_DIR``)
keeps finished sweep chunks, so an interrupted chapter resumes where it stopped when run again. A
finished chapter leaves ``<name>.done.json`` (wall time, steps/s, ETA of the full paper run) and is
skipped unless ``--force`` is given.

Prints the chapter's training steps per second (steps of its ``steps`` parameter, all its
variants advancing together, compilation included) and the ETA of the paper run at that rate.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellExecutionError  # noqa: E402

from cgnb.engine import aot  # noqa: E402

#: per notebook prefix: training-step parameters -> the parameter their value must be a multiple of
#: (or a number); the first one is the chapter's ``steps`` for steps/s and the ETA.
STEP_PARAMS = {
    "01": {"steps": "record_every", "steps_b": "record_every_b"},
    "02": {},
    "03": {"steps": "chunks"},
    "04": {"steps": "record_every", "opening_steps": "opening_every"},
    "05": {"steps": "record_every"},
    "06": {"steps": 1, "mid_step": 1},
}


#: per notebook prefix: what ``--cpu`` shrinks besides the steps, because the paper's sizes cost minutes per step
#: on a CPU (measured on 2 cores: chapter 6 at 1125 units 23 min for 40 steps; chapter 4 at 2048 units on 60,000
#: images 12 min for 1,000 steps; chapter 2 at width 512 and batch 1000 7 min and 12 GB with no training). The
#: values are the quick profile's sizes; seeds, grids, data source and the analyses stay the paper's.
CPU_SIZES = {
    "01": {},
    "02": {"batch": 256, "width": 128, "per_example_batch": 64, "toys": 200},
    "03": {},
    "04": {"n_train": 4000, "width": 136, "early_examples": 1000, "record_every": 20, "opening_every": 10,
           "slope_steps": 20},
    "05": {"n_train": 4000, "n_test": 1000, "hidden": (28, 28, 28), "record_every": 20, "timing_repeats": 2},
    "06": {"n_train": 16384, "hidden": (128, 128, 128), "field_batches": 1, "num_pairs": 1, "per_example_n": 256},
}


def overrides_for_steps(prefix: str, params: dict, steps: int) -> dict:
    """The step parameters of chapter ``prefix`` shortened to ``steps`` (multiples of their intervals)."""
    out = {}
    for name, every in STEP_PARAMS[prefix].items():
        k = params[every] if isinstance(every, str) else every
        out[name] = max(k, math.ceil(steps / k) * k)
    if prefix == "04":  # the opening sweep must end before the run, and the slope window within it
        every = params["opening_every"]
        out["opening_steps"] = max(every, min(out["opening_steps"], (out["steps"] // 2) // every * every))
        out["slope_steps"] = min(params["slope_steps"], out["opening_steps"])
    if prefix == "06":  # steps = mid_step + after in the notebook
        out["mid_step"] = max(1, steps // 2)
        out["after"] = steps - out["mid_step"]
        out["steps"] = steps
    return out


def inject(nb, values: dict) -> None:
    """Insert a cell assigning ``values`` after the ``parameters`` cell (papermill's convention)."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "# Parameters injected by scripts/paper_run.py\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(index + 1, cell)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--out-dir", default=str(ROOT / "_build" / "paper"))
    parser.add_argument("--steps", type=int, default=None, help="shorten the training to this many steps")
    parser.add_argument("--cpu", action="store_true", help="also shrink the sizes a CPU cannot afford (CPU_SIZES)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--force", action="store_true", help="rerun a chapter that already finished")
    parser.add_argument("--timeout", type=int, default=-1, help="seconds per cell (-1: none)")
    args = parser.parse_args(argv)

    path = Path(args.notebook)
    prefix = path.name[:2]
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = out_dir / f"{path.stem}.done.json"
    if done.is_file() and not args.force:
        print(f"{path.stem}: finished earlier ({done}); skipped (--force reruns it)")
        return 0
    paper = aot.notebook_parameters(path, "paper")
    values = dict(CPU_SIZES[prefix]) if args.cpu else {}
    if args.steps:
        values.update(overrides_for_steps(prefix, {**paper, **values}, args.steps))
    for item in args.set:
        name, _, text = item.partition("=")
        values[name] = ast.literal_eval(text)
    step_names = list(STEP_PARAMS[prefix])
    run_steps = values.get(step_names[0], paper.get(step_names[0])) if step_names else None
    paper_steps = paper.get(step_names[0]) if step_names else None

    nb = nbformat.read(path, as_version=4)
    if values:
        inject(nb, values)
    print(f"{path.stem}: paper profile{f', overrides {values}' if values else ''}", flush=True)
    start = time.perf_counter()
    error = None
    before = os.environ.get("CGNB_PROFILE")
    os.environ["CGNB_PROFILE"] = "paper"  # the kernel inherits it; restored below for the caller
    try:
        NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
    finally:
        if before is None:
            os.environ.pop("CGNB_PROFILE", None)
        else:
            os.environ["CGNB_PROFILE"] = before
    wall = time.perf_counter() - start
    nbformat.write(nb, out_dir / path.name)
    summary = {"notebook": path.name, "wall_s": wall, "overrides": values, "error": error,
               "steps": run_steps, "paper_steps": paper_steps}
    if run_steps:
        rate = run_steps / wall
        summary.update(steps_per_s=rate, paper_eta_s=paper_steps / rate)
        print(f"{path.stem}: {run_steps} steps in {wall:.0f} s = {rate:.2f} steps/s; ETA of the paper run "
              f"({paper_steps} steps) at this rate: {paper_steps / rate / 3600:.2f} h", flush=True)
    else:
        print(f"{path.stem}: no training steps; ran in {wall:.0f} s", flush=True)
    (out_dir / f"{path.stem}.timing.json").write_text(json.dumps(summary, indent=1) + "\n")
    if error:
        print(f"{path.stem}: FAILED: {error}", flush=True)
        return 1
    done.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
