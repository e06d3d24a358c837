"""The USER-mode kernels compiled ahead of time at install (accelsim/hw/systolic/_aot.py): the same results as
the JIT's to the bit, used only while current, and the JIT whenever the module is missing, stale or turned off."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.hw.systolic import _aot
from accelsim.hw.systolic import _kernels as K

# (df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws): windows inside and past the
# edge, overlapping or not, batches, os / ws / is, periodic folds (a large GEMM-like 1x1 layer)
UNITS = [
    (0, 8, 8, 1, 10, 10, 3, 3, 3, 1, 1, 1, 1, 8, 8, 5, (64, 64, 32), (4, 4, 4)),
    (1, 8, 4, 1, 11, 11, 6, 3, 3, 2, 2, 1, 1, 5, 5, 9, (128, 256, 64), (2, 3, 5)),
    (2, 4, 8, 2, 9, 9, 4, 3, 3, 1, 1, 1, 1, 7, 7, 7, (512, 512, 128), (8, 8, 8)),
    (0, 8, 8, 1, 12, 12, 5, 3, 3, 2, 2, 1, 1, 6, 6, 11, (100, 100, 100), (1, 1, 1)),  # ceil output: past the edge
    (1, 8, 8, 1, 12, 12, 5, 4, 4, 3, 3, 1, 1, 4, 4, 6, (300, 200, 100), (3, 2, 1)),  # past the edge, ws
    (2, 8, 8, 2, 7, 7, 9, 1, 1, 1, 1, 1, 1, 7, 7, 13, (256, 256, 256), (2, 2, 2)),
    (0, 16, 16, 1, 64, 1, 256, 1, 1, 1, 1, 1, 1, 64, 1, 192, (1024, 1024, 512), (16, 16, 16)),  # GEMM form
    (0, 4, 4, 1, 40, 1, 64, 1, 1, 1, 1, 1, 1, 40, 1, 8, (128, 128, 64), (2, 2, 2)),  # periodic folds
]


def _jit():
    return _aot.Kernels("jit", K.conv_geometry, K.edge_stretches, K.fill_sets, K.walk_layer, K.walk_layer)


def _run(kernels, unit):
    df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws = unit
    K._USER["k"] = kernels
    try:
        return K.user_unit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt,
                           np.asarray(sizes, np.int64), np.asarray(bws, np.int64), np.zeros((4, 0), np.int64))
    finally:
        K._USER.clear()


@pytest.fixture
def fresh_choice():
    _aot.reset()
    yield
    _aot.reset()
    K._USER.clear()


def test_ahead_of_time_kernels_match_the_jit(fresh_choice):
    aot = _aot.user_kernels(_jit())
    if aot.source != "aot":
        pytest.skip(f"no current ahead-of-time module in this checkout: {_aot.status()}")
    jit = _jit()
    df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, sizes, bws = UNITS[-1]
    assert K.periods_possible(df, R, C, batch * Eh * Ew, FH * FW * Ch, nfilt, 1, Eh * Ew, True, np.asarray(sizes),
                              np.asarray(bws))  # the last unit takes walk_layer_periodic
    for unit in UNITS:
        a, b = _run(aot, unit), _run(jit, unit)
        assert a.dtype == b.dtype and np.array_equal(a, b), unit


def test_periodic_walk_takes_its_own_export(fresh_choice, monkeypatch):
    calls = []

    class Spy:
        source = "spy"

        def __getattr__(self, name):
            kernel = getattr(_jit(), name)

            def call(*args):
                calls.append(name)
                return kernel(*args)
            return call

    monkeypatch.setattr(K, "periods_possible", lambda *a: True)
    _run(Spy(), UNITS[0])
    assert calls[-1] == "walk_layer_periodic"
    monkeypatch.setattr(K, "periods_possible", lambda *a: False)
    _run(Spy(), UNITS[0])
    assert calls[-1] == "walk_layer"


def test_a_module_older_than_the_source_is_not_used(fresh_choice, monkeypatch):
    monkeypatch.setattr(_aot, "source_hash", lambda: -1)  # as after an edit of _kernels.py
    kernels = _aot.user_kernels(_jit())
    assert kernels.source == "jit"
    status = _aot.status()
    assert status.startswith("jit (") and ("predates" in status or "no ahead-of-time module" in status)


def test_turned_off_by_environment(fresh_choice, monkeypatch):
    monkeypatch.setenv("ACCELSIM_AOT", "0")
    assert _aot.status() == "jit (ACCELSIM_AOT=0)"  # before the choice: what it would be
    assert _aot.user_kernels(_jit()).source == "jit"
    assert _aot.status() == "jit (ACCELSIM_AOT=0)"


def test_source_hash_follows_the_kernel_file():
    h = _aot.source_hash()
    assert isinstance(h, int) and 0 <= h < 2 ** 63
    assert h == _aot.source_hash()


def test_exports_are_what_user_unit_calls():
    names = {name for name, _, _ in _aot.EXPORTS}
    assert names == {"conv_geometry", "edge_stretches", "fill_sets", "walk_layer", "walk_layer_periodic"}
    for _, kernel, signature in _aot.EXPORTS:
        assert hasattr(getattr(K, kernel), "py_func"), kernel
        assert signature.count("(") >= 1
