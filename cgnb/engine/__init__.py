"""The engine of cgnb: everything the chapters share, naming no chapter and no claim.

Modules (``from cgnb.engine import nets, sweep``):
  profiles  quick/paper run profiles (``CGNB_PROFILE``)
  paths     where the ledger and the result store live
  ledger    the claims ledger every chapter asserts through
  data      MNIST offline/full, Fashion-MNIST, label noise with pristine masks
  nets      MLPs as parameter pytrees: init and the one forward pass (dropout, batch norm, trace)
  losses    the loss contract (per-example losses, Params), the losses and metrics, MLPLoss
  pergrad   per-example gradients (and their factored form for MLPs)
  stats     statistics of gradients: coherence, pairwise cosines, pristine/corrupt groups, null masks
  winsorize the coordinate-wise c-winsorized mean over a batch (network, bisection and sort kernels)
  winsorize_mlp the same for an MLP's per-example gradients in factored form, never materialised
  transforms gradient aggregations as optax transforms: winsorized_mean, rm3
  trainer   the training step: a gradient rule (mean / per-example) followed by an optax chain
  sampler   seeded minibatch orders: shuffled epochs, uniform draws, disjoint batches
  loop      the one training loop: lax.scan in blocks, with step and record probes, snapshots
  sweep     sweeps: many variants of one loop at once (vmap), cached and resumable
  sweep_config a sweep's configuration and variants (SweepConfig, Variants), validated
  evaluation one record of a sweep's variant (losses, accuracies, gradient statistics), first_learned
  results   a sweep's result (SweepResult) and its result / checkpoint files
  store     the on-disk result store keyed by what produced a result
  plots     the book's figure style and tables
  display   showing results in a notebook (Markdown) or a terminal (text)
  curves    measures of recorded curves: first step reaching a level, slopes, rises, drops
  checks    argument validation at the public boundary, with messages that say how to fix it
  runs      stored runs of a chapter (a longer setting than CI runs), saved with their provenance
  aot       compiling a program ahead of time for abstract inputs and reporting its memory
  xla       jax.jit with the compiler options the engine's kernels are tuned for
"""

from . import xla as _xla

KEEPS_FREED_MEMORY = _xla.keep_freed_memory()  # see cgnb.engine.xla: XLA:CPU's buffers without page faults
