"""LLM serving, priced as :func:`accelsim.simulate.simulate` prices a graph (the dse layer does not import it: the
same steps with one :class:`Device` reused by every step of a run): one phase of a Hugging Face config, a whole
``generate`` run (prefill + decode steps with the growing KV cache), and the memory a batch needs.

* :func:`simulate_phase` - one ``prefill`` / ``decode`` step at batch ``B``. Dense models are built at
  batch 1 and simulated at ``B`` (the same GEMMs); a mixture of experts is built at ``B`` (the routing of
  ``B`` tokens decides which experts run and with how many tokens: :mod:`accelsim.workload.hf.moe`) and
  simulated at 1, with the result's ``batch`` set to ``B`` so per-sample figures divide by it.
* :func:`simulate_generate` - one prefill of ``P`` tokens, then ``G`` decode steps, step ``j`` reading a
  KV cache of ``P + j`` tokens. ``points=None`` sums all ``G`` steps exactly; ``points=q`` splits the steps
  into ``q`` runs of (nearly) equal length and charges each run ``count x`` the step at its middle context
  (:func:`accelsim.workload.hf.generate_steps`, the midpoint rule: exact for a cost linear in the context,
  and within ``tests/test_llm_generate.py``'s bound of the exact sum for the GPU model). The result's
  ``layers`` are the prefill layers (``prefill/<name>``) followed by the decode layers summed over the
  steps (``decode/<name>``, their ``weight_storage_bits`` 0: the weights are stored once, on the prefill
  rows); ``extra["serving"]``: ``ttft_s`` (the prefill latency: the first token comes out of it), ``tpot_s``
  (mean decode step), ``tokens_per_s`` (``B (1 + G) / (ttft + G tpot)``: every sequence's generated tokens
  over the run), and per phase its latency, energy and layer count.
* :func:`memory_bytes` / :func:`max_batch` - weights (the stored bits of the compressed model) plus the KV
  cache of ``B`` sequences of ``L`` tokens at the recipe's KV width; the largest ``B`` that fits a device.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Mapping

from accelsim.errors import ConfigError, WorkloadError
from accelsim.hw.base import LayerResult
from accelsim.report.results import NetworkResult
from accelsim.workload.hf.build import DEFAULT_PROMPT

#: decode points of the midpoint rule when ``points`` is not given to :func:`simulate_generate`
DEFAULT_POINTS = 8
#: decode steps of a generation when none is given (the prompt's default is the workload's, ``DEFAULT_PROMPT``)
DEFAULT_GENERATE = 128


def _is_moe(source) -> bool:
    from accelsim.workload.hf import model_spec

    return model_spec(source).moe is not None


def phase_graph(source, phase: str, *, prompt: int | None = None, context: int | None = None, batch: int = 1,
                attention: str = "unfused", routing="uniform", kv_bits: int | None = None):
    """``(graph, simulate_batch)`` of one step: a dense model at batch 1 simulated at ``batch``; an MoE model
    built at ``batch`` (routing the batch's tokens) and simulated at 1."""
    from accelsim.workload.hf import load_hf

    moe = _is_moe(source)
    graph = load_hf(source, phase=phase, prompt=prompt, context=context, batch=batch if moe else 1,
                    attention=attention, routing=routing, kv_bits=kv_bits)
    return graph, (1 if moe else batch)


class Device:
    """An arch config and its built model, loaded once and reused by every step of a run (models are stateless)."""

    def __init__(self, arch, overrides=None):
        from accelsim.hw.registry import build_model, load_arch

        self.arch = arch
        self.config = load_arch(arch, overrides)
        self.model = build_model(self.config)
        self.native = self.model.roof().native_dtype


def _run(dev: Device, cgraph, batch: int, name: str, recipe) -> NetworkResult:
    """Every compute layer of ``cgraph`` on the device (``accelsim.simulate.run_compressed``'s loop)."""
    from accelsim.config import to_dict
    from accelsim.report.results import attach_hardware

    from accelsim.hw.base import arithmetic_guard

    with arithmetic_guard(dev.config.name):
        layers = dev.model.simulate_network(list(cgraph), batch)
    result = NetworkResult(arch=to_dict(dev.config), workload=name, layers=layers, batch=batch, recipe=recipe)
    return attach_hardware(result, dev.model, cgraph, batch)


def step_serving(hf: Mapping[str, Any], latency_s: float, batch: int) -> dict:
    """Serving figures of one step (``graph.metadata['hf']``, the step's latency, the sequences): a prefill's
    latency is the time to the first token (``ttft_s``) and its rate the prompt tokens per second; a decode
    step's latency is the time per output token (``tpot_s``) and its rate ``batch / latency``."""
    phase = hf.get("phase")
    tokens = batch * (hf.get("new_tokens", 1) if phase == "prefill" else 1)
    return {"phase": phase, "batch": batch, "kv_length": hf.get("kv_length"),
            "ttft_s": latency_s if phase == "prefill" else None, "tpot_s": latency_s if phase == "decode" else None,
            "tokens_per_s": tokens / latency_s if latency_s else None}


def simulate_phase(arch, source, phase: str = "decode", *, prompt: int | None = None, context: int | None = None,
                   batch: int = 1, recipe: Any = None, overrides=None, seed: int = 0, attention: str = "unfused",
                   routing="uniform", kv_bits: int | None = None, dense_baseline: bool = True,
                   command: str | None = None, device: Device | None = None,
                   memory_context: int | None = None) -> NetworkResult:
    """One ``phase`` step of the Hugging Face config ``source`` at ``batch`` sequences on ``arch``, as
    :func:`accelsim.simulate.simulate` prices a graph (module docstring: how an MoE batch is routed): the
    recipe applied (the statistics path for a model too large to synthesize), the dense baseline at the
    device's native type (``result.dense``, ``speedup_vs_dense``), precision warnings and provenance.
    ``device``: a :class:`Device` already loaded (``arch`` / ``overrides`` are then not read again).
    ``memory_context``: the KV length ``extra["memory"]`` (and its warning) is taken at, when not the step's own
    (a generation's last token: :func:`simulate_generate`)."""
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.compress.recipe import compress, load_recipe
    from accelsim.report.provenance import provenance
    from accelsim.report.results import baseline_label, precision_warnings
    from accelsim.workload.layers import check_batch

    from accelsim.config import check_seed

    batch = check_batch(batch)
    seed = check_seed(seed)
    dev = device if device is not None else Device(arch, overrides)
    with warnings.catch_warnings(record=True) as caught:  # the graph's warnings also go into the result
        warnings.simplefilter("always")
        graph, sim_batch = phase_graph(source, phase, prompt=prompt, context=context, batch=batch,
                                       attention=attention, routing=routing, kv_bits=kv_bits)
    for w in caught:  # shown as before, through the caller's filters
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if recipe is None:
        cgraph = CompressedGraph.dense(graph)
        result = _run(dev, cgraph, sim_batch, graph.name, None)
        result.warnings.extend(precision_warnings(cgraph, dev.native, dev.config.name, stored=True))
    else:
        cgraph = compress(graph, load_recipe(recipe), seed=seed)
        result = _run(dev, cgraph, sim_batch, graph.name, cgraph.recipe)
        result.warnings.extend(precision_warnings(cgraph, dev.native, dev.config.name))
        if dense_baseline:
            result.dense = _run(dev, CompressedGraph.dense(graph), sim_batch, graph.name, None)
            result.baseline = baseline_label(dev.native, dev.config.name)
    result.warnings[:0] = list(dict.fromkeys(str(w.message) for w in caught))
    if sim_batch != batch:  # MoE: the graph holds the batch; per-sample figures divide by it
        result.batch = batch
        if result.dense is not None:
            result.dense.batch = batch
        result.extra["batch_in_graph"] = True
    hf = graph.metadata.get("hf") or {}
    attach_memory(result, cgraph, source, hf if memory_context is None else {**hf, "kv_length": memory_context},
                  batch, dev.config)
    result.extra["serving"] = step_serving(hf, result.total["latency_s"], batch)
    arch_file = None
    if isinstance(dev.arch, str):
        from accelsim.errors import AccelsimError
        from accelsim.hw.registry import arch_path

        try:
            arch_file = arch_path(dev.arch)
        except AccelsimError:  # an unresolvable name: no file to record
            arch_file = None
    result.provenance = provenance(result.arch, arch_file, graph, cgraph.recipe if recipe is not None else None,
                                   None, seed, command=command)
    return result


def _scaled(r: LayerResult, k: int, name: str) -> LayerResult:
    """``r`` run ``k`` times: counts, bytes, seconds and joules times ``k`` (storage and utilization kept)."""
    def mul(d):
        return {key: v * k for key, v in d.items()}

    return dataclasses.replace(
        r, name=name, macs=r.macs * k, effective_macs=r.effective_macs * k, cycles=r.cycles * k,
        compute_cycles=r.compute_cycles * k, stall_cycles=r.stall_cycles * k, latency_s=r.latency_s * k,
        energy_j=r.energy_j * k, energy_breakdown_j=mul(r.energy_breakdown_j), sram_reads=mul(r.sram_reads),
        sram_writes=mul(r.sram_writes), dram_read_bytes=r.dram_read_bytes * k, dram_write_bytes=r.dram_write_bytes * k,
        extra={**r.extra, "steps": k}, actions=None)


def _summed(a: LayerResult, b: LayerResult) -> LayerResult:
    def add(x, y):
        return {key: x.get(key, 0) + y.get(key, 0) for key in {**x, **y}}

    cycles = a.cycles + b.cycles
    util = (a.utilization * a.cycles + b.utilization * b.cycles) / cycles if cycles else 0.0
    return dataclasses.replace(
        a, macs=a.macs + b.macs, effective_macs=a.effective_macs + b.effective_macs, cycles=cycles,
        compute_cycles=a.compute_cycles + b.compute_cycles, stall_cycles=a.stall_cycles + b.stall_cycles,
        latency_s=a.latency_s + b.latency_s, energy_j=a.energy_j + b.energy_j,
        energy_breakdown_j=add(a.energy_breakdown_j, b.energy_breakdown_j), sram_reads=add(a.sram_reads, b.sram_reads),
        sram_writes=add(a.sram_writes, b.sram_writes), dram_read_bytes=a.dram_read_bytes + b.dram_read_bytes,
        dram_write_bytes=a.dram_write_bytes + b.dram_write_bytes, utilization=util,
        extra={**b.extra, "steps": a.extra.get("steps", 1) + b.extra.get("steps", 1)})


def decode_steps(prompt: int, generate: int, points: int | None) -> list[dict]:
    """The decode steps to simulate: ``[{context, repeat}]``; every step (``points=None``) or the midpoint
    rule over ``points`` runs (:func:`accelsim.workload.hf.generate_steps`)."""
    from accelsim.workload.hf import generate_steps

    if points is None:
        generate_steps(prompt, generate, 1)  # the same argument checks
        return [{"context": prompt + j, "repeat": 1} for j in range(1, generate + 1)]
    return [{"context": s["context"], "repeat": s["repeat"]} for s in generate_steps(prompt, generate, points)[1:]]


def _combine(phase_results: list[tuple[NetworkResult, int]], prefix: str) -> list[LayerResult]:
    order: list[str] = []
    acc: dict[str, LayerResult] = {}
    for res, k in phase_results:
        for r in res.layers:
            scaled = _scaled(r, k, f"{prefix}/{r.name}")
            if r.name in acc:
                acc[r.name] = _summed(acc[r.name], scaled)
            else:
                order.append(r.name)
                acc[r.name] = scaled
    return [acc[n] for n in order]


def simulate_generate(arch, source, *, prompt: int = DEFAULT_PROMPT, generate: int = DEFAULT_GENERATE, batch: int = 1,
                      recipe: Any = None,
                      overrides=None, seed: int = 0, attention: str = "unfused", routing="uniform",
                      kv_bits: int | None = None, points: int | None = DEFAULT_POINTS, dense_baseline: bool = True,
                      command: str | None = None) -> NetworkResult:
    """One prefill of ``prompt`` tokens plus ``generate`` decode steps (module docstring); the result's
    ``extra["serving"]`` holds ``ttft_s``, ``tpot_s``, ``tokens_per_s`` and the per-phase totals, and its
    ``dense`` the same run without the recipe (when ``dense_baseline`` and a recipe is given). Defaults: the
    command line's, 128 and 128 (until 2026-12-07 this function took 512 and 512, the same run giving another
    answer from Python than from ``accelsim simulate --phase generate``)."""
    if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 1):
        raise WorkloadError(f"points must be an int >= 1 or None (every step); got {points!r}")
    steps = decode_steps(prompt, generate, points)
    from accelsim.workload.hf import model_spec

    spec = model_spec(source)
    over = spec.is_decoder and prompt + generate > spec.max_positions
    over_text = (f"generate: prompt {prompt} + {generate} tokens is over the model's max_position_embeddings "
                 f"{spec.max_positions}")
    if over:
        warnings.warn(over_text, stacklevel=2)
    # the device holds the KV cache of the last token: every step takes its memory there, so the run has one fits /
    # max_batch and one over-capacity warning (the same text from every step), not one at each midpoint
    kw = dict(batch=batch, recipe=recipe, seed=seed, attention=attention, routing=routing, kv_bits=kv_bits,
              dense_baseline=dense_baseline, command=command, device=Device(arch, overrides),
              memory_context=prompt + generate)
    with warnings.catch_warnings():  # one warning for the run (above), not one per decode step
        if spec.is_decoder and prompt + generate > spec.max_positions:
            warnings.filterwarnings("ignore", message=".*max_position_embeddings.*")
        pre = simulate_phase(arch, source, "prefill", prompt=prompt, **kw)
        decs = [(simulate_phase(arch, source, "decode", context=s["context"], **kw), s["repeat"]) for s in steps]
    contexts = [s["context"] for s in steps]
    out = _assemble(pre, decs, prompt, generate, points, contexts)
    if "memory" in pre.extra:
        out.extra["memory"] = pre.extra["memory"]
    if pre.dense is not None:
        out.dense = _assemble(pre.dense, [(d.dense, k) for d, k in decs], prompt, generate, points, contexts)
        out.baseline = pre.baseline
    out.provenance = pre.provenance
    steps_said = [w for w in pre.warnings + [w for d, _ in decs for w in d.warnings]
                  if not (over and "max_position_embeddings" in w)]  # said once for the run, not per step
    out.warnings = list(dict.fromkeys(([over_text] if over else []) + steps_said))
    return out


def _assemble(pre: NetworkResult, decs: list[tuple[NetworkResult, int]], prompt: int, generate: int,
              points: int | None, contexts: list[int]) -> NetworkResult:
    batch = pre.batch
    # the model's weights are stored once: counted on the prefill layers, 0 on the decode copies
    decode_layers = [dataclasses.replace(r, weight_storage_bits=0) for r in _combine(decs, "decode")]
    layers = _combine([(pre, 1)], "prefill") + decode_layers
    ttft = pre.total["latency_s"]
    decode_s = sum(d.total["latency_s"] * k for d, k in decs)
    decode_j = sum(d.total["energy_j"] * k for d, k in decs)
    tpot = decode_s / generate if generate else None
    serving = {
        "prompt": prompt, "generate": generate, "batch": batch,
        "quadrature": "exact" if points is None else f"midpoint, {len(decs)} runs",
        "decode_points": [{"context": c, "repeat": k} for c, (_, k) in zip(contexts, decs)],
        "ttft_s": ttft, "tpot_s": tpot, "tokens_per_s": batch * (1 + generate) / (ttft + decode_s),
        "phases": {"prefill": {"latency_s": ttft, "energy_j": pre.total["energy_j"], "layers": len(pre.layers)},
                   "decode": {"latency_s": decode_s, "energy_j": decode_j, "steps": generate,
                              "layers": len(decs[0][0].layers) if decs else 0}},
    }
    name = pre.workload.rsplit("-prefill", 1)[0]
    extra = {k: v for k, v in pre.extra.items() if k not in ("memory", "serving")}  # the prefill step's, not the run's
    res = NetworkResult(arch=pre.arch, workload=f"{name}-generate{prompt}+{generate}", layers=layers, batch=batch,
                        recipe=pre.recipe, extra={**extra, "serving": serving})
    res.area_mm2, res.area_source = pre.area_mm2, pre.area_source
    return res


# --- memory --------------------------------------------------------------------------------------------------
def memory_bytes(cgraph, spec, batch: int, context: int, kv_bits_per_element: float | None = None,
                 native_bits: int = 16) -> dict:
    """Device memory of serving ``batch`` sequences of ``context`` tokens: ``weights`` (the stored bits of every
    quantized layer of the compressed graph; unquantized layers and the embedding table at ``native_bits``) and
    ``kv`` (``batch * min(context, window) * blocks * elements_per_token`` at ``kv_bits_per_element``, default the
    recipe's KV format, else the graph's ``kv_bits``, else 16). Bytes."""
    from accelsim.workload.hf import kv_cache_facts

    weights = 0
    tied = bool(((cgraph.graph.metadata or {}).get("hf") or {}).get("tied"))
    for cl in cgraph:
        if cl.layer.has_weights:
            if tied and _is_lm_head(cl.name):  # a tied lm_head reads the embedding table, counted below
                continue
            weights += _stored_bits(cl, native_bits)
    embed = [layer for layer in cgraph.graph.layers if layer.op == "embedding"]
    weights += sum(native_bits * layer.params for layer in embed)
    # the parameters outside the weight matrices and tables (norm scales, biases) at the serving width
    weights += native_bits * sum(layer.params - (layer.weight_matrix_shape[0] * layer.weight_matrix_shape[1]
                                                 if layer.has_weights else 0)
                                 for layer in cgraph.graph.layers if layer.op != "embedding")
    weights += _untouched_expert_bits(cgraph, native_bits)
    kvf = cgraph.kv_format
    if kv_bits_per_element is None:
        if kvf is not None:
            kv_bits_per_element = (kvf.bits_per_element("key", context, spec.head_dim)
                                   + kvf.bits_per_element("value", context, spec.head_dim)) / 2
        else:  # the width the graph was built with (kv_bits), else 16
            built = ((cgraph.graph.metadata or {}).get("hf") or {}).get("kv_cache") or {}
            kv_bits_per_element = float(built.get("bits", 16))
    facts = kv_cache_facts(spec, context, 1, 16)
    per_seq = facts["token_blocks"] * facts["elements_per_token_per_block"] * kv_bits_per_element / 8
    return {"weights": weights / 8, "kv_per_sequence": per_seq, "kv": batch * per_seq,
            "total": weights / 8 + batch * per_seq, "kv_bits_per_element": kv_bits_per_element}


def _stored_bits(cl, native_bits: int) -> float:
    """A weight layer's bits in device memory: unquantized weights at the serving width (a recipe's plain dense
    copy is fp32), else as stored."""
    shape = cl.layer.weight_matrix_shape
    plain = cl.weight_bits is None and cl.view.layout in ("none", "dense") and shape is not None
    return shape[0] * shape[1] * native_bits if plain else cl.weight_storage_bits(native_bits)


def _is_lm_head(name: str) -> bool:
    return name.rsplit(".", 1)[-1] == "lm_head"


def _untouched_expert_bits(cgraph, native_bits: int) -> float:
    """Stored bits of a mixture of experts' experts the step's tokens did not reach: a step's graph holds only the
    touched experts (``params.graph``), but every expert sits in device memory (``params.total``). They are stored
    as the step's expert layers are (their bits per weight; the experts of a block are alike), else at
    ``native_bits``. 0 for a dense model."""
    hf = (cgraph.graph.metadata or {}).get("hf") or {}
    params = hf.get("params") or {}
    in_graph = int(params.get("graph") or 0)
    if hf.get("tied"):  # the graph counts a tied lm_head's matrix again; the model holds it once
        in_graph -= sum(layer.params for layer in cgraph.graph.layers if layer.has_weights and _is_lm_head(layer.name))
    untouched = int(params.get("total") or 0) - in_graph
    if untouched <= 0 or "routing" not in (cgraph.graph.metadata.get("hf") or {}):
        return 0.0
    experts = [cl for cl in cgraph if cl.layer.op == "grouped_linear" and ".experts." in cl.name]
    count = sum(cl.layer.weight_matrix_shape[0] * cl.layer.weight_matrix_shape[1] for cl in experts)
    return untouched * (sum(_stored_bits(cl, native_bits) for cl in experts) / count if count else native_bits)


def max_batch(cgraph, spec, context: int, capacity_bytes: float, reserve_fraction: float = 0.0) -> int:
    """The largest batch whose weights + KV cache fit ``capacity_bytes`` (less ``reserve_fraction`` of it for
    activations and the runtime); 0 when the weights alone do not fit."""
    if capacity_bytes <= 0 or not 0 <= reserve_fraction < 1:
        raise ConfigError(f"capacity must be > 0 bytes and reserve_fraction in [0, 1); got {capacity_bytes}, {reserve_fraction}")
    m = memory_bytes(cgraph, spec, 1, context)
    room = capacity_bytes * (1 - reserve_fraction) - m["weights"]
    return max(0, int(room // m["kv_per_sequence"])) if m["kv_per_sequence"] else 0


def attach_memory(result: NetworkResult, cgraph, source, hf: Mapping[str, Any], batch: int, config) -> None:
    """``result.extra["memory"]``: the weights + KV cache of ``batch`` sequences at the step's KV length (bytes,
    :func:`memory_bytes`) of a Hugging Face decoder step (``hf``: its graph's ``metadata["hf"]``), and where
    ``config`` gives a capacity, whether it fits and the largest batch that does; a step that does not fit also
    gets a warning (a 7B model's decode runs on any device in the model, memory or not). No-op without a cache."""
    if "kv_cache" not in hf:
        return
    from accelsim.workload.hf import model_spec

    spec = model_spec(source)
    mem = memory_bytes(cgraph, spec, batch, hf["kv_length"])
    capacity = capacity_of(config)
    if capacity:
        largest = max_batch(cgraph, spec, hf["kv_length"], capacity)
        mem.update(capacity=capacity, fits=mem["total"] <= capacity, max_batch=largest)
        if not mem["fits"]:
            if largest:
                what = f"the largest batch that fits is {largest}"
            elif mem["weights"] > capacity:
                what = "the weights alone do not fit"
            else:  # (until 2026-12-07 said of weights that fit: 12.55 GiB on an 80 GiB H100 at 2^20 tokens)
                what = (f"the weights, {mem['weights'] / 2 ** 30:.4g} GiB, fit; one sequence's KV cache, "
                        f"{mem['kv_per_sequence'] / 2 ** 30:.4g} GiB, does not fit beside them")
            result.warnings.append(
                f"weights + KV cache of batch {batch} at {hf['kv_length']} tokens need {mem['total'] / 2 ** 30:.4g} "
                f"GiB, over {config.name}'s {capacity / 2 ** 30:.4g} GiB ({what}); the figures assume they fit")
    result.extra["memory"] = mem


def capacity_of(config) -> float | None:
    """A config's memory capacity in bytes (``dram_capacity_gib``, GiB = 2**30 bytes, as GPU configs give it;
    or ``dram_capacity_gb`` / ``memory_gb``, GB = 1e9 bytes), or None."""
    value = getattr(config, "dram_capacity_gib", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value) * 2 ** 30
    for key in ("dram_capacity_gb", "memory_gb", "dram_gb"):
        value = getattr(config, key, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value) * 1e9
    return None


def device_memory_bytes(arch, overrides: Mapping[str, Any] | None = None) -> float:
    """Memory capacity of a device config in bytes: its ``dram_capacity_gib`` (GiB) or ``dram_capacity_gb`` /
    ``memory_gb`` (GB = 1e9 bytes) field."""
    from accelsim.hw.registry import load_arch

    config = load_arch(arch, overrides)
    capacity = capacity_of(config)
    if capacity:
        return capacity
    raise ConfigError(f"{getattr(config, 'name', arch)}: the arch config gives no memory capacity "
                      "(dram_capacity_gib); pass the capacity in bytes")


# --- sweeps -------------------------------------------------------------------------------------------------
def phase_sweep(arch, source, *, batches=(1, 2, 4, 8, 16, 32, 64, 128), phases=("prefill", "decode"),
                recipes=("w4a16-g128",), contexts=(2048,), prompt: int | None = None, overrides=None,
                attention: str = "unfused", capacity_bytes: float | None = None) -> list[dict]:
    """Batch x context x phase x recipe: one row per point with the latency of the recipe and of the dense
    baseline (``speedup_vs_dense``), tokens per second, the memory the point needs (weights + KV) and whether
    it fits ``capacity_bytes`` (default: the arch's capacity when it gives one, else not checked), and per
    ``(recipe, context)`` the largest batch that fits (``max_batch``). A prefill point runs ``prompt`` tokens
    (default: the context) with the cache filled to the context; a decode point one token at the context. A
    recipe of None is the dense model (no speedup)."""
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.compress.recipe import compress
    from accelsim.workload.hf import model_spec

    spec = model_spec(source)
    dev = Device(arch, overrides)
    if capacity_bytes is None:
        capacity_bytes = capacity_of(dev.config)
    rows = []
    fits_cache: dict = {}
    for recipe in recipes:
        for context in contexts:
            key = (recipe, context)
            if key not in fits_cache:
                graph = phase_graph(source, "decode", context=context)[0]
                cg = CompressedGraph.dense(graph) if recipe is None else compress(graph, recipe)
                fits_cache[key] = (cg, max_batch(cg, spec, context, capacity_bytes) if capacity_bytes else None)
            cg, largest = fits_cache[key]
            for phase in phases:
                for b in batches:
                    kw = {"context": context} if phase == "decode" else {"prompt": prompt or context, "context": context}
                    res = simulate_phase(arch, source, phase, batch=b, recipe=recipe, attention=attention,
                                         device=dev, **kw)
                    tot = res.summary()
                    mem = memory_bytes(cg, spec, b, context)
                    tokens = b * (1 if phase == "decode" else (prompt or context))
                    rows.append({"recipe": recipe, "phase": phase, "batch": b, "context": context,
                                 "latency_s": tot["latency_s"],
                                 "dense_latency_s": res.dense.total["latency_s"] if res.dense is not None else None,
                                 "speedup_vs_dense": tot.get("speedup_vs_dense"),
                                 "tokens_per_s": tokens / tot["latency_s"], "memory_bytes": mem["total"],
                                 "fits": None if capacity_bytes is None else mem["total"] <= capacity_bytes,
                                 "max_batch": largest})
    return rows


def plot_speedup_vs_batch(rows: list[dict], path, title: str = "") -> None:
    """Speedup over the dense baseline against the batch, one line per (phase, recipe, context) (the MARLIN
    picture), log-2 batch axis, a dashed line at 1; batches that do not fit the device memory drawn hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["phase"], r["recipe"], r["context"]), []).append(r)
    for (phase, recipe, context), pts in groups.items():
        pts = sorted(pts, key=lambda r: r["batch"])
        line, = ax.plot([r["batch"] for r in pts], [r["speedup_vs_dense"] for r in pts], marker="o",
                        label=f"{phase} {recipe} (context {context})")
        over = [r for r in pts if r["fits"] is False]
        if over:
            ax.scatter([r["batch"] for r in over], [r["speedup_vs_dense"] for r in over], s=60,
                       facecolors="white", edgecolors=line.get_color(), zorder=3)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch (sequences)")
    ax.set_ylabel("speedup vs dense")
    ax.set_title(title or "speedup vs batch per phase")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


__all__ = ["DEFAULT_POINTS", "decode_steps", "device_memory_bytes", "max_batch", "memory_bytes", "phase_graph",
           "phase_sweep", "plot_speedup_vs_batch", "simulate_generate", "simulate_phase", "step_serving", "Device"]
