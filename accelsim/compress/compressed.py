"""What the hardware models see: a layer plus its compressed weights and activation statistics.

``CompressedLayer`` is built by ``accelsim.compress`` (or :meth:`CompressedLayer.dense` for an
uncompressed layer). ``weight`` is the compressed tensor object (a format from
``accelsim.compress.tensors``: CSR/CSC with relative indices, per-PE interleaved CSC, N:M,
codebook, low-bit, ...) or None; ``weight_matrix`` is the effective ``(N * groups, K)`` matrix the
hardware multiplies by (pruned entries are exact zeros, quantized values dequantized), or None when
no weights are attached (dense timing needs only shapes). Bits fields of None mean "the hardware's
native precision". ``activation_format``: how the input activations are quantized (None: at
``activation_bits`` as the hardware runs them); ``quant_ops``: the quantize / dequantize /
requantize operators the layer implies (:class:`accelsim.compress.formats.QuantOp`), for hardware
models to cost. ``CompressedGraph.kv_format``: the KV-cache format (``formats.KVFormat``) or None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterator

import numpy as np

from accelsim.compress.tensors import CSR, NM, LowBit
from accelsim.compress.view import WeightView, weight_view
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Input, Layer


class _CompactMatrix:
    """What both compact effective-matrix forms share: an optional bit-packed keep mask, a read-only dense
    matrix built on demand (:meth:`materialize`; a matrix still alive somewhere is handed out again, none
    is kept otherwise: weak reference) and pickling of the compact state only."""

    __slots__ = ("shape", "dtype", "packed_mask", "__weakref__", "_ref")
    _state: tuple[str, ...] = ("shape", "dtype", "packed_mask")

    @staticmethod
    def _pack(mask: np.ndarray | None) -> np.ndarray | None:
        return None if mask is None else np.packbits(np.ascontiguousarray(mask, dtype=bool), axis=None)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def mask(self) -> np.ndarray | None:
        """The bool keep mask (None: every entry kept)."""
        if self.packed_mask is None:
            return None
        return np.unpackbits(self.packed_mask, count=self.size).view(bool).reshape(self.shape)

    def mask_rows(self, r0: int, r1: int, mask: np.ndarray | None = None) -> np.ndarray | None:
        """Rows ``r0 .. r1 - 1`` of the bool keep mask: of ``mask`` when the caller has it at hand, else
        unpacked from their bits only (None: every entry kept)."""
        if mask is not None:
            return mask[r0:r1]
        if self.packed_mask is None:
            return None
        cols = int(self.shape[1])
        r0, r1 = max(0, int(r0)), max(int(r0), min(int(r1), int(self.shape[0])))
        start, stop = r0 * cols, r1 * cols
        bits = np.unpackbits(self.packed_mask[start // 8:-(-stop // 8)])
        return bits[start % 8:start % 8 + stop - start].view(bool).reshape(r1 - r0, cols)

    def kept_count(self) -> int:
        """Kept entries of the mask (every entry when there is none), counted from the bits a chunk at a time."""
        if self.packed_mask is None:
            return self.size
        return sum(int(np.count_nonzero(np.unpackbits(self.packed_mask[s:s + (1 << 20)])))
                   for s in range(0, self.packed_mask.size, 1 << 20))  # packbits pads the last byte with zeros

    def _build(self) -> np.ndarray:
        raise NotImplementedError

    def materialize(self) -> np.ndarray:
        import weakref

        hit = self._ref() if self._ref is not None else None
        if hit is not None:
            return hit
        out = self._build()
        out.flags.writeable = False
        self._ref = weakref.ref(out)
        return out

    def __getstate__(self):
        return {k: getattr(self, k) for k in self._state}

    def __setstate__(self, state):
        for k, v in state.items():
            object.__setattr__(self, k, v)
        self._ref = None


class MaskedMatrix(_CompactMatrix):
    """An effective weight matrix held compactly: a bit-packed keep mask (1 bit per weight) and the
    values at the kept positions in row-major order (zeros elsewhere), as ``accelsim.compress`` keeps
    a pruned layer instead of a dense float copy; when those values are the layer's unmodified weights
    (pruning only), they are read from the weights by reference (``source``, read only) instead of a
    gathered copy. :meth:`materialize` builds the dense matrix (read-only), bit for bit the one a dense
    scatter gives; a matrix still alive somewhere is handed out again instead of being rebuilt (weak
    reference), none is kept otherwise. Pickled, the kept values travel gathered (never the whole source)."""

    __slots__ = ("values", "table", "source")
    _state = _CompactMatrix._state + ("values", "table")

    def __init__(self, mask: np.ndarray, values: np.ndarray | None = None, table: np.ndarray | None = None,
                 dtype: Any = None, source: np.ndarray | None = None):
        """``values``: the kept values, or with ``table`` their codes (value = ``table[code]`` cast to ``dtype``);
        or ``source``: the weight matrix (mask's shape) whose kept entries are the values, held by reference."""
        self.shape = tuple(int(s) for s in mask.shape)
        if source is not None:
            self.source = np.asarray(source).reshape(self.shape).view()
            self.source.flags.writeable = False
            self.values = None
        else:
            self.source = None
            self.values = np.asarray(values).ravel()
        self.table = None if table is None else np.asarray(table).astype(dtype)  # decoded once, in the values' type
        self.dtype = (np.dtype(dtype) if table is not None else
                      self.source.dtype if self.source is not None else self.values.dtype)
        self.packed_mask = self._pack(mask)
        self._ref = None

    def kept_reference(self) -> Any:
        """The kept values as the sparse formats read them: the array, or (held by reference) a
        :class:`~accelsim.compress.tensors.KeptByReference` gathered only when read."""
        from accelsim.compress.tensors import KeptByReference

        return self.values if self.source is None else KeptByReference(self.source, self)

    def kept_values(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The kept values (row-major), or those in ``[start, stop)``."""
        if self.source is not None:
            return self.kept_reference().gather()[start:stop]
        v = self.values[start:stop]
        return v if self.table is None else self.table[v]

    @property
    def nnz(self) -> int:
        """Non-zero entries (a kept value may itself be zero)."""
        if self.source is not None:
            return sum(int(np.count_nonzero(b)) for _, b in self.row_blocks(max(1, (1 << 20) // max(self.shape[1], 1))))
        if self.table is None:
            return int(np.count_nonzero(self.values))
        return int(np.count_nonzero((self.table != 0)[self.values]))

    @property
    def nbytes(self) -> int:
        """Bytes held (a source held by reference is the weights themselves: not counted)."""
        held = 0 if self.values is None else self.values.nbytes
        return int(self.packed_mask.nbytes + held + (0 if self.table is None else self.table.nbytes))

    def _build(self) -> np.ndarray:
        if self.source is not None:
            out = np.empty(self.shape, self.dtype)
            for r0, block in self.row_blocks(max(1, (1 << 20) // max(self.shape[1], 1))):
                out[r0:r0 + block.shape[0]] = block
            return out
        out = np.zeros(self.shape, self.dtype)
        out[self.mask()] = self.kept_values()
        return out

    def row_blocks(self, rows: int, mask: np.ndarray | None = None):
        """``(r0, dense rows r0 .. r0 + rows)`` over the matrix (``mask``: the bool mask, if at hand; else
        each block's rows of it are unpacked from the bits)."""
        off = 0
        for r0 in range(0, self.shape[0], rows):
            mb = self.mask_rows(r0, r0 + rows, mask)
            if self.source is not None:
                yield r0, np.where(mb, self.source[r0:r0 + rows], self.dtype.type(0))
                continue
            c = int(np.count_nonzero(mb))
            out = np.zeros(mb.shape, self.dtype)
            out[mb] = self.kept_values(off, off + c)
            off += c
            yield r0, out

    def __getstate__(self):
        state = super().__getstate__()
        if self.source is not None:  # the kept values, not the whole source
            state["values"] = np.array(self.kept_values())
        return state

    def __setstate__(self, state):
        self.source = None
        super().__setstate__(state)


class DequantMatrix(_CompactMatrix):
    """An effective weight matrix held as its quantized tensor: ``tensor.to_dense()`` (a ``LowBit``, a
    ``formats.GroupQuant``, or the stored ``NM`` or ``CSR`` of a pruned, then quantized layer: its kept codes and
    scales) cast to ``dtype``, zero outside ``mask`` (bit-packed) when given - the 1-byte (or narrower)
    codes and scales instead of a dense float copy. :meth:`materialize` as for :class:`MaskedMatrix`;
    :meth:`row_blocks` dequantizes a ``LowBit`` or ``NM`` a block of rows at a time."""

    __slots__ = ("tensor",)
    _state = _CompactMatrix._state + ("tensor",)

    def __init__(self, tensor: Any, dtype: Any, mask: np.ndarray | None = None, shape: tuple[int, int] | None = None):
        self.tensor = tensor
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(s) for s in (shape if shape is not None else tensor.shape))
        self.packed_mask = self._pack(mask)
        self._ref = None

    def _dense_rows(self, r0: int, r1: int) -> np.ndarray | None:
        """Rows ``r0:r1`` of a tensor that decodes by rows (``LowBit``, an ``NM`` or ``CSR`` of codes), else None
        (a ``CSC`` of codes: the rows of its whole ``to_dense``)."""
        t = self.tensor
        if not isinstance(t, (LowBit, NM, CSR)) or len(self.shape) != 2 or tuple(t.shape) != self.shape:
            return None
        return t.dense_rows(r0, r1).astype(self.dtype)

    def _group_rows(self, r0: int, r1: int) -> np.ndarray | None:
        """Rows ``r0:r1`` of a ``GroupQuant``'s ``to_dense`` (``r0`` on a scale-block boundary), else None."""
        t = self.tensor
        spec = getattr(t, "spec", None)
        if spec is None or not hasattr(t, "scales") or len(self.shape) != 2 or tuple(t.codes.shape) != self.shape:
            return None
        br = int(spec.block[0]) if t.g_idx is None else 1
        if t.g_idx is None and t.scales.shape[0] != -(-self.shape[0] // br):
            return None
        s0, s1 = r0 // br, -(-r1 // br)
        zp = None if t.zero_points is None else t.zero_points[s0:s1]
        part = type(t)(t.codes[r0:r1], spec, t.scales[s0:s1], zp, t.tensor_scale, t.g_idx)
        return np.asarray(part.to_dense()).astype(self.dtype)

    def _rows(self, r0: int, r1: int) -> np.ndarray | None:
        out = self._dense_rows(r0, r1)
        return self._group_rows(r0, r1) if out is None else out

    def row_blocks(self, rows: int, mask: np.ndarray | None = None):
        """``(r0, dense rows r0 .. r0 + at most rows)``: a ``LowBit`` or ``GroupQuant`` block by block (no
        block straddles two rows of scale blocks), else slices of the whole."""
        n = self.shape[0]
        spec = getattr(self.tensor, "spec", None)
        if spec is not None and getattr(self.tensor, "g_idx", None) is None and int(spec.block[0]) > 1:
            br = int(spec.block[0])
            if br <= rows:  # whole scale-block rows
                rows = rows // br * br
                ranges = [(r0, min(n, r0 + rows)) for r0 in range(0, n, rows)]
            else:  # scale blocks taller than a block (per tensor, 128 x 128): blocks inside one of them
                ranges = [(r0, min(n, r0 + rows, b0 + br)) for b0 in range(0, n, br) for r0 in range(b0, min(n, b0 + br), rows)]
        else:
            ranges = [(r0, min(n, r0 + rows)) for r0 in range(0, n, rows)]
        first = self._rows(*ranges[0]) if ranges else None
        if first is None:  # not a LowBit / GroupQuant by rows: slices of the whole
            whole = self.materialize()
            for r0 in range(0, n, rows):
                yield r0, whole[r0:r0 + rows]
            return
        for i, (r0, r1) in enumerate(ranges):
            out = first if i == 0 else self._rows(r0, r1)
            mb = self.mask_rows(r0, r1, mask)  # the given mask's rows, else the packed one's
            if mb is not None:
                out[~mb] = 0
            yield r0, out

    @property
    def nnz(self) -> int:
        return sum(int(np.count_nonzero(b)) for _, b in self.row_blocks(max(1, (1 << 16) // max(self.shape[-1], 1))))

    def _build(self) -> np.ndarray:
        out = np.asarray(self.tensor.to_dense()).reshape(self.shape).astype(self.dtype)
        mask = self.mask()
        if mask is not None:
            out[~mask] = 0
        return out


class ColumnScaledMatrix(_CompactMatrix):
    """An effective matrix held as a compact one (``inner``, e.g. the :class:`DequantMatrix` of SmoothQuant's
    quantized ``W * s``) with its columns divided by ``divisor`` (``s``): ``(inner / divisor).astype(dtype)``,
    the weights in the original basis, computed a block of rows at a time (no dense copy until read)."""

    __slots__ = ("inner", "divisor")
    _state = _CompactMatrix._state + ("inner", "divisor")

    def __init__(self, inner: _CompactMatrix, divisor: np.ndarray):
        self.inner = inner
        self.divisor = np.asarray(divisor)
        self.shape, self.dtype, self.packed_mask = inner.shape, inner.dtype, inner.packed_mask
        self._ref = None

    def _scaled(self, block: np.ndarray) -> np.ndarray:
        return (block / self.divisor[None, :]).astype(self.dtype)

    def row_blocks(self, rows: int, mask: np.ndarray | None = None):
        """``(r0, rows of the scaled matrix)``: the inner matrix's blocks, scaled."""
        for r0, block in self.inner.row_blocks(rows, mask):
            yield r0, self._scaled(block)

    @property
    def nnz(self) -> int:
        return sum(int(np.count_nonzero(b)) for _, b in self.row_blocks(max(1, (1 << 16) // max(self.shape[-1], 1))))

    def _build(self) -> np.ndarray:
        out = np.empty(self.shape, self.dtype)
        for r0, block in self.row_blocks(max(1, (1 << 20) // max(self.shape[-1], 1))):
            out[r0:r0 + block.shape[0]] = block
        return out


#: the compact effective-matrix forms a CompressedLayer may hold
LAZY_MATRICES = (MaskedMatrix, DequantMatrix, ColumnScaledMatrix)


class _MatrixField:
    """The ``weight_matrix`` field: an ndarray (made read-only) or a compact :class:`MaskedMatrix`,
    materialized on read; the class default is None."""

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return None
        v = obj.__dict__.get(self.slot)
        return v.materialize() if isinstance(v, LAZY_MATRICES) else v

    def __set__(self, obj, value):
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
        obj.__dict__[self.slot] = value


@dataclass(frozen=True)
class CompressedLayer:
    layer: Layer
    weight: Any = None
    weight_matrix: np.ndarray | None = _MatrixField()  # type: ignore[assignment]
    weight_bits: int | None = None
    activation_bits: int | None = None
    activation_density: float = 1.0
    activation_sample: np.ndarray | None = None
    nm: tuple[int, int] | None = None
    codebook_size: int | None = None
    transforms: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    activation_format: Any = None
    quant_ops: tuple = ()
    #: SmoothQuant's per-input-channel factors ``s`` (the layer's inputs are quantized as ``x / s``), or None
    activation_smooth: np.ndarray | None = None

    # the effective matrix is read-only (set so by the field): counts derived from it are cached below

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def stored_matrix(self) -> Any:
        """The effective matrix as held: an ndarray, a compact :class:`MaskedMatrix`, or None
        (``weight_matrix`` materializes the compact form)."""
        return self.__dict__.get("_weight_matrix")

    def replace(self, **changes: Any) -> "CompressedLayer":
        """``dataclasses.replace`` that keeps a compact effective matrix compact."""
        import dataclasses

        changes.setdefault("weight_matrix", self.stored_matrix)
        return dataclasses.replace(self, **changes)

    @property
    def is_compressed(self) -> bool:
        return bool(self.transforms)

    @cached_property
    def view(self) -> WeightView:
        """The typed view of the stored weights hardware models read (:mod:`accelsim.compress.view`)."""
        # the matrix as held (a compact one stays compact: the view builds it only where read)
        return weight_view(self.weight, self.stored_matrix, nm=self.nm, shape=self.layer.weight_matrix_shape)

    # counted once per layer (the matrix is never modified after compression): hardware models and
    # sweeps ask for them on every simulate call
    @cached_property
    def weight_density(self) -> float:
        """Fraction of non-zero weights (1.0 when no weights are attached)."""
        m = self.stored_matrix
        if m is None:
            return float(self.stats.get("weight_density", 1.0))
        return self.weight_nnz / max(m.size, 1)

    @cached_property
    def weight_nnz(self) -> int:
        m = self.stored_matrix
        if m is None:
            shape = self.layer.weight_matrix_shape
            return int(round(self.weight_density * shape[0] * shape[1])) if shape else 0
        if isinstance(m, LAZY_MATRICES):
            return m.nnz
        return int(np.count_nonzero(m))

    @property
    def effective_macs(self) -> int:
        """Dense MACs (batch 1) scaled by the kept-weight fraction (ShrinkBench's definition)."""
        return int(round(self.layer.macs * self.weight_density)) if self.layer.has_weights else self.layer.macs

    @cached_property
    def _stored_bits(self) -> int | None:
        """The compressed tensor's total storage bits (None without a compressed tensor)."""
        if self.weight is not None and hasattr(self.weight, "storage_bits"):
            return int(self.weight.storage_bits().total)
        return None

    @cached_property
    def _weight_elements(self) -> int:
        shape = self.layer.weight_matrix_shape
        return shape[0] * shape[1] if shape is not None else 0

    def weight_storage_bits(self, native_bits: int = 32) -> int:
        """Stored weight bits: the compressed tensor's total, else dense at ``native_bits``. Values no step gave a
        width are stored as the dense baseline stores its weights, at ``native_bits``: a plain dense tensor at the
        source's 32 bits (a layer a recipe left untouched, or pruned but stored dense) and the values of a sparse
        format holding unquantized weights (pruned, stored CSR), whose indices and pointers count as stored."""
        if self._stored_bits is not None and not self._source_width_dense:
            return self._stored_bits if self.weight_bits is not None else int(round(self.stored_bits_at(native_bits)))
        return self._weight_elements * (self.weight_bits or native_bits)

    def stored_bits_at(self, width: int) -> float:
        """The stored tensor's bits with values no step gave a width (``weight_bits`` None) counted at ``width``
        bits where they are stored wider: its payload rescaled, not a codebook's codes nor low-rank factors;
        indices, pointers and metadata as stored (what :meth:`weight_storage_bits` counts and the systolic
        model's DRAM traffic moves, docs/models/systolic.md §4.3)."""
        view = self.view
        stored = float(view.stored_bits)
        vb = view.value_bits
        if self.weight_bits is None and vb and vb > width and view.layout not in ("codebook", "lowrank"):
            stored -= float(view.bits.payload) * (1.0 - width / vb)
        return stored

    @cached_property
    def _source_width_dense(self) -> bool:
        # the kind "dense" covers tensors.Dense and the statistics path's DenseStats alike
        return (getattr(self.weight, "kind", None) == "dense" and getattr(self.weight, "bits", None) == 32
                and self.weight_bits is None)

    @classmethod
    def dense(cls, layer: Layer, graph: LayerGraph | None = None) -> "CompressedLayer":
        """An uncompressed layer, with weights and activation statistics from ``graph`` if given."""
        matrix = None
        density = 1.0
        sample = None
        weight = weight_bits = activation_bits = None
        if graph is not None:
            if layer.has_weights and layer.name in graph.weights:
                matrix = graph.weight_matrix(layer.name)
            density = graph.input_density(layer.name)
            sample = graph.activation_samples.get(layer.name)
            deployed = (graph.metadata.get("quantization") or {}).get(layer.name)
            if deployed:
                weight, weight_bits, activation_bits = deployed_tensor(deployed, layer)
        stats = {}
        if matrix is None and weight is not None:  # a checkpoint's packed weight, no float copy: zeros from the codes
            if "weight_density" not in deployed:  # counted once per graph (its metadata keeps it)
                deployed["weight_density"] = deployed_density(weight)
            stats["weight_density"] = deployed["weight_density"]
        return cls(layer=layer, weight=weight, weight_matrix=matrix, weight_bits=weight_bits,
                   activation_bits=activation_bits, activation_density=density, activation_sample=sample, stats=stats)


def deployed_density(tensor: Any, rows_per_chunk: int = 256) -> float:
    """Fraction of a deployed weight's values that are not zero, from its codes (no float copy): an integer code
    equal to its zero point (or 0 without one), a float code of +-0, or any code under a zero scale is a zero
    (a pruned weight a checkpoint stores packed). 1.0 for a tensor of another kind."""
    from accelsim.compress.formats import GroupQuant
    from accelsim.compress.tensors import LowBit

    if isinstance(tensor, LowBit):
        values = np.asarray(tensor.values_int)
        zp = np.asarray(tensor.zero_point)
        zp = zp.reshape(-1, 1) if zp.ndim and tensor.per_channel else zp
        scale = np.asarray(tensor.scale, np.float64)
        scale = scale.reshape(-1, 1) if scale.ndim and tensor.per_channel else scale
        zero = (values == zp) | (scale == 0)
        return 1.0 - float(np.count_nonzero(zero)) / max(values.size, 1)
    if not isinstance(tensor, GroupQuant):
        return 1.0
    codes = tensor.codes
    n, k = codes.shape
    fmt = tensor.spec.element_format
    br, bc = tensor.spec.block
    whole = tensor.g_idx is None and k % bc == 0  # blocks along a row: compared by broadcasting, no index arrays
    cols = None if whole else (tensor.g_idx if tensor.g_idx is not None else np.arange(k) // bc)
    zeros = 0
    for r0 in range(0, n, rows_per_chunk):
        c = codes[r0:r0 + rows_per_chunk]
        rows = np.arange(r0, r0 + c.shape[0]) // (1 if tensor.g_idx is not None else br)
        scale = tensor.scales[rows]
        zp = None if tensor.zero_points is None or fmt.is_float else tensor.zero_points[rows]
        if whole:
            c = c.reshape(c.shape[0], k // bc, bc)
            scale_zero, zp = (scale == 0)[:, :, None], None if zp is None else zp[:, :, None]
        else:
            scale_zero, zp = (scale == 0)[:, cols], None if zp is None else zp[:, cols]
        if fmt.is_float:  # +-0: every bit but the sign clear
            zero = (c & np.asarray((1 << (fmt.bits - 1)) - 1, c.dtype)) == 0
        else:
            zero = c == (0 if zp is None else zp)
        zeros += int(np.count_nonzero(zero | scale_zero))
    return 1.0 - zeros / max(codes.size, 1)


def deployed_codes_fit(q: dict, layer: Layer) -> bool:
    """Whether a deployed weight entry (``metadata["quantization"]``) holds codes of the layer's weight matrix shape
    (:func:`deployed_tensor` builds a tensor of them; an entry without, a 16-bit float weight, keeps the matrix)."""
    codes = q.get("codes")
    shape = layer.weight_matrix_shape
    return codes is not None and shape is not None and tuple(np.shape(codes)) == tuple(shape)


def deployed_tensor(q: dict, layer: Layer) -> tuple[Any, int | None, int | None]:
    """The stored tensor of a deployed quantized weight (an importer's ``metadata["quantization"]`` entry:
    ``codes``, ``weight_bits``, ``signed``, ``granularity`` per_tensor / per_channel / blocked, ``scale``,
    ``zero_point``, ``block_size``; ``activation_bits``; a float element's ``element`` and ``block``), in its real
    format: ``(tensor, weight bits, activation bits)``. Per-tensor / per-channel integers become :class:`LowBit` (32-bit scales, as
    ``docs/compression.md`` counts them); blocked ones (MatMulNBits, checkpoints) :class:`GroupQuant` blocks of
    ``(1, block_size)`` with the scales' stored width (``scale_format``, else the array's float width) and
    ``weight_bits`` zero points. An entry without
    codes (a 16-bit float weight) keeps the dense matrix at its width."""
    bits = q.get("weight_bits")
    act = q.get("activation_bits")
    if not deployed_codes_fit(q, layer):
        return None, bits, act
    codes = q["codes"]
    shape = layer.weight_matrix_shape
    granularity = q.get("granularity", "per_tensor")
    element = q.get("element")
    if element is not None:  # a float element (FP8): its bit patterns, one scale per block
        from accelsim.compress.formats import GroupQuant, QuantSpec

        n, k = shape
        scale = np.asarray(q["scale"], np.float64)
        if q.get("block") is not None:  # a checkpoint's block grid
            block = tuple(int(b) for b in q["block"])
        else:  # an importer's granularity, in weight-matrix orientation
            block = {"per_tensor": (n, k), "per_channel": (1, k), "per_input_channel": (n, 1)}.get(
                granularity, (1, int(q.get("block_size") or k)))
        scale = scale.reshape(-(-n // block[0]), -(-k // block[1]))
        spec = QuantSpec(q.get("format") or f"fp8-{element}", element, q.get("scale_format") or "fp32", block)
        return GroupQuant(np.asarray(codes), spec, scale), bits, act
    codes = np.asarray(codes).astype(np.int64)
    if granularity == "blocked":
        from accelsim.compress.formats import GroupQuant, QuantSpec

        block = int(q["block_size"])
        scale = np.asarray(q["scale"])
        zp = q.get("zero_point")
        signed = bool(q.get("signed", zp is None))
        scale_name = q.get("scale_format") or ("fp16" if scale.dtype == np.float16 else "fp32")  # as stored
        stored_zp = zp is not None and not q.get("zero_point_implied")  # an implied default costs no bits
        g_idx = q.get("g_idx")  # a checkpoint's stored column-to-group map (GPTQ): read, and 32 bits a column
        spec = QuantSpec(f"{'int' if signed else 'uint'}{bits}-g{block}", f"{'int' if signed else 'uint'}{bits}",
                         scale_name, (1, block), int(bits) if stored_zp else 0, act_order=bool(q.get("act_order")))
        tensor = GroupQuant(codes, spec, scale.astype(np.float64), None if zp is None else np.asarray(zp, np.int64),
                            g_idx=g_idx)
        return tensor, bits, act
    from accelsim.compress.tensors import LowBit

    per_channel = granularity == "per_channel"
    scale = np.asarray(q["scale"], np.float64)
    zp = np.asarray(q.get("zero_point", 0), np.int64)
    if not per_channel:
        scale, zp = float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0])
    return LowBit(codes, int(bits), scale, zp, per_channel=per_channel, signed=q.get("signed")), bits, act


@dataclass
class CompressedGraph:
    """A (possibly transformed) LayerGraph and one CompressedLayer per compute layer."""

    graph: LayerGraph
    layers: dict[str, CompressedLayer]
    recipe: dict[str, Any] | None = None
    stats: dict[str, Any] = field(default_factory=dict)  # network totals (accelsim.compress.recipe.summarize)
    kv_format: Any = None  # accelsim.compress.formats.KVFormat of the KV cache, or None (the native precision)

    def __iter__(self) -> Iterator[CompressedLayer]:
        for layer in self.graph.layers:
            if not isinstance(layer, Input):
                yield self.layers[layer.name]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, name: str) -> CompressedLayer:
        return self.layers[name]

    @classmethod
    def dense(cls, graph: LayerGraph) -> "CompressedGraph":
        return cls(graph, {layer.name: CompressedLayer.dense(layer, graph) for layer in graph.compute_layers()})
