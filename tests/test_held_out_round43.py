"""Defects a held-out round of 2026-12-07 (forty-third session) found, each a check, and the sweep's preparation of
a large grid (numbered once, its points checked with a progress line).

Compression against references of the helper's own (scipy.sparse, the OCP / DeepGEMM scale rules, E4M3's range):
a recipe's pipeline given as a tuple, FP8 blocks with E8M0 scales, a pointer width too narrow for its pointers,
magnitude pruning past a layer's non-zeros, an NVFP4 block far below its tensor's largest value.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

import accelsim
from accelsim.compress import formats as F
from accelsim.errors import ConfigError
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Input, Linear


def _linear(w: np.ndarray) -> LayerGraph:
    w = np.asarray(w, np.float32)
    g = LayerGraph("one")
    g.add(Input(name="x", shape=(w.shape[1],)))
    g.add(Linear(name="fc", input_shapes=((w.shape[1],),), out_features=w.shape[0], bias=False), ["x"])
    g.set_weight("fc", w)
    return g


# --- compression ----------------------------------------------------------------------------------------------

def test_a_pipeline_given_as_a_tuple_is_the_same_recipe_as_a_list():
    g = accelsim.load_workload("lenet5")
    steps = [{"prune": {"density": 0.5}}]
    as_list = accelsim.compress(g, {"name": "t", "pipeline": steps})
    as_tuple = accelsim.compress(g, {"name": "t", "pipeline": tuple(steps)})  # was the dense network, silently
    assert as_tuple.stats["density"] == as_list.stats["density"] == pytest.approx(0.5, abs=1e-3)
    assert as_tuple.stats["compression_ratio"] == as_list.stats["compression_ratio"]


@pytest.mark.parametrize("element", ["e4m3", "e5m2"])
def test_fp8_with_e8m0_scales_clips_no_block_maximum(element):
    # the scale is the power of two at or above amax / max_elem, so every block's largest element is encoded within
    # one element step (rounding down clipped it to max_elem x scale: up to 50% off)
    rng = np.random.default_rng(3)
    w = rng.standard_normal((16, 96)) * np.exp(rng.uniform(-6, 6, (16, 1)))
    q = F.quantize_float(w, element, (1, 32), "e8m0")
    fmt = F.element_format(element)
    scale = q.scales
    assert np.array_equal(scale, 2.0 ** np.round(np.log2(scale)))  # powers of two (E8M0)
    amax = np.abs(w).reshape(16, 3, 32).max(axis=2)
    assert (amax / scale <= fmt.max_value).all() and (amax / scale > fmt.max_value / 2).all()
    dense = q.to_dense()
    top = np.abs(w).reshape(16, 3, 32).argmax(axis=2)
    for r in range(16):
        for b in range(3):
            j = 32 * b + top[r, b]
            assert abs(dense[r, j] - w[r, j]) <= 2.0 ** -fmt.man_bits * abs(w[r, j])  # was 35% off


def test_e8m0_block_written_as_a_block_is_the_group_of_32():
    w = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    by_group = accelsim.compress(_linear(w), {"name": "g", "pipeline": [
        {"quantize": {"format": "fp8-e4m3", "group_size": 32, "scale_format": "e8m0"}}]})["fc"]
    by_block = accelsim.compress(_linear(w), {"name": "b", "pipeline": [
        {"quantize": {"format": "fp8-e4m3", "block": [1, 32], "scale_format": "e8m0"}}]})["fc"]  # was refused
    assert np.array_equal(by_group.weight.to_dense(), by_block.weight.to_dense())
    with pytest.raises(ConfigError, match="E8M0 scales cover blocks of 32 along K"):
        accelsim.compress(_linear(w), {"name": "b", "pipeline": [
            {"quantize": {"format": "fp8-e4m3", "block": [2, 32], "scale_format": "e8m0"}}]})


def test_a_pointer_width_too_narrow_is_refused_naming_the_field(tmp_path, run_cli):
    recipe = tmp_path / "narrow.yaml"
    recipe.write_text("name: narrow\npipeline:\n  - prune: {density: 0.5}\n  - encode: {format: csr, pointer_bits: 2}\n")
    code, out, err = run_cli("compress", "--workload", "lenet5", "--recipe", recipe)
    assert code == 2 and len(err.strip().splitlines()) == 1  # was exit 0 with 2-bit pointers counted
    assert "pipeline[1].encode" in err and "pointer_bits=2" in err and "need" in err
    # a width left to the format is always enough, and a wide enough one is taken
    wide = accelsim.compress(accelsim.load_workload("lenet5"), {"name": "w", "pipeline": [
        {"prune": {"density": 0.5}}, {"encode": {"format": "csr", "pointer_bits": 20}}]})
    assert wide["ip1"].weight.pointer_bits == 20  # 200,000 entries: 18 bits needed


def test_csr_absolute_indices_name_the_columns_they_address(tmp_path, run_cli):
    recipe = tmp_path / "abs.yaml"
    recipe.write_text("name: a\npipeline:\n  - prune: {density: 0.5}\n"
                      "  - encode: {format: csr, index_bits: 2, relative: false}\n")
    code, _, err = run_cli("compress", "--workload", "lenet5", "--recipe", recipe)
    assert code == 2 and "pipeline[1].encode of layer 'conv1'" in err and "25 columns" in err  # a row has K = 25


@pytest.mark.parametrize("fmt", ["csr", "csc", "bitmask"])
def test_magnitude_pruning_past_the_non_zeros_stores_what_scipy_stores(fmt):
    # 9 x 40 with 3 all-zero rows (240 non-zeros), density 0.7 asks for 252: the 12 exact zeros are not kept
    rng = np.random.default_rng(2)
    w = rng.standard_normal((9, 40)).astype(np.float32)
    w[[1, 4, 7]] = 0.0
    cl = accelsim.compress(_linear(w), {"name": "p", "pipeline": [{"prune": {"density": 0.7}},
                                                                  {"encode": {"format": fmt}}]})["fc"]
    ref = sp.csr_matrix(cl.weight_matrix)
    assert ref.nnz == 240 and cl.stats["nnz"] == 240
    assert cl.weight.stored_entries == 240  # was 252: the kept zeros stored as entries
    assert cl.weight.storage_bits().payload == 240 * 32


def test_global_and_streamed_magnitude_masks_keep_no_zero():
    from accelsim.compress import prune as P

    w = np.zeros((64, 64), np.float32)
    w[:8] = np.random.default_rng(0).standard_normal((8, 64))
    assert P.top_k_abs_mask(w, 1000).sum() == 512 == P._top_k_mask(np.abs(w), 1000).sum()
    thr, ties = P.global_magnitude_plan(lambda: [("a", w)], 0.5)  # 2,048 asked, 512 non-zeros
    assert P.threshold_mask(w, thr, ties.get("a", 0)).sum() == 512


def test_nvfp4_block_far_below_the_tensor_keeps_its_values():
    w = np.zeros((1, 32), np.float32)
    w[0, :16] = np.linspace(-1, 1, 16)
    w[0, 16:] = np.linspace(-2e-6, 2e-6, 16)
    q = F.quantize_nvfp4(w)
    assert q.scales[0, 1] == 2.0 ** -9  # E4M3's smallest positive value (was 0: the block decoded to zeros)
    small = q.to_dense()[0, 16:]
    assert np.count_nonzero(small) > 8 and np.abs(small - w[0, 16:]).max() < 1e-6


# --- sweeps: a large grid prepared once ------------------------------------------------------------------------

def _reference_points(space, normalize):
    """The numbering a sweep used before (points, then each normalized and numbered again)."""
    from accelsim.dse.space import Point, point_id, same_text

    out, seen = [], set()
    for p in space.points():
        setting = normalize(p.setting)
        same = same_text(setting)
        if same not in seen:
            seen.add(same)
            out.append(Point(len(out), point_id(setting), setting, p.source))
    return out


def test_points_numbered_once_equal_the_two_step_numbering():
    from accelsim.dse.evaluate import SimulateEvaluator
    from accelsim.dse.space import space_from_spec

    spec = {"base": {"workload": "lenet5", "arch": "edge-32x32"},
            "spaces": [{"grid": {"arch.array.rows": [8, 16], "batch": [1, 2.0]}},
                       {"grid": {"arch.array.rows": [8.0, 16.0, 32], "batch": [1, 2]}},
                       {"points": [{"arch.sram.ifmap_kb": 4.5}, {"seed": 0}, {"recipe": {"name": "r", "pipeline": [
                           {"prune": {"density": 0.5}}]}}]}]}
    space = space_from_spec(spec)
    normalize = SimulateEvaluator().normalize
    got, ref = space.points(normalize), _reference_points(space, normalize)
    assert [(p.index, p.id, p.setting, p.source) for p in got] == [(p.index, p.id, p.setting, p.source) for p in ref]
    assert len(got) == 9  # 8 and 8.0, batch 2.0 and 2, 16 and 16.0, seed 0 and the default: one point each
    assert all(p.id == __import__("accelsim.dse.space", fromlist=["point_id"]).point_id(p.setting) for p in got)


def test_checking_many_points_shows_its_own_progress(tmp_path, monkeypatch, capsys):
    import importlib

    sweep_module = importlib.import_module("accelsim.dse.sweep")
    monkeypatch.setattr(sweep_module, "CHECK_PROGRESS_POINTS", 10)
    monkeypatch.setattr(sweep_module, "PLAIN_PROGRESS_S", 0.0)
    spec = {"base": {"workload": "lenet-300-100", "arch": "edge-32x32"},
            "grid": {"arch.array.rows": [8, 16, 32, 64], "arch.array.cols": [8, 16, 32]}}
    df = accelsim.sweep(spec, progress=True)
    assert len(df) == 12 and (df["status"] == "ok").all()
    err = capsys.readouterr().err
    assert "check: 12/12 points" in err and "sweep: 12/12 points" in err
    df = accelsim.sweep(spec, progress=False)  # --quiet: nothing
    assert "check:" not in capsys.readouterr().err


def test_planned_columns_from_the_key_lists():
    import importlib

    sweep_module = importlib.import_module("accelsim.dse.sweep")
    spec = {"base": {"workload": "lenet5", "arch": "edge-32x32"},
            "spaces": [{"grid": {"arch.array.rows": [8, 16]}}, {"points": [{"batch": 4}, {"tag.run": "x"}]}]}
    cols = sweep_module.planned_columns(spec)
    for key in ("workload", "arch", "arch.array.rows", "batch", "seed", "tag.run", "latency_s"):
        assert key in cols
    assert json.dumps(cols) == json.dumps(sweep_module.planned_columns(spec))  # deterministic order


def test_interleaved_pointers_hold_a_columns_span_in_one_pe(tmp_path, run_cli):
    # EIE's PEs read a column's entries as the difference of two pointers: the width must hold that span, not the
    # PE's total (VGG-6 at 64 PEs holds 100,939 entries in one PE under EIE's 16-bit pointers)
    def recipe(bits):
        return {"name": "il", "pipeline": [{"prune": {"density": 0.3}}, {"encode": {
            "format": "interleaved_csc", "n_pe": 4, "index_bits": 4, "pointer_bits": bits}}]}

    cg = accelsim.compress(accelsim.load_workload("lenet5"), recipe(8))
    t = cg["ip1"].weight
    assert t.pointer_overflow and int(np.diff(t.pe_ptr, axis=1).max()) < 256  # counted at 8 bits, as given
    assert t.storage_bits().pointer == 4 * (t.shape[1] + 1) * 8
    with pytest.raises(ConfigError, match=r"pipeline\[1\]\.encode of layer 'conv1': pointer_bits=2 cannot hold a col"):
        accelsim.compress(accelsim.load_workload("lenet5"), recipe(2))


# --- LLM phases on systolic arrays: the KV cache at its own bits ----------------------------------------------

TINY_LLAMA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 700, "num_attention_heads": 4,
              "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1000, "max_position_embeddings": 4096}


def _tiny(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_LLAMA))
    return str(path)


def _attention_read(result) -> int:
    return sum(l.dram_read_bytes for l in result.layers if l.name.endswith(("scores", "context")))


@pytest.mark.parametrize("arch", ["scalesim-google", "edge-32x32"])
def test_systolic_decode_reads_the_kv_cache_at_its_bits(tmp_path, arch):
    from accelsim.dse import serving

    cfg = _tiny(tmp_path)
    read = {b: _attention_read(serving.simulate_phase(arch, cfg, "decode", context=1024, kv_bits=b))
            for b in (4, 8, 16)}
    # the cache's part doubles from 4 to 8 to 16 bits (the query's part, re-read on a small array, stays): every
    # width read 8 bits an element before, the array's word
    assert read[16] - read[8] == pytest.approx(2 * (read[8] - read[4]), rel=1e-6) and read[8] - read[4] > 0
    kv = 2 * TINY_LLAMA["num_hidden_layers"] * TINY_LLAMA["num_key_value_heads"] * 64 * 1024 * 2  # 16-bit bytes
    assert read[16] >= kv


def test_systolic_batched_network_equals_layer_by_layer_with_kv_and_wide_activations(tmp_path):
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.compress.recipe import compress, load_recipe
    from accelsim.dse.evaluate import config_for
    from accelsim.dse.serving import phase_graph
    from accelsim.hw.registry import build_model

    graph, batch = phase_graph(_tiny(tmp_path), "decode", context=300, batch=2, kv_bits=4)
    plain, _ = phase_graph(_tiny(tmp_path), "decode", context=300, batch=2)
    model = build_model(config_for("edge-32x32", {"memory_model": "analytic"}))
    for cg in (CompressedGraph.dense(graph), compress(plain, load_recipe("kv-int4"))):  # kv-int4: 16-bit activations
        layers = list(cg)
        want = [model.simulate(cl, batch) for cl in layers]
        got = model.simulate_layers(model.plan_layers(layers, batch))
        assert [json.dumps(g.to_dict(with_actions=True)) for g in got] == \
               [json.dumps(w.to_dict(with_actions=True)) for w in want]


def test_systolic_wider_activations_move_their_bits():
    # 16-bit activations on 8-bit PEs run two passes and read / write two bytes an element (were one)
    r8 = accelsim.simulate("edge-32x32", "lenet-300-100", dense_baseline=False)
    r16 = accelsim.simulate("edge-32x32", "lenet-300-100", overrides={}, dense_baseline=False,
                            recipe={"name": "a16", "pipeline": [{"activations": {"bits": 16}}]})
    for name in ("fc1", "fc2"):
        a, b = r8.layer(name), r16.layer(name)
        assert b.dram_write_bytes == 2 * a.dram_write_bytes
        assert b.extra["dram_words"]["ifmap"] == 2 * a.extra["dram_words"]["ifmap"]


@pytest.mark.parametrize("arch", ["edge-tpu", "gemmini-edge"])
def test_npu_decode_reads_its_kv_cache_from_dram_and_writes_its_appends(tmp_path, arch):
    # a cache is state kept in DRAM between steps: never resident as an activation the layer before left on chip
    from accelsim.dse import serving

    r = serving.simulate_phase(arch, _tiny(tmp_path), "decode", context=256)
    read = _attention_read(r)
    appended = sum(l.dram_write_bytes for l in r.layers if l.name.endswith("_append"))
    assert read >= r.extra["memory"]["kv"] > 0  # was 0 bytes: the small cache judged resident
    assert appended == 2 * TINY_LLAMA["num_hidden_layers"] * TINY_LLAMA["num_key_value_heads"] * 64 * 2  # was 0


@pytest.mark.parametrize("capacity_gib,said", [(0.001, "the weights alone do not fit"),
                                               (0.006, "fit; one sequence's KV cache")])
def test_memory_warning_says_which_part_does_not_fit(tmp_path, capacity_gib, said):
    from accelsim.dse import serving

    r = serving.simulate_phase("h100-sxm", _tiny(tmp_path), "decode", context=4096,
                               overrides={"dram_capacity_gib": capacity_gib})
    mem = r.extra["memory"]
    assert not mem["fits"] and mem["max_batch"] == 0
    warning = next(w for w in r.warnings if "KV cache of batch 1" in w)
    assert said in warning  # was "the weights alone do not fit" whenever no batch fitted


def test_generate_defaults_are_the_command_lines(tmp_path, run_cli):
    from accelsim.dse import serving

    cfg = _tiny(tmp_path)
    api = serving.simulate_generate("a100-80gb", cfg, points=2, dense_baseline=False)
    code, out, _ = run_cli("simulate", "--arch", "a100-80gb", "--workload", cfg, "--phase", "generate",
                           "--decode-points", "2", "--format", "json")
    assert code == 0
    cli = json.loads(out)
    assert api.extra["serving"]["prompt"] == cli["extra"]["serving"]["prompt"] == 128  # the API took 512 and 512
    assert api.total["latency_s"] == cli["total"]["latency_s"]


def test_an_odd_head_size_names_the_field_the_config_gives(tmp_path):
    cfg = dict(TINY_LLAMA, model_type="mistral", head_dim=125)
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(accelsim.WorkloadError, match="head_dim gives 125-feature heads"):  # named partial_rotary_factor
        accelsim.load_workload(str(path))


# --- k-means: empty clusters relocated as scikit-learn does (an option; Deep Compression's drop stays the default)

def _kmeans_cases():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(37 * 53)
    w[np.abs(w) < np.quantile(np.abs(w), 0.9)] = 0.0
    outlier = rng.standard_normal(2000)
    outlier[:5] = 40.0
    return [("pruned", w[w != 0], 6), ("outlier", outlier, 6), ("gauss", rng.standard_normal(3000), 4)]


@pytest.mark.parametrize("name,x,bits", _kmeans_cases())
def test_kmeans_relocate_equals_its_textbook_twin_and_scikit_learn(name, x, bits):
    from accelsim.compress import _reference as R
    from accelsim.compress import kmeans as KM

    xs = np.sort(x.astype(np.float64))
    init = np.linspace(xs[0], xs[-1], 1 << bits)
    for empty in KM.EMPTY:
        c, _, it = KM.kmeans_1d_sorted(xs, init, 100, 0.0, empty)
        cr, _, itr = R.kmeans_1d_sorted(xs, init, 100, 0.0, empty)
        assert np.allclose(c, cr, rtol=1e-12, atol=1e-15) and it == itr
    codes, table = KM.kmeans_1d(x, bits, empty="relocate")
    mse = float(np.mean((table[codes] - x) ** 2))
    dropped_codes, dropped = KM.kmeans_1d(x, bits)
    assert mse <= float(np.mean((dropped[dropped_codes] - x) ** 2))
    sklearn = pytest.importorskip("sklearn.cluster")
    km = sklearn.KMeans(1 << bits, init=init.reshape(-1, 1), n_init=1, algorithm="lloyd", max_iter=100, tol=0)
    km.fit(x.reshape(-1, 1))
    assert mse == pytest.approx(float(np.mean((km.cluster_centers_[km.labels_, 0] - x) ** 2)), rel=1e-6)


def test_share_step_takes_empty_relocate():
    g = accelsim.load_workload("lenet-300-100")
    steps = lambda empty: {"name": "dc", "pipeline": [{"prune": {"density": 0.1}},  # noqa: E731
                                                      {"share": {"bits": 6, "empty": empty}}]}
    dropped, moved = accelsim.compress(g, steps("drop")), accelsim.compress(g, steps("relocate"))
    assert moved["fc1"].weight.table.size == 64 > dropped["fc1"].weight.table.size  # fc1 kept 41 of 64 before
    assert moved["fc1"].stats["quant_mse"] < dropped["fc1"].stats["quant_mse"]
    with pytest.raises(ConfigError, match="empty"):
        accelsim.compress(g, steps("keep"))


# --- Hugging Face checkpoints: what a packed layer stores is what is costed; shapes and biases checked ----------

def _checkpoint_helpers():
    from tests.test_hf_checkpoint import TINY as HF_TINY
    from tests.test_hf_checkpoint import _pack_along_last, write_safetensors

    return HF_TINY, _pack_along_last, write_safetensors


CK_LAYER = "model.layers.0.mlp.down_proj"  # (16 outputs, 32 inputs) in the tiny config


def _gptq_layer(act_order: bool):
    _, pack, _ = _checkpoint_helpers()
    rng = np.random.default_rng(7)
    n, k, group = 16, 32, 8
    codes, zeros = rng.integers(0, 16, (n, k), dtype=np.uint8), rng.integers(1, 16, (n, k // group), dtype=np.uint8)
    g_idx = (np.arange(k) // group).astype(np.int32)
    if act_order:
        g_idx = rng.permutation(g_idx).astype(np.int32)
    scales = rng.uniform(0.01, 0.1, (k // group, n)).astype(np.float16)
    tensors = {f"{CK_LAYER}.qweight": ("I32", pack(codes, 4).T.copy()),
               f"{CK_LAYER}.qzeros": ("I32", pack(((zeros.T.astype(np.int32) - 1) & 15).astype(np.uint8), 4)),
               f"{CK_LAYER}.scales": ("F16", scales), f"{CK_LAYER}.g_idx": ("I32", g_idx)}
    want = (codes.astype(np.float32) - zeros[:, g_idx]) * scales.T.astype(np.float32)[:, g_idx]
    return tensors, want


@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_g_idx_is_read_and_costed(tmp_path, act_order):
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.workload.hf import load_hf
    from accelsim.workload.weights import load_checkpoint

    hf_tiny, _, write = _checkpoint_helpers()
    tensors, want = _gptq_layer(act_order)
    write(tmp_path / "model.safetensors", tensors)
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": {"quant_method": "gptq", "bits": 4,
                                                                               "group_size": 8}}))
    g = load_checkpoint(load_hf(hf_tiny, phase="decode", context=8), tmp_path)
    cl = CompressedGraph.dense(g)[CK_LAYER]
    stored = g.metadata["hf"]["packed"][CK_LAYER]["stored_bits"]
    assert cl.weight_storage_bits(16) == stored == 16 * 32 * 4 + 4 * 16 * 16 + 4 * 16 * 4 + 32 * 32  # was 32 * 32 less
    np.testing.assert_allclose(cl.weight.to_dense(), want, rtol=1e-6)  # act order: each column its group's scale
    assert any("act-order g_idx" in n for n in g.metadata["notes"]) == act_order


def test_symmetric_compressed_tensors_cost_no_zero_points(tmp_path):
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.workload.hf import load_hf
    from accelsim.workload.weights import load_checkpoint

    hf_tiny, pack, write = _checkpoint_helpers()
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 16, (16, 32), dtype=np.uint8)
    write(tmp_path / "model.safetensors", {
        f"{CK_LAYER}.weight_packed": ("I32", pack(codes, 4)),
        f"{CK_LAYER}.weight_scale": ("F16", rng.uniform(0.01, 0.1, (16, 4)).astype(np.float16)),
        f"{CK_LAYER}.weight_shape": ("I64", np.array([16, 32], np.int64))})
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": {
        "quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"group_0": {
            "targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group",
                                               "group_size": 8}}}}}))
    g = load_checkpoint(load_hf(hf_tiny, phase="decode", context=8), tmp_path)
    cl = CompressedGraph.dense(g)[CK_LAYER]
    assert cl.weight_storage_bits(16) == g.metadata["hf"]["packed"][CK_LAYER]["stored_bits"] == 16 * 32 * 4 + 64 * 16


@pytest.mark.parametrize("shape", [(8, 1), (1, 16)])
def test_fp8_channel_scale_of_another_shape_is_refused(tmp_path, shape):
    hf_tiny, _, write = _checkpoint_helpers()
    write(tmp_path / "model.safetensors", {f"{CK_LAYER}.weight": ("F8_E4M3", np.full((16, 32), 0x38, np.uint8)),
                                            f"{CK_LAYER}.weight_scale": ("F32", np.ones(shape, np.float32))})
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": {
        "quant_method": "compressed-tensors", "format": "float-quantized", "config_groups": {"group_0": {
            "targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}}}))
    from accelsim.workload.hf.checkpoint import Checkpoint

    with pytest.raises(accelsim.WorkloadError, match="does not match the config's FP8 strategy 'channel'"):
        Checkpoint(tmp_path).packed(CK_LAYER)  # was read as blocks of 2 rows / one scale a column


def test_missing_biases_are_noted_and_refused_under_strict(tmp_path):
    from accelsim.workload.hf import load_hf
    from accelsim.workload.hf.checkpoint import attach_weights
    from accelsim.workload.weights import load_checkpoint

    hf_tiny, _, write = _checkpoint_helpers()
    g = load_hf({**hf_tiny, "model_type": "qwen2"}, phase="decode", context=8)  # q / k / v carry biases
    write(tmp_path / "model.safetensors", {f"{layer.name}.weight": ("F32", np.ones(layer.weight_shape, np.float32))
                                           for layer in g.layers if layer.weight_shape is not None})
    out = load_checkpoint(g, tmp_path)
    assert len(out.metadata["hf"]["biases_missing"]) == 3 * hf_tiny["num_hidden_layers"]
    assert any("no bias for" in n for n in out.metadata["notes"])
    with pytest.raises(accelsim.WorkloadError, match="no bias for .* layer"):
        attach_weights(g, tmp_path, strict=True)


def test_an_index_is_a_sharded_checkpoint_and_names_shards_in_its_folder(tmp_path):
    from accelsim.workload.hf.checkpoint import Checkpoint

    _, _, write = _checkpoint_helpers()
    a = np.arange(8, dtype=np.float32)
    shards = tmp_path / "shards"
    shards.mkdir()
    write(shards / "model-00001-of-00001.safetensors", {"a": ("F32", a)})
    (shards / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "model-00001-of-00001.safetensors"}}))
    assert list(Checkpoint(shards / "model.safetensors.index.json").tensors) == ["a"]  # was "header of 7e18 bytes"
    write(tmp_path / "outside.safetensors", {"b": ("F32", a)})
    (shards / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "model-00001-of-00001.safetensors", "b": "../outside.safetensors"}}))
    with pytest.raises(accelsim.WorkloadError, match="outside the folder"):
        Checkpoint(shards)


# --- command line: --out written whole or not at all, never removing what was there ----------------------------

def test_a_failed_out_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    import errno
    import os

    from accelsim.cli import output

    out = tmp_path / "r.json"
    out.write_text("old\n")
    real_replace = os.replace

    def full(src, dst):  # the disk fills as the new text is put in place
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(output.os, "replace", full)
    with pytest.raises(accelsim.AccelsimError, match="r.json: cannot write \\(no space left on the device\\)"):
        output.write("new", str(out))
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # was removed
    monkeypatch.setattr(output.os, "replace", real_replace)
    output.write("new", str(out))
    assert out.read_text() == "new\n" and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_out_to_a_device_is_written_in_place(tmp_path):
    import os
    import stat

    from accelsim.cli import output

    output.write("text", os.devnull)  # a character device: opened and written, never replaced by a file
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.parametrize("where,said", [("missing/x.json", "its directory does not exist"), (".", "is a directory")])
def test_an_unwritable_out_is_refused_before_the_simulation(tmp_path, run_cli, monkeypatch, where, said):
    from accelsim.hw.systolic import model as systolic

    def never(*a, **k):  # the simulation must not run
        raise AssertionError("simulated before refusing --out")

    monkeypatch.setattr(systolic.SystolicModel, "count", never)
    code, out, err = run_cli("simulate", "--arch", "edge-32x32", "--workload", "lenet5", "--out", tmp_path / where)
    assert code == 2 and said in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["", ","])
def test_an_empty_group_by_is_refused(tmp_path, run_cli, value):
    spec = tmp_path / "s.yaml"
    spec.write_text("base: {workload: lenet-300-100, arch: edge-32x32}\ngrid: {arch.array.rows: [8, 16]}\n"
                    "objectives: {latency_s: min, energy_j: min}\n")
    code, _, err = run_cli("report", spec, "--out", tmp_path / "r", "--group-by", value)  # was: groups pooled
    assert code == 2 and "--group-by: expected column names" in err and len(err.strip().splitlines()) == 1


def test_an_eie_entry_width_refusal_names_the_override(run_cli):
    code, _, err = run_cli("show", "arch", "eie", "--set", "encoding.weight_index_bits=16")
    assert code == 2 and "with override encoding.weight_index_bits=16" in err


def test_a_tradeoff_of_a_sweep_without_recipes_says_so(tmp_path, run_cli):
    spec = tmp_path / "s.yaml"
    spec.write_text("base: {workload: lenet-300-100, arch: edge-32x32}\ngrid: {arch.array.rows: [8, 16]}\n")
    assert run_cli("sweep", spec, "--out", tmp_path / "r", "--quiet")[0] == 0
    code, _, err = run_cli("plot", tmp_path / "r", "--kind", "tradeoff", "--out", tmp_path / "t.png")
    assert code == 2 and "at least two compression levels" in err and "ratio recipe" not in err


def test_compress_shows_the_workload_import_notes(tmp_path, run_cli):
    hf_tiny, _, write = _checkpoint_helpers()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({**hf_tiny, "model_type": "qwen2"}))
    from accelsim.workload.hf import load_hf

    g = load_hf({**hf_tiny, "model_type": "qwen2"}, phase="decode", context=8)
    write(tmp_path / "model.safetensors", {f"{layer.name}.weight": ("F32", np.ones(layer.weight_shape, np.float32))
                                           for layer in g.layers if layer.weight_shape is not None})
    code, out, _ = run_cli("compress", "--workload", cfg, "--weights", tmp_path / "model.safetensors", "--recipe", "int8")
    assert code == 0 and "workload import notes:" in out and "no bias for" in out  # compress printed none
    code, out, _ = run_cli("compress", "--workload", cfg, "--weights", tmp_path / "model.safetensors", "--recipe", "int8",
                           "--format", "json")
    assert code == 0 and any("no bias for" in n for n in json.loads(out)["workload_notes"])


def test_eie_pointer_width_must_hold_a_columns_span(tmp_path, run_cli):
    wl = tmp_path / "fc.yaml"
    wl.write_text("name: fc\ninputs: {x: [512]}\nlayers:\n  - {name: fc, op: linear, out_features: 256}\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\npipeline:\n  - prune: {density: 0.3}\n  - share: {bits: 4}\n")
    code, _, err = run_cli("simulate", "--arch", "eie", "--workload", wl, "--recipe", recipe,
                           "--set", "encoding.pointer_bits=1")  # was run, with 1-bit pointers counted
    assert code == 2 and "encoding.pointer_bits 1 cannot hold a column's" in err
    assert run_cli("simulate", "--arch", "eie", "--workload", wl, "--recipe", recipe)[0] == 0


def test_torch_import_notes_params_it_does_not_hold_as_layers():
    torch = pytest.importorskip("torch")
    from accelsim.workload.io_torch import load_torch

    class Positions(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pos = torch.nn.Embedding(16, 8)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(x + self.pos(torch.arange(16)))

    torch.manual_seed(0)
    g = load_torch(Positions().eval(), torch.randn(1, 16, 8))
    held = g.metadata["torch"]["params"]
    assert held == 16 * 8 + 8 * 4 + 4
    assert g.total_params == 8 * 4 + 4  # the exporter folds the constant-index lookup into a constant
    assert any(f"the graph's layers hold 36 params, the module {held:,}" in n for n in g.metadata["notes"])  # was none
