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


# (cfg fields, GEMM M N K, the SCALE-Sim 3.0.0 values of its reports: found by a held-out round, 2026-12-07, whose
# helper ran SCALE-Sim 3.0.0 on each .cfg / topology; docs/models/systolic.md §3.6)
NON_MONOTONE = [  # (rows, cols, kB ifmap / filter / ofmap, mode, words a cycle ifmap / filter / ofmap)
    # USER mode: doubling the ifmap stream's bandwidth adds stall cycles (344 -> 374)
    (dict(rows=16, cols=8, kb=(1, 1, 4), mode="USER", bw=(8, 2, 8)), (12, 9, 81),
     {"stall_cycles": 344, "ifmap_dram_reads": 2560, "filter_dram_reads": 1024, "ofmap_dram_writes": 108}),
    (dict(rows=16, cols=8, kb=(1, 1, 4), mode="USER", bw=(16, 2, 8)), (12, 9, 81),
     {"stall_cycles": 374, "ifmap_dram_reads": 2560, "filter_dram_reads": 1024, "ofmap_dram_writes": 108}),
    # CALC mode: 4x the filter SRAM reads more filter words from DRAM (4,763 -> 4,813)
    (dict(rows=4, cols=8, kb=(4, 2, 64), mode="CALC"), (5, 39, 109),
     {"stall_cycles": 0, "ifmap_dram_reads": 545, "filter_dram_reads": 4763, "ofmap_dram_writes": 195}),
    (dict(rows=4, cols=8, kb=(4, 8, 64), mode="CALC"), (5, 39, 109),
     {"stall_cycles": 0, "ifmap_dram_reads": 545, "filter_dram_reads": 4813, "ofmap_dram_writes": 195}),
]


@pytest.mark.parametrize("memory_model", ["exact", "analytic"])
@pytest.mark.parametrize("fields, gemm, want", NON_MONOTONE)
def test_more_bandwidth_or_filter_sram_can_cost_more_as_in_scalesim(tmp_path, fields, gemm, want, memory_model):
    """More DRAM bandwidth (USER) can add stalls, more filter SRAM (CALC) can add filter DRAM reads: SCALE-Sim
    3.0.0's own numbers on these units, which the exact model and the analytic one (windows inside) reproduce."""
    from accelsim.hw.registry import load_arch
    from accelsim.hw.systolic.model import Geometry, run_geometry
    from tests.data.scalesim.make_reference import cfg_text

    path = tmp_path / "case.cfg"
    path.write_text(cfg_text("t", df="os", **fields))
    config = load_arch(str(path), [f"memory_model={memory_model}"])
    got = run_geometry(config, Geometry.gemm(*gemm))
    assert {k: got[k] for k in want} == want


def _torch_modules():
    import torch
    from torch import nn

    class Conv1D(nn.Module):  # GPT-2's linear: view -> addmm -> view
        def __init__(self, nx, nf):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
            self.bias = nn.Parameter(torch.zeros(nf))

        def forward(self, x):
            out = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
            return out.view(*x.size()[:-1], self.weight.shape[1])

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc, self.c_proj = Conv1D(32, 64), Conv1D(64, 32)

        def forward(self, x):
            return self.c_proj(torch.relu(self.c_fc(x)))

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv, self.o = nn.Linear(64, 192), nn.Linear(64, 64)

        def forward(self, x):
            q, k, v = (t.view(1, 16, 4, 16).transpose(1, 2) for t in self.qkv(x).split(64, -1))
            a = torch.softmax(q @ k.transpose(-1, -2), -1) @ v
            return self.o(a.transpose(1, 2).reshape(1, 16, 64))

    return Mlp, Attn


@pytest.mark.parametrize("route", ["load_torch", "torchscript_file"])
def test_a_modules_linear_takes_its_path_where_views_share_its_scope(tmp_path, route):
    """GPT-2's Conv1D (view -> addmm -> view) is named by its module path on its linear, not on the reshape before it
    (which took 'c_fc' and left the linear 'c_fc_2', so a recipe naming 'c_fc' matched no weighted layer)."""
    import torch

    import accelsim
    from accelsim.workload.zoo import load_workload

    torch.manual_seed(0)
    mlp, x = _torch_modules()[0]().eval(), torch.randn(1, 8, 32)
    if route == "load_torch":
        graph = load_workload(mlp, example_input=x)
    else:
        torch.onnx.export(mlp, (x,), tmp_path / "m.onnx", dynamo=False)
        graph = load_workload(str(tmp_path / "m.onnx"))
    ops = {layer.name: layer.op for layer in graph.layers}
    assert ops["c_fc"] == ops["c_proj"] == "linear"
    compressed = accelsim.compress(graph, {"name": "p", "layers": ["c_fc"],
                                           "pipeline": [{"prune": {"method": "magnitude", "density": 0.5}}]})
    assert compressed["c_fc"].weight_density == pytest.approx(0.5) and compressed["c_proj"].weight_density == 1.0


def test_consecutive_transposes_cost_as_in_the_modules_exports(tmp_path):
    """``k.transpose(1, 2)`` then ``.transpose(-1, -2)``: the unoptimized lowering load_torch uses kept two Transpose
    nodes, the TorchScript and optimized dynamo exports one, so the same module ran 8% slower on an H100 through
    load_torch; the importer now merges them (the perms composed)."""
    import torch

    import accelsim
    from accelsim.workload.zoo import load_workload

    torch.manual_seed(0)
    attn, x = _torch_modules()[1]().eval(), torch.randn(1, 16, 64)
    direct = load_workload(attn, example_input=x)
    torch.onnx.export(attn, (x,), tmp_path / "a.onnx", dynamo=False)
    exported = load_workload(str(tmp_path / "a.onnx"))
    count = [sum(layer.op == "transpose" for layer in g.layers) for g in (direct, exported)]
    assert count == [4, 4]
    assert direct.total_macs == exported.total_macs == 294_912
    latency = [accelsim.simulate("h100-sxm", g).total["latency_s"] for g in (direct, exported)]
    assert latency[0] == pytest.approx(latency[1], rel=1e-12)


def test_transpose_chains_compose(tmp_path):
    """Three transposes in a row are one (perms composed); two that undo each other are none; a transpose another
    node also reads stays."""
    import onnx
    from onnx import TensorProto, helper

    from accelsim.workload.zoo import load_workload

    def model(perms, extra_reader=False):
        nodes, src = [], "x"
        for i, perm in enumerate(perms):
            nodes.append(helper.make_node("Transpose", [src], [f"t{i}"], perm=perm, name=f"T{i}"))
            src = f"t{i}"
        nodes.append(helper.make_node("Sigmoid", [src], ["y"], name="S"))
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
        if extra_reader:
            nodes.append(helper.make_node("Relu", ["t0"], ["r"], name="R"))
            outputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, None))
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 8])],
                                  outputs)
        path = tmp_path / f"m{len(list(tmp_path.iterdir()))}.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
        return load_workload(str(path))

    def transposes(g):
        return [layer.perm for layer in g.layers if layer.op == "transpose"]

    chain = model([[0, 2, 1, 3], [0, 1, 3, 2], [0, 3, 2, 1]])  # composed: (0, 2, 3, 1) then (0, 1, 3, 2)
    assert transposes(chain) == [(0, 2, 1)] and chain.layers[-1].output_shape == (4, 8, 6)  # per-sample axes
    assert transposes(model([[0, 2, 1, 3], [0, 2, 1, 3]])) == []
    assert transposes(model([[0, 2, 1, 3], [0, 1, 3, 2]], extra_reader=True)) == [(1, 0, 2), (0, 2, 1)]


def test_torch_params_note_accounts_for_the_gap_term_by_term():
    """load_torch's params note: a bias-free conv's folded norm (16 scales and shifts gone, 8 biases added: the gap
    is 8, and the note blamed position embeddings); a tied head beside a position table read at constant indices
    (only the tie was noted); experts read at data-dependent indices (position embeddings were blamed)."""
    import torch
    from torch import nn

    import accelsim

    class ConvBn(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe, self.head = nn.Embedding(100, 16), nn.Embedding(32, 16), nn.Linear(16, 100, bias=False)
            self.head.weight = self.wte.weight

        def forward(self, ids):
            return self.head(self.wte(ids) + self.wpe(torch.arange(ids.shape[1])))

    class Experts(nn.Module):
        def __init__(self):
            super().__init__()
            self.router, self.experts = nn.Linear(8, 4), nn.Parameter(torch.randn(4, 8, 8))

        def forward(self, x):
            return torch.einsum("bti,btio->bto", x, self.experts[self.router(x).argmax(-1)])

    def note(module, x):
        graph = accelsim.load_workload(module.eval(), example_input=x)
        return graph, next(n for n in graph.metadata["notes"] if "graph's layers hold" in n)

    torch.manual_seed(0)
    graph, text = note(ConvBn(), torch.randn(1, 3, 8, 8))
    assert graph.total_params == 224 and "their 16 scales and shifts gone, 8 bias values added" in text
    assert "constant" not in text and "otherwise" not in text
    graph, text = note(Tied(), torch.randint(0, 100, (1, 8)))
    assert graph.total_params == 3_200  # 2,112 held + 1,600 (the tie) - 512 (wpe, a constant of the graph)
    assert "(+1,600)" in text and "wpe.weight (512)" in text and "otherwise" not in text
    graph, text = note(Experts(), torch.randn(1, 5, 8))
    assert "experts (256)" in text and "otherwise" not in text


@pytest.mark.parametrize("copy", [False, True])
def test_an_onnx_initializer_shared_by_two_layers_is_noted(tmp_path, copy):
    """One initializer as the table of an embedding and the weight of the head (torch's dynamo export of a tied
    Qwen2; TorchScript reads it through an Identity copy) is the weight of two layers, each counting its params:
    noted, as load_torch notes a tie (the file's import said nothing)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from accelsim.workload.zoo import load_workload

    table = numpy_helper.from_array(np.random.default_rng(0).standard_normal((100, 16)).astype(np.float32), "wte.weight")
    nodes = [helper.make_node("Gather", ["wte.weight", "ids"], ["e"], name="/wte/Gather"),
             helper.make_node("Relu", ["e"], ["r"], name="/Relu")]
    weight = "wte.weight"
    if copy:
        nodes.append(helper.make_node("Identity", [weight], ["head_w"], name="/Identity"))
        weight = "head_w"
    nodes += [helper.make_node("Transpose", [weight], ["wt"], perm=[1, 0], name="/head/Transpose"),
              helper.make_node("MatMul", ["r", "wt"], ["y"], name="/head/MatMul")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [table])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "t.onnx")
    imported = load_workload(str(tmp_path / "t.onnx"))
    assert imported.total_params == 3_200
    assert any("hold the weights of several layers" in n and "'wte'" in n and "'head'" in n
               for n in imported.metadata["notes"]), imported.metadata["notes"]


def test_load_torch_leaves_nothing_on_stdout_or_stderr(capfd):
    """Importing a tiny BERT left onnxscript's "Evaluation failed: cannot reshape ..." on stderr (a constant its folder
    could not evaluate: nothing wrong with the import), and a module torch.export could not capture printed its whole
    graph before the TorchScript route took it."""
    transformers = pytest.importorskip("transformers")
    import torch

    from accelsim.workload.zoo import load_workload

    config = transformers.BertConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=4, intermediate_size=128,
                                     vocab_size=512, max_position_embeddings=128)
    config._attn_implementation = "eager"

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = transformers.BertModel(config)

        def forward(self, x):
            return self.m(x).last_hidden_state

    torch.manual_seed(0)
    capfd.readouterr()
    graph = load_workload(Encoder().eval(), example_input=torch.randint(0, 500, (1, 16)))
    out, err = capfd.readouterr()
    assert graph.total_macs > 0
    assert "Evaluation failed" not in err and "def forward" not in err and not out.strip()


def test_scatter_codes_checks_its_codes_and_takes_half_precision():
    """``kmeans.scatter_codes`` read ``table[code]`` unchecked (a code past the table gave memory past it, a huge one a
    segmentation fault) and refused float16 values (Numba has none)."""
    import numpy as np

    from accelsim.compress.kmeans import scatter_codes
    from accelsim.errors import CompressionError

    mask, table = np.array([[True, False], [True, True]]), np.array([-0.5, 0.25])
    for bad in ([0, 1, 5], [0, 10**9, 1], [0, -1, 1]):
        with pytest.raises(CompressionError, match="codes index a table of 2 entries"):
            scatter_codes(mask, np.array(bad), table)
    codes, values = scatter_codes(mask, np.array([0, 1, 1]), table, dtype=np.float16)
    assert values.dtype == np.float16 and values.tolist() == [[-0.5, 0.0], [0.25, 0.25]]
    assert codes.tolist() == [[0, 0], [1, 1]]


@pytest.mark.parametrize("dtype, low", [("int8", -128), ("int16", -32768), ("int32", -2**31)])
def test_masks_score_signed_integer_weights_by_magnitude(dtype, low):
    """``np.abs`` of a signed integer type's minimum is itself (negative), so N:M, top-k and magnitude masks of
    already-quantized weights dropped the largest one."""
    import numpy as np

    from accelsim.compress.prune import block_mask, magnitude_mask, nm_mask, top_k_abs_mask

    w = np.array([[low, 1, 2, 3]], dtype)
    assert nm_mask(w, 2, 4).tolist() == [[True, False, False, True]]
    assert nm_mask(w, 1, 4).tolist() == [[True, False, False, False]]
    assert top_k_abs_mask(w, 2).tolist() == [[True, False, False, True]]
    assert magnitude_mask(w, 0.75).tolist() == [[True, False, False, False]]
    assert block_mask(np.repeat(w, 2, axis=0), (2, 2), 0.5).tolist() == [[True, True, False, False]] * 2


def test_calc_scan_refuses_sweeps_past_int32():
    """The CALC ifmap scan lists a sweep's accesses with int32 indices: a sweep of more than 2^31 - 1 (a 226x226x3
    3x3 layer at batch 1,600) wrapped them (and asked for 8 GiB first); refused in one line now, the analytic
    model named, before anything is allocated."""
    from accelsim.errors import SimulationError
    from accelsim.hw.registry import load_arch
    from accelsim.hw.systolic.model import Geometry, run_geometry

    exact = load_arch("scalesim-32x32-os", [])
    assert run_geometry(exact, Geometry.conv(226, 226, 3, 3, 3, 64, 1, batch=2))["ifmap_dram_reads"] > 0
    with pytest.raises(SimulationError, match="memory_model: analytic"):
        run_geometry(exact, Geometry.conv(226, 226, 3, 3, 3, 64, 1, batch=1600))
    analytic = load_arch("scalesim-32x32-os", ["memory_model=analytic"])
    assert run_geometry(analytic, Geometry.conv(226, 226, 3, 3, 3, 64, 1, batch=1600))["ifmap_dram_reads"] > 0


def test_multihead_attention_costs_alike_through_the_module_and_its_export(tmp_path):
    """``nn.MultiheadAttention``: torch's unoptimized lowering puts a reshape there and back between the key's two
    transposes, its optimizing export none, so merging only adjacent transposes split the routes (45.7 against 42.7 us
    on an H100); a reshape round trip is an identity the merge sees through."""
    import contextlib
    import io

    import torch

    import accelsim
    from accelsim.workload.zoo import load_workload

    class Attn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = torch.nn.MultiheadAttention(64, 4, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    torch.manual_seed(0)
    module, x = Attn().eval(), torch.randn(1, 16, 64)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        torch.onnx.export(module, (x,), tmp_path / "a.onnx", dynamo=True, input_names=["input"])
    graphs = [load_workload(module, example_input=x), load_workload(str(tmp_path / "a.onnx"))]
    assert [sum(layer.op == "transpose" for layer in g.layers) for g in graphs] == [6, 6]
    latency = [accelsim.simulate("h100-sxm", g).total["latency_s"] for g in graphs]
    assert latency[0] == pytest.approx(latency[1], rel=1e-12)


def test_a_transpose_a_branch_reads_is_not_merged_away(tmp_path):
    """The merge counted readers among nodes only: a transpose an ``If`` branch also reads was merged into the next
    and the branch read a tensor no node produced any more (an import that had worked failed)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from accelsim.workload.zoo import load_workload

    branch = helper.make_graph([helper.make_node("Sigmoid", ["T0"], ["b"], name="branch/Sigmoid_0")], "then", [],
                               [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)])
    other = helper.make_graph([helper.make_node("Relu", ["T0"], ["c"], name="branch/Relu_0")], "else", [],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Transpose", ["x"], ["T0"], perm=[0, 2, 3, 1], name="tr0"),
             helper.make_node("Transpose", ["T0"], ["T1"], perm=[0, 3, 1, 2], name="tr1"),
             helper.make_node("Relu", ["T1"], ["y"], name="relu"),
             helper.make_node("If", ["cond"], ["z"], then_branch=branch, else_branch=other, name="if")]
    cond = numpy_helper.from_array(np.array(True), "cond")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], [cond])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    imported = load_workload(str(tmp_path / "m.onnx"))
    assert [layer.op for layer in imported.layers if layer.op == "transpose"] == ["transpose", "transpose"]
    assert imported.layers[-1].output_shape == (5, 7, 3)


@pytest.mark.parametrize("exporter", ["export", "torchscript"])
def test_params_note_finds_layers_under_torchscript_scopes(exporter):
    """OPT through the TorchScript tracer names its layers ``m.decoder.*`` (the tracer's scopes) for the modules
    ``m.model.decoder.*``: the params note called 36 held parameters unheld and put the tie in a remainder; both
    routes now give the tie and the one position table the graph holds as a constant."""
    transformers = pytest.importorskip("transformers")
    import torch

    from accelsim.workload.zoo import load_workload

    torch.manual_seed(0)
    opt = transformers.OPTForCausalLM(transformers.OPTConfig(
        hidden_size=64, num_attention_heads=4, num_hidden_layers=2, ffn_dim=128, vocab_size=512,
        max_position_embeddings=128, word_embed_proj_dim=64)).eval()

    class Lm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = opt

        def forward(self, ids):
            return self.m(input_ids=ids, use_cache=False).logits

    graph = load_workload(Lm().eval(), example_input=torch.randint(0, 512, (1, 16)), exporter=exporter)
    note = next(n for n in graph.metadata["notes"] if "graph's layers hold" in n)
    assert "(+32,768)" in note and "1 parameter(s) no layer holds" in note and "embed_positions.weight (8,320)" in note
    assert "otherwise" not in note


def test_a_module_neither_exporter_takes_prints_only_the_error(capfd):
    """When both routes fail, torch's TorchScript exporter wrote its whole IR graph to file descriptor 1 (hundreds of
    lines for a MoE) before accelsim's one-line error."""
    import torch

    from accelsim.errors import WorkloadError
    from accelsim.workload.zoo import load_workload

    class Neither(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x):
            y = torch.diff(self.fc(x), dim=-1)  # the tracer's route: aten::diff has no ONNX export at opset 17
            return y if x.sum().item() > 0 else -y  # torch.export's: a data-dependent branch

    capfd.readouterr()
    with pytest.raises(WorkloadError, match="cannot export Neither to ONNX"):
        load_workload(Neither(), example_input=torch.randn(2, 8))
    out, err = capfd.readouterr()
    assert "graph(" not in out and "IR graph" not in out and not out.strip()


def test_out_of_memory_is_one_line_not_a_bug(monkeypatch, capsys):
    """A layer too large for the machine (a one-channel conv of 10^9 outputs on a ws array ran out of memory in the
    exact replay) raised a bare MemoryError from the API and 'internal error' (exit 1, 'a bug') from the command
    line; now a SimulationError naming the layer, and exit 2 with one line."""
    from accelsim.cli import main
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.errors import SimulationError
    from accelsim.hw.registry import build_model, load_arch
    from accelsim.hw.systolic import model as M
    from accelsim.workload.zoo import load_workload

    def exhausted(*args, **kwargs):
        raise MemoryError

    layer = next(iter(CompressedGraph.dense(load_workload("lenet5"))))
    model = build_model(load_arch("scalesim-google", []))
    monkeypatch.setattr(M.SystolicModel, "count", exhausted)
    monkeypatch.setattr(M.SystolicModel, "simulate_layers", exhausted)
    with pytest.raises(SimulationError, match=f"layer '{layer.layer.name}': out of memory"):
        model.simulate(layer, 1)
    assert main(["simulate", "--arch", "scalesim-google", "--workload", "lenet5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("accelsim: error:") and "out of memory" in err and "analytic" in err and "\n" not in err
    import accelsim.cli.core as core

    monkeypatch.setattr(core, "cmd_stats", exhausted)  # anywhere else in a run: the command line's own line
    assert main(["stats", "--workload", "lenet5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("accelsim: error: out of memory") and "\n" not in err


@pytest.mark.parametrize("middle", ["identity", "reshape there and back"])
def test_a_constants_transposes_merge_through_what_lies_between(tmp_path, middle):
    """A transpose of a constant, an Identity (or a reshape there and back), a transpose: the merged node left the
    middle out of the parts a constant is folded by, so the fold read a tensor no node produced (an import that had
    worked failed)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from accelsim.workload.zoo import load_workload

    consts = [numpy_helper.from_array(np.random.default_rng(0).random((2, 3, 4)).astype(np.float32), "C"),
              numpy_helper.from_array(np.array([6, 4], np.int64), "s1"),
              numpy_helper.from_array(np.array([3, 4, 2], np.int64), "s2")]
    nodes = [helper.make_node("Transpose", ["C"], ["a"], perm=[1, 2, 0])]
    if middle == "identity":
        nodes.append(helper.make_node("Identity", ["a"], ["b"]))
    else:
        nodes += [helper.make_node("Reshape", ["a", "s1"], ["a1"]), helper.make_node("Reshape", ["a1", "s2"], ["b"])]
    nodes += [helper.make_node("Transpose", ["b"], ["c"], perm=[2, 1, 0]),
              helper.make_node("ReduceSum", ["c"], ["r"], keepdims=0), helper.make_node("Mul", ["x", "r"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], consts)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    imported = load_workload(str(tmp_path / "m.onnx"))
    assert imported.layers[-1].output_shape == (3,)


def test_an_unused_zero_bias_is_named_among_the_unheld(monkeypatch):
    """Parameters held under another name are found by value; an unused module's all-zero bias matched another layer's
    zero bias and fell into the remainder ('a weight the exporter renamed'), untrue."""
    import torch

    import accelsim

    class Spare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.spare = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)
            for layer in (self.fc, self.spare):
                torch.nn.init.zeros_(layer.bias)

        def forward(self, x):
            return self.fc(x)

    torch.manual_seed(0)
    graph = accelsim.load_workload(Spare().eval(), example_input=torch.randn(1, 16))
    note = next(n for n in graph.metadata["notes"] if "graph's layers hold" in n)
    assert "spare.weight (256), spare.bias (16); 272 in all" in note and "otherwise" not in note


def test_out_of_memory_in_a_network_plan_is_a_simulation_error(monkeypatch):
    """A MemoryError outside one layer's simulate (the NPU's network plan) escaped accelsim.simulate bare (a sweep took
    it for a crash)."""
    import accelsim
    from accelsim.errors import SimulationError
    from accelsim.hw.npu.model import NpuModel

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(NpuModel, "plan_network", exhausted)
    with pytest.raises(SimulationError, match="arch 'edge-tpu': out of memory"):
        accelsim.simulate("edge-tpu", "lenet-300-100")


def test_exports_in_two_threads_leave_stdout_working(capfd):
    """The exporters' output is silenced by redirecting the process's stdout; two threads exporting at once restored
    it out of order and left descriptor 1 on /dev/null for the rest of the process. Exports are serialized now."""
    import os
    import sys
    import threading

    import torch

    from accelsim.workload.io_torch import load_torch

    module, errors = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU()).eval(), []

    def run():
        try:
            load_torch(module, torch.randn(1, 8), exporter="torchscript")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    stdout = sys.stdout
    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sys.stdout is stdout
    capfd.readouterr()
    os.write(1, b"FD-MARK\n")
    print("PY-MARK", flush=True)
    out = capfd.readouterr().out
    assert "FD-MARK" in out and "PY-MARK" in out


@pytest.mark.parametrize("exporter", ["export", "torchscript"])
def test_params_note_under_a_container_the_tracer_leaves_out(exporter):
    """A block called through a container that is not itself called (``self.model.decoder(x)``, as OPT's head calls
    its decoder): the tracer scopes its linear ``decoder.fc``; the note still finds every held parameter and names the
    position table the graph holds as a constant (no transformers needed, unlike the OPT check above)."""
    import torch
    from torch import nn

    from accelsim.workload.zoo import load_workload

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.ln = nn.Linear(16, 16), nn.LayerNorm(16)

        def forward(self, x):
            return self.ln(self.fc(x))

    class Container(nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder, self.pos = Block(), nn.Embedding(8, 16)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Container()

        def forward(self, x):
            return self.model.decoder(x + self.model.pos(torch.arange(8)))

    torch.manual_seed(0)
    graph = load_workload(Outer().eval(), example_input=torch.randn(1, 8, 16), exporter=exporter)
    assert graph.total_params == 304
    note = next(n for n in graph.metadata["notes"] if "graph's layers hold" in n)
    assert "1 parameter(s) no layer holds" in note and "model.pos.weight (128); 128 in all" in note
    assert "otherwise" not in note
