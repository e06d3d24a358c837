"""One typed view of a layer's compressed weights, for hardware models.

Hardware models read compressed weights only through :class:`WeightView` (``CompressedLayer.view``),
never by ``isinstance`` ladders or class names: which sparse layout the weights are stored in, their
pattern as a SciPy sparse array, the non-zeros per row / column / PE partition, the N:M pattern, the
codebook, and the stored bits by kind. The wrappers of ``accelsim.compress.tensors`` (Huffman coding
over a codebook over a sparse layout) are unwrapped here, once.

Orientation: the ``(N * groups, K)`` weight matrix, rows = outputs, columns = the reduction.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from accelsim.compress.tensors import (
    NM,
    Codebook,
    CompressedTensor,
    HuffmanCoded,
    InterleavedCSC,
    LowBit,
    LowRank,
    StorageBits,
    is_sign_table,
)
from accelsim.errors import CompressionError

#: layouts stored as compressed-sparse rows / columns (values + indices + pointers)
SPARSE_LAYOUTS = ("csr", "csc", "interleaved_csc")

#: per-PE interleaved layouts kept per view by :meth:`WeightView.interleaved` (least recently used
#: dropped first; 0 disables the cache, every call builds a new layout)
INTERLEAVED_CACHE_SIZE = 8


@dataclass(frozen=True, eq=False)
class WeightView:
    """What hardware needs to know about one layer's stored weights.

    ``layout``: the stored structure - ``none`` (no compressed tensor: dense at the hardware's native
    precision), ``dense``, ``csr``, ``csc``, ``interleaved_csc``, ``bitmask``, ``nm``, ``lowbit``,
    ``lowrank`` or ``codebook`` (a codebook over dense codes). ``value_bits``: bits of one stored
    value (a codebook index when ``codebook_size`` is set); ``index_bits``: bits of one stored
    position index (None: no per-entry index); ``pointer_bits``: bits of one row / column start.
    ``bits``: stored bits by kind (payload, index, pointer, codebook, metadata); zero without a
    compressed tensor. ``tensor``: the structural tensor itself (for a model that replays the exact
    stored layout, e.g. per-PE interleaved CSC with padding entries), or None.

    Quantized values (the storage accounting is the single truth; ``docs/compression.md`` section 6):
    ``element_format`` (``int4``, ``uint4``, ``e4m3``, ``e2m1``, ...; None when the values are not
    quantized codes), ``scale_format`` (``fp32``, ``fp16``, ``bf16``, ``e8m0``, ``e4m3``),
    ``scale_bits`` (bits of one scale), ``group_size`` (weights sharing one scale: 128 for g128, K
    per channel, rows x cols for 2-D blocks, N x K per tensor), ``scale_block`` ((rows, cols) of
    that group), ``zero_point_bits`` (0: symmetric), ``tensor_scale_bits`` (a second-level per-tensor
    scale, NVFP4: 32), ``g_idx_bits`` (the column-to-group map stored per input column, 0 without),
    ``act_order`` (the map orders the columns, so a kernel reads it: GPTQ's act-order).
    """

    shape: tuple[int, int] | None
    layout: str
    value_bits: int | None = None
    index_bits: int | None = None
    pointer_bits: int | None = None
    relative_index: bool = False
    n_partitions: int = 1
    codebook_size: int | None = None
    codebook_table: np.ndarray | None = None
    nm: tuple[int, int] | None = None
    huffman_streams: tuple[str, ...] = ()
    bits: StorageBits = field(default_factory=StorageBits)
    tensor: Any = None
    #: the effective matrix as the layer holds it: an ndarray, a compact form (mask and kept values, packed
    #: codes: built on read by :attr:`matrix`, not kept), a SciPy array, or None
    held: Any = None
    element_format: str | None = None
    scale_format: str | None = None
    scale_bits: int | None = None
    group_size: int | None = None
    scale_block: tuple[int, int] | None = None
    zero_point_bits: int = 0
    tensor_scale_bits: int = 0
    g_idx_bits: int = 0
    act_order: bool = False

    @property
    def bits_per_element(self) -> float | None:
        """Stored bits (values, indices, pointers, scales, zero points, ...) per weight-matrix element."""
        if self.shape is None or self.layout == "none":
            return None
        return self.stored_bits / max(self.shape[0] * self.shape[1], 1)

    @property
    def sign_codebook(self) -> bool:
        """Whether the codebook is a scaled sign set, binary ``[-a, a]`` or ternary ``[-a, 0, a]`` per row or per
        tensor (``binarize``, ``ternarize``, 1-bit ``quantize``): integer weights times a scale, which hardware
        runs without a table lookup, the scale applied to the outputs (docs/compression.md; :func:`is_sign_table`)."""
        return is_sign_table(self.codebook_table)

    @property
    def scale_bits_per_weight(self) -> float:
        """Scale and zero-point bits per weight from the group structure: ``(scale_bits +
        zero_point_bits) / group_size`` (0 without scales; per-tensor terms excluded)."""
        if not self.scale_bits or not self.group_size:
            return 0.0
        return (self.scale_bits + self.zero_point_bits) / self.group_size

    @property
    def matrix(self) -> Any:
        """The effective matrix the hardware multiplies (an ndarray; a SciPy array for a view of one), or None. A
        compact one is built on each read and not kept here, so a view does not hold a dense copy of a compact
        layer; a model reading it more than once keeps what it derives (:attr:`pattern`, EIE's layouts)."""
        m = self.held
        return m.materialize() if hasattr(m, "materialize") else m

    @property
    def has_matrix(self) -> bool:
        """Whether the layer holds effective weights (without building a compact one)."""
        return self.held is not None

    @property
    def is_sparse_layout(self) -> bool:
        """True when the weights are stored as compressed-sparse rows / columns."""
        return self.layout in SPARSE_LAYOUTS

    @property
    def stored_bits(self) -> int:
        return int(self.bits.total)

    @cached_property
    def pattern(self) -> sp.csr_array | None:
        """The effective weights as a SciPy CSR array (explicit zeros dropped); None without values."""
        if self.has_matrix:
            out = sp.csr_array(self.matrix)
        elif self.is_statistics:  # shapes and formats only: no pattern
            return None
        elif self.tensor is not None and hasattr(self.tensor, "to_scipy"):
            out = sp.csr_array(self.tensor.to_scipy())
        elif self.tensor is not None and hasattr(self.tensor, "to_dense"):
            out = sp.csr_array(np.asarray(self.tensor.to_dense()))
        else:
            return None
        out.eliminate_zeros()
        return out

    @property
    def is_statistics(self) -> bool:
        """True when the weights are known by shape and format only (``accelsim.compress.statistics``: no
        values, ``matrix`` / ``pattern`` None); every field but the value-derived ones is exact."""
        return bool(getattr(self.tensor, "is_statistics", False))

    @cached_property
    def nnz(self) -> int | None:
        """Non-zeros of the effective weights (a statistics view: the stored positions, ``N * K`` or
        ``N * K * n / m``; values rounded to zero count as stored)."""
        p = self.pattern
        if p is None and self.is_statistics:
            return int(self.tensor.nnz)
        return None if p is None else int(p.nnz)

    def nnz_per_row(self) -> np.ndarray | None:
        """Non-zeros of every output row (int64), or None without values."""
        p = self.pattern
        return None if p is None else np.diff(p.indptr).astype(np.int64)

    def nnz_per_col(self) -> np.ndarray | None:
        """Non-zeros of every reduction column (int64), or None without values."""
        p = self.pattern
        return None if p is None else np.bincount(p.indices, minlength=p.shape[1]).astype(np.int64)

    @cached_property
    def _interleaved(self) -> OrderedDict:
        return OrderedDict()

    def interleaved(self, n_pe: int, index_bits: int, value_bits: int, pointer_bits: int | None) -> InterleavedCSC:
        """The effective matrix as an :class:`InterleavedCSC` over ``n_pe`` PEs with ``index_bits``-bit
        relative row indices (padding entries included), ``value_bits``-bit values and
        ``pointer_bits``-bit column pointers.

        Built once per argument tuple and kept on the view (which lives as long as its
        ``CompressedLayer``), so a sweep over PE counts or hardware that share a layout builds it
        once; at most :data:`INTERLEAVED_CACHE_SIZE` layouts are kept per view, least recently used
        dropped first. Callers must not mutate the returned layout. CompressionError without an
        effective matrix.
        """
        key = (int(n_pe), int(index_bits), int(value_bits), None if pointer_bits is None else int(pointer_bits))
        cache = self._interleaved
        hit = cache.get(key)
        if hit is not None:
            try:
                cache.move_to_end(key)
            except KeyError:  # dropped by a concurrent caller meanwhile
                pass
            return hit
        if not self.has_matrix:
            raise CompressionError("WeightView.interleaved: the layer has no effective weight matrix to lay out")
        csc = InterleavedCSC(self.matrix, n_pe=key[0], index_bits=key[1], value_bits=key[2], pointer_bits=key[3])
        if INTERLEAVED_CACHE_SIZE > 0:
            cache[key] = csc
            while len(cache) > INTERLEAVED_CACHE_SIZE:
                cache.popitem(last=False)
        return csc

    def nnz_per_partition(self, n_pe: int) -> np.ndarray | None:
        """Non-zeros held by each of ``n_pe`` PEs when rows interleave (row i on PE i mod n_pe)."""
        rows = self.nnz_per_row()
        if rows is None:
            return None
        pad = (-len(rows)) % n_pe
        return np.pad(rows, (0, pad)).reshape(-1, n_pe).sum(axis=0)


def _bits(tensor) -> StorageBits:
    if tensor is None or not hasattr(tensor, "storage_bits"):
        return StorageBits()
    return tensor.storage_bits()


def weight_view(tensor: Any, matrix: np.ndarray | None = None, *, nm: tuple[int, int] | None = None,
                shape: tuple[int, int] | None = None) -> WeightView:
    """The :class:`WeightView` of a stored weight tensor (a ``CompressedTensor``, a SciPy CSR / CSC
    matrix - cuSPARSE's own layout - or None) and the effective ``matrix`` the hardware multiplies."""
    if matrix is not None and shape is None:
        shape = tuple(int(s) for s in matrix.shape)
    if tensor is None:
        return WeightView(shape=shape, layout="none", nm=nm, held=matrix)
    if sp.issparse(tensor):
        stored = tensor if tensor.format in ("csr", "csc") else sp.csr_array(tensor)
        value_bits = 8 * stored.dtype.itemsize
        index_bits = 8 * stored.indices.dtype.itemsize
        pointer_bits = 8 * stored.indptr.dtype.itemsize
        bits = StorageBits(payload=int(stored.nnz) * value_bits, index=int(stored.nnz) * index_bits,
                           pointer=len(stored.indptr) * pointer_bits)
        return WeightView(shape=tuple(int(s) for s in stored.shape), layout=stored.format, value_bits=value_bits,
                          index_bits=index_bits, pointer_bits=pointer_bits, nm=nm, bits=bits, tensor=stored,
                          held=matrix if matrix is not None else stored)
    if not isinstance(tensor, CompressedTensor):
        raise TypeError(f"weight_view: expected a compressed tensor or a SciPy sparse matrix; got {type(tensor).__name__}")
    bits = _bits(tensor)
    streams: tuple[str, ...] = ()
    base = tensor
    if isinstance(base, HuffmanCoded):
        streams = tuple(base.streams)
        base = base.inner
    codebook_size = table = None
    code_bits = None
    if isinstance(base, Codebook):
        codebook_size, table, code_bits = int(base.codebook_size), np.asarray(base.table), int(base.index_bits)
        structure = base.inner
    else:
        structure = base
    if structure is None:  # a codebook over dense codes
        return WeightView(shape=shape or tuple(base.shape), layout="codebook", value_bits=code_bits,
                          codebook_size=codebook_size, codebook_table=table, nm=nm, huffman_streams=streams,
                          bits=bits, tensor=base, held=matrix)
    layout = structure.kind
    index_bits = getattr(structure, "index_bits", None) if layout in SPARSE_LAYOUTS else None
    pointer_bits = getattr(structure, "pointer_bits", None) if layout in SPARSE_LAYOUTS else None
    value_bits = code_bits
    if value_bits is None:
        if isinstance(structure, LowBit):
            value_bits = int(structure.bits)
        elif isinstance(structure, LowRank):
            value_bits = int(structure.bits)
        else:
            value_bits = getattr(structure, "value_bits", None) or getattr(structure, "bits", None)
    if isinstance(structure, NM) and nm is None:
        nm = (int(structure.n), int(structure.m))
    quant = _quant_fields(structure, shape or tuple(int(s) for s in structure.shape))
    return WeightView(
        shape=shape or tuple(int(s) for s in structure.shape), layout=layout,
        value_bits=int(value_bits) if value_bits is not None else None,
        index_bits=int(index_bits) if index_bits is not None else None,
        pointer_bits=int(pointer_bits) if pointer_bits is not None else None,
        relative_index=bool(getattr(structure, "relative", False)),
        n_partitions=int(structure.n_pe) if isinstance(structure, InterleavedCSC) else 1,
        codebook_size=codebook_size, codebook_table=table, nm=nm, huffman_streams=streams, bits=bits,
        tensor=structure, held=matrix, **quant)


def _quant_fields(structure: Any, shape: tuple[int, int]) -> dict[str, Any]:
    """The quantization fields of the view: from a ``GroupQuant`` / a sparse format's ``quant_spec``,
    or the original ``LowBit`` (32-bit scales per channel or per tensor; zero points at ``bits``)."""
    spec = getattr(structure, "spec", None) if structure.kind == "lowbit" else None
    spec = spec or getattr(structure, "quant_spec", None)
    if spec is not None:
        g_idx = getattr(structure, "g_idx", None)
        return {"element_format": spec.element, "scale_format": spec.scale, "scale_bits": spec.scale_bits,
                "group_size": spec.group_size, "scale_block": tuple(spec.block), "zero_point_bits": spec.zero_point_bits,
                "tensor_scale_bits": 32 if spec.tensor_scale else 0, "g_idx_bits": 32 if spec.act_order or g_idx is not None else 0,
                "act_order": bool(spec.act_order)}
    if isinstance(structure, LowBit):
        rows, cols = (shape[0], int(np.prod(shape[1:]))) if len(shape) > 1 else (1, shape[0])
        block = (1, cols) if structure.per_channel else (rows, cols)
        zp = structure.bits if np.any(structure.zero_point != 0) else 0
        return {"element_format": f"{'int' if structure.signed else 'uint'}{structure.bits}", "scale_format": "fp32",
                "scale_bits": 32, "group_size": block[0] * block[1], "scale_block": block, "zero_point_bits": zp}
    return {}


__all__ = ["SPARSE_LAYOUTS", "WeightView", "weight_view"]
