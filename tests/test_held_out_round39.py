"""Held-out rounds of 2026-12-07 (thirty-ninth session): what helpers that read none of the tests found, each a
test that failed before its fix (docs/validation.md, "Held-out rounds of 2026-12-07")."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from accelsim.workload.onnx import load_onnx

HELDOUT = Path(__file__).parent / "data" / "onnx" / "heldout"


def _load(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_onnx(HELDOUT / f"{name}.onnx")


# --- onnxruntime's own tools: extended / full graph optimizations, the UNet optimizer, packing mode ---------------
# (the MACs of each file against FlopCounterMode are in tests/data/onnx/heldout/manifest.json and
# test_io_onnx_corpus.py; these check what the layers are)

def test_fused_matmul_transposes_and_scales_products_of_activations():
    """ORT_ENABLE_EXTENDED writes an attention's ``q @ k^T * scale`` as FusedMatMul(transB=1, alpha): refused on
    two activations, so the import failed ('inner dimensions differ') or, when the shapes happened to agree, the
    product was generic (-12.5%)."""
    graph = _load("ort-fusedmatmul-alpha")
    assert not graph.metadata["onnx"]["generic_ops"]
    assert any("alpha 0.25 scales the product" in n for n in graph.metadata["notes"])
    t = _load("ort-fusedmatmul-transA")
    assert any(layer.name.endswith("/a_t") and layer.op == "transpose" for layer in t.layers)


@pytest.mark.parametrize("name, ops", [("ort-biassplitgelu", {"activation", "eltwise"}),
                                       ("ort-nhwcconv", {"conv2d", "transpose"}),
                                       ("ort-gemmfastgelu-bert", {"linear", "activation"}),
                                       ("ort-packedattention-bert", {"matmul", "softmax"})])
def test_onnxruntime_contrib_ops_are_layers_not_shape_preserving_generics(name, ops):
    """BiasSplitGelu halves the last axis, NhwcConv is a conv on a channels-last map, GemmFastGelu a GEMM, and
    PackedAttention attention on packed rows: each was a generic layer taken as keeping its input's shape, so the
    import failed or lost the op's MACs (NhwcConv 3x3: 0 of 589,824; packing mode: 18,432 of 425,984)."""
    graph = _load(name)
    assert not graph.metadata["onnx"]["generic_ops"], graph.metadata["onnx"]["generic_ops"]
    assert ops <= {layer.op for layer in graph.layers}


def test_quantized_embed_layernorm_and_channels_last_qlinearconv_keep_their_bits():
    """onnxruntime's documented BERT int8 recipe (optimize, then quantize_dynamic) writes QEmbedLayerNormalization,
    whose mask output had no shape (import refused); a model saved after ORT_ENABLE_ALL writes
    com.microsoft::QLinearConv with channels_last (an NHWC map read as NCHW: the import failed)."""
    bert = _load("ort-qembedlayernorm-bert-dynint8")
    q = bert.metadata["quantization"]
    assert q["EmbedLayerNormalization_0_quant/word"]["weight_bits"] == 8
    assert all(v["weight_bits"] == 8 for k, v in q.items() if "Attention" in k)
    conv = _load("ort-qlinearconv-nhwc-ortall")
    assert not conv.metadata["onnx"]["generic_ops"]
    convs = [layer.name for layer in conv.layers if layer.op == "conv2d"]
    assert len(convs) == 2 and all(conv.metadata["quantization"][c]["weight_bits"] == 8 for c in convs)


def test_packing_mode_simulates_from_the_command_line_with_the_importers_notes(run_cli):
    """The JSON result carries the importer's notes (``extra.workload_notes``), which only the table printed."""
    code, text, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", HELDOUT / "ort-packedattention-bert.onnx",
                              "--format", "json")
    assert code == 0, err
    assert any("RemovePadding" in n and "upper bound" in n for n in json.loads(text)["extra"]["workload_notes"])


def test_matmul_bnb4_is_4_bit_blocks_whose_values_are_onnxruntimes():
    """onnxruntime's NF4 quantizer (matmul_bnb4_quantizer) writes MatMulBnb4, which had no converter: a generic
    layer taken as shape-preserving, and the bias add after it refused ('do not broadcast')."""
    import numpy as np

    from accelsim.compress.compressed import CompressedGraph

    ort = pytest.importorskip("onnxruntime")
    graph = _load("ort-matmulbnb4")
    (linear,) = [layer for layer in graph.layers if layer.op == "linear"]
    q = graph.metadata["quantization"][linear.name]
    assert (q["weight_bits"], q["block_size"], q["format"]) == (4, 16, "nf4")
    assert CompressedGraph.dense(graph)[linear.name].weight_storage_bits() == 64 * 32 * 4 + 64 * 2 * 32  # + fp32 absmax
    x = np.random.default_rng(0).standard_normal((1, 16, 32)).astype(np.float32)
    session = ort.InferenceSession(str(HELDOUT / "ort-matmulbnb4.onnx"), providers=["CPUExecutionProvider"])
    ours = x @ graph.weights[linear.name].T + graph.biases.get(linear.name, 0.0)
    np.testing.assert_allclose(ours, session.run(None, {"x": x})[0], rtol=1e-5, atol=1e-4)


def test_an_nchwc_model_saved_after_ort_enable_all_imports_as_the_file_computes():
    """A float model saved after ORT_ENABLE_ALL holds com.microsoft.nchwc ops (Conv with a fused activation and
    residual ``Sum``, ReorderOutput, pools): generic layers taken as shape-preserving before, so the import failed
    ('input [1, 8] does not match a weight of 16 inputs'). Conv(3->10) -> Conv(10->20) -> Conv(20->20 1x1) + residual
    on a 32x32 map, channels padded by onnxruntime to its block of 16: 16, 32 and 32 output channels computed
    (FlopCounterMode's 2,529,280 MACs are the unpadded model's)."""
    graph = _load("ort-nchwc-odd-channels-ortall")
    assert not graph.metadata["onnx"]["generic_ops"]
    assert graph.total_macs == 32 * 32 * 9 * (3 * 16 + 10 * 32) + 32 * 32 * 32 * 32
    assert any(layer.op == "eltwise" and layer.name.endswith("/add_z") for layer in graph.layers)
    assert graph.layers[-1].output_shape == (20, 16, 16)  # ReorderOutput keeps 20 of 32 channels, then MaxPool
    assert any("NCHWc" in n for n in graph.metadata["notes"])


def test_a_contrib_op_without_a_converter_gets_its_shape_from_onnxruntime():
    """ONNX shape inference cannot size ops outside its schemas; a generic one was taken as keeping its input's
    shape (the held-out round's failures: BiasSplitGelu, MatMulBnb4, GemmFastGelu ... each broke the next layer or
    lost its MACs silently). A node onnxruntime runs on the CPU is now run alone on zeros for its output shapes."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    pytest.importorskip("onnxruntime")
    nodes = [helper.make_node("ExpandDims", ["x", "axis"], ["e"], domain="com.microsoft", name="expand"),
             helper.make_node("MatMul", ["e", "w"], ["y"], name="fc")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(1, np.int32), "axis"),
                               numpy_helper.from_array(np.ones((8, 4), np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imported = load_onnx(model)
    assert imported.layer("expand").output_shape == (1, 6, 8) and imported.layer("fc").output_shape == (1, 6, 4)
    assert any("[1, 1, 6, 8] from running the node in onnxruntime" in n for n in imported.metadata["notes"])


# --- SCALE-Sim's own repository configs (scale-sim-v3 configs/) ---------------------------------------------------

_EYERISS = """[general]
run_name = eyeriss

[architecture_presets]
ArrayHeight:    12
ArrayWidth:     14
IfmapSramSzkB:    36
FilterSramSzkB:   36
OfmapSramSzkB:    36
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : ws
Bandwidth : 10
OnChipMemoryBanks:   1
OnChipMemoryBankPorts:   2
ReadRequestBuffer: 128
WriteRequestBuffer: 128

[sparsity]
SparsitySupport : {support}
SparseRep : ellpack_block
OptimizedMapping : {optimized}
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def test_scalesim_sparse_optimized_mapping_is_refused_and_eyeriss_cfg_keys_read(tmp_path, run_cli):
    """SCALE-Sim's configs/sparsity.cfg (SparsitySupport and OptimizedMapping on) ran dense without a word while
    SCALE-Sim 3.0.0's cycles differ even on 1:1 layers (alexnet Conv1: 173,949 against 21,774); its eyeriss.cfg was
    refused for OnChipMemoryBanks / OnChipMemoryBankPorts ('did you mean MemoryBanks?'), keys 3.0.0 does not read."""
    cfg = tmp_path / "eyeriss.cfg"
    cfg.write_text(_EYERISS.format(support="false", optimized="false"))
    code, _, err = run_cli("simulate", "--arch", cfg, "--workload", "lenet5")
    assert code == 0 and "OnChipMemoryBankPorts 2 is not modelled" in err
    cfg.write_text(_EYERISS.format(support="true", optimized="false"))
    assert run_cli("simulate", "--arch", cfg, "--workload", "lenet5")[0] == 0
    cfg.write_text(_EYERISS.format(support="true", optimized="true"))
    code, out, err = run_cli("simulate", "--arch", cfg, "--workload", "lenet5")
    errors = [line for line in err.splitlines() if line.startswith("accelsim: error:")]  # (after the ports warning)
    assert code == 2 and out == "" and len(errors) == 1
    assert "OptimizedMapping (sparsity.optimized_mapping) must be false while" in errors[0]


def test_a_gemm_topology_with_another_header_is_told_how_to_say_it_is_gemm(tmp_path, run_cli):
    """A GEMM topology whose header does not name M, N, K (``Layer name, Rows, Cols, Depth``) is read as a conv
    one, as SCALE-Sim reads it without ``-i gemm``; the refusal now says what would make it a GEMM file."""
    topo = tmp_path / "g.csv"
    topo.write_text("Layer name, Rows, Cols, Depth,\nG1, 64, 32, 128,\n")
    code, _, err = run_cli("stats", "--workload", topo)
    assert code == 2 and err.strip().count("\n") == 0 and "header names its columns M, N, K" in err
    topo.write_text("Layer name, M, N, K,\nG1, 64, 32, 128,\n")
    assert run_cli("stats", "--workload", topo)[0] == 0


# --- a fourth round on onnxruntime's tools (optimizer model types and levels, saved sessions, static / dynamic /
# MatMulNBits / int4 QDQ quantization and their chains on 11 tiny models; 457 files checked) ----------------------

def test_constant_contrib_ops_are_evaluated_by_onnxruntime():
    """A QLinearMul of two quantized constants (a QOperator Llama's rotary table) reached its converter with no
    activation ('malformed node (IndexError)'): contrib ops on constants are evaluated by onnxruntime now."""
    graph = _load("ort-qlinearmul-const")
    assert any("on constants evaluated by onnxruntime" in n for n in graph.metadata["notes"])


def test_gather_block_quantized_is_a_4_bit_embedding_equal_to_onnxruntimes_rows():
    """GatherBlockQuantized (MatMulNBitsQuantizer with Gather) was a generic layer costing its table at 32 bits, and
    one read by a constant index (a position table) was refused."""
    import numpy as np
    import onnx

    ort = pytest.importorskip("onnxruntime")
    for name in ("ort-gatherblockquantized-tokens", "ort-gatherblockquantized-const-positions"):
        graph = _load(name)
        (emb,) = [layer for layer in graph.layers if layer.op == "embedding"]
        q = graph.metadata["quantization"][emb.name]
        assert (q["weight_bits"], q["granularity"], q["block_size"]) == (4, "blocked", 32)
    model = onnx.load(HELDOUT / "ort-gatherblockquantized-tokens.onnx")
    gather = next(n for n in model.graph.node if n.op_type == "GatherBlockQuantized")
    model.graph.output.append(onnx.helper.make_empty_tensor_value_info(gather.output[0]))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ids = (np.arange(8, dtype=np.int64) * 7 % 64).reshape(1, 8)
    rows = session.run([gather.output[0]], {session.get_inputs()[0].name: ids})[0]
    np.testing.assert_array_equal(graph.weights[emb.name][ids[0]], rows[0])


def test_an_infinite_activation_scale_is_no_weight_scale():
    """T5 quantized statically: the position buckets' Log(0) calibrates to an infinite scale, which onnxruntime runs;
    the import refused the initializer. A weight's scale must still be finite and > 0 (refused where a layer takes
    the dequantized constant as its weight)."""
    assert not _load("ort-qdq-inf-scale").metadata["onnx"]["generic_ops"]


def test_nchwc_block_padding_of_a_squeeze_excite_block():
    """ReorderInput pads a map's channels to the NCHWc block (24 -> 32) for a conv whose weight reads them
    (mobilenet_v3's squeeze-excite: 'weight [32, 128, 1, 1] ... does not match 120 input channels'). Conv 3->24
    3x3, SE 24->8->24, Conv 24->12 on 16x16, every channel count padded by onnxruntime to its block of 16."""
    graph = _load("ort-nchwc-squeeze-excite-ortall")
    assert not graph.metadata["onnx"]["generic_ops"]
    assert graph.total_macs == 16 * 16 * 32 * 27 + 32 * 16 + 8 * 32 + 16 * 16 * 32 * 16
    assert sum(layer.name.endswith("/pad_channels") for layer in graph.layers) == 2


def test_an_infinite_scale_of_a_qoperator_op_is_accepted_and_a_weight_reader_is_named():
    """A recheck of all 531 files after the fixes: T5's infinite calibrated scale read by a QOperator QLinearMul
    (inputs 1 and 6) was still refused, and the message named the first reader (an allowed QuantizeLinear), not
    the node that could not take it."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from accelsim.errors import WorkloadError

    assert not _load("ort-qlinearmul-inf-scale").metadata["onnx"]["generic_ops"]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "s"], ["dq"], name="dq"),
             helper.make_node("MatMul", ["dq", "w"], ["y"], name="uses_w")]
    inits = [numpy_helper.from_array(np.asarray(np.inf, np.float32), "s"),
             numpy_helper.from_array(np.full((8, 4), np.inf, np.float32), "w")]
    ok = helper.make_model(helper.make_graph(nodes[:2] + [helper.make_node("MatMul", ["dq", "v"], ["y"], name="m")], "g",
                                             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                             inits[:1] + [numpy_helper.from_array(np.ones((8, 4), np.float32), "v")]),
                           opset_imports=[helper.make_opsetid("", 17)])
    assert load_onnx(ok).total_macs == 32
    inits[1] = numpy_helper.from_array(np.full((8, 4), np.inf, np.float32), "s")  # the scale also a MatMul's weight
    bad = helper.make_model(helper.make_graph(nodes[:2] + [helper.make_node("MatMul", ["dq", "s"], ["y"], name="uses_s")],
                                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits[1:]),
                            opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(WorkloadError, match="initializer 's' contains NaN or infinite values .*read by node 'uses_s'"):
        load_onnx(bad)


def test_a_channels_last_qlinear_pool_is_a_pool():
    """A QDQ MobileNetV3 saved after ORT_ENABLE_ALL holds QLinearGlobalAveragePool with channels_last (8 of them
    generic in the recheck)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    scale = [numpy_helper.from_array(np.asarray(0.1, np.float32), n) for n in ("xs", "ys")]
    zero = [numpy_helper.from_array(np.asarray(0, np.uint8), n) for n in ("xz", "yz")]
    node = helper.make_node("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                            name="gap", channels_last=1)
    model = helper.make_model(helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8,
                                                                                            [1, 4, 5, 8])],
                                                [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], scale + zero),
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = load_onnx(model)
    assert not graph.metadata["onnx"]["generic_ops"]
    assert [layer.op for layer in graph.layers][1:] == ["transpose", "pool", "transpose"]
    assert graph.layers[-1].output_shape == (1, 1, 8)


# --- a bad-input round on this session's own code (about 450 cases) -----------------------------------------------

@pytest.mark.parametrize("name, says", [
    ("bnb_bs0", "attribute block_size must be >= 1; got 0"),  # was a ZeroDivisionError
    ("bnb_K_disagree_x", "input [1, 64] does not end in K = 32"),  # was a generic layer of the input's shape
    ("gbq_bits0", "attribute bits must be 2, 4 or 8; got 0"),  # was a ZeroDivisionError
    ("gbq_bs_huge", "attribute block_size must be in 1..64"),  # was a MemoryError (3 TiB)
    ("gbq_bs_disagree", "the scales have shape [100, 2]; a table of 100 rows and 64 columns"),  # was a narrower table
    ("gbq_table_float", "the quantized table must hold integer codes; got float32"),  # was accepted
    ("fconv_z_wrong", "the residual input Z has shape [1, 16, 4, 4]; the convolution's output is [1, 16, 8, 8]"),
    ("bsg_bias_wrong", "the bias has shape [7]; expected [40]"),  # the bias was never read
    ("nhwc_w_channels_pad_small", "does not match 4 input channels"),  # was padded as if an NCHWc block
    ("nchwc_reorderout_channels_more", "attribute channels must be in 1..8 (the map's channels); got 99"),
    ("fmm_alpha_nan", "attributes alpha and beta must be finite; got nan"),  # was accepted
])
def test_malformed_onnxruntime_ops_are_refused_in_one_line(name, says):
    from accelsim.errors import WorkloadError

    with pytest.raises(WorkloadError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_onnx(HELDOUT / "bad" / f"{name}.onnx")
    assert says in str(info.value) and "\n" not in str(info.value)


def test_a_constant_residual_of_a_fused_conv_adds_no_layer_beside_a_generic_one():
    """FusedConv with a constant Z (valid; onnxruntime runs it) left an orphan Conv2d beside a generic layer of the
    same node: the conv's MACs counted twice in effect. Now the conv and an Identity for the constant add."""
    graph = _load("bad/fconv_z_const")
    assert not graph.metadata["onnx"]["generic_ops"]
    assert [layer.op for layer in graph.layers][1:] == ["conv2d", "identity", "activation"]


def test_an_empty_weights_path_is_refused(run_cli):
    """``compress --weights ''`` synthesized weights without a word (the empty path read as no flag)."""
    code, _, err = run_cli("compress", "--workload", "lenet5", "--recipe", "int8", "--weights", "")
    assert code == 2 and "--weights: expected a .safetensors file or a folder of shards; got an empty path" in err
