"""EIE M x V kernel and its cycle-stepped NumPy twin: hand-computed cases and random agreement."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.compress.tensors import InterleavedCSC, column_pattern
from accelsim.hw.eie import _kernels as K
from accelsim.hw.eie import _reference as R

IMPLS = [pytest.param(K.eie_mv, id="numba"), pytest.param(R.eie_mv, id="reference")]


def run(fn, W, act, n_pe, index_bits=4, regs=64, queue_depth=8, min_cycles=1, scan_rate=1 << 20, bcast_latency=1,
        credit_latency=0, pipeline_depth=4, entries_per_line=8, flush_cycles=0):
    W = np.asarray(W, dtype=np.float64)
    act = np.asarray(act, dtype=np.float64)
    csc = InterleavedCSC(W, n_pe=n_pe, index_bits=index_bits, value_bits=4)
    cols = np.flatnonzero(act).astype(np.int64)
    y = np.zeros(W.shape[0])
    local = -(-W.shape[0] // n_pe)
    end, st, sc = fn(csc.pe_ptr, csc.pe_offsets[:-1].copy(), csc.flat_index, csc.flat_values.astype(np.float64),
                     np.zeros(0), csc.is_padding, cols, act[cols], W.shape[1], n_pe, local, regs, queue_depth, min_cycles, scan_rate,
                     bcast_latency, credit_latency, pipeline_depth, entries_per_line, flush_cycles, y)
    return int(end), st, sc, y


@pytest.mark.parametrize("fn", IMPLS)
def test_two_pes_three_columns_by_hand(fn):
    # PE0 owns rows 0, 2; PE1 rows 1, 3. Entries per (PE, column): PE0 [2, 0, 2], PE1 [1, 1, 0].
    W = [[1, 0, 2],
         [3, 0, 0],
         [4, 0, 5],
         [0, 6, 0]]
    end, st, sc, y = run(fn, W, [1.0, 2.0, 3.0], n_pe=2)
    # broadcasts at 0, 1, 2; PE0: [1,3) [3,4) (empty column: 1 cycle) [4,6); PE1: [1,2) [2,3) [3,4)
    assert end == 6 + 4  # last finish + pipeline drain
    assert st[:, K.BUSY].tolist() == [5, 3]
    assert st[:, K.ENTRY].tolist() == [4, 2]
    assert st[:, K.REAL].tolist() == [4, 2]
    assert st[:, K.PTR].tolist() == [3, 3]
    assert sc[K.S_BROADCASTS] == 3 and sc[K.S_CREDIT_STALL] == 0
    np.testing.assert_allclose(y, np.asarray(W, float) @ [1.0, 2.0, 3.0])


@pytest.mark.parametrize("fn", IMPLS)
def test_padding_zeros_cost_cycles(fn):
    # one PE, 2-bit relative index (at most 3 zeros before an entry): rows 0 and 9 -> a gap of 8 zeros
    # needs 8 // 4 = 2 padding zeros, so the column holds 4 stored entries and takes 4 cycles
    W = np.zeros((10, 1))
    W[0, 0], W[9, 0] = 1.0, 2.0
    end, st, _, y = run(fn, W, [1.0], n_pe=1, index_bits=2, pipeline_depth=1)
    assert st[0, K.ENTRY] == 4 and st[0, K.REAL] == 2
    assert end == 1 + 4 + 1  # broadcast latency + 4 entries + 1 drain
    assert y[9] == 2.0


@pytest.mark.parametrize("fn", IMPLS)
def test_queue_depth_one_synchronises_every_column(fn):
    # PE0 needs 3 cycles per column, PE1 1 cycle: depth 1 makes every broadcast wait for the slowest PE
    W = np.array([[1, 1], [1, 1], [1, 1], [0, 0], [1, 1], [0, 0]], float)  # PE0 rows 0,2,4; PE1 rows 1,3,5
    end1, st1, sc1, _ = run(fn, W, [1, 1], n_pe=2, queue_depth=1, pipeline_depth=1)
    # s0 = 0; PE0 [1,4), PE1 [1,2); s1 waits for PE0's slot: 4; PE0 [5,8)
    assert sc1[K.S_CREDIT_STALL] == 3
    assert end1 == 8 + 1
    end2, _, sc2, _ = run(fn, W, [1, 1], n_pe=2, queue_depth=2, pipeline_depth=1)
    # s1 = 1, PE0 runs its columns back to back: [1,4) [4,7)
    assert sc2[K.S_CREDIT_STALL] == 0
    assert end2 == 7 + 1
    assert st1[0, K.BUSY] == 6 and st1[1, K.BUSY] == 2


@pytest.mark.parametrize("fn", IMPLS)
def test_credit_latency_delays_the_freed_slot(fn):
    W = np.array([[1, 1], [1, 1], [1, 1], [0, 0], [1, 1], [0, 0]], float)
    end, _, sc, _ = run(fn, W, [1, 1], n_pe=2, queue_depth=1, pipeline_depth=1, credit_latency=2)
    assert sc[K.S_CREDIT_STALL] == 5  # the slot freed at 4 is seen at 6
    assert end == 6 + 1 + 3 + 1


@pytest.mark.parametrize("fn", IMPLS)
def test_scan_rate_and_zero_gaps(fn):
    # one PE scanning one position per cycle: non-zeros at positions 5 and 9 of 10
    W = np.ones((1, 10))
    act = np.zeros(10)
    act[5], act[9] = 1.0, 1.0
    end, st, sc, _ = run(fn, W, act, n_pe=1, scan_rate=1, pipeline_depth=2)
    # found at cycles 5 and 9 (the scanner pauses in the broadcast cycle); PE [6,7) and [10,11)
    assert sc[K.S_SCAN_CYCLES] == 10
    assert end == 11 + 2
    # four positions per cycle: found at cycle 1 (window 4..7) and cycle 2 (window 6..9, resuming after 5);
    # PE [2,3) and [3,4), + 2 drain
    end4, _, sc4, _ = run(fn, W, act, n_pe=1, scan_rate=4, pipeline_depth=2)
    assert end4 == 4 + 2
    assert sc4[K.S_SCAN_CYCLES] == 3


@pytest.mark.parametrize("fn", IMPLS)
def test_empty_vector_costs_the_scan_only(fn):
    W = np.ones((4, 8))
    end, st, sc, y = run(fn, W, np.zeros(8), n_pe=2, scan_rate=2, pipeline_depth=3)
    assert end == 8 // 2 + 3
    assert st.sum() == 0 and not y.any()


@pytest.mark.parametrize("fn", IMPLS)
def test_line_reads_and_line_buffer(fn):
    # one PE, 3 columns of 5, 2 and 4 entries stored back to back: offsets 0-4, 5-6, 7-10 with 4 entries/line
    W = np.zeros((5, 3))
    W[:, 0] = 1
    W[:2, 1] = 1
    W[:4, 2] = 1
    end, st, _, _ = run(fn, W, [1, 1, 1], n_pe=1, entries_per_line=4)
    # column 0: lines 0-1 (2 reads); column 1: line 1 (buffered, 0 reads); column 2: lines 1-2 (line 1 buffered: 1 read)
    assert st[0, K.LINES] == 3
    end, st, _, _ = run(fn, W, [1, 0, 1], n_pe=1, entries_per_line=4)
    assert st[0, K.LINES] == 3  # column 2 starts in line 1, still in the buffer after column 0


@pytest.mark.parametrize("fn", IMPLS)
def test_accumulator_bypass_on_same_row(fn):
    # column 0 ends at row 2, column 1 starts at row 2 on the same PE -> one bypass
    W = np.zeros((3, 2))
    W[0, 0], W[2, 0], W[2, 1] = 1, 1, 1
    _, st, _, _ = run(fn, W, [1, 1], n_pe=1)
    assert st[0, K.BYPASS] == 1
    _, st, _, _ = run(fn, W, [1, 0], n_pe=1)
    assert st[0, K.BYPASS] == 0


@pytest.mark.parametrize("fn", IMPLS)
def test_output_passes_rebroadcast_the_input(fn):
    # 4 local rows with 2 destination registers: two passes, each broadcasting both non-zeros
    W = np.ones((4, 2))
    end, st, sc, y = run(fn, W, [1, 2], n_pe=1, regs=2, pipeline_depth=1, flush_cycles=3)
    assert sc[K.S_PASSES] == 2 and sc[K.S_BROADCASTS] == 4
    assert st[0, K.PTR] == 4 and st[0, K.ENTRY] == 8
    # pass 0: [1,3) [3,5) + drain -> 6; flush 3 -> pass 1 starts at 9: [10,12) [12,14) + drain -> 15
    assert end == 15
    np.testing.assert_allclose(y, W @ [1, 2])


@pytest.mark.parametrize("fn", IMPLS)
def test_codebook_decoding(fn):
    codes = np.array([[1, 0], [2, 3]])
    table = np.array([0.0, 0.5, -1.0, 2.0])
    csc = InterleavedCSC(codes, n_pe=1, index_bits=4, value_bits=2)
    y = np.zeros(2)
    fn(csc.pe_ptr, csc.pe_offsets[:-1].copy(), csc.flat_index, csc.flat_values, table, csc.is_padding,
       np.array([0, 1]), np.array([1.0, 2.0]), 2, 1, 2, 64, 8, 1, 8, 1, 0, 4, 8, 0, y)
    np.testing.assert_allclose(y, table[codes] @ [1.0, 2.0])


def test_kernel_and_twin_agree_on_random_cases():
    rng = np.random.default_rng(7)
    for _ in range(120):
        P = int(rng.integers(1, 6))
        nr, nc = int(rng.integers(1, 40)), int(rng.integers(1, 30))
        W = (rng.random((nr, nc)) < rng.random()) * rng.standard_normal((nr, nc))
        act = (rng.random(nc) < rng.random()) * rng.standard_normal(nc)
        kw = dict(index_bits=int(rng.integers(1, 4)), regs=int(rng.integers(1, -(-nr // P) + 2)),
                  queue_depth=int(rng.integers(1, 5)), min_cycles=int(rng.integers(0, 3)),
                  scan_rate=int(rng.integers(1, 5)), bcast_latency=int(rng.integers(1, 3)),
                  credit_latency=int(rng.integers(0, 3)), pipeline_depth=int(rng.integers(1, 5)),
                  entries_per_line=int(rng.integers(1, 9)), flush_cycles=int(rng.integers(0, 4)))
        a = run(K.eie_mv, W, act, P, **kw)
        b = run(R.eie_mv, W, act, P, **kw)
        assert a[0] == b[0], kw
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_allclose(a[3], W @ act, atol=1e-9)
        np.testing.assert_allclose(b[3], W @ act, atol=1e-9)


# --- pass segments: the model's kernel (eie_mv_seg) against the entry-walking kernel and the twin ----
def _segments(W, n_pe, index_bits, regs, from_layout):
    csc = InterleavedCSC(W, n_pe=n_pe, index_bits=index_bits, value_bits=4)
    n_pass = max(1, -(-(-(-W.shape[0] // n_pe)) // regs))
    shape = (W.shape[1], n_pass, n_pe, K.N_SEG)
    if from_layout:
        seg, seg_r = np.zeros(shape, np.int16), np.zeros(shape, np.int16)
        args = (csc.pe_ptr, csc.pe_offsets[:-1].copy(), csc.flat_index, csc.is_padding, True, regs)
        K.segments_from_layout(*args, seg)
        R.segments_from_layout(*args, seg_r)
        np.testing.assert_array_equal(seg, seg_r)
        return csc, np.ascontiguousarray(csc.pe_ptr.T), seg
    indptr, rows = column_pattern(W != 0)
    seg, seg_r = np.zeros(shape, np.int16), np.zeros(shape, np.int16)
    col_ptr, col_ptr_r = (np.zeros((W.shape[1] + 1, n_pe), np.int64) for _ in range(2))
    K.segments_from_pattern(indptr, rows, n_pe, 1 << index_bits, regs, seg, col_ptr)
    R.segments_from_pattern(indptr, rows, n_pe, 1 << index_bits, regs, seg_r, col_ptr_r)
    np.testing.assert_array_equal(seg, seg_r)
    np.testing.assert_array_equal(col_ptr, col_ptr_r)
    np.testing.assert_array_equal(col_ptr, csc.pe_ptr.T)  # the same stored-entry counts as the built layout
    layout_seg = np.zeros(shape, np.int16)  # from either source: the same segments
    K.segments_from_layout(csc.pe_ptr, csc.pe_offsets[:-1].copy(), csc.flat_index, csc.is_padding, True, regs,
                           layout_seg)
    np.testing.assert_array_equal(seg, layout_seg)
    return csc, col_ptr, seg


@pytest.mark.parametrize("from_layout", [False, True], ids=["pattern", "layout"])
def test_segment_kernel_equals_entry_walk_on_random_cases(from_layout):
    rng = np.random.default_rng(11)
    for _ in range(150):
        P = int(rng.integers(1, 6))
        nr, nc = int(rng.integers(1, 40)), int(rng.integers(1, 30))
        W = (rng.random((nr, nc)) < rng.random()) * rng.standard_normal((nr, nc))
        act = (rng.random(nc) < rng.random()) * rng.standard_normal(nc)
        ib = int(rng.integers(1, 4))
        regs = int(rng.integers(1, -(-nr // P) + 2))
        kw = dict(queue_depth=int(rng.integers(1, 5)), min_cycles=int(rng.integers(0, 3)),
                  scan_rate=int(rng.integers(1, 5)), bcast_latency=int(rng.integers(1, 3)),
                  credit_latency=int(rng.integers(0, 3)), pipeline_depth=int(rng.integers(1, 5)),
                  entries_per_line=int(rng.integers(1, 9)), flush_cycles=int(rng.integers(0, 4)))
        csc, col_ptr, seg = _segments(W, P, ib, regs, from_layout)
        # a column tile [c0, c1) as the model runs it: the walk gets the tile's pointers, the segments the offset
        c0 = int(rng.integers(0, nc))
        c1 = int(rng.integers(c0 + 1, nc + 1))
        sub = act[c0:c1]
        cols = np.flatnonzero(sub).astype(np.int64)
        ptr = np.ascontiguousarray(csc.pe_ptr[:, c0:c1 + 1] - csc.pe_ptr[:, c0:c0 + 1])
        base = csc.pe_offsets[:-1] + csc.pe_ptr[:, c0]
        ref = K.eie_mv(ptr, base, csc.flat_index, csc.flat_values.astype(np.float64), np.zeros(0), csc.is_padding,
                       cols, sub[cols], c1 - c0, P, -(-nr // P), regs, kw["queue_depth"], kw["min_cycles"],
                       kw["scan_rate"], kw["bcast_latency"], kw["credit_latency"], kw["pipeline_depth"],
                       kw["entries_per_line"], kw["flush_cycles"], np.zeros(0))
        got = K.eie_mv_seg(col_ptr, seg, cols, c0, c1 - c0, kw["queue_depth"], kw["min_cycles"], kw["scan_rate"],
                           kw["bcast_latency"], kw["credit_latency"], kw["pipeline_depth"], kw["entries_per_line"],
                           kw["flush_cycles"])
        assert got[0] == ref[0], kw
        np.testing.assert_array_equal(got[1], ref[1])
        np.testing.assert_array_equal(got[2], ref[2])
        if c0 == 0 and c1 == nc:  # the whole matrix: the cycle-stepped twin agrees as well
            twin = run(R.eie_mv, W, act, P, index_bits=ib, regs=regs, **kw)
            assert got[0] == twin[0]
            np.testing.assert_array_equal(got[1], twin[1])


def test_segments_by_hand():
    # one PE, 2-bit indices (span 4), passes of 4 rows: rows 0 and 9 of one column store
    # row 0, padding rows 4 and 8, row 9 -> pass 0: [0]; pass 1: [4 (pad)]; pass 2: [8 (pad), 9]
    W = np.zeros((10, 1))
    W[0, 0], W[9, 0] = 1.0, 2.0
    for from_layout in (False, True):
        _, col_ptr, seg = _segments(W, 1, 2, 4, from_layout)
        assert col_ptr.tolist() == [[0], [4]]
        # (entries, real, first row, last row within the pass) per pass
        assert seg[0, :, 0].tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [2, 1, 0, 1]]
