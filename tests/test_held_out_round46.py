"""Checks from the forty-sixth session's held-out rounds and its own fixes (helpers that read none of the tests)."""

from __future__ import annotations

import json

import pytest

from tests.test_held_out_round43 import CK_LAYER, _checkpoint_helpers, _gptq_layer


def _gptq_decode_layer(tmp_path, act_order: bool):
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.workload.hf import load_hf
    from accelsim.workload.weights import load_checkpoint

    hf_tiny, _, write = _checkpoint_helpers()
    tensors, _ = _gptq_layer(act_order)
    tmp_path.mkdir()
    write(tmp_path / "model.safetensors", tensors)
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": {"quant_method": "gptq", "bits": 4,
                                                                               "group_size": 8}}))
    g = load_checkpoint(load_hf(hf_tiny, phase="decode", context=8), tmp_path)
    return CompressedGraph.dense(g)[CK_LAYER]


@pytest.mark.parametrize("stack", ["vllm", "autoawq", "pytorch-eager"])
def test_act_order_weight_only_kernels_read_the_column_map(tmp_path, stack):
    """A GPTQ act-order layer's weight-only kernel reads its column map, an int32 per input column (exllama's q_perm,
    MARLIN's sorted g_idx), besides codes and scales: 4 K bytes more DRAM reads than the same layer with the trivial
    g_idx GPTQ writes anyway (stored, not read). Before, neither read it."""
    from accelsim.hw.registry import build_model, load_arch

    model = build_model(load_arch("h100-sxm", [f"stack={stack}"]))
    plain = model.simulate(_gptq_decode_layer(tmp_path / "plain", False), 1)
    ordered = model.simulate(_gptq_decode_layer(tmp_path / "ordered", True), 1)
    assert "weight-only" in plain.extra["weights"] and plain.extra["weights"] == ordered.extra["weights"]
    assert ordered.dram_read_bytes - plain.dram_read_bytes == 4 * 32  # K = 32 input columns
    assert ordered.latency_s == plain.latency_s


@pytest.mark.parametrize("name", ["lenet5", "resnet50", "mobilenet-v2", "bert-base", "llama2-7b-decoder", "shufflenet-v2"])
def test_dump_yaml_round_trips_a_workload(tmp_path, name):
    """``io_yaml.dump_yaml`` (a graph as workload YAML, e.g. an imported model to edit by hand) reads back as the
    same layers, shapes and MACs (it had no test)."""
    from accelsim.workload.io_yaml import dump_yaml
    from accelsim.workload.zoo import load_workload

    graph = load_workload(name)
    dump_yaml(graph, tmp_path / "w.yaml")
    again = load_workload(str(tmp_path / "w.yaml"))
    assert again.layers == graph.layers and again.total_macs == graph.total_macs


def test_yaml_identity_op_is_the_no_op_layer(tmp_path):
    """``op: identity`` is the Identity layer (what ``dump_yaml`` writes for one: a dropout read back as an
    activation cost a 3 us kernel on a GPU); ``op: activation, func: identity`` stays the costed pass AlexNet's LRN
    is."""
    from accelsim.workload import layers as L
    from accelsim.workload.zoo import load_workload

    path = tmp_path / "w.yaml"
    path.write_text("name: t\ninputs: {x: [8]}\nlayers:\n  - {name: a, op: identity}\n  - {name: b, op: dropout}\n"
                    "  - {name: c, op: activation, func: identity}\n")
    graph = load_workload(str(path))
    assert [type(graph.layer(n)) for n in "abc"] == [L.Identity, L.Identity, L.Activation]
    alexnet = load_workload("alexnet")
    assert type(alexnet.layer("norm1")) is L.Activation and alexnet.layer("norm1").func == "identity"


_CFG = """[general]
run_name = t

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : {ifmap}
FilterSramSzkB : {filt}
OfmapSramSzkB : {ofmap}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Bandwidth : {bw}
Dataflow : os
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : {bw_if}
IfmapSRAMBankNum : 1
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : {bw_fi}
FilterSRAMBankNum : 1
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : {mode}
UseRamulatorTrace : False
"""


# (cfg fields, GEMM M N K, the SCALE-Sim 3.0.0 values of its reports: found by a held-out round, 2026-12-07, whose
# helper ran SCALE-Sim 3.0.0 on each .cfg / topology; docs/models/systolic.md §3.6)
NON_MONOTONE = [
    # USER mode: doubling the ifmap stream's bandwidth adds stall cycles (344 -> 374)
    (dict(rows=16, cols=8, ifmap=1, filt=1, ofmap=4, bw=8, bw_if=8, bw_fi=2, mode="USER"), (12, 9, 81),
     {"stall_cycles": 344, "ifmap_dram_reads": 2560, "filter_dram_reads": 1024, "ofmap_dram_writes": 108}),
    (dict(rows=16, cols=8, ifmap=1, filt=1, ofmap=4, bw=8, bw_if=16, bw_fi=2, mode="USER"), (12, 9, 81),
     {"stall_cycles": 374, "ifmap_dram_reads": 2560, "filter_dram_reads": 1024, "ofmap_dram_writes": 108}),
    # CALC mode: 4x the filter SRAM reads more filter words from DRAM (4,763 -> 4,813)
    (dict(rows=4, cols=8, ifmap=4, filt=2, ofmap=64, bw=10, bw_if=10, bw_fi=10, mode="CALC"), (5, 39, 109),
     {"stall_cycles": 0, "ifmap_dram_reads": 545, "filter_dram_reads": 4763, "ofmap_dram_writes": 195}),
    (dict(rows=4, cols=8, ifmap=4, filt=8, ofmap=64, bw=10, bw_if=10, bw_fi=10, mode="CALC"), (5, 39, 109),
     {"stall_cycles": 0, "ifmap_dram_reads": 545, "filter_dram_reads": 4813, "ofmap_dram_writes": 195}),
]


@pytest.mark.parametrize("memory_model", ["exact", "analytic"])
@pytest.mark.parametrize("fields, gemm, want", NON_MONOTONE)
def test_more_bandwidth_or_filter_sram_can_cost_more_as_in_scalesim(tmp_path, fields, gemm, want, memory_model):
    """More DRAM bandwidth (USER) can add stalls, more filter SRAM (CALC) can add filter DRAM reads: SCALE-Sim
    3.0.0's own numbers on these units, which the exact model and the analytic one (windows inside) reproduce."""
    from accelsim.hw.registry import load_arch
    from accelsim.hw.systolic.model import Geometry, run_geometry

    path = tmp_path / "case.cfg"
    path.write_text(_CFG.format(**fields))
    config = load_arch(str(path), [f"memory_model={memory_model}"])
    got = run_geometry(config, Geometry.gemm(*gemm))
    assert {k: got[k] for k in want} == want
