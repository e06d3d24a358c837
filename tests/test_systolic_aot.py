"""The systolic kernels compiled ahead of time at install (accelsim/hw/systolic/_aot.py): the same results as the
JIT's to the bit, used only while current, and the JIT whenever a module is missing, stale or turned off."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.hw.systolic import _aot
from accelsim.hw.systolic import _group_reuse as G
from accelsim.hw.systolic import _kernels as K
from accelsim.hw.systolic import calc
from accelsim.hw.systolic.model import Geometry, clear_memos, closed_form

# (df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws): windows inside and past the
# edge, overlapping or not, batches, os / ws / is, periodic folds
USER_UNITS = [
    (0, 8, 8, 1, 10, 10, 3, 3, 3, 1, 1, 1, 1, 8, 8, 5, (64, 64, 32), (4, 4, 4)),
    (1, 8, 4, 1, 11, 11, 6, 3, 3, 2, 2, 1, 1, 5, 5, 9, (128, 256, 64), (2, 3, 5)),
    (2, 4, 8, 2, 9, 9, 4, 3, 3, 1, 1, 1, 1, 7, 7, 7, (512, 512, 128), (8, 8, 8)),
    (0, 8, 8, 1, 12, 12, 5, 3, 3, 2, 2, 1, 1, 6, 6, 11, (100, 100, 100), (1, 1, 1)),  # ceil output: past the edge
    (1, 8, 8, 1, 12, 12, 5, 4, 4, 3, 3, 1, 1, 4, 4, 6, (300, 200, 100), (3, 2, 1)),  # past the edge, ws
    (2, 8, 8, 2, 7, 7, 9, 1, 1, 1, 1, 1, 1, 7, 7, 13, (256, 256, 256), (2, 2, 2)),
    (0, 16, 16, 1, 64, 1, 256, 1, 1, 1, 1, 1, 1, 64, 1, 192, (1024, 1024, 512), (16, 16, 16)),  # GEMM form
    (0, 4, 4, 1, 40, 1, 64, 1, 1, 1, 1, 1, 1, 40, 1, 8, (128, 128, 64), (2, 2, 2)),  # periodic folds
]

# (df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, ifmap words): CALC ifmap passes of
# overlapping windows: os channel groups (one and several sweeps), ws row folds (inside and past the edge), ws and
# is channel groups, is pixel blocks, the reuse-distance scan; small SRAMs so that epochs end
CALC_UNITS = [
    (0, 8, 8, 1, 12, 12, 8, 3, 3, 1, 1, 1, 1, 10, 10, 6, 400),
    (0, 8, 8, 1, 12, 12, 8, 3, 3, 1, 1, 1, 1, 10, 10, 30, 400),
    (1, 8, 8, 1, 14, 14, 16, 3, 3, 1, 1, 1, 1, 12, 12, 20, 1200),
    (1, 8, 8, 1, 15, 15, 16, 3, 3, 2, 2, 1, 1, 8, 8, 20, 1200),  # past the edge
    (1, 8, 8, 1, 10, 10, 64, 3, 3, 1, 1, 1, 1, 8, 8, 20, 2000),
    (2, 8, 8, 1, 10, 10, 64, 3, 3, 1, 1, 1, 1, 8, 8, 20, 2000),
    (1, 8, 8, 1, 11, 11, 3, 3, 3, 1, 1, 1, 1, 9, 9, 17, 300),
    (2, 8, 8, 1, 11, 11, 3, 3, 3, 1, 1, 1, 1, 9, 9, 17, 300),
    (1, 4, 8, 1, 15, 15, 16, 3, 3, 2, 2, 1, 1, 7, 7, 7, 1600),  # ws row folds, windows inside
    (1, 32, 8, 1, 12, 12, 16, 3, 3, 1, 1, 1, 1, 10, 10, 20, 1000),  # ws channel groups
    (2, 64, 4, 1, 10, 10, 64, 3, 3, 1, 1, 1, 1, 8, 8, 20, 2000),  # is channel groups (blocks_first: no)
]


def _user_jit():
    return {"user_unit_kernel": K.user_unit_kernel, "conv_geometry": K.conv_geometry,
            "edge_stretches": K.edge_stretches, "ifmap_word_geometry": K.ifmap_word_geometry, "fill_sets": K.fill_sets,
            "walk_layer": K.walk_layer, "walk_layer_periodic": K.walk_layer}


def _run_user(kernels, unit):
    df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws = unit
    K._USER["k"] = kernels
    try:
        return K.user_unit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt,
                           np.asarray(sizes, np.int64), np.asarray(bws, np.int64), np.zeros((4, 0), np.int64))
    finally:
        K._USER.clear()


def _run_calc(kernels, unit):
    df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words = unit
    clear_memos()
    calc._CALC["k"] = kernels
    try:
        return calc._reuse_pass(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words)
    finally:
        calc._CALC.clear()
        clear_memos()


@pytest.fixture
def fresh_choice():
    _aot.reset()
    K._USER.clear()
    calc._CALC.clear()
    yield
    _aot.reset()
    K._USER.clear()
    calc._CALC.clear()


def test_user_kernels_ahead_of_time_match_the_jit(fresh_choice):
    aot = _aot.kernels("user", _user_jit())
    if aot.source != "aot":
        pytest.skip(f"no current ahead-of-time module in this checkout: {_aot.status('user')}")
    jit = _aot.SimpleNamespace(source="jit", **_user_jit())
    df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws = USER_UNITS[-1]
    assert K.periods_possible(df, R, C, batch * Eh * Ew, FH * FW * Ch, nfilt, 1, Eh * Ew, True, np.asarray(sizes),
                              np.asarray(bws))  # the last unit takes walk_layer_periodic
    for unit in USER_UNITS:
        a, b = _run_user(aot, unit), _run_user(jit, unit)
        assert a.dtype == b.dtype and np.array_equal(a, b), unit


def test_calc_passes_ahead_of_time_match_the_jit(fresh_choice):
    aot = calc._calc_kernels()
    if aot.source != "aot":
        pytest.skip(f"no current ahead-of-time module in this checkout: {_aot.status('calc')}")
    used = set()

    class Jit:  # the JIT kernels, noting which export each unit reaches
        source = "jit"

        def __getattr__(self, name):
            kernel = getattr(_aot.SimpleNamespace(**_calc_jit()), name)

            def call(*args):
                used.add(name)
                return kernel(*args)
            return call

    for unit in CALC_UNITS:
        a, b = _run_calc(aot, unit), _run_calc(Jit(), unit)
        assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b)), unit
    assert used >= {"ws_fold_pass", "ws_fold_pass_edge", "os_single_sweep", "os_groups_pass", "ws_group_pass",
                    "ws_is_groups", "sweeps_in_lane", "reuse_read_pass", "is_block_pass"}, used


def test_calc_units_ahead_of_time_match_the_jit(fresh_choice):
    """Whole CALC units (the OFMAP events compiled ahead of time, then every read buffer; a fitting ifmap as one
    call, ``calc_unit_fit``, a 1x1 unit also as one, ``calc_unit_distinct``) equal the JIT's."""
    aot = calc._calc_kernels()
    if aot.source != "aot":
        pytest.skip(f"no current ahead-of-time module in this checkout: {_aot.status('calc')}")
    jit = _aot.SimpleNamespace(source="jit", **_calc_jit())
    units = [(df, R, C, b, H, H, Ch, F, F, s, s, 1, 1, -(-(H - F) // s) + 1, -(-(H - F) // s) + 1, K_, w, w, o)
             for df in (0, 1, 2) for (R, C, b, H, Ch, F, s, K_, w, o) in (
                 (8, 8, 1, 12, 8, 3, 1, 6, 400, 64), (8, 4, 2, 9, 3, 3, 2, 17, 300, 16), (16, 16, 1, 8, 64, 1, 1, 40, 2000, 32),
                 (4, 8, 1, 15, 16, 3, 2, 7, 1600, 8), (8, 8, 2, 6, 4, 3, 1, 9, 4096, 64))]  # (the last: ifmap fits)
    for unit in units:
        got = []
        for kernels in (aot, jit):
            clear_memos()
            calc._CALC["k"] = kernels
            *geo, if_words, fi_words, of_words = unit
            got.append(calc.calc_unit(*geo, if_words, fi_words, of_words, False))
            if geo[7] == 1 and geo[9] == 1:  # (1x1 stride 1: windows distinct)
                got.append(calc.calc_unit(*geo, if_words, fi_words, of_words, True))
        calc._CALC.clear()
        assert all(np.array_equal(got[0], g) for g in got[1:]), unit


def _calc_jit():
    return calc.calc_jit_kernels()


def test_periodic_walk_takes_its_own_export(monkeypatch):
    calls = []

    class Spy:
        source = "spy"

        def __getattr__(self, name):
            kernel = _user_jit()[name]

            def call(*args):
                calls.append(name)
                return kernel(*args)
            return call

    monkeypatch.setattr(K, "USER_ONE_CALL_ENTRIES", 0)  # (a small unit is one call: user_unit_kernel)
    monkeypatch.setattr(K, "periods_possible", lambda *a: True)
    _run_user(Spy(), USER_UNITS[0])
    assert calls[-1] == "walk_layer_periodic"
    monkeypatch.setattr(K, "periods_possible", lambda *a: False)
    _run_user(Spy(), USER_UNITS[0])
    assert calls[-1] == "walk_layer"


@pytest.mark.parametrize("group", sorted(_aot.GROUPS))
def test_a_module_older_than_the_source_is_not_used(fresh_choice, monkeypatch, group):
    monkeypatch.setattr(_aot, "source_hash", lambda g: -1)  # as after an edit of a kernel file
    jit = _user_jit() if group == "user" else _calc_jit()
    assert _aot.kernels(group, jit).source == "jit"
    status = _aot.status(group)
    assert status.startswith("jit (") and ("predates" in status or "no ahead-of-time module" in status)


def test_turned_off_by_environment(fresh_choice, monkeypatch):
    monkeypatch.setenv("ACCELSIM_AOT", "0")
    assert _aot.status("calc") == "jit (ACCELSIM_AOT=0)"  # before the choice: what it would be
    assert _aot.kernels("user", _user_jit()).source == "jit"
    assert calc._calc_kernels().source == "jit"
    assert _aot.status("user") == "jit (ACCELSIM_AOT=0)"


def test_source_hash_covers_each_group():
    for group in _aot.GROUPS:
        h = _aot.source_hash(group)
        assert isinstance(h, int) and 0 <= h < 2 ** 63 and h == _aot.source_hash(group)
    assert _aot.source_hash("user") != _aot.source_hash("calc")


def test_os_groups_in_one_kernel_equal_the_two(fresh_choice):
    """The fused os groups kernel the install compiles equals the two JIT kernels the JIT path runs."""
    for unit in CALC_UNITS[:2]:
        df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words = unit
        args = (R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, words)
        a, b = G.os_groups_pass(*args), G.os_groups_pass.py_func(*args)
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), unit


def test_exports_name_kernels_that_exist():
    import importlib

    modules = {name: importlib.import_module(f"accelsim.hw.systolic.{name}")
               for name in ("_kernels", "_group_reuse", "_ws_folds", "_ifmap_fit", "_is_epochs")}
    assert {n for n, _, _ in _aot.GROUPS["user"][2]} == set(_user_jit())
    assert {n for n, _, _ in _aot.GROUPS["calc"][2]} == set(_calc_jit())
    for _, _, exports in _aot.GROUPS.values():
        for _, (module, kernel), signature in exports:
            assert hasattr(getattr(modules[module], kernel), "py_func"), kernel
            assert signature.endswith(")")


def test_a_small_unit_in_one_call_equals_the_composed_calls(monkeypatch):
    """``user_unit_kernel`` (a small unit's one compiled call) gives the composed calls' results, with and without
    per-row cycles (traces), on the units above and random ones (past the edge, batches, periodic folds)."""
    rng = np.random.default_rng(43)
    units = list(USER_UNITS)
    for _ in range(40):
        df, R, C = int(rng.integers(0, 3)), int(rng.choice([2, 4, 8, 16])), int(rng.choice([2, 4, 8, 16]))
        F, s = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        H = int(rng.integers(F, 14))
        E = -(-(H - F) // s) + 1 if rng.random() < 0.3 else (H - F) // s + 1  # ceil outputs: windows past the edge
        sizes = tuple(int(x) for x in rng.integers(16, 600, 3))
        units.append((df, R, C, int(rng.integers(1, 3)), H, H, int(rng.integers(1, 9)), F, F, s, s, 1, 1, E, E,
                      int(rng.integers(1, 20)), sizes, tuple(int(x) for x in rng.integers(1, 9, 3))))
    for unit in units:
        df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws = unit
        args = (df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, np.asarray(sizes, np.int64),
                np.asarray(bws, np.int64))
        rows = np.zeros((4, 0), np.int64)
        one = K.user_unit_kernel(*args, rows)
        monkeypatch.setattr(K, "USER_ONE_CALL_ENTRIES", 0)
        composed = K.user_unit(*args, rows)
        monkeypatch.setattr(K, "USER_ONE_CALL_ENTRIES", 1 << 13)
        assert np.array_equal(one, composed), unit
        # per-row cycles (the trace path): every demand row of every fold
        cf = closed_form(("os", "ws", "is")[df], R, C, Geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, nfilt, Eh, Ew))
        a, b = (np.zeros((4, cf["folds"] * cf["cycles_per_fold"]), np.int64) for _ in range(2))
        res_a = K.user_unit_kernel(*args, a)
        monkeypatch.setattr(K, "USER_ONE_CALL_ENTRIES", 0)
        res_b = K.user_unit(*args, b)
        monkeypatch.setattr(K, "USER_ONE_CALL_ENTRIES", 1 << 13)
        assert np.array_equal(res_a, res_b) and np.array_equal(a, b), unit
