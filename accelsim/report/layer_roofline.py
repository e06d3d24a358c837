"""Roofline picture of one run's GEMM layers, dense vs compressed, under given roofs.

x: arithmetic intensity (dense-equivalent FLOP per DRAM byte); y: achieved dense-equivalent TFLOP/s
(2 x dense MACs / latency). Each roof is drawn as ``min(peak, DRAM bytes/s x intensity)``. The peaks
and the bandwidth come from the caller (the model's ``roof()``; see
:mod:`accelsim.cli.roofline`), so this module only draws :class:`NetworkResult` values.
"""

from __future__ import annotations

from typing import Sequence

from accelsim.report.results import NetworkResult
from accelsim.workload.layers import GEMM_OPS

# (label, peak in FLOP/s, matplotlib line style), e.g. ("bf16", 9.89e14, "-")
Roof = tuple[str, float, str]


def roofline_points(result: NetworkResult) -> list[tuple[str, float, float, str]]:
    """(layer, FLOP/byte, TFLOP/s, bound) for every GEMM layer of a NetworkResult that takes time."""
    pts = []
    for r in result.layers:
        if r.op not in GEMM_OPS or r.latency_s <= 0:
            continue
        flops = 2.0 * r.macs
        traffic = max(1.0, r.dram_read_bytes + r.dram_write_bytes)
        pts.append((r.name, flops / traffic, flops / r.latency_s / 1e12, r.extra.get("bound", "")))
    return pts


def layer_roofline(out: str, roofs: Sequence[Roof], dram_bytes_per_s: float, dense: NetworkResult, dense_label: str,
                 compressed: NetworkResult | None = None, compressed_label: str | None = None, title: str = "") -> str:
    """Draw the roofs and the GEMM layers of ``dense`` (blue circles) and ``compressed`` (red
    triangles, when given) to ``out`` (PNG at 120 dpi, or any suffix matplotlib writes); return ``out``.

    ``roofs``: (label, peak FLOP/s, line style) each; ``dram_bytes_per_s``: the DRAM bandwidth in
    bytes/s. Intensities span 1 to 1e4 FLOP/byte.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 5.5))
    x = np.logspace(0, 4, 200)
    for label, peak, style in roofs:
        ax.plot(x, np.minimum(peak, dram_bytes_per_s * x) / 1e12, style, color="0.35", lw=1)
        ax.text(x[-1], peak / 1e12, f" {label} {peak / 1e12:.0f}", va="center", fontsize=8)
    series = [(dense, dense_label, "tab:blue", "o")]
    if compressed is not None:
        series.append((compressed, compressed_label, "tab:red", "^"))
    for res, label, color, marker in series:
        pts = roofline_points(res)
        ax.scatter([p[1] for p in pts], [p[2] for p in pts], s=18, color=color, marker=marker, alpha=0.8, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (dense-equivalent FLOP / DRAM byte)")
    ax.set_ylabel("achieved dense-equivalent TFLOP/s")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=9)
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
