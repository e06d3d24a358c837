"""Defects a held-out docs-vs-code round of the EIE model found (2026-12-06; a helper that read none of the tests
rebuilt docs/models/eie.md from the doc alone and compared 170 random layers field by field)."""

from __future__ import annotations

import math

import pytest

from accelsim.compress.recipe import compress, load_recipe
from accelsim.hw.eie.model import lnzd_levels
from accelsim.hw.registry import build_model, load_arch
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Input, Linear

RECIPE = {
    "name": "eie-round37",
    "layers": "*",
    "pipeline": [{"prune": {"method": "random", "density": 0.3}}, {"share": {"bits": 4, "table_bits": 16}}],
}


def _layer(n_in: int, n_out: int, seed: int = 0, density: float = 1.0):
    g = LayerGraph("t")
    layer = Linear(name="fc", input_shapes=((n_in,),), out_features=n_out)
    g.add(Input(name="x", shape=(n_in,)))
    g.add(layer, ["x"])
    g.set_activation_density("fc", density)
    return compress(g, load_recipe(RECIPE), seed=seed)["fc"]


@pytest.mark.parametrize("n_pe, group, levels", [(1, 4, 1), (2, 4, 1), (4, 4, 1), (5, 4, 2), (64, 4, 3), (65, 4, 4),
                                                 (124, 5, 3), (125, 5, 3), (126, 5, 4), (216, 6, 3), (256, 4, 4)])
def test_lnzd_tree_levels_are_an_integer_ceil_log(n_pe, group, levels):
    # math.log(125, 5) is 3.0000000000000004: a float ceil priced 125 PEs in groups of 5 on four levels
    assert lnzd_levels(n_pe, group) == levels
    model = build_model(load_arch("eie", {"n_pe": n_pe, "lnzd.group": group}))
    add = model.tech.op_energy_pj("add", "int16")
    (entry,) = [v for k, v in model.energy_table.items() if k[0] == "lnzd"]
    assert entry[0] == pytest.approx(levels * add)


def test_pass_flushes_move_act_sram_lines_in_every_column_tile():
    # four output passes (64 rows on 4 PEs of 4 registers); the flush between passes is timed in every tile, and
    # its SRAM lines are counted in every tile too
    cl = _layer(200, 64)
    one = build_model(load_arch("eie", {"n_pe": 4, "act_regs": 4})).simulate(cl)
    tiled = build_model(load_arch("eie", {"n_pe": 4, "act_regs": 4, "spmat.capacity_bytes": 128,
                                          "ptr.capacity_bytes": 64})).simulate(cl)
    assert one.extra["output_passes"] == tiled.extra["output_passes"] == 4
    assert one.extra["column_tiles"] == 1 and tiled.extra["column_tiles"] > 1
    lines = 4 * 3 * 1  # P x (passes - 1) x ceil(4 registers x 16 b / 64 b)
    assert one.sram_writes["act_sram"] == lines
    assert tiled.sram_writes["act_sram"] == lines * tiled.extra["column_tiles"]


@pytest.mark.parametrize("width, act_bits", [(8, 16), (64, 12), (24, 16), (64, 16)])
def test_act_sram_lines_pack_activations_by_bits_as_the_flush_is_timed(width, act_bits):
    cl = _layer(100, 64)
    over = {"n_pe": 4, "act_regs": 4, "act_sram.width_bits": width, "encoding.activation_bits": act_bits}
    r = build_model(load_arch("eie", over)).simulate(cl)
    passes = r.extra["output_passes"]
    flush = math.ceil(4 * act_bits / width)  # docs/models/eie.md §2: flush_cycles
    source = math.ceil(math.ceil(100 / 4) * act_bits / width)  # 100 inputs > 4 PEs x 4 registers
    assert r.sram_writes["act_sram"] == 4 * (passes - 1) * flush
    assert r.sram_reads["act_sram"] == 4 * (passes - 1) * flush + 4 * source * passes


def test_scaled_sram_reads_are_rounded_like_every_other_scaled_count():
    cl = _layer(257, 3, seed=4, density=0.3)
    model = build_model(load_arch("eie", {"n_pe": 16, "max_vectors": 4}))
    counts = model.count(cl, 5)  # five vectors, four simulated: counts scaled by 5 / 4
    assert counts.actions[model.spmat.key("read")] % 1 > 0.5  # a count that truncation would get wrong
    for buffer, key in (("spmat", model.spmat.key("read")), ("ptr", model.ptr.key("read")),
                        ("act_sram", model.act_sram.key("read"))):
        assert counts.sram_reads[buffer] == round(counts.actions[key])
    assert counts.sram_writes["act_sram"] == round(counts.actions[model.act_sram.key("write")])


def test_weight_storage_counts_the_codebook_as_compress_does():
    # the recipe's own layout for the array's PE count: the simulated storage is the compressed layer's, codebook
    # included (it was 16 x 16 bits short)
    recipe = {**RECIPE, "pipeline": [*RECIPE["pipeline"], {"encode": {"format": "interleaved_csc", "n_pe": 64,
                                                                      "index_bits": 4, "pointer_bits": 16}}]}
    g = LayerGraph("t")
    g.add(Input(name="x", shape=(512,)))
    g.add(Linear(name="fc", input_shapes=((512,),), out_features=256), ["x"])
    cl = compress(g, load_recipe(recipe), seed=0)["fc"]
    r = build_model(load_arch("eie")).simulate(cl)
    assert cl.view.codebook_size == 16
    assert r.weight_storage_bits == cl.weight_storage_bits(16)
