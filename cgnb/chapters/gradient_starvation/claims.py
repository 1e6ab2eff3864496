"""Chapter 3's claims, after Pezeshki et al., "Gradient Starvation", NeurIPS 2021, as the chapter checks them."""
from __future__ import annotations

from ...engine.claims import Claim

CLAIMS = (
    Claim("C3.1", "Trained with plain cross-entropy, the network's decision boundary relies on the linear feature "
                  "alone: on a test set where that feature is made uninformative its accuracy is near chance."),
    Claim("C3.2", "Spectral Decoupling recovers the starved moon feature: on that test set it is far above plain "
                  "training, and weight decay, longer training and dropout are not."),
    Claim("C3.3", "The reliance on the linear feature and its recovery by Spectral Decoupling hold across seeds."),
)
