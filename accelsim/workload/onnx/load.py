"""ONNX model -> LayerGraph: reading the file, resolving the inputs, shape inference, the node loop.

Steps of :func:`load_onnx`:

1. **Read** the model; external data (``.onnx.data``) is read only from files inside the model's folder
   (an absolute location or one that leaves the folder is a WorkloadError). NaN / infinite / complex
   initializers are refused naming the initializer and its node.
2. **Order.** Nodes are sorted topologically; a cycle is a WorkloadError naming a node on it.
3. **Inputs and batch, up front.** Each graph input's shape is resolved (``input_shapes`` for symbolic
   dimensions; a symbolic batch is 1), then ONNX's ``infer_shapes(..., data_prop=True)`` runs on the model
   with those shapes fixed. Axis 0 is the batch unless it is larger than 1 and some tensor computed from
   the inputs has another size on axis 0 (the graph transposes or reshapes it like data: a sequence-first
   model); then whole tensors are one sample (``metadata["onnx"]["batch"] = None``). No second import.
4. **Nodes.** Decomposed GELU / SiLU / LayerNorm chains are fused (``fuse.py``); a node whose inputs are all
   constants is evaluated by ``onnx.reference`` (``fold.py``); every other node goes to its converter
   (``convert_*.py``, ``quant.py``); an op without one becomes a ``Generic`` layer (``strict`` refuses it).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from accelsim.errors import AccelsimError, WorkloadError
from accelsim.workload import layers as L
from accelsim.workload.graph import LayerGraph
from accelsim.workload.onnx import fold as F
from accelsim.workload.onnx import qformat as Q
from accelsim.workload.onnx.convert_compute import _convert_concat
from accelsim.workload.onnx.fuse import fuse_elementwise
from accelsim.workload.onnx.importer import Importer, Node, Value, convert


def _onnx():
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
        import onnx.shape_inference  # noqa: F401
    except ImportError:
        raise WorkloadError("reading .onnx files needs the 'onnx' package: pip install 'accelsim[onnx]'") from None
    return onnx


# --- reading -------------------------------------------------------------------------------------------

def _decode_attrs(proto, onnx_mod) -> dict:
    attrs = {}
    for attr in proto.attribute:
        value = onnx_mod.helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, onnx_mod.TensorProto):
            value = onnx_mod.numpy_helper.to_array(value)
        elif isinstance(value, list):
            value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
        attrs[attr.name] = value
    return attrs


def _read_by(g, tensor: str) -> str:
    """``read by node 'conv1'``: the first node of ``g`` that reads ``tensor`` (for messages)."""
    for i, n in enumerate(g.node):
        if tensor in n.input:
            return f"read by node '{n.name or f'{n.op_type}_{i}'}'"
    return "read by no node"


def _check_initializer(array: np.ndarray, name: str, g, source_label: str) -> None:
    """Refuse weights accelsim cannot model: complex values, NaN or infinite values (one line naming
    the initializer and the node that reads it)."""
    if np.iscomplexobj(array):
        raise WorkloadError(f"{source_label}: initializer '{name}' has complex values ({array.dtype}); "
                            f"{_read_by(g, name)}; accelsim models real-valued weights only")
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise WorkloadError(f"{source_label}: initializer '{name}' contains NaN or infinite values "
                            f"({bad} of {array.size}); {_read_by(g, name)}")


def _external_tensors(model, onnx_mod):
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    return [t for t in _get_all_tensors(model) if uses_external_data(t)]


def _load_external(model, path: Path, onnx_mod) -> None:
    """Read external tensors, each only from a regular file inside ``path``'s folder."""
    tensors = _external_tensors(model, onnx_mod)
    if not tensors:
        return
    folder = path.parent.resolve()
    for t in tensors:
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        target = (folder / location).resolve()
        if not location or os.path.isabs(location) or folder not in target.parents:
            raise WorkloadError(f"{path}: initializer '{t.name}' keeps its data in '{location}', outside the model's "
                                f"folder {folder}; external data is read only from files inside that folder")
        if not target.is_file():
            raise WorkloadError(f"{path}: initializer '{t.name}': external data file '{location}' not found next to the model")
    try:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, str(folder))
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WorkloadError(f"{path}: external data cannot be read ({first})") from None


def _load_model(source, onnx_mod):
    if isinstance(source, onnx_mod.ModelProto):
        return source, source.graph.name or "onnx"
    path = Path(source)
    if not path.exists():
        raise WorkloadError(f"{path}: file not found")
    if path.is_dir():
        raise WorkloadError(f"{path}: is a directory, expected an .onnx file")
    try:
        model = onnx_mod.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, ...
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WorkloadError(f"{path}: not a valid ONNX model ({first})") from None
    _load_external(model, path, onnx_mod)
    return model, path.stem


def _opset(model, domain: str = "") -> int:
    for entry in model.opset_import:
        if entry.domain == domain or (domain == "" and entry.domain == "ai.onnx"):
            return int(entry.version)
    return 1


def _topological(nodes: list[Node], known: set[str], source: str) -> list[Node]:
    """Nodes in an order where each reads only tensors produced before it (stable: ONNX order when
    already sorted). A cycle is a WorkloadError naming a node on it; a tensor nobody produces is left
    for the node loop to report."""
    producer = {o: i for i, n in enumerate(nodes) for o in n.outputs if o}
    deps = [{producer[t] for t in n.inputs if t and t not in known and t in producer} for n in nodes]
    if all(all(d < i for d in ds) for i, ds in enumerate(deps)):
        return nodes
    users: dict[int, list[int]] = {}
    for i, ds in enumerate(deps):
        for d in ds:
            users.setdefault(d, []).append(i)
    waiting = [len(ds) for ds in deps]
    import heapq

    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users.get(i, []):
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        stuck = next(i for i, w in enumerate(waiting) if w > 0)
        raise WorkloadError(f"{source}: the graph has a cycle through node '{nodes[stuck].name}' ({nodes[stuck].op_type}); "
                            "an ONNX graph must be acyclic")
    return [nodes[i] for i in order]


# --- inputs, batch and shape inference ---------------------------------------------------------------------

def _rnn_sequence_inputs(nodes: list[Node]) -> set[str]:
    return {n.inputs[0] for n in nodes if n.op_type in ("LSTM", "GRU", "RNN") and not n.attrs.get("layout", 0) and n.inputs}


def _resolve_inputs(source: str, g, nodes, initializers, overrides: Mapping[str, Sequence[int]]):
    """``[(name, full shape, batch axis)]`` for every graph input that is not an initializer."""
    seq_inputs = _rnn_sequence_inputs(nodes)
    unknown = set(overrides) - {i.name for i in g.input}
    if unknown:
        raise WorkloadError(f"{source}: input_shapes names unknown graph input(s) {', '.join(sorted(unknown))}")
    resolved, seen = [], set()
    for inp in g.input:
        if inp.name in initializers:
            continue
        if inp.name in seen:
            raise WorkloadError(f"{source}: duplicate graph input '{inp.name}'")
        seen.add(inp.name)
        batch_axis = 1 if inp.name in seq_inputs else 0
        tt = inp.type.tensor_type
        if inp.name in overrides:
            local = tuple(overrides[inp.name])
            if not local or not all(isinstance(d, (int, np.integer)) and d > 0 for d in local):
                raise WorkloadError(f"{source}: input_shapes['{inp.name}'] must be positive ints; got {list(local)}")
            full = (*local[:batch_axis], 1, *local[batch_axis:])
        else:
            if not tt.HasField("shape") or len(tt.shape.dim) == 0:
                raise WorkloadError(f"{source}: graph input '{inp.name}' has no shape; pass input_shapes")
            full = []
            for axis, d in enumerate(tt.shape.dim):
                if d.HasField("dim_value") and d.dim_value > 0:
                    full.append(int(d.dim_value))
                elif d.HasField("dim_value"):
                    raise WorkloadError(f"{source}: graph input '{inp.name}' dimension {axis} is {d.dim_value}; "
                                        "expected a positive size")
                elif axis == batch_axis:
                    full.append(0)  # the batch, settled below
                else:
                    label = d.dim_param or "?"
                    raise WorkloadError(
                        f"{source}: graph input '{inp.name}' dimension {axis} is symbolic ('{label}'); "
                        f"pass input_shapes={{'{inp.name}': [...]}} (shape without the batch)")
            full = tuple(full)
            if len(full) <= batch_axis:
                raise WorkloadError(f"{source}: graph input '{inp.name}' of shape {list(full)} has no batch axis")
        resolved.append([inp.name, full, batch_axis])
    if not resolved:
        raise WorkloadError(f"{source}: the ONNX graph has no (non-initializer) inputs")
    fixed = [r for r in resolved if r[1][r[2]] > 0 and r[0] not in overrides]
    batch = fixed[0][1][fixed[0][2]] if fixed else 1
    for r in resolved:
        b = r[1][r[2]]
        if b == 0 or r[0] in overrides:
            r[1] = tuple(batch if i == r[2] else d for i, d in enumerate(r[1]))
        elif b != batch:
            raise WorkloadError(f"{source}: graph inputs disagree on the batch size ({batch} vs {b} for '{r[0]}')")
    return [tuple(r) for r in resolved], batch


def _infer_shapes(model, onnx_mod, inputs) -> tuple[dict[str, tuple], dict[str, int]]:
    """ONNX shape inference (``data_prop=True``) with the graph inputs fixed to ``inputs``:
    (tensor name -> shape with None for an unknown dimension, tensor name -> ONNX element type)."""
    m = onnx_mod.ModelProto()
    _copy_without_data(m, model)
    fixed = {name: full for name, full, _ in inputs}
    for vi in m.graph.input:
        if vi.name in fixed:
            dims = vi.type.tensor_type.shape.dim
            del dims[:]
            for d in fixed[vi.name]:
                dims.add().dim_value = int(d)
    inferred = None
    for data_prop in (True, False):
        try:
            inferred = onnx_mod.shape_inference.infer_shapes(m, data_prop=data_prop)
            break
        except Exception:
            continue
    if inferred is None:
        return {}, {}
    shapes, types = {}, {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        tt = vi.type.tensor_type
        if tt.elem_type:
            types[vi.name] = int(tt.elem_type)
        if tt.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    return shapes, types


def _copy_without_data(m, model) -> None:
    """Copy ``model`` into ``m`` with large initializers replaced by graph inputs of their type and shape
    (shape inference needs types, not megabytes of weights)."""
    from onnx import helper

    m.CopyFrom(model)
    keep, inputs = [], []
    for init in m.graph.initializer:
        if math.prod(init.dims) > 64:
            inputs.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
        else:
            keep.append(init)
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep)
    names = {i.name for i in m.graph.input}
    m.graph.input.extend(i for i in inputs if i.name not in names)


_SHAPE_ONLY = {"Shape", "Size"}


def _axis0_is_batch(nodes: list[Node], inputs, batch: int, shapes, initializers) -> bool:
    """Whether axis 0 stays the batch: every tensor computed from a batched input keeps size ``batch`` on
    axis 0 (only asked when the batch is > 1; ``Shape`` / ``Size`` results carry no data of it)."""
    if batch == 1:
        return True
    carried = {name for name, _, axis in inputs if axis == 0}
    for node in nodes:
        if node.op_type in _SHAPE_ONLY or not any(t in carried for t in node.inputs if t):
            continue
        if node.op_type in ("LSTM", "GRU", "RNN"):
            continue  # the converter places the batch of recurrent outputs itself
        for out in node.outputs:
            if not out:
                continue
            shape = shapes.get(out)
            if shape is None or not shape or shape[0] is None:
                carried.add(out)
                continue
            if shape[0] != batch:
                return False
            carried.add(out)
    return True


def _add_inputs(imp: Importer, inputs, strip_batch: bool) -> None:
    for name, full, batch_axis in inputs:
        imp.names.add(name)
        batched = batch_axis == 0 and strip_batch
        local = full[1:] if batched else full
        if not local:
            raise WorkloadError(f"{imp.source}: graph input '{name}' has only a batch axis")
        try:
            imp.graph.add(L.Input(name=name, shape=local))
        except AccelsimError as exc:
            raise WorkloadError(f"{imp.source}: graph input '{name}': {exc}") from None
        imp.values[name] = Value(tuple(full), name, batched)


# --- the import ---------------------------------------------------------------------------------------------

def load_onnx(source, skip_unsupported: bool = False, input_shapes: Mapping[str, Sequence[int]] | None = None,
              name: str | None = None, strict: bool = False) -> LayerGraph:
    """Read an ONNX model (path or ``onnx.ModelProto``) into a LayerGraph with its weights.

    Parameters
    ----------
    source : str, Path or onnx.ModelProto
        The model; external data files must lie in the model's folder.
    skip_unsupported : bool
        Skip ops without a converter (``warnings.warn`` per node, first activation input passed on)
        instead of importing them as generic layers.
    input_shapes : mapping, optional
        Graph input name -> shape **without** the batch axis, for inputs with symbolic dimensions.
    name : str, optional
        Graph name (default: the file stem, or the ONNX graph name).
    strict : bool
        Refuse (instead of importing as ``Generic`` layers) ops without an accelsim layer type and variants
        the converters cannot express.

    Returns
    -------
    LayerGraph
        Layers in ONNX node order, weights attached. ``metadata["onnx"]``: opset, batch (None when axis 0
        is not a batch), folded batch norms, skipped nodes, ``generic_ops`` ({op type: count}),
        ``nodes`` (layer -> ONNX node). ``metadata["quantization"]``: layer -> the deployed format read from
        the model (``quant.py``). ``metadata["notes"]``: what the import dropped or approximated.

    Raises
    ------
    WorkloadError
        Missing or malformed file, a cycle, external data outside the model's folder, NaN initializers,
        dimensions that cannot be resolved; with ``strict``, any op imported as generic.
    """
    onnx = _onnx()
    model, default_name = _load_model(source, onnx)
    source_label = str(source) if not isinstance(source, onnx.ModelProto) else f"<onnx model {default_name}>"
    g = model.graph
    if len(g.node) == 0:
        raise WorkloadError(f"{source_label}: the ONNX graph has no nodes")

    initializers: dict[str, np.ndarray] = {}
    for init in g.initializer:
        try:
            array = onnx.numpy_helper.to_array(init)
        except Exception as exc:
            raise WorkloadError(f"{source_label}: initializer '{init.name}' cannot be read ({exc}); {_read_by(g, init.name)}") from None
        _check_initializer(array, init.name, g, source_label)
        initializers[init.name] = array
    nodes = []
    for i, n in enumerate(g.node):
        node = Node(n.name or f"{n.op_type}_{i}", n.op_type, list(n.input), list(n.output), _decode_attrs(n, onnx), n.domain, n)
        nodes.append(node)
    graph_inputs = {i.name for i in g.input}
    nodes = _topological(nodes, set(initializers) | graph_inputs, source_label)
    graph_outputs = {o.name for o in g.output}
    inputs, batch = _resolve_inputs(source_label, g, nodes, initializers, input_shapes or {})
    shapes, types = _infer_shapes(model, onnx, inputs)
    strip_batch = _axis0_is_batch(nodes, inputs, batch, shapes, initializers)
    nodes = fuse_elementwise(nodes, initializers, graph_outputs)
    consumers: dict[str, int] = {}
    for node in nodes:
        implicit = F.outer_names(node.proto) if node.proto is not None and node.op_type in F.CONTROL_FLOW else set()
        for t in [t for t in node.inputs if t] + sorted(implicit):  # tensors a subgraph reads count too
            consumers[t] = consumers.get(t, 0) + 1

    graph = LayerGraph(name or default_name, source_label)
    imp = Importer(graph, source_label, _opset(model), consumers, graph_outputs, shapes, strict=strict)
    imp.consumer_ops = {t: n.op_type for n in nodes for t in n.inputs if t}
    imp.batch = batch if strip_batch else 1
    imp.types = types
    imp.opsets = {e.domain if e.domain != "ai.onnx" else "": int(e.version) for e in model.opset_import}
    for key, array in initializers.items():
        imp.values[key] = Value(tuple(array.shape), const=array)
    _add_inputs(imp, inputs, strip_batch)
    for node in nodes:
        _import_node(imp, node, node.proto, skip_unsupported)
    _finish_notes(imp, strip_batch)
    graph.metadata["onnx"] = {"opset": imp.opset, "batch": imp.batch if strip_batch else None,
                              "folded_batchnorm": imp.folded_batchnorm, "skipped": imp.skipped,
                              "generic_ops": dict(sorted(imp.generic_ops.items())),
                              "weight_types": dict(sorted(imp.weight_dtypes.items())),
                              "producer": model.producer_name, "nodes": imp.node_of}
    graph.metadata["quantization"] = imp.quantization
    graph.metadata["notes"] = imp.notes
    if not graph.compute_layers():
        raise WorkloadError(f"{source_label}: no layers were imported (only constants)")
    return graph


def _import_node(imp: Importer, node: Node, proto, skip_unsupported: bool) -> None:
    _import_one(imp, node, proto, skip_unsupported)
    if any(t in imp.data_dependent for t in node.inputs):  # shapes computed from a data-dependent size
        imp.data_dependent.update(o for o in node.outputs if o)


def _import_one(imp: Importer, node: Node, proto, skip_unsupported: bool) -> None:
    inputs = [imp.values.get(t) if t else None for t in node.inputs]
    missing = [t for t, v in zip(node.inputs, inputs) if t and v is None]
    if missing:
        raise imp.error(node, f"reads tensor '{missing[0]}' that no earlier node or initializer produces")
    present = [v for v in inputs if v is not None]
    if node.op_type == "If" and node.domain in ("", "ai.onnx") and present and present[0].is_const:
        _inline_if(imp, node, bool(np.asarray(present[0].const).ravel()[0]), skip_unsupported)
        return
    if node.op_type == "Loop" and node.domain in ("", "ai.onnx") and inputs and inputs[0] is not None \
            and inputs[0].is_const and not all(v.is_const for v in present) and not imp.strict:
        trips = int(np.asarray(inputs[0].const).ravel()[0])
        if 0 <= trips <= MAX_UNROLL:
            _unroll_loop(imp, node, trips, skip_unsupported)
            return
    if proto is not None and F.can_fold(node) and all(v.is_const for v in present):
        outer = {t: imp.values.get(t) for t in F.outer_names(proto)} if node.op_type in F.CONTROL_FLOW else {}
        if any(v is None or not v.is_const for v in outer.values()):
            convert(imp, node, skip_unsupported)  # a subgraph reads activations: a generic layer
            return
        try:
            if node.op_type in F.CONTROL_FLOW:
                consts = {t: v.const for t, v in zip(node.inputs, inputs) if t and v is not None}
                outputs = F.fold_control_flow(node, proto, {**consts, **{t: v.const for t, v in outer.items()}},
                                              imp.opsets)
            else:
                outputs = F.fold(node, proto, [None if v is None else v.const for v in inputs], imp.opset)
        except F.FoldError as exc:
            if imp.strict:
                raise WorkloadError(f"{imp.source}: {exc}") from None
            imp.generic(node, str(exc))
            imp.note(f"{exc}: imported as a generic layer")
            return
        except WorkloadError as exc:
            raise WorkloadError(f"{imp.source}: {exc}") from None
        carried = Q.folded_quant(node, inputs, outputs)
        for i, array in enumerate(outputs):
            imp.set(node, i, Value(tuple(array.shape), const=array, quant=carried if i == 0 else None))
        return
    convert(imp, node, skip_unsupported)


def _inline_if(imp: Importer, node: Node, condition: bool, skip_unsupported: bool) -> None:
    """An ``If`` whose condition is a constant: the taken branch's nodes are imported in its place (they read
    outer tensors by name); its outputs become the If's outputs."""
    onnx = _onnx()
    branch = node.proto.attribute[[a.name for a in node.proto.attribute].index("then_branch" if condition else "else_branch")].g
    for init in branch.initializer:
        array = onnx.numpy_helper.to_array(init)
        imp.values[init.name] = Value(tuple(array.shape), const=array)
    for t in [t for n in branch.node for t in n.input if t] + [o.name for o in branch.output]:
        imp.consumers[t] = imp.consumers.get(t, 0) + 1
    for i, n in enumerate(branch.node):
        sub = Node(n.name or f"{node.name}/{n.op_type}_{i}", n.op_type, list(n.input), list(n.output),
                   _decode_attrs(n, onnx), n.domain, n)
        _import_node(imp, sub, n, skip_unsupported)
    for out, branch_out in zip(node.outputs, branch.output):
        if out:
            imp.values[out] = imp.values[branch_out.name]
    imp.note(f"node '{node.name}' (If): condition is constant ({condition}); the taken branch is imported inline")


#: iterations of a Loop with a constant trip count that are unrolled (more: a generic layer)
MAX_UNROLL = 256


def _unroll_loop(imp: Importer, node: Node, trips: int, skip_unsupported: bool) -> None:
    """A ``Loop`` with a constant trip count over activations, unrolled: the body's nodes are imported once per
    iteration (tensors renamed ``<loop>/iter<i>/<name>``), loop-carried values threaded through, scan outputs
    stacked along a new axis 0 (``Reshape`` + ``Concat``). A condition that may stop the loop early is not
    evaluated: every iteration runs (the upper bound)."""
    onnx = _onnx()
    body = next(a.g for a in node.proto.attribute if a.name == "body")
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
        for t in [t for n in body.node for t in n.input if t] + [o.name for o in body.output]:
            imp.consumers[rename(t)] = imp.consumers.get(rename(t), 0) + 1
        for i, n in enumerate(body.node):
            proto = onnx.NodeProto()
            proto.CopyFrom(n)
            proto.input[:] = [rename(t) if t else t for t in n.input]
            proto.output[:] = [rename(t) if t else t for t in n.output]
            proto.name = f"{prefix}{n.name or f'{n.op_type}_{i}'}"
            sub = Node(proto.name, n.op_type, list(proto.input), list(proto.output), _decode_attrs(n, onnx), n.domain, proto)
            _import_node(imp, sub, proto, skip_unsupported)
        current = [imp.values[rename(o.name)] for o in body.output[1:1 + carried]]
        for k, o in enumerate(body.output[1 + carried:]):
            stacked[k].append(imp.values[rename(o.name)])
    for out, v in zip(node.outputs[:carried], current):
        if out:
            imp.values[out] = v
    for k, out in enumerate(node.outputs[carried:]):
        if not out or not stacked[k]:
            continue
        rows = []
        for it, v in enumerate(stacked[k]):
            if v.is_const:
                raise imp.error(node, f"scan output {k} is a constant; only activations are stacked")
            v = imp.unbatched(node, v)
            rows.append(imp.reshape_to(node, v, (1, *v.shape), suffix=f"/scan{k}_{it}"))
        names = [f"{node.name}::scan{k}_{it}" for it in range(len(rows))]
        for name, v in zip(names, rows):
            imp.values[name] = v
        _convert_concat(imp, Node(f"{node.name}/scan{k}", "Concat", names, [out], {"axis": 0}))
    imp.note(f"node '{node.name}' (Loop): unrolled {trips} iteration(s) (constant trip count; an early stop is not "
             "evaluated)")


def _finish_notes(imp: Importer, strip_batch: bool) -> None:
    if not strip_batch:
        imp.note("axis 0 of the inputs is reshaped or transposed like data, so it is not a batch: whole tensors "
                 "are one sample")
    if imp.generic_ops:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(imp.generic_ops.items()))
        imp.note(f"ops without an accelsim layer type imported as generic layers (traffic only, no MACs): {listed}")
    if imp.folded_batchnorm:
        imp.note(f"{len(imp.folded_batchnorm)} BatchNormalization node(s) folded into the preceding conv / linear weights")
    if imp.skipped:
        imp.note(f"skipped (skip_unsupported): {', '.join(imp.skipped)}")
