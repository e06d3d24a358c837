"""The USER-bandwidth kernels compiled ahead of time, at install (docs/models/systolic.md §3.2, "Compiled ahead of time").

A first USER-mode run used to spend 11-13 s of CPU compiling :func:`~accelsim.hw.systolic._kernels.walk_layer` and
the kernels :func:`~accelsim.hw.systolic._kernels.user_unit` calls (the README's first command: 15 s, of which
the walk 11). ``setup.py`` builds them with ``numba.pycc`` into the extension module :data:`MODULE` next to this
file (``pip install`` and ``pip install -e`` alike) for the argument types ``user_unit`` passes
(:data:`EXPORTS`); a run then loads that module (about 0.1 s) instead of compiling. The same Python source is
compiled by the same Numba, so the results are the JIT's to the bit (``tests/test_systolic_aot.py``).

The module is used only while it matches the source: it holds the SHA-1 of ``_kernels.py`` it was built from
(:func:`source_hash`), and a kernel edit after the install (or a failed build, or ``ACCELSIM_AOT=0``) falls back to
the JIT kernels, which compile on first use and are cached as before. :func:`status` says which is in use.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path

#: the extension module's name (in this package)
MODULE = "_user_aot"
#: the kernel source files the module is built from (their SHA-1 decides whether it is current)
SOURCES = ("_kernels.py",)

_A64 = "int64[::1]"
_A32 = "int32[::1]"
_WALK_ARGS = ["int64"] * 8 + [_A64] * 8 + [_A32] * 3 + ["boolean", "boolean", "int64[:, ::1]", "none"]

#: (exported name, kernel in ``_kernels``, signature): what ``user_unit`` calls, with the types it passes
EXPORTS = (
    ("conv_geometry", "conv_geometry", f"UniTuple({_A64}, 6)(" + ", ".join(["int64"] * 12) + ")"),
    ("edge_stretches", "edge_stretches", f"{_A32}(" + ", ".join(["int64"] * 6 + [_A64] * 4 + ["int64"] * 2) + ")"),
    ("fill_sets", "fill_sets", "none(" + ", ".join([_A32, _A32] + ["int64"] * 6 + [_A64] * 6 + ["int64"] * 4) + ")"),
    # the walk without and with periodic folds (pstat None or an int64 vector)
    ("walk_layer", "walk_layer", f"{_A64}(" + ", ".join(_WALK_ARGS + ["none", _A64]) + ")"),
    ("walk_layer_periodic", "walk_layer", f"{_A64}(" + ", ".join(_WALK_ARGS + [_A64, _A64]) + ")"),
)


def source_hash() -> int:
    """The SHA-1 of :data:`SOURCES`, as a non-negative int64 (the module's build stamp)."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha1()
    for name in SOURCES:
        digest.update((here / name).read_bytes())
    return int(digest.hexdigest()[:15], 16)


def build(out_dir: str, kernels) -> str:
    """Compile :data:`EXPORTS` of ``kernels`` (the ``_kernels`` module) and the build stamp into ``out_dir``; returns
    the file name written. About half a minute of CPU, once per install. ``setup.py`` loads this file and
    ``_kernels.py`` by path: they need only NumPy and Numba, not the package's other dependencies."""
    import warnings

    from numba.core.errors import NumbaPendingDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        from numba.pycc import CC

    cc = CC(MODULE)
    cc.output_dir = out_dir
    cc.verbose = False
    for name, kernel, signature in EXPORTS:
        cc.export(name, signature)(getattr(kernels, kernel).py_func)
    stamp = source_hash()
    cc.export("source_hash", "int64()")(lambda: stamp)
    cc.compile()
    return cc.output_file


class Kernels:
    """The kernels ``user_unit`` calls, from the ahead-of-time module (``source`` "aot") or the JIT ("jit")."""

    __slots__ = ("conv_geometry", "edge_stretches", "fill_sets", "walk_layer", "walk_layer_periodic", "source")

    def __init__(self, source, conv_geometry, edge_stretches, fill_sets, walk_layer, walk_layer_periodic):
        self.source = source
        self.conv_geometry = conv_geometry
        self.edge_stretches = edge_stretches
        self.fill_sets = fill_sets
        self.walk_layer = walk_layer
        self.walk_layer_periodic = walk_layer_periodic


_CHOSEN: list = []


def _module():
    """``(the ahead-of-time module or None, why)``: None when turned off, missing, unreadable or older than the
    source (see the module doc)."""
    if os.environ.get("ACCELSIM_AOT", "1").strip() == "0":
        return None, "jit (ACCELSIM_AOT=0)"
    try:
        mod = importlib.import_module(f"{__package__}.{MODULE}")
    except Exception as exc:  # not built (a failed or skipped build), or built for another Python / NumPy
        return None, f"jit (no ahead-of-time module: {type(exc).__name__})"
    try:
        current = mod.source_hash() == source_hash()
    except Exception as exc:
        return None, f"jit (ahead-of-time module unreadable: {type(exc).__name__})"
    if not current:
        return None, "jit (the ahead-of-time module predates an edit of _kernels.py)"
    return mod, f"ahead-of-time ({Path(mod.__file__).name})"


def user_kernels(jit: Kernels) -> Kernels:
    """The kernels ``user_unit`` calls: the ahead-of-time module's when it is current, else ``jit`` (``_kernels``
    passes its own; chosen once per process)."""
    if not _CHOSEN:
        mod, why = _module()
        kernels = jit if mod is None else Kernels("aot", mod.conv_geometry, mod.edge_stretches, mod.fill_sets,
                                                  mod.walk_layer, mod.walk_layer_periodic)
        _CHOSEN.append((kernels, why))
    return _CHOSEN[0][0]


def status() -> str:
    """Which USER-mode kernels this process uses (or would use), and why: ``ahead-of-time (<file>)`` or ``jit
    (<reason>)``."""
    return _CHOSEN[0][1] if _CHOSEN else _module()[1]


def reset() -> None:
    """Choose again on the next call (tests)."""
    _CHOSEN.clear()
