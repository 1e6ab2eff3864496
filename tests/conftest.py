"""Shared fixtures: every test writes its ledger and cache into its own temporary folders."""
import pytest


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("CGNB_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setenv("CGNB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CGNB_PROFILE", raising=False)
    monkeypatch.delenv("CGNB_NO_CACHE", raising=False)
