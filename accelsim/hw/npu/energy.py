"""Energy reference table, static power and area of the NPU (docs/models/npu.md §5).

Action keys (component, action, variant):

* the matrix unit's keys of the systolic model (``pe``, ``pe_reg``, ``acc_reg``, ``pe_link``), priced
  by the embedded :class:`~accelsim.hw.systolic.SystolicModel` (systolic §5);
* ``("vpu", <op class>, <dtype>)`` - one lane-op of the vector unit: add / compare / convert = the
  technology table's adder, mul = multiplier, fma = multiplier + adder, exp / rsqrt / reciprocal =
  ``vector.transcendental_fma_equiv`` FMAs (a range reduction + polynomial), move = 0 (the register
  traffic below is the cost), lookup = one register read of the table entry;
* ``("vreg", "access", "<b>b")`` - vector register file accesses: 3 per lane-op (2 reads, 1 write);
* ``("spad", "read" | "write", "<w>b")`` - scratchpad accesses (:class:`~accelsim.hw.blocks.SramBuffer`);
* ``("dram", "read" | "write", <type>)`` - DRAM bits (:class:`~accelsim.hw.blocks.DramChannel`).
"""

from __future__ import annotations

from accelsim.energy.estimate import AreaBreakdown, estimate_area
from accelsim.hw.blocks import DramChannel, SramBuffer
from accelsim.hw.npu.config import OP_CLASSES, NpuConfig

#: components of the systolic model's keys that belong to the matrix unit (its SRAM and DRAM keys
#: are replaced by the NPU's scratchpad and DRAM channel)
MXU_COMPONENTS = ("pe", "pe_reg", "acc_reg", "pe_link")


def lane_dtype(kind: str, bits: int) -> str:
    """The technology table's data type of a ``bits``-wide lane-op (``fp`` 16 -> bf16)."""
    if kind == "fp":
        return {8: "fp8", 16: "bf16"}.get(bits, "fp32")
    return {4: "int4", 8: "int8", 16: "int16"}.get(bits, "int4" if bits < 4 else "int32")


def scratchpad(config: NpuConfig) -> SramBuffer:
    s = config.scratchpad
    return SramBuffer("spad", s.capacity_bytes, s.width_bits)


def dram_channel(config: NpuConfig) -> DramChannel:
    return DramChannel(config.dram.type, config.dram.bandwidth_gbs * 1e9)


def vector_widths(config: NpuConfig) -> list[int]:
    """Data widths the vector unit's energy keys exist for: the lane width and the packed widths."""
    return sorted({config.vector.bits, *config.vector.packed_widths})


def vpu_entries(config: NpuConfig, tech) -> dict:
    """ERT entries of every vector lane-op class at every lane / packed width, and register accesses."""
    v = config.vector
    ert: dict = {}
    for bits in vector_widths(config):
        dt = lane_dtype(v.dtype, bits)
        add = tech.op_energy_pj("add", dt)
        mul = tech.op_energy_pj("mult", dt)
        fma = add + mul
        price = {"add": add, "mul": mul, "fma": fma, "compare": add, "exp": v.transcendental_fma_equiv * fma,
                 "rsqrt": v.transcendental_fma_equiv * fma, "reciprocal": v.transcendental_fma_equiv * fma,
                 "convert": add, "move": 0.0, "lookup": tech.register_energy_pj(bits, "read")}
        for cls in OP_CLASSES:
            ert[("vpu", cls, dt)] = (price[cls], "compute")
        ert[("vreg", "access", f"{bits}b")] = (tech.register_energy_pj(bits, "read"), "register")
    return ert


def energy_reference_table(config: NpuConfig, tech, mxu_table) -> dict:
    """The NPU's table: the matrix unit's entries from its systolic table, then the vector unit,
    the scratchpad and the DRAM channel."""
    ert = {k: v for k, v in mxu_table.items() if k[0] in MXU_COMPONENTS}
    if config.matrix.pe.dtype == "fp":  # a 16-bit float PE is bf16 here (lane_dtype), as its area and leakage are
        for key, (_, cat) in list(ert.items()):
            if key[:2] == ("pe", "mac") and key[2] == "fp16":
                ert[key] = (tech.op_energy_pj("mac", lane_dtype("fp", 16)), cat)
    ert.update(vpu_entries(config, tech))
    ert.update(scratchpad(config).energy_entries(tech))
    ert.update(dram_channel(config).tech_energy_entries(tech))
    return ert


def static_power(config: NpuConfig, tech) -> float:
    """``static_power_w`` if set, else the scratchpad's leakage + the leakage of every PE's
    multiplier and accumulator adder + every lane's multiplier and adder (W)."""
    if config.static_power_w is not None:
        return float(config.static_power_w)
    m, v = config.matrix, config.vector
    pe_dt = lane_dtype(m.pe.dtype, m.pe.bits)
    acc_dt = "fp32" if m.pe.dtype == "fp" else "int32"
    lane_dt = lane_dtype(v.dtype, v.bits)
    pes = m.count * m.rows * m.cols
    return (scratchpad(config).leakage_w(tech)
            + pes * (tech.op_leakage_w("mult", pe_dt) + tech.op_leakage_w("add", acc_dt))
            + v.lanes * (tech.op_leakage_w("mult", lane_dt) + tech.op_leakage_w("add", lane_dt)))


#: vector register bits per lane counted for the register file area (32 registers of the lane width)
VREGS_PER_LANE = 32


def area(config: NpuConfig, tech) -> AreaBreakdown:
    """mm^2 by component: matrix units (multiplier + accumulator adder per PE), vector unit (multiplier
    + adder per lane, its register file of 32 lane-wide registers), scratchpad (SRAM law)."""
    m, v = config.matrix, config.vector
    pe_dt = lane_dtype(m.pe.dtype, m.pe.bits)
    acc_dt = "fp32" if m.pe.dtype == "fp" else "int32"
    lane_dt = lane_dtype(v.dtype, v.bits)
    pe_um2 = tech.op_area_um2("mult", pe_dt) + tech.op_area_um2("add", acc_dt)
    lane_um2 = tech.op_area_um2("mult", lane_dt) + tech.op_area_um2("add", lane_dt)
    return estimate_area({
        "matrix_units": m.count * m.rows * m.cols * pe_um2 * 1e-6,
        "vector_lanes": v.lanes * lane_um2 * 1e-6,
        "vector_registers": tech.register_area_mm2(v.lanes * VREGS_PER_LANE * v.bits),
        "scratchpad": scratchpad(config).area_mm2(tech),
    })


__all__ = ["MXU_COMPONENTS", "area", "dram_channel", "energy_reference_table", "lane_dtype", "scratchpad",
           "static_power", "vector_widths", "vpu_entries"]
