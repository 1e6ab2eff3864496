"""Chapter 5's claims, after Chatterjee, "Coherent Gradients", ICLR 2020, section 3, as the chapter checks them."""
from __future__ import annotations

from ...engine.claims import Claim

CLAIMS = (
    Claim("C5.1", "Winsorized SGD with c = 0 makes exactly the plain SGD update."),
    Claim("C5.2", "For c > 0 the training accuracy on noisy data does not exceed the proper accuracy by more than a "
                  "small tolerance: the corrupt labels are not memorized while the pristine examples are learned."),
    Claim("C5.3", "At each noise level, overfit falls as c grows."),
    Claim("C5.4", "Strong winsorization makes training and test accuracy peak and then decline."),
)
