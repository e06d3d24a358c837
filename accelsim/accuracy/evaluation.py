"""Evaluate a compressed model on data: :func:`evaluate` (and :func:`evaluate_dense` for the reference).

The weights evaluated are exactly the arrays the hardware models saw (:mod:`accelsim.accuracy.weights`)
written into the user's model (:mod:`accelsim.accuracy.backends`), optionally after a short
fine-tune that keeps the mask and the quantization grid (:mod:`accelsim.accuracy.recovery`).
Every failure a user can cause is an :class:`~accelsim.accuracy.base.AccuracyError` with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from accelsim.accuracy.act_quant import input_quant
from accelsim.accuracy.backends import TorchBackend, backend_for
from accelsim.accuracy.base import AccuracyError
from accelsim.accuracy.data import DEFAULT_BATCH, Dataset, as_dataset
from accelsim.accuracy.metrics import LABELLED, PREFIX, Accumulator, check_metrics
from accelsim.accuracy.weights import effective_weights, layer_weights
from accelsim.compress.compressed import CompressedGraph
from accelsim.workload.graph import LayerGraph


def dense_graph(model: Any, backend, dataset: Dataset) -> LayerGraph:
    """The LayerGraph (with weights) of a model, imported as accelsim imports it."""
    if backend.kind == "onnx":
        from accelsim.workload.zoo import load_workload

        if isinstance(model, (str, Path)):
            return load_workload(str(model))
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(backend.model.SerializeToString())
            return load_workload(str(path))
    import torch

    from accelsim.workload.io_torch import load_torch

    x = dataset.batches[0][0][:1]
    return load_torch(backend.module, torch.from_numpy(np.ascontiguousarray(x)).float()
                      if np.issubdtype(x.dtype, np.floating) else torch.from_numpy(x))


def _run_metrics(run, dense_run, dataset: Dataset, metrics: list) -> dict[str, float]:
    acc = Accumulator(metrics, dataset.source)
    for x, y in dataset.batches:
        out = run(x)
        dense = dense_run(x) if dense_run is not None else None
        acc.add(out, y, dense)
    res = acc.result()
    res[PREFIX + "samples"] = float(dataset.n_samples)
    return res


def _prepare(model, data, metrics, batch_size, seq_len):
    if type(batch_size) is not int or batch_size < 1:  # (2.5: a TypeError deep in slicing; True: batch 1)
        raise AccuracyError(f"batch_size must be an int >= 1; got {batch_size!r}")
    metrics = check_metrics(metrics)
    backend = backend_for(model)
    needs = [m for m in metrics if isinstance(m, str) and m in LABELLED]
    dataset = as_dataset(data, batch_size=batch_size, seq_len=seq_len, require_labels=bool(needs))
    if needs:
        dataset.require_labels(f"metric {needs[0]}")
    return metrics, backend, dataset


def evaluate(model: Any, cg: CompressedGraph, data: Any, *, graph: LayerGraph | None = None,
             metrics: Sequence[Any] | str | Any = ("top1",), batch_size: int = DEFAULT_BATCH,
             seq_len: int | None = None, recovery: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Quality metrics of the compressed model ``cg`` run as ``model`` on ``data``.

    ``model``: an ``.onnx`` path or ``onnx.ModelProto`` (run with onnxruntime) or a torch
    ``nn.Module``. ``cg``: the :class:`CompressedGraph` the hardware models simulate. ``graph``:
    the dense LayerGraph that was compressed (default: the model imported again, as accelsim
    imports it). ``data``: an ``.npz`` path (``x``, ``y``), a token file with ``seq_len``, or an
    iterable of batches. ``metrics``: ``top1``, ``top5``, ``perplexity``, ``kl`` and / or callables
    ``fn(outputs, labels)``. ``recovery``: ``{epochs, data, lr, seed, batch_size}`` fine-tunes a
    torch model first with the mask and quantization grid held fixed.

    Returns ``{"accuracy.<metric>": value, "accuracy.samples": n}``.
    """
    metrics, backend, dataset = _prepare(model, data, metrics, batch_size, seq_len)
    if graph is None:
        graph = dense_graph(model, backend, dataset)
    eff = effective_weights(cg, graph)
    dense = layer_weights(graph)
    if not recovery:
        # only the layers the recipe changed are bound and written: a layer it left as it was stays the model's
        # own tensor, whatever the importer made of it (a BatchNormalization folded into a Linear, a Gemm with
        # alpha != 1, a weight from a Constant node), so the dense run needs no binding at all
        eff = {k: v for k, v in eff.items() if k not in dense or not np.array_equal(v, dense[k])}
    # the layers whose inputs the recipe quantizes (act_quant): bound too, to find the node or module reading them
    # (a product of two activations has no weight to find it by: its inputs stay float, docs/accuracy.md)
    act = {k: v for k, v in input_quant(cg).items() if k in dense}
    backend.bind({k: dense[k] for k in {**eff, **act} if k in dense})
    missing = [k for k in eff if k not in dense]
    if missing:
        raise AccuracyError(f"layers {', '.join(missing)} have no weights in the dense graph to match against")
    dense_run = backend.runner(None) if "kl" in metrics else None
    static = {k: v for k, v in act.items() if v.static}  # their scales from a calibration pass over the data
    if recovery:
        if not isinstance(backend, TorchBackend):
            raise AccuracyError(f"{backend.label}: recovery (fine-tuning) needs a torch nn.Module, not an ONNX model")
        from accelsim.accuracy.recovery import finetune

        net = finetune(backend, cg, eff, **dict(recovery))
        ranges = backend.input_ranges(None, static, dataset.batches, module=net) if static else None  # (fine-tuned)
        run = backend.runner(None, module=net, act=act, ranges=ranges)
    else:
        ranges = backend.input_ranges(eff or None, static, dataset.batches) if static else None
        run = backend.runner(eff or None, act=act, probe=dataset.batches[0][0][:1], ranges=ranges)
    return _run_metrics(run, dense_run, dataset, metrics)


def evaluate_dense(model: Any, data: Any, *, metrics: Sequence[Any] | str | Any = ("top1",),
                   batch_size: int = DEFAULT_BATCH, seq_len: int | None = None) -> dict[str, float]:
    """The same metrics of the uncompressed model (``kl`` is 0 by definition)."""
    metrics, backend, dataset = _prepare(model, data, metrics, batch_size, seq_len)
    run = backend.runner(None)
    return _run_metrics(run, run if "kl" in metrics else None, dataset, metrics)


def written_weights(model: Any, cg: CompressedGraph, graph: LayerGraph) -> dict[str, np.ndarray]:
    """Layer -> the array as it stands in the model after writing (ONNX initializer / torch
    parameter, in PyTorch layout): what the evaluation computes with. For checks and tests."""
    backend = backend_for(model)
    eff = effective_weights(cg, graph)
    dense = layer_weights(graph)
    binding = backend.bind({k: dense[k] for k in eff})
    if backend.kind == "onnx":
        from onnx import numpy_helper

        m = backend.with_weights(eff)
        inits = {t.name: t for t in m.graph.initializer}
        out = {}
        for name, (key, flip) in binding.items():
            a = numpy_helper.to_array(inits[key])
            out[name] = a.T if flip else a
        return out
    net = backend.with_weights(eff)
    params = dict(net.named_parameters())
    return {name: params[key].detach().cpu().numpy() for name, key in binding.items()}


__all__ = ["dense_graph", "evaluate", "evaluate_dense", "written_weights"]
