"""accelsim's systolic model against SCALE-Sim 3.0.0's own reports (tests/data/scalesim)."""

from __future__ import annotations

import json

import pytest

from accelsim.hw.systolic import validation as V

CASES = V.cases()


def _error_lines(err: str) -> list[str]:
    """stderr lines besides the one-time "compiling kernels" notice of a cold Numba cache."""
    return [line for line in err.strip().splitlines() if "compiling kernels" not in line]


def test_reference_data_present():
    names = {c["name"] for c in CASES}
    # all three dataflows, CALC and USER bandwidth modes, conv and GEMM topologies
    for df in ("os", "ws", "is"):
        assert {f"a8_{df}_calc", f"a8_{df}_user_tiny", f"r4x12_{df}_user_gemm"} <= names
    assert any("large" in n for n in names)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_every_layer_matches_scalesim(case):
    for col, (ref, pred) in V.compare_case(case).items():
        assert len(ref) == len(pred), col
        if col in V.FLOAT_COLUMNS:  # utilisations (%) and bandwidths (words a cycle)
            assert pred == pytest.approx(ref, rel=1e-9, abs=1e-9), col
        else:
            assert pred == ref, col


def test_stalls_are_exercised():
    """The USER-mode references really stall (so matching them tests the memory model)."""
    stalls = 0
    for case in CASES:
        if "user" in case["name"]:
            ref, pred = V.compare_case(case)["Stall Cycles"]
            stalls += sum(ref)
            assert pred == ref
    assert stalls > 100_000


def test_validation_checks_all_ok():
    checks = V.checks(quick=True)
    assert checks and all(c.ok for c in checks)
    assert {c.area for c in checks} == {"systolic"}


def _by_layer(case_name: str):
    case = next(c for c in CASES if c["name"] == case_name)
    comp = V.read_report(case["reports"] / V.COMPUTE)
    det = V.read_report(case["reports"] / V.DETAIL)
    return case, comp, det


@pytest.mark.parametrize("case_name", ["a8_os_user_tiny", "r4x12_ws_user", "a8_is_calc", "r4x12_is_user_gemm"])
def test_cli_cfg_and_topology_match_reports(run_cli, case_name):
    """`accelsim simulate --arch X.cfg --workload Y.csv --format json` reproduces SCALE-Sim's reports."""
    case, comp, det = _by_layer(case_name)
    code, out, err = run_cli("simulate", "--arch", case["cfg"], "--workload", case["topology"], "--format", "json")
    assert code == 0, err
    layers = json.loads(out)["layers"]
    assert len(layers) == len(comp)
    for got, c, d in zip(layers, comp, det):
        total, stall = int(c["Total Cycles"]), int(c["Stall Cycles"])
        assert got["stall_cycles"] == stall
        assert got["compute_cycles"] == total - stall
        assert got["cycles"] == total
        assert got["sram_reads"] == {"ifmap": int(d["SRAM IFMAP Reads"]), "filter": int(d["SRAM Filter Reads"])}
        assert got["sram_writes"] == {"ofmap": int(d["SRAM OFMAP Writes"])}
        # SCALE-Sim reports DRAM in 1-byte words
        assert got["dram_read_bytes"] == int(d["DRAM IFMAP Reads"]) + int(d["DRAM Filter Reads"])
        assert got["dram_write_bytes"] == int(d["DRAM OFMAP Writes"])
        assert got["extra"]["mapping_efficiency"] * 100 == pytest.approx(float(c["Mapping Efficiency %"]), rel=1e-12)


TRACE_DIR = V.REF_DIR / "traces"


@pytest.mark.parametrize("case", ["trace_os_user", "trace_ws_calc", "trace_is_user"])
def test_traces_match_scalesim(tmp_path, case):
    """SCALE-Sim's per-cycle SRAM traces and its DRAM traces (OFMAP always, IFMAP / filter in USER
    mode) reproduced line for line - the DRAM ones byte for byte - while written in chunks."""
    import numpy as np

    from accelsim.hw.registry import load_arch
    from accelsim.hw.systolic.trace import write_traces

    cfg = load_arch(str(V.REF_DIR / "inputs" / f"{case}.cfg"))
    layers = V.read_topology(V.REF_DIR / "inputs" / "trace_layers.csv", False)
    for i, (_, geom) in enumerate(layers):
        out = tmp_path / f"layer{i}"
        write_traces(cfg, geom, out, chunk_rows=37)
        for name in ("IFMAP_SRAM_TRACE.csv", "FILTER_SRAM_TRACE.csv", "OFMAP_SRAM_TRACE.csv"):
            got = np.loadtxt(out / name, delimiter=",", dtype=np.int64, ndmin=2)
            ref = np.loadtxt(TRACE_DIR / case / f"layer{i}" / name, delimiter=",", dtype=np.int64, ndmin=2)
            assert got.shape == ref.shape and np.array_equal(got, ref), (case, i, name)
        dram = ["OFMAP_DRAM_TRACE.csv"] + (["IFMAP_DRAM_TRACE.csv", "FILTER_DRAM_TRACE.csv"] if "user" in case else [])
        for name in dram:
            assert (out / name).read_text() == (TRACE_DIR / case / f"layer{i}" / name).read_text(), (case, i, name)


def test_trace_command(tmp_path, capsys):
    from accelsim.hw.systolic.trace import main

    assert main(["--arch", "edge-32x32", "--workload", "lenet5", "--layer", "conv2", "--out", str(tmp_path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6
    assert (tmp_path / "IFMAP_DRAM_TRACE.csv").stat().st_size > 0
    assert main(["--arch", "edge-32x32", "--workload", "lenet5", "--layer", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(_error_lines(err)) == 1 and "unknown layer 'nope'" in err
