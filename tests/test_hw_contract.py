"""The hardware contract, checked on every bundled arch of every registered family.

Nothing here names a family: archs come from the bundled configs, families from the registry, and a
new family is covered by adding its folder and a bundled config.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import typing

import pytest

import accelsim
from accelsim.config import field_paths
from accelsim.errors import ConfigError, SimulationError
from accelsim.hw.base import ENERGY_CATEGORIES, HardwareModel, LayerResult, Roof
from accelsim.hw.registry import arch_names, build_model, family, family_names, load_arch

WORKLOAD = "lenet-300-100"
# tried in order: dense, pruned, pruned + weight-shared (engines that only run codebooks)
RECIPES = (None, "magnitude-8",
           {"name": "prune-share4", "pipeline": [{"prune": {"density": 0.1}}, {"share": {"bits": 4}}]})
SCHEMA_FIELDS = {f.name for f in dataclasses.fields(LayerResult)} - {"actions"}


def _runs(arch: str) -> list:
    out = []
    for recipe in RECIPES:
        try:
            out.append(accelsim.simulate(arch, WORKLOAD, recipe=recipe, batch=2, seed=0, dense_baseline=False))
        except SimulationError:
            continue
    return out


@pytest.fixture(scope="module", params=arch_names())
def arch_runs(request):
    return request.param, _runs(request.param)


def test_every_bundled_arch_belongs_to_a_registered_family():
    names = family_names()
    assert names, "no hardware family discovered"
    for arch in arch_names():
        assert load_arch(arch).family in names


def test_families_subclass_the_one_base_and_keep_simulate_shared():
    for name in family_names():
        fam = family(name)
        assert issubclass(fam.model_cls, HardwareModel), name
        assert fam.model_cls.simulate is HardwareModel.simulate, f"{name} overrides the shared simulate"
        assert fam.model_cls.family == name


def _numeric_bounded_field(cls, prefix=""):
    """(dotted path, metadata, type) of the first int / float field with a lower bound, depth first."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            found = _numeric_bounded_field(tp, f"{prefix}{f.name}.")
            if found:
                return found
        elif tp in (int, float) and (f.metadata.get("ge") is not None or f.metadata.get("gt") is not None):
            return f"{prefix}{f.name}", f.metadata, tp
    return None


@pytest.mark.parametrize("arch", arch_names())
def test_arch_rejects_a_bad_value_with_config_error(arch):
    cfg = load_arch(arch)
    path, meta, tp = _numeric_bounded_field(type(cfg))
    low = meta["ge"] if meta.get("ge") is not None else meta["gt"]
    bad = low - 1
    with pytest.raises(ConfigError, match=rf"{path.replace('.', '[.]')} must be .*got {bad}"):
        load_arch(arch, {path: tp(bad)})
    with pytest.raises(ConfigError, match=rf"{path.replace('.', '[.]')} must be"):
        load_arch(arch, {path: "not a number"})
    assert path in field_paths(type(cfg))


def test_every_arch_runs_at_least_one_recipe(arch_runs):
    arch, runs = arch_runs
    assert runs, f"{arch}: none of {RECIPES} runs on {WORKLOAD}"


def test_results_follow_the_schema(arch_runs):
    arch, runs = arch_runs
    for result in runs:
        mapped = 0
        for r in result.layers:
            d = r.to_dict()
            assert set(d) == SCHEMA_FIELDS, f"{arch} {r.name}: fields {sorted(set(d) ^ SCHEMA_FIELDS)}"
            assert r.cycles == r.compute_cycles + r.stall_cycles
            for name in ("macs", "effective_macs", "cycles", "compute_cycles", "stall_cycles", "dram_read_bytes",
                         "dram_write_bytes", "weight_storage_bits"):
                value = getattr(r, name)
                assert isinstance(value, int) and value >= 0, f"{arch} {r.name}.{name} = {value!r}"
            for name in ("latency_s", "energy_j", "utilization"):
                value = getattr(r, name)
                assert math.isfinite(value) and value >= 0, f"{arch} {r.name}.{name} = {value!r}"
            assert r.utilization <= 1.0
            assert set(r.energy_breakdown_j) <= set(ENERGY_CATEGORIES), f"{arch}: {sorted(r.energy_breakdown_j)}"
            assert all(math.isfinite(v) and v >= 0 for v in r.energy_breakdown_j.values())
            assert math.isclose(sum(r.energy_breakdown_j.values()), r.energy_j, rel_tol=1e-9, abs_tol=1e-18)
            # words of each buffer's declared width
            for counts in (r.sram_reads, r.sram_writes):
                assert set(counts) <= set(r.sram_word_bits), f"{arch} {r.name}: no width for {set(counts) - set(r.sram_word_bits)}"
                assert all(isinstance(v, int) and v >= 0 for v in counts.values())
            assert all(isinstance(b, int) and b > 0 for b in r.sram_word_bits.values())
            if r.extra.get("mapped") is False:
                assert isinstance(r.extra.get("note"), str) and r.extra["note"]
                assert (r.cycles, r.energy_j, r.latency_s, r.macs, r.dram_read_bytes) == (0, 0.0, 0.0, 0, 0)
            else:
                mapped += 1
                assert r.latency_s > 0 and r.cycles > 0 and r.energy_j > 0
        assert mapped > 0, f"{arch}: no layer of {WORKLOAD} ran"


def test_results_are_deterministic(arch_runs):
    arch, runs = arch_runs
    again = _runs(arch)
    assert [json.dumps(r.to_dict(with_actions=True), sort_keys=True) for r in runs] == \
        [json.dumps(r.to_dict(with_actions=True), sort_keys=True) for r in again]


def _one_arch_per_family() -> list[str]:
    seen: dict[str, str] = {}
    for arch in arch_names():
        seen.setdefault(load_arch(arch).family, arch)
    return sorted(seen.values())


@pytest.mark.parametrize("arch", _one_arch_per_family())
def test_simulate_network_is_simulate_per_layer_unless_the_network_decides(arch):
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.workload.zoo import load_workload

    model = build_model(load_arch(arch))
    graph = load_workload("lenet-300-100")
    if model.family == "eie":  # EIE runs pruned, weight-shared, interleaved-CSC layers only
        from accelsim.compress.recipe import compress, load_recipe

        recipe = {"name": "eie-small", "seed": 1602,
                  "pipeline": [{"prune": {"method": "random", "density": 0.1}},
                               {"share": {"bits": 4, "init": "linear", "table_bits": 16}},
                               {"encode": {"format": "interleaved_csc", "n_pe": model.config.n_pe, "index_bits": 4,
                                           "pointer_bits": 16}}]}
        layers = list(compress(graph, load_recipe(recipe), seed=0))
    else:
        layers = list(CompressedGraph.dense(graph))
    network = [r.to_dict(with_actions=True) for r in model.simulate_network(layers, 2)]
    alone = [model.simulate(cl, 2).to_dict(with_actions=True) for cl in layers]
    assert [r["name"] for r in network] == [cl.layer.name for cl in layers]
    if model.family == "npu":  # the network's input and output cross DRAM (docs/models/npu.md §4.4)
        if model.config.dram.invoke_overhead_us > 0:  # a host-attached NPU: a batch is batch-1 invocations (§4.4)
            from accelsim.hw.npu.model import _invocations

            alone = [_invocations(model.simulate(cl, 1), 2).to_dict(with_actions=True) for cl in layers]
        assert network[1:-1] == alone[1:-1] and network != alone
    else:
        assert network == alone


@pytest.mark.parametrize("arch", arch_names())
def test_model_roof_energy_table_and_pickling(arch):
    model = build_model(load_arch(arch))
    roof = model.roof()
    assert isinstance(roof, Roof)
    assert roof.native_dtype in roof.macs_per_s
    assert all(math.isfinite(v) and v > 0 for v in roof.macs_per_s.values())
    assert all(v is None or (math.isfinite(v) and v > 0) for v in roof.bytes_per_s.values())
    for dtype, sparse in roof.sparse_macs_per_s.items():  # skipping zeros never lowers the peak
        assert roof.sparse_pattern and sparse > roof.macs_per_s[dtype]
    assert model.static_power_w >= 0 and math.isfinite(model.static_power_w)
    assert {cat for _, cat in model.energy_table.values()} <= set(ENERGY_CATEGORIES)
    clone = pickle.loads(pickle.dumps(model))  # sweeps send models to worker processes
    assert clone.roof() == roof


def test_a_bad_energy_category_is_refused():
    from accelsim.energy.estimate import EnergyTable

    class Odd(HardwareModel):
        family = "odd"

        def count(self, layer, batch):
            raise AssertionError

        def energy_reference_table(self):
            return {("pe", "mac", "int8"): (1.0, "magic")}

        def static_power(self):
            return 0.0

        def roof(self):
            return Roof({"int8": 1.0}, {"dram": None}, "int8")

    with pytest.raises(ValueError, match="energy category .* got 'magic'"):
        Odd(config=None)

    class Unhashable(Odd):
        def energy_reference_table(self):
            return {("pe", "mac", "int8"): (1.0, "compute"), ("dram", "read", "bit"): (1.0, ["dram"])}

    with pytest.raises(ValueError, match=r"energy category .* got \['dram'\]"):
        Unhashable(config=None)

    shared = EnergyTable({("pe", "mac", "int8"): (1.0, "compute")})  # one table for many models (a sweep)

    class Shared(Odd):
        def energy_reference_table(self):
            return shared

    assert Shared(config=None).energy_table is Shared(config=None).energy_table is shared
    assert shared.categories() == frozenset({"compute"})


# ---------------------------------------------------------------- a new family is one registration
from dataclasses import dataclass as _dataclass  # noqa: E402

from accelsim.config import param  # noqa: E402
from accelsim.energy.actions import ActionCounts  # noqa: E402
from accelsim.hw.base import LayerCounts, NotMapped  # noqa: E402


@_dataclass(frozen=True)
class RooflineConfig:
    """A bare roofline engine: ``macs_per_cycle`` MACs per cycle, DRAM at ``dram_bytes_per_s``."""

    name: str = param(doc="config name")
    family: str = param("roofline-test", doc="hardware family")
    clock_hz: float = param(1e9, gt=0, unit="Hz", doc="clock")
    macs_per_cycle: int = param(256, ge=1, unit="MAC/cycle", doc="peak MACs per cycle")
    dram_bytes_per_s: float = param(1e11, gt=0, unit="B/s", doc="DRAM bandwidth")
    pj_per_mac: float = param(1.0, ge=0, unit="pJ", doc="energy of one MAC")
    pj_per_dram_bit: float = param(10.0, ge=0, unit="pJ/bit", doc="energy of one DRAM bit")


class RooflineModel(HardwareModel):
    """Cycles = max(MACs / peak, weight bytes / bandwidth); weights streamed once at 8 bits."""

    family = "roofline-test"

    def count(self, layer, batch):
        g = layer.layer.gemm(batch)
        if g is None:
            return NotMapped("no matrix product")
        cfg = self.config
        macs = layer.layer.macs * batch
        shape = layer.layer.weight_matrix_shape if layer.layer.has_weights else None
        dense_bytes = shape[0] * shape[1] if shape else 0  # int8 weights when nothing is stored compressed
        weight_bytes = layer.view.stored_bits // 8 if layer.view.layout != "none" else dense_bytes
        compute = -(-macs // cfg.macs_per_cycle)
        memory = -(-int(weight_bytes * cfg.clock_hz) // int(cfg.dram_bytes_per_s))
        return LayerCounts(macs=macs, effective_macs=macs, compute_cycles=compute, stall_cycles=max(0, memory - compute),
                           actions=ActionCounts({("pe", "mac", "int8"): macs, ("dram", "read", "bit"): 8 * weight_bytes}),
                           useful_macs=macs, peak_macs_per_s=cfg.macs_per_cycle * cfg.clock_hz,
                           dram_read_bytes=weight_bytes, weight_storage_bits=8 * weight_bytes)

    def energy_reference_table(self):
        return {("pe", "mac", "int8"): (self.config.pj_per_mac, "compute"),
                ("dram", "read", "bit"): (self.config.pj_per_dram_bit, "dram")}

    def static_power(self):
        return 0.0

    def roof(self):
        return Roof({"int8": self.config.macs_per_cycle * self.config.clock_hz}, {"dram": self.config.dram_bytes_per_s}, "int8")


@pytest.fixture
def roofline_family(monkeypatch):
    from accelsim.hw import registry

    monkeypatch.setitem(registry._FAMILIES, "roofline-test", registry.Family("roofline-test", RooflineConfig, RooflineModel))
    return {"name": "roof-256", "family": "roofline-test", "macs_per_cycle": 256}


def test_a_registered_family_runs_through_simulate_and_sweeps_with_no_other_edit(roofline_family, tmp_path):
    result = accelsim.simulate(roofline_family, WORKLOAD, recipe="magnitude-8", batch=1)
    mapped = [r for r in result.layers if r.extra.get("mapped") is not False]
    assert mapped and all(r.cycles >= -(-r.macs // 256) for r in mapped)
    dense = result.dense.total  # the dense baseline ran on the new family too
    assert result.total["speedup_vs_dense"] == pytest.approx(dense["latency_s"] / result.total["latency_s"])
    assert result.total["dram_read_bytes"] != dense["dram_read_bytes"]  # the stored format is what streams
    with pytest.raises(ConfigError, match=r"macs_per_cycle must be an int >= 1; got 0"):
        load_arch({**roofline_family, "macs_per_cycle": 0})
    df = accelsim.sweep({"base": {"arch": roofline_family, "workload": WORKLOAD},
                         "grid": {"arch.macs_per_cycle": [64, 256]}}, store=tmp_path, progress=False)
    assert list(df["status"]) == ["ok", "ok"]
    assert list(df["peak_macs_per_s"]) == [64e9, 256e9] and list(df["dram_bytes_per_s"]) == [1e11, 1e11]
    assert df["latency_s"].iloc[0] > df["latency_s"].iloc[1]
    bad = accelsim.sweep  # a misspelled key of the new family is caught before anything runs
    with pytest.raises(accelsim.AccelsimError, match="arch.macs_per_cycles: unknown config key for family 'roofline-test'"):
        bad({"base": {"arch": roofline_family, "workload": WORKLOAD}, "grid": {"arch.macs_per_cycles": [64]}},
            progress=False)


def test_families_are_discovered_from_folders_and_entry_points(monkeypatch):
    import importlib.metadata as md

    from accelsim.errors import UnknownNameError
    from accelsim.hw import registry

    class EntryPoint:
        name, value = "outside-family", "json"  # a module that registers nothing

    monkeypatch.setattr(md, "entry_points", lambda group: [EntryPoint()] if group == registry.ENTRY_POINT_GROUP else [])
    registry._discovered.cache_clear()
    try:
        found = registry._discovered()
        assert {"systolic", "eie", "gpu"} <= set(found) and found["outside-family"] == "json"
        assert "outside-family" in registry.family_names()
        with pytest.raises(UnknownNameError, match="outside-family"):  # imported, but it registered no family
            registry.family("outside-family")
    finally:
        registry._discovered.cache_clear()
