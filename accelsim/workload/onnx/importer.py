"""The state of one ONNX import and the converter registry: each node goes to the converter registered for its op
(``register("Conv")``, ``"com.microsoft::Attention"``), which reads :class:`Value` s, adds layers and sets outputs; an
op without one, or a variant it cannot express (:meth:`Importer.unsupported`), becomes a ``Generic`` layer."""

from __future__ import annotations

import ast
import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from accelsim.errors import UnsupportedLayerError, WorkloadError
from accelsim.workload import layers as L
from accelsim.workload.graph import LayerGraph


def _mark_of(v: "Value") -> dict | None:
    """The activation-bits mark a tensor carries (QDQ on activations), for a view of it."""
    return {"activation_bits": v.quant["activation_bits"]} if v.quant and v.quant.get("activation_bits") else None


@dataclass
class Node:
    """One ONNX node, attributes decoded (``proto``: its NodeProto, None when built by the importer)."""

    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict
    domain: str = ""
    proto: object = None
    #: the original nodes of a fused one (fuse.py), in order: folded one by one when its input is a constant
    parts: tuple = ()

    @property
    def key(self) -> str:
        """The registry key: ``op_type`` in the default domain, ``domain::op_type`` otherwise."""
        return self.op_type if self.domain in ("", "ai.onnx") else f"{self.domain}::{self.op_type}"


@dataclass(frozen=True)
class Value:
    """A tensor: a constant array, or the output of ``layer``; ``shape`` is the full ONNX shape (when ``batched``,
    axis 0 is the batch and the layer's shape is ``shape[1:]``); ``quant``: a deployed format it carries. An ONNX
    sequence (``SequenceInsert`` ...) is a Value whose ``seq`` holds its element Values (``shape`` is ``()``)."""

    shape: tuple[int, ...]
    layer: str | None = None
    batched: bool = True
    const: np.ndarray | None = None
    quant: dict | None = None
    seq: tuple | None = None

    @property
    def is_const(self) -> bool:
        return self.const is not None

    @property
    def local_shape(self) -> tuple[int, ...]:
        return self.shape[1:] if self.batched else self.shape


Converter = Callable[["Importer", Node], None]
CONVERTERS: dict[str, Converter] = {}


def register(*op_types: str):
    """Decorator: register a converter ``fn(importer, node)`` for ONNX op types (``domain::Op`` outside ONNX's)."""

    def wrap(fn: Converter) -> Converter:
        CONVERTERS.update(dict.fromkeys(op_types, fn))
        return fn

    return wrap


class Unexpressible(WorkloadError):
    """A valid node whose variant accelsim's layers cannot express: a generic layer unless the import is strict."""


def _known(shape) -> bool:
    return shape is not None and all(isinstance(d, int) and d > 0 for d in shape)


@dataclass
class Importer:
    """State of one import: the graph being built and every ONNX tensor seen so far."""

    graph: LayerGraph
    source: str
    opsets: dict[str, int]
    consumers: dict[str, int]
    graph_outputs: set[str]
    inferred: dict[str, tuple]  # tensor -> shape from whole-model inference (None for an unknown dimension)
    types: dict[str, int]  # tensor -> ONNX element type
    strict: bool = False
    batch: int = 1
    consumer_ops: dict[str, str] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    name_counts: dict[str, int] = field(default_factory=dict)
    #: every node's readable name (module paths) by ``id(node)``, computed once (:func:`readable_name`): a repeated
    #: name's suffix skips them (a module called twice became 'fc1_2', the name of another module 'fc1_2', which
    #: then became 'fc1_2_2'); nodes made later (an unrolled loop's) are named as they come
    readable: dict[int, str] = field(default_factory=dict)
    reserved: set[str] = field(default_factory=set)
    #: a readable name several nodes share -> the node that takes it plain, the one reading the module's weight (a
    #: GPT-2 Conv1D, view -> addmm -> view, named its linear 'c_fc_2' after the reshape took 'c_fc'); the others
    #: are numbered
    claims: dict[str, int] = field(default_factory=dict)
    #: tensor -> the initializer it is (itself, or through Identity / Transpose / Cast copies: TorchScript's tied
    #: weights), and initializer -> the layers whose weight or bias it is (a tied embedding and head: two)
    roots: dict[str, str] = field(default_factory=dict)
    weight_sources: dict[str, list[str]] = field(default_factory=dict)
    folded_batchnorm: list[str] = field(default_factory=list)
    folded_macs: Counter = field(default_factory=Counter)  # op type -> MACs of constant nodes evaluated at import
    integer_tables: dict = field(default_factory=dict)  # embedding layer -> its integer table (dequantized after)
    node_of: dict[str, str] = field(default_factory=dict)  # layer name -> ONNX node name
    skipped: list[str] = field(default_factory=list)
    generic_ops: Counter = field(default_factory=Counter)
    pad_layers: int = 0  # generic Pad layers of pads a conv / pool cannot take (uneven, or before a generic op)
    notes: list[str] = field(default_factory=list)
    quantization: dict[str, dict] = field(default_factory=dict)  # layer name -> deployed quantization
    weight_dtypes: Counter = field(default_factory=Counter)  # stored type of each weight read
    data_dependent: set[str] = field(default_factory=set)  # tensors sized from a data-dependent bound
    pads: dict[str, tuple] = field(default_factory=dict)  # a zero Pad's output -> (top, left, bottom, right) for its Conv
    _typed: set[str] = field(default_factory=set)
    _ran: dict = field(default_factory=dict)  # a node's outputs -> them run by onnxruntime (run_node, once a node)

    @property
    def opset(self) -> int:
        return self.opsets.get("", 1)

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
        name = base = (self.readable.get(id(node)) or readable_name(node)) + suffix
        claim = self.claims.get(base)
        while name in self.names or (name != base and name in self.reserved) \
                or (name == base and claim is not None and claim != id(node)):
            self.name_counts[base] = self.name_counts.get(base, 1) + 1
            name = f"{base}_{self.name_counts[base]}"
        self.names.add(name)
        return name

    def value(self, node: Node, index: int) -> Value:
        if index >= len(node.inputs) or not node.inputs[index]:
            raise self.error(node, f"input {index} is missing")
        if node.inputs[index] not in self.values:
            raise self.error(node, f"reads tensor '{node.inputs[index]}' that no earlier node or initializer produces")
        return self.values[node.inputs[index]]

    def optional(self, node: Node, index: int) -> Value | None:
        return self.value(node, index) if index < len(node.inputs) and node.inputs[index] else None

    def const(self, node: Node, index: int, what: str = "") -> np.ndarray:
        v = self.value(node, index)
        if not v.is_const:
            raise self.error(node, f"{what or f'input {index}'} must be a constant (initializer); got the activation "
                                   f"'{node.inputs[index]}'")
        return v.const

    def optional_const(self, node: Node, index: int, what: str = "") -> np.ndarray | None:
        return None if self.optional(node, index) is None else self.const(node, index, what)

    def activation(self, node: Node, index: int) -> Value:
        v = self.value(node, index)
        if v.is_const:
            raise self.error(node, f"input {index} must be an activation, not a constant")
        if v.seq is not None:
            raise self.error(node, f"input {index} is a sequence; a tensor is expected")
        return v

    def sequence(self, node: Node, index: int) -> tuple:
        """The element Values of the sequence input ``index``."""
        v = self.value(node, index)
        if v.seq is None:
            raise self.error(node, f"input {index} must be a sequence (SequenceEmpty, SequenceInsert, ...)")
        return v.seq

    def set(self, node: Node, index: int, value: Value) -> None:
        if index < len(node.outputs) and node.outputs[index]:
            self.values[node.outputs[index]] = value

    def used(self, tensor: str) -> bool:
        return bool(tensor) and (bool(self.consumers.get(tensor)) or tensor in self.graph_outputs)

    def sole_consumer(self, tensor: str) -> bool:
        return self.consumers.get(tensor, 0) == 1 and tensor not in self.graph_outputs

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

    def out(self, node: Node, layer: L.Layer, batched: bool, index: int | None = 0) -> Value:
        """The output of ``layer`` as a Value, set as output ``index`` of ``node`` (None: not set)."""
        value = Value((self.batch, *layer.output_shape) if batched else tuple(layer.output_shape), layer.name, batched)
        if index is not None:
            self.set(node, index, value)
        return value

    def layer(self, node: Node, cls: type[L.Layer], inputs: Sequence[Value], suffix: str = "", **fields) -> Value:
        """:meth:`add` a layer and return its output, batched like the first input (not set on the node)."""
        return self.out(node, self.add(node, cls, inputs, suffix=suffix, **fields), bool(inputs) and inputs[0].batched, None)

    def linear(self, node: Node, x: Value, weight: np.ndarray, bias: np.ndarray | None, quant: dict | None = None) -> Value:
        """A ``Linear`` with weight ``(out, in)`` on the last axis of ``x`` as output 0 of ``node`` (``quant``: its
        deployed format)."""
        if x.shape[-1] != weight.shape[1]:
            raise self.error(node, f"input {list(x.shape)} does not match a weight of {weight.shape[1]} inputs")
        layer = self.add(node, L.Linear, [x], out_features=int(weight.shape[0]), bias=bias is not None)
        self.set_weight(node, layer.name, weight, bias, quant=quant)
        return self.out(node, layer, batched=x.batched)

    def set_weight(self, node: Node, layer_name: str, weight: np.ndarray, bias: np.ndarray | None = None,
                   quant: dict | None = None) -> None:
        try:  # own, writable float32 copies (initializer arrays are read-only views of the protobuf)
            self.graph.set_weight(layer_name, np.array(weight, dtype=np.float32, order="C"),
                                  None if bias is None else np.array(bias, dtype=np.float32).ravel())
        except WorkloadError as exc:
            raise self.error(node, str(exc).removeprefix(f"{self.graph.source}: ")) from None
        for root in filter(None, map(self.roots.get, node.inputs)):
            readers = self.weight_sources.setdefault(root, [])
            if layer_name not in readers:
                readers.append(layer_name)
        if layer_name in self._typed:
            return  # a second set (a folded bias or batch norm) keeps the stored type of the first
        self._typed.add(layer_name)
        dtype = np.asarray(weight).dtype
        if quant is not None:
            self.quantization.setdefault(layer_name, {}).update(quant)
            fmt = quant.get("format", "")  # FP8 codes by their format; integers signed or not (uint8, MatMulNBits)
            self.weight_dtypes[fmt if fmt.startswith("fp") else f"{'' if quant.get('signed', True) else 'u'}int"
                               f"{quant['weight_bits']}"] += 1
            return
        if dtype == np.float16 or str(dtype) == "bfloat16":
            self.quantization.setdefault(layer_name, {}).update({"format": str(dtype), "weight_bits": 16})
        self.weight_dtypes[str(dtype)] += 1

    def generic(self, node: Node, reason: str) -> None:
        """Import ``node`` as a ``Generic`` layer with ONNX's inferred output shapes (refused when ``strict``).
        Outputs keep the batch axis when the activation inputs do."""
        if self.strict:
            raise WorkloadError(f"{self.source}: node '{node.name}' ({node.key}): {reason} (strict import)")
        if not any(self.used(o) for o in node.outputs):
            self.note(f"node '{node.name}' ({node.key}): no output is used; dropped")
            return
        for t in node.inputs:  # a zero Pad left to this node that it cannot take: the padded map it reads
            if t in self.pads:
                self.values[t] = self.pad_map(node, self.values[t], self.pads.pop(t), suffix="/input_pad")
        present = []
        for t in node.inputs:  # a sequence's elements are inputs of their own (EmbeddingBag's loop over bags)
            if t and t in self.values:
                v = self.values[t]
                present.extend(v.seq if v.seq is not None else (v,))
        acts, consts = [v for v in present if not v.is_const], [v for v in present if v.is_const]
        outs, first, local_shapes = [], next(i for i, o in enumerate(node.outputs) if o), node_shapes(self, node)
        ran = None  # output shapes from running the node in onnxruntime, when ONNX's inference has none
        for i, o in enumerate(node.outputs):
            if not o:
                continue
            ranked = [c for c in (local_shapes.get(o), self.inferred.get(o)) if c is not None]
            shape = next((c for c in ranked if _known(c)), None)
            if shape is None and ranked and self.used(o):
                # a data-dependent size (NonZero, NonMaxSuppression): the rank is known; each unknown dimension is
                # the op's upper bound where it has one (every element selected), else 1
                bound = _size_bound(self, node)
                # each axis from the first inference that knows it (the whole model's may know what the node's
                # own does not: a Loop's scan output (?, 16))
                same = [c for c in ranked if len(c) == len(ranked[0])]
                merged = [next((c[a] for c in same if isinstance(c[a], int) and c[a] > 0), None)
                          for a in range(len(ranked[0]))]
                shape = tuple(d if d is not None else bound for d in merged)
                self.data_dependent.add(o)
                self.note(f"node '{node.name}' ({node.key}): output '{o}' has data-dependent dimensions "
                          f"{list(ranked[0])}; each unknown one taken as {bound}" + (" (its upper bound)" if bound > 1 else ""))
            if shape is None and not ranked and self.used(o):
                shape = _loop_carried_shape(self, node, i)
                if shape is not None:
                    self.data_dependent.add(o)
                    self.note(f"node '{node.name}' ({node.key}): loop-carried output '{o}' has no shape from ONNX shape "
                              f"inference (it grows per iteration); taken as {list(shape)} from its initial value")
            if shape is None or not _known(shape):  # () is a known shape: a scalar (an expert id, an argmax)
                if not self.used(o):
                    continue  # an unused output of unknown shape (MaxPool indices, a mask)
                if ran is None:
                    ran = run_shapes(self, node)  # ops outside ONNX's schemas (contrib ops): run by onnxruntime, once
                if o in ran:
                    shape = ran[o]
                    self.note(f"node '{node.name}' ({node.key}): output shape unknown to ONNX shape inference; "
                              f"{list(shape)} from running the node in onnxruntime")
                elif i != first or not acts:
                    raise self.error(node, f"{reason}; ONNX shape inference cannot resolve the shape of output '{o}' "
                                           f"({shape}), so it cannot be imported as a generic layer")
                else:  # (no onnxruntime, or an op it runs only on a GPU): most such ops are element-wise
                    shape = acts[0].shape
                    self.note(f"node '{node.name}' ({node.key}): output shape unknown to ONNX shape inference; taken "
                              f"as its input's {list(shape)}")
            outs.append((i, tuple(int(d) for d in shape)))
        if not outs:
            raise self.error(node, f"{reason}; it has no output of known shape")
        batched = bool(acts) and all(v.batched for v in acts) and all(self.leads_with_batch(s) for _, s in outs)
        if acts and not batched:
            if any(v.batched for v in acts) and self.batch != 1:
                raise self.error(node, f"{reason}; its outputs {[list(s) for _, s in outs]} do not keep the batch axis "
                                       f"({self.batch})")
            acts = [self.unbatched(node, v) for v in acts]
        local = [(i, s[1:] if batched else s) for i, s in outs]
        dtypes = [v.const.dtype for v in consts]
        bits = 8 if dtypes and all(np.issubdtype(d, np.integer) and d.itemsize == 1 for d in dtypes) else 32
        float_bits = FLOAT_BITS.get(self.types.get(node.outputs[first]))
        if float_bits:  # a floating-point output: its own width (a float16 graph's Resize moves 16-bit elements)
            bits = float_bits
        layer = self.add(node, L.Generic, acts, op_type=node.key, output_shapes=tuple(s for _, s in local),
                         param_elements=int(sum(v.const.size for v in consts if v.const.size > 1)), element_bits=bits)
        head = self.out(node, layer, batched, index=local[0][0])
        for i, shape in local[1:]:  # further outputs: a view of the same layer's output shape list
            self.out(node, self.add(node, L.Generic, [head], suffix=f"/out{i}", op_type=f"{node.key}:output{i}",
                                    output_shapes=(shape,), element_bits=bits), batched, index=i)
        self.generic_ops[node.key] += 1

    def pad_map(self, node: Node, v: Value, pads, suffix: str = "/pad") -> Value:
        """A batched ``(N, C, H, W)`` map padded by ``pads`` (top, left, bottom, right): a ``Generic`` Pad layer
        (its traffic; no MACs)."""
        c, h, w = v.local_shape
        shape = (c, h + pads[0] + pads[2], w + pads[1] + pads[3])
        layer = self.add(node, L.Generic, [v], suffix=suffix, op_type="Pad", output_shapes=(shape,))
        self.pad_layers += 1
        return Value((self.batch, *shape), layer.name, True, quant=_mark_of(v))  # a padded 8-bit map is 8-bit

    def constant_source(self, node: Node, v: Value, like: Value | None = None, suffix: str = "/const") -> Value:
        """A constant operand of an op on activations (a class token, a relative-position table, a learned query)
        as a ``Generic`` source layer that reads its elements (``param_elements``): batched when its axis 0 has
        the batch's size and ``like`` (an activation of the same rank) is batched, else its full shape."""
        shape = tuple(int(d) for d in np.shape(v.const))
        batched = like is not None and like.batched and len(shape) == len(like.shape) and bool(shape) \
            and shape[0] == self.batch and len(shape) > 1
        local = shape[1:] if batched else shape
        if not local:
            local, shape = (1,), (shape or (1,))
        layer = self.add(node, L.Generic, [], suffix=suffix, op_type="Constant", output_shapes=(local,),
                         param_elements=int(np.size(v.const)))
        return Value(shape, layer.name, batched)

    def output_shape(self, node: Node, index: int = 0) -> tuple[int, ...] | None:
        """Output ``index`` of ``node`` as ONNX shape inference gives it on the shapes reached (None if unknown)."""
        shape = node_shapes(self, node).get(node.outputs[index])
        return tuple(shape) if _known(shape) else None

    def batched(self, node: Node, v: Value) -> Value:
        """``v`` with axis 0 as the batch (inserts a reshape for a batch-1 tensor carried unbatched)."""
        if v.batched:
            return v
        if v.shape[0] != 1 or self.batch != 1:
            raise self.error(node, f"needs a batched input; the batch axis of {list(v.shape)} was moved or merged earlier")
        return Value(v.shape, self.add(node, L.Reshape, [v], suffix="/rebatch", shape=v.shape[1:]).name, True,
                     quant=_mark_of(v))

    def channels_last(self, node: Node, convert: Callable[[str, str], None], ranks: Sequence[int] = (3, 4)) -> None:
        """Convert ``node``, whose input 0 is a channels-last map (``(N, L, C)``, ``(N, H, W, C)``; onnxruntime's
        NhwcConv, ``channels_last`` QOperator ops): the map transposed to channels-first under a private name,
        ``convert(nchw, out)`` writing the channels-first result as tensor ``out``, that transposed back as output 0
        (two ``Transpose`` layers; a quantized map keeps its mark)."""
        x = self.activation(node, 0)
        if len(x.shape) not in ranks or not x.batched:
            raise self.unsupported(node, f"a channels-last input of shape {list(x.shape)}")
        rank = len(x.local_shape)
        nchw, out = f"{node.name}::nchw", f"{node.name}::out"
        self.values[nchw] = Value((x.shape[0], x.shape[-1], *x.shape[1:-1]), self.add(
            node, L.Transpose, [x], suffix="/to_nchw", perm=[rank - 1, *range(rank - 1)]).name, True, quant=x.quant)
        convert(nchw, out)
        y = self.values[out]
        self.set(node, 0, Value((y.shape[0], *y.shape[2:], y.shape[1]), self.add(
            node, L.Transpose, [y], suffix="/to_nhwc", perm=[*range(1, rank), 0]).name, True, quant=y.quant))

    def unbatched(self, node: Node, v: Value) -> Value:
        """``v`` carried with its full shape (a reshape that keeps the leading batch-1 axis)."""
        if not v.batched:
            return v
        if self.batch != 1:
            raise self.error(node, f"moves or merges the batch axis, which is only supported at batch 1; batch is {self.batch}")
        return Value(v.shape, self.add(node, L.Reshape, [v], suffix="/unbatch", shape=v.shape).name, False,
                     quant=_mark_of(v))

    def reshape_to(self, node: Node, v: Value, full: tuple[int, ...], index: int | None = 0, suffix: str = "") -> Value:
        """Give ``v`` the full shape ``full`` (same element count) with a Reshape layer if needed; set as output
        ``index`` of ``node`` (None: not set)."""
        full = tuple(int(d) for d in full)
        if math.prod(full) != math.prod(v.shape):
            raise self.error(node, f"cannot reshape {list(v.shape)} to {list(full)}")
        if v.batched and self.leads_with_batch(full) and math.prod(full[1:]) == math.prod(v.local_shape):
            out_batched, target = True, full[1:]
        elif self.batch == 1:  # (a per-sample scalar, full shape (1,), is carried with its full shape too)
            out_batched, target = False, full
        elif not v.batched and _keeps_layout(tuple(v.shape), full, self.batch):
            out_batched, target = False, full  # a whole tensor (a sequence-first RNN's): its batch axis untouched
        else:
            raise self.error(node, f"reshape {list(v.shape)} -> {list(full)} mixes the batch axis (batch {self.batch})")
        layer = v.layer if tuple(target) == tuple(v.local_shape) else \
            self.add(node, L.Reshape, [v], suffix=suffix, shape=target).name
        value = Value(full, layer, out_batched, quant=_mark_of(v))  # a view of a quantized tensor stays quantized
        if index is not None:
            self.set(node, index, value)
        return value

    def leads_with_batch(self, full: tuple[int, ...]) -> bool:
        """Whether a full shape can be carried batched: axis 0 of the batch's size and a per-sample shape behind it,
        or ``(batch,)`` at a batch > 1 (one scalar a sample: a regression head's squeeze, a mean over the last axis);
        at batch 1 a ``(1,)`` is carried whole."""
        return bool(full) and full[0] == self.batch and (len(full) > 1 or self.batch > 1)

    def local_axis(self, node: Node, v: Value, axis: int) -> int:
        """An ONNX axis of ``v`` (full rank, may be negative) as an axis of the layer shape."""
        rank = len(v.shape)
        if not -rank <= axis < rank:
            raise self.error(node, f"axis {axis} out of range for rank {rank}")
        axis %= rank
        if v.batched and axis == 0:
            raise self.unsupported(node, "operates along the batch axis, which accelsim layers cannot express")
        return axis - 1 if v.batched else axis


def _keeps_layout(shape: tuple[int, ...], full: tuple[int, ...], batch: int) -> bool:
    """Whether reshaping a whole tensor ``shape`` to ``full`` leaves its batch axis where it is: only unit axes
    given or taken, or every axis up to the first of size ``batch`` kept (``(seq, batch, dirs, hidden)`` ->
    ``(seq, batch, dirs * hidden)``)."""
    if [d for d in full if d != 1] == [d for d in shape if d != 1]:
        return True
    first = next((i for i, d in enumerate(shape) if d == batch), None)
    return first is not None and len(full) > first and tuple(full[:first + 1]) == tuple(shape[:first + 1])


def _size_bound(imp: Importer, node: Node) -> int:
    """The largest value a data-dependent output size of ``node`` can take: ``NonZero``: the input's element
    count; ``NonMaxSuppression``: batch x classes x ``max_output_boxes_per_class`` (capped by the boxes);
    ``Split`` with sizes from the data: the whole axis; else 1."""
    values = [imp.values.get(t) if t else None for t in node.inputs]
    if node.op_type == "NonZero" and values and values[0] is not None:
        return max(1, math.prod(values[0].shape))
    if node.op_type == "Split" and values and values[0] is not None and values[0].shape:
        return max(1, int(values[0].shape[int(node.attrs.get("axis", 0)) % len(values[0].shape)]))
    if node.op_type == "NonMaxSuppression" and len(values) > 1 and values[0] is not None and values[1] is not None:
        (batch, boxes), classes, per_class = values[0].shape[:2], values[1].shape[1], values[0].shape[1]
        if len(values) > 2 and values[2] is not None and values[2].is_const and values[2].const.size:
            per_class = min(boxes, int(np.asarray(values[2].const).ravel()[0]))
        return max(1, batch * classes * per_class)
    return 1


def _loop_carried_shape(imp: Importer, node: Node, index: int) -> tuple[int, ...] | None:
    """A ``Loop``'s loop-carried output ``index`` whose size changes per iteration (a ``Concat`` onto an empty
    accumulator: torchvision's keypoint decoding) gets no shape from ONNX shape inference: it keeps its initial
    value's rank and dimensions, an empty one taken as the trip count when ``M`` is a constant, else 1."""
    carried = len(node.inputs) - 2
    if node.op_type != "Loop" or index >= carried:
        return None
    init = imp.values.get(node.inputs[2 + index])
    if init is None or init.seq is not None:
        return None
    trips = imp.values.get(node.inputs[0]) if node.inputs[0] else None
    bound = int(np.asarray(trips.const).ravel()[0]) if trips is not None and trips.is_const and trips.const.size else 1
    return tuple(d if d > 0 else max(1, bound) for d in init.shape)


def node_shapes(imp: Importer, node: Node) -> dict[str, tuple]:
    """ONNX shape inference (``data_prop``) of ``node`` alone, on the shapes and constants the import has reached:
    exact where whole-model inference lost a dimension (shapes computed from a KV cache)."""
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
    model = helper.make_model(helper.make_graph([node.proto], "node", inputs, [], inits),
                              opset_imports=[helper.make_opsetid(d, v) for d, v in imp.opsets.items()])
    try:
        return shapes_of(onnx.shape_inference.infer_shapes(model, data_prop=True).graph.value_info)[0]
    except Exception:
        return {}


def run_shapes(imp: Importer, node: Node) -> dict[str, tuple]:
    """The output shapes of ``node`` run alone by onnxruntime (:func:`run_node`) on zeros of its inputs' shapes and
    types (its constants as they are): for ops outside ONNX's schemas, which ONNX shape inference cannot size.
    Empty when onnxruntime is not installed or cannot run the node (an op it implements only on a GPU)."""
    return {name: tuple(int(d) for d in np.shape(a)) for name, a in run_node(imp, node).items()}


def run_node(imp: Importer, node: Node) -> dict[str, np.ndarray]:
    """The outputs of an op outside ONNX's default domain (an onnxruntime contrib op, which ``onnx.reference``
    does not evaluate), run alone by onnxruntime's CPU provider: its constant inputs as they are, its activations
    as zeros of their shapes and types. Empty when onnxruntime is not installed or cannot run it."""
    if node.proto is None or node.domain in ("", "ai.onnx"):
        return {}
    key = tuple(node.outputs)  # (every tensor is written once; node names need not be unique)
    if key in imp._ran:
        return imp._ran[key]
    imp._ran[key] = {}  # (a node onnxruntime cannot run is not tried again)
    try:
        import onnxruntime as ort
        from onnx import helper, numpy_helper
    except ImportError:
        return {}
    inputs, inits, feeds = [], [], {}
    for t in dict.fromkeys(t for t in node.inputs if t):
        v = imp.values.get(t)
        if v is None or v.seq is not None or math.prod(v.shape) > (1 << 24):
            return {}
        if v.is_const:
            inits.append(numpy_helper.from_array(np.asarray(v.const), t))
            continue
        elem = imp.types.get(t) or 1  # (FLOAT when the model does not say)
        inputs.append(helper.make_tensor_value_info(t, elem, list(v.shape)))
        feeds[t] = np.zeros(v.shape, helper.tensor_dtype_to_np_dtype(elem))
    outputs = [helper.make_empty_tensor_value_info(o) for o in node.outputs if o]
    model = helper.make_model(helper.make_graph([node.proto], "node", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid(d, v) for d, v in imp.opsets.items()])
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 4
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        results = session.run(None, feeds)
    except Exception:
        return {}
    imp._ran[key] = {o.name: np.asarray(r) for o, r in zip(session.get_outputs(), results)}
    return imp._ran[key]


#: bits of ONNX's floating-point element types (TensorProto: FLOAT 1, FLOAT16 10, DOUBLE 11, BFLOAT16 16, the
#: FLOAT8 types 17-20, FLOAT4E2M1 23)
FLOAT_BITS = {1: 32, 10: 16, 11: 64, 16: 16, 17: 8, 18: 8, 19: 8, 20: 8, 23: 4}


def shapes_of(value_infos) -> tuple[dict[str, tuple], dict[str, int]]:
    """(tensor -> shape with None for an unknown dimension, tensor -> ONNX element type) of ValueInfoProtos."""
    shapes, types = {}, {}
    for vi in value_infos:
        tt = vi.type.tensor_type
        if tt.elem_type:
            types[vi.name] = int(tt.elem_type)
        if tt.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    return shapes, types


def _scope_path(scopes: str | None) -> list[str] | None:
    """The module path torch's dynamo exporter records in a node's ``pkg.torch.onnx.name_scopes`` metadata, root and
    op left out (``['', 'layer1', 'layer1.0', 'conv1', 'conv2d']`` -> ``['layer1', 'layer1.0', 'conv1']``; ``[]`` for
    a call outside any module, or metadata it cannot read); None without that metadata."""
    if scopes is None:
        return None
    try:
        parts = ast.literal_eval(scopes) if scopes else []
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        return []
    return [p for p in parts[1:-1] if p]


def weight_claims(nodes: Sequence[Node], readable: dict[int, str]) -> dict[str, int]:
    """``{name: id(node)}`` for each readable name that several nodes share, where the first is not the one reading a
    module's weight (:func:`_weight_module`): that one takes the name (:attr:`Importer.claims`)."""
    groups: dict[str, list[Node]] = {}
    for node in nodes:
        groups.setdefault(readable[id(node)], []).append(node)
    claims = {}
    for name, group in groups.items():
        if len(group) > 1:
            weighted = next((n for n in group if _weight_module(_source_proto(n))), None)
            if weighted is not None and weighted is not group[0]:
                claims[name] = id(weighted)
    return claims


def _source_proto(node: Node):
    """The NodeProto a node's name and weight come from: its own, or a fused node's first part's."""
    return node.proto if node.proto is not None or not node.parts else node.parts[0].proto


def _weight_module(proto) -> str:
    """The module path in the name of a node's weight initializer (``heads.cls.weight`` -> ``heads.cls``); '' when
    it is not a parameter's name."""
    weight = proto.input[1] if proto is not None and len(proto.input) > 1 else ""
    if not weight.endswith(".weight") or "/" in weight or ":" in weight:
        return ""
    return weight[:-len(".weight")]


def readable_name(node: Node) -> str:
    """Module paths for layer names: torch's exporters' scopes ('/layer1/layer1.0/conv1/Conv' -> 'layer1.0.conv1';
    the dynamo exporter's name-scope metadata alike, its node names being ``node_<op>``), made the path of the
    node's weight where the scopes give only its end (:func:`_weight_path`)."""
    proto = _source_proto(node)
    props = {p.key: p.value for p in getattr(proto, "metadata_props", ())}
    scopes = props.get("pkg.torch.onnx.name_scopes")
    scoped = _scope_path(scopes)
    if scopes and "pkg.onnxscript.rewriter.rule_name" in props and _weight_module(proto):
        # a node the exporter's optimizer fused keeps the scope of the op it absorbed (a Conv folding its
        # BatchNorm is scoped 'bn1'); its weight keeps the parameter's name ('conv1.weight')
        return _weight_module(proto)
    name = f"/{'/'.join(scoped)}/{node.op_type}" if scoped else node.name
    if scoped == [] and name.startswith("node_"):
        name = name[len("node_"):]  # a function call outside any module ('node_relu_1': torch.relu in forward)
    if name.startswith("/") and name.count("/") >= 2:
        path: list[str] = []
        for part in [p for p in name.split("/") if p][:-1]:
            if path and part.startswith(path[-1] + "."):
                path[-1] = part
            else:
                path.append(part)
        if path:
            return _weight_path(_weight_module(proto), ".".join(path))
    return name.lstrip("/") or node.op_type.lower()


def _weight_path(full: str, name: str) -> str:
    """``name`` made ``full``, the module path its node's weight carries (initializer ``heads.cls.weight``), where the
    exporter's scopes give only its end: TorchScript scopes a module a container calls without being called
    itself (a ModuleDict's member, ``self.stage.block.conv(x)``) by its own name only (``cls``, ``conv``), and the
    second call of a module by ``<name>_1`` (its weight ``fc1.weight``: named ``fc1`` here, numbered as a repeat
    like the dynamo exporter's)."""
    if not full:
        return name
    if full == name or full.endswith("." + name):
        return full
    stem, _, count = name.rpartition("_")
    if count.isdigit() and stem and (full == stem or full.endswith("." + stem)):
        return full  # a repeated call of the module that holds the weight
    return name


def convert(imp: Importer, node: Node, skip_unsupported: bool = False) -> None:
    """Run the converter of ``node`` (its inputs all present); an op without one (or an unexpressible variant)
    becomes generic."""
    converter = CONVERTERS.get(node.key)
    if converter is None:
        if skip_unsupported:
            return _skip_node(imp, node)
        if imp.strict:
            raise UnsupportedLayerError(node.name, node.key, imp.source)
        return imp.generic(node, f"op type '{node.key}' has no accelsim layer type")
    try:
        converter(imp, node)
    except WorkloadError as exc:  # shapes downstream of a data-dependent size (taken as 1) need not agree either
        dependent = not isinstance(exc, Unexpressible)
        if imp.strict or skip_unsupported or (dependent and not any(t in imp.data_dependent for t in node.inputs)):
            raise
        reason, why = str(exc).split(": ", 2)[-1], " (its inputs have data-dependent sizes)" if dependent else ""
        imp.generic(node, "its inputs have data-dependent sizes" if dependent else reason)
        imp.note(f"node '{node.name}' ({node.key}) imported as a generic layer: {reason}{why}")
    except (KeyError, IndexError, ValueError, TypeError) as exc:  # missing attributes, wrong arities
        detail = f"missing attribute {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise imp.error(node, f"malformed node ({detail})") from None


def _skip_node(imp: Importer, node: Node) -> None:
    """``skip_unsupported``: pass the first activation input on (reshaped to the inferred output shape when the
    element count is unchanged), with a ``warnings.warn``."""
    warnings.warn(f"{imp.source}: skipping node '{node.name}' with unsupported op type '{node.key}'", stacklevel=5)
    imp.skipped.append(node.name)
    acts = [imp.values[t] for t in node.inputs if t and not imp.values[t].is_const]
    if not acts:
        return  # outputs stay undefined; a later reader gets a clear error
    v = acts[0]
    for i, out in enumerate(node.outputs):
        shape = imp.inferred.get(out) if out else None
        if shape and shape[0] is None:
            shape = (imp.batch, *shape[1:])
        if shape is not None and all(d is not None for d in shape) and tuple(shape) != tuple(v.shape):
            if math.prod(shape) != math.prod(v.shape):
                raise imp.error(node, f"cannot skip: it changes shape {list(v.shape)} -> {list(shape)}")
            imp.reshape_to(node, v, tuple(shape), index=i, suffix="/skipped")
        elif out:
            imp.set(node, i, v)
