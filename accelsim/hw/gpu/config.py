"""GPU SIMD model configuration (``family: gpu``).

One frozen :class:`GpuConfig` per device; bundled configs live in ``arch_configs/gpu/`` with a source
for every number (``sources`` table). Units are in the field names: clocks in MHz, bandwidths in
GB/s (1e9 bytes/s) or bytes per clock, latencies in ns or cycles, capacities in KB (1024 bytes) / MB
(1024^2 bytes), power in W, energies in pJ. Equations: ``docs/models/gpu.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.config import param, unknown_source_keys
from accelsim.errors import SimulationError
from accelsim.hw.gpu.stacks import STACKS as _STACK_TABLE

#: data types a GPU may execute; bytes per element
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0, "tf32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "fp6": 0.75, "int8": 1.0, "fp4": 0.5, "int4": 0.5,
}
DTYPES = tuple(DTYPE_BYTES)
#: GPU architecture generations (which library kernels exist: docs/models/gpu.md "Kernel families")
ARCHS = ("kepler", "maxwell", "pascal", "volta", "turing", "ampere", "ada", "hopper", "blackwell", "cdna3")
#: software stacks (docs "Software stacks"), the names of :data:`accelsim.hw.gpu.stacks.STACKS`; ``best`` is the
#: achievable bound, not a real stack
STACKS = tuple(_STACK_TABLE)
DRAM_TYPES = ("ddr3", "ddr4", "lpddr2", "lpddr3", "lpddr4", "lpddr5", "gddr5", "gddr6", "hbm2", "hbm2e", "hbm3")


@dataclass(frozen=True)
class GpuEfficiency:
    """Achievable fractions of the peaks, the same for every layer (docs/models/gpu.md, "Efficiency")."""

    simt: float = param(0.88, gt=0, le=1, doc="sustained fraction of the SIMT FMA peak inside a GEMM main loop")
    tensor: float = param(0.85, gt=0, le=1, doc="sustained fraction of the dense tensor-core peak")
    sparse_tensor: float = param(0.75, gt=0, le=1, doc="sustained fraction of the 2:4 sparse tensor-core peak")
    dram: float = param(0.85, gt=0, le=1, doc="achievable fraction of the DRAM peak for streaming")
    single_warp_issue: float = param(1.0, gt=0, le=1,
                                     doc="issue efficiency of a scheduler holding one warp (latency not covered)")
    l2_reuse_fraction: float = param(0.5, gt=0, le=1, doc="fraction of L2 capacity usable to keep GEMM operands")
    tensor_dtype: dict[str, float] = param({}, gt=0, le=1, doc="per-dtype override of `tensor` for cuBLASLt GEMMs (H100 fp8: 0.70)")
    legacy_mma: float = param(1.0, gt=0, le=1,
                              doc="fraction of the tensor rate Ampere-style mma.sync kernels reach (Hopper / Blackwell: 2/3)")


@dataclass(frozen=True)
class GpuKernels:
    """Forced kernel choice per class (``auto``: the stack's choice; docs "Software stacks")."""

    weight_only: str = param("auto", choices=("auto", "marlin", "gemv", "tinygemm", "awq-gemm"),
                             doc="weight-only low-bit GEMM / GEMV kernel")
    sparse24: str = param("auto", choices=("auto", "cusparselt", "cutlass"), doc="2:4 structured-sparse GEMM library")
    attention: str = param("auto", choices=("auto", "math", "sdpa-math", "llama-ref", "flash2", "flash3", "flashdecoding",
                                            "cudnn"),
                           doc="fused attention kernel (math = unfused, in the layer's precision; sdpa-math = "
                               "PyTorch's SDPA math backend, 16-bit inputs computed in fp32; llama-ref = Meta's Llama "
                               "reference attention as AutoAWQ runs a prefill, op by op with an fp32 softmax; cudnn = "
                               "PyTorch's cuDNN SDPA on sm90+, which plans each new shape on the host)")
    dense: str = param("auto", choices=("auto", "cublas", "cublaslt"), doc="dense GEMM library (FP8 / FP4 need cuBLASLt)")
    kv_cache: str = param("auto", choices=("auto", "inplace", "concat"),
                          doc="KV-cache update of a decode step: inplace (a preallocated cache, e.g. a StaticCache) or "
                              "concat (the cache grows by torch.cat, e.g. transformers' DynamicCache); auto: the stack's")


@dataclass(frozen=True)
class GpuEnergy:
    """Energy per action (pJ); see docs/models/gpu.md, "Energy", for every value's derivation."""

    simt_flop_pj: dict[str, float] = param({}, ge=0, le=1e6, unit="pJ", doc="pJ per SIMT FLOP by dtype, incl. instruction overhead (<= 1 uJ)")
    tensor_flop_pj: dict[str, float] = param({}, ge=0, le=1e6, unit="pJ", doc="pJ per dense-equivalent tensor-core FLOP by dtype (<= 1 uJ)")
    simt_op_pj: float = param(1.0, ge=0, le=1e6, unit="pJ",
                               doc="pJ per non-FMA SIMT instruction lane-op (dequant, lookup; <= 1 uJ)")
    register_pj_per_byte: float = param(0.1, ge=0, le=1e6, unit="pJ/B", doc="register file energy per byte (<= 1 uJ/B)")
    smem_pj_per_byte: float = param(0.3, ge=0, le=1e6, unit="pJ/B", doc="shared memory energy per byte (<= 1 uJ/B)")
    l2_pj_per_byte: float = param(1.0, ge=0, le=1e6, unit="pJ/B", doc="L2 energy per byte (<= 1 uJ/B)")
    dram_pj_per_bit: float = param(5.0, ge=0, le=1e6, unit="pJ/bit", doc="DRAM energy per bit (<= 1 uJ/bit)")


@dataclass(frozen=True, kw_only=True)
class GpuConfig:
    """A GPU: SMs, clocks, SIMT lanes and tensor cores, memory hierarchy, power, efficiencies."""

    name: str = param(doc="config name")
    family: str = param("gpu", choices=("gpu",), doc="hardware family")
    description: str = param("", doc="free text")
    sms: int = param(ge=1, le=100_000, doc="streaming multiprocessors (<= 1e5; the largest GPU has 144)")
    clock_mhz: float = param(ge=1e-3, le=1e5, unit="MHz", doc="SM clock under load (the clock the peaks are quoted at; 1 kHz - 100 GHz)")
    warp_size: int = param(32, ge=1, le=4096, unit="threads", doc="threads per warp (<= 4096, the resident-thread cap)")
    schedulers_per_sm: int = param(4, ge=1, le=1024, doc="warp schedulers (sub-partitions) per SM (<= 1024)")
    fp32_lanes_per_sm: int = param(ge=1, le=65536, doc="FP32 FMA lanes per SM (<= 65536)")
    int32_lanes_per_sm: int = param(64, ge=1, le=65536, doc="INT32 lanes per SM (<= 65536)")
    fp16_simt_flops_per_clk_per_sm: float = param(0.0, ge=0, le=1e6, doc="non-tensor FP16 FLOP/clk/SM (0 = none; <= 1e6)")
    tensor_flops_per_clk_per_sm: dict[str, float] = param(
        {}, gt=0, le=1e6, doc="dense tensor-core FLOP (ops) per clock per SM by dtype (<= 1e6; H100 fp8: 8192)")
    sparse_tensor_cores: bool = param(False, doc="2:4 structured-sparse tensor cores (2x math on a 2:4 operand)")
    max_warps_per_sm: int = param(64, ge=1, le=4096, unit="warps", doc="resident warps per SM at most (occupancy; <= 4096)")
    max_blocks_per_sm: int = param(32, ge=1, le=4096, unit="CTAs", doc="resident thread blocks per SM at most (occupancy; <= 4096)")
    registers_per_sm_kb: float = param(256.0, gt=0, le=1 << 30, unit="KB", doc="register file per SM (<= 1 TiB)")
    smem_per_sm_kb: float = param(96.0, gt=0, le=1 << 30, unit="KB", doc="shared memory one SM can give to resident CTAs (<= 1 TiB)")
    l1_per_sm_kb: float = param(24.0, ge=0, le=1 << 30, unit="KB", doc="L1 per SM (<= 1 TiB)")
    l1_caches_global_loads: bool = param(True, doc="global loads are cached in L1 (Volta+); Maxwell: L2 only")
    coalesce_gathers: bool = param(True, doc="a warp's scattered loads to one sector cost one L2 request (else one per lane)")
    l2_mb: float = param(gt=0, le=1 << 20, unit="MB", doc="L2 capacity (<= 1 TiB)")
    l2_bytes_per_clk: float = param(gt=0, le=1e6, unit="B/clk", doc="aggregate L2 bandwidth (<= 1e6 B/clk: 1e15 B/s at 1 GHz)")
    l2_port_bytes_per_clk: float | None = param(None, gt=0, le=1e6, unit="B/clk",
                                                doc="L2 -> one SM bandwidth (None: l2_bytes_per_clk / sms, every SM's share "
                                                    "when all stream; <= 1e6 B/clk)")
    l2_multicast: int = param(1, ge=1, le=16, doc="CTAs of a cluster served by one L2 read of a shared operand tile (Hopper TMA multicast)")
    l2_latency_cycles: float = param(200.0, gt=0, le=1e6, unit="cycles", doc="L2 hit latency (<= 1e6 cycles)")
    dram_gbs: float = param(gt=0, le=1e6, unit="GB/s", doc="DRAM bandwidth (<= 1e6 GB/s = 1e15 B/s)")
    dram_port_gbs: float | None = param(None, gt=0, le=1e6, unit="GB/s",
                                        doc="DRAM -> one SM bandwidth, what each CTA of a partly occupied 2:4 or attention "
                                            "kernel draws (None: dram_gbs / sms, every SM's share when all stream; <= 1e6 GB/s)")
    dram_type: str = param("gddr5", choices=DRAM_TYPES, doc="DRAM technology (energy per bit in the tech table)")
    dram_capacity_gib: float | None = param(None, gt=0, le=1 << 20, unit="GiB",
                                            doc="device memory capacity (None = unknown; what must hold weights + KV cache)")
    dram_latency_ns: float = param(500.0, gt=0, le=1e6, unit="ns", doc="DRAM load latency under streaming load (<= 1 ms)")
    sector_bytes: int = param(32, ge=4, le=1 << 20, unit="B", doc="L2 / DRAM access granularity (<= 1 MiB)")
    gemv_vector_bytes: int = param(4, ge=1, le=64, unit="B", doc="bytes one lane loads per GEMV load instruction")
    loads_in_flight_per_warp: int = param(1, ge=1, le=16, doc="independent loads a streaming warp keeps in flight")
    launch_overhead_us: float = param(3.0, ge=0, le=1e6, unit="us", doc="per-kernel launch and drain overhead (<= 1 s)")
    tdp_w: float = param(gt=0, le=1e6, unit="W", doc="board power (<= 1 MW)")
    idle_w: float = param(30.0, ge=0, le=1e6, unit="W", doc="static (idle) power, charged for the whole latency (<= 1 MW)")
    die_area_mm2: float | None = param(None, gt=0, le=1e5, unit="mm^2",
                                       doc="GPU die area (the whole die, not the package or HBM stacks; None = unknown), "
                                           "for per-area figures of merit")
    arch: str = param(choices=ARCHS, doc="architecture generation: which library kernels exist")
    stack: str = param("torch-compile", choices=STACKS,
                       doc="software stack: kernels available, fusion, launch mode (best = achievable bound)")
    launch: str = param("auto", choices=("auto", "eager", "cuda-graph"), doc="kernel launch mode (auto: the stack's)")
    kernels: GpuKernels = param(GpuKernels())
    graph_launch_us: float | None = param(None, ge=0, le=1e6, unit="us",
                                          doc="per-kernel gap inside a CUDA graph (None: launch_overhead_us - a graph removes the "
                                              "host's launch work, not the GPU's per-kernel fill and drain; <= 1 s)")
    host_overhead_us: float | None = param(None, ge=0, le=1e6, unit="us",
                                           doc="host dispatch per kernel in eager launch (None: the stack's; <= 1 s)")
    subclass_host_us: float | None = param(None, ge=0, le=1e6, unit="us",
                                           doc="host dispatch per call of a tensor-subclass weight in eager launch (None: "
                                               "the stack's; 0: the library op called directly, no subclass; <= 1 s)")
    sfu_ops_per_clk_per_sm: float = param(16.0, gt=0, le=1e6, doc="exp2 / special-function results per clock per SM")
    fuse_pointwise: bool | None = param(None, doc="fold BatchNorm into the producer and run activations / residual adds in its epilogue; None = the stack's (False only for pytorch-eager)")
    native_dtype: str = param("fp32", choices=DTYPES, doc="data type of unquantized layers")
    dtype: str = param("auto", choices=("auto",) + DTYPES, doc="force one data type for every layer")
    efficiency: GpuEfficiency = param(GpuEfficiency())
    energy: GpuEnergy = param(GpuEnergy())
    sources: dict[str, str] = param({}, doc="citation per field")

    # ---- derived -------------------------------------------------------------------------------
    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    @property
    def dram_bytes_per_s(self) -> float:
        return self.dram_gbs * 1e9

    @property
    def l2_port(self) -> float:
        """L2 -> one SM bandwidth, B/clk: ``l2_port_bytes_per_clk``, else the aggregate over the SMs."""
        p = self.l2_port_bytes_per_clk
        return self.l2_bytes_per_clk / self.sms if p is None else float(p)

    def dram_fraction(self, ctas: float) -> float:
        """The share of the DRAM bandwidth ``ctas`` CTAs, one an SM, can draw: ``min(1, ctas x dram_port_gbs /
        dram_gbs)``; ``min(1, ctas / sms)`` when the port is the SMs' share (None)."""
        p = self.dram_port_gbs
        return min(1.0, ctas / self.sms if p is None else ctas * float(p) / self.dram_gbs)

    @property
    def dram_latency_cycles(self) -> float:
        return self.dram_latency_ns * 1e-9 * self.clock_hz

    @property
    def supported_dtypes(self) -> tuple[str, ...]:
        out = ["fp32"]
        if self.fp16_simt_flops_per_clk_per_sm > 0:
            out.append("fp16")
        for d in self.tensor_flops_per_clk_per_sm:
            if d not in out:
                out.append(d)
        return tuple(d for d in DTYPES if d in out)

    def math_rate(self, dtype: str) -> tuple[float, str]:
        """Peak (FLOP per clock per SM, unit) for ``dtype``; unit is ``tensor`` or ``simt``."""
        if dtype in self.tensor_flops_per_clk_per_sm:
            return float(self.tensor_flops_per_clk_per_sm[dtype]), "tensor"
        if dtype == "fp32":
            return 2.0 * self.fp32_lanes_per_sm, "simt"
        if dtype == "fp16" and self.fp16_simt_flops_per_clk_per_sm > 0:
            return float(self.fp16_simt_flops_per_clk_per_sm), "simt"
        raise SimulationError(
            f"gpu '{self.name}' has no {dtype} math units; supported data types: {', '.join(self.supported_dtypes)}")

    def simt_rate(self, dtype: str) -> float:
        """CUDA-core (SIMT) peak, FLOP per clock per SM, of ``fp32`` or ``fp16`` arithmetic: the rate of a
        CUDA-core kernel (GEMV, CSR, element-wise), never the tensor cores' (``math_rate`` gives those first)."""
        if dtype == "fp16" and self.fp16_simt_flops_per_clk_per_sm > 0:
            return float(self.fp16_simt_flops_per_clk_per_sm)
        return 2.0 * self.fp32_lanes_per_sm

    def peak_flops(self, dtype: str) -> float:
        """Dense peak FLOP/s for ``dtype``."""
        rate, _ = self.math_rate(dtype)
        return rate * self.sms * self.clock_hz

    def validate(self) -> list[str]:
        problems = []
        problems += unknown_source_keys(self, self.sources)
        for d, v in self.tensor_flops_per_clk_per_sm.items():
            if d not in DTYPE_BYTES:
                problems.append(f"tensor_flops_per_clk_per_sm.{d}: unknown data type; expected one of {', '.join(DTYPES)}")
            elif not isinstance(v, (int, float)) or v <= 0:
                problems.append(f"tensor_flops_per_clk_per_sm.{d} must be a number > 0; got {v!r}")
        for d in self.efficiency.tensor_dtype:
            if d not in DTYPE_BYTES:
                problems.append(f"efficiency.tensor_dtype.{d}: unknown data type; expected one of {', '.join(DTYPES)}")
        for table in ("simt_flop_pj", "tensor_flop_pj"):
            for d, v in getattr(self.energy, table).items():
                if d not in DTYPE_BYTES:
                    problems.append(f"energy.{table}.{d}: unknown data type; expected one of {', '.join(DTYPES)}")
                elif not isinstance(v, (int, float)) or v < 0:
                    problems.append(f"energy.{table}.{d} must be a number >= 0; got {v!r}")
        supported = self.supported_dtypes
        if self.native_dtype not in supported:
            problems.append(f"native_dtype must be one of {', '.join(supported)} for this device; got {self.native_dtype!r}")
        if self.dtype != "auto" and self.dtype not in supported:
            problems.append(f"dtype must be auto or one of {', '.join(supported)} for this device; got {self.dtype!r}")
        if self.sparse_tensor_cores and not self.tensor_flops_per_clk_per_sm:
            problems.append("sparse_tensor_cores needs tensor cores (tensor_flops_per_clk_per_sm is empty)")
        if self.idle_w >= self.tdp_w:
            problems.append(f"idle_w ({self.idle_w}) must be below tdp_w ({self.tdp_w})")
        if self.warp_size * self.max_warps_per_sm > 4096:
            problems.append(f"max_warps_per_sm * warp_size must be <= 4096; got {self.warp_size * self.max_warps_per_sm}")
        if self.energy.simt_flop_pj or self.energy.tensor_flop_pj:  # (none given: refused when a model is built)
            problems += self.unpriced_flops()
        return problems

    def unpriced_flops(self) -> list[str]:
        """The FLOP types the model may count that ``energy`` prices at no entry: the tensor cores' types, and the CUDA
        cores' fp32 (and fp16 where they have fp16 units: GEMV, CSR and element-wise kernels on 16-bit data)."""
        problems = []
        simt_types = ["fp32"] + (["fp16"] if self.fp16_simt_flops_per_clk_per_sm > 0 else [])
        for unit, types in (("tensor", list(self.tensor_flops_per_clk_per_sm)), ("simt", simt_types)):
            table = getattr(self.energy, f"{unit}_flop_pj")
            missing = [d for d in types if d in DTYPE_BYTES and d not in table]
            if missing:
                problems.append(f"energy.{unit}_flop_pj has no entry for {', '.join(missing)} (pJ per FLOP; the "
                                f"{'tensor cores' if unit == 'tensor' else 'CUDA cores'} run {', '.join(types)})")
        return problems
