"""Chapter 2, what scales a layer's gradient: backpropagation through an MLP written out by hand.

Modules: :mod:`.backprop` (forward and backward pass, output errors, the product formula),
:mod:`.measures` (the formula against ``jax.grad``, scaling responses, depth), :mod:`.units`
(inactive units, width-3 toys), :mod:`.setting` (the paper-scale program), :mod:`.figures`,
:mod:`.claims`.

Reference: "Grokking gradients in deep neural networks" (article summary).
"""
from ...engine.book import Chapter
from . import claims

CHAPTER = Chapter(name="what_scales_a_gradient", number=2, title="What scales a layer's gradient",
                  claims=claims.CLAIMS)
