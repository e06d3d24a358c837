"""Figures for simulation results and sweeps (matplotlib, Agg backend; PNG or SVG by file suffix).

- :func:`roofline`: one panel per hardware; per-layer points at (MACs per DRAM byte, MACs/s)
  under the roof ``min(peak MACs/s, intensity x DRAM bytes/s)``. MACs are the effective
  (post-compression) MACs a layer performs; DRAM bytes are reads + writes. When a model does
  not state its peak or bandwidth the roof is drawn at the highest observed value and labelled
  "observed".
- :func:`breakdown`: per-layer stacked bars of latency (compute vs stall, split in proportion to
  ``compute_cycles`` and ``stall_cycles``) and of energy by category.
- :func:`pareto_scatter`: every design point, with the Pareto front highlighted.
- :func:`tradeoff`: the ShrinkBench-style figure (Blalock et al., MLSys 2020, Fig. 3): compression
  ratio against theoretical speedup (dense MACs / remaining MACs) and against the real speedup
  (dense latency / compressed latency) on each hardware, mean +/- std over seeds.

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
                   color: str | None = None, logx: bool = True, logy: bool = True, title: str | None = None) -> Path:
    """All points of a sweep (coloured by ``color``) with the Pareto front of ``x`` and ``y`` highlighted."""
    from accelsim.report.pareto import pareto_front

    path = _check_out(out)
    _need(df, [x, y] + ([color] if color else []), "the Pareto plot")
    objectives = dict(objectives or {x: "min", y: "min"})
    data = _ok(df)
    data = data[data[x].notna() & data[y].notna()]
    if data.empty:
        raise AccelsimError(f"the Pareto plot has no points with both {x} and {y}")
    front = pareto_front(data, {x: objectives.get(x, "min"), y: objectives.get(y, "min")})
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    if color:
        for value in dict.fromkeys(data[color]):
            sub = data[data[color] == value]
            ax.scatter(sub[x].astype(float), sub[y].astype(float), s=18, alpha=0.6, label=f"{color}={value}")
    else:
        ax.scatter(data[x].astype(float), data[y].astype(float), s=18, alpha=0.5, color="grey", label="design points")
    f = front.sort_values(x)
    ax.plot(f[x].astype(float), f[y].astype(float), "-o", color="crimson", ms=6, mfc="none", lw=1.2,
            label=f"Pareto front ({len(front)})")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    return _save(fig, path)


# --- ShrinkBench-style trade-off ------------------------------------------------------------------

def tradeoff_table(df, group: str | None = None, ratio: str | None = None):
    """Mean and std over seeds per (hardware, compression level) of the two speedups.

    Columns: ``hardware, level, ratio_mean, ratio_std, theoretical_mean, theoretical_std,
    real_mean, real_std, n``. ``level`` is the ``ratio`` column when given (e.g. a nominal
    ratio tag) else the ``recipe``.
    """
    import pandas as pd

    _need(df, ["compression_ratio", "theoretical_speedup"], "the trade-off figure")
    data = _ok(df)
    group = group or ("family" if "family" in data.columns else _label_col(data))
    level = ratio or "recipe"
    _need(data, [group, level], "the trade-off figure")
    rows = []
    for (hw, lev), sub in data.groupby([group, level], sort=False):
        real = sub["speedup_vs_dense"].astype(float) if "speedup_vs_dense" in sub.columns else pd.Series(dtype=float)
        rows.append({
            "hardware": hw, "level": lev, "n": int(len(sub)),
            "ratio_mean": float(sub["compression_ratio"].astype(float).mean()),
            "ratio_std": float(sub["compression_ratio"].astype(float).std(ddof=0)),
            "theoretical_mean": float(sub["theoretical_speedup"].astype(float).mean()),
            "theoretical_std": float(sub["theoretical_speedup"].astype(float).std(ddof=0)),
            "real_mean": float(real.mean()) if real.notna().any() else float("nan"),
            "real_std": float(real.std(ddof=0)) if real.notna().any() else float("nan"),
        })
    return pd.DataFrame(rows).sort_values(["hardware", "ratio_mean"], kind="stable").reset_index(drop=True)


def tradeoff(df, out: str | os.PathLike, group: str | None = None, ratio: str | None = None,
             title: str | None = None) -> Path:
    """Compression ratio (x) vs theoretical and real speedup (y) per hardware, mean +/- std over seeds."""
    path = _check_out(out)
    table = tradeoff_table(df, group, ratio)
    if table.empty:
        raise AccelsimError("the trade-off figure has no successful compressed points")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    theo = table.groupby("level", sort=False).agg(
        x=("ratio_mean", "mean"), y=("theoretical_mean", "mean"), e=("theoretical_std", "max")).sort_values("x")
    ax.errorbar(theo["x"], theo["y"], yerr=theo["e"], fmt="--s", color="black", capsize=3, ms=5,
                label="theoretical (dense MACs / remaining MACs)")
    markers = "o^vD<>ph*"
    for i, (hw, sub) in enumerate(table.groupby("hardware", sort=False)):
        sub = sub[np.isfinite(sub["real_mean"])]
        if sub.empty:
            continue
        ax.errorbar(sub["ratio_mean"], sub["real_mean"], xerr=sub["ratio_std"], yerr=sub["real_std"],
                    fmt="-" + markers[i % len(markers)], capsize=3, ms=5, label=f"real: {hw}")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    from matplotlib.ticker import FuncFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("compression ratio (weights / non-zero weights)")
    ax.set_ylabel("speedup over dense")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "FLOP reduction is not speedup")
    return _save(fig, path)


def save_both(fn, *args, out_stem: str | os.PathLike, **kwargs) -> list[Path]:
    """Call a plot function twice, writing ``<stem>.png`` and ``<stem>.svg``."""
    stem = Path(out_stem)
    return [fn(*args, out=stem.with_suffix(ext), **kwargs) for ext in FORMATS]


__all__: Sequence[str] = ["breakdown", "layers_frame", "pareto_scatter", "roofline", "save_both", "tradeoff", "tradeoff_table"]
