"""Shared fixtures: every test writes its ledger and cache into its own temporary folders; ``runner`` is
``scripts/paper_run.py`` as a module."""
import pytest
from repo_files import load_module


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("CGNB_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setenv("CGNB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CGNB_PROFILE", raising=False)
    monkeypatch.delenv("CGNB_NO_CACHE", raising=False)


@pytest.fixture(scope="session")
def runner():
    """``scripts/paper_run.py``, imported as a module (the paper run and its rehearsal test it)."""
    return load_module("scripts/paper_run.py")
