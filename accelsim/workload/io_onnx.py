"""ONNX model -> LayerGraph with weights, through a registry of op converters.

Every ONNX node is handled by the converter registered for its ``op_type`` in :data:`CONVERTERS`
(``register("Conv")`` adds one). Nodes whose inputs are all constants (initializers, ``Constant``
nodes, the ``Shape -> Gather -> Unsqueeze -> Concat`` chains torch emits for reshape targets) are
evaluated with NumPy by the folders in :data:`FOLDERS` and never become layers.

Conventions (details and the op table: ``docs/importers.md``):

* **Batch.** Dimension 0 of a graph input is the batch (dimension 1 for the sequence input of a
  layout-0 ``LSTM``/``GRU``); a symbolic batch is taken as 1, any other symbolic dimension needs
  ``input_shapes``. Layer shapes exclude the batch. A tensor whose batch axis was moved or merged
  (a transpose to ``(S, B, D)``, a reshape to ``(B * heads, S, d)``) is carried on with its full
  shape, which is only possible at batch 1.
* **Weights** come from initializers and are attached with ``graph.set_weight`` in PyTorch layout
  (``MatMul`` weights transposed to ``(out, in)``; ``Gemm`` ``alpha``/``beta`` applied). An
  initializer with NaN or infinite values is a :class:`WorkloadError`.
* **Folding.** ``BatchNormalization`` directly after a ``Conv`` or ``Gemm``/``MatMul`` layer whose
  output feeds nothing else is folded into that layer's weight and bias; otherwise it becomes a
  ``BatchNorm`` layer. An ``Add`` of a constant vector right after a bias-less ``MatMul`` (how torch
  exports ``nn.Linear`` on 3-D inputs) becomes that ``Linear``'s bias.
* **GELU** exported as ``x * 0.5 * (1 + Erf(x / sqrt 2))`` (torch's decomposition) is fused back
  into one ``gelu`` activation; opset-20 ``Gelu`` maps directly.
* An element-wise op with one constant operand (scaling scores by ``1/sqrt(d)``, adding a fixed
  position table) becomes an ``Identity`` layer: shape-preserving, no MACs.
* ``LSTM``/``GRU`` nodes become one ``LSTMCell``/``GRUCell`` per direction (gates reordered to
  PyTorch's order, bias columns folded as accelsim's cell does), plus the reshapes and slices that
  give ``Y`` and ``Y_h`` their ONNX shapes.

An op without a converter raises :class:`UnsupportedLayerError` naming node and op type; with
``skip_unsupported=True`` it is skipped with a ``warnings.warn`` and its first activation input
passes through (or is reshaped to the inferred output shape when the element count is unchanged).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from accelsim.errors import AccelsimError, UnsupportedLayerError, WorkloadError
from accelsim.workload import layers as L
from accelsim.workload.graph import LayerGraph


@dataclass
class Node:
    """One ONNX node with its attributes decoded to Python values."""

    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict
    domain: str = ""


@dataclass(frozen=True)
class Value:
    """A tensor during import: a constant array, or the output of layer ``layer``.

    ``shape`` is the full ONNX shape. When ``batched``, axis 0 is the batch and the layer's own
    (per-sample) shape is ``shape[1:]``; otherwise the layer shape is the full shape.
    """

    shape: tuple[int, ...]
    layer: str | None = None
    batched: bool = True
    const: np.ndarray | None = None
    pads: tuple[int, int, int, int] | None = None  # a zero Pad (top, left, bottom, right) awaiting its Conv

    @property
    def is_const(self) -> bool:
        return self.const is not None

    @property
    def local_shape(self) -> tuple[int, ...]:
        if self.pads is not None:  # the producer's (unpadded) shape
            t, left, b, r = self.pads
            shape = self.shape[:-2] + (self.shape[-2] - t - b, self.shape[-1] - left - r)
            return shape[1:] if self.batched else shape
        return self.shape[1:] if self.batched else self.shape


Converter = Callable[["Importer", Node], None]
Folder = Callable[[Node, list], list]
CONVERTERS: dict[str, Converter] = {}
FOLDERS: dict[str, Folder] = {}


def register(*op_types: str):
    """Decorator: register a converter ``fn(importer, node)`` for ONNX op types."""

    def wrap(fn: Converter) -> Converter:
        for op in op_types:
            CONVERTERS[op] = fn
        return fn

    return wrap


def register_folder(*op_types: str):
    """Decorator: register a NumPy evaluator ``fn(node, arrays) -> [outputs]`` for constant inputs."""

    def wrap(fn: Folder) -> Folder:
        for op in op_types:
            FOLDERS[op] = fn
        return fn

    return wrap


# --- the importer ----------------------------------------------------------------------------------

class _BatchAxisError(WorkloadError):
    """The graph moves or merges axis 0 of its inputs while that axis is > 1: it is not a batch."""


class Importer:
    """State of one import: the graph being built and every ONNX tensor seen so far."""

    def __init__(self, graph: LayerGraph, source: str, opset: int, consumers: Mapping[str, int],
                 graph_outputs: set[str], inferred: Mapping[str, tuple[int, ...]]):
        self.graph = graph
        self.source = source
        self.opset = opset
        self.consumers = consumers
        self.consumer_ops: dict[str, str] = {}
        self.graph_outputs = graph_outputs
        self.inferred = inferred
        self.values: dict[str, Value] = {}
        self.batch = 1
        self.names: set[str] = set()
        self.name_counts: dict[str, int] = {}
        self.folded_batchnorm: list[str] = []
        self.node_of: dict[str, str] = {}  # layer name -> ONNX node name
        self.skipped: list[str] = []
        self._node_layers: dict[str, int] = {}

    # --- errors and names ---
    def error(self, node: Node | None, message: str) -> WorkloadError:
        where = f"node '{node.name}' ({node.op_type}): " if node is not None else ""
        return WorkloadError(f"{self.source}: {where}{message}")

    def batch_error(self, node: Node, message: str) -> _BatchAxisError:
        return _BatchAxisError(f"{self.source}: node '{node.name}' ({node.op_type}): {message}")

    def layer_name(self, node: Node, suffix: str = "") -> str:
        base = _readable_name(node) + suffix
        name = base
        while name in self.names:
            self.name_counts[base] = self.name_counts.get(base, 1) + 1
            name = f"{base}_{self.name_counts[base]}"
        self.names.add(name)
        return name

    # --- values ---
    def value(self, node: Node, index: int) -> Value:
        if index >= len(node.inputs) or not node.inputs[index]:
            raise self.error(node, f"input {index} is missing")
        name = node.inputs[index]
        if name not in self.values:
            raise self.error(node, f"reads tensor '{name}' that no earlier node or initializer produces")
        return self.values[name]

    def optional(self, node: Node, index: int) -> Value | None:
        if index >= len(node.inputs) or not node.inputs[index]:
            return None
        return self.value(node, index)

    def const(self, node: Node, index: int, what: str = "") -> np.ndarray:
        v = self.value(node, index)
        if not v.is_const:
            label = what or f"input {index}"
            raise self.error(node, f"{label} must be a constant (initializer); got the activation '{node.inputs[index]}'")
        return v.const

    def optional_const(self, node: Node, index: int, what: str = "") -> np.ndarray | None:
        v = self.optional(node, index)
        if v is None:
            return None
        return self.const(node, index, what)

    def activation(self, node: Node, index: int) -> Value:
        v = self.value(node, index)
        if v.is_const:
            raise self.error(node, f"input {index} must be an activation, not a constant")
        return v

    def set(self, node: Node, index: int, value: Value) -> None:
        if index < len(node.outputs) and node.outputs[index]:
            self.values[node.outputs[index]] = value

    def sole_consumer(self, tensor: str) -> bool:
        return self.consumers.get(tensor, 0) == 1 and tensor not in self.graph_outputs

    # --- layers ---
    def add(self, node: Node, cls: type[L.Layer], inputs: Sequence[Value], suffix: str = "", **fields) -> L.Layer:
        name = self.layer_name(node, suffix)
        try:
            layer = cls(name=name, input_shapes=tuple(v.local_shape for v in inputs), **fields)
            self.graph.add(layer, [v.layer for v in inputs])
        except WorkloadError as exc:
            raise self.error(node, str(exc).removeprefix(f"{self.graph.source}: ")) from None
        self.node_of[name] = node.name
        return layer

    def out(self, node: Node, layer: L.Layer, batched: bool, index: int = 0) -> Value:
        local = tuple(layer.output_shape)
        full = (self.batch, *local) if batched else local
        value = Value(full, layer.name, batched)
        self.set(node, index, value)
        return value

    def set_weight(self, node: Node, layer_name: str, weight: np.ndarray, bias: np.ndarray | None = None) -> None:
        try:
            # own, writable float32 copies (initializer arrays are read-only views of the protobuf)
            self.graph.set_weight(layer_name, np.array(weight, dtype=np.float32, order="C"),
                                  None if bias is None else np.array(bias, dtype=np.float32).ravel())
        except WorkloadError as exc:
            raise self.error(node, str(exc).removeprefix(f"{self.graph.source}: ")) from None

    # --- batch bookkeeping ---
    def batched(self, node: Node, v: Value) -> Value:
        """``v`` with axis 0 as the batch (inserts a reshape for a batch-1 tensor carried unbatched)."""
        if v.batched:
            return v
        if v.shape[0] != 1 or self.batch != 1:
            raise self.error(node, f"needs a batched input; the batch axis of {list(v.shape)} was moved or merged earlier")
        layer = self.add(node, L.Reshape, [v], suffix="/rebatch", shape=v.shape[1:])
        return Value(v.shape, layer.name, True)

    def unbatched(self, node: Node, v: Value) -> Value:
        """``v`` carried with its full shape (a reshape that keeps the leading batch-1 axis)."""
        if not v.batched:
            return v
        if self.batch != 1:
            raise self.batch_error(node, f"moves or merges the batch axis, which is only supported at batch 1; batch is {self.batch}")
        layer = self.add(node, L.Reshape, [v], suffix="/unbatch", shape=v.shape)
        return Value(v.shape, layer.name, False)

    def reshape_to(self, node: Node, v: Value, full: tuple[int, ...], index: int = 0, suffix: str = "") -> Value:
        """Give ``v`` the full shape ``full`` (same element count) with a Reshape layer if needed."""
        full = tuple(int(d) for d in full)
        if math.prod(full) != math.prod(v.shape):
            raise self.error(node, f"cannot reshape {list(v.shape)} to {list(full)}")
        if v.batched and full and full[0] == self.batch and math.prod(full[1:]) == math.prod(v.local_shape):
            out_batched, target = True, full[1:]
        elif self.batch == 1:
            out_batched, target = False, full
        else:
            raise self.batch_error(node, f"reshape {list(v.shape)} -> {list(full)} mixes the batch axis (batch {self.batch})")
        if not target:
            target = (1,)
            full = (*full, 1) if out_batched else (1,)
        if tuple(target) == tuple(v.local_shape):
            value = Value(full, v.layer, out_batched)
        else:
            layer = self.add(node, L.Reshape, [v], suffix=suffix, shape=target)
            value = Value(full, layer.name, out_batched)
        self.set(node, index, value)
        return value

    def local_axis(self, node: Node, v: Value, axis: int) -> int:
        """An ONNX axis of ``v`` (full rank, may be negative) as an axis of the layer shape."""
        rank = len(v.shape)
        if not -rank <= axis < rank:
            raise self.error(node, f"axis {axis} out of range for rank {rank}")
        axis %= rank
        if v.batched:
            if axis == 0:
                raise self.error(node, "operates along the batch axis, which accelsim layers cannot express")
            return axis - 1
        return axis


def _torch_module_path(name: str) -> str:
    """'/layer1/layer1.0/conv1/Conv' -> 'layer1.0.conv1' (torch exporter scope names)."""
    parts = [p for p in name.split("/") if p]
    path: list[str] = []
    for part in parts[:-1]:
        if path and part.startswith(path[-1] + "."):
            path[-1] = part
        else:
            path.append(part)
    return ".".join(path)


def _readable_name(node: Node) -> str:
    if node.name.startswith("/") and node.name.count("/") >= 2:
        module = _torch_module_path(node.name)
        if module:
            return module
    return node.name.lstrip("/") or node.op_type.lower()


# --- reading the model ---------------------------------------------------------------------------

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


def _load_model(source, onnx_mod):
    if isinstance(source, onnx_mod.ModelProto):
        return source, source.graph.name or "onnx"
    path = Path(source)
    if not path.exists():
        raise WorkloadError(f"{path}: file not found")
    if path.is_dir():
        raise WorkloadError(f"{path}: is a directory, expected an .onnx file")
    try:
        model = onnx_mod.load(str(path))
    except Exception as exc:  # protobuf DecodeError, external-data errors, ...
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WorkloadError(f"{path}: not a valid ONNX model ({first})") from None
    return model, path.stem


def _opset(model) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1


def _inferred_shapes(model, onnx_mod) -> dict[str, tuple]:
    try:
        inferred = onnx_mod.shape_inference.infer_shapes(model)
    except Exception:  # best effort: only used when skipping unsupported ops
        return {}
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    return shapes


def load_onnx(source, skip_unsupported: bool = False, input_shapes: Mapping[str, Sequence[int]] | None = None,
              name: str | None = None) -> LayerGraph:
    """Read an ONNX model (path or ``onnx.ModelProto``) into a LayerGraph with its weights.

    Parameters
    ----------
    source : str, Path or onnx.ModelProto
        The model.
    skip_unsupported : bool
        Skip ops without a converter (``warnings.warn`` per node) instead of raising.
    input_shapes : mapping, optional
        Graph input name -> shape **without** the batch axis, for inputs with symbolic dimensions
        (for a graph whose axis 0 turns out not to be a batch, see below, the full shape).
    name : str, optional
        Graph name (default: the file stem, or the ONNX graph name).

    Returns
    -------
    LayerGraph
        Layers in ONNX node order, weights attached; ``metadata["onnx"]`` records opset, batch,
        folded batch norms, skipped nodes and the ONNX node of every layer. When the graph moves or
        merges an axis 0 larger than 1 (a sequence-first model), that axis is not a batch and the graph
        is imported again with whole tensors as one sample (``metadata["onnx"]["batch"] is None``).

    Raises
    ------
    WorkloadError
        Missing or malformed file, NaN initializers, shapes accelsim cannot express.
    UnsupportedLayerError
        An op type without a converter (unless ``skip_unsupported``).
    """
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
        import onnx.shape_inference  # noqa: F401
    except ImportError:
        raise WorkloadError("reading .onnx files needs the 'onnx' package: pip install 'accelsim[onnx]'") from None
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

    nodes = [Node(n.name or f"{n.op_type}_{i}", n.op_type, list(n.input), list(n.output), _decode_attrs(n, onnx), n.domain)
             for i, n in enumerate(g.node)]
    graph_outputs = {o.name for o in g.output}
    nodes = _fuse_elementwise(nodes, initializers, graph_outputs)
    consumers: dict[str, int] = {}
    for node in nodes:
        for t in node.inputs:
            if t:
                consumers[t] = consumers.get(t, 0) + 1

    inferred = _inferred_shapes(model, onnx) if skip_unsupported else {}

    def run(strip_batch: bool) -> LayerGraph:
        graph = LayerGraph(name or default_name, source_label)
        imp = Importer(graph, source_label, _opset(model), consumers, graph_outputs, inferred)
        imp.consumer_ops = {t: n.op_type for n in nodes for t in n.inputs if t}
        for key, array in initializers.items():
            imp.values[key] = Value(tuple(array.shape), const=array)
        _add_inputs(imp, g, nodes, initializers, input_shapes or {}, strip_batch)
        retry, caught = False, []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for node in nodes:
                    _convert(imp, node, skip_unsupported)
        except _BatchAxisError:
            retry = strip_batch
            raise
        finally:
            if not retry:  # warnings of an attempt that is retried are dropped
                for w in caught:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        graph.metadata["onnx"] = {"opset": imp.opset, "batch": imp.batch if strip_batch else None,
                                  "folded_batchnorm": imp.folded_batchnorm, "skipped": imp.skipped,
                                  "producer": model.producer_name, "nodes": imp.node_of}
        if not graph.compute_layers():
            raise WorkloadError(f"{source_label}: no layers were imported (only constants)")
        return graph

    try:
        return run(strip_batch=True)
    except _BatchAxisError:
        # axis 0 (> 1) is reshaped or transposed like any other axis (a sequence-first model): it is
        # not a batch, so import the whole tensors as one sample
        return run(strip_batch=False)


def _rnn_sequence_inputs(nodes: list[Node]) -> set[str]:
    return {n.inputs[0] for n in nodes if n.op_type in ("LSTM", "GRU", "RNN") and not n.attrs.get("layout", 0) and n.inputs}


def _add_inputs(imp: Importer, g, nodes: list[Node], initializers, overrides: Mapping[str, Sequence[int]],
                strip_batch: bool = True) -> None:
    seq_inputs = _rnn_sequence_inputs(nodes)
    unknown = set(overrides) - {i.name for i in g.input}
    if unknown:
        raise WorkloadError(f"{imp.source}: input_shapes names unknown graph input(s) {', '.join(sorted(unknown))}")
    batch: int | None = None
    for inp in g.input:
        if inp.name in initializers:
            continue
        batch_axis = 1 if inp.name in seq_inputs else 0
        tt = inp.type.tensor_type
        if inp.name in overrides:
            local = tuple(overrides[inp.name])
            if not local or not all(isinstance(d, (int, np.integer)) and d > 0 for d in local):
                raise WorkloadError(f"{imp.source}: input_shapes['{inp.name}'] must be positive ints; got {list(local)}")
            b = batch or 1
            full = (*local[:batch_axis], b, *local[batch_axis:]) if strip_batch else local
        else:
            if not tt.HasField("shape") or len(tt.shape.dim) == 0:
                raise WorkloadError(f"{imp.source}: graph input '{inp.name}' has no shape; pass input_shapes")
            full = []
            for axis, d in enumerate(tt.shape.dim):
                if d.HasField("dim_value") and d.dim_value > 0:
                    full.append(int(d.dim_value))
                elif d.HasField("dim_value"):
                    raise WorkloadError(f"{imp.source}: graph input '{inp.name}' dimension {axis} is {d.dim_value}; "
                                        "expected a positive size")
                elif axis == batch_axis:
                    full.append(batch or 1)
                else:
                    label = d.dim_param or "?"
                    raise WorkloadError(
                        f"{imp.source}: graph input '{inp.name}' dimension {axis} is symbolic ('{label}'); "
                        f"pass input_shapes={{'{inp.name}': [...]}} (shape without the batch)"
                    )
            full = tuple(full)
            if len(full) <= batch_axis:
                raise WorkloadError(f"{imp.source}: graph input '{inp.name}' of shape {list(full)} has no batch axis")
        b = full[batch_axis] if strip_batch else 1
        if batch is None:
            batch = b
        elif b != batch:
            raise WorkloadError(f"{imp.source}: graph inputs disagree on the batch size ({batch} vs {b} for '{inp.name}')")
        imp.batch = batch
        if inp.name in imp.names:
            raise WorkloadError(f"{imp.source}: duplicate graph input '{inp.name}'")
        imp.names.add(inp.name)
        batched = batch_axis == 0 and strip_batch
        local = full[1:] if batched else full
        if not local:
            raise WorkloadError(f"{imp.source}: graph input '{inp.name}' has only a batch axis")
        try:
            imp.graph.add(L.Input(name=inp.name, shape=local))
        except AccelsimError as exc:
            raise WorkloadError(f"{imp.source}: graph input '{inp.name}': {exc}") from None
        imp.values[inp.name] = Value(tuple(full), inp.name, batched)
    if batch is None:
        raise WorkloadError(f"{imp.source}: the ONNX graph has no (non-initializer) inputs")


def _convert(imp: Importer, node: Node, skip_unsupported: bool) -> None:
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
    inputs = [imp.values.get(t) if t else None for t in node.inputs]
    missing = [t for t, v in zip(node.inputs, inputs) if t and v is None]
    if missing:
        raise imp.error(node, f"reads tensor '{missing[0]}' that no earlier node or initializer produces")
    present = [v for v in inputs if v is not None]
    if op in FOLDERS and all(v.is_const for v in present):
        try:
            outputs = FOLDERS[op](node, [None if v is None else v.const for v in inputs])
        except AccelsimError:
            raise
        except Exception as exc:
            raise imp.error(node, f"cannot evaluate constant op ({type(exc).__name__}: {exc})") from None
        for i, array in enumerate(outputs):
            array = np.asarray(array)
            imp.set(node, i, Value(tuple(array.shape), const=array))
        return
    converter = CONVERTERS.get(op)
    if converter is None:
        if not skip_unsupported:
            raise UnsupportedLayerError(node.name, op, imp.source)
        _skip(imp, node, op)
        return
    try:
        converter(imp, node)
    except AccelsimError:
        raise
    except (KeyError, IndexError, ValueError, TypeError) as exc:  # missing attributes, wrong arities
        detail = f"missing attribute {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise imp.error(node, f"malformed node ({detail})") from None


def _skip(imp: Importer, node: Node, op: str) -> None:
    warnings.warn(f"{imp.source}: skipping node '{node.name}' with unsupported op type '{op}'", stacklevel=4)
    imp.skipped.append(node.name)
    acts = [imp.values[t] for t in node.inputs if t and not imp.values[t].is_const]
    if not acts:
        return  # outputs stay undefined; a later reader gets a clear error
    v = acts[0]
    for i, out in enumerate(node.outputs):
        if not out:
            continue
        shape = imp.inferred.get(out)
        if shape and shape[0] is None:
            shape = (imp.batch, *shape[1:])
        if shape is not None and all(d is not None for d in shape) and tuple(shape) != tuple(v.shape):
            full = tuple(shape)
            if math.prod(full) != math.prod(v.shape):
                raise imp.error(node, f"cannot skip: it changes shape {list(v.shape)} -> {list(full)}")
            imp.reshape_to(node, v, full, index=i, suffix="/skipped")
        else:
            imp.set(node, i, v)


# --- fusion of decomposed element-wise functions ----------------------------------------------------

# ops that may appear inside a decomposed unary function of one activation (GELU, SiLU, LayerNorm)
_ELEMENTWISE_FAMILY = {"Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh", "Sigmoid", "HardSigmoid", "Neg",
                       "Reciprocal", "Cast", "ReduceMean"}
_FUSION_TRIGGERS = {"Erf", "Tanh", "Sigmoid", "HardSigmoid", "ReduceMean"}


def _static_consts(nodes: list[Node], initializers) -> dict[str, np.ndarray]:
    consts = dict(initializers)
    for node in nodes:
        if node.op_type == "Constant" and node.outputs:
            try:
                consts[node.outputs[0]] = _constant_value(node)
            except Exception:
                pass
        elif node.op_type == "Identity" and node.inputs and node.inputs[0] in consts:
            consts[node.outputs[0]] = consts[node.inputs[0]]  # shared weights re-exported under a new name
    return consts


def _in_family(node: Node, consts) -> bool:
    if node.domain not in ("", "ai.onnx") or node.op_type not in _ELEMENTWISE_FAMILY:
        return False
    if node.op_type == "ReduceMean":  # only the last-axis mean of a layer norm, kept dims
        axes = node.attrs.get("axes")
        if axes is None and len(node.inputs) > 1 and node.inputs[1] in consts:
            axes = consts[node.inputs[1]].ravel().tolist()
        return axes is not None and list(axes) == [-1] and node.attrs.get("keepdims", 1) == 1
    return True


def _fused_kind(region: list[Node], root: str) -> tuple[str, dict] | None:
    ops = [n.op_type for n in region]
    if "ReduceMean" in ops:
        if "Sqrt" not in ops and "Reciprocal" not in ops:
            return None
        return "_LayerNorm", {"rms": "Sub" not in ops}
    muls_of_root = sum(1 for n in region if n.op_type == "Mul" and root in n.inputs)
    if "Erf" in ops and muls_of_root:
        return "_Activation", {"func": "gelu"}
    if "Tanh" in ops and muls_of_root and ops.count("Mul") + ops.count("Pow") >= 3:
        return "_Activation", {"func": "gelu"}  # tanh approximation: 0.5 x (1 + tanh(c (x + 0.044715 x^3)))
    if "Sigmoid" in ops and muls_of_root:
        return "_Activation", {"func": "silu"}
    if "HardSigmoid" in ops and muls_of_root:
        return "_Activation", {"func": "hardswish"}
    return None


def _fuse_elementwise(nodes: list[Node], initializers, graph_outputs: set[str]) -> list[Node]:
    """Fuse decomposed GELU / SiLU / HardSwish / LayerNorm subgraphs into single nodes.

    A trigger node (Erf, Tanh, Sigmoid, HardSigmoid, last-axis ReduceMean) is traced back through
    element-wise nodes to the one activation ``x`` they all derive from (a tensor produced by a
    non-element-wise node, or one that branches). The region is every element-wise node fed only by
    ``x``, constants and the region itself; when it has exactly one tensor used outside it, the
    region computes ``f(x)`` and is replaced by one node, e.g. torch's
    ``x * 0.5 * (1 + Erf(x / sqrt 2))`` by a GELU.
    """
    if not any(n.op_type in _FUSION_TRIGGERS for n in nodes):
        return nodes
    consts = _static_consts(nodes, initializers)
    producer = {o: i for i, n in enumerate(nodes) for o in n.outputs if o}
    consumers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for t in n.inputs:
            if t:
                consumers.setdefault(t, []).append(i)
    fused: set[int] = set()
    replacement: dict[int, Node] = {}

    def is_act(t: str) -> bool:
        return bool(t) and t not in consts

    for ti, trigger in enumerate(nodes):
        if trigger.op_type not in _FUSION_TRIGGERS or ti in fused or not _in_family(trigger, consts):
            continue
        # trace back to the root activation
        roots, stack, seen = set(), [t for t in trigger.inputs if is_act(t)], set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            p = producer.get(t)
            if p is None or p in fused or not _in_family(nodes[p], consts) or len(consumers.get(t, [])) > 1:
                roots.add(t)
            else:
                stack.extend(u for u in nodes[p].inputs if is_act(u))
        if len(roots) != 1:
            continue
        (root,) = roots
        # grow the region forward from the root
        region_tensors, region = {root}, []
        start = producer.get(root, -1) + 1
        for i in range(start, len(nodes)):
            n = nodes[i]
            if i in fused or not _in_family(n, consts):
                continue
            # one nonlinearity per region: a SiLU right before a LayerNorm stays a separate node
            if n.op_type in _FUSION_TRIGGERS and i != ti and not (n.op_type == trigger.op_type == "ReduceMean"):
                continue
            acts = [t for t in n.inputs if is_act(t)]
            if acts and all(t in region_tensors for t in acts):
                region.append(i)
                region_tensors.update(o for o in n.outputs if o)
        if ti not in region:
            continue
        members = set(region)
        outputs = [o for i in region for o in nodes[i].outputs if o and (
            o in graph_outputs or any(c not in members for c in consumers.get(o, [])))]
        if len(outputs) != 1:
            continue
        kind = _fused_kind([nodes[i] for i in region], root)
        if kind is None:
            continue
        op, attrs = kind
        last = max(i for i in region if outputs[0] in nodes[i].outputs)
        if any(i > last for i in region):
            continue
        base = trigger.name.rsplit("/", 1)[0] if "/" in trigger.name.strip("/") else trigger.name
        label = attrs.get("func", "LayerNorm")
        replacement[last] = Node(f"{base}/{label}" if base == trigger.name else f"{base}/{label.capitalize()}",
                                 op, [root], outputs, attrs, "")
        fused.update(region)
    if not replacement:
        return nodes
    return [replacement[i] if i in replacement else n for i, n in enumerate(nodes) if i not in fused or i in replacement]


# --- constant folding ------------------------------------------------------------------------------

def _constant_value(node: Node) -> np.ndarray:
    a = node.attrs
    if "value" in a:
        return np.asarray(a["value"])
    if "value_float" in a:
        return np.asarray(a["value_float"], dtype=np.float32)
    if "value_floats" in a:
        return np.asarray(a["value_floats"], dtype=np.float32)
    if "value_int" in a:
        return np.asarray(a["value_int"], dtype=np.int64)
    if "value_ints" in a:
        return np.asarray(a["value_ints"], dtype=np.int64)
    raise ValueError("Constant without a supported value attribute")


def _axes(node: Node, arrays: list, index: int = 1) -> list[int] | None:
    if len(arrays) > index and arrays[index] is not None:
        return [int(v) for v in np.asarray(arrays[index]).ravel()]
    if "axes" in node.attrs:
        return [int(v) for v in node.attrs["axes"]]
    return None


@register_folder("Constant")
def _fold_constant(node, arrays):
    return [_constant_value(node)]


@register_folder("Identity", "Dropout")
def _fold_identity(node, arrays):
    return [arrays[0], np.ones(np.shape(arrays[0]), dtype=bool)][: len(node.outputs)]


@register_folder("Cast")
def _fold_cast(node, arrays):
    import onnx

    return [np.asarray(arrays[0]).astype(onnx.helper.tensor_dtype_to_np_dtype(node.attrs["to"]))]


@register_folder("Shape")
def _fold_shape(node, arrays):
    shape = np.asarray(np.shape(arrays[0]), dtype=np.int64)
    return [shape[node.attrs.get("start", 0): node.attrs.get("end", len(shape))]]


@register_folder("Gather")
def _fold_gather(node, arrays):
    return [np.take(arrays[0], np.asarray(arrays[1], dtype=np.int64), axis=node.attrs.get("axis", 0))]


@register_folder("Unsqueeze")
def _fold_unsqueeze(node, arrays):
    out = np.asarray(arrays[0])
    axes = _axes(node, arrays)
    rank = out.ndim + len(axes)
    for ax in sorted(a % rank for a in axes):
        out = np.expand_dims(out, ax)
    return [out]


@register_folder("Squeeze")
def _fold_squeeze(node, arrays):
    axes = _axes(node, arrays)
    a = np.asarray(arrays[0])
    return [np.squeeze(a, axis=tuple(axes) if axes is not None else None)]


@register_folder("Concat")
def _fold_concat(node, arrays):
    return [np.concatenate([np.atleast_1d(a) for a in arrays if a is not None], axis=node.attrs.get("axis", 0))]


@register_folder("Slice")
def _fold_slice(node, arrays):
    data = np.asarray(arrays[0])
    starts, ends = np.asarray(arrays[1]).ravel(), np.asarray(arrays[2]).ravel()
    axes = np.asarray(arrays[3]).ravel() if len(arrays) > 3 and arrays[3] is not None else np.arange(len(starts))
    steps = np.asarray(arrays[4]).ravel() if len(arrays) > 4 and arrays[4] is not None else np.ones(len(starts), int)
    index = [slice(None)] * data.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return [data[tuple(index)]]


_NUMPY_BINARY = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power, "Equal": np.equal,
    "Less": np.less, "Greater": np.greater, "Max": np.maximum, "Min": np.minimum, "And": np.logical_and,
    "Or": np.logical_or,
}


@register_folder(*_NUMPY_BINARY)
def _fold_binary(node, arrays):
    a, b = np.asarray(arrays[0]), np.asarray(arrays[1])
    return [_NUMPY_BINARY[node.op_type](a, b).astype(np.result_type(a, b) if node.op_type in ("Add", "Sub", "Mul", "Pow", "Max", "Min") else bool)]


@register_folder("Mod")
def _fold_mod(node, arrays):
    a, b = np.asarray(arrays[0]), np.asarray(arrays[1])
    return [(np.fmod(a, b) if node.attrs.get("fmod", 0) else np.mod(a, b)).astype(np.result_type(a, b))]


@register_folder("Size")
def _fold_size(node, arrays):
    return [np.asarray(np.asarray(arrays[0]).size, dtype=np.int64)]


@register_folder("Div")
def _fold_div(node, arrays):
    a, b = np.asarray(arrays[0]), np.asarray(arrays[1])
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        return [np.trunc(a / b).astype(np.result_type(a, b))]
    return [(a / b).astype(np.result_type(a, b))]


_NUMPY_UNARY = {"Sqrt": np.sqrt, "Neg": np.negative, "Floor": np.floor, "Ceil": np.ceil, "Not": np.logical_not,
                "Abs": np.abs, "Reciprocal": np.reciprocal, "Exp": np.exp, "Relu": lambda a: np.maximum(a, 0)}


@register_folder(*_NUMPY_UNARY)
def _fold_unary(node, arrays):
    return [_NUMPY_UNARY[node.op_type](np.asarray(arrays[0]))]


@register_folder("Where")
def _fold_where(node, arrays):
    return [np.where(arrays[0], arrays[1], arrays[2])]


@register_folder("Range")
def _fold_range(node, arrays):
    start, limit, delta = (np.asarray(a).item() for a in arrays[:3])
    if delta:
        _check_fold_size(node, (math.ceil((limit - start) / delta),))
    return [np.arange(start, limit, delta, dtype=np.asarray(arrays[0]).dtype)]


#: elements a folded constant may hold (256 MiB of float32): shape arithmetic and masks are far smaller; a
#: ConstantOfShape / Expand / Range of a huge input's shape is refused before NumPy allocates it
MAX_FOLD_ELEMENTS = 1 << 26


def _check_fold_size(node, shape) -> tuple[int, ...]:
    shape = tuple(int(d) for d in shape)
    size = math.prod(max(d, 0) for d in shape)
    if size > MAX_FOLD_ELEMENTS:
        raise WorkloadError(f"node '{node.name}' ({node.op_type}): a constant of shape {list(shape)} ({size:.3g} elements) "
                            f"is over the {MAX_FOLD_ELEMENTS} elements a folded constant may hold")
    return shape


@register_folder("ConstantOfShape")
def _fold_constant_of_shape(node, arrays):
    fill = np.asarray(node.attrs.get("value", np.zeros(1, np.float32))).ravel()
    return [np.full(_check_fold_size(node, np.asarray(arrays[0]).ravel()), fill[0], dtype=fill.dtype)]


@register_folder("Expand")
def _fold_expand(node, arrays):
    shape = tuple(int(d) for d in np.asarray(arrays[1]).ravel())
    a = np.asarray(arrays[0])
    _check_fold_size(node, np.broadcast_shapes(a.shape, shape))
    return [a * np.ones(shape, dtype=a.dtype)]


@register_folder("Reshape")
def _fold_reshape(node, arrays):
    data = np.asarray(arrays[0])
    return [data.reshape(_reshape_target(data.shape, arrays[1], node.attrs.get("allowzero", 0)))]


@register_folder("Transpose")
def _fold_transpose(node, arrays):
    return [np.transpose(arrays[0], node.attrs.get("perm"))]


@register_folder("ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin")
def _fold_reduce(node, arrays):
    fn = {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min}[node.op_type]
    axes = _axes(node, arrays)
    keep = bool(node.attrs.get("keepdims", 1))
    return [fn(np.asarray(arrays[0]), axis=tuple(axes) if axes else None, keepdims=keep)]


def _reshape_target(in_shape: Sequence[int], target, allowzero: int = 0) -> tuple[int, ...]:
    dims = [int(d) for d in np.asarray(target).ravel()]
    if not allowzero:
        dims = [in_shape[i] if d == 0 and i < len(in_shape) else d for i, d in enumerate(dims)]
    if dims.count(-1) > 1:
        raise ValueError(f"reshape target {dims} has more than one -1")
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        total = math.prod(in_shape)
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {list(in_shape)} to {dims}")
        dims[dims.index(-1)] = total // known
    if math.prod(dims) != math.prod(in_shape) or any(d < 0 for d in dims):
        raise ValueError(f"cannot reshape {list(in_shape)} to {dims}")
    return tuple(dims)


# --- converters: shape glue --------------------------------------------------------------------------

@register("Shape")
def _convert_shape(imp: Importer, node: Node) -> None:
    v = imp.value(node, 0)
    shape = np.asarray(v.shape, dtype=np.int64)[node.attrs.get("start", 0): node.attrs.get("end", len(v.shape))]
    imp.set(node, 0, Value(tuple(shape.shape), const=shape))


@register("Identity", "Dropout", "Cast", "CastLike")
def _convert_passthrough(imp: Importer, node: Node) -> None:
    if node.op_type == "Dropout" and len(node.outputs) > 1 and node.outputs[1] and imp.consumers.get(node.outputs[1]):
        raise imp.error(node, "the dropout mask output is used; accelsim imports inference graphs only")
    imp.set(node, 0, imp.activation(node, 0))


@register("Reshape")
def _convert_reshape(imp: Importer, node: Node) -> None:
    v = imp.activation(node, 0)
    target = imp.const(node, 1, "the reshape target")
    try:
        full = _reshape_target(v.shape, target, node.attrs.get("allowzero", 0))
    except ValueError as exc:
        raise imp.error(node, str(exc)) from None
    imp.reshape_to(node, v, full)


@register("Flatten")
def _convert_flatten(imp: Importer, node: Node) -> None:
    v = imp.activation(node, 0)
    axis = node.attrs.get("axis", 1) % max(len(v.shape), 1)
    if axis == 1 and v.batched:
        layer = imp.add(node, L.Flatten, [v])
        imp.out(node, layer, batched=True)
        return
    full = (math.prod(v.shape[:axis]), math.prod(v.shape[axis:]))
    imp.reshape_to(node, v, full)


@register("Squeeze", "Unsqueeze")
def _convert_squeeze(imp: Importer, node: Node) -> None:
    v = imp.activation(node, 0)
    axes = _axes(node, [None] + [imp.optional_const(node, 1, "axes")], 1)
    shape = list(v.shape)
    if node.op_type == "Squeeze":
        rank = len(shape)
        drop = {a % rank for a in axes} if axes is not None else {i for i, d in enumerate(shape) if d == 1}
        if any(shape[a] != 1 for a in drop):
            raise imp.error(node, f"cannot squeeze axes {sorted(drop)} of {shape}")
        full = tuple(d for i, d in enumerate(shape) if i not in drop)
        if v.batched and 0 in drop:
            raise imp.error(node, "squeezes the batch axis")
    else:
        if axes is None:
            raise imp.error(node, "Unsqueeze needs axes")
        rank = len(shape) + len(axes)
        for ax in sorted(a % rank for a in axes):
            shape.insert(ax, 1)
        full = tuple(shape)
    imp.reshape_to(node, v, full)


@register("Transpose")
def _convert_transpose(imp: Importer, node: Node) -> None:
    v = imp.activation(node, 0)
    rank = len(v.shape)
    perm = [int(p) % rank for p in node.attrs.get("perm", list(range(rank))[::-1])]
    if sorted(perm) != list(range(rank)):
        raise imp.error(node, f"perm {perm} is not a permutation of {rank} axes")
    full = tuple(v.shape[p] for p in perm)
    if not v.batched:
        if perm == list(range(rank)):
            imp.set(node, 0, v)
            return
        layer = imp.add(node, L.Transpose, [v], perm=perm)
        imp.out(node, layer, batched=False)
        return
    local_perm = [p - 1 for p in perm if p != 0]
    moved = perm[0] != 0
    if local_perm != list(range(rank - 1)):
        layer = imp.add(node, L.Transpose, [v], perm=local_perm)
        v = Value((v.shape[0], *layer.output_shape), layer.name, True)
        if not moved:
            imp.set(node, 0, v)
            return
    elif not moved:
        imp.set(node, 0, v)
        return
    # the batch axis moves: at batch 1 that is a reshape of the (permuted) per-sample tensor
    if imp.batch != 1:
        raise imp.batch_error(node, f"moves the batch axis, which is only supported at batch 1; batch is {imp.batch}")
    imp.reshape_to(node, v, full, suffix="/batch_axis")


def _slice_axis(imp: Importer, node: Node, v: Value, axis: int, start: int, stop: int, suffix: str = "") -> Value:
    """Slice [start, stop) of full-shape axis ``axis`` of ``v`` with a Slice layer (no-op when complete)."""
    size = v.shape[axis]
    if start == 0 and stop == size:
        return v
    local = imp.local_axis(node, v, axis)
    layer = imp.add(node, L.Slice, [v], suffix=suffix, axis=local, start=start, stop=stop)
    full = list(v.shape)
    full[axis] = stop - start
    return Value(tuple(full), layer.name, v.batched)


def _clamp(index: int, size: int) -> int:
    if index < 0:
        index += size
    return max(0, min(size, index))


@register("Slice")
def _convert_slice(imp: Importer, node: Node) -> None:
    v = imp.activation(node, 0)
    if imp.opset < 10:
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes, steps = node.attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts = imp.const(node, 1, "starts").ravel().tolist()
        ends = imp.const(node, 2, "ends").ravel().tolist()
        ax = imp.optional_const(node, 3, "axes")
        st = imp.optional_const(node, 4, "steps")
        axes = ax.ravel().tolist() if ax is not None else list(range(len(starts)))
        steps = st.ravel().tolist() if st is not None else [1] * len(starts)
    rank = len(v.shape)
    for k, (s, e, a, step) in enumerate(zip(starts, ends, axes, steps)):
        a = int(a) % rank
        if step != 1:
            raise imp.error(node, f"step {step} on axis {a}; only step 1 is supported")
        start, stop = _clamp(int(s), v.shape[a]), _clamp(int(min(e, 2**62)), v.shape[a])
        if stop <= start:
            raise imp.error(node, f"empty slice [{s}, {e}) on axis {a} of {list(v.shape)}")
        v = _slice_axis(imp, node, v, a, start, stop, suffix="" if k == 0 else f"/axis{a}")
    imp.set(node, 0, v)


@register("Split")
def _convert_split(imp: Importer, node: Node) -> None:
    v = imp.activation(node, 0)
    axis = node.attrs.get("axis", 0) % len(v.shape)
    size = v.shape[axis]
    sizes = imp.optional_const(node, 1, "split")
    if sizes is None:
        sizes = node.attrs.get("split")
    n_out = len(node.outputs)
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
    """A zero Pad of the spatial axes that feeds only a Conv becomes part of that Conv's padding."""
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
    mode = node.attrs.get("mode", "constant")
    consumer_ok = imp.sole_consumer(node.outputs[0]) and imp.consumer_ops.get(node.outputs[0]) == "Conv"
    zero = value is None or float(np.asarray(value).ravel()[0]) == 0.0
    if rank != 4 or mode != "constant" or not zero or any(pads[i] or pads[i + rank] for i in (0, 1)) or not consumer_ok:
        raise imp.error(node, f"only a zero padding of the spatial axes that feeds a Conv is supported; got pads {pads}, "
                              f"mode {mode}")
    if x.pads is not None:
        raise imp.error(node, "two Pads in a row are not supported")
    top, left, bottom, right = pads[2], pads[3], pads[6], pads[7]
    shape = x.shape[:2] + (x.shape[2] + top + bottom, x.shape[3] + left + right)
    imp.set(node, 0, Value(shape, x.layer, x.batched, pads=(top, left, bottom, right)))


@register("QuantizeLinear", "DequantizeLinear")
def _convert_qdq(imp: Importer, node: Node) -> None:
    """Fake quantization of an activation (QDQ models): shape-preserving, passed through."""
    imp.set(node, 0, imp.activation(node, 0))


@register_folder("DequantizeLinear")
def _fold_dequantize(node, arrays):
    x = np.asarray(arrays[0]).astype(np.float32)
    scale = np.asarray(arrays[1], dtype=np.float32)
    zero = np.asarray(arrays[2]).astype(np.float32) if len(arrays) > 2 and arrays[2] is not None else np.zeros_like(scale)
    if scale.ndim == 1 and scale.size > 1:  # per-axis
        shape = [1] * x.ndim
        shape[node.attrs.get("axis", 1) % x.ndim] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return [(x - zero) * scale]


@register("Where")
def _convert_where(imp: Importer, node: Node) -> None:
    """A select with one activation operand and constants (masking): shape-preserving Identity."""
    operands = [imp.value(node, i) for i in range(3)]
    acts = [v for v in operands if not v.is_const]
    full = _broadcast_full(imp, node, [v.shape for v in operands])
    if len(acts) != 1 or acts[0].shape != full:
        raise imp.error(node, "only a Where with one activation operand of the output shape is supported")
    layer = imp.add(node, L.Identity, [acts[0]])
    imp.out(node, layer, batched=acts[0].batched)


@register("Gather")
def _convert_gather(imp: Importer, node: Node) -> None:
    data, indices = imp.value(node, 0), imp.value(node, 1)
    axis = node.attrs.get("axis", 0)
    if data.is_const:
        table = data.const
        if table.ndim != 2 or axis != 0:
            raise imp.error(node, f"an embedding lookup needs a 2-D table gathered on axis 0; got {list(table.shape)}, axis {axis}")
        layer = imp.add(node, L.Embedding, [indices], num_embeddings=int(table.shape[0]), embedding_dim=int(table.shape[1]))
        imp.set_weight(node, layer.name, table)
        imp.out(node, layer, batched=indices.batched)
        return
    if not indices.is_const:
        raise imp.error(node, "gathering an activation with activation indices is not supported")
    idx = np.asarray(indices.const).astype(np.int64)
    axis %= len(data.shape)
    size = data.shape[axis]
    flat = np.where(idx < 0, idx + size, idx).ravel()
    if idx.ndim > 1 or len(flat) == 0 or np.any(np.diff(flat) != 1):
        raise imp.error(node, "only a scalar index or a contiguous range of indices is supported on an activation")
    v = _slice_axis(imp, node, data, axis, int(flat[0]), int(flat[-1]) + 1)
    if idx.ndim == 0:  # a scalar index removes the axis
        full = tuple(d for i, d in enumerate(v.shape) if i != axis)
        imp.reshape_to(node, v, full, suffix="/squeeze")
    else:
        imp.set(node, 0, v)


# --- converters: compute -----------------------------------------------------------------------------

def _pads2d(imp: Importer, node: Node, in_hw: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
            dilation: Sequence[int]) -> tuple[int, int]:
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = [int(p) for p in node.attrs.get("pads", [0, 0, 0, 0])]
        if len(pads) != 4:
            raise imp.error(node, f"expected 4 pads for a 2-D op; got {pads}")
        if pads[0] != pads[2] or pads[1] != pads[3]:
            raise imp.error(node, f"asymmetric padding {pads} is not supported (accelsim pads both sides equally)")
        return pads[0], pads[1]
    if auto == "VALID":
        return 0, 0
    pads = []
    for size, k, s, d in zip(in_hw, kernel, stride, dilation):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        if total % 2:
            raise imp.error(node, f"auto_pad {auto} needs asymmetric padding ({total} in total), which is not supported")
        pads.append(total // 2)
    return pads[0], pads[1]


def _as_2d(imp: Importer, node: Node, x: Value) -> tuple[Node, Value]:
    """A 1-D conv / pool as its 2-D form on an (N, C, 1, L) map: kernel (1, k), stride (1, s), pads (0, p)."""
    a = dict(node.attrs)
    for key in ("kernel_shape", "strides", "dilations"):
        if key in a:
            a[key] = [1, *a[key]]
    if "pads" in a:
        a["pads"] = [0, a["pads"][0], 0, a["pads"][1]]
    node2 = Node(node.name, node.op_type, node.inputs, [], a, node.domain)
    x2 = imp.reshape_to(node2, x, (*x.shape[:2], 1, x.shape[2]), suffix="/as_2d")
    return node2, x2


def _pad_input(imp: Importer, node: Node, x: Value) -> tuple[Value, tuple[int, int, int, int]]:
    """Split a pending zero Pad off ``x``: (unpadded value, (top, left, bottom, right))."""
    if x.pads is None:
        return x, (0, 0, 0, 0)
    t, left, b, r = x.pads
    shape = x.shape[:-2] + (x.shape[-2] - t - b, x.shape[-1] - left - r)
    return Value(shape, x.layer, x.batched), x.pads


@register("Conv")
def _convert_conv(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    w = imp.const(node, 1, "the weight")
    b = imp.optional_const(node, 2, "the bias")
    orig, is_1d = node, False
    if w.ndim == 3 and len(x.shape) == 3:  # Conv1d
        node, x = _as_2d(imp, node, imp.batched(node, x))
        is_1d = True
        w = w[:, :, None, :]
    x, extra = _pad_input(imp, node, x)
    x = imp.batched(node, x)
    if w.ndim != 4 or len(x.shape) != 4:
        raise imp.error(node, f"only 1-D and 2-D convolutions are supported; got weight {list(w.shape)} on input {list(x.shape)}")
    groups = int(node.attrs.get("group", 1))
    kernel = tuple(int(k) for k in node.attrs.get("kernel_shape", w.shape[2:]))
    stride = tuple(int(s) for s in node.attrs.get("strides", [1, 1]))
    dilation = tuple(int(d) for d in node.attrs.get("dilations", [1, 1]))
    if kernel != tuple(w.shape[2:]):
        raise imp.error(node, f"kernel_shape {list(kernel)} differs from the weight shape {list(w.shape)}")
    if w.shape[1] * groups != x.shape[1]:
        raise imp.error(node, f"weight {list(w.shape)} with group={groups} does not match {x.shape[1]} input channels")
    padding = _pads2d(imp, node, [d + extra[i] + extra[i + 2] for i, d in enumerate(x.shape[2:])], kernel, stride,
                      dilation)
    if extra != (0, 0, 0, 0):
        top, left = padding[0] + extra[0], padding[1] + extra[1]
        if (top, left) != (padding[0] + extra[2], padding[1] + extra[3]):
            raise imp.error(node, f"a Pad of {list(extra)} before it makes the padding asymmetric, which is not supported")
        padding = (top, left)
    layer = imp.add(node, L.Conv2d, [x], out_channels=int(w.shape[0]), kernel=kernel, stride=stride, padding=padding,
                    dilation=dilation, groups=groups, bias=b is not None)
    imp.set_weight(node, layer.name, w, b)
    out = imp.out(orig, layer, batched=True)
    if is_1d:
        imp.reshape_to(orig, out, (out.shape[0], out.shape[1], out.shape[3]), suffix="/as_1d")


def _linear(imp: Importer, node: Node, x: Value, weight: np.ndarray, bias: np.ndarray | None) -> None:
    """A Linear layer with weight ``(out, in)`` on the last axis of ``x``."""
    if x.shape[-1] != weight.shape[1]:
        raise imp.error(node, f"input {list(x.shape)} does not match a weight of {weight.shape[1]} inputs")
    layer = imp.add(node, L.Linear, [x], out_features=int(weight.shape[0]), bias=bias is not None)
    imp.set_weight(node, layer.name, weight, bias)
    imp.out(node, layer, batched=x.batched)


def _matmul_layer(imp: Importer, node: Node, a: Value, b: Value) -> None:
    if not (a.batched and b.batched):
        a, b = imp.unbatched(node, a), imp.unbatched(node, b)
    if len(a.local_shape) < 2 or len(b.local_shape) < 2:
        raise imp.error(node, f"a product of two activations needs 2-D operands per sample; got {list(a.shape)} @ {list(b.shape)}")
    layer = imp.add(node, L.MatMul, [a, b])
    imp.out(node, layer, batched=a.batched)


@register("MatMul")
def _convert_matmul(imp: Importer, node: Node) -> None:
    a, b = imp.value(node, 0), imp.value(node, 1)
    if a.is_const:
        raise imp.error(node, "a constant left operand is not supported (only activation @ weight or activation @ activation)")
    if b.is_const:
        if b.const.ndim != 2:
            raise imp.error(node, f"the weight operand must be 2-D; got {list(b.const.shape)}")
        _linear(imp, node, a, np.asarray(b.const).T, None)
        return
    _matmul_layer(imp, node, a, b)


@register("Gemm")
def _convert_gemm(imp: Importer, node: Node) -> None:
    a, b = imp.activation(node, 0), imp.value(node, 1)
    alpha, beta = float(node.attrs.get("alpha", 1.0)), float(node.attrs.get("beta", 1.0))
    if node.attrs.get("transA", 0):
        raise imp.error(node, "transA=1 is not supported")
    c = imp.optional(node, 2)
    if not b.is_const:
        if node.attrs.get("transB", 0) or c is not None or alpha != 1.0:
            raise imp.error(node, "a Gemm of two activations is supported only without transB, alpha or C")
        _matmul_layer(imp, node, a, b)
        return
    w = np.asarray(b.const)
    w = (w if node.attrs.get("transB", 0) else w.T) * alpha
    bias = None
    if c is not None:
        if not c.is_const:
            raise imp.error(node, "the bias C must be a constant")
        if c.const.size not in (1, w.shape[0]):
            raise imp.error(node, f"bias C of shape {list(c.const.shape)} does not broadcast to {w.shape[0]} outputs")
        bias = np.broadcast_to(np.asarray(c.const, dtype=np.float64).reshape(-1), (w.shape[0],)) * beta
    _linear(imp, node, a, w, bias)


_ACTIVATION_FUNCS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSigmoid": "hardsigmoid",
                     "HardSwish": "hardswish", "Gelu": "gelu"}


@register(*_ACTIVATION_FUNCS)
def _convert_activation(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    layer = imp.add(node, L.Activation, [x], func=_ACTIVATION_FUNCS[node.op_type])
    imp.out(node, layer, batched=x.batched)


@register("_Activation")
def _convert_fused_activation(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    layer = imp.add(node, L.Activation, [x], func=node.attrs["func"])
    imp.out(node, layer, batched=x.batched)


@register("_LayerNorm")
def _convert_fused_layernorm(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    layer = imp.add(node, L.LayerNorm, [x], rms=bool(node.attrs.get("rms", False)))
    imp.out(node, layer, batched=x.batched)


@register("Clip")
def _convert_clip(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    if imp.opset < 11:
        lo, hi = node.attrs.get("min"), node.attrs.get("max")
    else:
        lo_a, hi_a = imp.optional_const(node, 1, "min"), imp.optional_const(node, 2, "max")
        lo = None if lo_a is None else float(np.asarray(lo_a).ravel()[0])
        hi = None if hi_a is None else float(np.asarray(hi_a).ravel()[0])
    func = "clip"
    if lo == 0.0 and hi == 6.0:
        func = "relu6"
    elif lo == 0.0 and (hi is None or math.isinf(hi)):
        func = "relu"
    layer = imp.add(node, L.Activation, [x], func=func)
    imp.out(node, layer, batched=x.batched)


def _broadcast_full(imp: Importer, node: Node, shapes) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise imp.error(node, f"operand shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast") from None


def _try_fold_bias(imp: Importer, node: Node, v: Value, c: np.ndarray) -> bool:
    """Add(const, layer output): becomes the bias of a bias-less Linear or Conv2d that feeds only this Add."""
    tensor = next(t for t in node.inputs if t and not imp.values[t].is_const)
    if v.layer is None or not imp.sole_consumer(tensor):
        return False
    layer = imp.graph.layer(v.layer)
    if isinstance(layer, L.Linear) and not layer.bias and c.size == layer.out_features and c.shape[-1] == layer.out_features \
            and c.ndim <= len(v.shape) and all(d == 1 for d in c.shape[:-1]):
        pass
    elif isinstance(layer, L.Conv2d) and not layer.bias and v.batched and c.size == layer.out_channels \
            and c.ndim >= 3 and c.shape[-3] == layer.out_channels and all(d == 1 for d in c.shape[:-3] + c.shape[-2:]):
        pass
    else:
        return False
    if v.layer not in imp.graph.weights:
        return False
    weight = imp.graph.weights[v.layer]
    imp.graph.replace_layer(v.layer, replace(layer, bias=True))
    imp.set_weight(node, v.layer, weight, c.ravel())
    imp.set(node, 0, v)
    return True


_ELTWISE_FUNCS = {"Add": "add", "Mul": "mul", "Sub": "sub", "Div": "div", "Max": "max"}


@register(*_ELTWISE_FUNCS)
def _convert_eltwise(imp: Importer, node: Node) -> None:
    operands = [imp.value(node, i) for i in range(len(node.inputs)) if node.inputs[i]]
    acts = [v for v in operands if not v.is_const]
    consts = [v for v in operands if v.is_const]
    full = _broadcast_full(imp, node, [v.shape for v in operands])
    if consts:
        v = acts[0]
        if len(acts) > 1:
            raise imp.error(node, "mixing more than one activation with constants is not supported")
        if full != v.shape:
            raise imp.error(node, f"a constant operand broadcasts the activation {list(v.shape)} up to {list(full)}")
        if node.op_type == "Add" and _try_fold_bias(imp, node, v, np.asarray(consts[0].const)):
            return
        # element-wise with a constant: shape-preserving, no MACs
        layer = imp.add(node, L.Identity, [v])
        imp.out(node, layer, batched=v.batched)
        return
    if not all(v.batched for v in acts):
        acts = [imp.unbatched(node, v) for v in acts]
    layer = imp.add(node, L.Eltwise, acts, func=_ELTWISE_FUNCS[node.op_type])
    value = imp.out(node, layer, batched=acts[0].batched)
    if value.shape != full:
        raise imp.error(node, f"broadcast of {[list(v.shape) for v in acts]} differs per sample ({list(value.shape)} vs {list(full)})")


_UNARY_MATH = ("Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Sin", "Cos", "Floor", "Ceil", "Round", "Sign")


@register(*_UNARY_MATH)
def _convert_unary_math(imp: Importer, node: Node) -> None:
    """Element-wise math on an activation (RoPE's negation, a reciprocal square root): Identity, no MACs."""
    x = imp.activation(node, 0)
    layer = imp.add(node, L.Identity, [x])
    imp.out(node, layer, batched=x.batched)


@register("Pow")
def _convert_pow(imp: Importer, node: Node) -> None:
    """An activation to a constant power: element-wise, shape-preserving, no MACs (Identity)."""
    x = imp.activation(node, 0)
    imp.const(node, 1, "the exponent")
    layer = imp.add(node, L.Identity, [x])
    imp.out(node, layer, batched=x.batched)


@register("Concat")
def _convert_concat(imp: Importer, node: Node) -> None:
    operands = [imp.value(node, i) for i in range(len(node.inputs)) if node.inputs[i]]
    if any(v.is_const for v in operands):
        raise imp.error(node, "concatenating activations with constants is not supported")
    if not all(v.batched for v in operands):
        operands = [imp.unbatched(node, v) for v in operands]
    axis = imp.local_axis(node, operands[0], int(node.attrs.get("axis", 0)))
    if len(operands) == 1:
        imp.set(node, 0, operands[0])
        return
    layer = imp.add(node, L.Concat, operands, axis=axis)
    imp.out(node, layer, batched=operands[0].batched)


@register("MaxPool", "AveragePool")
def _convert_pool(imp: Importer, node: Node) -> None:
    x = imp.batched(node, imp.activation(node, 0))
    orig, is_1d = node, len(x.shape) == 3
    if is_1d:
        node, x = _as_2d(imp, node, x)
    if len(x.shape) != 4:
        raise imp.error(node, f"only 1-D and 2-D pooling is supported; got input {list(x.shape)}")
    if len(orig.outputs) > 1 and orig.outputs[1] and imp.consumers.get(orig.outputs[1]):
        raise imp.error(node, "the MaxPool indices output is not supported")
    kernel = tuple(int(k) for k in node.attrs["kernel_shape"])
    stride = tuple(int(s) for s in node.attrs.get("strides", [1, 1]))
    dilation = tuple(int(d) for d in node.attrs.get("dilations", [1, 1]))
    if dilation != (1, 1):
        raise imp.error(node, f"dilated pooling {list(dilation)} is not supported")
    padding = _pads2d(imp, node, x.shape[2:], kernel, stride, dilation)
    layer = imp.add(node, L.Pool2d, [x], kind="max" if node.op_type == "MaxPool" else "avg", kernel=kernel,
                    stride=stride, padding=padding, ceil_mode=bool(node.attrs.get("ceil_mode", 0)))
    out = imp.out(orig, layer, batched=True)
    if is_1d:
        imp.reshape_to(orig, out, (out.shape[0], out.shape[1], out.shape[3]), suffix="/as_1d")


@register("GlobalAveragePool", "GlobalMaxPool")
def _convert_global_pool(imp: Importer, node: Node) -> None:
    x = imp.batched(node, imp.activation(node, 0))
    if len(x.shape) != 4:
        raise imp.error(node, f"only 2-D global pooling is supported; got input {list(x.shape)}")
    layer = imp.add(node, L.Pool2d, [x], kind="avg" if node.op_type == "GlobalAveragePool" else "max", global_pool=True)
    imp.out(node, layer, batched=True)


@register("ReduceMean", "ReduceMax")
def _convert_reduce(imp: Importer, node: Node) -> None:
    """A mean / max over both spatial axes of an (N, C, H, W) map is a global pooling."""
    x = imp.activation(node, 0)
    axes = _axes(node, [None, imp.optional_const(node, 1, "axes")], 1)
    rank = len(x.shape)
    if rank != 4 or axes is None or sorted(a % rank for a in axes) != [2, 3]:
        raise imp.error(node, f"only a reduction over the spatial axes of an (N, C, H, W) map is supported; "
                              f"got axes {axes} of {list(x.shape)}")
    x = imp.batched(node, x)
    layer = imp.add(node, L.Pool2d, [x], kind="avg" if node.op_type == "ReduceMean" else "max", global_pool=True)
    pooled = imp.out(node, layer, batched=True)
    if not node.attrs.get("keepdims", 1):
        imp.reshape_to(node, pooled, pooled.shape[:2], suffix="/squeeze")


@register("BatchNormalization")
def _convert_batchnorm(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    scale, shift, mean, var = (np.asarray(imp.const(node, i, what), dtype=np.float64)
                               for i, what in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
    if len(node.outputs) > 1 and any(o and imp.consumers.get(o) for o in node.outputs[1:]):
        raise imp.error(node, "training-mode outputs (running mean / var) are not supported")
    eps = float(node.attrs.get("epsilon", 1e-5))
    if np.any(var + eps <= 0):
        raise imp.error(node, "variance + epsilon must be positive")
    layer = imp.graph.layer(x.layer) if x.layer is not None else None
    channels = x.shape[1] if len(x.shape) > 1 else None
    foldable = (
        x.batched and imp.sole_consumer(node.inputs[0]) and x.layer in imp.graph.weights
        and ((isinstance(layer, L.Conv2d)) or (isinstance(layer, L.Linear) and len(x.shape) == 2))
    )
    if foldable and scale.size == channels:
        s = scale / np.sqrt(var + eps)
        weight = np.asarray(imp.graph.weights[x.layer], dtype=np.float64)
        old_bias = imp.graph.biases.get(x.layer)
        bias = (np.zeros(channels) if old_bias is None else np.asarray(old_bias, dtype=np.float64)) - mean
        new_weight = weight * s.reshape((-1,) + (1,) * (weight.ndim - 1))
        imp.graph.replace_layer(x.layer, replace(layer, bias=True))
        imp.set_weight(node, x.layer, new_weight, bias * s + shift)
        imp.folded_batchnorm.append(node.name)
        imp.set(node, 0, x)
        return
    x = imp.batched(node, x)
    if scale.size != x.shape[1]:
        raise imp.error(node, f"scale has {scale.size} values for {x.shape[1]} channels")
    layer = imp.add(node, L.BatchNorm, [x])
    imp.out(node, layer, batched=True)


@register("Softmax", "LogSoftmax")
def _convert_softmax(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    default = -1 if imp.opset >= 13 else 1
    axis = int(node.attrs.get("axis", default))
    local = imp.local_axis(node, x, axis)
    layer = imp.add(node, L.Softmax, [x], axis=local - len(x.local_shape))
    imp.out(node, layer, batched=x.batched)


@register("LayerNormalization")
def _convert_layernorm(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    axis = int(node.attrs.get("axis", -1)) % len(x.shape)
    if axis != len(x.shape) - 1:
        raise imp.error(node, f"normalization over axes {axis}.. of {list(x.shape)}; only the last axis is supported")
    imp.const(node, 1, "scale")
    layer = imp.add(node, L.LayerNorm, [x])
    imp.out(node, layer, batched=x.batched)


# --- recurrent -----------------------------------------------------------------------------------------

# ONNX gate order -> PyTorch order (blocks of hidden_size rows)
_GATE_ORDER = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2]}  # LSTM iofc -> ifgo (c = g); GRU zrh -> rzn


@register("LSTM", "GRU")
def _convert_rnn(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    w, r = imp.const(node, 1, "W"), imp.const(node, 2, "R")
    b = imp.optional_const(node, 3, "B")
    if node.op_type == "LSTM" and imp.optional(node, 7) is not None:
        raise imp.error(node, "peephole weights (input P) are not supported")
    hidden = int(node.attrs["hidden_size"])
    direction = node.attrs.get("direction", "forward")
    layout = int(node.attrs.get("layout", 0))
    dirs = 2 if direction == "bidirectional" else 1
    gates = 4 if node.op_type == "LSTM" else 3
    if len(x.shape) != 3 or w.shape != (dirs, gates * hidden, x.shape[2]) or r.shape != (dirs, gates * hidden, hidden):
        raise imp.error(node, f"weights W {list(w.shape)} / R {list(r.shape)} do not match input {list(x.shape)}, "
                              f"hidden_size {hidden}, direction {direction}")
    if b is not None and b.shape != (dirs, 2 * gates * hidden):
        raise imp.error(node, f"bias B has shape {list(b.shape)}; expected {[dirs, 2 * gates * hidden]}")
    if layout == 0 and x.batched:
        raise imp.error(node, "layout 0 expects (seq, batch, input); the batch axis of this input is axis 0")
    time_axis = 1 if layout else 0  # full-shape axis of the sequence
    cls = L.LSTMCell if node.op_type == "LSTM" else L.GRUCell
    order = _GATE_ORDER[node.op_type]
    cells = []
    for d in range(dirs):
        blocks = lambda m: np.concatenate([m[g * hidden:(g + 1) * hidden] for g in order], axis=0)  # noqa: E731
        parts = [blocks(w[d]), blocks(r[d])]
        if b is not None:
            bias = blocks(b[d, : gates * hidden].reshape(-1, 1)) + blocks(b[d, gates * hidden:].reshape(-1, 1))
            parts.append(bias)
        suffix = "" if d == 0 else "/reverse"
        cell = imp.add(node, cls, [x], suffix=suffix, hidden_size=hidden, bias=b is not None)
        imp.set_weight(node, cell.name, np.concatenate(parts, axis=1))
        full = (*x.shape[:-1], hidden)
        cells.append(Value(full, cell.name, x.batched))
    seq = x.shape[time_axis]
    # Y: (seq, dirs, batch, hidden) for layout 0, (batch, seq, dirs, hidden) for layout 1
    y_consumed = len(node.outputs) > 0 and node.outputs[0] and imp.consumers.get(node.outputs[0], 0) + (node.outputs[0] in imp.graph_outputs)
    if y_consumed:
        dir_axis = time_axis + 1
        per_dir = []
        for d, cell in enumerate(cells):
            shape = list(cell.shape)
            shape.insert(dir_axis, 1)
            per_dir.append(imp.reshape_to(node, cell, tuple(shape), index=0, suffix=f"/y{d}"))
        if dirs == 2:
            layer = imp.add(node, L.Concat, per_dir, suffix="/y", axis=imp.local_axis(node, per_dir[0], dir_axis))
            imp.out(node, layer, batched=per_dir[0].batched)
    # Y_h (and Y_c): (dirs, batch, hidden) for layout 0, (batch, dirs, hidden) for layout 1
    for out_index in (1, 2):
        if out_index >= len(node.outputs) or not node.outputs[out_index]:
            continue
        name = node.outputs[out_index]
        if not imp.consumers.get(name) and name not in imp.graph_outputs:
            continue
        if out_index == 2 and node.op_type == "LSTM" and len(node.outputs) > 1 and node.outputs[1] in imp.values:
            imp.values[name] = imp.values[node.outputs[1]]  # the cell state has the hidden state's shape
            continue
        finals = []
        for d, cell in enumerate(cells):
            step = seq - 1 if d == 0 else 0
            last = _slice_axis(imp, node, cell, time_axis, step, step + 1, suffix=f"/h{d}")
            shape = list(last.shape)
            del shape[time_axis]
            shape.insert(1 if layout else 0, 1)  # the direction axis
            finals.append(imp.reshape_to(node, last, tuple(shape), index=out_index, suffix=f"/h{d}"))
        if dirs == 2:
            axis = 1 if layout else 0
            if not all(f.batched for f in finals):
                finals = [imp.unbatched(node, f) for f in finals]
            layer = imp.add(node, L.Concat, finals, suffix="/h", axis=imp.local_axis(node, finals[0], axis))
            imp.out(node, layer, batched=finals[0].batched, index=out_index)


__all__ = ["CONVERTERS", "FOLDERS", "Importer", "Node", "Value", "load_onnx", "register", "register_folder"]
