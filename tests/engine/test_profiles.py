import subprocess
import sys

import pytest

import cgnb
from cgnb.engine import profiles


def test_profile_default_and_paper(monkeypatch):
    assert cgnb.profile() == "quick"
    assert cgnb.pick(quick=1, paper=2) == 1
    monkeypatch.setenv("CGNB_PROFILE", "paper")
    assert cgnb.profile() == "paper"
    assert cgnb.pick(quick=1, paper=2) == 2


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CGNB_PROFILE", "nonsense")
    with pytest.raises(profiles.ProfileError, match=r"CGNB_PROFILE='nonsense' is not a known profile.*quick, paper"):
        cgnb.profile()


def test_unknown_profile_fails_a_fresh_interpreter():
    env = {"CGNB_PROFILE": "nonsense", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", "import cgnb; cgnb.pick(quick=1, paper=2)"],
                          capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "not a known profile" in done.stderr
