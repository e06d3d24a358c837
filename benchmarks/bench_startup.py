"""Start-up time: ``import accelsim``, the light CLI commands and one small simulation, each in a fresh process.

Timed (wall seconds, best of ``--repeat`` runs, warm disk cache; each run is a new Python process so
nothing is already imported):

* ``import accelsim`` measured inside the child with ``time.perf_counter`` around the import.
  Goal: < 0.3 s.
* ``accelsim --version``, ``accelsim --help`` and ``accelsim list archs``: the whole process, start to
  exit, measured by this script around ``subprocess.run``. Goal: < 0.5 s each.
* a small simulation: ``accelsim.simulate("edge-32x32", "lenet-300-100")`` (import included, Numba's
  on-disk cache warmed by one untimed run first), whole process. Reported, no goal.

The machine's 1-minute load average is printed before and after: on a shared machine a high load
makes every figure larger. Run: ``.venv/bin/python benchmarks/bench_startup.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

IMPORT_GOAL_S = 0.3
CLI_GOAL_S = 0.5

IMPORT_CHILD = "import time; t = time.perf_counter(); import accelsim; print(time.perf_counter() - t)"
SIMULATE_CHILD = (
    "import accelsim; r = accelsim.simulate('edge-32x32', 'lenet-300-100'); "
    "assert r.layers, 'no layer simulated'"
)


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
    args = ap.parse_args()
    cli = cli_command()
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}  [{os.cpu_count()} CPUs]")
    run_wall_s([sys.executable, "-c", SIMULATE_CHILD])  # warm the disk cache and Numba's on-disk cache
    rows = [
        ("import accelsim", best_of(import_s, args.repeat), IMPORT_GOAL_S),
        ("accelsim --version", best_of(lambda: run_wall_s(cli + ["--version"]), args.repeat), CLI_GOAL_S),
        ("accelsim --help", best_of(lambda: run_wall_s(cli + ["--help"]), args.repeat), CLI_GOAL_S),
        ("accelsim list archs", best_of(lambda: run_wall_s(cli + ["list", "archs"]), args.repeat), CLI_GOAL_S),
        ("simulate lenet-300-100 on edge-32x32 (process)",
         best_of(lambda: run_wall_s([sys.executable, "-c", SIMULATE_CHILD]), args.repeat), None),
    ]
    for name, value, goal in rows:
        print(f"{name:<48} {value:7.3f} s   {verdict(value, goal)}")
    print(f"load average (1 min) after:  {os.getloadavg()[0]:.2f}")
    return 0 if all(goal is None or value < goal for _, value, goal in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
