"""Per-example gradients, their statistics, and robust aggregation as optax transforms.

A *per-example loss* is a function ``loss_fn(params, x, y) -> (B,)`` that returns one loss
per example of a batch ``x`` (B, ...), ``y`` (B, ...). ``params`` may be any pytree; the
fast paths marked "MLP" need :mod:`cgnb.engine.nets` parameters (no batch norm) and an
:class:`MLPLoss`.

Contents
  per_example_grads          g_i = grad l_i for every example: leaves with a leading axis B
  winsorize                  clip every coordinate to its (c+1)-th smallest/largest value, average
  winsorized_mean, rm3       the two robust aggregations as optax GradientTransformations
  MLPLoss, mlp_factors       per-example gradients of dense layers in factored form a_i (x) delta_i
  mlp_winsorized_grad        winsorized mean gradient of an MLP without materialising g_i
  mlp_per_example_sq_norms   |g_i|^2 for every example from one forward and one backward pass
  coherence                  alpha = |mean g_i|^2 / mean |g_i|^2
  group_alphas, null_masks,  the Coherent Gradients paper's pristine/corrupt decomposition
  group_alphas_many,         (alpha_p, alpha_c, section 2.4, Figure 2) and the mean cumulative
  group_contributions        contribution per pristine / corrupt example (Figure 3)
  mean_pairwise_cosine, ravel

How the winsorized mean is computed fast
  Sorting the B per-example values of every coordinate costs ~1000x a plain SGD step on a CPU.
  The c-winsorized mean only needs the c largest and c smallest values of every coordinate and
  the two clipping bounds: ``sum_i clip(g_i, lo, hi) = (sum of the B - 2c middle values) +
  c * hi + c * lo``. One pass over the examples finds them with two insertion networks of
  2c min/max each (see ``_winsorized_kernel``), adding the middle values as they fall out, so
  no extreme value is ever subtracted (infinite outliers are clipped away as by a sort).
  Three details make this fast on XLA:CPU:

  * the min/max run on integer keys (the float's bits, negatives flipped, so that integer order
    is float order) -- one instruction each instead of the NaN-aware float min/max sequence;
  * the loop over examples is unrolled into a single loop fusion with a single output (XLA:CPU
    has no multi-output loop fusion, so carrying the running lists through a ``lax.scan``
    recomputes them once per list), and the fusion runs inside ``fori_loop`` s over tiles of
    coordinates, so that XLA compiles it once per loop instead of fusing a copy into every
    consumer (:data:`TILE_LOOPS` independent loops share the tiles and may run concurrently);
  * for MLPs, :func:`mlp_winsorized_grad` never materialises the (B, P) per-example gradients:
    each tile computes ``a_i[r] * delta_i[s]`` on the fly from the layer inputs ``a`` and the
    pre-activation gradients ``delta``.

  NaN keys order above +inf (or below -inf for a negative sign bit), so a NaN is clipped away
  like an infinite value when c >= 1 (a sort-and-clip would return NaN).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.flatten_util import ravel_pytree

from . import nets

PyTree = Any
LossFn = Callable[[PyTree, jax.Array, jax.Array], jax.Array]

# Tile sizes of the order-statistics kernels (coordinates per loop iteration).
GENERIC_TILE = 8192
MLP_TILE_ROWS = 32
MLP_TILE_COLS = 256
# Independent tile loops per kernel (see _tile_loop). XLA:CPU runs each in-place kernel on one
# thread; independent loops may run concurrently (2 loops were up to 2x faster on a busy 2-core
# machine, and slower in another run), but every loop compiles its own copy of the kernel.
# benchmarks/bench_engine.py compares 1 and 2 loops.
TILE_LOOPS = 1


# ============================================================================ per-example gradients


def per_example_grads(loss_fn: LossFn, params: PyTree, x: jax.Array, y: jax.Array) -> PyTree:
    """Gradients of every example's loss: a pytree like ``params`` with a leading axis B.

    ``g_i = grad_params loss_fn(params, x[i:i+1], y[i:i+1])[0]``, computed as
    ``jax.vmap(jax.grad(single), in_axes=(None, 0, 0))``.
    """
    _check_batch(x, y)

    def single(p, xi, yi):
        return loss_fn(p, xi[None], yi[None])[0]

    return jax.vmap(jax.grad(single), in_axes=(None, 0, 0))(params, x, y)


def ravel(tree: PyTree) -> jax.Array:
    """All leaves of ``tree`` flattened and concatenated: (P,) (``jax.flatten_util.ravel_pytree``)."""
    return ravel_pytree(tree)[0]


def _check_batch(x: jax.Array, y: jax.Array) -> None:
    if jnp.ndim(x) < 1 or jnp.ndim(y) < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be batches with the same leading size B, got shapes "
                         f"{jnp.shape(x)} and {jnp.shape(y)}")


# ============================================================================ order statistics

# The insertion network works on integer keys: for IEEE floats, flipping the 31 magnitude bits of
# negative numbers makes signed-integer order equal float order (-0.0 sorts just below +0.0, which
# changes no clipped value). The map is its own inverse.
_KEY_DTYPES = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}


def _to_key(x: jax.Array) -> jax.Array:
    itype = _KEY_DTYPES[x.dtype.itemsize]
    return _flip(lax.bitcast_convert_type(x, itype))


def _from_key(k: jax.Array, dtype) -> jax.Array:
    return lax.bitcast_convert_type(_flip(k), dtype)


def _flip(i: jax.Array) -> jax.Array:
    bits = 8 * i.dtype.itemsize
    sign = lax.shift_right_arithmetic(i, np.array(bits - 1, i.dtype))
    return lax.bitwise_xor(i, lax.bitwise_and(sign, np.array(2 ** (bits - 1) - 1, i.dtype)))


def _insert(running: list[jax.Array], value: jax.Array, keep: Callable, pass_on: Callable) -> list[jax.Array]:
    """Push ``value`` through the sorted running list ``running`` (updated in place), one
    elementwise compare-exchange per entry: ``keep`` (max for a top list, min for a bottom list)
    stays, ``pass_on`` moves down. Returns ``[value, out_1, ..., out_L]``: what leaves each
    depth, so ``out_L`` is the value pushed out of the whole list."""
    carries, carry = [value], value
    for j in range(len(running)):
        running[j], carry = keep(running[j], carry), pass_on(running[j], carry)
        carries.append(carry)
    return carries


def _winsorized_kernel(example: Callable[[int], jax.Array], n: int, c: int | jax.Array, levels: int,
                       dtype) -> jax.Array:
    """Winsorized mean over ``n`` examples ``example(i)`` (same shape each), as one expression.

    Every value passes two insertion networks of integer keys: ``top`` keeps the c largest
    values seen; the value it evicts (not among the c largest) enters ``bot``, which keeps the c
    smallest of those; the value ``bot`` evicts is a middle value and is added to ``mid``. At
    the end ``hi`` = the largest value evicted by ``top`` = the (c+1)-th largest, ``lo`` = the
    smallest evicted by ``bot`` = the (c+1)-th smallest, and the winsorized mean is
    ``(mid + c * hi + c * lo) / n`` -- no extreme value is ever subtracted, so infinite or huge
    outliers are clipped away exactly as by a sort.

    ``c`` is a Python int (then ``levels == c``) or a traced integer with ``levels = c_max``
    (lists of c_max entries, the eviction at level c selected at run time; a c outside
    [0, c_max] gives NaN).
    """
    static = isinstance(c, int)
    mid = hi = lo = None
    top: list = []
    bot: list = []
    for i in range(n):
        value = example(i)
        key = _to_key(value)
        if i == 0:
            itype = key.dtype
            kmin = jnp.full_like(key, jnp.iinfo(itype).min)
            kmax = jnp.full_like(key, jnp.iinfo(itype).max)
            mid, hi, lo = jnp.zeros_like(value), kmin, kmax
            if not static:  # sentinel-filled lists: kmin never leaves top's tail, kmax bot's
                top, bot = [kmin] * levels, [kmax] * levels
        carries = _insert(top, key, keep=lax.max, pass_on=lax.min)
        if static:
            if len(top) < c:  # fewer than c values so far: nothing leaves the top-c list
                top.append(carries[-1])
                continue
            evicted = carries[c]
        else:
            evicted = lax.select_n(jnp.clip(c, 0, levels), *carries)
        hi = lax.max(hi, evicted)
        if not static and i < levels:  # the evicted value may be top's sentinel: keep it out of bot
            evicted = jnp.where(evicted == kmin, kmax, evicted)
        carries = _insert(bot, evicted, keep=lax.min, pass_on=lax.max)
        if static:
            if len(bot) < c:
                bot.append(carries[-1])
                continue
            middle = carries[c]
        else:
            middle = lax.select_n(jnp.clip(c, 0, levels), *carries)
        lo = lax.min(lo, middle)
        middle_value = _from_key(middle, dtype)
        if not static and i < 2 * levels:  # bot's sentinel: no middle value yet
            middle_value = jnp.where(middle == kmax, jnp.zeros_like(middle_value), middle_value)
        mid = mid + middle_value
    hi, lo = _from_key(hi, dtype), _from_key(lo, dtype)
    if static:
        return (mid + c * hi + c * lo) / n if c else mid / n
    c = jnp.asarray(c)
    c_float = c.astype(dtype)
    total = jnp.where(c == 0, mid, mid + c_float * hi + c_float * lo)
    return jnp.where((c >= 0) & (c <= levels), total / n, jnp.nan)


def _tile_loop(n_tiles: int, tile: Callable[[jax.Array], jax.Array], tile_shape: tuple[int, ...],
               dtype, loops: int | None = None) -> jax.Array:
    """``stack([tile(t) for t in range(n_tiles)])`` computed by ``fori_loop`` s over the tiles.

    The loop keeps XLA from fusing a copy of the (large, unrolled) kernel into every consumer of
    the result, so it is compiled once per loop. ``loops`` (default :data:`TILE_LOOPS`)
    independent loops over contiguous ranges of tiles may run concurrently on XLA:CPU, whose
    in-place (dynamic-update-slice) kernels are otherwise single-threaded; each loop adds one
    compilation of the kernel. Every loop runs >= 2 trips (a single trip would be inlined).
    """
    loops = max(1, min(TILE_LOOPS if loops is None else int(loops), n_tiles // 2))
    bounds = np.linspace(0, n_tiles, loops + 1).round().astype(int)
    parts = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        def body(t, out, start=int(start)):
            return lax.dynamic_update_index_in_dim(out, tile(start + t), t, 0)

        parts.append(lax.fori_loop(0, int(stop - start), body, jnp.zeros((int(stop - start), *tile_shape), dtype)))
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts)


def _static_int(value: Any, name: str) -> int | None:
    """``int(value)`` when value is a concrete integer, None when it is traced."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (bool, np.bool_)) or not (np.ndim(value) == 0 and np.issubdtype(
            np.asarray(value).dtype, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _check_c(c: int | jax.Array, c_max: int | None, batch: int) -> tuple[int | None, int]:
    """Validate (c, c_max) for a batch of ``batch``; returns (static c or None, k = c_max + 1)."""
    c_static = _static_int(c, "c")
    if c_max is not None:
        c_max = _static_int(c_max, "c_max")
        if c_max is None:
            raise ValueError("c_max must be a Python int (it fixes the program's size); "
                             "pass the traced winsorization level as c")
        if not 0 <= c_max or not 2 * c_max < batch:
            raise ValueError(f"c_max must satisfy 0 <= c_max < B/2 = {batch / 2:g} for a batch of "
                             f"{batch} examples, got c_max={c_max}")
    if c_static is not None:
        if not 0 <= c_static or not 2 * c_static < batch:
            raise ValueError(f"c must satisfy 0 <= c < B/2 = {batch / 2:g} for a batch of {batch} "
                             f"examples, got c={c_static}")
        if c_max is not None and c_static > c_max:
            raise ValueError(f"c={c_static} exceeds c_max={c_max}; raise c_max or lower c")
    elif c_max is None:
        raise ValueError("c is traced (e.g. vmapped over winsorization levels): pass c_max, a Python "
                         "int bounding it, so that one program serves every c in [0, c_max]")
    k = (c_max if c_max is not None else c_static) + 1
    return c_static, k


def winsorize(per_example: jax.Array, c: int | jax.Array, c_max: int | None = None) -> jax.Array:
    """The c-winsorized mean over the leading (batch) axis: (B, ...) -> (...).

    For every coordinate j with values ``v_1j..v_Bj`` sorted as ``v_(1) <= ... <= v_(B)``::

        lo_j = v_(c+1),   hi_j = v_(B-c),   w_j = (1/B) sum_i clip(v_ij, lo_j, hi_j),

    i.e. the c smallest and c largest values are replaced by the (c+1)-th smallest / largest
    (ties count with their multiplicity, as in a sort). ``c = 0`` is the mean; a Python int
    ``c = 0`` returns ``jnp.mean(per_example, axis=0)`` itself.

    Args:
      per_example: (B, ...) floating array, e.g. one leaf of :func:`per_example_grads`.
      c: 0 <= c < B/2; a Python int, or a traced integer (then ``c_max`` is required and the
        result is NaN for a c outside [0, c_max]).
      c_max: static upper bound of c: one program keeps the c_max extreme values of each side
        and selects the evictions at level c at run time, so ``vmap`` over c in {0, 1, 2, 4}
        (c_max = 4) runs as one program. A traced c = 0 equals the mean up to float rounding.

    Cost: one pass over the B examples with about 4 c integer min/max per value (4 c_max plus
    two selections for a traced c); no sort. NaNs count as infinite values (see the module doc).
    """
    per_example = jnp.asarray(per_example)
    if per_example.ndim < 1 or per_example.shape[0] < 1:
        raise ValueError(f"per_example must have a leading batch axis of size >= 1, got shape "
                         f"{per_example.shape}")
    if not jnp.issubdtype(per_example.dtype, jnp.floating):
        raise ValueError(f"per_example must be a floating array, got dtype {per_example.dtype}")
    batch = per_example.shape[0]
    c_static, k = _check_c(c, c_max, batch)
    if c_static == 0:
        return jnp.mean(per_example, axis=0)
    c_use = c_static if c_static is not None else c
    shape, dtype = per_example.shape[1:], per_example.dtype
    n = math.prod(shape)
    n_tiles = max(2, -(-n // GENERIC_TILE))
    width = -(-n // n_tiles)
    flat = per_example.reshape(batch, n)
    flat = jnp.pad(flat, ((0, 0), (0, n_tiles * width - n))).reshape(batch, n_tiles, width)

    def tile(t):
        block = lax.dynamic_index_in_dim(flat, t, 1, keepdims=False)  # (B, width)
        return _winsorized_kernel(lambda i: block[i], batch, c_use, k - 1, dtype)

    return _tile_loop(n_tiles, tile, (width,), dtype).reshape(-1)[:n].reshape(shape)


# ============================================================================ optax transforms


def _stack_leaves(per_example: PyTree) -> tuple[jax.Array, Callable[[jax.Array], PyTree], int]:
    """Per-example pytree (leading axis B on every leaf) -> (B, P) array, unravel, B."""
    leaves, treedef = jax.tree_util.tree_flatten(per_example)
    if not leaves:
        raise ValueError("per-example updates are an empty pytree")
    batch = leaves[0].shape[0] if jnp.ndim(leaves[0]) else None
    if batch is None or any(jnp.ndim(l) < 1 or l.shape[0] != batch for l in leaves):
        raise ValueError("per-example updates must have the same leading batch axis B on every leaf, "
                         f"got shapes {[jnp.shape(l) for l in leaves]}; feed per_example_grads(...)")
    shapes = [l.shape[1:] for l in leaves]
    sizes = [math.prod(s) for s in shapes]
    dtype = jnp.result_type(*leaves)
    flat = jnp.concatenate([l.reshape(batch, -1).astype(dtype) for l in leaves], axis=1)

    def unravel(vec):
        parts, start = [], 0
        for leaf, shape, size in zip(leaves, shapes, sizes):
            parts.append(vec[start:start + size].reshape(shape).astype(leaf.dtype))
            start += size
        return jax.tree_util.tree_unflatten(treedef, parts)

    return flat, unravel, batch


def winsorized_mean(c: int | jax.Array, c_max: int | None = None) -> optax.GradientTransformation:
    """Aggregate per-example updates into their coordinate-wise c-winsorized mean.

    The Coherent Gradients paper's winsorized SGD (Chatterjee, ICLR 2020, section 3): with
    ``g_ij`` the gradient of example i for parameter j in a minibatch of B,

        lo_j = (c+1)-th smallest of g_1j..g_Bj,   hi_j = (c+1)-th largest,
        g~_j = (1/B) sum_i clip(g_ij, lo_j, hi_j),

    and SGD steps along ``g~``. c = 0 is plain SGD (exactly ``jnp.mean`` over the batch for a
    Python int 0). Use::

        tx = optax.chain(winsorized_mean(c), optax.sgd(lr))
        updates, state = tx.update(per_example_grads(loss_fn, params, x, y), state, params)

    ``update(per_example_updates, state, params=None)`` takes a pytree whose leaves carry a
    leading batch axis B and returns the winsorized pytree without it. All leaves are
    processed together by one kernel (see :func:`winsorize` for c, c_max and the cost).
    The state is empty.
    """
    c_static = _static_int(c, "c")  # type check now; the range needs B and is checked in update
    if c_max is not None and _static_int(c_max, "c_max") is None:
        raise ValueError("c_max must be a Python int")

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        flat, unravel, batch = _stack_leaves(updates)
        if c_static == 0:  # plain SGD: the exact mean of every leaf (XLA folds it into the backward pass)
            _check_c(c, c_max, batch)
            return jax.tree_util.tree_map(lambda leaf: jnp.mean(leaf, axis=0), updates), state
        return unravel(winsorize(flat, c, c_max)), state

    return optax.GradientTransformation(init_fn, update_fn)


class RM3State(NamedTuple):
    """State of :func:`rm3`: the previous two gradients and how many gradients were seen."""
    count: jax.Array  # int32 scalar
    previous: PyTree  # g_{t-1}
    before: PyTree  # g_{t-2}


def median3(a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
    """Elementwise median of three arrays without sorting: ``max(min(a, b), min(max(a, b), c))``."""
    return jnp.maximum(jnp.minimum(a, b), jnp.minimum(jnp.maximum(a, b), c))


def rm3() -> optax.GradientTransformation:
    """RM3: the coordinate-wise median of the current and the two previous minibatch gradients.

    From Zielinski, Krishnan and Chatterjee, "Weak and Strong Gradient Directions: Explaining
    Memorization, Generalization, and Hardness of Examples at Scale" (arXiv 2003.07422): at step
    t the update is ``median(g_t, g_{t-1}, g_{t-2})`` per coordinate, which suppresses directions
    that only one minibatch supports (weak directions) without per-example gradients.

    The first two steps have fewer than three gradients; missing ones are replaced by the
    current gradient, so step 1 returns ``g_1`` and step 2 returns ``median(g_2, g_1, g_2) = g_2``:
    the first two updates are plain SGD updates. Feed mean (minibatch) gradients.
    """
    def init_fn(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return RM3State(jnp.zeros((), jnp.int32), zeros, zeros)

    def update_fn(updates, state, params=None):
        del params
        count = state.count

        def one(g, prev, before):
            prev = jnp.where(count >= 1, prev, g)
            before = jnp.where(count >= 2, before, g)
            return median3(g, prev, before)

        out = jax.tree_util.tree_map(one, updates, state.previous, state.before)
        return out, RM3State(jnp.minimum(count + 1, 2), updates, state.previous)

    return optax.GradientTransformation(init_fn, update_fn)


# ============================================================================ MLP fast paths


@dataclasses.dataclass(frozen=True)
class MLPLoss:
    """Per-example loss of a :mod:`cgnb.engine.nets` MLP: ``output_loss(nets.apply(params, x), y)``.

    Callable like any per-example loss, ``MLPLoss()(params, x, y) -> (B,)``; functions of this
    module recognise it and use the factored fast paths (no per-example gradient tensors).
    ``output_loss(outputs (B, d_out), y) -> (B,)`` defaults to softmax cross-entropy.
    Batch norm parameters are rejected (the examples of a batch would interact); dropout is off.
    """
    output_loss: Callable[[jax.Array, jax.Array], jax.Array] = nets.cross_entropy

    def __call__(self, params, x, y):
        return self.output_loss(nets.apply(params, x), y)


class MLPFactors(NamedTuple):
    """Per-example gradients of an MLP in factored form (one entry per dense layer).

    For example i and layer l: ``grad w_l = outer(inputs[l][i], deltas[l][i])`` and
    ``grad b_l = deltas[l][i]``; ``inputs[l]`` (B, d_in) is the layer input, ``deltas[l]``
    (B, d_out) the gradient of example i's loss w.r.t. the layer's pre-activation.
    """
    inputs: list
    deltas: list
    losses: jax.Array  # (B,)


def _check_mlp(params: PyTree) -> None:
    ok = isinstance(params, (list, tuple)) and len(params) > 0 and all(
        isinstance(l, Mapping) and set(l) == {"w", "b"} for l in params)
    if not ok:
        raise ValueError("the MLP fast path needs cgnb.models parameters without batch norm: a list of "
                         "{'w': (d_in, d_out), 'b': (d_out,)} dicts; use the generic functions otherwise")


def mlp_factors(loss: MLPLoss, params: nets.Params, x: jax.Array, y: jax.Array) -> MLPFactors:
    """Layer inputs and per-example pre-activation gradients from one forward and one backward pass.

    Zero perturbations ``e_l`` (B, d_out) are added to every pre-activation ``z_l``; since the
    examples do not interact, ``d(sum_i l_i)/d e_l[i] = d l_i / d z_l[i] = deltas[l][i]``.
    """
    if not isinstance(loss, MLPLoss):
        raise ValueError(f"the MLP fast path needs loss=pergrad.MLPLoss(output_loss), got {loss!r}")
    _check_mlp(params)
    _check_batch(x, y)
    n = len(params)

    def summed(eps):
        h, inputs = x, []
        for l, (layer, e) in enumerate(zip(params, eps)):
            inputs.append(h)
            z = h @ layer["w"] + layer["b"] + e
            h = jax.nn.relu(z) if l < n - 1 else z
        losses = loss.output_loss(h, y)
        return jnp.sum(losses), (inputs, losses)

    zeros = [jnp.zeros((x.shape[0], layer["w"].shape[1]), x.dtype) for layer in params]
    deltas, (inputs, losses) = jax.grad(summed, has_aux=True)(zeros)
    return MLPFactors(inputs, deltas, losses)


def mlp_per_example_sq_norms(loss: MLPLoss, params: nets.Params, x: jax.Array,
                             y: jax.Array) -> jax.Array:
    """``|g_i|^2`` over all parameters for every example: (B,), without per-example gradients.

    A dense layer contributes ``|a_i|^2 |delta_i|^2`` (weights: the squared norm of an outer
    product) plus ``|delta_i|^2`` (bias), with a_i the layer input and delta_i the gradient of
    l_i w.r.t. the pre-activation (Goodfellow, "Efficient per-example gradient computations", 2015).
    """
    f = mlp_factors(loss, params, x, y)
    return sum((jnp.sum(a * a, axis=1) + 1.0) * jnp.sum(d * d, axis=1) for a, d in zip(f.inputs, f.deltas))


def _mlp_mean_grad(f: MLPFactors) -> list:
    batch = f.losses.shape[0]
    return [{"w": a.T @ d / batch, "b": jnp.sum(d, axis=0) / batch} for a, d in zip(f.inputs, f.deltas)]


class _TilePlan(NamedTuple):
    left: jax.Array  # (n_left_blocks, B, R)
    right: jax.Array  # (n_right_blocks, B, C)
    left_index: np.ndarray  # (n_tiles,) which left block each tile uses
    right_index: np.ndarray  # (n_tiles,)
    layers: list  # per layer: (first tile, n_row_tiles, n_col_tiles, rows, cols, transposed)


def _mlp_tile_plan(f: MLPFactors, rows: int, cols: int) -> _TilePlan:
    """Cover every layer's (d_in + 1) x d_out gradient (bias as a row of ones) with tiles.

    A tile's values for example i are ``left[i][:, None] * right[i][None, :]``; narrow layers
    are laid out transposed (delta on the left) when that needs fewer padded tiles.
    """
    batch = f.losses.shape[0]
    ones = jnp.ones((batch, 1), f.inputs[0].dtype)
    lefts, rights, li, ri, layers = [], [], [], [], []
    n_left = n_right = n_tiles = 0
    for a, d in zip(f.inputs, f.deltas):
        aug = jnp.concatenate([a, ones], axis=1)

        def padded(m, n):
            return -(-m // rows) * rows * (-(-n // cols) * cols)

        transposed = padded(d.shape[1], aug.shape[1]) < padded(aug.shape[1], d.shape[1])
        lf, rf = (d, aug) if transposed else (aug, d)
        nr, nc = -(-lf.shape[1] // rows), -(-rf.shape[1] // cols)
        lefts.append(jnp.pad(lf, ((0, 0), (0, nr * rows - lf.shape[1]))).reshape(batch, nr, rows))
        rights.append(jnp.pad(rf, ((0, 0), (0, nc * cols - rf.shape[1]))).reshape(batch, nc, cols))
        li += [n_left + r for r in range(nr) for _ in range(nc)]
        ri += [n_right + s for _ in range(nr) for s in range(nc)]
        layers.append((n_tiles, nr, nc, lf.shape[1], rf.shape[1], transposed))
        n_left, n_right, n_tiles = n_left + nr, n_right + nc, n_tiles + nr * nc
    left = jnp.concatenate(lefts, axis=1).transpose(1, 0, 2)
    right = jnp.concatenate(rights, axis=1).transpose(1, 0, 2)
    return _TilePlan(left, right, np.asarray(li, np.int32), np.asarray(ri, np.int32), layers)


def mlp_winsorized_grad(loss: MLPLoss, params: nets.Params, x: jax.Array, y: jax.Array,
                        c: int | jax.Array, c_max: int | None = None) -> list:
    """The c-winsorized mean gradient of an MLP, like ``winsorized_mean`` on ``per_example_grads``.

    Returns a pytree like ``params`` (no batch axis) equal to
    ``winsorize(per_example_grads(loss, params, x, y), c, c_max)`` leaf by leaf, computed tile by
    tile from :func:`mlp_factors` so that the (B, P) per-example gradients never exist in memory.
    A Python int c = 0 returns the plain mean gradient ``grad mean_i l_i``.
    """
    if not isinstance(loss, MLPLoss):
        raise ValueError("mlp_winsorized_grad needs loss=MLPLoss(...); for other losses use "
                         "winsorized_mean on per_example_grads")
    _check_mlp(params)
    batch = x.shape[0]
    c_static, k = _check_c(c, c_max, batch)
    if c_static == 0:
        return jax.grad(lambda p: jnp.mean(loss(p, x, y)))(params)
    c_use = c_static if c_static is not None else c
    f = mlp_factors(loss, params, x, y)
    plan = _mlp_tile_plan(f, MLP_TILE_ROWS, MLP_TILE_COLS)
    dtype = plan.left.dtype
    # at least two tiles: a single-trip loop would be inlined and its kernel re-fused per consumer
    n_tiles = max(2, len(plan.left_index))
    left_index = jnp.asarray(np.resize(plan.left_index, n_tiles))
    right_index = jnp.asarray(np.resize(plan.right_index, n_tiles))

    def tile(t):
        lf = lax.dynamic_index_in_dim(plan.left, left_index[t], 0, keepdims=False)  # (B, R)
        rf = lax.dynamic_index_in_dim(plan.right, right_index[t], 0, keepdims=False)  # (B, C)
        return _winsorized_kernel(lambda i: lf[i][:, None] * rf[i][None, :], batch, c_use, k - 1, dtype)

    out = _tile_loop(n_tiles, tile, (MLP_TILE_ROWS, MLP_TILE_COLS), dtype)
    grads = []
    for first, nr, nc, n_rows, n_cols, transposed in plan.layers:
        block = out[first:first + nr * nc].reshape(nr, nc, MLP_TILE_ROWS, MLP_TILE_COLS)
        block = block.transpose(0, 2, 1, 3).reshape(nr * MLP_TILE_ROWS, nc * MLP_TILE_COLS)[:n_rows, :n_cols]
        if transposed:
            block = block.T
        grads.append({"w": block[:-1], "b": block[-1]})
    return grads


# ============================================================================ coherence


def coherence(loss_fn: LossFn, params: PyTree, x: jax.Array, y: jax.Array, *,
              method: str = "auto") -> jax.Array:
    """Coherence of the per-example gradients: ``alpha = |mean_i g_i|^2 / mean_i |g_i|^2``.

    alpha = 1 when all g_i are equal and 1/m for m orthogonal gradients of equal norm
    (Chatterjee, ICLR 2020, section 2.2; it is also ``|mean g|^2 / (|mean g|^2 + tr Cov g)``).

    Args:
      method: ``"mlp"`` -- squared norms from :func:`mlp_per_example_sq_norms`, no per-example
        gradients (needs ``loss_fn`` an :class:`MLPLoss`); ``"vmap"`` -- materialise the per-example
        gradients; ``"auto"`` -- ``"mlp"`` for an :class:`MLPLoss`, else ``"vmap"``.
    Returns a scalar (NaN when every g_i is zero).
    """
    if method == "auto":
        method = "mlp" if isinstance(loss_fn, MLPLoss) else "vmap"
    if method == "mlp":
        if not isinstance(loss_fn, MLPLoss):
            raise ValueError("method='mlp' needs loss_fn=pergrad.MLPLoss(...) (an MLP and a loss of its "
                             "outputs); use method='vmap' for other losses")
        f = mlp_factors(loss_fn, params, x, y)
        sq_norms = sum((jnp.sum(a * a, axis=1) + 1.0) * jnp.sum(d * d, axis=1)
                       for a, d in zip(f.inputs, f.deltas))
        mean_sq = sum(jnp.sum(leaf * leaf) for leaf in jax.tree_util.tree_leaves(_mlp_mean_grad(f)))
        return mean_sq / jnp.mean(sq_norms)
    if method == "vmap":
        g = per_example_grads(loss_fn, params, x, y)
        leaves = jax.tree_util.tree_leaves(g)
        mean_sq = sum(jnp.sum(jnp.mean(l, axis=0) ** 2) for l in leaves)
        per_sq = sum(jnp.sum(l.reshape(l.shape[0], -1) ** 2, axis=1) for l in leaves)
        return mean_sq / jnp.mean(per_sq)
    raise ValueError(f"method must be 'auto', 'mlp' or 'vmap', got {method!r}")


def mean_pairwise_cosine(g: jax.Array) -> jax.Array:
    """Mean of ``cos(G_i, G_j)`` over all pairs i < j of the rows of G (M, P): scalar.

    Computed from the Gram matrix of the normalised rows: ``(sum(N N^T) - M) / (M (M - 1))``
    with ``N_i = G_i / |G_i|``. A zero row has cosine 0 with every other row.
    """
    g = jnp.asarray(g)
    if g.ndim != 2 or g.shape[0] < 2:
        raise ValueError(f"G must be (M, P) with M >= 2 rows (one per gradient), got shape {g.shape}")
    norms = jnp.linalg.norm(g, axis=1, keepdims=True)
    unit = jnp.where(norms > 0, g / jnp.where(norms > 0, norms, 1.0), 0.0)
    gram = unit @ unit.T
    m = g.shape[0]
    return (jnp.sum(gram) - jnp.trace(gram)) / (m * (m - 1))


# ============================================================================ pristine / corrupt groups


def _as_masks(mask: jax.Array, batch: int) -> jax.Array:
    mask = jnp.asarray(mask)
    if mask.dtype != jnp.bool_:
        raise ValueError(f"mask must be boolean (True = pristine), got dtype {mask.dtype}")
    if mask.shape[-1:] != (batch,):
        raise ValueError(f"mask must have the batch size {batch} as its last axis, got shape {mask.shape}")
    return mask


def group_alphas_many(loss_fn: LossFn, params: PyTree, x: jax.Array, y: jax.Array,
                      masks: jax.Array) -> dict[str, jax.Array]:
    """:func:`group_alphas` for a stack of masks (K, B), sharing one forward pass: values (K,).

    Generic losses: one backward pass per mask plus one for g, batched with ``vmap``. An
    :class:`MLPLoss` uses :func:`mlp_factors` (one forward and one backward pass) and one matrix
    product per layer and mask, ``a^T (m * delta)``.
    """
    _check_batch(x, y)
    masks = _as_masks(masks, x.shape[0])
    if masks.ndim != 2:
        raise ValueError(f"masks must be (K, B), got shape {masks.shape}")
    if isinstance(loss_fn, MLPLoss):
        f = mlp_factors(loss_fn, params, x, y)
        weights = masks.astype(f.losses.dtype)
        total = jnp.concatenate([jnp.concatenate([(a.T @ d).ravel(), jnp.sum(d, axis=0)])
                                 for a, d in zip(f.inputs, f.deltas)])
        group = jnp.concatenate([jnp.concatenate([jnp.einsum("bi,kb,bo->kio", a, weights, d).reshape(len(weights), -1),
                                                  weights @ d], axis=1)
                                 for a, d in zip(f.inputs, f.deltas)], axis=1)
    else:
        losses, vjp = jax.vjp(lambda p: loss_fn(p, x, y), params)
        weights = masks.astype(losses.dtype)
        cotangents = jnp.concatenate([jnp.ones_like(losses)[None], weights])
        grads = jax.vmap(lambda w: ravel(vjp(w)[0]))(cotangents)  # (K + 1, P): g, then each g_p
        total, group = grads[0], grads[1:]
    sq = jnp.vdot(total, total)
    dot_p = group @ total
    dot_c = sq - dot_p
    rest = total[None] - group  # g_c for each mask
    norm_p, norm_c = jnp.linalg.norm(group, axis=1), jnp.linalg.norm(rest, axis=1)
    return {
        "alpha_p": dot_p / sq, "alpha_c": dot_c / sq,
        "dot_p": dot_p, "dot_c": dot_c, "sq_norm": jnp.broadcast_to(sq, dot_p.shape),
        "norm": jnp.broadcast_to(jnp.sqrt(sq), dot_p.shape), "norm_p": norm_p, "norm_c": norm_c,
        "cos_pc": jnp.sum(group * rest, axis=1) / (norm_p * norm_c),
        "n_p": jnp.sum(weights, axis=1), "n_c": jnp.sum(1.0 - weights, axis=1),
    }


def group_alphas(loss_fn: LossFn, params: PyTree, x: jax.Array, y: jax.Array,
                 mask: jax.Array) -> dict[str, jax.Array]:
    """Split the summed gradient into a pristine and a corrupt part (Coherent Gradients, section 2.4).

    With ``g_p = grad sum_{i in mask} l_i``, ``g_c = grad sum_{i not in mask} l_i`` and
    ``g = g_p + g_c`` (one backward pass per group, no per-example gradients)::

        alpha_p = <g, g_p> / |g|^2,   alpha_c = <g, g_c> / |g|^2,   alpha_p + alpha_c = 1:

    the fractions of the first-order loss decrease ``eta |g|^2`` due to each group (cross terms
    split equally). Returns scalars: alpha_p, alpha_c, dot_p = <g, g_p>, dot_c = |g|^2 - dot_p,
    sq_norm = |g|^2, norm = |g|, norm_p, norm_c, cos_pc = cos(g_p, g_c) (NaN for an empty group)
    and the group sizes n_p, n_c. An :class:`MLPLoss` takes the factored fast path.

    Args:
      mask: (B,) bool, True for pristine examples.
    """
    _check_batch(x, y)
    mask = _as_masks(mask, x.shape[0])
    if mask.ndim != 1:
        raise ValueError(f"mask must be (B,), got shape {mask.shape}; use group_alphas_many for a stack")
    return {k: v[0] for k, v in group_alphas_many(loss_fn, params, x, y, mask[None]).items()}


def null_masks(key: jax.Array, mask: jax.Array, k: int) -> jax.Array:
    """``k`` null-world masks (k, B): random permutations of ``mask`` (same number of True).

    In a null world the pristine/corrupt designation carries no information (Coherent
    Gradients, section 2.4); feed the result to :func:`group_alphas_many`.
    """
    mask = jnp.asarray(mask)
    if mask.dtype != jnp.bool_ or mask.ndim != 1:
        raise ValueError(f"mask must be a (B,) bool array, got shape {mask.shape} dtype {mask.dtype}")
    if int(k) < 1:
        raise ValueError(f"k (the number of null worlds) must be >= 1, got {k}")
    return jax.vmap(lambda kk: jax.random.permutation(kk, mask))(jax.random.split(key, int(k)))


def group_contributions(dot_p: jax.Array, dot_c: jax.Array, n_p: jax.Array | float,
                        n_c: jax.Array | float, axis: int = 0) -> dict[str, jax.Array]:
    """Mean cumulative contribution of one pristine / one corrupt example to the loss decrease.

    The Coherent Gradients paper's Figure 3 (section 2.4): with ``m_p``, ``m_c`` the numbers of
    pristine and corrupt examples,

        f_p(t) = (1 / m_p) sum_{s <= t} alpha_p(s) |g(s)|^2 = (1 / m_p) sum_{s <= t} <g(s), g_p(s)>,
        f_c(t) = (1 / m_c) sum_{s <= t} alpha_c(s) |g(s)|^2,

    which are, to first order and up to the learning rate, the loss decrease accumulated up
    to step t per pristine and per corrupt example (``dL ~ -eta |g|^2`` per step).

    Args:
      dot_p, dot_c: ``<g, g_p>`` and ``<g, g_c>`` at successive steps along ``axis`` (the
        ``dot_p``/``dot_c`` of :func:`group_alphas`, stacked over steps).
      n_p, n_c: group sizes, broadcasting against the inputs (constant or per step).
    Returns ``{"f_p": ..., "f_c": ...}`` with the shape of the inputs (NaN for an empty group).
    """
    dot_p, dot_c = jnp.asarray(dot_p), jnp.asarray(dot_c)
    if dot_p.shape != dot_c.shape or dot_p.ndim < 1:
        raise ValueError(f"dot_p and dot_c must be arrays of the same shape with a step axis, got "
                         f"{dot_p.shape} and {dot_c.shape}")
    n_p, n_c = jnp.asarray(n_p, dot_p.dtype), jnp.asarray(n_c, dot_p.dtype)

    def per_example(dots, n):
        step = jnp.where(n > 0, dots / jnp.where(n > 0, n, 1.0), jnp.nan)
        return jnp.cumsum(step, axis=axis)

    return {"f_p": per_example(dot_p, n_p), "f_c": per_example(dot_c, n_c)}


__all__ = [
    "per_example_grads", "ravel", "winsorize", "winsorized_mean", "rm3", "median3", "RM3State",
    "MLPLoss", "MLPFactors", "mlp_factors", "mlp_per_example_sq_norms", "mlp_winsorized_grad",
    "coherence", "mean_pairwise_cosine", "group_alphas", "group_alphas_many", "null_masks",
    "group_contributions",
]
