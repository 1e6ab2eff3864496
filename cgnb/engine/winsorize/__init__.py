"""The coordinate-wise c-winsorized mean over a batch axis: the kernel of winsorized SGD.

For every coordinate, the c smallest and c largest of the B per-example values are replaced by the
(c+1)-th smallest / largest, then the B values are averaged (Chatterjee, "Coherent Gradients",
ICLR 2020, section 3). The optax transform that applies it to per-example gradients is
:func:`cgnb.engine.transforms.winsorized_mean`.

Modules
  columns   :func:`winsorize` of an array (B, ...), :func:`winsorize_tree` of a pytree of them
  outer     :func:`winsorize_outer`: per-example dense-layer gradients in factored form (an MLP's
            :class:`cgnb.engine.pergrad.MLPFactors`), never materialised; ``map_tiles``, its loop over
            the tiles, for any other per-tile computation (the benchmark's floor of the kernel)
  kernel    the public kernel: level checks, the algorithms and their choice (``METHODS``,
            ``pick_method``), one tile's winsorized mean, the loops over tiles
  network   the insertion networks (a static c, small B * c; the CPU default there)
  sorting   a pruned sorting network (any c, static or traced, while the network stays small enough;
            the CPU default there)
  bisect    the order statistics found bit by bit by counting (any c)
  sort      the order statistics by a sort (the GPU / TPU default)
  keys      floats as integer keys of the same order

All algorithms give the exact order statistics. A new one is one more module with
``bounds(keys (n, ...), c) -> (lo, hi)``, one entry in :data:`kernel.BOUNDS` and one routing line in
:func:`kernel.pick_method`.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, section 3.
"""
from .columns import GENERIC_TILE, winsorize, winsorize_tree
from .kernel import (METHODS, NETWORK_MAX_BATCH, NETWORK_MAX_LEVEL, NETWORK_MAX_WORK, check_c, check_levels,
                     pick_method)
from .outer import MLP_TILE_COLS, MLP_TILE_ROWS, winsorize_outer
from .sorting import NETWORK_OP_BUDGET, network_fits

__all__ = ["winsorize", "winsorize_tree", "winsorize_outer", "check_levels", "check_c", "pick_method", "METHODS",
           "NETWORK_MAX_LEVEL", "NETWORK_MAX_WORK", "NETWORK_MAX_BATCH", "NETWORK_OP_BUDGET", "network_fits",
           "GENERIC_TILE", "MLP_TILE_ROWS", "MLP_TILE_COLS"]
