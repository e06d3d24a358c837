"""LayerResult and NetworkResult: the one result schema every hardware model produces.

The JSON form (``NetworkResult.to_dict``) is the schema of ``docs/architecture.md``::

    {accelsim_version, arch: {name, family, ...}, workload, recipe, batch,
     layers: [{name, op, macs, effective_macs, cycles, compute_cycles, stall_cycles, latency_s,
               energy_j, energy_breakdown_j, sram_reads, sram_writes, dram_read_bytes,
               dram_write_bytes, utilization, weight_storage_bits, extra}],
     total: {same numeric fields summed, speedup_vs_dense, energy_saving_vs_dense}}

Units: cycles of the model's clock, seconds, joules, SRAM accesses in words, DRAM in bytes, storage
in bits. ``macs`` are the dense MACs of the uncompressed layer at the simulated batch;
``effective_macs`` those actually performed after compression.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from dataclasses import dataclass, field
from typing import Any

from accelsim._version import __version__
from accelsim.energy.actions import ActionCounts

SCHEMA_VERSION = 1
_INF = math.inf
_FINITE = ("cycles", "latency_s", "energy_j", "utilization")  # float fields that must be finite

_SUMMED = (
    "macs", "effective_macs", "cycles", "compute_cycles", "stall_cycles", "latency_s", "energy_j",
    "dram_read_bytes", "dram_write_bytes", "weight_storage_bits",
)


@dataclass(frozen=True)
class LayerResult:
    """One layer on one hardware config (see module docstring for units)."""

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
                and -_INF < lat < _INF and -_INF < en < _INF and -_INF < ut < _INF):
            for name in _FINITE:
                value = getattr(self, name)
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"LayerResult '{self.name}': {name} is not finite ({value})")
        if self.cycles != self.compute_cycles + self.stall_cycles:
            raise ValueError(
                f"LayerResult '{self.name}': cycles ({self.cycles}) != compute_cycles ({self.compute_cycles}) "
                f"+ stall_cycles ({self.stall_cycles})"
            )

    @classmethod
    def not_run(cls, name: str, op: str, note: str) -> "LayerResult":
        """A layer the hardware does not run: zero cycles, MACs, traffic and energy, flagged
        ``extra = {"mapped": False, "note": note}``.

        Equal to ``LayerResult(name, op, 0, 0, 0, 0, 0, 0.0, 0.0, utilization=0.0, extra=...,
        actions=ActionCounts())``, built without the frozen dataclass's per-field ``__init__`` (a
        network has more such layers than mapped ones; all-zero fields need no check)."""
        obj = object.__new__(cls)
        obj.__dict__.update({
            "name": name, "op": op, "macs": 0, "effective_macs": 0, "cycles": 0, "compute_cycles": 0,
            "stall_cycles": 0, "latency_s": 0.0, "energy_j": 0.0, "energy_breakdown_j": {}, "sram_reads": {},
            "sram_writes": {}, "dram_read_bytes": 0, "dram_write_bytes": 0, "utilization": 0.0,
            "weight_storage_bits": 0, "extra": {"mapped": False, "note": note}, "actions": ActionCounts(),
        })
        return obj

    def to_dict(self, with_actions: bool = False) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "actions"}
        out = _plain(out)
        if with_actions and self.actions is not None:
            out["actions"] = self.actions.to_dict()
        return out


def _plain(value: Any) -> Any:
    """Convert NumPy scalars and tuples to JSON-friendly Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _sum_dicts(dicts) -> dict[str, float]:
    out: dict[str, float] = {}
    get = out.get
    for d in dicts:
        if type(d) is not dict or d:  # most layers have empty dicts (unmapped layers: all three)
            for k, v in d.items():
                out[k] = get(k, 0) + v
    return out


_SUMMED_OF = operator.attrgetter(*_SUMMED)


@dataclass
class NetworkResult:
    """All layers of one workload on one config, with totals (and comparisons with a dense run)."""

    arch: dict[str, Any]
    workload: str
    layers: list[LayerResult]
    batch: int = 1
    recipe: dict[str, Any] | None = None
    dense: "NetworkResult | None" = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> dict[str, Any]:
        layers = self.layers
        # one column per summed field, each summed by sum() in layer order (as field by field)
        columns = list(zip(*map(_SUMMED_OF, layers))) if layers else [()] * len(_SUMMED)
        tot: dict[str, Any] = {name: sum(col) for name, col in zip(_SUMMED, columns)}
        tot["energy_breakdown_j"] = _sum_dicts([r.energy_breakdown_j for r in layers])
        tot["sram_reads"] = _sum_dicts([r.sram_reads for r in layers])
        tot["sram_writes"] = _sum_dicts([r.sram_writes for r in layers])
        cycles = tot["cycles"]
        # cycle-weighted mean: total useful MACs over total PE-cycles
        tot["utilization"] = sum([r.utilization * r.cycles for r in layers]) / cycles if cycles else 0.0
        if self.dense is not None:
            dense_tot = self.dense.total
            tot["speedup_vs_dense"] = dense_tot["latency_s"] / tot["latency_s"] if tot["latency_s"] else None
            tot["energy_saving_vs_dense"] = dense_tot["energy_j"] / tot["energy_j"] if tot["energy_j"] else None
        return tot

    def to_dict(self, with_actions: bool = False) -> dict[str, Any]:
        out = {
            "accelsim_version": __version__,
            "schema_version": SCHEMA_VERSION,
            "arch": _plain(self.arch),
            "workload": self.workload,
            "recipe": _plain(self.recipe) if self.recipe is not None else None,
            "batch": self.batch,
            "layers": [r.to_dict(with_actions) for r in self.layers],
            "total": _plain(self.total),
        }
        if self.extra:
            out["extra"] = _plain(self.extra)
        return out

    def to_frame(self):
        """One row per layer: scalar fields as columns, dict fields flattened as ``field.key``."""
        import pandas as pd

        rows = []
        for r in self.layers:
            row: dict[str, Any] = {}
            for k, v in r.to_dict().items():
                if isinstance(v, dict):
                    for kk, vv in v.items():
                        if not isinstance(vv, (dict, list)):
                            row[f"{k}.{kk}"] = vv
                else:
                    row[k] = v
            rows.append(row)
        return pd.DataFrame(rows)

    def layer(self, name: str) -> LayerResult:
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(name)
