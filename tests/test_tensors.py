"""Compressed tensor formats: exact round trips and bit counts checked against independent counts."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.compress import _kernels as K
from accelsim.compress import _reference as R
from accelsim.compress.huffman import HuffmanCode, huffman_decode, huffman_encode
from accelsim.compress.kmeans import kmeans_1d_sorted
from accelsim.compress.tensors import (
    CSC,
    CSR,
    NM,
    Bitmask,
    Codebook,
    Dense,
    HuffmanCoded,
    InterleavedCSC,
    LowBit,
    LowRank,
    Scattered,
    StorageBits,
)
from accelsim.errors import CompressionError

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def sparse_matrices(draw, max_dim=24):
    rows = draw(st.integers(1, max_dim))
    cols = draw(st.integers(1, max_dim))
    density = draw(st.sampled_from([0.0, 0.05, 0.2, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(rows, cols))
    m[rng.random((rows, cols)) >= density] = 0.0
    return m


# --- independent counts, by walking the dense array element by element ------------------------
def walk_stored(line: np.ndarray, span: int) -> int:
    """Stored entries of one column walked element by element (span = 2**bits; 0 = absolute)."""
    stored, run, pending = 0, 0, 0
    for x in line:
        if x != 0:
            stored += 1 + pending
            run = pending = 0
        elif span:
            run += 1
            if run == span:  # a padding entry is needed if another non-zero follows
                pending += 1
                run = 0
    return stored


def bits_needed(n: int) -> int:
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


def test_eie_paper_example():
    col = np.array([0, 0, 1, 2] + [0] * 18 + [3], float)[:, None]
    c = CSC(col, index_bits=4)
    assert c.values.tolist() == [1, 2, 0, 3]
    assert c.rel_index.tolist() == [2, 0, 15, 2]
    assert c.ptr.tolist() == [0, 4]
    assert c.padding_zeros == 1 and c.stored_entries == 4 and c.nnz == 3
    assert np.array_equal(c.to_dense(), col)
    assert c.storage_bits().payload == 4 * 32 and c.storage_bits().index == 4 * 4


def test_deep_compression_fig2_three_bit_gap():
    # Deep Compression Fig. 2: 3-bit relative indices, a gap of more than 7 zeros needs a filler
    line = np.zeros(12)
    line[[1, 11]] = [5.0, 7.0]
    c = CSC(line[:, None], index_bits=3)
    assert c.rel_index.tolist() == [1, 7, 1] and c.values.tolist() == [5.0, 0.0, 7.0]


@SETTINGS
@given(sparse_matrices(), st.integers(1, 5), st.sampled_from([4, 8, 16, 32]))
def test_csc_relative_roundtrip_and_bits(m, index_bits, value_bits):
    c = CSC(m, index_bits=index_bits, value_bits=value_bits)
    assert np.array_equal(c.to_dense(), m)
    span = 1 << index_bits
    per_col = [walk_stored(m[:, j], span) for j in range(m.shape[1])]
    stored = sum(per_col)
    assert c.stored_entries == stored
    assert c.entries_per_col.tolist() == per_col
    assert c.nnz == np.count_nonzero(m)
    assert c.padding_zeros == stored - np.count_nonzero(m)
    ptr_bits = bits_needed(stored + 1)
    assert c.storage_bits() == StorageBits(payload=stored * value_bits, index=stored * index_bits,
                                           pointer=(m.shape[1] + 1) * ptr_bits)
    assert np.all(c.rel_index < span)
    assert np.array_equal(c.to_scipy().toarray(), m)


@SETTINGS
@given(sparse_matrices(), st.integers(1, 5))
def test_csr_relative_roundtrip_and_bits(m, index_bits):
    c = CSR(m, index_bits=index_bits, value_bits=8, pointer_bits=32)
    assert np.array_equal(c.to_dense(), m)
    per_row = [walk_stored(m[i, :], 1 << index_bits) for i in range(m.shape[0])]
    assert c.entries_per_row.tolist() == per_row
    s = sum(per_row)
    assert c.storage_bits() == StorageBits(payload=8 * s, index=index_bits * s, pointer=32 * (m.shape[0] + 1))
    assert np.array_equal(c.to_scipy().toarray(), m)


@SETTINGS
@given(sparse_matrices())
def test_absolute_indices(m):
    c = CSC(m)
    nnz = np.count_nonzero(m)
    assert c.padding_zeros == 0 and c.stored_entries == nnz
    assert c.index_bits == bits_needed(m.shape[0])
    assert c.storage_bits().index == nnz * bits_needed(m.shape[0])
    assert np.array_equal(c.to_dense(), m)
    plain = CSR(m, index_bits=32, relative=False, pointer_bits=32)  # what MKL / cuSPARSE store
    assert plain.storage_bits() == StorageBits(payload=32 * nnz, index=32 * nnz, pointer=32 * (m.shape[0] + 1))
    assert np.array_equal(plain.to_dense(), m)


@SETTINGS
@given(sparse_matrices(max_dim=40), st.integers(1, 9), st.integers(1, 4))
def test_interleaved_csc(m, n_pe, index_bits):
    e = InterleavedCSC(m, n_pe=n_pe, index_bits=index_bits, value_bits=4, pointer_bits=16)
    assert np.array_equal(e.to_dense(), m)
    expect = np.zeros((n_pe, m.shape[1]), np.int64)
    for p in range(n_pe):
        sub = m[p::n_pe]  # rows p, p + P, ... form this PE's sub-matrix
        for j in range(m.shape[1]):
            expect[p, j] = walk_stored(sub[:, j], 1 << index_bits)
    assert e.entries_per_pe_col.dtype == np.int64
    assert np.array_equal(e.entries_per_pe_col, expect)
    assert np.array_equal(e.pe_ptr[:, 1:], np.cumsum(expect, axis=1)) and np.all(e.pe_ptr[:, 0] == 0)
    s = int(expect.sum())
    assert e.padding_zeros == s - np.count_nonzero(m)
    assert e.storage_bits() == StorageBits(payload=4 * s, index=index_bits * s, pointer=16 * n_pe * (m.shape[1] + 1))
    assert len(e.values) == n_pe and sum(v.size for v in e.values) == s
    # each PE decodes its own sub-matrix from its own arrays
    for p in range(n_pe):
        sub = m[p::n_pe]
        assert np.count_nonzero(e.values[p]) == np.count_nonzero(sub)


@SETTINGS
@given(sparse_matrices(), st.sampled_from([8, 16]))
def test_bitmask(m, vb):
    b = Bitmask(m, value_bits=vb)
    assert np.array_equal(b.to_dense(), m)
    assert b.storage_bits() == StorageBits(payload=vb * np.count_nonzero(m), index=m.size)


@SETTINGS
@given(sparse_matrices(), st.sampled_from([(1, 4), (2, 4), (4, 8), (1, 2), (3, 3)]))
def test_nm(m, nm):
    n, mm = nm
    # make it N:M by keeping the n largest magnitudes of each group (groups padded with zeros)
    rows, k = m.shape
    g = -(-k // mm)
    pad = np.zeros((rows, g * mm))
    pad[:, :k] = m
    grp = pad.reshape(rows, g, mm)
    order = np.argsort(-np.abs(grp), axis=2, kind="stable")
    keep = np.zeros_like(grp, bool)
    np.put_along_axis(keep, order[:, :, :n], True, axis=2)
    pruned = np.where(keep, grp, 0).reshape(rows, -1)[:, :k]
    assert NM.is_compatible(pruned, n, mm)
    t = NM(pruned, n, mm, value_bits=8)
    assert np.array_equal(t.to_dense(), pruned)
    assert t.nnz == np.count_nonzero(pruned)
    assert t.storage_bits() == StorageBits(payload=8 * rows * g * n, metadata=bits_needed(mm) * rows * g * n)
    assert np.all(t.metadata < mm)


def test_nm_rejects_incompatible():
    m = np.array([[1.0, 2.0, 3.0, 0.0]])
    assert not NM.is_compatible(m, 2, 4)
    with pytest.raises(CompressionError, match="not 2:4"):
        NM(m, 2, 4)
    with pytest.raises(CompressionError, match="N <= M"):
        NM(m, 5, 4)


@SETTINGS
@given(sparse_matrices(), st.integers(1, 6), st.sampled_from(["dense", "csc", "csr", "interleaved", "bitmask"]))
def test_codebook(m, bits, inner):
    rng = np.random.default_rng(m.size)
    table = np.sort(rng.normal(size=1 << bits))
    codes = rng.integers(0, table.size, size=m.shape)
    mask = m != 0
    if inner == "dense":
        cb = Codebook(codes, table, table_bits=16)
        assert np.array_equal(cb.to_dense(), table[codes])
        assert cb.storage_bits() == StorageBits(payload=bits * m.size, codebook=16 * table.size)
        return
    fmt = {"csc": lambda: CSC(codes, index_bits=3, value_bits=bits, mask=mask),
           "csr": lambda: CSR(codes, index_bits=3, value_bits=bits, mask=mask),
           "interleaved": lambda: InterleavedCSC(codes, 3, 3, bits, mask=mask),
           "bitmask": lambda: Bitmask(codes, value_bits=bits, mask=mask)}[inner]()
    cb = Codebook(fmt, table, index_bits=bits, table_bits=16)
    assert cb.indices is fmt and cb.inner is fmt
    assert np.array_equal(cb.to_dense(), np.where(mask, table[codes], 0.0))
    assert cb.storage_bits() == fmt.storage_bits() + StorageBits(codebook=16 * table.size)
    assert cb.storage_bits().payload == bits * fmt.stored_entries


def test_codebook_validation():
    with pytest.raises(CompressionError, match="index bits"):
        Codebook(np.zeros((2, 2), int), np.arange(5.0), index_bits=2)
    with pytest.raises(CompressionError, match=r"\[0, 3\]"):
        Codebook(np.full((2, 2), 4), np.arange(4.0))
    with pytest.raises(CompressionError, match="stored at 32 bits"):
        Codebook(CSC(np.eye(3, dtype=int)), np.arange(4.0), index_bits=2)


@SETTINGS
@given(st.integers(1, 16), st.booleans(), st.integers(0, 10_000))
def test_lowbit(bits, per_channel, seed):
    rng = np.random.default_rng(seed)
    q = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(5, 7))
    scale = rng.uniform(0.1, 2.0, size=5) if per_channel else 0.37
    t = LowBit(q, bits, scale, per_channel=per_channel)
    expect = q * (np.asarray(scale)[:, None] if per_channel else scale)
    assert np.allclose(t.to_dense(), expect)
    assert t.storage_bits() == StorageBits(payload=35 * bits, metadata=32 * (5 if per_channel else 1))


def test_lowbit_asymmetric_and_bad():
    t = LowBit(np.array([[0, 255], [128, 3]]), 8, 0.5, zero_point=128)
    assert np.allclose(t.to_dense(), (np.array([[0, 255], [128, 3]]) - 128) * 0.5)
    assert t.storage_bits() == StorageBits(payload=32, metadata=32 + 8)
    with pytest.raises(CompressionError, match="must lie in"):
        LowBit(np.array([8]), 4, 1.0)
    with pytest.raises(CompressionError, match="bits"):
        LowBit(np.array([1]), 0, 1.0)
    with pytest.raises(CompressionError, match="scale"):
        LowBit(np.array([1]), 4, -1.0)


def test_lowrank():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(6, 2)), rng.normal(size=(2, 9))
    t = LowRank([u, v], bits=16)
    assert np.allclose(t.to_dense(), u @ v) and t.rank == 2 and t.shape == (6, 9)
    assert t.storage_bits() == StorageBits(payload=16 * (12 + 18))
    with pytest.raises(CompressionError, match="chain"):
        LowRank([u, u])


def test_dense():
    m = np.arange(12.0).reshape(3, 4)
    t = Dense(m, bits=8)
    assert np.array_equal(t.to_dense(), m) and t.storage_bits().total == 96 and t.nnz == 11
    with pytest.raises(CompressionError, match="NaN"):
        Dense(np.array([np.nan]))
    with pytest.raises(CompressionError, match="bits"):
        Dense(m, bits=0)


def huffman_cost_by_merging(counts):
    """Independent optimal prefix-code cost: the sum of all internal-node weights."""
    w = sorted(int(c) for c in counts if c > 0)
    if len(w) == 1:
        return w[0]
    cost = 0
    while len(w) > 1:
        a, b = w[0], w[1]
        w = sorted(w[2:] + [a + b])
        cost += a + b
    return cost


@SETTINGS
@given(st.lists(st.integers(0, 20), min_size=1, max_size=300))
def test_huffman_exact_and_roundtrip(symbols):
    s = np.array(symbols, np.int64)
    code = HuffmanCode.from_symbols(s)
    assert code.encoded_bits == huffman_cost_by_merging(np.bincount(s))
    present = code.lengths[code.lengths > 0]
    if present.size > 1:
        assert math.isclose(sum(2.0 ** -present), 1.0)  # a full prefix code (Kraft equality)
    packed, n_bits = huffman_encode(s, code)
    assert n_bits == code.encoded_bits
    assert np.array_equal(huffman_decode(packed, n_bits, s.size, code), s)


@SETTINGS
@given(sparse_matrices(), st.integers(2, 4))
def test_huffman_coded_sparse_codebook(m, bits):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 1 << bits, size=m.shape)
    cb = Codebook(CSC(codes, index_bits=3, value_bits=bits, mask=m != 0), np.arange(1 << bits) + 1.0)
    hp = HuffmanCode.from_symbols(cb.payload_symbols())
    hi = HuffmanCode.from_symbols(cb.index_symbols())
    h = HuffmanCoded(cb, {"payload": hp, "index": hi})
    base = cb.storage_bits()
    assert h.storage_bits() == StorageBits(payload=hp.encoded_bits, index=hi.encoded_bits, pointer=base.pointer,
                                           codebook=base.codebook, metadata=hp.table_bits + hi.table_bits)
    assert np.array_equal(h.to_dense(), cb.to_dense())
    assert h.entries_per_col.tolist() == cb.entries_per_col.tolist()  # structure passes through
    with pytest.raises(CompressionError, match="symbols"):
        HuffmanCoded(cb, {"payload": HuffmanCode.from_symbols(np.arange(cb.stored_entries + 1) % 2)})


# --- kernels against their NumPy twins ----------------------------------------------------------
@SETTINGS
@given(sparse_matrices(max_dim=30), st.integers(1, 7), st.sampled_from([0, 2, 4, 16]))
def test_interleaved_kernels_match_reference(m, n_pe, span):
    cols, rows = np.nonzero(m.T != 0)
    rows = rows.astype(np.int64)
    indptr = np.zeros(m.shape[1] + 1, np.int64)
    np.cumsum(np.bincount(cols, minlength=m.shape[1]), out=indptr[1:])
    ck, pe_ptr, offsets, index, pad, src = K.interleaved_build(indptr, rows.astype(np.int32), m.shape[1], n_pe, span,
                                                                np.empty(0, np.uint32), np.empty(0, np.int32), True)
    *_, index2, pad2, src2 = K.interleaved_build(indptr, rows.astype(np.int32), m.shape[1], n_pe, span,
                                                 np.empty(0, np.uint32), np.empty(0, np.int32), False)
    assert np.array_equal(pad, src < 0) and np.array_equal(pad2, pad) and np.array_equal(index2, index) and src2.size == 0
    cr = R.interleaved_counts(indptr, rows, m.shape[1], n_pe, span)
    assert np.array_equal(ck, cr)
    assert np.array_equal(pe_ptr[:, 1:], np.cumsum(cr, axis=1)) and pe_ptr[:, 0].tolist() == [0] * n_pe
    base = np.concatenate(([0], np.cumsum(pe_ptr[:, -1])[:-1])).astype(np.int64)
    assert np.array_equal(offsets, np.concatenate((base, [int(cr.sum())])))
    n = int(ck.sum())
    ref = (np.empty(n, np.int64), np.empty(n, np.int64))
    R.interleaved_fill(indptr, rows, m.shape[1], n_pe, span, pe_ptr, base, *ref)
    assert index.dtype == np.uint32 and src.dtype == np.int32 and np.array_equal(index, ref[0]) and np.array_equal(src, ref[1])
    outs = [(index.astype(np.int64), src)]
    pk, rk = K.column_pattern(np.ascontiguousarray(m != 0))
    pr, rr = R.column_pattern(m != 0)
    assert np.array_equal(pk, indptr) and np.array_equal(pr, indptr) and rk.dtype == np.int32
    assert np.array_equal(rk, rows) and np.array_equal(rr, rows)
    dk = K.interleaved_decode(pe_ptr, base, outs[0][0], n_pe, span > 0)
    dr = R.interleaved_decode(pe_ptr, base, outs[0][0], n_pe, span > 0)
    assert np.array_equal(dk[0], dr[0]) and np.array_equal(dk[1], dr[1])


@SETTINGS
@given(st.lists(st.integers(0, 2**20), max_size=200), st.integers(1, 21))
def test_pack_bits_matches_reference(values, bits):
    codes = np.array(values, np.uint64) & np.uint64((1 << bits) - 1)
    wk = K.pack_bits(codes, bits)
    assert np.array_equal(wk, R.pack_bits(codes, bits))
    assert wk.size * 64 >= codes.size * bits > (wk.size - 1) * 64 - 1 or codes.size == 0
    assert np.array_equal(K.unpack_bits(wk, bits, codes.size), codes)
    assert np.array_equal(R.unpack_bits(wk, bits, codes.size), codes)


@SETTINGS
@given(st.integers(1, 400), st.integers(1, 5), st.integers(0, 1000))
def test_kmeans_kernel_matches_reference(n, bits, seed):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.normal(size=n))
    init = np.linspace(x.min(), x.max(), 1 << bits)
    ck, bk, _ = kmeans_1d_sorted(x, init, 50, 0.0)
    cr, br, _ = R.kmeans_1d_sorted(x, init, 50, 0.0)
    assert np.allclose(ck, cr, rtol=1e-9, atol=1e-12)
    assert np.array_equal(bk, br)


def test_constructor_validation():
    with pytest.raises(CompressionError, match="2-D"):
        CSC(np.zeros(3))
    with pytest.raises(CompressionError, match="NaN"):
        CSR(np.array([[np.nan, 1.0]]))
    with pytest.raises(CompressionError, match="cannot address"):
        CSC(np.eye(40), index_bits=3, relative=False)
    with pytest.raises(CompressionError, match="index_bits"):
        InterleavedCSC(np.eye(4), n_pe=2, index_bits=0)
    with pytest.raises(CompressionError, match="n_pe"):
        InterleavedCSC(np.eye(4), n_pe=0, index_bits=4)
    with pytest.raises(CompressionError, match="mask"):
        Bitmask(np.eye(3), mask=np.ones((2, 2), bool))


@SETTINGS
@given(sparse_matrices(), st.sampled_from([(2, 4), (1, 4), (4, 8), (1, 2), (3, 3), (2, 5)]))
def test_nm_kernels_match_reference(m, nm):
    n, mm = nm
    scores = np.abs(m)
    sel_k = K.nm_select(scores, n, mm)
    assert np.array_equal(sel_k, R.nm_select(scores, n, mm))
    for mask in (sel_k, m != 0):
        mk, fk, rk, gk = K.nm_pack(mask, n, mm, np.empty(0, np.uint8))
        mr, fr, rr, gr = R.nm_pack(mask, n, mm)
        assert (rk, gk) == (rr, gr)
        if rk < 0:
            assert np.array_equal(mk, mr) and np.array_equal(fk, fr)
            assert np.array_equal(K.nm_gather(m, mk, fk, mm), R.nm_gather(m, mr, fr, mm))


@SETTINGS
@given(sparse_matrices(), st.integers(1, 5), st.integers(1, 4))
def test_packed_streams_are_exact(m, bits, n_pe):
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 1 << bits, size=m.shape)
    mask = m != 0
    inner = InterleavedCSC(codes, n_pe=n_pe, index_bits=3, value_bits=bits, mask=mask)
    cb = Codebook(inner, np.arange(1 << bits, dtype=float))
    packed = cb.packed()
    b = cb.storage_bits()
    assert packed["payload"][1] == b.payload and packed["index"][1] == b.index and packed["pointer"][1] == b.pointer
    assert np.array_equal(K.unpack_bits(packed["payload"][0], bits, inner.stored_entries), inner.flat_values)
    assert np.array_equal(K.unpack_bits(packed["index"][0], 3, inner.stored_entries), inner.flat_index)
    words, n_bits = CSR(m, index_bits=32, relative=False, pointer_bits=32).packed()["payload"]
    assert n_bits == 32 * np.count_nonzero(m)
    assert np.array_equal(K.unpack_bits(words, 32, np.count_nonzero(m)).astype(np.uint32).view(np.float32),
                          CSR(m).values.astype(np.float32))
    q = LowBit(rng.integers(-8, 8, size=(3, 5)), 4, 0.5)
    w, nb = q.packed()["payload"]
    back = K.unpack_bits(w, 4, 15).astype(np.int64)
    assert nb == 60 and np.array_equal(np.where(back >= 8, back - 16, back), q.values_int.ravel())
    h = HuffmanCoded(cb, {"index": HuffmanCode.from_symbols(cb.index_symbols())})
    hw, hn = h.packed()["index"]
    assert hn == h.storage_bits().index
    assert np.array_equal(huffman_decode(hw, hn, inner.stored_entries, h.streams["index"]), inner.flat_index)
    with pytest.raises(CompressionError, match="no bit layout"):
        CSC(m, value_bits=8).packed()


def test_huffman_coded_from_stream_names():
    cb = Codebook(CSC(np.array([[1, 0, 2], [0, 0, 3], [1, 1, 0]]), index_bits=2, value_bits=2), np.arange(4.0))
    h = HuffmanCoded(cb, ["payload", "index"])
    assert set(h.streams) == {"payload", "index"}
    assert h.storage_bits().payload == HuffmanCode.from_symbols(cb.payload_symbols()).encoded_bits
    with pytest.raises(CompressionError, match="'payload' or 'index'"):
        HuffmanCoded(cb, ["values"])


@SETTINGS
@given(sparse_matrices(max_dim=30), st.integers(1, 6))
def test_scatter_codes_matches_reference_and_boolean_scatter(m, bits):
    from accelsim.compress.kmeans import scatter_codes

    mask = m != 0
    rng = np.random.default_rng(int(mask.sum()))
    table = rng.standard_normal(1 << bits)
    kept = rng.integers(0, 1 << bits, int(mask.sum()))
    for dtype in (np.float32, np.float64):
        codes, values = scatter_codes(mask, kept, table, dtype)
        ref_codes, ref_values = np.zeros(m.shape, np.uint16), np.zeros(m.shape, dtype)
        R.scatter_codes(mask, kept, table, ref_codes, ref_values)
        assert codes.dtype == np.uint8 and values.dtype == dtype  # at most 256 entries: one byte per code
        np.testing.assert_array_equal(codes, ref_codes)
        np.testing.assert_array_equal(values, ref_values)
    with pytest.raises(CompressionError, match="codes for"):
        scatter_codes(mask, np.zeros(int(mask.sum()) + 1, np.int64), table)
    wide = np.arange(300.0)  # more than 256 entries: uint16 codes
    codes, values = scatter_codes(mask, np.full(int(mask.sum()), 299), wide)
    assert codes.dtype == np.uint16 and np.all(codes[mask] == 299) and np.all(values[mask] == 299.0)


@pytest.mark.parametrize("per_channel", [False, True])
def test_lowbit_dense_rows_are_rows_of_to_dense(per_channel):
    from accelsim.compress.tensors import LowBit

    rng = np.random.default_rng(3)
    q = rng.integers(0, 16, size=(7, 5))
    scale = rng.uniform(0.01, 1.0, 7) if per_channel else 0.3
    zp = rng.integers(0, 16, 7) if per_channel else 8
    t = LowBit(q, 4, scale, zp, per_channel=per_channel)
    for r0, r1 in ((0, 7), (2, 5), (6, 7)):
        np.testing.assert_array_equal(t.dense_rows(r0, r1), t.to_dense()[r0:r1])


def _layout(t):
    t = getattr(t, "_t", t)
    return (t.flat_values.tolist(), t.flat_index.tolist(), t.is_padding.tolist(), t.pe_ptr.tolist(),
            t.pe_offsets.tolist(), t.kept, t.pointer_bits, t.storage_bits())


@SETTINGS
@given(sparse_matrices(max_dim=40), st.sampled_from([{}, {"index_bits": 2}, {"index_bits": 3, "relative": True},
                                                      {"index_bits": 8}]))
def test_formats_from_the_compact_form_equal_those_from_the_dense_matrix(m, kw):
    """A pruned layer's compact form (mask + kept values, ``Scattered``) lays out exactly as its dense
    matrix: the CSR of it takes the block-wise row layout and shares the kept values when there is no
    padding; CSC and interleaved CSC gather from it."""
    mask = m != 0
    sc = Scattered(mask, m[mask])
    for cls in (CSR, CSC):
        assert _layout(cls(sc, mask=mask, **kw)) == _layout(cls(m, mask=mask, **kw))
    assert _layout(InterleavedCSC(sc, n_pe=3, index_bits=3, mask=mask)) == _layout(InterleavedCSC(m, n_pe=3, index_bits=3, mask=mask))
    t = CSR(sc, mask=mask, **kw)
    assert np.array_equal(t.to_dense(), m)
    if not t.is_padding.any() and t.kept:
        assert np.shares_memory(t._t.flat_values, sc.values) and not t._t.flat_values.flags.writeable


def test_csr_row_layout_spans_blocks():
    """Rows wider than a layout block (2^18 elements): one row per block, joined in order."""
    rng = np.random.default_rng(11)
    m = rng.normal(size=(5, 100_003)).astype(np.float32)
    m[rng.random(m.shape) >= 0.1] = 0.0
    mask = m != 0
    for kw in ({}, {"index_bits": 3, "relative": True}):
        assert _layout(CSR(Scattered(mask, m[mask]), mask=mask, **kw)) == _layout(CSR(m, mask=mask, **kw))


@SETTINGS
@given(sparse_matrices(max_dim=40), st.sampled_from([{}, {"index_bits": 3, "relative": True}]))
def test_csr_from_a_packed_mask_equals_the_bool_one(m, kw):
    """The CSR of a pruned layer whose mask is held packed (read a block of rows at a time, no bool mask)
    is the CSR of the same layer with its bool mask; the packed holder's row reads equal the mask's rows."""
    from accelsim.compress.compressed import MaskedMatrix

    mask = m != 0
    held = MaskedMatrix(mask, m[mask])
    assert _layout(CSR(Scattered.from_packed(held, held.values), **kw)) == _layout(CSR(Scattered(mask, m[mask]), mask=mask, **kw))
    for r0 in range(0, m.shape[0] + 1, 3):
        assert np.array_equal(held.mask_rows(r0, r0 + 5), mask[r0:r0 + 5])
    blocks = [(r0, b.copy()) for r0, b in held.row_blocks(4)]
    assert [r0 for r0, _ in blocks] == list(range(0, m.shape[0], 4))
    assert np.array_equal(np.concatenate([b for _, b in blocks]), m.astype(held.dtype))


@SETTINGS
@given(sparse_matrices(max_dim=40), st.sampled_from([(2, 4), (1, 4), (4, 8)]))
def test_nm_from_a_packed_mask_equals_the_bool_one(m, nm):
    """N:M of a compact matrix whose mask is held packed (read a block of rows at a time) is the N:M of
    the same matrix with its bool mask; a group keeping more than N is refused the same way."""
    from accelsim.compress.compressed import MaskedMatrix

    n, mm = nm
    mask = m != 0
    held = MaskedMatrix(mask, m[mask])
    if NM.is_compatible(m, n, mm):
        a, b = NM(Scattered.from_packed(held, held.values), n, mm), NM(Scattered(mask, m[mask]), n, mm, mask=mask)
        assert np.array_equal(a.metadata, b.metadata) and np.array_equal(a.values, b.values)
        assert np.array_equal(a.is_padding, b.is_padding) and a.kept == b.kept and a.storage_bits() == b.storage_bits()
    else:
        with pytest.raises(CompressionError, match="is not"):
            NM(Scattered.from_packed(held, held.values), n, mm)


def _nm_pruned(m: np.ndarray, n: int, mm: int) -> np.ndarray:
    """``m`` with the ``n`` largest magnitudes of every ``mm`` consecutive inputs kept (groups padded)."""
    rows, k = m.shape
    g = -(-k // mm)
    pad = np.zeros((rows, g * mm))
    pad[:, :k] = m
    grp = pad.reshape(rows, g, mm)
    keep = np.zeros_like(grp, bool)
    np.put_along_axis(keep, np.argsort(-np.abs(grp), axis=2, kind="stable")[:, :, :n], True, axis=2)
    return np.where(keep, grp, 0).reshape(rows, -1)[:, :k]


@SETTINGS
@given(sparse_matrices(max_dim=40), st.sampled_from([(2, 4), (1, 4), (4, 8)]), st.booleans(), st.booleans())
def test_nm_of_quantizer_codes_decodes_to_the_quantized_matrix(m, nm, symmetric, per_channel):
    """An N:M tensor holding a uniform quantizer's kept codes (``decode``) gives the quantizer's values at the
    kept positions, zeros elsewhere, in the decode type, whole or by rows; its fillers hold the zero level;
    its stored streams are the codes (so they pack at the quantizer's bits)."""
    from accelsim.compress.quantize import quantize_uniform

    n, mm = nm
    pruned = _nm_pruned(m, n, mm)
    mask = pruned != 0
    q = quantize_uniform(pruned, 8, symmetric=symmetric, per_channel=per_channel)
    expect = np.where(mask, q.to_dense(), 0).astype(np.float32)
    codes = q.values_int
    t = NM(Scattered(mask, codes[mask]), n, mm, value_bits=8, decode=(q.scale, q.zero_point, np.float32))
    assert t.values.dtype == codes.dtype and t.to_dense().dtype == np.float32
    assert np.array_equal(t.to_dense(), expect)
    for r0, r1 in ((0, 1), (1, 3), (0, m.shape[0])):
        assert np.array_equal(t.dense_rows(r0, r1), expect[r0:r1])
    r, c, v = t.entries()
    assert np.array_equal(expect[r, c], v) and r.size == np.count_nonzero(mask)
    assert t.nnz == np.count_nonzero(expect)
    zp = np.broadcast_to(q.zero_point.reshape(-1, 1, 1) if q.zero_point.ndim else q.zero_point, t.values.shape)
    fill = t.is_padding.reshape(t.values.shape)
    assert np.array_equal(t.values[fill], zp[fill])  # a filler decodes to exactly 0
    words, nbits = t.packed()["payload"]
    assert nbits == t.storage_bits().payload == 8 * t.values.size
    plain = NM(Scattered(mask, expect[mask]), n, mm, value_bits=8)  # the same pattern from the decoded values
    assert np.array_equal(plain.metadata, t.metadata) and np.array_equal(plain.is_padding, t.is_padding)
    assert plain.storage_bits() == t.storage_bits()


@pytest.mark.parametrize("kw", [{}, {"index_bits": 2}, {"index_bits": 3, "relative": True}, {"index_bits": 8}])
@pytest.mark.parametrize("symmetric,per_channel", [(True, True), (False, True), (False, False)])
def test_csr_of_codes_decodes_like_the_quantizer(kw, symmetric, per_channel):
    """A CSR holding a pruned layer's kept integer codes with its quantizer's decoder: the same pattern and
    storage as the CSR of the decoded values, ``to_dense`` / ``dense_rows`` / ``entries`` / ``nnz`` the
    quantizer's values at the kept positions, padding zeros holding the code of a zero at their row."""
    from accelsim.compress.quantize import quantize_uniform

    rng = np.random.default_rng(3)
    m = rng.standard_normal((9, 37)).astype(np.float32) * (rng.random((9, 37)) < 0.2)
    mask = m != 0
    q = quantize_uniform(m, 8, symmetric=symmetric, per_channel=per_channel)
    expect = np.where(mask, q.to_dense(), 0).astype(np.float32)
    codes = q.values_int
    t = CSR(Scattered(mask, codes[mask]), value_bits=8, decode=(q.scale, q.zero_point, np.float32), **kw)
    plain = CSR(Scattered(mask, expect[mask]), value_bits=8, **kw)
    assert t.flat_values.dtype == codes.dtype and t.to_dense().dtype == np.float32
    assert np.array_equal(t.to_dense(), expect)
    for r0, r1 in ((0, 1), (2, 5), (0, 9)):
        assert np.array_equal(t.dense_rows(r0, r1), expect[r0:r1])
    r, c, v = t.entries()
    assert np.array_equal(expect[r, c], v) and r.size == np.count_nonzero(mask)
    assert t.nnz == np.count_nonzero(expect)
    assert np.array_equal(t.rel_index, plain.rel_index) and np.array_equal(t.ptr, plain.ptr)
    assert t.storage_bits() == plain.storage_bits() and t.padding_zeros == plain.padding_zeros
    pad = np.asarray(t.is_padding, bool)
    if pad.any():  # each padding zero decodes to exactly 0 at its row
        rows = np.repeat(np.arange(9), t.entries_per_row)
        zp = q.zero_point[rows] if q.zero_point.ndim else np.full(rows.shape, q.zero_point)
        assert np.array_equal(t.flat_values[pad], zp[pad])
    words, nbits = t.packed()["payload"]
    assert nbits == t.storage_bits().payload
    csc = CSC(Scattered(mask, codes[mask]), value_bits=8, decode=(q.scale, q.zero_point, np.float32), **kw)
    assert np.array_equal(csc.to_dense(), expect) and csc.nnz == t.nnz
    assert np.array_equal(csc.dense_cols(3, 11), expect[:, 3:11])
    if not pad.any():  # the payload is the codes themselves (a per-channel scale does not split a level)
        want = codes[mask]
        assert np.array_equal(t.payload_symbols(), want if want.min() >= 0 else np.unique(want, return_inverse=True)[1])


def test_dense_cols_of_every_csc_layout():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((13, 9)).astype(np.float32) * (rng.random((13, 9)) < 0.3)
    for t in (InterleavedCSC(m, n_pe=3, index_bits=2), CSC(m, index_bits=2), CSC(m)):
        assert np.array_equal(t.dense_cols(2, 7), m[:, 2:7]) and np.array_equal(t.dense_cols(0, 9), m)


def test_csr_decode_is_checked():
    m = np.eye(4, dtype=np.float32)
    mask = m != 0
    with pytest.raises(CompressionError, match="integer codes"):
        CSR(Scattered(mask, m[mask]), decode=(1.0, 0, np.float32))
    with pytest.raises(CompressionError, match="one per row"):
        CSR(Scattered(mask, m[mask].astype(np.int8)), decode=(np.ones(3), 0, np.float32))
    with pytest.raises(CompressionError, match="one PE"):
        InterleavedCSC(Scattered(mask, m[mask].astype(np.int8)), n_pe=2, index_bits=4,
                       decode=(1.0, 0, np.float32))


def test_nm_decode_is_checked():
    m = _nm_pruned(np.arange(1.0, 17.0).reshape(2, 8), 2, 4)
    mask = m != 0
    with pytest.raises(CompressionError, match="integer codes"):
        NM(Scattered(mask, m[mask]), 2, 4, decode=(1.0, 0, np.float32))
    with pytest.raises(CompressionError, match="one per row"):
        NM(Scattered(mask, m[mask].astype(np.int8)), 2, 4, decode=(np.ones(3), 0, np.float32))
