"""Software stacks: which library kernels a stack ships, what it fuses, how it launches kernels.

``GpuConfig.stack`` names one of :data:`STACKS`; equations and sources: ``docs/models/gpu.md``,
section "Software stacks". Times in microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stack:
    """One software stack.

    ``launch``: ``eager`` (every kernel launched from the host; the host needs ``host_us`` per kernel
    and runs ahead of the GPU, so a layer takes ``max(GPU time, kernels x host_us)``) or ``cuda-graph``
    (the step is one graph; each kernel costs the device's ``graph_launch_us``). ``subclass_host_us``:
    extra host time per call of a weight held in a Python tensor subclass (torchao quantized / 2:4
    tensors) in eager mode. ``fuse_pointwise``: activations / BatchNorm / residual adds fused into
    their neighbours. ``pointwise_min_bits``: the narrowest type element-wise, norm and softmax layers
    run in. ``weight_only`` / ``sparse24`` / ``attention`` / ``decode_attention``: kernel families in
    preference order (``best``: all, fastest chosen). ``layout_copies``: the stack pads the 2:4 GEMM's
    dense operand and transposes its result with extra kernels (PyTorch's semi-structured tensor).
    ``sparse24_convs``: the stack runs 2:4 convolutions (TensorRT's sparse tactics); PyTorch's
    semi-structured tensor and torchao's ``sparsify_`` handle linear layers (``F.linear`` / ``mm``) only.
    ``quantized_convs``: the stack runs int8 / FP8 / int4 convolutions (TensorRT's INT8 / FP8 tactics);
    PyTorch's GPU paths for narrow math (``torch._int_mm``, ``_scaled_mm``, torchao's ``quantize_``)
    are linear layers, so its convolutions run at 16 bits. ``decode_fuses_rope_kv``: in a decode step the
    rotary embedding and the KV-cache append run inside the attention kernel (FasterTransformer's
    ``single_query_attention``, as AutoAWQ's fused modules call it): no kernel of their own.
    ``fused_projections``: groups of sibling projections the stack's modules hold as one weight (the query, key
    and value projections, :data:`QKV_NAMES`; the gate and up projections, :data:`GATE_UP_NAMES`): each group
    runs as one GEMM in a network (docs "Fused projections").
    ``repeat_kv``: grouped K / V are copied to every query head before attention (Hugging Face's ``repeat_kv``,
    two copy kernels a layer). ``kv_cache``: how a decode step's new keys and values reach the cache: ``inplace``
    (a preallocated cache written at the new positions) or ``concat`` (the cache grows by ``torch.cat``: the
    whole cache read and written again, transformers' ``DynamicCache``); ``kernels.kv_cache`` overrides it.
    ``decomposed_modules``: the stack runs Hugging Face's PyTorch modules op by op (docs "Software stacks"): an
    RMSNorm is eight kernels (an fp32 upcast, ``pow``, ``mean``, ``+ eps``, ``rsqrt``, the multiply, the downcast,
    the weight), a rotary embedding five per tensor (``q * cos``, ``neg`` and ``cat`` of ``rotate_half``, ``* sin``,
    the add), and the attention output's transpose is a copy.
    """

    name: str
    launch: str
    host_us: float
    subclass_host_us: float
    fuse_pointwise: bool
    pointwise_min_bits: int
    weight_only: tuple[str, ...]
    sparse24: tuple[str, ...]
    attention: tuple[str, ...]
    decode_attention: tuple[str, ...]
    layout_copies: bool
    bound: bool = False
    sparse24_convs: bool = False
    quantized_convs: bool = False
    decode_fuses_rope_kv: bool = False
    fused_projections: tuple[tuple[str, ...], ...] = ()
    repeat_kv: bool = False
    kv_cache: str = "inplace"
    decomposed_modules: bool = False
    #: whose GEMV-class weight-only kernel the stack ships (``families.GEMV_KINDS``): how many rows it runs and
    #: whether they share one pass over the weights
    gemv_kind: str = "awq"

    @property
    def times_tactics(self) -> bool:
        """The stack times candidate kernels and keeps the fastest (TensorRT's builder; ``best``), so a 2:4
        kernel slower than the dense one at a shape is not used."""
        return self.bound or self.name == "tensorrt"
    source: str = ""


#: sibling projections a stack may run as one GEMM (``fused_projections``), by their Hugging Face module names
#: (Llama-family blocks), consecutive in a block and reading the same input: the query / key / value projections
#: (AutoAWQ's ``fuse_qkv(module, q_proj, k_proj, v_proj)`` in ``awq/utils/fused_utils.py``; vLLM's
#: ``QKVParallelLinear``; TensorRT-LLM's ``Attention.qkv``) and the gate / up projections (vLLM's
#: ``MergedColumnParallelLinear`` ``gate_up_proj``)
QKV_NAMES = ("q_proj", "k_proj", "v_proj")
GATE_UP_NAMES = ("gate_proj", "up_proj")

#: host dispatch per eager kernel (us): between the two calibration-half estimates, gpt-fast's eager
#: Llama-2-7B (39.2 ms / 579 kernels = 68 us, HF-style Python) and metaseq's eager-vs-graph 175B step
#: (29 ms / ~1900 kernels = 15 us); geometric mean (docs "Software stacks")
EAGER_HOST_US = 32.0
#: host dispatch per kernel of a thin fused-module stack (us): metaseq's estimate above, (95 - 66) ms over ~1900
#: kernels (calibration half): its fused Megatron modules call extension kernels directly, as AutoAWQ's fused
#: modules do (no Hugging Face module hierarchy per kernel)
FUSED_MODULE_HOST_US = 29.0e3 / 1900
#: tensor-subclass dispatch per call (us): BERT-base 2:4 in pytorch/tutorials#3236 (calibration half),
#: eager minus compiled, sparse minus dense: (16.77 - 9.49) - (9.56 - 8.98) ms over 72 linears = 93 us
SUBCLASS_HOST_US = 93.0

STACKS: dict[str, Stack] = {
    "pytorch-eager": Stack(
        "pytorch-eager", "eager", EAGER_HOST_US, SUBCLASS_HOST_US, False, 16,
        weight_only=("tinygemm", "gemv-dequant"), sparse24=("cusparselt", "cutlass"),
        attention=("flash2", "math"), decode_attention=("flashdecoding", "math"), layout_copies=True,
        source="PyTorch 2.x eager: cuBLAS / cuBLASLt (_scaled_mm), torchao int4 (tinygemm _weight_int4pack_mm), "
               "int8 weight-only as dequantize + mm, Sparse-MARLIN via torchao MarlinSparseLayout, "
               "to_sparse_semi_structured (cuSPARSELt, else CUTLASS), SDPA flash (FlashAttention-2, split-KV for decode)"),
    "transformers": Stack(
        "transformers", "eager", EAGER_HOST_US, SUBCLASS_HOST_US, False, 16,
        weight_only=("tinygemm", "gemv-dequant"), sparse24=("cusparselt", "cutlass"),
        attention=("flash2", "math"), decode_attention=("cudnn", "flashdecoding", "math"), layout_copies=True,
        repeat_kv=True, kv_cache="concat", decomposed_modules=True,
        source="Hugging Face transformers' PyTorch modules in eager mode: the pytorch-eager kernels, RMSNorm and RoPE "
               "run op by op (8 and 5 kernels), the attention output transposed by a copy, SDPA attention "
               "after repeat_kv expands grouped K / V to every query head (two copies a layer, transformers' "
               "sdpa_attention_forward when it passes an attention mask), decode attention on cuDNN's SDPA on sm90+ "
               "(PyTorch's choice there; a graph planned on the host for every new KV length) and a DynamicCache "
               "that grows by torch.cat (the whole cache copied a layer a step, a new KV length every step; a "
               "StaticCache writes in place and keeps one shape: kernels.kv_cache=inplace)"),
    "torch-compile": Stack(
        "torch-compile", "cuda-graph", 0.0, 0.0, False, 16,
        weight_only=("tinygemm", "gemv"), sparse24=("cusparselt", "cutlass"),
        attention=("flash2", "math"), decode_attention=("flashdecoding", "math"), gemv_kind="inductor",
        layout_copies=False,
        source="torch.compile mode='reduce-overhead' (CUDA graphs; Inductor fuses pointwise ops with each other, not into "
               "cuBLAS / cuDNN epilogues: per layer the model keeps one kernel per pointwise layer; int8 weight-only "
               "dequant fused into a Triton GEMV; the 2:4 operand padding / result transpose fused into neighbours), same library "
               "kernels as eager"),
    "tensorrt": Stack(
        "tensorrt", "cuda-graph", 0.0, 0.0, True, 8,
        weight_only=("gemv", "marlin"), sparse24=("cusparselt",),
        attention=("flash3", "flash2", "math"), decode_attention=("flashdecoding", "math"), gemv_kind="trtllm",
        layout_copies=False,
        sparse24_convs=True, quantized_convs=True, fused_projections=(QKV_NAMES,),
        source="TensorRT / TensorRT-LLM: cuBLASLt and own tactics, FP8, weight-only batched GEMV and fpA_intB "
               "mixed-input GEMM (MARLIN-class), sparse tactics, FMHA (FA3-class on Hopper), XQA multi-block decode; one "
               "qkv linear per attention layer"),
    "vllm": Stack(
        "vllm", "cuda-graph", 0.0, 0.0, True, 16,
        weight_only=("marlin",), sparse24=(),
        attention=("flash3", "flash2", "math"), decode_attention=("flashdecoding", "math"), layout_copies=False,
        fused_projections=(QKV_NAMES, GATE_UP_NAMES),
        source="vLLM: GPTQ / AWQ / FP8 Marlin, Sparse-MARLIN (gptq_marlin_24), CUTLASS scaled_mm FP8, "
               "vllm-flash-attn (FA2; FA3 on Hopper) with split-KV paged decoding, CUDA graphs for decode; "
               "QKVParallelLinear and MergedColumnParallelLinear (gate_up) weights"),
    "autoawq": Stack(
        "autoawq", "eager", FUSED_MODULE_HOST_US, 0.0, False, 16,
        weight_only=("awq-gemm", "gemv", "gemv-dequant"), sparse24=(),
        attention=("llama-ref",), decode_attention=("flash2", "math"), layout_copies=False, decode_fuses_rope_kv=True,
        fused_projections=(QKV_NAMES,),
        source="AutoAWQ with fuse_layers=True (its examples/benchmark.py): eager PyTorch calling awq_ext GEMM / GEMV "
               "kernels from fused modules (QuantAttentionFused with one qkv_proj, FasterTransformerRMSNorm); decode "
               "attention is FasterTransformer's single_query_attention (rotary and cache append inside, one CTA per "
               "head, no KV split), prefill attention as Meta's Llama reference writes it (torch.matmul, scale, mask add, an "
               "fp32 softmax between two casts: the llama-ref family)"),
    "best": Stack(
        "best", "cuda-graph", 0.0, 0.0, True, 8,
        weight_only=("marlin", "gemv", "tinygemm", "awq-gemm", "gemv-dequant"), sparse24=("cusparselt", "cutlass"),
        attention=("flash3", "flash2", "math"), decode_attention=("flashdecoding", "flash3", "flash2", "math"),
        gemv_kind="any", layout_copies=False, bound=True, sparse24_convs=True, quantized_convs=True,
        source="every kernel family the device has, the fastest per layer: the achievable bound, not a measured stack"),
}

#: stacks that ship Sparse-MARLIN (2:4 + int4): torchao MarlinSparseLayout, vLLM gptq_marlin_24
SPARSE_MARLIN_STACKS = ("pytorch-eager", "transformers", "torch-compile", "vllm", "best")


def stack(name: str) -> Stack:
    """The :class:`Stack` called ``name`` (validated by the config's choices)."""
    return STACKS[name]


__all__ = ["EAGER_HOST_US", "FUSED_MODULE_HOST_US", "GATE_UP_NAMES", "QKV_NAMES", "SPARSE_MARLIN_STACKS", "STACKS", "SUBCLASS_HOST_US", "Stack", "stack"]
