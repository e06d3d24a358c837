"""The hardware-model contract.

A model is a plain class built from its validated, frozen config; it keeps no state between calls
(sweeps run models in parallel). ``simulate(layer, batch)`` takes one
:class:`~accelsim.compress.compressed.CompressedLayer` (the layer, its compressed weight tensors
and activation statistics) and returns a :class:`~accelsim.report.results.LayerResult` carrying
cycles, traffic, energy and the :class:`~accelsim.energy.actions.ActionCounts` it priced.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from accelsim.report.results import LayerResult


@runtime_checkable
class HardwareModel(Protocol):
    config: object

    def simulate(self, layer, batch: int = 1) -> LayerResult:  # layer: CompressedLayer
        ...


__all__ = ["HardwareModel", "LayerResult"]
