"""Benchmark: Deep Compression of all of VGG-16 (138M weights) - prune + k-means + Huffman.

Times, in one process and on the same synthesized weights (He-normal, seed 0):

1. accelsim: magnitude pruning to the paper's per-layer kept fractions, per-layer 1-D k-means over
   the kept weights (8-bit conv / 5-bit fc codebooks, linear init), CSR relative-index encoding
   with padding zeros, and Huffman coding of the codebook indices and the relative indices - i.e.
   ``accelsim.compress(vgg16, "deep-compression-vgg16")`` (which also builds every format and the
   per-layer statistics);
2. the reference: ``np.sort`` of the same 138M weights (one flat float32 array).

Goal (issue 3): accelsim under 30 s on one core. Prints both times and their ratio. Run with
``OMP_NUM_THREADS=1 python benchmarks/bench_compress.py`` (``--repeat N`` for the best of N).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from accelsim.compress.recipe import compress  # noqa: E402
from accelsim.workload.weights import synthesize_weights  # noqa: E402
from accelsim.workload.zoo import load_workload  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workload", default="vgg16")
    parser.add_argument("--recipe", default="deep-compression-vgg16")
    args = parser.parse_args()

    graph = synthesize_weights(load_workload(args.workload), seed=0)
    n = sum(w.size for w in graph.weights.values())
    # warm the Numba kernels (cached on disk after the first run) on a tiny graph
    compress(synthesize_weights(load_workload("lenet-300-100")), "deep-compression-lenet300")

    def timed(fn):
        """Best wall-clock and best CPU (process) seconds over the repeats."""
        wall = cpu = float("inf")
        out = None
        for _ in range(args.repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            wall = min(wall, time.perf_counter() - w0)
            cpu = min(cpu, time.process_time() - c0)
        return out, wall, cpu

    cg, wall, cpu = timed(lambda: compress(graph, args.recipe, seed=0))
    flat = np.concatenate([w.ravel() for w in graph.weights.values()])
    _, ref_wall, ref_cpu = timed(lambda: np.sort(flat))
    print(f"{args.workload}: {n:,} weights, recipe {args.recipe}: compression ratio {cg.stats['compression_ratio']:.2f}x")
    print(f"accelsim prune + k-means + Huffman (+ formats, stats): {wall:.2f} s wall, {cpu:.2f} s CPU")
    print(f"np.sort of the same {n:,} float32 weights: {ref_wall:.2f} s wall, {ref_cpu:.2f} s CPU")
    print(f"ratio accelsim / np.sort: {wall / ref_wall:.2f} (wall), {cpu / ref_cpu:.2f} (CPU)"
          f"   goal: accelsim < 30 s on one core")


if __name__ == "__main__":
    main()
