"""Size guards (issue 19 part 3): values the schema once accepted but that crashed (OverflowError, a Numba
typing error, MemoryError) or hung are refused before any work starts, with one line naming what is too
large and the bound. Every case is checked through the Python API (a one-line AccelsimError) and through
the CLI (exit status 2). The work is refused before it starts, so every test is fast by construction.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

import numpy as np
import pytest
import yaml

import accelsim
from accelsim.compress.compressed import CompressedGraph
from accelsim.config import apply_overrides, declared, from_dict, to_dict
from accelsim.dse.space import MAX_POINTS, Grid, Random, Space, space_from_spec
from accelsim.errors import ConfigError, ShapeError, SweepError, WorkloadError
from accelsim.hw import registry
from accelsim.hw.registry import build_model, load_arch
from accelsim.workload import layers as L
from accelsim.workload.graph import MAX_LAYERS, sequential
from accelsim.workload.weights import synthesize_weights
from accelsim.workload.zoo import load_workload

HUGE = 10**30
ARCHS = {"systolic": "edge-32x32", "eie": "eie", "gpu": "v100", "npu": "tpu-v5e"}


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text, text
    return text


def cli(*args, env=None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "accelsim", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def assert_cli_refuses(*args, fragment: str, env=None) -> None:
    proc = cli(*args, env=env)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "Numba" not in proc.stderr


def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


# --- 10**30 in every numeric arch field: a one-line ConfigError, never OverflowError / a Numba error ----------
def _numeric_item(tp):
    """int / float, or the item type of a list / mapping / optional of them; None when not numeric."""
    if tp in (int, float):
        return tp
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if origin is dict:
        return _numeric_item(args[1])
    if origin in (list, tuple) or len(args) == 1:
        return _numeric_item(args[0]) if args else None
    return None


def _device(fam: str) -> dict:
    """A valid file of the family: its required top-level fields (a GPU's or an NPU's device numbers) from the
    bundled config, so a problem with one field is the only one."""
    cls, bundled = registry.family(fam).config_cls, to_dict(load_arch(ARCHS[fam]))
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING and f.name != "name"]
    return {"name": "t", "family": fam, **{name: bundled[name] for name in required}}


def _huge_value(tp):
    """10**30 in the field's shape: the number, a mapping value or the last list item."""
    if tp in (int, float):
        return HUGE
    origin, args = typing.get_origin(tp), [a for a in typing.get_args(tp) if a is not type(None)]
    if origin is dict:
        return {"fp16": HUGE}
    if origin in (list, tuple):
        return [1, HUGE]
    return _huge_value(args[0])  # optional


NUMERIC_ARCH_FIELDS = [(fam, path, tp) for fam in ARCHS for path, tp, meta, _ in declared(registry.family(fam).config_cls)
                       if _numeric_item(tp) is not None and not meta.get("choices")]


def test_every_family_has_numeric_fields():
    assert {fam for fam, *_ in NUMERIC_ARCH_FIELDS} == set(ARCHS)
    assert ("gpu", "sms", int) in NUMERIC_ARCH_FIELDS and any(p == "sram.ifmap_kb" for _, p, _ in NUMERIC_ARCH_FIELDS)


@pytest.mark.parametrize("fam,path,tp", NUMERIC_ARCH_FIELDS, ids=[f"{f}:{p}" for f, p, _ in NUMERIC_ARCH_FIELDS])
def test_huge_arch_value_is_one_config_error(fam, path, tp):
    value = _huge_value(tp)
    with pytest.raises(ConfigError) as info:  # the file form
        from_dict(registry.family(fam).config_cls, apply_overrides(_device(fam), {path: value}), "t.yaml")
    assert f"t.yaml: {path}" in one_line(info.value) and repr(HUGE) in str(info.value)
    with pytest.raises(ConfigError) as info:  # a bundled arch with an override
        load_arch(ARCHS[fam], {path: value})
    assert f"{path}" in one_line(info.value) and repr(HUGE) in str(info.value)


@pytest.mark.parametrize("arch,key", [("edge-32x32", "sram.ifmap_kb"), ("edge-32x32", "clock_hz"),
                                      ("v100", "sms"), ("v100", "dram_gbs"), ("eie", "dram.bandwidth_bytes_per_s"),
                                      ("eie", "spmat.capacity_bytes")])
def test_huge_bandwidth_sram_sms_through_simulate_and_cli(arch, key):
    with pytest.raises(ConfigError) as info:
        accelsim.simulate(arch, "lenet-300-100", overrides={key: HUGE})
    assert f"{key} must be" in one_line(info.value)
    assert_cli_refuses("simulate", "--arch", arch, "--workload", "lenet-300-100", "--set", f"{key}={HUGE}",
                       fragment=f"{key} must be")


# --- MACs beyond int64 at load --------------------------------------------------------------------------------
def test_layer_beyond_int64_is_refused_at_load(tmp_path):
    with pytest.raises(ShapeError) as info:
        L.Linear(name="fc", input_shapes=((10**11,),), out_features=10**11)
    assert "layer 'fc' (linear)" in one_line(info.value) and "MACs per sample exceed int64" in str(info.value)
    with pytest.raises(ShapeError, match="output elements per sample exceed int64"):
        L.Input(name="x", shape=(10**10, 10**10))
    wl = write_yaml(tmp_path / "huge.yaml", {"name": "huge", "inputs": {"data": [10**11]},
                                              "layers": [{"name": "fc1", "op": "linear", "out_features": 10**11}]})
    with pytest.raises(WorkloadError) as info:
        load_workload(wl)
    assert "layer 'fc1'" in one_line(info.value) and "exceed int64" in str(info.value)
    assert_cli_refuses("stats", "--workload", wl, fragment="exceed int64")


def test_layer_within_int64_loads():
    fc = L.Linear(name="fc", input_shapes=((2**20,),), out_features=2**20)
    assert fc.macs == 2**40 and fc.weight_matrix_shape == (2**20, 2**20)


# --- batch -----------------------------------------------------------------------------------------------------
def test_batch_is_bounded():
    assert L.check_batch(L.MAX_BATCH) == L.MAX_BATCH
    with pytest.raises(ConfigError) as info:
        accelsim.simulate("edge-32x32", "lenet-300-100", batch=10**9)
    assert one_line(info.value) == f"batch must be <= {L.MAX_BATCH} (2^20 samples); got 1000000000"
    assert_cli_refuses("simulate", "--arch", "edge-32x32", "--workload", "lenet-300-100", "--batch", 10**9,
                       fragment="batch must be <= 1048576")


@pytest.mark.parametrize("arch", ["v100", "edge-32x32"])
def test_model_batch_is_bounded_before_work(arch):
    """A hardware model given batch= directly (the GPU model included) reads the layer's GEMM view, which
    estimates the work first."""
    model = build_model(load_arch(arch))
    cl = next(iter(CompressedGraph.dense(load_workload("lenet-300-100"))))
    with pytest.raises(ConfigError, match="batch must be <= 1048576"):
        model.simulate(cl, 10**9)
    assert model.simulate(cl, 2).name == cl.layer.name  # a bounded batch still runs


# --- work budget: a 1e15-MAC conv ------------------------------------------------------------------------
def _conv15(tmp_path):
    return write_yaml(tmp_path / "conv15.yaml", {
        "name": "conv15", "inputs": {"data": [64, 100000, 100000]},
        "layers": [{"name": "c1", "op": "conv2d", "out_channels": 64, "kernel": 5, "padding": 2}]})


def test_huge_conv_on_the_gpu_is_refused_before_work(tmp_path):
    wl = _conv15(tmp_path)
    assert load_workload(wl).layer("c1").macs == 1024 * 10**12  # loads: within int64
    with pytest.raises(WorkloadError) as info:
        accelsim.simulate("v100", wl)
    assert "layer 'c1' (conv2d)" in one_line(info.value) and "work budget" in str(info.value)
    assert "ACCELSIM_MAX_MACS" in str(info.value)
    assert_cli_refuses("simulate", "--arch", "v100", "--workload", wl, fragment="work budget")


def test_batch_times_macs_is_budgeted(monkeypatch):
    fc = L.Linear(name="fc", input_shapes=((1000,),), out_features=1000)
    assert fc.gemm(100).macs == 10**8
    monkeypatch.setenv("ACCELSIM_MAX_MACS", "1e7")
    with pytest.raises(WorkloadError, match=r"layer 'fc' \(linear\): batch 100 x 1e\+06 MACs"):
        fc.gemm(100)
    assert fc.gemm(10).macs == 10**7 and fc.macs == 10**6  # the budget bounds work, not the description
    monkeypatch.setenv("ACCELSIM_MAX_MACS", "lots")
    with pytest.raises(ConfigError, match="ACCELSIM_MAX_MACS must be an int"):
        fc.gemm(1)


# --- memory budget: weights synthesized or compressed ----------------------------------------------------
def _big_layer(tmp_path):
    return write_yaml(tmp_path / "big.yaml", {"name": "big", "inputs": {"data": [200000]},
                                              "layers": [{"name": "fc1", "op": "linear", "out_features": 200000}]})


def test_huge_layer_with_a_recipe_is_refused_before_synthesis(tmp_path):
    wl = _big_layer(tmp_path)
    with pytest.raises(WorkloadError) as info:
        accelsim.simulate("edge-32x32", wl, recipe="magnitude-8")
    text = one_line(info.value)
    assert "layer 'fc1' (linear) has 4e+10 weights" in text and "ACCELSIM_MAX_WEIGHTS" in text
    with pytest.raises(WorkloadError, match="over the budget of 2.15e\\+09 weights per layer"):
        synthesize_weights(load_workload(wl))
    assert_cli_refuses("simulate", "--arch", "edge-32x32", "--workload", wl, "--recipe", "magnitude-8",
                       fragment="weights per layer")


def test_weight_budget_knob(monkeypatch):
    g = load_workload("lenet-300-100")  # fc1: 300 x 784 = 235200 weights
    monkeypatch.setenv("ACCELSIM_MAX_WEIGHTS", "100000")
    with pytest.raises(WorkloadError, match="layer 'fc1' .* over the budget of 1e\\+05 weights per layer"):
        synthesize_weights(g)
    assert synthesize_weights(g, layers=["fc3"]).weights["fc3"].shape == (10, 100)  # 1000 weights: within
    monkeypatch.setenv("ACCELSIM_MAX_WEIGHTS", "0")
    with pytest.raises(ConfigError, match=r"ACCELSIM_MAX_WEIGHTS must be an int in \[1, "):
        synthesize_weights(g)


# --- ONNX: huge input dims --------------------------------------------------------------------------------
onnx = pytest.importorskip("onnx")


def _onnx_matmul(path, dims):
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g", [x], [y], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _onnx_constant_of_shape(path, dims):
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["c"], value=numpy_helper.from_array(np.ones(1, np.float32))),
             helper.make_node("Add", ["x", "c"], ["y"])]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]),
              str(path))
    return path


def test_huge_onnx_input_dims_are_refused(tmp_path):
    from accelsim.workload.io_onnx import MAX_FOLD_ELEMENTS, load_onnx

    path = _onnx_matmul(tmp_path / "huge.onnx", [1, 10**10, 10**10, 4])
    with pytest.raises(WorkloadError) as info:
        load_onnx(path)
    # (declared sizes past 2^31 - 1 are refused as --input-shape refuses them; the int64 product check stays behind)
    assert "expected a size of at most 2^31 - 1" in one_line(info.value)
    assert_cli_refuses("stats", "--workload", path, fragment="expected a size of at most 2^31 - 1")
    with pytest.raises(WorkloadError, match=r"input_shapes\['x'\] must be positive ints \(at most 2\^31 - 1\)"):
        load_onnx(_onnx_matmul(tmp_path / "small.onnx", [1, 4]), input_shapes={"x": [10**13, 10**13, 4]})
    # a constant too large to fold is never evaluated: a generic layer of its shape (a real model's 79M-element
    # relative-position index, MViT-v2 by TorchScript), or refused under strict
    path = _onnx_constant_of_shape(tmp_path / "cos.onnx", [1, 100000, 100000])
    graph = load_onnx(path)
    (big,) = [layer for layer in graph.layers if layer.op == "generic" and layer.op_type == "ConstantOfShape"]
    assert big.output_shapes == ((1, 100000, 100000),)
    assert any(f"over the {MAX_FOLD_ELEMENTS} elements a folded constant may hold" in n for n in graph.metadata["notes"])
    with pytest.raises(WorkloadError) as info:
        load_onnx(path, strict=True)
    assert "ConstantOfShape" in one_line(info.value) and f"over the {MAX_FOLD_ELEMENTS} elements" in str(info.value)
    assert_cli_refuses("stats", "--workload", path, "--strict", fragment="a folded constant may hold")
    assert len(load_onnx(_onnx_constant_of_shape(tmp_path / "ok.onnx", [1, 8, 8]))) >= 2  # small shapes fold


# --- SCALE-Sim DP row with 5e7 channels -------------------------------------------------------------------
def test_scalesim_dp_row_with_huge_channels_is_refused(tmp_path):
    csv = tmp_path / "dp.csv"
    csv.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                   "bigDP, 3, 3, 3, 3, 50000000, 1, 1,\n")
    with pytest.raises(WorkloadError) as info:
        load_workload(csv)
    # refused from the row itself, before any of its per-channel layers is built
    assert f"50000000 channels exceed the {MAX_LAYERS} layers a graph holds" in one_line(info.value)
    assert "line 2, column 'Channels'" in str(info.value)
    assert_cli_refuses("stats", "--workload", csv, fragment=f"exceed the {MAX_LAYERS} layers")


def test_graph_layer_count_is_bounded(monkeypatch):
    import accelsim.workload.graph as G

    monkeypatch.setattr(G, "MAX_LAYERS", 3)
    g = sequential("s", [L.Input(name="x", shape=(4,)), L.Linear(name="a", input_shapes=((4,),), out_features=4),
                         L.Linear(name="b", input_shapes=((4,),), out_features=4)])
    with pytest.raises(WorkloadError, match="layer 'c' would be layer 4 of the graph; a graph holds at most 3 layers"):
        g.add(L.Linear(name="c", input_shapes=((4,),), out_features=4), ["b"])


# --- a 1e9-point sweep ----------------------------------------------------------------------------------------
GRID_1E9 = {f"arch.tag{i}": list(range(1000)) for i in range(3)}


def test_huge_sweep_is_refused_before_expansion(tmp_path):
    space = Space(base={"arch": "edge-32x32", "workload": "lenet-300-100"}, axes=[Grid(GRID_1E9)])
    assert space.count() == 10**9 and len(space) == 10**9  # counted, not built
    with pytest.raises(SweepError) as info:
        space.points()
    assert one_line(info.value) == (f"space: 1000000000 points (the product of the axis lengths) is over the limit of "
                                    f"{MAX_POINTS} points per sweep; split the sweep or sample it with a random block")
    union = space_from_spec({"base": {"arch": "edge-32x32", "workload": "lenet-300-100"},
                             "spaces": [{"grid": {"arch.array.rows": list(range(8, 8 + 600))}},
                                        {"random": {"n": 600_000, "axes": {"arch.array.cols": [8, 16]}},
                                         "grid": {"batch": [1, 2]}}]})
    with pytest.raises(SweepError, match="spaces: 1200600 points"):
        union.points()
    with pytest.raises(SweepError, match=r"random.n must be an int in \[1, 1000000\]; got 1000000001"):
        Random({"x": [1]}, n=10**9 + 1)
    spec = write_yaml(tmp_path / "huge.yaml", {"base": {"arch": "edge-32x32", "workload": "lenet-300-100"},
                                                "grid": GRID_1E9})
    assert_cli_refuses("sweep", spec, "--out", tmp_path / "out", "--quiet", fragment="is over the limit of 1000000 points")


def test_bounded_sweep_still_expands():
    space = Space(base={"arch": "edge-32x32"}, axes=[Grid({"a": [1, 2, 3], "b": [1, 2]}), Random({"c": [1, 2, 3, 4]}, n=4)])
    assert space.count() == 24 == len(space) and len(space.points()) <= 24



def test_user_mode_replay_too_large_is_refused_before_allocating(tmp_path):
    """SCALE-Sim's USER-bandwidth replay materialises the prefetch order; a layer whose order would not
    fit is refused with one line naming it (it used to be a MemoryError), and the estimate is the
    kernel's own length."""
    import numpy as np

    from accelsim.errors import SimulationError
    from accelsim.hw.systolic import _kernels as K
    from accelsim.hw.systolic import model as M

    for df in ("os", "ws", "is"):
        for geom in (M.Geometry.conv(14, 14, 3, 3, 16, 32, 1), M.Geometry.gemm(37, 50, 61)):
            tabs = K.conv_geometry(geom.batch, geom.H, geom.W, geom.C, geom.FH, geom.FW, geom.sh, geom.sw, geom.dh,
                                   geom.dw, geom.Eh, geom.Ew)
            n = sum(len(K.prefetch_sequence(M.DF_CODE[df], o, 8, 4, geom.npx, geom.win, geom.K, *tabs, geom.H, geom.W))
                    for o in (0, 1))
            assert n == M.replay_entries(df, 8, 4, geom)
    big = tmp_path / "big.yaml"
    big.write_text("name: big\ninputs: {data: [200000]}\nlayers:\n  - {name: fc, op: linear, out_features: 200000}\n")
    with pytest.raises(SimulationError, match=r"big.yaml: layer 'fc': SCALE-Sim's USER-bandwidth replay .* prefetch entries"):
        accelsim.simulate("tpu-v1", big)
    assert np.isfinite(accelsim.simulate("tpu-v1", big, overrides=["dram.bandwidth_mode=CALC", "memory_model=analytic"]).total["latency_s"])


def test_workload_layer_count_is_checked_before_any_layer_is_built(tmp_path):
    data = {"name": "m", "inputs": {"x": [8]}, "layers": [{"name": f"l{i}", "op": "relu"} for i in range(MAX_LAYERS)]}
    from accelsim.workload.io_yaml import graph_from_dict

    with pytest.raises(WorkloadError) as info:
        graph_from_dict(data, "w.yaml")
    assert one_line(info.value) == (f"w.yaml: layers: {MAX_LAYERS:,} layers and 1 input(s); a graph holds at most "
                                    f"{MAX_LAYERS:,} layers, inputs included")
    data["layers"].pop()
    assert len(graph_from_dict(data, "w.yaml")) == MAX_LAYERS
