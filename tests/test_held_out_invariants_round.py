"""Cases a held-out round of physical invariants and config inputs on the GPU, EIE and NPU families (2026-12-05,
twentieth session; 448 checks written by a helper that read none of these tests) found wrong: a Hopper config with
less shared memory than cuBLAS's deep pipelines could run no GEMM at all, an EIE SRAM too small for one column named
neither fields nor config, and a bad ``--set`` value was reported as if the arch file held it. (More SMs slowing a
layer and views labelled latency-bound: tests/test_gpu.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import accelsim
from accelsim.errors import ConfigError, SimulationError
from accelsim.hw.gpu import kernel_models as km
from accelsim.hw.registry import load_arch


@pytest.mark.parametrize("smem_kb", [64, 100, 160, 180, 228])
def test_a_hopper_gemm_runs_with_fewer_stages_when_smem_is_short(smem_kb):
    """Every sm90 tile lists cuBLAS's pipeline depth (168-208 KB of buffers): with less shared memory the same
    tiles run with the most stages that fit (a library's shallower variants), down to two."""
    cfg = load_arch("h100-sxm", [f"smem_per_sm_kb={smem_kb}"])
    est = km.gemm(cfg, 256, 4096, 4096, 1, "bf16")
    assert est.time_s > 0 and np.isfinite(est.time_s)


def test_more_shared_memory_never_slows_a_gemm():
    times = [km.gemm(load_arch("h100-sxm", [f"smem_per_sm_kb={kb}"]), 512, 4096, 4096, 1, "bf16").time_s
             for kb in (48, 96, 160, 180, 228)]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(times, times[1:])), times


def test_no_tile_even_at_two_stages_names_the_fields():
    with pytest.raises(SimulationError, match=r"h100-sxm.*smem_per_sm_kb 10"):
        km.gemm(load_arch("h100-sxm", ["smem_per_sm_kb=10"]), 256, 256, 256, 1, "bf16")


def test_eie_sram_too_small_for_a_column_names_config_and_fields(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pipeline:\n  - prune: {density: 0.1}\n  - share: {bits: 4}\n  - encode: {format: interleaved_csc}\n")
    with pytest.raises(SimulationError) as info:
        accelsim.simulate("eie", "lenet-300-100", recipe=str(recipe),
                          overrides={"spmat.capacity_bytes": 1, "ptr.capacity_bytes": 1})
    msg = str(info.value)
    assert "eie 'eie'" in msg and "spmat.capacity_bytes (1)" in msg and "ptr.capacity_bytes (1)" in msg


def test_a_bad_override_is_named_as_the_override(run_cli):
    code, _, err = run_cli("simulate", "--arch", "h100-sxm", "--workload", "lenet5", "--set", "dram_gbs=-5")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "h100-sxm.yaml with override dram_gbs=-5: dram_gbs must be a number" in err
    with pytest.raises(ConfigError, match="with override sms=0: sms must be"):
        load_arch("a100-80gb", {"sms": 0, "clock_mhz": 1000})



@pytest.mark.parametrize("setting, echoed", [
    ('array.rows="16"', 'with override array.rows="16": array.rows must be an int'),  # a quoted number stays quoted
    ("array.dataflow=xs", "with override array.dataflow=xs: array.dataflow must be one of"),  # a plain word plain
    ("array.dataflow='true'", 'with override array.dataflow="true": array.dataflow must be one of'),
    # text --set refuses unquoted (a duplicate key), given quoted: echoed quoted, no traceback
    ('array.dataflow="{a: 1, a: 2}"', 'with override array.dataflow="{a: 1, a: 2}": array.dataflow must be one of'),
])
def test_an_override_is_echoed_as_it_was_spelled(run_cli, setting, echoed):
    code, _, err = run_cli("simulate", "--arch", "edge-32x32", "--workload", "lenet5", "--set", setting)
    assert code == 2 and len(err.strip().splitlines()) == 1 and echoed in err, err

# --- NPU round (2026-12-05; 537 checks against the equations of docs/models/npu.md written by a helper) -----------

def test_npu_dram_latency_is_not_a_cycle_long_from_rounding():
    from accelsim.hw.npu.model import NpuModel

    for arch, cycles in (("tpu-v5e", 750), ("tpu-v4", 525)):  # 500 ns x 1.5 / 1.05 GHz (not 751 / 526)
        assert NpuModel(load_arch(arch))._dram_latency == cycles


def test_npu_generic_quantize_layers_take_their_recipes(tmp_path):
    """An imported op (a generic layer) is costed by its op_type's row of the op table: QuantizeLinear as quantize
    (mul, convert, 2 compares), DequantizeLinear as dequantize; it fell to the default add per element."""
    ops = {}
    for op_type in ("QuantizeLinear", "com.microsoft::DequantizeLinear", "Cast", "Resize"):
        (tmp_path / "g.yaml").write_text(f"name: g\ninputs: {{x: [128, 768]}}\nlayers:\n  - {{name: q, op: generic, "
                                         f"op_type: '{op_type}', output_shapes: [[128, 768]]}}\n")
        run = accelsim.simulate("tpu-v5e", str(tmp_path / "g.yaml"))
        ops[op_type] = run.layers[0].extra["vector_ops"]
    n = 128 * 768
    assert ops["QuantizeLinear"] == {"compare": 2 * n, "convert": n, "mul": n}
    assert ops["com.microsoft::DequantizeLinear"] == {"convert": n, "mul": n}
    assert ops["Cast"] == {"convert": n} and ops["Resize"] == {"add": n}  # no row for Resize: the default


@pytest.mark.parametrize("recipe, fmas", [("w8a8-int8", 0), ("w4a16-g128", 2048 * 8 * 256), ("mxfp4", 2048 * 32 * 256)])
def test_npu_rescales_each_scale_block_of_k_once_per_output(tmp_path, recipe, fmas):
    """Partial sums rescaled once per output and scale block along K, the last folded into the requantize of
    quantized activations: w8a8's per-channel fp32 scales cost nothing beyond it (they were counted twice over),
    MX's 32-wide blocks one per block (half were counted)."""
    (tmp_path / "lin.yaml").write_text("name: lin\ninputs: {x: [256, 1024]}\nlayers:\n"
                                       "  - {name: L, op: linear, out_features: 2048, bias: true}\n")
    run = accelsim.simulate("tpu-v5e", str(tmp_path / "lin.yaml"), recipe=recipe)
    ops = run.layers[-1].extra["vector_ops"]
    bias = 256 * 2048  # the bias add, one fma-free add per output
    assert ops.get("fma", 0) == fmas and ops.get("add", 0) >= bias


def test_npu_says_what_it_does_not_run_as_stored():
    run = accelsim.simulate("tpu-v5e", "lenet5", recipe="2of4-int8")
    assert any("2:4 weights run as unstructured sparsity" in w and "matrix.sparsity.nm" in w for w in run.warnings)
    run = accelsim.simulate("edge-tpu", "lenet5", recipe="fp8-e4m3")
    assert any("e4m3 weights run as 8-bit integer operands" in w for w in run.warnings)
    assert not accelsim.simulate("tpu-v5e", "lenet5", recipe="int8").warnings


# --- SCALE-Sim round (2026-12-05; 101 new cfg / topology cases, 3,008 CLI values and 4,344 buffer start / stop
# cycles compared with SCALE-Sim 3.0.0 by a helper: every dense value identical) -----------------------------------

CFG = """[general]
run_name = t
[architecture_presets]
ArrayHeight : 4
ArrayWidth : 4
IfmapSramSzkB : 8
FilterSramSzkB : 8
OfmapSramSzkB : 8
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Dataflow : os
Bandwidth : 4
[sparsity]
SparsitySupport : {support}
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 4
RandomNumberGeneratorSeed : 40
[run_presets]
InterfaceBandwidth : USER
"""


def test_scalesim_sparse_mapping_is_refused_not_run_dense(tmp_path, run_cli):
    (tmp_path / "t.csv").write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                                    "Num Filter, Strides, Sparsity,\nl0, 6, 6, 3, 3, 2, 4, 1, 2:4,\n")
    (tmp_path / "a.cfg").write_text(CFG.format(support="true"))
    rc, _, err = run_cli("simulate", "--arch", str(tmp_path / "a.cfg"), "--workload", str(tmp_path / "t.csv"))
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "SCALE-Sim's sparse mapping is not modelled" in err
    # a sweep point on them is an error row with the same reason, not a dense row
    (tmp_path / "s.yaml").write_text(f"name: s\nbase: {{workload: {tmp_path / 't.csv'}, arch: {tmp_path / 'a.cfg'}}}\n"
                                     "grid: {batch: [1]}\n")
    rc, _, err = run_cli("sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--quiet")
    import pandas as pd

    row = pd.read_csv(tmp_path / "out" / "results.csv").iloc[0]
    assert rc == 0 and row["status"] == "error" and "SCALE-Sim's sparse mapping is not modelled" in row["error"]
    (tmp_path / "a.cfg").write_text(CFG.format(support="false"))  # SCALE-Sim runs such a layer dense: so does accelsim
    rc, _, err = run_cli("simulate", "--arch", str(tmp_path / "a.cfg"), "--workload", str(tmp_path / "t.csv"))
    assert rc == 0, err


def test_validation_topology_reader_expands_depthwise_rows(tmp_path):
    from accelsim.hw.systolic.validation import read_topology

    (tmp_path / "t.csv").write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                                    "Num Filter, Strides,\nDP_conv, 10, 9, 3, 3, 4, 1, 1,\nc, 8, 8, 3, 3, 2, 5, 1,\n")
    rows = read_topology(tmp_path / "t.csv", gemm=False)
    assert [name for name, _ in rows] == ["DP_conv"] * 4 + ["c"]  # SCALE-Sim: one single-channel layer a channel


def test_npu_fallback_warnings_reach_sweep_rows():
    """A sweep row carries the same warnings as ``simulate`` for a format the units do not run as stored."""
    from accelsim.dse.sweep import sweep

    df = sweep({"name": "fb", "base": {"workload": "lenet5", "arch": "tpu-v5e"},
                "grid": {"recipe": ["2of4-int8", "int8"]}})
    rows = dict(zip(df["recipe"], df["warnings"]))
    assert "2:4 weights run as unstructured sparsity" in rows["2of4-int8"]
    assert "unstructured" not in str(rows["int8"] or "")
