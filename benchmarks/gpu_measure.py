"""Measure a real GPU and compare with accelsim's GPU model (run it where a CUDA GPU is present).

One short script (the full grid took about a minute on an H200, ``--profile`` adds a little) timing, over a small
shape grid, the kernels of docs/models/gpu.md "Kernel families":

  * ``dense``: torch dense matmul ``x @ W.T`` (cuBLAS) in bf16 / fp16 / fp32,
  * ``csr``: ``torch.sparse.mm`` with a CSR weight (cuSPARSE SpMV / SpMM), fp32,
  * ``semi24``: ``torch.sparse.to_sparse_semi_structured`` 2:4 weights (cuSPARSELt or CUTLASS), fp16,
  * ``int4``: int4 weight-only, tinygemm: torchao's ``int4_weight_only`` when torchao imports, else the
    same kernel called directly (``aten._weight_int4pack_mm`` on ``aten._convert_weight_to_int4pack``),
  * ``fp8``: ``torch._scaled_mm`` with E4M3 operands (cuBLASLt FP8) where the GPU has FP8,
  * ``sdpa_flash`` / ``sdpa_math``: ``scaled_dot_product_attention`` with the flash backend vs the math
    backend (prefill and one decode step),

and writes one JSON file: the device and its environment, the accelsim config it is compared with
(``--arch``, default from the device name), the torch version, and per case the measured and predicted
seconds, their ratio and the kernel accelsim predicts. Two timings per case: ``measured_s``, PyTorch called
eagerly back to back (host dispatch and tensor-subclass costs included), predicted under the
``pytorch-eager`` stack; and ``measured_graph_s``, the same call captured once in a CUDA graph and replayed
(the GPU's time alone), predicted under ``pytorch-eager`` with ``launch=cuda-graph``. Cases a graph cannot
capture (cuSPARSE's workspace allocation) keep ``measured_graph_s`` null.

    python benchmarks/gpu_measure.py --quick --out gpu_measure.json    # a subset
    python benchmarks/gpu_measure.py --out gpu_measure.json            # the full grid (needs accelsim importable)
    python benchmarks/gpu_measure.py --dry-run --quick                 # no GPU: the grid and predictions
    python benchmarks/gpu_measure.py --measure-only --out m.json       # on the GPU machine, no accelsim there
    python benchmarks/gpu_measure.py --predict m.json --out gpu.json   # predictions added afterwards

Timing: CUDA events around ``--iters`` back-to-back calls after ``--warmup`` calls; the median of
``--repeats`` such runs (seconds per call). No GPU -> exit 3 with one line (unless ``--dry-run``). The
module imports without torch: everything torch-specific is imported inside the functions that run it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys

# a case: (kind, m, n, k, dtype, param); GEMMs: m tokens, n outputs, k inputs (param: density for csr,
# group size for int4); attention: m queries, n keys, k head dim, param heads (batch 1)
DENSE_SHAPES = (  # (tokens M, out N, in K); the int4 / 2:4 / FP8 shapes have their dense twins here
    (1, 4096, 4096), (1, 11008, 4096), (8, 4096, 4096), (64, 4096, 4096), (1024, 1024, 1024),
    (2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192), (2304, 1536, 4096), (3072, 3072, 10240),
    (1, 256, 256), (16, 4096, 4096), (128, 4096, 4096), (768, 4096, 4096), (1024, 4096, 4096),
    (64, 7168, 16384),
)
SPARSE_SHAPES = ((1, 4096, 4096), (1, 4096, 9216), (64, 4096, 4096), (512, 4096, 4096))
DENSITIES = (0.01, 0.09, 0.5)
SEMI_SHAPES = ((1, 4096, 4096), (64, 4096, 4096), (768, 4096, 4096), (3072, 3072, 10240), (8192, 8192, 8192))
INT4_SHAPES = ((1, 4096, 4096), (1, 11008, 4096), (16, 4096, 4096), (64, 4096, 4096), (128, 4096, 4096),
               (1024, 4096, 4096))
FP8_SHAPES = ((64, 7168, 16384), (1024, 4096, 4096), (4096, 4096, 4096), (8192, 8192, 8192), (1, 4096, 4096))
ATTN_SHAPES = ((4096, 4096, 128, 16), (2048, 2048, 64, 32), (1, 4096, 128, 32), (1, 32768, 128, 8))
QUICK = {"dense": DENSE_SHAPES[:2] + DENSE_SHAPES[6:7] + DENSE_SHAPES[9:10], "sparse": SPARSE_SHAPES[:1],
         "densities": (0.09,), "semi": SEMI_SHAPES[:1] + SEMI_SHAPES[3:4], "int4": INT4_SHAPES[:1] + INT4_SHAPES[3:4],
         "fp8": FP8_SHAPES[1:3], "attn": ATTN_SHAPES[:1] + ATTN_SHAPES[2:3]}

#: shapes the first H200 run did not time, kept apart (``--wide``) so that checks fitted on the main grid
#: meet them untouched: tinygemm at other N / K and group sizes, 2:4 across M, skinny fp32 products
WIDE_INT4 = tuple((m, n, k, g) for n, k in ((11008, 4096), (4096, 11008), (14336, 4096)) for m in (16, 256)
                  for g in (128,)) + ((64, 4096, 4096, 32), (64, 4096, 4096, 256), (512, 4096, 4096, 128))
WIDE_SEMI = tuple((m, 4096, 4096) for m in (8, 16, 32, 128, 256, 512, 1536)) + ((1, 11008, 4096), (256, 11008, 4096))
WIDE_FP32 = tuple((m, 4096, 4096) for m in (2, 4, 32, 256)) + ((16, 11008, 4096),)

def pick_arch(device_name: str) -> str:
    """The bundled accelsim config for a CUDA device name (:func:`accelsim.hw.gpu.measured.pick_arch`)."""
    from accelsim.hw.gpu.measured import pick_arch as _pick_arch

    return _pick_arch(device_name)


def cases_wide():
    """The ``--wide`` grid: ``(kind, m, n, k, dtype, param)``, with the dense twins of its 2:4 and int4 shapes."""
    twins = sorted({(m, n, k) for m, n, k in WIDE_SEMI} | {(m, n, k) for m, n, k, _ in WIDE_INT4})
    for m, n, k in twins:
        for dt in ("fp16", "bf16"):
            yield ("dense", m, n, k, dt, 1.0)
    for m, n, k in WIDE_FP32:
        yield ("dense", m, n, k, "fp32", 1.0)
    for m, n, k in WIDE_SEMI:
        yield ("semi24", m, n, k, "fp16", 0.5)
    for m, n, k, g in WIDE_INT4:
        yield ("int4", m, n, k, "bf16", g)


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


def predict(arch: str, kind: str, m: int, n: int, k: int, dtype: str, param: float = 1.0, seed: int = 0,
            launch: str = "auto", how: str = "") -> tuple[float, str]:
    """accelsim's predicted seconds and kernel for one case (:func:`accelsim.hw.gpu.measured.predict`)."""
    from accelsim.hw.gpu.measured import predict as _predict

    return _predict(arch, kind, m, n, k, dtype, param, seed, launch=launch, how=how)


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


def _time_graph(fn, warmup: int, iters: int, repeats: int) -> float:
    """Seconds per call of ``fn`` replayed from a CUDA graph of ``iters`` calls (raises if it cannot capture)."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # warm-up on a side stream, as torch.cuda.graphs asks
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(iters):
            fn()
    return _time(graph.replay, max(2, warmup // 5), 1, repeats) / iters


def _int4_tinygemm(x, w, group: int):
    """A callable running tinygemm's int4 weight-only matmul of ``x`` by ``w`` (n x k, bf16): torchao's
    ``int4_weight_only`` when torchao imports, else the aten ops torchao calls (values are immaterial)."""
    import torch

    try:
        from torchao.quantization import int4_weight_only, quantize_
    except ImportError:
        n, k = w.shape
        q = torch.randint(0, 16, (n, k), device=w.device, dtype=torch.int32)
        packed = (q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8)
        wp = torch.ops.aten._convert_weight_to_int4pack(packed, 8)
        sz = torch.rand(k // group, n, 2, device=w.device, dtype=torch.bfloat16)
        return lambda: torch.ops.aten._weight_int4pack_mm(x, wp, group, sz), "aten._weight_int4pack_mm"
    lin = torch.nn.Sequential(torch.nn.Linear(w.shape[1], w.shape[0], bias=False, device=w.device,
                                              dtype=torch.bfloat16))
    quantize_(lin, int4_weight_only(group_size=group))
    return (lambda: lin(x)), "torchao int4_weight_only"


def operand_bytes(kind, m, n, k, dt, param) -> float:
    """Bytes of the operands one call streams from memory (the weight, or the attention's K and V)."""
    if kind.startswith("sdpa"):
        return 2.0 * int(param) * n * k * 2
    if kind == "csr":
        return n * k * param * 8.0  # fp32 value + int32 column index per nonzero
    per = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1}[dt] if kind != "int4" else 0.5
    return float(n * k * per) * (0.5 if kind == "semi24" else 1.0)


def make_case(kind, m, n, k, dt, param, l2_bytes: float = 0.0):
    """``(callable, how, copies)`` for one case on ``cuda:0`` (raises where the kernel is unsupported).

    Back-to-back calls on one weight would find it in the L2 (a 4096 x 4096 bf16 weight is 32 MB, the
    H100 / H200 L2 50 MB), which no layer of a real network does: the callable cycles through enough
    independent copies of the operands that they span twice the L2 (at most 16)."""
    copies = max(1, min(16, math.ceil(2 * l2_bytes / max(operand_bytes(kind, m, n, k, dt, param), 1.0))))
    built = [_make_one(kind, m, n, k, dt, param, seed) for seed in range(copies)]
    calls = itertools.cycle([fn for fn, _ in built])
    return (lambda: next(calls)()), built[0][1], copies


def _make_one(kind, m, n, k, dt, param, seed: int):
    """``(callable, how)`` of one copy of a case's operands."""
    import torch
    import torch.nn.functional as F

    tdt = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32, "fp8": torch.bfloat16}[dt]
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(seed)
    if kind.startswith("sdpa"):
        heads = int(param)
        q = torch.randn(1, heads, m, k, device=dev, dtype=tdt, generator=g)
        kk = torch.randn(1, heads, n, k, device=dev, dtype=tdt, generator=g)
        v = torch.randn(1, heads, n, k, device=dev, dtype=tdt, generator=g)
        from torch.nn.attention import SDPBackend

        backend = SDPBackend.FLASH_ATTENTION if kind == "sdpa_flash" else SDPBackend.MATH
        # the backend is chosen once around the timed calls (measure_case), not per call: entering
        # sdpa_kernel costs tens of microseconds of Python that no model's attention call pays
        return (lambda: F.scaled_dot_product_attention(q, kk, v)), str(backend)
    x = torch.randn(m, k, device=dev, dtype=tdt, generator=g)
    w = torch.randn(n, k, device=dev, dtype=tdt, generator=g)
    if kind == "dense":
        return (lambda: x @ w.t()), "torch matmul"
    if kind == "csr":
        w = w * (torch.rand(n, k, device=dev, generator=g) < param)
        wcsr = w.to_sparse_csr()
        xt = x.t().contiguous()
        return (lambda: torch.sparse.mm(wcsr, xt)), "torch.sparse.mm CSR"
    if kind == "semi24":
        from torch.sparse import to_sparse_semi_structured

        mask = torch.tensor([0, 0, 1, 1], device=dev, dtype=torch.bool).tile(n, k // 4)
        lin = torch.nn.Linear(k, n, bias=False, device=dev, dtype=tdt)
        lin.weight = torch.nn.Parameter(to_sparse_semi_structured(w * mask))
        return (lambda: lin(x)), type(lin.weight.data).__name__
    if kind == "int4":
        return _int4_tinygemm(x, w, int(param))
    if kind == "fp8":
        xf = x.to(torch.float8_e4m3fn)
        wf = w.to(torch.float8_e4m3fn)
        one = torch.ones((), device=dev, dtype=torch.float32)
        return (lambda: torch._scaled_mm(xf, wf.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)), "_scaled_mm"
    raise ValueError(f"unknown case kind {kind!r}")


def _first_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def measure_case(kind, m, n, k, dt, param, args) -> dict:
    """Measured seconds per call, eager and graph-replayed, of one case (None where it cannot run)."""
    out = {"measured_s": None, "measured_graph_s": None, "how": "", "note": "", "copies": None}
    if kind.startswith("sdpa"):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel(SDPBackend.FLASH_ATTENTION if kind == "sdpa_flash" else SDPBackend.MATH):
            return _measure(kind, m, n, k, dt, param, args, out)
    return _measure(kind, m, n, k, dt, param, args, out)


def _measure(kind, m, n, k, dt, param, args, out: dict) -> dict:
    import torch

    try:
        l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 50 * 2**20)
        fn, out["how"], out["copies"] = make_case(kind, m, n, k, dt, param, l2)
        out["measured_s"] = _time(fn, args.warmup, args.iters, args.repeats)
        if args.profile:
            out["profile"] = profile_call(fn)
    except Exception as exc:  # an unsupported kernel on this GPU / torch build
        out["note"] = _first_line(exc)
        torch.cuda.synchronize()
        return out
    if kind == "csr":  # cuSPARSE allocates its workspace per call: a failed capture can poison the context
        out["note"] = "graph: not captured (cuSPARSE workspace per call)"
        return out
    try:
        out["measured_graph_s"] = _time_graph(fn, args.warmup, args.iters, args.repeats)
    except Exception as exc:  # an op that cannot be captured in a CUDA graph
        out["note"] = "graph: " + _first_line(exc)
        torch.cuda.synchronize()
    return out


def profile_call(fn, top: int = 8) -> dict:
    """One call of ``fn`` under torch.profiler: CUDA kernels launched, their summed GPU time (seconds), the
    kernels by name (which library kernel and tile ran) and the host-side operators that took the most self
    CPU time (where an eager call's time goes)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy_us = sum(e.time_range.elapsed_us() for e in kernels)
    host = sorted(prof.key_averages(), key=lambda a: a.self_cpu_time_total, reverse=True)[:top]
    by_name: dict[str, list[float]] = {}
    for e in kernels:
        by_name.setdefault(e.name, []).append(e.time_range.elapsed_us())
    names = sorted(by_name.items(), key=lambda kv: -sum(kv[1]))[:top]
    return {"kernels": sum(1 for e in kernels if not e.name.startswith(("Memcpy", "Memset"))),
            "gpu_busy_s": busy_us / 1e6,
            "gpu_kernels": [(name[:160], len(t), round(sum(t), 1)) for name, t in names],
            "host_top": [(a.key, a.count, round(a.self_cpu_time_total, 1)) for a in host]}


def cuda_missing() -> str | None:
    """None when torch imports and sees a CUDA GPU, else why not (one line)."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    return None if torch.cuda.is_available() else "no CUDA GPU available"


def environment() -> dict:
    """The measuring machine: device properties, torch / CUDA versions and nvidia-smi's clocks."""
    import subprocess

    import torch

    props = torch.cuda.get_device_properties(0)
    env = {"device": props.name, "sms": props.multi_processor_count, "memory_gib": props.total_memory / 2**30,
           "capability": f"{props.major}.{props.minor}", "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version()}
    for attr in ("L2_cache_size", "clock_rate"):
        if hasattr(props, attr):
            env[attr] = getattr(props, attr)
    try:
        q = "name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu"
        env["nvidia_smi"] = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv"], capture_output=True,
                                           text=True, timeout=20).stdout.strip()
    except Exception as exc:  # no nvidia-smi on the PATH
        env["nvidia_smi"] = _first_line(exc)
    return env


def add_predictions(rows: list[dict], arch: str) -> None:
    """Fill each row's predicted seconds (eager and graph) and kernel under ``arch``, in place."""
    for row in rows:
        case = (row["kind"], row["m"], row["n"], row["k"], row["dtype"], row["param"])
        for launch, key, meas in (("auto", "predicted_s", "measured_s"),
                                  ("cuda-graph", "predicted_graph_s", "measured_graph_s")):
            try:
                pred, kern = predict(arch, *case, launch=launch, how=row.get("how") or "")
            except Exception as exc:  # a case the config cannot run (FP8 on a device without it)
                pred, kern = None, _first_line(exc)
            row[key] = pred
            row["pred_over_meas" if launch == "auto" else "graph_pred_over_meas"] = (
                pred / row[meas] if (pred and row.get(meas)) else None)
            row["predicted_kernel"] = kern


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_measure.json")
    p.add_argument("--arch", help="accelsim config to predict with (default: from the device name)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--wide", action="store_true", help="the held-out grid (WIDE_*) instead of the main one")
    p.add_argument("--dry-run", action="store_true", help="no GPU: the grid with predictions only")
    p.add_argument("--measure-only", action="store_true", help="measure, predict nothing (accelsim not imported)")
    p.add_argument("--predict", metavar="MEASURED_JSON", help="add predictions to a --measure-only file")
    p.add_argument("--only", help="comma-separated case kinds to run (default: all)")
    p.add_argument("--profile", action="store_true", help="also profile one eager call per case (kernels, host ops)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    if args.predict:
        try:
            with open(args.predict) as fh:
                doc = json.load(fh)
            rows = doc["rows"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            sys.stderr.write(f"gpu_measure: {args.predict}: not a measured file ({_first_line(exc)})\n")
            return 2
        doc["arch"] = args.arch or pick_arch(doc.get("device", ""))
        add_predictions(rows, doc["arch"])
        for row in rows:
            print(json.dumps(row), flush=True)
        with open(args.out, "w") as fh:
            json.dump(doc, fh, indent=1)
        return 0
    env = {"device": "none"}
    if not args.dry_run:
        missing = cuda_missing()
        if missing:
            sys.stderr.write(f"gpu_measure: {missing} (use --dry-run to list predictions)\n")
            return 3
        env = environment()
    arch = None if args.measure_only else (args.arch or pick_arch(env["device"]))  # no accelsim needed to measure
    rows = []
    only = set(args.only.split(",")) if args.only else None
    for kind, m, n, k, dt, param in (cases_wide() if args.wide else cases(args.quick)):
        if only and kind not in only:
            continue
        row = {"kind": kind, "m": m, "n": n, "k": k, "dtype": dt, "param": param, "measured_s": None,
               "measured_graph_s": None, "how": "", "note": ""}
        if not args.dry_run:
            row.update(measure_case(kind, m, n, k, dt, param, args))
        if not args.measure_only:
            add_predictions([row], arch)
        rows.append(row)
        print(json.dumps(row), flush=True)
        doc = {"device": env["device"], "environment": env, "arch": arch,
               "torch": env.get("torch"), "stack": "pytorch-eager",
               "timing": {"warmup": args.warmup, "iters": args.iters, "repeats": args.repeats}, "rows": rows}
        with open(args.out, "w") as fh:  # after every case: a run stopped part-way keeps what it measured
            json.dump(doc, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
