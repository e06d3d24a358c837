"""ONNX model -> LayerGraph (steps in ``docs/importers.md``): read the model (external data only from inside its
folder), sort the nodes, resolve the inputs and fix the batch up front, infer shapes with ``onnx.shape_inference``
(``data_prop=True``), fuse decomposed functions (``fuse.py``), then per node: fold it with ``onnx.reference`` when its
inputs are constants (``fold.py``), inline a constant ``If``, unroll a constant-count ``Loop``, or convert it.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from accelsim.errors import AccelsimError, WorkloadError
from accelsim.workload import layers as L
from accelsim.workload.graph import LayerGraph
from accelsim.workload.onnx import fold as F
from accelsim.workload.onnx import quant as Q
from accelsim.workload.onnx.fuse import fuse_elementwise, fuse_transposes
from accelsim.workload.onnx.importer import (CONVERTERS, Importer, Node, Value, convert, node_shapes, readable_name,
                                             run_node, shapes_of, weight_claims)

#: iterations of a Loop with a constant trip count that are unrolled (more: a generic layer)
MAX_UNROLL = 256


def _onnx():
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
        import onnx.shape_inference  # noqa: F401
    except ImportError:
        raise WorkloadError("reading .onnx files needs the 'onnx' package: pip install 'accelsim[onnx]'") from None
    return onnx


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# --- reading -------------------------------------------------------------------------------------------

def _node(proto, name: str) -> Node:
    """A NodeProto as a :class:`Node` with its attributes decoded (strings, tensors as arrays)."""
    onnx = _onnx()
    attrs = {}
    for attr in proto.attribute:
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, onnx.TensorProto):
            value = onnx.numpy_helper.to_array(value)
        elif isinstance(value, list):
            value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
        attrs[attr.name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return Node(name, proto.op_type, list(proto.input), list(proto.output), attrs, proto.domain, proto)


def _read_by(g, tensor: str, skip=None) -> str:
    """``read by node 'conv1'``: the first node of ``g`` that reads ``tensor`` and ``skip`` does not pass over (for
    messages)."""
    return next((f"read by node '{n.name or f'{n.op_type}_{i}'}'" for i, n in enumerate(g.node)
                 if tensor in n.input and not (skip and skip(n, tensor))), "read by no node")


#: ops that read an infinite constant as a mask value or a bound (``masked_fill(mask, -inf)``, an additive
#: attention mask, ``triu`` of a ``-inf`` matrix, ``clamp(x, 0, inf)``), never as a weight
_MASK_OPS = frozenset({"Where", "Add", "Sub", "Max", "Min", "Clip", "Equal", "Less", "Greater", "LessOrEqual",
                       "GreaterOrEqual", "Expand", "Reshape", "Cast", "CastLike", "Concat", "Slice", "Identity",
                       "Unsqueeze", "Squeeze", "Tile", "Trilu", "ConstantOfShape", "IsInf"})


#: the inputs a quantized op reads as scales (QDQ, and onnxruntime's QOperator ops; QLinearConcat: Y_scale and each
#: input's scale)
_SCALE_INPUTS = {"QuantizeLinear": {1}, "DequantizeLinear": {1}, "QGemm": {1, 4, 7},
                 **dict.fromkeys(("QLinearMul", "QLinearAdd", "QLinearConv", "QLinearMatMul"), {1, 4, 6}),
                 **dict.fromkeys(("QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax", "QLinearAveragePool",
                                  "QLinearGlobalAveragePool"), {1, 3})}


def _as_mask_or_scale(node, tensor: str) -> bool:
    """Whether ``node`` reads ``tensor`` only as a mask value or bound (:data:`_MASK_OPS`) or as a quantizer's scale
    (a static calibration over ``Log(0)``, T5's relative-position buckets, gives an activation an infinite scale;
    onnxruntime runs the model; a weight's scale is checked where a layer takes the weight)."""
    if node.op_type in _MASK_OPS:
        return True
    scales = _SCALE_INPUTS.get(node.op_type, set())
    if node.op_type == "QLinearConcat":
        scales = {0} | set(range(2, len(node.input), 3))
    return all(i in scales for i, t in enumerate(node.input) if t == tensor)


def _masks_only(g, tensor: str) -> bool:
    """Whether every node of ``g`` that reads ``tensor`` reads it as a mask, a bound or a scale
    (:func:`_as_mask_or_scale`)."""
    readers = [n for n in g.node if tensor in n.input]
    return bool(readers) and all(_as_mask_or_scale(n, tensor) for n in readers)


def _initializers(g, source: str) -> dict[str, np.ndarray]:
    """Every initializer as an array; complex or NaN values are refused, infinite ones unless only mask-like ops
    read them (an attention mask's ``-inf``): one line naming it and its node."""
    onnx, out = _onnx(), {}
    for init in g.initializer:
        try:
            array = onnx.numpy_helper.to_array(init)
        except Exception as exc:
            raise WorkloadError(f"{source}: initializer '{init.name}' cannot be read ({exc}); {_read_by(g, init.name)}") from None
        if np.iscomplexobj(array):
            raise WorkloadError(f"{source}: initializer '{init.name}' has complex values ({array.dtype}); "
                                f"{_read_by(g, init.name)}; accelsim models real-valued weights only")
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)) and (
                np.isnan(array).any() or not _masks_only(g, init.name)):
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            raise WorkloadError(f"{source}: initializer '{init.name}' contains NaN or infinite values "
                                f"({bad} of {array.size}); "
                                f"{_read_by(g, init.name, skip=None if np.isnan(array).any() else _as_mask_or_scale)}")
        out[init.name] = array
    return out


def _load_model(source, onnx):
    """(model with external data read only from files inside its folder, default graph name)."""
    if isinstance(source, onnx.ModelProto):
        return source, source.graph.name or "onnx"
    path = Path(source)
    if not path.exists():
        raise WorkloadError(f"{path}: file not found")
    if path.is_dir():
        raise WorkloadError(f"{path}: is a directory, expected an .onnx file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, ...
        raise WorkloadError(f"{path}: not a valid ONNX model ({_first_line(exc)})") from None
    from onnx.external_data_helper import _get_all_tensors, load_external_data_for_model, uses_external_data

    external = [t for t in _get_all_tensors(model) if uses_external_data(t)]
    folder = path.parent.resolve()
    for t in external:
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        target = (folder / location).resolve()
        if not location or os.path.isabs(location) or folder not in target.parents:
            raise WorkloadError(f"{path}: initializer '{t.name}' keeps its data in '{location}', outside the model's "
                                f"folder {folder}; external data is read only from files inside that folder")
        if not target.is_file():
            raise WorkloadError(f"{path}: initializer '{t.name}': external data file '{location}' not found next to the model")
    if external:
        try:
            load_external_data_for_model(model, str(folder))
        except Exception as exc:
            raise WorkloadError(f"{path}: external data cannot be read ({_first_line(exc)})") from None
    return model, path.stem


def _topological(nodes: list[Node], known: set[str], source: str) -> list[Node]:
    """Nodes in an order where each reads only tensors produced before it (the earliest ready node first: ONNX order
    when already sorted). A cycle is a WorkloadError naming a node on it."""
    import networkx as nx

    producer: dict[str, int] = {}
    for i, n in enumerate(nodes):  # ONNX graphs are in single static assignment form (onnx.checker, onnxruntime)
        for o in n.outputs:
            if not o:
                continue
            if o in producer or o in known:
                first = (f"node '{nodes[producer[o]].name}' ({nodes[producer[o]].op_type})" if o in producer
                         else "a graph input or initializer")
                raise WorkloadError(f"{source}: tensor '{o}' is written by node '{n.name}' ({n.op_type}) and by {first}; "
                                    "an ONNX graph assigns each tensor once")
            producer[o] = i
    g = nx.DiGraph()
    g.add_nodes_from(range(len(nodes)))
    g.add_edges_from((producer[t], i) for i, n in enumerate(nodes) for t in n.inputs if t and t not in known and t in producer)
    try:
        return [nodes[i] for i in nx.lexicographical_topological_sort(g)]
    except nx.NetworkXUnfeasible:
        stuck = nodes[min(i for edge in nx.find_cycle(g) for i in edge)]
        raise WorkloadError(f"{source}: the graph has a cycle through node '{stuck.name}' ({stuck.op_type}); "
                            "an ONNX graph must be acyclic") from None


# --- inputs, batch and shape inference ---------------------------------------------------------------------

def _input_shape(source: str, inp, batch_axis: int) -> tuple[int, ...]:
    """A graph input's declared shape, 0 for a symbolic batch; other symbolic dimensions are refused."""
    tt = inp.type.tensor_type
    if not tt.HasField("shape") or len(tt.shape.dim) == 0:
        raise WorkloadError(f"{source}: graph input '{inp.name}' has no shape; give it without the batch: input_shapes "
                            f"(Python) or --input-shape {inp.name}=D1xD2... (command line)")
    full = []
    for axis, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value") and 0 < d.dim_value <= 2**31 - 1:
            full.append(int(d.dim_value))
        elif d.HasField("dim_value") and d.dim_value > 0:
            raise WorkloadError(f"{source}: graph input '{inp.name}' dimension {axis} is {d.dim_value:,}; expected a "
                                f"size of at most 2^31 - 1")
        elif d.HasField("dim_value"):
            raise WorkloadError(f"{source}: graph input '{inp.name}' dimension {axis} is {d.dim_value}; expected a positive size")
        elif axis == batch_axis:
            full.append(0)  # the batch, settled by the caller
        else:
            raise WorkloadError(f"{source}: graph input '{inp.name}' dimension {axis} is symbolic ('{d.dim_param or '?'}'); "
                                f"give its shape without the batch: input_shapes={{'{inp.name}': [...]}} (Python) or "
                                f"--input-shape {inp.name}=D1xD2... (command line)")
    if len(full) <= batch_axis:
        raise WorkloadError(f"{source}: graph input '{inp.name}' of shape {full} has no batch axis")
    return tuple(full)


#: ops that select part of a tensor without moving its axes (how a multi-layer RNN's h0 reaches each layer)
_SELECTS = frozenset({"Slice", "Gather", "Split", "Squeeze", "Unsqueeze", "Identity"})


def _state_inputs(nodes, names: set[str]) -> set[str]:
    """The tensors of ``names`` (graph inputs) that reach an LSTM / GRU / RNN initial state (``initial_h``, ``initial_c``: ``(directions, batch,
    hidden)`` at layout 0, the batch on axis 1) only through selections: a multi-layer model's ``h0`` of
    ``(layers * directions, batch, hidden)``, sliced per layer."""
    consumers: dict[str, list] = {}
    for n in nodes:
        for i, t in enumerate(n.inputs):
            if t:
                consumers.setdefault(t, []).append((n, i))
    states = {t for n in nodes if n.op_type in ("LSTM", "GRU", "RNN") and not n.attrs.get("layout", 0)
              for t in n.inputs[5:7] if t}
    found = states & names
    for t in names - found:
        stack, seen, reaches = [t], set(), False
        while stack and not reaches:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            for n, _ in consumers.get(u, []):
                if n.op_type in _SELECTS:
                    reaches |= any(o in states for o in n.outputs)
                    stack.extend(o for o in n.outputs if o)
        if reaches:
            found.add(t)
    return found


def _resolve_inputs(source: str, g, nodes, initializers, overrides: Mapping[str, Sequence[int]]):
    """``([(name, full shape, batch axis)], batch)`` for every graph input that is not an initializer."""
    seq_inputs = {n.inputs[0] for n in nodes if n.op_type in ("LSTM", "GRU", "RNN") and not n.attrs.get("layout", 0) and n.inputs}
    seq_inputs |= _state_inputs(nodes, {i.name for i in g.input})
    unknown = set(overrides) - {i.name for i in g.input}
    if unknown:
        raise WorkloadError(f"{source}: input_shapes names unknown graph input(s) {', '.join(sorted(unknown))}")
    resolved = {}
    for inp in g.input:
        if inp.name in initializers:
            continue
        if inp.name in resolved:
            raise WorkloadError(f"{source}: duplicate graph input '{inp.name}'")
        axis = 1 if inp.name in seq_inputs else 0
        if inp.name in overrides:
            local = tuple(overrides[inp.name])
            if not local or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 < d <= 2**31 - 1
                                    for d in local):
                raise WorkloadError(f"{source}: input_shapes['{inp.name}'] must be positive ints (at most 2^31 - 1); "
                                    f"got {list(local)}")
            full = (*local[:axis], 0, *local[axis:])
            declared = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
            if inp.type.tensor_type.HasField("shape") and declared and (len(declared) != len(full) or any(
                    i != axis and d and d != g for i, (d, g) in enumerate(zip(declared, full)))):
                shown = ["?" if d is None else d for d in declared]
                raise WorkloadError(f"{source}: input_shapes['{inp.name}'] = {list(local)} does not fit the graph input's "
                                    f"declared shape {shown} (without its batch axis {axis}: its other sizes, in order)")
            resolved[inp.name] = (full, axis)
        else:
            resolved[inp.name] = (_input_shape(source, inp, axis), axis)
    if not resolved:
        raise WorkloadError(f"{source}: the ONNX graph has no (non-initializer) inputs")
    batch = next((full[axis] for full, axis in resolved.values() if full[axis] > 0), 1)
    if any(full[axis] not in (0, batch) for full, axis in resolved.values()):
        # no common batch (OWL-ViT's 2 text queries for 1 image): whole tensors, a symbolic axis taken as 1
        return [(name, tuple(1 if i == axis and d == 0 else d for i, d in enumerate(full)), None)
                for name, (full, axis) in resolved.items()], None
    return [(name, tuple(batch if i == axis else d for i, d in enumerate(full)), axis)
            for name, (full, axis) in resolved.items()], batch


def _infer_shapes(model, onnx, inputs) -> tuple[dict[str, tuple], dict[str, int]]:
    """ONNX shape inference (``data_prop=True``) with the graph inputs fixed to ``inputs`` and large initializers
    given as typed inputs (inference needs types, not megabytes of weights)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    big = [i for i in m.graph.initializer if math.prod(i.dims) > 64]
    keep = [i for i in m.graph.initializer if math.prod(i.dims) <= 64]
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep)
    names = {i.name for i in m.graph.input}
    m.graph.input.extend(onnx.helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in big if i.name not in names)
    fixed = {name: full for name, full, _ in inputs}
    for vi in m.graph.input:
        if vi.name in fixed:
            dims = vi.type.tensor_type.shape.dim
            del dims[:]
            for d in fixed[vi.name]:
                dims.add().dim_value = int(d)
    for data_prop in (True, False):
        try:
            g = onnx.shape_inference.infer_shapes(m, data_prop=data_prop).graph
            return shapes_of(list(g.value_info) + list(g.output) + list(g.input))
        except Exception:
            continue
    return {}, {}


def _on_axis0(node: Node, data_shape) -> bool:
    """Whether ``node``'s ``axis`` attribute (default 0) is axis 0 of its data input (rank ``len(data_shape)``)."""
    axis = int(node.attrs.get("axis", 0))
    return axis == 0 or (data_shape is not None and axis == -len(data_shape))


def _axis0_is_batch(nodes: list[Node], inputs, batch: int, shapes) -> bool:
    """Whether axis 0 stays the batch: every tensor computed from a batched input keeps size ``batch`` on axis 0
    (asked only when the batch is > 1; ``Shape`` / ``Size`` results carry no data of it; recurrent converters
    place the batch themselves)."""
    carried = {name for name, _, axis in inputs if axis == 0}
    for node in nodes if batch > 1 else []:
        if node.op_type in ("Shape", "Size", "LSTM", "GRU", "RNN") or not any(t in carried for t in node.inputs if t):
            continue
        for out in filter(None, node.outputs):
            shape = shapes.get(out)
            if shape and shape[0] is not None and shape[0] != batch:
                return False
            if shape and shape[0] is None and node.op_type == "Reshape":  # a computed target shape ONNX cannot
                return False  # size (window partitions padded to a computed size) may merge the batch: carry whole
            if (not shape or shape[0] is None) and node.op_type == "Gather" and node.inputs[0] in carried \
                    and _on_axis0(node, shapes.get(node.inputs[0])):
                return False  # picks along axis 0 (``order[0]``: one sample's row for all), sizes unknown to ONNX
            carried.add(out)
    return True


# --- the import ---------------------------------------------------------------------------------------------

def load_onnx(source, skip_unsupported: bool = False, input_shapes: Mapping[str, Sequence[int]] | None = None,
              name: str | None = None, strict: bool = False) -> LayerGraph:
    """Read an ONNX model (path or ``onnx.ModelProto``; external data files must lie in its folder) into a LayerGraph
    with its weights.

    ``input_shapes``: graph input name -> shape **without** the batch axis, for inputs with symbolic dimensions.
    ``strict``: refuse ops without an accelsim layer type (and variants the converters cannot express) instead of
    importing them as ``Generic`` layers; ``skip_unsupported``: skip them (``warnings.warn``, first activation input
    passed on). ``name``: graph name (default: the file stem, or the ONNX graph name).

    ``metadata["onnx"]``: opset, batch (None when axis 0 is not a batch), folded batch norms, skipped nodes,
    ``generic_ops`` ({op type: count}), ``weight_types``, ``producer``, ``nodes`` (layer -> ONNX node);
    ``metadata["quantization"]``: layer -> deployed format (``quant.py``); ``metadata["notes"]``: what the import
    dropped or approximated. A missing or malformed file, a cycle, external data outside the model's folder, NaN
    initializers, dimensions that cannot be resolved (and with ``strict`` any generic op) are a WorkloadError.
    """
    onnx = _onnx()
    model, default_name = _load_model(source, onnx)
    source_label = str(source) if not isinstance(source, onnx.ModelProto) else f"<onnx model {default_name}>"
    g = model.graph
    if len(g.node) == 0:
        raise WorkloadError(f"{source_label}: the ONNX graph has no nodes")
    newest = onnx.defs.onnx_opset_version()
    for entry in model.opset_import:  # ops of a newer opset have meanings this onnx cannot infer or evaluate
        if entry.domain in ("", "ai.onnx") and int(entry.version) > newest:
            raise WorkloadError(f"{source_label}: opset_import: default-domain opset {entry.version} is newer than the "
                                f"newest this onnx {onnx.__version__} knows ({newest}); upgrade onnx or re-export "
                                f"with opset <= {newest}")
        if entry.domain in ("", "ai.onnx") and int(entry.version) < 1:
            raise WorkloadError(f"{source_label}: opset_import: default-domain opset {entry.version}; expected an "
                                f"opset of 1 to {newest}")
    if model.ir_version > onnx.IR_VERSION:  # a newer file format than this onnx reads (onnx.checker refuses it too)
        raise WorkloadError(f"{source_label}: ir_version {model.ir_version} is newer than the newest this onnx "
                            f"{onnx.__version__} reads ({onnx.IR_VERSION}); upgrade onnx or re-export")
    if not any(e.domain in ("", "ai.onnx") for e in model.opset_import):
        raise WorkloadError(f"{source_label}: the model imports no ONNX opset (opset_import lists "
                            f"{[e.domain for e in model.opset_import] or 'nothing'}); onnx.checker refuses it too")
    untyped = next((i for i, n in enumerate(g.node) if not n.op_type), None)
    if untyped is not None:
        raise WorkloadError(f"{source_label}: node {untyped} ('{g.node[untyped].name}') has an empty op_type")
    initializers = _initializers(g, source_label)
    nodes = [_node(n, n.name or f"{n.op_type}_{i}") for i, n in enumerate(g.node)]
    nodes = _topological(nodes, set(initializers) | {i.name for i in g.input}, source_label)
    graph_outputs = {o.name for o in g.output}
    inputs, batch = _resolve_inputs(source_label, g, nodes, initializers, input_shapes or {})
    no_common_batch = batch is None
    if no_common_batch:
        batch = 1
    shapes, types = _infer_shapes(model, onnx, inputs)
    strip_batch = not no_common_batch and _axis0_is_batch(nodes, inputs, batch, shapes)
    nodes = fuse_transposes(fuse_elementwise(nodes, initializers, graph_outputs, shapes), graph_outputs, shapes)
    consumers = Counter(t for n in nodes for t in [t for t in n.inputs if t] + sorted(  # and what subgraphs read
        F.outer_names(n.proto) if n.proto is not None and n.op_type in F.CONTROL_FLOW else ()))

    graph = LayerGraph(name or default_name, source_label)
    opsets = {e.domain if e.domain != "ai.onnx" else "": int(e.version) for e in model.opset_import}
    imp = Importer(graph, source_label, opsets, consumers, graph_outputs, shapes, types, strict=strict,
                   batch=batch if strip_batch else 1, consumer_ops={t: n.op_type for n in nodes for t in n.inputs if t})
    imp.values.update((key, Value(tuple(a.shape), const=a)) for key, a in initializers.items())
    imp.readable.update((id(node), readable_name(node)) for node in nodes)  # (the list lives through the import)
    imp.reserved.update(imp.readable.values())
    imp.claims.update(weight_claims(nodes, imp.readable))
    imp.roots.update((key, key) for key in initializers)
    for node in nodes:  # copies of an initializer (TorchScript writes a tied weight's second use as an Identity)
        if node.op_type in ("Identity", "Transpose", "Cast") and node.inputs and node.inputs[0] in imp.roots:
            imp.roots.update((o, imp.roots[node.inputs[0]]) for o in node.outputs[:1] if o)
    for name_, full, batch_axis in inputs:
        imp.names.add(name_)
        batched = batch_axis == 0 and strip_batch and len(full) > 1
        if not full or (batch_axis == 0 and strip_batch and len(full) == 1 and imp.batch != 1):
            raise WorkloadError(f"{source_label}: graph input '{name_}' of shape {list(full)} has only a batch axis (one "
                                f"value per sample, a diffusion timestep): supported at batch 1 only")
        try:
            graph.add(L.Input(name=name_, shape=full[1:] if batched else full))
        except AccelsimError as exc:
            raise WorkloadError(f"{source_label}: graph input '{name_}': {exc}") from None
        imp.values[name_] = Value(tuple(full), name_, batched)
    for node in nodes:
        _import_node(imp, node, skip_unsupported)
    for layer, codes in imp.integer_tables.items():  # an integer table no dequantizing op read: kept as its integers
        graph.set_weight(layer, codes.astype(np.float32))
        imp.note(f"embedding '{layer}': its integer table is read by no op that gives its scale; the integers are its weights")
    imp.integer_tables.clear()
    if no_common_batch:
        sizes = ", ".join(f"{n} {f[0]}" for n, f, _ in inputs if f)
        imp.note(f"the graph inputs' axis 0 sizes differ ({sizes}), so none is a batch: whole tensors are one sample")
    elif not strip_batch:
        imp.note("axis 0 of the inputs is reshaped or transposed like data, so it is not a batch: whole tensors are one sample")
    elif batch > 1:
        imp.note(f"the file's fixed batch {batch} is not part of the layers (their shapes are one sample's): simulate "
                 f"with --batch {batch} (Python: batch={batch}) for the work of the file as exported")
    if imp.generic_ops:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(imp.generic_ops.items()))
        imp.note(f"ops without an accelsim layer type imported as generic layers (traffic only, no MACs): {listed}")
    if imp.pad_layers:
        imp.note(f"{imp.pad_layers} zero padding(s) a conv / pool cannot take (uneven, TensorFlow's SAME, or before an "
                 "op imported as generic) imported as generic Pad layers (traffic only)")
    shared = {k: v for k, v in imp.weight_sources.items() if len(v) > 1 and initializers[k].ndim >= 2}  # (no bias)
    if shared:
        tensor, readers = next(iter(shared.items()))
        imp.note(f"{len(shared)} initializer(s) hold the weights of several layers (tied: '{tensor}' of "
                 f"{', '.join(repr(r) for r in readers[:3])}{', ...' if len(shared) > 1 or len(readers) > 3 else ''}): "
                 f"each layer counts its params, so the graph's params count them once per use")
    if imp.folded_batchnorm:
        imp.note(f"{len(imp.folded_batchnorm)} BatchNormalization node(s) folded into the preceding conv / linear weights")
    if imp.skipped:
        imp.note(f"skipped (skip_unsupported): {', '.join(imp.skipped)}")
    if imp.folded_macs:
        listed = ", ".join(f"{op} {n:,}" for op, n in sorted(imp.folded_macs.items()))
        imp.note(f"constant subgraphs evaluated once at import, as an inference runtime folds them, are not layers: "
                 f"their MACs ({listed}; e.g. a position-bias table) are not in the graph's")
    graph.metadata["onnx"] = {"opset": imp.opset, "batch": imp.batch if strip_batch else None,
                              "folded_batchnorm": imp.folded_batchnorm, "skipped": imp.skipped,
                              "folded_macs": dict(sorted(imp.folded_macs.items())),
                              "generic_ops": dict(sorted(imp.generic_ops.items())),
                              "weight_types": dict(sorted(imp.weight_dtypes.items())),
                              "producer": model.producer_name, "nodes": imp.node_of,
                              "initializers_read": sorted(imp.weight_sources)}
    graph.metadata["quantization"] = imp.quantization
    graph.metadata["notes"] = imp.notes
    if not graph.compute_layers():
        raise WorkloadError(f"{source_label}: no layers were imported (the graph computes nothing: only constants, "
                            "or views that cancel)")
    return graph


def _import_node(imp: Importer, node: Node, skip_unsupported: bool) -> None:
    _import_one(imp, node, skip_unsupported)
    if any(t in imp.data_dependent for t in node.inputs):  # shapes computed from a data-dependent size
        imp.data_dependent.update(o for o in node.outputs if o)


def _import_one(imp: Importer, node: Node, skip_unsupported: bool) -> None:
    inputs = [imp.values.get(t) if t else None for t in node.inputs]
    missing = [t for t, v in zip(node.inputs, inputs) if t and v is None]
    if missing:
        raise imp.error(node, f"reads tensor '{missing[0]}' that no earlier node or initializer produces")
    present = [v for v in inputs if v is not None]
    standard = node.domain in ("", "ai.onnx")
    if node.op_type == "If" and standard and present and present[0].is_const:
        return _inline_if(imp, node, bool(np.asarray(present[0].const).ravel()[0]), skip_unsupported)
    if node.op_type == "Loop" and standard and inputs and inputs[0] is not None and inputs[0].is_const \
            and not all(v.is_const for v in present) and not imp.strict:
        trips = int(np.asarray(inputs[0].const).ravel()[0])
        if 0 <= trips <= MAX_UNROLL:
            return _unroll_loop(imp, node, trips, skip_unsupported)
    for part in node.parts or ():  # a quantize / dequantize pair inside a fused chain: no converter reads it
        if part.op_type in ("QuantizeLinear", "DequantizeLinear") and not all(v.is_const for v in present):
            Q.check_activation_scale(imp, part, imp.inferred.get(part.inputs[0]) if part.inputs else None)
    if node.parts and present and all(v.is_const for v in present):  # a fused chain whose input is a constant
        for part in node.parts:  # once shapes are fixed (a table repeated over the batch): fold its own nodes
            _import_one(imp, part, skip_unsupported)
        return None
    if node.proto is not None and not F.can_fold(node) and present and all(v.is_const for v in present) \
            and node.domain not in ("", "ai.onnx"):
        outputs = run_node(imp, node)  # a contrib op on constants (a quantized rotary table, a position lookup)
        if outputs and all(o in outputs and outputs[o].size <= F.MAX_FOLD_ELEMENTS for o in node.outputs if o):
            for o in node.outputs:
                if o:
                    imp.values[o] = Value(tuple(outputs[o].shape), const=outputs[o])
            return imp.note(f"node '{node.name}' ({node.key}) on constants evaluated by onnxruntime")
    if node.proto is None or not F.can_fold(node) or not all(v.is_const for v in present):
        return convert(imp, node, skip_unsupported)
    outer = {t: imp.values.get(t) for t in F.outer_names(node.proto)} if node.op_type in F.CONTROL_FLOW else {}
    if any(v is None or not v.is_const for v in outer.values()):
        return convert(imp, node, skip_unsupported)  # a subgraph reads activations: a generic layer
    arrays = [None if v is None else v.const for v in inputs]  # (every input is a constant or absent here)
    try:
        for shape in node_shapes(imp, node).values():  # refused before it runs when ONNX's output shape is too large
            if None not in shape:
                F.check_fold_size(node, shape)
        if node.op_type in F.CONTROL_FLOW:
            consts = {t: v.const for t, v in zip(node.inputs, inputs) if t and v is not None}
            outputs = F.fold_control_flow(node, {**consts, **{t: v.const for t, v in outer.items()}}, imp.opsets)
        else:
            outputs = F.fold(node, arrays, imp.opset)
    except F.FoldError as exc:
        if imp.strict:
            raise WorkloadError(f"{imp.source}: {exc}") from None
        verdict = ""
        if isinstance(exc, F.EvalError) and node.op_type not in F.CONTROL_FLOW:
            problem = F.node_problem(node, arrays, imp.opsets)
            verdict = f"; ONNX finds the node invalid ({problem})" if problem else ""
        imp.generic(node, str(exc).split("): ", 1)[-1])  # (generic names the node itself)
        return imp.note(f"{exc}{verdict}: imported as a generic layer")
    except WorkloadError as exc:
        raise WorkloadError(f"{imp.source}: {exc}") from None
    macs = F.folded_macs(node, arrays, outputs)
    if macs:
        imp.folded_macs[node.op_type] += macs
    try:
        carried = Q.folded_quant(node, inputs)
    except WorkloadError as exc:
        raise WorkloadError(f"{imp.source}: {exc}") from None
    for i, array in enumerate(outputs):
        imp.set(node, i, Value(tuple(array.shape), const=array, quant=carried if i == 0 else None))


def _import_subgraph_nodes(imp: Importer, body, rename, prefix: str, unnamed: str, skip_unsupported: bool) -> None:
    """Import the nodes of a subgraph, tensor names mapped by ``rename``, node names prefixed by ``prefix``
    (``unnamed`` + ``<op>_<i>`` for a node without a name)."""
    onnx = _onnx()
    for t in [t for n in body.node for t in n.input if t] + [o.name for o in body.output]:
        imp.consumers[rename(t)] = imp.consumers.get(rename(t), 0) + 1
    for i, n in enumerate(body.node):
        proto = onnx.NodeProto()
        proto.CopyFrom(n)
        proto.input[:] = [rename(t) if t else t for t in n.input]
        proto.output[:] = [rename(t) if t else t for t in n.output]
        proto.name = prefix + n.name if n.name else f"{unnamed}{n.op_type}_{i}"
        _import_node(imp, _node(proto, proto.name), skip_unsupported)


def _subgraph(imp: Importer, node: Node, name: str):
    """A control-flow node's graph attribute (``then_branch``, ``else_branch``, ``body``); a malformed node without it."""
    for a in node.proto.attribute:
        if a.name == name and a.HasField("g"):
            return a.g
    raise imp.error(node, f"malformed node: no graph attribute '{name}'")


def _inline_if(imp: Importer, node: Node, condition: bool, skip_unsupported: bool) -> None:
    """An ``If`` with a constant condition: the taken branch's nodes are imported in its place (they read outer
    tensors by name); its outputs become the If's outputs."""
    onnx = _onnx()
    branch = _subgraph(imp, node, "then_branch" if condition else "else_branch")
    for init in branch.initializer:
        array = onnx.numpy_helper.to_array(init)
        imp.values[init.name] = Value(tuple(array.shape), const=array)
    _import_subgraph_nodes(imp, branch, lambda t: t, "", f"{node.name}/", skip_unsupported)
    for out, branch_out in zip(node.outputs, branch.output):
        if out:
            imp.values[out] = imp.values[branch_out.name]
    imp.note(f"node '{node.name}' (If): condition is constant ({condition}); the taken branch is imported inline")


def _unroll_loop(imp: Importer, node: Node, trips: int, skip_unsupported: bool) -> None:
    """A ``Loop`` with a constant trip count over activations, unrolled: the body's nodes imported once per
    iteration (tensors renamed ``<loop>/iter<i>/<name>``), loop-carried values threaded through, scan outputs
    stacked along a new axis 0 (``Reshape`` + ``Concat``). An early stop is not evaluated (the upper bound)."""
    body = _subgraph(imp, node, "body")
    carried = len(node.inputs) - 2
    scans = len(body.output) - 1 - carried
    if scans and imp.batch != 1:
        raise imp.error(node, f"a Loop with scan outputs can be unrolled only at batch 1; batch is {imp.batch}")
    current = [imp.values[t] for t in node.inputs[2:]]
    stacked: list[list[Value]] = [[] for _ in range(scans)]
    internal = {i.name for i in body.input} | {o for n in body.node for o in n.output if o}
    for it in range(trips):
        prefix = f"{node.name}/iter{it}/"
        rename = lambda t: prefix + t if t in internal else t  # noqa: E731
        imp.values[rename(body.input[0].name)] = Value((), const=np.asarray(it, np.int64))
        if len(body.input) > 1:
            imp.values[rename(body.input[1].name)] = Value((), const=np.asarray(True))
        for vi, v in zip(body.input[2:], current):
            imp.values[rename(vi.name)] = v
        _import_subgraph_nodes(imp, body, rename, prefix, prefix, skip_unsupported)
        current = [imp.values[rename(o.name)] for o in body.output[1:1 + carried]]
        for k, o in enumerate(body.output[1 + carried:]):
            stacked[k].append(imp.values[rename(o.name)])
    for out, v in zip(node.outputs[:carried], current):
        if out:
            imp.values[out] = v
    for k, out in enumerate(node.outputs[carried:]):
        if not out or not stacked[k]:
            continue
        names = []
        for it, v in enumerate(stacked[k]):
            if v.is_const:
                raise imp.error(node, f"scan output {k} is a constant; only activations are stacked")
            v = imp.unbatched(node, v)
            names.append(f"{node.name}::scan{k}_{it}")
            row = Node(node.name, "Loop", [], [], {})  # the row is not one of the Loop's outputs
            imp.values[names[-1]] = imp.reshape_to(row, v, (1, *v.shape), suffix=f"/scan{k}_{it}")
        CONVERTERS["Concat"](imp, Node(f"{node.name}/scan{k}", "Concat", names, [out], {"axis": 0}))
    imp.note(f"node '{node.name}' (Loop): unrolled {trips} iteration(s) (constant trip count; an early stop is not "
             "evaluated)")
