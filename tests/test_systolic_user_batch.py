"""USER mode's periodic folds (docs/models/systolic.md §3.2 "Periods"): a walk that replays whole periods
of row folds gives every ``R_*`` field of the walk of every fold and of the NumPy twin, and does replay
where the periods hold."""

from __future__ import annotations

import numpy as np

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
