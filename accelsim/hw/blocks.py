"""Building blocks every family composes instead of copying: a DRAM channel and an SRAM buffer.

Each block turns its configuration and a technology table into energy reference table entries
(``{(component, action, variant): (pJ, category)}``), leakage and area, and the DRAM channel its
transfer time. Equations: ``docs/models/energy.md`` (SRAM and DRAM laws of the technology table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DramChannel:
    """Off-chip memory of one ``type`` (``hbm2``, ``lpddr4``, ...) at ``bytes_per_s`` (None: not limited).

    Action keys: ``("dram", "read" | "write", variant)`` counted in bits; ``variant`` defaults to the type.
    """

    type: str
    bytes_per_s: float | None = None
    variant: str | None = None

    @property
    def key_variant(self) -> str:
        return self.variant or self.type

    def energy_entries(self, pj_per_bit: float) -> dict:
        """ERT entries for reads and writes at ``pj_per_bit`` (pJ per bit moved)."""
        v = self.key_variant
        return {("dram", "read", v): (float(pj_per_bit), "dram"), ("dram", "write", v): (float(pj_per_bit), "dram")}

    def tech_energy_entries(self, tech) -> dict:
        """ERT entries priced by a technology table's DRAM law for this type."""
        return self.energy_entries(tech.dram_energy_pj_per_bit(self.type))

    def action_pairs(self, read_bytes: float, write_bytes: float) -> list:
        """``[(key, bits)]`` of a transfer, for ``ActionCounts``."""
        v = self.key_variant
        return [(("dram", "read", v), 8 * read_bytes), (("dram", "write", v), 8 * write_bytes)]

    def seconds(self, n_bytes: float) -> float:
        """Transfer time of ``n_bytes`` at the channel's bandwidth (0 when unlimited)."""
        if not self.bytes_per_s:
            return 0.0
        return n_bytes / self.bytes_per_s

    def cycles(self, n_bytes: float, clock_hz: float) -> int:
        """Whole cycles of a ``clock_hz`` clock to move ``n_bytes``: ``ceil(bytes / (bytes/s) x Hz)``."""
        if not self.bytes_per_s or n_bytes <= 0:
            return 0
        return int(math.ceil(n_bytes / self.bytes_per_s * clock_hz))


@dataclass(frozen=True)
class SramBuffer:
    """An on-chip SRAM of ``capacity_bytes`` accessed ``width_bits`` at a time.

    ``name`` is the component of its action keys (``("<name>", "read" | "write", "<width>b")``),
    counted in accesses (words of ``width_bits``).
    """

    name: str
    capacity_bytes: float
    width_bits: int

    @property
    def variant(self) -> str:
        return f"{self.width_bits}b"

    def key(self, action: str) -> tuple[str, str, str]:
        return (self.name, action, self.variant)

    def energy_entries(self, tech, actions: tuple[str, ...] = ("read", "write")) -> dict:
        """ERT entries of each access ``action`` priced by the technology table's SRAM law."""
        return {self.key(a): (tech.sram_energy_pj(self.capacity_bytes, self.width_bits, a), "sram") for a in actions}

    def leakage_w(self, tech) -> float:
        return tech.sram_leakage_w(self.capacity_bytes)

    def area_mm2(self, tech) -> float:
        return tech.sram_area_mm2(self.capacity_bytes, self.width_bits)


__all__ = ["DramChannel", "SramBuffer"]
