"""``accelsim validate``: reproduce the published and peer references and print how close we are.

Each area contributes a module with ``checks(quick: bool) -> list[Check]``: the non-hardware areas
listed in ``CHECK_MODULES`` here, and every hardware family whose registry entry names a
``validation`` module (:func:`accelsim.hw.registry.family`). A :class:`~accelsim.checks.Check` is
``asserted`` (a tolerance), ``pass/fail`` (a boolean outcome) or ``reported`` (a figure shown for
information, with no verdict); see :mod:`accelsim.checks`. The same functions back the tests, so
the CLI table and the test suite agree by construction. The exit status is 0 iff every asserted
and pass/fail check holds.
"""

from __future__ import annotations

import importlib
import json
import sys

from accelsim.checks import Check, all_hold, summarize
from accelsim.errors import UnknownNameError

__all__ = ["CHECK_MODULES", "Check", "check_modules", "collect", "cmd_validate", "add_cli"]

# non-hardware area -> module providing ``checks(quick)``; hardware families come from the registry
CHECK_MODULES = {
    "zoo": "accelsim.workload.validation",
    "compress": "accelsim.compress.validation",
    "energy": "accelsim.energy.validation",
}


def _selected(area: str, only: str | None) -> bool:
    return only is None or only in area or area in only


def check_modules(only: str | None = None) -> dict[str, str]:
    """area -> module path of its checks: ``CHECK_MODULES`` plus every family's ``validation`` module.

    ``only`` keeps the areas whose name contains it (or that it contains); a family's package is
    imported only when it is selected.
    """
    from accelsim.hw.registry import family, family_names

    out = {area: name for area, name in CHECK_MODULES.items() if _selected(area, only)}
    for name in family_names():
        if _selected(name, only):
            module = family(name).validation
            if module:
                out[name] = module
    return out


def collect(quick: bool = False, only: str | None = None) -> list[Check]:
    """Every check of the selected areas (``quick``: each area's fast subset)."""
    modules = check_modules(only)
    if not modules:
        from accelsim.hw.registry import family_names

        raise UnknownNameError("validation area", str(only), [*CHECK_MODULES, *family_names()])
    checks: list[Check] = []
    for name in modules.values():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        for check in module.checks(quick):
            if only is None or only in check.area:
                checks.append(check)
    return checks


def summary_line(checks: list[Check]) -> str:
    """e.g. ``41 of 43 asserted checks within tolerance, 30 of 30 pass/fail checks passed, 12 reported``."""
    s = summarize(checks)
    return (f"{s['asserted_ok']} of {s['asserted']} asserted checks within tolerance, "
            f"{s['pass_fail_ok']} of {s['pass_fail']} pass/fail checks passed, {s['reported']} reported")


def cmd_validate(args) -> int:
    from accelsim.report.export import format_table

    checks = collect(quick=args.quick, only=args.only)
    rows = [c.row() for c in checks]
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        cols = ["area", "item", "reference", "predicted", "unit", "rel_error", "rel_tol", "kind", "status"]
        sys.stdout.write(format_table(rows, cols) + "\n")
        sys.stdout.write(f"\n{summary_line(checks)}\n")
    return 0 if all_hold(checks) else 1


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("validate", help="reproduce published and peer references; print the comparison")
    p.add_argument("--quick", action="store_true",
                   help="a fast subset (fewer cases; tolerances are the full run's)")
    p.add_argument("--only",
                   help="only areas whose name contains this text (zoo, compress, energy or a hardware family)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_validate)
