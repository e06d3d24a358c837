"""The roofline tool reads any family's roof: it draws where the model sets a DRAM bandwidth, refuses
where it sets none, and draws the recipe alone where the hardware cannot run the dense workload."""

from __future__ import annotations

import pytest

from accelsim.cli.roofline import roofline_figure, roofs_of
from accelsim.errors import ConfigError
from accelsim.hw.registry import build_model, load_arch
from accelsim.simulate import simulate

SHARE4 = {"name": "prune-share4", "pipeline": [{"prune": {"density": 0.1}}, {"share": {"bits": 4}}]}


@pytest.mark.parametrize("arch, recipe", [("tpu-v1", "int8"), ("eie", SHARE4), ("a100-40gb", "2of4-int8")])
def test_draws_for_every_family_with_a_memory_roof(arch, recipe, tmp_path):
    out = tmp_path / "r.png"
    assert roofline_figure(arch, "lenet-300-100", recipe, 1, str(out)) == str(out)
    assert out.stat().st_size > 10_000


def test_no_dram_bandwidth_no_roofline(tmp_path):
    with pytest.raises(ConfigError, match="no DRAM bandwidth"):
        roofline_figure("scalesim-32x32-os", "lenet-300-100", None, 1, str(tmp_path / "r.png"))


def test_roofs_are_twice_the_model_peaks_with_the_sparse_roof_next_to_the_used_type():
    cfg = load_arch("a100-40gb")
    roof = build_model(cfg).roof()
    result = simulate(cfg, "lenet-300-100", recipe="2of4-int8", dense_baseline=False)
    roofs = roofs_of(roof, result)
    assert roofs[0] == (roof.native_dtype, 2 * roof.macs_per_s[roof.native_dtype], "-")
    assert ("int8", 2 * roof.macs_per_s["int8"], "--") in roofs
    assert ("int8 2:4", 2 * roof.sparse_macs_per_s["int8"], ":") in roofs
    assert roof.sparse_macs_per_s["int8"] == 2 * roof.macs_per_s["int8"]
