"""Writers for NetworkResult: JSON, CSV (every layer, every field) and a one-screen summary for people."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from accelsim.report.results import NetworkResult


def to_json(result: NetworkResult, indent: int = 2, with_actions: bool = False) -> str:
    return json.dumps(result.to_dict(with_actions=with_actions), indent=indent, default=_default)


def to_csv(result: NetworkResult) -> str:
    """One row per layer (:meth:`NetworkResult.to_frame`). A count stays an integer where another layer has
    no value for it (pandas would write ``7840.0``), and a field that is a mapping on some layers and empty on
    the others is its ``field.key`` columns alone (no empty ``field`` column beside them)."""
    import pandas as pd

    frame = result.to_frame()
    for col in list(frame.columns):
        values = frame[col].dropna()
        if values.empty and any(c.startswith(f"{col}.") for c in frame.columns):
            frame = frame.drop(columns=col)
        elif (frame[col].dtype.kind == "f" and not values.empty and values.map(float.is_integer).all()
              and _integer_field(result, col)):
            frame[col] = frame[col].astype(pd.Int64Dtype())
    return frame.to_csv(index=False)


def _integer_field(result: NetworkResult, col: str) -> bool:
    """Whether a layer gives column ``col`` (``field`` or ``field.key``) as a Python int."""
    field, _, key = col.partition(".")
    for r in result.layers:
        v = r.to_dict().get(field)
        if key and isinstance(v, dict):
            v = v.get(key)
        if v is not None:
            return isinstance(v, int) and not isinstance(v, bool)
    return False


def _default(value: Any):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None, floatfmt: str = ".4g") -> str:
    """A plain aligned text table of dict rows (no external dependency)."""
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c), floatfmt) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    for row in cells:
        lines.append("  ".join(cell.rjust(w) if _is_num(cell) else cell.ljust(w) for cell, w in zip(row, widths)))
    return "\n".join(lines)


def _is_num(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def _fmt(value: Any, floatfmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return format(value, floatfmt)
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return str(value)


LAYER_CHOICES = "all, compute or top:N (N >= 1)"


def parse_layers(spec: str) -> tuple[str, int | None]:
    """``"all"`` / ``"compute"`` / ``"top:N"`` -> ``(mode, N)``; ValueError naming the expected forms."""
    text = str(spec).strip()
    if text in ("all", "compute"):
        return text, None
    if text.startswith("top:"):
        count = text[4:]
        if count.isdigit() and int(count) >= 1:
            return "top", int(count)
    raise ValueError(f"expected {LAYER_CHOICES}; got {spec!r}")


_WIDTH = 118  # wrap long notes below 120 columns


def result_table(result: NetworkResult, layers: str = "top:10") -> str:
    """A one-screen summary of a run, for people.

    Header (arch and family, workload, recipe, batch), the totals with units (and the baseline run
    with ``speedup_vs_dense`` / ``energy_saving_vs_dense`` and the baseline's name when the run has
    one), the per-sample figures, area and figures of merit, the family's validation error band, the
    provenance and the warnings; then the layers chosen by ``layers`` (see :func:`parse_layers`;
    default the 10 slowest) with their share of the total latency and energy, their stall share
    (stall cycles / cycles), their largest DRAM refetch factor (DRAM bytes read / distinct bytes of
    that operand, :func:`accelsim.report.results.dram_refetch`) and what bound them, then the count
    of layers not run on the hardware
    (``extra["mapped"] is False``). Per-layer string extras (notes) are footnotes ``[n]`` listed once
    below the table. Reads only ``LayerResult`` fields and ``extra`` keys, never a family name.
    """
    mode, count = parse_layers(layers)
    tot = result.total
    lines = [_header(result), ""]
    lines += _totals(result, tot)
    lines.append("")
    all_layers = list(result.layers)
    unmapped = [r for r in all_layers if r.extra.get("mapped") is False]
    if mode == "all":
        shown, title = all_layers, f"all {len(all_layers)} layers, in order"
    elif mode == "compute":
        shown = [r for r in all_layers if r.cycles > 0 or r.macs > 0]
        title = f"{len(shown)} of {len(all_layers)} layers with cycles or MACs, in order"
    else:
        shown = sorted(all_layers, key=lambda r: r.latency_s, reverse=True)[:count]
        title = f"top {len(shown)} of {len(all_layers)} layers by latency"
    lat_tot, en_tot = tot["latency_s"], tot["energy_j"]
    if shown:
        lat_share = _pct(sum(r.latency_s for r in shown), lat_tot)
        en_share = _pct(sum(r.energy_j for r in shown), en_tot)
        lines.append(f"{title} ({lat_share} of latency, {en_share} of energy):")
    else:
        lines.append(f"{title}: (no layers)")
    # a note every layer run on the hardware carries (a dataflow, ...) is said once, not per row
    run = [r for r in all_layers if r.extra.get("mapped") is not False]
    common = [n for n in _layer_notes(run[0]) if all(n in _layer_notes(r) for r in run[1:])] if run else []
    notes: dict[str, int] = {}  # footnote text -> number, in order of first use
    rows = []
    for i, r in enumerate(shown, 1):
        marks = "".join(f"[{_footnote(notes, n)}]" for n in _layer_notes(r) if n not in common)
        rows.append([str(i), r.name, r.op, _si(r.latency_s, "s"), _pct(r.latency_s, lat_tot),
                     _si(r.energy_j, "J"), _pct(r.energy_j, en_tot),
                     _pct(r.stall_cycles, r.cycles), _refetch(result, r), _pct(r.utilization, 1.0), _bound(r), marks])
    if rows:
        # per-layer cycles are in the JSON / CSV (latency x clock); the table has the stall share and
        # the DRAM refetch factor instead (why a layer is slow)
        header = ["#", "layer", "op", "latency", "%lat", "energy", "%energy", "stall", "DRAM refetch", "util",
                  "bound", "notes"]
        right = {0, 3, 4, 5, 6, 7, 8, 9}
        lines += _align([header] + rows, right)
    if common:
        lines += _wrap(f"every layer run on the hardware: {'; '.join(common)}")
    if unmapped:
        ops: dict[str, int] = {}
        for r in unmapped:
            ops[r.op] = ops.get(r.op, 0) + 1
        marks = "".join(f"[{_footnote(notes, n)}]" for n in dict.fromkeys(
            n for r in unmapped for n in _layer_notes(r)))
        by_op = ", ".join(f"{op} {n}" for op, n in ops.items())
        lines += [""] + _wrap(f"{len(unmapped)} of {len(all_layers)} layers not run on the hardware "
                              f"(zero cost): {by_op} {marks}".rstrip())
    if notes:
        lines.append("")
        for text, n in notes.items():
            lines += _wrap(f"[{n}] {text}", indent=" " * (len(str(n)) + 3))
    return "\n".join(lines)


def _refetch(result: NetworkResult, r) -> str:
    """The layer's largest DRAM refetch factor and its operand (``ifmap 541x``), ``-`` when none."""
    ref = result.layer_metrics(r)["dram_refetch"]
    if not ref:
        return "-"
    op, factor = max(ref.items(), key=lambda kv: kv[1])
    return f"{op} {factor:.3g}x" if factor < 10 else f"{op} {factor:,.0f}x"


def _header(result: NetworkResult) -> str:
    arch = result.arch.get("name", "?")
    recipe = result.recipe.get("name", "?") if isinstance(result.recipe, dict) else (result.recipe or "none (dense)")
    return (f"arch {arch} ({result.arch.get('family', '?')}), workload {result.workload}, recipe {recipe}, "
            f"batch {result.batch}")


def _totals(result: NetworkResult, tot: dict[str, Any]) -> list[str]:
    """Totals with units; a dense-baseline column and the two ratios when the run has a dense run."""
    dense = result.dense.total if result.dense is not None else None

    def row(label, key, fmt):
        cells = [label, fmt(tot[key])]
        if dense is not None:
            cells.append(fmt(dense[key]))
        return cells

    base_head = "baseline" if result.baseline and not result.baseline.startswith("dense") else "dense baseline"
    rows = [["totals", "this run"] + ([base_head] if dense is not None else [])]
    rows += [
        row("latency", "latency_s", lambda v: _si(v, "s")),
        row("energy", "energy_j", lambda v: _si(v, "J")),
        row("cycles", "cycles", lambda v: f"{v:,}"),
        row("DRAM read", "dram_read_bytes", lambda v: _si(v, "B")),
        row("DRAM written", "dram_write_bytes", lambda v: _si(v, "B")),
        row("utilization", "utilization", lambda v: _pct(v, 1.0)),
        row("weight storage", "weight_storage_bits", lambda v: _si(v / 8, "B")),
        row("MACs (dense)", "macs", lambda v: f"{v:,}"),
        row("MACs performed", "effective_macs", lambda v: f"{v:,}"),
    ]
    out = _align(rows, {1, 2}, rule=False)
    ratios = [f"{k}: {tot[k]:.3f}" for k in ("speedup_vs_dense", "energy_saving_vs_dense") if tot.get(k) is not None]
    if ratios:
        out += _wrap("   ".join(ratios) + f"   (baseline: {result.baseline or 'dense'})")
    m = result.metrics(tot)
    out += _wrap(_merit_line(result, m))
    band = m.get("uncertainty")
    out += _wrap(_band_line(result, band))
    prov = _provenance_line(result)
    if prov:
        out += _wrap(prov)
    for key, value in result.extra.items():
        if isinstance(value, (str, int, float)):
            out += _wrap(f"{key}: {value}")
    for text in result.all_warnings():
        out += _wrap(f"warning: {text}")
    return out


def _merit_line(result: NetworkResult, m: dict[str, Any]) -> str:
    """Per-sample figures, throughput, EDP, area and the figures of merit, with units."""
    parts = [f"per sample ({result.batch} in the batch): {_si(m['latency_per_sample_s'], 's')}, "
             f"{_si(m['energy_per_sample_j'], 'J')}"]
    if m["throughput_per_s"] is not None:
        parts.append(f"throughput {m['throughput_per_s']:.4g} /s")
    parts.append(f"EDP {m['edp']:.4g} J s")
    if m["perf_per_w"] is not None:
        parts.append(f"{m['perf_per_w']:.4g} inferences/J")
    if m["area_mm2"] is not None:
        source = str(m["area_source"] or "")
        parts.append(f"area {m['area_mm2']:.4g} mm^2 ({'die' if source.startswith('die') else 'modelled'})")
        if m["perf_per_mm2"] is not None:
            parts.append(f"{m['perf_per_mm2']:.4g} inferences/s/mm^2")
    else:
        parts.append("area: not modelled for this family")
    return "; ".join(parts)


def _band_line(result: NetworkResult, band: dict[str, Any] | None) -> str:
    """The family's validation error band (or that none is recorded)."""
    family = result.arch.get("family", "?") if isinstance(result.arch, dict) else "?"
    if not band:
        return f"model error: no validation data recorded for family {family} (error unknown)"
    text = (f"model error ({family}, {band['n']} latency checks): median {100 * band['median_error']:.1f}%, "
            f"worst {100 * band['worst_error']:.1f}%")
    if band.get("note"):
        text += f" ({band['note']})"
    elif band.get("n_sources", 1) == 1:
        text += f" against {band['reference']}"
    else:
        text += f" against {band['n_sources']} published references (JSON: total.uncertainty.reference)"
    energy = band.get("energy")
    if energy:
        text += (f"; energy ({energy['n']} checks): median {100 * energy['median_error']:.1f}%, "
                 f"worst {100 * energy['worst_error']:.1f}%")
    else:
        text += "; energy: not validated"
    return text


def _provenance_line(result: NetworkResult) -> str | None:
    p = result.provenance
    if not p:
        return None
    rev = p.get("git_revision")
    git = f" git {rev[:10]}{'+' if p.get('git_dirty') else ''}" if rev else ""
    return (f"accelsim {p.get('accelsim_version')}{git}; seed {p.get('seed')}"
            f"{'' if p.get('seed_matters') else ' (no effect)'}; weights: {p.get('weights')}; "
            f"activation density: {p.get('activation_density')}")


def _layer_notes(r) -> list[str]:
    """A layer's string extras as footnote texts: ``note`` as is, the rest as ``key=value`` on one line
    (``bound`` has its own column)."""
    out = []
    if isinstance(r.extra.get("note"), str):
        out.append(r.extra["note"])
    rest = " ".join(f"{k}={v}" for k, v in r.extra.items() if isinstance(v, str) and k not in ("note", "bound"))
    if rest:
        out.append(rest)
    return out


def _footnote(notes: dict[str, int], text: str) -> int:
    return notes.setdefault(text, len(notes) + 1)


def _bound(r) -> str:
    """The layer's own ``extra["bound"]`` if its model sets one, else stall vs compute cycles."""
    if isinstance(r.extra.get("bound"), str):
        return r.extra["bound"]
    if not r.cycles:
        return "-"
    return "stall" if r.stall_cycles > r.compute_cycles else "compute"


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


_PREFIXES = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"),
             (1e-12, "p")]


def _si(value: float, unit: str) -> str:
    """``value`` with an SI prefix and 4 significant digits (``86.60 ms``, ``987.0 MB``); bytes and
    storage never go below the unit."""
    if value == 0:
        return f"0 {unit}"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale or (unit == "B" and scale == 1.0):
            return f"{value / scale:#.4g} {prefix}{unit}"
    scale, prefix = _PREFIXES[-1]
    return f"{value / scale:#.4g} {prefix}{unit}"


def _align(rows: list[list[str]], right: set[int], rule: bool = True) -> list[str]:
    """Rows of cells as aligned lines (columns in ``right`` right-aligned), a dash rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    out = [line(rows[0])]
    if rule:
        out.append(line(["-" * w for w in widths]))
    return out + [line(row) for row in rows[1:]]


def _wrap(text: str, indent: str = "    ") -> list[str]:
    """``text`` as lines under ``_WIDTH`` columns, continuation lines indented by ``indent``."""
    return textwrap.wrap(text, _WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [""]
