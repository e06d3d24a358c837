"""Measure a real GPU and compare with accelsim's GPU model (run it where a CUDA GPU is present).

Times, over a grid of shapes and sparsities:
  * torch dense matmul (``x @ W.T``) in fp16 / bf16 / fp32,
  * torch sparse CSR matmul (``torch.sparse.mm`` with a CSR weight, fp32; cuSPARSE SpMM / SpMV),
  * 2:4 semi-structured sparse matmul (``torch.sparse.to_sparse_semi_structured``, fp16; CUTLASS or
    cuSPARSELt kernels), where the GPU and the torch build support it,
and writes one CSV row per case with the measured time next to accelsim's prediction for the
matching bundled config (``--arch``, default chosen from the device name), so
``docs/validation.md (GPU section)`` can record predicted against measured with the device named.

    python benchmarks/gpu_measure.py --out gpu_measure.csv            # full grid (~5 min on an H100)
    python benchmarks/gpu_measure.py --quick --out gpu_measure.csv    # a few cases
    python benchmarks/gpu_measure.py --dry-run                         # print the grid and predictions only

Timing: CUDA events around ``--iters`` back-to-back calls after ``--warmup`` calls; the median of
``--repeats`` such runs is reported (seconds per call). No GPU -> exit 3 with one line (unless
``--dry-run``).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys

DENSE_SHAPES = (  # (tokens M, out N, in K)
    (1, 4096, 4096), (1, 11008, 4096), (8, 4096, 4096), (64, 4096, 4096), (64, 4096, 9216),
    (1024, 1024, 1024), (2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192),
    (2304, 1536, 4096), (2304, 1544, 4096), (3072, 3072, 10240), (1024, 10240, 5120), (2048, 2048, 13312),
)
SPARSE_SHAPES = ((1, 4096, 4096), (1, 4096, 9216), (1, 1000, 4096), (64, 4096, 4096), (64, 1000, 4096),
                 (1, 4096, 25088), (512, 4096, 4096))
DENSITIES = (0.01, 0.04, 0.09, 0.25, 0.5)
SEMI_SHAPES = ((3072, 3072, 10240), (4096, 4096, 4096), (8192, 8192, 8192), (512, 4096, 4096), (64, 4096, 4096))
QUICK = {"dense": DENSE_SHAPES[:3] + DENSE_SHAPES[7:8] + DENSE_SHAPES[11:12], "sparse": SPARSE_SHAPES[:2],
         "densities": (0.09,), "semi": SEMI_SHAPES[:1]}


def pick_arch(device_name: str) -> str:
    name = device_name.lower()
    for key, arch in (("h100", "h100-sxm"), ("h200", "h100-sxm"), ("a100", "a100-80gb"), ("v100", "v100"),
                      ("orin", "jetson-agx-orin"), ("titan x", "titan-x-maxwell")):
        if key in name:
            return arch
    return "h100-sxm"


def predict(arch: str, kind: str, m: int, n: int, k: int, dtype: str, density: float = 1.0, seed: int = 0) -> tuple[float, str]:
    """accelsim's predicted seconds and kernel for one case."""
    import numpy as np

    from accelsim.hw.gpu import kernel_models as km
    from accelsim.hw.registry import load_arch

    cfg = load_arch(arch)
    if kind == "dense":
        est = km.gemv(cfg, n, k, dtype) if m == 1 else km.gemm(cfg, m, n, k, 1, dtype)
    elif kind == "csr":
        import scipy.sparse as sp

        w = sp.random(n, k, density=density, format="csr", random_state=seed, dtype=np.float32)
        est = km.csr_spmm(cfg, w, batch=m, dtype="fp32")
    else:
        est = km.gemm(cfg, m, n, k, 1, dtype, sparse24=True)
    return est.time_s, est.kernel


def _time(fn, warmup: int, iters: int, repeats: int) -> float:
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    runs = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        torch.cuda.synchronize()
        runs.append(start.elapsed_time(end) / 1e3 / iters)
    return statistics.median(runs)


def cases(quick: bool):
    dense = QUICK["dense"] if quick else DENSE_SHAPES
    sparse = QUICK["sparse"] if quick else SPARSE_SHAPES
    dens = QUICK["densities"] if quick else DENSITIES
    semi = QUICK["semi"] if quick else SEMI_SHAPES
    for m, n, k in dense:
        for dt in (("bf16",) if quick else ("fp16", "bf16", "fp32")):
            yield ("dense", m, n, k, dt, 1.0)
    for m, n, k in sparse:
        for d in dens:
            yield ("csr", m, n, k, "fp32", d)
    for m, n, k in semi:
        yield ("semi24", m, n, k, "fp16", 0.5)


def run_case(kind, m, n, k, dt, density, args):
    import torch

    tdt = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dt]
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(m, k, device=dev, dtype=tdt, generator=g)
    if kind == "dense":
        w = torch.randn(n, k, device=dev, dtype=tdt, generator=g)
        return _time(lambda: x @ w.t(), args.warmup, args.iters, args.repeats)
    if kind == "csr":
        w = torch.randn(n, k, device=dev, dtype=tdt, generator=g)
        w = w * (torch.rand(n, k, device=dev, generator=g) < density)
        wcsr = w.to_sparse_csr()
        xt = x.t().contiguous()
        return _time(lambda: torch.sparse.mm(wcsr, xt), args.warmup, args.iters, args.repeats)
    from torch.sparse import to_sparse_semi_structured

    mask = torch.tensor([0, 0, 1, 1], device=dev, dtype=torch.bool).tile(n, k // 4)
    w = torch.randn(n, k, device=dev, dtype=tdt, generator=g) * mask
    ws = to_sparse_semi_structured(w)
    return _time(lambda: torch.mm(ws, x.t()), args.warmup, args.iters, args.repeats)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_measure.csv")
    p.add_argument("--arch", help="accelsim config to predict with (default: from the device name)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="no GPU: print the grid with predictions")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    device = "none"
    if not args.dry_run:
        try:
            import torch
        except ImportError:
            sys.stderr.write("gpu_measure: torch is not installed\n")
            return 3
        if not torch.cuda.is_available():
            sys.stderr.write("gpu_measure: no CUDA GPU available (use --dry-run to list predictions)\n")
            return 3
        device = torch.cuda.get_device_name(0)
    arch = args.arch or pick_arch(device)
    fields = ["device", "arch", "kind", "m", "n", "k", "dtype", "density", "measured_s", "predicted_s",
              "pred_over_meas", "predicted_kernel", "note"]
    rows = []
    for kind, m, n, k, dt, d in cases(args.quick):
        pred, kern = predict(arch, kind, m, n, k, dt, d)
        meas, note = None, ""
        if not args.dry_run:
            try:
                meas = run_case(kind, m, n, k, dt, d, args)
            except Exception as exc:  # an unsupported kernel on this GPU / torch build
                note = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        row = {"device": device, "arch": arch, "kind": kind, "m": m, "n": n, "k": k, "dtype": dt, "density": d,
               "measured_s": meas, "predicted_s": pred, "pred_over_meas": (pred / meas) if meas else None,
               "predicted_kernel": kern, "note": note}
        rows.append(row)
        print(",".join("" if row[f] is None else str(row[f]) for f in fields), flush=True)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
