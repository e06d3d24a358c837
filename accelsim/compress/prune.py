"""Element and sub-matrix pruning: pure functions returning a bool mask of the kept weights.

All functions take the ``(rows = outputs, cols = reduction inputs)`` weight matrix (or any array
for the element-wise ones), never modify it, and keep an exact number of weights:
``round(density * size)``, at least one (ties broken by position, deterministically). Randomness comes only
from an explicit ``rng``. Equations: ``docs/compression.md``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import numpy as np

from accelsim.compress import _kernels as K
from accelsim.errors import CompressionError


def check_sparsity(sparsity: float, what: str = "sparsity") -> float:
    s = float(sparsity)
    if not 0.0 <= s < 1.0 or s != s:
        raise CompressionError(f"{what} must be in [0, 1); got {sparsity!r}")
    return s


def _keep_count(size: int, sparsity: float) -> int:
    """Weights (or blocks) kept of ``size``: ``round(density * size)`` (Python's round: a tie to the even
    count), at least one (a density above 0 never empties a layer: a block larger than the layer, or a density
    under ``0.5 / size``, rounded to none). A recipe's density reaches here as ``sparsity = 1 - density``, whose
    rounding moves a tie by ~1e-16 x size (density 0.013 of 500 weights: 6.500000000000006): a count within
    that of a half is taken as the half, so the tie goes as ``round(density * size)`` sends it."""
    if not size:
        return 0
    kept = (1.0 - check_sparsity(sparsity)) * size
    half = round(kept * 2) / 2
    if half != round(half) and abs(kept - half) <= np.finfo(np.float64).eps * (size + kept):
        kept = half
    return max(1, int(round(kept)))


def _check_finite(scores: np.ndarray, what: str) -> None:
    """Refuse NaN or infinite weights (a pruning mask of them has no meaning; recipes refuse them earlier, at
    ``set_weight``), as the quantizers and encoders do (``formats._finite``). ``scores`` are ``|w|``, so their
    maximum tells it without a temporary of the layer's size (a NaN propagates into it)."""
    if scores.size and not np.isfinite(scores.max()):
        bad = int(scores.size - np.count_nonzero(np.isfinite(scores)))
        raise CompressionError(f"{what}: the weights hold NaN or infinite values ({bad} of {scores.size})")


def _squares(a: np.ndarray, scale: float) -> np.ndarray:
    """``(a / scale) ** 2`` in float64: L2 scores that neither underflow (float32 weights near 1e-30 squared to 0)
    nor overflow (near 1e30, or float64 near 1e200), so they order as the norms do."""
    a = np.asarray(a, np.float64)
    return np.square(a / scale) if scale > 0 else np.square(a)


_SAMPLE = 1 << 16  # sample size of the threshold pre-selection in :func:`_kth_largest`


def _kth_largest(flat: np.ndarray, k: int) -> Any:
    """The ``k``-th largest value of the 1-D array ``flat`` (``1 <= k <= flat.size``), exactly.

    ``np.partition`` of a copy of the whole array, except on large arrays: there a strided sample
    bounds the threshold from one side, only the elements on the kept side of that bound are copied
    and partitioned, and the bound is checked (enough elements on that side, else the whole array
    is partitioned). Used when the kept or the pruned side holds under 1/8 of a large array.
    With ``c >= k`` elements ``>= lo`` the ``k``-th largest is ``>= lo``, so it is
    the ``k``-th largest of those ``c`` (likewise from below), the same value either way.
    """
    n = flat.size
    if n > 16 * _SAMPLE and min(k, n - k) * 8 < n:  # worth it when one side holds under 1/8 of the array
        step = n // _SAMPLE
        sample = np.sort(flat[::step])
        m = sample.size
        if k <= n // 2:  # few kept: candidates above a lower bound
            want = min(m, int(k / n * m * 1.25) + 64)  # sample elements above the bound
            lo = sample[m - want]
            cand = flat[flat >= lo]
            if cand.size >= k:
                return np.partition(cand, cand.size - k)[cand.size - k]
        else:  # most kept: the (n - k)-th smallest, 0-based, among candidates below an upper bound
            r = n - k
            want = min(m, int((r + 1) / n * m * 1.25) + 64)
            hi = sample[want - 1]
            cand = flat[flat <= hi]
            if cand.size >= r + 1:
                return np.partition(cand, r)[r]
    return np.partition(flat, n - k)[n - k]


def _top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` largest scores (stable: among equal scores the earlier position wins), never a score
    at or below 0: a weight (or block) of magnitude 0 is not kept, so a layer with fewer non-zeros than ``k``
    keeps exactly its non-zeros (a sparse format then stores what scipy.sparse would, no explicit zeros)."""
    flat = scores.ravel()
    if k >= flat.size:
        return scores > 0
    if k <= 0:
        return np.zeros(scores.shape, bool)
    # threshold by selection (:func:`_kth_largest`), keep everything above it, then resolve the
    # ties at the threshold by position; the comparison is the mask (no second bool array, no scatter)
    thr = _kth_largest(flat, k)
    mask = flat > max(thr, 0)
    need = k - int(np.count_nonzero(mask))
    if need > 0 and thr > 0:
        mask[np.flatnonzero(flat == thr)[:need]] = True
    return mask.reshape(scores.shape)


_BLOCK = 1 << 16  # elements per block of the streamed magnitude selection (256 KiB of float32 scores)


def _magnitudes(a) -> np.ndarray:
    """``|a|``, signed integers widened first (``np.abs`` of int8's -128 is -128: the largest weight scored lowest)."""
    a = np.asarray(a)
    return np.abs(a.astype(np.float64) if a.dtype.kind == "i" else a)


def _abs_blocks(flat: np.ndarray, block: int = _BLOCK):
    """``(start, |flat[start:start + block]|)`` over ``flat``: the scores a block at a time."""
    for s in range(0, flat.size, block):
        yield s, _magnitudes(flat[s:s + block])


def _kth_largest_abs_f32(flat: np.ndarray, k: int) -> np.float32:
    """The ``k``-th largest of ``np.abs(flat)`` for float32 ``flat``, by its bit pattern: the patterns of
    non-negative floats order as the values (NaN excluded, as the weights are finite), so two passes of
    counts over the scores, a block at a time - the top 16 bits, then the low 16 within the bucket that
    holds the ``k``-th - give the pattern exactly. Memory: two tables of 65,536 counts and a block."""
    hist = np.zeros(1 << 16, np.int64)
    for _, a in _abs_blocks(flat):
        hist += np.bincount(a.view(np.uint32) >> 16, minlength=1 << 16)
    above = np.cumsum(hist[::-1])[::-1]  # elements in buckets >= b
    hi = int(np.flatnonzero(above >= k)[-1])  # the highest bucket with >= k elements at or above it
    need = k - (int(above[hi + 1]) if hi + 1 < hist.size else 0)  # rank of the k-th inside bucket hi
    low = np.zeros(1 << 16, np.int64)
    for _, a in _abs_blocks(flat):
        bits = a.view(np.uint32)
        low += np.bincount(bits[(bits >> 16) == hi] & 0xFFFF, minlength=1 << 16)
    lo = int(np.flatnonzero(np.cumsum(low[::-1])[::-1] >= need)[-1])
    return np.array([(hi << 16) | lo], np.uint32).view(np.float32)[0]


def _kth_largest_abs(flat: np.ndarray, k: int) -> Any:
    """:func:`_kth_largest` of ``np.abs(flat)`` without a full-size copy of the scores on large arrays
    (the same value: the ``k``-th largest is unique): through the sampled bound when one side holds
    under 1/8 (checked as there), else - or when the bound fails - float32 scores by their bit patterns
    (:func:`_kth_largest_abs_f32`: 1.5x a full partition's time, none of its copies); other types
    partition the whole array's scores."""
    n = flat.size
    if n > 16 * _SAMPLE and min(k, n - k) * 8 < n:
        step = n // _SAMPLE
        sample = np.sort(_magnitudes(flat[::step]))
        m = sample.size
        if k <= n // 2:
            want = min(m, int(k / n * m * 1.25) + 64)
            lo = sample[m - want]
            cand = np.concatenate([a[a >= lo] for _, a in _abs_blocks(flat)])
            if cand.size >= k:
                return np.partition(cand, cand.size - k)[cand.size - k]
        else:
            r = n - k
            want = min(m, int((r + 1) / n * m * 1.25) + 64)
            hi = sample[want - 1]
            cand = np.concatenate([a[a <= hi] for _, a in _abs_blocks(flat)])
            if cand.size >= r + 1:
                return np.partition(cand, r)[r]
        del cand
    if n > 16 * _SAMPLE and flat.dtype == np.float32:
        return _kth_largest_abs_f32(flat, k)
    return _kth_largest(_magnitudes(flat), k)


def top_k_abs_mask(weights: np.ndarray, k: int) -> np.ndarray:
    """``_top_k_mask(np.abs(weights), k)`` - the same mask, ties at the threshold resolved by position, no zero kept -
    computed a block of scores at a time: beyond the bool mask, only a block of scores and the
    candidates near the threshold are held (no full-size float copy of the layer)."""
    w = np.asarray(weights)
    flat = w.ravel()
    if k <= 0:
        return np.zeros(w.shape, bool)
    thr = _kth_largest_abs(flat, k) if k < flat.size else 0  # (0 and above: a zero weight is never kept, _top_k_mask)
    mask = np.empty(flat.size, bool)
    for s, a in _abs_blocks(flat):
        np.greater(a, thr, out=mask[s:s + a.size])
    need = k - int(np.count_nonzero(mask))
    if need > 0 and thr > 0:
        for s, a in _abs_blocks(flat):
            hit = np.flatnonzero(a == thr)[:need]
            mask[hit + s] = True
            need -= hit.size
            if need <= 0:
                break
    return mask.reshape(w.shape)


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep the ``round((1 - sparsity) * size)`` largest ``|w|`` (layer-wise magnitude pruning), no zero weight
    (:func:`_top_k_mask`)."""
    w = np.asarray(weights)
    scores = _magnitudes(w)
    _check_finite(scores, "magnitude pruning")
    return _top_k_mask(scores, _keep_count(w.size, sparsity))


def global_magnitude_masks(weights: Mapping[str, np.ndarray], sparsity: float) -> dict[str, np.ndarray]:
    """One magnitude threshold over all layers together (global pruning); exact total keep count."""
    names = list(weights)
    if not names:
        return {}
    flat = np.concatenate([_magnitudes(np.asarray(weights[n])).ravel() for n in names])
    keep = _top_k_mask(flat, _keep_count(flat.size, sparsity))
    out, start = {}, 0
    for n in names:
        size = np.asarray(weights[n]).size
        out[n] = keep[start:start + size].reshape(np.shape(weights[n]))
        start += size
    return out


def global_magnitude_plan(sources: Callable[[], Iterable[tuple[str, np.ndarray]]], sparsity: float
                          ) -> tuple[np.float32, dict[str, int]]:
    """:func:`global_magnitude_masks` of float32 layers without holding their scores together: ``sources()``
    yields ``(name, weights)`` in the masks' order (called three times; each array may be made anew and
    dropped). Returns the threshold and, per layer, how many of its scores equal to it are kept (the
    earliest positions, layer after layer, as there); :func:`threshold_mask` then builds each mask.

    The ``k``-th largest ``|w|`` over every layer comes from the scores' float32 bit patterns (which order
    as the values): counts of the top 16 bits over all layers, then of the low 16 within the bucket that
    holds it (:func:`_kth_largest_abs_f32` over many arrays); a third pass counts each layer's ties.
    Memory: two tables of 65,536 counts and a block of scores."""
    hist = np.zeros(1 << 16, np.int64)
    total = 0
    for _, w in sources():
        flat = np.ravel(w)
        if flat.dtype != np.float32:
            raise CompressionError(f"global_magnitude_plan needs float32 weights; got {flat.dtype}")
        total += flat.size
        for _, a in _abs_blocks(flat):
            hist += np.bincount(a.view(np.uint32) >> 16, minlength=1 << 16)
    k = _keep_count(total, sparsity)
    if k >= total:  # every non-zero kept: threshold 0 (a zero weight is never kept, _top_k_mask), no ties
        return np.float32(0.0), {}
    if k <= 0:
        return np.float32(np.inf), {}
    above = np.cumsum(hist[::-1])[::-1]
    hi = int(np.flatnonzero(above >= k)[-1])
    need = k - (int(above[hi + 1]) if hi + 1 < hist.size else 0)
    low = np.zeros(1 << 16, np.int64)
    for _, w in sources():
        for _, a in _abs_blocks(np.ravel(w)):
            bits = a.view(np.uint32)
            low += np.bincount(bits[(bits >> 16) == hi] & 0xFFFF, minlength=1 << 16)
    low_above = np.cumsum(low[::-1])[::-1]
    lo = int(np.flatnonzero(low_above >= need)[-1])
    thr = np.array([(hi << 16) | lo], np.uint32).view(np.float32)[0]
    ties_left = need - (int(low_above[lo + 1]) if lo + 1 < low.size else 0)  # scores equal to thr still kept
    budget: dict[str, int] = {}
    for name, w in sources():
        if ties_left <= 0:
            break
        equal = sum(int(np.count_nonzero(a == thr)) for _, a in _abs_blocks(np.ravel(w)))
        take = min(equal, ties_left)
        if take:
            budget[name] = take
            ties_left -= take
    return thr, budget


def threshold_mask(weights: np.ndarray, thr: Any, ties: int = 0) -> np.ndarray:
    """``|w| > thr`` plus the first ``ties`` positions where ``|w| == thr`` (a layer's part of
    :func:`global_magnitude_plan`), a block of scores at a time."""
    w = np.asarray(weights)
    flat = w.ravel()
    mask = np.empty(flat.size, bool)
    for s, a in _abs_blocks(flat):
        np.greater(a, thr, out=mask[s:s + a.size])
    need = int(ties) if thr > 0 else 0  # (a zero weight is never kept)
    for s, a in _abs_blocks(flat):
        if need <= 0:
            break
        hit = np.flatnonzero(a == thr)[:need]
        mask[hit + s] = True
        need -= hit.size
    return mask.reshape(w.shape)


def random_mask(shape: tuple[int, ...], sparsity: float, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``round((1 - sparsity) * size)`` kept positions drawn uniformly (the control)."""
    if rng is None:
        raise CompressionError("random pruning needs an rng")
    size = int(np.prod(shape))
    k = _keep_count(size, sparsity)
    mask = np.zeros(size, bool)
    if k * 4 >= size:
        mask[rng.permutation(size)[:k]] = True
        return mask.reshape(shape)
    # sparse case: set positions drawn with replacement until k are set, then clear a uniformly
    # chosen surplus (the set is exchangeable at every stage, so the result is a uniform k-subset)
    count = 0
    while count < k:
        mask[rng.integers(0, size, size=int((k - count) * 1.05) + 16)] = True
        count = int(np.count_nonzero(mask))
    if count > k:
        kept = np.flatnonzero(mask)
        mask[kept[rng.permutation(kept.size)[: count - k]]] = False
    return mask.reshape(shape)


def nm_mask(matrix: np.ndarray, n: int, m: int) -> np.ndarray:
    """N:M along K (axis 1): keep the ``n`` largest ``|w|`` of every group of ``m`` inputs.

    K is padded with zeros to a multiple of ``m``; the padding is never kept.
    """
    if not (isinstance(n, (int, np.integer)) and isinstance(m, (int, np.integer))) or m < 1 or not 0 < n <= m:
        raise CompressionError(f"N:M needs integers 0 < N <= M; got {n}:{m}")
    w = np.asarray(matrix)
    if w.ndim != 2:
        raise CompressionError(f"N:M pruning needs a 2-D matrix; got shape {list(w.shape)}")
    # rows are independent: the float64 scores a block of rows at a time (no full-size copies)
    out = np.empty(w.shape, bool)
    rows = max(1, _BLOCK // max(w.shape[1], 1))
    for r0 in range(0, w.shape[0], rows):
        scores = _magnitudes(w[r0:r0 + rows]).astype(np.float64, copy=False)
        _check_finite(scores, "N:M pruning")
        out[r0:r0 + rows] = K.nm_select(scores, int(n), int(m))
    return out


def block_mask(matrix: np.ndarray, block: tuple[int, int], sparsity: float, norm: str = "l1") -> np.ndarray:
    """Keep whole ``block = (rows, cols)`` tiles with the largest L1 / L2 norm.

    Edge tiles are scored over their valid part; ``round((1 - sparsity) * n_blocks)`` tiles are kept.
    """
    w = np.asarray(matrix)
    if w.ndim != 2:
        raise CompressionError(f"block pruning needs a 2-D matrix; got shape {list(w.shape)}")
    try:
        bh, bw = (int(block[0]), int(block[1]))
    except (TypeError, IndexError, ValueError):
        raise CompressionError(f"block must be a pair of ints; got {block!r}") from None
    if bh < 1 or bw < 1:
        raise CompressionError(f"block sizes must be >= 1; got {list(block)}")
    if norm not in ("l1", "l2"):
        raise CompressionError(f"block norm must be 'l1' or 'l2'; got '{norm}'")
    rows, cols = w.shape
    bh, bw = min(bh, max(rows, 1)), min(bw, max(cols, 1))  # (a block past the matrix is one tile along that axis)
    gr, gc = -(-rows // bh), -(-cols // bw)
    a = _magnitudes(w)
    _check_finite(a, "block pruning")
    pad = np.zeros((gr * bh, gc * bw))
    pad[:rows, :cols] = a if norm == "l1" else _squares(a, float(a.max()) if a.size else 0.0)
    scores = pad.reshape(gr, bh, gc, bw).sum(axis=(1, 3))
    keep = _top_k_mask(scores, _keep_count(scores.size, sparsity))
    full = np.repeat(np.repeat(keep, bh, axis=0), bw, axis=1)
    return full[:rows, :cols].copy()


def channel_scores(weight: np.ndarray, norm: str = "l1") -> np.ndarray:
    """Per-output-channel (axis 0) L1 or L2 norm of a weight tensor (filter pruning scores)."""
    if norm not in ("l1", "l2"):
        raise CompressionError(f"channel norm must be 'l1' or 'l2'; got '{norm}'")
    w = np.asarray(weight).reshape(np.shape(weight)[0], -1)
    out = np.empty(w.shape[0], dtype=np.float64)
    step = max(1, (4 << 20) // max(1, w.shape[1] * 8))  # rows of about 4 MiB: no full-size temporary
    scale = 0.0
    if norm == "l2":  # (squares of |w| / max |w|: no underflow or overflow, float32 weights near 1e-30 or 1e30)
        for i in range(0, w.shape[0], step):
            a = _magnitudes(w[i:i + step])
            _check_finite(a, "channel pruning")
            scale = max(scale, float(a.max()) if a.size else 0.0)
    for i in range(0, w.shape[0], step):
        a = _magnitudes(w[i:i + step])
        if norm == "l1":
            _check_finite(a, "channel pruning")  # (l2: checked by the pass above)
            out[i:i + step] = a.sum(axis=1, dtype=np.float64)
        else:
            out[i:i + step] = _squares(a, scale).sum(axis=1)
    return out if norm == "l1" else np.sqrt(out) * (scale if scale > 0 else 1.0)
