"""Numba kernels of the systolic-array model (SCALE-Sim 3.0.0 semantics, see docs/models/systolic.md).

Every kernel takes only arrays and scalars and has a pure-NumPy/Python twin of the same name in
``_reference.py``. Conventions shared by all kernels:

* dataflow code ``df``: 0 = output stationary, 1 = weight stationary, 2 = input stationary;
* an ifmap element is addressed by its *index* (address minus the ifmap offset) in the
  ``(batch, H, W, C)`` row-major input; ``-1`` marks a window position past the input edge
  (SCALE-Sim's extra output row/column); a filter element ``(j, k)`` has index ``k * WIN + j``;
* the geometry of pixel ``p`` is given by ``pix_base[p]`` (index of its window origin),
  ``pix_r[p]``/``pix_c[p]`` (its input row/column); window element ``j`` by ``win_off[j]``,
  ``win_r[j]``, ``win_c[j]`` (offsets); ``(p, j)`` is valid when both coordinates stay inside
  ``H x W``.

``simulate_layer`` walks the demand rows of every fold in SCALE-Sim's order (column folds outer,
row folds inner) through exact re-implementations of SCALE-Sim's three buffers, computing the
addresses on the fly (no demand or prefetch matrix is materialised: valid counts in closed form,
the ifmap's set table from one pass, ``ifmap_sets``); in USER mode a row whose own prefetch
entries all lie in the active window is served in O(1), runs of such rows that start no OFMAP
drain are counted in bulk, and the write buffer keeps only its partial lines (``wq_*``). A pass
over an operand that repeats an
earlier pass exactly and whose previous pass caused no DRAM activity is skipped (its state and
output cannot change), except in the last fold, which is always walked.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# --- layout of the int64 result vector of simulate_layer ------------------------------------------
R_TOTAL = 0          # SCALE-Sim "Total Cycles" (last demand row served, incl. stalls)
R_STALL = 1
R_IF_DRAM = 2        # DRAM words read / written
R_FI_DRAM = 3
R_OF_DRAM = 4
R_IF_DRAM_START = 5
R_IF_DRAM_STOP = 6
R_FI_DRAM_START = 7
R_FI_DRAM_STOP = 8
R_OF_DRAM_START = 9
R_OF_DRAM_STOP = 10
R_IF_SRAM_START = 11
R_IF_SRAM_STOP = 12
R_FI_SRAM_START = 13
R_FI_SRAM_STOP = 14
R_OF_SRAM_START = 15
R_OF_SRAM_STOP = 16
N_RESULTS = 17


@njit(cache=True, inline="always")
def _ifm(p, j, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W):
    if pix_r[p] + win_r[j] < H and pix_c[p] + win_c[j] < W:
        return pix_base[p] + win_off[j]
    return -1


@njit(cache=True, inline="always")
def _dims(df, npx, win, nfilt, R, C):
    """``(Sr, Sc, T, L, row_fold, col_fold)``: the spatial rows / columns and temporal length of
    the layer's operand matrices under dataflow ``df``, the demand rows of one fold and the fold counts."""
    if df == 0:
        Sr, Sc, T = npx, nfilt, win
        L = T + R + C - 2
    elif df == 1:
        Sr, Sc, T = win, nfilt, npx
        L = T + 2 * R + C - 2
    else:
        Sr, Sc, T = win, npx, nfilt
        L = T + 2 * R + C - 2
    return Sr, Sc, T, L, (Sr + R - 1) // R, (Sc + C - 1) // C


@njit(cache=True)
def conv_geometry(batch, H, W, C, FH, FW, sh, sw, dh, dw, Eh, Ew):
    """Pixel and window tables for a convolution: (pix_base, pix_r, pix_c, win_off, win_r, win_c)."""
    npx = batch * Eh * Ew
    pix_base = np.empty(npx, np.int64)
    pix_r = np.empty(npx, np.int64)
    pix_c = np.empty(npx, np.int64)
    per = Eh * Ew
    for p in range(npx):
        b = p // per
        q = p - b * per
        orow = q // Ew
        ocol = q - orow * Ew
        ir = orow * sh
        ic = ocol * sw
        pix_r[p] = ir
        pix_c[p] = ic
        pix_base[p] = b * H * W * C + (ir * W + ic) * C
    win = FH * FW * C
    win_off = np.empty(win, np.int64)
    win_r = np.empty(win, np.int64)
    win_c = np.empty(win, np.int64)
    for j in range(win):
        cr = j // (FW * C)
        k = j - cr * FW * C
        cc = k // C
        ch = k - cc * C
        win_r[j] = cr * dh
        win_c[j] = cc * dw
        win_off[j] = (cr * dh * W + cc * dw) * C + ch
    return pix_base, pix_r, pix_c, win_off, win_r, win_c


@njit(cache=True)
def prefetch_sequence(df, operand, R, C, npx, win, nfilt, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W):
    """SCALE-Sim's DRAM prefetch order of one operand (0 = ifmap, 1 = filter) as indices, -1 = padding.

    The stacked per-fold operand matrix is read along anti-diagonals (os; ws ifmap; is filter) or
    row-major (ws filter, is ifmap), exactly as ``systolic_compute_*.create_*_prefetch_mat``.
    """
    Sr, Sc, T, _, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    diag = True
    if df == 0:
        if operand == 0:
            M, N = row_fold * T, R
        else:
            M, N = col_fold * T, C
    elif df == 1:
        if operand == 0:
            M, N = row_fold * T, R
        else:
            M, N = col_fold * win, C
            diag = False
    else:
        if operand == 0:
            M, N = col_fold * win, C
            diag = False
        else:
            M, N = row_fold * nfilt, R
    # the stacked matrix is `folds` blocks of Tm rows: row = f * Tm + t
    if df == 0:
        Tm = T
    elif df == 1:
        Tm = T if operand == 0 else win
    else:
        Tm = win if operand == 0 else nfilt
    # entry (f * Tm + t, col) = (lane index f * lanes + col < limit) ? address : -1, where the
    # address is an ifmap word (pixel, window element) or the filter word k * win + j (written out in
    # the loops: Numba compiles a helper function returning the entry twenty times slower)
    if operand == 0:
        lanes, limit = (R, npx) if df == 0 else ((R, win) if df == 1 else (C, npx))
    else:
        lanes, limit = (C, nfilt) if df != 2 else (R, win)
    out = np.empty(M * N, np.int32)
    idx = 0
    if diag:
        for d in range(M + N):
            max_row = min(d, M - 1)
            min_row = max(0, d - N + 1)
            f = max_row // Tm
            t = max_row - f * Tm
            for row in range(max_row, min_row - 1, -1):
                lane = f * lanes + d - row
                v = -1
                if lane < limit:
                    if operand == 0:
                        if df == 1:
                            p = t
                            j = lane
                        else:
                            p = lane
                            j = t
                        if pix_r[p] + win_r[j] < H and pix_c[p] + win_c[j] < W:
                            v = pix_base[p] + win_off[j]
                    elif df == 2:
                        v = t * win + lane
                    else:
                        v = lane * win + t
                out[idx] = v
                idx += 1
                t -= 1
                if t < 0:
                    t = Tm - 1
                    f -= 1
    else:
        for row in range(M):
            f = row // Tm
            t = row - f * Tm
            for col in range(N):
                lane = f * lanes + col
                v = -1
                if lane < limit:
                    if operand == 0:
                        if df == 1:
                            p = t
                            j = lane
                        else:
                            p = lane
                            j = t
                        if pix_r[p] + win_r[j] < H and pix_c[p] + win_c[j] < W:
                            v = pix_base[p] + win_off[j]
                    elif df == 2:
                        v = t * win + lane
                    else:
                        v = lane * win + t
                out[idx] = v
                idx += 1
    return out


def copies_bound(FH, FW, sh, sw, dh, dw, Eh, Ew):
    """At most how many (pixel, window element) pairs read one ifmap word: along each axis the taps
    ``k`` with ``k * dilation`` in one residue class modulo the stride (every ``stride / gcd`` -th
    tap), and never more than the outputs along it. 1 = every word is read once (no overlap).
    (Plain Python for Python callers: a few integer operations; :data:`_copies_bound_kernel` for kernels.)"""
    out = 1
    for F, s, dil, E in ((FH, sh, dh, Eh), (FW, sw, dw, Ew)):
        step = s // math.gcd(s, dil)
        out *= min((F + step - 1) // step, E, F)
    return out


#: :func:`copies_bound` compiled, for :func:`user_unit_kernel` (the same source)
_copies_bound_kernel = njit(cache=True)(copies_bound)


@njit(cache=True, inline="always")
def _n_stretches(df, M, N, Tm):
    """How many stretches the ifmap's stacked prefetch matrix (``M x N``, blocks of ``Tm`` rows) has: a
    block's anti-diagonals (``Tm + N - 1``) per block, or its rows (row-major, ``df`` 2)."""
    return M if df == 2 else M // Tm * (Tm + N - 1)


@njit(cache=True, inline="always")
def _stretch_at(df, d, f, N, Tm):
    """The stretch of anti-diagonal ``d`` inside block ``f`` (``f (Tm + N - 1) + d - f Tm``), or of row ``d``
    (row-major, ``df`` 2): its index in :func:`edge_stretches`' table."""
    return d if df == 2 else f * (Tm + N - 1) + d - f * Tm


@njit(cache=True)
def _edge_pixels(npx, win, pix_r, pix_c, win_r, win_c, H, W):
    """Which pixels' windows reach past the input edge (the only ones whose entries can be invalid): the
    window's farthest row and column offsets from the pixel's corner reach ``H`` or ``W``."""
    fr_max = win_r[win - 1] if win > 0 else 0
    fc_max = 0
    for j in range(win):
        fc_max = max(fc_max, win_c[j])
    edge = np.empty(npx, np.bool_)
    for p in range(npx):
        edge[p] = pix_r[p] + fr_max >= H or pix_c[p] + fc_max >= W
    return edge


@njit(cache=True)
def fill_sets(meta, slots, df, R, C, npx, win, nfilt, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W, eps, kmax):
    """The set table of :func:`ifmap_sets` (``kmax > 1``) into the arrays ``meta`` (zeroed here) and ``slots``, in
    one pass over the prefetch order without storing it: stretch by stretch in order (each diagonal fold block by
    fold block, or row by row), valid entries only; only a pixel whose window reaches past the input edge
    (``edge``) can make an invalid entry, and a block's rows with lanes past the operand (padding) come last
    and hold none. A kernel of its own: :func:`walk_layer` also fills it, when it turns from the geometry to
    the table."""
    M, N, Tm = _prefetch_shape(df, np.int64(0), R, C, npx, win, nfilt)  # not a literal: one compiled version
    meta[:] = 0
    limit = win if df == 1 else npx
    edge = _edge_pixels(npx, win, pix_r, pix_c, win_r, win_c, H, W)
    s = 0
    k = 0
    # (the set update is written out in both loops: as an inlined helper taking the arrays it ran 7x slower,
    # 0.15 -> 1.0 ms on a 42k-entry layer, 2026-12-05)
    if df == 2:  # row-major
        for row in range(M):
            f = row // Tm
            j = row - f * Tm
            for p in range(f * N, min(f * N + N, limit)):
                if not edge[p] or (pix_r[p] + win_r[j] < H and pix_c[p] + win_c[j] < W):
                    x = pix_base[p] + win_off[j]
                    if meta[2 * x + 1] != s + 1:  # a new set of x (sets arrive in ascending order)
                        c = meta[2 * x]
                        slots[x * kmax + c] = s
                        meta[2 * x] = c + 1
                        meta[2 * x + 1] = s + 1
                    k += 1
                    if k == eps:
                        k = 0
                        s += 1
        return
    for d in range(M + N):
        min_row = max(0, d - N + 1)
        row = min(d, M - 1)
        while row >= min_row:
            f = row // Tm
            seg_lo = max(min_row, f * Tm)  # rows row .. seg_lo share the fold; lane = f N + d - row grows down
            lane_lo = max(seg_lo, f * N + d - limit + 1)  # the rows below lane_lo are padding
            t = row - f * Tm
            for r in range(row, lane_lo - 1, -1):
                lane = f * N + d - r
                if df == 1:
                    p = t
                    j = lane
                else:
                    p = lane
                    j = t
                if not edge[p] or (pix_r[p] + win_r[j] < H and pix_c[p] + win_c[j] < W):
                    x = pix_base[p] + win_off[j]
                    if meta[2 * x + 1] != s + 1:  # a new set of x (sets arrive in ascending order)
                        c = meta[2 * x]
                        slots[x * kmax + c] = s
                        meta[2 * x] = c + 1
                        meta[2 * x + 1] = s + 1
                    k += 1
                    if k == eps:
                        k = 0
                        s += 1
                t -= 1
            row = seg_lo - 1


@njit(cache=True)
def edge_stretches(df, R, C, npx, win, nfilt, pix_r, pix_c, win_r, win_c, H, W):
    """The valid counts of the ifmap's prefetch order per stretch when windows cross the input edge, from its
    invalid entries alone (docs/models/systolic.md §3.2 "Valid counts"): only a pixel whose window reaches
    past the edge (the last output row or column) makes one, so they are listed pixel by pixel, bucketed by
    stretch, and each stretch counts its length less them. O(edge pixels x window + stretches), where a
    pass over the order is O(pixels x window). Returns the int32 vector ``[before_0, in_0, before_1, in_1,
    ..., total, inv_off_0 .. inv_off_n, inv_lanes ...]``: per stretch ``i`` (:func:`ifmap_sets`) the valid
    entries before it and in it, all of them, then the lanes of its invalid entries, ascending, at
    ``inv_lanes[inv_off_i : inv_off_{i + 1}]`` (read by :func:`word_sets`; offsets from ``3 n + 2``)."""
    M, N, Tm = _prefetch_shape(df, np.int64(0), R, C, npx, win, nfilt)  # not a literal: one compiled version
    n_seg = _n_stretches(df, M, N, Tm)
    limit = win if df == 1 else npx
    edge = _edge_pixels(npx, win, pix_r, pix_c, win_r, win_c, H, W)
    # the invalid entries: (stretch, lane) of every (edge pixel, window element) pair past the edge
    n_edge = 0
    for p in range(npx):
        n_edge += edge[p]
    ids = np.empty(n_edge * win, np.int64)
    found = np.empty(n_edge * win, np.int32)
    cnt = np.zeros(n_seg + 1, np.int64)
    n_inv = 0
    for p in range(npx):
        if not edge[p]:
            continue
        fp = p // N  # os / is: the pixel's lane and block; ws: the window element's, stepped below
        lp = p - fp * N
        fj = 0
        lj = 0
        for j in range(win):
            if j > 0:
                lj += 1
                if lj == N:
                    lj = 0
                    fj += 1
            if pix_r[p] + win_r[j] < H and pix_c[p] + win_c[j] < W:
                continue
            if df == 1:
                f = fj
                lane = lj
                t = p
            else:
                f = fp
                lane = lp
                t = j
            d = f * Tm + t + (lane if df != 2 else 0)  # its anti-diagonal (row-major: its row)
            i = _stretch_at(df, d, f, N, Tm)
            ids[n_inv] = i
            found[n_inv] = lane
            cnt[i + 1] += 1
            n_inv += 1
    for i in range(n_seg):
        cnt[i + 1] += cnt[i]
    lanes = np.empty(n_inv, np.int32)
    fill = cnt[:n_seg].copy()
    for q in range(n_inv):
        lanes[fill[ids[q]]] = found[q]
        fill[ids[q]] += 1
    out = np.zeros(3 * n_seg + 2 + n_inv, np.int32)
    base = 2 * n_seg + 1
    for i in range(n_seg):
        a, b = cnt[i], cnt[i + 1]
        for q in range(a + 1, b):  # a stretch holds few invalid lanes: insertion sort
            x = lanes[q]
            k = q - 1
            while k >= a and lanes[k] > x:
                lanes[k + 1] = lanes[k]
                k -= 1
            lanes[k + 1] = x
        out[base + i] = a
    out[base + n_seg] = n_inv
    out[base + n_seg + 1:] = lanes[:n_inv]
    # the stretches in the order of the prefetch order: anti-diagonals in turn, each block by block from the
    # bottom (rows descend, lanes ascend); row-major, rows in turn. A stretch's length counts its lanes before
    # the operand's end (the padding lanes are invalid without being listed)
    v = 0
    if df != 2:
        f_top = 0  # the block of the diagonal's bottom row (a division a stretch cost more than the rest)
        for d in range(M + N):
            row = min(d, M - 1)
            if row >= (f_top + 1) * Tm:
                f_top += 1
            min_row = max(0, d - N + 1)
            f = f_top
            while row >= min_row:
                seg_lo = max(min_row, f * Tm)
                lane_lo = max(seg_lo, f * N + d - limit + 1)
                i = _stretch_at(df, d, f, N, Tm)
                out[2 * i] = v
                n = max(0, row - lane_lo + 1) - (cnt[i + 1] - cnt[i])
                out[2 * i + 1] = n
                v += n
                row = seg_lo - 1
                f -= 1
    else:
        for row in range(M):
            f = row // Tm
            out[2 * row] = v
            n = max(0, min(N, limit - f * N)) - (cnt[row + 1] - cnt[row])
            out[2 * row + 1] = n
            v += n
    out[2 * n_seg] = v
    return out


def ifmap_sets(df, R, C, npx, win, nfilt, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W, space, eps, kmax,
               inside):
    """SCALE-Sim's read_buffer.prepare_hashed_buffer for the ifmap, walking its prefetch order
    (:func:`prefetch_sequence`, operand 0) once without storing it.

    Valid entries are grouped into sets of ``eps`` in order (set of the v-th valid entry = v // eps).
    Returns ``(meta, slots, seg)``: with ``kmax > 1`` (:func:`copies_bound`; words read more than
    once), ``slots[a * kmax : a * kmax + meta[2a]]`` are the distinct sets holding index ``a``,
    ascending (:func:`fill_sets`), else both are empty (a word's only set is its own entry's). Unless
    ``inside`` (windows past the input edge, so invalid entries lie among the valid ones), ``seg`` holds
    the valid counts a demand row needs, per stretch of the order one demand row reads
    (:func:`edge_stretches`): ``seg[2i]`` valid entries before stretch ``i``, ``seg[2i + 1]`` valid
    entries in it, ``seg[2n]`` all valid entries (``n`` stretches), then the lanes of each stretch's invalid
    entries; else it is empty (the counts then have a closed form, :func:`_valid_before`). A stretch is the
    part of one anti-diagonal inside one fold's block of the stacked prefetch matrix (diagonal order,
    stretch ``f (Tm + N - 1) + d - f Tm``), or one row of it (row-major order); entries of a demand row's
    stretch come in lane order, so the walk counts valid ones within it from its own addresses. A plain
    function: allocating here leaves the kernels one signature each.
    """
    big = kmax > 1
    meta = np.empty(2 * space if big else 0, np.int32)
    slots = np.empty(space * kmax if big else 0, np.int32)
    if big:
        fill_sets(meta, slots, df, R, C, npx, win, nfilt, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W, eps, kmax)
    seg = np.zeros(0, np.int32) if inside else edge_stretches(df, R, C, npx, win, nfilt, pix_r, pix_c, win_r, win_c, H, W)
    return meta, slots, seg


@njit(cache=True, inline="always")
def _in_window(x, s, e):
    if s < e:
        return s <= x and x < e
    return x >= s or x < e


# (_nrt=False: no reference counts of its array arguments, two atomic operations each a call; it allocates none)
@njit(cache=True, _nrt=False)
def _slot_hit(a, meta, slots, kmax, s, e):
    """Is ifmap index ``a`` in one of the sets ``[s, e)`` (modulo the number of sets)? (:func:`ifmap_sets`)
    Its sets are ascending: in an unwrapped window the first one from ``s`` on decides."""
    b = a * kmax
    n = meta[2 * a]
    if s < e:
        for q in range(b, b + n):
            x = slots[q]
            if x >= s:
                return x < e
        return False
    for q in range(b, b + n):
        if _in_window(slots[q], s, e):
            return True
    return False


# --- an ifmap word's sets from the convolution's geometry (USER mode, windows inside the input) --------
# ``geo`` layout: the (H, W, Ch) input of one image, the (FH, FW) filter, strides, dilations, the
# (Eh, Ew) output and copies_bound (at most how many entries hold one word).
# ``GEO_BUDGET``: 0, or the most :func:`word_sets` calls the walk may project over the layer's demand rows before
# it fills the set table in the arrays its caller allocated and reads the sets from it (:func:`walk_layer`).
GEO_H, GEO_W, GEO_CH, GEO_FH, GEO_FW, GEO_SH, GEO_SW, GEO_DH, GEO_DW, GEO_EH, GEO_EW, GEO_KMAX, GEO_BUDGET = range(13)


@njit(cache=True)
def ifmap_word_geometry(H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, budget=0):
    """The ``geo`` vector of :func:`word_sets` for a convolution (int64, layout ``GEO_*``); ``budget``:
    ``GEO_BUDGET`` (0: none)."""
    kmax = _copies_bound_kernel(FH, FW, sh, sw, dh, dw, Eh, Ew)
    return np.array([H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, kmax, budget], np.int64)


@njit(cache=True, inline="always")
def _odometer(hi, mid, lo, n_mid, n_lo):
    """One step of a three-digit mixed-radix counter ``(hi, mid, lo)`` (``lo < n_lo``, ``mid < n_mid``): the output
    pixel after ``(image, row, column)`` in raster order, or the window element after ``(filter row, filter
    column, channel)``; stepping costs a compare where recomputing the digits costs two divisions."""
    lo += 1
    if lo == n_lo:
        lo = 0
        mid += 1
        if mid == n_mid:
            mid = 0
            hi += 1
    return hi, mid, lo


@njit(cache=True, inline="always")
def _fdiv(a, b, inv):
    """``a // b`` for ``0 <= a < 2**52``, ``b > 0``, from ``inv = 1.0 / b``: a multiply and one correction, where
    an int64 division costs tens of cycles (:func:`word_sets` divides several times a word)."""
    q = np.int64(a * inv)
    if q * b > a:
        q -= 1
    elif (q + 1) * b <= a:
        q += 1
    return q


@njit(cache=True, inline="always")
def _entry_valid_before(df, p, j, M, N, inv_n, Tm, r0, c0):
    """Valid entries before the entry of pixel ``p``, window element ``j`` in the ifmap's prefetch order
    (its row and column in the stacked ``M x N`` matrix of ``Tm``-row blocks, :func:`_prefetch_span`'s
    diagonal count, :func:`_valid_before`; ``inv_n = 1.0 / N``)."""
    if df == 1:
        f = _fdiv(j, N, inv_n)
        col = j - f * N
        row = f * Tm + p
    else:
        f = _fdiv(p, N, inv_n)
        col = p - f * N
        row = f * Tm + j
    if df == 2:
        if row < r0:
            return row * N + col  # rows before the padding: every entry before is valid
        # (df != 2, not the literal: _valid_before is compiled once for a runtime flag, ~0.5 s of a cold run)
        return _valid_before(df != 2, row * N + col, row, col, M, N, r0, c0)
    d = row + col
    if N <= d and d < M and d < r0 + c0:
        # an anti-diagonal of N entries before the padding: N(N+1)/2 on the first N, N on each later one
        return N * d - N * (N - 1) // 2 + col
    return _valid_before(df != 2, _diag_start(d, M, N) + min(d, M - 1) - row, d, col, M, N, r0, c0)


@njit(cache=True, inline="always")
def _stretch_valid_before(df, p, j, M, N, inv_n, Tm, seg):
    """Valid entries before the entry of pixel ``p``, window element ``j`` in an ifmap prefetch order whose
    windows cross the input edge, from :func:`edge_stretches`' table ``seg``: those before its stretch, plus
    its stretch's lanes before it less the invalid ones listed there."""
    if df == 1:
        f = _fdiv(j, N, inv_n)
        col = j - f * N
        row = f * Tm + p
    else:
        f = _fdiv(p, N, inv_n)
        col = p - f * N
        row = f * Tm + j
    n_str = _n_stretches(df, M, N, Tm)
    if df == 2:
        i = row
        first = 0
    else:
        d = row + col
        i = _stretch_at(df, d, f, N, Tm)
        first = d - min(f * Tm + Tm - 1, d, M - 1)  # the lane of the stretch's first entry
    v = np.int64(seg[2 * i]) + col - first
    base = 2 * n_str + 1
    q = base + n_str + 1 + seg[base + i]
    end = base + n_str + 1 + seg[base + i + 1]
    while q < end and seg[q] < col:
        v -= 1
        q += 1
    return v


@njit(cache=True)
def word_sets(a, geo, df, M, N, Tm, r0, c0, seg, out):
    """The sets holding ifmap index ``a``, found from the geometry instead of :func:`ifmap_sets`' table
    (docs/models/systolic.md §3.2 "Sets from the geometry"): every (pixel ``p``, window element ``j``)
    pair that reads ``a`` (at most ``geo[GEO_KMAX]``), the valid entries ``v`` before its entry in the
    ifmap's stacked prefetch matrix (``M x N``, blocks of ``Tm`` rows, padding from ``(r0, c0)``,
    :func:`_entry_valid_before`; windows past the input edge: from the stretch table ``seg`` of
    :func:`edge_stretches`, :func:`_stretch_valid_before`, else pass it empty) and so its set ``v // eps``
    (sets of ``eps`` entries). Every pair is a valid entry (its tap lies on the word, inside the input).
    O(copies) per word, where the table costs O(entries of the order). Writes every pair's ``v`` to ``out``
    and returns their number (a set may repeat)."""
    H, W, Ch = geo[GEO_H], geo[GEO_W], geo[GEO_CH]
    FH, FW, sh, sw = geo[GEO_FH], geo[GEO_FW], geo[GEO_SH], geo[GEO_SW]
    dh, dw, Eh, Ew = geo[GEO_DH], geo[GEO_DW], geo[GEO_EH], geo[GEO_EW]
    img = H * W * Ch
    n_img = _fdiv(a, img, 1.0 / img) if a >= img else 0
    rem = a - n_img * img
    h = _fdiv(rem, W * Ch, 1.0 / (W * Ch))
    rem -= h * W * Ch
    w = _fdiv(rem, Ch, 1.0 / Ch)
    ch = rem - w * Ch
    inv_n = 1.0 / N
    n = 0
    for kh in range(FH - 1, -1, -1):
        hh = h - kh * dh
        if hh < 0:
            continue
        if sh == 1:
            eh = hh
        else:
            eh = hh // sh
            if eh * sh != hh:
                continue
        if eh >= Eh:
            continue
        for kw in range(FW - 1, -1, -1):
            ww = w - kw * dw
            if ww < 0:
                continue
            if sw == 1:
                ew = ww
            else:
                ew = ww // sw
                if ew * sw != ww:
                    continue
            if ew >= Ew:
                continue
            p = (n_img * Eh + eh) * Ew + ew
            j = (kh * FW + kw) * Ch + ch
            if seg.shape[0] > 0:
                out[n] = _stretch_valid_before(df, p, j, M, N, inv_n, Tm, seg)
            else:
                out[n] = _entry_valid_before(df, p, j, M, N, inv_n, Tm, r0, c0)
            n += 1
    return n


# --- the OFMAP write buffer (SCALE-Sim write_buffer), shared by simulate_layer and ofmap_pass ------
# Its state is an int64 vector (Numba kernels cannot update a caller's scalars) plus ``lines``, the
# valid words of every line written so far, in order. Layout of the state vector:
WB_FREE = 0          # free words
WB_LINE_IDX = 1      # words in the open (not yet closed) line
WB_N_LINES = 2       # closed lines
WB_DRAIN_LINE = 3    # first line not yet drained to DRAM
WB_DRAIN_END = 4     # cycle the running drain ends
WB_ACC = 5           # DRAM words written
WB_DRAM_START = 6    # first / last DRAM cycle (valid once WB_DRAM_VALID is set)
WB_DRAM_STOP = 7
WB_DRAM_VALID = 8
WB_ACT = 9           # constants: active half in words, words per line (= DRAM words per cycle),
WB_BW = 10           # lines per drain (ceil(drain half / bw))
WB_DRAIN_LINES = 11
N_WB = 12


@njit(cache=True)
def _wbuf_new(df, Sr, Sc, T, row_fold, o_tot, o_bw):
    """An empty write buffer of ``o_tot`` words draining ``o_bw`` words a cycle: ``(state, lines)``."""
    o_act = (o_tot + 1) // 2
    o_drain = o_tot - o_act
    n_out = Sr * Sc if df == 0 else T * Sc * row_fold
    ws = np.zeros(N_WB, np.int64)
    ws[WB_FREE] = o_tot
    ws[WB_DRAM_START] = 1 << 62
    ws[WB_DRAM_STOP] = -(1 << 62)
    ws[WB_ACT] = o_act
    ws[WB_BW] = o_bw
    ws[WB_DRAIN_LINES] = (o_drain + o_bw - 1) // o_bw
    return ws, np.zeros(n_out + 2, np.int64)


@njit(cache=True, inline="always")
def _wbuf_row(df, r, R, T, rows_used, cols_used):
    """Number of outputs written by demand row ``r`` of a fold."""
    if df == 0:
        lo = max(0, r - (T + R - 2))
        hi = min(cols_used - 1, r - (T - 1 + R - rows_used))
    else:
        lo = max(0, r - 2 * R + 1 - T + 1)
        hi = min(cols_used - 1, r - 2 * R + 1)
    return hi - lo + 1 if hi >= lo else 0


@njit(cache=True, inline="always")
def _wbuf_write(ws, lines, n, cycle):
    """Write ``n`` outputs issued at ``cycle`` (write_buffer.service_writes); returns the stall.

    Each output fills the open line (closed at ``bw`` words). During a drain an output stalls
    until the drain ends when the buffer is full; otherwise, once fewer than the active half are
    free, the open line is closed and the next ``ceil(drain / bw)`` lines go to DRAM
    (empty_drain_buf), one line a cycle.
    """
    free = ws[WB_FREE]
    line_idx = ws[WB_LINE_IDX]
    n_lines = ws[WB_N_LINES]
    drain_line = ws[WB_DRAIN_LINE]
    drain_end = ws[WB_DRAIN_END]
    o_act = ws[WB_ACT]
    o_bw = ws[WB_BW]
    current = cycle
    ooff = 0
    for _ in range(n):
        line_idx += 1
        free -= 1
        if line_idx == o_bw:
            lines[n_lines] = o_bw
            n_lines += 1
            line_idx = 0
        if current < drain_end:
            if free <= 0:
                ooff += max(drain_end - current, 0)
                current = drain_end
        elif free < o_act:
            if line_idx != 0:
                lines[n_lines] = line_idx
                n_lines += 1
                line_idx = 0
            # empty_drain_buf(current)
            end_line = min(drain_line + ws[WB_DRAIN_LINES], n_lines)
            num = end_line - drain_line
            if num > 0:
                data = num * o_bw - (o_bw - lines[end_line - 1])
                ws[WB_ACC] += data
                ws[WB_DRAM_VALID] = 1
                ws[WB_DRAM_START] = min(ws[WB_DRAM_START], current)
                ws[WB_DRAM_STOP] = max(ws[WB_DRAM_STOP], current + num - 1)
                free += data
                drain_line = end_line
                drain_end = current + num - 1
            else:
                drain_end = current
    ws[WB_FREE] = free
    ws[WB_LINE_IDX] = line_idx
    ws[WB_N_LINES] = n_lines
    ws[WB_DRAIN_LINE] = drain_line
    ws[WB_DRAIN_END] = drain_end
    return ooff


@njit(cache=True)
def _wbuf_finish(ws, lines, cycle):
    """Drain what is left in the buffer after the last demand row, from ``cycle`` on.

    Returns ``(DRAM words written, first DRAM cycle, last DRAM cycle)``, the cycles 0 if none.
    """
    o_bw = ws[WB_BW]
    n_lines = ws[WB_N_LINES]
    if ws[WB_LINE_IDX] != 0:
        lines[n_lines] = ws[WB_LINE_IDX]
        n_lines += 1
        ws[WB_N_LINES] = n_lines
        ws[WB_LINE_IDX] = 0
    cyc = cycle
    drain_line = ws[WB_DRAIN_LINE]
    while drain_line < n_lines:
        end_line = min(drain_line + ws[WB_DRAIN_LINES], n_lines)
        num = end_line - drain_line
        data = num * o_bw - (o_bw - lines[end_line - 1])
        ws[WB_ACC] += data
        ws[WB_DRAM_VALID] = 1
        ws[WB_DRAM_START] = min(ws[WB_DRAM_START], cyc)
        ws[WB_DRAM_STOP] = max(ws[WB_DRAM_STOP], cyc + num - 1)
        drain_line = end_line
        ws[WB_DRAIN_END] = cyc + num - 1
        cyc += num
    ws[WB_DRAIN_LINE] = drain_line
    if ws[WB_DRAM_VALID]:
        return ws[WB_ACC], ws[WB_DRAM_START], ws[WB_DRAM_STOP]
    return ws[WB_ACC], 0, 0


# --- the OFMAP write buffer with a queue of partial lines (simulate_layer, ofmap_events) ------------
# The same buffer as _wbuf_*, in memory independent of the layer: the only lines shorter than ``bw``
# are those closed early when a drain starts (and the last one), kept in a queue; every other line
# holds ``bw`` words. Writes between two outputs that stall or start a drain are applied in bulk.
Q_FREE = 0         # free words
Q_LINE_IDX = 1     # words in the open line
Q_N_LINES = 2      # closed lines
Q_DRAIN_LINE = 3   # first line not yet drained
Q_DRAIN_END = 4    # cycle the running drain ends
Q_ACC = 5          # DRAM words written
Q_DRAM_START = 6   # first / last DRAM cycle (valid once Q_DRAM_VALID is set)
Q_DRAM_STOP = 7
Q_DRAM_VALID = 8
Q_ACT = 9          # constants: active half (words), words per line, lines per drain
Q_BW = 10
Q_DRAIN_LINES = 11
Q_HEAD = 12        # partial-line queue: first pending entry, one past the last
Q_TAIL = 13
N_Q = 14


@njit(cache=True, inline="always")
def wq_new(o_tot, o_bw):
    """An empty write buffer of ``o_tot`` words draining ``o_bw`` words a cycle.

    Returns ``(state, q_line, q_words)``: the state vector (``Q_*``) and the partial-line queue
    (line index and valid words of each closed line shorter than ``o_bw``, oldest first).
    """
    st = np.zeros(N_Q, np.int64)
    o_act = (o_tot + 1) // 2
    st[Q_FREE] = o_tot
    st[Q_DRAM_START] = 1 << 62
    st[Q_DRAM_STOP] = -(1 << 62)
    st[Q_ACT] = o_act
    st[Q_BW] = o_bw
    st[Q_DRAIN_LINES] = (o_tot - o_act + o_bw - 1) // o_bw
    return st, np.empty(16, np.int64), np.empty(16, np.int64)


@njit(cache=True)
def _wq_push(st, q_line, q_words, line, words):
    """Queue a partial line; returns the (possibly grown) queue arrays."""
    head = st[Q_HEAD]
    tail = st[Q_TAIL]
    cap = q_line.shape[0]
    if tail - head == cap:
        nl = np.empty(2 * cap, np.int64)
        nw = np.empty(2 * cap, np.int64)
        for k in range(head, tail):
            nl[k - head] = q_line[k % cap]
            nw[k - head] = q_words[k % cap]
        q_line, q_words = nl, nw
        st[Q_HEAD] = 0
        st[Q_TAIL] = tail - head
        head, tail, cap = 0, tail - head, 2 * cap
    q_line[tail % cap] = line
    q_words[tail % cap] = words
    st[Q_TAIL] = tail + 1
    return q_line, q_words


@njit(cache=True, inline="always")
def _wq_pop_until(st, q_line, q_words, end_line):
    """Valid words of line ``end_line - 1``; forgets the queued partial lines before ``end_line``."""
    words = st[Q_BW]
    head = st[Q_HEAD]
    tail = st[Q_TAIL]
    cap = q_line.shape[0]
    while head < tail:
        k = q_line[head % cap]
        if k >= end_line:
            break
        if k == end_line - 1:
            words = q_words[head % cap]
        head += 1
    st[Q_HEAD] = head
    return words


@njit(cache=True)
def wq_write(st, q_line, q_words, n, cycle):
    """Write ``n`` outputs issued at ``cycle`` (``_kernels._wbuf_write`` on the queue): the outputs
    between two that stall or start a drain are applied in bulk, those are walked one by one.

    Returns ``(stall, q_line, q_words)``.
    """
    free = st[Q_FREE]
    line_idx = st[Q_LINE_IDX]
    n_lines = st[Q_N_LINES]
    drain_line = st[Q_DRAIN_LINE]
    drain_end = st[Q_DRAIN_END]
    o_act = st[Q_ACT]
    o_bw = st[Q_BW]
    m = st[Q_DRAIN_LINES]
    current = cycle
    ooff = 0
    left = n
    while left > 0:
        # outputs before the next one that stalls or starts a drain change nothing else: in bulk
        if current < drain_end:
            k = min(left - 1, max(free, 1) - 1)
        else:
            k = min(left - 1, max(free - o_act + 1, 1) - 1)
        if k > 0:
            free -= k
            line_idx += k
            n_lines += line_idx // o_bw
            line_idx = line_idx % o_bw
            left -= k
        # one output, exactly as write_buffer.service_writes handles it
        left -= 1
        line_idx += 1
        free -= 1
        if line_idx == o_bw:
            n_lines += 1
            line_idx = 0
        if current < drain_end:
            if free <= 0:
                ooff += drain_end - current
                current = drain_end
        elif free < o_act:
            if line_idx != 0:
                q_line, q_words = _wq_push(st, q_line, q_words, n_lines, line_idx)
                n_lines += 1
                line_idx = 0
            end_line = min(drain_line + m, n_lines)
            num = end_line - drain_line
            if num > 0:
                data = num * o_bw - (o_bw - _wq_pop_until(st, q_line, q_words, end_line))
                st[Q_ACC] += data
                st[Q_DRAM_VALID] = 1
                st[Q_DRAM_START] = min(st[Q_DRAM_START], current)
                st[Q_DRAM_STOP] = max(st[Q_DRAM_STOP], current + num - 1)
                free += data
                drain_line = end_line
                drain_end = current + num - 1
            else:
                drain_end = current
    st[Q_FREE] = free
    st[Q_LINE_IDX] = line_idx
    st[Q_N_LINES] = n_lines
    st[Q_DRAIN_LINE] = drain_line
    st[Q_DRAIN_END] = drain_end
    return ooff, q_line, q_words


@njit(cache=True, inline="always")
def wq_bulk(st, w):
    """Write ``w`` outputs known to start no drain and stall nothing (lines fill, free shrinks)."""
    st[Q_FREE] -= w
    k = st[Q_LINE_IDX] + w
    o_bw = st[Q_BW]
    st[Q_N_LINES] += k // o_bw
    st[Q_LINE_IDX] = k % o_bw


@njit(cache=True)
def wq_finish(st, q_line, q_words, cycle):
    """Drain what is left after the last demand row from ``cycle`` on (``_kernels._wbuf_finish``).

    Returns ``(DRAM words written, first DRAM cycle, last DRAM cycle)``, the cycles 0 if none.
    """
    o_bw = st[Q_BW]
    if st[Q_LINE_IDX] != 0:
        q_line, q_words = _wq_push(st, q_line, q_words, st[Q_N_LINES], st[Q_LINE_IDX])
        st[Q_N_LINES] += 1
        st[Q_LINE_IDX] = 0
    n_lines = st[Q_N_LINES]
    m = st[Q_DRAIN_LINES]
    drain_line = st[Q_DRAIN_LINE]
    if drain_line < n_lines:
        # drains of m lines (the last one shorter), one line a cycle, back to back
        acc = 0
        # only the last line of each drain range can count short: walk the queue once
        head = st[Q_HEAD]
        tail = st[Q_TAIL]
        cap = q_line.shape[0]
        for k in range(head, tail):
            line = q_line[k % cap]
            if line >= drain_line and ((line - drain_line + 1) % m == 0 or line == n_lines - 1):
                acc -= o_bw - q_words[k % cap]
        acc += (n_lines - drain_line) * o_bw
        st[Q_HEAD] = tail
        st[Q_ACC] += acc
        st[Q_DRAM_START] = min(st[Q_DRAM_START], cycle)
        st[Q_DRAM_STOP] = max(st[Q_DRAM_STOP], cycle + (n_lines - drain_line) - 1)
        st[Q_DRAM_VALID] = 1
        st[Q_DRAIN_END] = cycle + (n_lines - drain_line) - 1
        st[Q_DRAIN_LINE] = n_lines
    if st[Q_DRAM_VALID]:
        return st[Q_ACC], st[Q_DRAM_START], st[Q_DRAM_STOP]
    return st[Q_ACC], 0, 0


@njit(cache=True)
def _prefetch_shape(df, o, R, C, npx, win, nfilt):
    """``(M, N, Tm)`` of operand ``o``'s stacked prefetch matrix (see :func:`prefetch_sequence`)."""
    Sr, Sc, T, _, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    if df == 0:
        if o == 0:
            return row_fold * T, R, T
        return col_fold * T, C, T
    if df == 1:
        if o == 0:
            return row_fold * T, R, T
        return col_fold * win, C, win
    if o == 0:
        return col_fold * win, C, win
    return row_fold * nfilt, R, nfilt


@njit(cache=True)
def _prefetch_pad(df, o, R, C, npx, win, nfilt):
    """``(r0, c0)``: the only padding entries (lanes past the operand's end) of operand ``o``'s stacked
    prefetch matrix are those at rows ``>= r0`` and columns ``>= c0`` (its last block); ``r0 = M``
    when there are none."""
    M, N, Tm = _prefetch_shape(df, o, R, C, npx, win, nfilt)
    if o == 0:
        limit = win if df == 1 else npx
    else:
        limit = win if df == 2 else nfilt
    c0 = limit - (M // Tm - 1) * N
    if c0 >= N:
        return M, N
    return M - Tm, c0


@njit(cache=True)
def _valid_before(diag, k, d, c, M, N, r0, c0):
    """Valid entries before position ``k`` of a prefetch order whose only invalid entries are its
    padding (rows ``>= r0``, columns ``>= c0``, :func:`_prefetch_pad`): ``k`` is column ``c`` of
    anti-diagonal ``d`` (diagonal order) or of row ``d`` (row-major order). Padding before it: in
    diagonal order the padding block's entries on diagonals before ``d`` (a triangle count, as
    :func:`_prefetch_span` counts the matrix's) plus those on ``d`` left of ``c``."""
    if not diag:
        if d < r0:
            return k
        return k - (d - r0) * (N - c0) - max(0, c - c0)
    if d < r0 + c0:
        return k
    a, b, x = M - r0, N - c0, d - r0 - c0
    # D(a, b, x) = #{i < a, j < b: i + j < x} = T(x) - T(x - a) - T(x - b) + T(x - a - b), T(n) = n(n+1)/2 (n > 0)
    pad = x * (x + 1) // 2
    if x > a:
        pad -= (x - a) * (x - a + 1) // 2
    if x > b:
        pad -= (x - b) * (x - b + 1) // 2
    if x > a + b:
        pad += (x - a - b) * (x - a - b + 1) // 2
    cmin = max(c0, d - M + 1)
    cmax = min(c, d - r0 + 1)
    if cmax > cmin:
        pad += cmax - cmin
    return k - pad


@njit(cache=True)
def _prefetch_span(df, o, r, fr, fc, R, M, N, Tm):
    """``(k0, d)``: prefetch-order position of lane 0 of demand row ``r`` of fold (fr, fc) and the
    anti-diagonal (or, in row-major order, the row) of the stacked prefetch matrix it lies on: lane
    ``c`` of the row is the entry at position ``k0 + c`` (§3.2). The operand stream of a fold is one
    anti-diagonal of its block of the stacked prefetch matrix (os; ws ifmap; is filter), the
    stationary tile one of its rows (ws filter; is ifmap)."""
    if (df == 1 and o == 1) or (df == 2 and o == 0):
        d = fc * Tm + fr * R + R - 1 - r
        return d * N, d
    if df == 0:
        d = (fr if o == 0 else fc) * Tm + r
    else:
        d = fr * Tm + r - R
    # entries on diagonals before d, then the row offset of lane 0
    return _diag_start(d, M, N) + min(d, M - 1) - d, d


@njit(cache=True, inline="always")
def _diag_start(d, M, N):
    """Entries on the anti-diagonals before ``d`` of an ``M x N`` matrix (those of an ``M``-row matrix
    without a column bound, less the triangle past column ``N``)."""
    if d <= M:
        start = d * (d + 1) // 2
    else:
        start = M * (M + 1) // 2 + (d - M) * M
    m = d - N if d > N else 0
    return start - m * (m + 1) // 2


@njit(cache=True)
def _lane_rows(df, o, R, T, rows_used, cols_used):
    """``[ls, le)``: the demand rows of a fold that hold entries of operand ``o`` (:func:`_row_range`)."""
    if df == 0:
        return 0, T + (rows_used if o == 0 else cols_used) - 1
    if (df == 1 and o == 0) or (df == 2 and o == 1):
        return R, R + T + rows_used - 1
    return R - rows_used, R


@njit(cache=True)
def _ofmap_quiet_until(cum, r, L, free, drain_end, cycle, o_act):
    """First demand row ``q >= r`` of a fold whose writes start a drain or stall (``L`` if none), the
    rows before it issued back to back from ``cycle`` (``ofmap_events``' search; ``cum`` = the fold's
    output profile, :func:`fold_output_profiles`)."""
    base = cum[r]
    ra = min(L, r + max(0, drain_end - cycle))  # rows r .. ra-1 run while a drain is under way
    q = L
    if ra > r:
        # the row whose writes bring the free words to 0: last q with cum[q] < base + max(free, 1)
        x = base + max(free, 1)
        lo, hi = 0, L + 1
        while lo < hi:
            mid = (lo + hi) >> 1
            if cum[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        q = lo - 1
    if q >= ra:
        # afterwards a drain starts once fewer than the active half are free: last q with cum[q] <= x
        x = max(base + free - o_act, cum[ra])
        lo, hi = 0, L + 1
        while lo < hi:
            mid = (lo + hi) >> 1
            if cum[mid] <= x:
                lo = mid + 1
            else:
                hi = mid
        q = lo - 1
    return min(q, L)


@njit(cache=True)
def _stretch_of(df, r, fr, fc, R, M, N, Tm):
    """``2 i``: where in :func:`edge_stretches`' table the stretch that ifmap demand row ``r`` of fold
    ``(fr, fc)`` reads starts (diagonal order: stretch ``fr (Tm + N - 1) + d - fr Tm``; row-major: its row)."""
    _, dg = _prefetch_span(df, np.int64(0), r, fr, fc, R, M, N, Tm)
    return 2 * _stretch_at(df, dg, fr, N, Tm)


@njit(cache=True)
def _read_quiet_until(df, o, r, e, fr, fc, R, T, rows_used, cols_used, M, N, Tm, r0, c0, diag, A, B, full, seg):
    """First demand row ``q`` in ``[r, e)`` of a fold whose reads of operand ``o`` can miss (``e`` if
    none), for a window of valid-entry range ``[A, B)`` (wrapping when ``A >= B``; ``full``: every
    set). A streamed operand's rows move forward through its prefetch order (§3.2), so past a row
    inside the window the rows stay inside until the first whose end passes ``B`` (binary search); a
    stationary tile's rows are not counted in bulk. ``seg``: the ifmap's stretch counts when its
    windows cross the input edge (:func:`edge_stretches`), else empty (closed forms)."""
    ls, le = _lane_rows(df, o, R, T, rows_used, cols_used)
    if r < ls:
        return min(e, ls)
    if r >= le or full:
        return e
    if not ((df == 0) or (df == 1 and o == 0) or (df == 2 and o == 1)):
        return r
    # rows evaluated (one call site each: compile time): r, then the binary search's middles for the
    # first row in (r, min(e, le)) whose entries end past B, then (wrapped window) the row found
    end = min(e, le)
    lo_q = r + 1
    hi_q = end
    q = r
    step = 0
    while True:
        lo, hi, _ = _row_range(df, o, q, R, T, rows_used, cols_used)
        a0, dg = _prefetch_span(df, o, q, fr, fc, R, M, N, Tm)
        if o == 0 and seg.shape[0] > 0:  # a streamed ifmap: os or ws, diagonal order
            si = 2 * _stretch_at(df, dg, fr, N, Tm)
            v0 = np.int64(seg[si])
            v1 = v0 + seg[si + 1]
        else:
            v0 = _valid_before(diag, a0 + lo, dg, lo, M, N, r0, c0)
            v1 = _valid_before(diag, a0 + hi + 1, dg, hi + 1, M, N, r0, c0)
        if step == 0:
            if A < B:
                if not (A <= v0 and v1 <= B):
                    return r
            elif v0 >= A:
                return e  # the top part of a wrapped window: later rows only move further up
            elif v1 > B:
                return r
            step = 1
        elif step == 1:
            if v1 > B:
                hi_q = q
            else:
                lo_q = q + 1
        else:
            # jumped from the wrapped window's bottom part straight into its top part?
            return e if v0 >= A else lo_q
        if lo_q < hi_q:
            q = (lo_q + hi_q) // 2
            continue
        if lo_q >= end:
            return e
        if A < B:
            return lo_q
        step = 2
        q = lo_q


# --- periodic folds (USER mode, output stationary; docs/models/systolic.md §3.2 "Periods") ----------
# At a fold boundary of a sweep the walk's whole state is a snapshot row; two snapshots P folds apart
# that are equal once normalised (cycles relative to the boundary's cycle, the ifmap window relative
# to the fold's first prefetch entry, OFMAP lines relative to the lines written) repeat: every later
# P folds add the same deltas, as long as the prefetch order stays a translation of itself.
PS_ROW = 0
PS_STALL = 1
PS_ACC = 2          # 2, 3: DRAM words read (ifmap, filter)
PS_PF = 4           # 4, 5: last prefetch's completion cycle
PS_WS = 6           # 6, 7: window start (sets)
PS_WRAP = 8         # ifmap window wraps so far
PS_LASTS = 9        # 9 .. 14: sram_last (2), o_last, total, last_out, OFMAP DRAM stop ("last" cycles)
PS_FREE = 15
PS_LIDX = 16
PS_NL = 17
PS_DL = 18
PS_DE = 19
PS_OACC = 20
PS_OVALID = 21
PS_FLAGS = 22
PS_EVC = 23         # 23, 24: prefetch events of the sweep so far
PS_FR = 25
PS_QN = 26          # partial lines queued, then (line - lines written, words) of each
PS_Q = 27
PS_QMAX = 4
N_PS = PS_Q + 2 * PS_QMAX
N_PS_KEEP = 16      # snapshots kept per sweep


@njit(cache=True)
def _period_snap(snap, row, stall, dram_acc, last_pf, win_s, wraps, sram_first, sram_last, o_first, o_last, total,
                 last_out, wst, q_line, q_words, fold_ev_prev, sweep_ev_cur, fr):
    """Fill ``snap`` with the walk's state at the start of fold ``fr``; False if more than ``PS_QMAX``
    partial lines are queued (then no snapshot)."""
    n = wst[Q_TAIL] - wst[Q_HEAD]
    if n > PS_QMAX:
        return False
    snap[PS_ROW] = row
    snap[PS_STALL] = stall
    flags = 0
    for o in range(2):
        snap[PS_ACC + o] = dram_acc[o]
        snap[PS_PF + o] = last_pf[o]
        snap[PS_WS + o] = win_s[o]
        snap[PS_LASTS + o] = sram_last[o]
        snap[PS_EVC + o] = sweep_ev_cur[o]
        flags |= (1 if sram_first[o] != -(1 << 62) else 0) << o
        flags |= (1 if fold_ev_prev[o] == 0 else 0) << (2 + o)
        flags |= (1 if sweep_ev_cur[o] > 0 else 0) << (4 + o)
    flags |= (1 if o_first != -(1 << 62) else 0) << 6
    snap[PS_FLAGS] = flags
    snap[PS_WRAP] = wraps
    snap[PS_LASTS + 2] = o_last
    snap[PS_LASTS + 3] = total
    snap[PS_LASTS + 4] = last_out
    snap[PS_LASTS + 5] = wst[Q_DRAM_STOP]
    snap[PS_FREE] = wst[Q_FREE]
    snap[PS_LIDX] = wst[Q_LINE_IDX]
    snap[PS_NL] = wst[Q_N_LINES]
    snap[PS_DL] = wst[Q_DRAIN_LINE]
    snap[PS_DE] = wst[Q_DRAIN_END]
    snap[PS_OACC] = wst[Q_ACC]
    snap[PS_OVALID] = wst[Q_DRAM_VALID]
    snap[PS_FR] = fr
    snap[PS_QN] = n
    cap = q_line.shape[0]
    for i in range(n):
        k = (wst[Q_HEAD] + i) % cap
        snap[PS_Q + 2 * i] = q_line[k] - wst[Q_N_LINES]
        snap[PS_Q + 2 * i + 1] = q_words[k]
    return True


@njit(cache=True)
def _period_match(a, b, if_active, fold_entries, eps):
    """Do snapshots ``a`` (earlier) and ``b`` hold the same state once normalised (module comment
    above)? Returns ``-1`` if not, else a bit mask of the "last" cycles that moved with the cycle (the
    others did not change between ``a`` and ``b``). ``if_active``: the ifmap window moves (not the whole
    order, not a skipped pass), so it must sit at the same place relative to the fold's first entry
    (``fold_entries`` prefetch entries a fold, sets of ``eps``) and not have wrapped in between."""
    ca = a[PS_ROW] + a[PS_STALL]
    cb = b[PS_ROW] + b[PS_STALL]
    if cb <= ca or a[PS_FLAGS] != b[PS_FLAGS] or a[PS_QN] != b[PS_QN]:
        return -1
    for i in range(2 * a[PS_QN]):
        if a[PS_Q + i] != b[PS_Q + i]:
            return -1
    if a[PS_FREE] != b[PS_FREE] or a[PS_LIDX] != b[PS_LIDX] or a[PS_OVALID] != b[PS_OVALID]:
        return -1
    if a[PS_NL] - a[PS_DL] != b[PS_NL] - b[PS_DL]:
        return -1
    if max(a[PS_DE] - ca, 0) != max(b[PS_DE] - cb, 0):
        return -1
    if a[PS_WS + 1] != b[PS_WS + 1]:
        return -1
    if if_active:
        if a[PS_WRAP] != b[PS_WRAP]:
            return -1
        if (b[PS_WS] - a[PS_WS]) * eps != (b[PS_FR] - a[PS_FR]) * fold_entries:
            return -1
    elif a[PS_WS] != b[PS_WS]:
        return -1
    # "last" cycles, and each operand's last prefetch (used only by a later prefetch: none in the
    # period, none in its repeats): moved with the cycle (bit set) or unchanged
    mask = 0
    for i in range(8):
        x = PS_LASTS + i if i < 6 else PS_PF + i - 6
        if b[x] - cb == a[x] - ca:
            mask |= 1 << i
        elif b[x] != a[x]:
            return -1
    return mask


@njit(cache=True)
def _period_step(psc, snaps, snap, fr, fc, R, T, f_lo, f_hi, p_img, skip_repeats, if_kmax, nA, nlines, nP, eps_u, win_s,
                 win_e, wv_s, wv_e, sweep_ev_prev, sweep_ev_cur, fold_ev_prev, dram_acc, last_pf, dram_stop, sram_first,
                 sram_last, wst, q_line, q_words, pstat):
    """:func:`walk_layer`'s periodic folds at the start of regular fold ``fr`` of sweep ``fc``: snapshot the
    state; if it matches a kept snapshot (:func:`_period_match`), add the whole periods that fit and
    return the folds they cover (0 if none). ``psc``: the walk's scalars ``[row, stall, total, last_out,
    o_first, o_last, snapshots kept, ifmap wraps]`` (updated)."""
    # the ifmap window moves unless it holds the whole order or the sweep skips the ifmap
    if_active = nA[0] != nlines[0] and not (skip_repeats and fc > 0 and sweep_ev_prev[0] == 0)
    img_chk = if_active and if_kmax > 1  # addresses matter: periods of whole images
    k_base = 1
    if if_active:
        # the window moves by nP sets of eps entries (it does not wrap in a period): k folds
        # shift the entries by a multiple of nP * eps
        x, y = T * R, eps_u[0] * nP[0]
        while y:
            x, y = y, x % y
        k_base = eps_u[0] * nP[0] // x
        if img_chk:
            if p_img <= 0:
                k_base = 0
            else:
                x, y = R, p_img
                while y:
                    x, y = y, x % y
                k2 = p_img // x
                x, y = k_base, k2
                while y:
                    x, y = y, x % y
                k_base = k_base // x * k2
    if k_base > 0 and (fr - f_lo) % k_base == 0 and (
            not img_chk or (fr * R // p_img) * p_img // R >= f_lo) and _period_snap(
            snap, psc[0], psc[1], dram_acc, last_pf, win_s, psc[7], sram_first, sram_last, psc[4], psc[5],
            psc[2], psc[3], wst, q_line, q_words, fold_ev_prev, sweep_ev_cur, fr):
        fe_max = f_hi + 1
        if img_chk:
            # the images read up to the end of the replay lie in regular folds
            fe_max = min(fe_max, ((f_hi + 1) * R // p_img) * p_img // R)
        for i in range(min(psc[6], N_PS_KEEP)):
            a = snaps[(psc[6] - 1 - i) % N_PS_KEEP]  # a row: a C-contiguous 1-d view
            mask = _period_match(a, snap, if_active, T * R, eps_u[0])
            if mask < 0:
                continue
            P = fr - a[PS_FR]
            j = (fe_max - fr) // P
            if if_active:
                # the window slides without wrapping round the order up to the end of the replay
                j = min(j, (nlines[0] - 1 - nA[0] - win_s[0]) // (snap[PS_WS] - a[PS_WS]))
            if j < 1:
                break
            # replay j periods: add their deltas, shift the "last" cycles that moved
            cb = snap[PS_ROW] + snap[PS_STALL]
            dcyc = cb - a[PS_ROW] - a[PS_STALL]
            psc[0] += j * (snap[PS_ROW] - a[PS_ROW])
            psc[1] += j * (snap[PS_STALL] - a[PS_STALL])
            for o in range(2):
                dram_acc[o] += j * (snap[PS_ACC + o] - a[PS_ACC + o])
                if mask & (64 << o):
                    last_pf[o] += j * dcyc
                    if last_pf[o] > dram_stop[o]:
                        dram_stop[o] = last_pf[o]
                sweep_ev_cur[o] += j * (snap[PS_EVC + o] - a[PS_EVC + o])
                if mask & (1 << o):
                    sram_last[o] += j * dcyc
            if if_active:
                win_s[0] += j * (snap[PS_WS] - a[PS_WS])
                win_e[0] = win_s[0] + nA[0]
                wv_s[0] = win_s[0] * eps_u[0]
                wv_e[0] = win_e[0] * eps_u[0]
            if mask & 4:
                psc[5] += j * dcyc
            if mask & 8:
                psc[2] += j * dcyc
            if mask & 16:
                psc[3] += j * dcyc
            if mask & 32:
                wst[Q_DRAM_STOP] += j * dcyc
            dnl = snap[PS_NL] - a[PS_NL]
            wst[Q_N_LINES] += j * dnl
            wst[Q_DRAIN_LINE] += j * dnl
            if wst[Q_DRAIN_END] > cb:
                wst[Q_DRAIN_END] += j * dcyc
            wst[Q_ACC] += j * (snap[PS_OACC] - a[PS_OACC])
            cap = q_line.shape[0]
            for k in range(wst[Q_HEAD], wst[Q_TAIL]):
                q_line[k % cap] += j * dnl
            pstat[1] += j * P
            psc[6] = 0
            return j * P
        k = psc[6] % N_PS_KEEP
        for i in range(N_PS):
            snaps[k, i] = snap[i]
        psc[6] += 1
    return 0


def simulate_layer(df, R, C, npx, win, nfilt, H, W, pix_base, pix_r, pix_c, win_off, win_r, win_c,
                   user_bw, sizes, bws, if_cnt, if_slots, if_vc, if_space, fi_space, skip_repeats, o1_rows, row_cycles,
                   pstat=None, if_geo=None):
    """Walk every demand row of one layer through SCALE-Sim's memory system (:func:`walk_layer`): USER
    mode when ``user_bw``, else CALC mode with last-use tables of ``if_space`` / ``fi_space`` words.
    ``pstat``: :func:`walk_layer`'s periodic folds (default None: every fold walked); ``if_geo``: its
    ifmap word geometry (default None: the set table, if any, is used)."""
    last = None if user_bw else (np.full(if_space, -1, np.int64), np.full(fi_space, -1, np.int64))
    return walk_layer(df, R, C, npx, win, nfilt, H, W, pix_base, pix_r, pix_c, win_off, win_r, win_c, sizes, bws,
                      if_cnt, if_slots, if_vc, skip_repeats, o1_rows, row_cycles, last, pstat,
                      np.zeros(0, np.int64) if if_geo is None else if_geo)


@njit(cache=True)
def walk_layer(df, R, C, npx, win, nfilt, H, W, pix_base, pix_r, pix_c, win_off, win_r, win_c, sizes, bws, if_cnt,
               if_slots, if_vc, skip_repeats, o1_rows, row_cycles, last, pstat, if_geo):
    """Walk every demand row of one layer through SCALE-Sim's memory system.

    ``last``: ``None`` in USER mode; in CALC mode the per-word last-use tables of the ifmap and the
    filter (``(if_last, fi_last)``, int64 filled with -1). Every mode test is ``last is None`` on the
    argument itself, which Numba decides while compiling (branch pruning on a ``None`` argument): a USER
    call compiles no CALC code (about 0.6 s less of a first run).

    USER mode: ``if_cnt`` / ``if_slots`` / ``if_vc`` are :func:`ifmap_sets` of the ifmap's prefetch
    order (its set table when words repeat, its stretch counts when windows cross the input edge); the
    filter's order holds each word once and only padding is invalid, so it needs neither. A read hits
    when its own prefetch entry's set (from the valid count before the entry, :func:`_valid_before` or
    the stretch counts) or, for a repeated ifmap word, another set holding it lies in the active window.
    With a non-empty ``if_geo`` (:func:`ifmap_word_geometry`) a repeated word's sets come from the geometry
    (:func:`word_sets`) and the set table is not read; when the table's arrays are passed allocated
    (``2 x words`` and ``kmax x words`` int32) and ``if_geo`` holds a ``GEO_BUDGET``, the walk fills the
    table there (:func:`fill_sets`) once its projected calls pass the budget, and reads it from then on
    (else pass them empty). With
    ``o1_rows`` a demand row is served in O(1) when the sets of its own entries (a contiguous stretch
    of the prefetch order, :func:`_prefetch_span`) all lie in the active window: each of its
    addresses then hits in its own set.

    ``row_cycles``: a ``(4, n_rows)`` int64 array receiving each demand row's service cycle for the
    ifmap, filter and ofmap buffers and its issue cycle (for traces), or a ``(4, 0)`` array.
    ``sizes`` = (ifmap, filter, ofmap) SRAM words; ``bws`` = (ifmap, filter, ofmap) DRAM words per
    cycle (USER mode; CALC mode uses 10, 10 and C as SCALE-Sim does). In CALC mode the set arrays
    are unused (pass empty ones). Returns the int64 vector indexed by ``R_*``.

    ``pstat``: None (every fold walked) or int64 ``[on, folds replayed (out), pixels of one image]``.
    With ``on`` (USER mode, output stationary, windows inside the input, no per-row cycles) the walk
    replays periodic folds: when the state at the start of a fold equals, normalised, the state some
    folds earlier in the same sweep and the folds ahead read the same prefetch entries shifted
    (:func:`_period_step`, docs §3.2 "Periods"), every whole period that fits is added at once;
    ``pstat[1]`` counts the folds not walked.
    """
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    res = np.zeros(N_RESULTS, np.int64)
    buf = np.empty(max(R, C) + 1, np.int64)

    # ---------------- read buffers -------------------------------------------------------------
    # index 0 = ifmap, 1 = filter
    tot = np.empty(2, np.int64)
    act = np.empty(2, np.int64)
    pre = np.empty(2, np.int64)
    rbw = np.empty(2, np.int64)
    for o in range(2):
        tot[o] = sizes[o]
        act[o] = (tot[o] + 1) // 2          # int(ceil(total * 0.5))
        pre[o] = tot[o] - act[o]
        rbw[o] = bws[o] if last is None else 10
    # USER-mode state
    nlines = np.zeros(2, np.int64)
    nA = np.zeros(2, np.int64)
    nP = np.zeros(2, np.int64)
    win_s = np.zeros(2, np.int64)
    win_e = np.zeros(2, np.int64)
    last_pf = np.zeros(2, np.int64)
    # shared
    dram_acc = np.zeros(2, np.int64)
    dram_start = np.zeros(2, np.int64)
    dram_stop = np.zeros(2, np.int64)
    sram_first = np.full(2, -(1 << 62), np.int64)
    sram_last = np.zeros(2, np.int64)

    # USER mode: prefetch-matrix shape, padding block and set size of each operand
    pf_M = np.zeros(2, np.int64)
    pf_N = np.zeros(2, np.int64)
    pf_Tm = np.zeros(2, np.int64)
    pf_r0 = np.zeros(2, np.int64)
    pf_c0 = np.zeros(2, np.int64)
    pf_diag = np.zeros(2, np.bool_)
    eps_u = np.ones(2, np.int64)
    wv_s = np.zeros(2, np.int64)  # the window [win_s, win_e) in valid-entry units (set * eps)
    wv_e = np.zeros(2, np.int64)
    if_kmax = 2 * if_slots.shape[0] // max(if_cnt.shape[0], 1)
    geo_on = if_geo.shape[0] > 0
    geo_budget = 0
    if geo_on:
        if_kmax = if_geo[GEO_KMAX]
        if if_slots.shape[0] >= if_kmax * npx // (if_geo[GEO_EH] * if_geo[GEO_EW]) * H * W * if_geo[GEO_CH]:
            geo_budget = if_geo[GEO_BUDGET]  # the table's arrays are allocated: it may turn to the table
    geo_calls = 0
    # a word's valid counts from word_sets, kept in a direct-mapped cache (slot = word mod size): its
    # reads come within a few input rows of each other, so the size is a power of two over twice the
    # words of the rows one window spans
    geo_cn = 1
    if geo_on:
        span_words = ((if_geo[GEO_FH] - 1) * if_geo[GEO_DH] + 1) * if_geo[GEO_W] * if_geo[GEO_CH]
        while geo_cn < 2 * span_words and geo_cn < (1 << 22):
            geo_cn *= 2
    geo_tag = np.full(geo_cn, -1, np.int64)
    geo_cnt = np.zeros(geo_cn, np.int64)
    geo_val = np.empty(geo_cn * max(if_kmax, 1), np.int64)
    use_vc = if_vc.shape[0] > 0
    if last is None:
        for o in range(2):
            pf_M[o], pf_N[o], pf_Tm[o] = _prefetch_shape(df, o, R, C, npx, win, nfilt)
            pf_r0[o], pf_c0[o] = _prefetch_pad(df, o, R, C, npx, win, nfilt)
            pf_diag[o] = not ((df == 1 and o == 1) or (df == 2 and o == 0))
            eps = (tot[o] + 99) // 100
            eps_u[o] = eps
            seqlen = pf_M[o] * pf_N[o]
            if o == 0 and use_vc:
                nvalid = np.int64(if_vc[2 * _n_stretches(df, pf_M[0], pf_N[0], pf_Tm[0])])
            else:
                nvalid = seqlen - (pf_M[o] - pf_r0[o]) * (pf_N[o] - pf_c0[o])  # all but the padding
            nl = nvalid // eps + 1
            a_max = (act[o] + eps - 1) // eps
            p_max = (pre[o] + eps - 1) // eps
            nA[o] = min(a_max, nl)
            nP[o] = min(p_max, nl - nA[o])
            nlines[o] = nl
            win_s[o] = 0
            win_e[o] = nA[o]
            wv_e[o] = nA[o] * eps
            # initial fill of the active half before cycle 0 (first demand row is at cycle 0)
            fetch_rows = (seqlen + rbw[o] - 1) // rbw[o]
            n0 = min((act[o] + rbw[o] - 1) // rbw[o], fetch_rows)
            dram_acc[o] = n0 * rbw[o]
            dram_start[o] = -n0
            last_pf[o] = -1
            dram_stop[o] = -1
    else:
        # CALC-mode state (defined, and used, only where last is not None)
        eps_c = np.empty(2, np.int64)
        cur = np.zeros(2, np.int64)
        elems = np.zeros(2, np.int64)
        rstart = np.zeros(2, np.int64)
        rend = np.full(2, 49, np.int64)
        active_done = np.zeros(2, np.bool_)
        lp_start = np.full(2, -2, np.int64)
        lp_end = np.full(2, -1, np.int64)
        first_req = np.zeros(2, np.int64)
        first_seen = np.zeros(2, np.bool_)
        pf_set_start = np.zeros(2, np.int64)
        trace_first = np.zeros(2, np.int64)
        trace_last = np.zeros(2, np.int64)
        trace_valid = np.zeros(2, np.bool_)
        for o in range(2):
            eps_c[o] = tot[o] // 100

    # ---------------- write buffer --------------------------------------------------------------
    wst, q_line, q_words = wq_new(sizes[2], bws[2] if last is None else C)
    # quiet rows in bulk (USER mode, no per-row cycles wanted)
    bulk = last is None and o1_rows and row_cycles.shape[1] == 0
    prof = fold_output_profiles(df, R, C, T, L, Sr, Sc, row_fold, col_fold) if bulk else np.zeros((4, 1), np.int64)
    cum = prof[0]
    o_first = -(1 << 62)
    o_last = 0

    stall = 0
    total = 0
    row = 0
    last_out = np.int64(0)  # not a literal 0: callees compile once
    # pass skipping bookkeeping (events = DRAM prefetches triggered by the operand)
    ev = np.zeros(2, np.int64)
    sweep_ev_prev = np.full(2, -1, np.int64)
    sweep_ev_cur = np.zeros(2, np.int64)
    fold_ev_prev = np.full(2, -1, np.int64)
    skip = np.zeros(2, np.bool_)
    last_fold = row_fold * col_fold - 1
    fold = -1
    # periodic folds (docs §3.2 "Periods"; output stationary: the ifmap's row folds within a sweep). Every
    # test is under ``pstat is not None`` on the argument itself (pruned while compiling, as ``last``): a
    # walk without them compiles none of this
    if pstat is not None:
        resume = 0
        wraps = 0
        per_on = last is None and df == 0 and pstat[0] != 0 and not use_vc and row_cycles.shape[1] == 0
        snaps = np.zeros((N_PS_KEEP, N_PS), np.int64)
        snap = np.zeros(N_PS, np.int64)
        psc = np.zeros(8, np.int64)
        f_lo = 1
        f_hi = -1
        if per_on:
            # regular folds: every entry they read lies on an anti-diagonal d of the ifmap's prefetch matrix
            # with N - 1 <= d and no padding on or before it, so the valid entries before lane c of d are
            # d * N + c - N(N-1)/2 and fold f + k reads fold f's entries k * T * R later (fold f reads
            # anti-diagonals f * T .. f * T + T + R - 2); the last row fold is always walked
            f_lo = max(1, (R - 2 + T) // T)
            d_hi = min(pf_M[0] - 1, pf_r0[0] + pf_c0[0] - 1)
            f_hi = min(row_fold - 2, (d_hi - T - R + 2) // T)

    for fc in range(col_fold):
        if pstat is not None:
            psc[6] = 0
        for fr in range(row_fold):
            if pstat is not None:
                if fr < resume:
                    fold += 1  # a fold of a replayed period (its effect was added at its start)
                    continue
                if per_on and f_lo <= fr <= f_hi:
                    psc[0] = row
                    psc[1] = stall
                    psc[2] = total
                    psc[3] = last_out
                    psc[4] = o_first
                    psc[5] = o_last
                    psc[7] = wraps
                    adv = _period_step(psc, snaps, snap, fr, fc, R, T, f_lo, f_hi, pstat[2], skip_repeats, if_kmax, nA,
                                       nlines, nP, eps_u, win_s, win_e, wv_s, wv_e, sweep_ev_prev, sweep_ev_cur,
                                       fold_ev_prev, dram_acc, last_pf, dram_stop, sram_first, sram_last, wst, q_line,
                                       q_words, pstat)
                    if adv > 0:
                        row = psc[0]
                        stall = psc[1]
                        total = psc[2]
                        last_out = psc[3]
                        o_last = psc[5]
                        resume = fr + adv
                        fold += 1
                        continue
            fold += 1
            rows_used = min(R, Sr - fr * R)
            cols_used = min(C, Sc - fc * C)
            # --- decide which operand passes can be skipped (exact: see module docstring)
            for o in range(2):
                # which operand repeats how: sweep-repeat (same for every fc) or fold-repeat (os filter)
                sweep_rep = (df == 0 and o == 0) or (df == 1 and o == 0) or (df == 2 and o == 1)
                fold_rep = df == 0 and o == 1
                if fr == 0:
                    if fc > 0:
                        sweep_ev_prev[o] = sweep_ev_cur[o]
                    sweep_ev_cur[o] = 0
                s_ok = False
                if skip_repeats and fold != last_fold:
                    if sweep_rep and fc > 0 and sweep_ev_prev[o] == 0:
                        s_ok = True
                    if fold_rep and fr > 0 and fold_ev_prev[o] == 0:
                        s_ok = True
                skip[o] = s_ok
                ev[o] = 0
            if bulk:
                cum = prof[(0 if rows_used == R else 2) + (0 if cols_used == C else 1)]
            r = np.int64(0)
            while r < L:
                cycle = row + stall
                if bulk:
                    # rows r .. e-1 during which no read leaves its window and the OFMAP buffer starts no
                    # drain and stalls nothing: counted in bulk (§3.7)
                    e = _ofmap_quiet_until(cum, r, L, wst[Q_FREE], wst[Q_DRAIN_END], cycle, wst[Q_ACT])
                    for o in range(2):
                        if e > r and not skip[o]:
                            e = min(e, _read_quiet_until(df, o, r, e, fr, fc, R, T, rows_used, cols_used, pf_M[o],
                                                         pf_N[o], pf_Tm[o], pf_r0[o], pf_c0[o], pf_diag[o], wv_s[o],
                                                         wv_e[o], win_s[o] == win_e[o], if_vc))
                    if e > r:
                        for o in range(2):
                            ls, le = _lane_rows(df, o, R, T, rows_used, cols_used)
                            f0 = max(r, ls)
                            f1 = min(e, le) - 1
                            if o == 0 and use_vc:
                                # windows past the edge: a row may hold no valid entry (its stretch's count)
                                while f0 <= f1 and if_vc[_stretch_of(df, f0, fr, fc, R, pf_M[0], pf_N[0],
                                                                     pf_Tm[0]) + 1] == 0:
                                    f0 += 1
                                while f1 >= f0 and if_vc[_stretch_of(df, f1, fr, fc, R, pf_M[0], pf_N[0],
                                                                     pf_Tm[0]) + 1] == 0:
                                    f1 -= 1
                            if f1 >= f0:  # rows with addresses
                                if sram_first[o] == -(1 << 62):
                                    sram_first[o] = cycle + f0 - r + 1
                                sram_last[o] = cycle + f1 - r + 1
                        w = cum[e] - cum[r]
                        if w > 0:
                            wq_bulk(wst, w)
                            # the rows that write outputs are one range of the fold (_wbuf_row)
                            if df == 0:
                                w0, w1 = T - 1 + R - rows_used, T + R - 3 + cols_used
                            else:
                                w0, w1 = 2 * R - 1, 2 * R - 3 + T + cols_used
                            if o_first == -(1 << 62):
                                o_first = cycle + max(r, w0) - r
                            o_last = cycle + min(e - 1, w1) - r
                        last_out = cycle + e - 1 - r
                        if last_out > total:
                            total = last_out
                        row += e - r
                        r = e
                        continue
                # ============ ifmap (o = 0) and filter (o = 1) reads ============
                st_max = 0
                for o in range(2):
                    offset = 1
                    any_valid = False
                    # column range of possibly valid entries of this demand row, then its addresses
                    lo, hi, mode = _row_range(df, o, r, R, T, rows_used, cols_used)
                    nb = 0
                    a0 = 0
                    dg = 0
                    v0 = np.int64(0)
                    if hi >= lo and last is None:
                        # valid entries before lanes lo and hi + 1 of the row's stretch of the order
                        a0, dg = _prefetch_span(df, o, r, fr, fc, R, pf_M[o], pf_N[o], pf_Tm[o])
                        if o == 0 and use_vc:
                            # the row's stretch of the order (ifmap_sets): valid entries before it and in it
                            si = 2 * _stretch_at(df, dg, fr, pf_N[0], pf_Tm[0])
                            v0 = np.int64(if_vc[si])
                            v1 = v0 + if_vc[si + 1]
                        else:
                            v0 = _valid_before(pf_diag[o], a0 + lo, dg, lo, pf_M[o], pf_N[o], pf_r0[o], pf_c0[o])
                            v1 = _valid_before(pf_diag[o], a0 + hi + 1, dg, hi + 1, pf_M[o], pf_N[o], pf_r0[o],
                                               pf_c0[o])
                        if v1 == v0:
                            hi = lo - 1  # no address in this row
                        elif skip[o]:
                            any_valid = True  # a repeat pass without DRAM activity: only validity matters
                            hi = lo - 1
                        elif o1_rows:
                            # sets floor(v0 / eps) .. floor((v1 - 1) / eps) in the window, in entry units
                            ws_ = wv_s[o]
                            we_ = wv_e[o]
                            if win_s[o] == win_e[o] or (ws_ < we_ and ws_ <= v0 and v1 <= we_) or (
                                    ws_ > we_ and (v0 >= ws_ or v1 <= we_)):
                                any_valid = True
                                hi = lo - 1  # every address hits in its own set: nothing changes
                    if hi >= lo:
                        nb = _fill_row(df, o, r, lo, hi, mode, fr, fc, R, C, win, pix_base, pix_r, pix_c, win_off,
                                       win_r, win_c, H, W, buf)
                    nv = v0  # with use_vc: valid entries before the row's next address (its valid entries)
                    for q in range(nb):
                        a = buf[q]
                        if a < 0:
                            continue
                        any_valid = True
                        if skip[o]:
                            # a repeat pass without DRAM activity: every read hits, so only
                            # whether the row holds a real address matters
                            break
                        if last is None:
                            # its own prefetch entry's set, then (a repeated ifmap word) every set holding it
                            c = lo + q
                            if o == 0 and use_vc:
                                vk = nv
                                nv += 1
                            else:
                                vk = _valid_before(pf_diag[o], a0 + c, dg, c, pf_M[o], pf_N[o], pf_r0[o], pf_c0[o])
                            hit = win_s[o] == win_e[o] or _in_window(vk, wv_s[o], wv_e[o])
                            guard = 0
                            while True:
                                if not hit and o == 0 and if_kmax > 1:
                                    slot = a & (geo_cn - 1)
                                    if geo_on and geo_tag[slot] != a:
                                        geo_calls += 1
                                        if 16 * geo_calls >= geo_budget > 0 and \
                                                geo_calls * L * (last_fold + 1) > geo_budget * row:
                                            # a sixteenth of the budget spent and the calls, projected over the
                                            # layer's demand rows, past it: fill the set table the caller
                                            # allocated and read the sets from it from here on (the same sets)
                                            fill_sets(if_cnt, if_slots, df, R, C, npx, win, nfilt, pix_base, pix_r,
                                                      pix_c, win_off, win_r, win_c, H, W, eps_u[0], if_kmax)
                                            geo_on = False
                                    if geo_on:
                                        gb = slot * if_kmax
                                        if geo_tag[slot] != a:
                                            geo_tag[slot] = a
                                            geo_cnt[slot] = word_sets(a, if_geo, df, pf_M[0], pf_N[0], pf_Tm[0],
                                                                      pf_r0[0], pf_c0[0], if_vc,
                                                                      geo_val[gb:gb + if_kmax])
                                        for q2 in range(gb, gb + geo_cnt[slot]):
                                            if _in_window(geo_val[q2], wv_s[0], wv_e[0]):
                                                hit = True
                                                break
                                    else:
                                        hit = _slot_hit(a, if_cnt, if_slots, if_kmax, win_s[0], win_e[0])
                                if hit:
                                    break
                                # new_prefetch(): slide the window, fetch the prefetch half
                                guard += 1
                                if guard > nlines[o] + 2:
                                    break  # address in no set: SCALE-Sim would loop forever
                                nl = nlines[o]
                                if pstat is not None:
                                    if o == 0 and win_s[o] + nP[o] >= nl:
                                        wraps += 1
                                win_s[o] = (win_s[o] + nP[o]) % nl
                                win_e[o] = (win_s[o] + nA[o]) % nl
                                wv_s[o] = win_s[o] * eps_u[o]
                                wv_e[o] = win_e[o] * eps_u[o]
                                n_req = (pre[o] + rbw[o] - 1) // rbw[o]
                                dram_acc[o] += n_req * rbw[o]
                                last_pf[o] = last_pf[o] + n_req + 1
                                if last_pf[o] > dram_stop[o]:
                                    dram_stop[o] = last_pf[o]
                                ev[o] += 1
                                pot = last_pf[o] - (cycle + offset)
                                offset += pot
                                if pot > 0:
                                    offset += pot
                                hit = win_s[o] == win_e[o] or _in_window(vk, wv_s[o], wv_e[o])
                        else:
                            if not first_seen[o]:
                                first_seen[o] = True
                                first_req[o] = cycle
                            lastarr = last[0] if o == 0 else last[1]
                            if lastarr[a] >= rstart[o]:
                                continue
                            lastarr[a] = cur[o]
                            dram_acc[o] += 1
                            ev[o] += 1
                            elems[o] += 1
                            if elems[o] == eps_c[o]:
                                elems[o] = 0
                                cur[o] += 1
                                if cur[o] == rend[o] + 1:
                                    if not active_done[o]:
                                        lp_end[o] = first_req[o] - 2
                                        cn = (50 * eps_c[o] + 9) // 10
                                        lp_start[o] = lp_end[o] - cn + 1
                                        active_done[o] = True
                                        pf_set_start[o] = rend[o] + 1
                                    else:
                                        cn = lp_end[o] - lp_start[o] + 1
                                        if cn < 1:
                                            cn = 1
                                        pf_set_start[o] += 50
                                    if not trace_valid[o]:
                                        trace_valid[o] = True
                                        trace_first[o] = lp_start[o] + 1
                                    trace_last[o] = lp_start[o] + cn
                                    rstart[o] += 50
                                    rend[o] += 50
                                    lp_start[o] = lp_end[o] + 1
                                    lp_end[o] = cycle
                    out = cycle + offset
                    if row_cycles.shape[1] > 0:
                        row_cycles[o, row] = out
                    if any_valid:
                        if sram_first[o] == -(1 << 62):
                            sram_first[o] = out
                        sram_last[o] = out
                    st = offset - 1
                    if st > st_max:
                        st_max = st
                # ============ ofmap writes ============
                n_valid = _wbuf_row(df, r, R, T, rows_used, cols_used)
                ooff = 0
                if n_valid > 0:
                    o_free = wst[Q_FREE] - n_valid
                    if (o_free >= wst[Q_ACT]) if cycle >= wst[Q_DRAIN_END] else (o_free > 0):
                        wq_bulk(wst, n_valid)  # no drain starts and nothing stalls
                    else:
                        ooff, q_line, q_words = wq_write(wst, q_line, q_words, n_valid, cycle)
                out_o = cycle + ooff
                if row_cycles.shape[1] > 0:
                    row_cycles[2, row] = out_o
                    row_cycles[3, row] = cycle
                if n_valid > 0:
                    if o_first == -(1 << 62):
                        o_first = out_o
                    o_last = out_o
                if ooff > st_max:
                    st_max = ooff
                stall += st_max
                if out_o > total:
                    total = out_o
                last_out = out_o
                row += 1
                r += 1
            # end of fold: record pass activity
            for o in range(2):
                sweep_ev_cur[o] += ev[o]
                fold_ev_prev[o] = ev[o]
        if pstat is not None:
            resume = 0

    # drain what is left in the OFMAP buffer after the last compute cycle
    o_acc, o_dram_start, o_dram_stop = wq_finish(wst, q_line, q_words, last_out)

    if last is not None:
        # complete_all_prefetches()
        for o in range(2):
            last_set_id = cur[o] if elems[o] > 0 else cur[o] - 1
            if not active_done[o]:
                lpe = -2
                cn = ((last_set_id + 1) * eps_c[o] + 9) // 10
                lps = lpe - cn + 1
            else:
                lps = lp_start[o]
                cn = lp_end[o] - lp_start[o] + 1
            if cn >= 1:
                if not trace_valid[o]:
                    trace_valid[o] = True
                    trace_first[o] = lps + 1
                trace_last[o] = lps + cn
            dram_start[o] = trace_first[o]
            dram_stop[o] = trace_last[o]

    res[R_TOTAL] = total
    res[R_STALL] = stall
    res[R_IF_DRAM] = dram_acc[0]
    res[R_FI_DRAM] = dram_acc[1]
    res[R_OF_DRAM] = o_acc
    res[R_IF_DRAM_START] = dram_start[0]
    res[R_IF_DRAM_STOP] = dram_stop[0]
    res[R_FI_DRAM_START] = dram_start[1]
    res[R_FI_DRAM_STOP] = dram_stop[1]
    res[R_OF_DRAM_START] = o_dram_start
    res[R_OF_DRAM_STOP] = o_dram_stop
    res[R_IF_SRAM_START] = sram_first[0] if sram_first[0] != -(1 << 62) else 0
    res[R_IF_SRAM_STOP] = sram_last[0]
    res[R_FI_SRAM_START] = sram_first[1] if sram_first[1] != -(1 << 62) else 0
    res[R_FI_SRAM_STOP] = sram_last[1]
    res[R_OF_SRAM_START] = o_first if o_first != -(1 << 62) else 0
    res[R_OF_SRAM_STOP] = o_last
    return res


#: prefetch entries (output pixels x window) up to which a USER unit runs as one compiled call (:func:`user_unit_kernel`)
USER_ONE_CALL_ENTRIES = 1 << 13


def user_unit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws, row_cycles):
    """One unit in USER mode (docs/models/systolic.md §3.2): the geometry tables, the valid counts per stretch
    when windows cross the input edge (:func:`edge_stretches`), where a word is read more than once its sets
    (from the geometry, :func:`word_sets`, on an os array or for a batch, the walk turning to the set table
    past a budget; else the set table, :func:`fill_sets`) and the walk (:func:`walk_layer` in USER mode, O(1)
    rows, quiet rows in bulk and pass skipping on). Returns its ``R_*`` vector. The kernels come compiled ahead of
    time where the install built them (:func:`accelsim.hw.systolic._aot.kernels`).

    A small unit (at most :data:`USER_ONE_CALL_ENTRIES` prefetch entries) runs as one compiled call,
    :func:`user_unit_kernel`: this function's Python around four kernel calls (six tables boxed, the walk's 25
    arguments unboxed) is most of its cost (an 8x8x8 1x1 unit on a 32x32 os array 14.6 -> 5.0 us, a 6x6-output 3x3
    ws unit 31-36 -> 22 us, 2026-12-07). A larger one composes the calls here: the walk exported on its own compiles
    faster code ahead of time than the walk inside another kernel (a 36x36x19 3x3 stride-2 is unit with a 4 kB
    SRAM 528 against 667 us, the same source; under the JIT the two ran alike). Only ahead of time: under the JIT the
    one-call kernel would compile the walk twice more (a first USER run 12.7 -> 35.6 s with an empty cache)."""
    aot = _USER.get("k") or _user_kernels()
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    if npx * win <= USER_ONE_CALL_ENTRIES and aot.source == "aot":
        return aot.user_unit_kernel(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws,
                                    row_cycles)
    tabs = aot.conv_geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
    inside = (Eh - 1) * sh + (FH - 1) * dh < H and (Ew - 1) * sw + (FW - 1) * dw < W
    space = batch * H * W * Ch
    kmax = copies_bound(FH, FW, sh, sw, dh, dw, Eh, Ew)
    empty = np.zeros(0, np.int32)
    geo = np.zeros(0, np.int64)
    eps = (int(sizes[0]) + 99) // 100
    vc = empty if inside else aot.edge_stretches(df, R, C, npx, win, nfilt, tabs[1], tabs[2], tabs[4], tabs[5], H, W)
    meta, slots = empty, empty
    sets = 1 if ifmap_order_fits(npx, win, sizes[0]) else kmax  # (1: no word's sets looked up; user_unit_kernel)
    if sets > 1:  # the set table's arrays (np.empty: untouched where the walk never fills them)
        meta = np.empty(2 * space, np.int32)
        slots = np.empty(space * sets, np.int32)
    if batch > 1 or df == 0:  # (no table: user_unit_kernel says why)
        if sets > 1:
            geo = aot.ifmap_word_geometry(H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, max(1, 2 * npx * win // (5 * sets)))
    elif sets > 1:
        aot.fill_sets(meta, slots, df, R, C, npx, win, nfilt, *tabs, H, W, eps, sets)
    if row_cycles.shape[1] == 0 and periods_possible(df, R, C, npx, win, nfilt, kmax, Eh * Ew, inside, sizes, bws):
        return aot.walk_layer_periodic(df, R, C, npx, win, nfilt, H, W, *tabs, sizes, bws, meta, slots, vc, True, True,
                                       row_cycles, None, np.array([1, 0, Eh * Ew], np.int64), geo)
    return aot.walk_layer(df, R, C, npx, win, nfilt, H, W, *tabs, sizes, bws, meta, slots, vc, True, True, row_cycles,
                          None, None, geo)


@njit(cache=True)
def user_unit_kernel(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws, row_cycles):
    """One unit in USER mode, one compiled call: the geometry tables, the valid counts per stretch when windows
    cross the input edge (:func:`edge_stretches`), where a word is read more than once its sets (from the geometry,
    :func:`word_sets`, on an os array or for a batch, the walk turning to the set table past a budget; else the
    set table, :func:`fill_sets`) and the walk (:func:`walk_layer` in USER mode, O(1) rows, quiet rows in bulk and
    pass skipping on; its periodic folds where :func:`periods_possible`): :func:`user_unit`'s composition in one
    compiled call, for small units (the same results: ``tests/test_systolic_aot.py``)."""
    tabs = conv_geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
    pix_base, pix_r, pix_c, win_off, win_r, win_c = tabs
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    inside = (Eh - 1) * sh + (FH - 1) * dh < H and (Ew - 1) * sw + (FW - 1) * dw < W
    space = batch * H * W * Ch
    kmax = _copies_bound_kernel(FH, FW, sh, sw, dh, dw, Eh, Ew)
    empty = np.zeros(0, np.int32)
    geo = np.zeros(0, np.int64)
    eps = (sizes[0] + 99) // 100
    vc = empty if inside else edge_stretches(df, R, C, npx, win, nfilt, pix_r, pix_c, win_r, win_c, H, W)
    meta = empty
    slots = empty
    # copies of a word the set table holds: none where the whole order fits the buffer, every read then hitting in its
    # own entry's set (the table's fill cost a 36x36x19 stride-2 unit on tpu-v1's 12 MB buffer 200 of its 280 us)
    sets = 1 if ifmap_order_fits(npx, win, sizes[0]) else kmax
    if sets > 1:  # the set table's arrays (np.empty: untouched where the walk never fills them)
        meta = np.empty(2 * space, np.int32)
        slots = np.empty(space * sets, np.int32)
    if batch > 1 or df == 0:
        # no table: its build walks every entry of the order (O(batch x pixels x window), 2-4 ns an entry, 80% of
        # a batch-8 ResNet-18) and holds kmax int32 a word of every image, where the walk mostly asks for few
        # words' sets (50-90 ns a word_sets call of 9 copies). A layer whose window thrashes asks for nearly
        # every word (a 31x31x67 3x3 layer on edge-32x32: 61,492 calls, 6 ms against 3.6 ms with the table):
        # once the walk projects more calls than the table's entries / (2.5 copies) over its demand rows it
        # fills the table (in arrays allocated here, untouched until then) and goes on with it. One image on a
        # ws / is array keeps the table: there the calls come late in the walk (most in its last third), past
        # where a projection would have turned. Windows past the edge: the pairs' valid counts from vc
        if sets > 1:
            geo = ifmap_word_geometry(H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, max(1, 2 * npx * win // (5 * sets)))
    elif sets > 1:
        fill_sets(meta, slots, df, R, C, npx, win, nfilt, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W, eps,
                  sets)
    if row_cycles.shape[1] == 0 and _periods_possible_kernel(df, R, C, npx, win, nfilt, kmax, Eh * Ew, inside, sizes,
                                                             bws):
        return walk_layer(df, R, C, npx, win, nfilt, H, W, pix_base, pix_r, pix_c, win_off, win_r, win_c, sizes, bws,
                          meta, slots, vc, True, True, row_cycles, None, np.array([1, 0, Eh * Ew], np.int64), geo)
    return walk_layer(df, R, C, npx, win, nfilt, H, W, pix_base, pix_r, pix_c, win_off, win_r, win_c, sizes, bws,
                      meta, slots, vc, True, True, row_cycles, None, None, geo)


@njit(cache=True)
def ifmap_order_fits(npx, win, words):
    """Whether a USER-mode ifmap's whole prefetch order (at most ``npx x win`` valid entries, in sets of
    ``ceil(words / 100)``) lies in the active half of its ``words``-word read buffer from the start: the window then
    never slides and every read hits in its own entry's set (:func:`walk_layer`), so no word's other sets are ever
    looked up and the set table (:func:`fill_sets`) is not needed."""
    eps = (words + 99) // 100
    return (npx * win) // eps + 1 <= ((words + 1) // 2 + eps - 1) // eps


#: the kernels user_unit calls (:func:`_user_kernels`)
_USER: dict = {}


def _user_kernels():
    """The ahead-of-time USER kernels when current, else these (:mod:`accelsim.hw.systolic._aot`); once per process."""
    from ._aot import kernels

    _USER["k"] = kernels("user", {"user_unit_kernel": user_unit_kernel, "conv_geometry": conv_geometry,
                                  "edge_stretches": edge_stretches, "ifmap_word_geometry": ifmap_word_geometry,
                                  "fill_sets": fill_sets, "walk_layer": walk_layer, "walk_layer_periodic": walk_layer})
    return _USER["k"]


def periods_possible(df, R, C, npx, win, nfilt, kmax, p_img, inside, sizes, bws):
    """Is a period of :func:`walk_layer`'s periodic folds (docs §3.2 "Periods") short enough to fit twice
    in this USER-mode unit's regular row folds? Output stationary, windows inside the input; unless the
    ifmap window holds the whole prefetch order it moves by ``nP`` sets of ``eps`` entries while a fold
    advances the order by ``T * R`` entries, so a period is a multiple of ``eps * nP / gcd(T * R, eps *
    nP)`` folds (and of whole images when ifmap words repeat); the OFMAP buffer returns to the same free
    words after whole drains, taken here as ``ceil(half / bw) * bw`` words against ``R * min(C, nfilt)``
    a fold (a filter only: the walk compares the actual state). Only then is the walk called with its
    period bookkeeping (a second compiled version of it). Plain Python, a few integer operations."""
    if df != 0 or not inside:
        return False
    T = win
    row_fold = -(-npx // R)
    if_words, o_words, o_bw = int(sizes[0]), int(sizes[2]), int(bws[2])
    eps = (if_words + 99) // 100
    act = (if_words + 1) // 2
    nl = npx * win // eps + 1
    nA = min(-(-act // eps), nl)
    nP = min(-(-(if_words - act) // eps), nl - nA)
    if nA != nl and nP == 0:
        return False
    f_lo = max(1, (R - 2 + T) // T)
    M = row_fold * T
    c0 = npx - (row_fold - 1) * R
    d_hi = M - 1 if c0 >= R else min(M - 1, M - T + c0 - 1)
    f_hi = min(row_fold - 2, (d_hi - T - R + 2) // T)
    per = 1
    if nA != nl:
        per = eps * nP // math.gcd(T * R, eps * nP)
        if kmax > 1:
            k2 = p_img // math.gcd(R, p_img)
            per = per * k2 // math.gcd(per, k2)
    drain = max(1, -(-(o_words - (o_words + 1) // 2) // o_bw) * o_bw)
    k3 = drain // math.gcd(drain, R * min(C, nfilt))
    per = per * k3 // math.gcd(per, k3)
    return 2 * per <= f_hi - f_lo + 1


#: :func:`periods_possible` compiled, for :func:`user_unit_kernel` (the same source)
_periods_possible_kernel = njit(cache=True)(periods_possible)


@njit(cache=True)
def skip_zero_fold_cycles(df, R, C, npx, mask):
    """Stall-free cycles when folds skip all-zero weight work (docs/models/systolic.md §4.4).

    ``mask`` is the ``(K filters, WIN)`` non-zero pattern of one unit in SCALE-Sim's window order.
    os: a fold of filter block ``fc`` streams only the window steps where some filter of the block
    is non-zero; ws: a fold whose stationary ``R x C`` weight tile is all zero is skipped; is: a fold
    of window block ``fr`` streams only the filters with a non-zero weight in that block. A fold
    with nothing to stream costs nothing; the others pay the full fill/drain overhead.
    Returns ``(cycles, dense_cycles, folds_skipped, steps_streamed, steps_dense)``.
    """
    nf, win = mask.shape
    out = np.zeros(5, np.int64)
    if df == 0:
        Sr, Sc, T = npx, nf, win
        over = R + C - 2
    elif df == 1:
        Sr, Sc, T = win, nf, npx
        over = 2 * R + C - 2
    else:
        Sr, Sc, T = win, npx, nf
        over = 2 * R + C - 2
    rf = (Sr + R - 1) // R
    cf = (Sc + C - 1) // C
    total = 0
    skipped = 0
    steps = 0
    if df == 0:
        for fc in range(cf):
            t_used = 0
            for j in range(win):
                for k in range(fc * C, min(nf, fc * C + C)):
                    if mask[k, j]:
                        t_used += 1
                        break
            if t_used > 0:
                total += rf * (t_used + over)
            else:
                skipped += rf
            steps += rf * t_used
    elif df == 1:
        for fc in range(cf):
            for fr in range(rf):
                nz = False
                for k in range(fc * C, min(nf, fc * C + C)):
                    for j in range(fr * R, min(win, fr * R + R)):
                        if mask[k, j]:
                            nz = True
                            break
                    if nz:
                        break
                if nz:
                    total += T + over
                    steps += T
                else:
                    skipped += 1
    else:
        for fr in range(rf):
            t_used = 0
            for k in range(nf):
                for j in range(fr * R, min(win, fr * R + R)):
                    if mask[k, j]:
                        t_used += 1
                        break
            if t_used > 0:
                total += cf * (t_used + over)
            else:
                skipped += cf
            steps += cf * t_used
    out[0] = total - 1 if total > 0 else 0
    out[1] = rf * cf * (T + over) - 1
    out[2] = skipped
    out[3] = steps
    out[4] = rf * cf * T
    return out


# ------------------------------------------------------------------------------------------------
# CALC mode, decoupled. In CALC (estimate-bandwidth) mode the IFMAP / filter reads never stall, so
# the cycle count depends only on the OFMAP write buffer; the read buffers only need the demand
# row of each of their prefetch events to date them. Each read buffer of SCALE-Sim's
# ReadBufferEstimateBw is an "epoch" cache: an address is fetched again unless it was fetched
# during the current epoch, and an epoch ends after block = 50 * floor(words / 100) fetches.
# ------------------------------------------------------------------------------------------------


@njit(cache=True)
def ofmap_pass(df, R, C, npx, win, nfilt, o_tot, o_bw):
    """The OFMAP write buffer over every demand row (SCALE-Sim write_buffer.service_writes).

    Returns ``(stats, change_rows, change_cum)``: stats = [total, stall, dram_writes, dram_start,
    dram_stop, sram_start, sram_stop, n_rows]; the cumulative stall before row ``i`` is
    ``change_cum[k]`` for the last ``k`` with ``change_rows[k] <= i``.
    """
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    ws, lines = _wbuf_new(df, Sr, Sc, T, row_fold, o_tot, o_bw)
    o_act = ws[WB_ACT]
    o_first = -(1 << 62)
    o_last = 0
    stall = 0
    total = 0
    row = 0
    last_out = 0
    cap = 1024
    ch_rows = np.empty(cap, np.int64)
    ch_cum = np.empty(cap, np.int64)
    ch_rows[0] = 0
    ch_cum[0] = 0
    n_ch = 1
    for fc in range(col_fold):
        for fr in range(row_fold):
            rows_used = min(R, Sr - fr * R)
            cols_used = min(C, Sc - fc * C)
            # rows before the first output of the fold write nothing: jump over them
            first_out = T - 1 + R - rows_used if df == 0 else 2 * R - 1
            if first_out > 0:
                last_out = row + first_out - 1 + stall
                if last_out > total:
                    total = last_out
                row += first_out
            for r in range(first_out, L):
                cycle = row + stall
                n = _wbuf_row(df, r, R, T, rows_used, cols_used)
                ooff = 0
                if n > 0:
                    free = ws[WB_FREE]
                    fast = False
                    if cycle >= ws[WB_DRAIN_END]:
                        fast = free - n >= o_act
                    else:
                        fast = free - n > 0
                    if fast:
                        # no drain starts and nothing stalls: fill the lines in bulk
                        ws[WB_FREE] = free - n
                        k = ws[WB_LINE_IDX] + n
                        n_lines = ws[WB_N_LINES]
                        while k >= o_bw:
                            lines[n_lines] = o_bw
                            n_lines += 1
                            k -= o_bw
                        ws[WB_N_LINES] = n_lines
                        ws[WB_LINE_IDX] = k
                    else:
                        ooff = _wbuf_write(ws, lines, n, cycle)
                    out_o = cycle + ooff
                    if o_first == -(1 << 62):
                        o_first = out_o
                    o_last = out_o
                else:
                    out_o = cycle
                if ooff > 0:
                    stall += ooff
                    if n_ch == cap:
                        cap *= 2
                        nr = np.empty(cap, np.int64)
                        nc = np.empty(cap, np.int64)
                        nr[:n_ch] = ch_rows[:n_ch]
                        nc[:n_ch] = ch_cum[:n_ch]
                        ch_rows, ch_cum = nr, nc
                    ch_rows[n_ch] = row + 1
                    ch_cum[n_ch] = stall
                    n_ch += 1
                if out_o > total:
                    total = out_o
                last_out = out_o
                row += 1
    acc, d_start, d_stop = _wbuf_finish(ws, lines, last_out)
    stats = np.zeros(8, np.int64)
    _put_ofmap_stats(stats, total, stall, acc, d_start, d_stop, o_first, o_last, row)
    return stats, ch_rows[:n_ch], ch_cum[:n_ch]


@njit(cache=True, inline="always")
def _put_ofmap_stats(out, total, stall, acc, d_start, d_stop, o_first, o_last, row):
    """An OFMAP pass's eight statistics into ``out[:8]`` (:func:`ofmap_pass`, :func:`ofmap_events`); ``o_first``
    ``-(1 << 62)``: no output written (0)."""
    out[0] = total
    out[1] = stall
    out[2] = acc
    out[3] = d_start
    out[4] = d_stop
    out[5] = o_first if o_first != -(1 << 62) else 0
    out[6] = o_last
    out[7] = row


@njit(cache=True, inline="always")
def _row_range(df, o, r, R, T, rows_used, cols_used):
    """(lo, hi, mode) of the columns of demand row ``r`` that can hold an address (mode 1: flipped block)."""
    if df == 0:
        used = rows_used if o == 0 else cols_used
        return max(0, r - T + 1), min(used - 1, r), 0
    if (df == 1 and o == 0) or (df == 2 and o == 1):
        return max(0, r - R - T + 1), min(rows_used - 1, r - R), 0
    if r < R and R - 1 - r < rows_used:
        return 0, cols_used - 1, 1
    return 0, -1, 1


@njit(cache=True, inline="always")
def _addr(df, o, r, c, mode, fr, fc, R, C, win, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W):
    if mode == 0:
        if df == 0:
            if o == 0:
                return _ifm(fr * R + c, r - c, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W)
            return (fc * C + c) * win + (r - c)
        if df == 1:
            return _ifm(r - R - c, fr * R + c, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W)
        return (r - R - c) * win + fr * R + c
    rr = R - 1 - r
    if df == 1:
        return (fc * C + c) * win + fr * R + rr
    return _ifm(fc * C + c, fr * R + rr, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W)


@njit(cache=True)
def distinct_read_pass(df, o, R, C, npx, win, nfilt, words):
    """CALC-mode read buffer for an operand whose passes hold distinct, always-valid addresses.

    Every filter operand, and an ifmap whose windows neither overlap nor cross the edge. A pass of
    such a repeated unit (os filter: one fold; is filter, os/ws ifmap: one sweep of row folds;
    ws filter, is ifmap: never repeated) of D addresses fetches: all D the first time; on a
    repeat, all D again if D >= one epoch, else only the prefix fetched before the last epoch
    boundary of the previous pass (and nothing from then on). Counted row by row (§3.3).
    Same outputs as :func:`calc_read_pass`.
    """
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    eps = words // 100
    block = 50 * eps
    n_in = 0
    fetched = 0
    cap = 256
    ev_rows = np.empty(cap, np.int64)
    n_ev = 0
    first_row = -1
    last_row = -1
    row = 0
    fold_unit = df == 0 and o == 1
    sweep_unit = (df == 2 and o == 1) or (df != 2 and o == 0)
    pass_no = 0
    pref = 0
    u = 0
    last_b = -1
    D = 0
    # cumulative element count per demand row for the (at most four) fold shapes
    ru_last = Sr - (row_fold - 1) * R
    cu_last = Sc - (col_fold - 1) * C
    prof = np.zeros((4, L + 1), np.int64)
    for sidx in range(4):
        if not _shape_occurs(sidx, R, C, Sr, Sc):
            continue
        ru = R if sidx < 2 else ru_last
        cu = C if sidx % 2 == 0 else cu_last
        for r in range(L):
            lo, hi, mode = _row_range(df, o, r, R, T, ru, cu)
            prof[sidx, r + 1] = prof[sidx, r] + (hi - lo + 1 if hi >= lo else 0)
    last_fold = row_fold * col_fold - 1
    fold = -1
    for fc in range(col_fold):
        for fr in range(row_fold):
            fold += 1
            rows_used = min(R, Sr - fr * R)
            cols_used = min(C, Sc - fc * C)
            sidx = (0 if rows_used == R else 2) + (0 if cols_used == C else 1)
            cum = prof[sidx]
            F = cum[L]
            new_pass = True
            if fold_unit:
                D = T * cols_used
                pass_no = pass_no + 1 if fr > 0 else 1
            elif sweep_unit:
                D = npx * win if o == 0 else win * nfilt
                if fr == 0:
                    pass_no = fc + 1
                else:
                    new_pass = False
            else:
                D = 0
                pass_no = 1
            if new_pass:
                if pass_no >= 2:
                    # what the previous pass left stale decides this one
                    pref = last_b + 1 if D < block else D
                u = 0
                last_b = -1
            if fold == 0 and F > 0:
                first_row = row + _first_ge(cum, np.int64(1)) - 1
            if fold == last_fold and F > 0:
                last_row = row + _first_ge(cum, F) - 1
            if pass_no == 1 or D >= block or block == 0:
                take = F
            else:
                take = min(max(pref - u, 0), F)
            if take > 0:
                fetched += take
                if block > 0:
                    off = block - n_in - 1  # fold element at which the next epoch ends
                    while off < take:
                        last_b = u + off
                        if n_ev == cap:
                            cap *= 2
                            ev_rows = _grow(ev_rows)
                        ev_rows[n_ev] = row + _first_ge(cum, off + 1) - 1
                        n_ev += 1
                        off += block
                    n_in = (n_in + take) % block
            u += F
            row += L
            if (not sweep_unit) or fr == row_fold - 1:
                if pass_no >= 2 and D < block:
                    last_b = -1  # after a repeat of a short unit everything is current
    stats = np.zeros(4, np.int64)
    stats[0] = fetched
    stats[1] = n_ev
    stats[2] = first_row
    stats[3] = last_row
    return stats, ev_rows[:n_ev]


# (_nrt=False: no reference counts of its array arguments, two atomic operations each a call; it allocates none)
@njit(cache=True, _nrt=False)
def _first_ge(a, x):
    """First index of the ascending int64 array ``a`` whose value is ``>= x`` (``len(a)`` if none):
    ``np.searchsorted(a, x, side="left")``; for an integer ``x``, ``side="right"`` is ``_first_ge(a, x + 1)``.
    One small kernel instead of NumPy's overloads, which compile a variant per side and per literal
    argument, with their comparison helpers (about 0.5 s of a first CALC run)."""
    lo = 0
    hi = a.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _grow(a):
    """int64 ``a`` with twice the room (the first ``len(a)`` entries kept)."""
    b = np.empty(2 * a.shape[0], np.int64)
    for i in range(a.shape[0]):
        b[i] = a[i]
    return b


@njit(cache=True)
def _scan_sweep(prev, es, n_in, block, dist, mark, out_i, out_g):
    """One sweep of :func:`reuse_read_pass`'s scan: ``prev[i] < es`` is a fetch; an epoch ends after
    ``block`` fetches (``es`` = the next element). Writes each epoch end's element and the sweep's
    fetches up to it to ``out_i`` / ``out_g``; stops after one at a marked element (``mark`` may be empty: none). Returns
    ``(fetches, es, n_in, epoch ends, stopped)``; ``es`` relative to this sweep's start."""
    n = prev.shape[0]
    got = 0
    n_out = 0
    i0 = 0
    while i0 < n:
        if block > 0 and dist >= block and i0 - es == n_in:
            # every access from i0 to the end of the sweep is fetched: epochs end every block
            i = i0 + block - n_in - 1
            while i < n:
                es = i + 1
                out_i[n_out] = i
                out_g[n_out] = got + i + 1 - i0
                n_out += 1
                if i < mark.shape[0] and mark[i]:
                    return out_g[n_out - 1], es, 0, n_out, True
                i += block
            got += n - i0
            n_in = (n_in + n - i0) % block
            return got, es, n_in, n_out, False
        # count a chunk at once (vectorised); walk it element by element only when an epoch
        # boundary falls inside it
        i1 = min(i0 + 2048, n)
        cnt = 0
        chunk = prev[i0:i1]  # (indexed from 0: the loop vectorises, about 5x faster than prev[i] over i0..i1)
        for i in range(i1 - i0):
            cnt += chunk[i] < es
        if block == 0 or n_in + cnt < block:
            n_in += cnt
            got += cnt
            i0 = i1
            continue
        # an epoch ends in this chunk: its pieces of 64 counted the same way (under the epoch start of the
        # moment), walked element by element only where an epoch ends (small SRAMs end one every few thousand
        # accesses: walking whole chunks cost 2-3 ns an access)
        j0 = i0
        while j0 < i1:
            j1 = min(j0 + 64, i1)
            piece = prev[j0:j1]
            cnt = 0
            for i in range(j1 - j0):
                cnt += piece[i] < es
            if n_in + cnt < block:
                n_in += cnt
                got += cnt
                j0 = j1
                continue
            for i in range(j0, j1):
                if prev[i] >= es:
                    continue
                got += 1
                n_in += 1
                if n_in == block:
                    n_in = 0
                    es = i + 1
                    out_i[n_out] = i
                    out_g[n_out] = got
                    n_out += 1
                    if i < mark.shape[0] and mark[i]:
                        return got, es, 0, n_out, True
            j0 = j1
        i0 = i1
    return got, es, n_in, n_out, False


@njit(cache=True, inline="always")
def _list_use(a, n, nf, dist, prev, lastpos, first_i, first_a):
    """Entry ``n`` of :func:`reuse_read_pass`'s list, an access to word ``a``: its previous use
    (``prev[n]``, -1 for a first use, which is also kept in ``first_i`` / ``first_a``); returns the
    first-use count and the shortest reuse distance so far."""
    pv = lastpos[a]
    prev[n] = pv
    lastpos[a] = n
    if pv < 0:
        first_i[nf] = n
        first_a[nf] = a
        return nf + 1, dist
    return nf, min(dist, n - pv)


# (_nrt=False: no reference counts of its array arguments, two atomic operations each a call; it allocates none)
@njit(cache=True, _nrt=False)
def _same_epoch_end(ev_x, sw_ev, k, x):
    """The latest sweep ``j`` in ``1 .. k-1`` with an epoch end at ``x`` (a position or list entry of its
    sweep), and that event's index: ``(e, j)``, or ``(-1, -1)``. A sweep's epoch ends ascend; sweep ``j``'s
    events are ``sw_ev[j] .. sw_ev[j + 1] - 1``."""
    for j in range(k - 1, 0, -1):
        lo = sw_ev[j]
        hi = sw_ev[j + 1]
        while lo < hi:
            mid = (lo + hi) // 2
            if ev_x[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        if lo < sw_ev[j + 1] and ev_x[lo] == x:
            return lo, j
    return -1, -1


@njit(cache=True, inline="always")
def _add_event(ev_k, ev_x, ev_g, n_ev, k, pos, got):
    """Append an epoch end (sweep ``k``, position ``pos`` in its sweep, the sweep's fetches ``got`` up to and
    including it), growing the arrays when full: ``(ev_k, ev_x, ev_g, n_ev + 1)``: the repeated sweeps'
    events (:func:`_repeat_rest`, :func:`_repeat_later`). The loops that find epoch ends one at a time
    (``_group_reuse.group_sweeps``, the ws folds) grow the arrays themselves and call :func:`_put_event`: a tuple
    of arrays returned costs each array's reference count, twice."""
    if n_ev == ev_k.shape[0]:
        ev_k, ev_x, ev_g = _grow(ev_k), _grow(ev_x), _grow(ev_g)
    return ev_k, ev_x, ev_g, _put_event(ev_k, ev_x, ev_g, n_ev, k, pos, got)


# (_nrt=False: no reference counts of its array arguments, two atomic operations each a call; it allocates none)
@njit(cache=True, _nrt=False)
def _put_event(ev_k, ev_x, ev_g, n_ev, k, pos, got):
    """:func:`_add_event` into arrays with room for it: returns ``n_ev + 1``."""
    ev_k[n_ev] = k
    ev_x[n_ev] = pos
    ev_g[n_ev] = got
    return n_ev + 1


@njit(cache=True)
def _repeat_rest(ev_k, ev_x, ev_g, n_ev, k, jj, e0, got, sw_ev, sw_got):
    """Sweep ``k`` ended an epoch where sweep ``jj >= 1`` ended its event ``e0`` (``_same_epoch_end``): the state is
    that position alone, so the rest of ``k`` repeats the rest of ``jj``. Appends those events to sweep ``k`` and
    returns ``(ev_k, ev_x, ev_g, n_ev, got)`` with ``got`` the whole sweep's fetches."""
    base = got
    got += sw_got[jj] - ev_g[e0]
    for e in range(e0 + 1, sw_ev[jj + 1]):
        ev_k, ev_x, ev_g, n_ev = _add_event(ev_k, ev_x, ev_g, n_ev, k, ev_x[e], base + ev_g[e] - ev_g[e0])
    return ev_k, ev_x, ev_g, n_ev, got


@njit(cache=True)
def _repeat_later(ev_k, ev_x, ev_g, n_ev, k, period, n_sweeps, sw_ev, sw_got):
    """After :func:`_repeat_rest` in sweep ``k``, every later sweep repeats the one ``period`` before it: their
    events and fetches filled in (``sw_ev``, ``sw_got`` too); returns ``(ev_k, ev_x, ev_g, n_ev, their
    fetches)``."""
    fetched = 0
    for m in range(k + 1, n_sweeps):
        src = m - period
        fetched += sw_got[src]
        for e in range(sw_ev[src], sw_ev[src + 1]):
            ev_k, ev_x, ev_g, n_ev = _add_event(ev_k, ev_x, ev_g, n_ev, m, ev_x[e], ev_g[e])
        sw_got[m] = sw_got[src]
        sw_ev[m + 1] = n_ev
    return ev_k, ev_x, ev_g, n_ev, fetched


@njit(cache=True)
def _min_reuse(prev):
    """The shortest reuse distance ``i - prev[i]`` over the listed accesses that have a previous use (``prev[i] >=
    0``; ``1 << 62`` if none), in chunks indexed from 0 with a select, not a branch: the loop vectorises (0.09 against
    0.77 ms over 937k accesses)."""
    far = np.int64(1 << 62)
    dist = far
    n = prev.shape[0]
    for i0 in range(0, n, 4096):
        chunk = prev[i0:min(n, i0 + 4096)]
        m = far
        for j in range(chunk.shape[0]):
            p = chunk[j]
            m = min(m, np.int64(j - p) if p >= 0 else far)
        if m < far:
            dist = min(dist, m + i0)
    return dist


@njit(cache=True)
def reuse_read_pass(df, R, C, npx, win, nfilt, H, W, pix_base, pix_r, pix_c, win_off, win_r, win_c, words, space):
    """CALC-mode IFMAP read buffer for overlapping windows, by reuse distance (§3.3).

    An address is fetched unless its previous use lies in the current epoch (the epoch's first
    element index ``es``). The ifmap demand of one sweep of row folds (os, ws: identical for every
    column fold; is: the whole layer) is listed once with each element's previous-use index
    (the previous sweep's last use, shifted by the sweep length, for a sweep's first use), and
    every sweep is then a linear scan of that list (:func:`_scan_sweep`). From the second sweep on,
    the state after an epoch end is its element alone: when a sweep ends an epoch where an earlier
    one (not the first) did, the rest of it repeats that sweep, and every later sweep repeats the
    one a period before it. Returns ``(stats, event rows, fetches per sweep)``: the first two are
    :func:`calc_read_pass`'s outputs; the third lets a caller take the first sweeps' answer alone
    (``calc._shared_ifmap``).
    """
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    eps = words // 100
    block = 50 * eps
    if df == 2:
        n_sweeps = 1
        folds = row_fold * col_fold
    else:
        n_sweeps = col_fold
        folds = row_fold
    rows_sweep = folds * L
    # row_start[q]: the first element of listed row q, demand row (q // per_fold) * L + q % per_fold
    # (is: only a fold's first R rows can hold addresses)
    per_fold = R if df == 2 else L
    nq = folds * per_fold
    cap = npx * win
    prev = np.empty(cap, np.int32)
    # first uses of an address in a sweep: element and address
    first_i = np.empty(min(cap, space), np.int32)
    first_a = np.empty(min(cap, space), np.int32)
    nf = 0
    lastpos = np.full(space, -1, np.int32)
    row_start = np.empty(nq + 1, np.int64)
    # pixels whose whole window lies inside the input need no edge test
    inside = np.empty(npx, np.bool_)
    for p in range(npx):
        inside[p] = pix_r[p] + win_r[win - 1] < H and pix_c[p] + win_c[win - 1] < W
    all_in = npx == 0 or inside.all()
    # is: window elements that every pixel reads inside the input (windows past the edge miss only the others)
    elem_in = np.ones(win if df == 2 and not all_in else 0, np.bool_)
    if elem_in.shape[0] > 0:
        max_r = pix_r.max()
        max_c = pix_c.max()
        for t in range(win):
            elem_in[t] = max_r + win_r[t] < H and max_c + win_c[t] < W
    # shortest reuse distance (accesses from the previous use), found while listing: when it is at
    # least one epoch, an access is fetched whenever every access since the epoch began was (it lies
    # less than an epoch after that start), so from such a point on the whole rest of the sweep is fetched
    far = np.int64(1 << 62)
    dist = far  # (np.int64 and below: no literal reaches _scan_sweep, which would compile a second time)
    n = 0
    rr = 0
    for f in range(folds):
        if df == 2:
            fc = f // row_fold
            fr = f - fc * row_fold
        else:
            fc = 0
            fr = f
        rows_used = min(R, Sr - fr * R)
        cols_used = min(C, Sc - fc * C)
        if df == 2:
            # is: only the stationary tile's rows R - rows_used .. R-1 hold addresses, each the window
            # element fr*R + R-1-r of pixels fc*C + c
            for r in range(R - rows_used):
                row_start[rr + r] = n
            for r in range(R - rows_used, R):
                row_start[rr + r] = n
                t = fr * R + R - 1 - r
                # a row's words are distinct (one window element, several pixels): one pass over slices indexed
                # from 0; an is layer is one sweep, so its first uses are not kept, and its shortest reuse
                # distance is found after the listing
                off = win_off[t]
                bases = pix_base[fc * C:fc * C + cols_used]
                if all_in or elem_in[t]:
                    out = prev[n:n + cols_used]
                    for c in range(cols_used):
                        a = bases[c] + off
                        out[c] = lastpos[a]
                        lastpos[a] = n + c
                    n += cols_used
                    continue
                wr = win_r[t]
                wc = win_c[t]
                for c in range(cols_used):
                    p = fc * C + c
                    if pix_r[p] + wr < H and pix_c[p] + wc < W:
                        a = bases[c] + off
                        prev[n] = lastpos[a]
                        lastpos[a] = n
                        n += 1
            rr += R
            continue
        for r in range(L):
            row_start[rr] = n
            rr += 1
            lo, hi, mode = _row_range(df, 0, r, R, T, rows_used, cols_used)
            if hi < lo:
                continue
            if df == 0:
                # os: pixel fr*R + c, window element r - c
                for c in range(lo, hi + 1):
                    p = fr * R + c
                    t = r - c
                    if inside[p] or (pix_r[p] + win_r[t] < H and pix_c[p] + win_c[t] < W):
                        a = pix_base[p] + win_off[t]
                        nf, dist = _list_use(a, n, nf, dist, prev, lastpos, first_i, first_a)
                        n += 1
            elif df == 1 and all_in:
                # ws, windows inside: lane c holds window element fr*R + c of pixel r - R - c; over slices indexed
                # from 0 (the row's pixels descend with the lane), its shortest reuse distance found after the
                # listing (0.91 -> 0.65 ms over 383k accesses)
                m = hi - lo + 1
                out = prev[n:n + m]
                bases = pix_base[r - R - hi:r - R - lo + 1]
                offs = win_off[fr * R + lo:fr * R + hi + 1]
                for j in range(m):
                    a = bases[m - 1 - j] + offs[j]
                    pv = lastpos[a]
                    out[j] = pv
                    lastpos[a] = n + j
                    if pv < 0:
                        first_i[nf] = n + j
                        first_a[nf] = a
                        nf += 1
                n += m
            elif df == 1:
                # ws: window element fr*R + c (lane c) of pixel r - R - c (written out: faster than _fill_row)
                for c in range(lo, hi + 1):
                    p = r - R - c
                    t = fr * R + c
                    if all_in or (pix_r[p] + win_r[t] < H and pix_c[p] + win_c[t] < W):
                        a = pix_base[p] + win_off[t]
                        nf, dist = _list_use(a, n, nf, dist, prev, lastpos, first_i, first_a)
                        n += 1
    row_start[nq] = n
    prev = prev[:n]
    if df == 2 or (df == 1 and all_in):
        dist = _min_reuse(prev)
    # epoch ends: demand row, element in the sweep, the sweep's fetches up to it; each sweep's
    # first one; the elements where a sweep >= 1 ended an epoch
    per = n // block + 2 if block > 0 else 1
    out_i = np.empty(per, np.int64)
    out_g = np.empty(per, np.int64)
    ev_rows = np.empty(256, np.int64)
    ev_i = np.empty(256, np.int64)
    ev_g = np.empty(256, np.int64)
    n_ev = 0
    sw_ev = np.zeros(n_sweeps + 1, np.int64)
    sw_got = np.zeros(n_sweeps, np.int64)
    mark = np.zeros(n if n_sweeps > 2 else 0, np.bool_)  # (sweeps 0 and 1 see none; set from sweep 1 when more follow)
    fetched = 0
    n_in = np.int64(0)
    es = np.int64(0)
    for k in range(n_sweeps):
        sw_ev[k] = n_ev
        if k == 1:
            # a sweep's first use of an address follows its last use in the previous sweep
            for x in range(nf):
                i = first_i[x]
                prev[i] = lastpos[first_a[x]] - n
                dist = min(dist, i - prev[i])
        got, es, n_in, n_out, stopped = _scan_sweep(prev, es, n_in, block, dist, mark, out_i, out_g)
        while n_ev + n_out >= ev_rows.shape[0]:
            ev_rows, ev_i, ev_g = _grow(ev_rows), _grow(ev_i), _grow(ev_g)
        for e in range(n_out):
            i = out_i[e]
            # demand row of element i
            lo_r, hi_r = 0, nq - 1
            while lo_r < hi_r:
                mid = (lo_r + hi_r + 1) // 2
                if row_start[mid] <= i:
                    lo_r = mid
                else:
                    hi_r = mid - 1
            ev_rows[n_ev] = k * rows_sweep + (lo_r // per_fold) * L + lo_r % per_fold
            ev_i[n_ev] = i
            ev_g[n_ev] = out_g[e]
            n_ev += 1
        period = 0
        if stopped:
            # an earlier sweep j >= 1 ended an epoch at the same element: the rest of this sweep
            # repeats the rest of that one
            e0, j = _same_epoch_end(ev_i, sw_ev, k, out_i[n_out - 1])
            period = k - j
            got += sw_got[j] - ev_g[e0]
            while n_ev + sw_ev[j + 1] - e0 >= ev_rows.shape[0]:
                ev_rows, ev_i, ev_g = _grow(ev_rows), _grow(ev_i), _grow(ev_g)
            for e in range(e0 + 1, sw_ev[j + 1]):
                ev_rows[n_ev] = ev_rows[e] + period * rows_sweep
                ev_i[n_ev] = ev_i[e]
                ev_g[n_ev] = ev_g[e]
                n_ev += 1
        elif k >= 1 and n_sweeps > 2:
            for e in range(n_out):
                mark[out_i[e]] = True
        sw_got[k] = got
        sw_ev[k + 1] = n_ev
        fetched += got
        if stopped:
            # and so every later sweep repeats the one a period before it
            for m in range(k + 1, n_sweeps):
                src = m - period
                fetched += sw_got[src]
                while n_ev + sw_ev[src + 1] - sw_ev[src] >= ev_rows.shape[0]:
                    ev_rows = _grow(ev_rows)
                for e in range(sw_ev[src], sw_ev[src + 1]):
                    ev_rows[n_ev] = ev_rows[e] + period * rows_sweep
                    n_ev += 1
                sw_got[m] = sw_got[src]
                sw_ev[m + 1] = n_ev
            break
        es -= n
        if got == 0 and k >= 1:
            break  # the state no longer changes: later sweeps fetch nothing either
    first_row = -1
    last_row = -1
    for q in range(nq):
        if row_start[q + 1] > row_start[q]:
            r = (q // per_fold) * L + q % per_fold
            if first_row < 0:
                first_row = r
            last_row = r
    stats = np.zeros(4, np.int64)
    stats[0] = fetched
    stats[1] = n_ev
    stats[2] = first_row
    stats[3] = (n_sweeps - 1) * rows_sweep + last_row if last_row >= 0 else -1
    return stats, ev_rows[:n_ev], sw_got


# (_nrt=False: no reference counts of its array arguments, two atomic operations each a call; it allocates none)
@njit(cache=True, _nrt=False)
def _fill_row(df, o, r, lo, hi, mode, fr, fc, R, C, win, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W, buf):
    """Addresses of demand row ``r`` (columns lo..hi) into ``buf``; returns their count (-1 = none)."""
    n = 0
    if mode == 0 and df == 0 and o == 0:
        t0 = r
        p0 = fr * R
        for c in range(lo, hi + 1):
            p = p0 + c
            t = t0 - c
            if pix_r[p] + win_r[t] < H and pix_c[p] + win_c[t] < W:
                buf[n] = pix_base[p] + win_off[t]
            else:
                buf[n] = -1
            n += 1
    elif mode == 0 and df == 0:
        base = fc * C * win + r
        for c in range(lo, hi + 1):
            buf[n] = base + c * (win - 1)
            n += 1
    elif mode == 0 and df == 1:
        j0 = fr * R
        for c in range(lo, hi + 1):
            p = r - R - c
            t = j0 + c
            if pix_r[p] + win_r[t] < H and pix_c[p] + win_c[t] < W:
                buf[n] = pix_base[p] + win_off[t]
            else:
                buf[n] = -1
            n += 1
    elif mode == 0:
        j0 = fr * R
        for c in range(lo, hi + 1):
            buf[n] = (r - R - c) * win + j0 + c
            n += 1
    elif df == 1:
        j = fr * R + R - 1 - r
        for c in range(lo, hi + 1):
            buf[n] = (fc * C + c) * win + j
            n += 1
    else:
        j = fr * R + R - 1 - r
        wr = win_r[j]
        wc = win_c[j]
        wo = win_off[j]
        p0 = fc * C
        for c in range(lo, hi + 1):
            p = p0 + c
            if pix_r[p] + wr < H and pix_c[p] + wc < W:
                buf[n] = pix_base[p] + wo
            else:
                buf[n] = -1
            n += 1
    return n


@njit(cache=True)
def calc_read_pass(df, o, R, C, npx, win, nfilt, H, W, pix_base, pix_r, pix_c, win_off, win_r, win_c, words, space,
                   bulk_filters):
    """One read buffer of CALC mode over all demand rows (SCALE-Sim ReadBufferEstimateBw).

    Returns ``(stats, event_rows)``: stats = [fetches (DRAM words), n_events, first valid row,
    last valid row, first row with a request (for the first prefetch's timing)]; event_rows = the
    demand row at which each prefetch event (epoch end) happened.

    Passes that repeat an earlier pass exactly are skipped once a pass fetched nothing; with
    ``bulk_filters``, passes of all-distinct filter addresses that are at least one epoch long
    fetch every address again (docs/models/systolic.md §3.3) and are counted row by row. The model
    uses :func:`distinct_read_pass` / :func:`reuse_read_pass`; this per-access walk is their oracle.
    """
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    eps = words // 100
    block = 50 * eps
    stamp = np.full(space, -1, np.int64)
    buf = np.empty(max(R, C) + 1, np.int64)
    epoch = 0
    n_in = 0
    fetched = 0
    cap = 256
    ev_rows = np.empty(cap, np.int64)
    n_ev = 0
    first_row = -1
    last_row = -1
    row = 0
    # repetition structure of this operand's passes
    sweep_rep = (df == 0 and o == 0) or (df == 1 and o == 0) or (df == 2 and o == 1)
    fold_rep = df == 0 and o == 1
    # filter addresses never repeat within a pass: with bulk_filters their passes are counted row
    # by row where that is exact (below); without it every access is walked (the plain oracle)
    distinct = o == 1 and bulk_filters
    sweep_prev = -1
    sweep_cur = 0
    fold_prev = -1
    last_fold = row_fold * col_fold - 1
    fold = -1
    # distinct-pass length (the repeated unit): a fold (os filter) or a whole sweep (is filter)
    for fc in range(col_fold):
        for fr in range(row_fold):
            fold += 1
            rows_used = min(R, Sr - fr * R)
            cols_used = min(C, Sc - fc * C)
            if fr == 0:
                if fc > 0:
                    sweep_prev = sweep_cur
                sweep_cur = 0
            skip = False
            if fold != last_fold and fold != 0:
                if sweep_rep and fc > 0 and sweep_prev == 0:
                    skip = True
                if fold_rep and fr > 0 and fold_prev == 0:
                    skip = True
            # filter passes hold distinct, always-valid addresses; a pass fetches all of them when
            # they were never fetched before (ws: every filter word is used by one fold only) or
            # when the repeated pass is at least one epoch long (§3.3): count those row by row
            bulk = False
            if distinct and block > 0 and not skip:
                if o == 1:
                    if df == 1:
                        bulk = True
                    elif df == 0:
                        bulk = T * cols_used >= block
                    else:
                        bulk = win * nfilt >= block
                elif df == 2:
                    bulk = True
                else:
                    bulk = npx * win >= block
            ev_fold = 0
            for r in range(L):
                lo, hi, mode = _row_range(df, o, r, R, T, rows_used, cols_used)
                if hi < lo:
                    row += 1
                    continue
                if skip:
                    # a repeat of a pass that fetched nothing: only the row's validity matters
                    nb = _fill_row(df, o, r, lo, hi, mode, fr, fc, R, C, win, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W, buf)
                    for q in range(nb):
                        if buf[q] >= 0:
                            if first_row < 0:
                                first_row = row
                            last_row = row
                            break
                    row += 1
                    continue
                if bulk:
                    cnt = hi - lo + 1
                    fetched += cnt
                    ev_fold += cnt
                    n_in += cnt
                    while n_in >= block:
                        n_in -= block
                        epoch += 1
                        if n_ev == cap:
                            cap *= 2
                            nr = np.empty(cap, np.int64)
                            nr[:n_ev] = ev_rows[:n_ev]
                            ev_rows = nr
                        ev_rows[n_ev] = row
                        n_ev += 1
                    if first_row < 0:
                        first_row = row
                    last_row = row
                    row += 1
                    continue
                any_valid = False
                nb = _fill_row(df, o, r, lo, hi, mode, fr, fc, R, C, win, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W, buf)
                for q in range(nb):
                    a = buf[q]
                    if a < 0:
                        continue
                    any_valid = True
                    if stamp[a] == epoch:
                        continue
                    stamp[a] = epoch
                    fetched += 1
                    ev_fold += 1
                    n_in += 1
                    if n_in == block:
                        n_in = 0
                        epoch += 1
                        if n_ev == cap:
                            cap *= 2
                            nr = np.empty(cap, np.int64)
                            nr[:n_ev] = ev_rows[:n_ev]
                            ev_rows = nr
                        ev_rows[n_ev] = row
                        n_ev += 1
                if any_valid:
                    if first_row < 0:
                        first_row = row
                    last_row = row
                row += 1
            sweep_cur += ev_fold
            fold_prev = ev_fold
    stats = np.zeros(4, np.int64)
    stats[0] = fetched
    stats[1] = n_ev
    stats[2] = first_row
    stats[3] = last_row
    return stats, ev_rows[:n_ev]


@njit(cache=True)
def _cycle_of(row, ch_rows, ch_cum):
    lo, hi = 0, len(ch_rows) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ch_rows[mid] <= row:
            lo = mid
        else:
            hi = mid - 1
    return row + ch_cum[lo]


@njit(cache=True)
def calc_dram_window(ev_rows, first_row, fetched, words, ch_rows, ch_cum):
    """DRAM (start, stop) cycles of a CALC-mode read buffer from its prefetch events.

    Replays ReadBufferEstimateBw's prefetch timing: the first event back-dates the active-half
    fill to end 2 cycles before the first request; every later prefetch lasts as long as the gap
    between the two previous events; complete_all_prefetches() issues the last one.
    """
    eps = words // 100
    first_cycle = _cycle_of(first_row, ch_rows, ch_cum) if first_row >= 0 else 0
    have = False
    t_first = 0
    t_last = 0
    lp_start = -2
    lp_end = -1
    for k in range(len(ev_rows)):
        cyc = _cycle_of(ev_rows[k], ch_rows, ch_cum)
        if k == 0:
            lp_end = first_cycle - 2
            cn = (50 * eps + 9) // 10
            lp_start = lp_end - cn + 1
        else:
            cn = lp_end - lp_start + 1
            if cn < 1:
                cn = 1
        if not have:
            have = True
            t_first = lp_start + 1
        t_last = lp_start + cn
        lp_start = lp_end + 1
        lp_end = cyc
    if len(ev_rows) == 0:
        closed = fetched // eps if eps > 0 else 0
        last_set = closed if (eps == 0 or fetched % eps != 0) else closed - 1
        cn = ((last_set + 1) * eps + 9) // 10
        lps = -2 - cn + 1
    else:
        lps = lp_start
        cn = lp_end - lp_start + 1
    if cn >= 1:
        if not have:
            have = True
            t_first = lps + 1
        t_last = lps + cn
    out = np.zeros(2, np.int64)
    out[0] = t_first
    out[1] = t_last
    return out


@njit(cache=True)
def trace_chunk(df, which, R, C, npx, win, nfilt, H, W, pix_base, pix_r, pix_c, win_off, win_r, win_c,
                offset, row0, out):
    """Addresses of demand rows ``row0 ..`` of one buffer (0 ifmap, 1 filter, 2 ofmap) into ``out``.

    ``out`` is ``(rows, width)``; entries are ``offset + index`` or -1 (no request), laid out as
    SCALE-Sim's demand matrices (its SRAM trace files without the cycle column).
    """
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    n_rows, width = out.shape
    for i in range(n_rows):
        g = row0 + i
        fold = g // L
        r = g - fold * L
        fc = fold // row_fold
        fr = fold - fc * row_fold
        rows_used = min(R, Sr - fr * R)
        cols_used = min(C, Sc - fc * C)
        for c in range(width):
            out[i, c] = -1
        if which < 2:
            lo, hi, mode = _row_range(df, which, r, R, T, rows_used, cols_used)
            for c in range(lo, hi + 1):
                a = _addr(df, which, r, c, mode, fr, fc, R, C, win, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W)
                if a >= 0:
                    out[i, c] = offset + a
        else:
            for c in range(min(cols_used, width)):
                if df == 0:
                    q = r - c - (T - 1)
                    if 0 <= q < R and R - 1 - q < rows_used:
                        p = fr * R + R - 1 - q
                        out[i, c] = offset + p * nfilt + fc * C + c
                else:
                    t = r - c - (2 * R - 1)
                    if 0 <= t < T:
                        if df == 1:
                            out[i, c] = offset + t * nfilt + fc * C + c
                        else:
                            out[i, c] = offset + (fc * C + c) * nfilt + t


@njit(cache=True)
def ofmap_dram_log(df, R, C, npx, win, nfilt, row_cycle, o_tot, o_bw):
    """Replay the OFMAP write buffer on given demand-row issue cycles and log its DRAM drains.

    Returns ``(line_sizes, drains)``: the valid words of every line written to the buffer in
    order, and one ``(start cycle, first line, end line)`` row per drain (SCALE-Sim
    write_buffer.empty_drain_buf), including the final drain after the last row.
    """
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    o_act = (o_tot + 1) // 2
    o_drain = o_tot - o_act
    n_out = Sr * Sc if df == 0 else T * Sc * row_fold
    lines = np.zeros(n_out + 2, np.int64)
    drains = np.zeros((n_out + 2, 3), np.int64)
    n_dr = 0
    n_lines = 0
    line_idx = 0
    free = o_tot
    drain_line = 0
    drain_end = 0
    row = 0
    last_out = 0
    m = (o_drain + o_bw - 1) // o_bw
    for fc in range(col_fold):
        for fr in range(row_fold):
            rows_used = min(R, Sr - fr * R)
            cols_used = min(C, Sc - fc * C)
            for r in range(L):
                cycle = row_cycle[row]
                if df == 0:
                    lo = max(0, r - (T + R - 2))
                    hi = min(cols_used - 1, r - (T - 1 + R - rows_used))
                else:
                    lo = max(0, r - 2 * R + 1 - T + 1)
                    hi = min(cols_used - 1, r - 2 * R + 1)
                n = hi - lo + 1 if hi >= lo else 0
                current = cycle
                for _ in range(n):
                    line_idx += 1
                    free -= 1
                    if line_idx == o_bw:
                        lines[n_lines] = o_bw
                        n_lines += 1
                        line_idx = 0
                    if current < drain_end:
                        if free <= 0:
                            current = drain_end
                    elif free < o_act:
                        if line_idx != 0:
                            lines[n_lines] = line_idx
                            n_lines += 1
                            line_idx = 0
                        end_line = min(drain_line + m, n_lines)
                        num = end_line - drain_line
                        if num > 0:
                            free += num * o_bw - (o_bw - lines[end_line - 1])
                            drains[n_dr, 0] = current
                            drains[n_dr, 1] = drain_line
                            drains[n_dr, 2] = end_line
                            n_dr += 1
                            drain_line = end_line
                            drain_end = current + num - 1
                        else:
                            drain_end = current
                last_out = current
                row += 1
    if line_idx != 0:
        lines[n_lines] = line_idx
        n_lines += 1
    cyc = last_out
    while drain_line < n_lines:
        end_line = min(drain_line + m, n_lines)
        drains[n_dr, 0] = cyc
        drains[n_dr, 1] = drain_line
        drains[n_dr, 2] = end_line
        n_dr += 1
        cyc += end_line - drain_line
        drain_line = end_line
    return lines[:n_lines], drains[:n_dr]


@njit(cache=True)
def user_read_dram_trace(fetch, bw, active, pre, n_prefetch, ev_from, ev_to, out_cycles, out_rows):
    """Rows of a USER-mode read buffer's DRAM trace (SCALE-Sim read_buffer), events ``ev_from..ev_to``.

    ``fetch`` is the prefetch order (with address offsets, -1 padding) padded to whole rows of
    ``bw``. Event 0 is the initial fill, event k >= 1 the k-th new_prefetch. SCALE-Sim edits the
    fetch matrix in place when it masks words of a request (a view of it), which later requests
    of the same rows see; that is replayed. Returns the number of rows written.
    """
    rows = fetch.shape[0] // bw
    n0 = min((active + bw - 1) // bw, rows)
    n_req = (pre + bw - 1) // bw
    k = 0
    next_col = 0
    nxt = 0
    if n0 * bw > active:
        valid = active % bw
        next_col = valid
        for c in range(valid, bw):
            fetch[(n0 - 1) * bw + c] = -1
        nxt = n0 % rows
    else:
        nxt = (n0 + 1) % rows
    if ev_from == 0:
        for i in range(n0):
            out_cycles[k] = i - n0
            for c in range(bw):
                out_rows[k, c] = fetch[i * bw + c]
            k += 1
    last = -1
    for e in range(1, ev_to):
        start = nxt
        end = start + n_req
        emit = e >= ev_from
        # rows of this request, as SCALE-Sim slices them (a view unless it wraps around)
        wrap = end > rows
        nr = n_req
        if wrap:
            nr = (rows - start) + min(end - rows, start)
        for q in range(nr):
            src = start + q if start + q < rows else start + q - rows
            for c in range(bw):
                v = fetch[src * bw + c]
                if q == 0 and c < next_col:
                    v = -1
                    if not wrap:
                        fetch[src * bw + c] = -1
                if q == nr - 1 and n_req * bw > active and c >= active % bw:
                    v = -1
                    if not wrap:
                        fetch[src * bw + c] = -1
                if emit:
                    out_rows[k, c] = v
            if emit:
                out_cycles[k] = last + q + 2
                k += 1
        last = last + n_req + 1
        if n_req * bw > active:
            nxt = n_req % rows
        else:
            nxt = (n_req + 1) % rows
    return k


# ------------------------------------------------------------------------------------------------
# CALC mode by events, not demand rows (docs/models/systolic.md §3.3, §3.7). ``ofmap_pass`` and
# ``reuse_read_pass`` above stay as the oracles of these; ``_reference.py`` holds NumPy twins. They
# live in this module with every kernel they call: Numba's cache of a kernel is invalidated only by
# changes to its own file, so a caller in another module would keep a stale copy of its callees.
#
# * ofmap_events - SCALE-Sim's OFMAP write buffer over all demand rows, in time proportional to the
#   folds and the drains: within a fold the outputs written by rows 0..r are a prefix sum over at
#   most four fold shapes, so the next row at which a drain starts or the array stalls is found by
#   binary search, the rows before it are applied in bulk and only that row is walked (wq_write:
#   output by output only at an output that stalls or starts a drain).
# * (_group_reuse.py: the CALC ifmap read buffer with overlapping windows by channel groups, O(groups)
#   per sweep instead of O(accesses).)
# * (calc.py: calc_unit, a whole CALC-mode unit (the OFMAP pass, both read buffers, their DRAM windows),
#   returning simulate_layer's result vector.)
# ------------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _shape_occurs(s, R, C, Sr, Sc):
    """Whether some fold has shape ``s`` (:func:`fold_output_profiles`): full rows (``s < 2``) when ``Sr >= R``, a
    partial last row fold when ``R`` does not divide ``Sr``; columns alike."""
    rows = Sr >= R if s < 2 else Sr % R != 0
    cols = Sc >= C if s % 2 == 0 else Sc % C != 0
    return rows and cols


@njit(cache=True)
def fold_output_profiles(df, R, C, T, L, Sr, Sc, row_fold, col_fold):
    """Outputs written by demand rows ``0..r-1`` of a fold, for the four fold shapes.

    ``prof[s, r]``; shape ``s = 2 * (last row fold) + (last column fold)`` (rows used ``R`` or the
    remainder, columns used ``C`` or the remainder).
    """
    ru_last = Sr - (row_fold - 1) * R
    cu_last = Sc - (col_fold - 1) * C
    prof = np.zeros((4, L + 1), np.int64)
    for s in range(4):
        if not _shape_occurs(s, R, C, Sr, Sc):
            continue  # (a shape no fold has: left zero, never read; 4 x L rows cost a 256 x 256 unit 3 us)
        ru = R if s < 2 else ru_last
        cu = C if s % 2 == 0 else cu_last
        for r in range(L):
            prof[s, r + 1] = prof[s, r] + _wbuf_row(df, r, R, T, ru, cu)
    return prof


@njit(cache=True)
def ofmap_events(df, R, C, npx, win, nfilt, o_tot, o_bw):
    """``_kernels.ofmap_pass`` (same outputs) by events: bulk rows between drains and stalls, and runs of
    folds of one shape that start no drain (no drain under way, the active half still free after them) in
    one step.

    Returns one int64 vector ``[stats (8) | change_rows (n) | change_cum (n)]`` (:func:`ofmap_parts` splits it;
    one array boxed where three cost a call from Python 0.6 us more): stats = [total, stall, dram_writes,
    dram_start, dram_stop, sram_start, sram_stop, n_rows]; the cumulative stall before row ``i`` is
    ``change_cum[k]`` for the last ``k`` with ``change_rows[k] <= i``.
    """
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    st, q_line, q_words = wq_new(o_tot, o_bw)
    o_act = st[Q_ACT]
    prof = fold_output_profiles(df, R, C, T, L, Sr, Sc, row_fold, col_fold)
    o_first = -(1 << 62)
    o_last = 0
    stall = 0
    row = 0
    cap = 64
    ch_rows = np.empty(cap, np.int64)
    ch_cum = np.empty(cap, np.int64)
    ch_rows[0] = 0
    ch_cum[0] = 0
    n_ch = 1
    last_partial = Sr - (row_fold - 1) * R < R
    for fc in range(col_fold):
        fr = 0
        while fr < row_fold:
            s = (0 if Sr - fr * R >= R else 2) + (0 if Sc - fc * C >= C else 1)
            cum = prof[s]
            total_f = cum[L]
            if total_f > 0 and st[Q_DRAIN_END] <= row + stall and total_f <= st[Q_FREE] - o_act:
                # no drain under way and this fold's outputs leave at least the active half free: it
                # starts no drain and stalls nothing, nor do the next folds of its shape while that holds
                same = row_fold - fr - (1 if last_partial and fr < row_fold - 1 else 0)
                k = min(same, (st[Q_FREE] - o_act) // total_f)
                wq_bulk(st, k * total_f)
                if o_first == -(1 << 62):
                    o_first = row + _first_ge(cum, np.int64(1)) - 1 + stall
                o_last = row + (k - 1) * L + _first_ge(cum, total_f) - 1 + stall
                row += k * L
                fr += k
                continue
            r = 0
            while r < L and cum[r] < total_f:
                base = cum[r]
                free = st[Q_FREE]
                cyc = row + r + stall
                # rows r .. ra-1 run while a drain is under way: an output stalls once free <= 0
                ra = min(L, r + max(0, st[Q_DRAIN_END] - cyc))
                q = _first_ge(cum, max(base + free, base + 1)) - 1 if ra > r else L
                if q >= ra:
                    # afterwards a drain starts once fewer than the active half are free
                    x = max(base + free - o_act, cum[ra])
                    q = _first_ge(cum, x + 1) - 1
                # rows r .. q-1 (q < L) or r .. L-1 write without event
                stop = min(q, L)
                w = cum[stop] - base
                if w > 0:
                    wq_bulk(st, w)
                    if o_first == -(1 << 62):
                        o_first = row + _first_ge(cum, base + 1) - 1 + stall
                    o_last = row + _first_ge(cum, cum[stop]) - 1 + stall
                if q >= L:
                    break
                n = cum[q + 1] - cum[q]
                cycle = row + q + stall
                ooff, q_line, q_words = wq_write(st, q_line, q_words, n, cycle)
                if o_first == -(1 << 62):
                    o_first = cycle + ooff
                o_last = cycle + ooff
                if ooff > 0:
                    stall += ooff
                    if n_ch == cap:
                        cap *= 2
                        ch_rows, ch_cum = _grow(ch_rows), _grow(ch_cum)
                    ch_rows[n_ch] = row + q + 1
                    ch_cum[n_ch] = stall
                    n_ch += 1
                r = q + 1
            row += L
            fr += 1
    last_out = row - 1 + stall
    acc, d_start, d_stop = wq_finish(st, q_line, q_words, last_out)
    out = np.empty(8 + 2 * n_ch, np.int64)  # one vector (:func:`ofmap_parts`): one array to box, not three
    _put_ofmap_stats(out, last_out, stall, acc, d_start, d_stop, o_first, o_last, row)
    for i in range(n_ch):  # (a loop: a slice assignment compiles NumPy's shape-mismatch message code, 1.8 s)
        out[8 + i] = ch_rows[i]
        out[8 + n_ch + i] = ch_cum[i]
    return out


@njit(cache=True, inline="always")
def ofmap_parts(ofm):
    """:func:`ofmap_events`' vector as ``(stats, change_rows, change_cum)`` (views; :func:`_calc_read` and tests)."""
    n = (ofm.shape[0] - 8) // 2
    return ofm[:8], ofm[8:8 + n], ofm[8 + n:]


@njit(cache=True)
def _calc_read(res, o, st, ev, words, ofm):
    """Fill read buffer ``o``'s fields (0 ifmap, 1 filter) of ``res`` from its pass's statistics ``st`` and
    prefetch events ``ev``, dated on the OFMAP pass's stalls (:func:`calc_dram_window`; ``ofm``: the OFMAP pass
    as :func:`ofmap_events` returns it)."""
    _, ch_rows, ch_cum = ofmap_parts(ofm)
    window = calc_dram_window(ev, st[2], st[0], words, ch_rows, ch_cum)
    base = 0 if o == 0 else 1
    res[R_IF_DRAM + base] = st[0]
    res[R_IF_DRAM_START + 2 * base] = window[0]
    res[R_IF_DRAM_STOP + 2 * base] = window[1]
    res[R_IF_SRAM_START + 2 * base] = _cycle_of(st[2], ch_rows, ch_cum) + 1 if st[2] >= 0 else 0
    res[R_IF_SRAM_STOP + 2 * base] = _cycle_of(st[3], ch_rows, ch_cum) + 1 if st[3] >= 0 else 0


@njit(cache=True)
def calc_finish(ofm, if_st, if_ev, df, R, C, npx, win, nfilt, if_words, fi_words):
    """A CALC unit's ``R_*`` vector from its OFMAP pass (``ofm``, :func:`ofmap_events`) and its ifmap pass
    (``if_st``, ``if_ev``): the cycles, stalls and OFMAP fields, then the read buffers' (:func:`_calc_read`), the
    filter's from its distinct pass run here. One call: the NumPy and the three calls around them cost a small
    layer about 5 us from Python."""
    res = np.zeros(N_RESULTS, np.int64)
    res[R_TOTAL] = ofm[0]
    res[R_STALL] = ofm[1]
    res[R_OF_DRAM] = ofm[2]
    res[R_OF_DRAM_START] = ofm[3]
    res[R_OF_DRAM_STOP] = ofm[4]
    res[R_OF_SRAM_START] = ofm[5]
    res[R_OF_SRAM_STOP] = ofm[6]
    ifmap = np.int64(0)  # (operand numbers as int64, not literals: each callee would compile once per literal)
    filt = np.int64(1)
    _calc_read(res, ifmap, if_st, if_ev, if_words, ofm)
    st, ev = distinct_read_pass(df, filt, R, C, npx, win, nfilt, fi_words)
    _calc_read(res, filt, st, ev, fi_words, ofm)
    return res


@njit(cache=True)
def calc_unit_distinct(df, R, C, npx, win, nfilt, if_words, fi_words, of_words):
    """A CALC unit whose ifmap windows neither overlap nor cross the input edge (1x1 convolutions, GEMMs), in one
    call: the OFMAP pass draining ``C`` words a cycle (:func:`ofmap_events`), the ifmap's distinct pass and
    :func:`calc_finish`. Returns the ``R_*`` vector."""
    ofm = ofmap_events(df, R, C, npx, win, nfilt, of_words, C)
    st, ev = distinct_read_pass(df, np.int64(0), R, C, npx, win, nfilt, if_words)
    return calc_finish(ofm, st, ev, df, R, C, npx, win, nfilt, if_words, fi_words)
