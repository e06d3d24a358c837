"""Frozen layer types and the one GEMM lowering every hardware model shares.

Shapes exclude the batch dimension: a feature map is ``(C, H, W)``, a vector ``(F,)``, a token
sequence ``(S, F)``, attention scores ``(heads, S, S)``. ``macs`` and ``params`` are per sample
(batch 1). Each layer that multiplies lowers to a :class:`GemmShape` ``(M, N, K, groups)``:

* ``M`` output rows (output pixels or tokens, times the batch),
* ``N`` output columns per group (filters, output features),
* ``K`` the reduction length per group (``C/groups * kh * kw`` for a convolution: im2col),
* ``groups`` independent GEMMs of that shape (conv groups; depthwise has ``groups = C``;
  batched matmuls have ``groups = heads * batch``).

So ``gemm(batch).macs == batch * layer.macs`` for every layer, and the weight matrix of a layer
with weights is ``(N * groups, K)``: one row per output channel, one column per reduction element
(PyTorch's ``weight.reshape(out, -1)``). Compression works on that matrix; hardware models read the
GEMM view. Equations: ``docs/models/workload.md``.

Size guards (work estimated before work): a layer whose MACs, parameters or tensor sizes per sample
exceed int64 (``2^63 - 1``) is refused when it is built (:class:`ShapeError` naming the layer), so every
importer (zoo, YAML, SCALE-Sim CSV, ONNX, torch) checks it at load. ``gemm(batch)``, the view every
hardware model reads, refuses a batch outside ``[1, MAX_BATCH]`` (``2^20``) and a layer whose
``batch x MACs`` exceed the work budget :func:`max_macs` (``ACCELSIM_MAX_MACS``, default ``2^47`` ~ 1.4e14
MACs per layer: over every published layer at batch 1; GPT-3's largest is 1.2e12 per 2048-token sample).
:func:`max_weights` (``ACCELSIM_MAX_WEIGHTS``, default ``2^31`` weights = 8 GiB of float32 per layer)
bounds weight synthesis and compression.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from accelsim.errors import ConfigError, ShapeError, WorkloadError

Shape = tuple[int, ...]

INT64_MAX = 2**63 - 1
#: the largest batch a simulation takes (``--batch``, ``batch=``): 2^20 samples
MAX_BATCH = 1 << 20
DEFAULT_MAX_MACS = 1 << 47
DEFAULT_MAX_WEIGHTS = 1 << 31
DEFAULT_MAX_GRAPH_WEIGHTS = 1 << 30


def _env_limit(name: str, default: int) -> int:
    """A positive int budget from the environment variable ``name`` (unset or empty: ``default``)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw)) if any(c in raw for c in ".eE") else int(raw)
    except (ValueError, OverflowError):
        value = 0
    if not 1 <= value <= INT64_MAX:
        raise ConfigError(f"environment variable {name} must be an int in [1, {INT64_MAX}]; got {raw!r}")
    return value


def max_macs() -> int:
    """Work budget: ``batch x MACs`` one layer may take (``ACCELSIM_MAX_MACS``, default ``2^47``)."""
    return _env_limit("ACCELSIM_MAX_MACS", DEFAULT_MAX_MACS)


def max_weights() -> int:
    """Memory budget: weights of one layer that may be synthesized or compressed
    (``ACCELSIM_MAX_WEIGHTS``, default ``2^31``: 8 GiB of float32)."""
    return _env_limit("ACCELSIM_MAX_WEIGHTS", DEFAULT_MAX_WEIGHTS)


def max_graph_weights() -> int:
    """Memory budget: weights a recipe may synthesize for one whole graph and hold with their compressed
    copies (``ACCELSIM_MAX_GRAPH_WEIGHTS``, default ``2^30``: 4 GiB of float32; VGG-16 has 1.4e8, a 7B
    LLM 6.7e9)."""
    return _env_limit("ACCELSIM_MAX_GRAPH_WEIGHTS", DEFAULT_MAX_GRAPH_WEIGHTS)


def physical_memory_bytes() -> int:
    """This machine's physical memory in bytes (``os.sysconf``; 16 GiB where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 16 << 30


def max_checkpoint_weights() -> int:
    """Memory budget: dense weights of a checkpoint (``--weights``) that may be widened to float32 and held
    (``ACCELSIM_MAX_CHECKPOINT_WEIGHTS``, default this machine's physical memory / 8 bytes: the float32 copy
    and the compressed copies a recipe makes; 3.2e9 on 24 GiB, so a 7B LLM's bf16 checkpoint, 27 GB as float32,
    is refused in one line there instead of being killed for memory)."""
    return _env_limit("ACCELSIM_MAX_CHECKPOINT_WEIGHTS", physical_memory_bytes() // 8)


def _is_int(value) -> bool:
    """An int or a NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_batch(batch, what: str = "batch") -> int:
    """``batch`` as an int in ``[1, MAX_BATCH]``; else a one-line ConfigError."""
    if not _is_int(batch) or batch < 1:
        raise ConfigError(f"{what} must be an int >= 1; got {batch!r}")
    if batch > MAX_BATCH:
        raise ConfigError(f"{what} must be <= {MAX_BATCH} (2^20 samples); got {batch!r}")
    return int(batch)


@dataclass(frozen=True)
class GemmShape:
    """``groups`` independent GEMMs of ``(M x K) @ (K x N)``; all counts are elements."""

    m: int
    n: int
    k: int
    groups: int = 1

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k * self.groups

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.m, self.n, self.k, self.groups)


def _pair(value, what: str, layer: str) -> tuple[int, int]:
    if _is_int(value):
        return (int(value), int(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        return (int(value[0]), int(value[1]))
    raise ShapeError(f"layer '{layer}': {what} must be an int or a pair of ints; got {value!r}")


def _int_tuple(values, what: str, layer: str) -> tuple[int, ...]:
    """``values`` as a tuple of ints; a float (even 2.5 truncated to 2 was taken), a bool or a string is a ShapeError."""
    try:
        items = tuple(values)
    except TypeError:
        items = None
    if items is None or not all(_is_int(v) for v in items):
        raise ShapeError(f"layer '{layer}': {what} must be a list of ints; got {values!r}")
    return tuple(int(v) for v in items)


def _need_ints(layer: "Layer", **values) -> None:
    """A ShapeError naming the first of ``values`` (field name -> value) that is not an int."""
    for field_name, value in values.items():
        if not _is_int(value):
            raise ShapeError(f"{layer.op} '{layer.name}': {field_name} must be an int; got {value!r}")


def _prod(values) -> int:
    return int(math.prod(values))


@dataclass(frozen=True, kw_only=True)
class Layer:
    """Base of all layer types: a name and the shapes of its inputs (batch excluded)."""

    op: ClassVar[str] = "layer"
    has_weights: ClassVar[bool] = False

    name: str
    input_shapes: tuple[Shape, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ShapeError(f"layer name must be a non-empty string; got {self.name!r}")
        if not isinstance(self.input_shapes, (tuple, list)):
            raise ShapeError(f"layer '{self.name}': input_shapes must be a list of shapes; got {self.input_shapes!r}")
        shapes = tuple(_int_tuple(s, f"input {i} shape", self.name) for i, s in enumerate(self.input_shapes))
        object.__setattr__(self, "input_shapes", shapes)
        for i, s in enumerate(shapes):
            if any(d <= 0 for d in s):
                raise ShapeError(f"layer '{self.name}': input {i} shape {list(s)} has a zero or negative dimension")
        expected = self._num_inputs()
        if expected is not None and len(shapes) != expected:
            raise ShapeError(f"layer '{self.name}' ({self.op}) takes {expected} input(s); got {len(shapes)}")
        self._check()
        out = self.output_shape
        if any(d <= 0 for d in out):
            raise ShapeError(f"layer '{self.name}' ({self.op}): output shape {list(out)} has a zero or negative dimension")
        self._check_sizes()

    def _check_sizes(self) -> None:
        """Refuse a layer whose counts per sample overflow int64 (Numba kernels and numpy count in int64)."""
        g = self._gemm(1)
        sizes = (("MACs", g.macs if g is not None else 0), ("parameters", self.params),
                 ("output elements", self.output_elements), ("input elements", self.input_elements))
        for what, value in sizes:
            if value > INT64_MAX:
                raise ShapeError(f"layer '{self.name}' ({self.op}): {value:.3g} {what} per sample exceed int64 "
                                 f"(2^63 - 1 = {INT64_MAX:.3g}); the shape is too large to simulate")

    # --- overridable pieces -------------------------------------------------------------------
    def _num_inputs(self) -> int | None:
        return 1

    def _check(self) -> None:
        """Op-specific validation; raise ShapeError."""

    @property
    def input_shape(self) -> Shape:
        return self.input_shapes[0]

    @property
    def output_shape(self) -> Shape:
        return self.input_shape

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample (0 for layers that do not multiply weights or activations)."""
        g = self._gemm(1)
        return g.macs if g is not None else 0

    @property
    def params(self) -> int:
        """Learned parameters (weights and biases; BatchNorm scale and shift; no running statistics)."""
        return 0

    @property
    def weight_shape(self) -> Shape | None:
        """Shape of the weight tensor in PyTorch layout, or None."""
        return None

    @property
    def weight_matrix_shape(self) -> tuple[int, int] | None:
        """``(N * groups, K)``: the 2-D matrix compression and hardware models see."""
        g = self._gemm(1)
        if not self.has_weights or g is None:
            return None
        return (g.n * g.groups, g.k)

    @property
    def bias_size(self) -> int:
        return 0

    def gemm(self, batch: int = 1) -> GemmShape | None:
        """The GEMM view at a batch size, or None for layers without a matrix product.

        The work is estimated first: a batch outside ``[1, MAX_BATCH]`` is a ConfigError, and
        ``batch x MACs`` over :func:`max_macs` a WorkloadError naming the layer, before any model runs.
        """
        batch = check_batch(batch)
        g = self._gemm(batch)
        if g is not None and g.macs > max_macs():
            raise WorkloadError(
                f"layer '{self.name}' ({self.op}): batch {batch} x {self.macs:.3g} MACs = {g.macs:.3g} MACs is over the "
                f"work budget of {max_macs():.3g} MACs per layer (ACCELSIM_MAX_MACS)")
        return g

    def _gemm(self, batch: int) -> GemmShape | None:
        """The GEMM view, unchecked (subclasses that multiply override it)."""
        return None

    @property
    def elementwise_ops(self) -> int:
        """Element operations per sample that are not MACs (activations, pooling windows, adds)."""
        return 0

    @property
    def output_elements(self) -> int:
        return _prod(self.output_shape)

    @property
    def input_elements(self) -> int:
        return sum(_prod(s) for s in self.input_shapes)

    def describe(self) -> dict:
        """Plain-dict summary used by ``accelsim stats``."""
        g = self._gemm(1)
        return {
            "name": self.name,
            "op": self.op,
            "input_shape": [list(s) for s in self.input_shapes],
            "output_shape": list(self.output_shape),
            "gemm_m": g.m if g else None,
            "gemm_n": g.n if g else None,
            "gemm_k": g.k if g else None,
            "gemm_groups": g.groups if g else None,
            "macs": self.macs,
            "params": self.params,
        }


@dataclass(frozen=True, kw_only=True)
class Input(Layer):
    """A graph input of a fixed shape."""

    op: ClassVar[str] = "input"
    shape: Shape = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _int_tuple(self.shape, "shape", self.name))
        if not self.shape or any(d <= 0 for d in self.shape):
            raise ShapeError(f"input '{self.name}': shape must be a non-empty list of positive ints; got {list(self.shape)}")
        super().__post_init__()

    def _num_inputs(self) -> int | None:
        return 0

    @property
    def output_shape(self) -> Shape:
        return self.shape


def _conv_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    return (-(-span // s) if ceil_mode else span // s) + 1


@dataclass(frozen=True, kw_only=True)
class Conv2d(Layer):
    """2-D convolution on ``(C, H, W)``; weight ``(out, C/groups, kh, kw)``.

    ``ceil_mode`` rounds the output size up (SCALE-Sim's ``E = ceil((H - FH + s) / s)``).
    """

    op: ClassVar[str] = "conv2d"
    has_weights: ClassVar[bool] = True

    out_channels: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    bias: bool = True
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        for attr in ("kernel", "stride", "padding", "dilation"):
            object.__setattr__(self, attr, _pair(getattr(self, attr), attr, self.name))
        super().__post_init__()

    def _check(self) -> None:
        if len(self.input_shape) != 3:
            raise ShapeError(f"conv2d '{self.name}': input must be (C, H, W); got {list(self.input_shape)}")
        c = self.input_shape[0]
        for attr, lo in (("out_channels", 1), ("groups", 1)):
            v = getattr(self, attr)
            if not _is_int(v) or v < lo:
                raise ShapeError(f"conv2d '{self.name}': {attr} must be an int >= {lo}; got {v!r}")
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise ShapeError(f"conv2d '{self.name}': kernel, stride and dilation must be >= 1 and padding >= 0")
        if c % self.groups or self.out_channels % self.groups:
            raise ShapeError(
                f"conv2d '{self.name}': groups={self.groups} must divide in_channels={c} and out_channels={self.out_channels}"
            )

    @property
    def in_channels(self) -> int:
        return self.input_shape[0]

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels

    @property
    def output_shape(self) -> Shape:
        _, h, w = self.input_shape
        ho = _conv_out(h, self.kernel[0], self.stride[0], self.padding[0], self.dilation[0], self.ceil_mode)
        wo = _conv_out(w, self.kernel[1], self.stride[1], self.padding[1], self.dilation[1], self.ceil_mode)
        return (self.out_channels, ho, wo)

    @property
    def weight_shape(self) -> Shape:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def bias_size(self) -> int:
        return self.out_channels if self.bias else 0

    @property
    def params(self) -> int:
        return _prod(self.weight_shape) + self.bias_size

    def _gemm(self, batch: int) -> GemmShape:
        _, ho, wo = self.output_shape
        k = (self.in_channels // self.groups) * self.kernel[0] * self.kernel[1]
        return GemmShape(batch * ho * wo, self.out_channels // self.groups, k, self.groups)


@dataclass(frozen=True, kw_only=True)
class Linear(Layer):
    """Fully connected layer on ``(..., in_features)``; weight ``(out_features, in_features)``."""

    op: ClassVar[str] = "linear"
    has_weights: ClassVar[bool] = True

    out_features: int
    bias: bool = True

    def _check(self) -> None:
        if not _is_int(self.out_features) or self.out_features < 1:
            raise ShapeError(f"linear '{self.name}': out_features must be an int >= 1; got {self.out_features!r}")

    @property
    def in_features(self) -> int:
        return self.input_shape[-1]

    @property
    def tokens(self) -> int:
        return _prod(self.input_shape[:-1])

    @property
    def output_shape(self) -> Shape:
        return (*self.input_shape[:-1], self.out_features)

    @property
    def weight_shape(self) -> Shape:
        return (self.out_features, self.in_features)

    @property
    def bias_size(self) -> int:
        return self.out_features if self.bias else 0

    @property
    def params(self) -> int:
        return self.out_features * self.in_features + self.bias_size

    def _gemm(self, batch: int) -> GemmShape:
        return GemmShape(batch * self.tokens, self.out_features, self.in_features, 1)


@dataclass(frozen=True, kw_only=True)
class MatMul(Layer):
    """Batched product of two activations ``(..., M, K) @ (..., K, N)`` (attention); no weights.
    ``kv_bits``: stored bits per element of a KV-cache operand (the second input of attention's score /
    context products, both caches of fused attention), its scales and zero points included (a recipe's KV
    format, ``accelsim.compress.formats.KVFormat``); 0 when no operand is a quantized cache."""

    op: ClassVar[str] = "matmul"
    kv_bits: float = 0.0

    def _num_inputs(self) -> int | None:
        return 2

    def _check(self) -> None:
        a, b = self.input_shapes
        if len(a) < 2 or len(b) < 2:
            raise ShapeError(f"matmul '{self.name}': both inputs need at least 2 dimensions; got {list(a)} and {list(b)}")
        if a[-1] != b[-2]:
            raise ShapeError(f"matmul '{self.name}': inner dimensions differ: {list(a)} @ {list(b)}")
        try:
            np.broadcast_shapes(a[:-2], b[:-2])
        except ValueError:
            raise ShapeError(f"matmul '{self.name}': leading dimensions do not broadcast: {list(a)} @ {list(b)}") from None

    @property
    def output_shape(self) -> Shape:
        a, b = self.input_shapes
        lead = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
        return (*lead, a[-2], b[-1])

    def _gemm(self, batch: int) -> GemmShape:
        a, b = self.input_shapes
        lead = _prod(np.broadcast_shapes(a[:-2], b[:-2]))
        return GemmShape(a[-2], b[-1], a[-1], lead * batch)


@dataclass(frozen=True, kw_only=True)
class RecurrentCell(Layer):
    """A recurrent cell as its gate matmul: ``[x; h; 1] (K) -> gates * hidden (N)``.

    The bias is folded in as one extra input column (as EIE's NT-LSTM 1201 x 2400 does), so the
    weight matrix is ``(gates * hidden, input + hidden + bias)``. An input ``(S, F)`` runs S steps.
    """

    gates: ClassVar[int] = 4
    has_weights: ClassVar[bool] = True

    hidden_size: int
    bias: bool = True

    def _check(self) -> None:
        if not _is_int(self.hidden_size) or self.hidden_size < 1:
            raise ShapeError(f"{self.op} '{self.name}': hidden_size must be an int >= 1; got {self.hidden_size!r}")

    @property
    def input_size(self) -> int:
        return self.input_shape[-1]

    @property
    def steps(self) -> int:
        return _prod(self.input_shape[:-1])

    @property
    def output_shape(self) -> Shape:
        return (*self.input_shape[:-1], self.hidden_size)

    @property
    def weight_shape(self) -> Shape:
        return (self.gates * self.hidden_size, self.input_size + self.hidden_size + int(self.bias))

    @property
    def params(self) -> int:
        return _prod(self.weight_shape)

    def _gemm(self, batch: int) -> GemmShape:
        n, k = self.weight_shape
        return GemmShape(batch * self.steps, n, k, 1)

    @property
    def elementwise_ops(self) -> int:
        # gate nonlinearities plus the cell / hidden updates, per step
        return self.steps * self.hidden_size * (self.gates + 3)


@dataclass(frozen=True, kw_only=True)
class LSTMCell(RecurrentCell):
    op: ClassVar[str] = "lstm"
    gates: ClassVar[int] = 4


@dataclass(frozen=True, kw_only=True)
class GRUCell(RecurrentCell):
    op: ClassVar[str] = "gru"
    gates: ClassVar[int] = 3


@dataclass(frozen=True, kw_only=True)
class RNNCell(RecurrentCell):
    """An Elman cell (ONNX ``RNN``, ``torch.nn.RNN``): one gate, ``h = act(W x + R h + b)``."""

    op: ClassVar[str] = "rnn"
    gates: ClassVar[int] = 1


@dataclass(frozen=True, kw_only=True)
class Pool2d(Layer):
    """Max or average pooling on ``(C, H, W)``; ``global_pool`` reduces to ``(C, 1, 1)``."""

    op: ClassVar[str] = "pool"
    kind: str = "max"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] = (0, 0)
    ceil_mode: bool = False
    global_pool: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel", _pair(self.kernel, "kernel", self.name))
        object.__setattr__(self, "stride", _pair(self.stride if self.stride is not None else self.kernel, "stride", self.name))
        object.__setattr__(self, "padding", _pair(self.padding, "padding", self.name))
        super().__post_init__()

    def _check(self) -> None:
        if self.kind not in ("max", "avg"):
            raise ShapeError(f"pool '{self.name}': kind must be 'max' or 'avg'; got {self.kind!r}")
        if len(self.input_shape) != 3:
            raise ShapeError(f"pool '{self.name}': input must be (C, H, W); got {list(self.input_shape)}")
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ShapeError(f"pool '{self.name}': kernel and stride must be >= 1 and padding >= 0")
        if not self.global_pool and any(p >= k for p, k in zip(self.padding, self.kernel)):
            # ONNX's rule (its shape inference refuses it; PyTorch allows at most half the kernel): a window would
            # lie wholly in the padding
            raise ShapeError(f"pool '{self.name}': padding {list(self.padding)} must be smaller than the kernel "
                             f"{list(self.kernel)} (a window would lie wholly in the padding)")

    @property
    def output_shape(self) -> Shape:
        c, h, w = self.input_shape
        if self.global_pool:
            return (c, 1, 1)
        ho = _conv_out(h, self.kernel[0], self.stride[0], self.padding[0], 1, self.ceil_mode)
        wo = _conv_out(w, self.kernel[1], self.stride[1], self.padding[1], 1, self.ceil_mode)
        if self.ceil_mode:  # PyTorch: the last window must start inside the (left-padded) input
            ho -= (ho - 1) * self.stride[0] >= h + self.padding[0]
            wo -= (wo - 1) * self.stride[1] >= w + self.padding[1]
        return (c, ho, wo)

    @property
    def window(self) -> int:
        c, h, w = self.input_shape
        return h * w if self.global_pool else self.kernel[0] * self.kernel[1]

    @property
    def elementwise_ops(self) -> int:
        return self.output_elements * self.window


ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "gelu", "silu", "hardswish", "hardsigmoid", "clip", "identity",
               "leakyrelu", "prelu", "elu", "selu", "celu", "mish", "softplus")


@dataclass(frozen=True, kw_only=True)
class Activation(Layer):
    """Unary element-wise nonlinearity (shape preserving)."""

    op: ClassVar[str] = "activation"
    func: str = "relu"

    def _check(self) -> None:
        if self.func not in ACTIVATIONS:
            raise ShapeError(f"activation '{self.name}': func must be one of {', '.join(ACTIVATIONS)}; got {self.func!r}")

    @property
    def elementwise_ops(self) -> int:
        return self.output_elements


ELTWISE_FUNCS = ("add", "mul", "sub", "div", "max")


@dataclass(frozen=True, kw_only=True)
class Eltwise(Layer):
    """Element-wise combination of two or more inputs with NumPy broadcasting (residual add, gating)."""

    op: ClassVar[str] = "eltwise"
    func: str = "add"

    def _num_inputs(self) -> int | None:
        return None

    def _check(self) -> None:
        if self.func not in ELTWISE_FUNCS:
            raise ShapeError(f"eltwise '{self.name}': func must be one of {', '.join(ELTWISE_FUNCS)}; got {self.func!r}")
        if len(self.input_shapes) < 2:
            raise ShapeError(f"eltwise '{self.name}': needs at least 2 inputs; got {len(self.input_shapes)}")
        try:
            np.broadcast_shapes(*self.input_shapes)
        except ValueError:
            shapes = " and ".join(str(list(s)) for s in self.input_shapes)
            raise ShapeError(f"eltwise '{self.name}': input shapes {shapes} do not broadcast") from None

    @property
    def output_shape(self) -> Shape:
        return tuple(np.broadcast_shapes(*self.input_shapes))

    @property
    def elementwise_ops(self) -> int:
        return self.output_elements * (len(self.input_shapes) - 1)


@dataclass(frozen=True, kw_only=True)
class Concat(Layer):
    """Concatenation along ``axis`` (0 = channels of a feature map)."""

    op: ClassVar[str] = "concat"
    axis: int = 0

    def _num_inputs(self) -> int | None:
        return None

    def _check(self) -> None:
        if len(self.input_shapes) < 1:
            raise ShapeError(f"concat '{self.name}': needs at least one input")
        _need_ints(self, axis=self.axis)
        rank = len(self.input_shape)
        if not -rank <= self.axis < rank:
            raise ShapeError(f"concat '{self.name}': axis {self.axis} out of range for rank {rank}")
        ax = self.axis % rank
        for s in self.input_shapes:
            if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, self.input_shape)) if i != ax):
                shapes = ", ".join(str(list(x)) for x in self.input_shapes)
                raise ShapeError(f"concat '{self.name}': shapes {shapes} differ outside axis {self.axis}")

    @property
    def output_shape(self) -> Shape:
        ax = self.axis % len(self.input_shape)
        out = list(self.input_shape)
        out[ax] = sum(s[ax] for s in self.input_shapes)
        return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Slice(Layer):
    """Slice ``[start, stop)`` along ``axis`` (ShuffleNet-v2 channel split)."""

    op: ClassVar[str] = "slice"
    axis: int = 0
    start: int = 0
    stop: int = 0

    def _check(self) -> None:
        _need_ints(self, axis=self.axis, start=self.start, stop=self.stop)
        rank = len(self.input_shape)
        if not -rank <= self.axis < rank:
            raise ShapeError(f"slice '{self.name}': axis {self.axis} out of range for rank {rank}")
        size = self.input_shape[self.axis % rank]
        if not 0 <= self.start < self.stop <= size:
            raise ShapeError(f"slice '{self.name}': need 0 <= start < stop <= {size}; got [{self.start}, {self.stop})")

    @property
    def output_shape(self) -> Shape:
        out = list(self.input_shape)
        out[self.axis % len(out)] = self.stop - self.start
        return tuple(out)


@dataclass(frozen=True, kw_only=True)
class ChannelShuffle(Layer):
    """ShuffleNet channel shuffle: a permutation of channels in ``groups`` groups (no arithmetic)."""

    op: ClassVar[str] = "channel_shuffle"
    groups: int = 2

    def _check(self) -> None:
        _need_ints(self, groups=self.groups)
        if self.groups < 1 or self.input_shape[0] % self.groups:
            raise ShapeError(f"channel_shuffle '{self.name}': groups={self.groups} must divide {self.input_shape[0]} channels")


@dataclass(frozen=True, kw_only=True)
class Flatten(Layer):
    """Flatten everything after the batch dimension."""

    op: ClassVar[str] = "flatten"

    @property
    def output_shape(self) -> Shape:
        return (_prod(self.input_shape),)


@dataclass(frozen=True, kw_only=True)
class Reshape(Layer):
    """Reshape to ``shape`` (one entry may be -1)."""

    op: ClassVar[str] = "reshape"
    shape: Shape = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _int_tuple(self.shape, "shape", self.name))
        super().__post_init__()

    def _check(self) -> None:
        total = _prod(self.input_shape)
        unknown = [d for d in self.shape if d == -1]
        known = _prod(d for d in self.shape if d != -1)
        if len(unknown) > 1 or any(d == 0 or d < -1 for d in self.shape) or (not self.shape and total != 1):
            raise ShapeError(f"reshape '{self.name}': target {list(self.shape)} must be positive ints with at most one -1 "
                             "(or [] for a one-element input: a scalar)")
        if (unknown and total % known) or (not unknown and known != total):
            raise ShapeError(f"reshape '{self.name}': cannot reshape {list(self.input_shape)} ({total} elements) to {list(self.shape)}")

    @property
    def output_shape(self) -> Shape:
        total = _prod(self.input_shape)
        known = _prod(d for d in self.shape if d != -1)
        return tuple(total // known if d == -1 else d for d in self.shape)


@dataclass(frozen=True, kw_only=True)
class Transpose(Layer):
    """Permute dimensions (batch excluded)."""

    op: ClassVar[str] = "transpose"
    perm: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "perm", _int_tuple(self.perm, "perm", self.name))
        super().__post_init__()

    def _check(self) -> None:
        if sorted(self.perm) != list(range(len(self.input_shape))):
            raise ShapeError(f"transpose '{self.name}': perm {list(self.perm)} is not a permutation of {len(self.input_shape)} dims")

    @property
    def output_shape(self) -> Shape:
        return tuple(self.input_shape[p] for p in self.perm)


@dataclass(frozen=True, kw_only=True)
class BatchNorm(Layer):
    """Batch normalization over channels (dim 0); foldable into a preceding conv or linear."""

    op: ClassVar[str] = "batchnorm"

    @property
    def num_features(self) -> int:
        return self.input_shape[0]

    @property
    def params(self) -> int:
        return 2 * self.num_features

    @property
    def elementwise_ops(self) -> int:
        return self.output_elements


@dataclass(frozen=True, kw_only=True)
class LayerNorm(Layer):
    """Layer normalization over the last dimension; ``rms`` = RMSNorm (scale only). ``affine``: elements of the
    scale (and of the shift), 0 = the last dimension's size; an instance or group normalization, imported as its
    (channels or groups, spatial elements) view normalised over the last axis, keeps one per channel. ``shift``:
    False for a LayerNorm without its bias (ONNX LayerNormalization without ``B``: a scale only)."""

    op: ClassVar[str] = "layernorm"
    rms: bool = False
    affine: int = 0
    shift: bool = True

    def _check(self) -> None:
        if not _is_int(self.affine) or self.affine < 0:
            raise ShapeError(f"layernorm '{self.name}': affine must be a non-negative int; got {self.affine!r}")

    @property
    def params(self) -> int:
        return (self.affine or self.input_shape[-1]) * (2 if self.shift and not self.rms else 1)

    @property
    def elementwise_ops(self) -> int:
        return 4 * self.output_elements


@dataclass(frozen=True, kw_only=True)
class Softmax(Layer):
    op: ClassVar[str] = "softmax"
    axis: int = -1

    def _check(self) -> None:
        _need_ints(self, axis=self.axis)
        rank = len(self.input_shape)
        if not -rank <= self.axis < rank:
            raise ShapeError(f"softmax '{self.name}': axis {self.axis!r} out of range for rank {rank}")

    @property
    def elementwise_ops(self) -> int:
        return 3 * self.output_elements


@dataclass(frozen=True, kw_only=True)
class Embedding(Layer):
    """Table lookup: indices ``(S,)`` -> ``(S, dim)``; no MACs."""

    op: ClassVar[str] = "embedding"
    num_embeddings: int
    embedding_dim: int

    def _check(self) -> None:
        _need_ints(self, num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim)
        if self.num_embeddings < 1 or self.embedding_dim < 1:
            raise ShapeError(f"embedding '{self.name}': num_embeddings and embedding_dim must be >= 1")

    @property
    def output_shape(self) -> Shape:
        return (*self.input_shape, self.embedding_dim)

    @property
    def weight_shape(self) -> Shape:
        return (self.num_embeddings, self.embedding_dim)

    @property
    def params(self) -> int:
        return self.num_embeddings * self.embedding_dim


@dataclass(frozen=True, kw_only=True)
class Identity(Layer):
    """No-op (dropout at inference, skipped ops)."""

    op: ClassVar[str] = "identity"


@dataclass(frozen=True, kw_only=True)
class Generic(Layer):
    """An op accelsim has no layer type for, imported as-is (an ONNX ``Resize``, ``TopK``, a contrib op).

    It carries what a memory-bound model needs to cost its traffic: the shapes of its activation inputs
    (``input_shapes``) and outputs (``output_shapes``, batch excluded), ``param_elements`` read from
    constants (weights of the op, per layer, not per sample) and ``element_bits`` (storage width of one
    element, bits). No MACs. ``op_type`` names the source op (``"Resize"``, ``"com.microsoft::Attention"``).
    """

    op: ClassVar[str] = "generic"
    op_type: str = ""
    output_shapes: tuple[Shape, ...] = ((1,),)
    param_elements: int = 0
    element_bits: int = 32

    def _num_inputs(self) -> int | None:
        return None

    def _check(self) -> None:
        if not isinstance(self.output_shapes, (tuple, list)):
            raise ShapeError(f"layer '{self.name}': output_shapes must be a list of shapes; got {self.output_shapes!r}")
        shapes = tuple(_int_tuple(s, f"output {i} shape", self.name) for i, s in enumerate(self.output_shapes))
        object.__setattr__(self, "output_shapes", shapes)
        _need_ints(self, param_elements=self.param_elements, element_bits=self.element_bits)
        if not shapes or any(any(d <= 0 for d in s) for s in shapes):  # () is a scalar: one element
            raise ShapeError(f"generic layer '{self.name}' ({self.op_type}): output shapes {[list(s) for s in shapes]} "
                             "must be given, with positive dimensions")
        if self.param_elements < 0 or self.element_bits < 1:
            raise ShapeError(f"generic layer '{self.name}': param_elements must be >= 0 and element_bits >= 1")

    @property
    def input_shape(self) -> Shape:
        return self.input_shapes[0] if self.input_shapes else ()

    @property
    def output_shape(self) -> Shape:
        return self.output_shapes[0]

    @property
    def output_elements(self) -> int:
        return sum(_prod(s) for s in self.output_shapes)

    @property
    def bytes_moved(self) -> int:
        """Bytes per sample read and written (activations in and out; constants not included)."""
        return (self.input_elements + self.output_elements) * self.element_bits // 8


# --- LLM graph ops (Hugging Face builder, accelsim.workload.hf) ------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Rope(Layer):
    """Rotary position embedding on ``(..., heads * head_dim)``: the first ``rotary_dim`` features of every
    head are rotated in pairs, ``y = x cos(theta) + rotate_half(x) sin(theta)``: 3 element ops (2 multiplies,
    1 add) per rotated element; the rest pass through. No MACs, no parameters (the cos / sin tables are
    computed from positions)."""

    op: ClassVar[str] = "rope"
    heads: int = 1
    head_dim: int = 1
    rotary_dim: int = 0  # 0: the whole head

    def _check(self) -> None:
        for attr in ("heads", "head_dim"):
            v = getattr(self, attr)
            if not _is_int(v) or v < 1:
                raise ShapeError(f"rope '{self.name}': {attr} must be an int >= 1; got {v!r}")
        _need_ints(self, rotary_dim=self.rotary_dim)
        if not 0 <= self.rotary_dim <= self.head_dim or self.rotary_dim % 2:
            raise ShapeError(f"rope '{self.name}': rotary_dim must be even and in [0, head_dim={self.head_dim}]; "
                             f"got {self.rotary_dim!r}")
        if self.input_shape[-1] != self.heads * self.head_dim:
            raise ShapeError(f"rope '{self.name}': last input dimension {self.input_shape[-1]} != heads x head_dim = "
                             f"{self.heads} x {self.head_dim}")

    @property
    def rotated(self) -> int:
        """Rotated features per head."""
        return self.rotary_dim or self.head_dim

    @property
    def elementwise_ops(self) -> int:
        return 3 * (self.output_elements // self.head_dim) * self.rotated


@dataclass(frozen=True, kw_only=True)
class KVAppend(Layer):
    """Write the new tokens' keys or values into the KV cache: input ``(..., S, F)`` (S new tokens of F
    features per sequence), output the same rows as stored. ``cache_tokens`` is the cache length after the
    append (the attention reads that many), ``bits`` the storage width of one cached element (the cache's
    format), ``kind`` what is cached (``k``, ``v`` or ``latent`` for MLA's compressed KV). Its output feeds no
    layer: the attention reads the cache from a graph input. No MACs; traffic = the appended rows."""

    op: ClassVar[str] = "kv_append"
    cache_tokens: int = 1
    bits: int = 16
    kind: str = "k"
    #: stored bits per cached element with its scales and zero points (a recipe's KV format); 0: ``bits``
    kv_bits: float = 0.0

    @property
    def bits_per_element(self) -> float:
        """Stored bits per cached element: ``kv_bits`` when a KV format set it, else ``bits``."""
        return float(self.kv_bits) if self.kv_bits else float(self.bits)

    def _check(self) -> None:
        if len(self.input_shape) < 2:
            raise ShapeError(f"kv_append '{self.name}': input must be (..., tokens, features); got {list(self.input_shape)}")
        if self.kind not in ("k", "v", "latent"):
            raise ShapeError(f"kv_append '{self.name}': kind must be k, v or latent; got {self.kind!r}")
        if not _is_int(self.bits) or not 1 <= self.bits <= 64:
            raise ShapeError(f"kv_append '{self.name}': bits must be an int in [1, 64]; got {self.bits!r}")
        _need_ints(self, cache_tokens=self.cache_tokens)
        if self.cache_tokens < self.input_shape[-2]:
            raise ShapeError(f"kv_append '{self.name}': cache_tokens {self.cache_tokens} < the {self.input_shape[-2]} "
                             "appended tokens")

    @property
    def sequences(self) -> int:
        return _prod(self.input_shape[:-2])

    @property
    def write_bytes(self) -> int:
        """Bytes written into the cache per sample (the appended rows at :attr:`bits_per_element`)."""
        if self.kv_bits:
            return math.ceil(self.input_elements * self.kv_bits / 8)
        return -(-self.input_elements * self.bits // 8)

    @property
    def cache_bytes(self) -> int:
        """Bytes the cache holds after the append (every sequence, ``cache_tokens`` rows)."""
        if self.kv_bits:
            return math.ceil(self.sequences * self.cache_tokens * self.input_shape[-1] * self.kv_bits / 8)
        return -(-self.sequences * self.cache_tokens * self.input_shape[-1] * self.bits // 8)


@dataclass(frozen=True, kw_only=True)
class GroupedLinear(Linear):
    """``groups`` independent linears of one shape (the experts of a mixture-of-experts layer that received
    the same number of tokens): input ``(groups, tokens, in_features)``, weight ``(groups * out_features,
    in_features)`` (the experts' matrices stacked), GEMM ``(M = tokens, N = out_features, K = in_features,
    groups)``."""

    op: ClassVar[str] = "grouped_linear"
    groups: int = 1

    def _check(self) -> None:
        super()._check()
        if not _is_int(self.groups) or self.groups < 1:
            raise ShapeError(f"grouped_linear '{self.name}': groups must be an int >= 1; got {self.groups!r}")
        if len(self.input_shape) != 3 or self.input_shape[0] != self.groups:
            raise ShapeError(f"grouped_linear '{self.name}': input must be (groups={self.groups}, tokens, features); "
                             f"got {list(self.input_shape)}")

    @property
    def tokens(self) -> int:
        return self.input_shape[1]

    @property
    def weight_shape(self) -> Shape:
        return (self.groups * self.out_features, self.in_features)

    @property
    def bias_size(self) -> int:
        return self.groups * self.out_features if self.bias else 0

    @property
    def params(self) -> int:
        return self.groups * self.out_features * self.in_features + self.bias_size

    def _gemm(self, batch: int) -> GemmShape:
        return GemmShape(batch * self.tokens, self.out_features, self.in_features, self.groups)


@dataclass(frozen=True, kw_only=True)
class MoeDispatch(Layer):
    """Route tokens to experts: ``(T, F)`` tokens -> ``(groups, tokens, F)``, the rows each of ``groups``
    experts receives (a gather; no arithmetic)."""

    op: ClassVar[str] = "moe_dispatch"
    groups: int = 1
    tokens: int = 1

    def _check(self) -> None:
        if len(self.input_shape) != 2:
            raise ShapeError(f"moe_dispatch '{self.name}': input must be (tokens, features); got {list(self.input_shape)}")
        _need_ints(self, groups=self.groups, tokens=self.tokens)
        if self.groups < 1 or not 1 <= self.tokens <= self.input_shape[0]:
            raise ShapeError(f"moe_dispatch '{self.name}': need groups >= 1 and 1 <= tokens <= {self.input_shape[0]}; "
                             f"got groups={self.groups}, tokens={self.tokens}")

    @property
    def output_shape(self) -> Shape:
        return (self.groups, self.tokens, self.input_shape[1])


@dataclass(frozen=True, kw_only=True)
class MoeCombine(Layer):
    """Weighted sum of the experts' outputs back into token order: inputs ``(groups_i, tokens_i, F)`` (one per
    expert bucket, optionally a ``(T, F)`` shared-expert output first), output ``(tokens, F)``; 2 element ops
    (scale by the router weight, accumulate) per routed output element."""

    op: ClassVar[str] = "moe_combine"
    tokens: int = 1

    def _num_inputs(self) -> int | None:
        return None

    def _check(self) -> None:
        if not self.input_shapes:
            raise ShapeError(f"moe_combine '{self.name}': needs at least one input")
        features = {s[-1] for s in self.input_shapes}
        if len(features) != 1 or any(len(s) not in (2, 3) for s in self.input_shapes):
            raise ShapeError(f"moe_combine '{self.name}': inputs must be (tokens, F) or (groups, tokens, F) with one F; "
                             f"got {[list(s) for s in self.input_shapes]}")

    @property
    def output_shape(self) -> Shape:
        return (self.tokens, self.input_shapes[0][-1])

    @property
    def elementwise_ops(self) -> int:
        return 2 * self.input_elements


@dataclass(frozen=True, kw_only=True)
class Attention(MatMul):
    """Fused (FlashAttention-style) multi-head attention: ``softmax(q k^T / sqrt(d) + mask) v`` without the
    score matrix leaving the chip. Inputs (batch excluded; ``B`` sequences may lead): ``q (B, S, heads * dq)``,
    ``k (B, L, kv_heads * dq)``, ``v (B, L, kv_heads * dv)``; output ``(B, S, heads * dv)``. ``kv_heads``
    divides ``heads`` (MHA: equal, GQA: fewer, MQA: 1). ``causal``: query ``i`` of the S new tokens sees the
    ``L - S + i + 1`` keys up to its own position; ``window`` (> 0) caps that at the last ``window`` keys.

    GEMM view: both products as one batched GEMM per KV head, ``M = (heads / kv_heads) * S`` (the query heads
    sharing a KV head), ``N = ceil(visible keys / S)`` (the mean keys per query, rounded up: ``L`` unmasked,
    about ``(L + 1) / 2`` for a causal prefill with ``S = L``), ``K = dq + dv``, ``groups = B * kv_heads``;
    so MACs = ``heads * S * N * (dq + dv)`` per sequence (``q k^T`` plus ``p v``). Softmax: 3 element ops per
    visible score."""

    op: ClassVar[str] = "attention"
    heads: int = 1
    kv_heads: int = 1
    causal: bool = False
    window: int = 0

    def _num_inputs(self) -> int | None:
        return 3

    def _check(self) -> None:
        q, k, v = self.input_shapes
        if not (len(q) == len(k) == len(v) >= 2) or q[:-2] != k[:-2] or k[:-1] != v[:-1]:
            raise ShapeError(f"attention '{self.name}': q, k, v must be (..., S, heads*d), (..., L, kv_heads*d), "
                             f"(..., L, kv_heads*dv); got {list(q)}, {list(k)}, {list(v)}")
        _need_ints(self, heads=self.heads, kv_heads=self.kv_heads, window=self.window)
        if self.heads < 1 or self.kv_heads < 1 or self.heads % self.kv_heads:
            raise ShapeError(f"attention '{self.name}': kv_heads={self.kv_heads} must divide heads={self.heads}")
        if q[-1] % self.heads or k[-1] % self.kv_heads or v[-1] % self.kv_heads:
            raise ShapeError(f"attention '{self.name}': feature sizes {q[-1]}, {k[-1]}, {v[-1]} do not split into "
                             f"{self.heads} / {self.kv_heads} heads")
        if q[-1] // self.heads != k[-1] // self.kv_heads:
            raise ShapeError(f"attention '{self.name}': query head size {q[-1] // self.heads} != key head size "
                             f"{k[-1] // self.kv_heads}")
        if self.causal and q[-2] > k[-2]:
            raise ShapeError(f"attention '{self.name}': causal attention of {q[-2]} queries needs >= {q[-2]} keys; "
                             f"got {k[-2]}")
        if self.window < 0:
            raise ShapeError(f"attention '{self.name}': window must be >= 0; got {self.window}")

    @property
    def q_len(self) -> int:
        return self.input_shapes[0][-2]

    @property
    def kv_len(self) -> int:
        return self.input_shapes[1][-2]

    @property
    def head_dim(self) -> int:
        return self.input_shapes[0][-1] // self.heads

    @property
    def v_head_dim(self) -> int:
        return self.input_shapes[2][-1] // self.kv_heads

    @property
    def visible_keys(self) -> int:
        """Scores computed per (sequence, head): sum over the S queries of the keys each one sees."""
        s, length, w = self.q_len, self.kv_len, self.window
        if not self.causal:
            return s * (min(length, w) if w else length)
        first = length - s + 1  # keys the first new query sees; query i sees first + i, capped at the window
        if not w:
            return s * first + s * (s - 1) // 2
        below = min(max(w - first, 0), s)  # queries under the cap
        return below * first + below * (below - 1) // 2 + (s - below) * w

    @property
    def output_shape(self) -> Shape:
        q = self.input_shapes[0]
        return (*q[:-1], self.heads * self.v_head_dim)

    def _gemm(self, batch: int) -> GemmShape:
        lead = _prod(self.input_shapes[0][:-2])
        n = -(-self.visible_keys // self.q_len)
        return GemmShape((self.heads // self.kv_heads) * self.q_len, n, self.head_dim + self.v_head_dim,
                         batch * lead * self.kv_heads)

    @property
    def elementwise_ops(self) -> int:
        return 3 * _prod(self.input_shapes[0][:-2]) * self.heads * self.visible_keys


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.op: cls
    for cls in (
        Input, Conv2d, Linear, MatMul, LSTMCell, GRUCell, RNNCell, Pool2d, Activation, Eltwise, Concat, Slice,
        ChannelShuffle, Flatten, Reshape, Transpose, BatchNorm, LayerNorm, Softmax, Embedding, Identity,
        Generic, Rope, KVAppend, GroupedLinear, MoeDispatch, MoeCombine, Attention,
    )
}

GEMM_OPS = frozenset(op for op, cls in LAYER_TYPES.items() if issubclass(cls, (Conv2d, Linear, MatMul, RecurrentCell)))

__all__ = [
    "ACTIVATIONS", "Activation", "Attention", "BatchNorm", "ChannelShuffle", "Concat", "Conv2d", "ELTWISE_FUNCS", "Eltwise",
    "Embedding", "Flatten", "GEMM_OPS", "GRUCell", "Generic", "GemmShape", "GroupedLinear", "Identity", "Input", "KVAppend", "LAYER_TYPES",
    "LSTMCell", "MoeCombine", "MoeDispatch", "Rope",
    "Layer", "LayerNorm", "Linear", "MatMul", "Pool2d", "RNNCell", "Reshape", "Shape", "Slice", "Softmax", "Transpose",
]
