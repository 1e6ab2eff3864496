"""Run profiles: ``quick`` (CPU, offline, minutes) or ``paper`` (the sources' scale, for a GPU).

The profile is read in exactly one place, :func:`profile`, from the environment
variable ``CGNB_PROFILE``. Notebooks choose their parameters with :func:`pick`::

    steps = cgnb.pick(quick=2_000, paper=100_000)
"""
from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

PROFILES = ("quick", "paper")
ENV_VAR = "CGNB_PROFILE"


class ProfileError(ValueError):
    """An unknown profile name was requested."""


def profile() -> str:
    """The active profile: ``$CGNB_PROFILE`` or ``"quick"`` when unset or empty.

    Raises:
      ProfileError: the variable names a profile that does not exist.
    """
    name = os.environ.get(ENV_VAR, "").strip() or "quick"
    if name not in PROFILES:
        raise ProfileError(
            f"{ENV_VAR}={name!r} is not a known profile. Use one of {', '.join(PROFILES)}: "
            f"'quick' runs on a laptop CPU in minutes, 'paper' runs the sources' full scale "
            f"(meant for a GPU), e.g. `{ENV_VAR}=paper bash scripts/build_book.sh` or "
            f"`{ENV_VAR}=paper papermill notebooks/04_coherent_gradients.ipynb out.ipynb`."
        )
    return name


def pick(*, quick: T, paper: T) -> T:
    """Return the value for the active profile."""
    return {"quick": quick, "paper": paper}[profile()]
