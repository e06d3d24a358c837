"""Deployed quantization formats read from ONNX tensors, in the orientation of accelsim's weight matrices.

``graph.metadata["quantization"][layer]`` (written by the converters) holds ``weight_bits``, ``signed``,
``granularity`` (``per_tensor``, ``per_channel`` = one scale per matrix row, ``blocked`` = one scale per row
and ``block_size`` consecutive columns, ``per_input_channel``), ``scale``, ``zero_point`` and ``codes`` (the
integer weight matrix ``(N * groups, K)``); ``activation_bits`` for a layer reading a quantized activation;
``{"format": "float16", "weight_bits": 16}`` for fp16 / bf16 weights.
"""

from __future__ import annotations

import numpy as np

from accelsim.workload.onnx.importer import Node, Value

_CARRY = {"Identity", "Cast", "Transpose"}


def _bits_of(dtype) -> tuple[int, bool]:
    """(bits, signed) of an integer ONNX storage type as NumPy reads it."""
    name = str(np.dtype(dtype)) if not hasattr(dtype, "name") else dtype.name
    table = {"int8": (8, True), "uint8": (8, False), "int16": (16, True), "uint16": (16, False), "int4": (4, True),
             "uint4": (4, False), "int32": (32, True), "uint32": (32, False), "int2": (2, True), "uint2": (2, False)}
    return table.get(name, (8, not name.startswith("u")))


def is_integer(dtype) -> bool:
    """Integer storage types, the sub-byte ones (``int4``, ``uint4``, ``int2``) that NumPy reads through
    ml_dtypes included."""
    dtype = np.dtype(dtype)
    return np.issubdtype(dtype, np.integer) or dtype.name in ("int4", "uint4", "int2", "uint2")


def code_dtype(bits: int, signed: bool):
    """The smallest NumPy integer type that holds ``bits``-bit codes (int4 codes are kept one per int8)."""
    for width, (s_type, u_type) in ((8, (np.int8, np.uint8)), (16, (np.int16, np.uint16)), (32, (np.int32, np.uint32))):
        if bits <= width:
            return s_type if signed else u_type
    return np.int64


def dequant_info(q: np.ndarray, scale, zero_point, axis: int = 1, block_size: int = 0) -> dict:
    """The format of ``DequantizeLinear(q, scale, zero_point)`` in ONNX tensor orientation."""
    bits, signed = _bits_of(q.dtype)
    scale = np.asarray(scale, np.float64)
    zp = np.zeros_like(scale, dtype=np.int64) if zero_point is None else np.asarray(zero_point).astype(np.int64)
    if scale.ndim == 0 or scale.size == 1:
        granularity = "per_tensor"
    elif block_size:
        granularity = "blocked"
    else:
        granularity = "per_axis"
    return {"weight_bits": bits, "signed": signed, "granularity": granularity, "axis": int(axis) % max(q.ndim, 1),
            "block_size": int(block_size) or None, "scale": scale, "zero_point": zp,
            "codes": np.asarray(q).astype(code_dtype(bits, signed))}


def folded_quant(node: Node, inputs: list, outputs: list) -> dict | None:
    """The quantization format carried by the (single) output of a folded node, or None."""
    if node.op_type == "DequantizeLinear" and inputs and inputs[0] is not None \
            and is_integer(np.asarray(inputs[0].const).dtype):
        zero = inputs[2].const if len(inputs) > 2 and inputs[2] is not None else None
        return dequant_info(np.asarray(inputs[0].const), inputs[1].const, zero, node.attrs.get("axis", 1),
                            node.attrs.get("block_size", 0))
    first = inputs[0] if inputs else None
    if first is None or first.quant is None or node.op_type not in _CARRY:
        return None
    quant = dict(first.quant)
    if node.op_type == "Transpose":
        rank = quant["codes"].ndim
        perm = [int(p) for p in node.attrs.get("perm", list(range(rank))[::-1])]
        quant["codes"] = np.transpose(quant["codes"], perm)
        quant["axis"] = perm.index(quant["axis"])
        if quant["granularity"] == "blocked":
            quant["scale"] = np.transpose(quant["scale"], perm)
            quant["zero_point"] = np.transpose(np.broadcast_to(quant["zero_point"], quant["scale"].shape), perm)
    return quant


def weight_quant(v: Value, out_axis: int, to_matrix) -> dict | None:
    """``v.quant`` (ONNX orientation) as the layer's format in weight-matrix orientation; ``out_axis`` is the
    output-channel axis of the ONNX weight, ``to_matrix`` maps an ONNX-shaped array to the matrix."""
    q = v.quant
    if q is None or "codes" not in q:
        return None
    codes = to_matrix(q["codes"])
    rows = codes.shape[0]
    out = {"weight_bits": q["weight_bits"], "signed": q["signed"], "codes": np.ascontiguousarray(codes)}
    scale, zp = np.asarray(q["scale"]), np.asarray(q["zero_point"])
    if q["granularity"] == "per_tensor":
        out.update(granularity="per_tensor", scale=scale.reshape(()), zero_point=zp.reshape(()))
    elif q["granularity"] == "per_axis" and q["axis"] == out_axis and scale.size == rows:
        out.update(granularity="per_channel", scale=scale.reshape(rows), zero_point=np.broadcast_to(zp, scale.shape).reshape(rows))
    elif q["granularity"] == "blocked" and q["axis"] != out_axis:
        full_s = np.repeat(scale, q["block_size"], axis=q["axis"])
        full_z = np.repeat(np.broadcast_to(zp, scale.shape), q["block_size"], axis=q["axis"])
        slices = tuple(slice(0, d) for d in q["codes"].shape)
        s_m, z_m = to_matrix(full_s[slices]), to_matrix(full_z[slices])
        bs = q["block_size"]
        out.update(granularity="blocked", block_size=bs, scale=s_m[:, ::bs].copy(), zero_point=z_m[:, ::bs].copy())
    else:  # one scale per input channel: kept per element group along the reduction
        out.update(granularity="per_input_channel", scale=scale, zero_point=zp)
    return out
