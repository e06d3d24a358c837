"""Every text input (arch YAML, SCALE-Sim .cfg, workload YAML, SCALE-Sim .csv, recipe, sweep spec,
technology table) follows the same reading rules: UTF-8 with an optional BOM, CRLF accepted, other
bytes refused naming the byte offset; in YAML a key given twice and an alias bomb are refused.
Each refusal is one line, as a typed AccelsimError through the API and exit 2 through the CLI."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from accelsim.cli import main
from accelsim.compress.recipe import load_recipe
from accelsim.config import (MAX_YAML_ALIASES, NumberLoader, load_yaml_text, parse_override, read_yaml_file,
                             to_dict)
from accelsim.dse.space import read_spec
from accelsim.energy.tables import load_tech
from accelsim.errors import ConfigError, SweepError, WorkloadError
from accelsim.hw.registry import load_arch
from accelsim.workload.zoo import load_workload

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = "lenet-300-100"


def _arch_summary(path):
    return {k: v for k, v in to_dict(load_arch(path)).items() if k not in ("source", "description")}


def _graph_summary(path):
    graph = load_workload(path)
    return [(layer.name, type(layer).__name__, getattr(layer, "macs", None)) for layer in graph.compute_layers()]


def _tech_summary(path):
    table = load_tech(path)
    return table.name, table.node_nm, dict(table.op_energy), dict(table.dram)


# kind -> (bundled source, API reader returning something comparable, error class, CLI argv for a path)
KINDS = {
    "arch": ("arch_configs/systolic/edge-32x32.yaml", _arch_summary, ConfigError,
             lambda p, tmp: ["simulate", "--arch", p, "--workload", WORKLOAD]),
    "cfg": ("tests/data/scalesim/inputs/rnd_06.cfg", _arch_summary, ConfigError,
            lambda p, tmp: ["simulate", "--arch", p, "--workload", WORKLOAD]),
    "workload": (f"workloads/{WORKLOAD}.yaml", _graph_summary, WorkloadError,
                 lambda p, tmp: ["stats", "--workload", p]),
    "csv": ("workloads/scalesim/resnet18.csv", _graph_summary, WorkloadError,
            lambda p, tmp: ["stats", "--workload", p]),
    "recipe": ("workloads/recipes/magnitude-8.yaml", lambda p: [(s.op, s.params) for s in load_recipe(p).pipeline],
               ConfigError, lambda p, tmp: ["compress", "--workload", WORKLOAD, "--recipe", p]),
    "spec": ("examples/sweep-quick.yaml", read_spec, SweepError,
             lambda p, tmp: ["sweep", p, "--out", str(tmp / "run")]),
    "tech": ("arch_configs/tech/45nm.yaml", _tech_summary, ConfigError,
             lambda p, tmp: ["simulate", "--arch", "edge-32x32", "--set", f"tech={p}", "--workload", WORKLOAD]),
}
YAML_KINDS = ["arch", "workload", "recipe", "spec", "tech"]

BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def _write(tmp_path: Path, kind: str, data: bytes) -> str:
    path = tmp_path / f"input{Path(KINDS[kind][0]).suffix}"
    path.write_bytes(data)
    return str(path)


def _source(kind: str) -> bytes:
    return (ROOT / KINDS[kind][0]).read_bytes()


def _refused(kind: str, path: str, tmp_path: Path, capsys, pattern: str) -> None:
    """The API raises the kind's error with one line matching ``pattern``; the CLI exits 2 with one line."""
    _, reader, error, argv = KINDS[kind]
    start = time.perf_counter()
    with pytest.raises(error) as info:
        reader(path)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "\n" not in message and re.search(pattern, message), message
    assert message.startswith(path)
    capsys.readouterr()
    assert main(argv(path, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("accelsim: error: ") and re.search(pattern, err), err


@pytest.mark.parametrize("kind", list(KINDS))
def test_bom_and_crlf_read_like_the_plain_file(kind, tmp_path):
    reader = KINDS[kind][1]
    plain = reader(_write(tmp_path, kind, _source(kind)))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert reader(_write(tmp_path / "a", kind, b"\xef\xbb\xbf" + _source(kind))) == plain
    assert reader(_write(tmp_path / "b", kind, _source(kind).replace(b"\n", b"\r\n"))) == plain


@pytest.mark.parametrize("kind", list(KINDS))
def test_non_utf8_byte_names_the_offset(kind, tmp_path, capsys):
    data = _source(kind)
    path = _write(tmp_path, kind, data + b"# caf\xe9\n")
    _refused(kind, path, tmp_path, capsys, rf": not UTF-8 text \(byte 0xe9 at offset {len(data) + 5}\)$")


@pytest.mark.parametrize("kind", YAML_KINDS)
def test_duplicate_top_level_key(kind, tmp_path, capsys):
    text = _source(kind).decode()
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if re.match(r"^[A-Za-z_]\w*:", line))
    key = lines[first].split(":")[0]
    path = _write(tmp_path, kind, (text + lines[first] + "\n").encode())
    _refused(kind, path, tmp_path, capsys,
             rf": duplicate key '{key}' at line {len(lines) + 1} \(first at line {first + 1}\)$")


@pytest.mark.parametrize("kind", YAML_KINDS)
def test_alias_bomb_refused(kind, tmp_path, capsys):
    path = _write(tmp_path, kind, BOMB.encode())
    _refused(kind, path, tmp_path, capsys, r": aliases expand to more than 1,000,000 nodes .*alias bomb$")


def test_duplicate_clock_hz_is_not_last_wins(tmp_path, capsys):
    text = "name: x\nfamily: systolic\nclock_hz: 500000000\narray: {rows: 8, cols: 8}\nclock_hz: 1000000\n"
    path = str(tmp_path / "arch.yaml")
    Path(path).write_text(text)
    _refused("arch", path, tmp_path, capsys, r": duplicate key 'clock_hz' at line 5 \(first at line 3\)$")


def test_two_grid_blocks_in_a_sweep_space(tmp_path, capsys):
    text = ("name: s\nbase: {workload: lenet-300-100, arch: edge-32x32}\nspaces:\n  - grid:\n"
            "      arch.array.rows: [8, 16]\n    grid:\n      batch: [1, 2]\n")
    path = str(tmp_path / "spec.yaml")
    Path(path).write_text(text)
    _refused("spec", path, tmp_path, capsys, r": duplicate key 'grid' at line 6 \(first at line 4\)$")


def test_nested_and_flow_duplicates(tmp_path):
    with pytest.raises(ConfigError, match=r"^f.yaml: duplicate key 'c' at line 4 \(first at line 3\)$"):
        load_yaml_text("a: 1\nb:\n  c: 2\n  c: 3\n", "f.yaml")
    with pytest.raises(ConfigError, match=r"duplicate key 'x' at line 1, column 14 \(first at column 2\)$"):
        load_yaml_text("{x: 1, y: 2, x: 3}", "f.yaml")
    with pytest.raises(ConfigError, match=r"duplicate key True at line 2 \(first at line 1\)$"):
        load_yaml_text("True: 1\ntrue: 2\n", "f.yaml")  # both keys are the boolean true
    assert load_yaml_text("yes: 1\ntrue: 2\n", "f.yaml") == {"yes": 1, True: 2}  # YAML 1.2: 'yes' is a string
    with pytest.raises(ConfigError, match=r"duplicate key 'x' at line 3"):
        load_yaml_text("x: 1\ny: 2\nx: 3\n", "t.yaml", loader=NumberLoader)


def test_merge_keys_still_override():
    data = load_yaml_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 5\n")
    assert data["d"] == {"x": 5, "y": 2}


def test_alias_limits():
    refs = ", ".join(["*a"] * (MAX_YAML_ALIASES + 1))
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^s: more than 10,000 aliases; refused$"):
        load_yaml_text(f"a: &a 1\nb: [{refs}]\n", "s")
    assert time.perf_counter() - start < 1.0
    assert load_yaml_text("a: &a [1, 2]\nb: [*a, *a]\n") == {"a": [1, 2], "b": [[1, 2], [1, 2]]}
    with pytest.raises(ConfigError, match=r"^s: alias at line 1 refers to a node that contains it$"):
        load_yaml_text("a: &a [1, *a]\n", "s")


def test_malformed_yaml_is_one_line():
    with pytest.raises(ConfigError, match=r"^s: malformed YAML at line 2, column 2: did not find expected"):
        load_yaml_text("a: [1\nb: 2\n", "s")
    with pytest.raises(ConfigError, match=r"^s: malformed YAML: control characters are not allowed$"):
        load_yaml_text("a: \x00\n", "s")


def test_set_values_follow_the_yaml_rules():
    assert parse_override("pe.bits=4") == ("pe.bits", 4)
    assert parse_override("a={x: 1") == ("a", "{x: 1")  # not YAML: kept as text, as before
    with pytest.raises(ConfigError, match=r"^--set 'a=\{x: 1, x: 2\}': duplicate key 'x'"):
        parse_override("a={x: 1, x: 2}")


def test_cfg_values_are_raw_and_duplicates_refused(tmp_path, capsys):
    text = _source("cfg").decode().replace("run_name = rnd_06", "run_name = 50%_util %(x)s")
    path = _write(tmp_path, "cfg", text.encode())
    assert load_arch(path).run_name == "50%_util %(x)s"
    dup = _source("cfg").decode().replace("ArrayWidth:     9\n", "ArrayWidth:     9\nArrayHeight: 16\n")
    (tmp_path / "d").mkdir()
    path = _write(tmp_path / "d", "cfg", dup.encode())
    _refused("cfg", path, tmp_path, capsys, r": malformed SCALE-Sim .cfg: .*'arrayheight'.* already exists$")


def _bundled_yaml():
    return sorted(p for d in ("arch_configs", "workloads", "examples") for p in (ROOT / d).rglob("*.y*ml"))


@pytest.mark.parametrize("path", _bundled_yaml(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_bundled_yaml_loads_without_duplicates(path):
    loader = NumberLoader if path.parent.name == "tech" else None
    data = read_yaml_file(path, loader=loader) if loader else read_yaml_file(path)
    assert isinstance(data, dict) and data


def test_zoo_yaml_loads_fast():
    path = ROOT / "workloads" / "resnet50.yaml"
    best = min(_timed(read_yaml_file, path) for _ in range(3))
    assert best < 0.05, best


def _timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


YAML12_NUMBERS = {"010": 10, "-010": -10, "0o10": 8, "0x1f": 31, "1_000": 1000, "1e3": 1000.0, "1.5": 1.5,
                  ".5": 0.5, "2E6": 2e6, "0": 0, "1:04": "1:04", "1:30:00": "1:30:00", "0b101": "0b101",
                  "1:30.5": "1:30.5", "'010'": "010"}


@pytest.mark.parametrize("text", list(YAML12_NUMBERS))
def test_numbers_follow_yaml_1_2_everywhere(text):
    """Zero-padded numbers are decimal and colon numbers strings (YAML 1.1 reads 010 as 8 and 1:04 as 64)
    in files and --set values alike."""
    want = YAML12_NUMBERS[text]
    for loader in (None, NumberLoader):
        got = load_yaml_text(f"v: {text}\n", loader=loader) if loader else load_yaml_text(f"v: {text}\n")
        assert got["v"] == want and type(got["v"]) is type(want), (text, got)
    assert parse_override(f"x={text}") == ("x", want)


def test_zero_padded_and_colon_numbers_in_each_input(tmp_path, capsys):
    assert load_arch("edge-32x32", ["array.rows=010"]).array.rows == 10
    with pytest.raises(ConfigError, match=r"override array.rows=1:04: array.rows must be an int .*; got '1:04'$"):
        load_arch("edge-32x32", ["array.rows=1:04"])
    arch = tmp_path / "a.yaml"
    arch.write_text(_source("arch").decode().replace("clock_hz: ", "clock_hz: 1:30:00 #"))
    _refused("arch", str(arch), tmp_path, capsys, r"clock_hz must be a number .*; got '1:30:00'$")
    spec = tmp_path / "s.yaml"
    spec.write_text("base: {arch: edge-32x32, workload: lenet5}\ngrid: {arch.array.rows: [016, 032, 064]}\n")
    assert read_spec(spec)["grid"] == {"arch.array.rows": [16, 32, 64]}
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\npipeline:\n  - quantize: {bits: 010}\n")
    assert load_recipe(recipe).pipeline[0].params["bits"] == 10


def test_many_nodes_without_aliases_are_refused_as_such_and_fast(tmp_path, capsys):
    """A document of more than MAX_YAML_NODES nodes and no alias is refused for its size, from the parser's
    events before it is built (a 10^6-layer workload was refused after ~1 min as an 'alias bomb')."""
    text = "name: m\ninputs: {data: [8]}\nlayers:\n" + "".join(f"  - {{name: l{i}, op: relu}}\n" for i in range(250_000))
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_yaml_text(text, "s")
    assert time.perf_counter() - start < 10
    assert re.fullmatch(r"s: more than 1,000,000 YAML nodes \(keys, values, lists and mappings; the limit is passed "
                        r"at line \d+\); refused", str(info.value)), str(info.value)
    path = tmp_path / "w.yaml"
    path.write_text(text)
    assert main(["stats", "--workload", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than 1,000,000 YAML nodes" in err and "alias bomb" not in err, err


@pytest.mark.parametrize("old, new, expected", [
    ("ArrayHeight:    8", "ArrayHeight:    0",
     r"\[architecture_presets\] ArrayHeight \(array\.rows\) must be an int in \[1, 65536\]; got 0"),
    ("IfmapSRAMBankBandwidth: 5", "IfmapSRAMBankBandwidth: -5",
     r"\[layout\] IfmapSRAMBankBandwidth \(dram\.ifmap_bw\) must be an int in \[1, \d+\]; got -5"),
    ("Dataflow : ws", "Dataflow : xs", r"\[architecture_presets\] Dataflow \(array\.dataflow\) must be one of"),
    ("[layout]\n", "[xlayout]\n", None),  # a SCALE-Sim 2 file's Bandwidth feeds the ifmap and filter interfaces
])
def test_cfg_range_errors_name_the_cfg_key(tmp_path, old, new, expected):
    """A value the config validation refuses is named as the .cfg spells it, the mapped field after it; a value an
    override gave keeps the field's own name."""
    text = _source("cfg").decode()
    if expected is None:  # drop the [layout] section: v2 semantics, then a bad Bandwidth
        text = text.split("[layout]\n")[0] + "[run_presets]\n" + text.split("[run_presets]\n")[1]
        text = text.replace("Bandwidth : 2", "Bandwidth : 0")
        expected = (r"\[architecture_presets\] Bandwidth \(dram\.ifmap_bw\) must be an int .*; got 0; "
                    r"\[architecture_presets\] Bandwidth \(dram\.filter_bw\) must be")
    else:
        assert old in text
        text = text.replace(old, new)
    path = _write(tmp_path, "cfg", text.encode())
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: {expected}") as info:
        load_arch(path)
    assert all("(" in problem for problem in info.value.problems)
    with pytest.raises(ConfigError, match=r"with override array\.rows=-1: array\.rows must be an int") as info:
        load_arch(path, ["array.rows=-1"])
    assert "ArrayHeight" not in str(info.value)
