"""Compatibility name for the ONNX importer, which lives in :mod:`accelsim.workload.onnx`.

``from accelsim.workload.io_onnx import load_onnx`` keeps working; new code imports
``accelsim.workload.onnx``. See ``docs/importers.md``.
"""

from accelsim.workload.onnx import CONVERTERS, MAX_FOLD_ELEMENTS, Importer, Node, Value, load_onnx, register

__all__ = ["CONVERTERS", "Importer", "MAX_FOLD_ELEMENTS", "Node", "Value", "load_onnx", "register"]
