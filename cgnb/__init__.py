"""cgnb: the engine of the Coherent Gradients NoteBook.

Modules (import them as ``from cgnb import data, models, ...``):
  profiles  quick/paper run profiles (``CGNB_PROFILE``)
  claims    the claims ledger every chapter asserts through
  paths     where the ledger and the result cache live
  data      MNIST offline/full, Fashion-MNIST, label noise with pristine masks
  models    MLPs as parameter pytrees (dropout, batch norm)
  pergrad   per-example gradients, winsorized/RM3 aggregation, coherence statistics
  train     lax.scan training loops, vmapped sweeps, result cache with resume
  plots     the book's figure style
"""
from .claims import Ledger, check
from .profiles import pick, profile

__version__ = "0.1.0"
__all__ = ["Ledger", "check", "pick", "profile", "__version__"]
