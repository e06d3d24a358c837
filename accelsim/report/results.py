"""NetworkResult: a workload's per-layer :class:`~accelsim.hw.base.LayerResult` rows and their totals.

The JSON form (``NetworkResult.to_dict``) is the schema of ``docs/architecture.md``::

    {accelsim_version, arch: {name, family, ...}, workload, recipe, batch,
     layers: [{name, op, macs, effective_macs, cycles, compute_cycles, stall_cycles, latency_s,
               energy_j, energy_breakdown_j, sram_reads, sram_writes, sram_word_bits, dram_read_bytes,
               dram_write_bytes, utilization, weight_storage_bits, extra}],
     total: {same numeric fields summed, speedup_vs_dense, energy_saving_vs_dense}}

Units: cycles of the model's clock, seconds, joules, SRAM accesses in words of each buffer's width
(``sram_word_bits``), DRAM in bytes, storage
in bits. ``macs`` are the dense MACs of the uncompressed layer at the simulated batch;
``effective_macs`` those actually performed after compression.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

from accelsim._version import __version__
from accelsim.hw.base import LayerResult
from accelsim.hw.base import plain as _plain

# 2: sram_word_bits per layer; sram_reads / sram_writes in words of each buffer's width for every family
SCHEMA_VERSION = 2

_SUMMED = (
    "macs", "effective_macs", "cycles", "compute_cycles", "stall_cycles", "latency_s", "energy_j",
    "dram_read_bytes", "dram_write_bytes", "weight_storage_bits",
)


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
