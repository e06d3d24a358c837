"""NetworkResult: a workload's per-layer :class:`~accelsim.hw.base.LayerResult` rows and their totals.

The JSON form (``NetworkResult.to_dict``) is the schema of ``docs/architecture.md``::

    {accelsim_version, schema_version, arch: {name, family, ...}, workload, recipe, batch,
     layers: [{name, op, macs, effective_macs, cycles, compute_cycles, stall_cycles, latency_s,
               energy_j, energy_breakdown_j, sram_reads, sram_writes, sram_word_bits, dram_read_bytes,
               dram_write_bytes, utilization, weight_storage_bits, extra, stall_fraction, dram_refetch,
               operands: {ifmap_elements, filter_elements, activation_bits}}],
     total: {same numeric fields summed, speedup_vs_dense, energy_saving_vs_dense, baseline,
             latency_per_sample_s, energy_per_sample_j, throughput_per_s, edp, area_mm2, area_source,
             perf_per_mm2, perf_per_w, uncertainty},
     provenance: {accelsim_version, git_revision, git_dirty, command, arch_file, workload_file,
                  recipe_file, seed, seed_matters, seed_note, weights, activation_density, ...},
     warnings: [one line each]}

``total`` holds the summed figures (:attr:`NetworkResult.total`) and the derived ones
(:meth:`NetworkResult.metrics`): ``speedup_vs_dense`` and ``energy_saving_vs_dense`` compare with
the run named by ``baseline`` (e.g. ``dense int8 on edge-32x32``, ``dense bf16 on h100-sxm``: the
uncompressed workload at the hardware's native data type, or the ``--baseline`` recipe /
workload), on the same hardware. Per-sample figures divide the batch's totals by ``batch``;
``throughput_per_s`` = batch / latency; ``edp`` = energy_per_sample_j x latency_per_sample_s (J s);
``perf_per_w`` = throughput / average power = inferences per joule; ``perf_per_mm2`` = throughput /
``area_mm2`` (the model's area, or a GPU's cited die area; None where the family has none).
``uncertainty`` is the family's validation error band (:mod:`accelsim.report.uncertainty`).
Per layer, ``stall_fraction`` = stall_cycles / cycles and ``dram_refetch`` = DRAM bytes read per
distinct operand byte (:func:`dram_refetch`).

Units: cycles of the model's clock, seconds, joules, SRAM accesses in words of each buffer's width
(``sram_word_bits``), DRAM in bytes, storage
in bits. ``macs`` are the dense MACs of the uncompressed layer at the simulated batch;
``effective_macs`` those actually performed after compression.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

from accelsim._version import __version__
from accelsim.hw.base import LayerResult
from accelsim.hw.base import plain as _plain

# 2: sram_word_bits per layer; sram_reads / sram_writes in words of each buffer's width for every family
# 3: total gains baseline, per-sample, area and uncertainty fields; provenance, warnings; per-layer
#    stall_fraction and dram_refetch
SCHEMA_VERSION = 3

#: a layer reading more than this many times its distinct operand bytes from DRAM is counted as refetching
REFETCH_FACTOR = 10.0
#: ... and is warned about when it also takes at least this share of the network's latency
REFETCH_LATENCY_SHARE = 0.25
REFETCH_DOC = "docs/models/systolic.md, 'DRAM refetch and stalls'"
REFETCH_PREFIX = "DRAM refetch: "

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


def _listed(values) -> list:
    return values.tolist() if hasattr(values, "tolist") else values


def _total_of_columns(c: dict) -> dict[str, Any]:
    """:attr:`NetworkResult.total` from a model's columns (the same sums in the same order: floats over
    every layer, zeros included, as ``sum`` adds them field by field; ints over the layers that run)."""
    tot: dict[str, Any] = {name: sum(_listed(c[name])) for name in _SUMMED}
    tot["energy_breakdown_j"] = {cat: sum(_listed(v)) for cat, v in c["energy_breakdown_j"]}
    tot["sram_reads"] = {k: sum(_listed(v)) for k, v in c["sram_reads"].items()}
    tot["sram_writes"] = {k: sum(_listed(v)) for k, v in c["sram_writes"].items()}
    cycles = tot["cycles"]
    tot["utilization"] = sum(_listed(c["utilization_cycles"])) / cycles if cycles else 0.0
    return tot


#: the counts and measures of a layer result (and of a result's ``total``): numbers, finite and never negative
_COUNT_FIELDS = ("macs", "effective_macs", "cycles", "compute_cycles", "stall_cycles", "latency_s", "energy_j",
                 "dram_read_bytes", "dram_write_bytes", "utilization", "weight_storage_bits")


def _count_problem(values: dict) -> str | None:
    """``field must be ...; got ...`` for the first of :data:`_COUNT_FIELDS` in ``values`` that is not a finite
    number >= 0; None when all are."""
    for name in _COUNT_FIELDS:
        if name not in values:
            continue
        v = values[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            return f"{name} must be a finite number >= 0; got {v!r}"
    return None


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
    #: what ``speedup_vs_dense`` / ``energy_saving_vs_dense`` compare with, e.g. ``dense int8 on edge-32x32``
    baseline: str | None = None
    #: area of the hardware (mm^2) and where it comes from; None where the family models none
    area_mm2: float | None = None
    area_source: str | None = None
    #: where the result comes from (:func:`accelsim.report.provenance.provenance`)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: one line per thing a reader must know to trust the figures (precision, baseline, refetch, seeds)
    warnings: list[str] = field(default_factory=list)
    #: layer name -> operand sizes (:func:`operand_sizes`), for the DRAM refetch factors
    operands: dict[str, dict[str, int]] = field(default_factory=dict)
    #: ``speedup_vs_dense`` / ``energy_saving_vs_dense`` read back from a JSON (:meth:`from_dict`), where the
    #: dense run itself is not kept; used by :attr:`total` when :attr:`dense` is None
    dense_ratios: dict[str, float | None] = field(default_factory=dict)

    @property
    def total(self) -> dict[str, Any]:
        layers = self.layers
        cols = getattr(layers, "columns", None)  # a model's columnar results (systolic.model.LayerColumns)
        if cols is not None:
            tot = _total_of_columns(cols)
        else:
            # one column per summed field, each summed by sum() in layer order (as field by field)
            columns = list(zip(*map(_SUMMED_OF, layers))) if layers else [()] * len(_SUMMED)
            tot = {name: sum(col) for name, col in zip(_SUMMED, columns)}
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
        elif self.dense_ratios:
            tot.update(self.dense_ratios)
        elif str(self.extra.get("dense_baseline", "")).startswith("unavailable"):
            # a baseline was asked for and cannot run (EIE on dense weights): the fields stay, null
            tot["speedup_vs_dense"] = tot["energy_saving_vs_dense"] = None
        return tot

    def metrics(self, total: dict[str, Any] | None = None) -> dict[str, Any]:
        """The derived totals (module docstring): the baseline's name, per-sample figures, area,
        figures of merit and the family's error band. ``total``: :attr:`total`, when already computed."""
        tot = self.total if total is None else total
        batch = self.batch
        lat, en = tot["latency_s"], tot["energy_j"]
        edp = (en / batch) * (lat / batch)
        if not math.isfinite(edp):  # in-range but extreme rates (a 1e-300 GB/s bandwidth): never an inf result
            from accelsim.errors import SimulationError

            name = self.arch.get("name") if isinstance(self.arch, dict) else None
            raise SimulationError(f"arch '{name}': latency {lat:.3g} s and energy {en:.3g} J overflow their product "
                                  f"(the energy-delay product): a rate, bandwidth or efficiency of the arch is far too "
                                  f"small for this workload")
        throughput = batch / lat if lat else None
        area = self.area_mm2
        out: dict[str, Any] = {}
        if self.dense is not None or self.baseline is not None:
            out["baseline"] = self.baseline
        out.update({
            "latency_per_sample_s": lat / batch,
            "energy_per_sample_j": en / batch,
            "throughput_per_s": throughput,
            "edp": edp,
            "area_mm2": area,
            "area_source": self.area_source,
            "perf_per_mm2": throughput / area if throughput is not None and area else None,
            "perf_per_w": batch / en if en else None,
            "uncertainty": _uncertainty(self.arch.get("family") if isinstance(self.arch, dict) else None),
        })
        serving = self.extra.get("serving") if isinstance(self.extra, dict) else None
        if serving:  # an LLM step or generate run (accelsim.dse.serving): time to first token, per output token, rate
            out.update({k: serving.get(k) for k in ("ttft_s", "tpot_s", "tokens_per_s")})
        return out

    def summary(self) -> dict[str, Any]:
        """:attr:`total` and :meth:`metrics` in one dict (the JSON's ``total``)."""
        tot = self.total
        return {**tot, **self.metrics(tot)}

    def layer_metrics(self, r: LayerResult) -> dict[str, Any]:
        """Per-layer derived fields: ``stall_fraction`` and ``dram_refetch`` (None when not computable)."""
        return {"stall_fraction": r.stall_cycles / r.cycles if r.cycles else None,
                "dram_refetch": dram_refetch(r, self.operands.get(r.name))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkResult":
        """A result back from its :meth:`to_dict` JSON: layers (without action counts), the baseline's
        name, area, provenance, warnings and operand sizes; the dense run itself is not in the JSON
        (its ratios are, in ``total``, and come back in :attr:`total`). A malformed dict is one
        :class:`~accelsim.errors.ConfigError` naming what is wrong."""
        from accelsim.errors import ConfigError

        if not isinstance(data, dict):
            raise ConfigError(f"a result must be a mapping (simulate's JSON); got {type(data).__name__}")
        missing = [k for k in ("arch", "layers") if k not in data]
        if missing:
            raise ConfigError(f"a result (simulate's JSON) must have field '{missing[0]}'; got fields "
                              f"{', '.join(map(str, data)) or 'none'}")
        if not isinstance(data["layers"], list) or not all(isinstance(d, dict) for d in data["layers"]):
            raise ConfigError(f"a result's field 'layers' must be a list of layer objects; got "
                              f"{type(data['layers']).__name__}")
        fields = {f for f in LayerResult.__dataclass_fields__ if f != "actions"}
        layers, operands = [], {}
        for where, values in [(f"layers[{i}]", d) for i, d in enumerate(data["layers"])] + [("total", data.get("total"))]:
            problem = _count_problem(values) if isinstance(values, dict) else None
            if problem:  # a hand-edited result: a negative latency or a text MAC count would be drawn or crash a figure
                raise ConfigError(f"a result's {where}.{problem}")
        for i, d in enumerate(data["layers"]):
            try:
                layers.append(LayerResult(**{k: v for k, v in d.items() if k in fields}))
            except TypeError as exc:  # a required field missing
                raise ConfigError(f"a result's layers[{i}]: {exc}".replace("LayerResult.__init__() ", "")) from None
            if isinstance(d.get("operands"), dict):
                operands[d["name"]] = dict(d["operands"])
        total = data.get("total") or {}
        if not isinstance(total, dict):
            raise ConfigError(f"a result's field 'total' must be a mapping; got {type(total).__name__}")
        ratios = {k: total[k] for k in ("speedup_vs_dense", "energy_saving_vs_dense") if k in total}
        return cls(arch=data["arch"], workload=data.get("workload", ""), layers=layers, batch=data.get("batch", 1),
                   recipe=data.get("recipe"), extra=data.get("extra", {}) or {}, baseline=total.get("baseline"),
                   area_mm2=total.get("area_mm2"), area_source=total.get("area_source"),
                   provenance=data.get("provenance") or {}, operands=operands, dense_ratios=ratios,
                   # the refetch warning is recomputed from the layers (all_warnings), not kept twice
                   warnings=[w for w in data.get("warnings", []) or [] if not str(w).startswith(REFETCH_PREFIX)])

    def to_dict(self, with_actions: bool = False) -> dict[str, Any]:
        out = {
            "accelsim_version": __version__,
            "schema_version": SCHEMA_VERSION,
            "arch": _plain(self.arch),
            "workload": self.workload,
            "recipe": _plain(self.recipe) if self.recipe is not None else None,
            "batch": self.batch,
            "layers": [self._layer_dict(r, with_actions) for r in self.layers],
            "total": _plain(self.summary()),
        }
        if self.provenance:
            out["provenance"] = _plain(self.provenance)
        out["warnings"] = list(self.all_warnings())
        if self.extra:
            out["extra"] = _plain(self.extra)
        return out

    def _layer_dict(self, r: LayerResult, with_actions: bool) -> dict[str, Any]:
        out = {**r.to_dict(with_actions), **_plain(self.layer_metrics(r))}
        ops = self.operands.get(r.name)
        if ops:
            out["operands"] = dict(ops)
        return out

    def all_warnings(self) -> list[str]:
        """:attr:`warnings` followed by the DRAM refetch warning (:func:`refetch_warning`), if any."""
        out = list(self.warnings)
        text = refetch_warning(self)
        if text:
            out.append(text)
        return out

    def to_frame(self):
        """One row per layer: scalar fields as columns, dict fields flattened as ``field.key``."""
        import pandas as pd

        rows = []
        for r in self.layers:
            row: dict[str, Any] = {}
            for k, v in {**r.to_dict(), **self.layer_metrics(r)}.items():
                if isinstance(v, dict):
                    for kk, vv in v.items():
                        if not isinstance(vv, (dict, list)):
                            row[f"{k}.{kk}"] = vv
                else:
                    row[k] = v
            rows.append(row)
        return pd.DataFrame(rows)

    def layer(self, name: str) -> LayerResult:
        """The result of layer ``name``; an unknown name is an :class:`~accelsim.errors.UnknownNameError`
        (a KeyError too) with the nearest layer names."""
        for r in self.layers:
            if r.name == name:
                return r
        from accelsim.errors import UnknownNameError

        raise UnknownNameError("layer", name, [r.name for r in self.layers])


def _uncertainty(family: str | None) -> dict[str, Any] | None:
    from accelsim.report.uncertainty import for_family

    return for_family(family)


def dtype_bits(dtype: str) -> int | None:
    """The width in bits of a data type name (``int8`` -> 8, ``bf16`` -> 16); None when it has no digits."""
    digits = ""
    for ch in reversed(str(dtype)):
        if not ch.isdigit():
            break
        digits = ch + digits
    return int(digits) if digits else None


def baseline_label(native_dtype: str, arch_name: str, recipe: str | None = None, workload: str | None = None) -> str:
    """The name of a reference run: ``dense int8 on edge-32x32``, ``dense bf16 on h100-sxm``,
    ``recipe magnitude-2 on eie``, ``dense int8 resnet18-dense on edge-32x32`` (another workload)."""
    what = f"recipe {recipe}" if recipe else f"dense {native_dtype}"
    if workload:
        what += f" {workload}"
    return f"{what} on {arch_name}"


def operand_sizes(layers, batch: int, native_bits: int) -> dict[str, dict[str, int]]:
    """Per compressed layer: ``ifmap_elements`` (first input, at ``batch``), ``filter_elements``
    (weight entries, or a second activation input at ``batch`` for an activation x activation
    product) and ``activation_bits`` (the layer's, else ``native_bits``) - the distinct operands
    a refetch factor divides by."""
    out = {}
    for cl in layers:
        lay = cl.layer
        shapes = getattr(lay, "input_shapes", ()) or ()
        ifmap = _prod(shapes[0]) * batch if shapes else 0
        if lay.has_weights and lay.weight_matrix_shape:
            filt = _prod(lay.weight_matrix_shape)
        elif len(shapes) > 1:
            filt = _prod(shapes[1]) * batch
        else:
            filt = 0
        out[lay.name] = {"ifmap_elements": int(ifmap), "filter_elements": int(filt),
                         "activation_bits": int(cl.activation_bits or native_bits)}
    return out


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def dram_refetch(r: LayerResult, operands: dict[str, int] | None) -> dict[str, float] | None:
    """DRAM bytes read per distinct operand byte, by operand (None when nothing is read or the
    sizes are unknown).

    Where the model reports DRAM traffic per operand in words (``extra["dram_words"]``, one
    operand element per word of ``sram_word_bits``, SCALE-Sim's convention): ``ifmap`` = ifmap
    words / input elements and ``filter`` = filter words / stored filter words
    (``weight_storage_bits`` / word bits; a second activation input's elements for an activation
    product). Otherwise one ``total`` = ``dram_read_bytes`` / (input bytes at the activation width
    + stored weight bytes)."""
    if not operands or not r.dram_read_bytes or r.extra.get("mapped") is False:
        return None
    out: dict[str, float] = {}
    words = r.extra.get("dram_words")
    if isinstance(words, dict):
        if operands["ifmap_elements"] and "ifmap" in words:
            out["ifmap"] = words["ifmap"] / operands["ifmap_elements"]
        wbits = r.sram_word_bits.get("filter")
        distinct = r.weight_storage_bits / wbits if r.weight_storage_bits and wbits else operands["filter_elements"]
        if distinct and "filter" in words:
            out["filter"] = words["filter"] / distinct
    else:
        act_bytes = operands["activation_bits"] / 8
        weights = r.weight_storage_bits / 8 if r.weight_storage_bits else operands["filter_elements"] * act_bytes
        distinct = operands["ifmap_elements"] * act_bytes + weights
        if distinct:
            out["total"] = r.dram_read_bytes / distinct
    return out or None


def refetch_summary(result: "NetworkResult") -> dict[str, Any]:
    """The network's DRAM refetch at a glance: ``max_dram_refetch`` (largest factor of any layer and
    operand), ``refetch_layers`` (layers refetching more than :data:`REFETCH_FACTOR` x an operand),
    and the layer that reads the most DRAM bytes beyond its operands (``refetch_layer``, its
    ``refetch_layer_factor``, ``refetch_layer_latency_share``) with ``refetch_flag``: True when that
    layer refetches more than :data:`REFETCH_FACTOR` x and takes at least
    :data:`REFETCH_LATENCY_SHARE` of the latency (the outlier a sweep must not select unawares);
    ``refetch_warning``: :func:`refetch_warning`'s text or None."""
    cols = getattr(result.layers, "columns", None)  # a model's columnar results (systolic.model.LayerColumns)
    if cols is not None:
        total_lat = sum(_listed(cols["latency_s"]))
        items = _refetch_items_of_columns(cols, result.operands)
    else:
        total_lat = sum([r.latency_s for r in result.layers])
        items = []
        operands = result.operands
        for r in result.layers:
            if not r.dram_read_bytes:
                continue
            ref = dram_refetch(r, operands.get(r.name))
            if ref:
                words = r.extra.get("dram_words")
                items.append((r.name, r.dram_read_bytes, r.latency_s, *max(ref.items(), key=lambda kv: kv[1]),
                              _operand_bytes(r.dram_read_bytes, words, ref)))
    best = None  # (excess bytes, name, factor, share)
    worst = 0.0
    count = 0
    hits = []
    for name, dram_read, latency, op, factor, parts in items:
        share = latency / total_lat if total_lat else 0.0
        worst = max(worst, factor)
        if factor > REFETCH_FACTOR:
            count += 1
            if share >= REFETCH_LATENCY_SHARE:
                hits.append(f"{name} reads its {op} {factor:.0f}x from DRAM ({_refetch_bytes(op, dram_read, parts)}; "
                            f"{100 * share:.0f}% of the latency)")
        excess = dram_read * (1.0 - 1.0 / factor) if factor > 0 else 0.0
        if best is None or excess > best[0]:
            best = (excess, name, factor, share)
    out: dict[str, Any] = {"max_dram_refetch": worst if best is not None else None, "refetch_layers": count,
                           "refetch_layer": None, "refetch_layer_factor": None, "refetch_layer_latency_share": None,
                           "refetch_flag": False}
    if best is not None:
        out.update({"refetch_layer": best[1], "refetch_layer_factor": best[2], "refetch_layer_latency_share": best[3],
                    "refetch_flag": bool(best[2] > REFETCH_FACTOR and best[3] >= REFETCH_LATENCY_SHARE)})
    out["refetch_warning"] = (
        REFETCH_PREFIX + "; ".join(hits) + ". The SRAM does not hold the operand's reuse window, so it is "
        "streamed from DRAM again and again and the layer stalls (SCALE-Sim's stall model); a nearby buffer "
        f"size can be far faster or slower (see {REFETCH_DOC})") if hits else None
    return out


def _operand_bytes(dram_read: float, words, factors: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Per operand with a refetch factor, ``(DRAM bytes read, factor)``: the layer's DRAM reads split by its
    operands' DRAM words (``extra["dram_words"]``), or all of them for a model without the split (``total``)."""
    if not isinstance(words, dict):
        return {op: (float(dram_read), f) for op, f in factors.items()}
    read = sum(words.get(op, 0) for op in ("ifmap", "filter"))
    return {op: (dram_read * words.get(op, 0) / read if read else 0.0, f) for op, f in factors.items()}


def _refetch_bytes(op: str, dram_read: float, parts: dict[str, tuple[float, float]]) -> str:
    """The bytes of the warning's operand, of the layer, and of another operand where it moves more of them
    (a refetch factor names the operand re-read the most often, not the one that moves the most bytes)."""
    own = parts.get(op, (dram_read, 0.0))[0]
    text = f"{own / 1e6:.4g} MB" if op == "total" else f"{own / 1e6:.4g} MB of the layer's {dram_read / 1e6:.4g} MB"
    other = max(((o, b, f) for o, (b, f) in parts.items() if o != op), key=lambda t: t[1], default=None)
    if other is not None and other[1] > own:
        text += f"; its {other[0]}, read {other[2]:.3g}x, moves {other[1] / 1e6:.4g} MB"
    return text


def _refetch_items_of_columns(c: dict, operands: dict) -> list[tuple]:
    """(name, DRAM read bytes, latency, operand, its factor, per operand its bytes and factor) of the array layers
    with a refetch factor: :func:`dram_refetch`'s per-operand words branch on a model's columns, its largest operand
    and :func:`_operand_bytes`."""
    names, words, wsb = c["names"], c["dram_words"], c["weight_storage_bits"]
    wbits = c["sram_word_bits"].get("filter")
    w_if, w_fi, lat = _listed(words["ifmap"]), _listed(words["filter"]), _listed(c["array_latency_s"])
    items = []
    for j, dram_read in enumerate(_listed(c["dram_read_bytes"])):
        ops = operands.get(names[j]) if dram_read else None
        if not ops:
            continue
        op = factor = None
        factors = {}
        if ops["ifmap_elements"]:
            op, factor = "ifmap", w_if[j] / ops["ifmap_elements"]
            factors["ifmap"] = factor
        distinct = wsb[j] / wbits if wsb[j] and wbits else ops["filter_elements"]
        if distinct:
            f = factors["filter"] = w_fi[j] / distinct
            if op is None or f > factor:  # max() keeps the first of equal factors
                op, factor = "filter", f
        if op is not None:
            parts = _operand_bytes(dram_read, {"ifmap": w_if[j], "filter": w_fi[j]}, factors)
            items.append((names[j], dram_read, lat[j], op, factor, parts))
    return items


def refetch_warning(result: "NetworkResult") -> str | None:
    """One line naming the layers that refetch more than :data:`REFETCH_FACTOR` x an operand from
    DRAM and take at least :data:`REFETCH_LATENCY_SHARE` of the latency (None when there are none)."""
    return refetch_summary(result)["refetch_warning"]


def precision_warnings(layers, native_dtype: str, arch_name: str, stored: bool = False) -> list[str]:
    """Warnings for layers whose recipe raises operand precision above the hardware's native data
    type, with the fix: a codebook table wider than the datapath, or weights / activations wider
    than the native width (they run at a wider unit or bit-serially, slower). ``stored``: the layers
    carry the workload's own formats, no recipe (an fp16 / bf16 export on an int8 array runs its
    16-bit weights in two passes), and the fix is a recipe that quantizes them."""
    native = dtype_bits(native_dtype)
    if native is None:
        return []
    table: list[str] = []
    weights: list[str] = []
    acts: list[str] = []
    table_bits = weight_bits = act_bits = 0
    for cl in layers:
        wb, ab = getattr(cl, "weight_bits", None), getattr(cl, "activation_bits", None)
        if wb and wb > native and cl.layer.has_weights:
            view = cl.view
            if view.layout == "codebook" or view.codebook_size:
                table.append(cl.name)
                table_bits = max(table_bits, wb)
            else:
                weights.append(cl.name)
                weight_bits = max(weight_bits, wb)
        if ab and ab > native:
            acts.append(cl.name)
            act_bits = max(act_bits, ab)
    out = []

    def names(xs):
        return ", ".join(xs[:3]) + (f" and {len(xs) - 3} more" if len(xs) > 3 else "")

    where = " as the workload stores them" if stored else ""
    fix = "a recipe with" if stored else "in the recipe:"
    if table:
        out.append(f"codebook table of {table_bits}-bit entries{where} is wider than the {native_dtype} datapath "
                   f"of {arch_name} on {len(table)} layers ({names(table)}): they run at {table_bits} bits (slower "
                   f"than the {native_dtype} baseline); fix: {fix} share: {{table_bits: {native}}}")
    if weights:
        out.append(f"weights at {weight_bits} bits{where} exceed the native {native_dtype} of {arch_name} on "
                   f"{len(weights)} layers ({names(weights)}): they run at {weight_bits} bits, slower than at "
                   f"{native}; fix: {fix} quantize: {{bits: {native}}}")
    if acts:
        out.append(f"activations at {act_bits} bits{where} exceed the native {native_dtype} of {arch_name} on "
                   f"{len(acts)} layers ({names(acts)}): they run at {act_bits} bits, slower than at {native}; "
                   f"fix: {fix} activations: {{bits: {native}}}")
    return out


def fallback_warnings(layers, arch_name: str) -> list[str]:
    """One warning per distinct ``extra["fallback"]`` a model set on layers (a format its units do not run as
    stored, e.g. the NPU's N:M weights without N:M skipping), with the layers it concerns."""
    by: dict[str, list[str]] = {}
    for r in layers:
        why = r.extra.get("fallback") if isinstance(r.extra, dict) else None
        if why:
            by.setdefault(why, []).append(r.name)
    out = []
    for why, names in by.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        out.append(f"{arch_name}: {why} on {len(names)} layer{'s' if len(names) > 1 else ''} ({shown})")
    return out


def area_of(model) -> tuple[float | None, str | None]:
    """(area in mm^2, where it comes from) of a built hardware model; (None, None) without one."""
    area = model.area()
    if area is None:
        return None, None
    parts = list(area.by_component)
    if parts == ["die"]:
        return float(area.total_mm2), "die area (config die_area_mm2, cited in its sources)"
    return float(area.total_mm2), "model: " + " + ".join(parts)


def attach_hardware(result: NetworkResult, model, layers, batch: int) -> NetworkResult:
    """Fill the fields of ``result`` that need the model and the compressed layers: the area and
    the per-layer operand sizes (for the refetch factors). Returns ``result``."""
    result.area_mm2, result.area_source = area_of(model)
    native = dtype_bits(model.roof().native_dtype) or 8
    result.operands = operand_sizes(layers, batch, native)
    return result
