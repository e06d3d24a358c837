"""Hardware models: one family per subpackage (systolic arrays, EIE-style sparse engines, GPUs, ...),
all built on the contract of :mod:`accelsim.hw.base` and discovered by :mod:`accelsim.hw.registry`."""

from accelsim.hw.registry import arch_names, build_model, family_names, load_arch, register_family

__all__ = ["arch_names", "build_model", "family_names", "load_arch", "register_family"]
