"""``accelsim accuracy``: the accuracy of a compressed ONNX model, next to the dense model's.

    accelsim accuracy examples/digits/models/cnn-s0.onnx --data examples/digits/models/test.npz \\
        --recipe magnitude-8 --metrics top1,top5 [--seed 0] [--param prune.density=0.25] [--format json]

The recipe is applied to the model as accelsim imports it; the effective weights (what the hardware
models simulate) are written into the ONNX model and run with onnxruntime (``docs/accuracy.md``).
Bad input - data whose shape does not match the model, labels missing, an unknown metric - is one
line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys


def _param(text: str) -> tuple[str, object]:
    from accelsim.errors import ConfigError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--param must be STEP.PARAM=VALUE (e.g. prune.density=0.25); got {text!r}")
    from accelsim.config import YamlRefused, parse_value

    try:
        return key, parse_value(value)  # as --set reads a value: 1e-3 is a number
    except YamlRefused as exc:
        raise ConfigError(f"--param {text!r}: {exc}") from None


def cmd_accuracy(args) -> int:
    from accelsim.accuracy import evaluate, evaluate_dense
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.compress.recipe import compress, with_params
    from accelsim.report.export import format_table
    from accelsim.workload.zoo import load_workload

    from accelsim.cli.core import check_seed

    check_seed(args.seed)
    if args.param and not args.recipe:
        from accelsim.errors import ConfigError

        raise ConfigError(f"--param {args.param[0]} sets a recipe step's parameter; give --recipe too")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    graph = load_workload(args.model)
    if args.recipe:
        recipe = with_params(args.recipe, dict(_param(p) for p in args.param or []), prefix="--param ")
        cg = compress(graph, recipe, seed=args.seed)
    else:
        cg = CompressedGraph.dense(graph)
    comp = evaluate(args.model, cg, args.data, graph=graph, metrics=metrics, batch_size=args.batch_size,
                    seq_len=args.seq_len)
    dense = evaluate_dense(args.model, args.data, metrics=metrics, batch_size=args.batch_size, seq_len=args.seq_len)
    rows = [{"metric": k, "dense": dense.get(k), "compressed": v} for k, v in comp.items()]
    if args.format == "json":
        sys.stdout.write(json.dumps({"model": args.model, "recipe": (cg.recipe or {}).get("name"),
                                     "seed": args.seed, "dense": dense, "compressed": comp}, indent=2) + "\n")
    else:
        sys.stdout.write(format_table(rows, ["metric", "dense", "compressed"]) + "\n")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("accuracy", help="accuracy of a compressed ONNX model (onnxruntime) next to the dense model's")
    p.add_argument("model", help=".onnx model (imported as the workload, run with onnxruntime)")
    p.add_argument("--data", required=True, help=".npz with x (inputs) and y (labels), or a token file with --seq-len")
    p.add_argument("--recipe", help="compression recipe: bundled name, .yaml path (default: none, the dense model)")
    p.add_argument("--param", action="append", metavar="STEP.PARAM=VALUE", help="set a recipe step parameter (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="compression seed (random pruning, k-means init)")
    p.add_argument("--metrics", default="top1", help="comma-separated: top1, top5, perplexity, kl (default top1)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seq-len", type=int, help="tokens per sequence (token files)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_accuracy)
