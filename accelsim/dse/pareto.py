"""Pareto fronts, top-k and sensitivity of sweep tables: :mod:`accelsim.report.pareto`, re-exported.

The computation lives in the report layer (its figures need it, and report is below dse); this
module keeps the names that ``accelsim.dse`` and its users import.
"""

from accelsim.report.pareto import (AUTO, DEFAULT_GROUP_BY, DIRECTIONS, group_columns, group_label, groups, pareto_front,
                                    pareto_mask, sensitivity, top_k, varying_axes)

__all__ = ["AUTO", "DEFAULT_GROUP_BY", "DIRECTIONS", "group_columns", "group_label", "groups", "pareto_front",
           "pareto_mask", "sensitivity", "top_k", "varying_axes"]
