"""``--strict`` and the importer's notes on the command line (issue 12 items 2 and 6)."""

from __future__ import annotations

import json
from pathlib import Path

MODEL = Path(__file__).parent / "data" / "onnx" / "bert-tiny-masked-optimized.onnx"  # has one ReduceSum


def test_stats_lists_what_was_approximated(run_cli):
    code, out, _ = run_cli("stats", "--workload", MODEL)
    assert code == 0
    assert "note: ops without an accelsim layer type imported as generic layers" in out and "ReduceSum x1" in out
    code, out, _ = run_cli("stats", "--workload", MODEL, "--format", "json")
    assert code == 0 and any("ReduceSum x1" in n for n in json.loads(out)["notes"])


def test_strict_refuses_generic_ops(run_cli):
    for cmd in (["stats"], ["simulate", "--arch", "edge-32x32"]):
        code, out, err = run_cli(*cmd, "--workload", MODEL, "--strict")
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and "unsupported op type 'ReduceSum'" in err


def test_strict_is_for_onnx_only(run_cli):
    code, _, err = run_cli("stats", "--workload", "lenet5", "--strict")
    assert code == 2 and "--strict applies to ONNX workloads" in err
