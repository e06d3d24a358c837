"""Graph-changing compression: channel (filter) pruning, low-rank and depthwise-separable substitution.

All functions take a LayerGraph with weights and return a NEW graph (the input is not modified).

* :func:`channel_prune` removes whole output channels (filters) of convs / output features of
  linears, ranked by L1 or L2 norm, and shrinks everything downstream: BatchNorm, activations,
  pooling, identity and layer norms pass the channel selection through; a depthwise conv follows
  it (its channels shrink too); a flatten maps it to feature indices; the next conv / linear loses
  the matching input channels (weight columns). Where shapes cannot follow (residual ``add``,
  ``concat``, ``slice``, channel shuffle, reshape, matmul, grouped non-depthwise convs, a graph
  output) the layer is skipped with a note, or refused (``CompressionError``) when ``strict``.
* :func:`svd_factors` / ``svd`` step: ``W ~= (U_r sqrt(S_r)) (sqrt(S_r) V_r^T)``; a Linear becomes
  Linear(K -> r) + Linear(r -> N); a 1x1 conv becomes 1x1 conv(C -> r, the old stride) + 1x1 conv(r -> N).
* :func:`tucker2` (HOSVD): ``W[n,c,h,w] ~= sum U[n,a] G[a,b,h,w] V[c,b]``: 1x1 conv(C -> r_in),
  KxK conv(r_in -> r_out, the old stride / padding), 1x1 conv(r_out -> N).
* depthwise-separable: KxK conv(C -> N) -> depthwise KxK (C groups) + pointwise 1x1 (C -> N), weights
  from the best rank-1 split of each input channel's ``(N, kh*kw)`` slice; MACs drop by
  ``1/N + 1/K^2``.

Equations: ``docs/compression.md``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Mapping

import numpy as np

from accelsim.compress.prune import channel_scores
from accelsim.errors import CompressionError, ConfigError
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import (
    Activation,
    BatchNorm,
    Conv2d,
    Flatten,
    Identity,
    Input,
    Layer,
    LayerNorm,
    Linear,
    Pool2d,
)

_PASS = (BatchNorm, Activation, Identity, Pool2d, LayerNorm)


# --- channel pruning ---------------------------------------------------------------------------------
def _channel_axis_ok(layer: Layer, axis_is_last: bool) -> bool:
    """Can ``layer`` consume an input whose channel selection lies on axis 0 (or the last axis)?"""
    shape = layer.input_shape
    if isinstance(layer, Conv2d):
        return not axis_is_last or len(shape) == 1
    if isinstance(layer, Linear):
        return axis_is_last or len(shape) == 1
    return True


def propagation_problem(graph: LayerGraph, name: str) -> str | None:
    """Why pruning ``name``'s output channels cannot propagate (None when it can)."""
    layer = graph.layer(name)
    if isinstance(layer, Conv2d) and layer.groups != 1:
        return f"'{name}' is a grouped conv"
    if not isinstance(layer, (Conv2d, Linear)):
        return f"'{name}' ({layer.op}) has no prunable output channels"
    stack = [(name, isinstance(layer, Linear))]
    seen = set()
    while stack:
        cur, last_axis = stack.pop()
        succs = graph.successors(cur)
        if not succs:
            return f"'{cur}' is a graph output (its shape would change)"
        for s in succs:
            if (s, last_axis) in seen:
                continue
            seen.add((s, last_axis))
            sl = graph.layer(s)
            if len(sl.input_shapes) != 1:
                return f"'{name}' feeds '{s}' ({sl.op}), whose other inputs keep all channels"
            if not _channel_axis_ok(sl, last_axis):
                return f"'{name}' feeds '{s}' ({sl.op}) on an axis it does not reduce over"
            if isinstance(sl, Conv2d):
                if sl.is_depthwise:
                    stack.append((s, False))
                elif sl.groups != 1:
                    return f"'{name}' feeds grouped conv '{s}'"
            elif isinstance(sl, Linear):
                continue
            elif isinstance(sl, Flatten):
                stack.append((s, True))
            elif isinstance(sl, _PASS):
                if isinstance(sl, (BatchNorm, Pool2d)) and last_axis and len(sl.input_shape) != 1:
                    return f"'{name}' feeds '{s}' ({sl.op}) on a non-channel axis"
                stack.append((s, last_axis))
            else:
                return f"'{name}' feeds '{s}' ({sl.op}), which cannot drop channels"
    return None


def _cut(w: np.ndarray | None, rows: np.ndarray | None, cols: np.ndarray | None) -> np.ndarray | None:
    """``w[rows][:, cols]`` (``None``: the whole axis) as one copy, without the intermediate of the two steps."""
    if w is None or (rows is None and cols is None):
        return w
    if cols is None:
        return w[rows]
    if rows is None:
        return w[:, cols]
    return w[np.ix_(rows, cols)]


def _rebuild(graph: LayerGraph, keep_out: Mapping[str, np.ndarray]) -> tuple[LayerGraph, dict[str, list[str]]]:
    """A new graph with ``keep_out[name]`` output channels kept and selections propagated."""
    new = LayerGraph(graph.name, graph.source)
    new.metadata = dict(graph.metadata)
    sel: dict[str, np.ndarray | None] = {}
    notes: dict[str, list[str]] = {}
    for layer in graph.layers:
        name = layer.name
        inputs = graph.inputs_of(name)
        if isinstance(layer, Input):
            new.add(layer, [])
            sel[name] = None
            continue
        in_sel = sel[inputs[0]] if inputs else None
        shapes = tuple(new.layer(p).output_shape for p in inputs)
        w = graph.weights.get(name)
        b = graph.biases.get(name)
        out_sel = None
        kw: dict[str, Any] = {"input_shapes": shapes}
        if isinstance(layer, Conv2d):
            rows = cols = None  # the kept output / input channels: the weight is cut once, by both
            if in_sel is not None:
                if layer.is_depthwise:
                    rows = in_sel
                    b = b[in_sel] if b is not None else None
                    kw.update(out_channels=len(in_sel), groups=len(in_sel))
                    out_sel = in_sel
                else:
                    cols = in_sel
                notes.setdefault(name, []).append(f"input channels pruned to {len(in_sel)}/{layer.in_channels}")
            if name in keep_out:
                k = keep_out[name]
                rows = k if rows is None else rows[k]
                b = b[k] if b is not None else None
                kw["out_channels"] = len(k)
                out_sel = k
            w = _cut(w, rows, cols)
        elif isinstance(layer, Linear):
            rows = cols = None
            if in_sel is not None:
                cols = in_sel
                notes.setdefault(name, []).append(f"input features pruned to {len(in_sel)}/{layer.in_features}")
            if name in keep_out:
                k = keep_out[name]
                rows = k
                b = b[k] if b is not None else None
                kw["out_features"] = len(k)
                out_sel = k
            w = _cut(w, rows, cols)
        elif isinstance(layer, Flatten) and in_sel is not None:
            spatial = int(np.prod(layer.input_shape[1:])) if len(layer.input_shape) > 1 else 1
            out_sel = (in_sel[:, None] * spatial + np.arange(spatial)[None, :]).ravel()
        elif in_sel is not None:
            out_sel = in_sel
        new_layer = replace(layer, **kw)
        new.add(new_layer, inputs)
        if w is not None:
            new.set_weight(name, np.ascontiguousarray(w), b)
        sel[name] = out_sel
        if name in graph.activation_density:
            new.activation_density[name] = graph.activation_density[name]
        if name in graph.activation_samples and in_sel is None:
            new.activation_samples[name] = graph.activation_samples[name]
    return new, notes


def channel_prune(graph: LayerGraph, targets: Mapping[str, Mapping[str, Any]]) -> tuple[LayerGraph, dict[str, list[str]]]:
    """Prune output channels of ``targets`` (name -> {sparsity, norm, strict}); see the module doc."""
    keep: dict[str, np.ndarray] = {}
    notes: dict[str, list[str]] = {}
    for name, p in targets.items():
        problem = propagation_problem(graph, name)
        if problem:
            if p.get("strict"):
                raise CompressionError(f"channel pruning of '{name}' cannot propagate: {problem}")
            notes.setdefault(name, []).append(f"channel_prune skipped: {problem}")
            continue
        w = graph.weights[name]
        scores = channel_scores(w, p.get("norm", "l1"))
        n = scores.size
        k = max(1, int(round((1.0 - float(p["sparsity"])) * n)))
        order = np.argsort(-scores, kind="stable")[:k]
        keep[name] = np.sort(order)
        notes.setdefault(name, []).append(f"channel_prune:{p.get('norm', 'l1')}({k}/{n} kept)")
    if not keep:
        return graph.copy(), notes
    new, more = _rebuild(graph, keep)
    for k2, v in more.items():
        notes.setdefault(k2, []).extend(v)
    return new, notes


# --- low rank ------------------------------------------------------------------------------------------
def svd_rank(s: np.ndarray, shape: tuple[int, int], p: Mapping[str, Any], name: str) -> int:
    """Rank from ``rank`` / ``rank_fraction`` / ``energy`` (kept fraction of sum of s^2)."""
    full = min(shape)
    if p.get("rank") is not None:
        r = int(p["rank"])
        if r > full:
            raise CompressionError(f"svd rank {r} of layer '{name}' exceeds its matrix rank bound {full} ({shape[0]}x{shape[1]})")
        return r
    if p.get("rank_fraction") is not None:
        return max(1, min(full, int(round(float(p["rank_fraction"]) * full))))
    e = np.cumsum(np.square(s.astype(np.float64)))
    if e[-1] == 0:
        return 1
    return int(min(full, np.searchsorted(e / e[-1], float(p["energy"]) - 1e-12) + 1))


def svd_factors(matrix: np.ndarray, rank: int, usv=None) -> tuple[np.ndarray, np.ndarray]:
    """``(A, B)`` with ``A @ B`` the best rank-``rank`` approximation; ``A = U sqrt(S)``, ``B = sqrt(S) V^T``.

    ``usv`` may pass a precomputed ``np.linalg.svd(matrix, full_matrices=False)``.
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or not 1 <= rank <= min(m.shape):
        raise CompressionError(f"svd rank must be in [1, {min(m.shape) if m.ndim == 2 else 0}]; got {rank}")
    u, s, vt = usv if usv is not None else np.linalg.svd(m, full_matrices=False)
    root = np.sqrt(s[:rank])
    return (u[:, :rank] * root).astype(m.dtype), (root[:, None] * vt[:rank]).astype(m.dtype)


#: columns of the long side per block of the Gram and factor passes: at most 256, 8 MiB of float64 and a
#: sixteenth of the Gram matrix (so the buffer never matters beside it), at least 64
_GRAM_BLOCK_COLUMNS = 256
_GRAM_BLOCK_BYTES = 8 << 20


def _long_blocks(x: np.ndarray):
    """``(start, block)`` over the long axis of the short-side-first view ``x`` (s x L): each block of
    columns (see ``_GRAM_BLOCK_COLUMNS``) copied to float64 into one reused Fortran-ordered buffer (valid
    until the next block)."""
    s = x.shape[0]
    # at least 64 columns (a short side under 1,024 would otherwise take a BLAS call per few columns)
    step = max(1, min(max(64, min(_GRAM_BLOCK_COLUMNS, _GRAM_BLOCK_BYTES // (8 * s), s // 16)), x.shape[1]))
    buf = np.empty((x.shape[0], step), dtype=np.float64, order="F")
    for j in range(0, x.shape[1], step):
        blk = buf[:, :min(step, x.shape[1] - j)]
        np.copyto(blk, x[:, j:j + step])
        yield j, blk


def _gram(x: np.ndarray) -> np.ndarray:
    """Upper triangle of ``x @ x.T`` (s x s, float64, Fortran order), accumulated by blocks of ``x``'s long axis."""
    from scipy.linalg.blas import dsyrk

    g = np.zeros((x.shape[0], x.shape[0]), dtype=np.float64, order="F")
    for _, blk in _long_blocks(x):
        g = dsyrk(1.0, blk, beta=1.0, c=g, trans=0, lower=0, overwrite_c=1)
    return g


def truncated_svd(matrix: np.ndarray, p: Mapping[str, Any], name: str,
                  info: dict | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """``(A, B, r)``: the rank-r factors of ``svd_factors`` (``A = U_r sqrt(S_r)``, ``B = sqrt(S_r) V_r^T``) with r
    from ``p`` (:func:`svd_rank`), without holding a full SVD.

    The singular vectors of the short side come from the eigenvectors of the Gram matrix ``G = X X^T``
    (``X`` = the matrix or its transpose, whichever has fewer rows: s = min(shape)), accumulated in
    float64 by blocks of the long side; only the top r eigenpairs are computed (LAPACK ``dsyevr``), and
    the long side's factor is ``S_r^{-1/2} U_r^T X``, again by blocks. Memory: ``s^2`` float64 plus the
    factors, never a copy of the matrix or an ``s x L`` orthogonal factor (fc6 of VGG-16: 134 MB against
    about 1.6 GB for LAPACK's divide-and-conquer SVD). Accuracy: eigenvalues to ``s * eps64 * sigma_1^2``,
    so a kept singular value carries an absolute error of about ``s * eps64 * sigma_1^2 / sigma_i``; directions
    whose eigenvalue is within that noise are set to zero (docs/compression.md, "Low rank"). ``info``, when
    given, receives ``signal`` (``||W||_F^2``, the Gram matrix's trace) and ``sse`` (``||W - A B||_F^2`` of the
    exact truncation: the trace less the kept eigenvalues).
    """
    from scipy.linalg import eigh

    m = np.asarray(matrix)
    if m.ndim != 2:
        raise CompressionError(f"svd of layer '{name}' needs a 2-D weight matrix; got shape {list(m.shape)}")
    wide = m.shape[0] <= m.shape[1]
    x = m if wide else m.T
    s = x.shape[0]
    if p.get("energy") is not None:  # the rank needs every singular value: eigenvalues only, then the vectors below
        lam_all = eigh(_gram(x), lower=False, eigvals_only=True, overwrite_a=True, check_finite=False, driver="evr")
        r = svd_rank(np.sqrt(np.clip(lam_all[::-1], 0.0, None)), m.shape, p, name)
    else:
        r = svd_rank(np.zeros(0), m.shape, p, name)
    gram = _gram(x)
    signal = float(np.trace(gram))
    lam, z = eigh(gram, lower=False, overwrite_a=True, check_finite=False, driver="evr", subset_by_index=(s - r, s - 1))
    del gram
    lam, z = lam[::-1], z[:, ::-1]
    if info is not None:
        info.update(signal=signal, sse=max(signal - float(np.sum(np.clip(lam, 0.0, None))), 0.0))
    noise = max(float(lam[0]), 0.0) * s * np.finfo(np.float64).eps
    kept = lam > noise
    sigma = np.sqrt(np.where(kept, lam, 0.0))
    root = np.sqrt(sigma)
    short = np.empty((s, r), dtype=m.dtype)  # U_r sqrt(S_r) of X, a block of rows at a time (no float64 copy)
    for i in range(0, s, 1024):
        short[i:i + 1024] = z[i:i + 1024] * root
    z *= np.where(kept, 1.0 / np.where(kept, root, 1.0), 0.0)  # now U_r S_r^{-1/2}, in place
    if wide:  # W = X: A = U_r sqrt(S_r), B = S_r^{-1/2} U_r^T W (r x n)
        b = np.empty((r, x.shape[1]), dtype=m.dtype)
        for j, blk in _long_blocks(x):
            b[:, j:j + blk.shape[1]] = z.T @ blk
        return short, b, r
    a = np.empty((x.shape[1], r), dtype=m.dtype)  # W = X^T: A = W U_r S_r^{-1/2} (m x r), B = sqrt(S_r) U_r^T
    for j, blk in _long_blocks(x):
        a[j:j + blk.shape[1]] = blk.T @ z
    return a, np.ascontiguousarray(short.T), r


def _svd_substitute(g: LayerGraph, name: str, p: Mapping[str, Any]) -> tuple[list[str], str]:
    layer = g.layer(name)
    if isinstance(layer, Conv2d) and (layer.kernel != (1, 1) or layer.groups != 1):
        return [], "svd skipped: only Linear and ungrouped 1x1 convs (use tucker2 for KxK)"
    if not isinstance(layer, (Conv2d, Linear)):
        return [], f"svd skipped: {layer.op} layers are not factorised"
    m = g.weight_matrix(name)
    err: dict = {}
    a, bmat, r = truncated_svd(m, p, name, err)
    sqnr = (math.inf if err["sse"] <= 0 else 10.0 * math.log10(err["signal"] / err["sse"])) if err["signal"] > 0 else None
    bias = g.biases.get(name)
    if isinstance(layer, Linear):
        first = Linear(name=f"{name}.svd_v", input_shapes=layer.input_shapes, out_features=r, bias=False)
        second = Linear(name=f"{name}.svd_u", input_shapes=(first.output_shape,), out_features=layer.out_features,
                        bias=layer.bias)
        wa, wb = bmat, a
    else:
        first = Conv2d(name=f"{name}.svd_v", input_shapes=layer.input_shapes, out_channels=r, kernel=1,
                       stride=layer.stride, padding=layer.padding, ceil_mode=layer.ceil_mode, bias=False)
        second = Conv2d(name=f"{name}.svd_u", input_shapes=(first.output_shape,), out_channels=layer.out_channels,
                        kernel=1, bias=layer.bias)
        wa, wb = bmat.reshape(r, -1, 1, 1), a.reshape(layer.out_channels, r, 1, 1)
    g.substitute(name, [first, second])
    g.set_weight(first.name, wa)
    g.set_weight(second.name, wb, bias)
    quality = "" if sqnr is None else f", SQNR {sqnr:.1f} dB"  # ||W||^2 / ||W - A B||^2 of the pair
    return [first.name, second.name], f"svd(rank {r}/{min(m.shape)}{quality})"


def tucker2(weight: np.ndarray, r_out: int, r_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HOSVD Tucker-2 of a conv weight ``(N, C, kh, kw)``: ``(U_out (N, r_out), core (r_out, r_in, kh, kw), U_in (C, r_in))``."""
    w = np.asarray(weight, np.float64)
    if w.ndim != 4:
        raise CompressionError(f"tucker2 needs a 4-D conv weight; got shape {list(w.shape)}")
    n, c = w.shape[:2]
    if not (1 <= r_out <= n and 1 <= r_in <= c):
        raise CompressionError(f"tucker2 ranks ({r_out}, {r_in}) must be within the channel counts ({n}, {c})")
    u_out = np.linalg.svd(w.reshape(n, -1), full_matrices=False)[0][:, :r_out]
    u_in = np.linalg.svd(np.moveaxis(w, 1, 0).reshape(c, -1), full_matrices=False)[0][:, :r_in]
    core = np.einsum("nchw,na,cb->abhw", w, u_out, u_in)
    return u_out, core, u_in


def _tucker_substitute(g: LayerGraph, name: str, p: Mapping[str, Any]) -> tuple[list[str], str]:
    layer = g.layer(name)
    if not isinstance(layer, Conv2d) or layer.groups != 1:
        return [], f"tucker2 skipped: only ungrouped convs ({layer.op})"
    n, c = layer.out_channels, layer.in_channels
    if p.get("ranks") is not None:
        r_out, r_in = p["ranks"]
        if r_out > n or r_in > c:
            raise CompressionError(f"tucker2 ranks {[r_out, r_in]} of layer '{name}' exceed its channels [{n}, {c}]")
    else:
        f = float(p["rank_fraction"])
        r_out, r_in = max(1, int(round(f * n))), max(1, int(round(f * c)))
    w = g.weights[name]
    u_out, core, u_in = tucker2(w, r_out, r_in)
    dt = w.dtype
    bias = g.biases.get(name)
    first = Conv2d(name=f"{name}.tk_in", input_shapes=layer.input_shapes, out_channels=r_in, kernel=1, bias=False)
    mid = Conv2d(name=f"{name}.tk_core", input_shapes=(first.output_shape,), out_channels=r_out, kernel=layer.kernel,
                 stride=layer.stride, padding=layer.padding, dilation=layer.dilation, ceil_mode=layer.ceil_mode, bias=False)
    last = Conv2d(name=f"{name}.tk_out", input_shapes=(mid.output_shape,), out_channels=n, kernel=1, bias=layer.bias)
    g.substitute(name, [first, mid, last])
    g.set_weight(first.name, u_in.T.reshape(r_in, c, 1, 1).astype(dt))
    g.set_weight(mid.name, core.astype(dt))
    g.set_weight(last.name, u_out.reshape(n, r_out, 1, 1).astype(dt), bias)
    return [first.name, mid.name, last.name], f"tucker2(ranks {r_out}/{n}, {r_in}/{c})"


def depthwise_separable_weights(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depthwise ``(C, 1, kh, kw)`` and pointwise ``(N, C, 1, 1)`` weights: per input channel the best
    rank-1 split of its ``(N, kh*kw)`` slice (exact when the conv is separable)."""
    w = np.asarray(weight, np.float64)
    n, c, kh, kw = w.shape
    dw = np.zeros((c, 1, kh, kw))
    pw = np.zeros((n, c, 1, 1))
    for ch in range(c):
        u, s, vt = np.linalg.svd(w[:, ch].reshape(n, kh * kw), full_matrices=False)
        root = np.sqrt(s[0])
        pw[:, ch, 0, 0] = u[:, 0] * root
        dw[ch, 0] = (vt[0] * root).reshape(kh, kw)
    return dw, pw


def _dws_substitute(g: LayerGraph, name: str, p: Mapping[str, Any]) -> tuple[list[str], str]:
    layer = g.layer(name)
    if not isinstance(layer, Conv2d) or layer.groups != 1 or layer.kernel == (1, 1):
        return [], "depthwise_separable skipped: only ungrouped KxK convs with K > 1"
    c, n = layer.in_channels, layer.out_channels
    w = g.weights[name]
    dw_w, pw_w = depthwise_separable_weights(w)
    dw = Conv2d(name=f"{name}.dw", input_shapes=layer.input_shapes, out_channels=c, kernel=layer.kernel,
                stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=c,
                ceil_mode=layer.ceil_mode, bias=False)
    pw = Conv2d(name=f"{name}.pw", input_shapes=(dw.output_shape,), out_channels=n, kernel=1, bias=layer.bias)
    bias = g.biases.get(name)
    g.substitute(name, [dw, pw])
    g.set_weight(dw.name, dw_w.astype(w.dtype))
    g.set_weight(pw.name, pw_w.astype(w.dtype), bias)
    return [dw.name, pw.name], "depthwise_separable"


_SUBST = {"svd": _svd_substitute, "tucker2": _tucker_substitute, "depthwise_separable": _dws_substitute}


def _substituted(op: str, graph: LayerGraph, name: str, params: Mapping[str, Any]) -> LayerGraph:
    g = graph.copy()
    created, note = _SUBST[op](g, name, params)
    if not created:
        raise CompressionError(f"{op} of '{name}': {note}")
    return g


def _check_rank_args(fn: str, ranks: Mapping[str, Any], fractions: Mapping[str, Any]) -> None:
    """The checks a recipe's ``svd`` / ``tucker2`` parameters get, for the functions called directly: ranks
    ints >= 1, fractions in (0, 1]."""
    for key, value in ranks.items():
        values = value if key == "ranks" and isinstance(value, (tuple, list)) and len(value) == 2 else (value,)
        if value is not None and not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                                         for v in values):
            want = "a pair of ints >= 1" if key == "ranks" else "an int >= 1"
            raise CompressionError(f"{fn}: {key} must be {want}; got {value!r}")
    for key, value in fractions.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.floating))
                                  or not 0 < value <= 1):
            raise CompressionError(f"{fn}: {key} must be a number in (0, 1]; got {value!r}")


def svd_substitute(graph: LayerGraph, name: str, rank: int | None = None, rank_fraction: float | None = None,
                   energy: float | None = None) -> LayerGraph:
    """A new graph with Linear / 1x1 conv ``name`` replaced by its rank-r SVD pair (give one of the three)."""
    if sum(v is not None for v in (rank, rank_fraction, energy)) != 1:
        raise CompressionError("svd_substitute needs exactly one of rank, rank_fraction, energy")
    _check_rank_args("svd_substitute", {"rank": rank}, {"rank_fraction": rank_fraction, "energy": energy})
    return _substituted("svd", graph, name, {"rank": rank, "rank_fraction": rank_fraction, "energy": energy})


def tucker2_substitute(graph: LayerGraph, name: str, ranks: tuple[int, int] | None = None,
                       rank_fraction: float | None = None) -> LayerGraph:
    """A new graph with conv ``name`` replaced by its Tucker-2 chain (``ranks = (r_out, r_in)``)."""
    if (ranks is None) == (rank_fraction is None):
        raise CompressionError("tucker2_substitute needs exactly one of ranks, rank_fraction")
    _check_rank_args("tucker2_substitute", {"ranks": ranks}, {"rank_fraction": rank_fraction})
    return _substituted("tucker2", graph, name, {"ranks": ranks, "rank_fraction": rank_fraction})


def depthwise_separable_substitute(graph: LayerGraph, name: str) -> LayerGraph:
    """A new graph with KxK conv ``name`` replaced by depthwise KxK + pointwise 1x1."""
    return _substituted("depthwise_separable", graph, name, {})


def apply_graph_step(graph: LayerGraph, op: str, per_layer: Mapping[str, Mapping[str, Any]],
                     plans: dict[str, list], path: str):
    """Run one graph step of a recipe; returns ``(graph, plans, notes)`` (new layers inherit the plan).

    ``path`` prefixes error messages (recipe file and step).
    """
    notes: dict[str, list[str]] = {}
    try:
        if op == "channel_prune":
            g, notes = channel_prune(graph, per_layer)
            return g, plans, notes
        g = graph.copy()
        new_plans = dict(plans)
        # smallest layer first: the largest transient (an SVD's Gram matrix) meets the fewest factors already
        # made; the layers are substituted independently, so the graph is the same in any order
        order = sorted(per_layer, key=lambda n: graph.weights[n].size if n in graph.weights else 0)
        for name in order:
            p = per_layer[name]
            created, note = _SUBST[op](g, name, p)
            if not created:
                notes.setdefault(name, []).append(note)
                continue
            steps = new_plans.pop(name)
            for c in created:
                new_plans[c] = steps
                notes.setdefault(c, []).append(f"{note} of '{name}'")
        return g, new_plans, notes
    except CompressionError as exc:
        raise ConfigError(f"{path}: {exc}") from None
