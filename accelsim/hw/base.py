"""The hardware contract: one result schema, one base class, one way to price and build results.

Every family (``accelsim/hw/<family>/``) subclasses :class:`HardwareModel` and implements only what
differs between families:

* :meth:`HardwareModel.count` - what one layer does on this hardware: cycles, the
  :class:`~accelsim.energy.actions.ActionCounts` to price, SRAM accesses per buffer (in words of the
  buffer's own access width), DRAM bytes, MACs, family extras - as :class:`LayerCounts`, or
  :class:`NotMapped` for a layer the hardware does not run;
* :meth:`HardwareModel.energy_reference_table` and :meth:`HardwareModel.static_power` - the energy
  of every action key (pJ, category) and the static power (W), built once from the config and
  its technology table;
* :meth:`HardwareModel.roof` - peak MACs/s per data type and bytes/s per memory level;
* optionally :meth:`HardwareModel.area` (mm^2), :attr:`HardwareModel.power_limit_w` (a power cap
  the clock is lowered to meet) and :meth:`HardwareModel.finish_extra` (extras that depend on the
  priced energy or the final latency).

:meth:`HardwareModel.simulate` is shared and final: it prices the counts with
:func:`accelsim.energy.estimate.estimate`, applies the power cap, and builds the one
:class:`LayerResult`. Models keep no state between calls (sweeps run them in parallel processes).
Equations: ``docs/models/contract.md``; the contract in a page: ``docs/architecture.md``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from accelsim.energy.actions import ActionCounts
from accelsim.energy.estimate import AreaBreakdown, EnergyBreakdown, EnergyTable, estimate, estimate_by_category
from accelsim.errors import SimulationError

#: every energy category a family may price into (``energy_breakdown_j`` keys)
ENERGY_CATEGORIES = ("compute", "register", "sram", "noc", "dram", "static")
_CATEGORY_SET = frozenset(ENERGY_CATEGORIES)

_INF = math.inf
_FINITE = ("cycles", "latency_s", "energy_j", "utilization")  # float fields that must be finite
#: a layer's cycles at most (a 64-bit count: 292 years at 1 GHz); more comes only from a rate or bandwidth in its
#: declared range but absurdly small (1e-300 GB/s), and overflowed a float in the network's totals
MAX_CYCLES = (1 << 63) - 1


@contextmanager
def arithmetic_guard(name: str):
    """Turn the arithmetic errors of rates in their declared ranges but absurd (1e-300 GB/s: a latency that overflows,
    two such factors whose product underflows to a division by zero) into one :class:`SimulationError` naming the
    arch ``name`` (a sweep's error row, exit 2), not an internal error; and running out of memory on a network (a
    family's network plan, a replay too large for the machine) into one naming the arch too."""
    try:
        yield
    except (ZeroDivisionError, OverflowError) as exc:
        raise _arithmetic_error(name, exc) from None
    except MemoryError:
        raise SimulationError(f"arch '{name}': out of memory simulating this workload (on a systolic array "
                              "memory_model: analytic replays nothing; or a smaller batch)") from None


def _arithmetic_error(name: str, exc: ArithmeticError) -> SimulationError:
    return SimulationError(f"arch '{name}': its rates, bandwidths or efficiencies give no finite result for this "
                           f"workload ({type(exc).__name__}: {exc}): a value far too small or too large?")


@dataclass(frozen=True)
class LayerResult:
    """One layer on one hardware config.

    Units: cycles of the model's clock, seconds, joules; ``sram_reads`` / ``sram_writes`` count
    accesses per buffer in words of that buffer's access width, given in bits by ``sram_word_bits``;
    DRAM in bytes; storage in bits. ``macs`` are the dense MACs of the uncompressed layer at the
    simulated batch; ``effective_macs`` those actually performed after compression;
    ``cycles = compute_cycles + stall_cycles``; ``utilization`` = useful MACs / (peak MACs/s x
    latency). Family-specific values go in ``extra``; a layer the hardware does not run has
    ``extra = {"mapped": False, "note": ...}`` and zero cost.
    """

    name: str
    op: str
    macs: int
    effective_macs: int
    cycles: int
    compute_cycles: int
    stall_cycles: int
    latency_s: float
    energy_j: float
    energy_breakdown_j: dict[str, float] = field(default_factory=dict)
    sram_reads: dict[str, int] = field(default_factory=dict)
    sram_writes: dict[str, int] = field(default_factory=dict)
    sram_word_bits: dict[str, int] = field(default_factory=dict)
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    utilization: float = 0.0
    weight_storage_bits: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    actions: ActionCounts | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        lat, en, ut = self.latency_s, self.energy_j, self.utilization
        # common case in one comparison chain: int cycles and finite floats (nan/inf fail it)
        if not (type(self.cycles) is int and type(lat) is float and type(en) is float and type(ut) is float
                and -_INF < lat < _INF and -_INF < en < _INF and -_INF < ut < _INF and self.cycles <= MAX_CYCLES):
            for name in _FINITE:
                value = getattr(self, name)
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"LayerResult '{self.name}': {name} is not finite ({value})")
            if self.cycles > MAX_CYCLES:
                raise SimulationError(f"layer '{self.name}': {float(self.cycles):.3g} cycles ({lat:.3g} s) overflow a "
                                      "64-bit count: a rate, bandwidth or efficiency of the arch is far too small for "
                                      "this workload")
        if self.cycles != self.compute_cycles + self.stall_cycles:
            raise ValueError(
                f"LayerResult '{self.name}': cycles ({self.cycles}) != compute_cycles ({self.compute_cycles}) "
                f"+ stall_cycles ({self.stall_cycles})"
            )

    @classmethod
    def not_run(cls, name: str, op: str, note: str) -> "LayerResult":
        """A layer the hardware does not run: zero cycles, MACs, traffic and energy, flagged
        ``extra = {"mapped": False, "note": note}`` (the one "not mapped" convention).

        Equal to ``LayerResult(name, op, 0, 0, 0, 0, 0, 0.0, 0.0, extra=..., actions=ActionCounts())``,
        built without the frozen dataclass's per-field ``__init__`` (a network has more such layers
        than mapped ones; all-zero fields need no check)."""
        obj = object.__new__(cls)
        obj.__dict__.update({
            "name": name, "op": op, "macs": 0, "effective_macs": 0, "cycles": 0, "compute_cycles": 0,
            "stall_cycles": 0, "latency_s": 0.0, "energy_j": 0.0, "energy_breakdown_j": {}, "sram_reads": {},
            "sram_writes": {}, "sram_word_bits": {}, "dram_read_bytes": 0, "dram_write_bytes": 0,
            "utilization": 0.0, "weight_storage_bits": 0, "extra": {"mapped": False, "note": note},
            "actions": ActionCounts(),
        })
        return obj

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> "LayerResult":
        """``LayerResult(**fields)`` for a dict holding every field: the same checks
        (``__post_init__``), without the frozen dataclass's per-field ``object.__setattr__``
        (2.7 against 0.5 us; the shared ``simulate`` builds one per layer of every sweep point)."""
        if len(fields) != len(_FIELD_NAMES) or fields.keys() != _FIELD_NAMES:
            return cls(**fields)  # a missing or unknown field: the constructor's own TypeError
        obj = object.__new__(cls)
        obj.__dict__.update(fields)
        obj.__post_init__()
        return obj

    @classmethod
    def _of_fields(cls, fields: dict[str, Any]) -> "LayerResult":
        """:meth:`from_fields` for a fresh dict that holds every field in declaration order (the shared
        ``simulate`` builds one per call): it becomes the result's own attribute dict, so its keys are not
        compared with the field names nor copied; the same checks (``__post_init__``)."""
        obj = object.__new__(cls)
        _set_attr(obj, "__dict__", fields)
        obj.__post_init__()
        return obj

    def to_dict(self, with_actions: bool = False) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "actions"}
        out = plain(out)
        if with_actions and self.actions is not None:
            out["actions"] = self.actions.to_dict()
        return out


_FIELD_NAMES = {f.name: None for f in dataclasses.fields(LayerResult)}.keys()
_set_attr = object.__setattr__


def plain(value: Any) -> Any:
    """Convert NumPy scalars and tuples to JSON-friendly Python values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


@dataclass(frozen=True)
class NotMapped:
    """:meth:`HardwareModel.count`'s answer for a layer this hardware does not run; ``note`` says why."""

    note: str


@dataclass(frozen=True)
class Roof:
    """Peak rates of one configuration, for rooflines and sweeps.

    ``macs_per_s``: data type -> peak dense MACs per second; ``bytes_per_s``: memory level (``dram``,
    ...) -> bytes per second, None where the model sets no bandwidth limit (e.g. SCALE-Sim's CALC
    mode, which sizes bandwidth so that nothing stalls); ``native_dtype``: the data type of the
    headline peak; ``sparse_macs_per_s``: data type -> peak dense-equivalent MACs per second on
    weights of the structured pattern ``sparse_pattern`` the hardware skips (e.g. ``2:4`` sparse
    tensor cores), for the data types that have it.
    """

    macs_per_s: Mapping[str, float]
    bytes_per_s: Mapping[str, float | None]
    native_dtype: str
    sparse_macs_per_s: Mapping[str, float] = field(default_factory=dict)
    sparse_pattern: str = ""

    @property
    def peak_macs_per_s(self) -> float:
        return float(self.macs_per_s[self.native_dtype])

    @property
    def dram_bytes_per_s(self) -> float | None:
        bw = self.bytes_per_s.get("dram")
        return None if bw is None else float(bw)


@dataclass(slots=True)
class LayerCounts:
    """What a family counted for one mapped layer, before pricing (units in the names).

    Cycle-timed families give ``compute_cycles`` and ``stall_cycles``; the latency is their sum over
    the clock. Families that time kernels in seconds (GPU) also give ``latency_s``; the cycles then
    follow from the clock (``compute_cycles`` is capped at the total). ``useful_macs`` over
    (``peak_macs_per_s`` x latency) is the utilization. Integer fields must be Python ints (they go
    into the result as they are).
    """

    macs: int
    effective_macs: int
    compute_cycles: int
    stall_cycles: int
    actions: ActionCounts
    useful_macs: float
    peak_macs_per_s: float
    sram_reads: dict[str, int] = field(default_factory=dict)
    sram_writes: dict[str, int] = field(default_factory=dict)
    sram_word_bits: dict[str, int] = field(default_factory=dict)
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    weight_storage_bits: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    latency_s: float | None = None


class HardwareModel(ABC):
    """Base of every hardware family's model; see the module docstring for the contract."""

    #: the family name this model is registered under
    family: ClassVar[str] = ""

    def __init__(self, config):
        self.config = config
        # the state of the simulate_network call running in each thread (a family's network-level decisions:
        # the NPU's plan, the GPU's launch queue), so a model shared by a threaded sweep stays stateless between
        # calls; not part of the model (not pickled)
        self._network = threading.local()
        table = self.energy_reference_table()
        self.energy_table = table if isinstance(table, EnergyTable) else EnergyTable(table)
        cats = self.energy_table.categories()  # (once per table: a sweep's models share theirs)
        if cats is None or not cats <= _CATEGORY_SET:  # find the offending entry
            for key, entry in self.energy_table.items():
                if entry[1] not in ENERGY_CATEGORIES:
                    raise ValueError(f"{type(self).__name__}: energy category of {key} must be one of "
                                     f"{', '.join(ENERGY_CATEGORIES)}; got {entry[1]!r}")
        self.static_power_w = float(self.static_power())
        self._plain_extra = type(self).finish_extra is HardwareModel.finish_extra

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_network", None)  # a thread's running network state is not part of the model
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._network = threading.local()

    # --- what a family implements -----------------------------------------------------------
    @abstractmethod
    def count(self, layer, batch: int) -> LayerCounts | NotMapped:
        """Count one :class:`~accelsim.compress.compressed.CompressedLayer` at ``batch``."""

    @abstractmethod
    def energy_reference_table(self) -> Mapping[tuple[str, str, str], tuple[float, str]]:
        """``{(component, action, variant): (energy_pj, category)}`` for every action ``count`` emits."""

    @abstractmethod
    def static_power(self) -> float:
        """Static (leakage / idle) power in watts, charged for the layer's whole latency."""

    @abstractmethod
    def roof(self) -> Roof:
        """Peak MACs/s per data type and bytes/s per memory level."""

    def area(self) -> AreaBreakdown | None:
        """Area by component (mm^2), where the family models it."""
        return None

    @property
    def clock_hz(self) -> float:
        return float(self.config.clock_hz)

    #: a power limit (W) the clock is lowered to meet, or None (no cap)
    power_limit_w: float | None = None

    def finish_extra(self, counts: LayerCounts, seconds: float, energy: EnergyBreakdown, capped: bool) -> dict:
        """The layer's ``extra`` once latency and energy are known (default: ``counts.extra``)."""
        return counts.extra

    # --- shared and final -----------------------------------------------------------------------
    def simulate(self, layer, batch: int = 1) -> LayerResult:
        """One layer -> :class:`LayerResult`: count, price, cap power, build. Not overridden."""
        try:
            return self._simulate(layer, batch)
        except (ZeroDivisionError, OverflowError) as exc:  # (arithmetic_guard's rule; a try costs nothing until it catches)
            raise _arithmetic_error(getattr(self.config, "name", "?"), exc) from None
        except MemoryError:
            raise SimulationError(f"arch '{getattr(self.config, 'name', '?')}', layer '{layer.layer.name}': out of memory "
                                  f"simulating it (a {self.family} replay this large; on a systolic array "
                                  "memory_model: analytic replays nothing)") from None

    def _simulate(self, layer, batch: int) -> LayerResult:
        if type(batch) is not int or batch < 1:
            raise SimulationError(f"batch must be an int >= 1; got {batch!r}")
        counts = self.count(layer, batch)
        lay = layer.layer
        if type(counts) is NotMapped:
            return LayerResult.not_run(lay.name, lay.op, counts.note)
        clock = self.clock_hz
        timed = counts.latency_s is not None
        if timed:
            seconds = float(counts.latency_s)
        else:
            compute, stall = counts.compute_cycles, counts.stall_cycles
            cycles = compute + stall
            seconds = cycles / clock
        if self.power_limit_w is None and self._plain_extra:
            # nothing reads the whole EnergyBreakdown: the categories and the total, priced as estimate() does
            by_category, total_j = estimate_by_category(counts.actions, self.energy_table, self.static_power_w,
                                                        seconds)
            extra = counts.extra
            if timed:
                cycles = int(round(seconds * clock))
                compute = min(cycles, int(counts.compute_cycles))
                stall = cycles - compute
        else:
            energy = estimate(counts.actions, self.energy_table, static_power_w=self.static_power_w, seconds=seconds)
            capped = False
            if self.power_limit_w is not None:
                seconds, energy, capped = self._cap_power(counts, seconds, energy)
            if timed or capped:
                cycles = int(round(seconds * clock))
                compute = min(cycles, int(counts.compute_cycles))
                stall = cycles - compute
            extra = counts.extra if self._plain_extra else self.finish_extra(counts, seconds, energy, capped)
            by_category, total_j = dict(energy.by_category), energy.total_j
        peak = counts.peak_macs_per_s
        utilization = min(1.0, counts.useful_macs / (peak * seconds)) if seconds > 0 and peak > 0 else 0.0
        return LayerResult._of_fields({
            "name": lay.name, "op": lay.op, "macs": counts.macs, "effective_macs": counts.effective_macs,
            "cycles": cycles, "compute_cycles": compute, "stall_cycles": stall, "latency_s": seconds,
            "energy_j": total_j, "energy_breakdown_j": by_category,
            "sram_reads": counts.sram_reads, "sram_writes": counts.sram_writes, "sram_word_bits": counts.sram_word_bits,
            "dram_read_bytes": counts.dram_read_bytes, "dram_write_bytes": counts.dram_write_bytes,
            "utilization": float(utilization), "weight_storage_bits": counts.weight_storage_bits,
            "extra": extra, "actions": counts.actions,
        })

    def simulate_network(self, layers, batch: int = 1) -> list[LayerResult]:
        """Every layer of a network, in execution order -> one :class:`LayerResult` each (what
        ``accelsim simulate``, sweeps and LLM serving steps call). Default: :meth:`simulate` per layer. A
        family overrides it where the network decides something no single layer can (the NPU's parameter
        cache and per-inference overhead; the GPU's eager launch queue and fused projections, where a
        layer's latency is the time it adds to the network) or where one call for the whole network is
        cheaper (the systolic model's batched kernels, the same results to the bit); each layer is still
        priced by :meth:`simulate`'s equations, and the layers' latencies sum to the network's."""
        return [self.simulate(cl, batch) for cl in layers]

    def _cap_power(self, counts: LayerCounts, seconds: float, energy: EnergyBreakdown):
        """Hold power at :attr:`power_limit_w` by stretching the latency (DVFS lowers the clock):
        ``t' = E_dynamic / (P_limit - P_static)`` when ``P_static + E_dynamic / t > P_limit``; the
        dynamic energy is unchanged, the static energy is re-charged over ``t'``."""
        limit = self.power_limit_w
        if limit is None or seconds <= 0:
            return seconds, energy, False
        static = self.static_power_w
        dynamic_j = energy.total_j - static * seconds
        if static + dynamic_j / seconds <= limit:
            return seconds, energy, False
        seconds = dynamic_j / (limit - static)
        energy = estimate(counts.actions, self.energy_table, static_power_w=static, seconds=seconds)
        return seconds, energy, True


__all__ = ["ENERGY_CATEGORIES", "HardwareModel", "LayerCounts", "LayerResult", "NotMapped", "Roof", "plain"]
