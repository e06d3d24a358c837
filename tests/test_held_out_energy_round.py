"""Cases a held-out round of the energy and area models (2026-12-05, twenty-first session; 7,800 checks written by a
helper that read none of these tests) found inconsistent: the NPU priced a 16-bit float MXU's MAC as fp16 while its
area and leakage used the bf16 multiplier (and named its peak ``fp16``), and EIE priced its pointer SRAM's area 16
bits wide where the fit point and the validation take its two 16-bit banks side by side (32 kB x 32 b). The GPU
tables' rule is checked in tests/test_gpu.py."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.energy.tables import load_tech
from accelsim.hw.registry import build_model, load_arch


@pytest.mark.parametrize("arch", ["tpu-v4", "tpu-v5e"])
def test_npu_float_mxu_is_bf16_for_energy_area_and_roof(arch):
    model = build_model(load_arch(arch))
    tech = load_tech(model.config.tech)
    assert model.energy_reference_table()[("pe", "mac", "fp16")][0] == pytest.approx(tech.op_energy_pj("mac", "bf16"))
    per_pe = model.area().by_component["matrix_units"] * 1e6 / (
        model.config.matrix.count * model.config.matrix.rows * model.config.matrix.cols)
    assert per_pe == pytest.approx(tech.op_area_um2("mult", "bf16") + tech.op_area_um2("add", "fp32"))
    roof = model.roof()
    assert roof.native_dtype == "bf16" and roof.peak_macs_per_s > 0
    assert accelsim.simulate(arch, "lenet5", recipe="int8").baseline == f"dense bf16 on {arch}"


def test_eie_pointer_sram_area_is_its_two_banks_side_by_side():
    model = build_model(load_arch("eie"))
    c = model.config
    assert c.ptr.banks == 2 and c.ptr.width_bits == 16
    ptr_um2 = model.pe_area().by_component["ptr"] * 1e6
    assert ptr_um2 == pytest.approx(121_849, rel=1e-6)  # EIE Table II ptr SRAM, the law's fit point (energy.md)
    memory = sum(model.pe_area().by_component[k] for k in ("spmat", "ptr", "act_sram")) * 1e6
    assert memory == pytest.approx(616_299, abs=1)  # docs/models/energy.md "Validation against the EIE PE"
    # energy still reads one 16-bit bank per pointer
    assert ("ptr", "read", "16b") in model.energy_reference_table()
