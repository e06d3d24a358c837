"""Systolic-array config (``family: systolic``): every SCALE-Sim 3.0.0 .cfg setting plus accelsim extras.

Sections mirror SCALE-Sim's .cfg (``docs/models/systolic.md`` maps each key):

* ``array``: ``rows`` (ArrayHeight), ``cols`` (ArrayWidth), ``dataflow`` (os | ws | is);
* ``sram``: ``ifmap_kb``, ``filter_kb``, ``ofmap_kb`` (IfmapSramSzkB, ...; 1 kB = 1024 words of
  ``word_bytes``), address offsets, ``word_bytes`` (SCALE-Sim fixes 1 byte);
* ``dram``: ``bandwidth_mode`` (InterfaceBandwidth CALC | USER), the USER-mode bandwidths in words
  per cycle (``ifmap_bw`` = IfmapSRAMBankBandwidth, ``filter_bw`` = FilterSRAMBankBandwidth,
  ``ofmap_bw`` = Bandwidth), request-buffer depths, ``use_ramulator_trace``, and the DRAM ``type``
  used for energy;
* ``layout``: the bank/port/custom-layout keys of SCALE-Sim's [layout] section;
* ``sparsity``: SCALE-Sim's [sparsity] keys plus accelsim's N:M and zero-skipping switches;
* ``pe``: native operand width and the precision-scalable modes;
* ``clock_hz``, ``tech`` (technology table name), ``static_power_w``, ``run_name``;
* ``memory_model``: ``exact`` (SCALE-Sim replay) or ``analytic`` (fast expected-value model, §8).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.config import param

DATAFLOWS = ("os", "ws", "is")


@dataclass(frozen=True)
class ArrayConfig:
    rows: int = param(32, ge=1, le=65536, unit="PEs", doc="PE rows (SCALE-Sim ArrayHeight)")
    cols: int = param(32, ge=1, le=65536, unit="PEs", doc="PE columns (SCALE-Sim ArrayWidth)")
    dataflow: str = param("os", choices=DATAFLOWS, doc="os | ws | is")


#: the SRAM sizes' unit: 1024 words of ``word_bytes`` each, SCALE-Sim's kB where words are its one byte
_KWORDS = "{} in 1024 words of word_bytes (kB at SCALE-Sim's 1-byte words), double buffered"


@dataclass(frozen=True)
class SramConfig:
    ifmap_kb: int = param(64, ge=1, le=1 << 30, unit="k words", doc=_KWORDS.format("IFMAP SRAM (IfmapSramSzkB)"))
    filter_kb: int = param(64, ge=1, le=1 << 30, unit="k words", doc=_KWORDS.format("filter SRAM (FilterSramSzkB)"))
    ofmap_kb: int = param(64, ge=1, le=1 << 30, unit="k words", doc=_KWORDS.format("OFMAP SRAM (OfmapSramSzkB)"))
    word_bytes: int = param(1, ge=1, le=8, unit="bytes", doc="bytes per SRAM/DRAM word at native precision")
    ifmap_offset: int = param(0, ge=0, le=1 << 48, doc="trace base address of the IFMAP (<= 2^48: a 48-bit address space)")
    filter_offset: int = param(10_000_000, ge=0, le=1 << 48, doc="trace base address of the filters (<= 2^48)")
    ofmap_offset: int = param(20_000_000, ge=0, le=1 << 48, doc="trace base address of the OFMAP (<= 2^48)")


@dataclass(frozen=True)
class DramConfig:
    bandwidth_mode: str = param("CALC", choices=("CALC", "USER"), doc="SCALE-Sim InterfaceBandwidth")
    ifmap_bw: int = param(10, ge=1, le=1 << 20, unit="words/cycle",
                          doc="IFMAP DRAM->SRAM bandwidth in USER mode (IfmapSRAMBankBandwidth); <= 2^20 (1e15 B/s at 1 GHz)")
    filter_bw: int = param(10, ge=1, le=1 << 20, unit="words/cycle",
                           doc="filter DRAM->SRAM bandwidth in USER mode (FilterSRAMBankBandwidth); <= 2^20")
    ofmap_bw: int = param(10, ge=1, le=1 << 20, unit="words/cycle", doc="OFMAP SRAM->DRAM bandwidth in USER mode (Bandwidth); <= 2^20")
    type: str = param("ddr4", choices=("ddr3", "ddr4", "lpddr2", "lpddr4", "lpddr5", "gddr5", "gddr6", "hbm2", "hbm2e", "hbm3"),
                      doc="DRAM technology for energy")
    read_request_buffer: int = param(32, ge=1, le=1 << 20, doc="ReadRequestBuffer (Ramulator path only); <= 2^20 entries")
    write_request_buffer: int = param(32, ge=1, le=1 << 20, doc="WriteRequestBuffer (Ramulator path only); <= 2^20 entries")
    use_ramulator_trace: bool = param(False, doc="UseRamulatorTrace; must be false (not modelled)")


@dataclass(frozen=True)
class LayoutConfig:
    ifmap_custom_layout: bool = param(False, doc="IfmapCustomLayout; must be false (bank conflicts not modelled)")
    filter_custom_layout: bool = param(False, doc="FilterCustomLayout; must be false")
    ifmap_bank_num: int = param(1, ge=1, le=65536, doc="IfmapSRAMBankNum (<= 65536, one per PE column at most)")
    ifmap_bank_port: int = param(2, ge=1, le=64, doc="IfmapSRAMBankPort (<= 64 ports per bank)")
    filter_bank_num: int = param(1, ge=1, le=65536, doc="FilterSRAMBankNum (<= 65536)")
    filter_bank_port: int = param(2, ge=1, le=64, doc="FilterSRAMBankPort (<= 64)")


@dataclass(frozen=True)
class SparsityConfig:
    support: bool = param(False, doc="SCALE-Sim SparsitySupport (echoed; SCALE-Sim's own sparse mapping is not modelled, see nm)")
    representation: str = param("ellpack_block", choices=("csr", "csc", "ellpack_block"), doc="SparseRep")
    optimized_mapping: bool = param(False, doc="SCALE-Sim OptimizedMapping (row-wise N:M)")
    block_size: int = param(4, ge=1, le=65536, doc="SCALE-Sim BlockSize (M of row-wise N:M; <= 65536, the most array rows)")
    seed: int = param(40, ge=0, le=2**32 - 1, doc="RandomNumberGeneratorSeed (a 32-bit seed, as numpy takes)")
    nm: list[int] | None = param(None, ge=1, le=1024, doc="[N, M]: sparse-tensor-core N:M support (None = none; M <= 1024)")
    metadata_bits: int = param(2, ge=0, le=16, unit="bits", doc="index bits per kept N:M weight")
    skip_zero_weights: bool = param(False, doc="skip all-zero weight work fold by fold (cycle savings)")
    zero_gating: bool = param(True, doc="gate MACs whose weight is zero (energy only)")


@dataclass(frozen=True)
class PeConfig:
    bits: int = param(8, choices=(2, 4, 8, 16, 32), unit="bits", doc="native operand width of a PE")
    precision_modes: list[int] = param([8], ge=2, le=32, unit="bits", doc="operand widths the PE supports; a PE of `bits` does bits/b MACs per cycle at width b")
    dtype: str = param("int", choices=("int", "fp"), doc="integer or floating-point MACs (energy)")
    pitch_um: float = param(35.0, gt=0, le=1e5, unit="um", doc="PE pitch: wire length of one inter-PE hop (energy); <= 10 cm")
    accumulator_bits: int = param(32, ge=8, le=64, unit="bits", doc="partial-sum register width (energy)")


@dataclass(frozen=True)
class SystolicConfig:
    name: str = param(doc="config name")
    family: str = param("systolic", choices=("systolic",), doc="hardware family")
    description: str = param("", doc="free text")
    run_name: str = param("", doc="SCALE-Sim run_name (echoed only)")
    clock_hz: float = param(1e9, ge=1e3, le=1e11, unit="Hz", doc="array clock (1 kHz - 100 GHz: a slower one overflows the EDP)")
    tech: str = param("45nm", doc="technology table for energy (arch_configs/tech)")
    static_power_w: float | None = param(None, ge=0, le=1e6, unit="W",
                                         doc="static power; None = SRAM leakage from the tech table (<= 1 MW)")
    array: ArrayConfig = param(ArrayConfig())
    sram: SramConfig = param(SramConfig())
    dram: DramConfig = param(DramConfig())
    layout: LayoutConfig = param(LayoutConfig())
    sparsity: SparsityConfig = param(SparsityConfig())
    pe: PeConfig = param(PeConfig())
    memory_model: str = param("exact", choices=("exact", "analytic"),
                              doc="exact: SCALE-Sim's buffers replayed access by access; analytic: their expected-value "
                                  "model for fast sweeps (CALC mode) or their event-level model (USER mode; docs/models/systolic.md section 8)")
    source: str = param("", doc="file the config was read from (set by the .cfg reader)")

    def validate(self) -> list[str]:
        # (an array longer than an SRAM buffer half is allowed, as SCALE-Sim allows it: a demand row then spans
        # more than one half, which the replay handles; tests/data/scalesim/reports/long_*)
        problems = []
        if self.dram.use_ramulator_trace:
            problems.append("dram.use_ramulator_trace must be false; Ramulator latencies are not modelled")
        if self.layout.ifmap_custom_layout or self.layout.filter_custom_layout:
            problems.append("layout.ifmap_custom_layout / filter_custom_layout must be false; bank conflicts are not modelled")
        if self.dram.ifmap_bw % self.layout.ifmap_bank_num:
            problems.append(f"dram.ifmap_bw must be divisible by layout.ifmap_bank_num; got {self.dram.ifmap_bw} and {self.layout.ifmap_bank_num}")
        if self.dram.filter_bw % self.layout.filter_bank_num:
            problems.append(f"dram.filter_bw must be divisible by layout.filter_bank_num; got {self.dram.filter_bw} and {self.layout.filter_bank_num}")
        if self.sparsity.support and self.sparsity.optimized_mapping:
            problems.append("sparsity.optimized_mapping must be false while sparsity.support is on; SCALE-Sim's optimized "
                            "sparse mapping is not modelled (its cycles and SRAM reads differ even on 1:1 layers); prune "
                            "with a recipe on an arch whose sparsity.nm runs it")
        if self.sparsity.optimized_mapping and self.sparsity.block_size > self.array.rows:
            problems.append(f"sparsity.block_size must be <= array.rows; got {self.sparsity.block_size} > {self.array.rows}")
        nm = self.sparsity.nm
        if nm is not None and (len(nm) != 2 or not all(isinstance(v, int) for v in nm) or not 1 <= nm[0] < nm[1]):
            problems.append(f"sparsity.nm must be [N, M] with 1 <= N < M; got {nm!r}")
        modes = self.pe.precision_modes
        bad = [m for m in modes if not isinstance(m, int) or m not in (2, 4, 8, 16, 32) or m > self.pe.bits or self.pe.bits % m]
        if not modes or bad:
            problems.append(f"pe.precision_modes must be widths from 2, 4, 8, 16, 32 dividing pe.bits={self.pe.bits}; got {modes!r}")
        return problems

    @property
    def rows(self) -> int:
        return self.array.rows

    @property
    def cols(self) -> int:
        return self.array.cols

    @property
    def dataflow(self) -> str:
        return self.array.dataflow


__all__ = ["ArrayConfig", "DramConfig", "LayoutConfig", "PeConfig", "SparsityConfig", "SramConfig", "SystolicConfig", "DATAFLOWS"]
