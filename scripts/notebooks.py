"""Keep the chapter notebooks uniform: install cell from _config.yml, folded code, stripped outputs.

    python scripts/notebooks.py sync    # rewrite install cells, fold code cells, strip outputs
    python scripts/notebooks.py check   # exit 1 and say what is wrong

Every chapter notebook starts with a code cell that installs cgnb from the repository
named in ``_config.yml`` when cgnb cannot be imported (a fresh Colab runtime), and does
nothing when it can (a local checkout with ``pip install -e .``).

Folding (the site shows the narrative first): ``sync`` tags ``hide-input`` every code cell that
:func:`folds` picks (install, imports, the ``parameters`` cell, plotting, training runners), so chapter
authors do not tag by hand. The cells a reader should see stay open: the per-example gradient line
and the claim decisions (``check`` reports them if folded). A cell tagged ``show-input`` is never folded.

What a reader reads (:func:`reader_problems`, part of ``check``): a visible code cell has at most
:data:`MAX_VISIBLE_LINES` lines of at most :data:`MAX_COLUMNS` characters; the Markdown never types a
measured number or a verdict (numbers and verdicts come from the run through myst-nb's ``glue``). A
number the source itself states (``0.972``, ``4/9``) is listed in the cell as
``<!-- source numbers: 0.972 -->``.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
INSTALL_TAG = "cgnb-install"
FOLD_TAG, OPEN_TAG = "hide-input", "show-input"
#: A cell holding one of these stays open: the reader should see it.
KEEP_OPEN = ("per_example_grads", ".decide(", "decide_", ".finish(")
#: A cell holding one of these draws a figure; its code is folded (the figure stays).
PLOTTING = ("plt.", "fig,", "fig =", "plots.", "figures.", ".plot(", ".imshow(")
#: A cell holding one of these runs an experiment; its code is folded (its printed result stays).
RUNNING = ("run_sweep(", "_sweep(", "loop.train(", "runs.", "setting.")
IMPORT_LINE = re.compile(r"^(import \S|from \S+ import |plots\.use_style\(\)|%)")
MAX_VISIBLE_LINES, MAX_COLUMNS = 12, 88
HIDDEN_TAGS = {FOLD_TAG, "remove-input", "remove-cell"}
#: Markdown that is not prose: code, glue and other roles, math, links, HTML comments and tags.
NOT_PROSE = re.compile(r"```.*?```|`[^`]*`|\{[a-z:-]+\}`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\]\([^)]*\)|<!--.*?-->|<[^>]+>",
                       re.S)
#: A measured-looking number: a decimal with two or more digits after the point, or a factor like 12.1x.
TYPED_NUMBER = re.compile(r"(?<![\w.])\d*\.\d{2,}(?![\w.])|(?<![\w.])\d+(?:\.\d+)?\s?[x×](?!\w)")
#: A verdict typed for a claim: "C4.1 holds", "C5.2 is not reproduced", "**refuted**".
TYPED_VERDICT = re.compile(r"(?:\bthe claim|\bit|C\d+\.\d+[a-z]?)\W{0,3}(?:is |was |are )?"
                           r"(?:holds|held|refuted|not reproduced|inconclusive)\b(?!\s+(?:if|when|only|unless)\b)"
                           r"|\*\*(?:holds|refuted|not reproduced|inconclusive|not testable)\*\*", re.I)
SOURCE_NUMBERS = re.compile(r"<!--\s*source numbers:(.*?)-->", re.S)


def repository_url() -> str:
    text = (ROOT / "_config.yml").read_text()
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, flags=re.M)
    if not match:
        raise SystemExit("_config.yml has no repository.url")
    return match.group(1)


def install_cell_source(url: str | None = None) -> str:
    url = url or repository_url()
    return (
        "# Installs cgnb when it cannot be imported (a fresh Colab runtime); does nothing locally.\n"
        "try:\n"
        "    import cgnb\n"
        "except ImportError:\n"
        "    import subprocess, sys\n"
        f"    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', 'cgnb @ git+{url}'], check=True)\n"
        "    import cgnb"
    )


def _code_lines(source: str) -> list[str]:
    return [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def must_stay_open(cell) -> bool:
    """The per-example gradient line and the claim decisions."""
    return "parameters" not in cell.metadata.get("tags", []) and any(k in cell.source for k in KEEP_OPEN)


def folds(cell) -> bool:
    """Whether the site shows this code cell's source folded: install, import, plotting or runner cells."""
    tags = cell.metadata.get("tags", [])
    if cell.cell_type != "code" or OPEN_TAG in tags or must_stay_open(cell):
        return False
    lines = _code_lines(cell.source)
    if INSTALL_TAG in tags or "parameters" in tags or (lines and all(IMPORT_LINE.match(line) for line in lines)):
        return True
    return any(k in cell.source for k in PLOTTING + RUNNING)


def typed_in_markdown(source: str) -> list[str]:
    """Measured-looking numbers and verdicts typed in one Markdown cell (outside code, math, glue, links),
    except the numbers its ``<!-- source numbers: ... -->`` comment lists."""
    allowed = {n.strip() for group in SOURCE_NUMBERS.findall(source) for n in group.split(",")}
    prose = NOT_PROSE.sub(" ", source)
    numbers = [m.group(0).strip() for m in TYPED_NUMBER.finditer(prose) if m.group(0).strip() not in allowed]
    return numbers + [m.group(0) for m in TYPED_VERDICT.finditer(prose)]


def reader_problems(nb) -> list[str]:
    """What a reader should not meet: long or wide visible code cells, numbers or verdicts typed in prose."""
    found = []
    for i, cell in enumerate(nb.cells, 1):
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "code" and not tags & HIDDEN_TAGS:
            lines = cell.source.splitlines()
            if len(lines) > MAX_VISIBLE_LINES:
                found.append(f"cell {i}: a visible code cell of {len(lines)} lines (at most {MAX_VISIBLE_LINES}; "
                             f"move bookkeeping into the chapter package)")
            wide = [n for n, line in enumerate(lines, 1) if len(line) > MAX_COLUMNS]
            if wide:
                found.append(f"cell {i}: lines {wide} are wider than {MAX_COLUMNS} columns")
        elif cell.cell_type == "markdown":
            typed = typed_in_markdown(cell.source)
            if typed:
                found.append(f"cell {i}: Markdown types {typed} (glue measured numbers and verdicts from the run; "
                             f"list a number the source states in <!-- source numbers: ... -->)")
    return found


def problems(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    found = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source != install_cell_source():
        found.append("first code cell is not the install cell (run `python scripts/notebooks.py sync`)")
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1:
        found.append(f"needs exactly one code cell tagged 'parameters', has {len(params)}")
    for i, cell in enumerate(code, 1):
        tags = cell.metadata.get("tags", [])
        if folds(cell) and FOLD_TAG not in tags:
            found.append(f"code cell {i} should be folded (tag {FOLD_TAG!r}; run `python scripts/notebooks.py sync`)")
        if must_stay_open(cell) and ({FOLD_TAG, "remove-input", "remove-cell"} & set(tags)):
            found.append(f"code cell {i} must stay open (per-example gradients or claim decisions)")
    if any(c.get("outputs") or c.get("execution_count") for c in code):
        found.append("has stored outputs (run `python scripts/notebooks.py sync` to strip them)")
    return found + reader_problems(nb)


def sync(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    source = install_cell_source()
    code = [c for c in nb.cells if c.cell_type == "code"]
    if code and INSTALL_TAG in code[0].metadata.get("tags", []):
        code[0].source = source
    else:
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": [INSTALL_TAG]})
        index = nb.cells.index(code[0]) if code else len(nb.cells)
        nb.cells.insert(index, cell)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            tags = cell.metadata.setdefault("tags", [])
            if folds(cell) and FOLD_TAG not in tags:
                tags.append(FOLD_TAG)
            if not tags:
                del cell.metadata["tags"]
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    nbformat.write(nb, path)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    paths = [Path(p) for p in argv[2:]] or NOTEBOOKS
    if command == "sync":
        for path in paths:
            sync(path)
        return 0
    if command == "check":
        bad = {p: problems(p) for p in paths}
        for p, found in bad.items():
            for problem in found:
                print(f"{p.relative_to(ROOT)}: {problem}")
        return 1 if any(bad.values()) else 0
    raise SystemExit(f"unknown command {command!r}; use sync or check")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
