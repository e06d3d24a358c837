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
