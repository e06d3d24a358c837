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
