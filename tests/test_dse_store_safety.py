"""A sweep store cannot lose or mix results: one writer per folder (lock), every point present
exactly once after a run, rows of changed inputs or of another space moved aside on resume."""

import filecmp
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

import accelsim
import test_dse_support as toys
from accelsim.dse.evaluate import SimulateEvaluator
from accelsim.dse.space import Grid, Space
from accelsim.dse.store import CsvStore, read_rows
from accelsim.errors import SweepError
from accelsim.hw.registry import _bundled_archs

HERE = Path(__file__).resolve().parent


def toy_space(xs=(1, 2, 3, 4)):
    return Space(axes=[Grid({"x": list(xs), "y": [1, 2]})])


class Gate:
    """An evaluator that blocks its first point until released (holds a sweep in flight)."""

    def __init__(self):
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, setting):
        self.started.set()
        assert self.release.wait(30)
        return toys.toy(setting)


def _in_thread(fn, **kwargs):
    box = {}

    def target():
        try:
            box["df"] = fn(**kwargs)
        except BaseException as exc:  # re-raised by the test
            box["exc"] = exc

    t = threading.Thread(target=target)
    t.start()
    return t, box


def test_second_writer_is_refused_with_one_line_naming_folder_and_pid(tmp_path):
    out = tmp_path / "out"
    gate = Gate()
    t, box = _in_thread(accelsim.sweep, space=toy_space(), evaluate=gate, store=out, progress=False)
    assert gate.started.wait(30)
    with pytest.raises(SweepError) as err:
        accelsim.sweep(toy_space(), evaluate=toys.toy, store=out, resume=True, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and str(out) in msg and f"pid {os.getpid()}" in msg and "--wait" in msg
    gate.release.set()
    t.join(30)
    assert "exc" not in box, box.get("exc")
    ref = accelsim.sweep(toy_space(), evaluate=toys.toy, store=tmp_path / "ref", progress=False)
    pd.testing.assert_frame_equal(box["df"], ref)
    assert filecmp.cmp(out / "results.csv", tmp_path / "ref" / "results.csv", shallow=False)


def test_waiting_writer_runs_after_the_first_and_the_table_matches_a_serial_run(tmp_path):
    out = tmp_path / "out"
    gate = Gate()
    first, box1 = _in_thread(accelsim.sweep, space=toy_space(), evaluate=gate, store=out, progress=False)
    assert gate.started.wait(30)
    calls = []

    def counting(setting):
        calls.append(setting)
        return toys.toy(setting)

    bigger = toy_space((1, 2, 3, 4, 5))
    second, box2 = _in_thread(accelsim.sweep, space=bigger, evaluate=counting, store=out, resume=True,
                              progress=False, wait=True)
    second.join(0.5)
    assert second.is_alive() and not calls  # waiting on the lock, nothing read or run yet
    gate.release.set()
    first.join(30)
    second.join(30)
    assert "exc" not in box1 and "exc" not in box2, (box1.get("exc"), box2.get("exc"))
    assert len(calls) == 2  # only the x = 5 points: the first writer's 8 rows were complete
    ref = accelsim.sweep(bigger, evaluate=toys.toy, store=tmp_path / "ref", progress=False)
    pd.testing.assert_frame_equal(box2["df"], ref)
    assert filecmp.cmp(out / "results.csv", tmp_path / "ref" / "results.csv", shallow=False)


def test_cli_second_writer_exits_2_with_one_line(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: toy\nevaluate: test_dse_support:toy\ngrid:\n  x: [1, 2]\n")
    out = tmp_path / "out"
    holder = CsvStore(out)
    holder.lock()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "accelsim", "sweep", str(spec), "--out", str(out), "--quiet", "--allow-code"]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    finally:
        holder.unlock()
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and f"pid {os.getpid()}" in lines[0], proc.stderr
    assert not (out / "results.csv").exists()
    proc = subprocess.run(cmd + ["--wait"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(read_rows(out / "results.csv")[1]) == 2


def test_completeness_check_fires_when_the_store_drops_a_row(tmp_path, monkeypatch):
    space = toy_space()
    dropped = space.points()[3].id
    append = CsvStore.append

    def lossy(self, pid, values, layer_rows):
        if pid != dropped:
            append(self, pid, values, layer_rows)

    monkeypatch.setattr(CsvStore, "append", lossy)
    with pytest.raises(SweepError) as err:
        accelsim.sweep(space, evaluate=toys.toy, store=tmp_path, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and f"1 missing ({dropped})" in msg and "exactly once" in msg
    monkeypatch.setattr(CsvStore, "append", append)
    df = accelsim.sweep(space, evaluate=toys.toy, store=tmp_path, resume=True, progress=False)
    assert df["id"].tolist() == [p.id for p in space.points()]


def test_completeness_check_names_duplicates():
    from accelsim.dse.sweep import check_complete

    check_complete(["a", "b"], ["a", "b"], "d")
    with pytest.raises(SweepError, match=r"1 duplicated \(b\); 1 not points of this sweep \(z\)"):
        check_complete(["a", "b", "b", "z"], ["a", "b"], "d")


def test_rows_of_another_space_are_moved_aside(tmp_path, capsys):
    out = tmp_path / "out"
    old = toy_space((1, 2, 3))
    accelsim.sweep(old, evaluate=toys.toy, store=out, progress=False)
    new = toy_space((2, 3, 4))  # x = 1 left the space, x = 4 joined it
    capsys.readouterr()
    df = accelsim.sweep(new, evaluate=toys.toy, store=out, resume=True, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "moved 2 rows (2 not a point of this sweep)" in err[0] and "results.stale.csv" in err[0]
    ref = accelsim.sweep(new, evaluate=toys.toy, store=tmp_path / "ref", progress=False)
    pd.testing.assert_frame_equal(df, ref)
    assert filecmp.cmp(out / "results.csv", tmp_path / "ref" / "results.csv", shallow=False)
    header, stale = read_rows(out / "results.stale.csv")
    old_ids = {p.id for p in old.points()} - {p.id for p in new.points()}
    assert {r[0] for r in stale} == old_ids and len(stale) == 2


class CountingSimulate(SimulateEvaluator):
    """The default evaluator, counting the points it simulates."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __call__(self, setting):
        self.calls.append(setting["arch"])
        return super().__call__(setting)


def _arch_space(copy: Path) -> Space:
    return Space(base={"workload": "lenet-300-100"},
                 axes=[Grid({"arch": [str(copy), "edge-32x32"], "batch": [1, 2]})])


def test_editing_a_referenced_arch_recomputes_its_points_on_resume(tmp_path):
    copy = tmp_path / "my-arch.yaml"
    shutil.copy(_bundled_archs()["edge-32x32"], copy)
    out = tmp_path / "out"
    space = _arch_space(copy)
    ev = CountingSimulate()
    first = accelsim.sweep(space, evaluate=ev, store=out, progress=False)
    assert len(ev.calls) == 4
    ev.calls.clear()
    again = accelsim.sweep(space, evaluate=ev, store=out, resume=True, progress=False)
    assert ev.calls == []  # nothing changed: every row is served from the store, same ids
    pd.testing.assert_frame_equal(again, first)

    text = copy.read_text()
    assert "clock_hz: 500000000" in text
    copy.write_text(text.replace("clock_hz: 500000000", "clock_hz: 250000000"))
    edited = accelsim.sweep(space, evaluate=ev, store=out, resume=True, progress=False)
    assert ev.calls == [str(copy), str(copy)]  # only the edited arch's points ran again
    assert edited["id"].tolist() == first["id"].tolist()
    mine = edited["arch"] == str(copy)
    pd.testing.assert_frame_equal(edited[~mine], first[~mine])
    ratio = (edited.loc[mine, "latency_s"] / first.loc[mine, "latency_s"]).tolist()
    assert ratio == pytest.approx([2.0, 2.0], rel=0.05)  # half the clock, about twice the latency
    _, stale = read_rows(out / "results.stale.csv")
    assert sorted(r[0] for r in stale) == sorted(first.loc[mine, "id"])
    # the stored table equals a fresh run on the edited file
    ref = accelsim.sweep(space, store=tmp_path / "ref", progress=False)
    assert filecmp.cmp(out / "results.csv", tmp_path / "ref" / "results.csv", shallow=False)
    pd.testing.assert_frame_equal(edited, ref)


def test_rows_without_inputs_hash_from_older_stores_still_resume(tmp_path, capsys):
    out = tmp_path / "out"
    space = toy_space()
    ref = accelsim.sweep(space, evaluate=toys.toy, store=out, progress=False)
    header, rows = read_rows(out / "results.csv")
    pos = header.index("inputs_hash")
    assert pos == 3 and all(len(r[pos]) == 16 for r in rows)
    legacy = [[c for i, c in enumerate(r) if i != pos] for r in [header, *rows]]
    (out / "results.csv").write_text("".join(",".join(r) + "\n" for r in legacy))
    calls = []

    def counting(setting):
        calls.append(setting)
        return toys.toy(setting)

    capsys.readouterr()
    df = accelsim.sweep(space, evaluate=counting, store=out, resume=True, progress=False)
    assert calls == []
    assert "kept 8 rows written without an inputs_hash" in capsys.readouterr().err
    pd.testing.assert_frame_equal(df, ref)


def test_a_full_disk_is_one_sweep_error_through_the_api(tmp_path, monkeypatch):
    """A table write that fails (ENOSPC here; read-only or a folder in the way alike) is a SweepError
    naming the file, not a raw OSError, for API users as for the CLI."""
    import errno

    import accelsim
    from accelsim.dse import store
    from accelsim.errors import SweepError

    class FullDisk:
        def __init__(self, fh):
            self.fh = fh

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def fileno(self):
            return self.fh.fileno()

        def close(self):
            self.fh.close()

    real_start = store._Table.start

    def start(self, header, rows):
        real_start(self, header, rows)
        self.fh = FullDisk(self.fh)

    monkeypatch.setattr(store._Table, "start", start)
    with pytest.raises(SweepError, match=r"results\.csv: cannot write \(no space left on the device\)$"):
        accelsim.sweep({"base": {"arch": "edge-32x32", "workload": "lenet-300-100"}, "grid": {"batch": [1, 2]}},
                       store=tmp_path / "out", progress=False)


# --- resume keeps only sound, complete rows (held-out sweep round) ---------------------------------------

def _toy_layers_counted(setting):
    """toy_layers with the point's layer count in its row (as the built-in evaluator's num_layers)."""
    out = toys.toy_layers(setting)
    return {"row": {**out["row"], "num_layers": len(out["layers"])}, "layers": out["layers"]}


def test_resume_refuses_a_header_that_lacks_a_column(tmp_path, run_cli):
    """A results.csv whose header was edited (latency_s renamed latency) was resumed: rows kept with an empty
    latency_s and 'nan%' in a warning. Now one line names the file and the first column that differs; nothing
    is rewritten."""
    out = tmp_path / "sim"
    space = Space(base={"arch": "edge-32x32", "workload": "lenet5"}, axes=[Grid({"arch.array.rows": [8, 16]})])
    accelsim.sweep(space, store=out, progress=False)
    table = out / "results.csv"
    text = table.read_text()
    header = text.splitlines()[0].split(",")
    table.write_text(text.replace("latency_s,", "latency,", 1))
    edited = table.read_text()
    col = header.index("latency_s") + 1
    with pytest.raises(SweepError) as info:
        accelsim.sweep(space, store=out, resume=True, progress=False)
    assert str(info.value) == (f"{table}: the header does not match this sweep's columns: column {col} should be "
                               "'latency_s', the file has 'latency' there; restore the header, or run without "
                               "--resume into another --out folder")
    assert table.read_text() == edited and not (out / "results.stale.csv").exists()
    # a setting column renamed, through the CLI (a custom evaluator: its setting columns are known)
    spec = tmp_path / "toy.yaml"
    spec.write_text("evaluate: test_dse_support:toy\ngrid: {x: [1, 2], y: [1, 2]}\n")
    code, _, err = run_cli("sweep", spec, "--out", tmp_path / "toy", "--quiet", "--allow-code")
    assert code == 0, err
    toy_table = tmp_path / "toy" / "results.csv"
    toy_table.write_text(toy_table.read_text().replace(",x,", ",xx,", 1))
    code, _, err = run_cli("sweep", spec, "--out", tmp_path / "toy", "--resume", "--quiet", "--allow-code")
    assert code == 2 and err.count("\n") == 1
    assert f"{toy_table}: the header does not match this sweep's columns: column 5 should be 'x', the file has 'xx'" in err


def test_the_start_notice_comes_only_when_the_store_accepted_the_run_and_points_are_left(tmp_path):
    """The command line's cold-cache notice (``on_start``) printed before a refused resume made its one error
    line two; it comes once the store is open, and not at all when every point is already stored."""
    calls = []
    out = tmp_path / "toy"
    accelsim.sweep(toy_space(), evaluate=toys.toy, store=out, progress=False, on_start=lambda: calls.append("new"))
    accelsim.sweep(toy_space(), evaluate=toys.toy, store=out, resume=True, progress=False,
                   on_start=lambda: calls.append("done"))
    table = out / "results.csv"
    table.write_text(table.read_text().replace(",x,", ",xx,", 1))
    with pytest.raises(SweepError):
        accelsim.sweep(toy_space(), evaluate=toys.toy, store=out, resume=True, progress=False,
                       on_start=lambda: calls.append("refused"))
    assert calls == ["new"]


@pytest.mark.parametrize("cut", ["mid-row", "inside-id", "line-boundary"])
def test_resume_reruns_points_whose_layer_rows_were_cut(tmp_path, run_cli, cut):
    """layers.csv cut off mid-line (or at a line end) kept a point with 7 of its 9 layer rows. A point whose
    per-layer rows are incomplete is not done: it runs again and its rows are rewritten (the partial ones moved
    to layers.stale.csv), so the tables equal an uninterrupted run's; plot --kind breakdown refuses the cut table."""
    space = Space(axes=[Grid({"x": [1, 2, 3, 4]})])
    ref = accelsim.sweep(space, evaluate=_toy_layers_counted, store=tmp_path / "ref", detail=True, progress=False)
    out = tmp_path / "cut"
    shutil.copytree(tmp_path / "ref", out)
    lines = (out / "layers.csv").read_text().splitlines(keepends=True)  # header + 4 points x 3 layer rows
    victim = lines[8].split(",")[0]  # point 3: rows 7..9
    kept = "".join(lines[:8])
    (out / "layers.csv").write_text({"mid-row": kept + lines[8][:30], "inside-id": kept + lines[8][:5],
                                     "line-boundary": kept}[cut])
    code, _, err = run_cli("plot", out, "--kind", "breakdown", "--out", tmp_path / "b.png")
    assert code == 2 and err.count("\n") == 1 and f"{out / 'layers.csv'}: the per-layer rows of point {victim} " in err
    calls = []

    def counting(setting):
        calls.append(setting["x"])
        return _toy_layers_counted(setting)

    df = accelsim.sweep(space, evaluate=counting, store=out, resume=True, detail=True, progress=False)
    assert sorted(calls) == [3, 4]  # the cut point and the one whose rows were all cut; 1 and 2 kept
    pd.testing.assert_frame_equal(df, ref)
    pd.testing.assert_frame_equal(df.attrs["layers"], ref.attrs["layers"])
    for name in ("results.csv", "layers.csv"):
        assert filecmp.cmp(tmp_path / "ref" / name, out / name, shallow=False), name
    _, aside = read_rows(out / "layers.stale.csv")
    assert {r[0] for r in aside} == {victim}
    code, _, err = run_cli("plot", out, "--kind", "breakdown", "--out", tmp_path / "b.png")
    assert code == 0, err


def test_non_finite_or_negative_metrics_are_never_stored(tmp_path, run_cli):
    """A custom evaluate returning NaN latency or -1 energy was stored with status ok, inf stored as NaN; rows
    edited to latency_s=nan / -1 survived --resume and were drawn by plot --kind pareto. Now such a value fails
    its point (status error, the reason in one line) and resume moves such rows aside and runs them again."""
    def bad(setting):
        x = setting["x"]
        return [{"latency_s": float("nan"), "energy_j": 1.0}, {"latency_s": 1.0, "energy_j": -1.0},
                {"latency_s": float("inf")}, {"latency_s": 2.0, "energy.dram": -0.5, "score": -3.0},
                {"row": {"latency_s": 1.0}, "layers": [{"layer": "l0", "latency_s": float("nan")}]},
                {"latency_s": 0.5, "score": -3.0}][x]

    df = accelsim.sweep(Space(axes=[Grid({"x": [0, 1, 2, 3, 4, 5]})]), evaluate=bad, store=tmp_path / "bad",
                        progress=False)
    assert list(df["status"]) == ["error"] * 5 + ["ok"]  # a custom column may be negative
    assert list(df["error"][:5]) == [
        "evaluator output: latency_s must be a finite number; got nan",
        "evaluator output: energy_j must be >= 0; got -1.0",
        "evaluator output: latency_s must be a finite number; got inf",
        "evaluator output: energy.dram must be >= 0; got -0.5",
        "evaluator output: layer 'l0': latency_s must be a finite number; got nan"]
    assert df["latency_s"].dropna().tolist() == [0.5]
    # rows edited into a finished table: moved aside on resume and run again
    space = toy_space()
    ref = accelsim.sweep(space, evaluate=toys.toy, store=tmp_path / "ref", progress=False)
    out = tmp_path / "edited"
    shutil.copytree(tmp_path / "ref", out)
    header, rows = read_rows(out / "results.csv")
    lat, en = header.index("latency_s"), header.index("energy_j")
    rows[3][lat], rows[4][en], rows[5][lat] = "nan", "-1", "inf"
    (out / "results.csv").write_text("".join(",".join(r) + "\n" for r in [header, *rows]))
    code, _, err = run_cli("plot", out, "--kind", "pareto", "--out", tmp_path / "p.png")
    assert code == 2 and err.count("\n") == 1
    assert f"point {rows[3][0]}: latency_s must be a finite number; got nan; a result cannot hold it" in err
    calls = []

    def counting(setting):
        calls.append(setting)
        return toys.toy(setting)

    df = accelsim.sweep(space, evaluate=counting, store=out, resume=True, progress=False)
    assert len(calls) == 3
    pd.testing.assert_frame_equal(df, ref)
    assert filecmp.cmp(tmp_path / "ref" / "results.csv", out / "results.csv", shallow=False)
    assert len(read_rows(out / "results.stale.csv")[1]) == 3
    code, _, err = run_cli("plot", out, "--kind", "pareto", "--out", tmp_path / "p.png")
    assert code == 0, err
    # text in a built-in metric column ('abc') is refused like nan, not dropped from the figure
    header, rows = read_rows(out / "results.csv")
    rows[2][header.index("latency_s")] = "abc"
    (out / "results.csv").write_text("".join(",".join(r) + "\n" for r in [header, *rows]))
    code, _, err = run_cli("plot", out, "--kind", "pareto", "--out", tmp_path / "p2.png")
    assert code == 2 and err.count("\n") == 1
    assert f"point {rows[2][0]}: latency_s must be a number; got 'abc'" in err
