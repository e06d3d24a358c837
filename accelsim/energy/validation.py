"""Reference checks for the energy core: the technology tables against their sources and the EIE PE.

``checks(quick)`` returns asserted and reported :class:`accelsim.checks.Check` rows (area ``energy``;
``quick`` changes nothing); tests assert them and ``accelsim validate`` prints them. Tolerances are
stated here and in docs/models/energy.md.
The EIE helpers (``eie_pe_srams``, ``eie_pe_memory_area_mm2``, ``eie_pe_sram_power_w``) are for
the EIE model too.
"""

from __future__ import annotations

from accelsim.checks import Check
from accelsim.energy.sram import SramPoint, fit_energy_law
from accelsim.energy.tables import TechTable, load_tech

KB = 1024

# EIE, Han et al., ISCA 2016, Table II (one PE, 45 nm, 800 MHz) and Sec. VI.
EIE_PE_MEMORY_AREA_UM2 = 594786.0
EIE_PE_AREA_UM2 = 638024.0
EIE_PE_MEMORY_POWER_W = 5.416e-3
EIE_CLOCK_HZ = 800e6
EIE_SRAM_ACCESS_INTERVAL_CYCLES = 8  # Spmat and Ptr each read once every 8 cycles in steady state

SRAM_FIT_TOL = 0.25  # each fit point reproduced within 25%
EIE_AREA_TOL = 0.20  # EIE PE memory area within 20%
EIE_POWER_TOL = 0.25  # EIE PE memory power within 25%


def eie_pe_srams() -> list[tuple[str, int, int]]:
    """(name, capacity_bytes, width_bits) of the SRAM macros of one EIE PE (EIE Sec. IV / VI).

    Spmat 128 kB x 64 b; pointers 32 kB as one 32-bit access (two 16-bit banks read together);
    activation SRAM 2 kB (width assumed 64 b, not stated in the paper).
    """
    return [("spmat", 128 * KB, 64), ("ptr", 32 * KB, 32), ("act", 2 * KB, 64)]


def eie_pe_memory_area_mm2(tech: TechTable | str = "45nm") -> float:
    """SRAM area of one EIE PE from the area law (mm^2)."""
    t = load_tech(tech)
    return sum(t.sram_area_mm2(c, w) for _, c, w in eie_pe_srams())


def eie_pe_sram_power_w(tech: TechTable | str = "45nm") -> float:
    """Dynamic power of the spmat + ptr reads of one EIE PE in steady state (W): one read each per 8 cycles."""
    t = load_tech(tech)
    rate = EIE_CLOCK_HZ / EIE_SRAM_ACCESS_INTERVAL_CYCLES
    return rate * (t.sram_energy_pj(128 * KB, 64) + t.sram_energy_pj(32 * KB, 32)) * 1e-12


def eie_power_without_eie_points(tech: TechTable | str = "45nm") -> float:
    """EIE PE spmat + ptr read power (W) from the energy law refitted WITHOUT the EIE-derived points.

    An out-of-sample check: Horowitz and CACTI points alone must predict EIE's memory power.
    """
    t = load_tech(tech)
    points = [
        SramPoint(r.capacity_bytes, r.width_bits, r.reference, r.status, r.source)
        for r in t.sram.energy_fit
        if not r.source.startswith("EIE")  # EIE's own points (Horowitz's 8 kB read only mentions EIE's table)
    ]
    e_ref, beta, alpha = fit_energy_law(points)
    sram = t.sram

    def law(c: float, w: float) -> float:
        return e_ref * (w / sram.reference_width_bits) ** beta * (c / sram.reference_capacity_bytes) ** alpha

    rate = EIE_CLOCK_HZ / EIE_SRAM_ACCESS_INTERVAL_CYCLES
    return rate * (law(128 * KB, 64) + law(32 * KB, 32)) * 1e-12


def _kb(x: float) -> str:
    return f"{x / KB:g} kB"


def checks(quick: bool = False) -> list[Check]:
    tech = load_tech("45nm")
    out: list[Check] = []
    for row in tech.sram.energy_fit:
        at = f" ({row.node_nm:g} nm figure normalised to 45 nm)" if row.node_nm else ""
        out.append(Check("energy", f"SRAM read {_kb(row.capacity_bytes)} x {row.width_bits:g} b{at} (fit, {row.status})",
                         row.reference, row.predicted, "pJ", SRAM_FIT_TOL, row.source))
    for row in tech.sram.area_fit:
        out.append(Check("energy", f"SRAM area {_kb(row.capacity_bytes)} x {row.width_bits:g} b (fit)",
                         row.reference, row.predicted, "um2", SRAM_FIT_TOL, row.source))
    out.append(Check("energy", "EIE PE memory area (128+32+2 kB)", EIE_PE_MEMORY_AREA_UM2,
                     eie_pe_memory_area_mm2(tech) * 1e6, "um2", EIE_AREA_TOL, "EIE Table II, component_type memory"))
    out.append(Check("energy", "EIE PE memory power (spmat + ptr reads every 8 cycles)", EIE_PE_MEMORY_POWER_W * 1e3,
                     eie_pe_sram_power_w(tech) * 1e3, "mW", EIE_POWER_TOL,
                     "EIE Table II, component_type memory; access rate EIE Sec. VI"))
    out.append(Check("energy", "EIE PE memory power, law fitted without EIE points (out of sample)",
                     EIE_PE_MEMORY_POWER_W * 1e3, eie_power_without_eie_points(tech) * 1e3, "mW", EIE_POWER_TOL,
                     "EIE Table II; law from Horowitz + CACTI points only"))
    out.append(Check("energy", "DRAM / SRAM energy per 32-bit word (LPDDR2 vs 8 kB SRAM)", 128.0,
                     tech.dram_energy_pj_per_bit("lpddr2") * 32 / tech.sram_energy_pj(8 * KB, 32), "x", 0.25,
                     "EIE Sec. I: 640 pJ vs 5 pJ per 32-bit access"))
    out.append(Check("energy", "int32 mult / int32 add energy", 31.0,
                     tech.op_energy_pj("mult", "int32") / tech.op_energy_pj("add", "int32"), "x", 0.01,
                     "EIE Table I relative cost column"))
    # comparison rows (no tolerance: recalled / out-of-range figures are reported, never asserted)
    for row in tech.sram.energy_check:
        out.append(Check("energy", f"SRAM read {_kb(row.capacity_bytes)} x {row.width_bits:g} b (comparison, {row.status})",
                         row.reference, row.predicted, "pJ", None, row.source))
    for row in tech.sram.area_check:
        at = f" ({row.node_nm:g} nm figure normalised to 45 nm)" if row.node_nm else ""
        out.append(Check("energy", f"SRAM area {_kb(row.capacity_bytes)} x {row.width_bits:g} b{at} (comparison)",
                         row.reference, row.predicted, "um2", None, row.source))
    return out
