"""Cases a held-out round of sweep crashes and resumes (2026-12-06, thirty-sixth session; 106 checks by a helper
that read none of these tests: 55 kills by SIGKILL / SIGTERM / SIGINT, serial and two workers, all resumed to
byte-identical tables) found wrong: a sweep waiting on a folder whose first writer gave up took a lock on the removed
lock file (two writers at once, a point lost); a user tech table named by an arch file was not part of a point's
inputs, so editing it kept stale energies on --resume; and a resumed table kept an earlier spec's or a hand edit's
column layout instead of a fresh run's."""

from __future__ import annotations

import csv
import io
import threading
import time

import pytest

from accelsim.dse.store import LOCK, CsvStore

SPEC = """name: s
base: {workload: lenet5}
grid:
  arch: [edge-32x32, scalesim-32x32-os]
  recipe: [int8, magnitude-4]
detail: true
"""


def test_a_waiter_does_not_keep_a_lock_on_a_removed_lock_file(tmp_path):
    first = CsvStore(tmp_path / "d")
    first.lock()
    waiter = CsvStore(tmp_path / "d")
    got = threading.Event()
    thread = threading.Thread(target=lambda: (waiter.lock(wait=True), got.set()), daemon=True)
    thread.start()
    time.sleep(0.3)
    assert not got.is_set()  # blocked on the first writer's lock
    (tmp_path / "d" / LOCK).unlink()  # the first writer gives up and clears its folder, then releases the lock
    first.unlock()
    assert got.wait(10)
    held = (tmp_path / "d" / LOCK)
    assert held.exists() and held.read_text().strip().isdigit()  # the waiter locked the file at the path
    third = CsvStore(tmp_path / "d")
    with pytest.raises(Exception, match="another sweep .* is writing to this folder"):
        third.lock()  # so a third writer is refused, as long as the waiter holds it
    waiter.unlock()
    third.lock()
    third.unlock()


def test_editing_a_user_tech_table_reruns_its_points(run_cli, tmp_path):
    from accelsim.hw.registry import arch_path

    tech = tmp_path / "mytech.yaml"
    tech.write_text("name: mytech\nbase: 45nm\nnode_nm: 16\n")
    arch = arch_path("edge-32x32").read_text().replace("tech: 16nm", f"tech: {tech}")
    assert str(tech) in arch
    (tmp_path / "arch.yaml").write_text(arch)
    (tmp_path / "s.yaml").write_text(f"name: t\nbase: {{workload: lenet5, arch: {tmp_path / 'arch.yaml'}}}\n"
                                     "grid:\n  recipe: [int8, magnitude-4]\n")
    out, fresh = tmp_path / "r", tmp_path / "fresh"
    assert run_cli("sweep", tmp_path / "s.yaml", "--out", out, "--quiet")[0] == 0
    tech.write_text("name: mytech\nbase: 45nm\nnode_nm: 7\n")
    code, _, err = run_cli("sweep", tmp_path / "s.yaml", "--out", out, "--resume", "--quiet")
    assert code == 0 and "2 rows (2 computed from inputs that have changed since)" in err
    assert run_cli("sweep", tmp_path / "s.yaml", "--out", fresh, "--quiet")[0] == 0
    assert (out / "results.csv").read_bytes() == (fresh / "results.csv").read_bytes()


def _swap_columns(path, a, b):
    rows = list(csv.reader(path.open()))
    i, j = rows[0].index(a), rows[0].index(b)
    for r in rows:
        r[i], r[j] = r[j], r[i]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue())


def test_a_resumed_table_takes_a_fresh_runs_layout(run_cli, tmp_path):
    from conftest import swept

    swept(tmp_path, SPEC, "fresh")
    # an earlier spec with one more axis, resumed with this one: its column goes, the table equals a fresh run's
    (tmp_path / "wide.yaml").write_text(SPEC.replace("grid:\n", "grid:\n  batch: [1, 2]\n"))
    assert run_cli("sweep", tmp_path / "wide.yaml", "--out", tmp_path / "r", "--quiet")[0] == 0
    assert run_cli("sweep", tmp_path / "s.yaml", "--out", tmp_path / "r", "--resume", "--quiet")[0] == 0
    for name in ("results.csv", "layers.csv"):
        assert (tmp_path / "r" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    # columns swapped by hand: read by name, written back in order
    _swap_columns(tmp_path / "r" / "results.csv", "latency_s", "energy_j")
    assert run_cli("sweep", tmp_path / "s.yaml", "--out", tmp_path / "r", "--resume", "--quiet")[0] == 0
    assert (tmp_path / "r" / "results.csv").read_bytes() == (tmp_path / "fresh" / "results.csv").read_bytes()


def test_two_different_rows_for_one_point_both_run_again(run_cli, tmp_path):
    from conftest import swept

    swept(tmp_path, SPEC, "fresh")
    swept(tmp_path, SPEC, "r")
    path = tmp_path / "r" / "results.csv"
    lines = path.read_text().split("\n")
    header = lines[0].split(",")
    cells = lines[1].split(",")
    i = header.index("latency_s")
    cells[i] = repr(float(cells[i]) * 2)  # an edited copy before the true row: which is right cannot be told
    path.write_text("\n".join([lines[0], ",".join(cells), *lines[1:]]))
    code, _, err = run_cli("sweep", tmp_path / "s.yaml", "--out", tmp_path / "r", "--resume", "--quiet")
    assert code == 0 and "moved 2 rows (2 repeating an id)" in err
    assert path.read_bytes() == (tmp_path / "fresh" / "results.csv").read_bytes()


def test_tech_digest_reads_no_yaml_per_point(tmp_path, monkeypatch):
    """A point's fingerprint reads a tech table's chain only when a file of it changed, and never for a bundled one
    (parsing it per point cost 5 ms a point: a 363-point sweep 16x slower)."""
    import accelsim.energy.tables as tables
    from accelsim.dse import evaluate

    calls = []
    real = tables.tech_files
    monkeypatch.setattr(tables, "tech_files", lambda name: calls.append(name) or real(name))
    evaluate.file_digests({"arch": "edge-32x32", "workload": "lenet5"})
    assert calls == []  # a bundled table's name
    tech = tmp_path / "t.yaml"
    tech.write_text("name: t\nbase: 45nm\nnode_nm: 16\n")
    setting = {"arch": "edge-32x32", "arch.tech": str(tech), "workload": "lenet5"}
    first = evaluate.file_digests(setting)["tech"]
    assert evaluate.file_digests(setting)["tech"] == first and len(calls) == 1
    tech.write_text("name: t\nbase: 45nm\nnode_nm: 7\n")
    assert evaluate.file_digests(setting)["tech"] != first and len(calls) == 2
