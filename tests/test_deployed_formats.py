"""Deployed quantization is simulated in its own format, without a recipe (issue 12 item 3).

The ONNX importer records each quantized weight's codes, scales and zero points
(``graph.metadata["quantization"]``); ``CompressedGraph.dense`` turns them into the stored tensor the
hardware models read: int8 QDQ / QOperator weights as per-channel ``LowBit``, MatMulNBits as 4-bit
``GroupQuant`` blocks of 32 with zero points. Also: zeros of a pruned ONNX model as real sparsity, a GPTQ
checkpoint on a Hugging Face config kept as 4-bit blocks (``--weights``), the importer's notes in ``simulate``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import accelsim
from accelsim.compress.compressed import CompressedGraph
from accelsim.workload.zoo import load_workload

DATA = Path(__file__).parent / "data" / "onnx"


def _deployed(name):
    graph = load_workload(DATA / f"{name}.onnx")
    cg = CompressedGraph.dense(graph)
    return graph, [cl for cl in cg if cl.weight is not None]


@pytest.mark.parametrize("name", ["resnet-tiny-qdq", "resnet-tiny-qoperator"])
def test_int8_weights_kept_per_channel(name):
    graph, layers = _deployed(name)
    assert layers, "no deployed quantized weight was kept"
    assert any(cl.activation_bits == 8 for cl in layers)
    for cl in layers:
        q = graph.metadata["quantization"][cl.name]
        assert cl.weight_bits == 8 and cl.activation_bits in (8, None)
        assert cl.view.layout == "lowbit" and cl.view.value_bits == 8
        rows, cols = cl.layer.weight_matrix_shape
        # payload 8 bits per weight, one 32-bit scale per output channel, 8 bits per non-zero zero point
        expected = rows * cols * 8 + rows * 32 + 8 * int(np.count_nonzero(q["zero_point"]))
        assert cl.weight_storage_bits() == expected
        # the stored codes dequantize to the float weights the importer gives
        np.testing.assert_allclose(cl.weight.to_dense(), cl.weight_matrix, rtol=0, atol=1e-6)


def test_matmulnbits_kept_as_4bit_blocks():
    graph, layers = _deployed("llama-tiny-matmulnbits")
    assert layers
    for cl in layers:
        view = cl.view
        assert cl.weight_bits == 4 and view.value_bits == 4
        assert view.group_size == 32 and view.zero_point_bits == 4
        rows, cols = cl.layer.weight_matrix_shape
        scale_bits = view.scale_bits
        assert cl.weight_storage_bits() == rows * cols * 4 + rows * (cols // 32) * (scale_bits + 4)
        np.testing.assert_allclose(cl.weight.to_dense(), cl.weight_matrix, rtol=0, atol=1e-6)


def test_deployed_format_changes_the_simulated_storage():
    """Simulated without a recipe: the 4-bit model stores about 5.1 bits per weight, not the array's 8."""
    graph = load_workload(DATA / "llama-tiny-matmulnbits.onnx")
    deployed = accelsim.simulate("edge-32x32", graph)
    graph.metadata.pop("quantization")
    as_float = accelsim.simulate("edge-32x32", graph)
    assert deployed.total["weight_storage_bits"] < 0.7 * as_float.total["weight_storage_bits"]


def _mlp_onnx(density: float, seed: int = 0):
    """A two-layer MLP exported to ONNX with ``1 - density`` of each weight zeroed by magnitude (a pruned model)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1, w2 = rng.standard_normal((256, 128)).astype(np.float32), rng.standard_normal((128, 16)).astype(np.float32)
    for w in (w1, w2):
        w[np.abs(w) < np.quantile(np.abs(w), 1.0 - density)] = 0.0
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"), helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
                              [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("arch", ["edge-32x32-skip", "a100-80gb"])
def test_zeros_of_a_pruned_onnx_model_are_real_sparsity(arch):
    """No recipe: the zeros an exported pruned model carries halve the effective MACs the hardware sees."""
    from accelsim.workload.onnx import load_onnx

    dense = accelsim.simulate(arch, load_onnx(_mlp_onnx(1.0)))
    pruned = accelsim.simulate(arch, load_onnx(_mlp_onnx(0.5)))
    assert pruned.total["macs"] == dense.total["macs"] == 256 * 128 + 128 * 16
    assert pruned.total["effective_macs"] == dense.total["macs"] // 2
    assert dense.total["effective_macs"] == dense.total["macs"]


TINY = {"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 4,
        "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 10, "max_position_embeddings": 64}


def _write_safetensors(path, tensors: dict) -> None:
    """A .safetensors file: u64 header length, JSON header {name: dtype, shape, data_offsets}, data."""
    import json
    import struct

    header, blobs, offset = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _pack4(codes: np.ndarray) -> np.ndarray:
    """Unsigned 4-bit codes (..., n) packed 8 per int32 word along the last axis, lowest bits first."""
    c = codes.reshape(*codes.shape[:-1], -1, 8).astype(np.uint32)
    return np.bitwise_or.reduce(c << (np.arange(8, dtype=np.uint32) * 4), axis=-1).view(np.int32)


def write_gptq_checkpoint(folder, graph, group: int = 8, seed: int = 3) -> dict:
    """A GPTQ int4 checkpoint of ``graph``'s decoder linears (random codes, zero points, fp16 scales; the other
    linears and the embeddings float32) and its config.json in ``folder``: ``{layer: (codes, zeros, scales)}``, the
    scales ``(K / group, N)`` as stored."""
    import json

    rng = np.random.default_rng(seed)
    tensors, packed = {}, {}
    for layer in graph.layers:
        if layer.op == "linear" and ".layers." in layer.name:
            n, k = layer.weight_shape
            codes = rng.integers(0, 16, size=(n, k), dtype=np.uint8)
            zeros = rng.integers(1, 16, size=(n, k // group), dtype=np.uint8)
            scales = rng.uniform(0.01, 0.1, size=(k // group, n)).astype(np.float16)
            tensors[f"{layer.name}.qweight"] = ("I32", _pack4(codes).T.copy())  # (K / 8, N)
            tensors[f"{layer.name}.qzeros"] = ("I32", _pack4(((zeros.T.astype(np.int32) - 1) & 15).astype(np.uint8)))  # v1: zero - 1
            tensors[f"{layer.name}.scales"] = ("F16", scales)
            packed[layer.name] = (codes, zeros, scales)
        elif layer.op in ("linear", "embedding"):
            tensors[f"{layer.name}.weight"] = ("F32", rng.standard_normal(layer.weight_shape).astype(np.float32))
    _write_safetensors(folder / "model.safetensors", tensors)
    (folder / "config.json").write_text(json.dumps({**TINY, "quantization_config": {"quant_method": "gptq", "bits": 4,
                                                                                    "group_size": group}}))
    return packed


def test_gptq_checkpoint_kept_packed_on_a_hugging_face_config(tmp_path, run_cli):
    """--weights: a GPTQ int4 safetensors checkpoint on a Llama config is costed as 4-bit blocks, not float."""
    from accelsim.workload.hf import load_hf
    from accelsim.workload.weights import load_checkpoint

    graph = load_hf(TINY, phase="decode", context=8)
    group = 8
    packed = [(name, codes, zeros) for name, (codes, zeros, _) in write_gptq_checkpoint(tmp_path, graph, group).items()]
    out = load_checkpoint(graph, tmp_path / "model.safetensors")
    cg = CompressedGraph.dense(out)
    for name, codes, zeros in packed:
        cl = cg.layers[name]
        assert name not in out.weights  # no float copy of a packed layer
        assert cl.weight_bits == 4 and cl.view.value_bits == 4 and cl.view.group_size == group
        np.testing.assert_array_equal(out.metadata["quantization"][name]["codes"], codes)
        np.testing.assert_array_equal(out.metadata["quantization"][name]["zero_point"], zeros)
        rows, cols = cl.layer.weight_matrix_shape
        assert cl.weight_storage_bits() == rows * cols * 4 + rows * (cols // group) * (cl.view.scale_bits + 4)
    assert "model.embed_tokens" in out.weights
    code, text, err = run_cli("stats", "--workload", tmp_path / "config.json", "--phase", "decode", "--context", "8",
                              "--weights", tmp_path / "model.safetensors")
    assert code == 0 and f"note: {len(packed)} layer(s) kept in their packed format (int4, gptq)" in text
    code, text, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", tmp_path / "config.json", "--phase",
                              "decode", "--context", "8", "--weights", tmp_path / "model.safetensors")
    assert code == 0 and "workload import notes:" in text and "kept in their packed format (int4, gptq)" in text
    code, _, err = run_cli("stats", "--workload", "resnet18", "--weights", tmp_path / "model.safetensors")
    assert code == 2 and err.strip().count("\n") == 0 and "--weights applies to Hugging Face configs" in err
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "model.safetensors").read_bytes()[:-100])
    code, _, err = run_cli("stats", "--workload", tmp_path / "config.json", "--phase", "decode", "--context", "8",
                           "--weights", tmp_path / "cut.safetensors")
    assert code == 2 and err.strip().count("\n") == 0 and "truncated" in err


def test_simulate_prints_the_importers_notes(run_cli):
    code, text, _ = run_cli("simulate", "--arch", "a100-80gb", "--workload", DATA / "bert-tiny-dynamic-int8.onnx")
    assert code == 0 and "workload import notes:" in text
    assert "[i1] DynamicQuantizeLinear: activations quantized to 8 bits at run time" in text


def test_compress_takes_the_checkpoints_values(tmp_path, run_cli):
    """``compress --weights``: the recipe runs on the checkpoint's values (a layer stored half zero keeps half its
    weights), not on synthesized ones; ``--weights`` on a workload that is no Hugging Face config is one line."""
    import json

    from accelsim.workload.hf import load_hf

    config = {**TINY, "max_position_embeddings": 256}  # (the default prompt, 128 tokens, fits)
    graph = load_hf(config)
    rng = np.random.default_rng(5)
    tensors, target = {}, None
    for layer in graph.layers:
        if layer.op in ("linear", "embedding"):
            w = rng.uniform(0.5, 1.0, size=layer.weight_shape).astype(np.float32)  # no value int8 rounds to zero
            if target is None and layer.op == "linear":
                target = layer.name
                w[: w.shape[0] // 2] = 0.0
            tensors[f"{layer.name}.weight"] = ("F32", w)
    _write_safetensors(tmp_path / "model.safetensors", tensors)
    (tmp_path / "config.json").write_text(json.dumps(config))
    code, text, err = run_cli("compress", "--workload", tmp_path, "--weights", tmp_path / "model.safetensors",
                              "--recipe", "int8", "--format", "json")
    assert code == 0, err
    row = next(r for r in json.loads(text)["layers"] if r["name"] == target)
    assert row["nnz"] == row["params"] // 2 and row["weight_bits"] == 8
    code, text, _ = run_cli("compress", "--workload", tmp_path, "--recipe", "int8", "--format", "json")
    assert code == 0 and next(r for r in json.loads(text)["layers"] if r["name"] == target)["nnz"] > row["params"] * 0.9
    code, _, err = run_cli("compress", "--workload", "lenet5", "--weights", tmp_path / "model.safetensors", "--recipe", "int8")
    assert code == 2 and err.strip().count("\n") == 0 and "--weights applies to Hugging Face configs" in err
