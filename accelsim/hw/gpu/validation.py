"""GPU model checks against published measurements (``accelsim validate --only gpu``; the tests
assert the same checks). Reference figures are copied here with their sources; the write-up is
``docs/validation.md (GPU section)``.

Checks: EIE Table IV on the Titan X (dense cuBLAS vs sparse cuSPARSE, batch 1 and 64, times and
speedups), dense BF16 GEMM fraction of peak on H100 / A100, NVIDIA's wave-quantization example and
the 2:4 sparse linear layer of PyTorch's tutorial.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

from accelsim.checks import Check

AREA = "gpu"

EIE_SOURCE = "Han et al., EIE, ISCA 2016, Table IV (Titan X, fp32; batch-64 times are per image)"
#: layer -> (in, out, weight density, cell): Table IV / Table III of EIE
EIE_LAYERS = {
    "Alex-6": (9216, 4096, 0.09, "linear"),
    "Alex-7": (4096, 4096, 0.09, "linear"),
    "Alex-8": (4096, 1000, 0.25, "linear"),
    "VGG-6": (25088, 4096, 0.04, "linear"),
    "VGG-7": (4096, 4096, 0.04, "linear"),
    "VGG-8": (4096, 1000, 0.23, "linear"),
    "NT-We": (4096, 600, 0.10, "linear"),
    "NT-Wd": (600, 8791, 0.11, "linear"),
    "NT-LSTM": (600, 600, 0.10, "lstm"),  # input 600, hidden 600: 2400 x 1201 gate matrix
}
#: Titan X microseconds: (b1 dense, b1 sparse, b64 dense, b64 sparse), EIE Table IV
EIE_TITANX_US = {
    "Alex-6": (541.5, 134.8, 19.8, 94.6),
    "Alex-7": (243.0, 65.8, 8.9, 51.5),
    "Alex-8": (80.5, 54.6, 5.9, 23.2),
    "VGG-6": (1467.8, 167.0, 53.6, 121.5),
    "VGG-7": (243.0, 39.8, 8.9, 24.4),
    "VGG-8": (80.5, 48.0, 5.9, 22.0),
    "NT-We": (65.0, 17.7, 3.2, 10.9),
    "NT-Wd": (90.1, 41.1, 2.3, 11.0),
    "NT-LSTM": (51.9, 18.5, 2.5, 9.0),
}
#: Tegra K1 batch-1 microseconds (dense, sparse), EIE Table IV (informational)
EIE_TK1_US = {
    "Alex-6": (12437.2, 2879.3), "Alex-7": (5765.0, 1256.5), "Alex-8": (2252.1, 837.0),
    "VGG-6": (35427.0, 4377.2), "VGG-7": (5544.3, 626.3), "VGG-8": (2243.1, 745.1),
}
#: the six layers the issue asks for (the NeuralTalk three are reported, not asserted)
EIE_ASSERTED = ("Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8")
EIE_TOL = 0.30
#: the EIE measurements call cuBLAS / cuSPARSE directly: eager launches, no framework host overhead
EIE_STACK = {"stack": "pytorch-eager", "host_overhead_us": 0.0}

#: (arch, m, n, k, dtype, measured fraction of dense peak, source, asserted)
GEMM_POINTS = (
    ("a100-80gb", 1024, 10240, 5120, "bf16", 0.869, "stas00 MAMF table: A100 SXM BF16 best shape 271.2 TFLOPS", True),
    ("h100-sxm", 2048, 2048, 13312, "bf16", 0.803, "stas00 MAMF table: H100 SXM BF16 794.5 TFLOPS", True),
    ("h100-sxm", 2048, 2048, 2048, "bf16", 676.6 / 989.4, "zzc0721 issue #79: H100 BF16 square N=2048 676.6 TFLOPS", True),
    ("h100-sxm", 4096, 4096, 4096, "bf16", 788.7 / 989.4, "zzc0721 issue #79: H100 BF16 square N=4096 788.7 TFLOPS", True),
    ("h100-sxm", 10240, 10240, 10240, "bf16", 719.7 / 989.4, "zzc0721 issue #79: H100 BF16 square N=10240 719.7 TFLOPS", True),
    ("h100-sxm", 1024, 1024, 1024, "bf16", 176.6 / 989.4,
     "zzc0721 issue #79: H100 BF16 square N=1024 176.6 TFLOPS (launch-dominated; reported, not asserted)", False),
    ("a100-80gb", 3456, 4096, 8192, "fp16", 0.754, "cutlass profiler.md: sm80 FP16 3456x4096x8192, tile 256x128", True),
)
GEMM_TOL = 0.15

WAVE_SOURCE = "NVIDIA Matrix Multiplication Background guide: A100, 256x128 tiles, M=2304, K=4096"
WAVE_PEAKS = (1536, 3072, 4608, 6144)

SP24_SOURCE = "PyTorch semi-structured sparsity tutorial: A100, Linear 10240->3072, 3072 tokens, fp16: 0.870 ms dense, 0.630 ms 2:4"
SP24_DENSE_MS, SP24_SPARSE_MS = 0.870, 0.630
SP24_TOL = 0.15


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def eie_layer(name: str):
    """The EIE benchmark layer as a workload layer (batch excluded)."""
    from accelsim.workload.layers import Linear, LSTMCell

    k, n, _, cell = EIE_LAYERS[name]
    if cell == "lstm":
        return LSTMCell(name=name, input_shapes=((k,),), hidden_size=n)
    return Linear(name=name, input_shapes=((k,),), out_features=n)


@lru_cache(maxsize=16)
def eie_pruned_csr(name: str):
    """A uniformly random pattern at the layer's Table III density, as a SciPy CSR of fp32 values
    with 32-bit indices: what the paper ran through cuSPARSE. Seeded by the layer name."""
    import scipy.sparse as sp

    layer = eie_layer(name)
    rows, cols = layer.weight_matrix_shape
    density = EIE_LAYERS[name][2]
    rng = np.random.default_rng(_seed(name))
    counts = rng.binomial(cols, density, size=rows)
    indptr = np.zeros(rows + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), np.int32)
    for r in range(rows):
        indices[indptr[r]:indptr[r + 1]] = np.sort(rng.choice(cols, size=counts[r], replace=False))
    values = rng.standard_normal(int(indptr[-1])).astype(np.float32)
    return sp.csr_matrix((values, indices, indptr.astype(np.int32)), shape=(rows, cols))


def eie_compressed(name: str, pruned: bool):
    from accelsim.compress.compressed import CompressedLayer

    layer = eie_layer(name)
    if not pruned:
        return CompressedLayer(layer=layer)
    w = eie_pruned_csr(name)
    return CompressedLayer(layer=layer, weight=w, weight_matrix=None, weight_bits=32, transforms=("prune",),
                           stats={"weight_density": EIE_LAYERS[name][2]})


def eie_table(arch: str = "titan-x-maxwell", names=tuple(EIE_LAYERS)) -> dict[str, dict[str, float]]:
    """Predicted microseconds (batch-64 per image) and kernels for the EIE layers on ``arch``."""
    from accelsim.hw.registry import build_model, load_arch

    # direct cuBLAS / cuSPARSE calls from C (the paper's setup): one kernel per layer, eager launches
    # of ``launch_overhead_us``, no Python host dispatch
    model = build_model(load_arch(arch, EIE_STACK))
    out = {}
    for name in names:
        row = {}
        for batch in (1, 64):
            for pruned in (False, True):
                r = model.simulate(eie_compressed(name, pruned), batch)
                key = f"b{batch}_{'sparse' if pruned else 'dense'}"
                row[key] = r.latency_s * 1e6 / batch
                row[key + "_kernel"] = r.extra["kernel"]
        out[name] = row
    return out


def _eie_checks(quick: bool) -> list[Check]:
    names = EIE_ASSERTED if quick else tuple(EIE_LAYERS)
    table = eie_table("titan-x-maxwell", names)
    checks = []
    for name in names:
        ref = dict(zip(("b1_dense", "b1_sparse", "b64_dense", "b64_sparse"), EIE_TITANX_US[name]))
        pred = table[name]
        asserted = name in EIE_ASSERTED
        tol = EIE_TOL if asserted else None
        for key, label in (("b1_dense", "cuBLAS GEMV b1"), ("b1_sparse", "cuSPARSE CSRMV b1"),
                           ("b64_dense", "cuBLAS GEMM b64"), ("b64_sparse", "cuSPARSE CSRMM b64")):
            checks.append(Check(AREA, f"Titan X {name} {label} time", ref[key], pred[key], "us/image", tol, EIE_SOURCE))
        for b in ("b1", "b64"):
            r_sp = ref[f"{b}_dense"] / ref[f"{b}_sparse"]
            p_sp = pred[f"{b}_dense"] / pred[f"{b}_sparse"]
            same_dir = (r_sp > 1) == (p_sp > 1)
            ok = (same_dir and abs(p_sp - r_sp) / r_sp <= EIE_TOL) if asserted else None
            checks.append(Check(AREA, f"Titan X {name} sparse-vs-dense speedup {b}", r_sp, p_sp, "x", tol, EIE_SOURCE, ok))
    return checks


def gemm_fraction(arch: str, m: int, n: int, k: int, dtype: str) -> float:
    """Achieved fraction of the dense peak for one GEMM (the model's kernel choice)."""
    from accelsim.hw.gpu import kernel_models as km
    from accelsim.hw.registry import load_arch

    cfg = load_arch(arch)
    est = km.gemm(cfg, m, n, k, 1, dtype)
    return 2.0 * m * n * k / est.time_s / cfg.peak_flops(dtype)


def _gemm_checks() -> list[Check]:
    out = []
    for arch, m, n, k, dtype, ref, src, asserted in GEMM_POINTS:
        pred = gemm_fraction(arch, m, n, k, dtype)
        out.append(Check(AREA, f"{arch} {dtype} GEMM {m}x{n}x{k} fraction of peak", ref, pred, "", GEMM_TOL if asserted else None, src))
    return out


def wave_curve(n_values=range(128, 6400 + 1, 8)) -> list[tuple[int, float]]:
    """(N, TFLOPS) for the wave-quantization example with the tile fixed to 256x128."""
    from accelsim.hw.gpu import kernel_models as km
    from accelsim.hw.registry import load_arch

    cfg = load_arch("a100-80gb")
    tile = [km.Tile(256, 128, 32, 8, 3)]
    out = []
    for n in n_values:
        est = km.gemm(cfg, 2304, n, 4096, 1, "fp16", tiles=tile)
        out.append((n, 2.0 * 2304 * n * 4096 / est.time_s / 1e12))
    return out


def wave_peaks(curve) -> list[int]:
    """N values after which throughput drops by more than 10% (the ends of full waves)."""
    return [curve[i][0] for i in range(len(curve) - 1) if curve[i + 1][1] < 0.9 * curve[i][1]]


def _wave_checks() -> list[Check]:
    peaks = wave_peaks(wave_curve())
    out = []
    for p in WAVE_PEAKS:
        out.append(Check(AREA, f"A100 wave quantization: throughput peak at N={p}", p, p if p in peaks else 0,
                         "N", None, WAVE_SOURCE, p in peaks))
    extra = [p for p in peaks if p not in WAVE_PEAKS]
    out.append(Check(AREA, "A100 wave quantization: no other peaks in N=128..6400", 0, len(extra), "peaks", None,
                     WAVE_SOURCE, not extra))
    return out


def sp24_times() -> tuple[float, float]:
    """(dense ms, 2:4 sparse ms) of the PyTorch tutorial's linear layer on the A100 80GB."""
    from accelsim.hw.gpu import kernel_models as km
    from accelsim.hw.registry import load_arch

    from accelsim.hw.gpu import families as fam

    cfg = load_arch("a100-80gb")
    dense = km.gemm(cfg, 3072, 3072, 10240, 1, "fp16")
    # the tutorial forces the CUTLASS backend of PyTorch's semi-structured tensor (result transposed)
    sparse = fam.sparse24(cfg, "cutlass", 3072, 3072, 10240, 1, "fp16", layout_copies=True)
    return dense.time_s * 1e3, sparse.time_s * 1e3


def _sp24_checks() -> list[Check]:
    d, s = sp24_times()
    ref = SP24_DENSE_MS / SP24_SPARSE_MS
    return [
        Check(AREA, "A100 2:4 linear 10240->3072 x 3072 tokens: speedup over dense", ref, d / s, "x", SP24_TOL, SP24_SOURCE),
        Check(AREA, "A100 fp16 linear 10240->3072 x 3072 tokens: dense time", SP24_DENSE_MS, d, "ms", None, SP24_SOURCE),
        Check(AREA, "A100 fp16 linear 10240->3072 x 3072 tokens: 2:4 time", SP24_SPARSE_MS, s, "ms", None, SP24_SOURCE),
    ]


def _informational_checks() -> list[Check]:
    """Reported, not asserted: Tegra K1 batch-1 times and the Titan X power on AlexNet FC7."""
    from accelsim.hw.registry import build_model, load_arch

    out = []
    tk1 = build_model(load_arch("tegra-k1", EIE_STACK))
    for name, (dense_us, sparse_us) in EIE_TK1_US.items():
        for pruned, ref, label in ((False, dense_us, "dense GEMV"), (True, sparse_us, "CSRMV")):
            r = tk1.simulate(eie_compressed(name, pruned), 1)
            out.append(Check(AREA, f"Tegra K1 {name} {label} b1 time", ref, r.latency_s * 1e6, "us", None, EIE_SOURCE))
    tx = build_model(load_arch("titan-x-maxwell", EIE_STACK))
    r = tx.simulate(eie_compressed("Alex-7", False), 1)
    out.append(Check(AREA, "Titan X board power, AlexNet FC7 dense batch 1", 159.0, r.extra["power_w"], "W", None,
                     "EIE Table V (measured board power; the model has no fan / VRM / board terms)"))
    return out


def checks(quick: bool = False) -> list[Check]:
    out = _eie_checks(quick) + _gemm_checks() + _wave_checks() + _sp24_checks()
    if not quick:
        out += _informational_checks()
    return out
