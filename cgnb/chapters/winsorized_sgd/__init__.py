"""Chapter 5, winsorized SGD: per-example gradients clipped to the minibatch's (c+1)-th extremes, and RM3.

Modules: :mod:`.setting` (a setting's sweeps, computed or read back from a stored run; the stored
runs; the control runs), :mod:`.measures` (overfit, memorization, decline, health, per-variant curves),
:mod:`.updates` (one update of each method, its cost), :mod:`.figures`, :mod:`.claims` (the claims and
their rules), :mod:`.decisions` (each claim measured and decided on one run).

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from ...engine.book import Chapter
from . import claims, setting

CHAPTER = Chapter(name="winsorized_sgd", number=5, title="Winsorized SGD", claims=claims.CLAIMS,
                  catalog=setting.CATALOG,
                  question="Does clipping each parameter's most extreme per-example pushes stop a network from "
                           "memorizing random labels?",
                  sources=("chatterjee2020coherent", "zielinski2020weak"))
