"""``accelsim show``, ``accelsim list --format json`` and the 'did you mean' suggestions of the CLI."""

import json
import subprocess
import sys

import pytest
import yaml

from accelsim.errors import UnknownNameError, close_names


def test_show_arch_yaml_has_the_overridden_config_and_the_declared_keys(run_cli):
    code, out, err = run_cli("show", "arch", "edge-32x32", "--set", "array.rows=64")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert (doc["arch"], doc["family"]) == ("edge-32x32", "systolic")
    assert doc["config"]["array"]["rows"] == 64 and doc["config"]["array"]["cols"] == 32
    assert doc["path"].endswith("edge-32x32.yaml")
    rows = doc["keys"]["array.rows"]
    assert rows["type"] == "int" and rows["unit"] == "PEs" and rows["range"] == "[1, 65536]" and rows["doc"]
    assert doc["keys"]["name"]["required"] is True
    assert doc["keys"]["array.dataflow"]["choices"] == ["os", "ws", "is"]


@pytest.mark.parametrize("arch", ["h100-sxm", "eie", "tpu-v1"])
def test_show_arch_json_lists_every_declared_key_of_its_family(run_cli, arch):
    from accelsim.config import field_paths
    from accelsim.hw.registry import family, load_arch

    code, out, err = run_cli("show", "arch", arch, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    config = load_arch(arch)
    assert list(doc["keys"]) == field_paths(family(config.family).config_cls)
    assert doc["config"]["name"] == arch and doc["family"] == config.family


def test_show_recipe_fills_defaults_and_declares_each_step(run_cli):
    from accelsim.compress.recipe import OPS

    code, out, err = run_cli("show", "recipe", "deep-compression-alexnet")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["recipe"] == "deep-compression-alexnet" and doc["description"]
    assert [s["step"] for s in doc["steps"]] == ["prune", "share", "encode", "huffman"]
    for step in doc["steps"]:
        assert set(step["params"]) == set(step["keys"]) == {f for f in OPS[step["step"]].__dataclass_fields__}
    share = next(s for s in doc["steps"] if s["step"] == "share")
    assert share["params"]["max_iter"] == 100  # not in the file: the default
    assert share["keys"]["bits"]["required"] is True
    assert doc["overrides"]  # the paper's per-layer values


def test_show_workload_summary_and_inputs(run_cli):
    code, out, err = run_cli("show", "workload", "lenet-300-100", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["macs"] == 784 * 300 + 300 * 100 + 100 * 10
    assert doc["params"] == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
    assert doc["ops"]["linear"] == 3 and doc["layers"] == sum(doc["ops"].values())
    (shape,) = doc["inputs"].values()
    assert shape == [784]
    code, out, _ = run_cli("show", "workload", "resnet18")
    assert code == 0 and yaml.safe_load(out)["inputs"] == {"data": [3, 224, 224]}


@pytest.mark.parametrize("what", ["archs", "workloads", "recipes"])
def test_list_json_matches_the_text_listing(run_cli, what):
    code, text, _ = run_cli("list", what)
    assert code == 0
    code, out, err = run_cli("list", what, "--format", "json")
    assert code == 0, err
    entries = json.loads(out)
    assert [e["name"] for e in entries] == text.split()
    assert all(e["path"].endswith(".yaml") for e in entries)
    if what == "archs":
        assert {e["family"] for e in entries} >= {"systolic", "gpu", "eie"}
    if what == "recipes":
        assert all(isinstance(e["description"], str) for e in entries)
        assert next(e for e in entries if e["name"] == "2of4-int8")["description"]


def test_list_json_stays_light():
    probe = ("import contextlib, io, sys\nfrom accelsim.cli import main\n"
             "for what in ('archs', 'workloads', 'recipes'):\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             "        assert main(['list', what, '--format', 'json']) == 0\n"
             "print([m for m in ('numba', 'scipy.optimize', 'networkx', 'pandas', 'matplotlib') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("argv, expected", [
    (["simulat"], "invalid choice: 'simulat'"),
    (["show", "archs", "x"], "invalid choice: 'archs'"),
    (["list", "archs", "--format", "jsn"], "invalid choice: 'jsn'"),
    (["show", "arch", "edge-32x32", "--format", "yml"], "invalid choice: 'yml'"),
])
def test_mistyped_choice_suggests_the_nearest(run_cli, argv, expected):
    code, out, err = run_cli(*argv)
    assert code == 2 and out == "" and err.count("\n") == 1
    nearest = {"simulat": "simulate", "archs": "arch", "jsn": "json", "yml": "yaml"}[expected.split("'")[1]]
    assert expected in err and err.rstrip().endswith(f"did you mean {nearest}?")


@pytest.mark.parametrize("argv, suggestion", [
    (["show", "arch", "H100-SXM"], "unknown arch 'H100-SXM'; did you mean h100-sxm?"),
    (["simulate", "--arch", "a100", "--workload", "lenet5"], "unknown arch 'a100'; did you mean a100-40gb, a100-80gb"),
    (["show", "workload", "ResNet"], "unknown workload 'ResNet'; did you mean resnet18, resnet50"),
    (["show", "recipe", "Int8"], "unknown recipe 'Int8'; did you mean int8"),
    (["show", "arch", "edge-32x32", "--set", "array.rowz=3"], "array.rowz: unknown key; did you mean rows?"),
])
def test_bad_names_exit_2_with_one_line_and_suggestions(run_cli, argv, suggestion):
    code, out, err = run_cli(*argv)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("accelsim: error: ") and suggestion in err


def test_set_is_refused_outside_show_arch(run_cli):
    code, out, err = run_cli("show", "workload", "lenet5", "--set", "a=1")
    assert code == 2 and out == "" and "--set applies to 'show arch' only" in err


def test_close_names_order_case_then_prefix_then_difflib():
    known = ["a100-40gb", "a100-80gb", "h100-sxm", "v100", "edge-32x32"]
    assert close_names("H100-SXM", known) == ["h100-sxm"]
    assert close_names("a100", known)[:2] == ["a100-40gb", "a100-80gb"]
    assert close_names("edge-32x23", known) == ["edge-32x32"]
    assert close_names("", known) == []  # an empty name is no prefix of everything
    assert close_names("zzzzzz", known) == []
    assert str(UnknownNameError("arch", "zzzzzz", known)).startswith("unknown arch 'zzzzzz'; known: a100-40gb")
