"""CALC-mode event kernels (accelsim/hw/systolic/_kernels.py: ofmap_events; _group_reuse.py; _ifmap_fit.py;
calc.py: calc_unit) against the row-by-row kernels they replace and their NumPy twins, on random small
geometries (docs/models/systolic.md §3.3, §3.7)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.hw.systolic import _group_reuse as G
from accelsim.hw.systolic import _kernels as K
from accelsim.hw.systolic import _reference as Rf
from accelsim.hw.systolic.calc import calc_unit
from accelsim.hw.systolic.model import Geometry


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@settings(max_examples=300, deadline=None)
@given(df=st.integers(0, 2), R=st.integers(1, 6), C=st.integers(1, 6), npx=st.integers(1, 30), win=st.integers(1, 30),
       nfilt=st.integers(1, 30), o_tot=st.integers(2, 120), o_bw=st.integers(1, 4))
def test_ofmap_events_equal_row_walk_small_buffers(df, R, C, npx, win, nfilt, o_tot, o_bw):
    """Tiny OFMAP buffers (drains in most rows, stalls) and USER-like drain widths."""
    old = K.ofmap_pass(df, R, C, npx, win, nfilt, o_tot, o_bw)
    assert _same(K.ofmap_parts(K.ofmap_events(df, R, C, npx, win, nfilt, o_tot, o_bw)), old)


@settings(max_examples=150, deadline=None)
@given(df=st.integers(0, 2), R=st.integers(1, 8), C=st.integers(1, 8), npx=st.integers(1, 80), win=st.integers(1, 80),
       nfilt=st.integers(1, 80), o_tot=st.integers(200, 3000))
def test_ofmap_events_equal_row_walk_calc_mode(df, R, C, npx, win, nfilt, o_tot):
    """CALC mode: the buffer drains C words a cycle."""
    old = K.ofmap_pass(df, R, C, npx, win, nfilt, o_tot, C)
    assert _same(K.ofmap_parts(K.ofmap_events(df, R, C, npx, win, nfilt, o_tot, C)), old)


@settings(max_examples=40, deadline=None)
@given(df=st.integers(0, 2), R=st.integers(1, 4), C=st.integers(1, 4), npx=st.integers(1, 12), win=st.integers(1, 12),
       nfilt=st.integers(1, 12), o_tot=st.integers(2, 60), o_bw=st.integers(1, 3))
def test_ofmap_events_equal_numpy_twin(df, R, C, npx, win, nfilt, o_tot, o_bw):
    assert _same(K.ofmap_parts(K.ofmap_events(df, R, C, npx, win, nfilt, o_tot, o_bw)), Rf.ofmap_pass(df, R, C, npx, win, nfilt, o_tot, o_bw))


def test_ofmap_events_stall_and_drain_cases_exercised():
    """The random geometries above reach stalls, several drains and partial lines."""
    rng = np.random.default_rng(3)
    stalled = drained = 0
    for _ in range(200):
        args = (int(rng.integers(3)), int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 30)),
                int(rng.integers(1, 30)), int(rng.integers(1, 30)), int(rng.integers(2, 60)), int(rng.integers(1, 4)))
        st_, ch_rows, _ = K.ofmap_parts(K.ofmap_events(*args))
        stalled += st_[1] > 0 and len(ch_rows) > 1
        drained += st_[2] > args[6]
    assert stalled > 20 and drained > 50


@st.composite
def convs(draw, max_hw=9, max_batch=2):
    """Small convolutions with overlapping windows: any stride, dilation, batch, edge rows."""
    h, w = draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    fh = draw(st.integers(1, (h - 1) // dh + 1))
    fw = draw(st.integers(1, (w - 1) // dw + 1))
    s = draw(st.integers(1, 3))
    g = Geometry.conv(h, w, fh, fw, draw(st.integers(1, 5)), draw(st.integers(1, 14)), s, batch=draw(st.integers(1, max_batch)))
    eh = -(-(h - (fh - 1) * dh - 1 + s) // s)
    ew = -(-(w - (fw - 1) * dw - 1 + s) // s)
    return g._replace(dh=dh, dw=dw, Eh=eh, Ew=ew)


def _reuse_args(g):
    tabs = K.conv_geometry(g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
    return tabs, g.batch * g.H * g.W * g.C


@settings(max_examples=400, deadline=None)
@given(g=convs(), R=st.integers(1, 7), C=st.integers(1, 7), words=st.integers(0, 1200))
def test_os_reuse_pass_equals_reuse_distance_scan(g, R, C, words):
    tabs, space = _reuse_args(g)
    old = K.reuse_read_pass(0, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
    new = G.os_reuse_pass(R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
    assert _same(new, old), (g, R, C, words)


@settings(max_examples=60, deadline=None)
@given(g=convs(max_hw=7), R=st.integers(1, 5), C=st.integers(1, 5), words=st.integers(100, 600))
def test_os_reuse_pass_equals_numpy_twin(g, R, C, words):
    tabs, space = _reuse_args(g)
    twin = Rf.reuse_read_pass(0, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
    new = G.os_reuse_pass(R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
    assert _same(new, twin), (g, R, C, words)


def test_os_reuse_pass_many_epochs_and_sweeps():
    """A layer with hundreds of epochs over several column folds (sweeps) and more channels than rows."""
    g = Geometry.conv(13, 11, 3, 3, 41, 70, 1)
    tabs, space = _reuse_args(g)
    for R, C, words in ((8, 8, 300), (4, 16, 1000), (16, 4, 200)):
        old = K.reuse_read_pass(0, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
        new = G.os_reuse_pass(R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
        assert _same(new, old)
        assert new[0][1] > 50 and -(-g.K // C) >= 4



def test_os_single_sweep_equals_stored_groups():
    """One column fold: the sweep counted while its groups are made, fold by fold
    (``G.os_single_sweep``), gives the fetches, epoch ends and first / last rows of the stored groups'
    sweep (``G.os_ifmap_groups`` then ``G._sweeps_in_lane``), with fewer and more channels than rows,
    batches, strides, dilations, outputs past the edge and many epochs."""
    rng = np.random.default_rng(41)
    many = 0
    for _ in range(120):
        R = int(rng.integers(1, 40))
        batch = int(rng.integers(1, 3))
        FH, FW = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        sh, sw, dh, dw = (int(v) for v in rng.integers(1, 3, 4))
        H, W = (FH - 1) * dh + 1 + int(rng.integers(14)), (FW - 1) * dw + 1 + int(rng.integers(14))
        Eh = (H - (FH - 1) * dh - 1) // sh + 1 + int(rng.integers(2))
        Ew = (W - (FW - 1) * dw - 1) // sw + 1 + int(rng.integers(2))
        Ch, block = int(rng.integers(1, 60)), 50 * (int(rng.integers(100, 6000)) // 100)
        npx, L = batch * Eh * Ew, FH * FW * Ch + 2 * R - 2
        row_fold = -(-npx // R)
        fetched, ev_x, first_row, last_row = G.os_single_sweep(R, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, L,
                                                               row_fold, block)
        g0, gr, gl, gn, pred, word, last = G.os_ifmap_groups(R, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, L,
                                                             row_fold)
        ref = G._sweeps_in_lane(g0, gr, gl, gn, pred, word, last, 1, row_fold * L, R, block)
        assert fetched == ref[0] and np.array_equal(ev_x, ref[2]) and np.array_equal(ref[1], np.zeros(len(ev_x)))
        assert (first_row, last_row) == ((gr[0], gr[-1] + Ch - 1) if len(gr) else (-1, -1))
        many += len(ev_x) >= 5
    assert many > 20, many


def test_ws_every_access_fetched_is_the_distinct_pass():
    """ws arrays whose reuses all lie an epoch apart (``calc.ws_every_access_fetched``): the reuse pass
    equals the distinct pass (every access fetched, an epoch every ``block`` accesses), against the
    channel groups and the reuse-distance scan; the condition holds on part of the random layers only,
    and never where an access is a hit."""
    from accelsim.hw.systolic._ws_folds import consecutive_reach
    from accelsim.hw.systolic.calc import ws_every_access_fetched
    rng = np.random.default_rng(43)
    held = 0
    for _ in range(300):
        R, C = int(rng.integers(2, 20)), int(rng.integers(2, 20))
        F, s_ = int(rng.choice([2, 3, 5])), int(rng.integers(1, 3))
        E = int(rng.integers(2, 14))
        H = (E - 1) * s_ + F
        Ch, Kf = int(rng.integers(1, 80)), int(rng.integers(1, 60))
        if rng.integers(2):
            Ch = int(rng.integers(R, 4 * R + 1))  # a fold or more a tap: reuses folds apart
        words = int(rng.integers(100, 4000))
        g = Geometry.conv(H, H, F, F, Ch, Kf, s_)
        tabs, space = _reuse_args(g)
        scan = K.reuse_read_pass(1, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
        if ws_every_access_fetched(R, C, Ch, F * F, g.npx, Kf, words, True,
                                   consecutive_reach(F, F, s_, s_, 1, 1, g.Ew)):
            held += 1
            st, ev = K.distinct_read_pass(1, 0, R, C, g.npx, g.win, Kf, words)
            assert _same((st, ev), scan[:2]), (R, C, g, words)
            assert st[0] == g.npx * g.win * -(-Kf // C)  # every access fetched
    assert 50 <= held < 300, held

def test_calc_unit_with_channel_groups_equals_coupled_walk():
    """Whole CALC-mode units through the channel groups (os, >= OS_GROUPS_MIN_CH channels) against the
    coupled row walk of every buffer (simulate_layer), every report value."""
    rng = np.random.default_rng(21)
    e32 = np.zeros(0, np.int32)
    for _ in range(25):
        h, w = int(rng.integers(3, 9)), int(rng.integers(3, 9))
        g = Geometry.conv(h, w, int(rng.integers(2, min(h, 4) + 1)), int(rng.integers(2, min(w, 4) + 1)),
                          int(rng.integers(G.OS_GROUPS_MIN_CH, 14)), int(rng.integers(1, 20)), int(rng.integers(1, 3)))
        R, C = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        sizes = tuple(int(rng.integers(100, 1500)) for _ in range(3))
        tabs, space = _reuse_args(g)
        walk = K.simulate_layer(0, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, False, np.array(sizes), np.ones(3, np.int64),
                                e32, e32, e32, space, g.win * g.K, False, True, np.zeros((4, 0), np.int64))
        got = calc_unit(0, R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, *sizes, False)
        assert np.array_equal(got, walk), (g, R, C, sizes)


@settings(max_examples=300, deadline=None)
@given(g=convs(max_hw=7), df=st.integers(0, 2), R=st.integers(1, 6), C=st.integers(1, 4), words=st.integers(100, 400))
def test_reuse_distance_scan_equals_plain_epoch_walk(g, df, R, C, words):
    """The reuse-distance scan (with its whole-sweep shortcut when every reuse is an epoch or more
    apart) against the plain per-access walk, small epochs (50-200 fetches) over many sweeps."""
    tabs, space = _reuse_args(g)
    plain = K.calc_read_pass(df, 0, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space, False)
    scan = K.reuse_read_pass(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
    assert _same(scan, plain), (g, df, R, C, words)


def test_reuse_scan_repeating_sweeps_equal_plain_epoch_walk(monkeypatch):
    """Sweeps that end an epoch where an earlier sweep (not the first) did repeat it from there on
    (docs/models/systolic.md §3.3): many column folds and small epochs, against the per-access
    walk; the repeat is taken in a good share of these cases (counted through the Python body)."""
    rng = np.random.default_rng(20)
    inner = K._scan_sweep
    stops = []

    def counted(*a):
        out = inner(*a)
        stops.append(out[4])
        return out

    monkeypatch.setattr(K, "_scan_sweep", counted)
    repeated = 0
    for _ in range(60):
        h = int(rng.integers(3, 8))
        f = int(rng.integers(2, min(h, 3) + 1))
        g = Geometry.conv(h, h, f, f, int(rng.integers(1, 6)), int(rng.integers(12, 40)), int(rng.integers(1, 3)))
        df, R, C = int(rng.integers(0, 2)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        words = int(rng.integers(100, 300))
        tabs, space = _reuse_args(g)
        plain = K.calc_read_pass(df, 0, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space, False)
        stops.clear()
        scan = K.reuse_read_pass.py_func(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
        assert _same(scan, plain), (g, df, R, C, words)
        assert _same(K.reuse_read_pass(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space), plain)
        repeated += any(stops)
    assert repeated >= 10, repeated


def _count_sweep_repeats(monkeypatch):
    """Run the group sweeps through their Python bodies and record, per call of ``_same_epoch_end``,
    whether a sweep repeat was found (the returned list; clear it per case)."""
    inner = G._same_epoch_end
    found = []

    def counted(*a):
        out = inner(*a)
        found.append(out[0] >= 0)
        return out

    monkeypatch.setattr(G, "_same_epoch_end", counted)
    monkeypatch.setattr(G, "group_sweeps", G.group_sweeps.py_func)
    monkeypatch.setattr(G, "_sweeps_in_lane", G._sweeps_in_lane.py_func)
    monkeypatch.setattr(G, "ws_group_pass", G.ws_group_pass.py_func)
    monkeypatch.setattr(G, "_os_sweeps", G._os_sweeps.py_func)
    return found


def test_os_groups_repeating_sweeps_equal_plain_epoch_walk(monkeypatch):
    """The channel-group pass repeats a sweep from an epoch end an earlier sweep (not the first) shares
    (docs/models/systolic.md §3.7): many column folds and small epochs, against the per-access walk;
    the repeat is taken in a good share of these cases (counted through the Python body)."""
    rng = np.random.default_rng(24)
    found = _count_sweep_repeats(monkeypatch)
    repeated = 0
    for _ in range(40):
        h = int(rng.integers(4, 9))
        f = int(rng.integers(2, min(h, 3) + 1))
        g = Geometry.conv(h, h, f, f, int(rng.integers(1, 9)), int(rng.integers(12, 40)), int(rng.integers(1, 3)))
        R, C = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        words = int(rng.integers(100, 300))
        tabs, space = _reuse_args(g)
        plain = K.calc_read_pass(0, 0, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space, False)
        found.clear()
        args = (R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
        assert _same(G.os_reuse_pass(*args), plain), (g, R, C, words)
        repeated += any(found)
    assert repeated >= 10, repeated


@settings(max_examples=400, deadline=None)
@given(g=convs(max_hw=11), df=st.integers(0, 2), R=st.integers(1, 7), C=st.integers(1, 7), words=st.integers(0, 3000))
def test_ifmap_fit_closed_form_equals_reuse_scan(g, df, R, C, words):
    """An ifmap whose distinct words end no epoch (docs/models/systolic.md §3.3): the closed form of
    _ifmap_fit against the reuse-distance scan, every output; declined (-1) only when they end one."""
    from accelsim.hw.systolic._ifmap_fit import ifmap_fit

    tabs, space = _reuse_args(g)
    scan = K.reuse_read_pass(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
    fit = ifmap_fit(df, R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
    block = 50 * (words // 100)
    if fit is None:
        # declined: the ifmap's distinct words fill a block, so the scan's first sweep ends an epoch
        assert block > 0 and scan[0][1] > 0, (g, df, R, C, words)
    else:
        assert _same(fit, scan), (g, df, R, C, words, fit, scan)
        # its distinct-word count is the number of distinct valid addresses
        valid = (tabs[1][:, None] + tabs[4][None, :] < g.H) & (tabs[2][:, None] + tabs[5][None, :] < g.W)
        assert fit[0][0] == len(np.unique((tabs[0][:, None] + tabs[3][None, :])[valid]))


def test_ifmap_fit_taken_by_calc_unit_on_small_ifmaps():
    """calc_unit uses the closed form for small overlapping-window ifmaps, with the same report as the
    coupled row walk of every buffer (simulate_layer), on each dataflow."""
    from accelsim.hw.systolic._ifmap_fit import ifmap_fit

    rng = np.random.default_rng(33)
    e32 = np.zeros(0, np.int32)
    for _ in range(30):
        h = int(rng.integers(4, 9))
        g = Geometry.conv(h, h, int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.integers(1, 9)),
                          int(rng.integers(1, 20)), int(rng.integers(1, 3)))
        df, R, C = int(rng.integers(0, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 9))
        sizes = (int(2 * 100 * (g.batch * g.H * g.W * g.C) // 50 + 200), int(rng.integers(100, 1500)),
                 int(rng.integers(100, 1500)))
        tabs, space = _reuse_args(g)
        fit = ifmap_fit(df, R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, sizes[0])
        assert fit is not None
        walk = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, False, np.array(sizes), np.ones(3, np.int64),
                                e32, e32, e32, space, g.win * g.K, False, True, np.zeros((4, 0), np.int64))
        got = calc_unit(df, R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K,
                          *sizes, False)
        assert np.array_equal(got, walk), (g, df, R, C, sizes)


@st.composite
def wide_convs(draw):
    """Small convolutions with more channels (channel classes of several channels on ws / is arrays)."""
    g = draw(convs(max_hw=7))
    return g._replace(C=draw(st.integers(1, 24)))


@settings(max_examples=400, deadline=None)
@given(g=wide_convs(), df=st.integers(1, 2), R=st.integers(1, 30), C=st.integers(1, 6), words=st.integers(0, 2500))
def test_ws_is_channel_groups_equal_reuse_distance_scan(g, df, R, C, words):
    """ws / is ifmaps by channel classes (docs/models/systolic.md §3.7) against the reuse-distance scan,
    every output: fetches, prefetch events, first / last rows."""
    from accelsim.hw.systolic._group_reuse import ws_is_reuse_pass

    tabs, space = _reuse_args(g)
    old = K.reuse_read_pass(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
    new = ws_is_reuse_pass(df, R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
    assert _same(new, old), (g, df, R, C, words)


@settings(max_examples=40, deadline=None)
@given(g=wide_convs(), df=st.integers(1, 2), R=st.integers(1, 12), C=st.integers(1, 4), words=st.integers(100, 600))
def test_ws_is_channel_groups_equal_numpy_twin(g, df, R, C, words):
    from accelsim.hw.systolic._group_reuse import ws_is_reuse_pass

    tabs, space = _reuse_args(g)
    twin = Rf.reuse_read_pass(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
    new = ws_is_reuse_pass(df, R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
    assert _same(new, twin), (g, df, R, C, words)



@settings(max_examples=400, deadline=None)
@given(g=wide_convs(), R=st.integers(1, 30), C=st.integers(1, 9), words=st.integers(0, 2500))
def test_is_pixel_blocks_equal_reuse_distance_scan(g, R, C, words):
    """is ifmaps by pixel blocks (docs/models/systolic.md §3.3, "is by blocks": blocks without an epoch end
    counted in bulk, the others walked) against the reuse-distance scan, every output; windows inside and past the
    edge, pixels whose whole window lies past it, batches, strides, dilations."""
    from accelsim.hw.systolic._is_epochs import is_block_pass

    tabs, space = _reuse_args(g)
    old = K.reuse_read_pass(2, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
    new = is_block_pass(R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
    assert _same(new, old), (g, R, C, words)


@settings(max_examples=150, deadline=None)
@given(g=wide_convs(), R=st.integers(1, 12), C=st.integers(1, 5), words=st.integers(100, 400))
def test_is_pixel_blocks_equal_plain_epoch_walk(g, R, C, words):
    """The pixel blocks against the plain per-access walk with epochs of 50-200 fetches."""
    from accelsim.hw.systolic._is_epochs import is_block_pass

    tabs, space = _reuse_args(g)
    plain = K.calc_read_pass(2, 0, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space, False)
    new = is_block_pass(R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
    assert _same(new[:2], plain), (g, R, C, words)


@settings(max_examples=150, deadline=None)
@given(g=convs(max_hw=40, max_batch=3), R=st.integers(1, 40), C=st.integers(20, 160), words=st.integers(100, 500))
def test_is_pixel_blocks_wide_blocks_small_epochs(g, R, C, words):
    """Blocks of up to 160 pixels over inputs of up to 3 x 40 x 40 pixels (bit sets of many 64-pixel words) with
    epochs of 50-250 fetches: several epoch ends inside one word of a row's bit set, blocks across images."""
    from accelsim.hw.systolic._is_epochs import is_block_pass

    tabs, space = _reuse_args(g)
    old = K.reuse_read_pass(2, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
    new = is_block_pass(R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
    assert _same(new, old), (g, R, C, words)


def test_is_pixel_blocks_on_larger_layers():
    """Layers of 10^4-10^6 accesses where most blocks are counted in bulk (fewer epoch ends than blocks) and where
    most are walked (small SRAMs), against the scan; and where the channel groups would also pay."""
    from accelsim.hw.systolic._group_reuse import ws_is_reuse_pass
    from accelsim.hw.systolic._is_epochs import blocks_first, is_block_pass

    rng = np.random.default_rng(31)
    bulk = walked = 0
    for _ in range(24):
        f, s = int(rng.choice([1, 3, 5])), int(rng.integers(1, 3))
        h = int(rng.integers(f + 6, 40)) + int(rng.integers(0, 2))
        g = Geometry.conv(h, h, f, f, int(rng.choice([3, 19, 32, 39, 64])), int(rng.integers(5, 60)), s)
        R, C = int(rng.choice([8, 12, 32])), int(rng.choice([8, 14, 32, 64]))
        words = int(rng.choice([1, 2, 16, 64])) * 1024
        tabs, space = _reuse_args(g)
        args = (R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
        new = is_block_pass(*args)
        assert _same(new, K.reuse_read_pass(2, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)), (g, R, C, words)
        if G.ws_is_groups_pay(2, R, g.C, g.win, g.npx):
            assert _same(new[:2], ws_is_reuse_pass(2, *args)), (g, R, C, words)
        blocks = -(-g.npx // C)
        bulk += new[0][1] < blocks // 2
        walked += new[0][1] >= blocks
        classes = min(-(-g.win // R), g.C // math.gcd(R, g.C))
        assert blocks_first(R, C, g.npx, g.C, g.FH * g.FW, space, words) == (
            space < 0.2 * blocks * 50 * (words // 100) or blocks * g.win < 8 * g.npx * g.FH * g.FW * classes)
    assert bulk >= 5 and walked >= 5, (bulk, walked)
    # epochs of 50 fetches: thousands of epochs, most ending inside a 64-pixel word of a row's bit set
    g = Geometry.conv(31, 31, 3, 3, 67, 10, 1)
    tabs, space = _reuse_args(g)
    new = is_block_pass(32, 32, 1, 31, 31, 67, 3, 3, 1, 1, 1, 1, g.Eh, g.Ew, 10, 100)
    assert _same(new, K.reuse_read_pass(2, 32, 32, g.npx, g.win, 10, 31, 31, *tabs, 100, space))
    assert new[0][1] > 2500


def test_ws_channel_groups_repeating_sweeps_and_unequal_classes(monkeypatch):
    """Many column folds, small epochs and channel classes of unequal sizes on ws arrays, against the
    per-access walk; the sweep repeat is taken in a good share of the cases (through the Python bodies)."""
    rng = np.random.default_rng(25)
    found = _count_sweep_repeats(monkeypatch)
    repeated = unequal = 0
    for _ in range(40):
        h = int(rng.integers(4, 8))
        f = int(rng.integers(2, min(h, 3) + 1))
        g = Geometry.conv(h, h, f, f, int(rng.integers(3, 14)), int(rng.integers(12, 40)), int(rng.integers(1, 3)))
        R, C = int(rng.integers(5, 14)), int(rng.integers(1, 4))
        words = int(rng.integers(100, 300))
        tabs, space = _reuse_args(g)
        plain = K.calc_read_pass(1, 0, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space, False)
        found.clear()
        args = (1, R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words)
        assert _same(G.ws_is_reuse_pass(*args), plain), (g, R, C, words)
        repeated += any(found)
        cuts = G.class_cuts(R, g.C, -(-g.win // R))
        unequal += len(set(np.diff(cuts))) > 1
    assert repeated >= 10 and unequal >= 10, (repeated, unequal)


def test_calc_unit_with_ws_is_channel_groups_equals_coupled_walk():
    """Whole CALC-mode units of ws / is arrays through the channel groups (large classes, ifmaps that end
    epochs) against the coupled row walk of every buffer (simulate_layer), every report value."""
    from accelsim.hw.systolic._group_reuse import ws_is_groups_pay

    rng = np.random.default_rng(26)
    e32 = np.zeros(0, np.int32)
    taken = 0
    while taken < 16:
        h = int(rng.integers(3, 8))
        g = Geometry.conv(h, h, int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.choice([16, 24, 32, 48])),
                          int(rng.integers(1, 12)), int(rng.integers(1, 3)))
        df, R, C = int(rng.integers(1, 3)), int(rng.choice([4, 8, 16])), int(rng.integers(1, 6))
        sizes = (int(rng.integers(100, 600)), int(rng.integers(100, 1500)), int(rng.integers(100, 1500)))
        if not ws_is_groups_pay(df, R, g.C, g.win, g.npx) or g.batch * g.H * g.W * g.C < 50 * (sizes[0] // 100):
            continue
        taken += 1
        tabs, space = _reuse_args(g)
        walk = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, False, np.array(sizes), np.ones(3, np.int64),
                                e32, e32, e32, space, g.win * g.K, False, True, np.zeros((4, 0), np.int64))
        got = calc_unit(df, R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K,
                          *sizes, False)
        assert np.array_equal(got, walk), (g, df, R, C, sizes)



def test_calc_unit_with_is_pixel_blocks_equals_coupled_walk():
    """Whole CALC-mode units of is arrays through the pixel blocks (few channels, windows inside and past the edge,
    ifmaps that end epochs) against the coupled row walk of every buffer (simulate_layer), every report value."""
    rng = np.random.default_rng(27)
    e32 = np.zeros(0, np.int32)
    taken = 0
    while taken < 16:
        h = int(rng.integers(4, 10)) + int(rng.integers(0, 2))
        f, s = int(rng.integers(2, 4)), int(rng.integers(1, 3))
        g = Geometry.conv(h, h, f, f, int(rng.integers(1, 8)), int(rng.integers(1, 12)), s, batch=int(rng.integers(1, 3)))
        R, C = int(rng.integers(2, 9)), int(rng.integers(1, 9))
        sizes = (int(rng.integers(100, 600)), int(rng.integers(100, 1500)), int(rng.integers(100, 1500)))
        if g.batch * g.H * g.W * g.C < 50 * (sizes[0] // 100) or G.ws_is_groups_pay(2, R, g.C, g.win, g.npx):
            continue
        taken += 1
        tabs, space = _reuse_args(g)
        walk = K.simulate_layer(2, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, False, np.array(sizes), np.ones(3, np.int64),
                                e32, e32, e32, space, g.win * g.K, False, True, np.zeros((4, 0), np.int64))
        got = calc_unit(2, R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K,
                          *sizes, False)
        assert np.array_equal(got, walk), (g, R, C, sizes)


def test_ofmap_events_runs_of_quiet_folds_equal_row_walk(monkeypatch):
    """Hundreds of small folds between drains (a large buffer): runs of folds that start no drain are
    written in one step (docs/models/systolic.md §3.7), same outputs as the row walk; the multi-fold step
    is taken (counted through the Python body)."""
    rng = np.random.default_rng(27)
    bulk = []
    inner = K.wq_bulk

    def counted(st_, w):
        bulk.append(w)
        return inner(st_, w)

    monkeypatch.setattr(K, "wq_bulk", counted)
    multi = 0
    for _ in range(25):
        df, R, C = int(rng.integers(0, 3)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
        npx, win, nfilt = int(rng.integers(50, 400)), int(rng.integers(1, 40)), int(rng.integers(5, 60))
        o_tot = int(rng.integers(300, 5000))
        bulk.clear()
        got = K.ofmap_parts(K.ofmap_events.py_func(df, R, C, npx, win, nfilt, o_tot, C))
        assert _same(got, K.ofmap_pass(df, R, C, npx, win, nfilt, o_tot, C)), (df, R, C, npx, win, nfilt, o_tot)
        assert _same(K.ofmap_parts(K.ofmap_events(df, R, C, npx, win, nfilt, o_tot, C)), got)
        fold_max = C * (R if df == 0 else K._dims(df, npx, win, nfilt, R, C)[2])  # outputs of a fold, at most
        multi += any(w > fold_max for w in bulk)
    assert multi >= 10, multi


def test_few_channel_groups_only_within_their_memory_budget():
    """Below 8 channels a layer's channel groups take more memory than its scan (about 64 bytes a group
    against 5 an access), so such layers take the groups only while their tables fit the budget; from 8
    channels (or classes of 8) always."""
    budget = G.SMALL_CH_GROUPS_MAX_BYTES // G.GROUP_BYTES  # groups
    assert G.os_groups_pay(3, budget) and not G.os_groups_pay(3, budget + 1)
    assert G.os_groups_pay(64, 100 * budget) and not G.os_groups_pay(2, 10)
    # is, R = 12, 4 channels: one class of 4 channels; its groups are npx x taps
    assert G.ws_is_groups_pay(2, 12, 4, 9 * 4, budget // 9)
    assert not G.ws_is_groups_pay(2, 12, 4, 9 * 4, budget // 9 + 1)
    # is, R = 64, 64 channels: one class of 64: any size
    assert G.ws_is_groups_pay(2, 64, 64, 9 * 64, 100 * budget)


@settings(max_examples=150, deadline=None)
@given(g=wide_convs(), df=st.integers(0, 1), R=st.integers(1, 12), cols=st.lists(st.integers(1, 16), min_size=2, max_size=6),
       words=st.integers(100, 1500))
def test_ifmap_pass_shared_across_column_counts(g, df, R, cols, words):
    """An os / ws ifmap pass kept for one column count answers another exactly (docs/models/systolic.md §3.8):
    units for several column counts in a random order, with the kept passes, equal each unit computed with
    nothing kept (every report value); and a later unit that needs no more sweeps than kept is answered
    without running a pass."""
    from accelsim.hw.systolic import calc

    args = (g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, words, 700, 900, False)
    calc.clear_shared_ifmap()
    shared = [calc_unit(df, R, C, *args) for C in cols]
    for C, got in zip(cols, shared):
        calc.clear_shared_ifmap()
        assert np.array_equal(got, calc_unit(df, R, C, *args)), (g, df, R, C, cols, words)
    calc.clear_shared_ifmap()
    calc_unit(df, R, 1, *args)  # the most sweeps: one per filter
    kept = dict(calc._SHARED)
    ran = []
    original = calc._shared_ifmap

    def spy(key, *rest):
        ran.append(calc._SHARED.get(key) is None or calc._SHARED[key].sweeps < -(-rest[5] // rest[2]))
        return original(key, *rest)

    calc._shared_ifmap = spy
    try:
        calc_unit(df, R, max(cols), *args)
    finally:
        calc._shared_ifmap = original
    assert not any(ran) and (not ran or kept)  # every pass answered from the kept one
