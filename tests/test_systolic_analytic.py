"""Analytic memory model of the systolic array (docs/models/systolic.md §8) against its twins and
against the exact SCALE-Sim replay (§3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import ConfigError
from accelsim.hw.systolic import _reference as ref
from accelsim.hw.systolic import analytic as A
from accelsim.hw.systolic.model import (DF_CODE, Geometry, analytic_unit_report, ifmap_distinct, scalesim_unit,
                                        windows_inside)


def _unit(df, R, C, g: Geometry, kb):
    return A.analytic_unit(DF_CODE[df], R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew,
                           g.K, kb * 1024, kb * 1024, not ifmap_distinct(g), A.N_SAMPLES, A.MAX_SWEEPS)


def _exact(df, R, C, g: Geometry, kb):
    return scalesim_unit(df, R, C, g, (kb * 1024,) * 3, (10, 10, 10), False)


# --- the epoch-cache law and the closed form for passes of distinct addresses (§8.3, §8.4) ----------

def test_epoch_cache_hand_case():
    # block 3: 0 1 2 | epoch ends after the third fetch; 0 1 2 again are stale -> fetched (3 more,
    # a second epoch ends), third pass stale again: 9 fetches. With block 4 the first pass ends no
    # epoch, so the repeats hit: 3 fetches.
    assert ref.epoch_cache_fetches([0, 1, 2] * 3, 3) == 9
    assert ref.epoch_cache_fetches([0, 1, 2] * 3, 4) == 3
    # n_in = 2: the epoch ends after the second fetch (address 1) -> the second pass refetches 0, 1
    assert ref.epoch_cache_fetches([0, 1, 2] * 3, 4, n_in=2) == 5


@settings(max_examples=200, deadline=None)
@given(distinct=st.integers(0, 60), repeats=st.integers(0, 6), block=st.integers(1, 50), n_in=st.integers(0, 49))
def test_distinct_fetches_equals_brute_force(distinct, repeats, block, n_in):
    n_in %= block
    assert tuple(A.distinct_fetches(distinct, repeats, block, n_in)) == ref.distinct_fetches(distinct, repeats, block, n_in)


# --- the sampler and the sweep recursion: kernel = twin (§8.5) -----------------------------------------

SMALL = [
    ("os", 4, 4, Geometry(1, 8, 8, 3, 3, 3, 1, 1, 1, 1, 5, 6, 6)),
    ("ws", 4, 8, Geometry(1, 9, 9, 2, 3, 3, 2, 2, 1, 1, 3, 4, 4)),
    ("is", 8, 4, Geometry(2, 7, 7, 2, 3, 3, 1, 1, 1, 1, 4, 5, 5)),
    ("os", 8, 8, Geometry(1, 10, 10, 2, 3, 3, 1, 1, 2, 2, 4, 6, 6)),  # dilated
    ("ws", 4, 4, Geometry.conv(11, 11, 5, 5, 2, 3, 3)),  # ceil-mode row past the edge
]


@pytest.mark.parametrize("df,R,C,g", SMALL)
def test_reuse_samples_kernel_equals_twin(df, R, C, g):
    args = (DF_CODE[df], R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
    for n in (40, 100_000):  # sampled and complete
        got = A.ifmap_reuse_samples(*args, n)
        want = ref.ifmap_reuse_samples(*args, n)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    assert tuple(A.ifmap_counts(*args[3:])) == ref.ifmap_counts(*args[3:])


@settings(max_examples=40, deadline=None)
@given(df=st.sampled_from(["os", "ws", "is"]), R=st.sampled_from([2, 4, 8]), C=st.sampled_from([2, 4, 8]),
       b=st.integers(1, 2), h=st.integers(3, 11), w=st.integers(3, 11), ch=st.integers(1, 4),
       f=st.integers(1, 3), s=st.integers(1, 3), d=st.integers(1, 2), k=st.integers(1, 5),
       n=st.sampled_from([16, 64, 100_000]))
def test_reuse_samples_kernels_equal_twin_on_random_geometries(df, R, C, b, h, w, ch, f, s, d, k, n):
    """The geometry's part (``reuse_neighbours``) and the array's (``reuse_positions``) together, and the
    network form the sweeps run (one table, one positions call), equal the NumPy twin (§8.5, §9.1)."""
    eh, ew = (h - d * (f - 1) - 1) // s + 1, (w - d * (f - 1) - 1) // s + 1
    if eh < 1 or ew < 1:
        return
    g = Geometry(b, h, w, ch, f, f, s, s, d, d, k, eh, ew)
    args = (DF_CODE[df], R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
    want = ref.ifmap_reuse_samples(*args, n)
    for a, bb in zip(A.ifmap_reuse_samples(*args, n), want):
        np.testing.assert_array_equal(a, bb)
    from accelsim.hw.systolic import _batch_kernels as BK
    from accelsim.hw.systolic.model import geometry_table

    tab = geometry_table([Geometry.gemm(3, 4, 5), g])
    tab[1, BK.G_OVERLAP] = 1  # the twin's samples, whether or not the windows overlap
    rows, *reuse = BK.reuse_table(tab, n)
    got = BK.reuse_positions_table(DF_CODE[df], R, C, tab, rows, *reuse)
    for a, bb in zip(got, want):
        np.testing.assert_array_equal(a[rows[1]:rows[2]], bb)


@pytest.mark.parametrize("df,R,C,g", SMALL)
@pytest.mark.parametrize("block", [7, 40, 500])
def test_reuse_fetches_kernel_equals_twin(df, R, C, g, block):
    args = (DF_CODE[df], R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
    cur, prev, last = A.ifmap_reuse_samples(*args, 64)
    length = float(g.npx * g.win)
    for sweeps, max_sweeps in ((1, 4), (3, 4), (9, 2)):
        got = A.reuse_fetches(cur, prev, last, 1.5, 0.75, length, float(block), sweeps, max_sweeps)
        want = ref.reuse_fetches(cur, prev, last, 1.5, 0.75, length, float(block), sweeps, max_sweeps)
        assert got == pytest.approx(want, rel=1e-12)


def test_complete_sampling_of_a_fitting_ifmap_fetches_each_word_once():
    # every access sampled, and the ifmap's distinct words fit one epoch: no epoch ever ends, so
    # the ifmap is fetched exactly once, however many column folds sweep it
    g = Geometry(1, 8, 8, 3, 3, 3, 1, 1, 1, 1, 40, 6, 6)
    args = (0, 4, 4, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
    cur, prev, last = A.ifmap_reuse_samples(*args, 10**6)
    valid, distinct = A.ifmap_counts(*args[3:])
    assert distinct == 8 * 8 * 3 and valid == 36 * 27
    assert A.reuse_fetches(cur, prev, last, 1.0, 1.0, float(g.npx * g.win), 1000.0, 10, 4) == distinct


# --- against the exact replay (§3) -----------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(df=st.sampled_from(["os", "ws", "is"]), R=st.sampled_from([4, 8, 16]), C=st.sampled_from([4, 8, 16]),
       m=st.integers(1, 90), n=st.integers(1, 70), k=st.integers(1, 90), kb=st.sampled_from([1, 2, 8]))
def test_gemm_traffic_and_cycles_match_exact(df, R, C, m, n, k, kb):
    """Distinct addresses (GEMM form): filters and ifmap exact; OFMAP writes up to SCALE-Sim's
    partial-line bookkeeping (§8.2); cycles identical."""
    g = Geometry.gemm(m, n, k)
    ex = _exact(df, R, C, g, kb)
    got = _unit(df, R, C, g, kb)
    assert got[0] == ex["ifmap_dram_reads"]
    assert got[1] == ex["filter_dram_reads"]
    # SCALE-Sim counts a partial line as full at most once per drain of half the buffer (§8.2)
    drains = -(-int(got[2]) // (kb * 1024 // 2))
    assert 0 <= ex["ofmap_dram_writes"] - got[2] <= C * (drains + 1)
    rep = analytic_unit_report(df, R, C, g, (kb * 1024,) * 3)
    assert rep["total_cycles"] == ex["total_cycles"] and rep["stall_cycles"] == ex["stall_cycles"] == 0


CONVS = [  # ResNet-style layers with overlapping windows
    Geometry.conv(58, 58, 3, 3, 64, 64, 1),
    Geometry.conv(30, 30, 3, 3, 128, 128, 1),
    Geometry.conv(16, 16, 3, 3, 256, 256, 1),
    Geometry.conv(230, 230, 7, 7, 3, 64, 2),
]


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("kb", [16, 64])
def test_overlapping_windows_close_to_exact_over_layers(df, kb):
    """The summed ifmap traffic of four conv layers within 10% of the exact replay; each layer's
    filters exact; the ifmap never below its distinct words nor above its accesses."""
    ex_sum = got_sum = 0.0
    for g in CONVS:
        ex = _exact(df, 16, 16, g, kb)
        got = _unit(df, 16, 16, g, kb)
        valid, distinct = A.ifmap_counts(g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
        assert distinct <= got[0] <= valid * -(-g.K // 16)
        assert got[1] == ex["filter_dram_reads"]
        ex_sum += ex["ifmap_dram_reads"]
        got_sum += got[0]
    assert got_sum == pytest.approx(ex_sum, rel=0.10)


def test_network_totals_match_exact():
    import accelsim

    for arch in ("scalesim-32x32-os", "scalesim-google"):
        a = accelsim.simulate(arch, "resnet18", overrides={"memory_model": "analytic"}).total
        e = accelsim.simulate(arch, "resnet18").total
        assert a["cycles"] == e["cycles"]
        assert a["dram_read_bytes"] == pytest.approx(e["dram_read_bytes"], rel=0.05)
        assert a["dram_write_bytes"] == pytest.approx(e["dram_write_bytes"], rel=0.02)
        assert a["energy_j"] == pytest.approx(e["energy_j"], rel=0.05)


def test_analytic_user_mode_runs_and_bad_model_name_refused():
    import accelsim

    a = accelsim.simulate("edge-32x32", "lenet5", overrides={"memory_model": "analytic"}).total
    e = accelsim.simulate("edge-32x32", "lenet5").total
    assert a["cycles"] == e["cycles"]
    assert a["dram_read_bytes"] == e["dram_read_bytes"] and a["dram_write_bytes"] == e["dram_write_bytes"]
    with pytest.raises(ConfigError, match="memory_model"):
        accelsim.simulate("scalesim-32x32-os", "lenet-300-100", overrides={"memory_model": "fast"})


@settings(max_examples=60, deadline=None)
@given(df=st.sampled_from(["os", "ws", "is"]), R=st.sampled_from([2, 4, 16]), C=st.sampled_from([2, 4, 16]),
       batch=st.integers(1, 2), h=st.integers(1, 12), w=st.integers(1, 12), ch=st.integers(1, 6),
       fh=st.integers(1, 4), fw=st.integers(1, 4), s=st.integers(1, 3), d=st.integers(1, 2), k=st.integers(1, 9),
       kb=st.sampled_from([1, 4]))
def test_any_conv_stays_within_compulsory_and_all_accesses(df, R, C, batch, h, w, ch, fh, fw, s, d, k, kb):
    """Any geometry (strides, dilation, windows past the edge): fetches are finite, at least the
    distinct words and at most every access of every sweep; filters exact against the replay."""
    H, W = h + (fh - 1) * d, w + (fw - 1) * d
    g = Geometry(batch, H, W, ch, fh, fw, s, s, d, d, k, -(-(H - (fh - 1) * d) // s), -(-(W - (fw - 1) * d) // s))
    got = _unit(df, R, C, g, kb)
    assert np.isfinite(got).all()
    valid, distinct = A.ifmap_counts(g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
    sweeps = 1 if df == "is" else -(-(g.K if df != "is" else g.npx) // C)
    assert distinct <= got[0] <= valid * sweeps + 1e-9
    assert got[1] == _exact(df, R, C, g, kb)["filter_dram_reads"]


# --- USER bandwidth mode (§8.8): kernels = twins, events = the row walk, unit = the exact replay -------

@settings(max_examples=150, deadline=None)
@given(M=st.integers(1, 9), N=st.integers(1, 7), r0=st.integers(0, 9), c0=st.integers(0, 8), d=st.integers(0, 16),
       c=st.integers(0, 8))
def test_valid_counts_equal_brute_force(M, N, r0, c0, d, c):
    assert A.tri_count(M, N, d) == ref.tri_count(M, N, d)
    d = min(d, M + N - 2)
    cmin, cmax = d - min(d, M - 1), min(d, N - 1)
    c = min(max(c, cmin), cmax + 1)
    assert A.diag_valid_before(M, N, r0, c0, d, c) == ref.diag_valid_before(M, N, r0, c0, d, c)
    pos = min(d * N // 3 + c, M * N)
    assert A.rowmajor_valid_before(N, r0, c0, pos) == ref.rowmajor_valid_before(N, r0, c0, pos)


@settings(max_examples=150, deadline=None)
@given(nl=st.integers(2, 60), U=st.integers(0, 59), s=st.integers(0, 59), nA=st.integers(1, 30), nP=st.integers(1, 30),
       cycle=st.integers(-5, 400), n=st.integers(0, 6), k0=st.integers(0, 20), period=st.integers(1, 40))
def test_slides_and_late_offset_equal_twins(nl, U, s, nA, nP, cycle, n, k0, period):
    nA = min(nA, nl - 1)
    nP = min(nP, nA, nl - nA)
    U, s = U % nl, s % nl
    assert A.slides_to_cover(U, s, nl, nA, nP) == ref.slides_to_cover(U, s, nl, nA, nP)
    assert A.late_offset(cycle, n, k0, period) == ref.late_offset(cycle, n, k0, period)


USER_SMALL = [  # every window inside the input (floor-mode outputs, as the zoo's layers)
    ("os", 4, 4, Geometry(1, 8, 8, 3, 3, 3, 1, 1, 1, 1, 5, 6, 6)),
    ("ws", 4, 8, Geometry(1, 9, 9, 2, 3, 3, 2, 2, 1, 1, 3, 4, 4)),
    ("is", 8, 4, Geometry(2, 7, 7, 2, 3, 3, 1, 1, 1, 1, 4, 5, 5)),
    ("os", 8, 8, Geometry(1, 10, 10, 2, 3, 3, 1, 1, 2, 2, 4, 6, 6)),  # dilated
    ("is", 4, 4, Geometry(1, 12, 12, 4, 3, 3, 1, 1, 1, 1, 6, 10, 10)),
    ("ws", 4, 4, Geometry.gemm(37, 11, 23)),
    ("os", 4, 8, Geometry.gemm(29, 19, 13)),
]


def _geom_args(g):
    return (g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K)


@pytest.mark.parametrize("df,R,C,g", USER_SMALL)
@pytest.mark.parametrize("size", [16, 40, 200])
def test_read_events_equal_row_walk(df, R, C, g, size):
    """The event kernel (binary search over streamed rows, tile check, duplicate lookup) gives the
    slides of the twin that replays every address against every set holding it."""
    for o in (0, 1):
        dups = o == 0 and not ifmap_distinct(g)
        got = A.read_events(DF_CODE[df], o, R, C, *_geom_args(g), size, 1.0, dups)
        want = ref.read_events(DF_CODE[df], o, R, C, *_geom_args(g), size)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("df,R,C,g", USER_SMALL)
@pytest.mark.parametrize("of_size,of_bw", [(16, 1), (40, 3), (64, 16)])
def test_user_timing_equals_row_walk(df, R, C, g, of_size, of_bw):
    rows0, ns0 = A.read_events(DF_CODE[df], 0, R, C, *_geom_args(g), 24, 1.0, not ifmap_distinct(g))
    rows1, ns1 = A.read_events(DF_CODE[df], 1, R, C, *_geom_args(g), 24, 1.0, False)
    args = (DF_CODE[df], R, C, g.npx, g.win, g.K, of_size, of_bw, rows0, ns0, 5, rows1, ns1, 3)
    np.testing.assert_array_equal(A.user_timing(*args), ref.user_timing(*args))


def _user_both(df, R, g, kb, bw):
    sizes, bws = (kb * 1024,) * 3, (bw,) * 3
    return analytic_unit_report(df, R, R, g, sizes, bws, True), scalesim_unit(df, R, R, g, sizes, bws, True)


USER_FIELDS = ("total_cycles", "stall_cycles", "ifmap_dram_reads", "filter_dram_reads", "ofmap_dram_writes",
               "total_cycles_incl_prefetch")


def _zoo_user_cases(n, seed, max_entries):
    import random

    from accelsim.hw.systolic.model import layer_units, replay_entries
    from accelsim.workload.zoo import load_workload

    geoms = []
    for net in ("resnet18", "mobilenet-v2", "vgg16", "bert-base", "resnet50"):
        for layer in load_workload(net):
            u = layer_units(layer, 1)
            if u is not None and u[0] not in geoms:
                geoms.append(u[0])
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        g, df, R = rng.choice(geoms), rng.choice(["os", "ws", "is"]), rng.choice([8, 32, 128])
        if replay_entries(df, R, R, g) <= max_entries:
            out.append((df, R, g, rng.choice([16, 64, 512]), rng.choice([1, 2, 4, 16, 64])))
    return out


# documented tolerance (§8.8): every window inside the input -> identical to the replay
USER_TOL = 0.0


def test_user_mode_matches_exact_on_zoo_subset():
    """A fixed, seeded subset of zoo layer x array x dataflow x SRAM x bandwidth cases (bandwidth-starved
    ones included): cycles, stalls and every DRAM stream within the documented tolerance of the replay."""
    stalled = 0
    for df, R, g, kb, bw in _zoo_user_cases(24, 2026, 1 << 19):
        a, e = _user_both(df, R, g, kb, bw)
        stalled += e["stall_cycles"] > e["total_cycles"] // 2
        for f in USER_FIELDS:
            assert a[f] == pytest.approx(e[f], rel=USER_TOL, abs=0), (df, R, g, kb, bw, f)
    assert stalled >= 3  # the subset holds stall-dominated cases


def test_user_mode_edge_windows_replayed_kernel_approximation_bounded():
    """Ceil-mode outputs (windows past the input edge: SCALE-Sim's own topologies): the report is the
    replay's (§8.8); the kernel alone, with the valid-entry counts scaled by the fraction of inside
    accesses, keeps the filter traffic exact and the OFMAP traffic within 1%."""
    for df in ("os", "ws", "is"):
        for g in (Geometry.conv(32, 32, 3, 3, 16, 24, 2), Geometry.conv(30, 30, 5, 5, 8, 16, 3)):
            assert not windows_inside(g)
            a, e = _user_both(df, 16, g, 16, 4)
            assert all(a[f] == e[f] for f in USER_FIELDS)
            u = A.user_unit(DF_CODE[df], 16, 16, *_geom_args(g)[:-1], g.K, np.full(3, 16 * 1024, np.int64),
                            np.full(3, 4, np.int64), True)
            assert u[A.U_FI_DRAM] == e["filter_dram_reads"]
            # drains close partial lines at stall-dependent times: a few words per drain
            assert u[A.U_OF_DRAM] == pytest.approx(e["ofmap_dram_writes"], rel=0.01)
            assert u[A.U_TOTAL] >= e["total_cycles"] - e["stall_cycles"]


@pytest.mark.slow
def test_user_mode_agreement_study():
    """The larger agreement study of §8.8 (benchmarks/bench_user_analytic.py runs it with more cases)."""
    for df, R, g, kb, bw in _zoo_user_cases(400, 7, 1 << 23):
        a, e = _user_both(df, R, g, kb, bw)
        for f in USER_FIELDS:
            assert a[f] == pytest.approx(e[f], rel=USER_TOL, abs=0), (df, R, g, kb, bw, f)
