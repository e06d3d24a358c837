"""Analytic memory model of the systolic array (``memory_model: analytic``; docs/models/systolic.md §8).

The exact model replays SCALE-Sim's read buffers access by access (§3), which costs about a
millisecond per layer. For design-space sweeps this module replaces the replay by an expected-value
model of the same buffers, in microseconds:

* cycles and SRAM accesses are the exact closed forms of §2 (CALC mode never stalls, §8.1);
* OFMAP DRAM writes are every output the array writes (exact, §8.2);
* read fetches follow from one law (§8.3): SCALE-Sim's CALC read buffer is an *epoch cache*
  (an address is fetched unless its previous use lies in the current epoch, and an epoch ends
  every ``B = 50 * floor(S / 100)`` fetches), so a use whose previous use lies ``d`` fetches back
  is a fetch with probability ``min(1, d / B)`` over the epoch phase;
* the distances ``d`` come from the access order of each operand: passes of distinct addresses
  repeated (filters, 1x1 / GEMM ifmaps, §8.4) or, for overlapping convolution windows, the
  previous use of sampled ifmap accesses found among the other (pixel, kernel tap) pairs that read
  the same word (§8.5).

USER bandwidth mode (§8.8) is SCALE-Sim's USER read buffers and OFMAP buffer computed by events, not
expected values: window slides depend on addresses only (:func:`read_events`, set-level over the
prefetch order, binary search between slides), and the stalls follow from them and the OFMAP drains
(:func:`user_timing`).

Kernels are plain functions over scalars and arrays; ``_reference.py`` holds their NumPy twins.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from accelsim.hw.systolic import _kernels as K
from accelsim.hw.systolic._kernels import _dims
from accelsim.hw.systolic._kernels import _row_range as _kern_row_range

# ifmap accesses sampled per layer for overlapping windows (§8.5)
N_SAMPLES = 256
# sweeps of an overlapping-window ifmap computed before the last one is repeated (§8.5)
MAX_SWEEPS = 4
# the R2 sequence (plastic number): well-spread points in the unit square
R2_A1 = 0.7548776662466927
R2_A2 = 0.5698402909980532


@njit(cache=True)
def sample_accesses(npx, win, n):
    """(pixel, window element) pairs to sample: all if ``npx * win <= n``, else ``n`` points of the
    R2 low-discrepancy sequence over the ``npx x win`` grid (every fold phase and kernel tap)."""
    if npx * win <= n:
        p = np.empty(npx * win, np.int64)
        t = np.empty(npx * win, np.int64)
        for i in range(npx * win):
            p[i] = i // win
            t[i] = i - p[i] * win
        return p, t
    p = np.empty(n, np.int64)
    t = np.empty(n, np.int64)
    for i in range(n):
        x = 0.5 + (i + 1) * R2_A1
        y = 0.5 + (i + 1) * R2_A2
        p[i] = int((x - math.floor(x)) * npx)
        t[i] = int((y - math.floor(y)) * win)
    return p, t


@njit(cache=True, inline="always")
def _input_word(p, t, Eh, Ew, FW, Ch, sh, sw, dh, dw):
    """Ifmap word read by (pixel ``p``, window element ``t``): ``(image, kernel row, kernel column,
    channel, input row, input column)``; the row / column may lie past the input edge."""
    per = Eh * Ew
    b = p // per
    q = p - b * per
    oh = q // Ew
    ow = q - oh * Ew
    kh = t // (FW * Ch)
    kw = (t - kh * FW * Ch) // Ch
    ch = t - (kh * FW + kw) * Ch
    return b, kh, kw, ch, oh * sh + kh * dh, ow * sw + kw * dw


@njit(cache=True, inline="always")
def _access_index(df, p, t, R, C, npx, win):
    """Position of ifmap access (pixel ``p``, window element ``t``) in its sweep, in accesses (§8.5)."""
    if df == 0:  # os: row fold of R pixels, window elements in time, skewed by the pixel's column
        fr = p // R
        c = p - fr * R
        ru = min(R, npx - fr * R)
        return fr * R * win + (t + c) * ru + c
    if df == 1:  # ws: row fold of R window elements, pixels in time
        fr = t // R
        c = t - fr * R
        ru = min(R, win - fr * R)
        return fr * R * npx + (p + c) * ru + c
    # is: stationary R x C tiles, column folds (pixel blocks) outer, row folds (window blocks) inner
    fc = p // C
    fr = t // R
    cu = min(C, npx - fc * C)
    return fc * C * win + (fr * R + R - 1 - (t - fr * R)) * cu + (p - fc * C)


@njit(cache=True, inline="always")
def _landing(i, F, d, s, E, pos, taps, pos0, pos_step, tap_step):
    """Along one axis, the outputs ``o`` and taps ``k`` whose window reads input index ``i`` (``o * s + k * d
    = i``, ``o < E``): ``pos[n] = pos0 + o * pos_step``, ``taps[n] = k * tap_step``; returns their count."""
    n = 0
    for k in range(F):
        num = i - k * d
        if num < 0:
            break
        o = num // s
        if o * s == num and o < E:
            pos[n] = pos0 + o * pos_step
            taps[n] = k * tap_step
            n += 1
    return n


@njit(cache=True)
def reuse_neighbours(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, n_samples):
    """The sampled ifmap accesses inside the input and, for each, the other accesses that read the
    same word (§8.5): the geometry's part of :func:`ifmap_reuse_samples`, the same for every array.

    Returns ``(p, t, start, p2, t2)``: sample ``i`` is (pixel ``p[i]``, window element ``t[i]``), and
    the accesses reading its word besides itself are ``(p2[k], t2[k])`` for ``k`` in
    ``start[i]:start[i + 1]``.
    """
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    ps, ts = sample_accesses(npx, win, n_samples)
    cap = ps.shape[0]
    p_a = np.empty(cap, np.int64)
    t_a = np.empty(cap, np.int64)
    start = np.empty(cap + 1, np.int64)
    size = max(cap * (FH * FW - 1), 1)
    p2_a = np.empty(size, np.int64)
    t2_a = np.empty(size, np.int64)
    rows = np.empty(FH, np.int64)  # first pixel of each output row that reads the word, and its tap row
    taps_h = np.empty(FH, np.int64)
    cols = np.empty(FW, np.int64)
    taps_w = np.empty(FW, np.int64)
    per = Eh * Ew
    n = 0
    m = 0
    start[0] = 0
    for i in range(cap):
        p = ps[i]
        t = ts[i]
        b, kh, kw, ch, ih, iw = _input_word(p, t, Eh, Ew, FW, Ch, sh, sw, dh, dw)
        if ih >= H or iw >= W:
            continue
        # every (output row, tap row) and (output column, tap column) that lands on (ih, iw)
        nh = _landing(ih, FH, dh, sh, Eh, rows, taps_h, b * per, Ew, FW)
        nw = _landing(iw, FW, dw, sw, Ew, cols, taps_w, 0, 1, 1)
        for a in range(nh):
            for c in range(nw):
                t2 = (taps_h[a] + taps_w[c]) * Ch + ch
                if t2 == t:
                    continue
                p2_a[m] = rows[a] + cols[c]
                t2_a[m] = t2
                m += 1
        p_a[n] = p
        t_a[n] = t
        n += 1
        start[n] = m
    return p_a[:n], t_a[:n], start[:n + 1], p2_a[:m], t2_a[:m]


@njit(cache=True)
def reuse_positions(df, R, C, npx, win, p, t, start, p2, t2):
    """``(cur, prev, last)`` of :func:`ifmap_reuse_samples` from :func:`reuse_neighbours`' accesses on
    an ``R x C`` array of dataflow ``df``: each sample's position in the sweep, the position of the
    previous use of its word (-1: first use) and of the word's last use, in accesses (§8.5). ``npx``,
    ``win``: each sample's unit's pixels and window elements (so one call serves a network's geometries)."""
    n = p.shape[0]
    cur_a = np.empty(n, np.int64)
    prev_a = np.empty(n, np.int64)
    last_a = np.empty(n, np.int64)
    for i in range(n):
        P, Q = npx[i], win[i]
        cur = _access_index(df, p[i], t[i], R, C, P, Q)
        prev = -1
        last = cur
        for k in range(start[i], start[i + 1]):
            idx = _access_index(df, p2[k], t2[k], R, C, P, Q)
            if idx < cur and idx > prev:
                prev = idx
            if idx > last:
                last = idx
        cur_a[i] = cur
        prev_a[i] = prev
        last_a[i] = last
    return cur_a, prev_a, last_a


def ifmap_reuse_samples(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, n_samples):
    """Sampled ifmap accesses of one sweep with their previous use (§8.5).

    Returns ``(cur, prev, last)``, one entry per sampled access inside the input: its position in
    the sweep, the position of the previous use of the same word in the sweep (-1: first use) and
    the position of the word's last use in the sweep, all in accesses. A plain function around its two
    kernels (compiling it too would only add to a cold start).
    """
    p, t, start, p2, t2 = reuse_neighbours(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, n_samples)
    n = p.shape[0]
    return reuse_positions(df, R, C, np.full(n, batch * Eh * Ew, np.int64), np.full(n, FH * FW * Ch, np.int64), p,
                           t, start, p2, t2)


@njit(cache=True)
def _sweep_fetches(cur, prev, last, w_first, w_reuse, c0, rate, p_c0, p_rate, first_sweep, block):
    """Fetches of one sweep (sampled accesses x their weights) for a fetch count ``c0 + rate * position``.

    A use is a fetch iff an epoch boundary (a multiple of ``block`` fetches) lies between its
    previous use and itself; a first use in the sweep looks back to the word's last use in the
    previous sweep (count ``p_c0 + p_rate * position``), or is compulsory in the first sweep.
    """
    first = 0
    reuse = 0
    for i in range(cur.shape[0]):
        now = math.floor((c0 + rate * cur[i]) / block)
        if prev[i] >= 0:
            reuse += now > math.floor((c0 + rate * prev[i]) / block)
        elif first_sweep:
            first += 1
        else:
            first += now > math.floor((p_c0 + p_rate * last[i]) / block)
    return w_first * first + w_reuse * reuse


@njit(cache=True)
def reuse_fetches(cur, prev, last, w_first, w_reuse, length, block, n_sweeps, max_sweeps):
    """Fetches of an ifmap with overlapping windows over ``n_sweeps`` identical sweeps (§8.5).

    The fetch count grows linearly over a sweep (``F_s / length`` per access); ``F_s`` is the
    least fixed point of :func:`_sweep_fetches`, iterated up from the fetches at rate 0 (causal:
    fetches that do not happen end no epoch). Sweeps after ``max_sweeps`` repeat the last one.
    """
    total = 0.0
    c0 = 0.0
    p_c0 = 0.0
    p_rate = 0.0
    f = 0.0
    s = 0
    while s < min(n_sweeps, max_sweeps):
        f = _sweep_fetches(cur, prev, last, w_first, w_reuse, c0, 0.0, p_c0, p_rate, s == 0, block)
        for _ in range(60):
            nxt = _sweep_fetches(cur, prev, last, w_first, w_reuse, c0, f / length, p_c0, p_rate, s == 0, block)
            if nxt <= f:
                break
            f = nxt
        total += f
        p_c0, p_rate = c0, f / length
        c0 += f
        s += 1
    return total + f * (n_sweeps - s)


@njit(cache=True)
def distinct_fetches(distinct, repeats, block, n_in):
    """Fetches of a pass of ``distinct`` different addresses repeated ``repeats`` times (§8.4; exact).

    ``n_in`` = fetches since the last epoch boundary when the first pass starts. A repeat fetches
    everything again if ``distinct >= block``; otherwise the second pass refetches the prefix that
    the first pass fetched before its last epoch boundary, and later passes fetch nothing.
    Returns ``(fetches, n_in after the last pass)``.
    """
    if distinct <= 0 or repeats <= 0:
        return 0, n_in
    if distinct >= block:
        total = distinct * repeats
        return total, (n_in + total) % block
    first_boundary = block - n_in - 1  # pass position whose fetch ends the epoch
    if first_boundary < distinct:
        prefix = first_boundary + block * ((distinct - 1 - first_boundary) // block) + 1
    else:
        prefix = 0
    n_in = (n_in + distinct) % block
    if repeats == 1:
        return distinct, n_in
    return distinct + prefix, (n_in + prefix) % block


@njit(cache=True)
def _touched(E, F, s, d, size):
    """(window taps inside the input, input positions touched) along one axis of the ifmap."""
    hit = np.zeros(size, np.bool_)
    taps = 0
    for o in range(E):
        for k in range(F):
            i = o * s + k * d
            if i < size:
                taps += 1
                hit[i] = True
    return taps, hit.sum()


@njit(cache=True)
def ifmap_counts(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew):
    """``(accesses, distinct words)`` of the ifmap in one sweep: (pixel, window element) pairs inside
    the input (the others are SCALE-Sim's -1 entries) and the input words they read."""
    taps_r, rows = _touched(Eh, FH, sh, dh, H)
    taps_c, cols = _touched(Ew, FW, sw, dw, W)
    return batch * taps_r * taps_c * Ch, batch * rows * cols * Ch


def analytic_unit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, fi_words,
                  overlapping, n_samples, max_sweeps):
    """``[ifmap DRAM reads, filter DRAM reads, ofmap DRAM writes]`` of one unit in words (§8.2-8.5): a plain
    function around :func:`ifmap_reuse_samples` and :func:`unit_reads`, which the sweeps' batch kernel shares."""
    if overlapping:
        cur, prev, last = ifmap_reuse_samples(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, n_samples)
    else:
        cur = prev = last = np.empty(0, np.int64)
    return unit_reads(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, fi_words,
                      overlapping, cur, prev, last, max_sweeps)


@njit(cache=True)
def unit_reads(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, fi_words,
               overlapping, cur, prev, last, max_sweeps):
    """:func:`analytic_unit` with an overlapping-window ifmap's samples given (:func:`ifmap_reuse_samples`'
    ``cur``, ``prev``, ``last``; a sweep computes them once per geometry and array, §9.2)."""
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    Sr, Sc, T, _, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    b_if = 50 * (if_words // 100)
    b_fi = 50 * (fi_words // 100)
    out = np.zeros(3, np.float64)
    # ifmap: os/ws sweep all pixels x window elements once per column fold; is reads each tile once
    sweeps = col_fold if df != 2 else 1
    valid, distinct = ifmap_counts(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
    if overlapping:
        n_first = (prev < 0).sum()
        n_reuse = cur.shape[0] - n_first
        if n_first > 0:
            # the samples stand for the exact counts: first uses for the distinct words, reuses for the rest
            w_first = distinct / n_first
            w_reuse = (valid - distinct) / n_reuse if n_reuse > 0 else 0.0
            out[0] = reuse_fetches(cur, prev, last, w_first, w_reuse, float(npx) * win, float(b_if), sweeps, max_sweeps)
        out[0] = max(out[0], distinct)  # every word is fetched at least once (also if no sample was inside)
    else:
        out[0] = distinct_fetches(valid, sweeps, b_if, 0)[0]
    # filters: os reads filter block fc (T x cols) in each of its row folds; is sweeps all of them
    # once per column fold; ws holds each tile once
    if df == 0:
        n_in = 0
        got = 0
        for fc in range(col_fold):
            f, n_in = distinct_fetches(T * min(C, Sc - fc * C), row_fold, b_fi, n_in)
            got += f
        out[1] = got
    elif df == 2:
        out[1] = distinct_fetches(win * nfilt, col_fold, b_fi, 0)[0]
    else:
        out[1] = win * nfilt
    # every output (os) or partial sum per row fold (ws, is) the array writes is drained
    out[2] = Sr * Sc if df == 0 else T * Sc * row_fold
    return out


def prefetch_margin_cycles(reads, sizes, cols: int) -> int:
    """Cycles "Total Cycles (incl. prefetch)" adds to the total (§8.6, an estimate): the first read
    epoch fetched before cycle 0 at SCALE-Sim's 10 words a cycle, and the OFMAP buffer's last drain
    (at most half of it) at ``cols`` words a cycle after the last output."""
    first = max(min(50 * (size // 100), r) for size, r in zip(sizes[:2], reads[:2]))
    tail = min(reads[2], sizes[2] // 2)
    return int(math.ceil(first / 10) + math.ceil(tail / cols))


# ==================================================================================================
# USER bandwidth mode (§8.8): SCALE-Sim's read buffers at the level of sets and window slides, the
# late-prefetch recursion and the OFMAP drains as events (never a walk over accesses or demand rows)
# ==================================================================================================
# result vector of user_unit
U_TOTAL = 0
U_STALL = 1
U_IF_DRAM = 2
U_FI_DRAM = 3
U_OF_DRAM = 4
U_IF_DRAM_START = 5
U_IF_DRAM_STOP = 6
U_FI_DRAM_START = 7
U_FI_DRAM_STOP = 8
U_OF_DRAM_START = 9
U_OF_DRAM_STOP = 10
U_IF_SLIDES = 11
U_FI_SLIDES = 12
N_U = 13


@njit(cache=True, inline="always")
def _tri(n):
    return n * (n + 1) // 2 if n > 0 else 0


@njit(cache=True)
def tri_count(a, b, d):
    """``#{(x, y): 0 <= x < a, 0 <= y < b, x + y < d}`` (inclusion-exclusion over the corner)."""
    if a <= 0 or b <= 0 or d <= 0:
        return 0
    return _tri(d) - _tri(d - a) - _tri(d - b) + _tri(d - a - b)


@njit(cache=True)
def operand_layout(df, o, R, C, npx, win, nfilt):
    """``(M, N, Tm, diag, r0, c0)`` of operand ``o``'s stacked prefetch matrix (``_kernels.prefetch_sequence``):
    ``M x N`` read along anti-diagonals (``diag``) or row-major, blocks of ``Tm`` rows; the entries of
    rows ``>= r0`` (the last block) in columns ``>= c0`` are padding lanes (no address)."""
    Sr, Sc, T, _, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    diag = True
    if df == 0:
        if o == 0:
            M, N, Tm, lanes, limit = row_fold * T, R, T, R, npx
        else:
            M, N, Tm, lanes, limit = col_fold * T, C, T, C, nfilt
    elif df == 1:
        if o == 0:
            M, N, Tm, lanes, limit = row_fold * T, R, T, R, win
        else:
            M, N, Tm, lanes, limit = col_fold * win, C, win, C, nfilt
            diag = False
    else:
        if o == 0:
            M, N, Tm, lanes, limit = col_fold * win, C, win, C, npx
            diag = False
        else:
            M, N, Tm, lanes, limit = row_fold * nfilt, R, nfilt, R, win
    nb = M // Tm
    r0 = (nb - 1) * Tm
    c0 = limit - (nb - 1) * lanes
    return M, N, Tm, diag, r0, c0


@njit(cache=True)
def diag_valid_before(M, N, r0, c0, d, c):
    """Lane-valid entries of an ``M x N`` matrix read along anti-diagonals (row descending, i.e.
    column ascending, within one) before the entry (row ``d - c``, column ``c``) of diagonal ``d``;
    ``c`` may be one past the diagonal's last column. Entries in rows ``>= r0`` and columns ``>= c0``
    are padding lanes."""
    before = tri_count(M, N, d) - tri_count(M - r0, N - c0, d - r0 - c0)
    cmin = d - min(d, M - 1)
    n = c - cmin
    lo = max(cmin, c0)
    hi = min(c - 1, d - r0)
    if hi >= lo:
        n -= hi - lo + 1
    return before + n


@njit(cache=True)
def rowmajor_valid_before(N, r0, c0, pos):
    """Lane-valid entries before position ``pos`` of a row-major ``x N`` matrix (padding lanes: rows
    ``>= r0``, columns ``>= c0``)."""
    row = pos // N
    if row < r0 or c0 >= N:
        return pos
    return pos - (row - r0) * (N - c0) - max(0, pos - row * N - c0)


@njit(cache=True)
def slides_to_cover(U, s, nl, nA, nP):
    """Window slides (start ``U``, ``nA`` sets, moving ``nP`` sets, circular over ``nl``) until set
    ``s`` lies in the window: 0 if it does; else the first forward window holding it (``nP <= nA``,
    so consecutive windows leave no gap)."""
    dist = (s - U) % nl
    if dist < nA:
        return 0
    return (dist - nA) // nP + 1


@njit(cache=True)
def late_offset(cycle, n_slides, k0, period):
    """SCALE-Sim's offset of a demand row whose operand slides ``n_slides`` times (§3.2): prefetch
    ``k`` (1-based over the layer) finishes at ``k * period - 1``, ``period`` = request rows + 1;
    each one ``pot`` cycles later than the row's current service cycle adds ``pot`` (twice when
    positive). Returns the row's stall for this operand, ``offset - 1``."""
    offset = 1
    for k in range(k0 + 1, k0 + n_slides + 1):
        pot = k * period - 1 - (cycle + offset)
        offset += pot
        if pot > 0:
            offset += pot
    return offset - 1


@njit(cache=True, inline="always")
def _row_sets(df, o, r, fr, fc, R, T, M, N, Tm, diag, r0, c0, rows_used, cols_used, eps, rho):
    """``(has entries, first set, last set)`` of the own prefetch entries of demand row ``r``."""
    lo, hi, mode = _kern_row_range(df, o, r, R, T, rows_used, cols_used)
    if hi < lo:
        return False, 0, 0
    if diag:
        if df == 0:
            d = (fr if o == 0 else fc) * Tm + r
        else:
            d = fr * Tm + r - R
        v0 = diag_valid_before(M, N, r0, c0, d, lo)
        v1 = diag_valid_before(M, N, r0, c0, d, hi + 1)
    else:
        a0 = (fc * Tm + fr * R + R - 1 - r) * N
        v0 = rowmajor_valid_before(N, r0, c0, a0 + lo)
        v1 = rowmajor_valid_before(N, r0, c0, a0 + hi + 1)
    if rho < 1.0:
        v0 = int(math.floor(v0 * rho))
        v1 = int(math.floor(v1 * rho))
    if v1 <= v0:
        return False, 0, 0
    return True, v0 // eps, (v1 - 1) // eps


@njit(cache=True)
def _push(rows, ns, n_ev, row, n):
    if n_ev == rows.shape[0]:
        r2 = np.empty(2 * n_ev, np.int64)
        n2 = np.empty(2 * n_ev, np.int64)
        r2[:n_ev] = rows[:n_ev]
        n2[:n_ev] = ns[:n_ev]
        rows, ns = r2, n2
    rows[n_ev] = row
    ns[n_ev] = n
    return rows, ns


@njit(cache=True)
def window_params(size, nvalid):
    """``(set size, sets, active sets nA, prefetch sets nP)`` of a USER-mode read buffer of ``size``
    words over ``nvalid`` prefetch entries (``_kernels.simulate_layer``)."""
    eps = (size + 99) // 100
    act = (size + 1) // 2
    pre = size - act
    nl = nvalid // eps + 1
    nA = min((act + eps - 1) // eps, nl)
    nP = min((pre + eps - 1) // eps, nl - nA)
    return eps, nl, nA, nP


@njit(cache=True, inline="always")
def ifmap_valid_before(df, p, j, R, C, M, N, Tm, r0, c0):
    """Lane-valid entries of the ifmap prefetch order before the entry of (pixel ``p``, window element ``j``)."""
    if df == 0:  # rows f * T + t, lanes = the fold's pixels
        f = p // R
        c = p - f * R
        return diag_valid_before(M, N, r0, c0, f * Tm + j + c, c)
    if df == 1:  # rows f * npx + pixel, lanes = the fold's window elements
        f = j // R
        c = j - f * R
        return diag_valid_before(M, N, r0, c0, f * Tm + p + c, c)
    f = p // C  # is: row-major, rows f * win + j, lanes = the fold's pixels
    c = p - f * C
    return rowmajor_valid_before(N, r0, c0, ((f * Tm + j) * N + c))


@njit(cache=True)
def word_slides(df, p, j, R, C, M, N, Tm, r0, c0, eps, rho, U, nl, nA, nP,
                batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew):
    """Slides before the read of ifmap (pixel ``p``, window element ``j``) hits: 0 if a set holding
    its word (its own entry's or that of another (pixel, tap) reading the same word) lies in the
    window, else the fewest slides that bring one of them in (SCALE-Sim slides until the address is
    in some set of the window). ``-1``: the entry is past the input edge (no request)."""
    per = Eh * Ew
    b, _, _, ch, ih, iw = _input_word(p, j, Eh, Ew, FW, Ch, sh, sw, dh, dw)
    if ih >= H or iw >= W:
        return -1
    best = 1 << 62
    for kh2 in range(FH):
        num_h = ih - kh2 * dh
        if num_h < 0 or num_h % sh != 0 or num_h // sh >= Eh:
            continue
        for kw2 in range(FW):
            num_w = iw - kw2 * dw
            if num_w < 0 or num_w % sw != 0 or num_w // sw >= Ew:
                continue
            p2 = b * per + (num_h // sh) * Ew + num_w // sw
            j2 = (kh2 * FW + kw2) * Ch + ch
            v = ifmap_valid_before(df, p2, j2, R, C, M, N, Tm, r0, c0)
            if rho < 1.0:
                v = int(math.floor(v * rho))
            k = slides_to_cover(U, v // eps, nl, nA, nP)
            if k == 0:
                return 0
            if k < best:
                best = k
    return best


@njit(cache=True)
def _serve_row(df, o, r, fr, fc, R, C, T, M, N, Tm, diag, r0, c0, rows_used, cols_used, eps, rho, U, nl, nA, nP,
               dups, npx, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew):
    """Slides of one demand row and the window start after it: ``(slides, U)``. Without duplicate
    addresses at set level (its first set, then its last); with them (an ifmap of overlapping
    windows) lane by lane when its own sets leave the window (:func:`word_slides`)."""
    has, slo, shi = _row_sets(df, o, r, fr, fc, R, T, M, N, Tm, diag, r0, c0, rows_used, cols_used, eps, rho)
    if not has:
        return 0, U
    if not dups:
        j = slides_to_cover(U, slo, nl, nA, nP)
        U = (U + j * nP) % nl
        j2 = slides_to_cover(U, shi, nl, nA, nP)
        return j + j2, (U + j2 * nP) % nl
    d0 = (slo - U) % nl
    if d0 < nA and d0 + shi - slo < nA:
        return 0, U
    lo, hi, mode = _kern_row_range(df, o, r, R, T, rows_used, cols_used)
    n = 0
    for c in range(lo, hi + 1):
        if df == 0:
            p, j = fr * R + c, r - c
        elif df == 1:
            p, j = r - R - c, fr * R + c
        else:
            p, j = fc * C + c, fr * R + R - 1 - r
        if p >= npx:
            continue
        v = ifmap_valid_before(df, p, j, R, C, M, N, Tm, r0, c0)
        if rho < 1.0:
            v = int(math.floor(v * rho))
        if (v // eps - U) % nl < nA:
            continue
        k = word_slides(df, p, j, R, C, M, N, Tm, r0, c0, eps, rho, U, nl, nA, nP,
                        batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
        if k > 0:
            n += k
            U = (U + k * nP) % nl
    return n, U


@njit(cache=True)
def read_events(df, o, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, size, rho, dups):
    """Window slides of one USER-mode read buffer (§8.8): ``(rows, slides)``, the global demand rows
    at which the operand's window slides and how many times, in row order.

    Set level, by events: a demand row's own prefetch entries are a contiguous stretch of the
    prefetch order, so its sets are a range ``[s_lo, s_hi]`` known in O(1) from the valid-entry
    counts (:func:`diag_valid_before`, :func:`rowmajor_valid_before`; ifmap entries past the input
    edge scaled by ``rho``). Streamed operands (anti-diagonal order: os, ws ifmap, is filter) advance
    monotonically through their order within a fold, so the next row that can slide is the first
    whose last set reaches the window end (binary search); a stationary tile (ws filter, is ifmap),
    read from its last row down, is checked as a whole and walked row by row only if the window does
    not hold it. ``dups`` (an ifmap of overlapping windows): such a row's reads hit when any set
    holding their word is in the window (:func:`word_slides`)."""
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    M, N, Tm, diag, r0, c0 = operand_layout(df, o, R, C, npx, win, nfilt)
    total = M * N - ((M - r0) * (N - c0) if c0 < N else 0)
    nvalid = int(math.floor(total * rho)) if rho < 1.0 else total
    eps, nl, nA, nP = window_params(size, nvalid)
    rows = np.empty(16, np.int64)
    ns = np.empty(16, np.int64)
    n_ev = np.int64(0)  # int64 values, not literal 0s: _serve_row, _push and their callees compile once
    if nP == 0:  # the window holds every set
        return rows[:0], ns[:0]
    U = np.int64(0)
    fold = 0
    for fc in range(col_fold):
        for fr in range(row_fold):
            rows_used = min(R, Sr - fr * R)
            cols_used = min(C, Sc - fc * C)
            base = fold * L
            fold += 1
            if diag:
                r_a = 0 if df == 0 else R
                used = (rows_used if o == 0 else cols_used) if df == 0 else rows_used
                r_b = r_a + T + used - 2
                r = r_a
                while r <= r_b:
                    has, slo, shi = _row_sets(df, o, r, fr, fc, R, T, M, N, Tm, diag, r0, c0, rows_used, cols_used,
                                              eps, rho)
                    if not has:
                        r += 1
                        continue
                    j, U = _serve_row(df, o, r, fr, fc, R, C, T, M, N, Tm, diag, r0, c0, rows_used, cols_used, eps,
                                      rho, U, nl, nA, nP, dups, npx, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
                    if j > 0:
                        rows, ns = _push(rows, ns, n_ev, base + r, j)
                        n_ev += 1
                    # rows whose last set stays below the window end need nothing: find the next one
                    gap = nA - (shi - U) % nl
                    lo_ = r + 1
                    hi_ = r_b + 1
                    while lo_ < hi_:
                        mid = (lo_ + hi_) // 2
                        _, _, s_m = _row_sets(df, o, mid, fr, fc, R, T, M, N, Tm, diag, r0, c0, rows_used,
                                              cols_used, eps, rho)
                        if s_m - shi >= gap:
                            hi_ = mid
                        else:
                            lo_ = mid + 1
                    r = lo_
            else:
                p_lo = fc * Tm + fr * R
                v_lo = rowmajor_valid_before(N, r0, c0, p_lo * N)
                v_hi = rowmajor_valid_before(N, r0, c0, (p_lo + rows_used - 1) * N + cols_used)
                if rho < 1.0:
                    v_lo = int(math.floor(v_lo * rho))
                    v_hi = int(math.floor(v_hi * rho))
                if v_hi <= v_lo:
                    continue
                s_a = v_lo // eps
                s_b = (v_hi - 1) // eps
                dist = (s_a - U) % nl
                if dist < nA and dist + s_b - s_a < nA:
                    continue  # the whole tile lies in the window
                for r in range(R - rows_used, R):
                    j, U = _serve_row(df, o, r, fr, fc, R, C, T, M, N, Tm, diag, r0, c0, rows_used, cols_used, eps,
                                      rho, U, nl, nA, nP, dups, npx, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
                    if j > 0:
                        rows, ns = _push(rows, ns, n_ev, base + r, j)
                        n_ev += 1
    return rows[:n_ev], ns[:n_ev]


@njit(cache=True)
def user_timing(df, R, C, npx, win, nfilt, of_size, of_bw, rows0, ns0, period0, rows1, ns1, period1):
    """Stalls and OFMAP traffic of a USER-mode unit from the read buffers' slide events (§8.8).

    Demand rows between events change nothing but the OFMAP fill, written in bulk; an event row is
    the next slide row of a read buffer (its stall from :func:`late_offset`) or the next row at which
    the OFMAP buffer starts a drain or is full (found by binary search over the fold's output profile,
    as ``_kernels.ofmap_events`` does, and replayed by ``_kernels.wq_write``). Per row ``stall = max``
    over the three buffers, added to the later rows.

    Returns ``[total cycles, stall cycles, ofmap DRAM words, ofmap DRAM start, ofmap DRAM stop]``.
    """
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    st, q_line, q_words = K.wq_new(of_size, of_bw)
    o_act = st[K.Q_ACT]
    prof = K.fold_output_profiles(df, R, C, T, L, Sr, Sc, row_fold, col_fold)
    n_rows = row_fold * col_fold * L
    stall = 0
    tail_adj = 0
    i0 = 0
    i1 = 0
    k0 = np.int64(0)  # not literals: late_offset compiles once
    k1 = np.int64(0)
    row = 0
    for fc in range(col_fold):
        for fr in range(row_fold):
            sh = (0 if Sr - fr * R >= R else 2) + (0 if Sc - fc * C >= C else 1)
            cum = prof[sh]
            total_f = cum[L]
            r = 0
            while r < L:
                e_r = L
                if i0 < rows0.shape[0] and rows0[i0] - row < e_r:
                    e_r = rows0[i0] - row
                if i1 < rows1.shape[0] and rows1[i1] - row < e_r:
                    e_r = rows1[i1] - row
                base = cum[r]
                q = L
                if base < total_f:
                    free = st[K.Q_FREE]
                    cyc = row + r + stall
                    ra = min(L, r + max(0, st[K.Q_DRAIN_END] - cyc))
                    q = K._first_ge(cum, max(base + free, base + 1)) - 1 if ra > r else L
                    if q >= ra:
                        x = max(base + free - o_act, cum[ra])
                        q = K._first_ge(cum, x + 1) - 1  # searchsorted side "right" of an integer
                e = min(q, e_r)
                stop = min(e, L)
                w = cum[stop] - base
                if w > 0:
                    K.wq_bulk(st, w)
                if e >= L:
                    break
                cycle = row + e + stall
                smax = 0
                if i0 < rows0.shape[0] and rows0[i0] == row + e:
                    s = late_offset(cycle, ns0[i0], k0, period0)
                    k0 += ns0[i0]
                    i0 += 1
                    smax = max(smax, s)
                if i1 < rows1.shape[0] and rows1[i1] == row + e:
                    s = late_offset(cycle, ns1[i1], k1, period1)
                    k1 += ns1[i1]
                    i1 += 1
                    smax = max(smax, s)
                n = cum[e + 1] - cum[e]
                ooff = 0
                if n > 0:
                    o_free = st[K.Q_FREE] - n
                    if (o_free >= o_act) if cycle >= st[K.Q_DRAIN_END] else (o_free > 0):
                        K.wq_bulk(st, n)
                    else:
                        ooff, q_line, q_words = K.wq_write(st, q_line, q_words, n, cycle)
                smax = max(smax, ooff)
                stall += smax
                if row + e == n_rows - 1:
                    tail_adj = smax - ooff
                r = e + 1
            row += L
    total = n_rows - 1 + stall - tail_adj
    acc, d_start, d_stop = K.wq_finish(st, q_line, q_words, total)
    out = np.zeros(5, np.int64)
    out[0] = total
    out[1] = stall
    out[2] = acc
    out[3] = d_start
    out[4] = d_stop
    return out


@njit(cache=True)
def user_events(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, fi_words, dups):
    """Both read buffers' slide events (:func:`read_events`): ``(rows0, slides0, rows1, slides1)``.
    They do not depend on the bandwidths (hits and slides follow from the addresses alone), so a
    bandwidth sweep computes them once per geometry and SRAM size. ``dups``: the ifmap's windows
    overlap (the same word in several prefetch entries)."""
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    valid, _ = ifmap_counts(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
    rho = valid / (npx * win) if npx * win > 0 else 1.0
    # the operand and the flag as values, not literals: a literal argument compiles read_events (and every
    # kernel it calls) once more for it
    rows0, ns0 = read_events(df, np.int64(0), R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words,
                             rho, dups)
    rows1, ns1 = read_events(df, np.int64(1), R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, fi_words,
                             1.0, np.bool_(False))
    return rows0, ns0, rows1, ns1


@njit(cache=True)
def user_from_events(df, R, C, npx, win, nfilt, sizes, bws, rows0, ns0, rows1, ns1):
    """A USER-mode unit (§8.8) from its slide events: the ``U_*`` vector. DRAM reads = (initial fill
    + slides x request rows) x bandwidth; prefetch ``k`` of an operand ends at ``k x (rows + 1) - 1``."""
    out = np.zeros(N_U, np.int64)
    per = np.zeros(2, np.int64)
    for o in range(2):
        bw = bws[o]
        act = (sizes[o] + 1) // 2
        n_req = (sizes[o] - act + bw - 1) // bw
        per[o] = n_req + 1
        M, N, _, _, _, _ = operand_layout(df, o, R, C, npx, win, nfilt)
        n0 = min((act + bw - 1) // bw, (M * N + bw - 1) // bw)
        k = ns0.sum() if o == 0 else ns1.sum()
        out[U_IF_DRAM + o] = (n0 + k * n_req) * bw
        out[U_IF_DRAM_START + 2 * o] = -n0
        out[U_IF_DRAM_STOP + 2 * o] = k * per[o] - 1 if k > 0 else -1
        out[U_IF_SLIDES + o] = k
    t = user_timing(df, R, C, npx, win, nfilt, sizes[2], bws[2], rows0, ns0, per[0], rows1, ns1, per[1])
    out[U_TOTAL] = t[0]
    out[U_STALL] = t[1]
    out[U_OF_DRAM] = t[2]
    out[U_OF_DRAM_START] = t[3]
    out[U_OF_DRAM_STOP] = t[4]
    return out


@njit(cache=True)
def user_unit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws, dups):
    """A USER-mode unit (§8.8): :func:`user_events` then :func:`user_from_events`."""
    rows0, ns0, rows1, ns1 = user_events(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt,
                                         sizes[0], sizes[1], dups)
    return user_from_events(df, R, C, batch * Eh * Ew, FH * FW * Ch, nfilt, sizes, bws, rows0, ns0, rows1, ns1)
