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


def _workload(args):
    """``--workload`` as given, or its graph loaded once when a flag shapes the import: ``--strict``, the
    phase flags of a Hugging Face config, ``--calibrate INPUTS`` (accelsim.workload.calibrate)."""
    calibrate, weights = getattr(args, "calibrate", None), getattr(args, "weights", None)
    if weights is not None and not str(weights).strip():
        from accelsim.errors import WorkloadError

        raise WorkloadError("--weights: expected a .safetensors file or a folder of shards; got an empty path")
    kwargs = {**_phase_kwargs(args), **({} if weights else _strict_kwargs(args)), **_input_shapes_kwargs(args)}
    if not kwargs and not calibrate and not weights:
        return args.workload
    from accelsim.workload.zoo import load_workload

    if calibrate:
        _onnx_only(args, "--calibrate runs an ONNX model with onnxruntime")
    if weights:
        from accelsim.errors import WorkloadError
        from accelsim.workload.hf import is_hf_source

        if not is_hf_source(args.workload):
            raise WorkloadError(f"--weights applies to Hugging Face configs; --workload {args.workload} is not one")
    graph = load_workload(args.workload, **kwargs)
    if calibrate:
        from accelsim.workload.calibrate import calibrate_onnx

        graph = calibrate_onnx(graph, args.workload, args.calibrate)
    if weights:  # a safetensors file or folder, read lazily; GPTQ / AWQ layers kept packed (accelsim.workload.weights)
        from accelsim.workload.weights import load_checkpoint

        graph = load_checkpoint(graph, weights, strict=bool(getattr(args, "strict", False)))
    return graph


def _add_weights(p) -> None:
    p.add_argument("--weights", metavar="PATH", help="Hugging Face config: real weights from a .safetensors file or a "
                   "folder of shards, read lazily; GPTQ / AWQ / compressed-tensors layers kept in their packed format")


def cmd_stats(args) -> int:
    from accelsim.report.export import format_table
    from accelsim.workload.zoo import load_workload

    if getattr(args, "phase", None) == "generate" or any(getattr(args, f, None) is not None
                                                          for f in ("generate", "decode_points")):
        from accelsim.errors import WorkloadError

        raise WorkloadError("stats shows one step's layers: use --phase prefill or decode (generate is for simulate)")
    graph = load_workload(_workload(args))
    rows = graph.stats()
    notes = list(graph.metadata.get("notes") or ())  # what the importer dropped or approximated
    total = {"params": graph.total_params, "macs": graph.total_macs, "layers": len(rows)}
    hf = graph.metadata.get("hf")  # a Hugging Face config: the model's counts (a step's graph holds only routed experts)
    if hf:
        total.update(model_params=hf["params"]["total"], active_params=hf["params"]["active"])
    if args.format == "json":
        out = {"workload": graph.name, "layers": rows, "total": total, "notes": notes}
        if hf:
            out["hf"] = hf
        write(json.dumps(out, indent=2), args.out)
    elif args.format == "csv":
        import pandas as pd

        flat = [{**r, "input_shape": ";".join("x".join(map(str, s)) for s in r["input_shape"]),
                 "output_shape": "x".join(map(str, r["output_shape"]))} for r in rows]
        write(pd.DataFrame(flat, dtype=object).to_csv(index=False), args.out)  # (object: ints stay ints beside empty cells)
    else:
        cols = ["name", "op", "input_shape", "output_shape", "gemm_m", "gemm_n", "gemm_k", "gemm_groups",
                "macs", "params", "activation_density"]
        table_rows = [{**r, "input_shape": " ".join("x".join(map(str, s)) for s in r["input_shape"])} for r in rows]
        text = format_table(table_rows, cols)
        text += f"\n\n{graph.name}: {len(rows)} layers, {graph.total_params:,} params, {graph.total_macs:,} MACs"
        if hf:
            text += (f"\nmodel: {hf['params']['total']:,} params, {hf['params']['active']:,} active per token "
                     f"({hf['phase']}, {hf['new_tokens']} new token(s), KV length {hf['kv_length']})")
        text += "".join(f"\nnote: {n}" for n in notes)
        write(text, args.out)
    return 0


def _strict_kwargs(args) -> dict:
    """``strict=True`` for ``--strict`` (ONNX: an op with no accelsim layer type is an error, not a generic layer;
    with ``--weights``, :func:`_workload` passes it to the checkpoint instead: a layer it lacks is an error)."""
    if not getattr(args, "strict", False):
        return {}
    _onnx_only(args, "--strict applies to ONNX workloads and to --weights checkpoints")
    return {"strict": True}


def _onnx_only(args, what: str) -> None:
    """Refuse a flag that only an ONNX ``--workload`` takes (one line: ``what``; the workload given)."""
    from pathlib import Path

    from accelsim.errors import WorkloadError

    if Path(str(args.workload)).suffix.lower() != ".onnx":
        raise WorkloadError(f"{what}; --workload {args.workload} is not a .onnx file")


def _add_strict(p) -> None:
    p.add_argument("--strict", action="store_true",
                   help="ONNX: refuse ops that have no accelsim layer type instead of importing them as generic "
                        "(traffic-only) layers; --weights: refuse a checkpoint that lacks a weighted layer's tensors "
                        "instead of leaving those layers without weights (noted)")
    p.add_argument("--input-shape", action="append", default=[], dest="input_shape", metavar="NAME=D1xD2...",
                   type=_input_shape_arg, help="ONNX: the shape of graph input NAME without the batch, for inputs with "
                   "symbolic dimensions (a sequence length), e.g. input_ids=128; repeatable")


def _input_shape_arg(text: str) -> tuple[str, tuple[int, ...]]:
    """argparse type of ``--input-shape NAME=D1xD2...``: (input name, shape without the batch)."""
    import argparse

    name, sep, dims = text.rpartition("=")
    parts = [d.strip() for d in dims.lower().split("x")]
    if not sep or not name or not all(d.isascii() and d.isdigit() and 1 <= int(d) <= 2**31 - 1 for d in parts):
        raise argparse.ArgumentTypeError(f"expected NAME=D1xD2... (the input's shape without the batch, sizes 1 .. "
                                         f"2^31 - 1); got {text!r}")
    return name, tuple(int(d) for d in parts)


def _input_shapes_kwargs(args) -> dict:
    """``input_shapes`` for ``--input-shape`` (ONNX only; an input named twice is refused)."""
    given = getattr(args, "input_shape", None) or []
    if not given:
        return {}
    _onnx_only(args, "--input-shape applies to ONNX workloads")
    names = [name for name, _ in given]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        from accelsim.errors import WorkloadError

        raise WorkloadError(f"--input-shape names input '{twice[0]}' more than once")
    return {"input_shapes": dict(given)}


def _phase_kwargs(args) -> dict:
    """The phase flags of a Hugging Face config (``accelsim.workload.hf``), those given."""
    keys = ("phase", "prompt", "context", "attention", "routing", "kv_bits")
    out = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if out.get("phase") == "generate":  # one prefill of --prompt tokens: the graph --workload loads (stats)
        out["phase"] = "prefill"
    return out


def _add_phase(p) -> None:
    """Flags of a Hugging Face config workload (``docs/workloads.md``, section "Hugging Face configs")."""
    p.add_argument("--phase", choices=["prefill", "decode", "generate"],
                   help="Hugging Face config: prefill (default), decode, or generate (simulate: one prefill of "
                        "--prompt tokens + --generate decode steps)")
    p.add_argument("--generate", type=int, help="Hugging Face config, --phase generate: decode steps after the "
                   "prefill (default 128)")
    p.add_argument("--decode-points", type=int, dest="decode_points", help="--phase generate: decode steps simulated "
                   "(midpoint rule over that many runs; default 8; 0 = every step, the exact sum)")
    p.add_argument("--prompt", type=int, help="Hugging Face config: tokens processed in prefill (default 128)")
    p.add_argument("--context", type=int, help="Hugging Face config: KV length of a decode step (default 2048, or the model's max_position_embeddings where smaller)")
    p.add_argument("--attention", choices=["unfused", "fused"], help="Hugging Face config: attention as matmul + "
                   "softmax + matmul (default) or one fused attention layer")
    p.add_argument("--routing", help="Hugging Face MoE config: expert load, uniform (default), zipf[:S] (exponent S, default 1) or a counts file")
    p.add_argument("--kv-bits", type=int, dest="kv_bits", help="Hugging Face decoder: bits per cached K/V element (16)")


def _add_calibrate(p) -> None:
    p.add_argument("--calibrate", metavar="INPUTS",
                   help="measure each layer's input activation density by running the .onnx --workload on these "
                        "inputs (.npy, or .npz by input name; batch first) with onnxruntime, instead of assuming 1.0")


def cmd_simulate(args) -> int:
    from accelsim.allocator import tune_allocator
    from accelsim.report.export import result_table, to_csv, to_json
    from accelsim.simulate import simulate

    tune_allocator()  # this process is ours: keep freed model buffers (same results; ACCELSIM_MALLOC_TUNE=0 to skip)
    import shlex

    command = shlex.join(["accelsim", *args.argv]) if getattr(args, "argv", None) is not None else None
    check_seed(args.seed)
    for flag in ("generate", "decode_points"):
        if getattr(args, flag, None) is not None and getattr(args, "phase", None) != "generate":
            from accelsim.errors import WorkloadError

            given_phase = f"got --phase {args.phase}" if getattr(args, "phase", None) else "no --phase given"
            raise WorkloadError(f"--{flag.replace('_', '-')} {getattr(args, flag)} needs --phase generate (a Hugging Face "
                                f"decoder config); {given_phase}")
    import warnings

    with warnings.catch_warnings(record=True) as loading:  # the workload's warnings also go into the result
        warnings.simplefilter("always")
        workload = _workload(args)  # refuses generic ops under --strict before anything is simulated
        if isinstance(workload, str) and getattr(args, "phase", None) != "generate":
            from accelsim.workload.zoo import load_workload

            workload = load_workload(workload)  # loaded once, here: simulate takes the graph, the notes are printed below
    if args.format != "table":  # one line on stderr; the table lists the result's warnings itself
        for w in loading:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    batch = args.batch
    if not isinstance(workload, str):  # a Hugging Face step: a folded batch=B, or a mixture of experts built at B
        from accelsim.workload.hf import step_batch

        batch, reported, rebuild = step_batch(workload, args.batch, f"--batch {args.batch}")
        if rebuild:  # its experts routed for the whole batch's tokens; simulated once
            from accelsim.workload.zoo import load_workload

            workload = load_workload(args.workload, **_phase_kwargs(args), batch=args.batch)
        args.batch = reported  # the figures per sequence and the serving figures count the sequences the graph holds
    from accelsim.cli.feedback import Heartbeat, announce_compiles

    if args.set:  # a DRAM bandwidth knob (dram.bandwidth_gbps / dram.bandwidth) becomes the per-stream keys
        from accelsim.dse.knobs import expand_cli_sets

        args.set = expand_cli_sets(args.arch, args.set)
    stop_announcing = announce_compiles()  # a cold Numba cache: one line when the first kernel compiles
    try:
        with Heartbeat(f"simulating {args.workload} on {args.arch}"):  # elapsed time on stderr while it runs
            if getattr(args, "phase", None) == "generate":
                result = _simulate_generate(args, command)
            else:
                result = simulate(args.arch, workload, recipe=args.recipe, batch=batch, overrides=args.set,
                                  seed=args.seed, baseline=args.baseline, baseline_workload=args.baseline_workload,
                                  command=command)
    finally:
        stop_announcing()
    said = [str(w.message) for w in loading]
    result.warnings[:0] = [w for w in dict.fromkeys(said) if w not in result.warnings]
    hf = {} if isinstance(workload, str) else (workload.metadata.get("hf") or {})
    if hf and "serving" not in result.extra:  # one step of a Hugging Face config: ttft / tpot / tokens per s
        from accelsim.dse.serving import step_serving

        result.extra["serving"] = step_serving(hf, result.total["latency_s"], args.batch)
    if hf and "kv_cache" in hf and "memory" not in result.extra:  # does the step fit the device (as simulate_phase)
        _attach_memory(args, workload, hf, result)
    if args.format == "json":
        write(to_json(result), args.out)
    elif args.format == "csv":
        write(to_csv(result), args.out)
        for text in result.all_warnings():  # (a CSV has no place for them: on stderr, the loader's said already)
            if text not in said:
                warnings.warn(text, UserWarning, stacklevel=1)
    else:
        text = result_table(result, layers=args.layers)
        serving = result.extra.get("serving")
        if serving and "generate" in serving:  # --phase generate: the serving figures (also in the JSON), on top
            tpot = "no decode step" if serving["tpot_s"] is None else f"{serving['tpot_s'] * 1e3:.4g} ms"
            head, _, rest = text.partition("\n")
            text = (f"{head}\ngenerate {serving['prompt']} + {serving['generate']} tokens, batch {serving['batch']} "
                    f"({serving['quadrature']}): ttft {serving['ttft_s'] * 1e3:.4g} ms, tpot {tpot}, "
                    f"{serving['tokens_per_s']:.4g} tokens/s (the totals below: the whole generation)\n{rest}")
        notes = [] if isinstance(workload, str) else list(workload.metadata.get("notes") or ())
        if notes:  # what the importer dropped or approximated, as footnotes
            text += "\n\nworkload import notes:" + "".join(f"\n[i{i}] {n}" for i, n in enumerate(notes, 1))
        write(text, args.out)
    return 0


def _attach_memory(args, graph, hf, result) -> None:
    """A Hugging Face decoder step on a device with a memory capacity: its weights + KV cache and whether they fit
    (:func:`accelsim.dse.serving.attach_memory`: ``extra["memory"]``, a warning when they do not)."""
    from accelsim.dse.serving import attach_memory, capacity_of
    from accelsim.hw.registry import load_arch

    config = load_arch(args.arch, args.set)
    if not capacity_of(config):
        return
    if args.recipe is None:
        from accelsim.compress.compressed import CompressedGraph

        cgraph = CompressedGraph.dense(graph)
    else:
        from accelsim.simulate import compress_workload

        cgraph = compress_workload(graph, args.recipe, seed=args.seed)
    from accelsim.workload.zoo import split_params

    attach_memory(result, cgraph, split_params(args.workload)[0], hf, args.batch, config)


def _simulate_generate(args, command):
    """``--phase generate``: :func:`accelsim.dse.serving.simulate_generate` (one prefill + decode steps)."""
    from accelsim.dse.serving import simulate_generate
    from accelsim.errors import WorkloadError

    for flag in ("baseline", "baseline_workload", "calibrate", "strict", "weights"):
        if getattr(args, flag, None):
            raise WorkloadError(f"--{flag.replace('_', '-')} does not apply to --phase generate")
    kw = {k: v for k, v in _phase_kwargs(args).items() if k in ("attention", "routing", "kv_bits")}
    if args.context is not None:
        raise WorkloadError("--context does not apply to --phase generate (the cache grows from --prompt)")
    points = getattr(args, "decode_points", None)
    if points is not None and points < 0:
        raise WorkloadError(f"--decode-points must be >= 0 (0: every decode step); got {points}")
    import warnings

    with warnings.catch_warnings(record=True) as said:  # (as the workload's: the table lists them, else stderr)
        warnings.simplefilter("always")
        sizes = {k: v for k, v in (("prompt", args.prompt), ("generate", args.generate)) if v is not None}
        result = simulate_generate(args.arch, args.workload, **sizes, batch=args.batch,
                                   recipe=args.recipe, overrides=args.set, seed=args.seed, command=command,
                                   points=8 if points is None else (points or None), **kw)
    if args.format != "table":
        for w in said:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    result.warnings.extend(m for m in dict.fromkeys(str(w.message) for w in said) if m not in result.warnings)
    return result


def check_seed(seed: int) -> None:
    """``--seed`` of a command: refused below 0 or above 2^32 - 1 (:data:`accelsim.config.MAX_SEED`, a recipe's
    limit) whether or not a random step reads it (one line, exit 2)."""
    from accelsim.config import check_seed as check

    check(seed, "--seed: seed")


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
    p.add_argument("--workload", required=True, help="zoo name or path (.yaml, .csv, .onnx, .json Hugging Face config "
                                                         "or a folder holding config.json)")
    _add_calibrate(p)
    _add_weights(p)
    _add_strict(p)
    _add_phase(p)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(out_file=True)  # checked before the command runs (cli.output.check_writable)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("simulate", help="simulate a (compressed) workload on a hardware config")
    p.add_argument("--arch", required=True, help="bundled name or path (.yaml, SCALE-Sim .cfg)")
    p.add_argument("--workload", required=True, help="zoo name or path (.yaml, .csv, .onnx, .json Hugging Face config "
                                                         "or a folder holding config.json)")
    _add_calibrate(p)
    _add_weights(p)
    _add_strict(p)
    _add_phase(p)
    p.add_argument("--recipe", help="compression recipe: bundled name or .yaml path")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="seed for synthesized weights and activations")
    # (a key as a sweep spec writes it, arch.array.rows=64, loses its arch. prefix where the overrides are read,
    # accelsim.hw.registry.override_items, once: arch.arch.array.rows is no field)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted config override, e.g. array.rows=64 (or arch.array.rows=64, as in a sweep spec)")
    p.add_argument("--baseline", metavar="RECIPE",
                   help="recipe of the reference run for speedup_vs_dense / energy_saving_vs_dense (default: the "
                        "uncompressed workload at the hardware's native data type)")
    p.add_argument("--baseline-workload", metavar="WORKLOAD",
                   help="workload of the reference run (e.g. the unpruned model of an already pruned --workload)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--layers", type=_layers_arg, default="top:10", metavar="all|compute|top:N",
                   help="table format: which layers to list (default top:10, the 10 slowest); "
                        "json and csv always hold every layer")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(out_file=True)  # checked before the command runs (cli.output.check_writable)
    p.set_defaults(func=cmd_simulate)
