"""cgnb: the Coherent Gradients NoteBook's Python package.

Two subpackages, and the folder tells them apart:

  cgnb.engine    names no chapter: data, nets, per-example gradients and their statistics,
                 optax transforms, the trainer and sweeps, the result store, profiles, the
                 claims ledger, plots. Import it as ``from cgnb.engine import nets, sweep``.
  cgnb.chapters  one package per chapter (its claims, setting, measures and figures), built only
                 on the engine's public API
                 (``from cgnb.chapters.coherent_gradients import measures``).

``cgnb.Ledger``, ``cgnb.pick`` and ``cgnb.profile`` are the notebooks' shortcuts.
"""
__version__ = "0.1.0"

from .engine.ledger import Ledger  # noqa: E402
from .engine.profiles import pick, profile  # noqa: E402

__all__ = ["Ledger", "pick", "profile", "__version__"]
