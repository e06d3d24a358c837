"""Benchmark: compression of all of VGG-16 (138M weights): time and peak memory per weight (issue 20).

Cases (``--cases``; default the three below), each on the same synthesized weights (He-normal, seed 0):

1. ``vgg16:deep-compression-vgg16`` - magnitude pruning to the paper's per-layer kept fractions,
   per-layer 1-D k-means over the kept weights (8-bit conv / 5-bit fc codebooks, linear init), CSR
   relative-index encoding with padding zeros and Huffman coding of the codebook indices and the
   relative indices (``accelsim.compress(vgg16, "deep-compression-vgg16")``, which also builds every
   format and the per-layer statistics);
2. ``vgg16:int8`` - symmetric per-channel int8 weights (dense);
3. ``vgg16:w4a16`` - symmetric per-channel int4 weights (dense; VGG-16's conv1_1 has K = 27, so
   the group-wise ``w4a16-g128`` recipe does not apply: give ``bert-base:w4a16-g128`` for it).

Per case, over ``--repeat`` runs (default 3) in one process: the median wall-clock and CPU seconds,
and the median peak memory beyond the weights in bytes per weight: the peak resident memory during
``compress`` (Linux ``VmHWM``, reset just before each call through ``/proc/self/clear_refs``) minus
the resident memory just before it (the interpreter, the kernels and the float32 weights), divided
by the weight count. Also, from one extra run under ``tracemalloc`` (not timed): the peak of the
bytes allocated through Python / NumPy during ``compress`` per weight (deterministic, no allocator
effects), and the bytes per weight the compressed graph still holds afterwards. The reference:
``np.sort`` of the same weights (one flat float32 array).

Goals (issue 20): Deep Compression of VGG-16 under 10 s on one core, and at most 2 bytes per weight
of peak memory beyond the weights for every case. Prints each against its goal and the machine's
load average (``os.getloadavg``) before and after. Run with ``python benchmarks/bench_compress.py``
(one thread per library is set below; ``--repeat N``, ``--cases wl:recipe ...``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import gc  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from accelsim.compress.recipe import compress  # noqa: E402
from accelsim.workload.weights import synthesize_weights  # noqa: E402
from accelsim.workload.zoo import load_workload  # noqa: E402

PEAK_GOAL = 2.0  # bytes per weight beyond the weights (issue 20)
TIME_GOAL = 10.0  # seconds, Deep Compression of VGG-16 on one core (issue 20)
DEFAULT_CASES = ("vgg16:deep-compression-vgg16", "vgg16:int8", "vgg16:w4a16")


def _rss() -> tuple[int, int] | None:
    """(current, peak) resident bytes of this process from ``/proc/self/status``; None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def _trim() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``), so that a case's peak resident size is not
    hidden by memory an earlier case freed but the allocator kept (which read 0.00 B per weight before)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak() -> bool:
    """Reset the peak resident size (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def _verdict(ok: bool) -> str:
    return "meets the goal" if ok else "MISSES the goal"


def run_case(workload: str, recipe: str, repeat: int) -> dict:
    graph = synthesize_weights(load_workload(workload), seed=0)
    n = sum(w.size for w in graph.weights.values())
    walls, cpus, peaks = [], [], []
    cg = None
    for _ in range(repeat):
        cg = None
        gc.collect()
        _trim()
        before = _rss()
        peak_ok = before is not None and _reset_peak()
        w0, c0 = time.perf_counter(), time.process_time()
        cg = compress(graph, recipe, seed=0)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        after = _rss()
        if peak_ok and after is not None:
            peaks.append((after[1] - before[0]) / n)
    ratio = cg.stats["storage_ratio"]
    cg = None
    gc.collect()
    tracemalloc.start()
    cg = compress(graph, recipe, seed=0)
    held, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cg = None
    ref = None
    if recipe.startswith("deep-compression"):
        flat = np.concatenate([w.ravel() for w in graph.weights.values()])
        ref = statistics.median(_timed(lambda: np.sort(flat)) for _ in range(repeat))
        del flat
    return {"workload": workload, "recipe": recipe, "weights": n, "ratio": ratio, "wall": statistics.median(walls),
            "cpu": statistics.median(cpus), "walls": walls, "rss_peak": statistics.median(peaks) if peaks else None,
            "rss_peaks": peaks, "traced_peak": traced_peak / n, "held": held / n, "sort": ref}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (medians reported)")
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), metavar="WORKLOAD:RECIPE")
    args = parser.parse_args()

    # warm the Numba kernels (cached on disk after the first run) on a tiny graph
    compress(synthesize_weights(load_workload("lenet-300-100")), "deep-compression-lenet300")
    print(f"load average before: {_load()}")
    for case in args.cases:
        workload, recipe = case.split(":", 1)
        r = run_case(workload, recipe, max(1, args.repeat))
        print(f"\n{workload} + {recipe}: {r['weights']:,} weights, storage ratio {r['ratio']:.2f}x")
        runs = ", ".join(f"{w:.2f}" for w in r["walls"])
        line = f"  wall {r['wall']:.2f} s (median of {len(r['walls'])}: {runs}), CPU {r['cpu']:.2f} s"
        if recipe.startswith("deep-compression"):
            line += f"   goal < {TIME_GOAL:g} s: {_verdict(r['wall'] < TIME_GOAL)}"
        print(line)
        if r["sort"] is not None:
            print(f"  reference np.sort of the same float32 weights: {r['sort']:.2f} s "
                  f"(ratio accelsim / np.sort {r['wall'] / r['sort']:.2f})")
        if r["rss_peak"] is not None:
            runs = ", ".join(f"{p:.2f}" for p in r["rss_peaks"])
            print(f"  peak memory beyond the weights (RSS): {r['rss_peak']:.2f} bytes per weight (median of {runs})"
                  f"   goal <= {PEAK_GOAL:g}: {_verdict(r['rss_peak'] <= PEAK_GOAL)}")
        else:
            print("  peak memory (RSS): unavailable on this system (needs Linux /proc/self/status and clear_refs)")
        print(f"  peak allocated during compress (tracemalloc): {r['traced_peak']:.2f} bytes per weight"
              f"   goal <= {PEAK_GOAL:g}: {_verdict(r['traced_peak'] <= PEAK_GOAL)}; "
              f"held afterwards by the compressed graph: {r['held']:.2f} bytes per weight")
    print(f"\nload average after: {_load()}")


if __name__ == "__main__":
    main()
