"""Analytic memory model in USER bandwidth mode (docs/models/systolic.md §8.8) against the exact replay.

Usage::

    .venv/bin/python benchmarks/bench_user_analytic.py [--cases N] [--seed S] [--skip-sweep] [--repeats K]

1. *Agreement*: unit cases (zoo layers of ResNet-18/50, MobileNet-v2, VGG-16, BERT-base, ... x arrays
   8/32/128 x os/ws/is x SRAM sizes x USER bandwidths, starved ones included), a seeded random subset
   of ``--cases`` of them, each run by the analytic model and by the exact replay
   (``model.scalesim_unit``); relative errors of total cycles, of each DRAM stream and of the DRAM
   traffic, per unit case and per network (a network's units summed, weighted by their count, per
   config): median, 90th percentile, worst.
2. *Sweep speed*: ``accelsim.sweep`` over ``arch.dram.*_bw`` values on a zoo network on a USER-mode
   array, ``memory_model: analytic`` and ``exact``, every memo cleared before each timed run; layer
   evaluations / s for both (median over ``--repeats`` runs), their ratio, the load average, and how
   far the analytic network totals are from the exact ones on those points.
3. ``--networks``: whole networks per config (every unit weighted by its count), summed cycles and
   DRAM traffic against the replay.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

NETWORKS = ("resnet18", "resnet50", "mobilenet-v2", "vgg16", "bert-base", "googlenet", "alexnet")
ARRAYS = (8, 32, 128)
DATAFLOWS = ("os", "ws", "is")
SRAM_KB = (16, 64, 512)
BANDWIDTHS = (1, 4, 16, 64)  # words / cycle for all three streams; 1 and 4 are starved on most layers


def network_units(networks=NETWORKS, batch: int = 1) -> dict:
    """``{network: [(geometry, units of it in the network), ...]}`` over the distinct unit geometries."""
    from accelsim.hw.systolic.model import layer_units
    from accelsim.workload.zoo import load_workload

    out = {}
    for net in networks:
        counts: dict = {}
        for layer in load_workload(net):
            u = layer_units(layer, batch)
            if u is not None:
                counts[u[0]] = counts.get(u[0], 0) + u[1]
        out[net] = list(counts.items())
    return out


def all_cases(units: dict, max_entries: int = 1 << 24):
    """Every (network, geometry, count, dataflow, R, kB, bw) case whose replay stays below ``max_entries``
    prefetch entries (the replay's time and memory grow with them)."""
    from accelsim.hw.systolic.model import replay_entries

    out = []
    for net, geoms in units.items():
        for g, n in geoms:
            for R in ARRAYS:
                for df in DATAFLOWS:
                    if replay_entries(df, R, R, g) > max_entries:
                        continue
                    for kb in SRAM_KB:
                        for bw in BANDWIDTHS:
                            out.append((net, g, n, df, R, kb, bw))
    return out


def run_case(case):
    """``(analytic report, exact report, analytic s, exact s)`` of one case."""
    from accelsim.hw.systolic.model import analytic_unit_report, scalesim_unit

    net, g, n, df, R, kb, bw = case
    sizes, bws = (kb * 1024,) * 3, (bw,) * 3
    t0 = time.perf_counter()
    a = analytic_unit_report(df, R, R, g, sizes, bws, True)
    t1 = time.perf_counter()
    e = scalesim_unit(df, R, R, g, sizes, bws, True)
    t2 = time.perf_counter()
    return a, e, t1 - t0, t2 - t1


FIELDS = ("total_cycles", "ifmap_dram_reads", "filter_dram_reads", "ofmap_dram_writes")


def _rel(a, e):
    return abs(a - e) / e if e else (0.0 if a == e else 1.0)


def _pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def agreement(n_cases: int, seed: int, verbose: bool = True) -> dict:
    """Run a seeded random subset of the cases; returns the error lists (per case, per network)."""
    units = network_units()
    cases = all_cases(units)
    rng = random.Random(seed)
    pick = cases if n_cases >= len(cases) else rng.sample(cases, n_cases)
    per_case = {f: [] for f in FIELDS + ("dram",)}
    nets: dict = {}
    t_a = t_e = 0.0
    worst = []
    stalled = [0, 0]
    for case in pick:
        a, e, ta, te = run_case(case)
        frac = e["stall_cycles"] / e["total_cycles"] if e["total_cycles"] else 0.0
        stalled[0] += frac > 0.5
        stalled[1] += frac > 0.9
        t_a += ta
        t_e += te
        for f in FIELDS:
            per_case[f].append(_rel(a[f], e[f]))
        da = a["ifmap_dram_reads"] + a["filter_dram_reads"] + a["ofmap_dram_writes"]
        de = e["ifmap_dram_reads"] + e["filter_dram_reads"] + e["ofmap_dram_writes"]
        per_case["dram"].append(_rel(da, de))
        worst.append((_rel(a["total_cycles"], e["total_cycles"]), case[0], case[3:], case[1]))
        net, g, n, df, R, kb, bw = case
        acc = nets.setdefault((net, df, R, kb, bw), [0.0] * 4)
        acc[0] += n * a["total_cycles"]
        acc[1] += n * e["total_cycles"]
        acc[2] += n * da
        acc[3] += n * de
    per_net = {"cycles": [_rel(v[0], v[1]) for v in nets.values()], "dram": [_rel(v[2], v[3]) for v in nets.values()]}
    if verbose:
        print(f"[agreement] {len(pick)} unit cases of {len(cases)} (seed {seed}), {len(nets)} network x config groups; "
              f"analytic {t_a:.2f} s ({len(pick) / t_a:,.0f} units/s), "
              f"exact {t_e:.2f} s ({len(pick) / t_e:,.0f} units/s); "
              f"stalls over 50% of the cycles in {stalled[0]} cases, over 90% in {stalled[1]}")
        for f, xs in per_case.items():
            print(f"  per unit case  {f:18s} median {100 * _pct(xs, .5):7.3f}%  p90 {100 * _pct(xs, .9):7.3f}%  "
                  f"worst {100 * max(xs):8.2f}%")
        for f, xs in per_net.items():
            print(f"  per network    {f:18s} median {100 * _pct(xs, .5):7.3f}%  p90 {100 * _pct(xs, .9):7.3f}%  "
                  f"worst {100 * max(xs):8.2f}%   ({len(xs)} groups: partial networks, the sampled units only)")
        for w in sorted(worst, key=lambda x: x[0], reverse=True)[:8]:
            print(f"  worst cycles: {100 * w[0]:8.2f}%  {w[1]} {w[2]} {w[3]}")
    return {"per_case": per_case, "per_net": per_net, "n": len(pick)}


def network_agreement(arrays=(32, 128), sram_kb=(16, 64), bandwidths=(1, 16), verbose: bool = True) -> dict:
    """Whole networks (every unit, weighted by its count) per config: errors of the summed cycles and
    DRAM traffic. Networks whose replay of some unit exceeds the budget of :func:`all_cases` are skipped
    for that config."""
    from accelsim.hw.systolic.model import replay_entries

    units = network_units()
    _clear()
    errs = {"cycles": [], "dram": []}
    t_a = t_e = 0.0
    skipped = 0
    for net, geoms in units.items():
        for R in arrays:
            for df in DATAFLOWS:
                if any(replay_entries(df, R, R, g) > 1 << 24 for g, _ in geoms):
                    skipped += len(sram_kb) * len(bandwidths)
                    continue
                for kb in sram_kb:
                    for bw in bandwidths:
                        acc = [0.0] * 4
                        for g, n in geoms:
                            a, e, ta, te = run_case((net, g, n, df, R, kb, bw))
                            t_a += ta
                            t_e += te
                            acc[0] += n * a["total_cycles"]
                            acc[1] += n * e["total_cycles"]
                            acc[2] += n * sum(a[f] for f in FIELDS[1:])
                            acc[3] += n * sum(e[f] for f in FIELDS[1:])
                        errs["cycles"].append(_rel(acc[0], acc[1]))
                        errs["dram"].append(_rel(acc[2], acc[3]))
    if verbose:
        print(f"[networks] {len(errs['cycles'])} whole-network runs ({', '.join(units)} x arrays {arrays} x "
              f"{'/'.join(DATAFLOWS)} x {sram_kb} kB x bandwidths {bandwidths}; "
              f"{skipped} skipped: replay over budget); "
              f"analytic {t_a:.1f} s, exact {t_e:.1f} s")
        for f, xs in errs.items():
            print(f"  per network    {f:18s} median {100 * _pct(xs, .5):7.3f}%  p90 {100 * _pct(xs, .9):7.3f}%  "
                  f"worst {100 * max(xs):8.3f}%")
    return errs


def _space(arch: str, workload: str, bws, memory_model: str, dataflows=("os", "ws", "is")):
    from accelsim.dse import Grid, Space, Zip

    return Space(base={"arch": arch, "workload": workload},
                 axes=[Zip({"arch.dram.ifmap_bw": list(bws), "arch.dram.filter_bw": list(bws),
                            "arch.dram.ofmap_bw": list(bws)}),
                       Grid({"arch.memory_model": [memory_model], "arch.array.dataflow": list(dataflows)})])


def _clear() -> None:
    from accelsim.dse.evaluate import clear_caches
    from accelsim.hw.systolic import model as sm

    clear_caches()
    sm.clear_memos()


def sweep_speed(arch: str, workload: str, bws, repeats: int) -> None:
    """Cold bandwidth sweeps, analytic and exact alternating; medians of ``repeats`` runs each."""
    import numpy as np

    import accelsim

    for mm in ("analytic", "exact"):  # imports, JIT
        accelsim.sweep(_space(arch, "lenet5", [bws[0]], mm), progress=False)
        accelsim.sweep(_space(arch, workload, [bws[0]], mm, ("os",)), progress=False)
    times = {"analytic": [], "exact": []}
    loads = []
    tables = {}
    for _ in range(repeats):
        for mm in ("analytic", "exact"):
            _clear()
            loads.append(os.getloadavg()[0])
            t0 = time.perf_counter()
            df = accelsim.sweep(_space(arch, workload, bws, mm), progress=False)
            times[mm].append(time.perf_counter() - t0)
            assert (df["status"] == "ok").all(), df[df["status"] != "ok"]["error"].iloc[0]
            tables[mm] = df
    evals = int(tables["analytic"]["num_layers"].sum())
    from accelsim.hw.systolic.model import layer_units
    from accelsim.workload.zoo import load_workload

    mapped = sum(layer_units(layer, 1) is not None for layer in load_workload(workload)) * len(tables["analytic"])
    ta, te = statistics.median(times["analytic"]), statistics.median(times["exact"])
    print(f"[sweep] {workload} on {arch} (USER mode), bandwidths {list(bws)} words/cycle on all three streams: "
          f"{len(tables['analytic'])} points, {evals} layer evaluations per sweep, cold (memos cleared), one core; "
          f"(the slide events are computed once per layer and dataflow and reused across bandwidths); "
          f"load average during the runs {min(loads):.2f}-{max(loads):.2f}")
    print(f"  analytic (§8.8): median {ta:7.3f} s -> {evals / ta:10,.0f} evals/s   runs: "
          + ", ".join(f"{t:.3f}" for t in times["analytic"]))
    print(f"  exact replay:    median {te:7.3f} s -> {evals / te:10,.0f} evals/s   runs: "
          + ", ".join(f"{t:.3f}" for t in times["exact"]))
    print(f"  analytic / exact speed: {te / ta:.1f}x (medians); layers on the array: {mapped} per sweep, "
          f"{mapped / ta:,.0f} / s analytic, {mapped / te:,.0f} / s exact")
    a, e = tables["analytic"], tables["exact"]
    for col in ("cycles", "dram_read_bytes", "dram_write_bytes", "energy_j"):
        rel = np.abs(a[col].to_numpy(float) / e[col].to_numpy(float) - 1)
        print(f"  analytic vs exact {col:17s}: median {100 * np.median(rel):.4f}%  worst {100 * rel.max():.4f}%")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--skip-agreement", action="store_true")
    ap.add_argument("--networks", action="store_true", help="also compare whole networks per config (minutes)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--arch", default="edge-32x32", help="a USER-mode systolic config")
    ap.add_argument("--workload", default="resnet18")
    ap.add_argument("--bws", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128])
    args = ap.parse_args(argv)
    print(f"cores: {os.cpu_count()}  load average: {'/'.join(f'{x:.2f}' for x in os.getloadavg())}  "
          f"python {sys.version.split()[0]}")
    if not args.skip_agreement:
        agreement(args.cases, args.seed)
    if args.networks:
        network_agreement()
    if not args.skip_sweep:
        sweep_speed(args.arch, args.workload, args.bws, args.repeats)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
