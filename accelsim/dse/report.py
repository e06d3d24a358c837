"""``accelsim report``: a markdown report of a finished sweep, with figures and tables.

Sections (each only when the table has what it needs): summary; Pareto front of the spec's
``objectives`` (table + scatter); top-k per objective; sensitivity (which balanced axis moves each
objective most, :func:`accelsim.report.pareto.sensitivity` on log10 values); the ShrinkBench-style
trade-off figure when the rows carry compression ratios and speedups; a roofline and a per-layer
breakdown when per-layer detail was recorded; failed points.

Spec keys used: ``name``, ``description``, ``objectives`` ({column: min|max}) and an optional
``report`` mapping: ``pareto: {x, y, color}``, ``top_k`` (default 5), ``tradeoff: {group, ratio}``
(or false), ``breakdown_point`` (an id; default the fastest point), ``group_by`` (columns; default
workload and batch where they vary, ``[]`` for none): fronts, top-k, main effects and figure panels
are per group, so points of different workloads or batches never compete. Their shape is declared with the
rest of the spec (:class:`~accelsim.dse.space.SpecFields`, :class:`~accelsim.dse.space.ReportFields`)
and checked before anything is written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np



def md_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A GitHub-markdown table (numbers with 4 significant digits)."""
    def cell(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def axis_columns(df, spec=None) -> list[str]:
    """The setting keys that vary in ``df`` (from the spec's axes when given)."""
    from accelsim.dse.evaluate import METRICS
    from accelsim.dse.space import space_from_spec
    from accelsim.report.pareto import varying_axes

    if spec:
        space = space_from_spec(spec)
        cands = list(space.axis_keys)
        # keys a union's spaces set in their own base (arch: edge-32x32 in one, a100-40gb in another) vary too
        for sub in getattr(space, "spaces", ()):
            cands += [k for k in sub.base if k not in cands]
    else:
        metrics = {"id", "status", "error", *METRICS}
        cands = [c for c in df.columns if c not in metrics and not str(c).startswith("energy.")]
    return varying_axes(df, cands)


def _empty(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _value(v) -> Any:
    """An axis value as written in a spec (``16``, not the ``16.0`` a column with empty cells holds)."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def describe_point(df, pid: str, axes: Sequence[str]) -> str:
    """``arch_name: axis=value, ...`` of one point (for figure titles)."""
    row = df[df["id"] == pid]
    if row.empty:
        return pid
    row = row.iloc[0]
    head = str(row["arch_name"]) if "arch_name" in row.index else pid
    parts = [f"{a.split('.')[-1]}={_value(row[a])}" for a in axes
             if a in row.index and a != "arch" and not _empty(row[a])]
    return f"{head}: {', '.join(parts)}" if parts else head


_describe = describe_point  # the name accelsim.dse.whatif imports


def write_report(spec: Mapping[str, Any], df, out: str | Path, source: str = "spec", group_by: Any = None,
                 uncertainty: Mapping[str, Mapping[str, float]] | None = None) -> Path:
    """Write ``out/report.md`` and ``out/figures/*.png|svg``; return the markdown path.

    ``group_by`` overrides the spec's ``report.group_by`` (default ``"auto"``: workload and batch
    where they vary; ``[]``: no groups). ``uncertainty`` is passed to the figures
    (:func:`accelsim.report.plots.band_fractions`): None shades each family's measured validation
    error (the table's ``latency_error_*`` columns, else the stored bands), False draws none.
    """
    from accelsim.dse.space import ParetoOptions, ReportFields, TradeoffOptions, spec_fields
    from accelsim.dse.store import LAYERS, load_layers
    from accelsim.dse.sweep import report_column_problem
    from accelsim.errors import SweepError
    from accelsim.report import plots
    from accelsim.report.pareto import AUTO, by_group, group_columns, group_label, groups, pareto_front, sensitivity, top_k

    group_by_override = group_by

    checked = spec_fields(spec, source)  # the whole spec's shape, report section included
    opts = checked.report or ReportFields()
    objectives = checked.objectives or {}
    ids = [str(i) for i in df["id"]] if "id" in df.columns else None
    problem = report_column_problem(spec, [str(c) for c in df.columns], ids, source)
    if problem:  # the results' own columns (a custom evaluator's, a resumed table's), named as the spec field
        raise SweepError(problem)
    out = Path(out)
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    axes = axis_columns(df, spec)
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    title = checked.name or Path(source).stem
    md = [f"# Sweep report: {title}", ""]
    if checked.description:
        md += [checked.description, ""]
    md += [f"Spec: `{source}`. Points: {len(df)} ({len(ok)} ok, {len(df) - len(ok)} failed). "
           f"Axes that vary: {', '.join(f'`{a}`' for a in axes) or 'none'}. Results table: `results.csv`.", ""]

    group_by = opts.group_by if opts.group_by is not None else AUTO
    if group_by_override is not None:
        group_by = group_by_override
    gcols = group_columns(ok, group_by) if len(ok) else []
    parts = groups(ok, gcols) if len(ok) else []
    shown_axes = [a for a in axes if a not in gcols]
    if gcols:
        md += [f"Points are compared within groups of equal {', '.join(f'`{c}`' for c in gcols)} "
               f"({len(parts)} groups): every front, top-k list and main effect below is per group.", ""]
    if objectives and len(ok):
        front = by_group(pareto_front(ok, objectives, group_by=gcols), gcols)
        cols = ["id"] + gcols + shown_axes + [c for c in objectives if c not in shown_axes and c not in gcols]
        counts = "; ".join(f"{group_label(key)}: {int(front.index.isin(part.index).sum())} of {len(part)}"
                           for key, part in parts)
        empty = [c for c in objectives if not np.isfinite(plots.pd_float(ok[c])).any()]
        md += [f"## Pareto front ({', '.join(f'{k}: {v}' for k, v in objectives.items())})", "",
               f"No point has every objective ({', '.join(f'`{c}`' for c in empty)} empty in every row)." if empty else
               f"Points not dominated by another point of their group ({counts})." if gcols else
               f"{len(front)} of {len(ok)} points are not dominated.", "",
               md_table(front[cols].to_dict("records"), cols), ""]
        objs = list(objectives)
        par = opts.pareto or ParetoOptions()
        x = par.x if par.x is not None else objs[0]
        y = par.y if par.y is not None else objs[1] if len(objs) > 1 else objs[0]
        both = x != y and bool((np.isfinite(plots.pd_float(ok[x])) & np.isfinite(plots.pd_float(ok[y]))).any())
        if x != y and not both:  # e.g. speedup_vs_dense on EIE, empty in every row: the tables still stand
            md += [f"(No Pareto figure: no point has both `{x}` and `{y}`.)", ""]
        elif x != y:
            # as `accelsim plot --kind pareto`: the devices apart where there are several, else the first swept axis
            color = par.color or plots.device_color(ok) or (shown_axes[0] if shown_axes else None)
            plots.save_both(plots.pareto_scatter, ok, out_stem=figs / "pareto", x=x, y=y, objectives=objectives,
                            color=color, title=f"{title}: {x} vs {y}", group_by=gcols, uncertainty=uncertainty)
            md += ["![Pareto scatter](figures/pareto.png)", ""]
            if len(objectives) > 2:
                md += [f"(The figure's front is over its two axes, `{x}` and `{y}`; the table's over all "
                       f"{len(objectives)} objectives.)", ""]
        k = opts.top_k
        for obj, direction in objectives.items():
            best = top_k(ok, obj, k=k, direction=direction, group_by=gcols)
            md += [f"### Top {k} by {obj} ({direction}){' per group' if gcols else ''}", "",
                   md_table(best[cols].to_dict("records"), cols), ""]
        if shown_axes:
            sens = sensitivity(ok, objectives, shown_axes, log=True, group_by=gcols)
            md += ["## Sensitivity", "",
                   "Main effect of each axis: spread of the per-value mean of log10(objective), in decades; "
                   "rank 1 moves the objective most. Only balanced axes get an effect: an axis whose values occur "
                   "with different settings of the other axes (e.g. a value only one hardware family has) would "
                   "credit it with their effect; `note` says which.", "",
                   md_table(sens.to_dict("records"),
                            gcols + ["objective", "axis", "effect", "levels", "best_value", "rank", "note"]), ""]

    trade = opts.tradeoff
    if trade and {"compression_ratio", "theoretical_speedup", "speedup_vs_dense"} <= set(df.columns) and "recipe" in df.columns:
        comp = ok[ok["recipe"].notna()]
        trade = trade if isinstance(trade, TradeoffOptions) else TradeoffOptions()
        level = trade.ratio or "recipe"
        if len(comp) and level in comp.columns and comp[level].nunique() >= 2:  # one level: nothing to trade off
            table = plots.tradeoff_table(comp, trade.group, trade.ratio, group_by=gcols, uncertainty=uncertainty)
            real = bool(np.isfinite(table["real_mean"].to_numpy(dtype=float)).any())
            if real:
                plots.save_both(plots.tradeoff, comp, out_stem=figs / "tradeoff", group=trade.group,
                                ratio=trade.ratio, title=f"{title}: FLOP reduction is not speedup", group_by=gcols,
                                uncertainty=uncertainty)
            md += ["## Compression ratio vs speedup", "",
                   "Theoretical speedup = dense MACs / MACs left after pruning; real speedup = dense latency / "
                   "compressed latency on the same hardware; mean +/- std over seeds.", "",
                   "![trade-off](figures/tradeoff.png)" if real else
                   "(No trade-off figure: `speedup_vs_dense` is empty in every row, a baseline the hardware cannot "
                   "run.)", "",
                   md_table(table.to_dict("records"), list(table.columns)), ""]

    if (out / LAYERS).exists():
        layers = load_layers(out)
        if len(layers):
            by_lat = ok.sort_values("latency_s", kind="stable") if "latency_s" in ok.columns else ok
            point = opts.breakdown_point or (str(by_lat["id"].iloc[0]) if len(by_lat) else str(layers["id"].iloc[0]))
            plots.save_both(plots.breakdown, layers, out_stem=figs / "breakdown", point=point,
                            title=f"per-layer breakdown: {describe_point(df, point, axes)}")
            # roofline: the fastest point of each hardware, one panel each, titled by its settings
            label = "arch_name" if "arch_name" in ok.columns else "id"
            best = by_lat.drop_duplicates(label) if label in by_lat.columns else by_lat.head(1)
            chosen = layers[layers["id"].isin(set(best["id"]))].copy()
            chosen["_panel"] = [describe_point(df, pid, axes) for pid in chosen["id"]]
            plots.save_both(plots.roofline, chosen, out_stem=figs / "roofline", label="_panel")
            md += ["## Per-layer view", "", f"Per-layer latency and energy of the fastest point ({describe_point(df, point, axes)}):",
                   "", "![breakdown](figures/breakdown.png)", "",
                   "Roofline of the fastest point of each hardware (MACs performed per DRAM byte vs MACs/s):", "",
                   "![roofline](figures/roofline.png)", ""]

    failed = df[df["status"] != "ok"] if "status" in df.columns else df.iloc[0:0]
    if len(failed):
        cols = ["id"] + axes + ["error"]
        md += ["## Failed points", "", md_table(failed[cols].to_dict("records"), cols), ""]
    path = out / "report.md"
    path.write_text("\n".join(md))
    return path
