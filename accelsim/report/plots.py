"""Figures for simulation results and sweeps (matplotlib, Agg backend; PNG or SVG by file suffix).

- :func:`roofline`: one panel per hardware; per-layer points at (MACs per DRAM byte, MACs/s)
  under the roof ``min(peak MACs/s, intensity x DRAM bytes/s)``. MACs are the effective
  (post-compression) MACs a layer performs; DRAM bytes are reads + writes. When a model does
  not state its peak or bandwidth the roof is drawn at the highest observed value and labelled
  "observed".
- :func:`breakdown`: per-layer stacked bars of latency (compute vs stall, split in proportion to
  ``compute_cycles`` and ``stall_cycles``) and of energy by category.
- :func:`pareto_scatter`: every design point, with the Pareto front highlighted; one panel (and
  one front) per workload and batch where those vary (``group_by``).
- :func:`tradeoff`: the ShrinkBench-style figure (Blalock et al., MLSys 2020, Fig. 3): compression
  ratio against theoretical speedup (dense MACs / remaining MACs) and against the real speedup
  (dense latency / compressed latency) on each hardware, mean +/- std over seeds; one panel per
  workload and batch.

Uncertainty: both sweep figures shade the model error of each hardware family (its measured
validation error, :func:`band_fractions`), so a reader sees which gaps are inside the model's error.

Every function takes plain DataFrames (sweep tables from :mod:`accelsim.dse.store`, or
:func:`layers_frame` of NetworkResults), writes ``out`` and returns its path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from accelsim.errors import AccelsimError

FORMATS = (".png", ".svg")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _check_out(out: str | os.PathLike) -> Path:
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise AccelsimError(f"{path}: figure files must end in .png or .svg")
    if not path.parent.exists():
        raise AccelsimError(f"{path}: the directory {path.parent} does not exist")
    return path


def _save(fig, path: Path) -> Path:
    plt = _plt()
    # no date/version metadata: the same data gives the same file
    meta = {"Date": None} if path.suffix.lower() == ".svg" else {"Software": None}
    try:
        fig.savefig(path, dpi=120, bbox_inches="tight", metadata=meta)
    except OSError as exc:  # read-only, full (ENOSPC), a directory named like a figure, ...
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise AccelsimError(f"{path}: cannot write ({reason})") from None
    finally:
        plt.close(fig)
    return path


def _need(df, cols: Iterable[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise AccelsimError(f"{what} needs column(s) {', '.join(missing)}; the table has {', '.join(map(str, df.columns))}")


def _ok(df):
    if "status" in df.columns:
        df = df[df["status"].fillna("ok") == "ok"]
    return df


def layers_frame(results: Any):
    """Per-layer rows (with arch and roof columns) of one NetworkResult or a list of them."""
    import pandas as pd

    from accelsim.report.results import NetworkResult

    if isinstance(results, NetworkResult):
        results = [results]
    rows = []
    for i, res in enumerate(results):
        arch = res.arch.get("name", f"arch{i}") if isinstance(res.arch, Mapping) else str(res.arch)
        peak = res.extra.get("peak_macs_per_s") if res.extra else None
        bw = res.extra.get("dram_bytes_per_s") if res.extra else None
        for r in res.layers:
            row = {"id": f"{i}", "arch_name": arch, "workload": res.workload, "layer": r.name, "op": r.op,
                   "peak_macs_per_s": peak, "dram_bytes_per_s": bw}
            for k, v in r.to_dict().items():
                if k in ("name",):
                    continue
                if isinstance(v, dict):
                    if k == "energy_breakdown_j":
                        row.update({f"energy.{kk}": vv for kk, vv in v.items()})
                else:
                    row[k] = v
            rows.append(row)
    return pd.DataFrame(rows)


def _label_col(df) -> str:
    return "arch_name" if "arch_name" in df.columns else "arch"


# --- roofline ----------------------------------------------------------------------------------

def roofline(layers, out: str | os.PathLike, title: str | None = None, label: str | None = None) -> Path:
    """Roofline per hardware (one panel per value of ``label``, default the arch name) with one point per layer."""
    path = _check_out(out)
    _need(layers, ["effective_macs", "dram_read_bytes", "dram_write_bytes", "latency_s", "layer"], "the roofline plot")
    df = _ok(layers).copy()
    label = label or _label_col(df)
    _need(df, [label], "the roofline plot")
    df["_bytes"] = df["dram_read_bytes"].astype(float) + df["dram_write_bytes"].astype(float)
    df["_macs"] = df["effective_macs"].astype(float)
    df = df[(df["_macs"] > 0) & (df["latency_s"].astype(float) > 0)]
    if df.empty:
        raise AccelsimError("the roofline plot needs layers with MACs and a latency; none in the table")
    plt = _plt()
    archs = list(dict.fromkeys(df[label]))
    ncols = min(3, len(archs))
    nrows = math.ceil(len(archs) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 4.2 * nrows), squeeze=False)
    for ax, arch in zip(axes.flat, archs):
        sub = df[df[label] == arch]
        perf = sub["_macs"] / sub["latency_s"].astype(float)
        finite = sub["_bytes"] > 0
        intensity = (sub["_macs"] / sub["_bytes"].where(finite)).to_numpy()
        # layers with no DRAM traffic sit at the right edge (intensity unbounded)
        hi_i = np.nanmax(intensity) if np.isfinite(intensity).any() else 1.0
        intensity = np.where(np.isfinite(intensity), intensity, hi_i * 4)
        peak = _first(sub, "peak_macs_per_s")
        bw = _first(sub, "dram_bytes_per_s")
        observed = peak is None or bw is None
        if peak is None:
            peak = float(perf.max())
        if bw is None:
            bw = float((perf / intensity).max())
        lo = min(intensity.min(), peak / bw) / 4
        hi = max(intensity.max(), peak / bw) * 4
        xs = np.logspace(np.log10(lo), np.log10(hi), 200)
        ax.loglog(xs, np.minimum(peak, xs * bw), color="black", lw=1.5,
                  label=f"roof{' (observed)' if observed else ''}: {peak:.3g} MAC/s, {bw:.3g} B/s")
        ops = np.asarray(sub["op"].astype(str)) if "op" in sub.columns else np.array(["layer"] * len(sub))
        for op in dict.fromkeys(ops):
            m = ops == op
            ax.loglog(intensity[m], perf.to_numpy()[m], "o", ms=4, alpha=0.75, label=str(op))
        ax.set_title(str(arch))
        ax.set_xlabel("arithmetic intensity (MACs / DRAM byte)")
        ax.set_ylabel("performance (MACs / s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(archs):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _first(df, col: str) -> float | None:
    if col not in df.columns:
        return None
    vals = [float(v) for v in df[col] if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return vals[0] if vals else None


# --- per-layer breakdown -------------------------------------------------------------------------

def breakdown(layers, out: str | os.PathLike, point: str | None = None, title: str | None = None) -> Path:
    """Stacked per-layer latency (compute / stall) and energy (by category) of one design point."""
    path = _check_out(out)
    _need(layers, ["layer", "latency_s", "cycles", "compute_cycles", "stall_cycles", "energy_j"], "the breakdown plot")
    df = layers
    if "id" in df.columns:
        ids = list(dict.fromkeys(df["id"]))
        if point is None:
            point = ids[0]
        if point not in ids:
            raise AccelsimError(f"point '{point}' is not in the per-layer table (ids: {', '.join(map(str, ids[:5]))}, ...)")
        df = df[df["id"] == point]
    # layers that cost nothing (reshapes, fused activations) would only widen the figure
    df = df[(df["latency_s"].astype(float) > 0) | (df["energy_j"].astype(float) > 0)]
    if df.empty:
        raise AccelsimError("the breakdown plot has no layer with a latency or an energy")
    plt = _plt()
    names = df["layer"].astype(str).tolist()
    x = np.arange(len(names))
    cycles = df["cycles"].astype(float).to_numpy()
    lat = df["latency_s"].astype(float).to_numpy()
    frac_c = np.divide(df["compute_cycles"].astype(float).to_numpy(), cycles, out=np.ones_like(cycles), where=cycles > 0)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(min(24, max(6, 0.22 * len(names) + 2)), 7), sharex=True)
    scale, unit = _time_unit(lat.max() if len(lat) else 0)
    ax1.bar(x, lat * frac_c * scale, label="compute", color="#4c72b0")
    ax1.bar(x, lat * (1 - frac_c) * scale, bottom=lat * frac_c * scale, label="stall", color="#dd8452")
    ax1.set_ylabel(f"latency ({unit})")
    ax1.legend(fontsize=8)
    cats = [c for c in df.columns if str(c).startswith("energy.")]
    bottom = np.zeros(len(names))
    energy = df["energy_j"].astype(float).to_numpy()
    escale, eunit = _energy_unit(energy.max() if len(energy) else 0)
    if cats:
        for cat in cats:
            vals = np.nan_to_num(df[cat].astype(float).to_numpy()) * escale
            if not vals.any():
                continue
            ax2.bar(x, vals, bottom=bottom, label=cat.split(".", 1)[1])
            bottom += vals
    else:
        ax2.bar(x, energy * escale, label="total")
    ax2.set_ylabel(f"energy ({eunit})")
    ax2.legend(fontsize=8, ncol=3)
    ax2.set_xticks(x)
    ax2.set_xticklabels(names, rotation=90, fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _time_unit(value: float) -> tuple[float, str]:
    for scale, unit in ((1e6, "us"), (1e3, "ms")):
        if value * scale < 1e4:
            return scale, unit
    return 1.0, "s"


def _energy_unit(value: float) -> tuple[float, str]:
    for scale, unit in ((1e6, "uJ"), (1e3, "mJ")):
        if value * scale < 1e4:
            return scale, unit
    return 1.0, "J"


# --- Pareto scatter ------------------------------------------------------------------------------

def pareto_scatter(df, out: str | os.PathLike, x: str, y: str, objectives: Mapping[str, str] | None = None,
                   color: str | None = None, logx: bool = True, logy: bool = True, title: str | None = None,
                   group_by: Any = "auto", uncertainty: Any = None) -> Path:
    """All points of a sweep (coloured by ``color``) with the Pareto front of ``x`` and ``y`` highlighted.

    ``group_by`` (:func:`accelsim.report.pareto.group_columns`; default: workload and batch where
    they vary) draws one panel per group, each with its own front: points of different workloads or
    batches never share a front. Each front point carries error bars of its family's measured
    validation error on the latency / energy axes (:func:`band_fractions`; ``uncertainty=False``: none).
    """
    from accelsim.report.pareto import group_label, groups, pareto_front

    path = _check_out(out)
    _need(df, [x, y] + ([color] if color else []), "the Pareto plot")
    objectives = dict(objectives or {x: "min", y: "min"})
    data = _ok(df)
    data = data[data[x].notna() & data[y].notna()]
    if data.empty:
        raise AccelsimError(f"the Pareto plot has no points with both {x} and {y}")
    parts = groups(data, group_by)
    plt = _plt()
    ncols = min(2, len(parts))
    nrows = math.ceil(len(parts) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 4.8 * nrows), squeeze=False)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    from accelsim.report.pareto import cell_key

    values = list(dict.fromkeys(data[color].map(cell_key))) if color else []
    colour_of = {v: palette[i % len(palette)] for i, v in enumerate(values)}
    for ax, (key, part) in zip(axes.flat, parts):
        front = pareto_front(part, {x: objectives.get(x, "min"), y: objectives.get(y, "min")}, group_by=None)
        if color:
            for value in values:
                sub = part[part[color].map(cell_key) == value]
                if len(sub):
                    ax.scatter(sub[x].astype(float), sub[y].astype(float), s=18, alpha=0.6, color=colour_of[value],
                               label=f"{color}={value}")
        else:
            ax.scatter(part[x].astype(float), part[y].astype(float), s=18, alpha=0.5, color="grey", label="design points")
        f = front.sort_values(x)
        _draw_bands(ax, f, x, y, uncertainty)
        ax.plot(f[x].astype(float), f[y].astype(float), "-o", color="crimson", ms=6, mfc="none", lw=1.2,
                label=f"Pareto front ({len(front)} of {len(part)})")
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        label = group_label(key)
        if label:
            ax.set_title(label, fontsize=10)
    for ax in list(axes.flat)[len(parts):]:
        ax.set_visible(False)
    if title:
        if len(parts) > 1:
            fig.suptitle(title)
        else:
            axes.flat[0].set_title(title + (f"\n{group_label(parts[0][0])}" if parts[0][0] else ""), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


# --- uncertainty bands ----------------------------------------------------------------------------

#: result columns whose error is the family's latency validation error (speedups are ratios of two
#: latencies of the same model: shaded with the latency band as an approximation, and labelled so)
LATENCY_METRICS = ("latency_s", "latency_per_sample_s", "dense_latency_s", "cycles", "throughput_per_s",
                   "speedup_vs_dense")
#: result columns whose error is the family's energy validation error
ENERGY_METRICS = ("energy_j", "energy_per_sample_j", "dense_energy_j", "perf_per_w", "energy_saving_vs_dense")
#: per-row columns of the latency band (fractions), written by the sweep evaluator (accelsim.dse.evaluate)
BAND_COLUMNS = ("latency_error_median", "latency_error_worst")


def _band_metric(column: str) -> str | None:
    return "latency_s" if column in LATENCY_METRICS else "energy_j" if column in ENERGY_METRICS else None


def band_fractions(df, column: str, uncertainty: Any = None):
    """``(median, worst)`` relative model error of ``column`` per row of ``df`` (arrays; NaN = unknown).

    The error is the row's hardware family's measured validation error (``accelsim validate``,
    :mod:`accelsim.report.uncertainty`): its latency band for time-like columns
    (:data:`LATENCY_METRICS`), its energy band for energy-like ones (:data:`ENERGY_METRICS`), none
    for other columns. ``uncertainty``:

    - None (default): the table's :data:`BAND_COLUMNS` for latency, else the stored bands
      (:func:`accelsim.report.uncertainty.stored`) matched on the ``family`` column;
    - False: no band;
    - a mapping ``{family: {metric: {"median_error": f, "worst_error": f}}}`` (the stored bands'
      shape), or ``{family: {"median_error": f, "worst_error": f}}`` for a latency band only.
    """
    n = len(df)
    med, worst = np.full(n, np.nan), np.full(n, np.nan)
    metric = _band_metric(column)
    if uncertainty is False or metric is None:
        return med, worst
    if uncertainty is None and metric == "latency_s" and all(c in df.columns for c in BAND_COLUMNS):
        med = pd_float(df[BAND_COLUMNS[0]])
        worst = pd_float(df[BAND_COLUMNS[1]])
        if np.isfinite(med).all() and np.isfinite(worst).all():
            return np.abs(med), np.abs(worst)
    if uncertainty is None:
        from accelsim.report.uncertainty import stored

        uncertainty = stored()
    if not isinstance(uncertainty, Mapping) or "family" not in df.columns:
        return np.abs(med), np.abs(worst)
    for i, fam in enumerate(df["family"]):
        if np.isfinite(med[i]) and np.isfinite(worst[i]):
            continue  # the row's own band (from the table) wins
        u = uncertainty.get(fam) if isinstance(fam, str) else None
        if isinstance(u, Mapping) and metric in u:
            u = u[metric]
        elif isinstance(u, Mapping) and metric != "latency_s":
            u = None  # a flat band is a latency band
        if isinstance(u, Mapping):
            med[i] = _num(u.get("median_error"))
            worst[i] = _num(u.get("worst_error"))
    return np.abs(med), np.abs(worst)


def pd_float(series) -> np.ndarray:
    import pandas as pd

    return np.array(pd.to_numeric(series, errors="coerce"), dtype=float)  # a writable copy


def _num(v) -> float:
    try:
        return float(v) if v is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _draw_bands(ax, front, x: str, y: str, uncertainty) -> None:
    """Error bars on the front's points: each family's median validation error (thick) and worst (thin),
    along every axis whose column has a band."""
    xs, ys = front[x].astype(float).to_numpy(), front[y].astype(float).to_numpy()
    for axis, col, v in (("x", x, xs), ("y", y, ys)):
        med, worst = band_fractions(front, col, uncertainty)
        what = "latency" if _band_metric(col) == "latency_s" else "energy"
        for frac, lw, alpha, label in ((worst, 1.0, 0.45, "worst"), (med, 6.0, 0.3, "median")):
            ok = np.isfinite(frac) & (frac > 0)
            if not ok.any():
                continue
            err = np.vstack([v[ok] * np.minimum(frac[ok], 0.999), v[ok] * frac[ok]])
            kw = {"xerr": err} if axis == "x" else {"yerr": err}
            ax.errorbar(xs[ok], ys[ok], fmt="none", ecolor="crimson", elinewidth=lw, alpha=alpha, capsize=0,
                        label=f"{label} {what} validation error of the family", **kw)


# --- ShrinkBench-style trade-off ------------------------------------------------------------------

def tradeoff_table(df, group: str | None = None, ratio: str | None = None, group_by: Any = "auto",
                   uncertainty: Any = False):
    """Mean and std over seeds per (hardware, compression level) of the two speedups.

    Columns: the ``group_by`` columns (default: workload and batch where they vary; see
    :func:`accelsim.report.pareto.group_columns`), then ``hardware, level, ratio_mean, ratio_std,
    theoretical_mean, theoretical_std, real_mean, real_std, n``; plus ``error_median, error_worst``
    (the largest latency validation error of the group's families, :func:`band_fractions`) when
    ``uncertainty`` is not False and a band is known.
    ``level`` is the ``ratio`` column when given (e.g. a nominal ratio tag) else the ``recipe``.
    """
    import pandas as pd

    from accelsim.report.pareto import group_columns, groups

    _need(df, ["compression_ratio", "theoretical_speedup"], "the trade-off figure")
    data = _ok(df)
    group = group or ("family" if "family" in data.columns else _label_col(data))
    level = ratio or "recipe"
    _need(data, [group, level], "the trade-off figure")
    gcols = [c for c in group_columns(data, group_by) if c not in (group, level)]
    med_all, worst_all = band_fractions(data, "speedup_vs_dense", uncertainty)
    has_band = bool(np.isfinite(med_all).any() or np.isfinite(worst_all).any())
    data = data.assign(_med=med_all, _worst=worst_all)
    rows = []
    for key, part in groups(data, gcols):
        for (hw, lev), sub in part.groupby([group, level], sort=False):
            real = sub["speedup_vs_dense"].astype(float) if "speedup_vs_dense" in sub.columns else pd.Series(dtype=float)
            row = {
                **key, "hardware": hw, "level": lev, "n": int(len(sub)),
                "ratio_mean": float(sub["compression_ratio"].astype(float).mean()),
                "ratio_std": float(sub["compression_ratio"].astype(float).std(ddof=0)),
                "theoretical_mean": float(sub["theoretical_speedup"].astype(float).mean()),
                "theoretical_std": float(sub["theoretical_speedup"].astype(float).std(ddof=0)),
                "real_mean": float(real.mean()) if real.notna().any() else float("nan"),
                "real_std": float(real.std(ddof=0)) if real.notna().any() else float("nan"),
            }
            if has_band:
                row["error_median"] = float(np.nanmax(sub["_med"])) if np.isfinite(sub["_med"]).any() else float("nan")
                row["error_worst"] = float(np.nanmax(sub["_worst"])) if np.isfinite(sub["_worst"]).any() else float("nan")
            rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    order = {tuple(k.values()): i for i, (k, _) in enumerate(groups(data, gcols))}
    out["_g"] = [order[tuple(r)] if gcols else 0 for r in out[gcols].itertuples(index=False, name=None)] if gcols else 0
    return out.sort_values(["_g", "hardware", "ratio_mean"], kind="stable").drop(columns="_g").reset_index(drop=True)


def tradeoff(df, out: str | os.PathLike, group: str | None = None, ratio: str | None = None,
             title: str | None = None, group_by: Any = "auto", uncertainty: Any = None) -> Path:
    """Compression ratio (x) vs theoretical and real speedup (y) per hardware, mean +/- std over seeds.

    One panel per ``group_by`` group (default: workload and batch where they vary). Each real speedup
    curve is shaded by its family's latency validation error (:func:`band_fractions`): the median
    (darker) and the worst (lighter); ``uncertainty=False``: no shading.
    """
    from accelsim.report.pareto import group_label, groups

    path = _check_out(out)
    table = tradeoff_table(df, group, ratio, group_by=group_by, uncertainty=uncertainty)
    if table.empty:
        raise AccelsimError("the trade-off figure has no successful compressed points")
    gcols = [c for c in table.columns if c not in _TRADEOFF_COLUMNS]
    parts = groups(table, gcols)
    plt = _plt()
    ncols = min(2, len(parts))
    nrows = math.ceil(len(parts) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 4.8 * nrows), squeeze=False)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    hardware = list(dict.fromkeys(table["hardware"]))
    from matplotlib.ticker import FuncFormatter

    for ax, (key, part) in zip(axes.flat, parts):
        theo = part.groupby("level", sort=False).agg(
            x=("ratio_mean", "mean"), y=("theoretical_mean", "mean"), e=("theoretical_std", "max")).sort_values("x")
        ax.errorbar(theo["x"], theo["y"], yerr=theo["e"], fmt="--s", color="black", capsize=3, ms=5,
                    label="theoretical (dense MACs / remaining MACs)")
        markers = "o^vD<>ph*"
        for hw, sub in part.groupby("hardware", sort=False):
            i = hardware.index(hw)
            sub = sub[np.isfinite(sub["real_mean"])].sort_values("ratio_mean")
            if sub.empty:
                continue
            c = palette[i % len(palette)]
            ax.errorbar(sub["ratio_mean"], sub["real_mean"], xerr=sub["ratio_std"], yerr=sub["real_std"],
                        fmt="-" + markers[i % len(markers)], capsize=3, ms=5, color=c, label=f"real: {hw}")
            for col, alpha, what in (("error_worst", 0.12, "worst"), ("error_median", 0.25, "median")):
                if col in sub.columns and np.isfinite(sub[col]).any():
                    frac = sub[col].fillna(0.0).clip(upper=0.999).to_numpy()
                    y = sub["real_mean"].to_numpy()
                    ax.fill_between(sub["ratio_mean"], y * (1 - frac), y * (1 + frac), color=c, alpha=alpha, lw=0,
                                    label=f"{hw}: {what} latency validation error ({np.nanmax(sub[col]):.0%})")
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("compression ratio (weights / non-zero weights)")
        ax.set_ylabel("speedup over dense")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        label = group_label(key)
        if len(parts) > 1:
            ax.set_title(label, fontsize=10)
        else:
            ax.set_title((title or "FLOP reduction is not speedup") + (f"\n{label}" if label else ""), fontsize=10)
    for ax in list(axes.flat)[len(parts):]:
        ax.set_visible(False)
    if len(parts) > 1:
        fig.suptitle(title or "FLOP reduction is not speedup")
    fig.tight_layout()
    return _save(fig, path)


_TRADEOFF_COLUMNS = ("hardware", "level", "n", "ratio_mean", "ratio_std", "theoretical_mean", "theoretical_std",
                     "real_mean", "real_std", "error_median", "error_worst")


def save_both(fn, *args, out_stem: str | os.PathLike, **kwargs) -> list[Path]:
    """Call a plot function twice, writing ``<stem>.png`` and ``<stem>.svg``."""
    stem = Path(out_stem)
    return [fn(*args, out=stem.with_suffix(ext), **kwargs) for ext in FORMATS]


__all__: Sequence[str] = ["BAND_COLUMNS", "ENERGY_METRICS", "LATENCY_METRICS", "band_fractions", "breakdown", "layers_frame", "pareto_scatter",
                          "roofline", "save_both", "tradeoff", "tradeoff_table"]
