"""Sweep throughput: layer evaluations per second (systolic model) and 2-worker Dask speedup.

Usage::

    .venv/bin/python benchmarks/bench_sweep.py [--arch NAME] [--workload NAME] [--quick]

1. *Layer evaluations per second*: a serial sweep (one core) over systolic array shapes and
   dataflows on one workload, without a store; a layer evaluation is one
   ``model.simulate(layer)`` call reported in a row (``num_layers`` per point). Timed cold (all
   memos cleared: every distinct layer geometry goes through the SCALE-Sim-exact kernels) and warm
   (the systolic model's per-geometry memo filled, so the time is the sweep machinery plus the
   model's per-call bookkeeping). In the same run a bare loop over ``model.simulate`` (warm; the
   model alone, no sweep machinery) is the reference, and the ratio shows the sweep's overhead.
   Goal: >= 50,000 / s.
2. *Cluster speedup*: the same sweep (larger) serially and on a
   ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` after warming the workers
   (imports, Numba JIT), and the ratio serial / cluster time. Goal: >= 1.7x. Both runs must give
   the same table, which is checked.

Timings depend on the machine and on what else runs on it; the script prints the core count.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _space(arch: str, workload: str, sizes, dataflows):
    from accelsim.dse import Grid, Space

    return Space(base={"arch": arch, "workload": workload},
                 axes=[Grid({"arch.array.rows": sizes, "arch.array.cols": sizes, "arch.array.dataflow": dataflows})])


def _clear_model_caches() -> None:
    """Forget everything memoized, in the sweep (configs, models, graphs) and in the systolic model
    (its per-geometry SCALE-Sim results), so a timed run computes every layer afresh."""
    from accelsim.dse.evaluate import clear_caches

    clear_caches()
    try:
        from accelsim.hw.systolic import model as sm

        sm.scalesim_unit.cache_clear()
    except (ImportError, AttributeError):
        pass


def evals_per_second(arch: str, workload: str, quick: bool) -> None:
    import accelsim
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.dse.evaluate import config_for
    from accelsim.hw.registry import build_model
    from accelsim.workload.zoo import load_workload

    sizes = [8, 16, 32, 64, 128, 256] if not quick else [16, 64]
    space = _space(arch, workload, sizes, ["os", "ws", "is"])
    accelsim.sweep(_space(arch, workload, [16], ["os", "ws", "is"]), progress=False)  # imports, JIT
    _clear_model_caches()
    t0 = time.perf_counter()
    df = accelsim.sweep(space, progress=False)
    t_cold = time.perf_counter() - t0
    assert (df["status"] == "ok").all(), df[df["status"] != "ok"]["error"].iloc[0]
    evals = int(df["num_layers"].sum())
    t0 = time.perf_counter()
    accelsim.sweep(space, progress=False)  # the model's per-geometry memo is warm now
    t_warm = time.perf_counter() - t0

    cgraph = CompressedGraph.dense(load_workload(workload))
    layers = list(cgraph)
    models = [build_model(config_for(arch, {"array.rows": r, "array.cols": c, "array.dataflow": d}))
              for r in sizes for c in sizes for d in ("os", "ws", "is")]
    t0 = time.perf_counter()
    n = 0
    for m in models:
        for cl in layers:
            m.simulate(cl, 1)
            n += 1
    t_bare = time.perf_counter() - t0
    print(f"[evals/s] {workload} on {arch}: {len(df)} points x {evals // len(df)} layers = {evals} layer evaluations")
    print(f"  sweep, cold (every geometry simulated afresh): {t_cold:8.3f} s -> {evals / t_cold:10,.0f} evals/s (goal 50,000)")
    print(f"  sweep, warm (model's geometry memo filled):    {t_warm:8.3f} s -> {evals / t_warm:10,.0f} evals/s")
    print(f"  bare model.simulate loop, warm (reference):    {t_bare:8.3f} s -> {n / t_bare:10,.0f} evals/s")
    print(f"  sweep machinery cost: warm sweep / bare loop time = {t_warm / t_bare:.2f}")


def cluster_speedup(arch: str, workload: str, quick: bool) -> None:
    import pandas as pd
    from distributed import Client, LocalCluster

    import accelsim

    # cold: every worker simulates its geometries afresh, as the serial run does
    sizes = [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256] if not quick else [8, 16, 32, 64]
    space = _space(arch, workload, sizes, ["os", "ws", "is"])
    accelsim.sweep(_space(arch, workload, [16], ["os"]), progress=False)
    _clear_model_caches()
    t0, c0 = time.perf_counter(), time.process_time()
    serial = accelsim.sweep(space, progress=False)
    t_serial, cpu_serial = time.perf_counter() - t0, time.process_time() - c0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        # warm the workers (imports, Numba JIT) on points not in the timed space, then forget the memos
        accelsim.sweep(_space(arch, workload, [20, 28], ["os", "ws", "is"]), executor=client, progress=False)
        client.run(_clear_model_caches)
        cpu0 = client.run(time.process_time)
        t0 = time.perf_counter()
        par = accelsim.sweep(space, executor=client, progress=False)
        t_par = time.perf_counter() - t0
        cpu1 = client.run(time.process_time)
    worker_cpu = sum(cpu1[w] - cpu0[w] for w in cpu1)
    pd.testing.assert_frame_equal(serial, par)
    print(f"[cluster] {len(serial)} points of {workload} on {arch} (identical tables: yes)")
    print(f"  serial:                       {t_serial:8.3f} s")
    print(f"  LocalCluster 2 workers x 1 thread: {t_par:8.3f} s")
    print(f"  speedup: {t_serial / t_par:.2f}x (goal 1.7x)")
    print(f"  CPU seconds: serial {cpu_serial:.1f}, both workers {worker_cpu:.1f}; the workers got "
          f"{worker_cpu / t_par:.2f} cores on average (2.00 = the machine was theirs)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="scalesim-32x32-os", help="a bundled systolic config (CALC bandwidth mode: no stall simulation)")
    ap.add_argument("--workload", default="resnet50")
    ap.add_argument("--quick", action="store_true", help="small spaces (a smoke run)")
    ap.add_argument("--skip-cluster", action="store_true")
    args = ap.parse_args(argv)
    print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.2f}  python {sys.version.split()[0]}")
    evals_per_second(args.arch, args.workload, args.quick)
    if not args.skip_cluster:
        cluster_speedup(args.arch, args.workload, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
