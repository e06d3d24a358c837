"""The GPU model against kernels and a Llama-2-7B timed on a real NVIDIA H200 (tests/data/gpu_measured).

The measurements (benchmarks/gpu_measure.py and gpu_measure_llm.py, 2026-12-04; environment in the file)
are re-predicted here with the bundled ``h200`` config under the ``pytorch-eager`` stack, with the
stack's eager launch (``measured_s``: calls back to back, host dispatch included) and with
``launch=cuda-graph`` (``measured_graph_s``: the same calls replayed from a CUDA graph, the GPU alone).
Two of the four tinygemm rows at M > 1 calibrate ``TINYGEMM_FLOPS_PER_CLK_PER_SM``; no other row was
fitted. A second grid (``kernels_wide``: tinygemm at other shapes and group sizes, 2:4 across M, skinny
fp32) was measured after the model changes; for tinygemm, fp32 and dense it is held out, for 2:4 it is not:
the sm90 cuSPARSELt kernel (its one profiled tile, no K-dependent efficiency, segment-K) was set after both
grids were seen (structural, no constant fitted). The bands asserted are the ones docs/validation.md reports ("Measured on an
NVIDIA H200"); the misses it explains are pinned as strict xfails, so fixing one is noticed.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

from accelsim.hw.gpu import measured as M

REPO_ROOT = Path(__file__).resolve().parents[1]
FILE = REPO_ROOT / "tests" / "data" / "gpu_measured" / "h200-2026-12-04.json"
DATA = json.loads(FILE.read_text())
CALIBRATION = {("int4", 16, 4096, 4096), ("int4", 128, 4096, 4096)}


def test_package_copy_is_byte_identical():
    assert (M.DATA_DIR / FILE.name).read_bytes() == FILE.read_bytes()
    assert [p.name for p in M.sessions()] == sorted(p.name for p in FILE.parent.glob("*.json"))


@pytest.fixture(scope="module")
def rows():
    """Every measured kernel row of the main grid with its predictions (seconds), eager and CUDA graph."""
    return list(M.evaluate(str(M.DATA_DIR / FILE.name), "kernels"))


@pytest.fixture(scope="module")
def wide():
    """The held-out grid (measured after the model changes) with its predictions."""
    return list(M.evaluate(str(M.DATA_DIR / FILE.name), "kernels_wide"))


def _select(rows, kind, dtype=None, untouched=True):
    return [r for r in rows if r["kind"] == kind and (dtype is None or r["dtype"] == dtype)
            and not (untouched and (r["kind"], r["m"], r["n"], r["k"]) in CALIBRATION)]


def _errors(sel, graph=True):
    return [(r["pred_graph"] / r["measured_graph_s"] if graph else r["pred"] / r["measured_s"]) - 1.0 for r in sel]


def test_the_file_holds_every_kind_measured_on_an_h200():
    assert DATA["environment"]["device"] == "NVIDIA H200" and DATA["environment"]["sms"] == 132
    kinds = {r["kind"] for r in DATA["kernels"]}
    assert kinds == {"dense", "csr", "semi24", "int4", "fp8", "sdpa_flash", "sdpa_math"}
    assert all(r["measured_s"] > 0 for r in DATA["kernels"])
    assert all(r["measured_graph_s"] > 0 for r in DATA["kernels"] if r["kind"] != "csr")


@pytest.mark.parametrize("kind, dtype, worst, median", [
    ("dense", "bf16", 0.40, 0.12),   # cuBLAS tensor-core GEMM / GEMV
    ("dense", "fp16", 0.40, 0.12),
    ("dense", "fp32", 0.60, 0.15),   # CUDA-core SGEMM: sm80 xmma tiles and split-K
    ("fp8", None, 0.20, 0.10),       # cuBLASLt FP8 (_scaled_mm)
    ("int4", None, 0.30, 0.15),      # tinygemm (aten._weight_int4pack_mm); M = 16 / 128 calibrate
    ("sdpa_flash", None, 0.22, 0.15),  # FlashAttention-2 prefill (Hopper factor: one published row), split-KV decode
    ("semi24", None, 0.25, 0.16),    # cuSPARSELt 2:4, its one sm90 tile (set after both grids were measured)
    ("sdpa_math", None, 0.15, 0.12),  # ATen's math backend kernel by kernel; its casts at CAST_COPY_BANDWIDTH
])
def test_gpu_time_alone_within_the_reported_band(rows, kind, dtype, worst, median):
    """CUDA-graph replay (no host dispatch): the device model's own error, per kernel family."""
    errs = _errors(_select(rows, kind, dtype))
    assert errs
    assert max(abs(e) for e in errs) <= worst, [round(e, 3) for e in errs]
    assert statistics.median(abs(e) for e in errs) <= median


def test_tinygemm_batch_scaling_on_the_untouched_rows(rows):
    """tinygemm's m16 tile loop: M = 64 and 1024 (not calibrated) within 5%; before the per-SM loop term
    the model put M = 1024 at 0.35x the measured time."""
    for r in _select(rows, "int4"):
        if r["m"] in (64, 1024):
            assert r["pred_graph"] / r["measured_graph_s"] == pytest.approx(1.0, abs=0.05)


def test_csr_spmm_at_larger_batch_within_10_percent(rows):
    sel = [r for r in _select(rows, "csr") if r["m"] >= 512]
    assert len(sel) == 3 and max(abs(e) for e in _errors(sel, graph=False)) <= 0.10


def test_sdpa_math_runs_atens_kernels_in_fp32(rows):
    """PyTorch's SDPA math backend upcasts bf16 to fp32 (fp32 GEMMs, 4-byte scores; the profile shows
    ``sm80_xmma_gemm_f32f32`` kernels) and launches ATen's kernels one by one: at decode the profile's three
    converting copies and two scale multiplies are the model's (``sdpa_upcast_*``, ``sdpa_scale_*``). Graph
    time 0.90-1.12x of measured (0.11-0.30x with bf16 GEMMs; 0.46-0.62x with fp32 GEMMs alone; 0.80-0.86x before
    the converting copies ran at ``CAST_COPY_BANDWIDTH``, calibrated on the 32,768-key case's copies)."""
    from accelsim.hw.gpu.families import attention
    from accelsim.hw.registry import load_arch

    sel = _select(rows, "sdpa_math")
    assert all(r["kernel"].endswith("_fp32") for r in sel)
    assert all(0.85 <= r["pred_graph"] / r["measured_graph_s"] <= 1.15 for r in sel)
    assert all(any("f32f32" in k[0] for k in r["gpu_kernels_us"]) for r in sel if r["m"] > 1)
    cfg = load_arch("h200", {"stack": "pytorch-eager"})
    for r in (r for r in sel if r["m"] == 1):
        profiled = {name: sum(k[1] for k in r["gpu_kernels_us"] if name in k[0])
                    for name in ("direct_copy_kernel", "AUnaryFunctor")}
        layer = M.case_layer("sdpa_math", r["m"], r["n"], r["k"], r["dtype"], r["param"]).layer
        parts = attention(cfg, "sdpa-math", layer, 1, "bf16", 16).detail["parts"]
        modelled = {"direct_copy_kernel": sum(p.startswith("sdpa_upcast") for p in parts),
                    "AUnaryFunctor": sum(p.startswith("sdpa_scale") for p in parts)}
        assert profiled == modelled == {"direct_copy_kernel": 3, "AUnaryFunctor": 2}


def _pair(rows, kind, dense_dtype, graph=True):
    """(shape, measured speedup, predicted speedup) of ``kind`` over the dense GEMM of the same shape."""
    assert M.SPEEDUP_BASE[kind] == dense_dtype
    return M.speedups(rows, kind, graph)


@pytest.mark.parametrize("kind, dense_dtype", [("semi24", "fp16"), ("int4", "bf16"), ("fp8", "bf16")])
def test_speedup_directions_on_the_gpu(rows, kind, dense_dtype):
    """Under CUDA graphs: 2:4 slower than dense at M = 1 and 64 and faster from M = 768; tinygemm int4
    faster at batch 1, slower from M = 16; FP8 faster than bf16 except where both are launch-bound."""
    pairs = _pair(rows, kind, dense_dtype)
    assert len(pairs) >= 4
    for shape, measured, predicted in pairs:
        if abs(measured - 1.0) < 0.05:  # a tie on the device: no direction to get right
            continue
        assert (measured > 1.0) == (predicted > 1.0), (shape, round(measured, 2), round(predicted, 2))


def test_attention_direction_flash_over_sdpa_math(rows):
    flash = {(r["m"], r["n"], r["k"]): r for r in rows if r["kind"] == "sdpa_flash"}
    for r in (r for r in rows if r["kind"] == "sdpa_math"):
        f = flash[(r["m"], r["n"], r["k"])]
        assert r["measured_graph_s"] > f["measured_graph_s"] and r["pred_graph"] > f["pred_graph"]


def test_int4_and_2_4_eager_directions_outside_the_known_misses(rows):
    """Eager (host included): tinygemm called as the aten op, 2:4 through the semi-structured tensor."""
    for shape, measured, predicted in _pair(rows, "int4", "bf16", graph=False):
        if abs(measured - 1.0) >= 0.05 and shape[0] > 1:
            assert (measured > 1.0) == (predicted > 1.0), shape
    for shape, measured, predicted in _pair(rows, "semi24", "fp16", graph=False):
        if shape != (3072, 3072, 10240):
            assert (measured > 1.0) == (predicted > 1.0), shape


@pytest.mark.xfail(strict=True, reason="known miss: torch 2.11's _cslt_sparse_mm plans cuSPARSELt on the host at "
                   "every eager call (0.8-1.9 ms self CPU in the profile), the model charges 93 us of tensor-subclass "
                   "dispatch (pytorch/tutorials#3236, an older PyTorch): eager 2:4 predicted faster at 3072x3072x10240")
def test_eager_24_at_3072x3072x10240_slower_than_dense(rows):
    [(_, measured, predicted)] = [p for p in _pair(rows, "semi24", "fp16", graph=False) if p[0] == (3072, 3072, 10240)]
    assert measured < 1.0 and predicted < 1.0


@pytest.mark.xfail(strict=True, reason="known miss: one host cost per eager kernel (32 us); on this machine `x @ w.t()` "
                   "(aten::matmul -> mm) costs 25-30 us of dispatch and the bare aten._weight_int4pack_mm 17 us, so "
                   "int4 batch 1 measured 1.76x faster than bf16 where the model, host-bound on both, predicts a tie")
def test_eager_int4_batch_one_faster_than_bf16(rows):
    [(_, measured, predicted)] = [p for p in _pair(rows, "int4", "bf16", graph=False) if p[0] == (1, 4096, 4096)]
    assert measured > 1.05 and predicted > 1.05


def _llm_benchmark():
    """``benchmarks/gpu_measure_llm.py`` as a module (its ``predict`` runs accelsim on a Hugging Face config)."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        import gpu_measure_llm
    finally:
        sys.path.pop(0)
    return gpu_measure_llm


def test_llama_decode_gpu_time_at_batch_one():
    """Llama-2-7B decode, batch 1: the model's CUDA-graph time against the profiled GPU busy time of a
    transformers eager step (the sum of its kernels' times): within 30%. The step's wall time is host-bound
    (docs/validation.md: transformers launches ~1,460 kernels a step and cuDNN attention plans each new KV
    length on the host), which the pytorch-eager stack's 580 launches at 32 us do not reproduce."""
    gpu_measure_llm = _llm_benchmark()
    config = str(REPO_ROOT / DATA["llm"]["config"])
    for r in DATA["llm"]["rows"]:
        if r["phase"] == "decode" and r["batch"] == 1:
            pred, _ = gpu_measure_llm.predict("h200", config, "decode", 1, r["tokens"], launch="cuda-graph")
            assert pred / r["gpu_busy_s"] == pytest.approx(1.0, abs=0.30), r["tokens"]
    # with a StaticCache (an in-place KV append, as the model assumes) also at batch 64: within 25%
    for v in DATA["llm"]["variants"]:
        if v["phase"] == "decode" and v["cache"] == "static" and v["cudnn_sdpa"]:
            pred, _ = gpu_measure_llm.predict("h200", config, "decode", v["batch"], v["tokens"], launch="cuda-graph")
            assert pred / v["gpu_busy_s"] == pytest.approx(1.0, abs=0.25), (v["batch"], v["tokens"])


def test_transformers_kernel_census():
    """``stack=transformers`` launches what Hugging Face's modules launch (RMSNorm in eight kernels, RoPE in five a
    tensor, the attention output's transpose copy): Llama-2-7B prefill 1,323 kernels predicted against 1,302-1,334
    profiled (the pytorch-eager count is 580), a DynamicCache decode step 1,322-1,354 against 1,334-1,494."""
    gpu_measure_llm = _llm_benchmark()
    config = str(REPO_ROOT / DATA["llm"]["config"])
    for r in DATA["llm"]["rows"]:
        _, info = gpu_measure_llm.predict("h200", config, r["phase"], r["batch"], r["tokens"], launch="cuda-graph",
                                          stack="transformers")
        assert info["kernels"] == pytest.approx(r["kernels"], rel=0.03 if r["phase"] == "prefill" else 0.12), r


def test_transformers_prefill_gpu_time():
    """Llama-2-7B prefill under ``stack=transformers`` (the RMSNorms' fp32 passes and RoPE's five kernels are most
    of the gap pytorch-eager left: 0.71-0.77x): 0.85-1.10x of the profiled GPU busy time, within 20%."""
    gpu_measure_llm = _llm_benchmark()
    config = str(REPO_ROOT / DATA["llm"]["config"])
    for r in (r for r in DATA["llm"]["rows"] if r["phase"] == "prefill"):
        pred, _ = gpu_measure_llm.predict("h200", config, "prefill", r["batch"], r["tokens"], launch="cuda-graph",
                                          stack="transformers")
        assert pred / r["gpu_busy_s"] == pytest.approx(1.0, abs=0.20), (r["batch"], r["tokens"])


def test_transformers_dynamic_cache_decode_gpu_time():
    """The same Llama-2-7B decode steps (a DynamicCache: transformers' default) under ``stack=transformers``,
    whose cache grows by ``torch.cat`` (the whole cache read and written again a layer a step): within 25% of
    the profiled GPU busy time at batch 1, 16 and 64 (0.91-1.23x), where an in-place append (pytorch-eager)
    leaves batch 64 at 0.43-0.50x: at 64 x 512 tokens the copies are 34 GB a step."""
    gpu_measure_llm = _llm_benchmark()
    config = str(REPO_ROOT / DATA["llm"]["config"])
    dynamic = [r for r in DATA["llm"]["rows"] + DATA["llm"]["variants"]
               if r["phase"] == "decode" and r.get("cache", "dynamic") in (None, "dynamic")]
    assert len(dynamic) == 6
    for r in dynamic:
        args = ("h200", config, "decode", r["batch"], r["tokens"])
        concat, _ = gpu_measure_llm.predict(*args, launch="cuda-graph", stack="transformers")
        assert concat / r["gpu_busy_s"] == pytest.approx(1.0, abs=0.25), (r["batch"], r["tokens"])
        if r["batch"] == 64:
            inplace, _ = gpu_measure_llm.predict(*args, launch="cuda-graph")
            assert inplace / r["gpu_busy_s"] < 0.55


CUDNN_PLAN_CALIBRATION = {(1, 128), (16, 512)}  # the DynamicCache decode rows CUDNN_PLAN_HOST_US was set on


def test_cudnn_sdpa_plan_per_call_on_the_held_out_rows():
    """cuDNN's SDPA host time a call (``aten::_cudnn_attention_forward`` over its 32 calls a step) on the two
    DynamicCache decode rows not used to set ``CUDNN_PLAN_HOST_US``: 1,926 and 1,417 us against 1,562 (the
    constant plus the stack's dispatch), within 25%."""
    from accelsim.hw.gpu import families as fam
    from accelsim.hw.gpu.stacks import stack

    per_call = fam.CUDNN_PLAN_HOST_US + stack("transformers").host_us
    held = [r for r in DATA["llm"]["rows"] if r["phase"] == "decode" and (r["batch"], r["tokens"]) not in
            CUDNN_PLAN_CALIBRATION]
    assert len(held) == 2
    for r in held:
        measured = dict((h[0], h[2]) for h in r["host_top_us"])["aten::_cudnn_attention_forward"] / 32
        assert per_call / measured == pytest.approx(1.0, abs=0.25), (r["batch"], r["tokens"], measured)


def test_transformers_eager_decode_wall_with_cudnn_planning():
    """The eager wall time of a transformers DynamicCache decode step with cuDNN's SDPA (PyTorch's choice on the
    H200): the host plans a graph for every new KV length, 32 calls a step. Under ``stack=transformers`` the four
    Llama-2-7B rows read 0.90-1.21x of measured (the held-out two 0.90x and 1.21x); without the planning (the
    flash-decoding kernel, as with cuDNN's SDPA switched off) 0.42-0.56x."""
    gpu_measure_llm = _llm_benchmark()
    config = str(REPO_ROOT / DATA["llm"]["config"])
    rows = [r for r in DATA["llm"]["rows"] if r["phase"] == "decode"]
    assert len(rows) == 4
    for r in rows:
        args = ("h200", config, "decode", r["batch"], r["tokens"])
        eager, _ = gpu_measure_llm.predict(*args, stack="transformers")
        assert eager / r["measured_s"] == pytest.approx(1.0, abs=0.25), (r["batch"], r["tokens"])
        unplanned, _ = gpu_measure_llm.predict(*args, stack="transformers", attention="flashdecoding")
        assert unplanned / r["measured_s"] < 0.6


@pytest.mark.parametrize("kind, dtype, worst", [
    ("int4", None, 0.06),     # tinygemm at N / K = 11008, 14336, group 32 / 256, M = 16-512: the per-SM loop term
    ("dense", "bf16", 0.40),
    ("dense", "fp16", 0.40),
    ("dense", "fp32", 0.45),  # gemmSN at M <= 4, split-K SGEMM beyond
    ("semi24", None, 0.20),   # cuSPARSELt's one sm90 segment-K tile, flat in M (not held out: see the module doc)
])
def test_held_out_shapes_within_the_band(wide, kind, dtype, worst):
    errs = _errors(_select(wide, kind, dtype, untouched=False))
    assert errs and max(abs(e) for e in errs) <= worst, [round(e, 3) for e in errs]


@pytest.mark.parametrize("kind, dense_dtype", [("semi24", "fp16"), ("int4", "bf16")])
def test_held_out_speedup_directions(wide, kind, dense_dtype):
    """2:4 slower than dense up to M = 512 at 4096 x 4096, faster at 1536 and at 256 x 11008 x 4096 (before
    the sm90 cuSPARSELt kernel, M = 256 was predicted 1.04x against 0.62x measured); tinygemm slower than
    bf16 from M = 16 at every shape."""
    pairs = _pair(wide, kind, dense_dtype)
    assert len(pairs) >= 6
    for shape, measured, predicted in pairs:
        if abs(measured - 1.0) >= 0.05:
            assert (measured > 1.0) == (predicted > 1.0), (shape, round(measured, 2), round(predicted, 2))


def _decode_busy_ratios(rows):
    gpu_measure_llm = _llm_benchmark()
    out = []
    for r in rows:
        if r["phase"] == "decode":
            pred, _ = gpu_measure_llm.predict("h200", str(REPO_ROOT / r["config"]), "decode", r["batch"], r["tokens"],
                                              launch="cuda-graph")
            copies = sum(t for name, _, t in r["gpu_kernels_us"] if "direct_copy_kernel" in name) * 1e-6
            out.append((r["config"], r["batch"], pred / r["gpu_busy_s"], pred / (r["gpu_busy_s"] - copies)))
    return out


def test_gqa_decode_gpu_time_without_transformers_repeat_kv():
    """Mistral-7B and Qwen2-7B (grouped KV heads; held out): with the profiled copy kernels of transformers'
    ``repeat_kv`` taken out of the GPU-busy time, the model's CUDA-graph decode is within 30% at batch 1, as
    Llama's, and within 35% at batch 16, where the busy time also holds cuDNN's attention over the repeated heads
    (2.0-2.5 ms profiled, about four times the grouped-head work the default stack costs) and the model's
    projections run cuBLASLt's split-K kernels as profiled (0.74-0.76x before split-K, 0.67-0.68x with it; the
    faithful comparison is ``stack=transformers``, next test)."""
    for config, batch, _, without_copies in _decode_busy_ratios(DATA["llm"]["other_models"]):
        assert without_copies == pytest.approx(1.0, abs=0.30 if batch == 1 else 0.35), (config, batch)


def _transformers_static_ratios(rows):
    gpu_measure_llm = _llm_benchmark()
    return [(r["config"], r["batch"], gpu_measure_llm.predict("h200", str(REPO_ROOT / r["config"]), "decode", r["batch"],
                                                             r["tokens"], launch="cuda-graph", stack="transformers",
                                                             kv_cache="inplace")[0] / r["gpu_busy_s"])
            for r in rows if r["phase"] == "decode"]


def test_gqa_decode_gpu_time_with_transformers_repeat_kv():
    """``stack=transformers`` copies grouped K / V to every query head (repeat_kv, an expand + reshape: ATen's
    strided copy at ``STRIDED_COPY_BANDWIDTH``, calibrated on Mistral-7B's batch-16 copies): Mistral-7B and
    Qwen2-7B decode (StaticCache) 0.68-0.70x -> 1.09-1.13x at batch 1 and 0.34-0.37x -> 1.04-1.11x at batch 16
    (0.37-0.42x -> 1.05-1.08x before the projections ran cuBLASLt's split-K)
    of the GPU-busy time (with the stack's op-by-op RMSNorm and RoPE, and the attention kernel run over the
    copies at every query head); the three rows other than the calibration one within 20%."""
    base = {(c, b): r for c, b, r, _ in _decode_busy_ratios(DATA["llm"]["other_models"])}
    for config, batch, ratio in _transformers_static_ratios(DATA["llm"]["other_models"]):
        assert ratio > base[(config, batch)] + 0.10, (config, batch)
        if not (config.endswith("mistral-7b-v0.1.json") and batch == 16):
            assert ratio == pytest.approx(1.0, abs=0.20), (config, batch)

