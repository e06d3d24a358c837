"""Snapshot every bundled example's figures, and compare two snapshots field by field.

A refactoring that must not change results runs this before and after::

    python benchmarks/compare_outputs.py save before.json          # on the old commit
    python benchmarks/compare_outputs.py save after.json           # on the new one
    python benchmarks/compare_outputs.py diff before.json after.json

The snapshot holds (all with fixed seeds):

* ``simulate``: every bundled arch on workloads and recipes it can run (the README's commands among
  them), the whole ``NetworkResult.to_dict(with_actions=True)`` per run;
* ``sweep``: every bundled sweep spec in ``examples/`` (rows of its results table; the two large
  specs are cut to their first points with ``--quick``);
* ``validate``: every row of ``accelsim validate`` (quick or full).

``diff`` prints, per top-level section, every field whose value changed (numbers compared with a
relative tolerance of 1e-9, so summation-order rounding is not a change), every field added or
removed, and exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (arch, workload, recipe, batch); recipe None = dense
SIMULATE_CASES = [
    ("edge-32x32-2of4", "resnet50", "2of4-int8", 1),  # the README's main job
    ("edge-32x32", "mobilenet-v2", "int8", 1),
    ("edge-32x32", "resnet18", "magnitude-8", 1),
    ("edge-32x32-skip", "lenet-300-100", "magnitude-8", 1),
    ("scalesim-32x32-os", "resnet18", None, 1),
    ("scalesim-eyeriss", "alexnet", None, 1),
    ("scalesim-google", "lenet5", None, 1),
    ("tpu-v1", "bert-base", "int8", 1),
    ("tpu-v1", "resnet50", "magnitude-4", 1),
    ("eie", "eie-benchmarks", "eie-benchmarks", 1),
    ("eie-256pe-28nm", "lenet-300-100", "deep-compression-lenet300", 1),
    ("eie-64pe-7nm", "eie-benchmarks", "eie-benchmarks", 1),
    ("a100-40gb", "resnet50", "2of4-int8", 32),
    ("a100-80gb", "llama2-7b-decoder", "w4a16", 1),
    ("h100-sxm", "resnet50", "2of4-int8", 32),
    ("h100-sxm", "bert-base", "int8", 8),
    ("jetson-agx-orin", "mobilenet-v2", None, 1),
    ("tegra-k1", "eie-benchmarks", "eie-benchmarks-pruned", 1),
    ("titan-x-maxwell", "eie-benchmarks", "eie-benchmarks-pruned", 64),
    ("v100", "alexnet", "deep-compression-alexnet", 1),
    ("v100", "lenet5", "svd-25", 1),
    ("edge-32x32", "resnet18", "channel50", 1),
]

SWEEP_SPECS = ["sweep-quick.yaml", "systolic-mobilenetv2.yaml", "eie-pe-queue.yaml", "resnet50-pruning.yaml"]
QUICK_POINTS = 12  # points kept of each spec with --quick


def snapshot_simulate(quick: bool) -> dict:
    import accelsim

    out = {}
    for arch, workload, recipe, batch in SIMULATE_CASES:
        key = f"{arch}|{workload}|{recipe}|{batch}"
        try:
            result = accelsim.simulate(arch, workload, recipe=recipe, batch=batch, seed=0)
            out[key] = result.to_dict(with_actions=True)
        except accelsim.AccelsimError as exc:
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"  simulate {key}", file=sys.stderr)
    return out


def snapshot_sweeps(quick: bool) -> dict:
    import yaml

    from accelsim.dse.space import as_space
    from accelsim.dse.sweep import sweep

    out = {}
    for name in SWEEP_SPECS:
        spec_path = ROOT / "examples" / name
        spec = yaml.safe_load(spec_path.read_text())
        space, _, _ = as_space(str(spec_path))
        points = space.points()
        if quick:
            points = points[:QUICK_POINTS]
        settings = [p.setting for p in points]
        with tempfile.TemporaryDirectory() as tmp:
            df = sweep({"name": spec.get("name", name), "points": settings}, store=tmp, progress=False,
                       detail=bool(spec.get("detail", False)))
        rows = json.loads(df.to_json(orient="records"))
        for row in rows:
            row.pop("id", None)  # ids hash the setting: equal settings, equal rows
        out[name] = rows
        print(f"  sweep {name}: {len(rows)} points", file=sys.stderr)
    return out


def snapshot_validate(quick: bool) -> dict:
    from accelsim.validate import collect

    rows = [c.row() for c in collect(quick=quick)]
    return {f"{r['area']}|{r['item']}": r for r in rows}


def cmd_save(args) -> int:
    snap = {
        "simulate": snapshot_simulate(args.quick),
        "sweep": snapshot_sweeps(args.quick),
        "validate": snapshot_validate(args.quick),
    }
    Path(args.out).write_text(json.dumps(snap, indent=1, sort_keys=True, default=str))
    print(f"wrote {args.out}")
    return 0


def _same(a, b, rel: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) and math.isnan(b):
            return True
        return a == b or abs(a - b) <= rel * max(abs(a), abs(b))
    return a == b


def _walk(a, b, path: str, rel: float, changes: list) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                changes.append(("added", p, None, b[k]))
            elif k not in b:
                changes.append(("removed", p, a[k], None))
            else:
                _walk(a[k], b[k], p, rel, changes)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            changes.append(("length", path, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            _walk(x, y, f"{path}[{i}]", rel, changes)
        return
    if not _same(a, b, rel):
        changes.append(("changed", path, a, b))


def _field_name(path: str) -> str:
    """A path with the per-case and per-layer parts dropped: ``layers[3].sram_reads.spmat`` ->
    ``layers[].sram_reads.spmat``, so changes are counted by field."""
    import re

    return re.sub(r"\[\d+\]", "[]", path.split(".", 1)[1] if "." in path else path)


def cmd_diff(args) -> int:
    a = json.loads(Path(args.before).read_text())
    b = json.loads(Path(args.after).read_text())
    changes: list = []
    _walk(a, b, "", args.rel, changes)
    if not changes:
        print(f"identical: every figure of {args.before} and {args.after} within rel {args.rel}")
        return 0
    by_field: dict[tuple, list] = {}
    for kind, path, old, new in changes:
        section = path.split(".", 1)[0]
        rest = path.split(".", 1)[1] if "." in path else ""
        by_field.setdefault((section, kind, _field_name(rest)), []).append((path, old, new))
    for (section, kind, name), items in sorted(by_field.items()):
        path, old, new = items[0]
        print(f"{section:9s} {kind:8s} {name}  ({len(items)} values; e.g. {path}: {old!r} -> {new!r})")
    print(f"{len(changes)} differences in {len(by_field)} fields")
    return 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("save")
    s.add_argument("out")
    s.add_argument("--quick", action="store_true", help=f"first {QUICK_POINTS} points of each sweep; quick validate")
    s.set_defaults(func=cmd_save)
    d = sub.add_parser("diff")
    d.add_argument("before")
    d.add_argument("after")
    d.add_argument("--rel", type=float, default=1e-9)
    d.set_defaults(func=cmd_diff)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
