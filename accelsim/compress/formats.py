"""Number formats of quantized weights, activations and KV caches, bit-exact on real arrays.

Everything here works on NumPy arrays with explicit rounding rules, so the stored codes, the scales
and the dequantized values are what a real kernel would hold (``tests/test_formats.py`` checks the
element encoders against ``ml_dtypes``, the bit counts against the storage formulas of
``docs/compression.md`` section 6):

* :class:`ElementFormat` - one element's encoding: two's-complement / unsigned integers of 2-8 bits,
  the OCP 8-bit floats E4M3 (``fn``: no infinities, max 448) and E5M2 (IEEE-like, max 57344), the
  OCP MX element types E2M3 / E3M2 (FP6) and E2M1 (FP4), the E8M0 power-of-two scale, and the
  fp16 / bf16 / fp32 scale types. Floats round to nearest, ties to even, and saturate at the
  largest finite value (the MX spec's and NVIDIA's "satfinite" conversion).
* :class:`QuantSpec` - how a tensor is quantized: element format, scale format, the block of
  elements sharing one scale (``(1, g)`` = a group of g along K; ``(1, K)`` = per channel;
  ``(rows, cols)`` = a 2-D block; ``(N, K)`` = per tensor), zero-point bits, a second-level fp32
  per-tensor scale (NVFP4), and act-order (GPTQ's ``g_idx``).
* :class:`GroupQuant` - the stored tensor: codes + scales (+ zero points, tensor scale, g_idx), with
  ``to_dense()`` the dequantized values and ``storage_bits()`` the exact stored bits.
* quantizers: :func:`quantize_int` (GPTQ / AWQ-style round-to-nearest group-wise integers),
  :func:`quantize_float` (FP8 with per-tensor / per-channel / block scales), :func:`quantize_mx`
  (OCP microscaling MXFP8 / MXFP6 / MXFP4) and :func:`quantize_nvfp4`; :func:`quantize` dispatches on
  a spec.
* :class:`ActivationFormat` (W8A8 activations, static or dynamic, per tensor or per token),
  :func:`smoothing_factors` (SmoothQuant), :class:`KVFormat` (KV-cache int8 / int4 / int2 per token
  or per channel as in KIVI, fp8) and :class:`QuantOp` (the quantize / dequantize / requantize
  operators a compressed layer implies, for hardware models to cost).

Orientation: 2-D arrays ``(rows, cols)`` = ``(N outputs, K reduction)`` for weights and
``(tokens, channels)`` for activations and KV caches; groups run along the last axis unless a block
says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from accelsim.compress.tensors import CompressedTensor, StorageBits
from accelsim.errors import CompressionError

#: bits of GPTQ's act-order ``g_idx`` entry (an int32 per input column)
G_IDX_BITS = 32
#: bits of a second-level per-tensor scale (NVFP4's fp32 global scale)
TENSOR_SCALE_BITS = 32


# --- element formats ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ElementFormat:
    """One element's encoding.

    ``kind``: ``int`` (two's complement, symmetric range ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` used by the
    quantizers), ``uint`` (``[0, 2^b - 1]``, with a zero point), ``float`` (sign, ``exp_bits``
    exponent with ``bias``, ``man_bits`` mantissa; subnormals; ``max_value`` the largest finite
    value) or ``e8m0`` (an unsigned biased exponent: ``2^(code - 127)``, code 255 NaN).
    """

    name: str
    bits: int
    kind: str
    exp_bits: int = 0
    man_bits: int = 0
    bias: int = 0
    max_value: float = 0.0

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def emax(self) -> int:
        """Exponent of the largest normal binade (``floor(log2(max_value))``): the OCP MX spec's
        ``emax_elem`` (E4M3 8, E5M2 15, E2M3 2, E3M2 4, E2M1 2)."""
        return int(math.floor(math.log2(self.max_value))) if self.max_value > 0 else 0

    @property
    def qmax(self) -> int:
        """Largest integer level (``int``: ``2^(b-1) - 1``; ``uint``: ``2^b - 1``)."""
        return (1 << (self.bits - 1)) - 1 if self.kind == "int" else (1 << self.bits) - 1

    # floats -------------------------------------------------------------------------------------
    def round(self, x: Any) -> np.ndarray:
        """``x`` rounded to the nearest representable value (ties to even), saturating at
        ``+-max_value`` (float64). Only for ``float`` formats."""
        if self.kind != "float":
            raise CompressionError(f"{self.name}: round() is for floating-point element formats")
        x = np.asarray(x, np.float64)
        a = np.minimum(np.abs(x), self.max_value)
        emin = 1 - self.bias
        _, e = np.frexp(a)  # a = f * 2^e, f in [0.5, 1): floor(log2 a) = e - 1
        e = np.maximum(e - 1, emin)
        quantum = np.ldexp(1.0, e - self.man_bits)
        q = np.rint(a / quantum) * quantum  # exact: division by a power of two
        q = np.minimum(q, self.max_value)
        return np.copysign(q, x)

    def encode(self, x: Any) -> np.ndarray:
        """Bit patterns (uint16 for formats up to 16 bits, else uint32) of ``x`` rounded as in
        :meth:`round`; ``-0.0`` keeps its sign bit."""
        if self.kind == "e8m0":
            return encode_e8m0_exponent(np.asarray(x))
        if self.kind != "float":
            raise CompressionError(f"{self.name}: encode() is for floating-point element formats")
        x = _finite(np.asarray(x, np.float64), f"{self.name}.encode")
        a = np.minimum(np.abs(x), self.max_value)
        emin = 1 - self.bias
        _, e = np.frexp(a)  # floor(log2 a) = e - 1 for a > 0
        e = np.maximum(e - 1, emin)
        # mantissa steps of the binade (implicit bit included): m in [0, 2^(M+1)], nearest-even
        m = np.rint(a / np.ldexp(1.0, e - self.man_bits)).astype(np.int64)
        one = 1 << self.man_bits
        carry = m == 2 * one  # rounded up into the next binade
        m = np.where(carry, one, m)
        e = e + carry
        normal = m >= one  # else subnormal (e == emin)
        exp_field = np.where(normal, e + self.bias, 0)
        code = (np.signbit(x).astype(np.int64) << (self.exp_bits + self.man_bits)) | (exp_field << self.man_bits) \
            | np.where(normal, m - one, m)
        return code.astype(np.uint16 if self.bits <= 16 else np.uint32)

    def decode(self, codes: Any) -> np.ndarray:
        """The float64 values of bit patterns ``codes`` (NaN / infinity patterns decode to NaN / inf).
        One- and two-byte codes are looked up in a table of every pattern of their type, built by the
        same formula (the same values, bit for bit: one gather instead of a dozen array operations)."""
        c = np.asarray(codes)
        if c.dtype in (np.uint8, np.uint16) and self.kind in ("float", "e8m0"):
            return _decode_table(self, c.dtype.itemsize)[c]
        return self._decode(c)

    def _decode(self, codes: Any) -> np.ndarray:
        c = np.asarray(codes).astype(np.int64)
        if self.kind == "e8m0":
            return np.where(c == 255, np.nan, np.ldexp(1.0, c - 127))
        if self.kind != "float":
            raise CompressionError(f"{self.name}: decode() is for floating-point element formats")
        man = c & ((1 << self.man_bits) - 1)
        ex = (c >> self.man_bits) & ((1 << self.exp_bits) - 1)
        sign = np.where((c >> (self.exp_bits + self.man_bits)) & 1, -1.0, 1.0)
        normal = ex > 0
        mag = np.where(normal, np.ldexp(1.0 + man / (1 << self.man_bits), ex - self.bias),
                       np.ldexp(man.astype(np.float64), 1 - self.bias - self.man_bits))
        top = (1 << self.exp_bits) - 1
        if self.name == "e4m3":  # fn: only S.1111.111 is NaN
            mag = np.where((ex == top) & (man == (1 << self.man_bits) - 1), np.nan, mag)
        elif self.name in ("e5m2", "fp16", "bf16", "fp32"):  # IEEE-like: top exponent = inf / NaN
            mag = np.where(ex == top, np.where(man == 0, np.inf, np.nan), mag)
        return sign * mag


@lru_cache(maxsize=None)
def _decode_table(fmt: ElementFormat, itemsize: int) -> np.ndarray:
    """:meth:`ElementFormat.decode` of every ``itemsize``-byte unsigned pattern (read-only)."""
    with np.errstate(all="ignore"):  # (patterns the caller's codes may never hold, e.g. e8m0 above 255)
        table = fmt._decode(np.arange(1 << (8 * itemsize), dtype=np.int64))
    table.flags.writeable = False
    return table


def encode_e8m0_exponent(exponent: Any) -> np.ndarray:
    """E8M0 codes of integer power-of-two exponents (``2^e`` -> ``e + 127``), clamped to the finite
    range ``[-127, 127]`` (code 255 is NaN and never produced)."""
    e = np.asarray(exponent).astype(np.int64)
    return (np.clip(e, -127, 127) + 127).astype(np.uint8)


def _float(name: str, e: int, m: int, bias: int, max_value: float) -> ElementFormat:
    return ElementFormat(name, 1 + e + m, "float", e, m, bias, max_value)


#: every element / scale format by name
ELEMENT_FORMATS: dict[str, ElementFormat] = {
    **{f"int{b}": ElementFormat(f"int{b}", b, "int") for b in range(2, 9)},
    **{f"uint{b}": ElementFormat(f"uint{b}", b, "uint") for b in range(1, 9)},
    "e4m3": _float("e4m3", 4, 3, 7, 448.0),
    "e5m2": _float("e5m2", 5, 2, 15, 57344.0),
    "e2m3": _float("e2m3", 2, 3, 1, 7.5),
    "e3m2": _float("e3m2", 3, 2, 3, 28.0),
    "e2m1": _float("e2m1", 2, 1, 1, 6.0),
    "fp16": _float("fp16", 5, 10, 15, 65504.0),
    "bf16": _float("bf16", 8, 7, 127, float.fromhex("0x1.fep127")),
    "fp32": _float("fp32", 8, 23, 127, float.fromhex("0x1.fffffep127")),
    "e8m0": ElementFormat("e8m0", 8, "e8m0"),
}
#: formats a scale may be stored in
SCALE_FORMATS = ("fp32", "fp16", "bf16", "e8m0", "e4m3")


def element_format(name: str) -> ElementFormat:
    try:
        return ELEMENT_FORMATS[name]
    except KeyError:
        raise CompressionError(f"unknown element format '{name}'; known: {', '.join(ELEMENT_FORMATS)}") from None


# --- quantization spec --------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantSpec:
    """How one tensor is quantized (what hardware models read through ``WeightView``).

    ``block``: ``(rows, cols)`` of the elements that share one scale; a group of ``g`` along K is
    ``(1, g)``. ``zero_point_bits``: 0 = symmetric (no zero points). ``tensor_scale``: a second-level
    per-tensor scale of :data:`TENSOR_SCALE_BITS` bits (NVFP4). ``act_order``: GPTQ's act-order, a
    ``g_idx`` of :data:`G_IDX_BITS` bits per input column assigns columns to groups.
    ``name``: the format's user-facing name (``int4-g128``, ``fp8-e4m3``, ``mxfp4``, ``nvfp4``, ...).
    """

    name: str
    element: str
    scale: str
    block: tuple[int, int]
    zero_point_bits: int = 0
    tensor_scale: bool = False
    act_order: bool = False

    @property
    def element_format(self) -> ElementFormat:
        return element_format(self.element)

    @property
    def value_bits(self) -> int:
        return self.element_format.bits

    @property
    def scale_bits(self) -> int:
        return element_format(self.scale).bits

    @property
    def group_size(self) -> int:
        """Elements sharing one scale (``block`` rows x cols)."""
        return int(self.block[0] * self.block[1])

    def bits_per_element(self) -> float:
        """Stored bits per element for tensors whose shape is a multiple of the block, without the
        per-tensor terms (``tensor_scale``, ``g_idx``): ``value + (scale + zero point) / group``."""
        return self.value_bits + (self.scale_bits + self.zero_point_bits) / self.group_size


def _blocks(shape: tuple[int, int], block: tuple[int, int]) -> tuple[int, int]:
    return (-(-shape[0] // block[0]), -(-shape[1] // block[1]))


def _expand(a: np.ndarray, block: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Per-block values ``a`` repeated over each block and cut to ``shape`` (gathered at that size: a
    few rows of a per-tensor block never build the whole tensor)."""
    rows = np.asarray(a)[np.arange(shape[0]) // block[0]]
    return rows[:, np.arange(shape[1]) // block[1]]


def _block_reduce(x: np.ndarray, block: tuple[int, int], fn, fill: float) -> np.ndarray:
    """``fn`` over each ``block`` of the 2-D ``x`` (partial edge blocks padded with ``fill``)."""
    nb = _blocks(x.shape, block)
    pad = ((0, nb[0] * block[0] - x.shape[0]), (0, nb[1] * block[1] - x.shape[1]))
    xp = np.pad(x, pad, constant_values=fill) if any(p[1] for p in pad) else x
    return fn(xp.reshape(nb[0], block[0], nb[1], block[1]), axis=(1, 3))


#: elements per row chunk of the float quantizers: their float64 temporaries (about ten of them while
#: encoding) cover one chunk, not the matrix: 16,384 elements keep them near 1 MiB
_CHUNK = 1 << 14


def _chunk_rows(k: int) -> int:
    return max(1, _CHUNK // max(k, 1))


def _chunked_amax(x: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """``_block_reduce(np.abs(x), block, np.max, 0.0)`` a chunk of rows at a time: chunks of whole block rows,
    or, for blocks taller than a chunk, chunks inside one block row whose maxima are combined."""
    n, k = x.shape
    br, bc = block
    amax = np.zeros(_blocks((n, k), block))
    step = _chunk_rows(k)
    if br <= step:
        rows = (step // br) * br
        for r0 in range(0, n, rows):
            part = np.abs(np.asarray(x[r0:r0 + rows], np.float64))
            red = _block_reduce(part, block, np.max, 0.0)
            amax[r0 // br: r0 // br + red.shape[0]] = red
        return amax
    for b0 in range(0, n, br):
        b1 = min(n, b0 + br)
        for r0 in range(b0, b1, step):
            part = np.abs(np.asarray(x[r0:min(b1, r0 + step)], np.float64))
            np.maximum(amax[b0 // br], _block_reduce(part, (part.shape[0], bc), np.max, 0.0)[0], out=amax[b0 // br])
    return amax


def _chunked_encode(x: np.ndarray, block: tuple[int, int], scales: np.ndarray, encode, bits: int,
                    scaled=np.divide) -> np.ndarray:
    """``encode(scaled(x, _expand(scales, block, x.shape)))`` a chunk of rows at a time (``scaled``: the
    value to encode from the float64 elements and their block's scale, ``x / scale`` by default), into
    codes of the narrowest unsigned type of ``bits``-bit patterns (the same bit patterns)."""
    n, k = x.shape
    codes = np.empty((n, k), _narrow_code_dtype(0, (1 << bits) - 1))
    cols = np.arange(k) // block[1]
    step = _chunk_rows(k)
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        per = scales[(np.arange(r0, r1) // block[0])[:, None], cols]
        codes[r0:r1] = encode(scaled(np.asarray(x[r0:r1], np.float64), per))
    return codes


def _in_place_by_rows(fn, a: np.ndarray) -> np.ndarray:
    """``a[:] = fn(a)`` a chunk of rows at a time (per-block arrays: no temporaries of their whole size)."""
    step = _chunk_rows(a.shape[1] if a.ndim == 2 else 1)
    for r0 in range(0, a.shape[0], step):
        a[r0:r0 + step] = fn(a[r0:r0 + step])
    return a


def _narrow_code_dtype(lo: int, hi: int) -> type:
    """The narrowest integer type holding codes in ``[lo, hi]``."""
    for t in ((np.int8, np.int16, np.int32, np.int64) if lo < 0 else (np.uint8, np.uint16, np.uint32, np.int64)):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return t
    return np.int64


@dataclass(frozen=True, eq=False)
class GroupDecode:
    """A :class:`GroupQuant`'s decoding without its codes: the value of codes at given ``(rows, cols)``,
    ``(decode(code) - zero_point) * scale * tensor_scale`` of their block (or act-order group), in ``dtype``
    - what an ``NM`` tensor holding the kept codes decodes with (``tensors.NM(decode=...)``). ``spec`` and
    ``scales`` are the quantizer's, for what reads them after its codes went into the stored tensor."""

    spec: QuantSpec
    scales: np.ndarray
    zero_points: np.ndarray | None
    tensor_scale: float | None
    g_idx: np.ndarray | None
    dtype: np.dtype

    def _at(self, a: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if self.g_idx is not None:
            return a[rows, self.g_idx[cols]]
        return a[rows // self.spec.block[0], cols // self.spec.block[1]]

    def check(self, shape: tuple[int, int]) -> None:
        want = (shape[0], self.scales.shape[1]) if self.g_idx is not None else _blocks(shape, self.spec.block)
        if self.scales.shape != want or (self.g_idx is not None and self.g_idx.shape != (shape[1],)):
            raise CompressionError(f"decode: scales of shape {list(self.scales.shape)} do not fit a {shape[0]} x {shape[1]} matrix")

    def values(self, codes: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        fmt = self.spec.element_format
        v = fmt.decode(codes) if fmt.is_float else codes.astype(np.float64)
        if self.zero_points is not None:
            v = v - self._at(self.zero_points, rows, cols)
        out = v * self._at(self.scales, rows, cols)
        return (out * self.tensor_scale if self.tensor_scale is not None else out).astype(self.dtype)

    def zero_codes(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.zeros(rows.shape, np.int64) if self.zero_points is None else self._at(self.zero_points, rows, cols)


class GroupQuant(CompressedTensor):
    """A 2-D tensor stored as element codes plus per-block scales (and zero points).

    ``codes``: integer array of the tensor's shape (held in the narrowest type of the element's range) - integer levels for ``int`` / ``uint`` elements,
    bit patterns for floats. ``scales``: float64 per-block scales, already rounded to the spec's scale
    format, shape ``(ceil(rows / br), ceil(cols / bc))`` - or ``(rows, K / g)`` groups addressed
    through ``g_idx`` under act-order. ``zero_points``: int64 like ``scales`` or None.
    ``tensor_scale``: the fp32 second-level scale or None. ``g_idx``: group of each column (act-order).

    Value = ``(decode(code) - zero_point) * scale * tensor_scale``.
    Storage: payload = ``size * value_bits``; metadata = ``#scales * scale_bits + #zero points *
    zero_point_bits + 32 (tensor scale) + K * 32 (g_idx)``.
    """

    kind = "lowbit"

    def __init__(self, codes: Any, spec: QuantSpec, scales: Any, zero_points: Any = None,
                 tensor_scale: float | None = None, g_idx: Any = None):
        c = np.asarray(codes)
        if c.ndim != 2 or not np.issubdtype(c.dtype, np.integer):
            raise CompressionError(f"GroupQuant codes must be a 2-D integer array; got {c.dtype} {list(c.shape)}")
        self.spec = spec
        fmt = spec.element_format
        lo, hi = ((-(1 << (fmt.bits - 1)), (1 << (fmt.bits - 1)) - 1) if fmt.kind == "int" else (0, (1 << fmt.bits) - 1))
        if c.size and (c.min() < lo or c.max() > hi):
            raise CompressionError(f"{spec.element} codes must lie in [{lo}, {hi}]; got [{c.min()}, {c.max()}]")
        # held in the narrowest integer type of the element's codes (1 byte for <= 8-bit elements)
        self.codes = c.astype(_narrow_code_dtype(lo, hi), copy=False)
        self.scales = np.asarray(scales, np.float64)
        self.g_idx = None if g_idx is None else np.asarray(g_idx, np.int64)
        want = (c.shape[0], int(self.g_idx.max()) + 1 if self.g_idx is not None and self.g_idx.size else 0) \
            if self.g_idx is not None else _blocks(c.shape, spec.block)
        if self.scales.shape != want:
            raise CompressionError(f"GroupQuant scales must have shape {list(want)}; got {list(self.scales.shape)}")
        if not np.all(np.isfinite(self.scales)) or np.any(self.scales < 0):
            raise CompressionError("GroupQuant scales must be finite and >= 0")
        self.zero_points = None if zero_points is None else np.asarray(zero_points, np.int64)
        if self.zero_points is None and spec.zero_point_bits > 0:
            raise CompressionError("GroupQuant zero points are given when the spec has zero_point_bits > 0")
        # zero points with zero_point_bits 0: implied by the format, not stored (MatMulNBits' default 2^(bits-1))
        if self.zero_points is not None and self.zero_points.shape != self.scales.shape:
            raise CompressionError("GroupQuant zero points must have the shape of the scales")
        self.tensor_scale = None if tensor_scale is None else float(tensor_scale)
        if (self.tensor_scale is None) == spec.tensor_scale:
            raise CompressionError("GroupQuant tensor_scale is given exactly when the spec has tensor_scale")

    @property
    def shape(self):
        return tuple(int(s) for s in self.codes.shape)

    @property
    def bits(self) -> int:
        return self.spec.value_bits

    def _per_element(self, a: np.ndarray) -> np.ndarray:
        return self._rows(a, 0, self.codes.shape[0])

    def levels(self) -> np.ndarray:
        """The elements' decoded values before scaling (float64), zero points subtracted."""
        fmt = self.spec.element_format
        v = fmt.decode(self.codes) if fmt.is_float else self.codes.astype(np.float64)
        if self.zero_points is not None:
            v = v - self._per_element(self.zero_points)
        return v

    def to_dense(self) -> np.ndarray:
        out = self.levels() * self._per_element(self.scales)
        return out * self.tensor_scale if self.tensor_scale is not None else out

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.to_dense()))

    def zero_codes(self) -> np.ndarray:
        """The code of value 0 at every position (the zero point, or 0)."""
        if self.zero_points is None:
            return np.zeros(self.codes.shape, np.int64)
        return self._per_element(self.zero_points)

    def with_mask(self, mask: np.ndarray, copy: bool = True) -> "GroupQuant":
        """This tensor with the positions outside ``mask`` set to the zero code (pruned after quantizing), a
        block of rows at a time (the codes' own type: no full-size int64 temporaries). ``copy=False``: the
        codes are changed in place (a tensor just made, whose codes nothing else holds)."""
        codes = self.codes.copy() if copy else self.codes
        n, k = codes.shape
        step = max(1, (1 << 20) // max(k, 1))
        for r0 in range(0, n, step):
            off = ~mask[r0:r0 + step]
            if off.any():
                block = codes[r0:r0 + step]
                block[off] = 0 if self.zero_points is None else self._rows(self.zero_points, r0, r0 + block.shape[0])[off]
        return GroupQuant(codes, self.spec, self.scales, self.zero_points, self.tensor_scale, self.g_idx)

    def _rows(self, a: np.ndarray, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0 .. r1 - 1`` of :meth:`_per_element` of ``a``."""
        if self.g_idx is not None:
            return a[r0:r1][:, self.g_idx]
        return np.asarray(a)[np.arange(r0, r1) // self.spec.block[0]][:, np.arange(self.codes.shape[1]) // self.spec.block[1]]

    def decoder(self, dtype: Any) -> "GroupDecode":
        """The decoder of these codes at given positions, in ``dtype`` (holds the scales, not the codes)."""
        return GroupDecode(self.spec, self.scales, self.zero_points, self.tensor_scale, self.g_idx, np.dtype(dtype))

    def metadata_bits(self) -> int:
        """Scales, zero points, the tensor scale and g_idx, in bits."""
        s = self.spec
        bits = self.scales.size * s.scale_bits
        if self.zero_points is not None:
            bits += self.zero_points.size * s.zero_point_bits
        if self.tensor_scale is not None:
            bits += TENSOR_SCALE_BITS
        if self.g_idx is not None:
            bits += self.g_idx.size * G_IDX_BITS
        return int(bits)

    def storage_bits(self) -> StorageBits:
        return StorageBits(payload=self.size * self.spec.value_bits, metadata=self.metadata_bits())

    def bits_per_element(self) -> float:
        """Total stored bits / elements."""
        return self.storage_bits().total / max(self.size, 1)

    def payload_symbols(self) -> np.ndarray:
        c = self.codes.ravel()
        return c.astype(np.int64) - c.min() if c.size and c.min() < 0 else c

    def packed(self):
        fmt = self.spec.element_format
        u = self.codes if fmt.kind == "int" else self.codes.astype(np.uint64)
        from accelsim.compress.tensors import _pack

        return {"payload": _pack(u, fmt.bits, "payload")}


# --- scale helpers ------------------------------------------------------------------------------
def round_scale(s: np.ndarray, scale_format: str) -> np.ndarray:
    """Scales rounded to ``scale_format`` (fp32 / fp16 / bf16 / e4m3: nearest, ties to even;
    e8m0: the power of two at or above, so that the block's largest element is not clipped: DeepGEMM's
    ``ceil_to_ue8m0`` for DeepSeek-V3.1's UE8M0 FP8 scales; the power at or below clipped it by up to 50%). A scale
    that rounds to zero or is zero becomes the format's smallest positive value only when the block is non-zero
    (callers pass 0 for all-zero blocks); one above the format's largest value is refused (it would saturate
    silently). The MX formats take OCP's own exponent rule instead (:func:`quantize_mx`)."""
    s = np.asarray(s, np.float64)
    if scale_format == "e8m0":
        m, e = np.frexp(s)  # s = m 2^e, m in [0.5, 1): 2^(e - 1) when s is that power, else 2^e
        up = np.where(m == 0.5, e - 1, e)
        if s.size and float(s.max()) > 0 and int(up[s > 0].max()) > 127:
            raise CompressionError(f"a scale of {float(s.max()):.6g} exceeds the largest e8m0 value (2^127); store "
                                   "the scales as fp32 (scale_format: fp32)")
        return np.where(s > 0, np.ldexp(1.0, np.clip(up, -127, 127)), 0.0)
    fmt = element_format(scale_format)
    if s.size and float(s.max()) > fmt.max_value:  # the format would saturate it: every code decoded too small
        raise CompressionError(f"a scale of {float(s.max()):.6g} exceeds the largest {scale_format} value "
                               f"({fmt.max_value:g}); store the scales as fp32 (scale_format: fp32)")
    r = fmt.round(s)
    tiny = math.ldexp(1.0, 1 - fmt.bias - fmt.man_bits)
    return np.where((s > 0) & (r == 0), tiny, r)


def check_weight_group(group: int, what: str) -> None:
    """Refuse a weight-scale group below one element. A group need not divide K: the last group of a row is
    partial (``ceil(K / g)`` scales per row, as GPTQ / AutoGPTQ store ``ceil(in_features / group_size)``
    groups and DeepSeek-V3's 128 x 128 FP8 blocks end partial); its elements are stored, no padding."""
    if group < 1:
        raise CompressionError(f"group_size must be >= 1 ({what}); got {group}")


def scale_block(block, group_size: int | None, per_channel: bool, n: int, k: int) -> tuple[int, int]:
    """The ``(rows, columns)`` one scale covers for a quantize step's ``block`` / ``group_size`` /
    ``per_channel`` parameters on an ``n x k`` weight matrix (a row's last group may be partial)."""
    if block is not None:
        return int(block[0]), int(block[1])
    if group_size:
        check_weight_group(group_size, "quantize")
        return 1, int(group_size)
    return (1, k) if per_channel else (max(n, 1), max(k, 1))


# --- quantizers ---------------------------------------------------------------------------------
def act_order_g_idx(k: int, group: int, order: np.ndarray) -> np.ndarray:
    """GPTQ's ``g_idx``: columns taken in ``order`` (most important first), ``group`` at a time;
    ``g_idx[j]`` = the group of column ``j``."""
    g = np.empty(k, np.int64)
    g[np.asarray(order, np.int64)] = np.arange(k) // group
    return g


def quantize_int(x: Any, bits: int, group: int | None = None, symmetric: bool = True, scale_format: str = "fp16",
                 zero_point_bits: int | None = None, order: Any = None, name: str = "") -> GroupQuant:
    """Round-to-nearest integer quantization with one scale per ``group`` inputs of a row (None: per
    channel, ``group = K``), as GPTQ / AWQ store it (GPTQ's Hessian error feedback is not modelled).

    Symmetric: ``scale = max|x| / (2^(b-1) - 1)`` rounded to ``scale_format``, ``q = clip(rint(x /
    scale), -qmax, qmax)`` (signed ``int{b}``). Asymmetric (GPTQ's range, which always contains 0 so
    pruned zeros stay exact): ``lo = min(x, 0)``, ``hi = max(x, 0)``, ``scale = (hi - lo) / (2^b - 1)``,
    ``zp = clip(rint(-lo / scale), 0, 2^zb - 1)``, ``q = clip(rint(x / scale) + zp, 0, 2^b - 1)``
    (unsigned ``uint{b}``). ``order``: act-order - a permutation of the columns, most important
    first; groups are consecutive in that order and ``g_idx`` records them.
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise CompressionError(f"quantize_int needs a 2-D matrix; got shape {list(x.shape)}")
    _finite(x, "quantize_int")
    if not 2 <= bits <= 8:
        raise CompressionError(f"group-wise integer bits must be in [2, 8]; got {bits}")
    n, k = x.shape
    g = k if group is None else int(group)
    check_weight_group(g, "quantize_int")
    g_idx = None
    xs = x
    if order is not None:
        order = np.asarray(order, np.int64)
        if sorted(order.tolist()) != list(range(k)):
            raise CompressionError("act-order: order must be a permutation of the K columns")
        g_idx = act_order_g_idx(k, g, order)
        xs = x[:, order]  # grouped in act order
    block = (1, g)
    zb = 0 if symmetric else (bits if zero_point_bits is None else int(zero_point_bits))
    elem = f"int{bits}" if symmetric else f"uint{bits}"
    spec = QuantSpec(name or f"{'int' if symmetric else 'uint'}{bits}-g{g}", elem, scale_format, block, zb,
                     act_order=order is not None)
    if symmetric:
        qmax = (1 << (bits - 1)) - 1
        amax = _block_reduce(np.abs(xs), block, np.max, 0.0)
        scale = round_scale(amax / qmax, scale_format)
        safe = np.where(scale > 0, scale, 1.0)
        q = np.clip(np.rint(xs / _expand(safe, block, xs.shape)), -qmax, qmax).astype(np.int64)
        zps = None
    else:
        qmax = (1 << bits) - 1
        lo = np.minimum(_block_reduce(xs, block, np.min, 0.0), 0.0)
        hi = np.maximum(_block_reduce(xs, block, np.max, 0.0), 0.0)
        scale = round_scale((hi - lo) / qmax, scale_format)
        safe = np.where(scale > 0, scale, 1.0)
        zps = np.clip(np.rint(-lo / safe), 0, (1 << zb) - 1).astype(np.int64)
        q = np.clip(np.rint(xs / _expand(safe, block, xs.shape)) + _expand(zps, block, xs.shape), 0, qmax).astype(np.int64)
    if order is not None:  # back to the original column order
        inv = np.empty(k, np.int64)
        inv[order] = np.arange(k)
        q = q[:, inv]
    return GroupQuant(q, spec, scale, zps, None, g_idx)


def _float_matrix(x: Any, what: str) -> np.ndarray:
    """``x`` as a 2-D float array in its own float type (the quantizers convert a chunk at a time to float64)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if x.ndim != 2:
        raise CompressionError(f"{what} needs a 2-D matrix; got shape {list(x.shape)}")
    return _finite(x, what)


def _finite(x: np.ndarray, what: str) -> np.ndarray:
    """``x``, refused when it holds NaN or an infinity: a quantizer's scales and codes would be finite garbage
    (an infinity's block decoded to zeros, a NaN's to its format's smallest scale). Its min and max tell it
    without a temporary array of the matrix's size (a NaN propagates into both)."""
    if x.size and not (np.isfinite(x.min()) and np.isfinite(x.max())):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise CompressionError(f"{what}: the input holds NaN or infinite values ({bad} of {x.size}); only finite "
                               "values are quantized")
    return x


def quantize_float(x: Any, element: str, block: tuple[int, int], scale_format: str = "fp32", name: str = "") -> GroupQuant:
    """FP8 (or any float element) with an absmax scale per ``block``: ``scale = amax / max_value``
    rounded to ``scale_format``, codes = ``encode(x / scale)`` (nearest-even, saturating). Per tensor:
    ``block = shape``; per channel: ``(1, K)``; DeepSeek-V3's weight blocks: ``(128, 128)`` (edge
    blocks may be partial)."""
    x = _float_matrix(x, "quantize_float")
    fmt = element_format(element)
    if not fmt.is_float:
        raise CompressionError(f"quantize_float needs a float element format; got {element}")
    if scale_format == "e8m0" and tuple(block) != (1, 32):
        raise CompressionError(f"E8M0 scales are defined for blocks of 32 along K (OCP MX); got block {list(block)}")
    block = (int(block[0]), int(block[1]))
    amax = _chunked_amax(x, block)
    scale = round_scale(amax / fmt.max_value, scale_format)
    safe = np.where(scale > 0, scale, 1.0)
    codes = _chunked_encode(x, block, safe, fmt.encode, fmt.bits)
    spec = QuantSpec(name or f"fp8-{element}", element, scale_format, block)
    return GroupQuant(codes, spec, scale)


#: OCP MX formats: name -> element format (block 32, E8M0 scale)
MX_FORMATS = {"mxfp8": "e4m3", "mxfp8-e5m2": "e5m2", "mxfp6": "e2m3", "mxfp6-e3m2": "e3m2", "mxfp4": "e2m1"}
MX_BLOCK = 32
NVFP4_BLOCK = 16


def quantize_mx(x: Any, name: str = "mxfp4", block: int = MX_BLOCK) -> GroupQuant:
    """OCP Microscaling (MX v1.0): blocks of 32 consecutive elements along K share an E8M0 scale
    ``X = 2^(floor(log2(amax)) - emax_elem)``; elements ``encode(x / X)`` in the element format
    (nearest-even, saturating at the largest normal). An all-zero block gets ``X = 2^-127``.
    MXFP4 stores ``4 + 8 / 32 = 4.25`` bits per element."""
    if name not in MX_FORMATS:
        raise CompressionError(f"unknown MX format '{name}'; known: {', '.join(MX_FORMATS)}")
    if block != MX_BLOCK:
        raise CompressionError(f"{name}: E8M0 scales cover blocks of {MX_BLOCK} elements (OCP MX v1.0); got block {block}")
    x = _float_matrix(x, "quantize_mx")
    # a row whose K is not a multiple of 32 ends in a partial block (its own scale; OCP MX v1.0 leaves the
    # padding of a vector's last block to the implementation): no padding elements are counted
    fmt = element_format(MX_FORMATS[name])
    b = (1, MX_BLOCK)
    e8m0 = ELEMENT_FORMATS["e8m0"]

    def block_scale(amax):
        _, e = np.frexp(amax)
        return e8m0.decode(encode_e8m0_exponent(np.where(amax > 0, e - 1 - fmt.emax, -127)))

    scale = _in_place_by_rows(block_scale, _chunked_amax(x, b))
    codes = _chunked_encode(x, b, scale, fmt.encode, fmt.bits)
    return GroupQuant(codes, QuantSpec(name, fmt.name, "e8m0", b), scale)


def quantize_nvfp4(x: Any, block: int = NVFP4_BLOCK) -> GroupQuant:
    """NVIDIA NVFP4: E2M1 elements, one E4M3 scale per 16 elements along K, one fp32 per-tensor scale
    (TensorRT Model Optimizer's recipe): ``s_t = amax / (6 * 448)`` (fp32), block scale
    ``s_b = e4m3(amax_block / (6 * s_t))``, elements ``e2m1(x / (s_b * s_t))``. Storage per element
    ``4 + 8 / 16 = 4.5`` bits, plus 32 bits per tensor."""
    if block != NVFP4_BLOCK:
        raise CompressionError(f"nvfp4: E4M3 scales cover blocks of {NVFP4_BLOCK} elements; got block {block}")
    x = _float_matrix(x, "quantize_nvfp4")
    # a row whose K is not a multiple of 16 ends in a partial block with its own scale (no padding counted)
    e2m1, e4m3 = ELEMENT_FORMATS["e2m1"], ELEMENT_FORMATS["e4m3"]
    b = (1, NVFP4_BLOCK)
    amax = _chunked_amax(x, b)  # (the tensor's amax is the largest block amax)
    amax_t = float(amax.max()) if amax.size else 0.0
    st = 1.0
    if amax_t > 0:
        with np.errstate(over="ignore", under="ignore"):
            st = float(np.float32(amax_t / (e2m1.max_value * e4m3.max_value)))
        if st == 0.0:  # below fp32's range: its smallest positive value, as round_scales does for a block scale
            st = math.ldexp(1.0, -149)
        elif not math.isfinite(st):
            raise CompressionError(f"nvfp4: the per-tensor scale {amax_t / (e2m1.max_value * e4m3.max_value):.6g} "
                                   f"exceeds the largest fp32 value ({float(np.finfo(np.float32).max):g})")
    tiny = math.ldexp(1.0, 1 - e4m3.bias - e4m3.man_bits)  # E4M3's smallest positive value, 2^-9

    def block_scale(a):  # a non-zero block whose scale rounds to zero keeps the smallest one (as round_scale does)
        sb = e4m3.round(a / (e2m1.max_value * st))
        return np.where((a > 0) & (sb == 0), tiny, sb)

    sb = _in_place_by_rows(block_scale, amax)
    del amax

    def scaled(xc, s):  # x / (sb * st), 0 in a block whose scale rounds to zero
        return np.where(s > 0, xc / (np.where(s > 0, s, 1.0) * st), 0.0)

    codes = _chunked_encode(x, b, sb, e2m1.encode, e2m1.bits, scaled)
    return GroupQuant(codes, QuantSpec("nvfp4", "e2m1", "e4m3", b, tensor_scale=True), sb, tensor_scale=st)


def quantize(x: Any, spec: QuantSpec, order: Any = None) -> GroupQuant:
    """Quantize the 2-D ``x`` as ``spec`` says (dispatch to the quantizers above)."""
    if spec.name in MX_FORMATS:
        return quantize_mx(x, spec.name, spec.block[1] if spec.block[0] == 1 else -1)
    if spec.name == "nvfp4":
        return quantize_nvfp4(x, spec.block[1] if spec.block[0] == 1 else -1)
    fmt = spec.element_format
    if fmt.is_float:
        return quantize_float(x, spec.element, spec.block, spec.scale, spec.name)
    if spec.block[0] != 1:
        raise CompressionError(f"integer groups run along K (block [1, g]); got block {list(spec.block)}")
    return quantize_int(x, fmt.bits, spec.block[1], symmetric=fmt.kind == "int", scale_format=spec.scale,
                        zero_point_bits=spec.zero_point_bits or None, order=order, name=spec.name)


# --- activations --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActivationFormat:
    """Activation quantization of a layer's input.

    ``element``: ``int8`` (symmetric absmax, SmoothQuant's W8A8) or ``e4m3`` / ``e5m2`` (FP8);
    ``granularity``: ``per_tensor`` (one scale) or ``per_token`` (one scale per row of the
    ``(tokens, channels)`` input; with ``group_size`` one per ``group_size`` channels of a token,
    DeepSeek-V3's 1 x 128 tiles); ``dynamic``: scales computed at run time from each token's / the
    tensor's max (a reduction the hardware performs) instead of calibrated offline (static);
    ``scale_bits``: 32 (fp32 scales). ``smooth_alpha``: SmoothQuant migration strength, or None.
    """

    element: str
    granularity: str = "per_tensor"
    dynamic: bool = False
    scale_bits: int = 32
    smooth_alpha: float | None = None
    group_size: int | None = None

    @property
    def bits(self) -> int:
        return element_format(self.element).bits

    @property
    def label(self) -> str:
        gran = self.granularity.replace("_", "-") + (f"-g{self.group_size}" if self.group_size else "")
        return f"{self.element}-{gran}-{'dynamic' if self.dynamic else 'static'}"

    def scales_for(self, tokens: int, channels: int | None = None) -> int:
        """Scales of a ``(tokens, channels)`` input (``channels`` needed with ``group_size``)."""
        if self.granularity != "per_token":
            return 1
        if self.group_size and channels:
            return tokens * -(-channels // self.group_size)
        return tokens

    def bits_per_element(self, tokens: int, channels: int) -> float:
        """Bits per activation element including its scales: ``bits + scales * 32 / (tokens * channels)``."""
        n = tokens * channels
        return self.bits + self.scales_for(tokens, channels) * self.scale_bits / max(n, 1)

    def quantize(self, x: Any) -> GroupQuant:
        """Quantize a ``(tokens, channels)`` array (a 1-D array is one token) with absmax scales."""
        a = _finite(np.asarray(x, np.float64), f"activations {self.label}")
        a = a.reshape(1, -1) if a.ndim < 2 else a.reshape(-1, a.shape[-1])
        block = (1, a.shape[1]) if self.granularity == "per_token" else a.shape
        if self.granularity == "per_token" and self.group_size:  # a last partial group has its own scale
            block = (1, self.group_size)
        fmt = element_format(self.element)
        if fmt.is_float:
            return quantize_float(a, self.element, block, "fp32", name=self.label)
        amax = _block_reduce(np.abs(a), block, np.max, 0.0)
        scale = round_scale(amax / fmt.qmax, "fp32")
        safe = np.where(scale > 0, scale, 1.0)
        q = np.clip(np.rint(a / _expand(safe, block, a.shape)), -fmt.qmax, fmt.qmax).astype(np.int64)
        return GroupQuant(q, QuantSpec(self.label, self.element, "fp32", block), scale)


def smoothing_factors(act_absmax: Any, weight: Any, alpha: float) -> np.ndarray:
    """SmoothQuant's per-input-channel factors ``s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)``
    (Xiao et al., ICML 2023, Eq. 4); the weights become ``W * s`` (column j times ``s_j``) and the
    activations ``X / s``. Channels with a zero maximum get ``s_j = 1``."""
    a = np.asarray(act_absmax, np.float64).ravel()
    weight = np.asarray(weight)
    if weight.ndim == 2 and weight.shape[0]:  # max |W_j| a block of rows at a time (abs and max are exact in any float)
        step = max(1, (1 << 16) // max(weight.shape[1], 1))
        w = np.zeros(weight.shape[1], np.float64)
        for r0 in range(0, weight.shape[0], step):
            np.maximum(w, np.max(np.abs(weight[r0:r0 + step]), axis=0).astype(np.float64), out=w)
    else:
        w = np.max(np.abs(np.asarray(weight, np.float64)), axis=0)
    if a.shape != w.shape:
        raise CompressionError(f"smoothing: {a.size} activation channels but the weights have K = {w.size}")
    if not 0.0 <= alpha <= 1.0:
        raise CompressionError(f"smoothing alpha must be in [0, 1]; got {alpha}")
    ok = (a > 0) & (w > 0)
    s = np.ones_like(w)
    s[ok] = a[ok] ** alpha / w[ok] ** (1.0 - alpha)
    return s


# --- KV cache -----------------------------------------------------------------------------------
KV_FORMATS = ("int8", "int4", "int2", "fp8-e4m3", "fp8-e5m2")


@dataclass(frozen=True)
class KVFormat:
    """How the KV cache is stored (read by hardware models for KV bytes; ``cg.kv_format``).

    ``format``: ``int8`` / ``int4`` / ``int2`` (asymmetric with fp16 scale and zero point per group,
    as KIVI stores them) or ``fp8-e4m3`` / ``fp8-e5m2`` (one fp32 scale per tensor, vLLM's fp8 KV
    cache). ``key`` / ``value``: ``per_token`` (groups of ``group_size`` channels of one token) or
    ``per_channel`` (groups of ``group_size`` tokens of one channel: KIVI's keys).
    ``group_size``: None = the whole token row / channel column.
    """

    format: str
    key: str = "per_token"
    value: str = "per_token"
    group_size: int | None = None
    scale_bits: int = 16
    zero_point_bits: int = 16

    @property
    def is_int(self) -> bool:
        return self.format.startswith("int")

    @property
    def bits(self) -> int:
        return int(self.format[3:]) if self.is_int else 8

    def _block(self, role: str, tokens: int, channels: int) -> tuple[int, int]:
        gran = self.key if role == "key" else self.value
        if gran == "per_token":
            return (1, self.group_size or channels)
        return (self.group_size or tokens, 1)

    def bits_per_element(self, role: str = "key", tokens: int | None = None, channels: int | None = None) -> float:
        """Stored bits per cached element. Integers: ``bits + (scale_bits + zero_point_bits) x ceil(n / group) / n``
        with ``n`` the length of the grouped axis (``channels`` per token, ``tokens`` per channel) when it is
        given - a partial group still stores its scale and zero point, so a 50-token cache in groups of 32 tokens
        pays for two - else ``bits + (scale_bits + zero_point_bits) / group_size`` (a multiple of the group);
        group = ``group_size``, or the whole row / column. fp8: 8 (+ 32 bits per tensor when the shape is given)."""
        if not self.is_int:
            return 8.0 + (32.0 / (tokens * channels) if tokens and channels else 0.0)
        if self.group_size is None and (tokens is None or channels is None):
            raise CompressionError("KVFormat.bits_per_element: give tokens and channels when group_size is None")
        gran = self.key if role == "key" else self.value
        n = channels if gran == "per_token" else tokens
        meta = self.scale_bits + self.zero_point_bits
        if self.group_size is None:
            return self.bits + meta / n
        if not n:
            return self.bits + meta / self.group_size
        return self.bits + meta * -(-int(n) // self.group_size) / n

    def quantize(self, x: Any, role: str = "key") -> GroupQuant:
        """Quantize a ``(tokens, channels)`` cache slice of one head as this format stores it."""
        a = _finite(np.asarray(x, np.float64), f"kv-{self.format}")
        if a.ndim != 2:
            raise CompressionError(f"KVFormat.quantize needs a (tokens, channels) array; got shape {list(a.shape)}")
        if not self.is_int:
            return quantize_float(a, self.format[4:], a.shape, "fp32", name=f"kv-{self.format}")
        block = self._block(role, *a.shape)
        qmax = (1 << self.bits) - 1
        lo = _block_reduce(a, block, np.min, 0.0)
        hi = _block_reduce(a, block, np.max, 0.0)
        # KIVI: scale = (max - min) / (2^b - 1), zero = min; stored here as an integer zero point of
        # zero_point_bits (fp16-sized) so the value grid is (q - zp) * scale
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        scale = round_scale((hi - lo) / qmax, "fp16")
        safe = np.where(scale > 0, scale, 1.0)
        zp = np.rint(-lo / safe).astype(np.int64)
        q = np.clip(np.rint(a / _expand(safe, block, a.shape)) + _expand(zp, block, a.shape), 0, qmax).astype(np.int64)
        spec = QuantSpec(f"kv-{self.format}-{role}", f"uint{self.bits}", "fp16", block, self.zero_point_bits)
        return GroupQuant(q, spec, scale, zp)


# --- operators ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantOp:
    """A format conversion a compressed layer implies, for hardware models to cost.

    ``kind``: ``quantize`` (float -> low-bit, input activations), ``dequantize`` (low-bit -> float:
    weights unpacked on the fly, or int32 / fp32 accumulators scaled back to fp16), ``requantize``
    (int32 accumulators -> the next layer's int8, one fused epilogue). ``tensor``: ``input``,
    ``output`` or ``weight``. ``elements``: elements converted per call at batch 1 (``input`` /
    ``output`` scale with the batch, ``weight`` does not). ``scales``: scale values applied per call
    at batch 1. ``dynamic``: a max-reduction over each scale group runs first (dynamic activations).
    """

    kind: str
    tensor: str
    elements: int
    from_format: str
    to_format: str
    scales: int = 0
    dynamic: bool = False

    def elements_at(self, batch: int) -> int:
        """Elements converted per call at ``batch`` (weights are converted once per call)."""
        return self.elements if self.tensor == "weight" else self.elements * int(batch)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tensor": self.tensor, "elements": self.elements, "from": self.from_format,
                "to": self.to_format, "scales": self.scales, "dynamic": self.dynamic}


__all__ = [
    "ELEMENT_FORMATS", "G_IDX_BITS", "KV_FORMATS", "MX_FORMATS", "SCALE_FORMATS",
    "TENSOR_SCALE_BITS", "ActivationFormat", "ElementFormat", "GroupDecode", "GroupQuant", "KVFormat", "QuantOp", "QuantSpec",
    "act_order_g_idx", "check_weight_group", "element_format", "encode_e8m0_exponent", "quantize", "quantize_float", "quantize_int",
    "quantize_mx", "quantize_nvfp4", "round_scale", "smoothing_factors",
]
