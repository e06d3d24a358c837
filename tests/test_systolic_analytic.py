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
from accelsim.hw.systolic.model import DF_CODE, Geometry, analytic_unit_report, ifmap_distinct, scalesim_unit


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


def test_analytic_needs_calc_mode():
    import accelsim

    with pytest.raises(ConfigError, match="memory_model: analytic needs dram.bandwidth_mode CALC"):
        accelsim.simulate("edge-32x32", "lenet-300-100", overrides={"memory_model": "analytic"})
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
