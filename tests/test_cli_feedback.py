"""Feedback on long work and runs that leave nothing behind (issue 18 items 2, 4 and 6's dotted keys).

- the cold-Numba-cache notice (accelsim.cli.feedback.kernels_cold on a fake package tree);
- the heartbeat of a long simulate and the plain progress line of a sweep when stderr is not a terminal;
- ``report --resume`` on a finished sweep runs no point; ``--resume`` re-runs points without the
  per-layer rows a ``detail: true`` spec needs;
- a sweep that fails before any point finished leaves no results.csv (nor a folder it created);
- point ids in the sweep's Pareto table; inline recipes shown by name (full spec in ``recipe_spec``);
- ``--set arch.array.rows=64`` (a sweep spec's key) accepted by simulate and show.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from accelsim.cli import feedback, main
from accelsim.runtime import KERNEL_FILES

sweep_mod = importlib.import_module("accelsim.dse.sweep")  # the module (accelsim.dse.sweep is also the function)

SPEC = """name: tiny
base: {workload: lenet-300-100, arch: edge-32x32, recipe: int8}
grid:
  arch.array.rows: [8, 16]
objectives: {latency_s: min, energy_j: min}
"""


def _spec(tmp_path: Path, detail: bool = False, extra: str = "") -> str:
    path = tmp_path / ("detail.yaml" if detail else "plain.yaml")
    path.write_text(SPEC + ("detail: true\n" if detail else "") + extra)
    return str(path)


# --- the compile notice ------------------------------------------------------------------------------

def _fake_package(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    for rel in {r for rels in KERNEL_FILES.values() for r in rels}:
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text("# kernels\n")
    monkeypatch.setattr(feedback, "PACKAGE", pkg)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    return pkg


def _index(module: Path, folder: Path | None = None) -> Path:
    folder = folder or module.parent / "__pycache__"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module.stem}.kernel-12.py311.nbi"
    path.write_bytes(b"x")
    return path


def test_kernels_cold_until_every_module_has_a_fresh_index(tmp_path, monkeypatch):
    pkg = _fake_package(tmp_path, monkeypatch)
    assert feedback.kernels_cold(["gpu"], compress=False)
    _index(pkg / "hw/gpu/_kernels.py")
    assert not feedback.kernels_cold(["gpu"], compress=False)
    assert feedback.kernels_cold(["gpu"], compress=True)  # the compression kernels are still cold
    assert feedback.kernels_cold(["systolic"], compress=False)
    # an index older than its source is stale: Numba recompiles
    idx = _index(pkg / "hw/eie/_kernels.py")
    old = time.time() - 100
    os.utime(idx, (old, old))
    assert feedback.kernels_cold(["eie"], compress=False)
    # $NUMBA_CACHE_DIR holds the index in <folder>_<sha1 of the folder's path>, as Numba names it
    import hashlib

    cache = tmp_path / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    module = pkg / "hw/eie/_kernels.py"
    folder = os.path.dirname(os.path.abspath(module))
    _index(module, cache / f"eie_{hashlib.sha1(folder.encode()).hexdigest()}")
    assert feedback.kernels_cold(["eie"], compress=False)  # an EIE run encodes with the compression kernels
    compress = pkg / "compress/_kernels.py"
    _index(compress, cache / f"compress_{hashlib.sha1(str(compress.parent).encode()).hexdigest()}")
    assert not feedback.kernels_cold(["eie"], compress=False)


def test_compile_notice_is_one_line_only_when_cold(tmp_path, monkeypatch):
    pkg = _fake_package(tmp_path, monkeypatch)
    err = io.StringIO()
    assert feedback.compile_notice(["gpu"], compress=False, stream=err)
    assert err.getvalue() == "accelsim: compiling kernels (first run only; several seconds, cached for later runs)\n"
    _index(pkg / "hw/gpu/_kernels.py")
    err = io.StringIO()
    assert not feedback.compile_notice(["gpu"], compress=False, stream=err) and err.getvalue() == ""


def test_announce_compiles_says_it_once_when_numba_really_compiles():
    import numba

    err = io.StringIO()
    first, second = numba.njit(lambda x: x + 1), numba.njit(lambda x: x * 2)  # fresh, uncached kernels
    stop = feedback.announce_compiles(err)
    try:
        assert err.getvalue() == ""  # nothing compiled yet
        assert first(1) == 2 and second(2) == 4
        assert first(3) == 4  # already compiled: no event
    finally:
        stop()
    assert err.getvalue() == feedback.NOTICE
    assert numba.njit(lambda x: x - 1)(1) == 0  # after stop: no longer listening
    assert err.getvalue() == feedback.NOTICE


def test_simulate_listens_for_compiles_while_it_runs(monkeypatch, capsys):
    calls = []

    def spy(stream=None):
        calls.append("start")
        return lambda: calls.append("stop")

    monkeypatch.setattr(feedback, "announce_compiles", spy)
    assert main(["simulate", "--arch", "edge-32x32", "--workload", "lenet-300-100", "--format", "json"]) == 0
    assert calls == ["start", "stop"]
    capsys.readouterr()
    assert main(["simulate", "--arch", "edge-32x32", "--workload", "lenet-300-100", "--batch", "0"]) == 2
    assert calls[2:] == ["start", "stop"]  # stopped listening on the error too


def test_bad_input_on_a_cold_cache_is_one_line_without_the_notice(tmp_path, monkeypatch, capsys):
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "empty-cache")}  # a clean checkout or fresh install
    proc = subprocess.run([sys.executable, "-m", "accelsim", "simulate", "--arch", "edge-32x32", "--workload",
                           "lenet-300-100", "--set", "array.rwos=8"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "rwos" in proc.stderr, proc.stderr
    _fake_package(tmp_path, monkeypatch)  # sweeps say it up front from file times: every kernel reads as cold
    spec = tmp_path / "typo.yaml"
    spec.write_text("base: {arch: edge-32x32, workload: lenet-300-100}\ngrid:\n  arch.array.rwos: [8, 16]\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "arch.array.rwos" in err and "compiling" not in err
    spec.write_text("base: {arch: edge-32x32, workload: lenet-300-100}\ngrid:\n  arch.array.rows: [8]\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o2")]) == 0  # a good spec: the notice, once
    assert capsys.readouterr().err.count("compiling kernels (first run only") == 1


# --- heartbeat and plain progress ------------------------------------------------------------------

def test_heartbeat_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    with feedback.Heartbeat("simulating bert on edge", stream=out, tty=False, interval=0.05) as hb:
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert hb.lines >= 2 and all(ln.startswith("accelsim: simulating bert on edge: ") and ln.endswith(" so far")
                                 for ln in lines)
    quiet = io.StringIO()
    with feedback.Heartbeat("short", stream=quiet, tty=False, interval=10):
        pass
    assert quiet.getvalue() == ""  # short work: nothing


def test_heartbeat_rewrites_one_line_on_a_terminal(monkeypatch):
    monkeypatch.setattr(feedback, "TTY_DELAY_S", 0.0)
    out = io.StringIO()
    with feedback.Heartbeat("simulating", stream=out, tty=True, interval=0.05):
        time.sleep(0.2)
    text = out.getvalue()
    assert "\n" not in text and text.startswith("\rsimulating: 0s") and text.endswith("\r\033[K")


def test_plain_progress_line_with_eta():
    out = io.StringIO()
    bar = sweep_mod.PlainProgress(total=10, done=2, stream=out, interval=0.0)
    for _ in range(3):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("sweep: 3/10 points, ") and "left" in lines[0]
    assert lines[-1].startswith("sweep: 5/10 points, ") and "left" not in lines[-1]
    silent = io.StringIO()
    bar = sweep_mod.PlainProgress(total=10, done=0, stream=silent, interval=3600)
    bar.update(1)
    bar.close()
    assert silent.getvalue() == ""


def test_sweep_without_a_terminal_gets_plain_progress(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal
    assert isinstance(sweep_mod._progress_bar(10, 0, True), sweep_mod.PlainProgress)
    assert sweep_mod._progress_bar(10, 0, False) is None


# --- resume, failures, tables --------------------------------------------------------------------------

def test_report_resume_on_a_finished_sweep_runs_nothing(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    spec = _spec(tmp_path, detail=True)
    assert main(["report", spec, "--out", out, "--quiet"]) == 0
    first = capsys.readouterr().out
    from accelsim.dse.evaluate import SimulateEvaluator

    def boom(self, setting):  # any simulation now is a failure of the test
        raise AssertionError(f"simulated {setting}")

    monkeypatch.setattr(SimulateEvaluator, "__call__", boom)
    assert main(["report", spec, "--out", out, "--resume", "--quiet"]) == 0
    assert "2 points (2 ok, 0 error)" in capsys.readouterr().out and "2 points" in first


def test_resume_reruns_points_missing_per_layer_rows(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sweep", _spec(tmp_path), "--out", str(out), "--quiet"]) == 0
    assert not (out / "layers.csv").exists() or pd.read_csv(out / "layers.csv").empty
    capsys.readouterr()
    assert main(["sweep", _spec(tmp_path, detail=True), "--out", str(out), "--resume", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "2 finished points had no per-layer rows" in err
    layers = pd.read_csv(out / "layers.csv", dtype={"id": str})
    results = pd.read_csv(out / "results.csv", dtype={"id": str})
    assert set(layers["id"]) == set(results["id"]) and len(results) == 2
    # resumed again: everything has its detail now, nothing runs, nothing is moved
    assert main(["sweep", _spec(tmp_path, detail=True), "--out", str(out), "--resume", "--quiet"]) == 0
    assert "per-layer" not in capsys.readouterr().err
    assert main(["plot", str(out), "--kind", "roofline", "--out", str(tmp_path / "r.png")]) == 0


def test_failed_dask_run_leaves_nothing_behind(tmp_path, capsys):
    out = tmp_path / "new"
    args = ["sweep", _spec(tmp_path), "--out", str(out), "--scheduler", "tcp://127.0.0.1:1", "--timeout", "0.5"]
    assert main(args) == 2
    assert not out.exists()  # created by the failed run, removed with it
    # a folder that existed keeps its other files; a header-only results.csv (an older failure) goes
    old = tmp_path / "old"
    old.mkdir()
    (old / "notes.txt").write_text("mine")
    (old / "results.csv").write_text("id,status,error,extra\n")
    assert main(["sweep", _spec(tmp_path), "--out", str(old), "--scheduler", "tcp://127.0.0.1:1",
                 "--timeout", "0.5"]) == 2
    assert not (old / "results.csv").exists() and (old / "notes.txt").read_text() == "mine"
    capsys.readouterr()
    assert main(["sweep", _spec(tmp_path), "--out", str(old), "--quiet"]) == 0  # the retry just works


def test_failed_run_keeps_finished_points(tmp_path):
    """Only an empty table is removed: a run that fails after some points keeps them for --resume."""
    from accelsim.dse.store import CsvStore
    from accelsim.errors import SweepError

    calls = []

    def flaky(setting):
        calls.append(setting)
        if len(calls) > 1:
            raise KeyboardInterrupt  # an interrupted run
        return {"latency_s": 1.0}

    space = {"grid": {"x": [1, 2, 3]}}
    with pytest.raises((KeyboardInterrupt, SweepError)):
        sweep_mod.sweep(space, evaluate=flaky, store=CsvStore(tmp_path / "s"), progress=False)
    assert len(pd.read_csv(tmp_path / "s" / "results.csv")) == 1


def test_pareto_table_shows_point_ids(tmp_path, capsys):
    assert main(["sweep", _spec(tmp_path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    ids = set(pd.read_csv(tmp_path / "run" / "results.csv", dtype={"id": str})["id"])
    table = out.split("Pareto front", 1)[1].splitlines()
    assert table[1].split()[0] == "id"
    assert {ln.split()[0] for ln in table[3:] if ln.strip()} <= ids


def test_inline_recipe_is_shown_by_name(tmp_path):
    spec = {"base": {"workload": "lenet-300-100", "arch": "edge-32x32"},
            "grid": {"recipe": [{"name": "half", "pipeline": [{"prune": {"method": "magnitude", "scope": "layer",
                                                                          "density": 0.5}}]}, "int8"]}}
    df = sweep_mod.sweep(spec, store=str(tmp_path / "run"), progress=False)
    assert list(df["recipe"]) == ["half", "int8"]
    spec_cell = df.loc[df["recipe"] == "half", "recipe_spec"].iloc[0]
    assert json.loads(spec_cell)["pipeline"][0]["prune"]["density"] == 0.5
    stored = pd.read_csv(tmp_path / "run" / "results.csv")
    assert list(stored["recipe"]) == ["half", "int8"]


# --- the same dotted keys in --set and specs ----------------------------------------------------------

def test_set_takes_the_arch_prefix_of_sweep_specs(capsys):
    assert main(["show", "arch", "edge-32x32", "--set", "arch.array.rows=64", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config"]["array"]["rows"] == 64
    assert main(["simulate", "--arch", "edge-32x32", "--workload", "lenet-300-100", "--set", "arch.array.rows=64",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["arch"]["array"]["rows"] == 64
    assert main(["simulate", "--arch", "edge-32x32", "--workload", "lenet-300-100", "--set", "array.rows=64",
                 "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["show", "arch", "edge-32x32", "--set", "arch.dram.type=hbm2", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["dram"]["type"] == "hbm2"


def test_a_pty_without_a_size_gets_plain_progress(monkeypatch):
    """A 204-point sweep under a pty opened without a size printed nothing for minutes: no bar there."""
    import os
    import pty

    master, slave = pty.openpty()  # a fresh pty has 0 x 0 cells
    try:
        stream = os.fdopen(slave, "w")
        monkeypatch.setattr("sys.stderr", stream)
        assert stream.isatty() and sweep_mod._columns() == 0
        assert isinstance(sweep_mod._progress_bar(10, 0, True), sweep_mod.PlainProgress)
    finally:
        monkeypatch.undo()
        stream.close()
        os.close(master)
