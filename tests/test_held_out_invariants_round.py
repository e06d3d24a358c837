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
