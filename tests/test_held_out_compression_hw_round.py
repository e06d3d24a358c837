"""Cases a held-out round of compression x hardware (2026-12-05, twenty-first session; about 1,640 checks written
by a helper that read none of these tests) found wrong on the systolic family: the filter stream of a compressed
layer was scaled by stored bits over ``weights x weight_bits`` although the replayed words carry the array's
operand width (int4 weights on an int8 array moved 8 bits each, more than int8 once scales were added; a 32-bit
codebook table's indices a quarter of their bits), exploited 2:4 int4 weights moved the words of 2:4 int8, and 2:4
weights on an array without N:M support ran as unstructured sparsity without a word."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.compress.compressed import CompressedGraph
from accelsim.compress.recipe import compress
from accelsim.hw.registry import build_model, load_arch
from accelsim.workload.zoo import load_workload

W4 = {"name": "w4a8", "pipeline": [{"quantize": {"bits": 4, "symmetric": True, "per_channel": True}}]}
W2 = {"name": "w2a8", "pipeline": [{"quantize": {"bits": 2, "symmetric": True, "per_channel": True}}]}


@pytest.mark.parametrize("arch", ["scalesim-32x32-os", "edge-32x32", "tpu-v1"])
def test_filter_stream_moves_the_stored_bits(arch):
    """Filter DRAM bytes = stored bytes x the times the replay streams the filter in (the dense layer's filter
    words over its weights, one 8-bit word each): int2 < int4 < int8, each at its stored size."""
    graph = load_workload("lenet-300-100")
    model = build_model(load_arch(arch))
    dense = {r.name: r for r in model.simulate_network(CompressedGraph.dense(graph), 1)}
    for recipe in (W4, W2, "deep-compression-lenet300-pq"):
        cg = compress(graph, recipe, seed=0)
        for r in model.simulate_network(cg, 1):
            if r.name not in ("fc1", "fc2", "fc3"):
                continue
            cl = cg[r.name]
            refetch = dense[r.name].extra["dram_words"]["filter"] / (cl.layer.weight_matrix_shape[0] *
                                                                      cl.layer.weight_matrix_shape[1])
            stored_bytes = cl.view.stored_bits / 8
            assert r.extra["dram_words"]["filter"] == pytest.approx(stored_bytes * refetch, rel=1e-6, abs=1), (recipe, r.name)
    w4 = accelsim.simulate(arch, "lenet-300-100", recipe=W4).total["dram_read_bytes"]
    w2 = accelsim.simulate(arch, "lenet-300-100", recipe=W2).total["dram_read_bytes"]
    int8 = accelsim.simulate(arch, "lenet-300-100", recipe="int8").total["dram_read_bytes"]
    assert w2 < w4 < int8


def test_exploited_two_four_moves_values_at_their_stored_width():
    words = {}
    for recipe in ("2of4-int8", "2of4-w4a16"):
        run = accelsim.simulate("edge-32x32-2of4", "bert-base", recipe=recipe)
        layer = next(r for r in run.layers if r.name == "encoder.0.ffn1")
        assert layer.extra["nm"] == [2, 4] and "fallback" not in layer.extra
        words[recipe] = layer.extra["dram_words"]["filter"]
    # half the value words; the 2-bit metadata per kept weight is the same
    assert words["2of4-w4a16"] < 0.7 * words["2of4-int8"]


@pytest.mark.parametrize("arch", ["edge-32x32", "scalesim-32x32-os"])
def test_two_four_without_support_is_reported(arch):
    run = accelsim.simulate(arch, "lenet-300-100", recipe="2of4-int8")
    assert all("2:4 weights run as unstructured sparsity (no N:M support: sparsity.nm)" in r.extra["fallback"]
               for r in run.layers if r.name.startswith("fc"))
    assert any("unstructured sparsity" in w for w in run.warnings)
    assert not any("unstructured" in w for w in accelsim.simulate("edge-32x32-2of4", "lenet-300-100",
                                                                  recipe="2of4-int8").warnings)


def test_unquantized_weights_move_at_the_native_width():
    """Weights no step quantized run at the hardware's native precision, as the dense baseline does: a channel-
    pruned layer's dense float32 store moves what the dense layer moves per weight, a magnitude-pruned CSR its
    kept values at 8 bits with its indices and pointers (they moved at 32 bits: channel50 read more DRAM bytes
    than dense ResNet-50 on edge-32x32-2of4)."""
    from accelsim.hw.systolic.model import stored_ratio

    graph = load_workload("lenet-300-100")
    fc1 = compress(graph, "channel50", seed=0)["fc1"]
    assert fc1.weight_bits is None and stored_ratio(fc1, 8) == pytest.approx(1.0)
    csr = compress(graph, "magnitude-8", seed=0)["fc1"]
    bits = csr.weight.storage_bits()
    assert stored_ratio(csr, 8) == pytest.approx((bits.payload / 4 + bits.index + bits.pointer) / (300 * 784 * 8))
    dense = accelsim.simulate("edge-32x32-2of4", "resnet18", overrides=["dram.bandwidth_mode=CALC"])
    pruned = accelsim.simulate("edge-32x32-2of4", "resnet18", recipe="channel50", overrides=["dram.bandwidth_mode=CALC"])
    assert pruned.total["dram_read_bytes"] < dense.total["dram_read_bytes"]
    assert pruned.total["energy_j"] < dense.total["energy_j"]
