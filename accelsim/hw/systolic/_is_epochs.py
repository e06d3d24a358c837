"""CALC-mode ifmap read buffer of an input-stationary array by pixel blocks (docs/models/systolic.md §3.3,
"is by pixel blocks").

SCALE-Sim's ``ReadBufferEstimateBw`` is an epoch cache: an access is fetched unless its word was accessed
since the current epoch began, and an epoch ends after ``block = 50 * floor(S / 100)`` fetches. So an epoch
fetches each word it touches once, and a stretch of accesses in which no epoch ends fetches exactly the words
it touches that the epoch has not touched yet, whatever their order. An is array's ifmap order is one sweep
of pixel blocks (column folds of ``C`` pixels, outer) whose accesses are every window element of every pixel of
the block: a block touches the words of its pixels' windows, all channels, a set of input pixels found from
its ``C x taps`` (pixel, tap) pairs. Each word keeps the epoch that last touched it; a block is counted in bulk
(its words not stamped with the current epoch) when the epoch does not end inside it, and walked access by
access in SCALE-Sim's order otherwise. Cost ``O(blocks x words a block touches + accesses of the blocks where
an epoch ends)`` instead of ``O(accesses)`` for the reuse-distance scan (:func:`~accelsim.hw.systolic._kernels.
reuse_read_pass`, its oracle in the tests, with the same outputs).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import _dims, conv_geometry

#: a word's stamp (uint8: a quarter of int32's memory, so a layer's stamps stay in a nearer cache) is the number
#: of the epoch that last touched it, epochs numbered 0 .. OLD - 1 in cycles; when the numbers wrap, every stamp
#: is set to OLD, which no epoch carries (a new epoch has touched no word yet, so none may carry its number)
OLD = 255

#: where the channel groups also pay (``_group_reuse.ws_is_groups_pay``) the blocks go first when the distinct
#: words alone end fewer epochs than this fraction of the blocks (:func:`blocks_first`): on 60 random is layers
#: whose groups pay (8-256 rows / columns, 16-512 channels, 1x1-7x7, 4-256 kB), the blocks were 1.3-30x faster
#: than the groups on every layer below 0.2 and from 5x slower to 7x faster above it
BLOCKS_FIRST_ENDS = 0.2


def blocks_first(C, npx, distinct, words):
    """Whether the pixel blocks go before the channel groups on an is array of ``C`` columns: when the input's
    ``distinct`` words end fewer than :data:`BLOCKS_FIRST_ENDS` epochs a block (then few blocks are walked)."""
    block = 50 * (words // 100)
    return block == 0 or distinct < BLOCKS_FIRST_ENDS * -(-npx // C) * block


@njit(cache=True)
def _block_runs(p0, ncols, B, H, W, FH, FW, dh, dw, Eh, Ew, pix_r, pix_c, mark, starts, ends):
    """The input pixels (``(image * H + row) * W + column``) that the windows of pixels ``p0 .. p0 + ncols - 1``
    read inside the input, as runs of consecutive ones ``starts[i] .. ends[i] - 1`` in ascending order (``mark``
    holds the last block that read each pixel); returns the number of runs."""
    per = Eh * Ew
    lo = (p0 // per + 1) * H  # (rows of the images the block reads, as image * H + row)
    hi = 0
    for c in range(ncols):
        p = p0 + c
        base = (p // per) * H
        for kh in range(FH):
            ih = pix_r[p] + kh * dh
            if ih >= H:
                break
            row = (base + ih) * W
            lo = min(lo, base + ih)
            hi = max(hi, base + ih)
            for kw in range(FW):
                iw = pix_c[p] + kw * dw
                if iw >= W:
                    break
                mark[row + iw] = B
    n = 0
    for g in range(lo, hi + 1):
        inside = False
        for ip in range(g * W, g * W + W):
            if mark[ip] == B:
                if not inside:
                    starts[n] = ip
                    inside = True
            elif inside:
                ends[n] = ip
                n += 1
                inside = False
        if inside:
            ends[n] = g * W + W
            n += 1
    return n


@njit(cache=True)
def _new_words(starts, ends, n, Ch, stamp, e):
    """Words of the input pixels in the ``n`` runs ``starts[i] .. ends[i] - 1`` (all ``Ch`` channels) not stamped
    with epoch ``e``."""
    new = 0
    for i in range(n):
        words = stamp[starts[i] * Ch:ends[i] * Ch]
        for j in range(words.shape[0]):
            new += words[j] != e
    return new


@njit(cache=True)
def _touched(starts, ends, n):
    """Input pixels in the ``n`` runs."""
    total = 0
    for i in range(n):
        total += ends[i] - starts[i]
    return total


@njit(cache=True)
def _stamp_words(starts, ends, n, Ch, stamp, e):
    """Stamp every word of the input pixels in the ``n`` runs with epoch ``e``; returns how many were not."""
    new = 0
    for i in range(n):
        words = stamp[starts[i] * Ch:ends[i] * Ch]
        for j in range(words.shape[0]):
            new += words[j] != e
            words[j] = e
    return new


@njit(cache=True)
def _row_reads(p0, ncols, t, H, W, pix_r, pix_c, win_r, win_c):
    """Whether the listed row of window element ``t`` in the block of pixels ``p0 ..`` holds an access."""
    for c in range(ncols):
        if pix_r[p0 + c] + win_r[t] < H and pix_c[p0 + c] + win_c[t] < W:
            return True
    return False


@njit(cache=True)
def _edge_row(B, C, npx, R, L, row_fold, win, H, W, pix_r, pix_c, win_r, win_c, first):
    """The demand row of block ``B``'s first (``first``) or last listed row holding an access; -1 if none. Fold
    ``fr`` lists its stationary rows ``r = R - rows used .. R-1``, row ``r`` holding element ``fr * R + R-1-r``."""
    p0 = B * C
    ncols = min(C, npx - p0)
    for i in range(row_fold):
        fr = i if first else row_fold - 1 - i
        rows_used = min(R, win - fr * R)
        for j in range(rows_used):
            r = R - rows_used + j if first else R - 1 - j
            if _row_reads(p0, ncols, fr * R + R - 1 - r, H, W, pix_r, pix_c, win_r, win_c):
                return (B * row_fold + fr) * L + r
    return -1


@njit(cache=True)
def _walk_block(B, p0, ncols, R, L, row_fold, win, H, W, block, pix_base, pix_r, pix_c, win_off, win_r, win_c, stamp,
                e, got, ev_rows, n_ev):
    """The accesses of pixel block ``B`` in SCALE-Sim's order (row folds; a fold's stationary rows, element
    ``fr * R + R-1-r`` on row ``r``; the block's pixels): an access is fetched unless its word carries epoch
    ``e``; the ``block``-th fetch of an epoch ends it (its demand row into ``ev_rows``). Returns ``(fetches in
    the epoch, epoch, epoch ends, fetches in the block)``."""
    fetched = 0
    bases = pix_base[p0:p0 + ncols]
    rows = pix_r[p0:p0 + ncols]
    cols = pix_c[p0:p0 + ncols]
    max_r = rows.max()
    max_c = cols.max()
    for fr in range(row_fold):
        rows_used = min(R, win - fr * R)
        for r in range(R - rows_used, R):
            t = fr * R + R - 1 - r
            off = win_off[t]
            wr = win_r[t]
            wc = win_c[t]
            inside = max_r + wr < H and max_c + wc < W
            if block == 0 or got + ncols < block:  # no epoch ends in this row: no epoch test per access
                before = got
                if inside:
                    for c in range(ncols):
                        a = bases[c] + off
                        got += stamp[a] != e
                        stamp[a] = e
                else:  # (windows past the input edge: only the accesses inside it)
                    for c in range(ncols):
                        if rows[c] + wr < H and cols[c] + wc < W:
                            a = bases[c] + off
                            got += stamp[a] != e
                            stamp[a] = e
                fetched += got - before
                continue
            for c in range(ncols):
                if not inside and (rows[c] + wr >= H or cols[c] + wc >= W):
                    continue
                a = bases[c] + off
                f = stamp[a] != e
                stamp[a] = e
                got += f
                fetched += f
                if got == block:
                    ev_rows[n_ev] = (B * row_fold + fr) * L + r
                    n_ev += 1
                    got = 0
                    e += 1
                    if e == OLD:  # a new cycle of epoch numbers: every word's stamp made old (module doc)
                        stamp[:] = OLD
                        e = 0
    return got, e, n_ev, fetched


@njit(cache=True)
def is_block_pass(R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words):
    """The CALC-mode ifmap read buffer of an is array (``df`` 2) by pixel blocks (module doc): the outputs of
    :func:`~accelsim.hw.systolic._kernels.reuse_read_pass` for ``df`` 2, ``(stats, event rows, fetches per
    sweep)``: stats = (fetches, epoch ends, first demand row with an access, last one)."""
    pix_base, pix_r, pix_c, win_off, win_r, win_c = conv_geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    Sr, Sc, T, L, row_fold, col_fold = _dims(2, npx, win, nfilt, R, C)
    block = 50 * (words // 100)
    stamp = np.full(batch * H * W * Ch, OLD, np.uint8)
    mark = np.full(batch * H * W, -1, np.int64)
    starts = np.empty(batch * H * W, np.int64)  # runs of input pixels a block reads (fewer than its pixels)
    ends = np.empty(batch * H * W, np.int64)
    ev_rows = np.empty(16, np.int64)
    # (int64, not literals: a literal argument compiles the helpers a second time)
    n_ev = np.int64(0)
    e = np.int64(0)  # the current epoch's number (0 .. OLD - 1, stored in uint8 stamps)
    got = np.int64(0)  # fetches in it
    fetched = 0
    for B in range(col_fold):
        p0 = B * C
        ncols = min(C, npx - p0)
        n = _block_runs(p0, ncols, B, H, W, FH, FW, dh, dw, Eh, Ew, pix_r, pix_c, mark, starts, ends)
        if block == 0 or got + _touched(starts, ends, n) * Ch < block or \
                got + _new_words(starts, ends, n, Ch, stamp, e) < block:
            new = _stamp_words(starts, ends, n, Ch, stamp, e)
            got += new
            fetched += new
            continue
        # an epoch ends in this block: its accesses in order
        if ev_rows.shape[0] < n_ev + ncols * win // block + 1:
            grown = np.empty(2 * (n_ev + ncols * win // block + 1), np.int64)
            grown[:n_ev] = ev_rows[:n_ev]
            ev_rows = grown
        got, e, n_ev, walked = _walk_block(B, p0, ncols, R, L, row_fold, win, H, W, block, pix_base, pix_r, pix_c,
                                           win_off, win_r, win_c, stamp, e, got, ev_rows, n_ev)
        fetched += walked
    # the first and last demand rows holding an access (windows past the edge may leave whole blocks without)
    first_row = -1
    for B in range(col_fold):
        first_row = _edge_row(B, C, npx, R, L, row_fold, win, H, W, pix_r, pix_c, win_r, win_c, True)
        if first_row >= 0:
            break
    last_row = -1
    for B in range(col_fold - 1, -1, -1):
        last_row = _edge_row(B, C, npx, R, L, row_fold, win, H, W, pix_r, pix_c, win_r, win_c, False)
        if last_row >= 0:
            break
    stats = np.zeros(4, np.int64)
    stats[0] = fetched
    stats[1] = n_ev
    stats[2] = first_row
    stats[3] = last_row
    return stats, ev_rows[:n_ev], np.full(1, fetched, np.int64)
