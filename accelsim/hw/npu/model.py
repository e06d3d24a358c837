"""NPU model: matrix units (the systolic model), a vector unit, a scratchpad and DMA, overlapped.

Equations and assumptions: ``docs/models/npu.md`` (sections quoted as "§"). Per layer:

* a matrix product runs on the matrix units: cycles, MXU-side operand traffic and MAC actions are
  those of the embedded :class:`~accelsim.hw.systolic.SystolicModel` (SCALE-Sim exact or analytic
  memory), whose three operand buffers are the scratchpad's partitions and whose DRAM is the NPU's
  DRAM; ``count`` units share the folds (§2). Its vector epilogue (bias, recurrent gates,
  quantize / requantize, codebook decode, block scales) runs on the vector unit under it (§3.3);
* every other layer runs on the vector unit from its element counts (§3, :mod:`.vector`);
* DRAM traffic follows the residency rules of §4 (fused attention, fused ops, resident
  activations, spills); the DMA overlaps compute (double buffering), its latency is exposed once;
* ``cycles = max(matrix, vector, memory) + exposed parts``; ``extra.bound`` names the unit (§4.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.energy.actions import ActionCounts
from accelsim.energy.tables import load_tech
from accelsim.hw.base import HardwareModel, LayerCounts, LayerResult, NotMapped, Roof
from accelsim.hw.npu import energy as E
from accelsim.hw.npu.config import NpuConfig, systolic_config
from accelsim.hw.npu.vector import DEQUANTIZE_OPS, QUANTIZE_OPS, VectorWork, epilogue_work, layer_work
from accelsim.hw.systolic import SystolicModel
from accelsim.hw.systolic.model import layer_units


def _invocations(r: LayerResult, n: int) -> LayerResult:
    """A layer's batch-1 result run ``n`` times in series (§4.4): every count, time and energy times ``n``;
    utilization, stored bits and the descriptive ``extra`` (per invocation, with ``invocations: n``) as they are."""
    fields = dict(r.__dict__)
    for key in ("macs", "effective_macs", "cycles", "compute_cycles", "stall_cycles", "dram_read_bytes",
                "dram_write_bytes"):
        fields[key] = getattr(r, key) * n
    fields["latency_s"], fields["energy_j"] = r.latency_s * n, r.energy_j * n
    for key in ("energy_breakdown_j", "sram_reads", "sram_writes"):
        fields[key] = {k: v * n for k, v in getattr(r, key).items()}
    fields["extra"] = {**r.extra, "invocations": n}
    fields["actions"] = r.actions.scaled(n) if r.actions is not None else None
    return LayerResult.from_fields(fields)


@dataclass(frozen=True)
class NetworkPlan:
    """Network-level decisions (docs/models/npu.md §4.4): layers whose parameters are cached, the bytes
    cached and the cache budget, the first layer (reads the network input from DRAM, pays the
    per-inference overhead) and the last (writes the network output to DRAM)."""

    cached: frozenset
    cached_bytes: float
    budget_bytes: float
    first: str | None
    last: str | None


#: layer ops that never touch DRAM by themselves: a view of a tensor already in place
_NO_TRAFFIC = ("identity",)


class NpuModel(HardwareModel):
    """TPU-style NPU: matrix units + SIMD vector unit + scratchpad + DMA (docs/models/npu.md)."""

    family = "npu"

    def __init__(self, config: NpuConfig):
        self.tech = load_tech(config.tech)
        self.mxu = SystolicModel(systolic_config(config))
        super().__init__(config)
        self._spad = E.scratchpad(config)
        self._dram = E.dram_channel(config)
        # DRAM bytes per cycle at the achievable streaming bandwidth
        self._dram_bpc = config.dram.bandwidth_gbs * 1e9 * config.dram.efficiency / config.clock_hz
        # (rounded first: 500 ns x 1.5 GHz is 750.0000000000001 in binary floating point, not 751 cycles)
        self._dram_latency = int(math.ceil(round(config.dram.latency_ns * 1e-9 * config.clock_hz, 6)))
        self._word_bits = {"spad": config.scratchpad.width_bits}
        self._peak = float(config.matrix.count * config.matrix.rows * config.matrix.cols * config.clock_hz)

    # --- the contract -------------------------------------------------------------------------------
    def energy_reference_table(self) -> dict:
        return E.energy_reference_table(self.config, self.tech, self.mxu.energy_table)

    def static_power(self) -> float:
        return E.static_power(self.config, self.tech)

    def area(self):
        return E.area(self.config, self.tech)

    def roof(self) -> Roof:
        """Matrix-unit peaks: the systolic roof of one unit times ``matrix.count``; DRAM: the peak bandwidth."""
        one = self.mxu.roof()
        k = self.config.matrix.count
        name = {"fp16": E.lane_dtype("fp", 16)}.get  # a 16-bit float PE is bf16 on this family
        return Roof(macs_per_s={name(d, d): v * k for d, v in one.macs_per_s.items()},
                    bytes_per_s={"dram": self.config.dram.bandwidth_gbs * 1e9},
                    native_dtype=name(one.native_dtype, one.native_dtype),
                    sparse_macs_per_s={name(d, d): v * k for d, v in one.sparse_macs_per_s.items()},
                    sparse_pattern=one.sparse_pattern)

    # --- helpers ------------------------------------------------------------------------------------
    def _act_bits(self, cl) -> int:
        return int(cl.activation_bits or self.config.vector.activation_bits)

    def _resident(self, sizes: list[float]) -> list[bool]:
        """Which of the tensors one layer touches (its inputs and its output, bytes) stay in the scratchpad
        between layers (§4.1): they are on chip together, so they share ``capacity x activation_fraction``;
        the smallest are kept first (a tensor larger than the share never is)."""
        s = self.config.scratchpad
        keep = [False] * len(sizes)
        if not self.config.fusion.resident_activations:
            return keep
        room = s.capacity_bytes * s.activation_fraction
        for i in sorted(range(len(sizes)), key=lambda j: sizes[j]):
            if sizes[i] > room:
                break
            keep[i], room = True, room - sizes[i]
        return keep

    def _vector_cycles(self, work: VectorWork, bits: int) -> tuple[int, dict]:
        """Cycles of the vector unit for ``work`` on ``bits``-wide data (§3.1) and lane-ops per class."""
        v = self.config.vector
        pack = v.bits // bits if bits in v.packed_widths else 1
        lane_ops = {c: n / pack for c, n in work.ops.items() if n > 0}
        cycles = sum(n / (v.lanes * v.ops_per_lane.rate(c)) for c, n in lane_ops.items())
        if work.reduce_rows > 0 and work.row_length > 1:
            depth = math.ceil(math.log2(min(v.lanes, work.row_length)))
            cycles += work.reduce_rows / v.reduction_trees + depth
        return int(math.ceil(cycles)), lane_ops

    def _vpu_dtype(self, bits: int) -> tuple[str, int]:
        v = self.config.vector
        width = bits if bits in v.packed_widths else v.bits
        return E.lane_dtype(v.dtype, width), width

    def _vector_actions(self, lane_ops: dict, bits: int) -> list:
        dt, width = self._vpu_dtype(bits)
        pairs = [(("vpu", c, dt), n) for c, n in lane_ops.items()]
        pairs.append((("vreg", "access", f"{width}b"), 3.0 * sum(lane_ops.values())))
        return pairs

    def _weight_bytes(self, cl, run_bits: int) -> float:
        """Stored weight bytes: the compressed tensor's bits, else dense at the run width. Values no step gave a
        width (pruned, unquantized, stored CSR) move at the run width, their indices and pointers as stored
        (``CompressedLayer.stored_bits_at``: what the result's ``weight_storage_bits`` counts)."""
        view = cl.view
        shape = cl.layer.weight_matrix_shape
        if view.layout == "dense" and not cl.weight_bits:
            # weights a recipe left untouched (its master copy, e.g. fp32): streamed at the run width (§4.2)
            return shape[0] * shape[1] * run_bits / 8
        if view.layout != "none" and view.stored_bits:
            return cl.stored_bits_at(run_bits) / 8
        return shape[0] * shape[1] * (cl.weight_bits or run_bits) / 8

    def _tiled_traffic(self, acts: float, weights: float, outs: float, g) -> tuple[float, float, float]:
        """DRAM bytes of the activation and weight operands of a GEMM tiled to the scratchpad (§4.2):
        everything once if the three operands fit in half the scratchpad (the other half double
        buffers); else the cheaper of keeping weight blocks (activations re-read once per block) or
        activation blocks (weights re-read once per block) in a quarter of it. The ``g.groups``
        independent GEMMs of a grouped product (heads x batch of an attention product, experts of a
        grouped linear, groups of a grouped convolution) are tiled one at a time: a group's activations
        meet only its own weights, so the rule applies to one group's bytes (the totals / groups) and the
        traffic is that of every group. Returns ``(activation bytes, weight bytes, spill bytes over the
        compulsory)``."""
        half = self.config.scratchpad.capacity_bytes / 2
        groups = max(1, g.groups)
        a_g, w_g, o_g = acts / groups, weights / groups, outs / groups
        if a_g + w_g + o_g <= half:
            return acts, weights, 0.0
        quarter = half / 2
        w_blocks = max(1, math.ceil(w_g / quarter))
        a_blocks = max(1, math.ceil(a_g / quarter))
        w_stat = (acts * w_blocks, weights)
        a_stat = (acts, weights * a_blocks)
        a, w = min(w_stat, a_stat, key=sum)
        return a, w, (a + w) - (acts + weights)

    def _pipelined_cycles(self, sys, folds: int) -> int:
        """Matrix cycles with folds overlapped (§2.2): each unit runs ``ceil(F / count)`` folds of
        ``max(T, rows)`` cycles (the next stationary tile loads while the current one streams), plus
        one fill and drain (``P - T``), times the precision slow-down."""
        m = self.config.matrix
        t = int(sys.extra["T"])
        fill = (m.rows + m.cols - 2) + (m.rows if m.dataflow != "os" else 0)
        return int((math.ceil(folds / m.count) * max(t, m.rows) + fill) * sys.extra["slowdown"])

    def _spad_words(self, n_bytes: float) -> int:
        return int(math.ceil(n_bytes * 8 / self.config.scratchpad.width_bits))

    # --- a whole network (§4.4) ---------------------------------------------------------------------
    def plan_network(self, layers, batch: int = 1) -> "NetworkPlan":
        """What a compiler decides for a whole network before it runs (docs/models/npu.md §4.4): which
        layers' parameters stay in the parameter cache (first fit in execution order, within
        ``scratchpad.parameter_cache_kb`` and the capacity left beside the largest activation tensor),
        which layer reads the network input from DRAM and writes the network output to it, and where
        the per-inference overhead is charged."""
        layers = list(layers)
        largest = 0.0
        for cl in layers:
            bits = self._act_bits(cl)
            tensors = [math.prod(s) for s in cl.layer.input_shapes] + [math.prod(cl.layer.output_shape)]
            largest = max(largest, max(tensors) * batch * bits / 8)
        budget = self._cache_budget(largest)
        cached, used = set(), 0.0
        for cl in layers:
            if not (cl.layer.has_weights and layer_units(cl.layer, batch) is not None):
                continue
            size = self._weight_bytes(cl, self._run_bits(cl))
            if used + size <= budget:
                cached.add(cl.name)
                used += size
        names = [cl.name for cl in layers]
        return NetworkPlan(cached=frozenset(cached), cached_bytes=used, budget_bytes=budget,
                           first=names[0] if names else None, last=names[-1] if names else None)

    @property
    def _plan(self) -> "NetworkPlan | None":
        """The network plan while :meth:`simulate_network` runs in this thread (None for a lone layer); per
        thread, so one model shared by a threaded sweep stays stateless between calls."""
        return getattr(self._network, "plan", None)

    def simulate_network(self, layers, batch: int = 1) -> list:
        """Every layer of a network with the network-level decisions of :meth:`plan_network` (§4.4);
        without them (``simulate`` of one layer) a layer is its own network: its parameters are cached
        when they fit, no per-inference overhead is charged, its input and output stay as §4.1 says."""
        layers = list(layers)
        if batch > 1 and self.config.dram.invoke_overhead_us > 0:
            # a host-attached NPU's compiled model takes one input (§4.4, N5): a batch of B is B invocations
            # of the batch-1 network (its plan, its cache, its streamed weights), one after another
            return [_invocations(r, batch) for r in self.simulate_network(layers, 1)]
        plan = self.plan_network(layers, batch)
        self._network.plan = plan
        try:
            return [self.simulate(cl, batch) for cl in layers]
        finally:
            self._network.plan = None

    def _cache_budget(self, largest_activation: float) -> float:
        """Bytes the parameter cache may hold: the configured cache, at most the capacity left beside the
        largest activation tensor (§4.4)."""
        s = self.config.scratchpad
        return max(0.0, min(float(s.parameter_cache_bytes), s.capacity_bytes - largest_activation))

    def _run_bits(self, cl) -> int:
        """Operand width of a matrix layer on the matrix unit (the systolic model's run width)."""
        return int(self.mxu._precision(cl)[0])

    def _from_host(self, cl) -> bool:
        """The network's first layer reads the network input from DRAM (§4.4; only under a plan)."""
        return (plan := self._plan) is not None and cl.name == plan.first

    def _to_host(self, cl) -> bool:
        """The network's last layer writes the network output to DRAM (§4.4; only under a plan)."""
        return (plan := self._plan) is not None and cl.name == plan.last

    def _weights_cached(self, cl, weight_bytes: float, batch: int) -> bool:
        """Whether a matrix layer's parameters are in the parameter cache (§4.4)."""
        if self.config.scratchpad.parameter_cache_kb <= 0 or not cl.layer.has_weights:
            return False
        plan = self._plan
        if plan is not None:
            return cl.name in plan.cached
        bits = self._act_bits(cl)
        tensors = [math.prod(s) for s in cl.layer.input_shapes] + [math.prod(cl.layer.output_shape)]
        return weight_bytes <= self._cache_budget(max(tensors) * batch * bits / 8)

    # --- count --------------------------------------------------------------------------------------
    def count(self, cl, batch: int) -> LayerCounts | NotMapped:
        layer = cl.layer
        if layer_units(layer, batch) is not None:
            return self._matrix_layer(cl, batch)
        return self._vector_layer(cl, batch)

    def _vector_layer(self, cl, batch: int) -> LayerCounts:
        """A layer without a matrix product on the vector unit (§3, §4)."""
        cfg = self.config
        layer = cl.layer
        bits = self._act_bits(cl)
        eb = bits / 8
        work = layer_work(layer, batch)
        vec, lane_ops = self._vector_cycles(work, bits)
        in_bytes = [n * eb for n in work.in_elements]
        out_bytes = work.out_elements * eb
        fused = layer.op in cfg.fusion.fused_ops or layer.op in _NO_TRAFFIC or work.recipe.endswith("(view)")
        attention = cfg.fusion.attention and layer.op == "softmax"
        read = write = spill = 0.0
        if layer.op == "kv_append":
            out_bytes = float(layer.write_bytes) * batch                # rows stored at the cache's bits (§4.1)
            if layer.bits_per_element < bits:
                work.add(QUANTIZE_OPS, work.out_elements)               # quantized into a low-bit KV format
                vec, lane_ops = self._vector_cycles(work, bits)
        if layer.op == "embedding":
            in_bytes = [n * 4 for n in work.in_elements]           # int32 indices
            read += work.out_elements * eb                          # rows gathered from the table in DRAM
        if not (fused or attention):
            *on_chip, out_on_chip = self._resident(in_bytes + [out_bytes])
            read += sum(b for i, b in enumerate(in_bytes) if not on_chip[i] or (i == 0 and self._from_host(cl)))
            # an appended KV row goes to the cache in DRAM, where the next step reads it (never kept on chip)
            kept = out_on_chip and not self._to_host(cl) and layer.op != "kv_append"
            write += 0.0 if kept else out_bytes
        # split reductions (§4.2): each sequential row reduction is a fusion of its own that streams the
        # input from DRAM, followed by a per-row scalar fusion; the normalising fusion reads it once more
        passes = work.sequential_reductions if (cfg.fusion.split_reductions and not (fused or attention)) else 0
        if passes:
            spill = passes * sum(in_bytes)
            read += spill
        # else a reduced row that does not fit the scratchpad is read twice (two-pass reduction, §4.2)
        elif work.reduce_rows > 0 and 2 * work.row_length * eb > cfg.scratchpad.capacity_bytes:
            spill = sum(in_bytes)
            read += spill
        spad_bytes = sum(in_bytes) + out_bytes + read + write      # lanes read and write; DMA fills and drains
        return self._finish(cl, 0, vec, read, write, spill, spad_bytes, lane_ops, bits, work, matrix=None,
                            passes=passes, fused=fused, batch=batch)

    def _matrix_layer(self, cl, batch: int) -> LayerCounts:
        """A matrix product: the systolic model's cycles on ``count`` units, its epilogue on the vector unit (§2, §3.3)."""
        cfg = self.config
        layer = cl.layer
        sys = self.mxu.count(cl, batch)
        folds = max(1, int(sys.extra["folds"]))
        k = cfg.matrix.count
        mxu = int(math.ceil(sys.compute_cycles * math.ceil(folds / k) / folds))
        if cfg.matrix.fold_pipelining:
            mxu = min(mxu, self._pipelined_cycles(sys, folds))
        if cfg.matrix.efficiency < 1:
            mxu = int(math.ceil(mxu / cfg.matrix.efficiency))       # achievable fraction of the peak (§2.4)
        mxu += sys.stall_cycles
        word = cfg.matrix.bits // 8
        # compulsory bytes of the activation operands at their run width, of the stored weights and of
        # the finished outputs (partial sums accumulate on chip) at the activation width (§4.2)
        run_bits = sys.extra["operand_bits"]
        # activations quantized below the vector unit's width only where the matrix unit runs at that width: an
        # activation-by-activation product (attention scores / context) of a w8a8 model runs at its 16-bit operands,
        # so its inputs are not quantized (no epilogue charged for them) and its output stays 16-bit
        quantized = (bool(cl.activation_bits) and cl.activation_bits < cfg.vector.activation_bits
                     and run_bits <= cl.activation_bits)
        act_bits = self._act_bits(cl) if quantized else cfg.vector.activation_bits
        ins = [math.prod(s) * batch * run_bits / 8 for s in layer.input_shapes]
        kv_bits = float(getattr(layer, "kv_bits", 0) or 0)
        cache_elements = 0
        if kv_bits and not layer.has_weights:     # KV-cache operands stored at the KV format's bits (§4.1)
            for i in range(1, len(ins)):
                cache_elements += math.prod(layer.input_shapes[i]) * batch
                ins[i] = math.prod(layer.input_shapes[i]) * batch * kv_bits / 8
        out_bytes = math.prod(layer.output_shape) * batch * act_bits / 8
        cached = False
        if layer.has_weights:
            weights = self._weight_bytes(cl, run_bits)
            acts = ins[0]
            cached = self._weights_cached(cl, weights, batch)
        else:
            weights, acts = sum(ins[1:]), ins[0]
        # parameters in the parameter cache are on chip before the inference starts (§4.4)
        if_b, fi_b, spill = self._tiled_traffic(acts, 0.0 if cached else weights, out_bytes, layer.gemm(batch))
        of_b = out_bytes
        operands = ins[:1] if layer.has_weights else ins[:2]  # the activation operands the matrix unit reads
        # a KV cache is state kept in DRAM between steps (every block's, the whole context), not an activation the
        # layer before left on chip: never resident, and it takes no room from the query and the output (§4.1)
        cache = bool(cache_elements)
        *on_chip, out_on_chip = self._resident((operands[:1] if cache else operands) + [out_bytes])
        if cache:
            on_chip.append(False)
        if on_chip[0] and if_b <= ins[0] and not self._from_host(cl):
            if_b -= min(if_b, ins[0])
        if len(on_chip) > 1 and on_chip[1] and fi_b <= ins[1]:
            fi_b -= min(fi_b, ins[1])
        if out_on_chip and not self._to_host(cl):
            of_b = 0.0
        if layer.op == "attention":
            pass                # fused attention layer: q, k, v read, output written, scores on chip (§4.1)
        elif cfg.fusion.attention and not layer.has_weights and len(ins) > 1:
            g = layer.gemm(batch)
            if g.n >= g.k:      # scores = Q K^T (K = head dim, N = keys): the score tile stays on chip
                of_b = 0.0
            else:               # context = P V (K = keys): the probabilities come from the scratchpad
                if_b -= min(if_b, ins[0])
        work = epilogue_work(layer, batch, quantized)
        if cache_elements and kv_bits < cfg.vector.activation_bits:
            work.add(DEQUANTIZE_OPS, cache_elements)               # low-bit KV cache dequantized (§3.3)
        view = cl.view
        decode = 0
        if layer.has_weights and view.layout != "none":
            n_w = math.prod(layer.weight_matrix_shape)
            if view.codebook_size and not view.sign_codebook:  # (sign codes: integer weights, no table)
                work.add({"lookup": 1}, n_w)                        # codebook decode of every weight (§3.3)
            if view.huffman_streams:
                decode = int(math.ceil(n_w / cfg.decompress.huffman_symbols_per_cycle))
            if view.element_format is not None and view.scale_block is not None:
                # every output's partial sum of each scale block along K rescaled (§3.3); with quantized
                # activations the requantize of the last is the epilogue's already
                n_out, k_in = layer.weight_matrix_shape
                k_blocks = -(-k_in // max(1, int(view.scale_block[1])))
                rescales = n_out * (k_blocks - (1 if quantized else 0))
                if rescales > 0:
                    work.add({"fma": 1}, rescales * layer.gemm(batch).m)
        bits = act_bits
        vec, lane_ops = self._vector_cycles(work, bits)
        read, write = if_b + fi_b, of_b
        mxu_words = sum(sys.sram_reads.values()) + sum(sys.sram_writes.values())
        spad_bytes = mxu_words * word + read + write + work.out_elements * bits / 8 * (2 if work.ops else 0)
        return self._finish(cl, mxu, vec, read, write, spill, spad_bytes, lane_ops, bits, work, matrix=(sys, folds, decode),
                            matrix_cached=cached, batch=batch)

    def _fallback(self, cl, sys) -> str:
        """What of a layer's format the matrix units do not run as stored ("" when they do): N:M weights without
        the config's N:M skipping (run as unstructured sparsity: zeros gated, no cycles saved), float elements
        (FP8 / FP4) on integer MACs (run as integer operands of their width)."""
        unit = self.config.matrix
        view = cl.view
        out = []
        if view.nm and not sys.extra["nm"]:
            have = f"N:M support {unit.sparsity.nm[0]}:{unit.sparsity.nm[1]}" if unit.sparsity.nm else "no N:M support"
            out.append(f"{view.nm[0]}:{view.nm[1]} weights run as unstructured sparsity ({have}: "
                       "matrix.sparsity.nm)")
        element = view.element_format or ""
        if unit.pe.dtype == "int" and (element.startswith("e") or element in ("fp8", "fp4")):
            out.append(f"{element} weights run as {sys.extra['operand_bits']}-bit integer operands (integer MACs: "
                       "matrix.pe.dtype)")
        return "; ".join(out)

    def _finish(self, cl, mxu: int, vec: int, read: float, write: float, spill: float, spad_bytes: float,
                lane_ops: dict, bits: int, work: VectorWork, matrix, passes: int = 0,
                matrix_cached: bool = False, fused: bool = False, batch: int = 1) -> LayerCounts:
        """Overlap the units (§4.3), build the actions and the counts; ``passes`` extra streaming
        fusions (split reductions, §4.2) each expose the DRAM latency and, with their scalar
        fusions, add ``2 x passes`` fusion overheads. ``fused``: an op fused into its producer's fusion
        (``fusion.fused_ops``) or a view is no fusion of its own: no fusion overhead."""
        cfg = self.config
        sys, folds, decode = matrix if matrix is not None else (None, 1, 0)
        dram_bytes = read + write
        dma = int(math.ceil(dram_bytes / self._dram_bpc)) if dram_bytes > 0 else 0
        spad = int(math.ceil(spad_bytes / cfg.scratchpad.bytes_per_cycle))
        latency = self._dram_latency * (1 + passes) if dram_bytes > 0 else 0
        overhead = 0 if fused else cfg.vector.op_overhead_cycles * (1 + 2 * passes)
        if sys is not None:
            if cfg.fusion.epilogue_overlap:
                compute = max(mxu, vec, decode) + int(math.ceil(vec / folds))   # the last tile's epilogue is exposed
            else:
                compute = mxu + vec + decode
        else:
            compute = vec
        compute = max(1, compute + overhead)
        invoke = 0
        if (plan := self._plan) is not None and cl.name == plan.first and cfg.dram.invoke_overhead_us > 0:
            # once per inference (§4.4): a compiled model takes one input, so a batch of B is B invocations
            invoke = int(math.ceil(cfg.dram.invoke_overhead_us * 1e-6 * cfg.clock_hz)) * max(1, batch)
        memory = max(dma, spad)
        cycles = max(compute, memory + latency + overhead) + invoke      # in series with the layer (N5)
        compute += invoke
        stall = cycles - compute
        units = {"matrix": mxu, "vector": vec, "memory": memory + latency}
        bound = max(units, key=lambda u: (units[u], u == "matrix"))
        # --- actions ---
        pairs = list(self._vector_actions(lane_ops, bits))
        spad_reads = self._spad_words(spad_bytes / 2)
        spad_writes = self._spad_words(spad_bytes / 2)
        pairs += [(self._spad.key("read"), spad_reads), (self._spad.key("write"), spad_writes)]
        pairs += self._dram.action_pairs(read, write)
        macs = effective = 0
        useful = 0.0
        peak = self._peak
        extra_mxu = {}
        if sys is not None:
            pairs += [(key, n) for key, n in sys.actions.items() if key[0] in E.MXU_COMPONENTS]
            macs, effective, useful = sys.macs, sys.effective_macs, sys.useful_macs
            peak = sys.peak_macs_per_s * cfg.matrix.count
            extra_mxu = {"systolic_cycles": sys.compute_cycles + sys.stall_cycles, "folds": folds,
                         "operand_bits": sys.extra["operand_bits"], "pack": sys.extra["pack"],
                         "nm": sys.extra["nm"], "decode_cycles": decode,
                         "parameters": "cached" if matrix_cached else "streamed"}
            why = self._fallback(cl, sys)
            if why:
                extra_mxu["fallback"] = why
        actions = ActionCounts([(k, float(n)) for k, n in pairs if n])
        layer = cl.layer
        weight_bits = cl.weight_storage_bits(cl.weight_bits or cfg.matrix.bits) if layer.has_weights else 0
        extra = {
            "bound": bound,
            "unit_cycles": units,
            "dma_cycles": dma, "scratchpad_cycles": spad, "dram_latency_cycles": latency,
            "vector_ops": {c: float(n) for c, n in sorted(work.ops.items())},
            "vector_recipe": work.recipe,
            "vector_bits": bits,
            "spill_bytes": int(round(spill)),
            "fusions": 1 + 2 * passes,
            "invoke_cycles": invoke,
            "on_matrix_unit": sys is not None,
            **extra_mxu,
        }
        return LayerCounts(
            macs=int(macs), effective_macs=int(effective), compute_cycles=int(compute), stall_cycles=int(stall),
            actions=actions, useful_macs=float(useful), peak_macs_per_s=float(peak),
            sram_reads={"spad": spad_reads}, sram_writes={"spad": spad_writes}, sram_word_bits=self._word_bits,
            dram_read_bytes=int(round(read)), dram_write_bytes=int(round(write)), weight_storage_bits=int(weight_bits),
            extra=extra,
        )


__all__ = ["NetworkPlan", "NpuModel", "systolic_config"]
