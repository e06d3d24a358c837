"""Pruning, quantization, k-means and the graph-changing transforms, each against an independent check."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.compress import prune as P
from accelsim.compress import quantize as Q
from accelsim.compress import structured as S
from accelsim.compress._reference import kmeans_1d_sorted as ref_kmeans
from accelsim.compress.kmeans import init_centroids, kmeans_1d
from accelsim.compress.tensors import NM, Codebook, LowBit
from accelsim.errors import CompressionError
from accelsim.workload.io_yaml import graph_from_dict
from accelsim.workload.weights import synthesize_weights

SETTINGS = settings(max_examples=30, deadline=None)


def rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


# --- pruning -------------------------------------------------------------------------------------------
@SETTINGS
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.0, 0.99), st.integers(0, 1000))
def test_magnitude_mask_exact_and_largest(rows, cols, sparsity, seed):
    w = rand((rows, cols), seed)
    before = w.copy()
    mask = P.magnitude_mask(w, sparsity)
    assert np.array_equal(w, before)  # pure
    k = int(round((1 - sparsity) * w.size))
    assert mask.sum() == k
    if 0 < k < w.size:
        assert np.abs(w[mask]).min() >= np.abs(w[~mask]).max()


def test_magnitude_ties_are_deterministic():
    w = np.ones((4, 4))
    m = P.magnitude_mask(w, 0.5)
    assert m.sum() == 8 and m.ravel()[:8].all()


def test_global_magnitude_shares_one_threshold():
    ws = {"a": rand((10, 10), 1) * 3.0, "b": rand((5, 20), 2)}
    masks = P.global_magnitude_masks(ws, 0.8)
    total = sum(m.sum() for m in masks.values())
    assert total == round(0.2 * 200)
    kept = np.concatenate([np.abs(ws[n][masks[n]]) for n in ws])
    pruned = np.concatenate([np.abs(ws[n][~masks[n]]) for n in ws])
    assert kept.min() >= pruned.max()
    assert masks["a"].mean() > masks["b"].mean()  # the larger-scale layer keeps more


def test_random_mask_control():
    a = P.random_mask((30, 30), 0.9, np.random.default_rng(5))
    b = P.random_mask((30, 30), 0.9, np.random.default_rng(5))
    c = P.random_mask((30, 30), 0.9, np.random.default_rng(6))
    assert a.sum() == 90 and np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(CompressionError, match="rng"):
        P.random_mask((3, 3), 0.5, None)


@pytest.mark.parametrize("sparsity", [0.9, 0.5])  # the sparse (draw + trim) and dense (permutation) paths
def test_random_mask_is_uniform(sparsity):
    rng = np.random.default_rng(0)
    freq = np.mean([P.random_mask((8, 10), sparsity, rng) for _ in range(3000)], axis=0)
    p = 1 - sparsity
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / 3000))


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 30), st.sampled_from([(2, 4), (1, 4), (4, 8), (1, 2)]), st.integers(0, 99))
def test_nm_mask(rows, k, nm, seed):
    n, m = nm
    w = rand((rows, k), seed)
    mask = P.nm_mask(w, n, m)
    pruned = np.where(mask, w, 0.0)
    assert NM.is_compatible(pruned, n, m)
    for r in range(rows):
        for g in range(0, k, m):
            grp = np.abs(w[r, g:g + m])
            keep = mask[r, g:g + m]
            assert keep.sum() == min(n, grp.size)
            if keep.sum() < grp.size:
                assert grp[keep].min() >= grp[~keep].max()


def test_block_mask_keeps_whole_blocks():
    w = rand((8, 12), 3)
    w[0:4, 4:8] *= 100  # the strongest 4x4 block
    mask = P.block_mask(w, (4, 4), sparsity=5 / 6)
    assert mask.sum() == 16 and mask[0:4, 4:8].all()
    m2 = P.block_mask(rand((9, 10), 4), (8, 1), 0.5)  # edge blocks are partial
    tiles = m2[:8].reshape(1, 8, 10).all(axis=1) | ~m2[:8].reshape(1, 8, 10).any(axis=1)
    assert tiles.all()
    with pytest.raises(CompressionError, match="norm"):
        P.block_mask(w, (2, 2), 0.5, norm="l3")


def test_sparsity_validation():
    for bad in (1.0, -0.1, float("nan"), 2):
        with pytest.raises(CompressionError, match=r"\[0, 1\)"):
            P.magnitude_mask(np.ones(4), bad)
    with pytest.raises(CompressionError, match="N <= M"):
        P.nm_mask(np.ones((2, 4)), 5, 4)


# --- quantization ----------------------------------------------------------------------------------------
@SETTINGS
@given(st.integers(2, 16), st.booleans(), st.booleans(), st.integers(0, 500))
def test_uniform_quantization_error_bound(bits, symmetric, per_channel, seed):
    x = rand((6, 20), seed)
    x[0, :3] = 0.0
    q = Q.quantize_uniform(x, bits, symmetric=symmetric, per_channel=per_channel)
    assert isinstance(q, LowBit) and q.bits == bits
    d = q.to_dense()
    scale = q.scale.reshape(-1, 1) if per_channel else q.scale
    assert np.all(np.abs(d - x) <= scale / 2 + 1e-12)  # round-to-nearest inside the range
    assert np.all(d[0, :3] == 0.0)  # zeros stay exact
    levels = np.unique(q.values_int)
    assert levels.size <= (1 << bits)
    assert q.storage_bits().payload == x.size * bits


def test_quantization_more_bits_less_error():
    x = rand((32, 64), 9)
    errs = [Q.mse(x, Q.quantize_uniform(x, b).to_dense()) for b in (2, 4, 8, 12)]
    assert errs == sorted(errs, reverse=True)
    s8 = Q.sqnr_db(x, Q.quantize_uniform(x, 8).to_dense())
    assert 35 < s8 < 50  # ~6 dB per bit
    assert Q.sqnr_db(x, x) == float("inf")
    assert Q.mse(np.array([1.0, 2.0]), np.array([1.0, 4.0])) == 2.0
    assert np.isclose(Q.sqnr_db(np.array([3.0, 4.0]), np.array([3.0, 4.5])), 10 * np.log10(25 / 0.25))


def test_binary_and_ternary():
    x = np.array([[0.5, -1.5, 2.0, -0.1], [1.0, 1.0, -1.0, 0.2]])
    b = Q.binarize(x, per_channel=True)
    alpha = np.abs(x).mean(axis=1)
    assert np.allclose(b.to_dense(), np.sign(x) * alpha[:, None])
    assert b.storage_bits().payload == x.size and b.index_bits == 1
    t = Q.ternarize(x, threshold=0.7)
    delta = 0.7 * np.abs(x).mean()
    big = np.abs(x) > delta
    a = np.abs(x[big]).mean()
    assert np.allclose(t.to_dense(), np.where(big, np.sign(x) * a, 0.0))
    assert isinstance(Q.quantize_uniform(x, 1), Codebook)
    with pytest.raises(CompressionError, match=r"\[1, 32\]"):
        Q.quantize_uniform(x, 0)
    assert np.allclose(Q.quantize_uniform(x, 24).to_dense(), x, atol=1e-6)
    with pytest.raises(CompressionError, match="NaN"):
        Q.quantize_uniform(np.array([np.nan]), 8)


# --- k-means ------------------------------------------------------------------------------------------------
@SETTINGS
@given(st.integers(2, 300), st.integers(1, 5), st.sampled_from(["linear", "density", "random"]), st.integers(0, 99))
def test_kmeans_is_lloyd_fixed_point(n, bits, init, seed):
    x = rand(n, seed)
    codes, table = kmeans_1d(x, bits, init=init, rng=np.random.default_rng(seed), max_iter=500)
    assert table.size <= 1 << bits and np.all(np.diff(table) > 0)
    # every point sits at its nearest centroid, every centroid is the mean of its points
    nearest = np.argmin(np.abs(x[:, None] - table[None, :]), axis=1)
    assert np.allclose(np.abs(x - table[codes]), np.abs(x - table[nearest]))
    for i in range(table.size):
        assert np.isclose(table[i], x[codes == i].mean())


def test_kmeans_matches_reference_and_inits():
    x = np.sort(rand(500, 1))
    init = init_centroids(x, 8, "linear", None)
    assert np.allclose(init, np.linspace(x[0], x[-1], 8))
    dens = init_centroids(x, 4, "density", None)
    assert np.allclose(dens, x[[62, 187, 312, 437]])
    codes, table = kmeans_1d(x, 3)
    c_ref, b_ref, _ = ref_kmeans(x, np.linspace(x[0], x[-1], 8), 100, 0.0)
    assert np.allclose(table, c_ref[np.diff(b_ref) > 0])
    assert np.array_equal(np.bincount(codes, minlength=table.size), np.diff(b_ref)[np.diff(b_ref) > 0])
    # linear init keeps the rare large weights: its largest centroid is beyond the density init's
    t_lin = kmeans_1d(x, 2, "linear")[1]
    t_den = kmeans_1d(x, 2, "density")[1]
    assert t_lin.max() > t_den.max()
    before = x.copy()
    kmeans_1d(x, 2, "random", rng=np.random.default_rng(0))
    assert np.array_equal(x, before)
    with pytest.raises(CompressionError, match=r"\[1, 16\]"):
        kmeans_1d(x, 17)
    with pytest.raises(CompressionError, match="init"):
        kmeans_1d(x, 2, "kmeans++")
    c, t = kmeans_1d(np.full(10, 0.5), 3)
    assert t.tolist() == [0.5] and np.all(c == 0)


# --- low rank and substitutions ---------------------------------------------------------------------------
def small_graph():
    g = graph_from_dict({
        "name": "tiny", "inputs": {"data": [3, 12, 12]},
        "layers": [
            {"name": "conv1", "op": "conv2d", "out_channels": 8, "kernel": 3, "padding": 1},
            {"name": "bn1", "op": "batchnorm"},
            {"name": "relu1", "op": "relu"},
            {"name": "conv2", "op": "conv2d", "out_channels": 6, "kernel": 3, "stride": 2},
            {"name": "relu2", "op": "relu"},
            {"name": "pw", "op": "conv2d", "out_channels": 10, "kernel": 1},
            {"name": "pool", "op": "global_avgpool"},
            {"name": "flat", "op": "flatten"},
            {"name": "fc", "op": "linear", "out_features": 5},
        ]})
    return synthesize_weights(g, seed=3)


def test_svd_eckart_young_and_substitution():
    w = rand((20, 30), 7)
    a, b = S.svd_factors(w, 5)
    s = np.linalg.svd(w, compute_uv=False)
    assert np.isclose(np.sum((w - a @ b) ** 2), np.sum(s[5:] ** 2))
    g = small_graph()
    new, plans, notes = S.apply_graph_step(g, "svd", {"fc": {"rank": 3}, "pw": {"rank_fraction": 0.5},
                                                      "conv1": {"rank": 2}}, {"fc": [], "pw": [], "conv1": []}, "r.yaml")
    assert "fc" not in new and new["fc.svd_v"].out_features == 3 and new["fc.svd_u"].out_features == 5
    assert new["pw.svd_v"].out_channels == 3 and new["pw.svd_u"].output_shape == g["pw"].output_shape
    assert "conv1" in new and "skipped" in notes["conv1"][0]  # 3x3 convs are not SVD'd
    assert new["fc.svd_v"].macs + new["fc.svd_u"].macs == 3 * (10 + 5)
    recon = new.weights["fc.svd_u"] @ new.weights["fc.svd_v"]
    s_fc = np.linalg.svd(g.weight_matrix("fc"), compute_uv=False)
    assert np.isclose(np.sum((g.weight_matrix("fc") - recon) ** 2), np.sum(s_fc[3:] ** 2), rtol=1e-4)
    assert set(plans) == {"fc.svd_v", "fc.svd_u", "pw.svd_v", "pw.svd_u", "conv1"}
    assert "fc" in g  # input graph untouched
    with pytest.raises(Exception, match="exceeds"):
        S.apply_graph_step(g, "svd", {"fc": {"rank": 11}}, {"fc": []}, "r.yaml")


@pytest.mark.parametrize("shape", [(40, 300), (300, 40), (64, 64), (1, 9), (9, 1)])
@pytest.mark.parametrize("p", [{"rank_fraction": 0.25}, {"rank": 1}, {"energy": 0.95}])
def test_truncated_svd_equals_the_numpy_svd_product(shape, p):
    # the Gram-matrix factors (no full SVD held) against the float64 NumPy SVD: the same rank, the same rank-r
    # product to float32 rounding, on a spectrum decaying over four decades
    rng = np.random.default_rng(sum(shape))
    k = min(shape)
    u = np.linalg.qr(rng.standard_normal((shape[0], k)))[0]
    v = np.linalg.qr(rng.standard_normal((shape[1], k)))[0]
    w = ((u * np.logspace(0, -4, k)) @ v.T).astype(np.float32)
    a, b, r = S.truncated_svd(w, p, "x")
    s = np.linalg.svd(w.astype(np.float64), compute_uv=False)
    assert r == S.svd_rank(s, shape, p, "x")
    assert a.shape == (shape[0], r) and b.shape == (r, shape[1]) and a.dtype == b.dtype == np.float32
    ra, rb = S.svd_factors(w.astype(np.float64), r)
    best = ra @ rb
    assert np.linalg.norm(a.astype(np.float64) @ b - best) <= 1e-6 * np.linalg.norm(best)


def test_truncated_svd_of_a_rank_deficient_matrix_has_zero_directions():
    w = np.outer(np.arange(1.0, 6.0), np.arange(1.0, 8.0)).astype(np.float32)  # rank 1
    a, b, r = S.truncated_svd(w, {"rank": 3}, "x")
    assert r == 3 and np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    assert np.allclose(a @ b, w, rtol=1e-6) and not a[:, 1:].any() and not b[1:].any()
    a0, b0, _ = S.truncated_svd(np.zeros((4, 6), np.float32), {"rank": 2}, "z")
    assert not a0.any() and not b0.any()


def test_svd_energy_rank():
    s = np.array([3.0, 2.0, 1.0, 0.5])
    e = np.cumsum(s ** 2) / np.sum(s ** 2)
    assert S.svd_rank(s, (4, 4), {"energy": 0.9}, "x") == int(np.searchsorted(e, 0.9) + 1) == 2
    assert S.svd_rank(s, (4, 4), {"energy": 1.0}, "x") == 4
    assert S.svd_rank(s, (4, 9), {"rank_fraction": 0.25}, "x") == 1


def test_tucker2_exact_at_full_rank_and_chain():
    w = rand((6, 4, 3, 3), 2)
    u_out, core, u_in = S.tucker2(w, 6, 4)
    assert np.allclose(np.einsum("abhw,na,cb->nchw", core, u_out, u_in), w)
    g = small_graph()
    new, plans, _ = S.apply_graph_step(g, "tucker2", {"conv2": {"ranks": [3, 2]}}, {"conv2": []}, "r.yaml")
    chain = [new["conv2.tk_in"], new["conv2.tk_core"], new["conv2.tk_out"]]
    assert [c.out_channels for c in chain] == [2, 3, 6]
    assert chain[1].stride == (2, 2) and chain[-1].output_shape == g["conv2"].output_shape
    recon = np.einsum("abhw,na,cb->nchw", new.weights["conv2.tk_core"], new.weights["conv2.tk_out"][:, :, 0, 0],
                      new.weights["conv2.tk_in"][:, :, 0, 0].T)
    assert recon.shape == g.weights["conv2"].shape


@pytest.mark.parametrize("n,c,k", [(64, 32, 3), (128, 16, 5), (10, 3, 7)])
def test_depthwise_separable_mac_ratio(n, c, k):
    g = graph_from_dict({"name": "d", "inputs": {"x": [c, 20, 20]},
                         "layers": [{"name": "conv", "op": "conv2d", "out_channels": n, "kernel": k, "padding": k // 2}]})
    g = synthesize_weights(g)
    new, _, _ = S.apply_graph_step(g, "depthwise_separable", {"conv": {}}, {"conv": []}, "r.yaml")
    macs = new["conv.dw"].macs + new["conv.pw"].macs
    assert new["conv.dw"].is_depthwise
    assert np.isclose(macs / g["conv"].macs, 1 / n + 1 / k ** 2)


def test_depthwise_separable_exact_for_separable_weights():
    rng = np.random.default_rng(0)
    pw, dw = rng.normal(size=(5, 3)), rng.normal(size=(3, 3, 3))
    w = np.einsum("nc,chw->nchw", pw, dw)
    d, p = S.depthwise_separable_weights(w)
    assert np.allclose(np.einsum("nc,chw->nchw", p[:, :, 0, 0], d[:, 0]), w)


# --- channel pruning ------------------------------------------------------------------------------------------
def test_channel_prune_propagates_shapes_and_weights():
    g = small_graph()
    new, notes = S.channel_prune(g, {"conv1": {"sparsity": 0.5, "norm": "l1"}, "pw": {"sparsity": 0.6, "norm": "l2"}})
    keep = np.sort(np.argsort(-np.abs(g.weights["conv1"]).reshape(8, -1).sum(1), kind="stable")[:4])
    assert new["conv1"].out_channels == 4 and new["bn1"].input_shape[0] == 4
    assert np.array_equal(new.weights["conv1"], g.weights["conv1"][keep])
    assert new["conv2"].in_channels == 4 and np.array_equal(new.weights["conv2"], g.weights["conv2"][:, keep])
    keep_pw = np.sort(np.argsort(-np.sqrt((g.weights["pw"].reshape(10, -1) ** 2).sum(1)), kind="stable")[:4])
    assert new["pw"].out_channels == 4 and new["fc"].in_features == 4
    assert np.array_equal(new.weights["fc"], g.weights["fc"][:, keep_pw])
    assert new["fc"].output_shape == g["fc"].output_shape
    assert g["conv1"].out_channels == 8  # the input graph is unchanged
    assert any("kept" in n for n in notes["conv1"])


def test_channel_prune_refuses_residual_adds():
    g = graph_from_dict({"name": "res", "inputs": {"x": [4, 8, 8]}, "layers": [
        {"name": "a", "op": "conv2d", "out_channels": 4, "kernel": 3, "padding": 1},
        {"name": "b", "op": "conv2d", "out_channels": 4, "kernel": 3, "padding": 1},
        {"name": "add", "op": "add", "inputs": ["b", "x"]},
        {"name": "c", "op": "conv2d", "out_channels": 2, "kernel": 1}]})
    g = synthesize_weights(g)
    new, notes = S.channel_prune(g, {"a": {"sparsity": 0.5}, "b": {"sparsity": 0.5}, "c": {"sparsity": 0.5}})
    assert new["a"].out_channels == 2 and new["b"].in_channels == 2
    assert new["b"].out_channels == 4 and "add" in notes["b"][0]
    assert new["c"].out_channels == 2 and "graph output" in notes["c"][0]
    with pytest.raises(CompressionError, match="cannot propagate"):
        S.channel_prune(g, {"b": {"sparsity": 0.5, "strict": True}})


def test_public_substitution_helpers_are_pure():
    g = small_graph()
    a = S.svd_substitute(g, "fc", rank=2)
    b = S.tucker2_substitute(g, "conv2", rank_fraction=0.5)
    c = S.depthwise_separable_substitute(g, "conv1")
    assert "fc" in g and "conv2" in g and "conv1" in g  # input untouched
    assert a["fc.svd_v"].out_features == 2 and b["conv2.tk_core"].out_channels == 3
    assert c["conv1.dw"].groups == 3 and c["conv1.pw"].out_channels == 8
    with pytest.raises(CompressionError, match="exactly one"):
        S.svd_substitute(g, "fc")
    with pytest.raises(CompressionError, match="skipped"):
        S.depthwise_separable_substitute(g, "pw")


@pytest.mark.parametrize("keep", [1, 37, 20_000, 600_000, 1_100_000, 1_170_000, 1_179_648 - 3, 1_179_648])
def test_kth_largest_sampled_selection_is_exact(keep):
    # arrays above 16 * 2**16 elements pre-select candidates from a strided sample; the threshold must be
    # the one a full partition gives, with ties, constant runs and sorted data (a sample that misleads)
    rng = np.random.default_rng(keep)
    n = 1_179_648
    for x in (np.abs(rng.standard_normal(n)).astype(np.float32), rng.integers(0, 7, n).astype(np.float64),
              np.sort(rng.random(n)), np.zeros(n, np.float32)):
        assert P._kth_largest(x, keep) == np.partition(x, n - keep)[n - keep]
        mask = P._top_k_mask(x, keep)  # the k largest, never a zero score (fewer non-zeros: all of them)
        assert int(mask.sum()) == min(keep, int(np.count_nonzero(x))) and not (x[mask] == 0).any()
        assert x[mask].min() >= x[~mask].max() if 0 < mask.sum() < n else True


@pytest.mark.parametrize("keep", [1, 150_000, 589_824, 1_000_000, 1_179_648 - 1, 1_179_648])
def test_kth_largest_abs_by_bit_patterns_is_exact(keep):
    # float32 scores of large arrays where neither side holds under 1/8 (or the sampled bound fails) are
    # selected by counts of their bit patterns: the threshold a full partition of |w| gives, with signed
    # zeros, subnormals, ties and a handful of distinct values; and the mask top_k_abs_mask builds from it
    rng = np.random.default_rng(keep)
    n = 1_179_648
    sub = (rng.standard_normal(n) * 1e-40).astype(np.float32)
    sub[::3] = 0.0
    sub[1::7] = -0.0
    for w in (rng.standard_normal(n).astype(np.float32), (np.round(rng.standard_normal(n) * 8) / 8).astype(np.float32),
              sub, rng.choice(np.array([0, 1, -1, 2.5], np.float32), n)):
        ref = np.partition(np.abs(w), n - keep)[n - keep]
        got = P._kth_largest_abs(w, keep)
        assert got == ref and type(got) is type(ref)
        assert np.array_equal(P.top_k_abs_mask(w, keep), P._top_k_mask(np.abs(w), keep))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 40), st.integers(1, 300), st.integers(2, 8), st.booleans(), st.booleans(), st.integers(0, 2**31))
def test_quantize_uniform_rows_equals_the_dense_quantizer(rows, cols, bits, symmetric, per_channel, seed):
    """A matrix read by rows (a pruned layer's compact form) quantizes to the very LowBit of its dense form."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, cols)) * (rng.random((rows, cols)) < 0.4)).astype(np.float32)
    reads = []

    class Rows:  # the matrix read only by blocks of rows, each read recorded
        shape = x.shape

        def __getitem__(self, rows):
            reads.append((rows.start, rows.stop))
            return x[rows]

    read = Rows()
    a = Q.quantize_uniform(x, bits, symmetric=symmetric, per_channel=per_channel)
    b = Q.quantize_uniform_rows(read, bits, symmetric=symmetric, per_channel=per_channel)
    assert reads and all(r1 - r0 <= max(1, Q._BLOCK // cols) for r0, r1 in reads)
    assert np.array_equal(a.values_int, b.values_int) and a.values_int.dtype == b.values_int.dtype
    assert np.array_equal(np.asarray(a.scale), np.asarray(b.scale))
    assert np.array_equal(np.asarray(a.zero_point), np.asarray(b.zero_point))
    with pytest.raises(CompressionError):
        Q.quantize_uniform_rows(read, 1)


def test_nm_without_fillers_stores_the_kept_values_once():
    """Every group keeps exactly N: the stored values are the kept values (shared, read-only), the filler
    flags one shared False; with fillers (K not a multiple of M) each has its own array. Selectors uint8."""
    from accelsim.compress.tensors import Scattered

    rng = np.random.default_rng(5)
    for k, full in ((64, True), (65, False)):  # K = 65: the last group of each row keeps 1 of its 1
        w = rng.standard_normal((8, k)).astype(np.float32)
        mask = P.nm_mask(np.abs(w), 2, 4)
        kept = w[mask]
        t = NM(Scattered(mask, kept), 2, 4)
        assert t.metadata.dtype == np.uint8
        assert np.shares_memory(t.values, kept) == full and (not t.values.flags.writeable) == full
        assert int(t.is_padding.sum()) == (0 if full else 8) and t.kept == int(mask.sum())
        assert np.array_equal(t.to_dense(), np.where(mask, w, 0))
        assert np.array_equal(t.to_dense(), NM(np.where(mask, w, 0), 2, 4, mask=mask).to_dense())


def test_pruned_weights_are_read_by_reference_until_needed():
    """A layer pruned from its unmodified weights holds no gathered copy of its kept values: the quantizer reads
    its rows from the mask and the weights themselves (the same rows as from the gathered values), and a step
    that needs the kept values as an array gathers them once."""
    from accelsim.compress.recipe import _KeptRows, _State

    rng = np.random.default_rng(11)
    w = rng.standard_normal((40, 96)).astype(np.float32)
    w[3, :5] = -0.0  # signed zeros at kept positions survive either way
    mask = P.nm_mask(np.abs(w), 2, 4)
    mask[3, :5] = True
    lazy, gathered = _State("fc", w), _State("fc", w)
    for st in (lazy, gathered):
        st.mask = mask
    lazy.set_compact(None, source=w)
    gathered.set_compact(w[mask])
    assert lazy.compact and lazy._kept is None and lazy._kept_from is w
    a, b = _KeptRows(lazy), _KeptRows(gathered)
    assert a.source is w and b.source is None
    for r0, r1 in ((0, 7), (7, 40), (39, 45)):
        ra, rb = a[r0:r1], b[r0:r1]
        assert ra.dtype == rb.dtype == np.float32 and np.array_equal(ra.view(np.uint32), rb.view(np.uint32))
    assert lazy._kept is None  # reading rows gathered nothing
    assert np.array_equal(lazy.kept, w[mask]) and lazy._kept_from is None  # gathered on first use, then held


def test_graph_step_layers_report_no_error_against_an_original_of_another_shape():
    # svd factors and channel-pruned layers have no original of their shape: mse / sqnr are None (not 0 / inf,
    # which would read as lossless), and so is the graph's mse; the svd note carries the pair's truncation SQNR
    import re

    from accelsim.compress.recipe import compress
    from accelsim.workload.zoo import load_workload

    g = synthesize_weights(load_workload("lenet5"), seed=0)
    cg = compress(g, "svd-25")
    w = g.weight_matrix("ip1").astype(np.float64)
    for name in ("ip1.svd_v", "ip1.svd_u"):
        assert cg[name].stats["mse"] is None and cg[name].stats["sqnr_db"] is None
    assert cg["conv1"].stats["mse"] == 0.0  # skipped by the step: its own weights, unchanged
    assert cg.stats["mse"] is None
    pair = cg["ip1.svd_u"].weight_matrix.astype(np.float64) @ cg["ip1.svd_v"].weight_matrix
    direct = 10 * np.log10(np.sum(w ** 2) / np.sum((w - pair) ** 2))
    noted = float(re.search(r"SQNR ([-\d.]+) dB", cg["ip1.svd_v"].transforms[0]).group(1))
    assert noted == pytest.approx(direct, abs=0.05)
    ch = compress(g, "channel50")
    assert all(ch[n].stats["mse"] is None for n in ("conv1", "conv2", "ip1", "ip2")) and ch.stats["mse"] is None
    assert compress(g, "int8").stats["mse"] > 0


@pytest.mark.parametrize("magnitude", [1e-30, 1e30])
def test_l2_scores_rank_float32_weights_near_the_ends_of_their_range(magnitude):
    """Squared in float32, weights near 1e-30 underflow to 0 and near 1e30 overflow to infinity, so every tile or
    filter tied and the first ones were kept; the L2 scores are (|w| / max |w|)^2 in float64."""
    w = np.array([[1, 1, 3, 3]], np.float32) * np.float32(magnitude)
    assert P.block_mask(w, (1, 2), 0.5, "l2").tolist() == [[False, False, True, True]]
    filters = np.array([[1, 1], [3, 3]], np.float32) * np.float32(magnitude)
    scores = P.channel_scores(filters, "l2")
    assert np.allclose(scores, np.sqrt([2.0, 18.0]) * magnitude, rtol=1e-6)
    assert np.allclose(P.channel_scores(filters, "l1"), [2 * magnitude, 6 * magnitude], rtol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_pruning_refuses_nan_and_infinite_weights(bad):
    w = np.array([[bad, 0.5, 0.1, 0.2], [1.0, 2.0, 3.0, 4.0]])
    for prune in (lambda: P.magnitude_mask(w, 0.5), lambda: P.nm_mask(w, 2, 4),
                  lambda: P.block_mask(w, (1, 2), 0.5, "l2"), lambda: P.channel_scores(w, "l1")):
        with pytest.raises(CompressionError, match="NaN or infinite values \\(1 of"):
            prune()


def test_block_larger_than_the_matrix_is_one_tile_without_padding_to_the_block():
    """A recipe may ask for blocks up to 65536 x 65536: the tile is the matrix (it padded a float64 array to the
    block's size, 32 GiB)."""
    w = np.arange(12.0).reshape(3, 4)
    assert P.block_mask(w, (65536, 65536), 0.9).all()
    assert P.block_mask(w, (65536, 2), 0.5).tolist() == [[False, False, True, True]] * 3
