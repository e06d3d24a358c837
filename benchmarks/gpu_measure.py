"""Measure a real GPU and compare with accelsim's GPU model (run it where a CUDA GPU is present).

One short script (a few minutes on an H100 with ``--quick``; about ten without) timing, over a small
shape grid, the kernels of docs/models/gpu.md "Kernel families":

  * ``dense``: torch dense matmul ``x @ W.T`` (cuBLAS) in bf16 / fp16 / fp32,
  * ``csr``: ``torch.sparse.mm`` with a CSR weight (cuSPARSE SpMV / SpMM), fp32,
  * ``semi24``: ``torch.sparse.to_sparse_semi_structured`` 2:4 weights (cuSPARSELt or CUTLASS), fp16,
  * ``int4``: int4 weight-only through torchao (``int4_weight_only``: tinygemm) when torchao imports,
  * ``fp8``: ``torch._scaled_mm`` with E4M3 operands (cuBLASLt FP8) where the GPU has FP8,
  * ``sdpa_flash`` / ``sdpa_math``: ``scaled_dot_product_attention`` with the flash backend vs the math
    backend (prefill and one decode step),

and writes one JSON file: the device, the accelsim config it is compared with (``--arch``, default from
the device name), the torch version, and per case the measured and predicted seconds, their ratio and
the kernel accelsim predicts. Predictions use the ``pytorch-eager`` stack (the script calls PyTorch
eagerly, back to back, timed with CUDA events), so host dispatch and tensor-subclass costs are in both.

    python benchmarks/gpu_measure.py --quick --out gpu_measure.json    # a few minutes
    python benchmarks/gpu_measure.py --out gpu_measure.json            # the full grid
    python benchmarks/gpu_measure.py --dry-run --quick                 # no GPU: the grid and predictions

Timing: CUDA events around ``--iters`` back-to-back calls after ``--warmup`` calls; the median of
``--repeats`` such runs (seconds per call). No GPU -> exit 3 with one line (unless ``--dry-run``). The
module imports without torch: everything torch-specific is imported inside the functions that run it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

# a case: (kind, m, n, k, dtype, param); GEMMs: m tokens, n outputs, k inputs (param: density for csr,
# group size for int4); attention: m queries, n keys, k head dim, param heads (batch 1)
DENSE_SHAPES = (  # (tokens M, out N, in K)
    (1, 4096, 4096), (1, 11008, 4096), (8, 4096, 4096), (64, 4096, 4096), (1024, 1024, 1024),
    (2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192), (2304, 1536, 4096), (3072, 3072, 10240),
)
SPARSE_SHAPES = ((1, 4096, 4096), (1, 4096, 9216), (64, 4096, 4096), (512, 4096, 4096))
DENSITIES = (0.01, 0.09, 0.5)
SEMI_SHAPES = ((1, 4096, 4096), (64, 4096, 4096), (768, 4096, 4096), (3072, 3072, 10240), (8192, 8192, 8192))
INT4_SHAPES = ((1, 4096, 4096), (1, 11008, 4096), (16, 4096, 4096), (128, 4096, 4096), (1024, 4096, 4096))
FP8_SHAPES = ((64, 7168, 16384), (1024, 4096, 4096), (4096, 4096, 4096), (8192, 8192, 8192))
ATTN_SHAPES = ((4096, 4096, 128, 16), (2048, 2048, 64, 32), (1, 4096, 128, 32), (1, 32768, 128, 8))
QUICK = {"dense": DENSE_SHAPES[:2] + DENSE_SHAPES[6:7] + DENSE_SHAPES[9:10], "sparse": SPARSE_SHAPES[:1],
         "densities": (0.09,), "semi": SEMI_SHAPES[:1] + SEMI_SHAPES[3:4], "int4": INT4_SHAPES[:1] + INT4_SHAPES[3:4],
         "fp8": FP8_SHAPES[1:3], "attn": ATTN_SHAPES[:1] + ATTN_SHAPES[2:3]}

ARCH_BY_NAME = (("h100", "h100-sxm"), ("h800", "h100-sxm"), ("h200", "h200"), ("b200", "b200"), ("a100", "a100-80gb"),
                ("a10g", "a10"), ("a10", "a10"), ("l40s", "l40s"), ("l4", "l4"), ("4090", "rtx4090"), ("v100", "v100"),
                ("mi300x", "mi300x"), ("orin", "jetson-agx-orin"), ("titan x", "titan-x-maxwell"))


def pick_arch(device_name: str) -> str:
    """The bundled accelsim config for a CUDA device name (H100 when unknown)."""
    name = device_name.lower()
    for key, arch in ARCH_BY_NAME:
        if key in name:
            return arch
    return "h100-sxm"


def cases(quick: bool):
    """Every case of the grid: ``(kind, m, n, k, dtype, param)``."""
    q = QUICK if quick else None
    for m, n, k in (q["dense"] if q else DENSE_SHAPES):
        for dt in (("bf16",) if quick else ("fp16", "bf16", "fp32")):
            yield ("dense", m, n, k, dt, 1.0)
    for m, n, k in (q["sparse"] if q else SPARSE_SHAPES):
        for d in (q["densities"] if q else DENSITIES):
            yield ("csr", m, n, k, "fp32", d)
    for m, n, k in (q["semi"] if q else SEMI_SHAPES):
        yield ("semi24", m, n, k, "fp16", 0.5)
    for m, n, k in (q["int4"] if q else INT4_SHAPES):
        yield ("int4", m, n, k, "bf16", 128)
    for m, n, k in (q["fp8"] if q else FP8_SHAPES):
        yield ("fp8", m, n, k, "fp8", 0)
    for s, length, d, heads in (q["attn"] if q else ATTN_SHAPES):
        yield ("sdpa_flash", s, length, d, "bf16", heads)
        yield ("sdpa_math", s, length, d, "bf16", heads)


def _layer_for(kind: str, m: int, n: int, k: int, dtype: str, param: float, seed: int = 0):
    """The accelsim CompressedLayer of one case."""
    import numpy as np

    from accelsim.compress.compressed import CompressedLayer
    from accelsim.compress.formats import ActivationFormat
    from accelsim.workload.layers import Attention, Linear

    if kind.startswith("sdpa"):
        heads = int(param)
        layer = Attention(name=kind, input_shapes=((m, heads * k), (n, heads * k), (n, heads * k)), heads=heads,
                          kv_heads=heads)
        return CompressedLayer(layer=layer)
    fc = Linear(name=kind, input_shapes=((k,),) if m == 1 else ((m, k),), out_features=n)
    if kind == "csr":
        import scipy.sparse as sp

        w = sp.random(n, k, density=param, format="csr", random_state=seed, dtype=np.float32)
        return CompressedLayer(layer=fc, weight=w, weight_bits=32, activation_bits=32, transforms=("prune",))
    if kind == "semi24":
        return CompressedLayer(layer=fc, nm=(2, 4), transforms=("nm",), activation_bits=16)
    if kind == "int4":
        return CompressedLayer(layer=fc, weight_bits=4, activation_bits=16, transforms=("quantize",))
    if kind == "fp8":
        return CompressedLayer(layer=fc, weight_bits=8, activation_bits=8, activation_format=ActivationFormat("e4m3"))
    return CompressedLayer(layer=fc, activation_bits={"fp32": 32, "fp16": 16, "bf16": 16}[dtype])


def predict(arch: str, kind: str, m: int, n: int, k: int, dtype: str, param: float = 1.0, seed: int = 0) -> tuple[float, str]:
    """accelsim's predicted seconds and kernel for one case, under the ``pytorch-eager`` stack."""
    from accelsim.hw.registry import build_model, load_arch

    overrides = {"stack": "pytorch-eager"}
    if kind == "sdpa_math":
        overrides["kernels.attention"] = "math"
    if kind == "dense" and dtype in ("fp16", "fp32"):
        overrides["native_dtype"] = dtype
    model = build_model(load_arch(arch, overrides))
    r = model.simulate(_layer_for(kind, m, n, k, dtype, param, seed), 1)
    return r.latency_s, r.extra["kernel"]


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


def run_case(kind, m, n, k, dt, param, args) -> float:
    """Measured seconds per call of one case on ``cuda:0`` (raises where the kernel is unsupported)."""
    import torch
    import torch.nn.functional as F

    tdt = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32, "fp8": torch.bfloat16}[dt]
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(0)
    t = (args.warmup, args.iters, args.repeats)
    if kind.startswith("sdpa"):
        heads = int(param)
        q = torch.randn(1, heads, m, k, device=dev, dtype=tdt, generator=g)
        kk = torch.randn(1, heads, n, k, device=dev, dtype=tdt, generator=g)
        v = torch.randn(1, heads, n, k, device=dev, dtype=tdt, generator=g)
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backend = SDPBackend.FLASH_ATTENTION if kind == "sdpa_flash" else SDPBackend.MATH
        with sdpa_kernel(backend):
            return _time(lambda: F.scaled_dot_product_attention(q, kk, v), *t)
    x = torch.randn(m, k, device=dev, dtype=tdt, generator=g)
    w = torch.randn(n, k, device=dev, dtype=tdt, generator=g)
    if kind == "dense":
        return _time(lambda: x @ w.t(), *t)
    if kind == "csr":
        w = w * (torch.rand(n, k, device=dev, generator=g) < param)
        wcsr = w.to_sparse_csr()
        xt = x.t().contiguous()
        return _time(lambda: torch.sparse.mm(wcsr, xt), *t)
    if kind == "semi24":
        from torch.sparse import to_sparse_semi_structured

        mask = torch.tensor([0, 0, 1, 1], device=dev, dtype=torch.bool).tile(n, k // 4)
        lin = torch.nn.Linear(k, n, bias=False, device=dev, dtype=tdt)
        lin.weight = torch.nn.Parameter(to_sparse_semi_structured(w * mask))
        return _time(lambda: lin(x), *t)
    if kind == "int4":
        from torchao.quantization import int4_weight_only, quantize_

        lin = torch.nn.Sequential(torch.nn.Linear(k, n, bias=False, device=dev, dtype=torch.bfloat16))
        quantize_(lin, int4_weight_only(group_size=int(param)))
        return _time(lambda: lin(x), *t)
    if kind == "fp8":
        xf = x.to(torch.float8_e4m3fn)
        wf = w.to(torch.float8_e4m3fn)
        one = torch.ones((), device=dev, dtype=torch.float32)
        return _time(lambda: torch._scaled_mm(xf, wf.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16), *t)
    raise ValueError(f"unknown case kind {kind!r}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_measure.json")
    p.add_argument("--arch", help="accelsim config to predict with (default: from the device name)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="no GPU: the grid with predictions only")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    device, torch_version = "none", None
    if not args.dry_run:
        try:
            import torch
        except ImportError:
            sys.stderr.write("gpu_measure: torch is not installed\n")
            return 3
        if not torch.cuda.is_available():
            sys.stderr.write("gpu_measure: no CUDA GPU available (use --dry-run to list predictions)\n")
            return 3
        device, torch_version = torch.cuda.get_device_name(0), torch.__version__
    arch = args.arch or pick_arch(device)
    rows = []
    for kind, m, n, k, dt, param in cases(args.quick):
        try:
            pred, kern = predict(arch, kind, m, n, k, dt, param)
        except Exception as exc:  # a case the config cannot run (FP8 on a device without it)
            pred, kern = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        meas, note = None, ""
        if not args.dry_run:
            try:
                meas = run_case(kind, m, n, k, dt, param, args)
            except Exception as exc:  # an unsupported kernel on this GPU / torch build, torchao missing
                note = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
        row = {"kind": kind, "m": m, "n": n, "k": k, "dtype": dt, "param": param, "measured_s": meas,
               "predicted_s": pred, "pred_over_meas": (pred / meas) if (meas and pred) else None,
               "predicted_kernel": kern, "note": note}
        rows.append(row)
        print(json.dumps(row), flush=True)
    with open(args.out, "w") as fh:
        json.dump({"device": device, "arch": arch, "torch": torch_version, "stack": "pytorch-eager", "rows": rows},
                  fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
