"""The typed weight view hardware models read: one answer per compressed format, checked against the
formats' own accounting and against NumPy on the dense matrix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

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
)
from accelsim.compress.view import weight_view


def _sparse_matrix(rows=12, cols=20, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((rows, cols)).astype(np.float32)
    m[rng.random((rows, cols)) > density] = 0.0
    return m


def _codes(m, entries=16):
    """Codebook codes 1..entries-1 at the non-zeros of ``m`` (0 elsewhere)."""
    codes = np.zeros(m.shape, np.int64)
    nz = m != 0
    codes[nz] = 1 + (np.abs(m[nz]) * 7).astype(np.int64) % (entries - 1)
    return codes


def _check_counts(view, m):
    nz = m != 0
    assert view.nnz == int(nz.sum())
    np.testing.assert_array_equal(view.nnz_per_row(), nz.sum(axis=1))
    np.testing.assert_array_equal(view.nnz_per_col(), nz.sum(axis=0))
    for n_pe in (1, 4, 5):
        expected = [int(nz[p::n_pe].sum()) for p in range(n_pe)]
        assert view.nnz_per_partition(n_pe).tolist() == expected
    assert sp.issparse(view.pattern) and view.pattern.shape == m.shape


@pytest.mark.parametrize("make, layout, sparse", [
    (lambda m: CSR(m, index_bits=4, value_bits=8), "csr", True),
    (lambda m: CSC(m, index_bits=4, value_bits=8), "csc", True),
    (lambda m: InterleavedCSC(m, n_pe=4, index_bits=4, value_bits=8), "interleaved_csc", True),
    (lambda m: Bitmask(m, value_bits=16), "bitmask", False),
    (lambda m: Dense(m, 32), "dense", False),
])
def test_layouts_bits_and_counts(make, layout, sparse):
    m = _sparse_matrix()
    tensor = make(m)
    view = weight_view(tensor, m)
    assert view.layout == layout and view.is_sparse_layout is sparse
    assert view.bits == tensor.storage_bits() and view.stored_bits == tensor.storage_bits().total
    assert view.tensor is tensor and view.codebook_size is None and view.nm is None
    _check_counts(view, m)
    if sparse:
        assert view.index_bits == 4 and view.value_bits == 8 and view.pointer_bits is not None


def test_interleaved_partitions_and_relative_index():
    m = _sparse_matrix(16, 30)
    view = weight_view(InterleavedCSC(m, n_pe=8, index_bits=3, value_bits=4), m)
    assert view.n_partitions == 8 and view.relative_index is True and view.index_bits == 3


def test_codebook_over_sparse_wrapped_in_huffman_is_unwrapped_once():
    m = _sparse_matrix()
    codes = _codes(m)
    inner = InterleavedCSC(codes, n_pe=4, index_bits=4, value_bits=4, mask=m != 0)
    book = Codebook(inner, np.linspace(-1, 1, 16), index_bits=4)
    coded = HuffmanCoded(book, ["payload", "index"])
    view = weight_view(coded, m)
    assert view.layout == "interleaved_csc" and view.tensor is inner
    assert view.codebook_size == 16 and view.value_bits == 4 and len(view.codebook_table) == 16
    assert set(view.huffman_streams) == {"payload", "index"}
    assert view.bits == coded.storage_bits()  # Huffman-coded streams, not the inner format's bits
    assert view.stored_bits < book.storage_bits().total
    _check_counts(view, m)


def test_codebook_over_dense_codes():
    m = _sparse_matrix(density=1.0)
    book = Codebook(_codes(m), np.linspace(-1, 1, 16), index_bits=4)
    view = weight_view(book, m)
    assert view.layout == "codebook" and view.codebook_size == 16 and view.value_bits == 4
    assert view.is_sparse_layout is False and view.bits == book.storage_bits()


def test_nm_lowbit_lowrank():
    rng = np.random.default_rng(1)
    m = rng.standard_normal((8, 16))
    keep = np.zeros_like(m, bool)
    keep[:, 0::4] = keep[:, 1::4] = True
    m24 = np.where(keep, m, 0.0)
    view = weight_view(NM(m24, 2, 4, value_bits=8), m24)
    assert view.layout == "nm" and view.nm == (2, 4) and view.value_bits == 8
    _check_counts(view, m24)
    q = rng.integers(-8, 8, size=(8, 16))
    view = weight_view(LowBit(q, 4, 0.1), q * 0.1)
    assert view.layout == "lowbit" and view.value_bits == 4
    u, v = rng.standard_normal((8, 2)), rng.standard_normal((2, 16))
    view = weight_view(LowRank([u, v], bits=16), u @ v)
    assert view.layout == "lowrank" and view.value_bits == 16


def test_scipy_matrices_are_cusparse_layouts_with_their_bits():
    m = _sparse_matrix()
    for fmt in ("csr", "csc"):
        a = sp.csr_matrix(m) if fmt == "csr" else sp.csc_matrix(m)
        view = weight_view(a)
        assert view.layout == fmt and view.value_bits == 32 and view.index_bits == 32
        assert view.stored_bits == a.nnz * (32 + 32) + len(a.indptr) * 32
        _check_counts(view, m)
    view = weight_view(sp.coo_matrix(m))  # any other SciPy format is stored as CSR
    assert view.layout == "csr"


def test_no_tensor_is_dense_at_native_precision():
    view = weight_view(None, shape=(3, 4))
    assert view.layout == "none" and view.stored_bits == 0 and view.pattern is None and view.nnz is None


def test_anything_else_is_refused():
    with pytest.raises(TypeError, match="compressed tensor"):
        weight_view(np.zeros((2, 2)))


def test_compressed_layer_view_from_a_recipe():
    from accelsim.compress.recipe import compress
    from accelsim.workload.zoo import load_workload

    cg = compress(load_workload("lenet-300-100"), "deep-compression-lenet300", seed=0)
    for cl in cg:
        if not cl.layer.has_weights:
            continue
        view = cl.view
        assert view is cl.view  # built once per layer
        assert view.codebook_size == cl.codebook_size
        assert view.shape == cl.layer.weight_matrix_shape
        assert view.stored_bits == cl.weight_storage_bits()
        assert view.nnz == cl.weight_nnz


def test_interleaved_layout_is_built_once_per_widths_and_bounded():
    from accelsim.compress import view as view_mod
    from accelsim.errors import CompressionError

    m = _sparse_matrix(40, 50, density=0.2)
    view = weight_view(None, m)
    a = view.interleaved(4, 3, 4, 16)
    fresh = InterleavedCSC(m, n_pe=4, index_bits=3, value_bits=4, pointer_bits=16)
    for name in ("pe_ptr", "pe_offsets", "flat_index", "flat_values", "is_padding"):
        np.testing.assert_array_equal(getattr(a, name), getattr(fresh, name))  # padding entries included
    assert a.stored_entries == fresh.stored_entries and a.storage_bits() == fresh.storage_bits()
    assert view.interleaved(4, 3, 4, 16) is a  # reused
    assert view.interleaved(8, 3, 4, 16) is not a and view.interleaved(4, 2, 4, 16) is not a
    assert view.interleaved(4, 3, 4, None) is not a
    for n_pe in range(1, view_mod.INTERLEAVED_CACHE_SIZE + 2):  # more layouts than the cache keeps
        view.interleaved(n_pe, 5, 4, 16)
    assert len(view._interleaved) == view_mod.INTERLEAVED_CACHE_SIZE
    assert view.interleaved(4, 3, 4, 16) is not a  # the least recently used was dropped
    with pytest.raises(CompressionError, match="no effective weight matrix"):
        weight_view(None, shape=(4, 4)).interleaved(4, 3, 4, 16)


def test_interleaved_cache_off_builds_every_time(monkeypatch):
    from accelsim.compress import view as view_mod

    monkeypatch.setattr(view_mod, "INTERLEAVED_CACHE_SIZE", 0)
    view = weight_view(None, _sparse_matrix())
    assert view.interleaved(4, 3, 4, 16) is not view.interleaved(4, 3, 4, 16) and not view._interleaved


def test_quantization_fields_of_the_view():
    """Scale / group / element fields (issue 13): the storage accounting is what the view exposes."""
    from accelsim.compress import formats as F
    from accelsim.compress.tensors import NM, LowBit

    w = np.random.default_rng(0).standard_normal((8, 256))
    v = weight_view(F.quantize_int(w, 4, 128, symmetric=False, scale_format="fp16", zero_point_bits=4))
    assert (v.layout, v.value_bits, v.element_format, v.scale_format, v.scale_bits) == ("lowbit", 4, "uint4", "fp16", 16)
    assert (v.group_size, v.scale_block, v.zero_point_bits) == (128, (1, 128), 4)
    assert v.bits_per_element == 4.15625 and v.scale_bits_per_weight == 20 / 128
    v = weight_view(F.quantize_nvfp4(w))
    assert (v.element_format, v.scale_format, v.group_size, v.tensor_scale_bits) == ("e2m1", "e4m3", 16, 32)
    v = weight_view(LowBit(np.zeros((8, 256), np.int64), 4, np.ones(8), per_channel=True))  # the original quantizer
    assert (v.element_format, v.scale_format, v.scale_bits, v.group_size, v.zero_point_bits) == ("int4", "fp32", 32, 256, 0)
    q = F.quantize_int(w, 4, 128)
    nm = NM(q.to_dense() * (np.arange(256) % 2 == 0), 2, 4, value_bits=4, metadata_bits=q.metadata_bits())
    nm.quant_spec = q.spec
    v = weight_view(nm)
    assert (v.layout, v.nm, v.element_format, v.group_size) == ("nm", (2, 4), "int4", 128)
    assert weight_view(None, w).element_format is None and weight_view(None, w).bits_per_element is None


def test_statistics_view_answers_fields_without_values():
    """A statistics-path layer (accelsim.compress.statistics): formats from shapes, no matrix or pattern."""
    from accelsim.compress import formats as F
    from accelsim.compress.statistics import NMStats, QuantStats
    from accelsim.compress.view import weight_view

    spec = F.QuantSpec("int4-g128", "uint4", "fp16", (1, 128), 4)
    v = weight_view(QuantStats((256, 512), spec))
    assert v.is_statistics and v.matrix is None and v.pattern is None and v.nnz_per_row() is None
    assert (v.layout, v.value_bits, v.element_format, v.group_size, v.scale_bits, v.zero_point_bits) == \
        ("lowbit", 4, "uint4", 128, 16, 4)
    assert v.nnz == 256 * 512 and v.bits_per_element == 4.15625
    nm = weight_view(NMStats((256, 512), 2, 4, 4, 256 * 4 * 16, spec), nm=(2, 4))
    assert nm.layout == "nm" and nm.nnz == 256 * 256 and nm.stored_bits == 256 * 256 * (4 + 2) + 256 * 4 * 16
    assert not weight_view(None, shape=(4, 4)).is_statistics
