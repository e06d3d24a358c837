"""Hugging Face ``.safetensors`` checkpoints, read lazily: memory-mapped, one tensor (one layer) at a time.

A ``.safetensors`` file is an 8-byte little-endian header length ``n``, ``n`` bytes of JSON mapping each
tensor name to ``{dtype, shape, data_offsets: [begin, end]}`` (offsets into the data that follows the
header), and the data. :class:`Checkpoint` reads only the headers when it opens a file or a folder of
shards; every tensor is checked against the file (its bytes must lie inside the file and equal
``prod(shape) * itemsize``), so a truncated or corrupt file is refused at once, in one line, before any
weight is read. :meth:`Checkpoint.array` maps one tensor (``numpy.memmap``: no bytes are read until used);
``bf16`` becomes float32 on request (:meth:`Checkpoint.float32`); FP8 tensors stay raw bytes.

Quantized checkpoints are recognized and kept in their stored format (:meth:`Checkpoint.packed`):

* GPTQ (``quant_method: gptq``): ``<layer>.qweight`` int32 ``(K * bits / 32, N)`` (``32 / bits`` codes per
  word along K, lowest bits first), ``qzeros`` int32 ``(K / group, N * bits / 32)``, ``scales``
  ``(K / group, N)``, ``g_idx`` ``(K,)`` (act order: the group of every input column);
* AWQ (``quant_method: awq``, GEMM layout): ``qweight`` int32 ``(K, N * bits / 32)`` packed along N in AWQ's
  interleaved order ``[0, 2, 4, 6, 1, 3, 5, 7]``, ``qzeros`` ``(K / group, N * bits / 32)``, ``scales``
  ``(K / group, N)``;
* compressed-tensors (``pack-quantized``): ``weight_packed`` int32 ``(N, K * bits / 32)``, ``weight_scale``
  ``(N, K / group)``, optional ``weight_zero_point`` and ``weight_shape``;
* FP8 (``weight`` stored ``F8_E4M3`` / ``F8_E5M2``): ``weight_scale_inv`` per block of
  ``quantization_config.weight_block_size`` (DeepSeek-V3, Qwen3-FP8: ``(ceil(N / 128), ceil(K / 128))``; the
  value is ``fp8 * scale`` despite the name; ``quant_method: fp8`` without it: transformers' default 128 x 128;
  compressed-tensors ``strategy: block``: its ``block_structure``; neither: the block that tiles the matrix
  evenly, else refused, since partial edge blocks leave it ambiguous) or ``weight_scale`` per tensor ``(1,)`` /
  per output channel ``(N, 1)`` (compressed-tensors ``float-quantized``, FBGEMM).

GPTQ zero points are stored minus one unless the config's ``format`` (or the older ``checkpoint_format``, as
transformers reads them) is ``gptq_v2``. A ``quant_method`` other than those above, and a compressed-tensors
config with several ``config_groups`` (mixed precision by target), are refused in one line.

:func:`attach_weights` puts dense weights (fp32 / fp16 / bf16) on a graph's layers by name and reports packed
layers in ``graph.metadata['hf']['packed']``; their codes, scales and zeros are read with
:meth:`PackedWeight.codes` / :meth:`PackedWeight.dequantize`.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload.graph import LayerGraph

#: safetensors dtype -> (numpy dtype of the stored bytes, bytes per element)
DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64,
    "BOOL": np.bool_, "F8_E4M3": np.uint8, "F8_E5M2": np.uint8,
}
#: largest header read (the format's own limit is 100 MB)
MAX_HEADER_BYTES = 100_000_000
#: safetensors dtype of a scale tensor -> its element format (accelsim.compress.formats.SCALE_FORMATS)
SCALE_FORMATS = {"F32": "fp32", "F64": "fp32", "F16": "fp16", "BF16": "bf16", "F8_E4M3": "e4m3", "U8": "e8m0"}
AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)  # AWQ packs 8 nibbles of one word in this order of output columns


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives: file, dtype name, shape and byte offset / length in the file."""

    name: str
    path: Path
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int


def _read_header(path: Path) -> dict[str, TensorInfo]:
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise WorkloadError(f"{path}: truncated safetensors file: {size} bytes, no 8-byte header length")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise WorkloadError(f"{path}: truncated or not a safetensors file: header of {n} bytes in a "
                                    f"{size}-byte file")
            raw = fh.read(n)
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WorkloadError(f"{path}: not a safetensors file (its {n}-byte header is not JSON)") from None
    if not isinstance(header, dict):
        raise WorkloadError(f"{path}: not a safetensors file (header is not a JSON object)")
    data_start, data_size = 8 + n, size - 8 - n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise WorkloadError(f"{path}: tensor '{name}' has no dtype / shape / data_offsets") from None
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise WorkloadError(f"{path}: tensor '{name}' has shape {shape!r}; expected a list of non-negative "
                                "integers")
        shape = tuple(shape)
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise WorkloadError(f"{path}: tensor '{name}' has unknown dtype '{dtype}'; known: {', '.join(DTYPES)}")
        want = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize
        if not (type(begin) is int and type(end) is int) or begin < 0 or end - begin != want:
            raise WorkloadError(f"{path}: tensor '{name}' spans bytes [{begin}, {end}), expected {want} bytes for "
                                f"{dtype} {list(shape)}")
        if end > data_size:
            raise WorkloadError(f"{path}: truncated safetensors file: tensor '{name}' ends at data byte {end}, the "
                                f"file holds {data_size}")
        out[name] = TensorInfo(name, path, dtype, shape, data_start + begin, want)
    spans = sorted((info.offset, info.offset + info.nbytes, name) for name, info in out.items() if info.nbytes)
    for (_, end, a), (begin, _, b) in zip(spans, spans[1:]):
        if begin < end:
            raise WorkloadError(f"{path}: tensors '{a}' and '{b}' overlap in the file (corrupt header)")
    return out


#: FP8 storage types -> (element format name, exponent bits, mantissa bits, exponent bias)
FP8 = {"F8_E4M3": ("e4m3", 4, 3, 7), "F8_E5M2": ("e5m2", 5, 2, 15)}


def fp8_values(codes: np.ndarray, dtype: str) -> np.ndarray:
    """float32 values of FP8 bit patterns (``dtype`` a key of :data:`FP8`): OCP E4M3 (``fn``: S.1111.111 is NaN,
    no infinities) and E5M2 (IEEE-style infinities and NaNs)."""
    _, e_bits, m_bits, bias = FP8[dtype]
    p = np.arange(256)
    sign = np.where(p >> 7, -1.0, 1.0)
    e, m = (p >> m_bits) & ((1 << e_bits) - 1), p & ((1 << m_bits) - 1)
    table = sign * np.where(e == 0, m / (1 << m_bits) * 2.0 ** (1 - bias), (1 + m / (1 << m_bits)) * 2.0 ** (e - bias))
    top = e == (1 << e_bits) - 1
    if dtype == "F8_E4M3":
        table[top & (m == (1 << m_bits) - 1)] = np.nan
    else:
        table[top] = np.where(m[top] == 0, sign[top] * np.inf, np.nan)
    return table.astype(np.float32)[np.asarray(codes, np.uint8)]


def _unpack(words: np.ndarray, bits: int, axis: int, order=None) -> np.ndarray:
    """The unsigned ``bits``-bit codes of a 2-D array of int32 words, ``32 / bits`` a word along ``axis`` (0: a word
    holds consecutive rows, 1: consecutive columns), lowest bits first; ``order``: the position each code of a word
    takes (AWQ's interleave)."""
    w = np.asarray(words).view(np.uint32)
    mask = (1 << bits) - 1
    shifts = np.arange(32 // bits, dtype=np.uint32) * bits
    if axis == 0:
        return ((w[:, None, :] >> shifts[None, :, None]) & mask).reshape(-1, w.shape[1])  # (rows * per, cols)
    c = (w[:, :, None] >> shifts[None, None, :]) & mask  # (rows, cols, per): code j of a word
    if order is not None:
        ordered = np.empty_like(c)
        ordered[:, :, list(order)] = c
        c = ordered
    return c.reshape(w.shape[0], -1)


@dataclass
class PackedWeight:
    """A quantized weight as stored: group-wise integers (``format`` gptq / awq / compressed-tensors; ``group``
    input columns per scale) or FP8 (``format`` fp8-e4m3 / fp8-e5m2; ``block`` rows x columns per scale), ``bits``
    per code; ``out_features`` N x ``in_features`` K; ``tensors`` name -> info."""

    layer: str
    format: str
    bits: int
    group: int
    out_features: int
    in_features: int
    tensors: dict = field(repr=False)
    checkpoint: "Checkpoint" = field(repr=False)
    block: tuple[int, int] | None = None  # FP8: the rows x columns one scale covers

    @property
    def is_float(self) -> bool:
        return self.format.startswith("fp8")

    @property
    def stores_zero_points(self) -> bool:
        """Whether the layer stores zero points (GPTQ / AWQ ``qzeros``, compressed-tensors ``weight_zero_point``); a
        symmetric compressed-tensors layer's codes are offset by ``2^(bits - 1)``, which it does not store."""
        return self.format in ("gptq", "awq") or "weight_zero_point" in self.tensors

    @property
    def stored_bits(self) -> int:
        """Bits the checkpoint stores for this layer (codes, scales, zeros, g_idx; not compressed-tensors'
        ``weight_shape``, the matrix's two sizes)."""
        return 8 * sum(info.nbytes for key, info in self.tensors.items() if key != "weight_shape")

    def _arr(self, key: str) -> np.ndarray:
        return self.checkpoint.array(self.tensors[key].name)

    def codes(self) -> np.ndarray:
        """Unsigned codes ``(N, K)`` (uint8) unpacked from the int32 words (FP8: the stored bit patterns)."""
        if self.is_float:
            return np.asarray(self._arr("weight"))
        if self.format == "gptq":  # (K / per, N), packed along K
            return _unpack(self._arr("qweight"), self.bits, 0).T.astype(np.uint8)
        if self.format == "awq":  # (K, N / per), packed along N in AWQ order
            return _unpack(self._arr("qweight"), self.bits, 1, AWQ_ORDER).T.astype(np.uint8)
        # compressed-tensors: (N, K / per)
        return _unpack(self._arr("weight_packed"), self.bits, 1)[:, : self.in_features].astype(np.uint8)

    def scale_format(self) -> str:
        """The stored scales' element format (``fp32`` / ``fp16`` / ``bf16`` / ``e4m3`` / ``e8m0``): what a hardware
        model moves (the arrays above are widened to float32)."""
        key = "scale" if self.is_float else "scales" if self.format in ("gptq", "awq") else "weight_scale"
        return SCALE_FORMATS.get(self.tensors[key].dtype, "fp32")

    def group_scales(self) -> np.ndarray:
        """Integer formats: the float32 scales ``(N, groups)`` (a per-tensor scale repeated over the rows)."""
        scale_key = "scales" if self.format in ("gptq", "awq") else "weight_scale"
        scales = self.checkpoint.float32(self.tensors[scale_key].name)
        if scales.size == 1:
            return np.full((self.out_features, 1), float(scales.reshape(-1)[0]), np.float32)
        return (scales.T if self.format in ("gptq", "awq") else scales).reshape(self.out_features, -1)

    def column_groups(self) -> np.ndarray:
        """The group of every input column: ``g_idx`` (act order) when stored, else contiguous blocks of ``group``."""
        if "g_idx" in self.tensors:
            return np.asarray(self._arr("g_idx")).astype(np.int64)
        return np.arange(self.in_features) // self.group

    def _zeros(self, groups: int) -> np.ndarray:
        """Zero points ``(N, K / group)``."""
        if self.format in ("gptq", "awq"):  # (groups, N / per), packed along N (AWQ: in its order)
            z = _unpack(self._arr("qzeros"), self.bits, 1, AWQ_ORDER if self.format == "awq" else None).astype(np.int32)
            if self.format == "gptq" and self.checkpoint.gptq_zero_offset:
                z = z + 1  # GPTQ v1 checkpoints store zero - 1; added back unmasked, as AutoGPTQ does
            return z.T
        if "weight_zero_point" in self.tensors:  # compressed-tensors: signed, as the codes before their offset
            info, z = self.tensors["weight_zero_point"], np.asarray(self._arr("weight_zero_point"))
            if info.dtype in ("I32", "U32") and z.ndim == 2 and z.shape[0] != self.out_features:
                # packed along the rows, the offset included: (ceil(N / per), groups)
                return _unpack(z, self.bits, 0)[: self.out_features].astype(np.int32)
            return z.astype(np.int32).reshape(self.out_features, groups) + (1 << (self.bits - 1))
        return np.full((self.out_features, groups), 1 << (self.bits - 1), dtype=np.int32)  # symmetric: offset codes

    def scales(self) -> np.ndarray:
        """FP8: the float32 scales, one per block ``(ceil(N / rows), ceil(K / columns))``."""
        scale = self.checkpoint.float32(self.tensors["scale"].name)
        br, bc = self.block
        return scale.reshape(-(-self.out_features // br), -(-self.in_features // bc))

    def dequantize(self) -> np.ndarray:
        """The float32 weight ``(N, K)``: ``(code - zero) * scale`` of each column's group; FP8: ``value(code) *
        scale`` of each element's block."""
        if self.is_float:
            br, bc = self.block
            scale = self.scales()[np.arange(self.out_features) // br][:, np.arange(self.in_features) // bc]
            return fp8_values(self.codes(), self.tensors["weight"].dtype) * scale
        codes = self.codes().astype(np.int32)
        scales = self.group_scales()
        col_group = self.column_groups() if scales.shape[1] > 1 else np.zeros(self.in_features, np.int64)
        zeros = self._zeros(scales.shape[1])
        return ((codes - zeros[:, col_group]) * scales[:, col_group]).astype(np.float32)


class Checkpoint:
    """The tensors of a ``.safetensors`` file or of every ``*.safetensors`` shard in a folder (module docstring).
    ``quantization`` is the folder's ``config.json`` ``quantization_config`` (or ``quantize_config.json``)."""

    def __init__(self, source):
        path = Path(source)
        if path.name.endswith(".safetensors.index.json") and path.is_file():
            path = path.parent  # a sharded checkpoint named by its index: the folder it indexes
        if path.is_dir():
            files = sorted(path.glob("*.safetensors"))
            if not files:
                raise WorkloadError(f"{path}: folder holds no .safetensors file")
        elif path.is_file():
            files = [path]
        else:
            raise WorkloadError(f"{path}: no such safetensors file or folder")
        self.source = path
        self.tensors: dict[str, TensorInfo] = {}
        self.read: set[str] = set()  # the tensors a reader has asked for (what attach_weights used)
        self.stored: dict[str, str] = {}  # a renamed tensor's name -> its name in the file (:meth:`rename`)
        for f in files:
            for name, info in _read_header(f).items():
                if name in self.tensors:
                    raise WorkloadError(f"{f}: tensor '{name}' is also in {self.tensors[name].path}")
                self.tensors[name] = info
        if path.is_dir():
            self._check_index(path)
        if any("LayerNorm.gamma" in t or "LayerNorm.beta" in t for t in self.tensors):
            # TF-era names of a LayerNorm's scale and shift (BERT's), renamed as transformers renames them on load
            self._renamed(lambda name: name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta",
                                                                                               "LayerNorm.bias"))
        folder = path if path.is_dir() else path.parent
        self.quantization = self._quant_config(folder)
        method = self.quantization.get("quant_method")
        if method is not None and str(method).lower() not in QUANT_METHODS:
            raise WorkloadError(f"{folder}: quantization_config.quant_method {method!r} is not read; known: "
                                f"{', '.join(QUANT_METHODS)}")
        groups = self.quantization.get("config_groups") or {}
        if isinstance(groups, dict) and len(groups) > 1:
            raise WorkloadError(f"{folder}: quantization_config has {len(groups)} config_groups (a mixed-precision "
                                "compressed-tensors checkpoint, each group on its own targets); one group is read")
        # GPTQ checkpoints written by AutoGPTQ / GPTQModel v1 store zero points minus one ("gptq"; "gptq_v2" stores
        # them as they are): transformers reads the config's "format", then its older "checkpoint_format"
        fmt = self.quantization.get("format") or self.quantization.get("checkpoint_format") or "gptq"
        self.gptq_zero_offset = str(fmt).lower() == "gptq"

    def _check_index(self, folder: Path) -> None:
        """A sharded checkpoint's ``*.safetensors.index.json``: every tensor of its ``weight_map`` must be in the
        shard it names (a shard missing from the folder is refused, not noted as missing layers)."""
        for index in sorted(folder.glob("*.safetensors.index.json")):
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8-sig")).get("weight_map")
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                raise WorkloadError(f"{index}: not a safetensors index (JSON with a 'weight_map' object)") from None
            if not isinstance(weight_map, dict):
                raise WorkloadError(f"{index}: field 'weight_map' must map tensor names to shard files")
            for name, shard in weight_map.items():
                if isinstance(shard, str) and (Path(shard).is_absolute() or Path(shard).name != shard):
                    raise WorkloadError(f"{index}: tensor '{name}' names shard {shard!r}, outside the folder: a shard "
                                        "must be a file name in the index's own folder")
                if not isinstance(shard, str) or not (folder / shard).is_file():
                    raise WorkloadError(f"{index}: tensor '{name}' is in shard {shard!r}, which the folder does not hold")
                info = self.tensors.get(name)
                if info is None or info.path.name != shard:
                    raise WorkloadError(f"{index}: tensor '{name}' is not in its shard '{shard}'")

    @staticmethod
    def _quant_config(folder: Path) -> dict:
        for name, key in (("config.json", "quantization_config"), ("quantize_config.json", None)):
            p = folder / name
            if p.is_file():
                try:
                    data = json.loads(p.read_text(encoding="utf-8-sig"))
                except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                    continue
                data = data.get(key) if key else data
                if isinstance(data, dict):
                    return data
        return {}

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def rename(self, old: str, new: str, keep=None) -> None:
        """Read the tensors whose names start with the module path ``old`` (``""``: every tensor) under ``new``
        instead: ``bert.`` -> ``""`` for a BertForMaskedLM checkpoint, whose base model the config's graph names;
        ``""`` -> ``model.`` for a bare LlamaModel's ``layers.0...``. Other names keep theirs (a task head's tensors,
        left unused), and so do those ``keep(name)`` is true for."""
        self._renamed(lambda name: new + name[len(old):] if name.startswith(old) and not (keep and keep(name)) else name)

    def _renamed(self, to_name) -> None:
        """Every tensor under ``to_name(name)``, the file's name kept in :attr:`stored` for messages; two tensors
        that would read as one name are refused."""
        renamed: dict[str, TensorInfo] = {}
        for name, info in self.tensors.items():
            to = to_name(name)
            if to in renamed:
                raise WorkloadError(f"{self.source}: tensors '{self.stored.get(to, to)}' and '{self.stored.get(name, name)}'"
                                    f" both read as '{to}'")
            renamed[to] = replace(info, name=to)
            if to != name:
                self.stored[to] = self.stored.pop(name, name)
        self.tensors = renamed

    def array(self, name: str) -> np.ndarray:
        """The stored tensor, memory-mapped (raw ``uint16`` for bf16, ``uint8`` for FP8)."""
        try:
            info = self.tensors[name]
        except KeyError:
            raise WorkloadError(f"{self.source}: no tensor '{name}' in the checkpoint") from None
        self.read.add(name)
        if 0 in info.shape:
            return np.zeros(info.shape, dtype=DTYPES[info.dtype])
        if not info.shape:  # a scalar (a per-tensor scale): one element
            return np.memmap(info.path, dtype=DTYPES[info.dtype], mode="r", offset=info.offset, shape=(1,)).reshape(())
        return np.memmap(info.path, dtype=DTYPES[info.dtype], mode="r", offset=info.offset, shape=info.shape)

    def where(self, name: str):
        """The file holding tensor ``name`` (its shard in a sharded folder), for messages; the source if unknown."""
        info = self.tensors.get(name)
        return info.path if info is not None else self.source

    def float32(self, name: str) -> np.ndarray:
        """The tensor as float32 (bf16 widened exactly; int and FP8 tensors refused)."""
        info = self.tensors.get(name)
        raw = self.array(name)
        if info.dtype == "BF16":
            return (np.asarray(raw).astype(np.uint32) << 16).view(np.float32)
        if info.dtype == "F64":  # narrowed to the float32 every weight is kept in, within its range
            wide = np.asarray(raw)
            finite = wide[np.isfinite(wide)]
            if finite.size and float(np.max(np.abs(finite))) > float(np.finfo(np.float32).max):
                raise WorkloadError(f"{self.where(name)}: tensor '{self.stored.get(name, name)}' is F64 with values "
                                    f"beyond float32's range (largest magnitude {float(np.max(np.abs(finite))):.3g}); "
                                    "weights are kept as float32")
            return wide.astype(np.float32)
        if info.dtype in ("F16", "F32"):
            return np.asarray(raw, dtype=np.float32)
        raise WorkloadError(f"{self.source}: tensor '{self.stored.get(name, name)}' is {info.dtype}, not a float tensor")

    def packed(self, layer: str) -> PackedWeight | None:
        """The quantized weight of ``layer`` (module docstring), checked against the formats' tensor shapes and
        types, or None when it is stored dense."""
        q = self.quantization
        bits = int(q.get("bits", q.get("w_bit", 4)) or 4)
        group = int(q.get("group_size", q.get("q_group_size", 128)) or 128)
        stored = [k for k in ("qweight", "weight_packed") if f"{layer}.{k}" in self.tensors]
        if stored and f"{layer}.weight" in self.tensors:
            raise WorkloadError(f"{self.source}: layer '{layer}' is stored twice: a dense '{layer}.weight' and a packed "
                                f"'{layer}.{stored[0]}'")
        if f"{layer}.qweight" in self.tensors:
            method = str(q.get("quant_method", "")).lower()
            if method not in ("gptq", "awq"):  # no config: GPTQ stores g_idx, AWQ does not
                method = "gptq" if f"{layer}.g_idx" in self.tensors else "awq"
            version = str(q.get("version", "gemm") or "gemm").lower()
            if method == "awq" and version.startswith("gemv"):  # (exllama / ipex are kernels over GEMM-packed files)
                raise WorkloadError(f"{self.source}: AWQ checkpoint of version '{version}' (GEMV packing); the GEMM "
                                    "layout is read")
            fmt = method
            keys = [k for k in ("qweight", "qzeros", "scales", "g_idx") if f"{layer}.{k}" in self.tensors]
            tensors = {k: self.tensors[f"{layer}.{k}"] for k in keys}
            self._check_bits(layer, bits)
            qw = tensors["qweight"].shape
            if len(qw) != 2:
                raise WorkloadError(f"{self.source}: tensor '{layer}.qweight' has shape {list(qw)}; a 2-D array of "
                                    "int32 words is expected")
            k_in, n_out = (qw[0] * 32 // bits, qw[1]) if fmt == "gptq" else (qw[0], qw[1] * 32 // bits)
            if "g_idx" in tensors and len(tensors["g_idx"].shape) == 1 and tensors["g_idx"].shape[0] != k_in:
                raise WorkloadError(f"{self.source}: tensor '{layer}.qweight' of shape {list(qw)} holds {k_in} input rows "
                                    f"of {bits}-bit codes; '{layer}.g_idx' names {tensors['g_idx'].shape[0]} (one per input)")
            if group <= 0:
                group = k_in
            return self._checked(PackedWeight(layer, fmt, bits, group, n_out, k_in, tensors, self))
        if f"{layer}.weight_packed" in self.tensors:
            strategy = "group"
            groups_cfg = q.get("config_groups") or {}
            for g in groups_cfg.values() if isinstance(groups_cfg, dict) else []:
                w = (g or {}).get("weights") or {}
                bits = int(w.get("num_bits", bits) or bits)
                group = int(w.get("group_size") or 0) or group
                strategy = str(w.get("strategy") or "group").lower()
            names = {"weight_packed": "weight_packed", "weight_scale": "weight_scale",
                     "weight_zero_point": "weight_zero_point", "weight_shape": "weight_shape", "g_idx": "weight_g_idx"}
            tensors = {k: self.tensors[f"{layer}.{t}"] for k, t in names.items() if f"{layer}.{t}" in self.tensors}
            self._check_bits(layer, bits)
            wp = tensors["weight_packed"].shape
            if len(wp) != 2:
                raise WorkloadError(f"{self.source}: tensor '{layer}.weight_packed' has shape {list(wp)}; a 2-D array "
                                    "of int32 words is expected")
            n_out = wp[0]
            if "weight_shape" in tensors:
                k_in = int(np.asarray(self.array(f"{layer}.weight_shape")).reshape(-1)[-1])
            else:
                k_in = wp[1] * 32 // bits
            if strategy in ("channel", "tensor"):  # one scale per output row / for the whole tensor
                group = k_in
            return self._checked(PackedWeight(layer, "compressed-tensors", bits, group, n_out, k_in, tensors, self))
        weight = self.tensors.get(f"{layer}.weight")
        if weight is not None and weight.dtype in FP8:
            return self._fp8(layer, weight)
        return None

    def _check_bits(self, layer: str, bits: int) -> None:
        if bits not in (2, 4, 8):
            raise WorkloadError(f"{self.source}: layer '{layer}': {bits}-bit packing is not read (2, 4 or 8 bits: "
                                "codes whole in each 32-bit word; GPTQ's 3-bit layout splits codes across words)")

    def _checked(self, p: PackedWeight) -> PackedWeight:
        """``p`` once every tensor of its format is present with the type and shape the format gives (GPTQ / AWQ:
        ``scales`` ``(G, N)``, ``qzeros`` ``(G, N / per)``; compressed-tensors: ``weight_scale`` ``(N, G)``;
        ``g_idx`` ``(K,)`` naming groups below ``G``; ``G = ceil(K / group)``)."""
        per, n, k = 32 // p.bits, p.out_features, p.in_features
        groups = -(-k // p.group) if p.group > 0 else 0
        where = f"{p.format} {p.bits}-bit, {n} outputs x {k} inputs, group {p.group}"
        words, floats, ints = ("I32", "U32"), ("F16", "BF16", "F32"), ("I32", "I64")

        def need(key: str, dtypes, shapes) -> None:
            info = p.tensors.get(key)
            if info is None:
                raise WorkloadError(f"{self.source}: packed layer '{p.layer}' ({p.format}) has no tensor "
                                    f"'{p.layer}.{'weight_g_idx' if key == 'g_idx' and p.format == 'compressed-tensors' else key}'")
            if info.dtype not in dtypes:
                raise WorkloadError(f"{self.source}: tensor '{info.name}' is {info.dtype}; {' / '.join(dtypes)} expected "
                                    f"({where})")
            if shapes is not None and tuple(info.shape) not in shapes:
                raise WorkloadError(f"{self.source}: tensor '{info.name}' has shape {list(info.shape)}; expected "
                                    f"{' or '.join(str(list(s)) for s in shapes)} ({where})")

        if n < 1 or k < 1 or groups < 1:
            raise WorkloadError(f"{self.source}: packed layer '{p.layer}' has no elements ({where})")
        if p.format in ("gptq", "awq"):
            need("qweight", words, None)
            need("scales", floats, {(groups, n)})
            need("qzeros", words, {(groups, -(-n // per))})
        else:
            need("weight_packed", words, {(n, -(-k // per))})
            scale_shapes = {(n, groups)} | ({(n,), (1,), ()} if groups == 1 else set())
            need("weight_scale", floats, scale_shapes)
            if "weight_zero_point" in p.tensors:
                need("weight_zero_point", ("I8", "I32", "U32", "U8"), {(n, groups), (-(-n // per), groups)})
            if "weight_shape" in p.tensors:
                shape = [int(v) for v in np.asarray(self.array(p.tensors["weight_shape"].name)).reshape(-1)]
                if shape != [n, k]:
                    raise WorkloadError(f"{self.source}: tensor '{p.tensors['weight_shape'].name}' gives {shape}; the "
                                        f"packed codes hold {n} rows ({where})")
        if "g_idx" in p.tensors:
            need("g_idx", ints, {(k,)})
            g_idx = np.asarray(self.array(p.tensors["g_idx"].name))
            if g_idx.size and (g_idx.min() < 0 or g_idx.max() >= groups):
                bad = int(g_idx.min()) if g_idx.min() < 0 else int(g_idx.max())
                raise WorkloadError(f"{self.source}: tensor '{p.tensors['g_idx'].name}' names group {bad}; the scales "
                                    f"hold groups 0..{groups - 1} ({where})")
        return p

    def activation_bits(self) -> int | None:
        """8 when ``quantization_config`` quantizes activations too (``activation_scheme`` dynamic / static, as
        DeepSeek-V3 and Qwen3-FP8 give it; compressed-tensors ``input_activations`` of 8 bits), else None."""
        q = self.quantization
        if str(q.get("activation_scheme", "")).lower() in ("dynamic", "static"):
            return 8
        groups = q.get("config_groups") or {}
        for g in groups.values() if isinstance(groups, dict) else []:
            acts = (g or {}).get("input_activations") or {}
            if isinstance(acts, dict) and acts.get("num_bits") == 8:
                return 8
        return None

    def _fp8(self, layer: str, weight: TensorInfo) -> PackedWeight:
        """An FP8 weight (module docstring) with its scales' block."""
        if len(weight.shape) != 2:
            raise WorkloadError(f"{self.source}: FP8 weight '{weight.name}' has shape {list(weight.shape)}; a 2-D "
                                "matrix is expected")
        n, k = weight.shape
        scale = self.tensors.get(f"{layer}.weight_scale_inv") or self.tensors.get(f"{layer}.weight_scale")
        if scale is None:
            raise WorkloadError(f"{self.source}: FP8 weight '{weight.name}' has no weight_scale_inv or weight_scale")
        count = math.prod(scale.shape)
        configured = self.quantization.get("weight_block_size")
        strategy = None
        for g in (self.quantization.get("config_groups") or {}).values():  # compressed-tensors strategy "block"
            w = (g or {}).get("weights") or {}
            strategy = str(w.get("strategy") or "").lower() or strategy
            if configured is None and strategy == "block":
                configured = w.get("block_structure")
        if str(self.quantization.get("quant_method", "")).lower() == "fbgemm_fp8":
            strategy = "channel"  # FBGEMM's FP8: one scale per output row
        # a configured per-tensor / per-channel strategy fixes the scale's shape: another shape would be read as some
        # other grid (a (N/2, 1) scale as blocks of two rows, its transpose as one scale per input column)
        expected = {"tensor": [(), (1,), (1, 1)], "channel": [(n,), (n, 1)]}.get(strategy)
        if expected is not None and tuple(scale.shape) not in expected:
            raise WorkloadError(f"{self.source}: scale '{scale.name}' of shape {list(scale.shape)} does not match the "
                                f"config's FP8 strategy '{strategy}' for weight {list(weight.shape)} (expected "
                                f"{' or '.join(str(list(e)) for e in expected)})")
        if configured is None and str(self.quantization.get("quant_method", "")).lower() == "fp8":
            configured = [128, 128]  # transformers' FineGrainedFP8Config default weight_block_size
        if count == 1:
            block = (n, k)
        elif count == n and (len(scale.shape) == 1 or scale.shape[-1] == 1):
            block = (1, k)
        elif isinstance(configured, list) and len(configured) == 2 and all(isinstance(b, int) and b > 0 for b in configured):
            block = (configured[0], configured[1])
        elif len(scale.shape) == 2 and n % scale.shape[0] == 0 and k % scale.shape[1] == 0:
            # no configured block, and none needed: the grid divides the matrix evenly (partial edge blocks leave
            # the block ambiguous: 320 rows in 3 blocks may be 107 .. 159 rows a block)
            block = (n // scale.shape[0], k // scale.shape[1])
        else:
            block = (0, 0)
        if not all(block) or count != -(-n // block[0]) * -(-k // block[1]):
            raise WorkloadError(f"{self.source}: scale '{scale.name}' of shape {list(scale.shape)} does not tile the FP8 "
                                f"weight {list(weight.shape)} (block {list(block)})")
        return PackedWeight(layer, f"fp8-{FP8[weight.dtype][0]}", 8, block[1], n, k, {"weight": weight, "scale": scale},
                            self, block=block)


#: the ``quantization_config.quant_method`` values whose formats are read (module docstring)
QUANT_METHODS = ("gptq", "awq", "compressed-tensors", "fp8", "fbgemm_fp8")

#: a grouped layer holding a bucket of experts: ``<experts module>.g<bucket>.<matrix name>``
_BUCKET = re.compile(r"^(.*)\.g(\d+)\.([^.]+)$")


#: model types whose projections are transformers' ``Conv1D`` (weights stored ``(in, out)``), and those layers
CONV1D_TYPES = ("gpt2",)
CONV1D_LAYERS = (".c_attn", ".c_proj", ".c_fc")


def _dense(ck: Checkpoint, name: str, shape, conv1d: bool = False) -> np.ndarray | None:
    """The float32 tensor ``name`` in PyTorch layout ``shape``; ``conv1d``: stored ``(in, out)`` (GPT-2's
    ``Conv1D``), turned whatever its shape (a square one too). Any other layout must match ``shape`` as stored
    (a swapped matrix is refused by the caller, as transformers refuses it)."""
    if name not in ck:
        return None
    w = ck.float32(name)
    if not np.all(np.isfinite(w)):  # named here, in the checkpoint, rather than later as the config's weight
        raise WorkloadError(f"{ck.where(name)}: tensor '{ck.stored.get(name, name)}' contains NaN or infinite values")
    if conv1d and w.ndim == 2:
        w = np.ascontiguousarray(w.T)
    # only unit axes may differ ((1, 1, d) stored for a (1, d) parameter): a (4096,) or (64, 64, 1) tensor for a
    # (64, 64) matrix is another layout, returned as stored for the caller to refuse naming both shapes
    same = [d for d in w.shape if d != 1] == [d for d in shape if d != 1]
    return w.reshape(shape) if w.size == math.prod(shape) and w.ndim != len(shape) and same else w


def attach_weights(graph: LayerGraph, source, layers=None, strict: bool = False) -> LayerGraph:
    """A copy of a Hugging Face graph with the checkpoint's weights on its layers (``layers``: only those names).

    Dense tensors (``<layer>.weight``, ``.bias``) are widened to float32 one layer at a time; the experts of a
    grouped MoE layer are stacked from ``<experts>.<e>.<w>.weight``; MLA's absorbed halves are cut out of
    ``kv_b_proj.weight``; a tied head (``lm_head``, ``embed_out``) takes the embedding table; an embedding held as a
bare parameter (ViT's ``cls_token``, ``position_embeddings``) is read under its own name. Packed layers (GPTQ / AWQ /
    compressed-tensors) stay in the checkpoint and are listed in ``metadata['hf']['packed']`` (format, bits,
    group, stored bits). ``strict``: every weighted layer must be found, with its bias where the config gives one (else
    ``metadata['hf']['biases_missing']`` lists them). Shape mismatches are one-line errors."""
    ck = source if isinstance(source, Checkpoint) else Checkpoint(source)
    out = graph.copy()
    hf = out.metadata.setdefault("hf", {})
    prefix = _module_prefix(ck, out)
    if prefix:
        hf["weights_prefix"] = prefix
    routing = (hf.get("routing") or {}).get("blocks", {})
    wanted = None if layers is None else set([layers] if isinstance(layers, str) else layers)
    _check_widening_budget(ck, out, wanted)
    packed, missing, dequantized, no_bias = {}, [], [], []
    for layer in out.layers:
        if wanted is not None and layer.name not in wanted:
            continue
        if layer.op == "layernorm":  # a norm's scale / shift: not kept, but checked against the config
            _check_norm(ck, layer)
        if layer.weight_shape is None:
            continue
        name = layer.name
        p = ck.packed(name)
        if p is not None:
            packed[name] = {"format": p.format, "bits": p.bits, "group": p.group, "stored_bits": p.stored_bits}
            ck.read.update(info.name for info in p.tensors.values())
            bias = _dense(ck, f"{name}.bias", (layer.bias_size,)) if layer.bias_size else None
            if bias is not None:  # a packed layer's bias is stored dense (Qwen2's q / k / v in GPTQ / AWQ files)
                out.set_bias(name, bias)
            elif layer.bias_size:
                no_bias.append(name)
            continue
        conv1d = hf.get("model_type") in CONV1D_TYPES and layer.op == "linear" and name.endswith(CONV1D_LAYERS)
        w = _dense(ck, f"{name}.weight", layer.weight_shape, conv1d)
        if w is None and layer.op == "embedding":  # a bare parameter (ViT's cls_token, position_embeddings)
            w = _dense(ck, name, layer.weight_shape)
        bias = _dense(ck, f"{name}.bias", (layer.bias_size,)) if layer.bias_size else None
        bucket_of = _BUCKET.match(name) if layer.op == "grouped_linear" else None
        if w is None and bucket_of is not None:  # a bucket of experts: <experts>.g<j>.<matrix>
            head, bucket, wname = bucket_of.groups()
            block = next((b for b in routing if head.startswith(b + ".")), None)
            experts = routing.get(block, {}).get("buckets", {}).get(f"g{bucket}", {}).get("experts") if block else None
            if experts is not None:
                parts = [_expert(ck, f"{head}.{e}.{wname}", (layer.out_features, layer.in_features), dequantized)
                         for e in experts]
                w = None if any(x is None for x in parts) else np.concatenate(parts, axis=0)
        if w is None and name.endswith((".kv_b_proj.k_absorbed", ".kv_b_proj.v_absorbed")):
            w = _absorbed(ck, layer)
        if w is None and name == hf.get("lm_head") and hf.get("tied"):  # a tied head reads the vocabulary table
            table = out.weights.get(hf["embed"])  # the one already read, held once (not a second float32 copy)
            w = table if table is not None and tuple(table.shape) == tuple(layer.weight_shape) else \
                _dense(ck, f"{hf['embed']}.weight", layer.weight_shape)
        if w is None:
            missing.append(name)
            continue
        if tuple(w.shape) != tuple(layer.weight_shape):
            raise WorkloadError(f"{ck.source}: tensor for layer '{name}' has shape {list(w.shape)}; the config gives "
                                f"{list(layer.weight_shape)}")
        out.set_weight(name, w, bias)
        if bias is None and layer.bias_size:
            no_bias.append(name)
    if strict and missing:
        raise WorkloadError(f"{ck.source}: no weights for {len(missing)} layer(s), first '{missing[0]}'")
    if strict and no_bias:  # the config gives these layers a bias (Qwen2's q / k / v) the checkpoint does not hold
        raise WorkloadError(f"{ck.source}: no bias for {len(no_bias)} layer(s) the config gives one, first '{no_bias[0]}' "
                            f"(expected '{no_bias[0]}.bias')")
    if wanted is None and missing and not packed and len(missing) == sum(1 for x in out.layers if x.weight_shape is not None):
        some = sorted(ck.tensors)[:2]
        raise WorkloadError(f"{ck.source}: no tensor matches a layer of the config (0 of {len(missing)} weighted layers; "
                            f"expected names such as '{missing[0]}.weight', the file holds {', '.join(map(repr, some))}"
                            f"{' ...' if len(ck.tensors) > 2 else ''}): the checkpoint of another model?")
    hf["packed"] = packed
    hf["weights_missing"] = missing
    hf["biases_missing"] = no_bias
    hf["weights_source"] = str(ck.source)  # provenance: where the values come from (not the config file)
    if wanted is None:  # tensors no layer of the config read (a layer beyond num_hidden_layers, a stray name)
        # experts of a routed block that this step routes no token to are the config's, not stray: counted apart
        heads = tuple(f"{m.group(1)}." for m in (_BUCKET.match(x.name) for x in out.layers if x.op == "grouped_linear") if m)
        unread = [t for t in ck.tensors if t not in ck.read and not t.endswith(UNUSED_OK)]
        hf["experts_unrouted"] = sum(1 for t in unread if t.startswith(heads)) if heads else 0
        hf["weights_unused"] = sorted(ck.stored.get(t, t) for t in unread if not (heads and t.startswith(heads)))
    if dequantized:
        hf["dequantized_experts"] = dequantized
    return out


#: tensors a checkpoint may hold that no layer reads: buffers saved by older transformers (GPT-2's causal mask,
#: rotary frequencies)
UNUSED_OK = (".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq", ".input_scale",  # (FP8 activation scales: activation_bits)
             ".e_score_correction_bias")  # DeepSeek-V3's router bias: routing is statistical here (routing=)


def _check_widening_budget(ck: Checkpoint, graph: LayerGraph, wanted) -> None:
    """Refuse, before any tensor is read, dense float weights whose float32 copies exceed
    :func:`~accelsim.workload.layers.max_checkpoint_weights` (packed GPTQ / AWQ / FP8 layers stay packed and do
    not count): one line naming the count, the bytes and the budget, not a kill for memory."""
    from accelsim.workload.layers import max_checkpoint_weights

    total = 0
    for layer in graph.layers:
        if layer.weight_shape is None or (wanted is not None and layer.name not in wanted):
            continue
        info = ck.tensors.get(f"{layer.name}.weight")
        if info is not None and info.dtype in ("F16", "BF16", "F32", "F64"):
            total += math.prod(info.shape)
    budget = max_checkpoint_weights()
    if total > budget:
        raise WorkloadError(f"{ck.source}: {total:,} dense weights would take {4 * total / 2**30:.3g} GiB as float32; "
                            f"over the budget of {budget:,} (ACCELSIM_MAX_CHECKPOINT_WEIGHTS, default physical memory "
                            "/ 8 bytes): simulate without --weights (dense cost needs shapes only), give a packed "
                            "(GPTQ / AWQ / FP8) checkpoint, or raise the budget")


def _module_prefix(ck: Checkpoint, graph: LayerGraph) -> str:
    """Where the checkpoint's names and the graph's differ by a leading module path, the tensors renamed to the graph's
    names and the difference returned (``'bert.' -> ''``); ``""`` when they agree or no such path is found. A task
    model's checkpoint (BertForMaskedLM, RobertaForSequenceClassification, ViTForImageClassification) holds its base
    model under transformers' ``base_model_prefix`` (``bert.``, ``roberta.``, ``distilbert.``, ``vit.``); a bare base
    model's (LlamaModel) lacks its causal LM's ``model.``; a vision-language model's holds its language model under
    ``language_model.`` (``language_model.model.layers`` or ``model.language_model.layers``). Found from the graph's
    first weighted layer: the longest tail of its name the checkpoint holds at a module boundary."""
    first = next((layer.name for layer in graph.layers if layer.weight_shape is not None), None)
    if first is None or any(t.startswith(f"{first}.") or t == first for t in ck.tensors):
        return ""
    parts = first.split(".")
    for cut in range(len(parts)):  # the graph's leading `cut` components are replaced by the stored path
        tail = ".".join(parts[cut:])
        marker = f".{tail}."
        stored = next((t for t in ck.tensors if marker in f".{t}"), None)
        if stored is not None:
            old = stored[:f".{stored}".index(marker)]
            new = ".".join(parts[:cut]) + "." if cut else ""
            layer_names = {layer.name for layer in graph.layers}
            ck.rename(old, new, keep=lambda t: t.rsplit(".", 1)[0] in layer_names)  # a head beside a bare model
            return f"'{old}' -> '{new}'"
    return ""


def _check_norm(ck: Checkpoint, layer) -> None:
    """A norm's stored scale and shift must hold one value per normalised feature (``affine``, else the last axis);
    a norm with a scale per head may be stored one module per head (StableLM's ``q_layernorm.norms.<h>``), each
    holding the last axis's features."""
    features = layer.affine or layer.input_shape[-1]
    names = [f"{layer.name}.{part}" for part in ("weight", "bias")]
    if layer.affine and f"{layer.name}.norms.0.weight" in ck:
        features = layer.input_shape[-1]
        names = [f"{layer.name}.norms.{h}.{part}" for h in range(layer.affine // features) for part in ("weight", "bias")]
    for name in names:
        if name in ck:
            shape = tuple(ck.tensors[name].shape)
            # one value per feature, as a vector (a per-head scale, affine, may be stored (heads, head_dim))
            if math.prod(shape) != features or (not layer.affine and len([d for d in shape if d != 1]) > 1):
                raise WorkloadError(f"{ck.source}: tensor '{ck.stored.get(name, name)}' has shape {list(shape)}; the config's norm "
                                    f"'{layer.name}' normalises {features} features")
            if not np.all(np.isfinite(ck.float32(name))):  # one value per feature: read whole
                raise WorkloadError(f"{ck.where(name)}: tensor '{ck.stored.get(name, name)}' contains NaN or infinite values")


def _expert(ck: Checkpoint, name: str, shape, dequantized: list) -> np.ndarray | None:
    """One expert's matrix of a bucket: dense, or a quantized one (FP8, GPTQ, AWQ, compressed-tensors) dequantized (a
    bucket stacks several experts into one layer, which keeps no per-expert format; listed in ``dequantized``)."""
    p = ck.packed(name)
    if p is None:
        return _dense(ck, f"{name}.weight", shape)
    dequantized.append(name)
    return p.dequantize().reshape(shape)


def _absorbed(ck: Checkpoint, layer) -> np.ndarray | None:
    """MLA: ``kv_b_proj.weight`` ``(H * (nope + v), r)`` cut into the per-head key half ``(H * r, nope)``
    (``W_UK`` transposed) or value half ``(H * v, r)``."""
    base = layer.name.rsplit(".", 1)[0]
    if f"{base}.weight" not in ck:
        return None
    w = ck.float32(f"{base}.weight")
    heads, r = layer.groups, w.shape[1]
    per = w.shape[0] // heads
    w = w.reshape(heads, per, r)
    if layer.name.endswith("k_absorbed"):
        nope = layer.in_features
        return np.ascontiguousarray(w[:, :nope, :].transpose(0, 2, 1)).reshape(heads * r, nope)
    v = layer.out_features
    return np.ascontiguousarray(w[:, per - v:, :]).reshape(heads * v, r)
