"""``accelsim compress``: apply a recipe to a workload and report what is stored, per layer and in total.

Ratios (one meaning per name, :func:`accelsim.compress.recipe.summarize`): ``storage_ratio`` is Deep
Compression's (dense fp32 bits / stored bits), ``nnz_ratio`` ShrinkBench's (weights / non-zero
weights); ``theoretical_speedup`` counts pruned weights only, ``rounded_zeros`` the weights that
quantization or sharing rounded to zero. The JSON ``total`` also holds the deprecated aliases
``compression_ratio`` (= ``storage_ratio``) and ``shrinkbench_ratio`` (= ``nnz_ratio``).

:func:`report_rows`, :func:`to_json` and :func:`to_table` render a
:class:`~accelsim.compress.compressed.CompressedGraph`; :func:`add_cli` registers the command.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from accelsim.cli.output import write

if TYPE_CHECKING:  # annotations only: importing it loads the Numba kernels, too slow for ``accelsim --help``
    from accelsim.compress.compressed import CompressedGraph


def report_rows(cg: CompressedGraph) -> list[dict[str, Any]]:
    """One plain dict per layer with weights (and any layer a recipe changed)."""
    rows = []
    for cl in cg:
        s = cl.stats
        if "bits" not in s:
            continue
        b = s["bits"]
        rows.append({
            "name": cl.name,
            "op": cl.layer.op,
            "params": s["params"],
            "nnz": s["nnz"],
            "density": s["density"],
            "format": s["format"],
            "payload_bits": b["payload"],
            "index_bits": b["index"],
            "pointer_bits": b["pointer"],
            "codebook_bits": b["codebook"],
            "metadata_bits": b["metadata"],
            "total_bits": b["total"],
            "storage_ratio": s["storage_ratio"],
            "nnz_ratio": s["nnz_ratio"],
            "rounded_zeros": s["rounded_zeros"],
            "theoretical_speedup": s["theoretical_speedup"],
            "mse": s["mse"],
            "sqnr_db": s["sqnr_db"],
            "quant_mse": s["quant_mse"],
            "quant_sqnr_db": s["quant_sqnr_db"],
            "weight_bits": cl.weight_bits,
            "activation_bits": cl.activation_bits,
            "transforms": list(cl.transforms),
        })
    return rows


def uncompressed_tables(cg: CompressedGraph) -> dict[str, int]:
    """Embedding tables the recipe left as they are (a recipe compresses layers with weight matrices; a lookup
    table is not one): layer -> weights."""
    return {layer.name: int(layer.params) for layer in cg.graph.layers if layer.op == "embedding" and layer.params}


def _clean(value: Any) -> Any:
    """JSON-safe: infinities become strings, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else None)
    return value


#: why a figure of the report is undefined when its computation gives an infinity (reported as null / n/a)
_UNDEFINED = {
    "theoretical_speedup": "no MAC is left after pruning (every weight is zero), so dense MACs / MACs after pruning "
                           "has no value",
    "sqnr_db": "the weights before compression are all zero or the compressed weights equal them exactly, so the "
               "signal-to-noise ratio has no finite value",
    "quant_sqnr_db": "the weights before quantization are all zero or quantization left them exactly, so the "
                     "signal-to-noise ratio has no finite value",
}


def _undefined(rows: list[dict[str, Any]], total: dict[str, Any]) -> tuple[list[dict], dict, dict[str, str]]:
    """The report's rows and totals with every infinite figure replaced by None, and one note per figure
    naming the layers it is undefined for and why (never ``inf`` in a report)."""
    where: dict[str, list[str]] = {}

    def clean(row: dict[str, Any], label: str) -> dict[str, Any]:
        out = dict(row)
        for key in _UNDEFINED:
            value = out.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
                where.setdefault(key, []).append(label)
        return out

    rows = [clean(r, r["name"]) for r in rows]
    total = clean(total, "the network total")
    notes = {}
    for key, names in where.items():
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        notes[key] = f"{key} is n/a (null) for {shown}: {_UNDEFINED[key]}"
    return rows, total, notes


def to_json(cg: CompressedGraph, provenance: dict | None = None, workload_notes: list[str] | None = None) -> str:
    """The report as JSON; ``provenance`` (:func:`accelsim.report.provenance.provenance`), when given,
    is added with the accelsim version; ``workload_notes``: what the importer dropped or approximated (as
    ``simulate``'s ``workload_notes``)."""
    from accelsim._version import __version__

    rows, total, notes = _undefined(report_rows(cg), cg.stats)
    out = {"accelsim_version": __version__, "workload": cg.graph.name, "recipe": cg.recipe, "layers": rows,
           "total": total, "uncompressed_tables": uncompressed_tables(cg)}
    if notes:
        out["notes"] = list(notes.values())
    if workload_notes:
        out["workload_notes"] = list(workload_notes)
    if provenance:
        out["provenance"] = provenance
    return json.dumps(_clean(out), indent=2)


def to_table(cg: CompressedGraph, workload_notes: list[str] | None = None) -> str:
    from accelsim.report.export import format_table

    rows, t, notes = _undefined(report_rows(cg), cg.stats)
    for r in rows:
        r["transforms"] = ", ".join(r["transforms"])
        if r["theoretical_speedup"] is None:
            r["theoretical_speedup"] = "n/a"
    cols = ["name", "params", "nnz", "density", "format", "payload_bits", "index_bits", "pointer_bits",
            "codebook_bits", "metadata_bits", "storage_ratio", "nnz_ratio", "rounded_zeros", "theoretical_speedup",
            "quant_sqnr_db", "transforms"]
    b = t["bits"]
    speedup = "n/a" if t["theoretical_speedup"] is None else f"{t['theoretical_speedup']:.4g}x"
    text = format_table(rows, cols)
    text += (f"\n\n{t['workload']} / {t['recipe']}: {t['params']:,} weights -> {t['nnz']:,} non-zero "
             f"({t['density']:.4g}); stored {b['total']:,} bits ({t['compressed_bytes'] / 1e6:.4g} MB) = "
             f"payload {b['payload']:,} + index {b['index']:,} + pointer {b['pointer']:,} + codebook {b['codebook']:,} "
             f"+ metadata {b['metadata']:,}; dense fp32 {t['dense_bytes'] / 1e6:.4g} MB; "
             f"storage ratio {t['storage_ratio']:.4g}x (Deep Compression: dense fp32 bits / stored bits); "
             f"nnz ratio {t['nnz_ratio']:.4g}x (ShrinkBench: weights / non-zero weights); "
             f"theoretical speedup {speedup} (dense MACs / MACs after pruning; "
             f"{t['rounded_zeros']:,} weights rounded to zero by quantization or sharing are not counted as pruned)")
    tables = uncompressed_tables(cg)
    if tables:  # not in the totals above: a recipe compresses weight matrices, not lookup tables
        text += (f"\nnot compressed, not in the totals: {len(tables)} embedding table(s), "
                 f"{sum(tables.values()):,} weights ({', '.join(list(tables)[:3])}{', ...' if len(tables) > 3 else ''})")
    text += "".join(f"\nnote: {n}" for key, n in notes.items() if key in cols)  # (the figures the table shows)
    if workload_notes:  # what the importer dropped or approximated, as simulate prints them
        text += "\n\nworkload import notes:" + "".join(f"\n[i{i}] {n}" for i, n in enumerate(workload_notes, 1))
    return text


def cmd_compress(args) -> int:
    from accelsim.cli.core import _workload, check_seed
    from accelsim.compress.recipe import compress, load_recipe
    from accelsim.workload.zoo import load_workload

    check_seed(args.seed)
    recipe = load_recipe(args.recipe)
    graph = load_workload(_workload(args))  # (--weights: the checkpoint's values, read lazily; --strict)
    cg = compress(graph, recipe, seed=args.seed)
    if args.format == "json":
        import shlex

        from accelsim.report.provenance import provenance

        command = shlex.join(["accelsim", *args.argv]) if getattr(args, "argv", None) is not None else None
        prov = provenance({}, None, graph, cg.recipe, (cg.recipe or {}).get("path"), args.seed, command=command)
        write(to_json(cg, prov, graph.metadata.get("notes")), args.out)
    else:
        write(to_table(cg, graph.metadata.get("notes")), args.out)
    return 0


def add_cli(sub) -> None:
    from accelsim.cli.core import _add_strict, _add_weights

    p = sub.add_parser("compress", help="apply a compression recipe and report stored bits per layer")
    p.add_argument("--workload", required=True, help="zoo name or path (.yaml, .csv, .onnx, .json Hugging Face config "
                                                         "or a folder holding config.json)")
    _add_weights(p)
    _add_strict(p)
    p.add_argument("--recipe", required=True, help="bundled recipe name or .yaml path")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--seed", type=int, default=0, help="seed for synthesized weights and random steps")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(out_file=True)  # checked before the command runs (cli.output.check_writable)
    p.set_defaults(func=cmd_compress)
