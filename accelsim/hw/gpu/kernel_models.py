"""Analytical GPU kernel models: what one cuBLAS / cuSPARSE / cuDNN-style kernel costs.

Every function takes a validated :class:`GpuConfig` and plain shapes / arrays and returns a
:class:`KernelEstimate` (seconds, bytes, FLOPs, the bound, waves). Equations and assumptions:
``docs/models/gpu.md`` (section names are given in each docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

from accelsim.errors import SimulationError
from accelsim.hw.gpu import _kernels
from accelsim.hw.gpu.config import DTYPE_BYTES, GpuConfig

#: register bytes read per FLOP: SIMT FMA reads 3 x 4 B per 2 FLOPs; an MMA reads its A/B/C
#: fragments (m16n8k16: 0.5 + 0.25 + 1 KB) per 4096 FLOPs (docs "Energy")
RF_BYTES_PER_FLOP = {"simt": 6.0, "tensor": 0.5}
#: per-row fixed work of a warp-per-row kernel: row pointer / reduction / store (cycles beyond the
#: DRAM latency of the row-pointer load): 5 shuffle-add steps of ~30 cycles (docs "GEMV")
REDUCTION_CYCLES = 150.0
#: fraction of a CTA's epilogue (C tile written to memory after its main loop) that is exposed when it
#: runs alone on its SM; ``c`` co-resident CTAs overlap one CTA's epilogue with the others' main loops,
#: so a wave pays ``EPILOGUE_EXPOSED * C bytes / (DRAM bandwidth * c)`` after ``max(compute, memory)``
#: (docs "Dense GEMM"; shows in short-K GEMMs: DeepGEMM 4096x32768x512 FP8, calibration half)
EPILOGUE_EXPOSED = 1.0


@dataclass(frozen=True)
class Tile:
    """A CTA tile: ``bm x bn`` outputs, ``bk`` reduction step, ``warps`` warps, ``stages`` buffers."""

    bm: int
    bn: int
    bk: int
    warps: int
    stages: int

    @property
    def label(self) -> str:
        return f"{self.bm}x{self.bn}x{self.bk}"


#: CUTLASS / cuBLAS-style tile libraries (docs "Tile library")
TENSOR_TILES = (
    Tile(256, 128, 32, 8, 3), Tile(128, 256, 32, 8, 3), Tile(128, 128, 32, 4, 4),
    Tile(128, 64, 32, 4, 4), Tile(64, 128, 32, 4, 4), Tile(64, 64, 32, 4, 5),
)
SIMT_TILES = (Tile(128, 128, 8, 8, 2), Tile(128, 64, 8, 4, 2), Tile(64, 128, 8, 4, 2))
#: cuBLAS's Hopper (sm90) tensor kernels ("nvjet_sm90_..._<bm>x<bn>_64x<stages>_...", profiled on an H200, CUDA 13):
#: warp-specialised, a 64-deep K step and deep pipelines; tiles beside the power-of-two ones that fill 132 SMs
HOPPER_TENSOR_TILES = (
    Tile(256, 128, 64, 8, 4), Tile(320, 128, 64, 8, 3), Tile(192, 192, 64, 8, 4), Tile(128, 192, 64, 8, 5),
    Tile(168, 128, 64, 8, 5), Tile(128, 128, 64, 8, 6), Tile(128, 64, 64, 4, 8), Tile(112, 64, 64, 4, 9),
    Tile(64, 64, 64, 4, 13),
)
#: cuBLAS's SGEMM kernels from Ampere on (CUDA 13 on an H200, profiled: ``sm80_xmma_gemm_f32f32_..._tilesize
#: {128x128, 128x64, 64x256, 32x128}x8_stage3_warpsize{2x2x1, 2x2x1, 1x4x1, 1x2x1}``; the first size along the
#: activation rows), each also as a split-K kernel followed by a reduction kernel (``execute_split_k_kernel``)
SIMT_TILES_SM80 = (Tile(128, 128, 8, 4, 3), Tile(128, 64, 8, 4, 3), Tile(64, 256, 8, 4, 3), Tile(32, 128, 8, 2, 3))
#: generations with Ampere-class kernels (mma.sync, cp.async; cuBLAS's sm80 xmma SGEMM): MARLIN, tinygemm,
#: FlashAttention-2 and the split-K SGEMM below exist from them on
SM80_PLUS = ("ampere", "ada", "hopper", "blackwell")
SPLIT_K = (2, 4, 8, 16)  # split factors tried for a cuBLAS / cuBLASLt GEMM on SM80_PLUS (CUDA or tensor cores)


@dataclass
class KernelEstimate:
    """One (or a sequence of) kernel(s). Times in seconds, traffic in bytes, work in FLOPs."""

    kernel: str
    time_s: float
    compute_s: float
    memory_s: float
    latency_s: float
    launch_s: float
    waves: float = 0.0
    tiles: int = 0
    flops: dict = field(default_factory=dict)  # (unit, dtype) -> FLOPs executed
    simt_ops: float = 0.0  # non-FMA SIMT lane operations (dequantization, lookups, transforms)
    dram_read_bytes: float = 0.0
    dram_write_bytes: float = 0.0
    l2_bytes: float = 0.0
    smem_bytes: float = 0.0
    register_bytes: float = 0.0
    detail: dict = field(default_factory=dict)
    kernels: int = 1  # kernel launches (0: no kernel - a view or work fused into a neighbour)
    #: host dispatches in eager launch (None: one per kernel); a library call that launches several kernels
    #: from C++ (cuBLAS split-K and its reduction, FlashAttention's split-KV and combine kernels) is one
    host_calls: int | None = None
    #: host microseconds beyond the dispatches in eager launch (a library planning a shape it has not seen:
    #: cuDNN's SDPA graph for a new KV length)
    host_plan_us: float = 0.0

    @property
    def dispatches(self) -> int:
        """Host dispatches of these kernels in eager launch."""
        return self.kernels if self.host_calls is None else self.host_calls

    @property
    def bound(self) -> str:
        """``latency`` when fixed latencies and launch dominate, else ``compute`` or ``memory``."""
        if self.latency_s + self.launch_s >= max(self.compute_s, self.memory_s):
            return "latency"
        return "compute" if self.compute_s >= self.memory_s else "memory"


def _finish(est: KernelEstimate) -> KernelEstimate:
    for name in ("time_s", "compute_s", "memory_s", "latency_s"):
        v = getattr(est, name)
        if not math.isfinite(v) or v < 0:
            raise SimulationError(f"gpu kernel {est.kernel}: {name} is not a finite non-negative number ({v})")
    return est


def combine(parts: Sequence[KernelEstimate], kernel: str | None = None) -> KernelEstimate:
    """Kernels run back to back: times, traffic and work add; waves and tiles of the largest part."""
    if not parts:
        raise SimulationError("gpu: no kernels to combine")
    main = max(parts, key=lambda p: p.time_s)
    flops: dict = {}
    for p in parts:
        for k, v in p.flops.items():
            flops[k] = flops.get(k, 0.0) + v
    out = KernelEstimate(
        kernel=kernel or "+".join(p.kernel for p in parts),
        time_s=sum(p.time_s for p in parts), compute_s=sum(p.compute_s for p in parts),
        memory_s=sum(p.memory_s for p in parts), latency_s=sum(p.latency_s for p in parts),
        launch_s=sum(p.launch_s for p in parts), waves=main.waves, tiles=main.tiles, flops=flops,
        simt_ops=sum(p.simt_ops for p in parts),
        dram_read_bytes=sum(p.dram_read_bytes for p in parts), dram_write_bytes=sum(p.dram_write_bytes for p in parts),
        l2_bytes=sum(p.l2_bytes for p in parts), smem_bytes=sum(p.smem_bytes for p in parts),
        register_bytes=sum(p.register_bytes for p in parts), detail={**main.detail, "parts": [p.kernel for p in parts]},
        kernels=sum(p.kernels for p in parts),
        host_calls=sum(p.dispatches for p in parts), host_plan_us=sum(p.host_plan_us for p in parts),
    )
    return out


def _dram_s(cfg: GpuConfig, nbytes: float) -> float:
    return nbytes / (cfg.dram_bytes_per_s * cfg.efficiency.dram)


def _l2_s(cfg: GpuConfig, nbytes: float) -> float:
    return nbytes / (cfg.l2_bytes_per_clk * cfg.clock_hz)


def _issue_efficiency(cfg: GpuConfig, warps_resident: float) -> float:
    """Fraction of an SM's math issue rate reached with ``warps_resident`` warps (docs "Occupancy")."""
    return min(1.0, warps_resident / cfg.schedulers_per_sm * cfg.efficiency.single_warp_issue)


def _simt_dtype(cfg: GpuConfig, dtype: str) -> str:
    """The SIMT type that does the arithmetic of a CUDA-core kernel on ``dtype`` data."""
    return "fp16" if DTYPE_BYTES[dtype] <= 2 and cfg.fp16_simt_flops_per_clk_per_sm > 0 else "fp32"


# ---------------------------------------------------------------------------------------------
# Dense GEMM (docs "Dense GEMM")
# ---------------------------------------------------------------------------------------------
def _ctas_per_sm(cfg: GpuConfig, tile: Tile, a_b: float, b_b: float, acc_bytes: float) -> int:
    threads = tile.warps * cfg.warp_size
    smem = tile.stages * tile.bk * (tile.bm * a_b + tile.bn * b_b)
    regs_per_thread = min(255.0, tile.bm * tile.bn * acc_bytes / 4.0 / threads + 64.0)
    by_regs = int(cfg.registers_per_sm_kb * 1024 / 4 // (regs_per_thread * threads))
    by_smem = int(cfg.smem_per_sm_kb * 1024 // smem)
    by_warps = cfg.max_warps_per_sm // tile.warps
    return max(0, min(cfg.max_blocks_per_sm, by_regs, by_smem, by_warps))


#: the fewest pipeline stages a tiled GEMM runs with (double buffering)
MIN_STAGES = 2


def _shallower(cfg: GpuConfig, tile: Tile, a_b: float, b_b: float) -> Tile | None:
    """``tile`` with the most pipeline stages (at most its own, at least ``MIN_STAGES``) whose buffers fit one
    SM's shared memory, or None. The model charges no latency for the shallower pipeline."""
    stage_bytes = tile.bk * (tile.bm * a_b + tile.bn * b_b)
    stages = min(tile.stages, int(cfg.smem_per_sm_kb * 1024 // stage_bytes))
    if stages < MIN_STAGES:
        return None
    return tile if stages == tile.stages else replace(tile, stages=stages)  # (no copy per GEMM where it fits)


def gemm(
    cfg: GpuConfig,
    m: int,
    n: int,
    k: int,
    groups: int = 1,
    dtype: str = "fp32",
    *,
    a_bytes: float | None = None,
    b_bytes: float | None = None,
    c_bytes: float | None = None,
    a_unique_bytes: float | None = None,
    sparse24: bool = False,
    extra_simt_ops_per_b: float = 0.0,
    tiles: Iterable[Tile] | None = None,
    name: str = "gemm",
    eff_scale: float = 1.0,
) -> KernelEstimate:
    """``groups`` GEMMs ``C[m, n] = A[m, k] @ B[k, n]``; A = activations, B = weights (or the second
    activation). ``sparse24`` runs B as a 2:4 operand on sparse tensor cores: 2x math rate,
    half the B values plus 2-bit metadata per kept value. ``extra_simt_ops_per_b`` adds SIMT work per
    B element loaded into shared memory (weight dequantization, codebook lookup). The fastest tile
    of the library (or of ``tiles``) is chosen. ``eff_scale`` multiplies the math efficiency (a kernel
    family's own factor, docs "Kernel families"); ``efficiency.tensor_dtype`` overrides ``tensor`` per
    data type (cuBLASLt FP8)."""
    if min(m, n, k, groups) < 1:
        raise SimulationError(f"gpu {name}: GEMM dimensions must be >= 1; got m={m} n={n} k={k} groups={groups}")
    rate, unit = cfg.math_rate(dtype)
    eb = DTYPE_BYTES[dtype]
    a_b = eb if a_bytes is None else a_bytes
    b_b = eb if b_bytes is None else b_bytes
    c_b = max(1.0, eb) if c_bytes is None else c_bytes  # the epilogue writes the activation type
    eff = cfg.efficiency.tensor_dtype.get(dtype, cfg.efficiency.tensor) if unit == "tensor" else cfg.efficiency.simt
    if sparse24:
        if unit != "tensor" or not cfg.sparse_tensor_cores:
            raise SimulationError(f"gpu '{cfg.name}' has no 2:4 sparse tensor cores for {dtype}")
        rate *= 2.0
        eff = cfg.efficiency.sparse_tensor
        b_b = b_b * 0.5 + 0.5 * 2 / 8  # kept values + a 2-bit index per kept value
    eff *= eff_scale
    acc_b = 4.0
    sm80_simt = unit == "simt" and tiles is None and cfg.arch in SM80_PLUS
    library = tuple(tiles) if tiles is not None else (
        (HOPPER_TENSOR_TILES if cfg.arch == "hopper" else TENSOR_TILES) if unit == "tensor"
        else SIMT_TILES_SM80 if sm80_simt else SIMT_TILES)

    def fastest(k_: int, groups_: int, c_bytes: float) -> KernelEstimate | None:
        """The fastest tile of the library for a ``k_``-deep product of ``groups_`` GEMMs."""
        out: KernelEstimate | None = None
        for tile in library:
            est = _gemm_tile(cfg, m, n, k_, groups_, dtype, unit, rate, eff, a_b, b_b, c_bytes, acc_b, tile,
                             a_unique_bytes, extra_simt_ops_per_b, name)
            if est is not None and (out is None or est.time_s < out.time_s):
                out = est
        return out

    # a tile whose listed pipeline does not fit the config's shared memory (less than the library was tuned
    # for) runs with the most stages that fit, as a library's shallower variants do
    library = tuple(t for t in (_shallower(cfg, t, a_b, b_b) for t in library) if t is not None)
    best = fastest(k, groups, c_b)
    if best is None:
        raise SimulationError(
            f"gpu '{cfg.name}': no CTA tile of {name} ({dtype}) fits one SM even with {MIN_STAGES} pipeline stages: "
            f"smem_per_sm_kb {cfg.smem_per_sm_kb:g}, registers_per_sm_kb {cfg.registers_per_sm_kb:g}, "
            f"max_warps_per_sm {cfg.max_warps_per_sm}")
    if sparse24:
        best.kernel = best.kernel.replace("gemm", "gemm_sp24", 1)
    # cuBLAS's SGEMM and cuBLASLt's tensor-core GEMMs also run as split-K (profiled on the H200: `xmma ...
    # execute_split_k_kernel`, `nvjet_sm90_..._splitK` + `splitKreduce_kernel`); 2:4 (cuSPARSELt) and forced tiles do not
    if sm80_simt or (unit == "tensor" and tiles is None and not sparse24 and cfg.arch in SM80_PLUS):
        best = _split_k(cfg, best, fastest, m, n, k, groups, dtype, c_b)
    return _finish(best)


def _split_k(cfg, best, fastest, m, n, k, groups, dtype, c_b) -> KernelEstimate:
    """cuBLAS's split-K GEMM (docs "Split-K"): ``s`` slices of K run as ``s`` times the tiles, each
    writing fp32 partials, then a reduction kernel reads the ``s`` partials and writes C; the fastest of
    no split and :data:`SPLIT_K` (slices at least 64 deep) is kept. ``fastest(k, groups, c_bytes)``:
    the tile search of :func:`gemm`."""
    for split in SPLIT_K:
        ks = -(-k // split)
        if ks < 64:
            break
        part = fastest(ks, groups * split, 4.0)
        if part is None:
            continue
        red = stream(cfg, split * float(m) * n * groups * 4.0, float(m) * n * groups * c_b,
                     flops=float(split * m * n * groups), dtype=dtype, name="splitk_reduce")
        cand = combine([part, red], kernel=part.kernel + f"_splitk{split}")
        cand.host_calls = 1  # cuBLAS launches the reduction itself
        if cand.time_s < best.time_s:
            cand.detail = {**part.detail, "split_k": split}
            best = cand
    return best


def _gemm_tile(cfg, m, n, k, groups, dtype, unit, rate, eff, a_b, b_b, c_b, acc_b, tile, a_unique, simt_per_b, name):
    c = _ctas_per_sm(cfg, tile, a_b, b_b, acc_b)
    if c < 1:
        return None
    clk = cfg.clock_hz
    tm, tn = -(-m // tile.bm), -(-n // tile.bn)
    n_tiles = tm * tn * groups
    slots = cfg.sms * c
    kp = -(-k // tile.bk) * tile.bk
    tile_flops = 2.0 * tile.bm * tile.bn * kp
    # operand bytes one CTA streams from L2; a cluster multicast serves one operand to several CTAs
    tile_l2 = kp * (tile.bm * a_b + tile.bn * b_b) * (1.0 + 1.0 / cfg.l2_multicast) / 2.0
    simt_rate = 2.0 * cfg.fp32_lanes_per_sm * cfg.efficiency.simt  # lane-ops/clk/SM for side work
    tile_simt = simt_per_b * tile.bn * kp
    port = cfg.l2_port  # B/clk into one SM

    def sm_round(ctas: int, wave_tiles: int) -> tuple[float, float]:
        """(compute cycles, L2 cycles) for the busiest SM running ``ctas`` of a wave's ``wave_tiles`` tiles
        concurrently: its L2 port, or the L2's aggregate bandwidth shared by the wave, whichever binds."""
        eta = _issue_efficiency(cfg, ctas * tile.warps)
        comp = ctas * tile_flops / (rate * eff * eta) + ctas * tile_simt / simt_rate
        return comp, max(ctas * tile_l2 / port, wave_tiles * tile_l2 / cfg.l2_bytes_per_clk)

    # DRAM traffic (docs "L2 reuse"): operands once if they fit in the usable L2, else per wave
    a_total = float(a_unique) if a_unique is not None else float(m) * k * a_b * groups
    b_total = float(n) * k * b_b * groups
    c_total = float(m) * n * c_b * groups
    full_waves, rem = divmod(n_tiles, slots)
    waves = [(size, count) for size, count in ((slots, full_waves), (rem, 1)) if size and count]  # (tiles, waves)
    fits = a_total + b_total <= cfg.l2_mb * 1024 * 1024 * cfg.efficiency.l2_reuse_fraction
    comp_total = mem_total = time_total = 0.0
    dram_read = 0.0
    lat = cfg.dram_latency_cycles
    for size, count in waves:  # every full wave costs the same: counted once, times their number
        per_sm = -(-size // cfg.sms)  # busiest SM's tiles in this wave (greedy round robin)
        comp_cyc, l2_cyc = sm_round(per_sm, size)
        if fits:
            wave_read = (a_total + b_total) * size / n_tiles
        else:  # swizzled rasterization: a wave covers a near-square block of `rows` x `cols` tiles
            cols = min(tn, max(1, math.isqrt(size)))
            rows = min(tm * groups, -(-size // cols))
            a_ratio = a_total / (float(m) * k * a_b * groups)  # < 1 when A is an implicit im2col view
            # a tile row holds min(m, bm) real rows of A (loads past the matrix edge are predicated off), a tile
            # column min(n, bn) real columns of B
            wave_read = max(rows * min(m, tile.bm) * k * a_b * a_ratio
                            + cols * min(n, tile.bn) * k * b_b * max(1, rows // tm),
                            (a_total + b_total) * size / n_tiles)
        dram_read += wave_read * count
        wave_dram_s = _dram_s(cfg, wave_read + c_total * size / n_tiles)
        comp_s = comp_cyc / clk
        mem_s = max(wave_dram_s, l2_cyc / clk)
        comp_total += comp_s * count
        mem_total += mem_s * count
        # the epilogue (C tile to memory) follows each CTA's main loop; co-resident CTAs hide 1 - 1/c of it
        epi_s = EPILOGUE_EXPOSED * _dram_s(cfg, c_total * size / n_tiles) / c
        time_total += (max(comp_s, mem_s) + epi_s + lat / clk) * count  # each wave's pipeline fill
    launch = cfg.launch_overhead_us * 1e-6
    wave_count = sum(count for _, count in waves)
    latency = wave_count * lat / clk
    flops_useful = 2.0 * m * n * k * groups
    flops_exec = tile_flops * n_tiles
    l2_bytes = tile_l2 * n_tiles + c_total
    kernel = f"{name}_{unit}_{dtype}_{tile.label}"
    return KernelEstimate(
        kernel=kernel, time_s=time_total + launch, compute_s=comp_total, memory_s=mem_total, latency_s=latency,
        launch_s=launch, waves=n_tiles / slots, tiles=n_tiles,
        flops={(unit, dtype): flops_exec}, simt_ops=tile_simt * n_tiles,
        dram_read_bytes=dram_read, dram_write_bytes=c_total, l2_bytes=l2_bytes, smem_bytes=2.0 * tile_l2 * n_tiles,
        register_bytes=RF_BYTES_PER_FLOP[unit] * flops_exec,
        detail={"tile": tile.label, "ctas_per_sm": c, "waves": n_tiles / slots, "wave_count": wave_count,
                "tile_efficiency": flops_useful / flops_exec, "operands_fit_l2": fits},
    )


# ---------------------------------------------------------------------------------------------
# Warp-per-row streaming kernels: GEMV and CSR SpMV / SpMM (docs "GEMV", "CSR SpMV / SpMM")
# ---------------------------------------------------------------------------------------------
WARPS_PER_BLOCK = 4  # 128-thread blocks, as cuBLAS gemv and cuSPARSE csrmv launch


def _block_slots(cfg: GpuConfig, name: str) -> int:
    """Blocks of :data:`WARPS_PER_BLOCK` warps resident on one SM; an SM that holds none is a SimulationError (as a
    CTA tile that fits no SM is)."""
    if cfg.max_warps_per_sm < WARPS_PER_BLOCK:
        raise SimulationError(f"gpu '{cfg.name}': no {WARPS_PER_BLOCK * cfg.warp_size}-thread block of {name} fits one SM: "
                              f"max_warps_per_sm {cfg.max_warps_per_sm} < {WARPS_PER_BLOCK}")
    return min(cfg.max_blocks_per_sm, cfg.max_warps_per_sm // WARPS_PER_BLOCK)


def _schedule(cfg: GpuConfig, row_cycles: np.ndarray, rows_per_warp: int, name: str) -> tuple[float, np.ndarray]:
    warp_cyc = _kernels.group_max(np.ascontiguousarray(row_cycles, np.float64), rows_per_warp)
    blocks = _kernels.group_max(warp_cyc, WARPS_PER_BLOCK)
    makespan, busy = _kernels.greedy_schedule(blocks, cfg.sms, _block_slots(cfg, name))
    return float(makespan), busy


def gemv(
    cfg: GpuConfig,
    rows: int,
    k: int,
    dtype: str = "fp32",
    *,
    w_bytes: float | None = None,
    batch: int = 1,
    extra_simt_ops_per_w: float = 0.0,
    name: str = "gemv",
) -> KernelEstimate:
    """``y[rows] = W[rows, k] @ x[k]`` for ``batch`` (<= 8) vectors, one warp per row (cuBLAS gemv
    "T" kernel): each warp streams its row with ``gemv_vector_bytes`` per lane per load and keeps
    ``loads_in_flight_per_warp`` loads in flight; rows are issued to SMs by the greedy scheduler.
    ``w_bytes`` per weight element (low-bit weights); ``extra_simt_ops_per_w`` dequantization /
    lookup work per weight."""
    if rows < 1 or k < 1:
        raise SimulationError(f"gpu {name}: shape must be >= 1; got rows={rows} k={k}")
    eb = DTYPE_BYTES[dtype]
    wb = eb if w_bytes is None else w_bytes
    clk = cfg.clock_hz
    row_bytes = k * wb
    per_load = cfg.warp_size * cfg.gemv_vector_bytes
    iters = math.ceil(row_bytes / per_load)
    lat = cfg.dram_latency_cycles
    row_cyc = iters * lat / cfg.loads_in_flight_per_warp + lat + REDUCTION_CYCLES
    row_cycles = np.full(rows, row_cyc, np.float64)
    makespan, _ = _schedule(cfg, row_cycles, 1, name)
    w_total = rows * row_bytes
    x_total = k * eb * batch
    y_total = rows * eb * batch  # (the output at the math type: bf16 out of a bf16 GEMV)
    dram_read = w_total + x_total
    fl = 2.0 * rows * k * batch
    simt_rate = cfg.simt_rate(_simt_dtype(cfg, dtype)) * cfg.sms * cfg.efficiency.simt * clk
    lane_rate = 2.0 * cfg.fp32_lanes_per_sm * cfg.sms * cfg.efficiency.simt * clk
    compute_s = fl / simt_rate + extra_simt_ops_per_w * rows * k / lane_rate
    memory_s = max(_dram_s(cfg, dram_read + y_total), _l2_s(cfg, dram_read + y_total))
    latency_s = makespan / clk
    launch = cfg.launch_overhead_us * 1e-6
    time = max(compute_s, memory_s, latency_s) + launch
    blocks = -(-rows // WARPS_PER_BLOCK)
    block_slots = cfg.sms * _block_slots(cfg, name)
    mdt = _simt_dtype(cfg, dtype)
    return _finish(KernelEstimate(
        kernel=f"{name}_{dtype}", time_s=time, compute_s=compute_s, memory_s=memory_s, latency_s=latency_s,
        launch_s=launch, waves=blocks / block_slots, tiles=blocks, flops={("simt", mdt): fl},
        simt_ops=extra_simt_ops_per_w * rows * k, dram_read_bytes=dram_read, dram_write_bytes=y_total,
        l2_bytes=dram_read + y_total, register_bytes=RF_BYTES_PER_FLOP["simt"] * fl,
        detail={"row_cycles": row_cyc, "rows": rows},
    ))


def csr_arrays(matrix) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """``(indptr, indices, shape)`` of a dense array (exact zeros are pruned) or a SciPy sparse matrix."""
    import scipy.sparse as sp

    if sp.issparse(matrix):
        csr = sp.csr_matrix(matrix)
        csr.eliminate_zeros()
        csr.sort_indices()
        return csr.indptr.astype(np.int64), csr.indices.astype(np.int64), csr.shape
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.size == 0:
        raise SimulationError("gpu csr kernel: the weight matrix must be a non-empty 2-D array")
    mask = matrix != 0
    indptr = np.zeros(matrix.shape[0] + 1, np.int64)
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    indices = np.nonzero(mask)[1].astype(np.int64)
    return indptr, indices, matrix.shape


def threads_per_row(mean_nnz: float, warp_size: int = 32) -> int:
    """cuSPARSE's vector-kernel rule: the smallest power of two >= the mean row length, 2..warp."""
    t = 2
    while t < mean_nnz and t < warp_size:
        t *= 2
    return min(t, warp_size)


def csr_spmm(
    cfg: GpuConfig,
    matrix,
    batch: int = 1,
    dtype: str = "fp32",
    *,
    value_bytes: float = 4.0,
    index_bytes: float = 4.0,
    extra_simt_ops_per_nz: float = 0.0,
    name: str | None = None,
) -> KernelEstimate:
    """``Y[rows, batch] = W_csr @ X[k, batch]`` in the style of cuSPARSE csrmv (batch 1) and csrmm.

    Each row goes to ``tpr`` threads (vector kernel); a warp's cycles come from its rows' REAL lengths
    (per loop trip: a DRAM-latency load of values and indices, then a dependent gather of X);
    blocks go to SMs greedily, so imbalance shows. Traffic: the CSR arrays once from DRAM; at L2,
    the sectors those arrays touch (misalignment included) plus, per chunk of ``tpr`` non-zeros, the
    distinct sectors of X gathered: per dense column for the column-major csrmm of the Maxwell
    era, or one contiguous X row per non-zero for the row-major SpMM of L1-caching GPUs.
    """
    indptr, indices, (rows, k) = csr_arrays(matrix)
    nnz = int(indptr[-1])
    eb = DTYPE_BYTES[dtype]
    clk = cfg.clock_hz
    mean = nnz / rows if rows else 0.0
    tpr = threads_per_row(mean, cfg.warp_size)
    rows_per_warp = cfg.warp_size // tpr
    sector = cfg.sector_bytes
    row_major = cfg.l1_caches_global_loads and batch > 1
    iters, stream, gather, rowsec = _kernels.csr_row_stats(
        indptr, indices, tpr, int(eb), int(value_bytes) if value_bytes >= 1 else 1, int(index_bytes), sector,
        int(batch * eb) if row_major else 0)
    lat_d = cfg.dram_latency_cycles
    lat_l2 = cfg.l2_latency_cycles
    # per loop trip: values/indices (DRAM) then the dependent gather (L2); SpMM adds one gather per
    # dense column, pipelined `loads_in_flight_per_warp` deep (docs "CSR SpMV / SpMM")
    per_trip = lat_d + lat_l2 + (0.0 if batch == 1 else (batch - 1) * lat_l2 / max(4, cfg.loads_in_flight_per_warp))
    if row_major:
        per_trip = lat_d + lat_l2
    row_cycles = iters * per_trip + lat_d + REDUCTION_CYCLES * (1 + math.log2(tpr)) / 6.0 * batch
    makespan, busy = _schedule(cfg, row_cycles.astype(np.float64), rows_per_warp,
                               name or ("csrmv" if batch == 1 else "csrmm"))
    csr_bytes = nnz * (value_bytes + index_bytes) + (rows + 1) * 4.0
    x_bytes = k * eb * batch
    y_bytes = rows * 4.0 * batch
    dram_read = csr_bytes + x_bytes
    if not cfg.coalesce_gathers:  # one L2 request per lane (docs "CSR SpMV / SpMM")
        gather = np.diff(indptr)
    if batch == 1:
        gather_sectors = float(gather.sum())
        if cfg.l1_caches_global_loads and x_bytes <= cfg.l1_per_sm_kb * 1024:
            gather_sectors = min(gather_sectors, cfg.sms * x_bytes / sector)  # X stays in each SM's L1
    elif row_major:
        gather_sectors = float(rowsec.sum())
    else:
        gather_sectors = float(gather.sum()) * batch
    y_sectors = rows * batch if (batch > 1 and not row_major) else y_bytes / sector  # column-major C: a sector per value
    l2_bytes = (float(stream.sum()) + gather_sectors + y_sectors) * sector + (rows + 1) * 4.0
    fl = 2.0 * nnz * batch
    mdt = _simt_dtype(cfg, dtype)
    simt_rate = cfg.simt_rate(mdt) * cfg.sms * cfg.efficiency.simt * clk
    compute_s = fl / simt_rate + extra_simt_ops_per_nz * nnz / (2.0 * cfg.fp32_lanes_per_sm * cfg.sms * clk)
    memory_s = max(_dram_s(cfg, dram_read + y_bytes), _l2_s(cfg, l2_bytes))
    latency_s = makespan / clk
    launch = cfg.launch_overhead_us * 1e-6
    # each trip is a dependent DRAM load then an L2 gather: latency and bandwidth time overlap only
    # partly; combined in quadrature, between the overlapped (max) and serialized (sum) limits
    time = max(compute_s, math.hypot(memory_s, latency_s)) + launch
    kernel = name or ("csrmv" if batch == 1 else "csrmm")
    mean_busy = float(busy.mean()) if busy.size else 0.0
    return _finish(KernelEstimate(
        kernel=kernel, time_s=time, compute_s=compute_s, memory_s=memory_s, latency_s=latency_s, launch_s=launch,
        waves=float(np.ceil(len(row_cycles) / rows_per_warp / WARPS_PER_BLOCK)) / (cfg.sms * _block_slots(cfg, kernel)),
        tiles=int(-(-rows // (rows_per_warp * WARPS_PER_BLOCK))), flops={("simt", mdt): fl},
        simt_ops=extra_simt_ops_per_nz * nnz, dram_read_bytes=dram_read, dram_write_bytes=y_bytes,
        l2_bytes=l2_bytes, register_bytes=RF_BYTES_PER_FLOP["simt"] * fl,
        detail={"nnz": nnz, "threads_per_row": tpr, "max_row_nnz": int(np.diff(indptr).max()),
                "mean_row_nnz": mean, "sm_imbalance": float(busy.max() / mean_busy) if mean_busy > 0 else 1.0,
                "gather_sectors": gather_sectors, "dense_operand_layout": "row-major" if row_major else "column-major"},
    ))


# ---------------------------------------------------------------------------------------------
# Memory-bound kernels: element-wise, pooling, depthwise conv, transforms (docs "Element-wise")
# ---------------------------------------------------------------------------------------------
#: ATen's element-wise copies that are not its vectorised kernel, as fractions of the achievable DRAM rate
#: (docs "Element-wise"), each calibrated on one H200 measurement and checked on the others of its class:
#: a copy across data types (``unrolled_elementwise_kernel``: SDPA math's bf16 -> fp32 upcasts) on the 32,768-key
#: decode case (two 201 MB copies, 2.05 TB/s of 4.08; held out: the 4,096-key case, 1.99 TB/s);
CAST_COPY_BANDWIDTH = 0.50
#: a strided copy (``elementwise_kernel<128, 4>`` with offset calculators: an expand + reshape, transformers'
#: ``repeat_kv``) on Mistral-7B's batch-16 decode (64 copies of 168 MB in 9.22 ms, 1.16 TB/s; held out:
#: Qwen2-7B at batch 16, 1.07 TB/s, and both at batch 1, 1.07 / 0.98 TB/s)
STRIDED_COPY_BANDWIDTH = 0.285


def stream(cfg: GpuConfig, read_bytes: float, write_bytes: float, flops: float = 0.0, dtype: str = "fp32",
           name: str = "elementwise", simt_ops: float = 0.0, bandwidth_fraction: float = 1.0) -> KernelEstimate:
    """A kernel that streams ``read_bytes`` in and ``write_bytes`` out with ``flops`` SIMT work, at
    ``bandwidth_fraction`` of the achievable DRAM rate (:data:`CAST_COPY_BANDWIDTH`, :data:`STRIDED_COPY_BANDWIDTH`)."""
    clk = cfg.clock_hz
    mdt = _simt_dtype(cfg, dtype)
    rate = cfg.simt_rate(mdt) * cfg.sms * clk * cfg.efficiency.simt
    lane_rate = 2.0 * cfg.fp32_lanes_per_sm * cfg.sms * clk * cfg.efficiency.simt
    compute_s = flops / rate + simt_ops / lane_rate
    total = read_bytes + write_bytes
    memory_s = max(_dram_s(cfg, total) / bandwidth_fraction, _l2_s(cfg, total))
    latency_s = cfg.dram_latency_cycles / clk if total > 0 else 0.0
    launch = cfg.launch_overhead_us * 1e-6
    threads = max(1.0, total / 16.0)
    slots = cfg.sms * cfg.max_warps_per_sm * cfg.warp_size
    return _finish(KernelEstimate(
        kernel=name, time_s=max(compute_s, memory_s) + latency_s + launch, compute_s=compute_s, memory_s=memory_s,
        latency_s=latency_s, launch_s=launch, waves=threads / slots, tiles=int(math.ceil(threads / 256.0)),
        flops={("simt", mdt): flops} if flops else {}, simt_ops=simt_ops, dram_read_bytes=read_bytes,
        dram_write_bytes=write_bytes, l2_bytes=total, register_bytes=RF_BYTES_PER_FLOP["simt"] * flops,
    ))


def epilogue(cfg: GpuConfig, read_bytes: float, simt_ops: float, dtype: str, name: str) -> KernelEstimate:
    """Work fused into the producer's epilogue: extra operand reads and lane ops, no launch, no
    extra pipeline latency."""
    est = stream(cfg, read_bytes, 0.0, simt_ops=simt_ops, dtype=dtype, name=name)
    est.time_s = max(est.compute_s, est.memory_s)
    est.latency_s = est.launch_s = 0.0
    est.kernels = 0
    return est


def view(name: str = "view") -> KernelEstimate:
    """A reshape / flatten / identity: no kernel."""
    return KernelEstimate(kernel=name, time_s=0.0, compute_s=0.0, memory_s=0.0, latency_s=0.0, launch_s=0.0,
                          kernels=0)


# ---------------------------------------------------------------------------------------------
# Convolution algorithms, as cuDNN offers them (docs "Convolution algorithms")
# ---------------------------------------------------------------------------------------------
def conv_implicit_gemm(cfg, layer, batch, dtype, *, sparse24=False, b_bytes=None, eff_scale=1.0) -> KernelEstimate:
    g = layer.gemm(batch)
    eb = DTYPE_BYTES[dtype]
    in_bytes = float(np.prod(layer.input_shape)) * batch * eb
    return gemm(cfg, g.m, g.n, g.k, g.groups, dtype, a_unique_bytes=in_bytes, sparse24=sparse24, b_bytes=b_bytes,
                name="conv_implicit_gemm", eff_scale=eff_scale)


def winograd_applicable(layer) -> bool:
    return (layer.kernel == (3, 3) and layer.stride == (1, 1) and layer.dilation == (1, 1) and layer.groups == 1)


def conv_winograd(cfg, layer, batch, dtype, m_out: int) -> KernelEstimate:
    """F(m x m, 3 x 3): input transform, ``a^2`` batched GEMMs (a = m + 2), output transform.
    Filters are transformed once offline (inference)."""
    c, h, w = layer.input_shape
    cout, ho, wo = layer.output_shape
    a = m_out + 2
    eb = DTYPE_BYTES[dtype]
    t = batch * -(-ho // m_out) * -(-wo // m_out)
    in_bytes = c * h * w * batch * eb
    u_elems = a * a * c * t
    it = stream(cfg, in_bytes, u_elems * eb, simt_ops=2.0 * a * a * a * c * t, dtype=dtype, name="winograd_in")
    mm = gemm(cfg, t, cout, c, a * a, dtype, name=f"winograd{m_out}x{m_out}_gemm")
    o_elems = a * a * cout * t
    ot = stream(cfg, o_elems * 4.0, cout * ho * wo * batch * eb, simt_ops=2.0 * a * m_out * (a + m_out) * cout * t,
                dtype=dtype, name="winograd_out")
    est = combine([it, mm, ot], kernel=f"conv_winograd_f{m_out}x{m_out}_3x3")
    est.detail["gemm_tile"] = mm.detail.get("tile")
    return est


def fft_applicable(layer) -> bool:
    return layer.stride == (1, 1) and layer.dilation == (1, 1) and layer.groups == 1 and max(layer.kernel) > 1


def conv_fft(cfg, layer, batch, dtype) -> KernelEstimate:
    """FFT convolution: real FFTs of inputs and filters (5 N log2 N FLOPs each), a complex GEMM per
    frequency (4 real MACs per complex MAC) and inverse FFTs; spectra in fp32 complex (8 B)."""
    c, h, w = layer.input_shape
    cout, ho, wo = layer.output_shape
    kh, kw = layer.kernel
    ph = 1 << math.ceil(math.log2(h + 2 * layer.padding[0]))
    pw = 1 << math.ceil(math.log2(w + 2 * layer.padding[1]))
    freqs = ph * (pw // 2 + 1)
    nlog = ph * pw * math.log2(ph * pw)
    eb = DTYPE_BYTES[dtype]
    fwd_in = stream(cfg, c * h * w * batch * eb, batch * c * freqs * 8.0, flops=2.5 * nlog * batch * c,
                    name="fft_in")
    fwd_w = stream(cfg, cout * c * kh * kw * eb, cout * c * freqs * 8.0, flops=2.5 * nlog * cout * c, name="fft_w")
    cg = gemm(cfg, batch, cout, c, freqs, "fp32", a_bytes=8.0, b_bytes=8.0, c_bytes=8.0, name="fft_cgemm")
    cg = replace(cg, flops={k2: v * 4.0 for k2, v in cg.flops.items()}, compute_s=cg.compute_s * 4.0,
                 time_s=cg.time_s + 3.0 * cg.compute_s)
    inv = stream(cfg, batch * cout * freqs * 8.0, cout * ho * wo * batch * eb, flops=2.5 * nlog * batch * cout,
                 name="fft_out")
    return combine([fwd_in, fwd_w, cg, inv], kernel="conv_fft")


def conv_dense(cfg, layer, batch, dtype) -> tuple[KernelEstimate, dict[str, float]]:
    """Every applicable algorithm's time; the fastest is returned with the table of all."""
    options = {"implicit_gemm": conv_implicit_gemm(cfg, layer, batch, dtype)}
    unit = cfg.math_rate(dtype)[1]
    if winograd_applicable(layer) and dtype in ("fp32", "fp16", "bf16", "tf32"):
        options["winograd_f2x2"] = conv_winograd(cfg, layer, batch, dtype, 2)
        if dtype in ("fp32",) or unit == "simt":  # F(4x4) loses too much precision in 16-bit
            options["winograd_f4x4"] = conv_winograd(cfg, layer, batch, dtype, 4)
    if fft_applicable(layer) and dtype == "fp32":
        options["fft"] = conv_fft(cfg, layer, batch, dtype)
    name = min(options, key=lambda k2: options[k2].time_s)
    return options[name], {k2: v.time_s for k2, v in options.items()}


def depthwise(cfg, layer, batch, dtype) -> KernelEstimate:
    """Depthwise / grouped conv with few channels per group: a streaming SIMT kernel (no GEMM reuse)."""
    eb = DTYPE_BYTES[dtype]
    read = float(np.prod(layer.input_shape)) * batch * eb + layer.params * eb
    write = float(np.prod(layer.output_shape)) * batch * eb
    return stream(cfg, read, write, flops=2.0 * layer.macs * batch, dtype=dtype, name="depthwise_conv")
