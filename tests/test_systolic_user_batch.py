"""USER mode's periodic folds (docs/models/systolic.md §3.2 "Periods"): a walk that replays whole periods
of row folds gives every ``R_*`` field of the walk of every fold and of the NumPy twin, and does replay
where the periods hold."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.hw.systolic import _kernels as K
from accelsim.hw.systolic import _reference as Rf

NC = np.zeros((4, 0), np.int64)


def _walk(R, C, batch, H, W, Ch, F, s, Eh, Ew, Kf, sizes, bws, periodic, o1_rows=True):
    """``(R_* vector, folds replayed)`` of one output-stationary USER-mode unit; ``periodic`` off = the
    walk of every fold (the oracle)."""
    tabs = K.conv_geometry(batch, H, W, Ch, F, F, s, s, 1, 1, Eh, Ew)
    npx, win = batch * Eh * Ew, F * F * Ch
    kmax = K.copies_bound(F, F, s, s, 1, 1, Eh, Ew)
    if kmax > 1:
        meta, slots, vc = K.ifmap_sets(0, R, C, npx, win, Kf, *tabs, H, W, batch * H * W * Ch,
                                       (int(sizes[0]) + 99) // 100, kmax, True)
    else:
        meta = slots = vc = np.zeros(0, np.int32)
    ps = np.array([1, 0, Eh * Ew], np.int64) if periodic else None
    res = K.simulate_layer(0, R, C, npx, win, Kf, H, W, *tabs, True, sizes, bws, meta, slots, vc, 0, 0, True, o1_rows,
                           NC, pstat=ps)
    return res, (int(ps[1]) if periodic else 0)


def _random_case(rng):
    """A small os layer whose SRAMs make short periods likely (sets of 1 entry, windows of 20-50), or not."""
    R, C = int(rng.choice([2, 3, 4])), int(rng.integers(2, 5))
    batch = int(rng.integers(2, 17))
    F = int(rng.choice([1, 1, 2, 3]))
    s = int(rng.integers(1, 3))
    Ch = int(rng.choice([4, 5, 8, 10, 16]))
    Eh, Ew = int(rng.integers(2, 7)), int(rng.integers(2, 7))
    H, W = (Eh - 1) * s + F, (Ew - 1) * s + F
    Kf = int(rng.integers(1, 12))
    sizes = np.array([int(rng.choice([40, 60, 80, 100, 300])), int(rng.choice([40, 60, 200, 2000])),
                      int(rng.choice([8, 16, 32, 64]))], np.int64)
    bws = np.array([int(rng.choice([1, 2, 4])), int(rng.choice([1, 2, 10])), int(rng.choice([1, 2, 4, 8]))], np.int64)
    return (R, C, batch, H, W, Ch, F, s, Eh, Ew, Kf), sizes, bws


def test_periodic_folds_equal_the_walk_of_every_fold():
    """Seeded random layers, with and without O(1) rows: every result field equal to the plain walk;
    replays taken on some layers (also with repeated ifmap words: whole-image periods), not on all."""
    rng = np.random.default_rng(20)
    taken = taken_rep = 0
    n = 300
    for i in range(n):
        geo, sizes, bws = _random_case(rng)
        o1 = i % 3 != 0
        got, folds = _walk(*geo, sizes, bws, True, o1)
        ref, _ = _walk(*geo, sizes, bws, False, o1)
        assert np.array_equal(got, ref), (geo, sizes, bws, o1, np.nonzero(got != ref)[0])
        taken += folds > 0
        F, s, Eh, Ew = geo[6], geo[7], geo[8], geo[9]
        taken_rep += folds > 0 and K.copies_bound(F, F, s, s, 1, 1, Eh, Ew) > 1
    assert 20 <= taken < n, taken
    assert taken_rep >= 3, taken_rep


def test_periodic_folds_match_numpy_twin():
    """Layers where the walk replays periods, against the NumPy twin (every matrix materialised)."""
    rng = np.random.default_rng(7)
    checked = 0
    while checked < 8:
        geo, sizes, bws = _random_case(rng)
        R, C, batch, H, W, Ch, F, s, Eh, Ew, Kf = geo
        if batch * Eh * Ew > 200:
            continue
        got, folds = _walk(*geo, sizes, bws, True)
        if folds == 0:
            continue
        tabs = K.conv_geometry(batch, H, W, Ch, F, F, s, s, 1, 1, Eh, Ew)
        ref = Rf.simulate_layer(0, R, C, batch * Eh * Ew, F * F * Ch, Kf, H, W, *tabs, True, sizes, bws)
        assert np.array_equal(got, ref), (geo, sizes, bws, np.nonzero(got != ref)[0])
        checked += 1


def test_aligned_layer_replays_most_folds_through_user_unit():
    """A 1x1 layer whose fold advances the ifmap order by a whole window step (T * R = 16 entries, sets of
    1, prefetch half of 20 sets: a period of 5 folds): user_unit takes the periodic walk, most of the
    144 row folds are replayed, and the numbers are the walk's of every fold."""
    geo = (2, 2, 8, 6, 6, 8, 1, 1, 6, 6, 2)
    sizes, bws = np.array([40, 2000, 16], np.int64), np.array([1, 10, 2], np.int64)
    got, folds = _walk(*geo, sizes, bws, True)
    ref, _ = _walk(*geo, sizes, bws, False)
    assert np.array_equal(got, ref)
    assert 100 <= folds < 144, folds
    R, C, batch, H, W, Ch, F, s, Eh, Ew, Kf = geo
    assert K.periods_possible(0, R, C, batch * Eh * Ew, F * F * Ch, Kf, 1, Eh * Ew, True, sizes, bws)
    unit = K.user_unit(0, R, C, batch, H, W, Ch, F, F, s, s, 1, 1, Eh, Ew, Kf, sizes, bws, NC)
    assert np.array_equal(unit, ref)


def test_periods_cannot_fit_on_a_32kb_edge_array():
    """edge-32x32 (32 kB ifmap SRAM: sets of 328 entries, prefetch half of 50 sets; 16 kB OFMAP draining
    16 words a cycle): a period moves the ifmap order by a multiple of 16,400 = 2^4 * 5^2 * 41 entries,
    so ResNet-18's 56x56 3x3 layer (T * R = 18,432 entries a fold) needs 1,025 folds and whole images,
    far more than its 1,568 row folds at batch 16 hold twice: user_unit walks every fold (and compiles no
    period bookkeeping). A tiny ifmap SRAM whose window step divides a fold's entries could fit."""
    sizes, bws = np.array([32 * 1024, 32 * 1024, 16 * 1024], np.int64), np.array([16, 16, 16], np.int64)
    npx = 16 * 56 * 56
    assert not K.periods_possible(0, 32, 32, npx, 9 * 64, 64, 9, 56 * 56, True, sizes, bws)
    # the same layer on a 1x1 kernel: 1,025 folds (T * R = 2,048), still not twice in 1,568
    assert not K.periods_possible(0, 32, 32, npx, 64, 64, 1, 56 * 56, True, sizes, bws)
    # ifmap sets of 2 entries, window step of 100 sets: 25 folds; OFMAP 8,192 words a drain against
    # 1,024 a fold: 8 folds; a period of 200 folds fits
    sizes[0] = 200
    assert K.periods_possible(0, 32, 32, npx, 64, 64, 1, 56 * 56, True, sizes, bws)
    # ... but not as a 3x3 layer on 56x56 images (98 folds an image: a period of 9,800 folds)
    assert not K.periods_possible(0, 32, 32, npx, 9 * 64, 64, 9, 56 * 56, True, sizes, bws)


def test_period_match_needs_the_window_to_move_with_the_folds():
    """Two snapshots equal but for the ifmap window: replayed only when the window moved by exactly the
    prefetch entries of the folds between them (in sets), never for a window that wrapped round the order,
    and a "last" cycle must move with the cycle or stay."""
    a = np.zeros(K.N_PS, np.int64)
    a[K.PS_ROW], a[K.PS_FR], a[K.PS_WS] = 100, 3, 10
    a[K.PS_LASTS:K.PS_LASTS + 6] = 99
    a[K.PS_PF:K.PS_PF + 2] = 90, 50
    b = a.copy()
    b[K.PS_ROW], b[K.PS_FR], b[K.PS_WS] = 160, 5, 14  # 2 folds of 8 entries = 4 sets of 4
    b[K.PS_LASTS:K.PS_LASTS + 6] = 159
    b[K.PS_PF] = 150  # the ifmap's last prefetch moved with the cycle, the filter's did not
    assert K._period_match(a, b, True, 8, 4) == 127
    b[K.PS_WS] = 15
    assert K._period_match(a, b, True, 8, 4) == -1
    assert K._period_match(a, b, False, 8, 4) == -1  # a window that does not move must not have moved
    b[K.PS_WS] = 14
    b[K.PS_WRAP] = 1
    assert K._period_match(a, b, True, 8, 4) == -1
    b[K.PS_WRAP] = 0
    b[K.PS_LASTS] = 99  # unchanged: kept, not shifted
    assert K._period_match(a, b, True, 8, 4) == 126
    b[K.PS_LASTS] = 120  # neither
    assert K._period_match(a, b, True, 8, 4) == -1


def _word_sets_kernel(df, R, C, g_args, sizes, seg=None):
    """Every ifmap word's sets from ``K.word_sets`` (all sets, then the stop-at-a-hit test on each); ``seg``:
    the stretch table of windows past the edge (``K.edge_stretches``), else None."""
    batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, Kf = g_args
    npx, win = batch * Eh * Ew, FH * FW * Ch
    seg = np.zeros(0, np.int32) if seg is None else seg
    geo = K.ifmap_word_geometry(H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
    M, N, Tm = K._prefetch_shape(df, 0, R, C, npx, win, Kf)
    r0, c0 = K._prefetch_pad(df, 0, R, C, npx, win, Kf)
    eps = (int(sizes[0]) + 99) // 100
    nl = npx * win // eps + 1
    out = np.empty(max(int(geo[K.GEO_KMAX]), 1), np.int64)
    got = []
    for a in range(batch * H * W * Ch):
        n = K.word_sets(a, geo, df, M, N, Tm, r0, c0, seg, out)
        sets = sorted(set((out[:n] // eps).tolist()))
        got.append(sets)
        # the walk's test in valid-entry units: a hit exactly when one of the sets lies in [s, e) (wrapped too)
        for s_, e_ in ((0, 1), (nl // 3, nl // 3 + 2), (max(nl - 2, 1), 1)):
            if s_ == e_:
                continue  # a window of every set: the walk never asks
            hit = any(K._in_window(v, s_ * eps, e_ * eps) for v in out[:n])
            assert hit == any(K._in_window(x, s_, e_) for x in sets), (a, s_, e_, sets)
    return got


@pytest.mark.parametrize("past_edge, seed", [(False, 31), (True, 2529)])
def test_word_sets_from_geometry_equal_the_table_and_twin(past_edge, seed):
    """An ifmap word's sets found from the convolution's geometry (``K.word_sets``, docs §3.2) equal the
    table built by walking the whole prefetch order (``K.ifmap_sets``) and the NumPy twin, on every
    dataflow, with batches, strides, dilations and array shapes that leave padding lanes; windows inside the
    input, and past its edge (SCALE-Sim's output sizes round up: the counts from the stretch table's listed
    invalid entries, ``K.edge_stretches``, ``K._stretch_valid_before``)."""
    rng = np.random.default_rng(seed)
    checked = 0
    while checked < 60:
        df, R, C, batch = int(rng.integers(3)), int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 4))
        FH, FW, dh, dw, sh, sw = (int(v) for v in rng.integers(1, [4, 4, 3, 3, 4, 4]))
        H, W = (FH - 1) * dh + 1 + int(rng.integers(6)), (FW - 1) * dw + 1 + int(rng.integers(6))
        if past_edge:
            Eh, Ew = -(-(H - (FH - 1) * dh - 1 + sh) // sh), -(-(W - (FW - 1) * dw - 1 + sw) // sw)
            if (Eh - 1) * sh + (FH - 1) * dh < H and (Ew - 1) * sw + (FW - 1) * dw < W:
                continue  # windows inside after all
        else:
            Eh, Ew = (H - (FH - 1) * dh - 1) // sh + 1, (W - (FW - 1) * dw - 1) // sw + 1
        Ch, Kf = int(rng.integers(1, 4)), int(rng.integers(1, 7))
        sizes = np.array([int(rng.integers(12, 300)), 100, 100], np.int64)
        tabs = K.conv_geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
        npx, win, space, eps = batch * Eh * Ew, FH * FW * Ch, batch * H * W * Ch, (int(sizes[0]) + 99) // 100
        kmax = K.copies_bound(FH, FW, sh, sw, dh, dw, Eh, Ew)
        meta, slots, seg = K.ifmap_sets(df, R, C, npx, win, Kf, *tabs, H, W, space, eps, kmax, not past_edge)
        twin = Rf.word_sets(df, R, C, npx, win, Kf, *tabs, H, W, space, eps)
        got = _word_sets_kernel(df, R, C, (batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, Kf), sizes,
                                seg if past_edge else None)
        assert got == twin, (df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw)
        if kmax > 1:
            assert [slots[a * kmax:a * kmax + meta[2 * a]].tolist() for a in range(space)] == got
        checked += kmax > 1 or past_edge


def test_user_walk_with_word_sets_equals_the_set_table():
    """Medium USER-mode layers (windows sliding, words read up to 16 times) on every dataflow: the walk
    that finds a repeated word's sets from the geometry gives every ``R_*`` field of the walk over the
    set table, with and without O(1) rows."""
    rng = np.random.default_rng(32)
    slid = 0
    for i in range(40):
        df, R, C, batch = int(rng.integers(3)), int(rng.integers(2, 17)), int(rng.integers(2, 17)), int(rng.integers(1, 4))
        F, s_ = int(rng.choice([2, 3, 5, 7])), int(rng.integers(1, 3))
        E = int(rng.integers(2, 9))
        H = (E - 1) * s_ + F
        Ch, Kf = int(rng.integers(1, 20)), int(rng.integers(1, 40))
        sizes = np.array([int(rng.integers(60, 2000)) for _ in range(3)], np.int64)
        bws = np.array([int(rng.integers(1, 12)) for _ in range(3)], np.int64)
        tabs = K.conv_geometry(batch, H, H, Ch, F, F, s_, s_, 1, 1, E, E)
        npx, win = batch * E * E, F * F * Ch
        kmax = K.copies_bound(F, F, s_, s_, 1, 1, E, E)
        table = K.ifmap_sets(df, R, C, npx, win, Kf, *tabs, H, H, batch * H * H * Ch, (int(sizes[0]) + 99) // 100,
                             kmax, True)
        geo = K.ifmap_word_geometry(H, H, Ch, F, F, s_, s_, 1, 1, E, E)
        empty = np.zeros(0, np.int32)
        for o1 in (True, False):
            ref = K.simulate_layer(df, R, C, npx, win, Kf, H, H, *tabs, True, sizes, bws, *table, 0, 0, True, o1, NC)
            got = K.simulate_layer(df, R, C, npx, win, Kf, H, H, *tabs, True, sizes, bws, empty, empty, empty, 0, 0,
                                   True, o1, NC, if_geo=geo)
            assert np.array_equal(got, ref), (df, R, C, batch, H, Ch, F, s_, Kf, sizes, bws, o1)
        slid += ref[K.R_IF_DRAM] > sizes[0]
    assert slid > 10, slid


def test_walk_turns_from_the_geometry_to_the_set_table_exactly():
    """A USER-mode walk that reads repeated words' sets from the geometry fills the set table in the arrays its
    caller allocated and reads from it instead once its word_sets calls, projected over its demand rows, pass
    ``GEO_BUDGET`` (docs/models/systolic.md §3.2): every ``R_*`` field and every demand row's cycles equal the
    walk over the table whether it turns or not, with :func:`user_unit`'s budget and with a budget of 1
    (turns at the first call)."""
    rng = np.random.default_rng(2505)
    turned = {1: 0, 0: 0}
    for _ in range(30):
        df, R, C, batch = int(rng.integers(3)), int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 3))
        F = int(rng.choice([2, 3, 5]))
        E = int(rng.integers(4, 12))
        H = E - 1 + F
        Ch, Kf = int(rng.integers(2, 24)), int(rng.integers(1, 30))
        sizes = np.array([int(rng.integers(60, 600)), int(rng.integers(200, 2000)), int(rng.integers(60, 2000))],
                         np.int64)
        bws = np.array([int(rng.integers(1, 6)) for _ in range(3)], np.int64)
        tabs = K.conv_geometry(batch, H, H, Ch, F, F, 1, 1, 1, 1, E, E)
        npx, win, space = batch * E * E, F * F * Ch, batch * H * H * Ch
        kmax = K.copies_bound(F, F, 1, 1, 1, 1, E, E)
        table = K.ifmap_sets(df, R, C, npx, win, Kf, *tabs, H, H, space, (int(sizes[0]) + 99) // 100, kmax, True)
        _, _, _, per_fold, row_folds, col_folds = K._dims(df, npx, win, Kf, R, C)
        ref_rows = np.zeros((4, per_fold * row_folds * col_folds), np.int64)
        ref = K.simulate_layer(df, R, C, npx, win, Kf, H, H, *tabs, True, sizes, bws, *table, 0, 0, True, True, ref_rows)
        for budget in (max(1, 2 * npx * win // (5 * kmax)), 1):
            geo = K.ifmap_word_geometry(H, H, Ch, F, F, 1, 1, 1, 1, E, E, budget)
            meta, slots = np.full(2 * space, -7, np.int32), np.empty(space * kmax, np.int32)
            rows = np.zeros_like(ref_rows)
            walk = K.simulate_layer(df, R, C, npx, win, Kf, H, H, *tabs, True, sizes, bws, meta, slots,
                                    np.zeros(0, np.int32), 0, 0, True, True, rows, if_geo=geo)
            assert np.array_equal(walk, ref) and np.array_equal(rows, ref_rows), (df, R, C, batch, H, Ch, F, Kf, budget)
            if np.array_equal(meta, table[0]):  # the walk filled the table
                turned[int(budget == 1)] += 1
            else:
                assert (meta == -7).all()
        unit = K.user_unit(df, R, C, batch, H, H, Ch, F, F, 1, 1, 1, 1, E, E, Kf, sizes, bws, np.zeros((4, 0), np.int64))
        assert np.array_equal(unit, ref)
    assert turned[0] >= 3 and turned[1] >= 10, turned
