"""Many units in one call: the closed forms (§2) and the CALC-mode analytic memory model (§8.1-8.6)
of every distinct unit geometry of a network (docs/models/systolic.md §9).

:func:`analytic_units` is :func:`accelsim.hw.systolic.model.closed_form` followed by
:func:`accelsim.hw.systolic.model.analytic_unit_report` (CALC mode) for each row of a geometry
table, in one Numba call instead of three per unit; its twin is that per-unit path, which the tests
compare it with value for value (``tests/test_systolic_batch.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from accelsim.hw.systolic import analytic as A

# geometry table columns (one row per unit geometry): Geometry's fields in order, then flags
G_BATCH, G_H, G_W, G_C, G_FH, G_FW, G_SH, G_SW, G_DH, G_DW, G_K, G_EH, G_EW, G_OVERLAP = range(14)
N_G = 14

# integer results
I_SR, I_SC, I_T, I_ROW_FOLDS, I_COL_FOLDS, I_FOLDS, I_PER_FOLD, I_COMPUTE, I_IF_SRAM, I_FI_SRAM, I_OF_SRAM, \
    I_MACS, I_INCL_PREFETCH = range(13)
N_I = 13
# float results
F_MAP_EFF, F_COMPUTE_UTIL, F_OVERALL_UTIL, F_IF_DRAM, F_FI_DRAM, F_OF_DRAM = range(6)
N_F = 6

#: products above this are not exact in float64: such rows are computed by the per-unit path
EXACT_FLOAT = 1 << 53


def reuse_table(geoms: np.ndarray, n_samples: int) -> tuple:
    """:func:`analytic.reuse_neighbours` of every overlapping-window row of ``geoms``, concatenated:
    ``(rows, p, t, start, p2, t2)``, row ``i``'s samples ``rows[i]:rows[i + 1]`` with their accesses
    at ``start[j]:start[j + 1]`` of ``p2`` / ``t2`` (§9.2: they depend on the geometry alone)."""
    n = geoms.shape[0]
    rows = np.zeros(n + 1, np.int64)
    parts = []
    n_samples_so_far = n_nb = 0
    for i in range(n):
        g = geoms[i].tolist()
        if g[G_OVERLAP]:
            p, t, start, p2, t2 = A.reuse_neighbours(*g[G_BATCH:G_DW + 1], g[G_EH], g[G_EW], n_samples)
            parts.append((p, t, start[:-1] + n_nb, p2, t2))
            n_samples_so_far += p.shape[0]
            n_nb += p2.shape[0]
        rows[i + 1] = n_samples_so_far
    if not parts:
        empty = np.empty(0, np.int64)
        return rows, empty, empty, np.zeros(1, np.int64), empty, empty
    p, t, start, p2, t2 = (np.concatenate(c) for c in zip(*parts))
    return rows, p, t, np.append(start, n_nb), p2, t2


def reuse_positions_table(df, R, C, geoms, rows, p, t, start, p2, t2) -> tuple:
    """:func:`analytic.reuse_positions` of every geometry of a :func:`reuse_table` on an ``R x C`` array
    of dataflow ``df``, in one kernel call: ``(cur, prev, last)``, aligned with its samples."""
    counts = np.diff(rows)
    npx = np.repeat(geoms[:, G_BATCH] * geoms[:, G_EH] * geoms[:, G_EW], counts)
    win = np.repeat(geoms[:, G_FH] * geoms[:, G_FW] * geoms[:, G_C], counts)
    return A.reuse_positions(df, R, C, npx, win, p, t, start, p2, t2)


@njit(cache=True)
def analytic_units(df, R, C, geoms, if_words, fi_words, of_words, rows, cur, prev, last, max_sweeps):
    """``(ints, floats, exact)`` for the unit geometries ``geoms`` (``N_G`` columns, ``G_*``) on an
    ``R x C`` array of dataflow ``df`` (0 os, 1 ws, 2 is) with SRAMs of ``if_words``, ``fi_words``,
    ``of_words`` words, CALC mode: the ``I_*`` / ``F_*`` columns of each row, and ``exact[i]``
    False where a ratio's numerator or denominator is not exact in float64 (the caller computes
    that row by the per-unit path, whose Python ints divide exactly). ``rows``, ``cur``, ``prev``,
    ``last``: the overlapping-window geometries' samples on this array (:func:`reuse_table`'s rows,
    :func:`reuse_positions_table`)."""
    n = geoms.shape[0]
    ints = np.zeros((n, N_I), np.int64)
    flts = np.zeros((n, N_F), np.float64)
    exact = np.ones(n, np.bool_)
    half = of_words // 2
    b_if = 50 * (if_words // 100)
    b_fi = 50 * (fi_words // 100)
    for i in range(n):
        g = geoms[i]
        batch, H, W, Ch, FH, FW = g[G_BATCH], g[G_H], g[G_W], g[G_C], g[G_FH], g[G_FW]
        sh, sw, dh, dw, K, Eh, Ew = g[G_SH], g[G_SW], g[G_DH], g[G_DW], g[G_K], g[G_EH], g[G_EW]
        npx = batch * Eh * Ew
        win = FH * FW * Ch
        # §1.3, §2 (model.closed_form)
        if df == 0:
            sr, sc, t = npx, K, win
        elif df == 1:
            sr, sc, t = win, K, npx
        else:
            sr, sc, t = win, npx, K
        rf = -(-sr // R)
        cf = -(-sc // C)
        folds = rf * cf
        per_fold = t + R + C - 2 if df == 0 else t + 2 * R + C - 2
        util_cycles = per_fold if df == 0 else t + 2 * R + 2 * C - 3
        if df == 0:
            r0, r1, r2 = sr * t * cf, t * sc * rf, sr * sc + folds * (R + C)
        elif df == 1:
            r0, r1, r2 = t * sr * cf, sr * sc, t * sc * rf
        else:
            r0, r1, r2 = sr * sc, sr * t * cf, t * sc * rf
        compute = folds * per_fold - 1
        macs = npx * win * K
        ints[i, I_SR] = sr
        ints[i, I_SC] = sc
        ints[i, I_T] = t
        ints[i, I_ROW_FOLDS] = rf
        ints[i, I_COL_FOLDS] = cf
        ints[i, I_FOLDS] = folds
        ints[i, I_PER_FOLD] = per_fold
        ints[i, I_COMPUTE] = compute
        ints[i, I_IF_SRAM] = r0
        ints[i, I_FI_SRAM] = r1
        ints[i, I_OF_SRAM] = r2
        ints[i, I_MACS] = macs
        den_map = folds * R * C
        den_util = den_map * util_cycles
        den_overall = compute * R * C
        if sr * sc >= EXACT_FLOAT or macs >= EXACT_FLOAT or den_util >= EXACT_FLOAT or den_overall >= EXACT_FLOAT:
            exact[i] = False
            continue
        flts[i, F_MAP_EFF] = (sr * sc) / den_map
        flts[i, F_COMPUTE_UTIL] = (sr * sc * t) / den_util
        flts[i, F_OVERALL_UTIL] = macs / den_overall if compute > 0 else 0.0
        # §8.2-8.5 (analytic.analytic_unit)
        lo, hi = rows[i], rows[i + 1]
        reads = A.unit_reads(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, K, if_words, fi_words,
                             g[G_OVERLAP] != 0, cur[lo:hi], prev[lo:hi], last[lo:hi], max_sweeps)
        flts[i, F_IF_DRAM] = reads[0]
        flts[i, F_FI_DRAM] = reads[1]
        flts[i, F_OF_DRAM] = reads[2]
        # §8.6 (analytic.prefetch_margin_cycles)
        first = max(min(b_if, reads[0]), min(b_fi, reads[1]))
        tail = min(reads[2], half)
        ints[i, I_INCL_PREFETCH] = compute + int(math.ceil(first / 10) + math.ceil(tail / C))
    return ints, flts, exact


# per-layer report columns the counts read (:func:`price_layers`' ``rep_i`` / ``rep_f``, gathered by unit)
R_COMPUTE, R_STALL, R_IF_SRAM, R_FI_SRAM, R_OF_SRAM, R_MACS = range(6)
N_RI = 6
R_IF_DRAM, R_FI_DRAM, R_OF_DRAM = range(3)
N_RF = 3
# integer results per layer
C_COMPUTE, C_STALL, C_CYCLES, C_IF_SRAM, C_FI_SRAM, C_OF_SRAM, C_DRAM_READ, C_DRAM_WRITE, C_W_IF, C_W_FI, C_W_OF \
    = range(11)
N_C = 11
# float results per layer
S_SECONDS, S_STATIC, S_UTIL, S_ENERGY, S_GATED = range(5)
N_S = 5
PJ = 1e-12  # accelsim.energy.estimate.PJ


@njit(cache=True)
def price_layers(rep_i, rep_f, run_u, fast, units, group, slow_g, pack_g, act_g, if_ratio_g, peak_g, filter_ratio,
                 performed, zero_frac, zero_gating, pe_bits, word_bytes, clock_hz, static_w, key_n, key_q, key_pj,
                 key_cat, moving_g, n_cat):
    """Counts, traffic and energy of the array layers of a network (§9.3; ``SystolicModel.count`` and
    the energy of ``HardwareModel.simulate`` per layer, the same operations in the same order).

    ``rep_i`` / ``rep_f``: report values per unit geometry (``R_*`` columns), ``run_u``: each layer's
    unit; per layer its unit count, precision group, stored-over-dense filter ratio, performed MACs
    (float) and zero fraction; per precision group its slow-down, packing factor, activation bits, ifmap DRAM
    factor (``max(1, activation bits / operand width)``), peak MACs/s and energy keys: ``key_n`` keys, key ``k`` summing the action values ``key_q[g, k]``
    (-1 ends the list; the values in ``count_actions`` order), priced ``key_pj`` pJ into category
    ``key_cat``. Returns ``(ints, floats, by_category, key_counts, key_mask, big)``: the ``C_*`` and
    ``S_*`` columns, joules per category and layer, each layer's key counts and the bit mask of its
    nonzero ones, and ``big`` when a count reaches :data:`EXACT_FLOAT` (the caller then prices the
    layers one by one, with Python's ints). Layers with ``fast`` False get counts but no energy."""
    n = run_u.shape[0]
    ci = np.zeros((n, N_C), np.int64)
    cf = np.zeros((n, N_S), np.float64)
    by_cat = np.zeros((n_cat, n), np.float64)
    counts = np.zeros((n, key_q.shape[1]), np.float64)
    mask = np.zeros(n, np.int64)
    vals = np.zeros(11, np.float64)
    big = False
    for j in range(n):
        u = run_u[j]
        g = group[j]
        units_j = units[j]
        slow = slow_g[g]
        compute = rep_i[u, R_COMPUTE] * slow * units_j
        stall = rep_i[u, R_STALL] * units_j
        if_sram = rep_i[u, R_IF_SRAM] * slow * units_j
        fi_sram = rep_i[u, R_FI_SRAM] * slow * units_j
        of_sram = rep_i[u, R_OF_SRAM] * slow * units_j
        if_dram = rep_f[u, R_IF_DRAM] * if_ratio_g[g]  # activations wider than the replay's words move their bits
        fi_dram = rep_f[u, R_FI_DRAM] * filter_ratio[j]
        of_dram = rep_f[u, R_OF_DRAM] * (act_g[g] / pe_bits)
        dram_read = np.int64(np.rint((if_dram + fi_dram) * word_bytes * units_j))
        dram_write = np.int64(np.rint(of_dram * word_bytes * units_j))
        slots = rep_i[u, R_MACS] * units_j * pack_g[g]
        perf = performed[j]
        gated = perf * zero_frac[j] if zero_gating else 0.0
        active = perf - gated
        cycles = compute + stall
        if slots >= EXACT_FLOAT or cycles >= EXACT_FLOAT or dram_read >= EXACT_FLOAT:
            big = True
        seconds = cycles / clock_hz
        static = static_w * seconds
        peak = peak_g[g]
        util = 0.0
        if seconds > 0 and peak > 0:
            util = min(1.0, perf / (peak * seconds))
        ci[j, C_COMPUTE] = compute
        ci[j, C_STALL] = stall
        ci[j, C_CYCLES] = cycles
        ci[j, C_IF_SRAM] = if_sram
        ci[j, C_FI_SRAM] = fi_sram
        ci[j, C_OF_SRAM] = of_sram
        ci[j, C_DRAM_READ] = dram_read
        ci[j, C_DRAM_WRITE] = dram_write
        ci[j, C_W_IF] = np.int64(np.rint(if_dram * units_j))
        ci[j, C_W_FI] = np.int64(np.rint(fi_dram * units_j))
        ci[j, C_W_OF] = np.int64(np.rint(of_dram * units_j))
        cf[j, S_SECONDS] = seconds
        cf[j, S_STATIC] = static
        cf[j, S_UTIL] = util
        cf[j, S_GATED] = gated
        if not fast[j] or key_n[g] < 0:
            continue
        # the action values in count_actions' order (energy.count_actions): MACs, slots, operand moves, buffers
        s_int = slots * slow
        s_flt = perf * slow
        moving = moving_g[g]
        if slots >= perf:  # max(slots, performed) is the int slots
            two = float(moving * s_int)
            one = float(s_int)
        else:
            two = moving * s_flt
            one = s_flt
        vals[0] = active * slow
        vals[1] = gated * slow
        vals[2] = two
        vals[3] = one
        vals[4] = two
        vals[5] = 0.0 if moving == 2 else one
        vals[6] = float(if_sram)
        vals[7] = float(fi_sram)
        vals[8] = float(of_sram)
        vals[9] = float(dram_read * 8)
        vals[10] = float(dram_write * 8)
        energy = 0.0
        bits = 0
        for k in range(key_n[g]):
            m = 0.0
            for q in range(key_q.shape[2]):  # equal keys add up in order
                i = key_q[g, k, q]
                if i < 0:
                    break
                m = m + vals[i]
            joules = m * key_pj[g, k] * PJ
            energy = energy + joules
            c = key_cat[g, k]
            by_cat[c, j] = by_cat[c, j] + joules
            counts[j, k] = m
            if m != 0:
                bits |= np.int64(1) << k
        mask[j] = bits
        cf[j, S_ENERGY] = energy + (static if static > 0 else 0.0)
    return ci, cf, by_cat, counts, mask, big
