"""EIE model: mapping, results, energy, tiling, lowering and bad input (one line, exit 2)."""

from __future__ import annotations

import json

import math

import numpy as np
import pytest

from accelsim.compress.compressed import CompressedLayer
from accelsim.compress.recipe import compress, load_recipe
from accelsim.compress.tensors import InterleavedCSC
from accelsim.errors import ConfigError, SimulationError
from accelsim.hw.base import HardwareModel
from accelsim.hw.eie import EIEConfig, EIEModel
from accelsim.hw.registry import build_model, load_arch
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Conv2d, Input, Linear, LSTMCell, MatMul, Pool2d

RECIPE = {
    "name": "eie-test",
    "layers": "*",
    "pipeline": [
        {"prune": {"method": "random", "density": 0.1}},
        {"share": {"bits": 4, "table_bits": 16}},
        {"encode": {"format": "interleaved_csc", "n_pe": 64, "index_bits": 4, "pointer_bits": 16}},
    ],
}


def graph_of(*layers, density=0.4):
    g = LayerGraph("t")
    for layer in layers:
        g.add(Input(name=layer.name + ".in", shape=layer.input_shape))
        g.add(layer, [layer.name + ".in"])
        if layer.has_weights:
            g.set_activation_density(layer.name, density)
    return g


def compressed(*layers, density=0.4, recipe=RECIPE, seed=0):
    return compress(graph_of(*layers, density=density), load_recipe(recipe), seed=seed)


@pytest.fixture(scope="module")
def fc():
    return compressed(Linear(name="fc", input_shapes=((1024,),), out_features=512))["fc"]


def test_bundled_configs_load_and_match_the_paper():
    c = load_arch("eie")
    assert (c.n_pe, c.clock_hz, c.queue_depth, c.tech) == (64, 800e6, 8, "45nm")
    assert (c.encoding.weight_index_bits, c.encoding.row_index_bits, c.encoding.codebook_entries,
            c.encoding.codebook_bits) == (4, 4, 16, 16)
    assert c.entries_per_line == 8 and c.spmat.capacity_bytes == 128 * 1024 and c.ptr.banks == 2
    big = load_arch("eie-256pe-28nm")
    assert (big.n_pe, big.clock_hz, big.tech) == (256, 1200e6, "28nm")
    assert load_arch("eie-64pe-7nm").tech == "7nm"


def test_layer_result_fields_and_invariants(fc):
    r = build_model(load_arch("eie")).simulate(fc)
    assert r.cycles == r.compute_cycles + r.stall_cycles and r.stall_cycles >= 0
    assert r.latency_s == pytest.approx(r.cycles / 800e6)
    assert r.macs == 1024 * 512
    nnz = int(np.count_nonzero(fc.weight_matrix))
    assert 0 < r.effective_macs <= nnz
    assert r.energy_j > 0 and r.energy_j == pytest.approx(sum(r.energy_breakdown_j.values()))
    ex = r.extra
    assert 0 < ex["load_balance_efficiency"] <= ex["pe_utilization"] <= 1
    assert len(ex["pe_busy_cycles"]) == 64 and len(ex["pe_idle_cycles"]) == 64
    assert all(b + i == r.cycles for b, i in zip(ex["pe_busy_cycles"], ex["pe_idle_cycles"]))
    assert ex["weights_resident"] and r.dram_read_bytes == 0
    assert ex["broadcasts"] == round(0.4 * 1024)
    # pointer pairs: one per PE per broadcast column, two 16-bit bank reads each
    assert r.sram_reads["ptr"] == 2 * 64 * ex["broadcasts"]
    # every stored entry of a broadcast column is one codebook lookup and one multiply
    assert r.actions[("codebook", "read", "16b")] == ex["entries_processed"]
    assert r.actions[("alu", "mult", "int16")] == ex["entries_processed"]
    # spmat lines: at least entries / 8 per PE
    assert r.sram_reads["spmat"] >= ex["entries_processed"] / 8
    json.dumps(r.to_dict(with_actions=True))


def _recompressed(fc, encode=None, huffman=None):
    """``fc``'s layer under RECIPE with another encode step (None: none) and an optional Huffman step."""
    steps = RECIPE["pipeline"][:2] + ([{"encode": encode}] if encode else []) + ([{"huffman": huffman}] if huffman else [])
    cl = compressed(fc.layer, recipe={**RECIPE, "pipeline": steps})["fc"]
    assert np.array_equal(cl.weight_matrix, fc.weight_matrix)  # the same pruned, shared values
    return cl


def test_recipe_layout_is_reused_and_rebuilt_layout_is_identical(fc):
    model = EIEModel(load_arch("eie"))
    r1 = model.simulate(fc)
    assert fc.view.layout == "interleaved_csc" and fc.view.n_partitions == 64  # reused as stored
    key = (r1.cycles, r1.extra["entries_processed"], r1.extra["padding_zeros"], r1.energy_j)
    enc = RECIPE["pipeline"][2]["encode"]
    # rebuilt here: another layout, another PE count, another index width
    rebuilt = [_recompressed(fc), _recompressed(fc, encode=dict(enc, n_pe=32)),
               _recompressed(fc, encode=dict(enc, index_bits=8))]
    assert [(cl.view.layout, cl.view.n_partitions) for cl in rebuilt] == [
        ("csr", 1), ("interleaved_csc", 32), ("interleaved_csc", 64)] and rebuilt[2].view.index_bits == 8
    huff = _recompressed(fc, encode=enc, huffman={"streams": ["payload", "index"]})
    assert huff.view.huffman_streams and huff.view.layout == "interleaved_csc"  # reused under Huffman coding
    # the rule: the recipe's interleaved CSC when built for this PE count and index width, else the pattern's
    assert model._mapping(fc).reused and model._mapping(huff).reused
    assert not any(model._mapping(cl).reused for cl in rebuilt)
    # the segments are kept per layer: every model with the same PE count, index width and registers reuses them
    other = EIEModel(load_arch("eie", {"queue_depth": 2}))
    assert all(other._mapping(cl) is model._mapping(cl) for cl in rebuilt + [fc])
    assert EIEModel(load_arch("eie", {"n_pe": 32}))._mapping(fc) is not model._mapping(fc)
    assert EIEModel(load_arch("eie", {"act_regs": 4}))._mapping(fc).seg.shape[1] == 2  # 8 local rows: two passes
    np.testing.assert_array_equal(model._mapping(fc).col_ptr, fc.view.tensor.pe_ptr.T)
    for cl in rebuilt + [huff]:
        r = model.simulate(cl)
        assert (r.cycles, r.extra["entries_processed"], r.extra["padding_zeros"], r.energy_j) == key


def test_given_activation_sample_drives_the_timing(fc):
    model = EIEModel(load_arch("eie"))
    zeros = CompressedLayer(layer=fc.layer, weight=fc.weight, weight_matrix=fc.weight_matrix, codebook_size=16,
                            transforms=fc.transforms, activation_sample=np.zeros(1024))
    r = model.simulate(zeros)
    assert r.extra["broadcasts"] == 0 and r.effective_macs == 0
    assert r.cycles == 1024 // 64 + 4  # the scan of 1024 positions at 64 per cycle + pipeline drain
    ones = CompressedLayer(layer=fc.layer, weight=fc.weight, weight_matrix=fc.weight_matrix, codebook_size=16,
                           transforms=fc.transforms, activation_sample=np.ones(1024))
    r1 = model.simulate(ones)
    assert r1.extra["broadcasts"] == 1024
    assert r1.effective_macs == np.count_nonzero(fc.weight_matrix)


def test_more_pes_fewer_cycles_and_queue_depth_helps(fc):
    cyc = {p: build_model(load_arch("eie", {"n_pe": p})).simulate(fc).cycles for p in (8, 32, 128)}
    assert cyc[8] > cyc[32] > cyc[128]
    lb = {d: build_model(load_arch("eie", {"queue_depth": d})).simulate(fc).extra["load_balance_efficiency"]
          for d in (1, 8)}
    assert lb[8] > lb[1] + 0.2


def test_batch_and_lstm_and_conv_lowering():
    model = EIEModel(load_arch("eie"))
    cg = compressed(
        Linear(name="fc", input_shapes=((256,),), out_features=128),
        LSTMCell(name="lstm", input_shapes=((100,),), hidden_size=64),
        Conv2d(name="conv", input_shapes=((8, 6, 6),), out_channels=16, kernel=3),
        Pool2d(name="pool", input_shapes=((8, 6, 6),), kernel=2, stride=2),
    )
    r1, r4 = model.simulate(cg["fc"], 1), model.simulate(cg["fc"], 4)
    assert r4.macs == 4 * r1.macs and r4.extra["vectors"] == 4
    assert r4.cycles == pytest.approx(4 * r1.cycles, rel=0.25)  # four independent vectors
    lstm = model.simulate(cg["lstm"])
    assert lstm.extra["vectors"] == 1 and lstm.macs == 256 * 165  # gate matmul (4H, I + H + 1)
    conv = model.simulate(cg["conv"])
    assert conv.extra["vectors"] == 16 and conv.extra["vectors_simulated"] == 4  # 4x4 output pixels, im2col
    pool = model.simulate(cg["pool"])
    assert pool.cycles == 0 and pool.extra["mapped"] is False


def test_tiling_counts_dram_refills_and_off_raises(fc):
    small = {"spmat.capacity_bytes": 512, "ptr.capacity_bytes": 512}
    r = build_model(load_arch("eie", small)).simulate(fc)
    assert r.extra["column_tiles"] > 1 and not r.extra["weights_resident"]
    assert r.dram_read_bytes > 0 and r.energy_breakdown_j["dram"] > 0
    assert r.extra["dram_refill_cycles"] > 0
    assert all(b + i == r.cycles for b, i in zip(r.extra["pe_busy_cycles"], r.extra["pe_idle_cycles"]))
    assert r.stall_cycles >= r.extra["dram_refill_cycles"]
    base = build_model(load_arch("eie")).simulate(fc)
    assert r.cycles > base.cycles
    with pytest.raises(SimulationError, match="tiling is off"):
        build_model(load_arch("eie", {**small, "tiling": False})).simulate(fc)


def test_wide_layer_with_tiling_off_is_a_one_line_error():
    cl = compressed(Linear(name="wide", input_shapes=((8192,),), out_features=64))["wide"]
    assert build_model(load_arch("eie")).simulate(cl).cycles > 0  # batched through the act SRAM
    with pytest.raises(SimulationError, match=r"input vector of 8192 activations exceeds the activation registers"):
        build_model(load_arch("eie", {"tiling": False})).simulate(cl)


def test_uncompressed_layer_names_the_missing_recipe_step():
    layer = Linear(name="fc", input_shapes=((64,),), out_features=64)
    dense = CompressedLayer(layer=layer, weight_matrix=np.ones((64, 64)))
    with pytest.raises(SimulationError, match="missing the prune and weight-sharing"):
        EIEModel(load_arch("eie")).simulate(dense)
    pruned = compressed(layer, recipe={"name": "p", "layers": "*", "pipeline": [{"prune": {"density": 0.5}}]})["fc"]
    with pytest.raises(SimulationError, match="add a weight-sharing"):
        EIEModel(load_arch("eie")).simulate(pruned)
    big = compressed(layer, recipe={"name": "s", "layers": "*", "pipeline": [{"share": {"bits": 5}}]})["fc"]
    with pytest.raises(SimulationError, match=r"codebook of \d+ entries does not fit the 16-entry"):
        EIEModel(load_arch("eie")).simulate(big)


@pytest.mark.parametrize("override, field", [
    ({"encoding.row_index_bits": 0}, "encoding.row_index_bits"),
    ({"encoding.weight_index_bits": 0}, "encoding.weight_index_bits"),
    ({"queue_depth": 0}, "queue_depth"),
    ({"encoding.codebook_entries": 32}, "codebook_entries"),
    ({"spmat.width_bits": 60}, "spmat.width_bits"),
])
def test_bad_config_values(override, field):
    with pytest.raises(ConfigError, match=field):
        load_arch("eie", override)


def test_cli_bad_inputs_are_one_line_exit_2(run_cli, tmp_path):
    code, out, err = run_cli("simulate", "--arch", "eie", "--workload", "lenet-300-100", "--set", "queue_depth=0")
    assert code == 2 and err.count("\n") == 1 and "queue_depth must be an int" in err
    code, out, err = run_cli("simulate", "--arch", "eie", "--workload", "lenet-300-100",
                             "--set", "encoding.row_index_bits=0")
    assert code == 2 and err.count("\n") == 1 and "row_index_bits" in err
    code, out, err = run_cli("simulate", "--arch", "eie", "--workload", "lenet-300-100")
    assert code == 2 and err.count("\n") == 1 and "uncompressed" in err and "recipe" in err


def test_cli_simulate_json_on_a_compressed_workload(run_cli, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps(RECIPE))
    code, out, err = run_cli("simulate", "--arch", "eie", "--workload", "lenet-300-100", "--recipe", recipe,
                             "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    fcs = [l for l in data["layers"] if l["op"] == "linear"]
    assert len(fcs) == 3
    for layer in fcs:
        assert layer["cycles"] > 0 and layer["latency_s"] > 0 and layer["energy_j"] > 0
        assert 0 < layer["extra"]["load_balance_efficiency"] <= 1


def test_area_and_power_bookkeeping():
    m = EIEModel(load_arch("eie"))
    area = m.area_mm2()
    assert area["chip"]["total_mm2"] == pytest.approx(64 * area["per_pe"]["total_mm2"])
    assert area["per_pe"]["by_component"]["spmat"] > area["per_pe"]["by_component"]["ptr"]
    assert m.peak_ops_per_s == 2 * 64 * 800e6
    m7 = EIEModel(load_arch("eie-64pe-7nm"))
    assert m7.area_mm2()["chip"]["total_mm2"] < area["chip"]["total_mm2"] / 5
    assert isinstance(m.config, EIEConfig)
    # the contract's area() is the chip breakdown; pe_area() the per-PE one
    assert m.area().total_mm2 == area["chip"]["total_mm2"]
    assert m.pe_area().total_mm2 == area["per_pe"]["total_mm2"]
    assert math.isclose(m.area().total_mm2, m.config.n_pe * m.pe_area().total_mm2, rel_tol=1e-12)


def test_hardware_contract_roof_blocks_and_static_power():
    c = load_arch("eie", {"dram.type": "hbm2", "dram.bandwidth_bytes_per_s": 1e11})
    m = build_model(c)
    assert isinstance(m, HardwareModel) and m.family == "eie" and type(m) is EIEModel
    roof = m.roof()
    assert roof.native_dtype == "int16" and roof.macs_per_s == {"int16": 64 * 800e6}
    assert roof.peak_macs_per_s == m.peak_ops_per_s / 2 and roof.bytes_per_s == {"dram": 1e11}
    t = m.tech
    # a pointer read touches one of the two banks: priced at the bank's capacity
    assert m.energy_table[("ptr", "read", "16b")][0] == t.sram_energy_pj(32768 / 2, 16)
    assert m.energy_table[("spmat", "read", "64b")][0] == t.sram_energy_pj(131072, 64)
    assert m.energy_table[("dram", "write", "hbm2")] == (t.dram_energy_pj_per_bit("hbm2"), "dram")
    sram_w = t.sram_leakage_w(131072) + t.sram_leakage_w(32768) + t.sram_leakage_w(2048)
    assert m.static_power_w > 64 * sram_w > 0


def test_result_words_utilization_and_not_mapped_convention(fc):
    small = {"spmat.capacity_bytes": 512, "ptr.capacity_bytes": 512}
    m = build_model(load_arch("eie", small))
    r = m.simulate(fc, 2)
    assert r.sram_word_bits == {"spmat": 64, "ptr": 16, "act_sram": 64}
    assert set(r.sram_reads) | set(r.sram_writes) <= set(r.sram_word_bits)
    # utilization: real multiplies over P MACs per cycle for the whole latency
    assert r.utilization == pytest.approx(r.effective_macs / (64 * r.cycles), rel=1e-12)
    # refill cycles: the DRAM bytes at the configured bandwidth, whole cycles
    assert r.extra["dram_refill_cycles"] == -(-(r.dram_read_bytes + r.dram_write_bytes) * 800e6 // 6.4e9)
    assert r.extra["power_w"] == pytest.approx(r.energy_j / r.latency_s)
    assert sum(r.extra["energy_by_component_j"].values()) == pytest.approx(r.energy_j)
    p = m.simulate(CompressedLayer.dense(Pool2d(name="pool", input_shapes=((8, 6, 6),), kernel=2, stride=2)), 2)
    assert (p.macs, p.cycles, p.energy_j, p.sram_word_bits) == (0, 0, 0.0, {})
    assert p.extra["mapped"] is False and "no weight matrix" in p.extra["note"]


def test_activations_beyond_the_act_sram_spill_to_dram():
    cl = compressed(Linear(name="long", input_shapes=((2048,),), out_features=16))["long"]
    r = build_model(load_arch("eie", {"n_pe": 1})).simulate(cl)
    # one PE holds 1024 activations in its 2 kB SRAM + 64 in registers; the other 960 come from DRAM
    assert r.extra["activations_spilled"] == 2048 - 1088
    assert r.dram_read_bytes == (2048 - 1088) * 2 and r.dram_write_bytes == 0
    with pytest.raises(SimulationError, match="tiling is off"):
        build_model(load_arch("eie", {"n_pe": 1, "tiling": False})).simulate(cl)


def test_layers_without_one_stored_matrix_are_refused():
    model = EIEModel(load_arch("eie"))
    mm = MatMul(name="qk", input_shapes=((4, 8, 16), (4, 16, 8)))
    with pytest.raises(SimulationError, match="no weight matrix"):
        model.simulate(CompressedLayer(layer=mm))
    dw = compressed(Conv2d(name="dw", input_shapes=((8, 6, 6),), out_channels=8, kernel=3, groups=8))["dw"]
    with pytest.raises(SimulationError, match="grouped convolution"):
        model.simulate(dw)


def test_column_fetch_cycles_delay_only_idle_pes(fc):
    base = build_model(load_arch("eie")).simulate(fc)
    slow = build_model(load_arch("eie", {"column_fetch_cycles": 2})).simulate(fc)
    # the first column of every PE waits 2 more cycles; later ones hide the fetch unless the PE starves
    assert base.cycles + 2 <= slow.cycles < base.cycles * 1.1
    assert slow.extra["entries_processed"] == base.extra["entries_processed"]


def test_segment_layouts_are_bounded_per_layer_and_released_with_it(fc, monkeypatch):
    import gc

    from accelsim.hw.eie import model as eie_model

    monkeypatch.setattr(eie_model, "SEGMENT_CACHE_SIZE", 2)
    layer = compressed(fc.layer)["fc"]  # a fresh layer: its own view and cache entry
    first = EIEModel(load_arch("eie", {"n_pe": 16}))._mapping(layer)
    for n_pe in (32, 64):
        EIEModel(load_arch("eie", {"n_pe": n_pe}))._mapping(layer)
    assert len(eie_model._CACHE[layer.view]["layouts"]) == 2
    assert EIEModel(load_arch("eie", {"n_pe": 16}))._mapping(layer) is not first  # least recently used: dropped
    monkeypatch.setattr(eie_model, "SEGMENT_CACHE_SIZE", 0)
    assert EIEModel(load_arch("eie", {"n_pe": 8}))._mapping(layer) is not EIEModel(load_arch("eie", {"n_pe": 8}))._mapping(layer)
    before = len(eie_model._CACHE)
    del layer
    gc.collect()
    assert len(eie_model._CACHE) == before - 1  # kept only as long as the layer lives


def test_a_cross_field_error_names_the_override_that_caused_it(run_cli):
    """encoding.weight_index_bits=1 breaks the encoding section's rule codebook_entries <= 2**weight_index_bits:
    the message names the override, not only the file that did not change."""
    with pytest.raises(ConfigError) as info:
        load_arch("eie", {"encoding.weight_index_bits": 1})
    assert " with override encoding.weight_index_bits=1: encoding.codebook_entries (16) must be <= " \
           "2**weight_index_bits (2)" in str(info.value)
    code, out, err = run_cli("simulate", "--arch", "eie", "--workload", "lenet-300-100",
                             "--set", "encoding.weight_index_bits=1", "--set", "queue_depth=8")
    assert code == 2 and err.count("\n") == 1 and "with override encoding.weight_index_bits=1: " in err, err
