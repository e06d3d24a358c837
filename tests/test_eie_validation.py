"""The EIE paper reproduced (quick subset; the nine-layer run is marked slow): same checks as `accelsim validate`."""

from __future__ import annotations

import pytest

from accelsim.hw.eie import validation as V


@pytest.fixture(scope="module")
def quick_checks():
    return V.checks(quick=True)


def _latency_rows(checks):
    return [c for c in checks if c.item.endswith("latency (64 PE, 800 MHz)")]


def test_quick_checks_pass(quick_checks):
    # what is asserted holds: every check with a verdict but the latency goal rows (two miss the goal: xfail below)
    rows = _latency_rows(quick_checks)
    assert len(rows) == len(V.SMALL) and all(c.kind == "asserted" and c.rel_tol == V.LATENCY_GOAL_TOL for c in rows)
    judged = [c for c in quick_checks if c not in rows and c.kind != "reported"]
    assert len(judged) == 14
    failed = [(c.item, c.reference, c.predicted) for c in judged if not c.ok]
    assert not failed
    # the figures labelled "reported only" are exactly those without a verdict, and count neither way
    reported = [c for c in quick_checks if c.kind == "reported"]
    assert [c.item for c in reported] == [c.item for c in quick_checks if "(reported only)" in c.item]
    assert reported and all(c.ok is None and not c.failed and c.status == "reported" for c in reported)


def test_quick_latency_bound_and_mae(quick_checks):
    rows = _latency_rows(quick_checks)
    errors = {c.item.split()[0]: c.rel_error for c in rows}
    assert all(abs(e) <= V.LATENCY_BOUND_TOL for e in errors.values()), errors
    assert sum(abs(e) for e in errors.values()) / len(errors) <= V.LATENCY_MAE_TOL


@pytest.mark.xfail(strict=True, reason="Alex-8 (-17.6%) and NT-LSTM (-10.03%) miss the 10% goal; docs/validation.md (EIE section)")
def test_quick_latency_goal_every_layer(quick_checks):
    assert all(c.ok for c in _latency_rows(quick_checks))


def test_theoretical_column_is_stored_entries_over_peak(quick_checks):
    # the paper's "theoretical" time tracks stored entries incl. padding / (64 x 800 MHz) for the NT and VGG-8 layers
    rows = {c.item.split()[0]: c for c in quick_checks if "theoretical time" in c.item}
    for name in ("VGG-8", "NT-We", "NT-Wd", "NT-LSTM"):
        assert abs(rows[name].rel_error) <= 0.10


@pytest.mark.slow
def test_full_nine_layer_reproduction():
    checks = V.checks(quick=False)
    rows = _latency_rows(checks)
    assert len(rows) == 9
    others = [c for c in checks if c not in rows]
    assert not [c.item for c in others if c.failed]
    assert any(c.item == "throughput 256 PE / 64 PE (9 layers)" and c.ok for c in others)
    errors = [abs(c.rel_error) for c in rows]
    # VGG-6 (-27.5%) is the known miss beyond the bound (docs/validation.md (EIE section)); all others within 20%
    assert sum(e > V.LATENCY_BOUND_TOL for e in errors) <= 1
    assert sum(errors) / 9 <= V.LATENCY_MAE_TOL
