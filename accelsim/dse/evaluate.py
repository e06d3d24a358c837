"""The default sweep evaluator: one design point -> ``accelsim`` simulation -> one row of totals.

A point's setting uses the keys ``arch`` (bundled name, path or inline mapping), ``arch.<path>``
(dotted config overrides, e.g. ``arch.array.rows``), ``workload``, ``recipe`` (None = dense),
``recipe.<step>.<param>`` (a parameter of the recipe's pipeline step, e.g. ``recipe.prune.density``;
see :func:`accelsim.compress.recipe.with_params`: the recipe's name gets ``[prune.density=0.25]``),
``baseline`` (the recipe of the reference run for ``speedup_vs_dense``; None = uncompressed, e.g.
weight sharing alone for hardware that cannot run uncompressed weights), ``baseline_workload`` (the
workload of the reference run, e.g. the unpruned model of an already pruned ``workload``; None = the
point's workload), ``batch`` (default 1), ``seed`` (default 0) and free ``tag.<name>`` labels. :meth:`validate`
checks a setting without simulating anything (unknown keys and config paths with the nearest
valid ones, wrong types, unknown names, families without a model), so a sweep can reject a bad
spec before its first point runs.

Within one process the evaluator caches what repeats across points: raw arch files, built
models (models keep no state between calls), loaded workloads, compressed graphs per
``(workload, recipe, seed)`` and the dense baseline per ``(config, workload, batch)``.

:meth:`SimulateEvaluator.fingerprint` hashes the content of the files a setting names (arch,
workload, recipe, baseline); the sweep mixes it into each row's ``inputs_hash``, so a point whose
files changed runs again on resume. When a named file's content changes, every cache above is
cleared before the next point runs (files are checked by ``stat`` per point, re-hashed when changed).

Row columns (:data:`METRICS`; units as in :mod:`accelsim.report.results`): ``latency_s`` /
``energy_j`` / ``cycles`` are network totals at ``batch`` and ``latency_per_sample_s`` /
``energy_per_sample_j`` the same per inference; ``throughput_per_s`` = batch / latency; ``edp`` =
energy per sample x latency per sample (J s); ``area_mm2`` the hardware's area where its family
models one (``area_source`` says from what), ``perf_per_mm2`` = throughput / area and
``perf_per_w`` = inferences per joule. ``theoretical_speedup`` is dense MACs over the MACs left
after pruning (ShrinkBench's FLOP-based speedup, hardware independent; weights that quantization
rounded to zero are not pruning, so int8 has exactly 1.0); ``nnz_ratio`` is weight entries over
non-zero weight entries (ShrinkBench's compression ratio) and ``storage_ratio`` dense fp32 bits
over stored bits (Deep Compression's); ``compression_ratio`` is a deprecated alias of
``nnz_ratio`` kept for one release (it meant that here, but the storage ratio in ``accelsim
compress``). ``speedup_vs_dense`` is the reference latency over the point's latency *on the same
hardware* and ``speedup_baseline`` names that reference (``dense int8 on edge-32x32``, ``dense
bf16 on h100-sxm``, ``recipe int8 on ...``; empty when the hardware cannot run it);
``energy.<category>`` hold the energy breakdown in joules. ``latency_error_median`` /
``latency_error_worst`` are the family's validation error band (fractions;
:mod:`accelsim.report.uncertainty`). ``max_dram_refetch``, ``refetch_layer``,
``refetch_layer_factor``, ``refetch_layer_latency_share`` and ``refetch_flag`` summarize the DRAM
refetch (:func:`accelsim.report.results.refetch_summary`); ``weights`` says where the weight values
came from and ``seed_matters`` whether the seed can change the row; ``warnings`` holds the point's
warnings, ``; ``-separated.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

from accelsim.config import MAX_SEED, given, seed_problem  # noqa: F401 - MAX_SEED re-exported (the sweep's seed limit)
from accelsim.errors import AccelsimError, SimulationError, SweepError

KNOWN_KEYS = ("arch", "workload", "recipe", "baseline", "baseline_workload", "batch", "seed")

METRICS = (
    "family", "arch_name", "num_layers", "macs", "effective_macs", "params", "nonzero_params", "compression_ratio",
    "theoretical_speedup", "cycles", "compute_cycles", "stall_cycles", "latency_s", "energy_j", "dram_read_bytes",
    "dram_write_bytes", "weight_storage_bits", "utilization", "peak_macs_per_s", "dram_bytes_per_s",
    "dense_latency_s", "dense_energy_j", "speedup_vs_dense", "energy_saving_vs_dense",
    # issue 17: named baseline, one meaning per ratio, per-sample / per-area figures, error band, refetch, provenance
    "speedup_baseline", "nnz_ratio", "storage_ratio", "rounded_zeros", "latency_per_sample_s", "energy_per_sample_j",
    "throughput_per_s", "edp", "area_mm2", "area_source", "perf_per_mm2", "perf_per_w", "latency_error_median",
    "latency_error_worst", "max_dram_refetch", "refetch_layers", "refetch_layer", "refetch_layer_factor", "refetch_layer_latency_share",
    "refetch_flag", "weights", "seed_matters", "warnings",
)

LAYER_METRICS = (
    "layer", "op", "macs", "effective_macs", "cycles", "compute_cycles", "stall_cycles", "latency_s", "energy_j",
    "dram_read_bytes", "dram_write_bytes", "utilization", "weight_storage_bits", "stall_fraction", "dram_refetch",
)
#: LAYER_METRICS that are not LayerResult fields (computed by NetworkResult.layer_metrics)
_DERIVED_LAYER = ("stall_fraction", "dram_refetch")

#: METRICS and LAYER_METRICS that hold text or a flag, not a number
TEXT_METRICS = ("family", "arch_name", "speedup_baseline", "area_source", "refetch_layer", "refetch_flag", "weights",
                "seed_matters", "warnings", "layer", "op")
#: metric columns that cannot be negative (counts, times, energies, rates and ratios of them, the error band's
#: |predicted / reference - 1|), whoever computes them: a negative one is refused (accelsim.dse.store.metric_problem)
NONNEGATIVE = frozenset({m for m in (*METRICS, *LAYER_METRICS) if m not in TEXT_METRICS}
                        | {"ttft_s", "tpot_s", "tokens_per_s"})
#: column prefixes of metrics that cannot be negative (an energy category)
NONNEGATIVE_PREFIXES = ("energy.",)


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_or(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        while len(self) > self.size:
            self.popitem(last=False)
        return value


#: run each network through the model's network call (``simulate_layers`` with a cached plan where it has
#: one, else ``simulate_network``); False: one ``simulate`` per layer, the reference that
#: ``benchmarks/bench_sweep.py`` times against it (the same rows for the systolic sweeps it runs)
BATCHED = True

# per-process caches (each worker process of a sweep has its own)
_ARCH_RAW = _LRU(64)
_CONFIGS = _LRU(512)
_MODELS = _LRU(512)  # a model is its config plus a small energy table: as many as configs
_GRAPHS = _LRU(16)
_CGRAPHS = _LRU(4)  # compressed ResNet-50 weights are ~100 MB each: keep few
_DENSE = _LRU(256)
_RECIPES = _LRU(64)
_PATHS = _LRU(16)


# files named by settings: (kind, text) -> resolved path; path -> (stat stamp, SHA-256 of the content).
# Not cleared with the caches above: they are what tells when those must be cleared.
_SOURCES = _LRU(256)
_DIGESTS: dict[str, tuple[tuple, str]] = {}
# tech table name (and working folder) -> its files with their stat stamps (:func:`_tech_chain`)
_TECH_CHAINS = _LRU(64)
FILE_KEYS = ("arch", "workload", "recipe", "baseline")


def _source_path(kind: str, value: Any) -> Path | None:
    """The file a setting value names (a bundled name or a path, resolved as the loaders do);
    None for inline mappings and for names that do not resolve (``validate`` reports those)."""
    if not isinstance(value, str):
        return None

    def resolve() -> Path | None:
        try:
            if kind == "arch":
                from accelsim.hw.registry import arch_path

                path = arch_path(value)
            elif kind in ("workload", "baseline_workload"):
                from accelsim.workload.zoo import workload_file

                path = workload_file(value)
            else:
                from accelsim.compress.recipe import recipe_file

                path = recipe_file(value)
        except AccelsimError:
            return None
        return path.resolve() if path.is_file() else None

    key = (kind, value, os.getcwd())
    path = _SOURCES.get_or(key, resolve)
    if path is None:
        _SOURCES.pop(key, None)  # a file that appears later is found then
    return path


def _digest(path: Path) -> str | None:
    """SHA-256 of a file's content, re-read only when its ``stat`` changes; a changed content
    clears the per-process caches (configs, models, workloads, graphs, recipes built from it)."""
    stamp = _stamp(path)
    if stamp is None:
        return None
    hit = _DIGESTS.get(str(path))
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
    if hit is not None and hit[1] != digest:
        clear_caches()
    _DIGESTS[str(path)] = (stamp, digest)
    return digest


def _stamp(path: Path) -> tuple | None:
    """What tells that a file changed without reading it (None: it cannot be stat'ed)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def file_digests(setting: Mapping[str, Any]) -> dict[str, str | None]:
    """``{key: content hash}`` of the files the setting's ``arch``, ``workload``, ``recipe`` and
    ``baseline`` name (None for an inline mapping or an unresolved name: the setting text covers it),
    and of ``baseline_workload`` when the setting has one (absent otherwise, so that the
    fingerprints of stores written before that key existed stay the same)."""
    out = {}
    kinds = FILE_KEYS + (("baseline_workload",) if setting.get("baseline_workload") is not None else ())
    for kind in kinds:
        path = _source_path(kind, setting.get(kind))
        out[kind] = _digest(path) if path is not None else None
    tech = _tech_digest(setting)
    if tech is not None:  # (absent for the bundled tables, so that earlier stores' fingerprints stay the same)
        out["tech"] = tech
    return out


def _tech_digest(setting: Mapping[str, Any]) -> str | None:
    """A digest of the tech table files (the table and its ``base`` chain) the point's arch names, when one of them
    is a file outside the package (a user's table: editing it changes the point's energy); None otherwise."""
    name = setting.get("arch.tech")
    if name is None:
        arch = setting.get("arch")
        try:
            name = (arch if isinstance(arch, Mapping) else _raw_arch(arch)[0]).get("tech") if arch is not None else None
        except AccelsimError:
            return None
    from accelsim.energy.tables import names_file

    if not isinstance(name, str) or not names_file(name):
        return None  # a bundled table's name (energy.tables resolves it, and its base chain, in the package)
    from accelsim.paths import TECH_DIR

    files = _tech_chain(name)
    bundled = TECH_DIR.resolve()
    if not files or all(bundled in f.parents for f in files):
        return None
    return hashlib.sha256("".join(_digest(f) or "" for f in files).encode()).hexdigest()[:16]


def _tech_chain(name: str) -> list[Path]:
    """:func:`accelsim.energy.tables.tech_files` of ``name``, read again only when one of its files changed (a
    sweep asks for it per point: parsing the chain's YAML each time cost 5 ms a point)."""
    key = (name, os.getcwd())
    hit = _TECH_CHAINS.get(key)
    if hit is not None and all(_stamp(f) == stamp for f, stamp in hit):
        _TECH_CHAINS.move_to_end(key)
        return [f for f, _ in hit]
    from accelsim.energy.tables import tech_files

    files = tech_files(name)
    _TECH_CHAINS[key] = [(f, _stamp(f)) for f in files]
    while len(_TECH_CHAINS) > _TECH_CHAINS.size:
        _TECH_CHAINS.popitem(last=False)
    return files


def clear_caches() -> None:
    for cache in (_ARCH_RAW, _CONFIGS, _MODELS, _GRAPHS, _CGRAPHS, _PER_GRAPH, _PER_MODEL, _DENSE, _RECIPES,
                  _PATHS):
        cache.clear()


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _split(setting: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(main settings with defaults, arch overrides without the ``arch.`` prefix); ``main["recipe_params"]``
    holds the ``recipe.<step>.<param>`` settings without the ``recipe.`` prefix."""
    main = {"recipe": None, "baseline": None, "baseline_workload": None, "batch": 1, "seed": 0, "recipe_params": {}}
    overrides = {}
    for key, value in setting.items():
        if key.startswith("arch."):
            overrides[key[5:]] = value
        elif key.startswith("recipe."):
            main["recipe_params"][key[7:]] = value
        elif key in KNOWN_KEYS:
            main[key] = value
    return main, overrides


def _raw_arch(arch: Any) -> tuple[dict[str, Any], str]:
    from accelsim.hw.registry import load_arch_dict

    if isinstance(arch, Mapping):
        return dict(arch), "<inline arch>"
    return _ARCH_RAW.get_or(str(arch), lambda: load_arch_dict(arch))


def config_for(arch: Any, overrides: Mapping[str, Any], key: str | None = None):
    """A validated config for ``arch`` with dotted ``overrides`` (cached per process; ``key``: their
    ``_key([arch, overrides])`` when the caller has it)."""
    from accelsim.config import apply_overrides, derive
    from accelsim.hw.registry import config_from_dict

    def make():
        if overrides and "family" not in overrides:
            # a sweep's points differ from their arch in a few keys: check those, not the whole config again
            try:
                base = config_for(arch, {})
            except AccelsimError:
                base = None  # the full build below reports the problem (or the overrides fix it)
            derived = derive(base, overrides) if base is not None else None
            if derived is not None:
                return derived
        raw, label = _raw_arch(arch)
        return config_from_dict(apply_overrides(raw, overrides), label, overrides)

    return _CONFIGS.get_or(key or _key([arch, overrides]), make)


def _model(config, ckey: str):
    from accelsim.hw.registry import build_model

    return _MODELS.get_or(ckey, lambda: build_model(config))


def _graph(workload: Any):
    from accelsim.workload.zoo import load_workload

    return _GRAPHS.get_or(_key(workload), lambda: load_workload(workload))


def _recipe(recipe: Any, params: Mapping[str, Any] | None = None):
    """The loaded recipe, with the sweep's ``recipe.<step>.<param>`` values set when ``params``."""
    try:
        from accelsim.compress.recipe import load_recipe, with_params
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("accelsim"):
            raise SweepError("compression recipes are not available in this installation (accelsim.compress.recipe)") from None
        raise
    if params:
        return _RECIPES.get_or(_key([recipe, params]), lambda: with_params(_recipe(recipe), params, prefix="recipe."))
    return _RECIPES.get_or(_key(recipe), lambda: load_recipe(recipe))


def _cgraph(workload: Any, recipe: Any, seed: int, params: Mapping[str, Any] | None = None):
    from accelsim.compress.compressed import CompressedGraph

    def make():
        graph = _graph(workload)
        if recipe is None:
            return CompressedGraph.dense(graph)
        from accelsim.compress.recipe import compress

        return compress(graph, _recipe(recipe, params), seed=seed)

    extra = [params] if params and recipe is not None else []
    return _CGRAPHS.get_or(_key([workload, recipe, seed if recipe is not None else 0] + extra), make)


# per compressed graph (cached in _CGRAPHS, never mutated by a sweep): its layer list, weight totals,
# operand sizes, ... in one dict per graph, keyed by id() and holding the graph itself, which pins the
# id to that object (at most 8 graphs pinned, whatever the number of values kept per graph)
_PER_GRAPH = _LRU(8)
# per built model (cached in _MODELS): its area, native data type, ...
_PER_MODEL = _LRU(512)


def _per_object(cache: _LRU, obj, what, make):
    entry = cache.get(id(obj))
    if entry is None or entry[0] is not obj:
        entry = (obj, {})
        cache[id(obj)] = entry
        while len(cache) > cache.size:
            cache.popitem(last=False)
    else:
        cache.move_to_end(id(obj))
    values = entry[1]
    if what not in values:
        values[what] = make()
    return values[what]


def _per_graph(cgraph, what, make):
    return _per_object(_PER_GRAPH, cgraph, what, make)


def _per_model(model, what, make):
    return _per_object(_PER_MODEL, model, what, make)


def _layers(cgraph) -> list:
    """The compressed layers of a cached graph in simulation order (listed once per graph)."""
    return _per_graph(cgraph, "layers", lambda: list(cgraph))


def _graph_stats(cgraph) -> tuple[int, int, int, int, int, int]:
    """(weight entries, non-zero weights, dense MACs, MACs left, MACs left after pruning, weights
    rounded to zero) of a compressed graph at batch 1; "after pruning" counts the zeros that
    quantization or sharing produced by rounding as weights (``stats["macs_after_pruning"]``).
    Weight entries and dense MACs are the ORIGINAL graph's (the recipe summary's ``params`` / ``macs``),
    as ShrinkBench counts them: layers that a graph step shrank (channel pruning), removed or substituted
    (low rank) count as they were, so channel pruning's theoretical speedup is not 1.0."""

    def make():
        params = nnz = dense_macs = eff_macs = kept_macs = rounded = 0
        weighted_macs = 0
        for cl in cgraph:
            shape = cl.layer.weight_matrix_shape
            if cl.layer.has_weights and shape:
                params += shape[0] * shape[1]
                nnz += cl.weight_nnz
                weighted_macs += cl.layer.macs
            dense_macs += cl.layer.macs
            eff = cl.effective_macs
            eff_macs += eff
            stats = cl.stats or {}
            kept_macs += stats.get("macs_after_pruning", eff) if cl.layer.has_weights else eff
            rounded += stats.get("rounded_zeros", 0)
        summary = getattr(cgraph, "stats", None) or {}
        if "params" in summary and "macs" in summary:  # a recipe ran: its original weights and their MACs
            params = int(summary["params"])
            dense_macs += int(summary["macs"]) - weighted_macs
        return (params, nnz, dense_macs, eff_macs, kept_macs, rounded)

    return _per_graph(cgraph, "stats", make)


def cache_key(setting: Mapping[str, Any]) -> str:
    """Points with equal keys share a compressed graph: executors group them into one task."""
    main, _ = _split(setting)
    extra = [main["recipe_params"]] if main["recipe_params"] else []
    return _key([main.get("workload"), main.get("recipe"), main.get("seed")] + extra)


def _recipe_param_problems(main: Mapping[str, Any]) -> list[str]:
    """Problems of the ``recipe.<step>.<param>`` keys: unknown step / parameter (with the nearest
    names), a step the point's recipe lacks, a bad value (checked like the recipe file's)."""
    params, recipe = main["recipe_params"], main.get("recipe")
    if not params:
        return []
    if recipe is None:
        return [f"recipe.{k}: the point has no recipe to change (give recipe: a name, path or mapping)" for k in params]
    try:
        _recipe(recipe)
    except AccelsimError:
        return []  # reported as the recipe's own problem
    try:
        _recipe(recipe, params)
    except AccelsimError as exc:
        keys = ", ".join(f"recipe.{k}" for k in params)
        return [p if p.startswith("recipe.") else f"{keys}: {p}" for p in getattr(exc, "problems", [_first_line(exc)])]
    return []


def _paths_of(paths: list[str]) -> tuple[list[str], frozenset]:
    """A family's config paths in order (for the nearest-key hints) and as a set (for the checks)."""
    return paths, frozenset(paths)


def _check_int(value: Any, name: str, lo: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        return f"{name} must be an int >= {lo}; got {given(value)}"
    if name == "seed":
        return seed_problem(value)
    if name == "batch":
        from accelsim.workload.layers import MAX_BATCH

        if value > MAX_BATCH:  # refused with the spec, before any point runs (as simulate refuses it)
            return f"batch must be <= {MAX_BATCH} (2^20 samples); got {given(value)}"
    return None


#: the setting key that moves only where a systolic fold's demand rows sit: points that differ in it alone share
#: their ifmap passes (docs/models/systolic.md §3.8), the one with the fewest columns (most sweeps) serving the rest
SHARED_ACROSS = "arch.array.cols"


def affinity_key(setting: Mapping[str, Any]) -> tuple[str, float]:
    """``(run, order)``: points with equal ``run`` share work in one process (the ifmap passes of a systolic
    array kept across column counts), best run in ascending ``order`` (fewest columns first); executors keep a
    run in one chunk where they can (:func:`accelsim.dse.executors._chunks`)."""
    rest = {k: v for k, v in setting.items() if k != SHARED_ACROSS}
    cols = setting.get(SHARED_ACROSS)
    order = float(cols) if isinstance(cols, (int, float)) and not isinstance(cols, bool) else 0.0
    return _key(rest), order


class SimulateEvaluator:
    """Evaluate a point with :func:`accelsim.simulate.run_compressed` (see module docstring).

    ``detail=True`` also returns one row per layer (written to ``layers.csv`` by the store).
    ``dense_baseline`` adds the dense run on the same hardware (cached) for ``speedup_vs_dense``.
    """

    columns = METRICS
    affinity_key = staticmethod(affinity_key)

    def __init__(self, detail: bool = False, dense_baseline: bool = True):
        self.detail = bool(detail)
        self.dense_baseline = dense_baseline

    def normalize(self, setting: Mapping[str, Any]) -> dict[str, Any]:
        """The setting with defaults made explicit (``batch`` 1, ``seed`` 0), so equal points get equal ids."""
        out = dict(setting)
        out.setdefault("batch", 1)
        out.setdefault("seed", 0)
        return out

    def fingerprint(self, setting: Mapping[str, Any]) -> dict[str, str | None]:
        """The content of the files the setting names (:func:`file_digests`): with the accelsim
        version, what the sweep's ``inputs_hash`` of the point is computed from."""
        return file_digests(setting)

    # --- validation, before anything runs ------------------------------------------------------
    def validate(self, setting: Mapping[str, Any]) -> list[str]:
        """Every problem of one setting, each naming the key (empty list when valid)."""
        file_digests(setting)  # a named file that changed clears the caches first
        from accelsim.config import field_paths
        from accelsim.errors import ConfigError
        from accelsim.hw.registry import family, family_names

        problems: list[str] = []
        valid_top = [*KNOWN_KEYS, "tag.<name>", "arch.<config path>", "recipe.<step>.<param>"]
        for key in setting:
            if key in KNOWN_KEYS or key.startswith(("arch.", "tag.", "recipe.")):
                continue
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=2, cutoff=0.6)
            hint = f"did you mean {' or '.join(close)}?" if close else f"valid keys: {', '.join(valid_top)}"
            problems.append(f"{key}: unknown key; {hint}")
        main, overrides = _split(setting)
        for name in ("arch", "workload"):
            if main.get(name) is None:
                problems.append(f"{name} is required (a bundled name or a path)")
        for name, lo in (("batch", 1), ("seed", 0)):
            msg = _check_int(main[name], name, lo)
            if msg:
                problems.append(msg)
        for name in ("workload", "baseline_workload"):
            wl = main.get(name)
            if wl is None:
                continue
            if not isinstance(wl, str):
                problems.append(f"{name} must be a bundled name or a path; got {wl!r}")
            else:
                try:
                    g = _graph(wl)
                except AccelsimError as exc:
                    problems.append(f"{name}: {_first_line(exc)}")
                    continue
                if name == "workload" and isinstance(main["batch"], int) and not isinstance(main["batch"], bool):
                    from accelsim.workload.hf import step_batch

                    try:
                        step_batch(g, main["batch"], f"batch={main['batch']}")
                    except AccelsimError as exc:
                        problems.append(_first_line(exc))
        for name in ("recipe", "baseline"):
            rc = main.get(name)
            if rc is None:
                continue
            if not isinstance(rc, (str, Mapping)):
                problems.append(f"{name} must be a recipe name, a path or a mapping; got {rc!r}")
            else:
                try:
                    _recipe(rc)
                except AccelsimError as exc:
                    problems.append(f"{name}: {_first_line(exc)}")
        problems.extend(_recipe_param_problems(main))
        arch = main.get("arch")
        if arch is None:
            return problems
        if not isinstance(arch, (str, Mapping)):
            problems.append(f"arch must be a bundled name, a path or a mapping; got {arch!r}")
            return problems
        try:
            raw, label = _raw_arch(arch)
        except AccelsimError as exc:
            problems.append(f"arch: {_first_line(exc)}")
            return problems
        fam = overrides.get("family", raw.get("family"))
        if fam is None and "family" not in raw and "family" not in overrides:
            problems.append(f"arch: {label}: missing field 'family' (one of {', '.join(family_names())})")
            return problems
        if not isinstance(fam, str) or fam not in family_names():
            problems.append(f"arch: {label}: family must be one of {', '.join(family_names())}; got {given(fam)}")
            return problems
        try:
            fam_obj = family(fam)
        except AccelsimError as exc:
            problems.append(f"arch: {_first_line(exc)}")
            return problems
        paths, known = _PATHS.get_or(fam, lambda: _paths_of(field_paths(fam_obj.config_cls)))
        bad = False
        for key in overrides:
            if key in known:
                continue
            parts = key.split(".")
            if any(".".join(parts[:i]) in known for i in range(1, len(parts))):
                continue
            bad = True
            close = difflib.get_close_matches(key, paths, n=3, cutoff=0.5)
            if not close:  # a wrong section name: suggest by the last part
                close = [p for p in paths if p.rsplit(".", 1)[-1] == parts[-1]][:3]
            hint = ", ".join(f"arch.{c}" for c in close) if close else ", ".join(f"arch.{p}" for p in paths[:8]) + ", ..."
            problems.append(f"arch.{key}: unknown config key for family '{fam}'; nearest valid keys: {hint}")
        if bad:
            return problems
        try:
            config_for(arch, overrides)
        except ConfigError as exc:
            for p in exc.problems:
                p = p.split(": ", 1)[1] if p.startswith(f"{label}: ") else p
                problems.append(f"arch.{p}" if overrides else f"arch: {label}: {p}")
            return problems
        except AccelsimError as exc:
            problems.append(f"arch: {_first_line(exc)}")
            return problems
        if fam_obj.model_cls is None:
            problems.append(f"arch: no hardware model for family '{fam}' is available yet")
        return problems

    # --- evaluation ------------------------------------------------------------------------------
    def __call__(self, setting: Mapping[str, Any]) -> dict[str, Any]:
        """Simulate one point; returns ``{"row": {...}, "layers": [...] | None}``."""
        file_digests(setting)  # a named file that changed clears the caches first
        main, overrides = _split(setting)
        ckey = _key([main["arch"], overrides])
        config = config_for(main["arch"], overrides, ckey)
        model = _model(config, ckey)
        workload, batch, reported = _batched_workload(main["workload"], main["batch"])
        graph = _graph(workload)
        cgraph = _cgraph(workload, main["recipe"], main["seed"], main["recipe_params"])
        from accelsim.report.provenance import seed_effect, weight_source
        from accelsim.report.results import baseline_label, fallback_warnings, precision_warnings, refetch_summary

        result = _run(model, config, cgraph, batch, graph.name, cgraph.recipe, ckey)
        result.batch = reported  # a graph holding the batch's sequences: per-sample figures divide by them
        tot = result.total
        dense_tot = None
        baseline, base_wl = main["baseline"], main["baseline_workload"]
        native = _per_model(model, "native", lambda: model.roof().native_dtype)
        label = None
        warnings: list[str] = []
        if (main["recipe"] is not None or baseline is not None or base_wl is not None) and self.dense_baseline:
            ref_wl = base_wl if base_wl is not None else workload

            def make_dense():
                base = _cgraph(ref_wl, baseline, main["seed"])
                try:
                    return _run(model, config, base, batch, graph.name, None, ckey).total
                except SimulationError:  # e.g. EIE cannot run uncompressed weights
                    return None

            bkey = [ckey, workload, batch] + ([baseline, main["seed"]] if baseline is not None else [])
            if base_wl is not None:
                bkey += ["baseline_workload", base_wl]
            dense_tot = _DENSE.get_or(_key(bkey), make_dense)
            if dense_tot is not None:
                ref_name = None
                if baseline is not None:
                    rc = _cgraph(ref_wl, baseline, main["seed"]).recipe
                    ref_name = (rc or {}).get("name") or str(baseline)
                label = baseline_label(native, config.name, ref_name, _graph(base_wl).name if base_wl is not None else None)
            else:  # named as simulate names it, with why the speedup columns are empty
                ref = baseline if baseline is None else str(baseline)
                label = baseline_label(native, config.name, ref, _graph(base_wl).name if base_wl is not None else None) \
                    + " (cannot run: no speedup)"
                warnings.append("the baseline cannot run on this hardware: no speedup (give a baseline recipe it runs)")
        elif main["recipe"] is None:
            dense_tot = tot
            label = baseline_label(native, config.name)
        params, nnz, dense_macs, eff_macs, kept_macs, rounded = _graph_stats(cgraph)
        roof = model.roof()
        peak, bw = roof.peak_macs_per_s, roof.dram_bytes_per_s
        m = result.metrics(tot)
        band = m["uncertainty"]
        ref = refetch_summary(result)
        stored = main["recipe"] is None  # the workload's own formats (an fp16 export), no recipe
        warnings.extend(_per_graph(cgraph, ("precision", native, config.name, stored),
                                   lambda: precision_warnings(_layers(cgraph), native, config.name, stored=stored)))
        if not stored or _per_graph(cgraph, "stored_nm", lambda: any(cl.view.nm for cl in _layers(cgraph))):
            warnings.extend(fallback_warnings(result.layers, config.name))  # formats a unit does not run as stored
        text = ref.pop("refetch_warning")
        if text:
            warnings.append(text)
        recipe_dict = cgraph.recipe if main["recipe"] is not None else None
        seed_matters, seed_note = _per_graph(cgraph, "seed", lambda: seed_effect(graph, recipe_dict))
        if main["seed"] != 0 and not seed_matters:
            warnings.append(f"seed {main['seed']} cannot change this point: {seed_note}")
        nnz_ratio = params / nnz if nnz else None
        row: dict[str, Any] = {
            "batch": reported,
            "family": config.family,
            "arch_name": config.name,
            "num_layers": len(result.layers),
            "macs": tot["macs"],
            "effective_macs": tot["effective_macs"],
            "params": params,
            "nonzero_params": nnz,
            "compression_ratio": nnz_ratio,  # deprecated alias of nnz_ratio (one release)
            "theoretical_speedup": dense_macs / kept_macs if kept_macs else None,
            "cycles": tot["cycles"],
            "compute_cycles": tot["compute_cycles"],
            "stall_cycles": tot["stall_cycles"],
            "latency_s": tot["latency_s"],
            "energy_j": tot["energy_j"],
            "dram_read_bytes": tot["dram_read_bytes"],
            "dram_write_bytes": tot["dram_write_bytes"],
            "weight_storage_bits": tot["weight_storage_bits"],
            "utilization": tot["utilization"],
            "peak_macs_per_s": peak,
            "dram_bytes_per_s": bw,
            "dense_latency_s": dense_tot["latency_s"] if dense_tot else None,
            "dense_energy_j": dense_tot["energy_j"] if dense_tot else None,
            "speedup_vs_dense": (dense_tot["latency_s"] / tot["latency_s"]) if dense_tot and tot["latency_s"] else None,
            "energy_saving_vs_dense": (dense_tot["energy_j"] / tot["energy_j"]) if dense_tot and tot["energy_j"] else None,
            "speedup_baseline": label,
            "nnz_ratio": nnz_ratio,
            "storage_ratio": (cgraph.stats.get("storage_ratio") if main["recipe"] is not None else 1.0),
            "rounded_zeros": rounded,
            "latency_per_sample_s": m["latency_per_sample_s"],
            "energy_per_sample_j": m["energy_per_sample_j"],
            "throughput_per_s": m["throughput_per_s"],
            "edp": m["edp"],
            "area_mm2": m["area_mm2"],
            "area_source": m["area_source"],
            "perf_per_mm2": m["perf_per_mm2"],
            "perf_per_w": m["perf_per_w"],
            "latency_error_median": band["median_error"] if band else None,
            "latency_error_worst": band["worst_error"] if band else None,
            **ref,
            "weights": _per_graph(cgraph, ("weights", main["seed"]),
                                  lambda: weight_source(graph, main["seed"], main["recipe"] is not None,
                                                       bool((getattr(cgraph, "recipe", None) or {}).get("statistics")))),
            "seed_matters": seed_matters,
            "warnings": "; ".join(warnings) if warnings else None,
        }
        hf = graph.metadata.get("hf") or {}
        if hf.get("phase"):  # one step of a Hugging Face config: its serving figures, as simulate's result carries them
            from accelsim.dse.serving import step_serving

            serving = step_serving(hf, tot["latency_s"], reported)
            row.update({key: serving[key] for key in ("ttft_s", "tpot_s", "tokens_per_s")})
        for cat, joules in sorted(tot["energy_breakdown_j"].items()):
            row[f"energy.{cat}"] = joules
        layers = None
        if self.detail:
            layers = []
            for r in result.layers:
                lrow = {"layer": r.name, "op": r.op}
                for name in LAYER_METRICS[2:]:
                    if name not in _DERIVED_LAYER:
                        lrow[name] = getattr(r, name)
                derived = result.layer_metrics(r)
                lrow["stall_fraction"] = derived["stall_fraction"]
                refetch = derived["dram_refetch"]
                lrow["dram_refetch"] = max(refetch.values()) if refetch else None
                for cat, joules in sorted(r.energy_breakdown_j.items()):
                    lrow[f"energy.{cat}"] = joules
                layers.append(lrow)
        return {"row": row, "layers": layers}


def _batched_workload(workload: str, batch: int) -> tuple[str, int, int]:
    """``(workload, batch to simulate at, batch to report)`` by :func:`accelsim.workload.hf.step_batch`, as
    :func:`accelsim.simulate.simulate` runs a Hugging Face step; a mixture of experts built again at the batch is
    named by the name that folds it (``batch=B``), so the caches key it."""
    from accelsim.workload.hf import step_batch

    run_at, reported, rebuild = step_batch(_graph(workload), batch, f"batch={batch}")
    if rebuild:
        workload = f"{workload}{'&' if '?' in workload else '?'}batch={batch}"
    return workload, run_at, reported


def _run(model, config, cgraph, batch, workload_name, recipe, ckey: str):
    """``simulate.run_compressed`` with a cached model (models are stateless); the area and the
    operand sizes (:func:`accelsim.report.results.attach_hardware`) are computed once per model /
    graph and batch."""
    from accelsim.hw.base import arithmetic_guard
    from accelsim.report.results import NetworkResult, area_of, dtype_bits, operand_sizes
    from accelsim.workload.io_scalesim import check_topology_sparsity

    check_topology_sparsity(config, cgraph.graph.metadata)  # as run_compressed: SCALE-Sim's sparse mapping refused
    with arithmetic_guard(config.name):  # (absurd rates: an error row, not a stopped sweep)
        if not BATCHED:  # the reference of benchmarks/bench_sweep.py: one simulate per layer
            layers = [model.simulate(cl, batch) for cl in _layers(cgraph)]
        elif hasattr(model, "simulate_layers"):  # a whole network per call; its plan built once per graph and batch
            plan = _per_graph(cgraph, ("plan", type(model), batch), lambda: model.plan_layers(_layers(cgraph), batch))
            layers = model.simulate_layers(plan, lazy=True)  # LayerResult objects built only when read (detail rows)
        else:
            layers = model.simulate_network(_layers(cgraph), batch)
    # the result stays inside the evaluator, whose rows read the family's error band (metrics) from its arch
    result = NetworkResult(arch={"name": config.name, "family": config.family}, workload=workload_name, layers=layers,
                           batch=batch, recipe=recipe)
    result.area_mm2, result.area_source = _per_model(model, "area", lambda: area_of(model))
    native = _per_model(model, "native_bits", lambda: dtype_bits(model.roof().native_dtype) or 8)
    result.operands = _per_graph(cgraph, ("operands", batch, native), lambda: operand_sizes(_layers(cgraph), batch, native))
    return result


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
