"""Deterministic toy evaluators for the sweep tests (no test functions here).

They stand in for a hardware model where a test is about the sweep machinery itself (spaces,
stores, executors, resume), so those tests stay fast and independent of the models.
"""

import math
import os
import time

from accelsim.errors import SimulationError


def toy(setting):
    """latency = x / y, energy = x * y / 2 (+ an optional offset); x == 13 is 'unsupported'."""
    x, y = setting["x"], setting.get("y", 1)
    if x == 13:
        raise SimulationError("x=13 is not supported by the toy model")
    return {"latency_s": x / y + setting.get("offset", 0.0), "energy_j": x * y * 0.5, "score": math.log(x * y)}


def slow_toy(setting):
    """toy() after a short sleep (so a subprocess running it can be killed midway)."""
    time.sleep(float(os.environ.get("ACCELSIM_TOY_SLEEP", "0.02")))
    return toy(setting)


def buggy(setting):
    """Fails with a non-accelsim exception on x == 3 (an evaluator bug)."""
    if setting["x"] == 3:
        raise ZeroDivisionError("division by zero")
    return toy(setting)


class Validating:
    """toy() plus a validate() hook that rejects negative x and unknown keys."""

    def __init__(self):
        self.calls = 0

    def validate(self, setting):
        problems = []
        if setting.get("x", 0) < 0:
            problems.append(f"x must be >= 0; got {setting['x']}")
        for key in setting:
            if key not in ("x", "y"):
                problems.append(f"{key}: unknown key")
        return problems

    def __call__(self, setting):
        self.calls += 1
        return toy(setting)


def toy_layers(setting):
    """toy() plus three per-layer rows whose latencies sum to the point's."""
    row = toy(setting)
    parts = (0.5, 0.3, 0.2)
    layers = [{"layer": f"l{i}", "op": "linear", "latency_s": row["latency_s"] * p, "energy_j": row["energy_j"] * p}
              for i, p in enumerate(parts)]
    return {"row": row, "layers": layers}


def test_chunks_keep_points_that_share_work_together():
    """Points that differ only in the array's column count share their ifmap passes in one process
    (docs/models/systolic.md §3.8): with the evaluator's affinity, the executors put each such run in one chunk,
    fewest columns first (the pass with the most sweeps serves the rest), cutting only a run longer than a
    chunk; every point is in exactly one chunk, and guided sizes still shrink towards single points."""
    from accelsim.dse.evaluate import affinity_key, cache_key
    from accelsim.dse.executors import _chunks

    sizes = [8, 12, 16, 24, 32]
    items = [(str(i), {"arch": "a", "workload": "w", "arch.array.cols": c, "arch.array.dataflow": d,
                       "arch.array.rows": r})
             for i, (c, d, r) in enumerate((c, d, r) for c in sizes for d in ("os", "ws") for r in sizes)]
    chunks = _chunks(items, cache_key, 2, affinity_key)
    assert sorted(pid for ch in chunks for pid, _ in ch) == sorted(pid for pid, _ in items)
    run_of = lambda s: (s["arch.array.dataflow"], s["arch.array.rows"])
    for ch in chunks:
        runs = [run_of(s) for _, s in ch]
        # a chunk holds whole runs (all five column counts, ascending) except where a run was cut
        for r in set(runs):
            cols = [s["arch.array.cols"] for _, s in ch if run_of(s) == r]
            assert cols == sorted(cols)
    whole = sum(1 for ch in chunks for r in {run_of(s) for _, s in ch} if sum(run_of(s) == r for _, s in ch) == 5)
    assert whole >= 6, whole  # most of the 10 runs never leave one chunk
    assert len(chunks[-1]) <= 2
    # without affinity: the given order, cut by size alone (columns outermost: runs spread over every chunk)
    plain = _chunks(items, cache_key, 2)
    assert [pid for ch in plain for pid, _ in ch] == [pid for pid, _ in items]


def _die_on_third(setting):
    """An evaluator whose worker process dies (as under SIGKILL or the OOM killer) on one point."""
    import os

    if setting.get("batch") == 3:
        os._exit(9)
    return {"latency_s": 1.0 / setting.get("batch", 1)}


def test_a_dead_worker_is_one_line_and_resume_finishes(tmp_path):
    """A held-out crash round (38 kill-and-resume trials, every table identical to serial) found a killed pool
    worker reported as an internal error (BrokenProcessPool, exit 1): it is a SweepError naming what is saved and
    --resume; the store keeps the finished points."""
    import pytest

    import accelsim
    from accelsim.errors import SweepError

    spec = {"name": "dead", "base": {"workload": "lenet5", "arch": "edge-32x32"},
            "grid": {"batch": [1, 2, 3, 4, 5, 6]}}
    with pytest.raises(SweepError, match=r"a worker process died .* run the sweep again with --resume \(\d+ of 6 points saved"):
        accelsim.sweep(spec, evaluate=_die_on_third, executor=2, store=tmp_path / "o", progress=False)
