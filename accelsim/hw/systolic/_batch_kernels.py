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


@njit(cache=True)
def analytic_units(df, R, C, geoms, if_words, fi_words, of_words, n_samples, max_sweeps):
    """``(ints, floats, exact)`` for the unit geometries ``geoms`` (``N_G`` columns, ``G_*``) on an
    ``R x C`` array of dataflow ``df`` (0 os, 1 ws, 2 is) with SRAMs of ``if_words``, ``fi_words``,
    ``of_words`` words, CALC mode: the ``I_*`` / ``F_*`` columns of each row, and ``exact[i]``
    False where a ratio's numerator or denominator is not exact in float64 (the caller computes
    that row by the per-unit path, whose Python ints divide exactly)."""
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
        reads = A.analytic_unit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, K, if_words, fi_words,
                                g[G_OVERLAP] != 0, n_samples, max_sweeps)
        flts[i, F_IF_DRAM] = reads[0]
        flts[i, F_FI_DRAM] = reads[1]
        flts[i, F_OF_DRAM] = reads[2]
        # §8.6 (analytic.prefetch_margin_cycles)
        first = max(min(b_if, reads[0]), min(b_fi, reads[1]))
        tail = min(reads[2], half)
        ints[i, I_INCL_PREFETCH] = compute + int(math.ceil(first / 10) + math.ceil(tail / C))
    return ints, flts, exact
