"""Deployed quantization kept on import: QDQ pairs, QOperator ops, MatMulNBits.

The layer graph is the float graph (weights dequantized, ``(q - zero_point) * scale``, so MACs and shapes
are those of the float model), and ``graph.metadata["quantization"][layer]`` records the format the
model was deployed in, in the orientation of the layer's weight matrix ``(N * groups, K)``:

* ``weight_bits`` (8, 4, ...), ``signed``, ``granularity`` (``per_tensor``, ``per_channel`` = one scale per
  matrix row, ``blocked`` = one scale per row and ``block_size`` consecutive columns), ``scale`` and
  ``zero_point`` (arrays: scalar, ``(rows,)`` or ``(rows, blocks)``), ``codes`` (the integer weight matrix);
* ``activation_bits`` when the layer's input is a quantized activation (a ``QuantizeLinear`` on it, a
  QOperator op, ``DynamicQuantizeLinear``);
* fp16 / bf16 initializers: ``{"format": "float16", "bits": 16}``.

Sources: ``DequantizeLinear`` of an integer initializer (per-tensor, per-axis, blocked; folded by
``onnx.reference`` and the format carried through ``Transpose`` / ``Reshape``-free glue), ``QLinearConv``,
``QLinearMatMul``, ``ConvInteger``, ``MatMulInteger``, ``com.microsoft`` ``MatMulNBits`` (packed 2..8-bit blocks),
``DynamicQuantizeMatMul``, ``MatMulIntegerToFloat``, ``QAttention`` (in ``convert_contrib.py``).
"""

from __future__ import annotations

import numpy as np

from accelsim.workload.onnx.convert_compute import _convert_conv, _convert_gemm, _convert_matmul, _linear
from accelsim.workload.onnx.importer import CONVERTERS, Importer, Node, Value, register
from accelsim.workload.onnx.qformat import _bits_of, dequant_info, weight_quant

# --- QDQ on activations ---------------------------------------------------------------------------------------

def _zp_bits(imp: Importer, node: Node, index: int, default: int = 8) -> int:
    v = imp.optional(node, index)
    if v is not None and v.is_const:
        return _bits_of(np.asarray(v.const).dtype)[0]
    to = node.attrs.get("output_dtype")
    if to:
        import onnx

        return _bits_of(onnx.helper.tensor_dtype_to_np_dtype(to))[0]
    return default


@register("QuantizeLinear", "com.microsoft::QuantizeLinear")
def _convert_quantize(imp: Importer, node: Node) -> None:
    """An activation quantized: passed on, marked with its bits (the consumer layer records them)."""
    x = imp.activation(node, 0)
    imp.set(node, 0, Value(x.shape, x.layer, x.batched, pads=x.pads, quant={"activation_bits": _zp_bits(imp, node, 2)}))


@register("DequantizeLinear", "com.microsoft::DequantizeLinear")
def _convert_dequantize(imp: Importer, node: Node) -> None:
    """An activation dequantized: passed on (it stays marked: the next layer reads the quantized tensor)."""
    x = imp.activation(node, 0)
    imp.set(node, 0, x)


@register("DynamicQuantizeLinear")
def _convert_dynamic_quantize(imp: Importer, node: Node) -> None:
    """``y, y_scale, y_zero_point = DynamicQuantizeLinear(x)``: ``y`` is ``x`` as uint8; the run-time scale and
    zero point become constants (1.0 and 0) so the rescaling that follows folds away."""
    x = imp.activation(node, 0)
    imp.set(node, 0, Value(x.shape, x.layer, x.batched, quant={"activation_bits": 8}))
    imp.set(node, 1, Value((), const=np.asarray(1.0, np.float32)))
    imp.set(node, 2, Value((), const=np.asarray(0, np.uint8)))
    imp.note("DynamicQuantizeLinear: activations quantized to 8 bits at run time; the run-time scale is "
             "taken as 1 (shapes and MACs do not depend on it)")


# --- QOperator ops ---------------------------------------------------------------------------------------------

def _const_input(imp: Importer, node: Node, key: str, array: np.ndarray, quant: dict | None = None) -> str:
    name = f"{node.name}::{key}"
    imp.values[name] = Value(tuple(array.shape), const=array, quant=quant)
    return name


def _dequantized(imp: Importer, node: Node, q_index: int, scale_index: int | None, zp_index: int | None,
                 axis: int) -> str:
    """A constant integer weight input dequantized, registered under a private name with its format."""
    q = np.asarray(imp.const(node, q_index, "the quantized weight"))
    scale = np.asarray(1.0, np.float32) if scale_index is None else np.asarray(imp.const(node, scale_index, "the weight scale"))
    zp = imp.optional_const(node, zp_index, "the weight zero point") if zp_index is not None else None
    info = dequant_info(q, scale, zp, axis=axis)
    shape = [1] * q.ndim
    if scale.size > 1:
        shape[axis] = scale.size
    zpa = np.zeros(1) if zp is None else np.asarray(zp, np.float64)
    deq = (q.astype(np.float64) - zpa.reshape(shape if zpa.size > 1 else [1] * q.ndim)) * scale.astype(np.float64).reshape(shape)
    return _const_input(imp, node, f"w{q_index}", deq.astype(np.float32), info)


def _mark_output(imp: Importer, node: Node, bits: int | None) -> None:
    out = node.outputs[0] if node.outputs else ""
    if bits and out in imp.values and not imp.values[out].is_const:
        v = imp.values[out]
        imp.values[out] = Value(v.shape, v.layer, v.batched, quant={"activation_bits": bits})


@register("QLinearConv")
def _convert_qlinear_conv(imp: Importer, node: Node) -> None:
    w = _dequantized(imp, node, 3, 4, 5, axis=0)
    inputs = [node.inputs[0], w]
    if len(node.inputs) > 8 and node.inputs[8]:
        b = np.asarray(imp.const(node, 8, "the bias"), np.float64)
        scale = np.asarray(imp.const(node, 1, "x_scale"), np.float64) * np.asarray(imp.const(node, 4, "w_scale"), np.float64)
        inputs.append(_const_input(imp, node, "bias", (b * scale).astype(np.float32)))
    _convert_conv(imp, Node(node.name, "Conv", inputs, node.outputs, node.attrs, ""))
    _mark_output(imp, node, _zp_bits(imp, node, 7))


@register("ConvInteger")
def _convert_conv_integer(imp: Importer, node: Node) -> None:
    w = _dequantized(imp, node, 1, None, 3, axis=0)
    _convert_conv(imp, Node(node.name, "Conv", [node.inputs[0], w], node.outputs, node.attrs, ""))


def _matmul_like(imp: Importer, node: Node, a_index: int, b_index: int, scale_index, zp_index, bias_index=None) -> None:
    b = imp.value(node, b_index)
    if not b.is_const:
        _convert_matmul(imp, Node(node.name, "MatMul", [node.inputs[a_index], node.inputs[b_index]], node.outputs, {}, ""))
        return
    q = np.asarray(b.const)
    axis = 1 if (scale_index is not None and imp.const(node, scale_index).size > 1) else 0
    w = _dequantized(imp, node, b_index, scale_index, zp_index, axis=axis)
    bias = imp.optional_const(node, bias_index, "the bias") if bias_index is not None else None
    x = imp.activation(node, a_index)
    wv = imp.values[w]
    _linear(imp, node, x, np.asarray(wv.const).T, bias, quant=weight_quant(wv, 1, lambda a: a.T))
    if q.dtype.itemsize == 1:
        imp.quantization.setdefault(imp.values[node.outputs[0]].layer, {}).setdefault("activation_bits", 8)


@register("com.microsoft::QGemm")
def _convert_qgemm(imp: Importer, node: Node) -> None:
    """A, a_scale, a_zp, B, b_scale, b_zp, C (int32, scaled by a_scale * b_scale), y_scale, y_zp."""
    trans_b = bool(node.attrs.get("transB", 0))
    w = _dequantized(imp, node, 3, 4, 5, axis=0 if trans_b else 1)
    inputs = [node.inputs[0], w]
    if len(node.inputs) > 6 and node.inputs[6]:
        c = np.asarray(imp.const(node, 6, "C"), np.float64)
        scale = np.asarray(imp.const(node, 1, "a_scale"), np.float64) * np.asarray(imp.const(node, 4, "b_scale"), np.float64)
        inputs.append(_const_input(imp, node, "C", (c * scale).astype(np.float32)))
    _convert_gemm(imp, Node(node.name, "Gemm", inputs, node.outputs, {k: v for k, v in node.attrs.items()
                                                                      if k in ("transA", "transB", "alpha")}, ""))
    _mark_output(imp, node, 8 if len(node.inputs) > 7 and node.inputs[7] else None)


@register("QLinearMatMul")
def _convert_qlinear_matmul(imp: Importer, node: Node) -> None:
    _matmul_like(imp, node, 0, 3, 4, 5)
    _mark_output(imp, node, _zp_bits(imp, node, 7))


@register("MatMulInteger")
def _convert_matmul_integer(imp: Importer, node: Node) -> None:
    _matmul_like(imp, node, 0, 1, None, 3)
    imp.note("MatMulInteger: the weight scale is applied by a later Mul; the recorded scale is 1")


@register("com.microsoft::DynamicQuantizeMatMul")
def _convert_dynamic_quantize_matmul(imp: Importer, node: Node) -> None:
    _matmul_like(imp, node, 0, 1, 2, 3, bias_index=4)


@register("com.microsoft::MatMulIntegerToFloat")
def _convert_matmul_integer_to_float(imp: Importer, node: Node) -> None:
    _matmul_like(imp, node, 0, 1, 3, 5, bias_index=6)


def unpack_nbits(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Unsigned ``bits``-bit codes packed little-end first into bytes (MatMulNBits' layout): the first
    ``count`` codes along the last axis."""
    packed = np.asarray(packed, np.uint8)
    per_byte = 8 // bits
    shifts = (np.arange(per_byte) * bits).astype(np.uint8)
    codes = (packed[..., None] >> shifts) & np.uint8((1 << bits) - 1)
    codes = codes.reshape(*packed.shape[:-1], packed.shape[-1] * per_byte)
    return codes[..., :count]


@register("com.microsoft::MatMulNBits")
def _convert_matmul_nbits(imp: Importer, node: Node) -> None:
    """``Y = A @ dequant(B)^T``: B is ``(N, blocks, blob)`` packed ``bits``-bit codes, one scale (and zero
    point, default ``2^(bits-1)``) per row and block of ``block_size`` columns of the ``(N, K)`` matrix."""
    from_attrs = node.attrs
    k, n, bits, bs = int(from_attrs["K"]), int(from_attrs["N"]), int(from_attrs.get("bits", 4)), int(from_attrs["block_size"])
    if bits not in (2, 4, 8):
        raise imp.unsupported(node, f"{bits}-bit packing")
    x = imp.activation(node, 0)
    packed = np.asarray(imp.const(node, 1, "B"))
    blocks = -(-k // bs)
    codes = unpack_nbits(packed.reshape(n, blocks, -1), bits, bs).reshape(n, blocks * bs)
    scale = np.asarray(imp.const(node, 2, "scales"), np.float64).reshape(n, blocks)
    zp_raw = imp.optional_const(node, 3, "zero_points")
    if zp_raw is None:
        zp = np.full((n, blocks), 1 << (bits - 1), np.int64)
    elif np.issubdtype(np.asarray(zp_raw).dtype, np.floating):
        zp = np.asarray(zp_raw, np.float64).reshape(n, blocks)
    else:
        zp = unpack_nbits(np.asarray(zp_raw).reshape(n, -1), bits, blocks).astype(np.int64)
    if imp.optional(node, 4) is not None and node.inputs[4]:
        imp.note(f"node '{node.name}' (MatMulNBits): g_idx (act-order) ignored; blocks taken in column order")
    weight = (codes.astype(np.float64) - np.repeat(zp, bs, axis=1)) * np.repeat(scale, bs, axis=1)
    bias = imp.optional_const(node, 5, "bias") if len(node.inputs) > 5 else None
    quant = {"weight_bits": bits, "signed": False, "granularity": "blocked", "block_size": bs, "scale": scale,
             "zero_point": zp, "codes": np.ascontiguousarray(codes[:, :k])}
    _linear(imp, node, x, weight[:, :k], bias, quant=quant)


# --- QOperator element-wise / pooling ops (com.microsoft): the float op on the quantized tensors -------------------

def _qlinear_as(imp: Importer, node: Node, op_type: str, activations: list[int], attrs: dict | None = None) -> None:
    """Convert a QLinear* op as its float op ``op_type`` on the activation inputs ``activations``; the output
    stays marked 8-bit."""
    float_node = Node(node.name, op_type, [node.inputs[i] for i in activations], node.outputs,
                      dict(node.attrs if attrs is None else attrs), "")
    CONVERTERS[op_type](imp, float_node)
    _mark_output(imp, node, 8)


@register("com.microsoft::QLinearAdd", "com.microsoft::QLinearMul")
def _convert_qlinear_binary(imp: Importer, node: Node) -> None:
    """A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp."""
    _qlinear_as(imp, node, node.op_type.removeprefix("QLinear"), [0, 3])


@register("com.microsoft::QLinearGlobalAveragePool")
def _convert_qlinear_gap(imp: Importer, node: Node) -> None:
    if node.attrs.get("channels_last", 0):
        raise imp.unsupported(node, "channels-last layout")
    _qlinear_as(imp, node, "GlobalAveragePool", [0], {})


@register("com.microsoft::QLinearAveragePool")
def _convert_qlinear_avgpool(imp: Importer, node: Node) -> None:
    if node.attrs.get("channels_last", 0):
        raise imp.unsupported(node, "channels-last layout")
    _qlinear_as(imp, node, "AveragePool", [0])


@register("com.microsoft::QLinearConcat")
def _convert_qlinear_concat(imp: Importer, node: Node) -> None:
    """Y_scale, Y_zp, then (X, X_scale, X_zp) per input."""
    _qlinear_as(imp, node, "Concat", list(range(2, len(node.inputs), 3)))


@register("com.microsoft::QLinearSigmoid", "com.microsoft::QLinearLeakyRelu", "com.microsoft::QLinearSoftmax")
def _convert_qlinear_unary(imp: Importer, node: Node) -> None:
    op = node.op_type.removeprefix("QLinear")
    if op == "LeakyRelu":
        raise imp.unsupported(node, "leaky ReLU has no accelsim activation")
    _qlinear_as(imp, node, op, [0])
