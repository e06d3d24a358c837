"""Hardware models: systolic arrays, EIE-style sparse engines, GPU SIMD units."""

from accelsim.hw.registry import arch_names, build_model, load_arch, register_family

__all__ = ["arch_names", "build_model", "load_arch", "register_family"]
