"""Sweep specs in an architect's language (issue 18 item 6): one DRAM bandwidth knob split across the
systolic per-stream keys by the documented policy (accelsim.hw.knobs), several named zips, and the
same dotted keys in --set and specs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import accelsim
from accelsim.cli import main
from accelsim.dse.knobs import expand_cli_sets, expand_overrides, expand_setting, split_bandwidth
from accelsim.dse.space import space_from_spec
from accelsim.errors import AccelsimError, ConfigError, SweepError


def test_split_policy_is_proportional_rounded_and_at_least_one():
    assert split_bandwidth(30, [10, 10, 10]) == [10, 10, 10]
    assert split_bandwidth(51.2, [10, 10, 10]) == [17, 17, 17]
    assert split_bandwidth(40, [16, 16, 48]) == [8, 8, 24]  # the arch's own ratio is kept
    assert split_bandwidth(0.3, [1, 1, 1]) == [1, 1, 1]


def test_gbps_knob_uses_the_points_clock_and_word_size():
    # edge-32x32: 500 MHz, 1-byte words: 25.6 GB/s = 51.2 words/cycle = 17 per stream
    out = expand_overrides("edge-32x32", {"dram.bandwidth_gbps": 25.6})
    assert out == {"dram.bandwidth_mode": "USER", "dram.ifmap_bw": 17, "dram.filter_bw": 17, "dram.ofmap_bw": 17}
    # at twice the clock the same GB/s is half the words per cycle
    fast = expand_overrides("edge-32x32", {"dram.bandwidth_gbps": 25.6, "clock_hz": 1e9})
    assert fast["dram.ifmap_bw"] == 9 and fast["clock_hz"] == 1e9
    assert expand_overrides("edge-32x32", {"dram.bandwidth": 60})["dram.ofmap_bw"] == 20
    assert expand_overrides("edge-32x32", {"array.rows": 8}) == {"array.rows": 8}  # no knob: unchanged


@pytest.mark.parametrize("overrides, message", [
    ({"dram.bandwidth_gbps": 10, "dram.ifmap_bw": 4}, "cannot be combined with dram.ifmap_bw"),
    ({"dram.bandwidth_gbps": 10, "dram.bandwidth": 4}, "give one of"),
    ({"dram.bandwidth_gbps": 0}, "must be a positive finite number"),
    ({"dram.bandwidth_gbps": "fast"}, "must be a positive finite number"),
    # below 1 word/cycle per stream (the model's least): refused, not rounded up to 1.5 GB/s
    ({"dram.bandwidth_gbps": 1e-30}, r"dram.bandwidth_gbps must be at least 1.5 GB/s on this arch .*; got 1e-30$"),
    ({"dram.bandwidth": 2}, r"dram.bandwidth must be at least 3 words/cycle on this arch"),
])
def test_knob_misuse_is_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message):
        expand_overrides("edge-32x32", overrides)


def test_knob_on_a_family_without_streams_is_refused():
    with pytest.raises(ConfigError, match="applies to systolic archs.*'gpu'"):
        expand_setting({"arch": "a100-40gb", "arch.dram.bandwidth_gbps": 100})


def test_bandwidth_sweep_moves_every_stream(tmp_path):
    """The knob as a sweep axis: all three streams follow it (sweeping dram.ifmap_bw alone left the
    filter stream fixed); the table keeps the knob's column and the per-stream values that ran."""
    spec = {"base": {"arch": "edge-32x32", "workload": "lenet-300-100"},
            "grid": {"arch.dram.bandwidth_gbps": [3.2, 12.8, 51.2]}}
    df = accelsim.sweep(spec, store=str(tmp_path / "bw"), progress=False)
    assert (df["status"] == "ok").all()
    assert list(df["arch.dram.bandwidth_gbps"]) == [3.2, 12.8, 51.2]
    assert list(df["arch.dram.ifmap_bw"]) == [2, 9, 34] and list(df["arch.dram.filter_bw"]) == [2, 9, 34]
    assert list(df["arch.dram.bandwidth_mode"]) == ["USER"] * 3
    lat = list(df["latency_s"])
    assert lat[0] > lat[1] > lat[2]  # more bandwidth, less DRAM stall
    # the knob's point equals the same point written with the per-stream keys
    direct = accelsim.simulate("edge-32x32", "lenet-300-100", overrides={
        "dram.bandwidth_mode": "USER", "dram.ifmap_bw": 9, "dram.filter_bw": 9, "dram.ofmap_bw": 9})
    assert df["latency_s"].iloc[1] == direct.total["latency_s"]
    # resumable like any other axis: nothing runs again
    again = accelsim.sweep(spec, store=str(tmp_path / "bw"), resume=True, progress=False)
    pd.testing.assert_frame_equal(df, again)


def test_bad_knob_point_fails_before_anything_runs(tmp_path):
    spec = {"base": {"workload": "lenet-300-100"},
            "grid": {"arch": ["edge-32x32", "a100-40gb"], "arch.dram.bandwidth_gbps": [12.8]}}
    with pytest.raises(SweepError, match="applies to systolic archs"):
        accelsim.sweep(spec, store=str(tmp_path / "bad"), progress=False)
    assert not (tmp_path / "bad").exists()


def test_set_knob_on_the_command_line(capsys):
    assert expand_cli_sets("edge-32x32", ["array.rows=8"]) == ["array.rows=8"]
    assert main(["simulate", "--arch", "edge-32x32", "--workload", "lenet-300-100", "--set",
                 "arch.dram.bandwidth_gbps=12.8", "--format", "json"]) == 0
    dram = json.loads(capsys.readouterr().out)["arch"]["dram"]
    assert (dram["bandwidth_mode"], dram["ifmap_bw"], dram["filter_bw"], dram["ofmap_bw"]) == ("USER", 9, 9, 9)
    assert main(["show", "arch", "edge-32x32", "--set", "dram.bandwidth=3", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["dram"]["ifmap_bw"] == 1
    assert main(["simulate", "--arch", "h100-sxm", "--workload", "lenet-300-100", "--set",
                 "dram.bandwidth_gbps=100"]) == 2
    assert "applies to systolic archs" in capsys.readouterr().err


def test_several_named_zips_are_crossed():
    spec = {"base": {"workload": "lenet-300-100"},
            "zips": {"hw": {"arch": ["edge-32x32", "a100-40gb"], "tag.kind": ["systolic", "gpu"]},
                     "model": {"recipe": ["int8", "magnitude-8"], "tag.ratio": [1, 8]}},
            "grid": {"batch": [1, 4]}}
    settings = [p.setting for p in space_from_spec(spec).points()]
    assert len(settings) == 8
    pairs = {(s["arch"], s["tag.kind"], s["recipe"], s["tag.ratio"]) for s in settings}
    assert pairs == {(a, k, r, t) for a, k in (("edge-32x32", "systolic"), ("a100-40gb", "gpu"))
                     for r, t in (("int8", 1), ("magnitude-8", 8))}


@pytest.mark.parametrize("zips, message", [
    ({"hw": {"arch": ["edge-32x32", "a100-40gb"], "tag.kind": ["systolic"]}}, "zips.hw axes must have equal lengths"),
    ({"a": {"batch": [1, 2]}, "b": {"batch": [4, 8]}}, "zips.b.batch: axis also set in zips.a"),
    ({}, "zips must name at least one zip block"),
])
def test_named_zip_problems(zips, message):
    with pytest.raises(AccelsimError, match=message):
        space_from_spec({"base": {"workload": "lenet-300-100", "arch": "edge-32x32"}, "zips": zips})
