"""TPU-style NPU: systolic matrix units (the systolic family's model), a SIMD vector unit, a
scratchpad and DMA to HBM / LPDDR. Registers the ``npu`` hardware family.
Equations: ``docs/models/npu.md``.
"""

from accelsim.hw.npu.config import NpuConfig
from accelsim.hw.npu.model import NpuModel
from accelsim.hw.registry import register_family

register_family("npu", NpuConfig, NpuModel, validation="accelsim.hw.npu.validation")

__all__ = ["NpuConfig", "NpuModel"]
