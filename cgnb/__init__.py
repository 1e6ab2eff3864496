"""cgnb: the engine of the Coherent Gradients NoteBook.

Modules (import them as ``from cgnb import data, models, ...``):
  profiles  quick/paper run profiles (``CGNB_PROFILE``)
  claims    the claims ledger every chapter asserts through
  paths     where the ledger and the result cache live
  data      MNIST offline/full, Fashion-MNIST, label noise with pristine masks
  models    MLPs as parameter pytrees (dropout, batch norm)
  pergrad   per-example gradients, winsorized/RM3 aggregation, coherence statistics
  train     lax.scan training loops, vmapped sweeps, result cache with resume
  cache     on-disk memo of experiment results (keyed by config and cgnb's source)
  plots     the book's figure style
Chapter modules (the experiments of one chapter, tested in tests/):
  synthetic, dose   ch. 1 and 3: feature tasks, gradient dose, spectral decoupling
  anatomy           ch. 2: what scales a layer's weight gradient
  coherence         ch. 4: alpha_p / alpha_c, null worlds, per-example contributions
  robust            ch. 5: winsorized SGD and RM3 grids, overfit measures
  fields, minibatch ch. 6: the character-field task, minibatch sensitivity
"""
from .claims import Ledger, check
from .profiles import pick, profile

__version__ = "0.1.0"
__all__ = ["Ledger", "check", "pick", "profile", "__version__"]
