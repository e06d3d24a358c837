"""The main pipeline: workload -> compression -> hardware model -> NetworkResult."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from accelsim.compress.compressed import CompressedGraph
from accelsim.config import to_dict
from accelsim.errors import ConfigError, SimulationError
from accelsim.hw.registry import build_model, load_arch
from accelsim.report.results import NetworkResult
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import check_batch as _check_batch
from accelsim.workload.zoo import load_workload


def check_batch(batch: Any) -> int:
    """``batch`` as an int in ``[1, MAX_BATCH]`` (2^20); else a one-line ConfigError, before anything is loaded."""
    if isinstance(batch, bool) or not isinstance(batch, int):
        raise ConfigError(f"batch must be an int >= 1; got {batch!r}")
    return _check_batch(batch)


def run_compressed(config, cgraph: CompressedGraph, batch: int, workload_name: str, recipe=None) -> NetworkResult:
    """Simulate every compute layer of an already compressed graph on one config."""
    model = build_model(config)
    layers = [model.simulate(cl, batch) for cl in cgraph]
    return NetworkResult(arch=to_dict(config), workload=workload_name, layers=layers, batch=batch, recipe=recipe)


def compress_workload(graph: LayerGraph, recipe: Any, seed: int = 0) -> CompressedGraph:
    """Apply a recipe (name, path, dict or Recipe) to a graph; synthesizes weights when missing."""
    from accelsim.compress.recipe import compress, load_recipe

    return compress(graph, load_recipe(recipe), seed=seed)


def simulate(
    arch: Any,
    workload: Any,
    recipe: Any = None,
    batch: int = 1,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    seed: int = 0,
    dense_baseline: bool = True,
) -> NetworkResult:
    """Simulate ``workload`` (optionally compressed by ``recipe``) on ``arch``.

    With a recipe and ``dense_baseline``, the uncompressed workload is simulated too and the
    totals gain ``speedup_vs_dense`` and ``energy_saving_vs_dense``.
    """
    batch = check_batch(batch)
    config = load_arch(arch, overrides)
    graph = load_workload(workload)
    if recipe is None:
        return run_compressed(config, CompressedGraph.dense(graph), batch, graph.name)
    cgraph = compress_workload(graph, recipe, seed=seed)
    result = run_compressed(config, cgraph, batch, graph.name, recipe=cgraph.recipe)
    if dense_baseline:
        try:
            result.dense = run_compressed(config, CompressedGraph.dense(graph), batch, graph.name)
        except SimulationError as exc:  # e.g. EIE cannot run uncompressed weights
            result.extra["dense_baseline"] = f"unavailable: {exc}"
    return result
