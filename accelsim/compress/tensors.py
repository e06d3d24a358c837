"""Compressed weight tensors with exact storage accounting.

Every format has ``shape``, ``nnz`` (true non-zeros of the decoded tensor), ``to_dense()`` (exact
round trip, or the dequantized values for quantized formats) and ``storage_bits()`` returning a
:class:`StorageBits` split into payload (values or codes), index (positions), pointer (column /
row starts), codebook (shared-value tables) and metadata (scales, N:M selectors, Huffman tables).
Storage formulas: ``docs/compression.md``.

Sparse formats work on 2-D matrices in the hardware orientation ``(rows = outputs, cols =
reduction inputs)``. They are built from a matrix and an optional ``mask`` of kept positions
(default ``matrix != 0``); a mask lets a format carry codebook codes, where code 0 is a legal kept
value. Padding entries (relative indices whose gap overflows) store value 0 and are flagged in
``is_padding``; they are real stored entries for storage and for hardware timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from accelsim.compress import _kernels as K
from accelsim.errors import CompressionError

__all__ = [
    "CSC",
    "CSR",
    "NM",
    "Bitmask",
    "Codebook",
    "CompressedTensor",
    "Dense",
    "HuffmanCoded",
    "Scattered",
    "InterleavedCSC",
    "KeptByReference",
    "LowBit",
    "LowRank",
    "RowScaleDecode",
    "StorageBits",
    "as_decoder",
    "bits_for",
    "column_pattern",
    "index_dtype",
]


def bits_for(count: int) -> int:
    """Bits of an unsigned field that can hold ``count`` distinct values (at least 1)."""
    return max(1, int(math.ceil(math.log2(count)))) if count > 1 else 1


def is_sign_table(table: Any) -> bool:
    """Whether a codebook ``table`` (one row of entries, or one per output row) is a scaled sign set: binary
    ``[-a, a]`` or ternary ``[-a, 0, a]`` with ``a >= 0`` (``binarize``, ``ternarize``, a 1-bit ``quantize``, or a
    ``share`` that re-clusters them): integer weights times a scale, which hardware runs at the code width with the
    scale applied to the outputs, without a table lookup (docs/compression.md)."""
    if table is None:
        return False
    t = np.asarray(table)
    if t.ndim == 0 or t.shape[-1] not in (2, 3):
        return False
    t = t.reshape(-1, t.shape[-1])
    a = t[:, -1]
    return bool(np.all(a >= 0) and np.all(t[:, 0] == -a) and (t.shape[1] == 2 or np.all(t[:, 1] == 0)))


def _check_bits(value: Any, what: str, lo: int = 1, hi: int = 64) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
        raise CompressionError(f"{what} must be an int in [{lo}, {hi}]; got {value!r}")
    return int(value)


class KeptByReference:
    """The kept values of a pruned layer whose values are its unmodified weights: the entries of ``source``
    (the layer's weight matrix, held by reference and read only) at the kept positions of ``holder``'s
    bit-packed mask (``shape``, ``mask_rows(r0, r1)``, ``kept_count()``: a
    :class:`~accelsim.compress.compressed.MaskedMatrix`), in row-major order. Nothing is copied until read:
    :meth:`gather` builds the array a block of rows at a time (a gathered array still alive somewhere is
    handed out again: weak reference); pickled, it is that array."""

    ndim = 1

    def __init__(self, source: np.ndarray, holder: Any):
        self.source = source
        self.holder = holder
        self.dtype = source.dtype
        self.size = int(holder.kept_count())
        self.shape = (self.size,)
        self._ref = None

    def gather(self) -> np.ndarray:
        """The kept values as a read-only array."""
        import weakref

        hit = self._ref() if self._ref is not None else None
        if hit is not None:
            return hit
        out, at = np.empty(self.size, self.dtype), 0
        for kept in self._blocks():
            out[at:at + kept.size] = kept
            at += kept.size
        out.flags.writeable = False
        self._ref = weakref.ref(out)
        return out

    def _blocks(self):
        """The kept values a block of about 2**20 weights at a time."""
        n_rows, n_cols = self.holder.shape
        step = max(1, (1 << 20) // max(int(n_cols), 1))
        for r0 in range(0, n_rows, step):
            yield self.source[r0:r0 + step][self.holder.mask_rows(r0, r0 + step)]

    def all_finite(self) -> bool:
        return all(bool(np.all(np.isfinite(b))) for b in self._blocks())

    def __array__(self, dtype=None, copy=None):
        out = self.gather()
        return out if dtype is None else out.astype(dtype)

    def __reduce__(self):
        return (np.array, (self.gather(),))


def _values_array(values: Any) -> np.ndarray:
    """``values`` as an array (kept values held by reference gathered)."""
    return values.gather() if isinstance(values, KeptByReference) else values


class Scattered:
    """A 2-D matrix given compactly: a keep mask and the ``values`` at its kept positions in row-major
    order (zeros elsewhere). The sparse formats (:class:`CSR`, :class:`CSC`, :class:`InterleavedCSC`,
    :class:`Bitmask`) gather their stored values from it without a dense copy (``accelsim.compress``
    streams pruned layers this way); ``np.asarray`` gives the dense matrix. ``T`` is the transpose (a
    view: positions are swapped on lookup). The mask is a bool array, or (:meth:`from_packed`) a
    bit-packed one read a block of rows at a time (:meth:`mask_rows`) by the CSR layout."""

    ndim = 2

    def __init__(self, mask: np.ndarray, values: np.ndarray, _transposed: bool = False, _packed: Any = None):
        self._packed = _packed
        self._mask = None if _packed is not None else np.asarray(mask, dtype=bool)
        # the kept values: an array, or (a pruned layer's unmodified weights) a KeptByReference gathered when read
        self.values = values if isinstance(values, KeptByReference) else np.asarray(values).ravel()
        self.dtype = self.values.dtype
        self._transposed = _transposed
        rows, cols = (tuple(int(d) for d in _packed.shape) if _packed is not None else self._mask.shape)
        self.mask_shape = (rows, cols)
        self.shape = (cols, rows) if _transposed else (rows, cols)
        if _packed is None and self.values.size != int(np.count_nonzero(self._mask)):
            raise CompressionError(f"Scattered: {self.values.size} values for {int(np.count_nonzero(self._mask))} kept positions")

    @classmethod
    def from_packed(cls, packed: Any, values: np.ndarray) -> "Scattered":
        """From a bit-packed mask holder (``shape``, ``mask()``, ``mask_rows(r0, r1)``: a
        :class:`~accelsim.compress.compressed.MaskedMatrix`) and its kept values, without a bool mask."""
        return cls(None, values, _packed=packed)

    @property
    def mask(self) -> np.ndarray:
        """The bool mask (a packed one is unpacked whole: the CSR layout reads :meth:`mask_rows` instead)."""
        return self._mask if self._mask is not None else self._packed.mask()

    def mask_rows(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0 .. r1 - 1`` of the bool mask."""
        return self._mask[r0:r1] if self._mask is not None else self._packed.mask_rows(r0, r1)

    @property
    def T(self) -> "Scattered":
        return Scattered(self._mask, self.values, not self._transposed, _packed=self._packed)

    @property
    def transposed(self) -> bool:
        """True for the transpose of the mask's matrix (``T``)."""
        return self._transposed

    def __array__(self, dtype=None, copy=None):
        out = np.zeros(self.mask.shape, self.dtype)
        out[self.mask] = _values_array(self.values)
        if self._transposed:
            out = out.T
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key):
        values = _values_array(self.values)
        if isinstance(key, np.ndarray) and key.dtype == bool and key.shape == self.shape:
            if np.array_equal(key, self.mask.T if self._transposed else self.mask):
                return values.copy()
        elif isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, np.ndarray) and k.dtype.kind in "iu" for k in key):
            r, c = (key[1], key[0]) if self._transposed else key
            lin = r.astype(np.int64)
            lin *= self.mask.shape[1]
            lin += c
            keys = np.flatnonzero(self.mask)
            if lin.size == keys.size and np.array_equal(lin, keys):  # all kept positions, in row-major order
                return values.copy()
            idx = np.minimum(np.searchsorted(keys, lin), max(keys.size - 1, 0))
            if keys.size == 0 or not np.array_equal(keys[idx], lin):  # a position that is not kept
                return np.asarray(self)[key]
            return values[idx]
        return np.asarray(self)[key]


def _as_matrix(matrix: Any, what: str) -> np.ndarray:
    if isinstance(matrix, Scattered):
        v = matrix.values
        if np.issubdtype(matrix.dtype, np.floating) and not (
                v.all_finite() if isinstance(v, KeptByReference) else np.all(np.isfinite(v))):
            raise CompressionError(f"{what} contains NaN or infinite values")
        return matrix  # type: ignore[return-value]
    m = np.asarray(matrix)
    if m.ndim != 2:
        raise CompressionError(f"{what} must be a 2-D matrix; got shape {list(m.shape)}")
    if not (np.issubdtype(m.dtype, np.number) or m.dtype == bool):
        raise CompressionError(f"{what} must be numeric; got dtype {m.dtype}")
    if np.issubdtype(m.dtype, np.floating) and not np.all(np.isfinite(m)):
        raise CompressionError(f"{what} contains NaN or infinite values")
    return m


def _as_mask(mask: Any, matrix: np.ndarray, what: str) -> np.ndarray:
    if mask is None:
        return matrix != 0
    mk = np.asarray(mask)
    if mk.shape != matrix.shape or mk.dtype != bool:
        raise CompressionError(f"{what} mask must be a bool array of shape {list(matrix.shape)}; got {mk.dtype} {list(mk.shape)}")
    return mk


def _symbols(values: np.ndarray) -> np.ndarray:
    """Non-negative integer symbols of stored values: the values themselves when they are
    non-negative integers (codes), else the rank of each distinct value (quantization levels)."""
    v = np.ravel(values)
    if np.issubdtype(v.dtype, np.integer) and (v.size == 0 or v.min() >= 0):
        return v
    return np.unique(v, return_inverse=True)[1].astype(np.int64).ravel()


def _check_meta(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise CompressionError(f"metadata_bits must be an int >= 0; got {value!r}")
    return int(value)


def _pack(values: np.ndarray, bits: int, what: str) -> tuple[np.ndarray, int]:
    """Pack stored values at ``bits`` bits each: unsigned codes, two's-complement integers, or the
    IEEE bit pattern of float32 / float16 values at 32 / 16 bits."""
    v = np.ravel(values)
    if np.issubdtype(v.dtype, np.floating):
        if bits == 32:
            u = v.astype(np.float32).view(np.uint32).astype(np.uint64)
        elif bits == 16:
            u = v.astype(np.float16).view(np.uint16).astype(np.uint64)
        else:
            raise CompressionError(f"{what}: float values stored at {bits} bits have no bit layout; quantize or share them first")
    elif np.issubdtype(v.dtype, np.integer) or v.dtype == bool:
        iv = v.astype(np.int64)
        lo = -(1 << (bits - 1)) if iv.size and iv.min() < 0 else 0
        hi = (1 << (bits - 1)) - 1 if lo < 0 else (1 << bits) - 1
        if iv.size and (iv.min() < lo or iv.max() > hi):
            raise CompressionError(f"{what}: values [{iv.min()}, {iv.max()}] do not fit {bits} bits")
        u = iv.astype(np.uint64)  # two's complement, masked to ``bits`` by the packer
    else:
        raise CompressionError(f"{what}: cannot pack dtype {v.dtype}")
    return K.pack_bits(u, bits), int(v.size) * bits


@dataclass(frozen=True)
class StorageBits:
    """Stored bits of one tensor, by kind."""

    payload: int = 0
    index: int = 0
    pointer: int = 0
    codebook: int = 0
    metadata: int = 0

    @property
    def total(self) -> int:
        return self.payload + self.index + self.pointer + self.codebook + self.metadata

    def __add__(self, other: "StorageBits") -> "StorageBits":
        return StorageBits(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple())))

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.payload, self.index, self.pointer, self.codebook, self.metadata)

    def to_dict(self) -> dict[str, int]:
        return {"payload": self.payload, "index": self.index, "pointer": self.pointer,
                "codebook": self.codebook, "metadata": self.metadata, "total": self.total}


class CompressedTensor:
    """Common interface; subclasses set ``kind`` and implement the abstract members."""

    kind = "tensor"
    #: how the stored values are quantized when they are low-bit codes with scales (an
    #: ``accelsim.compress.formats.QuantSpec``; set on sparse formats that carry group-quantized
    #: values, e.g. 2:4 + int4), else None
    quant_spec = None

    @property
    def shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.to_dense()))

    @property
    def density(self) -> float:
        return self.nnz / max(self.size, 1)

    def to_dense(self) -> np.ndarray:
        raise NotImplementedError

    def storage_bits(self) -> StorageBits:
        raise NotImplementedError

    def storage_ratio(self, base_bits: int = 32) -> float:
        """Dense ``base_bits`` storage over this format's total stored bits (Deep Compression's
        compression rate; ``stats["storage_ratio"]``)."""
        return self.size * base_bits / max(self.storage_bits().total, 1)

    def compression_ratio(self, base_bits: int = 32) -> float:
        """Deprecated alias of :meth:`storage_ratio` (kept for one release: "compression ratio" also
        names ShrinkBench's weights / non-zeros, ``nnz_ratio``)."""
        return self.storage_ratio(base_bits)

    def packed(self) -> dict[str, tuple[np.ndarray, int]]:
        """The stored streams as packed uint64 words: ``{field: (words, n_bits)}``, ``n_bits`` equal
        to that field of :meth:`storage_bits` (tables and scales are not packed)."""
        raise CompressionError(f"{self.kind} has no packed layout")

    def payload_symbols(self) -> np.ndarray:
        """The stored payload symbols in storage order (what a Huffman coder of values sees)."""
        raise CompressionError(f"{self.kind} has no integer payload symbols to entropy-code")

    def index_symbols(self) -> np.ndarray:
        """The stored index symbols in storage order (relative indices for sparse formats)."""
        raise CompressionError(f"{self.kind} has no index symbols to entropy-code")

    def __repr__(self) -> str:
        b = self.storage_bits()
        return f"{type(self).__name__}(shape={self.shape}, nnz={self.nnz}, bits={b.total})"


# ----------------------------------------------------------------------------------------------
class Dense(CompressedTensor):
    """Every element stored at ``bits`` bits: payload = size * bits."""

    kind = "dense"

    def __init__(self, values: Any, bits: int = 32):
        self.values = np.asarray(values)
        if not np.issubdtype(self.values.dtype, np.number):
            raise CompressionError(f"Dense values must be numeric; got dtype {self.values.dtype}")
        if np.issubdtype(self.values.dtype, np.floating) and not np.all(np.isfinite(self.values)):
            raise CompressionError("Dense values contain NaN or infinite values")
        self.bits = _check_bits(bits, "Dense bits")

    @property
    def shape(self):
        return tuple(self.values.shape)

    def to_dense(self):
        return self.values.copy()

    def storage_bits(self):
        return StorageBits(payload=self.size * self.bits)


# ----------------------------------------------------------------------------------------------
def index_dtype(index_bits: int) -> type:
    """The narrowest unsigned type a stored index of ``index_bits`` bits (a relative zero count up to
    ``2**index_bits - 1``, or an absolute local row) is held in: uint8, uint16 or uint32."""
    return np.uint8 if index_bits <= 8 else (np.uint16 if index_bits <= 16 else np.uint32)


def column_pattern(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSC pattern of a 2-D bool ``mask``: ``indptr`` int64 (n_cols + 1) and ``rows`` int32
    (ascending within each column), e.g. the kept pattern hardware models derive layouts from."""
    indptr, rows, _ = _column_pattern(np.asarray(mask, dtype=bool))
    return indptr, rows


def _column_pattern(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, rows, cols)`` of the kept entries of a 2-D bool ``mask`` in column-major order:
    ``indptr`` int64 (n_cols + 1), ``rows`` int32 and ``cols`` int32 per kept entry.

    A row-major (C-ordered) mask is read row by row by a kernel (a column-major walk over it, as
    ``np.nonzero(mask.T)`` does, is several times slower); a column-major one (the transpose of a
    C-ordered mask, as :class:`CSR` passes) is already in the right order for ``np.nonzero``."""
    n_cols = mask.shape[1]
    if mask.flags.f_contiguous and not mask.flags.c_contiguous:
        # a block of the transpose's rows at a time: int32 positions, no full-size int64 pair
        mt = mask.T
        cols = np.empty(int(np.count_nonzero(mt)), np.int32)
        rows = np.empty(cols.size, np.int32)
        step = max(1, (1 << 16) // max(mt.shape[1], 1))
        at = 0
        for c0 in range(0, mt.shape[0], step):
            c64, r64 = np.nonzero(mt[c0:c0 + step])
            cols[at:at + c64.size] = c64 + c0
            rows[at:at + r64.size] = r64
            at += c64.size
        del c64, r64
        indptr = np.zeros(n_cols + 1, np.int64)
        np.cumsum(np.bincount(cols, minlength=n_cols), out=indptr[1:])
        return indptr, rows, cols
    indptr, rows = K.column_pattern(np.ascontiguousarray(mask))
    cols = np.repeat(np.arange(n_cols, dtype=np.int32), np.diff(indptr))
    return indptr, rows, cols


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` and ``b`` view the same memory the same way (so they are equal without a compare)."""
    return (a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def _spread(kept: np.ndarray, padding: np.ndarray, dtype) -> np.ndarray:
    """The stored values: ``kept`` in order at the entries that are not ``padding``, zeros at the padding
    ones (a block of entries at a time: no full-size temporary)."""
    out = np.zeros(padding.size, dtype)
    at = 0
    for s in range(0, padding.size, 1 << 20):
        keep = ~padding[s:s + (1 << 20)]
        n = int(np.count_nonzero(keep))
        out[s:s + keep.size][keep] = kept[at:at + n]
        at += n
    return out


def _shared_values(values: np.ndarray, dtype) -> np.ndarray:
    """``values`` in ``dtype`` as a read-only view (no copy when the type matches): stored values that are
    the kept values themselves, shared with the layer's compact form."""
    out = values.astype(dtype, copy=False).view()
    out.flags.writeable = False
    return out


def _no_padding(n: int) -> np.ndarray:
    """The padding flags of ``n`` stored entries none of which is padding: one shared False, read-only."""
    return np.broadcast_to(np.False_, (n,))


def _position_proto(n: int) -> np.ndarray:
    """An empty array of the type entry positions below ``n`` are held in: int32 while they fit."""
    return np.empty(0, np.int32 if n < (1 << 31) - 1 else np.int64)


def _rows_layout(m: Scattered, span: int, index_proto: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pe_ptr (1, rows + 1), index, padding)``: the one-PE layout of the transpose of ``m``'s mask (each
    mask row a stored column, its kept columns the entries), built a block of mask rows at a time so that no
    pattern array (nor, for a packed mask, the bool mask) of the whole matrix is held (a CSR of a pruned
    layer). Absolute indices (``span`` 0) store exactly the kept entries, so their arrays are filled in
    place; relative ones may add padding zeros and are joined at the end."""
    n_rows, n_cols = m.mask_shape
    step = max(1, (1 << 18) // max(n_cols, 1))  # a block's int64 positions: 4 MiB x density
    ptr = np.zeros((1, n_rows + 1), np.int64)
    known = int(m.values.size) if span == 0 else -1
    index_out = np.empty(max(known, 0), index_proto.dtype)
    pad_out = np.zeros(max(known, 0), bool)
    indices, padding = [], []
    for r0 in range(0, n_rows, step):
        block = m.mask_rows(r0, min(r0 + step, n_rows))
        r64, c64 = np.nonzero(block)  # row-major: each row's kept columns ascending
        indptr = np.zeros(block.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(r64, minlength=block.shape[0]), out=indptr[1:])
        _, pe_ptr, _, index, pad, _ = K.interleaved_build(indptr, c64.astype(np.int32), block.shape[0], 1, span,
                                                          index_proto, _position_proto(0), False)
        at = int(ptr[0, r0])
        ptr[0, r0 + 1:r0 + 1 + block.shape[0]] = pe_ptr[0, 1:] + at
        if known >= 0:
            index_out[at:at + index.size] = index
        else:
            indices.append(index)
            padding.append(pad)
        del r64, c64, indptr, index, pad
    if known < 0:
        index_out = np.concatenate(indices) if indices else index_out
        pad_out = np.concatenate(padding) if padding else pad_out
    return ptr, index_out, pad_out


def as_decoder(decode: Any) -> Any:
    """A decoder of stored codes: a ``(scale, zero_point, dtype)`` tuple becomes a :class:`RowScaleDecode` (a
    uniform quantizer, as :class:`LowBit`); a decoder object (``formats.GroupDecode``) is returned as is."""
    return RowScaleDecode(*decode) if isinstance(decode, tuple) else decode


class _StoredCodes:
    """A format whose stored values (attribute :attr:`_codes_attr`) may be a quantizer's integer codes with
    their decoder (``decode``; :class:`NM`, a one-PE :class:`CSC`): the checks, the padding entries set to the
    code of a zero value at their position, and the decoded values."""

    _codes_attr = "values"
    decode: Any = None

    def _set_decoder(self, decode: Any) -> None:
        """Check ``decode`` against the stored codes and set it; the padding entries of each block that
        :meth:`_padding_blocks` yields as ``(selection, padding flags, rows, cols)`` get their zero code."""
        decode = as_decoder(decode)
        codes = getattr(self, self._codes_attr)
        if not np.issubdtype(codes.dtype, np.integer):
            raise CompressionError(f"{type(self).__name__} decode needs integer codes as values; got {codes.dtype}")
        decode.check(self._shape)
        for sel, pad, rows, cols in self._padding_blocks():
            zero = decode.zero_codes(rows[pad], cols[pad])
            block = codes[sel]
            if np.any(zero != block[pad]):
                if not codes.flags.writeable:  # the kept codes shared with the compact form: a copy of its own
                    codes = codes.copy()
                    setattr(self, self._codes_attr, codes)
                    block = codes[sel]
                block[pad] = zero
        self.decode = decode

    def _decoded(self, codes: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Stored values ``codes`` at ``(rows, cols)`` as matrix values (the codes themselves without ``decode``)."""
        return codes if self.decode is None else self.decode.values(codes, rows, cols)

    @property
    def _dtype(self) -> np.dtype:
        return getattr(self, self._codes_attr).dtype if self.decode is None else self.decode.dtype


class InterleavedCSC(_StoredCodes, CompressedTensor):
    """EIE's row-interleaved compressed sparse column format (plain CSC when ``n_pe == 1``).

    Row ``i`` lives on PE ``i % n_pe``; PE ``p`` holds the sub-matrix of rows ``p, p+P, ...`` as
    its own CSC: per column the stored values ``v`` and indices ``z`` plus a pointer vector of
    ``n_cols + 1`` entries. With ``relative=True`` (default when ``index_bits`` is given) ``z``
    counts the zeros before an entry within the PE's rows; a run longer than ``2**index_bits - 1``
    stores a padding zero (value 0, index ``2**index_bits - 1``) per ``2**index_bits`` zeros.
    With absolute indices ``z`` is the local row, ``index_bits`` defaults to
    ``ceil(log2(local_rows))`` and may not be smaller.

    Storage: payload = stored * value_bits; index = stored * index_bits;
    pointer = n_pe * (n_cols + 1) * pointer_bits (``pointer_bits=None``: the fewest bits that hold
    the largest per-PE entry count).
    """

    kind = "interleaved_csc"
    _codes_attr = "flat_values"  # the stored values (codes, with ``decode``)

    def __init__(self, matrix: Any, n_pe: int = 1, index_bits: int | None = None, value_bits: int = 32,
                 pointer_bits: int | None = 16, relative: bool | None = None, mask: Any = None,
                 metadata_bits: int = 0, decode: Any = None, index_axis: str = "rows"):
        m = _as_matrix(matrix, f"{type(self).__name__} matrix")
        self.metadata_bits = _check_meta(metadata_bits)
        # a compact matrix without a separate mask: its own (possibly packed) mask, read only where needed
        mk = None if mask is None and isinstance(m, Scattered) else _as_mask(mask, m, type(self).__name__)
        self.n_pe = _check_bits(n_pe, "n_pe", 1, 1 << 20)
        self.value_bits = _check_bits(value_bits, "value_bits")
        n_rows, n_cols = m.shape
        self._shape = (int(n_rows), int(n_cols))
        self.local_rows = -(-n_rows // self.n_pe) if n_rows else 0
        if relative is None:
            relative = index_bits is not None
        self.relative = bool(relative)
        if self.relative:
            if index_bits is None:
                raise CompressionError("relative indices need index_bits")
            self.index_bits = _check_bits(index_bits, "index_bits", 1, 32)
        else:
            need = bits_for(self.local_rows)
            self.index_bits = need if index_bits is None else _check_bits(index_bits, "index_bits", 1, 64)
            if self.index_bits < need:
                raise CompressionError(
                    f"absolute index_bits={self.index_bits} cannot address {self.local_rows} {index_axis} (need {need})")
        # one PE over the transpose of a compact matrix (CSR of a pruned layer): the storage order is the
        # row-major order the kept values are held in
        in_order = isinstance(m, Scattered) and m.transposed and self.n_pe == 1 and (
            mk is None or _same_view(mk.T, m.mask) or np.array_equal(mk.T, m.mask))
        if mk is None and not in_order:
            mk = m.mask.T if m.transposed else m.mask
        span = (1 << self.index_bits) if self.relative else 0
        index_proto = np.empty(0, index_dtype(self.index_bits))  # indices written at their stored width
        dtype = m.dtype if m.dtype != bool else np.int64
        if in_order:  # the values are held in storage order: the layout is read from the mask a block at a time
            self.pe_ptr, index, self.is_padding = _rows_layout(m, span, index_proto)
            total, n_kept = int(self.pe_ptr[0, -1]), int(m.values.size)
            self.pe_offsets = np.array([0, total], np.int64)
            if total == n_kept and isinstance(m.values, KeptByReference) and m.values.dtype == dtype:
                vals = m.values  # the weights themselves, by reference: gathered when read (flat_values)
            elif total == n_kept:  # no padding: the stored values are the kept values, shared
                vals = _shared_values(_values_array(m.values), dtype)
            else:
                vals = _spread(_values_array(m.values), self.is_padding, dtype)
        else:
            indptr, rows, cols = _column_pattern(mk)
            n_kept = int(rows.size)
            counts, self.pe_ptr, self.pe_offsets, index, self.is_padding, src = K.interleaved_build(
                indptr, rows, n_cols, self.n_pe, span, index_proto, _position_proto(n_kept), True)
            del counts, indptr  # entries_per_pe_col derives them from pe_ptr
            total = int(self.pe_offsets[-1])
            kept = ~self.is_padding
            vals = np.zeros(total, dtype)
            src = src[kept]  # positions of the kept entries in the column pattern, in storage order
            vals[kept] = m[rows[src], cols[src]]
            del src, kept
        if not self.is_padding.any():  # no padding zeros: no flag per stored entry
            self.is_padding = _no_padding(total)
        per_pe = self.pe_ptr[:, -1]
        self.flat_values = vals
        self.flat_index = index
        max_entries = int(per_pe.max()) if per_pe.size else 0
        self.pointer_bits = bits_for(max_entries + 1) if pointer_bits is None else _check_bits(pointer_bits, "pointer_bits")
        # a given width too narrow for the largest pointer: its bits are counted as given, packed() refuses, and the
        # recipe refuses a width it was given (compress.recipe); EIE's 16-bit default is kept for the accounting
        self.pointer_overflow = max_entries > (1 << min(self.pointer_bits, 62)) - 1
        self.max_pointer = max_entries
        self.kept = n_kept
        if decode is not None:  # stored codes (one PE: a CSC, or a CSR's transpose)
            if self.n_pe != 1:
                raise CompressionError(f"{type(self).__name__} decode of stored codes needs one PE; got n_pe={self.n_pe}")
            self._set_decoder(decode)

    @property
    def flat_values(self) -> np.ndarray:
        """The stored values, PE after PE (padding zeros included); kept values held by reference are gathered
        from the weights on each read that finds no gathered copy alive."""
        v = self.__dict__["_flat_values"]
        return v.gather() if isinstance(v, KeptByReference) else v

    @flat_values.setter
    def flat_values(self, v: Any) -> None:
        self.__dict__["_flat_values"] = v

    def _padding_blocks(self):
        """The blocks of whole columns holding padding zeros (one PE): ``(entries, flags, rows, cols)``."""
        if not self.is_padding.any():
            return
        for c0, c1, lo, hi in self._col_blocks():
            pad = self.is_padding[lo:hi]
            if pad.any():
                r, c = self._positions(c0, c1)
                yield slice(lo, hi), pad, r, c

    def _col_blocks(self):
        """``(c0, c1, lo, hi)``: blocks of whole columns of about 2**20 stored entries (one PE), entries
        ``lo:hi`` of ``flat_values``."""
        ptr = self.pe_ptr[0]
        n_cols = self._shape[1]
        step = max(1, (1 << 20) * max(n_cols, 1) // max(int(ptr[-1]), 1))
        for c0 in range(0, n_cols, step):
            c1 = min(n_cols, c0 + step)
            yield c0, c1, int(ptr[c0]), int(ptr[c1])

    def _positions(self, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the stored entries of columns ``c0 .. c1 - 1`` (one PE)."""
        ptr = self.pe_ptr[:, c0:c1 + 1] - self.pe_ptr[0, c0]
        lo, hi = int(self.pe_ptr[0, c0]), int(self.pe_ptr[0, c1])
        r, c = K.interleaved_decode(np.ascontiguousarray(ptr), np.zeros(1, np.int64), self.flat_index[lo:hi], 1,
                                    self.relative)
        return r, c + c0

    def dense_cols(self, c0: int, c1: int) -> np.ndarray:
        """Columns ``c0 .. c1 - 1`` of :meth:`to_dense`, shaped ``(rows, c1 - c0)`` (one PE: only those
        columns' stored entries are read; with several PEs, the columns of the whole)."""
        c0, c1 = max(0, c0), min(self._shape[1], c1)
        if self.n_pe != 1:
            return self.to_dense()[:, c0:max(c0, c1)].copy()
        out = np.zeros((self._shape[0], max(0, c1 - c0)), dtype=self._dtype)
        if c1 > c0:
            lo, hi = int(self.pe_ptr[0, c0]), int(self.pe_ptr[0, c1])
            r, c = self._positions(c0, c1)
            keep = ~self.is_padding[lo:hi]
            r, c = r[keep], c[keep]
            out[r, c - c0] = self._decoded(self.flat_values[lo:hi][keep], r, c)
        return out

    # --- structure ------------------------------------------------------------------------------
    @property
    def shape(self):
        return self._shape

    @property
    def stored_entries(self) -> int:
        """Stored (value, index) pairs including padding zeros."""
        return int(self.__dict__["_flat_values"].size)

    @property
    def padding_zeros(self) -> int:
        return int(self.is_padding.sum())

    @property
    def entries_per_pe_col(self) -> np.ndarray:
        """Stored entries (padding included) per PE per column ``(n_pe, n_cols)``, from ``pe_ptr``."""
        return np.diff(self.pe_ptr, axis=1)

    @property
    def values(self) -> list[np.ndarray]:
        """Per-PE stored values (padding zeros included), column-major within a PE."""
        return [self.flat_values[self.pe_offsets[p]:self.pe_offsets[p + 1]] for p in range(self.n_pe)]

    @property
    def rel_index(self) -> list[np.ndarray]:
        """Per-PE stored indices (relative zero counts, or local rows when absolute)."""
        return [self.flat_index[self.pe_offsets[p]:self.pe_offsets[p + 1]] for p in range(self.n_pe)]

    def entry_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Decoded (row, col) of every stored entry, from the stored indices and pointers only."""
        return K.interleaved_decode(self.pe_ptr, self.pe_offsets[:-1], self.flat_index, self.n_pe, self.relative)

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, values) of the kept (non-padding) entries (decoded, with ``decode``)."""
        r, c = self.entry_positions()
        keep = ~self.is_padding
        r, c = r[keep], c[keep]
        return r, c, self._decoded(self.flat_values[keep], r, c)

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self._shape, dtype=self._dtype)
        r, c, v = self.entries()
        out[r, c] = v
        return out

    @property
    def nnz(self) -> int:
        if self.decode is None:
            return int(np.count_nonzero(self.flat_values[~self.is_padding]))
        return sum(int(np.count_nonzero(self.dense_cols(c0, c1))) for c0, c1, _, _ in self._col_blocks())

    def storage_bits(self) -> StorageBits:
        n = self.stored_entries
        return StorageBits(payload=n * self.value_bits, index=n * self.index_bits,
                           pointer=self.n_pe * (self._shape[1] + 1) * self.pointer_bits, metadata=self.metadata_bits)

    def payload_symbols(self) -> np.ndarray:
        return _symbols(self.flat_values)

    def index_symbols(self) -> np.ndarray:
        return self.flat_index

    def packed(self) -> dict[str, tuple[np.ndarray, int]]:
        if self.pointer_overflow:
            raise CompressionError(f"pointers exceed {self.pointer_bits} bits")
        return {"payload": _pack(self.flat_values, self.value_bits, "payload"),
                "index": _pack(self.flat_index, self.index_bits, "index"),
                "pointer": _pack(self.pe_ptr.ravel(), self.pointer_bits, "pointer")}


class CSC(InterleavedCSC):
    """Compressed sparse column (one PE): ``values``, ``rel_index``, ``ptr`` (n_cols + 1).

    ``index_bits=None`` gives absolute row indices of ``ceil(log2(n_rows))`` bits; a given
    ``index_bits`` gives relative indices with padding zeros (``relative=False`` with
    ``index_bits=32`` is the plain 32-bit CSC of CPU/GPU libraries). ``pointer_bits=None``: the
    fewest bits that hold ``stored_entries``.
    """

    kind = "csc"

    def __init__(self, matrix: Any, index_bits: int | None = None, value_bits: int = 32,
                 pointer_bits: int | None = None, relative: bool | None = None, mask: Any = None,
                 metadata_bits: int = 0, decode: Any = None, index_axis: str = "rows"):
        super().__init__(matrix, n_pe=1, index_bits=index_bits, value_bits=value_bits,
                         pointer_bits=pointer_bits, relative=relative, mask=mask, metadata_bits=metadata_bits,
                         decode=decode, index_axis=index_axis)

    @property
    def values(self) -> np.ndarray:
        return self.flat_values

    @property
    def rel_index(self) -> np.ndarray:
        return self.flat_index

    @property
    def ptr(self) -> np.ndarray:
        return self.pe_ptr[0]

    @property
    def entries_per_col(self) -> np.ndarray:
        """Stored entries (padding included) per column."""
        return self.entries_per_pe_col[0]

    def to_scipy(self):
        import scipy.sparse as sp

        r, c, v = self.entries()
        return sp.csc_matrix((v, (r, c)), shape=self._shape)


class CSR(CompressedTensor):
    """Compressed sparse row: the CSC of the transpose; indices are column positions within a row.

    Same parameters and storage formulas as :class:`CSC` with rows and columns swapped:
    ``values``, ``rel_index``, ``ptr`` (n_rows + 1), ``entries_per_row``.
    """

    kind = "csr"

    def __init__(self, matrix: Any, index_bits: int | None = None, value_bits: int = 32,
                 pointer_bits: int | None = None, relative: bool | None = None, mask: Any = None,
                 metadata_bits: int = 0, decode: Any = None):
        m = _as_matrix(matrix, "CSR matrix")
        mk = None if mask is None and isinstance(m, Scattered) else _as_mask(mask, m, "CSR")
        decode = None if decode is None else as_decoder(decode)
        self.decode = decode  # in this matrix's coordinates; the transpose reads it through _Transposed
        self._t = CSC(m.T, index_bits=index_bits, value_bits=value_bits, pointer_bits=pointer_bits,
                      relative=relative, mask=None if mk is None else mk.T, metadata_bits=metadata_bits,
                      decode=None if decode is None else _Transposed(decode), index_axis="columns")
        self.value_bits, self.index_bits, self.pointer_bits = self._t.value_bits, self._t.index_bits, self._t.pointer_bits
        self.relative = self._t.relative
        self.is_padding = self._t.is_padding
        self.kept = self._t.kept

    @property
    def shape(self):
        return (self._t.shape[1], self._t.shape[0])

    values = property(lambda self: self._t.values)
    rel_index = property(lambda self: self._t.rel_index)
    pointer_overflow = property(lambda self: self._t.pointer_overflow)
    max_pointer = property(lambda self: self._t.max_pointer)
    ptr = property(lambda self: self._t.ptr)
    entries_per_row = property(lambda self: self._t.entries_per_col)
    stored_entries = property(lambda self: self._t.stored_entries)
    padding_zeros = property(lambda self: self._t.padding_zeros)
    nnz = property(lambda self: self._t.nnz)
    flat_values = property(lambda self: self._t.flat_values)

    def entries(self):
        r, c, v = self._t.entries()
        return c, r, v

    def to_dense(self):
        return self._t.to_dense().T.copy()

    def dense_rows(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0 .. r1 - 1`` of :meth:`to_dense` (only those rows' stored entries are read)."""
        return self._t.dense_cols(r0, r1).T.copy()

    def storage_bits(self):
        return self._t.storage_bits()

    def payload_symbols(self):
        return self._t.payload_symbols()

    def index_symbols(self):
        return self._t.index_symbols()

    def packed(self):
        return self._t.packed()

    def to_scipy(self):
        return self._t.to_scipy().T.tocsr()


# ----------------------------------------------------------------------------------------------
class _StoredValues:
    """Formats that keep their stored entries in ``values`` and their shape in ``_shape``."""

    @property
    def shape(self):
        return self._shape

    @property
    def stored_entries(self) -> int:
        return int(self.values.size)

    @property
    def nnz(self):
        return int(np.count_nonzero(self.values))


class Bitmask(_StoredValues, CompressedTensor):
    """One presence bit per element (index = size bits) plus the kept values in row-major order.

    The presence bits are held packed (``np.packbits``: one bit per element, as stored); ``mask``
    unpacks them on use."""

    kind = "bitmask"

    def __init__(self, matrix: Any, value_bits: int = 32, mask: Any = None, metadata_bits: int = 0):
        m = _as_matrix(matrix, "Bitmask matrix")
        self.metadata_bits = _check_meta(metadata_bits)
        mk = _as_mask(mask, m, "Bitmask")
        self.value_bits = _check_bits(value_bits, "value_bits")
        self.values = m[mk]
        self._bits = np.packbits(mk, axis=None)
        self.is_padding = _no_padding(self.values.size)  # a bitmask stores no padding zeros
        self._shape = tuple(int(s) for s in m.shape)
        self.kept = int(self.values.size)

    @property
    def mask(self) -> np.ndarray:
        """The bool presence mask (a fresh array, unpacked from the stored bits)."""
        n = int(math.prod(self._shape))
        return np.unpackbits(self._bits, count=n).view(bool).reshape(self._shape)

    def entries(self):
        r, c = np.nonzero(self.mask)
        return r, c, self.values

    def to_dense(self):
        out = np.zeros(self._shape, dtype=self.values.dtype)
        out[self.mask] = self.values
        return out

    def storage_bits(self):
        return StorageBits(payload=self.values.size * self.value_bits, index=self.size, metadata=self.metadata_bits)

    def payload_symbols(self):
        return _symbols(self.values)

    def index_symbols(self):
        return self.mask.ravel().astype(np.int64)


# ----------------------------------------------------------------------------------------------
class RowScaleDecode:
    """Decoder of a uniform quantizer's codes at given positions: ``(code - zero_point) * scale`` in
    ``dtype``, with one ``scale`` / ``zero_point`` per row or one per tensor (as :class:`LowBit`)."""

    def __init__(self, scale: Any, zero_point: Any, dtype: Any):
        self.scale, self.zero_point = np.asarray(scale, np.float64), np.asarray(zero_point, np.int64)
        self.dtype = np.dtype(dtype)

    def check(self, shape: tuple[int, int]) -> None:
        for what, a in (("scale", self.scale), ("zero_point", self.zero_point)):
            if a.ndim and a.shape != (shape[0],):
                raise CompressionError(f"decode {what} must be a scalar or one per row ({shape[0]}); got shape {list(a.shape)}")

    def values(self, codes: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        z = self.zero_point[rows] if self.zero_point.ndim else self.zero_point
        s = self.scale[rows] if self.scale.ndim else self.scale
        return ((codes.astype(np.float64) - z) * s).astype(self.dtype)

    def zero_codes(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self.zero_point[rows] if self.zero_point.ndim else np.full(rows.shape, self.zero_point)


class _Transposed:
    """A decoder read in the transposed coordinates (a CSR's codes, stored as the CSC of its transpose)."""

    def __init__(self, decode: Any):
        self.inner = decode
        self.dtype = decode.dtype

    def check(self, shape: tuple[int, int]) -> None:
        self.inner.check((shape[1], shape[0]))

    def values(self, codes: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self.inner.values(codes, cols, rows)

    def zero_codes(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self.inner.zero_codes(cols, rows)


class NM(_StoredCodes, _StoredValues, CompressedTensor):
    """N:M structured sparsity along K (axis 1): every group of ``m`` consecutive inputs of a row
    keeps at most ``n``. Each group stores exactly ``n`` values (zeros fill groups with fewer kept)
    and ``n`` selectors of ``ceil(log2(m))`` bits. K is padded with zeros to a multiple of ``m``.

    Storage: payload = rows * groups * n * value_bits; metadata = rows * groups * n * ceil(log2 m).

    ``decode``: when the stored values are a quantizer's integer codes, its decoder - a
    :class:`RowScaleDecode` (or its ``(scale, zero_point, dtype)`` tuple: a uniform quantizer, as
    :class:`LowBit`) or ``formats.GroupDecode`` (per-block scales): :meth:`entries`, :meth:`to_dense` and
    :meth:`dense_rows` give the decoded values in its ``dtype``, the fillers hold the code of a zero value,
    and ``values`` are the codes the hardware reads.
    """

    kind = "nm"

    def __init__(self, matrix: Any, n: int, m: int, value_bits: int = 32, mask: Any = None, metadata_bits: int = 0,
                 decode: Any = None):
        mat = _as_matrix(matrix, "NM matrix")
        self.metadata_bits = _check_meta(metadata_bits)
        self.n = _check_bits(n, "N", 1, 1 << 16)
        self.m = _check_bits(m, "M", 1, 1 << 16)
        if self.n > self.m:
            raise CompressionError(f"N:M needs N <= M; got {self.n}:{self.m}")
        self.value_bits = _check_bits(value_bits, "value_bits")
        scattered = isinstance(mat, Scattered) and not mat.transposed
        own = scattered and mask is None  # the compact matrix's own mask (bool, or packed: read by rows)
        mk = None if own else _as_mask(mask, mat, "NM")
        rows, k = mat.shape
        self._shape = (int(rows), int(k))
        groups = -(-k // self.m) if k else 0
        meta, filler = self._pack(mat.mask_rows if own else (lambda r0, r1: mk[r0:r1]), int(rows), int(groups))
        self.metadata = meta
        dtype = mat.dtype if mat.dtype != bool else np.int64
        full = not filler.any()  # every group keeps exactly n: no zero fillers
        if scattered and (own or mk is mat.mask or np.array_equal(mk, mat.mask)):
            # the kept values in row-major order are the values of the non-filler slots in (row, group,
            # slot) order: kept slots come first in each group, in position order (no dense matrix); with no
            # fillers they are the stored values themselves, shared (a read-only view)
            if full:
                self.values = _shared_values(_values_array(mat.values), dtype).reshape(meta.shape)
            else:
                self.values = _spread(_values_array(mat.values), filler.ravel(), dtype).reshape(meta.shape)
        else:
            src = mat if mat.dtype != bool else np.asarray(mat).astype(np.int64)
            self.values = K.nm_gather(np.ascontiguousarray(np.asarray(src)), meta, filler, self.m)
        # no fillers: the flags are one shared False (no array per stored value)
        self.is_padding = _no_padding(filler.size) if full else filler.ravel()
        del filler
        self.groups = groups
        self.meta_bits = bits_for(self.m)
        self.kept = int(mat.values.size) if own else int(mk.sum())
        if decode is not None:
            self._set_decoder(decode)

    def _padding_blocks(self):
        """The blocks of rows holding zero fillers: ``(rows' slots, flags, rows, cols)``."""
        if not self.is_padding.any():
            return
        fill = self.is_padding.reshape(self.values.shape)
        step = self._row_step
        for r0 in range(0, self._shape[0], step):
            f = fill[r0:r0 + step]
            if f.any():
                rows, cols = self._positions(r0, r0 + f.shape[0])
                yield slice(r0, r0 + step), f, rows, cols

    @property
    def _row_step(self) -> int:
        """Rows per block when the stored slots are read a block of rows at a time (about 2**20 slots)."""
        return max(1, (1 << 20) // max(self.groups * self.n, 1))

    def _positions(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of every stored slot of rows ``r0 .. r1 - 1``, shaped like their values."""
        cols = np.arange(self.groups)[None, :, None] * self.m + self.metadata[r0:r1]
        rows = np.broadcast_to(np.arange(r0, r1)[:, None, None], cols.shape)
        return rows, cols

    @property
    def nnz(self):
        if self.decode is None:
            return int(np.count_nonzero(self.values))
        step = self._row_step
        return sum(int(np.count_nonzero(self.dense_rows(r0, r0 + step))) for r0 in range(0, self._shape[0], step))

    def _pack(self, rows_of, rows: int, groups: int) -> tuple[np.ndarray, np.ndarray]:
        """Selectors and filler flags of the mask whose rows ``rows_of(r0, r1)`` gives, a block of rows at a
        time (a packed mask is never unpacked whole); a group keeping more than N is a CompressionError."""
        meta = np.empty((rows, groups, self.n), np.uint8 if self.m <= 256 else np.uint16)
        filler = np.empty((rows, groups, self.n), bool)
        step = max(1, (1 << 20) // max(groups * self.m, 1))
        for r0 in range(0, rows, step):
            block = np.ascontiguousarray(rows_of(r0, min(r0 + step, rows)))
            m_blk, f_blk, bad_r, bad_g = K.nm_pack(block, self.n, self.m, np.empty(0, meta.dtype))
            if bad_r >= 0:
                got = int(block[bad_r, bad_g * self.m:(bad_g + 1) * self.m].sum())
                raise CompressionError(f"matrix is not {self.n}:{self.m} sparse: row {r0 + bad_r} group {bad_g} "
                                       f"keeps {got} of {self.m}")
            meta[r0:r0 + block.shape[0]] = m_blk
            filler[r0:r0 + block.shape[0]] = f_blk
        return meta, filler

    @staticmethod
    def is_compatible(matrix: Any, n: int, m: int) -> bool:
        """True if every group of ``m`` along K has at most ``n`` non-zeros."""
        mat = np.asarray(matrix)
        if mat.ndim != 2 or n < 0 or m < 1 or n > m:
            return False
        rows, k = mat.shape
        groups = -(-k // m) if k else 0
        nz = np.zeros((rows, groups * m), bool)
        nz[:, :k] = mat != 0
        return bool(nz.reshape(rows, groups, m).sum(axis=2).max(initial=0) <= n)

    def entries(self):
        rows, cols = self._positions(0, self._shape[0])
        keep = ~self.is_padding
        rows, cols = rows.ravel()[keep], cols.ravel()[keep]
        return rows, cols, self._decoded(self.values.ravel()[keep], rows, cols)

    def to_dense(self):
        return self.dense_rows(0, self._shape[0])

    def dense_rows(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0 .. r1 - 1`` of :meth:`to_dense` (only those rows' stored values are read)."""
        r0, r1 = max(0, r0), min(self._shape[0], r1)
        rows, per_row = max(0, r1 - r0), self.groups * self.n
        out = np.zeros((rows, self.groups * self.m), dtype=self._dtype)
        if rows and per_row:
            r, c = self._positions(r0, r1)
            keep = ~self.is_padding[r0 * per_row:r1 * per_row].reshape(r.shape)
            r, c = r[keep], c[keep]
            out[r - r0, c] = self._decoded(self.values[r0:r1][keep], r, c)
        return out[:, : self._shape[1]].copy()

    def storage_bits(self):
        n = self.stored_entries
        return StorageBits(payload=n * self.value_bits, metadata=n * self.meta_bits + self.metadata_bits)

    def payload_symbols(self):
        return _symbols(self.values)

    def index_symbols(self):
        return self.metadata.ravel()

    def packed(self):
        return {"payload": _pack(self.values, self.value_bits, "payload"),
                "metadata": _pack(self.metadata, self.meta_bits, "metadata")}


# ----------------------------------------------------------------------------------------------
_SPARSE = (InterleavedCSC, CSR, Bitmask, NM)


class Codebook(CompressedTensor):
    """Weight sharing: integer codes of ``index_bits`` bits into a ``table`` of ``table_bits`` values.

    ``indices`` is either an integer array (every element coded: payload = size * index_bits) or a
    sparse format (CSC, CSR, InterleavedCSC, Bitmask, NM) whose stored values are the codes and
    whose ``value_bits`` equal ``index_bits`` (payload, index and pointer bits come from it).
    A 2-D ``table`` holds one table per row (per output channel). codebook = table.size *
    table_bits. Padding entries decode to zero. ``indices`` is what was passed (the code array or
    the sparse format); ``inner`` is the sparse format or None.
    """

    kind = "codebook"

    def __init__(self, indices: Any, table: Any, index_bits: int | None = None, table_bits: int = 32):
        self.table = np.asarray(table, dtype=np.float64)
        if self.table.ndim not in (1, 2) or self.table.size == 0:
            raise CompressionError(f"codebook table must be a non-empty 1-D (or per-row 2-D) array; got shape {list(self.table.shape)}")
        if not np.all(np.isfinite(self.table)):
            raise CompressionError("codebook table contains NaN or infinite values")
        entries = self.table.shape[-1]
        self.index_bits = bits_for(entries) if index_bits is None else _check_bits(index_bits, "index_bits", 1, 32)
        if entries > (1 << self.index_bits):
            raise CompressionError(f"a {entries}-entry codebook needs {bits_for(entries)} index bits; got {self.index_bits}")
        self.table_bits = _check_bits(table_bits, "table_bits")
        if isinstance(indices, _SPARSE):
            self.inner = indices
            self.indices = indices  # the sparse format holding the codes (as passed)
            if indices.value_bits != self.index_bits:
                raise CompressionError(
                    f"sparse codes are stored at {indices.value_bits} bits but index_bits is {self.index_bits}")
            codes = indices.flat_values if isinstance(indices, (InterleavedCSC, CSR)) else np.ravel(indices.values)
        elif isinstance(indices, CompressedTensor):
            raise CompressionError(f"Codebook cannot wrap a {indices.kind} tensor")
        else:
            self.inner = None
            codes = np.asarray(indices)
            self.indices = codes
        if not np.issubdtype(codes.dtype, np.integer):
            raise CompressionError(f"codebook indices must be integers; got dtype {codes.dtype}")
        if codes.size and (codes.min() < 0 or codes.max() >= entries):
            raise CompressionError(f"codebook indices must lie in [0, {entries - 1}]; got [{codes.min()}, {codes.max()}]")
        if self.table.ndim == 2 and self.table.shape[0] != self.shape[0]:
            raise CompressionError(f"a per-row codebook needs {self.shape[0]} tables; got {self.table.shape[0]}")

    @property
    def shape(self):
        return tuple(self.inner.shape) if self.inner is not None else tuple(self.indices.shape)

    def __getattr__(self, name):  # structure of the wrapped sparse format (entries_per_pe_col, ptr, ...)
        inner = self.__dict__.get("inner")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)

    @property
    def codebook_size(self) -> int:
        """Entries of one table (per row when the table is 2-D)."""
        return int(self.table.shape[-1])

    def _lookup(self, rows: np.ndarray, codes: np.ndarray) -> np.ndarray:
        return self.table[codes] if self.table.ndim == 1 else self.table[rows, codes]

    def to_dense(self) -> np.ndarray:
        if self.inner is None:
            if self.table.ndim == 1:
                return self.table[self.indices]
            rows = np.arange(self.shape[0]).reshape((-1,) + (1,) * (self.indices.ndim - 1))
            return self.table[rows, self.indices]
        out = np.zeros(self.shape, np.float64)
        r, c, codes = self.inner.entries()
        out[r, c] = self._lookup(r, codes)
        return out

    @property
    def nnz(self) -> int:
        if self.inner is None:
            return int(np.count_nonzero(self.to_dense()))
        r, _, codes = self.inner.entries()
        return int(np.count_nonzero(self._lookup(r, codes)))

    def storage_bits(self) -> StorageBits:
        cb = self.table.size * self.table_bits
        if self.inner is None:
            return StorageBits(payload=self.indices.size * self.index_bits, codebook=cb)
        return self.inner.storage_bits() + StorageBits(codebook=cb)

    def payload_symbols(self) -> np.ndarray:
        return self.indices.ravel() if self.inner is None else self.inner.payload_symbols()

    def index_symbols(self) -> np.ndarray:
        if self.inner is None:
            raise CompressionError("a dense codebook tensor has no index symbols")
        return self.inner.index_symbols()

    def packed(self):
        if self.inner is None:
            return {"payload": _pack(self.indices, self.index_bits, "codes")}
        return self.inner.packed()


# ----------------------------------------------------------------------------------------------
class LowBit(CompressedTensor):
    """Uniform integer quantization: value = (q - zero_point) * scale.

    ``values_int`` are ``bits``-bit integers (signed: [-2^(b-1), 2^(b-1) - 1]; unsigned:
    [0, 2^b - 1]; ``signed=None`` means unsigned exactly when a zero point is non-zero). ``per_channel``: ``scale`` / ``zero_point`` hold one
    entry per row (axis 0). Storage: payload = size * bits; metadata = 32 bits per scale plus
    ``bits`` per non-zero zero point.
    """

    kind = "lowbit"

    def __init__(self, values_int: Any, bits: int, scale: Any, zero_point: Any = 0, per_channel: bool = False,
                 signed: bool | None = None):
        q = np.asarray(values_int)
        if not np.issubdtype(q.dtype, np.integer):
            raise CompressionError(f"LowBit values must be integers; got dtype {q.dtype}")
        self.bits = _check_bits(bits, "LowBit bits", 1, 32)
        self.per_channel = bool(per_channel)
        scale = np.asarray(scale, np.float64)
        zp = np.asarray(zero_point, np.int64)
        if self.per_channel:
            if q.ndim < 1 or scale.shape != (q.shape[0],):
                raise CompressionError(f"per-channel scale must have {q.shape[0] if q.ndim else 0} entries; got shape {list(scale.shape)}")
            if zp.ndim and zp.shape != (q.shape[0],):
                raise CompressionError(f"per-channel zero_point must have {q.shape[0]} entries; got shape {list(zp.shape)}")
        elif scale.ndim or zp.ndim:
            raise CompressionError("per-tensor scale and zero_point must be scalars")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise CompressionError("LowBit scale must be finite and > 0")
        self.signed = (not np.any(zp != 0)) if signed is None else bool(signed)
        lo, hi = ((-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1) if self.signed else (0, (1 << self.bits) - 1))
        if q.size and (q.min() < lo or q.max() > hi):
            raise CompressionError(f"{self.bits}-bit {'signed' if self.signed else 'unsigned'} values must lie in [{lo}, {hi}]; got [{q.min()}, {q.max()}]")
        if zp.size and (zp.min() < lo or zp.max() > hi):
            raise CompressionError(f"zero_point must lie in [{lo}, {hi}]")
        self.values_int, self.scale, self.zero_point = q, scale, zp

    @property
    def shape(self):
        return tuple(self.values_int.shape)

    def _bcast(self, a):
        return a.reshape((-1,) + (1,) * (self.values_int.ndim - 1)) if self.per_channel and a.ndim else a

    def to_dense(self):
        return (self.values_int.astype(np.float64) - self._bcast(self.zero_point)) * self._bcast(self.scale)

    def dense_rows(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0:r1`` of :meth:`to_dense` (per-channel scales and zero points sliced with them)."""
        zp, scale = self.zero_point, self.scale
        if self.per_channel:
            zp = zp[r0:r1] if zp.ndim else zp
            scale = scale[r0:r1]
        return (self.values_int[r0:r1].astype(np.float64) - self._bcast(zp)) * self._bcast(scale)

    @property
    def nnz(self):
        return int(np.count_nonzero(self.values_int - self._bcast(self.zero_point)))

    def storage_bits(self):
        meta = self.scale.size * 32 + int(np.count_nonzero(self.zero_point)) * self.bits
        return StorageBits(payload=self.size * self.bits, metadata=meta)

    def payload_symbols(self):
        return _symbols(self.values_int)

    def packed(self):
        return {"payload": _pack(self.values_int, self.bits, "payload")}


class LowRank(CompressedTensor):
    """A matrix stored as the product of 2-D factors (truncated SVD: ``[U * s, V^T]``).

    Storage: payload = sum of factor sizes * bits.
    """

    kind = "lowrank"

    def __init__(self, factors: Sequence[Any], bits: int = 32):
        fs = [np.asarray(f, np.float64) for f in factors]
        if len(fs) < 1 or any(f.ndim != 2 for f in fs):
            raise CompressionError("LowRank needs one or more 2-D factors")
        for a, b in zip(fs, fs[1:]):
            if a.shape[1] != b.shape[0]:
                raise CompressionError(f"LowRank factor shapes do not chain: {list(a.shape)} then {list(b.shape)}")
        if not all(np.all(np.isfinite(f)) for f in fs):
            raise CompressionError("LowRank factors contain NaN or infinite values")
        self.factors = fs
        self.bits = _check_bits(bits, "LowRank bits")

    @property
    def shape(self):
        return (self.factors[0].shape[0], self.factors[-1].shape[1])

    @property
    def rank(self) -> int:
        return min(f.shape[1] for f in self.factors[:-1]) if len(self.factors) > 1 else min(self.shape)

    def to_dense(self):
        out = self.factors[0]
        for f in self.factors[1:]:
            out = out @ f
        return out

    def storage_bits(self):
        return StorageBits(payload=sum(f.size for f in self.factors) * self.bits)


# ----------------------------------------------------------------------------------------------
class HuffmanCoded(CompressedTensor):
    """An inner format whose payload and/or index symbols are Huffman coded.

    ``streams`` maps ``"payload"`` / ``"index"`` to a :class:`accelsim.compress.huffman.HuffmanCode`
    built from exactly the inner tensor's stored symbols (or lists the stream names, and the codes
    are fitted here). The coded field's bits become the code's
    exact encoded length; each code's table (one code length per symbol) adds to metadata.
    """

    kind = "huffman"

    def __init__(self, inner: CompressedTensor, streams: Mapping[str, Any]):
        if not isinstance(inner, CompressedTensor) or isinstance(inner, HuffmanCoded):
            raise CompressionError("HuffmanCoded wraps one non-Huffman compressed tensor")
        if not streams:
            raise CompressionError("HuffmanCoded needs at least one stream ('payload' or 'index')")
        if isinstance(streams, str):
            streams = [streams]
        if not isinstance(streams, Mapping):  # stream names: fit the codes to the inner tensor's symbols
            from accelsim.compress.huffman import HuffmanCode

            names = list(streams)
            for key in names:
                if key not in ("payload", "index"):
                    raise CompressionError(f"Huffman stream must be 'payload' or 'index'; got '{key}'")
            streams = {key: HuffmanCode.from_symbols(inner.payload_symbols() if key == "payload" else inner.index_symbols())
                       for key in names}
        for key, code in streams.items():
            if key not in ("payload", "index"):
                raise CompressionError(f"Huffman stream must be 'payload' or 'index'; got '{key}'")
            symbols = inner.payload_symbols() if key == "payload" else inner.index_symbols()
            if int(code.n_symbols) != int(symbols.size):
                raise CompressionError(f"Huffman {key} stream codes {code.n_symbols} symbols but the tensor stores {symbols.size}")
        self.inner = inner
        self.streams = dict(streams)

    @property
    def shape(self):
        return self.inner.shape

    @property
    def nnz(self):
        return self.inner.nnz

    def to_dense(self):
        return self.inner.to_dense()

    def packed(self):
        from accelsim.compress.huffman import huffman_encode

        out = dict(self.inner.packed())
        for key, code in self.streams.items():
            symbols = self.inner.payload_symbols() if key == "payload" else self.inner.index_symbols()
            field = "metadata" if key == "index" and _index_in_metadata(self.inner) else key
            out[field] = huffman_encode(symbols, code)
        return out

    def __getattr__(self, name):  # structural attributes (entries_per_pe_col, table, ...) of the inner format
        inner = self.__dict__.get("inner")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)

    def storage_bits(self):
        b = self.inner.storage_bits()
        payload, index, meta = b.payload, b.index, b.metadata
        if "payload" in self.streams:
            s = self.streams["payload"]
            payload = s.encoded_bits
            meta += s.table_bits
        if "index" in self.streams:
            s = self.streams["index"]
            if _index_in_metadata(self.inner):  # N:M selectors are counted as metadata
                base = _base_of(self.inner)
                meta += s.encoded_bits - base.stored_entries * base.meta_bits
            else:
                index = s.encoded_bits
            meta += s.table_bits
        return StorageBits(payload=payload, index=index, pointer=b.pointer, codebook=b.codebook, metadata=meta)


def _base_of(t: CompressedTensor) -> CompressedTensor:
    return t.inner if isinstance(t, Codebook) and t.inner is not None else t


def _index_in_metadata(t: CompressedTensor) -> bool:
    return isinstance(_base_of(t), NM)
