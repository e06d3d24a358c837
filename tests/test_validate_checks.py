"""`accelsim validate`: the three kinds of check, the exit status, the module list and quick mode.

A reported figure has no verdict; an asserted check outside its tolerance fails the run; the areas
come from ``CHECK_MODULES`` plus the hardware registry; quick mode never loosens a tolerance.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest

from accelsim import validate
from accelsim.checks import Check, all_hold, check_key, loosened, summarize


# ---- the three kinds ---------------------------------------------------------------------------
def test_reported_check_is_neither_pass_nor_fail():
    c = Check("toy", "a figure 10x off", reference=1.0, predicted=10.0, unit="x", source="nowhere")
    assert c.kind == "reported" and c.ok is None and not c.failed and c.status == "reported"
    row = c.row()
    assert row["kind"] == "reported" and row["status"] == "reported" and "ok" not in row
    assert row["rel_error"] == pytest.approx(9.0) and "ok_override" not in row
    assert summarize([c]) == {"asserted": 0, "asserted_ok": 0, "pass_fail": 0, "pass_fail_ok": 0, "reported": 1}
    assert all_hold([c])


def test_asserted_check_holds_iff_within_tolerance():
    inside = Check("toy", "inside", 100.0, 109.0, rel_tol=0.10)
    edge = Check("toy", "on the bound", 100.0, 90.0, rel_tol=0.10)
    outside = Check("toy", "outside", 100.0, 111.0, rel_tol=0.10)
    exact = Check("toy", "exact, zero reference", 0.0, 0.0, rel_tol=0.0)
    off_zero = Check("toy", "non-zero vs zero reference", 0.0, 1e-9, rel_tol=0.5)
    assert all(c.kind == "asserted" for c in (inside, edge, outside, exact, off_zero))
    assert inside.ok and edge.ok and exact.ok and inside.status == "pass"
    assert outside.ok is False and outside.failed and outside.status == "fail"
    assert off_zero.failed  # rel_error is inf
    assert not all_hold([inside, outside])
    s = summarize([inside, edge, outside])
    assert (s["asserted"], s["asserted_ok"]) == (3, 2)


def test_pass_fail_check_follows_its_outcome_not_the_shown_tolerance():
    wrong_way = Check("toy", "speedup direction", 2.0, 2.1, rel_tol=0.3, ok_override=False)
    right = Check("toy", "no extra peaks", 0, 0, ok_override=True)
    assert wrong_way.kind == right.kind == "pass/fail"
    assert wrong_way.failed and right.ok is True
    assert summarize([wrong_way, right])["pass_fail_ok"] == 1


@pytest.mark.parametrize("tol", [-0.1, float("nan")])
def test_bad_tolerance_is_refused(tol):
    with pytest.raises(ValueError, match="rel_tol must be a fraction >= 0"):
        Check("toy", "bad", 1.0, 1.0, rel_tol=tol)


def test_validate_reexports_check():
    assert validate.Check is Check


# ---- the command -------------------------------------------------------------------------------
@pytest.fixture
def toy_area(monkeypatch):
    """A fake non-hardware area ``toyarea`` whose checks the test sets in ``state['checks']``."""
    state = {"checks": [], "quick": []}
    mod = types.ModuleType("toy_area_checks")

    def checks(quick=False):
        state["quick"].append(quick)
        return list(state["checks"])

    mod.checks = checks
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(validate, "CHECK_MODULES", {**validate.CHECK_MODULES, "toyarea": mod.__name__})
    return state


GOOD = [Check("toyarea", "asserted, holds", 10.0, 10.5, "x", 0.1, "ref"),
        Check("toyarea", "pass/fail, holds", 1.0, 1.0, "", None, "ref", True),
        Check("toyarea", "reported, 3x off", 1.0, 3.0, "x", None, "ref")]


def test_reported_figures_do_not_fail_the_run(toy_area, run_cli):
    toy_area["checks"] = GOOD
    code, out, _ = run_cli("validate", "--only", "toyarea", "--quick")
    assert code == 0 and toy_area["quick"] == [True]
    assert "1 of 1 asserted checks within tolerance, 1 of 1 pass/fail checks passed, 1 reported" in out
    line = next(x for x in out.splitlines() if "reported, 3x off" in x)
    assert line.split()[-3:] == ["reported", "reported", "ref"]  # kind, status, source


def test_asserted_check_outside_tolerance_fails_the_run(toy_area, run_cli):
    toy_area["checks"] = GOOD + [Check("toyarea", "asserted, 20% off", 10.0, 12.0, "x", 0.1, "ref")]
    code, out, _ = run_cli("validate", "--only", "toyarea")
    assert code == 1 and toy_area["quick"] == [False]
    assert "1 of 2 asserted checks within tolerance, 1 of 1 pass/fail checks passed, 1 reported" in out
    line = next(x for x in out.splitlines() if "asserted, 20% off" in x)
    assert line.split()[-3:] == ["asserted", "fail", "ref"]


def test_failed_pass_fail_check_fails_the_run(toy_area):
    toy_area["checks"] = GOOD + [Check("toyarea", "wrong direction", 2.0, 0.5, "x", None, "ref", False)]
    args = types.SimpleNamespace(quick=False, only="toyarea", format="table")
    assert validate.cmd_validate(args) == 1


def test_json_rows_carry_kind_status_and_null_verdict(toy_area, run_cli):
    toy_area["checks"] = GOOD
    code, out, _ = run_cli("validate", "--only", "toyarea", "--format", "json")
    rows = {r["item"]: r for r in json.loads(out)}
    assert code == 0
    assert rows["reported, 3x off"]["status"] == "reported" and "ok" not in rows["reported, 3x off"]
    assert rows["asserted, holds"]["kind"] == "asserted" and rows["asserted, holds"]["ok"] is True
    assert rows["pass/fail, holds"]["kind"] == "pass/fail" and rows["pass/fail, holds"]["status"] == "pass"


def test_unknown_area_is_an_error(run_cli):
    code, out, err = run_cli("validate", "--only", "no-such-area")
    assert code == 2 and "unknown validation area 'no-such-area'" in err


# ---- where the areas come from -----------------------------------------------------------------
def test_modules_are_the_listed_areas_plus_the_registry_families(monkeypatch):
    from accelsim.hw import registry

    expected = dict(validate.CHECK_MODULES)
    for name in registry.family_names():
        if registry.family(name).validation:
            expected[name] = registry.family(name).validation
    assert validate.check_modules() == expected
    assert "accelsim.hw.eie.validation" in expected.values()  # the bundled families are found
    # a family registered by anyone joins `accelsim validate` without validate.py knowing its name
    monkeypatch.setitem(registry._FAMILIES, "toyfamily", registry.Family("toyfamily", object, None, "toy.validation"))
    assert validate.check_modules(only="toyfamily") == {"toyfamily": "toy.validation"}
    monkeypatch.setitem(registry._FAMILIES, "toyfamily", registry.Family("toyfamily", object, None, None))
    assert "toyfamily" not in validate.check_modules()


def test_validate_names_no_family():
    from accelsim.hw.registry import family_names

    source = Path(validate.__file__).read_text()
    named = [n for n in family_names() if re.search(rf"[\"'.]{re.escape(n)}[\"'.]", source)]
    assert not named, named


# ---- quick mode never loosens ------------------------------------------------------------------
def test_loosened_finds_a_tolerance_dropped_or_changed_in_quick_mode():
    full = [Check("a", "ratio (9 layers)", 3.25, 3.1, "x", 0.15),
            Check("a", "mae (9 layers)", 0, 0.08, ok_override=True), Check("a", "figure", 1, 2)]
    assert check_key(full[0]) == check_key(Check("a", "ratio (5 layers)", 0, 0)) == ("a", "ratio (N layers)")
    assert loosened(full, []) == []  # not produced in quick mode: fine
    assert loosened(full, [Check("a", "ratio (5 layers)", 3.25, 2.7, "x", 0.15)]) == []
    assert loosened(full, [Check("a", "figure", 1, 9)]) == []  # reported in both
    for bad in (Check("a", "ratio (5 layers)", 3.25, 2.7, "x"), Check("a", "ratio (5 layers)", 3.25, 2.7, "x", 0.2),
                Check("a", "mae (5 layers)", 0, 0.07)):
        found = loosened(full, [bad])
        assert len(found) == 1 and bad.item in found[0], bad


def _compare(only: str) -> None:
    full, quick = validate.collect(quick=False, only=only), validate.collect(quick=True, only=only)
    assert not loosened(full, quick)
    # not vacuous: quick mode asserts some of the full run's checks, with their tolerances
    judged = {check_key(c) for c in full if c.kind != "reported"}
    assert any(check_key(c) in judged for c in quick if c.kind != "reported"), only


@pytest.mark.parametrize("only", ["zoo", "energy", "gpu", "systolic"])
def test_quick_never_loosens(only):
    _compare(only)


def test_quick_never_loosens_compress(monkeypatch):
    # the full run adds AlexNet and VGG-16 (about 45 s); on the LeNets alone, full and quick differ only in the flag
    from accelsim.compress import validation as V

    monkeypatch.setattr(V, "PAPER", {k: V.PAPER[k] for k in ("lenet300", "lenet5")})
    _compare("compress")


def test_quick_never_loosens_eie(monkeypatch):
    # the full run's nine layers take about 35 s; on the quick layers the full run still sweeps every
    # queue depth and PE count, so only the quick flag (and the sweep points) differ
    from accelsim.hw.eie import validation as V

    monkeypatch.setattr(V, "LAYERS", V.SMALL)
    _compare("eie")


@pytest.mark.slow
def test_quick_never_loosens_any_area_full_runs():
    full, quick = validate.collect(quick=False), validate.collect(quick=True)
    assert not loosened(full, quick)
    assert {c.area for c in quick} == {c.area for c in full}
