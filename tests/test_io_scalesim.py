"""SCALE-Sim topology CSV reader / writer: SCALE-Sim 3.0.0's reading, zoo equivalence, bad inputs."""

import json
from pathlib import Path

import pytest

from accelsim.errors import WorkloadError
from accelsim.workload.io_scalesim import load_scalesim_topology, save_scalesim_topology, scalesim_rows
from accelsim.workload.layers import Conv2d, Linear
from accelsim.workload.zoo import load_workload

DATA = Path(__file__).parent / "data" / "importers"
ROOT = Path(__file__).parent.parent
CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def _write(tmp_path, text, name="topo.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("fname,gemm", [("scalesim_conv_quirks.csv", None), ("scalesim_gemm_quirks.csv", None),
                                        ("scalesim_gemm_quirks.csv", True)])
def test_matches_scalesim_reading(fname, gemm):
    """Every layer SCALE-Sim 3.0.0 itself parsed from the file (golden JSON) appears with its shapes."""
    reference = json.loads((DATA / "scalesim_quirks_reference.json").read_text())[fname]
    graph = load_scalesim_topology(DATA / fname, gemm=gemm)
    layers = graph.compute_layers()
    assert [layer.name for layer in layers] == [row[0] for row in reference]
    assert graph.metadata["scalesim_layers"] == [row[0] for row in reference]
    for layer, (name, eh, ew, fh, fw, ch, nf, stride, macs, window, nm) in zip(layers, reference):
        assert layer.macs == macs
        g = layer.gemm(1)
        assert (g.m, g.n, g.k, g.groups) == (eh * ew, nf, window, 1)
        assert graph.metadata["scalesim_sparsity"][name] == tuple(nm)
        if isinstance(layer, Conv2d):
            assert layer.output_shape == (nf, eh, ew)
            assert layer.kernel == (fh, fw) and layer.stride == (stride, stride) and layer.in_channels == ch
            assert layer.padding == (0, 0) and not layer.bias
        else:
            assert isinstance(layer, Linear) and layer.input_shape == (eh, window)


def test_layers_are_independent_inputs():
    graph = load_scalesim_topology(DATA / "scalesim_conv_quirks.csv")
    for layer in graph.compute_layers():
        (producer,) = graph.inputs_of(layer.name)
        assert graph.layer(producer).op == "input"
        assert graph.successors(layer.name) == []


def test_ceil_output_size_facts():
    # reference/scalesim.md section 3: ResNet Conv1 224x224, 7x7, s2 -> 110x110; 64x64, 11x11, s4 -> 15x15
    graph = load_scalesim_topology(DATA / "scalesim_conv_quirks.csv")
    assert graph.layer("Conv1").output_shape[1:] == (110, 110)
    assert graph.layer("odd_stride").output_shape[1:] == (15, 15)


@pytest.mark.parametrize("header,gemm", [("Layer, M, N, K,", True), ("name,m,n,k", True), ("Layer, M, K, N, Sparsity,", True),
                                         (CONV_HEADER.strip(), False), ("", False), ("Layer, M, N,", False)])
def test_is_gemm_header(header, gemm):
    from accelsim.workload.io_scalesim import is_gemm_header

    assert is_gemm_header(header) is gemm


def test_gemm_autodetect_and_forced_conv(tmp_path):
    graph = load_scalesim_topology(DATA / "scalesim_gemm_quirks.csv")
    assert graph.metadata["scalesim_format"] == "gemm"
    assert graph.layer("g1").gemm(1).as_tuple() == (128, 64, 32, 1)
    # forcing the conv reading of a GEMM file fails like SCALE-Sim (too few columns), with a typed error
    with pytest.raises(WorkloadError, match="line 2"):
        load_scalesim_topology(DATA / "scalesim_gemm_quirks.csv", gemm=False)


def test_depthwise_expansion_keeps_filters(tmp_path):
    path = _write(tmp_path, CONV_HEADER + "dwDP, 8, 8, 3, 3, 3, 5, 1,\n")
    graph = load_scalesim_topology(path)
    names = [layer.name for layer in graph.compute_layers()]
    assert names == ["dwDPChannel_0", "dwDPChannel_1", "dwDPChannel_2"]
    for layer in graph.compute_layers():
        assert layer.in_channels == 1 and layer.out_channels == 5  # as SCALE-Sim simulates it
    # 'dp' in lower case is not depthwise for SCALE-Sim
    path = _write(tmp_path, CONV_HEADER + "dwdp, 8, 8, 3, 3, 3, 5, 1,\n", "lower.csv")
    assert [layer.name for layer in load_scalesim_topology(path).compute_layers()] == ["dwdp"]


def test_missing_trailing_comma_drops_last_field(tmp_path):
    # SCALE-Sim drops the last field: a sparsity column without a trailing comma is ignored (with a warning)
    path = _write(tmp_path, CONV_HEADER + "c, 8, 8, 3, 3, 3, 5, 1, 2:4\n")
    with pytest.warns(UserWarning, match="ignored"):
        graph = load_scalesim_topology(path)
    assert graph.metadata["scalesim_sparsity"]["c"] == (1, 1)


def test_duplicate_names_renamed(tmp_path):
    path = _write(tmp_path, CONV_HEADER + "c, 8, 8, 3, 3, 3, 5, 1,\nc, 8, 8, 3, 3, 3, 5, 1,\n")
    with pytest.warns(UserWarning, match="duplicate"):
        graph = load_scalesim_topology(path)
    assert [layer.name for layer in graph.compute_layers()] == ["c", "c#2"]



def test_duplicate_name_warnings_are_capped(tmp_path):
    """The first MAX_RENAME_WARNINGS renames are warned one by one, the rest in one closing count (a file of
    10^6 rows of one name printed 32,769 warnings before its error)."""
    import warnings

    from accelsim.workload.io_scalesim import MAX_RENAME_WARNINGS

    path = _write(tmp_path, CONV_HEADER + "c, 8, 8, 3, 3, 3, 5, 1,\n" * 20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = load_scalesim_topology(path)
    said = [str(w.message) for w in caught]
    assert len(said) == MAX_RENAME_WARNINGS + 1 and all("renamed to 'c#" in m for m in said[:-1]), said
    assert said[-1] == f"{path}: 14 more duplicate layer names renamed (19 in all; each repeat of a name gets '#2', '#3', ...)"
    assert len(graph.compute_layers()) == 20


def test_row_limit_is_checked_first_and_named(tmp_path, run_cli):
    """Each row is two graph layers (its ifmap input and the layer): MAX_LAYERS / 2 rows at most, refused before
    any row is read (no rename warnings first, no mention of DP rows the file does not have)."""
    import warnings

    from accelsim.workload.graph import MAX_LAYERS
    from accelsim.workload.io_scalesim import MAX_ROWS

    assert MAX_ROWS == MAX_LAYERS // 2 == 32_768
    path = _write(tmp_path, CONV_HEADER + "c, 8, 8, 3, 3, 3, 5, 1,\n" * (MAX_ROWS + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(WorkloadError) as info:
            load_scalesim_topology(path)
    assert str(info.value) == (f"{path}: 32,769 rows; each row becomes 2 graph layers (its ifmap input and the layer) "
                               f"and a graph holds at most 65,536, so a topology has at most 32,768 rows")
    code, out, err = run_cli("stats", "--workload", str(path))
    assert code == 2 and err.count("\n") == 1 and "at most 32,768 rows" in err, err
    path = _write(tmp_path, CONV_HEADER + "".join(f"c{i}, 8, 8, 3, 3, 1, 1, 1,\n" for i in range(MAX_ROWS)))
    assert len(load_scalesim_topology(path).compute_layers()) == MAX_ROWS

BAD_CONV_ROWS = [
    ("c, 8, 8, 3, 3, 3, 5, 1\n", "line 2: expected 8 columns.*trailing comma"),
    ("c, 8, 8, 3, 3, 3,\n", "line 2: expected 8 columns"),
    ("c, 8, 8, 3, 3, 3, 5, 1, 1:1, 7,\n", "line 2: expected at most 9 columns"),
    ("c, 8, x, 3, 3, 3, 5, 1,\n", "line 2, column 'IFMAP Width': expected an integer; got 'x'"),
    ("c, 8, 8, 3, 3, 2.5, 5, 1,\n", "column 'Channels': expected an integer"),
    ("c, 0, 8, 3, 3, 3, 5, 1,\n", "column 'IFMAP Height': must be a positive integer; got 0"),
    ("c, 8, 8, 3, 3, 3, -5, 1,\n", "column 'Num Filter': must be a positive integer; got -5"),
    ("c, 8, 8, 3, 3, 3, 5, 0,\n", "column 'Strides': must be a positive integer; got 0"),
    ("c, 8, 8, 9, 3, 3, 5, 1,\n", "column 'Filter Height': filter height 9 is larger than IFMAP height 8"),
    ("c, 8, 4, 3, 5, 3, 5, 1,\n", "column 'Filter Width'"),
    ("c, 8, 8, 3, 3, 3, 5, 1, 2-4,\n", "column 'Sparsity': expected N:M"),
    ("c, 8, 8, 3, 3, 3, 5, 1, 5:4,\n", "column 'Sparsity': need 1 <= N <= M"),
    ("c, 8, 8, 3, 3, 3, 5, 1, a:4,\n", "column 'Sparsity'"),
    (" , 8, 8, 3, 3, 3, 5, 1,\n", "layer name is empty"),
]


@pytest.mark.parametrize("row,message", BAD_CONV_ROWS)
def test_bad_conv_rows(tmp_path, row, message):
    path = _write(tmp_path, CONV_HEADER + "ok, 8, 8, 3, 3, 3, 5, 1,\n\n" + row)
    with pytest.raises(WorkloadError, match=message.replace("line 2", "line 4")) as info:
        load_scalesim_topology(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("row,message", [
    ("g, 4, 5,\n", "expected 4 columns"),
    ("g, 4, 0, 3,\n", "column 'N': must be a positive integer; got 0"),
    ("g, 4, 5, k,\n", "column 'K': expected an integer"),
    ("g, 4, 5, 3, 1:1, 9,\n", "at most 5 columns"),
])
def test_bad_gemm_rows(tmp_path, row, message):
    path = _write(tmp_path, "Layer, M, N, K,\n" + row)
    with pytest.raises(WorkloadError, match=message):
        load_scalesim_topology(path)


def test_bad_files(tmp_path):
    with pytest.raises(WorkloadError, match="file not found"):
        load_scalesim_topology(tmp_path / "nope.csv")
    with pytest.raises(WorkloadError, match="empty file"):
        load_scalesim_topology(_write(tmp_path, ""))
    with pytest.raises(WorkloadError, match="no layers"):
        load_scalesim_topology(_write(tmp_path, CONV_HEADER + "\n\n"))
    with pytest.raises(WorkloadError, match=r"not UTF-8 text \(byte 0xff at offset 0\)"):
        (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81")
        load_scalesim_topology(tmp_path / "bin.csv")
    with pytest.raises(WorkloadError, match="directory"):
        (tmp_path / "dir.csv").mkdir()
        load_scalesim_topology(tmp_path / "dir.csv")


def _gemm_by_layer(graph):
    return {layer.name: layer for layer in graph.compute_layers() if isinstance(layer, (Conv2d, Linear))}


@pytest.mark.parametrize("net", ["resnet18", "alexnet", "resnet50", "vgg16", "mobilenet-v1"])
def test_bundled_csv_matches_zoo(net):
    """workloads/scalesim/<net>.csv read as SCALE-Sim reads it gives the zoo's GEMM shapes and MACs."""
    zoo = load_workload(net)
    csv = load_scalesim_topology(ROOT / "workloads" / "scalesim" / f"{net}.csv")
    by_name = {layer.name: layer for layer in csv.compute_layers()}
    total = 0
    for layer in zoo.compute_layers():
        if not isinstance(layer, (Conv2d, Linear)):
            continue
        g = layer.gemm(1)
        if isinstance(layer, Conv2d) and layer.is_depthwise:
            parts = [by_name[f"{layer.name}_DPChannel_{c}"] for c in range(layer.in_channels)]
        elif g.groups > 1:
            parts = [by_name[f"{layer.name}_g{i}"] for i in range(g.groups)]
        else:
            parts = [by_name[layer.name]]
        assert len(parts) == g.groups
        for part in parts:
            assert part.gemm(1).as_tuple() == (g.m, g.n, g.k, 1), layer.name
        assert sum(part.macs for part in parts) == layer.macs
        total += layer.macs
    assert csv.total_macs == total


@pytest.mark.parametrize("net,fname", [("bert-base", "bert-base-gemm.csv"), ("eie-benchmarks", "eie-benchmarks-gemm.csv")])
def test_bundled_gemm_csv_matches_zoo(net, fname):
    zoo = load_workload(net)
    csv = load_scalesim_topology(ROOT / "workloads" / "scalesim" / fname)
    assert csv.metadata["scalesim_format"] == "gemm"
    expected = [(layer.gemm(1).m, layer.gemm(1).n, layer.gemm(1).k, 1) for layer in zoo.compute_layers()
                if layer.has_weights and layer.gemm(1) is not None for _ in range(layer.gemm(1).groups)]
    assert [layer.gemm(1).as_tuple() for layer in csv.compute_layers()] == expected


def test_writer_round_trip_exact_shapes(tmp_path):
    """Layers with padding, odd strides, groups, depthwise and linear round-trip through the CSV."""
    from accelsim.workload.graph import sequential
    from accelsim.workload.layers import Flatten, Input, Pool2d

    graph = sequential("mix", [
        Input(name="x", shape=(6, 31, 29)),
        Conv2d(name="c1", input_shapes=((6, 31, 29),), out_channels=12, kernel=(5, 3), stride=3, padding=(2, 1)),
        Conv2d(name="g", input_shapes=((12, 11, 10),), out_channels=6, kernel=3, padding=1, groups=3),
        Conv2d(name="dw", input_shapes=((6, 11, 10),), out_channels=12, kernel=3, stride=2, groups=6),
        Pool2d(name="p", input_shapes=((12, 5, 4),), kind="max", kernel=2),
        Flatten(name="f", input_shapes=((12, 2, 2),)),
        Linear(name="fcDP", input_shapes=((48,),), out_features=7),
    ])
    path = save_scalesim_topology(graph, tmp_path / "mix.csv")
    text = path.read_text().splitlines()
    assert all(line.endswith(",") for line in text)
    back = load_scalesim_topology(path)
    assert back.total_macs == graph.total_macs
    assert back.layer("c1").gemm(1) == graph.layer("c1").gemm(1)
    assert graph.layer("g").gemm(1).as_tuple() == (110, 2, 36, 3)
    assert [back.layer(f"g_g{i}").gemm(1).as_tuple() for i in range(3)] == [(110, 2, 36, 1)] * 3
    assert graph.layer("dw").gemm(1).as_tuple() == (20, 2, 9, 6)
    assert [back.layer(f"dw_DPChannel_{c}").gemm(1).as_tuple() for c in range(6)] == [(20, 2, 9, 1)] * 6
    # a non-depthwise name containing DP must not be expanded by SCALE-Sim
    assert back.layer("fcDp").gemm(1).as_tuple() == (1, 7, 48, 1)


def test_writer_gemm_format_and_sparsity(tmp_path):
    graph = load_scalesim_topology(DATA / "scalesim_gemm_quirks.csv")
    path = save_scalesim_topology(graph, tmp_path / "g.csv", gemm=True)
    back = load_scalesim_topology(path)
    assert back.metadata["scalesim_sparsity"] == graph.metadata["scalesim_sparsity"]
    assert [layer.gemm(1) for layer in back.compute_layers()] == [layer.gemm(1) for layer in graph.compute_layers()]


def test_writer_rejects_what_scalesim_cannot_express(tmp_path):
    from accelsim.workload.graph import sequential
    from accelsim.workload.layers import Input

    dilated = sequential("d", [Input(name="x", shape=(3, 9, 9)),
                               Conv2d(name="c", input_shapes=((3, 9, 9),), out_channels=4, kernel=3, dilation=2)])
    with pytest.raises(WorkloadError, match="dilation"):
        save_scalesim_topology(dilated, tmp_path / "d.csv")
    uneven = sequential("u", [Input(name="x", shape=(3, 9, 9)),
                              Conv2d(name="c", input_shapes=((3, 9, 9),), out_channels=4, kernel=3, stride=(1, 2))])
    with pytest.raises(WorkloadError, match="one stride"):
        scalesim_rows(uneven)
    nothing = sequential("n", [Input(name="x", shape=(3, 9, 9))])
    with pytest.raises(WorkloadError, match="no conv"):
        save_scalesim_topology(nothing, tmp_path / "n.csv")


@pytest.mark.parametrize("row", ["c, 0, 8, 3, 3, 3, 5, 1,", "c, 8, 8, 3, 3, 3, 5, 1", "c, 8, 8, 3, 3, 3, 5, x,"])
def test_cli_bad_csv_one_line(tmp_path, run_cli, row):
    path = _write(tmp_path, CONV_HEADER + row + "\n")
    code, out, err = run_cli("stats", "--workload", path)
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and str(path) in err and "line 2" in err


def test_cli_missing_csv(tmp_path, run_cli):
    code, _, err = run_cli("stats", "--workload", tmp_path / "missing.csv")
    assert code == 2 and "file not found" in err and len(err.strip().splitlines()) == 1


def test_cli_stats_on_bundled_csv(run_cli):
    code, out, err = run_cli("stats", "--workload", ROOT / "workloads" / "scalesim" / "resnet18.csv", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    zoo = load_workload("resnet18")
    assert data["total"]["macs"] == sum(layer.macs for layer in zoo.compute_layers() if isinstance(layer, (Conv2d, Linear)))


def test_bundled_csvs_are_current(tmp_path):
    """The committed topologies are exactly what the writer makes from today's zoo."""
    from accelsim.workload.io_scalesim import BUNDLED

    assert sorted(BUNDLED) == sorted(p.name for p in (ROOT / "workloads" / "scalesim").glob("*.csv"))
    for fname, (net, gemm) in BUNDLED.items():
        out = save_scalesim_topology(load_workload(net), tmp_path / fname, gemm=gemm)
        assert out.read_text() == (ROOT / "workloads" / "scalesim" / fname).read_text(), fname


def test_module_main(tmp_path, capsys):
    from accelsim.cli.scalesim_topology import main

    assert main(["lenet-300-100", str(tmp_path / "l.csv"), "--gemm"]) == 0
    assert load_scalesim_topology(tmp_path / "l.csv").total_macs == load_workload("lenet-300-100").total_macs
    assert main(["no-such-net", str(tmp_path / "x.csv")]) == 2
    assert "unknown workload" in capsys.readouterr().err
