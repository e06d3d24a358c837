"""Constant folding with ONNX's own reference implementation (``onnx.reference``).

A node whose inputs are all constants (initializers, ``Constant`` nodes, shapes of activations) is run
by the ``onnx.reference`` kernel of its op type and opset, so every op ONNX defines folds (the
``Shape -> Gather -> Unsqueeze -> Concat`` chains torch emits for reshape targets, masks, position
tables, dequantized weights) without accelsim re-implementing any of them. ``com.microsoft`` ops have no
reference kernel: they are converted instead.

Guard: ops that build a tensor from a small input (``ConstantOfShape``, ``Expand``, ``Range``, ``Tile``)
are refused before they run when the result would hold more than :data:`MAX_FOLD_ELEMENTS` elements.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from accelsim.errors import WorkloadError

#: elements a folded constant may hold (256 MiB of float32): shape arithmetic and masks are far smaller; a
#: ConstantOfShape / Expand / Range of a huge input's shape is refused before NumPy allocates it
MAX_FOLD_ELEMENTS = 1 << 26

#: ops never folded: random generators (a cost model wants their shape, not one draw) are generic layers
NOT_FOLDED = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
                        "Multinomial"})


def check_fold_size(node, shape) -> tuple[int, ...]:
    """``shape`` as ints; a WorkloadError naming the node when it holds over :data:`MAX_FOLD_ELEMENTS`."""
    shape = tuple(int(d) for d in shape)
    size = math.prod(max(d, 0) for d in shape)
    if size > MAX_FOLD_ELEMENTS:
        raise WorkloadError(f"node '{node.name}' ({node.op_type}): a constant of shape {list(shape)} ({size:.3g} elements) "
                            f"is over the {MAX_FOLD_ELEMENTS} elements a folded constant may hold")
    return shape


def _guard(node, arrays) -> None:
    """Refuse, before evaluation, a fold whose output would be huge (the output size follows from inputs)."""
    op = node.op_type
    if op == "ConstantOfShape":
        check_fold_size(node, np.asarray(arrays[0]).ravel())
    elif op == "Expand":
        a, shape = np.asarray(arrays[0]), tuple(int(d) for d in np.asarray(arrays[1]).ravel())
        try:
            check_fold_size(node, np.broadcast_shapes(a.shape, shape))
        except ValueError:
            pass  # the kernel reports the mismatch
    elif op == "Range":
        start, limit, delta = (np.asarray(a).item() for a in arrays[:3])
        if delta:
            check_fold_size(node, (math.ceil((limit - start) / delta),))
    elif op == "Tile":
        a, reps = np.asarray(arrays[0]), np.asarray(arrays[1]).ravel()
        check_fold_size(node, [d * int(r) for d, r in zip(a.shape, reps)])


@lru_cache(maxsize=None)
def _kernel_class(domain: str, op_type: str, version: int):
    """The reference kernel of ``op_type`` for the model's opset; the oldest one onnx ships when the model's
    opset predates every reference version (their semantics agree on the inputs older opsets allow)."""
    from onnx.reference.ops import load_op

    try:
        return load_op(domain, op_type, version)
    except RuntimeError:
        return load_op(domain, op_type, None)


#: contrib ops with the standard op's semantics (older onnxruntime QDQ models use them for 16-bit / 4-bit types)
_STANDARD_CONTRIB = frozenset({"QuantizeLinear", "DequantizeLinear"})


def can_fold(node) -> bool:
    if node.domain == "com.microsoft":
        return node.op_type in _STANDARD_CONTRIB
    return node.domain in ("", "ai.onnx") and node.op_type not in NOT_FOLDED


class FoldError(WorkloadError):
    """The reference kernel could not evaluate a constant node (a bad node, or a gap in onnx.reference)."""


def _gather_elements(node, arrays):
    """GatherElements: onnx.reference's kernel uses ``np.choose``, limited to 64 entries along the axis."""
    data, index = np.asarray(arrays[0]), np.asarray(arrays[1]).astype(np.int64)
    axis = int(node.attrs.get("axis", 0)) % data.ndim
    index = np.where(index < 0, index + data.shape[axis], index)
    return (np.take_along_axis(data, index, axis=axis),)


#: onnx.reference kernels with a known limit, and the NumPy expression used when they fail
_REFERENCE_GAPS = {"GatherElements": _gather_elements}


def fold(node, proto, arrays: list, opset: int) -> list[np.ndarray]:
    """Evaluate ``proto`` (the NodeProto of ``node``) on constant ``arrays`` (None for absent optional
    inputs) with onnx.reference; returns one array per output. A size over the guard is a WorkloadError;
    a kernel failure a :class:`FoldError` naming the node."""
    _guard(node, arrays)
    try:
        cls = _kernel_class("", node.op_type, opset)
        kernel = cls(proto, {"opsets": {"": opset}, "verbose": 0, "log": lambda *a: None, "new_ops": None})
        try:
            outputs = kernel.run(*arrays)
        except Exception:
            if node.op_type not in _REFERENCE_GAPS:
                raise
            outputs = _REFERENCE_GAPS[node.op_type](node, arrays)
    except WorkloadError:
        raise
    except Exception as exc:  # the reference kernel's own message (bad attributes, shape mismatches)
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise FoldError(f"node '{node.name}' ({node.op_type}): cannot evaluate constant op "
                            f"({type(exc).__name__}: {first[:200]})") from None
    if not isinstance(outputs, (tuple, list)):
        outputs = (outputs,)
    result = []
    for array in outputs:
        array = np.asarray(array)
        check_fold_size(node, array.shape)
        result.append(array)
    return result


#: control-flow ops: folded by running the node (with its subgraphs) in onnx.reference's evaluator
CONTROL_FLOW = frozenset({"If", "Loop", "Scan", "SequenceMap"})


def outer_names(proto) -> set[str]:
    """Tensors a node's subgraphs read from the enclosing graph (implicit inputs)."""
    names: set[str] = set()
    for attr in proto.attribute:
        for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            produced = {i.name for i in g.input} | {i.name for i in g.initializer}
            for n in g.node:
                names |= {t for t in n.input if t and t not in produced}
                names |= outer_names(n) - produced
                produced |= set(n.output)
    return names


def fold_control_flow(node, proto, constants: dict, opsets: dict) -> list[np.ndarray]:
    """Run a control-flow node whose inputs and outer tensors are all constants in ``ReferenceEvaluator``."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    try:
        inits = [numpy_helper.from_array(np.asarray(a), name) for name, a in constants.items()]
        outputs = [helper.make_empty_tensor_value_info(o) for o in proto.output if o]
        graph = helper.make_graph([proto], "fold", [], outputs, inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
        result = ReferenceEvaluator(model).run(None, {})
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise FoldError(f"node '{node.name}' ({node.op_type}): cannot evaluate constant op "
                        f"({type(exc).__name__}: {first[:200]})") from None
    arrays = [np.asarray(a) for a in result]
    for a in arrays:
        check_fold_size(node, a.shape)
    return arrays
