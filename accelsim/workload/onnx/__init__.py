"""ONNX importer on ONNX's own machinery (``onnx.shape_inference``, ``onnx.reference``).

``load.py`` reads the model (external data inside its folder only), orders the nodes, fixes the batch up front,
infers shapes and folds constants (``fold.py``); the converters map ONNX ops to accelsim layers by family:
``convert_shape.py`` (glue), ``convert_compute.py`` (conv, GEMM, activations, pooling, norms, LSTM / GRU),
``convert_contrib.py`` (onnxruntime's ``com.microsoft`` ops) and ``quant.py`` (QDQ, QOperator, MatMulNBits).
Anything without a converter is a ``Generic`` layer.
"""

from accelsim.workload.onnx import convert_compute, convert_contrib, convert_shape, quant  # noqa: F401
from accelsim.workload.onnx.fold import MAX_FOLD_ELEMENTS
from accelsim.workload.onnx.importer import CONVERTERS, Importer, Node, Value, register
from accelsim.workload.onnx.load import load_onnx

__all__ = ["CONVERTERS", "Importer", "MAX_FOLD_ELEMENTS", "Node", "Value", "load_onnx", "register"]
