"""Weights and activations for a LayerGraph: deterministic synthesis, ``.npz`` loading, activation samples.

Synthesis (:func:`synthesize_weights`) draws every weight tensor from its own generator, seeded by
``(seed, crc32(layer name))``, so a layer's weights depend only on the seed and its name: adding or
renaming another layer never changes them, and runs are reproducible across processes (``crc32`` is
stable, unlike Python's ``hash``). Distributions, with ``fan_in = K`` of the layer's weight matrix
(``C/groups * kh * kw`` for a conv, ``in_features`` for a linear, ``input + hidden + 1`` for a
recurrent cell's gate matrix):

* ``he_normal``: ``N(0, std^2)`` with ``std = sqrt(2 / fan_in)`` (He et al. 2015);
* ``laplace``: Laplace with the same variance, scale ``b = std / sqrt(2)`` (``var = 2 b^2``), the
  heavier-tailed shape trained weights tend to have.

Biases are zero. A recurrent cell's folded bias column is part of its weight matrix (EIE stores and
multiplies it like any other column), so it is drawn like the other columns. Embedding tables are not
synthesized (they are lookups, not GEMM operands); load them from a file if needed.

:func:`load_npz` reads weights by layer name (PyTorch ``state_dict`` style ``name.weight`` /
``name.bias`` keys also work), :func:`save_npz` writes them back, and :func:`sample_activations`
draws a non-negative activation vector with an exact number of non-zeros.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np

from accelsim.errors import ShapeError, UnknownNameError, WorkloadError
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Input, Layer, max_graph_weights, max_weights

INITS = ("he_normal", "laplace")


def layer_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of one layer: seeded by ``(seed, crc32(name))``; independent of other layers."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def fan_in(layer: Layer) -> int:
    """Reduction length K of the layer's ``(N * groups, K)`` weight matrix."""
    shape = layer.weight_matrix_shape
    if shape is None:
        raise WorkloadError(f"layer '{layer.name}' ({layer.op}) has no weight matrix")
    return int(shape[1])


def init_std(layer: Layer) -> float:
    """He-normal standard deviation ``sqrt(2 / fan_in)`` (both inits share this variance)."""
    return math.sqrt(2.0 / fan_in(layer))


def _check_seed(seed) -> int:
    """``seed`` as an int in ``[0, MAX_SEED]`` (:func:`accelsim.config.seed_problem`), else a WorkloadError."""
    from accelsim.config import seed_problem

    seed = int(seed) if isinstance(seed, np.integer) else seed
    problem = seed_problem(seed)
    if problem:
        raise WorkloadError(problem)
    return seed


def synthesize_weights(
    graph: LayerGraph,
    seed: int = 0,
    init: str = "he_normal",
    *,
    layers: Iterable[str] | None = None,
    dtype=np.float32,
    overwrite: bool = True,
) -> LayerGraph:
    """A copy of ``graph`` with synthetic weights (and zero biases) on every layer that has weights.

    ``layers`` restricts synthesis to the named layers (each must exist and have weights);
    ``overwrite=False`` keeps weights already attached. ``dtype`` is the element type (float32
    keeps VGG-16's 138M weights at 553 MB). Raises WorkloadError for an unknown ``init``, a bad seed
    or a named layer without weights; UnknownNameError for a name not in the graph; and, before any
    weight is drawn, WorkloadError naming the first layer whose weights exceed the memory budget
    :func:`~accelsim.workload.layers.max_weights` (``ACCELSIM_MAX_WEIGHTS``, default 2^31 per layer).
    """
    seed = _check_seed(seed)
    if init not in INITS:
        raise WorkloadError(f"synthesize_weights: init must be one of {', '.join(INITS)}; got {init!r}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise WorkloadError(f"synthesize_weights: dtype must be a floating-point type; got {dtype}")
    if layers is None:
        targets = [layer for layer in graph.layers if layer.has_weights]
    else:
        targets = []
        for name in ([layers] if isinstance(layers, str) else layers):
            layer = graph.layer(name)
            if not layer.has_weights:
                raise WorkloadError(f"{graph.name}: layer '{name}' ({layer.op}) has no weights to synthesize")
            targets.append(layer)
    check_weight_budget(graph, [t for t in targets if overwrite or t.name not in graph.weights])
    out = graph.copy()
    for layer in targets:
        if not overwrite and layer.name in out.weights:
            continue
        w, bias = synthesize_layer(layer, seed, init, dtype)
        out.set_weight(layer.name, w, bias)
    return out


def synthesize_layer(layer: Layer, seed: int = 0, init: str = "he_normal", dtype=np.float32
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(weight, bias)`` of one layer exactly as :func:`synthesize_weights` draws them (the layer's own
    generator :func:`layer_rng`; zero bias, None without one): compression streams a graph's synthetic
    weights one layer at a time with it. No budget or argument checks (see :func:`synthesize_weights`)."""
    dtype = np.dtype(dtype)
    rng = layer_rng(int(seed), layer.name)
    w = _draw(rng, init, init_std(layer), int(math.prod(layer.weight_shape)), dtype).reshape(layer.weight_shape)
    return w, (np.zeros(layer.bias_size, dtype=dtype) if layer.bias_size else None)


def check_weight_budget(graph: LayerGraph, layers: Iterable[Layer]) -> None:
    """Refuse, before any memory is taken, a layer whose weight tensor exceeds :func:`max_weights`
    (one line naming the graph, the layer, its weights and bytes at float32, and the budget), then
    layers that together exceed :func:`max_graph_weights` (synthesized weights are held with their
    compressed copies: a 7B LLM would take 27 GB as float32)."""
    budget = max_weights()
    total = 0
    for layer in layers:
        shape = layer.weight_shape
        size = int(math.prod(shape)) if shape is not None else 0
        if size > budget:
            raise WorkloadError(
                f"{graph.name}: layer '{layer.name}' ({layer.op}) has {size:.3g} weights ({4 * size / 2**30:.3g} GiB "
                f"as float32); over the budget of {budget:.3g} weights per layer (set ACCELSIM_MAX_WEIGHTS to raise it)")
        total += size
    graph_budget = max_graph_weights()
    if total > graph_budget:
        raise WorkloadError(
            f"workload '{graph.name}': synthesizing {total:,} weights is over the budget of {graph_budget:,} per graph "
            "(ACCELSIM_MAX_GRAPH_WEIGHTS); simulate it without a recipe (dense cost needs shapes only), give real "
            "weights, or raise the budget")


_CHUNK = 1 << 22  # draw in 4M-element chunks so float64 temporaries stay small (VGG fc6 is 103M)


def _draw(rng: np.random.Generator, init: str, std: float, size: int, dtype: np.dtype) -> np.ndarray:
    out = np.empty(size, dtype=dtype)
    native = np.float32 if dtype == np.float32 else np.float64
    for start in range(0, size, _CHUNK):
        n = min(_CHUNK, size - start)
        if init == "he_normal":
            chunk = rng.standard_normal(n, dtype=native) * native(std)
        else:  # Laplace(0, b) with var 2 b^2 = std^2
            chunk = rng.laplace(0.0, std / math.sqrt(2.0), n)
        out[start:start + n] = chunk
    return out


# --- .npz -------------------------------------------------------------------------------------------
def _resolve_key(graph: LayerGraph, key: str) -> tuple[str, str] | None:
    """``key`` -> (layer name, 'weight' | 'bias'), or None when it names no layer."""
    if key in graph:
        return key, "weight"
    for suffix, kind in ((".weight", "weight"), (".bias", "bias")):
        if key.endswith(suffix) and key[: -len(suffix)] in graph:
            return key[: -len(suffix)], kind
    return None


def not_an_array_file(path: str | Path, expected: str = ".npz") -> str | None:
    """Why ``path`` is not a NumPy array file, from its first bytes (None when it is one: a zip archive, as an
    ``.npz`` is, or a ``.npy`` array). NumPy reads any other file as a pickle, so its error for a text file
    speaks of pickled objects; the caller words this instead, e.g. ``not a .npz file (...)``."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None  # (the caller's own open reports it)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        return None
    what = "empty" if not head else f"starts with {head!r}"
    return f"not a {expected} file: neither a zip archive of arrays nor a .npy array ({what})"


def load_npz(graph: LayerGraph, path: str | Path, strict: bool = False) -> LayerGraph:
    """A copy of ``graph`` with the weights stored in an ``.npz`` archive, by layer name.

    Keys are layer names (the weight) or ``<layer>.weight`` / ``<layer>.bias``. A weight may be in
    PyTorch layout (``layer.weight_shape``) or already the ``(N * groups, K)`` matrix. ``strict``
    also requires every layer with weights to be present. Every problem is a WorkloadError naming
    the file and the layer: missing or unreadable file, a key that names no layer, a layer without
    weights, a wrong shape, a non-numeric array, NaN or infinite values.
    """
    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"{path}: weight file not found")
    why = not_an_array_file(path)
    if why:
        raise WorkloadError(f"{path}: {why}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise WorkloadError(f"{path}: not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise WorkloadError(f"{path}: expected an .npz archive of named arrays; got a single array")
    out = graph.copy()
    weights: dict[str, np.ndarray] = {}
    biases: dict[str, np.ndarray] = {}
    with archive:
        for key in archive.files:
            resolved = _resolve_key(graph, key)
            if resolved is None:
                close = UnknownNameError("layer", key, [layer.name for layer in graph.compute_layers()])
                raise WorkloadError(f"{path}: array '{key}': {close}") from None
            name, kind = resolved
            try:
                array = archive[key]
            except (ValueError, OSError, zipfile.BadZipFile) as exc:
                raise WorkloadError(f"{path}: layer '{name}': cannot read array '{key}' ({exc})") from None
            (weights if kind == "weight" else biases)[name] = array
    for name, array in weights.items():
        layer = graph.layer(name)
        if layer.weight_shape is None:
            raise WorkloadError(f"{path}: layer '{name}' ({layer.op}) has no weights; got an array of shape {list(array.shape)}")
        if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating) or array.dtype == bool:
            raise WorkloadError(f"{path}: layer '{name}': weight must be real numbers; got dtype {array.dtype}")
        shape = tuple(array.shape)
        if shape != tuple(layer.weight_shape):
            if layer.weight_matrix_shape is not None and shape == tuple(layer.weight_matrix_shape):
                array = array.reshape(layer.weight_shape)
            else:
                matrix = f" or {list(layer.weight_matrix_shape)}" if layer.weight_matrix_shape else ""
                raise ShapeError(f"{path}: layer '{name}': weight shape {list(shape)}; expected {list(layer.weight_shape)}{matrix}")
        if not np.all(np.isfinite(array)):
            raise WorkloadError(f"{path}: layer '{name}': weight contains NaN or infinite values")
        bias = biases.pop(name, None)
        if bias is not None:
            _check_bias(path, layer, bias)
        out.set_weight(name, array, bias)
    for name, bias in biases.items():  # a bias without its weight in the file
        layer = graph.layer(name)
        _check_bias(path, layer, bias)
        if name not in out.weights:
            raise WorkloadError(f"{path}: layer '{name}': has a bias but no weight (in the file or already attached)")
        out.set_weight(name, out.weights[name], bias)
    if strict:
        missing = [layer.name for layer in graph.layers if layer.has_weights and layer.name not in out.weights]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise WorkloadError(f"{path}: strict load: no weights for layer(s) {shown}")
    return out


def _check_bias(path: Path, layer: Layer, bias: np.ndarray) -> None:
    if layer.bias_size == 0:
        raise WorkloadError(f"{path}: layer '{layer.name}' ({layer.op}) has no bias; got an array of {bias.size} values")
    if not np.issubdtype(bias.dtype, np.number) or bias.dtype == bool or np.issubdtype(bias.dtype, np.complexfloating):
        raise WorkloadError(f"{path}: layer '{layer.name}': bias must be real numbers; got dtype {bias.dtype}")
    if bias.size != layer.bias_size:
        raise ShapeError(f"{path}: layer '{layer.name}': bias has {bias.size} values; expected {layer.bias_size}")
    if not np.all(np.isfinite(bias)):
        raise WorkloadError(f"{path}: layer '{layer.name}': bias contains NaN or infinite values")


def save_npz(graph: LayerGraph, path: str | Path) -> None:
    """Write the attached weights (``name``) and biases (``name.bias``) to an ``.npz`` archive."""
    arrays = {name: np.asarray(w) for name, w in graph.weights.items()}
    arrays.update({f"{name}.bias": np.asarray(b) for name, b in graph.biases.items()})
    if not arrays:
        raise WorkloadError(f"{graph.name}: no weights attached to save")
    try:
        np.savez(Path(path), **arrays)
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot write ({exc.strerror})") from None


# --- activations ------------------------------------------------------------------------------------
def sample_activations(size, density: float, rng, dtype=np.float32) -> np.ndarray:
    """A non-negative activation array with exactly ``round(density * n)`` non-zeros.

    ``size`` is an int (a vector) or a shape tuple (n = its product); the non-zero positions are a
    uniformly random subset (without replacement), their values half-normal ``|N(0, 1)|`` (the
    shape of post-ReLU activations), never exactly zero. ``rng`` is a ``numpy.random.Generator`` or an
    int seed. Rounding is Python's (half to even): density 0.5 of 5 elements gives 2 non-zeros.
    """
    shape = _check_size(size)
    try:
        d = float(density)
    except (TypeError, ValueError):
        raise WorkloadError(f"sample_activations: density must be a number in [0, 1]; got {density!r}") from None
    if not 0.0 <= d <= 1.0:  # also rejects NaN
        raise WorkloadError(f"sample_activations: density must be a number in [0, 1]; got {density!r}")
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = np.random.default_rng(_check_seed(rng))
    if not isinstance(rng, np.random.Generator):
        raise WorkloadError(f"sample_activations: rng must be a numpy Generator or an int seed; got {type(rng).__name__}")
    n = int(math.prod(shape))
    nnz = int(round(d * n))
    out = np.zeros(n, dtype=dtype)
    if nnz:
        positions = rng.choice(n, size=nnz, replace=False)
        values = np.abs(rng.standard_normal(nnz)).astype(dtype)
        values[values == 0] = np.finfo(dtype).tiny
        out[positions] = values
    return out.reshape(shape)


def _check_size(size) -> tuple[int, ...]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        shape = (int(size),)
    elif isinstance(size, (tuple, list)) and size and all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size
    ):
        shape = tuple(int(s) for s in size)
    else:
        raise WorkloadError(f"sample_activations: size must be a positive int or a shape tuple; got {size!r}")
    if any(s < 1 for s in shape):
        raise WorkloadError(f"sample_activations: size must be positive; got {size!r}")
    return shape


def sample_graph_activations(graph: LayerGraph, seed: int = 0, layers: Iterable[str] | None = None) -> LayerGraph:
    """A copy of ``graph`` with an input-activation sample on each layer that has weights.

    Each sample has the shape of the layer's (first) input and its recorded input density
    (``graph.input_density``); the generator is seeded like the weights, by ``(seed, crc32(name))``
    offset so it differs from the weight stream.
    """
    seed = _check_seed(seed)
    names = [layer.name for layer in graph.layers if layer.has_weights] if layers is None else list(layers)
    out = graph.copy()
    for name in names:
        layer = graph.layer(name)
        if isinstance(layer, Input):
            raise WorkloadError(f"{graph.name}: '{name}' is a graph input; samples belong to the layers it feeds")
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8")), 1])
        out.activation_samples[name] = sample_activations(layer.input_shape, graph.input_density(name), rng)
    return out


#: FP8 bit patterns that are NaN or infinite: E4M3 (fn) S.1111.111, E5M2 S.11111.xx (``codes & mask == mask``)
FP8_NAN_MASK = {"fp8-e4m3": 0x7F, "fp8-e5m2": 0x7C}


def _finite(ck, layer: str, values: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise WorkloadError(f"{ck.source}: layer '{layer}': {what} contain NaN or infinite values")


def load_checkpoint(graph: LayerGraph, source, strict: bool = False) -> LayerGraph:
    """A Hugging Face graph with the real weights of a ``.safetensors`` file or folder of shards (``--weights``).

    The checkpoint is read lazily (:class:`accelsim.workload.hf.checkpoint.Checkpoint`: headers checked at once, each
    tensor memory-mapped and widened to float32 one layer at a time). GPTQ / AWQ / compressed-tensors and FP8
    layers stay in their packed format: no float copy is made (FP8: ``element`` e4m3 / e5m2, its bit patterns as
    ``codes`` and one ``scale`` per ``block``; ``activation_bits`` 8 when the config quantizes activations); ``metadata["quantization"][layer]`` records them as the ONNX
    importer records MatMulNBits (``granularity`` blocked, ``block_size`` the group, unsigned ``codes`` ``(N, K)``,
    per-group ``scale`` and ``zero_point`` ``(N, K / group)``), so the hardware models cost them at their real bits.
    A stored ``g_idx`` gives each column its group (an act-order one is noted) and is costed, 32 bits a column.
    Missing layers are noted, or
    refused with ``strict`` (``--strict``)."""
    from accelsim.workload.hf.checkpoint import Checkpoint, attach_weights

    ck = source if isinstance(source, Checkpoint) else Checkpoint(source)
    out = attach_weights(graph, ck, strict=strict)
    quant, notes = out.metadata.setdefault("quantization", {}), out.metadata.setdefault("notes", [])
    fp8_activations = ck.activation_bits()
    for name in out.metadata["hf"]["packed"]:
        p, layer = ck.packed(name), out.layer(name)
        codes = p.codes()
        if layer.weight_matrix_shape is None or tuple(codes.shape) != tuple(layer.weight_matrix_shape):
            raise WorkloadError(f"{ck.source}: packed weight of layer '{name}' unpacks to {list(codes.shape)}; the "
                                f"config gives {list(layer.weight_matrix_shape or ())}")
        if p.is_float:  # FP8: the stored bit patterns, one scale per block
            _finite(ck, name, p.scales(), "scale")
            nan_codes = FP8_NAN_MASK[p.format]
            if np.any((np.asarray(codes) & nan_codes) == nan_codes):
                raise WorkloadError(f"{ck.source}: layer '{name}': FP8 weight holds NaN or infinite codes")
            quant[name] = {"format": p.format, "weight_bits": 8, "element": p.format.split("-")[1], "signed": True,
                           "granularity": "blocked", "block": p.block, "block_size": p.block[1],
                           "scale": np.ascontiguousarray(p.scales()), "scale_format": p.scale_format(),
                           "codes": np.asarray(codes)}
            if fp8_activations:  # W8A8: activations quantized to FP8 at run time too
                quant[name]["activation_bits"] = fp8_activations
            continue
        scales = p.group_scales()
        _finite(ck, name, scales, "scales")
        quant[name] = {"format": p.format, "weight_bits": p.bits, "signed": False, "granularity": "blocked",
                       "block_size": p.group, "scale": np.ascontiguousarray(scales), "scale_format": p.scale_format(),
                       "zero_point": np.ascontiguousarray(p._zeros(scales.shape[1])), "codes": codes,
                       # a symmetric compressed-tensors layer stores no zero point (the offset is the format's)
                       "zero_point_implied": not p.stores_zero_points}
        if "g_idx" in p.tensors:  # stored (GPTQ writes one whether or not it orders the columns): read and costed
            g_idx = quant[name]["g_idx"] = p.column_groups()
            quant[name]["act_order"] = bool(np.any(g_idx != np.arange(p.in_features) // p.group))
            if quant[name]["act_order"]:
                notes.append(f"layer '{name}' ({p.format}): act-order g_idx; each column takes its group's scale")
    if out.metadata["hf"].get("dequantized_experts"):
        n = len(out.metadata["hf"]["dequantized_experts"])
        notes.append(f"{n} quantized expert matri{'x' if n == 1 else 'ces'} (FP8, GPTQ, AWQ or compressed-tensors) "
                     "attached dequantized (a bucket of experts is one layer, which keeps no per-expert format)")
    prefix = out.metadata["hf"].get("weights_prefix")
    if prefix:
        notes.append(f"{ck.source}: tensors read under the config's layer names, the checkpoint's module path {prefix} "
                     "(a task or base model's checkpoint)")
    if out.metadata["hf"].get("experts_unrouted"):
        n = out.metadata["hf"]["experts_unrouted"]
        notes.append(f"{ck.source}: {n} expert tensor(s) of experts this step routes no token to (not read)")
    if out.metadata["hf"].get("weights_unused"):
        unused = out.metadata["hf"]["weights_unused"]
        notes.append(f"{ck.source}: {len(unused)} tensor(s) match no layer of the config and are not used "
                     f"(first '{unused[0]}')")
    if out.metadata["hf"].get("biases_missing"):
        no_bias = out.metadata["hf"]["biases_missing"]
        notes.append(f"{ck.source}: no bias for {len(no_bias)} layer(s) the config gives one (first '{no_bias[0]}'); "
                     "they run without it")
    if out.metadata["hf"].get("weights_missing"):
        missing = out.metadata["hf"]["weights_missing"]
        notes.append(f"{ck.source}: no weights for {len(missing)} layer(s) (first '{missing[0]}'); they keep none")
    if quant:
        from accelsim.workload.hf.config import QUANT_NOTE

        notes[:] = [n for n in notes if not n.startswith(QUANT_NOTE + " (")]  # the checkpoint's layers carry it
        kinds = sorted({q.get("element") or f"int{q['weight_bits']}" for q in quant.values()})
        notes.append(f"{len(quant)} layer(s) kept in their packed format ({', '.join(kinds)}, "
                     f"{', '.join(sorted({q['format'] for q in quant.values()}))})")
    return out


__all__ = [
    "INITS", "fan_in", "init_std", "layer_rng", "load_checkpoint", "load_npz", "sample_activations",
    "sample_graph_activations", "save_npz", "synthesize_layer", "synthesize_weights",
]
