"""Deployed quantization kept on import (QDQ pairs, QOperator ops, MatMulNBits): the layers are the float graph
(weights dequantized, so MACs and shapes are the float model's) and ``graph.metadata["quantization"][layer]`` holds
the deployed format in weight-matrix orientation ``(N * groups, K)``: ``weight_bits``, ``signed``, ``granularity``
(``per_tensor``, ``per_channel`` (per row), ``blocked`` (per row and ``block_size`` columns), ``per_input_channel``),
``scale``, ``zero_point``, ``codes``; ``activation_bits`` for a layer reading a quantized activation; ``{"format":
"float16", "weight_bits": 16}`` for fp16 / bf16 weights. The format table is in ``docs/importers.md``.
"""

from __future__ import annotations

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload import layers as L
from accelsim.workload.onnx.fold import fold
from accelsim.workload.onnx.importer import CONVERTERS, Importer, Node, Value, register

MS = "com.microsoft::"
_BITS = {f"{u}int{b}": (b, not u) for u in ("", "u") for b in (2, 4, 8, 16, 32)}


def bits_of(dtype) -> tuple[int, bool]:
    """(bits, signed) of an integer ONNX storage type as NumPy reads it (``int4`` through ml_dtypes)."""
    name = np.dtype(dtype).name
    return _BITS.get(name, (8, not name.startswith("u")))


#: ONNX's 8-bit float types as NumPy reads them (ml_dtypes) -> the element format
FLOAT8 = {"float8_e4m3fn": "e4m3", "float8_e5m2": "e5m2"}


def dequant_info(q: np.ndarray, scale, zero_point, axis: int = 1, block_size: int = 0) -> dict:
    """The format of ``DequantizeLinear(q, scale, zero_point)`` in ONNX tensor orientation (FP8 ``q``: its bit
    patterns as ``codes`` and its ``element``)."""
    scale = np.asarray(scale, np.float64)
    granularity = "per_tensor" if scale.size == 1 else "blocked" if block_size else "per_axis"
    element = FLOAT8.get(np.dtype(q.dtype).name)
    if element is not None:
        return {"weight_bits": 8, "signed": True, "element": element, "format": f"fp8-{element}",
                "granularity": granularity, "axis": int(axis) % max(q.ndim, 1), "block_size": int(block_size) or None,
                "scale": scale, "zero_point": np.zeros_like(scale, dtype=np.int64),
                "codes": np.ascontiguousarray(q).view(np.uint8)}
    bits, signed = bits_of(q.dtype)
    zp = np.zeros_like(scale, dtype=np.int64) if zero_point is None else np.asarray(zero_point).astype(np.int64)
    codes = next(t for w, t in ((8, (np.int8, np.uint8)), (16, (np.int16, np.uint16)), (32, (np.int32, np.uint32)),
                                (64, (np.int64, np.int64))) if bits <= w)[0 if signed else 1]
    return {"weight_bits": bits, "signed": signed, "granularity": granularity, "axis": int(axis) % max(q.ndim, 1),
            "block_size": int(block_size) or None, "scale": scale, "zero_point": zp, "codes": np.asarray(q).astype(codes)}


def weight_scale_problem(scale, tensor: str) -> str | None:
    """Why a quantized weight's ``scale`` (ONNX tensor ``tensor``) cannot be stored, or None: every value finite
    and > 0."""
    s = np.asarray(scale, np.float64)
    if np.all(np.isfinite(s)) and np.all(s > 0):
        return None
    bad = s[~(np.isfinite(s) & (s > 0))].ravel()[0]
    return f"the weight's scale must be finite and > 0; got {bad:g} (tensor '{tensor}')"


def folded_quant(node: Node, inputs: list) -> dict | None:
    """The quantization format carried by the (first) output of a folded node, or None."""
    first = inputs[0] if inputs else None
    if node.op_type == "DequantizeLinear" and first is not None:
        dtype = np.dtype(np.asarray(first.const).dtype)
        if np.issubdtype(dtype, np.integer) or dtype.name in ("int4", "uint4", "int2", "uint2", *FLOAT8):
            problem = (weight_scale_problem(inputs[1].const, node.inputs[1])
                       if len(inputs) > 1 and inputs[1] is not None else None)
            if problem:  # refused where a layer takes it as a weight (weight_quant); a constant index chain (T5's
                # position buckets, calibrated over Log(0) to an infinite scale) is no weight
                return {"scale_problem": f"node '{node.name}' (DequantizeLinear): {problem}"}
            zero = inputs[2].const if len(inputs) > 2 and inputs[2] is not None else None
            return dequant_info(np.asarray(first.const), inputs[1].const, zero, node.attrs.get("axis", 1),
                                node.attrs.get("block_size", 0))
    if first is None or first.quant is None or node.op_type not in ("Identity", "Cast", "Transpose"):
        return None
    quant = dict(first.quant)
    if node.op_type == "Transpose" and "codes" in quant:
        perm = [int(p) for p in node.attrs.get("perm", list(range(quant["codes"].ndim))[::-1])]
        quant["codes"], quant["axis"] = np.transpose(quant["codes"], perm), perm.index(quant["axis"])
        if quant["granularity"] == "blocked":
            quant["scale"] = np.transpose(quant["scale"], perm)
            quant["zero_point"] = np.transpose(np.broadcast_to(quant["zero_point"], quant["scale"].shape), perm)
    return quant


def weight_quant(v: Value, out_axis: int, to_matrix, row_repeat: int = 1) -> dict | None:
    """``v.quant`` (ONNX orientation) as the layer's format in weight-matrix orientation; ``out_axis`` is the
    output-channel axis of the ONNX weight, ``to_matrix`` maps an ONNX-shaped array to the matrix; ``row_repeat``:
    matrix rows per output channel (a transposed convolution's rows are its output channels x kernel positions)."""
    q = v.quant
    if q is not None and "scale_problem" in q:
        raise WorkloadError(q["scale_problem"])
    if q is None or "codes" not in q:
        return None
    codes = to_matrix(q["codes"])
    rows = codes.shape[0]
    out = {"weight_bits": q["weight_bits"], "signed": q["signed"], "codes": np.ascontiguousarray(codes),
           **{k: q[k] for k in ("element", "format") if k in q}}
    scale, zp = np.asarray(q["scale"]), np.asarray(q["zero_point"])
    if q["granularity"] == "per_tensor":
        out.update(granularity="per_tensor", scale=scale.reshape(()), zero_point=zp.reshape(()))
    elif q["granularity"] == "per_axis" and q["axis"] == out_axis and scale.size * row_repeat == rows:
        out.update(granularity="per_channel", scale=np.repeat(scale.reshape(-1), row_repeat),
                   zero_point=np.repeat(np.broadcast_to(zp, scale.shape).reshape(-1), row_repeat))
    elif q["granularity"] == "blocked" and q["axis"] != out_axis:
        bs, whole = q["block_size"], tuple(slice(0, d) for d in q["codes"].shape)
        full_s = to_matrix(np.repeat(scale, bs, axis=q["axis"])[whole])
        full_z = to_matrix(np.repeat(np.broadcast_to(zp, scale.shape), bs, axis=q["axis"])[whole])
        out.update(granularity="blocked", block_size=bs, scale=full_s[:, ::bs].copy(), zero_point=full_z[:, ::bs].copy())
    else:  # one scale per input channel: kept per element group along the reduction
        out.update(granularity="per_input_channel", scale=scale, zero_point=zp)
    return out


def unpack_nbits(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Unsigned ``bits``-bit codes packed low bits first into bytes (MatMulNBits' layout): the first ``count``
    codes along the last axis."""
    packed = np.asarray(packed, np.uint8)
    per_byte = 8 // bits
    codes = (packed[..., None] >> (np.arange(per_byte) * bits).astype(np.uint8)) & np.uint8((1 << bits) - 1)
    return codes.reshape(*packed.shape[:-1], packed.shape[-1] * per_byte)[..., :count]


# --- QDQ on activations -------------------------------------------------------------------------------------------

def _zp_bits(imp: Importer, node: Node, index: int) -> int:
    v = imp.optional(node, index)
    if v is not None and v.is_const:
        return bits_of(np.asarray(v.const).dtype)[0]
    if node.attrs.get("output_dtype"):
        import onnx

        return bits_of(onnx.helper.tensor_dtype_to_np_dtype(node.attrs["output_dtype"]))[0]
    return 8


def check_activation_scale(imp: Importer, node: Node, shape: tuple | None) -> None:
    """An activation's quantize / dequantize pair as ONNX defines it: a scale input; a constant one one value, one a
    channel along ``axis``, or blocks (``block_size``) of the input's rank; its zero point of the scale's shape; no
    scale of 0, below 0 or NaN (an infinite one stays: calibrators write it for a tensor that reaches infinity, T5's
    ``Log(0)``). ``shape``: the input's (None: unknown, the axis not checked); a pair inside a fused chain is checked
    too (load.py), where no converter reads it."""
    if len(node.inputs) < 2 or not node.inputs[1]:
        raise imp.error(node, "no scale input (input 1 is required)")
    scale = imp.optional(node, 1)
    if scale is None or not scale.is_const:
        return  # (a run-time scale: DynamicQuantizeLinear's output)
    s = np.asarray(scale.const)
    rank = len(shape) if shape is not None else s.ndim
    if s.ndim > 1 and (s.ndim != rank or not node.attrs.get("block_size")):
        raise imp.error(node, f"a scale of shape {list(s.shape)} on an input of rank {rank}: expected one value, one "
                              f"a channel along axis, or blocks of the input's rank with block_size")
    if s.ndim == 1 and s.size != 1:
        axis = int(node.attrs.get("axis", 1))
        if shape is not None and (not -rank <= axis < rank or shape[axis] not in (None, s.size)):
            raise imp.error(node, f"{s.size} scales along axis {axis} of an input of shape {list(shape)}: expected "
                                  f"one a channel of that axis")
    zp = imp.optional(node, 2)
    z = np.asarray(zp.const) if zp is not None and zp.is_const else None
    if node.op_type == "QuantizeLinear" and z is not None and z.dtype in (np.int32, np.int64, np.uint32, np.uint64):
        raise imp.error(node, f"a QuantizeLinear to {z.dtype} (its zero point's type): ONNX quantizes to 4, 8 or "
                              f"16-bit integers or FP8")
    if z is not None and z.shape != s.shape:
        raise imp.error(node, f"a zero point of shape {list(z.shape)} for a scale of shape {list(s.shape)}: expected "
                              f"the same shape")
    if s.size and not np.issubdtype(s.dtype, np.floating):
        raise imp.error(node, f"the scale must be a float tensor; got {s.dtype}")
    bad = s[~(s > 0)] if s.size else s  # (NaN, 0 and negative values; +inf passes)
    if bad.size:
        raise imp.error(node, f"the activation's scale must be > 0; got {float(bad.ravel()[0]):g} (tensor "
                              f"'{node.inputs[1]}')")


def _marked(v: Value, bits: int) -> Value:
    return Value(v.shape, v.layer, v.batched, quant={"activation_bits": bits})


@register("QuantizeLinear", MS + "QuantizeLinear", "DequantizeLinear", MS + "DequantizeLinear", "DynamicQuantizeLinear")
def _convert_qdq(imp: Importer, node: Node) -> None:
    """An activation quantized: passed on, marked with its bits (the consumer layer records them); dequantized:
    passed on (it stays marked: the next layer reads the quantized tensor). ``y, y_scale, y_zero_point =
    DynamicQuantizeLinear(x)``: ``y`` is ``x`` as uint8; the run-time scale and zero point become constants (1.0
    and 0) so the rescaling that follows folds away."""
    x = imp.activation(node, 0)
    if node.op_type != "DynamicQuantizeLinear":
        check_activation_scale(imp, node, x.shape)
    if node.op_type == "DequantizeLinear":
        if x.layer in imp.integer_tables:  # Gather(integer table) -> DequantizeLinear: the table dequantized
            _dequantize_table(imp, node, x.layer)
        return imp.set(node, 0, x)
    imp.set(node, 0, _marked(x, 8 if node.op_type == "DynamicQuantizeLinear" else _zp_bits(imp, node, 2)))
    if node.op_type == "DynamicQuantizeLinear":
        imp.set(node, 1, Value((), const=np.asarray(1.0, np.float32)))
        imp.set(node, 2, Value((), const=np.asarray(0, np.uint8)))
        imp.note("DynamicQuantizeLinear: activations quantized to 8 bits at run time; the run-time scale is "
                 "taken as 1 (shapes and MACs do not depend on it)")


def _dequantize_table(imp: Importer, node: Node, layer: str, scale_index: int = 1) -> None:
    """An embedding gathered from an integer table and dequantized after the lookup (onnxruntime's dynamic /
    QOperator embeddings: ``Gather(uint8 table) -> DequantizeLinear``, or the table's codes read by a QOperator op
    such as ``QLinearAdd`` with the operand's scale and zero point at ``scale_index`` and the one after): its
    weights are the dequantized table, kept in its format (per tensor, or per embedding feature along the last
    axis); the Gather left them unset."""
    codes = imp.integer_tables.pop(layer)
    scale = np.asarray(imp.const(node, scale_index, "the scale"))
    zp = imp.optional_const(node, scale_index + 1, "the zero point")
    axis = int(node.attrs.get("axis", 1)) if node.op_type == "DequantizeLinear" else 1
    rank = len(imp.values[node.inputs[0]].shape)
    if scale.size > 1 and axis % rank != rank - 1:
        imp.note(f"node '{node.name}' (DequantizeLinear): scales along axis {axis} of an embedding lookup are not "
                 "one per feature; its table is kept as the integers")
        return imp.set_weight(node, layer, codes)
    table = _dequantize(node, codes, scale, zp, 1 if scale.size > 1 else 0)
    imp.set_weight(node, layer, table.const, quant=weight_quant(table, 0, lambda m: m))


# --- QOperator ops: the float op on the dequantized weight -------------------------------------------------------

def _const_input(imp: Importer, node: Node, key: str, array: np.ndarray, quant: dict | None = None) -> str:
    imp.values[f"{node.name}::{key}"] = Value(tuple(array.shape), const=array, quant=quant)
    return f"{node.name}::{key}"


def _dequantize(node: Node, q: np.ndarray, scale: np.ndarray, zp, axis: int) -> Value:
    """``q`` dequantized by onnx.reference's ``DequantizeLinear`` (opset 21, scale as float32) as a float32 constant
    carrying its format (:func:`dequant_info`)."""
    from onnx import helper

    proto = helper.make_node("DequantizeLinear", ["q", "s"] + (["z"] if zp is not None else []), ["y"], axis=axis)
    (deq,) = fold(Node(node.name, "DequantizeLinear", list(proto.input), ["y"], {"axis": axis}, "", proto),
                  [q, scale.astype(np.float32)] + ([np.asarray(zp)] if zp is not None else []), 21)
    return Value(tuple(deq.shape), const=deq.astype(np.float32), quant=dequant_info(q, scale, zp, axis=axis))


def dequantized(imp: Importer, node: Node, q_index: int, scale_index: int | None, zp_index: int | None, axis: int) -> str:
    """A constant integer weight input dequantized (:func:`_dequantize`), registered under a private name with its
    format."""
    q = np.asarray(imp.const(node, q_index, "the quantized weight"))
    zp = imp.optional_const(node, zp_index, "the weight zero point") if zp_index is not None else None
    if scale_index is None:  # MatMulInteger: no scale (a later Mul applies it); one per zero point
        scale = np.ones(np.shape(zp) if zp is not None and np.size(zp) > 1 else (), np.float32)
    else:
        scale = np.asarray(imp.const(node, scale_index, "the weight scale"))
        problem = weight_scale_problem(scale, node.inputs[scale_index])  # as a QDQ weight's (folded_quant)
        if problem:
            raise imp.error(node, problem)
    deq = _dequantize(node, q, scale, zp, axis)
    return _const_input(imp, node, f"w{q_index}", deq.const, deq.quant)


def _mark_output(imp: Importer, node: Node, bits: int | None) -> None:
    """Mark output 0 of ``node``, once converted, as a ``bits``-bit activation (nothing when ``bits`` is None)."""
    out = node.outputs[0] if node.outputs else ""
    if bits and out in imp.values and not imp.values[out].is_const:
        imp.values[out] = _marked(imp.values[out], bits)


def _as_float(imp: Importer, node: Node, op_type: str, inputs: list[str], bits: int | None, attrs: dict | None = None) -> None:
    """Convert ``node`` as the float op ``op_type`` on ``inputs``; the output is marked ``bits``-bit if given."""
    CONVERTERS[op_type](imp, Node(node.name, op_type, inputs, node.outputs, dict(node.attrs if attrs is None else attrs), ""))
    _mark_output(imp, node, bits)


@register("QLinearConv", MS + "QLinearConv", "ConvInteger", MS + "QGemm")
def _convert_qconv(imp: Importer, node: Node) -> None:
    """The float Conv / Gemm on the dequantized weight; QLinearConv's and QGemm's int32 bias is rescaled by input
    scale x weight scale. QGemm reads A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp. onnxruntime's own
    QLinearConv with ``channels_last`` (a model saved after its full optimizations) reads and writes an NHWC map:
    Transposes to channels-first and back around the same conversion."""
    if node.attrs.get("channels_last", 0):
        attrs = {k: v for k, v in node.attrs.items() if k != "channels_last"}
        return imp.channels_last(node, lambda nchw, out: _convert_qconv(
            imp, Node(node.name, "QLinearConv", [nchw, *node.inputs[1:]], [out], attrs, "")))
    if node.op_type == "ConvInteger":
        return _as_float(imp, node, "Conv", [node.inputs[0], dequantized(imp, node, 1, None, 3, axis=0)], None)
    gemm = node.op_type == "QGemm"
    inputs = [node.inputs[0], dequantized(imp, node, 3, 4, 5, axis=0 if not gemm or node.attrs.get("transB", 0) else 1)]
    bias, key = (6, "C") if gemm else (8, "bias")
    if len(node.inputs) > bias and node.inputs[bias]:
        b = np.asarray(imp.const(node, bias, key), np.float64)
        scale = np.asarray(imp.const(node, 1), np.float64) * np.asarray(imp.const(node, 4), np.float64)
        inputs.append(_const_input(imp, node, key, (b * scale).astype(np.float32)))
    if not gemm:
        _as_float(imp, node, "Conv", inputs, _zp_bits(imp, node, 7))
    else:
        _as_float(imp, node, "Gemm", inputs, 8 if len(node.inputs) > 7 and node.inputs[7] else None,
                  {k: v for k, v in node.attrs.items() if k in ("transA", "transB", "alpha")})
    y = imp.values.get(node.outputs[0]) if node.outputs else None  # the op reads a quantized activation itself
    if y is not None and y.layer is not None:
        imp.quantization.setdefault(y.layer, {}).setdefault("activation_bits", _zp_bits(imp, node, 2))


#: QOperator MatMuls -> inputs (activation, integer weight, weight scale, weight zero point, float bias); None: absent
QMATMUL = {"QLinearMatMul": (0, 3, 4, 5, None), "MatMulInteger": (0, 1, None, 3, None),
           MS + "DynamicQuantizeMatMul": (0, 1, 2, 3, 4), MS + "MatMulIntegerToFloat": (0, 1, 3, 5, 6)}


@register(*QMATMUL)
def _convert_qmatmul(imp: Importer, node: Node) -> None:
    """A Linear on the dequantized weight (a MatMul when the weight is an activation); QLinearMatMul's output is
    marked with its zero point's bits."""
    a_index, b_index, scale_index, zp_index, bias_index = QMATMUL[node.key]
    b = imp.value(node, b_index)
    if not b.is_const:
        _as_float(imp, node, "MatMul", [node.inputs[a_index], node.inputs[b_index]], None, {})
    else:
        per_column = imp.const(node, scale_index).size > 1 if scale_index is not None else (
            zp_index is not None and imp.optional(node, zp_index) is not None and imp.const(node, zp_index).size > 1)
        axis = 1 if per_column else 0  # (a per-column zero point alone: MatMulInteger of quantize_dynamic per_channel)
        wv = imp.values[dequantized(imp, node, b_index, scale_index, zp_index, axis=axis)]
        bias = imp.optional_const(node, bias_index, "the bias") if bias_index is not None else None
        y = imp.linear(node, imp.activation(node, a_index), np.asarray(wv.const).T, bias, quant=weight_quant(wv, 1, lambda a: a.T))
        if np.asarray(b.const).dtype.itemsize == 1:
            imp.quantization.setdefault(y.layer, {}).setdefault("activation_bits", 8)
    if node.op_type == "QLinearMatMul":
        _mark_output(imp, node, _zp_bits(imp, node, 7))
    elif node.op_type == "MatMulInteger":
        imp.note("MatMulInteger: the weight scale is applied by a later Mul; the recorded scale is 1")


@register(MS + "MatMulNBits")
def _convert_matmul_nbits(imp: Importer, node: Node) -> None:
    """``Y = A @ dequant(B)^T``: B is ``(N, blocks, blob)`` packed ``bits``-bit codes, one scale (and zero point,
    default ``2^(bits-1)``) per row and block of ``block_size`` columns of the ``(N, K)`` matrix."""
    a = node.attrs
    k, n, bits, bs = int(a["K"]), int(a["N"]), int(a.get("bits", 4)), int(a["block_size"])
    if not 1 <= bits <= 8:  # (onnxruntime packs 1 to 8 bits: another width is a broken node, not a variant)
        raise imp.error(node, f"attribute bits must be in 1..8; got {bits}")
    if bits not in (2, 4, 8):
        raise imp.unsupported(node, f"{bits}-bit packing")
    x = imp.activation(node, 0)
    blocks = -(-k // bs)
    codes = unpack_nbits(np.asarray(imp.const(node, 1, "B")).reshape(n, blocks, -1), bits, bs).reshape(n, blocks * bs)
    scale = np.asarray(imp.const(node, 2, "scales"), np.float64).reshape(n, blocks)
    zp_raw = imp.optional_const(node, 3, "zero_points")
    if zp_raw is None:
        zp = np.full((n, blocks), 1 << (bits - 1), np.int64)
    elif np.issubdtype(np.asarray(zp_raw).dtype, np.floating):
        zp = np.asarray(zp_raw, np.float64).reshape(n, blocks)
    else:
        zp = unpack_nbits(np.asarray(zp_raw).reshape(n, -1), bits, blocks).astype(np.int64)
    if imp.optional(node, 4) is not None:
        imp.note(f"node '{node.name}' (MatMulNBits): g_idx (act-order) ignored; blocks taken in column order")
    weight = (codes.astype(np.float64) - np.repeat(zp, bs, axis=1)) * np.repeat(scale, bs, axis=1)
    if zp.dtype.kind == "i" and np.any(scale < 0):  # onnxruntime's symmetric blocks may store negative scales:
        flip = scale < 0  # the same values as codes (2^bits - 1 - c), zero point 2^bits - 1 - z, scale |s|
        top = (1 << bits) - 1
        codes = np.where(np.repeat(flip, bs, axis=1), top - codes, codes)
        zp, scale = np.where(flip, top - zp, zp), np.abs(scale)
    bias = imp.optional_const(node, 5, "bias") if len(node.inputs) > 5 else None
    quant = {"weight_bits": bits, "signed": False, "granularity": "blocked", "block_size": bs, "scale": scale,
             "zero_point": zp, "codes": np.ascontiguousarray(codes[:, :k])}
    if zp_raw is None:  # the default zero point: implied by the op, not stored in the file
        quant["zero_point_implied"] = True
    if int(a.get("accuracy_level", 0)) == 4:  # the activations quantized to int8 blocks at run time
        quant["activation_bits"] = 8
    y = imp.linear(node, x, weight[:, :k], bias, quant=quant)
    if "activation_bits" in quant:
        imp.quantization[y.layer]["activation_bits"] = 8


@register(MS + "GatherBlockQuantized")
def _convert_gather_block_quantized(imp: Importer, node: Node) -> None:
    """An embedding lookup in a block-quantized table (onnxruntime's ``MatMulNBitsQuantizer`` with Gather): an
    ``Embedding`` whose table is kept as its codes (int4 / uint4, or ``bits``-bit codes packed low bits first in
    uint8), one scale (and zero point, default ``2^(bits-1)`` for packed codes, 0 for int4 / uint4) per row and
    ``block_size`` columns. Gathering along axis 0 with the blocks along the rows only."""
    a = node.attrs
    table = np.asarray(imp.const(node, 0, "the quantized table"))
    if int(a.get("gather_axis", 0)) != 0 or int(a.get("quantize_axis", 1)) % max(table.ndim, 1) != 1 or table.ndim != 2:
        raise imp.unsupported(node, f"a table of shape {list(table.shape)} gathered along axis {a.get('gather_axis', 0)} "
                                    f"with blocks along axis {a.get('quantize_axis', 1)}")
    bits, bs = int(a.get("bits", 4)), int(a["block_size"])
    if bits not in (2, 4, 8):
        raise imp.error(node, f"attribute bits must be 2, 4 or 8; got {bits}")
    if not np.issubdtype(table.dtype, np.integer) and table.dtype.name not in ("int4", "uint4"):
        raise imp.error(node, f"the quantized table must hold integer codes; got {table.dtype}")
    packed = table.dtype == np.uint8 and bits < 8
    cols = table.shape[1] * (8 // bits) if packed else table.shape[1]
    if not 1 <= bs <= cols:
        raise imp.error(node, f"attribute block_size must be in 1..{cols} (the table's columns); got {bs}")
    scale = np.asarray(imp.const(node, 2, "the scales"), np.float64)
    if scale.shape != (table.shape[0], -(-cols // bs)):
        raise imp.error(node, f"the scales have shape {list(scale.shape)}; a table of {table.shape[0]} rows and {cols} "
                              f"columns in blocks of {bs} needs {[table.shape[0], -(-cols // bs)]}")
    rows, blocks = scale.shape
    if packed:
        codes, signed = unpack_nbits(table, bits, cols).astype(np.int64), False
    else:
        (bits, signed), codes = bits_of(table.dtype), table.astype(np.int64)
    zp_raw = imp.optional_const(node, 3, "the zero points")
    if zp_raw is None:
        zp = np.full((rows, blocks), 1 << (bits - 1) if packed else 0, np.int64)
    else:
        need = rows * (-(-blocks * bits // 8) if packed else blocks)
        if np.size(zp_raw) != need:
            raise imp.error(node, f"the zero points hold {np.size(zp_raw)} values; {rows} rows of {blocks} blocks "
                                  f"({bits}-bit{', packed' if packed else ''}) need {need}")
        zp = (unpack_nbits(np.asarray(zp_raw).reshape(rows, -1), bits, blocks) if packed
              else np.asarray(zp_raw).reshape(rows, blocks)).astype(np.int64)
    weight = (codes - np.repeat(zp, bs, axis=1)[:, :cols]) * np.repeat(scale, bs, axis=1)[:, :cols]
    quant = {"weight_bits": bits, "signed": signed, "granularity": "blocked", "block_size": bs, "scale": scale,
             "zero_point": zp, "codes": codes}
    if zp_raw is None:
        quant["zero_point_implied"] = True
    out = imp.layer(node, L.Embedding, [imp.activation(node, 1)], "", num_embeddings=rows, embedding_dim=cols)
    imp.set_weight(node, out.layer, weight, quant=quant)
    imp.set(node, 0, out)


#: bitsandbytes' 4-bit code tables, which onnxruntime's MatMulBnb4 reads (``quant_type`` 0: FP4, 1: NF4, the QLoRA
#: paper's NormalFloat: Dettmers et al. 2023, appendix E); each code's value times its block's absmax
BNB4_TABLES = {
    0: (0.0, 0.005208333333333333, 0.6666666666666666, 1.0, 0.3333333333333333, 0.5, 0.16666666666666666, 0.25,
        -0.0, -0.005208333333333333, -0.6666666666666666, -1.0, -0.3333333333333333, -0.5, -0.16666666666666666, -0.25),
    1: (-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
        -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
        0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0),
}


@register(MS + "MatMulBnb4")
def _convert_matmul_bnb4(imp: Importer, node: Node) -> None:
    """``Y = A @ dequant(B)^T`` of onnxruntime's bitsandbytes-style 4-bit weights: the ``(N, K)`` matrix flattened,
    two codes a byte (the first in the high bits), one absmax per ``block_size`` consecutive codes; a value is its
    code's table entry (:data:`BNB4_TABLES`) times the absmax. Kept as 4-bit blocks with fp32 scales; the table is
    not affine, so its zero (NF4 code 7, FP4 code 0) is the implied zero point that counts zero weights."""
    a = node.attrs
    k, n, bs, kind = int(a["K"]), int(a["N"]), int(a["block_size"]), int(a.get("quant_type", 1))
    for name, value in (("K", k), ("N", n), ("block_size", bs)):
        if value < 1:
            raise imp.error(node, f"attribute {name} must be >= 1; got {value}")
    if kind not in BNB4_TABLES:
        raise imp.error(node, f"attribute quant_type must be 0 (FP4) or 1 (NF4); got {kind}")
    x = imp.activation(node, 0)
    if not x.shape or x.shape[-1] != k:
        raise imp.error(node, f"input {list(x.shape)} does not end in K = {k}")
    if k % bs:
        raise imp.unsupported(node, f"blocks of {bs} codes that straddle the weight's rows of K = {k}")
    packed = np.asarray(imp.const(node, 1, "B")).astype(np.uint8).ravel()
    absmax = np.asarray(imp.const(node, 2, "absmax"), np.float64).ravel()
    if packed.size != -(-n * k // 2) or absmax.size != n * k // bs:
        raise imp.error(node, f"B holds {packed.size} bytes and absmax {absmax.size} values; K = {k}, N = {n} and "
                              f"block_size {bs} need {-(-n * k // 2)} and {n * k // bs}")
    codes = np.stack([packed >> 4, packed & 15], axis=1).ravel()[:n * k].reshape(n, k)
    scale = absmax.reshape(n, k // bs)
    weight = np.asarray(BNB4_TABLES[kind])[codes] * np.repeat(scale, bs, axis=1)
    zero = BNB4_TABLES[kind].index(0.0)
    quant = {"weight_bits": 4, "signed": False, "granularity": "blocked", "block_size": bs, "scale": scale,
             "zero_point": np.full(scale.shape, zero, np.int64), "zero_point_implied": True, "codes": codes,
             "scale_format": "fp32", "format": "nf4" if kind else "fp4"}
    imp.linear(node, x, weight, None, quant=quant)
    imp.note(f"MatMulBnb4: {'NF4' if kind else 'FP4'} codes kept as 4-bit blocks of {bs} with fp32 absmax scales; "
             "their table is not affine (the table's zero is the implied zero point)")


# --- QOperator element-wise / pooling ops (com.microsoft): the float op on the same activations, output marked 8-bit

#: op -> (float op, the activation inputs): QLinearAdd / Mul read (A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp),
#: QLinearConcat (Y_scale, Y_zp, then X, X_scale, X_zp per input), the others (X, X_scale, X_zp, Y_scale, Y_zp)
QLINEAR_FLOAT = {"QLinearAdd": ("Add", slice(0, 4, 3)), "QLinearMul": ("Mul", slice(0, 4, 3)),
                 "QLinearConcat": ("Concat", slice(2, None, 3)), "QLinearGlobalAveragePool": ("GlobalAveragePool", slice(0, 1)),
                 "QLinearAveragePool": ("AveragePool", slice(0, 1)), "QLinearSigmoid": ("Sigmoid", slice(0, 1)),
                 "QLinearSoftmax": ("Softmax", slice(0, 1)), "QLinearLeakyRelu": ("LeakyRelu", slice(0, 1))}


@register(*(MS + op for op in QLINEAR_FLOAT))
def _convert_qlinear_float(imp: Importer, node: Node) -> None:
    op, inputs = QLINEAR_FLOAT[node.op_type]
    if node.attrs.get("channels_last", 0):  # a pool on an NHWC map (a model saved after ORT_ENABLE_ALL)
        if not op.endswith("Pool"):
            raise imp.unsupported(node, "channels-last layout")
        attrs = {k: v for k, v in node.attrs.items() if k != "channels_last"}
        return imp.channels_last(node, lambda nchw, out: _convert_qlinear_float(
            imp, Node(node.name, node.op_type, [nchw, *node.inputs[1:]], [out], attrs, node.domain)), ranks=(4,))
    for i in range(len(node.inputs))[inputs]:  # an operand gathered from an integer table: the table dequantized
        v = imp.values.get(node.inputs[i])
        if v is not None and v.layer in imp.integer_tables:
            _dequantize_table(imp, node, v.layer, i + 1)
    _as_float(imp, node, op, node.inputs[inputs], 8, {} if op == "GlobalAveragePool" else None)


@register(MS + "DynamicQuantizeLSTM")
def _convert_dynamic_quantize_lstm(imp: Importer, node: Node) -> None:
    """onnxruntime's dynamic-int8 LSTM: W ``(D, input, 4H)`` and R ``(D, H, 4H)`` int8 (transposed against ONNX's
    LSTM), one scale and zero point per direction or per direction and gate row (inputs 8-11); activations
    quantized at run time. The float LSTM on the dequantized weights, its cells marked 8-bit."""
    def weight(q_index: int, scale_index: int, zp_index: int) -> str:
        q = np.asarray(imp.const(node, q_index, "a quantized weight")).astype(np.float64)
        scale = np.asarray(imp.const(node, scale_index, "a weight scale"), np.float64)
        zp = imp.optional_const(node, zp_index, "a weight zero point")
        zp = np.zeros_like(scale) if zp is None else np.asarray(zp, np.float64)
        shape = (q.shape[0], 1, -1) if scale.size > q.shape[0] else (-1, 1, 1)  # per gate row, or per direction
        w = (q - zp.reshape(shape)) * scale.reshape(shape)
        return _const_input(imp, node, f"w{q_index}", np.transpose(w, (0, 2, 1)).astype(np.float32))

    inputs = [node.inputs[0], weight(1, 8, 9), weight(2, 10, 11)] + list(node.inputs[3:8])
    before = set(imp.graph.weights)
    _as_float(imp, node, "LSTM", inputs, None)
    for name in set(imp.graph.weights) - before:
        imp.quantization.setdefault(name, {}).update({"weight_bits": 8, "activation_bits": 8})
    imp.note("DynamicQuantizeLSTM: the LSTM on its dequantized int8 weights, activations quantized to 8 bits at run "
             "time")
