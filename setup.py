"""Install hook: compile the USER-mode systolic kernels ahead of time (accelsim/hw/systolic/_aot.py).

Everything else about the package is in pyproject.toml. After the usual build step, the kernels of
``accelsim.hw.systolic._aot.EXPORTS`` are compiled with ``numba.pycc`` next to their source (``pip install -e``)
or into the build tree (``pip install``), so a first USER-bandwidth run loads them instead of compiling them
(seconds). ``ACCELSIM_AOT=0`` skips it; a failed compile leaves a working install that compiles on first use.
"""

import importlib.util
import os
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithKernels(build_py):
    def run(self):
        super().run()
        if os.environ.get("ACCELSIM_AOT", "1").strip() == "0":
            return
        base = ROOT if getattr(self, "editable_mode", False) else os.path.abspath(self.build_lib)
        target = os.path.join(base, "accelsim", "hw", "systolic")
        source = os.path.join(ROOT, "accelsim", "hw", "systolic")
        try:  # the two files by path: the package's other dependencies need not be in the build environment
            aot = _load("_accelsim_build_aot", os.path.join(source, "_aot.py"))
            kernels = _load("_accelsim_build_kernels", os.path.join(source, "_kernels.py"))
            print(f"accelsim: compiling the USER-mode kernels ahead of time into {target} (about half a minute)")
            aot.build(target, kernels)
        except Exception as exc:  # the install still works: the kernels then compile on first use
            print(f"accelsim: warning: ahead-of-time kernels not built ({type(exc).__name__}: {exc}); "
                  "they will compile on first use", file=sys.stderr)


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class PlatformDistribution(Distribution):
    """A wheel holding the compiled kernels is for this platform, not any."""

    def has_ext_modules(self):
        return os.environ.get("ACCELSIM_AOT", "1").strip() != "0"


setup(cmdclass={"build_py": BuildPyWithKernels}, distclass=PlatformDistribution)
