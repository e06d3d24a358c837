"""Numba kernels of the compressed formats and transforms.

Every kernel takes only arrays and scalars and has a pure-NumPy twin of the same name in
``_reference.py`` that the tests compare it with. Conventions:

* a column-sparse structure is given as ``indptr`` (n_cols + 1) and ``rows`` (row of each kept
  entry, ascending within a column), i.e. the CSC of the kept-entry mask;
* ``n_pe`` interleaves rows: row ``r`` lives on PE ``r % n_pe`` at local row ``r // n_pe``
  (``n_pe = 1`` is plain CSC);
* ``span = 2**index_bits`` for relative indices (a gap of ``g`` zeros before an entry costs
  ``g // span`` padding entries and the entry stores ``g % span``), ``span = 0`` for absolute
  indices (the entry stores its local row, no padding).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def column_pattern(mask):
    """The CSC pattern of a C-ordered bool ``mask`` (rows, cols): ``indptr`` int64 (cols + 1) and
    ``rows`` int32 (ascending within each column), in two row-major passes over the mask (counting,
    then filling) instead of a column-major walk over a row-major array."""
    n_rows, n_cols = mask.shape
    indptr = np.zeros(n_cols + 1, np.int64)
    for r in range(n_rows):
        for c in range(n_cols):
            if mask[r, c]:
                indptr[c + 1] += 1
    for c in range(n_cols):
        indptr[c + 1] += indptr[c]
    rows = np.empty(indptr[n_cols], np.int32)
    cursor = indptr[:-1].copy()
    for r in range(n_rows):
        for c in range(n_cols):
            if mask[r, c]:
                rows[cursor[c]] = r
                cursor[c] += 1
    return indptr, rows


@njit(cache=True)
def interleaved_build(indptr, rows, n_cols, n_pe, span, index_proto, src_proto, with_src):
    """Lay a column pattern out as a row-interleaved CSC, PE-major then column-major.

    Returns ``(counts, pe_ptr, pe_offsets, index, padding, src)``: stored entries (kept + padding)
    per PE per column ``(n_pe, n_cols)``; their running sums per PE ``pe_ptr`` ``(n_pe, n_cols + 1)``;
    the first entry of each PE ``pe_offsets`` ``(n_pe + 1)``; per stored entry the relative index
    (``span > 0``) or local row (``span == 0``) in ``index`` (of ``index_proto``'s type: the stored
    width), whether it is a padding zero in ``padding`` and, when ``with_src``, the position of the
    entry in ``rows`` or -1 for a padding zero in ``src`` (of ``src_proto``'s type: int32 while the
    positions fit; empty without ``with_src``, when the caller's values are already in storage order).
    One kernel for the counting and the filling pass (one compilation instead of two).
    """
    counts = np.zeros((n_pe, n_cols), np.int64)
    last = np.empty(n_pe, np.int64)
    for c in range(n_cols):
        for p in range(n_pe):
            last[p] = -1
        for j in range(indptr[c], indptr[c + 1]):
            r = rows[j]
            p = r % n_pe
            local = r // n_pe
            n = 1
            if span > 0:
                n += (local - last[p] - 1) // span
            counts[p, c] += n
            last[p] = local
    pe_ptr = np.zeros((n_pe, n_cols + 1), np.int64)
    pe_offsets = np.zeros(n_pe + 1, np.int64)
    for p in range(n_pe):
        for c in range(n_cols):
            pe_ptr[p, c + 1] = pe_ptr[p, c] + counts[p, c]
        pe_offsets[p + 1] = pe_offsets[p] + pe_ptr[p, n_cols]
    total = pe_offsets[n_pe]
    out_index = np.empty(total, index_proto.dtype)
    out_pad = np.zeros(total, np.bool_)
    out_src = np.empty(total if with_src else 0, src_proto.dtype)
    cursor = np.empty(n_pe, np.int64)
    for c in range(n_cols):
        for p in range(n_pe):
            cursor[p] = pe_offsets[p] + pe_ptr[p, c]
            last[p] = -1
        for j in range(indptr[c], indptr[c + 1]):
            r = rows[j]
            p = r % n_pe
            local = r // n_pe
            k = cursor[p]
            if span > 0:
                gap = local - last[p] - 1
                while gap >= span:
                    out_index[k] = span - 1
                    out_pad[k] = True
                    if with_src:
                        out_src[k] = -1
                    k += 1
                    gap -= span
                out_index[k] = gap
            else:
                out_index[k] = local
            if with_src:
                out_src[k] = j
            cursor[p] = k + 1
            last[p] = local
    return counts, pe_ptr, pe_offsets, out_index, out_pad, out_src


@njit(cache=True)
def interleaved_decode(pe_ptr, pe_base, index, n_pe, relative):
    """Global row and column of every stored entry (padding included) from the stored arrays."""
    n = index.shape[0]
    out_rows = np.empty(n, np.int64)
    out_cols = np.empty(n, np.int64)
    n_cols = pe_ptr.shape[1] - 1
    for p in range(n_pe):
        for c in range(n_cols):
            pos = -1
            for k in range(pe_base[p] + pe_ptr[p, c], pe_base[p] + pe_ptr[p, c + 1]):
                if relative:
                    pos = pos + index[k] + 1
                else:
                    pos = index[k]
                out_rows[k] = pos * n_pe + p
                out_cols[k] = c
    return out_rows, out_cols


@njit(cache=True)
def pack_bits(codes, bits):
    """Pack unsigned ``codes`` of ``bits`` bits each, LSB first, into uint64 words."""
    n = codes.shape[0]
    n_words = (n * bits + 63) // 64
    words = np.zeros(n_words, np.uint64)
    mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1) if bits < 64 else ~np.uint64(0)
    for i in range(n):
        v = np.uint64(codes[i]) & mask
        bit = i * bits
        w = bit // 64
        off = bit % 64
        words[w] |= v << np.uint64(off)
        if off + bits > 64:
            words[w + 1] |= v >> np.uint64(64 - off)
    return words


@njit(cache=True)
def unpack_bits(words, bits, n):
    """Inverse of :func:`pack_bits`: ``n`` unsigned codes of ``bits`` bits."""
    out = np.empty(n, np.uint64)
    mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1) if bits < 64 else ~np.uint64(0)
    for i in range(n):
        bit = i * bits
        w = bit // 64
        off = bit % 64
        v = words[w] >> np.uint64(off)
        if off + bits > 64:
            v |= words[w + 1] << np.uint64(64 - off)
        out[i] = v & mask
    return out


@njit(cache=True)
def scatter_codes(mask, codes_kept, table, codes, values):
    """Write the shared codes and their values at the kept positions, in one pass: for the ``i``-th
    ``True`` of ``mask`` (1-D, storage order) ``codes[p] = codes_kept[i]`` and ``values[p] =
    table[codes_kept[i]]`` (cast to ``values``' type); other positions are left as they are."""
    j = 0
    for p in range(mask.shape[0]):
        if mask[p]:
            c = codes_kept[j]
            codes[p] = c
            values[p] = table[c]
            j += 1


@njit(cache=True)
def nm_select(scores, n, m):
    """N:M mask along axis 1: the ``n`` largest scores of every group of ``m`` (earliest wins ties)."""
    rows, k = scores.shape
    mask = np.zeros((rows, k), np.bool_)
    for r in range(rows):
        for g0 in range(0, k, m):
            g1 = min(g0 + m, k)
            for _ in range(min(n, g1 - g0)):
                best = -1
                bv = -np.inf
                for j in range(g0, g1):
                    if not mask[r, j] and scores[r, j] > bv:
                        bv = scores[r, j]
                        best = j
                mask[r, best] = True
    return mask


@njit(cache=True)
def nm_pack(mask, n, m, meta_proto):
    """Selectors of an N:M pattern: ``meta (rows, groups, n)`` slot of each stored value (kept slots
    first in position order, then the lowest free slots as zero fillers; of ``meta_proto``'s type:
    uint8 for ``m <= 256``, uint16 up to ``2^16``), ``filler`` flags, and the first (row, group) keeping
    more than ``n`` (-1, -1 when the pattern is N:M)."""
    rows, k = mask.shape
    groups = (k + m - 1) // m
    meta = np.zeros((rows, groups, n), meta_proto.dtype)
    filler = np.zeros((rows, groups, n), np.bool_)
    for r in range(rows):
        for g in range(groups):
            cnt = 0
            for j in range(m):
                pos = g * m + j
                if pos < k and mask[r, pos]:
                    if cnt >= n:
                        return meta, filler, r, g
                    meta[r, g, cnt] = j
                    cnt += 1
            j = 0
            while cnt < n:
                pos = g * m + j
                if not (pos < k and mask[r, pos]):
                    meta[r, g, cnt] = j
                    filler[r, g, cnt] = True
                    cnt += 1
                j += 1
    return meta, filler, -1, -1


@njit(cache=True)
def nm_gather(matrix, meta, filler, m):
    """Stored N:M values ``(rows, groups, n)``: the selected elements, 0 for fillers."""
    rows, groups, n = meta.shape
    k = matrix.shape[1]
    out = np.zeros((rows, groups, n), matrix.dtype)
    for r in range(rows):
        for g in range(groups):
            for t in range(n):
                pos = g * m + meta[r, g, t]
                if not filler[r, g, t] and pos < k:
                    out[r, g, t] = matrix[r, pos]
    return out
