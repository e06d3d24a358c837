"""Speed of the GPU model's Numba kernels against their NumPy / Python twins, in the same run.

    .venv/bin/python benchmarks/bench_gpu_model.py [--rows 4096 --cols 25088 --density 0.04]

Times (a) the per-row CSR statistics of a VGG-6-sized random pattern and (b) the greedy
block-to-SM scheduling of its blocks on a Titan X, with the Numba kernels (after a warm-up call that
compiles or loads the cache) and with ``accelsim.hw.gpu._reference``; prints both and the ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=4096)
    p.add_argument("--cols", type=int, default=25088)
    p.add_argument("--density", type=float, default=0.04)
    args = p.parse_args(argv)
    import scipy.sparse as sp

    from accelsim.hw.gpu import _kernels, _reference

    w = sp.random(args.rows, args.cols, density=args.density, format="csr", random_state=0, dtype=np.float32)
    indptr, indices = w.indptr.astype(np.int64), w.indices.astype(np.int64)
    _kernels.csr_row_stats(indptr[:3], indices, 32, 4, 4, 4, 32, 0)  # compile / load the cache
    t0 = time.perf_counter()
    fast = _kernels.csr_row_stats(indptr, indices, 32, 4, 4, 4, 32, 0)
    t1 = time.perf_counter()
    ref = _reference.csr_row_stats(indptr, indices, 32, 4, 4, 4, 32, 0)
    t2 = time.perf_counter()
    assert all((a == b).all() for a, b in zip(fast, ref))
    print(f"csr_row_stats  {args.rows}x{args.cols} nnz={w.nnz:,}: numba {t1 - t0:.4f} s, reference {t2 - t1:.3f} s, "
          f"ratio {(t2 - t1) / max(t1 - t0, 1e-9):.0f}x")
    blocks = np.random.default_rng(0).integers(1000, 50000, size=200_000).astype(np.float64)
    _kernels.greedy_schedule(blocks[:4], 24, 16)
    t0 = time.perf_counter()
    a = _kernels.greedy_schedule(blocks, 24, 16)
    t1 = time.perf_counter()
    b = _reference.greedy_schedule(blocks, 24, 16)
    t2 = time.perf_counter()
    assert abs(a[0] - b[0]) < 1e-6 * b[0]
    print(f"greedy_schedule {blocks.size:,} blocks on 24 SMs x 16 slots: numba {t1 - t0:.4f} s, "
          f"reference {t2 - t1:.3f} s, ratio {(t2 - t1) / max(t1 - t0, 1e-9):.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
