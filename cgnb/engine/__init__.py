"""The engine of cgnb: everything the chapters share, naming no chapter and no claim.

Importing it changes nothing in the process (the allocator setting is an explicit call:
:func:`cgnb.engine.xla.keep_freed_memory`). Modules (``from cgnb.engine import nets, sweep``):

  profiles   quick/paper run profiles (``CGNB_PROFILE``)
  paths      where the ledger, the result store and the stored runs live
  ledger     the claims ledger every chapter asserts through
  book, claims  a chapter and the claims it decides, as records
  data       MNIST offline/full, Fashion-MNIST, label noise with pristine masks
  seeds      integer seeds -> JAX PRNG keys: every convention in use, in one place
  nets       MLPs as parameter pytrees (``Params``): init, the one forward pass, blocked evaluation
  losses     the loss contract (per-example losses), the losses and metrics, MLPLoss
  pergrad    per-example gradients in one representation (materialised, or an MLP's factors)
  traced_factors  the factors of dense weights read from any loss's traced vmap(grad) program
  stats      statistics of gradients: coherence, pairwise cosines, pristine/corrupt groups, null masks
  winsorize  the coordinate-wise c-winsorized mean over a batch (a package: its kernel and algorithms)
  transforms gradient aggregations as optax transforms: winsorized_mean, rm3
  trainer    the training step: a gradient rule (mean / per-example) followed by an optax chain
  sampler    seeded minibatch orders: shuffled epochs, uniform draws, disjoint batches
  loop       the one training loop: lax.scan in blocks, with step and record probes, snapshots
  sweep      sweeps: many variants of one loop at once (vmap), cached and resumable (a package)
  store      the on-disk result store keyed by what produced a result
  runs       stored runs of a chapter (a longer setting than CI runs), saved with their provenance
  plots      the book's figure style and tables
  display    showing results in a notebook (Markdown) or a terminal (text)
  curves     measures of recorded curves: first step reaching a level, slopes, rises, drops
  checks     argument validation at the public boundary, with messages that say how to fix it
  aot        compiling a program ahead of time for abstract inputs and reporting its memory
  xla        jax.jit with the compiler options the engine's kernels are tuned for; the allocator
"""
