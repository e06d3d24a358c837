"""Speed of the EIE model: Alex-6 simulation vs a scipy.sparse CSC matvec of the same matrix, same process.

Alex-6 (EIE Table III): 4096 x 9216 weight matrix (rows = outputs), 9% weights kept, 35.1% non-zero
input activations, 16-entry codebook, 64-PE interleaved CSC with 4-bit relative indices (built once,
as the compression step does; like the CSC matrix of the matvec it is not part of the timed work).

Timed: ``EIEModel.simulate`` (draw the activation vector, run the Numba cycle kernel over the
layer's pass segments - computed once per layer and PE count, like the layout itself not part of
the timed work - count actions, price energy, build the LayerResult) against ``csc @ x`` for the
same matrix and a vector of the same density. Goal: ratio <= 2. Then the nine EIE benchmark layers
(workload + recipe ``eie-benchmarks``, compressed once) after JIT warm-up; goal < 1 s. Prints the
machine's load average. Run: ``.venv/bin/python benchmarks/bench_eie.py``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import scipy.sparse as sp

from accelsim.compress.compressed import CompressedLayer
from accelsim.compress.tensors import Codebook, InterleavedCSC
from accelsim.hw.registry import build_model, load_arch
from accelsim.workload.layers import Linear


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def alex6(seed: int = 0):
    rng = np.random.default_rng(seed)
    n, k = 4096, 9216
    mask = rng.random((n, k), dtype=np.float32) < 0.09
    codes = np.where(mask, rng.integers(1, 16, (n, k)), 0).astype(np.int64)
    table = np.linspace(-1.0, 1.0, 16)
    table[0] = 0.0
    csc_pe = InterleavedCSC(codes, n_pe=64, index_bits=4, value_bits=4, pointer_bits=16)
    weight = Codebook(csc_pe, table, index_bits=4, table_bits=16)
    matrix = table[codes]
    layer = Linear(name="Alex-6", input_shapes=((k,),), out_features=n)
    cl = CompressedLayer(layer=layer, weight=weight, weight_matrix=matrix, activation_density=0.351,
                         codebook_size=16, transforms=("prune", "share", "encode"))
    return cl, sp.csc_matrix(matrix)


def main() -> None:
    model = build_model(load_arch("eie"))
    cl, csc = alex6()
    x = np.zeros(csc.shape[1])
    rng = np.random.default_rng(1)
    x[rng.choice(x.size, int(round(0.351 * x.size)), replace=False)] = rng.random(int(round(0.351 * x.size))) + 0.1
    model.simulate(cl)  # JIT warm-up
    csc @ x
    t_sim = best_of(lambda: model.simulate(cl), 7)
    t_mv = best_of(lambda: csc @ x, 7)
    r = model.simulate(cl)
    print(f"Alex-6 4096x9216, {csc.nnz:,} weights, 35.1% activations")
    print(f"  accelsim EIE simulate : {t_sim * 1e3:8.2f} ms  ({r.cycles:,} cycles, {r.latency_s * 1e6:.1f} us simulated)")
    print(f"  scipy CSC matvec      : {t_mv * 1e3:8.2f} ms")
    print(f"  ratio sim / matvec    : {t_sim / t_mv:8.2f}  (goal <= 2)")

    from accelsim.hw.eie import validation as V

    t = time.perf_counter()
    layers = V.benchmark_layers(0)
    t_compress = time.perf_counter() - t
    for cl9 in layers:  # warm-up (compiles nothing new, touches the arrays once)
        model.simulate(cl9)
    t_table = best_of(lambda: [model.simulate(c) for c in layers], 3)
    print(f"nine-layer table: {t_table:.3f} s after warm-up (goal < 1 s); compression setup {t_compress:.1f} s")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
