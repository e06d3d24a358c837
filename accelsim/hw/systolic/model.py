"""Systolic-array model: SCALE-Sim 3.0.0 cycles and traffic, plus compression awareness and energy.

Equations and assumptions: ``docs/models/systolic.md`` (section numbers quoted below as "§").

A layer is lowered to one or more identical *units* that SCALE-Sim would simulate as separate
layers (a convolution group, one GEMM of a batched matmul): :func:`layer_units` gives the unit's
convolution geometry (a GEMM ``M x N x K`` is SCALE-Sim's GEMM form: an ``M x K`` ifmap, a
``1 x K`` filter, one channel, ``N`` filters) and the number of units. :func:`scalesim_report` runs
one unit through SCALE-Sim's buffers, exactly (CALC bandwidth mode: ``calc.calc_unit``, by events and
channel groups; USER mode: the fold walk ``_kernels.simulate_layer``) and returns SCALE-Sim's report
values (a :class:`UnitReport`; :func:`scalesim_unit`: the same as a dict); closed-form counts (SRAM
accesses, mapping efficiency, compute utilisation) are computed here. :class:`SystolicModel` (a
:class:`accelsim.hw.base.HardwareModel`) adds compression (§4) and the action counts and energy reference
table of §5; the base prices them and builds the result.
"""

from __future__ import annotations

import math
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Sequence
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

import numpy as np

from accelsim.energy.actions import ActionCounts
from accelsim.energy.estimate import AreaBreakdown, EnergyTable, estimate_area
from accelsim.energy.tables import load_tech
from accelsim.errors import SimulationError
from accelsim.hw.base import HardwareModel, LayerCounts, LayerResult, NotMapped, Roof
from accelsim.hw.systolic import _batch_kernels as BK
from accelsim.hw.systolic import _kernels as K
from accelsim.hw.systolic import analytic as A
from accelsim.hw.systolic import energy as E
from accelsim.hw.systolic.config import SystolicConfig
from accelsim.hw.systolic.energy import action_keys, count_actions
from accelsim.workload.layers import Conv2d, Layer, Linear, MatMul, RecurrentCell

DF_CODE = {"os": 0, "ws": 1, "is": 2}
_NOT_RUN_NOTE = "no matrix product: not run on the systolic array (host / vector unit, not modelled)"
_NOT_RUN = NotMapped(_NOT_RUN_NOTE)  # immutable: one answer for every layer without a matrix product

#: prefetch-order entries of one unit's USER-mode replay, both operands together: the bound on the work
#: of one replay (2^29; the largest zoo layer on a bundled USER-mode array, VGG-6 on edge-32x32 at batch 1,
#: needs 1.0e8). The order itself is no longer stored (§3.2); the memory is the ifmap's set table, a few
#: int32 per input word where words repeat
MAX_REPLAY_ENTRIES = 1 << 29


def replay_entries(df: str, R: int, C: int, geom: "Geometry") -> int:
    """Entries of the ifmap and filter prefetch orders the USER-mode replay builds (§3.2): the
    stacked per-fold operand matrices, ``folds x T x R`` (or ``x C``) each."""
    sr, sc, t = dims(df, geom)
    rf, cf = -(-sr // R), -(-sc // C)
    if df == "os":
        return rf * t * R + cf * t * C
    if df == "ws":
        return rf * t * R + cf * geom.win * C
    return cf * geom.win * C + rf * geom.K * R


class Geometry(NamedTuple):
    """One SCALE-Sim layer: ifmap ``batch x H x W x C`` (pre-padded), ``FH x FW`` filters, ``K`` of them.
    (An immutable named tuple: built and hashed once per layer of every run, 0.4 us against a frozen
    dataclass's 2.8.)"""

    batch: int
    H: int
    W: int
    C: int
    FH: int
    FW: int
    sh: int
    sw: int
    dh: int
    dw: int
    K: int
    Eh: int
    Ew: int

    @property
    def npx(self) -> int:
        return self.batch * self.Eh * self.Ew

    @property
    def win(self) -> int:
        return self.FH * self.FW * self.C

    @property
    def macs(self) -> int:
        return self.batch * self.Eh * self.Ew * (self.FH * self.FW * self.C) * self.K  # npx * win * K

    @classmethod
    def conv(cls, H, W, FH, FW, C, K, stride, batch=1):
        """SCALE-Sim conv-topology row: ``E = ceil((H - FH + s) / s)``. A size below 1 or a filter larger than the
        input (SCALE-Sim's assertion) is a :class:`~accelsim.errors.SimulationError`."""
        if min(H, W, FH, FW, C, K, stride, batch) < 1 or FH > H or FW > W:
            raise SimulationError(f"conv geometry H {H} x W {W}, filter {FH} x {FW}, C {C}, K {K}, stride {stride}, "
                                  f"batch {batch}: expected sizes >= 1 and a filter no larger than the input")
        eh = -(-(H - FH + stride) // stride)
        ew = -(-(W - FW + stride) // stride)
        return cls(batch, H, W, C, FH, FW, stride, stride, 1, 1, K, eh, ew)

    @classmethod
    def gemm(cls, m: int, n: int, k: int) -> "Geometry":
        """SCALE-Sim GEMM-topology row ``M, N, K``."""
        return cls(1, m, k, 1, 1, k, 1, 1, 1, 1, n, m, 1)

    def reduced(self, factor: float) -> "Geometry":
        """The same layer with its reduction dimension shortened ``factor`` times (packing, N:M; §4)."""
        if factor == 1:
            return self
        if self.C > 1 or (self.FH * self.FW == 1):
            return self._replace(C=max(1, math.ceil(self.C / factor)))
        # GEMM form (C = 1): the reduction is the filter width
        fw = max(1, math.ceil(self.FW / factor))
        return self._replace(W=fw + (self.W - self.FW), FW=fw)


@lru_cache(maxsize=65536)
def layer_units(layer: Layer, batch: int) -> tuple[Geometry, int] | None:
    """``(unit geometry, number of identical units)`` of a layer, or None if it has no matrix product."""
    if isinstance(layer, Conv2d):
        c, h, w = layer.input_shape
        _, eh, ew = layer.output_shape
        (fh, fw), (sh, sw), (ph, pw), (dh, dw) = layer.kernel, layer.stride, layer.padding, layer.dilation
        g = layer.groups
        geom = Geometry(batch, h + 2 * ph, w + 2 * pw, c // g, fh, fw, sh, sw, dh, dw, layer.out_channels // g, eh, ew)
        return geom, g
    if isinstance(layer, (Linear, MatMul, RecurrentCell)):
        gm = layer.gemm(batch)
        return Geometry.gemm(gm.m, gm.n, gm.k), gm.groups
    return None


def dims(df: str, geom: Geometry) -> tuple[int, int, int]:
    """``(Sr, Sc, T)``: the operand extents mapped on rows, on columns and in time (§1)."""
    batch, _, _, Ch, FH, FW, _, _, _, _, nfilt, Eh, Ew = geom
    npx, win = batch * Eh * Ew, FH * FW * Ch
    if df == "os":
        return npx, nfilt, win
    if df == "ws":
        return win, nfilt, npx
    return win, npx, nfilt


#: the closed-form report values of a unit (§2), in report order (:func:`closed_form_values`)
CLOSED_FORM_FIELDS = ("Sr", "Sc", "T", "row_folds", "col_folds", "folds", "cycles_per_fold", "compute_cycles",
                      "ifmap_sram_reads", "filter_sram_reads", "ofmap_sram_writes", "mapping_efficiency",
                      "compute_utilization")
_COMPUTE_CYCLES = CLOSED_FORM_FIELDS.index("compute_cycles")


def closed_form_values(df: str, R: int, C: int, geom: Geometry) -> tuple:
    """Stall-free cycles, SRAM accesses, mapping efficiency and compute utilisation (§2), in the order of
    :data:`CLOSED_FORM_FIELDS`."""
    sr, sc, t = dims(df, geom)
    rf, cf = -(-sr // R), -(-sc // C)
    folds = rf * cf
    per_fold = t + R + C - 2 if df == "os" else t + 2 * R + C - 2
    util_cycles = per_fold if df == "os" else t + 2 * R + 2 * C - 3
    if df == "os":
        if_reads, fi_reads, of_writes = sr * t * cf, t * sc * rf, sr * sc + folds * (R + C)
    elif df == "ws":
        if_reads, fi_reads, of_writes = t * sr * cf, sr * sc, t * sc * rf
    else:
        if_reads, fi_reads, of_writes = sr * sc, sr * t * cf, t * sc * rf
    return (sr, sc, t, rf, cf, folds, per_fold, folds * per_fold - 1, if_reads, fi_reads, of_writes,
            sr * sc / (folds * R * C), sr * sc * t / (folds * R * C * util_cycles))


def closed_form(df: str, R: int, C: int, geom: Geometry) -> dict:
    """:func:`closed_form_values` as a dict keyed by :data:`CLOSED_FORM_FIELDS`."""
    return dict(zip(CLOSED_FORM_FIELDS, closed_form_values(df, R, C, geom)))


#: the CALC-mode unit function, imported on the first CALC unit so that USER-mode runs do not load the CALC
#: pass modules (an import statement per unit cost 1.3 us)
_CALC: dict = {}


def _load_calc_unit():
    from accelsim.hw.systolic.calc import calc_unit

    _CALC["unit"] = calc_unit
    return calc_unit


@lru_cache(maxsize=8192)
def scalesim_report(df: str, R: int, C: int, geom: Geometry, sizes: tuple[int, int, int],
                    bws: tuple[int, int, int], user: bool) -> "UnitReport":
    """SCALE-Sim 3.0.0's report values for one unit (:class:`UnitReport`)."""
    closed = closed_form_values(df, R, C, geom)
    d = DF_CODE[df]
    batch, H, W, Ch, FH, FW, sh, sw, dh, dw, nfilt, Eh, Ew = geom
    if not user:
        # CALC mode: the OFMAP pass for the cycles, then each read buffer on its own (§3.3)
        calc_unit = _CALC.get("unit") or _load_calc_unit()
        res = calc_unit(d, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes[0], sizes[1], sizes[2],
                        ifmap_distinct(geom))
        return _report(closed, res, geom, R, C)
    # USER mode: the walk of every demand row (§3.2), one kernel call
    res = K.user_unit(d, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, np.asarray(sizes, np.int64),
                      np.asarray(bws, np.int64), np.zeros((4, 0), np.int64))
    return _report(closed, res, geom, R, C)


def scalesim_unit(df: str, R: int, C: int, geom: Geometry, sizes: tuple[int, int, int],
                  bws: tuple[int, int, int], user: bool) -> dict:
    """:func:`scalesim_report` as a dict keyed like SCALE-Sim's three CSV reports."""
    return scalesim_report(df, R, C, geom, sizes, bws, user)._asdict()


#: the report fields a unit's result vector (``_kernels.R_*``) holds as they are, after the cycles (in report order)
_REPORT_FIELDS = (
    ("ifmap_dram_reads", K.R_IF_DRAM), ("filter_dram_reads", K.R_FI_DRAM), ("ofmap_dram_writes", K.R_OF_DRAM),
    ("ifmap_dram_start", K.R_IF_DRAM_START), ("ifmap_dram_stop", K.R_IF_DRAM_STOP),
    ("filter_dram_start", K.R_FI_DRAM_START), ("filter_dram_stop", K.R_FI_DRAM_STOP),
    ("ofmap_dram_start", K.R_OF_DRAM_START), ("ofmap_dram_stop", K.R_OF_DRAM_STOP),
    ("ifmap_sram_start", K.R_IF_SRAM_START), ("ifmap_sram_stop", K.R_IF_SRAM_STOP),
    ("filter_sram_start", K.R_FI_SRAM_START), ("filter_sram_stop", K.R_FI_SRAM_STOP),
    ("ofmap_sram_start", K.R_OF_SRAM_START), ("ofmap_sram_stop", K.R_OF_SRAM_STOP),
)
_REPORT_NAMES = tuple(name for name, _ in _REPORT_FIELDS)
_REPORT_VALUES = itemgetter(*(i for _, i in _REPORT_FIELDS))

#: one unit's SCALE-Sim report (:func:`scalesim_report`): the closed forms (§2), the cycles, the report fields
#: of the replay (§3: DRAM words, buffer start and stop cycles) and the MACs. A named tuple, not a dict: built
#: once per unit of every cold run, where building the 33-key dict cost a small layer 1.1 us more
UnitReport = namedtuple("UnitReport", (*CLOSED_FORM_FIELDS, "total_cycles", "stall_cycles",
                                       "total_cycles_incl_prefetch", "overall_util", *_REPORT_NAMES, "macs"))

#: a unit's report from the analytic memory model (:func:`analytic_report`, §8): the fields of
#: :class:`UnitReport` without the buffers' start and stop cycles
AnalyticReport = namedtuple("AnalyticReport", (*CLOSED_FORM_FIELDS, "total_cycles", "stall_cycles",
                                               "total_cycles_incl_prefetch", "overall_util", "ifmap_dram_reads",
                                               "filter_dram_reads", "ofmap_dram_writes", "macs"))


def _report(closed: tuple, res, geom: Geometry, R: int, C: int) -> UnitReport:
    """A unit's :class:`UnitReport`: its closed-form values and its replay results (the ``_kernels.R_*`` vector)."""
    r = res.tolist()  # Python ints, read once (indexing the array per field cost 10 us a unit)
    total = r[_R_TOTAL]
    macs = geom.macs
    # (_make of the values in field order: the constructor's 33 named parameters cost 0.4 us more)
    return UnitReport._make((*closed, total, r[_R_STALL],
                             r[_R_OF_DRAM_STOP] - min(r[_R_IF_DRAM_START], r[_R_FI_DRAM_START]),
                             macs / (total * R * C) if total > 0 else 0.0, *_REPORT_VALUES(r), macs))


_R_TOTAL, _R_STALL, _R_OF_DRAM_STOP, _R_IF_DRAM_START, _R_FI_DRAM_START = (
    K.R_TOTAL, K.R_STALL, K.R_OF_DRAM_STOP, K.R_IF_DRAM_START, K.R_FI_DRAM_START)


def ifmap_distinct(g: Geometry) -> bool:
    """True when no two (pixel, window) pairs share an ifmap word and no window runs past the edge."""
    _, H, W, _, FH, FW, sh, sw, dh, dw, _, Eh, Ew = g  # (one unpacking, not 14 field reads: once per unit)
    inside = (Eh - 1) * sh + (FH - 1) * dh < H and (Ew - 1) * sw + (FW - 1) * dw < W
    rows_apart = Eh == 1 or (FH - 1) * dh < sh
    cols_apart = Ew == 1 or (FW - 1) * dw < sw
    return inside and rows_apart and cols_apart


def windows_inside(g: Geometry) -> bool:
    """True when no window runs past the input edge (every prefetch entry of the ifmap is an address)."""
    _, H, W, _, FH, FW, sh, sw, dh, dw, _, Eh, Ew = g
    return (Eh - 1) * sh + (FH - 1) * dh < H and (Ew - 1) * sw + (FW - 1) * dw < W


def memory_params(config: SystolicConfig) -> tuple[tuple[int, int, int], tuple[int, int, int], bool]:
    """SRAM sizes in words, USER-mode bandwidths in words/cycle, and whether USER mode is on."""
    s, d = config.sram, config.dram
    sizes = (s.ifmap_kb * 1024, s.filter_kb * 1024, s.ofmap_kb * 1024)
    return sizes, (d.ifmap_bw, d.filter_bw, d.ofmap_bw), d.bandwidth_mode == "USER"


@lru_cache(maxsize=4096)
def user_events(df: str, R: int, C: int, geom: Geometry, if_words: int, fi_words: int) -> tuple:
    """The USER-mode read buffers' slide events of a unit (§8.8, ``analytic.user_events``): independent
    of the bandwidths, so computed once per geometry and SRAM sizes in a bandwidth sweep."""
    return A.user_events(DF_CODE[df], R, C, geom.batch, geom.H, geom.W, geom.C, geom.FH, geom.FW, geom.sh, geom.sw,
                         geom.dh, geom.dw, geom.Eh, geom.Ew, geom.K, if_words, fi_words, not ifmap_distinct(geom))


# large enough for a sweep's distinct geometries: an LRU smaller than a cyclic access pattern misses always
@lru_cache(maxsize=32768)
def analytic_report(df: str, R: int, C: int, geom: Geometry, sizes: tuple[int, int, int],
                    bws: tuple[int, int, int] = (10, 10, 10), user: bool = False) -> "AnalyticReport | UnitReport":
    """The report values of :func:`scalesim_report` from the analytic memory model (§8): CALC mode by
    the epoch-cache law (§8.1-8.6), USER mode (``user``, bandwidths ``bws``) by window slides and
    drains as events (§8.8). An :class:`AnalyticReport`, or the replay's :class:`UnitReport` for a USER-mode
    unit whose windows run past the input edge."""
    if user and not windows_inside(geom):
        # windows past the input edge (ceil-mode outputs): no closed form for the valid prefetch
        # entries before a position, so such a unit is replayed (§8.8)
        return scalesim_report(df, R, C, geom, sizes, bws, True)
    closed = closed_form_values(df, R, C, geom)
    if user:
        ev = user_events(df, R, C, geom, sizes[0], sizes[1])
        res = A.user_from_events(DF_CODE[df], R, C, geom.npx, geom.win, geom.K, np.asarray(sizes, np.int64),
                                 np.asarray(bws, np.int64), *ev)
        total = int(res[A.U_TOTAL])
        return AnalyticReport(
            *closed,
            total_cycles=total,
            stall_cycles=int(res[A.U_STALL]),
            total_cycles_incl_prefetch=int(res[A.U_OF_DRAM_STOP] - min(res[A.U_IF_DRAM_START], res[A.U_FI_DRAM_START])),
            overall_util=geom.macs / (total * R * C) if total > 0 else 0.0,
            ifmap_dram_reads=float(res[A.U_IF_DRAM]),
            filter_dram_reads=float(res[A.U_FI_DRAM]),
            ofmap_dram_writes=float(res[A.U_OF_DRAM]),
            macs=geom.macs,
        )
    reads = A.analytic_unit(DF_CODE[df], R, C, geom.batch, geom.H, geom.W, geom.C, geom.FH, geom.FW, geom.sh, geom.sw,
                            geom.dh, geom.dw, geom.Eh, geom.Ew, geom.K, sizes[0], sizes[1], not ifmap_distinct(geom),
                            A.N_SAMPLES, A.MAX_SWEEPS)
    total = closed[_COMPUTE_CYCLES]
    return AnalyticReport(
        *closed,
        total_cycles=total,
        stall_cycles=0,
        total_cycles_incl_prefetch=total + A.prefetch_margin_cycles(reads, sizes, C),
        overall_util=geom.macs / (total * R * C) if total > 0 else 0.0,
        ifmap_dram_reads=float(reads[0]),
        filter_dram_reads=float(reads[1]),
        ofmap_dram_writes=float(reads[2]),
        macs=geom.macs,
    )


def analytic_unit_report(df: str, R: int, C: int, geom: Geometry, sizes: tuple[int, int, int],
                         bws: tuple[int, int, int] = (10, 10, 10), user: bool = False) -> dict:
    """:func:`analytic_report` as a dict keyed like :func:`scalesim_unit`'s."""
    return analytic_report(df, R, C, geom, sizes, bws, user)._asdict()


def clear_memos() -> None:
    """Forget every per-process result the model keeps (unit reports, unit geometries, the USER events, the
    ifmap passes shared across column counts): the next run computes each layer afresh, as a benchmark's
    cold run must."""
    from .calc import clear_shared_ifmap  # (calc imports the kernels: a CALC-free process never loads them)

    for memo in (scalesim_report, layer_units, analytic_report, user_events):
        memo.cache_clear()
    clear_shared_ifmap()
    _BY_ENERGY.clear()


#: what a model builds from the parts of its config that price actions (the technology table, the PE,
#: the SRAMs, the DRAM; not the array's shape or dataflow): its energy table, its action keys, and the
#: priced keys of simulate_layers. A sweep over arrays builds each once; bounded, cleared when full.
_BY_ENERGY: dict = {}
_BY_ENERGY_MAX = 1024


def _by_energy(key, make):
    hit = _BY_ENERGY.get(key)
    if hit is None:
        if len(_BY_ENERGY) >= _BY_ENERGY_MAX:
            _BY_ENERGY.clear()
        hit = _BY_ENERGY[key] = make()
    return hit


def unit_report(config: SystolicConfig, geom: Geometry, memory: tuple | None = None) -> "UnitReport | AnalyticReport":
    """SCALE-Sim report values of one unit geometry on a config (no compression); with
    ``memory_model: analytic`` the memory values come from the analytic model (§8). ``memory``:
    the config's :func:`memory_params`, when the caller already has them."""
    sizes, bws, user = memory or memory_params(config)
    if config.memory_model == "analytic":
        return analytic_report(config.dataflow, config.rows, config.cols, geom, sizes, bws, user)
    return scalesim_report(config.dataflow, config.rows, config.cols, geom, sizes, bws, user)


def run_geometry(config: SystolicConfig, geom: Geometry, memory: tuple | None = None) -> dict:
    """:func:`unit_report` as a dict keyed like :func:`scalesim_unit`'s."""
    return unit_report(config, geom, memory)._asdict()


class SystolicModel(HardwareModel):
    """SCALE-Sim-exact systolic array with compression awareness and energy (docs/models/systolic.md)."""

    family = "systolic"

    def __init__(self, config: SystolicConfig):
        self.tech = load_tech(config.tech)  # one lookup prices both the energy table and static power
        # what the energy table and the action keys read of the config (PeConfig holds a list: its repr)
        self._energy_key = (self.tech, repr(config.pe), config.sram, config.dram)
        super().__init__(config)
        self._memory = memory_params(config)
        # (weight bits, activation bits) -> (width, pack, slow-down, activation bits, peak MACs/s, action keys)
        self._precisions: dict[tuple, tuple] = {}
        self._array_macs = config.rows * config.cols  # MAC slots per cycle at the native width
        word = config.sram.word_bytes * 8
        # one dict shared by every result (built once, never mutated): each buffer's access width
        self._word_bits = {"ifmap": word, "filter": word, "ofmap": word}
        # what count() reads of the config on every call (the config is frozen)
        self._df, self._rows, self._cols = config.dataflow, config.rows, config.cols
        self._analytic = config.memory_model == "analytic"
        self._word_bytes, self._pe_bits = config.sram.word_bytes, config.pe.bits

    # --- the contract (accelsim.hw.base) ---------------------------------------------------------
    def energy_reference_table(self) -> EnergyTable:
        """The read-only table of :func:`energy.energy_reference_table`, one per technology table, PE,
        SRAMs and DRAM (shared by the models of a sweep over array shapes and dataflows)."""
        return _by_energy(("table", self._energy_key),
                          lambda: EnergyTable(E.energy_reference_table(self.config, self.tech)))

    def static_power(self) -> float:
        """:func:`energy.static_power`, once per PE count, given static power and pricing parts (a sweep's
        models over array shapes share it)."""
        cfg = self.config
        return _by_energy(("static", cfg.rows * cfg.cols, cfg.static_power_w, self._energy_key),
                          lambda: E.static_power(cfg, self.tech))

    def area(self) -> AreaBreakdown:
        """Datapath and buffer area (mm^2) from the technology table: ``pe_mult`` (one native-width
        multiplier per PE), ``pe_add`` (one accumulator adder per PE; int32 / fp32 as in the static
        power), ``pe_registers`` (two operand registers of ``pe.bits`` and one accumulator of
        ``pe.accumulator_bits`` per PE) and the three SRAMs (``ifmap_sram``, ``filter_sram``,
        ``ofmap_sram``, the technology table's fitted SRAM area law). Control, the DRAM interface,
        the precision-scaling logic and wiring are not modelled: a lower bound on the die area.
        Computed once per PE count and pricing parts (a copy of its components per call)."""
        area = _by_energy(("area", self._array_macs, self._energy_key), self._area)
        return AreaBreakdown(dict(area.by_component), area.total_mm2)

    def _area(self) -> AreaBreakdown:
        cfg, t = self.config, self.tech
        pe = cfg.pe
        n_pe = cfg.rows * cfg.cols
        acc = "int32" if pe.dtype == "int" else "fp32"
        parts = {
            "pe_mult": t.op_area_um2("mult", E._dtype(pe.dtype, pe.bits)) * 1e-6,
            "pe_add": t.op_area_um2("add", acc) * 1e-6,
            "pe_registers": t.register_area_mm2(2 * pe.bits + pe.accumulator_bits),
        }
        counts = {k: n_pe for k in parts}
        for buf in E.sram_buffers(cfg):
            parts[buf.name] = buf.area_mm2(t)
            counts[buf.name] = 1
        return estimate_area(parts, counts)

    def roof(self) -> Roof:
        """Peak MACs/s: rows x cols x clock at the native ``pe.dtype`` + ``pe.bits``, and
        ``bits // w`` times that at each precision mode ``w``; DRAM bytes/s: the USER-mode words/cycle
        of the three streams x word bytes x clock (None in CALC mode: bandwidth never stalls); with
        N:M sparsity support, m / n times the peak on N:M weights."""
        cfg = self.config
        pe = cfg.pe
        clock = self.clock_hz
        native = E.mac_variant(cfg, pe.bits)
        macs = {native: float(self._array_macs * clock)}
        for w in pe.precision_modes:
            macs.setdefault(E.mac_variant(cfg, w), float(self._array_macs * (pe.bits // w) * clock))
        nm = cfg.sparsity.nm  # N:M weights run m / n times fewer cycles (§4.2)
        sparse = {d: v * nm[1] / nm[0] for d, v in macs.items()} if nm else {}
        return Roof(macs_per_s=macs, bytes_per_s={"dram": E.dram_bytes_per_s(cfg)}, native_dtype=native,
                    sparse_macs_per_s=sparse, sparse_pattern=f"{nm[0]}:{nm[1]}" if nm else "")

    # ------------------------------------------------------------------------------------------
    def _precision(self, cl) -> tuple:
        """(operand width executed, packing factor k, slow-down factor, activation bits, peak MACs/s
        at that width = rows x cols x k x clock, the action keys at that width) (§4.1, §5); built
        once per precision this model runs."""
        key = operand_bits(cl)
        hit = self._precisions.get(key)
        if hit is None:
            width, pack, slow, act_bits = self._precision_of(*key)
            keys = _by_energy(("keys", width, self.config.dataflow, self._energy_key),
                              lambda: action_keys(self.config, width))
            hit = self._precisions[key] = (width, pack, slow, act_bits, self._array_macs * pack * self.clock_hz, keys)
        return hit

    def _precision_of(self, weight_bits: int | None, activation_bits: int | None) -> tuple[int, int, int, int]:
        pe = self.config.pe
        wb = weight_bits or pe.bits
        ab = activation_bits or pe.bits
        need = max(wb, ab)
        if need > pe.bits:
            return pe.bits, 1, math.ceil(wb / pe.bits) * math.ceil(ab / pe.bits), ab
        modes = sorted(m for m in pe.precision_modes if m >= need)
        width = modes[0] if modes else pe.bits
        return width, pe.bits // width, 1, ab

    def _check_replay(self, layer, geom: "Geometry") -> None:
        """Refuse, before allocating it, a USER-mode replay larger than :data:`MAX_REPLAY_ENTRIES`."""
        if not self._memory[2] or (self.config.memory_model != "exact" and windows_inside(geom)):
            return  # CALC mode, or USER mode by events (§8.8); windows past the edge are replayed
        cfg = self.config
        n = replay_entries(cfg.dataflow, cfg.rows, cfg.cols, geom)
        if n > MAX_REPLAY_ENTRIES:
            raise SimulationError(
                f"layer '{layer.name}': SCALE-Sim's USER-bandwidth replay of this layer needs {n:,} prefetch entries, "
                f"over its budget of {MAX_REPLAY_ENTRIES:,}; use dram.bandwidth_mode: CALC (and memory_model: "
                f"analytic for sweeps) or a larger array")

    def _fallback(self, pattern: tuple[int, int] | None) -> str:
        """What of stored N:M weights the array does not exploit ("" when it does or they are not N:M): run as
        unstructured sparsity (§4.2, §4.3), reported as the NPU reports it."""
        if pattern is None or self._nm(pattern) is not None:
            return ""
        hw = self.config.sparsity.nm
        have = f"N:M support {hw[0]}:{hw[1]}" if hw is not None else "no N:M support"
        return f"{pattern[0]}:{pattern[1]} weights run as unstructured sparsity ({have}: sparsity.nm)"

    def _nm(self, pattern: tuple[int, int] | None) -> tuple[int, int] | None:
        """The N:M pattern the hardware exploits for weights stored ``pattern`` N:M, or None (§4.2)."""
        hw = self.config.sparsity.nm
        if hw is None or pattern is None:
            return None
        n, m = pattern
        if m == hw[1] and n <= hw[0]:
            return (hw[0], hw[1])
        return None

    def count(self, cl, batch: int) -> LayerCounts | NotMapped:
        """Cycles, traffic and action counts of one layer (§1-§5); layers without a matrix product
        do not run on the array (§1.4)."""
        cfg = self.config
        layer = cl.layer
        units = layer_units(layer, batch)
        if units is None:
            return _NOT_RUN
        view = cl.view
        geom, n_units = units
        dense_macs = geom.macs * n_units
        width, pack, slow, act_bits, peak, keys = self._precision(cl)
        nm = self._nm(view.nm)
        factor = pack * (nm[1] / nm[0] if nm else 1)
        run_geom = geom.reduced(factor)
        self._check_replay(layer, run_geom)
        sizes, bws, user = memory = self._memory
        if self._analytic:
            rep = analytic_report(self._df, self._rows, self._cols, run_geom, sizes, bws, user)
        else:
            rep = scalesim_report(self._df, self._rows, self._cols, run_geom, sizes, bws, user)

        compute = rep.compute_cycles * slow
        stall = rep.stall_cycles * n_units
        skip_info = None
        has_matrix = view.has_matrix
        has_weights = layer.has_weights
        sp = cfg.sparsity
        if sp.skip_zero_weights and nm is None and has_matrix and has_weights:
            from accelsim.hw.systolic.sparsity import skipped_compute_cycles

            skip_info = skipped_compute_cycles(cfg, layer, _nonzero(view), geom, run_geom, n_units)
            compute = skip_info["compute_cycles"] * slow
        else:
            compute *= n_units

        # --- traffic (words of word_bytes; §3, §4) ---
        wb = self._word_bytes
        if nm is not None:
            # the activations are read in full, as by the same layer without N:M (§4.2)
            self._check_replay(layer, geom.reduced(pack))
            act_rep = unit_report(cfg, geom.reduced(pack), memory)
            if_sram = act_rep.ifmap_sram_reads * slow
            if_dram = act_rep.ifmap_dram_reads * max(1.0, act_bits / width)
        else:
            if_sram = rep.ifmap_sram_reads * slow
            if_dram = rep.ifmap_dram_reads * max(1.0, act_bits / width)  # wider activations move their bits (§4.1)
        fi_sram = rep.filter_sram_reads * slow
        of_sram = rep.ofmap_sram_writes * slow
        fi_dram = float(rep.filter_dram_reads)
        of_dram = float(rep.ofmap_dram_writes)
        density = cl.weight_density if has_weights else 1.0
        if nm is not None:
            kept = geom.win * geom.K * nm[0] / nm[1]
            meta_words = kept * sp.metadata_bits / (8 * wb)
            reads = fi_dram / max(kept / pack, 1)  # times the kept values stream in from DRAM
            # the kept values leave DRAM at their stored width (int4 on int8 units: half the replayed words)
            fi_dram = fi_dram * min(1.0, (cl.weight_bits or width) / width) + meta_words * reads
            fi_sram += meta_words * rep.filter_sram_reads / max(kept / pack, 1)
            # and what else the stored format holds (per-channel scales, K padded to a multiple of M), as often
            fi_dram *= _nm_stored_ratio(cl, width, nm, sp.metadata_bits)
        elif has_weights and (view.layout != "none" or cl.weight_bits is not None):  # (else the ratio is 1)
            # the filter stream moves the stored bits, not the replayed words, which hold one weight of `width`
            # bits each (or `pack` packed ones: §4.1)
            fi_dram *= stored_ratio(cl, width)
        elif not has_weights:  # a product of two activations: its second operand, a KV cache at its own bits (§4.1)
            fi_dram *= activation_operand_ratio(layer, act_bits, width)
        # outputs leave at the activation width
        of_dram *= act_bits / self._pe_bits
        sram_reads = {"ifmap": int(round(if_sram * n_units)), "filter": int(round(fi_sram * n_units))}
        sram_writes = {"ofmap": int(round(of_sram * n_units))}
        dram_read_bytes = int(round((if_dram + fi_dram) * wb * n_units))
        dram_write_bytes = int(round(of_dram * wb * n_units))

        # --- MACs and actions (§5) ---
        slots = rep.macs * n_units * pack  # operand slots the array issues at `width` bits
        if nm:
            performed = dense_macs * (nm[0] / nm[1])
            zero_frac = max(0.0, 1.0 - density / (nm[0] / nm[1])) if has_weights and has_matrix else 0.0
        else:
            performed = dense_macs * 1.0
            zero_frac = max(0.0, 1.0 - density / 1.0) if has_weights and has_matrix else 0.0
        gated = performed * zero_frac if sp.zero_gating else 0.0
        active = performed - gated
        actions = count_actions(keys, active_macs=active * slow, gated_macs=gated * slow,
                                slots=max(slots, performed) * slow, sram_reads=sram_reads, sram_writes=sram_writes,
                                dram_read_bytes=dram_read_bytes, dram_write_bytes=dram_write_bytes)
        extra = {
            "dataflow": self._df,
            "units": n_units,
            "folds": rep.folds * n_units,
            "row_folds": rep.row_folds,
            "col_folds": rep.col_folds,
            "Sr": rep.Sr, "Sc": rep.Sc, "T": rep.T,
            "mapping_efficiency": rep.mapping_efficiency,
            "compute_utilization": rep.compute_utilization,
            "overall_utilization_scalesim": rep.overall_util,
            "total_cycles_incl_prefetch": rep.total_cycles_incl_prefetch * n_units,
            "dram_words": {"ifmap": int(round(if_dram * n_units)), "filter": int(round(fi_dram * n_units)),
                           "ofmap": int(round(of_dram * n_units))},
            "operand_bits": width, "pack": pack, "slowdown": slow,
            "nm": list(nm) if nm else None,
            "weight_density": density,
            "gated_macs": gated,
        }
        if view.nm is not None:
            fallback = self._fallback(view.nm)
            if fallback:
                extra["fallback"] = fallback
        if skip_info is not None:
            extra["skip"] = {k: v for k, v in skip_info.items() if k != "compute_cycles"}
        # utilization = performed MACs / (rows x cols x pack slots per cycle x cycles)
        return LayerCounts(
            dense_macs, int(round(dense_macs * density)), compute, stall, actions, performed, peak, sram_reads,
            sram_writes, self._word_bits, dram_read_bytes, dram_write_bytes,
            cl.weight_storage_bits(cl.weight_bits or self._pe_bits), extra,
        )

    # --- a whole network in one pass (§9) ------------------------------------------------------
    @staticmethod
    def plan_layers(layers, batch: int) -> "NetworkPlan":
        """What :meth:`simulate_layers` needs of ``layers`` at ``batch`` that no config changes (§9.1):
        build it once per network and batch, run it on any number of systolic configs."""
        return NetworkPlan(layers, batch)

    def simulate_layers(self, plan: "NetworkPlan", lazy: bool = False):
        """``[self.simulate(cl, plan.batch) for cl in plan.layers]``, the same results to the bit, with
        the array layers counted and priced together (§9): the closed forms and the analytic memory
        model of every distinct unit geometry in one kernel call (CALC mode, ``memory_model:
        analytic``; otherwise each distinct geometry once through :func:`unit_report`), the counts
        of §3-§5 and their energy as array operations, then one :class:`LayerResult` per layer.
        Layers whose counts need per-layer work (exploited N:M weights, zero-weight skipping, an
        action without an energy entry) go through :meth:`simulate`.

        ``lazy=True``: a :class:`LayerColumns` (the same results, built on first use, and the
        network's figures as columns) where every array layer was counted here; a list otherwise."""
        batch = plan.batch
        out = list(plan.results)
        n = len(plan.array)
        if n == 0:
            return out
        cfg = self.config
        if self.power_limit_w is not None or not self._plain_extra:
            for j, i in enumerate(plan.array):
                out[i] = self.simulate(plan.cls[j], batch)
            return out
        sp = cfg.sparsity
        fast = np.ones(n, np.bool_)
        if (sp.nm is not None and plan.any_nm) or (sp.skip_zero_weights and plan.any_matrix):
            for j, cl in enumerate(plan.cls):
                if (self._nm(plan.nm[j]) is not None
                        or (sp.skip_zero_weights and plan.has_matrix[j] and plan.has_weights[j])):
                    fast[j] = False
        # precision per (weight bits, activation bits) group (§4.1)
        pe_bits = cfg.pe.bits
        G = len(plan.prec_keys)
        precs = [self._precision(plan.cls[plan.prec_first[g]]) for g in range(G)]
        width_g = np.array([p[0] for p in precs], np.int64)
        pack_g = np.array([p[1] for p in precs], np.int64)
        slow_g = np.array([p[2] for p in precs], np.int64)
        act_g = np.array([p[3] for p in precs], np.int64)
        peak_g = np.array([p[4] for p in precs], np.float64)
        groups, priced = self._priced_groups(tuple(p[5] for p in precs))
        pg = plan.prec_group
        for g in range(G):
            if groups[g] is None:
                fast &= pg != g
        if not fast.all():
            for j in np.flatnonzero(~fast).tolist():
                out[plan.array[j]] = self.simulate(plan.cls[j], batch)
            if not fast.any():
                return out
        # unit geometries run: the plan's distinct ones, reduced by the packing factor (§4.1)
        pack = pack_g[pg]
        u_of = plan.geom_index
        if (pack_g == 1).all():
            run_geoms = plan.geoms
            run_u = u_of
        else:
            index: dict = {}
            run_geoms = []
            run_u = np.empty(n, np.int64)
            for j in range(n):
                g = plan.geoms[u_of[j]].reduced(int(pack[j]))
                k = index.get(g)
                if k is None:
                    k = index[g] = len(run_geoms)
                    run_geoms.append(g)
                run_u[j] = k
        rep = self._unit_reports(run_geoms, plan, run_u, fast)
        # per-layer counts (§3, §4; SystolicModel.count), actions and energy (§5), in one kernel call (§9.3)
        rep_i = np.stack([rep[k] for k in _PRICE_INTS], axis=1)
        rep_f = np.stack([rep[k] for k in _PRICE_FLOATS], axis=1)
        key_n, key_q, key_pj, key_cat, moving_g, cat_names = priced
        ci, cf, cat_j, key_counts, key_mask, big = BK.price_layers(
            rep_i, rep_f, run_u, fast, plan.units, pg, slow_g, pack_g, act_g, np.maximum(1.0, act_g / width_g), peak_g,
            plan.filter_ratio(width_g[pg], act_g[pg]),
            plan.performed, plan.zero_frac, sp.zero_gating, pe_bits, cfg.sram.word_bytes, float(self.clock_hz),
            float(self.static_power_w), key_n, key_q, key_pj, key_cat, moving_g, len(cat_names))
        if big:
            # beyond float64's exact integers the array forms could round where Python's ints do not
            return [self.simulate(cl, batch) for cl in plan.layers]
        compute, stall, cycles = ci[:, BK.C_COMPUTE], ci[:, BK.C_STALL], ci[:, BK.C_CYCLES]
        if_sram, fi_sram, of_sram = ci[:, BK.C_IF_SRAM], ci[:, BK.C_FI_SRAM], ci[:, BK.C_OF_SRAM]
        dram_read, dram_write = ci[:, BK.C_DRAM_READ], ci[:, BK.C_DRAM_WRITE]
        w_if, w_fi, w_of = ci[:, BK.C_W_IF], ci[:, BK.C_W_FI], ci[:, BK.C_W_OF]
        seconds, static, util = cf[:, BK.S_SECONDS], cf[:, BK.S_STATIC], cf[:, BK.S_UTIL]
        energy, gated = cf[:, BK.S_ENERGY], cf[:, BK.S_GATED]
        by_cat = {c: cat_j[i] for i, c in enumerate(cat_names)}
        units = plan.units
        wsb = plan.storage_bits(pe_bits)

        def layer_results() -> list:
            """One LayerResult per layer (the not-run ones shared with the plan)."""
            L = lambda a: a.tolist()  # noqa: E731  Python values, one list per column
            c_compute, c_stall, c_cycles, c_sec, c_energy, c_util = L(compute), L(stall), L(cycles), L(seconds), \
                L(energy), L(util)
            c_ifs, c_fis, c_ofs, c_dr, c_dw = L(if_sram), L(fi_sram), L(of_sram), L(dram_read), L(dram_write)
            c_wif, c_wfi, c_wof = L(w_if), L(w_fi), L(w_of)
            c_gated = L(gated)
            c_static = L(static)
            c_folds = L(rep["folds"][run_u] * units)
            c_incl = L(rep["total_cycles_incl_prefetch"][run_u] * units)
            rr = {k: L(rep[k][run_u]) for k in ("row_folds", "col_folds", "Sr", "Sc", "T", "mapping_efficiency",
                                                "compute_utilization", "overall_util")}
            c_pg = L(pg)
            c_width, c_pack, c_slow = L(width_g), L(pack_g), L(slow_g)
            cat_cols = {c: L(v) for c, v in by_cat.items()}
            rows_l = L(key_counts)
            masks_l = L(key_mask)
            shapes: dict = {}  # (group, mask) -> (counted keys, their positions, categories in first-use order)
            df = cfg.dataflow
            word_bits = self._word_bits
            new_actions = ActionCounts.from_pairs
            fast_l = L(fast)
            for j in range(n):
                if not fast_l[j]:
                    continue
                g = c_pg[j]
                mask = masks_l[j]
                shape = shapes.get((g, mask))
                if shape is None:
                    shape = shapes[(g, mask)] = _counted(groups[g], mask)
                pkeys, pos, order = shape
                row = rows_l[j]
                breakdown = {c: cat_cols[c][j] for c in order}
                if c_static[j] > 0:
                    breakdown["static"] = breakdown.get("static", 0.0) + c_static[j]
                u = plan.units_l[j]
                out[plan.array[j]] = LayerResult.from_fields({
                    "name": plan.names[j], "op": plan.ops[j], "macs": plan.dense_macs[j],
                    "effective_macs": plan.effective_macs[j], "cycles": c_cycles[j], "compute_cycles": c_compute[j],
                    "stall_cycles": c_stall[j], "latency_s": c_sec[j], "energy_j": c_energy[j],
                    "energy_breakdown_j": breakdown, "sram_reads": {"ifmap": c_ifs[j], "filter": c_fis[j]},
                    "sram_writes": {"ofmap": c_ofs[j]}, "sram_word_bits": word_bits, "dram_read_bytes": c_dr[j],
                    "dram_write_bytes": c_dw[j], "utilization": c_util[j], "weight_storage_bits": wsb[j],
                    "extra": {
                        "dataflow": df, "units": u, "folds": c_folds[j], "row_folds": rr["row_folds"][j],
                        "col_folds": rr["col_folds"][j], "Sr": rr["Sr"][j], "Sc": rr["Sc"][j], "T": rr["T"][j],
                        "mapping_efficiency": rr["mapping_efficiency"][j],
                        "compute_utilization": rr["compute_utilization"][j],
                        "overall_utilization_scalesim": rr["overall_util"][j],
                        "total_cycles_incl_prefetch": c_incl[j],
                        "dram_words": {"ifmap": c_wif[j], "filter": c_wfi[j], "ofmap": c_wof[j]},
                        "operand_bits": c_width[g], "pack": c_pack[g], "slowdown": c_slow[g], "nm": None,
                        "weight_density": plan.density[j], "gated_macs": c_gated[j],
                        **({"fallback": self._fallback(plan.nm[j])} if plan.nm[j] is not None else {}),
                    },
                    "actions": new_actions(pkeys, [row[k] for k in pos]),
                })
            return out

        if not lazy or not fast.all():
            return layer_results()
        # the figures NetworkResult.total and refetch_summary read, as columns (§9.4)
        N = len(plan.layers)
        at = plan.array_at

        def full(values) -> np.ndarray:  # over all layers: 0.0 where a layer does not run, as its result has
            a = np.zeros(N)
            a[at] = values
            return a

        static_on = static > 0
        mask = key_mask  # each layer's counted keys in its group
        # a layer's breakdown lists the categories of its counted keys in first-use order, then static; the
        # network's lists each category where a layer first has it, adding up the layers that have it
        sig = (pg * (1 << 40) + mask) * 2 + static_on
        keyed: dict = {}  # category -> the array layers whose counted keys price it
        for j in np.sort(np.unique(sig, return_index=True)[1]).tolist():
            same = sig == sig[j]
            cats = _counted(groups[int(pg[j])], int(mask[j]))[2]
            for c in cats + (["static"] if static_on[j] else []):
                keyed[c] = keyed[c] | same if c in keyed else same
        breakdown = []
        for c, on in keyed.items():
            v = by_cat[c] if c in by_cat else np.zeros(n)
            if c == "static":
                v = np.where(static_on, v + static, v)
            breakdown.append((c, v[on]))
        columns = {
            "layers": N, "latency_s": full(seconds), "energy_j": full(energy), "utilization_cycles": full(util * cycles),
            "cycles": cycles, "macs": plan.dense_macs, "effective_macs": plan.effective_macs,
            "compute_cycles": compute, "stall_cycles": stall, "dram_read_bytes": dram_read,
            "dram_write_bytes": dram_write, "weight_storage_bits": wsb, "energy_breakdown_j": breakdown,
            "sram_reads": {"ifmap": if_sram, "filter": fi_sram}, "sram_writes": {"ofmap": of_sram},
            # DRAM refetch (report.results.dram_refetch): the array layers' names, latency and DRAM words
            "names": plan.names, "array_latency_s": seconds, "dram_words": {"ifmap": w_if, "filter": w_fi},
            "sram_word_bits": self._word_bits,
        }
        return LayerColumns(N, layer_results, columns)

    def _priced_groups(self, keys: tuple) -> tuple:
        """``(groups, priced)`` of :meth:`simulate_layers` for the action keys of its precision groups:
        per group ``(unique keys, positions per key, energies, categories, operands moving)`` or None
        (a key without an energy entry, or equal keys apart: priced, and refused, layer by layer), and
        their :func:`_priced_keys`; one per energy table and keys (the arrays are never written)."""
        table = self.energy_table
        hit = _by_energy(("priced", keys, id(table)), lambda: (table, *self._price_groups(keys)))
        if hit[0] is not table:  # an id reused by a newer table
            hit = _BY_ENERGY[("priced", keys, id(table))] = (table, *self._price_groups(keys))
        return hit[1], hit[2]

    def _price_groups(self, keys: tuple) -> tuple:
        table = self.energy_table._checked
        groups = []
        for ak in keys:
            ukeys = list(dict.fromkeys(ak.keys))
            pos = [[k for k, key in enumerate(ak.keys) if key == u] for u in ukeys]
            entries = [table.get(u) for u in ukeys]
            if any(e is None for e in entries) or any(q[-1] - q[0] != len(q) - 1 for q in pos):
                groups.append(None)
            else:
                groups.append((ukeys, pos, [e[0] for e in entries], [e[1] for e in entries], ak.moving))
        return groups, _priced_keys(groups)

    def _unit_reports(self, geoms: list, plan: "NetworkPlan", run_u, fast) -> dict:
        """The report values :meth:`count` reads, one array per value over the distinct unit
        geometries ``geoms`` (§9.2): one :func:`_batch_kernels.analytic_units` call in CALC mode with
        ``memory_model: analytic``; else (and for a geometry the kernel cannot divide exactly) each
        through :func:`unit_report`, as :meth:`count` does."""
        cfg = self.config
        sizes, bws, user = self._memory
        m = len(geoms)
        used = np.zeros(m, np.bool_)
        used[run_u[fast]] = True
        todo = np.flatnonzero(used)
        if cfg.memory_model == "analytic" and not user:
            df = DF_CODE[cfg.dataflow]
            if geoms is plan.geoms:
                tab, samples = plan.table, plan.reuse_positions(df, cfg.rows, cfg.cols, A.N_SAMPLES)
            else:
                tab = geometry_table(geoms)
                reuse = BK.reuse_table(tab, A.N_SAMPLES)
                samples = (reuse[0], *BK.reuse_positions_table(df, cfg.rows, cfg.cols, tab, *reuse))
            ints, flts, exact = BK.analytic_units(df, cfg.rows, cfg.cols, tab, sizes[0], sizes[1], sizes[2], *samples,
                                                  A.MAX_SWEEPS)
            rep = {k: ints[:, col] for k, col in _REPORT_INT_COLS.items()}
            rep["total_cycles"] = rep["compute_cycles"]
            rep["stall_cycles"] = np.zeros(m, np.int64)
            rep.update({k: flts[:, col] for k, col in _REPORT_FLOAT_COLS.items()})
            todo = todo[~exact[todo]]
            if todo.size == 0:
                return rep
            rep = {k: v.copy() for k, v in rep.items()}  # written below: not views of one another
        else:
            rep = {k: np.zeros(m, np.int64) for k in _REPORT_INTS}
            rep.update({k: np.zeros(m, np.float64) for k in _REPORT_FLOATS})
        first_user = {}
        for j, u in enumerate(run_u.tolist()):
            first_user.setdefault(u, j)
        for u in todo.tolist():
            g = geoms[u]
            self._check_replay(plan.cls[first_user[u]].layer, g)
            d = unit_report(cfg, g, self._memory)
            for k in _REPORT_INTS:
                rep[k][u] = getattr(d, k)
            for k in _REPORT_FLOATS:
                rep[k][u] = getattr(d, k)
        return rep


#: report values of a unit that :meth:`SystolicModel.simulate_layers` reads (ints, floats)
_REPORT_INTS = ("compute_cycles", "total_cycles", "stall_cycles", "ifmap_sram_reads", "filter_sram_reads",
                "ofmap_sram_writes", "macs", "folds", "row_folds", "col_folds", "Sr", "Sc", "T",
                "total_cycles_incl_prefetch")
_REPORT_FLOATS = ("mapping_efficiency", "compute_utilization", "overall_util", "ifmap_dram_reads",
                  "filter_dram_reads", "ofmap_dram_writes")
_REPORT_INT_COLS = {"compute_cycles": BK.I_COMPUTE, "ifmap_sram_reads": BK.I_IF_SRAM,
                    "filter_sram_reads": BK.I_FI_SRAM, "ofmap_sram_writes": BK.I_OF_SRAM, "macs": BK.I_MACS,
                    "folds": BK.I_FOLDS, "row_folds": BK.I_ROW_FOLDS, "col_folds": BK.I_COL_FOLDS, "Sr": BK.I_SR,
                    "Sc": BK.I_SC, "T": BK.I_T, "total_cycles_incl_prefetch": BK.I_INCL_PREFETCH}
_REPORT_FLOAT_COLS = {"mapping_efficiency": BK.F_MAP_EFF, "compute_utilization": BK.F_COMPUTE_UTIL,
                      "overall_util": BK.F_OVERALL_UTIL, "ifmap_dram_reads": BK.F_IF_DRAM,
                      "filter_dram_reads": BK.F_FI_DRAM, "ofmap_dram_writes": BK.F_OF_DRAM}


#: report values :func:`_batch_kernels.price_layers` reads per unit (its ``R_*`` columns, in order)
_PRICE_INTS = ("compute_cycles", "stall_cycles", "ifmap_sram_reads", "filter_sram_reads", "ofmap_sram_writes", "macs")
_PRICE_FLOATS = ("ifmap_dram_reads", "filter_dram_reads", "ofmap_dram_writes")


def _priced_keys(groups: list) -> tuple:
    """The energy keys of ``simulate_layers``' precision groups as :func:`_batch_kernels.price_layers`
    reads them: ``(key_n, key_q, key_pj, key_cat, moving, categories)`` (``key_n`` -1 for a group priced
    layer by layer)."""
    G = len(groups)
    K = max((len(grp[0]) for grp in groups if grp is not None), default=1)
    Q = max((len(q) for grp in groups if grp is not None for q in grp[1]), default=1)
    key_n = np.full(G, -1, np.int64)
    key_q = np.full((G, K, Q), -1, np.int64)
    key_pj = np.zeros((G, K))
    key_cat = np.zeros((G, K), np.int64)
    moving = np.zeros(G, np.int64)
    cats: dict = {}
    for g, grp in enumerate(groups):
        if grp is None:
            continue
        ukeys, pos, joules_pj, cat, moves = grp
        key_n[g] = len(ukeys)
        moving[g] = moves
        for k, q in enumerate(pos):
            key_q[g, k, :len(q)] = q
            key_pj[g, k] = joules_pj[k]
            key_cat[g, k] = cats.setdefault(cat[k], len(cats))
    return key_n, key_q, key_pj, key_cat, moving, list(cats)


def _counted(group: tuple, mask: int) -> tuple[list, list, list]:
    """(counted keys, their positions among the group's keys, their energy categories in first-use order)
    of a precision group (``simulate_layers``' ``groups``) for a layer whose nonzero counts are ``mask``'s bits."""
    ukeys, _, _, cats, _ = group
    pos = [k for k in range(len(ukeys)) if mask >> k & 1]
    return [ukeys[k] for k in pos], pos, list(dict.fromkeys(cats[k] for k in pos))


class LayerColumns(Sequence):
    """What ``simulate_layers(plan, lazy=True)`` returns (§9.4): the network's :class:`LayerResult`
    sequence, built on first use, and ``columns``, the per-layer figures that
    :attr:`accelsim.report.results.NetworkResult.total` and
    :func:`accelsim.report.results.refetch_summary` read, as arrays (a sweep without per-layer rows
    never builds the layer objects). ``columns`` (layer order; "array layers" are those that run):

    * ``layers``: the number of layers;
    * ``latency_s``, ``energy_j``, ``utilization_cycles`` (utilization x cycles): floats over all layers (0.0
      where a layer does not run, as its result has);
    * ``macs``, ``effective_macs``, ``cycles``, ``compute_cycles``, ``stall_cycles``, ``dram_read_bytes``,
      ``dram_write_bytes``, ``weight_storage_bits``: over the array layers (ints);
    * ``energy_breakdown_j``: ``[(category, joules of the array layers whose breakdown has it)]`` in the
      order the layers' breakdowns first name them;
    * ``sram_reads`` / ``sram_writes``: buffer -> words over the array layers;
    * ``names``, ``array_latency_s``, ``dram_words`` (ifmap / filter words over the array layers) and
      ``sram_word_bits`` (every array layer's), for the DRAM refetch factors.
    """

    __slots__ = ("_n", "_build", "_list", "columns")

    def __init__(self, n: int, build, columns: dict):
        self._n, self._build, self._list, self.columns = n, build, None, columns

    def _layers(self) -> list:
        if self._list is None:
            self._list = self._build()
            self._build = None
        return self._list

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        return self._layers()[i]

    def __iter__(self):
        return iter(self._layers())


def geometry_table(geoms) -> np.ndarray:
    """The ``_batch_kernels.G_*`` table of unit geometries: their fields and whether the ifmap's
    words repeat (windows overlap or cross the edge, §8.5)."""
    tab = np.empty((len(geoms), BK.N_G), np.int64)
    for i, g in enumerate(geoms):
        tab[i] = (g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.K, g.Eh, g.Ew, not ifmap_distinct(g))
    return tab


#: sample positions a plan keeps (NetworkPlan.reuse_positions): one per dataflow and row count (is: and
#: column count) of a sweep; a few KB each
POSITIONS_KEPT = 64


#: WeightView -> the non-zero mask of its weights, kept while the layer lives (zero skipping, §4.4)
_NONZERO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _nonzero(view) -> np.ndarray:
    """The non-zero mask of a layer's effective weights (1 B per weight), built once per view: the view builds a
    compact layer's dense matrix only to be read, and zero skipping reads it on every simulate (§4.4)."""
    mask = _NONZERO.get(view)
    if mask is None:
        mask = _NONZERO[view] = np.asarray(view.matrix) != 0
    return mask


def _nm_stored_ratio(cl, width: int, nm: tuple[int, int], metadata_bits: int) -> float:
    """The N:M filter stream's stored bits over its kept values and their metadata (>= 1; docs/models/systolic.md
    §4.3): the per-channel scales and the padding of K to a multiple of M that the format stores besides them."""
    rows, cols = cl.layer.weight_matrix_shape
    value_bits = min(cl.weight_bits or width, width)
    modelled = rows * cols * nm[0] / nm[1] * (value_bits + metadata_bits)
    stored = cl.stored_bits_at(width)
    return stored / modelled if modelled > 0 and stored > modelled else 1.0


def operand_bits(cl) -> tuple:
    """``(weight-side bits, activation bits)`` a layer runs at (§4.1; None: the PE's native width): the weights'
    stored width, or for a product of two activations that reads a KV cache its cache's bits per element (rounded
    up: a 4.25-bit group-quantized cache runs as 5-bit operands), so a 16-bit cache on 8-bit PEs takes two passes."""
    layer = cl.layer
    if layer.has_weights:
        return cl.weight_bits, cl.activation_bits
    kv = getattr(layer, "kv_bits", 0) or 0
    return (math.ceil(kv) if kv else cl.weight_bits), cl.activation_bits


def activation_operand_ratio(layer, act_bits: int, width: int) -> float:
    """DRAM bits over replayed words of the second operand of a product of two activations (§4.1): a KV cache
    leaves DRAM at its stored bits per element (``kv_bits``: an int4 cache moves half an int8 array's words, a
    16-bit one twice), another activation at the activation width when wider than the replay's words."""
    kv = float(getattr(layer, "kv_bits", 0) or 0)
    return kv / width if kv else max(1.0, act_bits / width)


def stored_ratio(cl, width: int) -> float:
    """Stored over replayed filter bits of a compressed layer (§4.3): the replayed words carry one weight of
    ``width`` bits each; weights no step quantized (``weight_bits`` None: the hardware's native precision)
    move their values at ``width`` bits, not at the float32 the store keeps them in, with their indices,
    pointers and metadata as stored. > 1: a format larger than dense."""
    view = cl.view
    if view.layout == "none":  # dense weights as held: a deployed width (fp16 on int8 PEs) moves at it, else native
        return cl.weight_bits / width if cl.weight_bits else 1.0
    shape = cl.layer.weight_matrix_shape
    dense_bits = shape[0] * shape[1] * width
    if not dense_bits:
        return 1.0
    return cl.stored_bits_at(width) / dense_bits


class NetworkPlan:
    """A network's layers at one batch as :meth:`SystolicModel.simulate_layers` runs them (§9.1):
    the not-run results of layers without a matrix product (built once, shared by every run: results
    are never modified), and for the array layers their unit geometry (distinct geometries
    listed once), unit count, precision group and the weight figures of §4-§5 that depend on the
    layer alone. Nothing in it depends on a config."""

    def __init__(self, layers, batch: int):
        if type(batch) is not int or batch < 1:
            raise SimulationError(f"batch must be an int >= 1; got {batch!r}")
        self.layers = list(layers)
        self.batch = batch
        self.results = []
        self.array, self.cls, self.names, self.ops, self.units_l, self.nm = [], [], [], [], [], []
        self.has_matrix, self.has_weights, self.density, self.dense_macs, self.effective_macs = [], [], [], [], []
        zero_frac, geom_index, prec_group = [], [], []
        index: dict = {}
        self.geoms: list = []
        prec: dict = {}
        self.prec_first: list = []
        for i, cl in enumerate(self.layers):
            lay = cl.layer
            units = layer_units(lay, batch)
            if units is None:
                self.results.append(LayerResult.not_run(lay.name, lay.op, _NOT_RUN_NOTE))
                continue
            self.results.append(None)
            geom, n_units = units
            k = index.get(geom)
            if k is None:
                k = index[geom] = len(self.geoms)
                self.geoms.append(geom)
            view = cl.view
            has_w = bool(lay.has_weights)
            matrix = view.has_matrix
            density = cl.weight_density if has_w else 1.0
            dense = geom.macs * n_units
            key = operand_bits(cl)
            g = prec.get(key)
            if g is None:
                g = prec[key] = len(self.prec_first)
                self.prec_first.append(len(self.cls))
            self.array.append(i)
            self.cls.append(cl)
            self.names.append(lay.name)
            self.ops.append(lay.op)
            self.units_l.append(n_units)
            self.nm.append(view.nm)
            self.has_matrix.append(matrix)
            self.has_weights.append(has_w)
            self.density.append(density)
            self.dense_macs.append(dense)
            self.effective_macs.append(int(round(dense * density)))
            zero_frac.append(max(0.0, 1.0 - density / 1.0) if has_w and matrix else 0.0)
            geom_index.append(k)
            prec_group.append(g)
        self.prec_keys = list(prec)
        self.geom_index = np.asarray(geom_index, np.int64)
        self.prec_group = np.asarray(prec_group, np.int64)
        self.units = np.asarray(self.units_l, np.int64)
        self.performed = np.asarray(self.dense_macs, np.int64) * 1.0
        if any(d >= BK.EXACT_FLOAT for d in self.dense_macs):  # int -> float as Python rounds it
            self.performed = np.array([d * 1.0 for d in self.dense_macs])
        self.zero_frac = np.asarray(zero_frac, np.float64)
        self.any_nm = any(v is not None for v in self.nm)
        self.any_matrix = any(self.has_matrix)
        self.table = geometry_table(self.geoms)
        self.array_at = np.asarray(self.array, np.int64)
        self._by_bits: dict = {}
        self._reuse: dict = {}
        self._positions: OrderedDict = OrderedDict()

    def reuse(self, n_samples: int) -> tuple:
        """The sampled ifmap accesses of the overlapping-window geometries and the accesses sharing
        their words (``_batch_kernels.reuse_table``): the same for every array, so built once (§9.2)."""
        hit = self._reuse.get(n_samples)
        if hit is None:
            hit = self._reuse[n_samples] = BK.reuse_table(self.table, n_samples)
        return hit

    def reuse_positions(self, df: int, R: int, C: int, n_samples: int) -> tuple:
        """``(rows, cur, prev, last)``: :meth:`reuse` and the samples' positions on an ``R x C`` array of
        dataflow ``df`` (``_batch_kernels.reuse_positions_table``). An os or ws sweep's positions do not
        depend on the columns (§8.5), so the last :data:`POSITIONS_KEPT` made are kept (first in, first out:
        a plan may serve a threaded sweep, and only whole-item operations of the dict are used)."""
        rows, p, t, start, p2, t2 = self.reuse(n_samples)
        key = (df, R, C if df == DF_CODE["is"] else 0, n_samples)
        hit = self._positions.get(key)
        if hit is None:
            hit = (rows, *BK.reuse_positions_table(df, R, C, self.table, rows, p, t, start, p2, t2))
            self._positions[key] = hit
            while len(self._positions) > POSITIONS_KEPT:
                try:
                    self._positions.popitem(last=False)
                except KeyError:  # emptied by another thread meanwhile
                    break
        return hit

    def storage_bits(self, native_bits: int) -> list:
        """Stored weight bits per array layer with ``native_bits`` for weights of no given width."""
        key = ("bits", native_bits)
        if key not in self._by_bits:
            self._by_bits[key] = [cl.weight_storage_bits(cl.weight_bits or native_bits) for cl in self.cls]
        return self._by_bits[key]

    def filter_ratio(self, widths: np.ndarray, acts: np.ndarray) -> np.ndarray:
        """Stored over replayed filter bits per array layer (§4.3: compressed weights move their stored
        bits; the replayed words hold one weight of the layer's operand width ``widths[j]`` each: :func:`stored_ratio`);
        for a layer without weights its second operand's (:func:`activation_operand_ratio`, activation bits
        ``acts[j]``)."""
        key = ("ratio", np.asarray(widths, np.int64).tobytes(), np.asarray(acts, np.int64).tobytes())
        if key not in self._by_bits:
            out = np.ones(len(self.cls))
            for j, cl in enumerate(self.cls):
                if self.has_weights[j]:
                    out[j] = stored_ratio(cl, int(widths[j]))
                else:
                    out[j] = activation_operand_ratio(cl.layer, int(acts[j]), int(widths[j]))
            self._by_bits[key] = out
        return self._by_bits[key]
