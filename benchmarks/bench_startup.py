"""Start-up time: ``import accelsim``, the light CLI commands and one small simulation, each in a fresh process.

Timed (wall seconds, best of ``--repeat`` runs, warm disk cache; each run is a new Python process so
nothing is already imported):

* ``import accelsim`` measured inside the child with ``time.perf_counter`` around the import.
  Goal: < 0.3 s.
* ``accelsim --version``, ``accelsim --help`` and ``accelsim list archs``: the whole process, start to
  exit, measured by this script around ``subprocess.run``. Goal: < 0.5 s each.
* a small simulation: ``accelsim.simulate("edge-32x32", "lenet-300-100")`` (import included, Numba's
  on-disk cache warmed by one untimed run first), whole process, and the same through the command line
  (``accelsim simulate --arch edge-32x32 --workload lenet-300-100``). Goal: < 1 s (issue 20).

Before timing, the package's modules are byte-compiled (``compileall``), as ``pip install`` does: a source
tree run with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise recompile every module in every process (about
0.1-0.2 s of a small simulate), which no installed copy pays.

* with ``--cold``: the first simulation of each family with a cold Numba cache (``NUMBA_CACHE_DIR``
  set to a fresh empty folder, so every kernel compiles), whole process, once per family, beside
  the same process with that cache warm: systolic (``edge-32x32``, lenet-300-100, dense), EIE
  (``eie``, lenet-300-100 under a small prune + 4-bit share + 64-PE interleaved CSC recipe) and
  GPU (``titan-x-maxwell``, lenet-300-100, dense), and CALC-mode systolic (``scalesim-32x32-os``, ResNet-50);
  both systolic cases again with ``ACCELSIM_AOT=0`` (no kernels compiled ahead of time at install,
  ``accelsim/hw/systolic/_aot.py``). Goal: the cold cost halved (issue 20).

The machine's 1-minute load average is printed before and after: on a shared machine a high load
makes every figure larger. Run: ``.venv/bin/python benchmarks/bench_startup.py [--repeat N] [--cold]``.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import shutil
import subprocess
import sys
import time

IMPORT_GOAL_S = 0.3
CLI_GOAL_S = 0.5
SIMULATE_GOAL_S = 1.0  # a whole small simulate with a warm cache (issue 20)

IMPORT_CHILD = "import time; t = time.perf_counter(); import accelsim; print(time.perf_counter() - t)"
SIMULATE_CHILD = (
    "import accelsim; r = accelsim.simulate('edge-32x32', 'lenet-300-100'); "
    "assert r.layers, 'no layer simulated'"
)


EIE_RECIPE = {
    "name": "eie-small", "seed": 1602,
    "pipeline": [{"prune": {"method": "random", "density": 0.1}},
                 {"share": {"bits": 4, "init": "linear", "table_bits": 16}},
                 {"encode": {"format": "interleaved_csc", "n_pe": 64, "index_bits": 4, "pointer_bits": 16}}],
}
COLD_CASES = [  # (family, arch, workload, recipe or None)
    ("systolic", "edge-32x32", "lenet-300-100", None),
    ("systolic CALC", "scalesim-32x32-os", "resnet50", None),
    ("eie", "eie", "lenet-300-100", EIE_RECIPE),
    ("gpu", "titan-x-maxwell", "lenet-300-100", None),
]


def cold_child(arch: str, workload: str, recipe) -> str:
    return (f"import accelsim; from accelsim.compress.recipe import recipe_from_dict; "
            f"r = {recipe!r}; accelsim.simulate({arch!r}, {workload!r}, recipe_from_dict(r) if r else None)")


def cold_rows() -> list[tuple[str, float, float | None]]:
    """(label, seconds, goal) per family: the process with a fresh Numba cache, then the same warm."""
    import tempfile

    rows = []
    for family, arch, workload, recipe in COLD_CASES:
        argv = [sys.executable, "-c", cold_child(arch, workload, recipe)]
        with tempfile.TemporaryDirectory(prefix="accelsim-cold-") as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            t = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            cold = time.perf_counter() - t
            t = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            warm = time.perf_counter() - t
        rows.append((f"{family}: first simulate, cold Numba cache (process)", cold, None))
        rows.append((f"{family}: the same, cache warm (process)", warm, None))
        if family.startswith("systolic"):  # the same cold run without the kernels compiled ahead of time
            with tempfile.TemporaryDirectory(prefix="accelsim-cold-") as cache:
                env = dict(os.environ, NUMBA_CACHE_DIR=cache, ACCELSIM_AOT="0")
                t = time.perf_counter()
                subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
                rows.append((f"{family}: the cold one with ACCELSIM_AOT=0 (JIT only)", time.perf_counter() - t, None))
    return rows


def cli_command() -> list[str]:
    """The installed ``accelsim`` script next to this interpreter, else ``python -m accelsim``."""
    script = os.path.join(os.path.dirname(sys.executable), "accelsim")
    if os.path.exists(script):
        return [script]
    found = shutil.which("accelsim")
    return [found] if found else [sys.executable, "-m", "accelsim"]


def run_wall_s(argv: list[str]) -> float:
    """Wall seconds of one process, start to exit (output discarded; a failure stops the benchmark)."""
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def import_s() -> float:
    """Seconds spent in ``import accelsim`` in a fresh interpreter, as the child itself measures them."""
    out = subprocess.run([sys.executable, "-c", IMPORT_CHILD], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def best_of(fn, repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def verdict(value_s: float, goal_s: float | None) -> str:
    if goal_s is None:
        return ""
    return f"goal < {goal_s:.1f} s: {'ok' if value_s < goal_s else 'MISSED'}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per figure; the best is reported (default 5)")
    ap.add_argument("--cold", action="store_true", help="also time each family's first simulate with a cold Numba cache")
    args = ap.parse_args()
    cli = cli_command()
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}  [{os.cpu_count()} CPUs]")
    package = os.path.dirname(importlib.util.find_spec("accelsim").origin)
    compiled = compileall.compile_dir(package, quiet=1)
    print(f"byte-compiled {package}: {'ok' if compiled else 'FAILED (times include compiling sources)'}")
    run_wall_s([sys.executable, "-c", SIMULATE_CHILD])  # warm the disk cache and Numba's on-disk cache
    rows = [
        ("import accelsim", best_of(import_s, args.repeat), IMPORT_GOAL_S),
        ("accelsim --version", best_of(lambda: run_wall_s(cli + ["--version"]), args.repeat), CLI_GOAL_S),
        ("accelsim --help", best_of(lambda: run_wall_s(cli + ["--help"]), args.repeat), CLI_GOAL_S),
        ("accelsim list archs", best_of(lambda: run_wall_s(cli + ["list", "archs"]), args.repeat), CLI_GOAL_S),
        ("simulate lenet-300-100 on edge-32x32 (process)",
         best_of(lambda: run_wall_s([sys.executable, "-c", SIMULATE_CHILD]), args.repeat), SIMULATE_GOAL_S),
        ("accelsim simulate lenet-300-100 --arch edge-32x32",
         best_of(lambda: run_wall_s(cli + ["simulate", "--arch", "edge-32x32", "--workload", "lenet-300-100"]),
                 args.repeat), SIMULATE_GOAL_S),
    ]
    if args.cold:
        from accelsim.hw.systolic._aot import status

        print(f"systolic kernels: USER {status('user')}; CALC {status('calc')}")
        rows += cold_rows()
    for name, value, goal in rows:
        print(f"{name:<56} {value:7.3f} s   {verdict(value, goal)}")
    print(f"load average (1 min) after:  {os.getloadavg()[0]:.2f}")
    return 0 if all(goal is None or value < goal for _, value, goal in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
