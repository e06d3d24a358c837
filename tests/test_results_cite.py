"""Results you can cite (issue 17): named baselines, per-sample and per-area figures, one meaning per
ratio, provenance, the validation error band and DRAM-refetch outliers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

import accelsim
from accelsim.report import uncertainty as U
from accelsim.report.results import dram_refetch, dtype_bits, refetch_summary
from accelsim.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def int8_runs():
    # TensorRT on the GPU: PyTorch's int8 paths are linear layers, so under its stacks ResNet-18's convolutions
    # stay bf16 and int8 gains nothing (tests/test_gpu_kernels.py)
    return {"edge-32x32": simulate("edge-32x32", "resnet18", recipe="int8"),
            "h100-sxm": simulate("h100-sxm", "resnet18", recipe="int8", overrides={"stack": "tensorrt"})}


# --- 1. stated baselines ------------------------------------------------------------------------------
def test_int8_speedups_name_their_baselines(int8_runs):
    sys_tot, gpu_tot = int8_runs["edge-32x32"].summary(), int8_runs["h100-sxm"].summary()
    # the array's native int8 is its dense baseline: no speedup; the GPU's dense baseline is bf16
    assert sys_tot["baseline"] == "dense int8 on edge-32x32" and sys_tot["speedup_vs_dense"] == pytest.approx(1.0)
    assert gpu_tot["baseline"] == "dense bf16 on h100-sxm" and 1.05 < gpu_tot["speedup_vs_dense"] < 1.4
    from accelsim.report.export import to_json

    for run in int8_runs.values():
        data = json.loads(to_json(run))
        assert data["total"]["baseline"] == run.baseline
        assert data["total"]["speedup_vs_dense"] == pytest.approx(run.summary()["speedup_vs_dense"])


def test_table_names_the_baseline_on_the_speedup_line(int8_runs):
    from accelsim.report.export import result_table

    text = result_table(int8_runs["h100-sxm"])
    line = next(ln for ln in text.splitlines() if ln.startswith("speedup_vs_dense"))
    assert "(baseline: dense bf16 on h100-sxm)" in line


def test_baseline_recipe_and_workload():
    res = simulate("edge-32x32", "lenet5", recipe="magnitude-8", baseline="int8")
    assert res.baseline == "recipe int8 on edge-32x32"
    direct = simulate("edge-32x32", "lenet5", recipe="int8", dense_baseline=False)
    assert res.summary()["speedup_vs_dense"] == pytest.approx(direct.total["latency_s"] / res.total["latency_s"])
    other = simulate("edge-32x32", "lenet5", recipe="int8", baseline_workload="lenet-300-100")
    assert other.baseline == "dense int8 lenet-300-100 on edge-32x32"


def test_baseline_that_cannot_run_is_said():
    res = simulate("eie", "eie-benchmarks", recipe="eie-benchmarks")
    tot = res.summary()
    assert tot.get("speedup_vs_dense") is None and "cannot run" in tot["baseline"]
    assert any(w.startswith("no speedup") and "--baseline" in w for w in res.all_warnings())


def test_codebook_wider_than_the_datapath_is_warned_with_the_fix():
    wide = simulate("edge-32x32", "lenet5", recipe={"name": "km4", "pipeline": [{"share": {"bits": 4}}]})
    assert wide.summary()["speedup_vs_dense"] < 0.9  # 32-bit table entries run bit-serially on 8-bit PEs
    assert any("codebook table of 32-bit entries" in w and "table_bits: 8" in w for w in wide.warnings)
    narrow = simulate("edge-32x32", "lenet5",
                      recipe={"name": "km4t8", "pipeline": [{"share": {"bits": 4, "table_bits": 8}}]})
    assert not any("codebook" in w for w in narrow.warnings)
    assert narrow.summary()["speedup_vs_dense"] == pytest.approx(1.0)


def test_dtype_bits():
    assert [dtype_bits(d) for d in ("int8", "bf16", "fp32", "int4", "fp8")] == [8, 16, 32, 4, 8]
    assert dtype_bits("bool") is None


# --- 2. per-sample and per-area figures ----------------------------------------------------------------
def test_per_sample_figures_and_figures_of_merit():
    one = simulate("a100-40gb", "resnet18", batch=1).summary()
    eight = simulate("a100-40gb", "resnet18", batch=8).summary()
    assert eight["energy_per_sample_j"] == pytest.approx(eight["energy_j"] / 8)
    assert eight["latency_per_sample_s"] == pytest.approx(eight["latency_s"] / 8)
    assert eight["throughput_per_s"] == pytest.approx(8 / eight["latency_s"])
    assert eight["edp"] == pytest.approx(eight["energy_per_sample_j"] * eight["latency_per_sample_s"])
    assert eight["perf_per_w"] == pytest.approx(8 / eight["energy_j"])
    assert eight["area_mm2"] == 826.0 and eight["area_source"].startswith("die area")
    assert eight["perf_per_mm2"] == pytest.approx(eight["throughput_per_s"] / 826.0)
    # batching amortizes: more energy per batch, less per inference
    assert eight["energy_j"] > one["energy_j"] and eight["energy_per_sample_j"] < one["energy_per_sample_j"]


def test_systolic_area_is_its_pes_and_srams():
    from accelsim.energy.tables import load_tech
    from accelsim.hw.registry import build_model, load_arch

    cfg = load_arch("edge-32x32")
    area = build_model(cfg).area()
    tech = load_tech(cfg.tech)
    n = cfg.rows * cfg.cols
    assert area.by_component["pe_mult"] == pytest.approx(n * tech.op_area_um2("mult", "int8") * 1e-6)
    assert area.by_component["ifmap_sram"] == pytest.approx(tech.sram_area_mm2(32 * 1024, 8))
    bigger = build_model(load_arch("edge-32x32", ["sram.ifmap_kb=64"])).area()
    assert bigger.total_mm2 > area.total_mm2
    res = simulate("edge-32x32", "lenet5")
    assert res.summary()["area_mm2"] == pytest.approx(area.total_mm2)


def test_gpu_die_areas_are_cited_and_unknown_ones_stay_empty():
    from accelsim.hw.registry import arch_names, load_arch

    for name in arch_names():
        cfg = load_arch(name)
        if cfg.family == "gpu" and cfg.die_area_mm2 is not None:
            assert "mm^2" in cfg.sources.get("die_area_mm2", ""), name
    tot = simulate("tegra-k1", "lenet-300-100").summary()
    assert tot["area_mm2"] is None and tot["perf_per_mm2"] is None and tot["perf_per_w"] > 0


# --- 3. one meaning per name ---------------------------------------------------------------------------
def test_storage_and_nnz_ratios_and_pruned_only_speedup():
    from accelsim.simulate import compress_workload
    from accelsim.workload.zoo import load_workload

    graph = load_workload("resnet18")
    i8 = compress_workload(graph, "int8").stats
    assert i8["theoretical_speedup"] == 1.0  # exactly: rounding to zero is not pruning
    assert i8["rounded_zeros"] > 0 and i8["nnz_ratio"] > 1.0  # ... the zeros are there, reported apart
    assert 3.9 < i8["storage_ratio"] < 4.0  # 32-bit dense over 8-bit payload + per-channel scales
    assert i8["compression_ratio"] == i8["storage_ratio"] and i8["shrinkbench_ratio"] == i8["nnz_ratio"]
    pruned = compress_workload(graph, "magnitude-8").stats
    assert pruned["theoretical_speedup"] == pytest.approx(8.0, rel=1e-3)
    assert pruned["nnz_ratio"] == pytest.approx(8.0, rel=1e-3)


def test_sweep_row_ratios_and_baseline_column():
    from accelsim.dse.evaluate import METRICS, SimulateEvaluator

    ev = SimulateEvaluator()
    row = ev({"arch": "h100-sxm", "workload": "lenet5", "recipe": "int8"})["row"]
    assert row["theoretical_speedup"] == 1.0
    assert row["speedup_baseline"] == "dense bf16 on h100-sxm"
    assert row["compression_ratio"] == row["nnz_ratio"]  # deprecated alias for one release
    for col in ("nnz_ratio", "storage_ratio", "energy_per_sample_j", "area_mm2", "perf_per_mm2", "perf_per_w",
                "speedup_baseline", "latency_error_median", "refetch_flag", "weights", "seed_matters"):
        assert col in METRICS and col in row, col
    assert row["area_mm2"] == 814.0 and row["perf_per_mm2"] == pytest.approx(row["throughput_per_s"] / 814.0)
    dense = ev({"arch": "edge-32x32", "workload": "lenet5"})["row"]
    assert dense["speedup_baseline"] == "dense int8 on edge-32x32" and dense["speedup_vs_dense"] == 1.0


def test_old_store_fingerprints_do_not_change():
    """A setting without baseline_workload fingerprints the same four files as before the key existed,
    so stores written then resume without recomputing."""
    from accelsim.dse.evaluate import FILE_KEYS, file_digests

    assert FILE_KEYS == ("arch", "workload", "recipe", "baseline")
    assert set(file_digests({"arch": "edge-32x32", "workload": "lenet5"})) == set(FILE_KEYS)
    with_wl = file_digests({"arch": "edge-32x32", "workload": "lenet5", "baseline_workload": "lenet5"})
    assert with_wl["baseline_workload"] == with_wl["workload"] is not None


# --- 5. provenance ---------------------------------------------------------------------------------------
def test_provenance_of_a_result(int8_runs):
    p = int8_runs["edge-32x32"].to_dict()["provenance"]
    assert p["accelsim_version"] == accelsim.__version__
    assert p["weights"] == "synthesized he_normal seed 0" and p["seed_matters"] is True
    assert p["workload_file"]["path"].endswith("resnet18.yaml") and len(p["workload_file"]["sha256"]) == 64
    assert p["recipe_file"]["path"].endswith("int8.yaml") and p["arch_file"]["path"].endswith("edge-32x32.yaml")
    assert p["activation_density"].startswith("1.0 everywhere") and p["command"]
    if (ROOT / ".git").exists():
        assert p["git_revision"] is None or len(p["git_revision"]) == 40


def test_seed_that_changes_nothing_is_warned():
    from accelsim.workload.zoo import load_workload

    graph = load_workload("lenet-300-100")
    rng = np.random.default_rng(0)
    for layer in graph.layers:
        if layer.has_weights:
            graph.set_weight(layer.name, rng.standard_normal(layer.weight_shape).astype(np.float32))
    res = simulate("edge-32x32", graph, recipe="magnitude-8", seed=3)
    assert res.provenance["seed_matters"] is False and res.provenance["weights"].startswith("loaded from")
    assert any(w.startswith("seed 3 cannot change this result") for w in res.warnings)
    random = simulate("edge-32x32", graph, seed=3,
                      recipe={"name": "rnd", "pipeline": [{"prune": {"method": "random", "density": 0.5}}]})
    assert random.provenance["seed_matters"] is True and not any("seed 3" in w for w in random.warnings)


def test_citation_file_matches_the_version():
    data = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert data["cff-version"] == "1.2.0" and data["version"] == accelsim.__version__ and data["title"]


# --- 6. uncertainty travels ------------------------------------------------------------------------------
def test_stored_error_bands_match_a_fresh_validate_run():
    fresh = U.compute()
    stored = U.stored()
    assert set(fresh) == set(stored), f"families changed: run {U.WRITE_COMMAND}"
    for family, bands in fresh.items():
        for metric, band in bands.items():
            old = stored[family][metric]
            if band is None or old is None:
                assert band == old, f"{family} {metric}: run {U.WRITE_COMMAND}"
                continue
            assert band["n"] == old["n"], f"{family} {metric}: run {U.WRITE_COMMAND}"
            for key in ("median_error", "worst_error"):
                assert math.isclose(band[key], old[key], rel_tol=1e-9, abs_tol=1e-12), \
                    f"{family} {metric} {key}: run {U.WRITE_COMMAND}"
            assert band["reference"] == old["reference"]


def test_results_carry_their_family_band(int8_runs):
    for arch, run in int8_runs.items():
        band = run.summary()["uncertainty"]
        family = run.arch["family"]
        assert band["n"] == U.stored()[family]["latency_s"]["n"] and 0 <= band["median_error"] <= band["worst_error"]
        assert band["checks"] == f"accelsim validate --quick --only {family}"
    assert int8_runs["edge-32x32"].summary()["uncertainty"]["worst_error"] == 0.0  # exact against SCALE-Sim ...
    assert "simulator" in int8_runs["edge-32x32"].summary()["uncertainty"]["note"]  # ... which is not silicon
    assert U.for_family("no-such-family") is None


def test_band_selection():
    from accelsim.checks import Check

    time = Check("x", "VGG-8 latency", 8.4, 8.0, "us", 0.1)
    theoretical = Check("x", "VGG-8 theoretical time", 7.3, 7.5, "us")
    cycles = Check("x", "a: Total Cycles (sum)", 100.0, 100.0, "", 0.0, ok_override=True)
    power = Check("x", "PE power", 9.0, 12.0, "mW", 0.4)
    assert U.select(time, "latency_s") and U.select(cycles, "latency_s")
    assert not U.select(theoretical, "latency_s") and not U.select(power, "latency_s")
    diagnostic = Check("x", "Edge TPU diagnostic: the model plus a measured input", 3.4, 3.5, "ms")
    assert not U.select(diagnostic, "latency_s")  # not the model's own prediction
    assert U.select(power, "energy_j") and not U.select(time, "energy_j")
    band = U.band([time, cycles, theoretical], "latency_s", "x")
    assert band["n"] == 2 and band["worst_error"] == pytest.approx(0.4 / 8.4)
    assert band["median_error"] == pytest.approx(0.2 / 8.4)


# --- 7. outliers explained -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mobilenet_sram():
    return {kb: simulate("edge-32x32", "mobilenet-v2", recipe="int8", overrides=[f"sram.ifmap_kb={kb}"])
            for kb in (24, 32)}


def test_mobilenet_32kb_point_is_flagged_with_its_refetch(mobilenet_sram):
    bad, good = refetch_summary(mobilenet_sram[32]), refetch_summary(mobilenet_sram[24])
    assert bad["refetch_flag"] and bad["refetch_layer"] == "features.1.dw"
    assert bad["refetch_layer_factor"] > 500 and bad["refetch_layer_latency_share"] > 0.5
    assert not good["refetch_flag"] and good["refetch_layer_factor"] < 150
    warn = [w for w in mobilenet_sram[32].all_warnings() if w.startswith("DRAM refetch")]
    assert len(warn) == 1 and "features.1.dw reads its ifmap" in warn[0] and "systolic.md" in warn[0]
    assert not any(w.startswith("DRAM refetch") for w in mobilenet_sram[24].all_warnings())


def test_layer_refetch_and_stall_fraction_in_json_and_csv(mobilenet_sram):
    from accelsim.report.export import to_csv

    res = mobilenet_sram[32]
    layer = next(x for x in res.to_dict()["layers"] if x["name"] == "features.1.dw")
    r = res.layer("features.1.dw")
    assert layer["dram_refetch"]["ifmap"] == pytest.approx(r.extra["dram_words"]["ifmap"] / (32 * 112 * 112))
    assert layer["stall_fraction"] == pytest.approx(r.stall_cycles / r.cycles)
    header = to_csv(res).splitlines()[0].split(",")
    assert {"dram_refetch.ifmap", "dram_refetch.filter", "stall_fraction"} <= set(header)
    unmapped = next(x for x in res.layers if x.extra.get("mapped") is False)
    assert dram_refetch(unmapped, res.operands.get(unmapped.name)) is None


def test_gpu_refetch_is_one_total_factor():
    res = simulate("a100-40gb", "lenet-300-100")
    ref = res.layer_metrics(res.layer("fc1"))["dram_refetch"]
    assert set(ref) == {"total"} and ref["total"] > 0


def test_sweep_store_records_its_provenance(tmp_path):
    from accelsim.dse.sweep import sweep

    spec = {"name": "p", "base": {"arch": "edge-32x32", "workload": "lenet5"}, "grid": {"batch": [1]}}
    sweep(spec, store=tmp_path / "s", progress=False)
    sweep(spec, store=tmp_path / "s", progress=False, resume=True)
    runs = json.loads((tmp_path / "s" / "provenance.json").read_text())["runs"]
    assert len(runs) == 2  # one record per run, a resume included
    assert runs[0]["accelsim_version"] == accelsim.__version__ and runs[0]["spec"] == spec and runs[0]["command"]


def test_cli_baseline_flags(run_cli):
    code, out, err = run_cli("simulate", "--arch", "edge-32x32", "--workload", "lenet5", "--recipe", "magnitude-8",
                             "--baseline", "int8", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["total"]["baseline"] == "recipe int8 on edge-32x32"
    assert data["provenance"]["command"].startswith("accelsim") and "--baseline int8" in data["provenance"]["command"]
    code, out, err = run_cli("simulate", "--arch", "edge-32x32", "--workload", "lenet5", "--recipe", "int8",
                             "--baseline-workload", "lenet-300-100")
    assert code == 0, err
    assert "(baseline: dense int8 lenet-300-100 on edge-32x32)" in out


def test_compress_json_carries_version_and_provenance(run_cli):
    code, out, err = run_cli("compress", "--workload", "lenet5", "--recipe", "int8", "--format", "json", "--seed", "2")
    assert code == 0, err
    data = json.loads(out)
    assert data["accelsim_version"] == accelsim.__version__
    p = data["provenance"]
    assert p["weights"] == "synthesized he_normal seed 2" and p["recipe_file"]["path"].endswith("int8.yaml")
    assert p["command"].startswith("accelsim compress")


def test_json_round_trip_keeps_what_cites(mobilenet_sram):
    from accelsim.report.export import to_json
    from accelsim.report.results import NetworkResult

    res = mobilenet_sram[32]
    back = NetworkResult.from_dict(json.loads(to_json(res)))
    assert back.baseline == res.baseline and back.area_mm2 == res.area_mm2 and back.provenance == res.provenance
    assert back.all_warnings() == res.all_warnings()
    r = back.layer("features.1.dw")
    assert back.layer_metrics(r) == res.layer_metrics(res.layer("features.1.dw"))


def test_sweep_rows_say_when_the_seed_changes_nothing():
    from accelsim.dse.evaluate import SimulateEvaluator

    ev = SimulateEvaluator()
    dense = ev({"arch": "edge-32x32", "workload": "lenet5", "seed": 2})["row"]
    assert dense["seed_matters"] is False and "seed 2 cannot change this point" in dense["warnings"]
    synth = ev({"arch": "edge-32x32", "workload": "lenet5", "recipe": "int8", "seed": 2})["row"]
    assert synth["seed_matters"] is True and synth["weights"] == "synthesized he_normal seed 2"
