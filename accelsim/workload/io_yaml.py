"""Workload YAML <-> LayerGraph.

Format (zoo files in ``workloads/`` use it)::

    name: lenet-300-100
    description: ...
    published: {params: 266200, macs: 266200, source: "Han et al. 2015, Table 2"}
    inputs: {data: [784]}              # graph inputs: name -> shape (batch excluded)
    layers:
      - {name: fc1, op: linear, out_features: 300}          # fed by the previous entry
      - {name: relu1, op: relu}
      - {name: add1, op: add, inputs: [bn3, proj_bn]}       # explicit producers
      - {name: fc6, op: linear, out_features: 4096, act_density: 0.351}

Every field of the layer's dataclass may be given (``kernel: 3`` or ``kernel: [3, 1]``); input
shapes are propagated from the producers. ``op`` takes a layer type (see
``accelsim.workload.layers.LAYER_TYPES``) or an alias (``relu``, ``add``, ``maxpool``,
``global_avgpool``, ...; an activation's ``func`` names one, except ``identity``: ``op: identity`` is the no-op
layer, ``op: activation, func: identity`` a costed shape-preserving pass). :func:`dump_yaml` writes a graph that
reads back as the same layers. Every problem names the file, the layer index and the field.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import yaml

from accelsim.config import given, read_yaml_file
from accelsim.errors import AccelsimError, WorkloadError
from accelsim.workload.graph import MAX_LAYERS, LayerGraph
from accelsim.workload.layers import ACTIVATIONS, INT64_MAX, LAYER_TYPES, Input, Layer

# alias -> (layer type, fixed fields)
OP_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    # an activation's name is its op, except `identity`, the no-op layer's own op (a costed shape-preserving pass:
    # `op: activation, func: identity`)
    **{func: ("activation", {"func": func}) for func in ACTIVATIONS if func not in LAYER_TYPES},
    "add": ("eltwise", {"func": "add"}),
    "mul": ("eltwise", {"func": "mul"}),
    "sub": ("eltwise", {"func": "sub"}),
    "maxpool": ("pool", {"kind": "max"}),
    "avgpool": ("pool", {"kind": "avg"}),
    "global_avgpool": ("pool", {"kind": "avg", "global_pool": True}),
    "global_maxpool": ("pool", {"kind": "max", "global_pool": True}),
    "conv": ("conv2d", {}),
    "fc": ("linear", {}),
    "dropout": ("identity", {}),
    "rmsnorm": ("layernorm", {"rms": True}),
}

_RESERVED = {"name", "op", "inputs", "act_density"}


@functools.lru_cache(maxsize=None)
def _field_types(cls: type[Layer]) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(cls)


def _layer_fields(cls: type[Layer]) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.name not in ("name", "input_shapes")}


def _to_value(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_to_value(v) for v in value)
    return value


def _is_int(v: Any) -> bool:
    """An int (not a bool) that fits int64, as the models count in it."""
    return isinstance(v, int) and not isinstance(v, bool) and -INT64_MAX <= v <= INT64_MAX


def _checked(where: str, key: str, value: Any, tp: Any) -> Any:
    """``value`` of a layer field checked against the field's type (a bool for a bool, an int for an int,
    a finite number for a float, ints where a shape or a kernel size is expected): one WorkloadError naming
    the field, what it expects and what was given (``bias: maybe``, ``out_features: true``,
    ``num_embeddings: .nan`` were taken before)."""
    import math
    import typing

    def bad(expect: str) -> WorkloadError:
        return WorkloadError(f"{where}.{key} must be {expect}; got {given(value)}")

    if tp is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
    elif tp is int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        if not _is_int(value):
            raise bad("an int" if not isinstance(value, int) or isinstance(value, bool) else "an int within int64")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad("a finite number")
    elif tp is str:
        if not isinstance(value, str):
            raise bad("a string")
    elif "int" in repr(tp):  # a kernel / stride / shape: an int, or a (nested) list of ints
        if value is None and type(None) in typing.get_args(tp):
            return value

        def ints(v: Any) -> bool:
            return _is_int(v) or (isinstance(v, tuple) and len(v) > 0 and all(ints(x) for x in v))

        if not ints(value):
            raise bad("an int or a list of ints")
    return value


def _read_yaml(path: Path) -> Any:
    return read_yaml_file(path, WorkloadError)


def graph_from_dict(data: Any, source: str = "<dict>") -> LayerGraph:
    """Build a LayerGraph from the YAML structure described in the module docstring."""
    if not isinstance(data, dict):
        raise WorkloadError(f"{source}: a workload must be a mapping with 'name', 'inputs' and 'layers'")
    unknown = set(data) - {"name", "description", "source", "published", "inputs", "layers", "notes"}
    if unknown:
        raise WorkloadError(f"{source}: unknown top-level field(s) {', '.join(sorted(unknown))}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise WorkloadError(f"{source}: 'name' must be a non-empty string")
    inputs = data.get("inputs")
    if not isinstance(inputs, dict) or not inputs:
        raise WorkloadError(f"{source}: 'inputs' must map input names to shapes, e.g. {{data: [3, 224, 224]}}")
    layers = data.get("layers")
    if not isinstance(layers, list) or not layers:
        raise WorkloadError(f"{source}: 'layers' must be a non-empty list")
    if len(layers) + len(inputs) > MAX_LAYERS:  # counted before any is built
        raise WorkloadError(f"{source}: layers: {len(layers):,} layers and {len(inputs):,} input(s); a graph holds at "
                            f"most {MAX_LAYERS:,} layers, inputs included")

    for key in ("description", "source"):  # free text: a string (or left out)
        if data.get(key) is not None and not isinstance(data[key], str):
            raise WorkloadError(f"{source}: '{key}' must be a string; got {given(data[key])}")
    published = data.get("published")
    if published is not None:  # the reference figures the zoo validation compares with (workload.validation)
        if not isinstance(published, dict):
            raise WorkloadError(f"{source}: 'published' must be a mapping (params, macs, source); got {given(published)}")
        extra = set(published) - {"params", "macs", "source"}
        if extra:
            raise WorkloadError(f"{source}: published: unknown field(s) {', '.join(sorted(map(str, extra)))}; "
                                "expected params, macs, source")
        for key in ("params", "macs"):
            value = published.get(key)
            if value is not None and (not _is_int(value) or value < 0):
                raise WorkloadError(f"{source}: published.{key} must be an int >= 0; got {given(value)}")
        if published.get("source") is not None and not isinstance(published["source"], str):
            raise WorkloadError(f"{source}: published.source must be a string; got {given(published['source'])}")
    graph = LayerGraph(name, source)
    graph.metadata = {k: data[k] for k in ("description", "source", "published", "notes") if k in data}
    if "notes" in data:  # one note as a string, or a list of them; always held as a list
        notes = data["notes"]
        if isinstance(notes, str):
            notes = [notes]
        if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
            raise WorkloadError(f"{source}: 'notes' must be a string or a list of strings; got {notes!r}")
        graph.metadata["notes"] = notes
    prev: str | None = None
    for input_name, shape in inputs.items():
        if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise WorkloadError(f"{source}: inputs.{input_name} must be a list of ints; got {shape!r}")
        try:
            graph.add(Input(name=str(input_name), shape=tuple(shape)))
        except AccelsimError as exc:
            raise WorkloadError(f"{source}: inputs.{input_name}: {graph.unsourced(exc)}") from None
        prev = str(input_name)

    for index, entry in enumerate(layers):
        where = f"{source}: layers[{index}]"
        if not isinstance(entry, dict):
            raise WorkloadError(f"{where} must be a mapping with at least 'name' and 'op'")
        lname = entry.get("name")
        if not isinstance(lname, str) or not lname:
            raise WorkloadError(f"{where}.name must be a non-empty string")
        where = f"{source}: layers[{index}] ({lname})"
        op = entry.get("op")
        if "op" not in entry:
            from accelsim.errors import misspelling_of

            stray = misspelling_of("op", entry)
            hint = f"; unknown key '{stray}': did you mean op?" if stray else ""
            raise WorkloadError(f"{where}: missing field 'op' (the layer type){hint}")
        if not isinstance(op, str):
            raise WorkloadError(f"{where}.op must be a string; got {given(op)}")
        op_key = op.lower()
        fixed: dict[str, Any] = {}
        if op_key in OP_ALIASES:
            op_key, fixed = OP_ALIASES[op_key]
        if op_key not in LAYER_TYPES or op_key == "input":
            known = sorted(set(LAYER_TYPES) - {"input"} | set(OP_ALIASES))
            raise WorkloadError(f"{where}.op: unknown op '{op}'; expected one of {', '.join(known)}")
        cls = LAYER_TYPES[op_key]
        fields = _layer_fields(cls)
        kwargs: dict[str, Any] = dict(fixed)
        for key, value in entry.items():
            if key in _RESERVED:
                continue
            if key not in fields:
                raise WorkloadError(f"{where}: unknown field '{key}' for op '{op}'; expected one of {', '.join(sorted(fields))}")
            kwargs[key] = _checked(where, key, _to_value(value), _field_types(cls).get(key))

        producers = entry.get("inputs", [prev] if prev is not None else [])
        if isinstance(producers, str):
            producers = [producers]
        if not isinstance(producers, list) or not all(isinstance(p, str) for p in producers):
            raise WorkloadError(f"{where}.inputs must be a list of layer names")
        shapes = []
        for p in producers:
            if p not in graph:
                raise WorkloadError(f"{where}.inputs: unknown layer '{p}' (producers must come earlier in the list)")
            shapes.append(graph.layer(p).output_shape)
        try:
            layer = cls(name=lname, input_shapes=tuple(shapes), **kwargs)
            graph.add(layer, producers)
        except TypeError as exc:
            raise WorkloadError(f"{where}: bad fields for op '{op}': {exc}") from None
        except AccelsimError as exc:
            raise WorkloadError(f"{where}: {graph.unsourced(exc)}") from None
        if "act_density" in entry:
            try:
                graph.set_activation_density(lname, entry["act_density"])
            except (AccelsimError, TypeError, ValueError):
                raise WorkloadError(f"{where}.act_density must be a number in (0, 1]; got {given(entry['act_density'])}") from None
        prev = lname
    return graph


def load_yaml(path: str | Path) -> LayerGraph:
    """Read a workload YAML file."""
    path = Path(path)
    return graph_from_dict(_read_yaml(path), str(path))


def graph_to_dict(graph: LayerGraph) -> dict:
    """The YAML structure of a graph (round-trips through :func:`graph_from_dict`)."""
    inputs: dict[str, list[int]] = {}
    layers: list[dict] = []
    prev: str | None = None
    for layer in graph.layers:
        if isinstance(layer, Input):
            inputs[layer.name] = list(layer.shape)
            prev = layer.name
            continue
        entry: dict[str, Any] = {"name": layer.name, "op": layer.op}
        for f in dataclasses.fields(layer):
            if f.name in ("name", "input_shapes"):
                continue
            value = getattr(layer, f.name)
            if value != f.default:
                entry[f.name] = list(value) if isinstance(value, tuple) else value
        producers = graph.inputs_of(layer.name)
        if producers != ([prev] if prev else []):
            entry["inputs"] = producers
        if layer.name in graph.activation_density:
            entry["act_density"] = graph.activation_density[layer.name]
        layers.append(entry)
        prev = layer.name
    out: dict[str, Any] = {"name": graph.name}
    out.update({k: v for k, v in graph.metadata.items() if k in ("description", "source", "published", "notes")})
    out["inputs"] = inputs
    out["layers"] = layers
    return out


def dump_yaml(graph: LayerGraph, path: str | Path) -> None:
    """Write a graph as workload YAML, one flow-style mapping per layer."""

    class _Dumper(yaml.SafeDumper):
        pass

    def _repr_dict(dumper, data):
        flow = all(not isinstance(v, dict) for v in data.values()) and "layers" not in data
        return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)

    def _repr_list(dumper, data):
        flow = all(not isinstance(v, (dict, list)) for v in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    _Dumper.add_representer(dict, _repr_dict)
    _Dumper.add_representer(list, _repr_list)
    Path(path).write_text(yaml.dump(graph_to_dict(graph), Dumper=_Dumper, sort_keys=False, width=200))
