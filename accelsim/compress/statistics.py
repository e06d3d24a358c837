"""The statistics path of :func:`accelsim.compress.recipe.compress`: a recipe whose stored format does not
depend on the weight values, applied to shapes alone (no weight is synthesized or held).

A 7B-parameter decoder would need 27 GB of float32 weights to compress for real; for the recipes LLM
serving uses (group-wise integers, FP8, MX, NVFP4, N:M counts, W8A8, a KV format) what a hardware model
reads through :class:`~accelsim.compress.view.WeightView` follows from the layer's ``(N, K)`` weight
matrix and the format. The tensors here hold that and nothing else; their ``storage_bits()`` are the
formulas of ``docs/compression.md`` section 6 (and of :class:`~accelsim.compress.formats.GroupQuant`,
:class:`~accelsim.compress.tensors.NM`, :class:`~accelsim.compress.tensors.LowBit`), exact and tested equal to
the real-array path for every bundled recipe (``tests/test_llm_statistics.py``):

* quantized values (``GroupQuant`` / ``LowBit`` symmetric): payload ``N * K * b``; metadata
  ``ceil(N / br) * ceil(K / bc) * (scale_bits + zero_point_bits) + 32 [tensor scale] + 32 K [g_idx]`` for a
  ``(br, bc)`` scale block (legacy symmetric ``LowBit``: one 32-bit scale per row or per tensor, no zero
  point);
* ``N:M`` (K a multiple of M): ``N * K / M * n`` stored entries of ``b`` bits plus ``ceil(log2 M)``-bit
  selectors each, plus the values' scale metadata;
* dense (no quantize step): ``N * K * 32``.

``nnz`` of a statistics view is the stored non-zero positions (``N * K``, or ``N * K * n / M``): values that
round to zero are stored and multiplied, so they count (the real-array path reports them apart as
``rounded_zeros``; here ``rounded_zeros`` is 0). Value-dependent figures - quantization error (``mse``,
``sqnr_db``), rounded zeros, magnitude / random / block pruning patterns, k-means codebooks, Huffman codes,
SVD ranks by energy - need real arrays: :func:`value_dependence` names the step that needs them, and
``compress`` then uses real weights or refuses in one line.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from accelsim.compress import formats as F
from accelsim.compress.compressed import CompressedLayer
from accelsim.compress.tensors import CompressedTensor, StorageBits, bits_for
from accelsim.errors import CompressionError, ConfigError

#: dense reference bits (the recipe path's BASE_BITS)
BASE_BITS = 32


class StatisticsTensor(CompressedTensor):
    """A stored weight tensor known by its shape and format only (no values): ``to_dense`` is refused."""

    #: read by :class:`~accelsim.compress.view.WeightView` (``is_statistics``): no values behind this tensor
    is_statistics = True

    def __init__(self, shape: tuple[int, int]):
        self._shape = (int(shape[0]), int(shape[1]))

    @property
    def shape(self):
        return self._shape

    def to_dense(self):
        raise CompressionError(f"{self.kind} statistics tensor {list(self._shape)}: no values (statistics path; "
                               "compress with real weights for values)")


class DenseStats(StatisticsTensor):
    """Every element stored at ``bits`` bits (:class:`~accelsim.compress.tensors.Dense`)."""

    kind = "dense"

    def __init__(self, shape, bits: int = BASE_BITS):
        super().__init__(shape)
        self.bits = int(bits)

    @property
    def nnz(self) -> int:
        return self.size

    def storage_bits(self) -> StorageBits:
        return StorageBits(payload=self.size * self.bits)


class QuantStats(StatisticsTensor):
    """Codes plus per-block scales (:class:`~accelsim.compress.formats.GroupQuant`, or a legacy symmetric
    :class:`~accelsim.compress.tensors.LowBit` described by a ``QuantSpec`` with fp32 scales)."""

    kind = "lowbit"
    g_idx = None

    def __init__(self, shape, spec: F.QuantSpec, value_bits: int | None = None):
        super().__init__(shape)
        self.spec = spec
        self.bits = int(value_bits if value_bits is not None else spec.value_bits)

    @property
    def nnz(self) -> int:
        return self.size

    @property
    def scale_count(self) -> int:
        """Scales stored: ``ceil(N / br) * ceil(K / bc)`` (act-order: ``N * K / g``, the same count)."""
        br, bc = self.spec.block
        return -(-self._shape[0] // br) * -(-self._shape[1] // bc)

    def metadata_bits(self) -> int:
        s = self.spec
        bits = self.scale_count * (s.scale_bits + s.zero_point_bits)
        if s.tensor_scale:
            bits += F.TENSOR_SCALE_BITS
        if s.act_order:
            bits += self._shape[1] * F.G_IDX_BITS
        return int(bits)

    def storage_bits(self) -> StorageBits:
        return StorageBits(payload=self.size * self.bits, metadata=self.metadata_bits())


class NMStats(StatisticsTensor):
    """``n`` of every ``m`` weights along K kept (:class:`~accelsim.compress.tensors.NM`; K a multiple of
    ``m``): ``N * K / m * n`` stored values and ``ceil(log2 m)``-bit selectors, plus ``metadata_bits``."""

    kind = "nm"

    def __init__(self, shape, n: int, m: int, value_bits: int, metadata_bits: int = 0, quant_spec=None):
        super().__init__(shape)
        if self._shape[1] % m:
            raise CompressionError(f"statistics path: K = {self._shape[1]} is not a multiple of M = {m} (N:M)")
        self.n, self.m, self.value_bits = int(n), int(m), int(value_bits)
        self.metadata_bits = int(metadata_bits)
        self.quant_spec = quant_spec
        self.meta_bits = bits_for(self.m)

    @property
    def stored_entries(self) -> int:
        return self._shape[0] * (self._shape[1] // self.m) * self.n

    @property
    def nnz(self) -> int:
        return self.stored_entries

    def storage_bits(self) -> StorageBits:
        n = self.stored_entries
        return StorageBits(payload=n * self.value_bits, metadata=n * self.meta_bits + self.metadata_bits)


# --- which recipes ---------------------------------------------------------------------------------------
def value_dependence(plans: Mapping[str, list], graph_steps: bool = False) -> str | None:
    """None when every planned step's stored format follows from shapes alone; else a short phrase naming
    the first step whose result depends on the weight values (the statistics path cannot run it)."""
    if graph_steps:
        return "a graph step (channel_prune / svd / tucker2 / depthwise_separable)"
    for name, steps in plans.items():
        for s in steps:
            p = s.params
            if s.op == "prune" and p["method"] != "nm":
                return f"prune method {p['method']} (the pattern depends on the weights)"
            if s.op in ("share", "binarize", "ternarize", "huffman"):
                return f"{s.op} (codebooks / codes depend on the weights)"
            if s.op == "quantize" and _legacy(p) and (not p["symmetric"] or p["bits"] == 1):
                return ("quantize without a format field, asymmetric or 1-bit (zero points / codebook depend on "
                        "the weights; give group_size or scale_format)")
            if s.op == "encode" and (p["format"] not in ("auto", "dense", "nm") or p["value_bits"] is not None):
                return f"encode format {p['format']}{' with value_bits' if p['value_bits'] is not None else ''}"
    return None


def _legacy(p: Mapping[str, Any]) -> bool:
    return (p.get("format", "int") == "int" and p.get("act_order") in (None, False)
            and all(p.get(k) is None for k in ("group_size", "block", "scale_format", "zero_point_bits")))


# --- one layer ---------------------------------------------------------------------------------------------
class _Plan:
    """A layer's steps read for their effect on the stored format (the real path's ``_State`` without values)."""

    def __init__(self):
        self.nm: tuple[int, int] | None = None
        self.spec: F.QuantSpec | None = None  # GroupQuant-style values
        self.legacy: tuple[int, bool] | None = None  # (bits, per_channel) of a symmetric LowBit
        self.value_bits: int | None = None
        self.weight_bits: int | None = None
        self.activation_bits: int | None = None
        self.act_format: F.ActivationFormat | None = None
        self.encode = "auto"
        self.transforms: list[str] = []


def _quant_spec(p: Mapping[str, Any], n: int, k: int, label: str) -> F.QuantSpec:
    """The QuantSpec the real quantizers would build for a quantize step with a format field (and the same
    group checks: a group size below 1, E8M0 scales on a non-32 block; a row's last group may be partial)."""
    fmt = p["format"]
    if fmt == "int":
        g = k if p["group_size"] is None else int(p["group_size"])
        F.check_weight_group(g, "quantize_int")
        sym = p["symmetric"]
        zb = 0 if sym else (p["bits"] if p["zero_point_bits"] is None else int(p["zero_point_bits"]))
        return F.QuantSpec(label, f"int{p['bits']}" if sym else f"uint{p['bits']}", p["scale_format"] or "fp16", (1, g), zb,
                           act_order=bool(p["act_order"]))
    if fmt in F.MX_FORMATS:  # (a last partial block of a row: formats.quantize_mx)
        return F.QuantSpec(fmt, F.MX_FORMATS[fmt], "e8m0", (1, F.MX_BLOCK))
    if fmt == "nvfp4":
        return F.QuantSpec("nvfp4", "e2m1", "e4m3", (1, F.NVFP4_BLOCK), tensor_scale=True)
    block = F.scale_block(p["block"], p["group_size"], p["per_channel"], n, k)
    scale = p["scale_format"] or "fp32"
    if scale == "e8m0" and block != (1, 32):
        raise CompressionError(f"E8M0 scales are defined for blocks of 32 along K (OCP MX); got block {list(block)}")
    return F.QuantSpec(label, fmt[4:], scale, block)


def layer_from_plan(recipe, layer, steps, notes: list[str], recipe_mod) -> CompressedLayer:
    """The statistics CompressedLayer of one planned layer (same transforms labels, view fields and stored
    bits as the real path)."""
    R = recipe_mod
    n, k = layer.weight_matrix_shape
    pl = _Plan()
    act = next((s for s in steps if s.op == "activations"), None)
    if act is not None and act.params.get("smooth_alpha") is not None:
        from accelsim.workload.layers import Linear

        if isinstance(layer, Linear):
            pl.transforms.append(f"smooth(alpha={float(act.params['smooth_alpha']):g}, unit activation maxima)")
        else:
            pl.transforms.append("smooth:skipped(not a linear layer)")
    for s in steps:
        p = s.params
        idx = next(i for i, b in enumerate(recipe.pipeline) if b.op == s.op)  # the recipe's index, as the real path
        where = f"{recipe.path}: pipeline[{idx}].{s.op} on layer '{layer.name}'"
        try:
            if s.op == "prune":  # method nm (value_dependence refused the others)
                pl.nm = (p["n"], p["m"])
                pl.transforms.append(f"prune:nm({p['n']}:{p['m']})")
            elif s.op == "quantize":
                if _legacy(p):
                    pl.legacy, pl.spec = (p["bits"], bool(p["per_channel"])), None
                    pl.value_bits = pl.weight_bits = p["bits"]
                    pl.transforms.append(f"quantize:int{p['bits']}-sym{'-per-channel' if p['per_channel'] else ''}")
                else:
                    if p.get("act_order"):
                        pl.transforms.append("act-order(weight column norms)")
                    name = R._format_name(p, k, n)
                    pl.spec, pl.legacy = _quant_spec(p, n, k, name), None
                    pl.value_bits = pl.weight_bits = pl.spec.value_bits
                    pl.transforms.append(f"quantize:{name}")
            elif s.op == "activations":
                pl.activation_bits = p["bits"]
                if R._legacy_activations(p):
                    pl.transforms.append(f"activations:int{p['bits']}")
                else:
                    pl.act_format = R._activation_format(p)
                    pl.transforms.append(f"activations:{pl.act_format.label}")
            elif s.op == "encode":
                pl.encode = p["format"]
        except CompressionError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    fmt = pl.encode if pl.encode != "auto" else ("nm" if pl.nm is not None else "dense")
    where = f"{recipe.path}: encode of layer '{layer.name}'"
    if pl.legacy is not None:
        bits, per_channel = pl.legacy
        block = (1, k) if per_channel else (max(n, 1), max(k, 1))
        legacy_spec = F.QuantSpec(f"int{bits}", f"int{bits}", "fp32", block)
    try:
        if fmt == "nm":
            if pl.nm is None:
                raise ConfigError(f"{where}: format 'nm' needs an N:M prune step before it")
            if pl.spec is not None:
                meta = QuantStats((n, k), pl.spec).metadata_bits()
            elif pl.legacy is not None:
                meta = (n if pl.legacy[1] else 1) * 32
            else:
                meta = 0
            tensor = NMStats((n, k), pl.nm[0], pl.nm[1], pl.value_bits or BASE_BITS, meta, pl.spec)
        elif pl.spec is not None:
            tensor = QuantStats((n, k), pl.spec)
        elif pl.legacy is not None:
            tensor = QuantStats((n, k), legacy_spec, pl.legacy[0])
        else:
            tensor = DenseStats((n, k), pl.value_bits or BASE_BITS)
    except CompressionError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not isinstance(tensor, DenseStats):  # the real path labels every stored format but plain dense values
        pl.transforms.append(f"encode:{tensor.kind}")
    transforms = tuple(notes + pl.transforms)
    stats = layer_stats(layer, tensor, pl.weight_bits, pl.activation_bits)
    stats["transforms"] = list(transforms)
    if pl.spec is not None:
        stats.update(weight_format=pl.spec.name, element_format=pl.spec.element, scale_format=pl.spec.scale,
                     group_size=pl.spec.group_size, bits_per_element=tensor.storage_bits().total / max(n * k, 1))
    if pl.act_format is not None:
        stats["activation_format"] = pl.act_format.label
    w_elem = w_scales = None
    if pl.spec is not None:
        w_elem, w_scales = pl.spec.element, QuantStats((n, k), pl.spec).scale_count
    elif pl.legacy is not None:
        w_elem, w_scales = f"int{pl.legacy[0]}", (n if pl.legacy[1] else 1)
    ops = R.quant_ops_for(layer, w_elem, w_scales or 0, pl.act_format, pl.activation_bits)
    return CompressedLayer(layer=layer, weight=tensor, weight_matrix=None, weight_bits=pl.weight_bits,
                           activation_bits=pl.activation_bits, nm=pl.nm, transforms=transforms, stats=stats,
                           activation_format=pl.act_format, quant_ops=ops)


def layer_stats(layer, tensor: StatisticsTensor, weight_bits: int | None, activation_bits: int | None) -> dict:
    """The real path's per-layer statistics from shapes: value-dependent entries (``mse``, ``sqnr_db``,
    ``quant_mse``, ``quant_sqnr_db``) are None, ``rounded_zeros`` 0, ``nnz`` the stored positions."""
    n, k = tensor.shape
    params = n * k
    nnz = int(tensor.nnz)
    bits = tensor.storage_bits()
    dense_bits = params * BASE_BITS
    macs = layer.macs
    eff = int(round(macs * nnz / max(params, 1)))
    return {
        "params": params, "nnz": nnz, "density": nnz / max(params, 1),
        "stored_entries": int(getattr(tensor, "stored_entries", params)), "padding_zeros": 0,
        "format": tensor.kind, "index_bits": None, "bits": bits.to_dict(), "dense_bits": dense_bits,
        "storage_ratio": dense_bits / max(bits.total, 1), "compression_ratio": dense_bits / max(bits.total, 1),
        "macs": macs, "effective_macs": eff, "macs_after_pruning": eff, "rounded_zeros": 0,
        "theoretical_speedup": macs / eff if eff else math.inf, "weight_bits": weight_bits,
        "activation_bits": activation_bits, "mse": None, "sqnr_db": None, "weight_density": nnz / max(params, 1),
        "nnz_ratio": params / max(nnz, 1), "shrinkbench_ratio": params / max(nnz, 1),
        "quant_mse": None, "quant_sqnr_db": None, "statistics": True,
    }


__all__ = ["DenseStats", "NMStats", "QuantStats", "StatisticsTensor", "layer_from_plan", "layer_stats",
           "value_dependence"]
