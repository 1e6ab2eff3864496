"""Chapter 2's claims, after "Grokking gradients in deep neural networks" (article summary), as the chapter checks them."""
from __future__ import annotations

from ...engine.claims import Claim

CLAIMS = (
    Claim("C2.1", "For an MLP, jax.grad of each layer's weights equals the explicit product of the input "
                  "activations, the output error, the other layers' weights and the diagonal activation matrices."),
    Claim("C2.2", "With the error held fixed, a layer's weight gradient scales linearly with the input, with the "
                  "error and with each other layer's weights, and does not depend on its own weights."),
    Claim("C2.3", "An inactive unit zeroes the whole column of its layer's weight gradient, attenuating the gradient "
                  "of the width-3 toy to 2/3 and 4/9."),
    Claim("C2.4", "The first layer's gradient falls or grows geometrically with depth, at a rate set by the weights "
                  "and the activation rate."),
    Claim("C2.5", "Softmax with cross-entropy, sigmoid with binary cross-entropy and identity with squared error all "
                  "give dL/dz = Yhat - Y at the output."),
)
