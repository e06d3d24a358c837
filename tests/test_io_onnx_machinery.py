"""ONNX importer on ONNX's machinery: external data, cycles, batch fixed up front, generic ops, deployed
quantization kept (QDQ, QOperator, MatMulNBits), fp16, and onnxruntime's com.microsoft contrib ops."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload.onnx import load_onnx  # noqa: E402
from accelsim.workload.onnx.quant import unpack_nbits  # noqa: E402

RNG = np.random.default_rng(7)
FLOAT = TensorProto.FLOAT
MS = "com.microsoft"


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _model(nodes, inputs, outputs, inits=(), opset=17, ms=False):
    graph = helper.make_graph(nodes, "test", [helper.make_tensor_value_info(n, t, s) for n, s, t in inputs],
                              [helper.make_tensor_value_info(n, t, s) for n, s, t in outputs], initializer=list(inits))
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(MS, 1)] if ms else [])
    return helper.make_model(graph, opset_imports=opsets)


def _fc(w_name="w"):
    return _model([helper.make_node("MatMul", ["x", w_name], ["y"], name="fc")], [("x", [1, 8], FLOAT)],
                  [("y", [1, 4], FLOAT)], [_init(w_name, _rand(8, 4))])


# --- reading: external data, cycles, order ----------------------------------------------------------------

def test_external_data_inside_the_folder_is_read(tmp_path):
    model = _fc()
    w = numpy_helper.to_array(model.graph.initializer[0])
    onnx.save(model, str(tmp_path / "fc.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="fc.onnx.data", size_threshold=0)
    assert (tmp_path / "fc.onnx.data").is_file()
    graph = load_onnx(tmp_path / "fc.onnx")
    np.testing.assert_array_equal(graph.weights["fc"], w.T)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location, run_cli):
    inner = tmp_path / "model"
    inner.mkdir()
    (tmp_path / "outside.bin").write_bytes(np.ones(32, np.float32).tobytes())
    model = _fc()
    init = model.graph.initializer[0]
    init.ClearField("raw_data")
    init.ClearField("float_data")
    init.data_location = TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", location
    path = inner / "fc.onnx"
    onnx.save(model, str(path))
    with pytest.raises(WorkloadError, match="outside the model's folder") as info:
        load_onnx(path)
    assert "\n" not in str(info.value) and "'w'" in str(info.value)
    code, _, err = run_cli("stats", "--workload", path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "outside the model's folder" in err


def test_constant_folding_keeps_onnx_float_semantics_without_numpy_warnings():
    """Log(0) is -inf in ONNX, and exports compute such values and discard them (T5's relative-position
    buckets before a Where): folding them is not a fault, so NumPy's RuntimeWarnings do not reach the user."""
    import warnings

    c = helper.make_tensor("c", FLOAT, [4], [0.0, 1.0, 2.0, 4.0])
    nodes = [helper.make_node("Log", ["c"], ["l"]), helper.make_node("Cast", ["l"], ["li"], to=TensorProto.INT64),
             helper.make_node("Cast", ["li"], ["lf"], to=FLOAT), helper.make_node("Add", ["x", "lf"], ["y"])]
    model = _model(nodes, [("x", [1, 4], FLOAT)], [("y", [1, 4], FLOAT)], [c])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = load_onnx(model)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    assert graph.layers[-1].output_shape == (4,)


def test_cycle_is_refused_and_unsorted_nodes_are_sorted():
    cyclic = _model([helper.make_node("Add", ["x", "b"], ["a"], name="add_a"), helper.make_node("Relu", ["a"], ["b"], name="relu_b")],
                    [("x", [1, 4], FLOAT)], [("a", [1, 4], FLOAT)])
    with pytest.raises(WorkloadError, match="the graph has a cycle through node 'add_a' \\(Add\\)"):
        load_onnx(cyclic)
    unsorted = _model([helper.make_node("MatMul", ["r", "w"], ["y"], name="fc"), helper.make_node("Relu", ["x"], ["r"], name="relu")],
                      [("x", [1, 8], FLOAT)], [("y", [1, 4], FLOAT)], [_init("w", _rand(8, 4))])
    graph = load_onnx(unsorted)
    assert graph.inputs_of("fc") == ["relu"]


def test_malformed_graphs_onnxruntime_refuses_are_refused():
    """A twenty-first held-out round imported graphs onnxruntime refuses: a tensor written twice (not SSA), a
    default-domain opset newer than onnx knows, a Conv whose weight rank does not match its input's."""
    twice = _model([helper.make_node("Relu", ["x"], ["y"], name="a"), helper.make_node("Sigmoid", ["x"], ["y"], name="b")],
                   [("x", [1, 4], FLOAT)], [("y", [1, 4], FLOAT)])
    with pytest.raises(WorkloadError, match="tensor 'y' is written by node 'b' \\(Sigmoid\\) and by node 'a' \\(Relu\\)"):
        load_onnx(twice)
    shadow = _model([helper.make_node("Relu", ["x"], ["w"], name="r")], [("x", [1, 4], FLOAT)], [("w", [1, 4], FLOAT)],
                    [_init("w", _rand(1, 4))])
    with pytest.raises(WorkloadError, match="tensor 'w' is written by node 'r' \\(Relu\\) and by a graph input or initializer"):
        load_onnx(shadow)
    newest = onnx.defs.onnx_opset_version()
    with pytest.raises(WorkloadError, match=f"default-domain opset {newest + 1} is newer than the newest"):
        load_onnx(_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [("x", [1, 4], FLOAT)],
                         [("y", [1, 4], FLOAT)], opset=newest + 1))
    bad_conv = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], [("x", [1, 3, 8, 8], FLOAT)],
                      [("y", [1, 4, 8, 8], FLOAT)], [_init("w", _rand(4, 3))])
    with pytest.raises(WorkloadError, match="node 'c' \\(Conv\\): malformed: weight \\[4, 3\\] on input \\[1, 3, 8, 8\\]"):
        load_onnx(bad_conv)


def test_constant_node_onnx_finds_invalid_is_generic_with_onnx_verdict():
    """TorchScript writes Mamba's repeat_interleave as a Tile with (1, 1) repeats, which ONNX forbids and onnxruntime
    refuses: onnx.reference cannot evaluate it, so it is a generic layer whose note carries ONNX's own verdict
    (strict shape inference of the node alone); under strict, refused. A valid node that folds gets no such note."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"], name="shape"),
             helper.make_node("Gather", ["shape", "one"], ["len"], axis=0, name="len"),
             helper.make_node("Div", ["len", "c16"], ["n"], name="n"),  # [1], known once shapes are fixed
             helper.make_node("Mod", ["len", "c16"], ["rem"], name="rem"),
             helper.make_node("Sub", ["c16_2d", "rem"], ["reps"], name="reps"),  # [[16]] or [16]
             helper.make_node("Tile", ["n", "reps"], ["tiled"], name="tile"),
             helper.make_node("Cast", ["tiled"], ["tiled_f"], to=FLOAT, name="cast"),
             helper.make_node("ReduceSum", ["tiled_f"], ["s"], keepdims=1, name="sum"),
             helper.make_node("MatMul", ["x", "w"], ["xw"], name="fc"),
             helper.make_node("Mul", ["xw", "s"], ["y"], name="scale")]
    inits = [_init("one", np.array([1], np.int64)), _init("c16", np.array([16], np.int64)), _init("w", _rand(8, 8))]
    bad = _model(nodes, [("x", [1, 16, 8], FLOAT)], [("y", [1, 16, 8], FLOAT)],
                 inits + [_init("c16_2d", np.array([[16]], np.int64))])
    graph = load_onnx(bad)
    note = next(n for n in graph.metadata["notes"] if "node 'tile' (Tile)" in n and "cannot evaluate" in n)
    assert "ONNX finds the node invalid" in note and "'Repeats' input must be 1D" in note
    assert graph.metadata["onnx"]["generic_ops"].get("Tile") == 1
    with pytest.raises(WorkloadError, match="node 'tile' \\(Tile\\): cannot evaluate constant op"):
        load_onnx(bad, strict=True)
    good = load_onnx(_model(nodes, [("x", [1, 16, 8], FLOAT)], [("y", [1, 16, 8], FLOAT)],
                            inits + [_init("c16_2d", np.array([16], np.int64))]))
    assert not any("invalid" in n for n in good.metadata["notes"]) and "Tile" not in good.metadata["onnx"]["generic_ops"]


def test_fixed_batch_larger_than_one_is_kept_without_reimport():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["c"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "wfc"], ["y"], name="fc", transB=1)]
    model = _model(nodes, [("x", [4, 3, 6, 6], FLOAT)], [("y", [4, 5], FLOAT)],
                   [_init("w", _rand(2, 3, 3, 3)), _init("wfc", _rand(5, 72))])
    graph = load_onnx(model)
    assert graph.metadata["onnx"]["batch"] == 4 and graph.layer("conv").output_shape == (2, 6, 6)
    assert graph.layer("fc").gemm(1).as_tuple() == (1, 5, 72, 1)


# --- folding by onnx.reference, generic layers -----------------------------------------------------------------

def test_constant_subgraphs_fold_with_onnx_reference():
    """Trilu, CumSum and a GatherElements on constants fold (no hand-written kernels for them)."""
    nodes = [helper.make_node("Trilu", ["ones"], ["tri"], name="tri"),
             helper.make_node("CumSum", ["tri", "axis"], ["cs"], name="cs"),
             helper.make_node("GatherElements", ["cs", "idx"], ["ge"], name="ge", axis=1),
             helper.make_node("Add", ["x", "ge"], ["y"], name="add")]
    inits = [_init("ones", np.ones((4, 4), np.float32)), _init("axis", np.int64(0)), _init("idx", np.zeros((4, 4), np.int64))]
    graph = load_onnx(_model(nodes, [("x", [1, 4, 4], FLOAT)], [("y", [1, 4, 4], FLOAT)], inits))
    assert [layer.op for layer in graph.compute_layers()] == ["identity"]


def test_constant_products_are_folded_and_their_macs_reported():
    """A position-bias style table computed from constants (MatMul, Gemm, Conv of initializers) folds at import,
    as a runtime folds it: no layer, its MACs reported apart (FlopCounterMode counts them at every call)."""
    nodes = [helper.make_node("MatMul", ["coords", "w1"], ["h"], name="cpb1"),              # (15, 2) @ (2, 32)
             helper.make_node("Gemm", ["h", "w2"], ["bias"], name="cpb2", transB=1),     # (15, 32) x (4, 32)^T
             helper.make_node("Conv", ["img", "k"], ["c"], name="cconv"),               # (1, 2, 5, 5) * (3, 2, 3, 3)
             helper.make_node("ReduceSum", ["c"], ["cs"], name="rs", keepdims=0),
             helper.make_node("MatMul", ["x", "bias"], ["y0"], name="fc"),               # (1, 15) @ (15, 4)
             helper.make_node("Add", ["y0", "cs"], ["y"], name="add")]
    inits = [_init("coords", _rand(15, 2)), _init("w1", _rand(2, 32)), _init("w2", _rand(4, 32)),
             _init("img", _rand(1, 2, 5, 5)), _init("k", _rand(3, 2, 3, 3))]
    graph = load_onnx(_model(nodes, [("x", [1, 15], FLOAT)], [("y", [1, 4], FLOAT)], inits))
    assert [layer.op for layer in graph.compute_layers()] == ["linear", "identity"]
    assert graph.metadata["onnx"]["folded_macs"] == {"Conv": 3 * 3 * 3 * 2 * 9, "Gemm": 15 * 4 * 32, "MatMul": 15 * 32 * 2}
    assert any("evaluated once at import" in n for n in graph.metadata["notes"])
    assert load_onnx(_fc()).metadata["onnx"]["folded_macs"] == {}


def test_generic_layer_carries_sizes_and_strict_refuses():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Resize", ["c", "", "scales"], ["r"], name="up", mode="nearest"),
             helper.make_node("TopK", ["r", "k"], ["vals", "idx"], name="topk", axis=-1)]
    inits = [_init("w", _rand(4, 3, 1, 1)), _init("scales", np.array([1, 1, 2, 2], np.float32)), _init("k", np.array([3], np.int64))]
    model = _model(nodes, [("x", [1, 3, 5, 5], FLOAT)], [("vals", [1, 4, 10, 3], FLOAT)], inits, opset=13)
    graph = load_onnx(model)
    up = graph.layer("up")
    assert up.op == "generic" and up.op_type == "Resize" and up.input_shapes == ((4, 5, 5),)
    assert up.output_shape == (4, 10, 10) and up.bytes_moved == (100 + 400) * 4 and up.macs == 0
    assert graph.layer("topk").output_shapes == ((4, 10, 3), (4, 10, 3))
    assert graph.metadata["onnx"]["generic_ops"] == {"Resize": 1, "TopK": 1}
    with pytest.raises(WorkloadError, match="node 'up' has unsupported op type 'Resize'"):
        load_onnx(model, strict=True)


def test_generic_layers_simulate_as_not_mapped_or_traffic():
    from accelsim.simulate import simulate

    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="fc"), helper.make_node("Shrink", ["m"], ["y"], name="shrink")]
    graph = load_onnx(_model(nodes, [("x", [1, 8], FLOAT)], [("y", [1, 4], FLOAT)], [_init("w", _rand(8, 4))]))
    systolic = {r.name: r for r in simulate("edge-32x32", graph).layers}
    assert systolic["shrink"].extra["mapped"] is False and systolic["shrink"].cycles == 0 and systolic["fc"].cycles > 0
    gpu = {r.name: r for r in simulate("a100-40gb", graph).layers}
    assert gpu["shrink"].op == "generic" and gpu["shrink"].cycles > 0 and gpu["shrink"].dram_read_bytes > 0  # streamed traffic


# --- deployed quantization ---------------------------------------------------------------------------------------

def test_qdq_int8_per_channel_conv_keeps_bits_scales_and_activation_bits():
    wq = RNG.integers(-127, 128, size=(4, 3, 1, 1)).astype(np.int8)
    scale = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], name="deq_w", axis=0),
             helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q_x"),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq_x"),
             helper.make_node("Conv", ["xd", "w"], ["y"], name="conv")]
    inits = [_init("wq", wq), _init("ws", scale), _init("wz", np.zeros(4, np.int8)), _init("s", np.float32(0.05)),
             _init("z", np.uint8(128))]
    graph = load_onnx(_model(nodes, [("x", [1, 3, 4, 4], FLOAT)], [("y", [1, 4, 4, 4], FLOAT)], inits, opset=13))
    q = graph.metadata["quantization"]["conv"]
    assert q["weight_bits"] == 8 and q["signed"] and q["granularity"] == "per_channel" and q["activation_bits"] == 8
    np.testing.assert_array_equal(q["codes"], wq.reshape(4, 3))
    np.testing.assert_allclose(q["scale"], scale)
    np.testing.assert_allclose(graph.weights["conv"], wq.astype(np.float32) * scale[:, None, None, None], rtol=1e-6)


def test_qdq_blocked_int4_matmul_weight():
    k, n, block = 8, 3, 4
    wq = RNG.integers(-8, 8, size=(k, n)).astype(np.int8)
    scale = RNG.uniform(0.1, 1.0, size=(k // block, n)).astype(np.float32)
    wq_init = helper.make_tensor("wq", TensorProto.INT4, [k, n], wq.ravel().tolist())
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"], name="dq", axis=0, block_size=block),
             helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")]
    graph = load_onnx(_model(nodes, [("x", [1, 5, k], FLOAT)], [("y", [1, 5, n], FLOAT)], [wq_init, _init("ws", scale)], opset=21))
    q = graph.metadata["quantization"]["fc"]
    assert q["weight_bits"] == 4 and q["granularity"] == "blocked" and q["block_size"] == block
    assert q["scale"].shape == (n, k // block)
    np.testing.assert_allclose(q["scale"], scale.T)
    np.testing.assert_array_equal(q["codes"], wq.T)
    expected = wq.astype(np.float32) * np.repeat(scale, block, axis=0)
    np.testing.assert_allclose(graph.weights["fc"], expected.T, rtol=1e-6)


def test_qoperator_ops():
    wq = RNG.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    bq = RNG.integers(-100, 100, size=4).astype(np.int32)
    mq = RNG.integers(-127, 128, size=(4, 5)).astype(np.int8)
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="quant"),
             helper.make_node("QLinearConv", ["xq", "xs", "xz", "wq", "ws", "wz", "ys", "yz", "bq"], ["c"], name="qconv",
                              pads=[1, 1, 1, 1]),
             helper.make_node("QLinearGlobalAveragePool", ["c", "ys", "yz", "ys", "yz"], ["p"], name="qgap", domain=MS),
             helper.make_node("Reshape", ["p", "shape"], ["f"], name="flat"),
             helper.make_node("QLinearMatMul", ["f", "ys", "yz", "mq", "ms", "mz", "os", "oz"], ["y"], name="qfc"),
             helper.make_node("DequantizeLinear", ["y", "os", "oz"], ["out"], name="dequant")]
    inits = [_init("xs", np.float32(0.1)), _init("xz", np.uint8(128)), _init("wq", wq), _init("ws", np.float32(0.02)),
             _init("wz", np.int8(0)), _init("ys", np.float32(0.2)), _init("yz", np.uint8(128)), _init("bq", bq),
             _init("shape", np.array([1, 4], np.int64)), _init("mq", mq), _init("ms", np.float32(0.03)),
             _init("mz", np.int8(0)), _init("os", np.float32(0.5)), _init("oz", np.uint8(128))]
    graph = load_onnx(_model(nodes, [("x", [1, 3, 6, 6], FLOAT)], [("out", [1, 5], FLOAT)], inits, opset=13, ms=True))
    conv, fc = graph.layer("qconv"), graph.layer("qfc")
    assert conv.op == "conv2d" and conv.bias and conv.output_shape == (4, 6, 6) and fc.op == "linear"
    np.testing.assert_allclose(graph.weights["qconv"], wq.astype(np.float32) * 0.02, rtol=1e-6)
    np.testing.assert_allclose(graph.biases["qconv"], bq * 0.1 * 0.02, rtol=1e-6)
    qc, qf = graph.metadata["quantization"]["qconv"], graph.metadata["quantization"]["qfc"]
    assert qc["weight_bits"] == 8 and qc["granularity"] == "per_tensor" and qc["activation_bits"] == 8
    assert qf["weight_bits"] == 8 and qf["activation_bits"] == 8
    assert graph.layer("qgap").op == "pool" and graph.layer("qgap").global_pool
    assert graph.metadata["quantization"]["qgap"]["activation_bits"] == 8


def test_dynamic_int8_matmul_integer():
    wq = RNG.integers(-127, 128, size=(8, 6)).astype(np.int8)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"], name="dql"),
             helper.make_node("MatMulInteger", ["xq", "wq", "xz", "wz"], ["acc"], name="mmi"),
             helper.make_node("Cast", ["acc"], ["accf"], name="cast", to=FLOAT),
             helper.make_node("Mul", ["xs", "ws"], ["scale"], name="scale"),
             helper.make_node("Mul", ["accf", "scale"], ["y"], name="rescale")]
    inits = [_init("wq", wq), _init("wz", np.int8(0)), _init("ws", np.float32(0.01))]
    graph = load_onnx(_model(nodes, [("x", [1, 3, 8], FLOAT)], [("y", [1, 3, 6], FLOAT)], inits, opset=13))
    mmi = graph.layer("mmi")
    assert mmi.op == "linear" and mmi.gemm(1).as_tuple() == (3, 6, 8, 1)
    q = graph.metadata["quantization"]["mmi"]
    assert q["weight_bits"] == 8 and q["activation_bits"] == 8
    assert any("DynamicQuantizeLinear" in n for n in graph.metadata["notes"])


def _pack_nbits(codes, bits):
    per = 8 // bits
    codes = codes.reshape(*codes.shape[:-1], -1, per).astype(np.uint8)
    return np.bitwise_or.reduce(codes << (np.arange(per, dtype=np.uint8) * bits), axis=-1).astype(np.uint8)


def test_matmul_nbits_4bit_blocks():
    k, n, block = 64, 6, 32
    blocks = k // block
    codes = RNG.integers(0, 16, size=(n, blocks, block)).astype(np.uint8)
    packed = _pack_nbits(codes, 4)  # (n, blocks, block / 2)
    assert np.array_equal(unpack_nbits(packed, 4, block), codes)
    scales = RNG.uniform(0.01, 0.1, size=(n * blocks,)).astype(np.float32)
    zps = RNG.integers(0, 16, size=(n, blocks)).astype(np.uint8)
    zp_packed = _pack_nbits(zps, 4).reshape(-1)
    node = helper.make_node("MatMulNBits", ["x", "B", "scales", "zp"], ["y"], name="q4", domain=MS, K=k, N=n, bits=4,
                            block_size=block)
    graph = load_onnx(_model([node], [("x", [1, 7, k], FLOAT)], [("y", [1, 7, n], FLOAT)],
                             [_init("B", packed), _init("scales", scales), _init("zp", zp_packed)], ms=True))
    layer = graph.layer("q4")
    assert layer.op == "linear" and layer.gemm(1).as_tuple() == (7, n, k, 1)
    q = graph.metadata["quantization"]["q4"]
    assert q["weight_bits"] == 4 and q["granularity"] == "blocked" and q["block_size"] == block
    np.testing.assert_array_equal(q["codes"], codes.reshape(n, k))
    np.testing.assert_array_equal(q["zero_point"], zps)
    expected = (codes.astype(np.float64) - zps[:, :, None]) * scales.reshape(n, blocks)[:, :, None]
    np.testing.assert_allclose(graph.weights["q4"], expected.reshape(n, k), rtol=1e-6)


def test_fp16_weights_keep_their_type():
    w = _rand(8, 4).astype(np.float16)
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], [("x", [1, 8], TensorProto.FLOAT16)],
                   [("y", [1, 4], TensorProto.FLOAT16)], [_init("w", w)])
    graph = load_onnx(model)
    assert graph.metadata["quantization"]["fc"] == {"format": "float16", "weight_bits": 16}


def test_fp16_export_on_an_int8_array_warns_that_its_stored_weights_run_wider(tmp_path):
    """A workload's own 16-bit weights on an 8-bit array run in two passes: the result says so, with a fix,
    as it does when a recipe raises the precision; a bf16-native device and an fp32 export stay silent."""
    from accelsim.simulate import simulate

    for dtype, name in ((np.float16, "fp16.onnx"), (np.float32, "fp32.onnx")):
        w = _rand(64, 32).astype(dtype)
        elem = TensorProto.FLOAT16 if dtype == np.float16 else FLOAT
        onnx.save(_model([helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], [("x", [1, 64], elem)],
                         [("y", [1, 32], elem)], [_init("w", w)]), str(tmp_path / name))
    half = simulate("scalesim-32x32-os", str(tmp_path / "fp16.onnx"))
    full = simulate("scalesim-32x32-os", str(tmp_path / "fp32.onnx"))
    stored = [w for w in half.warnings if "as the workload stores them" in w]
    assert len(stored) == 1 and "16 bits" in stored[0] and "quantize: {bits: 8}" in stored[0], half.warnings
    assert half.total["cycles"] > full.total["cycles"]
    assert not [w for w in full.warnings if "bits" in w]
    assert not [w for w in simulate("tpu-v5e", str(tmp_path / "fp16.onnx")).warnings if "stores them" in w]


def test_pruned_initializer_zeros_are_kept():
    w = _rand(8, 4)
    w[::2] = 0.0
    graph = load_onnx(_model([helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], [("x", [1, 8], FLOAT)],
                             [("y", [1, 4], FLOAT)], [_init("w", w)]))
    assert np.count_nonzero(graph.weights["fc"]) == 16


# --- com.microsoft contrib ops ------------------------------------------------------------------------------------

def test_contrib_attention_skip_layernorm_fast_gelu():
    d, heads, s = 16, 4, 6
    nodes = [helper.make_node("Attention", ["x", "wqkv", "bqkv"], ["att"], name="attn", domain=MS, num_heads=heads),
             helper.make_node("SkipLayerNormalization", ["att", "x", "g", "b"], ["ln", "", "", "sum"], name="sln", domain=MS),
             helper.make_node("MatMul", ["ln", "w1"], ["h"], name="ff1"),
             helper.make_node("FastGelu", ["h", "b1"], ["a"], name="gelu", domain=MS)]
    inits = [_init("wqkv", _rand(d, 3 * d)), _init("bqkv", _rand(3 * d)), _init("g", np.ones(d, np.float32)),
             _init("b", np.zeros(d, np.float32)), _init("w1", _rand(d, 32)), _init("b1", _rand(32))]
    graph = load_onnx(_model(nodes, [("x", [1, s, d], FLOAT)], [("a", [1, s, 32], FLOAT)], inits, ms=True))
    assert graph.layer("attn").op == "linear" and graph.layer("attn").gemm(1).as_tuple() == (s, 3 * d, d, 1)
    matmuls = [layer.gemm(1).as_tuple() for layer in graph.compute_layers() if layer.op == "matmul"]
    assert matmuls == [(s, s, d // heads, heads), (s, d // heads, s, heads)]
    assert graph.layer("sln/add").op == "eltwise" and graph.layer("sln").op == "layernorm"
    assert graph.layer("gelu").func == "gelu"
    assert graph.total_macs == s * 3 * d * d + 2 * heads * s * s * (d // heads) + s * d * 32
    assert not graph.metadata["onnx"]["generic_ops"]


def test_contrib_group_query_attention_with_past_kv():
    heads, kv_heads, d, s, past = 8, 2, 4, 1, 5
    nodes = [helper.make_node("GroupQueryAttention", ["q", "k", "v", "pk", "pv", "seqlens", "total"], ["o", "pko", "pvo"],
                              name="gqa", domain=MS, num_heads=heads, kv_num_heads=kv_heads)]
    inputs = [("q", [1, s, heads * d], FLOAT), ("k", [1, s, kv_heads * d], FLOAT), ("v", [1, s, kv_heads * d], FLOAT),
              ("pk", [1, kv_heads, past, d], FLOAT), ("pv", [1, kv_heads, past, d], FLOAT)]
    inits = [_init("seqlens", np.array([past], np.int32)), _init("total", np.int32(past + s))]
    graph = load_onnx(_model(nodes, inputs, [("o", [1, s, heads * d], FLOAT), ("pko", [1, kv_heads, past + s, d], FLOAT)],
                             inits, ms=True))
    matmuls = [layer for layer in graph.compute_layers() if layer.op == "matmul"]
    assert sum(m.macs for m in matmuls) == 2 * heads * s * (past + s) * d
    assert graph.layer("gqa/k_present").output_shape == (kv_heads, past + s, d)


def test_contrib_embed_layernorm_and_mha():
    vocab, d, s, heads = 30, 8, 5, 2
    nodes = [helper.make_node("EmbedLayerNormalization", ["ids", "seg", "word", "pos", "segtab", "g", "b"], ["e", "mask"],
                              name="emb", domain=MS),
             helper.make_node("MatMul", ["e", "wq"], ["q"], name="q"), helper.make_node("MatMul", ["e", "wk"], ["k"], name="k"),
             helper.make_node("MatMul", ["e", "wv"], ["v"], name="v"),
             helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["o"], name="mha", domain=MS, num_heads=heads)]
    inits = [_init("word", _rand(vocab, d)), _init("pos", _rand(16, d)), _init("segtab", _rand(2, d)),
             _init("g", np.ones(d, np.float32)), _init("b", np.zeros(d, np.float32)), _init("wq", _rand(d, d)),
             _init("wk", _rand(d, d)), _init("wv", _rand(d, d))]
    inputs = [("ids", [1, s], TensorProto.INT32), ("seg", [1, s], TensorProto.INT32)]
    graph = load_onnx(_model(nodes, inputs, [("o", [1, s, d], FLOAT)], inits, ms=True))
    assert graph.layer("emb/word").op == "embedding" and graph.layer("emb").op == "layernorm"
    assert [m.gemm(1).as_tuple() for m in graph.compute_layers() if m.op == "matmul"] == [(s, s, 4, 2), (s, 4, s, 2)]
    assert graph.layer("mha/merge").output_shape == (s, d)


@pytest.mark.parametrize("op, attrs, message", [
    ("MultiHeadAttention", {"num_heads": 0}, "num_heads must be a positive head count; got 0"),
    ("MultiHeadAttention", {"num_heads": -2}, "num_heads must be a positive head count; got -2"),
    ("GroupQueryAttention", {"num_heads": 2, "kv_num_heads": 0}, "kv_num_heads must be a positive head count; got 0"),
])
def test_contrib_attention_head_counts_checked(op, attrs, message):
    """A fused attention node whose head counts are not positive is a malformed node (one line), not a division by zero."""
    nodes = [helper.make_node(op, ["q", "k", "v"], ["o"], name="att", domain=MS, **attrs)]
    inputs = [(n, [1, 4, 8], FLOAT) for n in ("q", "k", "v")]
    with pytest.raises(WorkloadError, match=f"node 'att' \\({op}\\): attribute {message}"):
        load_onnx(_model(nodes, inputs, [("o", [1, 4, 8], FLOAT)], ms=True))


@pytest.mark.parametrize("op, attrs, scale, opset, view", [
    ("InstanceNormalization", {}, 6, 17, (6, 20)),
    ("GroupNormalization", {"num_groups": 2}, 2, 18, (2, 60)),   # opset 18: one scale per group
    ("GroupNormalization", {"num_groups": 3}, 6, 21, (3, 40)),   # opset 21: one scale per channel
])
def test_instance_and_group_norm_are_normalisations(op, attrs, scale, opset, view):
    """Instance / group normalization: a LayerNorm over each (channel or group)'s spatial elements, with the
    node's scale and shift as its parameters, between two views; no generic layer."""
    nodes = [helper.make_node(op, ["x", "s", "b"], ["y"], name="gn", **attrs)]
    inits = [_init("s", np.ones(scale, np.float32)), _init("b", np.zeros(scale, np.float32))]
    graph = load_onnx(_model(nodes, [("x", [1, 6, 4, 5], FLOAT)], [("y", [1, 6, 4, 5], FLOAT)], inits, opset=opset))
    norm = graph.layer("gn/norm")
    assert norm.op == "layernorm" and norm.input_shape == view and norm.params == 2 * scale
    assert graph.layer("gn").output_shape == (6, 4, 5) and not graph.metadata["onnx"]["generic_ops"]
    bad = [helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], name="gn", num_groups=4)]
    with pytest.raises(WorkloadError, match="num_groups 4 does not divide the 6 channels"):
        load_onnx(_model(bad, [("x", [1, 6, 4, 5], FLOAT)], [("y", [1, 6, 4, 5], FLOAT)], inits, opset=21))


# --- control flow, constants joined to activations, 3-D convolutions, data-dependent shapes -------------------------

def test_if_with_constant_condition_is_inlined():
    then_g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["t"], name="then_fc")], "then", [],
                               [helper.make_tensor_value_info("t", FLOAT, [1, 4])])
    else_g = helper.make_graph([helper.make_node("Relu", ["x"], ["e"], name="else_relu")], "else", [],
                               [helper.make_tensor_value_info("e", FLOAT, [1, 8])])
    nodes = [helper.make_node("If", ["cond"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)]
    graph = load_onnx(_model(nodes, [("x", [1, 8], FLOAT)], [("y", [1, 4], FLOAT)],
                             [_init("w", _rand(8, 4)), _init("cond", np.array(True))]))
    assert [layer.name for layer in graph.compute_layers()] == ["then_fc"]
    assert any("(If): condition is constant (True)" in n for n in graph.metadata["notes"])


def test_class_token_concat_and_3d_conv():
    nodes = [helper.make_node("Concat", ["cls", "x"], ["c"], name="join", axis=1),
             helper.make_node("MatMul", ["c", "w"], ["y"], name="fc")]
    graph = load_onnx(_model(nodes, [("x", [1, 6, 8], FLOAT)], [("y", [1, 7, 4], FLOAT)],
                             [_init("cls", _rand(1, 1, 8)), _init("w", _rand(8, 4))]))
    assert graph.layer("join").output_shape == (7, 8) and graph.layer("join/const0").op_type == "Constant"
    assert graph.layer("fc").gemm(1).as_tuple() == (7, 4, 8, 1)
    w = _rand(5, 2, 3, 3, 3)
    conv = [helper.make_node("Conv", ["v", "w3"], ["o"], name="c3d", pads=[1, 1, 1, 1, 1, 1], strides=[1, 2, 2])]
    graph = load_onnx(_model(conv, [("v", [1, 2, 4, 6, 6], FLOAT)], [("o", [1, 5, 4, 3, 3], FLOAT)], [_init("w3", w)]))
    assert graph.layer("c3d").macs == 5 * 4 * 3 * 3 * (2 * 27) and graph.layer("c3d/to_map").output_shape == (5, 4, 3, 3)
    np.testing.assert_array_equal(graph.weights["c3d"], w.reshape(5, -1))


def test_conv_transpose_and_conv_over_a_stack_of_maps_are_gemms():
    wt, wc = _rand(4, 3, 2, 2), _rand(6, 3, 3, 3)  # ConvTranspose weight (C_in, C_out, kh, kw)
    nodes = [helper.make_node("ConvTranspose", ["x", "wt"], ["up"], name="up", strides=[2, 2]),
             helper.make_node("Reshape", ["up", "stack"], ["rois"], name="to_rois"),
             helper.make_node("Conv", ["rois", "wc"], ["y"], name="head", pads=[1, 1, 1, 1])]
    inits = [_init("wt", wt), _init("wc", wc), _init("stack", np.array([2, 3, 10, 5], np.int64))]
    graph = load_onnx(_model(nodes, [("x", [1, 4, 5, 5], FLOAT)], [("y", [2, 6, 10, 5], FLOAT)], inits))
    assert graph.layer("up").macs == 4 * 5 * 5 * 3 * 2 * 2 and graph.layer("up/to_map").output_shape == (3, 10, 10)
    assert graph.layer("head").macs == 2 * 10 * 5 * 6 * 27  # two maps of the stack, not a batch
    assert graph.layer("head/to_map").output_shape == (2, 6, 10, 5)


def test_data_dependent_output_sizes_take_their_upper_bound():
    nodes = [helper.make_node("NonZero", ["x"], ["nz"], name="nz"), helper.make_node("Transpose", ["nz"], ["y"], name="t", perm=[1, 0])]
    graph = load_onnx(_model(nodes, [("x", [1, 5], FLOAT)], [("y", ["n", 2], TensorProto.INT64)]))
    assert graph.layer("nz").op == "generic" and graph.layer("nz").output_shape == (2, 5)  # every element non-zero
    assert any("data-dependent" in n and "taken as 5" in n for n in graph.metadata["notes"])
    nms = [helper.make_node("NonMaxSuppression", ["boxes", "scores", "keep"], ["sel"], name="nms")]
    graph = load_onnx(_model(nms, [("boxes", [1, 20, 4], FLOAT), ("scores", [1, 3, 20], FLOAT)],
                             [("sel", ["n", 3], TensorProto.INT64)], [_init("keep", np.array([4], np.int64))]))
    assert graph.layer("nms").output_shape == (12, 3)  # 1 image x 3 classes x 4 boxes kept at most


@pytest.mark.parametrize("eq,sa,sb,macs", [("bhid,bhjd->bhij", [1, 4, 5, 8], [1, 4, 6, 8], 4 * 5 * 6 * 8),
                                           ("bhij,bhjd->bhid", [1, 4, 5, 6], [1, 4, 6, 8], 4 * 5 * 6 * 8)])
def test_einsum_products_are_matmuls(eq, sa, sb, macs):
    nodes = [helper.make_node("Einsum", ["a", "b"], ["y"], name="es", equation=eq)]
    graph = load_onnx(_model(nodes, [("a", sa, FLOAT), ("b", sb, FLOAT)], [("y", None, FLOAT)]))
    (mm,) = [layer for layer in graph.compute_layers() if layer.op == "matmul"]
    assert mm.macs == macs and tuple(graph.layers[-1].output_shape)[-3:] == np.einsum(eq, np.ones(sa), np.ones(sb)).shape[-3:]
    weight = _rand(8, 3)
    graph = load_onnx(_model([helper.make_node("Einsum", ["a", "w"], ["y"], name="es", equation="bld,dh->blh")],
                             [("a", [1, 5, 8], FLOAT)], [("y", [1, 5, 3], FLOAT)], [_init("w", weight)]))
    assert graph.layer("es").op == "linear" and graph.layer("es").macs == 5 * 8 * 3
    np.testing.assert_array_equal(graph.weights["es"], weight.T)


def test_loop_with_constant_trip_count_is_unrolled():
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "w"], ["h_out"], name="step"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep_going"),
         helper.make_node("Relu", ["h_out"], ["y"], name="act")],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("h_in", FLOAT, [1, 8])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("h_out", FLOAT, [1, 8]),
         helper.make_tensor_value_info("y", FLOAT, [1, 8])])
    nodes = [helper.make_node("Loop", ["trips", "", "x"], ["h", "ys"], name="rnn", body=body)]
    inits = [_init("trips", np.array(3, np.int64)), _init("w", _rand(8, 8))]
    graph = load_onnx(_model(nodes, [("x", [1, 8], FLOAT)], [("h", [1, 8], FLOAT), ("ys", [3, 1, 8], FLOAT)], inits))
    steps = [layer for layer in graph.compute_layers() if layer.op == "linear"]
    assert [s.name for s in steps] == ["rnn/iter0/step", "rnn/iter1/step", "rnn/iter2/step"]
    assert graph.inputs_of("rnn/iter1/step") == ["rnn/iter0/step"]
    assert graph.layer("rnn/scan0").op == "concat" and graph.layer("rnn/scan0").output_shape == (3, 1, 8)
    assert any("unrolled 3 iteration(s)" in n for n in graph.metadata["notes"])
    with pytest.raises(WorkloadError, match="Loop"):
        load_onnx(_model(nodes, [("x", [1, 8], FLOAT)], [("h", [1, 8], FLOAT), ("ys", [3, 1, 8], FLOAT)], inits), strict=True)
    bodiless = [helper.make_node("Loop", ["trips", "", "x"], ["h", "ys"], name="rnn")]  # no body: malformed
    with pytest.raises(WorkloadError, match="node 'rnn' \\(Loop\\): malformed node: no graph attribute 'body'"):
        load_onnx(_model(bodiless, [("x", [1, 8], FLOAT)], [("h", [1, 8], FLOAT), ("ys", [3, 1, 8], FLOAT)], inits))


def test_rms_norm_shared_with_a_constant_multiply_is_fused():
    """Gemma 3's q_norm: the normalised heads feed RoPE's constant ``* cos`` and its rotate-half slices; the norm
    ends where one tensor leaves it (the constant multiply joined the region, which then had two outputs)."""
    nodes = [helper.make_node("Pow", ["x", "two"], ["sq"]), helper.make_node("ReduceMean", ["sq", "axes"], ["ms"]),
             helper.make_node("Add", ["ms", "eps"], ["mse"]), helper.make_node("Sqrt", ["mse"], ["rms"]),
             helper.make_node("Reciprocal", ["rms"], ["inv"]), helper.make_node("Mul", ["x", "inv"], ["n"]),
             helper.make_node("Mul", ["n", "scale"], ["normed"]),
             helper.make_node("Mul", ["normed", "cos"], ["rot"]),  # a constant: it joins the element-wise region
             helper.make_node("Slice", ["normed", "s0", "s1", "ax"], ["half"]),
             helper.make_node("Concat", ["half", "half"], ["swapped"], axis=-1),
             helper.make_node("Add", ["rot", "swapped"], ["y"])]
    inits = [_init("two", np.float32(2)), _init("axes", np.array([-1])), _init("eps", np.float32(1e-6)),
             _init("scale", _rand(8)), _init("cos", _rand(4, 8)), _init("s0", np.array([0])), _init("s1", np.array([4])),
             _init("ax", np.array([-1]))]
    g = load_onnx(_model(nodes, [("x", [1, 4, 8], FLOAT)], [("y", [1, 4, 8], FLOAT)], inits))
    norms = [layer for layer in g.layers if layer.op == "layernorm"]
    assert len(norms) == 1 and norms[0].rms
    assert not g.metadata["onnx"]["generic_ops"].get("ReduceMean")


@pytest.mark.parametrize("per_channel", [False, True])
def test_fp8_qdq_keeps_fp8_weights_and_activations(per_channel):
    """A QDQ model in FP8 (float8e4m3fn weights and activations, as NVIDIA ModelOpt exports it): the weight stays
    FP8 (its bit patterns and scales), its values those of the dequantized weight; an H100 runs it as FP8."""
    ml = pytest.importorskip("ml_dtypes")
    from accelsim.compress.compressed import CompressedLayer
    from accelsim.hw.registry import build_model, load_arch

    w = RNG.standard_normal((64, 32)).astype(ml.float8_e4m3fn)
    scale = RNG.uniform(0.5, 1, 32).astype(np.float32) if per_channel else np.float32(0.5)
    zero = np.zeros((), ml.float8_e4m3fn)
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "s"], ["w"], axis=1), helper.make_node("MatMul", ["xd", "w"], ["y"])]
    inits = [_init("wq", w), _init("s", scale), _init("xs", np.float32(0.1)), _init("xz", zero)]
    graph = load_onnx(_model(nodes, [("x", [4, 64], FLOAT)], [("y", [4, 32], FLOAT)], inits, opset=21))
    (name,) = graph.metadata["quantization"]
    q = graph.metadata["quantization"][name]
    assert (q["element"], q["weight_bits"], q["activation_bits"]) == ("e4m3", 8, 8)
    assert q["granularity"] == ("per_channel" if per_channel else "per_tensor")
    np.testing.assert_array_equal(q["codes"], w.T.view(np.uint8))
    cl = CompressedLayer.dense(graph.layer(name), graph)
    assert cl.weight.spec.element == "e4m3"
    np.testing.assert_allclose(cl.weight.to_dense(), graph.weights[name], rtol=1e-6)
    assert build_model(load_arch("h100-sxm")).count(cl, 64).extra["dtype"] == "fp8"


@pytest.mark.parametrize("keepdims", [1, 0])
def test_mean_over_one_spatial_axis_then_the_other_is_two_pools(keepdims):
    """FocalNet's global average pool, written mean(2).mean(3): two pools over one axis's whole extent."""
    nodes = [helper.make_node("ReduceMean", ["x", "a2"], ["m"], keepdims=1),
             helper.make_node("ReduceMean", ["m", "a3"], ["y"], keepdims=keepdims)]
    inits = [_init("a2", np.array([2])), _init("a3", np.array([-1]))]
    out = [1, 8, 1, 1] if keepdims else [1, 8, 1]
    g = load_onnx(_model(nodes, [("x", [1, 8, 6, 5], FLOAT)], [("y", out, FLOAT)], inits, opset=18))
    pools = [layer for layer in g.layers if layer.op == "pool"]
    assert [p.kernel for p in pools] == [(6, 1), (1, 5)] and pools[-1].output_shape == (8, 1, 1)
    assert not g.metadata["onnx"]["generic_ops"] and g.layers[-1].output_shape == tuple(out[1:])


def test_lstm_state_of_another_hidden_size_is_refused():
    """An LSTM with projections exported as a plain LSTM (dynamo): states of the projected size against the
    weights' hidden size. onnxruntime refuses the model; so does the import, naming the state, instead of a
    silent -55%."""
    hidden, inp = 4, 8
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "", "", "h0", "c0"], ["y"], name="lstm", hidden_size=hidden)]
    inits = [_init("W", _rand(1, 4 * hidden, inp)), _init("R", _rand(1, 4 * hidden, hidden)),
             _init("h0", np.zeros((1, 1, 16), np.float32)), _init("c0", np.zeros((1, 1, 16), np.float32))]
    with pytest.raises(WorkloadError, match="node 'lstm' \\(LSTM\\): initial_h has shape \\[1, 1, 16\\]; its last axis "
                                            "must be hidden_size 4"):
        load_onnx(_model(nodes, [("x", [5, 1, inp], FLOAT)], [("y", [5, 1, 1, hidden], FLOAT)], inits))
