"""Fast paths of the energy bookkeeping give exactly what the validating paths gave.

Each fast path (ActionCounts.from_pairs, EnergyTable, the inline checks of estimate,
systolic count_actions with memoized keys) is compared with a verbatim copy of the code it replaced
(the ``_ref_*`` functions below): same values to the last bit, same insertion order (it decides
the summation order), and the same exception type and message for every bad input.
"""

from __future__ import annotations

import math
from collections.abc import ItemsView, KeysView, Mapping, ValuesView

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.energy.actions import ActionCounts
from accelsim.energy.estimate import PJ, STATIC, EnergyBreakdown, EnergyTable, _key_text, estimate
from accelsim.errors import SimulationError
from accelsim.hw.registry import build_model, load_arch
from accelsim.hw.systolic import energy as se

SETTINGS = settings(max_examples=150, derandomize=True, deadline=None)


# ------------------------------------------------------------------ the replaced code, verbatim
def _ref_counts(counts=()) -> dict:
    out: dict = {}
    items = counts.items() if isinstance(counts, Mapping) else counts
    for key, value in items:
        if not (isinstance(key, tuple) and len(key) == 3 and all(isinstance(k, str) for k in key)):
            raise TypeError(f"action key must be (component, action, variant) strings; got {key!r}")
        if value:
            out[key] = out.get(key, 0.0) + float(value)
    return out


def _ref_estimate(counts, ert, static_power_w=0.0, seconds=0.0):
    for what, v in (("static_power_w", static_power_w), ("seconds", seconds)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise SimulationError(f"energy estimate: {what} must be a finite number >= 0; got {v!r}")
    by_category: dict = {}
    by_component: dict = {}
    total = 0.0
    for key, count in counts.items():
        if not (isinstance(count, (int, float)) and math.isfinite(count)):
            raise SimulationError(f"energy estimate: count of {_key_text(key)} must be a finite number; got {count!r}")
        if count < 0:
            raise SimulationError(f"energy estimate: count of {_key_text(key)} is negative ({count})")
        if count == 0:
            continue
        entry = ert.get(key)
        if entry is None:
            same = sorted(_key_text(k) for k in ert if isinstance(k, tuple) and k[:1] == key[:1])
            hint = f"; the ERT prices {', '.join(same)}" if same else ""
            raise SimulationError(f"energy estimate: no ERT entry for action {_key_text(key)}{hint}")
        try:
            energy_pj, category = entry
        except (TypeError, ValueError):
            raise SimulationError(
                f"energy estimate: ERT entry for {_key_text(key)} must be (energy_pj, category); got {entry!r}"
            ) from None
        if not (isinstance(energy_pj, (int, float)) and math.isfinite(energy_pj) and energy_pj >= 0):
            raise SimulationError(
                f"energy estimate: ERT energy of {_key_text(key)} must be a finite number >= 0 pJ; got {energy_pj!r}"
            )
        joules = float(count) * float(energy_pj) * PJ
        by_category[category] = by_category.get(category, 0.0) + joules
        by_component[key[0]] = by_component.get(key[0], 0.0) + joules
        total += joules
    static = float(static_power_w) * float(seconds)
    if static > 0:
        by_category[STATIC] = by_category.get(STATIC, 0.0) + static
        by_component[STATIC] = by_component.get(STATIC, 0.0) + static
        total += static
    return EnergyBreakdown(by_category, by_component, total)


def _ref_count_actions(config, *, width, active_macs, gated_macs, slots, sram_reads, sram_writes, dram_read_bytes,
                       dram_write_bytes) -> dict:
    v = se.mac_variant(config, width)
    word_bits = config.sram.word_bytes * 8
    moving = 2 if config.dataflow == "os" else 1
    acc = f"{config.pe.accumulator_bits}b"
    counts = [
        (("pe", "mac", v), active_macs),
        (("pe", "mac_gated", v), gated_macs),
        (("pe_reg", "write", f"{width}b"), moving * slots),
        (("acc_reg", "write", acc), slots),
        (("pe_link", "transfer", f"{width}b"), moving * slots),
        (("pe_link", "transfer", acc), 0 if moving == 2 else slots),
        (("ifmap_sram", "read", f"{word_bits}b"), sram_reads.get("ifmap", 0)),
        (("filter_sram", "read", f"{word_bits}b"), sram_reads.get("filter", 0)),
        (("ofmap_sram", "write", f"{word_bits}b"), sram_writes.get("ofmap", 0)),
        (("dram", "read", config.dram.type), dram_read_bytes * 8),
        (("dram", "write", config.dram.type), dram_write_bytes * 8),
    ]
    return _ref_counts(counts)


# ------------------------------------------------------------------ exact comparison helpers
def _bits(x):
    """A float's exact bits (NaN payloads aside); other values as they are."""
    if isinstance(x, float):
        return "nan" if x != x else float.hex(x)
    return x


def _exact(d) -> list:
    """Items in insertion order with exact float bits and exact types."""
    return [(k, type(v).__name__, _bits(v)) for k, v in d.items()]


def _same_breakdown(a: EnergyBreakdown, b: EnergyBreakdown) -> None:
    assert _exact(a.by_category) == _exact(b.by_category)
    assert _exact(a.by_component) == _exact(b.by_component)
    assert _bits(a.total_j) == _bits(b.total_j) and type(a.total_j) is type(b.total_j)


def _outcome(fn, *args, **kw):
    try:
        return ("ok", fn(*args, **kw))
    except Exception as exc:  # noqa: BLE001 - the type and message are what is compared
        return ("raise", type(exc), str(exc))


# ------------------------------------------------------------------ strategies
COMPONENTS = ["pe", "pe_link", "sram", "dram"]
KEYS = [(c, a, v) for c in COMPONENTS for a in ("read", "mac") for v in ("8b", "int8")]
key_st = st.sampled_from(KEYS)
good_count = st.one_of(st.floats(0, 1e15, allow_nan=False), st.integers(0, 10**12), st.just(0.0), st.just(-0.0))
any_count = st.one_of(
    good_count, st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.booleans(),
    st.floats(0, 1e6).map(np.float64), st.floats(0, 1e6, width=32).map(np.float32), st.just("3"), st.none(),
)
good_energy = st.one_of(st.floats(0, 1e4, allow_nan=False), st.integers(0, 1000))
any_energy = st.one_of(good_energy, st.floats(allow_nan=True, allow_infinity=True), st.just("1"),
                       st.floats(0, 10).map(np.float64))
category_st = st.sampled_from(["compute", "sram", "dram", "noc", "register"])
entry_st = st.one_of(
    st.tuples(good_energy, category_st), st.tuples(any_energy, category_st), st.just(0.3), st.just((1.0,)),
    st.lists(st.one_of(good_energy, category_st), min_size=2, max_size=2), st.just("ab"),
)
static_st = st.one_of(st.just(0.0), st.floats(0, 10, allow_nan=False), st.integers(0, 3),
                      st.floats(allow_nan=True, allow_infinity=True), st.just(-1.0), st.just("1"))


# ------------------------------------------------------------------ ActionCounts
@SETTINGS
@given(st.lists(st.tuples(key_st, any_count.filter(lambda v: not isinstance(v, (str, type(None))))), max_size=30))
def test_action_counts_constructors_agree_with_the_validating_one(pairs):
    ref = _ref_counts(pairs)
    a = ActionCounts(pairs)
    b = ActionCounts.from_pairs([k for k, _ in pairs], [v for _, v in pairs])
    c = ActionCounts(dict(pairs))
    assert _exact(a) == _exact(ref) == _exact(b)
    assert _exact(c) == _exact(_ref_counts(dict(pairs)))
    # the dict views equal the Mapping mixins' views (same contents and order)
    assert list(a.items()) == list(ItemsView(a)) or any(v != v for v in a.values())
    assert list(a.keys()) == list(KeysView(a)) and len(list(a.values())) == len(list(ValuesView(a)))
    # sums and scaling: same as rebuilding from pairs with the validating constructor
    assert _exact(a + b) == _exact(_ref_counts(list(ref.items()) * 2))
    assert _exact(a.scaled(0.5)) == _exact(_ref_counts({k: v * 0.5 for k, v in ref.items()}))
    assert _exact(a.scaled(0)) == _exact(_ref_counts({k: v * 0 for k, v in ref.items()}))


def test_action_counts_bad_keys_still_rejected():
    for bad in [("pe", "mac"), ["pe", "mac", "int8"], ("pe", "mac", 8), "pe.mac.int8", ("pe", None, "x"), 3]:
        with pytest.raises(TypeError) as got:
            ActionCounts([(bad, 1.0)])
        with pytest.raises(TypeError) as want:
            _ref_counts([(bad, 1.0)])
        assert str(got.value) == str(want.value)
        assert str(got.value).startswith("action key must be (component, action, variant) strings; got")

    class Name(str):
        pass

    # string subclasses and tuple subclasses stay accepted, as before
    assert ActionCounts([((Name("pe"), "mac", "int8"), 2)])[("pe", "mac", "int8")] == 2.0
    assert ActionCounts() == ActionCounts(()) == ActionCounts({}) and len(ActionCounts()) == 0
    assert ActionCounts()[("pe", "mac", "int8")] == 0.0


# ------------------------------------------------------------------ estimate
@SETTINGS
@given(
    counts=st.dictionaries(key_st, any_count, max_size=8),
    ert=st.dictionaries(key_st, entry_st, max_size=12),
    static=static_st,
    seconds=static_st,
)
def test_estimate_matches_the_validating_code_on_any_input(counts, ert, static, seconds):
    want = _outcome(_ref_estimate, counts, ert, static, seconds)
    for c in (counts, _as_action_counts(counts)):
        if c is None:
            continue
        ref = want if c is counts else _outcome(_ref_estimate, c, ert, static, seconds)
        for table in (ert, EnergyTable(ert)):
            got = _outcome(estimate, c, table, static, seconds)
            assert got[0] == ref[0], (got, ref)
            if got[0] == "ok":
                _same_breakdown(got[1], ref[1])
            else:
                assert got[1:] == ref[1:]


def _as_action_counts(counts):
    try:
        return ActionCounts(counts)
    except (TypeError, ValueError):
        return None


@SETTINGS
@given(
    counts=st.dictionaries(key_st, good_count, max_size=16),
    energies=st.dictionaries(key_st, st.tuples(st.floats(0, 1e4, allow_nan=False), category_st)),
    seconds=st.floats(0, 1, allow_nan=False),
)
def test_estimate_fast_path_is_bit_identical(counts, energies, seconds):
    ert = dict(energies)
    for k in counts:  # every counted action priced: the common case the fast path serves
        ert.setdefault(k, (0.25, "compute"))
    a = ActionCounts(counts)
    _same_breakdown(estimate(a, EnergyTable(ert), 1e-3, seconds), _ref_estimate(a, ert, 1e-3, seconds))


def test_energy_table_is_the_same_mapping_read_only():
    ert = {("pe", "mac", "int8"): (0.3, "compute"), ("sram", "read", "8b"): (2, "sram"), ("x", "y", "z"): (-1.0, "noc")}
    t = EnergyTable(ert)
    assert t == ert and dict(t) == ert and list(t) == list(ert) and len(t) == 3
    assert t[("pe", "mac", "int8")] == (0.3, "compute") and t.get(("nope", "a", "b")) is None
    assert ("x", "y", "z") in t and ("nope", "a", "b") not in t
    with pytest.raises(TypeError):
        t[("pe", "mac", "int8")] = (1.0, "compute")  # type: ignore[index]
    import pickle

    back = pickle.loads(pickle.dumps(t))  # models holding a table travel to worker processes
    assert type(back) is EnergyTable and back == t and back._checked == t._checked
    ert[("pe", "mac", "int8")] = (9.0, "compute")  # the table copied its entries
    assert t[("pe", "mac", "int8")] == (0.3, "compute")
    # a bad entry is kept and raises, with the same message, only when the action is counted
    assert estimate(ActionCounts({("pe", "mac", "int8"): 1}), t).total_j == 0.3 * PJ
    with pytest.raises(SimulationError, match=r"^energy estimate: ERT energy of x\.y\.z must be a finite number >= 0 pJ; got -1\.0$"):
        estimate(ActionCounts({("x", "y", "z"): 1}), t)
    with pytest.raises(SimulationError, match=r"^energy estimate: no ERT entry for action pe\.mac\.int4; the ERT prices pe\.mac\.int8$"):
        estimate(ActionCounts({("pe", "mac", "int4"): 1}), t)


def test_bad_counts_are_still_rejected_on_the_fast_path():
    t = EnergyTable({("pe", "mac", "int8"): (0.3, "compute")})
    for bad, msg in [(float("nan"), "must be a finite number; got nan"), (float("inf"), "must be a finite number; got inf"),
                     (-2.0, "is negative (-2.0)"), (-1, "is negative (-1)")]:
        for counts in (ActionCounts({("pe", "mac", "int8"): bad}), {("pe", "mac", "int8"): bad}):
            with pytest.raises(SimulationError) as got:
                estimate(counts, t)
            with pytest.raises(SimulationError) as want:
                _ref_estimate(counts, dict(t))
            assert str(got.value) == str(want.value)
            assert str(got.value).startswith("energy estimate: count of pe.mac.int8 ")
        assert str(got.value) == f"energy estimate: count of pe.mac.int8 {msg}"  # the plain-dict counts
    with pytest.raises(SimulationError, match=r"^energy estimate: seconds must be a finite number >= 0; got nan$"):
        estimate(ActionCounts(), t, 1.0, float("nan"))


# ------------------------------------------------------------------ systolic count_actions / ERT
CONFIGS = [
    load_arch("scalesim-32x32-os"),
    load_arch("edge-32x32", {"array.dataflow": "ws"}),
    load_arch("edge-32x32-2of4"),
    load_arch("tpu-v1"),
    # operands as wide as the partial sums: two action keys are equal and must add up
    load_arch("scalesim-32x32-os", {"array.dataflow": "is", "pe.bits": 32, "pe.accumulator_bits": 32}),
]


@SETTINGS
@given(
    cfg=st.sampled_from(CONFIGS),
    values=st.lists(st.one_of(st.integers(0, 10**9), st.floats(0, 1e9, allow_nan=False)), min_size=9, max_size=9),
)
def test_count_actions_matches_the_validating_code(cfg, values):
    kw = dict(
        width=cfg.pe.bits, active_macs=values[0], gated_macs=values[1], slots=values[2],
        sram_reads={"ifmap": values[3], "filter": values[4]}, sram_writes={"ofmap": values[5]},
        dram_read_bytes=values[6], dram_write_bytes=values[7],
    )
    got = se.count_actions(se.action_keys(cfg, kw["width"]), **{k: v for k, v in kw.items() if k != "width"})
    assert type(got) is ActionCounts
    assert _exact(got) == _exact(_ref_count_actions(cfg, **kw))
    model = build_model(cfg)
    ert, static = model.energy_table, model.static_power_w
    assert isinstance(ert, EnergyTable)
    _same_breakdown(estimate(got, ert, static_power_w=static, seconds=values[8] * 1e-12),
                    _ref_estimate(_ref_count_actions(cfg, **kw), dict(ert), static, values[8] * 1e-12))


def test_count_actions_keys_follow_the_config_object():
    a, b = load_arch("edge-32x32"), load_arch("edge-32x32", {"dram.type": "hbm2"})
    kw = dict(active_macs=1, gated_macs=0, slots=1, sram_reads={}, sram_writes={}, dram_read_bytes=1, dram_write_bytes=1)
    assert ("dram", "read", a.dram.type) in list(se.count_actions(se.action_keys(a, 8), **kw))
    assert ("dram", "read", "hbm2") in list(se.count_actions(se.action_keys(b, 8), **kw))
    # the same width as an int and as a float are different variants, as before
    assert _exact(se.count_actions(se.action_keys(a, 8.0), **kw)) == _exact(_ref_count_actions(a, width=8.0, **kw))
    assert _exact(se.count_actions(se.action_keys(a, 8), **kw)) == _exact(_ref_count_actions(a, width=8, **kw))


def test_systolic_layers_priced_as_by_the_validating_code():
    """Every layer of a real network: the model's counts and energy equal the replaced code's."""
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.workload.zoo import load_workload

    layers = list(CompressedGraph.dense(load_workload("lenet5")))
    for cfg in CONFIGS[:3]:
        model = build_model(cfg)
        for cl in layers:
            r = model.simulate(cl, 2)
            ref = _ref_estimate(r.actions, dict(model.energy_table), model.static_power_w, r.latency_s)
            assert _bits(r.energy_j) == _bits(ref.total_j)
            assert _exact(r.energy_breakdown_j) == _exact(ref.by_category)
            assert _exact(r.actions) == _exact(_ref_counts(list(r.actions.items())))
