"""Every chapter notebook under the paper profile, shrunk to a few steps on the CPU, finishes with every claim decided.

This is the run a Colab reader starts with `CGNB_PROFILE=paper`: the paper profile's parameters (its seeds,
grids and analyses, its data source) with `scripts/paper_run.py --cpu --steps 40`, which shortens the training
and shrinks the sizes a CPU cannot afford (`CPU_SIZES`). Chapters 4 and 5 read full MNIST through
tensorflow-datasets under the paper profile; here `tests/fakes/tensorflow_datasets` serves its prepared path
offline (Fashion-MNIST's 60,000/10,000 real images in MNIST's format), so `cgnb.engine.data.load_tfds`'s
success path runs in the notebook's kernel. A short run learns little, so its verdicts are whatever they are;
what is checked is that nothing raises and that the ledger holds every claim of the chapter.
"""
import json
import os
from pathlib import Path

import pytest

from cgnb.chapters import all_chapters

ROOT = Path(__file__).resolve().parents[1]
FAKES = ROOT / "tests" / "fakes"
STEPS = 40


@pytest.fixture()
def paper_env(tmp_path, monkeypatch):
    """The notebook kernel's environment: the fake tfds first on the path, its own ledger and cache folders."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(FAKES), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("CGNB_FAKE_TFDS_DIR", str(tmp_path / "tensorflow_datasets"))
    monkeypatch.setenv("CGNB_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setenv("CGNB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_the_cpu_sizes_shrink_only_parameters_the_paper_profile_has(runner):
    from cgnb.engine import aot
    for chapter in all_chapters():
        prefix = Path(chapter.notebook).name[:2]
        paper = aot.notebook_parameters(ROOT / chapter.notebook, "paper")
        assert set(runner.CPU_SIZES[prefix]) <= set(paper), (chapter.name, set(runner.CPU_SIZES[prefix]) - set(paper))


@pytest.mark.parametrize("chapter", all_chapters(), ids=lambda c: c.name)
def test_the_paper_profile_shrunk_to_a_few_steps_runs_every_claim(chapter, runner, paper_env, capsys):
    notebook = ROOT / chapter.notebook
    out = paper_env / "out"
    status = runner.main([str(notebook), "--cpu", "--steps", str(STEPS), "--out-dir", str(out), "--timeout", "900"])
    printed = capsys.readouterr().out
    timing = json.loads((out / f"{notebook.stem}.timing.json").read_text())
    assert status == 0, f"{chapter.name} under the paper profile failed: {timing['error']}\n{printed}"
    ledger = paper_env / "claims" / f"{chapter.name}.jsonl"
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert {r["profile"] for r in records} == {"paper"}
    assert {c.id for c in chapter.claims} <= {r["claim"] for r in records}, "a claim was not decided"
    parameters = records[0]["parameters"]
    if "source" in parameters:  # chapters 4 and 5 read MNIST through tensorflow-datasets
        assert parameters["source"] == "tfds"
        assert (paper_env / "tensorflow_datasets" / "mnist" / "3.0.1").is_dir(), "load_tfds did not run"
