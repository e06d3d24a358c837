"""Figures for simulation results and sweeps (matplotlib, Agg backend; PNG, SVG or PDF by file suffix).

- :func:`roofline`: one panel per hardware; per-layer points at (MACs per DRAM byte, MACs/s)
  under the roof ``min(peak MACs/s, intensity x DRAM bytes/s)`` of each configuration in the panel
  (its own ``peak_macs_per_s`` and ``dram_bytes_per_s`` columns: one roof per configuration).
  MACs are the effective (post-compression) MACs a layer performs; DRAM bytes are reads + writes.
  When a model does not state its peak or bandwidth no roof is drawn, unless ``observed=True``
  asks for one at the highest observed value (labelled "observed": points touch it by construction).
- :func:`breakdown`: per-layer stacked bars of latency (compute vs the rest, split in proportion to
  ``compute_cycles`` and ``stall_cycles``; the rest is "stall" on accelerators and "memory, launch
  overhead and fixed latency" on GPUs) and of energy by category; ``top`` keeps the N slowest layers
  (the others summed in one bar), ``by="op"`` sums the layers of each op.
- :func:`pareto_scatter`: every design point, with the Pareto front highlighted; one panel (and
  one front) per workload and batch where those vary (``group_by``).
- :func:`tradeoff`: the ShrinkBench-style figure (Blalock et al., MLSys 2020, Fig. 3): compression
  ratio against theoretical speedup (dense MACs / remaining MACs) and against the real speedup
  (dense latency / compressed latency) on each hardware, mean +/- std over seeds; one panel per
  workload and batch.

Uncertainty: both sweep figures shade the model error of each hardware family (its measured
validation error, :func:`band_fractions`), so a reader sees which gaps are inside the model's error.

Every function takes plain DataFrames (sweep tables from :mod:`accelsim.dse.store`, or
:func:`layers_frame` of NetworkResults), writes ``out`` and returns its path. Axis labels carry units
(:func:`axis_label`: ``latency_s`` -> "Latency (ms)" with the values scaled); a column that is not in
the table is refused with the nearest names (:func:`check_column`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from accelsim.errors import AccelsimError

FORMATS = (".png", ".svg", ".pdf")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def check_out(out: str | os.PathLike) -> Path:
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise AccelsimError(f"{path}: figure files must end in .png, .svg or .pdf")
    if not path.parent.exists():
        raise AccelsimError(f"{path}: the directory {path.parent} does not exist")
    return path


_check_out = check_out  # the name the package's other figure modules import


def _save(fig, path: Path) -> Path:
    plt = _plt()
    # no date/version metadata: the same data gives the same file
    suffix = path.suffix.lower()
    meta = {"Date": None} if suffix == ".svg" else {"CreationDate": None} if suffix == ".pdf" else {"Software": None}
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


def check_column(df, column: str, flag: str, what: str, numeric: bool = False, source=None) -> str:
    """``column`` if ``df`` has it, else an AccelsimError naming ``flag`` and the nearest columns
    (``--x latency: not a column of the table; did you mean latency_s, latency_per_sample_s?``); ``numeric``: an
    axis, so the column must hold numbers (a text column drew an empty figure). ``source``: the file the table was
    read from, named first in the message (a column renamed or dropped in that file)."""
    where = f"{source}: " if source is not None else ""
    if column in df.columns:
        import pandas as pd

        if numeric and len(df) and not pd.api.types.is_numeric_dtype(df[column]) \
                and pd.to_numeric(df[column], errors="coerce").notna().sum() == 0:
            raise AccelsimError(f"{where}{flag} {column}: not a numeric column of the {what} table (it holds text such as "
                                f"{str(df[column].dropna().iloc[0])[:40]!r}); give a column of numbers")
        return column
    from accelsim.errors import close_names

    names = [str(c) for c in df.columns]
    unit = sorted((c for c in names if c.lower().startswith(str(column).lower() + "_") and "_" not in c[len(column) + 1:]),
                  key=len)  # latency -> latency_s, energy -> energy_j: the name with its unit first
    close = list(dict.fromkeys(unit + close_names(column, names)))[:3]
    if not close:  # 'latency' -> latency_s: a column the name is a word of
        close = [c for c in names if str(column).lower() in c.lower()][:3]
    hint = f"did you mean {', '.join(close)}?" if close else f"columns: {', '.join(names)}"
    raise AccelsimError(f"{where}{flag} {column}: not a column of the {what} table; {hint}")


#: (suffix or name, quantity, unit family) of the columns whose unit is known
# the first suffix a column ends with decides (rates and per-watt / per-area figures before the units they end in)
_UNIT_SUFFIXES = (("_per_s", "rate"), ("_per_w", "per"), ("_per_mm2", "per"), ("_s", "time"), ("_j", "energy"),
                  ("_bytes", "bytes"), ("_bits", "bits"), ("_w", "power"), ("_mm2", "area"))
_NAMED = {
    "latency_s": "Latency", "latency_per_sample_s": "Latency per sample", "dense_latency_s": "Dense latency",
    "energy_j": "Energy", "energy_per_sample_j": "Energy per sample", "dense_energy_j": "Dense energy",
    "speedup_vs_dense": "Speedup over the baseline (x)", "energy_saving_vs_dense": "Energy saving over the baseline (x)",
    "theoretical_speedup": "Theoretical speedup (x)", "compression_ratio": "Compression ratio (x)",
    "storage_ratio": "Storage ratio (x)", "utilization": "Utilization (%)", "throughput_per_s": "Throughput (inferences/s)",
    "perf_per_w": "Inferences per joule", "perf_per_mm2": "Throughput per area (inferences/s/mm²)",
    "edp": "Energy-delay product (J·s)", "cycles": "Cycles", "macs": "MACs", "effective_macs": "MACs performed",
    "dram_read_bytes": "DRAM read", "dram_write_bytes": "DRAM written", "weight_storage_bits": "Weight storage",
    "area_mm2": "Area (mm²)", "accuracy.top1": "Top-1 accuracy", "accuracy.top5": "Top-5 accuracy",
}
_SCALES = {
    "time": ((1.0, "s"), (1e3, "ms"), (1e6, "µs"), (1e9, "ns")),
    "energy": ((1.0, "J"), (1e3, "mJ"), (1e6, "µJ"), (1e9, "nJ")),
    "bytes": ((1e-9, "GB"), (1e-6, "MB"), (1e-3, "kB"), (1.0, "B")),
    "bits": ((1.25e-10, "GB"), (1.25e-7, "MB"), (1.25e-4, "kB"), (0.125, "B")),
    "power": ((1.0, "W"), (1e3, "mW")),
}


def axis_label(column: str, values=None) -> tuple[float, str]:
    """``(scale, label)`` of a column: multiply the values by ``scale`` to plot them in the label's unit.

    Times, energies, bytes and powers get the largest unit in which the median of ``values`` is >= 1
    ("Latency (ms)"); ratios say "(x)", utilization is in percent; an unknown column keeps its name."""
    name = _NAMED.get(column)
    kind = next((k for suffix, k in _UNIT_SUFFIXES if str(column).endswith(suffix)), None)
    if column == "utilization":
        return 100.0, name
    if kind in _SCALES:
        base = name or str(column).rsplit("_", 1)[0].replace("_", " ").replace(".", " ").capitalize()
        vals = np.asarray(pd_float(values), dtype=float) if values is not None else np.array([])
        vals = np.abs(vals[np.isfinite(vals) & (vals != 0)])
        med = float(np.median(vals)) if vals.size else 1.0
        scale, unit = _SCALES[kind][-1]
        for s, u in _SCALES[kind]:
            if med * s >= 1.0:
                scale, unit = s, u
                break
        return scale, f"{base} ({unit})"
    if kind == "rate" and name is None:
        return 1.0, f"{str(column)[:-len('_per_s')].replace('_', ' ').capitalize()} (/s)"
    return 1.0, name or str(column)


def display_value(value: Any) -> str:
    """A cell as a legend shows it: an inline recipe (a JSON mapping with a ``name``, as tables written
    before ``recipe_spec`` existed hold it) by its name, anything else as text."""
    text = str(value)
    if text.startswith("{") and '"name"' in text:
        import json

        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            return data["name"]
    return text


def _log_ticks(ax, axis: str) -> None:
    """Readable log-axis ticks: plain numbers, no minor labels (they overlap within a decade)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    a = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = (ax.get_xlim() if axis == "x" else ax.get_ylim())
    decades = math.log10(hi / lo) if lo > 0 and hi > 0 else 10
    a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,), numticks=8))
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    a.set_minor_formatter(NullFormatter())


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
            family = res.arch.get("family") if isinstance(res.arch, Mapping) else None
            row = {"id": f"{i}", "arch_name": arch, "family": family, "workload": res.workload, "layer": r.name,
                   "op": r.op, "peak_macs_per_s": peak, "dram_bytes_per_s": bw}
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

def roofline(layers, out: str | os.PathLike, title: str | None = None, label: str | None = None,
             observed: bool = False, precision_roofs: Mapping[str, Sequence[tuple[str, float]]] | None = None) -> Path:
    """Roofline per hardware (one panel per value of ``label``, default the arch name), one point per layer.

    Each configuration in a panel (each distinct ``peak_macs_per_s`` / ``dram_bytes_per_s`` of its
    points) gets its own roof, in the colour of its points; a panel with one configuration colours
    its points by op. Points without a stated peak or bandwidth get no roof (the legend says so)
    unless ``observed``: then the roof is the highest observed value, labelled "observed".
    ``precision_roofs``: point id -> ``[(data types, peak MAC/s), ...]``, the configuration's other
    operand precisions (e.g. int8 beside a GPU's native bf16), drawn dashed under the same DRAM roof in a
    panel with one configuration (:func:`precision_peaks` builds them from a model's ``roof()``)."""
    import textwrap

    path = check_out(out)
    _need(layers, ["effective_macs", "dram_read_bytes", "dram_write_bytes", "latency_s", "layer"], "the roofline plot")
    df = _ok(layers).copy()
    label = label or _label_col(df)
    _need(df, [label], "the roofline plot")
    df["_bytes"] = df["dram_read_bytes"].astype(float) + df["dram_write_bytes"].astype(float)
    df["_macs"] = df["effective_macs"].astype(float)
    df = df[(df["_macs"] > 0) & (df["latency_s"].astype(float) > 0)]
    if df.empty:
        raise AccelsimError("the roofline plot needs layers with MACs and a latency; none in the table")
    for col in ("peak_macs_per_s", "dram_bytes_per_s"):
        df[col] = pd_float(df[col]) if col in df.columns else np.nan
    plt = _plt()
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    archs = list(dict.fromkeys(df[label]))
    ncols = min(3, len(archs))
    nrows = math.ceil(len(archs) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, 4.6 * nrows), squeeze=False)
    for ax, arch in zip(axes.flat, archs):
        sub = df[df[label] == arch]
        perf = (sub["_macs"] / sub["latency_s"].astype(float)).to_numpy()
        finite = sub["_bytes"] > 0
        intensity = (sub["_macs"] / sub["_bytes"].where(finite)).to_numpy()
        # layers with no DRAM traffic sit at the right edge (intensity unbounded)
        hi_i = np.nanmax(intensity) if np.isfinite(intensity).any() else 1.0
        intensity = np.where(np.isfinite(intensity), intensity, hi_i * 4)
        keys = [f"{pk!r}|{bw!r}" for pk, bw in zip(sub["peak_macs_per_s"], sub["dram_bytes_per_s"])]
        configs = [tuple(float(v) for v in k.split("|")) for k in dict.fromkeys(keys)]
        known = [(pk, bw) for pk, bw in configs if np.isfinite(pk) and np.isfinite(bw)]
        roofs = [(pk, bw, False) for pk, bw in known]
        if len(known) < len(configs):
            if observed:
                roofs.append((float(perf.max()), float((perf / intensity).max()), True))
            else:
                ax.plot([], [], " ", label="no roof: the model states no peak or DRAM bandwidth")
        ridge = [pk / bw for pk, bw, _ in roofs]
        lo = min([intensity.min(), *ridge]) / 4
        hi = max([intensity.max(), *ridge]) * 4
        xs = np.logspace(np.log10(lo), np.log10(hi), 200)
        pscale, punit = _rate_unit(max([perf.max(), *[r[0] for r in roofs]]))
        many = len(configs) > 1
        extra = []
        if not many and roofs and not roofs[0][2] and precision_roofs and "id" in sub.columns:
            extra = list(precision_roofs.get(str(sub["id"].iloc[0]), ()))
        if extra:  # the other precisions' peaks may be the highest: keep them in the units and the x range
            pscale, punit = _rate_unit(max([perf.max(), *[r[0] for r in roofs], *[pk for _, pk in extra]]))
            hi = max(hi, max(pk for _, pk in extra) / roofs[0][1] * 4)
            xs = np.logspace(np.log10(lo), np.log10(hi), 200)
        native = next((d for d, pk in extra if roofs and math.isclose(pk, roofs[0][0], rel_tol=1e-9)), None)
        extra = [(d, pk) for d, pk in extra if d != native]
        for i, (pk, bw, obs) in enumerate(roofs):
            colour = palette[i % len(palette)] if many else "black"
            ax.loglog(xs, np.minimum(pk, xs * bw) * pscale, color=colour, lw=1.5,
                      label=f"roof{' (observed)' if obs else ''}{f' {native}' if native else ''}: "
                            f"{pk * pscale:.3g} {punit}, "
                            + (f"{bw / 1e12:.3g} TB/s" if bw >= 1e12 else f"{bw / 1e9:.3g} GB/s"))
        for dtypes, pk in extra:
            bw = roofs[0][1]
            ax.loglog(xs, np.minimum(pk, xs * bw) * pscale, color="0.45", lw=1.0, ls="--",
                      label=f"roof {dtypes}: {pk * pscale:.3g} {punit}")
            ax.text(xs[-1], pk * pscale, f" {dtypes}", va="center", fontsize=7, color="0.3")
        if many:  # one colour per configuration: its roof and its layers
            for i, key in enumerate(dict.fromkeys(keys)):
                m = np.array([k == key for k in keys])
                ax.loglog(intensity[m], perf[m] * pscale, "o", ms=4, alpha=0.75, color=palette[i % len(palette)])
        else:
            ops = np.asarray(sub["op"].astype(str)) if "op" in sub.columns else np.array(["layer"] * len(sub))
            for op in dict.fromkeys(ops):
                m = ops == op
                ax.loglog(intensity[m], perf[m] * pscale, "o", ms=4, alpha=0.75, label=str(op))
        ax.set_title("\n".join(textwrap.wrap(str(arch), 48)), fontsize=9)
        ax.set_xlabel("Arithmetic intensity (MACs / DRAM byte)")
        ax.set_ylabel(f"Performance ({punit})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(archs):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def precision_peaks(roof) -> list[tuple[str, float]]:
    """``[(data types, peak MAC/s), ...]`` of a model's ``roof()``, one entry per distinct peak (data
    types with equal peaks joined: ``fp16/bf16``), highest first; the native type's entry is the one
    whose peak is the point's ``peak_macs_per_s``."""
    by_peak: dict[float, list[str]] = {}
    for dtype, peak in roof.macs_per_s.items():
        by_peak.setdefault(float(peak), []).append(str(dtype))
    return [("/".join(names), pk) for pk, names in sorted(by_peak.items(), reverse=True)]


def _rate_unit(value: float) -> tuple[float, str]:
    """Scale and unit of a MAC rate: GMAC/s or TMAC/s (MAC/s below 1 GMAC/s)."""
    for scale, unit in ((1e-12, "TMAC/s"), (1e-9, "GMAC/s"), (1e-6, "MMAC/s")):
        if value * scale >= 1.0:
            return scale, unit
    return 1.0, "MAC/s"


# --- per-layer breakdown -------------------------------------------------------------------------

#: layers drawn one bar each when no ``top`` is given; beyond it the slowest BREAKDOWN_AUTO_TOP and "other"
BREAKDOWN_AUTO_TOP = 40


def _rest_label(df) -> str:
    """What the non-compute part of a layer's latency is: launch overhead, fixed latency and memory
    on a GPU (its model times kernels, it does not stall), stall cycles elsewhere."""
    fams = set(df["family"].dropna().astype(str)) if "family" in df.columns else set()
    if fams == {"gpu"}:
        return "not compute: memory, launch overhead, fixed latency"
    if "gpu" in fams:
        return "stall (GPU: memory, launch overhead, fixed latency)"
    return "stall"


def _aggregate(df, top: int | None, by: str, extra: Sequence[str] = ()):
    """Rows to draw: one per layer, or per op (``by="op"``, summed); then the ``top`` slowest, the
    rest summed into one "other (N layers)" row (layers beyond :data:`BREAKDOWN_AUTO_TOP` by default)."""
    import pandas as pd

    num = ["latency_s", "cycles", "compute_cycles", "stall_cycles", "energy_j"] + \
        [c for c in df.columns if str(c).startswith("energy.")] + [c for c in extra if c not in ("latency_s", "energy_j")]
    df = df.copy()
    for c in num:
        df[c] = pd_float(df[c])
    if by == "op":
        _need(df, ["op"], "the per-op breakdown")
        counts = df.groupby("op", sort=False).size()
        df = df.groupby("op", sort=False, as_index=False)[num].sum()
        df["layer"] = [f"{op} ({counts[op]})" for op in df["op"]]
        df = df.sort_values("latency_s", ascending=False, kind="stable")
    elif by != "layer":
        raise AccelsimError(f"breakdown by {by!r}: expected 'layer' or 'op'")
    limit = top if top is not None else (BREAKDOWN_AUTO_TOP if len(df) > BREAKDOWN_AUTO_TOP else None)
    if limit is not None and len(df) > limit:
        order = df["latency_s"].sort_values(ascending=False, kind="stable").index
        keep, rest = df.loc[sorted(order[:limit], key=list(df.index).index)], df.loc[order[limit:]]
        other = {c: rest[c].sum() for c in num}
        other["layer"] = f"other ({len(rest)} {'ops' if by == 'op' else 'layers'})"
        df = pd.concat([keep, pd.DataFrame([other])], ignore_index=True)
    return df


def breakdown(layers, out: str | os.PathLike, point: str | None = None, title: str | None = None,
              top: int | None = None, by: str = "layer", y: str | None = None) -> Path:
    """Stacked per-layer latency (compute / the rest) and energy (by category) of one design point.

    ``top``: the N slowest layers (or ops), the rest summed in one bar (default: every layer up to
    :data:`BREAKDOWN_AUTO_TOP`, else the slowest of them); ``by="op"``: one bar per op (summed);
    ``y``: one panel of that per-layer column instead of latency and energy."""
    path = check_out(out)
    _need(layers, ["layer", "latency_s", "cycles", "compute_cycles", "stall_cycles", "energy_j"], "the breakdown plot")
    if top is not None and top < 1:
        raise AccelsimError(f"breakdown top must be >= 1; got {top}")
    df = layers
    if "id" in df.columns:
        ids = list(dict.fromkeys(df["id"]))
        if point is None:
            point = ids[0]
        if point not in ids:
            raise AccelsimError(f"point '{point}' is not in the per-layer table (ids: {', '.join(map(str, ids[:5]))}, ...)")
        df = df[df["id"] == point]
    if y is not None:
        check_column(df, y, "--y", "per-layer", numeric=True)
    # layers that cost nothing (reshapes, fused activations) would only widen the figure
    df = df[(df["latency_s"].astype(float) > 0) | (df["energy_j"].astype(float) > 0)]
    if df.empty:
        raise AccelsimError("the breakdown plot has no layer with a latency or an energy")
    rest = _rest_label(df)
    df = _aggregate(df, top, by, extra=[y] if y is not None else ())
    plt = _plt()
    names = df["layer"].astype(str).tolist()
    x = np.arange(len(names))
    width = min(24, max(6, 0.22 * len(names) + 2))
    if y is not None:
        vals = pd_float(df[y])
        scale, ylabel = axis_label(y, vals)
        fig, ax = plt.subplots(1, 1, figsize=(width, 4))
        ax.bar(x, np.nan_to_num(vals) * scale, color="#4c72b0")
        ax.set_ylabel(ylabel)
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=90, fontsize=7)
        if title:
            fig.suptitle(title)
        return _save(fig, path)
    cycles = df["cycles"].astype(float).to_numpy()
    lat = df["latency_s"].astype(float).to_numpy()
    frac_c = np.divide(df["compute_cycles"].astype(float).to_numpy(), cycles, out=np.ones_like(cycles), where=cycles > 0)
    frac_c = np.clip(frac_c, 0.0, 1.0)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(width, 7), sharex=True)
    scale, unit = _time_unit(lat.max() if len(lat) else 0)
    ax1.bar(x, lat * frac_c * scale, label="compute", color="#4c72b0")
    ax1.bar(x, lat * (1 - frac_c) * scale, bottom=lat * frac_c * scale, label=rest, color="#dd8452")
    ax1.set_ylabel(f"Latency ({unit})")
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
    ax2.set_ylabel(f"Energy ({eunit})")
    ax2.legend(fontsize=8, ncol=3)
    ax2.set_xticks(x)
    ax2.set_xticklabels(names, rotation=90, fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _time_unit(value: float) -> tuple[float, str]:
    for scale, unit in ((1e6, "µs"), (1e3, "ms")):
        if value * scale < 1e4:
            return scale, unit
    return 1.0, "s"


def _energy_unit(value: float) -> tuple[float, str]:
    for scale, unit in ((1e6, "µJ"), (1e3, "mJ")):
        if value * scale < 1e4:
            return scale, unit
    return 1.0, "J"


# --- Pareto scatter ------------------------------------------------------------------------------

def device_color(df) -> str | None:
    """The Pareto scatter's colour column when none is given: ``arch_name`` where the table holds several devices
    (points of different hardware are told apart), else None (``accelsim plot`` and ``accelsim report`` alike)."""
    return "arch_name" if "arch_name" in df.columns and df["arch_name"].nunique() > 1 else None


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

    path = check_out(out)
    for col, flag in ((x, "--x"), (y, "--y"), (color, "--color")):
        if col:
            check_column(df, col, flag, "results", numeric=flag != "--color")
    objectives = dict(objectives or {x: "min", y: "min"})
    data = _ok(df)
    data = data[data[x].notna() & data[y].notna()]
    if data.empty:
        raise AccelsimError(f"the Pareto plot has no points with both {x} and {y}")
    xscale, xlabel = axis_label(x, data[x])
    yscale, ylabel = axis_label(y, data[y])
    data = data.assign(**{x: pd_float(data[x]) * xscale, y: pd_float(data[y]) * yscale})
    logx = logx and bool((data[x] > 0).all())
    logy = logy and bool((data[y] > 0).all())
    arrows = {"min": "lower is better", "max": "higher is better"}
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
                               label=f"{color}={display_value(value)}")
        else:
            ax.scatter(part[x].astype(float), part[y].astype(float), s=18, alpha=0.5, color="grey", label="design points")
        f = front.sort_values(x)
        _draw_bands(ax, f, x, y, uncertainty)
        ax.plot(f[x].astype(float), f[y].astype(float), "-o", color="crimson", ms=6, mfc="none", lw=1.2,
                label=f"Pareto front ({len(front)} of {len(part)})")
        if logx:
            ax.set_xscale("log")
            _log_ticks(ax, "x")
        if logy:
            ax.set_yscale("log")
            _log_ticks(ax, "y")
        ax.set_xlabel(f"{xlabel}, {arrows[objectives.get(x, 'min')]}")
        ax.set_ylabel(f"{ylabel}, {arrows[objectives.get(y, 'min')]}")
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
                   uncertainty: Any = False, *, x: str = "compression_ratio", y: str = "speedup_vs_dense"):
    """Mean and std over seeds per (hardware, compression level) of the two speedups.

    Columns: the ``group_by`` columns (default: workload and batch where they vary; see
    :func:`accelsim.report.pareto.group_columns`), then ``hardware, level, ratio_mean, ratio_std,
    theoretical_mean, theoretical_std, real_mean, real_std, n``; plus ``error_median, error_worst``
    (the largest latency validation error of the group's families, :func:`band_fractions`) when
    ``uncertainty`` is not False and a band is known.
    ``level`` is the ``ratio`` column when given (e.g. a nominal ratio tag) else the ``recipe``;
    ``group`` (the curves) defaults to the arch name, so two devices of one family are never pooled.
    ``x`` (default ``compression_ratio``) and ``y`` (default ``speedup_vs_dense``, e.g.
    ``energy_saving_vs_dense``) fill the ``ratio_*`` and ``real_*`` columns.
    """
    import pandas as pd

    from accelsim.report.pareto import group_columns, groups

    _need(df, ["theoretical_speedup"], "the trade-off figure")
    check_column(df, x, "--x", "results", numeric=True)
    check_column(df, y, "--y", "results", numeric=True)
    data = _ok(df)
    group = group or next((c for c in ("arch_name", "arch", "family") if c in data.columns), "arch_name")
    level = ratio or "recipe"
    check_column(data, group, "--color", "results")
    if ratio is None and "recipe" not in data.columns:  # (a dense sweep: named as the option the user never gave)
        raise AccelsimError("the trade-off figure needs at least two compression levels (recipe); the table has no "
                            "recipe column: a sweep of one or more recipes draws it")
    check_column(data, level, "ratio", "results")
    if ratio is None:  # a recipe's parameters swept (recipe.prune.density) are levels of their own, not seeds
        params = [c for c in data.columns if str(c).startswith("recipe.") and data[c].nunique(dropna=True) > 1]
        if params:
            level = "_level"
            data = data.assign(_level=[", ".join([str(r)] + [f"{c[len('recipe.'):]}={v}" for c, v in zip(params, vals)
                                                              if v == v and v is not None])
                                       for r, *vals in zip(data["recipe"], *(data[c] for c in params))])
    gcols = [c for c in group_columns(data, group_by) if c not in (group, level)]
    med_all, worst_all = band_fractions(data, y, uncertainty)
    has_band = bool(np.isfinite(med_all).any() or np.isfinite(worst_all).any())
    data = data.assign(_med=med_all, _worst=worst_all)
    rows = []
    for key, part in groups(data, gcols):
        for (hw, lev), sub in part.groupby([group, level], sort=False):
            real = pd.Series(pd_float(sub[y]), index=sub.index)
            xs = pd.Series(pd_float(sub[x]), index=sub.index)
            row = {
                **key, "hardware": hw, "level": lev, "n": int(len(sub)),
                "ratio_mean": float(xs.mean()),
                "ratio_std": float(xs.std(ddof=0)),
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
             title: str | None = None, group_by: Any = "auto", uncertainty: Any = None, *,
             x: str = "compression_ratio", y: str = "speedup_vs_dense") -> Path:
    """Compression ratio (x) vs theoretical and real speedup (y) per hardware, mean +/- std over seeds.

    One curve per ``group`` value (default the arch name); one panel per ``group_by`` group (default:
    workload and batch where they vary). ``y`` is any result column (``energy_saving_vs_dense``...),
    ``x`` the compression measure (default ``compression_ratio``). Each real curve is shaded by its
    family's validation error (:func:`band_fractions`): the median (darker) and the worst (lighter);
    ``uncertainty=False``: no shading. Fewer than two compression levels is refused (nothing to trade).
    """
    from accelsim.report.pareto import group_label, groups

    path = check_out(out)
    table = tradeoff_table(df, group, ratio, group_by=group_by, uncertainty=uncertainty, x=x, y=y)
    if table.empty:
        raise AccelsimError("the trade-off figure has no successful compressed points")
    levels = list(dict.fromkeys(table["level"]))
    if len(levels) < 2:
        raise AccelsimError(f"the trade-off figure needs at least two compression levels ({ratio or 'recipe'}); "
                            f"the table has {len(levels)}: {', '.join(map(str, levels))}")
    if not np.isfinite(table["real_mean"].to_numpy(dtype=float)).any():
        raise AccelsimError(f"the trade-off figure has no point with a value of {y} (empty in every row: a "
                            "baseline the hardware cannot run, e.g. dense weights on EIE)")
    gcols = [c for c in table.columns if c not in _TRADEOFF_COLUMNS]
    parts = groups(table, gcols)
    plt = _plt()
    ncols = min(2, len(parts))
    nrows = math.ceil(len(parts) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 6.6 * nrows), squeeze=False)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    hardware = list(dict.fromkeys(table["hardware"]))
    band = "latency" if _band_metric(y) == "latency_s" else "energy"
    default_title = ("FLOP reduction is not speedup" if y == "speedup_vs_dense"
                     else "FLOP reduction is not energy saving" if y == "energy_saving_vs_dense"
                     else f"{axis_label(y)[1]} against {axis_label(x)[1].lower()}")
    from matplotlib.ticker import FuncFormatter

    for ax, (key, part) in zip(axes.flat, parts):
        theo = part.groupby("level", sort=False).agg(
            x=("ratio_mean", "mean"), y=("theoretical_mean", "mean"), e=("theoretical_std", "max")).sort_values("x")
        seeds = int(part["n"].max()) > 1
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
                        fmt="-" + markers[i % len(markers)], capsize=3, ms=5, color=c,
                        label=display_value(hw) + (f" (mean +/- std over {int(sub['n'].max())} points)" if seeds else ""))
            for col, alpha, what in (("error_worst", 0.12, "worst"), ("error_median", 0.25, "median")):
                if col in sub.columns and np.isfinite(sub[col]).any():
                    frac = sub[col].fillna(0.0).clip(upper=0.999).to_numpy()
                    mean = sub["real_mean"].to_numpy()
                    ax.fill_between(sub["ratio_mean"], mean * (1 - frac), mean * (1 + frac), color=c, alpha=alpha, lw=0,
                                    label=f"{hw}: {what} {band} validation error ({np.nanmax(sub[col]):.0%})")
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("Compression ratio (weights / non-zero weights)" if x == "compression_ratio" else axis_label(x)[1])
        ax.set_ylabel(axis_label(y)[1])
        ax.grid(True, which="both", alpha=0.3)
        # Below the axes: inside, the legend of curves and bands hides the curves it names.
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
        label = group_label(key)
        if len(parts) > 1:
            ax.set_title(label, fontsize=10)
        else:
            ax.set_title((title or default_title) + (f"\n{label}" if label else ""), fontsize=10)
    for ax in list(axes.flat)[len(parts):]:
        ax.set_visible(False)
    if len(parts) > 1:
        fig.suptitle(title or default_title)
    fig.tight_layout()
    return _save(fig, path)


_TRADEOFF_COLUMNS = ("hardware", "level", "n", "ratio_mean", "ratio_std", "theoretical_mean", "theoretical_std",
                     "real_mean", "real_std", "error_median", "error_worst")


def save_both(fn, *args, out_stem: str | os.PathLike, **kwargs) -> list[Path]:
    """Call a plot function twice, writing ``<stem>.png`` and ``<stem>.svg``."""
    stem = Path(out_stem)
    return [fn(*args, out=stem.with_suffix(ext), **kwargs) for ext in (".png", ".svg")]


__all__: Sequence[str] = ["BAND_COLUMNS", "ENERGY_METRICS", "LATENCY_METRICS", "band_fractions", "breakdown", "layers_frame", "pareto_scatter",
                          "roofline", "save_both", "tradeoff", "tradeoff_table"]
