"""``accelsim sweep``, ``accelsim plot`` and ``accelsim report`` (registered by :mod:`accelsim.cli`).

``sweep SPEC.yaml --out DIR [--workers N | --scheduler tcp://HOST:PORT] [--resume] [--wait]`` runs a spec
into ``DIR/results.csv`` (see :mod:`accelsim.dse.store`); ``plot RESULTS --kind
roofline|breakdown|pareto|tradeoff --out FILE`` draws a figure from a results directory (or
``results.csv``, or a ``simulate --format json`` file for roofline/breakdown); ``report SPEC.yaml
--out DIR`` runs (or resumes) the sweep and writes ``DIR/report.md`` with figures and tables.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from accelsim.cli.output import write_error
from accelsim.errors import AccelsimError, SweepError

PLOT_KINDS = ("roofline", "breakdown", "pareto", "tradeoff", "shrinkbench")


def _executor(args) -> Any:
    timeout = getattr(args, "timeout", 10.0)
    if not 0 < timeout < float("inf"):  # (NaN fails both)
        raise SweepError(f"--timeout must be a positive number of seconds; got {timeout:g}")
    if args.workers is not None and args.scheduler is not None:
        raise SweepError("give either --workers or --scheduler, not both")
    if args.scheduler is not None:  # ("" is an address to refuse, not serial)
        import logging

        try:  # (configures its loggers on import: quieted after)
            import distributed  # noqa: F401
        except ImportError:
            pass  # (the sweep names the missing extra)
        # a lost scheduler or worker is reported in one line by the sweep (WorkerLost): Dask's client would log its
        # reconnection attempts, retries and tracebacks to stderr besides
        for name in ("distributed", "distributed.client"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        return args.scheduler
    if args.workers is not None:
        from accelsim.dse.executors import check_workers

        check_workers(args.workers, "--workers")
        return None if args.workers == 1 else args.workers
    return None


def _run_sweep(args):
    from accelsim.dse.space import read_spec
    from accelsim.dse.sweep import check_objectives, sweep
    from accelsim.dse.whatif import MAX_FRACTION

    what = getattr(args, "what_if", None)
    if what is not None and not 0 < what <= MAX_FRACTION:  # refused before any point runs (and writes)
        raise AccelsimError(f"--what-if must be a fraction in (0, {MAX_FRACTION}]; got {what!r}")
    spec = read_spec(args.spec)
    check_objectives(spec, args.spec)
    if not args.resume:  # a resumed table may hold the columns of an earlier run's evaluator
        from accelsim.dse.sweep import check_group_by

        given = getattr(args, "group_by", None)
        check_group_by(spec, _group_by(args, spec), "--group-by" if given is not None else f"{args.spec}: report.group_by")
    on_start = None
    if not args.quiet and spec.get("evaluate") is None and not getattr(args, "scheduler", None):
        from accelsim.cli.feedback import compile_notice

        # a cold Numba cache: the first points compile the kernels (not said for a Dask cluster, whose workers
        # compile in their own caches, which this machine's files do not tell)
        on_start = compile_notice
    try:
        df = sweep(args.spec, executor=_executor(args), store=args.out, resume=args.resume,
                   progress=not args.quiet, timeout=args.timeout, wait=args.wait,
                   allow_code=args.allow_code, on_start=on_start)
    except OSError as exc:  # the results folder is unwritable, or became full while the sweep ran
        if isinstance(exc, (ConnectionError, TimeoutError)):  # a network error, not the folder
            raise
        if exc.filename is not None and not _inside(exc.filename, args.out):  # a file a point reads, not the results
            from accelsim.errors import ConfigError

            raise ConfigError(f"{args.spec}: {str(exc.filename)[:80]}: {exc.strerror or exc}") from None
        raise write_error(exc, args.out) from None
    return spec, df


def _inside(name, folder) -> bool:
    """Whether the file ``name`` lies in ``folder`` (the sweep's results folder)."""
    try:
        return Path(os.path.abspath(name)).is_relative_to(Path(os.path.abspath(folder)))
    except (TypeError, ValueError):
        return False


def _summary(df, out: str) -> str:
    n = len(df)
    errors = int((df["status"] == "error").sum()) if "status" in df.columns and n else 0
    text = f"{n} points ({n - errors} ok, {errors} error) -> {Path(out) / 'results.csv'}"
    if n and "refetch_flag" in df.columns:  # DRAM-refetch outliers (accelsim.report.results.refetch_summary)
        flagged = df[df["refetch_flag"].map(lambda v: str(v).lower() == "true")]
        if len(flagged):
            shown = ", ".join(f"{r['id']} ({r.get('refetch_layer')} {float(r.get('refetch_layer_factor')):.0f}x, "
                              f"{100 * float(r.get('refetch_layer_latency_share')):.0f}% of the latency)"
                              for _, r in flagged.head(5).iterrows())
            more = f" and {len(flagged) - 5} more" if len(flagged) > 5 else ""
            text += (f"\nwarning: {len(flagged)} of {n} points are DRAM-refetch outliers (column refetch_flag: a layer "
                     f"reads an operand >10x from DRAM and takes >=25% of the latency; docs/models/systolic.md 3.6): "
                     f"{shown}{more}")
    return text


def _what_if(args, spec, df, report: Path | None = None) -> None:
    """``--what-if F``: re-run the points with each modelling constant at 1 -+ F (accelsim.dse.whatif) and
    print the conclusions that flip; ``DIR/whatif.md``, ``whatif.csv`` and ``whatif_runs.csv`` hold it all."""
    if args.what_if is None:
        return
    from accelsim.dse.whatif import what_if, write_whatif
    from accelsim.report.export import format_table

    result = what_if(spec, df, args.what_if, Path(args.out) / "whatif", executor=_executor(args),
                     group_by=_group_by(args, spec), progress=not args.quiet)
    path = write_whatif(result, args.out)
    sys.stdout.write("\n" + result.summary() + "\n")
    flips = result.flips
    if len(flips):
        cols = ["constant", "change", "group", "conclusion", "baseline", "perturbed"]
        sys.stdout.write(format_table(flips[cols].to_dict("records"), cols) + "\n")
    sys.stdout.write(f"wrote {path}\n")
    if report is not None:  # accelsim report: the what-if summary joins the report
        text = report.read_text().rstrip("\n")
        report.write_text(text + f"\n\n## What-if: modelling constants +-{result.fraction:.0%}\n\n"
                          f"{result.summary()} Details: [whatif.md](whatif.md).\n")


def cmd_sweep(args) -> int:
    spec, df = _run_sweep(args)
    sys.stdout.write(_summary(df, args.out) + "\n")
    objectives = spec.get("objectives")
    if objectives and len(df):
        from accelsim.dse.report import axis_columns
        from accelsim.report.export import format_table
        from accelsim.report.pareto import pareto_front

        from accelsim.report.pareto import by_group, group_columns

        gcols = group_columns(df, _group_by(args, spec))
        front = by_group(pareto_front(df, objectives, group_by=gcols), gcols)
        cols = ["id"] + gcols + [c for c in axis_columns(df, spec) if c in front.columns and c not in gcols] + \
            [c for c in objectives if c not in gcols]
        per = f" per {', '.join(gcols)}" if gcols else ""
        sys.stdout.write(f"\nPareto front{per} ({len(front)} of {len(df)} points):\n")
        shown = front[cols].astype(object).where(front[cols].notna(), "")  # axes of another family: blank
        sys.stdout.write(format_table(shown.to_dict("records"), cols) + "\n")
    _what_if(args, spec, df)
    return 0


def _group_by(args, spec: dict | None = None):
    """``--group-by`` (``auto``, ``none`` or comma-separated columns), else the spec's ``report.group_by``, else auto."""
    value = getattr(args, "group_by", None)
    if value is not None:
        if not [c for c in str(value).split(",") if c.strip()]:  # '' or ',' was taken as none, pooling the groups
            raise AccelsimError(f"--group-by: expected column names (comma-separated), auto or none; got {value!r}")
        return value
    report = (spec or {}).get("report") or {}
    if isinstance(report, dict) and report.get("group_by") is not None:
        return list(report["group_by"])
    return "auto"


def _load_for_plot(path: str, kind: str):
    """(points table or None, per-layer table or None) from a results dir / CSV / Parquet / simulate JSON."""
    from accelsim.dse.store import LAYERS, RESULTS, check_stored, load_layers, load_results

    p = Path(path)
    if not p.exists():
        raise AccelsimError(f"{p}: not found")
    if p.suffix.lower() == ".json":
        from accelsim.report.plots import layers_frame

        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AccelsimError(f"{p}: not a JSON result file ({exc})") from None
        results = data if isinstance(data, list) else [data]
        layers = layers_frame([_network_result(r, p) for r in results])
        if layers is None or len(layers) == 0:
            raise AccelsimError(f"{p}: the result holds no layers to draw")
        return None, layers
    directory = p if p.is_dir() else p.parent
    if (p.is_dir() or p.name == RESULTS) and (directory / RESULTS).exists():  # a sweep's own table
        check_stored(directory, layers=kind in ("roofline", "breakdown"))  # an edited or cut-off table: one line
    points = load_results(p)
    if points.empty or not len(points.columns):
        raise AccelsimError(f"{p}: the results table is empty (no sweep points to draw)")
    layers = None
    if kind in ("roofline", "breakdown"):
        if not (directory / LAYERS).exists():
            raise AccelsimError(f"{directory / LAYERS}: the {kind} plot needs per-layer results; add 'detail: true' to the "
                                f"spec and run the sweep again with --resume (only the points without them run)")
        layers = load_layers(directory)
    return points, layers


def _network_result(data: Any, path: Path):
    from accelsim.report.results import NetworkResult

    if not isinstance(data, dict) or "layers" not in data or "arch" not in data:
        raise AccelsimError(f"{path}: not an accelsim simulate result (expected 'arch' and 'layers')")
    try:  # baseline name, area, provenance, warnings and operand sizes come back too
        return NetworkResult.from_dict(data)
    except AccelsimError as exc:  # named with the file it came from
        raise AccelsimError(f"{path}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise AccelsimError(f"{path}: malformed layer result ({exc})") from None


def _columns_arg(text: str | None) -> list[str]:
    return [c.strip() for c in str(text or "").split(",") if c.strip()]


def _refuse(args, kind: str, flags: tuple[str, ...], why: str) -> None:
    """One line for a flag the plot kind does not take."""
    for flag in flags:
        if getattr(args, flag.lstrip("-").replace("-", "_"), None) not in (None, False, []):
            raise AccelsimError(f"plot --kind {kind}: {flag} does not apply ({why})")


def _panels(args):
    """``--facet`` (panels, each with its own front) else ``--group-by``, else the default (auto)."""
    facet = getattr(args, "facet", None)
    if facet:
        return _columns_arg(facet)
    return _group_by(args)


def _roofline_points(points, layers, wanted: str | None):
    """The per-layer rows of the points to draw: ``--point`` ids (comma-separated), else the fastest
    point of each arch name (and workload and batch, where they vary), each panel titled by its arch
    name, the axes that vary and its id."""
    from accelsim.dse.report import axis_columns, describe_point

    if "id" not in layers.columns:
        return layers, None, {}
    if wanted:
        ids = _columns_arg(wanted)
        missing = [i for i in ids if i not in set(layers["id"].astype(str))]
        if missing:
            raise AccelsimError(f"--point {', '.join(missing)}: not in the per-layer table (ids: "
                                f"{', '.join(list(dict.fromkeys(layers['id'].astype(str)))[:5])}, ...)")
    else:
        ok = points[points["status"] == "ok"] if points is not None and "status" in points.columns else points
        if ok is None or "latency_s" not in ok.columns or ok.empty:
            ids = list(dict.fromkeys(layers["id"].astype(str)))[:1]
        else:
            from accelsim.report.pareto import group_columns

            label = ["arch_name"] if "arch_name" in ok.columns else ["id"]
            label += [c for c in group_columns(ok, "auto") if c not in label]  # workload, batch where they vary
            ids = list(ok.sort_values("latency_s", kind="stable").drop_duplicates(label)["id"].astype(str))
    chosen = layers[layers["id"].astype(str).isin(ids)].copy()
    if points is None:
        return chosen, None, {}
    axes = axis_columns(points)
    chosen["_panel"] = [f"{describe_point(points, pid, axes)} [{pid}]" for pid in chosen["id"].astype(str)]
    return chosen, "_panel", {pid: peaks for pid in ids if (peaks := _point_peaks(points, pid))}


def _point_peaks(points, pid: str) -> list:
    """Every operand precision's peak of a point's configuration (its arch and ``arch.*`` columns,
    rebuilt: :func:`accelsim.report.plots.precision_peaks`); [] when it cannot be rebuilt."""
    import math

    from accelsim.dse.evaluate import config_for
    from accelsim.hw.registry import build_model
    from accelsim.report.plots import precision_peaks

    row = points[points["id"].astype(str) == pid]
    if row.empty or "arch" not in row.columns:
        return []
    row = row.iloc[0]
    arch = row["arch"]
    if isinstance(arch, str) and arch.startswith("{"):
        arch = json.loads(arch)
    overrides = {}
    for col, value in row.items():
        if str(col).startswith("arch.") and not (isinstance(value, float) and math.isnan(value)):
            overrides[str(col)[len("arch."):]] = value.item() if hasattr(value, "item") else value
    try:
        return precision_peaks(build_model(config_for(arch, overrides)).roof())
    except Exception:  # noqa: BLE001 - a figure without the extra roofs, never a failed plot
        return []


def _json_roofline(args) -> str:
    """A single simulate JSON: the layers under the model's own roofs, one per operand precision the
    run used (and its structured-sparse roof), from the arch config stored in the result."""
    from accelsim.cli.roofline import roofs_of
    from accelsim.hw.registry import build_model, load_arch
    from accelsim.report.layer_roofline import layer_roofline

    p = Path(args.results)
    data = json.loads(p.read_text())
    results = data if isinstance(data, list) else [data]
    if len(results) != 1:
        return ""
    result = _network_result(results[0], p)
    roof = build_model(load_arch(result.arch)).roof()
    if roof.dram_bytes_per_s is None:
        return ""
    name = result.arch.get("name", "arch") if isinstance(result.arch, dict) else str(result.arch)
    title = args.title or f"{result.workload} GEMM layers on {name}, batch {result.batch}"
    recipe = result.recipe.get("name") if isinstance(result.recipe, dict) else result.recipe
    label = str(recipe or f"dense ({roof.native_dtype})")
    _check_figure(args.out)
    return str(layer_roofline(args.out, roofs_of(roof, result), roof.dram_bytes_per_s, result, label, title=title))


def _check_figure(out: str) -> None:
    from accelsim.report.plots import check_out

    check_out(out)


#: the axes of a sweep figure when --x / --y are not given (the pareto and trade-off kinds)
_AXIS_DEFAULTS = {"pareto": ("latency_s", "energy_j"), "tradeoff": ("compression_ratio", "speedup_vs_dense")}


def cmd_plot(args) -> int:
    from accelsim.report import plots

    kind = args.kind
    is_json = Path(args.results).suffix.lower() == ".json"
    if is_json and kind not in ("roofline", "breakdown"):
        raise AccelsimError(f"{args.results}: one simulation result; the {kind} plot compares the points of a sweep "
                            f"(give its results directory or results.csv); a simulate JSON draws --kind roofline or "
                            f"breakdown")
    maximize = [c for m in args.maximize for c in _columns_arg(m)]
    if kind != "pareto":
        _refuse(args, kind, ("--maximize",), "objective directions pick a Pareto front")
    if kind not in ("breakdown",):
        _refuse(args, kind, ("--top", "--by"), "they choose the bars of a per-layer breakdown")
    if kind != "roofline":
        _refuse(args, kind, ("--observed",), "it draws a roofline roof")
    if kind in ("roofline", "breakdown"):
        _refuse(args, kind, ("--facet",), "it draws the layers of one point per panel")
    if kind == "roofline":
        _refuse(args, kind, ("--x", "--y"), "a roofline's axes are arithmetic intensity and performance")
    if kind == "breakdown":
        _refuse(args, kind, ("--x",), "its x axis is the layers")
    if kind not in ("roofline", "breakdown"):
        _refuse(args, kind, ("--point",), "it draws every point of the sweep, not the layers of one")
    if kind in ("roofline", "breakdown"):
        _refuse(args, kind, ("--color",), "pareto and tradeoff take a colour column; this kind draws none")
    points, layers = _load_for_plot(args.results, kind)
    panel_flag = "--facet" if getattr(args, "facet", None) else "--group-by"
    panels = _panels(args)
    if points is not None and isinstance(panels, str) and panels.strip().lower() not in ("auto", "none"):
        panels = _columns_arg(panels)
    if points is not None and isinstance(panels, list):
        for col in panels:  # named as the flag the user gave (was 'group_by: ...')
            plots.check_column(points, col, panel_flag, "results", source=args.results)
    if points is not None and kind in _AXIS_DEFAULTS:  # the axes, named as given (or as the kind's default) and by file
        for given, default, flag in zip((args.x, args.y), _AXIS_DEFAULTS[kind], ("--x", "--y")):
            plots.check_column(points, given or default, flag if given else f"the default {flag} of --kind {kind} is",
                               "results", numeric=True, source=args.results)
    if kind == "roofline":
        out = _json_roofline(args) if is_json and not args.observed else ""
        if not out:
            chosen, label, peaks = _roofline_points(points, layers, args.point)
            out = plots.roofline(chosen, args.out, title=args.title, label=label, observed=args.observed,
                                 precision_roofs=peaks)
    elif kind == "breakdown":
        out = plots.breakdown(layers, args.out, point=args.point, title=args.title, top=args.top, by=args.by or "layer",
                              y=args.y)
    elif kind == "pareto":
        x, y = args.x or _AXIS_DEFAULTS[kind][0], args.y or _AXIS_DEFAULTS[kind][1]
        for col in maximize:
            plots.check_column(points, col, "--maximize", "results", source=args.results)
        objectives = {x: "max" if x in maximize else "min", y: "max" if y in maximize else "min"}
        color = args.color if args.color is not None else plots.device_color(points)
        out = plots.pareto_scatter(points, args.out, x=x, y=y, objectives=objectives, color=color,
                                   title=args.title, group_by=panels)
    elif kind == "shrinkbench":  # accuracy vs compression and vs real speedup (accelsim.report.shrinkbench)
        from accelsim.report.shrinkbench import shrinkbench

        _refuse(args, kind, ("--x",), "its x axes are the compression ratio and the real speedup")
        out = shrinkbench(points, args.out, metric=args.y or "accuracy.top1", method=args.color or "tag.method",
                          title=args.title)
    else:
        out = plots.tradeoff(points, args.out, group=args.color, title=args.title, group_by=panels,
                             x=args.x or _AXIS_DEFAULTS[kind][0], y=args.y or _AXIS_DEFAULTS[kind][1])
    sys.stdout.write(f"wrote {out}\n")
    return 0


def cmd_report(args) -> int:
    from accelsim.dse.report import write_report

    spec, df = _run_sweep(args)
    try:
        path = write_report(spec, df, args.out, source=args.spec, group_by=args.group_by)
    except OSError as exc:
        raise write_error(exc, args.out) from None
    sys.stdout.write(_summary(df, args.out) + f"\nwrote {path}\n")
    _what_if(args, spec, df, report=path)
    return 0


def _add_run_options(p) -> None:
    p.add_argument("spec", help="sweep spec YAML (see docs/tutorial.md)")
    p.add_argument("--out", required=True, help="results directory (results.csv, layers.csv, ...)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, help="run on N local worker processes")
    group.add_argument("--scheduler", metavar="ADDR", help="run on a Dask cluster, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--resume", action="store_true",
                   help="skip points already in DIR/results.csv with unchanged inputs (other rows move to results.stale.csv)")
    p.add_argument("--wait", action="store_true",
                   help="if another sweep is writing to DIR, wait for it to finish (default: exit 2 naming its pid)")
    p.add_argument("--allow-code", action="store_true",
                   help="let the spec's 'evaluate: module:function' import a module outside accelsim (runs its code)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a Dask scheduler (default 10)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_group_by(p)
    p.add_argument("--what-if", type=float, metavar="F",
                   help="then re-run the points with each modelling constant (GPU launch overhead and efficiencies, "
                        "DRAM and SRAM energy) at 1-F and 1+F, one at a time, and report which Pareto / best / "
                        "top-k conclusions flip (DIR/whatif.md); e.g. 0.3")


def _add_group_by(p) -> None:
    p.add_argument("--group-by", metavar="COLS",
                   help="columns whose groups get their own Pareto front, top-k and sensitivity, comma-separated, "
                        "or 'none' (default: the spec's report.group_by, else workload and batch where they vary)")


def add_cli(sub) -> None:
    p = sub.add_parser("sweep", help="run a design-space sweep spec (resumable, local or Dask)")
    _add_run_options(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("plot", help="draw a roofline, breakdown, Pareto or trade-off figure")
    p.add_argument("results", help="sweep results directory, results.csv/.parquet, or simulate JSON")
    p.add_argument("--kind", required=True, choices=PLOT_KINDS)
    p.add_argument("--out", required=True, help="figure file (.png, .svg or .pdf)")
    p.add_argument("--x", help="any result column: pareto x (default latency_s); tradeoff compression measure "
                               "(default compression_ratio)")
    p.add_argument("--y", help="any result column: pareto y (default energy_j); tradeoff (default speedup_vs_dense, "
                               "e.g. energy_saving_vs_dense); breakdown: one per-layer column instead of latency and "
                               "energy; shrinkbench: the accuracy column (default accuracy.top1)")
    p.add_argument("--maximize", action="append", default=[], metavar="COLS",
                   help="pareto: columns where more is better (e.g. utilization, throughput_per_s); others are minimised")
    p.add_argument("--color", help="pareto: colour points by this column; tradeoff: one curve per value (default arch_name)")
    p.add_argument("--facet", metavar="COLS", help="pareto / tradeoff: one panel (and one front) per value of these "
                                                  "columns, e.g. workload (default: --group-by)")
    p.add_argument("--point", help="breakdown: the point id to draw (default: the first); roofline: comma-separated "
                                   "ids (default: the fastest point of each arch name)")
    p.add_argument("--top", type=int, metavar="N", help="breakdown: the N slowest layers, the rest summed in one bar "
                                                         "(default: every layer up to 40)")
    p.add_argument("--by", choices=["layer", "op"], help="breakdown: one bar per layer (default) or per op (summed)")
    p.add_argument("--observed", action="store_true",
                   help="roofline: where the model states no peak or DRAM bandwidth, draw a roof at the highest "
                        "observed values (points touch it by construction)")
    p.add_argument("--title")
    _add_group_by(p)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("report", help="run a sweep spec and write a markdown report with figures")
    _add_run_options(p)
    p.set_defaults(func=cmd_report)
