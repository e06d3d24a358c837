"""Roofline picture of a workload's GEMM layers on one arch, dense vs a compression recipe.

``python -m accelsim.cli.roofline --arch h100-sxm --workload resnet50 --recipe 2of4-int8 --batch 32
--out docs/roofline_resnet50_h100.png`` (that file is tracked: the default ``--out`` is
``roofline.png`` in the current directory). ``accelsim plot RESULT.json --kind roofline`` draws the
same roofs for one ``simulate --format json`` result. Runs :func:`accelsim.simulate.simulate` and draws with
:func:`accelsim.report.layer_roofline.layer_roofline`. x: arithmetic intensity (dense-equivalent FLOP per
DRAM byte); y: achieved dense-equivalent TFLOP/s (2 x dense MACs / latency). Roofs, from the model's
``roof()``: each data type's dense and structured-sparse (e.g. 2:4) peaks and the DRAM bandwidth; any
family whose model sets a DRAM bandwidth can be drawn.
"""

from __future__ import annotations

import argparse
import sys

from accelsim.report.layer_roofline import Roof, layer_roofline


def roofs_of(roof, result) -> list[Roof]:
    """The native data type's roof, then (sorted) every other data type the run used (the layers'
    ``extra["dtype"]``), each followed by its structured-sparse roof where the hardware has one;
    peaks in FLOP/s (2 x the model's peak MACs/s)."""
    native = roof.native_dtype
    out = [(native, 2.0 * roof.macs_per_s[native], "-")]
    used = {lr.extra.get("dtype") for lr in result.layers} - {None, native}
    for d in sorted(used):
        out.append((d, 2.0 * roof.macs_per_s[d], "--"))
        if d in roof.sparse_macs_per_s:
            out.append((f"{d} {roof.sparse_pattern}", 2.0 * roof.sparse_macs_per_s[d], ":"))
    return out


def roofline_figure(arch: str, workload: str, recipe: str | None, batch: int, out: str, seed: int = 0) -> str:
    """Simulate ``workload`` (with ``recipe`` and its dense baseline, where the hardware runs it) on
    ``arch`` and write the figure to ``out``."""
    from accelsim.hw.registry import build_model, load_arch
    from accelsim.simulate import simulate

    cfg = load_arch(arch)
    roof = build_model(cfg).roof()
    if roof.dram_bytes_per_s is None:
        from accelsim.errors import ConfigError

        raise ConfigError(f"{arch}: the model sets no DRAM bandwidth, so a roofline has no memory roof")
    result = simulate(cfg, workload, recipe=recipe, batch=batch, seed=seed)
    dense = result.dense if recipe is not None else result
    speed = result.total.get("speedup_vs_dense")
    title = f"{workload} GEMM layers on {arch}, batch {batch}"
    if speed:
        title += f" (network speedup {speed:.2f}x incl. element-wise layers)"
    roofs = roofs_of(roof, result)
    if dense is None:  # the hardware cannot run the uncompressed workload (e.g. EIE): the recipe alone
        return layer_roofline(out, roofs, roof.dram_bytes_per_s, result, str(recipe), title=title)
    return layer_roofline(out, roofs, roof.dram_bytes_per_s, dense, f"dense ({roof.native_dtype})",
                          compressed=result if recipe is not None else None, compressed_label=recipe, title=title)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m accelsim.cli.roofline", description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="h100-sxm")
    p.add_argument("--workload", default="resnet50")
    p.add_argument("--recipe", default="2of4-int8")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out", default="roofline.png", help="figure file (default roofline.png; the docs figure is "
                                                         "docs/roofline_resnet50_h100.png)")
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
