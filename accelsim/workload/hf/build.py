"""ModelSpec + phase -> LayerGraph: the layers one forward step of a Hugging Face model runs.

Layer names are the Hugging Face module paths (``model.layers.0.self_attn.q_proj``), so a checkpoint's
``<name>.weight`` tensors map onto them; helper layers get a suffix (``...q_proj.rope``). Shapes fold the
``B`` sequences of a step into the token dimension: a linear sees ``T = B * S`` rows (``S`` new tokens per
sequence), attention tensors lead with ``B``. Build at ``batch = B`` when routing depends on the batch (MoE)
and simulate such a graph at batch 1; a dense model may equally be built at batch 1 and simulated at batch B
(the same GEMMs).

Phases (decoders): ``prefill`` runs ``S = prompt`` tokens against ``L = context`` keys (``context`` defaults
to ``prompt``; a larger one is a chunked prefill after ``L - S`` cached tokens); ``decode`` runs ``S = 1``
token against ``L = context`` keys, ``L - 1`` of them read from the KV cache. Encoders run one ``prefill``
of ``S = prompt`` tokens (ViT: the image's patches plus [CLS]).

Per block, in order: norm, q/k/v projections (one fused linear where the checkpoint fuses them), RoPE on q
and k (``rope``), the cache append of k and v (``kv_append``, decoders), attention, output projection,
residual add, norm, MLP (SwiGLU / GeGLU: ``act(gate) * up -> down``; plain: ``act(up) -> down``; MoE:
router linear + softmax, ``moe_dispatch`` -> per-bucket ``grouped_linear`` experts -> ``moe_combine``,
plus shared experts), residual add. Parallel blocks (GPT-NeoX, Falcon, Phi) add attention and MLP
outputs to the residual in one 3-input add; BERT-style encoders normalise after each add. Element-wise
constants without work of their own are left out (Gemma's ``sqrt(d)`` embedding scale, dropout).

Attention ``unfused``: ``matmul`` scores ``(B, kv_heads, g * S, d) @ (B, kv_heads, d, L)`` (the ``g =
heads / kv_heads`` query heads sharing a KV head stacked as rows), ``softmax`` (the scale and mask folded in),
``matmul`` with values; the score matrix is a tensor between layers (it goes through memory), and all of it
is computed (the causal mask discards the upper half). ``fused``: one ``attention`` layer
(:class:`~accelsim.workload.layers.Attention`) that computes only the visible scores: causal prefill
halves the score work. With a KV cache the keys and values are graph inputs ``<block>.k_cache`` /
``<block>.v_cache`` (unfused: keys stored transposed, ``(B, kv_heads, d, L)``; fused: token-major
``(B, L, kv_heads * d)``); sliding-window layers keep the last ``window`` tokens (a rolling cache). A
cache of ``kv_bits`` per element is written at that width by the ``kv_append`` layers and read at it by
the attention layers that take it (their ``kv_bits``).

MLA (DeepSeek): weight-absorbed form (DeepSeek-V2 sec. 2.1): the cache holds the ``kv_lora_rank`` latent
plus the ``rope_dim`` RoPE key per token (one "KV head"); ``kv_b_proj`` is split into its key half
(``kv_b_proj.k_absorbed``, a per-head ``grouped_linear`` ``nope_dim -> kv_lora_rank`` on the queries) and its
value half (``kv_b_proj.v_absorbed``, ``kv_lora_rank -> v_dim`` per head on the attention output); attention
is multi-query with ``dq = kv_lora_rank + rope_dim``, ``dv = kv_lora_rank`` and is always fused.
"""

from __future__ import annotations

import math
import warnings

from accelsim.errors import WorkloadError
from accelsim.workload.graph import LayerGraph
from accelsim.workload.hf.config import ModelSpec
from accelsim.workload.hf.moe import buckets, load_shares, route
from accelsim.workload.layers import (
    Activation, Attention, Concat, Conv2d, Eltwise, Embedding, GroupedLinear, Input, KVAppend, LayerNorm, Linear,
    MatMul, MoeCombine, MoeDispatch, Reshape, Rope, Slice, Softmax, Transpose,
)

PHASES = ("prefill", "decode")
ATTENTION = ("unfused", "fused")
#: sequence length when none is given (the zoo's bert-base runs 128 tokens)
DEFAULT_PROMPT = 128
#: KV length of a decode step when none is given
DEFAULT_CONTEXT = 2048


class _Builder:
    def __init__(self, spec: ModelSpec, graph: LayerGraph, *, batch: int, tokens: int, kv_len: int, attention: str,
                 kv_bits: int, shares: list | None, decode: bool = False):
        self.spec, self.g = spec, graph
        self.b, self.s, self.kv_len = batch, tokens, kv_len
        self.decode = decode  # a decode step reads its keys and values from the cache, even a cache of 1 token
        self.t = batch * tokens
        self.attention = attention
        self.kv_bits = kv_bits
        self.shares = shares
        self.moe_blocks = 0
        self.routing: dict[str, dict] = {}
        self.position_bias: str | None = None
        self.window = spec.window  # the window of the block being built (spec.window_of)

    # --- primitives -------------------------------------------------------------------------------------
    def add(self, cls, name: str, inputs, **kw) -> str:
        inputs = list(inputs)
        shapes = tuple(self.g.layer(x).output_shape for x in inputs)
        self.g.add(cls(name=name, input_shapes=shapes, **kw), inputs)
        return name

    def input(self, name: str, shape) -> str:
        self.g.add(Input(name=name, shape=tuple(shape)))
        return name

    def shape(self, x: str):
        return self.g.layer(x).output_shape

    def reshape(self, name: str, x: str, shape) -> str:
        return x if tuple(self.shape(x)) == tuple(shape) else self.add(Reshape, name, [x], shape=tuple(shape))

    def transpose(self, name: str, x: str, perm) -> str:
        return x if tuple(perm) == tuple(range(len(perm))) else self.add(Transpose, name, [x], perm=tuple(perm))

    def linear(self, name: str, x: str, out: int, bias: bool) -> str:
        return self.add(Linear, name, [x], out_features=out, bias=bias)

    def norm(self, name: str, x: str) -> str:
        return self.add(LayerNorm, name, [x], rms=self.spec.norm == "rms", shift=self.spec.norm_shift)

    def act(self, name: str, x: str, func: str | None = None) -> str:
        return self.add(Activation, name, [x], func=func or self.spec.act)

    def eltwise(self, name: str, xs, func: str = "add") -> str:
        return self.add(Eltwise, name, xs, func=func)

    def slice(self, name: str, x: str, start: int, stop: int, axis: int = -1) -> str:
        return self.add(Slice, name, [x], axis=axis, start=start, stop=stop)

    def n(self, block: str, key: str) -> str:
        return f"{block}.{self.spec.names[key]}"

    # --- attention ----------------------------------------------------------------------------------------
    def cache_len(self) -> int:
        w = self.window
        return min(self.kv_len, w) if w else self.kv_len

    def kv_append(self, name: str, x: str, kind: str) -> None:
        rows = self.reshape(f"{name}.tokens", x, (self.b, self.s, self.shape(x)[-1]))
        self.add(KVAppend, name, [rows], cache_tokens=max(self.cache_len(), self.s), bits=self.kv_bits, kind=kind)

    def core(self, prefix: str, q: str, k: str, v: str, heads: int, kv_heads: int, dq: int, dv: int,
             fused: bool, shared_cache: bool = False) -> str:
        """Attention of q ``(T, heads*dq)`` over k ``(T, kv_heads*dq)`` / v ``(T, kv_heads*dv)`` (or the cache);
        returns the context ``(T, heads*dv)``."""
        b, s = self.b, self.s
        causal = self.spec.is_decoder
        past = self.kv_len > s or self.decode
        w = self.window
        # keys read: all L, or with a window the last (window - 1) cached tokens plus the S new ones (decode: window)
        length = (min(self.kv_len, w + s - 1) if w else self.kv_len) if past else s
        # a cache is read at the width it is stored at (kv_bits, 16 by default), whatever the activations' width:
        # a W8A8 recipe keeps a 16-bit cache (its appends write 16 bits), so its attention reads 16 bits too
        cache_bits = float(self.kv_bits) if past else 0.0
        if fused:
            qf = self.reshape(f"{prefix}.q_seq", q, (b, s, heads * dq))
            if past:
                kf = self.input(f"{prefix}.{'latent' if shared_cache else 'k'}_cache", (b, length, kv_heads * dq))
                vf = self.slice(f"{prefix}.latent_values", kf, 0, dv) if shared_cache else \
                    self.input(f"{prefix}.v_cache", (b, length, kv_heads * dv))
            else:
                kf = self.reshape(f"{prefix}.k_seq", k, (b, s, kv_heads * dq))
                vf = self.slice(f"{prefix}.latent_values", kf, 0, dv) if shared_cache else \
                    self.reshape(f"{prefix}.v_seq", v, (b, s, kv_heads * dv))
            att = self.add(Attention, f"{prefix}.attention", [qf, kf, vf], heads=heads, kv_heads=kv_heads,
                           causal=causal, window=w if causal else 0, kv_bits=cache_bits)
            return self.reshape(f"{prefix}.context", att, (self.t, heads * dv))
        g = heads // kv_heads
        qh = self.reshape(f"{prefix}.q_heads", q, (b, s, kv_heads, g, dq))
        qh = self.transpose(f"{prefix}.q_t", qh, (0, 2, 3, 1, 4))
        qh = self.reshape(f"{prefix}.q_groups", qh, (b, kv_heads, g * s, dq))
        if past:
            kt = self.input(f"{prefix}.k_cache", (b, kv_heads, dq, length))
            vh = self.input(f"{prefix}.v_cache", (b, kv_heads, length, dv))
        else:
            kt = self.transpose(f"{prefix}.k_t", self.reshape(f"{prefix}.k_heads", k, (b, s, kv_heads, dq)), (0, 2, 3, 1))
            vh = self.transpose(f"{prefix}.v_t", self.reshape(f"{prefix}.v_heads", v, (b, s, kv_heads, dv)), (0, 2, 1, 3))
        scores = self.add(MatMul, f"{prefix}.scores", [qh, kt], kv_bits=cache_bits)
        if self.spec.softcap:  # Gemma 2: cap * tanh(scores / cap)
            scores = self.act(f"{prefix}.scores_softcap", scores, "tanh")
        if self.position_bias is not None:
            scores = self.eltwise(f"{prefix}.position_bias_add", [scores, self.position_bias])
        probs = self.add(Softmax, f"{prefix}.softmax", [scores])
        ctx = self.add(MatMul, f"{prefix}.context", [probs, vh], kv_bits=cache_bits)
        ctx = self.reshape(f"{prefix}.context_heads", ctx, (b, kv_heads, g, s, dv))
        ctx = self.transpose(f"{prefix}.context_t", ctx, (0, 3, 1, 2, 4))
        return self.reshape(f"{prefix}.context_merge", ctx, (self.t, heads * dv))

    def attention_block(self, block: str, h: str) -> str:
        sp = self.spec
        if sp.mla is not None:
            return self.mla_block(block, h)
        d, hq, hkv = sp.head_dim, sp.heads, sp.kv_heads
        qname = sp.names["qkv" if sp.fused_qkv else "q"]
        prefix = f"{block}.{qname.rsplit('.', 1)[0]}" if "." in qname else block
        if sp.fused_qkv:
            qkv = self.linear(self.n(block, "qkv"), h, (hq + 2 * hkv) * d, sp.qkv_bias)
            q = self.slice(f"{qkv}.q", qkv, 0, hq * d)
            k = self.slice(f"{qkv}.k", qkv, hq * d, (hq + hkv) * d)
            v = self.slice(f"{qkv}.v", qkv, (hq + hkv) * d, (hq + 2 * hkv) * d)
        else:
            q = self.linear(self.n(block, "q"), h, hq * d, sp.qkv_bias)
            k = self.linear(self.n(block, "k"), h, hkv * d, sp.qkv_bias)
            v = self.linear(self.n(block, "v"), h, hkv * d, sp.qkv_bias)
        q_name, k_name = q, k  # RoPE layers are named after the projections
        if sp.qk_norm == "head":  # an RMSNorm of head_dim features per query and key head
            q = self.head_norm(self.n(block, "q_norm"), q, hq, d)
            k = self.head_norm(self.n(block, "k_norm"), k, hkv, d)
        elif sp.qk_norm == "heads":  # a bias-free LayerNorm per head, each its own scale
            q = self.head_norm(self.n(block, "q_norm"), q, hq, d, separate=True)
            k = self.head_norm(self.n(block, "k_norm"), k, hkv, d, separate=True)
        elif sp.qk_norm == "full":  # one over each whole projection
            q, k = self.norm(self.n(block, "q_norm"), q), self.norm(self.n(block, "k_norm"), k)
        if sp.positions == "rope":
            rotary = sp.rotary_dim if sp.rotary_dim != d else 0
            q = self.add(Rope, f"{q_name}.rope", [q], heads=hq, head_dim=d, rotary_dim=rotary)
            k = self.add(Rope, f"{k_name}.rope", [k], heads=hkv, head_dim=d, rotary_dim=rotary)
        if sp.is_decoder:
            self.kv_append(f"{prefix}.k_cache_append", k, "k")
            self.kv_append(f"{prefix}.v_cache_append", v, "v")
        ctx = self.core(prefix, q, k, v, hq, hkv, d, d, fused=self.attention == "fused")
        return self.linear(self.n(block, "o"), ctx, sp.hidden, sp.o_bias)

    def head_norm(self, name: str, x: str, heads: int, d: int, separate: bool = False) -> str:
        """A norm over each head's ``d`` features of ``x`` ``(T, heads * d)`` (one scale of ``d`` shared by the heads;
        ``separate``: a bias-free LayerNorm whose scale has ``heads x d`` values, one per head)."""
        per_head = self.reshape(f"{name}.heads", x, (self.t, heads, d))
        normed = (self.add(LayerNorm, name, [per_head], shift=False, affine=heads * d) if separate
                  else self.norm(name, per_head))
        return self.reshape(f"{name}.merge", normed, (self.t, heads * d))

    def mla_block(self, block: str, h: str) -> str:
        sp, m = self.spec, self.spec.mla
        a = f"{block}.self_attn"
        hq, dqk = sp.heads, m.nope_dim + m.rope_dim
        if m.q_lora_rank:
            q = self.linear(f"{a}.q_a_proj", h, m.q_lora_rank, sp.qkv_bias)
            q = self.norm(f"{a}.q_a_layernorm", q)
            q = self.linear(f"{a}.q_b_proj", q, hq * dqk, False)
        else:
            q = self.linear(f"{a}.q_proj", h, hq * dqk, False)
        q3 = self.reshape(f"{a}.q_heads", q, (self.t, hq, dqk))
        q_nope = self.transpose(f"{a}.q_nope_t", self.slice(f"{a}.q_nope", q3, 0, m.nope_dim), (1, 0, 2))
        q_rope = self.reshape(f"{a}.q_rope_flat", self.slice(f"{a}.q_rope", q3, m.nope_dim, dqk), (self.t, hq * m.rope_dim))
        q_rope = self.add(Rope, f"{a}.q_rope.rope", [q_rope], heads=hq, head_dim=m.rope_dim)
        q_lat = self.add(GroupedLinear, f"{a}.kv_b_proj.k_absorbed", [q_nope], groups=hq, out_features=m.kv_lora_rank,
                         bias=False)
        q_lat = self.transpose(f"{a}.q_latent_t", q_lat, (1, 0, 2))
        q_rope3 = self.reshape(f"{a}.q_rope_heads", q_rope, (self.t, hq, m.rope_dim))
        q_full = self.add(Concat, f"{a}.q_absorbed", [q_lat, q_rope3], axis=-1)
        q_full = self.reshape(f"{a}.q_absorbed_flat", q_full, (self.t, hq * (m.kv_lora_rank + m.rope_dim)))
        kv = self.linear(f"{a}.kv_a_proj_with_mqa", h, m.kv_lora_rank + m.rope_dim, sp.qkv_bias)
        latent = self.norm(f"{a}.kv_a_layernorm", self.slice(f"{a}.kv_latent", kv, 0, m.kv_lora_rank))
        k_rope = self.add(Rope, f"{a}.k_rope.rope", [self.slice(f"{a}.k_rope", kv, m.kv_lora_rank, m.kv_lora_rank + m.rope_dim)],
                          heads=1, head_dim=m.rope_dim)
        k_full = self.add(Concat, f"{a}.kv_latent_rope", [latent, k_rope], axis=-1)
        self.kv_append(f"{a}.latent_cache_append", k_full, "latent")
        ctx = self.core(a, q_full, k_full, k_full, hq, 1, m.kv_lora_rank + m.rope_dim, m.kv_lora_rank, fused=True,
                        shared_cache=True)
        ctx = self.transpose(f"{a}.context_heads_t", self.reshape(f"{a}.context_heads", ctx, (self.t, hq, m.kv_lora_rank)),
                             (1, 0, 2))
        out = self.add(GroupedLinear, f"{a}.kv_b_proj.v_absorbed", [ctx], groups=hq, out_features=m.v_dim, bias=False)
        out = self.reshape(f"{a}.v_merge", self.transpose(f"{a}.v_t", out, (1, 0, 2)), (self.t, hq * m.v_dim))
        return self.linear(f"{a}.o_proj", out, sp.hidden, sp.o_bias)

    # --- MLP ----------------------------------------------------------------------------------------------
    def dense_mlp(self, block: str, h: str, inter: int, names: dict | None = None) -> str:
        sp = self.spec
        nm = {k: self.n(block, k) for k in ("gate", "up", "down", "gate_up") if k in sp.names} if names is None else names
        if sp.gated_mlp:
            if sp.fused_gate_up and names is None:
                gu = self.linear(nm["gate_up"], h, 2 * inter, sp.mlp_bias)
                gate, up = self.slice(f"{gu}.gate", gu, 0, inter), self.slice(f"{gu}.up", gu, inter, 2 * inter)
            else:
                gate = self.linear(nm["gate"], h, inter, sp.mlp_bias)
                up = self.linear(nm["up"], h, inter, sp.mlp_bias)
            hidden = self.eltwise(f"{nm['down']}.gated", [self.act(f"{gate}.act", gate), up], "mul")
        else:
            up = self.linear(nm["up"], h, inter, sp.mlp_bias)
            hidden = self.act(f"{up}.act", up)
        return self.linear(nm["down"], hidden, sp.hidden, sp.mlp_bias)

    def moe_mlp(self, block: str, h: str) -> str:
        sp, moe = self.spec, self.spec.moe
        names = sp.names
        router = self.linear(f"{block}.{names['router']}", h, moe.experts, moe.router_bias)
        self.add(Softmax, f"{router}.softmax", [router])
        counts = route(self.shares[self.moe_blocks], moe.top_k, self.t)
        self.moe_blocks += 1
        outs = []
        groups = {}
        for j, (n_tok, experts) in enumerate(buckets(counts)):
            base = f"{block}.{names['experts']}.g{j}"
            groups[f"g{j}"] = {"experts": experts, "tokens": n_tok}
            x = self.add(MoeDispatch, f"{base}.dispatch", [h], groups=len(experts), tokens=n_tok)
            kw = dict(groups=len(experts), out_features=moe.intermediate, bias=False)
            gate = self.add(GroupedLinear, f"{base}.{names['expert_gate']}", [x], **kw)
            up = self.add(GroupedLinear, f"{base}.{names['expert_up']}", [x], **kw)
            hidden = self.eltwise(f"{base}.gated", [self.act(f"{gate}.act", gate), up], "mul")
            outs.append(self.add(GroupedLinear, f"{base}.{names['expert_down']}", [hidden], groups=len(experts),
                                 out_features=sp.hidden, bias=False))
        self.routing[block] = {"counts": counts, "buckets": groups}
        inputs = []
        if moe.shared_intermediate:
            s = f"{block}.{names['shared']}"
            shared = self.dense_mlp(block, h, moe.shared_intermediate,
                                    {"gate": f"{s}.gate_proj", "up": f"{s}.up_proj", "down": f"{s}.down_proj"})
            if moe.shared_gate:
                sg = self.linear(f"{block}.{names['shared_gate']}", h, 1, False)
                shared = self.eltwise(f"{sg}.scaled", [shared, self.act(f"{sg}.act", sg, "sigmoid")], "mul")
            inputs.append(shared)
        return self.add(MoeCombine, f"{block}.moe_combine", inputs + outs, tokens=self.t)

    # --- blocks -------------------------------------------------------------------------------------------
    def block(self, i: int, x: str) -> str:
        sp = self.spec
        blk = sp.names["block"].format(i=i)
        moe = sp.moe is not None and sp.moe.is_moe(i)
        self.window = sp.window_of(i)

        def mlp(h):
            return self.moe_mlp(blk, h) if moe else self.dense_mlp(blk, h, sp.intermediate)

        if sp.post_norm:  # BERT / RoBERTa / DistilBERT
            r = self.norm(self.n(blk, "norm1"), self.eltwise(f"{blk}.attention_residual", [self.attention_block(blk, x), x]))
            return self.norm(self.n(blk, "norm2"), self.eltwise(f"{blk}.mlp_residual", [mlp(r), r]))
        if sp.branch_norms != "pre":  # Gemma 2 / 3 ("both"), OLMo 2 ("post"): a branch normalised before its add
            pre = sp.branch_norms == "both"
            a = self.attention_block(blk, self.norm(self.n(blk, "norm1"), x) if pre else x)
            r = self.eltwise(f"{blk}.attention_residual", [self.norm(self.n(blk, "attn_post_norm"), a), x])
            m = mlp(self.norm(self.n(blk, "norm2"), r) if pre else r)
            return self.eltwise(f"{blk}.mlp_residual", [self.norm(self.n(blk, "mlp_post_norm"), m), r])
        h1 = self.norm(self.n(blk, "norm1"), x)
        a = self.attention_block(blk, h1)
        if sp.parallel == "shared_norm":
            return self.eltwise(f"{blk}.residual", [x, a, mlp(h1)])
        if sp.parallel == "two_norms":
            return self.eltwise(f"{blk}.residual", [x, a, mlp(self.norm(self.n(blk, "norm2"), x))])
        r = self.eltwise(f"{blk}.attention_residual", [a, x])
        return self.eltwise(f"{blk}.mlp_residual", [mlp(self.norm(self.n(blk, "norm2"), r)), r])

    def first_token(self, name: str, x: str, last: bool) -> str:
        """The first (``last=False``) or last token of every sequence: ``(T, H)`` -> ``(B, H)``."""
        if self.s == 1:
            return x
        seq = self.reshape(f"{name}.sequences", x, (self.b, self.s, self.shape(x)[-1]))
        one = self.slice(f"{name}.{'last' if last else 'first'}_token", seq, self.s - 1 if last else 0,
                         self.s if last else 1, axis=1)
        return self.reshape(f"{name}.tokens", one, (self.b, self.shape(x)[-1]))

    def text_embeddings(self) -> str:
        sp, t = self.spec, self.t
        ids = self.input("input_ids", (t,))
        width = sp.word_embed_dim or sp.hidden
        x = self.add(Embedding, sp.names["embed"], [ids], num_embeddings=sp.vocab, embedding_dim=width)
        if sp.word_embed_dim:
            x = self.linear(sp.names["project_in"], x, sp.hidden, False)
        parts = [x]
        if sp.positions == "learned":
            pos = self.input("position_ids", (t,))
            parts.append(self.add(Embedding, sp.names["positions"], [pos],
                                  num_embeddings=sp.max_positions + sp.position_offset, embedding_dim=sp.hidden))
        if sp.type_vocab:
            types = self.input("token_type_ids", (t,))
            parts.append(self.add(Embedding, sp.names["token_types"], [types], num_embeddings=sp.type_vocab,
                                  embedding_dim=sp.hidden))
        if len(parts) > 1:
            x = self.eltwise("embeddings.sum", parts)
        if sp.embed_norm:
            x = self.norm(sp.names["embed_norm"], x)
        return x

    def decoder(self) -> None:
        sp = self.spec
        x = self.text_embeddings()
        for i in range(sp.layers):
            x = self.block(i, x)
        if sp.final_norm:
            x = self.norm(sp.names["final_norm"], x)
        x = self.first_token("logits", x, last=True)
        if sp.word_embed_dim:
            x = self.linear(sp.names["project_out"], x, sp.word_embed_dim, False)
        logits = self.linear(sp.names["lm_head"], x, sp.vocab, sp.lm_head_bias)
        if sp.softcap:  # Gemma 2: cap * tanh(logits / cap)
            self.act(f"{logits}.softcap", logits, "tanh")

    def encoder(self) -> None:
        sp = self.spec
        if sp.kind == "vit":
            x = self.vit_embeddings()
        else:
            x = self.text_embeddings()
        if sp.positions == "relative":  # T5: one bucketed bias table (block 0) added to every block's scores
            buckets_in = self.input("relative_position_buckets", (self.s, self.s))
            table = self.add(Embedding, sp.names["relative_bias"], [buckets_in], num_embeddings=sp.relative_buckets,
                             embedding_dim=sp.heads)
            self.position_bias = self.transpose("position_bias", table, (2, 0, 1))
        for i in range(sp.layers):
            x = self.block(i, x)
        if sp.final_norm:
            x = self.norm(sp.names["final_norm"], x)
        if sp.pooler:
            cls = self.first_token("pooler", x, last=False)
            self.act(f"{sp.names['pooler']}.act", self.linear(sp.names["pooler"], cls, sp.hidden, True), "tanh")

    def vit_embeddings(self) -> str:
        sp = self.spec
        side = sp.image_size // sp.patch_size
        px = self.input("pixel_values", (sp.channels, sp.image_size, sp.image_size))
        p = self.add(Conv2d, sp.names["patch"], [px], out_channels=sp.hidden, kernel=sp.patch_size, stride=sp.patch_size)
        p = self.transpose("embeddings.patches_t", self.reshape("embeddings.patches", p, (sp.hidden, side * side)), (1, 0))
        cls = self.add(Embedding, sp.names["cls"], [self.input("cls_index", (1,))], num_embeddings=1, embedding_dim=sp.hidden)
        x = self.add(Concat, "embeddings.tokens", [cls, p], axis=0)
        pos = self.add(Embedding, sp.names["positions"], [self.input("position_ids", (side * side + 1,))],
                       num_embeddings=side * side + 1, embedding_dim=sp.hidden)
        return self.eltwise("embeddings.sum", [x, pos])


#: the longest prompt / context accepted (2^26 tokens; the longest published contexts are ~10M)
MAX_TOKENS = 1 << 26


def _positive(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WorkloadError(f"{what} must be an int >= 1; got {value!r}")
    if value > MAX_TOKENS:
        raise WorkloadError(f"{what} {value} is over the {MAX_TOKENS:,} tokens accepted")
    return value


def build_graph(spec: ModelSpec, *, phase: str = "prefill", prompt: int | None = None, context: int | None = None,
                batch: int = 1, attention: str = "unfused", routing="uniform", kv_bits: int | None = None,
                source: str = "") -> LayerGraph:
    """The LayerGraph of one step of ``spec`` (module docstring); ``graph.metadata['hf']`` records the phase, the
    KV cache, the routing and the parameter counts (:func:`accelsim.workload.hf.params.param_counts`)."""
    where = f"{source}: " if source else ""
    if phase not in PHASES:
        raise WorkloadError(f"{where}phase must be one of {', '.join(PHASES)}; got {phase!r}")
    if attention not in ATTENTION:
        raise WorkloadError(f"{where}attention must be one of {', '.join(ATTENTION)}; got {attention!r}")
    batch = _positive(batch, f"{where}batch")
    if not spec.is_decoder:
        if phase != "prefill":
            raise WorkloadError(f"{where}{spec.model_type} is an encoder: it has no {phase} phase (use prefill)")
        if kv_bits is not None:
            raise WorkloadError(f"{where}{spec.model_type} is an encoder: it keeps no KV cache, so a KV format "
                                f"(kv_bits={kv_bits}) does not apply")
        if context is not None:
            raise WorkloadError(f"{where}{spec.model_type} is an encoder: context (a KV length) does not apply")
    if kv_bits is not None and (isinstance(kv_bits, bool) or not isinstance(kv_bits, int) or not 1 <= kv_bits <= 64):
        raise WorkloadError(f"{where}kv_bits must be an int in [1, 64]; got {kv_bits!r}")
    if spec.kind == "vit":
        if prompt is not None:
            raise WorkloadError(f"{where}vit takes an image ({spec.image_size} px): prompt does not apply")
        if batch != 1:
            raise WorkloadError(f"{where}vit graphs are per image: build at batch 1 and give the batch to the simulator")
        tokens = kv_len = (spec.image_size // spec.patch_size) ** 2 + 1
    elif phase == "prefill":
        tokens = _positive(prompt if prompt is not None else DEFAULT_PROMPT, f"{where}prompt")
        kv_len = _positive(context, f"{where}context") if context is not None else tokens
        if kv_len < tokens:
            raise WorkloadError(f"{where}prefill context {kv_len} is shorter than the prompt {tokens}")
    else:
        if prompt is not None:
            raise WorkloadError(f"{where}prompt applies to prefill; a decode step runs 1 token against its context "
                                f"(give context)")
        tokens = 1
        # the default, within the positions the model has (GPT-2: 1,024)
        kv_len = _positive(context if context is not None else min(DEFAULT_CONTEXT, spec.max_positions),
                           f"{where}context")
    if spec.is_decoder and kv_len > spec.max_positions:
        warnings.warn(f"{where}context {kv_len} is over the model's max_position_embeddings {spec.max_positions}",
                      stacklevel=3)
    if not spec.is_decoder and spec.positions == "learned" and tokens > spec.max_positions:
        raise WorkloadError(f"{where}sequence of {tokens} tokens is over the {spec.max_positions} learned positions")
    shares = None
    if spec.moe is not None:
        shares = load_shares(routing, spec.moe.experts, len(spec.moe.layers))
    elif routing not in (None, "uniform"):
        raise WorkloadError(f"{where}routing applies to a mixture-of-experts config; {spec.model_type} has no experts")
    label = f"{phase}{tokens}" if phase == "prefill" else f"decode{kv_len}"
    graph = LayerGraph(f"{spec.name}-{label}" + (f"-b{batch}" if batch > 1 else ""), source)
    bld = _Builder(spec, graph, batch=batch, tokens=tokens, kv_len=kv_len, attention=attention,
                   kv_bits=16 if kv_bits is None else kv_bits, shares=shares, decode=phase == "decode" and spec.is_decoder)
    if spec.is_decoder:
        bld.decoder()
    else:
        bld.encoder()
    graph = _inputs_first(graph)
    from accelsim.workload.hf.params import param_counts

    meta = {"model_type": spec.model_type, "phase": phase, "batch": batch, "new_tokens": tokens, "kv_length": kv_len,
            "attention": "fused" if spec.mla is not None else attention, "params": param_counts(spec, graph),
            "tied": bool(spec.tied)}
    if spec.is_decoder:  # the head a tied checkpoint fills from its embedding table
        meta["lm_head"], meta["embed"] = spec.names["lm_head"], spec.names["embed"]
    if spec.is_decoder:
        meta["kv_cache"] = kv_cache_facts(spec, kv_len, batch, bld.kv_bits)
    if spec.moe is not None:
        meta["routing"] = {"distribution": routing if isinstance(routing, str) else "counts", "top_k": spec.moe.top_k,
                           "experts": spec.moe.experts, "blocks": bld.routing}
    graph.metadata = {"description": f"{spec.name} ({spec.model_type}) {phase}: {tokens} new token(s) per sequence, "
                                     f"KV length {kv_len}, batch {batch} folded into the shapes", "hf": meta}
    if spec.notes:
        graph.metadata["notes"] = list(spec.notes)
    return graph


def _inputs_first(graph: LayerGraph) -> LayerGraph:
    """The same graph with every input (token ids, KV caches) ahead of the layers in its order, so the order
    reads like the YAML format (inputs, then layers) and round-trips through it."""
    out = LayerGraph(graph.name, graph.source)
    layers = graph.layers
    for layer in layers:
        if isinstance(layer, Input):
            out.add(layer)
    for layer in layers:
        if not isinstance(layer, Input):
            out.add(layer, graph.inputs_of(layer.name))
    return out


def kv_cache_facts(spec: ModelSpec, kv_len: int, batch: int, bits: int) -> dict:
    """Size of the KV cache after a step: elements per token per block (``2 * kv_heads * head_dim``; MLA:
    ``kv_lora_rank + rope_dim``), the channels of one head (``head_dim``; MLA: the latent row), tokens held by
    a block (``tokens``: the most, ``L``, or ``min(L, window)`` when every block is windowed; ``token_blocks``:
    summed over the blocks, each windowed one holding ``min(L, window)``), bytes at ``bits`` for every block
    and sequence."""
    if spec.mla is not None:
        per_token, layout = spec.mla.kv_lora_rank + spec.mla.rope_dim, "mla-latent"
    else:
        per_token = 2 * spec.kv_heads * spec.head_dim
        layout = "mha" if spec.kv_heads == spec.heads else ("mqa" if spec.kv_heads == 1 else "gqa")
    held = [min(kv_len, spec.window_of(i)) if spec.window_of(i) else kv_len for i in range(spec.layers)]
    head_dim = per_token if spec.mla is not None else spec.head_dim
    return {"layout": layout, "elements_per_token_per_block": per_token, "head_dim": head_dim,
            "tokens": max(held, default=kv_len), "token_blocks": sum(held), "blocks": spec.layers, "bits": bits,
            "bytes": math.ceil(batch * sum(held) * per_token * bits / 8)}
