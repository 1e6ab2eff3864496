"""The performance page's "what each statistic costs you" table, from the benchmark's results."""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import performance_page as perf  # noqa: E402  (the book's extension, imported as Sphinx imports it)

BENCHMARK = json.loads((ROOT / "book" / "_generated" / "benchmark.json").read_text())


def test_every_cost_row_names_a_benchmark_row_or_says_it_was_not_timed():
    html = perf.costs_html(BENCHMARK)
    rows = re.findall(r"<tr><td.*?</tr>", html)
    assert len(rows) == len(perf.COSTS)
    for (label, prefix), row in zip(perf.COSTS, rows):
        found = perf.find_row(BENCHMARK["rows"], prefix)
        assert ("not timed" in row) == (found is None), label
        if found:
            assert f"{found['ratio']:.3g}×" in row


def test_met_follows_the_target_and_bars_grow_with_the_cost():
    assert perf.met({"ratio": 4.0, "target": ["≤", 5.0]}) == "yes"
    assert perf.met({"ratio": 6.4, "target": ["≤", 5.0]}) == "no"
    assert perf.met({"ratio": 0.5, "target": ["≥", 0.4]}) == "yes"
    assert perf.met({"ratio": 3.0, "target": None}) == ""
    widths = [perf.bar_width(r, 700.0) for r in (0.0, 1.0, 4.0, 700.0)]
    assert widths == sorted(widths) and widths[0] == 1.0 and widths[-1] == 100.0


def test_a_missing_row_is_reported_not_invented():
    html = perf.costs_html({"rows": [{"name": "coherence, MLP fast path / plain step", "ratio": 0.99, "target": None}],
                            "plain_ms": 0.8, "machine": {}})
    assert html.count("not timed by this benchmark run") == len(perf.COSTS) - 1
