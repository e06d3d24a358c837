"""Compression on real weight arrays: transforms, compressed formats, recipes."""

from accelsim.compress.compressed import CompressedGraph, CompressedLayer
from accelsim.compress.formats import ActivationFormat, GroupQuant, KVFormat, QuantOp, QuantSpec
from accelsim.compress.tensors import (
    CSC,
    CSR,
    NM,
    Bitmask,
    Codebook,
    CompressedTensor,
    Dense,
    HuffmanCoded,
    InterleavedCSC,
    LowBit,
    LowRank,
    StorageBits,
)

__all__ = [
    "CSC", "CSR", "NM", "ActivationFormat", "Bitmask", "Codebook", "CompressedGraph", "CompressedLayer",
    "CompressedTensor", "Dense", "GroupQuant", "HuffmanCoded", "InterleavedCSC", "KVFormat", "LowBit", "LowRank",
    "QuantOp", "QuantSpec", "StorageBits",
]


# ``accelsim.compress`` is both this package and the documented function
# ``accelsim.compress(graph, recipe, seed=0)``: once the package is imported (``accelsim.compress`` imports
# it on first use), the attribute is the module, so the module itself is made callable.
import sys as _sys
import types as _types


from accelsim.errors import api_arguments as _api_arguments  # noqa: E402


class _CallableModule(_types.ModuleType):
    @_api_arguments
    def __call__(self, graph, recipe, seed: int = 0, statistics: bool | None = None):
        """``accelsim.compress(graph, recipe, seed=0, statistics=None)`` -> CompressedGraph (see
        accelsim.compress.recipe.compress; ``statistics``: the shapes-only path of accelsim.compress.statistics)."""
        from accelsim.compress.recipe import compress

        return compress(graph, recipe, seed=seed, statistics=statistics)


_CallableModule.__call__.__qualname__ = "compress"  # a wrong keyword reads "compress() got an unexpected ..."
_sys.modules[__name__].__class__ = _CallableModule
