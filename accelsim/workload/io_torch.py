"""PyTorch module -> LayerGraph (the ``torch`` extra): ``torch.export``, then the ONNX importer.

``load_torch(module, example_input)`` is the one way a module gets in. By default (``exporter="auto"``) the module is
captured with ``torch.export.export`` (an FX graph of ATen ops, no Python tracing quirks) and lowered to ONNX in
memory by torch's own exporter (``torch.onnx.export(exported_program, dynamo=True)``, which needs ``onnxscript``);
when ``torch.export`` cannot capture the module (data-dependent Python control flow, unsupported ops), the
TorchScript tracer (``torch.onnx.export(..., dynamo=False)``) is used instead and a note says so. Either way the
ONNX model is read by :func:`accelsim.workload.onnx.load_onnx`, so a module imports with exactly the layer types,
MACs and weights of its ONNX export, and every converter, fusion and note is shared. Layer names are module paths
(``layer1.0.conv1``), from the exported program's name scopes. The example input's first axis is the batch.
``calibration=batch`` measures each layer's input activation density with forward hooks on real inputs
(:mod:`accelsim.workload.calibrate`); hooks only measure, the graph always comes from the export.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import sys
import threading
import warnings
from typing import Any

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload.graph import LayerGraph

OPSET = 17
EXPORTERS = ("auto", "export", "torchscript")


def _first_line(exc: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # the exporter colours its messages
    return text.splitlines()[0] if text else type(exc).__name__


def _reason(exc: Exception) -> str:
    """The first line of the innermost cause of an exporter error (the outer ones say which step failed)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return _first_line(exc)


#: one export at a time in a process: the exporters print, and their output is silenced by redirecting the
#: process's stdout (and Python's), which two threads exporting at once would restore out of order (a held-out round:
#: descriptor 1 left on /dev/null for the rest of the process in 11 of 18 runs)
_EXPORT_LOCK = threading.RLock()


def _serialized(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _EXPORT_LOCK:
            return fn(*args, **kwargs)

    return wrapper


@_serialized
def _via_export(module, args, input_names):
    """``torch.export`` + torch's ONNX lowering of the exported program (its nodes keep their module paths in their
    name-scope metadata, which the importer names layers by)."""
    import logging

    import torch

    import onnxscript.optimizer

    # the exporter prints its progress, and the graph it could not export (hundreds of lines of a MoE's forward) before
    # the TorchScript route is tried
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        program = torch.export.export(module, args)
        onnx_program = torch.onnx.export(program, args, dynamo=True, opset_version=max(OPSET, 18), input_names=input_names,
                                         optimize=False, verbose=False)
    # onnxscript's constant folding only: its rewrite rules would fuse BatchNorm into the Conv under the norm's name.
    # Products of constants are left to the importer, which evaluates them too and reports their MACs (a weight
    # parametrization's low-rank product, an RNN's first step on its zero state).
    products = {"MatMul", "Gemm", "Conv", "ConvTranspose", "Einsum"}
    quiet = logging.getLogger("onnxscript")  # its folder logs each constant it could not evaluate ("Evaluation failed")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # onnxscript prints the ops it does not fold
            try:
                onnxscript.optimizer.fold_constants(onnx_program.model,
                                                    should_fold=lambda n: False if n.op_type in products else None)
            except TypeError:  # an onnxscript without the hook
                onnxscript.optimizer.fold_constants(onnx_program.model)
            onnxscript.optimizer.remove_unused_nodes(onnx_program.model)
    finally:
        quiet.setLevel(level)
    model = onnx_program.model_proto
    _drop_zero_biases(model, {name for name, _ in (*module.named_parameters(), *module.named_buffers())})
    return model  # (the importer names layers by the module paths the nodes' metadata keeps)


def _drop_zero_biases(model, state: set[str]) -> None:
    """Remove the bias input of a Conv / ConvTranspose / Gemm that the unoptimized exporter gives a bias-free
    layer: an all-zero initializer that is no parameter or buffer of the module (``val_5``). Left in, it was read
    as a real bias (+C parameters a conv); the TorchScript and optimized dynamo exports write none."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm") or len(node.input) < 3:
            continue
        bias = inits.get(node.input[2])
        if bias is not None and bias.name not in state and not numpy_helper.to_array(bias).any():
            del node.input[2]


@contextlib.contextmanager
def _quiet_stdout():
    """Python's and the C++ side's writes to stdout discarded (the TorchScript exporter prints its whole IR graph,
    hundreds of lines, through file descriptor 1 before raising on a module it cannot trace)."""
    sys.stdout.flush()
    fd = 1  # (the process's descriptor the C++ side writes to, whatever sys.stdout is now)
    try:
        saved = os.dup(fd)
    except OSError:  # (no descriptor 1: nothing to silence)
        saved = None
    try:
        if saved is not None:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), fd)
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        if saved is not None:
            os.dup2(saved, fd)
            os.close(saved)


@_serialized
def _via_torchscript(module, args, input_names, opset):
    import torch

    buffer = io.BytesIO()
    with _quiet_stdout():
        torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset, do_constant_folding=True,
                          input_names=input_names)
    import onnx

    return onnx.load_from_string(buffer.getvalue())


def _params_gap(module, graph, torch) -> str:
    """Why the graph's layers hold another number of params than the module, term by term, by parameter and layer
    name (layers are named by module path; TorchScript's scopes may drop a container, ``m.decoder.fc`` for the module
    ``m.model.decoder.fc``: matched by the path's tail): tied parameters counted once per layer that reads them; batch
    norms folded into the layer before them (their scale and shift gone, a bias-free layer's new bias added);
    recurrent cells' two bias vectors one column of the cell's weight; parameters no layer holds (a position table
    read at constant indices, experts read at data-dependent indices: constants of the graph; or unused), named,
    after those held under another name (a constant-folded copy: by value). What these do not account for is given
    as a remainder."""
    params = dict(module.named_parameters())
    layers = {layer.name: layer for layer in graph.layers if layer.params}  # the layers holding params
    owner = {name: name.rpartition(".")[0] for name in params}
    tails: dict[tuple, list[list[str]]] = {}
    for name in layers:
        parts = name.split(".")
        tails.setdefault(tuple(parts[-2:]), []).append(parts)

    def has_layer(path: str) -> bool:
        """A layer named ``path``, or by a scope whose every part but its first ends ``path``."""
        if path in layers:
            return True
        parts = path.split(".")
        for cand in tails.get(tuple(parts[-2:]), ()):
            n = min(len(cand), len(parts))
            same = next((i for i in range(n) if cand[-1 - i] != parts[-1 - i]), n)
            if same >= 2 and same >= len(cand) - 1:
                return True
        return False

    terms, explained = [], 0  # (text), module params minus graph params these explain

    def add(n: int, text: str) -> None:
        nonlocal explained
        if n:
            explained += n
            terms.append(text)

    uses: dict[int, list[str]] = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        uses.setdefault(id(p), []).append(name)
    repeat = sum(params[names[0]].numel() * (readers - 1) for names in uses.values()
                 if (readers := sum(has_layer(n.rpartition(".")[0]) for n in names)) > 1)
    add(-repeat, f"tied parameters counted by each layer that reads them (+{repeat:,})")
    norm_types = (torch.nn.modules.batchnorm._BatchNorm,)
    modules = dict(module.named_modules())
    norms = sum(p.numel() for name, p in params.items()
                if isinstance(modules.get(owner[name]), norm_types) and not has_layer(owner[name]))
    gained = sum(layer.bias_size for name, layer in layers.items() if getattr(layer, "bias_size", 0)
                 and f"{name}.weight" in params and f"{name}.bias" not in params)
    add(norms - gained, f"batch norms folded into the layers before them (their {norms:,} scales and shifts gone"
                        + (f", {gained:,} bias values added to bias-free layers" if gained else "") + ")")
    merged = sum(p.numel() for name, p in params.items() if name.rpartition(".")[2].startswith("bias_hh")
                 and isinstance(modules.get(owner[name]), torch.nn.RNNBase))
    add(merged, f"recurrent cells' two bias vectors (bias_ih + bias_hh) one bias column of each cell's weight "
                f"({merged:,} params fewer)")
    read = set(graph.metadata.get("onnx", {}).get("initializers_read", ()))  # initializers named as the parameters
    unheld = [(name, p.numel()) for name, p in params.items() if name not in read and not has_layer(owner[name])
              and not isinstance(modules.get(owner[name]), norm_types)]
    if unheld:  # held under another name (a constant-folded copy): found by value, where values tell arrays apart
        import hashlib

        def digest(a) -> bytes | None:  # (None for a constant array: an unused zero bias is no other layer's bias)
            a = np.ascontiguousarray(a, np.float32)
            if not a.size or a.min() == a.max():
                return None
            return hashlib.blake2b(a.tobytes(), digest_size=16).digest()

        values = {digest(a) for arrays in (graph.weights, graph.biases) for a in arrays.values() if a is not None}
        values.discard(None)
        unheld = [(name, n) for name, n in unheld if digest(params[name].detach().cpu().numpy()) not in values]
    if unheld:
        shown = ", ".join(f"{name} ({n:,})" for name, n in unheld[:3]) + (", ..." if len(unheld) > 3 else "")
        add(sum(n for _, n in unheld), f"{len(unheld)} parameter(s) no layer holds (constants of the graph: a table "
                                       f"read at constant indices, experts read at data-dependent ones; or unused by "
                                       f"the forward): {shown}; {sum(n for _, n in unheld):,} in all")
    rest = sum(p.numel() for p in params.values()) - graph.total_params - explained
    if rest:
        terms.append(f"{abs(rest):,} {'fewer' if rest > 0 else 'more'} in the graph otherwise (a parameter one "
                     "module applies several times is counted once per use; a weight the exporter renamed)")
    return "; ".join(terms) if terms else "(no term found)"


def _tied_parameters(module) -> list[str]:
    """``'a.weight = b.weight'`` for each parameter that more than one module holds (tied embeddings)."""
    names: dict[int, list[str]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), []).append(name)
    return [" = ".join(n) for n in names.values() if len(n) > 1]


def load_torch(module, example_input: Any = None, name: str | None = None, skip_unsupported: bool = False,
               opset: int = OPSET, calibration: Any = None, exporter: str = "auto", strict: bool = False) -> LayerGraph:
    """Export ``module`` on ``example_input`` (a tensor or a tuple of tensors, batch axis first) and import it.

    ``exporter``: ``"auto"`` (``torch.export``, the TorchScript tracer where that fails), ``"export"`` or
    ``"torchscript"`` (opset ``opset``) only. ``name``: graph name (default: the class name). ``skip_unsupported``
    and ``strict`` are :func:`~accelsim.workload.onnx.load_onnx`'s. ``calibration``: a batch of real inputs; each
    layer named like a module gets its measured input activation density (``metadata["calibration"]``).
    ``metadata["torch"]["exporter"]`` says which route was taken. The module is put in eval mode for the export
    and restored. WorkloadError: torch or onnx missing, no example input, or the export fails.
    """
    try:
        import torch
    except ImportError:
        raise WorkloadError("loading a torch module needs torch: pip install 'accelsim[torch]'") from None
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise WorkloadError("loading a torch module needs onnx: pip install 'accelsim[onnx]'") from None
    from accelsim.workload.onnx import load_onnx

    if not isinstance(module, torch.nn.Module):
        raise WorkloadError(f"load_torch expects a torch.nn.Module; got {type(module).__name__}")
    if exporter not in EXPORTERS:
        raise WorkloadError(f"load_torch: exporter must be one of {', '.join(EXPORTERS)}; got {exporter!r}")
    if example_input is None:
        raise WorkloadError(f"load_torch({type(module).__name__}): pass example_input, e.g. torch.zeros(1, 3, 224, 224)")
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    if not all(isinstance(a, torch.Tensor) for a in args):
        raise WorkloadError("load_torch: example_input must be a tensor or a tuple of tensors")
    input_names = ["input"] if len(args) == 1 else [f"input_{i}" for i in range(len(args))]
    was_training, notes, used = module.training, [], exporter
    module.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes about the exporters
            model, first = None, ""
            if exporter in ("auto", "export"):
                try:
                    model, used = _via_export(module, args, input_names), "export"
                except Exception as exc:
                    if exporter == "export":
                        raise
                    first = _reason(exc)[:200]
                    notes.append(f"torch.export could not capture or lower {type(module).__name__} ({first}); "
                                 "the TorchScript tracer was used")
            if model is None:
                try:
                    model, used = _via_torchscript(module, args, input_names, opset), "torchscript"
                except Exception as exc:
                    if first:  # both routes failed: the first one's reason is usually the one to act on
                        raise WorkloadError(f"cannot export {type(module).__name__} to ONNX: torch.export route: {first}; "
                                            f"TorchScript route: {_first_line(exc)[:200]}") from None
                    raise
    except WorkloadError:
        raise
    except Exception as exc:
        raise WorkloadError(f"cannot export {type(module).__name__} to ONNX: {_first_line(exc)}") from None
    finally:
        module.train(was_training)
    label = name or type(module).__name__
    try:
        graph = load_onnx(model, skip_unsupported=skip_unsupported, name=label, strict=strict)
    except WorkloadError as exc:
        if exporter != "auto" or used != "export" or strict:
            raise
        # the torch.export route's graph holds what the importer cannot take (EmbeddingBag's Loop of unknown
        # shape): the TorchScript tracer's, where it exports and imports
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module.eval()
                try:
                    traced = _via_torchscript(module, args, input_names, opset)
                finally:
                    module.train(was_training)
            graph = load_onnx(traced, skip_unsupported=skip_unsupported, name=label, strict=strict)
        except Exception:
            raise exc from None
        used = "torchscript"
        notes.append(f"the torch.export route's ONNX could not be imported ({_first_line(exc)[:200]}); "
                     "the TorchScript tracer was used")
    graph.source = f"<torch {type(module).__name__}>"
    graph.metadata["torch"] = {"exporter": used, "params": sum(p.numel() for p in module.parameters())}
    tied = _tied_parameters(module)
    held = graph.metadata["torch"]["params"]
    if tied:
        notes.append(f"{len(tied)} parameter(s) shared by several modules (tied: {', '.join(tied[:3])}"
                     f"{', ...' if len(tied) > 3 else ''}): each layer reading one counts it once per use; the module "
                     f"holds {held:,} params (metadata['torch']['params'])")
    if graph.total_params != held:  # (held-out rounds found these silent, then wrongly explained)
        notes.append(f"the graph's layers hold {graph.total_params:,} params, the module {held:,} "
                     f"(metadata['torch']['params']): {_params_gap(module, graph, torch)}")
    onnx_notes = graph.metadata.get("notes", [])
    if tied:  # (the module's own names for the file's shared initializers)
        onnx_notes = [n for n in onnx_notes if "initializer(s) hold the weights of several layers" not in n]
    graph.metadata["notes"] = notes + onnx_notes
    if calibration is not None:
        from accelsim.workload.calibrate import apply_densities, torch_input_densities

        densities = torch_input_densities(module, calibration, names={layer.name for layer in graph.layers})
        cal = calibration if isinstance(calibration, tuple) else (calibration,)
        apply_densities(graph, densities, source=f"torch forward hooks on a batch of {int(cal[0].shape[0])}",
                        batch=int(cal[0].shape[0]))
    return graph


__all__ = ["EXPORTERS", "load_torch"]
