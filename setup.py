"""Install hook: compile the systolic kernels ahead of time (accelsim/hw/systolic/_aot.py).

Everything else about the package is in pyproject.toml. After the usual build step, each group of
``accelsim.hw.systolic._aot.GROUPS`` is compiled with ``numba.pycc`` next to its source (``pip install -e``) or
into the build tree (``pip install``), so a first run loads those kernels instead of compiling them.
``ACCELSIM_AOT=0`` skips it; a failed compile leaves a working install whose kernels compile on first use.
"""

import importlib
import os
import sys
import types

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))


def _aot_on():
    return os.environ.get("ACCELSIM_AOT", "1").strip() != "0"


def _kernel_modules():
    """``_aot`` and the kernel modules, imported from the source tree under empty parent packages: they need
    only NumPy and Numba, not the package's other dependencies (absent from the build environment)."""
    path = ROOT
    for name in ("accelsim", "accelsim.hw", "accelsim.hw.systolic"):
        path = os.path.join(path, name.rsplit(".", 1)[-1])
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [path]
            sys.modules[name] = package
    aot = importlib.import_module("accelsim.hw.systolic._aot")
    names = {module for _, _, exports in aot.GROUPS.values() for _, (module, _), _ in exports}
    return aot, {m: importlib.import_module(f"accelsim.hw.systolic.{m}") for m in names}


class BuildPyWithKernels(build_py):
    def run(self):
        super().run()
        if not _aot_on():
            return
        base = ROOT if getattr(self, "editable_mode", False) else os.path.abspath(self.build_lib)
        target = os.path.join(base, "accelsim", "hw", "systolic")
        try:
            aot, modules = _kernel_modules()
        except Exception as exc:
            print(f"accelsim: warning: kernels not compiled ahead of time ({type(exc).__name__}: {exc}); "
                  "they will compile on first use", file=sys.stderr)
            return
        for group in aot.GROUPS:
            print(f"accelsim: compiling the {group} kernels ahead of time into {target} (under a minute)")
            try:
                aot.build(target, group, modules)
            except Exception as exc:  # the install still works: these kernels then compile on first use
                print(f"accelsim: warning: {group} kernels not compiled ahead of time ({type(exc).__name__}: {exc});"
                      " they will compile on first use", file=sys.stderr)


class PlatformDistribution(Distribution):
    """A wheel holding the compiled kernels is for this platform, not any."""

    def has_ext_modules(self):
        return _aot_on()


setup(cmdclass={"build_py": BuildPyWithKernels}, distclass=PlatformDistribution)
