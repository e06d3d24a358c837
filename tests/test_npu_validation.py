"""NPU validation on measured TPU v4 fusion times (accelsim/hw/npu/validation.py, docs/models/npu.md §9):
the fixed halves, the calibrated constants, the held-out goal; and the LLM ops the NPU costs (fused
attention, KV-cache formats, RoPE, MoE routing) and the matrix unit's systolic sections."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from accelsim.checks import Check
from accelsim.compress.compressed import CompressedLayer
from accelsim.errors import ConfigError
from accelsim.hw.npu import tpu_v4_measured as measured
from accelsim.hw.npu import validation as V
from accelsim.hw.npu.config import systolic_config
from accelsim.hw.registry import build_model, load_arch
from accelsim.workload.layers import Attention, KVAppend, MatMul, MoeCombine, Rope

V5E = "tpu-v5e"


@pytest.fixture(scope="module")
def points():
    return V.tpu_points()


def test_measured_rows_match_the_artifact():
    sizes = {name: len(measured.gemm_rows(name)) for name in measured.GEMM_SETS}
    # 343 + 512 + 343 shapes in the three files; 128^3 and 1024^3 were measured twice and are kept once
    assert sizes == {"gemm-small": 343, "gemm-medium": 511, "gemm-large": 342}
    rows = {(m, n, k): us for name in measured.GEMM_SETS for m, n, k, us in measured.gemm_rows(name)}
    assert rows[(1024, 1024, 1024)] == pytest.approx(43.86699545, rel=1e-5)   # fusion_statistics_report_1024.csv
    assert rows[(1024, 1024, 1536)] == pytest.approx(45.5560357, rel=1e-5)    # fusion_statistics_report_4096.csv
    elt = {(op, shape): us for op, shape, us in measured.eltwise_rows()}
    assert len(elt) == 384 and elt[("mul", (1024, 1024))] == pytest.approx(19.46991, rel=1e-5)
    act = {(op, shape): us for op, shape, us in measured.eltwise_rows(measured.ACTIVATIONS)}
    assert len(act) == 384 and act[("relu", (1024, 1024))] == pytest.approx(11.753134, rel=1e-5)


def test_halves_are_fixed_by_shape_balanced_and_disjoint(points):
    counts = Counter((p["set"], p["half"]) for p in points)
    assert counts[("activation-1d", "held-out")] == counts[("activation-2d", "held-out")] == 192
    assert not counts[("activation-1d", "calibration")] and not counts[("activation-2d", "calibration")]
    for name in [*measured.GEMM_SETS, "eltwise-1d", "eltwise-2d"]:
        cal, held = counts[(name, "calibration")], counts[(name, "held-out")]
        assert cal > 0 and held > 0 and abs(cal - held) <= 1, name
        for half in ("calibration", "held-out"):     # every half spans the set's smallest and largest sizes
            sizes = [math.prod(p["shape"]) for p in points if p["set"] == name and p["half"] == half]
            all_sizes = [math.prod(p["shape"]) for p in points if p["set"] == name]
            assert min(sizes) <= 2 * min(all_sizes) and max(sizes) >= max(all_sizes) / 2, (name, half)
    keys = Counter((p["set"], p["kind"], p["shape"]) for p in points)
    assert max(keys.values()) == 1
    assert V.tpu_points() == points                   # deterministic


def test_calibrated_constants_are_the_configs():
    cfg = load_arch(V.TPU_ARCH)
    assert cfg.vector.op_overhead_cycles == V.CALIBRATED["vector.op_overhead_cycles"]
    assert cfg.matrix.efficiency == V.CALIBRATED["matrix.efficiency"]
    assert "[calibrated]" in cfg.sources["vector.op_overhead_cycles"]
    assert "[calibrated]" in cfg.sources["matrix.efficiency"]


def test_calibration_is_a_local_optimum_of_the_calibration_half(points):
    cal = [p for p in points if p["half"] == "calibration"]
    best = (V.CALIBRATED["vector.op_overhead_cycles"], V.CALIBRATED["matrix.efficiency"], V.F16_CONVERT_OPS)
    at = V.calibration_loss(best, cal)
    for i, step in enumerate((150, 0.08, 5.0)):
        for sign in (-1, 1):
            moved = list(best)
            moved[i] += sign * step
            assert V.calibration_loss(moved, cal) > at, (i, sign)
    uncalibrated = V.calibration_loss((300, 1.0, 0.0), cal)
    assert at < 0.1 < uncalibrated


def test_held_out_half_meets_the_goal():
    checks = V.tpu_checks()
    held = [c for c in checks if c.item.startswith("[held-out half]")]
    assert len(held) == 18 and all(isinstance(c, Check) for c in held)
    for c in held:
        assert c.kind in ("asserted", "pass/fail"), c.item
        program = any(s in c.item for s in V.PROGRAM_SETS)
        # single fusions meet the goal; the normalisation programs are a recorded miss (docs/validation.md)
        assert (c.known is not None) == program, c.item
        assert c.ok or program, c.item
    assert all(c.kind == "reported" for c in checks if c.item.startswith("[calibration half]"))


def test_normalisation_programs_split_reductions_and_halves():
    """The whole-program set is never calibrated on, its halves are fixed by shape, and the split
    reductions mechanism (fusion.split_reductions) brings the held-out summed error from about -53% /
    -31% to within 25% (docs/validation.md, NPU): checked on the held-out half without refitting."""
    pts = V.program_points()
    assert len(pts) == 256 and {p["set"] for p in pts} == set(V.PROGRAM_SETS)
    assert not {p["set"] for p in V.tpu_points()} & set(V.PROGRAM_SETS)
    held = [p for p in pts if p["half"] == "held-out"]
    assert 100 <= len(held) <= 156

    def summed(overrides):
        errs = V.tpu_errors(overrides, points=held)
        out = {}
        for name in V.PROGRAM_SETS:
            rows = [(p, e) for p, e in errs if p["set"] == name]
            out[name] = sum(p["us"] * (1 + e) for p, e in rows) / sum(p["us"] for p, _ in rows) - 1
        return out

    split, single = summed(None), summed({"fusion.split_reductions": False})
    for name in V.PROGRAM_SETS:
        assert single[name] < -0.25, (name, single[name])
        assert abs(split[name]) < 0.25 and abs(split[name]) < abs(single[name]), (name, split[name])


def test_f16_conversions_are_costed_only_in_the_harness():
    model = V.tpu_model()
    point = {"set": "eltwise-2d", "kind": "mul", "shape": (1024, 1024)}
    assert V.predict_us(model, point) > V.predict_us(model, point, f16_convert_ops=0.0)
    assert load_arch(V.TPU_ARCH).vector.ops_per_lane.convert == 2


# --- the matrix unit's systolic sections ---------------------------------------------------------------------
def test_matrix_unit_reuses_the_systolic_sections_and_rules():
    cfg = load_arch(V5E)
    sysc = systolic_config(cfg)
    assert sysc.array is cfg.matrix.array and sysc.pe is cfg.matrix.pe and sysc.sparsity is cfg.matrix.sparsity
    assert (cfg.matrix.rows, cfg.matrix.cols, cfg.matrix.bits) == (128, 128, 16)
    with pytest.raises(ConfigError) as exc:
        load_arch(V5E, {"matrix.sparsity.nm": [4, 2]})
    assert "matrix.sparsity.nm" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(ConfigError) as exc:           # the old flat key is refused, naming the new place
        load_arch(V5E, {"matrix.rows": 64})
    assert "matrix.rows" in str(exc.value)
    with pytest.raises(ConfigError) as exc:           # the scratchpad holds whole-byte words
        load_arch(V5E, {"matrix.pe.bits": 4, "matrix.pe.precision_modes": [4]})
    assert "matrix.pe.bits" in str(exc.value)
    nm = build_model(load_arch(V5E, {"matrix.sparsity.nm": [2, 4]}))
    assert nm.mxu.config.sparsity.nm == [2, 4]


def test_efficiency_divides_the_matrix_cycles():
    from accelsim.workload.layers import Linear

    cl = CompressedLayer.dense(Linear(name="f", input_shapes=((4096, 4096),), out_features=4096))
    full = build_model(load_arch(V5E, {"matrix.efficiency": 1.0})).simulate(cl, 1)
    half = build_model(load_arch(V5E, {"matrix.efficiency": 0.5})).simulate(cl, 1)
    assert half.extra["unit_cycles"]["matrix"] == pytest.approx(2 * full.extra["unit_cycles"]["matrix"], abs=2)


# --- LLM ops on the NPU -------------------------------------------------------------------------------------------
def _attention(kv_bits=0.0):
    return Attention(name="att", input_shapes=((1, 32 * 128), (2048, 32 * 128), (2048, 32 * 128)), heads=32,
                     kv_heads=32, causal=True, kv_bits=kv_bits)


def test_fused_attention_reads_q_k_v_writes_its_output_and_runs_the_softmax():
    model = build_model(load_arch(V5E))
    r = model.simulate(CompressedLayer.dense(_attention()), 1)
    assert r.extra["on_matrix_unit"]
    assert r.dram_read_bytes == (1 + 2 * 2048) * 4096 * 2     # q, then the K and V caches at bf16
    assert r.dram_write_bytes == 4096 * 2                       # the context rows; scores stay on chip
    assert r.extra["vector_ops"]["exp"] == 32 * 2048            # one exp per visible score


def test_kv_cache_format_sets_the_cache_traffic_and_its_dequantization():
    model = build_model(load_arch(V5E))
    bf16 = model.simulate(CompressedLayer.dense(_attention()), 1)
    int8 = model.simulate(CompressedLayer.dense(_attention(kv_bits=8.5)), 1)
    cache = 2 * 2048 * 4096
    assert int8.dram_read_bytes == pytest.approx(4096 * 2 + cache * 8.5 / 8, abs=1)
    assert int8.extra["vector_ops"]["convert"] == cache and "convert" not in bf16.extra["vector_ops"]
    mm = MatMul(name="qk", input_shapes=((32, 1, 128), (32, 128, 2048)), kv_bits=4.25)
    r = model.simulate(CompressedLayer.dense(mm), 1)
    assert r.dram_read_bytes == pytest.approx(32 * 128 * 2 + 32 * 128 * 2048 * 4.25 / 8, abs=1)


def test_kv_append_writes_at_the_cache_bits_and_quantizes():
    model = build_model(load_arch(V5E))
    rows = ((1, 4096),)
    dense = model.simulate(CompressedLayer.dense(KVAppend(name="k", input_shapes=rows, cache_tokens=2048)), 1)
    int8 = model.simulate(CompressedLayer.dense(KVAppend(name="k", input_shapes=rows, cache_tokens=2048, kv_bits=8)), 1)
    assert dense.dram_write_bytes == 4096 * 2 and int8.dram_write_bytes == 4096
    assert int8.extra["vector_ops"]["convert"] == 4096 and "convert" not in dense.extra["vector_ops"]
    assert dense.cycles > 0 and dense.energy_j > 0


def test_rope_costs_the_rotated_features_only():
    model = build_model(load_arch(V5E))
    full = model.simulate(CompressedLayer.dense(Rope(name="r", input_shapes=((1, 16 * 256),), heads=16, head_dim=256)), 1)
    part = model.simulate(CompressedLayer.dense(Rope(name="r", input_shapes=((1, 16 * 256),), heads=16, head_dim=256,
                                                     rotary_dim=64)), 1)
    assert full.extra["vector_ops"]["mul"] == 16 * 256 and part.extra["vector_ops"]["mul"] == 16 * 64


def test_moe_combine_costs_one_fma_per_routed_element():
    model = build_model(load_arch(V5E))
    layer = MoeCombine(name="c", input_shapes=((4, 8, 512), (4, 8, 512)), tokens=16)
    r = model.simulate(CompressedLayer.dense(layer), 1)
    assert r.extra["vector_ops"] == {"fma": 2 * 4 * 8 * 512}


def test_llama2_7b_decode_step_costs_every_layer():
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.workload.hf import load_hf

    graph = load_hf("tests/data/hf/llama-2-7b.json", phase="decode", context=2048)
    model = build_model(load_arch(V5E))
    results = [model.simulate(cl, 1) for cl in CompressedGraph.dense(graph)]
    ops = Counter(r.op for r in results)
    assert ops["rope"] == 64 and ops["kv_append"] == 64
    assert all(r.cycles > 0 and r.energy_j > 0 and r.extra.get("mapped", True) for r in results)
    total = sum(r.latency_s for r in results)
    share = sum(r.latency_s for r in results if r.op in ("rope", "kv_append")) / total
    assert 0 < share < 0.05                              # decode is weight-stream bound (docs/models/npu.md §7)


# --- Coral Edge TPU whole networks (validation.edge_*; docs/models/npu.md §4.4, §9) -----------------------

def test_edge_tpu_halves_are_fixed_by_parameter_bytes():
    halves = V.edge_halves()
    assert halves == {"squeezenet1.1": "calibration", "mobilenet-v2": "held-out", "mobilenet-v1": "calibration",
                      "googlenet": "held-out", "resnet50?image=299": "calibration", "vgg16": "held-out"}
    points = V.edge_points()
    assert len(points) == 12 and Counter(p["half"] for p in points) == {"calibration": 6, "held-out": 6}
    # both halves hold a network whose parameters all fit the cache and one that streams most of them
    model = V.edge_model("edge-tpu")
    for half in ("calibration", "held-out"):
        streamed = [model.plan_network(V._edge_graph(w), 1).cached_bytes < V.edge_parameter_bytes(w)
                    for w, h in halves.items() if h == half]
        assert any(streamed) and not all(streamed), half


def test_edge_tpu_measurements_are_coral_table_1():
    rows = {w: (usb, board) for w, _, usb, board in V.EDGE_NETWORKS}
    assert rows["mobilenet-v1"] == (2.4, 2.4) and rows["googlenet"] == (3.4, 4.1)
    assert rows["resnet50?image=299"] == (49.0, 56.0) and rows["vgg16"] == (296.0, 343.0)


def test_edge_tpu_calibrated_constants_are_the_configs_and_the_fit():
    for arch, constants in V.EDGE_CALIBRATED.items():
        cfg = load_arch(arch)
        assert cfg.dram.invoke_overhead_us == constants["dram.invoke_overhead_us"]
        assert cfg.dram.efficiency == constants["dram.efficiency"]
        assert "[calibrated]" in cfg.sources["dram.efficiency"] and "[calibrated]" in cfg.sources["dram.invoke_overhead_us"]
        eff = constants["dram.efficiency"]
        fitted = V.edge_fit(arch, efficiencies=[round(eff - 0.01, 2), eff, round(eff + 0.01, 2)])
        assert fitted == (constants["dram.invoke_overhead_us"], eff)
        at = V.edge_loss(arch, *fitted)
        assert at < V.edge_loss(arch, fitted[0] + 200, eff) and at < V.edge_loss(arch, fitted[0] - 200, eff)


def test_edge_tpu_held_out_half_meets_the_goal_or_is_a_known_miss():
    checks = [c for c in V.edge_checks() if "held-out" in c.item]
    assert len(checks) == 6
    for c in checks:
        err = c.predicted / c.reference - 1
        if "Inception v1" in c.item:
            assert c.known and abs(err) > V.TOLERANCE         # recorded miss, with its mechanism
        else:
            assert c.known is None and abs(err) <= V.TOLERANCE, c.item
    for c in V.edge_checks():
        if "calibration" in c.item:
            assert c.rel_tol is None and abs(c.predicted / c.reference - 1) <= 0.05, c.item


def test_parameter_cache_plan_and_link_traffic():
    model = V.edge_model("edge-tpu")
    small, big = V._edge_graph("mobilenet-v1"), V._edge_graph("vgg16")
    plan = model.plan_network(small, 1)
    assert plan.cached_bytes == pytest.approx(V.edge_parameter_bytes("mobilenet-v1"), rel=0.02)
    results = model.simulate_network(small, 1)
    link = sum(r.dram_read_bytes + r.dram_write_bytes for r in results)
    assert link == 224 * 224 * 3 + 1000                                  # the input image and the logits only
    assert results[0].extra["invoke_cycles"] == 1390 * 500 and sum(r.extra["invoke_cycles"] for r in results[1:]) == 0
    plan = model.plan_network(big, 1)
    # the budget is 8 MiB less the largest activation tensor (224 x 224 x 64 int8), within the 7.88 MiB cache
    assert plan.budget_bytes == 8 * 1024 * 1024 - 224 * 224 * 64
    assert plan.cached_bytes <= plan.budget_bytes < V.edge_parameter_bytes("vgg16")
    streamed = sum(r.dram_read_bytes for r in model.simulate_network(big, 1) if r.extra.get("parameters") == "streamed")
    assert streamed >= V.edge_parameter_bytes("vgg16") - plan.cached_bytes
    # no parameter cache: every layer streams its parameters (the behaviour of the other configs)
    off = V.edge_model("edge-tpu", {"scratchpad.parameter_cache_kb": 0})
    assert off.plan_network(small, 1).cached_bytes == 0
    assert sum(r.latency_s for r in off.simulate_network(small, 1)) > 3 * sum(r.latency_s for r in results)
    # one layer simulated alone: its own network (cached when it fits), no per-inference overhead
    single = model.simulate(list(small)[0], 1)
    assert single.extra["invoke_cycles"] == 0


def test_parameter_cache_larger_than_the_scratchpad_is_one_line_error():
    with pytest.raises(ConfigError, match="parameter_cache_kb"):
        load_arch("edge-tpu", {"scratchpad.parameter_cache_kb": 9000})


def test_edge_tpu_dense_graph_is_the_full_integer_recipe():
    from accelsim.simulate import compress_workload
    from accelsim.workload.zoo import load_workload

    model = V.edge_model("edge-tpu")
    recipe = compress_workload(load_workload("mobilenet-v1"), "w8a8-int8")
    dense = sum(r.latency_s for r in model.simulate_network(V._edge_graph("mobilenet-v1"), 1))
    assert sum(r.latency_s for r in model.simulate_network(recipe, 1)) == pytest.approx(dense, rel=0.005)


def test_float16_conversions_overlapped_with_the_dma_fit_worse(points):
    """The tested alternative of the harness (docs/models/npu.md §9): conversions overlapped with the fusion's DMA
    (max per fusion), refitted on the calibration half, fit that half worse than the kept serial form, and do not
    bring the normalisation programs within 15 %."""
    cal = [p for p in points if p["half"] == "calibration"]
    kept = (V.CALIBRATED["vector.op_overhead_cycles"], V.CALIBRATED["matrix.efficiency"], V.F16_CONVERT_OPS)
    assert V.F16_OVERLAP is False
    overlap = V.calibration_loss(V.F16_OVERLAP_FIT, cal, overlap=True)
    assert V.calibration_loss(kept, cal) < 0.07 < 0.1 < overlap
    for i, step in enumerate((60, 0.04, 3.0)):               # the recorded overlap fit is its own local optimum
        for sign in (-1, 1):
            moved = list(V.F16_OVERLAP_FIT)
            moved[i] += sign * step
            assert V.calibration_loss(moved, cal, overlap=True) > overlap, (i, sign)
    o, eff, conv = V.F16_OVERLAP_FIT
    errs = V.tpu_errors({"vector.op_overhead_cycles": o, "matrix.efficiency": eff}, conv, "held-out",
                        V.program_points(), overlap=True)
    for name in V.PROGRAM_SETS:
        rows = [(p, e) for p, e in errs if p["set"] == name]
        summed = sum(p["us"] * (1 + e) for p, e in rows) / sum(p["us"] for p, _ in rows) - 1
        assert summed > V.TOLERANCE, name


def test_edge_tpu_compiled_plans_against_the_model():
    """The compiler's plans of two benchmark networks (Coral's compiled models): MobileNet v1 streams nothing (the
    model agrees); Inception v1 streams 393,664 B at every inference where the model caches everything - the
    recorded miss - and those bytes over the link put the model within 15 % on both hosts (a diagnostic)."""
    assert V.EDGE_COMPILED["googlenet"]["streamed"] == 393_664
    checks = {c.item: c for c in V.edge_plan_checks()}
    assert all(c.rel_tol is None and c.ok_override is None for c in checks.values())   # reported only
    streamed = {k: c for k, c in checks.items() if "streamed at every inference" in k}
    mobilenet = next(c for k, c in streamed.items() if "MobileNet v1" in k)
    inception = next(c for k, c in streamed.items() if "Inception v1" in k)
    assert mobilenet.reference == mobilenet.predicted == 0
    assert inception.reference == 393_664 and inception.predicted == 0
    for c in checks.values():
        if "cached on chip" in c.item:
            assert abs(c.rel_error) < 0.07, c.item                # the compiled layout is within 6 % of int8 weights
    diag = [c for k, c in checks.items() if "diagnostic" in k]
    assert len(diag) == 2 and all(abs(c.rel_error) <= V.TOLERANCE for c in diag)
    # the two configs share one plan (same SRAM, same budget)
    g = V._edge_graph("googlenet")
    assert V.edge_model("edge-tpu").plan_network(g, 1) == V.edge_model("edge-tpu-usb").plan_network(g, 1)
