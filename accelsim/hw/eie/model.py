"""EIE-style sparse engine model: compressed M x V on interleaved PEs (docs/models/eie.md).

``EIEModel`` is the ``eie`` family's :class:`~accelsim.hw.base.HardwareModel`; its
:meth:`EIEModel.count` maps one :class:`CompressedLayer` (reading its weights through
``layer.view``) and the shared :meth:`~accelsim.hw.base.HardwareModel.simulate` prices it:

1. **Checks.** The layer must carry a weight-shared (codebook) and therefore compressed weight
   matrix: EIE stores ``weight_index_bits``-bit virtual weight indices. A dense layer, or one whose
   codebook exceeds ``encoding.codebook_entries``, raises :class:`SimulationError` naming the
   missing recipe step. A layer without a weight matrix (pooling, element-wise) is not mapped.
2. **Mapping.** Rows interleave over PEs (row i on PE i mod P) in the compression module's
   :class:`~accelsim.compress.tensors.InterleavedCSC` with ``row_index_bits`` relative indices
   and padding zeros (the recipe's layout, ``view.layout == "interleaved_csc"``, when it was built
   for this PE count and index width, else the same layout of the effective matrix), summarised by
   :func:`layout_of` as pass segments (per column, output pass and PE: entries, real entries, first
   and last row) without laying the entries out, kept per layer for later calls. A layer whose
   per-PE weights + pointers exceed the PE's spmat + ptr SRAM is split into column tiles, each
   refilled from DRAM once per call (``tiling``); input vectors longer than ``P * act_regs`` and
   outputs longer than ``P * act_regs`` are batched through the activation SRAM (output passes
   re-broadcast the input). Convolutions are lowered by im2col (one M x V per output pixel;
   outside EIE's design point); LSTM/GRU cells run their gate matmul on ``[x; h; 1]``; batch B is
   B (x pixels / steps) successive M x V.
3. **Timing** by the Numba kernel ``_kernels.eie_mv_seg`` on the real stored pattern and a real
   activation vector (the layer's sample, or one drawn at its activation density, seeded by the
   layer name).
4. **Energy and area** from action counts priced with the technology table
   (:meth:`EIEModel.energy_reference_table`, :meth:`EIEModel.area`); the SRAMs are
   :class:`~accelsim.hw.blocks.SramBuffer` blocks and the off-chip memory a
   :class:`~accelsim.hw.blocks.DramChannel`.
"""

from __future__ import annotations

import math
import threading
import weakref
import zlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from accelsim.compress.tensors import column_pattern
from accelsim.energy.actions import ActionCounts
from accelsim.energy.estimate import AreaBreakdown, EnergyBreakdown, estimate_area
from accelsim.energy.tables import load_tech
from accelsim.errors import SimulationError
from accelsim.hw.base import HardwareModel, LayerCounts, NotMapped, Roof
from accelsim.hw.blocks import DramChannel, SramBuffer
from accelsim.hw.eie import _kernels as K
from accelsim.hw.eie.config import EIEConfig
from accelsim.workload.layers import Conv2d, MatMul, RecurrentCell
from accelsim.workload.weights import sample_activations

_DTYPE_BITS = (4, 8, 16, 32)
QUEUE_INDEX_BITS = 16  # activation index carried with each broadcast value


#: pass-segment layouts kept per compressed layer by :func:`layout_of` (least recently used dropped
#: first; 0 disables the cache: every call computes the segments again)
SEGMENT_CACHE_SIZE = 8
# WeightView -> {"pattern": (indptr, rows int32) of view.matrix != 0 or None, "layouts": {key: Layout}}; an entry
# lives as long as its layer (weak key)
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Layout:
    """What the timing needs of one layer's row-interleaved CSC on ``n_pe`` PEs (docs: Mapping).

    ``col_ptr`` ``(n_cols + 1, n_pe)``: stored entries (padding included) of PE ``k`` before column
    ``j`` (``InterleavedCSC.pe_ptr`` transposed); ``seg`` ``(n_cols, n_pass, n_pe, 4)`` int16: the
    pass segments of ``_kernels`` (entries, non-padding entries, first and last local row within the
    pass, per column, pass and PE); ``stored_entries`` (padding included) and ``kept`` (non-padding)
    totals; ``reused``: segmented from the recipe's stored layout. Never the entries themselves.
    """

    shape: tuple[int, int]
    col_ptr: np.ndarray
    seg: np.ndarray
    stored_entries: int
    kept: int
    reused: bool


def layout_of(view, n_pe: int, index_bits: int, regs: int, reuse: bool) -> Layout:
    """The :class:`Layout` of ``view``'s weights on ``n_pe`` PEs with ``index_bits``-bit relative row
    indices and passes of ``regs`` local rows.

    ``reuse``: segment the recipe's stored interleaved CSC (``view.tensor``, built for this PE count
    and index width) from its stored entries; else segment the kept pattern of the effective matrix
    (``view.matrix != 0``) directly - the column pattern (4 bytes per kept weight) is taken once per
    view and each PE count costs one pass over it, without laying the entries out. Cached per view (at most
    :data:`SEGMENT_CACHE_SIZE` layouts, least recently used dropped first), so a sweep over PE
    counts, queue depths or any other knob reuses them. Callers must not mutate the result.
    """
    key = (bool(reuse), int(n_pe), int(index_bits), int(regs))
    with _LOCK:
        entry = _CACHE.get(view)
        if entry is None:
            entry = {"pattern": None, "layouts": OrderedDict()}
            _CACHE[view] = entry
        hit = entry["layouts"].get(key)
        if hit is not None:
            entry["layouts"].move_to_end(key)
            return hit
    n_rows, n_cols = (int(s) for s in view.held.shape)  # (the shape: no compact matrix built for it)
    local_rows = -(-n_rows // n_pe)
    n_pass = max(1, -(-local_rows // regs))
    seg = np.zeros((n_cols, n_pass, n_pe, K.N_SEG), K.segment_dtype(regs))
    if reuse:
        t = view.tensor
        K.segments_from_layout(t.pe_ptr, t.pe_offsets[:-1], t.flat_index, np.ascontiguousarray(t.is_padding), t.relative,
                               regs, seg)
        out = Layout((n_rows, n_cols), np.ascontiguousarray(t.pe_ptr.T), seg, int(t.stored_entries), int(t.kept), True)
    else:
        pattern = entry["pattern"]
        if pattern is None:
            pattern = column_pattern(view.matrix != 0)
            entry["pattern"] = pattern
        indptr, rows = pattern
        col_ptr = np.zeros((n_cols + 1, n_pe), np.int64)
        K.segments_from_pattern(indptr, rows, n_pe, 1 << index_bits, regs, seg, col_ptr)
        out = Layout((n_rows, n_cols), col_ptr, seg, int(col_ptr[-1].sum()), int(rows.size), False)
    if SEGMENT_CACHE_SIZE > 0:
        with _LOCK:
            entry["layouts"][key] = out
            while len(entry["layouts"]) > SEGMENT_CACHE_SIZE:
                entry["layouts"].popitem(last=False)
    return out


def lnzd_levels(n_pe: int, group: int) -> int:
    """Levels of the leading-non-zero-detection tree over ``n_pe`` PEs of ``group`` inputs a node:
    ``ceil(log_group n_pe)`` in integers (a float log puts 125 PEs in groups of 5 on 4 levels), at least 1 (a
    single PE still selects among its own registers)."""
    levels, reach = 0, 1
    while reach < n_pe:
        reach *= group
        levels += 1
    return max(1, levels)


def int_dtype(bits: int) -> str:
    """Smallest tabulated integer type holding ``bits`` bits."""
    for b in _DTYPE_BITS:
        if bits <= b:
            return f"int{b}"
    return "int32"


class EIEModel(HardwareModel):
    """Cycle-level EIE model; stateless between calls (see module docstring).

    Blocks: ``spmat`` and ``act_sram`` (:class:`SramBuffer` per PE), ``ptr`` (the whole pointer
    SRAM per PE, for leakage and area) and ``ptr_bank`` (one of its ``ptr.banks`` banks: a pointer
    read touches one bank, priced at the bank's capacity), ``dram`` (:class:`DramChannel`).
    """

    family = "eie"

    def __init__(self, config: EIEConfig):
        c = config
        self.tech = load_tech(c.tech)
        self.spmat = SramBuffer("spmat", c.spmat.capacity_bytes, c.spmat.width_bits)
        self.ptr = SramBuffer("ptr", c.ptr.capacity_bytes, c.ptr.width_bits)
        self.ptr_bank = SramBuffer("ptr", c.ptr.capacity_bytes / c.ptr.banks, c.ptr.width_bits)
        self.act_sram = SramBuffer("act_sram", c.act_sram.capacity_bytes, c.act_sram.width_bits)
        self.dram = DramChannel(c.dram.type, c.dram.bandwidth_bytes_per_s)
        self.config = config
        self._areas = self._area()  # sets htree_mm, which the broadcast energy needs
        super().__init__(config)

    # ------------------------------------------------------------------------------------------
    # energy reference table, area, static power, roof
    def energy_reference_table(self) -> dict:
        """``{(component, action, variant): (pJ, category)}`` of every action :meth:`count` emits."""
        c, t, e = self.config, self.tech, self.config.encoding
        a_dt, acc_dt = int_dtype(e.activation_bits), int_dtype(e.accumulator_bits)
        qbits = e.activation_bits + QUEUE_INDEX_BITS
        levels = lnzd_levels(c.n_pe, c.lnzd.group)
        return {
            **self.spmat.energy_entries(t, ("read",)),
            **self.ptr_bank.energy_entries(t, ("read",)),
            **self.act_sram.energy_entries(t, ("read", "write")),
            ("codebook", "read", f"{e.codebook_bits}b"): (t.register_energy_pj(e.codebook_bits), "register"),
            ("alu", "mult", a_dt): (t.op_energy_pj("mult", a_dt), "compute"),
            ("alu", "add", acc_dt): (t.op_energy_pj("add", acc_dt), "compute"),
            ("act_regs", "read", "dst"): (t.register_energy_pj(e.accumulator_bits), "register"),
            ("act_regs", "write", "dst"): (t.register_energy_pj(e.accumulator_bits, "write"), "register"),
            ("act_regs", "read", "src"): (t.register_energy_pj(e.activation_bits), "register"),
            ("act_regs", "bypass", "dst"): (t.register_energy_pj(e.accumulator_bits), "register"),
            ("act_queue", "push", f"{qbits}b"): (t.register_energy_pj(qbits, "write"), "register"),
            ("act_queue", "pop", f"{qbits}b"): (t.register_energy_pj(qbits), "register"),
            ("lnzd", "select", f"{qbits}b"): (levels * t.op_energy_pj("add", "int16"), "noc"),
            ("broadcast", "send", f"{qbits}b"): (qbits * t.wire_energy_pj_per_bit_mm() * self.htree_mm, "noc"),
            **self.dram.tech_energy_entries(t),
        }

    def area(self) -> AreaBreakdown:
        """Chip area by component (mm^2): every PE's components times the PE count."""
        return self._areas["chip"]

    def pe_area(self) -> AreaBreakdown:
        """Area of one PE by component (mm^2)."""
        return self._areas["per_pe"]

    def _area(self) -> dict[str, AreaBreakdown]:
        c, t, e = self.config, self.tech, self.config.encoding
        reg_bits = (2 * c.act_regs * e.activation_bits + c.queue_depth * (e.activation_bits + QUEUE_INDEX_BITS)
                    + e.codebook_entries * e.codebook_bits)
        a_dt, acc_dt = int_dtype(e.activation_bits), int_dtype(e.accumulator_bits)
        pe = {
            "spmat": self.spmat.area_mm2(t),
            # the banks sit side by side and are read together (p_j, p_j+1): banks x width bits of periphery
            "ptr": SramBuffer("ptr", c.ptr.capacity_bytes, c.ptr.width_bits * c.ptr.banks).area_mm2(t),
            "act_sram": self.act_sram.area_mm2(t),
            "registers": t.register_area_mm2(reg_bits),
            "alu": (t.op_area_um2("mult", a_dt) + t.op_area_um2("add", acc_dt)) * 1e-6,
            "other_logic": c.area.other_logic_um2_per_pe * 1e-6,
        }
        per_pe = estimate_area(pe)
        chip = estimate_area({k: v for k, v in pe.items()}, {k: c.n_pe for k in pe})
        # H-tree over a square of P PEs (side s): about 1.5 * s * sqrt(P) of wire, all driven per broadcast
        self.htree_mm = 1.5 * math.sqrt(chip.total_mm2) * math.sqrt(c.n_pe)
        return {"per_pe": per_pe, "chip": chip}

    def static_power(self) -> float:
        """Leakage of every PE's SRAMs and arithmetic / other logic (W)."""
        c, t, e = self.config, self.tech, self.config.encoding
        a_dt, acc_dt = int_dtype(e.activation_bits), int_dtype(e.accumulator_bits)
        sram = self.spmat.leakage_w(t) + self.ptr.leakage_w(t) + self.act_sram.leakage_w(t)
        logic_um2 = t.op_area_um2("mult", a_dt) + t.op_area_um2("add", acc_dt) + c.area.other_logic_um2_per_pe
        logic = logic_um2 * t.logic_leakage_w_per_um2
        return c.n_pe * (sram + logic)

    def roof(self) -> Roof:
        """One multiply-accumulate per PE per cycle at the activation width; DRAM at the refill bandwidth."""
        dt = int_dtype(self.config.encoding.activation_bits)
        return Roof(macs_per_s={dt: self.config.n_pe * self.clock_hz},
                    bytes_per_s={"dram": self.dram.bytes_per_s}, native_dtype=dt)

    # ------------------------------------------------------------------------------------------
    def count(self, layer, batch: int) -> LayerCounts | NotMapped:
        """Time and count one layer (see module docstring); SimulationError for what EIE cannot run."""
        lay = layer.layer
        g = lay.gemm(batch)
        if isinstance(lay, MatMul):
            raise SimulationError(
                f"layer '{lay.name}': EIE multiplies a stored weight matrix by a vector; a matmul of two "
                f"activations has no weight matrix to compress")
        if g is None or not lay.has_weights:
            return NotMapped("no weight matrix: element-wise work runs in the activation write-back path or on "
                             "the host; not timed")
        if g.groups > 1:
            raise SimulationError(
                f"layer '{lay.name}': grouped convolution (groups={g.groups}) is not mapped on EIE; "
                f"only dense-connectivity layers lower to one M x V")
        csc = self._mapping(layer)
        vectors, n_vec = self._vectors(layer, g)
        return self._run(layer, batch, g, csc, vectors, n_vec)

    def _check_compressed(self, layer) -> None:
        c, name, view = self.config, layer.layer.name, layer.view
        n_idx = 1 << c.encoding.weight_index_bits
        if not layer.transforms:
            raise SimulationError(
                f"layer '{name}' is uncompressed: EIE stores {c.encoding.weight_index_bits}-bit codebook indices; "
                f"the recipe is missing the prune and weight-sharing (codebook of <= {n_idx} entries) steps, "
                f"e.g. --recipe eie-benchmarks")
        if view.codebook_size is None:
            raise SimulationError(
                f"layer '{name}': EIE needs {c.encoding.weight_index_bits}-bit codebook indices but the layer has "
                f"no weight-sharing codebook; add a weight-sharing (k-means codebook, <= "
                f"{c.encoding.codebook_entries} clusters) step to the recipe")
        if view.codebook_size > c.encoding.codebook_entries:
            raise SimulationError(
                f"layer '{name}': codebook of {view.codebook_size} entries does not fit the "
                f"{c.encoding.codebook_entries}-entry shared-weight table (encoding.codebook_entries); "
                f"weight-share to <= {c.encoding.codebook_entries} clusters")
        if not view.has_matrix:
            raise SimulationError(f"layer '{name}': no weight values attached; EIE needs the compressed pattern")

    def _mapping(self, layer) -> Layout:
        """The :class:`Layout` (pointers and pass segments) of the per-PE interleaved CSC.

        The recipe's stored layout (``view.tensor``, under any codebook and Huffman coding) is used
        when it is an interleaved CSC with relative indices built for this PE count and row-index
        width, of the effective matrix's shape, under a single (1-D) codebook table or none;
        otherwise the interleaved CSC of the effective weight matrix (relative ``row_index_bits``
        indices, padding entries). :func:`layout_of` keeps either on the layer's view, so a sweep
        over PE counts or queue depths segments each (PE count, pass height) once per layer.
        """
        self._check_compressed(layer)
        c, view = self.config, layer.view
        table = None if view.codebook_table is None else np.asarray(view.codebook_table)
        reuse = (view.layout == "interleaved_csc" and view.n_partitions == c.n_pe and view.relative_index
                 and view.index_bits == c.encoding.row_index_bits
                 and tuple(view.tensor.shape) == tuple(view.held.shape) and (table is None or table.ndim == 1))
        return layout_of(view, c.n_pe, c.encoding.row_index_bits, c.act_regs, reuse)

    def _vectors(self, layer, g) -> tuple[list[np.ndarray], int]:
        """Activation vectors (length K) to simulate exactly, and how many M x V the call holds."""
        lay, k = layer.layer, g.k
        n_vec = g.m
        n_sim = min(n_vec, self.config.max_vectors)
        sample = layer.activation_sample
        density = float(layer.activation_density)
        out: list[np.ndarray] = []
        if sample is not None:
            flat = np.asarray(sample, dtype=np.float64).reshape(-1)
            if isinstance(lay, RecurrentCell) and flat.size % lay.input_size == 0:
                xs = flat.reshape(-1, lay.input_size)
                h_rng = np.random.default_rng([zlib.crc32(lay.name.encode()), 2])
                for i in range(n_sim):
                    h = sample_activations(lay.hidden_size, density, h_rng, np.float64)
                    out.append(np.concatenate([xs[i % len(xs)], h, np.ones(int(lay.bias))]))
                return out, n_vec
            if flat.size % k == 0 and not isinstance(lay, Conv2d):
                rows = flat.reshape(-1, k)
                return [rows[i % len(rows)] for i in range(n_sim)], n_vec
            density = float(np.count_nonzero(flat)) / max(flat.size, 1)
        rng = np.random.default_rng([zlib.crc32(lay.name.encode()), 1])
        for _ in range(n_sim):
            v = sample_activations(k, density, rng, np.float64)
            if isinstance(lay, RecurrentCell) and lay.bias:
                v[-1] = 1.0  # the folded bias input
            out.append(v)
        return out, n_vec

    # ------------------------------------------------------------------------------------------
    def _tiles(self, csc: Layout) -> list[tuple[int, int]]:
        """Column ranges whose per-PE entries + pointers fit the spmat + ptr SRAM (docs: Tiling)."""
        c = self.config
        n_cols = csc.shape[1]
        cap_bits = (c.spmat.capacity_bytes + c.ptr.capacity_bytes) * 8
        eb, pb = c.entry_bits, c.encoding.pointer_bits
        ptr = csc.col_ptr

        def need(c0, c1):
            return int((ptr[c1] - ptr[c0]).max(initial=0)) * eb + (c1 - c0 + 1) * pb

        if need(0, n_cols) <= cap_bits:
            return [(0, n_cols)]
        tiles, c0 = [], 0
        while c0 < n_cols:
            lo, hi = c0 + 1, n_cols
            if need(c0, lo) > cap_bits:
                raise SimulationError(
                    f"eie '{c.name}': a single column of the weight matrix needs {need(c0, lo)} bits on one PE, more "
                    f"than the {cap_bits} bits of spmat.capacity_bytes ({c.spmat.capacity_bytes}) + ptr.capacity_bytes "
                    f"({c.ptr.capacity_bytes}); give them at least {-(-need(c0, lo) // 8)} bytes together")
            while lo < hi:  # largest c1 with need(c0, c1) <= cap
                mid = (lo + hi + 1) // 2
                if need(c0, mid) <= cap_bits:
                    lo = mid
                else:
                    hi = mid - 1
            tiles.append((c0, lo))
            c0 = lo
        return tiles

    def _run(self, layer, batch, g, csc: Layout, vectors, n_vec) -> LayerCounts:
        c, e, name = self.config, self.config.encoding, layer.layer.name
        P = c.n_pe
        n_rows, n_cols = csc.shape
        local_rows = -(-n_rows // P)
        wide_in = n_cols > P * c.act_regs
        wide_out = local_rows > c.act_regs
        act_cap = c.act_sram.capacity_bytes * 8 // e.activation_bits  # activations per PE in act SRAM
        if (wide_in or wide_out) and not c.tiling:
            what = f"input vector of {n_cols}" if wide_in else f"output vector of {n_rows}"
            raise SimulationError(
                f"layer '{name}': {what} activations exceeds the activation registers "
                f"({P} PEs x act_regs {c.act_regs} = {P * c.act_regs}) and tiling is off; set tiling: true")
        # activations beyond the act SRAM + registers of a PE spill to DRAM (read for inputs, written for outputs)
        act_bytes = e.activation_bits / 8
        spill_in = max(0, -(-n_cols // P) - (act_cap + c.act_regs)) * P
        spill_out = max(0, local_rows - (act_cap + c.act_regs)) * P
        # a PE takes a column's span as the difference of two pointers of encoding.pointer_bits (EIE's 16): the width
        # must hold the most entries one column has on one PE (the docs' accounting of VGG-6's 100,939 a PE too)
        span = int(np.diff(np.asarray(csc.col_ptr), axis=0).max(initial=0))
        if span >> e.pointer_bits:
            raise SimulationError(
                f"layer '{name}': encoding.pointer_bits {e.pointer_bits} cannot hold a column's {span:,} entries on one "
                f"PE (need {span.bit_length()} bits; eie '{c.name}')")
        tiles = self._tiles(csc)
        if len(tiles) > 1 and not c.tiling:
            raise SimulationError(
                f"layer '{name}': the compressed weights need more than the spmat + ptr SRAM of a PE and tiling is off")
        flush = -(-c.act_regs * e.activation_bits // c.act_sram.width_bits)
        pe_stats = np.zeros((P, K.N_PE_STATS), np.int64)
        scal = np.zeros(K.N_SCALARS, np.int64)
        cycles = 0
        positions = 0
        # the functional product is checked in the kernel tests (eie_mv), not recomputed here
        for v in vectors:
            for c0, c1 in tiles:
                nz = np.flatnonzero(v[c0:c1])
                end, st, sc = K.eie_mv_seg(csc.col_ptr, csc.seg, nz, c0, c1 - c0, c.queue_depth,
                                           c.min_cycles_per_column, c.scan_positions_per_cycle,
                                           c.lnzd.broadcast_latency + c.column_fetch_cycles, c.lnzd.credit_latency,
                                           c.pipeline_depth, c.entries_per_line, flush)
                cycles += int(end)
                pe_stats += st
                scal += sc
                positions += (c1 - c0) * int(sc[K.S_PASSES])
        n_sim = len(vectors)
        scale = n_vec / n_sim
        compute_runs = int(round(cycles * scale))
        # DRAM refills: every tile of a layer that does not fit is loaded once per call
        ptr_bits = P * (n_cols + 1) * e.pointer_bits
        # the codebook is stored once with the layer (each PE loads it into its codebook registers)
        weight_bits = csc.stored_entries * c.entry_bits + ptr_bits + layer.view.codebook_size * e.codebook_bits
        dram_bytes = int(math.ceil(weight_bits / 8)) if len(tiles) > 1 else 0
        act_read = int(math.ceil(spill_in * act_bytes * n_vec))
        act_write = int(math.ceil(spill_out * act_bytes * n_vec))
        dram_cycles = self.dram.cycles(dram_bytes + act_read + act_write, c.clock_hz)
        total_cycles = compute_runs + dram_cycles
        busy = pe_stats[:, K.BUSY] * scale
        entry = pe_stats[:, K.ENTRY] * scale
        real = pe_stats[:, K.REAL].sum() * scale
        passes = int(scal[K.S_PASSES]) // max(n_sim * len(tiles), 1)
        compute_cycles = min(total_cycles, int(round(busy.max(initial=0))) + int(round(c.pipeline_depth * passes * len(tiles) * n_vec)))

        counts = self._counts(pe_stats, scal, positions, scale, n_rows, n_cols, passes, len(tiles), n_vec,
                              dram_bytes + act_read, act_write, wide_in)
        lb = float(entry.sum() / (P * compute_runs)) if compute_runs else 0.0
        extra = {
            "load_balance_efficiency": lb,
            "pe_utilization": float(busy.sum() / (P * compute_runs)) if compute_runs else 0.0,
            "real_work_fraction": float(real / entry.sum()) if entry.sum() else 0.0,
            "pe_busy_cycles": [int(round(b)) for b in busy],
            "pe_idle_cycles": [int(total_cycles - round(b)) for b in busy],
            "entries_processed": int(round(entry.sum())),
            "stored_entries": int(csc.stored_entries),
            "padding_zeros": int(csc.stored_entries - csc.kept),
            "broadcasts": int(round(scal[K.S_BROADCASTS] * scale)),
            "credit_stall_cycles": int(round(scal[K.S_CREDIT_STALL] * scale)),
            "accumulator_bypasses": int(round(pe_stats[:, K.BYPASS].sum() * scale)),
            "output_passes": passes,
            "column_tiles": len(tiles),
            "weights_resident": len(tiles) == 1,
            "dram_refill_cycles": dram_cycles,
            "activations_spilled": spill_in + spill_out,
            "vectors": n_vec,
            "vectors_simulated": n_sim,
            "ptr_sram_overflow": bool((n_cols + 1) * e.pointer_bits > c.ptr.capacity_bytes * 8),
        }
        spmat, ptr, act = self.spmat, self.ptr, self.act_sram
        return LayerCounts(
            macs=layer.layer.macs * batch, effective_macs=int(round(real)),
            compute_cycles=compute_cycles, stall_cycles=total_cycles - compute_cycles, actions=counts,
            useful_macs=float(real), peak_macs_per_s=P * c.clock_hz,
            sram_reads={"spmat": int(round(counts[spmat.key("read")])), "ptr": int(round(counts[ptr.key("read")])),
                        "act_sram": int(round(counts[act.key("read")]))},
            sram_writes={"act_sram": int(round(counts[act.key("write")]))},
            sram_word_bits={"spmat": spmat.width_bits, "ptr": ptr.width_bits, "act_sram": act.width_bits},
            dram_read_bytes=dram_bytes + act_read, dram_write_bytes=act_write,
            weight_storage_bits=int(weight_bits), extra=extra)

    def finish_extra(self, counts: LayerCounts, seconds: float, energy: EnergyBreakdown, capped: bool) -> dict:
        """The counted extras plus ``power_w`` (W, over the latency) and ``energy_by_component_j`` (J)."""
        return {**counts.extra, "power_w": energy.total_j / seconds if seconds else 0.0,
                "energy_by_component_j": dict(energy.by_component)}

    def _counts(self, pe_stats, scal, positions, scale, n_rows, n_cols, passes, n_tiles, n_vec, dram_bytes,
                dram_write_bytes, wide_in) -> ActionCounts:
        c, e = self.config, self.config.encoding
        qbits = e.activation_bits + QUEUE_INDEX_BITS
        tot = pe_stats.sum(axis=0) * scale
        entries, bypass = tot[K.ENTRY], tot[K.BYPASS]
        bcast = scal[K.S_BROADCASTS] * scale
        # output passes beyond the first write the destination registers to the act SRAM and read them back, in
        # every column tile (as they are timed: flush_cycles lines a PE); activations packed by bits, as timed
        width, bits = c.act_sram.width_bits, e.activation_bits
        flush_lines = c.n_pe * max(passes - 1, 0) * n_tiles * n_vec * -(-c.act_regs * bits // width)
        src_lines = (c.n_pe * -(-(-(-n_cols // c.n_pe)) * bits // width) * passes * n_vec) if wide_in else 0
        return ActionCounts({
            self.spmat.key("read"): tot[K.LINES],
            self.ptr_bank.key("read"): 2 * tot[K.PTR],
            ("codebook", "read", f"{e.codebook_bits}b"): entries,
            ("alu", "mult", int_dtype(e.activation_bits)): entries,
            ("alu", "add", int_dtype(e.accumulator_bits)): entries,
            ("act_regs", "read", "dst"): entries - bypass,
            ("act_regs", "bypass", "dst"): bypass,
            ("act_regs", "write", "dst"): entries,
            ("act_regs", "read", "src"): positions * scale,
            ("act_queue", "push", f"{qbits}b"): bcast * c.n_pe,
            ("act_queue", "pop", f"{qbits}b"): bcast * c.n_pe,
            ("lnzd", "select", f"{qbits}b"): bcast,
            ("broadcast", "send", f"{qbits}b"): bcast,
            self.act_sram.key("write"): flush_lines,
            self.act_sram.key("read"): flush_lines + src_lines,
            **dict(self.dram.action_pairs(dram_bytes, dram_write_bytes)),
        })

    @property
    def peak_ops_per_s(self) -> float:
        """Peak throughput on the compressed net: one multiply + one add per PE per cycle (ops/s)."""
        return 2.0 * self.config.n_pe * self.config.clock_hz

    def area_mm2(self) -> dict:
        """Per-PE and chip area by component (mm^2), as plain dicts."""
        return {"per_pe": self._areas["per_pe"].to_dict(), "chip": self._areas["chip"].to_dict()}
