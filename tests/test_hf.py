"""Hugging Face configs as workloads (accelsim.workload.hf): exact parameter counts per family, phases (prefill /
decode shapes, KV cache, causal halving, GQA), MoE routing, and bad input. Oracle: tests/data/hf/references.yaml."""

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from accelsim.errors import WorkloadError
from accelsim.workload import layers as L
from accelsim.workload.hf import generate_steps, load_hf, model_spec
from accelsim.workload.hf.moe import expected_distinct, load_shares, pick_probabilities, route
from accelsim.workload.io_yaml import graph_from_dict, graph_to_dict
from accelsim.workload.zoo import load_workload

DATA = Path(__file__).parent / "data" / "hf"
REFS = yaml.safe_load((DATA / "references.yaml").read_text())


def cfg(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def params(graph) -> dict:
    return graph.metadata["hf"]["params"]


@pytest.mark.parametrize("name", sorted(REFS))
def test_parameter_counts_exact_and_published(name):
    graph = load_hf(DATA / f"{name}.json")
    counts = params(graph)
    ref = REFS[name]
    assert counts["total"] == ref["exact"]
    assert not graph.weights  # shapes only: nothing synthesized
    for key, what in (("published", "total"), ("non_embedding", "non_embedding"), ("active", "active"),
                      ("active_no_embedding", "active_no_embedding")):
        if key not in ref or ref[key].get("whole_model"):
            continue
        value = counts[what]
        pub = float(ref[key]["value"])  # YAML reads 110e6 as text
        assert abs(value - pub) <= ref[key]["rel"] * pub, (name, key, value, pub)


def test_dense_model_graph_counts_every_parameter_once():
    for name in ("llama-2-7b", "bert-base-uncased", "pythia-160m", "qwen2-7b"):
        assert load_hf(DATA / f"{name}.json").total_params == REFS[name]["exact"]
    # tied embeddings: lm_head reads the embedding table, which the graph's layer sum counts twice
    gpt2 = load_hf(DATA / "gpt2.json")
    assert gpt2.total_params - 50257 * 768 == REFS["gpt2"]["exact"] == params(gpt2)["total"]


def test_stats_cli_prints_model_counts(run_cli):
    code, out, err = run_cli("stats", "--workload", str(DATA / "llama-2-7b.json"), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["total"]["model_params"] == 6_738_415_616
    code, out, err = run_cli("stats", "--workload", str(DATA / "mixtral-8x7b-v0.1.json"), "--phase", "decode")
    assert code == 0, err
    assert "46,702,792,704 params, 12,879,925,248 active per token" in out


def test_folder_and_dict_sources(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(cfg("gpt2")))
    from_folder = load_workload(tmp_path, phase="decode", context=64)
    from_dict = load_workload(cfg("gpt2"), phase="decode", context=64)
    assert from_folder.total_macs == from_dict.total_macs > 0
    renamed = tmp_path / "whatever-name.json"
    renamed.write_text(json.dumps(cfg("gpt2")))
    assert load_workload(renamed).total_params == load_workload(cfg("gpt2")).total_params


def test_phase_arguments_refused_for_other_workloads():
    with pytest.raises(WorkloadError, match="phase applies only to a Hugging Face config"):
        load_workload("lenet-300-100", phase="decode")
    with pytest.raises(WorkloadError, match="context, phase apply only to a Hugging Face config"):
        load_workload("lenet-300-100", phase="decode", context=8)


# --- phases -----------------------------------------------------------------------------------------------
def test_decode_runs_one_token_per_sequence():
    g = load_hf(DATA / "llama-2-7b.json", phase="decode", context=2048)
    linears = [layer for layer in g.layers if isinstance(layer, L.Linear)]
    assert linears and all(layer.gemm(1).m == 1 for layer in linears)
    scores = g.layer("model.layers.0.self_attn.scores")
    assert scores.gemm(1).as_tuple() == (1, 2048, 128, 32)  # q (1 x 128) @ K^T (128 x 2048) per head
    assert g.layer("model.layers.0.self_attn.k_cache").output_shape == (1, 32, 128, 2048)
    # the zoo's llama2-7b-decoder block is this decode step's block 0 (same GEMMs, same MACs)
    block = load_workload("llama2-7b-decoder")
    ours = sum(layer.macs for layer in g.layers if layer.name.startswith("model.layers.0."))
    assert ours == block.total_macs
    # batch folded into the shapes: B sequences -> M = B
    g8 = load_hf(DATA / "llama-2-7b.json", phase="decode", context=2048, batch=8)
    assert g8.layer("model.layers.0.self_attn.q_proj").gemm(1).m == 8
    assert g8.total_macs == 8 * g.total_macs


def test_prefill_shapes_and_last_token_logits():
    g = load_hf(DATA / "llama-2-7b.json", phase="prefill", prompt=512)
    assert g.layer("model.layers.0.self_attn.q_proj").gemm(1).m == 512
    assert g.layer("lm_head").gemm(1).m == 1  # only the next token's logits
    assert g.layer("model.layers.0.self_attn.scores").gemm(1).as_tuple() == (512, 512, 128, 32)


def test_causal_prefill_halves_fused_score_work():
    p, heads, d = 1023, 32, 128
    fused = load_hf(DATA / "llama-2-7b.json", prompt=p, attention="fused").layer("model.layers.0.self_attn.attention")
    assert fused.macs == heads * p * ((p + 1) // 2) * 2 * d  # q k^T and p v over the visible half, P odd: exact
    unfused = load_hf(DATA / "llama-2-7b.json", prompt=p)
    full = unfused.layer("model.layers.0.self_attn.scores").macs + unfused.layer("model.layers.0.self_attn.context").macs
    assert fused.macs / full == pytest.approx((p + 1) / (2 * p))
    # an encoder is not causal: fused and unfused do the same work
    bert = load_hf(DATA / "bert-base-uncased.json", prompt=128, attention="fused").layer("encoder.layer.0.attention.self.attention")
    assert bert.macs == 12 * 128 * 128 * 2 * 64


def test_fused_decode_matches_unfused_macs():
    a = load_hf(DATA / "mistral-7b-v0.1.json", phase="decode", context=1000)
    b = load_hf(DATA / "mistral-7b-v0.1.json", phase="decode", context=1000, attention="fused")
    assert a.total_macs == b.total_macs


@pytest.mark.parametrize("name", ["llama-2-7b", "mistral-7b-v0.1", "gpt2", "deepseek-v2-lite"])
@pytest.mark.parametrize("attention", ["unfused", "fused"])
def test_decode_at_context_one_reads_the_cache(name, attention):
    """A decode step's keys and values come from the cache even when it holds only the new token: the graph
    at context 1 is the graph at context 2 with one key fewer (no layout copies of a fresh k / v)."""
    one = load_hf(DATA / f"{name}.json", phase="decode", context=1, attention=attention)
    two = load_hf(DATA / f"{name}.json", phase="decode", context=2, attention=attention)
    assert [layer.name for layer in one.layers] == [layer.name for layer in two.layers]
    assert one.total_macs < two.total_macs
    assert any(layer.name.endswith(("k_cache", "latent_cache")) for layer in one.layers)


def test_gqa_kv_cache_bytes_and_sliding_window():
    llama = load_hf(DATA / "llama-2-7b.json", phase="decode", context=2048).metadata["hf"]["kv_cache"]
    mistral = load_hf(DATA / "mistral-7b-v0.1.json", phase="decode", context=2048).metadata["hf"]["kv_cache"]
    assert llama["layout"] == "mha" and mistral["layout"] == "gqa"
    assert llama["bytes"] == 2 * 32 * 128 * 2048 * 32 * 2  # K and V, 32 heads of 128, 32 blocks, 16-bit
    assert mistral["bytes"] * 4 == llama["bytes"]  # 8 KV heads instead of 32
    g = load_hf(DATA / "mistral-7b-v0.1.json", phase="decode", context=8192)  # window 4096: a rolling cache
    assert g.metadata["hf"]["kv_cache"]["tokens"] == 4096
    assert g.layer("model.layers.0.self_attn.scores").gemm(1).as_tuple() == (4, 4096, 128, 8)  # 4 q heads per KV head
    falcon = load_hf(DATA / "falcon-7b.json", phase="decode", context=100).metadata["hf"]["kv_cache"]
    assert falcon["layout"] == "mqa" and falcon["elements_per_token_per_block"] == 2 * 64
    int8 = load_hf(DATA / "llama-2-7b.json", phase="decode", context=2048, kv_bits=8).metadata["hf"]["kv_cache"]
    assert int8["bytes"] * 2 == llama["bytes"]


def test_kv_append_writes_the_new_tokens():
    g = load_hf(DATA / "llama-2-7b.json", phase="decode", context=300, kv_bits=8)
    appends = [layer for layer in g.layers if isinstance(layer, L.KVAppend)]
    assert len(appends) == 2 * 32
    assert sum(layer.write_bytes for layer in appends) == 2 * 32 * 4096 * 1  # one token, 8-bit
    assert all(layer.cache_tokens == 300 for layer in appends)


@pytest.mark.parametrize("attention", ["unfused", "fused"])
def test_a_narrow_cache_is_read_at_its_width(attention):
    """``kv_bits``: the layers that read the cache read it at that width (the appends write it so); a prefill's
    attention reads K / V from the projections at the activations' width; the 16-bit default cache is read at 16
    bits whatever the activations' width (a W8A8 recipe read it at 8 while its appends wrote 16)."""
    readers = {"unfused": ("matmul",), "fused": ("attention",)}[attention]
    dec = load_hf(DATA / "llama-2-7b.json", phase="decode", context=512, kv_bits=4, attention=attention)
    att = [layer for layer in dec.layers if layer.op in readers]
    assert len(att) == (64 if attention == "unfused" else 32) and all(layer.kv_bits == 4 for layer in att)
    pre = load_hf(DATA / "llama-2-7b.json", phase="prefill", prompt=64, kv_bits=4, attention=attention)
    assert all(layer.kv_bits == 0 for layer in pre.layers if layer.op in readers)
    plain = load_hf(DATA / "llama-2-7b.json", phase="decode", context=512, attention=attention)
    assert all(layer.kv_bits == 16 for layer in plain.layers if layer.op in readers)
    # on a memory-bound decode step the attention reads the cache at its width and takes under half the time (not
    # a quarter: at 4 bits the products are no longer purely bandwidth-bound)
    import accelsim

    def attention(g):
        r = accelsim.simulate("a100-80gb", g, batch=16, dense_baseline=False)
        return (sum(x.latency_s for x in r.layers if x.op in readers),
                sum(x.dram_read_bytes for x in r.layers if x.op in readers))

    (narrow_s, narrow_b), (plain_s, plain_b) = attention(dec), attention(plain)
    assert narrow_b < 0.27 * plain_b and narrow_s < 0.5 * plain_s


def test_w8a8_decode_reads_the_16_bit_cache_it_writes():
    """A W8A8 recipe quantizes weights and activations, not the KV cache: its appends write 16-bit elements, so the
    attention products read 16 bits an element too (they read 8, half the cache, while the appends wrote 16)."""
    import accelsim

    g = load_hf(DATA / "llama-2-7b.json", phase="decode", context=2048)
    r = accelsim.simulate("h100-sxm", g, recipe="w8a8-int8", dense_baseline=False)
    dense = accelsim.simulate("h100-sxm", g, dense_baseline=False)

    def cache_reads(res):
        return sum(x.dram_read_bytes for x in res.layers if x.op == "matmul")

    appended = sum(x.dram_write_bytes for x in r.layers if x.op == "kv_append")
    assert appended == sum(x.dram_write_bytes for x in dense.layers if x.op == "kv_append")
    assert cache_reads(r) >= 0.99 * cache_reads(dense)


def test_cli_decode_step_says_when_weights_and_cache_do_not_fit(run_cli):
    """`accelsim simulate` of a decode step records the weights + KV cache and the fit, as simulate_phase does,
    and warns when they exceed the device (batch 256 at 4096 tokens: 525 GiB on an 80 GiB H100)."""

    def run(batch):
        code, out, err = run_cli("simulate", "--arch", "h100-sxm", "--workload", DATA / "llama-2-7b.json", "--phase",
                                 "decode", "--context", "4096", "--batch", str(batch), "--format", "json")
        assert code == 0, err
        return json.loads(out)

    big, one = run(256), run(1)
    assert big["extra"]["memory"]["fits"] is False and big["extra"]["memory"]["max_batch"] == 33
    assert [w for w in big["warnings"] if "over h100-sxm's 80 GiB (the largest batch that fits is 33)" in w]
    assert one["extra"]["memory"]["fits"] is True and not [w for w in one["warnings"] if "GiB" in w]


def test_mla_cache_is_the_latent():
    g = load_hf(DATA / "deepseek-v2-lite.json", phase="decode", context=4096)
    kv = g.metadata["hf"]["kv_cache"]
    assert kv["layout"] == "mla-latent" and kv["elements_per_token_per_block"] == 512 + 64
    att = g.layer("model.layers.1.self_attn.attention")
    assert (att.heads, att.kv_heads, att.head_dim, att.v_head_dim) == (16, 1, 576, 512)
    # kv_b_proj absorbed into two per-head GEMMs whose weights together are kv_b_proj's
    k_abs, v_abs = g.layer("model.layers.1.self_attn.kv_b_proj.k_absorbed"), g.layer("model.layers.1.self_attn.kv_b_proj.v_absorbed")
    assert k_abs.params + v_abs.params == 512 * 16 * (128 + 128)


def test_rope_is_costed():
    g = load_hf(DATA / "pythia-160m.json", prompt=10)  # rotary_pct 0.25: 16 of 64 features rotated
    rope = g.layer("gpt_neox.layers.0.attention.query_key_value.q.rope")
    assert rope.rotated == 16 and rope.elementwise_ops == 3 * 10 * 12 * 16


def test_context_over_max_positions_warns():
    with pytest.warns(UserWarning, match="max_position_embeddings 4096"):
        load_hf(DATA / "llama-2-7b.json", phase="decode", context=5000)


def test_encoder_refuses_kv_format_and_decode():
    with pytest.raises(WorkloadError, match="KV format"):
        load_hf(DATA / "bert-base-uncased.json", kv_bits=8)
    with pytest.raises(WorkloadError, match="no decode phase"):
        load_hf(DATA / "t5-base.json", phase="decode")
    with pytest.raises(WorkloadError, match="512 learned positions"):
        load_hf(DATA / "bert-base-uncased.json", prompt=600)


def test_generate_steps_cover_every_decode_step():
    steps = generate_steps(100, 50, points=4)
    assert steps[0] == {"phase": "prefill", "prompt": 100, "repeat": 1}
    decodes = steps[1:]
    assert sum(s["repeat"] for s in decodes) == 50
    assert all(101 <= s["context"] <= 150 for s in decodes)
    assert generate_steps(8, 0) == [{"phase": "prefill", "prompt": 8, "repeat": 1}]


# --- MoE ----------------------------------------------------------------------------------------------------
def test_mixtral_decode_reads_only_routed_experts():
    g = load_hf(DATA / "mixtral-8x7b-v0.1.json", phase="decode", context=2048)
    counts = params(g)
    assert set(counts["experts_touched"].values()) == {2}
    assert g.total_params == counts["active"] == 12_879_925_248
    # weight bytes per token: every GEMM weight read, = active minus the input embedding table and the norm scales
    norms = sum(layer.params for layer in g.layers if isinstance(layer, L.LayerNorm))
    assert counts["weight_matrices"] == counts["active"] - counts["embedding"] - norms
    experts = [layer for layer in g.layers if isinstance(layer, L.GroupedLinear)]
    assert all(layer.gemm(1).m == 1 and layer.groups == 2 for layer in experts)


def test_moe_routing_with_batch_and_prefill():
    g = load_hf(DATA / "mixtral-8x7b-v0.1.json", phase="decode", context=2048, batch=8)
    touched = set(params(g)["experts_touched"].values())
    assert touched == {round(8 * (1 - 0.75 ** 8))}  # 7 of 8 experts for 8 tokens
    prefill = load_hf(DATA / "mixtral-8x7b-v0.1.json", prompt=256)
    assert prefill.total_params == params(prefill)["total"]  # every expert touched, the graph holds them all
    combine = prefill.layer("model.layers.0.moe_combine")
    assert sum(math.prod(s[:-1]) for s in combine.input_shapes) == 256 * 2  # every routed slot comes back


def test_routing_distributions(tmp_path):
    uniform = load_shares("uniform", 8, 1)[0]
    zipf = load_shares("zipf:1.2", 8, 1)[0]
    assert len(route(zipf, 2, 4)) <= len(route(uniform, 2, 4)) == round(expected_distinct(pick_probabilities(uniform, 2), 4))
    assert sum(route(zipf, 2, 64).values()) == 128 and max(route(zipf, 2, 64).values()) <= 64
    p = pick_probabilities([0.9, 0.05, 0.05], 2)  # 2 x 0.9 > 1: capped, the rest spread
    assert p[0] == 1.0 and sum(p) == pytest.approx(2.0)
    counts = tmp_path / "counts.json"
    counts.write_text(json.dumps([100, 0, 0, 0, 0, 0, 0, 50]))
    g = load_hf(DATA / "mixtral-8x7b-v0.1.json", phase="decode", batch=16, routing=str(counts))
    assert g.metadata["hf"]["routing"]["blocks"]["model.layers.0"]["counts"] == {0: 16, 7: 16}
    counts.write_text(json.dumps([[1] * 8] * 3))
    with pytest.raises(WorkloadError, match="3 lists of counts; expected 1"):
        load_hf(DATA / "mixtral-8x7b-v0.1.json", routing=str(counts))
    with pytest.raises(WorkloadError, match="only 1 experts have load"):
        load_hf(DATA / "mixtral-8x7b-v0.1.json", routing=[1, 0, 0, 0, 0, 0, 0, 0])


def test_shared_experts_always_run():
    g = load_hf(DATA / "deepseek-v2-lite.json", phase="decode", context=16)
    assert g.layer("model.layers.1.mlp.shared_experts.gate_proj").out_features == 2 * 1408
    assert "model.layers.0.mlp.gate_proj" in g  # first_k_dense_replace = 1: block 0 is dense
    assert set(params(g)["experts_touched"].values()) == {6}
    q = load_hf(DATA / "qwen1.5-moe-a2.7b.json", phase="decode", context=16)
    assert q.layer("model.layers.0.mlp.shared_expert_gate").out_features == 1
    none = dict(cfg("qwen1.5-moe-a2.7b"), shared_expert_intermediate_size=0)
    g0 = load_hf(none, phase="decode", context=16)
    assert not any("shared_expert" in layer.name for layer in g0.layers)
    # transformers builds shared_expert_gate (hidden x 1) in every MoE block even then: said, with its count
    hidden, blocks = none["hidden_size"], none["num_hidden_layers"]
    assert any(f"{hidden * blocks:,} parameters" in n for n in g0.metadata["notes"])
    # left out: Qwen2MoeConfig's default width, 5632 (transformers 5.25), not "no shared expert"
    left_out = {k: v for k, v in cfg("qwen1.5-moe-a2.7b").items() if k != "shared_expert_intermediate_size"}
    g1 = load_hf(dict(left_out, shared_expert_intermediate_size=5632), phase="decode", context=16)
    assert params(load_hf(left_out, phase="decode", context=16))["total"] == params(g1)["total"]
    assert load_hf(left_out).layer("model.layers.0.mlp.shared_expert.gate_proj").out_features == 5632


@pytest.mark.parametrize("config, message", [
    (_tiny_cfg := {"model_type": "qwen2", "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 4,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96}, None),
    (dict(_tiny_cfg, layer_types=["full_attention"] * 3), r"'layer_types' must list one attention type per block \(4\)"),
    (dict(_tiny_cfg, layer_types=["chunked"] * 4), r"unknown attention type\(s\) \['chunked'\]"),
    (dict(_tiny_cfg, model_type="gemma2", head_dim=None), r"'head_dim' is null; model_type 'gemma2' needs an int"),
    (dict(_tiny_cfg, model_type="qwen3", head_dim=None), r"'head_dim' is null; model_type 'qwen3' needs an int"),
    (dict(_tiny_cfg, model_type="qwen2_moe", num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
          shared_expert_intermediate_size=None), "'shared_expert_intermediate_size' is null"),
])
def test_fields_transformers_refuses_are_refused(config, message):
    """What transformers' (strict) config classes refuse is one line here too: a layer_types list of the wrong
    length or with an unknown type, even where no sliding window reads it (Qwen2 without use_sliding_window);
    null for a field typed int (Gemma 2's and Qwen3's head_dim, Qwen2-MoE's shared expert width, DeepSeek's
    kv_lora_rank below); a float for an int (test_huge_or_inconsistent_sizes_are_one_line). A Llama-style null
    head_dim is hidden_size / heads, as transformers reads it."""
    if message is None:
        assert load_hf(config) and load_hf(dict(config, head_dim=None)).layer("model.layers.0.self_attn.q_proj").out_features == 64
        return
    with pytest.raises(WorkloadError, match=message):
        load_hf(config)


# --- layers -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("s,length,window", [(1, 9, 0), (5, 5, 0), (7, 12, 0), (8, 8, 3), (4, 10, 6), (6, 6, 100)])
def test_attention_visible_keys_brute_force(s, length, window):
    att = L.Attention(name="a", input_shapes=((s, 8), (length, 4), (length, 4)), heads=2, kv_heads=1, causal=True,
                      window=window)
    brute = sum(min(length - s + i + 1, window or length) for i in range(s))
    assert att.visible_keys == brute
    assert att.gemm(1).n == -(-brute // s)


def test_new_layers_round_trip_through_yaml():
    g = load_hf(DATA / "deepseek-v2-lite.json", phase="decode", context=32, attention="fused")
    back = graph_from_dict(graph_to_dict(g))
    assert (back.total_params, back.total_macs, len(back)) == (g.total_params, g.total_macs, len(g))


def test_grouped_linear_gemm_and_weights():
    layer = L.GroupedLinear(name="e", input_shapes=((3, 5, 16),), groups=3, out_features=8, bias=False)
    assert layer.gemm(2).as_tuple() == (10, 8, 16, 3)
    assert layer.weight_matrix_shape == (24, 16) and layer.params == 3 * 8 * 16
    assert layer.output_shape == (3, 5, 8)


# --- bad input ----------------------------------------------------------------------------------------------
def test_unknown_model_type_and_missing_fields(tmp_path):
    with pytest.raises(WorkloadError, match="unknown model_type 'mamba'"):
        model_spec({"model_type": "mamba"})
    bad = cfg("llama-2-7b")
    del bad["hidden_size"]
    with pytest.raises(WorkloadError, match="missing field 'hidden_size'"):
        model_spec(bad)
    bad = dict(cfg("llama-2-7b"), num_key_value_heads=5)
    with pytest.raises(WorkloadError, match="must divide num_attention_heads 32"):
        model_spec(bad)
    bad = dict(cfg("llama-2-7b"), num_hidden_layers="32")
    with pytest.raises(WorkloadError, match="'num_hidden_layers' must be an int >= 1; got '32'"):
        model_spec(bad)
    with pytest.raises(WorkloadError, match="missing field 'model_type'"):
        model_spec({})
    with pytest.raises(WorkloadError, match="holds no config.json"):
        model_spec(tmp_path)


def test_bad_config_files_one_line_exit_2(run_cli, tmp_path):
    unknown = tmp_path / "config.json"
    unknown.write_text(json.dumps({"model_type": "rwkv", "hidden_size": 8}))
    broken = tmp_path / "broken.json"
    broken.write_text('{"model_type": "llama", "hidden_size": ')
    for path, text in ((unknown, "unknown model_type 'rwkv'"), (broken, "not JSON")):
        code, out, err = run_cli("stats", "--workload", str(path))
        assert code == 2 and text in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("stats", "--workload", str(DATA / "bert-base-uncased.json"), "--kv-bits", "8")
    assert code == 2 and "KV format" in err


def test_skewed_routing_over_many_experts_is_bucketed():
    from accelsim.workload.hf.moe import MAX_BUCKETS, buckets

    counts = route(load_shares("zipf:1.0", 256, 1)[0], 8, 4096)
    merged = buckets(counts)
    assert len(merged) <= MAX_BUCKETS and sorted(e for _, es in merged for e in es) == sorted(counts)
    in_graph = sum(n * len(es) for n, es in merged)
    assert abs(in_graph - 4096 * 8) <= len(counts) / 2
    exact = buckets({0: 5, 1: 5, 2: 3})
    assert exact == [(5, [0, 1]), (3, [2])]


def _tiny(model_type, **extra):
    return {"model_type": model_type, "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 4,
            "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, **extra}


def test_newer_block_structures():
    # Qwen3: a per-head RMSNorm on q and k before RoPE
    g = load_hf(_tiny("qwen3", head_dim=32))
    assert g.inputs_of("model.layers.0.self_attn.q_norm.heads") == ["model.layers.0.self_attn.q_proj"]
    norm = g.layer("model.layers.0.self_attn.q_norm")
    assert norm.rms and norm.input_shape[-2:] == (4, 32) and norm.params == 32
    assert g.inputs_of("model.layers.0.self_attn.q_proj.rope") == ["model.layers.0.self_attn.q_norm.merge"]
    # Gemma 2: each branch normalised before its residual add; soft-capped scores and logits
    g = load_hf(_tiny("gemma2", head_dim=16, sliding_window=8), phase="decode", context=32)
    assert g.inputs_of("model.layers.1.mlp_residual")[0] == "model.layers.1.post_feedforward_layernorm"
    assert g.inputs_of("model.layers.1.post_feedforward_layernorm") == ["model.layers.1.mlp.down_proj"]
    assert g.inputs_of("model.layers.1.pre_feedforward_layernorm") == ["model.layers.1.attention_residual"]
    assert g.layer("model.layers.0.self_attn.scores_softcap").func == "tanh"
    assert g.inputs_of("lm_head.softcap") == ["lm_head"]
    # OPT-350m style: post-norm blocks, no final norm
    g = load_hf({"model_type": "opt", "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "ffn_dim": 96, "word_embed_proj_dim": 32, "do_layer_norm_before": False})
    assert g.inputs_of("model.decoder.layers.0.self_attn_layer_norm") == ["model.decoder.layers.0.attention_residual"]
    assert not any(layer.name == "model.decoder.final_layer_norm" for layer in g.layers)


def test_sliding_window_per_block():
    # Gemma 2 windows blocks 0 and 2 (transformers' layer_types); the others read the whole cache
    g = load_hf(_tiny("gemma2", head_dim=16, sliding_window=8), phase="decode", context=32, attention="fused")
    windows = [g.layer(f"model.layers.{i}.self_attn.attention").window for i in range(4)]
    appended = [g.layer(f"model.layers.{i}.self_attn.k_cache_append").cache_tokens for i in range(4)]
    assert windows == [8, 0, 8, 0] and appended == [8, 32, 8, 32]
    kv = g.metadata["hf"]["kv_cache"]
    assert (kv["tokens"], kv["token_blocks"]) == (32, 80)
    assert kv["bytes"] == 80 * 2 * 2 * 16 * 2  # token-blocks x (k + v) x kv heads x head_dim x 2 bytes
    # an explicit layer_types list wins over the family's default
    g = load_hf(_tiny("gemma2", head_dim=16, sliding_window=8, layer_types=["full_attention"] * 3 + ["sliding_attention"]),
                phase="decode", context=32, attention="fused")
    assert [g.layer(f"model.layers.{i}.self_attn.attention").window for i in range(4)] == [0, 0, 0, 8]
    with pytest.raises(WorkloadError, match="layer_types"):
        load_hf(_tiny("gemma2", layer_types=["sliding_attention"]))
    with pytest.raises(WorkloadError, match="unknown attention type"):
        load_hf(_tiny("qwen3", use_sliding_window=True, sliding_window=8, layer_types=["local"] * 4))
    with pytest.raises(WorkloadError, match="rotary_pct"):
        load_hf({"model_type": "gpt_neox", "vocab_size": 100, "hidden_size": 96, "num_hidden_layers": 1,
                 "num_attention_heads": 8, "intermediate_size": 64, "rotary_pct": 0.25})


@pytest.mark.parametrize("field, value, message", [
    ("num_local_experts", 1e30, r"'num_local_experts' must be an int >= 1; got 1e\+30"),  # a float, as transformers
    ("hidden_size", 1536.0, r"'hidden_size' must be an int >= 1; got 1536.0"),  # refuses it even when integral
    ("num_local_experts", 10 ** 12, "at most 65536"),
    ("num_hidden_layers", 10 ** 12, "'num_hidden_layers' is 1000000000000; at most 16384"),
    ("hidden_size", 2 ** 50, "'hidden_size' is 1125899906842624; at most 1048576"),
    ("hidden_size", 2 ** 40, "'hidden_size' is 1099511627776; at most 1048576"),  # was a layer's int64 MAC overflow
    ("intermediate_size", 2 ** 30, "'intermediate_size' is 1073741824; at most 4194304"),
    ("vocab_size", 10 ** 12, "'vocab_size' is 1000000000000; at most 16777216"),
    ("num_experts_per_tok", 9, "'num_experts_per_tok' is 9, more than the 8 routed experts"),
])
def test_huge_or_inconsistent_sizes_are_one_line(field, value, message):
    """Sizes no model has are refused before anything is built (a 10^12-expert routing table or a 10^12-block
    loop was a MemoryError or a hang)."""
    with pytest.raises(WorkloadError, match=message):
        load_hf({**cfg("mixtral-8x7b-v0.1"), field: value})


def test_multimodal_gemma3_reads_its_language_model():
    """A Gemma 3 vision-language config (model_type gemma3): the decoder of its text_config, with a note that the
    vision tower is left out; the count equals the gemma3_text config's."""
    text = _tiny("gemma3_text", head_dim=16, sliding_window=8)
    g = load_hf({"model_type": "gemma3", "text_config": text, "vision_config": {"hidden_size": 32}})
    assert g.metadata["hf"]["params"]["total"] == load_hf(dict(text)).metadata["hf"]["params"]["total"]
    assert any("vision tower" in n for n in g.metadata["notes"])
    with pytest.raises(WorkloadError, match="unknown model_type 'paligemma'"):
        load_hf({"model_type": "paligemma", "text_config": text})


@pytest.mark.parametrize("config, message", [
    ({"model_type": "gpt2", "vocab_size": 100, "n_embd": 64, "n_head": 5, "n_layer": 1, "n_positions": 64},
     "'n_embd' 64 is not a multiple of 'n_head' 5"),
    ({"model_type": "gptj", "vocab_size": 100, "n_embd": 64, "n_head": 5, "n_layer": 1, "n_positions": 64},
     "'n_embd' 64 is not a multiple of 'n_head' 5"),
    ({"model_type": "bert", "vocab_size": 100, "hidden_size": 100, "num_attention_heads": 12, "num_hidden_layers": 1,
      "intermediate_size": 64}, "'hidden_size' 100 is not a multiple of 'num_attention_heads' 12"),
    ({"model_type": "distilbert", "vocab_size": 100, "dim": 100, "n_heads": 12, "n_layers": 1, "hidden_dim": 64},
     "'dim' 100 is not a multiple of 'n_heads' 12"),
    ({"model_type": "opt", "vocab_size": 100, "hidden_size": 100, "num_attention_heads": 12, "num_hidden_layers": 1,
      "ffn_dim": 64}, "'hidden_size' 100 is not a multiple of 'num_attention_heads' 12"),
    ({"model_type": "vit", "hidden_size": 100, "num_attention_heads": 12, "num_hidden_layers": 1,
      "intermediate_size": 64}, "'hidden_size' 100 is not a multiple of 'num_attention_heads' 12"),
    ({"model_type": "falcon", "vocab_size": 100, "hidden_size": 100, "num_attention_heads": 12,
      "num_hidden_layers": 1}, "'hidden_size' 100 is not a multiple of 'num_attention_heads' 12"),
    ({"model_type": "falcon", "vocab_size": 100, "hidden_size": 64, "num_attention_heads": 8, "num_hidden_layers": 1,
      "new_decoder_architecture": True, "num_kv_heads": 3}, "'num_kv_heads' 3 must divide num_attention_heads 8"),
    ({"model_type": "t5", "vocab_size": 100, "d_model": 64, "num_heads": 4, "num_layers": 1, "d_ff": 96,
      "feed_forward_proj": "gated-swiglu-x"}, "'feed_forward_proj' must be an activation or 'gated-' and one; got "
                                              "'gated-swiglu-x'"),
    ({"model_type": 7, "hidden_size": 64}, "field 'model_type' must be a string"),
    ({"model_type": "gemma3", "text_config": "gemma3_text"}, "field 'text_config' must be an object"),
])
def test_inconsistent_configs_transformers_refuses_are_refused(config, message):
    """Configs transformers refuses (a hidden size its heads do not split, KV heads that do not divide the heads,
    an unknown feed-forward form) are refused naming the field, not built truncated; a wrongly typed field is
    named as such (held-out round 8)."""
    with pytest.raises(WorkloadError, match=re.escape(message)):
        model_spec(config)


def test_vit_image_not_a_multiple_of_the_patch_keeps_its_whole_patches():
    """transformers' ViT embeds ``(image_size // patch_size) ** 2`` patches (its stride-patch Conv2d drops the pixels
    left over, as SigLIP's 384 / 14 keeps 27 x 27): the same graph and parameters as the largest multiple below, the
    counts transformers 5.25's ViTModel gives (120,640 for 30 / 16, 155,712 for 384 / 14); an image smaller than one
    patch is refused."""
    base = {"model_type": "vit", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
            "intermediate_size": 128}
    for image, patch, params in ((30, 16, 120_640), (384, 14, 155_712)):
        g = load_hf({**base, "image_size": image, "patch_size": patch})
        whole = load_hf({**base, "image_size": image // patch * patch, "patch_size": patch})
        assert g.metadata["hf"]["params"]["total"] == whole.metadata["hf"]["params"]["total"] == params
        assert g.total_macs == whole.total_macs
    with pytest.raises(WorkloadError, match="image_size 8 is smaller than patch_size 16"):
        load_hf({**base, "image_size": 8, "patch_size": 16})


def test_falcon2_single_norm_parallel_block():
    """Falcon2-11B's ``num_ln_in_parallel_attn: 1``: one ``input_layernorm`` feeds attention and MLP in the new
    architecture's parallel block (transformers' FalconDecoderLayer), not ``ln_attn`` and ``ln_mlp``."""
    base = {"model_type": "falcon", "vocab_size": 100, "hidden_size": 64, "num_attention_heads": 8, "num_kv_heads": 2,
            "new_decoder_architecture": True, "parallel_attn": True, "num_hidden_layers": 1}
    two, one = load_hf(base), load_hf({**base, "num_ln_in_parallel_attn": 1})
    assert params(two)["total"] - params(one)["total"] == 2 * 64
    assert params(one)["total"] == 49_664  # transformers 5.25 on the meta device
    names = {layer.name for layer in one.layers}
    assert "transformer.h.0.input_layernorm" in names and "transformer.h.0.ln_mlp" not in names


TINY_LLAMA = {"hidden_size": 128, "intermediate_size": 344, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 1000, "max_position_embeddings": 2048}
DS_TINY = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 4,
           "vocab_size": 100, "kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8,
           "moe_intermediate_size": 16, "num_experts_per_tok": 2, "n_routed_experts": 8, "n_shared_experts": 1,
           "first_k_dense_replace": 1, "q_lora_rank": 32}


@pytest.mark.parametrize("model_type, left_out", [
    # transformers 5.25's DeepseekV2Config / DeepseekV3Config defaults (eleventh held-out round: parameter counts of
    # trimmed configs checked against the models transformers builds on the meta device)
    ("deepseek_v3", "first_k_dense_replace"),  # default 3: blocks 0-2 dense
    ("deepseek_v3", "n_shared_experts"),  # default 1
    ("deepseek_v2", "n_shared_experts"),  # default 2
    ("deepseek_v3", "q_lora_rank"),  # default 1536
])
def test_fields_left_out_take_transformers_defaults(model_type, left_out):
    given = model_spec(dict(DS_TINY, model_type=model_type))
    trimmed = model_spec({k: v for k, v in dict(DS_TINY, model_type=model_type).items() if k != left_out})
    if left_out == "first_k_dense_replace":
        assert [i for i in range(4) if i in trimmed.moe.layers] == [3]
    elif left_out == "n_shared_experts":
        assert trimmed.moe.shared_intermediate == (2 if model_type == "deepseek_v2" else 1) * 16
    else:
        assert trimmed.mla.q_lora_rank == 1536 and given.mla.q_lora_rank == 32
    assert model_spec(dict(DS_TINY, model_type=model_type, q_lora_rank=None)).mla.q_lora_rank == 0  # null: none
    with pytest.raises(WorkloadError, match="'kv_lora_rank' is null"):  # typed int: no "none" meaning
        model_spec(dict(DS_TINY, model_type=model_type, kv_lora_rank=None))


def test_phi_qk_layernorm_gemma_head_dim_default_and_bad_fields():
    phi = {"model_type": "phi", "hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 2,
           "num_attention_heads": 4, "vocab_size": 1000}
    plain, normed = load_hf(phi), load_hf(dict(phi, qk_layernorm=True))
    # transformers: a LayerNorm (scale and shift) of head_dim features on the queries and on the keys of each layer
    assert params(normed)["total"] - params(plain)["total"] == 2 * 2 * 2 * 32
    assert normed.layer("model.layers.0.self_attn.q_layernorm").op == "layernorm"
    # Gemma 3's text model defaults head_dim to 256 (not hidden / heads) and ignores text_config.model_type
    g3 = model_spec({"model_type": "gemma3", "text_config": dict(TINY_LLAMA, model_type="llama")})
    assert g3.head_dim == 256 and g3.model_type == "gemma3_text"
    assert model_spec(dict(TINY_LLAMA, model_type="qwen3")).head_dim == 128
    assert model_spec(dict(TINY_LLAMA, model_type="llama")).head_dim == 32
    with pytest.raises(WorkloadError, match="field 'head_dim' must be an int >= 1; got 0"):
        model_spec(dict(TINY_LLAMA, model_type="llama", head_dim=0))
    moe = dict(TINY_LLAMA, model_type="qwen3_moe", num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16)
    with pytest.raises(WorkloadError, match="'mlp_only_layers' must be a list of layer indices; got \\[True\\]"):
        model_spec(dict(moe, mlp_only_layers=[True]))


@pytest.mark.parametrize("model_type, factor", [("phi", 0.5), ("gpt_neox", 0.25), ("phi3", 1.0)])
def test_partial_rotary_default_is_the_config_class_default(model_type, factor):
    """A config leaving the rotary factor out takes its transformers config class's default (PhiConfig 0.5,
    GPTNeoXConfig 0.25, Phi3Config 1.0; transformers 5.25), not 1."""
    spec = model_spec({"model_type": model_type, "hidden_size": 64, "num_attention_heads": 2, "num_hidden_layers": 1,
                       "intermediate_size": 128, "vocab_size": 100})
    assert (spec.rotary_dim or spec.head_dim) == int(32 * factor)
    saved = model_spec({"model_type": model_type, "hidden_size": 64, "num_attention_heads": 2, "num_hidden_layers": 1,
                        "intermediate_size": 128, "vocab_size": 100, "rope_parameters": {"partial_rotary_factor": 0.5}})
    assert (saved.rotary_dim or saved.head_dim) == 16


def test_stablelm_reads_its_norms_and_per_head_qk_layernorm():
    base = {"model_type": "stablelm", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1,
            "intermediate_size": 128, "vocab_size": 100}
    spec = model_spec(base)
    assert (spec.norm, spec.rotary_dim, spec.parallel) == ("layer", 4, "none")  # StableLmConfig: 0.25 of 16
    assert model_spec({**base, "use_parallel_residual": True}).parallel == "shared_norm"
    g = load_hf({**base, "qk_layernorm": True}, phase="decode", context=8)  # StableLmLayerNormPerHead, no bias
    q_norm = next(layer for layer in g.layers if layer.name == "model.layers.0.self_attn.q_layernorm")
    assert q_norm.params == 4 * 16


def test_a_vision_language_head_is_tied_by_the_top_level_flag():
    """Gemma3ForConditionalGeneration ties its head by Gemma3Config.tie_word_embeddings, whatever text_config says
    (held-out round 2026-12-05: the text_config's flag won)."""
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": 16, "vocab_size": 96}
    assert not model_spec({"model_type": "gemma3", "tie_word_embeddings": False,
                           "text_config": {**text, "tie_word_embeddings": True}}).tied
    assert model_spec({"model_type": "gemma3", "text_config": {**text, "tie_word_embeddings": False}}).tied


@pytest.mark.parametrize("model_type", ["gpt_neox", "falcon"])
def test_a_head_dim_the_family_ignores_is_refused_unless_equal(model_type):
    """GPTNeoXAttention sizes its heads hidden_size // num_attention_heads whatever head_dim says (a MAC round
    against FlopCounterMode found +28% linear MACs with head_dim 24 of 64 / 4); FalconConfig refuses the field."""
    base = {"model_type": model_type, "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1,
            "intermediate_size": 128, "vocab_size": 100}
    assert model_spec({**base, "head_dim": 16}).head_dim == 16
    with pytest.raises(WorkloadError, match=rf"field 'head_dim' 24 is not read by {model_type} .* = 16 features"):
        model_spec({**base, "head_dim": 24})


def test_olmoe_norms_need_heads_times_head_dim_equal_to_hidden():
    base = {"model_type": "olmoe", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1,
            "intermediate_size": 128, "vocab_size": 100, "num_experts": 4, "num_experts_per_tok": 2}
    with pytest.raises(WorkloadError, match=r"num_attention_heads x head_dim = 4 x 24 must equal it$"):
        model_spec({**base, "head_dim": 24})


def test_cohere_norms_have_no_shift_and_qk_norms_a_scale_per_head():
    base = {"model_type": "cohere", "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
            "num_hidden_layers": 1, "intermediate_size": 128, "vocab_size": 100}
    g = load_hf({**base, "use_qk_norm": True}, phase="decode", context=8)
    norms = {layer.name: layer for layer in g.layers if layer.op == "layernorm"}
    assert norms["model.layers.0.input_layernorm"].params == 64  # CohereLayerNorm: a weight, no bias
    assert norms["model.layers.0.self_attn.q_norm"].params == 4 * 16  # (heads, head_dim) scales
    assert norms["model.layers.0.self_attn.k_norm"].params == 2 * 16
    assert "model.layers.0.post_attention_layernorm" not in norms  # one norm feeds attention and MLP
