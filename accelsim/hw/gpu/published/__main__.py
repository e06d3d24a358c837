"""``python -m accelsim.hw.gpu.published [--half calibration|untouched|all] [--category C] [--format table|json|markdown]``:
the published GPU measurements against the current model, one line per row, then the summary."""

from __future__ import annotations

import argparse
import json
import sys

from accelsim.hw.gpu import published as P


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m accelsim.hw.gpu.published", description=__doc__)
    ap.add_argument("--half", choices=[*P.HALVES, "all"], default="all")
    ap.add_argument("--category", default=None, help="one category (sparse24, int4_vs_batch, decode_b1, ...)")
    ap.add_argument("--id", action="append", default=None, help="only this row id (repeatable)")
    ap.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    args = ap.parse_args(argv)
    results = P.evaluate(ids=args.id, half=args.half, category=args.category)
    if args.format == "json":
        sys.stdout.write(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
        return 0
    if args.format == "markdown":
        sys.stdout.write("\n".join(P.markdown_lines(results)) + "\n")
        return 0
    sys.stdout.write("\n".join(P.table_lines(results)) + "\n\n" + "\n".join(P.summary_lines(results)) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
