"""Uniform, binary and ternary quantization, and quantization error metrics.

Pure functions: they never modify their input and return a compressed tensor whose ``to_dense()``
is the dequantized array. Exact zeros (pruned weights) stay exactly zero in every scheme.

* symmetric b-bit: ``scale = max|x| / (2^(b-1) - 1)``, ``q = clip(round(x / scale), -qmax, qmax)``;
* asymmetric b-bit: range ``[min(x, 0), max(x, 0)]``, ``scale = range / (2^b - 1)``,
  ``zp = round(-lo / scale)``, ``q = clip(round(x / scale) + zp, 0, 2^b - 1)``;
* per-channel: one scale (and zero point) per output channel (axis 0);
* 1 <= b <= 32;
* binary (XNOR-Net): ``alpha = mean|x|`` (per channel or tensor), value ``alpha * sign(x)``;
* ternary (TWN): ``delta = t * mean|x|`` (t = 0.7), ``alpha = mean(|x| : |x| > delta)``,
  values ``{-alpha, 0, +alpha}``.

b = 1 in :func:`quantize_uniform` is the binary scheme (a 1-bit symmetric grid has no non-zero level).
"""

from __future__ import annotations

import numpy as np

from accelsim.compress.tensors import Codebook, LowBit
from accelsim.errors import CompressionError


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
        raise CompressionError(f"quantization bits must be an int in [1, 32]; got {bits!r}")
    return int(bits)


def _finite(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise CompressionError(f"{what} must be finite numbers (NaN or infinite values found)")
    return x


def _per_channel_reduce(x: np.ndarray, per_channel: bool, fn) -> np.ndarray:
    if per_channel:
        if x.ndim < 1:
            raise CompressionError("per-channel quantization needs at least a 1-D tensor")
        return fn(x.reshape(x.shape[0], -1), axis=1)
    return np.asarray(fn(x.ravel()))


def _bcast(a: np.ndarray, x: np.ndarray, per_channel: bool) -> np.ndarray:
    return a.reshape((-1,) + (1,) * (x.ndim - 1)) if per_channel else a


_BLOCK = 1 << 16  # elements per block of the streamed quantizer


def code_dtype(bits: int, signed: bool) -> type:
    """The narrowest integer type holding ``bits``-bit codes: (u)int8 / (u)int16 / (u)int32."""
    if signed:
        return np.int8 if bits <= 8 else (np.int16 if bits <= 16 else np.int32)
    return np.uint8 if bits <= 8 else (np.uint16 if bits <= 16 else np.uint32)


def _stored_scale(scale: np.ndarray) -> np.ndarray:
    """The scales as stored: rounded once to float32 (their 32 bits in ``storage_bits``), held as float64; the
    codes and the dequantized values use them. A scale below float32's range is its smallest positive value
    (weights below ~2e-43); one above it is a CompressionError (float64 weights above ~4e40)."""
    with np.errstate(over="ignore"):
        s32 = np.asarray(scale, np.float64).astype(np.float32)
    if not np.all(np.isfinite(s32)):
        raise CompressionError(f"a quantization scale ({float(np.max(scale)):.3g}) is over float32's range, in which "
                               "the scales are stored")
    return np.maximum(s32, np.finfo(np.float32).smallest_subnormal).astype(np.float64)


def _row_blocks(shape2: tuple[int, int]):
    """``(r0, r1)`` bounds of blocks of about :data:`_BLOCK` elements over the rows of a 2-D shape."""
    rows = max(1, _BLOCK // max(shape2[1], 1))
    for r0 in range(0, shape2[0], rows):
        yield r0, min(r0 + rows, shape2[0])


def _quantize_uniform_blocked(x: np.ndarray, bits: int, symmetric: bool, per_channel: bool) -> LowBit:
    """:func:`quantize_uniform` (b >= 2) a block of rows at a time: the same codes, scales and zero points
    (every step is elementwise, the reductions exact), held as narrow integers; no full-size float64
    copy of the input."""
    x2 = x.reshape(x.shape[0], -1) if x.ndim >= 1 else x.reshape(1, 1)
    return _quantize_rows(x2, x.shape, bits, symmetric, per_channel)


def quantize_uniform_rows(rows, bits: int, symmetric: bool = True, per_channel: bool = False) -> LowBit:
    """:func:`quantize_uniform` (``bits`` >= 2) of a 2-D matrix given by its rows: ``rows.shape`` and
    ``rows[r0:r1]``, the dense rows ``r0 .. r1 - 1`` (finite numbers). The same :class:`LowBit`, without the
    whole matrix ever being built (a pruned layer held as mask + kept values)."""
    bits = _check_bits(bits)
    if bits < 2 or len(rows.shape) != 2:
        raise CompressionError(f"quantize_uniform_rows needs bits >= 2 and a 2-D matrix; got {bits}, {list(rows.shape)}")
    return _quantize_rows(rows, tuple(int(d) for d in rows.shape), bits, symmetric, per_channel)


def _quantize_rows(x2, shape: tuple[int, ...], bits: int, symmetric: bool, per_channel: bool) -> LowBit:
    """The blocked quantizer over the rows ``x2[r0:r1]`` of a 2-D matrix (an array, or any object with a
    ``shape`` sliced by rows); the codes are shaped ``shape``."""
    shape2 = tuple(int(d) for d in x2.shape)
    size = shape2[0] * shape2[1]
    blocks = list(_row_blocks(shape2))
    if symmetric:
        qmax = (1 << (bits - 1)) - 1
        amax_rows = np.empty(shape2[0], np.float64)
        for r0, r1 in blocks:
            amax_rows[r0:r1] = np.max(np.abs(x2[r0:r1].astype(np.float64)), axis=1) if shape2[1] else 0.0
        amax = amax_rows if per_channel else np.asarray(np.max(amax_rows) if size else 0.0)
        scale = _stored_scale(np.where(amax > 0, amax / qmax, 1.0))
        zp = None
        lo_q, hi_q, dtype = -qmax, qmax, code_dtype(bits, True)
    else:
        qmax = (1 << bits) - 1
        lo_rows = np.empty(shape2[0], np.float64)
        hi_rows = np.empty(shape2[0], np.float64)
        for r0, r1 in blocks:
            b = x2[r0:r1].astype(np.float64)
            lo_rows[r0:r1], hi_rows[r0:r1] = np.min(b, axis=1), np.max(b, axis=1)
        if per_channel:
            lo, hi = np.minimum(lo_rows, 0.0), np.maximum(hi_rows, 0.0)
        else:
            lo = np.minimum(np.asarray(np.min(lo_rows)), 0.0) if size else np.asarray(0.0)
            hi = np.maximum(np.asarray(np.max(hi_rows)), 0.0) if size else np.asarray(0.0)
        scale = _stored_scale(np.where(hi > lo, (hi - lo) / qmax, 1.0))
        zp = np.clip(np.rint(-lo / scale), 0, qmax).astype(np.int64)
        lo_q, hi_q, dtype = 0, qmax, code_dtype(bits, False)
    q = np.empty(shape2, dtype)
    for r0, r1 in blocks:
        s = scale[r0:r1, None] if per_channel else scale
        v = np.rint(x2[r0:r1].astype(np.float64) / s)
        if zp is not None:
            v += zp[r0:r1, None] if per_channel else zp
        q[r0:r1] = np.clip(v, lo_q, hi_q)
    q = q.reshape(shape)
    if symmetric:
        return LowBit(q, bits, scale if per_channel else float(scale), 0, per_channel=per_channel, signed=True)
    if per_channel:
        return LowBit(q, bits, scale, zp, per_channel=True, signed=False)
    return LowBit(q, bits, float(scale), int(zp), per_channel=False, signed=False)


def quantize_uniform(x: np.ndarray, bits: int, symmetric: bool = True, per_channel: bool = False):
    """Uniform quantization to ``bits`` bits; returns a :class:`LowBit` (a :class:`Codebook` for b = 1).

    The codes are held in the narrowest integer type (:func:`code_dtype`) and computed a block of rows
    at a time (:func:`_quantize_uniform_blocked`)."""
    bits = _check_bits(bits)
    x = _finite(x, "quantization input")
    if bits == 1:
        return binarize(x.astype(np.float64), per_channel=per_channel)
    if x.ndim >= 2 or (x.ndim == 1 and per_channel):
        return _quantize_uniform_blocked(x, bits, symmetric, per_channel)
    return _quantize_uniform_dense(x.astype(np.float64), bits, symmetric, per_channel)


def _quantize_uniform_dense(x: np.ndarray, bits: int, symmetric: bool, per_channel: bool):
    if symmetric:
        qmax = (1 << (bits - 1)) - 1
        amax = _per_channel_reduce(np.abs(x), per_channel, np.max) if x.size else np.asarray(0.0)
        scale = _stored_scale(np.where(amax > 0, amax / qmax, 1.0))
        q = np.clip(np.rint(x / _bcast(scale, x, per_channel)), -qmax, qmax).astype(np.int64)
        return LowBit(q, bits, scale if per_channel else float(scale), 0, per_channel=per_channel, signed=True)
    qmax = (1 << bits) - 1
    lo = np.minimum(_per_channel_reduce(x, per_channel, np.min), 0.0) if x.size else np.asarray(0.0)
    hi = np.maximum(_per_channel_reduce(x, per_channel, np.max), 0.0) if x.size else np.asarray(0.0)
    scale = _stored_scale(np.where(hi > lo, (hi - lo) / qmax, 1.0))
    zp = np.clip(np.rint(-lo / scale), 0, qmax).astype(np.int64)
    q = np.clip(np.rint(x / _bcast(scale, x, per_channel)) + _bcast(zp, x, per_channel), 0, qmax).astype(np.int64)
    if per_channel:
        return LowBit(q, bits, scale, zp, per_channel=True, signed=False)
    return LowBit(q, bits, float(scale), int(zp), per_channel=False, signed=False)


def binarize(x: np.ndarray, per_channel: bool = True) -> Codebook:
    """XNOR-Net binary weights: codes ``x >= 0``, table ``[-alpha, +alpha]``, ``alpha = mean|x|``.

    Exact zeros stay zero only when wrapped in a sparse format by the caller (a dense binary
    tensor has no zero level).
    """
    x = _finite(x, "binarization input").astype(np.float64)
    alpha = _per_channel_reduce(np.abs(x), per_channel, np.mean) if x.size else np.asarray(0.0)
    codes = (x >= 0).astype(np.int64)
    table = np.stack([-alpha, alpha], axis=-1)
    return Codebook(codes, table, index_bits=1)


def ternarize(x: np.ndarray, threshold: float = 0.7, per_channel: bool = False) -> Codebook:
    """TWN ternary weights: table ``[-alpha, 0, +alpha]``, codes 0 / 1 / 2, 2-bit indices."""
    t = float(threshold)
    if not 0.0 < t < 10.0:
        raise CompressionError(f"ternary threshold factor must be in (0, 10); got {threshold!r}")
    x = _finite(x, "ternarization input").astype(np.float64)
    ax = np.abs(x)
    delta = t * (_per_channel_reduce(ax, per_channel, np.mean) if x.size else np.asarray(0.0))
    big = ax > _bcast(delta, x, per_channel)
    if per_channel:
        rows = x.reshape(x.shape[0], -1)
        sel = big.reshape(x.shape[0], -1)
        cnt = sel.sum(axis=1)
        alpha = np.where(cnt > 0, (np.abs(rows) * sel).sum(axis=1) / np.maximum(cnt, 1), 0.0)
    else:
        alpha = np.asarray(ax[big].mean() if big.any() else 0.0)
    codes = np.where(big, np.where(x > 0, 2, 0), 1).astype(np.int64)
    table = np.stack([-alpha, np.zeros_like(alpha), alpha], axis=-1)
    return Codebook(codes, table, index_bits=2)


def quantize_activations(sample: np.ndarray, bits: int) -> LowBit:
    """Activations: asymmetric per-tensor (ReLU outputs use the full unsigned range)."""
    return quantize_uniform(sample, bits, symmetric=False, per_channel=False)


def mse(reference: np.ndarray, approx: np.ndarray) -> float:
    """Mean squared error (units of the tensor squared)."""
    r = np.asarray(reference, np.float64)
    a = np.asarray(approx, np.float64)
    if r.shape != a.shape:
        raise CompressionError(f"mse: shapes differ {list(r.shape)} vs {list(a.shape)}")
    return float(np.mean(np.square(r - a))) if r.size else 0.0


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio ``10 log10(sum x^2 / sum (x - q)^2)`` in dB (inf if exact)."""
    r = np.asarray(reference, np.float64)
    a = np.asarray(approx, np.float64)
    noise = float(np.sum(np.square(r - a)))
    signal = float(np.sum(np.square(r)))
    if noise == 0.0:
        return float("inf")
    if signal == 0.0:
        return float("-inf")
    return 10.0 * np.log10(signal / noise)
