"""Cases a held-out round of the Python API (2026-12-06, thirty-sixth session; about 450 calls written by a helper
that read none of these tests) found wrong: a softmax axis out of range reaching the NPU model as an IndexError, a pool
padding no smaller than its kernel, keyword arguments a YAML or zoo workload ignored, ``simulate(dense_baseline='no')``
and ``command=5`` taken, prune parameters of another method ignored, and ``compress`` taking a 70-bit seed and
``statistics=1``."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.errors import AccelsimError, ConfigError, WorkloadError


def _yaml(tmp_path, layer: str):
    path = tmp_path / "w.yaml"
    path.write_text("name: t\ninputs:\n  data: [3, 32, 32]\nlayers:\n" + layer)
    return path


@pytest.mark.parametrize("layer, message", [
    ("- name: s\n  op: softmax\n  axis: 9\n", "softmax 's': axis 9 out of range for rank 3"),
    ("- name: s\n  op: softmax\n  axis: -4\n", "softmax 's': axis -4 out of range for rank 3"),
    ("- name: p\n  op: maxpool\n  kernel: 2\n  padding: 3\n",
     "pool 'p': padding [3, 3] must be smaller than the kernel [2, 2]"),
    ("- name: p\n  op: avgpool\n  kernel: 3\n  padding: 3\n", "must be smaller than the kernel [3, 3]"),
])
def test_layer_fields_out_of_range_are_refused_at_load(tmp_path, layer, message):
    with pytest.raises(WorkloadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        accelsim.load_workload(_yaml(tmp_path, layer))


@pytest.mark.parametrize("layer", ["- name: s\n  op: softmax\n  axis: -3\n", "- name: p\n  op: maxpool\n  kernel: 3\n  padding: 2\n"])
def test_layer_fields_in_range_still_load_and_run_on_every_family(tmp_path, layer):
    graph = accelsim.load_workload(_yaml(tmp_path, layer))
    for arch in ("edge-32x32", "h100-sxm", "tpu-v4"):
        result = accelsim.simulate(arch, graph)
        assert result.total["latency_s"] >= 0 and result.total["energy_j"] >= 0


@pytest.mark.parametrize("source, kwargs, message", [
    ("lenet5", {"foo": 1}, "workload argument(s) foo do not apply"),
    ("workloads/lenet5.yaml", {"batc": 1}, "workload argument(s) batc do not apply to a YAML workload"),
    ("workloads/scalesim/resnet18.csv", {"gemm": False, "x": 1}, "x do not apply to a SCALE-Sim topology (it takes gemm"),
])
def test_load_workload_refuses_arguments_its_source_does_not_take(source, kwargs, message):
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    src = str(root / source) if "/" in source else source
    import re

    with pytest.raises(WorkloadError, match=re.escape(message)):
        accelsim.load_workload(src, **kwargs)
    if "gemm" in kwargs:
        assert accelsim.load_workload(src, gemm=False).layers


@pytest.mark.parametrize("kwargs, message", [
    ({"dense_baseline": "no"}, "dense_baseline must be true or false; got 'no'"),
    ({"dense_baseline": None}, "dense_baseline must be true or false; got None"),
    ({"command": 5}, "command must be a string"),
])
def test_simulate_checks_its_flags(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        accelsim.simulate("edge-32x32", "lenet5", recipe="int8", **kwargs)


@pytest.mark.parametrize("prune, message", [
    ({"method": "nm", "n": 2, "m": 4, "density": 0.3}, "density: N:M pruning keeps n of every m"),
    ({"method": "nm", "n": 2, "m": 4, "sparsity": 0.5}, "sparsity: N:M pruning keeps n of every m"),
    ({"method": "magnitude", "density": 0.5, "block": [4, 4]}, r"block: block=\[4, 4\] applies to method block only"),
    ({"method": "magnitude", "density": 0.5, "n": 2, "m": 4}, "n: n=2, m=4 applies to method nm only"),
    ({"method": "block", "density": 0.5, "block": [4, 4], "n": 2}, "n: n=2 applies to method nm only; got method block"),
])
def test_prune_parameters_of_another_method_are_refused(prune, message):
    with pytest.raises(ConfigError, match=message):
        accelsim.compress("lenet-300-100", {"name": "t", "pipeline": [{"prune": prune}]})


def test_prune_parameters_of_their_own_method_still_work():
    for prune in ({"method": "nm", "n": 2, "m": 4}, {"method": "block", "density": 0.5, "block": [4, 4]},
                  {"method": "random", "sparsity": 0.5}):
        cg = accelsim.compress("lenet-300-100", {"name": "t", "pipeline": [{"prune": prune}]})
        assert cg.stats["compression_ratio"] > 1


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": 2**70}, r"seed must be <= 4294967295"),
    ({"seed": -1}, "seed must be an int >= 0"),
    ({"statistics": 1}, "statistics must be None, True or False; got 1"),
    ({"statistics": "yes"}, "statistics must be None, True or False"),
])
def test_compress_checks_seed_and_statistics(kwargs, message):
    with pytest.raises(AccelsimError, match=message):
        accelsim.compress("lenet5", "int8", **kwargs)
    assert accelsim.compress("lenet5", "int8", seed=2**32 - 1).stats["compression_ratio"] > 1


def test_layer_graph_checks_its_name_and_layers():
    with pytest.raises(WorkloadError, match="a LayerGraph's name must be a non-empty string; got None"):
        accelsim.LayerGraph(None)
    with pytest.raises(WorkloadError, match="add\\(\\) takes an accelsim layer .*; got int 5"):
        accelsim.LayerGraph("x").add(5)


def test_pareto_front_refuses_a_text_objective_column():
    import pandas as pd

    df = pd.DataFrame({"latency_s": ["a", "b"], "energy_j": [2, 1], "status": ["ok", "ok"]})
    with pytest.raises(AccelsimError, match="objective 'latency_s' must be a numeric column; row 0 holds 'a'"):
        accelsim.pareto_front(df, {"latency_s": "min", "energy_j": "min"})
    ok = pd.DataFrame({"latency_s": [1.0, None], "energy_j": [2, 1], "status": ["ok", "error"]})
    assert len(accelsim.pareto_front(ok, {"latency_s": "min", "energy_j": "min"})) == 1  # an error row's empty cell


def test_a_wrong_keyword_to_compress_is_named_as_compress():
    # a typed ArgumentError since the thirty-seventh session (still a TypeError), with the keyword it meant
    with pytest.raises(TypeError, match=r"^compress\(\) got an unknown keyword argument 'sede'; did you mean 'seed'"):
        accelsim.compress("lenet5", "int8", sede=1)
