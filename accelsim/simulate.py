"""The main pipeline: workload -> compression -> hardware model -> NetworkResult."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from accelsim.compress.compressed import CompressedGraph
from accelsim.config import MAX_SEED, check_seed, to_dict  # noqa: F401 - MAX_SEED re-exported
from accelsim.errors import AccelsimError, ConfigError, SimulationError, WorkloadError, api_arguments
from accelsim.hw.base import arithmetic_guard
from accelsim.hw.registry import build_model, load_arch
from accelsim.report.results import NetworkResult, attach_hardware, baseline_label, fallback_warnings, precision_warnings
from accelsim.workload.graph import LayerGraph
from accelsim.workload.io_scalesim import check_topology_sparsity
from accelsim.workload.layers import check_batch  # noqa: F401 - accelsim.simulate.check_batch (numpy ints in, bools out)
from accelsim.workload.zoo import load_workload

#: a baseline whose loaded weights have more zeros than this fraction is already sparse (warned)
SPARSE_BASELINE_ZEROS = 0.01


def run_compressed(config, cgraph: CompressedGraph, batch: int, workload_name: str, recipe=None,
                   model=None) -> NetworkResult:
    """Simulate every compute layer of an already compressed graph on one config (``model``: the
    config's built model, when the caller has one)."""
    model = model if model is not None else build_model(config)
    check_topology_sparsity(config, cgraph.graph.metadata)
    try:
        for cl in cgraph:  # every layer's work budget (ACCELSIM_MAX_MACS) before any layer runs
            cl.layer.gemm(batch)
        with arithmetic_guard(config.name):
            layers = model.simulate_network(cgraph, batch)
    except (WorkloadError, SimulationError) as exc:  # a layer's problem named with the workload's file too
        where = cgraph.graph._where()
        if not where or not str(exc).startswith("layer '"):
            raise
        raise type(exc)(where + str(exc)) from None
    result = NetworkResult(arch=to_dict(config), workload=workload_name, layers=layers, batch=batch, recipe=recipe)
    attach_hardware(result, model, cgraph, batch)
    return result


def compress_workload(graph: LayerGraph, recipe: Any, seed: int = 0) -> CompressedGraph:
    """Apply a recipe (name, path, dict or Recipe) to a graph; synthesizes weights when missing."""
    from accelsim.compress.recipe import compress, load_recipe

    return compress(graph, load_recipe(recipe), seed=seed)


def _source_path(kind: str, value: Any) -> Path | None:
    """The file a bundled name or a path names (None for an inline mapping or an object)."""
    if not isinstance(value, (str, Path)):
        return None
    try:
        if kind == "arch":
            from accelsim.hw.registry import arch_path

            path = arch_path(value)
        else:
            from accelsim.compress.recipe import recipe_file

            path = recipe_file(value)
    except AccelsimError:
        return None
    return path if path.is_file() else None


def _recipe_name(recipe: Any, cgraph: CompressedGraph | None) -> str:
    if cgraph is not None and isinstance(cgraph.recipe, dict) and cgraph.recipe.get("name"):
        return str(cgraph.recipe["name"])
    return str(recipe) if isinstance(recipe, (str, Path)) else "<inline recipe>"


def _loaded_zero_fraction(graph: LayerGraph) -> float:
    """Fraction of zero weights among the weights loaded with the workload (0.0 when none are loaded)."""
    import numpy as np

    zeros = total = 0
    for name, w in graph.weights.items():
        arr = np.asarray(w)
        zeros += int(arr.size - np.count_nonzero(arr))
        total += int(arr.size)
    return zeros / total if total else 0.0


def _batched_graph(workload: Any, graph: LayerGraph, batch: int) -> tuple[LayerGraph, int, int]:
    """``(graph, batch to simulate at, batch to report)`` by :func:`accelsim.workload.hf.step_batch`; a mixture of
    experts is built again at the batch, which needs the workload as a name or config, not a graph built at batch 1."""
    from accelsim.workload.hf import step_batch

    run_at, reported, rebuild = step_batch(graph, batch, f"batch={batch}")
    if rebuild:
        if isinstance(workload, LayerGraph):
            raise WorkloadError(
                f"workload '{graph.name}' is a mixture-of-experts step built at batch 1: its experts are routed for "
                f"one sequence, not {batch}; build it at the batch (load_workload(..., batch={batch})) and simulate "
                "it at batch 1, or pass the config's name")
        graph = load_workload(workload, batch=batch)
    return graph, run_at, reported


@api_arguments
def simulate(
    arch: Any,
    workload: Any,
    recipe: Any = None,
    batch: int = 1,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    seed: int = 0,
    dense_baseline: bool = True,
    baseline: Any = None,
    baseline_workload: Any = None,
    command: str | None = None,
) -> NetworkResult:
    """Simulate ``workload`` (optionally compressed by ``recipe``) on ``arch``.

    With a recipe (or a ``baseline`` / ``baseline_workload``) and ``dense_baseline``, a reference
    run on the same hardware is simulated too and the totals gain ``speedup_vs_dense`` and
    ``energy_saving_vs_dense``, named by ``total["baseline"]``: by default the uncompressed
    workload at the hardware's native data type (``dense int8 on edge-32x32``, ``dense bf16 on
    h100-sxm``); ``baseline`` names a recipe to compare with instead (e.g. ``int8``), and
    ``baseline_workload`` another workload (e.g. the unpruned model when ``workload`` is an already
    pruned one, which would otherwise be its own dense baseline). The result carries provenance
    (``command``: the command line to record; default this process's), the hardware's area and
    warnings (:mod:`accelsim.report.results`).
    """
    batch = check_batch(batch)
    seed = check_seed(seed)
    if not isinstance(dense_baseline, bool):  # ('no' is truthy: a string would have run the baseline)
        raise ConfigError(f"dense_baseline must be true or false; got {dense_baseline!r}")
    if command is not None and not isinstance(command, str):
        raise ConfigError(f"command must be a string (the command line to record) or None; got {command!r}")
    config = load_arch(arch, overrides)
    graph = load_workload(workload)
    graph, batch, reported = _batched_graph(workload, graph, batch)
    model = build_model(config)
    native = model.roof().native_dtype
    if recipe is None:
        cgraph = CompressedGraph.dense(graph)
        result = run_compressed(config, cgraph, batch, graph.name, model=model)
        result.warnings.extend(precision_warnings(cgraph, native, config.name, stored=True))
        result.warnings.extend(fallback_warnings(result.layers, config.name))
    else:
        cgraph = compress_workload(graph, recipe, seed=seed)
        result = run_compressed(config, cgraph, batch, graph.name, recipe=cgraph.recipe, model=model)
        result.warnings.extend(precision_warnings(cgraph, native, config.name))
        result.warnings.extend(fallback_warnings(result.layers, config.name))
    base_info = None
    if dense_baseline and (recipe is not None or baseline is not None or baseline_workload is not None):
        bgraph = load_workload(baseline_workload) if baseline_workload is not None else graph
        bcg = CompressedGraph.dense(bgraph) if baseline is None else compress_workload(bgraph, baseline, seed=seed)
        result.baseline = baseline_label(native, config.name, _recipe_name(baseline, bcg) if baseline is not None else None,
                                         bgraph.name if baseline_workload is not None else None)
        base_info = {"label": result.baseline, "recipe": bcg.recipe.get("name") if bcg.recipe else None,
                     "workload": bgraph.name, "workload_file": str(bgraph.source) if bgraph.source else None}
        try:
            result.dense = run_compressed(config, bcg, batch, bgraph.name, recipe=bcg.recipe, model=model)
        except SimulationError as exc:  # e.g. EIE cannot run uncompressed weights
            result.extra["dense_baseline"] = f"unavailable: {exc}"
            result.warnings.append(f"no speedup: the baseline ({result.baseline}) cannot run: {exc}; give a "
                                   "baseline recipe the hardware runs (--baseline RECIPE)")
            result.baseline += " (cannot run: no speedup)"
        if baseline is None:
            zeros = _loaded_zero_fraction(bgraph)
            if zeros > SPARSE_BASELINE_ZEROS:
                result.warnings.append(
                    f"the baseline's loaded weights are {100 * zeros:.1f}% zeros (an already pruned model is its own "
                    f"dense baseline); fix: --baseline-workload with the unpruned model")
    if reported != batch:  # the graph holds the batch's sequences: per-sample figures divide by them
        result.batch = reported
        if result.dense is not None:
            result.dense.batch = reported
    notes = list(graph.metadata.get("notes") or ())
    if notes:  # what the importer dropped or approximated (docs/importers.md), in every output of the result
        result.extra["workload_notes"] = notes
    from accelsim.report.provenance import provenance

    result.provenance = provenance(result.arch, _source_path("arch", arch), graph, cgraph.recipe if recipe is not None else None,
                                   _source_path("recipe", recipe), seed, baseline=base_info, command=command)
    if seed != 0 and not result.provenance["seed_matters"]:
        result.warnings.append(f"seed {seed} cannot change this result: {result.provenance['seed_note']}")
    return result
