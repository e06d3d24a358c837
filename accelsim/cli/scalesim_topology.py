"""Write workloads as SCALE-Sim 3.0.0 topology CSVs, e.g. to regenerate the bundled ones.

``python -m accelsim.cli.scalesim_topology WORKLOAD OUT.csv [--gemm]`` writes one workload (zoo name
or path); ``--bundled`` rewrites ``workloads/scalesim/*.csv`` from the zoo
(:data:`accelsim.workload.io_scalesim.BUNDLED`). The writer is
:func:`accelsim.workload.io_scalesim.save_scalesim_topology`.
"""

from __future__ import annotations

import argparse
import sys

from accelsim.errors import AccelsimError
from accelsim.paths import WORKLOAD_DIR
from accelsim.workload.io_scalesim import BUNDLED, save_scalesim_topology
from accelsim.workload.zoo import load_workload


def main(argv=None) -> int:
    """``python -m accelsim.cli.scalesim_topology WORKLOAD OUT.csv [--gemm]`` or ``--bundled``; exit status 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m accelsim.cli.scalesim_topology",
                                     description="Write a workload as a SCALE-Sim 3.0.0 topology CSV.")
    parser.add_argument("workload", nargs="?", help="zoo name or path")
    parser.add_argument("out", nargs="?", help="output .csv")
    parser.add_argument("--gemm", action="store_true", help="GEMM format (name, M, N, K)")
    parser.add_argument("--bundled", action="store_true", help="regenerate workloads/scalesim/*.csv from the zoo")
    args = parser.parse_args(argv)
    try:
        if args.bundled:
            for fname, (net, gemm) in BUNDLED.items():
                save_scalesim_topology(load_workload(net), WORKLOAD_DIR / "scalesim" / fname, gemm=gemm)
        elif args.workload and args.out:
            save_scalesim_topology(load_workload(args.workload), args.out, gemm=args.gemm)
        else:
            parser.error("give WORKLOAD OUT.csv, or --bundled")
    except AccelsimError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
