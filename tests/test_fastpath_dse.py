"""The sweep evaluator's per-process caches (configs, models, layer lists) change no number."""

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
    warm = accelsim.sweep(_space(), progress=False)  # configs, models and layer lists now cached
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
    assert ev._CONFIGS.get_or(key, lambda: None) is config and to_dict(config)["array"]["rows"] == 8
    cgraph = ev._cgraph("lenet-300-100", None, 0)
    assert ev._layers(cgraph) == list(cgraph) and ev._layers(cgraph) is ev._layers(cgraph)
    ev.clear_caches()
    assert len(ev._CONFIGS) == 0 and len(ev._MODELS) == 0


def test_model_cache_holds_as_many_models_as_configs():
    assert ev._MODELS.size >= ev._CONFIGS.size


def _variants(value, meta) -> list:
    out = [c for c in meta.get("choices") or () if c != value][:2]
    if isinstance(value, bool):
        out.append(not value)
    elif isinstance(value, int):
        out += [value + 1, value * 2, 0, -1, "x"]
    elif isinstance(value, float):
        out += [value * 1.5, -1.0, 0.0]
    elif isinstance(value, str):
        out += [value, ""]
    elif value is None:
        out += [1]
    else:
        out.append(value)
    return out


def test_derived_configs_equal_full_builds():
    """config_for builds a point's config from its arch's by the overrides alone (config.derive): equal to the
    full build wherever that succeeds, and left to the full build (its one-line error) wherever it fails."""
    import json

    from accelsim.config import apply_overrides, declared, derive
    from accelsim.errors import AccelsimError, ConfigError
    from accelsim.hw.registry import arch_names, config_from_dict, load_arch_dict

    derived = fell_back = 0
    for name in arch_names():
        try:
            raw, label = load_arch_dict(name)
            base = config_from_dict(raw, label)
        except AccelsimError:
            continue
        cases = []
        for path, _, meta, _ in declared(type(base)):
            cur = base
            for part in path.split("."):
                cur = getattr(cur, part, None)
            cases += [{path: v} for v in _variants(cur, meta)]
        if base.family == "systolic":  # cross-field rules: the array against its buffers
            cases += [{"array.rows": r, "array.cols": c, "sram.ifmap_kb": kb, "memory_model": "analytic"}
                      for r in (8, 512, 4096) for c in (16, 3000) for kb in (1, 64)]
            cases += [{"array": {"rows": 8}}, {"array.rows.x": 1}, {"array.nope": 1}, {"nope": 2}]
        for ov in cases:
            try:
                full = config_from_dict(apply_overrides(raw, ov), label)
            except ConfigError:
                full = None
            got = derive(base, ov)
            if got is None:
                fell_back += 1
                continue
            derived += 1
            assert full is not None, (name, ov)
            assert got == full and json.dumps(to_dict(got), default=repr) == json.dumps(to_dict(full), default=repr), \
                (name, ov)
    assert derived > 1000 and fell_back > 1000


def test_sweep_errors_stay_one_line_with_derived_configs():
    ev.clear_caches()
    ok = ev.SimulateEvaluator().validate({"arch": "scalesim-32x32-os", "workload": "lenet5", "arch.array.rows": 64})
    assert ok == []
    bad = ev.SimulateEvaluator().validate({"arch": "scalesim-32x32-os", "workload": "lenet5", "arch.array.rows": 0})
    assert len(bad) == 1 and bad[0].startswith("arch.array.rows must be an int") and "\n" not in bad[0]
    # (an array longer than its SRAM buffers is a valid config, as in SCALE-Sim; a cross-field rule still holds)
    assert ev.SimulateEvaluator().validate({"arch": "scalesim-32x32-os", "workload": "lenet5",
                                            "arch.array.rows": 60000}) == []
    banks = ev.SimulateEvaluator().validate({"arch": "scalesim-32x32-os", "workload": "lenet5",
                                             "arch.layout.ifmap_bank_num": 3})
    assert len(banks) >= 1 and all("\n" not in p for p in banks) and any("divisible by layout.ifmap_bank_num" in p
                                                                        for p in banks)
