"""CALC-mode IFMAP read buffer of a ws array by row folds (docs/models/systolic.md §3.3, "ws by folds").

With at least as many channels as the array has rows (``Ch >= R``) a row fold never holds two taps of one
channel, so the uses of an input word come in fold order, tap by tap, and a use's previous one follows from the
geometry alone (no list of the sweep's accesses, no table of last uses):

* the readers of word ``(b, ih, iw, ch)`` are the taps ``(kh, kw)`` with ``ih - kh * dh`` a multiple of ``sh``
  giving an output row in ``[0, Eh)`` (columns alike); along each axis they are an arithmetic progression of
  step ``sh / gcd(sh, dh)`` taps whose output row moves by ``dh / gcd(sh, dh)``. So the use before the reader
  ``(kh, kw)`` of pixel ``(oh, ow)`` is the tap one step left in the same filter row, if that column is still an
  output column; else the tap one step up, at its row's last valid column, if that row is an output row; else
  none in this sweep: a first use (first sweep) or the word's last reader in the previous sweep (its last valid
  row and column).
* a use of tap ``t``, channel ``ch`` (window element ``t * Ch + ch``: row fold ``f``, lane ``l``) by pixel
  ``p`` sits at position ``(f * L + p + R + l) * R + l``; positions order the accesses as the buffer sees them,
  so "previous use before the epoch's first access" is a comparison of positions.
* windows past the input edge leave slots without an access: tap ``(kh, kw)`` reads inside the input for the
  output rows ``oh < A(kh)`` and columns ``ow < B(kw)`` of each image (:func:`valid_extents`), a rectangle, so a
  fold's accesses on its rows before a row are counted lane by lane in O(1) each; the readers of a word inside
  the input all read it, so the previous-use rule above holds for every access.

Row folds whose every access must be a fetch are counted in closed form, without visiting an access: a fold
whose accesses are all first uses, and a fold entered with every access since the epoch began fetched whose
reuses all lie at least an epoch (``block`` accesses) after their previous use (every access is then fetched,
with an epoch end every ``block``; the bound of :func:`fold_reuse_bounds`). The other folds are counted by
rectangles (:func:`_fold_rects`, :func:`_counted_fold`): the rule above gives a lane's previous uses a fixed
distance back over rectangles of output rows x columns (a column step left, a row step up by column step, the
previous sweep by row and column step), so a rectangle's fetches under an epoch start are a prefix of its pixels
and a fold's fetches before a row are its accesses there less a sum of hits over the rectangles of its lanes whose
previous uses do not all lie before the epoch (its open lanes); where a fold has more rectangles and epoch ends
than that pays for (small outputs, large filters, small buffers: :func:`counted_pays`), it is walked access by
access instead. With fewer channels than rows a fold may hold several readers of a word, in no tap order; each is
still a fixed distance from the access over a box of output pixels, and the previous use is the valid one that
lies latest before it (:func:`_fold_rects_any`: the same rectangles, found by cutting a lane's pixels along the
readers' box bounds; walked folds list their previous uses from them, :func:`_rect_prevs`). From the second
sweep on, a sweep that ends an epoch where an earlier one (not the first) did repeats it from there, as in
:func:`accelsim.hw.systolic._group_reuse.group_sweeps`. Same outputs as
:func:`accelsim.hw.systolic._kernels.reuse_read_pass`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._kernels import _dims, _fdiv, _first_ge, _grow, _odometer, _put_event, _repeat_later, _repeat_rest, _same_epoch_end

# Helpers called in a loop that take arrays and allocate none are compiled with ``_nrt=False`` (``_hits_before``,
# ``_before_row_edge``, ``_bounds``, ``_mark_crossings``, ``_end_epoch``): Numba otherwise increments and decrements
# the reference count of every array argument at each call, two atomic operations an array (3,370 increments a call
# of the 36x36x19 stride-2 layer's pass with 4 kB, 19% of its time; docs/architecture.md, Conventions).
_NEVER = -(1 << 55)  # previous use of a first use in the first sweep: before every epoch
_NONE = -(1 << 62)  # sort key of a reader that reads nothing before the access
_NO_ACCESS = 1 << 60  # "previous use" of a slot whose window element lies past the input edge: never a fetch
# a counted fold's cost per rectangle (its cuts), in units of a walked fold's cost per access (listing its previous
# use and scanning it; from the second sweep on, where the fold's list is kept, scanning alone costs 1/LISTING of
# that). Measured on 50 random ws layers (docs/models/systolic.md §3.3, "ws by folds"): about 4.4 ns a rectangle
# and epoch, 4.9 ns an access listed and scanned, 0.1-0.5 ns an access scanned; 2 leaves a margin
COUNTED_COST = 2
LISTING = 16
# an epoch end costs about one pass over the rectangles: the counts of its search visit the open lanes' (4 before
# they did, when every count visited every rectangle; docs/models/systolic.md §3.3)
EPOCH_SEARCH = 1
# fewer channels than rows (any_rects_pay): the log of the folds' speed-up over the scan, least squares on 300 random
# ws layers (seed 301: rows 8-128, columns 8-128, 1-127 channels below the rows, 1x1-7x8, strides 1-2, 4-59 output
# rows, some with windows past the edge, 1-128 kB, the pass alone timed both ways, identical outputs; refitted
# 2026-12-07 on the kernels of that day, the fit before having become no better than taking the folds everywhere);
# checked on 100 more (seed 202, untouched): docs/models/systolic.md §3.3
ANY_FIT = (-2.921, 0.806, 0.299, -0.367, -0.479, 0.494, -0.567)
ANY_MIN_LOG = 0.4


def valid_extents(H, W, FH, FW, sh, sw, dh, dw, Eh, Ew):
    """``(rows_ok, cols_ok)``: per filter row ``kh`` how many output rows read inside the input (``oh * sh + kh * dh
    < H`` for ``oh < rows_ok[kh]``; ``Eh`` when the windows lie inside), per filter column alike; int64 arrays."""
    both = _extents(Eh, H, FH, sh, dh) + _extents(Ew, W, FW, sw, dw)
    both = np.array(both, np.int64)  # (one array, two views: a small array costs a microsecond to build)
    return both[:FH], both[FH:]


def _extents(n_out, size, taps, stride, dilation):
    """Per tap along one axis, how many of the ``n_out`` outputs read inside ``size`` inputs: ``n_out`` up to the
    taps past the edge, which come last (the count only falls with the tap)."""
    out = [n_out] * taps
    for t in range(taps - 1, -1, -1):
        inside = -(-(size - t * dilation) // stride)
        if inside >= n_out:
            break
        out[t] = max(0, inside)
    return out


def ws_folds_plan(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words, groups_pay=False):
    """``(reader steps, within, across, rows_ok, cols_ok)``: :func:`reader_steps`, the per-fold reuse bounds of
    :func:`fold_reuse_bounds` and the :func:`valid_extents` (None when the windows lie inside), the arguments of
    :func:`ws_fold_pass`, when it applies and pays, else None. It applies to a ws array (``df`` 1) with any channels,
    an epoch of ``block = 50 * floor(words / 100) > 0`` fetches and every tap reading inside the input for some
    pixel (windows may run past the edge). With fewer channels than rows it pays where :func:`any_rects_pay` says so
    and the channel classes do not (``groups_pay``). Otherwise it pays when, by the bounds, at most a quarter of a
    sweep's accesses lie in folds that are not all fetched, in the first sweep and in the later ones (the others
    cost nothing per access), or else when such folds are cheaper counted by their rectangles than walked
    (:func:`counted_pays`, for a fold of ``R`` lanes with the most rectangles a lane can have) and the channel
    classes do not pay (``groups_pay``: :func:`accelsim.hw.systolic._group_reuse.ws_is_groups_pay`; on random layers
    they beat the counted folds). Plain Python around one small kernel."""
    block = 50 * (words // 100)
    npx = batch * Eh * Ew
    if df != 1 or block <= 0 or npx == 0:
        return None
    # the last filter row / column reads inside the input for the fewest output rows / columns (valid_extents)
    rows_min = min(Eh, max(0, -(-(H - (FH - 1) * dh) // sh)))
    cols_min = min(Ew, max(0, -(-(W - (FW - 1) * dw) // sw)))
    if rows_min < 1 or cols_min < 1:
        return None  # a tap that reads nothing (a filter taller or wider than the input)
    missing = npx - batch * rows_min * cols_min  # at most this many slots of a lane are empty
    win = FH * FW * Ch
    steps = sth, stw, _, _ = reader_steps(FH, FW, sh, sw, dh, dw)
    if Ch < R:
        # (decided before any kernel call: the layers it refuses are often small, and a call costs microseconds)
        if groups_pay or not any_rects_pay(R, npx, block, FH, FW, sth, stw, missing > 0, -(-nfilt // C)):
            return None
        within = across = np.zeros(-(-win // R), np.int64)  # (no bound: fold_reuse_bounds' zeros)
    else:
        within, across, walked0, walked1 = fold_reuse_bounds(
            R, Ch, npx, win, consecutive_reach(FH, FW, sh, sw, dh, dw, Ew, steps),
            consecutive_taps(FH, FW, sh, sw, dh, dw, steps), block, missing)
        limit = win * npx // 4
        if walked0 > limit or (-(-nfilt // C) > 1 and walked1 > limit):
            across_w, down = -(-FW // stw), -(-FH // sth)
            # (against the scan or the channel classes, which list a sweep once and scan the others)
            cost = walk_cost.py_func(False, True, -(-nfilt // C))
            if groups_pay or not counted_pays.py_func(R * (2 + across_w + down * across_w), R * npx, block, cost):
                return None
    if not missing:  # windows inside the input: the pass's version without edge code
        return steps, within, across, None, None
    return (steps, within, across, *valid_extents(H, W, FH, FW, sh, sw, dh, dw, Eh, Ew))


def any_rects_pay(R, npx, block, FH, FW, sth, stw, edge, sweeps):
    """Whether a ws layer with fewer channels than rows is faster by row folds counted by their rectangles
    (:func:`_fold_rects_any`) than by the reuse-distance scan: where the log of the predicted speed-up,
    :data:`ANY_FIT` over ``(1, ln npx, ln R, ln readers a tap, ln(1 + R npx / block), windows past the edge, ln
    sweeps)``, passes :data:`ANY_MIN_LOG` (about 1.5x). The folds gain with the pixels a lane (its rectangles cost
    per lane, the scan per access), lose with the readers a tap has and the epoch ends a fold may hold (each
    costs passes over the rectangles), gain where windows run past the edge (the scan's listing tests them) and
    lose with the sweeps (the scan lists one and scans the others). Plain Python."""
    w = ANY_FIT
    x = any_rects_features(R, npx, block, FH, FW, sth, stw, edge, sweeps)
    log_gain = w[0] * x[0] + w[1] * x[1] + w[2] * x[2] + w[3] * x[3] + w[4] * x[4] + w[5] * x[5] + w[6] * x[6]
    return log_gain > ANY_MIN_LOG


def any_rects_features(R, npx, block, FH, FW, sth, stw, edge, sweeps):
    """The terms :data:`ANY_FIT` weighs (:func:`any_rects_pay`, whose arguments these are): ``(1, ln npx, ln R, ln
    readers a tap, ln(1 + R npx / block), windows past the edge, ln sweeps)``; what
    ``benchmarks/fit_any_rects.py`` fits on."""
    readers = ((FH - 1) // sth + 1) * ((FW - 1) // stw + 1)
    return (1.0, math.log(npx), math.log(R), math.log(readers), math.log1p(R * npx / block), float(edge),
            math.log(sweeps))


def reader_steps(FH, FW, sh, sw, dh, dw):
    """``(sth, stw, gh, gw)``: a word's readers along each filter axis are ``sth`` / ``stw`` taps apart and read it
    for output rows / columns ``gh`` / ``gw`` apart (``s / gcd(s, d)`` and ``d / gcd(s, d)``; 1 for a filter one tap
    long on that axis). Plain Python: Numba's ``math.gcd`` costs a first run 0.6 s of compile."""
    g_h, g_w = math.gcd(sh, dh), math.gcd(sw, dw)
    return sh // g_h, sw // g_w, (dh // g_h if FH > 1 else 1), (dw // g_w if FW > 1 else 1)


def consecutive_reach(FH, FW, sh, sw, dh, dw, Ew, steps=None):
    """At most how many pixels (raster order) a word's reader lies after the reader that follows it in tap order:
    ``gh`` output rows when the next reader is a filter row down (its column the row's first valid one, never
    right of the earlier), ``gw`` columns within a filter row (:func:`reader_steps`, or ``steps`` when known)."""
    _, _, gh, gw = steps or reader_steps(FH, FW, sh, sw, dh, dw)
    return max(gh * Ew if FH > 1 else 0, gw if FW > 1 else 0)


def consecutive_taps(FH, FW, sh, sw, dh, dw, steps=None):
    """At least how many taps (raster order) lie between a word's reader and the next: ``sw / gcd(sw, dw)`` within a
    filter row (when a row has two readers of one word), and a row step ``sh / gcd(sh, dh)`` down to a column no
    right of the earlier one, at least ``sh / gcd(sh, dh) x FW - (FW - 1)`` taps (when a column has two). 1 when
    neither exists (a word then has one reader). ``steps``: :func:`reader_steps` when known."""
    sth, stw, _, _ = steps or reader_steps(FH, FW, sh, sw, dh, dw)
    steps = []
    if FW > stw:
        steps.append(stw)
    if FH > sth:
        steps.append(sth * FW - (FW - 1))
    return min(steps) if steps else 1


@njit(cache=True)
def fold_reuse_bounds(R, Ch, npx, win, reach, gap, block, missing):
    """Lower bounds, in accesses, on how far a reuse in each row fold of a ws sweep lies after its previous use
    (``Ch >= R``; with fewer channels a fold may hold a word's two readers one row apart: zeros, every fold
    walked): ``(within, across, walked0, walked1)``, the first two int64 arrays over the folds, the last two
    the slots of the folds whose bound is below ``block`` in the first sweep and in a later one. ``missing``: at
    most how many of a lane's ``npx`` slots hold no access (windows past the input edge; 0 inside), taken off
    every lane's pixel counts below (twice where a count spans two folds).

    ``within[f]``: previous use in an earlier fold ``f' < f`` of the same sweep. Every fold before the last has
    ``R`` lanes, fold ``f`` has ``n_f``; pixel ``p``'s element in lane ``l`` is on the fold's row ``p + R + l``,
    so after the previous use (pixel ``p' <= p + reach``) come its fold's pixels ``>= p' + R`` and before the use
    the pixels ``<= p - R`` of fold ``f``: at least ``max(0, npx - reach - 2R + 1) x min(R, n_f)`` accesses
    (the smaller of the two ends, at ``p = R - 1`` or ``p' = npx - R``), plus the whole folds between: the
    previous use of element ``e`` lies ``gap`` taps or more before it (:func:`consecutive_taps`; element
    ``e - gap * Ch`` or earlier), so in fold ``(f * R + n_f - 1 - gap * Ch) // R`` or earlier (none: the fold
    holds no reuse, such as fold 0).

    ``across[f]``: previous use in the previous sweep (the word's last reader, tap at least this one, so fold
    ``>= f``, pixel ``<= p``): its fold's pixels ``>= p + R``, the folds before ``f`` and fold ``f``'s pixels
    ``<= p - R``: ``sum(n_g x npx, g < f) + max(0, npx - 2R + 1) x min(n_last, n_f)``."""
    row_fold = (win + R - 1) // R
    n_last = win - (row_fold - 1) * R
    within = np.empty(row_fold, np.int64)
    across = np.empty(row_fold, np.int64)
    if Ch < R:  # a fold may hold two readers of a word, one row apart: no bound
        within[:] = 0
        across[:] = 0
        return within, across, win * npx, win * npx
    before = 0
    walked0 = 0
    walked1 = 0
    for f in range(row_fold):
        n = min(R, win - f * R)
        # the previous use of an element e lies `gap` taps (gap * Ch elements) or more before it: in fold latest
        # or earlier
        latest = (f * R + n - 1 - gap * Ch) // R
        if latest < 0:
            within[f] = 1 << 62  # no reuse in this fold (it holds first taps only)
        else:
            within[f] = max(0, npx - reach - 2 * R + 1 - 2 * missing) * n + (f - 1 - latest) * R * (npx - missing)
        across[f] = before + max(0, npx - 2 * R + 1 - 2 * missing) * min(n_last, n)
        before += n * (npx - missing)
        if within[f] < block:
            walked0 += n * npx
        if min(within[f], across[f]) < block:
            walked1 += n * npx
    return within, across, walked0, walked1


@njit(cache=True, inline="always")
def _tap_pos(tap, ch, Ch, R, L):
    """Position of pixel 0's use of window element ``tap * Ch + ch`` (row fold ``f``, lane ``l``) in its sweep:
    ``(f * L + R + l) * R + l``; pixel ``p``'s is ``p * R`` later."""
    t = tap * Ch + ch
    f = t // R
    lane = t - f * R
    return (f * L + R + lane) * R + lane


@njit(cache=True, inline="always")
def _tap_pos_f(tap, ch, Ch, R, L, inv_r):
    """:func:`_tap_pos` with its division by ``R`` a multiply (``inv_r = 1.0 / R``, :func:`_fdiv`)."""
    t = tap * Ch + ch
    f = _fdiv(t, R, inv_r)
    lane = t - f * R
    return (f * L + R + lane) * R + lane


@njit(cache=True, inline="always")
def _before_row(x, n, npx):
    """Accesses of a fold with ``n`` lanes (windows inside) on its rows before ``R + x``: pixel ``p`` of lane
    ``l`` is on row ``R + p + l``, so lane ``l`` contributes ``clamp(x - l, 0, npx)``."""
    a = min(max(x - npx + 1, 0), n)  # lanes with all npx pixels before the row
    b = min(max(x + 1, 0), n)  # lanes with at least one
    tot = a * npx
    if b > a:
        tot += (b - a) * x - (a + b - 1) * (b - a) // 2
    return tot


@njit(cache=True)
def _nth_access(e, n, npx):
    """Fold-local row and lane of a fold's access ``e`` (0-based, position order; ``n`` lanes, windows
    inside): the largest ``x`` with :func:`_before_row` ``(x) <= e``, by binary search; its row is ``R + x``."""
    lo = 0
    hi = npx + n - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _before_row(mid, n, npx) <= e:
            lo = mid
        else:
            hi = mid - 1
    return lo, max(0, lo - npx + 1) + e - _before_row(lo, n, npx)


@njit(cache=True, inline="always")
def _valid_before(q, A, B, Ew, per):
    """Pixels ``< q`` (raster order, images of ``per`` pixels) inside a lane's valid rectangle: output rows ``< A``
    and columns ``< B`` of each image (:func:`valid_extents`)."""
    img = q // per
    r = q - img * per
    oh = r // Ew
    c = img * A * B + min(oh, A) * B
    if oh < A:
        c += min(r - oh * Ew, B)
    return c


@njit(cache=True, _nrt=False)
def _before_row_edge(x, npx, run_l0, run_l1, run_g, n_runs, tabs):
    """:func:`_before_row` where windows run past the input edge: lane ``l`` counts its valid pixels ``< x - l``.
    The fold's lanes come in runs that share a valid rectangle (one tap each, ``Ch >= R``), and ``tabs[g, q]`` sums
    :func:`_valid_before` of rectangle ``g`` over the pixels ``< q`` (``q <= npx + 1``), so a run costs O(1)."""
    tot = 0
    for r in range(n_runs):
        g = run_g[r]
        hi = x - run_l0[r]  # the run's lanes count pixels < x - l for l in [l0, l1): q from x - l1 + 1 to x - l0
        lo = x - run_l1[r] + 1
        if hi >= 0:
            a = max(lo, 0)
            b = min(hi, npx)
            if b >= a:
                tot += tabs[g, b + 1] - tabs[g, a]
            if hi > npx:  # lanes past the last pixel count all of their valid ones
                tot += (hi - max(lo, npx + 1) + 1) * (tabs[g, npx + 1] - tabs[g, npx])
    return tot


@njit(cache=True)
def _nth_access_edge(e, n, npx, lA, lB, Ew, per, run_l0, run_l1, run_g, n_runs, tabs):
    """:func:`_nth_access` where windows run past the input edge: fold-local row and lane of the fold's access
    ``e`` among the slots that hold one: at or after the row of slot ``e`` (:func:`_nth_access`), and near it when
    few slots are empty, so the search gallops forward from there."""
    lo = _nth_access(e, n, npx)[0]
    hi = npx + n - 1
    step = 1
    while lo + step < hi and _before_row_edge(lo + step, npx, run_l0, run_l1, run_g, n_runs, tabs) <= e:
        lo += step
        step *= 2
    hi = min(hi, lo + step)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _before_row_edge(mid, npx, run_l0, run_l1, run_g, n_runs, tabs) <= e:
            lo = mid
        else:
            hi = mid - 1
    r = e - _before_row_edge(lo, npx, run_l0, run_l1, run_g, n_runs, tabs)
    lane = max(0, lo - npx + 1)
    while lane < min(n - 1, lo):
        q = (lo - lane) % per
        oh = q // Ew
        if oh < lA[lane] and q - oh * Ew < lB[lane]:
            if r == 0:
                break
            r -= 1
        lane += 1
    return lo, lane


@njit(cache=True)
def _fold_runs(n, lA, lB, pair_a, pair_b, run_l0, run_l1, run_g):
    """Split a fold's ``n`` lanes into runs of one valid rectangle (``lA``, ``lB``), each with the index of that
    rectangle in ``pair_a`` / ``pair_b``: returns how many runs."""
    n_runs = 0
    for lane in range(n):
        if lane == 0 or lA[lane] != lA[lane - 1] or lB[lane] != lB[lane - 1]:
            g = 0
            while pair_a[g] != lA[lane] or pair_b[g] != lB[lane]:
                g += 1
            run_l0[n_runs] = lane
            run_g[n_runs] = g
            n_runs += 1
        run_l1[n_runs - 1] = lane + 1
    return n_runs


@njit(cache=True)
def _lane_extents(f, n, R, Ch, FW, rows_ok, cols_ok, lA, lB):
    """Per lane of row fold ``f``: the output rows / columns its tap reads inside the input (``lA``, ``lB``)."""
    for lane in range(n):
        tap = (f * R + lane) // Ch
        kh = tap // FW
        lA[lane] = rows_ok[kh]
        lB[lane] = cols_ok[tap - kh * FW]


@njit(cache=True)
def _edge_tables(row_fold, R, Ch, FH, FW, win, Eh, Ew, npx, rows_ok, cols_ok, lA, lB, edge):
    """Marks in ``edge`` the row folds with a lane whose tap reads past the input edge for some pixels, and
    returns the distinct valid rectangles (``rows_ok[kh] x cols_ok[kw]``: ``pair_a``, ``pair_b``) with, per
    rectangle, the running sums of its valid pixels before each pixel (``tabs``, :func:`_before_row_edge`)."""
    for f in range(row_fold):
        _lane_extents(f, min(R, win - f * R), R, Ch, FW, rows_ok, cols_ok, lA, lB)
        for lane in range(min(R, win - f * R)):
            edge[f] |= lA[lane] < Eh or lB[lane] < Ew
    pair_a = np.zeros(FH * FW, np.int64)
    pair_b = np.zeros(FH * FW, np.int64)
    n_pairs = 0
    for kh in range(FH):
        for kw in range(FW):
            g = 0
            while g < n_pairs and (pair_a[g] != rows_ok[kh] or pair_b[g] != cols_ok[kw]):
                g += 1
            if g == n_pairs:
                pair_a[g] = rows_ok[kh]
                pair_b[g] = cols_ok[kw]
                n_pairs += 1
    tabs = np.zeros((n_pairs if edge.any() else 0, npx + 2), np.int64)
    for g in range(tabs.shape[0]):
        A = pair_a[g]
        B = pair_b[g]
        valid = 0  # _valid_before(q, A, B, Ew, per), stepped along q (pixel q is (image, oh, ow))
        img = oh = ow = 0
        for q in range(npx + 1):
            tabs[g, q + 1] = tabs[g, q] + valid
            valid += oh < A and ow < B
            img, oh, ow = _odometer(img, oh, ow, Eh, Ew)
    return pair_a, pair_b, tabs


@njit(cache=True)
def _mark_no_access(prev, rowstart, n, npx, batch, Eh, Ew, lA, lB):
    """Set the slots of a walked fold whose window element lies past the input edge to :data:`_NO_ACCESS`."""
    per = Eh * Ew
    for lane in range(n):
        A = lA[lane]
        B = lB[lane]
        if A >= Eh and B >= Ew:
            continue
        for b in range(batch):
            for oh in range(Eh):
                for ow in range(0 if oh >= A else B, Ew):
                    p = b * per + oh * Ew + ow
                    x = p + lane
                    prev[rowstart[x] + (lane if x < npx else npx - 1 - p)] = _NO_ACCESS


@njit(cache=True)
def _fold_prevs(n, npx, R, FH, FW, Ew, Eh, gh, gw, k, rowstart, oh_, ow_, ohq, owq, has_s, pos_s, has_u, pos_u, mw_,
                mh_, pos_l, out):
    """The previous use's position of each access of a walked fold (``n`` lanes, windows inside), in position
    order into ``out``: pixel ``p`` of lane ``l`` is on fold-local row ``R + p + l``, the access
    ``rowstart[p + l] + l - max(0, p + l - npx + 1)``; the use before it one filter column left, else a filter
    row up at its last valid column, else none in this sweep (the first sweep: :data:`_NEVER`) or the word's last
    reader a sweep earlier; each ``p * R`` after its lane's table entry (:func:`ws_fold_pass`)."""
    for lane in range(n):
        ps = pos_s[lane]
        mw = mw_[lane]
        mh = mh_[lane]
        # columns [0, c_same): the use one filter column left; the rest by their row
        c_same = Ew - gw if has_s[lane] else 0
        for p0 in range(0, npx, Ew):
            oh = oh_[p0]
            for p in range(p0, p0 + max(c_same, 0)):
                x = p + lane
                out[rowstart[x] + (lane if x < npx else npx - 1 - p)] = ps + p * R
            # from column mw * gw on, a word's last valid filter column is the lane's last one: a fixed entry
            c0 = p0 + max(c_same, 0)
            c1 = max(c0, p0 + min(Ew, mw * gw))
            if has_u[lane] and oh + gh < Eh:
                for p in range(c0, c1):
                    x = p + lane
                    out[rowstart[x] + (lane if x < npx else npx - 1 - p)] = pos_u[lane * FW + owq[p]] + p * R
                base = pos_u[lane * FW + mw]
            elif k == 0:
                c1 = c0
                base = _NEVER  # (a first use: _NEVER + p * R is still before every epoch)
            else:
                row = (lane * FH + min(mh, ohq[p0])) * FW
                for p in range(c0, c1):
                    x = p + lane
                    out[rowstart[x] + (lane if x < npx else npx - 1 - p)] = pos_l[row + owq[p]] + p * R
                base = pos_l[row + mw]
            for p in range(c1, p0 + Ew):
                x = p + lane
                out[rowstart[x] + (lane if x < npx else npx - 1 - p)] = base + p * R


@njit(cache=True)
def _scan_fold(prev, i, m, es, needed):
    """From access ``i`` of a walked fold's ``m``, count fetches (``prev < es``) until ``needed``: ``(i, fetches,
    ended)``, ``i`` the access that reached ``needed`` when ``ended``, else ``m``. Chunks whose count cannot reach
    ``needed`` are counted in a loop without exit (vectorised)."""
    got = 0
    while i < m:
        i1 = min(i + 2048, m)
        cnt = 0
        chunk = prev[i:i1]  # (indexed from 0: the loop vectorises, about 5x faster than prev[j] over i..i1)
        for j in range(i1 - i):
            cnt += chunk[j] < es
        if got + cnt < needed:
            got += cnt
            i = i1
            continue
        for j in range(i, i1):
            if prev[j] < es:
                got += 1
                if got == needed:
                    return j, got, True
    return m, got, False


@njit(cache=True)
def _lane_tables(f, n, R, Ch, FH, FW, L, N, Ew, sth, stw, gh, gw, has_s, pos_s, has_u, pos_u, mw_, mh_, pos_l):
    """Per lane of row fold ``f`` (``n`` lanes), pixel 0's previous-use positions (:func:`ws_fold_pass`): one
    column step left in its filter row (``has_s``, ``pos_s``); one row step up at the word's last valid column,
    by how many column steps right of this one it lies (``has_u``, ``pos_u``); the word's last reader a sweep
    earlier, by row and column steps (``pos_l``); and how many steps fit (``mh_``, ``mw_``). Pixel ``p``'s
    previous use is ``p * R`` after its entry, the pixel shifts included."""
    for lane in range(n):
        t = f * R + lane
        tap = t // Ch
        ch = t - tap * Ch
        kh = tap // FW
        kw = tap - kh * FW
        has_s[lane] = kw >= stw
        if has_s[lane]:
            pos_s[lane] = _tap_pos(tap - stw, ch, Ch, R, L) + gw * R
        mw = (FW - 1 - kw) // stw
        mh = (FH - 1 - kh) // sth
        mw_[lane] = mw
        mh_[lane] = mh
        has_u[lane] = kh >= sth
        if has_u[lane]:
            for j in range(mw + 1):
                pos_u[lane * FW + j] = _tap_pos((kh - sth) * FW + kw + j * stw, ch, Ch, R, L) + (gh * Ew - j * gw) * R
        for i in range(mh + 1):
            for j in range(mw + 1):
                pos_l[(lane * FH + i) * FW + j] = (_tap_pos((kh + i * sth) * FW + kw + j * stw, ch, Ch, R, L)
                                                   - (i * gh * Ew + j * gw) * R - N)


# (_nrt=False: no reference counts of its array arguments, two atomic operations each a call; it allocates none)
@njit(cache=True, _nrt=False)
def _end_epoch(ev_k, ev_x, ev_g, n_ev, k, pos, got, sw_ev):
    """An epoch end at position ``pos`` of sweep ``k``, ``got`` the sweep's fetches with it, appended to the event
    arrays (the caller grows them first when full): ``(n_ev, e0, jj)``, with, from the third sweep on, the event
    ``e0`` of an earlier sweep ``jj >= 1`` that ended one there (``e0 = -1`` if none). The fold state after it is a
    new epoch from ``pos + 1``, nothing in it yet (the callers' ``es``, ``n_in``, ``since``)."""
    n_ev = _put_event(ev_k, ev_x, ev_g, n_ev, k, pos, got)
    if k >= 2:
        e0, jj = _same_epoch_end(ev_x, sw_ev, k, pos)
        return n_ev, e0, jj
    return n_ev, -1, 0


@njit(cache=True)
def _closed_fold(f, n, npx, R, L, k, block, got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, sw_ev, edge):
    """A fold of ``n`` lanes whose every access is fetched (:func:`ws_fold_pass`): an epoch end every ``block``
    fetches, each located by the fold's row counts (:func:`_nth_access`; with ``edge``, a fold with slots past the
    input edge, by :func:`_nth_access_edge` over its runs of lanes: ``(lA, lB, Ew, per, run_l0, run_l1, run_g,
    n_runs, tabs)``; None prunes that code from the version compiled for it). Returns the state ``(got, n_in, since,
    es, ev_k, ev_x, ev_g, n_ev, e0, jj)``; ``e0 >= 0``: from the third sweep on, it ended an epoch where sweep
    ``jj >= 1`` ended event ``e0`` (it stops there: the rest repeats)."""
    zero = np.int64(0)  # (the state after an epoch end: nothing in the new epoch)
    m = n * npx
    if edge is not None:
        run_l0, run_l1, run_g, n_runs, tabs = edge[4], edge[5], edge[6], edge[7], edge[8]
        m = 0
        for r in range(n_runs):
            m += (run_l1[r] - run_l0[r]) * (tabs[run_g[r], npx + 1] - tabs[run_g[r], npx])
    e = block - n_in - 1
    while e < m:
        if edge is not None:
            x, lane = _nth_access_edge(e, n, npx, edge[0], edge[1], edge[2], edge[3], edge[4], edge[5], edge[6],
                                       edge[7], edge[8])
        else:
            x, lane = _nth_access(e, n, npx)
        pos = (f * L + R + x) * R + lane
        got += block - n_in if e == block - n_in - 1 else block
        if n_ev == ev_k.shape[0]:
            ev_k, ev_x, ev_g = _grow(ev_k), _grow(ev_x), _grow(ev_g)
        n_ev, e0, jj = _end_epoch(ev_k, ev_x, ev_g, n_ev, k, pos, got, sw_ev)
        n_in = since = zero
        es = pos + 1
        if e0 >= 0:
            return got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, e0, jj
        e += block
    # the accesses after the fold's last epoch end (all of them if none)
    rest = m - (e - block + 1) if e - block + 1 > 0 else m
    return got + rest, n_in + rest, since + rest, es, ev_k, ev_x, ev_g, n_ev, -1, 0


@njit(cache=True)
def _walked_fold(prev, rowstart, f, n, npx, R, L, k, block, got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, sw_ev,
                 edge):
    """A walked fold (:func:`ws_fold_pass`): its accesses' previous uses ``prev`` scanned in chunks
    (:func:`_scan_fold`), each epoch end located by ``rowstart``. Returns the state as :func:`_closed_fold`.
    ``edge``: some slots hold no access (:data:`_NO_ACCESS`), left out of the accesses since the epoch began."""
    zero = np.int64(0)  # (the state after an epoch end: nothing in the new epoch)
    m = n * npx
    i = np.int64(0)  # (not a literal 0: _scan_fold would compile twice)
    while True:
        j, cnt, ended = _scan_fold(prev, i, m, es, block - n_in)
        got += cnt
        n_in += cnt
        if not ended:
            rest = m - i
            if edge:
                for t in range(i, m):
                    rest -= prev[t] == _NO_ACCESS
            return got, n_in, since + rest, es, ev_k, ev_x, ev_g, n_ev, -1, 0
        # the epoch's last fetch: access j, on fold-local row R + x
        x = _first_ge(rowstart[:npx + n], j + 1) - 1
        pos = (f * L + R + x) * R + max(0, x - npx + 1) + j - rowstart[x]
        if n_ev == ev_k.shape[0]:
            ev_k, ev_x, ev_g = _grow(ev_k), _grow(ev_x), _grow(ev_g)
        n_ev, e0, jj = _end_epoch(ev_k, ev_x, ev_g, n_ev, k, pos, got, sw_ev)
        n_in = since = zero
        es = pos + 1
        if e0 >= 0:
            return got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, e0, jj
        i = j + 1


@njit(cache=True, inline="always")
def counted_pays(n_rects, accesses, block, cost):
    """Whether a fold of ``accesses`` with ``n_rects`` rectangles (:func:`_fold_rects`) is counted
    (:func:`_counted_fold`: about ``cost`` times a walked access per rectangle, and :data:`EPOCH_SEARCH` times that
    per epoch end) rather than walked (:func:`walk_cost`)."""
    return cost * n_rects * (1 + EPOCH_SEARCH * (accesses // block)) < accesses


@njit(cache=True, inline="always")
def walk_cost(listed, keeps, sweeps_left):
    """:data:`COUNTED_COST` relative to walking a fold now: its list of previous uses is ``listed`` (kept from an
    earlier sweep: walking scans it alone) or, where the fold ``keeps`` it for the ``sweeps_left`` sweeps still to
    run (this one included), the listing is shared among them."""
    if listed:
        return COUNTED_COST * LISTING
    if keeps:
        return COUNTED_COST * sweeps_left / (1 + (sweeps_left - 1) / LISTING)
    return COUNTED_COST


@njit(cache=True, inline="always")
def _rect_add(rects, nr, lane, oh0, oh1, ow0, ow1, base, A, B):
    """Append the rectangle ``[oh0, min(oh1, A)) x [ow0, min(ow1, B))`` of lane ``lane`` (every image) whose
    accesses' previous uses lie at ``base + p * R`` (:func:`_fold_rects`), when it is not empty: the new count."""
    oh1 = min(oh1, A)
    ow1 = min(ow1, B)
    if oh1 > oh0 and ow1 > ow0:
        rects[nr, 0] = lane
        rects[nr, 1] = oh0
        rects[nr, 2] = oh1
        rects[nr, 3] = ow0
        rects[nr, 4] = ow1
        rects[nr, 5] = base
        return nr + 1
    return nr


@njit(cache=True, inline="always")
def _column_rects(rects, nr, lane, r0, r1, cs, c1, mw, Ew, gw, stw, tap0, ch, Ch, R, L, inv_r, shift, A, B):
    """The rectangles of output rows ``[r0, r1)`` and columns ``>= cs`` of one lane whose previous use is the reader
    ``j`` column steps right of tap ``tap0`` (columns ``[j * gw, (j + 1) * gw)`` below ``c1``, the lane's last step
    ``mw`` for ``[c1, Ew)``), its position ``shift - j * gw * R`` after that reader's pixel-0 use
    (:func:`_fold_rects`); returns the new count."""
    for j in range(min(cs // gw, mw), mw + 1):
        a = max(cs, j * gw) if j < mw else c1
        b = min(c1, (j + 1) * gw) if j < mw else Ew
        if b > a:
            nr = _rect_add(rects, nr, lane, r0, r1, a, b,
                           _tap_pos_f(tap0 + j * stw, ch, Ch, R, L, inv_r) + shift - j * gw * R, A, B)
    return nr


@njit(cache=True, _nrt=False)
def _mark_crossings(t, lane, n, Ch, ch, R, FW, i_up, j_left, i_down, j_right, sth, stw, cross):
    """For a tap whose first lane in the fold is ``lane`` (element ``t``, channel ``ch``): mark in ``cross`` its
    lanes where the element of some reader ``(i, j)`` (``-i_up <= i <= i_down``, ``-j_left <= j <= j_right``:
    tap ``+ i * sth`` filter rows ``+ j * stw`` columns) starts a row fold. Lane ``l`` reads channel ``ch + l -
    lane``, its reader's element ``t + l - lane + (i * sth * FW + j * stw) * Ch``."""
    for l in range(lane, min(n, lane + Ch - ch)):
        cross[l] = False
    for i in range(-i_up, i_down + 1):
        for j in range(-j_left, j_right + 1):
            l = lane + (-(t + (i * sth * FW + j * stw) * Ch)) % R
            if l < n:
                cross[l] = True


@njit(cache=True, inline="always")
def _copy_lane(rects, first, nr, lane, R):
    """Lane ``lane``'s rectangles as lane ``lane - 1``'s moved by ``R + 1`` (one row and one lane; a first use stays
    one): the lane before reads the same tap, one channel less, and none of its readers' elements starts a row
    fold in between, so every position, its own and its readers', lies ``R + 1`` later. The new count."""
    for r in range(first[lane - 1], first[lane]):
        rects[nr, 0] = lane
        for q in range(1, 5):
            rects[nr, q] = rects[r, q]
        rects[nr, 5] = rects[r, 5] + (R + 1) if rects[r, 5] != _NEVER else _NEVER
        nr += 1
    return nr


@njit(cache=True)
def _fold_rects(f, n, R, Ch, FH, FW, L, N, Eh, Ew, sth, stw, gh, gw, k, lA, lB, edge, rects, first, cross):
    """The accesses of row fold ``f`` (``n`` lanes) as rectangles of output rows x columns, each in every image, one
    lane each, inside which a use's previous use lies a fixed distance back: ``base + p * R`` for pixel ``p``, so
    the access is fetched iff ``p < ceil((es - base) / R)`` (a prefix of the rectangle's pixels). The previous uses
    are those of the module docstring: one filter column left in the same row (columns ``< Ew - gw``), else a
    filter row up at the word's last valid column (rows ``< Eh - gh``; by how many column steps right that column
    lies), else none in the sweep (the first sweep: before every epoch) or the word's last reader a sweep earlier
    (by row and column steps). With ``edge`` each lane's rectangles are cut to its valid output rows / columns
    (``lA``, ``lB``). Rows of ``rects``: ``(lane, oh0, oh1, ow0, ow1, base)``, lane ``l``'s from ``first[l]`` to
    ``first[l + 1]``; returns how many. A lane reading the same tap as the lane before, one channel on, takes that
    lane's rectangles moved by ``R + 1`` where none of its readers' elements starts a row fold between the two
    (``cross``, scratch of ``R``: as in :func:`_fold_rects_any`)."""
    nr = 0
    inv_r = 1.0 / R
    t = f * R
    tap = t // Ch
    ch = t - tap * Ch - 1
    kh = tap // FW
    kw = tap - kh * FW
    for lane in range(n):
        first[lane] = nr
        kh, kw, ch = _odometer(kh, kw, ch, FW, Ch)  # the lane's window element f * R + lane
        tap = kh * FW + kw
        if lane == 0 or ch == 0:
            _mark_crossings(f * R + lane, lane, n, Ch, ch, R, FW, kh // sth, kw // stw, (FH - 1 - kh) // sth,
                            (FW - 1 - kw) // stw, sth, stw, cross)
        elif not cross[lane]:
            nr = _copy_lane(rects, first, nr, lane, R)
            continue
        A = Eh
        B = Ew
        if edge:
            A = lA[lane]
            B = lB[lane]
        mw = FW - 1 - kw if stw == 1 else (FW - 1 - kw) // stw
        mh = FH - 1 - kh if sth == 1 else (FH - 1 - kh) // sth
        cs = 0  # columns [0, cs): the use one filter column left
        if kw >= stw:
            cs = max(0, Ew - gw)
            nr = _rect_add(rects, nr, lane, 0, Eh, 0, cs, _tap_pos_f(tap - stw, ch, Ch, R, L, inv_r) + gw * R, A, B)
        c1 = max(cs, min(Ew, mw * gw))  # columns [cs, c1) by their column step, [c1, Ew) the lane's last one
        up = max(0, Eh - gh) if kh >= sth else 0  # rows [0, up): the use a filter row up
        if up > 0:
            nr = _column_rects(rects, nr, lane, 0, up, cs, c1, mw, Ew, gw, stw, (kh - sth) * FW + kw, ch, Ch, R, L,
                               inv_r, gh * Ew * R, A, B)
        if k == 0:
            nr = _rect_add(rects, nr, lane, up, Eh, cs, Ew, _NEVER, A, B)
            continue
        for i in range(mh + 1):
            r0 = max(up, i * gh)
            r1 = (i + 1) * gh if i < mh else Eh
            if r1 <= r0:
                continue
            nr = _column_rects(rects, nr, lane, r0, r1, cs, c1, mw, Ew, gw, stw, (kh + i * sth) * FW + kw, ch, Ch, R,
                               L, inv_r, -i * gh * Ew * R - N, A, B)
    first[n] = nr
    return nr


@njit(cache=True, inline="always")
def any_rects_cap(FH, FW, sth, stw):
    """At most how many rectangles :func:`_fold_rects_any` makes a lane: one per cell of its row bands x column
    bands (a band bound per reader step up and down each axis, and the lane's valid extent)."""
    return (2 * ((FH - 1) // sth) + 2) * (2 * ((FW - 1) // stw) + 2)


@njit(cache=True, _nrt=False)
def _bounds(cand, nc, lo_col, top, out):
    """The distinct band bounds in ``(0, top)`` of the readers' boxes (columns ``lo_col`` and ``lo_col + 1`` of
    ``cand[:nc]``), with ``0`` and ``top``, sorted into ``out``; how many."""
    out[0] = 0
    nb = 1
    for i in range(nc):
        for q in range(lo_col, lo_col + 2):
            v = cand[i, q]
            if 0 < v < top:
                j = nb
                while j > 0 and out[j - 1] > v:
                    j -= 1
                if j > 0 and out[j - 1] == v:
                    continue
                for m in range(nb, j, -1):
                    out[m] = out[m - 1]
                out[j] = v
                nb += 1
    out[nb] = top
    return nb + 1


@njit(cache=True, inline="always")
def _same_boxes(cand, prev_cand, nc):
    """Whether the first ``nc`` readers of ``cand`` and ``prev_cand`` have the same boxes (columns 1-4), in order."""
    for u in range(nc):
        for v in range(1, 5):
            if cand[u, v] != prev_cand[u, v]:
                return False
    return True


@njit(cache=True)
def _fold_rects_any(f, n, R, Ch, FH, FW, L, N, Eh, Ew, sth, stw, gh, gw, k, lA, lB, edge, rects, first, cand,
                    rb, cb, runs, keys, top, cross, qt, order):
    """:func:`_fold_rects` for any channel count, ``Ch < R`` included, where a fold may hold several taps of a
    channel and a word's readers in one fold do not come in tap order. The readers of the word that tap ``(kh,
    kw)`` reads for pixel ``(oh, ow)`` are the taps ``(kh + i * sth, kw + j * stw)``, for pixel ``(oh - i * gh, ow
    - j * gw)`` when that is an output pixel: each a fixed distance from the access (``base + p * R``, base from
    the reader's pixel-0 position and the pixel shift), valid over a box of output rows x columns. The previous
    use is the valid reader of largest position before the access: this sweep's readers that lie before it (base
    below the access's own), else the previous sweep's (``N`` earlier: those after it, then its own tap, valid
    everywhere, so the earlier ones never count), else none (the first sweep). A reader nearer the own tap along
    both axes (same signs) has a box holding this one's, so a reader counts only if it lies after all of those
    (one pass of running maxima over the (i, j) grid); the kept ones, in descending base, cut the lane's valid
    rectangle by their box bounds into row bands x column bands, each with one previous use (the first valid
    reader); equal neighbours along a band are merged, and equal consecutive bands. A lane reading the same tap as
    the lane before, one channel on, takes that lane's rectangles moved by ``R + 1`` unless one of its readers'
    elements starts a row fold in between (``cross``, :func:`_mark_crossings`). Scratch: ``cand`` (``(FH FW + 1,
    5)``), ``rb`` / ``cb`` (``2 FH + 4`` / ``2 FW + 4``), ``runs`` (``(2 FW + 4, 3)``), ``keys`` (``FH FW``),
    ``top`` (``FH FW + 1``), ``cross`` (``R``), ``qt`` (``(FH FW, 9)``: a tap's reader table), ``order``
    (``FH FW``). Same outputs as :func:`_fold_rects` where both apply."""
    nr = 0
    inv_r = 1.0 / R
    nq = 0
    # the lane before's kept readers (key and box, descending keys) while they are distinct: a lane of the same tap
    # whose kept readers have the same boxes in the same order has the same bands, each with its reader's new key
    prev_cand = np.empty((FH * FW + 1, 5), np.int64)
    prev_nc = -1  # (-1: none to compare with)
    for lane in range(n):
        first[lane] = nr
        t = f * R + lane
        tap = t // Ch
        ch = t - tap * Ch
        kh = tap // FW
        kw = tap - kh * FW
        A = Eh
        B = Ew
        if edge:
            A = lA[lane]
            B = lB[lane]
        if lane == 0 or ch == 0:
            # a new tap: its readers (i, j) in a table, q = iu * nj + ju (element offset, pixel shift in positions,
            # box, the readers one step nearer the own tap along each axis, or the slot `none` holding _NONE), and
            # the order of the running maxima below (0, 1, .., then -1, -2, .. along each axis)
            ia = kh // sth
            ja = kw // stw
            ni = ia + (FH - 1 - kh) // sth + 1
            nj = ja + (FW - 1 - kw) // stw + 1
            nq = ni * nj
            none = nq
            m = 0
            for oi in range(ni):
                iu = ia + oi if oi <= ni - 1 - ia else ia - (oi - (ni - 1 - ia))
                i = iu - ia
                for oj in range(nj):
                    ju = ja + oj if oj <= nj - 1 - ja else ja - (oj - (nj - 1 - ja))
                    j = ju - ja
                    q = iu * nj + ju
                    order[m] = q
                    m += 1
                    qt[q, 0] = (i * sth * FW + j * stw) * Ch
                    qt[q, 1] = (i * gh * Ew + j * gw) * R
                    qt[q, 2] = max(0, i * gh)
                    qt[q, 3] = min(A, Eh + i * gh)
                    qt[q, 4] = max(0, j * gw)
                    qt[q, 5] = min(B, Ew + j * gw)
                    qt[q, 6] = none if i == 0 else (q - nj if i > 0 else q + nj)
                    qt[q, 7] = none if j == 0 else (q - 1 if j > 0 else q + 1)
                    qt[q, 8] = qt[q, 3] > qt[q, 2] and qt[q, 5] > qt[q, 4]
            top[none] = _NONE
            _mark_crossings(t, lane, n, Ch, ch, R, FW, ia, ja, ni - 1 - ia, nj - 1 - ja, sth, stw, cross)
        elif not cross[lane]:
            # the rectangles of the lane before, moved by R + 1 (in the same order: every key moves alike)
            nr = _copy_lane(rects, first, nr, lane, R)
            for u in range(max(prev_nc, 0)):
                prev_cand[u, 0] += R + 1
            continue
        # each reader's sort key (its base; the previous sweep's N lower), _NONE where it reads nothing before.
        # Element e in fold e // R, lane e % R sits at (fold * L + R + lane) * R + lane for pixel 0, which is
        # fold * R * (L - R - 1) + R * R + e * (R + 1)
        own = f * R * (L - R - 1) + R * R + t * (R + 1)
        for q in range(nq):
            key = _NONE
            if qt[q, 8]:
                e = t + qt[q, 0]
                key = _fdiv(e, R, inv_r) * R * (L - R - 1) + R * R + e * (R + 1) - qt[q, 1]
                if key >= own:
                    key = key - N if k >= 1 else _NONE  # (a later reader: the previous sweep's)
            keys[q] = key
        # a reader nearer the own tap along both axes (same signs) has a box holding this one's: this one counts
        # only if it lies after all of those (its key above their maximum, kept in `top`), and those are few
        nc = np.int64(0)  # (not a literal: _bounds would compile twice)
        for m in range(nq):
            q = order[m]
            dom = max(top[qt[q, 6]], top[qt[q, 7]])
            key = keys[q]
            top[q] = max(dom, key)
            if key > dom:
                u = nc
                while u > 0 and cand[u - 1, 0] < key:
                    for v in range(5):
                        cand[u, v] = cand[u - 1, v]
                    u -= 1
                cand[u, 0] = key
                for v in range(1, 5):
                    cand[u, v] = qt[q, v + 1]
                nc += 1
        distinct = True
        for u in range(1, nc):
            distinct = distinct and cand[u - 1, 0] > cand[u, 0]
        if not distinct:
            prev_nc = -1
        elif lane > 0 and ch > 0 and nc == prev_nc and _same_boxes(cand, prev_cand, nc):
            # the lane before read the same tap and kept readers of the same boxes in the same order: its bands,
            # each cell's reader's key now (distinct keys: a base names one reader)
            for r in range(first[lane - 1], first[lane]):
                rects[nr, 0] = lane
                for v in range(1, 5):
                    rects[nr, v] = rects[r, v]
                base = rects[r, 5]
                if base != _NEVER:
                    for u in range(nc):
                        if prev_cand[u, 0] == base:
                            base = cand[u, 0]
                            break
                rects[nr, 5] = base
                nr += 1
            for u in range(nc):
                prev_cand[u, 0] = cand[u, 0]
            continue
        else:
            prev_nc = nc
            for u in range(nc):
                for v in range(5):
                    prev_cand[u, v] = cand[u, v]
        n_rb = _bounds(cand, nc, np.int64(1), A, rb)  # (not literals: it would compile twice)
        n_cb = _bounds(cand, nc, np.int64(3), B, cb)
        prev0 = nr  # the previous band's rectangles: [prev0, nr)
        prev_n = 0
        for a in range(n_rb - 1):
            ra = rb[a]
            n_runs = 0
            for b in range(n_cb - 1):
                ca = cb[b]
                base = _NEVER
                for i in range(nc):
                    if cand[i, 1] <= ra < cand[i, 2] and cand[i, 3] <= ca < cand[i, 4]:
                        base = cand[i, 0]
                        break
                if n_runs > 0 and runs[n_runs - 1, 2] == base:
                    runs[n_runs - 1, 1] = cb[b + 1]
                else:
                    runs[n_runs, 0] = ca
                    runs[n_runs, 1] = cb[b + 1]
                    runs[n_runs, 2] = base
                    n_runs += 1
            same = n_runs == prev_n
            for q in range(n_runs):
                if not same:
                    break
                same = (rects[prev0 + q, 3] == runs[q, 0] and rects[prev0 + q, 4] == runs[q, 1]
                        and rects[prev0 + q, 5] == runs[q, 2])
            if same:
                for q in range(n_runs):
                    rects[prev0 + q, 2] = rb[a + 1]
                continue
            prev0 = nr
            prev_n = n_runs
            for q in range(n_runs):
                rects[nr, 0] = lane
                rects[nr, 1] = ra
                rects[nr, 2] = rb[a + 1]
                rects[nr, 3] = runs[q, 0]
                rects[nr, 4] = runs[q, 1]
                rects[nr, 5] = runs[q, 2]
                nr += 1
    first[n] = nr
    return nr


@njit(cache=True)
def _rect_prevs(rects, nr, rowstart, n, npx, R, Ew, per, batch, edge, out):
    """A walked fold's previous uses from its rectangles (:func:`_fold_rects_any`), in position order into ``out``
    (the slot of pixel ``p``, lane ``l`` as in :func:`_fold_prevs`); with ``edge`` the slots no rectangle covers
    hold :data:`_NO_ACCESS`."""
    if edge:
        out[:n * npx] = _NO_ACCESS
    for r in range(nr):
        lane = rects[r, 0]
        base = rects[r, 5]
        for b in range(batch):
            for oh in range(rects[r, 1], rects[r, 2]):
                p0 = b * per + oh * Ew
                for p in range(p0 + rects[r, 3], p0 + rects[r, 4]):
                    x = p + lane
                    out[rowstart[x] + (lane if x < npx else npx - 1 - p)] = base + p * R


@njit(cache=True, inline="always")
def _rect_count(img, oh, ow, oh0, oh1, ow0, ow1):
    """Pixels before pixel ``(img, oh, ow)`` (raster order) inside the rectangle ``[oh0, oh1) x [ow0, ow1)`` of
    each image."""
    c = (img * (oh1 - oh0) + min(max(oh, oh0), oh1) - oh0) * (ow1 - ow0)
    if oh0 <= oh < oh1:
        c += min(max(ow, ow0), ow1) - ow0
    return c


@njit(cache=True, inline="always")
def _split_pixel(q, Ew, per, inv_ew, inv_per):
    """Pixel ``q`` (``0 <= q < 2**52``; raster order over images of ``per`` pixels, rows of ``Ew``) as ``(image, row,
    column)`` (``inv_ew``, ``inv_per``: ``1.0 / Ew``, ``1.0 / per`` for :func:`_fdiv`)."""
    img = 0
    if q >= per:
        img = _fdiv(q, per, inv_per)
    r = q - img * per
    oh = _fdiv(r, Ew, inv_ew)
    return img, oh, r - oh * Ew


@njit(cache=True, inline="always")
def _rect_before(q, oh0, oh1, ow0, ow1, Ew, per, inv_ew, inv_per):
    """Pixels ``< q`` inside the rectangle ``[oh0, oh1) x [ow0, ow1)`` of each image (:func:`_split_pixel`)."""
    img, oh, ow = _split_pixel(q, Ew, per, inv_ew, inv_per)
    return _rect_count(img, oh, ow, oh0, oh1, ow0, ow1)


@njit(cache=True, inline="always")
def _slot_valid(lane, img, oh, ow, edge):
    """Whether the slot of ``lane`` at pixel ``(img, oh, ow)`` holds an access (always, windows inside)."""
    if edge is not None:
        return oh < edge[0][lane] and ow < edge[1][lane]
    return True


@njit(cache=True, _nrt=False)
def _hits_before(x, npx, rects, open_, n_open, live, live_end, lo, cut_cnt, lane_hits, Ew, per, inv_ew, inv_per):
    """Hits of a counted fold on its rows before ``R + x`` not yet counted (:func:`_counted_fold`), from its lanes
    with a rectangle the epoch start cuts (``open_[:n_open]``, ascending): lane ``l``'s pixels in ``[lo[l], x -
    l)`` inside each of its rectangles at or above the rectangle's cut, i.e. ``count below x - l`` less ``count below
    the cut`` (``cut_cnt``, the cut at least ``lo``); a lane past its last pixel counts ``lane_hits``. A lane's
    rectangles come in rising first rows (:func:`_fold_rects`, :func:`_fold_rects_any`), so in the first image
    those starting below the pixel's row add nothing and end the lane; a lane's pixel one before the one split last
    is stepped back rather than divided again."""
    tot = 0
    img = oh = ow = 0
    q_prev = -2  # the pixel split last (-2: none)
    for i in range(n_open):
        lane = open_[i]
        q = x - lane
        if q <= lo[lane]:
            continue
        if q >= npx:
            tot += lane_hits[lane]
            continue
        if q == q_prev - 1:
            ow -= 1
            if ow < 0:
                ow = Ew - 1
                oh -= 1
                if oh < 0:
                    oh = per // Ew - 1
                    img -= 1
        else:
            img, oh, ow = _split_pixel(q, Ew, per, inv_ew, inv_per)
        q_prev = q
        for t in range(live_end[i - 1] if i > 0 else 0, live_end[i]):
            r = live[t]
            if img == 0 and rects[r, 1] > oh:
                break
            c = _rect_count(img, oh, ow, rects[r, 1], rects[r, 2], rects[r, 3], rects[r, 4]) - cut_cnt[r]
            if c > 0:
                tot += c
    return tot


@njit(cache=True)
def _counted_fold(rects, first, nr, f, n, npx, R, L, Ew, per, k, block, got, n_in, since, es, ev_k, ev_x, ev_g, n_ev,
                  sw_ev, cut, lo, cut_cnt, lane_hits, thr, open_, live, live_end, edge):
    """A row fold whose accesses are not all fetched (:func:`ws_fold_pass`), counted by its rectangles
    (:func:`_fold_rects`) without visiting an access: under an epoch start ``es`` a rectangle's fetches are the
    prefix of its pixels below ``cut = ceil((es - base) / R)``, its hits the rest. A lane whose rectangles' previous
    uses all lie before ``es`` fetches every access; as ``es`` only grows within the fold, once such a lane always
    such a lane. So the fetches on the fold's rows before a row are its accesses there (O(1), O(runs) past the
    edge: :func:`_before_row`, :func:`_before_row_edge`) less the hits of the other lanes (*open* lanes,
    :func:`_hits_before`), and the row holding an epoch's last fetch is found by searching that monotone count
    (regula falsi with the Illinois step, a bisection where it stalls), then its lanes in order. Per epoch end the
    work is the open lanes' and their rectangles', not the fold's. Returns the state as :func:`_closed_fold`. ``cut`` / ``cut_cnt`` (per
    rectangle, the cut and the pixels below it), ``lo`` (per lane, the first pixel not yet counted), ``lane_hits``
    (per lane, its hits not yet counted), ``thr`` (per lane, the epoch start from which it fetches every access),
    ``open_`` (the open lanes) and ``live`` / ``live_end`` (the open lanes' rectangles not fetched whole, open lane
    ``i``'s ending at ``live_end[i]``: the only ones the search's counts visit) are scratch arrays; ``edge``:
    ``(lA, lB, pair_a, pair_b, run_l0, run_l1, run_g, tabs)`` for a fold with slots past the input edge
    (:func:`_lane_extents`, :func:`_edge_tables`; its runs of lanes, :func:`_fold_runs`, made at its first epoch
    end), None where the windows lie inside."""
    zero = np.int64(0)  # (the state after an epoch end: nothing in the new epoch)
    x_end = npx + n - 1  # the fold's rows R .. R + x_end - 1 hold its accesses
    inv_r = 1.0 / R
    inv_ew = 1.0 / Ew
    inv_per = 1.0 / per
    n_open = n  # (every lane at first; the first epoch's pass sets thr and keeps the open ones)
    thr_set = False
    images = npx // per
    n_runs = -1  # (past the edge: the fold's runs of lanes, made when a search first needs them)
    if edge is not None:
        run_l0, run_l1, run_g, tabs = edge[4], edge[5], edge[6], edge[7]
        all_acc = 0
        for lane in range(n):
            all_acc += edge[0][lane] * edge[1][lane]
        all_acc *= images
    else:
        all_acc = _before_row(x_end, n, npx)
    x0 = 0  # the last epoch end in the fold: row R + x0, lane le (none: row R, lane -1)
    le = -1
    counted = 0  # accesses counted: those on rows before R + x0 and on row R + x0 up to lane le
    rows_epoch = 0  # rows of the fold the last whole epoch in it took (0: none yet)
    since_fold = False  # an epoch ended in this fold
    while True:
        needed = block - n_in
        kept = np.int64(0)  # (not a literal 0: _hits_before would compile again for it)
        hits = 0
        for i in range(n_open):
            lane = open_[i] if thr_set else i
            if thr_set and es >= thr[lane]:
                continue  # (from now on it fetches every access)
            q = min(npx, max(0, x0 - lane + (lane <= le)))
            lo[lane] = q
            img = oh = ow = 0
            if q > 0:
                img, oh, ow = _split_pixel(q, Ew, per, inv_ew, inv_per)  # (once a lane, not once a rectangle)
            s = 0
            top = _NEVER
            for r in range(first[lane], first[lane + 1]):
                top = max(top, rects[r, 5])
                area = (rects[r, 2] - rects[r, 1]) * (rects[r, 4] - rects[r, 3]) * images
                y = es - rects[r, 5] + R - 1  # (the cut: ceil((es - base) / R), within [lo, npx])
                if y >= npx * R:  # every previous use before the epoch: all its pixels fetched
                    cut[r] = npx
                    cut_cnt[r] = area
                    continue
                c = max(q, _fdiv(y, R, inv_r) if y > 0 else 0)
                cut[r] = c
                if c == q:
                    cut_cnt[r] = 0
                    if q > 0:
                        cut_cnt[r] = _rect_count(img, oh, ow, rects[r, 1], rects[r, 2], rects[r, 3], rects[r, 4])
                else:
                    cut_cnt[r] = _rect_before(c, rects[r, 1], rects[r, 2], rects[r, 3], rects[r, 4], Ew, per, inv_ew,
                                              inv_per)
                s += area - cut_cnt[r]
            if not thr_set:
                # every previous use of the lane's last pixel (npx - 1) before es: es - top + R - 1 >= npx * R
                thr[lane] = top + (npx - 1) * R + 1 if top != _NEVER else _NEVER
                if es >= thr[lane]:
                    continue  # (its rectangles all fetched whole: no hits)
            open_[kept] = lane
            kept += 1
            lane_hits[lane] = s
            hits += s
        n_open = kept
        thr_set = True
        valid = all_acc - counted  # the accesses not yet counted (slots past the input edge hold none)
        total = valid - hits
        if total < needed:
            return got + total, n_in + total, since + valid, es, ev_k, ev_x, ev_g, n_ev, -1, 0
        # the open lanes' rectangles not fetched whole, which alone the search's counts visit: open lane i's are
        # live[live_end[i - 1]:live_end[i]]
        n_live = 0
        for i in range(n_open):
            lane = open_[i]
            for r in range(first[lane], first[lane + 1]):
                if cut[r] < npx:
                    live[n_live] = r
                    n_live += 1
            live_end[i] = n_live
        # the smallest x in (x0, x_end] with needed fetches before row R + x: F(a) < needed <= F(b)
        a = x0
        fa = 0
        b = x_end
        ga = 0.5 - needed  # F - needed + 1/2: negative at a, positive at b
        gb = total - needed + 0.5
        side = 0
        stall = 0
        guess = rows_epoch > 0
        if edge is not None:
            if n_runs < 0:
                n_runs = _fold_runs(n, edge[0], edge[1], edge[2], edge[3], edge[4], edge[5], edge[6])
        while b - a > 1:
            w = b - a
            if guess:
                # the epoch before in this fold took rows_epoch rows for block fetches: the same rate
                x = min(max(a + (needed * rows_epoch) // block, a + 1), b - 1)
                guess = False
            elif stall >= 2:
                x = (a + b) >> 1
                stall = 0
            else:
                x = min(max(a + int(math.ceil(w * (-ga) / (gb - ga))), a + 1), b - 1)
            if edge is not None:
                fx = _before_row_edge(x, npx, run_l0, run_l1, run_g, n_runs, tabs)
            else:
                fx = _before_row(x, n, npx)
            fx += -counted - _hits_before(
                x, npx, rects, open_, n_open, live, live_end, lo, cut_cnt, lane_hits, Ew, per, inv_ew, inv_per)
            if fx >= needed:
                b = x
                gb = fx - needed + 0.5
                if side == -1:
                    ga *= 0.5  # (Illinois: a kept twice)
                side = -1
            else:
                a = x
                fa = fx
                ga = fx - needed + 0.5
                if side == 1:
                    gb *= 0.5
                side = 1
            stall = stall + 1 if 2 * (b - a) > w else 0
        # the epoch's last fetch lies on row R + a: its lanes in order (an open lane's pixel by its rectangle)
        cnt = fa
        le_new = -1
        on_row = 0  # the accesses on row R + a up to lane le_new
        i = 0
        for lane in range(max(0, a - npx + 1), min(n, a + 1)):
            p = a - lane
            while i < n_open and open_[i] < lane:
                i += 1
            is_open = i < n_open and open_[i] == lane
            if is_open or edge is not None:
                img, oh, ow = _split_pixel(p, Ew, per, inv_ew, inv_per)
                if not _slot_valid(lane, img, oh, ow, edge):
                    continue
            on_row += 1
            if a == x0 and lane <= le:
                continue  # (counted before the last epoch end)
            if is_open:
                for r in range(first[lane], first[lane + 1]):
                    if rects[r, 1] <= oh < rects[r, 2] and rects[r, 3] <= ow < rects[r, 4]:
                        cnt += p < cut[r]
                        break
            else:
                cnt += 1
            if cnt == needed:
                le_new = lane
                break
        pos = (f * L + R + a) * R + le_new
        got += needed
        if n_ev == ev_k.shape[0]:
            ev_k, ev_x, ev_g = _grow(ev_k), _grow(ev_x), _grow(ev_g)
        n_ev, e0, jj = _end_epoch(ev_k, ev_x, ev_g, n_ev, k, pos, got, sw_ev)
        n_in = since = zero
        es = pos + 1
        if e0 >= 0:
            return got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, e0, jj
        # accesses after (row R + a, lane le_new) remain
        if since_fold:
            rows_epoch = a - x0  # (the fold's rows this epoch took: the next epoch's first guess)
        since_fold = True
        if edge is not None:
            counted = _before_row_edge(a, npx, run_l0, run_l1, run_g, n_runs, tabs) + on_row
        else:
            counted = _before_row(a, n, npx) + on_row
        x0 = a
        le = le_new


@njit(cache=True)
def ws_fold_pass(R, C, batch, Ch, FH, FW, sth, stw, gh, gw, Eh, Ew, nfilt, block, within, across, rows_ok, cols_ok):
    """The ifmap pass of a ws array by row folds (module docstring): ``(stats, event rows, fetches per sweep)`` as
    :func:`accelsim.hw.systolic._kernels.reuse_read_pass`. ``sth`` / ``stw``: taps between a word's readers along
    each axis, ``gh`` / ``gw``: output rows / columns between them (:func:`reader_steps`); ``within`` / ``across``:
    :func:`fold_reuse_bounds` (int64 arrays); ``rows_ok`` / ``cols_ok``: :func:`valid_extents`, or both None
    when the windows lie inside the input (that version compiles none of the edge code). ``block > 0``,
    every entry of ``rows_ok`` / ``cols_ok`` at least 1. With ``Ch < R`` a fold's rectangles come from
    :func:`_fold_rects_any` (the bounds are then zeros: no fold is counted in closed form). A counted fold's
    rectangles are the fold before's moved by one fold where every lane reads the same tap, and from the third
    sweep on the second sweep's, kept."""
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    _, _, _, L, row_fold, n_sweeps = _dims(1, npx, win, nfilt, R, C)
    rows_sweep = row_fold * L
    N = rows_sweep * R  # positions of a sweep
    per = Eh * Ew
    # folds with a lane whose tap reads past the input edge for some pixels (their empty slots are left out).
    # Windows inside the input come with rows_ok None: every branch on it is pruned when Numba compiles that
    # version, so a network whose windows lie inside compiles none of the edge code
    lA = np.empty(R, np.int64)
    lB = np.empty(R, np.int64)
    edge = np.zeros(row_fold, np.bool_)
    run_l0 = np.empty(R, np.int64)
    run_l1 = np.empty(R, np.int64)
    run_g = np.empty(R, np.int64)
    if rows_ok is not None:
        pair_a, pair_b, tabs = _edge_tables(row_fold, R, Ch, FH, FW, win, Eh, Ew, npx, rows_ok, cols_ok, lA, lB, edge)
    # per pixel: output row and column, and how many reader steps (output rows / columns ``gh`` / ``gw``) fit
    # before them: how far up / left a word's later readers can lie (filled when a fold is first walked)
    oh_ = np.empty(npx, np.int64)
    ow_ = np.empty(npx, np.int64)
    ohq = np.empty(npx, np.int64)
    owq = np.empty(npx, np.int64)
    pixel_tables = False
    # per lane of the fold being walked: previous use's position at pixel 0 (same filter row; a row up, by how
    # many column steps back its last valid column lies; last reader in the previous sweep, by row / column steps)
    has_s = np.zeros(R, np.bool_)
    pos_s = np.zeros(R, np.int64)
    has_u = np.zeros(R, np.bool_)
    pos_u = np.zeros(R * FW, np.int64)  # lane * FW + column steps
    mw_ = np.zeros(R, np.int64)
    mh_ = np.zeros(R, np.int64)
    pos_l = np.zeros(R * FH * FW, np.int64)  # (lane * FH + row steps) * FW + column steps
    # a counted fold's rectangles (at most 2 + FW + FH x FW a lane) and scratch arrays (_counted_fold)
    # (fewer channels than rows: any number of readers of a word in one fold, _fold_rects_any and its scratch)
    general = Ch < R
    lane_cap = 2 + FW + FH * FW
    if general:
        lane_cap = any_rects_cap(FH, FW, sth, stw)
    rects = np.empty((R * lane_cap, 6), np.int64)
    cand = np.empty((FH * FW + 1, 5), np.int64)
    rb = np.empty(2 * FH + 4, np.int64)
    cb = np.empty(2 * FW + 4, np.int64)
    runs = np.empty((2 * FW + 4, 3), np.int64)
    keys = np.empty(FH * FW, np.int64)
    top = np.empty(FH * FW + 1, np.int64)
    cross = np.empty(R, np.bool_)
    qt = np.empty((FH * FW, 9), np.int64)
    order = np.empty(FH * FW, np.int64)
    # the rectangles of the second sweep's counted folds, kept for the later sweeps
    store = np.empty((R * 16 if n_sweeps > 2 else 0, 6), np.int64)
    store_first = np.empty((row_fold if n_sweeps > 2 else 0, R + 1), np.int64)
    store_at = np.full(row_fold, -1, np.int64)
    store_used = 0
    first = np.empty(R + 1, np.int64)
    fold_nr = np.full(row_fold, -1, np.int64)  # per fold, its rectangles from the second sweep on
    cut = np.empty(rects.shape[0], np.int64)
    lo = np.empty(R, np.int64)
    cut_cnt = np.empty(rects.shape[0], np.int64)
    lane_hits = np.empty(R, np.int64)
    thr = np.empty(R, np.int64)
    open_ = np.empty(R, np.int64)
    live = np.empty(rects.shape[0], np.int64)
    live_end = np.empty(R, np.int64)
    rowstart = np.empty(npx + R, np.int64)  # a walked fold's first access on each row
    rowstart_n = -1  # the lane count rowstart holds
    scratch = np.empty(R * npx, np.int64)  # its accesses' previous uses
    # the later sweeps' previous uses of the folds the bounds call walked, kept from their first walk
    kept_at = np.full(row_fold, -1, np.int64)
    kept_done = np.zeros(row_fold, np.bool_)
    n_kept = 0
    if n_sweeps > 1 and not general:  # (fewer channels than rows: few folds walked, each listed again)
        for f in range(row_fold):
            if min(within[f], across[f]) < block:
                kept_at[f] = n_kept
                n_kept += min(R, win - f * R) * npx
    kept = np.empty(n_kept, np.int64)
    ev_k = np.empty(256, np.int64)
    ev_x = np.empty(256, np.int64)  # an epoch end's position within its sweep
    ev_g = np.empty(256, np.int64)  # its sweep's fetches up to and including it
    sw_ev = np.zeros(n_sweeps + 1, np.int64)
    sw_got = np.zeros(n_sweeps, np.int64)
    # (np.int64, not literal 0s: a literal reaching _closed_fold, _walked_fold or _end_epoch first would compile
    # each of them, and _put_event, a second time)
    n_ev = np.int64(0)
    fetched = 0
    n_in = np.int64(0)  # fetches in the current epoch
    since = np.int64(0)  # accesses since the epoch began (== n_in: every one fetched)
    es = np.int64(0)  # the epoch's first position (relative to the current sweep)
    period = 0
    e0 = -1  # an epoch end of a sweep >= 2 where sweep jj >= 1 ended one (-1: none)
    jj = 0
    nr = 0  # the rectangles made for the current fold
    rects_at = -1  # the fold (k * row_fold + f) whose rectangles `rects` holds
    for k in range(n_sweeps):
        sw_ev[k] = n_ev
        got = np.int64(0)
        repeated = False
        for f in range(row_fold):
            n = min(R, win - f * R)
            m = n * npx
            if rows_ok is not None:
                if edge[f]:
                    _lane_extents(f, n, R, Ch, FW, rows_ok, cols_ok, lA, lB)
            if (k == 0 and f == 0 and not general) or (
                    since == n_in and (within[f] if k == 0 else min(within[f], across[f])) >= block):
                # every access fetched: an epoch end every `block`
                counted = False
                if rows_ok is not None:
                    if edge[f]:
                        n_runs = _fold_runs(n, lA, lB, pair_a, pair_b, run_l0, run_l1, run_g)
                        got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, e0, jj = _closed_fold(
                            f, n, npx, R, L, k, block, got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, sw_ev,
                            (lA, lB, Ew, per, run_l0, run_l1, run_g, n_runs, tabs))
                        counted = True
                if not counted:
                    got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, e0, jj = _closed_fold(
                        f, n, npx, R, L, k, block, got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, sw_ev, None)
            else:
                # counted by its rectangles (_counted_fold) where that pays, else walked; from the second sweep on a
                # fold has the same rectangles every sweep, so their count decides before they are made
                cost = walk_cost(k >= 1 and kept_at[f] >= 0 and kept_done[f], k >= 1 and kept_at[f] >= 0,
                                 n_sweeps - k)
                counted = k == 0 or fold_nr[f] < 0 or counted_pays(fold_nr[f], m, block, cost)
                built = False
                if counted:
                    if k >= 1 and store_at[f] >= 0:
                        # the same rectangles as the second sweep's (kept: they cost more to make than to copy)
                        nr = fold_nr[f]
                        rects[:nr] = store[store_at[f]:store_at[f] + nr]
                        first[:n + 1] = store_first[f, :n + 1]
                    else:
                        if (rects_at == k * row_fold + f - 1 and n == R
                                and (f - 1) * R // Ch == (f * R + R - 1) // Ch):
                            # the fold before, of this sweep, read the same tap in every lane, R channels less:
                            # every position, the lane's own and its readers', lies one fold (L rows) later
                            for r in range(nr):
                                if rects[r, 5] != _NEVER:
                                    rects[r, 5] += L * R
                        elif general:
                            nr = _fold_rects_any(f, n, R, Ch, FH, FW, L, N, Eh, Ew, sth, stw, gh, gw, k, lA, lB,
                                                 rows_ok is not None and edge[f], rects, first, cand, rb, cb, runs,
                                                 keys, top, cross, qt, order)
                        else:
                            nr = _fold_rects(f, n, R, Ch, FH, FW, L, N, Eh, Ew, sth, stw, gh, gw, k, lA, lB,
                                             rows_ok is not None and edge[f], rects, first, cross)
                        if k >= 1 and n_sweeps > 2:
                            if store_used + nr > store.shape[0]:
                                grown = np.empty((2 * store.shape[0] + nr, 6), np.int64)
                                grown[:store_used] = store[:store_used]
                                store = grown
                            store[store_used:store_used + nr] = rects[:nr]
                            store_first[f, :n + 1] = first[:n + 1]
                            store_at[f] = store_used
                            store_used += nr
                    built = True
                    rects_at = k * row_fold + f
                    if k >= 1:
                        fold_nr[f] = nr
                    counted = counted_pays(nr, m, block, cost)
                if counted:
                    # count the fold by its rectangles of equal reuse distance
                    counted_e = False
                    if rows_ok is not None:
                        if edge[f]:
                            got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, e0, jj = _counted_fold(
                                rects, first, nr, f, n, npx, R, L, Ew, per, k, block, got, n_in, since, es, ev_k,
                                ev_x, ev_g, n_ev, sw_ev, cut, lo, cut_cnt, lane_hits, thr, open_, live,
                                live_end, (lA, lB, pair_a, pair_b, run_l0, run_l1, run_g, tabs))
                            counted_e = True
                    if not counted_e:
                        got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, e0, jj = _counted_fold(
                            rects, first, nr, f, n, npx, R, L, Ew, per, k, block, got, n_in, since, es, ev_k, ev_x,
                            ev_g, n_ev, sw_ev, cut, lo, cut_cnt, lane_hits, thr, open_, live, live_end, None)
                else:
                    # walk the fold's accesses in position order, each previous use from the geometry; from the
                    # second sweep on the same for every sweep: a fold the bounds call walked keeps them after its
                    # first walk
                    if not pixel_tables:
                        for p in range(npx):
                            q = p % per
                            oh_[p] = q // Ew
                            ow_[p] = q - oh_[p] * Ew
                            ohq[p] = oh_[p] // gh
                            owq[p] = ow_[p] // gw
                        pixel_tables = True
                    if n != rowstart_n:  # (it depends on the lane count alone: R, or the last fold's)
                        for x in range(npx + n):
                            rowstart[x] = _before_row(x, n, npx)
                        rowstart_n = n
                    if k >= 1 and kept_at[f] >= 0:
                        prev = kept[kept_at[f]:kept_at[f] + m]
                        fresh = not kept_done[f]
                        kept_done[f] = True
                    else:
                        prev = scratch
                        fresh = True
                    if fresh and general:
                        if not built:
                            nr = _fold_rects_any(f, n, R, Ch, FH, FW, L, N, Eh, Ew, sth, stw, gh, gw, k, lA, lB,
                                                 rows_ok is not None and edge[f], rects, first, cand, rb, cb, runs,
                                                 keys, top, cross, qt, order)
                            rects_at = k * row_fold + f
                        _rect_prevs(rects, nr, rowstart, n, npx, R, Ew, per, batch, rows_ok is not None and edge[f],
                                    prev)
                    elif fresh:
                        _lane_tables(f, n, R, Ch, FH, FW, L, N, Ew, sth, stw, gh, gw, has_s, pos_s, has_u, pos_u,
                                     mw_, mh_, pos_l)
                        _fold_prevs(n, npx, R, FH, FW, Ew, Eh, gh, gw, k, rowstart, oh_, ow_, ohq, owq, has_s,
                                    pos_s, has_u, pos_u, mw_, mh_, pos_l, prev)
                        if rows_ok is not None:
                            if edge[f]:
                                _mark_no_access(prev, rowstart, n, npx, batch, Eh, Ew, lA, lB)
                    got, n_in, since, es, ev_k, ev_x, ev_g, n_ev, e0, jj = _walked_fold(
                        prev, rowstart, f, n, npx, R, L, k, block, got, n_in, since, es, ev_k, ev_x, ev_g, n_ev,
                        sw_ev, edge[f])
            if e0 >= 0:
                repeated = True
                period = k - jj
                break
        if repeated:
            # an earlier sweep jj >= 1 ended an epoch at the same position: the rest of this sweep repeats the
            # rest of that one
            ev_k, ev_x, ev_g, n_ev, got = _repeat_rest(ev_k, ev_x, ev_g, n_ev, k, jj, e0, got, sw_ev, sw_got)
        fetched += got
        sw_got[k] = got
        sw_ev[k + 1] = n_ev
        if repeated:
            # and so every later sweep repeats the one a period before it
            ev_k, ev_x, ev_g, n_ev, later = _repeat_later(ev_k, ev_x, ev_g, n_ev, k, period, n_sweeps, sw_ev, sw_got)
            fetched += later
            break
        es -= N
        if got == 0 and k >= 1:
            break  # the state no longer changes: later sweeps fetch nothing either
    stats = np.full(4, -1, np.int64)
    stats[0] = fetched
    stats[1] = n_ev
    if npx > 0:
        stats[2] = R
        n_last = win - (row_fold - 1) * R
        # the last fold's last access: lane l's last valid pixel lies on fold-local row R + l + that pixel
        x_last = npx + n_last - 2
        if rows_ok is not None:
            if edge[row_fold - 1]:
                _lane_extents(row_fold - 1, n_last, R, Ch, FW, rows_ok, cols_ok, lA, lB)
                x_last = 0
                for lane in range(n_last):
                    x_last = max(x_last, lane + (batch - 1) * per + (lA[lane] - 1) * Ew + lB[lane] - 1)
        stats[3] = (n_sweeps - 1) * rows_sweep + (row_fold - 1) * L + R + x_last
    return stats, ev_k[:n_ev] * rows_sweep + ev_x[:n_ev] // R, sw_got
