"""Numba kernels of the GPU model: per-row CSR work from the real pattern, warp cycles, greedy
block-to-SM scheduling. Only arrays and scalars go in; NumPy twins live in ``_reference.py``.
Equations: docs/models/gpu.md, "CSR SpMV / SpMM" and "Scheduling".
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def csr_row_stats(indptr, indices, tpr, x_elem_bytes, val_bytes, idx_bytes, sector_bytes, dense_row_bytes):
    """Per-row work of a CSR kernel in which ``tpr`` threads share one row.

    Returns ``(iters, stream_sectors, gather_sectors, dense_row_sectors)`` per row:
    ``iters`` = ceil(nnz / tpr) loop trips; ``stream_sectors`` = 32-byte sectors of the value and
    column-index arrays the row's chunks touch (from the real row offsets, so misalignment counts);
    ``gather_sectors`` = distinct sectors of the dense operand (element ``col * x_elem_bytes``) each
    chunk of ``tpr`` consecutive non-zeros touches, summed over chunks; ``dense_row_sectors`` =
    sectors of one contiguous dense row of ``dense_row_bytes`` per non-zero (row-major SpMM operand).
    Each row's ``indices`` sorted (``csr_arrays`` sorts them): a chunk's distinct sectors are counted as runs.
    """
    n = indptr.shape[0] - 1
    iters = np.zeros(n, np.int64)
    stream = np.zeros(n, np.int64)
    gather = np.zeros(n, np.int64)
    rowsec = np.zeros(n, np.int64)
    per_nz_rowsec = (dense_row_bytes + sector_bytes - 1) // sector_bytes if dense_row_bytes > 0 else 0
    for r in range(n):
        start = indptr[r]
        end = indptr[r + 1]
        nnz = end - start
        if nnz <= 0:
            continue
        iters[r] = (nnz + tpr - 1) // tpr
        s = 0
        g = 0
        c = start
        while c < end:
            e = min(c + tpr, end)
            s += (e * val_bytes - 1) // sector_bytes - (c * val_bytes) // sector_bytes + 1
            s += (e * idx_bytes - 1) // sector_bytes - (c * idx_bytes) // sector_bytes + 1
            last = -1
            for j in range(c, e):
                sec = (indices[j] * x_elem_bytes) // sector_bytes
                if sec != last:
                    g += 1
                    last = sec
            c = e
        stream[r] = s
        gather[r] = g
        rowsec[r] = nnz * per_nz_rowsec
    return iters, stream, gather, rowsec


@njit(cache=True)
def group_max(values, group):
    """Maximum of each run of ``group`` consecutive values. A warp that processes ``group``
    consecutive rows side by side runs until its longest row is done; a thread block of ``group``
    warps retires when its slowest warp does. ``values`` >= 0 (cycle counts; the maximum starts at 0)."""
    n = values.shape[0]
    ng = (n + group - 1) // group
    out = np.zeros(ng, np.float64)
    for g in range(ng):
        m = 0.0
        for i in range(g * group, min((g + 1) * group, n)):
            if values[i] > m:
                m = values[i]
        out[g] = m
    return out


@njit(cache=True)
def _sift_down(keys, ids, pos, size):
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and (keys[right] < keys[left] or (keys[right] == keys[left] and ids[right] < ids[left])):
            child = right
        if keys[child] < keys[pos] or (keys[child] == keys[pos] and ids[child] < ids[pos]):
            keys[pos], keys[child] = keys[child], keys[pos]
            ids[pos], ids[child] = ids[child], ids[pos]
            pos = child
        else:
            return


@njit(cache=True)
def greedy_schedule(block_cyc, n_sm, slots_per_sm):
    """Greedy block-to-SM scheduling, as the hardware block scheduler does it: blocks are issued
    in order, each to the SM slot that frees first (ties: lowest slot id). Returns
    ``(makespan_cycles, busy_cycles_per_sm)``."""
    n_slots = n_sm * slots_per_sm
    keys = np.zeros(n_slots, np.float64)  # a min-heap of slot free times
    ids = np.arange(n_slots)  # slot id = sm * slots_per_sm + k; initial heap order is valid
    busy = np.zeros(n_sm, np.float64)
    makespan = 0.0
    for b in range(block_cyc.shape[0]):
        t = keys[0]
        slot = ids[0]
        done = t + block_cyc[b]
        busy[slot // slots_per_sm] += block_cyc[b]
        if done > makespan:
            makespan = done
        keys[0] = done
        _sift_down(keys, ids, 0, n_slots)
    return makespan, busy
