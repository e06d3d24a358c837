"""Constant folding with ONNX's own reference implementation: a node whose inputs are all constants is run by the
``onnx.reference`` kernel of its op and opset (control flow by ``ReferenceEvaluator``). A node whose outputs, as ONNX
shape inference gives them before it runs, would exceed :data:`MAX_FOLD_ELEMENTS` is not run: the loader imports it as
a generic layer (its shapes only), or refuses it under ``strict``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from accelsim.errors import WorkloadError

#: elements a folded constant may hold (256 MiB of float32): shape arithmetic and masks are far smaller
MAX_FOLD_ELEMENTS = 1 << 26

#: ops never folded: random generators (a cost model wants their shape, not one draw) are generic layers; the
#: sequence ops, whose converters keep a sequence as its element values (constant or not)
SEQUENCE_OPS = frozenset({"SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceAt", "SequenceErase",
                          "SequenceLength", "SplitToSequence", "ConcatFromSequence"})
NOT_FOLDED = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
                        "Multinomial"}) | SEQUENCE_OPS

#: control-flow ops: folded by running the node (with its subgraphs) in onnx.reference's evaluator
CONTROL_FLOW = frozenset({"If", "Loop", "Scan", "SequenceMap"})


class FoldError(WorkloadError):
    """The reference kernel could not evaluate a constant node (a bad node, or a gap in onnx.reference)."""


class EvalError(FoldError):
    """The reference kernel raised on the node's constant inputs (not the size guard): :func:`node_problem` tells a
    node ONNX itself finds invalid from a gap in onnx.reference."""


def node_problem(node, arrays: list, opsets: dict) -> str | None:
    """ONNX's verdict on a node its reference kernel could not evaluate on the constant ``arrays`` (None for absent
    inputs): the first line of strict shape inference's error on the node alone, its inputs as initializers (a
    ``Tile`` with 2-D ``repeats``, which TorchScript writes for Mamba's ``repeat_interleave`` and onnxruntime refuses),
    or None when ONNX finds the node valid (a gap in onnx.reference). The loader adds it to the note of the generic
    layer the node becomes."""
    from onnx import helper, numpy_helper, shape_inference

    try:
        inits = [numpy_helper.from_array(np.asarray(a), name) for name, a in zip(node.proto.input, arrays)
                 if name and a is not None]
        outputs = [helper.make_empty_tensor_value_info(o) for o in node.proto.output if o]
        model = helper.make_model(helper.make_graph([node.proto], "check", [], outputs, inits),
                                  opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
        shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except shape_inference.InferenceError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        return lines[0][:300] if lines else type(exc).__name__
    except Exception:  # (the check itself could not be built: no verdict)
        return None
    return None


def check_fold_size(node, shape) -> tuple[int, ...]:
    """``shape`` as ints; a :class:`FoldError` naming the node when it holds over :data:`MAX_FOLD_ELEMENTS` (the
    node is then imported as a generic layer, shapes only, or refused under ``strict``)."""
    shape = tuple(int(d) for d in shape)
    size = math.prod(max(d, 0) for d in shape)
    if size > MAX_FOLD_ELEMENTS:
        raise FoldError(f"node '{node.name}' ({node.op_type}): a constant of shape {list(shape)} ({size:.3g} elements) "
                        f"is over the {MAX_FOLD_ELEMENTS} elements a folded constant may hold")
    return shape


@lru_cache(maxsize=None)
def _kernel_class(op_type: str, version: int):
    """The reference kernel of ``op_type`` for the model's opset; the oldest one onnx ships when the model's opset
    predates every reference version (their semantics agree on the inputs older opsets allow)."""
    from onnx.reference.ops import load_op

    try:
        return load_op("", op_type, version)
    except RuntimeError:
        return load_op("", op_type, None)


def can_fold(node) -> bool:
    """Standard ops (and the contrib Quantize / DequantizeLinear of older onnxruntime QDQ models) fold."""
    if node.domain == "com.microsoft":
        return node.op_type in ("QuantizeLinear", "DequantizeLinear")
    return node.domain in ("", "ai.onnx") and node.op_type not in NOT_FOLDED


def _gather_elements(node, arrays):
    """GatherElements: onnx.reference's kernel uses ``np.choose``, limited to 64 entries along the axis."""
    data, index = np.asarray(arrays[0]), np.asarray(arrays[1]).astype(np.int64)
    axis = int(node.attrs.get("axis", 0)) % data.ndim
    return (np.take_along_axis(data, np.where(index < 0, index + data.shape[axis], index), axis=axis),)


def _checked(node, run) -> list[np.ndarray]:
    """``run()``'s outputs as arrays within the size guard; a kernel failure is a :class:`FoldError`.
    Floating-point exceptions are ONNX semantics, not faults (``Log(0)`` is ``-inf``, and exported graphs
    compute such values and then discard them, e.g. T5's relative-position buckets before a ``Where``):
    NumPy's warnings about them are silenced, not shown to the user."""
    try:
        with np.errstate(all="ignore"):
            outputs = run()
    except WorkloadError:
        raise
    except Exception as exc:  # the reference kernel's own message (bad attributes, shape mismatches)
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise EvalError(f"node '{node.name}' ({node.op_type}): cannot evaluate constant op "
                        f"({type(exc).__name__}: {first[:200]})") from None
    arrays = [np.asarray(a) for a in (outputs if isinstance(outputs, (tuple, list)) else (outputs,))]
    for a in arrays:
        check_fold_size(node, a.shape)
    return arrays


def fold(node, arrays: list, opset: int) -> list[np.ndarray]:
    """Evaluate ``node.proto`` on constant ``arrays`` (None for absent optional inputs) with onnx.reference."""

    def run():
        kernel = _kernel_class(node.op_type, opset)(node.proto, {"opsets": {"": opset}, "verbose": 0,
                                                                 "log": lambda *a: None, "new_ops": None})
        try:
            return kernel.run(*arrays)
        except Exception:
            if node.op_type != "GatherElements":
                raise
            return _gather_elements(node, arrays)

    return _checked(node, run)


def folded_macs(node, arrays: list, outputs: list) -> int:
    """Multiply-accumulates of a MatMul, Gemm, Conv or two-operand Einsum node (or an integer / quantized matrix
    product: MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv, onnxruntime's MatMulIntegerToFloat) evaluated
    on constants (0 for other ops): what an inference runtime also computes once, when it folds the constant subgraph (e.g. a
    position-bias table)."""
    if not outputs or not arrays or arrays[0] is None:
        return 0
    out, a = np.asarray(outputs[0]), np.asarray(arrays[0])
    if node.domain == "com.microsoft" and node.op_type in ("MatMulIntegerToFloat", "DynamicQuantizeMatMul"):
        return int(out.size) * int(a.shape[-1]) if a.ndim else 0
    if node.domain not in ("", "ai.onnx"):
        return 0
    if node.op_type in ("MatMul", "MatMulInteger", "QLinearMatMul"):  # the integer forms: the same products
        return int(out.size) * int(a.shape[-1]) if a.ndim else 0
    if node.op_type in ("ConvInteger", "QLinearConv"):
        i = 3 if node.op_type == "QLinearConv" else 1  # the weight input
        w = np.asarray(arrays[i]) if len(arrays) > i and arrays[i] is not None else None
        return int(out.size) * int(math.prod(w.shape[1:])) if w is not None and w.ndim > 1 else 0
    if node.op_type == "Gemm" and a.ndim == 2:
        return int(out.size) * int(a.shape[0] if node.attrs.get("transA", 0) else a.shape[1])
    if node.op_type == "Conv" and len(arrays) > 1 and arrays[1] is not None:
        w = np.asarray(arrays[1])
        return int(out.size) * int(math.prod(w.shape[1:]))
    if node.op_type == "Einsum" and len(arrays) == 2 and arrays[1] is not None:  # one multiply per index tuple
        terms = str(node.attrs.get("equation", "")).replace(" ", "").split("->")[0].split(",")
        sizes = {c: d for t, x in zip(terms, arrays) if "." not in t and len(t) == np.ndim(x)
                 for c, d in zip(t, np.shape(x))}
        return int(math.prod(sizes.values())) if len(terms) == 2 and sizes else 0
    return 0


def outer_names(proto) -> set[str]:
    """Tensors a node's subgraphs read from the enclosing graph (implicit inputs)."""
    names: set[str] = set()
    for attr in proto.attribute:
        for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            produced = {i.name for i in g.input} | {i.name for i in g.initializer}
            for n in g.node:
                names |= {t for t in n.input if t and t not in produced} | (outer_names(n) - produced)
                produced |= set(n.output)
    return names


def fold_control_flow(node, constants: dict, opsets: dict) -> list[np.ndarray]:
    """Run a control-flow node whose inputs and outer tensors are all constants in ``ReferenceEvaluator``."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    def run():
        inits = [numpy_helper.from_array(np.asarray(a), name) for name, a in constants.items()]
        outputs = [helper.make_empty_tensor_value_info(o) for o in node.proto.output if o]
        model = helper.make_model(helper.make_graph([node.proto], "fold", [], outputs, inits),
                                  opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
        return ReferenceEvaluator(model).run(None, {})

    return _checked(node, run)
