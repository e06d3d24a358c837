"""Calibrated activation densities: measure each layer's input density on real inputs.

An imported network assumes dense inputs (``LayerGraph.input_density`` is 1.0 unless recorded), yet
after a ReLU most activations are zero, and sparse engines (EIE) skip them. Calibration runs the
network on a batch of real inputs and records, per layer, the *input activation density*:

    density(layer) = (non-zero elements of the layer's input over the whole batch) / (its elements)

(the first data input: for a convolution or a fully-connected layer the activation it multiplies,
never its weights). A layer whose input is all zero on the batch gets one element's worth,
``1 / elements``, because a density must be in (0, 1].

Two measuring paths, one way to apply them:

- :func:`torch_input_densities`: forward hooks on the modules of a ``torch.nn.Module``, keyed by
  module path (``layer1.0.conv1``); used by ``load_torch(..., calibration=batch)``.
- :func:`onnx_input_densities`: every intermediate tensor of an ONNX model made a graph output and
  the model run with onnxruntime (the ``onnxruntime`` package); keyed by ONNX node name.
- :func:`apply_densities` writes ``{layer name: density}`` onto a LayerGraph
  (``set_activation_density``) and records what was done in ``graph.metadata["calibration"]``;
  :func:`calibrate_onnx` maps node names to layer names through the importer's record
  ``graph.metadata["onnx"]["nodes"]`` (layer name -> ONNX node name), so it works on any graph the
  ONNX importer built, whatever its internals.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload.graph import LayerGraph

#: ONNX ops whose first input is the activation a weighted layer multiplies
_DATA_FIRST = ("Conv", "ConvTranspose", "Gemm", "MatMul", "QLinearConv", "QLinearMatMul", "ConvInteger",
               "MatMulInteger", "LSTM", "GRU", "RNN")


def density_of(array: Any) -> tuple[int, int]:
    """``(non-zero elements, elements)`` of an array-like (NaN counts as non-zero)."""
    a = np.asarray(array)
    return int(np.count_nonzero(a)), int(a.size)


def check_finite(name: str, array: Any, where: str = "calibration inputs") -> None:
    """Refuse calibration inputs holding NaN or infinite values: every activation downstream would count as
    non-zero (density 1.0), a silent default rather than a measurement."""
    a = np.asarray(array)
    if a.dtype.kind in "fc" and a.size and not np.isfinite(a).all():
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise WorkloadError(f"{where}: '{name}' holds {bad:,} NaN or infinite values of {a.size:,}; "
                            f"expected real (finite) inputs")


def _ratio(nnz: int, size: int) -> float:
    if size <= 0:
        return 1.0
    return max(nnz, 1) / size


def apply_densities(graph: LayerGraph, densities: Mapping[str, float], source: str, batch: int | None = None) -> LayerGraph:
    """Record ``{layer name: input density}`` on ``graph`` (in place; returned).

    Names that are not layers of the graph are ignored (counted in the metadata). Densities are
    clipped into (0, 1]. ``graph.metadata["calibration"]`` gets ``{"source", "batch", "layers",
    "unmatched"}``.
    """
    done = 0
    for name, d in densities.items():
        if name not in graph:
            continue
        d = float(d)
        if not np.isfinite(d):
            raise WorkloadError(f"calibration: density of '{name}' must be finite; got {d!r}")
        graph.set_activation_density(name, min(1.0, max(d, np.finfo(float).tiny)))
        done += 1
    graph.metadata["calibration"] = {"source": source, "batch": batch, "layers": done,
                                     "unmatched": len(densities) - done}
    return graph


# --- torch ---------------------------------------------------------------------------------------

def torch_input_densities(module, batch: Any, names: set[str] | None = None) -> dict[str, float]:
    """``{module path: input density}`` of ``module`` run (eval mode, no grad) on ``batch``.

    ``batch``: a tensor or a tuple of tensors (one per forward argument), batch axis first.
    ``names``: only these module paths (default: every leaf module). A module called several times
    accumulates over its calls.
    """
    import torch

    args = batch if isinstance(batch, tuple) else (batch,)
    if not args or not all(isinstance(a, torch.Tensor) for a in args):
        raise WorkloadError("calibration: the batch must be a tensor or a tuple of tensors")
    for i, a in enumerate(args):
        check_finite(f"argument {i}", a.detach().cpu().numpy() if a.is_floating_point() else np.zeros(0))
    counts: dict[str, list[int]] = {}
    handles = []

    def hook(name):
        def record(_mod, inputs, _out):
            first = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
            if first is None:
                return
            acc = counts.setdefault(name, [0, 0])
            acc[0] += int(torch.count_nonzero(first).item())
            acc[1] += int(first.numel())
        return record

    for name, mod in module.named_modules():
        if not name:
            continue
        if (names is not None and name in names) or (names is None and not any(True for _ in mod.children())):
            handles.append(mod.register_forward_hook(hook(name)))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(*args)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkloadError(f"calibration: running {type(module).__name__} on the batch failed: {first}") from None
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return {name: _ratio(nnz, size) for name, (nnz, size) in counts.items()}


# --- ONNX (onnxruntime) ----------------------------------------------------------------------------

def read_inputs(path: str | os.PathLike) -> Any:
    """A calibration batch from disk: ``.npy`` (one array: the model's only input) or ``.npz``
    (arrays named like the model's inputs); batch axis first."""
    p = Path(path)
    if not p.is_file():
        raise WorkloadError(f"{p}: calibration inputs not found")
    from accelsim.workload.weights import not_an_array_file

    why = not_an_array_file(p, ".npy / .npz")
    if why:
        raise WorkloadError(f"{p}: {why}")
    try:
        loaded = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise WorkloadError(f"{p}: not a .npy / .npz array file ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            return {k: loaded[k] for k in loaded.files}
    return loaded


def _load_inputs(inputs: Any, input_names: list[str], where: str = "calibration inputs") -> dict[str, np.ndarray]:
    """``inputs``: a path (.npy: the first input; .npz: arrays by input name), an array, or a mapping."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = read_inputs(inputs)
    if isinstance(inputs, Mapping):
        unknown = set(inputs) - set(input_names)
        if unknown:
            raise WorkloadError(f"calibration inputs name {sorted(unknown)}; the model's inputs are {input_names}")
        out = {k: np.asarray(v) for k, v in inputs.items()}
    else:
        if len(input_names) != 1:
            raise WorkloadError(f"calibration: the model has inputs {input_names}; give a .npz or a mapping by name")
        out = {input_names[0]: np.asarray(inputs)}
    missing = [n for n in input_names if n not in out]
    if missing:
        raise WorkloadError(f"calibration inputs lack the model input(s) {missing}")
    for name, a in out.items():
        check_finite(name, a, where)
    return out


def onnx_input_densities(model: Any, inputs: Any, where: str = "calibration inputs") -> dict[str, float]:
    """``{ONNX node name: density of its first data input}`` from running ``model`` on ``inputs``.

    ``model``: a path or a ``ModelProto``; ``inputs``: see :func:`_load_inputs` (arrays batch-first,
    dtype cast to the model's input type). Every node's data input is made a graph output so one
    onnxruntime run sees them all. Needs ``onnxruntime`` (``pip install onnxruntime``). ``where`` starts the message
    that refuses non-finite inputs (the inputs' file, when read from one).
    """
    try:
        import onnx
    except ImportError:
        raise WorkloadError("calibrating an ONNX model needs onnx: pip install 'accelsim[onnx]'") from None
    try:
        import onnxruntime as ort
    except ImportError:
        raise WorkloadError("calibrating an ONNX model needs onnxruntime: pip install onnxruntime") from None
    proto = onnx.load(str(model)) if isinstance(model, (str, os.PathLike)) else model
    proto = onnx.ModelProto.FromString(proto.SerializeToString())  # a copy: outputs are added below
    g = proto.graph
    inits = {i.name for i in g.initializer}
    consts = {o for n in g.node if n.op_type == "Constant" for o in n.output}
    wanted: dict[str, str] = {}  # node name -> tensor measured
    for i, node in enumerate(g.node):
        data = [t for t in node.input if t and t not in inits and t not in consts]
        if not data:
            continue
        name = node.name or f"{node.op_type}_{i}"
        wanted[name] = data[0]
    graph_inputs = [i.name for i in g.input if i.name not in inits]
    present = {o.name for o in g.output}
    for tensor in dict.fromkeys(wanted.values()):
        if tensor not in present and tensor not in graph_inputs:
            g.output.append(onnx.ValueInfoProto(name=tensor))
    feeds = _load_inputs(inputs, graph_inputs, where)
    try:
        sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        types = {i.name: i.type for i in sess.get_inputs()}
        casts = {k: v.astype(_NP_TYPES.get(types.get(k, ""), v.dtype), copy=False) for k, v in feeds.items()}
        out_names = [o.name for o in sess.get_outputs()]
        values = dict(zip(out_names, sess.run(out_names, casts)))
    except Exception as exc:  # onnxruntime raises its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"{model}: " if isinstance(model, (str, os.PathLike)) else ""
        raise WorkloadError(f"{where}calibration: onnxruntime could not run the model on the inputs: {first}") from None
    values.update(casts)
    out = {}
    for node_name, tensor in wanted.items():
        if tensor in values:
            out[node_name] = _ratio(*density_of(values[tensor]))
    return out


_NP_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
             "tensor(bool)": np.bool_}


def calibrate_onnx(graph: LayerGraph, model: Any, inputs: Any) -> LayerGraph:
    """Measure ``model`` on ``inputs`` (:func:`onnx_input_densities`) and record each imported layer's
    input density on ``graph`` (built from the same model by the ONNX importer). In place; returned."""
    nodes = (graph.metadata.get("onnx") or {}).get("nodes")
    if not isinstance(nodes, Mapping):
        raise WorkloadError(f"{graph.source or graph.name}: calibration needs a graph imported from ONNX "
                            "(graph.metadata['onnx']['nodes'] maps layers to ONNX nodes)")
    label = str(inputs) if isinstance(inputs, (str, os.PathLike)) else "an in-memory batch"
    arrays = read_inputs(inputs) if isinstance(inputs, (str, os.PathLike)) else inputs
    by_node = onnx_input_densities(model, arrays, f"{label}: calibration inputs")
    per_layer = {layer: by_node[node] for layer, node in nodes.items() if node in by_node}
    return apply_densities(graph, per_layer, source=f"onnxruntime on {label}", batch=_batch_of(arrays))


def _batch_of(arrays: Any) -> int | None:
    first = next(iter(arrays.values()), None) if isinstance(arrays, Mapping) else arrays
    shape = np.shape(first) if first is not None else ()
    return int(shape[0]) if len(shape) else None


__all__ = ["apply_densities", "calibrate_onnx", "density_of", "onnx_input_densities", "read_inputs", "torch_input_densities"]
