"""ONNX's own Attention op (opset 23), which torch's dynamo exporter writes for every scaled_dot_product_attention:
imported as a generic layer until a held-out round of real exports (2026-12-06) found the products missing (a
single-attention module at 0.429x FlopCounterMode's MACs, a tiny Llama at 0.947x)."""

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from accelsim.workload import layers as L  # noqa: E402
from accelsim.workload.onnx import load_onnx  # noqa: E402


def _products(g) -> int:
    return sum(layer.macs for layer in g.compute_layers() if isinstance(layer, (L.Conv2d, L.Linear, L.MatMul)))


def _attention_model(q_shape, kv_shape, past=None, attrs=None, outputs=("y",)):
    names = ["q", "k", "v", "", "past_k" if past else "", "past_v" if past else ""]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in
              (("q", q_shape), ("k", kv_shape), ("v", kv_shape))]
    if past:
        inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, past) for n in ("past_k", "past_v")]
    node = helper.make_node("Attention", [n for n in names if n] if not past else names, list(outputs), **(attrs or {}))
    graph = helper.make_graph([node], "attention", inputs,
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs if o])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])


def test_four_d_grouped_attention_with_a_past_cache():
    # 8 query heads on 2 K / V heads, 5 new tokens after 11 cached: the products of 16 keys, the present caches out
    model = _attention_model([1, 8, 5, 16], [1, 2, 5, 16], past=[1, 2, 11, 16], outputs=("y", "present_k", "present_v"))
    g = load_onnx(model)
    assert not g.metadata["onnx"]["generic_ops"]
    assert _products(g) == 2 * 8 * 5 * 16 * 16  # scores and context: heads x new tokens x keys x head size, twice
    shapes = {layer.name: layer.output_shape for layer in g.layers}
    assert (2, 16, 16) in shapes.values()  # a present cache: 2 heads x 16 tokens x 16


def test_three_d_attention_takes_its_head_counts_from_the_attributes():
    model = _attention_model([2, 7, 64], [2, 9, 32], attrs={"q_num_heads": 4, "kv_num_heads": 2})
    g = load_onnx(model)
    assert g.metadata["onnx"]["batch"] == 2 and _products(g) == 2 * 4 * 7 * 9 * 16  # per sample of the 2
    assert g.layers[-1].output_shape == (7, 64)


def test_a_used_qk_matmul_output_keeps_the_node_generic():
    model = _attention_model([1, 4, 8, 16], [1, 4, 8, 16], outputs=("y", "", "", "qk"))
    g = load_onnx(model)
    assert g.metadata["onnx"]["generic_ops"] == {"Attention": 1}


def test_mismatched_heads_are_one_line():
    from accelsim.errors import WorkloadError

    with pytest.raises(WorkloadError, match="do not agree"):
        load_onnx(_attention_model([1, 6, 8, 16], [1, 4, 8, 16]))


@pytest.mark.slow
def test_torch_dynamo_export_at_opset_23_matches_flop_counter():
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    class SelfAttention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(64, 192)

        def forward(self, x):
            b, s, d = x.shape
            q, k, v = self.qkv(x).view(b, s, 3, 4, 16).permute(2, 0, 3, 1, 4)
            return torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, d)

    torch.manual_seed(0)
    module, x = SelfAttention().eval(), torch.randn(1, 32, 64)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        module(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = torch.onnx.export(module, (x,), dynamo=True, opset_version=23, input_names=["x"]).model_proto
    assert "Attention" in {n.op_type for n in proto.graph.node}
    g = load_onnx(proto)
    assert not g.metadata["onnx"]["generic_ops"]
    assert _products(g) == counter.get_total_flops() // 2


@pytest.mark.parametrize("dtype, zero, expected", [(np.uint8, 128, "uint8"), (np.int8, 0, "int8")])
def test_weight_types_name_unsigned_integer_weights(dtype, zero, expected):
    # onnxruntime's quantize_dynamic(weight_type=QUInt8) writes uint8 weights; they were counted as 'int8'
    from onnx import numpy_helper

    codes = np.random.default_rng(0).integers(0, 100, (16, 8)).astype(dtype)
    inits = [numpy_helper.from_array(codes, "w_q"), numpy_helper.from_array(np.array(0.05, np.float32), "w_s"),
             numpy_helper.from_array(np.array(zero, dtype), "w_z")]
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w"]),
             helper.make_node("MatMul", ["x", "w"], ["y"])]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], inits)
    g = load_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert g.metadata["onnx"]["weight_types"] == {expected: 1}
    (record,) = g.metadata["quantization"].values()
    assert record["signed"] is (expected == "int8")




def _torch():
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    return torch


def test_load_torch_gives_a_bias_free_conv_no_bias():
    # the unoptimized dynamo export writes a zero bias (val_5) for a bias-free conv: +C parameters a conv
    torch = _torch()
    from accelsim.workload.io_torch import load_torch

    module = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, bias=False), torch.nn.ReLU(),
                                 torch.nn.Conv2d(8, 8, 1, bias=False)).eval()
    g = load_torch(module, torch.randn(1, 4, 8, 8))
    assert g.metadata["torch"]["exporter"] == "export"
    assert g.total_params == sum(p.numel() for p in module.parameters()) == 352 and not g.biases


@pytest.mark.parametrize("reduce", ["squeeze", "mean", "argmax"])
def test_a_per_sample_scalar_output_imports_at_batch_two(reduce):
    # Linear(8, 1)(x).squeeze(-1) or x.mean(-1) on (2, 8): "reshape [2, 1] -> [2] mixes the batch axis"
    torch = _torch()
    from accelsim.workload.io_torch import load_torch

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 1 if reduce == "squeeze" else 4)

        def forward(self, x):
            y = self.fc(x)
            return y.squeeze(-1) if reduce == "squeeze" else y.mean(-1) if reduce == "mean" else y.argmax(-1)

    for exporter in ("export", "torchscript"):
        g = load_torch(Head().eval(), torch.randn(2, 8), exporter=exporter)
        assert g.metadata["onnx"]["batch"] == 2
        (fc,) = [layer for layer in g.layers if layer.op == "linear"]
        assert fc.macs == 8 * (1 if reduce == "squeeze" else 4)


def test_load_torch_falls_back_to_the_tracer_when_the_export_route_does_not_import():
    # nn.EmbeddingBag: torch.export's Loop has an output ONNX cannot shape; the TorchScript route imports
    torch = _torch()
    from accelsim.workload.io_torch import load_torch

    class Bags(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bag = torch.nn.EmbeddingBag(20, 8, mode="mean")

        def forward(self, ids, offsets):
            return self.bag(ids, offsets)

    g = load_torch(Bags().eval(), (torch.randint(0, 20, (6,)), torch.tensor([0, 2, 4])))
    assert g.metadata["torch"]["exporter"] == "torchscript"
    assert any("the TorchScript tracer was used" in n for n in g.metadata["notes"])
