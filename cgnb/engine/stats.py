"""Statistics of per-example gradients: coherence, pairwise cosines, pristine/corrupt groups.

Contents
  coherence                  alpha = |mean g_i|^2 / mean |g_i|^2 of a loss's per-example gradients
  gram, mean_pairwise_cosine, coherence_of_rows   the same ideas for given gradient rows (M, P),
  cosine_from_gram, coherence_from_gram           in float64 from their Gram matrix
  group_alphas(_many)        the Coherent Gradients paper's pristine/corrupt decomposition
                             (alpha_p, alpha_c, section 2.4, Figure 2)
  contributions              c_i = <g, g_i>: alpha_p of any designation as a sum (many null worlds)
  null_masks                 random re-designations of the pristine examples (null worlds)
  group_contributions        mean cumulative contribution per pristine / corrupt example (Figure 3)

Losses follow :data:`cgnb.engine.losses.Loss` (per-example, (B,)); an
:class:`cgnb.engine.losses.MLPLoss` takes the factored fast paths of :mod:`cgnb.engine.pergrad`.

A zero gradient has no direction: :func:`mean_pairwise_cosine` raises a ValueError for a zero
row instead of giving it some cosine.

Reference: Chatterjee, "Coherent Gradients", ICLR 2020, sections 2.2 (coherence) and 2.4 (alpha_p, alpha_c).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .losses import Loss, Params
from .pergrad import check_batch, group_sums, per_example

# ============================================================================ coherence


def coherence(loss_fn: Loss, params: Params, x: jax.Array, y: jax.Array, *,
              method: str = "auto") -> jax.Array:
    """Coherence of the per-example gradients: ``alpha = |mean_i g_i|^2 / mean_i |g_i|^2``.

    alpha = 1 when all g_i are equal and 1/m for m orthogonal gradients of equal norm
    (Chatterjee, ICLR 2020, section 2.2; it is also ``|mean g|^2 / (|mean g|^2 + tr Cov g)``).

    Args:
      loss_fn: a per-example loss; x (B, ...), y (B, ...) the batch.
      method: ``"mlp"`` -- the factored MLP gradients (:class:`cgnb.engine.pergrad.MLPFactors`; needs
        ``loss_fn`` an :class:`MLPLoss`), no per-example gradient tensors; ``"vmap"`` -- the
        materialised per-example gradients; ``"auto"`` -- :func:`cgnb.engine.pergrad.per_example`'s choice.
    Returns:
      A scalar (NaN when every g_i is zero).
    Raises:
      ValueError: an unknown ``method``, ``"mlp"`` without an :class:`MLPLoss`, an empty batch.
    """
    forms = {"auto": "auto", "mlp": "factors", "vmap": "materialised"}
    if method not in forms:
        raise ValueError(f"method must be 'auto', 'mlp' or 'vmap', got {method!r}")
    g = per_example(loss_fn, params, x, y, form=forms[method])
    mean_sq = sum(jnp.sum(leaf * leaf) for leaf in jax.tree_util.tree_leaves(g.mean()))
    return mean_sq / jnp.mean(g.sq_norms())


def gram(g: np.ndarray) -> np.ndarray:
    """Inner products of the rows of ``g`` (M, P): (M, M) float64.

    A float32 ``g`` is multiplied in float32 BLAS (the statistics below need only the M x M
    matrix, not P-sized float64 temporaries); other dtypes in float64.
    """
    g = np.asarray(g)
    if g.ndim != 2:
        raise ValueError(f"need a (M, P) array of gradients (one per row), got shape {g.shape}")
    if g.dtype != np.float32:
        g = g.astype(np.float64)
    return (g @ g.T).astype(np.float64)


def cosine_from_gram(m: np.ndarray) -> float:
    """Mean of ``cos(g_j, g_k)`` over all pairs j != k, from the Gram matrix ``m`` (M, M) of M >= 2 rows.

    Raises ValueError when a row is zero (a zero gradient has no direction).
    """
    k = len(m)
    if k < 2:
        raise ValueError(f"need M >= 2 gradients for a pairwise cosine, got {k}")
    norms = np.sqrt(np.clip(np.diag(m), 0, None))
    if np.any(norms == 0):
        raise ValueError(f"{int(np.sum(norms == 0))} of the {k} gradients are zero; a zero gradient has no "
                         f"direction, so its cosine is undefined (drop zero rows first)")
    cos = m / np.outer(norms, norms)
    return float((cos.sum() - np.trace(cos)) / (k * (k - 1)))


def coherence_from_gram(m: np.ndarray) -> float:
    """``alpha = |mean_k g_k|^2 / mean_k |g_k|^2`` from the Gram matrix ``m`` (M, M) of the rows g_k."""
    denominator = np.mean(np.diag(m))
    if denominator == 0:
        raise ValueError("all gradients are zero; coherence is undefined")
    return float(m.sum() / len(m) ** 2 / denominator)


def mean_pairwise_cosine(g: np.ndarray) -> float:
    """Mean cosine similarity over all pairs ``j != k`` of the rows of ``g`` (M, P), M >= 2, in float64.

    Raises ValueError for a zero row: a zero gradient has no direction.
    """
    g = np.asarray(g)
    if g.ndim != 2 or len(g) < 2:
        raise ValueError(f"need a (M, P) array with M >= 2 gradients (one per row), got shape {g.shape}")
    return cosine_from_gram(gram(g))


def coherence_of_rows(g: np.ndarray) -> float:
    """``alpha = |mean_k g_k|^2 / mean_k |g_k|^2`` of the rows of ``g`` (M, P), in float64: in [0, 1],
    1 iff all rows are equal (:func:`coherence` for the per-example gradients of a loss)."""
    g = np.asarray(g)
    if g.ndim != 2 or len(g) < 1:
        raise ValueError(f"need a (M, P) array of gradients (one per row), got shape {g.shape}")
    return coherence_from_gram(gram(g))


# ============================================================================ pristine / corrupt groups


def _as_masks(mask: jax.Array, batch: int) -> jax.Array:
    mask = jnp.asarray(mask)
    if mask.dtype != jnp.bool_:
        raise ValueError(f"mask must be boolean (True = pristine), got dtype {mask.dtype}")
    if mask.shape[-1:] != (batch,):
        raise ValueError(f"mask must have the batch size {batch} as its last axis, got shape {mask.shape}")
    return mask


def _sums_and_dots(grads) -> tuple[jax.Array, ...]:
    """Leaves (K + 1, ...) holding g, then g_p per mask -> |g|^2, <g, g_p>, |g_p|^2, |g_c|^2 and
    <g_p, g_c> (the last four (K,)), summed leaf by leaf (no raveled copies of the gradients)."""
    sq = dot_p = sq_p = sq_c = dot_pc = 0.0
    for leaf in jax.tree_util.tree_leaves(grads):
        total, group = leaf[0], leaf[1:]
        rest = total[None] - group
        axes = tuple(range(1, group.ndim))
        sq = sq + jnp.sum(total * total)
        dot_p = dot_p + jnp.sum(group * total[None], axis=axes)
        sq_p = sq_p + jnp.sum(group * group, axis=axes)
        sq_c = sq_c + jnp.sum(rest * rest, axis=axes)
        dot_pc = dot_pc + jnp.sum(group * rest, axis=axes)
    return sq, dot_p, sq_p, sq_c, dot_pc


def group_alphas_many(loss_fn: Loss, params: Params, x: jax.Array, y: jax.Array,
                      masks: jax.Array) -> dict[str, jax.Array]:
    """:func:`group_alphas` for a stack of masks (K, B), sharing one forward pass: values (K,).

    g and the K group gradients come from :func:`cgnb.engine.pergrad.group_sums` (an MLP's factors:
    one backward pass and one matrix product per layer, ``a^T [delta, m_1 delta, ..., m_K delta]``;
    other losses: one backward pass per row); the sums of squares and dot products are taken leaf
    by leaf.

    Raises:
      ValueError: masks not boolean (K, B), an empty or mismatched batch.
    """
    check_batch(x, y)
    masks = _as_masks(masks, x.shape[0])
    if masks.ndim != 2:
        raise ValueError(f"masks must be (K, B), got shape {masks.shape}")
    weights = masks.astype(jnp.result_type(*jax.tree_util.tree_leaves(params)))  # the losses' dtype
    grads = group_sums(loss_fn, params, x, y, weights)  # leaves (K + 1, ...): g, then each g_p
    sq, dot_p, sq_p, sq_c, dot_pc = _sums_and_dots(grads)
    dot_c = sq - dot_p
    norm_p, norm_c = jnp.sqrt(sq_p), jnp.sqrt(sq_c)
    return {
        "alpha_p": dot_p / sq, "alpha_c": dot_c / sq,
        "dot_p": dot_p, "dot_c": dot_c, "sq_norm": jnp.broadcast_to(sq, dot_p.shape),
        "norm": jnp.broadcast_to(jnp.sqrt(sq), dot_p.shape), "norm_p": norm_p, "norm_c": norm_c,
        "cos_pc": dot_pc / (norm_p * norm_c),
        "n_p": jnp.sum(weights, axis=1), "n_c": jnp.sum(1.0 - weights, axis=1),
    }


def group_alphas(loss_fn: Loss, params: Params, x: jax.Array, y: jax.Array,
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
    check_batch(x, y)
    mask = _as_masks(mask, x.shape[0])
    if mask.ndim != 1:
        raise ValueError(f"mask must be (B,), got shape {mask.shape}; use group_alphas_many for a stack")
    return {k: v[0] for k, v in group_alphas_many(loss_fn, params, x, y, mask[None]).items()}


def contributions(loss_fn: Loss, params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Each example's share of the summed gradient's squared norm: ``c_i = <g, g_i>`` (B,), with
    ``g = sum_i g_i``.

    ``sum_i c_i = |g|^2``, and for any designation of pristine examples P,
    ``alpha_p = sum_{i in P} c_i / |g|^2`` (:func:`group_alphas`): a null world costs one sum over
    these B numbers instead of a backward pass. One backward pass for ``g``, one forward-mode pass
    along it for all ``c_i``; no per-example gradient is formed.

    Args:
      loss_fn: a per-example loss; x (B, ...), y (B, ...) the batch.

    Raises:
      ValueError: an empty or mismatched batch.
    """
    check_batch(x, y)
    g = jax.grad(lambda p: jnp.sum(loss_fn(p, x, y)))(params)
    return jax.jvp(lambda p: loss_fn(p, x, y), (params,), (g,))[1]


def null_masks(key: jax.Array | np.random.Generator, mask: np.ndarray | jax.Array, k: int) -> np.ndarray | jax.Array:
    """``k`` null-world masks per mask: random permutations of ``mask`` (same number of True).

    In a null world the pristine/corrupt designation carries no information (Coherent
    Gradients, section 2.4); feed the result to :func:`group_alphas_many`.

    Args:
      key: a JAX PRNG key -- ``mask`` must be (B,), the result is a (k, B) jax array, permutation j
        drawn with ``jax.random.split(key, k)[j]`` (traceable); or a ``np.random.Generator`` --
        ``mask`` may be (..., B), the result is (..., k, B) numpy, drawn row after row, k each.
      mask: bool, True for pristine.
      k: the number of null worlds, >= 1.
    """
    if int(k) < 1:
        raise ValueError(f"k (the number of null worlds) must be >= 1, got {k}")
    if isinstance(key, np.random.Generator):
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.ndim < 1:
            raise ValueError(f"mask must be a (..., B) bool array, got shape {mask.shape} dtype {mask.dtype}")
        rows = mask.reshape(-1, mask.shape[-1])
        drawn = np.stack([[key.permutation(row) for _ in range(int(k))] for row in rows])
        return drawn.reshape(*mask.shape[:-1], int(k), mask.shape[-1])
    mask = jnp.asarray(mask)
    if mask.dtype != jnp.bool_ or mask.ndim != 1:
        raise ValueError(f"mask must be a (B,) bool array with a JAX key (use a np.random.Generator for "
                         f"stacks of masks), got shape {mask.shape} dtype {mask.dtype}")
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
    "coherence", "gram", "cosine_from_gram", "coherence_from_gram", "mean_pairwise_cosine", "coherence_of_rows",
    "group_alphas", "group_alphas_many", "contributions", "null_masks", "group_contributions",
]
