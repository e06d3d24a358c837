"""Weight sharing by 1-D k-means (Deep Compression Sec. 3).

Each layer's kept weights are clustered into ``2**bits`` shared values. In one dimension every
cluster is a contiguous run of the sorted data, so the data are sorted once and each Lloyd
iteration costs O(k log n) (binary search of the centroid midpoints + prefix-sum means;
:func:`kmeans_1d_sorted`, a few vectorised NumPy operations per iteration: no kernel to compile). Initialisations as in the paper: ``linear`` (evenly spaced between min and
max: the paper's best, it keeps the rare large weights), ``density`` (evenly spaced in the CDF) and
``random`` (Forgy: k distinct data points drawn with ``rng``).
"""

from __future__ import annotations

import numpy as np

from accelsim.compress import _kernels as K
from accelsim.errors import CompressionError

INITS = ("linear", "density", "random")
#: what becomes of a cluster no weight is nearest to: ``drop`` (it keeps its centroid and is left out of the table at
#: the end: Deep Compression's plain Lloyd) or ``relocate`` (scikit-learn's rule: moved onto the weight farthest from
#: its own centroid, every iteration)
EMPTY = ("drop", "relocate")
_BLOCK = 1 << 16  # values per block of the code assignment


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


def _relocate(x: np.ndarray, prefix: np.ndarray, c: np.ndarray, new: np.ndarray, lo: np.ndarray, size: np.ndarray
              ) -> np.ndarray:
    """The centroids ``new`` of one Lloyd step with each empty cluster moved onto one of the points farthest from
    their own cluster's centroid ``c`` (the farthest first, the earlier position on a tie), that point taken out of
    its cluster's mean (scikit-learn's ``_relocate_empty_clusters``); sorted again."""
    empty = np.flatnonzero(size == 0)
    label = np.repeat(np.arange(c.size), size)
    far = np.argsort(-np.abs(x - c[label]), kind="stable")[:empty.size]
    total = prefix[lo + size] - prefix[lo]
    count = size.astype(np.float64)
    for e, j in zip(empty.tolist(), far.tolist()):
        old = label[j]
        total[old] -= x[j]
        count[old] -= 1.0
        new[e] = x[j]
        new[old] = total[old] / count[old] if count[old] > 0 else c[old]  # (emptied: its centroid stays)
    return np.sort(new)


def kmeans_1d_sorted(x: np.ndarray, centroids: np.ndarray, max_iter: int, tol: float, empty: str = "drop"
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Lloyd's k-means on sorted 1-D data; returns ``(centroids, boundaries, iterations)``.

    ``x`` and ``centroids`` are float64, both sorted ascending (``centroids`` is not modified).
    Each cluster is a contiguous run of the sorted data: one iteration finds the midpoints between
    neighbouring centroids by binary search (``boundaries[i]``: the first data position of cluster
    ``i``, length k + 1) and replaces every non-empty cluster's centroid by its mean from prefix
    sums, O(k log n); empty clusters keep their centroid (``empty="drop"``) or, with ``"relocate"``, move onto the
    points farthest from their centroids (:func:`_relocate`, O(n log n) in an iteration that has one). Stops after
    ``max_iter`` iterations or when no centroid moved more than ``tol``. The twin ``_reference.kmeans_1d_sorted``
    assigns every point to its nearest centroid (the textbook form); the tests compare them.
    """
    n = x.shape[0]
    k = centroids.shape[0]
    prefix = np.empty(n + 1, np.float64)
    prefix[0] = 0.0
    np.cumsum(x, out=prefix[1:])  # sequential, as a loop would add
    c = np.array(centroids, np.float64)
    bounds = np.empty(k + 1, np.int64)
    bounds[0], bounds[k] = 0, n
    it = 0
    for it in range(1, int(max_iter) + 1):
        bounds[1:k] = np.searchsorted(x, 0.5 * (c[:-1] + c[1:]), side="left")
        lo, hi = bounds[:-1], bounds[1:]
        size = hi - lo
        full = size > 0
        new = c.copy()
        new[full] = (prefix[hi[full]] - prefix[lo[full]]) / size[full]
        if empty == "relocate" and not full.all() and n > int(full.sum()):
            new = _relocate(x, prefix, c, new, lo, size)
        shift = float(np.max(np.abs(new - c), initial=0.0))
        c = new
        if shift <= tol:
            break
    bounds[1:k] = np.searchsorted(x, 0.5 * (c[:-1] + c[1:]), side="left")
    return c, bounds, it


def kmeans_1d(values: np.ndarray, bits: int, init: str = "linear", rng: np.random.Generator | None = None,
              max_iter: int = 100, tol: float = 0.0, empty: str = "drop") -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``values`` (any shape) into at most ``2**bits`` shared values.

    Returns ``(codes, table)``: int64 codes with the shape of ``values`` and the float64 table of
    centroids (sorted; clusters that end up empty are dropped and codes renumbered). ``values``
    is not modified. ``empty``: :data:`EMPTY` (``relocate`` keeps more of the table on data with gaps, a pruned
    layer's two lobes: 7-48x less error at 6 bits on a held-out round's pruned and outlier arrays).
    """
    if empty not in EMPTY:
        raise CompressionError(f"k-means empty must be one of {', '.join(EMPTY)}; got {empty!r}")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise CompressionError(f"weight-sharing bits must be an int in [1, 16]; got {bits!r}")
    x = np.asarray(values)
    if x.size == 0:
        return np.zeros(x.shape, np.int64), np.zeros(1)
    if not np.all(np.isfinite(x)):
        raise CompressionError("k-means input contains NaN or infinite values")
    # one float64 copy, sorted in place (the codes are found a block at a time from ``x`` itself below)
    sorted_x = x.astype(np.float64).ravel()
    sorted_x.sort()
    k = 1 << int(bits)
    if sorted_x[0] == sorted_x[-1]:
        return np.zeros(x.shape, np.int64), sorted_x[:1].copy()
    init_c = init_centroids(sorted_x, k, init, rng)
    init_c = np.sort(np.asarray(init_c, np.float64))
    centroids, bounds, _ = kmeans_1d_sorted(sorted_x, init_c, int(max_iter), float(tol), empty)
    sizes = np.diff(bounds)
    used = sizes > 0
    table = centroids[used]
    mids = 0.5 * (table[:-1] + table[1:])
    # a value exactly on a midpoint belongs to the upper cluster, as in the kernel's boundaries
    del sorted_x
    flat = x.ravel()
    codes = np.empty(flat.size, np.int64)
    for s in range(0, flat.size, _BLOCK):
        codes[s:s + _BLOCK] = np.searchsorted(mids, flat[s:s + _BLOCK].astype(np.float64), side="right")
    return codes.reshape(x.shape), table


def scatter_codes(mask: np.ndarray, codes_kept: np.ndarray, table: np.ndarray,
                  dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The full-shape codes and decoded values of weights shared only at the kept positions:
    ``codes[mask] = codes_kept``, ``values[mask] = table[codes_kept]`` (as ``dtype``), zeros
    elsewhere - in one pass over the mask instead of two boolean scatters and a gather.
    ``codes_kept`` are the codes of ``mask``'s kept positions in row-major order (``kmeans_1d`` of
    ``x[mask]``); at most ``2**16`` table entries. The codes are uint8 for tables of at most 256
    entries (1 byte per weight), else uint16."""
    mk = np.ascontiguousarray(mask, dtype=bool)
    table = np.asarray(table, np.float64)
    if table.size > (1 << 16):
        raise CompressionError(f"scatter_codes: uint16 codes hold at most 65536 table entries; got {table.size}")
    kept = np.asarray(codes_kept).ravel()
    if kept.size != int(np.count_nonzero(mk)):
        raise CompressionError(f"scatter_codes: {kept.size} codes for {int(np.count_nonzero(mk))} kept positions")
    if kept.size and (kept.dtype.kind not in "iu" or int(kept.min()) < 0 or int(kept.max()) >= table.size):
        bad = kept.dtype if kept.dtype.kind not in "iu" else int(kept.min() if kept.min() < 0 else kept.max())
        raise CompressionError(f"scatter_codes: codes index a table of {table.size} entries; got {bad}")
    out = np.dtype(dtype)
    # the kernel writes the types Numba has (not float16 / bfloat16: decoded in float64, then cast)
    work = out if out.kind in "iub" or out in (np.float32, np.float64) else np.dtype(np.float64)
    codes = np.zeros(mk.shape, np.uint8 if table.size <= 256 else np.uint16)
    values = np.zeros(mk.shape, work)
    K.scatter_codes(mk.reshape(-1), kept.astype(np.int64, copy=False), table, codes.reshape(-1), values.reshape(-1))
    return codes, values.astype(out, copy=False)
