"""Chapter 4, coherent gradients: label-noise sweeps and the per-example gradients that agree.

Modules: :mod:`.setting` (a setting's sweeps, computed or read back from a stored run; the stored
runs), :mod:`.measures` (Figure 1 and 2 measures), :mod:`.contributions` (Figure 3's per-example
contributions), :mod:`.figures`, :mod:`.claims`.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 2.
"""
from ...engine.book import Chapter
from . import claims, setting

CHAPTER = Chapter(name="coherent_gradients", number=4, title="Coherent gradients", claims=claims.CLAIMS,
                  catalog=setting.CATALOG)
