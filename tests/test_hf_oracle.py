"""Hugging Face config reader against transformers itself: 222 random small configs of the 34 families and 3 vision-language forms read
(tests/data/hf/transformers_oracle.json, built by benchmarks/build_hf_oracle.py with transformers on the meta
device; transformers is not imported here). Each config's parameter count must equal the count of the model
transformers builds from it, its sliding-window blocks those transformers' ``layer_types`` marks, its RoPE features those
of transformers' rotary embedding, and its prefill MACs those FlopCounterMode counts on transformers' eager model."""

import json
from pathlib import Path

import pytest

from accelsim.workload.hf import load_hf, model_spec

ORACLE = json.loads((Path(__file__).parent / "data" / "hf" / "transformers_oracle.json").read_text())
CASES = ORACLE["cases"]


def test_oracle_covers_every_family_read():
    from accelsim.workload.hf.config import FAMILIES, MULTIMODAL

    assert {c["family"] for c in CASES} == set(FAMILIES) | (set(MULTIMODAL) - {"llava_next"})  # LLaVA's text model
    assert sum(1 for c in CASES if c["sliding_blocks"]) >= 20  # windows on some blocks, all, or none


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['family']}-{c['seed']}")
@pytest.mark.parametrize("form", ["config", "saved"])
def test_parameter_count_equals_transformers(case, form):
    """The config as written by hand (few fields) and as ``save_pretrained`` writes it (every field)."""
    graph = load_hf(dict(case[form]))
    assert graph.metadata["hf"]["params"]["total"] == case["params"]


@pytest.mark.parametrize("case", [c for c in CASES if c["config"].get("sliding_window")],
                         ids=lambda c: f"{c['family']}-{c['seed']}")
@pytest.mark.parametrize("form", ["config", "saved"])
def test_sliding_window_blocks_equal_transformers(case, form):
    spec = model_spec(dict(case[form]))
    assert [i for i in range(spec.layers) if spec.window_of(i)] == case["sliding_blocks"]
    if case["sliding_blocks"]:
        assert spec.window == case["window"]


@pytest.mark.parametrize("case", [c for c in CASES if c["rotary"]], ids=lambda c: f"{c['family']}-{c['seed']}")
@pytest.mark.parametrize("form", ["config", "saved"])
def test_rotary_features_equal_transformers(case, form):
    """The features RoPE rotates per head: transformers 5 saves a partial factor inside ``rope_parameters`` (Phi's
    0.5 and GPT-NeoX's 0.25 were read as 1 from the saved form, and from a config leaving them out)."""
    spec = model_spec(dict(case[form]))
    rotary = spec.mla.rope_dim if spec.mla is not None else (spec.rotary_dim or spec.head_dim)
    assert rotary == case["rotary"]


def _accelsim_macs(graph) -> dict:
    """Linear (projections, experts, patch convolution) and attention (score and context products) MACs."""
    parts = {"linear": 0, "attention": 0}
    for layer in graph.layers:
        if layer.op in ("linear", "grouped_linear", "conv2d"):
            parts["linear"] += int(layer.macs)
        elif layer.op in ("matmul", "attention"):
            parts["attention"] += int(layer.macs)
    return parts


@pytest.mark.parametrize("case", [c for c in CASES if c["macs"]], ids=lambda c: f"{c['family']}-{c['seed']}")
def test_prefill_macs_equal_flop_counter_mode(case):
    """MACs of a prefill against FlopCounterMode on transformers' eager model (random weights, the last token's
    logits). Documented conventions (docs/workloads.md): OPT-350m-style ``project_out`` runs on the last token
    only (transformers projects every token); DeepSeek's attention is the absorbed MLA form (its projections are
    compared)."""
    cfg, ref = dict(case["config"]), case["macs"]
    graph = load_hf(cfg) if case["family"] == "vit" else load_hf(cfg, phase="prefill", prompt=ref["tokens"])
    got = _accelsim_macs(graph)
    linear = ref["linear"]
    proj, hidden = cfg.get("word_embed_proj_dim"), cfg.get("hidden_size")
    if case["family"] == "opt" and proj and proj != hidden:
        linear -= (ref["tokens"] - 1) * hidden * proj  # project_out of the tokens whose logits are not computed
    assert got["linear"] == linear
    if case["family"] not in ("deepseek_v2", "deepseek_v3"):
        assert got["attention"] == ref["attention"]
