"""Issue 13 must-show on the GPU model: Llama-2-7B (config) on a100-80gb with w4a16-g128 - decode at batch 1
faster than bf16, a 2048-token prefill no faster, the decode speedup falling with the batch (AutoAWQ issues 187
and 106, MARLIN; figures beside the published ones in docs/validation.md, section "LLM serving"). The figures
come from the GPU model's weight-only kernels (accelsim.hw.gpu); only the directions are asserted here."""

from __future__ import annotations

from pathlib import Path

from accelsim.dse.serving import simulate_phase

LLAMA = Path(__file__).parent / "data" / "hf" / "llama-2-7b.json"


def _speedup(phase, **kw):
    return simulate_phase("a100-80gb", LLAMA, phase, recipe="w4a16-g128", **kw).total["speedup_vs_dense"]


def test_llama2_7b_w4a16_on_a100_phases_and_batch():
    decode = simulate_phase("a100-80gb", LLAMA, "decode", recipe="w4a16-g128", context=2048)
    assert decode.total["speedup_vs_dense"] > 1.2
    assert decode.provenance["weights"].startswith("none (statistics path") and not decode.provenance["seed_matters"]
    assert _speedup("prefill", prompt=2048) <= 1.0
    curve = [_speedup("decode", context=2048, batch=b) for b in (1, 16, 256)]
    assert curve[0] > curve[1] > curve[2]
    assert curve[2] < 1.0  # AutoAWQ 106: at batch 256 int4 decode is slower than fp16


def test_mixtral_decode_reads_only_the_routed_experts():
    """Batch-1 decode of Mixtral-8x7B: the GEMM layers read the active weights once (2 of 8 experts per block),
    at bf16 and at w4a16-g128's 4.15625 bits (the rest: activations)."""
    import pytest

    from accelsim.workload.hf import load_hf

    mixtral = LLAMA.parent / "mixtral-8x7b-v0.1.json"
    active = load_hf(mixtral, phase="decode", context=512).metadata["hf"]["params"]["weight_matrices"]
    for recipe, bits in ((None, 16), ("w4a16-g128", 4.15625)):
        r = simulate_phase("a100-80gb", mixtral, "decode", context=512, recipe=recipe)
        read = sum(x.dram_read_bytes for x in r.layers if x.op in ("linear", "grouped_linear"))
        assert read == pytest.approx(active * bits / 8, rel=2e-3)
