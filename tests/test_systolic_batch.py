"""A whole network in one pass (docs/models/systolic.md §9): ``SystolicModel.simulate_layers`` and the
batch kernel ``_batch_kernels.analytic_units`` give, to the bit, what one ``simulate`` per layer and
the per-unit path (``closed_form`` + ``analytic_unit_report``) give."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.dse.evaluate import _cgraph, config_for
from accelsim.errors import SimulationError
from accelsim.hw.registry import build_model
from accelsim.hw.systolic import _batch_kernels as BK
from accelsim.hw.systolic import analytic as A
from accelsim.report.results import NetworkResult, operand_sizes, refetch_summary
from accelsim.hw.systolic.model import DF_CODE, Geometry, analytic_unit_report, closed_form, geometry_table


def _same(a, b) -> bool:
    """Equal results to the bit: JSON text, value types, dict orders, action counts in order."""
    da, db = a.to_dict(with_actions=True), b.to_dict(with_actions=True)
    return (json.dumps(da) == json.dumps(db)
            and all(type(x) is type(y) for x, y in zip(da.values(), db.values()))
            and list(a.energy_breakdown_j) == list(b.energy_breakdown_j)
            and list(a.actions.items()) == list(b.actions.items()))


CASES = [
    # (arch, workload, recipe, overrides): CALC and USER mode, both memory models, packed precisions,
    # compressed weights, N:M weights the hardware exploits, zero-weight skipping, GEMMs and groups
    ("scalesim-32x32-os", "resnet18", None, {"memory_model": "analytic", "array.dataflow": "ws", "array.rows": 12}),
    ("scalesim-32x32-os", "mobilenet-v2", None, {"memory_model": "analytic", "array.dataflow": "is"}),
    ("scalesim-32x32-os", "lenet5", None, {"memory_model": "exact", "array.dataflow": "os", "array.cols": 8}),
    ("scalesim-eyeriss", "alexnet", None, {"memory_model": "analytic"}),
    ("edge-32x32", "mobilenet-v2", "int8", {"memory_model": "analytic"}),
    ("edge-32x32", "resnet18", "magnitude-8", {"memory_model": "analytic", "array.dataflow": "ws"}),
    ("edge-32x32-2of4", "resnet18", "2of4-int8", {"memory_model": "analytic"}),
    ("edge-32x32-skip", "lenet-300-100", "magnitude-8", {"memory_model": "analytic"}),
    ("tpu-v1", "bert-base", "int8", {"memory_model": "analytic", "array.rows": 64, "array.cols": 64}),
]


@pytest.mark.parametrize("arch,workload,recipe,overrides", CASES)
@pytest.mark.parametrize("batch", [1, 3])
def test_simulate_layers_equals_simulate_per_layer(arch, workload, recipe, overrides, batch):
    model = build_model(config_for(arch, overrides))
    layers = list(_cgraph(workload, recipe, 0))
    want = [model.simulate(cl, batch) for cl in layers]
    got = model.simulate_layers(model.plan_layers(layers, batch))
    assert len(got) == len(want)
    bad = [w.name for g, w in zip(got, want) if not _same(g, w)]
    assert not bad, bad
    assert any(r.extra.get("mapped") is False for r in got) == any(r.extra.get("mapped") is False for r in want)


def _summaries(result):
    return json.dumps([result.total, refetch_summary(result)], default=repr)


@pytest.mark.parametrize("arch,workload,recipe,overrides", CASES + [
    # small SRAMs: layers refetch their operands (the refetch warning names them)
    ("scalesim-32x32-os", "resnet18", None, {"memory_model": "analytic", "sram.ifmap_kb": 2, "sram.filter_kb": 2}),
    ("edge-32x32", "resnet18", "magnitude-8", {"memory_model": "exact", "sram.filter_kb": 4, "array.dataflow": "is"}),
])
def test_lazy_columns_give_the_totals_of_the_layer_objects(arch, workload, recipe, overrides):
    """``simulate_layers(plan, lazy=True)``: the totals and the refetch summary from the columns equal
    those from the materialised layers, to the bit (values, types, key orders), and so do the layers."""
    model = build_model(config_for(arch, overrides))
    layers = list(_cgraph(workload, recipe, 0))
    plan = model.plan_layers(layers, 2)
    lazy = model.simulate_layers(plan, lazy=True)
    eager = model.simulate_layers(plan)
    assert len(lazy) == len(eager)
    got = NetworkResult(arch={}, workload=workload, layers=lazy, batch=2)
    want = NetworkResult(arch={}, workload=workload, layers=eager, batch=2)
    got.operands = want.operands = operand_sizes(layers, 2, 8)
    assert _summaries(got) == _summaries(want)
    tot = got.total
    assert list(tot["energy_breakdown_j"]) == list(want.total["energy_breakdown_j"])
    assert [type(v) for v in tot.values()] == [type(v) for v in want.total.values()]
    if "refetch" in str(overrides) or "kb" in str(overrides):
        assert refetch_summary(want)["refetch_layers"] > 0  # the refetch path is exercised
    assert all(_same(a, b) for a, b in zip(lazy, eager))


def test_plan_is_config_free_and_checks_the_batch():
    layers = list(_cgraph("resnet18", None, 0))
    plan = build_model(config_for("scalesim-32x32-os", {})).plan_layers(layers, 1)
    for over in ({"array.rows": 8, "array.dataflow": "is"}, {"memory_model": "analytic", "array.cols": 128}):
        model = build_model(config_for("scalesim-32x32-os", over))
        assert all(_same(a, b) for a, b in zip(model.simulate_layers(plan), [model.simulate(cl, 1) for cl in layers]))
    with pytest.raises(SimulationError, match="batch"):
        build_model(config_for("scalesim-32x32-os", {})).plan_layers(layers, 0)


_REPORT = {"compute_cycles": ("i", BK.I_COMPUTE), "ifmap_sram_reads": ("i", BK.I_IF_SRAM),
           "filter_sram_reads": ("i", BK.I_FI_SRAM), "ofmap_sram_writes": ("i", BK.I_OF_SRAM), "macs": ("i", BK.I_MACS),
           "folds": ("i", BK.I_FOLDS), "row_folds": ("i", BK.I_ROW_FOLDS), "col_folds": ("i", BK.I_COL_FOLDS),
           "Sr": ("i", BK.I_SR), "Sc": ("i", BK.I_SC), "T": ("i", BK.I_T), "cycles_per_fold": ("i", BK.I_PER_FOLD),
           "total_cycles_incl_prefetch": ("i", BK.I_INCL_PREFETCH), "mapping_efficiency": ("f", BK.F_MAP_EFF),
           "compute_utilization": ("f", BK.F_COMPUTE_UTIL), "overall_util": ("f", BK.F_OVERALL_UTIL),
           "ifmap_dram_reads": ("f", BK.F_IF_DRAM), "filter_dram_reads": ("f", BK.F_FI_DRAM),
           "ofmap_dram_writes": ("f", BK.F_OF_DRAM)}


@settings(max_examples=60, deadline=None)
@given(df=st.sampled_from(["os", "ws", "is"]), R=st.integers(1, 24), C=st.integers(1, 24),
       geoms=st.lists(st.tuples(st.integers(1, 2), st.integers(1, 12), st.integers(1, 12), st.integers(1, 6),
                                st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 8)),
                      min_size=1, max_size=4),
       kb=st.sampled_from([1, 2, 8]))
def test_batch_kernel_equals_the_per_unit_path(df, R, C, geoms, kb):
    units = []
    for b, h, w, ch, fh, fw, s, k in geoms:
        fh, fw = min(fh, h), min(fw, w)
        units.append(Geometry.conv(h, w, fh, fw, ch, k, s, batch=b))
    units.append(Geometry.gemm(5, 7, 9))
    sizes = (kb * 1024, kb * 1024, kb * 512)
    tab = geometry_table(units)
    reuse = BK.reuse_table(tab, A.N_SAMPLES)
    ints, flts, exact = BK.analytic_units(DF_CODE[df], R, C, tab, *sizes, reuse[0],
                                          *BK.reuse_positions_table(DF_CODE[df], R, C, tab, *reuse), A.MAX_SWEEPS)
    assert exact.all()
    for i, g in enumerate(units):
        want = dict(closed_form(df, R, C, g))
        want.update(analytic_unit_report(df, R, C, g, sizes))
        for key, (kind, col) in _REPORT.items():
            got = ints[i, col] if kind == "i" else flts[i, col]
            assert got == want[key] and type(got.item()) is type(want[key]), (key, got, want[key])


def test_batch_kernel_hands_inexact_ratios_back():
    big = Geometry.gemm(1 << 20, 1 << 20, 1 << 14)  # 2^54 MACs: not exact in float64
    tab = geometry_table([big, Geometry.gemm(4, 4, 4)])
    reuse = BK.reuse_table(tab, A.N_SAMPLES)
    _, _, exact = BK.analytic_units(0, 32, 32, tab, 1 << 16, 1 << 16, 1 << 16, reuse[0],
                                    *BK.reuse_positions_table(0, 32, 32, tab, *reuse), A.MAX_SWEEPS)
    assert exact.tolist() == [False, True]
    assert np.iinfo(np.int64).max > big.macs


def test_models_share_what_their_energy_parts_decide():
    """The energy table and action keys depend on the technology table, PE, SRAMs and DRAM alone: a
    sweep over array shapes and dataflows builds them once; any of those parts changed gives its own."""
    from accelsim.energy.estimate import EnergyTable

    base = build_model(config_for("scalesim-32x32-os", {"memory_model": "analytic"}))
    shape = build_model(config_for("scalesim-32x32-os", {"memory_model": "analytic", "array.rows": 8,
                                                         "array.dataflow": "ws"}))
    assert isinstance(base.energy_table, EnergyTable) and shape.energy_table is base.energy_table
    for change in ({"sram.ifmap_kb": 16}, {"tech": "7nm"}, {"pe.accumulator_bits": 24}, {"dram.type": "hbm2"}):
        other = build_model(config_for("scalesim-32x32-os", {"memory_model": "analytic", **change}))
        assert other.energy_table is not base.energy_table
        assert dict(other.energy_table) != dict(base.energy_table), change


def test_plan_keeps_sample_positions_only_where_the_columns_do_not_move_them():
    """os and ws positions (§8.5) do not depend on the array's columns: a plan serves them across column
    counts, equal to a fresh computation for each; is positions depend on them and are kept per count."""
    from accelsim.hw.systolic.model import NetworkPlan

    plan = NetworkPlan(list(_cgraph("resnet18", None, 0)), 1)
    rows, p, t, start, p2, t2 = plan.reuse(A.N_SAMPLES)
    assert rows[-1] > 0
    for df in (0, 1, 2):
        kept = plan.reuse_positions(df, 16, 8, A.N_SAMPLES)
        other = plan.reuse_positions(df, 16, 40, A.N_SAMPLES)
        assert (other is kept) == (df != 2)
        fresh = BK.reuse_positions_table(df, 16, 40, plan.table, rows, p, t, start, p2, t2)
        for a, b in zip(other[1:], fresh):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("density", [1.0, 0.5, 0.05])
def test_compressed_filter_stream_moves_its_stored_bits_uncapped(density):
    """docs/models/systolic.md §4.3: filter DRAM words x stored / dense bits, larger than dense too (CSR of a
    barely pruned int8 layer carries an index per weight: the stream grows), per layer and batched alike."""
    from accelsim.compress.recipe import compress
    from accelsim.workload.zoo import load_workload

    recipe = {"name": "r", "pipeline": [{"prune": {"density": density}}, {"quantize": {"bits": 8, "per_channel": True}},
                                        {"encode": {"format": "csr"}}]}
    model = build_model(config_for("edge-32x32", {"memory_model": "analytic"}))
    layers = list(compress(load_workload("lenet-300-100"), recipe))
    dense = list(_cgraph("lenet-300-100", None, 0))  # the words the array fetches, no format applied
    got = [model.simulate(cl, 1) for cl in layers]
    base = [model.simulate(cl, 1) for cl in dense]
    assert all(_same(a, b) for a, b in zip(model.simulate_layers(model.plan_layers(layers, 1)), got))
    for cl, r, d in zip(layers, got, base):
        if not cl.layer.has_weights:
            continue
        rows, cols = cl.layer.weight_matrix_shape
        ratio = cl.view.stored_bits / (rows * cols * 8)
        assert r.extra["dram_words"]["filter"] == pytest.approx(d.extra["dram_words"]["filter"] * ratio, abs=1)
        if ratio > 1:
            assert r.dram_read_bytes > d.dram_read_bytes
