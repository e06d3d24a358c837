"""GPU kernel-family figures a held-out re-derivation of docs/models/gpu.md found wrong (twenty-third session)."""

from __future__ import annotations

import pytest


def test_round_23_fp8_attention_products_fused_gemv_members_and_gemv_outputs():
    """A held-out re-derivation of docs/models/gpu.md (2026-12-05; every other figure of 28 runs equal, every
    invariant held): an FP8 recipe's attention products ran int8 (the recipe's E4M3 format was not carried to
    layers without weights: H100 int8 efficiency, A100 int8 tensor cores with 1-byte operands, no fallback note); a
    fused GEMV-class projection lost its load-chain latency, which is a term of its max, not added; a bf16 GEMV
    wrote its output as fp32."""
    import warnings

    import accelsim
    from accelsim.hw.gpu import kernel_models as km
    from accelsim.hw.registry import load_arch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = accelsim.simulate("h100-sxm", "bert-base", recipe="fp8-e4m3")
        a = accelsim.simulate("a100-80gb", "bert-base", recipe="fp8-e4m3")
    hs = next(layer for layer in h.layers if layer.name.endswith("encoder.0.scores"))
    as_ = next(layer for layer in a.layers if layer.name.endswith("encoder.0.scores"))
    assert hs.extra["dtype"] == "fp8" and "fp8" in hs.extra["kernel"]
    assert as_.extra["dtype"] == "bf16" and "no FP8 tensor cores" in as_.extra["kernel_fallback"]
    est = km.gemv(load_arch("a100-80gb"), 4096, 4096, "bf16")
    assert est.dram_write_bytes == 4096 * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trt = accelsim.simulate("a100-80gb", "tests/data/hf/llama-2-7b.json?phase=decode&context=512",
                                recipe="w4a16-g128", overrides={"stack": "tensorrt"})
    by = {layer.name: layer for layer in trt.layers}
    q, k = by["model.layers.0.self_attn.q_proj"], by["model.layers.0.self_attn.k_proj"]
    assert str(k.extra.get("fused", "")).startswith("into")
    # k_proj has q_proj's shape (no GQA): fused, it keeps q_proj's throughput time max(compute, memory) (it lost
    # the GEMV's load chain, 1.86 us, which was never added to that time)
    assert k.latency_s * 1e6 == pytest.approx(max(q.extra["compute_us"], q.extra["memory_us"]), rel=1e-6)
