"""Deployed quantization is simulated in its own format, without a recipe (issue 12 item 3).

The ONNX importer records each quantized weight's codes, scales and zero points
(``graph.metadata["quantization"]``); ``CompressedGraph.dense`` turns them into the stored tensor the
hardware models read: int8 QDQ / QOperator weights as per-channel ``LowBit``, MatMulNBits as 4-bit
``GroupQuant`` blocks of 32 with zero points.
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
