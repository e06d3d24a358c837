"""Run the user's model with given weights: an ONNX model on onnxruntime, or a torch ``nn.Module``.

Both are optional extras, imported only when used (``pip install 'accelsim[accuracy]'`` /
``'accelsim[torch]'``). A backend first *binds* the layers of the dense LayerGraph that was
compressed to the model's own weight tensors by VALUE: the tensor whose contents equal the layer's
dense weights exactly (in PyTorch layout: a ``MatMul`` / ``Gemm(transB=0)`` weight is compared
transposed). So the binding does not depend on how an importer names layers; a layer whose weights
match no tensor (e.g. a BatchNormalization folded into it on import) is an :class:`AccuracyError`
naming it. :func:`accelsim.accuracy.evaluation.evaluate` binds only the layers the recipe changed. Writing puts each layer's effective array (:mod:`accelsim.accuracy.weights`) into its
tensor - transposed back where it was compared transposed; nothing else changes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from accelsim.accuracy.base import AccuracyError, first_line


#: ONNX ops of a deployed quantized model: its weights are integer codes, which no float weight equals
QUANTIZED_OPS = frozenset({"DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "QGemm",
                           "MatMulNBits", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QAttention"})


def _match(name: str, dense: np.ndarray, candidates: Mapping[str, np.ndarray], hint: str, where: str,
           quantized: bool = False) -> str:
    """The candidate tensor equal to ``dense`` (the one named like ``hint`` when several are)."""
    hits = [k for k, v in candidates.items() if v.shape == dense.shape and np.array_equal(v, dense)]
    if not hits:
        why = ("the model's weights are stored quantized (QDQ / QOperator / MatMulNBits): a recipe is evaluated on "
               "the float model it was quantized from" if quantized else
               "a BatchNormalization folded into it on import? a graph of another model?")
        raise AccuracyError(f"{where}: no weight tensor of the model equals the weights of layer '{name}' ({why})")
    if len(hits) > 1:
        named = [k for k in hits if hint and hint in k]
        if len(named) != 1:
            raise AccuracyError(f"{where}: layer '{name}' has the same weights as tensors {', '.join(hits)}; "
                                "cannot tell which one to write")
        return named[0]
    return hits[0]


class OnnxBackend:
    """An ONNX model (path or ``onnx.ModelProto``), run with onnxruntime on the CPU."""

    kind = "onnx"

    def __init__(self, model: Any):
        try:
            import onnx
        except ImportError:
            raise AccuracyError("evaluating an ONNX model needs onnx: pip install 'accelsim[onnx]'") from None
        self.label = str(model) if isinstance(model, (str, Path)) else "<onnx model>"
        if isinstance(model, (str, Path)):
            try:
                model = onnx.load(str(model))
            except FileNotFoundError:
                raise AccuracyError(f"{self.label}: model file not found") from None
            except Exception as exc:  # noqa: BLE001 - protobuf decode errors have many types
                raise AccuracyError(f"{self.label}: not a readable ONNX model ({first_line(exc)})") from None
        if not isinstance(model, onnx.ModelProto):
            raise AccuracyError(f"an ONNX model must be a path or onnx.ModelProto; got {type(model).__name__}")
        self.model = model
        self._inits = {t.name: i for i, t in enumerate(model.graph.initializer)}
        self.binding: dict[str, tuple[str, bool]] = {}

    def _candidates(self) -> tuple[dict[str, np.ndarray], dict[str, bool]]:
        from onnx import numpy_helper

        arrays, transposed = {}, {}
        for node in self.model.graph.node:
            if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2 or node.input[1] not in self._inits:
                continue
            key = node.input[1]
            w = numpy_helper.to_array(self.model.graph.initializer[self._inits[key]])
            attrs = {a.name: a for a in node.attribute}
            flip = node.op_type == "MatMul" or (node.op_type == "Gemm" and not (attrs.get("transB") and attrs["transB"].i))
            if node.op_type == "Gemm" and "alpha" in attrs and attrs["alpha"].f != 1.0:
                continue  # the layer's weights are alpha * B: not the stored tensor
            if w.ndim not in (2, 4):
                continue  # (a tensor several layers use, tied weights, is one candidate: with_weights checks them)
            arrays[key] = w.T if flip and w.ndim == 2 else w
            transposed[key] = bool(flip and w.ndim == 2)
        return arrays, transposed

    def bind(self, dense: Mapping[str, np.ndarray]) -> dict[str, tuple[str, bool]]:
        arrays, transposed = self._candidates()
        self.binding = {}
        for name, w in dense.items():
            key = _match(name, np.asarray(w), arrays, name.replace(".", "/"), self.label,
                         quantized=any(node.op_type in QUANTIZED_OPS for node in self.model.graph.node))
            self.binding[name] = (key, transposed[key])
        return self.binding

    def with_weights(self, weights: Mapping[str, np.ndarray] | None, act: Mapping[str, Any] | None = None,
                     probe: np.ndarray | None = None, ranges: dict | None = None):
        """A copy of the ONNX model with ``weights`` (layer -> array in PyTorch layout) written and the inputs of the
        layers of ``act`` (layer -> :class:`~accelsim.accuracy.act_quant.InputQuant`) quantized (``probe``: a batch
        of the data, run to learn the rank of an input that shape inference leaves unknown)."""
        from onnx import numpy_helper

        if not weights and not act:
            return self.model
        model = copy.deepcopy(self.model)
        if act:
            self._quantize_inputs(model, act, probe, ranges)
        written: dict[str, tuple[str, np.ndarray]] = {}
        for name, w in (weights or {}).items():
            key, flip = self.binding[name]
            old = model.graph.initializer[self._inits[key]]
            arr = np.ascontiguousarray(w.T if flip else w).astype(numpy_helper.to_array(old).dtype, copy=False)
            if key in written and not np.array_equal(written[key][1], arr):
                raise AccuracyError(f"{self.label}: layers '{written[key][0]}' and '{name}' share the weight tensor "
                                    f"'{key}' (tied weights) and the recipe compresses them differently; give both "
                                    "layers one recipe")
            written[key] = (name, arr)
            model.graph.initializer[self._inits[key]].CopyFrom(numpy_helper.from_array(arr, key))
        return model

    def _sites(self, model, act: Mapping[str, Any]) -> list[tuple[int, str, str]]:
        """``(node index, layer, input tensor)`` of every Conv / Gemm / MatMul reading the bound weight of a layer of
        ``act`` (tied weights: several nodes, each its own site)."""
        out = []
        for index, node in enumerate(model.graph.node):
            if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2:
                continue
            layers = [n for n, (key, _) in self.binding.items() if n in act and node.input[1] == key]
            if len({act[n].key for n in layers}) > 1:
                raise AccuracyError(f"{self.label}: layers '{layers[0]}' and '{layers[1]}' share a weight tensor (tied "
                                    "weights) and the recipe quantizes their inputs differently; give both one recipe")
            if layers:
                out.append((index, layers[0], node.input[0]))
        return out

    def input_ranges(self, weights: Mapping[str, np.ndarray] | None, act: Mapping[str, Any], batches) -> dict:
        """Per site (the input tensor of a node reading a layer of ``act``), the ``(min, max)`` of the values its
        quantizer reads over ``batches`` (inputs only), the model run with ``weights`` and float activations: the
        calibration of static scales."""
        from accelsim.accuracy.act_quant import merge_range, observed_range

        model = self.with_weights(weights)
        sites = {x: layer for _, layer, x in self._sites(model, act)}
        run = self._tapped(model, list(sites))
        ranges: dict[str, tuple[float, float]] = {}
        for x, _ in batches:
            got = run(x)
            for t, layer in sites.items():
                merge_range(ranges, t, observed_range(got[t], act[layer]))
        return ranges

    def _tapped(self, model, tensors: list[str]) -> Callable[[np.ndarray], dict]:
        """:meth:`_session` of a copy of ``model`` whose outputs include ``tensors`` (intermediate values read out)."""
        import onnx

        tapped = copy.deepcopy(model)
        outputs = {o.name for o in tapped.graph.output}
        for t in dict.fromkeys(tensors):
            if t not in outputs:
                tapped.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
        return self._session(tapped, list(dict.fromkeys(tensors)))

    def _quantize_inputs(self, model, act: Mapping[str, Any], probe: np.ndarray | None = None,
                         ranges: dict | None = None) -> None:
        """Insert each bound layer's input quantizer (:func:`~accelsim.accuracy.act_quant.onnx_nodes`) before the
        nodes that read its weight tensor, which then read the quantized input."""
        import onnx

        from accelsim.accuracy.act_quant import at_site, onnx_nodes

        found = self._sites(model, act)
        sites = {index: layer for index, layer, _ in found}
        # ranks only: a copy whose symbolic input sizes are 1, so that shapes computed from them (a Reshape to
        # (x.shape[0], -1)) resolve (the rank of a tensor does not depend on the batch)
        pinned = copy.deepcopy(model)
        for inp in pinned.graph.input:
            for d in inp.type.tensor_type.shape.dim:
                if not d.HasField("dim_value"):
                    d.dim_value = 1
        try:
            inferred = onnx.shape_inference.infer_shapes(pinned, data_prop=True)
        except Exception:  # noqa: BLE001 - shapes are asked for below, one tensor at a time
            inferred = pinned
        ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in (*inferred.graph.input, *inferred.graph.value_info)
                 if v.type.tensor_type.HasField("shape")}
        unknown = [x for _, _, x in found if x not in ranks]
        if unknown and probe is not None:  # (a shape computed at run time, e.g. x.reshape(x.shape[0], -1)): one run
            try:
                ranks.update({t: np.asarray(v).ndim for t, v in self._tapped(model, unknown)(probe).items()})
            except AccuracyError:
                pass
        opset = next((int(e.version) for e in model.opset_import if e.domain in ("", "ai.onnx")), 13)
        nodes = list(model.graph.node)
        inserted: dict[str, str] = {}
        out = []
        for index, node in enumerate(nodes):
            layer = sites.get(index)
            if layer is not None:
                attrs = {a.name: a for a in node.attribute}
                if node.op_type == "Gemm" and attrs.get("transA") and attrs["transA"].i:
                    raise AccuracyError(f"{self.label}: layer '{layer}' (Gemm with transA) cannot have its input "
                                        "quantized for evaluation")
                x = node.input[0]
                if x not in ranks:
                    raise AccuracyError(f"{self.label}: layer '{layer}': the rank of its input '{x}' is unknown to "
                                        "ONNX shape inference, so its quantized activations cannot be evaluated")
                if x not in inserted:
                    q = f"{x}/accelsim_act_quant"
                    new_nodes, inits = onnx_nodes(x, q, ranks[x], at_site(act[layer], ranges, x),
                                                  f"accelsim_act_quant/{len(inserted)}", opset)
                    out.extend(new_nodes)
                    model.graph.initializer.extend(inits)
                    inserted[x] = q
                node.input[0] = inserted[x]
            out.append(node)
        del model.graph.node[:]
        model.graph.node.extend(out)

    def runner(self, weights: Mapping[str, np.ndarray] | None, act: Mapping[str, Any] | None = None,
               probe: np.ndarray | None = None, ranges: dict | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """Run the model with ``weights`` written and the inputs of ``act``'s layers quantized (static ones with the
        calibrated ``ranges`` of :meth:`input_ranges`)."""
        run = self._session(self.with_weights(weights, act, probe, ranges), None)
        return lambda x: run(x)[None]

    def _session(self, model, names: list[str] | None) -> Callable[[np.ndarray], dict]:
        """A function of a batch giving ``{None: the first output}`` or, with ``names``, ``{name: that output}``."""
        try:
            import onnxruntime as ort
        except ImportError:
            raise AccuracyError("evaluating an ONNX model needs onnxruntime: pip install 'accelsim[accuracy]'") from None

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001
            raise AccuracyError(f"{self.label}: onnxruntime cannot load the model ({first_line(exc)})") from None
        wanted = names if names is not None else [sess.get_outputs()[0].name]
        inp = sess.get_inputs()[0]
        dtype = np.int64 if "int64" in inp.type else (np.int32 if "int32" in inp.type else np.float32)
        label = self.label

        def run(x: np.ndarray) -> np.ndarray:
            want = inp.shape[1:]
            got = list(x.shape[1:])
            if len(want) != len(got) or any(isinstance(w, int) and w != g for w, g in zip(want, got)):
                raise AccuracyError(f"{label}: data samples have shape {got}; the model's input '{inp.name}' "
                                    f"expects {list(want)} per sample")
            x = x.astype(dtype, copy=False)
            fixed = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None
            try:
                if fixed is None or len(x) == fixed:
                    outs = [sess.run(wanted, {inp.name: x})]
                else:
                    # an export with its batch fixed: the samples in runs of that size, the last padded with zeros
                    outs = []
                    for i in range(0, len(x), fixed):
                        part = x[i:i + fixed]
                        pad = np.zeros((fixed - len(part), *part.shape[1:]), part.dtype)
                        got = sess.run(wanted, {inp.name: np.concatenate([part, pad])})
                        outs.append([np.asarray(g)[:len(part)] for g in got])
            except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
                raise AccuracyError(f"{label}: onnxruntime failed on data of shape {list(x.shape)}: {first_line(exc)}") from None
            joined = [np.concatenate([np.asarray(o[i]) for o in outs]) for i in range(len(wanted))]
            return dict(zip(names, joined)) if names is not None else {None: joined[0]}

        return run


class TorchBackend:
    """A torch ``nn.Module``, run in eval mode on the CPU under ``torch.no_grad``."""

    kind = "torch"

    def __init__(self, module: Any):
        try:
            import torch
        except ImportError:
            raise AccuracyError("evaluating a torch module needs torch: pip install 'accelsim[torch]'") from None
        if not isinstance(module, torch.nn.Module):
            raise AccuracyError(f"a torch model must be an nn.Module; got {type(module).__name__}")
        self.module = module
        self.label = f"<torch {type(module).__name__}>"
        self.binding: dict[str, str] = {}

    def bind(self, dense: Mapping[str, np.ndarray]) -> dict[str, str]:
        params = {k: p.detach().cpu().numpy() for k, p in self.module.named_parameters() if p.ndim in (2, 4)}
        self.binding = {name: _match(name, np.asarray(w), params, name + ".weight", self.label)
                        for name, w in dense.items()}
        return self.binding

    def with_weights(self, weights: Mapping[str, np.ndarray] | None):
        """A deep copy of the module with ``weights`` (layer -> array) written into its parameters."""
        import torch

        module = copy.deepcopy(self.module)
        if weights:
            params = dict(module.named_parameters())
            written: dict[str, tuple[str, np.ndarray]] = {}
            with torch.no_grad():
                for name, w in weights.items():
                    key = self.binding[name]
                    if key in written and not np.array_equal(written[key][1], w):
                        raise AccuracyError(f"{self.label}: layers '{written[key][0]}' and '{name}' share the weight "
                                            f"tensor '{key}' (tied weights) and the recipe compresses them differently; "
                                            "give both layers one recipe")
                    written[key] = (name, np.asarray(w))
                    p = params[key]
                    p.copy_(torch.from_numpy(np.array(w, copy=True)).to(p.dtype).reshape(p.shape))
        return module

    def _owners(self, module, name: str) -> list[tuple[str, Any]]:
        """``(path, module)`` of every nn.Linear / nn.Conv of ``module`` whose weight is the bound tensor of layer
        ``name`` (tied weights: several, each its own site)."""
        import torch

        owner = self.binding[name].rpartition(".")[0]
        sub = module.get_submodule(owner) if owner else module
        kinds = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
        if not isinstance(sub, kinds):
            raise AccuracyError(f"{self.label}: layer '{name}' is the weight of a {type(sub).__name__}, not an "
                                "nn.Linear / nn.Conv: its quantized input activations cannot be evaluated")
        return [(path, m) for path, m in module.named_modules(remove_duplicate=False)
                if isinstance(m, kinds) and m.weight is sub.weight]

    def input_ranges(self, weights: Mapping[str, np.ndarray] | None, act: Mapping[str, Any], batches,
                     module: Any = None) -> dict:
        """Per site (the path of a module holding a layer of ``act``'s weight), the ``(min, max)`` of the values its
        quantizer reads over ``batches`` (inputs only), the model (``module``, else a copy with ``weights``) run with
        float activations: the calibration of static scales."""
        from accelsim.accuracy.act_quant import merge_range, observed_range

        net = module if module is not None else self.with_weights(weights)
        ranges: dict[str, tuple[float, float]] = {}
        handles = []
        for name, spec in act.items():
            for path, sub in self._owners(net, name):
                def hook(_mod, args, path=path, spec=spec):
                    merge_range(ranges, path, observed_range(args[0].detach().cpu().numpy(), spec))

                handles.append(sub.register_forward_pre_hook(hook))
        try:
            run = self.runner(None, module=net)
            for x, _ in batches:
                run(x)
        finally:
            for h in handles:
                h.remove()
        return ranges

    def quantize_inputs(self, module, act: Mapping[str, Any], ranges: dict | None = None) -> None:
        """Forward pre-hooks on ``module`` (a copy) quantizing the inputs of the bound layers of ``act`` (layer ->
        :class:`~accelsim.accuracy.act_quant.InputQuant`) with :func:`~accelsim.accuracy.act_quant.quantize_input`."""
        import torch

        from accelsim.accuracy.act_quant import at_site, quantize_input

        hooked: dict[int, Any] = {}
        for name, spec in act.items():
            for path, sub in self._owners(module, name):
                if id(sub) in hooked:  # (a module reached from two tied layers: one hook)
                    if hooked[id(sub)] != spec.key:
                        raise AccuracyError(f"{self.label}: layer '{name}' shares its weight with another layer whose "
                                            "inputs the recipe quantizes differently; give both one recipe")
                    continue
                hooked[id(sub)] = spec.key

                def hook(_mod, args, spec=at_site(spec, ranges, path)):
                    x = args[0]
                    q = quantize_input(x.detach().cpu().numpy(), spec)
                    return (torch.from_numpy(q).to(x.dtype), *args[1:])

                sub.register_forward_pre_hook(hook)

    def runner(self, weights: Mapping[str, np.ndarray] | None, module: Any = None,
               act: Mapping[str, Any] | None = None, probe: Any = None,
               ranges: dict | None = None) -> Callable[[np.ndarray], np.ndarray]:
        import torch

        net = module if module is not None else self.with_weights(weights)
        if act:
            if module is not None and not weights:  # (a module handed in is the caller's: hooks on a copy)
                net = copy.deepcopy(net)
            self.quantize_inputs(net, act, ranges)
        net.eval()
        label = self.label

        def run(x: np.ndarray) -> np.ndarray:
            t = torch.from_numpy(np.ascontiguousarray(x))
            if t.is_floating_point():
                t = t.float()
            try:
                with torch.no_grad():
                    out = net(t)
            except Exception as exc:  # noqa: BLE001 - shape errors are RuntimeErrors
                raise AccuracyError(f"{label}: the model failed on data of shape {list(x.shape)}: {first_line(exc)}") from None
            if isinstance(out, (tuple, list)):
                out = out[0]
            if hasattr(out, "logits"):
                out = out.logits
            return out.detach().cpu().numpy()

        return run


def backend_for(model: Any):
    """The backend of a model: a path / ModelProto -> ONNX, an ``nn.Module`` -> torch."""
    if isinstance(model, (OnnxBackend, TorchBackend)):
        return model
    if isinstance(model, (str, Path)):
        if Path(model).suffix != ".onnx":
            raise AccuracyError(f"{model}: a model file must be an .onnx file (torch modules: the Python API)")
        return OnnxBackend(model)
    if type(model).__module__.startswith("onnx"):
        return OnnxBackend(model)
    if hasattr(model, "named_parameters") and hasattr(model, "forward"):
        return TorchBackend(model)
    raise AccuracyError(f"a model must be an .onnx path, an onnx.ModelProto or a torch nn.Module; got {type(model).__name__}")


__all__ = ["OnnxBackend", "TorchBackend", "backend_for"]
