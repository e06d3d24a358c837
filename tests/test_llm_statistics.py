"""The statistics path (issue 13 item 5): a value-free recipe on shapes alone gives the same WeightView fields,
stored bits, transforms and quantization operators as the real-array path, for every bundled LLM recipe."""

from __future__ import annotations

import pytest

from accelsim.compress.recipe import compress
from accelsim.errors import ConfigError, WorkloadError
from accelsim.workload.hf import load_hf

LLM_RECIPES = ("w4a16-g128", "w4a16-g32", "w8a16", "w8a8-int8", "fp8-e4m3", "fp8-block128", "mxfp4", "nvfp4",
               "kv-int4", "2of4-w4a16", "2of4-int8", "int8", "w4a16")
TINY = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 384, "num_attention_heads": 4,
        "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 320, "max_position_embeddings": 512}
VIEW_FIELDS = ("shape", "layout", "value_bits", "index_bits", "element_format", "scale_format", "scale_bits",
               "group_size", "scale_block", "zero_point_bits", "tensor_scale_bits", "g_idx_bits", "nm",
               "bits_per_element", "stored_bits", "scale_bits_per_weight")


@pytest.fixture(scope="module")
def tiny():
    return load_hf(TINY, phase="decode", context=64)


INLINE = {
    "overrides": {"name": "ovr", "pipeline": [
        {"quantize": {"bits": 4, "symmetric": False, "group_size": 128, "scale_format": "fp16", "zero_point_bits": 4}},
        {"activations": {"bits": 16}}],
        "overrides": {"lm_head": {"skip": True}, "*.down_proj": {"quantize": {"group_size": 64}},
                      "*.o_proj": {"quantize": None}}},
    "act-order": {"name": "gptq-ao", "pipeline": [
        {"quantize": {"bits": 3, "symmetric": False, "group_size": 64, "scale_format": "bf16", "act_order": True}}]},
    "per-tensor": {"name": "sym-pt", "pipeline": [{"quantize": {"bits": 6}}, {"activations": {"bits": 8}}]},
    "fp8-g32-e8m0": {"name": "fp8-e8", "pipeline": [{"quantize": {"format": "fp8-e5m2", "group_size": 32,
                                                                   "scale_format": "e8m0"}}]},
    "g100-partial": {"name": "g100", "pipeline": [  # K = 256 or 512: groups of 100 end each row partial
        {"quantize": {"bits": 4, "symmetric": False, "group_size": 100, "scale_format": "fp16", "zero_point_bits": 4}}]},
    "1of4-nvfp4": {"name": "nm-nv", "pipeline": [{"prune": {"method": "nm", "n": 1, "m": 4}}, {"quantize": {"format": "nvfp4"}},
                                                  {"activations": {"bits": 8, "format": "e4m3", "granularity": "per_token"}}]},
}


@pytest.mark.parametrize("recipe", list(LLM_RECIPES) + [pytest.param(v, id=k) for k, v in INLINE.items()])
def test_statistics_equal_real_arrays(tiny, recipe):
    real = compress(tiny, recipe, statistics=False)
    stat = compress(tiny, recipe, statistics=True)
    assert stat.stats["statistics"] and "statistics" not in real.stats
    assert stat.kv_format == real.kv_format
    weighted = [cl.name for cl in real if cl.layer.has_weights]
    assert len(weighted) == 8  # q k v o gate up down lm_head
    for name in [cl.name for cl in real]:
        r, s = real[name], stat[name]
        assert (r.weight_bits, r.activation_bits, r.nm, r.transforms) == (s.weight_bits, s.activation_bits, s.nm, s.transforms)
        assert r.quant_ops == s.quant_ops
        assert r.weight_storage_bits(16) == s.weight_storage_bits(16)
        if name not in weighted:
            continue
        rv, sv = r.view, s.view
        for f in VIEW_FIELDS:
            assert getattr(rv, f) == getattr(sv, f), (recipe, name, f)
        assert rv.bits == sv.bits
        # stored positions: the real view's non-zeros plus the values quantization rounded to zero
        assert sv.nnz == rv.nnz + r.stats["rounded_zeros"]
        assert sv.is_statistics and not rv.is_statistics and sv.matrix is None and sv.pattern is None
        for key in ("params", "stored_entries", "format", "bits", "dense_bits", "storage_ratio", "macs",
                    "weight_bits", "activation_bits"):
            assert r.stats[key] == s.stats[key], (recipe, name, key)
    for key in ("params", "params_after", "bits", "dense_bits", "compressed_bytes", "storage_ratio", "macs"):
        assert real.stats[key] == stat.stats[key], key


def test_bits_per_element_formulas(tiny):
    q = "model.layers.0.self_attn.q_proj"
    expect = {"w4a16-g128": 4 + 20 / 128, "w4a16-g32": 4 + 20 / 32, "mxfp4": 4.25, "nvfp4": 4.5 + 32 / 256 ** 2,
              "w8a16": 8 + 16 / 256, "2of4-w4a16": 3 + 16 / 128, "fp8-e4m3": 8 + 32 / 256 ** 2}
    for recipe, bpe in expect.items():
        assert compress(tiny, recipe, statistics=True)[q].view.bits_per_element == pytest.approx(bpe, rel=1e-12)


def test_value_dependent_recipes_refused(tiny):
    share = {"name": "share4", "pipeline": [{"share": {"bits": 4}}]}
    for recipe in ("magnitude-4", share):
        with pytest.raises(ConfigError, match="depends on the|depend on the"):
            compress(tiny, recipe, statistics=True)
    with pytest.raises(ConfigError, match="statistics must be"):
        compress(tiny, "w4a16-g128", statistics="yes")


def test_7b_config_takes_the_statistics_path_by_default(monkeypatch):
    import pathlib

    llama = pathlib.Path(__file__).parent / "data" / "hf" / "llama-2-7b.json"
    g = load_hf(llama, phase="decode", context=2048)
    cg = compress(g, "w4a16-g128")
    assert cg.stats["statistics"] and not g.weights
    # int4 + fp16 scale + 4-bit zero point per 128: 4.15625 bits for every matrix (K = 4096 or 11008)
    assert cg.stats["bits"]["total"] == pytest.approx(6607077376 * 4.15625, rel=0, abs=0)
    with pytest.raises(WorkloadError, match="cannot run prune method magnitude"):
        compress(g, "magnitude-4")
    monkeypatch.setenv("ACCELSIM_MAX_GRAPH_WEIGHTS", str(10 ** 10))  # under the budget: arrays (not run: 26 GB)
    tiny = load_hf(TINY, phase="decode", context=64)
    assert "statistics" not in compress(tiny, "w4a16-g128").stats


def test_bad_group_size_one_line(tiny):
    bad = {"name": "g0", "pipeline": [{"quantize": {"bits": 4, "group_size": 0, "symmetric": False,
                                                    "zero_point_bits": 4}}]}
    for statistics in (True, False):
        with pytest.raises(ConfigError, match="group_size") as exc:
            compress(tiny, bad, statistics=statistics)
        assert "\n" not in str(exc.value)
    e8m0 = {"name": "e8", "pipeline": [{"quantize": {"format": "fp8-e4m3", "group_size": 64, "scale_format": "e8m0"}}]}
    with pytest.raises(ConfigError, match="E8M0"):
        compress(tiny, e8m0, statistics=True)


def test_provenance_says_no_weight_was_synthesized_on_the_statistics_path(tiny):
    from accelsim.report.provenance import provenance

    stat = compress(tiny, "w4a16-g128", statistics=True)
    real = compress(tiny, "w4a16-g128", statistics=False)
    p_stat = provenance({}, None, tiny, stat.recipe, None, seed=0)
    p_real = provenance({}, None, tiny, real.recipe, None, seed=0)
    assert p_stat["weights"].startswith("none (statistics path") and not p_stat["seed_matters"]
    assert p_real["weights"] == "synthesized he_normal seed 0" and p_real["seed_matters"]
