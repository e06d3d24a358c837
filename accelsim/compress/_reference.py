"""Pure-NumPy/Python twins of the kernels in ``_kernels.py`` (same names, same results).

Written for clarity, not speed: the tests compare each kernel with its twin on small inputs.
"""

from __future__ import annotations

import numpy as np


def interleaved_counts(indptr, rows, n_cols, n_pe, span):
    counts = np.zeros((n_pe, n_cols), np.int64)
    for c in range(n_cols):
        col_rows = np.asarray(rows[indptr[c]:indptr[c + 1]], np.int64)
        for p in range(n_pe):
            local = col_rows[col_rows % n_pe == p] // n_pe
            if local.size == 0:
                continue
            if span > 0:
                gaps = np.diff(np.concatenate(([-1], local))) - 1
                counts[p, c] = local.size + int(np.sum(gaps // span))
            else:
                counts[p, c] = local.size
    return counts


def interleaved_fill(indptr, rows, n_cols, n_pe, span, pe_ptr, pe_base, out_index, out_src):
    for p in range(n_pe):
        for c in range(n_cols):
            k = pe_base[p] + pe_ptr[p, c]
            last = -1
            for j in range(indptr[c], indptr[c + 1]):
                if rows[j] % n_pe != p:
                    continue
                local = rows[j] // n_pe
                if span > 0:
                    gap = local - last - 1
                    n_pad, rest = divmod(gap, span)
                    for _ in range(n_pad):
                        out_index[k], out_src[k] = span - 1, -1
                        k += 1
                    out_index[k] = rest
                else:
                    out_index[k] = local
                out_src[k] = j
                k += 1
                last = local


def interleaved_decode(pe_ptr, pe_base, index, n_pe, relative):
    n = len(index)
    out_rows = np.empty(n, np.int64)
    out_cols = np.empty(n, np.int64)
    n_cols = pe_ptr.shape[1] - 1
    for p in range(n_pe):
        for c in range(n_cols):
            lo, hi = pe_base[p] + pe_ptr[p, c], pe_base[p] + pe_ptr[p, c + 1]
            seg = np.asarray(index[lo:hi], np.int64)
            local = np.cumsum(seg + 1) - 1 if relative else seg
            out_rows[lo:hi] = local * n_pe + p
            out_cols[lo:hi] = c
    return out_rows, out_cols


def pack_bits(codes, bits):
    n = len(codes)
    stream = []
    for v in codes:
        stream.extend((int(v) >> b) & 1 for b in range(bits))
    n_words = (n * bits + 63) // 64
    words = np.zeros(n_words, np.uint64)
    for i, bit in enumerate(stream):
        if bit:
            words[i // 64] |= np.uint64(1) << np.uint64(i % 64)
    return words


def unpack_bits(words, bits, n):
    out = np.empty(n, np.uint64)
    for i in range(n):
        v = 0
        for b in range(bits):
            pos = i * bits + b
            v |= ((int(words[pos // 64]) >> (pos % 64)) & 1) << b
        out[i] = v
    return out


def kmeans_1d_sorted(x, centroids, max_iter, tol, empty="drop"):
    """Textbook Lloyd's: assign every point to its nearest centroid, recompute means; with ``empty="relocate"``
    an empty cluster takes the point farthest from its centroid (the earliest on a tie), which leaves its cluster."""
    x = np.asarray(x, np.float64)
    c = np.sort(np.asarray(centroids, np.float64))
    k = len(c)
    it = 0
    for it in range(1, max_iter + 1):
        mids = 0.5 * (c[:-1] + c[1:])
        assign = np.searchsorted(mids, x, side="right")
        new = c.copy()
        members = [list(np.flatnonzero(assign == i)) for i in range(k)]
        # (as kmeans.py: only where a point can leave a cluster that keeps another, more points than used clusters)
        relocate = empty == "relocate" and len(x) > sum(1 for m in members if m) and not all(members)
        if relocate:
            dist = np.abs(x - c[assign])
            order = sorted(range(len(x)), key=lambda j: (-dist[j], j))
            for i, j in zip([i for i in range(k) if not members[i]], order):
                members[assign[j]].remove(j)
                members[i] = [j]
        for i in range(k):
            sel = x[members[i]]
            if sel.size:
                new[i] = sel.mean()
        if relocate:
            new = np.sort(new)
        shift = float(np.max(np.abs(new - c))) if k else 0.0
        c = new
        if shift <= tol:
            break
    mids = 0.5 * (c[:-1] + c[1:])
    bounds = np.concatenate(([0], np.searchsorted(x, mids, side="left"), [len(x)])).astype(np.int64)
    return c, bounds, it


def nm_select(scores, n, m):
    rows, k = scores.shape
    groups = -(-k // m)
    pad = np.full((rows, groups * m), -np.inf)
    pad[:, :k] = scores
    g = pad.reshape(rows, groups, m)
    order = np.argsort(-g, axis=2, kind="stable")[:, :, :n]
    keep = np.zeros(g.shape, bool)
    np.put_along_axis(keep, order, True, axis=2)
    keep &= np.isfinite(g)
    return keep.reshape(rows, groups * m)[:, :k].copy()


def nm_pack(mask, n, m):
    rows, k = mask.shape
    groups = -(-k // m)
    mk = np.zeros((rows, groups * m), bool)
    mk[:, :k] = mask
    g = mk.reshape(rows, groups, m)
    over = np.argwhere(g.sum(axis=2) > n)
    if over.size:
        return np.zeros((rows, groups, n), np.int64), np.zeros((rows, groups, n), bool), int(over[0][0]), int(over[0][1])
    order = np.argsort(~g, axis=2, kind="stable")[:, :, :n]
    filler = ~np.take_along_axis(g, order, axis=2)
    return order.astype(np.int64), filler, -1, -1


def nm_gather(matrix, meta, filler, m):
    rows, groups, n = meta.shape
    k = matrix.shape[1]
    pad = np.zeros((rows, groups * m), dtype=matrix.dtype)
    pad[:, :k] = matrix
    vals = np.take_along_axis(pad.reshape(rows, groups, m), meta, axis=2)
    vals[filler] = 0
    return vals


def column_pattern(mask):
    cols, rows = np.nonzero(np.asarray(mask).T)
    indptr = np.zeros(mask.shape[1] + 1, np.int64)
    np.cumsum(np.bincount(cols, minlength=mask.shape[1]), out=indptr[1:])
    return indptr, rows.astype(np.int32)


def scatter_codes(mask, codes_kept, table, codes, values):
    codes[mask] = codes_kept
    values[mask] = table[codes_kept]
