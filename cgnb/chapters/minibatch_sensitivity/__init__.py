"""Chapter 6, gradients are sensitive to minibatch composition: minibatch gradients at fixed parameters.

Modules: :mod:`.tasks` (numbers written as text, one-hot), :mod:`.models` (the regressor's loss, its
biases by coordinate), :mod:`.setting` (the variants trained per seed), :mod:`.measures` (minibatch
gradients, their agreement, the gradient noise scale), :mod:`.field` (the nearby gradient field and
its roughness), :mod:`.figures`, :mod:`.claims`.

Reference: "Gradients are sensitive to minibatch composition" (blog post).
"""
from ...engine.book import Chapter
from . import claims

CHAPTER = Chapter(name="minibatch_sensitivity", number=6, title="Gradients are sensitive to minibatch composition",
                  claims=claims.CLAIMS)
