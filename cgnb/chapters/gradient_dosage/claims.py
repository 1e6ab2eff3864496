"""Chapter 1's claims, after "Gradient Dosage" (blog post, 11 September 2022), as the chapter checks them."""
from __future__ import annotations

from ...engine.claims import Claim

CLAIMS = (
    Claim("C1.1", "A feature recognizer given a head start receives several times the gradient dose of equally "
                  "good features (the post argues about 9x)."),
    Claim("C1.2a", "A head start costs accuracy for a while: when a network without head start has reached the "
                   "majority vote of the features, the network with one is still below it."),
    Claim("C1.2", "The network with a head start stays below the majority-vote accuracy of the three features "
                  "(0.972 for independent 90% features) to the end of training: starvation costs accuracy."),
    Claim("C1.3", "A general recognizer's dose grows with the number of examples that share it, each memorizing "
                  "recognizer's dose stays small, and weight decay erodes the memorizers first."),
)
