"""Accuracy of the compressed model itself (issue 16; ``docs/accuracy.md``).

The weights evaluated are exactly the arrays the hardware models saw - pruned zeros, dequantized
values, shared codebook values, low-rank products - written back into the user's model (an ONNX
model run with onnxruntime, or a torch ``nn.Module``; both optional extras imported lazily):

* :func:`evaluate` - top-1 / top-5, perplexity, KL divergence to the dense model, or a user's callable;
* :func:`evaluate_dense` - the same metrics of the uncompressed model;
* :func:`effective_weights` - original layer -> the array evaluated;
* :func:`finetune` (via ``evaluate(..., recovery={...})``) - a short fine-tune with the mask and
  quantization grid held fixed.

Layering: imports ``compress`` and ``workload`` only (the sweep side is :mod:`accelsim.dse.accuracy`).
"""

from accelsim.accuracy.base import AccuracyError

# the rest on first use: a sweep spec's schema (accelsim.accuracy.spec) must not load compress / Numba
_LAZY = {
    "Dataset": "data", "as_dataset": "data", "from_arrays": "data", "from_batches": "data", "load_npz": "data",
    "load_tokens": "data", "evaluate": "evaluation", "evaluate_dense": "evaluation", "written_weights": "evaluation",
    "effective_weights": "weights",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"accelsim.accuracy.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'accelsim.accuracy' has no attribute {name!r}")


__all__ = ["AccuracyError", "Dataset", "as_dataset", "effective_weights", "evaluate", "evaluate_dense",
           "from_arrays", "from_batches", "load_npz", "load_tokens", "written_weights"]
