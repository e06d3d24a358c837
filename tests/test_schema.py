"""One declarative schema: checks GENERATED from the declarations of accelsim.config.param fields.

For every declared parameter of every recipe step (and the recipe's top-level fields), of every
hardware family's config class, and of the technology-table file schema, out-of-range and
wrong-type values are derived from the declaration (type, ge / gt / le / lt, choices) and must be
rejected with a ConfigError whose problem follows the one template
``<source>: <dotted.path> must be ...; got <value>``. Every numeric parameter has a physical upper bound
(``le`` or ``lt``): the value just above it and ``10**30`` are rejected the same way (issue 19 part 3). Every declared parameter of a sweep spec with a
range or choices is rejected the same way, with a SweepError. Every declared parameter carries a unit
or a doc.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
import types
import typing
from typing import Any

import pytest
import yaml

from accelsim.compress.recipe import OPS, RecipeFields, recipe_from_dict
from accelsim.config import apply_overrides, declared, from_dict
from accelsim.dse.space import SpecFields, read_spec, space_from_spec
from accelsim.energy.tables import DerivedTechFile, TechFile, load_tech
from accelsim.errors import ConfigError, SweepError
from accelsim.hw import registry
from accelsim.paths import TECH_DIR

FAMILIES = ("systolic", "eie", "gpu", "npu")

# one valid instance of every step (required parameters and cross-field rules satisfied)
VALID_STEPS = {
    "prune": {"sparsity": 0.5}, "quantize": {"bits": 8}, "binarize": {}, "ternarize": {}, "share": {"bits": 4},
    "activations": {"bits": 8}, "encode": {}, "huffman": {}, "channel_prune": {"sparsity": 0.5}, "svd": {"rank": 2},
    "tucker2": {"rank_fraction": 0.5}, "depthwise_separable": {},
}


# --- bad values from a declaration ----------------------------------------------------------------------
def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _bounds(meta) -> str:
    """The range as the template writes it: `` in [1, 32]``, `` in [0, 1)``, `` >= 1``, `` > 0``."""
    ge, gt, le, lt = (meta.get(k) for k in ("ge", "gt", "le", "lt"))
    low = f"[{_num(ge)}" if ge is not None else (f"({_num(gt)}" if gt is not None else None)
    high = f"{_num(le)}]" if le is not None else (f"{_num(lt)})" if lt is not None else None)
    if low and high:
        return f" in {low}, {high}"
    if low:
        return f" {'>=' if ge is not None else '>'} {low[1:]}"
    if high:
        return f" {'<=' if le is not None else '<'} {high[:-1]}"
    return ""


HUGE = 10**30  # over every upper bound; once crashed Numba kernels (int64 overflow) or hung the models


def _above(bound):
    """The smallest simple value over ``bound`` as the field stores it (a float: ``bound + 1`` may round to it)."""
    return bound + 1 if float(bound + 1) > bound else bound + abs(bound)


def _below(bound):
    return bound - 1 if float(bound - 1) < bound else bound - abs(bound)


def _scalar_cases(tp, meta) -> list[tuple[Any, str]]:
    """(bad value, expected 'must be' text) for a scalar field."""
    choices = meta.get("choices")
    if choices:
        bad = "not-a-choice" if all(isinstance(c, str) for c in choices) else next(
            v for v in itertools.count(-1, -1) if v not in choices)
        return [(bad, f"one of {', '.join(map(str, choices))}")]
    if tp is bool:
        return [("yes", "a bool (true or false)")]
    if tp is str:
        return [(12, "a str")]
    if tp in (int, float):
        expected = ("an int" if tp is int else "a number") + _bounds(meta)
        out = [("many", expected)] + ([(2.5, expected)] if tp is int else [])
        if meta.get("ge") is not None:
            out.append((_below(meta["ge"]), expected))
        if meta.get("gt") is not None:
            out.append((meta["gt"], expected))  # the open bound itself
        if meta.get("le") is not None:
            out.append((_above(meta["le"]), expected))
        if meta.get("lt") is not None:
            out.append((meta["lt"], expected))
        assert meta.get("le") is not None or meta.get("lt") is not None, "a numeric parameter without an upper bound"
        out.append((HUGE, expected))
        return out
    raise AssertionError(f"no generated bad values for type {tp!r}: extend the generator")


def bad_cases(tp, meta) -> list[tuple[Any, str, str | None, Any]]:
    """(bad value, suffix of the reported path, expected 'must be' text or None, the quoted value)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        cands = [a for a in args if a is not type(None)]
        if len(cands) == 1:
            return bad_cases(cands[0], meta)
        bad = {"bogus": 1}  # none of the unions declared here accepts a mapping
        return [(bad, "", None, bad)]
    if origin is typing.Literal:
        return [("bogus", "", None, "bogus")]
    if origin in (list, tuple):
        out: list[tuple[Any, str, str | None, Any]] = [("x", "", meta.get("expect") or "a list", "x")]
        fixed = origin is tuple and args and args[-1] is not Ellipsis
        item = args[0] if args else Any
        if fixed:
            out.append(([1], "", f"a list of {len(args)} items", [1]))
        if item is not Any and not dataclasses.is_dataclass(item):
            valid_rest = [1] * (len(args) - 1) if fixed else []
            for v, text in _scalar_cases(item, meta):
                out.append(([v] + valid_rest, "[0]", text, v))
        return out
    if origin is dict:  # bounds and choices apply to each value
        out = [("x", "", meta.get("expect") or "a mapping", "x")]
        for v, text in (_scalar_cases(args[1], meta) if args[1] is not Any else []):
            out.append(({"k": v}, ".k", text, v))
        return out
    return [(v, "", text, v) for v, text in _scalar_cases(tp, meta)]


def check_rejected(problems: list[str], source: str, path: str, case) -> None:
    bad, suffix, expected, quoted = case
    where = f"{source}: {path}{suffix} "
    mine = [p for p in problems if p.startswith(where)]
    assert len(mine) == 1, (path, bad, problems)
    m = re.fullmatch(rf"{re.escape(where)}must be (.+); got {re.escape(repr(quoted))}", mine[0])
    assert m, (mine[0], "does not follow '<source>: <path> must be ...; got <value>'")
    if expected is not None:
        assert m.group(1) == expected, mine[0]


def _valid(tp, meta) -> Any:
    """A value the declaration accepts (for required fields around the one under test)."""
    if meta.get("choices"):
        return meta["choices"][0]
    if tp is int:
        return int(meta.get("ge") or 1)
    if tp is float:
        lo = meta.get("ge") if meta.get("ge") is not None else meta.get("gt") or 0
        hi = meta.get("le") if meta.get("le") is not None else meta.get("lt")
        return (lo + hi) / 2 if hi is not None else lo + 1
    raise AssertionError(f"no valid value for required {tp!r}")


# --- recipe steps -------------------------------------------------------------------------------------------
STEP_FIELDS = [(op, path, tp, meta) for op, cls in OPS.items() for path, tp, meta, _ in declared(cls)]


def test_every_step_has_a_valid_example():
    assert set(VALID_STEPS) == set(OPS)
    for op, params in VALID_STEPS.items():
        assert recipe_from_dict({"name": "t", "pipeline": [{op: params}]}).pipeline[0].op == op


@pytest.mark.parametrize("op,path,tp,meta", STEP_FIELDS, ids=[f"{op}.{p}" for op, p, _, _ in STEP_FIELDS])
def test_step_parameter_rejects_bad_values(op, path, tp, meta):
    cases = bad_cases(tp, meta)
    assert cases
    for case in cases:
        data = {"name": "t", "pipeline": [{op: {**VALID_STEPS[op], path: case[0]}}]}
        with pytest.raises(ConfigError) as info:
            recipe_from_dict(data, "recipes/t.yaml")
        check_rejected(info.value.problems, "recipes/t.yaml", f"pipeline[0].{op}.{path}", case)
        assert str(info.value).startswith("recipes/t.yaml: ") and "\n" not in str(info.value)
        # the same value in a per-layer override (a partial mapping) is rejected the same way
        data = {"name": "t", "pipeline": [{op: VALID_STEPS[op]}], "overrides": {"fc*": {op: {path: case[0]}}}}
        with pytest.raises(ConfigError) as info:
            recipe_from_dict(data, "recipes/t.yaml")
        check_rejected(info.value.problems, "recipes/t.yaml", f"overrides.fc*.{op}.{path}", case)


RECIPE_FIELDS = [(path, tp, meta) for path, tp, meta, _ in declared(RecipeFields) if path != "pipeline"]


@pytest.mark.parametrize("path,tp,meta", RECIPE_FIELDS, ids=[p for p, _, _ in RECIPE_FIELDS])
def test_recipe_field_rejects_bad_values(path, tp, meta):
    for case in bad_cases(tp, meta):
        with pytest.raises(ConfigError) as info:
            recipe_from_dict({"name": "t", "pipeline": [{"quantize": {"bits": 8}}], path: case[0]}, "t.yaml")
        check_rejected(info.value.problems, "t.yaml", path, case)


# --- hardware families --------------------------------------------------------------------------------------
ARCH_FIELDS = [(fam, path, tp, meta) for fam in FAMILIES
               for path, tp, meta, _ in declared(registry.family(fam).config_cls)]


def test_every_family_is_covered():
    assert {fam for fam, *_ in ARCH_FIELDS} == set(FAMILIES)
    assert set(FAMILIES) <= set(registry.family_names())


#: a bundled config per family: the source of the fields a family's config must state (a GPU's or an NPU's device
#: numbers have no meaningful default)
BUNDLED = {"systolic": "edge-32x32", "eie": "eie", "gpu": "h100-sxm", "npu": "tpu-v5e"}


def _required(fam: str) -> list[str]:
    return [f.name for f in dataclasses.fields(registry.family(fam).config_cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name != "name"]


def _device(fam: str) -> dict:
    """The family's required top-level fields, with the values of its bundled config."""
    from accelsim.config import to_dict
    from accelsim.hw.registry import load_arch

    bundled = to_dict(load_arch(BUNDLED[fam]))
    return {name: bundled[name] for name in _required(fam)}


REQUIRED_DEVICE = {fam: _device(fam) for fam in FAMILIES}


def test_required_device_fields_are_named_when_missing():
    assert set(REQUIRED_DEVICE["gpu"]) == {"sms", "clock_mhz", "fp32_lanes_per_sm", "l2_mb", "l2_bytes_per_clk",
                                           "dram_gbs", "tdp_w", "arch"}
    assert set(REQUIRED_DEVICE["npu"]) == {"clock_hz", "matrix", "vector", "scratchpad", "dram"}
    for fam in FAMILIES:
        cls = registry.family(fam).config_cls
        required = _required(fam)
        if required:
            with pytest.raises(ConfigError) as info:
                from_dict(cls, {"name": "t", "family": fam}, f"{fam}.yaml")
            assert "\n" not in str(info.value)
            assert sorted(info.value.problems) == sorted(f"{fam}.yaml: {p} is required" for p in required)
    # inside a section: an NPU's array, lanes, scratchpad capacity and bandwidth, DRAM bandwidth
    partial = {**REQUIRED_DEVICE["npu"], "matrix": {}, "vector": {}, "scratchpad": {}, "dram": {}}
    with pytest.raises(ConfigError) as info:
        from_dict(registry.family("npu").config_cls, {"name": "t", "family": "npu", **partial}, "npu.yaml")
    assert sorted(info.value.problems) == sorted(f"npu.yaml: {p} is required" for p in (
        "matrix.array", "vector.lanes", "scratchpad.capacity_kb", "scratchpad.bytes_per_cycle", "dram.bandwidth_gbs"))


@pytest.mark.parametrize("fam,path,tp,meta", ARCH_FIELDS, ids=[f"{f}:{p}" for f, p, _, _ in ARCH_FIELDS])
def test_arch_parameter_rejects_bad_values(fam, path, tp, meta):
    cls = registry.family(fam).config_cls
    base = {"name": "t", "family": fam, **REQUIRED_DEVICE[fam]}
    from_dict(cls, base, f"{fam}.yaml")  # the base is valid
    for case in bad_cases(tp, meta):
        with pytest.raises(ConfigError) as info:
            from_dict(cls, apply_overrides(base, {path: case[0]}), f"{fam}.yaml")
        check_rejected(info.value.problems, f"{fam}.yaml", path, case)


# --- technology tables --------------------------------------------------------------------------------------
def _unopt(tp):
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1 else tp


def tech_leaves(cls, data, path="", keys=()):
    """(dotted path, keys into the file's mapping, type, constraints) of every declared leaf present in
    ``data``, walking nested classes, lists of classes (first item) and mappings of classes (first key)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not isinstance(data, dict) or f.name not in data:
            continue
        tp, sub = _unopt(hints[f.name]), data[f.name]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if dataclasses.is_dataclass(tp):
            yield from tech_leaves(tp, sub, f"{path}{f.name}.", keys + (f.name,))
        elif origin is list and dataclasses.is_dataclass(args[0]):
            yield from tech_leaves(args[0], sub[0], f"{path}{f.name}[0].", keys + (f.name, 0))
        elif origin is dict and dataclasses.is_dataclass(args[1]):
            first = next(iter(sub))
            yield from tech_leaves(args[1], sub[first], f"{path}{f.name}.{first}.", keys + (f.name, first))
        else:
            yield f"{path}{f.name}", keys + (f.name,), hints[f.name], f.metadata


def _base_table() -> dict:
    return yaml.safe_load((TECH_DIR / "45nm.yaml").read_text())


def _derived_table(base_path) -> dict:
    return {"name": "d", "base": str(base_path), "node_nm": 7, "description": "test",
            "dram": copy.deepcopy(_base_table()["dram"])}


TECH_LEAVES = list(tech_leaves(TechFile, _base_table()))


def test_tech_walk_reaches_every_section():
    tops = {p.split(".")[0].split("[")[0] for p, *_ in TECH_LEAVES}
    assert tops == {f.name for f in dataclasses.fields(TechFile)}
    assert any(p.startswith("sram.energy_check_points[0].") for p, *_ in TECH_LEAVES)
    assert any(p.startswith("node_scaling.nodes.45.") for p, *_ in TECH_LEAVES)


def _set(data, keys, value):
    node = data
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


@pytest.mark.parametrize("kind", ["base", "derived"])
def test_tech_parameter_rejects_bad_values(tmp_path, kind):
    base_path = tmp_path / "base.yaml"
    base_path.write_text(yaml.safe_dump(_base_table()))
    template = _base_table() if kind == "base" else _derived_table(base_path)
    load_tech(base_path)
    checked = 0
    for i, (path, keys, tp, meta) in enumerate(tech_leaves(TechFile if kind == "base" else DerivedTechFile, template)):
        for j, case in enumerate(bad_cases(tp, meta)):
            data = copy.deepcopy(template)
            _set(data, keys, case[0])
            f = tmp_path / f"{kind}-{i}-{j}.yaml"
            f.write_text(yaml.safe_dump(data))
            with pytest.raises(ConfigError) as info:
                load_tech(f)
            check_rejected(info.value.problems, str(f), path, case)
            checked += 1
    assert checked > (200 if kind == "base" else 30)


# --- sweep specs -------------------------------------------------------------------------------------------
# two valid specs that hold every declared section: one space at the top level, and a union of spaces
SPEC_FLAT = {
    "name": "t", "description": "d", "base": {"arch": "edge-32x32"}, "grid": {"a": [1, 2]}, "zip": {"b": [1], "c": [2]},
    "random": {"n": 2, "seed": 1, "axes": {"r": {"low": 1, "high": 8, "log": True, "int": True}, "s": {"choices": [1, 2]},
                                           "u": [3, 4]}},
    "points": [{"p": 1}], "detail": True, "evaluate": "mod:fn", "objectives": {"latency_s": "min", "energy_j": "max"},
    "report": {"pareto": {"x": "latency_s", "y": "energy_j", "color": "a"}, "top_k": 3,
               "tradeoff": {"group": "arch_name", "ratio": "tag.ratio"}, "breakdown_point": "0123456789abcdef"},
}
SPEC_SPACES = {"base": {"workload": "w"}, "objectives": {"latency_s": "min"},
               "spaces": [{k: copy.deepcopy(SPEC_FLAT[k]) for k in ("name", "base", "grid", "zip", "random", "points")}]}


def _mapping_class(tp):
    """The config class a field holds when given a mapping (``X``, ``X | None``, ``X | bool``), else None."""
    for t in (tp, *typing.get_args(tp)):
        if dataclasses.is_dataclass(t):
            return t
    return None


def spec_leaves(cls, data, path="", keys=()):
    """(dotted path, keys into the spec, type, constraints) of every declared leaf present in ``data``,
    walking sections, lists of sections (first item) and mappings of sections (every value that is a mapping)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        tp, sub = hints[f.name], data[f.name]
        section = _mapping_class(tp)
        args = typing.get_args(_unopt(tp))
        if section is not None and isinstance(sub, dict):
            yield from spec_leaves(section, sub, f"{path}{f.name}.", keys + (f.name,))
        elif typing.get_origin(_unopt(tp)) is list and dataclasses.is_dataclass(args[0]):
            yield from spec_leaves(args[0], sub[0], f"{path}{f.name}[0].", keys + (f.name, 0))
        elif typing.get_origin(_unopt(tp)) is dict and _mapping_class(args[1]) is not None:
            for k, v in sub.items():
                if isinstance(v, dict):
                    yield from spec_leaves(_mapping_class(args[1]), v, f"{path}{f.name}.{k}.", keys + (f.name, k))
        else:
            yield f"{path}{f.name}", keys + (f.name,), tp, f.metadata


def _constrained(meta) -> bool:
    return any(meta.get(k) is not None for k in ("ge", "gt", "le", "lt", "choices"))


SPEC_CHECKED = [(name, path, keys, tp, meta) for name, spec in (("flat", SPEC_FLAT), ("spaces", SPEC_SPACES))
                for path, keys, tp, meta in spec_leaves(SpecFields, spec) if _constrained(meta)]


def test_spec_walk_reaches_every_constrained_parameter():
    bounded = {"random.n", "random.seed", "random.axes.r.low", "random.axes.r.high"}
    assert {p for name, p, *_ in SPEC_CHECKED if name == "flat"} == bounded | {"objectives", "report.top_k"}
    assert {p for name, p, *_ in SPEC_CHECKED if name == "spaces"} == {f"spaces[0].{p}" for p in bounded} | {"objectives"}
    leaves = {p for p, *_ in spec_leaves(SpecFields, SPEC_FLAT)}
    assert {"random.axes.r.low", "random.axes.r.int", "report.pareto.color", "report.tradeoff.ratio"} <= leaves
    for spec in (SPEC_FLAT, SPEC_SPACES):
        assert space_from_spec(spec, "s.yaml").points()  # the templates are valid


def check_rejected_message(message: str, source: str, path: str, case) -> None:
    """The SweepError is one line: ``<source>: <path> must be ...; got <value>`` and nothing else."""
    bad, suffix, expected, quoted = case
    assert "\n" not in message
    where = re.escape(f"{source}: {path}{suffix} ")
    m = re.fullmatch(rf"{where}must be (.+); got {re.escape(repr(quoted))}", message)
    assert m, (message, "does not follow '<source>: <path> must be ...; got <value>'")
    if expected is not None:
        assert m.group(1) == expected, message


@pytest.mark.parametrize("name,path,keys,tp,meta", SPEC_CHECKED, ids=[f"{n}:{p}" for n, p, *_ in SPEC_CHECKED])
def test_spec_parameter_rejects_bad_values(tmp_path, name, path, keys, tp, meta):
    template = SPEC_FLAT if name == "flat" else SPEC_SPACES
    cases = bad_cases(tp, meta)
    assert len(cases) >= 2
    for i, case in enumerate(cases):
        data = copy.deepcopy(template)
        _set(data, keys, case[0])
        with pytest.raises(SweepError) as info:
            space_from_spec(data, "s.yaml")
        check_rejected_message(str(info.value), "s.yaml", path, case)
        f = tmp_path / f"spec-{i}.yaml"  # read from a file, the file name comes first
        f.write_text(yaml.safe_dump(data))
        with pytest.raises(SweepError) as info:
            read_spec(f)
        check_rejected_message(str(info.value), str(f), path, case)


# --- units and docs -----------------------------------------------------------------------------------------
def _classes(cls, seen=None):
    """Every config class reachable from ``cls`` (nested, in lists, in mappings, optional)."""
    seen = seen if seen is not None else []
    if cls in seen:
        return seen
    seen.append(cls)
    for tp in typing.get_type_hints(cls).values():
        for t in (tp, *typing.get_args(tp), *(a for x in typing.get_args(tp) for a in typing.get_args(x))):
            if dataclasses.is_dataclass(t):
                _classes(t, seen)
    return seen


SCHEMA_ROOTS = [*OPS.values(), RecipeFields, TechFile, DerivedTechFile, SpecFields,
                *(registry.family(f).config_cls for f in FAMILIES)]


def _numeric(tp) -> bool:
    """A number, or a list / tuple / mapping / optional of numbers (the bounds apply to each)."""
    if tp in (int, float):
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_numeric(a) for a in args if a is not type(None))
    if origin in (list, tuple):
        return bool(args) and _numeric(args[0])
    if origin is dict:
        return _numeric(args[1])
    return False


def test_every_numeric_parameter_has_an_upper_bound():
    """Every number of every schema is bounded above (le / lt) and below; the generated tests above check
    that the value over the bound and 10**30 are rejected with the template."""
    unbounded = []
    for root in SCHEMA_ROOTS:
        for cls in _classes(root):
            hints = typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                if not _numeric(hints[f.name]) or f.metadata.get("choices"):
                    continue
                m = f.metadata
                if (m.get("le") is None and m.get("lt") is None) or (m.get("ge") is None and m.get("gt") is None):
                    unbounded.append(f"{cls.__name__}.{f.name}")
    assert not unbounded, unbounded


def test_every_declared_parameter_has_a_unit_or_doc():
    missing = []
    for root in SCHEMA_ROOTS:
        for cls in _classes(root):
            hints = typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                if dataclasses.is_dataclass(hints[f.name]):
                    continue  # a section: its own fields are checked
                if not (f.metadata.get("unit") or f.metadata.get("doc")):
                    missing.append(f"{cls.__name__}.{f.name}")
    assert not missing, missing
