"""ShrinkBench's figures with accuracy (Blalock et al., "What is the State of Neural Network Pruning?",
MLSys 2020): accuracy against compression ratio, and accuracy against the REAL speedup on each
hardware family, with the theoretical (FLOP) speedup dashed beside it.

Input: a sweep table with accuracy columns (``evaluate:`` in the spec, :mod:`accelsim.dse.accuracy`),
one line per method (``method`` column, default ``tag.method``), one marker per compression level
(``level`` column, default ``tag.level``). Every point of a (family, method, level) is one seed (one
trained model and recipe seed): markers are the mean over them and error bars one standard deviation
(ddof 1). Only ``status == ok`` rows count.

* x of the compression figure: ``shrinkbench.compression_ratio`` (original weights / non-zero
  weights, counted on the original graph so channel pruning counts) or, with
  ``ratio="shrinkbench.storage_ratio"``, 32-bit dense bits / stored bits (quantization too);
  ``compression_ratio`` of a table without them.
* speedup figure: ``speedup_vs_dense`` (simulated dense latency / compressed latency on that hardware)
  solid with markers; ``shrinkbench.theoretical_speedup`` (or ``theoretical_speedup``) dashed.
* the dense model's accuracy (``dense_accuracy.<metric>``) as a dotted grey line.
* ``recovery``: a column whose values split each method into lines with and without fine-tuning,
  as ShrinkBench plots them: the first value in table order dotted, the others solid.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from accelsim.errors import AccelsimError
from accelsim.report.plots import _check_out, _need, _ok, _plt, _save

METHOD, LEVEL = "tag.method", "tag.level"
MARKERS = "osD^vP*Xh<>"


def _ratio_col(df, ratio: str | None) -> str:
    if ratio:
        return ratio
    return "shrinkbench.compression_ratio" if "shrinkbench.compression_ratio" in df.columns else "compression_ratio"


def _theory_col(df) -> str:
    return "shrinkbench.theoretical_speedup" if "shrinkbench.theoretical_speedup" in df.columns else "theoretical_speedup"


def summary(df, metric: str = "accuracy.top1", method: str = METHOD, level: str = LEVEL,
            columns: Sequence[str] = (), by: Sequence[str] = ("family",)):
    """Mean, std (ddof 1; 0 for one seed) and count per ``(*by, method, level)`` of ``metric`` and ``columns``."""
    import pandas as pd

    df = _ok(df)
    keys = [k for k in by if k in df.columns] + [method, level]
    cols = [metric, *[c for c in columns if c != metric]]
    _need(df, [*keys, *cols], "the ShrinkBench figure")
    if df.empty:
        raise AccelsimError("the ShrinkBench figure needs at least one row with status ok")
    rows = []
    for key, part in df.groupby(keys, sort=True, dropna=False):
        row = dict(zip(keys, key))
        for c in cols:
            v = pd.to_numeric(part[c], errors="coerce").dropna()
            row[f"{c}.mean"] = float(v.mean()) if len(v) else np.nan
            row[f"{c}.std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        row["n"] = len(part)
        rows.append(row)
    return pd.DataFrame(rows)


def _styles(methods: Sequence[str]) -> dict[str, tuple]:
    plt = _plt()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: (colors[i % len(colors)], MARKERS[i % len(MARKERS)]) for i, m in enumerate(methods)}


def _dense_line(ax, df, metric: str) -> None:
    col = "dense_" + metric
    if col in df.columns:
        v = df[col].dropna()
        if len(v):
            ax.axhline(float(v.mean()), color="0.5", ls=":", lw=1, label=f"dense ({float(v.mean()):.3f})")


def _log_x(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _draw_compression(ax, df, metric, ratio, method, level, recovery, styles) -> None:
    groups = [None] if not recovery else list(dict.fromkeys(df[recovery].dropna().astype(str)))  # table order
    for gi, g in enumerate(groups):
        part = df if g is None else df[df[recovery].astype(str) == g]
        if part.empty:
            continue
        s = summary(part, metric, method, level, [ratio], by=())
        for m, sub in s.groupby(method, sort=False):
            sub = sub.sort_values(f"{ratio}.mean")
            color, marker = styles[m]
            label = m if g is None else f"{m} ({recovery.split('.')[-1]}: {g})"
            ax.errorbar(sub[f"{ratio}.mean"], sub[f"{metric}.mean"], yerr=sub[f"{metric}.std"], color=color,
                        marker=marker, ms=4, capsize=3, lw=1.3, ls=":" if recovery and gi == 0 else "-", label=label)
    _dense_line(ax, df, metric)
    _log_x(ax)
    ax.set_ylabel(metric)
    ax.grid(True, which="both", alpha=0.3)


def _family_rows(df, family: str | None):
    if "family" not in df.columns:
        return df, None
    if family is None:  # the family with the most methods (first in table order on ties)
        counts = df.groupby("family", sort=False)[METHOD if METHOD in df.columns else df.columns[0]].nunique()
        family = str(counts.idxmax())
    if family not in set(df["family"].astype(str)):
        raise AccelsimError(f"the table has no rows of family '{family}'; families: {', '.join(sorted(df['family'].astype(str).unique()))}")
    return df[df["family"].astype(str) == family], family


def accuracy_vs_compression(df, out: str | os.PathLike, metric: str = "accuracy.top1", ratio: str | None = None,
                            method: str = METHOD, level: str = LEVEL, family: str | None = None,
                            recovery: str | None = None, title: str | None = None) -> Path:
    """Accuracy (mean +/- std over seeds) against compression ratio, one line per method.

    Rows of one hardware ``family`` (default: the one with the most methods; accuracy depends on the
    recipe, not on the hardware, except where a family runs its own recipes, as EIE's shared weights).
    """
    path = _check_out(out)
    df = _ok(df)
    ratio = _ratio_col(df, ratio)
    _need(df, [metric, ratio, method, level], "the accuracy-vs-compression figure")
    df, fam = _family_rows(df, family)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _draw_compression(ax, df, metric, ratio, method, level, recovery, _styles(sorted(df[method].dropna().unique())))
    ax.set_xlabel("compression ratio (original weights / non-zero weights)" if ratio.endswith("compression_ratio")
                  else ("storage compression (32-bit dense bits / stored bits)" if ratio.endswith("storage_ratio") else ratio))
    ax.legend(fontsize=7, loc="best")
    n = int(df.groupby([method, level]).size().max())
    ax.set_title(title or f"{metric} vs compression ({fam or 'all rows'}; mean +/- std of {n} seeds)", fontsize=10)
    return _save(fig, path)


def accuracy_vs_speedup(df, out: str | os.PathLike, metric: str = "accuracy.top1", method: str = METHOD,
                        level: str = LEVEL, families: Sequence[str] | None = None, title: str | None = None) -> Path:
    """One panel per hardware family: accuracy against the simulated speedup over dense (solid, markers,
    error bars over seeds on both axes) and against the theoretical speedup (dashed), per method."""
    path = _check_out(out)
    df = _ok(df)
    theory = _theory_col(df)
    _need(df, [metric, "speedup_vs_dense", theory, method, level, "family"], "the accuracy-vs-speedup figure")
    fams = list(families) if families else list(dict.fromkeys(df["family"].astype(str)))
    styles = _styles(sorted(df[method].dropna().unique()))
    plt = _plt()
    fig, axes = plt.subplots(1, len(fams), figsize=(4.6 * len(fams), 4.4), sharey=True, squeeze=False)
    for ax, fam in zip(axes[0], fams):
        part = df[df["family"].astype(str) == fam]
        if part.empty:
            raise AccelsimError(f"the table has no rows of family '{fam}'")
        s = summary(part, metric, method, level, ["speedup_vs_dense", theory], by=())
        archs = ", ".join(sorted(part["arch_name"].astype(str).unique())) if "arch_name" in part.columns else fam
        for m, sub in s.groupby(method, sort=False):
            sub = sub.sort_values(f"{theory}.mean")
            color, marker = styles[m]
            ok = sub["speedup_vs_dense.mean"].notna()
            ax.errorbar(sub.loc[ok, "speedup_vs_dense.mean"], sub.loc[ok, f"{metric}.mean"],
                        xerr=sub.loc[ok, "speedup_vs_dense.std"], yerr=sub.loc[ok, f"{metric}.std"], color=color,
                        marker=marker, ms=4, capsize=3, lw=1.3, label=m)
            ax.plot(sub[f"{theory}.mean"], sub[f"{metric}.mean"], color=color, ls="--", lw=0.9, alpha=0.7)
        _dense_line(ax, part, metric)
        _log_x(ax)
        ax.set_xlabel("speedup over dense")
        ax.set_title(f"{fam}: {archs}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(metric)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title or f"{metric} vs speedup - solid: simulated on the hardware, dashed: theoretical (FLOPs); "
                 "mean +/- std over seeds", fontsize=11)
    return _save(fig, path)


def shrinkbench(df, out: str | os.PathLike, metric: str = "accuracy.top1", method: str = METHOD,
                level: str = LEVEL, title: str | None = None) -> Path:
    """Both figures in one file (``accelsim plot RESULTS --kind shrinkbench``): accuracy vs compression
    ratio, then accuracy vs real speedup on each family."""
    path = _check_out(out)
    df = _ok(df)
    ratio = _ratio_col(df, None)
    theory = _theory_col(df)
    _need(df, [metric, ratio, theory, "speedup_vs_dense", method, level, "family"], "the ShrinkBench figure")
    fams = list(dict.fromkeys(df["family"].astype(str)))
    styles = _styles(sorted(df[method].dropna().unique()))
    plt = _plt()
    fig, axes = plt.subplots(1, 1 + len(fams), figsize=(4.4 * (1 + len(fams)), 4.2), squeeze=False)
    rows, fam = _family_rows(df, None)
    _draw_compression(axes[0][0], rows, metric, ratio, method, level, None, styles)
    axes[0][0].set_xlabel("compression ratio (weights / non-zero)")
    axes[0][0].set_title(f"vs compression ({fam})", fontsize=10)
    for ax, f in zip(axes[0][1:], fams):
        part = df[df["family"].astype(str) == f]
        s = summary(part, metric, method, level, ["speedup_vs_dense", theory], by=())
        for m, sub in s.groupby(method, sort=False):
            sub = sub.sort_values(f"{theory}.mean")
            color, marker = styles[m]
            ok = sub["speedup_vs_dense.mean"].notna()
            ax.errorbar(sub.loc[ok, "speedup_vs_dense.mean"], sub.loc[ok, f"{metric}.mean"],
                        yerr=sub.loc[ok, f"{metric}.std"], color=color, marker=marker, ms=4, capsize=3, lw=1.3)
            ax.plot(sub[f"{theory}.mean"], sub[f"{metric}.mean"], color=color, ls="--", lw=0.9, alpha=0.7)
        _dense_line(ax, part, metric)
        _log_x(ax)
        ax.set_xlabel("speedup over dense")
        ax.set_title(f"vs speedup on {f}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title or f"{metric}: mean +/- std over seeds; speedup solid: simulated, dashed: theoretical",
                 fontsize=11)
    return _save(fig, path)


__all__ = ["accuracy_vs_compression", "accuracy_vs_speedup", "shrinkbench", "summary"]
