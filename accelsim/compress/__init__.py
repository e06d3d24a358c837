"""Compression on real weight arrays: transforms, compressed formats, recipes."""

from accelsim.compress.compressed import CompressedGraph, CompressedLayer

__all__ = ["CompressedGraph", "CompressedLayer"]
