"""Energy and area: action counts priced by technology tables.

``ActionCounts`` (what a model did) x an energy reference table built from a ``TechTable``
(``load_tech("45nm")``) -> ``estimate(...)`` -> ``EnergyBreakdown``. See docs/models/energy.md.
"""

from accelsim.energy.actions import ActionCounts, ActionKey
from accelsim.energy.estimate import AreaBreakdown, EnergyBreakdown, estimate, estimate_area
from accelsim.energy.sram import FitRow, SramModel
from accelsim.energy.tables import DRAM_TYPES, DTYPES, OPS, TechTable, load_tech, tech_names

__all__ = [
    "ActionCounts",
    "ActionKey",
    "AreaBreakdown",
    "DRAM_TYPES",
    "DTYPES",
    "EnergyBreakdown",
    "FitRow",
    "OPS",
    "SramModel",
    "TechTable",
    "estimate",
    "estimate_area",
    "load_tech",
    "tech_names",
]
