"""Chapter 4, coherent gradients: label-noise sweeps and the per-example gradients that agree.

Modules: :mod:`.setting` (a setting's sweeps, computed or read back from a stored run; the stored
runs), :mod:`.measures` (what the figures and claims measure), :mod:`.contributions` (Figure 3's
per-example contributions), :mod:`.claims` (the claims and their rules), :mod:`.decisions` (the
rules' statistics handed to the ledger), :mod:`.figures`.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 2.
"""
from ...engine.book import Chapter
from . import claims, setting

CHAPTER = Chapter(name="coherent_gradients", number=4, title="Coherent gradients", claims=claims.CLAIMS,
                  catalog=setting.CATALOG,
                  question="Why does gradient descent generalize on real data when the same network can fit "
                           "random labels?",
                  sources=("chatterjee2020coherent",))
