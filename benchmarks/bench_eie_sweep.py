"""Speed of an EIE PE-count sweep: the 30 points of ``examples/eie-pe-queue.yaml`` (n_pe 16..256 x
queue_depth 1..32 on the nine EIE benchmark layers), evaluated cold, with and without the per-layer
cache of pass segments (``accelsim.hw.eie.model.layout_of``).

The EIE model never lays the entries out for a PE count: it takes the kept pattern of each layer once
and derives, per PE count, the per-(pass, PE, column) segment statistics the timing needs (or
segments the recipe's own layout when it was built for that PE count). For each mode the sweep's
caches are cleared (``accelsim.dse.evaluate.clear_caches``), the workload is compressed once (timed
apart: a sweep caches it per workload, recipe and seed) and the 30 points are evaluated in order by
the sweep's own evaluator (``SimulateEvaluator(detail=True)``, dense baseline included).
"recomputed" sets ``accelsim.hw.eie.model.SEGMENT_CACHE_SIZE = 0``, so every point segments every
layer again; "cached" keeps them per layer, so each (PE count, pass height) is segmented once per
layer. Both modes must give the same rows (checked). Prints evaluations/s, the ratio and the
machine's 1-minute load average before and after. Run:
``.venv/bin/python benchmarks/bench_eie_sweep.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from accelsim.dse import evaluate as E
from accelsim.hw.eie import model as eie_model
from accelsim.dse.space import as_space

SPEC = Path(__file__).resolve().parents[1] / "examples" / "eie-pe-queue.yaml"


def load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unavailable"
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def run_sweep(settings: list[dict], cache_size: int) -> tuple[float, float, list[dict]]:
    """(compression seconds, evaluation seconds, rows) of one cold sweep with ``cache_size`` segment layouts per layer."""
    saved = eie_model.SEGMENT_CACHE_SIZE
    eie_model.SEGMENT_CACHE_SIZE = cache_size
    try:
        E.clear_caches()
        ev = E.SimulateEvaluator(detail=True)
        main, _ = E._split(settings[0])
        t = time.perf_counter()
        E._cgraph(main["workload"], main["recipe"], main["seed"], main["recipe_params"])  # as the evaluator does
        t_compress = time.perf_counter() - t
        t = time.perf_counter()
        rows = [ev(s) for s in settings]
        return t_compress, time.perf_counter() - t, rows
    finally:
        eie_model.SEGMENT_CACHE_SIZE = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1, help="alternating rebuilt / cached rounds (best kept)")
    args = ap.parse_args()
    space, _, _ = as_space(SPEC)
    ev = E.SimulateEvaluator(detail=True)
    settings = [ev.normalize(p.setting) for p in space.points()]
    if len({E._key(E._split(s)[0]) for s in settings}) != 1:
        raise SystemExit(f"{SPEC.name}: expected one workload / recipe / seed for all points (one compression)")
    n = len(settings)
    print(f"{SPEC.name}: {n} points; {load()}")
    run_sweep(settings[:1], eie_model.SEGMENT_CACHE_SIZE)  # JIT warm-up (Numba kernels, imports)
    best = {}
    reference = None
    for _ in range(max(1, args.rounds)):
        for label, size in (("recomputed", 0), ("cached", eie_model.SEGMENT_CACHE_SIZE)):
            t_c, t_e, rows = run_sweep(settings, size)
            if reference is None:
                reference = rows
            elif rows != reference:
                raise SystemExit(f"{label}: the sweep rows differ from the first run's")
            print(f"  {label:10s}: {n} points in {t_e:6.2f} s = {n / t_e:7.2f} evaluations/s "
                  f"(compression once {t_c:.2f} s, not counted)")
            best[label] = min(best.get(label, t_e), t_e)
    print(f"  speed-up cached / recomputed: {best['recomputed'] / best['cached']:.2f}x; "
          f"{load()}; rows identical in both modes")


if __name__ == "__main__":
    main()
