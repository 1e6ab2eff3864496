"""The engine of cgnb: everything the chapters share, naming no chapter and no claim.

Modules (``from cgnb.engine import nets, sweep``):
  profiles  quick/paper run profiles (``CGNB_PROFILE``)
  paths     where the ledger and the result store live
  ledger    the claims ledger every chapter asserts through
  data      MNIST offline/full, Fashion-MNIST, label noise with pristine masks
  nets      MLPs as parameter pytrees: init and the forward pass (dropout, batch norm)
  pergrad   per-example gradients, winsorized/RM3 aggregation as optax transforms, statistics
  sweep     the trainer: lax.scan loops, vmap over variants, resumable sweeps
  store     the on-disk result store keyed by what produced a result
  plots     the book's figure style
"""
