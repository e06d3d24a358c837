"""Hugging Face ``config.json`` -> :class:`ModelSpec`, the architecture facts the graph builder needs.

A source is a dict, a ``.json`` file holding a Hugging Face config (any file name) or a folder holding
``config.json``. The ``model_type`` field picks the family reader; every reader takes the fields the
``transformers`` config class of that family defines, with that class's defaults for fields left out
(e.g. ``num_key_value_heads`` defaults to ``num_attention_heads``, ``head_dim`` to ``hidden_size /
num_attention_heads``). A field that is required and missing, or of the wrong type, is a one-line
:class:`~accelsim.errors.WorkloadError` naming the source, the field, what was expected and what was given.

Families: decoders ``llama``, ``mistral``, ``qwen2``, ``qwen3``, ``gemma``, ``gemma2``, ``gemma3_text``,
``granite``, ``olmo2``, ``starcoder2``, ``phi``, ``phi3``, ``stablelm``, ``cohere``, ``gpt2``, ``gptj``, ``gpt_bigcode``, ``gpt_neox``,
``opt``, ``falcon``; mixtures of experts ``mixtral``,
``qwen2_moe``, ``qwen3_moe``, ``olmoe``, ``phimoe``, ``deepseek_v2``, ``deepseek_v3``; encoders ``bert``, ``roberta``
(and ``xlm-roberta``, ``camembert``, RoBERTa's modules),
``distilbert``, ``t5`` (the encoder stack), ``vit``.

Sliding-window attention applies to the blocks the config's ``layer_types`` marks ``sliding_attention``;
without that list, to the blocks the family's transformers class picks (Mistral, Mixtral, Phi-3: all; with
``use_sliding_window``: Qwen2 / Qwen3 from ``max_window_layers`` on, Qwen2-MoE every other block below it,
Qwen3-MoE all; Gemma 2: every other block from the first; Gemma 3: all but every
``sliding_window_pattern``-th). Llama, Granite, OLMo 2 and Gemma 1 attend over all keys whatever their config's
``sliding_window`` says, as transformers' classes do (a note says it was ignored).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from accelsim.config import given
from accelsim.errors import WorkloadError

#: largest config file read (a config.json is a few kB; a 1000-label ``id2label`` is ~30 kB)
MAX_CONFIG_BYTES = 1 << 22
#: largest value of an int field (sizes are multiplied together in int64: 2^40 keeps products of two in range)
MAX_FIELD = 1 << 40
#: most routed experts per MoE block (routing keeps a share per expert and block; DeepSeek-V3 has 256)
MAX_EXPERTS = 1 << 16
#: most blocks (a graph holds at most 65,536 layers, a block a dozen or more)
MAX_BLOCKS = 1 << 14
#: widest hidden size, MLP width, vocabulary and head count accepted (the largest published models are 20-70x
#: inside them: hidden 18,432, MLP 73,728, vocabulary 256,000, 128 heads), so a width whose products overflow is
#: refused naming the field, not a layer's MAC count
MAX_HIDDEN = 1 << 20
MAX_MLP = 1 << 22
MAX_VOCAB = 1 << 24
MAX_HEADS = 1 << 16
_FIELD_CAPS = {
    **dict.fromkeys(("num_hidden_layers", "n_layer", "n_layers", "num_layers"), MAX_BLOCKS),
    **dict.fromkeys(("hidden_size", "n_embd", "d_model", "head_dim", "d_kv", "kv_lora_rank", "q_lora_rank"), MAX_HIDDEN),
    **dict.fromkeys(("intermediate_size", "n_inner", "ffn_dim", "d_ff", "moe_intermediate_size",
                     "shared_expert_intermediate_size"), MAX_MLP),
    **dict.fromkeys(("vocab_size",), MAX_VOCAB),
    **dict.fromkeys(("num_attention_heads", "n_head", "n_heads", "num_heads", "num_key_value_heads", "n_head_kv",
                     "num_kv_heads", "multi_query_group_num"), MAX_HEADS),
}


@dataclass(frozen=True)
class MoeSpec:
    """Mixture-of-experts facts: ``experts`` routed experts of ``intermediate`` features, ``top_k`` per
    token, in the blocks listed in ``layers`` (the others have a dense MLP); ``shared_intermediate`` features
    of always-on shared experts (0: none) and ``shared_gate`` (Qwen-MoE's sigmoid gate on the shared
    expert); ``router_bias``: the router linear has a bias."""

    experts: int
    top_k: int
    intermediate: int
    layers: tuple[int, ...] = ()
    shared_intermediate: int = 0
    shared_gate: bool = False
    router_bias: bool = False

    def is_moe(self, layer: int) -> bool:
        return layer in self.layers


@dataclass(frozen=True)
class MlaSpec:
    """DeepSeek multi-head latent attention: queries through a ``q_lora_rank`` bottleneck (0: a plain
    projection), keys and values compressed to a ``kv_lora_rank`` latent plus a ``rope_dim`` RoPE key
    shared by all heads; per head ``nope_dim + rope_dim`` query/key features and ``v_dim`` value features."""

    q_lora_rank: int
    kv_lora_rank: int
    nope_dim: int
    rope_dim: int
    v_dim: int


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of one Hugging Face model, family-independent. Sizes are features; see the module
    docstring of :mod:`accelsim.workload.hf.build` for how each field shapes the graph."""

    name: str
    model_type: str
    kind: str  # decoder | encoder | t5_encoder | vit
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_positions: int
    names: dict = field(default_factory=dict, compare=False)
    norm: str = "rms"  # rms | layer
    act: str = "silu"
    gated_mlp: bool = True
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    fused_qkv: bool = False
    fused_gate_up: bool = False
    parallel: str = "none"  # none | shared_norm | two_norms
    post_norm: bool = False  # BERT-style: LayerNorm after each residual add
    positions: str = "rope"  # rope | learned | relative | none
    position_offset: int = 0  # OPT: learned position table has max_positions + 2 rows
    rotary_dim: int = 0  # 0: the whole head
    tied: bool = True
    lm_head_bias: bool = False
    final_norm: bool = True
    embed_norm: bool = False  # BERT / RoBERTa / DistilBERT: LayerNorm after the embeddings
    type_vocab: int = 0  # BERT token types
    pooler: bool = False
    window: int = 0  # sliding-window attention (0: none)
    window_layers: tuple[int, ...] | None = None  # the blocks that use the window (None: every block)
    qk_norm: str = ""  # "head": an RMSNorm per query / key head (Qwen3, Gemma 3); "full": over the whole projection (OLMo 2);
    # "heads": a bias-free LayerNorm per query / key head, each head its own scale (Cohere's use_qk_norm)
    norm_shift: bool = True  # a LayerNorm's bias (Cohere's LayerNorm has none)
    branch_norms: str = "pre"  # where a block normalises: "pre" each branch's input; "both" its input and output
    # (Gemma 2 / 3); "post" its output only, before the residual add (OLMo 2)
    softcap: bool = False  # Gemma 2: tanh soft-capping of attention scores and of the logits
    word_embed_dim: int = 0  # OPT-350m: embeddings narrower than hidden, projected in and out
    relative_buckets: int = 0  # T5
    image_size: int = 0  # ViT
    patch_size: int = 0
    channels: int = 3
    moe: MoeSpec | None = None
    mla: MlaSpec | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)  # what the graph leaves out (metadata["notes"])

    @property
    def is_decoder(self) -> bool:
        return self.kind == "decoder"

    def window_of(self, layer: int) -> int:
        """The sliding window of block ``layer`` (0: full attention)."""
        if not self.window or (self.window_layers is not None and layer not in self.window_layers):
            return 0
        return self.window


# --- reading ---------------------------------------------------------------------------------------------
def read_config(source) -> tuple[dict, str]:
    """``(config dict, source label)`` of a dict, a ``.json`` file or a folder holding ``config.json``."""
    if isinstance(source, dict):
        return source, str(source.get("_name_or_path") or source.get("model_type") or "<config>")
    path = Path(source)
    if path.is_dir():
        path = path / "config.json"
        if not path.is_file():
            raise WorkloadError(f"{source}: folder holds no config.json (expected a Hugging Face model folder)")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise WorkloadError(f"{path}: {size} bytes is too large for a Hugging Face config (max {MAX_CONFIG_BYTES})")
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot read ({exc.strerror or exc})") from None

    def unique(pairs: list) -> dict:  # a key given twice is refused, as the YAML readers refuse it
        out: dict = {}
        for key, value in pairs:
            if key in out:
                raise WorkloadError(f"{path}: key '{key}' is given twice (the JSON object must name each field once)")
            out[key] = value
        return out

    try:
        data = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=unique)
    except UnicodeDecodeError as exc:
        raise WorkloadError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise WorkloadError(f"{path}: not JSON ({exc.msg.removesuffix(' at')} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise WorkloadError(f"{path}: JSON nested too deeply to be a Hugging Face config") from None
    if not isinstance(data, dict):
        raise WorkloadError(f"{path}: a Hugging Face config must be a JSON object; got {type(data).__name__}")
    return data, str(path)


class _Read(dict):
    """A config dict that records every key a family reader looks up (``get``, ``[]``, ``in``), for
    :func:`_check_misspelled`."""

    def __init__(self, data: dict):
        super().__init__(data)
        self.read: set = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return super().__contains__(key)


class _Fields:
    """Typed access to config fields with one-line errors naming the source and the field; ``data.read`` holds
    every key looked up."""

    def __init__(self, data: dict, source: str):
        self.data = data if isinstance(data, _Read) else _Read(data)
        self.source = source

    def _get(self, key: str | tuple[str, ...]):
        keys = (key,) if isinstance(key, str) else key
        self.data.read.update(keys)
        for k in keys:
            if k in self.data and self.data[k] is not None:
                return k, self.data[k]
        return keys[0], None

    def int(self, key, default=None, lo: int = 1, hi: int = MAX_FIELD, null: bool = True) -> int:
        """An int field in ``[lo, hi]`` (a float is refused, as transformers' config classes refuse it). A field
        left out, or null where ``null`` (transformers' class takes None there), takes ``default``; null where
        the class types the field as an int is refused."""
        name, value = self._get(key)
        if value is None:
            if not null and name in self.data:
                raise WorkloadError(f"{self.source}: field '{name}' is null; model_type '{self.data.get('model_type')}' "
                                    f"needs an int >= {lo} there (leave the field out for transformers' default)")
            if default is None:
                raise WorkloadError(f"{self.source}: missing field '{name}' (an int >= {lo}) for model_type "
                                    f"'{self.data.get('model_type')}'")
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise WorkloadError(f"{self.source}: field '{name}' must be an int >= {lo}; got {given(value)}")
        hi = min(hi, _FIELD_CAPS.get(name, hi))
        if value > hi:
            raise WorkloadError(f"{self.source}: field '{name}' is {value}; at most {hi} is accepted")
        return value

    def float(self, key, default: float) -> float:
        name, value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise WorkloadError(f"{self.source}: field '{name}' must be a number; got {given(value)}")
        return float(value)

    def bool(self, key, default: bool) -> bool:
        name, value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise WorkloadError(f"{self.source}: field '{name}' must be true or false; got {given(value)}")
        return value

    def str(self, key, default: str) -> str:
        name, value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise WorkloadError(f"{self.source}: field '{name}' must be a string; got {given(value)}")
        return value


def _act(f: _Fields, key="hidden_act", default="silu") -> str:
    """Activation family: silu / gelu (gelu_new, gelu_pytorch_tanh, ...) / relu."""
    name = f.str(key, default).lower()
    for fam in ("silu", "gelu", "relu"):
        if name.startswith(fam) or name == "swish" and fam == "silu" or name.endswith(fam):
            return fam
    raise WorkloadError(f"{f.source}: field '{key}' names an activation accelsim has no op for: {name!r} "
                        "(expected silu, gelu or relu variants)")


def _window(f: _Fields, lo: int = 1) -> int:
    """The config's attention window (0: none, the field null or left out, or ``use_sliding_window: false``). A
    window of 0 is refused where the family applies it (transformers' attention cannot run one; it is no "no
    window"), accepted where the family ignores it (``lo=0``, :func:`_no_window`)."""
    if not f.bool("use_sliding_window", True):
        return 0
    return f.int("sliding_window", 0, lo=lo)


def _window_layers(f: _Fields, default) -> tuple[int, ...] | None:
    """The blocks with sliding-window attention: from the config's ``layer_types`` when it lists them, else
    ``default`` (a predicate on the block index; None: every block)."""
    layers = f.int("num_hidden_layers")
    types = _layer_types(f)
    if types is not None:
        return tuple(i for i, t in enumerate(types) if t == "sliding_attention")
    return None if default is None else tuple(i for i in range(layers) if default(i))


def _layer_types(f: _Fields) -> list[str] | None:
    """The config's ``layer_types``, checked whichever family reads it (transformers' config classes refuse a
    list of the wrong length or with an unknown type even where no window applies)."""
    types = f.data.get("layer_types")
    if types is None:
        return None
    layers = f.int(("num_hidden_layers", "n_layer", "num_layers"))
    if not isinstance(types, list) or len(types) != layers or not all(isinstance(t, str) for t in types):
        raise WorkloadError(f"{f.source}: field 'layer_types' must list one attention type per block "
                            f"({layers}); got {types!r}")
    unknown = sorted({t for t in types} - {"sliding_attention", "full_attention"})
    if unknown:
        raise WorkloadError(f"{f.source}: field 'layer_types' has unknown attention type(s) {unknown}; expected "
                            "'sliding_attention' or 'full_attention'")
    return types


def _qwen_window(f: _Fields, blocks: str = "from") -> tuple[int, tuple[int, ...] | None]:
    """Qwen: a window only with ``use_sliding_window`` (default false), on the blocks transformers' classes pick
    without ``layer_types``: ``from`` ``max_window_layers`` on (Qwen2, Qwen3), ``odd_below`` it (every other
    block from the first, below ``max_window_layers``: Qwen2-MoE), ``all`` (Qwen3-MoE)."""
    if not f.bool("use_sliding_window", False):
        return 0, None
    first = f.int("max_window_layers", 28, lo=0)
    default = {"from": lambda i: i >= first, "odd_below": lambda i: i % 2 == 0 and i < first, "all": None}[blocks]
    return f.int("sliding_window", 0, lo=1), _window_layers(f, default)


def _head_size(f: _Fields, hidden: int, heads: int, hidden_keys, heads_keys) -> int:
    """``hidden / heads`` for a family whose attention splits the hidden size evenly (transformers refuses the
    config otherwise); the keys (a name or the names the reader accepts) name the fields in the message."""
    if hidden % heads:
        raise WorkloadError(f"{f.source}: field '{f._get(hidden_keys)[0]}' {hidden} is not a multiple of "
                            f"'{f._get(heads_keys)[0]}' {heads}")
    return hidden // heads


#: families whose transformers config class defaults head_dim to a number, not to hidden_size / heads (5.25)
HEAD_DIM_DEFAULTS = {"gemma": 256, "gemma2": 256, "gemma3_text": 256, "qwen3": 128}


def _heads(f: _Fields, hidden: int) -> tuple[int, int, int]:
    head_keys = ("num_attention_heads", "n_head", "n_heads", "num_heads")
    heads = f.int(head_keys)
    kv = f.int("num_key_value_heads", heads)
    # head_dim given (null: left out) is used as given, so 0 is refused, not read as left out
    default = HEAD_DIM_DEFAULTS.get(f.data.get("model_type"))
    if default is not None:  # these classes type head_dim as an int: null is refused, left out is the default
        head_dim = f.int("head_dim", default, null=False)
    else:  # the others take null (or nothing) as hidden_size / heads
        head_dim = f.int("head_dim") if f._get("head_dim")[1] is not None else _head_size(
            f, hidden, heads, "hidden_size", head_keys)
    if heads % kv:
        raise WorkloadError(f"{f.source}: num_key_value_heads {kv} must divide num_attention_heads {heads}")
    return heads, kv, head_dim


def _rotary_dim(f: _Fields, head_dim: int, key="partial_rotary_factor", default: float = 1.0) -> int:
    """The rotated features of a head: ``head_dim`` times the family's factor (``key``; transformers 5 saves it
    as ``rope_parameters.partial_rotary_factor``, read there when the config has no ``key``; else the family's
    config-class default: Phi 0.5, GPT-NeoX 0.25, StableLM 0.25, the others 1)."""
    name, factor = key, f.float(key, default)
    rope = f.data.get("rope_parameters")
    if f._get(key)[1] is None and isinstance(rope, dict) and rope.get("partial_rotary_factor") is not None:
        name, factor = "rope_parameters.partial_rotary_factor", _Fields(rope, f.source).float("partial_rotary_factor", 1.0)
    if not 0.0 < factor <= 1.0:
        raise WorkloadError(f"{f.source}: field '{name}' must be in (0, 1]; got {factor}")
    rotary = int(head_dim * factor)
    if rotary % 2:
        given = name in f.data or name.startswith("rope_parameters.")
        if not given and factor == 1.0:  # the whole head rotates: the head size the config gives is odd
            where = "head_dim" if f._get("head_dim")[1] is not None else "hidden_size / num_attention_heads"
            raise WorkloadError(f"{f.source}: {where} gives {head_dim}-feature heads; RoPE rotates pairs of features, "
                                "so the head size must be even")
        raise WorkloadError(f"{f.source}: field '{name}' {factor} gives {rotary} rotary features of a {head_dim}-feature "
                            "head; RoPE rotates pairs, so it must be even")
    return rotary


LLAMA_NAMES = {
    "embed": "model.embed_tokens", "block": "model.layers.{i}", "final_norm": "model.norm", "lm_head": "lm_head",
    "norm1": "input_layernorm", "norm2": "post_attention_layernorm",
    "q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
    "qkv": "self_attn.qkv_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj",
    "gate_up": "mlp.gate_up_proj", "router": "mlp.gate", "experts": "mlp.experts",
    "expert_gate": "gate_proj", "expert_up": "up_proj", "expert_down": "down_proj",
    "shared": "mlp.shared_experts", "shared_gate": "mlp.shared_expert_gate",
    "q_norm": "self_attn.q_norm", "k_norm": "self_attn.k_norm",
}


def _llama_like(f: _Fields, name: str, **overrides) -> ModelSpec:
    hidden = f.int("hidden_size")
    heads, kv, head_dim = _heads(f, hidden)
    spec = ModelSpec(
        name=name, model_type=f.str("model_type", ""), kind="decoder", hidden=hidden,
        layers=f.int("num_hidden_layers"), heads=heads, kv_heads=kv, head_dim=head_dim,
        intermediate=f.int("intermediate_size"), vocab=f.int("vocab_size"),
        max_positions=f.int("max_position_embeddings", 2048), names=dict(LLAMA_NAMES), norm="rms",
        act=_act(f), gated_mlp=True, qkv_bias=f.bool("attention_bias", False), o_bias=f.bool("attention_bias", False),
        mlp_bias=f.bool("mlp_bias", False), tied=f.bool("tie_word_embeddings", False),
        rotary_dim=_rotary_dim(f, head_dim),
    )
    return replace(spec, **overrides)


def _no_window(f: _Fields, spec: ModelSpec) -> ModelSpec:
    """``spec`` of a family whose transformers attention has no sliding window (Llama, Granite, OLMo 2, Gemma 1):
    a ``sliding_window`` in its config is checked, not applied, and noted."""
    window = _window(f, lo=0)
    if not window:
        return spec
    return replace(spec, notes=spec.notes + (
        f"{spec.model_type}: sliding_window {window} ignored, as transformers' {spec.model_type} attention ignores it "
        "(every block attends over all its keys)",))


def _llama(f, name):
    return _no_window(f, _llama_like(f, name))


def _mistral(f, name):
    return _llama_like(f, name, window=_window(f), window_layers=_window_layers(f, None))


def _qwen2(f, name):
    # Qwen2: biases on q/k/v only
    window, layers = _qwen_window(f)
    return _llama_like(f, name, qkv_bias=True, o_bias=False, window=window, window_layers=layers)


def _qwen3(f, name):
    # Qwen3: Llama with attention_bias (default false) and an RMSNorm per query / key head
    window, layers = _qwen_window(f)
    return _llama_like(f, name, qk_norm="head", window=window, window_layers=layers)


def _gemma(f, name):
    # Gemma: GeGLU MLP (hidden_activation or hidden_act), head_dim 256, tied embeddings (scaled by sqrt(d))
    act = _act(f, "hidden_activation" if f.data.get("hidden_activation") else "hidden_act", "gelu")
    spec = _llama_like(f, name, act=act, tied=f.bool("tie_word_embeddings", True))
    return _no_window(f, spec) if spec.model_type == "gemma" else spec  # Gemma 2 / 3 set their own window


GEMMA2_NAMES = dict(LLAMA_NAMES, norm2="pre_feedforward_layernorm", attn_post_norm="post_attention_layernorm",
                    mlp_post_norm="post_feedforward_layernorm")


def _gemma2(f, name):
    # Gemma 2: four norms per block, soft-capped scores and logits, a window on every other block
    return replace(_gemma(f, name), names=dict(GEMMA2_NAMES), branch_norms="both",
                   softcap=any(f.data.get(k, 1.0) is not None for k in ("attn_logit_softcapping", "final_logit_softcapping")),
                   window=f.int("sliding_window", 4096, lo=1), window_layers=_window_layers(f, lambda i: i % 2 == 0))


def _gemma3_text(f, name):
    # Gemma 3 (text): Gemma 2's norms plus q / k norms, no soft-capping, 5 of 6 blocks windowed
    every = f.int("sliding_window_pattern", 6)
    return replace(_gemma(f, name), names=dict(GEMMA2_NAMES), branch_norms="both", qk_norm="head",
                   window=f.int("sliding_window", 4096, lo=1),
                   window_layers=_window_layers(f, lambda i: (i + 1) % every != 0))


def _granite(f, name):
    # Granite: Llama's modules; its embedding / residual / attention / logit multipliers are scalars (no work)
    return _no_window(f, _llama_like(f, name))


def _olmo2(f, name):
    # OLMo 2: an RMSNorm over the whole query and key projections; each branch normalised after, not before
    names = dict(LLAMA_NAMES, attn_post_norm="post_attention_layernorm", mlp_post_norm="post_feedforward_layernorm")
    return _no_window(f, _llama_like(f, name, names=names, qk_norm="full", branch_norms="post"))


def _starcoder2(f, name):
    # StarCoder2: GQA with biases (use_bias), LayerNorm, a plain GELU MLP (c_fc, c_proj), a window on every block
    bias = f.bool("use_bias", True)
    names = dict(LLAMA_NAMES, up="mlp.c_fc", down="mlp.c_proj")
    return _llama_like(f, name, names=names, norm="layer", act=_act(f, default="gelu_pytorch_tanh"), gated_mlp=False,
                       qkv_bias=bias, o_bias=bias, mlp_bias=bias, tied=f.bool("tie_word_embeddings", True),
                       window=f.int("sliding_window", 0, lo=1), window_layers=_window_layers(f, None))


def _stablelm(f, name):
    # StableLM: Llama's modules with LayerNorm (weight and bias), partial RoPE (default 0.25), optional q / k / v
    # biases (use_qkv_bias), and with use_parallel_residual one input norm feeding attention and MLP (no second)
    # (qk_layernorm: a bias-free LayerNorm per query / key head, StableLM-2-12B's, stored one module per head)
    hidden = f.int("hidden_size")
    head_dim = _heads(f, hidden)[2]
    bias = f.bool("use_qkv_bias", False)
    names = dict(LLAMA_NAMES, q_norm="self_attn.q_layernorm", k_norm="self_attn.k_layernorm")
    return _llama_like(f, name, names=names, norm="layer", qkv_bias=bias, o_bias=False, mlp_bias=False,
                       rotary_dim=_rotary_dim(f, head_dim, default=0.25),
                       qk_norm="heads" if f.bool("qk_layernorm", False) else "",
                       parallel="shared_norm" if f.bool("use_parallel_residual", False) else "none")


def _cohere(f, name):
    # Cohere (Command R): a bias-free LayerNorm, one input norm feeding attention and MLP in parallel, a gated
    # SiLU MLP, tied embeddings; use_qk_norm: a bias-free LayerNorm per query / key head, each head its own scale.
    # logit_scale multiplies the logits (no work)
    return _no_window(f, _llama_like(f, name, norm="layer", norm_shift=False, parallel="shared_norm",
                                     qk_norm="heads" if f.bool("use_qk_norm", False) else "",
                                     tied=f.bool("tie_word_embeddings", True)))


def _phi3(f, name):
    return _llama_like(f, name, fused_qkv=True, fused_gate_up=True, window=_window(f))


def _phi(f, name):
    hidden = f.int("hidden_size")
    heads, kv, head_dim = _heads(f, hidden)
    names = dict(LLAMA_NAMES, o="self_attn.dense", up="mlp.fc1", down="mlp.fc2", final_norm="model.final_layernorm",
                 q_norm="self_attn.q_layernorm", k_norm="self_attn.k_layernorm")
    return ModelSpec(
        name=name, model_type="phi", kind="decoder", hidden=hidden, layers=f.int("num_hidden_layers"), heads=heads,
        kv_heads=kv, head_dim=head_dim, intermediate=f.int("intermediate_size"), vocab=f.int("vocab_size"),
        max_positions=f.int("max_position_embeddings", 2048), names=names, norm="layer", act=_act(f, default="gelu"),
        gated_mlp=False, qkv_bias=True, o_bias=True, mlp_bias=True, parallel="shared_norm",
        rotary_dim=_rotary_dim(f, head_dim, default=0.5), tied=f.bool("tie_word_embeddings", False), lm_head_bias=True,
        qk_norm="head" if f.bool("qk_layernorm", False) else "")  # a LayerNorm over each query / key head


def _gpt2(f, name):
    hidden = f.int(("n_embd", "hidden_size"))
    heads = f.int(("n_head", "num_attention_heads"))
    names = {"embed": "transformer.wte", "positions": "transformer.wpe", "block": "transformer.h.{i}",
             "final_norm": "transformer.ln_f", "lm_head": "lm_head", "norm1": "ln_1", "norm2": "ln_2",
             "qkv": "attn.c_attn", "o": "attn.c_proj", "up": "mlp.c_fc", "down": "mlp.c_proj"}
    return ModelSpec(
        name=name, model_type="gpt2", kind="decoder", hidden=hidden, layers=f.int(("n_layer", "num_hidden_layers")),
        heads=heads, kv_heads=heads,
        head_dim=_head_size(f, hidden, heads, ("n_embd", "hidden_size"), ("n_head", "num_attention_heads")),
        intermediate=f.int("n_inner", 4 * hidden),
        vocab=f.int("vocab_size"), max_positions=f.int(("n_positions", "max_position_embeddings")), names=names,
        norm="layer", act=_act(f, "activation_function", "gelu_new"), gated_mlp=False, qkv_bias=True, o_bias=True,
        mlp_bias=True, fused_qkv=True, positions="learned", tied=f.bool("tie_word_embeddings", True))


def _gptj(f, name):
    hidden = f.int(("n_embd", "hidden_size"))
    heads = f.int(("n_head", "num_attention_heads"))
    names = {"embed": "transformer.wte", "block": "transformer.h.{i}", "final_norm": "transformer.ln_f",
             "lm_head": "lm_head", "norm1": "ln_1", "q": "attn.q_proj", "k": "attn.k_proj", "v": "attn.v_proj",
             "o": "attn.out_proj", "up": "mlp.fc_in", "down": "mlp.fc_out"}
    head_dim = _head_size(f, hidden, heads, ("n_embd", "hidden_size"), ("n_head", "num_attention_heads"))
    rotary = f.int("rotary_dim", head_dim, lo=2)
    if rotary > head_dim or rotary % 2:
        raise WorkloadError(f"{f.source}: field 'rotary_dim' must be even and at most the head size {head_dim}; got {rotary}")
    return ModelSpec(
        name=name, model_type="gptj", kind="decoder", hidden=hidden, layers=f.int(("n_layer", "num_hidden_layers")),
        heads=heads, kv_heads=heads, head_dim=head_dim, intermediate=f.int("n_inner", 4 * hidden),
        vocab=f.int("vocab_size"), max_positions=f.int(("n_positions", "max_position_embeddings"), 2048), names=names,
        norm="layer", act=_act(f, "activation_function", "gelu_new"), gated_mlp=False, mlp_bias=True,
        parallel="shared_norm", rotary_dim=rotary, tied=f.bool("tie_word_embeddings", False), lm_head_bias=True)


def _gpt_bigcode(f, name):
    # GPT-BigCode (StarCoder 1, SantaCoder): GPT-2 with multi-query attention (one K / V head) when multi_query
    spec = _gpt2(f, name)
    kv = 1 if f.bool("multi_query", True) else spec.heads
    return replace(spec, model_type="gpt_bigcode", kv_heads=kv, act=_act(f, "activation_function", "gelu_pytorch_tanh"))


def _check_head_dim(f: _Fields, head_dim: int, family: str) -> None:
    """A ``head_dim`` field of a family whose attention ignores it (its heads are ``hidden_size /
    num_attention_heads``): refused unless it says the same (FalconConfig refuses the field; GPT-NeoX's
    projections would not match another value)."""
    given = f.data.get("head_dim")
    if given is not None and given != head_dim:
        raise WorkloadError(f"{f.source}: field 'head_dim' {given!r} is not read by {family} (its heads are hidden_size / "
                            f"num_attention_heads = {head_dim} features); leave it out or give {head_dim}")


def _gpt_neox(f, name):
    hidden = f.int("hidden_size")
    heads = f.int("num_attention_heads")
    # GPTNeoXAttention: hidden_size // num_attention_heads features a head, whatever head_dim or
    # num_key_value_heads say
    head_dim = _head_size(f, hidden, heads, "hidden_size", "num_attention_heads")
    _check_head_dim(f, head_dim, "gpt_neox")
    names = {"embed": "gpt_neox.embed_in", "block": "gpt_neox.layers.{i}", "final_norm": "gpt_neox.final_layer_norm",
             "lm_head": "embed_out", "norm1": "input_layernorm", "norm2": "post_attention_layernorm",
             "qkv": "attention.query_key_value", "o": "attention.dense", "up": "mlp.dense_h_to_4h",
             "down": "mlp.dense_4h_to_h"}
    bias = f.bool("attention_bias", True)
    return ModelSpec(
        name=name, model_type="gpt_neox", kind="decoder", hidden=hidden, layers=f.int("num_hidden_layers"),
        heads=heads, kv_heads=heads, head_dim=head_dim, intermediate=f.int("intermediate_size"),
        vocab=f.int("vocab_size"), max_positions=f.int("max_position_embeddings", 2048), names=names, norm="layer",
        act=_act(f, default="gelu"), gated_mlp=False, qkv_bias=bias, o_bias=bias, mlp_bias=True, fused_qkv=True,
        parallel="two_norms" if f.bool("use_parallel_residual", True) else "none",
        rotary_dim=_rotary_dim(f, head_dim, "rotary_pct", default=0.25), tied=f.bool("tie_word_embeddings", False))


def _opt(f, name):
    hidden = f.int("hidden_size")
    heads = f.int("num_attention_heads")
    pre_norm = f.bool("do_layer_norm_before", True)  # false: OPT-350m, a norm after each residual add, none at the end
    names = {"embed": "model.decoder.embed_tokens", "positions": "model.decoder.embed_positions",
             "block": "model.decoder.layers.{i}", "final_norm": "model.decoder.final_layer_norm", "lm_head": "lm_head",
             "norm1": "self_attn_layer_norm", "norm2": "final_layer_norm", "q": "self_attn.q_proj",
             "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.out_proj", "up": "fc1", "down": "fc2",
             "project_in": "model.decoder.project_in", "project_out": "model.decoder.project_out"}
    bias = f.bool("enable_bias", True)
    wed = f.int("word_embed_proj_dim", hidden)
    return ModelSpec(
        name=name, model_type="opt", kind="decoder", hidden=hidden, layers=f.int("num_hidden_layers"), heads=heads,
        kv_heads=heads, head_dim=_head_size(f, hidden, heads, "hidden_size", "num_attention_heads"),
        intermediate=f.int("ffn_dim"), vocab=f.int("vocab_size"),
        max_positions=f.int("max_position_embeddings", 2048), names=names, norm="layer",
        act=_act(f, "activation_function", "relu"), gated_mlp=False, qkv_bias=bias, o_bias=bias, mlp_bias=bias,
        positions="learned", position_offset=2, tied=f.bool("tie_word_embeddings", True),
        word_embed_dim=wed if wed != hidden else 0, post_norm=not pre_norm,
        final_norm=pre_norm and not f.bool("_remove_final_layer_norm", False))


def _falcon(f, name):
    hidden = f.int("hidden_size")
    heads = f.int(("num_attention_heads", "n_head"))
    head_dim = _head_size(f, hidden, heads, "hidden_size", ("num_attention_heads", "n_head"))
    _check_head_dim(f, head_dim, "falcon")
    new_arch = f.bool("new_decoder_architecture", False)
    if new_arch:
        kv = f.int(("num_kv_heads", "n_head_kv"), heads)
        if heads % kv:
            raise WorkloadError(f"{f.source}: field 'num_kv_heads' {kv} must divide num_attention_heads {heads}")
    else:
        kv = 1 if f.bool("multi_query", True) else heads
    parallel = f.bool("parallel_attn", True)
    # the new architecture's parallel block norms its input twice (ln_attn, ln_mlp) unless num_ln_in_parallel_attn
    # is 1 (Falcon2-11B): then one input_layernorm feeds both, as in the old architecture
    two_norms = new_arch and parallel and f.int("num_ln_in_parallel_attn", 2, hi=2) == 2
    names = {"embed": "transformer.word_embeddings", "block": "transformer.h.{i}", "final_norm": "transformer.ln_f",
             "lm_head": "lm_head", "norm1": "ln_attn" if two_norms else "input_layernorm",
             "norm2": "ln_mlp" if two_norms else "post_attention_layernorm",
             "qkv": "self_attention.query_key_value", "o": "self_attention.dense", "up": "mlp.dense_h_to_4h",
             "down": "mlp.dense_4h_to_h"}
    bias = f.bool("bias", False)
    return ModelSpec(
        name=name, model_type="falcon", kind="decoder", hidden=hidden, layers=f.int(("num_hidden_layers", "n_layer")),
        heads=heads, kv_heads=kv, head_dim=head_dim, intermediate=f.int("ffn_hidden_size", 4 * hidden),
        vocab=f.int("vocab_size"), max_positions=f.int("max_position_embeddings", 2048), names=names, norm="layer",
        act="gelu", gated_mlp=False, qkv_bias=bias, o_bias=bias, mlp_bias=bias, fused_qkv=True,
        parallel=("two_norms" if two_norms else "shared_norm") if parallel else "none",
        positions="none" if f.bool("alibi", False) else "rope", tied=f.bool("tie_word_embeddings", True))


def _moe_spec(f: _Fields, **fields) -> MoeSpec:
    """A :class:`MoeSpec` whose ``top_k`` (``num_experts_per_tok``) is at most its expert count."""
    moe = MoeSpec(**fields)
    if moe.top_k > moe.experts:
        raise WorkloadError(f"{f.source}: field 'num_experts_per_tok' is {moe.top_k}, more than the {moe.experts} "
                            "routed experts")
    return moe


def _every_block_moe(f: _Fields, count_keys: tuple[str, str]) -> MoeSpec:
    """Routed experts of ``intermediate_size`` features in every block (Mixtral, PhiMoE, OLMoE); the expert count
    under the first of ``count_keys`` the config has."""
    return _moe_spec(f, experts=f.int(count_keys, hi=MAX_EXPERTS), top_k=f.int("num_experts_per_tok"),
                     intermediate=f.int("intermediate_size"), layers=tuple(range(f.int("num_hidden_layers"))))


def _mixtral(f, name):
    names = dict(LLAMA_NAMES, router="block_sparse_moe.gate", experts="block_sparse_moe.experts",
                 expert_gate="w1", expert_up="w3", expert_down="w2")
    return _llama_like(f, name, names=names, moe=_every_block_moe(f, ("num_local_experts", "num_experts")),
                       window=_window(f))


def _qwen_moe(f: _Fields, **shared) -> MoeSpec:
    """Qwen-MoE's experts: in every ``decoder_sparse_step``-th block not in ``mlp_only_layers`` (``shared``: the
    shared expert's fields; transformers 5 saves ``num_experts`` under the name ``num_local_experts``)."""
    every = f.int("decoder_sparse_step", 1)
    only = f.data.get("mlp_only_layers") or []
    if not isinstance(only, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in only):
        raise WorkloadError(f"{f.source}: field 'mlp_only_layers' must be a list of layer indices; got {only!r}")
    return _moe_spec(f, experts=f.int(("num_experts", "num_local_experts"), hi=MAX_EXPERTS),
                     top_k=f.int("num_experts_per_tok"), intermediate=f.int("moe_intermediate_size"),
                     layers=tuple(i for i in range(f.int("num_hidden_layers")) if i not in only and (i + 1) % every == 0),
                     **shared)


def _qwen2_moe(f, name):
    names = dict(LLAMA_NAMES, shared="mlp.shared_expert")
    # transformers' Qwen2MoeConfig defaults the shared expert's width to 5632 (5.25); 0 leaves it out
    moe = _qwen_moe(f, shared_intermediate=f.int("shared_expert_intermediate_size", 5632, lo=0, null=False),
                    shared_gate=True)
    window, layers = _qwen_window(f, "odd_below")
    spec = _llama_like(f, name, names=names, moe=moe, qkv_bias=True, o_bias=False, window=window, window_layers=layers)
    if not moe.shared_intermediate:
        blocks = sum(1 for i in range(spec.layers) if moe.is_moe(i))
        spec = replace(spec, notes=spec.notes + (
            f"qwen2_moe: shared_expert_intermediate_size 0, so no shared expert; transformers still builds each MoE "
            f"block's shared_expert_gate ({spec.hidden} x 1; {blocks * spec.hidden:,} parameters in all), whose sigmoid "
            "scales the empty expert's zeros: not modelled",))
    return spec


def _qwen3_moe(f, name):
    # Qwen3-MoE: Qwen3 attention; routed experts only (no shared expert)
    window, layers = _qwen_window(f, "all")
    return replace(_qwen3(f, name), moe=_qwen_moe(f), window=window, window_layers=layers)


def _phimoe(f, name):
    # PhiMoE (Phi-3.5-MoE): Mixtral's experts, router and checkpoint names (block_sparse_moe.*), LayerNorm with
    # biases, attention_bias on q / k / v / o, a bias on the LM head (lm_head_bias)
    return replace(_mixtral(f, name), norm="layer", lm_head_bias=f.bool("lm_head_bias", False))


def _olmoe(f, name):
    # OLMoE: OLMo's RMSNorm over the whole query and key projections, pre-norm blocks, routed experts in every block
    # (no shared expert); clip_qkv clamps the projections (element-wise, not costed)
    moe = _every_block_moe(f, ("num_experts", "num_local_experts"))
    spec = _llama_like(f, name, qk_norm="full", moe=moe)
    if spec.heads * spec.head_dim != spec.hidden:  # its q / k norms span hidden_size features (transformers fails)
        raise WorkloadError(f"{f.source}: olmoe's query and key norms span hidden_size ({spec.hidden}) features; "
                            f"num_attention_heads x head_dim = {spec.heads} x {spec.head_dim} must equal it")
    return _no_window(f, spec)


#: transformers' DeepseekV2Config / DeepseekV3Config defaults of the fields a config may leave out (5.25)
DEEPSEEK_DEFAULTS = {
    "deepseek_v2": {"q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
                    "v_head_dim": 128, "n_routed_experts": 64, "n_shared_experts": 2, "first_k_dense_replace": 0,
                    "moe_intermediate_size": 1407, "num_experts_per_tok": None},
    "deepseek_v3": {"q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
                    "v_head_dim": 128, "n_routed_experts": 256, "n_shared_experts": 1, "first_k_dense_replace": 3,
                    "moe_intermediate_size": 2048, "num_experts_per_tok": 8},
}


def _deepseek(f, name):
    hidden = f.int("hidden_size")
    heads = f.int("num_attention_heads")
    d = DEEPSEEK_DEFAULTS[f.str("model_type", "deepseek_v3")]
    # q_lora_rank null: queries without a low-rank factor (V2-Lite); left out: transformers' default rank
    q_lora = 0 if "q_lora_rank" in f.data and f.data["q_lora_rank"] is None else f.int("q_lora_rank", d["q_lora_rank"], lo=0)
    mla = MlaSpec(q_lora_rank=q_lora, kv_lora_rank=f.int("kv_lora_rank", d["kv_lora_rank"], null=False),
                  nope_dim=f.int("qk_nope_head_dim", d["qk_nope_head_dim"]),
                  rope_dim=f.int("qk_rope_head_dim", d["qk_rope_head_dim"]), v_dim=f.int("v_head_dim", d["v_head_dim"]))
    # n_routed_experts null: no routed experts (a dense MLA model); left out: transformers' default count
    routed = 0 if "n_routed_experts" in f.data and f.data["n_routed_experts"] is None else \
        f.int("n_routed_experts", d["n_routed_experts"], lo=0, hi=MAX_EXPERTS)
    moe = None
    if routed:
        inter = f.int("moe_intermediate_size", d["moe_intermediate_size"])
        first_dense = f.int("first_k_dense_replace", d["first_k_dense_replace"], lo=0)
        moe = _moe_spec(f, experts=routed, top_k=f.int("num_experts_per_tok", d["num_experts_per_tok"]), intermediate=inter,
                        shared_intermediate=f.int("n_shared_experts", d["n_shared_experts"], lo=0) * inter,
                        layers=tuple(i for i in range(f.int("num_hidden_layers"))
                                     if i >= first_dense and i % f.int("moe_layer_freq", 1) == 0))
        # DeepSeek-V3's e_score_correction_bias (topk_method noaux_tc) is a load-balancing buffer updated outside
        # the gradient; transformers registers it as a buffer, so it is not a parameter here either
    return ModelSpec(
        name=name, model_type=f.str("model_type", ""), kind="decoder", hidden=hidden,
        layers=f.int("num_hidden_layers"), heads=heads, kv_heads=heads, head_dim=mla.nope_dim + mla.rope_dim,
        intermediate=f.int("intermediate_size"), vocab=f.int("vocab_size"),
        max_positions=f.int("max_position_embeddings", 2048), names=dict(LLAMA_NAMES), norm="rms", act=_act(f),
        qkv_bias=f.bool("attention_bias", False), tied=f.bool("tie_word_embeddings", False), moe=moe, mla=mla)


BERT_NAMES = {
    "embed": "embeddings.word_embeddings", "positions": "embeddings.position_embeddings",
    "token_types": "embeddings.token_type_embeddings", "embed_norm": "embeddings.LayerNorm",
    "block": "encoder.layer.{i}", "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "o": "attention.output.dense", "norm1": "attention.output.LayerNorm", "up": "intermediate.dense",
    "down": "output.dense", "norm2": "output.LayerNorm", "pooler": "pooler.dense",
}


def _bert(f, name, model_type="bert"):
    hidden = f.int("hidden_size")
    heads = f.int("num_attention_heads")
    return ModelSpec(
        name=name, model_type=model_type, kind="encoder", hidden=hidden, layers=f.int("num_hidden_layers"), heads=heads,
        kv_heads=heads, head_dim=_head_size(f, hidden, heads, "hidden_size", "num_attention_heads"),
        intermediate=f.int("intermediate_size"), vocab=f.int("vocab_size"),
        max_positions=f.int("max_position_embeddings", 512), names=dict(BERT_NAMES), norm="layer",
        act=_act(f, default="gelu"), gated_mlp=False, qkv_bias=True, o_bias=True, mlp_bias=True, post_norm=True,
        positions="learned", tied=False, final_norm=False, embed_norm=True, type_vocab=f.int("type_vocab_size", 2),
        pooler=True)


def _roberta(f, name, model_type="roberta"):
    return _bert(f, name, model_type)


def _xlm_roberta(f, name):
    # XLM-RoBERTa and CamemBERT: RoBERTa's modules and parameter names (transformers copies RobertaModel for both)
    return _roberta(f, name, f.data["model_type"])


def _distilbert(f, name):
    hidden = f.int(("dim", "hidden_size"))
    heads = f.int(("n_heads", "num_attention_heads"))
    names = {"embed": "embeddings.word_embeddings", "positions": "embeddings.position_embeddings",
             "embed_norm": "embeddings.LayerNorm", "block": "transformer.layer.{i}", "q": "attention.q_lin",
             "k": "attention.k_lin", "v": "attention.v_lin", "o": "attention.out_lin", "norm1": "sa_layer_norm",
             "up": "ffn.lin1", "down": "ffn.lin2", "norm2": "output_layer_norm"}
    # sinusoidal_pos_embds: the same position table, filled with fixed sines (a parameter of the checkpoint too)
    positions = "learned"
    return ModelSpec(
        name=name, model_type="distilbert", kind="encoder", hidden=hidden, layers=f.int(("n_layers", "num_hidden_layers")),
        heads=heads, kv_heads=heads,
        head_dim=_head_size(f, hidden, heads, ("dim", "hidden_size"), ("n_heads", "num_attention_heads")),
        intermediate=f.int(("hidden_dim", "intermediate_size")),
        vocab=f.int("vocab_size"), max_positions=f.int("max_position_embeddings", 512), names=names, norm="layer",
        act=_act(f, "activation", "gelu"), gated_mlp=False, qkv_bias=True, o_bias=True, mlp_bias=True, post_norm=True,
        positions=positions, tied=False, final_norm=False, embed_norm=True)


def _t5(f, name):
    hidden = f.int(("d_model", "hidden_size"))
    heads = f.int(("num_heads", "num_attention_heads"))
    proj = f.str("feed_forward_proj", "relu").lower()
    parts = proj.split("-")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
        raise WorkloadError(f"{f.source}: field 'feed_forward_proj' must be an activation or 'gated-' and one; got {proj!r}")
    gated = len(parts) == 2
    names = {"embed": "shared", "block": "encoder.block.{i}", "final_norm": "encoder.final_layer_norm",
             "norm1": "layer.0.layer_norm", "q": "layer.0.SelfAttention.q", "k": "layer.0.SelfAttention.k",
             "v": "layer.0.SelfAttention.v", "o": "layer.0.SelfAttention.o",
             "relative_bias": "encoder.block.0.layer.0.SelfAttention.relative_attention_bias",
             "norm2": "layer.1.layer_norm", "gate": "layer.1.DenseReluDense.wi_0", "up": "layer.1.DenseReluDense.wi_1"
             if gated else "layer.1.DenseReluDense.wi", "down": "layer.1.DenseReluDense.wo"}
    return ModelSpec(
        name=name, model_type="t5", kind="t5_encoder", hidden=hidden, layers=f.int(("num_layers", "num_hidden_layers")),
        heads=heads, kv_heads=heads, head_dim=f.int("d_kv", hidden // heads), intermediate=f.int(("d_ff",)),
        vocab=f.int("vocab_size"), max_positions=f.int("n_positions", 512), names=names, norm="rms",
        act=_act(_Fields({"feed_forward_proj": parts[-1]}, f.source), "feed_forward_proj"), gated_mlp=gated, positions="relative",
        tied=True, relative_buckets=f.int("relative_attention_num_buckets", 32))


def _vit(f, name):
    hidden = f.int("hidden_size")
    heads = f.int("num_attention_heads")
    names = {"patch": "embeddings.patch_embeddings.projection", "cls": "embeddings.cls_token",
             "positions": "embeddings.position_embeddings", "block": "encoder.layer.{i}", "norm1": "layernorm_before",
             "q": "attention.attention.query", "k": "attention.attention.key", "v": "attention.attention.value",
             "o": "attention.output.dense", "norm2": "layernorm_after", "up": "intermediate.dense",
             "down": "output.dense", "final_norm": "layernorm", "pooler": "pooler.dense"}
    image, patch = f.int("image_size", 224), f.int("patch_size", 16)
    if image < patch:  # (a side that is not a multiple keeps its whole patches, as the stride-patch Conv2d does)
        raise WorkloadError(f"{f.source}: image_size {image} is smaller than patch_size {patch}: no patch fits")
    return ModelSpec(
        name=name, model_type="vit", kind="vit", hidden=hidden, layers=f.int("num_hidden_layers"), heads=heads,
        kv_heads=heads, head_dim=_head_size(f, hidden, heads, "hidden_size", "num_attention_heads"),
        intermediate=f.int("intermediate_size"), vocab=0,
        max_positions=(image // patch) ** 2 + 1, names=names, norm="layer", act=_act(f, default="gelu"), gated_mlp=False,
        qkv_bias=f.bool("qkv_bias", True), o_bias=True, mlp_bias=True, positions="learned", tied=False,
        pooler=f.bool("add_pooling_layer", True), image_size=image, patch_size=patch, channels=f.int("num_channels", 3))


FAMILIES: dict[str, Callable[[_Fields, str], ModelSpec]] = {
    "llama": _llama, "mistral": _mistral, "qwen2": _qwen2, "qwen3": _qwen3, "gemma": _gemma, "gemma2": _gemma2,
    "gemma3_text": _gemma3_text, "granite": _granite, "olmo2": _olmo2, "starcoder2": _starcoder2, "phi": _phi,
    "phi3": _phi3, "stablelm": _stablelm, "cohere": _cohere, "gpt2": _gpt2, "gptj": _gptj, "gpt_bigcode": _gpt_bigcode, "gpt_neox": _gpt_neox, "opt": _opt,
    "falcon": _falcon, "mixtral": _mixtral,
    "qwen2_moe": _qwen2_moe, "qwen3_moe": _qwen3_moe, "olmoe": _olmoe, "phimoe": _phimoe, "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek, "bert": _bert, "roberta": _roberta, "xlm-roberta": _xlm_roberta,
    "camembert": _xlm_roberta, "distilbert": _distilbert, "t5": _t5, "vit": _vit,
}


@dataclass(frozen=True)
class Multimodal:
    """A vision-language config whose ``text_config`` holds a decoder read here: ``text`` the family transformers
    builds (``fixed``: whatever ``text_config.model_type`` says, else the default when it names none); ``tied``
    the top-level ``tie_word_embeddings`` default of its config class, which ties the head (transformers 5.25)."""

    text: str
    tied: bool
    fixed: bool = False


MULTIMODAL = {"gemma3": Multimodal("gemma3_text", tied=True, fixed=True), "mistral3": Multimodal("mistral", tied=True),
              "llava": Multimodal("llama", tied=False), "llava_next": Multimodal("llama", tied=False)}
#: the text config class's defaults of the size fields a multimodal config's ``text_config`` may leave out:
#: transformers 4.x saves a nested config as its difference from the class defaults (google/gemma-3-4b-it's
#: text_config names no heads, KV heads or vocabulary: Gemma3TextConfig's 8, 4 and 262,208; llava-1.5's names its
#: vocabulary and no size: LlamaConfig's), and builds the text model with those defaults (transformers 5.25)
TEXT_CONFIG_DEFAULTS = {
    "gemma3_text": {"vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
                    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                    "max_position_embeddings": 131072, "hidden_activation": "gelu_pytorch_tanh", "sliding_window": 4096},
    "llama": {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 2048},
    "mistral": {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072,
                "sliding_window": 4096},
}


#: fields the graph does not read that must still be positive numbers when given (RoPE base, norm epsilons)
POSITIVE_NUMBERS = ("rope_theta", "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "norm_eps")
#: the stored dtypes a config's ``torch_dtype`` / ``dtype`` may name (torch's names, as transformers writes them)
TORCH_DTYPES = ("float32", "float16", "bfloat16", "float64", "float8_e4m3fn", "float8_e5m2", "int8", "uint8", "auto")
#: numbers of a ``rope_scaling`` / ``rope_parameters`` object that must be positive where given
ROPE_POSITIVE = ("factor", "original_max_position_embeddings", "rope_theta")


def _check_unused(data: dict, label: str) -> None:
    """Fields the cost model does not read, checked because a config with them wrong is not a model (one line
    naming the field): the positive numbers above, ``rope_scaling`` (an object whose factors are positive) and
    ``torch_dtype`` / ``dtype`` (a torch dtype name)."""
    def positive(fields: dict, keys, prefix: str = "") -> None:
        for key in keys:
            value = fields.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise WorkloadError(f"{label}: field '{prefix}{key}' must be a positive number; got {given(value)}")

    positive(data, POSITIVE_NUMBERS)
    for key in ("rope_scaling", "rope_parameters"):
        rope = data.get(key)
        if rope is None:
            continue
        if not isinstance(rope, dict):
            raise WorkloadError(f"{label}: field '{key}' must be an object (e.g. {{\"rope_type\": \"linear\", "
                                f"\"factor\": 2.0}}) or null; got {rope!r}")
        positive(rope, ROPE_POSITIVE, f"{key}.")
    for key in ("torch_dtype", "dtype"):
        value = data.get(key)
        if value is not None and value not in TORCH_DTYPES:
            raise WorkloadError(f"{label}: field '{key}' must name a torch dtype ({', '.join(TORCH_DTYPES)}); "
                                f"got {given(value)}")


#: the fields :func:`_check_unused` checks for every family (read, if not by the cost model)
CHECKED_FIELDS = frozenset({*POSITIVE_NUMBERS, "rope_scaling", "rope_parameters", "torch_dtype", "dtype"})
#: how alike (difflib's ratio) a field the family does not read must be to one it reads and the config leaves out
#: to be taken for a misspelling of it: 0.9 takes one wrong, missing or extra letter in names of 10+ letters
#: ('num_key_value_head', 'rope_scalling', 'tie_word_embedding') and no pair of the fields transformers writes
#: (tests/data/hf: every family's save_pretrained output)
MISSPELLED_RATIO = 0.9


def _check_misspelled(data: dict, read: set, label: str) -> None:
    """Refuse a field the family reader does not read that is a near-spelling of one it reads and the config leaves
    out (so that the default would stand in silently for the value meant): one line naming both. Names that differ
    by a whole word (``use_sliding_window`` / ``sliding_window``, ``moe_intermediate_size``) are different fields."""
    import difflib

    wanted = sorted(k for k in read if isinstance(k, str) and k not in data)
    if not wanted:
        return
    for key in data:
        if key in read or not isinstance(key, str) or key.startswith("_"):
            continue
        for near in difflib.get_close_matches(key, wanted, n=3, cutoff=MISSPELLED_RATIO):
            if not (key.startswith(near + "_") or key.endswith("_" + near) or near.startswith(key + "_")
                    or near.endswith("_" + key)):
                raise WorkloadError(f"{label}: field '{key}' is not one model_type '{data.get('model_type')}' reads; "
                                    f"did you mean '{near}'? (the config leaves '{near}' out, so its default would be "
                                    f"used)")


def model_spec(source, name: str | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of a config dict, ``.json`` file or model folder."""
    data, label = read_config(source)
    top = data
    model_type = data.get("model_type")
    known = ", ".join(sorted([*FAMILIES, *MULTIMODAL]))
    if model_type is not None and not isinstance(model_type, str):
        raise WorkloadError(f"{label}: field 'model_type' must be a string (e.g. \"llama\"); got {model_type!r}")
    notes: tuple[str, ...] = ()
    if model_type in MULTIMODAL:
        mm = MULTIMODAL[model_type]
        if not isinstance(data.get("text_config"), dict):
            raise WorkloadError(f"{label}: field 'text_config' must be an object (the language model's config of a "
                                f"{model_type} config); got {data.get('text_config')!r}")
        text = data["text_config"]
        if text.get("model_type") is not None and not isinstance(text.get("model_type"), str):
            raise WorkloadError(f"{label}: field 'text_config.model_type' must be a string; got {text['model_type']!r}")
        family = mm.text if mm.fixed or text.get("model_type") is None else text["model_type"]
        if family not in FAMILIES:
            raise WorkloadError(f"{label}: text_config.model_type '{family}' is not a family read here; known: "
                                f"{', '.join(sorted(FAMILIES))}")
        # a field the text_config leaves out takes the text config class's default (TEXT_CONFIG_DEFAULTS); the head
        # is tied by the multimodal config's own tie_word_embeddings (transformers reads the model's config),
        # whatever its text_config says
        tied = data.get("tie_word_embeddings")
        data = {**TEXT_CONFIG_DEFAULTS.get(family, {}), **text, "model_type": family,
                "tie_word_embeddings": mm.tied if tied is None else tied}
        notes = (f"{model_type}: the language model of its text_config ({family}); the vision tower and "
                 "the multimodal projector are not modelled",)
        if mm.fixed and text.get("model_type") not in (None, mm.text):
            notes += (f"{model_type}: text_config.model_type '{text['model_type']}' ignored, as transformers ignores it "
                      f"(its language model is always {mm.text})",)
    if not isinstance(model_type, str) or not model_type:
        raise WorkloadError(f"{label}: missing field 'model_type' (a Hugging Face config names its family, e.g. "
                            f"\"llama\"); known: {known}")
    _check_unused(data, label)  # not used by the cost model, but a config with them wrong is not a model
    reader = FAMILIES.get(data["model_type"])
    if reader is None:
        raise WorkloadError(f"{label}: unknown model_type '{data['model_type']}'; known: {known}")
    if name is None:
        name = data.get("_name_or_path") if isinstance(data.get("_name_or_path"), str) and data.get("_name_or_path") else None
        if name is None and not isinstance(source, dict):
            path = Path(source)
            name = path.name if path.is_dir() else (path.parent.name if path.name == "config.json" else path.stem)
        name = (name or model_type).rstrip("/").split("/")[-1]
    fields = _Fields(data, label)
    _layer_types(fields)
    spec = reader(fields, name)
    _check_misspelled(data, fields.data.read | CHECKED_FIELDS, label)
    notes += _unmodelled(top, data)
    return replace(spec, notes=notes + spec.notes) if notes else spec


#: the start of the note a ``quantization_config`` without ``--weights`` gets (dropped when a checkpoint's packed
#: layers are attached: they carry the format)
QUANT_NOTE = "quantization_config"


def _equivalent_recipe(method, bits, group, block) -> str | None:
    """The bundled recipe storing the format a ``quantization_config`` describes, when one matches: GPTQ / AWQ 4-bit
    in groups of 128 or 32 (asymmetric, fp16 scales, 4-bit zero points: ``w4a16-g128`` / ``-g32``), FP8 with
    128 x 128 weight blocks (``fp8-block128``) or one scale per tensor (``fp8-e4m3``); None otherwise."""
    if method in ("gptq", "awq") and bits == 4 and group in (128, 32):
        return f"w4a16-g{group}"
    if method == "fp8":
        if block is None:
            return "fp8-e4m3"
        if block == [128, 128]:
            return "fp8-block128"
    return None


def _unmodelled(top: dict, data: dict) -> tuple[str, ...]:
    """Notes for config fields that change the model but not the graph built from the config alone: a
    ``quantization_config`` (``top``: the file's own fields; its packed weights are read only with ``--weights``)
    and ``add_cross_attention`` (the cross-attention sub-layer transformers adds to every block of GPT-2, BERT, ...
    for use as the decoder of an encoder-decoder model)."""
    notes: tuple[str, ...] = ()
    quant = top.get("quantization_config")
    if isinstance(quant, dict):
        method = quant.get("quant_method")
        bits = quant.get("bits")
        bits = bits if isinstance(bits, int) and not isinstance(bits, bool) else None
        group = quant.get("group_size", quant.get("q_group_size"))
        group = group if isinstance(group, int) and not isinstance(group, bool) else None
        what = f"{method if isinstance(method, str) else 'unnamed method'}" + (f", {bits}-bit" if bits else "") + (
            f", group {group}" if group and group > 0 else "")
        recipe = _equivalent_recipe(method, bits, group, quant.get("weight_block_size"))
        same = f"; --recipe {recipe} costs the same stored format from the shapes" if recipe else ""
        notes += (f"{QUANT_NOTE} ({what}) not applied: the config gives the shapes only, so the weights are costed "
                  f"unquantized unless --weights reads the quantized checkpoint or a recipe quantizes them{same}",)
    if data.get("add_cross_attention") is True:
        notes += ("add_cross_attention: transformers adds a cross-attention sub-layer (for an encoder's states) to "
                  "every block; not modelled, neither its parameters nor its work",)
    return notes
