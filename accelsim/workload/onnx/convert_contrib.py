"""Converters for the ``com.microsoft`` contrib ops onnxruntime's transformer optimizer and quantizer emit.

Fused ops are unfolded into the accelsim layers they compute, so MACs match the unfused model:

* ``Attention`` / ``QAttention``: the packed QKV ``Linear``, per-head ``Reshape`` / ``Transpose``, the two
  attention ``MatMul`` s and the ``Softmax``; ``MultiHeadAttention`` (Q, K, V already projected) and
  ``GroupQueryAttention`` (K / V heads shared by ``num_heads / kv_num_heads`` query heads, with past KV)
  the same without the projection. Attention masks, relative position biases and rotary embeddings add
  no MACs and are dropped (``metadata["notes"]``).
* ``SkipLayerNormalization`` / ``SkipSimplifiedLayerNormalization``: ``Eltwise`` add + ``LayerNorm``
  (``rms`` for the simplified one); ``SimplifiedLayerNormalization`` / ``RMSNormalization``: ``LayerNorm(rms)``.
* ``EmbedLayerNormalization``: word (and segment) ``Embedding``, position table add, ``LayerNorm``.
* ``FastGelu``, ``BiasGelu``, ``Gelu``, ``QuickGelu``: ``Activation(gelu)`` (a bias add folded in);
  ``FusedMatMul``: ``Linear`` or ``MatMul``; ``FusedConv``: ``Conv2d`` + its activation.

``MatMulNBits``, ``DynamicQuantizeMatMul`` and ``MatMulIntegerToFloat`` are in ``quant.py``.
"""

from __future__ import annotations

import numpy as np

from accelsim.workload import layers as L
from accelsim.workload.onnx import qformat as Q
from accelsim.workload.onnx.convert_compute import _ACTIVATION_FUNCS, _convert_conv, _linear, _matmul_layer
from accelsim.workload.onnx.convert_shape import _slice_axis
from accelsim.workload.onnx.importer import Importer, Node, Value, register
from accelsim.workload.onnx.quant import _dequantized

MS = "com.microsoft::"


def _layer(imp: Importer, node: Node, cls, inputs, suffix: str, **fields) -> Value:
    layer = imp.add(node, cls, inputs, suffix=suffix, **fields)
    batched = inputs[0].batched if inputs else False
    return Value((imp.batch, *layer.output_shape) if batched else tuple(layer.output_shape), layer.name, batched)


def _heads(imp: Importer, node: Node, x: Value, heads: int, tag: str, key: bool = False, group: int = 0) -> Value:
    """``(B, S, heads * d)`` -> ``(heads, S, d)`` per sample (``(heads, d, S)`` for a key); with ``group``,
    the heads are split into ``(heads // group, group, ...)`` for grouped-query attention."""
    if not x.batched or len(x.shape) != 3:
        raise imp.unsupported(node, f"attention input of shape {list(x.shape)}; expected (batch, sequence, hidden)")
    b, s, hidden = x.shape
    if hidden % heads:
        raise imp.error(node, f"hidden size {hidden} is not a multiple of {heads} heads")
    d = hidden // heads
    split = imp.reshape_to(node, x, (b, s, heads, d), suffix=f"/{tag}_heads")
    perm = [1, 2, 0] if key else [1, 0, 2]
    out = _layer(imp, node, L.Transpose, [split], f"/{tag}_t", perm=perm)
    if group:
        shape = (heads // group, group, *out.shape[2:])
        out = imp.reshape_to(node, out, (b, *shape), suffix=f"/{tag}_groups")
    return out


def _attention_core(imp: Importer, node: Node, q: Value, k: Value, v: Value, heads: int, kv_heads: int | None = None) -> Value:
    """Scaled dot-product attention of projected ``q`` (B, S, H), ``k`` (B, L, H_kv), ``v`` (B, L, H_v):
    two batched MatMuls and a Softmax; returns the context (B, S, H_v)."""
    kv_heads = kv_heads or heads
    group = heads // kv_heads if kv_heads != heads else 0
    qh = _heads(imp, node, q, heads, "q")
    if group:
        b, s = q.shape[0], q.shape[1]
        qh = imp.reshape_to(node, qh, (b, kv_heads, group, s, q.shape[2] // heads), suffix="/q_groups")
    kh = _heads(imp, node, k, kv_heads, "k", key=True)
    vh = _heads(imp, node, v, kv_heads, "v")
    if group:
        kh = imp.reshape_to(node, kh, (kh.shape[0], kv_heads, 1, *kh.shape[2:]), suffix="/k_groups")
        vh = imp.reshape_to(node, vh, (vh.shape[0], kv_heads, 1, *vh.shape[2:]), suffix="/v_groups")
    scores = _layer(imp, node, L.MatMul, [qh, kh], "/scores")
    probs = _layer(imp, node, L.Softmax, [scores], "/softmax", axis=-1)
    ctx = _layer(imp, node, L.MatMul, [probs, vh], "/context")
    b, s = q.shape[0], q.shape[1]
    hv = v.shape[2] // kv_heads
    if group:
        ctx = imp.reshape_to(node, ctx, (b, heads, s, hv), suffix="/ctx_heads")
    ctx = _layer(imp, node, L.Transpose, [ctx], "/ctx_t", perm=[1, 0, 2])
    return imp.reshape_to(node, ctx, (b, s, heads * hv), suffix="/merge")


def _split_last(imp: Importer, node: Node, x: Value, sizes: list[int], tags: list[str]) -> list[Value]:
    out, start = [], 0
    for size, tag in zip(sizes, tags):
        out.append(_slice_axis(imp, node, x, len(x.shape) - 1, start, start + size, suffix=f"/{tag}"))
        start += size
    return out


def _unused(imp: Importer, node: Node, indices, what: str) -> None:
    for i in indices:
        if i < len(node.outputs) and node.outputs[i] and (imp.consumers.get(node.outputs[i]) or node.outputs[i] in imp.graph_outputs):
            raise imp.unsupported(node, f"output {i} ({what}) is used")


def _packed_attention(imp: Importer, node: Node, x: Value, weight: np.ndarray, bias, quant=None) -> None:
    heads = int(node.attrs["num_heads"])
    sizes = [int(s) for s in node.attrs.get("qkv_hidden_sizes", [])] or [weight.shape[1] // 3] * 3
    if imp.optional(node, 4) is not None and not imp.value(node, 4).is_const:
        raise imp.unsupported(node, "past key / value input (use MultiHeadAttention or GroupQueryAttention)")
    _unused(imp, node, [1], "present key / value")
    qkv_node = Node(node.name, node.op_type, node.inputs, [f"{node.name}::qkv"], node.attrs, node.domain)
    _linear(imp, qkv_node, x, weight.T, bias, quant=quant)
    qkv = imp.values[f"{node.name}::qkv"]
    q, k, v = _split_last(imp, node, qkv, sizes, ["q", "k", "v"])
    imp.set(node, 0, _attention_core(imp, node, q, k, v, heads))
    imp.note("attention masks and position biases of fused attention ops add no MACs and are not modelled")


@register(MS + "Attention")
def _convert_attention(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    w = np.asarray(imp.const(node, 1, "the QKV weight"))
    b = imp.optional_const(node, 2, "the QKV bias")
    _packed_attention(imp, node, x, w, b, quant=Q.weight_quant(imp.value(node, 1), 1, lambda m: m.T))


@register(MS + "QAttention")
def _convert_qattention(imp: Importer, node: Node) -> None:
    """QAttention: input (uint8), weight (int8), bias, input_scale, weight_scale, mask, input_zp, weight_zp, past."""
    x = imp.activation(node, 0)
    name = _dequantized(imp, node, 1, 4, 7, axis=1 if np.asarray(imp.const(node, 4)).size > 1 else 0)
    wv = imp.values[name]
    past = Node(node.name, node.op_type, [node.inputs[0], name, node.inputs[2], "", node.inputs[8] if len(node.inputs) > 8 else ""],
                node.outputs, node.attrs, node.domain)
    _packed_attention(imp, past, x, np.asarray(wv.const), imp.optional_const(node, 2, "the bias"),
                      quant=Q.weight_quant(wv, 1, lambda m: m.T))
    layer = imp.values[f"{node.name}::qkv"].layer
    imp.quantization.setdefault(layer, {})["activation_bits"] = 8


@register(MS + "MultiHeadAttention")
def _convert_mha(imp: Importer, node: Node) -> None:
    q = imp.activation(node, 0)
    k, v = imp.optional(node, 1), imp.optional(node, 2)
    heads = int(node.attrs["num_heads"])
    if k is None or v is None or k.is_const or v.is_const or len(k.shape) != 3:
        raise imp.unsupported(node, "packed or cross-attention key / value layouts")
    for i in (6, 7):
        if imp.optional(node, i) is not None and not imp.value(node, i).is_const:
            raise imp.unsupported(node, "past key / value inputs")
    _unused(imp, node, [1, 2], "present key / value")
    imp.set(node, 0, _attention_core(imp, node, q, k, v, heads))
    imp.note("MultiHeadAttention: the QKV bias, masks and attention bias add no MACs and are not modelled")


@register(MS + "GroupQueryAttention")
def _convert_gqa(imp: Importer, node: Node) -> None:
    """Grouped-query attention with a KV cache: present K / V = past ++ new along the sequence."""
    q = imp.activation(node, 0)
    heads, kv_heads = int(node.attrs["num_heads"]), int(node.attrs["kv_num_heads"])
    k, v = imp.optional(node, 1), imp.optional(node, 2)
    if k is None:  # packed QKV
        d = q.shape[2] // (heads + 2 * kv_heads)
        q, k, v = _split_last(imp, node, q, [heads * d, kv_heads * d, kv_heads * d], ["q", "k", "v"])
    for tag, index, new, out_index in (("k", 3, k, 1), ("v", 4, v, 2)):
        past = imp.optional(node, index)
        if past is not None and not past.is_const and past.batched and len(past.shape) == 4:
            b, s, hidden = new.shape
            d = hidden // kv_heads
            # new tokens as (B, kv_heads, S, d), appended to the cache along the sequence axis
            nh = imp.reshape_to(node, new, (b, s, kv_heads, d), suffix=f"/{tag}_new")
            nh = _layer(imp, node, L.Transpose, [nh], f"/{tag}_new_t", perm=[1, 0, 2])
            cat = _layer(imp, node, L.Concat, [past, nh], f"/{tag}_present", axis=1)
            imp.set(node, out_index, cat)
            back = _layer(imp, node, L.Transpose, [cat], f"/{tag}_all", perm=[1, 0, 2])
            merged = imp.reshape_to(node, back, (b, cat.shape[2], hidden), suffix=f"/{tag}_seq")
            if tag == "k":
                k = merged
            else:
                v = merged
        elif past is not None and not past.is_const:
            raise imp.unsupported(node, f"past {tag} of shape {list(past.shape)}")
    ctx = _attention_core(imp, node, q, k, v, heads, kv_heads)
    imp.set(node, 0, ctx)
    imp.note("GroupQueryAttention: rotary embeddings, sequence lengths and masks add no MACs and are not modelled")


def _skip_layernorm(imp: Importer, node: Node, rms: bool) -> None:
    x, skip = imp.activation(node, 0), imp.value(node, 1)
    if skip.is_const or skip.shape != x.shape:
        raise imp.unsupported(node, f"a skip input of shape {list(skip.shape)} for input {list(x.shape)}")
    if not (x.batched and skip.batched):
        x, skip = imp.unbatched(node, x), imp.unbatched(node, skip)
    total = _layer(imp, node, L.Eltwise, [x, skip], "/add", func="add")
    norm = _layer(imp, node, L.LayerNorm, [total], "", rms=rms)
    imp.set(node, 0, norm)
    imp.set(node, 3, total)


@register(MS + "SkipLayerNormalization")
def _convert_skip_layernorm(imp: Importer, node: Node) -> None:
    _skip_layernorm(imp, node, rms=False)


@register(MS + "SkipSimplifiedLayerNormalization")
def _convert_skip_rmsnorm(imp: Importer, node: Node) -> None:
    _skip_layernorm(imp, node, rms=True)


@register("SimplifiedLayerNormalization", MS + "SimplifiedLayerNormalization", "RMSNormalization")
def _convert_rmsnorm(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    axis = int(node.attrs.get("axis", -1)) % len(x.shape)
    if axis != len(x.shape) - 1:
        raise imp.unsupported(node, f"normalization over axes {axis}.. of {list(x.shape)}; only the last axis is supported")
    imp.set(node, 0, _layer(imp, node, L.LayerNorm, [x], "", rms=True))


@register(MS + "EmbedLayerNormalization")
def _convert_embed_layernorm(imp: Importer, node: Node) -> None:
    ids = imp.activation(node, 0)
    word = np.asarray(imp.const(node, 2, "the word embedding"))
    emb = imp.add(node, L.Embedding, [ids], suffix="/word", num_embeddings=int(word.shape[0]), embedding_dim=int(word.shape[1]))
    imp.set_weight(node, emb.name, word)
    h = Value((imp.batch, *emb.output_shape) if ids.batched else tuple(emb.output_shape), emb.name, ids.batched)
    segments = imp.optional(node, 1)
    table = imp.optional_const(node, 4, "the segment embedding")
    if segments is not None and not segments.is_const and table is not None:
        seg = imp.add(node, L.Embedding, [segments], suffix="/segment", num_embeddings=int(table.shape[0]),
                      embedding_dim=int(table.shape[1]))
        imp.set_weight(node, seg.name, np.asarray(table))
        sv = Value(h.shape, seg.name, segments.batched)
        h = _layer(imp, node, L.Eltwise, [h, sv], "/add_segment", func="add")
    h = _layer(imp, node, L.Identity, [h], "/add_position")
    imp.set(node, 0, _layer(imp, node, L.LayerNorm, [h], ""))
    imp.set(node, 1, Value((imp.batch,), const=np.zeros(imp.batch, np.int32)))
    imp.set(node, 2, h)
    imp.note("EmbedLayerNormalization: the position table add is an Identity (no MACs); mask_index is not modelled")


@register(MS + "FastGelu", MS + "BiasGelu", MS + "Gelu", MS + "QuickGelu")
def _convert_gelu(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    if len(node.inputs) > 1 and node.inputs[1] and not imp.value(node, 1).is_const:
        raise imp.unsupported(node, "an activation bias operand")
    imp.set(node, 0, _layer(imp, node, L.Activation, [x], "", func="gelu"))


@register(MS + "FusedMatMul")
def _convert_fused_matmul(imp: Importer, node: Node) -> None:
    a, b = imp.activation(node, 0), imp.value(node, 1)
    if node.attrs.get("transA", 0) or node.attrs.get("transBatchA", 0) or node.attrs.get("transBatchB", 0):
        raise imp.unsupported(node, "transposed left operand or batch axes")
    alpha = float(node.attrs.get("alpha", 1.0))
    trans_b = bool(node.attrs.get("transB", 0))
    if b.is_const:
        w = np.asarray(b.const)
        if w.ndim != 2:
            raise imp.unsupported(node, f"a constant operand of shape {list(w.shape)}")
        _linear(imp, node, a, (w if trans_b else w.T) * alpha, None)
        return
    if trans_b:
        rank = len(b.local_shape)
        perm = list(range(rank - 2)) + [rank - 1, rank - 2]
        b = _layer(imp, node, L.Transpose, [b], "/b_t", perm=perm)
    _matmul_layer(imp, node, a, b)


@register(MS + "FusedConv")
def _convert_fused_conv(imp: Importer, node: Node) -> None:
    act = node.attrs.get("activation", "")
    conv_node = Node(node.name, "Conv", node.inputs[:3], [f"{node.name}::conv"], node.attrs, "")
    _convert_conv(imp, conv_node)
    y = imp.values[f"{node.name}::conv"]
    if len(node.inputs) > 3 and node.inputs[3]:
        raise imp.unsupported(node, "a fused residual input Z")
    func = _ACTIVATION_FUNCS.get(act, act.lower() or None)
    if func and func not in L.ACTIVATIONS:
        raise imp.unsupported(node, f"activation {act}")
    imp.set(node, 0, _layer(imp, node, L.Activation, [y], "/act", func=func) if func else y)
