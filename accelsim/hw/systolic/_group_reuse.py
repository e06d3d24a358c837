"""CALC-mode IFMAP read buffer by channel groups, for every dataflow (docs/models/systolic.md §3.7).

SCALE-Sim's CALC read buffer is an epoch cache: an access is fetched iff the previous use of its word lies
before the current epoch's first access, and an epoch ends after ``block`` fetches. Positions are
``row * LW + lane`` (``LW`` lanes a row), the order in which the buffer sees the accesses.

A *group* is the run of a (pixel, filter tap) pair's accesses over consecutive channels: element ``i`` of a
group lies at row ``gr + i`` and lane ``gl + i * dl`` (``dl`` = 0: the same lane, os and is arrays; 1: the
next lane, ws arrays, whose lanes are window elements). The readers of an input word
``(b, ih, iw, ch)`` are the same (pixel, tap) pairs, in the same order, for every channel of a *channel
class*: channels between two consecutive cuts ``{f * R mod Ch}`` (a ws / is row fold ``f`` starts at
window element ``f * R``, so within a class no fold boundary separates two channels of a tap; an os array
folds pixels, its one class is all channels). So the previous use of element ``i`` of a group is element
``i`` of the previous group of the same word and class, a constant shift away, and under an epoch start
``es`` a group's fetches are a prefix of its elements, counted in O(1) (:func:`_elements_before`).

:func:`group_sweeps` runs the sweeps over the groups (in position order): within an epoch the whole-group
counts are summed until they reach the epoch's remaining fetches, and the epoch-ending access is found
among the groups that overlap it by counting their fetches row by row (:func:`_epoch_end`); from the
second sweep on, a sweep that ends an epoch where an earlier one (not the first) did repeats it from there,
and every later sweep the one a period before it.
:func:`os_reuse_pass` and :func:`ws_is_reuse_pass` build the groups of an os and of a ws or is array. Same outputs as
:func:`accelsim.hw.systolic._kernels.reuse_read_pass`; cost O(groups) = O(accesses / class size).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
from numba import njit

from ._kernels import _dims, _first_ge, _grow, _odometer, _put_event, _repeat_later, _repeat_rest, _same_epoch_end

_NEVER = -(1 << 55)  # previous use of a first use in the first sweep: before every epoch
# smallest mean channel-class size at which the groups beat the reuse-distance scan, measured on the
# 1,694 ws / is ifmap passes of a 121-shape ResNet-50 sweep (8-256 rows / columns, 64-512 channels): is
# arrays 1.1x the scan's speed at classes of 4 channels, 2.3x at 8, 4.8-30x from 16; ws arrays 0.48x at 4,
# 0.95x at 8, 1.7x at 16, 2.2-4.1x from 32 (a ws sweep repeats per column fold, and its groups run
# diagonally: more groups overlap a position)
WS_MIN_CLASS = 16
IS_MIN_CLASS = 4
# channels from which an os array uses the groups: measured on 53 random os layers (1-8 channels, 1x1-7x7,
# stride 1-2, 8-128 lanes, 8-256 K words) the groups were faster on every layer from 4 channels on
# (1.2-3.8x), and at 1-2 channels up to 3.5x slower. At 3 channels (an RGB stem) they are 1.23x slower
# than the scan on ResNet's 7x7 stride-2 stem (8.9 against 7.2 ms, 32x32, 64 KB; layers whose ifmap fits
# take the closed form) but spare a first run the scan's compile (about 2.5 s) when the stem is the
# network's only layer with fewer than 4 channels, which is the common case: so from 3
OS_GROUPS_MIN_CH = 3
# memory: a group costs at most 80 bytes of tables (the build's position, row, lane and size as int64 and its
# previous use and word as int32, 40 B; the sweep's row and lane keys of the group and of its previous use and
# the first-use list, 40 B, int64; measured: 73.5 B a group at the peak on ResNet's 7x7 stem at batch 4 and 8,
# 2.5-4.9 M groups), the scan about 5 bytes an access; so below 8 channels a layer's groups take more memory
# than its scan (5x at 3 channels: ResNet-50's stem at batch 16, 790 MB against 150 MB), and such a layer
# takes the groups only while they stay under a fixed budget
GROUP_BYTES = 80
SMALL_CH_GROUPS_MAX_BYTES = 256 << 20


def os_groups_pay(Ch, n_groups):
    """Whether an os layer with ``Ch`` channels and ``n_groups`` (pixel, tap) groups takes the groups
    (:data:`OS_GROUPS_MIN_CH`, and under 8 channels :data:`SMALL_CH_GROUPS_MAX_BYTES` of tables)."""
    if Ch < OS_GROUPS_MIN_CH:
        return False
    return Ch >= 8 or n_groups * GROUP_BYTES <= SMALL_CH_GROUPS_MAX_BYTES


_CHUNK = 1024  # most groups counted per vectorised step
_FAR = 1 << 60


@njit(cache=True, inline="always")
def _elements_before(xr, xl, gr, gl, dl):
    """How many elements of a group (element i at row ``gr + i``, lane ``gl + i * dl``) lie before position
    ``(xr, xl)``, unclamped: rows strictly increase along a group, so they are a prefix."""
    return xr - gr + (1 if gl + (xr - gr) * dl < xl else 0)


@njit(cache=True, inline="always")
def _group_fetches(gr, gl, qr, ql, n, cr, cl, hr, hl, er, el, dl):
    """Fetches of a group of ``n`` elements (first at ``(gr, gl)``, its previous use's first at
    ``(qr, ql)``) at positions from ``(cr, cl)`` up to, not including, ``(hr, hl)``, under epoch start
    ``(er, el)``: the elements in that range whose previous use lies before the epoch."""
    lo = max(0, _elements_before(cr, cl, gr, gl, dl))
    hi = min(n, _elements_before(hr, hl, gr, gl, dl), _elements_before(er, el, qr, ql, dl))
    return hi - lo if hi > lo else 0


# (_nrt=False: no reference counts of its array arguments, two atomic operations each a call; it allocates none)
@njit(cache=True, _nrt=False)
def _epoch_end(hit, acc, g0, gr, gl, gn, qr, ql, j0, x_c, es, LW, dl, span, needed, row_cnt, lane_mark, fa, fb):
    """The position of an epoch's last fetch (its ``needed``-th from ``x_c`` on under epoch start ``es``),
    which lies in group ``hit`` (the first whose whole count brings the sum ``acc`` of groups ``j0 .. hit-1``
    to ``needed``), between that group's first element and
    ``span`` after it (every group that starts no later ends by then, so ``acc < needed`` fetches lie before
    it). A group's fetches are a run of its elements, one a row: so the window's rows get their fetch counts
    by differences (``row_cnt``), the row holding the ``needed``-th fetch is found by a running sum, and in
    that row the fetches' lanes are marked (``lane_mark``, ``LW`` entries) and counted in lane order
    (``fa``, ``fb``: scratch of ``2 * span + 1`` entries at least, the most groups that start in the window:
    one access a position). O(groups overlapping the window + its rows + ``LW``)."""
    cr, cl = x_c // LW, x_c % LW
    er, el = es // LW, es % LW
    x_lo = g0[hit]
    ja = max(j0, _first_ge(g0, x_lo - span))  # groups before ja end before x_lo
    jb = _first_ge(g0, x_lo + span + 1)
    r_a = x_lo // LW
    n_rows = (x_lo + span) // LW - r_a + 1
    r_end = r_a + n_rows
    for i in range(n_rows + 1):
        row_cnt[i] = 0
    # each group's fetched rows [fa, fb): its elements from x_c on whose previous use lies before es
    # (_group_fetches' two bounds), in a loop without branches over slices indexed from 0 (vectorised)
    nw = jb - ja
    c_gr, c_gl, c_qr, c_ql, c_gn = gr[ja:jb], gl[ja:jb], qr[ja:jb], ql[ja:jb], gn[ja:jb]
    for t in range(nw):
        g_r = c_gr[t]
        lo = max(0, cr - g_r + (c_gl[t] + (cr - g_r) * dl < cl))
        hi = min(c_gn[t], er - c_qr[t] + (c_ql[t] + (er - c_qr[t]) * dl < el))
        fa[t] = g_r + lo
        fb[t] = g_r + max(hi, lo)
    # fetches in rows before r_a: those of groups j0 .. ja-1 (acc less the whole counts of ja .. hit-1), then
    # those of the window's groups
    before = acc
    for t in range(hit - ja):
        before -= fb[t] - fa[t]
    for t in range(nw):
        ra = fa[t]
        rb = min(fb[t], r_end)
        if rb <= ra:
            continue
        if ra < r_a:
            before += min(rb, r_a) - ra
            ra = r_a
        if ra < rb:
            row_cnt[ra - r_a] += 1
            row_cnt[rb - r_a] -= 1
    run = 0
    row = r_a + n_rows - 1
    for i in range(n_rows):
        run += row_cnt[i]
        if before + run >= needed:
            row = r_a + i
            break
        before += run
    k = needed - before  # the fetch wanted is the k-th of its row, in lane order
    for lane in range(LW):
        lane_mark[lane] = False
    for t in range(nw):
        if fa[t] <= row < fb[t]:
            lane_mark[c_gl[t] + (row - c_gr[t]) * dl] = True
    for lane in range(LW):
        if lane_mark[lane]:
            k -= 1
            if k <= 0:
                return row * LW + lane
    return x_lo + span


# (_nrt=False: no reference counts of its array arguments, two atomic operations each a call; it allocates none)
@njit(cache=True, _nrt=False)
def _count_to_epoch_end(gr, gk, qr, qk, gn, j0, ng, cr, xk, er, ek, needed, cbuf, first):
    """Whole-group fetch counts (:func:`_group_fetches` to no end) of groups ``j0, j0+1, ..`` (below ``ng``) from
    position ``(cr, xk)`` on under epoch start ``(er, ek)``, summed until they reach ``needed``: ``(sum before
    that group, that group or -1)``. ``gk`` / ``qk``: each group's and its previous use's lane test key
    ``lane - row * dl`` (``xk`` / ``ek`` the positions'), so the lane tests are one comparison each. A first
    chunk of ``first`` groups (at most ``len(cbuf)``: a caller's estimate of where the epoch ends), then chunks
    of 64 groups doubling to ``len(cbuf)`` (an epoch of a small SRAM ends a few groups on, a large one's far) are
    counted and summed in a loop without exit over slices indexed from 0 (vectorised: about 4x faster than
    indexing ``g`` over the chunk), and walked group by group only where the epoch ends. The answer does not
    depend on the chunks."""
    acc = np.int64(0)
    j = j0
    cap = cbuf.shape[0]
    chunk = min(first, cap)
    nxt = min(64, cap)
    while j < ng:
        j1 = min(j + chunk, ng)
        chunk = nxt
        nxt = min(2 * nxt, cap)
        c_gr, c_gk, c_qr, c_qk, c_gn = gr[j:j1], gk[j:j1], qr[j:j1], qk[j:j1], gn[j:j1]
        tot = np.int64(0)
        for t in range(j1 - j):
            c = max(min(c_gn[t], er - c_qr[t] + (c_qk[t] < ek)) - max(0, cr - c_gr[t] + (c_gk[t] < xk)), 0)
            cbuf[t] = c
            tot += c
        if acc + tot < needed:
            acc += tot
        else:
            for g in range(j, j1):
                c = cbuf[g - j]
                if acc + c >= needed:
                    return acc, g
                acc += c
        j = j1
    return acc, -1


@njit(cache=True)
def group_sweeps(g0, gr, gl, gn, pred, key, last, n_sweeps, rows_sweep, LW, dl, block):
    """The epoch cache over ``n_sweeps`` identical sweeps of the groups (in position order; ``pred``: the
    previous group of the same word and class, -1: none; ``last[key[g]]``: the sweep's last group of
    ``g``'s word and class). Returns ``(fetched, ev_sweep, ev_pos, per_sweep)``: DRAM words fetched, for each
    epoch end (a prefetch) its sweep and its position within the sweep, and the words each sweep fetched."""
    ng = g0.shape[0]
    N = rows_sweep * LW
    qr = np.empty(ng, np.int64)
    ql = np.empty(ng, np.int64)
    # element i of a group lies before position (xr, xl) iff i < xr - gr, or i == xr - gr and its lane
    # gl + i * dl < xl, i.e. gl - gr * dl < xl - xr * dl: per group gl - gr * dl, and the same of its previous use.
    # Where a group keeps its lane (dl 0) the keys are the lanes: gk and qk are gl and ql, not copies (the
    # tables are streamed from memory: two arrays fewer cut the setup by about a third)
    if dl == 0:
        gk = gl
        qk = ql
    else:
        gk = np.empty(ng, np.int64)
        qk = np.empty(ng, np.int64)
    firsts = np.empty(ng, np.int64)  # the first-use groups (their previous use moves from the second sweep on)
    n_first = 0
    compulsory = 0  # fetches of the first sweep's first uses
    n_max = 1
    for g in range(ng):
        n_max = max(n_max, gn[g])
        if pred[g] >= 0:
            qr[g] = gr[pred[g]]
            ql[g] = gl[pred[g]]
        else:
            qr[g] = _NEVER
            ql[g] = 0
            compulsory += gn[g]
            firsts[n_first] = g
            n_first += 1
    if dl != 0:
        for g in range(ng):
            gk[g] = gl[g] - gr[g] * dl
            qk[g] = ql[g] - qr[g] * dl
    span = (n_max - 1) * (LW + dl)
    row_cnt = np.empty(span // LW + 3, np.int64)  # scratch of _epoch_end
    lane_mark = np.empty(LW, np.bool_)
    fa = np.empty(min(ng, 2 * span + 1), np.int64)
    fb = np.empty(min(ng, 2 * span + 1), np.int64)
    q_min = 0  # earliest previous use of any group from the second sweep on (positions)
    cbuf = np.empty(_CHUNK, np.int64)
    est = 0  # groups counted to the last epoch end (from its j0): the next count's first chunk, less an eighth
    ev_k = np.empty(256, np.int64)
    ev_x = np.empty(256, np.int64)  # an epoch end's position within its sweep
    ev_g = np.empty(256, np.int64)  # its sweep's fetches up to and including it
    sw_ev = np.zeros(n_sweeps + 1, np.int64)
    sw_got = np.zeros(n_sweeps, np.int64)
    n_ev = np.int64(0)  # (not a literal 0: _put_event would compile a second time)
    fetched = 0
    n_in = 0
    period = 0
    es = np.int64(0)
    for k in range(n_sweeps):
        sw_ev[k] = n_ev
        if k == 1:
            # a sweep's first use of a word follows its last use in the previous sweep
            # (only first uses lie before the sweep: every other group's previous use is in it, q_min 0)
            for x in range(n_first):
                g = firsts[x]
                lg = last[key[g]]
                qr[g] = gr[lg] - rows_sweep
                ql[g] = gl[lg]
                qk[g] = ql[g] - qr[g] * dl
                if qr[g] * LW + ql[g] < q_min:
                    q_min = qr[g] * LW + ql[g]
        # sweeps known without a scan: the first, when its compulsory fetches end no epoch (every reuse's
        # previous use is then inside the one epoch); a later one whose epoch began before every
        # previous use (it fetches nothing)
        if k == 0 and (block == 0 or n_in + compulsory < block):
            fetched += compulsory
            n_in += compulsory
            sw_got[k] = compulsory
            sw_ev[k + 1] = n_ev
            es -= N
            continue
        if k >= 1 and es <= q_min:
            break  # nothing fetched, and the state no longer changes: neither do later sweeps
        got = 0
        x_c = np.int64(0)
        while True:
            needed = block - n_in if block > 0 else _FAR
            j0 = _first_ge(g0, x_c - span)
            cr, cl = x_c // LW, x_c % LW
            er, el = es // LW, es % LW
            acc, hit = _count_to_epoch_end(gr, gk, qr, qk, gn, j0, ng, cr, cl - cr * dl, er, el - er * dl, needed,
                                           cbuf, max(64, est - est // 8))
            if hit < 0:
                got += acc
                n_in += acc
                break
            est = hit + 1 - j0
            lo = _epoch_end(hit, acc, g0, gr, gl, gn, qr, ql, j0, x_c, es, LW, dl, span, needed, row_cnt,
                            lane_mark, fa, fb)
            got += needed
            n_in = 0
            es = lo + 1
            x_c = lo + 1
            if n_ev == ev_k.shape[0]:
                ev_k, ev_x, ev_g = _grow(ev_k), _grow(ev_x), _grow(ev_g)
            n_ev = _put_event(ev_k, ev_x, ev_g, n_ev, k, lo, got)
            if k >= 2:
                # the state after an epoch end from the second sweep on is its position alone: if an
                # earlier sweep j >= 1 ended an epoch there, the rest of this sweep repeats the rest of j
                e0, jj = _same_epoch_end(ev_x, sw_ev, k, lo)
                if e0 >= 0:
                    period = k - jj
                    ev_k, ev_x, ev_g, n_ev, got = _repeat_rest(ev_k, ev_x, ev_g, n_ev, k, jj, e0, got, sw_ev, sw_got)
                    break
        fetched += got
        sw_got[k] = got
        sw_ev[k + 1] = n_ev
        if period > 0:
            # and so every later sweep repeats the one a period before it
            ev_k, ev_x, ev_g, n_ev, later = _repeat_later(ev_k, ev_x, ev_g, n_ev, k, period, n_sweeps, sw_ev, sw_got)
            fetched += later
            break
        es -= N
        if got == 0 and k >= 1:
            break  # the state no longer changes: later sweeps fetch nothing either
    return fetched, ev_k[:n_ev], ev_x[:n_ev], sw_got


@njit(cache=True)
def _sweeps_in_lane(g0, gr, gl, gn, pred, key, last, n_sweeps, rows_sweep, LW, block):
    """:func:`group_sweeps` for groups whose elements share a lane (os, is). The literal ``dl`` is folded
    away while compiling: about 12% faster than a variable ``dl`` (Numba's ``literally`` recompiled on every
    call), for about 0.6 s more of a first run; each form compiles only when a network needs it."""
    return group_sweeps(g0, gr, gl, gn, pred, key, last, n_sweeps, rows_sweep, LW, 0, block)


@njit(cache=True)
def class_cuts(R, Ch, row_fold):
    """The channel classes of a ws / is array: ascending cuts ``0 = c_0 < c_1 < ... < c_m = Ch``, the
    channels ``(f * R) mod Ch`` where a row fold ``f`` starts inside a tap, and ``Ch``."""
    mark = np.zeros(Ch + 1, np.bool_)
    mark[0] = True
    mark[Ch] = True
    for f in range(min(row_fold, Ch)):
        mark[(f * R) % Ch] = True
    return np.nonzero(mark)[0].astype(np.int64)


_INT32 = (1 << 31) - 1


def groups_fit_int32(n_groups_max, n_keys):
    """Whether a group pass's int32 tables hold its groups and keys (else the scan runs)."""
    return n_groups_max <= _INT32 and n_keys <= _INT32


def channel_classes(R, Ch, win):
    """The channel classes of a ws or is array of ``R`` rows (a plain function): the cuts ``(f * R) mod Ch`` of
    row folds ``f = 0, 1, ...`` are distinct for a period of ``Ch / gcd(R, Ch)`` folds, and there are
    ``ceil(win / R)`` folds."""
    return min(-(-win // R), Ch // math.gcd(R, Ch))


def ws_is_groups_pay(df, R, Ch, win, npx):
    """Whether the channel groups of a ws (``df`` 1) or is (2) array are faster than the reuse-distance
    scan: when its channel classes hold on average :data:`WS_MIN_CLASS` / :data:`IS_MIN_CLASS` channels
    or more, and, below 8, while their tables stay under :data:`SMALL_CH_GROUPS_MAX_BYTES` (a plain
    function: it runs before any kernel)."""
    n_classes = channel_classes(R, Ch, win)
    if Ch < (WS_MIN_CLASS if df == 1 else IS_MIN_CLASS) * n_classes:
        return False
    groups = npx * (win // Ch) * n_classes
    return Ch >= 8 * n_classes or groups * GROUP_BYTES <= SMALL_CH_GROUPS_MAX_BYTES


@njit(cache=True, inline="always")
def _put_group(n, row, lane, LW, size, kk, gr, gl, g0, gn, key, pred, last, last_q):
    """Group ``n`` of :func:`ws_is_groups` (first element at ``row``, ``lane``; ``size`` elements; word-and-class
    key ``kk``), its previous group the key's last one: ``(n + 1, last row any group reaches)``."""
    gr[n] = row
    gl[n] = lane
    g0[n] = row * LW + lane
    gn[n] = size
    key[n] = kk
    pred[n] = last[kk]
    last[kk] = n
    return n + 1, max(last_q, row + size - 1)


@njit(cache=True)
def ws_is_groups(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt):
    """The channel groups of one sweep of a ws (``df`` 1) or is (2) array, in position order.

    ws: row fold ``f`` holds window elements ``f*R ..`` in lanes; the element of lane ``c`` of pixel
    ``p`` is at row ``f*L + p + R + c`` (positions ``row * R + lane``), so a group steps one row and one
    lane. is: fold ``(fc, f)`` (column folds outer) lists its ``R`` stationary rows; row ``r`` holds window
    element ``f*R + R-1-r`` of pixels ``fc*C + c`` in column ``c`` (positions ``row * C + column``, rows
    ``fold * R + r``), so a group steps one row, channels descending. Returns ``(g0, gr, gl, gn, pred,
    key, last, last_q)``: each group's first position, row and lane, element count, previous group of its
    word and class (-1: none), word-and-class key, the sweep's last group per key, and the last row any
    group reaches (-1: no group).
    """
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    Sr, Sc, T, L, row_fold, col_fold = _dims(df, npx, win, nfilt, R, C)
    cuts = class_cuts(R, Ch, row_fold)
    n_cls = cuts.shape[0] - 1
    ntaps = FH * FW
    # (tap, class) pairs by fold, ascending window element (the fold's lanes ascending)
    n_pairs = ntaps * n_cls
    pair_fold = np.empty(n_pairs, np.int64)
    pair_tap = np.empty(n_pairs, np.int64)
    pair_cls = np.empty(n_pairs, np.int64)
    pair_lane = np.empty(n_pairs, np.int64)  # lane of the class's first channel
    for tap in range(ntaps):
        for k in range(n_cls):
            i = tap * n_cls + k
            t0 = tap * Ch + cuts[k]
            pair_fold[i] = t0 // R
            pair_tap[i] = tap
            pair_cls[i] = k
            pair_lane[i] = t0 - pair_fold[i] * R
    fold_start = np.zeros(row_fold + 1, np.int64)
    for i in range(n_pairs):
        fold_start[pair_fold[i] + 1] += 1
    for f in range(row_fold):
        fold_start[f + 1] += fold_start[f]
    per = Eh * Ew
    n_folds = row_fold if df == 1 else row_fold * col_fold
    # per pixel: its window origin's input row (with the image's offset, b * H + oh * sh), row and column
    pix_row = np.empty(npx, np.int64)
    pix_ih = np.empty(npx, np.int64)
    pix_iw = np.empty(npx, np.int64)
    for p in range(npx):
        b = p // per
        q = p - b * per
        oh = q // Ew
        pix_ih[p] = oh * sh
        pix_row[p] = b * H + oh * sh
        pix_iw[p] = (q - oh * Ew) * sw
    tap_kr, tap_kc = _tap_offsets(FH, FW, dh, dw)
    # per pair its tap's input offsets and its class's size, per pixel its window origin's word (row-major
    # over the images' rows): the loops read these instead of following tap -> offset (12% of the ws loop)
    pair_kr = np.empty(n_pairs, np.int64)
    pair_kc = np.empty(n_pairs, np.int64)
    pair_off = np.empty(n_pairs, np.int64)
    pair_size = np.empty(n_pairs, np.int64)
    for i in range(n_pairs):
        pair_kr[i] = tap_kr[pair_tap[i]]
        pair_kc[i] = tap_kc[pair_tap[i]]
        pair_off[i] = pair_kr[i] * W + pair_kc[i]
        pair_size[i] = cuts[pair_cls[i] + 1] - cuts[pair_cls[i]]
    pix_base = np.empty(npx, np.int64)
    for p in range(npx):
        pix_base[p] = pix_row[p] * W + pix_iw[p]
    cap = npx * n_pairs
    g0 = np.empty(cap, np.int64)
    gr = np.empty(cap, np.int64)
    gl = np.empty(cap, np.int64)  # (lanes and sizes int64: the sweeps compute with them)
    gn = np.empty(cap, np.int64)
    pred = np.empty(cap, np.int32)  # (int32: group indices and keys, only looked up; callers check the range)
    key = np.empty(cap, np.int32)
    last = np.full(batch * H * W * n_cls, -1, np.int32)
    n = 0
    last_q = -1  # the last row any group reaches
    for fold in range(n_folds):
        fc = fold // row_fold
        fr = fold - fc * row_fold
        a, b = fold_start[fr], fold_start[fr + 1]
        if df == 1:
            if a == b:
                continue
            if b - a == 1:
                # one pair (a fold within one tap and class): one group a row, pixel by pixel (the same order)
                lane, kr, kc, off = pair_lane[a], pair_kr[a], pair_kc[a], pair_off[a]
                k, size = pair_cls[a], pair_size[a]
                for p in range(npx):
                    if pix_ih[p] + kr >= H or pix_iw[p] + kc >= W:
                        continue
                    n, last_q = _put_group(n, fr * L + R + lane + p, lane, R, size, (pix_base[p] + off) * n_cls + k,
                                           gr, gl, g0, gn, key, pred, last, last_q)
                continue
            # row r holds pixel r - R - lane of each pair: the pairs with a pixel in [0, npx) are a window
            # [lo, hi) of the fold's (ascending) lanes that slides forward with r
            lo = hi = a
            for r in range(R + pair_lane[a], R + pair_lane[b - 1] + npx):
                while hi < b and pair_lane[hi] <= r - R:
                    hi += 1
                while pair_lane[lo] <= r - R - npx:
                    lo += 1
                row = fr * L + r
                for i in range(lo, hi):
                    lane = pair_lane[i]
                    p = r - R - lane
                    if pix_ih[p] + pair_kr[i] >= H or pix_iw[p] + pair_kc[i] >= W:
                        continue
                    kk = (pix_base[p] + pair_off[i]) * n_cls + pair_cls[i]
                    n, last_q = _put_group(n, row, lane, R, pair_size[i], kk, gr, gl, g0, gn, key, pred, last, last_q)
        else:
            cols_used = min(C, Sc - fc * C)
            # a group starts at the row of its last channel: R-1 - lane of that channel; descending lanes
            for i in range(b - 1, a - 1, -1):
                size = pair_size[i]
                r0 = R - 1 - (pair_lane[i] + size - 1)
                kr, kc, off, k = pair_kr[i], pair_kc[i], pair_off[i], pair_cls[i]
                for c in range(cols_used):
                    p = fc * C + c
                    if pix_ih[p] + kr >= H or pix_iw[p] + kc >= W:
                        continue
                    kk = (pix_base[p] + off) * n_cls + k
                    gr[n] = fold * R + r0
                    gl[n] = c
                    g0[n] = (fold * R + r0) * C + c
                    gn[n] = size
                    last_q = max(last_q, fold * R + r0 + size - 1)
                    key[n] = kk
                    pred[n] = last[kk]
                    last[kk] = n
                    n += 1
    return g0[:n], gr[:n], gl[:n], gn[:n], pred[:n], key[:n], last, last_q


def ws_is_reuse_pass(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words, k=None):
    """:func:`accelsim.hw.systolic._kernels.reuse_read_pass` for a ws (``df`` 1) or is (2) array (the same
    three outputs), by channel groups (:func:`ws_is_groups`, :func:`group_sweeps`). A plain function: a ws array's
    pass is one kernel (:func:`ws_group_pass`), an is array's the two kernels and a NumPy tail. ``k``: the
    kernels by their export names (``calc._calc_kernels``: compiled ahead of time where current); default these."""
    k = k or _jit()
    block = np.int64(50 * (words // 100))
    if df == 1:
        return k.ws_group_pass(R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, block)
    npx = batch * Eh * Ew
    row_fold, col_fold = -(-(FH * FW * Ch) // R), -(-npx // C)
    L = nfilt + 2 * R + C - 2
    g0, gr, gl, gn, pred, key, last, last_q = k.ws_is_groups(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw,
                                                             Eh, Ew, nfilt)
    fetched, ev_k, ev_x, sw_got = k.sweeps_in_lane(g0, gr, gl, gn, pred, key, last, np.int64(1),
                                                   np.int64(row_fold * col_fold * R), np.int64(C), block)
    stats = np.array([fetched, ev_k.shape[0], -1, -1], np.int64)
    if g0.shape[0] == 0:
        return stats, ev_k, sw_got
    # listed row q = fold * R + r is demand row fold * L + r
    q = ev_x // C
    ev_rows = (q // R) * L + q % R
    first_q = int(gr[0])
    stats[2] = (first_q // R) * L + first_q % R
    stats[3] = (last_q // R) * L + last_q % R
    return stats, ev_rows, sw_got


@njit(cache=True)
def ws_group_pass(R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, block):
    """A ws array's ifmap pass by channel groups (:func:`ws_is_groups`, then :func:`group_sweeps` over one
    sweep per column fold, groups stepping one lane an element): ``(stats, event rows, fetches per sweep)`` as
    :func:`ws_is_reuse_pass`. One kernel: the groups' eight arrays stay in it (boxing them for a second
    call cost 11 us of a 16x16 array's 33x33x16 layer, about 5% of its unit)."""
    _, _, _, L, row_fold, col_fold = _dims(1, batch * Eh * Ew, FH * FW * Ch, nfilt, R, C)
    rows_sweep = row_fold * L
    g0, gr, gl, gn, pred, key, last, last_q = ws_is_groups(1, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew,
                                                           nfilt)
    fetched, ev_k, ev_x, sw_got = group_sweeps(g0, gr, gl, gn, pred, key, last, col_fold, rows_sweep, R, 1, block)
    stats = np.full(4, -1, np.int64)
    stats[0] = fetched
    stats[1] = ev_k.shape[0]
    if g0.shape[0] > 0:
        stats[2] = gr[0]
        stats[3] = (col_fold - 1) * rows_sweep + last_q
    return stats, ev_k * rows_sweep + ev_x // R, sw_got


@njit(cache=True, inline="always")
def _tap_offsets(FH, FW, dh, dw):
    """Input row and column offsets of each filter tap (``tap = kh * FW + kw``), dilation included."""
    tap_kh = np.empty(FH * FW, np.int64)
    tap_kw = np.empty(FH * FW, np.int64)
    for tap in range(FH * FW):
        tap_kh[tap] = (tap // FW) * dh
        tap_kw[tap] = (tap % FW) * dw
    return tap_kh, tap_kw


@njit(cache=True, inline="always")
def _fold_lanes(fr, ru, R, per, Ew, H, sh, sw, lane_b, lane_h, lane_w):
    """The ``ru`` pixels of os row fold ``fr`` (lane ``c`` = pixel ``fr * R + c``): each one's image row
    offset (``b * H``) and its window origin's input row and column."""
    # the fold's first pixel divided once, then stepped along the raster (two divisions a lane cost
    # 4-5 ns of it, about a tenth of os_ifmap_groups on a 35x35 layer)
    p = fr * R
    b = p // per
    q = p - b * per
    oh = q // Ew
    ow = q - oh * Ew
    Eh = per // Ew
    for c in range(ru):
        lane_b[c] = b * H
        lane_h[c] = oh * sh
        lane_w[c] = ow * sw
        b, oh, ow = _odometer(b, oh, ow, Eh, Ew)


@njit(cache=True)
def os_ifmap_groups(R, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, L, row_fold):
    """The (pixel, tap) groups of one os sweep inside the input, in position order.

    Returns ``(g0, g_row, g_lane, g_n, pred, word, last)``: each group's position (row * R + lane of its
    channel 0) and that as row and lane, its element count (``Ch``), the index of the previous group
    reading the same input word (-1: none), the group's input word (``(b * H + ih) * W + iw``), and per input word the index
    of the last group of the sweep reading it (-1: none).
    """
    npx = batch * Eh * Ew
    ntaps = FH * FW
    per = Eh * Ew
    cap = npx * ntaps
    g0 = np.empty(cap, np.int64)
    g_row = np.empty(cap, np.int64)
    g_lane = np.empty(cap, np.int64)
    pred = np.empty(cap, np.int32)  # (int32: group indices and words, only looked up; callers check the range)
    word = np.empty(cap, np.int32)
    last = np.full(batch * H * W, -1, np.int32)
    tap_kh, tap_kw = _tap_offsets(FH, FW, dh, dw)
    lane_b = np.empty(R, np.int64)
    lane_h = np.empty(R, np.int64)
    lane_w = np.empty(R, np.int64)
    pair_rho = np.empty(R * ntaps, np.int64)
    pair_c = np.empty(R * ntaps, np.int64)
    pair_kh = np.empty(R * ntaps, np.int64)
    pair_kw = np.empty(R * ntaps, np.int64)
    m = 0
    ru_m = -1
    n = 0
    for fr in range(row_fold):
        ru = min(R, npx - fr * R)
        _fold_lanes(fr, ru, R, per, Ew, H, sh, sw, lane_b, lane_h, lane_w)
        row0 = fr * L
        if Ch >= ru:
            # the taps' rows do not overlap: tap by tap, lanes ascending
            for tap in range(ntaps):
                for c in range(ru):
                    ih = lane_h[c] + tap_kh[tap]
                    iw = lane_w[c] + tap_kw[tap]
                    if ih >= H or iw >= W:
                        continue
                    w = (lane_b[c] + ih) * W + iw
                    g_row[n] = row0 + tap * Ch + c
                    g_lane[n] = c
                    g0[n] = g_row[n] * R + c
                    pred[n] = last[w]
                    word[n] = w
                    last[w] = n
                    n += 1
            continue
        if ru != ru_m:
            # the fold's (tap, lane) pairs in position order, listed once per lane count (every fold but
            # perhaps the last has R): one flat loop over them per fold, where a loop per row over its
            # one or more taps cost about a fifth more
            m = _os_pair_order(ru, Ch, ntaps, pair_rho, pair_c, pair_kh, pair_kw, tap_kh, tap_kw)
            ru_m = ru
        for k in range(m):
            c = pair_c[k]
            ih = lane_h[c] + pair_kh[k]
            iw = lane_w[c] + pair_kw[k]
            if ih >= H or iw >= W:
                continue
            w = (lane_b[c] + ih) * W + iw
            r = row0 + pair_rho[k]
            g_row[n] = r
            g_lane[n] = c
            g0[n] = r * R + c
            pred[n] = last[w]
            word[n] = w
            last[w] = n
            n += 1
    return g0[:n], g_row[:n], g_lane[:n], np.full(n, Ch, np.int64), pred[:n], word[:n], last


@njit(cache=True)
def _os_pair_order(ru, Ch, ntaps, pair_rho, pair_c, pair_kh, pair_kw, tap_kh, tap_kw):
    """The (tap, lane) pairs of an os row fold of ``ru`` lanes in position order (row ``tap * Ch + lane`` of
    the fold, lanes ascending, so taps descending within a row): each one's row, lane and tap offsets.
    Returns how many (``ntaps * ru``)."""
    k = 0
    for rho in range((ntaps - 1) * Ch + ru):
        for tap in range(min(rho // Ch, ntaps - 1), -1, -1):
            c = rho - tap * Ch
            if c >= ru:
                break
            pair_rho[k] = rho
            pair_c[k] = c
            pair_kh[k] = tap_kh[tap]
            pair_kw[k] = tap_kw[tap]
            k += 1
    return k



@njit(cache=True, inline="always")
def reuse_reach(FH, FW, sh, sw, dh, dw, Ew):
    """At most how many pixels (raster order) lie between two readers of one input word: output rows
    ``(FH - 1) * dh // sh`` and columns ``(FW - 1) * dw // sw`` apart."""
    return ((FH - 1) * dh // sh) * Ew + (FW - 1) * dw // sw


@njit(cache=True)
def _axis_cover(H, E, F, s, d):
    """Along one axis of an os layer: ``cover[r]`` = input rows read by the windows of output rows
    ``0 .. r-1`` (``r = 0 .. E``), ``new[r]`` = rows output row ``r`` reads that no earlier one does."""
    mark = np.zeros(H, np.bool_)
    cover = np.zeros(E + 1, np.int64)
    new = np.zeros(E + 1, np.int64)
    for r in range(E):
        k = 0
        for t in range(F):
            i = r * s + t * d
            if i < H and not mark[i]:
                mark[i] = True
                k += 1
        new[r] = k
        cover[r + 1] = cover[r] + k
    return cover, new


@njit(cache=True, inline="always")
def _words_upto(P, per, Ew, img_words, rows_u, rows_new, cols_u):
    """Distinct input words (per channel) read by the windows of the first ``P`` pixels in raster order: whole
    images, whole output rows (their rows x every column read), then the open row's new rows x the
    columns its first pixels read."""
    b = P // per
    q = P - b * per
    oh = q // Ew
    rem = q - oh * Ew
    return b * img_words + rows_u[oh] * cols_u[Ew] + rows_new[oh] * cols_u[rem]


@njit(cache=True)
def _os_fold(fr, count, R, npx, per, Ew, H, W, Ch, sh, sw, ntaps, L, tap_kh, tap_kw, lane_b, lane_h, lane_w, gr, gl,
             g0, qr, ql, last_r, last_l, needed, cr, cl, er, el):
    """Make row fold ``fr``'s groups of :func:`os_single_sweep` in position order (those of
    :func:`os_ifmap_groups`), each group's previous use from its word's last group, and update the words'
    last groups. With ``count``, also sum their fetches under the epoch start ``(er, el)`` from position
    ``(cr, cl)`` on, up to the first group at which they reach ``needed``. Returns ``(groups, sum, that group or -1)``. A fold's rows are walked in runs that
    read the same taps (tap ``t`` covers rows ``t*Ch .. t*Ch + ru - 1``), so the loops have fixed trip
    counts."""
    ru = min(R, npx - fr * R)
    _fold_lanes(fr, ru, R, per, Ew, H, sh, sw, lane_b, lane_h, lane_w)
    row0 = fr * L
    far_r = _FAR // R
    acc = 0
    hit = -1
    n = 0
    n_rho = (ntaps - 1) * Ch + ru
    a0 = 0
    while a0 < n_rho:
        thi = min(a0 // Ch, ntaps - 1)
        tlo = max(0, (a0 - ru) // Ch + 1)
        b0 = min(n_rho, tlo * Ch + ru)
        if thi + 1 < ntaps:
            b0 = min(b0, (thi + 1) * Ch)
        if tlo > thi:
            a0 = b0  # rows between taps (Ch > ru): none read
            continue
        for rho in range(a0, b0):
            r = row0 + rho
            for tap in range(thi, tlo - 1, -1):  # lanes ascending
                c = rho - tap * Ch
                ih = lane_h[c] + tap_kh[tap]
                iw = lane_w[c] + tap_kw[tap]
                if ih >= H or iw >= W:
                    continue
                w = (lane_b[c] + ih) * W + iw
                gr[n] = r
                gl[n] = c
                g0[n] = r * R + c
                q_r = last_r[w]
                q_l = last_l[w]
                qr[n] = q_r
                ql[n] = q_l
                last_r[w] = r
                last_l[w] = c
                if count and hit < 0:
                    cnt = _group_fetches(r, c, q_r, q_l, Ch, cr, cl, far_r, 0, er, el, 0)
                    if acc + cnt >= needed:
                        hit = n
                    else:
                        acc += cnt
                n += 1
        a0 = b0
    return n, acc, hit


@njit(cache=True)
def _os_fold_rows(fr, R, npx, per, Ew, H, W, Ch, sh, sw, FW, dh, dw, ntaps, L):
    """First and last row of row fold ``fr``'s groups (``-1, -1``: none): ``fr * L + tap * Ch + lane`` over
    the (tap, lane) pairs whose window element lies inside the input."""
    lo = -1
    hi = -1
    for c in range(min(R, npx - fr * R)):
        p = fr * R + c
        q = p - (p // per) * per
        oh = q // Ew
        for tap in range(ntaps):
            if oh * sh + (tap // FW) * dh < H and (q - oh * Ew) * sw + (tap % FW) * dw < W:
                rho = tap * Ch + c
                if lo < 0 or rho < lo:
                    lo = rho
                if rho > hi:
                    hi = rho
    if lo < 0:
        return -1, -1
    return fr * L + lo, fr * L + hi


@njit(cache=True)
def os_single_sweep(R, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, L, row_fold, block):
    """:func:`group_sweeps` of the one sweep of an os array with one column fold (docs/models/systolic.md
    §3.7 "One sweep"), without making most of its groups. Under an epoch start ``es`` a group fetches
    nothing when its word's previous use lies at or after ``es``, and all ``Ch`` channels when it is the
    word's first use; every reader of a word lies within ``D = ((FH-1)*dh // sh) * Ew + (FW-1)*dw // sw``
    pixels of the others. So a row fold whose pixels start ``D`` after the fold holding ``es`` (every fold
    before the first epoch ends) fetches ``Ch`` x its first uses, and those are a difference of the words
    read by the first ``P`` pixels, in closed form (:func:`_words_upto`). Only the folds holding an epoch
    end, and those within ``D`` after one, are made group by group (:func:`_os_fold`, its previous uses
    kept per input word as (row, lane), from the ``ceil(D / R) + 1`` folds before it on); a fold's groups
    lie in its own rows, so an epoch end in it is found among them as :func:`group_sweeps` does. Returns ``(fetched, ev_x, first_row, last_row)``: the words fetched, each
    epoch end's position, and the first group's row and the last group's last row (-1, -1: no group): the
    figures of :func:`os_ifmap_groups` then :func:`group_sweeps` with one sweep, in memory O(input words +
    one fold)."""
    npx = batch * Eh * Ew
    ntaps = FH * FW
    per = Eh * Ew
    cap = R * ntaps
    gr = np.empty(cap, np.int64)
    gl = np.empty(cap, np.int64)
    qr = np.empty(cap, np.int64)
    ql = np.empty(cap, np.int64)
    g0 = np.empty(cap, np.int64)
    gn = np.full(cap, Ch, np.int64)
    last_r = np.full(batch * H * W, _NEVER, np.int64)  # row and lane of a word's last group so far
    last_l = np.zeros(batch * H * W, np.int64)
    tap_kh, tap_kw = _tap_offsets(FH, FW, dh, dw)
    lane_b = np.empty(R, np.int64)
    lane_h = np.empty(R, np.int64)
    lane_w = np.empty(R, np.int64)
    rows_u, rows_new = _axis_cover(H, Eh, FH, sh, dh)
    cols_u, _ = _axis_cover(W, Ew, FW, sw, dw)
    img_words = rows_u[Eh] * cols_u[Ew]
    reach = reuse_reach(FH, FW, sh, sw, dh, dw, Ew)
    back = reach // R + 2  # folds made before a fold counted group by group
    span = (Ch - 1) * R
    row_cnt = np.empty(span // R + 3, np.int64)  # scratch of _epoch_end
    lane_mark = np.empty(R, np.bool_)
    fa = np.empty(min(cap, 2 * span + 1), np.int64)
    fb = np.empty(min(cap, 2 * span + 1), np.int64)
    cbuf = np.empty(_CHUNK, np.int64)
    ecap = 16
    ev_x = np.empty(ecap, np.int64)
    n_ev = 0
    fetched = 0
    n_in = 0
    es = np.int64(0)
    x_c = np.int64(0)
    f_es = -1  # row fold holding the last epoch end (-1: none yet, es = 0)
    made = 0  # folds before this one made into last_r / last_l, in order
    for fr in range(row_fold):
        needed = block - n_in if block > 0 else _FAR
        if f_es < 0 or fr * R - reach >= (f_es + 1) * R:
            c = (_words_upto(min(npx, fr * R + R), per, Ew, img_words, rows_u, rows_new, cols_u)
                 - _words_upto(fr * R, per, Ew, img_words, rows_u, rows_new, cols_u)) * Ch
            if c < needed:
                n_in += c
                fetched += c
                continue
        for f2 in range(max(made, fr - back), fr):
            _os_fold(f2, False, R, npx, per, Ew, H, W, Ch, sh, sw, ntaps, L, tap_kh, tap_kw, lane_b, lane_h, lane_w, gr,
                     gl, g0, qr, ql, last_r, last_l, 0, 0, 0, 0, 0)
        cr, cl = x_c // R, x_c % R
        er, el = es // R, es % R
        n, acc, hit = _os_fold(fr, True, R, npx, per, Ew, H, W, Ch, sh, sw, ntaps, L, tap_kh, tap_kw, lane_b, lane_h,
                               lane_w, gr, gl, g0, qr, ql, last_r, last_l, needed, cr, cl, er, el)
        made = fr + 1
        if hit < 0:
            n_in += acc
            fetched += acc
            continue
        fg0 = g0[:n]
        j0 = 0
        while True:
            lo = _epoch_end(hit, acc, fg0, gr, gl, gn, qr, ql, j0, x_c, es, R, 0, span, needed, row_cnt,
                            lane_mark, fa, fb)
            fetched += needed
            n_in = 0
            es = lo + 1
            x_c = lo + 1
            f_es = fr
            if n_ev == ecap:
                ecap *= 2
                ev_x = _grow(ev_x)
            ev_x[n_ev] = lo
            n_ev += 1
            # the rest of the fold under the new epoch
            needed = block
            j0 = _first_ge(fg0, x_c - span)
            cr, cl = x_c // R, x_c % R
            er, el = es // R, es % R
            acc, hit = _count_to_epoch_end(gr, gl, qr, ql, gn, j0, n, cr, cl, er, el, needed, cbuf, 64)  # (dl 0)
            if hit < 0:
                n_in += acc
                fetched += acc
                break
    first_row = -1
    last_row = -1
    for fr in range(row_fold):
        lo, hi = _os_fold_rows(fr, R, npx, per, Ew, H, W, Ch, sh, sw, FW, dh, dw, ntaps, L)
        if lo >= 0:
            first_row = lo
            break
    for fr in range(row_fold - 1, -1, -1):
        lo, hi = _os_fold_rows(fr, R, npx, per, Ew, H, W, Ch, sh, sw, FW, dh, dw, ntaps, L)
        if hi >= 0:
            last_row = hi + Ch - 1
            break
    return fetched, ev_x[:n_ev], first_row, last_row

def os_reuse_pass(R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words, k=None):
    """:func:`accelsim.hw.systolic._kernels.reuse_read_pass` for an output-stationary array (the same three outputs):
    one class of all ``Ch`` channels, a group's channels one row apart in one lane
    (:func:`os_ifmap_groups`, :func:`group_sweeps`); one sweep per column fold. A plain function around
    the two kernels; ``k`` as :func:`ws_is_reuse_pass`'s."""
    k = k or _jit()
    npx = batch * Eh * Ew
    L = FH * FW * Ch + R + C - 2
    row_fold = -(-npx // R)
    col_fold = -(-nfilt // C)
    if col_fold == 1:
        fetched, ev_x, first_row, last_row = k.os_single_sweep(R, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, L,
                                                               row_fold, np.int64(50 * (words // 100)))
        stats = np.array([fetched, ev_x.shape[0], first_row, last_row], np.int64)
        return stats, ev_x // R, np.array([fetched], np.int64)
    return k.os_groups_pass(R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words)


@njit(cache=True)
def os_groups_pass(R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words):
    """:func:`os_reuse_pass` over several column folds in one kernel, the groups' seven arrays kept inside: what the
    install compiles ahead of time (``_aot.py``), where boxing them between two compiled calls cost a small layer
    about 40 us. The JIT path runs its Python body (``os_groups_pass.py_func``: the two kernels from Python; as one
    JIT kernel it cost a first run 0.4 s more of compile)."""
    L = FH * FW * Ch + R + C - 2
    row_fold = (batch * Eh * Ew + R - 1) // R
    g0, gr, gl, gn, pred, word, last = os_ifmap_groups(R, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, L,
                                                       row_fold)
    return _os_sweeps(g0, gr, gl, gn, pred, word, last, (nfilt + C - 1) // C, row_fold * L, R, 50 * (words // 100),
                      Ch)


@njit(cache=True)
def _os_sweeps(g0, gr, gl, gn, pred, word, last, n_sweeps, rows_sweep, R, block, Ch):
    """:func:`group_sweeps` over an os array's groups (``dl`` 0) and the pass's outputs made from it, ``(stats,
    event rows, fetches per sweep)`` as :func:`os_reuse_pass`: the stats and event rows in the kernel, where
    NumPy and Python around it cost about 5 us of a 36x36x19 layer's pass. (One kernel for the groups and the
    sweeps saved some 8 us more, but its first compile, with the sweeps re-optimised inside it, cost 0.4 s more
    of a first ResNet-50 run.)"""
    fetched, ev_k, ev_x, sw_got = group_sweeps(g0, gr, gl, gn, pred, word, last, n_sweeps, rows_sweep, R, 0, block)
    stats = np.empty(4, np.int64)
    stats[0] = fetched
    stats[1] = ev_k.shape[0]
    stats[2] = -1
    stats[3] = -1
    n = g0.shape[0]
    if n > 0:
        stats[2] = gr[0]
        stats[3] = (n_sweeps - 1) * rows_sweep + gr[n - 1] + Ch - 1
    ev = np.empty(ev_k.shape[0], np.int64)  # (a loop: an array expression compiles a ufunc loop, slower)
    for e in range(ev.shape[0]):
        ev[e] = ev_k[e] * rows_sweep + ev_x[e] // R
    return stats, ev, sw_got


def _jit():
    """The group kernels by the export names of ``_aot.GROUPS["calc"]``: this module's JIT kernels, read when called
    (``calc._calc_kernels`` passes the ones compiled ahead of time where current)."""
    return SimpleNamespace(os_single_sweep=os_single_sweep, os_groups_pass=os_groups_pass.py_func,
                           ws_group_pass=ws_group_pass, ws_is_groups=ws_is_groups, sweeps_in_lane=_sweeps_in_lane)
