"""Held-out config round: a gemma3 text_config that leaves sizes out, sliding_window where transformers ignores it,
quantization_config / add_cross_attention notes, a folder without config.json."""

import pytest

from accelsim.errors import WorkloadError
from accelsim.workload.hf import load_hf
from accelsim.workload.zoo import load_workload

LLAMA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_attention_heads": 4,
         "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1000}


def test_gemma3_text_config_defaults():
    # google/gemma-3-4b-it's text_config: no heads, KV heads or vocabulary (Gemma3TextConfig's 8, 4, 262208)
    cfg = {"model_type": "gemma3", "text_config": {"hidden_size": 2560, "intermediate_size": 10240,
           "model_type": "gemma3_text", "num_hidden_layers": 34, "sliding_window": 1024}}
    g = load_hf(cfg, phase="decode", context=2048)
    assert g.metadata["hf"]["params"]["total"] == 3_880_263_168  # transformers' language model, meta device
    assert g.metadata["hf"]["kv_cache"]["token_blocks"] == 29 * 1024 + 5 * 2048


@pytest.mark.parametrize("model_type", ["llama", "granite", "olmo2"])
def test_sliding_window_ignored_where_transformers_ignores_it(model_type):
    g = load_hf(dict(LLAMA, model_type=model_type, sliding_window=64), phase="decode", context=256)
    assert g.metadata["hf"]["kv_cache"]["token_blocks"] == 2 * 256
    assert any("sliding_window 64 ignored" in n for n in g.metadata["notes"])


@pytest.mark.parametrize("model_type", ["mistral", "phi3"])
def test_sliding_window_applied_where_transformers_applies_it(model_type):
    g = load_hf(dict(LLAMA, model_type=model_type, sliding_window=64), phase="decode", context=256)
    assert g.metadata["hf"]["kv_cache"]["token_blocks"] == 2 * 64
    assert not g.metadata.get("notes")


def test_quantization_and_cross_attention_noted():
    g = load_hf(dict(LLAMA, quantization_config={"quant_method": "awq", "bits": 4}), phase="decode", context=16)
    assert any(n.startswith("quantization_config (awq, 4-bit) not applied") for n in g.metadata["notes"])
    gpt2 = {"model_type": "gpt2", "n_embd": 64, "n_head": 4, "n_layer": 2, "n_positions": 128, "vocab_size": 100,
            "add_cross_attention": True}
    assert any(n.startswith("add_cross_attention") for n in load_hf(gpt2).metadata["notes"])


def test_folder_without_config(tmp_path):
    with pytest.raises(WorkloadError, match="is a directory without config.json"):
        load_workload(str(tmp_path))


@pytest.mark.parametrize("quant, recipe", [
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True}, "w4a16-g128"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 32}, "w4a16-g32"),
    ({"quant_method": "fp8", "weight_block_size": [128, 128], "activation_scheme": "dynamic"}, "fp8-block128"),
    ({"quant_method": "fp8", "activation_scheme": "static"}, "fp8-e4m3"),
    ({"quant_method": "gptq", "bits": 3, "group_size": 64}, None),
])
def test_quantization_note_names_the_recipe_of_the_same_format(quant, recipe):
    note = next(n for n in load_hf(dict(LLAMA, quantization_config=quant)).metadata["notes"]
                if n.startswith("quantization_config ("))
    if recipe is None:
        assert "--recipe" not in note
        return
    assert note.endswith(f"--recipe {recipe} costs the same stored format from the shapes")
    from accelsim.compress.recipe import load_recipe

    load_recipe(recipe)  # a bundled recipe


def test_quantization_note_dropped_when_the_checkpoint_is_attached(tmp_path):
    """With --weights the packed layers carry the format: the config's 'not applied' note would be wrong."""
    import numpy as np

    from accelsim.workload.weights import load_checkpoint
    from tests.test_hf_checkpoint import TINY, _pack_along_last, write_safetensors

    name = "model.layers.0.mlp.down_proj"
    n, k = load_hf(TINY, phase="decode", context=8).layer(name).weight_shape
    g = load_hf(dict(TINY, quantization_config={"quant_method": "gptq", "bits": 4, "group_size": k}),
                phase="decode", context=8)
    assert any(n.startswith(f"quantization_config (gptq, 4-bit, group {k}) not applied") for n in g.metadata["notes"])
    write_safetensors(tmp_path / "m.safetensors", {  # one group of k inputs (the layout of test_hf_checkpoint's)
        f"{name}.qweight": ("I32", _pack_along_last(np.zeros((n, k), np.uint8), 4).T.copy()),
        f"{name}.qzeros": ("I32", _pack_along_last(np.zeros((1, n), np.uint8), 4)),
        f"{name}.scales": ("F16", np.ones((1, n), np.float16)),
        f"{name}.g_idx": ("I32", np.zeros(k, np.int32))})
    out = load_checkpoint(g, tmp_path / "m.safetensors")
    assert name in out.metadata["quantization"]
    assert not any(n.startswith("quantization_config (") for n in out.metadata["notes"])
