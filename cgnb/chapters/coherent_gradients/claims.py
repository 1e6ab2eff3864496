"""Chapter 4's claims, after Chatterjee, "Coherent Gradients", ICLR 2020, section 2, as the chapter checks them."""
from __future__ import annotations

from ...engine.claims import Claim

CLAIMS = (
    Claim("C4.1", "Every noise level fits its training set: near 100% training accuracy at the end."),
    Claim("C4.2", "Test accuracy falls as label noise rises, and at 100% noise it is at chance."),
    Claim("C4.3", "The steps needed to reach a given training accuracy grow with noise, and the early training "
                  "loss falls less steeply."),
    Claim("C4.4", "Pristine examples are learned sooner than corrupt ones."),
    Claim("C4.5", "alpha_p starts above its share and crosses below alpha_c later (25% and 50% noise), while in null "
                  "worlds, where the pristine/corrupt designation is permuted, no such crossover appears."),
    Claim("C4.6", "Over the first steps an average pristine example contributes more to the loss decrease than an "
                  "average corrupt one, beyond the spread of the null worlds (75% noise)."),
)
