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
