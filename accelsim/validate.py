"""``accelsim validate``: reproduce the published and peer references and print how close we are.

Each area contributes a module with ``checks(quick: bool) -> list[Check]`` (see ``CHECK_MODULES``);
a check compares one predicted figure with one reference figure under a stated tolerance. The same
functions back the tests, so the CLI table and the test suite agree by construction.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from dataclasses import asdict, dataclass

# area -> module providing ``checks(quick)``; ``--only`` imports only the matching areas
CHECK_MODULES = {
    "zoo": "accelsim.workload.validation",
    "compress": "accelsim.compress.validation",
    "energy": "accelsim.energy.validation",
    "systolic": "accelsim.hw.systolic.validation",
    "eie": "accelsim.hw.eie.validation",
    "gpu": "accelsim.hw.gpu.validation",
}


@dataclass(frozen=True)
class Check:
    """One predicted-vs-reference comparison. ``rel_tol`` None means a pass/fail check (``ok``)."""

    area: str
    item: str
    reference: float
    predicted: float
    unit: str = ""
    rel_tol: float | None = None
    source: str = ""
    ok_override: bool | None = None

    @property
    def rel_error(self) -> float:
        if self.reference == 0:
            return 0.0 if self.predicted == 0 else math.inf
        return (self.predicted - self.reference) / abs(self.reference)

    @property
    def ok(self) -> bool:
        if self.ok_override is not None:
            return self.ok_override
        if self.rel_tol is None:
            return True
        return abs(self.rel_error) <= self.rel_tol

    def row(self) -> dict:
        out = asdict(self)
        out.pop("ok_override")
        out["rel_error"] = self.rel_error
        out["ok"] = self.ok
        return out


def collect(quick: bool = False, only: str | None = None) -> list[Check]:
    checks: list[Check] = []
    for area, name in CHECK_MODULES.items():
        if only is not None and only not in area and area not in only:
            continue
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


def cmd_validate(args) -> int:
    from accelsim.report.export import format_table

    checks = collect(quick=args.quick, only=args.only)
    rows = [c.row() for c in checks]
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        cols = ["area", "item", "reference", "predicted", "unit", "rel_error", "rel_tol", "ok"]
        sys.stdout.write(format_table(rows, cols) + "\n")
        failed = sum(not c.ok for c in checks)
        sys.stdout.write(f"\n{len(checks) - failed} of {len(checks)} checks within tolerance\n")
    return 0 if all(c.ok for c in checks) else 1


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("validate", help="reproduce published and peer references; print the comparison")
    p.add_argument("--quick", action="store_true", help="a fast subset")
    p.add_argument("--only", help="only areas whose name contains this text (e.g. eie, systolic, gpu, compress)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_validate)
