"""Writers for NetworkResult: JSON, CSV and a readable table."""

from __future__ import annotations

import json
from typing import Any

from accelsim.report.results import NetworkResult


def to_json(result: NetworkResult, indent: int = 2, with_actions: bool = False) -> str:
    return json.dumps(result.to_dict(with_actions=with_actions), indent=indent, default=_default)


def to_csv(result: NetworkResult) -> str:
    return result.to_frame().to_csv(index=False)


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


def result_table(result: NetworkResult) -> str:
    """Per-layer table plus a totals line."""
    cols = ["name", "op", "macs", "effective_macs", "cycles", "stall_cycles", "latency_s", "energy_j",
            "dram_read_bytes", "utilization"]
    rows = [r.to_dict() for r in result.layers]
    # family-specific labels (GPU bound / kernel, ...) as one compact column
    notes = [" ".join(f"{k}={v}" for k, v in r.extra.items() if isinstance(v, str)) for r in result.layers]
    if any(notes):
        cols.append("notes")
        for row, note in zip(rows, notes):
            row["notes"] = note
    tot = result.total
    total_row = {c: tot.get(c) for c in cols}
    total_row["name"], total_row["op"] = "TOTAL", ""
    text = format_table(rows + [total_row], cols)
    extras = []
    for key in ("speedup_vs_dense", "energy_saving_vs_dense"):
        if tot.get(key) is not None:
            extras.append(f"{key}: {tot[key]:.3f}")
    arch = result.arch.get("name", "?")
    head = f"arch {arch} ({result.arch.get('family', '?')}), workload {result.workload}, batch {result.batch}"
    return "\n".join([head, text] + extras)
