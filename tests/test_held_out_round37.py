"""Defects the held-out rounds of 2026-12-06 (thirty-seventh session; helpers that read none of the tests) found on
the Hugging Face reader and the compression formats."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelsim.compress.recipe import compress, load_recipe
from accelsim.errors import WorkloadError
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Input, Linear
from accelsim.workload.zoo import load_workload

SMALL = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 100}
WINDOWED = [{"model_type": "mistral"}, {"model_type": "gemma2", "head_dim": 16},
            {"model_type": "qwen2", "use_sliding_window": True, "max_window_layers": 0},
            {"model_type": "starcoder2"}]


def _config(tmp_path, **fields):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**SMALL, **fields}))
    return path


@pytest.mark.parametrize("family", WINDOWED, ids=lambda f: f["model_type"])
def test_a_zero_sliding_window_is_refused_where_the_family_applies_it(tmp_path, family):
    # 0 read as "no window" doubled Mistral-7B's KV cache at 8,192 tokens without a word; transformers cannot run it
    with pytest.raises(WorkloadError, match="field 'sliding_window' must be an int >= 1; got 0"):
        load_workload(str(_config(tmp_path, **family, sliding_window=0)))
    windowed = load_workload(str(_config(tmp_path, **family, sliding_window=8)), phase="decode", context=64)
    full = load_workload(str(_config(tmp_path, **family, sliding_window=None)), phase="decode", context=64)
    assert windowed.metadata["hf"]["kv_cache"]["bytes"] < full.metadata["hf"]["kv_cache"]["bytes"]


def test_a_zero_sliding_window_is_accepted_where_the_family_ignores_it(tmp_path):
    g = load_workload(str(_config(tmp_path, model_type="llama", sliding_window=0)))
    assert not any("sliding_window" in n for n in g.metadata.get("notes", []))  # no window to ignore
    g = load_workload(str(_config(tmp_path, model_type="llama", sliding_window=16)))
    assert any("sliding_window 16 ignored" in n for n in g.metadata.get("notes", []))


def test_activation_groups_that_do_not_divide_k_store_a_partial_group_with_or_without_a_sample():
    # per-token groups of 9 on K = 30: accepted without an activation sample but refused (late, naming neither the
    # recipe nor the field) with one; both now store ceil(30 / 9) = 4 groups a token
    recipe = load_recipe({"name": "g9", "pipeline": [
        {"quantize": {"bits": 8, "per_channel": True}},
        {"activations": {"bits": 8, "granularity": "per_token", "group_size": 9, "dynamic": True}}]})
    g = LayerGraph("t")
    g.add(Input(name="x", shape=(30,)))
    g.add(Linear(name="fc", input_shapes=((30,),), out_features=8), ["x"])
    plain = compress(g, recipe, seed=0)["fc"]
    g.activation_samples["fc"] = np.random.default_rng(0).standard_normal((4, 30))
    sampled = compress(g, recipe, seed=0)["fc"]
    for cl in (plain, sampled):
        assert cl.activation_format.label == "int8-per-token-g9-dynamic"
        assert cl.activation_format.scales_for(4, 30) == 16


from accelsim.errors import ShapeError  # noqa: E402
from accelsim.workload import layers as LY  # noqa: E402

NON_INT = [
    lambda: LY.Embedding(name="e", input_shapes=((4,),), num_embeddings=2.5, embedding_dim=3),
    lambda: LY.Embedding(name="e", input_shapes=((4,),), num_embeddings=10, embedding_dim=2.5),
    lambda: LY.Slice(name="s", input_shapes=((8,),), start=0, stop=2.5),
    lambda: LY.Input(name="i", shape=(3.7, 2)),
    lambda: LY.Conv2d(name="c", input_shapes=((3, 8.9, 8),), out_channels=2, kernel=3),
    lambda: LY.Reshape(name="r", input_shapes=((4, 6),), shape=(2.7, -1)),
    lambda: LY.Concat(name="c", input_shapes=((4, 2), (4, 2)), axis=0.0),
    lambda: LY.Softmax(name="s", input_shapes=((4, 8),), axis=-1.0),
    lambda: LY.ChannelShuffle(name="x", input_shapes=((4, 8, 8),), groups=2.0),
    lambda: LY.Generic(name="g", input_shapes=((4, 8),), op_type="X", output_shapes=((4, 8.5),)),
    lambda: LY.Generic(name="g", input_shapes=((4, 8),), op_type="X", output_shapes=((4, 8),), param_elements=2.5),
    lambda: LY.Transpose(name="t", input_shapes=((4, 8),), perm=(1.0, 0)),
    lambda: LY.Linear(name="l", input_shapes=(("8",),), out_features=2),
]


@pytest.mark.parametrize("build", NON_INT, ids=range(len(NON_INT)))
def test_layer_sizes_that_are_not_ints_are_refused_not_truncated(build):
    # Input(shape=(3.7, 2)) became (3, 2), Embedding(embedding_dim=2.5) gave 25.0 params, Concat(axis=0.0) a TypeError
    with pytest.raises(ShapeError, match="must be (a list of ints|an int); got"):
        build()


def test_integer_sizes_of_numpy_types_are_still_accepted():
    layer = LY.Conv2d(name="c", input_shapes=((np.int64(3), 8, 8),), out_channels=np.int32(4), kernel=3)
    assert layer.input_shape == (3, 8, 8) and all(type(d) is int for d in layer.input_shape)


def test_a_scalesim_row_named_like_a_renamed_duplicate_gets_the_next_free_suffix(tmp_path):
    # rows X, X#2, X: the third was renamed X#2 too and refused as a duplicate graph name
    path = tmp_path / "topo.csv"
    path.write_text("Layer, M, N, K,\nX, 1, 2, 3,\nX#2, 1, 2, 3,\nX, 1, 2, 3,\n")
    with pytest.warns(UserWarning, match="renamed to 'X#3'"):
        g = load_workload(str(path))
    assert [layer.name for layer in g.compute_layers()] == ["X", "X#2", "X#3"]


def test_zero_skipping_reduces_a_one_channel_convolution_mask_along_each_filter_row():
    # packing a one-channel 3x5 conv 2x shortens each filter row 5 -> 3; the skip mask was reshaped as if the
    # whole window were one row (a ValueError, exit 1, on lenet5 conv1 and every depthwise unit)
    from accelsim.hw.systolic.model import Geometry
    from accelsim.hw.systolic.sparsity import reduce_mask

    full = Geometry.conv(9, 9, 3, 5, 1, 2, 1)
    run = full.reduced(2)
    assert (run.FH, run.FW, run.C) == (3, 3, 1)
    mask = np.zeros((2, 15), bool)
    mask[0, [0, 7, 14]] = True  # filter 0: (row 0, col 0), (row 1, col 2), (row 2, col 4)
    mask[1, 9] = True  # filter 1: (row 1, col 4)
    got = reduce_mask(mask, full, run)
    expected = np.zeros((2, 9), bool)
    expected[0, [0, 3 + 1, 6 + 2]] = True  # columns (0,1) -> 0, (2,3) -> 1, (4,) -> 2 in each row
    expected[1, 3 + 2] = True
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("workload", ["lenet5", "mobilenet-v2"])
def test_zero_skipping_with_packed_operands_runs_one_channel_units(run_cli, tmp_path, workload):
    recipe = tmp_path / "w4a4.yaml"
    recipe.write_text("name: w4a4\npipeline:\n  - quantize: {bits: 4, symmetric: true, per_channel: true}\n"
                      "  - activations: {bits: 4}\n")
    code, out, err = run_cli("simulate", "--arch", "edge-32x32-skip", "--workload", workload, "--recipe", str(recipe),
                             "--format", "json")
    assert code == 0, err
    assert json.loads(out)["total"]["cycles"] > 0


@pytest.mark.parametrize("arch", ["h100-sxm", "a100-40gb", "v100"])
def test_a_16_bit_gemv_computes_at_the_cuda_core_rate_not_the_tensor_rate(tmp_path, arch):
    # docs/models/gpu.md "GEMV": FLOPs / SIMT rate; the 16-bit one took the tensor cores' rate (4-8x faster)
    from accelsim.hw.registry import load_arch
    from accelsim.simulate import simulate

    path = tmp_path / "fc.yaml"
    path.write_text("name: fc\ninputs: {data: [4096]}\nlayers:\n  - {name: fc, op: linear, out_features: 4096, bias: false}\n")
    cfg = load_arch(arch)
    extra = simulate(arch, str(path)).layers[0].extra
    assert extra["kernel"].startswith("gemv_")
    simt = cfg.fp16_simt_flops_per_clk_per_sm * cfg.sms * cfg.clock_mhz * 1e6 * cfg.efficiency.simt
    assert extra["compute_us"] == pytest.approx(2 * 4096 * 4096 / simt * 1e6, rel=1e-9)


API_CALLS = {
    "simulate": lambda a: a.simulate("edge-32x32", "lenet5", batchh=2),
    "compress": lambda a: a.compress("lenet5", "int8", sed=1),
    "load_arch": lambda a: a.load_arch(),
    "load_recipe": lambda a: a.load_recipe("int8", 3),
    "sweep": lambda a: a.sweep(spaces={}),
    "pareto_front": lambda a: a.pareto_front(None, {}, "auto", 4),
}


@pytest.mark.parametrize("name", list(API_CALLS))
def test_api_calls_their_signatures_cannot_bind_raise_a_typed_argument_error(name):
    # a misspelled keyword was Python's own TypeError (noticed in the thirty-sixth session, left then)
    import accelsim
    from accelsim.errors import AccelsimError, ArgumentError

    with pytest.raises(ArgumentError, match=rf"^{name}\(\)") as got:
        API_CALLS[name](accelsim)
    assert isinstance(got.value, AccelsimError) and isinstance(got.value, TypeError)
    assert "(it takes " in str(got.value)


def test_an_argument_error_names_the_keyword_meant_and_lets_inner_type_errors_through():
    import accelsim
    from accelsim.errors import ArgumentError, api_arguments

    with pytest.raises(ArgumentError, match="unknown keyword argument 'batchh'; did you mean 'batch'\\?"):
        accelsim.simulate("edge-32x32", "lenet5", batchh=2)

    @api_arguments
    def inner(x, scale=1):
        return x + scale  # a TypeError raised with the arguments bound is the function's own

    with pytest.raises(TypeError) as got:
        inner("a")
    assert not isinstance(got.value, ArgumentError)


@pytest.mark.parametrize("shares, tokens, expected", [
    ("zipf:1.5", 8, {0: 8, 1: 4, 2: 2, 3: 1, 4: 1}),  # expert 0 is picked by every token: all 8
    ([50, 30, 10, 5, 3, 1, 1, 0], 16, {0: 16, 1: 10, 2: 3, 3: 2, 4: 1}),
    ("uniform", 8, {0: 3, 1: 3, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2}),
])
def test_moe_slots_split_in_proportion_within_one_to_t_tokens(shares, tokens, expected):
    # docs/workloads.md: the T k slots in proportion to p_e, each 1 to T tokens; every expert took one token first
    # and only the rest was split (zipf:1.5 over 8 tokens gave 7, 3, 2, 2, 2)
    from accelsim.workload.hf import moe

    if isinstance(shares, str):
        shares = moe.load_shares(shares, 8, 1)[0]
    else:
        shares = [s / sum(shares) for s in shares]
    counts = moe.route(shares, 2, tokens)
    assert counts == expected and sum(counts.values()) == 2 * tokens


@pytest.mark.parametrize("name, meant", [("unifrom", "uniform"), ("zipff", "zipf")])
def test_a_misspelled_routing_name_is_named_with_the_one_meant(name, meant):
    # it was read as a counts file: "unifrom: routing counts file must be .json or .yaml"
    from accelsim.workload.hf import moe

    with pytest.raises(WorkloadError, match=f"unknown routing '{name}'; did you mean '{meant}'"):
        moe.load_shares(name, 8, 1)


@pytest.mark.parametrize("overrides", [{"arch.dram.bandwidth_gbps": 12.8}, ["dram.bandwidth_gbps=12.8"]])
def test_the_dram_bandwidth_knob_works_through_the_api_as_on_the_cli(overrides):
    # cli.md: the API takes the same keys as --set; load_arch refused it ("unknown key; did you mean bandwidth_mode?")
    import accelsim
    from accelsim.dse.knobs import expand_cli_sets

    cfg = accelsim.load_arch("edge-32x32", overrides)
    cli = accelsim.load_arch("edge-32x32", expand_cli_sets("edge-32x32", ["dram.bandwidth_gbps=12.8"]))
    assert cfg.dram.bandwidth_mode == "USER" and cfg.dram == cli.dram
    with pytest.raises(accelsim.ConfigError, match="dram.bandwidth_gbps must be a positive finite number"):
        accelsim.load_arch("edge-32x32", {"dram.bandwidth_gbps": -1})


def test_the_tradeoff_table_keeps_a_swept_recipe_parameter_as_levels(tmp_path):
    # a grid over recipe.prune.density was one level (ratio 4.67 +- 2.49, "over seeds"); accelsim plot refused it
    pd = pytest.importorskip("pandas")
    from accelsim.report.plots import tradeoff_table

    df = pd.DataFrame({"status": ["ok"] * 3, "arch_name": ["a"] * 3, "recipe": ["magnitude-2"] * 3,
                       "recipe.prune.density": [0.5, 0.25, 0.125], "compression_ratio": [2.0, 4.0, 8.0],
                       "theoretical_speedup": [2.0, 4.0, 8.0], "speedup_vs_dense": [1.0, 1.1, 1.2],
                       "seed": [0, 0, 0]})
    table = tradeoff_table(df)
    assert list(table["level"]) == ["magnitude-2, prune.density=0.5", "magnitude-2, prune.density=0.25",
                                    "magnitude-2, prune.density=0.125"]
    assert list(table["ratio_std"]) == [0.0, 0.0, 0.0]


def test_a_sweep_names_a_baseline_the_hardware_cannot_run(tmp_path):
    # dse.md: speedup_baseline names the reference; it was empty where simulate says "(cannot run: no speedup)"
    import accelsim

    (tmp_path / "fc.yaml").write_text("name: fc\ninputs: {data: [256]}\n"
                                      "layers:\n  - {name: fc, op: linear, out_features: 64}\n")
    (tmp_path / "r.yaml").write_text("name: pruned-shared\npipeline:\n  - prune: {method: random, density: 0.1}\n"
                                     "  - share: {bits: 4, table_bits: 16}\n")
    spec = {"name": "t", "base": {"workload": str(tmp_path / "fc.yaml"), "recipe": str(tmp_path / "r.yaml"),
                                  "arch": "eie"}, "grid": {"seed": [0]}}
    row = accelsim.sweep(spec, store=str(tmp_path / "out"), progress=False).iloc[0]
    assert row["status"] == "ok"
    assert row["speedup_baseline"] == "dense int16 on eie (cannot run: no speedup)"
    assert row["speedup_vs_dense"] != row["speedup_vs_dense"]  # empty (NaN)
