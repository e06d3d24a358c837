"""Weight sharing by 1-D k-means (Deep Compression Sec. 3).

Each layer's kept weights are clustered into ``2**bits`` shared values. In one dimension every
cluster is a contiguous run of the sorted data, so the data are sorted once and each Lloyd
iteration costs O(k log n) (binary search of the centroid midpoints + prefix-sum means; kernel
``kmeans_1d_sorted``). Initialisations as in the paper: ``linear`` (evenly spaced between min and
max: the paper's best, it keeps the rare large weights), ``density`` (evenly spaced in the CDF) and
``random`` (Forgy: k distinct data points drawn with ``rng``).
"""

from __future__ import annotations

import numpy as np

from accelsim.compress import _kernels as K
from accelsim.errors import CompressionError

INITS = ("linear", "density", "random")


def init_centroids(sorted_x: np.ndarray, k: int, init: str, rng: np.random.Generator | None) -> np.ndarray:
    n = sorted_x.size
    if init == "linear":
        return np.linspace(sorted_x[0], sorted_x[-1], k)
    if init == "density":
        q = (np.arange(k) + 0.5) / k
        return sorted_x[np.minimum((q * n).astype(np.int64), n - 1)].astype(np.float64)
    if init == "random":
        if rng is None:
            raise CompressionError("random k-means initialisation needs an rng")
        return np.sort(sorted_x[rng.choice(n, size=min(k, n), replace=False)]).astype(np.float64)
    raise CompressionError(f"k-means init must be one of {', '.join(INITS)}; got '{init}'")


def kmeans_1d(values: np.ndarray, bits: int, init: str = "linear", rng: np.random.Generator | None = None,
              max_iter: int = 100, tol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``values`` (any shape) into at most ``2**bits`` shared values.

    Returns ``(codes, table)``: int64 codes with the shape of ``values`` and the float64 table of
    centroids (sorted; clusters that end up empty are dropped and codes renumbered). ``values``
    is not modified.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise CompressionError(f"weight-sharing bits must be an int in [1, 16]; got {bits!r}")
    x = np.asarray(values)
    if x.size == 0:
        return np.zeros(x.shape, np.int64), np.zeros(1)
    if not np.all(np.isfinite(x)):
        raise CompressionError("k-means input contains NaN or infinite values")
    flat = x.ravel().astype(np.float64)
    sorted_x = np.sort(flat)
    k = 1 << int(bits)
    if sorted_x[0] == sorted_x[-1]:
        return np.zeros(x.shape, np.int64), sorted_x[:1].copy()
    init_c = init_centroids(sorted_x, k, init, rng)
    centroids, bounds, _ = K.kmeans_1d_sorted(sorted_x, init_c, int(max_iter), float(tol))
    sizes = np.diff(bounds)
    used = sizes > 0
    table = centroids[used]
    mids = 0.5 * (table[:-1] + table[1:])
    # a value exactly on a midpoint belongs to the upper cluster, as in the kernel's boundaries
    codes = np.searchsorted(mids, flat, side="right").astype(np.int64)
    return codes.reshape(x.shape), table
