"""The ``evaluate:`` section of a sweep spec (declared with :mod:`accelsim.config`)::

    evaluate:
      model: examples/digits/models/cnn-s0.onnx   # default: the point's workload, when it is an .onnx file
      data: examples/digits/models/test.npz       # .npz of x / y, or a token file (with seq_len)
      metrics: [top1, top5]                       # top1 | top5 | perplexity | kl
      batch_size: 256
      seq_len: null                               # token files: tokens per sequence

``evaluate:`` given as a string keeps its other meaning: ``package.module:function``, a custom
evaluator of the whole point (:func:`accelsim.dse.sweep.resolve_evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.accuracy.metrics import BUILTIN
from accelsim.config import param


@dataclass(frozen=True)
class EvaluateFields:
    """Accuracy of each point's compressed model: columns ``accuracy.<metric>`` (one evaluation per
    workload, recipe and seed, whatever the number of hardware points)."""

    data: str = param(doc="evaluation data: an .npz with x (inputs) and y (labels), or a token file with seq_len")
    model: str | None = param(None, doc="the .onnx model run with onnxruntime (default: the point's workload file)")
    metrics: list[str] = param(["top1"], choices=BUILTIN, doc="top1 | top5 (classifiers), perplexity | kl (language models)")
    batch_size: int = param(256, ge=1, le=1 << 20, unit="samples", doc="samples per inference batch")
    seq_len: int | None = param(None, ge=1, le=1 << 20, unit="tokens", doc="tokens per sequence (token files)")

    def validate(self) -> list[str]:
        out = [] if self.metrics else ["metrics must name at least one metric; got []"]
        if self.model is not None and not self.model.endswith(".onnx"):
            out.append(f"model must be an .onnx file (torch modules: the Python API); got {self.model!r}")
        return out


__all__ = ["EvaluateFields"]
