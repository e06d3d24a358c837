"""Per-family validation error, carried into results as an error band.

Each hardware family's reproduction (``accelsim/hw/<family>/validation.py``, the checks behind
``accelsim validate``) compares the model with published or simulator references. This module
reduces the quick subset of those checks (``accelsim validate --quick --only <family>``) to one
error band per metric and family::

    {"metric": "latency_s", "n": 29, "median_error": 0.052, "worst_error": 0.70,
     "reference": "<source> | <source> | ...", "n_sources": 9,
     "checks": "accelsim validate --quick --only gpu", "note": None}

``median_error`` / ``worst_error`` are the median and largest ``|predicted / reference - 1|``
(fractions) over the selected checks. Which checks count (:func:`select`):

* ``latency_s``: checks of a time (unit ``s``, ``ms``, ``us``, ``ns``, ``us/image``), of total
  cycles (``Total Cycles`` in the item) or of a fraction of peak throughput, with a non-zero
  reference; paper "theoretical" times (a bound, not a measurement) and diagnostics (the model with a
  measured quantity put in, not its own prediction) are left out;
* ``energy_j``: checks of power or energy (unit ``W``, ``mW``, ``J``, ``mJ``, ``uJ``, ``pJ``) with a
  non-zero reference.

The bands are stored in :mod:`accelsim.report.uncertainty_data` (generated, not hand-edited) so
that a simulation does not re-run the reproductions. Regenerate after a model or a reference
changes::

    python -m accelsim.report.uncertainty --write

``tests/test_results_cite.py`` recomputes every band from a fresh quick run and fails when the
stored data is out of step (naming this command). A family without stored data gets no band
(``None``): a result then says that its error is unknown, never zero.
"""

from __future__ import annotations

import argparse
import importlib
import math
import pprint
import statistics
import sys
from pathlib import Path
from typing import Any, Iterable

TIME_UNITS = ("s", "ms", "us", "ns", "us/image")
ENERGY_UNITS = ("W", "mW", "J", "mJ", "uJ", "pJ")
METRICS = ("latency_s", "energy_j")
#: what a family's references are, where the sources alone do not say it
NOTES = {"systolic": "exact against SCALE-Sim 3.0.0, a simulator: no silicon measurement behind it"}
DATA_FILE = Path(__file__).with_name("uncertainty_data.py")
WRITE_COMMAND = "python -m accelsim.report.uncertainty --write"


def select(check, metric: str) -> bool:
    """True iff ``check`` (an :class:`accelsim.checks.Check`) measures ``metric`` (module docstring)."""
    if not isinstance(check.reference, (int, float)) or check.reference == 0:
        return False
    if not isinstance(check.predicted, (int, float)) or not math.isfinite(check.predicted):
        return False
    item = check.item.lower()
    if metric == "latency_s":
        if "theoretical" in item or "diagnostic" in item:
            return False
        return check.unit in TIME_UNITS or "total cycles" in item or "fraction of peak" in item
    if metric == "energy_j":
        return check.unit in ENERGY_UNITS
    raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")


def _sources(checks: list) -> list[str]:
    return list(dict.fromkeys(c.source for c in checks if c.source))


def _reference_text(sources: list[str]) -> str:
    """The sources, ``" | "``-separated (a source may itself hold ``;``), the first three then a count."""
    text = " | ".join(sources[:3])
    if len(sources) > 3:
        text += f" | and {len(sources) - 3} more sources"
    return text


def band(checks: Iterable, metric: str, family: str) -> dict[str, Any] | None:
    """The error band of ``metric`` over ``checks`` (None when no check measures it)."""
    chosen = [c for c in checks if select(c, metric)]
    if not chosen:
        return None
    errors = [abs(c.predicted / c.reference - 1.0) for c in chosen]
    sources = _sources(chosen)
    return {
        "metric": metric,
        "n": len(chosen),
        "median_error": float(statistics.median(errors)),
        "worst_error": float(max(errors)),
        "reference": _reference_text(sources),
        "n_sources": len(sources),
        "checks": f"accelsim validate --quick --only {family}",
        "note": NOTES.get(family),
    }


def family_checks(family: str) -> list:
    """The quick checks of one family's reproduction module (empty when it has none)."""
    from accelsim.hw.registry import family as family_entry

    module = family_entry(family).validation
    if not module:
        return []
    return list(importlib.import_module(module).checks(True))


def compute(families: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{family: {metric: band or None}}`` from a fresh quick run of each family's checks."""
    from accelsim.hw.registry import family as family_entry
    from accelsim.hw.registry import family_names

    out: dict[str, dict[str, Any]] = {}
    for name in families if families is not None else family_names():
        if not family_entry(name).validation:
            continue
        checks = [c for c in family_checks(name) if c.area == name]
        out[name] = {metric: band(checks, metric, name) for metric in METRICS}
    return out


def stored() -> dict[str, dict[str, Any]]:
    """The bands recorded in :mod:`accelsim.report.uncertainty_data` (empty if none were written)."""
    try:
        from accelsim.report.uncertainty_data import BANDS
    except ImportError:  # pragma: no cover - the file ships with the package
        return {}
    return BANDS


def for_family(family: str | None) -> dict[str, Any] | None:
    """A result's ``uncertainty``: the stored latency band of ``family`` with the energy band (or
    None) under ``energy``; None when nothing is recorded for the family."""
    data = stored().get(family or "")
    if not data or data.get("latency_s") is None:
        return None
    out = dict(data["latency_s"])
    out["energy"] = dict(data["energy_j"]) if data.get("energy_j") else None
    return out


def render(bands: dict[str, dict[str, Any]]) -> str:
    """The text of :mod:`accelsim.report.uncertainty_data` for ``bands``."""
    body = pprint.pformat(bands, width=110, sort_dicts=True)
    return (
        '"""Per-family validation error bands (GENERATED by ``' + WRITE_COMMAND + '``; do not edit).\n\n'
        "See :mod:`accelsim.report.uncertainty` for what each band holds and which checks it counts.\n"
        '"""\n\nBANDS = ' + body + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m accelsim.report.uncertainty",
                                     description="recompute the per-family validation error bands")
    parser.add_argument("--write", action="store_true", help=f"write {DATA_FILE.name} (else print the bands)")
    args = parser.parse_args(argv)
    text = render(compute())
    if args.write:
        DATA_FILE.write_text(text)
        sys.stdout.write(f"wrote {DATA_FILE}\n")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
