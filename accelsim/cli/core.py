"""``accelsim list``, ``accelsim stats`` and ``accelsim simulate``: the commands over the core pipeline
(``accelsim show`` is in :mod:`accelsim.cli.show`)."""

from __future__ import annotations

import json

from accelsim.cli.output import write


def list_entries(what: str) -> list[dict]:
    """The bundled ``archs`` (name, family, path), ``workloads`` (name, path) or ``recipes`` (name,
    description, path), each read as raw YAML: nothing is validated or built, so listing stays light."""
    from accelsim.config import read_yaml_file

    if what == "archs":
        from accelsim.hw.registry import arch_names, arch_path

        out = []
        for name in arch_names():
            path = arch_path(name)
            data = read_yaml_file(path)
            out.append({"name": name, "family": data.get("family") if isinstance(data, dict) else None, "path": str(path)})
        return out
    if what == "workloads":
        from accelsim.workload.zoo import zoo_names, zoo_path

        return [{"name": name, "path": str(zoo_path(name))} for name in zoo_names()]
    from accelsim.paths import RECIPE_DIR, bundled

    out = []
    for name, path in sorted(bundled(RECIPE_DIR).items()):
        data = read_yaml_file(path)
        description = data.get("description", "") if isinstance(data, dict) else ""
        out.append({"name": name, "description": str(description or "").strip(), "path": str(path)})
    return out


def cmd_list(args) -> int:
    if args.format == "json":
        write(json.dumps(list_entries(args.what), indent=2), None)
        return 0
    if args.what == "archs":
        from accelsim.hw.registry import arch_names

        names = arch_names()
    elif args.what == "workloads":
        from accelsim.workload.zoo import zoo_names

        names = zoo_names()
    else:
        from accelsim.paths import RECIPE_DIR, bundled

        names = sorted(bundled(RECIPE_DIR))
    write("\n".join(names), None)
    return 0


def cmd_stats(args) -> int:
    from accelsim.report.export import format_table
    from accelsim.workload.zoo import load_workload

    graph = load_workload(args.workload)
    rows = graph.stats()
    total = {"params": graph.total_params, "macs": graph.total_macs, "layers": len(rows)}
    if args.format == "json":
        write(json.dumps({"workload": graph.name, "layers": rows, "total": total}, indent=2), args.out)
    elif args.format == "csv":
        import pandas as pd

        flat = [{**r, "input_shape": ";".join("x".join(map(str, s)) for s in r["input_shape"]),
                 "output_shape": "x".join(map(str, r["output_shape"]))} for r in rows]
        write(pd.DataFrame(flat).to_csv(index=False), args.out)
    else:
        cols = ["name", "op", "input_shape", "output_shape", "gemm_m", "gemm_n", "gemm_k", "gemm_groups",
                "macs", "params", "activation_density"]
        table_rows = [{**r, "input_shape": " ".join("x".join(map(str, s)) for s in r["input_shape"])} for r in rows]
        text = format_table(table_rows, cols)
        text += f"\n\n{graph.name}: {len(rows)} layers, {graph.total_params:,} params, {graph.total_macs:,} MACs"
        write(text, args.out)
    return 0


def cmd_simulate(args) -> int:
    from accelsim.allocator import tune_allocator
    from accelsim.report.export import result_table, to_csv, to_json
    from accelsim.simulate import simulate

    tune_allocator()  # this process is ours: keep freed model buffers (same results; ACCELSIM_MALLOC_TUNE=0 to skip)
    result = simulate(args.arch, args.workload, recipe=args.recipe, batch=args.batch, overrides=args.set, seed=args.seed)
    if args.format == "json":
        write(to_json(result), args.out)
    elif args.format == "csv":
        write(to_csv(result), args.out)
    else:
        write(result_table(result, layers=args.layers), args.out)
    return 0


def _layers_arg(text: str) -> str:
    """argparse type of ``--layers``: checked before anything is simulated (one-line error, exit 2)."""
    import argparse

    from accelsim.report.export import parse_layers

    try:
        parse_layers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_cli(sub) -> None:
    p = sub.add_parser("list", help="list bundled archs, workloads or recipes")
    p.add_argument("what", choices=["archs", "workloads", "recipes"])
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: objects with name and path (archs: family; recipes: description)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("stats", help="per-layer shapes, GEMM view, MACs and params of a workload")
    p.add_argument("--workload", required=True, help="zoo name or path (.yaml, .csv, .onnx)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("simulate", help="simulate a (compressed) workload on a hardware config")
    p.add_argument("--arch", required=True, help="bundled name or path (.yaml, SCALE-Sim .cfg)")
    p.add_argument("--workload", required=True, help="zoo name or path (.yaml, .csv, .onnx)")
    p.add_argument("--recipe", help="compression recipe: bundled name or .yaml path")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="seed for synthesized weights and activations")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="dotted config override")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--layers", type=_layers_arg, default="top:10", metavar="all|compute|top:N",
                   help="table format: which layers to list (default top:10, the 10 slowest); "
                        "json and csv always hold every layer")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_simulate)
