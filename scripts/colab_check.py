"""Do what a fresh Colab runtime does with one chapter, so a packaging mistake fails CI, not a reader.

    python scripts/colab_check.py [--notebook notebooks/02_what_scales_a_gradient.ipynb] [--keep]

1. a clean virtual environment (no requirements.txt, no editable install);
2. cgnb installed the way the notebook's install cell installs it: a non-editable ``pip install``
   of the package, here from this checkout instead of from GitHub, so only ``pyproject.toml``'s
   dependencies come with it; plus the kernel packages a Colab runtime already has;
3. the chapter executed top to bottom in that environment, from a folder outside the checkout
   with its own HOME (so cgnb's files go to ``~/.cgnb`` as on Colab, and nothing is imported from
   the checkout).

A dependency missing from ``pyproject.toml`` or a file left out of the package fails step 3.
The default chapter is the quickest one to execute (about 20 s on a CPU). Exits 1 on failure.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What a Colab runtime provides besides cgnb's own dependencies: a Jupyter kernel.
RUNTIME = ("ipykernel", "nbclient", "nbformat")

EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
sys.exit(1 if errors else 0)
"""


def run(cmd: list[str], **kwargs) -> None:
    print("[colab-check] $", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=ROOT / "notebooks" / "02_what_scales_a_gradient.ipynb")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = parser.parse_args()
    notebook = args.notebook.resolve()
    if not notebook.is_file():
        raise SystemExit(f"no notebook {notebook}")
    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="cgnb-colab-"))
    try:
        venv, home, run_dir = work / "venv", work / "home", work / "run"
        home.mkdir()
        run_dir.mkdir()
        run([sys.executable, "-m", "venv", str(venv)])
        python = venv / "bin" / "python"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CGNB_", "PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
        env.update(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", MPLBACKEND="agg")
        # non-editable, from a copy of the checkout (as pip would from GitHub); only pyproject's dependencies
        source = work / "source"
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
            ".venv", "_build", ".cache", ".git", "*.egg-info", "__pycache__", ".pytest_cache", "notebooks", "book"))
        run([str(python), "-m", "pip", "install", "-q", str(source), *RUNTIME], env=env, cwd=run_dir)
        shutil.rmtree(source)
        copy = run_dir / notebook.name
        shutil.copyfile(notebook, copy)
        run([str(python), "-c", EXECUTE, str(copy), str(run_dir)], env=env, cwd=run_dir)
        print(f"[colab-check] {notebook.name} ran top to bottom in a clean environment "
              f"({time.time() - t0:.0f} s in all)")
        return 0
    except subprocess.CalledProcessError as error:
        print(f"[colab-check] FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"[colab-check] kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
