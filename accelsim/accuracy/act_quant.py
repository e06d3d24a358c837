"""Quantized input activations in accuracy evaluation (docs/accuracy.md, "Quantized activations").

A recipe's ``activations`` step quantizes the inputs of the layers it selects; the hardware models run them at
those bits, and the evaluation quantizes them the same way before the layer reads them, with the arithmetic of the
compressed graph's quantizers (``accelsim.compress``):

* ``activations: {bits: b}`` alone: asymmetric per-tensor uniform quantization (``quantize_activations``), static;
* with a format (``format``, ``granularity``, ``dynamic``, ``smooth_alpha``, ``group_size``): symmetric absmax
  int or FP8 per tensor, per token or per group of a token's channels (``ActivationFormat.quantize``); SmoothQuant
  layers quantize ``x / s`` and read ``Q(x / s) * s`` (their effective weights are in the original basis).

Static scales (calibrated offline) come from a calibration pass over the evaluated data with the compressed
weights and float activations: the per-tensor range of each layer's input (:func:`observed_range`,
:func:`at_site`: by where the layer reads its input, so tied layers calibrate apart). Dynamic ones (and per-token ones) come from each sample's (token's) own values, as the hardware
computes them at run time, so the batch size never changes a result. Activations of 16 bits or more are left in
float. Two twins: :func:`quantize_input` (NumPy; the torch backend's forward pre-hooks call it) and
:func:`onnx_nodes` (the same arithmetic as ONNX operators in float64, inserted before the layer's node).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.accuracy.base import AccuracyError

#: activations at or above this width run in float in the evaluation (fp16 / bf16 rounding is not modelled)
FLOAT_BITS = 16
#: FP8 element formats: mantissa bits, smallest normal exponent, largest value (OCP OFP8)
_FP8 = {"e4m3": (3, -6, 448.0), "e5m2": (2, -14, 57344.0)}


@dataclass(frozen=True)
class InputQuant:
    """How one layer's input is quantized: ``kind`` ``asym`` (``bits`` only), ``int``, ``e4m3`` or ``e5m2``;
    ``per_token`` with ``group_size`` channels a scale (None: a token's channels); ``smooth``: SmoothQuant's
    per-channel factors; ``conv``: the channels are axis 1 of the batch (a convolution's pixels are its tokens),
    else the last axis."""

    kind: str
    bits: int
    per_token: bool = False
    group_size: int | None = None
    smooth: np.ndarray | None = None
    conv: bool = False
    label: str = ""
    #: static scales: the per-tensor ``(min, max)`` of the layer's input over the evaluated data (a calibration
    #: pass, :func:`at_site`); None: each sample's (or token's) own range, as a dynamic format computes it
    calibrated: tuple[float, float] | None = None
    static: bool = False

    @property
    def key(self) -> tuple:
        """What the quantizer does (equal keys: the same arithmetic; the factors compared by value)."""
        smooth = None if self.smooth is None else np.asarray(self.smooth, np.float64).tobytes()
        return self.kind, self.bits, self.per_token, self.group_size, self.conv, smooth, self.calibrated, self.static


def input_quant(cg) -> dict[str, InputQuant]:
    """Layer name -> :class:`InputQuant` for every layer of ``cg`` (a CompressedGraph) whose inputs a recipe
    quantizes below :data:`FLOAT_BITS` bits."""
    from accelsim.workload.layers import Conv2d

    out = {}
    for name, cl in cg.layers.items():
        af = cl.activation_format
        if af is not None:
            kind = "int" if af.element.startswith("int") else af.element
            out[name] = InputQuant(kind, af.bits, af.granularity == "per_token", af.group_size,
                                   cl.activation_smooth, isinstance(cl.layer, Conv2d), af.label,
                                   static=not af.dynamic and af.granularity != "per_token")
        elif cl.activation_bits is not None and cl.activation_bits < FLOAT_BITS and \
                f"activations:int{cl.activation_bits}" in cl.transforms:
            out[name] = InputQuant("asym", int(cl.activation_bits), conv=isinstance(cl.layer, Conv2d),
                                   label=f"int{cl.activation_bits}", static=True)
    return out


# --- NumPy ---------------------------------------------------------------------------------------------------------

def _channel_axis(spec: InputQuant, rank: int) -> int:
    """The axis of a batch of rank ``rank`` holding a layer's input channels: 1 for a convolution's maps, else the
    last."""
    return 1 if spec.conv and rank >= 3 else rank - 1


def _smooth_shape(spec: InputQuant, rank: int) -> list[int]:
    """The shape that broadcasts SmoothQuant's factors along the channel axis of a batch of rank ``rank``."""
    shape = [1] * rank
    shape[_channel_axis(spec, rank)] = spec.smooth.size
    return shape


def _fp32(a: np.ndarray) -> np.ndarray:
    """Rounded to float32, held as float64 (how the compression stores scales)."""
    return np.asarray(a, np.float64).astype(np.float32).astype(np.float64)


def _fp8_round(r: np.ndarray, kind: str) -> np.ndarray:
    """``r`` rounded to the FP8 grid of ``kind`` (nearest, ties to even; subnormals; saturating)."""
    mbits, emin, top = _FP8[kind]
    _, e = np.frexp(np.abs(r))  # |r| = m 2^e, m in [0.5, 1): floor(log2 |r|) = e - 1
    step = np.exp2(np.maximum(e - 1, emin) - mbits)
    return np.clip(np.rint(r / step) * step, -top, top)


def observed_range(x: np.ndarray, spec: InputQuant) -> tuple[float, float]:
    """``(min, max)`` of the values ``spec`` quantizes in the batch ``x`` (SmoothQuant: of ``x / s``): what a
    calibration pass gathers for static scales."""
    v = np.asarray(x, np.float64)
    if spec.smooth is not None:
        v = v / np.asarray(spec.smooth, np.float64).reshape(_smooth_shape(spec, v.ndim))
    return (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)


def at_site(spec: InputQuant, ranges: dict | None, site: str) -> InputQuant:
    """``spec`` as applied where the layer reads its input (``site``: an ONNX tensor, a torch module): a static one
    with the range the calibration observed there (``ranges``: site -> ``(min, max)``). Tied layers share a weight
    but not an input, so ranges are kept by site, not by layer."""
    from dataclasses import replace

    if not spec.static or not ranges or site not in ranges:
        return spec
    return replace(spec, calibrated=ranges[site])


def merge_range(ranges: dict, site: str, seen: tuple[float, float]) -> None:
    """Widen ``ranges[site]`` to hold ``seen``."""
    old = ranges.get(site)
    ranges[site] = seen if old is None else (min(old[0], seen[0]), max(old[1], seen[1]))


def quantize_input(x: np.ndarray, spec: InputQuant) -> np.ndarray:
    """``x`` (a batch, samples on axis 0) quantized and dequantized as ``spec`` says, in float64, returned in ``x``'s
    dtype: the range of each sample (``per_token``: of each token) or the calibrated ``spec.calibrated`` range. A
    sample's own range gives exactly the compression's quantizers (``quantize_activations``,
    ``ActivationFormat.quantize``); ``tests/test_held_out_round44.py`` holds them equal."""
    x = np.asarray(x)
    v = x.astype(np.float64)
    rank = v.ndim
    channel_axis = _channel_axis(spec, rank)
    if spec.smooth is not None:
        smooth = np.asarray(spec.smooth, np.float64).reshape(_smooth_shape(spec, rank))
        v = v / smooth
    axes = (channel_axis,) if spec.per_token else tuple(range(1, rank))
    if spec.calibrated is not None:
        lo, hi = (np.float64(b) for b in spec.calibrated)
    elif spec.per_token and spec.group_size:  # a scale per group of a token's channels (the last one may be partial)
        lo, hi = np.empty_like(v), np.empty_like(v)
        for c0 in range(0, v.shape[channel_axis], spec.group_size):
            part = [slice(None)] * rank
            part[channel_axis] = slice(c0, c0 + spec.group_size)
            part = tuple(part)
            lo[part] = v[part].min(axis=channel_axis, keepdims=True)
            hi[part] = v[part].max(axis=channel_axis, keepdims=True)
    else:
        lo, hi = v.min(axis=axes, keepdims=True), v.max(axis=axes, keepdims=True)
    if spec.kind == "asym":
        qmax = float((1 << spec.bits) - 1)
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        scale = np.where(hi > lo, _fp32((hi - lo) / qmax), 1.0)
        zp = np.clip(np.rint(-lo / scale), 0.0, qmax)
        y = (np.clip(np.rint(v / scale) + zp, 0.0, qmax) - zp) * scale
    else:
        amax = np.maximum(np.abs(lo), np.abs(hi))
        top = float((1 << (spec.bits - 1)) - 1) if spec.kind == "int" else _FP8[spec.kind][2]
        scale = _fp32(amax / top)
        r = v / np.where(scale > 0, scale, 1.0)
        q = np.clip(np.rint(r), -top, top) if spec.kind == "int" else _fp8_round(r, spec.kind)
        y = q * scale
    if spec.smooth is not None:
        y = y * smooth
    return y.astype(x.dtype)


# --- ONNX: the same arithmetic as operators --------------------------------------------------------------------


class _Builder:
    """Nodes and constants of one inserted quantizer (names prefixed, opset-aware reductions)."""

    def __init__(self, prefix: str, opset: int):
        from onnx import helper

        self.helper, self.prefix, self.opset = helper, prefix, opset
        self.nodes: list = []
        self.inits: list = []
        self.n = 0

    def _name(self) -> str:
        self.n += 1
        return f"{self.prefix}/{self.n}"

    def const(self, value, dtype=np.float64) -> str:
        from onnx import numpy_helper

        name = self._name()
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs) -> str:
        out = self._name()
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def reduce(self, op_type: str, x: str, axes: list[int]) -> str:
        if self.opset >= 18:
            return self.op(op_type, x, self.const(axes, np.int64), keepdims=1)
        return self.op(op_type, x, axes=axes, keepdims=1)

    def fp32(self, x: str) -> str:
        """Rounded to float32 and back (the scales are stored as float32)."""
        from onnx import TensorProto

        return self.op("Cast", self.op("Cast", x, to=TensorProto.FLOAT), to=TensorProto.DOUBLE)


def onnx_nodes(x: str, out: str, rank: int, spec: InputQuant, prefix: str, opset: int) -> tuple[list, list]:
    """``(nodes, initializers)`` computing ``out`` from the float32 tensor ``x`` of rank ``rank`` (batch first) as
    :func:`quantize_input` does (in float64, rounded half to even as NumPy's ``rint``)."""
    from onnx import TensorProto

    b = _Builder(prefix, opset)
    v = b.op("Cast", x, to=TensorProto.DOUBLE)
    channel_axis = _channel_axis(spec, rank)
    if spec.per_token and spec.group_size:
        raise AccuracyError(f"{prefix}: per-token groups of {spec.group_size} channels are evaluated on torch modules "
                            "only (an ONNX model: quantize per token or per tensor)")
    if spec.smooth is not None:
        s = b.const(spec.smooth.reshape(_smooth_shape(spec, rank)))
        v = b.op("Div", v, s)
    axes = [channel_axis] if spec.per_token else list(range(1, rank))
    zero = b.const(0.0)
    one = b.const(1.0)
    if spec.calibrated is not None:  # static scales: the calibrated range as constants
        low, high = (b.const(float(v_)) for v_ in spec.calibrated)
    else:
        low, high = b.reduce("ReduceMin", v, axes), b.reduce("ReduceMax", v, axes)
    if spec.kind == "asym":
        qmax = float((1 << spec.bits) - 1)
        lo = b.op("Min", low, zero)
        hi = b.op("Max", high, zero)
        scale = b.op("Where", b.op("Greater", hi, lo), b.fp32(b.op("Div", b.op("Sub", hi, lo), b.const(qmax))), one)
        zp = b.op("Clip", b.op("Round", b.op("Div", b.op("Neg", lo), scale)), zero, b.const(qmax))
        q = b.op("Clip", b.op("Add", b.op("Round", b.op("Div", v, scale)), zp), zero, b.const(qmax))
        y = b.op("Mul", b.op("Sub", q, zp), scale)
    else:
        amax = b.op("Max", b.op("Abs", low), b.op("Abs", high))
        top = float((1 << (spec.bits - 1)) - 1) if spec.kind == "int" else _FP8[spec.kind][2]
        scale = b.fp32(b.op("Div", amax, b.const(top)))
        safe = b.op("Where", b.op("Greater", scale, zero), scale, one)
        r = b.op("Div", v, safe)
        if spec.kind == "int":
            q = b.op("Clip", b.op("Round", r), b.const(-top), b.const(top))
        else:
            mbits, emin, _ = _FP8[spec.kind]
            mag = b.op("Abs", r)
            # the exponent of |r| (floor log2, corrected where the logarithm's rounding misses a power of two),
            # at least the smallest normal one (subnormals share its step)
            e = b.op("Floor", b.op("Mul", b.op("Log", mag), b.const(1.0 / np.log(2.0))))
            two = b.const(2.0)
            e = b.op("Add", e, b.op("Cast", b.op("LessOrEqual", b.op("Pow", two, b.op("Add", e, one)), mag),
                                     to=TensorProto.DOUBLE))
            e = b.op("Sub", e, b.op("Cast", b.op("Greater", b.op("Pow", two, e), mag), to=TensorProto.DOUBLE))
            e = b.op("Max", e, b.const(float(emin)))
            step = b.op("Pow", two, b.op("Sub", e, b.const(float(mbits))))
            q = b.op("Clip", b.op("Mul", b.op("Round", b.op("Div", r, step)), step), b.const(-top), b.const(top))
        y = b.op("Mul", q, scale)
    if spec.smooth is not None:
        y = b.op("Mul", y, s)
    b.nodes.append(b.helper.make_node("Cast", [y], [out], name=f"{prefix}/out", to=TensorProto.FLOAT))
    return b.nodes, b.inits


__all__ = ["FLOAT_BITS", "InputQuant", "at_site", "input_quant", "merge_range", "observed_range", "onnx_nodes",
           "quantize_input"]
