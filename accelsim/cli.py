"""Command-line interface: a thin shell over the API.

Every :class:`~accelsim.errors.AccelsimError` (and every argument error) becomes one line on stderr
and exit status 2; no traceback reaches a user for bad input. Subcommands owned by other packages
(``compress``, ``validate``, ``sweep``, ``plot``, ``report``) register themselves through an
``add_cli(subparsers)`` function in their module (see ``_PLUGINS``), so each area keeps its own
command code next to its implementation.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Sequence

from accelsim._version import __version__
from accelsim.errors import AccelsimError

# modules providing add_cli(subparsers) for further subcommands
_PLUGINS = ("accelsim.compress.cli", "accelsim.validate", "accelsim.dse.cli")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _write(text: str, out: str | None) -> None:
    if out:
        try:
            with open(out, "w") as fh:
                fh.write(text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            raise AccelsimError(f"{out}: cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def cmd_list(args) -> int:
    if args.what == "archs":
        from accelsim.hw.registry import arch_names

        names = arch_names()
    elif args.what == "workloads":
        from accelsim.workload.zoo import zoo_names

        names = zoo_names()
    else:
        from accelsim.paths import RECIPE_DIR, bundled

        names = sorted(bundled(RECIPE_DIR))
    _write("\n".join(names), None)
    return 0


def cmd_stats(args) -> int:
    from accelsim.report.export import format_table
    from accelsim.workload.zoo import load_workload

    graph = load_workload(args.workload)
    rows = graph.stats()
    total = {"params": graph.total_params, "macs": graph.total_macs, "layers": len(rows)}
    if args.format == "json":
        _write(json.dumps({"workload": graph.name, "layers": rows, "total": total}, indent=2), args.out)
    elif args.format == "csv":
        import pandas as pd

        flat = [{**r, "input_shape": ";".join("x".join(map(str, s)) for s in r["input_shape"]),
                 "output_shape": "x".join(map(str, r["output_shape"]))} for r in rows]
        _write(pd.DataFrame(flat).to_csv(index=False), args.out)
    else:
        cols = ["name", "op", "input_shape", "output_shape", "gemm_m", "gemm_n", "gemm_k", "gemm_groups",
                "macs", "params", "activation_density"]
        table_rows = [{**r, "input_shape": " ".join("x".join(map(str, s)) for s in r["input_shape"])} for r in rows]
        text = format_table(table_rows, cols)
        text += f"\n\n{graph.name}: {len(rows)} layers, {graph.total_params:,} params, {graph.total_macs:,} MACs"
        _write(text, args.out)
    return 0


def cmd_simulate(args) -> int:
    from accelsim.dse.executors import tune_allocator
    from accelsim.report.export import result_table, to_csv, to_json
    from accelsim.simulate import simulate

    tune_allocator()  # this process is ours: keep freed model buffers (same results; ACCELSIM_MALLOC_TUNE=0 to skip)
    result = simulate(args.arch, args.workload, recipe=args.recipe, batch=args.batch, overrides=args.set, seed=args.seed)
    if args.format == "json":
        _write(to_json(result), args.out)
    elif args.format == "csv":
        _write(to_csv(result), args.out)
    else:
        _write(result_table(result), args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="accelsim", description="What a compressed neural network really costs on real hardware.")
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("list", help="list bundled archs, workloads or recipes")
    p.add_argument("what", choices=["archs", "workloads", "recipes"])
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
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_simulate)

    for module_name in _PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.add_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse: --help, --version, usage errors (already one line)
            return exc.code if isinstance(exc.code, int) else 2
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except AccelsimError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"accelsim: error: {msg}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("accelsim: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not bad input: still one line unless debugging
        if os.environ.get("ACCELSIM_DEBUG"):
            raise
        sys.stderr.write(f"accelsim: internal error: {type(exc).__name__}: {exc} (set ACCELSIM_DEBUG=1 for details)\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
