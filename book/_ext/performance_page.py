"""``{cgnb-costs}``: the performance page's "what each statistic costs you" table, with its bars.

Read from ``book/_generated/benchmark.json`` (written by ``benchmarks/bench_engine.py``): one row per
thing a reader computes, its cost in plain SGD steps (the benchmark's ratio, measured in the same
run as the plain step) drawn as a bar on a logarithmic scale, and the benchmark's target and
whether it was met. A statistic the benchmark did not time says so.
"""
from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Mapping, Sequence

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

BENCHMARK = Path(__file__).resolve().parents[1] / "_generated" / "benchmark.json"

#: (what a reader computes, in plain words; the start of the benchmark row's name that times it).
COSTS = (
    ("per-example gradients, averaged into one step", "per-example gradients + mean (generic loss"),
    ("per-example gradients kept, one per example (B × P numbers)", "per-example gradients materialised"),
    ("coherence α of the per-example gradients", "coherence, MLP fast path"),
    ("α_p / α_c, the pristine and corrupt shares of a step", "alpha_p / alpha_c statistics (MLP fast path)"),
    ("winsorized SGD, c = 1", "winsorized c=1 (MLP fast path)"),
    ("winsorized SGD, c = 4", "winsorized c=4 (MLP fast path)"),
    ("winsorized SGD, a large c = 10", "winsorized c=10 (MLP fast path"),
    ("RM3, the median of the last three minibatch gradients", "rm3"),
    ("peer: PyTorch's per-example gradients (torch.func.vmap(grad))", "peer: torch func.vmap(grad)"),
    ("peer: the paper's winsorization in numpy (np.percentile)", "peer: official winsorization"),
)


def find_row(rows: Sequence[Mapping], prefix: str) -> Mapping | None:
    """The benchmark row whose name starts with ``prefix`` (case-insensitive), or None."""
    for row in rows:
        if row["name"].lower().startswith(prefix.lower()):
            return row
    return None


def bar_width(ratio: float, largest: float) -> float:
    """Width of a bar in % of its cell: log(1 + ratio) against log(1 + largest), at least 1 %."""
    return max(1.0, 100.0 * math.log1p(ratio) / math.log1p(largest)) if largest > 0 else 1.0


def met(row: Mapping) -> str:
    """``"yes"``/``"no"`` against the row's target (``["≤", 5.0]``), or ``""`` without a target."""
    if not row.get("target"):
        return ""
    op, bound = row["target"]
    return "yes" if (row["ratio"] <= bound if op == "≤" else row["ratio"] >= bound) else "no"


def costs_html(benchmark: Mapping) -> str:
    """The table (HTML): per row the statistic, its cost in plain steps with a bar, target and met."""
    rows = benchmark.get("rows", [])
    found = [(label, find_row(rows, prefix)) for label, prefix in COSTS]
    largest = max((r["ratio"] for _, r in found if r and r.get("ratio")), default=1.0)
    body = []
    for label, row in found:
        if row is None or not row.get("ratio"):
            cells = [("what you compute", html.escape(label)),
                      ("cost in plain steps", "not timed by this benchmark run"), ("target", ""), ("met", "")]
        else:
            ratio = row["ratio"]
            bar = (f'<span class="cgnb-bar" style="width:{bar_width(ratio, largest):.1f}%"></span>'
                   f'<span class="cgnb-bar-value">{ratio:.3g}×</span>')
            target = f"{row['target'][0]}\u00a0{row['target'][1]:g}×" if row.get("target") else ""
            cells = [("what you compute", html.escape(label)), ("cost in plain steps", bar),
                     ("target", html.escape(target)), ("met", met(row))]
        body.append("<tr>" + "".join(f'<td data-label="{n}">{c}</td>' for n, c in cells) + "</tr>")
    head = "".join(f"<th>{n}</th>" for n in ("what you compute", "cost in plain steps", "target", "met"))
    machine = benchmark.get("machine", {})
    caption = (f"Measured {str(machine.get('date', '?'))[:10]} on {machine.get('cpu_count', '?')} CPU cores "
               f"({html.escape(str(machine.get('cpu', '?')))}), JAX {html.escape(str(machine.get('jax', '?')))}; "
               f"a plain step took {benchmark.get('plain_ms', float('nan')):.2f} ms. Bars on a logarithmic scale.")
    return (f'<table class="cgnb-claims cgnb-costs"><caption>{caption}</caption><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


class CostsDirective(SphinxDirective):
    """``{cgnb-costs}``: :func:`costs_html` of ``book/_generated/benchmark.json``."""

    def run(self):
        if not BENCHMARK.is_file():
            return [nodes.paragraph(text=f"No benchmark results ({BENCHMARK.name} missing): run "
                                         f"python benchmarks/bench_engine.py")]
        self.env.note_dependency(str(BENCHMARK))
        benchmark = json.loads(BENCHMARK.read_text(encoding="utf-8"))
        return [nodes.raw("", costs_html(benchmark), format="html")]


def setup(app):
    app.add_directive("cgnb-costs", CostsDirective)
