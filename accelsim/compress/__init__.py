"""Compression on real weight arrays: transforms, compressed formats, recipes."""

from accelsim.compress.compressed import CompressedGraph, CompressedLayer
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
    "CSC", "CSR", "NM", "Bitmask", "Codebook", "CompressedGraph", "CompressedLayer", "CompressedTensor", "Dense",
    "HuffmanCoded", "InterleavedCSC", "LowBit", "LowRank", "StorageBits",
]
