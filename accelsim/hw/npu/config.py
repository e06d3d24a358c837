"""NPU config (``family: npu``): matrix units, a SIMD vector unit, a scratchpad, DMA to DRAM, a clock.

A TPU-style chip (docs/models/npu.md). Sections:

* ``matrix``: ``count`` systolic matrix units (MXUs), each the SCALE-Sim-exact systolic model of
  ``accelsim.hw.systolic`` declared with that family's own sections and rules: ``array`` (rows,
  cols, dataflow), ``pe`` (native operand width, precision modes, dtype, accumulator, pitch),
  ``sparsity`` (N:M, zero skipping, zero gating); plus ``fold_pipelining``, ``memory_model``
  (exact | analytic) and ``efficiency`` (achievable fraction of the peak);
* ``vector``: ``lanes`` SIMD lanes of ``bits`` bits, ``ops_per_lane`` lane-ops per cycle by op
  class (add, mul, fma, compare, exp, rsqrt, reciprocal, convert, move, lookup), cross-lane
  ``reduction_trees``, ``packed_widths`` (data widths a lane packs), a fixed ``op_overhead_cycles``;
* ``scratchpad``: ``capacity_kb`` (1 kB = 1024 bytes), ``banks``, ``bytes_per_cycle`` (all banks
  together), ``width_bits`` (one access), ``activation_fraction`` (share that may keep activations
  resident between layers), ``parameter_cache_kb`` (parameters kept on chip across inferences);
* ``dram``: ``type`` (energy), ``bandwidth_gbs`` (1e9 B/s), ``latency_ns``, ``efficiency``,
  ``invoke_overhead_us`` (fixed time per inference); for a host-attached chip it is the host link;
* ``fusion``: ``epilogue_overlap`` (vector epilogue under the matrix unit), ``attention`` (score
  tiles stay in the scratchpad), ``resident_activations``, ``fused_ops`` (ops fused into their
  producer: no DRAM traffic of their own);
* ``decompress``: Huffman decoder rate, block-scale width;
* ``clock_hz``, ``tech``, ``static_power_w``, ``sources`` (citation per field).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.config import param, unknown_source_keys
from accelsim.hw.systolic.config import (DATAFLOWS, ArrayConfig, DramConfig, PeConfig, SparsityConfig, SramConfig,
                                         SystolicConfig)

DRAM_TYPES = ("ddr3", "ddr4", "lpddr2", "lpddr4", "lpddr5", "gddr5", "gddr6", "hbm2", "hbm2e", "hbm3")
#: vector op classes (docs/models/npu.md §3)
OP_CLASSES = ("add", "mul", "fma", "compare", "exp", "rsqrt", "reciprocal", "convert", "move", "lookup")


@dataclass(frozen=True, kw_only=True)
class MatrixUnitConfig:
    """The matrix units: ``count`` copies of one systolic array whose sections are the systolic
    family's own (``array``, ``pe``, ``sparsity``: :mod:`accelsim.hw.systolic.config`), plus what
    only the NPU decides (how the units share a layer, fold overlap, the buffer model, the
    achievable fraction of the peak)."""

    count: int = param(1, ge=1, le=4096, doc="matrix units working on one layer (fold-parallel, §2)")
    array: ArrayConfig = param(doc="rows, cols and dataflow of each unit's array (required)")
    pe: PeConfig = param(PeConfig(bits=16, precision_modes=[16], dtype="fp"))
    sparsity: SparsityConfig = param(SparsityConfig())
    fold_pipelining: bool = param(False, doc="folds overlap (double-buffered stationary operand): max(T, rows) cycles "
                                            "per fold plus one fill and drain; False = SCALE-Sim's cycles (§2)")
    memory_model: str = param("analytic", choices=("exact", "analytic"),
                              doc="SCALE-Sim operand buffers: exact replay or the analytic model (systolic §8)")
    efficiency: float = param(1.0, gt=0, le=1, doc="achievable fraction of the units' peak: matrix cycles are divided "
                                                   "by it (§2.4); 1 = the systolic model's cycles")

    @property
    def rows(self) -> int:
        return self.array.rows

    @property
    def cols(self) -> int:
        return self.array.cols

    @property
    def dataflow(self) -> str:
        return self.array.dataflow

    @property
    def bits(self) -> int:
        return self.pe.bits


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
        """Lane-ops per lane per cycle of ``op_class``: its unit's rate, or the fallback path's when that is
        faster (0 = no unit: the fallback; a unit slower than the fallback is not used, so raising a rate
        from 0 never slows a layer down)."""
        return max(float(getattr(self, op_class)), float(self.fallback))


@dataclass(frozen=True, kw_only=True)
class VectorUnitConfig:
    lanes: int = param(ge=1, le=1 << 20, doc="SIMD lanes (elements per cycle per lane-op at `bits`)")
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


@dataclass(frozen=True, kw_only=True)
class ScratchpadConfig:
    capacity_kb: int = param(ge=1, le=1 << 30, unit="kB", doc="capacity (1 kB = 1024 bytes)")
    banks: int = param(1, ge=1, le=65536, doc="banks (documentation of the bandwidth; energy per bank-sized macro)")
    bytes_per_cycle: int = param(ge=1, le=1 << 24, unit="B/cycle", doc="all banks together")
    width_bits: int = param(512, ge=8, le=1 << 16, unit="bits", doc="one access")
    activation_fraction: float = param(0.5, gt=0, le=1, doc="share that may hold activations between layers")
    parameter_cache_kb: int = param(0, ge=0, le=1 << 30, unit="kB",
                                    doc="part of the capacity that keeps a network's parameters on chip across "
                                        "inferences (the first layers that fit, in execution order); the rest are "
                                        "streamed from DRAM at every inference (section 4.4); 0 = none")

    @property
    def capacity_bytes(self) -> int:
        return self.capacity_kb * 1024

    @property
    def parameter_cache_bytes(self) -> int:
        return self.parameter_cache_kb * 1024


@dataclass(frozen=True, kw_only=True)
class NpuDramConfig:
    type: str = param("hbm2e", choices=DRAM_TYPES, doc="DRAM technology for energy")
    bandwidth_gbs: float = param(gt=0, le=1e6, unit="GB/s", doc="peak bandwidth (1e9 B/s)")
    latency_ns: float = param(500.0, ge=0, le=1e6, unit="ns", doc="first-byte latency of a DMA, exposed once per layer")
    efficiency: float = param(0.85, gt=0, le=1, doc="achievable fraction of the peak for streaming DMA")
    invoke_overhead_us: float = param(0.0, ge=0, le=1e6, unit="us",
                                      doc="fixed time of one inference outside the layers (host runtime, command and "
                                          "instruction transfer), charged to a network's first layer (section 4.4)")


@dataclass(frozen=True)
class FusionConfig:
    epilogue_overlap: bool = param(True, doc="vector epilogue of a GEMM runs under the matrix unit")
    attention: bool = param(True, doc="fused attention: score / probability tiles never leave the scratchpad")
    resident_activations: bool = param(False, doc="activations that fit the scratchpad's share stay on chip between layers")
    fused_ops: list[str] = param([], doc="layer ops fused into their producer: no DRAM traffic of their own")
    split_reductions: bool = param(False, doc="a normalisation / softmax outside fused attention runs as one fusion per "
                                   "sequential row reduction (streaming its input from DRAM) plus a per-row scalar "
                                   "fusion each, then the normalising fusion (XLA on TPU); off: one fusion, rows on chip")


@dataclass(frozen=True)
class DecompressConfig:
    huffman_symbols_per_cycle: float = param(1.0, gt=0, le=1 << 16, doc="Huffman decoder unit rate")


@dataclass(frozen=True, kw_only=True)
class NpuConfig:
    name: str = param(doc="config name")
    family: str = param("npu", choices=("npu",), doc="hardware family")
    description: str = param("", doc="free text")
    clock_hz: float = param(ge=1e3, le=1e11, unit="Hz", doc="core clock (1 kHz - 100 GHz)")
    tech: str = param("7nm", doc="technology table (arch_configs/tech)")
    static_power_w: float | None = param(None, ge=0, le=1e6, unit="W", doc="static power; None = leakage from the tech table")
    matrix: MatrixUnitConfig = param(doc="the matrix section (required)")
    vector: VectorUnitConfig = param(doc="the vector section (required)")
    scratchpad: ScratchpadConfig = param(doc="the scratchpad section (required)")
    dram: NpuDramConfig = param(doc="the dram section (required)")
    fusion: FusionConfig = param(FusionConfig())
    decompress: DecompressConfig = param(DecompressConfig())
    sources: dict[str, str] = param({}, doc="citation per field")

    def validate(self) -> list[str]:
        """Cross-field rules: the scratchpad must hold the matrix unit's operand partitions; the
        matrix unit's array / pe / sparsity sections are checked by the systolic family's own
        rules (``SystolicConfig.validate`` of :func:`systolic_config`, paths under ``matrix.``)."""
        problems = []
        m = self.matrix
        problems += unknown_source_keys(self, self.sources)
        need = max(m.rows, m.cols)
        words = int(self.scratchpad.capacity_bytes / 3 / (m.bits // 8)) if m.bits >= 8 else 0
        if m.bits < 8:
            problems.append(f"matrix.pe.bits must be 8, 16 or 32 (a scratchpad word of whole bytes); got {m.bits}")
        elif words // 2 < need:
            problems.append(f"scratchpad.capacity_kb={self.scratchpad.capacity_kb} gives each of the matrix unit's three "
                            f"operand partitions {words} words of {m.bits} bits; a {m.rows}x{m.cols} array needs half a "
                            f"partition >= {need} words")
        else:
            problems += [f"matrix.{p}" for p in systolic_config(self).validate() if p.startswith(MATRIX_SECTIONS)]
        if self.scratchpad.parameter_cache_kb > self.scratchpad.capacity_kb:
            problems.append(f"scratchpad.parameter_cache_kb={self.scratchpad.parameter_cache_kb} must not exceed "
                            f"scratchpad.capacity_kb={self.scratchpad.capacity_kb}")
        widths = self.vector.packed_widths
        if any(w not in (2, 4, 8, 16) or w >= self.vector.bits for w in widths):
            problems.append(f"vector.packed_widths must be widths from 2, 4, 8, 16 below vector.bits={self.vector.bits}; got {widths!r}")
        from accelsim.errors import close_names
        from accelsim.workload.layers import LAYER_TYPES

        for op in self.fusion.fused_ops:
            if op not in LAYER_TYPES:
                near = close_names(op, LAYER_TYPES)
                problems.append(f"fusion.fused_ops: unknown layer op {op!r}" + (f"; did you mean {', '.join(near)}?" if near
                                else f"; expected layer ops ({', '.join(sorted(LAYER_TYPES))})"))
        return problems


#: the systolic config's sections the matrix unit declares (their problems are reported under ``matrix.``)
MATRIX_SECTIONS = ("array.", "pe.", "sparsity.")


def systolic_config(config: NpuConfig) -> SystolicConfig:
    """One matrix unit as a systolic config (docs/models/npu.md §2): its ``array``, ``pe`` and
    ``sparsity`` sections as they are, three SCALE-Sim buffers of a third of the scratchpad each
    (words of ``pe.bits``), CALC bandwidth (the NPU times DRAM itself, §4), the clock, the
    technology table and the buffer model."""
    m = config.matrix
    kb = buffer_kb(config)
    return SystolicConfig(
        name=f"{config.name}.matrix", clock_hz=config.clock_hz, tech=config.tech,
        array=m.array, pe=m.pe, sparsity=m.sparsity,
        sram=SramConfig(ifmap_kb=kb, filter_kb=kb, ofmap_kb=kb, word_bytes=m.bits // 8),
        dram=DramConfig(bandwidth_mode="CALC", type=config.dram.type),
        memory_model=m.memory_model,
    )


def buffer_kb(config: NpuConfig) -> int:
    """kB (1024 words of ``matrix.pe.bits``) of each of the three SCALE-Sim operand partitions of the
    scratchpad the matrix unit streams from: a third of the capacity each (docs/models/npu.md §2)."""
    word_bytes = config.matrix.bits // 8
    return max(1, int(math.floor(config.scratchpad.capacity_bytes / 3 / (1024 * word_bytes))))


__all__ = ["DATAFLOWS", "DRAM_TYPES", "MATRIX_SECTIONS", "DecompressConfig", "FusionConfig", "MatrixUnitConfig", "NpuConfig",
           "NpuDramConfig", "OP_CLASSES", "ScratchpadConfig", "VectorOps", "VectorUnitConfig", "buffer_kb", "systolic_config"]
