"""A whole CALC-mode unit of the systolic model: its passes composed (docs/models/systolic.md §3.3).

A plain Python function, not a kernel: it picks one kernel per buffer (the OFMAP events, the ifmap's
closed form, channel groups or reuse-distance scan, the filters' distinct pass), so a first run compiles
only the passes its layers need. The kernels live in ``_kernels.py``, ``_group_reuse.py`` and
``_ifmap_fit.py``; this module imports them (they import none of it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from accelsim.errors import SimulationError

from ._aot import kernels
from ._group_reuse import _jit as _group_kernels
from ._group_reuse import (_INT32, groups_fit_int32, os_groups_pay, os_reuse_pass, ws_is_groups_pay,
                           ws_is_reuse_pass)
from ._ifmap_fit import calc_unit_fit, fitted_words
from ._is_epochs import blocks_first, is_block_pass
from ._kernels import (calc_finish, calc_unit_distinct, conv_geometry, distinct_read_pass, ofmap_events,
                       reuse_read_pass)
from ._ws_folds import consecutive_reach, ws_fold_pass, ws_folds_plan


def calc_unit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, fi_words, of_words,
              ifmap_distinct):
    """One unit in CALC mode, every buffer (docs/models/systolic.md §3.3, §3.5), one kernel call per pass.

    The OFMAP buffer by events (:func:`~accelsim.hw.systolic._kernels.ofmap_events`, draining ``C`` words a
    cycle), then each read buffer on its own: distinct passes for the filters and for an ifmap whose windows
    neither overlap nor cross the edge (``ifmap_distinct``: the whole unit is then one call,
    :func:`~accelsim.hw.systolic._kernels.calc_unit_distinct`), the closed form of
    :mod:`accelsim.hw.systolic._ifmap_fit` for an ifmap whose distinct words end no epoch (one call too,
    :func:`~accelsim.hw.systolic._ifmap_fit.calc_unit_fit`), else the
    pass :func:`_reuse_pass` picks (channel groups, ws row folds, is pixel blocks, the reuse-distance scan); the prefetch events
    are dated on the OFMAP pass's stalls (:func:`~accelsim.hw.systolic._kernels.calc_finish`). The kernels are
    those compiled ahead of time where current (:func:`_calc_kernels`). Returns the int64 vector of
    :func:`simulate_layer` (indexed by ``R_*``).

    A plain function calling one kernel per pass: Numba compiles every kernel a kernel can call, whichever
    branch runs, so one kernel holding all three ifmap passes made a first CALC run compile all of them (a
    GEMM-only network compiled the convolution scans it never uses).
    """
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    k = _CALC.get("k") or _calc_kernels()
    if ifmap_distinct:
        return k.calc_unit_distinct(df, R, C, npx, win, nfilt, if_words, fi_words, of_words)
    distinct = fitted_words(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, if_words)
    if distinct is not None:
        return k.calc_unit_fit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, fi_words,
                               of_words, distinct)
    ofm = k.ofmap_events(df, R, C, npx, win, nfilt, of_words, C)
    st, ev = _reuse_pass(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words)
    return k.calc_finish(ofm, st, ev, df, R, C, npx, win, nfilt, if_words, fi_words)


def _reuse_pass(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words):
    """The ifmap pass of overlapping windows: ws row folds, channel groups where they pay, is pixel blocks
    (:func:`is_block_pass`, before the groups where few epoch ends are due), else the reuse-distance scan
    (:func:`reuse_read_pass`); on an os or ws array shared across column counts (:func:`_shared_ifmap`).
    Returns ``(stats, event rows)`` as :func:`reuse_read_pass`."""
    npx = batch * Eh * Ew
    win = FH * FW * Ch
    windows_inside = (Eh - 1) * sh + (FH - 1) * dh < H and (Ew - 1) * sw + (FW - 1) * dw < W

    def run():
        if df == 1 and ws_every_access_fetched(R, C, Ch, FH * FW, npx, nfilt, if_words, windows_inside,
                                               consecutive_reach(FH, FW, sh, sw, dh, dw, Ew)):
            st, ev = distinct_read_pass(df, 0, R, C, npx, win, nfilt, if_words)
            return st, ev, np.full(-(-nfilt // C), npx * win, np.int64)
        k = _CALC.get("k") or _calc_kernels()
        groups_pay = (df != 0 and ws_is_groups_pay(df, R, Ch, win, npx)
                      and groups_fit_int32(npx * win, batch * H * W * Ch))
        plan = ws_folds_plan(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, groups_pay)
        if plan is not None:
            steps, within, across, rows_ok, cols_ok = plan
            fold_pass = k.ws_fold_pass if rows_ok is None else k.ws_fold_pass_edge
            return fold_pass(R, C, batch, Ch, FH, FW, *steps, Eh, Ew, nfilt, np.int64(50 * (if_words // 100)),
                             within, across, rows_ok, cols_ok)
        if df == 0 and os_groups_pay(Ch, npx * FH * FW) and groups_fit_int32(npx * FH * FW, batch * H * W):
            return os_reuse_pass(R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, k)
        if df == 2 and (not groups_pay or blocks_first(R, C, npx, Ch, FH * FW, batch * H * W * Ch, if_words)):
            return k.is_block_pass(R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words)
        if groups_pay:
            return ws_is_reuse_pass(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, if_words, k)
        if not groups_fit_int32(npx * win, batch * H * W * Ch):  # the scan lists a sweep's accesses in int32 too
            raise SimulationError(
                f"conv {batch} x {H} x {W} x {Ch}, filter {FH} x {FW}, stride {sh} x {sw}: SCALE-Sim's CALC ifmap "
                f"replay lists {npx * win:,} accesses a sweep, over the exact scan's {_INT32:,} (and "
                f"{npx * win * 4 / 2**30:.1f} GiB); use memory_model: analytic, or a smaller batch")
        tabs = k.conv_geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
        return k.reuse_read_pass(df, R, C, npx, win, nfilt, H, W, *tabs, if_words, batch * H * W * Ch)

    if df == 2:
        return run()[:2]
    key = (df, R, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, if_words)
    return _shared_ifmap(key, df, R, C, npx, win, nfilt, run)


#: the ifmap passes of overlapping windows (:func:`_calc_kernels`)
_CALC: dict = {}


def calc_jit_kernels() -> dict:
    """The CALC kernels that may come compiled ahead of time, as the JIT has them, by export name
    (:data:`accelsim.hw.systolic._aot.GROUPS` ``calc``)."""
    return {"ofmap_events": ofmap_events, "calc_finish": calc_finish, "calc_unit_distinct": calc_unit_distinct,
            "calc_unit_fit": calc_unit_fit,
            "conv_geometry": conv_geometry, "reuse_read_pass": reuse_read_pass, "is_block_pass": is_block_pass,
            "ws_fold_pass": ws_fold_pass,
            "ws_fold_pass_edge": ws_fold_pass, **vars(_group_kernels())}


def _calc_kernels():
    """The CALC kernels compiled ahead of time when current, else the JIT's (:mod:`accelsim.hw.systolic._aot`,
    group ``calc``); once per process."""
    _CALC["k"] = kernels("calc", calc_jit_kernels())
    return _CALC["k"]


def ws_every_access_fetched(R, C, Ch, taps, npx, nfilt, words, windows_inside, reach):
    """Whether every ifmap access of a ws array is a fetch, so that its pass is the distinct pass's
    (docs/models/systolic.md §3.3, "every access fetched"): when every reuse of a word lies at least an
    epoch (``block = 50 * floor(S / 100)`` accesses) after its previous use, epochs end every ``block``
    accesses and each access's previous use lies before its epoch. Windows inside the input (every lane
    of a row fold valid; ``a`` lanes in the last fold). Element ``tap * Ch + c`` sits in row fold
    ``(tap * Ch + c) // R`` and pixel ``p``'s element in lane ``l`` on the fold's row ``p + R + l``; a
    word's next reader in tap order reads it for an earlier pixel, at most ``reach`` pixels before
    (:func:`~accelsim.hw.systolic._ws_folds.consecutive_reach`). So two uses in one
    column fold's sweep have ``Ch // R - 1`` full folds between them and, around them, the fold's
    pixels ``>= p1 + R`` after the first and ``<= p2 - R`` before the second: at least
    ``(npx - reach - 2R + 1)`` pixels of ``min(R, a)`` lanes. From a word's last use in one sweep to its
    first in the next lie ``g = row_fold - 1 - ceil((taps - 1) * Ch / R)`` folds or more (one perhaps the
    partial last) and, around them, ``npx - 2R + 1`` pixels (the first use's pixel is the later). A
    sufficient condition in O(1) (plain Python)."""
    block = 50 * (words // 100)
    if not windows_inside or block <= 0 or Ch < R:
        return False
    win = taps * Ch
    row_fold = -(-win // R)
    lanes = min(R, win - (row_fold - 1) * R)
    within = (Ch // R - 1) * npx * R + max(0, npx - reach - 2 * R + 1) * lanes
    if within < block:
        return False
    if -(-nfilt // C) == 1:
        return True
    gap = row_fold - 1 - (-(-(taps - 1) * Ch // R))
    cross = max(0, npx - 2 * R + 1) * lanes
    if gap >= 1:
        cross += ((gap - 1) * R + win - (row_fold - 1) * R) * npx
    return cross >= block


#: ifmap passes of os / ws arrays by everything but the column count (:func:`_shared_ifmap`): oldest first
_SHARED: OrderedDict = OrderedDict()
_SHARED_LOCK = threading.Lock()
SHARED_MAX = 256


def clear_shared_ifmap() -> None:
    """Forget the ifmap passes kept for other column counts (a benchmark's cold run starts empty)."""
    with _SHARED_LOCK:
        _SHARED.clear()


def _shared_ifmap(key, df, R, C, npx, win, nfilt, run):
    """An os or ws ifmap pass for ``C`` columns from one computed for another column count (docs/models/
    systolic.md §3.8). The columns change only where a fold's demand rows sit (a fold lasts ``L = T + R + C - 2``
    rows on os, ``T + 2R + C - 2`` on ws, longer than its listed rows for any ``C``) and how many sweeps of the
    same order run (one per column fold): so the buffer sees the same accesses in the same order, and the
    first ``s`` sweeps of a longer run are the answer for ``s`` sweeps. Kept per layer and row count
    (:class:`_KeptPass`): each sweep's fetches and every epoch end as (sweep, fold, row in the fold); a pass
    needing more sweeps than kept is computed and kept instead. Returns ``(stats, event rows)`` as
    :func:`reuse_read_pass`."""
    per_fold = (win + R + C - 2) if df == 0 else (npx + 2 * R + C - 2)
    row_fold = -(-(npx if df == 0 else win) // R)
    sweeps = -(-nfilt // C)
    rows_sweep = row_fold * per_fold
    with _SHARED_LOCK:  # (a sweep may run points in threads)
        kept = _SHARED.get(key)
        if kept is not None and kept.sweeps >= sweeps:
            _SHARED.move_to_end(key)
    if kept is None or kept.sweeps < sweeps:
        st, ev, per_sweep = run()
        with _SHARED_LOCK:
            _SHARED[key] = _KeptPass(sweeps, st, ev, per_sweep, rows_sweep, per_fold)
            while len(_SHARED) > SHARED_MAX:
                _SHARED.popitem(last=False)
        return st, ev
    cum, k, fold, row, first, last = kept.parts()
    n_ev = int(np.searchsorted(k, sweeps))  # events in the first `sweeps` sweeps (kept in sweep order)
    ev = k[:n_ev] * rows_sweep + fold[:n_ev] * per_fold + row[:n_ev]
    st = np.array([cum[sweeps - 1], n_ev, -1, -1], np.int64)
    if first is not None:
        st[2] = first[0] * per_fold + first[1]
    if last is not None:
        st[3] = (sweeps - 1) * rows_sweep + last[0] * per_fold + last[1]
    return st, ev


class _KeptPass:
    """One kept ifmap pass of :func:`_shared_ifmap`: as computed for its column count (``sweeps`` sweeps of
    ``rows_sweep`` demand rows, folds of ``per_fold`` rows), split into column-free parts (each sweep's running
    fetches; every event and the first and last access as (sweep, fold, row in the fold)) when another column
    count first reads it: a layer no other column count asks for never pays the split."""

    __slots__ = ("sweeps", "_pass", "_parts")

    def __init__(self, sweeps, st, ev, per_sweep, rows_sweep, per_fold):
        self.sweeps = sweeps
        self._pass = (st, ev, per_sweep, rows_sweep, per_fold)
        self._parts = None

    def parts(self):
        """``(running fetches per sweep, event sweeps, folds, rows, first, last)``; ``first`` / ``last``:
        ``(fold, row)`` of the pass's first access and of its last sweep's last one, or None."""
        parts = self._parts
        if parts is None:  # (two threads may both split it: the same values; the assignment is atomic)
            st, ev, per_sweep, rows_sweep, per_fold = self._pass
            k, rest = np.divmod(ev, rows_sweep)
            fold, row = np.divmod(rest, per_fold)
            first = divmod(int(st[2]), per_fold) if st[2] >= 0 else None
            last = divmod(int(st[3]) - (self.sweeps - 1) * rows_sweep, per_fold) if st[3] >= 0 else None
            parts = self._parts = (np.cumsum(per_sweep), k, fold, row, first, last)
        return parts
