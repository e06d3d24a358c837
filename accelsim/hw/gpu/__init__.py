"""GPU SIMD model: SMs, warps and tensor cores for dense, sparse (CSR, 2:4) and low-bit layers.

Registers the ``gpu`` hardware family. Equations: ``docs/models/gpu.md``.
"""

from accelsim.hw.gpu.config import GpuConfig, GpuEfficiency, GpuEnergy
from accelsim.hw.gpu.model import GpuModel
from accelsim.hw.registry import register_family

register_family("gpu", GpuConfig, GpuModel, validation="accelsim.hw.gpu.validation")

__all__ = ["GpuConfig", "GpuEfficiency", "GpuEnergy", "GpuModel"]
