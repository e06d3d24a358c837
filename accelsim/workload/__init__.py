"""Workloads: layer IR, LayerGraph, zoo and importers."""

from accelsim.workload.graph import LayerGraph, sequential
from accelsim.workload.layers import GemmShape, Layer
from accelsim.workload.zoo import load_workload, zoo_names

__all__ = ["GemmShape", "Layer", "LayerGraph", "load_workload", "sequential", "zoo_names"]
