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

Kernels are plain functions over scalars and arrays; ``_reference.py`` holds their NumPy twins.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from accelsim.hw.systolic._kernels import _dims

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


@njit(cache=True)
def ifmap_reuse_samples(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, n_samples):
    """Sampled ifmap accesses of one sweep with their previous use (§8.5).

    Returns ``(cur, prev, last)``, one entry per sampled access inside the input: its position in
    the sweep, the position of the previous use of the same word in the sweep (-1: first use) and
    the position of the word's last use in the sweep, all in accesses.
    """
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    ps, ts = sample_accesses(npx, win, n_samples)
    cap = ps.shape[0]
    cur_a = np.empty(cap, np.int64)
    prev_a = np.empty(cap, np.int64)
    last_a = np.empty(cap, np.int64)
    n = 0
    per = Eh * Ew
    for i in range(cap):
        p = ps[i]
        t = ts[i]
        b = p // per
        q = p - b * per
        oh = q // Ew
        ow = q - oh * Ew
        kh = t // (FW * Ch)
        kw = (t - kh * FW * Ch) // Ch
        ch = t - (kh * FW + kw) * Ch
        ih = oh * sh + kh * dh
        iw = ow * sw + kw * dw
        if ih >= H or iw >= W:
            continue
        cur = _access_index(df, p, t, R, C, npx, win)
        prev = -1
        last = cur
        # every other (pixel, tap) reading input word (ih, iw, ch) of image b
        for kh2 in range(FH):
            num_h = ih - kh2 * dh
            if num_h < 0 or num_h % sh != 0 or num_h // sh >= Eh:
                continue
            oh2 = num_h // sh
            for kw2 in range(FW):
                num_w = iw - kw2 * dw
                if num_w < 0 or num_w % sw != 0 or num_w // sw >= Ew:
                    continue
                if kh2 == kh and kw2 == kw:
                    continue
                p2 = b * per + oh2 * Ew + num_w // sw
                t2 = (kh2 * FW + kw2) * Ch + ch
                idx = _access_index(df, p2, t2, R, C, npx, win)
                if idx < cur and idx > prev:
                    prev = idx
                if idx > last:
                    last = idx
        cur_a[n] = cur
        prev_a[n] = prev
        last_a[n] = last
        n += 1
    return cur_a[:n], prev_a[:n], last_a[:n]


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


@njit(cache=True)
def analytic_unit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, fi_words,
                  overlapping, n_samples, max_sweeps):
    """``[ifmap DRAM reads, filter DRAM reads, ofmap DRAM writes]`` of one unit in words (§8.2-8.5)."""
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
        cur, prev, last = ifmap_reuse_samples(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, n_samples)
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
