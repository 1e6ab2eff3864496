"""Chapter 1, gradient dosage: which feature recognizer receives the gradient, and what that costs.

Modules: :mod:`.tasks` (agreeing features, shared and identity features), :mod:`.models` (logistic
regression, recognizer networks), :mod:`.setting` (the runs, on :mod:`cgnb.engine.fullbatch`),
:mod:`.measures` (dose, dose ratio, reliance), :mod:`.figures`, :mod:`.claims`.

Reference: "Gradient Dosage" (blog post, 11 September 2022).
"""
from ...engine.book import Chapter
from . import claims

CHAPTER = Chapter(name="gradient_dosage", number=1, title="Gradient dosage", claims=claims.CLAIMS)
