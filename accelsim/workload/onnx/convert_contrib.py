"""Converters for the ``com.microsoft`` ops of onnxruntime's transformer optimizer, unfolded into the layers they
compute so MACs match the unfused model (the list is in ``docs/importers.md``); masks, position biases and rotary
embeddings add no MACs and are dropped with a note. Quantized contrib ops are in ``quant.py``.
"""

from __future__ import annotations

import numpy as np

from accelsim.workload import layers as L
from accelsim.workload.onnx import quant as Q
from accelsim.workload.onnx.convert_compute import ACTIVATION_FUNCS, _convert_conv
from accelsim.workload.onnx.convert_shape import _slice_axis
from accelsim.workload.onnx.importer import CONVERTERS, Importer, Node, Value, register

MS = "com.microsoft::"
NCHWC = "com.microsoft.nchwc::"


def _heads(imp: Importer, node: Node, x: Value, heads: int, tag: str, key: bool = False) -> Value:
    """``(B, S, heads * d)`` -> ``(heads, S, d)`` per sample (``(heads, d, S)`` for a key); at batch 1 a
    tensor carried whole is rebatched."""
    if not x.batched and imp.batch == 1 and len(x.shape) == 3 and x.shape[0] == 1:
        x = imp.batched(node, x)
    if not x.batched or len(x.shape) != 3:
        raise imp.unsupported(node, f"attention input of shape {list(x.shape)}; expected (batch, sequence, hidden)")
    b, s, hidden = x.shape
    if hidden % heads:
        raise imp.error(node, f"hidden size {hidden} is not a multiple of {heads} heads")
    split = imp.reshape_to(node, x, (b, s, heads, hidden // heads), suffix=f"/{tag}_heads")
    return imp.layer(node, L.Transpose, [split], f"/{tag}_t", perm=[1, 2, 0] if key else [1, 0, 2])


def _attention_core(imp: Importer, node: Node, q: Value, k: Value, v: Value, heads: int, kv_heads: int | None = None) -> Value:
    """Scaled dot-product attention of projected ``q`` (B, S, H), ``k`` (B, L, H_kv), ``v`` (B, L, H_v): two batched
    MatMuls and a Softmax (K / V heads grouped for grouped-query attention); returns the context (B, S, H_v)."""
    kv_heads = kv_heads or heads
    ctx = _head_products(imp, node, _heads(imp, node, q, heads, "q"), _heads(imp, node, k, kv_heads, "k", key=True),
                         _heads(imp, node, v, kv_heads, "v"))
    return _merge_heads(imp, node, ctx)


def _head_products(imp: Importer, node: Node, qh: Value, kh: Value, vh: Value) -> Value:
    """The two products of attention split into heads: ``qh`` (B, H, S, d), keys ``kh`` (B, H_kv, d, L), values
    ``vh`` (B, H_kv, L, d_v), each K / V head shared by ``H / H_kv`` query heads (broadcast over a group axis);
    returns the context (B, H, S, d_v)."""
    (b, heads, s, d), kv_heads = qh.shape, kh.shape[1]
    group = heads // kv_heads
    if group > 1:
        qh = imp.reshape_to(node, qh, (b, kv_heads, group, s, d), suffix="/q_groups")
        kh = imp.reshape_to(node, kh, (kh.shape[0], kv_heads, 1, *kh.shape[2:]), suffix="/k_groups")
        vh = imp.reshape_to(node, vh, (vh.shape[0], kv_heads, 1, *vh.shape[2:]), suffix="/v_groups")
    probs = imp.layer(node, L.Softmax, [imp.layer(node, L.MatMul, [qh, kh], "/scores")], "/softmax", axis=-1)
    ctx = imp.layer(node, L.MatMul, [probs, vh], "/context")
    return imp.reshape_to(node, ctx, (b, heads, s, vh.shape[-1]), index=None, suffix="/ctx_heads")


def _merge_heads(imp: Importer, node: Node, ctx: Value) -> Value:
    """A context (B, H, S, d_v) as (B, S, H * d_v)."""
    b, heads, s, dv = ctx.shape
    return imp.reshape_to(node, imp.layer(node, L.Transpose, [ctx], "/ctx_t", perm=[1, 0, 2]), (b, s, heads * dv),
                          index=None, suffix="/merge")


def _head_count(imp: Importer, node: Node, key: str) -> int:
    """A head-count attribute (``num_heads``, ``kv_num_heads``): a positive integer, else a malformed node."""
    n = int(node.attrs[key])
    if n < 1:
        raise imp.error(node, f"attribute {key} must be a positive head count; got {n}")
    return n


def _split_last(imp: Importer, node: Node, x: Value, sizes: list[int], tags: list[str]) -> list[Value]:
    starts = np.cumsum([0, *sizes])
    return [_slice_axis(imp, node, x, len(x.shape) - 1, int(a), int(a + n), suffix=f"/{t}") for a, n, t in zip(starts, sizes, tags)]


def _unused(imp: Importer, node: Node, indices, what: str) -> None:
    for i in indices:
        if i < len(node.outputs) and imp.used(node.outputs[i]):
            raise imp.unsupported(node, f"output {i} ({what}) is used")


def _packed_attention(imp: Importer, node: Node, weight: np.ndarray, bias, quant=None, past: int = 4) -> str:
    """Packed-QKV attention on input 0; returns the QKV projection's layer name."""
    heads = _head_count(imp, node, "num_heads")
    sizes = [int(s) for s in node.attrs.get("qkv_hidden_sizes", [])] or [weight.shape[1] // 3] * 3
    if imp.optional(node, past) is not None and not imp.value(node, past).is_const:
        raise imp.unsupported(node, "past key / value input (use MultiHeadAttention or GroupQueryAttention)")
    _unused(imp, node, [1], "present key / value")
    qkv = imp.linear(Node(node.name, node.op_type, node.inputs, [], node.attrs, node.domain), imp.activation(node, 0),
                     weight.T, bias, quant=quant)
    imp.set(node, 0, _attention_core(imp, node, *_split_last(imp, node, qkv, sizes, ["q", "k", "v"]), heads))
    imp.note("attention masks and position biases of fused attention ops add no MACs and are not modelled")
    return qkv.layer


@register(MS + "Attention", MS + "QAttention")
def _convert_attention(imp: Importer, node: Node) -> None:
    """QAttention: input (uint8), weight (int8), bias, input_scale, weight_scale, mask, input_zp, weight_zp, past."""
    if node.op_type == "Attention":
        w = np.asarray(imp.const(node, 1, "the QKV weight"))
        return _packed_attention(imp, node, w, imp.optional_const(node, 2, "the QKV bias"),
                                 Q.weight_quant(imp.value(node, 1), 1, lambda m: m.T))
    imp.activation(node, 0)
    wv = imp.values[Q.dequantized(imp, node, 1, 4, 7, axis=1 if np.asarray(imp.const(node, 4)).size > 1 else 0)]
    layer = _packed_attention(imp, node, np.asarray(wv.const), imp.optional_const(node, 2, "the bias"),
                              Q.weight_quant(wv, 1, lambda m: m.T), past=8)
    imp.quantization.setdefault(layer, {})["activation_bits"] = 8


@register(MS + "MultiHeadAttention")
def _convert_mha(imp: Importer, node: Node) -> None:
    q, k, v = imp.activation(node, 0), imp.optional(node, 1), imp.optional(node, 2)
    if k is None or v is None or k.is_const or v.is_const or len(k.shape) != 3:
        raise imp.unsupported(node, "packed or cross-attention key / value layouts")
    if any(imp.optional(node, i) is not None and not imp.value(node, i).is_const for i in (6, 7)):
        raise imp.unsupported(node, "past key / value inputs")
    _unused(imp, node, [1, 2], "present key / value")
    imp.set(node, 0, _attention_core(imp, node, q, k, v, _head_count(imp, node, "num_heads")))
    imp.note("MultiHeadAttention: the QKV bias, masks and attention bias add no MACs and are not modelled")


@register(MS + "GroupQueryAttention")
def _convert_gqa(imp: Importer, node: Node) -> None:
    """Grouped-query attention with a KV cache: present K / V = past ++ new along the sequence."""
    q = imp.activation(node, 0)
    heads, kv_heads = _head_count(imp, node, "num_heads"), _head_count(imp, node, "kv_num_heads")
    kv = {"k": imp.optional(node, 1), "v": imp.optional(node, 2)}
    if kv["k"] is None:  # packed QKV
        d = q.shape[2] // (heads + 2 * kv_heads)
        q, kv["k"], kv["v"] = _split_last(imp, node, q, [heads * d, kv_heads * d, kv_heads * d], ["q", "k", "v"])
    for tag, index, out_index in (("k", 3, 1), ("v", 4, 2)):
        past, new = imp.optional(node, index), kv[tag]
        if past is not None and not past.is_const and past.batched and len(past.shape) == 4:
            b, s, hidden = new.shape  # new tokens as (B, kv_heads, S, d), appended to the cache along the sequence
            nh = imp.reshape_to(node, new, (b, s, kv_heads, hidden // kv_heads), suffix=f"/{tag}_new")
            cat = imp.layer(node, L.Concat, [past, imp.layer(node, L.Transpose, [nh], f"/{tag}_new_t", perm=[1, 0, 2])],
                            f"/{tag}_present", axis=1)
            imp.set(node, out_index, cat)
            back = imp.layer(node, L.Transpose, [cat], f"/{tag}_all", perm=[1, 0, 2])
            kv[tag] = imp.reshape_to(node, back, (b, cat.shape[2], hidden), suffix=f"/{tag}_seq")
        elif past is not None and not past.is_const:
            raise imp.unsupported(node, f"past {tag} of shape {list(past.shape)}")
    imp.set(node, 0, _attention_core(imp, node, q, kv["k"], kv["v"], heads, kv_heads))
    imp.note("GroupQueryAttention: rotary embeddings, sequence lengths and masks add no MACs and are not modelled")


@register("Attention")
def _convert_onnx_attention(imp: Importer, node: Node) -> None:
    """ONNX's own Attention (opset 23; torch's dynamo exporter writes one for each scaled_dot_product_attention):
    Q, K, V as ``(B, heads, S, d)``, or ``(B, S, heads * d)`` with ``q_num_heads`` / ``kv_num_heads``; a past key /
    value is joined to the new one along the sequence (the present outputs); K / V heads are shared by groups of
    query heads. Two batched MatMuls and a Softmax; the mask, scale and softcap add no MACs."""
    acts = [imp.activation(node, i) for i in range(3)]
    if any(not x.batched and (imp.batch != 1 or not x.shape or x.shape[0] != 1) for x in acts):
        raise imp.unsupported(node, "Q, K, V whose batch axis was moved or merged")
    q, k, v = (imp.batched(node, x) for x in acts)  # (batch 1 carried whole: rebatched)
    _unused(imp, node, [3], "qk_matmul_output")
    flat = len(q.shape) == 3
    if flat:  # (B, S, heads * d) -> (B, heads, S, d)
        heads, kv_heads = _head_count(imp, node, "q_num_heads"), _head_count(imp, node, "kv_num_heads")
        q, k, v = _heads(imp, node, q, heads, "q"), _heads(imp, node, k, kv_heads, "k"), _heads(imp, node, v, kv_heads, "v")
    if not all(len(x.shape) == 4 for x in (q, k, v)):
        raise imp.unsupported(node, f"Q, K, V of shapes {[list(x.shape) for x in (q, k, v)]}; expected (batch, heads, "
                                    "sequence, head size) or (batch, sequence, hidden)")
    heads, d, kv_heads = q.shape[1], q.shape[3], k.shape[1]
    if heads % kv_heads or v.shape[1] != kv_heads or k.shape[3] != d or v.shape[2] != k.shape[2]:
        raise imp.error(node, f"Q {list(q.shape)}, K {list(k.shape)} and V {list(v.shape)} do not agree")
    kv = {"k": k, "v": v}
    for tag, index in (("k", 4), ("v", 5)):
        past = imp.optional(node, index)
        if past is not None and (past.is_const or len(past.shape) != 4 or (not past.batched and imp.batch != 1)):
            raise imp.unsupported(node, f"past {tag} of shape {list(past.shape)}")
        if past is not None:
            kv[tag] = imp.layer(node, L.Concat, [imp.batched(node, past), kv[tag]], f"/{tag}_present", axis=1)
        imp.set(node, index - 3, kv[tag])
    ctx = _head_products(imp, node, q, imp.layer(node, L.Transpose, [kv["k"]], "/k_t", perm=[0, 2, 1]), kv["v"])
    imp.set(node, 0, _merge_heads(imp, node, ctx) if flat else ctx)
    imp.note("Attention: masks, scale and softcap add no MACs and are not modelled")


@register(MS + "SkipLayerNormalization", MS + "SkipSimplifiedLayerNormalization")
def _convert_skip_layernorm(imp: Importer, node: Node) -> None:
    x, skip = imp.activation(node, 0), imp.value(node, 1)
    if skip.is_const and np.broadcast_shapes(np.shape(skip.const), x.shape) == tuple(x.shape):
        total = imp.layer(node, L.Identity, [x], "/add")  # a constant skip (GPT-Neo's position rows): no MACs
    elif skip.is_const or skip.shape != x.shape:
        raise imp.unsupported(node, f"a skip input of shape {list(skip.shape)} for input {list(x.shape)}")
    else:
        if not (x.batched and skip.batched):
            x, skip = imp.unbatched(node, x), imp.unbatched(node, skip)
        total = imp.layer(node, L.Eltwise, [x, skip], "/add", func="add")
    shift = len(node.inputs) > 3 and bool(node.inputs[3])  # beta is optional
    imp.set(node, 0, imp.layer(node, L.LayerNorm, [total], "", rms="Simplified" in node.op_type,
                               **({} if shift else {"shift": False})))
    imp.set(node, 3, total)


@register(MS + "EmbedLayerNormalization", MS + "QEmbedLayerNormalization")
def _convert_embed_layernorm(imp: Importer, node: Node) -> None:
    """Word (+ segment) ``Embedding`` s, the position table as an ``Identity``, a ``LayerNorm``. The quantized op
    (onnxruntime's dynamic int8 BERT) reads its tables as integers with a scale (inputs 8, 10) and zero point (13,
    15) each: dequantized, their format kept."""
    ids, segments = imp.activation(node, 0), imp.optional(node, 1)
    tables = {}
    for tag, index in (("word", 2), ("segment", 4)):
        if imp.optional(node, index) is None:
            continue
        if node.op_type == "QEmbedLayerNormalization":
            v = imp.values[Q.dequantized(imp, node, index, index + 6, index + 11, axis=0)]
            tables[tag] = (np.asarray(v.const), Q.weight_quant(v, 0, lambda m: m))
        else:
            tables[tag] = (np.asarray(imp.const(node, index, f"the {tag} embedding")), None)
    if "word" not in tables:
        raise imp.error(node, "input 2 (the word embedding) is missing")
    word, quant = tables["word"]
    h = imp.layer(node, L.Embedding, [ids], "/word", num_embeddings=int(word.shape[0]), embedding_dim=int(word.shape[1]))
    imp.set_weight(node, h.layer, word, quant=quant)
    if segments is not None and not segments.is_const and "segment" in tables:
        table, quant = tables["segment"]
        seg = imp.add(node, L.Embedding, [segments], suffix="/segment", num_embeddings=int(table.shape[0]),
                      embedding_dim=int(table.shape[1]))
        imp.set_weight(node, seg.name, table, quant=quant)
        h = imp.layer(node, L.Eltwise, [h, Value(h.shape, seg.name, segments.batched)], "/add_segment", func="add")
    h = imp.layer(node, L.Identity, [h], "/add_position")
    imp.set(node, 0, imp.layer(node, L.LayerNorm, [h], ""))
    imp.set(node, 1, Value((imp.batch,), const=np.zeros(imp.batch, np.int32)))
    imp.set(node, 2, h)
    imp.note("EmbedLayerNormalization: the position table add is an Identity (no MACs); mask_index is not modelled")


@register(MS + "FusedConv", NCHWC + "Conv")
def _convert_fused_conv(imp: Importer, node: Node) -> None:
    """``activation(conv(X, W) + B + Z)``: onnxruntime's FusedConv, and the Conv of a model it saved after its
    NCHWc layout optimization (``ORT_ENABLE_ALL``), whose ``Sum`` input is the residual add it fused. The NCHWc
    maps are carried with their ONNX shapes (channels padded to the block as the file's weights are)."""
    act = node.attrs.get("activation", "")
    func = ACTIVATION_FUNCS.get(act, act.lower() or None)
    if func and func not in L.ACTIVATIONS:
        raise imp.unsupported(node, f"activation {act}")
    inputs = list(node.inputs[:3])
    w, z = np.asarray(imp.const(node, 1, "the weight")), imp.optional(node, 3)
    if z is not None and (len(z.shape) < 2 or w.ndim < 2 or z.shape[1] != w.shape[0]):  # checked before any layer
        raise imp.error(node, f"the residual input Z of shape {list(z.shape)} does not have the {w.shape[0]} output "
                              "channels of the weight")
    if node.domain == "com.microsoft.nchwc":
        inputs[0] = _channels_padded(imp, node, inputs[0], w)
    _convert_conv(imp, Node(node.name, "Conv", inputs, [f"{node.name}::conv"], node.attrs, ""))
    y = imp.values[f"{node.name}::conv"]
    if z is not None:
        if tuple(z.shape) != tuple(y.shape):
            raise imp.error(node, f"the residual input Z has shape {list(z.shape)}; the convolution's output is "
                                  f"{list(y.shape)}")
        y = (imp.layer(node, L.Identity, [y], "/add_z") if z.is_const  # a constant added: no MACs
             else imp.layer(node, L.Eltwise, [y, z if z.batched == y.batched else imp.batched(node, z)], "/add_z",
                            func="add"))
    imp.set(node, 0, imp.layer(node, L.Activation, [y], "/act", func=func) if func else y)


def _channels_padded(imp: Importer, node: Node, tensor: str, w: np.ndarray) -> str:
    """``tensor`` (a batched NCHW map) with its channels padded up to what the weight ``w`` reads, when onnxruntime
    padded the weight's input channels to its NCHWc block (a ``ReorderInput`` of a 120-channel map reads 128): a
    ``Generic`` Pad of the map (its traffic; the padded channels' MACs are the conv's, as the file computes)."""
    x = imp.value(node, 0) if tensor == node.inputs[0] else imp.values[tensor]
    need = int(w.shape[1]) * int(node.attrs.get("group", 1)) if w.ndim == 4 else 0
    if "com.microsoft.nchwc" not in imp.opsets or x.is_const or not x.batched or len(x.shape) != 4 \
            or not x.shape[1] < need <= x.shape[1] + 16:  # (only a model onnxruntime laid out in NCHWc blocks)
        return tensor
    padded = imp.layer(node, L.Generic, [x], "/pad_channels", op_type="Pad", output_shapes=((need, *x.shape[2:]),))
    imp.values[f"{node.name}::padded"] = padded
    imp.note(f"node '{node.name}' ({node.key}): its weight reads {need} input channels, the map has {x.shape[1]}: "
             "onnxruntime's NCHWc block padding, a Pad of the map")
    return f"{node.name}::padded"


@register(*(NCHWC + op for op in ("MaxPool", "AveragePool", "GlobalMaxPool", "GlobalAveragePool")))
def _convert_nchwc_pool(imp: Importer, node: Node) -> None:
    """A pooling op of an NCHWc model: ONNX's own on the channel-padded map."""
    CONVERTERS[node.op_type](imp, Node(node.name, node.op_type, node.inputs, node.outputs, node.attrs, ""))


@register(NCHWC + "ReorderInput", NCHWC + "ReorderOutput")
def _convert_nchwc_reorder(imp: Importer, node: Node) -> None:
    """onnxruntime's NCHWc layout changes: the blocked channel order is memory layout only (the map keeps its
    shape, not modelled: noted); ``channels_last`` maps are transposed; ReorderOutput keeps its ``channels`` (the
    rest is block padding)."""
    x = imp.activation(node, 0)
    last = bool(node.attrs.get("channels_last", 0))
    if len(x.shape) != 4 or not x.batched:
        raise imp.unsupported(node, f"a map of shape {list(x.shape)}")
    if node.op_type == "ReorderInput":
        imp.set(node, 0, imp.layer(node, L.Transpose, [x], "/to_nchw", perm=[2, 0, 1]) if last else x)
    else:
        channels = int(node.attrs.get("channels", x.shape[1]))
        if not 1 <= channels <= x.shape[1]:
            raise imp.error(node, f"attribute channels must be in 1..{x.shape[1]} (the map's channels); got {channels}")
        if channels < x.shape[1]:
            x = _slice_axis(imp, node, x, 1, 0, channels, suffix="/unpad")
        imp.set(node, 0, imp.layer(node, L.Transpose, [x], "/to_nhwc", perm=[1, 2, 0]) if last else x)
    imp.note("onnxruntime NCHWc model (saved after ORT_ENABLE_ALL, specific to the machine that saved it): the blocked "
             "channel layout is not modelled; maps keep their ONNX shapes")


@register(MS + "BiasSplitGelu")
def _convert_bias_split_gelu(imp: Importer, node: Node) -> None:
    """onnxruntime's GEGLU (Stable Diffusion's UNet optimizer): the last axis, bias added, halved; the first half
    times the GELU of the second. The bias add is no MAC (not modelled)."""
    x, bias = imp.activation(node, 0), np.asarray(imp.const(node, 1, "the bias"))
    half = x.shape[-1] // 2
    if x.shape[-1] % 2:
        raise imp.error(node, f"the last axis ({x.shape[-1]}) must split in two halves")
    if bias.shape != (x.shape[-1],):
        raise imp.error(node, f"the bias has shape {list(bias.shape)}; expected [{x.shape[-1]}], one value per input column")
    left, right = _split_last(imp, node, x, [half, half], ["hidden", "gate"])
    imp.set(node, 0, imp.layer(node, L.Eltwise, [left, imp.layer(node, L.Activation, [right], "/gelu", func="gelu")],
                               "/mul", func="mul"))


@register(MS + "GemmFastGelu")
def _convert_gemm_fast_gelu(imp: Importer, node: Node) -> None:
    """``gelu(X @ W + bias)`` (onnxruntime's optimizer with ``enable_gemm_fast_gelu``): a ``Linear`` and an
    ``Activation(gelu)``."""
    w = np.asarray(imp.const(node, 1, "the weight"))
    if w.ndim != 2:
        raise imp.unsupported(node, f"a weight of shape {list(w.shape)}")
    y = imp.linear(Node(node.name, node.op_type, node.inputs, [], node.attrs, node.domain), imp.activation(node, 0), w.T,
                   imp.optional_const(node, 2, "the bias"), quant=Q.weight_quant(imp.value(node, 1), 1, lambda m: m.T))
    imp.set(node, 0, imp.layer(node, L.Activation, [y], "/gelu", func="gelu"))


@register(MS + "NhwcConv")
def _convert_nhwc_conv(imp: Importer, node: Node) -> None:
    """A Conv on a channels-last map (onnxruntime's UNet optimizer): the map to channels-first, the ``Conv``, and
    back (two ``Transpose`` layers: the layout change the NHWC kernel does not make). The weight is the Conv's
    ``(M, C / group, kH, kW)``, or ``(M, kH, kW, C / group)`` when the optimizer rewrote it (``update_weight``)."""
    x, w = imp.activation(node, 0), np.asarray(imp.const(node, 1, "the weight"))
    if w.ndim != 4:
        raise imp.unsupported(node, f"a weight of shape {list(w.shape)} on a map of shape {list(x.shape)}")
    kernel = tuple(int(k) for k in node.attrs.get("kernel_shape", w.shape[2:]))
    if tuple(w.shape[2:]) != kernel and tuple(w.shape[1:3]) == kernel:  # (M, kH, kW, C / group)
        w = w.transpose(0, 3, 1, 2)
    weight = f"{node.name}::weight"
    imp.values[weight] = Value(tuple(w.shape), const=w)

    def conv(nchw: str, out: str) -> None:
        inputs = [_channels_padded(imp, node, nchw, w), weight, *node.inputs[2:3]]
        _convert_conv(imp, Node(node.name, "Conv", inputs, [out], node.attrs, ""))

    imp.channels_last(node, conv, ranks=(4,))


@register(MS + "RemovePadding")
def _convert_remove_padding(imp: Importer, node: Node) -> None:
    """Packing mode (onnxruntime's ``convert_to_packing_mode``): the ``(batch, sequence, hidden)`` input as
    ``(tokens, hidden)`` rows. How many tokens are padding is data; every one is taken as real (the upper bound),
    so the packed graph costs what the padded one does. Token offsets and sequence lengths follow from that."""
    x = imp.activation(node, 0)
    if imp.batch != 1 or len(x.shape) != 3:
        raise imp.unsupported(node, f"packing a {list(x.shape)} input at batch {imp.batch} (only batch 1 is modelled)")
    b, s, hidden = x.shape
    imp.reshape_to(node, x, (b * s, hidden), suffix="/packed")
    imp.set(node, 1, Value((b, s), const=np.arange(b * s, dtype=np.int32).reshape(b, s)))
    imp.set(node, 2, Value((b + 1,), const=np.arange(b + 1, dtype=np.int32) * s))
    imp.set(node, 3, Value((1,), const=np.asarray([s], np.int32)))
    imp.note(f"node '{node.name}' (RemovePadding): every token taken as real (no padding removed): the upper bound")


@register(MS + "RestorePadding")
def _convert_restore_padding(imp: Importer, node: Node) -> None:
    """Packed ``(tokens, hidden)`` rows back to ``(batch, sequence, hidden)`` by the token offsets' shape."""
    x, offsets = imp.activation(node, 0), imp.value(node, 1)
    b, s = offsets.shape
    imp.set(node, 0, imp.batched(node, imp.reshape_to(node, x, (b, s, x.shape[-1]), index=None, suffix="/padded")))


@register(MS + "PackedAttention")
def _convert_packed_tokens_attention(imp: Importer, node: Node) -> None:
    """Attention over packed ``(tokens, hidden)`` rows with a QKV weight: each sequence's rows (the token offsets'
    ``(batch, sequence)`` shape, every token real, see RemovePadding) attend among themselves, as ``Attention``
    does on the padded input."""
    x, offsets = imp.activation(node, 0), imp.value(node, 3)
    b, s = offsets.shape
    imp.values[f"{node.name}::padded"] = imp.batched(node, imp.reshape_to(node, x, (b, s, x.shape[-1]), index=None,
                                                                           suffix="/padded"))
    inner = Node(node.name, "Attention", [f"{node.name}::padded", *node.inputs[1:3]], [f"{node.name}::ctx"], node.attrs,
                 node.domain)
    w = np.asarray(imp.const(node, 1, "the QKV weight"))
    _packed_attention(imp, inner, w, imp.optional_const(node, 2, "the QKV bias"), Q.weight_quant(imp.value(node, 1), 1, lambda m: m.T))
    ctx = imp.values[f"{node.name}::ctx"]
    imp.reshape_to(node, ctx, (b * s, ctx.shape[-1]), suffix="/packed")
