"""generate = one prefill + G decode steps with the growing KV cache (issue 13 item 1), MoE batches (item 2),
the KV format on the layers (item 3) and memory capacity (item 6), on small configs."""

from __future__ import annotations

import pytest

from accelsim.compress.recipe import compress
from accelsim.dse.serving import decode_steps, max_batch, memory_bytes, simulate_generate, simulate_phase
from accelsim.workload.hf import load_hf, model_spec

TINY = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 384, "num_attention_heads": 4,
        "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 320, "max_position_embeddings": 4096}
TINY_MOE = {"model_type": "mixtral", "hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 4,
            "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 256, "num_local_experts": 8,
            "num_experts_per_tok": 2, "max_position_embeddings": 4096}


def test_midpoint_rule_against_the_exact_sum():
    exact = simulate_generate("a100-80gb", TINY, prompt=64, generate=40, points=None, dense_baseline=False)
    mid = simulate_generate("a100-80gb", TINY, prompt=64, generate=40, points=4, dense_baseline=False)
    se, sm = exact.extra["serving"], mid.extra["serving"]
    assert se["quadrature"] == "exact" and len(se["decode_points"]) == 40
    assert [p["repeat"] for p in sm["decode_points"]] == [10, 10, 10, 10]
    assert [p["context"] for p in sm["decode_points"]] == [69, 79, 89, 99]
    assert se["ttft_s"] == sm["ttft_s"]
    # the documented bound: the midpoint rule within 1% of the exact sum of the decode steps
    assert sm["tpot_s"] == pytest.approx(se["tpot_s"], rel=1e-2)
    assert exact.summary()["latency_s"] == pytest.approx(se["ttft_s"] + 40 * se["tpot_s"], rel=1e-12)
    # per phase the layer table: decode layers summed over the steps
    dec = [r for r in exact.layers if r.name.startswith("decode/")]
    assert {r.extra["steps"] for r in dec} == {40}
    assert sum(r.latency_s for r in dec) == pytest.approx(40 * se["tpot_s"], rel=1e-12)


def test_decode_steps_partition():
    for g, q in ((512, 8), (7, 3), (3, 8), (1, 1)):
        steps = decode_steps(128, g, q)
        assert sum(s["repeat"] for s in steps) == g and len(steps) == min(g, q)
        assert all(128 < s["context"] <= 128 + g for s in steps)


def test_generate_with_a_recipe_has_a_baseline_and_rates():
    r = simulate_generate("a100-80gb", TINY, prompt=32, generate=16, batch=2, recipe="w4a16-g128", points=2)
    s = r.summary()
    assert r.dense is not None and s["speedup_vs_dense"] > 0
    assert s["tokens_per_s"] == pytest.approx(2 * 17 / s["latency_s"], rel=1e-12)
    assert s["ttft_s"] == r.extra["serving"]["phases"]["prefill"]["latency_s"]


def test_moe_batch_routes_tokens():
    one = simulate_phase("a100-80gb", TINY_MOE, "decode", context=128, batch=1, dense_baseline=False)
    eight = simulate_phase("a100-80gb", TINY_MOE, "decode", context=128, batch=8, dense_baseline=False)
    assert eight.batch == 8 and eight.extra["batch_in_graph"]
    g1 = load_hf(TINY_MOE, phase="decode", context=128, batch=1)
    g8 = load_hf(TINY_MOE, phase="decode", context=128, batch=8)
    touched = lambda g: sum(g.metadata["hf"]["params"]["experts_touched"].values())  # noqa: E731
    assert touched(g1) == 2 and touched(g8) > 2
    assert eight.total["dram_read_bytes"] > one.total["dram_read_bytes"]
    zipf = load_hf(TINY_MOE, phase="decode", context=128, batch=8, routing="zipf:2")
    assert touched(zipf) <= touched(g8)


def test_kv_format_reaches_the_layers_and_the_memory():
    g = load_hf(TINY, phase="decode", context=1024)
    plain, kv4 = compress(g, "w4a16-g128", statistics=True), compress(g, {"name": "w4kv4", "pipeline": [
        {"quantize": {"bits": 4, "symmetric": False, "group_size": 128, "scale_format": "fp16", "zero_point_bits": 4}}],
        "kv": {"format": "int4", "key": "per_channel", "value": "per_token", "group_size": 32}}, statistics=True)
    appends = [layer for layer in kv4.graph.layers if layer.op == "kv_append"]
    assert appends and all(layer.bits == 4 and layer.kv_bits == 5.0 for layer in appends)
    assert all(layer.kv_bits == 5.0 for layer in kv4.graph.layers if layer.op == "matmul")
    # no KV format: the appends keep their 16-bit elements (kv_bits 0: their bits) and the products read 16 bits
    assert all(layer.kv_bits == 0 and layer.bits == 16 for layer in plain.graph.layers if layer.op == "kv_append")
    assert all(layer.kv_bits == 16 for layer in plain.graph.layers if layer.op == "matmul")
    assert kv4.graph.metadata["hf"]["kv_cache"]["bits_per_element"] == 5.0
    spec = model_spec(TINY)
    m16, m5 = memory_bytes(plain, spec, 4, 1024), memory_bytes(kv4, spec, 4, 1024)
    # K and V of 2 blocks x 2 KV heads x 64 channels per token
    assert m16["kv_per_sequence"] == 1024 * 2 * 256 * 2 and m5["kv_per_sequence"] == 1024 * 2 * 256 * 5 / 8
    assert m16["weights"] == m5["weights"]
    cap = m16["weights"] + 10 * m16["kv_per_sequence"] + 1
    assert max_batch(plain, spec, 1024, cap) == 10 and max_batch(kv4, spec, 1024, cap) == 32


def test_generate_past_the_positions_warns_once():
    import warnings

    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        simulate_generate("a100-80gb", TINY, prompt=4090, generate=12, points=3, dense_baseline=False)
    msgs = [str(w.message) for w in got if "max_position_embeddings" in str(w.message)]
    assert msgs == ["generate: prompt 4090 + 12 tokens is over the model's max_position_embeddings 4096"]


def test_kv_bits_and_a_recipe_kv_format_refused_together():
    from accelsim.errors import ConfigError

    g = load_hf(TINY, phase="decode", context=256, kv_bits=8)
    with pytest.raises(ConfigError, match="give kv_bits or a recipe kv format, not both"):
        compress(g, "kv-int4", statistics=True)
    fused = compress(load_hf(TINY, phase="decode", context=256, attention="fused"), "kv-int4", statistics=True)
    att = [layer for layer in fused.graph.layers if layer.op == "attention"]
    assert att and all(layer.kv_bits == 5.0 for layer in att)
    kv8 = {"name": "kv8", "pipeline": [{"activations": {"bits": 16}}], "kv": {"format": "int8"}}
    cg = compress(load_hf(TINY, phase="decode", context=256), kv8, statistics=True)
    # int8 per token over one head's 64 channels: 8 + (16 + 16) / 64 bits
    assert {layer.kv_bits for layer in cg.graph.layers if layer.op == "kv_append"} == {8.5}


def test_phase_result_carries_its_memory():
    r = simulate_phase("a100-80gb", TINY, "decode", context=512, batch=3, recipe="w4a16-g128")
    mem = r.extra["memory"]
    assert mem["kv_per_sequence"] == 512 * 2 * 256 * 2 and mem["kv"] == 3 * mem["kv_per_sequence"]
    assert mem["total"] == mem["weights"] + mem["kv"]
    # a generation holds its last token's cache: prompt + generate tokens (tests/test_held_out_round40.py)
    g = simulate_generate("a100-80gb", TINY, prompt=16, generate=4, points=1)
    assert g.extra["memory"]["kv_per_sequence"] == (16 + 4) * 2 * 256 * 2


def test_untouched_weights_count_at_the_serving_width():
    from accelsim.compress.compressed import CompressedGraph

    g = load_hf(TINY, phase="decode", context=256)
    spec = model_spec(TINY)
    dense = memory_bytes(CompressedGraph.dense(g), spec, 1, 256)
    kv4 = memory_bytes(compress(g, "kv-int4"), spec, 1, 256)  # weights kept (a plain fp32 copy), KV at 5 bits
    assert kv4["weights"] == dense["weights"] and kv4["kv_per_sequence"] == dense["kv_per_sequence"] * 5 / 16


def test_generate_zero_tokens_prints_its_table(run_cli, tmp_path):
    # --generate 0 is allowed (a prefill alone): the table's serving line has no decode step to print
    cfg = tmp_path / "tiny.json"
    cfg.write_text(__import__("json").dumps(TINY))
    code, out, err = run_cli("simulate", "--arch", "h100-sxm", "--workload", cfg, "--phase", "generate",
                             "--prompt", "64", "--generate", "0")
    assert code == 0, err
    assert "generate 64 + 0 tokens" in out and "tpot no decode step" in out
