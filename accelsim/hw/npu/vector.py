"""Vector-unit work of one layer: lane-ops by op class, cross-lane reductions, tensor sizes.

Every layer op is costed from its element counts (docs/models/npu.md §3): a per-element recipe of
op classes (:data:`ACTIVATION_OPS`, :data:`ELTWISE_OPS`, :data:`GENERIC_OPS`), per-row work and
reductions for normalisation and softmax, window work for pooling, a copy (``move``) for layout
changes. An op this module does not know (a layer type added later: RoPE, KV-cache append,
quantize, a generic op) takes its recipe from :data:`GENERIC_OPS` by ``layer.op`` or, failing that,
:data:`DEFAULT_RECIPE` (one ``add`` per element of the larger of its inputs and output).
Counts are per layer at ``batch``; nothing here depends on the hardware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: per output element, by activation function (tanh-form GELU: 0.5 x (1 + tanh(c (x + 0.044715 x^3))))
ACTIVATION_OPS: dict[str, dict[str, float]] = {
    "relu": {"compare": 1},
    "relu6": {"compare": 2},
    "clip": {"compare": 2},
    "identity": {"move": 1},
    "hardsigmoid": {"fma": 1, "compare": 2},
    "hardswish": {"fma": 1, "compare": 2, "mul": 1},
    "sigmoid": {"exp": 1, "add": 1, "reciprocal": 1},
    "tanh": {"exp": 1, "add": 2, "reciprocal": 1, "mul": 1},
    "gelu": {"mul": 3, "fma": 2, "exp": 1, "add": 1, "reciprocal": 1},
    "silu": {"exp": 1, "add": 1, "reciprocal": 1, "mul": 1},
    "leakyrelu": {"compare": 1, "mul": 1},
    "prelu": {"compare": 1, "mul": 1},
    "elu": {"exp": 1, "compare": 1, "fma": 1},
    "celu": {"exp": 1, "compare": 1, "fma": 1, "mul": 1},
    "selu": {"exp": 1, "compare": 1, "fma": 1, "mul": 1},
    "softplus": {"exp": 2, "add": 1},  # log(1 + e^x): two transcendentals
    "mish": {"exp": 3, "add": 3, "reciprocal": 1, "mul": 2},  # x tanh(softplus(x))
}

#: per output element and per extra input, by element-wise function
ELTWISE_OPS: dict[str, dict[str, float]] = {
    "add": {"add": 1}, "sub": {"add": 1}, "mul": {"mul": 1}, "div": {"reciprocal": 1, "mul": 1}, "max": {"compare": 1},
}

#: quantize (scale, round, clip to the integer range), dequantize (convert, scale), requantize
QUANTIZE_OPS = {"mul": 1, "convert": 1, "compare": 2}
DEQUANTIZE_OPS = {"convert": 1, "mul": 1}

#: per element of the larger of inputs / output, by ``layer.op`` for ops without a layer class here
GENERIC_OPS: dict[str, dict[str, float]] = {
    "rope": {"mul": 1, "fma": 1, "move": 1},            # x cos + rotate_half(x) sin (tables precomputed)
    "rotary": {"mul": 1, "fma": 1, "move": 1},
    "kv_append": {"move": 1}, "kv_cache_append": {"move": 1}, "kv_cache": {"move": 1},
    "moe_dispatch": {"move": 1},                        # tokens gathered into their experts' buckets
    "quantize": QUANTIZE_OPS, "requantize": QUANTIZE_OPS, "dequantize": DEQUANTIZE_OPS,
    "cast": {"convert": 1}, "gather": {"lookup": 1}, "scatter": {"move": 1}, "pad": {"move": 1},
    "concat": {"move": 1}, "slice": {"move": 1}, "split": {"move": 1}, "channel_shuffle": {"move": 1},
    "transpose": {"move": 1}, "permute": {"move": 1},
    **{name: dict(v) for name, v in ACTIVATION_OPS.items() if name != "identity"},
    **{name: dict(v) for name, v in ELTWISE_OPS.items()},
}
DEFAULT_RECIPE = {"add": 1}
#: an imported generic layer's ``op_type`` (ONNX op names, lower-cased, domain dropped) -> its GENERIC_OPS name
GENERIC_NAMES = {"quantizelinear": "quantize", "dynamicquantizelinear": "quantize", "dequantizelinear": "dequantize",
                 "requantizelinear": "requantize", "gatherelements": "gather", "gathernd": "gather",
                 "scatterelements": "scatter", "scatternd": "scatter"}

#: softmax lane-ops per score (max, subtract, exp, sum, scale), as the softmax layer's recipe
SOFTMAX_OPS = {"compare": 1, "add": 2, "exp": 1, "mul": 1}

#: ops that are a matrix product (the matrix unit runs them; their vector work is the epilogue)
GEMM_OPS = ("conv2d", "linear", "matmul", "lstm", "gru", "rnn", "grouped_linear", "attention")


@dataclass
class VectorWork:
    """What one layer asks of the vector unit (counts at the layer's batch).

    ``ops``: lane-ops by op class (elements x ops each, before packing); ``reduce_rows``: rows a
    cross-lane tree reduces (one per reduction of a row), ``row_length``: elements of a reduced row;
    ``in_elements``: elements of each input; ``out_elements``: elements of the output;
    ``recipe``: where the per-element recipe came from (docs: layer class, op table or default);
    ``sequential_reductions``: reductions of a row that must finish one after the other before the
    row is normalised (layer norm 2: the mean, then the variance of the centred row; RMS norm 1;
    softmax 2: the maximum, then the sum of the exponentials), for ``fusion.split_reductions`` (§4.2).
    """

    ops: dict[str, float] = field(default_factory=dict)
    reduce_rows: float = 0.0
    row_length: int = 1
    in_elements: list[int] = field(default_factory=list)
    out_elements: int = 0
    recipe: str = ""
    sequential_reductions: int = 0

    def add(self, recipe: dict[str, float], elements: float) -> None:
        for cls, n in recipe.items():
            self.ops[cls] = self.ops.get(cls, 0.0) + float(n) * float(elements)


def _prod(shape) -> int:
    return int(math.prod(shape)) if shape else 1


def layer_work(layer, batch: int) -> VectorWork:
    """The vector work of a layer that is not a matrix product (docs/models/npu.md §3)."""
    op = layer.op
    if op == "generic" and getattr(layer, "op_type", ""):  # an imported op: the op table's recipe of its own name
        name = str(layer.op_type).rsplit("::", 1)[-1].lower()
        name = GENERIC_NAMES.get(name, name)
        if name in GENERIC_OPS:
            op = name
    ins = [_prod(s) * batch for s in layer.input_shapes]
    out = _prod(layer.output_shape) * batch
    w = VectorWork(in_elements=ins, out_elements=out, recipe=op)
    if op == "activation":
        w.add(ACTIVATION_OPS.get(layer.func, DEFAULT_RECIPE), out)
    elif op == "eltwise":
        w.add(ELTWISE_OPS.get(layer.func, DEFAULT_RECIPE), out * max(1, len(ins) - 1))
    elif op == "batchnorm":
        w.add({"fma": 1}, out)
    elif op == "layernorm":
        n = int(layer.input_shape[-1])
        rows = out // max(n, 1)
        if getattr(layer, "rms", False):
            w.add({"fma": 1, "mul": 2}, out)          # sum of squares; x * rstd; x * gamma
            w.add({"rsqrt": 1, "mul": 1}, rows)       # rstd = rsqrt(sum / n + eps)
            w.reduce_rows, w.row_length = rows, n
            w.sequential_reductions = 1
        else:
            w.add({"add": 2, "fma": 2, "mul": 1}, out)  # sum; x - mean; sum of squares; * rstd; gamma, beta
            w.add({"rsqrt": 1, "mul": 2}, rows)
            w.reduce_rows, w.row_length = 2 * rows, n
            w.sequential_reductions = 2
    elif op == "softmax":
        shape = layer.output_shape
        n = int(shape[getattr(layer, "axis", -1)])
        rows = out // max(n, 1)
        w.add(SOFTMAX_OPS, out)                       # max; x - max; exp; sum; * 1/sum
        w.add({"reciprocal": 1}, rows)
        w.reduce_rows, w.row_length = 2 * rows, n
        w.sequential_reductions = 2
    elif op == "pool":
        window = int(layer.window)
        if layer.kind == "max":
            w.add({"compare": 1}, out * window)
        else:
            w.add({"add": 1}, out * window)
            w.add({"mul": 1}, out)
    elif op == "embedding":
        w.add({"lookup": 1}, out)                     # rows gathered from the table in DRAM
    elif op in ("reshape", "flatten"):
        src, dst = layer.input_shape, layer.output_shape
        if src[-1] != dst[-1]:                        # the minor dimension changes: a relayout copy
            w.add({"move": 1}, out)
            w.recipe = f"{op} (relayout)"
        else:
            w.recipe = f"{op} (view)"
    elif op in ("transpose", "concat", "slice", "channel_shuffle"):
        w.add({"move": 1}, out)
    elif op in ("identity", "input"):
        w.recipe = f"{op} (no work)"
    elif op == "rope" and hasattr(layer, "rotated"):
        # the rotated features of every head: x cos + rotate_half(x) sin (the rest pass through in place)
        w.add(GENERIC_OPS["rope"], out * layer.rotated // layer.head_dim)
        w.recipe = "rope (rotated features)"
    elif op == "moe_combine":
        w.add({"fma": 1}, sum(ins))                   # scale each routed output by its router weight, accumulate
        w.recipe = "moe_combine (fma per routed element)"
    elif op in GENERIC_OPS:
        w.add(GENERIC_OPS[op], max([out, *ins]))
        w.recipe = f"{op} (op table)"
    else:
        w.add(DEFAULT_RECIPE, max([out, *ins]))
        w.recipe = f"{op} (default: 1 add per element)"
    return w


def epilogue_work(layer, batch: int, quantized: bool) -> VectorWork:
    """The vector work around a matrix product (docs/models/npu.md §3.3): bias add, recurrent
    gates, and with quantized activations the quantization of each activation input and the
    rescale (dequantize / requantize) of every output."""
    ins = [_prod(s) * batch for s in layer.input_shapes]
    out = _prod(layer.output_shape) * batch
    w = VectorWork(in_elements=ins, out_elements=out, recipe=f"{layer.op} epilogue")
    if getattr(layer, "bias", False) and layer.op in ("conv2d", "linear"):
        w.add({"add": 1}, out)
    if layer.op in ("lstm", "gru", "rnn"):
        g = layer.gates
        w.add({"exp": g, "add": g + 1, "reciprocal": g, "mul": 2}, out)  # gate sigmoids / tanh, cell update
    if layer.op == "attention":
        # fused attention: the softmax of every visible score on the vector unit, two row reductions
        # (max, sum) per query row of every head; the scores never leave the scratchpad
        scores = layer.elementwise_ops // 3 * batch
        w.add(SOFTMAX_OPS, scores)
        rows = math.prod(layer.input_shapes[0][:-2]) * layer.heads * layer.q_len * batch
        w.add({"reciprocal": 1}, rows)
        w.reduce_rows, w.row_length = 2 * rows, max(1, scores // max(rows, 1))
    if quantized:
        w.add(QUANTIZE_OPS, sum(ins))                 # every activation input is quantized
        w.add(QUANTIZE_OPS, out)                      # int32 sums rescaled (requantize, clip)
    return w


__all__ = ["ACTIVATION_OPS", "DEFAULT_RECIPE", "DEQUANTIZE_OPS", "ELTWISE_OPS", "GEMM_OPS", "GENERIC_NAMES", "GENERIC_OPS",
           "QUANTIZE_OPS", "SOFTMAX_OPS", "VectorWork", "epilogue_work", "layer_work"]
