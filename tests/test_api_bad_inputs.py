"""Every bad input is a typed error on both surfaces: ``accelsim.cli.main([...])`` exits 2 with one
stderr line, and the matching API call raises an :class:`~accelsim.errors.AccelsimError` subclass
(never a raw ``KeyError`` / ``TypeError`` / ``OSError``), with the same message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

import accelsim
from accelsim.cli import main
from accelsim.errors import AccelsimError, ConfigError, SweepError, UnknownNameError, WorkloadError

SIM = ["simulate", "--arch", "edge-32x32", "--workload", "lenet5"]


def _files(tmp: Path) -> dict[str, Path]:
    """Bad input files: a missing one, an empty one, a folder named like a file, bad contents."""
    (tmp / "folder.yaml").mkdir()
    (tmp / "plainfolder").mkdir()  # a folder without a suffix and without config.json
    (tmp / "empty.yaml").write_text("")
    (tmp / "bad-step.yaml").write_text("name: r\npipeline:\n  - {prune: {amount: 2}}\n")
    (tmp / "bad-op.yaml").write_text("name: r\npipeline:\n  - {op: nosuch}\n")
    (tmp / "bad-key.yaml").write_text("name: s\nbase: {workload: lenet5, arch: edge-32x32}\ngrid: {recipe: [int8]}\nbogus: 1\n")
    (tmp / "bad-axis.yaml").write_text("name: s\nbase: {workload: lenet5, arch: edge-32x32}\ngrid: {recipe: []}\n")
    (tmp / "untrusted.yaml").write_text("name: s\nevaluate: os:system\ngrid: {x: [1]}\n")
    return {p.stem: p for p in tmp.iterdir()} | {"missing": tmp / "missing.yaml"}


@dataclass(frozen=True)
class Case:
    id: str
    cli: Callable[[dict], list]  # files -> argv
    api: Callable[[dict], object]  # files -> the call
    error: type  # the AccelsimError subclass the API raises
    text: str  # in the API message and in the CLI line


def _sweep(path):
    return accelsim.sweep(path, progress=False)


CASES = [
    # unknown names
    Case("unknown-arch", lambda f: ["simulate", "--arch", "nosuch", "--workload", "lenet5"],
         lambda f: accelsim.simulate("nosuch", "lenet5"), UnknownNameError, "unknown arch 'nosuch'"),
    Case("unknown-workload", lambda f: ["simulate", "--arch", "edge-32x32", "--workload", "nosuch"],
         lambda f: accelsim.simulate("edge-32x32", "nosuch"), UnknownNameError, "unknown workload 'nosuch'"),
    Case("unknown-recipe", lambda f: SIM + ["--recipe", "nosuch"],
         lambda f: accelsim.simulate("edge-32x32", "lenet5", recipe="nosuch"), UnknownNameError, "unknown recipe 'nosuch'"),
    # bad overrides (unknown key, bad type, out of range, malformed)
    Case("override-unknown-key", lambda f: SIM + ["--set", "array.nosuch=3"],
         lambda f: accelsim.simulate("edge-32x32", "lenet5", overrides=["array.nosuch=3"]), ConfigError, "array.nosuch: unknown key"),
    Case("override-bad-type", lambda f: SIM + ["--set", "array.rows=abc"],
         lambda f: accelsim.simulate("edge-32x32", "lenet5", overrides=["array.rows=abc"]), ConfigError,
         "array.rows must be an int in [1, 65536]; got 'abc'"),
    Case("override-out-of-range", lambda f: SIM + ["--set", "array.rows=-4"],
         lambda f: accelsim.load_arch("edge-32x32", ["array.rows=-4"]), ConfigError, "array.rows must be an int in [1, 65536]; got -4"),
    Case("override-no-value", lambda f: SIM + ["--set", "array.rows"],
         lambda f: accelsim.load_arch("edge-32x32", ["array.rows"]), ConfigError, "expected key=value"),
    # bad batch and seed
    Case("batch-zero", lambda f: SIM + ["--batch", "0"],
         lambda f: accelsim.simulate("edge-32x32", "lenet5", batch=0), ConfigError, "batch must be an int >= 1; got 0"),
    Case("seed-negative", lambda f: SIM + ["--recipe", "magnitude-8", "--seed", "-1"],
         lambda f: accelsim.simulate("edge-32x32", "lenet5", recipe="magnitude-8", seed=-1), ConfigError,
         "seed must be an int >= 0; got -1"),
    # a seed over 2^32 - 1 (a recipe's limit) refused everywhere, with or without a random step reading it
    Case("seed-over-32-bits", lambda f: SIM + ["--seed", str(2**70)],
         lambda f: accelsim.simulate("edge-32x32", "lenet5", seed=2**70), ConfigError,
         "seed must be <= 4294967295 (2^32 - 1: a 32-bit seed, as a recipe's seed); got 1180591620717411303424"),
    # missing files, folders given as files, empty files
    Case("arch-missing", lambda f: ["simulate", "--arch", f["missing"], "--workload", "lenet5"],
         lambda f: accelsim.load_arch(f["missing"]), ConfigError, "missing.yaml: file not found"),
    Case("arch-folder", lambda f: ["simulate", "--arch", f["folder"], "--workload", "lenet5"],
         lambda f: accelsim.load_arch(f["folder"]), ConfigError, "folder.yaml: is a directory"),
    Case("arch-plain-folder", lambda f: ["simulate", "--arch", f["plainfolder"], "--workload", "lenet5"],
         lambda f: accelsim.load_arch(f["plainfolder"]), ConfigError, "plainfolder: is a directory; expected a bundled arch"),
    Case("workload-plain-folder", lambda f: ["stats", "--workload", f["plainfolder"]],
         lambda f: accelsim.load_workload(f["plainfolder"]), WorkloadError, "plainfolder: is a directory without config.json"),
    Case("arch-empty", lambda f: ["simulate", "--arch", f["empty"], "--workload", "lenet5"],
         lambda f: accelsim.load_arch(f["empty"]), ConfigError, "empty.yaml: a hardware config must be a mapping"),
    Case("workload-missing", lambda f: ["stats", "--workload", f["missing"]],
         lambda f: accelsim.load_workload(f["missing"]), WorkloadError, "missing.yaml: file not found"),
    Case("workload-folder", lambda f: ["stats", "--workload", f["folder"]],
         lambda f: accelsim.load_workload(f["folder"]), WorkloadError, "folder.yaml: is a directory"),
    Case("workload-empty", lambda f: ["stats", "--workload", f["empty"]],
         lambda f: accelsim.load_workload(f["empty"]), WorkloadError, "empty.yaml: a workload must be a mapping"),
    Case("recipe-missing", lambda f: SIM + ["--recipe", f["missing"]],
         lambda f: accelsim.load_recipe(f["missing"]), ConfigError, "missing.yaml: recipe file not found"),
    Case("recipe-folder", lambda f: SIM + ["--recipe", f["folder"]],
         lambda f: accelsim.load_recipe(f["folder"]), ConfigError, "folder.yaml: is a directory"),
    Case("recipe-empty", lambda f: ["compress", "--workload", "lenet5", "--recipe", f["empty"]],
         lambda f: accelsim.load_recipe(f["empty"]), ConfigError, "empty.yaml: a recipe must be a mapping"),
    # bad recipe steps
    Case("recipe-unknown-step", lambda f: ["compress", "--workload", "lenet5", "--recipe", f["bad-op"]],
         lambda f: accelsim.load_recipe(f["bad-op"]), ConfigError, "pipeline[0]: unknown step 'op'"),
    Case("recipe-unknown-parameter", lambda f: SIM + ["--recipe", f["bad-step"]],
         lambda f: accelsim.load_recipe(f["bad-step"]), ConfigError, "pipeline[0].prune.amount: unknown parameter"),
    # sweep specs: bad keys, bad axes, missing / empty / folder, untrusted evaluate
    Case("spec-unknown-key", lambda f: ["sweep", f["bad-key"], "--out", f["bad-key"].parent / "o1"],
         lambda f: _sweep(f["bad-key"]), SweepError, "bogus: unknown key"),
    Case("spec-empty-axis", lambda f: ["sweep", f["bad-axis"], "--out", f["bad-axis"].parent / "o2"],
         lambda f: _sweep(f["bad-axis"]), SweepError, "grid.recipe must be a non-empty list"),
    Case("spec-missing", lambda f: ["sweep", f["missing"], "--out", f["missing"].parent / "o3"],
         lambda f: _sweep(f["missing"]), SweepError, "missing.yaml: file not found"),
    Case("spec-empty", lambda f: ["report", f["empty"], "--out", f["empty"].parent / "o4"],
         lambda f: _sweep(f["empty"]), SweepError, "empty.yaml: a sweep spec must be a mapping"),
    Case("spec-folder", lambda f: ["sweep", f["folder"], "--out", f["folder"].parent / "o5"],
         lambda f: _sweep(f["folder"]), SweepError, "folder.yaml: is a directory"),
    Case("spec-untrusted-evaluate", lambda f: ["sweep", f["untrusted"], "--out", f["untrusted"].parent / "o6"],
         lambda f: _sweep(f["untrusted"]), SweepError, "evaluate: os:system is outside accelsim"),
]

# bad types through the API only (the CLI parses its arguments into strings / ints first)
API_ONLY = [
    ("batch-string", lambda: accelsim.simulate("edge-32x32", "lenet5", batch="2"), ConfigError, "batch must be an int >= 1; got '2'"),
    ("batch-bool", lambda: accelsim.simulate("edge-32x32", "lenet5", batch=True), ConfigError, "got True"),
    ("seed-string", lambda: accelsim.simulate("edge-32x32", "lenet5", recipe="magnitude-8", seed="x"), ConfigError,
     "seed must be an int >= 0; got 'x'"),
    ("seed-over-32-bits-phase", lambda: __import__("accelsim.dse.serving", fromlist=["x"]).simulate_phase(
        "edge-32x32", "gpt2", "decode", context=8, seed=2**32), ConfigError, "seed must be <= 4294967295"),
    ("recipe-int", lambda: accelsim.load_recipe(42), ConfigError, "got int"),
    ("workload-int", lambda: accelsim.load_workload(42), WorkloadError, "got int"),
    ("spec-evaluate-not-a-string", lambda: accelsim.sweep({"evaluate": 3, "grid": {"x": [1]}}, progress=False), SweepError,
     "evaluate must be 'package.module:function' or a mapping with data"),
]


def test_one_seed_limit_everywhere():
    """simulate, the sweep evaluator and --seed take the limit a recipe's seed field declares (2^32 - 1)."""
    import dataclasses

    from accelsim.compress.recipe import RecipeFields
    from accelsim.dse import evaluate
    from accelsim.simulate import MAX_SEED

    declared = {f.name: f.metadata for f in dataclasses.fields(RecipeFields)}["seed"]["le"]
    assert MAX_SEED == evaluate.MAX_SEED == declared == 2**32 - 1
    assert accelsim.simulate("edge-32x32", "lenet5", recipe="magnitude-8", seed=MAX_SEED).total["latency_s"] > 0


def test_the_table_is_representative():
    assert len(CASES) >= 19 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_and_api_agree(case, tmp_path, capsys):
    files = _files(tmp_path)
    code = main([str(a) for a in case.cli(files)])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.err.count("\n") == 1 and captured.err.startswith("accelsim: error: "), captured.err
    assert case.text in captured.err
    with pytest.raises(AccelsimError) as info:
        case.api(files)
    assert isinstance(info.value, case.error), type(info.value)
    assert case.text in str(info.value)
    assert str(info.value).splitlines()[0] in captured.err  # the CLI prints the API's message


@pytest.mark.parametrize("call, error, text", [c[1:] for c in API_ONLY], ids=[c[0] for c in API_ONLY])
def test_api_bad_types(call, error, text):
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)


def test_untrusted_evaluate_is_refused_before_import(tmp_path, monkeypatch):
    """The gate runs before the module is imported (importing runs its code)."""
    import sys

    (tmp_path / "evil_canary.py").write_text("import os\nos.environ['ACCELSIM_CANARY'] = 'ran'\ndef f(s):\n    return {'v': 1}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("ACCELSIM_CANARY", raising=False)
    spec = {"evaluate": "evil_canary:f", "grid": {"x": [1]}}
    with pytest.raises(SweepError, match="evil_canary:f is outside accelsim.*--allow-code"):
        accelsim.sweep(spec, progress=False)
    assert "evil_canary" not in sys.modules and "ACCELSIM_CANARY" not in __import__("os").environ
    df = accelsim.sweep(spec, progress=False, allow_code=True)
    assert list(df["v"]) == [1] and __import__("os").environ["ACCELSIM_CANARY"] == "ran"
    sys.modules.pop("evil_canary", None)


def test_accelsim_evaluators_need_no_flag():
    df = accelsim.sweep({"evaluate": "accelsim.dse.evaluate:SimulateEvaluator",
                         "base": {"workload": "lenet5", "arch": "edge-32x32"}, "grid": {"recipe": ["int8"]}}, progress=False)
    assert list(df["status"]) == ["ok"]


@pytest.mark.parametrize("bad", [".relative:f", "accelsim:", ":f", "accelsim.dse:a.b"])
def test_malformed_evaluate_names(bad):
    with pytest.raises(SweepError, match="evaluate must be 'package.module:function'"):
        accelsim.sweep({"evaluate": bad, "grid": {"x": [1]}}, progress=False, allow_code=True)


def test_api_overrides_take_what_set_takes_and_refuse_conflicts(capsys):
    """The API's overrides agree with --set: the arch. prefix of a sweep key is taken; a list item that is not a
    string, and two keys setting the same field (whose result would depend on their order), are one-line errors."""
    assert accelsim.load_arch("edge-32x32", {"arch.array.rows": 16}).array.rows == 16
    assert accelsim.load_arch("edge-32x32", ["arch.array.rows=16"]).array.rows == 16
    for overrides, text in [([5], "each item of a list must be a 'key=value' string such as 'array.rows=64'; got 5"),
                            ({5: 1}, "a key must be a dotted field path such as 'array.rows'; got 5"),
                            ({"array": {"rows": 16}, "array.rows": 8},
                             "'array' and 'array.rows' both set array.rows; give it once"),
                            ({"array.rows": 8, "arch.array.rows": 16},
                             "array.rows given twice (as 'array.rows' and 'arch.array.rows'); give it once")]:
        with pytest.raises(ConfigError) as info:
            accelsim.load_arch("edge-32x32", overrides)
        assert str(info.value).startswith("overrides") and str(info.value).endswith(text), str(info.value)
    assert main(["show", "arch", "edge-32x32", "--set", "array.rows=8", "--set", "arch.array.rows=16"]) == 2
    assert capsys.readouterr().err == ("accelsim: error: overrides (--set): array.rows given twice (as 'array.rows' and "
                                       "'arch.array.rows'); give it once\n")
