"""Pure-NumPy/Python twin of ``_kernels.eie_mv``: the same machine stepped cycle by cycle.

This is deliberately written as a clocked machine (explicit FIFOs, an LNZD scanner that holds a
found non-zero until the broadcast is allowed, PEs that pop their queue head when idle), not as
the kernel's recurrence, so the tests compare two independent formulations. Slow: small layers only.

One cycle ``t``, in order:

1. each idle PE (its current column finished by ``t``) pops queue heads that have arrived
   (broadcast cycle + ``bcast_latency <= t``) and starts them; a column takes
   ``max(min_cycles, entries)`` cycles (a zero-cycle column lets the next one start in the same cycle);
2. the root may broadcast the non-zero the scanner holds if every PE has fewer than ``queue_depth``
   columns that are broadcast and not yet seen finished (a finish at cycle ``f`` is seen from
   ``f + credit_latency``);
3. a scanner that holds nothing examines the next ``scan_rate`` positions and takes the first
   non-zero among them (it resumes right after that position; it does not scan in the cycle of a
   broadcast or while holding).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from accelsim.hw.eie._kernels import BUSY, BYPASS, ENTRY, LINES, N_PE_STATS, N_SCALARS, PTR, REAL
from accelsim.hw.eie._kernels import S_BROADCASTS, S_CREDIT_STALL, S_PASSES, S_SCAN_CYCLES


def _column_entries(pe_ptr, pe_base, flat_index, is_pad, k, j):
    """[(local_row, offset_in_pe, is_pad, flat_position)] of PE k, column j, from the stored indices."""
    out = []
    row = -1
    for pos in range(pe_base[k] + pe_ptr[k, j], pe_base[k] + pe_ptr[k, j + 1]):
        row = row + int(flat_index[pos]) + 1
        out.append((row, pos - pe_base[k], bool(is_pad[pos]), pos))
    return out


def eie_mv(pe_ptr, pe_base, flat_index, flat_values, table, is_pad, cols, act, n_pos, n_pe, local_rows, regs,
           queue_depth, min_cycles, scan_rate, bcast_latency, credit_latency, pipeline_depth,
           entries_per_line, flush_cycles, y):
    """Same signature and results as the Numba kernel, by explicit cycle stepping."""
    cols = np.asarray(cols, np.int64)
    n_act = cols.size
    nz_at = {int(j): a for a, j in enumerate(cols)}
    n_pass = max(1, -(-local_rows // regs))
    stats = np.zeros((n_pe, N_PE_STATS), np.int64)
    scal = np.zeros(N_SCALARS, np.int64)
    columns = [[_column_entries(pe_ptr, pe_base, flat_index, is_pad, k, int(j)) for j in cols] for k in range(n_pe)]
    end = 0
    for p in range(n_pass):
        lo, hi = p * regs, (p + 1) * regs
        t = 0 if p == 0 else end + flush_cycles
        t_start = t
        queues = [deque() for _ in range(n_pe)]  # (item, arrival cycle)
        pending = [deque() for _ in range(n_pe)]  # finish cycles of broadcast, unseen columns (None = not started)
        finish_of = [dict() for _ in range(n_pe)]
        busy_until = [t] * n_pe
        line_buf = [-1] * n_pe
        last_row = [-1] * n_pe
        pos = 0
        hold = None
        ready_at = None
        sent = 0
        scan_done = None
        def can_send(now):
            for k in range(n_pe):
                while pending[k] and finish_of[k].get(pending[k][0]) is not None \
                        and finish_of[k][pending[k][0]] + credit_latency <= now:
                    pending[k].popleft()
                if len(pending[k]) >= queue_depth:
                    return False
            return True

        def send(now):
            for k in range(n_pe):
                queues[k].append((hold, now + bcast_latency))
                pending[k].append(hold)

        while True:
            # 1. PEs pop and start arrived columns
            for k in range(n_pe):
                while busy_until[k] <= t and queues[k] and queues[k][0][1] <= t:
                    a, _ = queues[k].popleft()
                    ent = [e for e in columns[k][a] if lo <= e[0] < hi]
                    n = len(ent)
                    if n:
                        l0 = ent[0][1] // entries_per_line
                        l1 = ent[-1][1] // entries_per_line
                        stats[k, LINES] += l1 - l0 + 1 - (1 if l0 == line_buf[k] else 0)
                        line_buf[k] = l1
                        if ent[0][0] == last_row[k]:
                            stats[k, BYPASS] += 1
                        last_row[k] = ent[-1][0]
                        for row, _, pad, fpos in ent:
                            if not pad and len(y):  # (an empty y: counts only, as the kernel)
                                value = table[int(flat_values[fpos])] if len(table) else flat_values[fpos]
                                y[row * n_pe + k] += value * act[a]
                    w = max(min_cycles, n)
                    busy_until[k] = t + w
                    finish_of[k][a] = t + w
                    stats[k, BUSY] += w
                    stats[k, ENTRY] += n
                    stats[k, REAL] += sum(1 for e in ent if not e[2])
                    stats[k, PTR] += 1
            # 2. a held non-zero is broadcast when every queue has a free slot
            if hold is not None:
                if can_send(t):
                    send(t)
                    scal[S_CREDIT_STALL] += t - ready_at
                    sent += 1
                    hold = None
                    if pos >= n_pos:
                        scan_done = t + 1
            # 3. the scanner examines the next positions (not in a cycle that held a non-zero)
            elif pos < n_pos:
                stop = min(pos + scan_rate, n_pos)
                found = next((q for q in range(pos, stop) if q in nz_at), None)
                if found is None:
                    pos = stop
                    if pos >= n_pos:
                        scan_done = t + 1
                else:
                    hold = nz_at[found]
                    ready_at = t
                    pos = found + 1
                    if can_send(t):
                        send(t)
                        sent += 1
                        hold = None
                        if pos >= n_pos:
                            scan_done = t + 1
            elif scan_done is None:  # empty vector
                scan_done = t
            if scan_done is not None and hold is None and sent == n_act and all(not q for q in queues):
                end = max(max(busy_until), scan_done) + pipeline_depth
                break
            t += 1
        scal[S_SCAN_CYCLES] += scan_done - t_start
        scal[S_BROADCASTS] += n_act
    scal[S_PASSES] = n_pass
    return end, stats, scal


def _fill_segments(seg, k, c, stored, regs):
    """Write the pass segments of one (PE, column) from its stored entries ``[(local row, real), ...]``."""
    for q in range(seg.shape[1]):
        items = [(x - q * regs, real) for x, real in stored if x // regs == q]
        if items:
            seg[c, q, k] = (len(items), sum(real for _, real in items), items[0][0], items[-1][0])


def segments_from_pattern(indptr, rows, n_pe, span, regs, seg, col_ptr):
    """Twin of ``_kernels.segments_from_pattern``: per (PE, column) list the stored entries, then split by pass."""
    n_cols = seg.shape[0]
    counts = np.zeros((n_cols + 1, n_pe), np.int64)
    for c in range(n_cols):
        col = np.asarray(rows[indptr[c]:indptr[c + 1]], np.int64)
        for k in range(n_pe):
            stored, prev = [], -1
            for x in (col[col % n_pe == k] // n_pe).tolist():
                n_pad = (x - prev - 1) // span if span > 0 else 0
                stored += [(prev + span * (i + 1), False) for i in range(n_pad)]
                stored.append((x, True))
                prev = x
            counts[c + 1, k] = len(stored)
            _fill_segments(seg, k, c, stored, regs)
    col_ptr[...] = np.cumsum(counts, axis=0)


def segments_from_layout(pe_ptr, pe_base, flat_index, is_pad, relative, regs, seg):
    """Twin of ``_kernels.segments_from_layout``: decode each (PE, column) run of stored entries."""
    n_pe, n_cols = pe_ptr.shape[0], pe_ptr.shape[1] - 1
    for k in range(n_pe):
        for c in range(n_cols):
            lo, hi = pe_base[k] + pe_ptr[k, c], pe_base[k] + pe_ptr[k, c + 1]
            idx = np.asarray(flat_index[lo:hi], np.int64)
            local = np.cumsum(idx + 1) - 1 if relative else idx
            _fill_segments(seg, k, c, list(zip(local.tolist(), (~np.asarray(is_pad[lo:hi])).tolist())), regs)
