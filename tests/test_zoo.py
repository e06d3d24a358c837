"""The model zoo: published parameter / MAC counts, hand-checked GEMM views, activation densities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from accelsim.errors import UnknownNameError
from accelsim.workload.layers import ChannelShuffle, Input, LSTMCell, MatMul, Slice
from accelsim.workload.zoo import load_workload, zoo_names

PUBLISHED = yaml.safe_load((Path(__file__).parent / "data" / "zoo_published.yaml").read_text())

EXPECTED_NETWORKS = {
    "lenet-300-100", "lenet5", "alexnet", "vgg16", "resnet18", "resnet50", "mobilenet-v1", "mobilenet-v2",
    "shufflenet-v2", "squeezenet1.1", "googlenet", "bert-base", "neuraltalk", "llama2-7b-decoder", "eie-benchmarks",
}


def test_zoo_has_every_network_and_every_network_has_a_published_count():
    assert EXPECTED_NETWORKS <= set(zoo_names())
    assert set(PUBLISHED) == EXPECTED_NETWORKS


@pytest.mark.parametrize("name", sorted(EXPECTED_NETWORKS))
def test_params_and_macs_within_one_percent_of_published(name):
    graph = load_workload(name)
    ref = PUBLISHED[name]
    assert graph.total_params == pytest.approx(ref["params"], rel=0.01), f"{name} params vs {ref['source']}"
    assert graph.total_macs == pytest.approx(ref["macs"], rel=0.01), f"{name} MACs vs {ref['source']}"
    # the zoo file carries the same published figures that accelsim validate reports
    meta = graph.metadata["published"]
    assert (meta["params"], meta["macs"]) == (ref["params"], ref["macs"])
    assert meta["source"]


def test_exact_counts_where_the_reference_is_exact():
    # torchvision's num_params are exact integers; our graphs must hit them to the parameter
    for name in ("resnet18", "resnet50", "vgg16", "mobilenet-v2", "shufflenet-v2", "squeezenet1.1", "googlenet"):
        assert load_workload(name).total_params == PUBLISHED[name]["params"], name
    # Han et al. count FLOP = 2 x MAC on the weight layers: LeNet-5 4586K FLOP exactly
    assert load_workload("lenet5").total_macs * 2 == 4_586_000
    assert load_workload("lenet-300-100").total_macs * 2 == 532_400


def test_llama_block_times_32_plus_embeddings_is_the_published_7b_total():
    block = load_workload("llama2-7b-decoder").total_params
    assert 32 * block + 2 * 32000 * 4096 + 4096 == 6_738_415_616


def _gemm(name, layer):
    return load_workload(name).layer(layer).gemm(1).as_tuple()


@pytest.mark.parametrize(
    "net, layer, expected",
    [
        # conv1 7x7/2 on 3x224x224: 112*112 output pixels, K = 3*7*7
        ("resnet50", "conv1", (12544, 64, 147, 1)),
        # v1.5: the stride sits on the 3x3 (28x28 out), the 1x1 before it still runs at 56x56
        ("resnet50", "layer2.0.conv1", (3136, 128, 256, 1)),
        ("resnet50", "layer2.0.conv2", (784, 128, 1152, 1)),
        ("resnet50", "layer2.0.downsample", (784, 512, 256, 1)),
        ("resnet50", "fc", (1, 1000, 2048, 1)),
        # Caffe AlexNet: conv2 5x5 in two groups of 48 -> 128 channels on 27x27
        ("alexnet", "conv1", (3025, 96, 363, 1)),
        ("alexnet", "conv2", (729, 128, 1200, 2)),
        ("alexnet", "conv4", (169, 192, 1728, 2)),
        ("alexnet", "fc6", (1, 4096, 9216, 1)),
        # depthwise: groups = C, one filter of 3x3 per group
        ("mobilenet-v2", "features.2.dw", (3136, 1, 9, 96)),
        ("mobilenet-v1", "conv14_dw", (49, 1, 9, 1024)),
        ("shufflenet-v2", "stage2.0.branch1.dw", (784, 1, 9, 24)),
        ("vgg16", "conv1_1", (50176, 64, 27, 1)),
        ("googlenet", "inception3a.branch2.1", (784, 128, 864, 1)),
        ("squeezenet1.1", "fire2.expand3x3", (3025, 64, 144, 1)),
        # attention as batched matmuls: (heads, 128, 64) @ (heads, 64, 128) and back
        ("bert-base", "encoder.0.scores", (128, 128, 64, 12)),
        ("bert-base", "encoder.0.context", (128, 64, 128, 12)),
        ("bert-base", "encoder.11.ffn1", (128, 3072, 768, 1)),
        ("bert-base", "pooler.dense", (1, 768, 768, 1)),
        ("llama2-7b-decoder", "scores", (1, 2048, 128, 32)),
        ("llama2-7b-decoder", "context", (1, 128, 2048, 32)),
        ("llama2-7b-decoder", "down_proj", (1, 4096, 11008, 1)),
        ("neuraltalk", "NT-LSTM", (1, 2400, 1201, 1)),
        ("eie-benchmarks", "VGG-6", (1, 4096, 25088, 1)),
        ("eie-benchmarks", "NT-Wd", (1, 8791, 600, 1)),
    ],
)
def test_hand_checked_gemm_views(net, layer, expected):
    assert _gemm(net, layer) == expected


def test_gemm_view_scales_with_batch():
    layer = load_workload("alexnet").layer("conv2")
    assert layer.gemm(8).as_tuple() == (8 * 729, 128, 1200, 2)
    assert layer.gemm(8).macs == 8 * layer.macs


EIE_TABLE_III = {  # name: (inputs, outputs, Act %) -- Han et al. ISCA 2016 Table III
    "Alex-6": (9216, 4096, 35.1), "Alex-7": (4096, 4096, 35.3), "Alex-8": (4096, 1000, 37.5),
    "VGG-6": (25088, 4096, 18.3), "VGG-7": (4096, 4096, 37.5), "VGG-8": (4096, 1000, 41.1),
    "NT-We": (4096, 600, 100), "NT-Wd": (600, 8791, 100), "NT-LSTM": (1201, 2400, 100),
}


def test_eie_benchmarks_are_nine_independent_layers_with_table_iii_densities():
    graph = load_workload("eie-benchmarks")
    compute = graph.compute_layers()
    assert [layer.name for layer in compute] == list(EIE_TABLE_III)
    for layer in compute:
        k_in, n_out, act = EIE_TABLE_III[layer.name]
        assert layer.weight_matrix_shape == (n_out, k_in)
        assert graph.input_density(layer.name) == pytest.approx(act / 100)
        (producer,) = graph.inputs_of(layer.name)
        assert isinstance(graph.layer(producer), Input)
    assert isinstance(graph.layer("NT-LSTM"), LSTMCell)
    assert graph.layer("NT-LSTM").input_size == 600 and graph.layer("NT-LSTM").hidden_size == 600


def test_neuraltalk_matrices_match_eie():
    graph = load_workload("neuraltalk")
    shapes = {name: graph.layer(name).weight_matrix_shape for name in ("NT-We", "NT-Wd", "NT-LSTM")}
    assert shapes == {"NT-We": (600, 4096), "NT-Wd": (8791, 600), "NT-LSTM": (2400, 1201)}


def test_deep_compression_densities_agree_with_eie_for_the_fc_layers():
    """Deep Compression's Act% is the density of a layer's OUTPUT: shifted one layer down it must
    reproduce EIE's input densities of the same FC layers (independent measurements, +-3 points)."""
    pairs = {"alexnet": ("fc6", "fc7", "fc8"), "vgg16": ("fc6", "fc7", "fc8")}
    eie = {"alexnet": ("Alex-6", "Alex-7", "Alex-8"), "vgg16": ("VGG-6", "VGG-7", "VGG-8")}
    for net, layers in pairs.items():
        graph = load_workload(net)
        for layer, bench in zip(layers, eie[net]):
            assert graph.input_density(layer) == pytest.approx(EIE_TABLE_III[bench][2] / 100, abs=0.03), (net, layer)


def test_deep_compression_densities_are_on_the_consumer_layers():
    alex = load_workload("alexnet")
    assert "conv1" not in alex.activation_density  # the image is dense
    assert alex.input_density("conv2") == pytest.approx(0.88)  # Table 4 conv1 Act% 88
    assert alex.input_density("fc8") == pytest.approx(0.40)  # Table 4 fc2 (fc7) Act% 40
    lenet = load_workload("lenet5")
    assert lenet.input_density("conv2") == pytest.approx(0.82)
    assert lenet.input_density("ip2") == pytest.approx(0.55)
    mlp = load_workload("lenet-300-100")
    assert (mlp.input_density("fc2"), mlp.input_density("fc3")) == (pytest.approx(0.38), pytest.approx(0.65))


def test_structure_of_special_networks():
    shuffle = load_workload("shufflenet-v2")
    assert sum(isinstance(x, ChannelShuffle) for x in shuffle.layers) == 16
    assert sum(isinstance(x, Slice) for x in shuffle.layers) == 2 * 13
    bert = load_workload("bert-base")
    assert sum(isinstance(x, MatMul) for x in bert.layers) == 24
    llama = load_workload("llama2-7b-decoder")
    # the 2048-long KV cache is a graph input (keys stored transposed, as the q @ K^T GEMM reads them)
    assert isinstance(llama.layer("k_cache"), Input) and llama.layer("k_cache").shape == (32, 128, 2048)
    assert isinstance(llama.layer("v_cache"), Input) and llama.layer("v_cache").shape == (32, 2048, 128)
    assert llama.inputs_of("scores") == ["q_t", "k_cache"] and llama.inputs_of("context") == ["softmax", "v_cache"]
    alex = load_workload("alexnet")
    assert [alex.layer(n).groups for n in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [1, 2, 1, 2, 2]
    assert alex.layer("fc6").in_features == 9216


def test_dotted_zoo_name_loads_and_unknown_name_suggests():
    assert load_workload("squeezenet1.1").name == "squeezenet1.1"
    with pytest.raises(UnknownNameError, match="resnet50"):
        load_workload("resnet5O")


def test_cli_stats_resnet50_json_totals(run_cli):
    code, out, err = run_cli("stats", "--workload", "resnet50", "--format", "json")
    assert code == 0, err
    total = json.loads(out)["total"]
    assert total["params"] == 25_557_032
    assert total["macs"] == pytest.approx(4.089e9, rel=0.01)


def test_validation_checks_all_pass():
    from accelsim.workload.validation import checks

    found = checks(quick=False)
    assert {c.item.split(" ")[0] for c in found if c.item.endswith("total params")} == EXPECTED_NETWORKS
    failed = [(c.item, c.reference, c.predicted) for c in found if not c.ok]
    assert not failed
    assert all(c.area == "zoo" and c.rel_tol is not None for c in found)
    assert all(c.rel_tol == 0.01 for c in found if " total " in c.item)
    # per-layer rows of the Han et al. tables: 4 + 8 + 16 + 3 layers, weights and FLOP each
    assert sum(" total " not in c.item for c in found) == 2 * (4 + 8 + 16 + 3)
    quick = checks(quick=True)
    assert 0 < len(quick) < len(found) and all(c.ok for c in quick)


def test_rounded_published_counts_parse_with_last_digit_tolerance():
    from accelsim.workload.validation import parse_rounded

    assert parse_rounded("3.7B") == (pytest.approx(3.7e9), pytest.approx(0.1 / 3.7))
    assert parse_rounded("35K") == (35_000.0, pytest.approx(1 / 35))
    assert parse_rounded("0.5K") == (500.0, pytest.approx(0.2))
    with pytest.raises(ValueError):
        parse_rounded("3.7 GB")


def test_cli_unknown_zoo_name_is_one_line_exit_2(run_cli):
    code, out, err = run_cli("stats", "--workload", "resnet5")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown workload 'resnet5'" in err and "Traceback" not in err


def test_every_zoo_file_is_one_flow_mapping_per_layer():
    from accelsim.paths import WORKLOAD_DIR

    for name in EXPECTED_NETWORKS:
        text = (WORKLOAD_DIR / f"{name}.yaml").read_text()
        layer_lines = [line for line in text.splitlines() if line.startswith("  - ")]
        assert layer_lines and all(line.startswith("  - {name: ") and line.endswith("}") for line in layer_lines), name
        assert len(layer_lines) == len(load_workload(name).compute_layers())


def test_bundled_listing_sees_files_added_removed_anywhere_in_the_tree(tmp_path):
    """The kept listing of a folder (checked by one stat a known folder) sees a file added at the top, in a new
    subfolder, in a folder below that, and one removed; a listing taken twice unchanged is the same."""
    import os

    from accelsim.paths import bundled

    (tmp_path / "a.yaml").write_text("x: 1\n")
    assert sorted(bundled(tmp_path)) == ["a"] == sorted(bundled(tmp_path))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("x: 1\n")
    assert sorted(bundled(tmp_path)) == ["a", "b"]
    (tmp_path / "sub" / "deeper").mkdir()
    (tmp_path / "sub" / "deeper" / "c.yml").write_text("x: 1\n")
    assert sorted(bundled(tmp_path)) == ["a", "b", "c"]
    os.remove(tmp_path / "a.yaml")
    (tmp_path / "sub" / "deeper" / "c.yml").rename(tmp_path / "sub" / "deeper" / "d.yml")
    assert sorted(bundled(tmp_path)) == ["b", "d"]
