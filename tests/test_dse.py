"""Sweep machinery: spaces, validation, stores, resume, executors and analysis (toy evaluators)."""

import filecmp
import itertools
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import accelsim
from accelsim.dse import Grid, Points, Random, Space, Union, Zip, pareto_front, point_id, sensitivity, top_k
from accelsim.dse.pareto import pareto_mask
from accelsim.dse.space import space_from_spec
from accelsim.dse.store import load_results, read_rows
from accelsim.errors import SweepError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import test_dse_support as toys  # noqa: E402


def toy_space():
    return Space(base={"offset": 0.0}, axes=[Grid({"x": [1, 2, 13, 4]}), Zip({"y": [1, 2, 3]})])


# --- spaces --------------------------------------------------------------------------------------

def test_grid_zip_points_cross_product_and_base():
    space = Space(base={"b": 1}, axes=[Grid({"x": [1, 2], "y": ["a", "b"]}), Zip({"u": [1, 2, 3], "v": [4, 5, 6]})])
    pts = space.points()
    assert len(pts) == len(space) == 2 * 2 * 3
    assert pts[0].setting == {"b": 1, "x": 1, "y": "a", "u": 1, "v": 4}
    assert pts[-1].setting == {"b": 1, "x": 2, "y": "b", "u": 3, "v": 6}
    assert {(p.setting["u"], p.setting["v"]) for p in pts} == {(1, 4), (2, 5), (3, 6)}
    assert [p.index for p in pts] == list(range(12))
    explicit = Space(axes=[Points([{"x": 1}, {"x": 5, "y": 2}])]).points()
    assert [p.setting for p in explicit] == [{"x": 1}, {"x": 5, "y": 2}]


def test_point_ids_are_stable_and_order_independent():
    assert point_id({"a": 1, "b": "x"}) == point_id({"b": "x", "a": 1})
    assert point_id({"a": 1}) != point_id({"a": 2}) != point_id({"a": 1, "b": None})
    a = Space(axes=[Grid({"x": [1, 2], "y": [3, 4]})]).points()
    b = Space(axes=[Grid({"y": [4, 3], "x": [2, 1]})]).points()
    assert {p.id for p in a} == {p.id for p in b}


def test_random_axes_are_seeded_and_in_range():
    r = Random({"x": {"low": 8, "high": 256, "log": True, "int": True}, "d": {"choices": ["ws", "os"]},
                "f": {"low": 0.5, "high": 1.5}}, n=50, seed=3)
    s1, s2 = r.settings(), Random(r.axes, n=50, seed=3).settings()
    assert s1 == s2
    assert s1 != Random(r.axes, n=50, seed=4).settings()
    assert all(8 <= s["x"] <= 256 and isinstance(s["x"], int) for s in s1)
    assert {s["d"] for s in s1} == {"ws", "os"}
    assert all(0.5 <= s["f"] <= 1.5 for s in s1)
    small = sum(s["x"] < 32 for s in s1)  # log-uniform: half the mass below sqrt(8 * 256) ~ 45
    assert 10 <= small <= 40


def test_union_concatenates_and_drops_duplicate_points():
    a = Space(base={"arch": "a"}, axes=[Grid({"x": [1, 2]})])
    b = Space(base={"arch": "b"}, axes=[Grid({"y": [1]})])
    u = a | b | a
    assert [p.setting for p in u.points()] == [{"arch": "a", "x": 1}, {"arch": "a", "x": 2}, {"arch": "b", "y": 1}]
    assert u.axis_keys == ["x", "y"]


def test_values_equal_after_the_fields_conversion_are_one_value(tmp_path, run_cli):
    """rows: [8, 8.0, 16] ran 3 points (two ids, one config): 8 and 8.0 set the same value of any numeric field,
    so a grid, a points block and a random block's choices treat them as one, and a union keeps the point once."""
    with pytest.raises(SweepError, match=r"grid.x lists 8 and 8.0, the same value; each value of a grid axis is one point"):
        Grid({"x": [8, 8.0, 16]})
    with pytest.raises(SweepError, match=r"grid.x lists \[1, 2.0\] and \[1.0, 2\], the same value"):
        Grid({"x": [[1, 2.0], [1.0, 2]]})
    with pytest.raises(SweepError, match=r"points\[1\] repeats points\[0\] \(\{\"x\": 8.0\}\)"):
        Points([{"x": 8}, {"x": 8.0}])
    with pytest.raises(SweepError, match="n is 2 but its axes hold 1 distinct points"):
        Random({"x": [8, 8.0]}, n=2).settings()
    assert [p.setting for p in (Space(axes=[Grid({"x": [8]})]) | Space(axes=[Grid({"x": [8.0]})])).points()] == [{"x": 8}]
    assert len(Space(axes=[Grid({"x": [True, 1, 1.5, 2]})]).points()) == 4  # a boolean is not the number 1
    spec = tmp_path / "s.yaml"
    spec.write_text("base: {arch: edge-32x32, workload: lenet5}\ngrid: {arch.array.rows: [8, 8.0, 16]}\n")
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and "grid.arch.array.rows lists 8 and 8.0, the same value" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("make, fragment", [
    (lambda: Grid({"x": []}), "grid.x must be a non-empty list of values; got []"),
    (lambda: Grid({"x": 5}), "grid.x must be a list; got 5"),
    (lambda: Grid({"x": "abc"}), "grid.x must be a list; got 'abc'"),
    (lambda: Grid(3), "grid must be a mapping of axis -> list of values; got 3"),
    (lambda: Zip({"x": [1, 2], "y": [1]}), "zip axes must have equal lengths (taken in lockstep); got x has 2, y has 1"),
    (lambda: Grid({"a..b": [1]}), "dotted paths"),
    (lambda: Random({"x": {"low": 5, "high": 1}}, n=3), "random.axes.x.high must be >= low (5); got 1"),
    (lambda: Random({"x": {"low": 0, "high": 1, "log": True}}, n=3), "must be > 0 for a log range"),
    (lambda: Random({"x": {"lo": 0}}, n=3), "random.axes.x.lo: unknown key; did you mean low or log?"),
    (lambda: Random({"x": [1]}, n=0), "random.n must be an int in [1, 1000000]; got 0"),
    (lambda: Points([]), "points must be a non-empty list of mappings of axis -> value; got []"),
    (lambda: Grid({"x": [float("nan")]}), "finite"),
    (lambda: Space(axes=[Grid({"x": [1]}), Zip({"x": [2]})]), "zip.x: axis also set in grid"),
])
def test_space_bad_input(make, fragment):
    with pytest.raises(SweepError) as err:
        make()
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_spec_parsing_and_errors():
    spec = {"base": {"w": 1}, "spaces": [{"base": {"a": 1}, "grid": {"x": [1, 2]}},
                                         {"zip": {"x": [3], "y": [4]}, "random": {"n": 1, "axes": {"z": [7]}}}]}
    pts = space_from_spec(spec, "s.yaml").points()
    assert [p.setting for p in pts] == [{"w": 1, "a": 1, "x": 1}, {"w": 1, "a": 1, "x": 2}, {"w": 1, "x": 3, "y": 4, "z": 7}]
    with pytest.raises(SweepError, match=r"^s.yaml: gird: unknown key; did you mean grid\?"):
        space_from_spec({"gird": {"x": [1]}}, "s.yaml")
    with pytest.raises(SweepError, match=r"^s.yaml: spaces\[1\].grid.x must be a non-empty list of values; got \[\]$"):
        space_from_spec({"spaces": [{"grid": {"x": [1]}}, {"grid": {"x": []}}]}, "s.yaml")
    with pytest.raises(SweepError, match=r"^s.yaml: grid.x must be a non-empty list of values; got \[\]$"):
        space_from_spec({"grid": {"x": []}}, "s.yaml")


def test_spec_schema_reports_every_problem_with_its_path():
    bad = {"spaces": [{"grid": {"x": [1]}}, {"grid": 3},
                      {"gird": {"x": [1]}, "random": {"n": 0, "axes": {"r": {"low": 5, "high": 1}}}}],
           "objectives": {"latency_s": "down"}, "report": {"top_k": 0, "parto": {}}, "detial": True}
    with pytest.raises(SweepError) as err:
        space_from_spec(bad, "examples/x.yaml")
    msg = str(err.value)
    assert msg.startswith("examples/x.yaml: ") and "\n" not in msg
    for problem in ("spaces[1].grid must be a mapping of axis -> list of values; got 3",
                    "spaces[2].gird: unknown key; did you mean grid?", "spaces[2].random.n must be an int in [1, 1000000]; got 0",
                    "objectives.latency_s must be one of min, max; got 'down'", "report.top_k must be an int in [1, 1000000]; got 0",
                    "report.parto: unknown key; did you mean pareto?", "detial: unknown key; did you mean detail?"):
        assert problem in msg, (problem, msg)
    # rules beyond the declared types (validate()) are checked before any space is built, also all at once
    with pytest.raises(SweepError) as err:
        space_from_spec({"grid": {"x": [1], "a..b": [2]}, "zip": {"x": [1, 2], "y": [3]},
                         "random": {"n": 2, "axes": {"x": [1]}}, "evaluate": "mod"}, "s.yaml")
    assert str(err.value) == (
        "s.yaml: grid axis names must be dotted paths such as arch.array.rows; got 'a..b'; "
        "zip axes must have equal lengths (taken in lockstep); got x has 2, y has 1; "
        "zip.x: axis also set in grid; each key may vary in one block; "
        "random.x: axis also set in grid; each key may vary in one block; "
        "evaluate must be 'package.module:function'; got 'mod'")
    with pytest.raises(SweepError, match=r"^s.yaml: random.axes.r.high must be >= low \(5\); got 1; "
                                         r"random.axes.s.low must be > 0 for a log range; got 0$"):
        space_from_spec({"random": {"n": 2, "axes": {"r": {"low": 5, "high": 1}, "s": {"low": 0, "high": 1, "log": True},
                                                     "t": [1]}}}, "s.yaml")
    with pytest.raises(SweepError, match=r"^s.yaml: grid: put the axes inside each entry of spaces, not beside it$"):
        space_from_spec({"grid": {"x": [1]}, "spaces": [{"grid": {"y": [1]}}]}, "s.yaml")
    with pytest.raises(SweepError, match=r"^s.yaml: random.axes.r.lo: unknown key; did you mean low or log\?"):
        space_from_spec({"random": {"n": 1, "axes": {"r": {"lo": 1, "high": 2}}}}, "s.yaml")


def test_random_block_forms_give_the_same_points():
    """A list is short for choices; a spec's random block equals the Python Random with the same seed."""
    log_int = {"low": 8, "high": 256, "log": True, "int": True}
    spec = {"random": {"n": 8, "seed": 5, "axes": {"d": ["os", "ws"], "r": log_int}}}
    from_spec = [p.setting for p in space_from_spec(spec).points()]
    direct = Random({"d": {"choices": ("os", "ws")}, "r": dict(log_int)}, n=8, seed=5)
    assert from_spec == direct.settings() == Random(direct.axes, n=8, seed=5).settings()
    assert all(isinstance(s["r"], int) and 8 <= s["r"] <= 256 for s in from_spec)


def test_cli_report_typo_fails_before_running(tmp_path, run_cli):
    spec = _toy_spec(tmp_path, n=6)
    spec.write_text(spec.read_text() + "report: {pareto: {x: latency_s}, top: 3}\n")
    code, _, err = run_cli("report", spec, "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and f"{spec}: report.top: unknown key; did you mean top_k?" in err
    assert not (tmp_path / "o").exists()


# --- sweeps with a toy evaluator -----------------------------------------------------------------

def test_sweep_rows_errors_and_column_types():
    df = accelsim.sweep(toy_space(), evaluate=toys.toy, progress=False)
    assert len(df) == 12
    assert list(df.columns[:3]) == ["id", "status", "error"]
    ok = df[df["status"] == "ok"]
    assert len(ok) == 9 and set(df[df["status"] == "error"]["x"]) == {13}
    assert df[df["x"] == 13]["error"].str.contains("x=13 is not supported").all()
    np.testing.assert_allclose(ok["latency_s"], ok["x"] / ok["y"])
    np.testing.assert_allclose(ok["energy_j"], ok["x"] * ok["y"] * 0.5)
    assert df["id"].tolist() == [p.id for p in toy_space().points()]
    assert df["x"].dtype.kind == "i" and df["latency_s"].dtype.kind == "f"


def test_sweep_validates_every_point_before_running():
    ev = toys.Validating()
    space = Space(axes=[Grid({"x": [1, -1, -2], "y": [1]}), Points([{"wat": 1}])])
    with pytest.raises(SweepError) as err:
        accelsim.sweep(space, evaluate=ev, progress=False)
    msg = str(err.value)
    assert "x must be >= 0; got -1" in msg and "x must be >= 0; got -2" in msg and "wat: unknown key" in msg
    assert "\n" not in msg
    assert ev.calls == 0


def test_evaluator_bug_stops_the_sweep_but_keeps_finished_points(tmp_path):
    space = Space(axes=[Grid({"x": [1, 2, 3, 4]})])
    with pytest.raises(SweepError, match="ZeroDivisionError: division by zero"):
        accelsim.sweep(space, evaluate=toys.buggy, store=tmp_path, progress=False)
    assert len(read_rows(tmp_path / "results.csv")[1]) == 2  # x = 1, 2 done before the bug


def test_store_refuses_to_overwrite_and_resume_skips_finished(tmp_path):
    space = toy_space()
    full = accelsim.sweep(space, evaluate=toys.toy, store=tmp_path / "a", progress=False)
    with pytest.raises(SweepError, match="already exists; resume"):
        accelsim.sweep(space, evaluate=toys.toy, store=tmp_path / "a", progress=False)
    ev = toys.Validating()
    again = accelsim.sweep(Space(axes=[Grid({"x": [1, 2, 13, 4]}), Zip({"y": [1, 2, 3]})]), evaluate=ev,
                           store=tmp_path / "b", progress=False)
    calls = ev.calls
    bigger = Space(axes=[Grid({"x": [1, 2, 13, 4, 5]}), Zip({"y": [1, 2, 3]})])
    df = accelsim.sweep(bigger, evaluate=ev, store=tmp_path / "b", resume=True, progress=False)
    assert ev.calls - calls == 3  # only the x = 5 points ran
    assert len(df) == 15 and df["id"].is_unique
    assert len(again) == len(full) == 12


def test_torn_last_line_is_dropped_on_resume(tmp_path):
    space = toy_space()
    ref = accelsim.sweep(space, evaluate=toys.toy, store=tmp_path / "ref", progress=False)
    path = tmp_path / "ref" / "results.csv"
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    (tmp_path / "cut").mkdir()
    torn = tmp_path / "cut" / "results.csv"
    torn.write_text("".join(lines[:6]) + lines[6][: len(lines[6]) // 2])  # 5 rows + half a row
    header, rows = read_rows(torn)
    assert len(rows) == 5
    df = accelsim.sweep(space, evaluate=toys.toy, store=tmp_path / "cut", resume=True, progress=False)
    pd.testing.assert_frame_equal(df, ref)
    assert torn.read_text() == text


def test_store_rows_are_written_as_points_finish(tmp_path):
    seen = []

    def spy(setting):
        if setting["x"] == 3:  # by the third point, two rows must be on disk already
            seen.append(len(read_rows(tmp_path / "results.csv")[1]))
        return toys.toy(setting)

    accelsim.sweep(Space(axes=[Grid({"x": [1, 2, 3]})]), evaluate=spy, store=tmp_path, progress=False)
    assert seen == [2]


@pytest.mark.parametrize("executor", ["threads", "processes", 2])
def test_executors_give_the_serial_table(tmp_path, executor):
    space = Space(axes=[Grid({"x": list(range(1, 15)), "y": [1, 2, 3]})])
    serial = accelsim.sweep(space, evaluate=toys.toy, store=tmp_path / "serial", progress=False)
    if executor == "threads":
        with ThreadPoolExecutor(2) as pool:
            df = accelsim.sweep(space, evaluate=toys.toy, executor=pool, store=tmp_path / "par", progress=False)
    elif executor == "processes":
        with ProcessPoolExecutor(2) as pool:
            df = accelsim.sweep(space, evaluate=toys.toy, executor=pool, store=tmp_path / "par", progress=False)
    else:
        df = accelsim.sweep(space, evaluate=toys.toy, executor=executor, store=tmp_path / "par", progress=False)
    pd.testing.assert_frame_equal(df, serial)
    assert filecmp.cmp(tmp_path / "serial" / "results.csv", tmp_path / "par" / "results.csv", shallow=False)


def test_dask_local_cluster_matches_serial(tmp_path):
    distributed = pytest.importorskip("distributed")
    space = Space(axes=[Grid({"x": list(range(1, 15)), "y": [1, 2]})])
    serial = accelsim.sweep(space, evaluate=toys.toy, store=tmp_path / "serial", progress=False)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            df = accelsim.sweep(space, evaluate=toys.toy, executor=client, store=tmp_path / "client", progress=False)
            by_address = accelsim.sweep(space, evaluate=toys.toy, executor=cluster.scheduler_address,
                                        store=tmp_path / "address", progress=False)
    pd.testing.assert_frame_equal(df, serial)
    pd.testing.assert_frame_equal(by_address, serial)
    assert filecmp.cmp(tmp_path / "serial" / "results.csv", tmp_path / "client" / "results.csv", shallow=False)


def test_unreachable_scheduler_is_a_clear_error_not_a_hang(tmp_path):
    pytest.importorskip("distributed")
    start = time.monotonic()
    with pytest.raises(SweepError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 1 s"):
        accelsim.sweep(toy_space(), evaluate=toys.toy, executor="tcp://127.0.0.1:9", timeout=1, progress=False)
    assert time.monotonic() - start < 60  # a hang guard, not a speed check
    with pytest.raises(SweepError, match="tcp://HOST:PORT"):
        accelsim.sweep(toy_space(), evaluate=toys.toy, executor="localhost", progress=False)


def test_bad_executor_and_evaluator_output():
    with pytest.raises(SweepError, match="executor must be"):
        accelsim.sweep(toy_space(), evaluate=toys.toy, executor=object(), progress=False)
    with pytest.raises(SweepError, match="must return a mapping of metrics"):
        accelsim.sweep(toy_space(), evaluate=lambda s: 42, progress=False)


def test_worker_count_has_a_declared_upper_limit_api_and_cli(tmp_path, run_cli, monkeypatch):
    """--workers 100000 forked until the machine stalled: a local worker count above 4 x the CPU count is
    refused with one line before any process starts or any file is written (API and CLI alike)."""
    from accelsim.dse import executors

    monkeypatch.setattr(executors.os, "cpu_count", lambda: 3)
    assert executors.max_workers() == 12

    def no_pool(*a, **k):
        raise AssertionError("a process pool was started")

    monkeypatch.setattr(executors, "ProcessPoolExecutor", no_pool)
    for n in (13, 100000):
        with pytest.raises(SweepError, match=rf"^executor \(a number of local worker processes\) must be <= 12 .*got {n}$"):
            accelsim.sweep(toy_space(), evaluate=toys.toy, executor=n, store=tmp_path / "api", progress=False)
    with pytest.raises(SweepError, match="must be >= 1; got 0"):
        accelsim.sweep(toy_space(), evaluate=toys.toy, executor=0, store=tmp_path / "api", progress=False)
    assert not (tmp_path / "api").exists()
    spec = tmp_path / "spec.yaml"
    spec.write_text("evaluate: test_dse_support:toy\ngrid: {x: [1, 2]}\n")
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o", "--workers", "100000", "--allow-code")
    assert code == 2 and err.count("\n") == 1 and "--workers must be <= 12" in err and "got 100000" in err
    assert not (tmp_path / "o").exists()


def _toy_spec(tmp_path, n=60):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: toy\nevaluate: test_dse_support:slow_toy\nbase: {offset: 0.5}\n"
        f"grid:\n  x: {list(range(1, n // 3 + 1))}\n  y: [1, 2, 3]\nobjectives: {{latency_s: min, energy_j: min}}\n"
    )
    return spec


def _cli_env(sleep):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
               ACCELSIM_TOY_SLEEP=str(sleep))
    return env


def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path):
    spec = _toy_spec(tmp_path)
    cmd = [sys.executable, "-m", "accelsim", "sweep", str(spec), "--quiet", "--allow-code"]
    ref = subprocess.run(cmd + ["--out", str(tmp_path / "ref")], env=_cli_env(0), capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(out)], env=_cli_env(0.05), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (out / "results.csv").exists() and len(read_rows(out / "results.csv")[1]) >= 15:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(read_rows(out / "results.csv")[1])
    assert 15 <= done < 60
    res = subprocess.run(cmd + ["--out", str(out), "--resume"], env=_cli_env(0), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "60 points" in res.stdout
    a, b = load_results(tmp_path / "ref"), load_results(out)
    assert len(b) == 60 and b["id"].is_unique
    pd.testing.assert_frame_equal(a, b)
    assert filecmp.cmp(tmp_path / "ref" / "results.csv", out / "results.csv", shallow=False)


def test_cli_sweep_bad_inputs_exit_2_with_one_line(tmp_path, run_cli):
    spec = tmp_path / "bad.yaml"
    spec.write_text("base: {x: 1}\ngrid:\n  y: []\n")
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and f"{spec}: grid.y must be a non-empty list of values; got []" in err
    spec.write_text("grid: [1, 2\n")
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o")
    assert code == 2 and "malformed YAML" in err and str(spec) in err
    code, out, err = run_cli("sweep", tmp_path / "missing.yaml", "--out", tmp_path / "o")
    assert code == 2 and "file not found" in err
    spec.write_text("evaluate: nosuchmodule:f\ngrid: {x: [1]}\n")
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o")
    assert code == 2 and "evaluate: nosuchmodule:f is outside accelsim" in err and "--allow-code" in err
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o", "--allow-code")
    assert code == 2 and "evaluate: cannot import nosuchmodule:f" in err
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o", "--workers", "2", "--scheduler", "tcp://x:1")
    assert code == 2 and "not allowed with argument" in err


def test_cli_sweep_prints_summary_and_pareto_front(tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("ACCELSIM_TOY_SLEEP", "0")
    spec = _toy_spec(tmp_path, n=12)
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o", "--quiet", "--allow-code")
    assert code == 0, err
    assert "12 points (12 ok, 0 error)" in out and "Pareto front" in out
    code, out, err = run_cli("report", spec, "--out", tmp_path / "o", "--resume", "--quiet", "--allow-code")
    assert code == 0, err
    report = (tmp_path / "o" / "report.md").read_text()
    assert "## Pareto front" in report and "## Sensitivity" in report and "figures/pareto.png" in report
    assert (tmp_path / "o" / "figures" / "pareto.svg").stat().st_size > 1000


# --- analysis ------------------------------------------------------------------------------------

def _brute_front(values):
    n = len(values)
    keep = []
    for i in range(n):
        dominated = any(np.all(values[j] <= values[i]) and np.any(values[j] < values[i]) for j in range(n) if j != i)
        keep.append(not dominated)
    return np.array(keep)


@pytest.mark.parametrize("seed", range(6))
def test_pareto_mask_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 6, size=(60, 2 + seed % 2)).astype(float)  # many ties
    np.testing.assert_array_equal(pareto_mask(values), _brute_front(values))


def test_pareto_front_directions_missing_values_and_errors():
    df = pd.DataFrame({"lat": [1.0, 2.0, 3.0, 1.0, np.nan, 0.5], "acc": [0.5, 0.9, 0.95, 0.4, 1.0, 0.1],
                       "status": ["ok", "ok", "ok", "ok", "ok", "error"]})
    front = pareto_front(df, {"lat": "min", "acc": "max"})
    assert front.index.tolist() == [0, 1, 2]
    assert pareto_front(df, {"lat": "max", "acc": "max"}).index.tolist() == [2]
    with pytest.raises(SweepError, match="objective 'latency' is not a column.*did you mean"):
        pareto_front(df.rename(columns={"lat": "latency_s"}), {"latency": "min"})
    with pytest.raises(SweepError, match="must be 'min' or 'max'; got 'down'"):
        pareto_front(df, {"lat": "down"})


def test_top_k_and_sensitivity_rank_the_dominant_axis_first():
    rows = [{"a": a, "b": b, "c": c, "y": 10.0 * a + b + 0.01 * c} for a, b, c in itertools.product([1, 2, 3], [1, 2], [0, 1])]
    df = pd.DataFrame(rows)
    best = top_k(df, "y", k=2)
    assert best["y"].tolist() == sorted(df["y"])[:2]
    assert top_k(df, "y", k=1, direction="max")["y"].item() == df["y"].max()
    sens = sensitivity(df, {"y": "min"}, ["c", "a", "b"])
    assert sens["axis"].tolist() == ["a", "b", "c"]
    assert sens["rank"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(sens["effect"].iloc[0], 20.0 / df["y"].mean())
    assert sens["best_value"].iloc[0] == 1
    one = sensitivity(df.assign(d=7), {"y": "min"}, ["d", "a", "b"])  # an axis of one value moved nothing: no rank
    assert one["axis"].tolist() == ["a", "b", "d"] and one["rank"].tolist() == [1, 2, None]
    assert one["note"].tolist()[-1] == "one value" and one["effect"].tolist()[-1] == 0.0
    with pytest.raises(SweepError, match="k must be an int >= 1"):
        top_k(df, "y", k=0)


def test_resume_drops_layer_rows_of_unfinished_points(tmp_path):
    space = Space(axes=[Grid({"x": [1, 2, 3, 4, 5]})])
    ref = accelsim.sweep(space, evaluate=toys.toy_layers, store=tmp_path / "ref", detail=True, progress=False)
    assert len(ref.attrs["layers"]) == 15
    # a crash after point 3's layer rows but before its results row, mid-way through point 4's rows
    res_lines = (tmp_path / "ref" / "results.csv").read_text().splitlines(keepends=True)
    lay_lines = (tmp_path / "ref" / "layers.csv").read_text().splitlines(keepends=True)
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "results.csv").write_text("".join(res_lines[:3]))  # header + 2 points
    (cut / "layers.csv").write_text("".join(lay_lines[:1 + 3 * 3]) + lay_lines[10][:7])  # 3 points + torn row
    df = accelsim.sweep(space, evaluate=toys.toy_layers, store=cut, resume=True, detail=True, progress=False)
    pd.testing.assert_frame_equal(df, ref)
    pd.testing.assert_frame_equal(df.attrs["layers"], ref.attrs["layers"])
    for name in ("results.csv", "layers.csv"):
        assert filecmp.cmp(tmp_path / "ref" / name, cut / name, shallow=False), name


def test_progress_bar_with_eta_on_a_terminal(tmp_path):
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    spec = _toy_spec(tmp_path, n=12)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "accelsim", "sweep", str(spec), "--out", str(tmp_path / "o"), "--allow-code"],
                            env=_cli_env(0.01), stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait() == 0
    text = b"".join(chunks).decode(errors="replace")
    assert "sweep: 100%" in text and "12/12" in text and "pt/s" in text and "<" in text  # elapsed<remaining (ETA)
