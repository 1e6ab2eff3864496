"""Keep the chapter notebooks uniform: install cell from _config.yml, stripped outputs.

    python scripts/notebooks.py sync    # rewrite install cells, strip outputs
    python scripts/notebooks.py check   # exit 1 and say what is wrong

Every chapter notebook starts with a code cell that installs cgnb from the repository
named in ``_config.yml`` when cgnb cannot be imported (a fresh Colab runtime), and does
nothing when it can (a local checkout with ``pip install -e .``).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
INSTALL_TAG = "cgnb-install"


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


def problems(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    found = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source != install_cell_source():
        found.append("first code cell is not the install cell (run `python scripts/notebooks.py sync`)")
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1:
        found.append(f"needs exactly one code cell tagged 'parameters', has {len(params)}")
    if any(c.get("outputs") or c.get("execution_count") for c in code):
        found.append("has stored outputs (run `python scripts/notebooks.py sync` to strip them)")
    return found


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
