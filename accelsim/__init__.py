"""accelsim: what a compressed neural network really costs on real hardware.

Data flow: ``load_workload`` -> LayerGraph -> ``compress`` (recipe) -> CompressedGraph ->
hardware model (``load_arch``) -> ``simulate`` -> NetworkResult -> ``sweep`` over design spaces.
"""

from accelsim._version import __version__
from accelsim.errors import (
    AccelsimError,
    CompressionError,
    ConfigError,
    SimulationError,
    UnknownNameError,
    UnsupportedLayerError,
    WorkloadError,
)
from accelsim.hw.registry import load_arch
from accelsim.simulate import simulate
from accelsim.workload.graph import LayerGraph
from accelsim.workload.zoo import load_workload

# implemented in subpackages that import heavier dependencies; resolved on first use.
# (``accelsim.compress(graph, recipe)`` is the callable ``accelsim.compress`` package itself.)
_LAZY = {
    "load_recipe": ("accelsim.compress.recipe", "load_recipe"),
    "sweep": ("accelsim.dse.sweep", "sweep"),
    "pareto_front": ("accelsim.dse.pareto", "pareto_front"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'accelsim' has no attribute {name!r}")


__all__ = [
    "AccelsimError", "CompressionError", "ConfigError", "LayerGraph", "SimulationError", "UnknownNameError",
    "UnsupportedLayerError", "WorkloadError", "__version__", "compress", "load_arch", "load_recipe",
    "load_workload", "pareto_front", "simulate", "sweep",
]
