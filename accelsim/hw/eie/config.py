"""EIE-style sparse engine config (``family: eie``); equations and sources in ``docs/models/eie.md``.

Sections:

* top level: ``n_pe``, ``clock_hz``, ``queue_depth`` (activation FIFO entries per PE), ``tech``
  (technology table name), ``tiling`` (allow column tiles with DRAM refills and activation
  batching through the activation SRAM), ``pipeline_depth``, ``min_cycles_per_column``;
* ``spmat``, ``ptr``, ``act_sram``: per-PE SRAMs (``capacity_bytes``, ``width_bits``, ``banks``);
* ``act_regs``: entries of each of the two activation register files (source / destination) per PE;
* ``encoding``: codebook entries and value bits, weight-index bits, relative row-index bits,
  pointer bits, activation and accumulator bits;
* ``lnzd``: leading-non-zero-detection tree (``group`` PEs per node, ``positions_per_cycle`` of the
  activation vector each PE's detector examines per cycle, ``broadcast_latency`` and ``credit_latency`` cycles);
* ``dram``: DRAM type (energy) and bandwidth (refill time) for layers tiled off-chip;
* ``area``: the non-memory logic area per PE that the SRAM / register / arithmetic models do not
  cover (clock tree, control, filler).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.config import param

DRAM_TYPES = ("ddr3", "ddr4", "lpddr2", "lpddr4", "lpddr5", "gddr5", "gddr6", "hbm2", "hbm2e", "hbm3")


@dataclass(frozen=True)
class SramSpec:
    capacity_bytes: int = param(131072, ge=1, le=1 << 40, unit="bytes", doc="capacity per PE (<= 1 TiB)")
    width_bits: int = param(64, ge=1, le=4096, unit="bits", doc="read/write port width")
    banks: int = param(1, ge=1, le=64, doc="independent banks (the capacity is split evenly)")


@dataclass(frozen=True)
class EncodingConfig:
    codebook_entries: int = param(16, ge=1, le=65536, doc="shared-weight table entries")
    codebook_bits: int = param(16, ge=1, le=32, unit="bits", doc="bits of each decoded weight (fixed point)")
    weight_index_bits: int = param(4, ge=1, le=16, unit="bits", doc="virtual weight index stored per entry")
    row_index_bits: int = param(4, ge=1, le=16, unit="bits", doc="relative row index (zeros before an entry)")
    pointer_bits: int = param(16, ge=1, le=32, unit="bits", doc="column pointer width")
    activation_bits: int = param(16, ge=1, le=32, unit="bits", doc="activation (fixed point) width")
    accumulator_bits: int = param(16, ge=1, le=64, unit="bits", doc="accumulator width")

    def validate(self) -> list[str]:
        problems = []
        if self.codebook_entries > (1 << self.weight_index_bits):
            problems.append(
                f"codebook_entries ({self.codebook_entries}) must be <= 2**weight_index_bits "
                f"({1 << self.weight_index_bits})")
        return problems


@dataclass(frozen=True)
class LnzdConfig:
    group: int = param(4, ge=2, le=64, doc="children per LNZD node (quadtree: 4)")
    positions_per_pe: int = param(1, ge=1, le=1 << 16, unit="positions/cycle/PE",
                                  doc="activation positions each PE's local detector examines per cycle; "
                                      "the tree retires n_pe * positions_per_pe positions per cycle")
    max_positions_per_cycle: int = param(0, ge=0, le=1 << 20, unit="positions/cycle",
                                         doc="cap on the tree's scan rate (0 = none); 1 models a root that "
                                             "examines one position per cycle")
    broadcast_latency: int = param(1, ge=1, le=64, unit="cycles", doc="root broadcast -> PE queue")
    credit_latency: int = param(0, ge=0, le=64, unit="cycles", doc="PE queue slot freed -> root sees it")


@dataclass(frozen=True)
class DramSpec:
    type: str = param("lpddr2", choices=DRAM_TYPES, doc="DRAM technology (energy per bit)")
    bandwidth_bytes_per_s: float = param(6.4e9, gt=0, le=1e15, unit="bytes/s", doc="refill bandwidth for tiled layers (<= 1 PB/s)")


@dataclass(frozen=True)
class AreaSpec:
    other_logic_um2_per_pe: float = param(0.0, ge=0, le=1e10, unit="um^2",
                                          doc="per-PE area not covered by the SRAM/register/ALU models (<= 100 cm^2, over any die)")


@dataclass(frozen=True)
class EIEConfig:
    name: str = param("eie", doc="config name")
    family: str = param("eie", choices=("eie",), doc="hardware family")
    tech: str = param("45nm", doc="technology table (arch_configs/tech/<name>.yaml)")
    n_pe: int = param(64, ge=1, le=4096, unit="PEs", doc="processing elements; row i lives on PE i mod n_pe")
    clock_hz: float = param(800e6, ge=1e3, le=1e11, unit="Hz", doc="clock frequency (1 kHz - 100 GHz)")
    queue_depth: int = param(8, ge=1, le=4096, unit="entries", doc="activation FIFO depth per PE")
    pipeline_depth: int = param(4, ge=1, le=64, unit="stages", doc="arithmetic pipeline stages (fill/drain)")
    min_cycles_per_column: int = param(1, ge=0, le=16, unit="cycles",
                                       doc="cycles a PE spends on a broadcast column with no entries (pointer read)")
    column_fetch_cycles: int = param(0, ge=0, le=16, unit="cycles",
                                     doc="extra cycles (pointer read, first spmat line) before a column's first entry "
                                         "reaches an idle PE's ALU; hidden behind the previous column when busy")
    act_regs: int = param(64, ge=1, le=65536, unit="entries", doc="entries per activation register file per PE")
    tiling: bool = param(True, doc="allow column tiles refilled from DRAM and activation batching via act SRAM")
    max_vectors: int = param(4, ge=1, le=1 << 20,
                             doc="M x V products simulated exactly per layer call; more are scaled from their mean")
    spmat: SramSpec = param(SramSpec(131072, 64, 1), doc="sparse-matrix SRAM per PE")
    ptr: SramSpec = param(SramSpec(32768, 16, 2), doc="pointer SRAM per PE (even/odd banks)")
    act_sram: SramSpec = param(SramSpec(2048, 64, 1), doc="activation SRAM per PE")
    encoding: EncodingConfig = param(EncodingConfig(), doc="weight / index / activation encoding")
    lnzd: LnzdConfig = param(LnzdConfig(), doc="non-zero detection and broadcast")
    dram: DramSpec = param(DramSpec(), doc="off-chip memory for tiled layers")
    area: AreaSpec = param(AreaSpec(), doc="area not covered by component models")

    def validate(self) -> list[str]:
        problems = []
        if self.spmat.width_bits % (self.encoding.weight_index_bits + self.encoding.row_index_bits):
            problems.append(
                f"spmat.width_bits ({self.spmat.width_bits}) must be a multiple of the entry width "
                f"encoding.weight_index_bits + encoding.row_index_bits "
                f"({self.encoding.weight_index_bits + self.encoding.row_index_bits})")
        return problems

    @property
    def entry_bits(self) -> int:
        """Bits of one stored (weight index, relative row index) entry."""
        return self.encoding.weight_index_bits + self.encoding.row_index_bits

    @property
    def entries_per_line(self) -> int:
        """Entries delivered by one spmat SRAM read."""
        return self.spmat.width_bits // self.entry_bits

    @property
    def scan_positions_per_cycle(self) -> int:
        """Activation-vector positions the LNZD tree retires per cycle."""
        rate = self.n_pe * self.lnzd.positions_per_pe
        cap = self.lnzd.max_positions_per_cycle
        return min(rate, cap) if cap else rate
