"""Fusion of decomposed element-wise functions (GELU, SiLU, HardSwish, LayerNorm / RMSNorm) back into one node
(torch's ``x * 0.5 * (1 + Erf(x / sqrt 2))`` -> ``_Activation(gelu)``); ``docs/importers.md`` says why this is not
onnxscript's pattern rewriter (its rules match fixed op orders and miss tanh-GELU, SiLU, HardSigmoid-HardSwish and
decomposed LayerNorm in the corpus). Consecutive transposes become one (:func:`fuse_transposes`).
"""

from __future__ import annotations

import numpy as np

from accelsim.workload.onnx.importer import Node


# ops that may appear inside a decomposed unary function of one activation (GELU, SiLU, LayerNorm)
_ELEMENTWISE_FAMILY = {"Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh", "Sigmoid", "HardSigmoid", "Neg",
                       "Reciprocal", "Cast", "ReduceMean"}
_FUSION_TRIGGERS = {"Erf", "Tanh", "Sigmoid", "HardSigmoid", "ReduceMean"}
# a quantize / dequantize pair between two of those nodes (onnxruntime's QDQ quantizer puts one after each Add, Mul,
# Div ...): inside a region, never at its ends, where the pairs give the function's input and output their bits
_QDQ = {"QuantizeLinear", "DequantizeLinear"}
# onnxruntime's QOperator form of the chain's Add / Mul (A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp) and Sigmoid
# (X, X_scale, X_zp, Y_scale, Y_zp): the same function on quantized codes, the float nodes between them behind quantize
# / dequantize nodes; op -> (its float op, the inputs that are activations)
_QLINEAR = {"QLinearAdd": "Add", "QLinearMul": "Mul", "QLinearSigmoid": "Sigmoid"}
_QLINEAR_ACTS = {"QLinearAdd": (0, 3), "QLinearMul": (0, 3), "QLinearSigmoid": (0,)}


def _float_op(node: Node) -> str:
    """The op a node computes on float values: a QOperator op's float op (``QLinearMul`` -> ``Mul``), else its own."""
    return _QLINEAR.get(node.op_type, node.op_type)


def _static_consts(nodes: list[Node], initializers) -> dict[str, np.ndarray]:
    """Initializers, ``Constant`` outputs, ``Identity`` copies of them (shared weights under a new name) and their
    quantize / dequantize nodes (a QDQ model's constant 0.5 or 1)."""
    consts = dict(initializers)
    for node in nodes:
        if node.op_type == "Constant" and node.outputs and len(node.attrs) == 1:
            consts[node.outputs[0]] = np.asarray(next(iter(node.attrs.values())))
        elif node.op_type == "Identity" and node.inputs and node.inputs[0] in consts:
            consts[node.outputs[0]] = consts[node.inputs[0]]
        elif node.op_type in _QDQ and node.inputs and node.inputs[0] in consts and node.outputs:
            consts[node.outputs[0]] = consts[node.inputs[0]]  # (a quantized constant: its codes; only axes are read)
    return consts


def _in_family(node: Node, consts, shapes) -> bool:
    if node.op_type in _QDQ:  # (an activation's pair; a constant's is a weight's)
        return node.domain in ("", "ai.onnx", "com.microsoft") and bool(node.inputs) and node.inputs[0] not in consts
    if node.op_type in _QLINEAR:  # (its scales and zero points constants)
        acts = _QLINEAR_ACTS[node.op_type]
        return node.domain == "com.microsoft" and all(not t or t in consts for i, t in enumerate(node.inputs)
                                                      if i not in acts)
    if node.domain not in ("", "ai.onnx") or node.op_type not in _ELEMENTWISE_FAMILY:
        return False
    if node.op_type == "ReduceMean":  # only the last-axis mean of a layer norm, kept dims
        axes = node.attrs.get("axes")
        if axes is None and len(node.inputs) > 1 and node.inputs[1] in consts:
            axes = consts[node.inputs[1]].ravel().tolist()
        rank = len(shapes.get(node.inputs[0]) or ()) if node.inputs else 0
        last = [-1] + ([rank - 1] if rank else [])  # torch's rms_norm writes the last axis as a positive index
        return axes is not None and len(axes) == 1 and int(axes[0]) in last and node.attrs.get("keepdims", 1) == 1
    return True


def _fused_kind(region: list[Node], roots: set[str]) -> tuple[str, dict] | None:
    ops = [_float_op(n) for n in region]
    if "ReduceMean" in ops:
        if "Sqrt" not in ops and "Reciprocal" not in ops:
            return None
        return "_LayerNorm", {"rms": "Sub" not in ops}
    muls_of_root = sum(1 for n in region if _float_op(n) == "Mul" and roots & set(n.inputs))
    if "Erf" in ops and muls_of_root:
        return "_Activation", {"func": "gelu"}
    if "Tanh" in ops and muls_of_root and ops.count("Mul") + ops.count("Pow") >= 3:
        return "_Activation", {"func": "gelu"}  # tanh approximation: 0.5 x (1 + tanh(c (x + 0.044715 x^3)))
    if "Sigmoid" in ops and muls_of_root:
        return "_Activation", {"func": "silu"}
    if "HardSigmoid" in ops and muls_of_root:
        return "_Activation", {"func": "hardswish"}
    return None


def _perm(node: Node, shapes) -> list[int] | None:
    """A Transpose node's permutation (its ``perm``, or the reversed axes of its input's inferred rank); None when the
    rank is unknown."""
    perm = node.attrs.get("perm")
    if perm is not None:
        return [int(p) for p in perm]
    shape = shapes.get(node.inputs[0]) if node.inputs else None
    return None if shape is None else list(range(len(shape)))[::-1]


def _parts(*nodes: Node) -> tuple[Node, ...]:
    """The original nodes of ``nodes`` (a fused node's parts, or the node itself), in order."""
    return tuple(part for node in nodes for part in (node.parts or (node,)))


def fuse_transposes(nodes: list[Node], graph_outputs: set[str], shapes=None) -> list[Node]:
    """View chains as the exporters' optimizers leave them: a Reshape of a Reshape back to the first one's input shape
    is an Identity, and a Transpose of a Transpose (through Identities) that nothing else reads is one node,
    ``perm[i] = first[second[i]]`` (an Identity when that is no permutation). torch's unoptimized lowering of
    ``k.transpose(1, 2)`` then ``.transpose(-1, -2)`` keeps two transposes (for ``nn.MultiheadAttention`` with a
    reshape there and back between them), which its optimizing and TorchScript exports merge, so a module and its
    exports cost the same copies. A tensor a subgraph reads (an ``If`` branch) counts as read."""
    from accelsim.workload.onnx.fold import CONTROL_FLOW, outer_names

    if sum(n.op_type == "Transpose" for n in nodes) < 2 and sum(n.op_type == "Reshape" for n in nodes) < 2:
        return nodes
    shapes = shapes or {}
    reads: dict[str, int] = {}
    for node in nodes:
        inner = outer_names(node.proto) if node.proto is not None and node.op_type in CONTROL_FLOW else ()
        for t in (*node.inputs, *sorted(inner)):
            if t:
                reads[t] = reads.get(t, 0) + 1
    out: list[Node | None] = []
    producer: dict[str, int] = {}
    plain = ("", "ai.onnx")

    def sole(t: str, op: str) -> int | None:
        """The index in ``out`` of the ``op`` node producing ``t``, when ``t`` is read once and no graph output."""
        p = producer.get(t)
        if p is None or out[p] is None or out[p].op_type != op or out[p].domain not in plain:
            return None
        return p if reads.get(t) == 1 and t not in graph_outputs else None

    def known(t: str):
        shape = shapes.get(t)
        return tuple(shape) if shape is not None and all(isinstance(d, int) for d in shape) else None

    for node in nodes:
        src = node.inputs[0] if node.inputs else ""
        if node.domain in plain and src and node.op_type == "Reshape":
            p = sole(src, "Reshape")
            if p is not None and out[p].inputs and known(out[p].inputs[0]) is not None \
                    and known(out[p].inputs[0]) == known(node.outputs[0] if node.outputs else ""):
                first, out[p] = out[p], None
                node = Node(node.name, "Identity", [first.inputs[0]], node.outputs, {}, "",
                            parts=_parts(first, node))
        elif node.domain in plain and src and node.op_type == "Transpose":
            between, t = [], src
            while (q := sole(t, "Identity")) is not None and out[q].inputs:
                between.append(q)
                t = out[q].inputs[0]
            p = sole(t, "Transpose")
            if p is not None and out[p].inputs:
                first = out[p]
                p1, p2 = _perm(first, shapes), _perm(node, shapes)
                if p1 is not None and p2 is not None and len(p1) == len(p2) and sorted(p2) == list(range(len(p2))):
                    perm = [p1[i] for i in p2]
                    identity = perm == list(range(len(perm)))
                    # (every node merged, in order: a constant's chain is folded part by part)
                    parts = _parts(*(out[i] for i in (p, *between[::-1])), node)
                    for i in (p, *between):
                        out[i] = None
                    node = Node(node.name, "Identity" if identity else "Transpose", [first.inputs[0]], node.outputs,
                                {} if identity else {"perm": perm}, "", parts=parts)
        producer.update((o, len(out)) for o in node.outputs if o)
        out.append(node)
    return [n for n in out if n is not None]


def fuse_elementwise(nodes: list[Node], initializers, graph_outputs: set[str], shapes=None) -> list[Node]:
    """Fuse decomposed GELU / SiLU / HardSwish / LayerNorm subgraphs into single nodes.

    A trigger node (Erf, Tanh, Sigmoid, HardSigmoid, last-axis ReduceMean) is traced back through
    element-wise nodes to the one activation ``x`` they all derive from (a tensor produced by a
    non-element-wise node, or one that branches). The region is every element-wise node fed only by
    ``x``, constants and the region itself; its longest prefix (through the trigger) with exactly one tensor
    used outside it computes ``f(x)`` and is replaced by one node, e.g. torch's
    ``x * 0.5 * (1 + Erf(x / sqrt 2))`` by a GELU.
    """
    if not any(_float_op(n) in _FUSION_TRIGGERS for n in nodes):
        return nodes
    shapes = shapes or {}  # tensor -> inferred shape: a mean over the last axis written as rank - 1
    consts = _static_consts(nodes, initializers)
    producer = {o: i for i, n in enumerate(nodes) for o in n.outputs if o}
    consumers: dict[str, list[int]] = {}
    for i, t in ((i, t) for i, n in enumerate(nodes) for t in n.inputs if t):
        consumers.setdefault(t, []).append(i)
    fused: set[int] = set()
    replacement: dict[int, Node] = {}
    is_act = lambda t: bool(t) and t not in consts  # noqa: E731

    def inner_pair(dq: int) -> bool:
        """Whether the DequantizeLinear ``dq`` ends a pair on the output of an element-wise node of the family that
        only the pair reads, so that a region may run through it."""
        q = producer.get(nodes[dq].inputs[0])
        if q is None or len(consumers.get(nodes[dq].inputs[0], [])) > 1:
            return False
        if nodes[q].op_type in _QLINEAR:  # a QOperator chain's Add / Mul, dequantized for the float node after it
            return _in_family(nodes[q], consts, shapes)
        if nodes[q].op_type != "QuantizeLinear":
            return False
        u = nodes[q].inputs[0]
        pu = producer.get(u)
        return (pu is not None and nodes[pu].op_type not in _QDQ and _in_family(nodes[pu], consts, shapes)
                and len(consumers.get(u, [])) == 1)
    for ti, trigger in enumerate(nodes):
        if _float_op(trigger) not in _FUSION_TRIGGERS or ti in fused or not _in_family(trigger, consts, shapes):
            continue
        # trace back to the root activation
        roots, stack, seen = set(), [t for t in trigger.inputs if is_act(t)], set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            p = producer.get(t)
            if (p is None or p in fused or not _in_family(nodes[p], consts, shapes) or len(consumers.get(t, [])) > 1
                    or (nodes[p].op_type == "DequantizeLinear" and not inner_pair(p))):
                roots.add(t)
            else:
                stack.extend(u for u in nodes[p].inputs if is_act(u))
        if len(roots) != 1:
            continue
        (root,) = roots
        # grow the region forward from the root (in a QOperator chain also from the codes it dequantizes, which
        # the chain's QLinearMul reads: GELU's x * ...)
        region_tensors, region = {root}, []
        if root in producer and nodes[producer[root]].op_type == "DequantizeLinear" and nodes[producer[root]].inputs:
            region_tensors.add(nodes[producer[root]].inputs[0])
        root_names = set(region_tensors)
        start = producer.get(root, -1) + 1
        for i in range(start, len(nodes)):
            n = nodes[i]
            if i in fused or not _in_family(n, consts, shapes):
                continue
            # one nonlinearity per region: a SiLU right before a LayerNorm stays a separate node
            if _float_op(n) in _FUSION_TRIGGERS and i != ti and not (n.op_type == trigger.op_type == "ReduceMean"):
                continue
            acts = [t for t in n.inputs if is_act(t)]
            if acts and all(t in region_tensors for t in acts):
                region.append(i)
                region_tensors.update(o for o in n.outputs if o)
        if ti not in region:
            continue
        # only the nodes the trigger reaches through tensors other than the root: two functions of one activation (a
        # parallel-residual block's two norms) stay apart where a quantizer interleaved their nodes in the file
        by_tensor: dict[str, list[int]] = {}
        for i in region:
            for t in (*nodes[i].inputs, *nodes[i].outputs):
                if t and t not in root_names and t in region_tensors:
                    by_tensor.setdefault(t, []).append(i)
        joined, frontier = {ti}, [ti]
        while frontier:
            i = frontier.pop()
            for t in (*nodes[i].inputs, *nodes[i].outputs):
                for j in by_tensor.get(t, ()):
                    if j not in joined:
                        joined.add(j)
                        frontier.append(j)
        region = [i for i in region if i in joined]
        # the longest prefix of the region (through the trigger) with one tensor used outside it: a norm whose
        # output a constant multiply and other readers share (RoPE's cos right after Gemma 3's q_norm) ends there
        # (the function's output is not a quantize / dequantize pair's: that pair gives it its bits)
        for k in range(len(region), region.index(ti), -1):
            members = set(region[:k])
            outputs = [o for i in region[:k] for o in nodes[i].outputs if o and (
                o in graph_outputs or any(c not in members for c in consumers.get(o, [])))]
            if len(outputs) == 1 and nodes[producer[outputs[0]]].op_type not in _QDQ:
                region = region[:k]
                break
        if len(outputs) != 1:
            continue
        # (and the root's own quantized codes in the chain: GELU's QLinearMul reads x through a QuantizeLinear of it)
        kind = _fused_kind([nodes[i] for i in region], root_names | {
            nodes[i].outputs[0] for i in region if nodes[i].op_type == "QuantizeLinear" and nodes[i].inputs[0] == root})
        if kind is None:
            continue
        op, attrs = kind
        last = max(i for i in region if outputs[0] in nodes[i].outputs)
        if nodes[last].op_type in _QLINEAR:  # the chain ends on quantized codes: the output is 8-bit
            attrs["output_bits"] = 8
        if any(i > last for i in region):
            continue
        base = trigger.name.rsplit("/", 1)[0] if "/" in trigger.name.strip("/") else trigger.name
        label = attrs.get("func", "LayerNorm")
        replacement[last] = Node(f"{base}/{label}" if base == trigger.name else f"{base}/{label.capitalize()}",
                                 op, [root], outputs, attrs, "", parts=tuple(nodes[i] for i in region))
        fused.update(region)
    if not replacement:
        return nodes
    return [replacement[i] if i in replacement else n for i, n in enumerate(nodes) if i not in fused or i in replacement]
