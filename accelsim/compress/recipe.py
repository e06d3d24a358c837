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

Steps (parameters and defaults in :data:`OPS`; equations in ``docs/compression.md``):

* graph steps, which must come first: ``channel_prune`` (filter pruning that shrinks consumers),
  ``svd`` (Linear / 1x1 conv -> two layers), ``tucker2`` (KxK conv -> three layers),
  ``depthwise_separable`` (KxK conv -> depthwise + pointwise);
* weight steps: ``prune`` (magnitude / random / nm / block; layer or global scope),
  ``quantize`` (uniform), ``binarize``, ``ternarize``, ``share`` (k-means codebook),
  ``activations`` (activation bits), ``encode`` (storage format), ``huffman``.

Every recipe value is validated on load; a bad value raises :class:`ConfigError` naming the recipe
file and the field (``recipes/x.yaml: pipeline[0].prune.sparsity must be in [0, 1); got 1.2``).
"""

from __future__ import annotations

import copy
import fnmatch
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from accelsim.config import SAFE_LOADER
from accelsim.compress import prune as P
from accelsim.compress import quantize as Q
from accelsim.compress.compressed import CompressedGraph, CompressedLayer
from accelsim.compress.huffman import HuffmanCode, huffman_code_lengths
from accelsim.compress.kmeans import INITS, kmeans_1d
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
    StorageBits,
)
from accelsim.errors import AccelsimError, CompressionError, ConfigError, UnknownNameError
from accelsim.paths import RECIPE_DIR, bundled
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Input

GRAPH_OPS = ("channel_prune", "svd", "tucker2", "depthwise_separable")
WEIGHT_OPS = ("prune", "quantize", "binarize", "ternarize", "share", "activations", "encode", "huffman")
FORMATS = ("auto", "dense", "csr", "csc", "interleaved_csc", "bitmask", "nm")
BASE_BITS = 32  # the dense reference: 32-bit floats (Deep Compression's "original" size)


# --- parameter schema -----------------------------------------------------------------------------
class _Spec:
    """One parameter: a checker returning an error string (or None) and a default."""

    def __init__(self, check, default=None, required=False):
        self.check, self.default, self.required = check, default, required


def _int_in(lo, hi):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            return f"must be an int in [{lo}, {hi}]"
    return check


def _float_in(lo, hi, lo_open=False, hi_open=False):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            return f"must be a number in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
        if not ok:
            return f"must be in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    return check


def _choice(*options):
    def check(v):
        if v not in options:
            return f"must be one of {', '.join(map(str, options))}"
    return check


def _bool(v):
    if not isinstance(v, bool):
        return "must be true or false"


def _index_bits(v):
    if v is None or v == "auto":
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 32:
        return "must be an int in [1, 32], 'auto' or null (absolute indices)"


def _opt(check):
    return lambda v: None if v is None else check(v)


def _block(v):
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v)):
        return "must be a pair of ints >= 1, e.g. [4, 4]"


def _streams(v):
    if not (isinstance(v, (list, tuple)) and v and all(s in ("payload", "index") for s in v)):
        return "must be a non-empty list of 'payload' and/or 'index'"


def _ranks(v):
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v)):
        return "must be a pair of ints >= 1 [out_rank, in_rank]"


SPARSITY = _Spec(_opt(_float_in(0.0, 1.0, hi_open=True)))
DENSITY = _Spec(_opt(_float_in(0.0, 1.0, lo_open=True)))
OPS: dict[str, dict[str, _Spec]] = {
    "prune": {"method": _Spec(_choice("magnitude", "random", "nm", "block"), "magnitude"),
              "sparsity": SPARSITY, "density": DENSITY, "scope": _Spec(_choice("layer", "global"), "layer"),
              "n": _Spec(_opt(_int_in(1, 1024))), "m": _Spec(_opt(_int_in(1, 1024))),
              "block": _Spec(_opt(_block)), "norm": _Spec(_choice("l1", "l2"), "l1")},
    "quantize": {"bits": _Spec(_int_in(1, 32), required=True), "symmetric": _Spec(_bool, True),
                 "per_channel": _Spec(_bool, False)},
    "binarize": {"per_channel": _Spec(_bool, True)},
    "ternarize": {"threshold": _Spec(_float_in(0.0, 10.0, lo_open=True), 0.7), "per_channel": _Spec(_bool, False)},
    "share": {"bits": _Spec(_int_in(1, 16), required=True), "init": _Spec(_choice(*INITS), "linear"),
              "table_bits": _Spec(_int_in(1, 32), 32), "max_iter": _Spec(_int_in(1, 10_000), 100)},
    "activations": {"bits": _Spec(_int_in(1, 32), required=True)},
    "encode": {"format": _Spec(_choice(*FORMATS), "auto"), "index_bits": _Spec(_index_bits, None),
               "relative": _Spec(_opt(_bool)), "pointer_bits": _Spec(_opt(_int_in(1, 64))),
               "n_pe": _Spec(_int_in(1, 4096), 1), "value_bits": _Spec(_opt(_int_in(1, 32)))},
    "huffman": {"streams": _Spec(_streams, ["payload", "index"])},
    "channel_prune": {"sparsity": _Spec(_float_in(0.0, 1.0, hi_open=True), required=True),
                      "norm": _Spec(_choice("l1", "l2"), "l1"), "strict": _Spec(_bool, False)},
    "svd": {"rank": _Spec(_opt(_int_in(1, 1 << 30))), "rank_fraction": _Spec(_opt(_float_in(0.0, 1.0, lo_open=True))),
            "energy": _Spec(_opt(_float_in(0.0, 1.0, lo_open=True)))},
    "tucker2": {"rank_fraction": _Spec(_opt(_float_in(0.0, 1.0, lo_open=True))), "ranks": _Spec(_opt(_ranks))},
    "depthwise_separable": {},
}


@dataclass(frozen=True)
class Step:
    op: str
    params: Mapping[str, Any]

    def label(self) -> str:
        keys = {k: v for k, v in self.params.items() if v is not None and OPS[self.op][k].default != v}
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

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "description": self.description, "source": self.source,
                "pipeline": [s.label() for s in self.pipeline]}


# --- loading --------------------------------------------------------------------------------------
def recipe_names() -> list[str]:
    return sorted(bundled(RECIPE_DIR))


def _validate_params(op: str, params: Any, where: str, problems: list[str], partial: bool) -> dict[str, Any]:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        problems.append(f"{where} must be a mapping of parameters; got {params!r}")
        return {}
    spec = OPS[op]
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key not in spec:
            known = ", ".join(spec) or "none"
            problems.append(f"{where}.{key} is not a parameter of '{op}' (known: {known})")
            continue
        err = spec[key].check(value)
        if err:
            problems.append(f"{where}.{key} {err}; got {value!r}")
            continue
        out[key] = list(value) if isinstance(value, tuple) else value
    if partial:
        return out
    for key, s in spec.items():
        if key not in out:
            if s.required:
                problems.append(f"{where}.{key} is required")
            out[key] = copy.deepcopy(s.default)
    _cross_check(op, out, where, problems)
    return out


def _cross_check(op: str, p: dict[str, Any], where: str, problems: list[str]) -> None:
    if op == "prune":
        if p["sparsity"] is not None and p["density"] is not None:
            problems.append(f"{where}: give sparsity or density, not both")
        if p["method"] == "nm":
            if p["n"] is None or p["m"] is None:
                problems.append(f"{where}: N:M pruning needs n and m")
            elif p["n"] > p["m"]:
                problems.append(f"{where}.n must be <= m (N:M keeps N of every M); got {p['n']}:{p['m']}")
        else:
            if p["sparsity"] is None and p["density"] is None:
                problems.append(f"{where}: '{p['method']}' pruning needs sparsity or density")
            if p["method"] == "block" and p["block"] is None:
                problems.append(f"{where}: block pruning needs block: [rows, cols]")
    if op == "svd" and sum(p[k] is not None for k in ("rank", "rank_fraction", "energy")) != 1:
        problems.append(f"{where}: give exactly one of rank, rank_fraction, energy")
    if op == "tucker2" and sum(p[k] is not None for k in ("rank_fraction", "ranks")) != 1:
        problems.append(f"{where}: give exactly one of rank_fraction, ranks")
    if op == "encode" and p["relative"] is True and p["index_bits"] is None:
        problems.append(f"{where}: relative indices need index_bits")


def _parse_step(entry: Any, where: str, problems: list[str]) -> Step | None:
    if isinstance(entry, str):
        entry = {entry: {}}
    if not isinstance(entry, Mapping) or len(entry) != 1:
        problems.append(f"{where} must be a mapping with one step name, e.g. {{prune: {{sparsity: 0.5}}}}; got {entry!r}")
        return None
    (op, params), = entry.items()
    if op not in OPS:
        problems.append(f"{where}: unknown step '{op}' (known: {', '.join(OPS)})")
        return None
    return Step(op, _validate_params(op, params, f"{where}.{op}", problems, partial=False))


def _patterns(value: Any, where: str, problems: list[str], default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    problems.append(f"{where} must be a layer name / glob or a list of them; got {value!r}")
    return default


def recipe_from_dict(data: Any, path: str = "<dict>") -> Recipe:
    """Validate a recipe mapping; every problem is reported in one :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a recipe must be a mapping with 'name' and 'pipeline'; got {type(data).__name__}")
    problems: list[str] = []
    known = {"name", "description", "source", "layers", "skip", "seed", "pipeline", "overrides"}
    for key in data:
        if key not in known:
            problems.append(f"'{key}' is not a recipe field (known: {', '.join(sorted(known))})")
    name = data.get("name", Path(path).stem if path != "<dict>" else "recipe")
    if not isinstance(name, str) or not name:
        problems.append(f"name must be a non-empty string; got {name!r}")
        name = "recipe"
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.append(f"seed must be an int >= 0; got {seed!r}")
        seed = 0
    pipe = data.get("pipeline")
    steps: list[Step] = []
    if not isinstance(pipe, list) or not pipe:
        problems.append("pipeline must be a non-empty list of steps")
    else:
        for i, entry in enumerate(pipe):
            step = _parse_step(entry, f"pipeline[{i}]", problems)
            if step is not None:
                if step.op in [s.op for s in steps]:
                    problems.append(f"pipeline[{i}]: step '{step.op}' appears twice")
                steps.append(step)
        seen_weight = False
        for i, s in enumerate(steps):
            if s.op in WEIGHT_OPS:
                seen_weight = True
            elif seen_weight:
                problems.append(f"pipeline[{i}]: graph step '{s.op}' must come before the weight steps")
    overrides: list[tuple[str, dict[str, Any]]] = []
    raw_over = data.get("overrides") or {}
    if not isinstance(raw_over, Mapping):
        problems.append("overrides must be a mapping 'layer name or glob' -> {step: {param: value}}")
        raw_over = {}
    ops_in_pipe = {s.op for s in steps}
    for pattern, body in raw_over.items():
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
                continue
            if op not in OPS:
                problems.append(f"{where}: unknown step '{op}' (known: {', '.join(OPS)})")
                continue
            if op not in ops_in_pipe:
                problems.append(f"{where}.{op}: the pipeline has no '{op}' step to override")
                continue
            if params is None or params is False:
                parsed[op] = None
            else:
                parsed[op] = _validate_params(op, params, f"{where}.{op}", problems, partial=True)
        overrides.append((pattern, parsed))
    layers = _patterns(data.get("layers"), "layers", problems, ("*",))
    skip = _patterns(data.get("skip"), "skip", problems, ())
    for key in ("description", "source"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"{key} must be a string")
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems), [f"{path}: {p}" for p in problems])
    recipe = Recipe(name=name, pipeline=tuple(steps), overrides=tuple(overrides), layers=layers, skip=skip,
                    seed=seed, description=str(data.get("description", "")), source=str(data.get("source", "")),
                    path=path, raw=copy.deepcopy(dict(data)))
    # merged per-layer parameters must also be consistent (e.g. an override n > m)
    for pattern, parsed in recipe.overrides:
        for step in recipe.pipeline:
            if parsed.get(step.op):
                merged = {**step.params, **parsed[step.op]}
                cross: list[str] = []
                _cross_check(step.op, merged, f"overrides.{pattern}.{step.op}", cross)
                problems.extend(cross)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems), [f"{path}: {p}" for p in problems])
    return recipe


def load_recipe(source: Any) -> Recipe:
    """A :class:`Recipe` from a bundled name, a YAML path, a mapping, or a Recipe (returned as is)."""
    if isinstance(source, Recipe):
        return source
    if isinstance(source, Mapping):
        return recipe_from_dict(source)
    if not isinstance(source, (str, Path)):
        raise ConfigError(f"a recipe must be a bundled name, a .yaml path or a mapping; got {type(source).__name__}")
    text = str(source)
    path = Path(text)
    names = bundled(RECIPE_DIR)
    if not path.suffix and text in names:
        path = names[text]
    elif not path.exists():
        if path.suffix in (".yaml", ".yml"):
            raise ConfigError(f"{text}: recipe file not found")
        raise UnknownNameError("recipe", text, list(names))
    try:
        data = yaml.load(path.read_text(), Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    return recipe_from_dict(data, str(path))


# --- per-layer plans ------------------------------------------------------------------------------
def _matches(name: str, pattern: str) -> bool:
    return name == pattern or fnmatch.fnmatchcase(name, pattern)


def _plans(recipe: Recipe, graph: LayerGraph) -> dict[str, list[Step]]:
    """Selected layer -> its steps with overrides merged; checks every pattern matches a layer."""
    weighted = [layer.name for layer in graph.layers if layer.has_weights]
    problems = []
    for field_name, pats in (("layers", recipe.layers), ("skip", recipe.skip), ("overrides", [p for p, _ in recipe.overrides])):
        for pat in pats:
            if not any(_matches(n, pat) for n in weighted):
                problems.append(f"{field_name}: pattern '{pat}' matches no layer with weights in workload '{graph.name}'")
    if problems:
        raise ConfigError(f"{recipe.path}: " + "; ".join(problems), [f"{recipe.path}: {p}" for p in problems])
    plans: dict[str, list[Step]] = {}
    for name in weighted:
        if not any(_matches(name, p) for p in recipe.layers) or any(_matches(name, p) for p in recipe.skip):
            continue
        params = {s.op: dict(s.params) for s in recipe.pipeline}
        dropped: set[str] = set()
        skip = False
        for pattern, body in recipe.overrides:
            if not _matches(name, pattern):
                continue
            for op, p in body.items():
                if op == "skip":
                    skip = p
                elif p is None:
                    dropped.add(op)
                else:
                    dropped.discard(op)
                    params[op].update(p)
        if skip:
            continue
        plans[name] = [Step(s.op, params[s.op]) for s in recipe.pipeline if s.op not in dropped]
    return plans


# --- layer state ------------------------------------------------------------------------------------
class _State:
    """Working state of one layer's weight matrix through the weight steps."""

    def __init__(self, name: str, matrix: np.ndarray):
        self.name = name
        self.original = matrix
        # never written in place: every step that changes values builds a new array
        self.values = matrix if matrix.dtype in (np.float32, np.float64) else matrix.astype(np.float64)
        self.mask: np.ndarray | None = None
        self.codes: np.ndarray | None = None
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

    @property
    def sparse(self) -> bool:
        return self.mask is not None and not bool(self.mask.all())


OPS_DEFAULTS = {op: {k: s.default for k, s in spec.items()} for op, spec in OPS.items()}


def _rng(seed: int, recipe_seed: int, name: str, step: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(recipe_seed), zlib.crc32(name.encode("utf-8")), int(step)])


def _sparsity(p: Mapping[str, Any]) -> float:
    return float(p["sparsity"]) if p["sparsity"] is not None else 1.0 - float(p["density"])


def _apply_prune(st: _State, p: Mapping[str, Any], rng, global_mask: np.ndarray | None) -> None:
    method = p["method"]
    if method == "nm":
        scores = np.abs(st.values) if st.mask is None else np.where(st.mask, np.abs(st.values), 0.0)
        mask = P.nm_mask(scores, p["n"], p["m"])
        st.nm = (p["n"], p["m"])
        label = f"prune:nm({p['n']}:{p['m']})"
    else:
        s = _sparsity(p)
        if global_mask is not None:
            mask = global_mask
        elif method == "magnitude":
            scores = np.abs(st.values) if st.mask is None else np.where(st.mask, np.abs(st.values), -1.0)
            mask = P.magnitude_mask(scores, s) if st.mask is None else P._top_k_mask(scores, P._keep_count(scores.size, s))
        elif method == "random":
            mask = P.random_mask(st.values.shape, s, rng)
        else:
            mask = P.block_mask(st.values, tuple(p["block"]), s, p["norm"])
        label = f"prune:{method}{'-global' if p['scope'] == 'global' else ''}({1 - s:.4g} kept)"
        if method == "block":
            label = f"prune:block{p['block'][0]}x{p['block'][1]}({1 - s:.4g} kept)"
    if st.mask is not None:
        mask = mask & st.mask
    st.mask = mask
    st.values = np.where(mask, st.values, 0).astype(st.values.dtype, copy=False)
    if st.lowbit is not None:  # pruned entries take the zero level
        lb = st.lowbit
        zp = np.broadcast_to(lb._bcast(lb.zero_point), lb.values_int.shape)
        st.lowbit = LowBit(np.where(mask, lb.values_int, zp), lb.bits, lb.scale, lb.zero_point,
                           per_channel=lb.per_channel, signed=lb.signed)
    st.transforms.append(label)


def _apply_quantize(st: _State, p: Mapping[str, Any]) -> None:
    q = Q.quantize_uniform(st.values, p["bits"], symmetric=p["symmetric"], per_channel=p["per_channel"])
    if isinstance(q, Codebook):  # 1 bit: binary
        _set_codebook(st, q.indices, q.table, 1, BASE_BITS)
    else:
        st.lowbit = q
        st.codes = st.table = None
        st.values = q.to_dense().astype(st.values.dtype)
        if st.mask is not None:
            st.values[~st.mask] = 0
        st.value_bits = st.weight_bits = p["bits"]
    kind = "sym" if p["symmetric"] else "asym"
    st.transforms.append(f"quantize:int{p['bits']}-{kind}{'-per-channel' if p['per_channel'] else ''}")


def _set_codebook(st: _State, codes: np.ndarray, table: np.ndarray, code_bits: int, table_bits: int) -> None:
    st.codes = codes.astype(np.uint16 if code_bits <= 16 else np.int64)
    st.table = table
    st.code_bits = code_bits
    st.table_bits = table_bits
    st.lowbit = None
    if table.ndim == 1:
        dec = table[st.codes]
    else:
        dec = table[np.arange(codes.shape[0])[:, None], st.codes]
    st.values = (dec if st.mask is None else np.where(st.mask, dec, 0)).astype(st.values.dtype)
    st.value_bits = code_bits
    st.weight_bits = table_bits


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
        _set_codebook(st, codes, table, 1, BASE_BITS)
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
    _set_codebook(st, codes, table, 2, BASE_BITS)
    st.transforms.append(f"ternarize({p['threshold']:g})" + ("-per-channel" if per else ""))


def _apply_share(st: _State, p: Mapping[str, Any], rng) -> None:
    kept = st.values[st.mask] if st.mask is not None else st.values.ravel()
    codes_kept, table = kmeans_1d(kept, p["bits"], init=p["init"], rng=rng, max_iter=p["max_iter"])
    codes = np.zeros(st.values.shape, np.uint16)
    values = np.zeros(st.values.shape, st.values.dtype)
    if st.mask is not None:
        codes[st.mask] = codes_kept
        values[st.mask] = table[codes_kept]
    else:
        codes[...] = codes_kept.reshape(st.values.shape)
        values[...] = table[codes]
    st.codes, st.table, st.code_bits, st.table_bits = codes, table, p["bits"], p["table_bits"]
    st.lowbit = None
    st.values = values
    st.value_bits = p["bits"]
    st.weight_bits = p["table_bits"]
    st.transforms.append(f"share:kmeans{p['bits']}b-{p['init']}")


# --- relative-index width search ---------------------------------------------------------------------
def _gaps(mask: np.ndarray, fmt: str) -> np.ndarray:
    """Zeros before each kept entry along the compressed lines (rows for CSR, columns for CSC)."""
    m = mask if fmt == "csr" else mask.T
    rows, cols = np.nonzero(m)
    prev = np.empty_like(cols)
    prev[0:1] = -1
    prev[1:] = np.where(rows[1:] == rows[:-1], cols[:-1], -1)
    return (cols - prev - 1).astype(np.int64)


def _huffman_cost(counts: np.ndarray) -> int:
    lengths = huffman_code_lengths(counts)
    code = HuffmanCode(counts=counts, lengths=lengths)
    return code.encoded_bits + code.table_bits


def _best_index_bits(st: _State, fmt: str, value_bits: int) -> int:
    """Relative-index width (1..16) with the fewest stored bits (after Huffman when it follows)."""
    mask = st.mask if st.mask is not None else np.ones(st.values.shape, bool)
    gaps = _gaps(mask, fmt)
    if gaps.size == 0:
        return 1
    huff = st.huffman or []
    pay_counts = None
    if "payload" in huff:
        sym = st.codes[mask] if st.codes is not None else np.unique(st.values[mask], return_inverse=True)[1]
        pay_counts = np.bincount(np.asarray(sym, np.int64).ravel())
    best, best_bits = 1, None
    top = int(min(16, max(1, math.ceil(math.log2(int(gaps.max()) + 2)))))
    for b in range(1, top + 1):
        span = 1 << b
        pads = int(np.sum(gaps >> b))
        stored = gaps.size + pads
        if "index" in huff:
            idx_counts = np.bincount(gaps & (span - 1), minlength=span)
            idx_counts[span - 1] += pads
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


def _build_format(st: _State, where: str) -> CompressedTensor:
    e = st.encode
    fmt = e["format"]
    if fmt == "auto":
        fmt = "nm" if st.nm is not None else ("csr" if st.sparse else "dense")
    payload = st.codes if st.codes is not None else st.values
    vbits = st.code_bits if st.codes is not None else (e["value_bits"] or st.value_bits or BASE_BITS)
    if st.codes is None and e["value_bits"] is not None:
        vbits = e["value_bits"]
    mask = st.mask if st.mask is not None else np.ones(st.values.shape, bool)
    meta = _scale_bits(st.lowbit)
    try:
        if fmt == "dense":
            if st.codes is not None:
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
                inner = CSR(payload, index_bits=ib, value_bits=vbits, pointer_bits=e["pointer_bits"], relative=relative,
                            mask=mask, metadata_bits=meta)
            elif fmt == "csc":
                inner = CSC(payload, index_bits=ib, value_bits=vbits, pointer_bits=e["pointer_bits"], relative=relative,
                            mask=mask, metadata_bits=meta)
            else:
                inner = InterleavedCSC(payload, n_pe=e["n_pe"], index_bits=ib, value_bits=vbits,
                                       pointer_bits=e["pointer_bits"] if e["pointer_bits"] is not None else 16,
                                       relative=relative, mask=mask, metadata_bits=meta)
        elif fmt == "bitmask":
            inner = Bitmask(payload, value_bits=vbits, mask=mask, metadata_bits=meta)
        else:  # nm
            if st.nm is None:
                raise ConfigError(f"{where}: format 'nm' needs an N:M prune step before it")
            inner = NM(payload, st.nm[0], st.nm[1], value_bits=vbits, mask=mask, metadata_bits=meta)
    except CompressionError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if st.codes is not None:
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
        if np.issubdtype(np.asarray(w).dtype, np.floating) and not np.all(np.isfinite(w)):
            raise ConfigError(f"{recipe.path}: weights of layer '{name}' contain NaN or infinite values")


def compress(graph: LayerGraph, recipe: Any, seed: int = 0) -> CompressedGraph:
    """Apply ``recipe`` to ``graph`` (not modified) and return the :class:`CompressedGraph`.

    Layers without weights attached get synthesized weights (``synthesize_weights(seed=seed)``).
    The result's ``stats`` hold the totals (see :func:`summarize`).
    """
    recipe = load_recipe(recipe)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an int >= 0; got {seed!r}")
    original = graph
    g = _ensure_weights(graph, int(seed))
    _check_finite(g, recipe)
    plans = _plans(recipe, g)
    dense_params = {layer.name: int(np.prod(layer.weight_matrix_shape)) for layer in g.layers if layer.has_weights}
    dense_macs = {layer.name: layer.macs for layer in g.layers if layer.has_weights}
    graph_notes: dict[str, list[str]] = {}

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

    # weight steps
    states: dict[str, _State] = {n: _State(n, g.weight_matrix(n)) for n in plans}
    for idx, base in enumerate(recipe.pipeline):
        if base.op in GRAPH_OPS:
            continue
        names = [n for n in plans if any(s.op == base.op for s in plans[n])]
        params = {n: next(s for s in plans[n] if s.op == base.op).params for n in names}
        global_masks: dict[str, np.ndarray] = {}
        if base.op == "prune":
            glob = [n for n in names if params[n]["scope"] == "global" and params[n]["method"] == "magnitude"]
            if glob:
                scores = {n: (np.abs(states[n].values) if states[n].mask is None
                              else np.where(states[n].mask, np.abs(states[n].values), -1.0)) for n in glob}
                global_masks = P.global_magnitude_masks(scores, _sparsity(base.params))
        for n in names:
            st, p = states[n], params[n]
            where = f"{recipe.path}: pipeline[{idx}].{base.op} on layer '{n}'"
            rng = _rng(seed, recipe.seed, n, idx)
            try:
                if base.op == "prune":
                    _apply_prune(st, p, rng, global_masks.get(n))
                elif base.op in ("quantize", "binarize", "ternarize", "share"):
                    before = st.values
                    if base.op == "quantize":
                        _apply_quantize(st, p)
                    elif base.op == "share":
                        _apply_share(st, p, rng)
                    else:
                        _apply_binarize(st, p, ternary=base.op == "ternarize")
                    st.quant_error = _error_stats(before, st.values)
                elif base.op == "activations":
                    st.activation_bits = p["bits"]
                    st.transforms.append(f"activations:int{p['bits']}")
                elif base.op == "encode":
                    st.encode = dict(p)
                elif base.op == "huffman":
                    st.huffman = list(p["streams"])
            except CompressionError as exc:
                raise ConfigError(f"{where}: {exc}") from None

    layers: dict[str, CompressedLayer] = {}
    for layer in g.compute_layers():
        name = layer.name
        if name not in states:
            cl = CompressedLayer.dense(layer, g)
            if layer.has_weights and name in g.weights:
                m = g.weight_matrix(name)
                stats = _layer_stats(layer, m, m, Dense(m, BASE_BITS), None, dense_params.get(name))
                stats["transforms"] = graph_notes.get(name, [])
                cl = CompressedLayer(layer=layer, weight=Dense(m, BASE_BITS), weight_matrix=m,
                                     activation_density=cl.activation_density, activation_sample=cl.activation_sample,
                                     transforms=tuple(graph_notes.get(name, [])), stats=stats)
            elif not layer.has_weights and layer.gemm(1) is not None:
                bits = _activation_bits(recipe, name)
                if bits is not None:  # activation x activation products (attention) run at the same precision
                    cl = CompressedLayer(layer=layer, activation_bits=bits, activation_density=cl.activation_density,
                                         activation_sample=cl.activation_sample, transforms=(f"activations:int{bits}",))
            layers[name] = cl
            continue
        st = states[name]
        where = f"{recipe.path}: encode of layer '{name}'"
        tensor = _build_format(st, where)
        if st.huffman:
            tensor = _huffman(tensor, st.huffman, where)
            st.transforms.append("huffman:" + "+".join(tensor.streams))
        if not isinstance(_unwrap(tensor), Dense):
            st.transforms.insert(len(st.transforms) - (1 if st.huffman else 0), f"encode:{_format_label(tensor)}")
        transforms = tuple(graph_notes.get(name, []) + st.transforms)
        matrix = st.values
        sample = g.activation_samples.get(name)
        act_err = None
        if st.activation_bits is not None and sample is not None:
            qa = Q.quantize_activations(sample, st.activation_bits).to_dense()
            act_err = Q.sqnr_db(sample, qa)
            sample = qa
        stats = _layer_stats(layer, st.original, matrix, tensor, st, dense_params.get(name))
        stats["transforms"] = list(transforms)
        if act_err is not None:
            stats["activation_sqnr_db"] = act_err
        cb = tensor.codebook_size if isinstance(_unwrap(tensor), Codebook) else None
        layers[name] = CompressedLayer(
            layer=layer, weight=tensor, weight_matrix=matrix, weight_bits=st.weight_bits,
            activation_bits=st.activation_bits, activation_density=g.input_density(name), activation_sample=sample,
            nm=st.nm, codebook_size=cb, transforms=transforms, stats=stats)
        g.weights[name] = matrix.reshape(layer.weight_shape)
    cg = CompressedGraph(g, layers, recipe=recipe.to_dict())
    cg.stats = summarize(cg, dense_params, dense_macs, original.name)
    return cg


def _activation_bits(recipe: Recipe, name: str) -> int | None:
    """Activation bits of the recipe's ``activations`` step for a layer without weights (e.g. an
    attention matmul) selected by ``layers`` / ``skip`` and overrides; None when not applied."""
    step = next((s for s in recipe.pipeline if s.op == "activations"), None)
    if step is None or not any(_matches(name, p) for p in recipe.layers) or any(_matches(name, p) for p in recipe.skip):
        return None
    bits = step.params["bits"]
    for pattern, body in recipe.overrides:
        if _matches(name, pattern):
            if body.get("skip"):
                return None
            if "activations" in body:
                bits = None if body["activations"] is None else body["activations"].get("bits", bits)
    return bits


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
    diff = (matrix - original).ravel()
    sse = float(np.dot(diff, diff))
    ref = np.ravel(original)
    signal = float(np.dot(ref, ref))
    sqnr = math.inf if sse == 0 else (10.0 * math.log10(signal / sse) if signal > 0 else -math.inf)
    return {"mse": sse / max(diff.size, 1), "sqnr_db": sqnr}


def _layer_stats(layer, original: np.ndarray, matrix: np.ndarray, tensor: CompressedTensor, st: _State | None,
                 orig_params: int | None = None) -> dict:
    """Per-layer statistics; ``orig_params`` (the layer's size before graph steps) sets the dense reference."""
    params = int(matrix.size)
    nnz = int(np.count_nonzero(matrix))
    bits = tensor.storage_bits()
    dense_bits = (orig_params if orig_params is not None else params) * BASE_BITS
    macs = layer.macs
    eff = int(round(macs * nnz / max(params, 1)))
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
        "compression_ratio": dense_bits / max(bits.total, 1),
        "macs": macs,
        "effective_macs": eff,
        "theoretical_speedup": macs / eff if eff else math.inf,
        "weight_bits": st.weight_bits if st is not None else None,
        "activation_bits": st.activation_bits if st is not None else None,
        **_error_stats(original, matrix),
        "weight_density": nnz / max(params, 1),
        "shrinkbench_ratio": (orig_params if orig_params is not None else params) / max(nnz, 1),
        "quant_mse": st.quant_error["mse"] if st is not None and st.quant_error else None,
        "quant_sqnr_db": st.quant_error["sqnr_db"] if st is not None and st.quant_error else None,
    }
    if isinstance(tensor, HuffmanCoded):
        for key, code in tensor.streams.items():
            out[f"huffman_{key}_mean_bits"] = code.encoded_bits / max(code.n_symbols, 1)
    return out


def summarize(cg: CompressedGraph, dense_params: Mapping[str, int] | None = None,
              dense_macs: Mapping[str, int] | None = None, workload: str = "") -> dict[str, Any]:
    """Network totals: bits by kind, compression ratio and theoretical speedup.

    The dense reference is the ORIGINAL graph's weights at 32 bits (``dense_params``), so layers
    removed or substituted by graph steps count against their originals; MACs likewise
    (``dense_macs``: dense MACs of the original layers with weights, ShrinkBench's numerator).
    """
    bits = StorageBits()
    params = nnz = eff = 0
    sq_err = sq_sig = 0.0
    for cl in cg:
        if not cl.layer.has_weights or "bits" not in cl.stats:
            continue
        b = cl.stats["bits"]
        bits = bits + StorageBits(b["payload"], b["index"], b["pointer"], b["codebook"], b["metadata"])
        params += cl.stats["params"]
        nnz += cl.stats["nnz"]
        eff += cl.stats["effective_macs"]
        if cl.stats.get("mse") is not None:
            sq_err += cl.stats["mse"] * cl.stats["params"]
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
        "compression_ratio": dense_bits / max(bits.total, 1),
        "macs": orig_macs,
        "effective_macs": eff,
        "theoretical_speedup": orig_macs / eff if eff else math.inf,
        "shrinkbench_ratio": orig_params / max(nnz, 1),
        "mse": sq_err / max(params, 1),
    }


__all__ = ["OPS", "Recipe", "Step", "compress", "load_recipe", "recipe_from_dict", "recipe_names", "summarize"]
