"""``accelsim simulate`` output: a one-screen summary by default, ``--layers all|compute|top:N``, notes as
footnotes, and json / csv exactly as ``to_json`` / ``to_csv`` write them."""

import re

import pytest

import accelsim
from accelsim.report.export import parse_layers, result_table, to_csv, to_json

# the README's first run, on resnet18 to stay fast (resnet50 takes > 5 s here)
README_RUN = ["simulate", "--arch", "edge-32x32-2of4", "--workload", "resnet18", "--recipe", "2of4-int8"]
ROW = re.compile(r"^\s*\d+\s{2}")  # a layer row starts with its rank / position


@pytest.fixture(scope="module")
def resnet18():
    return accelsim.simulate("edge-32x32-2of4", "resnet18", recipe="2of4-int8")


def _rows(text):
    """The layer rows of a table: the lines after the dash rule that start with a number."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if re.match(r"^-+  -", line))
    rows = []
    for line in lines[rule + 1:]:
        if not ROW.match(line):
            break
        rows.append(line)
    return rows


def test_readme_run_fits_one_screen_and_says_where_the_time_goes(run_cli, resnet18):
    code, out, err = run_cli(*README_RUN)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) < 40, out
    assert max(map(len, lines)) < 120, out
    assert lines[0] == "arch edge-32x32-2of4 (systolic), workload resnet18, recipe 2of4-int8, batch 1"
    for label in ("latency", "energy", "cycles", "DRAM read", "utilization", "weight storage"):
        assert any(line.startswith(label) for line in lines), label
    assert "speedup_vs_dense: " in out and "energy_saving_vs_dense: " in out and "dense baseline" in out
    rows = _rows(out)
    assert len(rows) == 10
    slowest = max(resnet18.layers, key=lambda r: r.latency_s)
    assert rows[0].split()[1] == slowest.name
    share = 100 * slowest.latency_s / resnet18.total["latency_s"]
    assert f"{share:.1f}%" in rows[0].split()
    # the zero-cost layers are counted once, their note a footnote, never a padded column
    unmapped = [r for r in resnet18.layers if r.extra.get("mapped") is False]
    assert unmapped
    assert f"{len(unmapped)} of {len(resnet18.layers)} layers not run on the hardware" in out
    note = unmapped[0].extra["note"]
    assert sum(note in line for line in lines) == 1
    assert any(line.startswith("[1] ") and note in line for line in lines)


def test_layers_all_lists_every_layer(resnet18):
    text = result_table(resnet18, layers="all")
    rows = _rows(text)
    assert [row.split()[1] for row in rows] == [r.name for r in resnet18.layers]
    # notes are footnote markers on the rows, listed once below
    unmapped_rows = [row for row, r in zip(rows, resnet18.layers) if r.extra.get("mapped") is False]
    assert unmapped_rows and all(row.endswith("[1]") for row in unmapped_rows)
    assert max(map(len, text.splitlines())) < 120


def test_layers_compute_drops_zero_rows(resnet18):
    rows = _rows(result_table(resnet18, layers="compute"))
    expected = [r.name for r in resnet18.layers if r.cycles > 0 or r.macs > 0]
    assert 0 < len(expected) < len(resnet18.layers)
    assert [row.split()[1] for row in rows] == expected


def test_layers_top_n_are_the_slowest(resnet18):
    rows = _rows(result_table(resnet18, layers="top:3"))
    slowest = sorted(resnet18.layers, key=lambda r: r.latency_s, reverse=True)[:3]
    assert [row.split()[1] for row in rows] == [r.name for r in slowest]


def test_layers_flag_on_the_cli(run_cli):
    code, out, err = run_cli("simulate", "--arch", "titan-x-maxwell", "--workload", "lenet-300-100",
                             "--layers", "all")
    assert code == 0, err
    rows = _rows(out)
    assert [row.split()[1] for row in rows] == ["fc1", "relu1", "fc2", "relu2", "fc3", "prob"]
    # the GPU model's own bound is the bound column; its string extras are footnotes
    assert all(row.split()[-2] == "latency" and re.search(r"\[\d\]$", row) for row in rows)
    assert any(line.startswith("[1] kernel=gemv_fp32 dtype=fp32") for line in out.splitlines())  # + GPU stack extras
    code, out, _ = run_cli("simulate", "--arch", "titan-x-maxwell", "--workload", "lenet-300-100", "--layers", "top:2")
    assert code == 0 and [row.split()[1] for row in _rows(out)] == ["fc1", "fc2"]


@pytest.mark.parametrize("value", ["top:0", "top:-1", "top:", "top:x", "first", "ALL", ""])
def test_bad_layers_value_is_one_line_exit_2(value, run_cli):
    code, out, err = run_cli(*README_RUN, "--layers", value)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("accelsim simulate: error: argument --layers:") and repr(value) in err


def test_parse_layers():
    assert parse_layers("all") == ("all", None)
    assert parse_layers("compute") == ("compute", None)
    assert parse_layers("top:12") == ("top", 12)
    with pytest.raises(ValueError, match="expected all, compute or top:N"):
        parse_layers("top:0")


@pytest.mark.parametrize("fmt,writer", [("json", to_json), ("csv", to_csv)])
def test_json_and_csv_are_the_writers_output(fmt, writer, run_cli):
    argv = ["simulate", "--arch", "edge-32x32-2of4", "--workload", "lenet-300-100", "--recipe", "2of4-int8"]
    code, out, err = run_cli(*argv, "--format", fmt, "--layers", "top:1")  # --layers does not cut them
    assert code == 0, err
    ref = writer(accelsim.simulate("edge-32x32-2of4", "lenet-300-100", recipe="2of4-int8",
                                   command="accelsim " + " ".join([*argv, "--format", fmt, "--layers", "top:1"])))
    assert out == (ref if ref.endswith("\n") else ref + "\n")
