"""Cases a held-out round of the Python API as a design-space-exploration script uses it (2026-12-05, twenty-first
session; 11,322 checks written by a helper that read none of these tests) found wrong: numpy integers refused where
Python ints are taken, wrong argument types surfacing as bare TypeError / AttributeError / KeyError, a result read
back from its JSON losing its speedup, ``accelsim.sweep`` running a spec whose objectives the CLI refuses, a config
object changed after loading used without a check, Ctrl-C inside a compiled kernel reported as a failed point, a
line break in an override breaking the one-line message, and ``sweep(executor=True)`` / ``resume="yes"`` taken."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import accelsim
from accelsim.compress.recipe import with_params
from accelsim.dse.executors import run_one
from accelsim.errors import AccelsimError, ConfigError, SweepError, UnknownNameError, interrupted
from accelsim.report.results import NetworkResult


def test_numpy_integers_are_ints():
    assert accelsim.load_arch("edge-32x32", {"array.rows": np.int64(16)}).array.rows == 16
    assert type(accelsim.load_arch("edge-32x32", {"array.rows": np.int32(8)}).array.rows) is int
    assert accelsim.load_arch("edge-32x32", {"clock_hz": np.float32(4e8)}).clock_hz == 4e8
    assert accelsim.simulate("edge-32x32", "lenet5", batch=np.int64(2)).batch == 2
    with pytest.raises(ConfigError, match="array.rows must be an int"):
        accelsim.load_arch("edge-32x32", {"array.rows": np.bool_(True)})
    with pytest.raises(ConfigError, match="batch must be an int >= 1"):
        accelsim.simulate("edge-32x32", "lenet5", batch=True)


@pytest.mark.parametrize("call, message", [
    (lambda: accelsim.load_arch("edge-32x32", 5), "overrides must be a mapping"),
    (lambda: accelsim.simulate("edge-32x32", "lenet5", overrides=5), "overrides must be a mapping"),
    (lambda: with_params("magnitude-8", [("prune.density", 0.5)]), "recipe parameters must be a mapping"),
    (lambda: accelsim.compress(None, "int8"), "graph must be a LayerGraph or a workload name"),
    (lambda: accelsim.pareto_front(None, {"latency_s": "min"}), "results must be a pandas DataFrame"),
    (lambda: accelsim.pareto_front([{"latency_s": 1.0}], {"latency_s": "min"}), "got list"),
    (lambda: NetworkResult.from_dict(None), "a result must be a mapping"),
    (lambda: NetworkResult.from_dict({"layers": "x"}), "must have field 'arch'"),
    (lambda: NetworkResult.from_dict({"arch": {}, "layers": "x"}), "'layers' must be a list of layer objects"),
    (lambda: NetworkResult.from_dict({"arch": {}, "layers": [{"name": "a"}]}), r"layers\[0\]"),
    (lambda: accelsim.sweep({"base": {"arch": "edge-32x32", "workload": "lenet5"}}, executor=True, progress=False),
     "executor must be None"),
    (lambda: accelsim.sweep({"base": {"arch": "edge-32x32", "workload": "lenet5"}}, resume="yes", progress=False),
     "resume must be True or False"),
])
def test_wrong_argument_types_are_typed_errors(call, message):
    with pytest.raises(AccelsimError, match=message):
        call()


def test_compress_takes_a_workload_name():
    assert accelsim.compress("lenet5", "int8").graph.name == accelsim.load_workload("lenet5").name


def test_result_layer_and_json_round_trip():
    run = accelsim.simulate("edge-32x32", "lenet-300-100", recipe="magnitude-8")
    with pytest.raises(UnknownNameError, match="unknown layer 'fc_1'; did you mean fc1"):
        run.layer("fc_1")
    with pytest.raises(KeyError):  # still a KeyError for code that caught one
        run.layer("nope")
    back = NetworkResult.from_dict(json.loads(json.dumps(run.to_dict())))
    for key in ("speedup_vs_dense", "energy_saving_vs_dense"):
        assert run.total[key] is not None and back.total[key] == run.total[key]
        assert back.to_dict()["total"][key] == run.total[key]


def test_api_sweep_checks_objectives_like_the_cli():
    spec = {"base": {"arch": "edge-32x32", "workload": "lenet5"}, "objectives": {"latency_sx": "min"}}
    with pytest.raises(SweepError, match="objectives.latency_sx: not a result column; did you mean latency_s"):
        accelsim.sweep(spec, progress=False)
    # an evaluator given by the caller has columns of its own: its objectives are not checked against simulate's
    df = accelsim.sweep(spec, evaluate=lambda s: {"latency_sx": 1.0}, progress=False)
    assert list(df["latency_sx"]) == [1.0]


def test_a_config_object_is_checked_again():
    cfg = accelsim.load_arch("edge-32x32")
    assert accelsim.load_arch(cfg) == cfg
    bad = dataclasses.replace(cfg, array=dataclasses.replace(cfg.array, rows=-4))
    with pytest.raises(ConfigError, match="config 'edge-32x32': array.rows must be an int in"):
        accelsim.simulate(bad, "lenet5")
    with pytest.raises(ConfigError, match="clock_hz must be a number"):
        accelsim.simulate(dataclasses.replace(cfg, clock_hz=float("nan")), "lenet5")


def test_override_with_a_line_break_is_one_line():
    with pytest.raises(ConfigError) as info:
        accelsim.load_arch("edge-tpu", {"matrix.efficiency": "a\nb"})
    assert len(str(info.value).splitlines()) == 1 and "matrix.efficiency='a\\nb'" in str(info.value)


def _kernel_interrupted(setting):
    """What CPython raises when Ctrl-C arrives while a compiled kernel runs."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        raise SystemError("CPUDispatcher(<function walk_layer>) returned a result with an exception set") from exc


def test_ctrl_c_inside_a_kernel_interrupts_the_sweep():
    with pytest.raises(KeyboardInterrupt):
        run_one(_kernel_interrupted, "p", {})
    assert not interrupted(ValueError("x"))
    assert run_one(lambda s: 1 / 0, "p", {})[1] == "crash"  # a bug is still a crash, not an interrupt


def test_ctrl_c_inside_a_kernel_is_interrupted_on_the_cli(monkeypatch, capsys):
    import argparse

    from accelsim import cli

    class Parser:
        def parse_args(self, argv=None):
            return argparse.Namespace(func=_kernel_interrupted)

    monkeypatch.setattr(cli, "build_parser", Parser)
    assert cli.main(["simulate"]) == 130
    assert capsys.readouterr().err.strip() == "accelsim: interrupted"
