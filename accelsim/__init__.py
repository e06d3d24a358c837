"""accelsim: what a compressed neural network really costs on real hardware.

Data flow: ``load_workload`` -> LayerGraph -> ``compress`` (recipe) -> CompressedGraph ->
hardware model (``load_arch``) -> ``simulate`` -> NetworkResult -> ``sweep`` over design spaces.
"""

import sys as _sys
import types as _types
from typing import TYPE_CHECKING

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
from accelsim.runtime import ensure_numba_cache as _ensure_numba_cache

_ensure_numba_cache()  # a writable Numba cache, set before any accelsim module imports Numba

if TYPE_CHECKING:  # the names resolved lazily below, spelled out for type checkers and import-graph tools
    from accelsim import compress
    from accelsim.compress.recipe import load_recipe
    from accelsim.dse.pareto import pareto_front
    from accelsim.dse.sweep import sweep
    from accelsim.hw.registry import load_arch
    from accelsim.simulate import simulate
    from accelsim.workload.graph import LayerGraph
    from accelsim.workload.zoo import load_workload

# Everything below is implemented in subpackages that import heavy dependencies (numpy, Numba kernels,
# networkx, scipy); each name is resolved on first use so that ``import accelsim`` (and ``accelsim
# --version``) stays cheap. ``from accelsim import simulate`` works as before. ``accelsim.compress`` is the
# subpackage itself, which is also callable: ``accelsim.compress(graph, recipe, seed=0)``.
_LAZY = {
    "simulate": ("accelsim.simulate", "simulate"),
    "load_arch": ("accelsim.hw.registry", "load_arch"),
    "load_workload": ("accelsim.workload.zoo", "load_workload"),
    "LayerGraph": ("accelsim.workload.graph", "LayerGraph"),
    "load_recipe": ("accelsim.compress.recipe", "load_recipe"),
    "sweep": ("accelsim.dse.sweep", "sweep"),
    "pareto_front": ("accelsim.dse.pareto", "pareto_front"),
    "compress": ("accelsim.compress", None),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = importlib.import_module(module)
        if attr is not None:
            value = getattr(value, attr)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'accelsim' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(_types.ModuleType):
    """``accelsim`` itself: ``accelsim.simulate`` stays the function, never the submodule of that name.

    Importing the submodule ``accelsim.simulate`` (the CLI and ``accelsim.dse`` do) makes the import
    system bind it on this package; the public name is the function, so the function is bound instead.
    """

    def __setattr__(self, name, value):
        if name == "simulate" and isinstance(value, _types.ModuleType):
            value = value.simulate
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


__all__ = [
    "AccelsimError", "CompressionError", "ConfigError", "LayerGraph", "SimulationError", "UnknownNameError",
    "UnsupportedLayerError", "WorkloadError", "__version__", "compress", "load_arch", "load_recipe",
    "load_workload", "pareto_front", "simulate", "sweep",
]
