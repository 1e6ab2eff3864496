"""scripts/paper_run.py and scripts/paper_on_gpu.sh, rehearsed on the CPU with a tiny notebook."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _notebook(folder: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import cgnb"),
                nbformat.v4.new_code_cell("steps = cgnb.pick(quick=10, paper=10_000)\nchunks = 10",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body)]
    path = folder / "03_tiny.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("0*.ipynb")), ids=lambda p: p.name[:2])
def test_step_overrides_are_multiples_of_the_record_interval(runner, notebook):
    from cgnb.engine import aot
    prefix = notebook.name[:2]
    params = aot.notebook_parameters(notebook, "paper")
    values = runner.overrides_for_steps(prefix, params, 7)
    for name, every in runner.STEP_PARAMS[prefix].items():
        k = params[every] if isinstance(every, str) else every
        assert values[name] % k == 0 and values[name] <= max(k, 7 + k), (name, values[name], k)
        assert values[name] < params[name] or params[name] <= k


def test_step_parameters_are_training_steps_and_cpu_sizes_are_not(runner):
    """--steps shortens only training-step parameters; the sizes --cpu shrinks are another table."""
    assert set(runner.STEP_PARAMS) == set(runner.CPU_SIZES)
    for prefix, names in runner.STEP_PARAMS.items():
        assert all("step" in name for name in names), (prefix, names)
        assert not set(names) & set(runner.CPU_SIZES[prefix]), prefix


def test_chapter_4s_opening_sweep_and_slope_window_stay_inside_a_shortened_run(runner):
    from cgnb.engine import aot
    params = aot.notebook_parameters(ROOT / "notebooks" / "04_coherent_gradients.ipynb", "paper")
    for steps in (7, 1000, 5000):
        values = runner.overrides_for_steps("04", params, steps)
        assert values["opening_steps"] < values["steps"], values
        assert values["slope_steps"] <= values["opening_steps"], values
        assert values["opening_steps"] % params["opening_every"] == 0, values


def test_rehearsal_runs_the_paper_profile_with_fewer_steps_and_resumes(runner, tmp_path, capsys):
    nb = _notebook(tmp_path, "assert cgnb.profile() == 'paper'\nassert steps == 20, steps\nprint('ran', steps)")
    out = tmp_path / "out"
    assert runner.main([str(nb), "--out-dir", str(out), "--steps", "15"]) == 0
    timing = json.loads((out / "03_tiny.done.json").read_text())
    assert timing["steps"] == 20 and timing["paper_steps"] == 10_000 and timing["steps_per_s"] > 0
    assert timing["paper_eta_s"] == pytest.approx(10_000 / timing["steps_per_s"])
    executed = nbformat.read(out / "03_tiny.ipynb", as_version=4)
    assert "ran 20" in executed.cells[-1].outputs[0]["text"]
    assert "steps/s" in capsys.readouterr().out
    assert runner.main([str(nb), "--out-dir", str(out), "--steps", "15"]) == 0  # finished: skipped
    assert "skipped" in capsys.readouterr().out
    assert "CGNB_PROFILE" not in os.environ  # the caller's environment is left as it was (nbval runs after this)


def test_a_failing_chapter_is_reported_and_not_marked_done(runner, tmp_path, capsys):
    nb = _notebook(tmp_path, "raise RuntimeError('claim failed')")
    out = tmp_path / "out"
    assert runner.main([str(nb), "--out-dir", str(out), "--set", "steps=10"]) == 1
    assert not (out / "03_tiny.done.json").exists() and (out / "03_tiny.ipynb").exists()
    assert "FAILED" in capsys.readouterr().out


def test_shell_script_runs_the_chapters_it_is_given(tmp_path):
    _notebook(tmp_path, "print('steps', steps)")
    env = {**os.environ, "PAPER_NOTEBOOKS": str(tmp_path), "PAPER_OUT": str(tmp_path / "out"),
           "PAPER_STEPS": "30", "PAPER_SKIP_MEMORY": "1", "PY": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "paper_on_gpu.sh"), "03"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "steps/s" in done.stdout and "ETA" in done.stdout
    assert json.loads((tmp_path / "out" / "03_tiny.done.json").read_text())["steps"] == 30
