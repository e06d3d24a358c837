"""Numba kernel of the EIE engine: one M x V on interleaved PEs (docs/models/eie.md, "Timing").

The kernel takes only arrays and scalars; its pure-NumPy twin ``eie_mv`` in ``_reference.py``
steps the same machine cycle by cycle and the tests require identical results. This kernel is the
event form of that machine: each broadcast and each PE start is computed from the rules below
instead of stepping idle cycles, which is exact because every rule is a max-plus recurrence.

Per pass ``p`` (local rows ``[p*regs, (p+1)*regs)`` of every PE; one pass unless a PE owns more
output rows than its destination register file holds), ``a`` indexes the non-zero activations in
position order (``cols[a]``), ``k`` the PEs, ``t0`` the pass start:

* scan (LNZD tree examines ``scan_rate`` positions per cycle and holds while the broadcast
  stalls): ``ready_a = s_{a-1} + ceil((cols[a] - cols[a-1]) / scan_rate)``, ``s_{-1} = t0 - 1``,
  ``cols[-1] = -1``;
* flow control (a queue slot is held from the broadcast until the PE finishes that column, and the
  root sees a freed slot ``credit_latency`` cycles later):
  ``s_a = max(ready_a, max_k f[k, a - D] + credit_latency)``;
* PE: ``start[k, a] = max(s_a + bcast_latency, f[k, a-1])``,
  ``f[k, a] = start + max(min_cycles, n[k, a])`` with ``n`` the stored entries (padding included)
  of column ``cols[a]`` in the pass rows of PE ``k``;
* pass end: ``max(max_k f[k, A-1], scan_done) + pipeline_depth`` with
  ``scan_done = s_{A-1} + ceil((n_pos - 1 - cols[A-1]) / scan_rate) + 1``; passes after the first
  also wait ``flush_cycles`` (destination registers written to the activation SRAM).

Counted on the way: spmat line reads (a line holds ``entries_per_line`` entries; the last line read
stays in a one-line buffer), pointer-pair reads (one per PE per broadcast column per pass),
accumulator bypasses (an entry whose row equals the row of the PE's previous entry), and the
functional result ``y += W[:, cols] @ act`` from the stored values (a check of the mapping).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# columns of the per-PE statistics array returned by eie_mv
BUSY, ENTRY, REAL, LINES, BYPASS, PTR = 0, 1, 2, 3, 4, 5
N_PE_STATS = 6
# entries of the scalar statistics array
S_BROADCASTS, S_CREDIT_STALL, S_SCAN_CYCLES, S_PASSES = 0, 1, 2, 3
N_SCALARS = 4


@njit(cache=True)
def _ceil_div(a, b):
    return (a + b - 1) // b


@njit(cache=True)
def eie_mv(pe_ptr, pe_base, flat_index, flat_values, table, is_pad, cols, act, n_pos, n_pe, local_rows, regs,
           queue_depth, min_cycles, scan_rate, bcast_latency, credit_latency, pipeline_depth,
           entries_per_line, flush_cycles, y):
    """Simulate one M x V; returns ``(cycles, per_pe_stats (n_pe, 6), scalars (4,))``.

    ``pe_ptr`` (n_pe, n_cols + 1) and ``pe_base`` (n_pe,) locate PE k's entries of column j at
    ``pe_base[k] + pe_ptr[k, j] ... pe_base[k] + pe_ptr[k, j + 1]`` in ``flat_index`` (relative
    row index: zeros before the entry within the PE's rows), ``flat_values`` and ``is_pad``.
    ``table`` (float64) decodes stored codes (``table[flat_values]``); when empty the stored values are
    used as they are. ``y`` (n_rows,) is accumulated in place (the functional result; pass an empty
    array to skip it).

    Two phases with the same result as one interleaved loop: (1) per PE, walk its stored entries of
    the broadcast columns in storage order (streaming through the PE's own arrays) and record the
    cycles of every (pass, column) plus line reads, bypasses and the product; (2) per pass, run the
    broadcast / queue / PE timing recurrence over those cycle counts.
    """
    decode = table.shape[0] > 0
    functional = y.shape[0] > 0
    n_act = cols.shape[0]
    n_pass = max(1, _ceil_div(local_rows, regs))
    stats = np.zeros((n_pe, N_PE_STATS), np.int64)
    scal = np.zeros(N_SCALARS, np.int64)
    work = np.empty((n_pass, n_pe, n_act), np.int64)
    cursor = np.empty(n_act, np.int64)
    currow = np.empty(n_act, np.int64)
    # phase 1: per-PE work, storage-order walk
    for k in range(n_pe):
        base = pe_base[k]
        for a in range(n_act):
            cursor[a] = base + pe_ptr[k, cols[a]]
            currow[a] = -1
        for p in range(n_pass):
            hi = (p + 1) * regs
            line_buf = -1
            last_row = -1
            for a in range(n_act):
                j = cols[a]
                idx = cursor[a]
                stop = base + pe_ptr[k, j + 1]
                row = currow[a]
                first = idx
                n = 0
                real = 0
                first_row = -1
                av = act[a]
                while idx < stop:
                    r = row + flat_index[idx] + 1
                    if r >= hi:
                        break
                    if n == 0:
                        first_row = r
                    if not is_pad[idx]:
                        real += 1
                        if not functional:
                            pass
                        elif decode:
                            y[r * n_pe + k] += table[int(flat_values[idx])] * av
                        else:
                            y[r * n_pe + k] += flat_values[idx] * av
                    row = r
                    idx += 1
                    n += 1
                cursor[a] = idx
                currow[a] = row
                if n > 0:
                    off0 = first - base
                    l0 = off0 // entries_per_line
                    l1 = (off0 + n - 1) // entries_per_line
                    reads = l1 - l0 + 1
                    if l0 == line_buf:
                        reads -= 1
                    line_buf = l1
                    stats[k, LINES] += reads
                    if first_row == last_row:
                        stats[k, BYPASS] += 1
                    last_row = row
                w = n if n > min_cycles else min_cycles
                work[p, k, a] = w
                stats[k, BUSY] += w
                stats[k, ENTRY] += n
                stats[k, REAL] += real
                stats[k, PTR] += 1
    # phase 2: timing
    ring = np.zeros((queue_depth, n_pe), np.int64)  # finish cycle of the last D columns per PE
    fin = np.zeros(n_pe, np.int64)
    t0 = 0
    end = 0
    for p in range(n_pass):
        if p > 0:
            t0 = end + flush_cycles
        for k in range(n_pe):
            fin[k] = t0
        s_prev = t0 - 1
        j_prev = -1
        for a in range(n_act):
            j = cols[a]
            s = s_prev + _ceil_div(j - j_prev, scan_rate)
            ready = s
            slot = a % queue_depth
            if a >= queue_depth:
                for k in range(n_pe):
                    f = ring[slot, k] + credit_latency
                    if f > s:
                        s = f
            scal[S_CREDIT_STALL] += s - ready
            s_prev = s
            j_prev = j
            arrive = s + bcast_latency
            for k in range(n_pe):
                st = arrive if arrive > fin[k] else fin[k]
                fin[k] = st + work[p, k, a]
                ring[slot, k] = fin[k]
        scan_done = s_prev + _ceil_div(n_pos - 1 - j_prev, scan_rate) + 1
        scal[S_SCAN_CYCLES] += scan_done - t0
        end = scan_done
        for k in range(n_pe):
            if fin[k] > end:
                end = fin[k]
        end += pipeline_depth
        scal[S_BROADCASTS] += n_act
    scal[S_PASSES] = n_pass
    return end, stats, scal
