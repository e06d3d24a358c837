"""Compression recipes: YAML pipelines ``layer pattern -> transforms``, and :func:`compress`.

A recipe (bundled in ``workloads/recipes/<name>.yaml``, or any path / dict)::

    name: deep-compression-alexnet
    description: ...
    source: "Han et al., Deep Compression, ICLR 2016, Table 4"
    layers: "*"                  # glob(s) of the layers with weights the pipeline applies to
    skip: []                     # glob(s) left dense
    seed: 0                      # optional, mixed with compress(seed=...) for random steps
    pipeline:                    # applied in order to every selected layer
      - prune: {method: magnitude, sparsity: 0.9}
      - share: {bits: 8, init: linear}
      - encode: {format: csr, index_bits: auto}
      - huffman: {streams: [payload, index]}
    overrides:                   # per-layer parameters by exact name or glob, applied in order
      conv1: {prune: {density: 0.84}}
      "fc*": {share: {bits: 5}}
      fc8: {huffman: null}       # null drops the step for those layers; {skip: true} leaves them dense

and, for a workload with a KV cache (a decoder's decode or prefill phase), a KV-cache format::

    kv: {format: int4, key: per_channel, value: per_token, group_size: 32}

Number formats (``quantize: {format: mxfp4}``, ``{bits: 4, group_size: 128, scale_format: fp16,
symmetric: false}``, ``{format: fp8-e4m3, block: [128, 128]}``, ...), quantized activations
(``activations: {bits: 8, granularity: per_token, dynamic: true, smooth_alpha: 0.5}``) and the KV
cache format live in :mod:`accelsim.compress.formats` (``docs/compression.md`` section 6).

Steps (each declared as a frozen dataclass of :func:`accelsim.config.param` fields, with units,
ranges and defaults; :data:`OPS` maps a step name to its class; equations in ``docs/compression.md``):

* graph steps, which must come first: ``channel_prune`` (filter pruning that shrinks consumers),
  ``svd`` (Linear / 1x1 conv -> two layers), ``tucker2`` (KxK conv -> three layers),
  ``depthwise_separable`` (KxK conv -> depthwise + pointwise);
* weight steps: ``prune`` (magnitude / random / nm / block; layer or global scope),
  ``quantize`` (uniform), ``binarize``, ``ternarize``, ``share`` (k-means codebook),
  ``activations`` (activation bits), ``encode`` (storage format), ``huffman``. ``encode`` and ``huffman``
  declare how the layer's final tensor is stored, wherever they appear in the pipeline: they act after every
  other weight step (the transforms list them last).

Every recipe value is validated on load by :mod:`accelsim.config`; a bad value raises
:class:`ConfigError` naming the recipe file and the field
(``recipes/x.yaml: pipeline[0].prune.sparsity must be a number in [0, 1); got 1.2``).
:func:`with_params` sets step parameters of a loaded recipe (the sweep keys ``recipe.<step>.<param>``).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import fnmatch
import math
import zlib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Collection, Literal, Mapping, Sequence

import numpy as np

from accelsim.config import MAX_SEED, check_seed, collect, param, read_yaml_file
from accelsim.compress import formats as F
from accelsim.compress import prune as P
from accelsim.compress import quantize as Q
from accelsim.compress.compressed import (LAZY_MATRICES, ColumnScaledMatrix, CompressedGraph, CompressedLayer,
                                          DequantMatrix, MaskedMatrix, deployed_codes_fit, deployed_tensor)
from accelsim.compress.huffman import HuffmanCode, huffman_code_lengths
from accelsim.compress.kmeans import EMPTY, INITS, kmeans_1d, scatter_codes
from accelsim.compress.tensors import (
    CSC,
    CSR,
    NM,
    Bitmask,
    Codebook,
    CompressedTensor,
    Dense,
    HuffmanCoded,
    InterleavedCSC,
    LowBit,
    RowScaleDecode,
    Scattered,
    StorageBits,
    is_sign_table,
)
from accelsim.errors import CompressionError, ConfigError, UnknownNameError, api_arguments
from accelsim.paths import RECIPE_DIR, bundled, refuse_long_name
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Conv2d, Input, Linear

GRAPH_OPS = ("channel_prune", "svd", "tucker2", "depthwise_separable")  # must come before the weight steps
WEIGHT_OPS = ("prune", "quantize", "binarize", "ternarize", "share", "activations", "encode", "huffman")
FORMATS = ("auto", "dense", "csr", "csc", "interleaved_csc", "bitmask", "nm")
#: weight formats of the quantize step (accelsim.compress.formats)
WEIGHT_FORMATS = ("int", "fp8-e4m3", "fp8-e5m2", *F.MX_FORMATS, "nvfp4")
SCALE_FORMATS = F.SCALE_FORMATS
BASE_BITS = 32  # the dense reference: 32-bit floats (Deep Compression's "original" size)


# --- parameter schema -----------------------------------------------------------------------------
# One frozen dataclass per step, its parameters declared with accelsim.config.param (type, range,
# choices, unit, doc) and its cross-field rules in validate(). accelsim.config checks every value,
# so a bad one reads like any config problem: "x.yaml: pipeline[0].prune.sparsity must be a number
# in [0, 1); got 1.2".
class StepParams:
    """Base of the step parameter classes: what their keys are called, and their exclusive groups."""

    key_kind = "parameter"
    #: groups of alternative parameters (give one of each group): setting one clears the others
    alternatives: tuple[tuple[str, ...], ...] = ()

    def validate(self) -> list[str]:
        return []


def _one_of(obj: Any, names: tuple[str, ...]) -> list[str]:
    given = [f"{k}={getattr(obj, k)}" for k in names if getattr(obj, k) is not None]
    if len(given) == 1:
        return []
    return [f"{names[0]}: give exactly one of {', '.join(names)}; got {', '.join(given) or 'none'}"]


@dataclass(frozen=True)
class PruneParams(StepParams):
    """``prune``: zero weights by magnitude, at random, N:M along the input dimension, or by blocks."""

    method: str = param("magnitude", choices=("magnitude", "random", "nm", "block"),
                        doc="magnitude | random | nm (keep n of every m) | block (blocks by norm)")
    sparsity: float | None = param(None, ge=0, lt=1, unit="fraction", doc="fraction of the weights removed")
    density: float | None = param(None, gt=0, le=1, unit="fraction", doc="fraction of the weights kept")
    scope: str = param("layer", choices=("layer", "global"),
                       doc="layer: each layer at the sparsity; global: one magnitude threshold over the selected layers")
    n: int | None = param(None, ge=1, le=1024, unit="weights", doc="N of N:M: weights kept of every M")
    m: int | None = param(None, ge=1, le=1024, unit="weights", doc="M of N:M: group length along the input dimension")
    block: tuple[int, int] | None = param(None, ge=1, le=65536, unit="weights",
                                          doc="[rows, cols] of a block (method block; <= 65536 each)")
    norm: str = param("l1", choices=("l1", "l2"), doc="block score (method block)")

    alternatives = (("sparsity", "density"),)

    def validate(self) -> list[str]:
        out = []
        if self.sparsity is not None and self.density is not None:
            out.append(f"density: give sparsity or density, not both; got sparsity={self.sparsity}, density={self.density}")
        # a parameter of another method would be ignored in silence: refused, naming the method it belongs to
        own = {"nm": ("n", "m"), "block": ("block",)}
        for method, keys in own.items():
            given = [f"{k}={getattr(self, k) if k != 'block' else list(self.block)}" for k in keys
                     if getattr(self, k) is not None]
            if given and self.method != method:
                out.append(f"{keys[0]}: {', '.join(given)} applies to method {method} only; got method {self.method}")
        if self.method == "nm" and (self.sparsity is not None or self.density is not None):
            given = f"sparsity={self.sparsity}" if self.sparsity is not None else f"density={self.density}"
            out.append(f"{given.split('=')[0]}: N:M pruning keeps n of every m (density n / m); got {given} with "
                       f"method nm")
        if self.method == "nm":
            out += [f"{k} is required for N:M pruning (method nm)" for k in ("n", "m") if getattr(self, k) is None]
            if self.n is not None and self.m is not None and self.n > self.m:
                out.append(f"n must be <= m (N:M keeps N of every M); got {self.n}:{self.m}")
            return out
        if self.sparsity is None and self.density is None:
            out.append(f"sparsity or density is required for '{self.method}' pruning")
        if self.method == "block" and self.block is None:
            out.append("block is required for block pruning: [rows, cols], e.g. [4, 4]")
        return out


@dataclass(frozen=True)
class QuantizeParams(StepParams):
    """``quantize``: integer or floating-point weight formats (1-bit int = binary codebook).

    Without ``format`` / ``group_size`` / ``block`` / ``scale_format`` / ``zero_point_bits`` /
    ``act_order`` this is the original uniform quantizer (:class:`LowBit`, 32-bit scales); with any
    of them the weights become a :class:`accelsim.compress.formats.GroupQuant` (docs/compression.md
    section 6).
    """

    bits: int | None = param(None, ge=1, le=32, unit="bits", doc="bits per weight (format int; implied by the float formats)")
    symmetric: bool = param(True, doc="symmetric range around zero (else an asymmetric zero point)")
    per_channel: bool = param(False, doc="one scale per output channel (else one per layer)")
    format: str = param("int", choices=WEIGHT_FORMATS, doc="int | fp8-e4m3 | fp8-e5m2 | mxfp8 | mxfp6 | mxfp4 | nvfp4 | ...")
    group_size: int | None = param(None, ge=1, le=1 << 20, unit="weights",
                                   doc="weights along K sharing one scale (null: per channel / per tensor)")
    block: tuple[int, int] | None = param(None, ge=1, le=65536, unit="weights",
                                          doc="[rows, cols] sharing one scale (fp8 block scaling, e.g. [128, 128])")
    scale_format: str | None = param(None, choices=SCALE_FORMATS,
                                     doc="scale storage (null: the format's own; fp16 for group-wise int)")
    zero_point_bits: int | None = param(None, ge=1, le=16, unit="bits", doc="zero-point width (asymmetric; null: bits)")
    act_order: bool = param(False, doc="GPTQ act-order: group columns by decreasing activation energy (g_idx)")

    @property
    def legacy(self) -> bool:
        """True for the original per-channel / per-tensor quantizer (no new field given)."""
        return (self.format == "int" and self.group_size is None and self.block is None and self.scale_format is None
                and self.zero_point_bits is None and not self.act_order)

    def validate(self) -> list[str]:
        out = []
        fmt = self.format
        if fmt == "int":
            if self.bits is None:
                return ["bits is required for integer weights (format int)"]
            if self.legacy:
                return []
            if not 2 <= self.bits <= 8:
                out.append(f"bits must be in [2, 8] for group-wise integer weights; got {self.bits}")
            if self.block is not None:
                out.append(f"block: integer groups run along K; use group_size; got block {list(self.block)}")
            if self.act_order and self.group_size is None:
                out.append("act_order needs group_size (it orders the groups)")
            elif self.group_size is None and not self.per_channel and self.block is None:
                out.append("group_size is required (or per_channel: true) with scale_format / zero_point_bits")
            if self.zero_point_bits is not None and self.symmetric:
                out.append(f"zero_point_bits needs symmetric: false; got zero_point_bits={self.zero_point_bits}")
            if self.scale_format in ("e8m0", "e4m3"):
                out.append(f"scale_format must be fp32, fp16 or bf16 for integer weights; got {self.scale_format}")
            return out
        implied = 8 if fmt.startswith(("fp8", "mxfp8")) else (6 if fmt.startswith("mxfp6") else 4)
        if self.bits is not None and self.bits != implied:
            out.append(f"bits must be {implied} (or omitted) for format {fmt}; got {self.bits}")
        if self.zero_point_bits is not None or not self.symmetric:
            out.append(f"zero_point_bits / symmetric: false: format {fmt} is symmetric")
        if self.act_order:
            out.append(f"act_order is for integer group-wise weights; got format {fmt}")
        if fmt.startswith("mxfp"):
            if self.group_size not in (None, 32) or self.block is not None:
                given = f"group_size {self.group_size}" if self.block is None else f"block {list(self.block)}"
                out.append(f"group_size: {fmt} has E8M0 scales over blocks of 32 along K (OCP MX v1.0); got {given}")
            if self.scale_format not in (None, "e8m0"):
                out.append(f"scale_format must be e8m0 (or omitted) for {fmt}; got {self.scale_format}")
        elif fmt == "nvfp4":
            if self.group_size not in (None, 16) or self.block is not None:
                out.append(f"group_size: nvfp4 has E4M3 scales over blocks of 16 along K; got {self.group_size or self.block}")
            if self.scale_format not in (None, "e4m3"):
                out.append(f"scale_format must be e4m3 (or omitted) for nvfp4; got {self.scale_format}")
        else:  # fp8 with per-tensor / per-channel / group / block scales
            if self.group_size is not None and self.block is not None:
                out.append(f"block: give group_size or block, not both; got group_size={self.group_size}, block={list(self.block)}")
            by_32 = (self.group_size == 32 and self.block is None) or (
                self.group_size is None and self.block is not None and list(self.block) == [1, 32])
            if self.scale_format == "e8m0" and not by_32:
                out.append(f"scale_format: E8M0 scales cover blocks of 32 along K (OCP MX v1.0); got "
                           f"{'block ' + str(list(self.block)) if self.block is not None else f'group_size {self.group_size}'}")
        return out


@dataclass(frozen=True)
class BinarizeParams(StepParams):
    """``binarize``: weights -> +-alpha (alpha = mean |w|)."""

    per_channel: bool = param(True, doc="one alpha per output channel (else one per layer)")


@dataclass(frozen=True)
class TernarizeParams(StepParams):
    """``ternarize``: weights -> {-alpha, 0, +alpha} with threshold x mean |w|."""

    threshold: float = param(0.7, gt=0, le=10, unit="x mean |w|", doc="weights below threshold x mean |w| become 0")
    per_channel: bool = param(False, doc="one threshold and alpha per output channel")


@dataclass(frozen=True)
class ShareParams(StepParams):
    """``share``: k-means weight sharing (2^bits shared values, Deep Compression)."""

    bits: int = param(ge=1, le=16, unit="bits", doc="codebook index bits (2^bits shared values)")
    init: str = param("linear", choices=INITS, doc="centroid initialization")
    table_bits: int = param(32, ge=1, le=32, unit="bits", doc="bits of each decoded (shared) value")
    max_iter: int = param(100, ge=1, le=10_000, unit="iterations", doc="k-means iterations at most")
    empty: str = param("drop", choices=EMPTY, doc="a cluster no weight is nearest to: drop (Deep Compression's "
                       "plain Lloyd) or relocate onto the farthest weight (scikit-learn's k-means)")


@dataclass(frozen=True)
class ActivationsParams(StepParams):
    """``activations``: activation precision of the selected layers; with ``format``,
    ``granularity``, ``dynamic`` or ``smooth_alpha`` the input activations are quantized as an
    :class:`accelsim.compress.formats.ActivationFormat` (W8A8) and the layer records its quantize /
    dequantize / requantize operators (``CompressedLayer.quant_ops``)."""

    bits: int = param(ge=1, le=32, unit="bits", doc="activation bits")
    format: str = param("int", choices=("int", "e4m3", "e5m2"), doc="int (symmetric absmax) | e4m3 | e5m2 (FP8)")
    granularity: str = param("per_tensor", choices=("per_tensor", "per_token"), doc="one scale per tensor or per token")
    dynamic: bool = param(False, doc="scales computed at run time (else static, calibrated offline)")
    smooth_alpha: float | None = param(None, ge=0, le=1, unit="fraction",
                                       doc="SmoothQuant migration strength; factors folded into the weights")
    group_size: int | None = param(None, ge=1, le=1 << 20, unit="channels",
                                   doc="per_token: channels per scale (DeepSeek-V3: 128); null: one scale per token")

    @property
    def legacy(self) -> bool:
        return (self.format == "int" and self.granularity == "per_tensor" and not self.dynamic
                and self.smooth_alpha is None and self.group_size is None)

    def validate(self) -> list[str]:
        if self.group_size is not None and self.granularity != "per_token":
            return [f"group_size needs granularity per_token; got granularity {self.granularity}"]
        if self.format != "int" and self.bits != 8:
            return [f"bits must be 8 for format {self.format}; got {self.bits}"]
        if not self.legacy and self.format == "int" and not 2 <= self.bits <= 8:
            return [f"bits must be in [2, 8] for quantized activations; got {self.bits}"]
        return []


@dataclass(frozen=True)
class EncodeParams(StepParams):
    """``encode``: the storage format of the weights."""

    format: str = param("auto", choices=FORMATS, doc="auto: nm after N:M pruning, csr when sparse, else dense")
    index_bits: int | Literal["auto"] | None = param(
        None, ge=1, le=32, unit="bits", doc="relative index width; auto: the cheapest; null: absolute indices")
    relative: bool | None = param(None, doc="relative (zero-run) indices; null: relative when index_bits is given")
    pointer_bits: int | None = param(None, ge=1, le=64, unit="bits", doc="row / column pointer width (null: minimal)")
    n_pe: int = param(1, ge=1, le=4096, unit="PEs", doc="interleaved_csc: rows interleaved over n_pe PEs")
    value_bits: int | None = param(None, ge=1, le=32, unit="bits", doc="stored value width (null: from the earlier steps)")

    def validate(self) -> list[str]:
        if self.relative is True and self.index_bits is None:
            return ["index_bits is required for relative indices (relative: true)"]
        return []


@dataclass(frozen=True)
class HuffmanParams(StepParams):
    """``huffman``: Huffman-code the stored streams."""

    streams: list[str] = param(["payload", "index"], choices=("payload", "index"), doc="streams to code")

    def validate(self) -> list[str]:
        return [] if self.streams else ["streams must be a non-empty list of payload and/or index; got []"]


@dataclass(frozen=True)
class ChannelPruneParams(StepParams):
    """``channel_prune``: remove whole output channels (filters) by norm; consumers shrink."""

    sparsity: float = param(ge=0, lt=1, unit="fraction", doc="fraction of the output channels removed")
    norm: str = param("l1", choices=("l1", "l2"), doc="filter score")
    strict: bool = param(False, doc="error (instead of keeping the channels) where a consumer cannot shrink")


@dataclass(frozen=True)
class SvdParams(StepParams):
    """``svd``: a Linear / 1x1 conv -> two layers of rank r."""

    rank: int | None = param(None, ge=1, le=1 << 30, unit="rank", doc="the rank r")
    rank_fraction: float | None = param(None, gt=0, le=1, unit="fraction", doc="r as a fraction of the full rank")
    energy: float | None = param(None, gt=0, le=1, unit="fraction", doc="smallest r keeping this fraction of sum(sigma^2)")

    alternatives = (("rank", "rank_fraction", "energy"),)

    def validate(self) -> list[str]:
        return _one_of(self, ("rank", "rank_fraction", "energy"))


@dataclass(frozen=True)
class Tucker2Params(StepParams):
    """``tucker2``: a KxK conv -> 1x1, KxK core, 1x1 (Tucker-2 over the channel modes)."""

    rank_fraction: float | None = param(None, gt=0, le=1, unit="fraction", doc="both ranks as a fraction of the channels")
    ranks: tuple[int, int] | None = param(None, ge=1, le=1 << 30, unit="rank", doc="[out_rank, in_rank] (<= 2^30 each)")

    alternatives = (("rank_fraction", "ranks"),)

    def validate(self) -> list[str]:
        return _one_of(self, ("rank_fraction", "ranks"))


@dataclass(frozen=True)
class DepthwiseSeparableParams(StepParams):
    """``depthwise_separable``: a KxK conv -> depthwise KxK + pointwise 1x1 (no parameters)."""


#: step name -> its parameter class (weight steps, then the graph steps, which must come first in a pipeline)
OPS: dict[str, type] = {
    "prune": PruneParams, "quantize": QuantizeParams, "binarize": BinarizeParams, "ternarize": TernarizeParams,
    "share": ShareParams, "activations": ActivationsParams, "encode": EncodeParams, "huffman": HuffmanParams,
    "channel_prune": ChannelPruneParams, "svd": SvdParams, "tucker2": Tucker2Params,
    "depthwise_separable": DepthwiseSeparableParams,
}
#: step name -> {parameter: default} (None for required parameters)
OPS_DEFAULTS = {
    op: {f.name: (f.default if f.default is not MISSING else (f.default_factory() if f.default_factory is not MISSING else None))
         for f in fields(cls)}
    for op, cls in OPS.items()
}


def _keep(raw: Any, value: Any) -> Any:
    """A validated value as the pipeline uses it: lists, not tuples; an integral number given for a
    float parameter stays as written (so labels read ``density=1``, as in the file)."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and type(raw) is int:
        return raw
    return value


def _step_params(op: str, params: Any, where: str, problems: list[str], partial: bool) -> dict[str, Any]:
    """The parameters of step ``op`` checked by :func:`accelsim.config.collect`: the given ones in
    their order, then the defaults (``partial``: the given ones only, for overrides)."""
    cls = OPS[op]
    params = {} if params is None else params
    if partial:
        got = collect(cls, params, problems, f"{where}.", partial=True)
        return {k: _keep(params[k], v) for k, v in got.items()}
    obj = collect(cls, params, problems, f"{where}.")
    if obj is None:
        return {}
    out = {k: _keep(params[k], getattr(obj, k)) for k in params}
    out.update({f.name: _keep(None, getattr(obj, f.name)) for f in fields(cls) if f.name not in out})
    return out


@dataclass(frozen=True, kw_only=True)
class RecipeFields:
    """The top-level keys of a recipe (``pipeline`` entries and ``overrides`` are checked per step)."""

    name: str | None = param(None, doc="recipe name (default: the file name without .yaml)")
    description: str = param("", doc="free text")
    source: str = param("", doc="the publication or rationale the recipe reproduces")
    layers: str | list[str] | None = param(None, doc="layer name(s) / glob(s) the pipeline applies to (default '*')")
    skip: str | list[str] | None = param(None, doc="layer name(s) / glob(s) left dense")
    seed: int = param(0, ge=0, le=MAX_SEED, doc="mixed with compress(seed=...) for the random steps (a 32-bit seed)")
    pipeline: list[Any] = param(doc="steps applied in order: [{step: {parameter: value}}, ...]")
    overrides: dict[str, Any] | None = param(None, doc="layer name or glob -> {step: {parameter: value} | null} | skip")
    kv: dict[str, Any] | None = param(None, doc="KV-cache format: {format, key, value, group_size, scale_bits, zero_point_bits}")

    key_kind = "recipe field"

    def validate(self) -> list[str]:
        out = []
        if self.name is not None and not self.name:
            out.append("name must be a non-empty string; got ''")
        for key in ("layers", "skip"):
            value = getattr(self, key)
            if value is not None and (value == "" or (isinstance(value, list) and not all(value))):
                out.append(f"{key} must be a layer name / glob or a list of them; got {value!r}")
        if not self.pipeline and not self.kv:
            out.append("pipeline must be a non-empty list of steps (or give kv); got []")
        return out


@dataclass(frozen=True)
class KVParams(StepParams):
    """``kv``: how the KV cache is stored (:class:`accelsim.compress.formats.KVFormat`)."""

    format: str = param(choices=F.KV_FORMATS, doc="int8 | int4 | int2 | fp8-e4m3 | fp8-e5m2")
    key: str = param("per_token", choices=("per_token", "per_channel"), doc="key grouping (KIVI: per_channel)")
    value: str = param("per_token", choices=("per_token", "per_channel"), doc="value grouping (KIVI: per_token)")
    group_size: int | None = param(None, ge=1, le=1 << 20, unit="elements", doc="elements per scale (null: a whole row / column)")
    scale_bits: int = param(16, ge=1, le=32, unit="bits", doc="bits of each integer group's scale")
    zero_point_bits: int = param(16, ge=1, le=32, unit="bits", doc="bits of each integer group's zero point")

    key_kind = "kv field"


@dataclass(frozen=True)
class Step:
    op: str
    params: Mapping[str, Any]

    def label(self) -> str:
        defaults = OPS_DEFAULTS[self.op]
        keys = {k: v for k, v in self.params.items() if v is not None and defaults.get(k) != v}
        return self.op + ("(" + ", ".join(f"{k}={v}" for k, v in keys.items()) + ")" if keys else "")


@dataclass(frozen=True)
class Recipe:
    """A validated recipe; build with :func:`load_recipe`."""

    name: str
    pipeline: tuple[Step, ...]
    overrides: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    layers: tuple[str, ...] = ("*",)
    skip: tuple[str, ...] = ()
    seed: int = 0
    description: str = ""
    source: str = ""
    path: str = "<dict>"
    raw: Mapping[str, Any] = field(default_factory=dict)
    kv: F.KVFormat | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "path": self.path, "description": self.description, "source": self.source,
               "pipeline": [s.label() for s in self.pipeline]}
        if self.kv is not None:
            out["kv"] = dict(vars(self.kv))
        return out


# --- loading --------------------------------------------------------------------------------------
def recipe_names() -> list[str]:
    return sorted(bundled(RECIPE_DIR))


def _unknown_step(op: Any, where: str) -> str:
    close = difflib.get_close_matches(str(op), list(OPS), n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(OPS)}"
    return f"{where}: unknown step '{op}'; {hint}"


def _parse_step(entry: Any, where: str, problems: list[str]) -> Step | None:
    if isinstance(entry, str):
        entry = {entry: {}}
    if not isinstance(entry, Mapping) or len(entry) != 1:
        problems.append(f"{where} must be a mapping with one step name, e.g. {{prune: {{sparsity: 0.5}}}}; got {entry!r}")
        return None
    (op, params), = entry.items()
    if op not in OPS:
        problems.append(_unknown_step(op, where))
        return None
    start = len(problems)
    params = _step_params(op, params, f"{where}.{op}", problems, partial=False)
    return Step(op, params) if len(problems) == start else None


def _merge(op: str, params: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Step parameters with a per-layer override applied: giving one of a group of alternatives
    (``density`` for a step with ``sparsity``) replaces the step's value of the group."""
    out = dict(params)
    for group in OPS[op].alternatives:
        if any(k in over for k in group):
            out.update({k: None for k in group})
    out.update(over)
    return out


def _parse_overrides(raw: Any, steps: list[Step], problems: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """``overrides``: pattern -> {step: partial parameters | None (drop the step) | skip: bool}."""
    ops_in_pipe = {s.op for s in steps}
    out: list[tuple[str, dict[str, Any]]] = []
    for pattern, body in (raw or {}).items():
        where = f"overrides.{pattern}"
        if not isinstance(pattern, str) or not pattern:
            problems.append(f"overrides keys must be layer names or globs; got {pattern!r}")
            continue
        if body == "skip":
            body = {"skip": True}
        if not isinstance(body, Mapping):
            problems.append(f"{where} must be a mapping of step -> parameters (or 'skip'); got {body!r}")
            continue
        parsed: dict[str, Any] = {}
        for op, params in body.items():
            if op == "skip":
                if not isinstance(params, bool):
                    problems.append(f"{where}.skip must be true or false; got {params!r}")
                parsed["skip"] = bool(params)
            elif op not in OPS:
                problems.append(_unknown_step(op, where))
            elif op not in ops_in_pipe:
                problems.append(f"{where}.{op}: the pipeline has no '{op}' step to override")
            else:
                none = params is None or params is False
                parsed[op] = None if none else _step_params(op, params, f"{where}.{op}", problems, partial=True)
        out.append((pattern, parsed))
    return out


def _raise(path: str, problems: list[str]) -> None:
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems), [f"{path}: {p}" for p in problems])


def recipe_from_dict(data: Any, path: str = "<dict>") -> Recipe:
    """Validate a recipe mapping; every problem is reported in one :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a recipe must be a mapping with 'name' and 'pipeline'; got {type(data).__name__}")
    problems: list[str] = []
    head = collect(RecipeFields, data, problems)
    pipe = data.get("pipeline")
    steps: list[Step] = []
    for i, entry in enumerate(pipe if isinstance(pipe, (list, tuple)) else []):  # (a tuple from the API too)
        step = _parse_step(entry, f"pipeline[{i}]", problems)
        if step is not None:
            if step.op in [s.op for s in steps]:
                problems.append(f"pipeline[{i}]: step '{step.op}' appears twice")
            steps.append(step)
    first_weight = next((i for i, s in enumerate(steps) if s.op in WEIGHT_OPS), len(steps))
    problems += [f"pipeline[{i}]: graph step '{s.op}' must come before the weight steps"
                 for i, s in enumerate(steps) if i > first_weight and s.op in GRAPH_OPS]
    raw_over = data.get("overrides")
    overrides = _parse_overrides(raw_over if isinstance(raw_over, Mapping) else None, steps, problems)
    kv = None
    if isinstance(data.get("kv"), Mapping):
        kvp = collect(KVParams, data["kv"], problems, "kv.")
        if kvp is not None:
            kv = F.KVFormat(kvp.format, kvp.key, kvp.value, kvp.group_size, kvp.scale_bits, kvp.zero_point_bits)
    _raise(path, problems)

    def patterns(value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
        return default if value is None else ((value,) if isinstance(value, str) else tuple(value))

    recipe = Recipe(name=head.name or (Path(path).stem if path != "<dict>" else "recipe"), pipeline=tuple(steps),
                    overrides=tuple(overrides), layers=patterns(head.layers, ("*",)), skip=patterns(head.skip, ()),
                    seed=head.seed, description=head.description, source=head.source, path=path,
                    raw=copy.deepcopy(dict(data)), kv=kv)
    # merged per-layer parameters must also be consistent (e.g. an override n > m)
    for pattern, parsed in recipe.overrides:
        for step in recipe.pipeline:
            if parsed.get(step.op):
                collect(OPS[step.op], _merge(step.op, step.params, parsed[step.op]), problems, f"overrides.{pattern}.{step.op}.")
    _raise(path, problems)
    return recipe


@api_arguments
def load_recipe(source: Any) -> Recipe:
    """A :class:`Recipe` from a bundled name, a YAML path, a mapping, or a Recipe (returned as is)."""
    if isinstance(source, Recipe):
        return source
    if isinstance(source, Mapping):
        return recipe_from_dict(source)
    if not isinstance(source, (str, Path)):
        raise ConfigError(f"a recipe must be a bundled name, a .yaml path or a mapping; got {type(source).__name__}")
    path = recipe_file(source)
    return recipe_from_dict(read_yaml_file(path), str(path))


def recipe_file(source: str | Path) -> Path:
    """The file a bundled recipe name or a YAML path names; ConfigError / UnknownNameError when none."""
    text = str(source)
    path = Path(text)
    names = bundled(RECIPE_DIR)
    if not path.suffix and text in names:
        return names[text]
    if not text.strip():  # Path('') is '.', the working directory: named as the unknown recipe '' it is
        raise UnknownNameError("recipe", text, list(names))
    refuse_long_name(text, ConfigError, "a bundled recipe name or a recipe .yaml file")
    if path.is_dir():
        raise ConfigError(f"{text}: is a directory, expected a recipe .yaml file or a bundled recipe name")
    if not path.exists():
        if path.suffix in (".yaml", ".yml"):
            raise ConfigError(f"{text}: recipe file not found")
        raise UnknownNameError("recipe", text, list(names))
    return path


def step_param_names() -> dict[str, list[str]]:
    """Step name -> its parameter names (for sweep keys ``recipe.<step>.<param>``)."""
    return {op: [f.name for f in fields(cls)] for op, cls in OPS.items()}


def with_params(recipe: Any, params: Mapping[str, Any], prefix: str = "") -> Recipe:
    """``recipe`` with ``{"<step>.<param>": value}`` set on its pipeline step ``<step>``.

    This is what a sweep axis ``recipe.prune.density`` does. Setting one of a group of alternatives
    (``sparsity`` / ``density``; ``rank`` / ``rank_fraction`` / ``energy``; ``rank_fraction`` /
    ``ranks``) clears the others of the step. Per-layer ``overrides`` of the recipe still apply on
    top. The result is validated like any recipe and named ``<name>[prune.density=0.25]``.
    Problems (unknown step or parameter, with the nearest names; a step the pipeline lacks; a bad
    value) raise one :class:`ConfigError`, each naming ``<prefix><step>.<param>``.
    """
    recipe = load_recipe(recipe)
    if params is not None and not isinstance(params, Mapping):
        raise ConfigError(f"recipe parameters must be a mapping of '<step>.<param>' to values; got {params!r}")
    if not params:
        return recipe
    names = step_param_names()
    problems: list[str] = []
    data = copy.deepcopy(dict(recipe.raw))
    if not isinstance(data.get("pipeline"), list):
        raise ConfigError(f"{prefix or 'recipe'}: recipe '{recipe.name}' was not built from a mapping (use load_recipe)")
    pipe = [({e: {}} if isinstance(e, str) else dict(e)) for e in data["pipeline"]]
    index = {next(iter(e)): i for i, e in enumerate(pipe)}
    for key, value in params.items():
        op, _, name = str(key).partition(".")
        where = f"{prefix}{key}"
        if op not in OPS:
            close = difflib.get_close_matches(op, list(OPS), n=3, cutoff=0.5) or list(OPS)
            problems.append(f"{where}: unknown recipe step '{op}'; nearest valid names: "
                            + ", ".join(f"{prefix}{c}.<param>" for c in close))
            continue
        if name not in names[op]:
            close = (difflib.get_close_matches(name, names[op], n=3, cutoff=0.5) if name else []) or names[op]
            hint = ", ".join(f"{prefix}{op}.{c}" for c in close) if close else f"none ('{op}' takes no parameters)"
            problems.append(f"{where}: unknown parameter of step '{op}'; nearest valid names: {hint}")
            continue
        if op not in index:
            problems.append(f"{where}: recipe '{recipe.name}' has no '{op}' step (its pipeline: "
                            f"{', '.join(s.op for s in recipe.pipeline)})")
            continue
        start = len(problems)
        collect(OPS[op], {name: value}, problems, f"{prefix}{op}.", partial=True)
        if len(problems) > start:
            continue
        body = dict(pipe[index[op]][op] or {})
        for group in OPS[op].alternatives:
            if name in group:
                for other in group:
                    body.pop(other, None)
        body[name] = value
        pipe[index[op]] = {op: body}
    if problems:
        raise ConfigError("; ".join(problems), problems)
    data["pipeline"] = pipe
    data["name"] = f"{recipe.name}[{', '.join(f'{k}={v}' for k, v in params.items())}]"
    return recipe_from_dict(data, recipe.path)


# --- per-layer plans ------------------------------------------------------------------------------
def _matches(name: str, pattern: str, names: Collection[str] = ()) -> bool:
    """Whether a selector (``layers``, ``skip``, an ``overrides`` key) selects layer ``name``: a selector that is
    exactly the name of a layer of the workload (one of ``names``) selects that layer only (``fc[0]`` is a layer,
    not the glob that also matches ``fc0``); any other selector is an fnmatch glob."""
    if name == pattern:
        return True
    return pattern not in names and fnmatch.fnmatchcase(name, pattern)


def _plans(recipe: Recipe, graph: LayerGraph) -> dict[str, list[Step]]:
    """Selected layer -> its steps with overrides merged; checks every pattern matches a layer."""
    weighted = [layer.name for layer in graph.layers if layer.has_weights]
    names = {layer.name for layer in graph.layers}
    problems = []
    for field_name, pats in (("layers", recipe.layers), ("skip", recipe.skip), ("overrides", [p for p, _ in recipe.overrides])):
        for pat in pats:
            if not any(_matches(n, pat, names) for n in weighted):
                problems.append(f"{field_name}: pattern '{pat}' matches no layer with weights in workload '{graph.name}'")
    if problems:
        raise ConfigError(f"{recipe.path}: " + "; ".join(problems), [f"{recipe.path}: {p}" for p in problems])
    plans: dict[str, list[Step]] = {}
    for name in weighted:
        if not any(_matches(name, p, names) for p in recipe.layers) or any(_matches(name, p, names) for p in recipe.skip):
            continue
        params = {s.op: dict(s.params) for s in recipe.pipeline}
        dropped: set[str] = set()
        skip = False
        for pattern, body in recipe.overrides:
            if not _matches(name, pattern, names):
                continue
            for op, p in body.items():
                if op == "skip":
                    skip = p
                elif p is None:
                    dropped.add(op)
                else:
                    dropped.discard(op)
                    params[op] = _merge(op, params[op], p)
        if skip:
            continue
        plans[name] = [Step(s.op, params[s.op]) for s in recipe.pipeline if s.op not in dropped]
    return plans


def _warn_if_nothing_selected(recipe: Recipe, graph: LayerGraph, plans: Mapping[str, list[Step]]) -> None:
    """One warning when the recipe's selectors (``layers``, ``skip``, ``overrides`` with ``skip``) leave none of
    the workload's layers with weights to compress: the result is the dense workload (``skip: ["*"]`` was a
    silent no-op with a compression ratio of 1.0)."""
    if plans or not any(layer.has_weights for layer in graph.layers):
        return
    import warnings

    how = f"layers: {list(recipe.layers)}, skip: {list(recipe.skip)}"
    if any(body.get("skip") for _, body in recipe.overrides):
        how += ", overrides with skip"
    warnings.warn(f"{recipe.path}: the recipe's selectors ({how}) leave no layer of workload '{graph.name}' to "
                  "compress; the result is the dense workload", stacklevel=3)


def _warn_if_skipped(recipe: Recipe, where: str, op: str, targets: Sequence[str], notes: Mapping[str, list[str]]) -> None:
    """One warning when a graph step substitutes none of the layers it selects, or skips a layer the recipe names
    exactly (``layers: [fc1]`` with ``depthwise_separable``): the skip is otherwise only a per-layer note."""
    skipped = {n: next(x for x in notes[n] if x.startswith(f"{op} skipped")) for n in targets
               if any(x.startswith(f"{op} skipped") for x in notes.get(n, ()))}
    named = [n for n in skipped if n in recipe.layers]
    if not skipped or (len(skipped) < len(targets) and not named):
        return
    import warnings

    shown = named or list(skipped)
    reasons = "; ".join(f"'{n}': {skipped[n].split(': ', 1)[-1]}" for n in shown[:3])
    more = f" (and {len(shown) - 3} more)" if len(shown) > 3 else ""
    what = "none of the layers it selects" if len(skipped) == len(targets) else "not all the layers the recipe names"
    warnings.warn(f"{where} substituted {what}, which stay as they were ({reasons}{more})", stacklevel=3)


# --- layer state ------------------------------------------------------------------------------------
class _State:
    """Working state of one layer's weight matrix through the weight steps."""

    def __init__(self, name: str, matrix: np.ndarray, held: bool = True):
        self.name = name
        self.original = matrix
        # whether the graph holds ``matrix`` anyway (its weights): a pruned layer then reads its kept values from it
        # by reference; a matrix built for this layer alone (drawn, or dequantized from a checkpoint's codes) is not
        # kept alive by that reference (4 bytes a weight of every such layer), its kept values are gathered
        self.held = held
        # never written in place: every step that changes values builds a new array
        self._values: np.ndarray | None = matrix if matrix.dtype in (np.float32, np.float64) else matrix.astype(np.float64)
        self.dtype = self._values.dtype
        self.shape = tuple(int(s) for s in matrix.shape)
        # the compact form of a pruned layer (``_values`` None): the values at the mask's kept positions in
        # row-major order (zeros elsewhere) and, after weight sharing, their codes; no dense float copy
        self._kept: np.ndarray | None = None
        # a pruned layer of unmodified weights reads its kept values from the weights themselves (``original``)
        # until a step needs them as an array (:attr:`kept`); the quantizer reads them by rows (:class:`_KeptRows`)
        self._kept_from: np.ndarray | None = None
        self.kept_codes: np.ndarray | None = None
        # a quantized layer: the values are ``derived.materialize()`` (codes + scales), built only when read
        self.derived: DequantMatrix | None = None
        self.mask: np.ndarray | None = None
        self._codes: np.ndarray | None = None
        self.table: np.ndarray | None = None
        self.code_bits: int | None = None
        self.table_bits: int | None = None
        self.lowbit: LowBit | None = None
        self.value_bits: int | None = None
        self.weight_bits: int | None = None
        self.activation_bits: int | None = None
        self.nm: tuple[int, int] | None = None
        self.encode: dict[str, Any] = dict(OPS_DEFAULTS["encode"])
        self.huffman: list[str] | None = None
        self.transforms: list[str] = []
        self.quant_error: dict[str, float | None] | None = None
        self.quant: F.GroupQuant | None = None  # group-wise / float / MX weights (formats.py)
        self.smooth: np.ndarray | None = None  # SmoothQuant factors folded into ``values`` (per column)
        # SmoothQuant factors not yet folded: ``values`` is ``original * smooth``, built when first read (a
        # quantizer that reads rows takes them scaled a block at a time instead: :class:`_SmoothedRows`)
        self._pending_smooth: np.ndarray | None = None
        self.act_format: F.ActivationFormat | None = None

    @property
    def compact(self) -> bool:
        """True while the layer is held as mask + kept values (no dense matrix)."""
        return self._values is None and self.derived is None

    @property
    def values(self) -> np.ndarray:
        """The dense effective values (built from the compact form on first use: steps without a compact
        path, e.g. quantization after pruning, read them; the layer then stays dense)."""
        if self._pending_smooth is not None:
            self._values, self._pending_smooth = _smoothed(self._values, self._pending_smooth), None
        if self._values is None and self.derived is not None:
            self._values = self.derived.materialize()  # read-only (steps never write in place); ``derived`` stays exact
        if self._values is None:
            out = np.zeros(self.shape, self.dtype)
            out[self.mask] = self.kept
            self._values, self.kept = out, None
            if self.kept_codes is not None:
                codes = np.zeros(self.shape, self.kept_codes.dtype)
                codes[self.mask] = self.kept_codes
                self._codes, self.kept_codes = codes, None
        return self._values

    @values.setter
    def values(self, v: np.ndarray) -> None:
        self._values, self.kept, self.derived, self._pending_smooth = v, None, None, None

    def set_derived(self, derived: DequantMatrix) -> None:
        """The values are ``derived``'s (no dense copy until read)."""
        self._values, self.kept, self.kept_codes, self.derived = None, None, None, derived
        self._pending_smooth = None

    @property
    def codes(self) -> np.ndarray | None:
        if self.kept_codes is not None:
            self.values  # noqa: B018 - materializes the codes with the values
        return self._codes

    @codes.setter
    def codes(self, c: np.ndarray | None) -> None:
        if self.kept_codes is not None:
            self.values  # noqa: B018
        self._codes = c

    @property
    def kept(self) -> np.ndarray | None:
        """The kept values in row-major order (gathered from the weights on first use when held by reference)."""
        if self._kept is None and self._kept_from is not None:
            self._kept, self._kept_from = self._kept_from[self.mask], None
        return self._kept

    @kept.setter
    def kept(self, v: np.ndarray | None) -> None:
        self._kept, self._kept_from = v, None

    def set_compact(self, kept: np.ndarray | None, kept_codes: np.ndarray | None = None, source: np.ndarray | None = None
                    ) -> None:
        """Hold the layer as ``mask`` + ``kept`` (+ ``kept_codes``): the dense values are dropped. ``source``
        (with ``kept`` None): the dense array whose kept positions are the values, held by reference."""
        self._values, self._codes, self.kept, self.kept_codes, self.derived = None, None, kept, kept_codes, None
        self._kept_from, self._pending_smooth = source, None

    def kept_values(self) -> np.ndarray:
        """The values at the kept positions (row-major), from either form."""
        return self.kept if self.compact else self.values[self.mask]

    @property
    def sparse(self) -> bool:
        return self.mask is not None and not bool(self.mask.all())


def _rng(seed: int, recipe_seed: int, name: str, step: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(recipe_seed), zlib.crc32(name.encode("utf-8")), int(step)])


def _sparsity(p: Mapping[str, Any]) -> float:
    if p["sparsity"] is not None:
        return float(p["sparsity"])
    # a density under 1.1e-16 would round 1 - density to 1.0: the largest sparsity below 1 (each layer keeps one weight)
    return min(1.0 - float(p["density"]), float(np.nextafter(1.0, 0.0)))


def _apply_prune(st: _State, p: Mapping[str, Any], rng, global_mask: np.ndarray | None) -> None:
    method = p["method"]
    if method == "nm":
        scores = st.values if st.mask is None else np.where(st.mask, np.abs(st.values), 0.0)  # nm_mask takes |.|
        mask = P.nm_mask(scores, p["n"], p["m"])
        st.nm = (p["n"], p["m"])
        label = f"prune:nm({p['n']}:{p['m']})"
    else:
        s = _sparsity(p)
        if global_mask is not None:
            mask = global_mask
        elif method == "magnitude":
            if st.mask is None:  # streamed: a block of |w| at a time (prune.top_k_abs_mask)
                mask = P.top_k_abs_mask(st.values, P._keep_count(st.values.size, s))
            else:
                scores = np.where(st.mask, np.abs(st.values), -1.0)
                mask = P._top_k_mask(scores, P._keep_count(scores.size, s))  # scores are |w| already
                del scores
        elif method == "random":
            mask = P.random_mask(st.shape, s, rng)
        else:
            mask = P.block_mask(st.values, tuple(p["block"]), s, p["norm"])
        label = f"prune:{method}{'-global' if p['scope'] == 'global' else ''}({1 - s:.4g} kept)"
        if method == "block":
            label = f"prune:block{p['block'][0]}x{p['block'][1]}({1 - s:.4g} kept)"
    if st.mask is not None:
        mask = mask & st.mask
    st.mask = mask
    if st.lowbit is None and st.quant is None and st._codes is None and st.kept_codes is None and st.smooth is None:
        # the compact form: the kept values only (no dense float copy of the pruned layer); of the unmodified
        # weights, by reference (gathered only when a step needs them as an array)
        if st._values is st.original and st.held:
            st.set_compact(None, source=st.original)
        else:
            st.set_compact(st.values[mask])
    else:
        st.values = np.where(mask, st.values, 0).astype(st.values.dtype, copy=False)
    if st.lowbit is not None:  # pruned entries take the zero level
        lb = st.lowbit
        zp = np.broadcast_to(lb._bcast(lb.zero_point), lb.values_int.shape)
        st.lowbit = LowBit(np.where(mask, lb.values_int, zp), lb.bits, lb.scale, lb.zero_point,
                           per_channel=lb.per_channel, signed=lb.signed)
    if st.quant is not None:  # pruned entries take the zero code
        st.quant = st.quant.with_mask(mask)
    st.transforms.append(label)


def _legacy_quantize(p: Mapping[str, Any]) -> bool:
    """The original uniform quantizer (LowBit with 32-bit scales): no format field given."""
    return (p.get("format", "int") == "int" and p.get("act_order") in (None, False)
            and all(p.get(k) is None for k in ("group_size", "block", "scale_format", "zero_point_bits")))


def _legacy_activations(p: Mapping[str, Any]) -> bool:
    return (p.get("format", "int") == "int" and p.get("granularity", "per_tensor") == "per_tensor"
            and not p.get("dynamic") and p.get("smooth_alpha") is None and p.get("group_size") is None)


def _format_name(p: Mapping[str, Any], k: int, n: int) -> str:
    """The label of a quantize step's weight format, e.g. ``int4-asym-g128-fp16-zp4``, ``fp8-e4m3-block128x128-fp32``."""
    fmt = p["format"]
    if fmt in F.MX_FORMATS or fmt == "nvfp4":
        return fmt
    if fmt == "int":
        g = f"g{p['group_size']}" if p["group_size"] else "per-channel"
        zp = "" if p["symmetric"] else f"-zp{p['zero_point_bits'] or p['bits']}"
        return (f"int{p['bits']}-{'sym' if p['symmetric'] else 'asym'}-{g}-{p['scale_format'] or 'fp16'}{zp}"
                + ("-act-order" if p["act_order"] else ""))
    if p["block"] is not None:
        g = f"block{p['block'][0]}x{p['block'][1]}"
    else:
        g = f"g{p['group_size']}" if p["group_size"] else ("per-channel" if p["per_channel"] else "per-tensor")
    return f"{fmt}-{g}-{p['scale_format'] or 'fp32'}"


def _apply_format(st: _State, p: Mapping[str, Any], order: np.ndarray | None) -> None:
    """A quantize step with a format field: :class:`formats.GroupQuant` weights (bit-exact codes + scales). An
    integer format reads a pruned layer by rows (:class:`_KeptRows`), the others its dense values."""
    x = _row_reader(st, p)
    if x is None:
        x = st.values
    n, k = x.shape
    fmt = p["format"]
    name = _format_name(p, k, n)
    if fmt == "int":  # one scale per (1, group) block: every row on its own, so a block of rows at a time
        q = _by_rows(lambda rows: F.quantize_int(
            rows, p["bits"], p["group_size"], symmetric=p["symmetric"], scale_format=p["scale_format"] or "fp16",
            zero_point_bits=p["zero_point_bits"], order=order if p["act_order"] else None, name=name), x)
    elif fmt in F.MX_FORMATS:
        q = F.quantize_mx(x, fmt)
    elif fmt == "nvfp4":
        q = F.quantize_nvfp4(x)
    else:
        block = F.scale_block(p["block"], p["group_size"], p["per_channel"], n, k)
        q = F.quantize_float(x, fmt[4:], block, p["scale_format"] or "fp32", name=name)
    if st.mask is not None:
        q = q.with_mask(st.mask, copy=False)  # the codes just made: in place
    st.quant = q
    st.lowbit = None
    st.codes = st.table = None
    # = q.to_dense().astype(dtype), zero outside the mask (held packed), built when read
    st.set_derived(DequantMatrix(q, st.dtype, st.mask, shape=st.shape))
    st.value_bits = st.weight_bits = q.spec.value_bits
    st.transforms.append(f"quantize:{name}")


def _by_rows(quantize, x: np.ndarray) -> F.GroupQuant:
    """``quantize(x)`` for a quantizer whose scale blocks are single rows, a block of rows at a time (no
    full-size float64 temporaries): the same codes, scales and zero points, stitched together."""
    n, k = x.shape
    rows = max(1, _BLOCK // max(k, 1))
    if n <= rows:
        return quantize(x[0:n])  # ``x`` may be a row reader (a pruned layer's :class:`_KeptRows`)
    first = quantize(x[:rows])
    codes = np.empty((n, k), first.codes.dtype)
    scales = np.empty((n,) + first.scales.shape[1:], first.scales.dtype)
    zps = None if first.zero_points is None else np.empty((n,) + first.zero_points.shape[1:], first.zero_points.dtype)
    for r0 in range(0, n, rows):
        part = first if r0 == 0 else quantize(x[r0:r0 + rows])
        codes[r0:r0 + rows], scales[r0:r0 + rows] = part.codes, part.scales
        if zps is not None:
            zps[r0:r0 + rows] = part.zero_points
    return F.GroupQuant(codes, first.spec, scales, zps, first.tensor_scale, first.g_idx)


def _act_order(layer, sample: np.ndarray | None, w: np.ndarray) -> tuple[np.ndarray, str]:
    """GPTQ act-order: columns by decreasing diag(X^T X) of the layer's activation sample (Linear
    layers with a sample whose last axis is K), else by decreasing weight-column L2 norm (a proxy,
    documented)."""
    k = w.shape[1]
    if sample is not None and isinstance(layer, Linear) and np.asarray(sample).shape[-1] == k:
        energy = np.sum(np.square(np.asarray(sample, np.float64).reshape(-1, k)), axis=0)
        src = "activation sample"
    else:
        energy = np.sum(np.square(np.asarray(w, np.float64)), axis=0)
        src = "weight column norms"
    return np.argsort(-energy, kind="stable"), src


def _apply_quantize(st: _State, p: Mapping[str, Any], order: np.ndarray | None = None) -> None:
    if not _legacy_quantize(p):
        _apply_format(st, p, order)
        return
    rows = _row_reader(st, p)
    if rows is not None:  # a pruned layer's rows from mask + kept values, or a smoothed layer's scaled a block at a time
        q = Q.quantize_uniform_rows(rows, p["bits"], symmetric=p["symmetric"], per_channel=p["per_channel"])
    else:
        q = Q.quantize_uniform(st.values, p["bits"], symmetric=p["symmetric"], per_channel=p["per_channel"])
    if isinstance(q, Codebook):  # 1 bit: binary
        _set_codebook(st, q.indices, q.table, 1, BASE_BITS, sign=True)
    else:
        st.lowbit = q
        st.codes = st.table = None
        # the values are q.to_dense() in the values' type, zero outside the mask: built a block at a time when read
        st.set_derived(DequantMatrix(q, st.dtype, st.mask, shape=st.shape))
        st.value_bits = st.weight_bits = p["bits"]
    kind = "sym" if p["symmetric"] else "asym"
    st.transforms.append(f"quantize:int{p['bits']}-{kind}{'-per-channel' if p['per_channel'] else ''}")


class _KeptRows:
    """The dense rows of a compact layer, ``rows[r0:r1]``, built a block at a time from its mask and kept
    values, or from its mask and the weights themselves while the kept values are held by reference (the
    whole matrix is never built, nor a gathered copy of the kept values): what the quantizer and its error
    statistics read."""

    def __init__(self, st: _State):
        self.mask, self.dtype, self.shape = st.mask, st.dtype, tuple(st.shape)
        self.source = st._kept_from if st._kept is None else None  # the weights themselves: no gathered copy
        if self.source is None:
            self.kept = st.kept
            self.starts = np.zeros(self.shape[0] + 1, np.int64)
            np.cumsum(np.count_nonzero(self.mask, axis=1), out=self.starts[1:])

    def __getitem__(self, rows: slice) -> np.ndarray:
        r0, r1, _ = rows.indices(self.shape[0])
        if self.source is not None:
            return np.where(self.mask[r0:r1], self.source[r0:r1], self.dtype.type(0)).astype(self.dtype, copy=False)
        out = np.zeros((max(r1 - r0, 0), self.shape[1]), self.dtype)
        out[self.mask[r0:r1]] = self.kept[self.starts[r0]:self.starts[max(r1, r0)]]
        return out


def _smoothed(w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``(w * s[None, :]).astype(w.dtype)`` (SmoothQuant's folded weights) a block of rows at a time: no
    float64 copy of the layer."""
    out = np.empty(w.shape, w.dtype)
    step = max(1, _BLOCK // max(w.shape[1], 1))
    for r0 in range(0, w.shape[0], step):
        out[r0:r0 + step] = w[r0:r0 + step] * s[None, :]
    return out


class _SmoothedRows:
    """The rows of a layer whose SmoothQuant factors are not folded yet, ``rows[r0:r1]`` = the rows of
    :func:`_smoothed` (the same values), made a block at a time from the weights: what a quantizer that
    reads rows and its error statistics take instead of a smoothed copy of the layer."""

    def __init__(self, st: _State):
        self.source, self.scale = st._values, st._pending_smooth
        self.dtype, self.shape = st.dtype, tuple(st.shape)

    def __getitem__(self, rows: slice) -> np.ndarray:
        r0, r1, _ = rows.indices(self.shape[0])
        return (self.source[r0:r1] * self.scale[None, :]).astype(self.dtype)


def _row_reader(st: _State, p: Mapping[str, Any]) -> Any:
    """What a quantize step reads its rows from instead of the dense values: a pruned layer's
    :class:`_KeptRows`, a layer with SmoothQuant factors still to fold :class:`_SmoothedRows`; None when the
    step reads the dense values (the formats that do not go by rows, act-order)."""
    if _reads_rows(st, p):
        return _KeptRows(st)
    if st._pending_smooth is None or len(st.shape) != 2 or p.get("act_order"):
        return None
    if p["bits"] >= 2 if _legacy_quantize(p) else p.get("format", "int") == "int":
        return _SmoothedRows(st)
    return None


def _reads_rows(st: _State, p: Mapping[str, Any]) -> bool:
    """True when a quantize step reads a compact (pruned) layer by rows instead of building it: the uniform
    quantizer (2 bits or more) and the integer formats (one scale per row or per group of a row)."""
    if not st.compact or len(st.shape) != 2 or p.get("act_order"):
        return False
    return p["bits"] >= 2 if _legacy_quantize(p) else p.get("format", "int") == "int"


def _set_codebook(st: _State, codes: np.ndarray, table: np.ndarray, code_bits: int, table_bits: int,
                  sign: bool = False) -> None:
    """The layer's weights as ``codes`` into ``table`` (entries of ``table_bits``). ``sign``: the table is a scaled
    sign set (binary ``[-a, a]``, ternary ``[-a, 0, a]``, per row or per tensor), which hardware runs as
    ``code_bits``-bit integer weights with the scale ``a`` applied to the outputs, as integer quantization's
    scale, not as decoded ``table_bits``-bit values (docs/compression.md)."""
    st.codes = codes.astype(np.uint16 if code_bits <= 16 else np.int64)
    st.table = table
    st.code_bits = code_bits
    st.table_bits = table_bits
    st.lowbit = None
    st.quant = None
    if table.ndim == 1:
        dec = table[st.codes]
    else:
        dec = table[np.arange(codes.shape[0])[:, None], st.codes]
    st.values = (dec if st.mask is None else np.where(st.mask, dec, 0)).astype(st.values.dtype)
    st.value_bits = code_bits
    st.weight_bits = code_bits if sign else table_bits


def _apply_binarize(st: _State, p: Mapping[str, Any], ternary: bool) -> None:
    x = st.values.astype(np.float64)
    if st.mask is not None:  # statistics over the kept weights only
        kept = st.mask
        x_stat = np.where(kept, np.abs(x), np.nan)
    else:
        kept = np.ones(x.shape, bool)
        x_stat = np.abs(x)
    per = p["per_channel"]
    mean_abs = np.nanmean(x_stat, axis=1) if per else np.asarray(np.nanmean(x_stat))
    mean_abs = np.nan_to_num(mean_abs)
    if not ternary:
        alpha = mean_abs
        codes = (x >= 0).astype(np.int64)
        table = np.stack([-alpha, alpha], axis=-1)
        _set_codebook(st, codes, table, 1, BASE_BITS, sign=True)
        st.transforms.append("binarize" + ("-per-channel" if per else ""))
        return
    delta = p["threshold"] * mean_abs
    big = (np.abs(x) > (delta[:, None] if per else delta)) & kept
    if per:
        cnt = big.sum(axis=1)
        alpha = np.where(cnt > 0, (np.abs(x) * big).sum(axis=1) / np.maximum(cnt, 1), 0.0)
    else:
        alpha = np.asarray(np.abs(x)[big].mean() if big.any() else 0.0)
    codes = np.where(big, np.where(x > 0, 2, 0), 1).astype(np.int64)
    table = np.stack([-alpha, np.zeros_like(alpha), alpha], axis=-1)
    _set_codebook(st, codes, table, 2, BASE_BITS, sign=True)
    st.transforms.append(f"ternarize({p['threshold']:g})" + ("-per-channel" if per else ""))


def _apply_share(st: _State, p: Mapping[str, Any], rng) -> None:
    kept = st.kept_values() if st.mask is not None else st.values.ravel()
    codes_kept, table = kmeans_1d(kept, p["bits"], init=p["init"], rng=rng, max_iter=p["max_iter"], empty=p["empty"])
    if st.compact:  # stays compact: the kept codes (uint8 / uint16, as scatter_codes stores them) and values
        table = np.asarray(table, np.float64)
        if table.size > (1 << 16):
            raise CompressionError(f"scatter_codes: uint16 codes hold at most 65536 table entries; got {table.size}")
        codes = np.asarray(codes_kept).ravel().astype(np.uint8 if table.size <= 256 else np.uint16)
        st.set_compact(table.astype(st.dtype)[codes], codes)  # = table[codes].astype(dtype), element by element
    elif st.mask is not None:  # one pass over the mask (kmeans.scatter_codes)
        codes, values = scatter_codes(st.mask, codes_kept, table, st.values.dtype)
    else:
        codes = np.zeros(st.values.shape, np.uint16)
        values = np.zeros(st.values.shape, st.values.dtype)
        codes[...] = codes_kept.reshape(st.values.shape)
        values[...] = table[codes]
    if not st.compact:
        st.values, st.codes = values, codes
    st.table, st.code_bits, st.table_bits = table, p["bits"], p["table_bits"]
    st.lowbit = None
    st.quant = None
    st.value_bits = p["bits"]
    # (a table that came out a scaled sign set, re-clustered binary / ternary weights, runs as their codes)
    st.weight_bits = p["bits"] if is_sign_table(table) else p["table_bits"]
    st.transforms.append(f"share:kmeans{p['bits']}b-{p['init']}")


# --- relative-index width search ---------------------------------------------------------------------
def _gaps(mask: np.ndarray, fmt: str) -> np.ndarray:
    """Zeros before each kept entry along the compressed lines (rows for CSR, columns for CSC)."""
    m = mask if fmt == "csr" else mask.T
    # a block of lines at a time (gaps restart on every line): int32 gaps, no full-size int64 positions
    lines = max(1, _BLOCK // max(m.shape[1], 1))
    out = np.empty(int(np.count_nonzero(mask)), np.int32)
    at = 0
    for r0 in range(0, m.shape[0], lines):
        rows, cols = np.nonzero(m[r0:r0 + lines])
        if rows.size == 0:
            continue
        prev = np.empty_like(cols)
        prev[0:1] = -1
        prev[1:] = np.where(rows[1:] == rows[:-1], cols[:-1], -1)
        out[at:at + rows.size] = cols - prev - 1
        at += rows.size
    return out


def _huffman_cost(counts: np.ndarray) -> int:
    lengths = huffman_code_lengths(counts)
    code = HuffmanCode(counts=counts, lengths=lengths)
    return code.encoded_bits + code.table_bits


def _best_index_bits(st: _State, fmt: str, value_bits: int) -> int:
    """Relative-index width (1..16) with the fewest stored bits (after Huffman when it follows)."""
    mask = st.mask if st.mask is not None else np.ones(st.shape, bool)
    huff = st.huffman or []
    pay_counts = None
    if "payload" in huff and np.any(mask):
        if st.compact:
            sym = st.kept_codes if st.kept_codes is not None else np.unique(st.kept, return_inverse=True)[1]
        else:
            sym = st.codes[mask] if st.codes is not None else np.unique(st.values[mask], return_inverse=True)[1]
        pay_counts = np.bincount(np.ravel(sym))
        del sym
    gaps = _gaps(mask, fmt)
    if gaps.size == 0:
        return 1
    best, best_bits = 1, None
    top = int(min(16, max(1, math.ceil(math.log2(int(gaps.max()) + 2)))))
    for b in range(1, top + 1):
        span = 1 << b
        pads = int(np.sum(gaps >> b))
        stored = gaps.size + pads
        if "index" in huff:
            # the alphabet the stored code has: symbols 0 .. the largest present (a padding entry is span - 1)
            idx_counts = np.bincount(gaps & (span - 1), minlength=span if pads else 1)
            idx_counts[span - 1 if pads else 0] += pads
            index_bits = _huffman_cost(idx_counts)
        else:
            index_bits = stored * b
        if pay_counts is not None:
            pc = pay_counts.copy()
            pc[0] += pads  # padding entries carry code / level 0
            payload_bits = _huffman_cost(pc)
        else:
            payload_bits = stored * value_bits
        total = index_bits + payload_bits
        if best_bits is None or total < best_bits:
            best, best_bits = b, total
    return best


# --- building the stored format ----------------------------------------------------------------------
def _scale_bits(lowbit: LowBit | None) -> int:
    if lowbit is None:
        return 0
    return int(lowbit.scale.size * 32 + np.count_nonzero(lowbit.zero_point) * lowbit.bits)


def _payload(st: _State, payload: Any, has_codes: bool) -> Any:
    """The stored values a format gathers from: the compact form when given, else the dense codes / values."""
    if payload is not None:
        return payload
    return st.codes if has_codes else st.values


def _kept_by_rows(st: _State) -> np.ndarray:
    """The values at the kept positions (row-major), without building the dense matrix of a quantized
    layer: its effective matrix is read a block of rows at a time."""
    if st.compact:
        return st.kept
    if st._values is not None or st.derived is None:
        return st.values[st.mask]
    # without the bool mask (``_packed_nm``) the effective matrix's packed one is read by rows
    count = int(np.count_nonzero(st.mask)) if st.mask is not None else st.derived.kept_count()
    return _gather_kept(st.derived.row_blocks(max(1, _BLOCK // max(st.shape[1], 1)), st.mask),
                        lambda r0, r1: st.derived.mask_rows(r0, r1, st.mask), count, st.dtype)


def _gather_kept(blocks, mask_rows, count: int, dtype) -> np.ndarray:
    """The kept entries (row-major) of the blocks of rows ``blocks`` yields as ``(r0, rows)``, kept where
    ``mask_rows(r0, r1)`` is True: ``count`` of them, in ``dtype``."""
    out = np.empty(count, dtype)
    pos = 0
    for r0, rows in blocks:
        kept = rows[mask_rows(r0, r0 + rows.shape[0])]
        out[pos:pos + kept.size] = kept
        pos += kept.size
    return out


def _resolved_format(st: _State) -> str:
    """The stored format's name (``auto``: nm after N:M pruning, csr when sparse, else dense)."""
    fmt = st.encode["format"]
    if fmt == "auto":
        fmt = "nm" if st.nm is not None else ("csr" if st.sparse else "dense")
    return fmt


def _packed_quantized(st: _State) -> bool:
    """A pruned, then quantized layer (no codebook) whose effective matrix already holds the mask packed:
    its stored format can be laid out from the packed mask, the bool mask dropped before the build."""
    return (st.mask is not None and st.kept_codes is None and st._codes is None and st._values is None
            and st.derived is not None and st.derived.packed_mask is not None)


def _packed_nm(st: _State) -> bool:
    """A :func:`_packed_quantized` layer stored as N:M: the N:M layout reads the packed mask."""
    return st.nm is not None and _packed_quantized(st) and _resolved_format(st) == "nm"


def _stores_codes(st: _State) -> bool:
    """Whether the layer's quantizer codes can be its stored values: a uniform (per-row or per-tensor)
    quantizer or an integer / float format with per-block scales over the whole 2-D layer, stored at its
    own bits (no ``value_bits`` given)."""
    if st.encode["value_bits"] is not None or len(st.shape) != 2:
        return False
    q = st.quant if st.quant is not None else st.lowbit
    return isinstance(q, (LowBit, F.GroupQuant)) and tuple(q.shape) == tuple(st.shape)


def _codes_nm(st: _State) -> bool:
    """A :func:`_packed_nm` layer whose codes are stored as they are (:func:`_stores_codes`): its N:M tensor
    holds the kept codes with the quantizer's scales (:func:`_codes_nm_layer`) and becomes the effective
    matrix's source, so no dense codes are kept."""
    return _packed_nm(st) and _stores_codes(st)


@dataclass(frozen=True, eq=False)
class _QuantizerFacts:
    """What a finished layer still reads of a uniform quantizer whose codes went into its stored tensor:
    element type and scale bits (:func:`_quant_ops`, :func:`_scale_bits`), without the dense codes."""

    bits: int
    signed: bool
    scale: np.ndarray
    zero_point: np.ndarray

    @classmethod
    def of(cls, lb: LowBit) -> "_QuantizerFacts":
        return cls(lb.bits, lb.signed, lb.scale, lb.zero_point)


def _codes_nm_layer(st: _State, where: str) -> CompressedTensor:
    """The N:M tensor of a :func:`_codes_nm` layer (:func:`_codes_layer`)."""
    return _codes_layer(st, where, lambda kept, meta, decode: NM(
        kept, st.nm[0], st.nm[1], value_bits=st.value_bits or BASE_BITS, metadata_bits=meta, decode=decode))


def _codes_csr(st: _State) -> bool:
    """A :func:`_packed_quantized` layer (not N:M) stored as CSR or CSC with a given index width (or absolute
    indices; ``auto`` scans the bool mask), its codes as they are (:func:`_stores_codes`): the tensor holds the
    kept codes with the quantizer's scales (:func:`_codes_layer`), as :func:`_codes_nm` does."""
    return (st.nm is None and _packed_quantized(st) and st.encode["index_bits"] != "auto"
            and _resolved_format(st) in ("csr", "csc") and _stores_codes(st))


def _codes_csr_layer(st: _State, where: str) -> CompressedTensor:
    """The CSR / CSC tensor of a :func:`_codes_csr` layer (:func:`_codes_layer`)."""
    e = st.encode
    ib = e["index_bits"]
    relative = e["relative"] if e["relative"] is not None else ib is not None
    fmt = CSR if _resolved_format(st) == "csr" else CSC
    tensor = _codes_layer(st, where, lambda kept, meta, decode: fmt(
        kept, index_bits=ib, value_bits=st.value_bits or BASE_BITS, pointer_bits=e["pointer_bits"],
        relative=relative, metadata_bits=meta, decode=decode))
    _check_pointer_bits(_unwrap(tensor), e, where)
    return tensor


def _check_pointer_bits(tensor: Any, encode: Mapping[str, Any], where: str) -> None:
    """Refuse an ``encode.pointer_bits`` the recipe gave that cannot hold the layer's pointers (its bits would be
    undercounted): CSR / CSC, the largest pointer (a library's row / column starts); EIE's interleaved CSC, the
    most entries one column holds in one PE (its PEs read a column's span as the difference of two pointers
    of the given width, EIE's 16 bits, whatever the PE's total: VGG-6 at 64 PEs holds 100,939 entries in one PE).
    A width left to the format is always enough."""
    bits = encode.get("pointer_bits")
    if bits is None or not getattr(tensor, "pointer_overflow", False):
        return
    if getattr(tensor, "kind", "") == "interleaved_csc":
        span = int(np.diff(tensor.pe_ptr, axis=1).max(initial=0))
        if span < (1 << int(bits)):
            return
        raise ConfigError(f"{where}: pointer_bits={bits} cannot hold a column's {span:,} entries in one PE (need "
                          f"{span.bit_length()}); raise pointer_bits or leave it out")
    need = max(1, int(tensor.max_pointer).bit_length())
    raise ConfigError(f"{where}: pointer_bits={bits} cannot hold the largest pointer, {int(tensor.max_pointer):,} "
                      f"(need {need}); raise pointer_bits or leave it out (the fewest bits that hold it)")


def _codes_layer(st: _State, where: str, build) -> CompressedTensor:
    """The stored tensor of a pruned, then quantized layer holding its kept codes (:func:`_codes_nm`,
    :func:`_codes_csr`): the kept codes, read a block of rows at a time from the dense codes and the packed
    mask, laid out by ``build(kept, metadata_bits, decoder)`` with the quantizer's decoder
    (:class:`RowScaleDecode`, :class:`formats.GroupDecode`). The dense codes are dropped before the layout
    (only the scales are kept), and the effective matrix becomes a :class:`DequantMatrix` over the stored
    tensor with the same packed mask: ``to_dense`` of both is the quantizer's values at the kept positions,
    as before."""
    q, old = (st.quant if st.quant is not None else st.lowbit), st.derived
    codes = q.codes if st.quant is not None else q.values_int
    holder = DequantMatrix(None, old.dtype, shape=old.shape)
    holder.packed_mask = old.packed_mask
    n, k = holder.shape
    step = max(1, _BLOCK // max(k, 1))
    kept = _gather_kept(((r0, codes[r0:r0 + step]) for r0 in range(0, n, step)), holder.mask_rows, holder.kept_count(),
                        codes.dtype)
    if st.quant is not None:  # what the statistics and the quant ops read stays: the spec and the scales
        meta, decode = q.metadata_bits(), q.decoder(st.dtype)
        st.quant = decode
    else:
        meta, decode = _scale_bits(q), RowScaleDecode(q.scale, q.zero_point, st.dtype)
        st.lowbit = _QuantizerFacts.of(q)
    st.derived = holder
    del q, old, codes  # the dense codes go before the layout is built
    try:
        tensor = build(Scattered.from_packed(holder, kept), meta, decode)
    except CompressionError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if isinstance(decode, F.GroupDecode):
        tensor.quant_spec = decode.spec  # the stored values are these codes (e.g. 2:4 + int4, Sparse-MARLIN)
    holder.tensor = tensor
    return tensor


def _packed_csr(st: _State) -> bool:
    """A pruned layer in the compact form (plain kept values: no codes, no quantizer) stored as CSR with a
    given index width: laid out from its packed mask (:func:`_finish_layer`)."""
    e = st.encode
    return (st.compact and st.mask is not None and st.kept_codes is None and st.quant is None and st.lowbit is None
            and e["index_bits"] != "auto" and _resolved_format(st) == "csr")


#: the narrowest width an ``encode.value_bits`` may give values no quantizing step made narrower (fp16 / bf16)
_MIN_FLOAT_VALUE_BITS = 16


def _check_value_bits(st: _State, where: str) -> None:
    """Refuse an ``encode.value_bits`` narrower than the values it stores: the width of the earlier step's
    codes (quantize / share / binarize / ternarize), or, where no step quantized the layer, 16 bits (its
    values are floats: fewer bits would be counted for values the effective matrix keeps at full precision)."""
    vb = st.encode["value_bits"]
    if vb is None:
        return
    if st.value_bits is not None and vb < st.value_bits:
        raise ConfigError(f"{where}: value_bits {vb} is narrower than the {st.value_bits}-bit values the earlier "
                          f"steps store; give at least {st.value_bits} (or omit value_bits)")
    if st.value_bits is None and vb < _MIN_FLOAT_VALUE_BITS:
        raise ConfigError(f"{where}: value_bits {vb} would store unquantized float weights in fewer than "
                          f"{_MIN_FLOAT_VALUE_BITS} bits; quantize (or share) them first to store them narrower")


def _build_format(st: _State, where: str, packed: Any = None) -> CompressedTensor:
    e = st.encode
    # ``packed``: the effective matrix holding the layer's mask packed, the bool mask dropped (``_packed_csr``,
    # whose format it resolved to csr before the mask went, and ``_packed_nm``)
    fmt = "csr" if packed is not None and st.compact else _resolved_format(st)
    has_codes = st.kept_codes is not None or st._codes is not None
    sparse_format = fmt in ("csr", "csc", "interleaved_csc", "bitmask")
    _check_value_bits(st, where)
    if packed is not None:  # the kept values, with the packed mask read by rows
        payload: Any = Scattered.from_packed(packed, packed.kept_reference() if st.compact else _kept_by_rows(st))
    elif st.compact and sparse_format:
        # the stored values are gathered from the compact form (no dense matrix of the layer)
        payload = Scattered(st.mask, st.kept_codes if st.kept_codes is not None else st.kept)
    elif not has_codes and st.mask is not None and (fmt == "nm" or (sparse_format and st._values is None
                                                                     and st.derived is not None)):
        # N:M, or a pruned, then quantized layer: the kept values, read a block of rows at a time
        payload = Scattered(st.mask, _kept_by_rows(st))
    else:  # read only by the formats that store values (a quantized layer stored as its codes never builds them)
        payload = None
    vbits = st.code_bits if has_codes else (e["value_bits"] or st.value_bits or BASE_BITS)
    if not has_codes and e["value_bits"] is not None:
        vbits = e["value_bits"]
    mask = None if packed is not None or fmt == "dense" else (st.mask if st.mask is not None else np.ones(st.shape, bool))
    meta = st.quant.metadata_bits() if st.quant is not None and e["value_bits"] is None else _scale_bits(st.lowbit)
    try:
        if fmt == "dense":
            if st.quant is not None and e["value_bits"] is None:
                return st.quant
            if has_codes:
                if st.sparse:
                    raise ConfigError(f"{where}: a pruned codebook layer needs a sparse format (csr, csc, bitmask, ...)")
                inner = None
            elif st.lowbit is not None and e["value_bits"] is None:
                return st.lowbit
            else:
                return Dense(st.values, vbits)
        elif fmt in ("csr", "csc", "interleaved_csc"):
            ib = e["index_bits"]
            if ib == "auto":
                if fmt == "interleaved_csc" and e["n_pe"] > 1:
                    raise ConfigError(f"{where}: index_bits 'auto' supports csr / csc, not interleaved_csc with n_pe > 1")
                ib = _best_index_bits(st, "csr" if fmt == "csr" else "csc", vbits)
                relative = True
            else:
                relative = e["relative"] if e["relative"] is not None else ib is not None
            if fmt == "csr":
                inner = CSR(_payload(st, payload, has_codes), index_bits=ib, value_bits=vbits, pointer_bits=e["pointer_bits"], relative=relative,
                            mask=mask, metadata_bits=meta)
            elif fmt == "csc":
                inner = CSC(_payload(st, payload, has_codes), index_bits=ib, value_bits=vbits, pointer_bits=e["pointer_bits"], relative=relative,
                            mask=mask, metadata_bits=meta)
            else:
                inner = InterleavedCSC(_payload(st, payload, has_codes), n_pe=e["n_pe"], index_bits=ib, value_bits=vbits,
                                       pointer_bits=e["pointer_bits"] if e["pointer_bits"] is not None else 16,
                                       relative=relative, mask=mask, metadata_bits=meta)
        elif fmt == "bitmask":
            inner = Bitmask(_payload(st, payload, has_codes), value_bits=vbits, mask=mask, metadata_bits=meta)
        else:  # nm
            if st.nm is None:
                raise ConfigError(f"{where}: format 'nm' needs an N:M prune step before it")
            inner = NM(_payload(st, payload, has_codes), st.nm[0], st.nm[1], value_bits=vbits, mask=mask, metadata_bits=meta)
    except CompressionError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    _check_pointer_bits(inner, e, where)
    if st.quant is not None and e["value_bits"] is None and inner is not None:
        inner.quant_spec = st.quant.spec  # the stored values are these codes (e.g. 2:4 + int4, Sparse-MARLIN)
    if has_codes:
        return Codebook(st.codes if inner is None else inner, st.table, index_bits=st.code_bits, table_bits=st.table_bits)
    return inner


def _huffman(tensor: CompressedTensor, streams: list[str], where: str) -> CompressedTensor:
    out = {}
    for s in streams:
        try:
            symbols = tensor.payload_symbols() if s == "payload" else tensor.index_symbols()
        except CompressionError:
            continue  # e.g. a dense tensor has no index stream
        out[s] = HuffmanCode.from_symbols(symbols)
    if not out:
        raise ConfigError(f"{where}: nothing to Huffman-code in a {tensor.kind} tensor")
    return HuffmanCoded(tensor, out)


# --- compress -------------------------------------------------------------------------------------
def _ensure_weights(graph: LayerGraph, seed: int) -> LayerGraph:
    missing = [layer.name for layer in graph.layers if layer.has_weights and layer.name not in graph.weights]
    if not missing:
        return graph.copy()
    from accelsim.workload.weights import synthesize_weights

    return synthesize_weights(graph, seed=seed, layers=missing)


def _check_finite(graph: LayerGraph, recipe: Recipe) -> None:
    for name, w in graph.weights.items():
        flat = np.ravel(w)  # a block at a time: no full-size bool array
        if np.issubdtype(flat.dtype, np.floating) and not all(
                np.all(np.isfinite(flat[s:s + _BLOCK])) for s in range(0, flat.size, _BLOCK)):
            raise ConfigError(f"{recipe.path}: weights of layer '{name}' contain NaN or infinite values")


def _statistics_route(graph: LayerGraph, recipe: Recipe, statistics: bool | None) -> CompressedGraph | None:
    """The statistics path (:mod:`accelsim.compress.statistics`) when asked for (``statistics=True``) or, by
    default, when the weights to synthesize are over the budget (``check_weight_budget``) and no step needs
    values; None to take the real-array path. Over the budget with a value-dependent step: the budget's
    one-line refusal, naming that step."""
    if statistics is False:
        return None
    from accelsim.compress import statistics as S
    from accelsim.errors import WorkloadError
    from accelsim.workload.weights import check_weight_budget

    if statistics is None:
        missing = [layer for layer in graph.layers if layer.has_weights and layer.name not in graph.weights]
        if graph.weights or not missing:
            return None
        try:
            check_weight_budget(graph, missing)
            return None
        except WorkloadError as exc:
            over = exc
    else:
        over = None
    plans = _plans(recipe, graph)
    reason = S.value_dependence(plans, graph_steps=any(s.op in GRAPH_OPS for s in recipe.pipeline))
    if reason is not None:
        if over is not None:
            raise WorkloadError(f"{over}; the statistics path (shapes and formats only) cannot run {reason}") from None
        raise ConfigError(f"{recipe.path}: statistics=True needs a recipe whose stored format does not depend on the "
                          f"weight values; got {reason}")
    return _compress_statistics(graph, recipe, plans)


def _compress_statistics(graph: LayerGraph, recipe: Recipe, plans: Mapping[str, list]) -> CompressedGraph:
    """``recipe`` (a loaded Recipe whose ``plans`` passed :func:`value_dependence`) applied to the shapes of
    ``graph`` (not modified; its weights, if any, are not read). The result's ``stats`` hold the totals
    (:func:`accelsim.compress.recipe.summarize`) and ``statistics: True``."""
    import sys

    from accelsim.compress import statistics as S

    R = sys.modules[__name__]  # the helpers the statistics path shares with the real-array path
    R._warn_if_nothing_selected(recipe, graph, plans)
    g = R.apply_kv_format(graph.copy(), recipe.kv, recipe.path)
    layers: dict[str, CompressedLayer] = {}
    layer_names = {layer.name for layer in g.layers}
    dense_params = {layer.name: int(math.prod(layer.weight_matrix_shape)) for layer in g.layers if layer.has_weights}
    dense_macs = {layer.name: layer.macs for layer in g.layers if layer.has_weights}
    for layer in g.compute_layers():
        name = layer.name
        if name in plans:
            layers[name] = S.layer_from_plan(recipe, layer, plans[name], [], R)
            continue
        if layer.has_weights and layer.weight_matrix_shape is not None and name in dense_params:
            t = S.DenseStats(layer.weight_matrix_shape)
            stats = S.layer_stats(layer, t, None, None)
            stats["transforms"] = []
            layers[name] = CompressedLayer(layer=layer, weight=t, weight_matrix=None, stats=stats,
                                           activation_density=g.input_density(name))
            continue
        cl = CompressedLayer.dense(layer)
        if not layer.has_weights and layer.gemm(1) is not None:
            cl = R.weightless_activations(recipe, name, layer, layer_names, activation_density=g.input_density(name)) or cl
        layers[name] = cl
    R._fuse_requantize(g, layers)
    # the recipe record says how it was applied (results carry it: "statistics": shapes and formats, no values)
    cg = CompressedGraph(g, layers, recipe={**recipe.to_dict(), "statistics": True}, kv_format=recipe.kv)
    cg.stats = R.summarize(cg, dense_params, dense_macs, graph.name)
    cg.stats.update(statistics=True, mse=None)  # no values: no quantization error
    return cg


def apply_kv_format(graph: LayerGraph, kvf: F.KVFormat | None, where: str = "") -> LayerGraph:
    """``graph`` (modified in place and returned) with the KV format's stored bits per cached element, scales
    and zero points included (:meth:`KVFormat.bits_per_element`), on the layers that write or read the cache:
    ``kv_append`` (``bits`` = the element width, ``kv_bits`` = with scales; keys / latents as keys, values as
    values), attention ``matmul`` layers whose second input is a ``*.k_cache`` / ``*.v_cache`` (or ``k_cache`` / ``v_cache``) graph input, and
    fused ``attention`` reading a cache (the mean of the key and value widths; an MLA latent: the key width).
    Groups: ``group_size``, else one head's ``head_dim`` channels of a token (per token) or the cache's tokens
    of a channel (per channel). A Hugging Face encoder keeps no cache: a KV format on it is a one-line
    ConfigError. ``graph.metadata['hf']['kv_cache']`` gains the format and its bytes."""
    if kvf is None:
        return graph
    from accelsim.workload.layers import Attention, KVAppend, MatMul

    hf = graph.metadata.get("hf") if isinstance(graph.metadata, dict) else None
    if hf is not None and "kv_cache" not in hf:
        raise ConfigError(f"{where or 'recipe'}: kv format {kvf.format} applies to a decoder's KV cache; workload "
                          f"'{graph.name}' ({hf.get('model_type')}) is an encoder and keeps none")
    facts = (hf or {}).get("kv_cache") or {}
    inputs = {layer.name: layer for layer in graph.layers if isinstance(layer, Input)}

    def width(role: str, tokens: int, channels: int) -> float:
        return float(kvf.bits_per_element(role, max(int(tokens), 1), max(int(channels), 1)))

    touched = 0
    for layer in list(graph.layers):
        new = None
        if isinstance(layer, KVAppend):
            if layer.bits != 16:
                raise ConfigError(f"{where or 'recipe'}: layer '{layer.name}' already stores {layer.bits}-bit KV "
                                  f"elements (kv_bits given to the workload); give kv_bits or a recipe kv format, not both")
            head = facts.get("head_dim") or layer.input_shape[-1]
            role = "value" if layer.kind == "v" else "key"
            new = dataclasses.replace(layer, bits=kvf.bits, kv_bits=width(role, layer.cache_tokens, head))
        elif isinstance(layer, Attention):
            k_in, v_in = graph.inputs_of(layer.name)[1:3]
            if k_in in inputs:
                tokens, head = layer.kv_len, facts.get("head_dim") or layer.head_dim
                bits = width("key", tokens, head)
                if not k_in.endswith("latent_cache"):
                    bits = (bits + width("value", tokens, head)) / 2
                new = dataclasses.replace(layer, kv_bits=bits)
        elif isinstance(layer, MatMul):
            src = graph.inputs_of(layer.name)[1]
            if src in inputs and (src.endswith((".k_cache", ".v_cache")) or src in ("k_cache", "v_cache")):
                shape = inputs[src].shape  # keys ([B,] kv_heads, d, L), values ([B,] kv_heads, L, d)
                key = src.endswith("k_cache")
                tokens, head = (shape[-1], shape[-2]) if key else (shape[-2], shape[-1])
                new = dataclasses.replace(layer, kv_bits=width("key" if key else "value", tokens, head))
        if new is not None:
            graph.replace_layer(layer.name, new)
            touched += 1
    if not touched and not facts:
        raise ConfigError(f"{where or 'recipe'}: kv format {kvf.format} applies to a KV cache; workload "
                          f"'{graph.name}' has none (no kv_append layer and no attention reading a *.k_cache / "
                          "*.v_cache input: an encoder, a CNN, or a decoder built without its cache)")
    if facts:
        per = facts["elements_per_token_per_block"]
        kb = width("key", facts["tokens"], facts.get("head_dim") or per)
        vb = kb if facts.get("layout") == "mla-latent" else width("value", facts["tokens"], facts.get("head_dim") or per)
        bpe = (kb + vb) / 2
        batch = hf.get("batch", 1)
        kv = {**facts, "format": kvf.format, "bits": kvf.bits, "bits_per_element": bpe,
              "bytes": math.ceil(batch * facts.get("token_blocks", facts["tokens"] * facts["blocks"]) * per * bpe / 8)}
        graph.metadata = {**graph.metadata, "hf": {**hf, "kv_cache": kv}}  # the source graph's metadata untouched
    return graph


def _plan_params(steps: list[Step], op: str) -> dict[str, Any] | None:
    return next((s.params for s in steps if s.op == op), None)


def _streamed(recipe: Recipe, plans: Mapping[str, list[Step]]) -> bool:
    """True when the weight steps can run layer by layer: no magnitude prune with global scope (one
    threshold over every selected layer needs all their scores at once)."""
    for n, steps in plans.items():
        p = _plan_params(steps, "prune")
        if p is not None and p.get("scope") == "global" and p.get("method") == "magnitude":
            return False
    return True


def _global_stream_step(recipe: Recipe, plans: Mapping[str, list[Step]]) -> int | None:
    """The pipeline index of a magnitude prune with global scope that can still run layer by layer (its
    threshold found first by :func:`prune.global_magnitude_plan` over the layers' weights as they are): the
    recipe's one prune step, and in every layer it prunes globally no step before it changes the values
    and no SmoothQuant folding; else None (the step-by-step path over all layers)."""
    prunes = [i for i, st in enumerate(recipe.pipeline) if st.op == "prune"]
    if len(prunes) != 1:
        return None
    for steps in plans.values():
        p = _plan_params(steps, "prune")
        if p is None or p.get("scope") != "global" or p.get("method") != "magnitude":
            continue
        act = _plan_params(steps, "activations")
        if act is not None and act.get("smooth_alpha") is not None:
            return None
        for step in steps:
            if step.op == "prune":
                break
            if step.op in ("quantize", "binarize", "ternarize", "share"):
                return None
    return prunes[0]


def _has_deployed(graph: LayerGraph, layer) -> bool:
    """Whether a layer without float weights holds a deployed quantized weight (a checkpoint's packed layer, an
    importer's ``metadata["quantization"]`` entry with its codes): its values are those codes dequantized."""
    q = (graph.metadata.get("quantization") or {}).get(layer.name)
    return bool(q) and deployed_codes_fit(q, layer)


def _deployed_matrix(graph: LayerGraph, name: str) -> np.ndarray:
    """A packed layer's weight matrix, dequantized from its stored codes and scales (float32, built per layer)."""
    layer = graph.layer(name)
    tensor = deployed_tensor(graph.metadata["quantization"][name], layer)[0]
    return np.asarray(tensor.to_dense(), np.float32).reshape(layer.weight_matrix_shape)


def _synthesize(layer, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """One layer's synthetic weight and bias, as ``synthesize_weights(seed=seed)`` draws them."""
    from accelsim.workload.weights import synthesize_layer

    return synthesize_layer(layer, seed)


def _apply_step(g: LayerGraph, recipe: Recipe, idx: int, base: Step, st: _State, p: Mapping[str, Any], seed: int,
                global_mask: np.ndarray | None) -> None:
    """Weight step ``recipe.pipeline[idx]`` (parameters ``p``) applied to one layer's state."""
    n = st.name
    where = f"{recipe.path}: pipeline[{idx}].{base.op} on layer '{n}'"
    rng = _rng(seed, recipe.seed, n, idx)
    try:
        if base.op == "prune":
            _apply_prune(st, p, rng, global_mask)
        elif base.op == "share" and st.compact:  # compact in, compact out: the error over the kept values
            before = st.kept
            _apply_share(st, p, rng)
            st.quant_error = _kept_error_stats(before, st.kept, int(np.prod(st.shape)))
        elif base.op in ("quantize", "binarize", "ternarize", "share"):
            before = _row_reader(st, p) if base.op == "quantize" else None
            if before is None:
                before = st.values
            if base.op == "quantize":
                order = None
                if p.get("act_order"):
                    order, src = _act_order(g.layer(n), g.activation_samples.get(n), st.values)
                    st.transforms.append(f"act-order({src})")
                _apply_quantize(st, p, order)
            elif base.op == "share":
                _apply_share(st, p, rng)
            else:
                _apply_binarize(st, p, ternary=base.op == "ternarize")
            if st.derived is not None:  # quantized: the error a block of rows at a time
                st.quant_error = _lazy_error_stats(before, st.derived, st.mask)
            else:
                st.quant_error = _error_stats(before, st.values)
            del before
        elif base.op == "activations":
            st.activation_bits = p["bits"]
            if _legacy_activations(p):
                st.transforms.append(f"activations:int{p['bits']}")
            else:
                st.act_format = _activation_format(p)
                st.transforms.append(f"activations:{st.act_format.label}")
        elif base.op == "encode":
            st.encode = dict(p)
        elif base.op == "huffman":
            st.huffman = list(p["streams"])
    except CompressionError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _finish_layer(g: LayerGraph, layer, st: _State, recipe: Recipe, graph_notes: Mapping[str, list[str]],
                  dense_params: Mapping[str, int], synthesized: bool) -> CompressedLayer:
    """The stored format, statistics and :class:`CompressedLayer` of one layer's final state. A layer
    still in the compact form keeps its effective matrix as a :class:`MaskedMatrix` (packed mask +
    kept values), built densely only when read."""
    name = layer.name
    at = next((i for i, step in enumerate(recipe.pipeline) if step.op == "encode"), None)
    where = f"{recipe.path}: {f'pipeline[{at}].encode' if at is not None else 'encode'} of layer '{name}'"
    matrix: Any = None
    if _packed_csr(st):
        # a pruned layer stored as CSR: its effective matrix (the mask packed to bits) is made first and the
        # bool mask dropped, so the layout reads the packed mask a block of rows at a time
        matrix, st.mask = _masked_matrix(st), None
        tensor = _build_format(st, where, packed=matrix)
    elif _packed_nm(st):  # the same for N:M: the quantized effective matrix holds the mask packed already
        codes = _codes_nm(st)
        st.mask = None
        tensor = _codes_nm_layer(st, where) if codes else _build_format(st, where, packed=st.derived)
    elif _codes_csr(st):  # CSR / CSC of the kept codes, laid out from the packed mask
        st.mask = None
        tensor = _codes_csr_layer(st, where)
    else:
        tensor = _build_format(st, where)
    if st.huffman:
        tensor = _huffman(tensor, st.huffman, where)
        st.transforms.append("huffman:" + "+".join(tensor.streams))
    if not isinstance(_unwrap(tensor), Dense):
        st.transforms.insert(len(st.transforms) - (1 if st.huffman else 0), f"encode:{_format_label(tensor)}")
    transforms = tuple(graph_notes.get(name, []) + st.transforms)
    if matrix is None:  # else made before the build (a packed CSR layout)
        matrix = _effective_matrix(st)
    sample = g.activation_samples.get(name)
    act_err = None
    if st.act_format is not None and sample is not None:
        qa = _quantize_sample(layer, sample, st.act_format, st.smooth)
        act_err = Q.sqnr_db(sample, qa)
        sample = qa
    elif st.activation_bits is not None and sample is not None:
        qa = Q.quantize_activations(sample, st.activation_bits).to_dense()
        act_err = Q.sqnr_db(sample, qa)
        sample = qa
    stats = _layer_stats(layer, st.original, matrix, tensor, st, dense_params.get(name), synthesized=synthesized)
    stats["transforms"] = list(transforms)
    if act_err is not None:
        stats["activation_sqnr_db"] = act_err
    if st.quant is not None:
        spec = st.quant.spec
        stats.update(weight_format=spec.name, element_format=spec.element, scale_format=spec.scale,
                     group_size=spec.group_size, bits_per_element=tensor.storage_bits().total / max(matrix.size, 1))
    if st.act_format is not None:
        stats["activation_format"] = st.act_format.label
    cb = tensor.codebook_size if isinstance(_unwrap(tensor), Codebook) else None
    return CompressedLayer(
        layer=layer, weight=tensor, weight_matrix=matrix, weight_bits=st.weight_bits,
        activation_bits=st.activation_bits, activation_density=g.input_density(name), activation_sample=sample,
        nm=st.nm, codebook_size=cb, transforms=transforms, stats=stats, activation_format=st.act_format,
        activation_smooth=st.smooth if st.act_format is not None else None,
        quant_ops=_quant_ops(layer, st))


def _masked_matrix(st: _State) -> MaskedMatrix:
    """A compact layer's :class:`MaskedMatrix`: its kept values, or, while they are the unmodified weights held by
    reference (pruning only), the weights themselves (no gathered copy)."""
    if st._kept is None and st._kept_from is not None:
        return MaskedMatrix(st.mask, source=st._kept_from)
    return MaskedMatrix(st.mask, st.kept)


def _effective_matrix(st: _State) -> Any:
    """The layer's effective matrix as it is kept: compact (:class:`MaskedMatrix`, :class:`DequantMatrix`)
    where the state is, else dense."""
    if st.compact:  # codes + table when shared (st.kept is table[codes] in the values' type), else the values
        return (MaskedMatrix(st.mask, st.kept_codes, table=st.table, dtype=st.dtype) if st.kept_codes is not None
                and st.table is not None and st.table.ndim == 1 else _masked_matrix(st))
    if st.derived is not None:
        st._values = None  # a copy made for a step that read the values is not kept
        if st.smooth is not None:  # the effective weights in the original basis: X @ W'^T with X / s
            return ColumnScaledMatrix(st.derived, st.smooth)
        return st.derived
    if st.smooth is not None:
        return (st.values / st.smooth[None, :]).astype(st.values.dtype)
    return st.values


@api_arguments
def compress(graph: LayerGraph, recipe: Any, seed: int = 0, statistics: bool | None = None) -> CompressedGraph:
    """Apply ``recipe`` to ``graph`` (not modified) and return the :class:`CompressedGraph`.

    Layers without weights attached get synthesized weights (``synthesize_weights(seed=seed)``).
    The result's ``stats`` hold the totals (see :func:`summarize`). ``statistics``: True compresses shapes
    only (:mod:`accelsim.compress.statistics`: exact stored formats without values; a recipe whose format
    depends on the values is refused); None (default) does so only when a graph without attached weights is
    too large to synthesize (``ACCELSIM_MAX_GRAPH_WEIGHTS``, e.g. a 7B LLM config); False never. ``graph`` may
    also be a workload name or file (:func:`accelsim.workload.zoo.load_workload`).
    """
    if isinstance(graph, (str, Path)):
        from accelsim.workload.zoo import load_workload

        graph = load_workload(graph)
    elif not isinstance(graph, LayerGraph):
        raise ConfigError(f"compress: graph must be a LayerGraph or a workload name or file; got {graph!r}"[:300])
    recipe = load_recipe(recipe)
    seed = check_seed(seed)
    if statistics is not None and not isinstance(statistics, bool):  # (1 == True: compared by type, not value)
        raise ConfigError(f"statistics must be None, True or False; got {statistics!r}")
    routed = _statistics_route(graph, recipe, statistics)
    if routed is not None:
        return routed
    original = graph
    # a checkpoint's packed layers (GPTQ, AWQ, compressed-tensors, FP8: metadata["quantization"]) are compressed from
    # their dequantized values, one layer at a time (:func:`_deployed_matrix`); only layers without either are drawn
    synthesized = {layer.name for layer in graph.layers if layer.has_weights and layer.name not in graph.weights
                   and not _has_deployed(graph, layer)}
    g = graph.copy()
    apply_kv_format(g, recipe.kv, recipe.path)
    _check_finite(g, recipe)
    plans = _plans(recipe, g)
    _warn_if_nothing_selected(recipe, g, plans)
    # missing weights are synthesized one layer at a time in the streamed loop below (the same draws:
    # each layer has its own generator), unless graph steps or a global prune need them all up front
    glob_step = None if _streamed(recipe, plans) else _global_stream_step(recipe, plans)
    stream_synthesis = ((_streamed(recipe, plans) or glob_step is not None)
                        and not any(s.op in GRAPH_OPS for s in recipe.pipeline))
    if synthesized:
        if stream_synthesis:
            from accelsim.workload.weights import check_weight_budget

            check_weight_budget(g, [layer for layer in g.layers if layer.name in synthesized])
        else:
            g = _ensure_weights(g, int(seed))
    dense_params = {layer.name: int(np.prod(layer.weight_matrix_shape)) for layer in g.layers if layer.has_weights}
    dense_macs = {layer.name: layer.macs for layer in g.layers if layer.has_weights}
    graph_notes: dict[str, list[str]] = {}
    before_graph_steps = dict(g.weights)

    # graph steps, in pipeline order
    for step in recipe.pipeline:
        if step.op not in GRAPH_OPS:
            continue
        targets = [n for n, steps in plans.items() if any(s.op == step.op for s in steps)]
        if not targets:
            continue
        per_layer = {n: next(s for s in plans[n] if s.op == step.op).params for n in targets}
        from accelsim.compress import structured

        where = f"{recipe.path}: pipeline[{recipe.pipeline.index(step)}].{step.op}"
        g, plans, notes = structured.apply_graph_step(g, step.op, per_layer, plans, where)
        for k, v in notes.items():
            graph_notes.setdefault(k, []).extend(v)
        _warn_if_skipped(recipe, where, step.op, targets, notes)

    # layers a graph step made or cut have no original of their shape: their error against it is not defined
    restructured = {n for n, w in g.weights.items() if before_graph_steps.get(n) is not w}
    del before_graph_steps
    # weight steps: layer by layer (streamed: one layer's working arrays alive at a time), or step by step
    # over all layers when a prune step has global scope (one threshold over every selected layer)
    steps = [(idx, base) for idx, base in enumerate(recipe.pipeline) if base.op not in GRAPH_OPS]
    streamed = _streamed(recipe, plans)
    glob_thr, glob_ties, glob_names = None, {}, set()
    if not streamed and glob_step is not None:
        glob = [n for n in plans if (lambda p: p is not None and p["scope"] == "global" and p["method"] == "magnitude")(
            _plan_params(plans[n], "prune"))]

        def weights_of(n):
            if n in g.weights:
                return g.weight_matrix(n)
            if n not in synthesized:
                return _deployed_matrix(g, n)
            return _synthesize(g.layer(n), int(seed))[0]  # drawn again, as the streamed loop draws it

        if all(n not in g.weights or g.weights[n].dtype == np.float32 for n in glob):
            try:
                glob_thr, glob_ties = P.global_magnitude_plan(lambda: ((n, weights_of(n)) for n in glob),
                                                              _sparsity(recipe.pipeline[glob_step].params))
            except CompressionError as exc:
                raise ConfigError(f"{recipe.path}: pipeline[{glob_step}].prune: {exc}") from None
            glob_names, streamed = set(glob), True
    if not streamed and stream_synthesis and synthesized:  # not streamed after all (weights not float32)
        g = _ensure_weights(g, int(seed))
    states: dict[str, _State] = {}
    if not streamed:
        for n in plans:  # every layer's values at once: a packed one's dequantized
            if n not in g.weights and n not in synthesized:
                g.weights[n] = _deployed_matrix(g, n)
        states = {n: _State(n, g.weight_matrix(n)) for n in plans}
        _apply_smoothing(g, plans, states)
        for idx, base in steps:
            names = [n for n in plans if any(s.op == base.op for s in plans[n])]
            params = {n: next(s for s in plans[n] if s.op == base.op).params for n in names}
            global_masks: dict[str, np.ndarray] = {}
            if base.op == "prune":
                glob = [n for n in names if params[n]["scope"] == "global" and params[n]["method"] == "magnitude"]
                if glob:
                    scores = {n: (np.abs(states[n].values) if states[n].mask is None
                                  else np.where(states[n].mask, np.abs(states[n].values), -1.0)) for n in glob}
                    global_masks = P.global_magnitude_masks(scores, _sparsity(base.params))
                    del scores
            for n in names:
                _apply_step(g, recipe, idx, base, states[n], params[n], seed, global_masks.get(n))

    layers: dict[str, CompressedLayer] = {}
    layer_names = {layer.name for layer in original.layers} | {layer.name for layer in g.layers}
    for layer in g.compute_layers():
        name = layer.name
        if name not in plans:
            if layer.has_weights and name not in g.weights and name in synthesized:  # a layer left dense keeps them
                w, bias = _synthesize(layer, int(seed))
                g.weights[name] = w
                if bias is not None:
                    g.biases[name] = bias
            cl = CompressedLayer.dense(layer, g)
            if layer.has_weights and name in g.weights:
                m = g.weight_matrix(name)
                stats = _layer_stats(layer, m, m, Dense(m, BASE_BITS), None, dense_params.get(name))
                stats["transforms"] = graph_notes.get(name, [])
                cl = CompressedLayer(layer=layer, weight=Dense(m, BASE_BITS), weight_matrix=m,
                                     activation_density=cl.activation_density, activation_sample=cl.activation_sample,
                                     transforms=tuple(graph_notes.get(name, [])), stats=stats)
            elif not layer.has_weights and layer.gemm(1) is not None:
                # activation x activation products (attention) run at the same precision
                cl = weightless_activations(recipe, name, layer, layer_names, activation_density=cl.activation_density,
                                            activation_sample=cl.activation_sample) or cl
            layers[name] = cl
            continue
        if streamed:
            held = name in g.weights
            if held:
                matrix = g.weight_matrix(name)
            elif name not in synthesized:  # a checkpoint's packed layer: its values, released with the layer's arrays
                matrix = _deployed_matrix(g, name)
            else:  # synthesized now, released with the layer's working arrays
                w, bias = _synthesize(layer, int(seed))
                matrix = w.reshape(layer.weight_matrix_shape)
                del w
                if bias is not None:
                    g.biases[name] = bias
            st = _State(name, matrix, held)
            del matrix
            _apply_smoothing(g, {name: plans[name]}, {name: st})
            for idx, base in steps:
                p = _plan_params(plans[name], base.op)
                if p is not None:
                    mask = None
                    if idx == glob_step and name in glob_names:  # its part of the global threshold
                        mask = P.threshold_mask(st.values, glob_thr, glob_ties.get(name, 0))
                    _apply_step(g, recipe, idx, base, st, p, seed, mask)
                    del mask
        else:
            st = states.pop(name)
        layers[name] = _finish_layer(g, layer, st, recipe, graph_notes, dense_params, name in synthesized)
        if name in restructured:  # (a weight step's own error stays in quant_mse / quant_sqnr_db)
            layers[name].stats.update(mse=None, sqnr_db=None)
        del st  # the layer's working arrays go before the next layer's are built
        # the compressed graph keeps each compressed layer's weights once, in its CompressedLayer
        # (weight / weight_matrix, compact for pruned layers): not a second effective copy in graph.weights
        g.weights.pop(name, None)
    _fuse_requantize(g, layers)
    cg = CompressedGraph(g, layers, recipe=recipe.to_dict(), kv_format=recipe.kv)
    cg.stats = summarize(cg, dense_params, dense_macs, original.name)
    return cg


# --- activation formats, smoothing and quantization operators -----------------------------------------
def _activation_format(p: Mapping[str, Any]) -> F.ActivationFormat:
    element = f"int{p['bits']}" if p["format"] == "int" else p["format"]
    return F.ActivationFormat(element, p["granularity"], bool(p["dynamic"]), 32, p["smooth_alpha"], p.get("group_size"))


def _apply_smoothing(g: LayerGraph, plans: Mapping[str, list[Step]], states: Mapping[str, _State]) -> None:
    """SmoothQuant (before every weight step): for Linear layers whose ``activations`` step sets
    ``smooth_alpha``, fold ``s_j = max|X_j|^a / max|W_j|^(1-a)`` into the weight columns. ``max|X_j|``
    comes from the layer's activation sample when its last axis is K, else every channel's maximum is
    taken as 1 (no calibration data: the factors then only equalize the weight columns)."""
    for n, steps in plans.items():
        act = next((s for s in steps if s.op == "activations"), None)
        alpha = None if act is None else act.params.get("smooth_alpha")
        if alpha is None:
            continue
        st = states[n]
        layer = g.layer(n)
        k = st.values.shape[1]
        if not isinstance(layer, Linear):
            st.transforms.append("smooth:skipped(not a linear layer)")
            continue
        sample = g.activation_samples.get(n)
        if sample is not None and np.asarray(sample).shape[-1] == k:
            amax, src = np.max(np.abs(np.asarray(sample, np.float64)).reshape(-1, k), axis=0), "sample"
        else:
            amax, src = np.ones(k), "unit"
        s = F.smoothing_factors(amax, st.values, float(alpha))
        st.smooth = s
        st._pending_smooth = s  # folded when the values are read (a quantizer by rows folds a block at a time)
        st.transforms.append(f"smooth(alpha={float(alpha):g}, {src} activation maxima)")


def _tokens_view(layer, sample: np.ndarray) -> tuple[np.ndarray, Any]:
    """The sample as ``(tokens, channels)`` (a conv's pixels are its tokens) and the inverse map."""
    a = np.asarray(sample, np.float64)
    if isinstance(layer, Conv2d) and a.ndim == 3:
        c = a.shape[0]
        return a.reshape(c, -1).T, lambda t: t.T.reshape(a.shape)
    return a.reshape(-1, a.shape[-1] if a.ndim else 1), lambda t: t.reshape(a.shape)


def _quantize_sample(layer, sample: np.ndarray, af: F.ActivationFormat, smooth: np.ndarray | None) -> np.ndarray:
    x, back = _tokens_view(layer, sample)
    use = smooth is not None and x.shape[1] == smooth.size
    q = af.quantize(x / smooth if use else x).to_dense()
    return back(q * smooth if use else q).astype(np.asarray(sample).dtype)


def _quant_ops(layer, st: _State) -> tuple[F.QuantOp, ...]:
    """The conversions a quantized layer implies: weight-only formats dequantize the weights on the
    fly (to fp16); quantized activations are quantized on input (fp16 -> the activation format) and
    the accumulators dequantized on output (int32 / fp32 -> fp16, per-channel weight scales and
    per-token activation scales); :func:`_fuse_requantize` turns chains into requantize epilogues."""
    if st.quant is not None:
        w_elem, w_scales = st.quant.spec.element, int(st.quant.scales.size)
    elif st.lowbit is not None:
        w_elem, w_scales = f"{'int' if st.lowbit.signed else 'uint'}{st.lowbit.bits}", int(st.lowbit.scale.size)
    else:
        w_elem, w_scales = None, 0
    return quant_ops_for(layer, w_elem, w_scales, st.act_format, st.activation_bits)


def quant_ops_for(layer, w_elem: str | None, w_scales: int, act_format, activation_bits: int | None) -> tuple[F.QuantOp, ...]:
    """The conversions around a layer from its weight element format and scale count (:func:`_quant_ops`'s
    rule; the statistics path and format-only layers have no arrays): weight-only formats dequantize the
    weights; quantized activations are quantized on input and the accumulators dequantized on output."""
    shape = layer.weight_matrix_shape
    gemm = layer.gemm(1)
    if shape is None or gemm is None:
        return ()
    n, k = shape
    af = act_format
    if af is None and activation_bits is not None and 2 <= activation_bits <= 8:
        af = F.ActivationFormat(f"int{activation_bits}")
    ops: list[F.QuantOp] = []
    if af is None:
        if w_elem is not None:
            ops.append(F.QuantOp("dequantize", "weight", n * k, w_elem, "fp16", scales=w_scales))
        return tuple(ops)
    tokens = int(gemm.m)
    ops.append(F.QuantOp("quantize", "input", int(layer.input_elements), "fp16", af.element,
                         scales=af.scales_for(tokens, k), dynamic=af.dynamic))
    acc = "int32" if af.element.startswith("int") else "fp32"
    ops.append(F.QuantOp("dequantize", "output", int(layer.output_elements), acc, "fp16",
                         scales=w_scales + af.scales_for(tokens, k)))
    return tuple(ops)


def _fuse_requantize(g: LayerGraph, layers: dict[str, CompressedLayer]) -> None:
    """A layer whose only consumers each read only it and quantize it statically to the same format
    stores its output requantized (int32 -> that format: one epilogue); those consumers drop their
    input quantize. (``CompressedLayer.replace`` keeps a compact effective matrix compact.)"""
    for name in list(layers):
        cl = layers[name]
        out = [op for op in cl.quant_ops if op.tensor == "output" and op.kind == "dequantize"]
        if not out or cl.activation_format is None and cl.activation_bits is None:
            continue
        succ = g.successors(name)
        fmts = []
        for s in succ:
            ops = layers[s].quant_ops if s in layers else ()
            q = [op for op in ops if op.kind == "quantize" and op.tensor == "input"]
            if not q or q[0].dynamic or g.inputs_of(s) != [name]:
                break
            fmts.append(q[0].to_format)
        else:
            if not succ or len(set(fmts)) != 1:
                continue
            req = F.QuantOp("requantize", "output", out[0].elements, out[0].from_format, fmts[0], scales=out[0].scales)
            layers[name] = cl.replace(quant_ops=tuple(req if op is out[0] else op for op in cl.quant_ops))
            for s in succ:
                layers[s] = layers[s].replace(
                    quant_ops=tuple(op for op in layers[s].quant_ops if not (op.kind == "quantize" and op.tensor == "input")))


def _activation_params(recipe: Recipe, name: str, names: Collection[str]) -> dict | None:
    """The ``activations`` step's parameters for a layer without weights, overrides applied; None when not applied.
    ``names``: the workload's layer names (a selector equal to one selects that layer only, see :func:`_matches`)."""
    step = next((s for s in recipe.pipeline if s.op == "activations"), None)
    if (step is None or not any(_matches(name, p, names) for p in recipe.layers)
            or any(_matches(name, p, names) for p in recipe.skip)):
        return None
    params = dict(step.params)
    for pattern, body in recipe.overrides:
        if _matches(name, pattern, names):
            if body.get("skip"):
                return None
            if "activations" in body:
                if body["activations"] is None:
                    return None
                params.update(body["activations"])
    return params


def weightless_activations(recipe: Recipe, name: str, layer, names: Collection[str], **fields) -> CompressedLayer | None:
    """The compressed form of an activation x activation product (attention scores / context) under the
    recipe's ``activations`` step: its bits and its format (an E4M3 recipe's products are FP8, not int8), or None.
    ``names``: the workload's layer names (selectors equal to one select that layer only)."""
    params = _activation_params(recipe, name, names)
    if params is None:
        return None
    fmt = _activation_format(params)
    return CompressedLayer(layer=layer, activation_bits=params["bits"], activation_format=fmt,
                           transforms=(f"activations:{fmt.label}",), **fields)


def _unwrap(t: CompressedTensor) -> CompressedTensor:
    return t.inner if isinstance(t, HuffmanCoded) else t


def _format_label(t: CompressedTensor) -> str:
    base = _unwrap(t)
    inner = base.inner if isinstance(base, Codebook) and base.inner is not None else base
    label = inner.kind
    if isinstance(inner, (InterleavedCSC, CSR)):
        label += f"-{'rel' if inner.relative else 'abs'}{inner.index_bits}"
        if isinstance(inner, InterleavedCSC) and inner.n_pe > 1:
            label += f"-pe{inner.n_pe}"
    return label


def _error_stats(original: np.ndarray, matrix: np.ndarray) -> dict[str, float | None]:
    """MSE and SQNR (dB) of the effective weights against the layer's weights before compression."""
    if original.shape != matrix.shape:
        return {"mse": None, "sqnr_db": None}
    m, ref = np.ravel(matrix), np.ravel(original)
    # the differences a block at a time (no layer-sized copy)
    sse = sum(_sum_sq(m[s:s + _BLOCK] - ref[s:s + _BLOCK]) for s in range(0, m.size, _BLOCK))
    return {"mse": sse / max(m.size, 1), "sqnr_db": _sqnr(_sum_sq(ref), sse)}


_BLOCK = 1 << 16  # elements per block of the streamed error statistics


def _sum_sq(x: np.ndarray) -> float:
    """Sum of squares of ``x`` (any float type), accumulated in float64 a block at a time (``einsum``: no
    BLAS threads, so the sum does not depend on their number)."""
    flat = np.ravel(x)
    total = 0.0
    for s in range(0, flat.size, _BLOCK):
        c = flat[s:s + _BLOCK].astype(np.float64)
        total += float(np.einsum("i,i->", c, c))
    return total


def _sqnr(signal: float, sse: float) -> float:
    return math.inf if sse == 0 else (10.0 * math.log10(signal / sse) if signal > 0 else -math.inf)


def _kept_error_stats(before: np.ndarray, after: np.ndarray, size: int) -> dict[str, float | None]:
    """:func:`_error_stats` of two matrices zero outside one mask, from their kept values (the
    differences are taken in the values' own type, the sums in float64)."""
    sse = _sum_sq(after - before)
    return {"mse": sse / max(size, 1), "sqnr_db": _sqnr(_sum_sq(before), sse)}


def _lazy_error_stats(before: np.ndarray, lazy: Any, mask: np.ndarray | None) -> dict[str, float | None]:
    """:func:`_error_stats` of a compact effective matrix against the dense ``before``, by row blocks."""
    if tuple(before.shape) != tuple(lazy.shape):
        return {"mse": None, "sqnr_db": None}
    sse = signal = 0.0
    for r0, eff in lazy.row_blocks(max(1, _BLOCK // max(lazy.shape[1], 1)), mask):
        ob = before[r0:r0 + eff.shape[0]]
        sse += _sum_sq(eff - ob)
        signal += _sum_sq(ob)
    return {"mse": sse / max(lazy.size, 1), "sqnr_db": _sqnr(signal, sse)}


def _lazy_facts(original: np.ndarray, lazy: Any, mask: np.ndarray | None, synthesized: bool
                ) -> tuple[int, int, dict[str, float | None]]:
    """``(nnz, rounded zeros, error stats)`` of a compact effective matrix (:func:`_layer_stats`'s
    definitions: :func:`_rounded_zeros`, :func:`_error_stats`), a block of rows at a time."""
    same = tuple(original.shape) == tuple(lazy.shape)
    nnz = rounded = 0
    sse = signal = 0.0
    for r0, eff in lazy.row_blocks(max(1, _BLOCK // max(lazy.shape[1], 1)), mask):
        r1 = r0 + eff.shape[0]
        zero = eff == 0
        nnz += eff.size - int(np.count_nonzero(zero))
        if not same:
            continue
        ob = original[r0:r1]
        if not synthesized:
            zero &= ob != 0
        kept = lazy.mask_rows(r0, r1, mask)  # the given mask's rows, else the matrix's packed one's
        if kept is not None:
            zero &= kept
        rounded += int(np.count_nonzero(zero))
        sse += _sum_sq(eff - ob)
        signal += _sum_sq(ob)
    err = {"mse": sse / max(lazy.size, 1), "sqnr_db": _sqnr(signal, sse)} if same else {"mse": None, "sqnr_db": None}
    return nnz, rounded, err


def _rounded_zeros(original: np.ndarray, matrix: np.ndarray, mask: np.ndarray | None, synthesized: bool) -> int:
    """Weights that are zero after compression although no step pruned them: quantization or sharing
    rounded them to zero. Zeros already in loaded weights are the model's own pruning and do not
    count; in synthesized (dense He-normal) weights an exact-zero draw is no pruning and counts.
    0 when the shapes differ (a graph step changed the layer: its zeros count as pruned)."""
    if original.shape != matrix.shape:
        return 0
    m, o = np.ravel(matrix), np.ravel(original)
    k = None if mask is None else np.ravel(mask)
    total = 0
    for s in range(0, m.size, _BLOCK):  # a block at a time: no layer-sized bool arrays
        rounded = m[s:s + _BLOCK] == 0
        if not synthesized:
            rounded &= o[s:s + _BLOCK] != 0
        if k is not None:
            rounded &= k[s:s + _BLOCK]
        total += int(np.count_nonzero(rounded))
    return total


def _layer_stats(layer, original: np.ndarray, matrix: np.ndarray, tensor: CompressedTensor, st: _State | None,
                 orig_params: int | None = None, synthesized: bool = False) -> dict:
    """Per-layer statistics; ``orig_params`` (the layer's size before graph steps) sets the dense reference."""
    params = int(matrix.size)
    if isinstance(matrix, LAZY_MATRICES):  # compact: the statistics a block of rows at a time
        nnz, rounded, err = _lazy_facts(original, matrix, st.mask if st is not None else None, synthesized)
    else:
        nnz = int(np.count_nonzero(matrix))
        # zeros produced by rounding (quantization, sharing) of weights no step pruned and that were not zero
        # before compression; the theoretical speedup counts only the pruned ones (and zeros already in the model)
        rounded = _rounded_zeros(original, matrix, st.mask if st is not None else None, synthesized)
        err = _error_stats(original, matrix)
    bits = tensor.storage_bits()
    dense_bits = (orig_params if orig_params is not None else params) * BASE_BITS
    macs = layer.macs
    eff = int(round(macs * nnz / max(params, 1)))
    kept_macs = int(round(macs * (nnz + rounded) / max(params, 1)))
    base = _unwrap(tensor)
    inner = base.inner if isinstance(base, Codebook) and base.inner is not None else base
    out = {
        "params": params,
        "nnz": nnz,
        "density": nnz / max(params, 1),
        "stored_entries": int(getattr(inner, "stored_entries", params)),
        "padding_zeros": int(getattr(inner, "padding_zeros", 0)),
        "format": _format_label(tensor),
        "index_bits": getattr(inner, "index_bits", None),
        "bits": bits.to_dict(),
        "dense_bits": dense_bits,
        "storage_ratio": dense_bits / max(bits.total, 1),
        "compression_ratio": dense_bits / max(bits.total, 1),  # deprecated alias of storage_ratio
        "macs": macs,
        "effective_macs": eff,
        "macs_after_pruning": kept_macs,
        "rounded_zeros": rounded,
        "theoretical_speedup": macs / kept_macs if kept_macs else math.inf,
        "weight_bits": st.weight_bits if st is not None else None,
        "activation_bits": st.activation_bits if st is not None else None,
        **err,
        "weight_density": nnz / max(params, 1),
        "nnz_ratio": (orig_params if orig_params is not None else params) / max(nnz, 1),
        "shrinkbench_ratio": (orig_params if orig_params is not None else params) / max(nnz, 1),  # deprecated alias of nnz_ratio
        "quant_mse": st.quant_error["mse"] if st is not None and st.quant_error else None,
        "quant_sqnr_db": st.quant_error["sqnr_db"] if st is not None and st.quant_error else None,
    }
    if isinstance(tensor, HuffmanCoded):
        for key, code in tensor.streams.items():
            out[f"huffman_{key}_mean_bits"] = code.encoded_bits / max(code.n_symbols, 1)
    return out


def summarize(cg: CompressedGraph, dense_params: Mapping[str, int] | None = None,
              dense_macs: Mapping[str, int] | None = None, workload: str = "") -> dict[str, Any]:
    """Network totals: bits by kind, storage and nnz ratios and theoretical speedup.

    ``storage_ratio`` (Deep Compression's compression rate): the dense weights at 32 bits over the
    stored bits. ``nnz_ratio`` (ShrinkBench's compression ratio): weight entries over non-zero
    weights. ``theoretical_speedup`` (ShrinkBench): dense MACs over ``macs_after_pruning``, the MACs
    of the weights left after pruning - zeros that quantization or sharing produced by rounding
    (``rounded_zeros`` weights) are not pruning and do not count (post-training int8 has exactly
    1.0). ``compression_ratio`` and ``shrinkbench_ratio`` are deprecated aliases of
    ``storage_ratio`` and ``nnz_ratio``, kept for one release.

    The dense reference is the ORIGINAL graph's weights at 32 bits (``dense_params``), so layers
    removed or substituted by graph steps count against their originals; MACs likewise
    (``dense_macs``: dense MACs of the original layers with weights, ShrinkBench's numerator).
    """
    bits = StorageBits()
    params = nnz = eff = kept = rounded = 0
    sq_err = sq_sig = 0.0
    undefined = False
    for cl in cg:
        if not cl.layer.has_weights or "bits" not in cl.stats:
            continue
        b = cl.stats["bits"]
        bits = bits + StorageBits(b["payload"], b["index"], b["pointer"], b["codebook"], b["metadata"])
        params += cl.stats["params"]
        nnz += cl.stats["nnz"]
        eff += cl.stats["effective_macs"]
        kept += cl.stats.get("macs_after_pruning", cl.stats["effective_macs"])
        rounded += cl.stats.get("rounded_zeros", 0)
        if cl.stats.get("mse") is not None:
            sq_err += cl.stats["mse"] * cl.stats["params"]
        else:
            undefined = True
    if dense_params is None:
        dense_params = {cl.name: cl.stats.get("params", 0) for cl in cg if cl.layer.has_weights}
    if dense_macs is None:
        dense_macs = {cl.name: cl.layer.macs for cl in cg if cl.layer.has_weights}
    orig_params = int(sum(dense_params.values()))
    orig_macs = int(sum(dense_macs.values()))
    dense_bits = orig_params * BASE_BITS
    del sq_sig
    return {
        "workload": workload or cg.graph.name,
        "recipe": (cg.recipe or {}).get("name"),
        "params": orig_params,
        "params_after": params,
        "nnz": nnz,
        "density": nnz / max(orig_params, 1),
        "bits": bits.to_dict(),
        "dense_bits": dense_bits,
        "compressed_bytes": bits.total / 8,
        "dense_bytes": dense_bits / 8,
        "storage_ratio": dense_bits / max(bits.total, 1),
        "compression_ratio": dense_bits / max(bits.total, 1),  # deprecated alias of storage_ratio
        "macs": orig_macs,
        "effective_macs": eff,
        "macs_after_pruning": kept,
        "rounded_zeros": rounded,
        "theoretical_speedup": orig_macs / kept if kept else math.inf,
        "nnz_ratio": orig_params / max(nnz, 1),
        "shrinkbench_ratio": orig_params / max(nnz, 1),  # deprecated alias of nnz_ratio
        "mse": None if undefined else sq_err / max(params, 1),  # None: a layer's error is not defined (graph steps)
    }


__all__ = ["OPS", "Recipe", "RecipeFields", "Step", "compress", "load_recipe", "recipe_from_dict", "recipe_names",
           "quant_ops_for", "step_param_names", "summarize", "with_params"]
