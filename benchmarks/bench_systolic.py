"""Benchmark: accelsim's systolic model vs SCALE-Sim 3.0.0 on the same layers, in one run.

    .venv/bin/python benchmarks/bench_systolic.py [--workload resnet50] [--arch scalesim-32x32-os]
        [--scalesim-python /work/ssvenv/bin/python] [--scalesim-budget 240]

1. The workload's conv / linear layers are written as a SCALE-Sim topology CSV (``save_scalesim_topology``:
   pre-padded ifmaps, so SCALE-Sim's ceil output size equals the layer's) and the arch as a .cfg.
2. accelsim simulates the whole CSV twice: once to JIT-compile, then timed with its per-run cache
   cleared (layers that repeat inside the network are still simulated once per run).
3. If a SCALE-Sim python is given and exists, SCALE-Sim (traces off) runs the layers with the
   fewest demand elements until ``--scalesim-budget`` seconds are used; their per-layer cycles are
   compared with accelsim's, and SCALE-Sim's time for the whole network is extrapolated from its
   seconds per demand element on the layers it ran (SCALE-Sim's cost is linear in the number of
   demand-matrix entries it walks). Both the measured same-layer ratio and the extrapolated
   whole-network ratio are printed; CPU time (process time) is used on both sides, so a loaded
   machine does not distort the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_RUNNER = r"""
import contextlib, io, json, os, sys, time
from scalesim.scale_sim import scalesim
cfg, topo, layout, out = sys.argv[1:5]
t0 = time.process_time()
s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout, input_type_gemm=False)
with contextlib.redirect_stdout(io.StringIO()):
    s.run_scale(top_path=out)
print(json.dumps({"cpu_s": time.process_time() - t0}))
"""


def write_cfg(config, path: Path) -> None:
    s, d = config.sram, config.dram
    path.write_text(f"""[general]
run_name = bench
[architecture_presets]
ArrayHeight: {config.rows}
ArrayWidth: {config.cols}
IfmapSramSzkB: {s.ifmap_kb}
FilterSramSzkB: {s.filter_kb}
OfmapSramSzkB: {s.ofmap_kb}
IfmapOffset: {s.ifmap_offset}
FilterOffset: {s.filter_offset}
OfmapOffset: {s.ofmap_offset}
Bandwidth : {d.ofmap_bw}
Dataflow : {config.dataflow}
ReadRequestBuffer: {d.read_request_buffer}
WriteRequestBuffer: {d.write_request_buffer}
[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {d.ifmap_bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {d.filter_bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2
[sparsity]
SparsitySupport : false
[run_presets]
InterfaceBandwidth: {d.bandwidth_mode}
UseRamulatorTrace: False
""")


def accelsim_run(config, graph):
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.hw.registry import build_model
    from accelsim.hw.systolic import model as M

    model = build_model(config)
    layers = list(CompressedGraph.dense(graph))
    M.scalesim_unit.cache_clear()
    w0, c0 = time.perf_counter(), time.process_time()
    results = [model.simulate(cl, 1) for cl in layers]
    return results, time.perf_counter() - w0, time.process_time() - c0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="accelsim systolic model vs SCALE-Sim 3.0.0")
    ap.add_argument("--workload", default="resnet50")
    ap.add_argument("--arch", default="scalesim-32x32-os")
    ap.add_argument("--scalesim-python", default="/work/ssvenv/bin/python")
    ap.add_argument("--scalesim-budget", type=float, default=240.0, help="CPU seconds SCALE-Sim may use")
    ap.add_argument("--max-layers", type=int, default=4, help="at most this many layers through SCALE-Sim")
    args = ap.parse_args(argv)

    from accelsim.hw.registry import load_arch
    from accelsim.hw.systolic.model import closed_form, layer_units
    from accelsim.workload.io_scalesim import save_scalesim_topology
    from accelsim.workload.zoo import load_workload

    config = load_arch(args.arch)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        topo = save_scalesim_topology(load_workload(args.workload), tmp / "topo.csv")
        graph = load_workload(str(topo))
        cfg_path = tmp / "bench.cfg"
        write_cfg(config, cfg_path)

        accelsim_run(config, graph)  # JIT warm-up
        results, wall, cpu = accelsim_run(config, graph)
        names = graph.metadata.get("scalesim_layers") or [r.name for r in results]
        by_name = {r.name: r for r in results}
        cycles_total = sum(r.cycles for r in results)
        print(f"workload {args.workload}: {len(results)} layers on {config.name} ({config.rows}x{config.cols} {config.dataflow}, "
              f"{config.dram.bandwidth_mode})")
        print(f"accelsim: whole network {wall * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms CPU after JIT warm-up; "
              f"{cycles_total:,} cycles")

        # demand elements per layer (what SCALE-Sim walks): ifmap + filter + ofmap demand entries
        demand = {}
        for layer in graph.compute_layers():
            units = layer_units(layer, 1)
            if units is None:
                continue
            cf = closed_form(config.dataflow, config.rows, config.cols, units[0])
            rows = cf["folds"] * cf["cycles_per_fold"]
            demand[layer.name] = rows * (2 * config.cols + config.rows) * units[1]
        total_demand = sum(demand.values())

        py = Path(args.scalesim_python)
        if not py.exists():
            print(f"SCALE-Sim: not run ({py} not found)")
            return 0
        order = sorted(demand, key=demand.get)
        chosen, ss_cpu, ss_demand = [], 0.0, 0
        layout = tmp / "layout.csv"
        layout.write_text("Layer name, unused,\n")
        header, *rows = topo.read_text().splitlines()
        row_of = {line.split(",")[0].strip(): line for line in rows if line.strip()}
        runner = tmp / "runner.py"
        runner.write_text(_RUNNER)
        matches = []
        seen_rows = set()
        for name in order:
            if len(chosen) >= args.max_layers or ss_cpu >= args.scalesim_budget:
                break
            shape = tuple(x.strip() for x in row_of[name].split(",")[1:])
            if shape in seen_rows:
                continue  # an identical layer: SCALE-Sim would give the same numbers
            seen_rows.add(shape)
            one = tmp / f"one_{len(chosen)}.csv"
            one.write_text(header + "\n" + row_of[name] + "\n")
            out_dir = tmp / f"out_{len(chosen)}"
            out_dir.mkdir()
            proc = subprocess.run([str(py), str(runner), str(cfg_path), str(one), str(layout), str(out_dir)],
                                  capture_output=True, text=True, timeout=max(60, 4 * args.scalesim_budget))
            if proc.returncode != 0:
                print(f"SCALE-Sim failed on {name}: {proc.stderr.strip().splitlines()[-1:]}")
                break
            ss_cpu += json.loads(proc.stdout.strip().splitlines()[-1])["cpu_s"]
            ss_demand += demand[name]
            rep = (out_dir / "bench" / "COMPUTE_REPORT.csv").read_text().splitlines()[1].split(",")
            ref_total, ref_stall = int(rep[2]), int(rep[3])
            got = by_name[name]
            matches.append(got.cycles == ref_total and got.stall_cycles == ref_stall)
            chosen.append(name)
            print(f"  {name:28s} SCALE-Sim {ref_total:>10,} cycles ({ref_stall:,} stall)  accelsim {got.cycles:>10,} "
                  f"({got.stall_cycles:,})  {'match' if matches[-1] else 'DIFFERENT'}")
        if not chosen:
            return 0
        # accelsim time on exactly those layers
        from accelsim.compress.compressed import CompressedLayer
        from accelsim.hw.registry import build_model
        from accelsim.hw.systolic import model as M

        model = build_model(config)
        layers = {layer.name: layer for layer in graph.compute_layers()}
        M.scalesim_unit.cache_clear()
        c0 = time.process_time()
        for n in chosen:
            model.simulate(CompressedLayer(layer=layers[n]), 1)
        sub_cpu = max(time.process_time() - c0, 1e-6)
        est_total = ss_cpu / ss_demand * total_demand
        print(f"cycles identical on the {len(chosen)} layers SCALE-Sim ran: {all(matches)}")
        print(f"same layers: SCALE-Sim {ss_cpu:.1f} s CPU, accelsim {sub_cpu * 1e3:.2f} ms CPU -> {ss_cpu / sub_cpu:,.0f}x")
        print(f"whole network (SCALE-Sim extrapolated from {ss_demand / total_demand:.2%} of its demand entries): "
              f"SCALE-Sim ~{est_total / 60:.0f} min CPU, accelsim {cpu * 1e3:.0f} ms CPU -> ~{est_total / cpu:,.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
