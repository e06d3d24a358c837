"""Systolic kernels compiled ahead of time, at install (docs/architecture.md, "Compiled ahead of time").

A first run used to spend most of its time compiling: 11-13 s of CPU for USER mode's walk
(:func:`~accelsim.hw.systolic._kernels.walk_layer`) and the kernels around it (the README's first command: 15 s of
18), 10-20 s for a CALC ResNet-50 (the OFMAP events 3.3 s, the ifmap passes of overlapping windows 5-14 s).
``setup.py`` builds them with ``numba.pycc`` into two extension modules next to this file (``pip install`` and
``pip install -e`` alike), for the argument types their callers pass (:data:`GROUPS`):

* ``user``: what :func:`~accelsim.hw.systolic._kernels.user_unit` calls;
* ``calc``: a CALC unit whose ifmap needs no pass in one call (``calc_unit_distinct``, ``calc_unit_fit``), and
  for the others the OFMAP events, the ifmap passes of overlapping windows that
  :func:`accelsim.hw.systolic.calc._reuse_pass` picks (the reuse-distance scan, the ws row folds, the channel
  groups of os, ws and is arrays) and ``calc_finish``. ``numba.pycc``'s wrappers cost more a call than Numba's
  dispatcher (about 0.5 us an argument list, 0.4 us more a returned array), which a small layer's 22-27 us
  feels: so the exports are whole units or whole passes, and the OFMAP events return one vector, not three.

Each module is built for the installing machine's CPU (``numba.pycc``'s default, generic x86-64, ran the os
channel groups 42% slower than the JIT) and used only on a CPU that LLVM names and equips alike
(:func:`cpu_hash`); the os channel groups are one compiled kernel (:func:`~accelsim.hw.systolic._group_reuse.
os_groups_pass`: the seven group arrays boxed between two compiled calls cost a small layer about 40 us), where
the JIT keeps the two kernels (one cost a first run 0.4 s more). Compiled so, a small layer runs as fast as
under the JIT (4 kB ifmap SRAM, 35x35x19 3x3: 0.134 against 0.141 ms).

A run loads a module (about 0.1 s) instead of compiling. The same Python source is compiled by the same Numba, so
the results are the JIT's to the bit (``tests/test_systolic_aot.py``). A module is used only while it matches the
source and the machine: it holds the SHA-1 of the files it was built from (:func:`source_hash`) and the CPU's, and
after an edit (or on another CPU, a failed build, or ``ACCELSIM_AOT=0``) its callers take the JIT kernels, compiled
on first use and cached as before.
:func:`status` says which is in use. This module imports nothing of the package (its callers pass their JIT
kernels), so ``setup.py`` can load it without the package's dependencies.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from types import SimpleNamespace

_A64 = "int64[::1]"
_A32 = "int32[::1]"
_INTS = "int64"


def _sig(result: str, *args: str) -> str:
    return f"{result}(" + ", ".join(args) + ")"


_WALK = [_INTS] * 8 + [_A64] * 8 + [_A32] * 3 + ["boolean", "boolean", "int64[:, ::1]", "none"]
_GROUPS = f"Tuple(({_A64}, {_A64}, {_A64}, {_A64}, {_A32}, {_A32}, {_A32}"
_THREE = f"UniTuple({_A64}, 3)"

#: per group: (module name, source files its SHA-1 covers, exports); an export is (name, (source module, kernel),
#: signature)
GROUPS = {
    "user": ("_user_aot", ("_kernels.py",), (
        # a small unit in one call (the tables, the sets, the walk with and without periodic folds); a larger one
        # composes the calls below (the walk exported on its own: user_unit)
        ("user_unit_kernel", ("_kernels", "user_unit_kernel"), _sig(_A64, *[_INTS] * 16, _A64, _A64, "int64[:, ::1]")),
        ("conv_geometry", ("_kernels", "conv_geometry"), _sig(f"UniTuple({_A64}, 6)", *[_INTS] * 12)),
        ("edge_stretches", ("_kernels", "edge_stretches"), _sig(_A32, *[_INTS] * 6, *[_A64] * 4, _INTS, _INTS)),
        ("ifmap_word_geometry", ("_kernels", "ifmap_word_geometry"), _sig(_A64, *[_INTS] * 12)),
        ("fill_sets", ("_kernels", "fill_sets"), _sig("none", _A32, _A32, *[_INTS] * 6, *[_A64] * 6, *[_INTS] * 4)),
        # the walk without and with periodic folds (pstat None or an int64 vector)
        ("walk_layer", ("_kernels", "walk_layer"), _sig(_A64, *_WALK, "none", _A64)),
        ("walk_layer_periodic", ("_kernels", "walk_layer"), _sig(_A64, *_WALK, _A64, _A64)),
    )),
    "calc": ("_calc_aot", ("_kernels.py", "_ws_folds.py", "_group_reuse.py", "_ifmap_fit.py", "_is_epochs.py"), (
        ("ofmap_events", ("_kernels", "ofmap_events"), _sig(_A64, *[_INTS] * 8)),
        ("calc_finish", ("_kernels", "calc_finish"), _sig(_A64, _A64, _A64, _A64, *[_INTS] * 8)),
        ("calc_unit_distinct", ("_kernels", "calc_unit_distinct"), _sig(_A64, *[_INTS] * 9)),
        ("calc_unit_fit", ("_ifmap_fit", "calc_unit_fit"), _sig(_A64, *[_INTS] * 20)),
        ("conv_geometry", ("_kernels", "conv_geometry"), _sig(f"UniTuple({_A64}, 6)", *[_INTS] * 12)),
        ("reuse_read_pass", ("_kernels", "reuse_read_pass"), _sig(_THREE, *[_INTS] * 8, *[_A64] * 6, _INTS, _INTS)),
        ("is_block_pass", ("_is_epochs", "is_block_pass"), _sig(_THREE, *[_INTS] * 16)),
        # windows inside the input (no valid extents) and past its edge
        ("ws_fold_pass", ("_ws_folds", "ws_fold_pass"), _sig(_THREE, *[_INTS] * 14, _A64, _A64, "none", "none")),
        ("ws_fold_pass_edge", ("_ws_folds", "ws_fold_pass"), _sig(_THREE, *[_INTS] * 14, _A64, _A64, _A64, _A64)),
        ("os_single_sweep", ("_group_reuse", "os_single_sweep"), _sig(f"Tuple(({_INTS}, {_A64}, {_INTS}, {_INTS}))",
                                                                     *[_INTS] * 16)),
        ("os_groups_pass", ("_group_reuse", "os_groups_pass"), _sig(_THREE, *[_INTS] * 16)),
        ("ws_group_pass", ("_group_reuse", "ws_group_pass"), _sig(_THREE, *[_INTS] * 16)),
        ("ws_is_groups", ("_group_reuse", "ws_is_groups"), _sig(_GROUPS + f", {_INTS}))", *[_INTS] * 16)),
        ("sweeps_in_lane", ("_group_reuse", "_sweeps_in_lane"), _sig(f"Tuple(({_INTS}, {_A64}, {_A64}, {_A64}))",
                                                                    *[_A64] * 4, *[_A32] * 3, *[_INTS] * 4)),
    )),
}


def source_hash(group: str) -> int:
    """The SHA-1 of a group's source files, as a non-negative int64 (its module's build stamp)."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha1()
    for name in GROUPS[group][1]:
        digest.update((here / name).read_bytes())
    return int(digest.hexdigest()[:15], 16)


def cpu_hash() -> int:
    """This machine's CPU as LLVM names it and its features, hashed to a non-negative int64: a module is built for
    its build machine's instructions and used only where they match."""
    import llvmlite.binding as llvm

    text = llvm.get_host_cpu_name() + "|" + llvm.get_host_cpu_features().flatten()
    return int(hashlib.sha1(text.encode()).hexdigest()[:15], 16)


def build(out_dir: str, group: str, modules: dict) -> str:
    """Compile a group's exports (kernels of ``modules``: ``{"_kernels": module, ...}``) and its build stamp into
    ``out_dir``; returns the file name written. About 25 s (``user``) and 40 s (``calc``) of CPU, once per install."""
    import warnings

    from numba.core.errors import NumbaPendingDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        from numba.pycc import CC

    name, _, exports = GROUPS[group]
    cc = CC(name)
    cc.output_dir = out_dir
    cc.verbose = False
    cc.target_cpu = "host"  # this machine's instructions (a generic x86-64 build ran the os groups 42% slower)
    for export, (module, kernel), signature in exports:
        cc.export(export, signature)(getattr(modules[module], kernel).py_func)
    stamp = source_hash(group)
    cc.export("source_hash", "int64()")(lambda: stamp)
    cpu = cpu_hash()
    cc.export("cpu_hash", "int64()")(lambda: cpu)
    cc.compile()
    return cc.output_file


def _module(group: str):
    """``(the group's compiled module or None, why)``: None when turned off, missing, unreadable or older than the
    source (see the module doc)."""
    if os.environ.get("ACCELSIM_AOT", "1").strip() == "0":
        return None, "jit (ACCELSIM_AOT=0)"
    try:
        mod = importlib.import_module(f"{__package__}.{GROUPS[group][0]}")
    except Exception as exc:  # not built (a failed or skipped build), or built for another Python / NumPy
        return None, f"jit (no ahead-of-time module: {type(exc).__name__})"
    try:  # (two functions returning constants: no instruction of the build machine's that this one may lack)
        current = mod.source_hash() == source_hash(group)
        same_cpu = mod.cpu_hash() == cpu_hash()
    except Exception as exc:
        return None, f"jit (ahead-of-time module unreadable: {type(exc).__name__})"
    if not current:
        return None, f"jit (the ahead-of-time module predates an edit of {', '.join(GROUPS[group][1])})"
    if not same_cpu:
        return None, "jit (the ahead-of-time module was built for another CPU)"
    return mod, f"ahead-of-time ({Path(mod.__file__).name})"


_CHOSEN: dict = {}


def kernels(group: str, jit: dict) -> SimpleNamespace:
    """The kernels of ``group`` by export name: the compiled module's when it is current, else ``jit`` (the
    callers' own kernels under the export names); ``source`` says which ("aot" or "jit"). Chosen once per process."""
    if group not in _CHOSEN:
        mod, why = _module(group)
        if mod is None:
            chosen = SimpleNamespace(source="jit", **jit)
        else:
            chosen = SimpleNamespace(source="aot", **{name: getattr(mod, name) for name, _, _ in GROUPS[group][2]})
        _CHOSEN[group] = (chosen, why)
    return _CHOSEN[group][0]


def status(group: str = "user") -> str:
    """Which kernels of ``group`` this process uses (or would use), and why: ``ahead-of-time (<file>)`` or ``jit
    (<reason>)``."""
    return _CHOSEN[group][1] if group in _CHOSEN else _module(group)[1]


def reset() -> None:
    """Choose again on the next call (tests)."""
    _CHOSEN.clear()
