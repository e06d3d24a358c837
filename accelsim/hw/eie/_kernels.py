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


@njit(cache=True, inline="always")
def _broadcast_cycle(a, j, s_prev, j_prev, scan_rate, queue_depth, ring, slot, n_pe, credit_latency):
    """Cycle the root broadcasts activation ``a`` (column ``j``): when the scan reaches it, and not before
    its queue slot's previous occupant is finished by every PE and the credit is back. Returns
    ``(cycle, credit stall cycles)``."""
    s = s_prev + _ceil_div(j - j_prev, scan_rate)
    ready = s
    if a >= queue_depth:
        for k in range(n_pe):
            f = ring[slot, k] + credit_latency
            if f > s:
                s = f
    return s, s - ready


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
    array to skip it). ``bcast_latency`` >= 1 (``lnzd.broadcast_latency``: a broadcast reaches the queues the cycle
    after the LNZD selects it; the cycle-stepped twin pops before it arrives at 0).

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
            slot = a % queue_depth
            s, stall = _broadcast_cycle(a, j, s_prev, j_prev, scan_rate, queue_depth, ring, slot, n_pe, credit_latency)
            scal[S_CREDIT_STALL] += stall
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


# ------------------------------------------------------------------------------------------------
# Pass segments: the per-(column, pass, PE) statistics the timing needs, computed once per layout.
#
# A pass ``p`` of PE ``k`` on column ``j`` processes the stored entries (padding included) whose local
# row lies in ``[p * regs, (p + 1) * regs)``; everything the cycle recurrence and the counters read
# about them is four numbers, stored in ``seg[j, p, k, :]``: the entry count (SEG_N), the
# non-padding count (SEG_REAL) and the local rows of the first and the last entry relative to the
# pass start (SEG_FIRST, SEG_LAST; 0 when empty). Stored entries of one (column, PE) sit on distinct
# local rows, so every number lies in ``[0, regs]`` and ``seg`` is int16 when ``regs < 2**15``.
# ``eie_mv_seg`` then costs O(passes x broadcast columns x PEs) per M x V instead of a walk over every
# stored entry of the broadcast columns, and the segments come either from a stored layout
# (``segments_from_layout``) or straight from the kept-entry pattern of the matrix
# (``segments_from_pattern``), so a PE-count sweep never lays the entries out. PEs are the fastest
# axis: one broadcast column's numbers for all PEs are contiguous, as the timing reads them.
SEG_N, SEG_REAL, SEG_FIRST, SEG_LAST = 0, 1, 2, 3
N_SEG = 4


def segment_dtype(regs: int):
    """int16 when every segment number fits (``regs < 2**15``), else int32."""
    return np.int16 if regs < (1 << 15) else np.int32


@njit(cache=True)
def _add_entry(seg, c, x, k, regs, real):
    q = x // regs
    rel = x - q * regs
    if seg[c, q, k, SEG_N] == 0:
        seg[c, q, k, SEG_FIRST] = rel
    seg[c, q, k, SEG_N] += 1
    seg[c, q, k, SEG_LAST] = rel
    if real:
        seg[c, q, k, SEG_REAL] += 1


@njit(cache=True)
def segments_from_pattern(indptr, rows, n_pe, span, regs, seg, col_ptr):
    """Fill the pass segments ``seg`` ``(n_cols, n_pass, n_pe, 4)`` (zeroed) and the stored-entry
    pointers ``col_ptr`` ``(n_cols + 1, n_pe)`` int64 (zeroed; entries of PE ``k`` before column
    ``j``: ``InterleavedCSC.pe_ptr`` transposed) of the row-interleaved CSC with ``span =
    2**index_bits`` relative indices (``span = 0``: absolute indices, no padding) of the kept
    entries given as a column pattern: ``rows[indptr[c]:indptr[c + 1]]`` ascending global rows of
    column ``c``.

    A gap of ``g`` zeros before an entry on its PE costs ``g // span`` padding entries, each ``span``
    local rows after the previous stored entry (as ``InterleavedCSC`` stores them)."""
    n_cols = seg.shape[0]
    last = np.empty(n_pe, np.int64)
    for c in range(n_cols):
        for k in range(n_pe):
            last[k] = -1
            col_ptr[c + 1, k] = col_ptr[c, k]
        for i in range(indptr[c], indptr[c + 1]):
            r = rows[i]
            k = r % n_pe
            local = r // n_pe
            x = last[k]
            if span > 0:
                while local - x - 1 >= span:  # padding entries
                    x += span
                    _add_entry(seg, c, x, k, regs, False)
                    col_ptr[c + 1, k] += 1
            _add_entry(seg, c, local, k, regs, True)
            col_ptr[c + 1, k] += 1
            last[k] = local


def segments_from_layout(pe_ptr, pe_base, flat_index, is_pad, relative, regs, seg):
    """Fill the pass segments ``seg`` ``(n_cols, n_pass, n_pe, 4)`` (zeroed) of a stored interleaved
    CSC (arrays of ``InterleavedCSC``: PE ``k``'s entries of column ``j`` at ``pe_base[k] +
    pe_ptr[k, j] ... pe_base[k] + pe_ptr[k, j + 1]``; relative or absolute local-row indices).

    Plain NumPy (a handful of passes over the stored entries, no kernel to compile): it runs once per
    layer and PE count, only when the recipe's own layout is modelled. Within a (PE, column) run the
    local rows ascend, so each (column, pass, PE) group is one contiguous stretch of the storage.
    """
    n_cols, n_pass, n_pe, _ = seg.shape
    total = int(flat_index.shape[0])
    if total == 0:
        return
    lengths = np.diff(pe_ptr, axis=1)  # (n_pe, n_cols) entries per run, runs in storage order
    run_pe = np.repeat(np.arange(n_pe), n_cols)
    run_col = np.tile(np.arange(n_cols), n_pe)
    starts = (np.asarray(pe_base)[:, None] + pe_ptr[:, :-1]).ravel()
    run = np.repeat(np.arange(n_pe * n_cols), lengths.ravel())  # the run of every stored entry
    idx = np.asarray(flat_index, np.int64)
    if relative:
        csum = np.cumsum(idx + 1)
        before = np.concatenate(([0], csum))[starts][run]  # csum just before the run
        x = csum - before - 1
    else:
        x = idx
    q = x // regs
    group = (run_col[run] * n_pass + q) * n_pe + run_pe[run]
    edge = np.flatnonzero((np.diff(group) != 0) | (np.diff(run) != 0)) + 1
    first = np.concatenate(([0], edge))
    last = np.concatenate((edge, [total])) - 1
    g = group[first]
    flat = seg.reshape(-1, 4)
    flat[g, 0] = last - first + 1
    flat[g, 1] = np.add.reduceat((~np.asarray(is_pad)).astype(np.int64), first)
    flat[g, 2] = x[first] - q[first] * regs
    flat[g, 3] = x[last] - q[last] * regs


@njit(cache=True)
def eie_mv_seg(col_ptr, seg, cols, col0, n_pos, queue_depth, min_cycles, scan_rate, bcast_latency,
               credit_latency, pipeline_depth, entries_per_line, flush_cycles):
    """:func:`eie_mv` (same machine, same ``(cycles, per_pe_stats, scalars)``) from pass segments.

    ``cols`` are the non-zero activation positions within the column tile ``[col0, col0 + n_pos)``
    (ascending); ``col_ptr`` and ``seg`` cover the whole matrix (global columns ``col0 + cols``).
    Line reads count from the tile's first stored entry of each PE (the tile is loaded alone).
    One loop in broadcast order: each broadcast column's per-PE work is read from its segments as
    the recurrence needs it. No functional product: the stored values are not read (``eie_mv``
    computes it for the tests).
    """
    n_act = cols.shape[0]
    n_pass = seg.shape[1]
    n_pe = seg.shape[2]
    busy = np.zeros(n_pe, np.int64)
    entry = np.zeros(n_pe, np.int64)
    real = np.zeros(n_pe, np.int64)
    lines = np.zeros(n_pe, np.int64)
    bypass = np.zeros(n_pe, np.int64)
    line_buf = np.empty(n_pe, np.int64)
    last_row = np.empty(n_pe, np.int64)
    # entries of each broadcast column already processed in earlier passes (offset of the next)
    done = np.zeros((n_act if n_pass > 1 else 0, n_pe), np.int64)
    scal = np.zeros(N_SCALARS, np.int64)
    ring = np.zeros((queue_depth, n_pe), np.int64)  # finish cycle of the last D columns per PE
    fin = np.zeros(n_pe, np.int64)
    t0 = 0
    end = 0
    for p in range(n_pass):
        if p > 0:
            t0 = end + flush_cycles
        for k in range(n_pe):
            fin[k] = t0
            line_buf[k] = -1
            last_row[k] = -1
        s_prev = t0 - 1
        j_prev = -1
        for a in range(n_act):
            j = cols[a]
            slot = a % queue_depth
            s, stall = _broadcast_cycle(a, j, s_prev, j_prev, scan_rate, queue_depth, ring, slot, n_pe, credit_latency)
            scal[S_CREDIT_STALL] += stall
            s_prev = s
            j_prev = j
            arrive = s + bcast_latency
            jg = col0 + j
            for k in range(n_pe):
                n = np.int64(seg[jg, p, k, SEG_N])
                if n > 0:
                    off0 = col_ptr[jg, k] - col_ptr[col0, k]
                    if n_pass > 1:
                        off0 += done[a, k]
                        done[a, k] += n
                    l0 = off0 // entries_per_line
                    l1 = (off0 + n - 1) // entries_per_line
                    reads = l1 - l0 + 1
                    if l0 == line_buf[k]:
                        reads -= 1
                    line_buf[k] = l1
                    lines[k] += reads
                    if seg[jg, p, k, SEG_FIRST] == last_row[k]:
                        bypass[k] += 1
                    last_row[k] = seg[jg, p, k, SEG_LAST]
                    real[k] += seg[jg, p, k, SEG_REAL]
                    entry[k] += n
                w = n if n > min_cycles else min_cycles
                busy[k] += w
                st = arrive if arrive > fin[k] else fin[k]
                fin[k] = st + w
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
    stats = np.zeros((n_pe, N_PE_STATS), np.int64)
    for k in range(n_pe):
        stats[k, BUSY] = busy[k]
        stats[k, ENTRY] = entry[k]
        stats[k, REAL] = real[k]
        stats[k, LINES] = lines[k]
        stats[k, BYPASS] = bypass[k]
        stats[k, PTR] = n_pass * n_act
    return end, stats, scal
