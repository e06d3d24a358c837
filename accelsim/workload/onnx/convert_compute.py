"""Converters for compute ops (Conv, Gemm / MatMul / Einsum, activations, element-wise, pooling, norms, softmax,
LSTM / GRU). Weights in PyTorch layout; a BatchNormalization or a constant Add after a sole-consumer Conv / Linear is
folded into its weights / bias; element-wise math with a constant operand is an ``Identity`` (no MACs).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np

from accelsim.workload import layers as L
from accelsim.workload.onnx import quant as Q
from accelsim.workload.onnx.convert_shape import _broadcast_full, _convert_transpose, _slice_axis
from accelsim.workload.onnx.importer import Importer, Node, Value, register


def _pads2d(imp: Importer, node: Node, in_hw: Sequence[int], kernel, stride, dilation) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` padding of a 2-D conv / pool: its ``pads``, or what ``auto_pad`` SAME_UPPER /
    SAME_LOWER give (the odd unit at the end / the start)."""
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = [int(p) for p in node.attrs.get("pads", [0, 0, 0, 0])]
        if len(pads) != 4:
            raise imp.error(node, f"expected 4 pads for a 2-D op; got {pads}")
        return pads[0], pads[1], pads[2], pads[3]
    if auto == "VALID":
        return 0, 0, 0, 0
    begin, end = _same_pads(auto, in_hw, kernel, stride, dilation)
    return begin[0], begin[1], end[0], end[1]


def _same_pads(auto: str, sizes: Sequence[int], kernel, stride, dilation) -> tuple[list[int], list[int]]:
    """``(begins, ends)`` of ``auto_pad`` SAME_UPPER / SAME_LOWER on every spatial axis: the output keeps
    ``ceil(size / stride)``, the odd unit at the end / the start."""
    begin, end = [], []
    for size, k, s, d in zip(sizes, kernel, stride, dilation):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        begin.append(small if auto == "SAME_UPPER" else total - small)
        end.append(total - begin[-1])
    return begin, end


def _padded(imp: Importer, node: Node, tensor: str, x: Value, kernel, stride, dilation) -> tuple[Value, tuple[int, int]]:
    """``x`` (read as ONNX ``tensor``) and the symmetric padding a ``Conv2d`` / ``Pool2d`` takes: its own pads
    (:func:`_pads2d`) plus a zero Pad before it (``imp.pads``, taken here, once nothing can turn the node generic:
    a generic one reads the padded map). Uneven ones (TensorFlow's SAME: EfficientNet and MobileNet ports, CANINE's
    1-D projection) are made by an explicit ``Generic`` Pad of the map, which then takes none (the same windows and
    outputs)."""
    extra = imp.pads.pop(tensor, (0, 0, 0, 0))
    own = _pads2d(imp, node, [d + extra[i] + extra[i + 2] for i, d in enumerate(x.shape[2:])], kernel, stride, dilation)
    pads = [a + b for a, b in zip(own, extra)]
    if pads[0] == pads[2] and pads[1] == pads[3]:
        return x, (pads[0], pads[1])
    return imp.pad_map(node, x, pads), (0, 0)


def _as_2d(imp: Importer, node: Node, x: Value) -> tuple[Node, Value]:
    """A 1-D conv / pool as its 2-D form on an (N, C, 1, L) map: kernel (1, k), stride (1, s), pads (0, p)."""
    a = dict(node.attrs)
    for key in ("kernel_shape", "strides", "dilations"):
        if key in a:
            a[key] = [1, *a[key]]
    if "pads" in a:
        a["pads"] = [0, a["pads"][0], 0, a["pads"][1]]
    node2 = Node(node.name, node.op_type, node.inputs, [], a, node.domain)
    return node2, imp.reshape_to(node2, x, (*x.shape[:2], 1, x.shape[2]), suffix="/as_2d")


def _conv_as_gemm(imp: Importer, node: Node, x: Value, w: np.ndarray, b: np.ndarray | None, transpose: bool = False) -> None:
    """A convolution Conv2d cannot hold (3-D; over a stack of RoI maps; a ConvTranspose) as its GEMM: a Generic patch
    gather (ConvTranspose: the pixels, then a Generic ``col2im``), a ``Linear`` (grouped, e.g. depthwise: a
    ``GroupedLinear`` over the groups' columns), a Transpose / Reshape to the layout."""
    groups = int(node.attrs.get("group", 1))
    auto = node.attrs.get("auto_pad", "NOTSET")
    if transpose and auto not in ("NOTSET", "", "VALID"):
        raise imp.unsupported(node, f"a transposed convolution with auto_pad {auto} cannot be lowered to a GEMM")
    spatial = w.ndim - 2
    if len(x.shape) < spatial + 1 or x.shape[-spatial - 1] != (w.shape[0] if transpose else w.shape[1] * groups) \
            or w.shape[0] % groups:
        raise imp.error(node, f"weight {list(w.shape)} with group={groups} does not match the input {list(x.shape)}")
    kernel, sizes = [int(k) for k in w.shape[2:]], list(x.shape[-spatial:])
    stride, dilation = ([int(v) for v in node.attrs.get(k, [1] * spatial)] for k in ("strides", "dilations"))
    pads = [int(v) for v in node.attrs.get("pads", [0] * 2 * spatial)] if auto in ("NOTSET", "") else [0] * 2 * spatial
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = _same_pads(auto, sizes, kernel, stride, dilation)
        pads = begins + ends
    span = [dilation[i] * (kernel[i] - 1) + 1 for i in range(spatial)]
    if transpose:
        extra = [int(v) for v in node.attrs.get("output_padding", [0] * spatial)]
        outs = [(sizes[i] - 1) * stride[i] + span[i] - pads[i] - pads[i + spatial] + extra[i] for i in range(spatial)]
    else:
        outs = [(sizes[i] + pads[i] + pads[i + spatial] - span[i]) // stride[i] + 1 for i in range(spatial)]
    out_ch = int(w.shape[1] * groups if transpose else w.shape[0])
    if min(outs) < 1:
        raise imp.error(node, f"kernel {kernel} does not fit the input {list(x.shape)}")
    lead = x.local_shape[:-spatial - 1]  # per-sample stack of maps (RoIs), () for a batched map
    stack, channels = int(np.prod(lead)), int(x.shape[-spatial - 1])
    rows = stack * int(np.prod(sizes if transpose else outs))
    cols = imp.layer(node, L.Generic, [x], suffix="/pixels" if transpose else "/im2col", op_type="Im2Col",
                     output_shapes=((rows, channels if transpose else channels * int(np.prod(kernel))),))
    if transpose:  # each group's input channels to its output channels x kernel positions, stacked by group
        per = channels // groups

        def to_matrix(m):
            return np.concatenate([np.asarray(m[g * per:(g + 1) * per]).reshape(per, -1).T for g in range(groups)])

        quant = Q.weight_quant(imp.value(node, 1), 1, to_matrix, row_repeat=int(np.prod(kernel)))
    else:
        def to_matrix(m):
            return np.asarray(m).reshape(m.shape[0], -1)

        quant = Q.weight_quant(imp.value(node, 1), 0, to_matrix)
    weight = to_matrix(w)
    head = (imp.batch,) if x.batched else ()
    if groups > 1:  # the groups' columns side by side: (groups, rows, columns of a group), one GEMM per group
        per_group = imp.reshape_to(node, cols, (*head, rows, groups, weight.shape[1]), suffix="/groups")
        per_group = imp.layer(node, L.Transpose, [per_group], suffix="/groups_t", perm=[1, 0, 2])
        layer = imp.add(node, L.GroupedLinear, [per_group], groups=groups, out_features=weight.shape[0] // groups,
                        bias=b is not None and not transpose)
        imp.set_weight(node, layer.name, weight, None if transpose else b, quant=quant)
        y = imp.layer(node, L.Transpose, [imp.out(node, layer, batched=x.batched)], suffix="/ungroup_t", perm=[1, 0, 2])
        y = imp.reshape_to(node, y, (*head, rows, weight.shape[0]), suffix="/ungroup")
    else:
        layer = imp.add(node, L.Linear, [cols], out_features=int(weight.shape[0]), bias=b is not None and not transpose)
        imp.set_weight(node, layer.name, weight, None if transpose else b, quant=quant)
        y = imp.out(node, layer, batched=x.batched)
    if transpose:  # scatter-add of the overlapping columns into the output map
        y = imp.layer(node, L.Generic, [y], suffix="/col2im", op_type="Col2Im", output_shapes=((stack * int(np.prod(outs)), out_ch),))
    per_map = imp.reshape_to(node, y, (*head, stack, int(np.prod(outs)), out_ch), suffix="/maps")
    t = imp.layer(node, L.Transpose, [per_map], suffix="/to_channels", perm=[0, 2, 1])
    imp.reshape_to(node, t, (*head, *lead, out_ch, *outs), suffix="/to_map")
    imp.note(f"{'ConvTranspose' if transpose else 'Conv'} nodes accelsim's Conv2d cannot hold (3-D, or over a stack of maps) "
             "are imported as a Generic patch gather + Linear: exact MACs and GEMM view")


def _conv_bias(imp: Importer, node: Node, b: np.ndarray | None, out_channels: int) -> np.ndarray | None:
    """A Conv's bias, one value per output channel. An all-zero bias of another size is no bias (onnxscript's
    lowering of a Conv3d without bias writes zeros of shape ``[M, 2]``), with a note; any other size is an error."""
    if b is None or b.size == out_channels:
        return b
    if not np.any(b):
        imp.note(f"node '{node.name}' (Conv): its all-zero bias of shape {list(b.shape)} (not one value per output "
                 f"channel, {out_channels}) is read as no bias")
        return None
    raise imp.error(node, f"the bias has shape {list(b.shape)}; expected {out_channels} values, one per output channel")


@register("Conv", "ConvTranspose")
def _convert_conv(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    if node.op_type == "ConvTranspose":
        if imp.optional(node, 2) is not None:
            imp.note(f"node '{node.name}' (ConvTranspose): the bias add (no MACs) is not modelled")
        return _conv_as_gemm(imp, node, x, np.asarray(imp.const(node, 1, "the weight")), None, transpose=True)
    if not imp.value(node, 1).is_const:
        return _conv_of_activations(imp, node, x, imp.value(node, 1))
    w = imp.const(node, 1, "the weight")
    if w.ndim < 3 or (len(x.shape) != w.ndim and len(x.shape) != w.ndim - 1):  # ONNX: X and W both of rank N + 2
        raise imp.error(node, f"malformed: weight {list(w.shape)} on input {list(x.shape)} (a Conv's weight is "
                        "(M, C / group, k1, ..., kN) for an input (batch, C, d1, ..., dN))")
    b = _conv_bias(imp, node, imp.optional_const(node, 2, "the bias"), int(w.shape[0]) if w.ndim else 0)
    if w.ndim == 5 or (not x.batched and w.ndim in (3, 4) and len(x.shape) == w.ndim and x.shape[0] != 1):
        return _conv_as_gemm(imp, node, x, w, b)  # 3-D, or a stack of maps carried whole
    orig, is_1d = node, w.ndim == 3 and len(x.shape) == 3
    if is_1d:  # Conv1d
        node, x = _as_2d(imp, node, imp.batched(node, x))
        w = w[:, :, None, :]
    x = imp.batched(node, x)
    if w.ndim != 4 or len(x.shape) != 4:
        raise imp.unsupported(node, f"only 1-D and 2-D convolutions are supported; got weight {list(w.shape)} on input {list(x.shape)}")
    groups = int(node.attrs.get("group", 1))
    kernel = tuple(int(k) for k in node.attrs.get("kernel_shape", w.shape[2:]))
    stride, dilation = (tuple(int(s) for s in node.attrs.get(k, [1, 1])) for k in ("strides", "dilations"))
    if kernel != tuple(w.shape[2:]):
        raise imp.error(node, f"kernel_shape {list(kernel)} differs from the weight shape {list(w.shape)}")
    if w.shape[1] * groups != x.shape[1]:
        raise imp.error(node, f"weight {list(w.shape)} with group={groups} does not match {x.shape[1]} input channels")
    x, padding = _padded(imp, node, orig.inputs[0], x, kernel, stride, dilation)
    layer = imp.add(node, L.Conv2d, [x], out_channels=int(w.shape[0]), kernel=kernel, stride=stride, padding=padding,
                    dilation=dilation, groups=groups, bias=b is not None)
    imp.set_weight(node, layer.name, w, b, quant=Q.weight_quant(imp.value(orig, 1), 0, lambda m: m.reshape(m.shape[0], -1)))
    out = imp.out(orig, layer, batched=True)
    if is_1d:
        imp.reshape_to(orig, out, (out.shape[0], out.shape[1], out.shape[3]), suffix="/as_1d")


def _conv_of_activations(imp: Importer, node: Node, x: Value, w: Value) -> None:
    """A convolution whose weight is an activation (a hypernetwork's or dynamic filters'): its products as a
    ``MatMul`` of the weight matrix ``(out, in x kernel)`` and the input's im2col view (a ``Generic`` layer
    reading the input: its traffic), reshaped to the output; the bias add (no MACs) is not modelled. A grouped
    one, or one whose output shape ONNX does not infer, is a generic layer."""
    out = imp.output_shape(node)
    if int(node.attrs.get("group", 1)) != 1 or out is None or len(w.shape) != len(x.shape) or len(x.shape) < 3 \
            or imp.batch != 1:
        return imp.generic(node, "its weight is an activation (imported as a product only ungrouped, at batch 1, "
                                 "with an output shape ONNX infers)")
    k, pixels = math.prod(w.shape[1:]), math.prod(out[2:])
    x, w = imp.batched(node, x), imp.unbatched(node, w)
    cols = imp.add(node, L.Generic, [x], suffix="/im2col", op_type="Im2Col", output_shapes=((k, pixels),))
    weights = imp.reshape_to(node, w, (int(w.shape[0]), k), index=None, suffix="/weight")
    _matmul_layer(imp, node, weights, Value((x.shape[0], k, pixels), cols.name, True))
    imp.reshape_to(node, imp.values[node.outputs[0]], out, suffix="/out")
    imp.note(f"node '{node.name}' (Conv): its weight is an activation; imported as an im2col MatMul (the bias add "
             "is not modelled)")


def _matmul_layer(imp: Importer, node: Node, a: Value, b: Value) -> None:
    if a.batched != b.batched and imp.batch != 1:
        # one operand carries the batch, the other has no batch axis (a weight on the left, a position table):
        # it is shared by every sample when its rank does not reach the batch axis
        shared, per = (b, a) if a.batched else (a, b)
        if len(shared.shape) == len(per.shape) and shared.shape[0] == 1:  # a leading 1 that broadcasts over the batch
            squeezed = imp.add(node, L.Reshape, [shared], suffix="/shared", shape=shared.shape[1:])
            shared = Value(shared.shape[1:], squeezed.name, False)
            a, b = (per, shared) if a.batched else (shared, per)
        if 2 <= len(shared.shape) <= len(per.local_shape):
            return imp.out(node, imp.add(node, L.MatMul, [a, b]), batched=True)
    if not (a.batched and b.batched):
        a, b = imp.unbatched(node, a), imp.unbatched(node, b)
    if len(a.local_shape) < 2 or len(b.local_shape) < 2:
        raise imp.unsupported(node, f"a product of two activations needs 2-D operands per sample; got {list(a.shape)} @ {list(b.shape)}")
    imp.out(node, imp.add(node, L.MatMul, [a, b]), batched=a.batched)


@register("MatMul")
def _convert_matmul(imp: Importer, node: Node) -> None:
    """activation @ 2-D constant: a ``Linear``; a constant left operand (an attention-pooling query) or a
    constant of more than 2 dimensions (per-head tables): a ``MatMul`` reading the constant from a Generic
    source; two activations: a ``MatMul``."""
    a, b = imp.value(node, 0), imp.value(node, 1)
    if a.is_const and b.is_const:
        raise imp.error(node, "both operands are constants (the product should have been folded)")
    if b.is_const and b.const.ndim == 1 and len(a.shape) >= 2:  # activation @ vector: one output per row
        column = imp.linear(node, a, np.asarray(b.const).reshape(1, -1), None)
        return imp.reshape_to(node, column, a.shape[:-1], suffix="/vector")
    if a.is_const and a.const.ndim == 1 and len(b.local_shape) >= 2:  # vector @ activation: (K,) @ (..., K, N)
        rank = len(b.local_shape)  # -> (..., N): the activation's last two axes swapped, one Linear output row
        rows = imp.layer(node, L.Transpose, [b], "/b_t", perm=list(range(rank - 2)) + [rank - 1, rank - 2])
        column = imp.linear(node, rows, np.asarray(a.const).reshape(1, -1), None)
        return imp.reshape_to(node, column, b.shape[:-2] + b.shape[-1:], suffix="/vector")
    if a.is_const or (b.is_const and b.const.ndim != 2):
        a = imp.constant_source(node, a, b, "/a_const") if a.is_const else a
        b = imp.constant_source(node, b, a, "/b_const") if b.is_const else b
    if not b.is_const:
        return _matmul_layer(imp, node, a, b)
    imp.linear(node, a, np.asarray(b.const).T, None, quant=Q.weight_quant(b, 1, lambda m: m.T))


def _transposed(imp: Importer, node: Node, v: Value, suffix: str) -> Value:
    """``v`` with its last two axes swapped (a FusedMatMul operand's ``transA`` / ``transB``); a 2-D batched
    operand, whose batch is one of the two, is carried whole first (batch 1 only)."""
    if len(v.local_shape) < 2:
        v = imp.unbatched(node, v)
    rank = len(v.local_shape)
    return imp.layer(node, L.Transpose, [v], suffix, perm=list(range(rank - 2)) + [rank - 1, rank - 2])


@register("Gemm", "com.microsoft::FusedMatMul")
def _convert_gemm(imp: Importer, node: Node) -> None:
    """``Gemm``, and onnxruntime's ``FusedMatMul``: a MatMul of any rank with ``transA`` / ``transB`` (its operand's
    last two axes swapped) and ``alpha`` (a scale of the product: no MACs), what onnxruntime's extended graph
    optimizations write for an attention's ``q @ k^T * scale``."""
    a, b, c = imp.activation(node, 0), imp.value(node, 1), imp.optional(node, 2)
    alpha, beta = float(node.attrs.get("alpha", 1.0)), float(node.attrs.get("beta", 1.0))
    trans_b, fused = bool(node.attrs.get("transB", 0)), node.op_type == "FusedMatMul"
    if not (math.isfinite(alpha) and math.isfinite(beta)):
        raise imp.error(node, f"attributes alpha and beta must be finite; got {alpha:g} and {beta:g}")
    if any(node.attrs.get(k, 0) for k in ("transBatchA", "transBatchB")) or (node.attrs.get("transA", 0) and not fused):
        raise imp.unsupported(node, "a transposed left operand of a Gemm or transposed batch axes are not supported")
    if node.attrs.get("transA", 0):
        a = _transposed(imp, node, a, "/a_t")
    if not b.is_const:
        if c is not None or (not fused and (alpha != 1.0 or trans_b)):
            raise imp.unsupported(node, "a Gemm of two activations is supported only without transB, alpha or C")
        if trans_b:
            b = _transposed(imp, node, b, "/b_t")
        if alpha != 1.0:
            imp.note(f"node '{node.name}' (FusedMatMul): alpha {alpha:g} scales the product (no MACs; not modelled)")
        return _matmul_layer(imp, node, a, b)
    if b.const.ndim != 2:
        raise imp.unsupported(node, f"a constant operand of shape {list(b.const.shape)}")
    w = (np.asarray(b.const) if trans_b else np.asarray(b.const).T) * alpha
    quant = Q.weight_quant(b, 0 if trans_b else 1, (lambda m: m) if trans_b else (lambda m: m.T))
    bias = None
    if c is not None:
        if not c.is_const:
            raise imp.unsupported(node, "the bias C must be a constant")
        out = (*a.shape[:-1], w.shape[0])
        if c.const.size not in (1, w.shape[0]):
            try:
                fits = np.broadcast_shapes(np.shape(c.const), out) == out
            except ValueError:
                fits = False
            if not fits:
                raise imp.error(node, f"bias C of shape {list(c.const.shape)} does not broadcast to the output {list(out)}")
            # a bias per output element (torch.addmm with an (M, N) input): the product, then an add (no MACs)
            product = imp.linear(node, a, w, None, quant=quant)
            return imp.out(node, imp.add(node, L.Identity, [product], suffix="/add_c"), batched=product.batched)
        bias = np.broadcast_to(np.asarray(c.const, dtype=np.float64).reshape(-1), (w.shape[0],)) * beta
    imp.linear(node, a, w, bias, quant=quant)


ACTIVATION_FUNCS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSigmoid": "hardsigmoid",
                    "HardSwish": "hardswish", "Gelu": "gelu", "LeakyRelu": "leakyrelu", "PRelu": "prelu", "Elu": "elu",
                    "Selu": "selu", "Celu": "celu", "Mish": "mish", "Softplus": "softplus"}

#: ops on one activation that keep its shape -> (layer type, fields): activations (onnxruntime's GELU forms
#: included) and element-wise math (RoPE's negation, a reciprocal square root, a constant power) as an Identity
UNARY = {**{op: (L.Activation, {"func": func}) for op, func in ACTIVATION_FUNCS.items()},
         **{f"com.microsoft::{op}": (L.Activation, {"func": "gelu"}) for op in ("FastGelu", "BiasGelu", "Gelu", "QuickGelu")},
         **{op: (L.Identity, {}) for op in ("Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Sin", "Cos", "Floor", "Ceil",
                                            "Round", "Sign", "Pow", "Softsign", "Erf")}}


@register(*UNARY, "_Activation", "Clip")
def _convert_unary(imp: Importer, node: Node) -> None:
    """One layer from :data:`UNARY`; ``_Activation`` is a fused decomposed one (``fuse.py``); ``Clip(0, 6)`` is
    ReLU6, ``Clip(0, inf)`` ReLU, any other bound a clip. A second operand (an exponent, a bias) must be a constant."""
    x = imp.activation(node, 0)
    cls, fields = UNARY.get(node.key, (L.Activation, {}))
    if node.op_type == "_Activation":
        fields = {"func": node.attrs["func"]}
    elif node.op_type == "Clip":
        if imp.opset < 11:
            lo, hi = node.attrs.get("min"), node.attrs.get("max")
        else:
            lo, hi = (None if a is None else float(np.asarray(a).ravel()[0])
                      for a in (imp.optional_const(node, 1, "min"), imp.optional_const(node, 2, "max")))
        fields = {"func": "relu6" if lo == 0.0 and hi == 6.0 else "relu" if lo == 0.0 and (hi is None or math.isinf(hi)) else "clip"}
    elif len(node.inputs) > 1 and node.inputs[1] and not imp.value(node, 1).is_const:
        raise imp.unsupported(node, "a second activation operand")
    imp.out(node, imp.add(node, cls, [x], **fields), batched=x.batched)
    Q._mark_output(imp, node, node.attrs.get("output_bits"))  # a fused QOperator chain's output codes (fuse.py)


def _try_fold_bias(imp: Importer, node: Node, v: Value, c: np.ndarray) -> bool:
    """Add(const, layer output): becomes the bias of a bias-less Linear or Conv2d that feeds only this Add, directly
    or through shape-preserving layers that each read only the one before (onnxruntime's ``quantize_dynamic``:
    MatMulInteger / ConvInteger -> Cast -> Mul(scale) -> Add(bias))."""
    tensor = next(t for t in node.inputs if t and not imp.values[t].is_const)
    if v.layer is None or not imp.sole_consumer(tensor):
        return False
    target = v.layer
    while target not in imp.graph.weights and isinstance(imp.graph.layer(target), L.Identity):
        producers = imp.graph.inputs_of(target)
        if len(producers) != 1 or imp.graph.successors(producers[0]) != [target]:
            return False
        target = producers[0]
    if target not in imp.graph.weights:
        return False
    layer = imp.graph.layer(target)
    linear = isinstance(layer, L.Linear) and not layer.bias and c.size == layer.out_features \
        and c.shape[-1] == layer.out_features and c.ndim <= len(v.shape) and all(d == 1 for d in c.shape[:-1])
    conv = isinstance(layer, L.Conv2d) and not layer.bias and v.batched and c.size == layer.out_channels \
        and c.ndim >= 3 and c.shape[-3] == layer.out_channels and all(d == 1 for d in c.shape[:-3] + c.shape[-2:])
    if not (linear or conv):
        return False
    weight = imp.graph.weights[target]
    imp.graph.replace_layer(target, replace(layer, bias=True))
    imp.set_weight(node, target, weight, c.ravel())
    imp.set(node, 0, v)
    return True


_ELTWISE_FUNCS = {"Add": "add", "Mul": "mul", "Sub": "sub", "Div": "div", "Max": "max"}


@register(*_ELTWISE_FUNCS)
def _convert_eltwise(imp: Importer, node: Node) -> None:
    operands = [imp.value(node, i) for i in range(len(node.inputs)) if node.inputs[i]]
    if len(operands) == 1 and node.op_type == "Max":  # variadic: one input is its own maximum
        return imp.set(node, 0, operands[0])
    acts = [v for v in operands if not v.is_const]
    consts = [v for v in operands if v.is_const]
    full = _broadcast_full(imp, node, [v.shape for v in operands])
    if consts:
        v = acts[0]
        if len(acts) > 1:
            raise imp.unsupported(node, "mixing more than one activation with constants is not supported")
        if full != v.shape:
            raise imp.unsupported(node, f"a constant operand broadcasts the activation {list(v.shape)} up to {list(full)}")
        if node.op_type == "Add" and _try_fold_bias(imp, node, v, np.asarray(consts[0].const)):
            return
        # element-wise with a constant: shape-preserving, no MACs
        return imp.out(node, imp.add(node, L.Identity, [v]), batched=v.batched)
    if not all(v.batched for v in acts):
        acts = [imp.unbatched(node, v) for v in acts]
    value = imp.out(node, imp.add(node, L.Eltwise, acts, func=_ELTWISE_FUNCS[node.op_type]), batched=acts[0].batched)
    if value.shape != full:
        raise imp.unsupported(node, f"broadcast of {[list(v.shape) for v in acts]} differs per sample ({list(value.shape)} vs {list(full)})")


@register("Concat")
def _convert_concat(imp: Importer, node: Node) -> None:
    operands = [imp.value(node, i) for i in range(len(node.inputs)) if node.inputs[i]]
    operands = [v for v in operands if not (v.is_const and np.size(v.const) == 0)] or operands[:1]  # empty parts
    like = [v for v in operands if not v.is_const][0]
    for i, v in enumerate(operands):  # a learned table joined to activations (ViT's class token): a Generic source
        if v.is_const:
            if np.ndim(v.const) != len(like.shape):
                raise imp.unsupported(node, f"concatenating a constant of shape {list(np.shape(v.const))} with activations "
                                            f"of rank {len(like.shape)}")
            operands[i] = imp.constant_source(node, v, like, suffix=f"/const{i}")
    if not all(v.batched for v in operands):
        operands = [imp.unbatched(node, v) for v in operands]
    axis = imp.local_axis(node, operands[0], int(node.attrs.get("axis", 0)))
    if len(operands) == 1:
        return imp.set(node, 0, operands[0])
    imp.out(node, imp.add(node, L.Concat, operands, axis=axis), batched=operands[0].batched)


@register("MaxPool", "AveragePool")
def _convert_pool(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    if not x.batched and len(x.shape) == 4 and x.shape[0] != 1:  # a stack of maps (RAFT's correlation pyramid)
        maps = imp.reshape_to(node, x, (1, x.shape[0] * x.shape[1], *x.shape[2:]), suffix="/maps")
        inner = Node(node.name, node.op_type, [f"{node.name}::maps"], [f"{node.name}::pooled"], node.attrs, node.domain)
        imp.values[inner.inputs[0]] = maps
        _convert_pool(imp, inner)
        pooled = imp.values[inner.outputs[0]]
        return imp.reshape_to(node, pooled, (*x.shape[:2], *pooled.shape[2:]), suffix="/stack")
    x = imp.batched(node, x)
    orig, is_1d = node, len(x.shape) == 3
    if is_1d:
        node, x = _as_2d(imp, node, x)
    if len(x.shape) != 4:
        raise imp.unsupported(node, f"only 1-D and 2-D pooling is supported; got input {list(x.shape)}")
    if len(orig.outputs) > 1 and orig.outputs[1] and imp.consumers.get(orig.outputs[1]):
        raise imp.unsupported(node, "the MaxPool indices output is not supported")
    kernel = tuple(int(k) for k in node.attrs["kernel_shape"])
    stride, dilation = (tuple(int(s) for s in node.attrs.get(k, [1, 1])) for k in ("strides", "dilations"))
    if dilation != (1, 1):
        raise imp.unsupported(node, f"dilated pooling {list(dilation)} is not supported")
    x, padding = _padded(imp, node, orig.inputs[0], x, kernel, stride, dilation)
    layer = imp.add(node, L.Pool2d, [x], kind="max" if node.op_type == "MaxPool" else "avg", kernel=kernel,
                    stride=stride, padding=padding, ceil_mode=bool(node.attrs.get("ceil_mode", 0)))
    out = imp.out(orig, layer, batched=True)
    if is_1d:
        imp.reshape_to(orig, out, (out.shape[0], out.shape[1], out.shape[3]), suffix="/as_1d")


@register("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax")
def _convert_global_pool(imp: Importer, node: Node) -> None:
    """Global pooling; a mean / max over both spatial axes of an (N, C, H, W) map is one too, over one of them a
    pool of that axis's whole extent."""
    x = imp.activation(node, 0)
    kind = "avg" if node.op_type in ("GlobalAveragePool", "ReduceMean") else "max"
    if node.op_type.startswith("Global") and len(x.shape) != 4:
        raise imp.unsupported(node, f"only 2-D global pooling is supported; got input {list(x.shape)}")
    if node.op_type.startswith("Reduce"):
        axes = imp.optional_const(node, 1, "axes")
        axes = [int(v) for v in (np.asarray(axes).ravel() if axes is not None else node.attrs.get("axes", []))] \
            if axes is not None or "axes" in node.attrs else None
        spatial = {a % 4 for a in axes} if axes is not None else set()
        if len(x.shape) != 4 or not spatial or not spatial <= {2, 3}:
            raise imp.unsupported(node, f"only a reduction over the spatial axes of an (N, C, H, W) map is supported; "
                                  f"got axes {axes} of {list(x.shape)}")
        if len(axes) == 1:  # one spatial axis (FocalNet's mean(2).mean(3)): a pool of that axis's whole extent
            x = imp.batched(node, x)
            kernel = (x.shape[2], 1) if axes[0] % 4 == 2 else (1, x.shape[3])
            pooled = imp.out(node, imp.add(node, L.Pool2d, [x], kind=kind, kernel=kernel, stride=(1, 1)), batched=True)
            if not node.attrs.get("keepdims", 1):
                imp.reshape_to(node, pooled, tuple(d for i, d in enumerate(pooled.shape) if i != axes[0] % 4),
                               suffix="/squeeze")
            return
    x = imp.batched(node, x)
    pooled = imp.out(node, imp.add(node, L.Pool2d, [x], kind=kind, global_pool=True), batched=True)
    if node.op_type.startswith("Reduce") and not node.attrs.get("keepdims", 1):
        imp.reshape_to(node, pooled, pooled.shape[:2], suffix="/squeeze")


@register("BatchNormalization")
def _convert_batchnorm(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    scale, shift, mean, var = (np.asarray(imp.const(node, i, what), dtype=np.float64)
                               for i, what in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
    if len(node.outputs) > 1 and any(o and imp.consumers.get(o) for o in node.outputs[1:]):
        raise imp.unsupported(node, "training-mode outputs (running mean / var) are not supported")
    eps = float(node.attrs.get("epsilon", 1e-5))
    if np.any(var + eps <= 0):
        raise imp.error(node, "variance + epsilon must be positive")
    channels = x.shape[1] if len(x.shape) > 1 else None
    target = x.layer if x.batched else _linear_under_reshapes(imp, x, channels)
    layer = imp.graph.layer(target) if target is not None else None
    rows_per_channel = 1
    if x.batched and not isinstance(layer, L.Conv2d):  # a Conv1d / Conv3d / ConvTranspose as lowered by this importer
        target, rows_per_channel = _lowered_conv(imp, x.layer, channels)
        layer = imp.graph.layer(target) if target is not None else None
    if imp.sole_consumer(node.inputs[0]) and target in imp.graph.weights and scale.size == channels and \
            (isinstance(layer, L.Conv2d) or (isinstance(layer, L.Linear) and target != x.layer) or (
                isinstance(layer, L.Linear) and not isinstance(layer, L.GroupedLinear) and (len(x.shape) == 2 or not x.batched))):
        s = np.repeat(scale / np.sqrt(var + eps), rows_per_channel)
        weight = np.asarray(imp.graph.weights[target], dtype=np.float64)
        if rows_per_channel > 1:  # a ConvTranspose's GEMM: its rows are (channel, kernel position); col2im adds after it
            imp.set_weight(node, target, weight * s[:, None])
            imp.note(f"node '{node.name}' (BatchNormalization) folded into the ConvTranspose before it; its shift, "
                     "like the ConvTranspose's own bias, is an add with no MACs and is not modelled")
        else:
            old_bias = imp.graph.biases.get(target)
            bias = (np.zeros(channels) if old_bias is None else np.asarray(old_bias, dtype=np.float64)) - mean
            imp.graph.replace_layer(target, replace(layer, bias=True))
            imp.set_weight(node, target, weight * s.reshape((-1,) + (1,) * (weight.ndim - 1)), bias * s + shift)
        imp.folded_batchnorm.append(node.name)
        return imp.set(node, 0, x)
    if not x.batched and (x.shape[0] != 1 or imp.batch != 1):
        raise imp.unsupported(node, f"a batch norm over axis 1 of {list(x.shape)}, whose batch axis was merged away, "
                                    "that folds into no linear")
    x = imp.batched(node, x)
    if scale.size != x.shape[1]:
        raise imp.error(node, f"scale has {scale.size} values for {x.shape[1]} channels")
    imp.out(node, imp.add(node, L.BatchNorm, [x]), batched=True)


def _lowered_conv(imp: Importer, name: str | None, channels: int | None) -> tuple[str | None, int]:
    """``(the Conv2d or Linear, its weight rows per channel)`` whose output the layer ``name`` is, when both come from
    one ONNX Conv / ConvTranspose node that this importer lowered (a Conv1d: ``Conv2d -> Reshape``; a Conv3d or a
    ConvTranspose: ``Linear [-> Col2Im] -> Reshape -> Transpose -> Reshape``), each layer read by the next alone,
    with ``channels`` output channels; else ``(None, 1)``."""
    node = imp.node_of.get(name) if name is not None else None
    col2im = False
    while name is not None and imp.node_of.get(name) == node:
        layer = imp.graph.layer(name)
        if isinstance(layer, L.Conv2d):
            return (name, 1) if layer.out_channels == channels else (None, 1)
        if isinstance(layer, L.Linear):  # a grouped one (depthwise Conv3d) holds its groups' rows channel by channel
            grouped = isinstance(layer, L.GroupedLinear)
            rows = int(layer.out_features) * (int(layer.groups) if grouped else 1)
            if channels and rows % channels == 0 and (rows == channels or (col2im and not grouped)):
                return name, rows // channels
            return None, 1
        generic_col2im = isinstance(layer, L.Generic) and layer.op_type == "Col2Im"
        if not (isinstance(layer, (L.Reshape, L.Transpose)) or generic_col2im):
            return None, 1
        col2im |= generic_col2im
        inputs = imp.graph.inputs_of(name)
        if len(inputs) != 1 or len(imp.graph.successors(inputs[0])) != 1:
            return None, 1
        name = inputs[0]
    return None, 1


def _linear_under_reshapes(imp: Importer, x: Value, channels: int | None) -> str | None:
    """The ``Linear`` whose output ``x`` (an ``(M, C)`` view, axis 1 its channels) is, through reshapes that keep
    the last axis (LeViT's ``MatMul -> Flatten -> BatchNormalization``), each layer read by the next alone; else
    None."""
    name = x.layer
    if len(x.shape) != 2 or name is None:
        return None
    while isinstance(imp.graph.layer(name), (L.Reshape, L.Flatten)):
        layer = imp.graph.layer(name)
        if layer.output_shape[-1] != channels or layer.input_shapes[0][-1] != channels:
            return None
        (name,) = imp.graph.inputs_of(name)
        if len(imp.graph.successors(name)) != 1:
            return None
    return name if isinstance(imp.graph.layer(name), L.Linear) and not isinstance(imp.graph.layer(name), L.GroupedLinear) \
        else None


@register("Softmax", "LogSoftmax")
def _convert_softmax(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    local = imp.local_axis(node, x, int(node.attrs.get("axis", -1 if imp.opset >= 13 else 1)))
    imp.out(node, imp.add(node, L.Softmax, [x], axis=local - len(x.local_shape)), batched=x.batched)


@register("LayerNormalization", "_LayerNorm", "SimplifiedLayerNormalization", "com.microsoft::SimplifiedLayerNormalization",
          "RMSNormalization")
def _convert_layernorm(imp: Importer, node: Node) -> None:
    """Normalization over the last axis (``rms`` for the simplified / RMS forms; ``_LayerNorm``: fused by fuse.py)."""
    x = imp.activation(node, 0)
    if node.op_type != "_LayerNorm":
        axis = int(node.attrs.get("axis", -1)) % len(x.shape)
        if axis != len(x.shape) - 1:
            raise imp.unsupported(node, f"normalization over axes {axis}.. of {list(x.shape)}; only the last axis is supported")
    fields = {}
    if node.op_type == "LayerNormalization":
        imp.const(node, 1, "scale")
        if not (len(node.inputs) > 2 and node.inputs[2]):  # no B: a scale only
            fields["shift"] = False
    rms = bool(node.attrs.get("rms", False)) if node.op_type == "_LayerNorm" else node.op_type != "LayerNormalization"
    if rms:
        fields["rms"] = True
    imp.out(node, imp.add(node, L.LayerNorm, [x], **fields), batched=x.batched)
    Q._mark_output(imp, node, node.attrs.get("output_bits"))  # a fused QOperator chain's output codes (fuse.py)


@register("InstanceNormalization", "GroupNormalization")
def _convert_instance_norm(imp: Importer, node: Node) -> None:
    """Instance normalization (each sample's channel over its spatial axes) and group normalization (each group of
    channels): the input viewed as ``(N, groups, elements)``, normalised over the last axis (a ``LayerNorm`` whose
    scale and shift hold one value per channel, or per group under GroupNormalization's opset 18), viewed back."""
    x = imp.activation(node, 0)
    if len(x.shape) < 3:
        raise imp.error(node, f"input must be (N, C, D1, ...); got {list(x.shape)}")
    channels = int(x.shape[1])
    groups = int(node.attrs["num_groups"]) if node.op_type == "GroupNormalization" else channels
    if groups < 1 or channels % groups:
        raise imp.error(node, f"num_groups {groups} does not divide the {channels} channels")
    scale = np.asarray(imp.const(node, 1, "scale"))
    if scale.size not in (channels, groups):
        raise imp.error(node, f"scale has {scale.size} values for {channels} channels in {groups} groups")
    rows = imp.reshape_to(node, x, (x.shape[0], groups, math.prod(x.shape[1:]) // groups), suffix="/groups")
    norm = imp.layer(node, L.LayerNorm, [rows], "/norm", affine=int(scale.size))
    imp.reshape_to(node, norm, x.shape)


def _explicit_einsum(eq: str, ranks: list[int]) -> str | None:
    """``eq`` with each ``...`` spelled out as letters it does not use (right-aligned across operands, as
    broadcasting aligns them), or None when it has no explicit output."""
    if "->" not in eq:
        return None
    lhs, out = eq.split("->")
    terms = lhs.split(",")
    if "..." not in eq:
        return eq
    widths = [rank - (len(t) - 3) if "..." in t else 0 for t, rank in zip(terms, ranks)]
    spare = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
    n = max(widths)
    if min(widths) < 0 or n > len(spare):
        return None
    ell = "".join(spare[:n])
    terms = [t.replace("...", ell[n - w:]) for t, w in zip(terms, widths)]
    return ",".join(terms) + "->" + out.replace("...", ell)


def _sum_own_indices(imp: Importer, node: Node, v: Value, term: str, others: str, tag: str) -> tuple[Value, str]:
    """``v`` (indexed by ``term``) with the indices that neither the other operand nor the output has summed out:
    a constant numerically, an activation by a ``Generic`` ReduceSum (no MACs; not its batch axis; not when
    ``strict``, which refuses generic layers)."""
    summed = [i for i, c in enumerate(term) if c not in others]
    per_sample = v.batched and not v.is_const  # index 0 is the batch axis
    if not summed or len(summed) == len(term) - per_sample or (per_sample and 0 in summed) \
            or (imp.strict and not v.is_const):
        return v, term  # the batch axis, or every per-sample index, summed: left to the checks below
    kept = "".join(c for i, c in enumerate(term) if i not in summed)
    if v.is_const:
        return Value(tuple(d for i, d in enumerate(v.shape) if i not in summed), None, False,
                     const=np.sum(np.asarray(v.const), axis=tuple(summed))), kept
    shape = tuple(d for i, d in enumerate(v.shape) if i not in summed)
    local = shape[1:] if v.batched else shape
    return imp.layer(node, L.Generic, [v], suffix=f"/{tag}_sum", op_type="ReduceSum", output_shapes=(local,)), kept


@register("Einsum")
def _convert_einsum(imp: Importer, node: Node) -> None:
    """A two-operand Einsum without reductions outside the contraction (``bhid,bhjd->bhij``, ``bld,dh->blh``,
    ``...e,ef->...f``) as the batched product it is: operands transposed and reshaped to ``(batch, M, K)`` /
    ``(batch, K, N)`` (the model batch, a batched operand's axis 0, kept as their leading axis), one ``MatMul`` (a
    ``Linear`` when the right operand is a constant sharing no kept index), then the output layout."""
    raw = str(node.attrs["equation"]).replace(" ", "")
    a, b = (imp.value(node, i) for i in (0, 1)) if len(node.inputs) == 2 else (None, None)
    eq = _explicit_einsum(raw, [len(a.shape), len(b.shape)]) if a is not None and raw.count(",") == 1 else None
    if eq is None:
        raise imp.unsupported(node, f"equation '{raw}' (only explicit two-operand products are lowered)")
    (ta, tb), out = eq.split("->")[0].split(","), eq.split("->")[1]
    if a.is_const and not b.is_const:  # a product does not depend on its operands' order (Pegasus-X's global queries)
        a, b, ta, tb = b, a, tb, ta
    if a.is_const or len(ta) != len(a.shape) or len(tb) != len(b.shape) or len(set(ta)) < len(ta) or len(set(tb)) < len(tb):
        raise imp.unsupported(node, f"equation '{raw}' on operands {list(a.shape)}, {list(b.shape)}")
    if a.batched and ta[0] in tb and not (b.batched and not b.is_const) and b.shape[tb.index(ta[0])] == 1 \
            and (b.is_const or imp.batch == 1):
        # b broadcast over the batch along a size-1 axis (a one-hot or table built from shapes, LongT5's
        # ``...nd,...ng->...gd``): the batch-free operand it is
        axis = tb.index(ta[0])
        squeezed = b.shape[:axis] + b.shape[axis + 1:]
        b = Value(squeezed, None, False, const=np.squeeze(b.const, axis)) if b.is_const else \
            imp.reshape_to(Node(f"{node.name}/b_squeeze", "Reshape", [], [], {}), b, squeezed, index=None)
        tb = tb[:axis] + tb[axis + 1:]
    # an index of one operand only that the output drops (``bij,bjk->bk`` sums i): summed out of that operand
    # first, as torch.einsum does, so the product's MACs are those of the reduced operand
    a, ta = _sum_own_indices(imp, node, a, ta, tb + out, "a")
    b, tb = _sum_own_indices(imp, node, b, tb, ta + out, "b")
    size = dict(zip(ta, a.shape))
    if any(size.get(c, d) != d for c, d in zip(tb, b.shape)):
        raise imp.unsupported(node, f"equation '{raw}' broadcasts an index of {list(a.shape)}, {list(b.shape)}")
    size.update(zip(tb, b.shape))
    lead = [ta[0]] if a.batched else []  # the model batch stays the leading axis of every view
    b_batched = b.batched and not b.is_const
    if lead and (lead[0] not in out or (b_batched and tb[0] != lead[0]) or (not b_batched and lead[0] in tb)):
        raise imp.unsupported(node, f"equation '{raw}' moves or sums the batch axis")
    batch = [c for c in ta if c in tb and c in out and c not in lead]
    contract = [c for c in ta if c in tb and c not in out]
    free_a, free_b = [c for c in ta if c not in tb and c not in lead], [c for c in tb if c not in ta]
    if any(c not in out for c in free_a + free_b) or sorted(out) != sorted(lead + batch + free_a + free_b):
        raise imp.unsupported(node, f"equation '{raw}' reduces or repeats an index outside the contraction")
    dims = lambda cs: int(np.prod([size[c] for c in cs]))  # noqa: E731
    lead_size = tuple(size[c] for c in lead)

    def permute(v: Value, perm: list[int], tag: str, outputs: list[str]) -> Value:
        if perm == list(range(len(perm))):
            return v
        tmp = Node(f"{node.name}/{tag}_t", "Transpose", [f"{node.name}::{tag}"], outputs or [f"{node.name}::{tag}_t"], {"perm": perm})
        imp.values[tmp.inputs[0]] = v
        _convert_transpose(imp, tmp)
        return imp.values[tmp.outputs[0]]

    def arrange(v: Value, term: str, order: list[str], shape: tuple[int, ...], tag: str) -> Value:
        v = permute(v, [term.index(c) for c in order], tag, [])
        return imp.reshape_to(Node(f"{node.name}/{tag}", "Reshape", [], [], {}), v, shape, suffix="")

    x = arrange(a, ta, lead + batch + free_a + contract, (*lead_size, dims(batch), dims(free_a), dims(contract)), "a")
    if b.is_const and not batch:  # activation @ weight: a Linear
        w = np.transpose(np.asarray(b.const), [tb.index(c) for c in contract + free_b]).reshape(dims(contract), -1)
        rows = imp.reshape_to(Node(f"{node.name}/a2", "Reshape", [], [], {}), x, (*lead_size, dims(free_a), dims(contract)))
        imp.linear(node, rows, w.T, None)
    else:  # a constant sharing an index with the activation (a relative-position table): read from a source
        if b.is_const:
            b = imp.constant_source(node, b, None, "/b_const")
        b_lead = lead if b_batched else []
        _matmul_layer(imp, node, x, arrange(b, tb, b_lead + batch + contract + free_b,
                                            (*lead_size[:len(b_lead)], dims(batch), dims(contract), dims(free_b)), "b"))
    order = lead + batch + free_a + free_b
    full = imp.reshape_to(node, imp.values[node.outputs[0]], tuple(size[c] for c in order), suffix="/split")
    permute(full, [order.index(c) for c in out], "out", node.outputs)


_GATE_ORDER = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}  # ONNX -> PyTorch gate blocks: LSTM iofc -> ifgo;
# GRU zrh -> rzn


@register("LSTM", "GRU", "RNN")
def _convert_rnn(imp: Importer, node: Node) -> None:
    """One cell layer per direction; ``Y`` / ``Y_h`` (``Y_c``) get their ONNX shapes through Reshape / Slice / Concat.
    A constant input (a decoder's first step on a constant token's embedding) is read from a Generic source."""
    x = imp.value(node, 0)
    if x.is_const:
        x = imp.constant_source(node, x, None, "/x_const")
    w, r, b = imp.const(node, 1, "W"), imp.const(node, 2, "R"), imp.optional_const(node, 3, "B")
    if node.op_type == "LSTM" and imp.optional(node, 7) is not None:
        raise imp.unsupported(node, "peephole weights (input P) are not supported")
    hidden, direction, layout = int(node.attrs["hidden_size"]), node.attrs.get("direction", "forward"), int(node.attrs.get("layout", 0))
    dirs, gates = 2 if direction == "bidirectional" else 1, {"LSTM": 4, "GRU": 3, "RNN": 1}[node.op_type]
    if len(x.shape) != 3 or w.shape != (dirs, gates * hidden, x.shape[2]) or r.shape != (dirs, gates * hidden, hidden):
        raise imp.error(node, f"weights W {list(w.shape)} / R {list(r.shape)} do not match input {list(x.shape)}, "
                              f"hidden_size {hidden}, direction {direction}")
    if b is not None and b.shape != (dirs, 2 * gates * hidden):
        raise imp.error(node, f"bias B has shape {list(b.shape)}; expected {[dirs, 2 * gates * hidden]}")
    for index, what in ((5, "initial_h"), (6, "initial_c")):  # (an LSTM with projections exported as a plain one)
        state = imp.optional(node, index) if index < len(node.inputs) and (index < 6 or node.op_type == "LSTM") else None
        if state is not None and (len(state.shape) != 3 or state.shape[-1] != hidden):
            raise imp.error(node, f"{what} has shape {list(state.shape)}; its last axis must be hidden_size {hidden}")
    if layout == 0 and x.batched:
        raise imp.error(node, "layout 0 expects (seq, batch, input); the batch axis of this input is axis 0")
    time_axis = 1 if layout else 0  # full-shape axis of the sequence
    blocks = lambda m: np.concatenate([m[g * hidden:(g + 1) * hidden] for g in _GATE_ORDER[node.op_type]], axis=0)  # noqa: E731
    cells = []
    for d in range(dirs):
        parts = [blocks(w[d]), blocks(r[d])]
        if b is not None:
            parts.append(blocks(b[d, : gates * hidden].reshape(-1, 1)) + blocks(b[d, gates * hidden:].reshape(-1, 1)))
        cell = imp.add(node, {"LSTM": L.LSTMCell, "GRU": L.GRUCell, "RNN": L.RNNCell}[node.op_type], [x],
                       suffix="" if d == 0 else "/reverse",
                       hidden_size=hidden, bias=b is not None)
        imp.set_weight(node, cell.name, np.concatenate(parts, axis=1))
        cells.append(Value((*x.shape[:-1], hidden), cell.name, x.batched))

    def stack(values: list[Value], axis: int, tag: str, index: int) -> None:
        if dirs == 2:
            if not all(v.batched for v in values):
                values = [imp.unbatched(node, v) for v in values]
            layer = imp.add(node, L.Concat, values, suffix=tag, axis=imp.local_axis(node, values[0], axis))
            imp.out(node, layer, batched=values[0].batched, index=index)

    if imp.used(node.outputs[0] if node.outputs else ""):  # Y: (seq, dirs, batch, hidden) / (batch, seq, dirs, hidden)
        per_dir = [imp.reshape_to(node, c, (*c.shape[:time_axis + 1], 1, *c.shape[time_axis + 1:]), suffix=f"/y{d}")
                   for d, c in enumerate(cells)]
        stack(per_dir, time_axis + 1, "/y", 0)
    for index in (1, 2):  # Y_h (and Y_c): (dirs, batch, hidden) for layout 0, (batch, dirs, hidden) for layout 1
        name = node.outputs[index] if index < len(node.outputs) else ""
        if not imp.used(name):
            continue
        if index == 2 and node.op_type == "LSTM" and node.outputs[1] in imp.values:
            imp.values[name] = imp.values[node.outputs[1]]  # the cell state has the hidden state's shape
            continue
        finals = []
        for d, cell in enumerate(cells):
            step = x.shape[time_axis] - 1 if d == 0 else 0
            last = _slice_axis(imp, node, cell, time_axis, step, step + 1, suffix=f"/h{d}")
            shape = [s for i, s in enumerate(last.shape) if i != time_axis]
            shape.insert(1 if layout else 0, 1)  # the direction axis
            finals.append(imp.reshape_to(node, last, tuple(shape), index=index, suffix=f"/h{d}"))
        stack(finals, 1 if layout else 0, "/h", index)
