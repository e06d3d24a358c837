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
