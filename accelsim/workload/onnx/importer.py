"""The state of one ONNX import: tensors seen so far, the graph being built, the converter registry.

Every ONNX node goes to the converter registered for its op type (``register("Conv")``; contrib ops
as ``"com.microsoft::Attention"``). A converter reads its inputs as :class:`Value` (a constant array,
or the output of a layer), adds layers with :meth:`Importer.add` and sets its outputs. An op without a
converter, or one whose converter cannot express a variant (:meth:`Importer.unsupported`), becomes a
:class:`~accelsim.workload.layers.Generic` layer built from ONNX's inferred shapes (:meth:`Importer.generic`)
and is counted in ``metadata["onnx"]["generic_ops"]``; ``strict=True`` makes it an error instead.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from accelsim.errors import UnsupportedLayerError, WorkloadError
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
    proto: object = None  # the onnx NodeProto (None for nodes the importer builds itself)

    @property
    def key(self) -> str:
        """The registry key: ``op_type`` in the default domain, ``domain::op_type`` otherwise."""
        return self.op_type if self.domain in ("", "ai.onnx") else f"{self.domain}::{self.op_type}"


@dataclass(frozen=True)
class Value:
    """A tensor during import: a constant array, or the output of layer ``layer``.

    ``shape`` is the full ONNX shape. When ``batched``, axis 0 is the batch and the layer's own
    (per-sample) shape is ``shape[1:]``; otherwise the layer shape is the full shape. ``quant``
    describes a deployed quantization carried by the tensor (see :mod:`accelsim.workload.onnx.quant`).
    """

    shape: tuple[int, ...]
    layer: str | None = None
    batched: bool = True
    const: np.ndarray | None = None
    pads: tuple[int, int, int, int] | None = None  # a zero Pad (top, left, bottom, right) awaiting its Conv
    quant: dict | None = None

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
CONVERTERS: dict[str, Converter] = {}


def register(*op_types: str):
    """Decorator: register a converter ``fn(importer, node)`` for ONNX op types (``domain::Op`` for
    ops outside the default domain)."""

    def wrap(fn: Converter) -> Converter:
        for op in op_types:
            CONVERTERS[op] = fn
        return fn

    return wrap


class Unexpressible(WorkloadError):
    """A valid ONNX node whose variant accelsim's layer types cannot express (asymmetric padding, a
    reduction over other axes): imported as a generic layer unless the import is strict."""


class Importer:
    """State of one import: the graph being built and every ONNX tensor seen so far."""

    def __init__(self, graph: LayerGraph, source: str, opset: int, consumers: Mapping[str, int],
                 graph_outputs: set[str], inferred: Mapping[str, tuple], strict: bool = False):
        self.graph = graph
        self.source = source
        self.opset = opset
        self.consumers = consumers
        self.consumer_ops: dict[str, str] = {}
        self.graph_outputs = graph_outputs
        self.inferred = inferred
        self.strict = strict
        self.values: dict[str, Value] = {}
        self.batch = 1
        self.names: set[str] = set()
        self.name_counts: dict[str, int] = {}
        self.folded_batchnorm: list[str] = []
        self.node_of: dict[str, str] = {}  # layer name -> ONNX node name
        self.skipped: list[str] = []
        self.generic_ops: Counter = Counter()
        self.notes: list[str] = []
        self.quantization: dict[str, dict] = {}  # layer name -> deployed quantization (quant.py)
        self.weight_dtypes: Counter = Counter()  # stored type of each weight read ("float32", "int8", "float16")
        self._typed: set[str] = set()
        self.types: dict[str, int] = {}  # tensor name -> ONNX element type (from shape inference)
        self.opsets: dict[str, int] = {"": opset}
        self.data_dependent: set[str] = set()  # tensors whose shapes follow from a data-dependent size (a bound)

    # --- errors, notes and names ---
    def error(self, node: Node | None, message: str) -> WorkloadError:
        where = f"node '{node.name}' ({node.op_type}): " if node is not None else ""
        return WorkloadError(f"{self.source}: {where}{message}")

    def unsupported(self, node: Node, message: str) -> Unexpressible:
        """A variant accelsim cannot express: the node becomes a generic layer (an error when strict)."""
        return Unexpressible(f"{self.source}: node '{node.name}' ({node.op_type}): {message}")

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)

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
        bits = [v.quant["activation_bits"] for v in inputs if v.quant and v.quant.get("activation_bits")]
        if bits:
            self.quantization.setdefault(name, {})["activation_bits"] = max(bits)
        return layer

    def out(self, node: Node, layer: L.Layer, batched: bool, index: int = 0) -> Value:
        local = tuple(layer.output_shape)
        full = (self.batch, *local) if batched else local
        value = Value(full, layer.name, batched)
        self.set(node, index, value)
        return value

    def set_weight(self, node: Node, layer_name: str, weight: np.ndarray, bias: np.ndarray | None = None,
                   quant: dict | None = None) -> None:
        try:
            # own, writable float32 copies (initializer arrays are read-only views of the protobuf)
            self.graph.set_weight(layer_name, np.array(weight, dtype=np.float32, order="C"),
                                  None if bias is None else np.array(bias, dtype=np.float32).ravel())
        except WorkloadError as exc:
            raise self.error(node, str(exc).removeprefix(f"{self.graph.source}: ")) from None
        if layer_name in self._typed:
            return  # a second set (a folded bias or batch norm) keeps the stored type of the first
        self._typed.add(layer_name)
        dtype = np.asarray(weight).dtype
        if quant is not None:
            self.quantization.setdefault(layer_name, {}).update(quant)
            self.weight_dtypes[f"int{quant['weight_bits']}"] += 1
            return
        if dtype == np.float16 or str(dtype) == "bfloat16":
            self.quantization.setdefault(layer_name, {}).update({"format": str(dtype), "weight_bits": 16})
        self.weight_dtypes[str(dtype)] += 1

    def generic(self, node: Node, reason: str) -> None:
        """Import ``node`` as a :class:`~accelsim.workload.layers.Generic` layer with ONNX's inferred output
        shapes (refused when ``strict``). Outputs keep the batch axis when the first activation input does."""
        if self.strict:
            raise WorkloadError(f"{self.source}: node '{node.name}' ({node.key}): {reason} (strict import)")
        if not any(o and (self.consumers.get(o) or o in self.graph_outputs) for o in node.outputs):
            self.note(f"node '{node.name}' ({node.key}): no output is used; dropped")
            return
        acts = [self.values[t] for t in node.inputs if t and t in self.values and not self.values[t].is_const]
        consts = [self.values[t] for t in node.inputs if t and t in self.values and self.values[t].is_const]
        outs, present = [], [i for i, o in enumerate(node.outputs) if o]
        local_shapes = _node_shapes(self, node)
        for i in present:
            candidates = [local_shapes.get(node.outputs[i]), self.inferred.get(node.outputs[i])]
            known = [c for c in candidates if c is not None and all(isinstance(d, int) and d > 0 for d in c)]
            ranked = [c for c in candidates if c is not None]
            used = bool(self.consumers.get(node.outputs[i])) or node.outputs[i] in self.graph_outputs
            shape = known[0] if known else None
            if shape is None and ranked and used:
                # a data-dependent size (NonZero, NonMaxSuppression): the rank is known; the size is its upper
                # bound where the op has one (every element selected), else 1
                bound = _size_bound(self, node)
                shape = tuple(d if isinstance(d, int) and d > 0 else bound for d in ranked[0])
                self.data_dependent.add(node.outputs[i])
                self.note(f"node '{node.name}' ({node.key}): output '{node.outputs[i]}' has data-dependent dimensions "
                          f"{list(ranked[0])}; each unknown one taken as {bound} (its upper bound)" if bound > 1 else
                          f"node '{node.name}' ({node.key}): output '{node.outputs[i]}' has data-dependent dimensions "
                          f"{list(ranked[0])}; each unknown one taken as 1")
            if shape is None or not shape or any(not isinstance(d, int) or d <= 0 for d in shape):
                if not used:
                    continue  # an unused output of unknown shape (MaxPool indices, a mask)
                if i != present[0] or not acts:
                    raise self.error(node, f"{reason}; ONNX shape inference cannot resolve the shape of output "
                                           f"'{node.outputs[i]}' ({shape}), so it cannot be imported as a generic layer")
                # ops outside ONNX's schemas (contrib ops) have no inferred shapes: most are element-wise
                shape = acts[0].shape
                self.note(f"node '{node.name}' ({node.key}): output shape unknown to ONNX shape inference; taken "
                          f"as its input's {list(shape)}")
            outs.append((i, tuple(int(d) for d in shape)))
        if not outs:
            raise self.error(node, f"{reason}; it has no output of known shape")
        batched = bool(acts) and all(v.batched for v in acts) and all(len(s) > 1 and s[0] == self.batch for _, s in outs)
        if acts and not batched:
            if any(v.batched for v in acts) and self.batch != 1:
                raise self.error(node, f"{reason}; its outputs {[list(s) for _, s in outs]} do not keep the batch axis "
                                       f"({self.batch})")
            acts = [self.unbatched(node, v) for v in acts]
        local = [(i, s[1:] if batched else s) for i, s in outs]
        bits = 32
        dtypes = [v.const.dtype for v in consts]
        if dtypes and all(np.issubdtype(d, np.integer) and d.itemsize == 1 for d in dtypes):
            bits = 8
        layer = self.add(node, L.Generic, acts, op_type=node.key, output_shapes=tuple(s for _, s in local),
                         param_elements=int(sum(v.const.size for v in consts if v.const.size > 1)), element_bits=bits)
        for k, (i, shape) in enumerate(local):
            full = (self.batch, *shape) if batched else shape
            if k == 0:
                self.values[node.outputs[i]] = Value(full, layer.name, batched)
            else:  # further outputs: a zero-input view of the same layer's output shape list
                first = Value((self.batch, *local[0][1]) if batched else local[0][1], layer.name, batched)
                view = self.add(node, L.Generic, [first], suffix=f"/out{i}", op_type=f"{node.key}:output{i}",
                                output_shapes=(shape,), element_bits=bits)
                self.values[node.outputs[i]] = Value(full, view.name, batched)
        self.generic_ops[node.key] += 1

    def output_shape(self, node: Node, index: int = 0) -> tuple[int, ...] | None:
        """Output ``index`` of ``node`` as ONNX shape inference gives it on the shapes reached (None if unknown)."""
        shape = _node_shapes(self, node).get(node.outputs[index])
        if shape is None or not all(isinstance(d, int) and d > 0 for d in shape):
            return None
        return tuple(shape)

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
            raise self.error(node, f"moves or merges the batch axis, which is only supported at batch 1; batch is {self.batch}")
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
            raise self.error(node, f"reshape {list(v.shape)} -> {list(full)} mixes the batch axis (batch {self.batch})")
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
                raise self.unsupported(node, "operates along the batch axis, which accelsim layers cannot express")
            return axis - 1
        return axis


def _size_bound(imp: Importer, node: Node) -> int:
    """The largest value a data-dependent output size of ``node`` can take: ``NonZero``: the input's element
    count; ``NonMaxSuppression``: batch x classes x ``max_output_boxes_per_class`` (capped by the boxes);
    other ops: 1."""
    values = [imp.values.get(t) if t else None for t in node.inputs]
    if node.op_type == "NonZero" and values and values[0] is not None:
        return max(1, math.prod(values[0].shape))
    if node.op_type == "NonMaxSuppression" and len(values) > 1 and values[0] is not None and values[1] is not None:
        batch, boxes = values[0].shape[0], values[0].shape[1]
        classes = values[1].shape[1]
        per_class = boxes
        if len(values) > 2 and values[2] is not None and values[2].is_const and values[2].const.size:
            per_class = min(boxes, int(np.asarray(values[2].const).ravel()[0]))
        return max(1, batch * classes * per_class)
    return 1


def _node_shapes(imp: Importer, node: Node) -> dict[str, tuple]:
    """ONNX shape inference (``data_prop``) of ``node`` alone, on the shapes and constants the import has
    reached: exact where whole-model inference lost a dimension (shapes computed from a KV cache)."""
    if node.proto is None:
        return {}
    import onnx
    from onnx import helper, numpy_helper

    inputs, inits = [], []
    for t in dict.fromkeys(t for t in node.inputs if t):
        v = imp.values.get(t)
        if v is None:
            return {}
        if v.is_const and v.const.size <= 4096 and v.const.dtype != object:
            try:
                inits.append(numpy_helper.from_array(np.asarray(v.const), t))
                continue
            except Exception:
                pass
        elem = imp.types.get(t) or (helper.np_dtype_to_tensor_dtype(v.const.dtype) if v.is_const else onnx.TensorProto.FLOAT)
        inputs.append(helper.make_tensor_value_info(t, elem, list(v.shape)))
    graph = helper.make_graph([node.proto], "node", inputs, [], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in imp.opsets.items()])
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        return {}
    shapes = {}
    for vi in inferred.graph.value_info:
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    return shapes


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


def convert(imp: Importer, node: Node, skip_unsupported: bool = False) -> None:
    """Run the converter of ``node``; an op without one (or an unexpressible variant) becomes generic."""
    missing = [t for t in node.inputs if t and t not in imp.values]
    if missing:
        raise imp.error(node, f"reads tensor '{missing[0]}' that no earlier node or initializer produces")
    converter = CONVERTERS.get(node.key)
    if converter is None:
        if skip_unsupported:
            skip_node(imp, node)
            return
        if imp.strict:
            raise UnsupportedLayerError(node.name, node.key, imp.source)
        imp.generic(node, f"op type '{node.key}' has no accelsim layer type")
        return
    try:
        converter(imp, node)
    except Unexpressible as exc:
        if imp.strict or skip_unsupported:
            raise
        imp.generic(node, str(exc).split(": ", 2)[-1])
        imp.note(f"node '{node.name}' ({node.key}) imported as a generic layer: {str(exc).split(': ', 2)[-1]}")
    except WorkloadError as exc:
        if imp.strict or skip_unsupported or not any(t in imp.data_dependent for t in node.inputs):
            raise
        # shapes downstream of a data-dependent size (taken as 1) need not agree: post-processing stays generic
        imp.generic(node, "its inputs have data-dependent sizes")
        imp.note(f"node '{node.name}' ({node.key}) imported as a generic layer: {str(exc).split(': ', 2)[-1]} "
                 "(its inputs have data-dependent sizes)")
    except (KeyError, IndexError, ValueError, TypeError) as exc:  # missing attributes, wrong arities
        detail = f"missing attribute {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise imp.error(node, f"malformed node ({detail})") from None


def skip_node(imp: Importer, node: Node) -> None:
    """``skip_unsupported``: pass the first activation input on (reshaped to the inferred output shape when
    the element count is unchanged), with a ``warnings.warn``."""
    op = node.key
    warnings.warn(f"{imp.source}: skipping node '{node.name}' with unsupported op type '{op}'", stacklevel=5)
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
