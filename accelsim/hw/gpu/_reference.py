"""Pure-NumPy / Python twins of ``_kernels.py`` (tests compare the two)."""

from __future__ import annotations

import heapq

import numpy as np


def csr_row_stats(indptr, indices, tpr, x_elem_bytes, val_bytes, idx_bytes, sector_bytes, dense_row_bytes):
    n = len(indptr) - 1
    iters = np.zeros(n, np.int64)
    stream = np.zeros(n, np.int64)
    gather = np.zeros(n, np.int64)
    rowsec = np.zeros(n, np.int64)
    per_nz = -(-dense_row_bytes // sector_bytes) if dense_row_bytes > 0 else 0
    for r in range(n):
        start, end = int(indptr[r]), int(indptr[r + 1])
        if end <= start:
            continue
        iters[r] = -(-(end - start) // tpr)
        for c in range(start, end, tpr):
            e = min(c + tpr, end)
            for nbytes in (val_bytes, idx_bytes):
                stream[r] += len(range((c * nbytes) // sector_bytes, (e * nbytes - 1) // sector_bytes + 1))
            gather[r] += len(np.unique((np.asarray(indices[c:e]) * x_elem_bytes) // sector_bytes))
        rowsec[r] = (end - start) * per_nz
    return iters, stream, gather, rowsec


def group_max(values, group):
    """Twin of ``_kernels.group_max``: the maximum of each run of ``group`` consecutive values."""
    values = np.asarray(values, np.float64)
    return np.array([values[i:i + group].max() for i in range(0, len(values), group)], np.float64)


def greedy_schedule(block_cyc, n_sm, slots_per_sm):
    heap = [(0.0, s) for s in range(n_sm * slots_per_sm)]
    heapq.heapify(heap)
    busy = np.zeros(n_sm)
    makespan = 0.0
    for c in block_cyc:
        t, slot = heapq.heappop(heap)
        busy[slot // slots_per_sm] += c
        makespan = max(makespan, t + c)
        heapq.heappush(heap, (t + c, slot))
    return makespan, busy
