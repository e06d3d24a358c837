"""PyTorch module -> LayerGraph (the ``torch`` extra), by way of an in-memory ONNX export.

``load_torch(module, example_input)`` exports the module with torch's TorchScript-based ONNX
exporter (``torch.onnx.export(..., dynamo=False)``, opset 17, constant folding on, module in eval
mode) into memory and reads the result with :func:`accelsim.workload.io_onnx.load_onnx`. So every
op the ONNX importer supports is supported here, weights come along (batch norms already folded
into the preceding convolutions by the exporter), and layer names follow the module paths
(``layer1.0.conv1``). The example input's first axis is the batch. Nothing touches the disk.
``calibration=batch`` measures each layer's input activation density on real inputs
(:mod:`accelsim.workload.calibrate`).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from accelsim.errors import WorkloadError
from accelsim.workload.graph import LayerGraph

OPSET = 17


def load_torch(module, example_input: Any = None, name: str | None = None, skip_unsupported: bool = False,
               opset: int = OPSET, calibration: Any = None) -> LayerGraph:
    """Trace ``module`` on ``example_input`` (a tensor or a tuple of tensors) into a LayerGraph.

    Parameters
    ----------
    module : torch.nn.Module
        The network; put in eval mode for the export and restored afterwards.
    example_input : torch.Tensor or tuple of torch.Tensor
        One example per forward argument, batch axis first (batch 1 recommended).
    name : str, optional
        Graph name (default: the module's class name).
    skip_unsupported : bool
        Passed to :func:`~accelsim.workload.io_onnx.load_onnx`.
    opset : int
        ONNX opset for the export (17 keeps ``LayerNormalization`` as one op).
    calibration : torch.Tensor or tuple of torch.Tensor, optional
        A batch of real inputs (batch axis first). The module is run on it with forward hooks and
        each imported layer named like a module (``layer1.0.conv1``) gets its measured input
        activation density (:mod:`accelsim.workload.calibrate`) instead of the assumed 1.0;
        ``graph.metadata["calibration"]`` records the batch size and how many layers were matched.

    Raises
    ------
    WorkloadError
        torch or onnx missing, no example input, or the export fails.
    """
    try:
        import torch
    except ImportError:
        raise WorkloadError("loading a torch module needs torch: pip install 'accelsim[torch]'") from None
    try:
        import onnx
    except ImportError:
        raise WorkloadError("loading a torch module needs onnx: pip install 'accelsim[onnx]'") from None
    from accelsim.workload.io_onnx import load_onnx

    if not isinstance(module, torch.nn.Module):
        raise WorkloadError(f"load_torch expects a torch.nn.Module; got {type(module).__name__}")
    if example_input is None:
        raise WorkloadError(f"load_torch({type(module).__name__}): pass example_input, e.g. torch.zeros(1, 3, 224, 224)")
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    if not all(isinstance(a, torch.Tensor) for a in args):
        raise WorkloadError("load_torch: example_input must be a tensor or a tuple of tensors")
    input_names = ["input"] if len(args) == 1 else [f"input_{i}" for i in range(len(args))]
    buffer = io.BytesIO()
    was_training = module.training
    module.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's deprecation notes about the TorchScript exporter
            torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset, do_constant_folding=True,
                              input_names=input_names)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkloadError(f"cannot export {type(module).__name__} to ONNX: {first}") from None
    finally:
        module.train(was_training)
    model = onnx.load_from_string(buffer.getvalue())
    graph = load_onnx(model, skip_unsupported=skip_unsupported, name=name or type(module).__name__)
    graph.source = f"<torch {type(module).__name__}>"
    if calibration is not None:
        from accelsim.workload.calibrate import apply_densities, torch_input_densities

        densities = torch_input_densities(module, calibration, names={layer.name for layer in graph.layers})
        cal = calibration if isinstance(calibration, tuple) else (calibration,)
        apply_densities(graph, densities, source=f"torch forward hooks on a batch of {int(cal[0].shape[0])}",
                        batch=int(cal[0].shape[0]))
    return graph


__all__ = ["load_torch"]
