"""Converters for shape glue (on activations; ``fold.py`` runs them on constants): ``Reshape`` / ``Transpose`` /
``Slice`` layers (none when the per-sample shape does not change), a zero ``Pad`` as its ``Conv``'s padding, a
``Gather`` from a constant table as an ``Embedding``."""

from __future__ import annotations

import math

import numpy as np

from accelsim.workload import layers as L
from accelsim.workload.onnx.fold import fold
from accelsim.workload.onnx.importer import Importer, Node, Value, register


def _broadcast_full(imp: Importer, node: Node, shapes) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise imp.error(node, f"operand shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast") from None


@register("Shape", "Size")
def _convert_shape(imp: Importer, node: Node) -> None:
    """The shape (or element count) of an activation is a constant: every shape is static here."""
    v = imp.value(node, 0)
    shape = np.asarray(v.shape, dtype=np.int64)[node.attrs.get("start", 0): node.attrs.get("end", len(v.shape))]
    const = shape if node.op_type == "Shape" else np.asarray(math.prod(v.shape), dtype=np.int64)
    imp.set(node, 0, Value(tuple(const.shape), const=const))


@register("Identity", "Dropout", "Cast", "CastLike")
def _convert_passthrough(imp: Importer, node: Node) -> None:
    if node.op_type == "CastLike" and imp.value(node, 0).is_const:  # a constant cast like an activation: folded
        from onnx.helper import tensor_dtype_to_np_dtype

        like = np.zeros((), tensor_dtype_to_np_dtype(imp.types.get(node.inputs[1], 1)))
        (out,) = fold(node, [imp.value(node, 0).const, like], imp.opset)
        return imp.set(node, 0, Value(out.shape, const=out))
    if node.op_type == "Dropout" and len(node.outputs) > 1 and node.outputs[1] and imp.consumers.get(node.outputs[1]):
        raise imp.error(node, "the dropout mask output is used; accelsim imports inference graphs only")
    imp.set(node, 0, imp.activation(node, 0))


@register("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def _convert_reshape(imp: Importer, node: Node) -> None:
    """The output shape is ONNX's (inference of the node on the shapes reached); a ``Flatten`` at axis 1 of a batched
    tensor is accelsim's ``Flatten`` layer."""
    v = imp.activation(node, 0)
    if node.op_type == "Flatten" and v.batched and int(node.attrs.get("axis", 1)) in (1, 1 - len(v.shape)):
        return imp.out(node, imp.add(node, L.Flatten, [v]), batched=True)
    full = imp.output_shape(node)
    if full is None:
        target = [imp.values[t].const.ravel().tolist() for t in node.inputs[1:2] if t and imp.values[t].is_const]
        raise imp.error(node, f"cannot reshape {list(v.shape)} ({node.op_type}{' to ' + str(target[0]) if target else ''})")
    imp.reshape_to(node, v, full)


@register("Transpose")
def _convert_transpose(imp: Importer, node: Node) -> None:
    v = imp.activation(node, 0)
    rank, batched = len(v.shape), v.batched
    perm = [int(p) % rank for p in node.attrs.get("perm", list(range(rank))[::-1])]
    if sorted(perm) != list(range(rank)):
        raise imp.error(node, f"perm {perm} is not a permutation of {rank} axes")
    local = [p - 1 for p in perm if p != 0] if batched else perm
    if local != sorted(local):
        v = imp.layer(node, L.Transpose, [v], perm=local)
    if not batched or perm[0] == 0:
        return imp.set(node, 0, v)
    if imp.batch != 1:  # the batch axis moves: at batch 1 a reshape of the (permuted) per-sample tensor
        raise imp.unsupported(node, f"moves the batch axis, which is only supported at batch 1; batch is {imp.batch}")
    imp.reshape_to(node, v, tuple(imp.value(node, 0).shape[p] for p in perm), suffix="/batch_axis")


def _slice_axis(imp: Importer, node: Node, v: Value, axis: int, start: int, stop: int, suffix: str = "") -> Value:
    """Slice [start, stop) of full-shape axis ``axis`` of ``v`` with a Slice layer (no-op when complete)."""
    if start == 0 and stop == v.shape[axis]:
        return v
    layer = imp.add(node, L.Slice, [v], suffix=suffix, axis=imp.local_axis(node, v, axis), start=start, stop=stop)
    return Value(tuple(stop - start if i == axis else d for i, d in enumerate(v.shape)), layer.name, v.batched)


@register("Slice")
def _convert_slice(imp: Importer, node: Node) -> None:
    v = imp.activation(node, 0)
    if imp.opset < 10:
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes, steps = node.attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = imp.const(node, 1, "starts").ravel().tolist(), imp.const(node, 2, "ends").ravel().tolist()
        ax, st = imp.optional_const(node, 3, "axes"), imp.optional_const(node, 4, "steps")
        axes = ax.ravel().tolist() if ax is not None else list(range(len(starts)))
        steps = st.ravel().tolist() if st is not None else [1] * len(starts)
    clamp = lambda i, size: max(0, min(size, i + size if i < 0 else i))  # noqa: E731
    for k, (s, e, a, step) in enumerate(zip(starts, ends, axes, steps)):
        a = int(a) % len(v.shape)
        if step != 1:
            raise imp.unsupported(node, f"step {step} on axis {a}; only step 1 is supported")
        start, stop = clamp(int(s), v.shape[a]), clamp(int(min(e, 2**62)), v.shape[a])
        if stop <= start:  # an empty tensor (torch.roll by 0 exported as Concat(x, x[0:0])): no data to move
            shape = tuple(0 if i == a else d for i, d in enumerate(v.shape))
            return imp.set(node, 0, Value(shape, const=np.zeros(shape, np.float32)))
        v = _slice_axis(imp, node, v, a, start, stop, suffix="" if k == 0 else f"/axis{a}")
    imp.set(node, 0, v)


@register("Split")
def _convert_split(imp: Importer, node: Node) -> None:
    v = imp.activation(node, 0)
    axis = node.attrs.get("axis", 0) % len(v.shape)
    size, n_out = v.shape[axis], len(node.outputs)
    given = imp.optional(node, 1)
    if given is not None and not given.is_const:  # sizes computed from the data (tokens grouped per expert)
        raise imp.unsupported(node, "split sizes computed from the data; each part is taken at its upper bound, "
                                    f"the whole axis ({size})")
    sizes = imp.optional_const(node, 1, "split")
    sizes = node.attrs.get("split") if sizes is None else sizes
    if sizes is None:
        chunk = -(-size // n_out)
        sizes = [min(chunk, size - i * chunk) for i in range(n_out)]
    sizes = [int(s) for s in np.asarray(sizes).ravel()]
    if sum(sizes) != size or len(sizes) != n_out:
        raise imp.error(node, f"split sizes {sizes} do not cover axis {axis} of size {size} in {n_out} outputs")
    start = 0
    for i, s in enumerate(sizes):
        if node.outputs[i]:
            imp.set(node, i, _slice_axis(imp, node, v, axis, start, start + s, suffix=f"/{i}"))
        start += s


@register("Pad")
def _convert_pad(imp: Importer, node: Node) -> None:
    """A zero Pad of the spatial axes that feeds only a Conv or a pool becomes part of its padding (a pool's Pad of
    zeros, where ONNX pads a MaxPool with -inf, has the same windows and cost); a Pad of nothing is its input."""
    x = imp.activation(node, 0)
    pads = node.attrs.get("pads") if imp.opset < 11 else imp.const(node, 1, "pads")
    value = node.attrs.get("value", 0.0) if imp.opset < 11 else imp.optional_const(node, 2, "constant_value")
    pads = [int(p) for p in np.asarray(pads).ravel()]
    rank = len(x.shape)
    axes = imp.optional_const(node, 3, "axes") if imp.opset >= 18 else None
    if axes is not None:  # pads given for some axes only
        full = [0] * (2 * rank)
        for k, a in enumerate(np.asarray(axes).ravel()):
            full[int(a) % rank], full[int(a) % rank + rank] = pads[k], pads[k + len(pads) // 2]
        pads = full
    if not any(pads):  # pads nothing (SAM's, SSD's): the input itself
        return imp.set(node, 0, x)
    mode = node.attrs.get("mode", "constant")
    consumer_ok = x.batched and imp.sole_consumer(node.outputs[0]) and imp.consumer_ops.get(node.outputs[0]) in (
        "Conv", "MaxPool", "AveragePool")
    zero = value is None or float(np.asarray(value).ravel()[0]) == 0.0
    if rank != 4 or mode != "constant" or not zero or any(pads[i] or pads[i + rank] for i in (0, 1)) or not consumer_ok:
        raise imp.unsupported(node, f"only a zero padding of the spatial axes that feeds a Conv or a pool is supported; "
                              f"got pads {pads}, mode {mode}")
    if node.inputs[0] in imp.pads:
        raise imp.unsupported(node, "two Pads in a row are not supported")
    imp.pads[node.outputs[0]] = (pads[2], pads[3], pads[6], pads[7])  # top, left, bottom, right; the Conv applies them
    imp.set(node, 0, x)


@register("Where")
def _convert_where(imp: Importer, node: Node) -> None:
    """A select with one activation operand and constants (masking): shape-preserving Identity."""
    operands = [imp.value(node, i) for i in range(3)]
    acts = [v for v in operands if not v.is_const]
    full = _broadcast_full(imp, node, [v.shape for v in operands])
    if len(acts) != 1 or acts[0].shape != full:
        raise imp.unsupported(node, "only a Where with one activation operand of the output shape is supported")
    imp.out(node, imp.add(node, L.Identity, [acts[0]]), batched=acts[0].batched)


@register("Gather")
def _convert_gather(imp: Importer, node: Node) -> None:
    data, indices = imp.value(node, 0), imp.value(node, 1)
    axis = node.attrs.get("axis", 0)
    if data.is_const:
        table = data.const
        if table.ndim != 2 or axis != 0:
            raise imp.unsupported(node, f"an embedding lookup needs a 2-D table gathered on axis 0; got {list(table.shape)}, axis {axis}")
        layer = imp.add(node, L.Embedding, [indices], num_embeddings=int(table.shape[0]), embedding_dim=int(table.shape[1]))
        from accelsim.workload.onnx.quant import weight_quant

        # a QDQ table (DequantizeLinear -> Gather) keeps its format; an integer one dequantized after the lookup gets
        # its weights from that DequantizeLinear, or from the operand scale of the QOperator op that reads it
        # (onnxruntime's QOperator embeddings: Gather(uint8) -> QLinearAdd; quant._dequantize_table)
        from accelsim.workload.onnx.quant import QLINEAR_FLOAT

        if np.issubdtype(np.asarray(table).dtype, np.integer) and (
                imp.consumer_ops.get(node.outputs[0]) in ("DequantizeLinear", *QLINEAR_FLOAT)):
            imp.integer_tables[layer.name] = np.asarray(table)
        else:
            imp.set_weight(node, layer.name, table, quant=weight_quant(data, 0, lambda m: m))
        return imp.out(node, layer, batched=indices.batched)
    if not indices.is_const:
        raise imp.unsupported(node, "gathering an activation with activation indices is not supported")
    idx, axis = np.asarray(indices.const).astype(np.int64), axis % len(data.shape)
    flat = np.where(idx < 0, idx + data.shape[axis], idx).ravel()
    if idx.ndim > 1 or len(flat) == 0 or np.any(np.diff(flat) != 1):
        raise imp.unsupported(node, "only a scalar index or a contiguous range of indices is supported on an activation")
    v = _slice_axis(imp, node, data, axis, int(flat[0]), int(flat[-1]) + 1)
    if idx.ndim == 0:  # a scalar index removes the axis
        return imp.reshape_to(node, v, tuple(d for i, d in enumerate(v.shape) if i != axis), suffix="/squeeze")
    imp.set(node, 0, v)


# --- sequences (torch.tensor_split / unbind in TorchScript exports): a sequence is the tuple of its elements ---

def _position(imp: Importer, node: Node, index: int, length: int, insert: bool = False) -> int:
    """A sequence position input (negative from the end; default the end for an insert, else required)."""
    pos = imp.optional_const(node, index, "position")
    if pos is None:
        if insert:
            return length
        raise imp.error(node, "missing the position input")
    p = int(np.asarray(pos).ravel()[0])
    p = p + length if p < 0 else p
    if not 0 <= p <= (length if insert else length - 1):
        raise imp.error(node, f"position {int(np.asarray(pos).ravel()[0])} is outside a sequence of {length}")
    return p


@register("SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceErase")
def _convert_sequence(imp: Importer, node: Node) -> None:
    if node.op_type == "SequenceEmpty":
        items: tuple = ()
    elif node.op_type == "SequenceConstruct":
        items = tuple(imp.value(node, i) for i in range(len(node.inputs)) if node.inputs[i])
    else:
        items = imp.sequence(node, 0)
        if node.op_type == "SequenceInsert":
            p = _position(imp, node, 2, len(items), insert=True)
            items = items[:p] + (imp.value(node, 1),) + items[p:]
        else:
            p = _position(imp, node, 1, len(items)) if imp.optional(node, 1) is not None else len(items) - 1
            items = items[:p] + items[p + 1:]
    if any(v.seq is not None for v in items):
        raise imp.unsupported(node, "a sequence of sequences")
    imp.set(node, 0, Value((), seq=items))


@register("SequenceAt", "SequenceLength")
def _convert_sequence_read(imp: Importer, node: Node) -> None:
    items = imp.sequence(node, 0)
    if node.op_type == "SequenceLength":
        return imp.set(node, 0, Value((), const=np.asarray(len(items), np.int64)))
    imp.set(node, 0, items[_position(imp, node, 1, len(items))])


@register("SplitToSequence")
def _convert_split_to_sequence(imp: Importer, node: Node) -> None:
    v = imp.activation(node, 0)
    axis = int(node.attrs.get("axis", 0)) % len(v.shape)
    split = imp.optional_const(node, 1, "split")
    size = v.shape[axis]
    if split is None or np.ndim(split) == 0:
        chunk = 1 if split is None else int(split)
        sizes = [min(chunk, size - i) for i in range(0, size, chunk)]
    else:
        sizes = [int(n) for n in np.asarray(split).ravel()]
    if sum(sizes) != size or min(sizes, default=0) < 1:
        raise imp.error(node, f"split sizes {sizes} do not cover axis {axis} of size {size}")
    items, start = [], 0
    for i, n in enumerate(sizes):
        part = _slice_axis(imp, node, v, axis, start, start + n, suffix=f"/{i}")
        if split is None and not node.attrs.get("keepdims", 1):
            part = imp.reshape_to(node, part, tuple(d for k, d in enumerate(part.shape) if k != axis), index=None,
                                  suffix=f"/{i}/squeeze")
        items.append(part)
        start += n
    imp.set(node, 0, Value((), seq=tuple(items)))


@register("ConcatFromSequence")
def _convert_concat_from_sequence(imp: Importer, node: Node) -> None:
    """The elements joined along ``axis`` (``new_axis``: stacked along a new one) by a ``Concat``."""
    from accelsim.workload.onnx.importer import CONVERTERS

    items = imp.sequence(node, 0)
    if not items:
        raise imp.error(node, "an empty sequence has nothing to concatenate")
    axis, new_axis = int(node.attrs["axis"]), bool(node.attrs.get("new_axis", 0))
    names = []
    for i, v in enumerate(items):
        if new_axis:
            a = axis % (len(v.shape) + 1)
            shape = (*v.shape[:a], 1, *v.shape[a:])
            v = Value(shape, const=np.reshape(v.const, shape)) if v.is_const else \
                imp.reshape_to(node, v, shape, index=None, suffix=f"/{i}/unsqueeze")
        names.append(f"{node.name}::item{i}")
        imp.values[names[-1]] = v
    if all(imp.values[n].is_const for n in names):
        const = np.concatenate([imp.values[n].const for n in names], axis=axis)
        return imp.set(node, 0, Value(const.shape, const=const))
    CONVERTERS["Concat"](imp, Node(node.name, "Concat", names, node.outputs, {"axis": axis}))
