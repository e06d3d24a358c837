"""Hugging Face configs as workloads: ``config.json`` (or a dict, or a model folder) + a phase -> LayerGraph.

``load_hf(source, phase=..., prompt=..., context=..., batch=..., attention=..., routing=..., kv_bits=...)``
reads the config (:mod:`.config`), builds one step's graph (:mod:`.build`), routes MoE tokens (:mod:`.moe`)
and records the model's parameter counts (:mod:`.params`) in ``graph.metadata['hf']``. Nothing here
creates weights: the graph holds shapes only, so a 7B or 47B config builds in well under a second.
``attach_weights(graph, "model.safetensors")`` (:mod:`.checkpoint`) reads a checkpoint lazily onto it.
Formulas: ``docs/workloads.md`` (section "Hugging Face configs").
"""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import WorkloadError
from accelsim.workload.graph import LayerGraph
from accelsim.workload.hf.checkpoint import Checkpoint, PackedWeight, attach_weights
from accelsim.workload.hf.build import ATTENTION, DEFAULT_CONTEXT, DEFAULT_PROMPT, PHASES, build_graph, kv_cache_facts
from accelsim.workload.hf.config import FAMILIES, ModelSpec, model_spec, read_config
from accelsim.workload.hf.params import param_counts

#: keyword arguments :func:`load_hf` takes besides the source (the zoo resolver passes these through)
PHASE_KWARGS = ("phase", "prompt", "context", "batch", "attention", "routing", "kv_bits")


def is_hf_source(source) -> bool:
    """True for a dict, a ``.json`` path or a folder holding ``config.json``."""
    if isinstance(source, dict):
        return True
    if not isinstance(source, (str, Path)):
        return False
    path = Path(source)
    return path.suffix.lower() == ".json" or (path.is_dir() and (path / "config.json").is_file())


def load_hf(source, *, phase: str = "prefill", prompt: int | None = None, context: int | None = None, batch: int = 1,
            attention: str = "unfused", routing="uniform", kv_bits: int | None = None, name: str | None = None) -> LayerGraph:
    """The LayerGraph of one ``phase`` step of the Hugging Face model ``source`` (see :func:`build.build_graph`)."""
    spec = model_spec(source, name)
    label = "<config>" if isinstance(source, dict) else str(source)
    return build_graph(spec, phase=phase, prompt=prompt, context=context, batch=batch, attention=attention,
                       routing=routing, kv_bits=kv_bits, source=label)


def step_batch(graph: LayerGraph, batch: int, given: str) -> tuple[int, int, bool]:
    """How ``batch`` sequences of a Hugging Face step run (docs/workloads.md): ``(batch to simulate the graph at,
    batch to report, rebuild)``. A graph whose name folded ``batch=B`` into its shapes runs once and reports ``B``
    (``batch`` also > 1 is an error; ``given`` names it as the caller's user wrote it, e.g. ``--batch 4``); a
    mixture of experts at ``batch > 1`` must be built at that batch (``rebuild``: its experts are routed for the
    whole batch's tokens) and then runs once; anything else runs at ``batch``."""
    hf = graph.metadata.get("hf") or {}
    folded = int(hf.get("batch") or 1)
    if folded > 1:
        if batch > 1:
            raise WorkloadError(f"{given} and the workload's batch={folded} both set the batch; give one")
        return 1, folded, False
    if batch > 1 and "routing" in hf:
        return 1, batch, True
    return batch, batch, False


def generate_steps(prompt: int, generate: int, points: int = 4) -> list[dict]:
    """A ``generate`` run (one prefill of ``prompt`` tokens, then ``generate`` decode steps) as graphs to build and
    weights to sum them with: ``[{phase, prompt | context, repeat}, ...]``. Decode step ``j`` (1-based) reads a KV
    length of ``prompt + j``; the steps are split into ``points`` equal runs (the remainder on the last ones), each
    represented by the decode at its middle step's context (the lower middle of an even run: exact for costs linear
    in the context, as attention is, over odd runs; half a token short over even ones)."""
    for value, what in ((prompt, "prompt"), (generate, "generate"), (points, "points")):
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if what == "generate" else 1):
            raise WorkloadError(f"{what} must be an int >= {0 if what == 'generate' else 1}; got {value!r}")
    steps = [{"phase": "prefill", "prompt": prompt, "repeat": 1}]
    points = min(points, generate)
    start = 1
    for i in range(points):
        stop = start + (generate - start + 1) // (points - i)  # exclusive
        count = stop - start
        steps.append({"phase": "decode", "context": prompt + (start + stop - 1) // 2, "repeat": count})
        start = stop
    return steps


__all__ = [
    "ATTENTION", "Checkpoint", "DEFAULT_CONTEXT", "DEFAULT_PROMPT", "FAMILIES", "ModelSpec", "PHASES", "PHASE_KWARGS", "PackedWeight", "attach_weights", "build_graph",
    "generate_steps", "is_hf_source", "step_batch", "kv_cache_facts", "load_hf", "model_spec", "param_counts", "read_config",
]
