"""Energy core: technology tables, SRAM law fits, node scaling, estimate() and bad inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from accelsim.energy import (
    DRAM_TYPES,
    DTYPES,
    ActionCounts,
    EnergyBreakdown,
    estimate,
    estimate_area,
    load_tech,
    tech_names,
)
from accelsim.energy.validation import (
    EIE_AREA_TOL,
    EIE_PE_MEMORY_AREA_UM2,
    EIE_PE_MEMORY_POWER_W,
    EIE_POWER_TOL,
    SRAM_FIT_TOL,
    checks,
    eie_pe_memory_area_mm2,
    eie_pe_sram_power_w,
    eie_power_without_eie_points,
)
from accelsim.errors import AccelsimError, ConfigError, SimulationError, UnknownNameError
from accelsim.paths import TECH_DIR

KB = 1024

# Horowitz ISSCC 2014, 45 nm, as reproduced in EIE Table I and Kim et al. 2023 Fig. 15 (pJ).
HOROWITZ_PJ = {
    ("add", "int8"): 0.03,
    ("add", "int16"): 0.05,
    ("add", "int32"): 0.1,
    ("add", "fp16"): 0.4,
    ("add", "fp32"): 0.9,
    ("mult", "int8"): 0.2,
    ("mult", "int32"): 3.1,
    ("mult", "fp16"): 1.1,
    ("mult", "fp32"): 3.7,
}


@pytest.fixture(scope="module")
def t45():
    return load_tech("45nm")


def test_bundled_tables_load():
    assert {"45nm", "28nm", "16nm", "7nm", "5nm"} <= set(tech_names())
    for name in ("45nm", "28nm", "16nm", "7nm", "5nm"):
        t = load_tech(name)
        assert t.name == name
        for dt in DTYPES:
            for op in ("add", "mult", "mac"):
                assert t.op_energy_pj(op, dt) > 0
        for d in DRAM_TYPES:
            assert t.dram_energy_pj_per_bit(d) > 0


@pytest.mark.parametrize("key,pj", sorted(HOROWITZ_PJ.items()))
def test_horowitz_published_values(t45, key, pj):
    assert t45.op_energy_pj(*key) == pytest.approx(pj)


def test_derived_op_rules(t45):
    # multiplier ~ bits^2, adder ~ bits (docs/models/energy.md, "Derived values")
    assert t45.op_energy_pj("mult", "int16") == pytest.approx(math.sqrt(0.2 * 4 * 3.1 / 4), rel=1e-3)
    assert t45.op_area_um2("mult", "int16") == pytest.approx(math.sqrt(282 * 4 * 3495 / 4), rel=1e-3)
    assert t45.op_area_um2("mult", "bf16") == pytest.approx(1640 * (8 / 11) ** 2, rel=1e-2)
    assert t45.op_area_um2("add", "int4") == pytest.approx(36 / 2)
    assert t45.op_energy_pj("mult", "int4") == pytest.approx(0.2 / 4)
    assert t45.op_energy_pj("add", "int4") == pytest.approx(0.03 / 2)
    assert t45.op_energy_pj("mult", "bf16") == pytest.approx(1.1 * (8 / 11) ** 2, rel=1e-3)
    assert t45.op_energy_pj("mult", "fp8") == pytest.approx(1.1 * (4 / 11) ** 2, rel=1e-2)
    # energy grows with width within each family
    for op in ("add", "mult", "mac"):
        ints = [t45.op_energy_pj(op, d) for d in ("int4", "int8", "int16", "int32")]
        assert ints == sorted(ints)


def test_mac_is_mult_plus_accumulator_add(t45):
    assert t45.op_energy_pj("mac", "int8") == pytest.approx(0.2 + 0.1)
    assert t45.op_energy_pj("mac", "fp16") == pytest.approx(1.1 + 0.9)
    assert t45.op_area_um2("mac", "int8") == pytest.approx(282 + 137)
    assert t45.op_leakage_w("mac", "int8") == pytest.approx((282 + 137) * t45.logic_leakage_w_per_um2)


def test_sram_law_reproduces_fit_points(t45):
    assert len(t45.sram.energy_fit) >= 3
    for row in t45.sram.energy_fit:
        assert abs(row.rel_error) <= SRAM_FIT_TOL, row
    for row in t45.sram.area_fit:
        assert abs(row.rel_error) <= SRAM_FIT_TOL, row
    # CACTI-class sublinear capacity and width dependence
    assert 0.3 < t45.sram.alpha < 0.7
    assert 0.5 < t45.sram.beta <= 1.0
    assert t45.sram.area_um2_per_byte > 0 and t45.sram.area_um2_per_bit_width >= 0


def test_sram_law_predicts_eie_out_of_sample():
    # the law refitted without the EIE-derived points still predicts the EIE PE memory power
    got = eie_power_without_eie_points("45nm")
    assert abs(got - EIE_PE_MEMORY_POWER_W) / EIE_PE_MEMORY_POWER_W <= EIE_POWER_TOL


def test_sram_law_shape(t45):
    s = t45.sram
    e8 = t45.sram_energy_pj(8 * KB, 64)
    assert e8 == pytest.approx(s.energy_pj_ref)
    assert t45.sram_energy_pj(8 * KB, 32) == pytest.approx(e8 * 0.5 ** s.beta)
    assert t45.sram_energy_pj(32 * KB, 64) == pytest.approx(e8 * 4 ** s.alpha)
    assert t45.sram_energy_pj(8 * KB, 64, "write") == pytest.approx(e8 * s.write_read_ratio)
    # per bit, wider words and smaller arrays are cheaper
    assert t45.sram_energy_pj(8 * KB, 512) / 512 < e8 / 64
    assert t45.sram_area_mm2(64 * KB, 64) == pytest.approx((s.area_um2_per_byte * 64 * KB + s.area_um2_per_bit_width * 64) * 1e-6)
    assert t45.sram_area_mm2(64 * KB, 64) > t45.sram_area_mm2(32 * KB, 64)
    assert t45.sram_area_mm2(32 * KB, 128) > t45.sram_area_mm2(32 * KB, 64)
    assert t45.sram_leakage_w(1024) == pytest.approx(1024 * t45.sram.leakage_w_per_byte)


def test_eie_pe_memory_area_within_tolerance():
    got = eie_pe_memory_area_mm2("45nm") * 1e6
    assert abs(got - EIE_PE_MEMORY_AREA_UM2) / EIE_PE_MEMORY_AREA_UM2 <= EIE_AREA_TOL
    got_w = eie_pe_sram_power_w("45nm")
    assert abs(got_w - EIE_PE_MEMORY_POWER_W) / EIE_PE_MEMORY_POWER_W <= EIE_POWER_TOL


def test_validation_checks_pass():
    rows = checks(quick=True)
    assert rows and all(c.area == "energy" for c in rows)
    judged = [c for c in rows if c.kind == "asserted"]
    # the comparison rows (recalled / out-of-range figures) are reported, never asserted
    assert judged and [c for c in rows if c not in judged] == [c for c in rows if "(comparison" in c.item]
    bad = [c.item for c in judged if not c.ok]
    assert not bad, bad


def test_energy_checks_are_registered():
    from accelsim.validate import CHECK_MODULES

    assert "accelsim.energy.validation" in CHECK_MODULES.values()


def test_dram_sources(t45):
    assert t45.dram_energy_pj_per_bit("lpddr2") == pytest.approx(640 / 32)
    assert t45.dram_energy_pj_per_bit("HBM2") == pytest.approx(3.97)
    assert t45.dram_energy_pj_per_bit("hbm2") < t45.dram_energy_pj_per_bit("gddr5") < t45.dram_energy_pj_per_bit("ddr3")


def test_node_scaling(t45):
    names = ["45nm", "28nm", "16nm", "7nm", "5nm"]
    tables = [load_tech(n) for n in names]
    for key in [("mac", "int8"), ("mult", "fp16")]:
        e = [t.op_energy_pj(*key) for t in tables]
        assert e == sorted(e, reverse=True)
    areas = [t.sram_area_mm2(128 * KB, 64) for t in tables]
    assert areas == sorted(areas, reverse=True)
    t7 = load_tech("7nm")
    f = t45.scaling_factors(7)
    assert t7.op_energy_pj("mult", "int8") == pytest.approx(0.2 * f["energy"])
    assert t7.sram_energy_pj(8 * KB, 64) == pytest.approx(t45.sram_energy_pj(8 * KB, 64) * f["energy"])
    assert t7.sram_area_mm2(8 * KB) == pytest.approx(t45.sram_area_mm2(8 * KB) * f["area"])
    assert t7.sram_leakage_w(KB) == pytest.approx(t45.sram_leakage_w(KB) * f["leakage"])
    assert t7.op_leakage_w("mac", "int8") == pytest.approx(t45.op_leakage_w("mac", "int8") * f["leakage"])
    assert t7.wire_energy_pj_per_bit_mm() == pytest.approx(t45.wire_energy_pj_per_bit_mm() * f["wire"])
    assert t7.dram_energy_pj_per_bit("hbm2") == t45.dram_energy_pj_per_bit("hbm2")  # off-chip: not scaled
    # scaled() from a scaled table composes; an interpolated node lies between its neighbours
    assert load_tech("28nm").scaled(7).op_energy_pj("mac", "int8") == pytest.approx(t7.op_energy_pj("mac", "int8"))
    e10 = t45.scaled(10).op_energy_pj("mac", "int8")
    assert t7.op_energy_pj("mac", "int8") < e10 < load_tech("16nm").op_energy_pj("mac", "int8")


def test_scaled_out_of_range(t45):
    with pytest.raises(ConfigError, match="scales only to nodes"):
        t45.scaled(3)
    with pytest.raises(ConfigError):
        t45.scaled(-7)


def test_unknown_names(t45):
    with pytest.raises(UnknownNameError, match="dtype 'int9'"):
        t45.op_energy_pj("mult", "int9")
    with pytest.raises(UnknownNameError, match="op 'div'"):
        t45.op_energy_pj("div", "int8")
    with pytest.raises(UnknownNameError, match="DRAM type 'ddr9'"):
        t45.dram_energy_pj_per_bit("ddr9")
    with pytest.raises(UnknownNameError, match="tech table '46nm'"):
        load_tech("46nm")
    with pytest.raises(UnknownNameError):
        t45.sram_energy_pj(1024, 32, "erase")
    with pytest.raises(ConfigError, match="capacity_bytes"):
        t45.sram_energy_pj(0, 32)
    with pytest.raises(ConfigError, match="width_bits"):
        t45.sram_energy_pj(1024, float("nan"))


# ----- estimate ------------------------------------------------------------------------------


def test_estimate_sums_by_category_and_component():
    counts = ActionCounts({("pe", "mac", "int8"): 1000, ("buf", "read", "64b"): 10, ("dram", "read", "bit"): 64})
    ert = {
        ("pe", "mac", "int8"): (0.3, "compute"),
        ("buf", "read", "64b"): (10.0, "sram"),
        ("dram", "read", "bit"): (20.0, "dram"),
        ("unused", "read", "x"): (1.0, "sram"),
    }
    e = estimate(counts, ert, static_power_w=1e-3, seconds=1e-6)
    assert isinstance(e, EnergyBreakdown)
    assert e.by_category["compute"] == pytest.approx(300e-12)
    assert e.by_category["sram"] == pytest.approx(100e-12)
    assert e.by_category["dram"] == pytest.approx(1280e-12)
    assert e.by_category["static"] == pytest.approx(1e-9)
    assert e.by_component["pe"] == pytest.approx(300e-12)
    assert e.total_j == pytest.approx(300e-12 + 100e-12 + 1280e-12 + 1e-9)
    assert sum(e.by_category.values()) == pytest.approx(e.total_j)
    assert sum(e.fractions().values()) == pytest.approx(1.0)
    both = e + e
    assert both.total_j == pytest.approx(2 * e.total_j)
    assert sum([e, e]).by_category["dram"] == pytest.approx(2 * 1280e-12)


def test_estimate_is_linear_in_counts():
    counts = ActionCounts({("pe", "mac", "int8"): 7.5, ("buf", "read", "64b"): 3})
    ert = {("pe", "mac", "int8"): (0.3, "compute"), ("buf", "read", "64b"): (10.0, "sram")}
    assert estimate(counts.scaled(4), ert).total_j == pytest.approx(4 * estimate(counts, ert).total_j)
    assert estimate(ActionCounts(), ert).total_j == 0.0


def test_estimate_bad_inputs():
    ert = {("pe", "mac", "int8"): (0.3, "compute")}
    with pytest.raises(SimulationError, match=r"no ERT entry for action pe\.mac\.int16; the ERT prices pe\.mac\.int8"):
        estimate(ActionCounts({("pe", "mac", "int16"): 1}), ert)
    with pytest.raises(SimulationError, match="negative"):
        estimate({("pe", "mac", "int8"): -1.0}, ert)
    with pytest.raises(SimulationError, match="finite"):
        estimate({("pe", "mac", "int8"): float("nan")}, ert)
    with pytest.raises(SimulationError, match="static_power_w"):
        estimate(ActionCounts(), ert, static_power_w=-1.0, seconds=1.0)
    with pytest.raises(SimulationError, match="seconds"):
        estimate(ActionCounts(), ert, seconds=float("inf"))
    with pytest.raises(SimulationError, match="ERT energy"):
        estimate(ActionCounts({("pe", "mac", "int8"): 1}), {("pe", "mac", "int8"): (-1.0, "compute")})
    with pytest.raises(SimulationError, match="must be \\(energy_pj, category\\)"):
        estimate(ActionCounts({("pe", "mac", "int8"): 1}), {("pe", "mac", "int8"): 0.3})


def test_estimate_area():
    a = estimate_area({"pe": 0.638, "noc": 0.1}, count={"pe": 64})
    assert a.total_mm2 == pytest.approx(0.638 * 64 + 0.1)
    assert estimate_area([("x", 1.0), ("x", 2.0)]).by_component["x"] == pytest.approx(3.0)
    with pytest.raises(SimulationError, match="area of pe"):
        estimate_area({"pe": -1.0})


# ----- bad tech YAML -------------------------------------------------------------------------


def _base_dict() -> dict:
    return yaml.safe_load((TECH_DIR / "45nm.yaml").read_text())


def _write(tmp_path: Path, data, name="bad.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def test_point_node_normalisation(tmp_path):
    # a fit point published at 28 nm enters the 45 nm fit divided by the 28 nm energy factor
    t = load_tech("45nm")
    rows = [r for r in t.sram.energy_fit if r.node_nm == 28]
    assert rows
    f28 = t.scaling_factors(28)["energy"]
    raw = {(8192.0, 512.0): 17.77, (4096.0, 512.0): 16.89}
    for r in rows:
        if (r.capacity_bytes, r.width_bits) in raw:
            assert r.reference == pytest.approx(raw[(r.capacity_bytes, r.width_bits)] / f28)


def test_yaml_copy_loads(tmp_path):
    t = load_tech(_write(tmp_path, _base_dict(), "copy.yaml"))
    assert t.op_energy_pj("mac", "int8") == pytest.approx(load_tech("45nm").op_energy_pj("mac", "int8"))


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (lambda d: d["ops"]["mult"].pop("int16"), r"ops\.mult\.int16 is required"),
        (lambda d: d["ops"]["mult"].__setitem__("int9", d["ops"]["mult"]["int8"]), r"ops\.mult\.int9: unknown dtype"),
        (lambda d: d["ops"]["add"]["int8"].pop("energy_pj"), r"ops\.add\.int8\.energy_pj is required"),
        (lambda d: d["ops"]["add"]["int8"].__setitem__("energy_pj", "cheap"), r"ops\.add\.int8\.energy_pj must be a number"),
        (lambda d: d["ops"]["add"]["int8"].pop("source"), r"ops\.add\.int8\.source is required"),
        (lambda d: d["ops"]["mult"]["int4"].pop("rule"), r"ops\.mult\.int4\.rule is required"),
        (lambda d: d["ops"]["mult"]["int4"].__setitem__("status", "guess"), r"ops\.mult\.int4\.status must be one of"),
        (lambda d: d["ops"].__setitem__("div", {}), r"ops\.div: unknown op"),
        (lambda d: d.pop("dram"), r"dram is required"),
        (lambda d: d["dram"].pop("hbm3"), r"dram\.hbm3 is required"),
        (lambda d: d["dram"].__setitem__("ddr9", {"pj_per_bit": 1, "source": "x"}), r"dram\.ddr9: unknown DRAM type"),
        (lambda d: d["dram"]["hbm2"].__setitem__("pj_per_bit", -1), r"dram\.hbm2\.pj_per_bit must be a number in \(0, \d+\]; got -1$"),
        (lambda d: d["mac_accumulator"].__setitem__("int8", "int64"), r"mac_accumulator\.int8 must be one of"),
        (lambda d: d["sram"].pop("leakage_w_per_byte"), r"sram\.leakage_w_per_byte is required"),
        (lambda d: d["sram"].__setitem__("energy_fit_points", d["sram"]["energy_fit_points"][:2]),
         r"sram: SRAM energy fit needs points at two or more distinct capacities"),
        (lambda d: d["sram"]["energy_fit_points"][0].__setitem__("read_pj", 0), r"sram\.energy_fit_points\[0\]\.read_pj"),
        (lambda d: d["sram"].__setitem__("area_fit_points", d["sram"]["area_fit_points"][:1]),
         r"sram\.area_fit_points needs at least two points"),
        (lambda d: d["sram"]["energy_fit_points"][1].__setitem__("colour", 1), r"sram\.energy_fit_points\[1\]\.colour: unknown key"),
        (lambda d: d["sram"]["energy_fit_points"][1].pop("source"), r"sram\.energy_fit_points\[1\]\.source is required"),
        (lambda d: d["sram"]["energy_fit_points"][6].__setitem__("node_nm", 2), r"sram\.energy_fit_points\[6\]\.node_nm: .*scales only to nodes"),
        (lambda d: d["sram"]["energy_check_points"][0].__setitem__("status", "rumour"), r"sram\.energy_check_points\[0\]\.status must be one of"),
        (lambda d: d["register"].pop("energy_pj_per_bit"), r"register\.energy_pj_per_bit is required"),
        (lambda d: d.__setitem__("node_nm", 0), r"node_nm must be a number in \(0, 10000\]; got 0$"),
        (lambda d: d.__setitem__("colour", "blue"), r"colour: unknown key"),
        (lambda d: d["node_scaling"]["nodes"].pop(45), r"node_scaling\.nodes must include this table's own node 45"),
        (lambda d: d["node_scaling"]["nodes"][7].pop("wire"), r"node_scaling\.nodes\.7\.wire is required"),
        (lambda d: d["node_scaling"]["nodes"][7].__setitem__("wire", 0), r"node_scaling\.nodes\.7\.wire must be a number in \(0, \d+\]; got 0$"),
        (lambda d: d["ops"]["add"]["int8"].__setitem__("energy_pj", -0.5), r"ops\.add\.int8\.energy_pj must be a number in \[0, \d+\]; got -0\.5$"),
        (lambda d: d["dram"]["hbm2"].__setitem__("confidence", "sure"), r"dram\.hbm2\.confidence must be one of high, medium, low; got 'sure'"),
        (lambda d: d["dram"]["hbm2"].__setitem__("source", ""), r"dram\.hbm2\.source must be a non-empty string"),
        (lambda d: d["sram"]["energy_fit_points"][0].__setitem__("status", "unverified"), r"sram\.energy_fit_points\[0\]\.status must be one of"),
        (lambda d: d["sram"]["area_fit_points"].__setitem__(0, 5), r"sram\.area_fit_points\[0\] must be a mapping; got 5"),
        (lambda d: d["wire"]["pj_per_bit_mm"].pop("rule"), r"wire\.pj_per_bit_mm\.rule is required for a derived value"),
        (lambda d: d.__setitem__("vdd_v", "high"), r"vdd_v must be a number in \(0, 100\]; got 'high'"),
    ],
)
def test_bad_tech_yaml(tmp_path, mutate, expected):
    data = _base_dict()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError, match=expected) as info:
        load_tech(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "\n" not in msg


def test_yaml_exponent_without_dot_is_a_number(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-9 as a string; the tech loader accepts it as the number it is
    text = (TECH_DIR / "45nm.yaml").read_text().replace("value: 2.0e-9", "value: 1e-9")
    assert "value: 1e-9" in text
    t = load_tech(_write(tmp_path, text, "exp.yaml"))
    assert t.sram.leakage_w_per_byte == pytest.approx(1e-9)
    with pytest.raises(ConfigError, match=r"leakage_w_per_byte\.value must be a number"):
        load_tech(_write(tmp_path, text.replace("value: 1e-9", "value: 1e-9x"), "exp2.yaml"))


def test_bad_yaml_reports_every_problem(tmp_path):
    data = _base_dict()
    data["ops"]["mult"].pop("int16")
    data["dram"].pop("hbm3")
    with pytest.raises(ConfigError) as info:
        load_tech(_write(tmp_path, data))
    assert len(info.value.problems) == 2


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_tech(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_tech(_write(tmp_path, "ops: [1, 2\n", "broken.yaml"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_tech(_write(tmp_path, "- 1\n- 2\n", "list.yaml"))
    with pytest.raises(ConfigError):
        load_tech(3.5)


def test_derived_table_files(tmp_path):
    base = _write(tmp_path, _base_dict(), "base.yaml")
    ok = _write(tmp_path, {"name": "n10", "base": "base.yaml", "node_nm": 10,
                           "dram": {"hbm3": {"pj_per_bit": 3.0, "source": "test"}}}, "n10.yaml")
    t = load_tech(ok)
    assert t.node_nm == 10 and t.dram_energy_pj_per_bit("hbm3") == 3.0
    assert t.op_energy_pj("mac", "int8") == pytest.approx(load_tech(base).scaled(10).op_energy_pj("mac", "int8"))
    bad = _write(tmp_path, {"name": "x", "base": "base.yaml", "node_nm": 2}, "x.yaml")
    with pytest.raises(ConfigError, match=r"x\.yaml: node_nm: .*scales only to nodes"):
        load_tech(bad)
    loop = _write(tmp_path, {"name": "loop", "base": "loop.yaml", "node_nm": 7}, "loop.yaml")
    with pytest.raises(ConfigError, match="circular"):
        load_tech(loop)
    unknown = _write(tmp_path, {"name": "u", "base": "nosuch", "node_nm": 7}, "u.yaml")
    with pytest.raises(ConfigError, match="base: unknown tech table 'nosuch'"):
        load_tech(unknown)
    extra = _write(tmp_path, {"name": "e", "base": "base.yaml", "node_nm": 7, "ops": {}}, "e.yaml")
    with pytest.raises(ConfigError, match="ops: unknown key; valid keys: base, description, dram, name, node_nm"):
        load_tech(extra)


def test_pickle_roundtrip():
    import pickle

    t = load_tech("16nm")
    back = pickle.loads(pickle.dumps(t))
    assert back.op_energy_pj("mac", "fp16") == t.op_energy_pj("mac", "fp16")
    assert back.sram_energy_pj(64 * KB, 128) == t.sram_energy_pj(64 * KB, 128)
    assert hash(t) == hash(t)  # usable as a cache key
    e = estimate(ActionCounts({("pe", "mac", "int8"): 2}), {("pe", "mac", "int8"): (0.3, "compute")}, 1e-3, 1e-6)
    assert pickle.loads(pickle.dumps(e)) == e
    a = estimate_area({"pe": 1.0})
    assert pickle.loads(pickle.dumps(a)) == a


def test_errors_are_accelsim_errors():
    for exc in (ConfigError, SimulationError, UnknownNameError):
        assert issubclass(exc, AccelsimError)


def test_nnls_by_support_equals_scipy_nnls():
    """The SRAM area fit's exact small NNLS against scipy.optimize.nnls (its reference) on random problems,
    including ones whose optimum has a zero coordinate."""
    from scipy.optimize import nnls

    from accelsim.energy.sram import nnls_by_support

    rng = np.random.default_rng(7)
    zeros_seen = 0
    for trial in range(200):
        rows, cols = int(rng.integers(2, 9)), int(rng.integers(1, 4))
        a = rng.normal(size=(rows, cols))
        b = rng.normal(size=rows)
        ours, ref = nnls_by_support(a, b), nnls(a, b)[0]
        assert np.all(ours >= 0)
        assert np.linalg.norm(a @ ours - b) == pytest.approx(np.linalg.norm(a @ ref - b), rel=1e-9, abs=1e-12)
        if rows > cols:  # full column rank: the optimum is unique
            np.testing.assert_allclose(ours, ref, rtol=1e-7, atol=1e-9)
        zeros_seen += int(np.any(ref == 0))
    assert zeros_seen > 20  # the constrained case is exercised, not only interior optima
