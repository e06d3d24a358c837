"""Compressed layers for the published-measurement harness, priced from shapes alone.

The harness runs models of 7-70 B parameters (and GEMMs of up to 18k x 74k weights); synthesizing and
quantizing their weights would take minutes and gigabytes. What the GPU model reads of a compressed
weight is its *format* (``cl.view``: layout, element format, group size, scale bits, N:M pattern,
bits per element), not its values. So each recipe is applied once for real, by
:func:`accelsim.compress.recipe.compress`, to a small template layer; every real layer then gets a
:class:`FormatOnly` tensor with the template's format at its own shape, and the template's
CompressedLayer fields (weight / activation bits, N:M, activation format). Quantize / dequantize
operators are rebuilt for the real shape with the same rules as the recipe engine.

A :class:`FormatOnly` tensor has no values: ``to_dense`` raises, so a model that needs the real
pattern (CSR kernels, the 2:4 compatibility test on a real matrix) sees ``view.matrix is None`` and
falls back to the format.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from typing import Any

from accelsim.compress.compressed import CompressedLayer
from accelsim.compress.formats import ActivationFormat, QuantSpec
from accelsim.compress.tensors import CompressedTensor, StorageBits
from accelsim.errors import CompressionError, ConfigError

#: recipe name -> the recipe (a bundled name or an inline dict) applied to the template layer
RECIPES: dict[str, Any] = {
    "w8a16": "w8a16",
    "w4a16-g128": "w4a16-g128",
    "w4a16-g64": {"name": "w4a16-g64", "pipeline": [
        {"quantize": {"bits": 4, "symmetric": False, "group_size": 64, "scale_format": "fp16", "zero_point_bits": 4}},
        {"activations": {"bits": 16}}]},
    "w4a16-g32": "w4a16-g32",
    "2of4": {"name": "2of4", "pipeline": [{"prune": {"method": "nm", "n": 2, "m": 4}}, {"encode": {"format": "nm"}},
                                           {"activations": {"bits": 16}}]},
    "2of4-w4a16": "2of4-w4a16",
    "fp8-e4m3": "fp8-e4m3",
    "fp8-block128": "fp8-block128",
    "w8a8-int8": "w8a8-int8",
}
#: recipes that change no weight: ``dense`` (native precision) and ``attention-fp8`` (FP8 attention
#: inputs, e.g. FlashAttention-3's FP8 path; weights untouched)
PLAIN = ("dense", "attention-fp8")
NAMES = (*PLAIN, *RECIPES)

#: template layer: 16 tokens x 512 inputs -> 256 outputs (K a multiple of every group size used)
_TEMPLATE_K, _TEMPLATE_N, _TEMPLATE_M = 512, 256, 16


class FormatOnly(CompressedTensor):
    """A stored weight described by its format only (no values): ``kind`` ``lowbit`` (group-quantized
    codes, ``spec``) or ``nm`` (N:M kept values, optionally group-quantized: ``quant_spec``).

    Storage (bits), as the recipe engine counts it: ``lowbit``: ``N K value_bits`` + one scale (and
    zero point) per block; ``nm``: ``N K n / m`` values of ``value_bits``, and as metadata a
    ``ceil(log2 m)``-bit selector per kept value + one scale per block of the dense matrix."""

    def __init__(self, kind: str, shape: tuple[int, int], value_bits: int, spec: QuantSpec | None = None,
                 nm: tuple[int, int] | None = None):
        if kind not in ("lowbit", "nm"):
            raise CompressionError(f"FormatOnly kind must be lowbit or nm; got {kind!r}")
        if kind == "nm" and nm is None:
            raise CompressionError("FormatOnly kind nm needs the (n, m) pattern")
        self.kind = kind
        self._shape = (int(shape[0]), int(shape[1]))
        self.value_bits = int(value_bits)
        self.nm = nm
        if kind == "lowbit":
            self.spec = spec
        else:
            self.quant_spec = spec

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def bits(self) -> int:
        return self.value_bits

    @property
    def density(self) -> float:
        return self.nm[0] / self.nm[1] if self.kind == "nm" else 1.0

    @property
    def nnz(self) -> int:
        return int(round(self.size * self.density))

    def to_dense(self):
        raise CompressionError("a FormatOnly tensor has no values (published-measurement harness: format only)")

    def _scale_bits(self, rows: int, cols: int) -> int:
        s = self.spec if self.kind == "lowbit" else self.quant_spec
        if s is None:
            return 0
        blocks = math.ceil(rows / s.block[0]) * math.ceil(cols / s.block[1])
        return int(blocks * (s.scale_bits + s.zero_point_bits) + (32 if s.tensor_scale else 0))

    def storage_bits(self) -> StorageBits:
        n, k = self._shape
        if self.kind == "lowbit":
            return StorageBits(payload=n * k * self.value_bits, metadata=self._scale_bits(n, k))
        kept = n * (k * self.nm[0] // self.nm[1])
        sel = max(1, math.ceil(math.log2(self.nm[1])))
        return StorageBits(payload=kept * self.value_bits, metadata=kept * sel + self._scale_bits(n, k))


def _real_block(block: tuple[int, int], template: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int]:
    """A template block at the real shape: a block spanning the template's whole rows / columns
    (per tensor, per channel) spans the real ones; a fixed block (a group of 128) stays."""
    return (shape[0] if block[0] == template[0] else block[0], shape[1] if block[1] == template[1] else block[1])


@lru_cache(maxsize=None)
def template(recipe: str) -> CompressedLayer:
    """The recipe applied for real to a small Linear layer (cached)."""
    if recipe not in RECIPES:
        raise ConfigError(f"published-measurement recipe must be one of {', '.join(NAMES)}; got {recipe!r}")
    from accelsim.compress.recipe import compress
    from accelsim.workload import layers as L
    from accelsim.workload.graph import LayerGraph

    g = LayerGraph(f"template-{recipe}")
    g.add(L.Input(name="x", shape=(_TEMPLATE_M, _TEMPLATE_K)))
    g.add(L.Linear(name="fc", input_shapes=((_TEMPLATE_M, _TEMPLATE_K),), out_features=_TEMPLATE_N, bias=False), ["x"])
    return compress(g, RECIPES[recipe])["fc"]


def compressed(layer, recipe: str) -> CompressedLayer:
    """``layer`` under ``recipe`` (one of :data:`NAMES`), format only.

    Weighted layers other than embeddings and the ``lm_head`` take the recipe's weight format;
    attention layers take FP8 inputs under ``attention-fp8``; everything else stays native."""
    if recipe not in NAMES:
        raise ConfigError(f"published-measurement recipe must be one of {', '.join(NAMES)}; got {recipe!r}")
    from accelsim.workload import layers as L

    if recipe == "attention-fp8":
        if isinstance(layer, L.Attention):
            return CompressedLayer(layer=layer, activation_bits=8, activation_format=ActivationFormat("e4m3"),
                                   transforms=("activations:e4m3-per-tensor-static",))
        return CompressedLayer(layer=layer)
    if recipe == "dense" or not layer.has_weights or isinstance(layer, L.Embedding) or "lm_head" in layer.name:
        return CompressedLayer(layer=layer)
    t = template(recipe)
    shape = tuple(int(s) for s in layer.weight_matrix_shape)
    tv = t.view
    if tv.layout == "nm":
        n_keep, m = t.nm
        base = t.weight
        spec = getattr(base, "quant_spec", None)
        # the recipe engine quantizes the dense matrix, then keeps N of every M: scales per dense group
        real = None if spec is None else dataclasses.replace(
            spec, block=_real_block(tuple(spec.block), (_TEMPLATE_N, _TEMPLATE_K), shape))
        tensor = FormatOnly("nm", shape, int(tv.value_bits), real, nm=(n_keep, m))
        w_elem = real.element if real is not None else None
        w_scales = 0 if real is None else math.ceil(shape[0] / real.block[0]) * math.ceil(shape[1] / real.block[1])
        density = n_keep / m
    elif tv.layout == "lowbit":
        spec = t.weight.spec
        real = dataclasses.replace(spec, block=_real_block(tuple(spec.block), (_TEMPLATE_N, _TEMPLATE_K), shape))
        tensor = FormatOnly("lowbit", shape, int(tv.value_bits), real)
        w_elem = real.element
        w_scales = math.ceil(shape[0] / real.block[0]) * math.ceil(shape[1] / real.block[1])
        density = 1.0
    else:  # pragma: no cover - every recipe of RECIPES stores lowbit or nm weights
        raise ConfigError(f"recipe {recipe}: template layout {tv.layout} is not supported by the harness")
    from accelsim.compress.recipe import quant_ops_for

    ops = quant_ops_for(layer, w_elem, w_scales, t.activation_format, t.activation_bits) if t.quant_ops else ()
    return CompressedLayer(layer=layer, weight=tensor, weight_matrix=None, weight_bits=t.weight_bits,
                           activation_bits=t.activation_bits, nm=t.nm, codebook_size=t.codebook_size,
                           transforms=t.transforms, stats={"weight_density": density, "format_only": True},
                           activation_format=t.activation_format, quant_ops=ops)


__all__ = ["FormatOnly", "NAMES", "RECIPES", "compressed", "template"]
