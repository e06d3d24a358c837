"""Design-space exploration: spaces of design points, resumable sweeps on any executor, analysis.

``accelsim.sweep`` (:func:`accelsim.dse.sweep.sweep`) evaluates a :class:`~accelsim.dse.space.Space`
(base setting x Grid / Zip / Random / Points axes of dotted overrides) and returns a DataFrame;
:mod:`accelsim.dse.store` keeps results crash-safe on disk; :mod:`accelsim.dse.pareto` finds Pareto
fronts, top-k rows and which axis moves each objective most. See ``docs/tutorial.md``.
"""

from accelsim.dse.pareto import pareto_front, sensitivity, top_k
from accelsim.dse.space import Grid, Points, Random, Space, Union, Zip, point_id, space_from_spec
from accelsim.dse.store import CsvStore, load_layers, load_results
from accelsim.dse.sweep import sweep

__all__ = [
    "CsvStore", "Grid", "Points", "Random", "Space", "Union", "Zip", "load_layers", "load_results", "pareto_front",
    "point_id", "sensitivity", "space_from_spec", "sweep", "top_k",
]
