"""``accelsim show arch|workload|recipe NAME``: what a name resolves to, and which keys it takes.

* ``arch``: the validated config after ``--set`` overrides (as ``simulate`` would run it), then every
  valid dotted key of its family's config class with type, default, range, unit and doc (from
  :func:`accelsim.config.declared`; the family is looked up in :mod:`accelsim.hw.registry`);
* ``recipe``: its fields and steps, each step with every parameter (defaults filled) and the declared
  parameters of the step (:data:`accelsim.compress.recipe.OPS`);
* ``workload``: the totals of ``accelsim stats`` (layers, params, MACs), the layer count per op and
  the graph inputs with their shapes.

One document, ``--format yaml`` (default) or ``json``. Everything heavy is imported inside the
command, so ``accelsim --help`` stays light.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from accelsim.cli.output import write


def _plain(value: Any) -> Any:
    """A value as YAML / JSON can hold it: dataclasses and tuples as mappings and lists, anything
    else that is not a plain scalar as its text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _type_text(tp: Any) -> str:
    """``int``, ``float | None``, ``tuple[int, int] | None``, ``int | 'auto' | None``: a declared type in words."""
    import types
    import typing

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return "None"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join('...' if a is Ellipsis else _type_text(a) for a in args)}]" if args else name
    return getattr(tp, "__name__", str(tp))


def _num(x: float) -> str:
    """A bound exactly: ``1073741824``, ``0.5``, ``1e+20``."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else repr(x)


def _range(meta: Mapping[str, Any]) -> str:
    """``[0, 1)``, ``>= 1``, ... from the ``ge``/``gt``/``le``/``lt`` bounds ("" when unbounded)."""
    lo, gt, hi, lt = meta.get("ge"), meta.get("gt"), meta.get("le"), meta.get("lt")
    low = f"[{_num(lo)}" if lo is not None else (f"({_num(gt)}" if gt is not None else "")
    high = f"{_num(hi)}]" if hi is not None else (f"{_num(lt)})" if lt is not None else "")
    if low and high:
        return f"{low}, {high}"
    if low:
        return (">= " if lo is not None else "> ") + low[1:]
    if high:
        return ("<= " if hi is not None else "< ") + high[:-1]
    return ""


def keys_of(cls: type) -> dict[str, dict[str, Any]]:
    """Dotted key -> ``{type, default | required, range, choices, unit, doc}`` (empty entries left out)
    for every leaf field of a config or step-parameter class."""
    from accelsim.config import declared

    out: dict[str, dict[str, Any]] = {}
    for path, tp, meta, default in declared(cls):
        entry: dict[str, Any] = {"type": _type_text(tp)}
        if default is dataclasses.MISSING:
            entry["required"] = True
        else:
            entry["default"] = _plain(default)
        if _range(meta):
            entry["range"] = _range(meta)
        if meta.get("choices"):
            entry["choices"] = _plain(meta["choices"])
        for key in ("unit", "doc"):
            if meta.get(key):
                entry[key] = meta[key]
        out[path] = entry
    return out


def show_arch(source: str, overrides: list[str]) -> dict[str, Any]:
    from accelsim.config import to_dict
    from accelsim.hw.registry import arch_path, family, load_arch

    config = load_arch(source, overrides)
    return {"arch": config.name, "family": config.family, "path": str(arch_path(source)),
            "overrides": list(overrides), "config": _plain(to_dict(config)),
            "keys": keys_of(family(config.family).config_cls)}


def show_recipe(source: str) -> dict[str, Any]:
    from accelsim.compress.recipe import OPS, load_recipe

    recipe = load_recipe(source)
    steps = [{"step": s.op, "params": _plain(dict(s.params)), "keys": keys_of(OPS[s.op])} for s in recipe.pipeline]
    return {"recipe": recipe.name, "path": recipe.path, "description": recipe.description, "source": recipe.source,
            "layers": list(recipe.layers), "skip": list(recipe.skip), "seed": recipe.seed, "steps": steps,
            "overrides": {pattern: _plain(parsed) for pattern, parsed in recipe.overrides}}


def show_workload(source: str) -> dict[str, Any]:
    from accelsim.workload.layers import Input
    from accelsim.workload.zoo import load_workload

    graph = load_workload(source)
    ops: dict[str, int] = {}
    for layer in graph.compute_layers():
        ops[layer.op] = ops.get(layer.op, 0) + 1
    inputs = {layer.name: list(layer.shape) for layer in graph.layers if isinstance(layer, Input)}
    return {"workload": graph.name, "path": str(graph.source or source), "layers": len(graph.compute_layers()),
            "params": graph.total_params, "macs": graph.total_macs, "ops": ops, "inputs": inputs}


def cmd_show(args) -> int:
    from accelsim.errors import AccelsimError

    if args.set and args.what != "arch":
        raise AccelsimError(f"--set applies to 'show arch' only; got it with 'show {args.what}'")
    if args.what == "arch":
        from accelsim.dse.knobs import expand_cli_sets

        doc = show_arch(args.name, expand_cli_sets(args.name, args.set))
    elif args.what == "recipe":
        doc = show_recipe(args.name)
    else:
        doc = show_workload(args.name)
    if args.format == "json":
        write(json.dumps(doc, indent=2), args.out)
    else:
        import yaml

        write(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120), args.out)
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("show", help="a resolved arch config, recipe or workload summary, and its valid keys")
    p.add_argument("what", choices=["arch", "workload", "recipe"])
    p.add_argument("name", help="bundled name or path (as simulate takes it)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="arch only: dotted config override, as for simulate")
    p.add_argument("--format", choices=["yaml", "json"], default="yaml")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(out_file=True)  # checked before the command runs (cli.output.check_writable)
    p.set_defaults(func=cmd_show)
