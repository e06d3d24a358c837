"""The NPU family (docs/models/npu.md): every layer costed, matrix cycles from the systolic model,
unit-bound labels, scratchpad spills, quantization, config checks, registration."""

from __future__ import annotations

import math

import pytest

import accelsim
from accelsim.compress.compressed import CompressedLayer
from accelsim.errors import ConfigError
from accelsim.hw.npu import NpuConfig, NpuModel
from accelsim.hw.npu.model import systolic_config
from accelsim.hw.npu.vector import GENERIC_OPS, layer_work
from accelsim.hw.registry import arch_names, build_model, family, family_names, load_arch
from accelsim.hw.systolic import SystolicModel
from accelsim.workload.layers import Activation, Layer, LayerNorm, Linear, MatMul, Softmax

V5E = "tpu-v5e"


@pytest.fixture(scope="module")
def bert():
    return accelsim.simulate(V5E, "bert-base", dense_baseline=False)


@pytest.fixture(scope="module")
def bert_int8():
    return accelsim.simulate(V5E, "bert-base", recipe="int8", dense_baseline=False)


def _vector_share(result) -> float:
    total = sum(r.latency_s for r in result.layers)
    return sum(r.latency_s for r in result.layers if not r.extra["on_matrix_unit"]) / total


def test_family_registers_with_its_configs():
    assert "npu" in family_names()
    fam = family("npu")
    assert fam.config_cls is NpuConfig and fam.model_cls is NpuModel
    for arch in ("tpu-v5e", "tpu-v4", "gemmini-edge"):
        assert arch in arch_names()
        assert load_arch(arch).family == "npu"


@pytest.mark.parametrize("workload", ["bert-base", "llama2-7b-decoder"])
def test_every_layer_is_costed_on_v5e(workload, bert):
    result = bert if workload == "bert-base" else accelsim.simulate(V5E, workload, dense_baseline=False)
    assert len(result.layers) > 0
    for r in result.layers:
        assert r.extra.get("mapped", True) is not False, r.name
        assert r.cycles > 0 and r.latency_s > 0 and r.energy_j > 0, r.name
        assert r.extra["bound"] in ("matrix", "vector", "memory"), r.name
        if r.op in ("linear", "matmul"):
            assert r.extra["on_matrix_unit"] and r.macs > 0
        else:
            assert not r.extra["on_matrix_unit"] and r.macs == 0


def test_matrix_cycles_equal_the_systolic_model_for_one_unit():
    cfg = load_arch(V5E, {"matrix.count": 1, "matrix.fold_pipelining": False, "matrix.efficiency": 1.0,
                          "vector.op_overhead_cycles": 0})
    npu = build_model(cfg)
    sysm = SystolicModel(systolic_config(cfg))
    for layer in (Linear(name="fc", input_shapes=((128, 768),), out_features=3072),
                  MatMul(name="qk", input_shapes=((12, 128, 64), (12, 64, 128)))):
        cl = CompressedLayer.dense(layer)
        ref = sysm.simulate(cl, 1)
        got = npu.simulate(cl, 1)
        assert got.extra["unit_cycles"]["matrix"] == ref.cycles
        assert got.macs == ref.macs
        assert got.cycles >= ref.cycles


def test_a_systolic_array_with_a_vector_unit_keeps_its_matrix_cycles():
    """examples/npu-scalesim-32x32-os-vector.yaml: scalesim-32x32-os as one matrix unit beside a vector unit
    (docs/models/npu.md §6.1). Its array layers cost the systolic config's cycles exactly, layer by layer; the
    layers the systolic config gives zero (batch norm, ReLU, pooling, residual adds) now cost cycles and energy."""
    from pathlib import Path

    from accelsim.workload.zoo import load_workload

    example = Path(__file__).resolve().parent.parent / "examples" / "npu-scalesim-32x32-os-vector.yaml"
    npu = build_model(load_arch(str(example)))
    systolic = build_model(load_arch("scalesim-32x32-os"))
    on_array = off_array = 0
    for layer in load_workload("resnet18").layers:
        cl = CompressedLayer.dense(layer)
        got, ref = npu.simulate(cl, 1), systolic.simulate(cl, 1)
        assert got.cycles > 0 and got.energy_j > 0, layer.name
        if ref.cycles:
            on_array += 1
            assert got.extra["unit_cycles"]["matrix"] == ref.cycles, layer.name
            assert got.macs == ref.macs
        else:
            off_array += 1
            assert not got.extra["on_matrix_unit"] and ref.energy_j == 0, layer.name
    assert on_array == 21 and off_array > 0


def test_matrix_units_share_the_folds():
    layer = Linear(name="fc", input_shapes=((128, 768),), out_features=3072)
    cl = CompressedLayer.dense(layer)
    plain = {"matrix.fold_pipelining": False, "matrix.efficiency": 1.0}
    one = build_model(load_arch(V5E, {**plain, "matrix.count": 1})).simulate(cl, 1)
    four = build_model(load_arch(V5E, plain)).simulate(cl, 1)
    folds = one.extra["folds"]
    expect = math.ceil(one.extra["unit_cycles"]["matrix"] * math.ceil(folds / 4) / folds)
    assert four.extra["unit_cycles"]["matrix"] == expect


def test_unit_bound_labels():
    model = build_model(load_arch(V5E))
    # decode GEMV: 4096 x 4096 bf16 weights for one token -> DRAM bound
    gemv = model.simulate(CompressedLayer.dense(Linear(name="q", input_shapes=((1, 4096),), out_features=4096)), 1)
    assert gemv.extra["bound"] == "memory"
    # a large GEMM with weights reused by 8192 tokens -> matrix bound
    gemm = model.simulate(CompressedLayer.dense(Linear(name="f", input_shapes=((8192, 4096),), out_features=4096)), 1)
    assert gemm.extra["bound"] == "matrix"
    # a fused-attention softmax (no DRAM traffic, exp-heavy) -> vector bound
    sm = model.simulate(CompressedLayer.dense(Softmax(name="s", input_shapes=((32, 512, 512),))), 1)
    assert sm.extra["bound"] == "vector" and sm.dram_read_bytes == 0
    # a layer norm read from and written to HBM -> memory bound
    ln = model.simulate(CompressedLayer.dense(LayerNorm(name="n", input_shapes=((128, 768),))), 1)
    assert ln.extra["bound"] == "memory"
    # split reductions (tpu-v5e): the mean and the variance each stream the input, then the normalising fusion
    assert ln.dram_read_bytes == 3 * 128 * 768 * 2 and ln.dram_write_bytes == 128 * 768 * 2
    assert ln.extra["fusions"] == 5 and ln.extra["spill_bytes"] == 2 * 128 * 768 * 2


def test_split_reductions_pass_count_and_cost():
    """fusion.split_reductions (docs/models/npu.md §4.2): one streaming fusion and one per-row fusion per
    sequential reduction; off, a normalisation is one fusion reading its input once; fused-attention
    softmax never splits."""
    from dataclasses import replace

    cfg = load_arch(V5E)
    on = build_model(cfg)
    off = build_model(replace(cfg, fusion=replace(cfg.fusion, split_reductions=False)))
    rms = CompressedLayer.dense(LayerNorm(name="r", input_shapes=((512, 4096),), rms=True))
    a, b = on.simulate(rms, 1), off.simulate(rms, 1)
    assert (a.extra["fusions"], b.extra["fusions"]) == (3, 1)
    assert a.dram_read_bytes == 2 * b.dram_read_bytes == 2 * 512 * 4096 * 2
    o, lat = cfg.vector.op_overhead_cycles, math.ceil(cfg.dram.latency_ns * 1e-9 * cfg.clock_hz)
    # the second stream and its DMA, one more exposed latency, two more fusion overheads
    assert a.cycles - b.cycles >= 2 * o + lat
    sm = CompressedLayer.dense(Softmax(name="s", input_shapes=((32, 512, 512),)))
    assert on.simulate(sm, 1).extra["fusions"] == 1


def test_scratchpad_spill_when_operands_do_not_fit():
    layer = Linear(name="fc", input_shapes=((2048, 1024),), out_features=4096)
    cl = CompressedLayer.dense(layer)
    big = build_model(load_arch(V5E)).simulate(cl, 1)
    small = build_model(load_arch(V5E, {"scratchpad.capacity_kb": 1536})).simulate(cl, 1)
    compulsory = 2048 * 1024 * 2 + 1024 * 4096 * 2
    assert big.extra["spill_bytes"] == 0
    assert big.dram_read_bytes == compulsory
    assert small.extra["spill_bytes"] > 0
    assert small.dram_read_bytes > compulsory


def test_resident_tensors_share_the_activation_space():
    # A (64 x 1024) 128 KiB, B (1024 x 4096) 8 MiB, out (64 x 4096) 512 KiB in bf16: each fits an 8.5 MiB
    # share alone, all three do not, so the largest (B) is read from DRAM; with a 9 MiB share none is
    mm = CompressedLayer.dense(MatMul(name="mm", input_shapes=((64, 1024), (1024, 4096))))

    def run(kb):
        over = {"fusion.resident_activations": True, "fusion.attention": False,
                "scratchpad.capacity_kb": kb, "scratchpad.activation_fraction": 1.0}
        return build_model(load_arch(V5E, over)).simulate(mm, 1)

    tight, roomy = run(8704), run(9216)
    assert (tight.dram_read_bytes, tight.dram_write_bytes) == (1024 * 4096 * 2, 0)
    assert (roomy.dram_read_bytes, roomy.dram_write_bytes) == (0, 0)


def test_two_pass_reduction_spills_a_row_too_large_for_the_scratchpad():
    cfg = load_arch(V5E, {"scratchpad.capacity_kb": 96, "matrix.array.rows": 8, "matrix.array.cols": 8,
                          "fusion.split_reductions": False})   # split reductions stream the input anyway
    model = build_model(cfg)
    ln = model.simulate(CompressedLayer.dense(LayerNorm(name="n", input_shapes=((4, 65536),))), 1)
    assert ln.extra["spill_bytes"] == 4 * 65536 * 2
    assert ln.dram_read_bytes == 2 * 4 * 65536 * 2


def test_quantized_vector_share_grows(bert, bert_int8):
    dense, quant = _vector_share(bert), _vector_share(bert_int8)
    assert quant > dense
    assert 0.11 <= dense <= 0.74  # the NonGEMM Bench range
    total = sum(r.latency_s for r in bert.layers)
    assert sum(r.latency_s for r in bert_int8.layers) < total
    # requantize epilogues appear on the quantized matrix layers
    q = next(r for r in bert_int8.layers if r.name == "encoder.0.ffn1")
    d = next(r for r in bert.layers if r.name == "encoder.0.ffn1")
    assert q.extra["vector_ops"]["convert"] > 0 and "convert" not in d.extra["vector_ops"]
    assert q.extra["pack"] == 2 and d.extra["pack"] == 1


def test_activation_and_weight_bits_drive_the_cost():
    layer = Linear(name="fc", input_shapes=((1, 4096),), out_features=4096)
    model = build_model(load_arch(V5E))
    dense = model.simulate(CompressedLayer.dense(layer), 1)
    w8a8 = model.simulate(CompressedLayer(layer=layer, weight_bits=8, activation_bits=8), 1)
    assert w8a8.dram_read_bytes < dense.dram_read_bytes
    assert w8a8.extra["vector_ops"].get("mul", 0) > 0
    assert w8a8.latency_s < dense.latency_s


class _Rope(Layer):
    op = "rope"


class _NewOp(Layer):
    op = "some_future_op"


def test_unknown_and_future_ops_are_costed_generically():
    model = build_model(load_arch(V5E))
    rope = model.simulate(CompressedLayer.dense(_Rope(name="r", input_shapes=((32, 128),))), 1)
    assert rope.extra["vector_ops"] == {c: float(n) * 32 * 128 for c, n in GENERIC_OPS["rope"].items()}
    new = model.simulate(CompressedLayer.dense(_NewOp(name="x", input_shapes=((8, 16),))), 1)
    assert new.extra["vector_ops"] == {"add": 128.0} and "default" in new.extra["vector_recipe"]
    assert new.cycles > 0 and new.energy_j > 0


def test_vector_work_recipes():
    gelu = layer_work(Activation(name="g", input_shapes=((128, 3072),), func="gelu"), 2)
    assert gelu.ops["exp"] == 2 * 128 * 3072
    sm = layer_work(Softmax(name="s", input_shapes=((12, 128, 128),)), 1)
    assert sm.reduce_rows == 2 * 12 * 128 and sm.row_length == 128 and sm.ops["reciprocal"] == 12 * 128


def test_vector_packing_speeds_low_bit_layers():
    layer = Activation(name="r", input_shapes=((4096, 4096),), func="relu")
    cl = CompressedLayer(layer=layer, activation_bits=8)
    plain = build_model(load_arch(V5E, {"fusion.fused_ops": ["activation"]})).simulate(cl, 1)
    packed = build_model(load_arch(V5E, {"fusion.fused_ops": ["activation"], "vector.packed_widths": [8, 16]})).simulate(cl, 1)
    assert packed.extra["unit_cycles"]["vector"] < plain.extra["unit_cycles"]["vector"]


@pytest.mark.parametrize("override, field", [
    ({"vector.lanes": 0}, "vector.lanes"),
    ({"scratchpad.capacity_kb": 0}, "scratchpad.capacity_kb"),
    ({"dram.efficiency": 1.5}, "dram.efficiency"),
    ({"matrix.pe.precision_modes": [16, 12]}, "matrix.pe.precision_modes"),
    ({"vector.packed_widths": [32]}, "vector.packed_widths"),
    ({"scratchpad.capacity_kb": 1}, "scratchpad.capacity_kb"),
])
def test_bad_config_values_are_rejected_in_one_line(override, field):
    with pytest.raises(ConfigError) as exc:
        load_arch(V5E, override)
    text = str(exc.value)
    assert field in text and "\n" not in text


def test_roof_area_and_energy_categories():
    model = build_model(load_arch(V5E))
    roof = model.roof()
    assert math.isclose(roof.peak_macs_per_s, 4 * 128 * 128 * 1.5e9)
    assert math.isclose(roof.macs_per_s["fp8"], 2 * roof.peak_macs_per_s)
    assert roof.dram_bytes_per_s == 819e9
    area = model.area()
    assert set(area.by_component) == {"matrix_units", "vector_lanes", "vector_registers", "scratchpad"}
    assert all(v > 0 for v in area.by_component.values())


def test_llama_decode_is_memory_bound_and_exercises_every_unit():
    r = accelsim.simulate(V5E, "llama2-7b-decoder", dense_baseline=False)
    bounds = {x.name: x.extra["bound"] for x in r.layers}
    assert bounds["q_proj"] == "memory" and bounds["down_proj"] == "memory"
    q8 = accelsim.simulate(V5E, "llama2-7b-decoder", recipe="int8", dense_baseline=False)
    assert _vector_share(q8) > _vector_share(r)


def test_round_23_fused_ops_attention_products_and_edge_tpu_batch():
    """A held-out re-derivation of docs/models/npu.md (2026-12-05; every other figure equal) found three rules
    that contradicted the doc's own: a view or an op fused into its producer paid a whole fusion overhead (600
    cycles on tpu-v5e; 6.5% of BERT); a w8a8 model's attention products (no 8-bit weights: 16-bit operands) were
    charged the quantize epilogue of 8-bit inputs, re-quantizing a decode step's KV cache at every step; the Edge
    TPU's per-inference time was charged once per batch."""
    import warnings

    import accelsim

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = accelsim.simulate("tpu-v5e", "bert-base")
        w8 = accelsim.simulate("tpu-v5e", "bert-base", recipe="w8a8-int8")
        edge = [accelsim.simulate("edge-tpu", "lenet5", batch=b) for b in (1, 2)]
    for layer in dense.layers:
        if layer.op == "reshape" or layer.op == "activation":  # views and fused_ops of tpu-v5e: no overhead
            assert layer.compute_cycles == max(1, layer.extra["unit_cycles"]["vector"]), layer.name
    scores = next(layer for layer in w8.layers if layer.name.endswith("encoder.0.scores"))
    assert scores.extra["operand_bits"] == 16 and not scores.extra["vector_ops"]
    query = next(layer for layer in w8.layers if layer.name == "encoder.0.query")
    assert query.extra["operand_bits"] == 8 and query.extra["vector_ops"]  # weighted products still quantize
    first = edge[1].layers[0].extra  # per invocation since batches run as invocations (§4.4)
    assert first["invoke_cycles"] * first["invocations"] == 2 * edge[0].layers[0].extra["invoke_cycles"]
    assert edge[1].total["latency_s"] / 2 == pytest.approx(edge[0].total["latency_s"], rel=0.02)


def test_a_grouped_product_is_tiled_one_group_at_a_time():
    """A held-out round (2026-12-05) found a grouped product (attention over heads x batch) tiled as one GEMM: each
    group's activations re-read against every group's operands, so the per-sample DRAM bytes of BERT's context
    product grew with the batch (0.49 / 0.88 / 1.67 / 3.24 MB at batch 1 / 2 / 4 / 8 on the SCALE-Sim array
    example). Each group meets only its own operands (docs/models/npu.md §4.2)."""
    from pathlib import Path

    from accelsim.workload.zoo import load_workload

    example = Path(__file__).resolve().parent.parent / "examples" / "npu-scalesim-32x32-os-vector.yaml"
    model = build_model(load_arch(str(example)))
    layer = next(l for l in load_workload("bert-base").layers if l.name == "encoder.0.context")
    per_sample = [model.simulate(CompressedLayer.dense(layer), b).dram_read_bytes / b for b in (1, 2, 4, 8)]
    assert max(per_sample) <= min(per_sample) * 1.01, per_sample


def test_a_slow_vector_unit_never_makes_a_layer_slower_than_none():
    """ops_per_lane 0 runs a class on the fallback path; a unit slower than that path is not used, so raising a
    rate from 0 never slows a layer down (gemmini-edge BERT with exp 0 -> 0.01 went 75.8 -> 113 ms)."""
    layer = Softmax(name="sm", input_shapes=((12, 128, 128),))
    cl = CompressedLayer.dense(layer)
    cycles = [build_model(load_arch("gemmini-edge", {"vector.ops_per_lane.exp": r})).simulate(cl, 1).cycles
              for r in (0, 0.01, 0.0625, 0.5)]
    assert cycles[0] == cycles[1] == cycles[2] >= cycles[3], cycles


def test_a_host_attached_npu_runs_a_batch_as_invocations():
    """A compiled Edge TPU model takes one input: a batch of B is B batch-1 invocations (docs/models/npu.md §4.4).
    Only the overhead was per invocation; the rest ran as one batch-B pass, so per-sample time moved with B
    (ResNet-50 on edge-tpu-usb 46.5 / 25.9 / 21.0 / 28.9 ms at batch 1 / 2 / 4 / 8)."""
    one = accelsim.simulate("edge-tpu-usb", "mobilenet-v2", batch=1, dense_baseline=False)
    for b in (2, 8):
        many = accelsim.simulate("edge-tpu-usb", "mobilenet-v2", batch=b, dense_baseline=False)
        assert many.total["latency_s"] == pytest.approx(b * one.total["latency_s"], rel=1e-12)
        assert many.total["energy_j"] == pytest.approx(b * one.total["energy_j"], rel=1e-12)
        for r1, rb in zip(one.layers, many.layers):
            assert (rb.cycles, rb.macs, rb.dram_read_bytes) == (b * r1.cycles, b * r1.macs, b * r1.dram_read_bytes)
            assert rb.extra["invocations"] == b and rb.extra.get("parameters") == r1.extra.get("parameters")
