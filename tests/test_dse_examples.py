"""The bundled sweep examples, each on a reduced space, and the must-show of examples/sweep-quick.yaml:
serial, --workers 2, --scheduler (a LocalCluster) and SIGKILL + --resume leave the same table."""

import copy
import filecmp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import accelsim
from accelsim.dse.space import read_spec, space_from_spec
from accelsim.dse.store import load_results, read_rows

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"

# a subprocess CLI whose evaluator sleeps before each point, so that it can be killed midway
SLOW_CLI = (
    "import sys, time\n"
    "import accelsim.dse.evaluate as e\n"
    "orig = e.SimulateEvaluator.__call__\n"
    "def slow(self, s):\n"
    "    time.sleep(0.1)\n"
    "    return orig(self, s)\n"
    "e.SimulateEvaluator.__call__ = slow\n"
    "from accelsim.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _cli(*args, slow=False, **kw):
    cmd = [sys.executable, "-c", SLOW_CLI] if slow else [sys.executable, "-m", "accelsim"]
    return cmd + [str(a) for a in args]


def test_sweep_quick_spec_shape():
    spec = read_spec(EX / "sweep-quick.yaml")
    df = accelsim.sweep(spec, progress=False)
    assert len(df) >= 50 and (df["status"] == "ok").all()
    assert df["family"].nunique() >= 2 and df["recipe"].nunique() >= 2


def test_sweep_quick_workers_scheduler_and_resume_leave_one_table(tmp_path, run_cli):
    distributed = pytest.importorskip("distributed")
    spec = EX / "sweep-quick.yaml"
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "serial", "--quiet")
    assert code == 0, err
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "workers", "--workers", "2", "--quiet")
    assert code == 0, err
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0") as cluster:
        code, out, err = run_cli("sweep", spec, "--out", tmp_path / "dask", "--scheduler", cluster.scheduler_address,
                                 "--quiet")
    assert code == 0, err

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli("sweep", spec, "--out", killed, "--quiet", slow=True), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if (killed / "results.csv").exists() and len(read_rows(killed / "results.csv")[1]) >= 10:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(read_rows(killed / "results.csv")[1])
    assert 10 <= done < 56
    res = subprocess.run(_cli("sweep", spec, "--out", killed, "--resume", "--quiet"), capture_output=True, text=True,
                         cwd=ROOT)
    assert res.returncode == 0, res.stderr
    ref = tmp_path / "serial" / "results.csv"
    for name in ("workers", "dask", "killed"):
        assert filecmp.cmp(ref, tmp_path / name / "results.csv", shallow=False), name
    df = load_results(killed)
    assert len(df) == 56 and df["id"].is_unique


def _reduced(name, **grid):
    spec = copy.deepcopy(read_spec(EX / name))
    for key, values in grid.items():
        spec["grid"][key.replace("__", ".")] = values
    return spec


def test_systolic_mobilenetv2_example_reduced(tmp_path, run_cli):
    spec = _reduced("systolic-mobilenetv2.yaml", arch__array__rows=[8, 64], arch__array__cols=[16, 256],
                    arch__array__dataflow=["os", "ws"])
    assert set(read_spec(EX / "systolic-mobilenetv2.yaml")["grid"]["arch.array.rows"]) == {8, 16, 32, 64, 128, 256}
    df = accelsim.sweep(spec, store=tmp_path, progress=False)
    assert len(df) == 8 and (df["status"] == "ok").all()
    front = accelsim.pareto_front(df, spec["objectives"])
    assert 1 <= len(front) <= len(df)
    # the fastest point is on the front
    assert df["latency_s"].idxmin() in front.index
    from accelsim.dse.report import write_report

    path = write_report(spec, df, tmp_path, source="systolic-mobilenetv2.yaml")
    text = path.read_text()
    for section in ("## Pareto front", "## Sensitivity", "figures/roofline.png", "figures/breakdown.png"):
        assert section in text
    for fig in ("pareto", "roofline", "breakdown"):
        for ext in ("png", "svg"):
            assert (tmp_path / "figures" / f"{fig}.{ext}").stat().st_size > 2000


SMALL_EIE_RECIPE = {"name": "random10-share4", "pipeline": [{"prune": {"method": "random", "density": 0.1}},
                                                             {"share": {"bits": 4}}]}


def test_eie_pe_queue_example_reduced():
    """The example's axes on a small network (the nine benchmark layers take minutes: see the slow test)."""
    spec = _reduced("eie-pe-queue.yaml", arch__n_pe=[16, 64], arch__queue_depth=[1, 8])
    spec["base"].update(workload="lenet-300-100", recipe=SMALL_EIE_RECIPE)
    df = accelsim.sweep(spec, progress=False)
    assert len(df) == 4 and (df["status"] == "ok").all(), df["error"].tolist()
    lat = df.set_index(["arch.n_pe", "arch.queue_depth"])["latency_s"]
    assert lat[(64, 8)] <= lat[(64, 1)] and lat[(16, 8)] <= lat[(16, 1)]  # deeper queues balance load
    assert lat[(64, 8)] < lat[(16, 8)]  # more PEs, less time
    assert set(read_spec(EX / "eie-pe-queue.yaml")["base"].values()) == {"eie", "eie-benchmarks"}


@pytest.mark.slow
def test_eie_pe_queue_example_on_the_benchmarks():
    spec = _reduced("eie-pe-queue.yaml", arch__n_pe=[64], arch__queue_depth=[1, 8])
    df = accelsim.sweep(spec, progress=False)
    assert (df["status"] == "ok").all()
    lat = df.set_index("arch.queue_depth")["latency_s"]
    assert lat[8] < lat[1]


def test_resnet50_pruning_example_reduced():
    """The example's structure (three families, zipped ratios, EIE baseline) on LeNet-5 at 2x and 8x."""
    spec = copy.deepcopy(read_spec(EX / "resnet50-pruning.yaml"))
    assert spec["base"]["workload"] == "resnet50"
    spec["base"]["workload"] = "lenet5"
    for sub in spec["spaces"]:
        sub["grid"]["seed"] = [0, 1]
        keep = [0, 2]  # ratios 2 and 8
        sub["zip"] = {k: [v[i] for i in keep] for k, v in sub["zip"].items()}
    space = space_from_spec(spec)
    assert len(space.points()) == 3 * 2 * 2
    df = accelsim.sweep(spec, progress=False)
    assert (df["status"] == "ok").all(), df["error"].dropna().tolist()
    assert set(df["family"]) == {"systolic", "gpu", "eie"}
    assert df["speedup_vs_dense"].notna().all()
    for ratio in (2, 8):
        sub = df[df["tag.ratio"] == ratio]
        assert sub["compression_ratio"].round(1).eq(ratio).all()
        assert sub["theoretical_speedup"].between(0.9 * ratio, 1.1 * ratio).all()
    from accelsim.report.plots import tradeoff, tradeoff_table

    table = tradeoff_table(df, group="arch_name", ratio="tag.ratio")
    assert len(table) == 6 and set(table["n"]) == {2}
    eie = table[table["hardware"] == "eie"].sort_values("ratio_mean")
    assert eie["real_mean"].iloc[1] > eie["real_mean"].iloc[0] > 1.0  # EIE turns sparsity into speed


@pytest.mark.slow
def test_resnet50_pruning_example_one_ratio():
    spec = copy.deepcopy(read_spec(EX / "resnet50-pruning.yaml"))
    for sub in spec["spaces"]:
        sub["grid"]["seed"] = [0]
        sub["zip"] = {k: [v[2]] for k, v in sub["zip"].items()}
    df = accelsim.sweep(spec, progress=False)
    assert (df["status"] == "ok").all() and len(df) == 3
