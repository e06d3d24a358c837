"""Defects the held-out rounds of 2026-12-06 (thirty-seventh session; helpers that read none of the tests) found on
the Hugging Face reader and the compression formats."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelsim.compress.recipe import compress, load_recipe
from accelsim.errors import WorkloadError
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Input, Linear
from accelsim.workload.zoo import load_workload

SMALL = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 100}
WINDOWED = [{"model_type": "mistral"}, {"model_type": "gemma2", "head_dim": 16},
            {"model_type": "qwen2", "use_sliding_window": True, "max_window_layers": 0},
            {"model_type": "starcoder2"}]


def _config(tmp_path, **fields):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**SMALL, **fields}))
    return path


@pytest.mark.parametrize("family", WINDOWED, ids=lambda f: f["model_type"])
def test_a_zero_sliding_window_is_refused_where_the_family_applies_it(tmp_path, family):
    # 0 read as "no window" doubled Mistral-7B's KV cache at 8,192 tokens without a word; transformers cannot run it
    with pytest.raises(WorkloadError, match="field 'sliding_window' must be an int >= 1; got 0"):
        load_workload(str(_config(tmp_path, **family, sliding_window=0)))
    windowed = load_workload(str(_config(tmp_path, **family, sliding_window=8)), phase="decode", context=64)
    full = load_workload(str(_config(tmp_path, **family, sliding_window=None)), phase="decode", context=64)
    assert windowed.metadata["hf"]["kv_cache"]["bytes"] < full.metadata["hf"]["kv_cache"]["bytes"]


def test_a_zero_sliding_window_is_accepted_where_the_family_ignores_it(tmp_path):
    g = load_workload(str(_config(tmp_path, model_type="llama", sliding_window=0)))
    assert not any("sliding_window" in n for n in g.metadata.get("notes", []))  # no window to ignore
    g = load_workload(str(_config(tmp_path, model_type="llama", sliding_window=16)))
    assert any("sliding_window 16 ignored" in n for n in g.metadata.get("notes", []))


def test_activation_groups_that_do_not_divide_k_store_a_partial_group_with_or_without_a_sample():
    # per-token groups of 9 on K = 30: accepted without an activation sample but refused (late, naming neither the
    # recipe nor the field) with one; both now store ceil(30 / 9) = 4 groups a token
    recipe = load_recipe({"name": "g9", "pipeline": [
        {"quantize": {"bits": 8, "per_channel": True}},
        {"activations": {"bits": 8, "granularity": "per_token", "group_size": 9, "dynamic": True}}]})
    g = LayerGraph("t")
    g.add(Input(name="x", shape=(30,)))
    g.add(Linear(name="fc", input_shapes=((30,),), out_features=8), ["x"])
    plain = compress(g, recipe, seed=0)["fc"]
    g.activation_samples["fc"] = np.random.default_rng(0).standard_normal((4, 30))
    sampled = compress(g, recipe, seed=0)["fc"]
    for cl in (plain, sampled):
        assert cl.activation_format.label == "int8-per-token-g9-dynamic"
        assert cl.activation_format.scales_for(4, 30) == 16
