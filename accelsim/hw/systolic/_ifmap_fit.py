"""CALC-mode IFMAP read buffer when the ifmap's distinct words end no epoch (docs/models/systolic.md §3.3).

SCALE-Sim's CALC read buffer is an epoch cache: a word is fetched unless it was fetched in the current
epoch, and an epoch ends after ``block = 50 * floor(S / 100)`` fetches. The first sweep fetches each
distinct word once, at its first use; if there are fewer than ``block`` of them (or ``block`` is 0) no
epoch ends, every later use hits, and so does every later sweep (each word was fetched within the one
epoch there is). So the buffer's outputs follow from the layer's shape alone:

* fetches = distinct input words read = ``batch * Ch * |rows read| * |columns read|`` (a window row
  ``oh * sh + fh * dh`` and column ``ow * sw + fw * dw`` are read together whenever both lie inside the
  input, so the words read are a product of a row set and a column set);
* no prefetch event;
* the first and last demand rows holding an ifmap address: the first valid access of the first fold
  that has one and the last of the last (found by walking those folds' rows from their ends).

Same outputs as :func:`accelsim.hw.systolic._kernels.reuse_read_pass` (and its twin); cost O(1) for the
count (``O(Eh * FH + Ew * FW)`` with dilation or gaps between windows) plus the rows walked, instead of
``O(accesses)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import _dims, calc_finish, ofmap_events


def covered(n_out, stride, n_taps, dil, size):
    """How many of ``size`` input positions ``o * stride + f * dil`` reach (o < n_out, f < n_taps): in O(1)
    when the taps are adjacent (``dil`` 1) and overlap or touch (``n_taps >= stride``), else by listing
    them. Plain Python (it runs before any kernel is needed)."""
    if n_out <= 0 or n_taps <= 0:
        return 0
    if dil == 1 and n_taps >= stride:
        return min(size, (n_out - 1) * stride + n_taps)
    return len({x for o in range(n_out) for f in range(n_taps) if (x := o * stride + f * dil) < size})


def distinct_words(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew):
    """Distinct input words a convolution's windows read: ``batch * Ch * |rows read| * |columns read|``."""
    return batch * Ch * covered(Eh, sh, FH, dh, H) * covered(Ew, sw, FW, dw, W)


def fitted_words(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, words):
    """The ifmap's distinct words when they are fewer than an epoch's block (or the block is 0): the case this
    module computes; else None (the buffer needs a pass). Plain Python, O(1) in the common case."""
    block = 50 * (words // 100)
    distinct = distinct_words(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
    if block > 0 and distinct >= block:
        return None
    return distinct


def ifmap_fit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words):
    """The CALC ifmap read buffer's ``(stats, events)`` (as :func:`reuse_read_pass` returns them) when the
    ifmap's distinct words are fewer than an epoch's block (or the block is 0), else None (the buffer
    needs a pass); the kernel runs only in the first case."""
    distinct = fitted_words(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, words)
    if distinct is None:
        return None
    stats = ifmap_fit_pass(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, np.int64(distinct))
    return stats, _NO_EVENTS


#: the events of every fitted ifmap: none (one empty array shared by all, never written; returning a second
#: array from the kernel cost a small layer 0.4 us)
_NO_EVENTS = np.zeros(0, np.int64)


@njit(cache=True)
def _valid(p, t, per, Ew, FWC, Ch, sh, sw, dh, dw, H, W):
    """Whether window element ``t`` of output pixel ``p`` lies inside the input."""
    q = p % per
    oh = q // Ew
    ow = q - oh * Ew
    kr = t // FWC
    kc = (t - kr * FWC) // Ch
    return oh * sh + kr * dh < H and ow * sw + kc * dw < W


@njit(cache=True)
def _fold_rows(df, fr, fc, R, C, npx, win, L, rows_used, cols_used, per, Ew, FWC, Ch, sh, sw, dh, dw, H, W, last):
    """The first (``last`` False) or last demand row of fold ``(fr, fc)`` holding a valid ifmap access,
    as a row of the fold (0 .. L-1); -1 if none. (Callers pass ``np.bool_``: a literal would compile it
    once per value.)"""
    if df == 0:
        # os: pixel fr*R + c reads window element r - c on row r. An element (kr, kc) of a window lies inside
        # only if its origin (0, 0) does, so the first row is the first lane whose window origin lies inside,
        # and the last the largest lane + its window's last element inside (the largest kr, then kc, inside,
        # channel Ch - 1): O(lanes) instead of a walk over the fold's rows
        FW = FWC // Ch
        FH = win // FWC
        best = -1
        for c in range(rows_used):
            q = (fr * R + c) % per
            oh = q // Ew
            ow = q - oh * Ew
            if oh * sh < H and ow * sw < W:
                if not last:
                    return c
                kr = min(FH - 1, (H - 1 - oh * sh) // dh)
                kc = min(FW - 1, (W - 1 - ow * sw) // dw)
                r = c + (kr * FW + kc) * Ch + Ch - 1
                if r > best:
                    best = r
        return best
    if df == 1:
        # ws: lane c (window element fr*R + c) reads pixel r - R - c, so only rows R .. npx + R + rows_used - 2
        # hold accesses (the fill and drain rows around them, 2R + C - rows_used of a fold's L, hold none)
        r_lo, r_hi = R, min(L - 1, npx + R + rows_used - 2)
        for i in range(r_hi - r_lo + 1):
            r = r_hi - i if last else r_lo + i
            lo, hi = max(0, r - R - npx + 1), min(rows_used - 1, r - R)
            for c in range(lo, hi + 1):
                if _valid(r - R - c, fr * R + c, per, Ew, FWC, Ch, sh, sw, dh, dw, H, W):
                    return r
        return -1
    for i in range(R):
        r = R - 1 - i if last else i
        # is: row r of the stationary tile holds window element fr*R + R-1-r of pixels fc*C + c
        rr = R - 1 - r
        if rr < rows_used:
            for c in range(cols_used):
                if _valid(fc * C + c, fr * R + rr, per, Ew, FWC, Ch, sh, sw, dh, dw, H, W):
                    return r
    return -1


@njit(cache=True)
def _edge_row(df, R, C, npx, win, L, Sr, Sc, row_fold, col_fold, per, Ew, FWC, Ch, sh, sw, dh, dw, H, W, last):
    """The layer's first (``last`` False) or last demand row holding a valid ifmap access, searching the
    folds from that end (fold ``f`` holds rows ``f * L ..``); -1 if none."""
    n = row_fold * col_fold
    for i in range(n):
        f = n - 1 - i if last else i
        fc, fr = f // row_fold, f % row_fold
        r = _fold_rows(df, fr, fc, R, C, npx, win, L, min(R, Sr - fr * R), min(C, Sc - fc * C), per, Ew, FWC, Ch,
                       sh, sw, dh, dw, H, W, last)
        if r >= 0:
            return f * L + r
    return -1


@njit(cache=True)
def ifmap_fit_pass(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, distinct):
    """The buffer's stats for an ifmap of ``distinct`` words that end no epoch (see :func:`ifmap_fit`, which
    adds the events: none): the fetches and the first / last rows holding an address."""
    stats = np.zeros(4, np.int64)
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    per = Eh * Ew
    FWC = FW * Ch
    # folds run column folds outer, row folds inner: fold f = fc * row_fold + fr holds demand rows
    # f * L .. f * L + L - 1; the first valid access lies in the first fold that has one, the last in the
    # last (an edge lane may have none)
    first = _edge_row(df, R, C, npx, win, L, Sr, Sc, row_fold, col_fold, per, Ew, FWC, Ch, sh, sw, dh, dw, H, W,
                      np.bool_(False))
    last = _edge_row(df, R, C, npx, win, L, Sr, Sc, row_fold, col_fold, per, Ew, FWC, Ch, sh, sw, dh, dw, H, W,
                     np.bool_(True))
    stats[0] = distinct
    stats[2] = first
    stats[3] = last
    return stats


@njit(cache=True)
def calc_unit_fit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, fi_words, of_words,
                  distinct):
    """A CALC unit whose ifmap's ``distinct`` words end no epoch (:func:`fitted_words`), in one call: the OFMAP
    pass draining ``C`` words a cycle, :func:`ifmap_fit_pass` (no prefetch event) and
    :func:`~accelsim.hw.systolic._kernels.calc_finish`: the ``R_*`` vector. (Three calls from Python cost a
    small layer about 3 us more.)"""
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    ofm = ofmap_events(df, R, C, npx, win, nfilt, of_words, C)
    st = ifmap_fit_pass(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, distinct)
    return calc_finish(ofm, st, np.zeros(0, np.int64), df, R, C, npx, win, nfilt, if_words, fi_words)
