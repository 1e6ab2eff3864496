"""Chapter 5, winsorized SGD: per-example gradients clipped to the minibatch's (c+1)-th extremes, and RM3.

Modules: :mod:`.setting` (a setting's sweeps, computed or read back from a stored run; the stored
runs), :mod:`.measures` (overfit, memorization, per-variant curves), :mod:`.updates` (one update of
each method, its cost), :mod:`.figures`, :mod:`.claims`.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from ...engine.book import Chapter
from . import claims, setting

CHAPTER = Chapter(name="winsorized_sgd", number=5, title="Winsorized SGD", claims=claims.CLAIMS,
                  catalog=setting.CATALOG)
