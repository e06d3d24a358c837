"""What the hardware models see: a layer plus its compressed weights and activation statistics.

``CompressedLayer`` is built by ``accelsim.compress`` (or :meth:`CompressedLayer.dense` for an
uncompressed layer). ``weight`` is the compressed tensor object (a format from
``accelsim.compress.tensors``: CSR/CSC with relative indices, per-PE interleaved CSC, N:M,
codebook, low-bit, ...) or None; ``weight_matrix`` is the effective ``(N * groups, K)`` matrix the
hardware multiplies by (pruned entries are exact zeros, quantized values dequantized), or None when
no weights are attached (dense timing needs only shapes). Bits fields of None mean "the hardware's
native precision". ``activation_format``: how the input activations are quantized (None: at
``activation_bits`` as the hardware runs them); ``quant_ops``: the quantize / dequantize /
requantize operators the layer implies (:class:`accelsim.compress.formats.QuantOp`), for hardware
models to cost. ``CompressedGraph.kv_format``: the KV-cache format (``formats.KVFormat``) or None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterator

import numpy as np

from accelsim.compress.view import WeightView, weight_view
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Input, Layer


@dataclass(frozen=True)
class CompressedLayer:
    layer: Layer
    weight: Any = None
    weight_matrix: np.ndarray | None = None
    weight_bits: int | None = None
    activation_bits: int | None = None
    activation_density: float = 1.0
    activation_sample: np.ndarray | None = None
    nm: tuple[int, int] | None = None
    codebook_size: int | None = None
    transforms: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    activation_format: Any = None
    quant_ops: tuple = ()

    def __post_init__(self) -> None:
        # the effective matrix is read-only: counts derived from it are cached below
        if isinstance(self.weight_matrix, np.ndarray):
            self.weight_matrix.flags.writeable = False

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def is_compressed(self) -> bool:
        return bool(self.transforms)

    @cached_property
    def view(self) -> WeightView:
        """The typed view of the stored weights hardware models read (:mod:`accelsim.compress.view`)."""
        return weight_view(self.weight, self.weight_matrix, nm=self.nm, shape=self.layer.weight_matrix_shape)

    # counted once per layer (the matrix is never modified after compression): hardware models and
    # sweeps ask for them on every simulate call
    @cached_property
    def weight_density(self) -> float:
        """Fraction of non-zero weights (1.0 when no weights are attached)."""
        if self.weight_matrix is None:
            return float(self.stats.get("weight_density", 1.0))
        return self.weight_nnz / max(self.weight_matrix.size, 1)

    @cached_property
    def weight_nnz(self) -> int:
        if self.weight_matrix is None:
            shape = self.layer.weight_matrix_shape
            return int(round(self.weight_density * shape[0] * shape[1])) if shape else 0
        return int(np.count_nonzero(self.weight_matrix))

    @property
    def effective_macs(self) -> int:
        """Dense MACs (batch 1) scaled by the kept-weight fraction (ShrinkBench's definition)."""
        return int(round(self.layer.macs * self.weight_density)) if self.layer.has_weights else self.layer.macs

    @cached_property
    def _stored_bits(self) -> int | None:
        """The compressed tensor's total storage bits (None without a compressed tensor)."""
        if self.weight is not None and hasattr(self.weight, "storage_bits"):
            return int(self.weight.storage_bits().total)
        return None

    @cached_property
    def _weight_elements(self) -> int:
        shape = self.layer.weight_matrix_shape
        return shape[0] * shape[1] if shape is not None else 0

    def weight_storage_bits(self, native_bits: int = 32) -> int:
        """Stored weight bits: the compressed tensor's total, else dense at ``native_bits``."""
        if self._stored_bits is not None:
            return self._stored_bits
        return self._weight_elements * (self.weight_bits or native_bits)

    @classmethod
    def dense(cls, layer: Layer, graph: LayerGraph | None = None) -> "CompressedLayer":
        """An uncompressed layer, with weights and activation statistics from ``graph`` if given."""
        matrix = None
        density = 1.0
        sample = None
        weight = weight_bits = activation_bits = None
        if graph is not None:
            if layer.has_weights and layer.name in graph.weights:
                matrix = graph.weight_matrix(layer.name)
            density = graph.input_density(layer.name)
            sample = graph.activation_samples.get(layer.name)
            deployed = (graph.metadata.get("quantization") or {}).get(layer.name)
            if deployed:
                weight, weight_bits, activation_bits = deployed_tensor(deployed, layer)
        return cls(layer=layer, weight=weight, weight_matrix=matrix, weight_bits=weight_bits,
                   activation_bits=activation_bits, activation_density=density, activation_sample=sample)


def deployed_tensor(q: dict, layer: Layer) -> tuple[Any, int | None, int | None]:
    """The stored tensor of a deployed quantized weight (an importer's ``metadata["quantization"]`` entry:
    ``codes``, ``weight_bits``, ``signed``, ``granularity`` per_tensor / per_channel / blocked, ``scale``,
    ``zero_point``, ``block_size``; ``activation_bits``), in its real format: ``(tensor, weight bits,
    activation bits)``. Per-tensor / per-channel integers become :class:`LowBit` (32-bit scales, as
    ``docs/compression.md`` counts them); blocked ones (MatMulNBits) :class:`GroupQuant` blocks of
    ``(1, block_size)`` with the scales' own float width and ``weight_bits`` zero points. An entry without
    codes (a 16-bit float weight) keeps the dense matrix at its width."""
    bits = q.get("weight_bits")
    act = q.get("activation_bits")
    codes = q.get("codes")
    shape = layer.weight_matrix_shape
    if codes is None or shape is None or tuple(np.shape(codes)) != tuple(shape):
        return None, bits, act
    codes = np.asarray(codes).astype(np.int64)
    granularity = q.get("granularity", "per_tensor")
    if granularity == "blocked":
        from accelsim.compress.formats import GroupQuant, QuantSpec

        block = int(q["block_size"])
        scale = np.asarray(q["scale"])
        zp = q.get("zero_point")
        signed = bool(q.get("signed", zp is None))
        scale_name = "fp16" if scale.dtype == np.float16 else "fp32"
        spec = QuantSpec(f"{'int' if signed else 'uint'}{bits}-g{block}", f"{'int' if signed else 'uint'}{bits}",
                         scale_name, (1, block), 0 if zp is None else int(bits))
        tensor = GroupQuant(codes, spec, scale.astype(np.float64), None if zp is None else np.asarray(zp, np.int64))
        return tensor, bits, act
    from accelsim.compress.tensors import LowBit

    per_channel = granularity == "per_channel"
    scale = np.asarray(q["scale"], np.float64)
    zp = np.asarray(q.get("zero_point", 0), np.int64)
    if not per_channel:
        scale, zp = float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0])
    return LowBit(codes, int(bits), scale, zp, per_channel=per_channel, signed=q.get("signed")), bits, act


@dataclass
class CompressedGraph:
    """A (possibly transformed) LayerGraph and one CompressedLayer per compute layer."""

    graph: LayerGraph
    layers: dict[str, CompressedLayer]
    recipe: dict[str, Any] | None = None
    stats: dict[str, Any] = field(default_factory=dict)  # network totals (accelsim.compress.recipe.summarize)
    kv_format: Any = None  # accelsim.compress.formats.KVFormat of the KV cache, or None (the native precision)

    def __iter__(self) -> Iterator[CompressedLayer]:
        for layer in self.graph.layers:
            if not isinstance(layer, Input):
                yield self.layers[layer.name]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, name: str) -> CompressedLayer:
        return self.layers[name]

    @classmethod
    def dense(cls, graph: LayerGraph) -> "CompressedGraph":
        return cls(graph, {layer.name: CompressedLayer.dense(layer, graph) for layer in graph.compute_layers()})
