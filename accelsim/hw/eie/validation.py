"""Reproduction of the EIE paper (Han et al., ISCA 2016) by the EIE model; backs tests and ``accelsim validate``.

All nine benchmark layers run under ONE config (``arch_configs/eie/eie.yaml``) with no per-layer
parameter. Reference numbers are copied here with their table; results and discussion are in
``docs/validation.md (EIE section)``.
"""

from __future__ import annotations

import functools

import numpy as np

from accelsim.checks import Check

AREA = "eie"
SOURCE = "Han et al., EIE, ISCA 2016"
LAYERS = ("Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM")

# Table III weight density (%) and Table IV EIE latency (us): theoretical and actual (64 PE, 800 MHz).
WEIGHT_DENSITY = {"Alex-6": 0.09, "Alex-7": 0.09, "Alex-8": 0.25, "VGG-6": 0.04, "VGG-7": 0.04, "VGG-8": 0.23,
                  "NT-We": 0.10, "NT-Wd": 0.11, "NT-LSTM": 0.10}
LATENCY_ACTUAL_US = {"Alex-6": 30.3, "Alex-7": 12.2, "Alex-8": 9.9, "VGG-6": 34.4, "VGG-7": 8.7, "VGG-8": 8.4,
                     "NT-We": 8.0, "NT-Wd": 13.9, "NT-LSTM": 7.5}
LATENCY_THEORETICAL_US = {"Alex-6": 28.1, "Alex-7": 11.7, "Alex-8": 8.9, "VGG-6": 28.1, "VGG-7": 7.9, "VGG-8": 7.3,
                          "NT-We": 5.2, "NT-Wd": 13.0, "NT-LSTM": 6.5}
LATENCY_GOAL_TOL = 0.10  # issue 5 goal for every layer
LATENCY_BOUND_TOL = 0.20  # what the tests enforce per layer (two layers miss the goal; see the doc)
LATENCY_MAE_TOL = 0.10  # mean absolute error the tests enforce
# layers known to miss the 10% latency goal, with the reason (docs/validation.md, EIE, "Where it misses")
KNOWN_LATENCY_MISSES = {
    "Alex-8": "shape and densities equal VGG-8's (hit within 1%); the paper's 1.2x gap between the two lies in the "
              "real AlexNet FC8 pattern, which uniform random pruning cannot reproduce (docs/validation.md, EIE)",
    "VGG-6": "the paper spends 6.0 cycles per broadcast column on VGG-6 but 4.5 on VGG-7 at equal work; a one-position "
             "LNZD scan that would fit it breaks the 256-PE scaling (docs/validation.md, EIE)",
    "NT-LSTM": "-10.03%, just outside: our load balance (0.928) beats the paper's implied 0.867; the broadcast/credit "
               "latency that would close it is not published (docs/validation.md, EIE)",
}

# Table II (one PE, 45 nm, 800 MHz) and Table V / Sec. I totals.
PE_POWER_MW = 9.157
MODULE_POWER_MW = {"spmat_read": 4.955, "ptr_read": 1.807, "arithm_unit": 1.162, "act_rw": 1.122}
PE_AREA_UM2 = 638024.0
CHIP_AREA_MM2 = {"eie": 40.8, "eie-256pe-28nm": 63.8}
CHIP_POWER_W = 0.59
PEAK_GOPS = 102.0  # Sec. VI: 64 PE x 800 MHz x 2 ops
SPEEDUP_256_VS_64 = 3.25  # Sec. VIII
AREA_TOL = 0.10
POWER_TOL = 0.40  # total PE power: the spmat line-read count exceeds the paper's 1-per-8-cycles (doc)
MODULE_TOL = 0.50  # per module; spmat is the outlier (+40%: line-read count vs the 1-per-8-cycles derivation)
QUEUE1_TOL = 0.30  # "about half" idle at depth 1
SPEEDUP_TOL = 0.15

# our model's components summed into the paper's Table II modules
MODULES = {"spmat_read": ("spmat",), "ptr_read": ("ptr",), "arithm_unit": ("alu", "codebook"),
           "act_rw": ("act_regs", "act_sram")}

SMALL = ("Alex-8", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM")  # the quick subset (1/10 of the weights)


@functools.lru_cache(maxsize=4)
def benchmark_layers(seed: int = 0, names: tuple[str, ...] = LAYERS):
    """The compressed benchmark layers: workload and recipe ``eie-benchmarks`` (seeded).

    Only the named layers are compressed (weights and patterns are seeded per layer, so a subset
    gets exactly the layers of the full set).
    """
    from accelsim.compress.recipe import compress, recipe_from_dict
    from accelsim.config import read_yaml_file
    from accelsim.paths import RECIPE_DIR
    from accelsim.workload.graph import LayerGraph
    from accelsim.workload.zoo import load_workload

    full = load_workload("eie-benchmarks")
    graph = LayerGraph(full.name, full.source)
    for name in names:
        inp = full.inputs_of(name)[0]
        graph.add(full.layer(inp))
        graph.add(full.layer(name), [inp])
        graph.set_activation_density(name, full.input_density(name))
    path = RECIPE_DIR / "eie-benchmarks.yaml"
    data = read_yaml_file(path)
    data["overrides"] = {k: v for k, v in (data.get("overrides") or {}).items() if k in names}
    cg = compress(graph, recipe_from_dict(data, str(path)), seed=seed)
    return tuple(cg[name] for name in names)


def run(arch="eie", overrides=None, layers=None, seed: int = 0) -> dict:
    """name -> LayerResult for the benchmark layers (all, or ``layers``) on one config."""
    from accelsim.hw.registry import build_model, load_arch

    model = build_model(load_arch(arch, overrides))
    names = tuple(layers or LAYERS)
    return {cl.name: model.simulate(cl) for cl in benchmark_layers(seed, names)}


def latency_errors(results) -> dict[str, float]:
    return {n: r.latency_s * 1e6 / LATENCY_ACTUAL_US[n] - 1 for n, r in results.items()}


def module_power_mw(results, n_pe: int) -> dict[str, float]:
    """Average per-PE power (mW) of Table II's modules over the given results."""
    seconds = sum(r.latency_s for r in results.values())
    out = {}
    for module, comps in MODULES.items():
        joules = sum(r.extra["energy_by_component_j"].get(c, 0.0) for r in results.values() for c in comps)
        out[module] = joules / seconds / n_pe * 1e3
    return out


def queue_depth_sweep(depths=(1, 2, 4, 8, 16, 32, 64, 128, 256), layers=None) -> dict[int, dict[str, float]]:
    """depth -> layer -> load-balance efficiency (Fig. 8)."""
    return {d: {n: r.extra["load_balance_efficiency"] for n, r in run(overrides={"queue_depth": d}, layers=layers).items()}
            for d in depths}


UNBOUNDED_SRAM = {"spmat.capacity_bytes": 1 << 40, "ptr.capacity_bytes": 1 << 40, "act_sram.capacity_bytes": 1 << 40}


def pe_sweep(pes=(1, 2, 4, 8, 16, 32, 64, 128, 256), layers=None) -> dict[int, dict[str, int]]:
    """PE count -> layer -> cycles (Fig. 11); speedup(P) = cycles(P0) / cycles(P).

    As in the paper's scalability study every layer is held on chip: SRAM capacities are made
    non-binding so that the sweep measures compute and load balance, not DRAM refills.
    """
    return {p: {n: r.cycles for n, r in run(overrides={"n_pe": p, **UNBOUNDED_SRAM}, layers=layers).items()}
            for p in pes}


def checks(quick: bool = False) -> list[Check]:
    """The EIE paper's figures against the model (``quick``: the five small layers, fewer sweep points).

    Quick mode never loosens a tolerance: every check it produces has the full run's kind and
    tolerance; the 256-vs-64-PE throughput ratio, a figure of the whole nine-layer suite, is left out.
    """
    from accelsim.hw.registry import build_model, load_arch

    out: list[Check] = []
    names = SMALL if quick else LAYERS
    res = run(layers=names)
    errs = latency_errors(res)
    for n in names:
        out.append(Check(AREA, f"{n} latency (64 PE, 800 MHz)", LATENCY_ACTUAL_US[n], res[n].latency_s * 1e6, "us",
                         LATENCY_GOAL_TOL, SOURCE + ", Table IV actual", known=KNOWN_LATENCY_MISSES.get(n)))
    mae = float(np.mean([abs(e) for e in errs.values()]))
    out.append(Check(AREA, f"latency mean absolute error ({len(names)} layers)", 0.0, mae, "fraction", None,
                     SOURCE + ", Table IV", ok_override=mae <= LATENCY_MAE_TOL))
    for n in names:  # the paper's workload / peak column vs stored entries (padding included) / (P f)
        work_us = res[n].extra["entries_processed"] / (64 * 800e6) * 1e6
        out.append(Check(AREA, f"{n} theoretical time = stored entries / (P f) (reported only)",
                         LATENCY_THEORETICAL_US[n], work_us, "us", None, SOURCE + ", Table IV theoretical"))
    cfg = load_arch("eie")
    model = build_model(cfg)
    out.append(Check(AREA, "peak throughput on the compressed net", PEAK_GOPS, model.peak_ops_per_s / 1e9, "GOP/s", 0.01,
                     SOURCE + ", Sec. VI"))
    # energy and area (Table II, Table V)
    seconds = sum(r.latency_s for r in res.values())
    joules = sum(r.energy_j - r.extra["energy_by_component_j"].get("broadcast", 0.0)
                 - r.extra["energy_by_component_j"].get("lnzd", 0.0) for r in res.values())
    pe_mw = joules / seconds / cfg.n_pe * 1e3
    out.append(Check(AREA, f"PE power, {len(names)}-layer average (Table II total)", PE_POWER_MW, pe_mw, "mW", POWER_TOL,
                     SOURCE + ", Table II"))
    for module, mw in module_power_mw(res, cfg.n_pe).items():
        out.append(Check(AREA, f"PE power: {module}", MODULE_POWER_MW[module], mw, "mW", MODULE_TOL, SOURCE + ", Table II"))
    chip_w = sum(r.energy_j for r in res.values()) / seconds
    out.append(Check(AREA, "chip power, 64 PE incl. broadcast network (reported only)", CHIP_POWER_W, chip_w, "W", None,
                     SOURCE + ", Sec. I / Table V"))
    out.append(Check(AREA, "PE area", PE_AREA_UM2, model.pe_area().total_mm2 * 1e6, "um^2", AREA_TOL,
                     SOURCE + ", Table II"))
    for name, ref in CHIP_AREA_MM2.items():
        m = build_model(load_arch(name))
        out.append(Check(AREA, f"chip area {name}", ref, m.area().total_mm2, "mm^2", AREA_TOL, SOURCE + ", Table V"))
    # load balance vs queue depth (Fig. 8)
    qd = queue_depth_sweep((1, 8, 256) if quick else (1, 2, 4, 8, 16, 32, 64, 128, 256), names)
    mean = {d: float(np.mean(list(v.values()))) for d, v in qd.items()}
    out.append(Check(AREA, "load-balance efficiency at queue depth 1 (about half idle)", 0.5, mean[1], "fraction",
                     QUEUE1_TOL, SOURCE + ", Sec. VI-C, Fig. 8"))
    gain_8_256 = mean[256] - mean[8]
    out.append(Check(AREA, "efficiency gain from depth 8 to 256 (little)", 0.0, gain_8_256, "fraction", None,
                     SOURCE + ", Fig. 8", ok_override=0.0 <= gain_8_256 <= 0.06 and mean[8] - mean[1] > 0.3))
    # scalability (Fig. 11, Sec. VIII)
    cyc = pe_sweep((16, 64, 256) if quick else (1, 2, 4, 8, 16, 32, 64, 128, 256), names)
    if not quick:  # the paper's figure is over all nine layers: the quick subset (2.66x) is not that figure
        ratio = sum(cyc[64].values()) / sum(cyc[256].values())
        out.append(Check(AREA, f"throughput 256 PE / 64 PE ({len(names)} layers)", SPEEDUP_256_VS_64, ratio, "x",
                         SPEEDUP_TOL, SOURCE + ", Sec. VIII"))
    lo = min(cyc)
    eff = {n: cyc[lo][n] / cyc[256][n] / (256 / lo) for n in names}
    for n in names:
        out.append(Check(AREA, f"{n} scaling efficiency {lo}->256 PE (reported only)", 1.0, eff[n], "fraction", None,
                         SOURCE + ", Fig. 11"))
    worst_other = min(v for n, v in eff.items() if n != "NT-We")
    out.append(Check(AREA, "NT-We scales worst (Fig. 11)", 0.0, eff["NT-We"] - worst_other, "fraction", None,
                     SOURCE + ", Fig. 11", ok_override=eff["NT-We"] < worst_other))
    near = {n: cyc[64][n] / cyc[256][n] for n in names if n != "NT-We"}
    out.append(Check(AREA, "all layers but NT-We speed up >= 2.5x from 64 to 256 PE", 4.0, min(near.values()), "x", None,
                     SOURCE + ", Fig. 11", ok_override=min(near.values()) >= 2.5))
    return out
