"""NPU config (``family: npu``): matrix units, a SIMD vector unit, a scratchpad, DMA to DRAM, a clock.

A TPU-style chip (docs/models/npu.md). Sections:

* ``matrix``: ``count`` systolic matrix units (MXUs) of ``rows x cols`` PEs, each the SCALE-Sim-exact
  systolic model of ``accelsim.hw.systolic`` (dataflow, native operand width, precision modes,
  N:M / zero skipping / zero gating, ``memory_model`` exact | analytic);
* ``vector``: ``lanes`` SIMD lanes of ``bits`` bits, ``ops_per_lane`` lane-ops per cycle by op
  class (add, mul, fma, compare, exp, rsqrt, reciprocal, convert, move, lookup), cross-lane
  ``reduction_trees``, ``packed_widths`` (data widths a lane packs), a fixed ``op_overhead_cycles``;
* ``scratchpad``: ``capacity_kb`` (1 kB = 1024 bytes), ``banks``, ``bytes_per_cycle`` (all banks
  together), ``width_bits`` (one access), ``activation_fraction`` (share that may keep activations
  resident between layers);
* ``dram``: ``type`` (energy), ``bandwidth_gbs`` (1e9 B/s), ``latency_ns``, ``efficiency``;
* ``fusion``: ``epilogue_overlap`` (vector epilogue under the matrix unit), ``attention`` (score
  tiles stay in the scratchpad), ``resident_activations``, ``fused_ops`` (ops fused into their
  producer: no DRAM traffic of their own);
* ``decompress``: Huffman decoder rate, block-scale width;
* ``clock_hz``, ``tech``, ``static_power_w``, ``sources`` (citation per field).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.config import param

DATAFLOWS = ("os", "ws", "is")
DRAM_TYPES = ("ddr3", "ddr4", "lpddr2", "lpddr4", "lpddr5", "gddr5", "gddr6", "hbm2", "hbm2e", "hbm3")
#: vector op classes (docs/models/npu.md §3)
OP_CLASSES = ("add", "mul", "fma", "compare", "exp", "rsqrt", "reciprocal", "convert", "move", "lookup")


@dataclass(frozen=True)
class MatrixUnitConfig:
    count: int = param(1, ge=1, le=4096, doc="matrix units working on one layer (fold-parallel, §2)")
    rows: int = param(128, ge=1, le=65536, unit="PEs", doc="PE rows of one matrix unit")
    cols: int = param(128, ge=1, le=65536, unit="PEs", doc="PE columns of one matrix unit")
    dataflow: str = param("ws", choices=DATAFLOWS, doc="os | ws | is")
    bits: int = param(16, choices=(8, 16, 32), unit="bits", doc="native operand width (bf16: 16)")
    dtype: str = param("fp", choices=("int", "fp"), doc="integer or floating-point MACs at the native width")
    precision_modes: list[int] = param([16], ge=2, le=32, unit="bits",
                                       doc="operand widths run bits/b MACs per PE per cycle (int8 on a bf16 MXU: 8)")
    accumulator_bits: int = param(32, ge=8, le=64, unit="bits", doc="partial-sum width")
    pitch_um: float = param(35.0, gt=0, le=1e5, unit="um", doc="PE pitch (wire energy of one hop)")
    fold_pipelining: bool = param(False, doc="folds overlap (double-buffered stationary operand): max(T, rows) cycles "
                                            "per fold plus one fill and drain; False = SCALE-Sim's cycles (§2)")
    memory_model: str = param("analytic", choices=("exact", "analytic"),
                              doc="SCALE-Sim operand buffers: exact replay or the analytic model (systolic §8)")
    nm: list[int] | None = param(None, ge=1, le=1024, doc="[N, M] structured-sparsity support (None = none)")
    metadata_bits: int = param(2, ge=0, le=16, unit="bits", doc="index bits per kept N:M weight")
    skip_zero_weights: bool = param(False, doc="skip all-zero weight folds (systolic §4.4)")
    zero_gating: bool = param(True, doc="gate MACs with a zero weight (energy only)")


@dataclass(frozen=True)
class VectorOps:
    """Lane-ops per lane per cycle of each op class (0 = not in hardware: runs at ``fallback``)."""

    add: float = param(1.0, ge=0, le=64, doc="add / subtract")
    mul: float = param(1.0, ge=0, le=64, doc="multiply")
    fma: float = param(1.0, ge=0, le=64, doc="fused multiply-add")
    compare: float = param(1.0, ge=0, le=64, doc="compare / max / min / select / clip")
    exp: float = param(0.25, ge=0, le=64, doc="exponential (and tanh / sigmoid cores)")
    rsqrt: float = param(0.25, ge=0, le=64, doc="reciprocal square root")
    reciprocal: float = param(0.25, ge=0, le=64, doc="reciprocal (divide = reciprocal + mul)")
    convert: float = param(1.0, ge=0, le=64, doc="type conversion / rounding (quantize, dequantize)")
    move: float = param(1.0, ge=0, le=64, doc="copy / permute through the vector registers (layout changes)")
    lookup: float = param(1.0, ge=0, le=64, doc="table lookup (codebook decode, gathers)")
    fallback: float = param(0.0625, gt=0, le=64, doc="rate of a class with 0 above (emulated, e.g. on a host core)")

    def rate(self, op_class: str) -> float:
        value = float(getattr(self, op_class))
        return value if value > 0 else float(self.fallback)


@dataclass(frozen=True)
class VectorUnitConfig:
    lanes: int = param(1024, ge=1, le=1 << 20, doc="SIMD lanes (elements per cycle per lane-op at `bits`)")
    bits: int = param(32, choices=(8, 16, 32), unit="bits", doc="lane width")
    dtype: str = param("fp", choices=("int", "fp"), doc="lane arithmetic (energy)")
    packed_widths: list[int] = param([], ge=2, le=32, unit="bits",
                                     doc="data widths a lane packs bits/w to (empty: every width runs at one element per lane)")
    ops_per_lane: VectorOps = param(VectorOps())
    reduction_trees: int = param(1, ge=1, le=1 << 16, doc="cross-lane reduction trees working in parallel")
    op_overhead_cycles: int = param(0, ge=0, le=1 << 20, unit="cycles", doc="fixed issue / pipeline fill per layer")
    activation_bits: int = param(16, choices=(8, 16, 32), unit="bits",
                                 doc="element width of unquantized activations (bf16: 16)")
    transcendental_fma_equiv: float = param(8.0, ge=1, le=64, doc="energy of exp / rsqrt / reciprocal in FMAs")


@dataclass(frozen=True)
class ScratchpadConfig:
    capacity_kb: int = param(16384, ge=1, le=1 << 30, unit="kB", doc="capacity (1 kB = 1024 bytes)")
    banks: int = param(1, ge=1, le=65536, doc="banks (documentation of the bandwidth; energy per bank-sized macro)")
    bytes_per_cycle: int = param(4096, ge=1, le=1 << 24, unit="B/cycle", doc="all banks together")
    width_bits: int = param(512, ge=8, le=1 << 16, unit="bits", doc="one access")
    activation_fraction: float = param(0.5, gt=0, le=1, doc="share that may hold activations between layers")

    @property
    def capacity_bytes(self) -> int:
        return self.capacity_kb * 1024


@dataclass(frozen=True)
class NpuDramConfig:
    type: str = param("hbm2e", choices=DRAM_TYPES, doc="DRAM technology for energy")
    bandwidth_gbs: float = param(819.0, gt=0, le=1e6, unit="GB/s", doc="peak bandwidth (1e9 B/s)")
    latency_ns: float = param(500.0, ge=0, le=1e6, unit="ns", doc="first-byte latency of a DMA, exposed once per layer")
    efficiency: float = param(0.85, gt=0, le=1, doc="achievable fraction of the peak for streaming DMA")


@dataclass(frozen=True)
class FusionConfig:
    epilogue_overlap: bool = param(True, doc="vector epilogue of a GEMM runs under the matrix unit")
    attention: bool = param(True, doc="fused attention: score / probability tiles never leave the scratchpad")
    resident_activations: bool = param(False, doc="activations that fit the scratchpad's share stay on chip between layers")
    fused_ops: list[str] = param([], doc="layer ops fused into their producer: no DRAM traffic of their own")


@dataclass(frozen=True)
class DecompressConfig:
    huffman_symbols_per_cycle: float = param(1.0, gt=0, le=1 << 16, doc="Huffman decoder unit rate")
    scale_bits: int = param(16, ge=1, le=64, unit="bits", doc="bits of one block scale (metadata bits / this = scales)")


@dataclass(frozen=True)
class NpuConfig:
    name: str = param(doc="config name")
    family: str = param("npu", choices=("npu",), doc="hardware family")
    description: str = param("", doc="free text")
    clock_hz: float = param(1e9, gt=0, le=1e11, unit="Hz", doc="core clock (<= 100 GHz)")
    tech: str = param("7nm", doc="technology table (arch_configs/tech)")
    static_power_w: float | None = param(None, ge=0, le=1e6, unit="W", doc="static power; None = leakage from the tech table")
    matrix: MatrixUnitConfig = param(MatrixUnitConfig())
    vector: VectorUnitConfig = param(VectorUnitConfig())
    scratchpad: ScratchpadConfig = param(ScratchpadConfig())
    dram: NpuDramConfig = param(NpuDramConfig())
    fusion: FusionConfig = param(FusionConfig())
    decompress: DecompressConfig = param(DecompressConfig())
    sources: dict[str, str] = param({}, doc="citation per field")

    def validate(self) -> list[str]:
        problems = []
        m = self.matrix
        modes = m.precision_modes
        bad = [b for b in modes if not isinstance(b, int) or b not in (2, 4, 8, 16, 32) or b > m.bits or m.bits % b]
        if not modes or bad:
            problems.append(f"matrix.precision_modes must be widths from 2, 4, 8, 16, 32 dividing matrix.bits={m.bits}; got {modes!r}")
        if m.nm is not None and (len(m.nm) != 2 or not 1 <= m.nm[0] < m.nm[1]):
            problems.append(f"matrix.nm must be [N, M] with 1 <= N < M; got {m.nm!r}")
        need = max(m.rows, m.cols)
        words = int(self.scratchpad.capacity_bytes / 3 / (m.bits // 8))
        if words // 2 < need:
            problems.append(f"scratchpad.capacity_kb={self.scratchpad.capacity_kb} gives each of the matrix unit's three "
                            f"operand partitions {words} words of {m.bits} bits; a {m.rows}x{m.cols} array needs half a "
                            f"partition >= {need} words")
        widths = self.vector.packed_widths
        if any(w not in (2, 4, 8, 16) or w >= self.vector.bits for w in widths):
            problems.append(f"vector.packed_widths must be widths from 2, 4, 8, 16 below vector.bits={self.vector.bits}; got {widths!r}")
        return problems


def buffer_kb(config: NpuConfig) -> int:
    """kB (1024 words of ``matrix.bits``) of each of the three SCALE-Sim operand partitions of the
    scratchpad the matrix unit streams from: a third of the capacity each (docs/models/npu.md §2)."""
    word_bytes = config.matrix.bits // 8
    return max(1, int(math.floor(config.scratchpad.capacity_bytes / 3 / (1024 * word_bytes))))


__all__ = ["DATAFLOWS", "DRAM_TYPES", "DecompressConfig", "FusionConfig", "MatrixUnitConfig", "NpuConfig",
           "NpuDramConfig", "OP_CLASSES", "ScratchpadConfig", "VectorOps", "VectorUnitConfig", "buffer_kb"]
