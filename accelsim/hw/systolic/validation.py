"""SCALE-Sim 3.0.0 agreement checks for ``accelsim validate`` and the tests.

The references are SCALE-Sim's own report CSVs, generated once by
``tests/data/scalesim/make_reference.py`` (SCALE-Sim 3.0.0 in its own venv) and committed with
their cfg and topology inputs. Each case is one cfg + one topology; every layer is run through
:func:`accelsim.hw.systolic.model.run_geometry` and compared field by field. One :class:`Check`
per case and metric carries the sums over the layers and passes only if **every** layer matches
exactly (utilisation percentages to 1e-9).
"""

from __future__ import annotations

from pathlib import Path

from accelsim.paths import DATA_ROOT

REF_DIR = DATA_ROOT / "tests" / "data" / "scalesim"
SOURCE = "SCALE-Sim 3.0.0 reports, tests/data/scalesim/reports (make_reference.py)"

# (report file, column, key in run_geometry's dict)
COMPUTE = "COMPUTE_REPORT.csv"
DETAIL = "DETAILED_ACCESS_REPORT.csv"
METRICS = (
    (COMPUTE, "Total Cycles", "total_cycles"),
    (COMPUTE, "Stall Cycles", "stall_cycles"),
    (COMPUTE, "Total Cycles (incl. prefetch)", "total_cycles_incl_prefetch"),
    (DETAIL, "SRAM IFMAP Reads", "ifmap_sram_reads"),
    (DETAIL, "SRAM Filter Reads", "filter_sram_reads"),
    (DETAIL, "SRAM OFMAP Writes", "ofmap_sram_writes"),
    (DETAIL, "DRAM IFMAP Reads", "ifmap_dram_reads"),
    (DETAIL, "DRAM Filter Reads", "filter_dram_reads"),
    (DETAIL, "DRAM OFMAP Writes", "ofmap_dram_writes"),
    (DETAIL, "SRAM IFMAP Start Cycle", "ifmap_sram_start"),
    (DETAIL, "SRAM IFMAP Stop Cycle", "ifmap_sram_stop"),
    (DETAIL, "SRAM Filter Start Cycle", "filter_sram_start"),
    (DETAIL, "SRAM Filter Stop Cycle", "filter_sram_stop"),
    (DETAIL, "SRAM OFMAP Start Cycle", "ofmap_sram_start"),
    (DETAIL, "SRAM OFMAP Stop Cycle", "ofmap_sram_stop"),
    (DETAIL, "DRAM IFMAP Start Cycle", "ifmap_dram_start"),
    (DETAIL, "DRAM IFMAP Stop Cycle", "ifmap_dram_stop"),
    (DETAIL, "DRAM Filter Start Cycle", "filter_dram_start"),
    (DETAIL, "DRAM Filter Stop Cycle", "filter_dram_stop"),
    (DETAIL, "DRAM OFMAP Start Cycle", "ofmap_dram_start"),
    (DETAIL, "DRAM OFMAP Stop Cycle", "ofmap_dram_stop"),
)
PERCENT = (
    (COMPUTE, "Overall Util %", "overall_util"),
    (COMPUTE, "Mapping Efficiency %", "mapping_efficiency"),
    (COMPUTE, "Compute Util %", "compute_utilization"),
)
BANDWIDTH = "BANDWIDTH_REPORT.csv"
#: SCALE-Sim 3.0.0's bandwidth report (``single_layer_sim.calc_report_data``): SRAM accesses over the layer's total
#: cycles, DRAM words over the cycles from the buffer's first to its last DRAM access, both ends included (words a
#: cycle)
BANDWIDTH_COLUMNS = (
    ("Avg IFMAP SRAM BW", "ifmap_sram_reads", None), ("Avg FILTER SRAM BW", "filter_sram_reads", None),
    ("Avg OFMAP SRAM BW", "ofmap_sram_writes", None), ("Avg IFMAP DRAM BW", "ifmap_dram_reads", "ifmap_dram"),
    ("Avg FILTER DRAM BW", "filter_dram_reads", "filter_dram"), ("Avg OFMAP DRAM BW", "ofmap_dram_writes", "ofmap_dram"),
)
FLOAT_COLUMNS = frozenset(col for _, col, _ in PERCENT) | frozenset(col for col, _, _ in BANDWIDTH_COLUMNS)
QUICK = ("a8_os_user_tiny", "r4x12_ws_user", "r4x12_is_user_gemm", "a8_is_calc", "r12x4_os_calc_small")


def bandwidth_values(run) -> dict[str, float]:
    """SCALE-Sim's bandwidth report of one unit (words a cycle, :data:`BANDWIDTH_COLUMNS`) from its report values
    (:func:`~accelsim.hw.systolic.model.run_geometry`)."""
    out = {}
    for col, key, span in BANDWIDTH_COLUMNS:
        cycles = run["total_cycles"] if span is None else run[f"{span}_stop"] - run[f"{span}_start"] + 1
        out[col] = run[key] / cycles
    return out


def read_report(path: Path) -> list[dict[str, str]]:
    """A SCALE-Sim report CSV (every line ends with a trailing comma) as a list of row dicts."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    header = [h.strip() for h in lines[0].split(",") if h.strip()]
    return [dict(zip(header, (c.strip() for c in line.split(",")))) for line in lines[1:]]


def read_topology(path: Path, gemm: bool):
    """Unit geometries of a SCALE-Sim topology CSV (conv or GEMM form), in LayerID order."""
    from accelsim.hw.systolic.model import Geometry

    out = []
    for line in path.read_text().splitlines()[1:]:
        if not line.strip():
            continue
        e = [x.strip() for x in line.split(",")[:-1]]
        if gemm:
            out.append((e[0], Geometry.gemm(int(e[1]), int(e[2]), int(e[3]))))
        elif "DP" in e[0]:  # SCALE-Sim's depthwise row: one single-channel layer per channel (io_scalesim's rule)
            out.extend((e[0], Geometry.conv(int(e[1]), int(e[2]), int(e[3]), int(e[4]), 1, int(e[6]), int(e[7])))
                       for _ in range(int(e[5])))
        else:
            out.append((e[0], Geometry.conv(int(e[1]), int(e[2]), int(e[3]), int(e[4]), int(e[5]), int(e[6]), int(e[7]))))
    return out


def cases() -> list[dict]:
    """Every committed reference case: name, cfg path, topology path, gemm flag, report dir."""
    rep = REF_DIR / "reports"
    if not rep.is_dir():
        return []
    out = []
    for d in sorted(rep.iterdir()):
        info = dict(line.split("=", 1) for line in (d / "case.txt").read_text().split())
        out.append({"name": d.name, "cfg": REF_DIR / info["cfg"], "topology": REF_DIR / info["topology"],
                    "gemm": info["gemm"] == "True", "reports": d})
    return out


def compare_case(case: dict) -> dict[str, tuple[list[float], list[float]]]:
    """``{column: (SCALE-Sim values per layer, accelsim values per layer)}`` for one case."""
    from accelsim.hw.registry import load_arch
    from accelsim.hw.systolic.model import run_geometry

    cfg = load_arch(str(case["cfg"]))
    layers = read_topology(case["topology"], case["gemm"])
    reports = {name: read_report(case["reports"] / name) for name in (COMPUTE, DETAIL, BANDWIDTH)}
    runs = [run_geometry(cfg, g) for _, g in layers]
    out: dict[str, tuple[list[float], list[float]]] = {}
    for rep, col, key in METRICS:
        out[col] = ([int(float(r[col])) for r in reports[rep]], [run[key] for run in runs])
    for rep, col, key in PERCENT:
        out[col] = ([float(r[col]) for r in reports[rep]], [100.0 * run[key] for run in runs])
    bandwidths = [bandwidth_values(run) for run in runs]
    for col, _, _ in BANDWIDTH_COLUMNS:
        out[col] = ([float(r[col]) for r in reports[BANDWIDTH]], [bw[col] for bw in bandwidths])
    return out


def checks(quick: bool = False):
    from accelsim.checks import Check

    result = []
    for case in cases():
        if quick and case["name"] not in QUICK:
            continue
        for col, (ref, pred) in compare_case(case).items():
            if col in FLOAT_COLUMNS:
                same = len(ref) == len(pred) and all(abs(a - b) <= 1e-9 * max(1.0, abs(a)) for a, b in zip(ref, pred))
                ref_v, pred_v = sum(ref) / len(ref), sum(pred) / len(pred)
                item = f"{case['name']}: {col} (mean of {len(ref)} layers; every layer equal)"
            else:
                same = ref == pred
                ref_v, pred_v = float(sum(ref)), float(sum(pred))
                item = f"{case['name']}: {col} (sum of {len(ref)} layers; every layer equal)"
            result.append(Check("systolic", item, ref_v, pred_v, unit="%" if col.endswith("%") else "",
                                rel_tol=0.0, source=SOURCE, ok_override=same))
    return result


# ------------------------------------------------------------------------------------------------
# Compression on a systolic array: FLOP reduction vs real cycle and energy change, per layer
# ------------------------------------------------------------------------------------------------
TABLE_RECIPES = ("magnitude-8", "2of4-int8", "channel50")


def compression_table(workload: str = "resnet50", arch: str = "edge-32x32-2of4", recipes=TABLE_RECIPES,
                      seed: int = 0, overrides=None) -> tuple[list[dict], dict]:
    """Per-layer rows ``{layer, macs, <recipe>: (flop_x, cycle_x, energy_x)}`` and network totals.

    ``flop_x`` = dense MACs / MACs the compressed layer really needs (kept weights, or the smaller
    layer after channel pruning); ``cycle_x`` / ``energy_x`` = dense / compressed cycles and energy
    of the same layer on ``arch``. Values > 1 are reductions. Batch 1; the dense run is the
    uncompressed workload on the same config (built here from the model, layer by layer).
    """
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.compress.recipe import compress
    from accelsim.hw.registry import build_model, load_arch
    from accelsim.workload.zoo import load_workload

    model = build_model(load_arch(arch, overrides))
    graph = load_workload(workload)
    results = {r: [model.simulate(cl, 1) for cl in compress(graph, r, seed=seed)] for r in recipes}
    dense = [model.simulate(cl, 1) for cl in CompressedGraph.dense(graph)]
    rows = []
    totals = {}
    for d in dense:
        if d.macs == 0:
            continue
        row = {"layer": d.name, "macs": d.macs}
        for r, res in results.items():
            c = next((lr for lr in res if lr.name == d.name), None)
            if c is None:
                row[r] = None
                continue
            need = c.effective_macs if c.macs else 0
            row[r] = (d.macs / need if need else float("inf"), d.cycles / c.cycles if c.cycles else float("inf"),
                      d.energy_j / c.energy_j if c.energy_j else float("inf"))
        rows.append(row)
    dt = _sums(dense)
    for r, res in results.items():
        t = _sums(res)
        totals[r] = (dt["macs"] / t["effective_macs"], dt["cycles"] / t["cycles"], dt["energy_j"] / t["energy_j"])
    totals["dense"] = (dt["macs"], dt["cycles"], dt["energy_j"])
    return rows, totals


def _sums(layers) -> dict:
    """Network totals of per-layer results, summed in layer order: dense ``macs``, ``effective_macs``,
    ``cycles`` and ``energy_j`` (J)."""
    return {key: sum(getattr(lr, key) for lr in layers) for key in ("macs", "effective_macs", "cycles", "energy_j")}


def format_compression_table(rows, totals, recipes=TABLE_RECIPES) -> str:
    head = "| layer | dense MACs | " + " | ".join(f"{r}: FLOP / cycle / energy x" for r in recipes) + " |"
    sep = "|---|---:|" + "---|" * len(recipes)
    lines = [head, sep]
    for row in rows:
        cells = []
        for r in recipes:
            v = row.get(r)
            cells.append("-" if v is None else f"{v[0]:.2f} / {v[1]:.2f} / {v[2]:.2f}")
        lines.append(f"| {row['layer']} | {row['macs']:,} | " + " | ".join(cells) + " |")
    cells = [f"**{totals[r][0]:.2f} / {totals[r][1]:.2f} / {totals[r][2]:.2f}**" for r in recipes]
    lines.append("| **network** | " + f"{totals['dense'][0]:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m accelsim.hw.systolic.validation [arch] > table.md
    import sys

    arch = sys.argv[1] if len(sys.argv) > 1 else "edge-32x32-2of4"
    sets = sys.argv[2:]  # dotted overrides, e.g. dram.bandwidth_mode=CALC
    rows, totals = compression_table(arch=arch, overrides=sets or None)
    print(f"ResNet-50 on {arch} {' '.join(sets)}; dense: {totals['dense'][0]:,} MACs, {totals['dense'][1]:,} cycles, "
          f"{totals['dense'][2] * 1e3:.3f} mJ\n")
    print(format_compression_table(rows, totals))
