"""Chapter 6's claims, after "Gradients are sensitive to minibatch composition" (blog post), as the chapter checks them."""
from __future__ import annotations

from ...engine.claims import Claim

CLAIMS = (
    Claim("C6.1", "Mid-training, minibatch gradients at fixed parameters disagree more than at the start: the mean "
                  "pairwise cosine of 50 minibatch gradients is lower mid-training."),
    Claim("C6.2", "Dropout makes the field of nearby minibatch gradients rough, and batch normalisation likewise "
                  "but milder."),
    Claim("C6.3", "The parameters are identical across the 50 minibatch gradients, so their spread is due to the "
                  "minibatch composition alone."),
)
