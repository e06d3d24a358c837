"""Kernel families as the libraries ship them: weight-only low-bit GEMM / GEMV (MARLIN, GEMV, tinygemm,
AWQ-GEMM, dequantize + cuBLAS), 2:4 sparse GEMM (cuSPARSELt, CUTLASS, Sparse-MARLIN) and attention
(unfused math, FlashAttention-2 / -3, FlashDecoding).

Each family is a small explicit model: where it exists (:func:`applicable` returns None or one line
saying why not: shape, alignment, dtype, device), its tile / minimum M (padding), its efficiency by
data type and its bandwidth efficiency; the cost builds on :mod:`accelsim.hw.gpu.kernel_models`.
Every constant below is documented with its source or its calibration-half fit in
``docs/models/gpu.md``, section "Kernel families". Times in seconds, bytes, FLOPs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from accelsim.errors import SimulationError
from accelsim.hw.gpu import kernel_models as km
from accelsim.hw.gpu.config import DTYPE_BYTES, GpuConfig

SM80_PLUS = km.SM80_PLUS  # generations with Ampere-class tensor-core MMA: MARLIN, tinygemm, FlashAttention-2
#: generations whose native tensor-core instruction is not mma.sync (wgmma / tcgen05): Ampere-era kernels
#: there reach ``efficiency.legacy_mma`` of the rate
WGMMA_ARCHS = ("hopper", "blackwell")


@dataclass(frozen=True)
class WeightFormat:
    """A weight-only format as the view gives it: value bits, weights per scale, scale and zero-point
    bits, element format (``int4``, ``e4m3``, ``e2m1``, ...) and the N:M pattern if any."""

    bits: int
    group_size: int
    scale_bits: int = 16
    zero_point_bits: int = 0
    element_format: str | None = None
    nm: tuple[int, int] | None = None

    @property
    def is_float(self) -> bool:
        return bool(self.element_format) and self.element_format[0] in ("e", "f")

    def bytes_per_weight(self, sparse24: bool = False, k: int | None = None) -> float:
        """Stored bytes per dense weight element: values (+ 2-bit selectors on the kept half of a 2:4
        matrix) plus scales and zero points per group; with the reduction length ``k``, ``ceil(k / group)`` groups
        a row (a last partial group stores its scale too)."""
        group = max(1, self.group_size)
        per_row = -(-k // group) if k else None
        scales = (self.scale_bits + self.zero_point_bits) * (per_row / k if per_row else 1.0 / group) / 8.0
        if sparse24:
            return 0.5 * (self.bits + 2) / 8.0 + scales
        return self.bits / 8.0 + scales


# ---- weight-only constants (docs "Kernel families") ---------------------------------------------------
#: fraction of the device's DRAM efficiency each weight-only family streams its weights at
BW_FRACTION = {
    "marlin": 0.90,   # MARLIN README ideal 3.87x (1.0) and vLLM PR 2497's 3.12x at bs1 (0.81): mean
    "gemv": 0.80,     # torchao int8 weight-only compiled GEMV: 1131 / 1419 GB/s of bf16 (calibration; read off, not fitted)
    "tinygemm": 0.65,  # fitted on the two torchao int4wo-64 decode rows (Llama-2-7B 201, Llama-3-8B 181 tok/s; calibration)
    "awq-gemm": 0.70,  # assumption: between tinygemm and GEMV
    "gemv-dequant": 1.0,
}
#: MARLIN-class math efficiency as a fraction of the device's dense tensor efficiency: large-M MARLIN
#: over fp16 cuBLAS, 0.66 (vLLM PR 2497, bs1024) and 0.82 (marlin#21, RTX 6000 Ada); mean 0.74
MARLIN_COMPUTE = 0.74
MARLIN_M_TILE = 16  # one m16n8k16 MMA row block; M is padded to it
MARLIN_MAX_M_PASS = 64  # rows one pass keeps in registers before re-reading the weights (MARLIN design)
TINYGEMM_ROWS_PER_PASS = 8  # an effective pass (docs "Weight-only": int4mm.cu tiles 16 activation rows x 8 columns)
#: tinygemm's MMA loop (int4mm.cu: m16n8k16 fragments loaded from global memory at every k step, no
#: shared-memory staging) is latency-bound per SM: useful FLOPs per clock per SM it sustains once the
#: activations are more than a few rows (docs "Weight-only", tinygemm). Calibrated on two H200 CUDA-graph
#: measurements (tests/data/gpu_measured, 4096 x 4096 group 128, M = 16 and 128; mean of the two fits); the
#: H200's M = 1, 64 and 1024 and the RTX A6000 rows (HQQ's M = 16 / 128 / 1024) are left untouched
TINYGEMM_FLOPS_PER_CLK_PER_SM = 117.3  # fits 120.7 (M = 16) and 114.0 (M = 128)
GEMV_MAX_M = 8
#: GEMV-class weight-only kernels by library: (most rows it runs, whether its rows share one pass over the
#: weights). ``awq``: AutoAWQ / llm-awq ``gemv_forward_cuda`` (taken for <= 8 rows, ``WQLinear_GEMV``), a grid over
#: the rows (``num_blocks(1, OC / 4, B)``): every row streams the weights again. ``trtllm``: TensorRT-LLM's
#: weight-only batched GEMV (``weightOnlyQuantMatmulPlugin``: ``m < SMALL_M_FAST_PATH``, 5), each weight loaded once
#: for all the rows; 5 rows and more run its fpA_intB GEMM (the ``marlin`` family). ``inductor``: torch.compile
#: decomposes a one-row ``mm`` into a multiply and a reduction (Inductor's ``mm`` decomposition under
#: ``coordinate_descent_tuning``, which torchao sets), a Triton GEMV with the dequantization fused; more rows
#: run ``w.to(dtype)`` as a kernel of its own and cuBLAS (``gemv-dequant``)
GEMV_KINDS = {"awq": (GEMV_MAX_M, False), "trtllm": (4, True), "inductor": (1, True)}
#: what each kind's kernels need: (the weight widths they run, the GPU generations; None: any). AutoAWQ's kernels are
#: int4 and sm75+ (``awq_ext``); TensorRT-LLM's weight-only batched GEMV runs int4 / int8 on sm75+ (below it the
#: plugin turns the kernel off). ``any`` (the ``best`` stack): the fastest kind that runs the layer
GEMV_KIND_NEEDS = {"awq": ((4,), ("turing",) + SM80_PLUS), "trtllm": ((4, 8), ("turing",) + SM80_PLUS),
                   "inductor": (None, None)}


def _gemv_kind_problem(cfg: GpuConfig, m: int, fmt: WeightFormat, kind: str) -> str | None:
    """None if the GEMV of ``kind`` runs ``m`` rows of these weights on this GPU, else why not (one line)."""
    most = GEMV_KINDS[kind][0]
    if m > most:
        return f"gemv ({kind}) handles at most {most} row{'s' if most > 1 else ''}; got M={m}"
    bits, archs = GEMV_KIND_NEEDS[kind]
    if bits is not None and (fmt.bits not in bits or fmt.is_float):
        return f"gemv ({kind}) runs {' / '.join(f'int{b}' for b in bits)} weights; got {fmt.element_format or str(fmt.bits) + '-bit'}"
    if archs is not None and cfg.arch not in archs:
        return f"gemv ({kind}) needs sm75+; device is {cfg.arch}"
    return None


def gemv_kinds(cfg: GpuConfig, m: int, fmt: WeightFormat, kind: str) -> tuple[list[str], str | None]:
    """The GEMV kinds that run this layer for a stack's ``kind`` (``any``: every kind), and the first reason
    against when none does."""
    kinds = list(GEMV_KINDS) if kind == "any" else [kind]
    why = {k: _gemv_kind_problem(cfg, m, fmt, k) for k in kinds}
    ok = [k for k in kinds if why[k] is None]
    return ok, (None if ok else why[kinds[0]])
#: AWQ GEMM (llm-awq gemm_forward_4bit m16nXk32): 16-row tiles, dequantization on CUDA cores in the main
#: loop, repeated for every 16-row block; lane ops per weight (unpack, subtract zero, scale, convert)
AWQ_TILES = (km.Tile(16, 128, 32, 4, 2), km.Tile(16, 64, 32, 2, 2))
AWQ_DEQUANT_OPS = 4.0
AWQ_SPLIT_K = 8  # AutoAWQ WQLinear_GEMM: split_k_iters = 8, partial sums reduced by a second kernel
DEQUANT_OPS = 2.0  # unpack + scale per weight in a GEMV / MARLIN main loop (energy; overlapped)

# ---- 2:4 constants ------------------------------------------------------------------------------------
#: PyTorch's semi-structured tensor pads the dense operand to a multiple of 32 rows (fp16 / bf16 / int8:
#: torch/sparse/_semi_structured_conversions / semi_structured.py _DTYPE_SHAPE_CONSTRAINTS)
SPARSE24_MIN_M = 32
#: per-tile fixed cost of a 2:4 GEMM (metadata load / reorder, deeper prologue) in reduction elements:
#: eff(K) = efficiency.sparse_tensor * K / (K + SPARSE24_K0); fitted on the calibration half
#: (PyTorch tutorial quickstart 1.38x at K = 10240; BERT-base 0.73-0.79x compiled at K = 768 / 3072)
SPARSE24_K0 = 1536.0
#: 2:4 GEMM tiles: the dense tile library without 64x64 (the sparse operand's metadata is laid out in
#: 128-element blocks along one side; assumption); called without split-K (PyTorch: split_k = 1)
SPARSE24_TILES = tuple(t for t in km.TENSOR_TILES if (t.bm, t.bn) != (64, 64))
#: cuSPARSELt on Hopper runs one sm90 kernel for every shape profiled on an H200 (M = 1 to 8192, N / K = 3072 to
#: 11008): ``sm90_xmma_sparse_gemm_f16f16_f16f32_f32_tn_t_tilesize128x256x64_cgasize4x1x1_warpgroupsize2x1x1_
#: execute_segment_k_on``, 128 activation rows x 256 outputs, its K segmented across CTAs when the tile grid is
#: smaller than the SMs
SPARSE24_TILES_SM90 = (km.Tile(128, 256, 64, 8, 3),)

# ---- attention constants ------------------------------------------------------------------------------
#: MMA efficiency and the exposed fraction of the softmax exp time (docs "Attention")
ATTN_MMA_EFF = {"flash2": 0.80, "flashdecoding": 0.80, "flash3": 0.895}
ATTN_EXP_EXPOSED = {"flash2": 1.0, "flashdecoding": 1.0, "flash3": 0.80}
#: FlashAttention-2's Ampere kernels on a wgmma architecture reach less than ``ATTN_MMA_EFF x legacy_mma``:
#: fitted on one calibration row, the FlashAttention-3 paper's "FlashAttention-2 achieving only 35% utilization
#: on the H100" (published row ``at-fa2-h100-fwd-utilization``); the H200 measurements are left untouched
FA2_WGMMA_EFF = 0.795  # solved through the model: 346.3 TFLOPS (35% of 989.4) at head dim 128, 16k tokens
ATTN_BLOCK_M = 128  # query rows per CTA (prefill); 64 for decode-like M <= 64
#: the architectures where PyTorch's SDPA prefers cuDNN's fused attention (measured: PyTorch 2.11 on an H200
#: ran ``cudnn_generated_fort_native_sdpa_sm80_flash_fprop_wmma_f16`` for transformers' decode steps)
CUDNN_SDPA_ARCHS = ("hopper", "blackwell")
#: host microseconds cuDNN's SDPA spends building its graph for an attention call whose shapes it has not
#: planned (a decode step on a growing cache: every step a new KV length; docs "Attention"). Calibrated on
#: half of the H200 rows (Llama-2-7B DynamicCache decode, batch 1 x 128 and 16 x 512 tokens:
#: ``aten::_cudnn_attention_forward`` 1,865 and 1,259 us a call, mean 1,562, less the stack's 32 us dispatch);
#: held out: batch 1 x 2,048 (1,926 us) and 64 x 512 (1,417 us)
CUDNN_PLAN_HOST_US = 1530.0
MAX_DECODE_SPLITS = 128  # flash-attn's num_splits_heuristic: at most 128 splits of the cache
#: split-KV CTAs flash-attn plans per SM (``mha_fwd_kvcache``: "we multiply number of SMs by 2 to hard-code the
#: fact that we're using 128 threads per block")
DECODE_CTAS_PER_SM = 2


@lru_cache(maxsize=4096)
def decode_splits(ctas: int, sms: int, n_blocks: int) -> int:
    """Splits of the KV cache flash-attn's split-KV decoding runs (``num_splits_heuristic`` in
    csrc/flash_attn/flash_api.cpp, called with ``2 x SMs`` and at most :data:`MAX_DECODE_SPLITS`): none when the
    ``ctas`` (sequences x heads x query blocks) fill 80% of the slots; else, of the split counts up to the slots and
    the ``n_blocks`` key blocks that each shorten the blocks a split reads, the smallest whose wave efficiency
    (``waves / ceil(waves)``) reaches 85% of the best one's. In the C++'s arithmetic: the waves and efficiencies in
    float32, ``0.8f * slots`` in float32, the 85% in double (a split exactly at 85% of the best in real numbers
    falls on either side as the C++ rounds it)."""
    f32 = np.float32
    slots = DECODE_CTAS_PER_SM * sms
    if f32(ctas) >= f32(0.8) * f32(slots):
        return 1
    most = min(MAX_DECODE_SPLITS, slots, n_blocks)
    eff = []
    for s in range(1, most + 1):
        if s > 1 and -(-n_blocks // s) == -(-n_blocks // (s - 1)):
            eff.append(f32(0.0))  # (not eligible: as many blocks a split as one split fewer)
            continue
        waves = f32(ctas * s) / f32(slots)
        eff.append(waves / np.ceil(waves))
    best = max(eff, default=f32(0.0))
    for s, e in enumerate(eff, start=1):
        if e > 0.0 and float(e) >= 0.85 * float(best):
            return s
    return 1


def decode_block_n(head_dim: int) -> int:
    """Keys per block of flash-attn's split-KV decoding kernel (``run_mha_fwd_splitkv_dispatch``:
    ``kBlockN = head dim <= 64 ? 256 : (<= 128 ? 128 : 64)``): the granularity the cache is split at."""
    return 256 if head_dim <= 64 else (128 if head_dim <= 128 else 64)


def fa2_blocks(arch: str, head_dim: int, causal: bool) -> tuple[int, int]:
    """FlashAttention-2's forward tile ``(kBlockM, kBlockN)`` (flash-attention
    csrc/flash_attn/src/flash_fwd_launch_template.h, no dropout): head dim <= 64: 128 x 128; 96 and 128:
    128 x 64, except on sm86 / sm89 (``ada`` here) 64 x 64 causal and 128 x 32 otherwise; 192 and 256:
    128 x 64 (256 on Hopper: 64 x 64)."""
    if head_dim <= 64:
        return 128, 128
    if head_dim <= 128:
        if arch == "ada":
            return (64, 64) if causal else (128, 32)
        return 128, 64
    if head_dim > 192 and arch == "hopper":
        return 64, 64
    return 128, 64


def causal_block_keys(q_len: int, kv_len: int, block_m: int, block_n: int) -> float:
    """Mean keys a causal flash kernel computes per query block: block ``i`` runs key blocks up to
    ``ceil(((i + 1) block_m + L - S) / block_n)`` (flash_fwd_kernel.h ``n_block_max``), whole blocks,
    the diagonal ones masked after the MMA; capped at the ``L`` keys."""
    tiles = -(-q_len // block_m)
    total = 0
    for i in range(tiles):
        blocks = -(-((i + 1) * block_m + kv_len - q_len) // block_n)
        total += min(kv_len, blocks * block_n)
    return total / tiles


class NotApplicable(Exception):
    """A kernel family cannot run this layer; the message is one line (shape / alignment / dtype /
    stack / device)."""


def derated(cfg: GpuConfig, *, dram: float = 1.0) -> GpuConfig:
    """``cfg`` with the DRAM efficiency scaled by ``dram`` (a family's bandwidth fraction)."""
    if dram == 1.0:
        return cfg
    return replace(cfg, efficiency=replace(cfg.efficiency, dram=cfg.efficiency.dram * dram))


def repeat(est: km.KernelEstimate, passes: int, name: str) -> km.KernelEstimate:
    """``passes`` back-to-back passes of ``est`` inside one launch (work and traffic scale, launch once)."""
    if passes <= 1:
        est.kernel = name
        return est
    body = est.time_s - est.launch_s
    return replace(
        est, kernel=name, time_s=passes * body + est.launch_s, compute_s=est.compute_s * passes,
        memory_s=est.memory_s * passes, latency_s=est.latency_s * passes,
        flops={k: v * passes for k, v in est.flops.items()}, simt_ops=est.simt_ops * passes,
        dram_read_bytes=est.dram_read_bytes * passes, dram_write_bytes=est.dram_write_bytes * passes,
        l2_bytes=est.l2_bytes * passes,
        register_bytes=est.register_bytes * passes, smem_bytes=est.smem_bytes * passes,
        detail={**est.detail, "passes": passes})


# ---------------------------------------------------------------------------------------------
# Weight-only families
# ---------------------------------------------------------------------------------------------
def weight_only_applicable(cfg: GpuConfig, family: str, m: int, n: int, k: int, fmt: WeightFormat,
                           dtype: str, gemv_kind: str = "awq") -> str | None:
    """None if ``family`` runs this weight-only GEMM, else why not (one line). ``gemv_kind``: whose GEMV-class
    kernel the stack ships (:data:`GEMV_KINDS`)."""
    if DTYPE_BYTES[dtype] != 2:
        return f"{family} needs 16-bit activations; the layer computes in {dtype}"
    if family == "gemv-dequant":
        return None
    if cfg.arch == "cdna3" and family != "gemv":
        return f"{family} is a CUDA kernel; not on {cfg.arch}"
    if family in ("marlin", "tinygemm") and cfg.arch not in SM80_PLUS:
        return f"{family} needs sm80+ (Ampere or newer); device is {cfg.arch}"
    if family == "marlin":
        if fmt.bits not in (4, 8):
            return f"marlin runs 4- or 8-bit weights; got {fmt.bits}-bit"
        if n % 64 or k % 128:
            return f"marlin needs N % 64 == 0 and K % 128 == 0; got N={n} K={k}"
        if fmt.group_size not in (32, 64, 128) and fmt.group_size < k:
            return f"marlin needs group size 32/64/128 or per channel; got {fmt.group_size}"
    elif family == "tinygemm":
        if fmt.bits != 4 or fmt.is_float:
            return f"tinygemm runs int4 weights only; got {fmt.element_format or str(fmt.bits) + '-bit'}"
        if fmt.group_size not in (32, 64, 128, 256):
            return f"tinygemm needs group size 32/64/128/256; got {fmt.group_size}"
        if k % 64 or n % 8:
            return f"tinygemm needs K % 64 == 0 and N % 8 == 0; got N={n} K={k}"
    elif family == "gemv":
        if fmt.bits > 8:
            return f"gemv runs <= 8-bit weights; got {fmt.bits}-bit"
        return gemv_kinds(cfg, m, fmt, gemv_kind)[1]
    elif family == "awq-gemm":
        if fmt.bits != 4 or fmt.is_float:
            return f"awq-gemm runs int4 weights only; got {fmt.element_format or str(fmt.bits) + '-bit'}"
        if cfg.arch not in ("turing",) + SM80_PLUS:
            return f"awq-gemm needs sm75+; device is {cfg.arch}"
        if k % fmt.group_size or n % 64:
            return f"awq-gemm needs N % 64 == 0 and K a multiple of the group {fmt.group_size}; got N={n} K={k}"
    return None


def dense_kernel(cfg: GpuConfig, m: int, n: int, k: int, groups: int, dtype: str) -> km.KernelEstimate:
    """cuBLAS: at one row the faster of the GEMV and the GEMM tile library, else the tile library; on a GPU outside
    :data:`SM80_PLUS` (pre-Ampere NVIDIA, AMD), whose tile library the model holds no skinny tiles for, a product of
    several rows also as :func:`skinny_gemv` (cuBLAS's gemv / gemmSN, rocBLAS's skinny kernels), whichever is faster
    (docs "GEMV")."""
    if groups == 1 and m == 1:
        # the faster of the two (the tile wins only on products so small that the GEMV's dependent-load chain
        # outlasts one tile: else a batch of 16 ran faster than a batch of 1 on those layers)
        one = km.gemv(cfg, n, k, dtype, name="gemv")
        try:
            tiled = km.gemm(cfg, m, n, k, groups, dtype, name="gemm")
        except SimulationError:  # no tile fits an SM of this config: the GEMV runs
            return one
        return one if one.time_s <= tiled.time_s else tiled
    tiled = km.gemm(cfg, m, n, k, groups, dtype, name="gemm")
    if groups == 1 and cfg.arch not in SM80_PLUS:
        rows = skinny_gemv(cfg, m, n, k, dtype)
        return rows if rows.time_s < tiled.time_s else tiled
    return tiled


def skinny_gemv(cfg: GpuConfig, m: int, n: int, k: int, dtype: str) -> km.KernelEstimate:
    """``m`` rows as passes of up to :data:`GEMV_MAX_M` over the weights in one launch: each pass streams the
    weights once for its rows (:func:`~accelsim.hw.gpu.kernel_models.gemv` with ``batch``), so time grows by whole
    passes, never faster than the rows (a 9th row costs a second pass, not a 64-row tile)."""
    full, rest = divmod(m, GEMV_MAX_M)
    one = km.gemv(cfg, n, k, dtype, batch=min(m, GEMV_MAX_M), name="gemv")
    if not full or not rest:
        return repeat(one, max(full, 1), f"gemv_{dtype}")
    est = repeat(one, full, f"gemv_{dtype}")
    last = km.gemv(cfg, n, k, dtype, batch=rest, name="gemv")
    # the last pass runs inside the same launch: its body alone
    tail = replace(last, time_s=last.time_s - last.launch_s, launch_s=0.0, kernels=0)
    out = km.combine([est, tail], kernel=est.kernel)
    out.detail = {**est.detail, "passes": full + 1}
    return out


def weight_only(cfg: GpuConfig, family: str, m: int, n: int, k: int, groups: int, dtype: str,
                fmt: WeightFormat, gemv_kind: str = "awq") -> km.KernelEstimate:
    """Time of one weight-only kernel family (docs "Kernel families: weight-only"); ``gemv_kind`` as in
    :func:`weight_only_applicable`."""
    eb = DTYPE_BYTES[dtype]
    wb = fmt.bytes_per_weight(k=k)
    if family == "gemv-dequant":  # dequantize the weights to 16 bits, then cuBLAS
        deq = km.stream(cfg, n * k * groups * wb, n * k * groups * eb, simt_ops=DEQUANT_OPS * n * k * groups,
                        dtype=dtype, name="dequantize")
        return km.combine([deq, dense_kernel(cfg, m, n, k, groups, dtype)], kernel=f"dequant+cublas_{dtype}")
    if family == "gemv" and gemv_kind == "any":  # the fastest kind that runs it (the best stack)
        kinds = gemv_kinds(cfg, m, fmt, "any")[0] or ["awq"]
        return min((weight_only(cfg, family, m, n, k, groups, dtype, fmt, kind) for kind in kinds),
                   key=lambda est: est.time_s)
    if family in ("gemv", "tinygemm"):
        if family == "tinygemm":
            rows_per_pass = TINYGEMM_ROWS_PER_PASS
        else:  # one pass a row, or every row in one pass
            rows_per_pass = m if GEMV_KINDS[gemv_kind][1] else 1
        c = derated(cfg, dram=BW_FRACTION[family])
        one = km.gemv(c, n * groups, k, dtype, w_bytes=wb, batch=min(m, rows_per_pass),
                      extra_simt_ops_per_w=DEQUANT_OPS, name=family)
        est = repeat(one, math.ceil(m / rows_per_pass), f"{family}_w{fmt.bits}_{dtype}")
        # a last pass with fewer rows than the others writes only its own rows' outputs
        est.dram_write_bytes = float(m * n * groups * eb)
        if family == "tinygemm":
            loop_s = 2.0 * m * n * k * groups / (TINYGEMM_FLOPS_PER_CLK_PER_SM * cfg.sms * cfg.clock_hz)
            body = est.time_s - est.launch_s
            est = replace(est, time_s=max(body, loop_s + one.latency_s) + est.launch_s,
                          compute_s=max(est.compute_s, loop_s))
        return est
    if family == "awq-gemm":  # split-K: AWQ_SPLIT_K slices of K as independent GEMMs, then a reduction
        # the slices' partial sums are written in the activation type (AutoAWQ's gemm_cuda_gen.cu: an output tensor
        # of the input's dtype, split x M x N, stored with __float2half) and summed by `.sum(0)`
        c = derated(cfg, dram=BW_FRACTION[family])
        split = AWQ_SPLIT_K if k % (AWQ_SPLIT_K * fmt.group_size) == 0 else 1
        est = km.gemm(c, m, n, k // split, groups * split, dtype, b_bytes=wb, extra_simt_ops_per_b=AWQ_DEQUANT_OPS,
                      tiles=AWQ_TILES, c_bytes=eb if split > 1 else None, name="awq_gemm")
        if split == 1:
            return est
        red = km.stream(cfg, split * m * n * groups * eb, m * n * groups * eb, flops=float(split * m * n * groups),
                        dtype=dtype, name="splitk_reduce")
        out = km.combine([est, red], kernel=est.kernel + f"_splitk{split}")
        out.detail = {**est.detail, "split_k": split}
        return out
    if family == "marlin":
        return marlin(cfg, m, n, k, groups, dtype, fmt, sparse24=False)
    raise NotApplicable(f"unknown weight-only family {family!r}")


def marlin(cfg: GpuConfig, m: int, n: int, k: int, groups: int, dtype: str, fmt: WeightFormat,
           sparse24: bool) -> km.KernelEstimate:
    """MARLIN / Sparse-MARLIN: 16-row MMA blocks (M padded to 16), dequantization overlapped with the
    weight stream, weights read once per 64-row pass (from L2 after the first when they fit);
    ``time = max(weight stream, padded MMA work) + DRAM latency + launch``."""
    eb = DTYPE_BYTES[dtype]
    clk = cfg.clock_hz
    mp = -(-m // MARLIN_M_TILE) * MARLIN_M_TILE
    passes = -(-m // MARLIN_MAX_M_PASS)
    wb = fmt.bytes_per_weight(sparse24=sparse24, k=k)
    w_total = n * k * groups * wb
    fits = w_total <= cfg.l2_mb * 1024 * 1024 * cfg.efficiency.l2_reuse_fraction
    w_dram = w_total * (1 if fits else passes)
    a_total, c_total = m * k * groups * eb, m * n * groups * eb
    rate, _ = cfg.math_rate(dtype)
    eff = cfg.efficiency.tensor * MARLIN_COMPUTE
    if cfg.arch in WGMMA_ARCHS:
        eff *= cfg.efficiency.legacy_mma
    if sparse24:
        rate *= 2.0
    flops_exec = 2.0 * mp * n * k * groups
    compute_s = flops_exec / (rate * cfg.sms * clk * eff)
    memory_s = max(km._dram_s(derated(cfg, dram=BW_FRACTION["marlin"]), w_dram + a_total + c_total),
                   km._l2_s(cfg, w_total * passes + a_total + c_total))
    latency_s = cfg.dram_latency_cycles / clk
    launch = cfg.launch_overhead_us * 1e-6
    name = "sparse_marlin" if sparse24 else "marlin"
    return km._finish(km.KernelEstimate(
        kernel=f"{name}_w{fmt.bits}_{dtype}", time_s=max(compute_s, memory_s) + latency_s + launch,
        compute_s=compute_s, memory_s=memory_s, latency_s=latency_s, launch_s=launch,
        tiles=int(-(-n // 64) * groups), flops={("tensor", dtype): flops_exec},
        simt_ops=DEQUANT_OPS * n * k * groups * passes, dram_read_bytes=w_dram + a_total, dram_write_bytes=c_total,
        l2_bytes=w_total * passes + a_total + c_total, smem_bytes=2.0 * (w_total * passes + a_total),
        register_bytes=km.RF_BYTES_PER_FLOP["tensor"] * flops_exec,
        detail={"tile": f"{MARLIN_M_TILE}x64", "m_padded": mp, "passes": passes}))


# ---------------------------------------------------------------------------------------------
# 2:4 structured sparsity
# ---------------------------------------------------------------------------------------------
def sparse24_applicable(cfg: GpuConfig, family: str, dtype: str) -> str | None:
    """None if ``family`` runs a 2:4 GEMM in ``dtype`` on this device, else why not."""
    if not cfg.sparse_tensor_cores:
        return f"device has no 2:4 sparse tensor cores ({cfg.arch})"
    if cfg.math_rate(dtype)[1] != "tensor":
        return f"2:4 sparse tensor cores do not run {dtype}"
    if family == "cutlass" and dtype in ("fp8", "fp6", "fp4"):
        return f"the CUTLASS 2.x 2:4 kernels have no {dtype}"
    return None


def sparse24_scale(cfg: GpuConfig, family: str, k: int) -> tuple[float, bool]:
    """``(efficiency factor, legacy)`` of a 2:4 GEMM with reduction ``k``: ``K / (K + K0)``; CUTLASS 2.x
    kernels on a wgmma architecture (Hopper / Blackwell) issue Ampere's mma.sp.sync, which runs at the
    legacy mma.sync rate without the 2:4 doubling (only wgmma.sp doubles there): x ``legacy_mma / 2``."""
    scale = k / (k + SPARSE24_K0)
    legacy = family == "cutlass" and cfg.arch in WGMMA_ARCHS
    if legacy:
        scale *= cfg.efficiency.legacy_mma / 2.0
    return scale, legacy


def sparse24(cfg: GpuConfig, family: str, m: int, n: int, k: int, groups: int, dtype: str,
             layout_copies: bool) -> km.KernelEstimate:
    """cuSPARSELt / CUTLASS 2:4 GEMM (docs "Kernel families: 2:4"): M padded to ``SPARSE24_MIN_M`` rows,
    math at 2x the dense rate with efficiency ``sparse_tensor * K / (K + K0)``; CUTLASS's kernels are
    Ampere kernels, on Hopper / Blackwell they run at ``legacy_mma`` of the dense rate (no doubling). ``layout_copies``: the
    padding copy and the result transpose as extra kernels (PyTorch's semi-structured tensor)."""
    eb = DTYPE_BYTES[dtype]
    mp = -(-m // SPARSE24_MIN_M) * SPARSE24_MIN_M
    sm90 = family == "cusparselt" and cfg.arch == "hopper"
    # the sm90 kernel: its tile, no K-dependent efficiency (K0 was fitted on Ampere's kernels), and its
    # segment-K keeps every SM streaming when the tile grid is small
    scale, legacy = (1.0, False) if sm90 else sparse24_scale(cfg, family, k)
    est = None
    for tile in (SPARSE24_TILES_SM90 if sm90 else SPARSE24_TILES):  # Ampere kernels: no split-K
        ctas = -(-mp // tile.bm) * -(-n // tile.bn) * groups
        c = cfg if sm90 else derated(cfg, dram=cfg.dram_fraction(ctas))
        try:
            t = km.gemm(c, mp, n, k, groups, dtype, sparse24=True, eff_scale=scale, tiles=[tile], name="gemm")
        except SimulationError:  # the tile does not fit an SM
            continue
        if est is None or t.time_s < est.time_s:
            est = t
    if est is None:
        raise SimulationError(f"gpu '{cfg.name}': no 2:4 tile fits an SM ({dtype})")
    est.kernel = est.kernel.replace("gemm_sp24", f"{family}_sp24" + ("_sm80" if legacy else ""), 1)
    est.detail = {**est.detail, "m_padded": mp, "k_efficiency": round(scale, 4)}
    parts = [est]
    if layout_copies:
        if mp != m:
            parts.insert(0, km.stream(cfg, m * k * groups * eb, mp * k * groups * eb, dtype=dtype, name="pad_dense_operand"))
        parts.append(km.stream(cfg, mp * n * groups * eb, m * n * groups * eb, dtype=dtype, name="transpose_result"))
    if len(parts) == 1:
        return est
    out = km.combine(parts, kernel=est.kernel)
    out.detail = {**est.detail, "parts": [p.kernel for p in parts]}
    return out


# ---------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------
def attention_applicable(cfg: GpuConfig, family: str, dtype: str, decode: bool) -> str | None:
    if family in ("math", "sdpa-math", "llama-ref"):
        return None
    if cfg.arch not in SM80_PLUS:
        return f"{family} needs sm80+ (Ampere or newer); device is {cfg.arch}"
    if family == "cudnn" and cfg.arch not in CUDNN_SDPA_ARCHS:
        return f"cudnn: PyTorch's SDPA picks cuDNN attention on sm90+ (Hopper, Blackwell) only; device is {cfg.arch}"
    if family == "flash3":
        if cfg.arch != "hopper":
            return f"flash3 needs Hopper (wgmma / TMA); device is {cfg.arch}"
        if dtype not in ("fp16", "bf16", "fp8"):
            return f"flash3 runs fp16 / bf16 / fp8; got {dtype}"
    elif dtype not in ("fp16", "bf16"):
        return f"{family} runs fp16 / bf16; got {dtype}"
    if family == "flashdecoding" and not decode:
        return "flashdecoding splits the KV cache of a decode step (few queries); this is a prefill"
    return None


def _sdpa_math(cfg: GpuConfig, layer, g, dtype: str) -> km.KernelEstimate:
    """PyTorch's SDPA math backend (``at::_scaled_dot_product_attention_math``, docs "Attention"), kernel by
    kernel as its source launches them: Q, K, V converted to float32 when 16-bit (one copy each), K / V
    repeated to every query head under GQA (``repeat_interleave``), Q and K^T each multiplied by
    ``sqrt(scale)`` (a new tensor each), the QK^T GEMM, a causal mask built and added, ``_safe_softmax``
    (softmax, then ``eq(-inf)``, ``all`` over the row and ``where`` to zero fully masked rows), the PV
    GEMM, and both returned tensors converted back to the input type (the output and the attention
    probabilities, which the caller drops). One host dispatch in eager launch (one call into ATen)."""
    eb = DTYPE_BYTES[dtype]
    mdt = "fp32" if eb == 2 else dtype
    meb = DTYPE_BYTES[mdt]
    dq, dv, s_len, l_len = layer.head_dim, layer.v_head_dim, layer.q_len, layer.kv_len
    groups, m = g.groups, g.m
    rep = max(1, layer.heads // max(layer.kv_heads, 1))
    q_el, k_el, v_el = float(m) * dq * groups, float(l_len) * dq * groups, float(l_len) * dv * groups
    scores, out_el, mask_el = float(m) * l_len * groups, float(m) * dv * groups, float(s_len) * l_len

    def copy(elements: float, read_b: float, write_b: float, name: str, reads: int = 1, fraction: float = 1.0
             ) -> km.KernelEstimate:
        return km.stream(cfg, elements * read_b * reads, elements * write_b, dtype=mdt, name=name,
                         bandwidth_fraction=fraction)

    cast = km.CAST_COPY_BANDWIDTH  # ATen's copy across data types (not its vectorised kernel)
    parts = []
    if mdt != dtype:
        parts += [copy(q_el, eb, meb, "sdpa_upcast_q", fraction=cast), copy(k_el, eb, meb, "sdpa_upcast_k", fraction=cast),
                  copy(v_el, eb, meb, "sdpa_upcast_v", fraction=cast)]
    if rep > 1:
        parts += [copy(k_el * rep, meb / rep, meb, "sdpa_repeat_k"), copy(v_el * rep, meb / rep, meb, "sdpa_repeat_v")]
    parts += [copy(q_el, meb, meb, "sdpa_scale_q"), copy(k_el * rep, meb, meb, "sdpa_scale_k"),
              km.gemm(cfg, m, l_len, dq, groups, mdt, name="sdpa_qk")]
    if layer.causal:  # ones(S, L).tril(), the bool mask made additive (logical_not, where), added to the scores
        parts += [copy(mask_el, 0.0, 1.0, "sdpa_mask_ones"), copy(mask_el, 1.0, 1.0, "sdpa_mask_tril"),
                  copy(mask_el, 1.0, 1.0, "sdpa_mask_not"), copy(mask_el, 1.0, meb, "sdpa_mask_where"),
                  copy(scores, meb, meb, "sdpa_mask_add", reads=2)]
    parts += [km.stream(cfg, scores * meb, scores * meb, simt_ops=3.0 * scores, dtype=mdt, name="softmax"),
              copy(scores, meb, 1.0, "safe_softmax_eq"), copy(scores, 1.0, 0.0, "safe_softmax_all"),
              copy(scores, meb, meb, "safe_softmax_where"),
              km.gemm(cfg, m, dv, l_len, groups, mdt, name="sdpa_pv")]
    if mdt != dtype:
        parts += [copy(out_el, meb, eb, "sdpa_downcast", fraction=cast),
                  copy(scores, meb, eb, "sdpa_downcast_probs", fraction=cast)]
    est = km.combine(parts, kernel=f"sdpa_math_{dtype}" + ("_fp32" if mdt != dtype else ""))
    est.host_calls = 1  # one library call: its kernels are launched from C++, not dispatched from Python
    return est


def _llama_ref(cfg: GpuConfig, layer, g, dtype: str) -> km.KernelEstimate:
    """Attention as Meta's Llama reference code writes it, which AutoAWQ's fused attention runs for a prefill
    (``awq/modules/fused/attn.py`` at 5c7e368, AutoAWQ 0.1.6; docs "Attention"), kernel by kernel in eager
    PyTorch: under GQA K and V repeated to every query head (``torch.repeat_interleave``, two copies); the QK^T
    GEMM writing the scores in the input type; ``/ math.sqrt(head_dim)`` (a new tensor); ``+ attention_mask``
    (the causal mask of a prefill, broadcast); ``F.softmax(scores.float(), dim=-1).type_as(xq)``: a cast to
    float32, the softmax in float32 and a cast back; the PV GEMM; and the output's ``transpose(1, 2)
    .contiguous()`` (a copy). 32 bytes moved per score against the ``math`` family's 8."""
    eb = DTYPE_BYTES[dtype]
    fb = DTYPE_BYTES["fp32"]
    dq, dv, s_len, l_len = layer.head_dim, layer.v_head_dim, layer.q_len, layer.kv_len
    groups, m = g.groups, g.m
    rep = max(1, layer.heads // max(layer.kv_heads, 1))
    k_el, v_el = float(l_len) * dq * groups, float(l_len) * dv * groups
    scores, out_el, mask_el = float(m) * l_len * groups, float(m) * dv * groups, float(s_len) * l_len
    cast = km.CAST_COPY_BANDWIDTH
    parts = []
    if rep > 1:
        parts += [km.stream(cfg, k_el * eb, k_el * rep * eb, dtype=dtype, name="repeat_k"),
                  km.stream(cfg, v_el * eb, v_el * rep * eb, dtype=dtype, name="repeat_v")]
    parts += [km.gemm(cfg, m, l_len, dq, groups, dtype, name="attn_qk"),
              km.stream(cfg, scores * eb, scores * eb, simt_ops=scores, dtype=dtype, name="attn_scale")]
    if layer.causal and s_len > 1:
        parts.append(km.stream(cfg, (scores + mask_el) * eb, scores * eb, simt_ops=scores, dtype=dtype,
                               name="attn_mask_add"))
    if eb < fb:  # `.float()` and `.type_as(xq)` are no-ops on float32 scores (they return the tensor itself)
        parts.append(km.stream(cfg, scores * eb, scores * fb, dtype="fp32", name="attn_upcast", bandwidth_fraction=cast))
    parts.append(km.stream(cfg, scores * fb, scores * fb, simt_ops=3.0 * scores, dtype="fp32", name="softmax_fp32"))
    if eb < fb:
        parts.append(km.stream(cfg, scores * fb, scores * eb, dtype="fp32", name="attn_downcast", bandwidth_fraction=cast))
    parts += [km.gemm(cfg, m, dv, l_len, groups, dtype, name="attn_pv"),
              km.stream(cfg, out_el * eb, out_el * eb, dtype=dtype, name="attn_out_transpose")]
    return km.combine(parts, kernel=f"llama_ref_attention_{dtype}")


def attention(cfg: GpuConfig, family: str, layer, batch: int, dtype: str, kv_bits: float) -> km.KernelEstimate:
    """One attention layer (docs "Attention"). ``math``: unfused attention in the layer's precision (QK^T
    GEMM writing the scores, softmax kernel, PV GEMM: attention written with torch.matmul and softmax).
    ``sdpa-math``: PyTorch's SDPA math backend, which since 2.5 computes 16-bit inputs in float32 (unless
    ``torch.backends.cuda.allow_fp16_bf16_reduction_math_sdp(True)``), kernel by kernel as ATen launches
    them (:func:`_sdpa_math`). Flash families: one fused
    kernel; CTAs = sequences x KV heads x query blocks (x KV splits for flashdecoding);
    ``compute = padded MMA FLOPs / (rate * eff) + exposed exp time``, both slowed by ``min(1, CTAs / SMs)``; memory = Q + the KV cache at ``kv_bits`` + O (+
    split partials), at ``min(1, CTAs / SMs)`` of the achievable bandwidth."""
    g = layer.gemm(batch)
    eb = DTYPE_BYTES[dtype]
    dq, dv = layer.head_dim, layer.v_head_dim
    s_len, l_len = layer.q_len, layer.kv_len
    groups, m, n = g.groups, g.m, g.n
    if family == "math":
        qk = km.gemm(cfg, m, l_len, dq, groups, dtype, name="sdpa_qk")
        scores = float(m) * l_len * groups
        sm = km.stream(cfg, scores * eb, scores * eb, simt_ops=3.0 * scores, dtype=dtype, name="softmax")
        pv = km.gemm(cfg, m, dv, l_len, groups, dtype, name="sdpa_pv")
        return km.combine([qk, sm, pv], kernel=f"sdpa_math_{dtype}")
    if family == "sdpa-math":
        return _sdpa_math(cfg, layer, g, dtype)
    if family == "llama-ref":
        return _llama_ref(cfg, layer, g, dtype)
    if family == "cudnn":
        # cuDNN's flash forward: one kernel spreading a decode step's cache over the SMs as split-KV does
        # (no combine kernel), the FA2 class for a prefill; an Ampere-style (mma.sync) kernel on every sm90+
        est = attention(cfg, "flashdecoding" if m <= 64 else "flash2", layer, batch, dtype, kv_bits)
        est.kernel = f"cudnn_sdpa_{dtype}"
        est.time_s -= est.launch_s - cfg.launch_overhead_us * 1e-6
        est.launch_s, est.kernels = cfg.launch_overhead_us * 1e-6, 1
        return est
    clk = cfg.clock_hz
    block_m = ATTN_BLOCK_M if m > 64 else 64
    if family == "flash2" and m > 64 and layer.causal and not layer.window:
        # whole key blocks up to the diagonal, the diagonal block masked after its MMA (docs "Attention")
        block_m, block_n = fa2_blocks(cfg.arch, dq, True)
        n = max(n, causal_block_keys(s_len, l_len, block_m, block_n))
    tiles_m = -(-m // block_m)
    mp = tiles_m * block_m if m > 64 else max(16, -(-m // 16) * 16)
    splits = 1
    if family == "flashdecoding":
        splits = decode_splits(groups * tiles_m, cfg.sms, -(-l_len // decode_block_n(dq)))
    ctas = groups * tiles_m * splits
    occupancy = min(1.0, ctas / cfg.sms)
    rate, _ = cfg.math_rate(dtype)
    eff = ATTN_MMA_EFF[family]
    if family != "flash3" and cfg.arch in WGMMA_ARCHS:
        eff *= cfg.efficiency.legacy_mma * FA2_WGMMA_EFF
    flops_exec = 2.0 * mp * n * (dq + dv) * groups
    exps = float(mp) * n * groups
    mma_s = flops_exec / (rate * cfg.sms * clk * eff)
    exp_s = ATTN_EXP_EXPOSED[family] * exps / (cfg.sfu_ops_per_clk_per_sm * cfg.sms * clk)
    compute_s = (mma_s + exp_s) / occupancy
    q_bytes = float(m) * dq * groups * eb
    o_bytes = float(m) * dv * groups * eb
    kv_bytes = float(l_len) * (dq + dv) * groups * kv_bits / 8.0
    partial = 2.0 * splits * m * (dv + 2) * groups * 4.0 if splits > 1 else 0.0
    dram = q_bytes + kv_bytes + o_bytes + partial
    memory_s = km._dram_s(cfg, dram) / cfg.dram_fraction(ctas)
    latency_s = cfg.dram_latency_cycles / clk
    launch = cfg.launch_overhead_us * 1e-6
    kernels = 2 if splits > 1 else 1
    est = km.KernelEstimate(
        kernel=f"{family}_{dtype}" + (f"_split{splits}" if splits > 1 else ""),
        time_s=max(compute_s, memory_s) + latency_s + launch * kernels, compute_s=compute_s, memory_s=memory_s,
        latency_s=latency_s, launch_s=launch * kernels, waves=ctas / cfg.sms, tiles=ctas,
        flops={("tensor", dtype): flops_exec}, simt_ops=3.0 * exps, dram_read_bytes=q_bytes + kv_bytes + partial / 2,
        dram_write_bytes=o_bytes + partial / 2, l2_bytes=dram + kv_bytes * (tiles_m - 1),
        smem_bytes=2.0 * (kv_bytes * tiles_m + q_bytes), register_bytes=km.RF_BYTES_PER_FLOP["tensor"] * flops_exec,
        detail={"tile": f"{block_m}xkv", "splits": splits, "ctas": ctas, "occupancy": round(occupancy, 4)},
        kernels=kernels, host_calls=1)
    return km._finish(est)


__all__ = ["NotApplicable", "WeightFormat", "attention", "attention_applicable", "dense_kernel", "marlin",
           "sparse24", "sparse24_applicable", "sparse24_scale", "weight_only", "weight_only_applicable"]
