"""The ShrinkBench example end to end, offline, in about a minute on two cores.

    python examples/digits/run.py                   # models, sweep, recovery, figures
    python examples/digits/run.py --figures docs    # where the PNGs go (default: docs)

1. trains the digits CNN for seeds 0, 1, 2 (``digits.py``; skipped when the models exist);
2. runs ``shrinkbench.yaml`` (6 methods x 5 levels x 3 seeds on edge-32x32, a100-40gb and a 4-PE EIE,
   with ``evaluate:``) into ``examples/digits/runs/digits``;
3. recovery: the per-layer magnitude and random points again on the systolic array, the torch
   models fine-tuned for ``--epochs`` epochs with the mask held fixed (Python API:
   ``AccuracyEvaluator(model={workload: nn.Module}, recovery={...})``) into ``examples/digits/runs/digits-recovery``;
4. draws ``digits-accuracy-compression.png``, ``digits-accuracy-storage.png``,
   ``digits-accuracy-speedup.png`` and ``digits-recovery.png`` and prints the numbers behind them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", default=str(ROOT / "docs"))
    ap.add_argument("--runs", default=str(HERE / "runs"))
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args(argv)

    import os

    os.chdir(ROOT)  # the spec's paths are relative to the repository root
    import pandas as pd
    import torch

    import accelsim
    from accelsim.dse.accuracy import AccuracyEvaluator
    from accelsim.dse.space import read_spec
    from accelsim.report.shrinkbench import accuracy_vs_compression, accuracy_vs_speedup, summary

    sys.path.insert(0, str(HERE))
    import digits

    torch.set_num_threads(1)  # tiny models: more threads only contend
    models = HERE / "models"
    if not all((models / f"cnn-s{s}.onnx").exists() for s in digits.SEEDS):
        digits.main(["--out", str(models)])

    runs = Path(args.runs)
    t0 = time.perf_counter()
    spec = read_spec(HERE / "shrinkbench.yaml")
    df = accelsim.sweep(spec, store=runs / "digits", resume=True, progress=False)
    print(f"sweep: {time.perf_counter() - t0:.1f} s, {len(df)} points, {int((df['status'] == 'ok').sum())} ok")

    # recovery: the same recipes, fine-tuned torch models
    rec_spaces = [s for s in spec["spaces"] if s["name"] in ("random", "magnitude")]
    rec_spec = {"name": "digits-recovery", "base": {"batch": 1},
                "spaces": [{**s, "grid": {"arch": ["edge-32x32"]}} for s in rec_spaces]}
    t0 = time.perf_counter()
    nets = {}
    for s in digits.SEEDS:
        net = digits.build()
        net.load_state_dict(torch.load(models / f"cnn-s{s}.pt"))
        nets[f"examples/digits/models/cnn-s{s}.onnx"] = net
    ev = AccuracyEvaluator(data=str(models / "test.npz"), model=nets, metrics=["top1", "top5"],
                           recovery={"epochs": args.epochs, "data": str(models / "train.npz"), "lr": 1e-3})
    rec = accelsim.sweep(rec_spec, evaluate=ev, store=runs / "digits-recovery", resume=True, progress=False)
    print(f"recovery: {time.perf_counter() - t0:.1f} s, {len(rec)} points, {ev.evaluations} fine-tunes of {args.epochs} epochs")

    fig = Path(args.figures)
    fig.mkdir(parents=True, exist_ok=True)
    both = pd.concat([df[(df["family"] == "systolic") & df["tag.method"].isin(["random", "magnitude (per layer)"])]
                      .assign(**{"tag.recovery": "none"}),
                      rec.assign(**{"tag.recovery": f"{args.epochs} epochs"})], ignore_index=True)
    print("wrote", accuracy_vs_compression(df, fig / "digits-accuracy-compression.png"))
    print("wrote", accuracy_vs_compression(df, fig / "digits-accuracy-storage.png", ratio="shrinkbench.storage_ratio"))
    print("wrote", accuracy_vs_speedup(df, fig / "digits-accuracy-speedup.png"))
    print("wrote", accuracy_vs_compression(both, fig / "digits-recovery.png", recovery="tag.recovery",
                                           title="accuracy.top1 with and without recovery (edge-32x32 rows; 3 seeds)"))

    pd.set_option("display.width", 200)
    cols = ["shrinkbench.compression_ratio", "speedup_vs_dense", "shrinkbench.theoretical_speedup"]
    s = summary(df, "accuracy.top1", columns=cols)
    print("dense top-1 (mean of 3 seeds): %.4f" % df["dense_accuracy.top1"].mean())
    print(s.round(4).to_string(index=False))
    r = summary(both, "accuracy.top1", columns=cols[:1], by=("tag.recovery",))
    print(r.round(4).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
