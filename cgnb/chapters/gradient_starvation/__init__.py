"""Chapter 3, gradient starvation: the two-moons task of Pezeshki et al. (2021) and Spectral Decoupling.

Modules: :mod:`.tasks` (two moons, test sets without the linear feature), :mod:`.models` (the MLP,
Spectral Decoupling), :mod:`.setting` (one run, on :mod:`cgnb.engine.fullbatch`), :mod:`.measures`,
:mod:`.figures`, :mod:`.claims`.

Reference: Pezeshki et al., "Gradient Starvation: A Learning Proclivity in Neural Networks", NeurIPS 2021.
"""
from ...engine.book import Chapter
from . import claims

CHAPTER = Chapter(name="gradient_starvation", number=3, title="Gradient starvation", claims=claims.CLAIMS)
