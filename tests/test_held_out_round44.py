"""Defects a held-out round of 2026-12-07 (forty-fourth session) found, each a check."""

from __future__ import annotations

from pathlib import Path

HELDOUT = Path(__file__).parent / "data" / "onnx" / "heldout"


# --- sweep specs ----------------------------------------------------------------------------------------------

def test_an_empty_objectives_mapping_is_refused(tmp_path, run_cli):
    spec = tmp_path / "s.yaml"
    spec.write_text("base: {workload: lenet-300-100, arch: edge-32x32}\ngrid: {arch.array.rows: [8, 16]}\n"
                    "objectives: {}\n")
    code, _, err = run_cli("sweep", spec, "--out", tmp_path / "o")  # was accepted: a report without a front
    assert code == 2 and "objectives must name at least one column" in err and len(err.strip().splitlines()) == 1


# --- ONNX / PyTorch import ------------------------------------------------------------------------------------

def test_qoperator_chains_fuse_like_their_qdq_form():
    """onnxruntime's QOperator quantizer (``quantize_static``, ``QuantFormat.QOperator``, opset 13 torch export of
    Linear -> LayerNorm -> Linear -> GELU) writes a decomposed LayerNorm's and GELU's Add / Mul as ``QLinearAdd`` /
    ``QLinearMul`` with quantize / dequantize nodes around the float ones: they were element-wise, identity and generic
    ``ReduceMean`` layers (a BERT: no LayerNorm, no GELU, 10 generic ReduceMeans); now one layer each, 8-bit."""
    import warnings

    from accelsim.workload import layers as L
    from accelsim.workload.io_onnx import load_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = load_onnx(HELDOUT / "quant-qoperator-decomposed-norms.onnx")
    kinds = [(type(layer).__name__, getattr(layer, "func", None)) for layer in graph.layers
             if not isinstance(layer, (L.Input, L.Reshape))]
    assert kinds == [("Linear", None), ("LayerNorm", None), ("Linear", None), ("Activation", "gelu")], kinds
    assert not graph.metadata["onnx"]["generic_ops"] and not graph.metadata["notes"]
    q = graph.metadata["quantization"]
    norm_and_act = [layer.name for layer in graph.layers if isinstance(layer, (L.LayerNorm, L.Activation))]
    assert [q[name]["activation_bits"] for name in norm_and_act] == [8, 8]


def _tiny_onnx(path, opset=17, ir_version=None, dims=(1, 3, 8)):
    """A MatMul of ``x`` (``dims``, batch first) by a constant ``(dims[-1], 4)`` written to ``path``."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((dims[-1], 4), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if ir_version is not None:
        model.ir_version = ir_version
    path.write_bytes(model.SerializeToString())
    return path


def test_an_impossible_opset_or_ir_version_is_refused(tmp_path, run_cli):
    code, _, err = run_cli("stats", "--workload", _tiny_onnx(tmp_path / "o0.onnx", opset=0))  # was: imported, exit 0
    assert code == 2 and "default-domain opset 0; expected an opset of 1 to" in err
    code, _, err = run_cli("stats", "--workload", _tiny_onnx(tmp_path / "ir.onnx", ir_version=99))
    assert code == 2 and "ir_version 99 is newer than" in err and len(err.strip().splitlines()) == 1
    assert run_cli("stats", "--workload", _tiny_onnx(tmp_path / "ok.onnx"))[0] == 0


def test_a_declared_size_past_int32_is_refused_as_input_shape_is(tmp_path, run_cli):
    code, _, err = run_cli("stats", "--workload", _tiny_onnx(tmp_path / "h.onnx", dims=(1, 2**40, 8)))
    assert code == 2 and "dimension 1 is 1,099,511,627,776; expected a size of at most 2^31 - 1" in err


def test_a_fixed_batch_in_the_file_is_noted(tmp_path):
    from accelsim.workload.io_onnx import load_onnx

    graph = load_onnx(_tiny_onnx(tmp_path / "b2.onnx", dims=(2, 3, 8)))  # exported at batch 2: was silent
    assert graph.total_macs == 3 * 8 * 4  # one sample's layers, as documented
    assert any("fixed batch 2" in n and "--batch 2" in n for n in graph.metadata["notes"]), graph.metadata["notes"]
    assert not load_onnx(_tiny_onnx(tmp_path / "b1.onnx")).metadata["notes"]


def test_recurrent_cells_name_their_merged_bias_in_the_params_note():
    torch = __import__("pytest").importorskip("torch")
    from accelsim.workload.io_torch import load_torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(16, 24, num_layers=2, bidirectional=True, batch_first=True)

        def forward(self, x):
            return self.lstm(x)[0]

    torch.manual_seed(0)
    graph = load_torch(Net(), torch.randn(1, 7, 16), exporter="torchscript")
    note = next(n for n in graph.metadata["notes"] if "params" in n)
    # torch: bias_ih + bias_hh a cell (4 cells x 96); the graph: one bias column a cell
    assert "bias_ih + bias_hh" in note and "(384 params fewer)" in note and "position" not in note


# --- docs and the command line --------------------------------------------------------------------------------

def test_validate_prints_the_area_names_only_accepts():
    """``accelsim validate`` printed Deep Compression's rows under ``compression`` where ``--only`` takes ``compress``
    (``--only compression`` exited 2)."""
    from accelsim.compress.validation import checks
    from accelsim.validate import areas

    assert {c.area for c in checks(True)} <= set(areas())
