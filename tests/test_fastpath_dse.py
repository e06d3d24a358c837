"""The sweep evaluator's per-process caches (models, arch dicts, layer lists) change no number."""

from __future__ import annotations

import pandas as pd

import accelsim
from accelsim.config import to_dict
from accelsim.dse import Grid, Space
from accelsim.dse import evaluate as ev


def _space():
    return Space(base={"arch": "edge-32x32", "workload": "lenet-300-100"},
                 axes=[Grid({"arch.array.rows": [4, 8, 16], "arch.array.cols": [8, 32], "arch.array.dataflow": ["os", "ws", "is"],
                             "recipe": [None, "magnitude-8"]})])


def test_warm_sweep_equals_cold_sweep_and_direct_simulation():
    ev.clear_caches()
    cold = accelsim.sweep(_space(), progress=False)
    warm = accelsim.sweep(_space(), progress=False)  # models, arch dicts and layer lists now cached
    assert (cold["status"] == "ok").all()
    pd.testing.assert_frame_equal(cold, warm, check_exact=True)
    for _, row in cold.iloc[::7].iterrows():
        overrides = {"array.rows": row["arch.array.rows"], "array.cols": row["arch.array.cols"],
                     "array.dataflow": row["arch.array.dataflow"]}
        rc = row["recipe"] if isinstance(row["recipe"], str) else None
        tot = accelsim.simulate("edge-32x32", "lenet-300-100", recipe=rc, overrides=overrides).total
        for name in ("cycles", "latency_s", "energy_j", "dram_read_bytes", "utilization"):
            assert row[name] == tot[name], name


def test_cached_pieces_equal_what_they_replace():
    ev.clear_caches()
    setting = {"arch": "edge-32x32", "workload": "lenet-300-100", "arch.array.rows": 8}
    ev.SimulateEvaluator()(setting)
    config = ev.config_for("edge-32x32", {"array.rows": 8})
    key = ev._key(["edge-32x32", {"array.rows": 8}])
    assert ev._ARCH_DICTS.get_or(key, lambda: None) == to_dict(config)
    cgraph = ev._cgraph("lenet-300-100", None, 0)
    assert ev._layers(cgraph) == list(cgraph) and ev._layers(cgraph) is ev._layers(cgraph)
    ev.clear_caches()
    assert len(ev._ARCH_DICTS) == 0 and len(ev._MODELS) == 0


def test_model_cache_holds_as_many_models_as_configs():
    assert ev._MODELS.size >= ev._CONFIGS.size
