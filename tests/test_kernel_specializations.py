"""A cold run compiles each systolic kernel once per argument types, not once more for a literal constant.

Numba types a call argument that is a constant in the calling kernel (``n = 0`` before a loop that
reassigns it) as ``Literal[int](0)`` while it infers the caller, and compiles the callee for that type as
well as for ``int64``: each such call site doubled a helper's share of the cold compile (``_ws_folds``: five
helpers, about 1.1 s of a ws ResNet-50 run's 20 s). In a fresh cache, one process per dataflow runs the
networks that reach every CALC ifmap pass (and, alone, USER-bandwidth runs), then lists the kernels compiled for two argument lists that differ
only in literal against plain integers. (Different dataflows may specialise on their own constants, so each
dataflow runs alone.) Slow: each process compiles its kernels from scratch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = r"""
import contextlib, gc, io, json, re, sys
from accelsim.cli import main
from numba.core.registry import CPUDispatcher
for args in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main(["simulate"] + args)
        except SystemExit as exc:
            if exc.code:
                raise
twice = []
for obj in gc.get_objects():
    if isinstance(obj, CPUDispatcher) and obj.py_func.__module__.startswith("accelsim"):
        plain = [re.sub(r"Literal\[int\]\(-?\d+\)", "int64", str(sig)) for sig in obj.signatures]
        if len(set(plain)) < len(plain):
            twice.append(obj.py_func.__module__ + "." + obj.py_func.__name__)
print(json.dumps(sorted(twice)))
"""

_RUNS = {
    "os": [["--arch", "scalesim-32x32-os", "--workload", "resnet50"],
           ["--arch", "scalesim-32x32-os", "--set", "sram.ifmap_kb=4", "--workload", "resnet18"]],
    "ws": [["--arch", "scalesim-32x32-os", "--set", "array.dataflow=ws", "--workload", "resnet50"]],
    "is": [["--arch", "scalesim-32x32-os", "--set", "array.dataflow=is", "--workload", "resnet50"]],
    "user": [["--arch", "edge-32x32", "--workload", "lenet-300-100"], ["--arch", "edge-32x32", "--workload", "resnet18"]],
}


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", sorted(_RUNS))
def test_no_kernel_compiled_again_for_a_literal(tmp_path, dataflow):
    # (the JIT kernels: ACCELSIM_AOT=0 leaves out the ones compiled at install, accelsim/hw/systolic/_aot.py)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), PYTHONPATH=str(ROOT), ACCELSIM_AOT="0")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(_RUNS[dataflow])], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    twice = json.loads(proc.stdout.strip().splitlines()[-1])
    assert twice == [], f"compiled again for a literal argument ({dataflow}): {twice}"
