"""Roofline picture of a workload's GEMM layers on one GPU, dense vs a compression recipe.

``python -m accelsim.hw.gpu.plot --arch h100-sxm --workload resnet50 --recipe 2of4-int8 --batch 32
--out docs/roofline_resnet50_h100.png``. x: arithmetic intensity (dense-equivalent FLOP per DRAM
byte); y: achieved dense-equivalent TFLOP/s (2 x dense MACs / latency). Roofs: each data type's dense
and 2:4 peaks and the DRAM bandwidth.
"""

from __future__ import annotations

import argparse
import sys

from accelsim.workload.layers import GEMM_OPS


def roofline_points(result) -> list[tuple[str, float, float, str]]:
    """(layer, FLOP/byte, TFLOP/s, bound) for every GEMM layer of a NetworkResult."""
    pts = []
    for r in result.layers:
        if r.op not in GEMM_OPS or r.latency_s <= 0:
            continue
        flops = 2.0 * r.macs
        traffic = max(1.0, r.dram_read_bytes + r.dram_write_bytes)
        pts.append((r.name, flops / traffic, flops / r.latency_s / 1e12, r.extra.get("bound", "")))
    return pts


def roofline_figure(arch: str, workload: str, recipe: str | None, batch: int, out: str, seed: int = 0) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from accelsim.hw.registry import load_arch
    from accelsim.simulate import simulate

    cfg = load_arch(arch)
    result = simulate(cfg, workload, recipe=recipe, batch=batch, seed=seed)
    dense = result.dense if recipe is not None else result
    fig, ax = plt.subplots(figsize=(8, 5.5))
    bw = cfg.dram_gbs * 1e9
    x = np.logspace(0, 4, 200)
    roofs = [(cfg.native_dtype, cfg.peak_flops(cfg.native_dtype), "-")]
    dts = {lr.extra.get("dtype") for lr in result.layers} - {None, cfg.native_dtype}
    for d in sorted(dts):
        roofs.append((d, cfg.peak_flops(d), "--"))
        if cfg.sparse_tensor_cores and d in cfg.tensor_flops_per_clk_per_sm:
            roofs.append((f"{d} 2:4", 2 * cfg.peak_flops(d), ":"))
    for label, peak, style in roofs:
        ax.plot(x, np.minimum(peak, bw * x) / 1e12, style, color="0.35", lw=1)
        ax.text(x[-1], peak / 1e12, f" {label} {peak / 1e12:.0f}", va="center", fontsize=8)
    series = [(dense, f"dense ({cfg.native_dtype})", "tab:blue", "o")]
    if recipe is not None:
        series.append((result, recipe, "tab:red", "^"))
    for res, label, color, marker in series:
        pts = roofline_points(res)
        ax.scatter([p[1] for p in pts], [p[2] for p in pts], s=18, color=color, marker=marker, alpha=0.8, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (dense-equivalent FLOP / DRAM byte)")
    ax.set_ylabel("achieved dense-equivalent TFLOP/s")
    speed = result.total.get("speedup_vs_dense")
    title = f"{workload} GEMM layers on {arch}, batch {batch}"
    if speed:
        title += f" (network speedup {speed:.2f}x incl. element-wise layers)"
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=9)
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m accelsim.hw.gpu.plot", description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="h100-sxm")
    p.add_argument("--workload", default="resnet50")
    p.add_argument("--recipe", default="2of4-int8")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out", default="docs/roofline_resnet50_h100.png")
    args = p.parse_args(argv)
    from accelsim.errors import AccelsimError

    try:
        print(roofline_figure(args.arch, args.workload, args.recipe, args.batch, args.out))
    except AccelsimError as exc:
        sys.stderr.write(f"accelsim: error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
