"""``accelsim validate``: reproduce the published and peer references and print how close we are.

Each area contributes a module with ``checks(quick: bool) -> list[Check]``: the non-hardware areas
listed in ``CHECK_MODULES`` here, and every hardware family whose registry entry names a
``validation`` module (:func:`accelsim.hw.registry.family`), plus the ``SIBLING_MODULES`` next to
them (a family's ``published`` harness, whose per-category summary is printed after the table). A
:class:`~accelsim.checks.Check` is ``asserted`` (a tolerance), ``pass/fail`` (a boolean outcome) or
``reported`` (a figure shown for information, with no verdict); see :mod:`accelsim.checks`. The same
functions back the tests, so the CLI table and the test suite agree by construction. The table
ends with a summary naming every miss: a check whose ``known`` reason is recorded is a *known miss*
(listed with its reason); any other failing check is a *new miss*. The exit status is 0 iff there
is no new miss, 1 otherwise; an unknown ``--only`` area is an error (exit 2).
"""

from __future__ import annotations

import importlib
import json
import sys

from accelsim.checks import Check, fixed_known, no_new_miss, summarize
from accelsim.errors import AccelsimError, UnknownNameError

__all__ = ["CHECK_MODULES", "SIBLING_MODULES", "Check", "ValidationAreaError", "area_summaries", "areas",
           "check_modules", "closing_summary", "collect", "cmd_validate", "add_cli", "siblings"]


class ValidationAreaError(AccelsimError):
    """The selected validation areas produced no check (nothing was validated)."""

# non-hardware area -> module providing ``checks(quick)``; hardware families come from the registry
CHECK_MODULES = {
    "zoo": "accelsim.workload.validation",
    "compress": "accelsim.compress.validation",
    "energy": "accelsim.energy.validation",
}
#: sibling modules of an area's check module (``<its package>.<name>``, when it exists) that add
#: checks: each provides ``checks(quick)`` and may provide ``validate_summary_lines(quick) ->
#: list[str]``, printed after the table (e.g. a family's published-measurement harness with its
#: per-category error statistics, or its kernels timed on a real device)
SIBLING_MODULES = ("published", "measured")


def areas() -> list[str]:
    """Every area name ``--only`` accepts: ``CHECK_MODULES`` and every family with a validation module."""
    from accelsim.hw.registry import family, family_names

    return [*CHECK_MODULES, *(n for n in family_names() if family(n).validation and n not in CHECK_MODULES)]


def _parse_only(only: str | None) -> list[str] | None:
    """``--only``: comma-separated area names, each one of :func:`areas` (else UnknownNameError)."""
    if only is None:
        return None
    names = [part.strip() for part in str(only).split(",")]
    known = areas()
    for name in names:
        if name not in known:
            raise UnknownNameError("validation area", name, known)
    return names


def check_modules(only: str | None = None) -> dict[str, str]:
    """area -> module path of its checks: ``CHECK_MODULES`` plus every family's ``validation`` module.

    ``only``: comma-separated area names (``eie`` or ``zoo,gpu``); an unknown name is an
    UnknownNameError (an empty selection would pass with no checks). A family's package is
    imported only when it is selected.
    """
    from accelsim.hw.registry import family, family_names

    selected = _parse_only(only)
    keep = (lambda area: True) if selected is None else (lambda area: area in selected)
    out = {area: name for area, name in CHECK_MODULES.items() if keep(area)}
    for name in family_names():
        if keep(name) and name not in out:
            module = family(name).validation
            if module:
                out[name] = module
    return out


def collect(quick: bool = False, only: str | None = None) -> list[Check]:
    """Every check of the selected areas (``quick``: each area's fast subset)."""
    modules = check_modules(only)
    checks: list[Check] = []
    for name in _with_extras(modules):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        checks.extend(module.checks(quick))
    if not checks:
        raise ValidationAreaError(f"--only {only}: the selected area(s) produced no checks" if only else
                                  "no validation checks were found")
    return checks


def siblings(module: str) -> list[str]:
    """The ``SIBLING_MODULES`` next to an area's check module that exist (``<package>.validation`` ->
    ``<package>.published``)."""
    import importlib.util

    package = module.rpartition(".")[0]
    out = []
    for name in SIBLING_MODULES:
        try:
            found = bool(package) and importlib.util.find_spec(f"{package}.{name}") is not None
        except ModuleNotFoundError:
            found = False
        if found:
            out.append(f"{package}.{name}")
    return out


def _with_extras(modules: dict[str, str]) -> list[str]:
    """The selected areas' modules, each followed by its existing siblings."""
    return [m for name in modules.values() for m in (name, *siblings(name))]


def area_summaries(quick: bool = False, only: str | None = None) -> list[str]:
    """The closing lines of the selected areas' sibling modules (``validate_summary_lines``)."""
    lines: list[str] = []
    for name in check_modules(only).values():
        for extra in siblings(name):
            fn = getattr(importlib.import_module(extra), "validate_summary_lines", None)
            if fn is not None:
                lines += fn(quick)
    return lines


def summary_line(checks: list[Check]) -> str:
    """e.g. ``41 of 43 asserted checks within tolerance, 30 of 30 pass/fail checks passed, 12 reported``."""
    s = summarize(checks)
    return (f"{s['asserted_ok']} of {s['asserted']} asserted checks within tolerance, "
            f"{s['pass_fail_ok']} of {s['pass_fail']} pass/fail checks passed, {s['reported']} reported")


def _miss_line(c: Check) -> str:
    tol = f" (tolerance {c.rel_tol:.0%})" if c.rel_tol is not None and c.kind == "asserted" else ""
    err = "" if c.kind != "asserted" else f": {c.rel_error:+.1%}{tol}"
    return f"  {c.area}: {c.item}{err}"


def closing_summary(checks: list[Check]) -> list[str]:
    """The lines after the table: the counts, every known miss with its reason, every new miss, and the verdict."""
    known = [c for c in checks if c.failed and c.known is not None]
    new = [c for c in checks if c.new_miss]
    stale = fixed_known(checks)
    lines = [f"Summary: {summary_line(checks)} (reported figures have no verdict)."]
    if known:
        lines.append(f"Known misses ({len(known)}; recorded with a reason, they do not fail the run):")
        for c in known:
            lines += [_miss_line(c), f"      known: {c.known}"]
    if stale:
        lines.append(f"Known misses that now hold ({len(stale)}; remove their 'known' reason):")
        lines += [_miss_line(c) for c in stale]
    if new:
        lines.append(f"NEW MISSES ({len(new)}):")
        lines += [_miss_line(c) + f"  [{c.source}]" for c in new]
        lines.append(f"FAILED: {len(new)} new miss(es).")
    else:
        lines.append(f"OK: no miss beyond the {len(known)} known." if known else "OK: every check holds.")
    return lines


def cmd_validate(args) -> int:
    from accelsim.report.export import format_table

    checks = collect(quick=args.quick, only=args.only)
    rows = [c.row() for c in checks]
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, indent=2, allow_nan=False) + "\n")
    else:
        cols = ["area", "item", "reference", "predicted", "unit", "rel_error", "rel_tol", "kind", "status", "source"]
        sys.stdout.write(format_table(rows, cols) + "\n\n")
        extra = area_summaries(quick=args.quick, only=args.only)
        if extra:
            sys.stdout.write("\n".join(extra) + "\n\n")
        sys.stdout.write("\n".join(closing_summary(checks)) + "\n")
    return 0 if no_new_miss(checks) else 1


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("validate", help="reproduce published and peer references; print the comparison")
    p.add_argument("--quick", action="store_true",
                   help="a fast subset (fewer cases; tolerances are the full run's)")
    p.add_argument("--only",
                   help="only these areas, comma-separated (zoo, compress, energy or a hardware family)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_validate)
