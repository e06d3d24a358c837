"""What the held-out rounds of 2026-12-07 (fortieth session) found, each a test (docs/validation.md, "Held-out rounds
of 2026-12-07 (fortieth session)")."""

from __future__ import annotations

from pathlib import Path

from accelsim.workload import layers as L
from accelsim.workload.io_onnx import load_onnx

HELDOUT = Path(__file__).parent / "data" / "onnx" / "heldout"


def test_qdq_pairs_inside_decomposed_functions_do_not_stop_their_fusion():
    """onnxruntime's static QDQ quantizer puts a quantize / dequantize pair after each Add, Mul, Div ... of a
    decomposed GELU, LayerNorm, SiLU and RMSNorm (a torch export at opset 13 quantized by ``quantize_static``): the
    pairs inside a function no longer split it into element-wise layers and generic ``ReduceMean`` ones; the pairs at
    its ends still give its input and the next layer's input their 8 bits."""
    graph = load_onnx(HELDOUT / "quant-qdq-decomposed-norms.onnx")
    kinds = [(type(layer).__name__, getattr(layer, "func", None), getattr(layer, "rms", None))
             for layer in graph.layers if not isinstance(layer, L.Input)]
    assert kinds == [("Linear", None, None), ("Activation", "gelu", None), ("Linear", None, None),
                     ("Eltwise", "add", None), ("LayerNorm", None, False),
                     ("Linear", None, None), ("Activation", "silu", None), ("LayerNorm", None, True)], kinds
    assert not graph.metadata["onnx"]["generic_ops"] and not graph.metadata["notes"]
    bits = {name: q.get("activation_bits") for name, q in graph.metadata["quantization"].items()}
    assert set(bits.values()) == {8} and len(bits) == 8, bits
