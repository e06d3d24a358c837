"""CALC-mode ifmap read buffer of an input-stationary array by pixel blocks (docs/models/systolic.md §3.3,
"is by pixel blocks").

SCALE-Sim's ``ReadBufferEstimateBw`` is an epoch cache: an access is fetched unless its word was accessed
since the current epoch began, and an epoch ends after ``block = 50 * floor(S / 100)`` fetches. So an epoch
fetches each word it touches once, and a stretch of accesses in which no epoch ends fetches exactly the words
it touches that the epoch has not touched yet, whatever their order. An is array's ifmap order is one sweep
of pixel blocks (column folds of ``C`` pixels, outer) whose accesses are every window element of every pixel of
the block: the demand row of window position ``(kh, kw)``, channel ``ch``, reads for the block's pixels a set of
input pixels that is the same for every channel, in ascending order, each once.

Those sets are bit sets, 64 input pixels a word, on the input's stride phase planes: pixel (row, column) of an
image is bit ``(row // sh) * Ws + column // sw`` of plane ``(row % sh) * sw + column % sw`` (``Ws = ceil(W /
sw)``), so a window position's set is the block's own window corners (consecutive output pixels: dense bits)
shifted along one plane, one or two words for a block of up to 64 pixels whatever the stride. Per word and
channel, ``seen`` holds the pixels the current epoch has touched (channels adjacent); an epoch's end clears the
words it touched. A block is counted in bulk (the union of its sets, less what the epoch touched, over the
channels) when the epoch does not end inside it; otherwise its rows are taken in SCALE-Sim's order (row folds; a
fold's stationary rows), a run of rows of one window position (its channels) at once when the epoch does not end
in the run, else row by row, word by word: the ``block``-th fetch is the ``(block - got)``-th new bit of a word,
and the row's later bits open the next epoch. Cost ``O(blocks x (taps + channels) x words of a block's set +
rows walked x words of a row's set)`` instead of ``O(accesses)`` for the reuse-distance scan
(:func:`~accelsim.hw.systolic._kernels.reuse_read_pass`, its oracle in the tests, with the same outputs).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ._group_reuse import channel_classes
from ._kernels import _dims

#: where the channel groups also pay (``_group_reuse.ws_is_groups_pay``) the blocks go first (:func:`blocks_first`)
#: when the input's distinct words alone end fewer epochs than this fraction of the blocks (few blocks walked) ...
BLOCKS_FIRST_ENDS = 0.2
#: ... or when the blocks' demand rows are fewer than this many per channel group (``pixels x window positions x
#: channel classes``). Set on 60 random is layers whose groups pay (seed 7: 8-256 rows and columns, 16-512 channels,
#: 1x1-7x7, strides 1-2, 4-256 kB); the blocks lost only with 8+ rows a group and an epoch end in most blocks. On 120
#: others (seeds 8 and 9) the choice was 1.007x / 1.037x the faster of the two (geometric mean; worst 1.37x / 2.67x),
#: the first rule alone 2.18x / 2.51x (worst 30x / 37x)
BLOCK_ROWS_PER_GROUP = 8


def blocks_first(R, C, npx, Ch, taps, distinct, words):
    """Whether the pixel blocks go before the channel groups on an is array of ``R x C``, ``npx`` pixels, ``taps``
    window positions of ``Ch`` channels (:data:`BLOCKS_FIRST_ENDS`, :data:`BLOCK_ROWS_PER_GROUP`)."""
    block = 50 * (words // 100)
    blocks = -(-npx // C)
    if block == 0 or distinct < BLOCKS_FIRST_ENDS * blocks * block:
        return True
    win = taps * Ch
    return blocks * win < BLOCK_ROWS_PER_GROUP * npx * taps * channel_classes(R, Ch, win)


@intrinsic
def _popcount(typingctx, x):
    """Set bits of a uint64, as an int64 (LLVM's ``ctpop``: one instruction on x86-64 with POPCNT)."""
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@intrinsic
def _lowest_bit(typingctx, x):
    """The position of the lowest set bit of a non-zero uint64, as an int64 (LLVM's ``cttz``)."""
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return sig, codegen


@njit(cache=True, _nrt=False)
def _kth_bit(bits, k):
    """The position of the ``k``-th lowest set bit of ``bits`` (``1 <= k <=`` its set bits)."""
    for _ in range(k - 1):
        bits &= bits - np.uint64(1)
    return _lowest_bit(bits)


@njit(cache=True, _nrt=False)
def _tap_patterns(p0, ncols, H, W, taps, tap_r, tap_c, tap_shift, pix_q, pix_r, pix_c, base, pat, pat_w0, pat_n):
    """The input pixels that window position ``s = kh * FW + kw`` of the block of pixels ``p0 .. p0 + ncols - 1``
    reads inside the input (window position ``s`` is ``tap_r[s]`` rows and ``tap_c[s]`` columns from a window's
    corner, ``tap_shift[s]`` bits on its stride phase plane: module doc), as a bit set ``pat[s, :pat_n[s]]`` of
    64-pixel words of that plane from word ``pat_w0[s]`` on, followed by a zero word; the pixels ascend with the
    block's, so a row's accesses ascend too. A position whose windows all lie inside the input is the block's own
    pixels (``base``) shifted."""
    q0 = pix_q[p0] >> 6
    nq = (pix_q[p0 + ncols - 1] >> 6) - q0 + 1
    for i in range(nq):
        base[i] = 0
    max_r = 0
    max_c = 0
    for c in range(ncols):
        p = p0 + c
        q = pix_q[p] - (q0 << 6)
        base[q >> 6] |= np.uint64(1) << np.uint64(q & 63)
        max_r = max(max_r, pix_r[p])
        max_c = max(max_c, pix_c[p])
    for s in range(taps):
        dr = tap_r[s]
        dc = tap_c[s]
        shift = tap_shift[s]
        if max_r + dr < H and max_c + dc < W:
            start = (q0 << 6) + shift
            pat_w0[s] = start >> 6
            b = start & 63
            if b == 0:
                pat_n[s] = nq
                for i in range(nq):
                    pat[s, i] = base[i]
            else:
                up = np.uint64(b)
                down = np.uint64(64 - b)
                carry = np.uint64(0)
                for i in range(nq):
                    pat[s, i] = (base[i] << up) | carry
                    carry = base[i] >> down
                pat[s, nq] = carry
                pat_n[s] = nq + (carry != 0)
            pat[s, pat_n[s]] = 0
            continue
        # windows past the input edge: only the pixels inside it
        first = -1
        last = -1
        for c in range(ncols):
            p = p0 + c
            if pix_r[p] + dr < H and pix_c[p] + dc < W:
                if first < 0:
                    first = pix_q[p] + shift
                last = pix_q[p] + shift
        if first < 0:
            pat_n[s] = 0
            continue
        w0 = first >> 6
        n = (last >> 6) - w0 + 1
        pat_w0[s] = w0
        pat_n[s] = n
        for i in range(n + 1):
            pat[s, i] = 0
        for c in range(ncols):
            p = p0 + c
            if pix_r[p] + dr < H and pix_c[p] + dc < W:
                q = pix_q[p] + shift - (w0 << 6)
                pat[s, q >> 6] |= np.uint64(1) << np.uint64(q & 63)


@njit(cache=True, _nrt=False)
def _block_unions(taps, pat, pat_w0, pat_n, tap_slot, n_used, unions, u_lo, u_n):
    """Per plane the window positions read (slot ``tap_slot[s]`` of the ``n_used`` planes any reads), the union
    of their bit sets into ``unions[slot, :u_n[slot]]``, words from ``u_lo[slot]`` on; returns the pixels in all."""
    for k in range(n_used):
        u_lo[k] = -1
        u_n[k] = -1  # (the end word, until the sets are merged)
    for s in range(taps):
        if pat_n[s] > 0:
            k = tap_slot[s]
            if u_lo[k] < 0 or pat_w0[s] < u_lo[k]:
                u_lo[k] = pat_w0[s]
            u_n[k] = max(u_n[k], pat_w0[s] + pat_n[s])
    for k in range(n_used):
        if u_lo[k] < 0:
            u_lo[k] = 0
            u_n[k] = 0
        else:
            u_n[k] -= u_lo[k]
        for i in range(u_n[k]):
            unions[k, i] = 0
    for s in range(taps):
        k = tap_slot[s]
        off = pat_w0[s] - u_lo[k]
        for i in range(pat_n[s]):
            unions[k, off + i] |= pat[s, i]
    touched = 0
    for k in range(n_used):
        for i in range(u_n[k]):
            touched += _popcount(unions[k, i])
    return touched


@njit(cache=True, _nrt=False)
def _union_new(unions, u_lo, u_n, u_pl, n_used, Ch, seen, stamp):
    """Words (pixel x channel) of the pixels in the planes' unions that the epoch has not touched (``seen[w, ch]``:
    the pixels of word ``w`` of channel ``ch`` it touched, a plane's words from ``u_pl[slot]`` on); with
    ``stamp``, they are marked touched."""
    new = 0
    for k in range(n_used):
        at = u_pl[k] + u_lo[k]
        for i in range(u_n[k]):
            bits = unions[k, i]
            for ch in range(Ch):
                cur = seen[at + i, ch]
                new += _popcount(bits & ~cur)
                if stamp:
                    seen[at + i, ch] = cur | bits
    return new


@njit(cache=True, _nrt=False)
def _forget(seen, Ch, u_pl, n_used, lo, hi):
    """A new epoch: clear the words ``lo .. hi - 1`` of every plane read (every word the old one touched) of every
    channel."""
    for k in range(n_used):
        for w in range(u_pl[k] + lo, u_pl[k] + hi):
            for ch in range(Ch):
                seen[w, ch] = 0


@njit(cache=True)
def _row_reads(p0, ncols, s, H, W, pix_r, pix_c, tap_r, tap_c):
    """Whether the listed row of a window element at window position ``s`` in the block of pixels ``p0 ..`` holds
    an access."""
    for c in range(ncols):
        if pix_r[p0 + c] + tap_r[s] < H and pix_c[p0 + c] + tap_c[s] < W:
            return True
    return False


@njit(cache=True)
def _edge_row(B, C, npx, R, L, row_fold, win, H, W, pix_r, pix_c, tap_r, tap_c, tap_of, first):
    """The demand row of block ``B``'s first (``first``) or last listed row holding an access; -1 if none. Fold
    ``fr`` lists its stationary rows ``r = R - rows used .. R-1``, row ``r`` holding element ``fr * R + R-1-r``."""
    p0 = B * C
    ncols = min(C, npx - p0)
    for i in range(row_fold):
        fr = i if first else row_fold - 1 - i
        rows_used = min(R, win - fr * R)
        for j in range(rows_used):
            r = R - rows_used + j if first else R - 1 - j
            if _row_reads(p0, ncols, tap_of[fr * R + R - 1 - r], H, W, pix_r, pix_c, tap_r, tap_c):
                return (B * row_fold + fr) * L + r
    return -1


@njit(cache=True, _nrt=False)
def _walk_block(B, R, L, row_fold, win, Ch, block, pat, pat_w0, pat_n, pat_pl, tap_of, ch_of, u_pl, n_used, seen,
                dirty, got, ev_rows, n_ev):
    """The accesses of pixel block ``B`` in SCALE-Sim's order (row folds; a fold's stationary rows, element
    ``t = fr * R + R-1-r`` on row ``r``, window position ``t // Ch`` of channel ``t % Ch``; the block's pixels,
    ascending), 64 at a time: a pixel is fetched unless the epoch has touched it; the ``block``-th fetch of an
    epoch ends it (its demand row into ``ev_rows``) and the row's later pixels open the next. ``dirty``: the words
    of a plane the epoch has touched, ``[lo, hi)``, cleared in every plane when it ends. Returns ``(fetches in
    the epoch, epoch ends, fetches in the block)``."""
    fetched = 0
    lo = dirty[0]
    hi = dirty[1]
    for fr in range(row_fold):
        t_lo = fr * R
        t = t_lo + min(R, win - t_lo) - 1  # the fold's first row's element; each next row's is one less
        while t >= t_lo:
            # a run of rows of one window position, channels descending (its bit set read once for them all)
            s = tap_of[t]
            ch_hi = ch_of[t]
            ch_lo = max(0, t_lo - s * Ch)
            t = s * Ch + ch_lo - 1
            n = pat_n[s]
            if n == 0:
                continue
            lo = min(lo, pat_w0[s])
            hi = max(hi, pat_w0[s] + n)
            w0 = pat_pl[s] + pat_w0[s]
            new = 0
            for i in range(n):
                bits = pat[s, i]
                for ch in range(ch_lo, ch_hi + 1):
                    new += _popcount(bits & ~seen[w0 + i, ch])
            if got + new < block:  # no epoch ends in this run
                for i in range(n):
                    bits = pat[s, i]
                    for ch in range(ch_lo, ch_hi + 1):
                        seen[w0 + i, ch] |= bits
                got += new
                fetched += new
                continue
            for ch in range(ch_hi, ch_lo - 1, -1):  # row by row
                r = R - 1 - (s * Ch + ch - t_lo)
                for i in range(n):
                    bits = pat[s, i]
                    w = w0 + i
                    while bits != 0:
                        new_bits = bits & ~seen[w, ch]
                        new = _popcount(new_bits)
                        if got + new < block:
                            got += new
                            fetched += new
                            seen[w, ch] |= bits
                            break
                        # the (block - got)-th new pixel of this word ends the epoch; the word's later pixels open
                        # the next
                        j = _kth_bit(new_bits, block - got)
                        fetched += block - got
                        ev_rows[n_ev] = (B * row_fold + fr) * L + r
                        n_ev += 1
                        got = 0
                        _forget(seen, Ch, u_pl, n_used, lo, hi)
                        lo = pat_w0[s]  # (the run's later rows touch all of its words)
                        hi = pat_w0[s] + n
                        bits &= ~((np.uint64(2) << np.uint64(j)) - np.uint64(1))
    dirty[0] = lo
    dirty[1] = hi
    return got, n_ev, fetched


@njit(cache=True)
def is_block_pass(R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words):
    """The CALC-mode ifmap read buffer of an is array (``df`` 2) by pixel blocks (module doc): the outputs of
    :func:`~accelsim.hw.systolic._kernels.reuse_read_pass` for ``df`` 2, ``(stats, event rows, fetches per
    sweep)``: stats = (fetches, epoch ends, first demand row with an access, last one)."""
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    taps = FH * FW
    Sr, Sc, T, L, row_fold, col_fold = _dims(2, npx, win, nfilt, R, C)
    block = 50 * (words // 100)
    # the stride phase planes (module doc): input pixel (row, column) of an image is bit (row // sh) * Ws + column // sw
    # of plane (row % sh) * sw + column % sw, so the pixels a window position reads for a block lie as densely as
    # the block's pixels; an output pixel's window corner is bit (output row) * Ws + output column of plane 0
    Hs = (H + sh - 1) // sh
    Ws = (W + sw - 1) // sw
    planes = sh * sw
    pix_r = np.empty(npx, np.int64)  # (the tables built without a division an entry)
    pix_c = np.empty(npx, np.int64)
    pix_q = np.empty(npx, np.int64)
    p = 0
    for b in range(batch):
        for orow in range(Eh):
            for ocol in range(Ew):
                pix_r[p] = orow * sh
                pix_c[p] = ocol * sw
                pix_q[p] = (b * Hs + orow) * Ws + ocol
                p += 1
    tap_r = np.empty(taps, np.int64)
    tap_c = np.empty(taps, np.int64)
    tap_shift = np.empty(taps, np.int64)
    tap_phase = np.empty(taps, np.int64)
    tap_of = np.empty(win, np.int64)  # window element -> its window position and channel
    ch_of = np.empty(win, np.int64)
    t = 0
    for kh in range(FH):
        for kw in range(FW):
            s = kh * FW + kw
            tap_r[s] = kh * dh
            tap_c[s] = kw * dw
            tap_shift[s] = (kh * dh // sh) * Ws + kw * dw // sw
            tap_phase[s] = (kh * dh % sh) * sw + kw * dw % sw
            for ch in range(Ch):
                tap_of[t] = s
                ch_of[t] = ch
                t += 1
    reach = ((FH - 1) * dh // sh) * Ws + (FW - 1) * dw // sw
    span = 1
    for B in range(col_fold):
        p0 = B * C
        # (a bit set's words: its first pixel's word to its last's, plus the carry word of a shift)
        span = max(span, ((pix_q[min(npx, p0 + C) - 1] - pix_q[p0] + reach) >> 6) + 3)
    pat = np.empty((taps, span + 1), np.uint64)  # (each set followed by a zero word)
    pat_w0 = np.zeros(taps, np.int64)
    pat_n = np.zeros(taps, np.int64)
    base = np.empty(span, np.uint64)
    plane_words = ((batch * Hs * Ws) >> 6) + span + 1  # (a shifted bit set's last word may lie past the plane's)
    seen = np.zeros((planes * plane_words, Ch), np.uint64)
    pat_pl = tap_phase * plane_words  # where each window position's plane starts in ``seen``
    # the planes some window position reads (a stride larger than the filter leaves others unread)
    tap_slot = np.empty(taps, np.int64)
    slot_of = np.full(planes, -1, np.int64)
    n_used = np.int64(0)  # (int64, not a literal: see n_ev)
    for s in range(taps):
        if slot_of[tap_phase[s]] < 0:
            slot_of[tap_phase[s]] = n_used
            n_used += 1
        tap_slot[s] = slot_of[tap_phase[s]]
    u_pl = np.empty(n_used, np.int64)
    for s in range(taps):
        u_pl[tap_slot[s]] = pat_pl[s]
    unions = np.empty((n_used, span), np.uint64)
    u_lo = np.zeros(n_used, np.int64)
    u_n = np.zeros(n_used, np.int64)
    dirty = np.zeros(2, np.int64)  # the words of a plane the current epoch has touched, [lo, hi)
    dirty[0] = plane_words
    ev_rows = np.empty(16, np.int64)
    # (int64, not literals: a literal argument compiles the helpers a second time)
    n_ev = np.int64(0)
    got = np.int64(0)  # fetches in the current epoch
    fetched = 0
    for B in range(col_fold):
        p0 = B * C
        ncols = min(C, npx - p0)
        _tap_patterns(p0, ncols, H, W, taps, tap_r, tap_c, tap_shift, pix_q, pix_r, pix_c, base, pat, pat_w0, pat_n)
        touched = _block_unions(taps, pat, pat_w0, pat_n, tap_slot, n_used, unions, u_lo, u_n)
        if block == 0 or got + touched * Ch < block or \
                got + _union_new(unions, u_lo, u_n, u_pl, n_used, Ch, seen, False) < block:
            new = _union_new(unions, u_lo, u_n, u_pl, n_used, Ch, seen, True)
            got += new
            fetched += new
            for k in range(n_used):
                if u_n[k] > 0:
                    dirty[0] = min(dirty[0], u_lo[k])
                    dirty[1] = max(dirty[1], u_lo[k] + u_n[k])
            continue
        # an epoch ends in this block: its accesses in order
        if ev_rows.shape[0] < n_ev + ncols * win // block + 1:
            grown = np.empty(2 * (n_ev + ncols * win // block + 1), np.int64)
            grown[:n_ev] = ev_rows[:n_ev]
            ev_rows = grown
        got, n_ev, walked = _walk_block(B, R, L, row_fold, win, Ch, block, pat, pat_w0, pat_n, pat_pl, tap_of, ch_of,
                                        u_pl, n_used, seen, dirty, got, ev_rows, n_ev)
        fetched += walked
    # the first and last demand rows holding an access (windows past the edge may leave whole blocks without)
    first_row = -1
    for B in range(col_fold):
        first_row = _edge_row(B, C, npx, R, L, row_fold, win, H, W, pix_r, pix_c, tap_r, tap_c, tap_of, True)
        if first_row >= 0:
            break
    last_row = -1
    for B in range(col_fold - 1, -1, -1):
        last_row = _edge_row(B, C, npx, R, L, row_fold, win, H, W, pix_r, pix_c, tap_r, tap_c, tap_of, False)
        if last_row >= 0:
            break
    stats = np.zeros(4, np.int64)
    stats[0] = fetched
    stats[1] = n_ev
    stats[2] = first_row
    stats[3] = last_row
    return stats, ev_rows[:n_ev], np.full(1, fetched, np.int64)
