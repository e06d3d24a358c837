"""The GPU model against 114 published measurements (issue 14 item 5): map, simulate, compare.

Usage: ``python -m accelsim.hw.gpu.published --half calibration`` (or ``--half untouched``, ``--half
all``; ``--category sparse24``; ``--format json``). ``accelsim validate --only gpu`` reports the same
rows (reported, never asserted) and the per-category summary; ``docs/validation.md`` (section "GPU:
published measurements") holds the table.

Package data (this folder, so an installed package needs nothing from ``tests/``):

* ``measurements.yaml`` and ``split.yaml``: byte-identical copies of ``tests/data/gpu_published/``
  (every row's device, shapes, value, baseline, primary source and confidence; the calibration half
  and the untouched half). ``tests/test_gpu_published.py`` checks they stay identical.
* ``mapping.yaml``: per row, the simulation that reproduces it (arch, overrides, workload, recipe,
  metric, baseline) or the reason it cannot be mapped. Measured values are never restated there.
* ``models.yaml``: the Hugging Face configs of the models the rows run.

Per mapped row (:func:`evaluate_row`): the predicted value in the row's metric, its relative error
``predicted / measured - 1``, and, when the row has a baseline, the predicted and measured speedup
``perf(row) / perf(baseline)`` (both sides simulated) and whether the direction (> 1 or not) agrees.
Per half and category (:func:`summarize`): rows mapped / unmapped, the median and worst absolute
error, and directions right / compared. The goals on the untouched half (median <= 10 %, worst <=
35 %, every direction right) are printed as met or not met (:func:`goal_lines`), never asserted.

Overrides a row implies (``stack``, ``launch``, ``kernels.*``, ``tdp_w``) that the current GPU config
does not declare are dropped and listed with the row (``ignored``), so the harness runs against any
version of the model. Devices without a bundled config are skipped with the reason.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from accelsim.errors import AccelsimError, ConfigError

AREA = "gpu"
DATA_DIR = Path(__file__).resolve().parent
HALVES = ("calibration", "untouched")
#: split.yaml's key for the untouched half
_SPLIT_KEYS = {"calibration": "calibration", "untouched": "held_out"}
METRICS = ("latency_s", "latency_ms", "latency_us", "tflops", "tokens_per_s", "samples_per_s", "speedup")
_TIME_SCALE = {"latency_s": 1.0, "latency_ms": 1e3, "latency_us": 1e6}
UNITS = {"latency_s": "s", "latency_ms": "ms", "latency_us": "us", "tflops": "TFLOPS", "tokens_per_s": "tokens/s",
         "samples_per_s": "samples/s", "speedup": "x"}
#: goals on the untouched half (issue 14 item 5)
GOAL_MEDIAN, GOAL_WORST = 0.10, 0.35


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------
def _yaml(name: str):
    from accelsim.config import read_yaml_file

    return read_yaml_file(DATA_DIR / name)


@lru_cache(maxsize=1)
def measurements() -> dict[str, dict]:
    """Row id -> the published row (measurements.yaml), in file order."""
    rows = _yaml("measurements.yaml")
    return {r["id"]: r for r in rows}


@lru_cache(maxsize=1)
def split() -> dict[str, str]:
    """Row id -> ``calibration`` or ``untouched`` (split.yaml's ``held_out``)."""
    data = _yaml("split.yaml")
    out = {}
    for half, key in _SPLIT_KEYS.items():
        for rid in data[key]:
            out[rid] = half
    return out


@lru_cache(maxsize=1)
def mapping() -> dict[str, dict]:
    """Row id -> its mapping (mapping.yaml ``rows``)."""
    return dict(_yaml("mapping.yaml")["rows"])


@lru_cache(maxsize=1)
def model_configs() -> dict[str, dict]:
    """Model name -> Hugging Face config dict (models.yaml)."""
    return dict(_yaml("models.yaml"))


@lru_cache(maxsize=1)
def length_mixes() -> dict[str, dict]:
    """Dataset name -> its published sequence-length histogram (lengths.yaml: ``counts`` {tokens:
    sequences}, ``max_length``, ``source``)."""
    return dict(_yaml("lengths.yaml"))


def length_mix(name: str) -> list[tuple[int, int]]:
    """``[(tokens, sequences), ...]`` of the named histogram, shortest first (zero counts dropped)."""
    mixes = length_mixes()
    if name not in mixes:
        raise ConfigError(f"published mapping: length mix {name!r} is not in lengths.yaml; known: {', '.join(mixes)}")
    return sorted((int(n), int(c)) for n, c in mixes[name]["counts"].items() if int(c) > 0)


def mean_length(name: str) -> float:
    """Mean tokens per sequence of the named histogram."""
    mix = length_mix(name)
    return sum(n * c for n, c in mix) / sum(c for _, c in mix)


# ------------------------------------------------------------------------------------------------
# workloads
# ------------------------------------------------------------------------------------------------
def gemm_layer(m: int, n: int, k: int):
    """``y[m, n] = x[m, k] @ W[n, k]^T`` as one Linear layer (``m`` tokens, no bias)."""
    from accelsim.workload.layers import Linear

    return Linear(name=f"gemm_{m}x{n}x{k}", input_shapes=((int(m), int(k)),), out_features=int(n), bias=False)


def attention_layer(batch: int, heads: int, seqlen: int, headdim: int, causal: bool):
    """A fused multi-head attention forward over ``batch`` sequences of ``seqlen`` tokens."""
    from accelsim.workload.layers import Attention

    d = heads * headdim
    shape = (int(batch), int(seqlen), int(d))
    return Attention(name=f"attention_b{batch}_h{heads}_s{seqlen}_d{headdim}", input_shapes=(shape, shape, shape),
                     heads=int(heads), kv_heads=int(heads), causal=bool(causal))


def attention_flops(batch: int, heads: int, seqlen: int, headdim: int, causal: bool) -> float:
    """Forward FLOPs as the FlashAttention papers count them: ``4 s^2 d h b``, halved when causal."""
    f = 4.0 * seqlen * seqlen * headdim * heads * batch
    return f / 2.0 if causal else f


def _graph(config: str, phase: str, batch: int, attention: str, prompt: int | None = None, context: int | None = None,
           kv_bits: int | None = None):
    from accelsim.workload.hf import load_hf

    configs = model_configs()
    if config not in configs:
        raise ConfigError(f"published mapping: model config {config!r} is not in models.yaml; "
                          f"known: {', '.join(configs)}")
    with warnings.catch_warnings():  # contexts past max_position_embeddings (64k decode) are intended
        warnings.simplefilter("ignore")
        return load_hf(dict(configs[config]), phase=phase, batch=int(batch), prompt=prompt, context=context,
                       attention=attention, kv_bits=None if kv_bits is None else int(kv_bits), name=config)


def steps(workload: Mapping[str, Any], attention: str = "fused") -> list[tuple[Any, float]]:
    """The workload as ``[(layers, repeat), ...]``: a list of layers run ``repeat`` times each (a weight
    below 1 for the per-length attentions of a length mix)."""
    kind, spec = _one(workload)
    if kind == "gemm":
        return [([gemm_layer(spec["m"], spec["n"], spec["k"])], 1)]
    if kind == "attention":
        return [([attention_layer(spec["batch"], spec["heads"], spec["seqlen"], spec["headdim"], spec["causal"])], 1)]
    if kind == "model":
        if "lengths" in spec:
            return _varlen_steps(spec, attention)
        g = _graph(spec["config"], spec["phase"], spec["batch"], attention, spec.get("prompt"), spec.get("context"),
                   spec.get("kv_bits"))
        return [(g.compute_layers(), 1)]
    if kind == "generate":
        from accelsim.workload.hf import generate_steps

        out = []
        for st in generate_steps(int(spec["prompt"]), int(spec["generate"])):
            g = _graph(spec["config"], st["phase"], spec["batch"], attention, st.get("prompt"), st.get("context"),
                       spec.get("kv_bits"))
            out.append((g.compute_layers(), int(st["repeat"])))
        return out
    raise ConfigError(f"published mapping: workload must be gemm, attention, model or generate; got {kind!r}")


def _varlen_steps(spec: Mapping[str, Any], attention: str) -> list[tuple[Any, float]]:
    """A prefill batch of ``batch`` sequences drawn from a length histogram and run unpadded, as
    TensorRT's variable-length BERT does (docs/models/gpu.md, "Variable-length batches"): the token-wise
    layers (GEMMs, norms, element-wise) over the batch's real tokens, ``batch x`` the mean length
    (rounded), packed; each attention layer as one attention per length ``L`` of the histogram over
    its ``c_L`` sequences of exactly ``L`` tokens, weighted ``batch / N`` (``N`` = the histogram's
    sequences), so a sequence's attention costs what its own length costs (quadratic in ``L``)."""
    from accelsim.workload.layers import Attention

    if spec.get("phase") != "prefill" or "prompt" in spec or "context" in spec:
        raise ConfigError(f"published mapping: a `lengths` workload is a prefill without prompt or context; got {spec!r}")
    mix = length_mix(str(spec["lengths"]))
    n_seq = sum(c for _, c in mix)
    batch = int(spec["batch"])
    g = _graph(spec["config"], "prefill", batch, attention, max(1, round(mean_length(str(spec["lengths"])))), None,
               spec.get("kv_bits"))
    layers = g.compute_layers()
    attn = [layer for layer in layers if isinstance(layer, Attention)]
    out: list[tuple[Any, float]] = [([layer for layer in layers if not isinstance(layer, Attention)], 1)]
    for tokens, count in mix:
        per_len = [dataclasses.replace(a, name=f"{a.name}.len{tokens}",
                                       input_shapes=tuple((count, tokens, shp[-1]) for shp in a.input_shapes))
                   for a in attn]
        out.append((per_len, batch / n_seq))
    return out


def _one(workload: Mapping[str, Any]) -> tuple[str, dict]:
    if not isinstance(workload, Mapping) or len(workload) != 1:
        raise ConfigError(f"published mapping: workload must be a mapping with one key; got {workload!r}")
    (kind, spec), = workload.items()
    return str(kind), dict(spec)


def work(workload: Mapping[str, Any], metric: str, tokens: str | None) -> float:
    """What one run of the workload delivers in ``metric``'s numerator: FLOPs (``tflops``), tokens
    (``tokens_per_s``: ``step`` = batch, ``output`` = batch x generated, ``prompt`` = batch x prompt,
    ``total`` = both) or samples (``samples_per_s``: the batch)."""
    kind, spec = _one(workload)
    if metric == "tflops":
        if kind == "gemm":
            return 2.0 * spec["m"] * spec["n"] * spec["k"]
        if kind == "attention":
            return attention_flops(spec["batch"], spec["heads"], spec["seqlen"], spec["headdim"], spec["causal"])
        raise ConfigError(f"published mapping: tflops needs a gemm or attention workload; got {kind}")
    batch = int(spec.get("batch", 1))
    if "lengths" in spec:  # a length mix: its mean length stands for the prompt
        spec["prompt"] = mean_length(str(spec["lengths"]))
    if metric == "samples_per_s":
        return float(batch)
    if metric == "tokens_per_s":
        if tokens == "step":
            return float(batch) * (1 if spec.get("phase", "decode") == "decode" else spec["prompt"])
        if tokens == "prompt":
            return float(batch * spec["prompt"])
        if tokens == "output":
            return float(batch * spec["generate"])
        if tokens == "total":
            return float(batch * (spec["prompt"] + spec.get("generate", 0)))
        raise ConfigError(f"published mapping: tokens must be step, prompt, output or total; got {tokens!r}")
    raise ConfigError(f"published mapping: no work count for metric {metric!r}")


# ------------------------------------------------------------------------------------------------
# simulation
# ------------------------------------------------------------------------------------------------
def _declared_keys(config_cls) -> tuple[set[str], set[str]]:
    """(dotted leaf paths, paths of mapping-typed fields, whose keys are free) of a config class."""
    from accelsim.config import declared

    leaves, maps = set(), set()
    for path, tp, _meta, _default in declared(config_cls):
        leaves.add(path)
        if tp is dict or getattr(tp, "__origin__", None) is dict:
            maps.add(path)
    return leaves, maps


def split_overrides(arch: str, overrides: Mapping[str, Any]) -> tuple[dict, dict]:
    """(overrides the arch's config class declares, overrides it does not: ignored)."""
    from accelsim.hw.registry import family, load_arch_dict

    data, _ = load_arch_dict(arch)
    leaves, maps = _declared_keys(family(data["family"]).config_cls)
    known, ignored = {}, {}
    for key, value in (overrides or {}).items():
        if key in leaves or any(key.startswith(m + ".") for m in maps):
            known[key] = value
        else:
            ignored[key] = value
    return known, ignored


@lru_cache(maxsize=64)
def _model(arch: str, overrides: tuple):
    from accelsim.hw.registry import build_model, load_arch

    return build_model(load_arch(arch, dict(overrides)))


@dataclass
class SimResult:
    """One simulated side: seconds for the whole workload, the kernel that took the most time, the
    compressed-kernel fallbacks seen, and the overrides the config did not declare."""

    seconds: float
    top_kernel: str = ""
    fallbacks: list[str] = field(default_factory=list)
    ignored: dict = field(default_factory=dict)


_SIM_CACHE: dict = {}


def simulate(arch: str, overrides: Mapping[str, Any], workload: Mapping[str, Any], recipe: str,
             attention: str = "fused") -> SimResult:
    """Simulate ``workload`` under ``recipe`` on ``arch`` with ``overrides`` (cached per argument set)."""
    from accelsim.hw.gpu.published.formats import compressed

    known, ignored = split_overrides(arch, overrides)
    key = (arch, tuple(sorted(known.items())), repr(workload), recipe, attention)
    hit = _SIM_CACHE.get(key)
    if hit is not None:
        return SimResult(hit.seconds, hit.top_kernel, list(hit.fallbacks), dict(ignored))
    model = _model(arch, tuple(sorted(known.items())))
    total = 0.0
    per_kernel: dict[str, float] = {}
    fallbacks: list[str] = []
    # a model's step is one network run where the order matters (an eager stack's launch queue runs through it,
    # from empty: a decode step ends in a sync; a stack's fused_projections join sibling layers); else (CUDA graphs,
    # and a lone GEMM or attention timed in a loop) each distinct layer is simulated once: a decoder's blocks repeat
    in_order = _one(workload)[0] in ("model", "generate") and (model.launch_mode == "eager" or bool(model.stack.fused_projections))
    packed: dict = {}  # one compression per distinct layer (name aside)
    seen: dict = {}  # one simulation per distinct layer, out of order
    for layers, repeat in steps(workload, attention):
        results = []
        for layer in layers:
            lkey = (dataclasses.replace(layer, name="_"), "lm_head" in layer.name)
            if lkey not in packed:
                packed[lkey] = compressed(layer, recipe)
            cl = packed[lkey]
            if in_order:
                results.append(cl if cl.layer is layer else cl.replace(layer=layer))  # its own name (fusions read names)
            else:
                if lkey not in seen:
                    seen[lkey] = model.simulate(cl, 1)
                results.append(seen[lkey])
        if in_order:
            results = model.simulate_network(results, 1)
        for r in results:
            t = r.latency_s * repeat
            total += t
            name = str(r.extra.get("kernel", r.op))
            per_kernel[name] = per_kernel.get(name, 0.0) + t
            fb = r.extra.get("kernel_fallback")
            if fb and fb not in fallbacks:
                fallbacks.append(str(fb))
    top = max(per_kernel, key=per_kernel.get) if per_kernel else ""
    res = SimResult(total, top, fallbacks, {})
    _SIM_CACHE[key] = res
    return SimResult(total, top, list(fallbacks), dict(ignored))


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------
@dataclass
class RowResult:
    """One published row against the model (``mapped`` False: ``reason`` says why it was skipped)."""

    id: str
    category: str
    half: str
    mapped: bool
    reason: str = ""
    arch: str = ""
    metric: str = ""
    unit: str = ""
    measured: float | None = None
    predicted: float | None = None
    speedup_measured: float | None = None
    speedup_predicted: float | None = None
    kernel: str = ""
    baseline_kernel: str = ""
    fallbacks: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    note: str = ""
    source: str = ""

    @property
    def error(self) -> float | None:
        """``predicted / measured - 1`` (None when not mapped)."""
        if not self.mapped or self.measured is None or self.predicted is None:
            return None
        return rel_error(self.predicted, self.measured)

    @property
    def direction_ok(self) -> bool | None:
        """Predicted and measured speedup on the same side of 1 (None without a speedup)."""
        if self.speedup_measured is None or self.speedup_predicted is None:
            return None
        return direction_agrees(self.speedup_predicted, self.speedup_measured)

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["error"] = self.error
        out["direction_ok"] = self.direction_ok
        return out


def rel_error(predicted: float, measured: float) -> float:
    """``predicted / measured - 1``; inf when the measurement is 0 and the prediction is not."""
    if measured == 0:
        return 0.0 if predicted == 0 else math.inf
    return predicted / measured - 1.0


def direction_agrees(predicted_speedup: float, measured_speedup: float) -> bool:
    """True when both speedups are > 1 or both are <= 1."""
    return (predicted_speedup > 1.0) == (measured_speedup > 1.0)


def _is_time(metric: str) -> bool:
    return metric in _TIME_SCALE


def metric_value(metric: str, seconds: float, work_units: float | None) -> float:
    """The predicted figure in ``metric`` from the simulated seconds (``work_units``: see :func:`work`)."""
    if _is_time(metric):
        return seconds * _TIME_SCALE[metric]
    if seconds <= 0:
        return math.inf
    scale = 1e-12 if metric == "tflops" else 1.0
    return work_units * scale / seconds


def measured_speedup(row: Mapping[str, Any], spec: Mapping[str, Any], metric: str) -> float | None:
    """``perf(row) / perf(baseline)`` as published (mapping ``baseline.measured``): ``values`` from
    the row's baseline value (times for a latency metric, else rates), ``times`` the same with both
    values read as times whatever the metric, ``field`` the row's ``baseline.speedup``, ``row:<id>``
    another row's value in the same unit; a ``speedup`` metric without ``measured``: the row's value."""
    if metric == "speedup" and "measured" not in spec:
        return float(row["value"])
    how = str(spec.get("measured", "values"))
    if how == "field":
        return float(row["baseline"]["speedup"])
    if how.startswith("row:"):
        other = measurements()[how[4:]]["value"]
    elif how in ("values", "times"):
        other = (row.get("baseline") or {}).get("value")
        if other is None:
            return None
    else:
        raise ConfigError(f"published mapping {row['id']}: baseline.measured must be values, times, field or "
                          f"row:<id>; got {how!r}")
    value = float(row["value"])
    return float(other) / value if (how == "times" or _is_time(metric)) else value / float(other)


def _merged(defaults: Mapping[str, Any], spec: Mapping[str, Any]) -> dict:
    out = dict(defaults)
    out.update(spec)
    return out


def evaluate_row(rid: str) -> RowResult:
    """Simulate one row (and its baseline) and compare."""
    row = measurements()[rid]
    spec = mapping()[rid]
    half = split().get(rid, "")
    base = RowResult(id=rid, category=row["category"], half=half, mapped=False, source=str(row.get("source", "")),
                     note=str(spec.get("note", "")))
    if "unmapped" in spec:
        base.reason = str(spec["unmapped"])
        return base
    from accelsim.hw.registry import arch_names

    arch = spec["arch"]
    if arch not in arch_names():
        base.reason = f"no bundled config '{arch}' yet"
        base.arch = arch
        return base
    spec = _merged(_yaml_defaults(), spec)
    metric = spec["metric"]
    if metric not in METRICS:
        raise ConfigError(f"published mapping {rid}: metric must be one of {', '.join(METRICS)}; got {metric!r}")
    sets = dict(spec.get("set") or {})
    attention = spec.get("attention", "fused")
    try:
        target = simulate(arch, sets, spec["workload"], spec["recipe"], attention)
        bspec = spec.get("baseline")
        basesim = None
        if bspec is not None:
            basesim = simulate(arch, dict(bspec.get("set", sets)), bspec.get("workload", spec["workload"]),
                               bspec.get("recipe", spec["recipe"]), bspec.get("attention", attention))
    except AccelsimError as exc:
        base.arch = arch
        base.reason = f"simulation failed: {exc}"
        return base
    res = RowResult(id=rid, category=row["category"], half=half, mapped=True, arch=arch, metric=metric,
                    unit=UNITS[metric], measured=float(row["value"]), kernel=target.top_kernel,
                    fallbacks=list(target.fallbacks), note=str(spec.get("note", "")), source=base.source,
                    ignored=sorted(f"{k}={v}" for k, v in target.ignored.items()))
    if basesim is not None:
        res.baseline_kernel = basesim.top_kernel
        res.ignored = sorted(set(res.ignored) | {f"{k}={v}" for k, v in basesim.ignored.items()})
        sp_pred = basesim.seconds / target.seconds if target.seconds > 0 else math.inf
        res.speedup_predicted = sp_pred
        res.speedup_measured = measured_speedup(row, bspec, metric)
    if metric == "speedup":
        if basesim is None:
            raise ConfigError(f"published mapping {rid}: metric speedup needs a baseline")
        res.predicted = res.speedup_predicted
        res.measured = res.speedup_measured
    else:
        units = None if _is_time(metric) else work(spec["workload"], metric, spec.get("tokens"))
        res.predicted = metric_value(metric, target.seconds, units)
    return res


@lru_cache(maxsize=1)
def _yaml_defaults() -> dict:
    return dict(_yaml("mapping.yaml").get("defaults") or {})


def evaluate(ids: Iterable[str] | None = None, half: str = "all", category: str | None = None) -> list[RowResult]:
    """Every selected row's result, in measurements.yaml order (``half``: calibration, untouched, all)."""
    if half not in (*HALVES, "all"):
        raise ConfigError(f"half must be calibration, untouched or all; got {half!r}")
    chosen = list(measurements()) if ids is None else list(ids)
    sp = split()
    out = []
    for rid in chosen:
        if half != "all" and sp.get(rid) != half:
            continue
        if category is not None and measurements()[rid]["category"] != category:
            continue
        out.append(evaluate_row(rid))
    return out


@dataclass
class Summary:
    """Statistics of a set of rows: counts, median / worst absolute error, directions."""

    n: int
    unmapped: int
    median_abs_error: float | None
    worst_abs_error: float | None
    worst_id: str
    directions: int
    directions_right: int
    wrong_directions: list[str] = field(default_factory=list)


def summarize_rows(results: Iterable[RowResult]) -> Summary:
    """n mapped, unmapped, median and worst ``|error|`` (and which row), directions right / compared."""
    results = list(results)
    mapped = [r for r in results if r.mapped and r.error is not None]
    errs = [(abs(r.error), r.id) for r in mapped]
    dirs = [r for r in results if r.direction_ok is not None]
    wrong = [r.id for r in dirs if not r.direction_ok]
    worst = max(errs) if errs else (None, "")
    return Summary(n=len(mapped), unmapped=len(results) - len(mapped),
                   median_abs_error=statistics.median(e for e, _ in errs) if errs else None,
                   worst_abs_error=worst[0], worst_id=worst[1], directions=len(dirs),
                   directions_right=len(dirs) - len(wrong), wrong_directions=wrong)


def summarize(results: Iterable[RowResult]) -> dict[str, dict[str, Summary]]:
    """half -> category (and ``all``) -> :class:`Summary`."""
    results = list(results)
    out: dict[str, dict[str, Summary]] = {}
    for half in HALVES:
        rows = [r for r in results if r.half == half]
        if not rows:
            continue
        cats = sorted({r.category for r in rows})
        out[half] = {c: summarize_rows(r for r in rows if r.category == c) for c in cats}
        out[half]["all"] = summarize_rows(rows)
    return out


def goals(s: Summary) -> dict[str, bool | None]:
    """The untouched-half goals: median <= 10 %, worst <= 35 %, every direction right (None: no data)."""
    return {
        "median": None if s.median_abs_error is None else s.median_abs_error <= GOAL_MEDIAN,
        "worst": None if s.worst_abs_error is None else s.worst_abs_error <= GOAL_WORST,
        "directions": None if not s.directions else s.directions_right == s.directions,
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else ("inf" if math.isinf(x) else f"{x:.0%}")


def _met(v: bool | None) -> str:
    return "no data" if v is None else ("met" if v else "NOT MET")


def summary_lines(results: Iterable[RowResult]) -> list[str]:
    """Per half and category: n, unmapped, median / worst |error|, directions; the goals on the
    untouched half as met / not met; every unmapped row with its reason."""
    results = list(results)
    lines = ["GPU published measurements (issue 14 item 5): per half and category",
             f"  {'half':<12}{'category':<16}{'n':>4}{'skip':>6}{'median|err|':>13}{'worst|err|':>12}  {'directions':<11}worst row"]
    table = summarize(results)
    for half, cats in table.items():
        for cat, s in cats.items():
            d = f"{s.directions_right}/{s.directions}" if s.directions else "-"
            lines.append(f"  {half:<12}{cat:<16}{s.n:>4}{s.unmapped:>6}{_pct(s.median_abs_error):>13}"
                         f"{_pct(s.worst_abs_error):>12}  {d:<11}{s.worst_id}")
    lines += direction_lines(results)
    lines += goal_lines(results)
    skipped = [r for r in results if not r.mapped]
    if skipped:
        lines.append(f"Rows not simulated ({len(skipped)}):")
        lines += [f"  {r.id} [{r.half}]: {r.reason}" for r in skipped]
    ignored = sorted({i for r in results for i in r.ignored})
    if ignored:
        lines.append("Overrides the current GPU config does not declare (ignored): " + ", ".join(ignored))
    return lines


def direction_lines(results: Iterable[RowResult]) -> list[str]:
    """Per half: speedup directions right of those compared, and the rows whose direction is wrong."""
    out = []
    for half, cats in summarize(results).items():
        s = cats["all"]
        if s.directions:
            out.append(f"Speedup directions, {half} half: {s.directions_right} of {s.directions} right"
                       + (f"; wrong: {', '.join(s.wrong_directions)}" if s.wrong_directions else ""))
    return out


def goal_lines(results: Iterable[RowResult]) -> list[str]:
    """The untouched half against the goals, each printed as met or NOT MET."""
    rows = [r for r in results if r.half == "untouched"]
    if not rows:
        return []
    s = summarize_rows(rows)
    g = goals(s)
    out = [f"Goals on the untouched half ({s.n} rows simulated, {s.unmapped} not):",
           f"  median |error| {_pct(s.median_abs_error)} <= {GOAL_MEDIAN:.0%}: {_met(g['median'])}",
           f"  worst |error| {_pct(s.worst_abs_error)} <= {GOAL_WORST:.0%} ({s.worst_id}): {_met(g['worst'])}",
           f"  every speedup direction right ({s.directions_right}/{s.directions}): {_met(g['directions'])}"]
    if s.wrong_directions:
        out.append("  wrong directions: " + ", ".join(s.wrong_directions))
    return out


# ------------------------------------------------------------------------------------------------
# accelsim validate
# ------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _all_results() -> tuple[RowResult, ...]:
    return tuple(evaluate())


def checks(quick: bool = False) -> list:
    """Every mapped row as a reported check (predicted vs measured in the row's metric) and, when
    it has a baseline, its speedup as a second reported check. Nothing is asserted: the goals are
    printed by :func:`validate_summary_lines`. ``quick`` is the same set (the rows take seconds)."""
    from accelsim.checks import Check

    out = []
    for r in _all_results():
        if not r.mapped:
            continue
        src = f"{r.id}: {r.source}"
        out.append(Check(AREA, f"published [{r.half}] {r.id} ({r.arch})", r.measured, r.predicted, r.unit, None, src))
        if r.speedup_measured is not None and r.speedup_predicted is not None:
            side = "right" if r.direction_ok else "WRONG"
            out.append(Check(AREA, f"published [{r.half}] {r.id} speedup over baseline (direction {side})",
                             r.speedup_measured, r.speedup_predicted, "x", None, src))
    return out


def validate_summary_lines(quick: bool = False) -> list[str]:
    """The per-category summary and the goals, for ``accelsim validate``'s closing lines."""
    return summary_lines(_all_results())


def clear_cache() -> None:
    """Forget simulated results (after the GPU configs or model changed in this process)."""
    _SIM_CACHE.clear()
    _model.cache_clear()
    _all_results.cache_clear()


def table_lines(results: Iterable[RowResult]) -> list[str]:
    """One line per row: id, half, arch, measured, predicted, error, speedups and direction, kernel."""
    lines = [f"{'id':<42}{'half':<12}{'arch':<11}{'measured':>11}{'predicted':>11} {'unit':<10}{'error':>8}"
             f"{'speedup m/p':>16}  dir    kernel"]
    for r in results:
        if not r.mapped:
            lines.append(f"{r.id:<42}{r.half:<12}{r.arch or '-':<11}  not simulated: {r.reason}")
            continue
        sp = "" if r.speedup_measured is None else f"{r.speedup_measured:.2f}/{r.speedup_predicted:.2f}"
        d = "" if r.direction_ok is None else ("ok" if r.direction_ok else "WRONG")
        lines.append(f"{r.id:<42}{r.half:<12}{r.arch:<11}{r.measured:>11.4g}{r.predicted:>11.4g} {r.unit:<10}"
                     f"{r.error:>+8.0%}{sp:>16}  {d:<6} {r.kernel}")
    return lines


def _md_row(r: RowResult) -> str:
    if not r.mapped:
        return f"| `{r.id}` | {r.category} | {r.arch or '-'} | | | | not simulated: {r.reason} | | |"
    sp = "" if r.speedup_measured is None else f"{r.speedup_measured:.2f} / {r.speedup_predicted:.2f}"
    d = "" if r.direction_ok is None else ("right" if r.direction_ok else "**wrong**")
    return (f"| `{r.id}` | {r.category} | {r.arch} | {r.measured:.4g} | {r.predicted:.4g} | {r.unit} | {r.error:+.0%} | "
            f"{sp} | {d} |")


def markdown_lines(results: Iterable[RowResult]) -> list[str]:
    """The docs/validation.md body: the summary per half and category, the goals, one table per half
    (every row's error and speedup direction, or why it is not simulated) and the sources by id."""
    results = list(results)
    out = ["| half | category | n | not simulated | median abs error | worst abs error (row) | directions right |",
           "|---|---|---:|---:|---:|---|---:|"]
    for half, cats in summarize(results).items():
        for cat, s in cats.items():
            d = f"{s.directions_right}/{s.directions}" if s.directions else "-"
            worst = f"{_pct(s.worst_abs_error)} (`{s.worst_id}`)" if s.worst_id else "-"
            name = f"**{cat}**" if cat == "all" else cat
            out.append(f"| {half} | {name} | {s.n} | {s.unmapped} | {_pct(s.median_abs_error)} | {worst} | {d} |")
    out += ["", *(f"{line.strip()}  " for line in direction_lines(results) + goal_lines(results)), ""]
    for half in HALVES:
        rows = [r for r in results if r.half == half]
        if not rows:
            continue
        out += [f"#### {half.capitalize()} half ({len(rows)} rows)", "",
                "| id | category | arch | measured | predicted | unit | error | speedup measured / predicted | direction |",
                "|---|---|---|---:|---:|---|---:|---:|---|"]
        out += [_md_row(r) for r in rows]
        out.append("")
    noted = [r for r in results if r.note]
    if noted:
        out += ["#### Assumptions and proxies by id (mapping.yaml notes)", ""]
        out += [f"- `{r.id}`: {r.note}" for r in noted]
        out.append("")
    out += ["#### Sources by id", ""]
    out += [f"- `{r.id}`: {r.source}" for r in results]
    return out


__all__ = [
    "AREA", "GOAL_MEDIAN", "GOAL_WORST", "HALVES", "METRICS", "RowResult", "SimResult", "Summary", "attention_flops",
    "attention_layer", "checks", "clear_cache", "direction_agrees", "direction_lines", "evaluate", "evaluate_row", "gemm_layer",
    "goal_lines", "goals", "mapping", "markdown_lines", "measured_speedup", "measurements", "metric_value", "model_configs",
    "rel_error", "simulate", "split", "split_overrides", "steps", "summarize", "summarize_rows", "summary_lines",
    "table_lines", "validate_summary_lines", "work",
]
