"""LayerResult checks and NetworkResult totals: the faster code gives what the replaced code gave.

``_ref_check`` and ``_ref_total`` are verbatim copies of the replaced ``LayerResult.__post_init__``
and ``NetworkResult.total``; results must agree to the last bit and in dict order, and bad
results must raise the same ValueError message.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.report.results import _SUMMED, LayerResult, NetworkResult

SETTINGS = settings(max_examples=150, derandomize=True, deadline=None)


def _ref_check(r) -> None:
    for name in ("cycles", "latency_s", "energy_j", "utilization"):
        value = getattr(r, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"LayerResult '{r.name}': {name} is not finite ({value})")
    if r.cycles != r.compute_cycles + r.stall_cycles:
        raise ValueError(
            f"LayerResult '{r.name}': cycles ({r.cycles}) != compute_cycles ({r.compute_cycles}) "
            f"+ stall_cycles ({r.stall_cycles})"
        )


def _ref_sum_dicts(dicts) -> dict:
    out: dict = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def _ref_total(res: NetworkResult) -> dict:
    tot = {name: sum(getattr(r, name) for r in res.layers) for name in _SUMMED}
    tot["energy_breakdown_j"] = _ref_sum_dicts(r.energy_breakdown_j for r in res.layers)
    tot["sram_reads"] = _ref_sum_dicts(r.sram_reads for r in res.layers)
    tot["sram_writes"] = _ref_sum_dicts(r.sram_writes for r in res.layers)
    cycles = tot["cycles"]
    tot["utilization"] = sum(r.utilization * r.cycles for r in res.layers) / cycles if cycles else 0.0
    if res.dense is not None:
        dense_tot = _ref_total(res.dense)
        tot["speedup_vs_dense"] = dense_tot["latency_s"] / tot["latency_s"] if tot["latency_s"] else None
        tot["energy_saving_vs_dense"] = dense_tot["energy_j"] / tot["energy_j"] if tot["energy_j"] else None
    return tot


def _exact(value):
    """A value with every float replaced by its exact bits and every dict by its ordered items."""
    if isinstance(value, dict):
        return [(k, _exact(v)) for k, v in value.items()]
    if isinstance(value, float):
        return (type(value).__name__, "nan" if value != value else float.hex(float(value)))
    return (type(value).__name__, value)


def _outcome(fn):
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - the type and message are what is compared
        return ("raise", type(exc), str(exc))


class _Bare:
    """The fields of a LayerResult without its checks (to run the reference check on)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


number = st.one_of(
    st.integers(0, 10**9), st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1e3).map(np.float64),
    st.floats(0, 1e3, width=32).map(np.float32), st.integers(0, 100).map(np.int64),
)


@SETTINGS
@given(cycles=number, compute=st.integers(0, 10**9), stall=st.integers(0, 10**9), latency=number, energy=number,
       util=number, consistent=st.booleans())
def test_layer_result_checks_match_the_replaced_checks(cycles, compute, stall, latency, energy, util, consistent):
    if consistent:
        cycles = compute + stall
    kw = dict(name="l1", op="conv2d", macs=1, effective_macs=1, cycles=cycles, compute_cycles=compute,
              stall_cycles=stall, latency_s=latency, energy_j=energy, utilization=util)
    got = _outcome(lambda: LayerResult(**kw))
    want = _outcome(lambda: _ref_check(_Bare(**kw)))
    assert got[0] == want[0], (got, want)
    if got[0] == "raise":
        assert got[1:] == want[1:]
        assert got[1] is ValueError


def test_layer_result_bad_values_messages():
    base = dict(name="c1", op="conv2d", macs=1, effective_macs=1, cycles=3, compute_cycles=2, stall_cycles=1,
                latency_s=1e-9, energy_j=1e-12)
    with pytest.raises(ValueError, match=r"^LayerResult 'c1': latency_s is not finite \(nan\)$"):
        LayerResult(**{**base, "latency_s": float("nan")})
    with pytest.raises(ValueError, match=r"^LayerResult 'c1': energy_j is not finite \(inf\)$"):
        LayerResult(**{**base, "energy_j": float("inf")})
    with pytest.raises(ValueError, match=r"^LayerResult 'c1': utilization is not finite \(-inf\)$"):
        LayerResult(**{**base, "utilization": -math.inf})
    with pytest.raises(ValueError, match=r"^LayerResult 'c1': cycles \(3\) != compute_cycles \(1\) \+ stall_cycles \(1\)$"):
        LayerResult(**{**base, "compute_cycles": 1})
    with pytest.raises(ValueError, match=r"^LayerResult 'c1': latency_s is not finite \(nan\)$"):
        LayerResult(**{**base, "latency_s": np.float64("nan")})


cats = st.dictionaries(st.sampled_from(["compute", "sram", "dram", "static"]), st.floats(0, 1e-3, allow_nan=False), max_size=4)
bufs = st.dictionaries(st.sampled_from(["ifmap", "filter", "ofmap"]), st.integers(0, 10**9), max_size=3)


@st.composite
def layer_results(draw):
    compute = draw(st.integers(0, 10**9))
    stall = draw(st.integers(0, 10**6))
    return LayerResult(
        name=draw(st.sampled_from(["a", "b"])), op="conv2d", macs=draw(st.integers(0, 10**12)),
        effective_macs=draw(st.one_of(st.integers(0, 10**12), st.floats(0, 1e12))), cycles=compute + stall,
        compute_cycles=compute, stall_cycles=stall, latency_s=draw(st.floats(0, 1, allow_nan=False)),
        energy_j=draw(st.one_of(st.floats(0, 1, allow_nan=False), st.just(0))), energy_breakdown_j=draw(cats),
        sram_reads=draw(bufs), sram_writes=draw(bufs), dram_read_bytes=draw(st.integers(0, 10**9)),
        dram_write_bytes=draw(st.integers(0, 10**9)), utilization=draw(st.floats(0, 1)),
        weight_storage_bits=draw(st.integers(0, 10**9)),
    )


@SETTINGS
@given(layers=st.lists(layer_results(), max_size=12), dense=st.one_of(st.none(), st.lists(layer_results(), max_size=4)))
def test_network_total_matches_the_replaced_code(layers, dense):
    d = NetworkResult(arch={}, workload="w", layers=dense) if dense is not None else None
    res = NetworkResult(arch={}, workload="w", layers=layers, dense=d)
    got = _outcome(lambda: res.total)
    want = _outcome(lambda: _ref_total(res))
    assert got[0] == want[0]
    if got[0] == "ok":
        assert _exact(got[1]) == _exact(want[1])
    else:
        assert got[1:] == want[1:]


def test_network_total_of_no_layers():
    tot = NetworkResult(arch={}, workload="w", layers=[]).total
    assert _exact(tot) == _exact(_ref_total(NetworkResult(arch={}, workload="w", layers=[])))
    assert tot["cycles"] == 0 and tot["utilization"] == 0.0 and tot["energy_breakdown_j"] == {}


def test_not_run_equals_the_constructor():
    from accelsim.energy.actions import ActionCounts
    from accelsim.report.results import LayerResult

    note = "not run here"
    fast = LayerResult.not_run("relu1", "activation", note)
    slow = LayerResult("relu1", "activation", 0, 0, 0, 0, 0, 0.0, 0.0, utilization=0.0,
                       extra={"mapped": False, "note": note}, actions=ActionCounts())
    assert fast == slow and fast.to_dict(with_actions=True) == slow.to_dict(with_actions=True)
    assert [type(getattr(fast, f)) for f in fast.__dataclass_fields__] == [type(getattr(slow, f)) for f in slow.__dataclass_fields__]
    # fresh containers each time
    other = LayerResult.not_run("relu2", "activation", note)
    assert other.extra is not fast.extra and other.energy_breakdown_j is not fast.energy_breakdown_j
