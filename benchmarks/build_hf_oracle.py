"""Build the transformers oracle of the Hugging Face config reader: random small configs of every family
accelsim reads, each with the parameter count and the sliding-window blocks of the model transformers builds
from it.

For each family and seed a config is drawn (sizes, heads and key-value heads, head_dim, biases, tied
embeddings, partial rotary, parallel blocks, post-norm OPT, MoE layouts, MLA ranks, sliding windows with and
without ``layer_types``); transformers builds the model class of docs/importers.md ("Hugging Face configs") on
the meta device (no weights allocated, nothing downloaded) and the oracle records ``sum(p.numel() for p in
model.parameters())``, the features RoPE rotates per head (twice its ``inv_freq`` length), the prefill MACs ``FlopCounterMode`` counts on a CPU copy with random weights, the blocks whose ``config.layer_types`` entry is ``sliding_attention`` (every block
when the config class keeps no such list and sets ``sliding_window``) and the whole config as
``save_pretrained`` writes it (``saved``: every field with transformers' defaults and key names, as a
published ``config.json`` carries them). Writes ``tests/data/hf/
transformers_oracle.json``, which ``tests/test_hf_oracle.py`` checks ``accelsim.workload.hf`` against (the
tests never import transformers).

Usage (a venv with torch and transformers)::

    python benchmarks/build_hf_oracle.py [--seeds 6] [--out tests/data/hf/transformers_oracle.json]
"""

from __future__ import annotations

import argparse
import json
import random
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "hf" / "transformers_oracle.json"
FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "granite", "olmo2", "starcoder2",
            "phi", "phi3", "gpt2", "gptj", "gpt_bigcode", "gpt_neox", "opt", "falcon", "mixtral", "qwen2_moe",
            "qwen3_moe", "deepseek_v2", "deepseek_v3", "bert", "roberta", "distilbert", "t5", "vit", "olmoe", "phimoe",
            "xlm-roberta", "camembert", "stablelm", "cohere")
#: families transformers builds as an encoder (AutoModel, with its pooler) or T5's encoder stack
ENCODERS = {"bert", "roberta", "distilbert", "vit", "xlm-roberta", "camembert"}


def draw(r: random.Random, fam: str) -> dict:
    """One small config of ``fam`` (the fields its transformers config class reads)."""
    h = r.choice([64, 96, 128])
    heads = r.choice([2, 4, 8])
    kv = r.choice([k for k in (1, 2, heads) if heads % k == 0])
    layers = r.randint(1, 7)
    inter, vocab, tie = r.choice([128, 160, 256]), r.choice([1000, 1024, 517]), r.random() < 0.5
    d = {"model_type": fam, "vocab_size": vocab, "hidden_size": h, "num_hidden_layers": layers,
         "num_attention_heads": heads, "intermediate_size": inter, "tie_word_embeddings": tie,
         "max_position_embeddings": 256, "pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0}
    if fam in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "mixtral", "qwen2_moe",
               "qwen3_moe", "granite", "olmo2", "starcoder2", "olmoe", "phimoe", "stablelm", "cohere"):
        d["num_key_value_heads"] = kv
    if fam == "cohere":
        d.update(use_qk_norm=r.random() < 0.5, attention_bias=r.random() < 0.3)
    if fam == "stablelm":
        d.update(use_qkv_bias=r.random() < 0.5, use_parallel_residual=r.random() < 0.5,
                 partial_rotary_factor=r.choice([0.25, 0.5, 1.0]), qk_layernorm=r.random() < 0.5)
    if fam in ("granite", "olmo2", "olmoe"):
        d.update(attention_bias=r.random() < 0.3)
    if fam == "starcoder2":
        d.update(use_bias=r.random() < 0.7, sliding_window=r.choice([None, 16]))
    if fam in ("llama", "mistral") and r.random() < 0.5:
        d["head_dim"] = r.choice([16, 32, 48])
    if fam == "llama":
        d.update(attention_bias=r.random() < 0.3, mlp_bias=r.random() < 0.3)
    if fam in ("qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3_text"):
        d["head_dim"] = r.choice([16, 32])
    if fam in ("qwen3", "qwen3_moe", "gemma2", "gemma3_text"):
        d["attention_bias"] = r.random() < 0.3
    if fam in ("mistral", "qwen2", "qwen3", "qwen2_moe", "qwen3_moe", "gemma2", "gemma3_text"):
        d["sliding_window"] = r.choice([16, 64])
        if fam.startswith("qwen"):
            d.update(use_sliding_window=r.random() < 0.7, max_window_layers=r.randint(0, layers))
        if fam == "gemma3_text" and r.random() < 0.5:
            d["sliding_window_pattern"] = r.choice([2, 3])
        if fam in ("gemma2", "gemma3_text") and r.random() < 0.3:
            d["layer_types"] = [r.choice(["sliding_attention", "full_attention"]) for _ in range(layers)]
    if fam == "mixtral":
        d.update(num_local_experts=r.choice([2, 4, 8]), num_experts_per_tok=2)
    if fam == "olmoe":
        d.update(num_experts=r.choice([4, 8]), num_experts_per_tok=2)
    if fam == "phimoe":
        d.update(num_local_experts=r.choice([4, 8]), num_experts_per_tok=2, attention_bias=r.random() < 0.5,
                 lm_head_bias=r.random() < 0.5, sliding_window=r.choice([None, 16]))
    if fam in ("qwen2_moe", "qwen3_moe"):
        d.update(num_experts=r.choice([4, 8]), num_experts_per_tok=2, moe_intermediate_size=r.choice([32, 64]),
                 decoder_sparse_step=r.choice([1, 2]), mlp_only_layers=r.choice([[], [0]]))
        if fam == "qwen2_moe":
            d["shared_expert_intermediate_size"] = r.choice([64, 128])
    if fam == "phi":
        d["partial_rotary_factor"] = r.choice([0.5, 1.0])
    if fam == "gpt2":
        d = {"model_type": "gpt2", "vocab_size": vocab, "n_embd": h, "n_layer": layers, "n_head": heads,
             "n_positions": 256, "n_inner": r.choice([None, inter]), "tie_word_embeddings": tie,
             "activation_function": r.choice(["gelu_new", "relu"])}
    if fam == "gptj":
        d = {"model_type": "gptj", "vocab_size": vocab, "n_embd": h, "n_layer": layers, "n_head": heads,
             "n_positions": 256, "rotary_dim": r.choice([8, h // heads]), "n_inner": r.choice([None, inter]),
             "tie_word_embeddings": tie}
    if fam == "gpt_bigcode":
        d = {"model_type": "gpt_bigcode", "vocab_size": vocab, "n_embd": h, "n_layer": layers, "n_head": heads,
             "n_positions": 256, "multi_query": r.random() < 0.7, "n_inner": r.choice([None, inter]),
             "tie_word_embeddings": tie}
    if fam == "gpt_neox":
        d.update(rotary_pct=r.choice([0.5, 1.0]), use_parallel_residual=r.random() < 0.5)
    if fam == "opt":
        d = {"model_type": "opt", "vocab_size": vocab, "hidden_size": h, "num_hidden_layers": layers,
             "num_attention_heads": heads, "ffn_dim": inter, "max_position_embeddings": 256,
             "word_embed_proj_dim": r.choice([h, h // 2]), "do_layer_norm_before": r.random() < 0.6,
             "tie_word_embeddings": tie, "enable_bias": r.random() < 0.8, "pad_token_id": 1}
    if fam == "falcon":
        d = {"model_type": "falcon", "vocab_size": vocab, "hidden_size": h, "num_hidden_layers": layers,
             "num_attention_heads": heads, "new_decoder_architecture": r.random() < 0.5,
             "multi_query": r.random() < 0.5, "parallel_attn": r.random() < 0.5, "bias": r.random() < 0.3,
             "num_kv_heads": kv, "tie_word_embeddings": tie, "alibi": False}
        if r.random() < 0.3:
            d["ffn_hidden_size"] = inter
        if d["new_decoder_architecture"] and d["parallel_attn"] and layers % 2:
            d["num_ln_in_parallel_attn"] = 1  # Falcon2-11B: one input_layernorm feeds attention and MLP
    if fam in ("bert", "roberta", "xlm-roberta", "camembert"):
        d.pop("tie_word_embeddings")
        d.update(type_vocab_size=r.choice([1, 2]), pad_token_id=1)
    if fam == "distilbert":
        d = {"model_type": "distilbert", "vocab_size": vocab, "dim": h, "n_layers": layers, "n_heads": heads,
             "hidden_dim": inter, "max_position_embeddings": 256, "sinusoidal_pos_embds": r.random() < 0.3}
    if fam == "t5":
        d = {"model_type": "t5", "vocab_size": vocab, "d_model": h, "num_layers": layers, "num_heads": heads,
             "d_kv": r.choice([16, 32]), "d_ff": inter, "feed_forward_proj": r.choice(["relu", "gated-gelu"]),
             "relative_attention_num_buckets": r.choice([32, 16])}
    if fam == "vit":
        d = {"model_type": "vit", "hidden_size": h, "num_hidden_layers": layers, "num_attention_heads": heads,
             "intermediate_size": inter, "image_size": r.choice([32, 64]), "patch_size": r.choice([8, 16]),
             "qkv_bias": r.random() < 0.8, "num_channels": r.choice([1, 3])}
    if fam in ("deepseek_v2", "deepseek_v3"):
        d.update(num_key_value_heads=heads, kv_lora_rank=r.choice([16, 32]),
                 q_lora_rank=r.choice([None, 24]) if fam == "deepseek_v2" else r.choice([24, 32]),
                 qk_rope_head_dim=r.choice([8, 16]), qk_nope_head_dim=r.choice([8, 16]), v_head_dim=r.choice([8, 16]),
                 n_routed_experts=r.choice([4, 8]), num_experts_per_tok=2, moe_intermediate_size=32,
                 n_shared_experts=r.choice([1, 2]), first_k_dense_replace=r.choice([0, 1]), n_group=1, topk_group=1)
    return d


def reference(d: dict) -> dict:
    """Parameters and sliding-window blocks of the model transformers builds from ``d`` (meta device)."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, T5EncoderModel

    cfg = AutoConfig.for_model(**d)
    with torch.device("meta"):
        if d["model_type"] == "t5":
            model = T5EncoderModel(cfg)
        elif d["model_type"] in ENCODERS:
            model = AutoModel.from_config(cfg)
        else:
            model = AutoModelForCausalLM.from_config(cfg)
    layers = cfg.num_hidden_layers
    window = getattr(cfg, "sliding_window", None)
    types = getattr(cfg, "layer_types", None)
    sliding = [i for i in range(layers) if window and (types is None or types[i] == "sliding_attention")]
    # RoPE's rotated features per head: twice its inverse frequencies (none: learned or relative positions)
    inv_freq = [b for name, b in model.named_buffers() if name.endswith("rotary_emb.inv_freq")]
    saved = json.loads(cfg.to_json_string(use_diff=False))  # the config.json save_pretrained writes
    saved.pop("transformers_version", None)
    return {"params": int(sum(p.numel() for p in model.parameters())), "window": int(window or 0),
            "rotary": 2 * int(inv_freq[0].shape[0]) if inv_freq else 0,
            "sliding_blocks": sliding if d["model_type"] not in ENCODERS | {"t5"} else [],
            "macs": _prefill_macs_or_none(d), "saved": saved}


def _prefill_macs_or_none(d: dict) -> dict | None:
    """:func:`prefill_macs`, or None (printed) where transformers' own forward fails on the config (Falcon with one
    norm in its new parallel block: ``FalconDecoderLayer`` has no ``ln_attn``, 5.25)."""
    try:
        return prefill_macs(d)
    except AttributeError as exc:
        print(f"{d['model_type']}: transformers' forward fails ({exc}); no MACs recorded")
        return None


#: aten ops whose FLOPs FlopCounterMode counts for the projections (linear) and for the attention products
LINEAR_OPS, ATTENTION_OPS = ("mm", "addmm", "convolution", "_grouped_mm"), ("bmm", "baddbmm")
#: the prompt of the MAC oracle: one forward of this many tokens at batch 1
PREFILL_TOKENS = 7


def prefill_macs(d: dict) -> dict:
    """MACs (FLOPs / 2) of one forward of the model transformers builds from ``d``, random weights on the CPU,
    eager attention and experts, a prefill of ``PREFILL_TOKENS`` tokens at batch 1 computing the last token's
    logits only (``logits_to_keep=1``, accelsim's prefill convention; a ViT reads one image), counted by
    ``torch.utils.flop_counter.FlopCounterMode``: ``linear`` the projections (mm / addmm / convolution / grouped
    mm), ``attention`` the batched score and context products (bmm / baddbmm)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, T5EncoderModel

    cfg = AutoConfig.for_model(**d)
    torch.manual_seed(0)
    kind = d["model_type"]
    if kind == "t5":
        model = T5EncoderModel._from_config(cfg, attn_implementation="eager")
    elif kind in ENCODERS:
        model = AutoModel.from_config(cfg, attn_implementation="eager")
    else:
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", experts_implementation="eager")
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        if kind == "vit":
            model(pixel_values=torch.randn(1, cfg.num_channels, cfg.image_size, cfg.image_size))
        elif kind in ENCODERS or kind == "t5":
            model(input_ids=torch.randint(3, cfg.vocab_size, (1, PREFILL_TOKENS)))
        else:
            model(input_ids=torch.randint(3, cfg.vocab_size, (1, PREFILL_TOKENS)), logits_to_keep=1, use_cache=False)
    flops = {}
    for op, value in counter.get_flop_counts()["Global"].items():
        name = str(op).removeprefix("aten.").split(".")[0]
        flops[name] = flops.get(name, 0) + int(value)
    other = sorted(set(flops) - set(LINEAR_OPS) - set(ATTENTION_OPS))
    if other:
        raise RuntimeError(f"{kind}: FlopCounterMode counted ops this oracle does not sort: {other}")
    return {"tokens": PREFILL_TOKENS, "linear": sum(flops.get(o, 0) for o in LINEAR_OPS) // 2,
            "attention": sum(flops.get(o, 0) for o in ATTENTION_OPS) // 2}


#: vision-language configs -> the text family their text_config is drawn from (the decoder accelsim reads)
MULTIMODAL = {"gemma3": "gemma3_text", "mistral3": "mistral", "llava": "llama"}
#: a tiny vision tower of each (not modelled by accelsim; transformers needs one to build the model)
VISION = {"gemma3": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "image_size": 28, "patch_size": 14},
          "mistral3": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 28, "patch_size": 14, "head_dim": 16},
          "llava": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                    "image_size": 28, "patch_size": 14}}


def draw_multimodal(r: random.Random, fam: str) -> dict:
    """A vision-language config: a text_config of its text family (its model_type written or left out, its head
    tied or not at the top level or left to the class default) and a tiny vision tower."""
    text = draw(r, MULTIMODAL[fam])
    text.pop("tie_word_embeddings")
    if r.random() < 0.5:
        text.pop("model_type")
    d = {"model_type": fam, "text_config": text, "vision_config": dict(VISION[fam])}
    tie = r.choice([None, True, False])
    if tie is not None:
        d["tie_word_embeddings"] = tie
    if fam == "gemma3":
        d["mm_tokens_per_image"] = 4
    return d


def reference_multimodal(d: dict) -> dict:
    """The parameters of the language model transformers builds inside the vision-language model (meta device):
    its decoder, plus the head when it is not tied to the embedding table; its RoPE features."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    cfg = AutoConfig.for_model(**d)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(cfg)
    lm = model.model.language_model
    tied = model.lm_head.weight is lm.embed_tokens.weight
    inv_freq = [b for name, b in lm.named_buffers() if name.endswith("rotary_emb.inv_freq")]
    saved = json.loads(cfg.to_json_string(use_diff=False))
    saved.pop("transformers_version", None)
    return {"params": int(sum(p.numel() for p in lm.parameters())) + (0 if tied else model.lm_head.weight.numel()),
            "window": 0, "rotary": 2 * int(inv_freq[0].shape[0]) if inv_freq else 0, "sliding_blocks": [],
            "macs": None, "saved": saved}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import transformers

    cases = []
    for fam in FAMILIES:
        for seed in range(args.seeds):
            config = draw(random.Random(f"{fam}/{seed}"), fam)
            cases.append({"family": fam, "seed": seed, "config": config, **reference(dict(config))})
    for fam in MULTIMODAL:
        for seed in range(args.seeds):
            config = draw_multimodal(random.Random(f"{fam}/{seed}"), fam)
            cases.append({"family": fam, "seed": seed, "config": config, **reference_multimodal(json.loads(json.dumps(config)))})
    args.out.write_text(json.dumps({"transformers": transformers.__version__, "cases": cases}, indent=1) + "\n")
    print(f"{len(cases)} configs -> {args.out}")


if __name__ == "__main__":
    main()
