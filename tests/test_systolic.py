"""Systolic model: config and .cfg reading, bad input, kernels vs twins, compression, energy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelsim.compress.compressed import CompressedLayer
from accelsim.errors import ConfigError
from accelsim.hw.registry import build_model, load_arch
from accelsim.hw.systolic import _kernels as K
from accelsim.hw.systolic import _reference as Rf
from accelsim.hw.systolic.model import Geometry, closed_form, run_geometry, windows_inside
from accelsim.workload.layers import Conv2d, Linear, MatMul, Pool2d

BUNDLED = ["tpu-v1", "scalesim-32x32-os", "scalesim-google", "scalesim-eyeriss", "edge-32x32", "edge-32x32-2of4",
           "edge-32x32-skip"]

CFG = """[general]
run_name = t
[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: 8
IfmapSramSzkB: {kb}
FilterSramSzkB: 8
OfmapSramSzkB: 8
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : {df}
ReadRequestBuffer: 32
WriteRequestBuffer: 32
[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2
[sparsity]
SparsitySupport : false
[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""


def _error_lines(err: str) -> list[str]:
    """stderr lines besides the one-time "compiling kernels" notice of a cold Numba cache."""
    return [line for line in err.strip().splitlines() if "compiling kernels" not in line]


def write_cfg(tmp_path, **kw):
    vals = {"rows": 8, "kb": 8, "df": "ws", "mode": "USER"} | kw
    p = tmp_path / "t.cfg"
    p.write_text(CFG.format(**vals))
    return p


# ---------------------------------------------------------------- configs
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_configs_load(name):
    cfg = load_arch(name)
    assert cfg.family == "systolic" and cfg.name == name


def test_tpu_v1_matches_paper():
    cfg = load_arch("tpu-v1")  # Jouppi et al. ISCA 2017 (papers.md section 7)
    assert (cfg.rows, cfg.cols, cfg.dataflow, cfg.clock_hz) == (256, 256, "ws", 700e6)
    assert (cfg.sram.ifmap_kb + cfg.sram.ofmap_kb) * 1024 == 24 * 2**20
    assert cfg.dram.filter_bw == int(34e9 / 700e6)
    # peak 92 TOPS = 65,536 MACs x 2 x 700 MHz
    assert cfg.rows * cfg.cols * 2 * cfg.clock_hz == pytest.approx(91.75e12, rel=1e-3)


def test_cfg_maps_every_key(tmp_path):
    cfg = load_arch(write_cfg(tmp_path, rows=4, kb=3, df="is", mode="USER"))
    assert (cfg.rows, cfg.cols, cfg.dataflow) == (4, 8, "is")
    assert (cfg.sram.ifmap_kb, cfg.sram.filter_kb, cfg.sram.ofmap_kb) == (3, 8, 8)
    assert (cfg.sram.filter_offset, cfg.sram.ofmap_offset) == (10_000_000, 20_000_000)
    assert (cfg.dram.bandwidth_mode, cfg.dram.ofmap_bw, cfg.dram.ifmap_bw, cfg.dram.filter_bw) == ("USER", 10, 10, 10)
    assert cfg.run_name == "t" and cfg.name == "t"


def test_overrides_apply_to_cfg(tmp_path):
    cfg = load_arch(write_cfg(tmp_path), ["array.rows=16", "array.dataflow=os"])
    assert (cfg.rows, cfg.dataflow) == (16, "os")


# ---------------------------------------------------------------- bad input: one line, exit 2
@pytest.mark.parametrize("override,needle", [
    ("array.rows=0", "array.rows must be an int in [1, 65536]; got 0"),
    ("array.cols=-3", "array.cols must be an int in [1, 65536]; got -3"),
    ("array.dataflow=rs", "array.dataflow must be one of os, ws, is"),
    ("array.rows=2.5", "array.rows must be an int"),
    ("sram.ifmap_kb=0.5", "sram.ifmap_kb must be an int"),
    ("dram.bandwidth_mode=AUTO", "dram.bandwidth_mode must be one of CALC, USER"),
])
def test_bad_overrides_one_line(run_cli, override, needle):
    code, out, err = run_cli("simulate", "--arch", "scalesim-32x32-os", "--workload", "lenet5", "--set", override)
    assert code == 2 and out == ""
    assert len(_error_lines(err)) == 1 and needle in err


def test_cross_field_rules_stay_one_line(run_cli):
    code, out, err = run_cli("simulate", "--arch", "scalesim-32x32-os", "--workload", "lenet5", "--set",
                             "sparsity.optimized_mapping=true", "--set", "sparsity.block_size=64", "--set", "array.rows=8")
    assert code == 2 and out == "" and len(_error_lines(err)) == 1
    assert "sparsity.block_size must be <= array.rows; got 64 > 8" in err


def test_array_longer_than_an_sram_buffer_half_runs(run_cli):
    """SCALE-Sim 3.0.0 runs an array whose demand row exceeds an SRAM buffer half (2048 rows, 512 words a half of
    1 kB), and so does accelsim (its reports matched on tests/data/scalesim/reports/long_*)."""
    code, out, err = run_cli("simulate", "--arch", "scalesim-32x32-os", "--workload", "lenet5",
                             "--set", "array.rows=2048", "--set", "sram.filter_kb=1", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["total"]["cycles"] > 0


@pytest.mark.parametrize("kw,needle", [
    ({"rows": "abc"}, "[architecture_presets] ArrayHeight must be an integer; got 'abc'"),
    ({"rows": "8.5"}, "ArrayHeight must be an integer; got '8.5'"),
    ({"rows": 0}, "[architecture_presets] ArrayHeight (array.rows) must be an int in [1, 65536]; got 0"),
    ({"df": "xy"}, "[architecture_presets] Dataflow (array.dataflow) must be one of os, ws, is; got 'xy'"),
    ({"mode": "AUTO"}, "[run_presets] InterfaceBandwidth (dram.bandwidth_mode) must be one of CALC, USER; got 'AUTO'"),
])
def test_bad_cfg_files(tmp_path, run_cli, kw, needle):
    p = write_cfg(tmp_path, **kw)
    with pytest.raises(ConfigError) as exc:
        load_arch(p)
    assert needle in str(exc.value) and str(p) in str(exc.value)
    code, _, err = run_cli("simulate", "--arch", p, "--workload", "lenet5")
    assert code == 2 and len(_error_lines(err)) == 1 and needle in err


def test_cfg_missing_section_and_key(tmp_path):
    p = tmp_path / "nolayer.cfg"
    p.write_text(CFG.format(rows=8, kb=8, df="os", mode="CALC").replace("Dataflow : os\n", ""))
    with pytest.raises(ConfigError, match=r"\[architecture_presets\] is missing the key 'Dataflow'"):
        load_arch(p)
    p.write_text("[general]\nrun_name = x\n")
    with pytest.raises(ConfigError, match=r"missing section \[run_presets\]"):
        load_arch(p)


def test_scalesim2_cfg_reads_with_v2_meaning(tmp_path):
    """SCALE-Sim's own example configs (v2 format: no [layout]) load; Bandwidth feeds all interfaces."""
    text = CFG.format(rows=12, kb=36, df="ws", mode="USER").split("[layout]")[0] + "[run_presets]\nInterfaceBandwidth: USER\n"
    p = tmp_path / "eyeriss.cfg"
    p.write_text(text.replace("Bandwidth : 10", "Bandwidth : 7"))
    cfg = load_arch(p)
    assert (cfg.dram.ifmap_bw, cfg.dram.filter_bw, cfg.dram.ofmap_bw) == (7, 7, 7)
    assert not cfg.sparsity.support and "SCALE-Sim 2 format" in cfg.description


def test_cfg_missing_file_and_garbage(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_arch(tmp_path / "nope.cfg")
    bad = tmp_path / "bad.cfg"
    bad.write_text("this is not ini\n")
    with pytest.raises(ConfigError, match="malformed SCALE-Sim .cfg"):
        load_arch(bad)


def test_unmodelled_scalesim_features_rejected(tmp_path):
    text = CFG.format(rows=8, kb=8, df="os", mode="CALC").replace("IfmapCustomLayout: False", "IfmapCustomLayout: True")
    p = tmp_path / "lay.cfg"
    p.write_text(text)
    with pytest.raises(ConfigError, match="bank conflicts are not modelled"):
        load_arch(p)


# ---------------------------------------------------------------- kernels vs twins
def _random_case(rng):
    df = int(rng.integers(3))
    R, C = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    H, W = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    g = Geometry.conv(H, W, int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1)), int(rng.integers(1, 4)),
                      int(rng.integers(1, 7)), int(rng.integers(1, 3)))
    user = bool(rng.integers(2))
    sizes = np.array([int(rng.integers(12 if user else 100, 400)) for _ in range(3)], np.int64)
    bws = np.array([int(rng.integers(1, 5)) for _ in range(3)], np.int64)
    return df, R, C, g, user, sizes, bws


def _ifmap_sets(df, R, C, g, tabs, sizes, inside):
    """The kernel's ifmap set table (and valid counts per stretch unless ``inside``) for the walk's arguments."""
    kmax = K.copies_bound(g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
    return K.ifmap_sets(df, R, C, g.npx, g.win, g.K, *tabs, g.H, g.W, g.H * g.W * g.C, -(-int(sizes[0]) // 100), kmax,
                        inside)


def test_fold_walk_matches_numpy_twin():
    """Random small layers with tiny SRAMs (heavy stalling) on all dataflows and both modes."""
    rng = np.random.default_rng(4)
    nc = np.zeros((4, 0), np.int64)
    for _ in range(40):
        df, R, C, g, user, sizes, bws = _random_case(rng)
        tabs = K.conv_geometry(1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew)
        assert all(np.array_equal(a, b) for a, b in zip(tabs, Rf.conv_geometry(1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew)))
        for o in (0, 1):
            seq = K.prefetch_sequence(df, o, R, C, g.npx, g.win, g.K, *tabs, g.H, g.W)
            assert np.array_equal(seq, Rf.prefetch_sequence(df, o, R, C, g.npx, g.win, g.K, *tabs, g.H, g.W))
        # the ifmap's set table and valid counts against SCALE-Sim's hashed buffer built from the order
        space, eps = g.H * g.W * g.C, -(-int(sizes[0]) // 100)
        twin_sets, twin_stretches = Rf.ifmap_sets(df, R, C, g.npx, g.win, g.K, *tabs, g.H, g.W, space, eps)
        kmax = K.copies_bound(g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
        assert kmax >= max(len(h) for h in twin_sets)
        inside = windows_inside(g)
        meta, slots, stretches = _ifmap_sets(df, R, C, g, tabs, sizes, False)
        assert np.array_equal(stretches[:len(twin_stretches)], twin_stretches)
        if kmax > 1:
            assert [slots[a * kmax:a * kmax + meta[2 * a]].tolist() for a in range(space)] == twin_sets
        else:
            assert len(meta) == len(slots) == 0 and all(len(h) <= 1 for h in twin_sets)
        got = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, user, sizes, bws, meta, slots, stretches,
                               space, g.win * g.K, True, True, nc)
        ref = Rf.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, user, sizes, bws)
        assert np.array_equal(got, ref), (df, R, C, g, user, sizes, bws)
        # the per-access walk without the O(1) rows gives the same
        walk = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, user, sizes, bws, meta, slots, stretches,
                                space, g.win * g.K, True, False, nc)
        assert np.array_equal(walk, ref)
        if user:
            # the one-call unit (closed-form valid counts where the windows lie inside the input)
            unit = K.user_unit(df, R, C, 1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew, g.K, sizes, bws, nc)
            assert np.array_equal(unit, ref)
            if inside:
                meta2, slots2, none2 = _ifmap_sets(df, R, C, g, tabs, sizes, True)
                assert len(none2) == 0 and np.array_equal(meta2, meta)
                closed = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, user, sizes, bws, meta2, slots2,
                                          none2, space, g.win * g.K, True, False, nc)
                assert np.array_equal(closed, ref)


def test_ifmap_stretch_counts_match_twin_with_batches_and_dilation():
    """The valid counts per stretch of the ifmap's prefetch order (what a USER-mode demand row reads when
    windows cross the input edge) and the set table equal the twin's, built from the materialised order,
    on every dataflow with batches, strides, dilations, outputs past the edge and padding lanes."""
    rng = np.random.default_rng(2512)
    past_edge = 0
    for _ in range(120):
        df, R, C, batch = int(rng.integers(3)), int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 3))
        FH, FW, sh, sw = (int(v) for v in rng.integers(1, [5, 5, 4, 4]))
        dh, dw = (int(v) for v in rng.integers(1, 3, 2))
        H, W = (FH - 1) * dh + 1 + int(rng.integers(7)), (FW - 1) * dw + 1 + int(rng.integers(7))
        Eh, Ew = -(-(H - (FH - 1) * dh - 1 + sh) // sh), -(-(W - (FW - 1) * dw - 1 + sw) // sw)  # SCALE-Sim's ceil
        Ch, Kf = int(rng.integers(1, 5)), int(rng.integers(1, 8))
        tabs = K.conv_geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
        npx, win, space, eps = batch * Eh * Ew, FH * FW * Ch, batch * H * W * Ch, int(rng.integers(1, 20))
        kmax = K.copies_bound(FH, FW, sh, sw, dh, dw, Eh, Ew)
        twin_sets, twin_stretches = Rf.ifmap_sets(df, R, C, npx, win, Kf, *tabs, H, W, space, eps)
        meta, slots, stretches = K.ifmap_sets(df, R, C, npx, win, Kf, *tabs, H, W, space, eps, kmax, False)
        assert np.array_equal(stretches[:len(twin_stretches)], twin_stretches), (df, R, C, batch, H, W, FH, FW, sh, sw, dh, dw)
        if kmax > 1:
            assert [slots[a * kmax:a * kmax + meta[2 * a]].tolist() for a in range(space)] == twin_sets
        past_edge += (Eh - 1) * sh + (FH - 1) * dh >= H or (Ew - 1) * sw + (FW - 1) * dw >= W
    assert past_edge > 40


def test_user_unit_bulk_rows_past_the_edge_equal_the_walk():
    """Windows past the input edge (SCALE-Sim's output sizes round up): the unit with quiet rows counted in bulk
    (valid counts from the stretch table, rows without a valid entry left out of the SRAM cycles) and sets
    from the geometry on an os array equals the walk of every access over the set table, on every dataflow."""
    rng = np.random.default_rng(2531)
    nc = np.zeros((4, 0), np.int64)
    past = 0
    for _ in range(30):
        df, R, C = int(rng.integers(3)), int(rng.integers(2, 20)), int(rng.integers(2, 20))
        f, s_ = int(rng.choice([2, 3, 5])), int(rng.integers(2, 4))
        h = f + s_ * int(rng.integers(2, 9)) + int(rng.integers(1, s_))  # (h - f) % s_ != 0: past the edge
        e = -(-(h - f + s_) // s_)
        g = Geometry(1, h, h, int(rng.integers(1, 24)), f, f, s_, s_, 1, 1, int(rng.integers(1, 60)), e, e)
        sizes = np.array([int(rng.integers(150, 3000)) for _ in range(3)], np.int64)
        bws = np.array([int(rng.integers(1, 12)) for _ in range(3)], np.int64)
        tabs = K.conv_geometry(1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew)
        sets = _ifmap_sets(df, R, C, g, tabs, sizes, False)
        walk = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, True, sizes, bws, *sets,
                                g.H * g.W * g.C, g.win * g.K, True, False, nc)
        unit = K.user_unit(df, R, C, 1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew, g.K, sizes, bws, nc)
        assert np.array_equal(unit, walk), (df, R, C, g, sizes, bws)
        past += not windows_inside(g)
    assert past == 30


def test_user_unit_bulk_rows_equal_the_walk():
    """Medium layers (windows sliding, OFMAP drains and stalls) on every dataflow and odd array shapes:
    the unit with quiet rows counted in bulk equals the walk of every access (no O(1) rows, no bulk)."""
    rng = np.random.default_rng(17)
    nc = np.zeros((4, 0), np.int64)
    bulk_matters = 0
    for _ in range(24):
        df, R, C = int(rng.integers(3)), int(rng.integers(2, 20)), int(rng.integers(2, 20))
        f, s_ = int(rng.choice([1, 1, 3, 5])), int(rng.integers(1, 3))
        h = f + s_ * int(rng.integers(2, 9))
        g = Geometry.conv(h, h, f, f, int(rng.integers(1, 24)), int(rng.integers(1, 60)), s_)
        sizes = np.array([int(rng.integers(150, 3000)) for _ in range(3)], np.int64)
        bws = np.array([int(rng.integers(1, 12)) for _ in range(3)], np.int64)
        tabs = K.conv_geometry(1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew)
        sets = _ifmap_sets(df, R, C, g, tabs, sizes, windows_inside(g))
        walk = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, True, sizes, bws, *sets,
                                g.H * g.W * g.C, g.win * g.K, True, False, nc)
        unit = K.user_unit(df, R, C, 1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew, g.K, sizes, bws, nc)
        assert np.array_equal(unit, walk), (df, R, C, g, sizes, bws)
        bulk_matters += walk[K.R_STALL] > 0 and walk[K.R_OF_DRAM] > 0
    assert bulk_matters > 10


def test_user_unit_matches_twin_with_dilation_batch_and_ceil_outputs():
    """USER-mode units with dilated, strided filters, two images and outputs past the input edge (the
    ifmap's stored valid counts) against the NumPy twin."""
    rng = np.random.default_rng(1)
    nc = np.zeros((4, 0), np.int64)
    for _ in range(40):
        df, R, C, batch = int(rng.integers(3)), int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 3))
        FH, FW, dh, dw, sh, sw = (int(v) for v in rng.integers(1, [4, 4, 3, 3, 4, 4]))
        H, W = (FH - 1) * dh + 1 + int(rng.integers(6)), (FW - 1) * dw + 1 + int(rng.integers(6))
        Eh = (H - (FH - 1) * dh - 1) // sh + 1 + int(rng.integers(2))
        Ew = (W - (FW - 1) * dw - 1) // sw + 1 + int(rng.integers(2))
        Ch, Kf = int(rng.integers(1, 4)), int(rng.integers(1, 7))
        g = Geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Kf, Eh, Ew)
        sizes = np.array([int(rng.integers(12, 300)) for _ in range(3)], np.int64)
        bws = np.array([int(rng.integers(1, 5)) for _ in range(3)], np.int64)
        tabs = K.conv_geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
        ref = Rf.simulate_layer(df, R, C, g.npx, g.win, Kf, H, W, *tabs, True, sizes, bws)
        got = K.user_unit(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, Kf, sizes, bws, nc)
        assert np.array_equal(got, ref), (df, R, C, g, sizes, bws)


def test_copies_bound_covers_every_word():
    """``copies_bound`` (the set table's slots per ifmap word) is at least the number of (output,
    tap) pairs reading any input word, for random filters, strides, dilations and ceil-mode outputs."""
    rng = np.random.default_rng(5)
    tight = 0
    for _ in range(400):
        FH, FW, dh, dw, sh, sw = (int(v) for v in rng.integers(1, [8, 8, 5, 5, 6, 6]))
        H, W = (FH - 1) * dh + 1 + int(rng.integers(12)), (FW - 1) * dw + 1 + int(rng.integers(12))
        Eh = (H - (FH - 1) * dh - 1) // sh + 1 + int(rng.integers(2))
        Ew = (W - (FW - 1) * dw - 1) // sw + 1 + int(rng.integers(2))
        ih = (np.arange(Eh)[:, None] * sh + np.arange(FH)[None, :] * dh).ravel()
        iw = (np.arange(Ew)[:, None] * sw + np.arange(FW)[None, :] * dw).ravel()
        words = (ih[:, None] * W + iw[None, :])[(ih[:, None] < H) & (iw[None, :] < W)]
        most = np.bincount(words).max()
        bound = K.copies_bound(FH, FW, sh, sw, dh, dw, Eh, Ew)
        assert most <= bound, (FH, FW, sh, sw, dh, dw, Eh, Ew)
        tight += most == bound
    assert tight > 200


def test_valid_counts_closed_form():
    """The valid-entry count before every position of a prefetch order whose only invalid entries are
    its padding (every filter order; an ifmap's when its windows lie inside the input) equals the count
    over the materialised order, in diagonal and row-major order (docs/models/systolic.md §3.2)."""
    rng = np.random.default_rng(8)
    checked = 0
    for _ in range(60):
        df, R, C = int(rng.integers(3)), int(rng.integers(1, 7)), int(rng.integers(1, 7))
        g = Geometry.conv(int(rng.integers(3, 9)), int(rng.integers(3, 9)), 1, 1, int(rng.integers(1, 5)),
                          int(rng.integers(1, 14)), 1)
        tabs = K.conv_geometry(1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew)
        for o in (0, 1):
            seq = K.prefetch_sequence(df, o, R, C, g.npx, g.win, g.K, *tabs, g.H, g.W)
            before = np.concatenate(([0], np.cumsum(seq >= 0)))
            Mm, N, _ = K._prefetch_shape(df, o, R, C, g.npx, g.win, g.K)
            r0, c0 = K._prefetch_pad(df, o, R, C, g.npx, g.win, g.K)
            diag = not ((df == 1 and o == 1) or (df == 2 and o == 0))
            pos = 0
            lines = range(Mm + N - 1) if diag else range(Mm)
            for d in lines:
                cols = range(max(0, d - Mm + 1), min(d, N - 1) + 1) if diag else range(N)
                for c in list(cols) + [cols[-1] + 1]:
                    k = pos + c - cols[0]
                    assert K._valid_before(diag, k, d, c, Mm, N, r0, c0) == before[k], (df, o, d, c)
                    checked += 1
                pos += len(cols)
            assert pos == len(seq)
    assert checked > 5_000


def test_pass_skipping_is_exact():
    rng = np.random.default_rng(11)
    for _ in range(15):
        df, R, C, g, user, sizes, bws = _random_case(rng)
        tabs = K.conv_geometry(1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew)
        sets = _ifmap_sets(df, R, C, g, tabs, sizes, False)
        nc = np.zeros((4, 0), np.int64)
        a = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, user, sizes, bws, *sets, g.H * g.W * g.C, g.win * g.K, True, True, nc)
        b = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, user, sizes, bws, *sets, g.H * g.W * g.C, g.win * g.K, False, True, nc)
        assert np.array_equal(a, b)


def test_skip_kernel_matches_twin():
    rng = np.random.default_rng(2)
    for _ in range(30):
        df = int(rng.integers(3))
        mask = rng.random((int(rng.integers(1, 12)), int(rng.integers(1, 30)))) < rng.choice([0.02, 0.2, 0.7])
        args = (df, int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 40)), mask)
        assert np.array_equal(K.skip_zero_fold_cycles(*args), Rf.skip_zero_fold_cycles(*args))


def test_closed_form_cycle_formula():
    """Stall-free cycles = folds * (T + R + C - 2) - 1 (os) or folds * (T + 2R + C - 2) - 1 (ws, is)."""
    g = Geometry.conv(56, 56, 3, 3, 64, 64, 1)
    for df, per in (("os", g.win + 32 + 32 - 2), ("ws", g.npx + 64 + 32 - 2), ("is", g.K + 64 + 32 - 2)):
        cf = closed_form(df, 32, 32, g)
        assert cf["compute_cycles"] == cf["folds"] * per - 1
    assert closed_form("os", 32, 32, g)["folds"] == -(-g.npx // 32) * 2


# ---------------------------------------------------------------- model on real layers
def conv(name="c", c=16, h=14, k=32, ks=3, stride=1, pad=1, groups=1):
    return Conv2d(name=name, input_shapes=((c, h, h),), out_channels=k, kernel=(ks, ks), stride=(stride, stride),
                  padding=(pad, pad), groups=groups)


def test_model_result_schema_and_units():
    cfg = load_arch("edge-32x32")
    r = build_model(cfg).simulate(CompressedLayer(layer=conv()), batch=1)
    assert r.cycles == r.compute_cycles + r.stall_cycles > 0
    assert r.latency_s == pytest.approx(r.cycles / 500e6)
    assert r.macs == 16 * 9 * 32 * 14 * 14
    assert r.energy_j == pytest.approx(sum(r.energy_breakdown_j.values()))
    assert {"compute", "register", "noc", "sram", "dram", "static"} <= set(r.energy_breakdown_j)
    assert 0 < r.utilization <= 1
    assert r.actions[("pe", "mac", "int8")] == r.macs


def test_batch_scales_pixels():
    cfg = load_arch("scalesim-32x32-os")
    m = build_model(cfg)
    r1 = m.simulate(CompressedLayer(layer=conv()), 1)
    r4 = m.simulate(CompressedLayer(layer=conv()), 4)
    assert r4.macs == 4 * r1.macs
    assert r4.compute_cycles > 3 * r1.compute_cycles


def test_grouped_and_depthwise_mapped_per_group():
    cfg = load_arch("scalesim-32x32-os")
    m = build_model(cfg)
    dw = m.simulate(CompressedLayer(layer=conv(c=32, k=32, groups=32)), 1)
    one = run_geometry(cfg, Geometry(1, 16, 16, 1, 3, 3, 1, 1, 1, 1, 1, 14, 14))
    assert dw.extra["units"] == 32
    assert dw.compute_cycles == 32 * one["compute_cycles"]
    # one filter per group on 32 columns: at most 1/32 of the array is busy
    assert dw.utilization <= 1 / 32 + 1e-12
    dense = m.simulate(CompressedLayer(layer=conv(c=32, k=32)), 1)
    assert dense.utilization > 10 * dw.utilization


def test_linear_and_matmul_use_gemm_form():
    cfg = load_arch("scalesim-32x32-os")
    m = build_model(cfg)
    lin = Linear(name="fc", input_shapes=((20, 30),), out_features=12)
    r = m.simulate(CompressedLayer(layer=lin), 1)
    assert r.cycles == run_geometry(cfg, Geometry.gemm(20, 12, 30))["total_cycles"]
    mm = MatMul(name="qk", input_shapes=((4, 16, 8), (4, 8, 16)))
    r = m.simulate(CompressedLayer(layer=mm), 2)
    assert r.extra["units"] == 8 and r.macs == 8 * 16 * 16 * 8


def test_unmapped_layer_zero_and_flagged():
    pool = Pool2d(name="p", input_shapes=((8, 8, 8),), kernel=(2, 2), stride=(2, 2))
    r = build_model(load_arch("edge-32x32")).simulate(CompressedLayer(layer=pool), 1)
    assert r.cycles == 0 and r.extra["mapped"] is False


# ---------------------------------------------------------------- compression awareness
def _pruned(layer, density, rng, nm=None):
    n, k = layer.weight_matrix_shape
    w = rng.standard_normal((n, k))
    if nm is not None:
        keep_n, m = nm
        blocks = w.reshape(n, k // m, m)
        order = np.argsort(-np.abs(blocks), axis=2)
        mask = np.zeros_like(blocks, bool)
        np.put_along_axis(mask, order[:, :, :keep_n], True, axis=2)
        w = (blocks * mask).reshape(n, k)
    else:
        w[rng.random((n, k)) >= density] = 0.0
    return w


def test_precision_scalable_pe_packs_reduction():
    cfg = load_arch("edge-32x32")
    m = build_model(cfg)
    layer = conv(c=64, k=64)
    r8 = m.simulate(CompressedLayer(layer=layer), 1)
    r4 = m.simulate(CompressedLayer(layer=layer, weight_bits=4, activation_bits=4), 1)
    r2 = m.simulate(CompressedLayer(layer=layer, weight_bits=2, activation_bits=2), 1)
    assert r4.extra["pack"] == 2 and r2.extra["pack"] == 4
    assert r2.compute_cycles < r4.compute_cycles < r8.compute_cycles
    assert r4.dram_read_bytes < r8.dram_read_bytes
    assert r4.actions[("pe", "mac", "int4")] == r8.macs
    # 4-bit weights with 8-bit activations gain nothing: the MAC needs the wider operand
    mixed = m.simulate(CompressedLayer(layer=layer, weight_bits=4, activation_bits=8), 1)
    assert mixed.compute_cycles == r8.compute_cycles


def test_wider_than_native_slows_down_like_tpu():
    m = build_model(load_arch("tpu-v1"))  # 16x16 at a quarter, 8x16 at half speed (Jouppi 2017)
    layer = Linear(name="fc", input_shapes=((512, 1024),), out_features=1024)
    base = m.simulate(CompressedLayer(layer=layer), 1).compute_cycles
    assert m.simulate(CompressedLayer(layer=layer, weight_bits=16, activation_bits=16), 1).compute_cycles == 4 * base
    assert m.simulate(CompressedLayer(layer=layer, weight_bits=8, activation_bits=16), 1).compute_cycles == 2 * base


def test_nm_sparse_tensor_core():
    rng = np.random.default_rng(0)
    layer = conv(c=64, k=64)
    w = _pruned(layer, None, rng, nm=(2, 4))
    cl = CompressedLayer(layer=layer, weight_matrix=w, nm=(2, 4))
    sparse_hw = build_model(load_arch("edge-32x32-2of4")).simulate(cl, 1)
    dense_hw = build_model(load_arch("edge-32x32")).simulate(cl, 1)
    dense_run = build_model(load_arch("edge-32x32-2of4")).simulate(CompressedLayer(layer=layer), 1)
    assert sparse_hw.extra["nm"] == [2, 4]
    assert sparse_hw.compute_cycles < 0.6 * dense_run.compute_cycles
    # without N:M support the pattern only gates MACs: same cycles, less MAC energy
    assert dense_hw.compute_cycles == dense_run.compute_cycles
    assert dense_hw.extra["gated_macs"] == pytest.approx(0.5 * dense_hw.macs)
    assert dense_hw.energy_breakdown_j["compute"] < dense_run.energy_breakdown_j["compute"]
    # metadata: 2 bits per kept weight on top of the halved values
    assert sparse_hw.extra["dram_words"]["filter"] > 0


def test_unstructured_gating_keeps_cycles():
    rng = np.random.default_rng(1)
    layer = conv(c=32, k=32)
    cl = CompressedLayer(layer=layer, weight_matrix=_pruned(layer, 0.2, rng))
    m = build_model(load_arch("edge-32x32"))
    r = m.simulate(cl, 1)
    d = m.simulate(CompressedLayer(layer=layer), 1)
    assert r.cycles == d.cycles
    assert r.extra["gated_macs"] == pytest.approx(r.macs * (1 - cl.weight_density))
    assert r.energy_j < d.energy_j


def test_skipping_uses_real_pattern_fold_by_fold():
    rng = np.random.default_rng(3)
    layer = conv(c=32, k=64)
    m = build_model(load_arch("edge-32x32-skip"))
    dense = m.simulate(CompressedLayer(layer=layer), 1)
    # filter pruning of the second half of the filters: whole column folds vanish
    w = rng.standard_normal(layer.weight_matrix_shape)
    w[32:] = 0
    half = m.simulate(CompressedLayer(layer=layer, weight_matrix=w), 1)
    assert half.extra["skip"]["folds_skipped"] > 0
    assert half.compute_cycles == pytest.approx(dense.compute_cycles / 2, rel=0.01)
    # scattered 20% density: every 32-filter step still has a non-zero -> (almost) nothing skipped
    scattered = m.simulate(CompressedLayer(layer=layer, weight_matrix=_pruned(layer, 0.2, rng)), 1)
    assert scattered.compute_cycles >= 0.95 * dense.compute_cycles
    # the same weights on the array without skipping: cycles unchanged
    plain = build_model(load_arch("edge-32x32")).simulate(CompressedLayer(layer=layer, weight_matrix=w), 1)
    assert plain.compute_cycles == dense.compute_cycles


def test_channel_pruning_is_a_smaller_gemm():
    m = build_model(load_arch("scalesim-32x32-os"))
    full = m.simulate(CompressedLayer(layer=conv(c=64, k=64)), 1)
    pruned = m.simulate(CompressedLayer(layer=conv(c=64, k=32)), 1)
    assert pruned.compute_cycles == pytest.approx(full.compute_cycles / 2, rel=0.05)


def test_calc_mode_decoupled_path_matches_fold_walk():
    """CALC mode runs the OFMAP buffer and each read buffer separately (with bulk counting of
    distinct passes); it must equal the coupled walk, which equals the NumPy twin."""
    from accelsim.hw.systolic.model import scalesim_unit

    rng = np.random.default_rng(5)
    stalled = bulk_cases = 0
    for _ in range(120):
        df, R, C = int(rng.integers(3)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
        H, W = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        fh, fw = (1, 1) if rng.random() < 0.4 else (int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1)))
        g = Geometry.conv(H, W, fh, fw, int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 3)))
        sizes = tuple(int(rng.integers(100, 400)) for _ in range(3))
        tabs = K.conv_geometry(1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew)
        e = np.zeros(0, np.int32)
        ref = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, False, np.array(sizes), np.ones(3, np.int64),
                               e, e, e, g.H * g.W * g.C, g.win * g.K, False, True, np.zeros((4, 0), np.int64))
        got = scalesim_unit(["os", "ws", "is"][df], R, C, g, sizes, (1, 1, 1), False)
        for key, idx in (("total_cycles", K.R_TOTAL), ("stall_cycles", K.R_STALL), ("ifmap_dram_reads", K.R_IF_DRAM),
                         ("filter_dram_reads", K.R_FI_DRAM), ("ofmap_dram_writes", K.R_OF_DRAM),
                         ("ifmap_dram_start", K.R_IF_DRAM_START), ("ifmap_dram_stop", K.R_IF_DRAM_STOP),
                         ("filter_dram_start", K.R_FI_DRAM_START), ("filter_dram_stop", K.R_FI_DRAM_STOP),
                         ("ofmap_dram_start", K.R_OF_DRAM_START), ("ofmap_dram_stop", K.R_OF_DRAM_STOP),
                         ("ifmap_sram_start", K.R_IF_SRAM_START), ("ifmap_sram_stop", K.R_IF_SRAM_STOP),
                         ("filter_sram_start", K.R_FI_SRAM_START), ("filter_sram_stop", K.R_FI_SRAM_STOP),
                         ("ofmap_sram_start", K.R_OF_SRAM_START), ("ofmap_sram_stop", K.R_OF_SRAM_STOP)):
            assert got[key] == ref[idx], (key, df, R, C, g, sizes)
        bulk_cases += got["filter_dram_reads"] >= 50 * (sizes[1] // 100)
        # the OFMAP pass alone with a slow drain: compare with the coupled walk whose reads all hit
        obw = int(rng.integers(1, 3))
        big = g.H * g.W * g.C + g.win * g.K + 10_000
        osz = int(rng.integers(8, 60))
        fits = np.array([big, big, osz], np.int64)
        sets = _ifmap_sets(df, R, C, g, tabs, fits, False)
        coupled = K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, True, fits, np.array([big, big, obw]),
                                   *sets, g.H * g.W * g.C, g.win * g.K, True, True, np.zeros((4, 0), np.int64))
        st, _, _ = K.ofmap_pass(df, R, C, g.npx, g.win, g.K, osz, obw)
        assert (st[0], st[1], st[2], st[3], st[4]) == (coupled[K.R_TOTAL], coupled[K.R_STALL], coupled[K.R_OF_DRAM],
                                                       coupled[K.R_OF_DRAM_START], coupled[K.R_OF_DRAM_STOP])
        stalled += st[1] > 0
    assert stalled > 5 and bulk_cases > 5


def test_skip_with_wrong_weight_shape_is_one_line_error():
    from accelsim.errors import SimulationError

    layer = conv(c=8, k=8)
    bad = CompressedLayer(layer=layer, weight_matrix=np.ones((8, 5)))
    with pytest.raises(SimulationError, match=r"weight matrix has shape \[8, 5\], expected \[8, 72\]"):
        build_model(load_arch("edge-32x32-skip")).simulate(bad, 1)


def test_calc_read_algorithms_agree_with_plain_epoch_walk():
    """The closed-form distinct pass and the reuse-distance scan equal the per-access epoch walk."""
    from accelsim.hw.systolic.model import ifmap_distinct

    rng = np.random.default_rng(9)
    for _ in range(150):
        df, R, C = int(rng.integers(3)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
        H, W = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        fh, fw = (1, 1) if rng.random() < 0.3 else (int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1)))
        g = Geometry.conv(H, W, fh, fw, int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 3)))
        words = int(rng.integers(100, 700))
        tabs = K.conv_geometry(1, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, 1, 1, g.Eh, g.Ew)
        for o, space in ((0, g.H * g.W * g.C), (1, g.win * g.K)):
            plain = K.calc_read_pass(df, o, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space, False)
            if o == 1 or ifmap_distinct(g):
                fast = K.distinct_read_pass(df, o, R, C, g.npx, g.win, g.K, words)
            else:
                fast = K.reuse_read_pass(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, words, space)
            assert np.array_equal(plain[0], fast[0]) and np.array_equal(plain[1], fast[1]), (df, R, C, g, words, o)


def test_energy_actions_follow_the_dataflow():
    layer = conv(c=16, k=16)
    for df, moving in (("os", 2), ("ws", 1), ("is", 1)):
        r = build_model(load_arch("scalesim-32x32-os", [f"array.dataflow={df}"])).simulate(CompressedLayer(layer=layer), 1)
        a = r.actions
        assert a[("pe_reg", "write", "8b")] == moving * r.macs
        assert a[("acc_reg", "write", "32b")] == r.macs
        assert a[("pe_link", "transfer", "32b")] == (0 if df == "os" else r.macs)
        assert a[("ifmap_sram", "read", "8b")] == r.sram_reads["ifmap"]
        assert a[("dram", "read", "ddr4")] == 8 * r.dram_read_bytes
    # 32-bit operands with 32-bit sums: equal action keys add up instead of overwriting
    fp = load_arch("scalesim-32x32-os", ["array.dataflow=ws", "pe.bits=32", "pe.precision_modes=[32]", "pe.dtype=fp"])
    r = build_model(fp).simulate(CompressedLayer(layer=layer), 1)
    assert r.actions[("pe_link", "transfer", "32b")] == 2 * r.macs
    assert ("pe", "mac", "fp32") in r.actions


# ---------------------------------------------------------------- the hardware contract (accelsim.hw.base)
def test_model_follows_the_hardware_contract():
    from accelsim.hw.base import HardwareModel, LayerCounts, NotMapped

    cfg = load_arch("edge-32x32", ["sram.word_bytes=2"])
    m = build_model(cfg)
    assert isinstance(m, HardwareModel) and m.family == "systolic"
    pool = Pool2d(name="p", input_shapes=((8, 8, 8),), kernel=(2, 2), stride=(2, 2))
    assert isinstance(m.count(CompressedLayer(layer=pool), 1), NotMapped)
    layer = conv(c=32, k=32)
    counts = m.count(CompressedLayer(layer=layer, weight_bits=4, activation_bits=4), 1)
    assert isinstance(counts, LayerCounts)
    # peak at the executed width: two 4-bit MACs per 8-bit PE
    assert counts.peak_macs_per_s == 32 * 32 * 2 * 500e6
    r = m.simulate(CompressedLayer(layer=layer, weight_bits=4, activation_bits=4), 1)
    assert r.utilization == pytest.approx(r.macs / (r.cycles * 32 * 32 * 2), rel=1e-12)
    # every buffer counted has its access width: word_bytes x 8 bits
    assert r.sram_word_bits == {"ifmap": 16, "filter": 16, "ofmap": 16}
    assert set(r.sram_reads) | set(r.sram_writes) <= set(r.sram_word_bits)
    assert r.actions[("ifmap_sram", "read", "16b")] == r.sram_reads["ifmap"]


def test_roof_peak_per_precision_and_user_mode_bandwidth():
    edge = build_model(load_arch("edge-32x32")).roof()  # USER mode, 16 words/cycle per stream, 500 MHz
    assert edge.native_dtype == "int8"
    assert dict(edge.macs_per_s) == {"int8": 1024 * 500e6, "int4": 2 * 1024 * 500e6, "int2": 4 * 1024 * 500e6}
    assert edge.peak_macs_per_s == 1024 * 500e6
    assert edge.dram_bytes_per_s == 48 * 1 * 500e6
    wide = build_model(load_arch("edge-32x32", ["sram.word_bytes=2", "dram.ofmap_bw=8"])).roof()
    assert wide.dram_bytes_per_s == (16 + 16 + 8) * 2 * 500e6
    calc = build_model(load_arch("scalesim-32x32-os")).roof()  # CALC mode: bandwidth never limits
    assert calc.bytes_per_s == {"dram": None} and calc.dram_bytes_per_s is None
    fp = build_model(load_arch("scalesim-32x32-os", ["pe.bits=16", "pe.precision_modes=[16, 8]", "pe.dtype=fp"])).roof()
    assert fp.native_dtype == "fp16" and fp.macs_per_s["fp8"] == 2 * fp.macs_per_s["fp16"]


def test_energy_table_and_static_power_from_the_shared_blocks():
    from accelsim.energy.tables import load_tech
    from accelsim.hw.blocks import DramChannel, SramBuffer

    cfg = load_arch("tpu-v1")
    m = build_model(cfg)
    tech = load_tech(cfg.tech)
    s = cfg.sram
    bufs = [SramBuffer(f"{b}_sram", kb * 1024 * s.word_bytes, s.word_bytes * 8)
            for b, kb in (("ifmap", s.ifmap_kb), ("filter", s.filter_kb), ("ofmap", s.ofmap_kb))]
    for buf in bufs:
        for key, entry in buf.energy_entries(tech).items():
            assert m.energy_table[key] == entry
    for key, entry in DramChannel(cfg.dram.type).tech_energy_entries(tech).items():
        assert m.energy_table[key] == entry
    pe_leak = cfg.rows * cfg.cols * (tech.op_leakage_w("mult", "int8") + tech.op_leakage_w("add", "int32"))
    assert m.static_power_w == pytest.approx(sum(b.leakage_w(tech) for b in bufs) + pe_leak, rel=1e-15)
    assert build_model(load_arch("tpu-v1", ["static_power_w=3.5"])).static_power_w == 3.5


def test_compressed_filter_traffic_is_the_stored_bits():
    """The filter DRAM stream of compressed weights moves the tensor's stored bits (read via cl.view)."""
    from accelsim.compress.tensors import CSR

    rng = np.random.default_rng(5)
    layer = conv(c=64, k=64)
    w = _pruned(layer, 0.1, rng)
    m = build_model(load_arch("edge-32x32"))
    plain = m.simulate(CompressedLayer(layer=layer, weight_matrix=w), 1)
    cl = CompressedLayer(layer=layer, weight=CSR(w, value_bits=8), weight_matrix=w)
    assert cl.view.layout == "csr"
    packed = m.simulate(cl, 1)
    ratio = cl.view.stored_bits / (64 * 64 * 9 * 8)
    assert 0 < ratio < 0.5
    assert packed.extra["dram_words"]["filter"] == pytest.approx(plain.extra["dram_words"]["filter"] * ratio, abs=1)
    assert packed.weight_storage_bits == cl.view.stored_bits
    assert packed.cycles == plain.cycles and packed.extra["dram_words"]["ifmap"] == plain.extra["dram_words"]["ifmap"]


@pytest.mark.parametrize("value, message", [
    ("true", "[run_presets] UseRamulatorTrace (dram.use_ramulator_trace) must be false; Ramulator latencies are not modelled"),
    ("yes", "[run_presets] UseRamulatorTrace (dram.use_ramulator_trace) must be false; Ramulator latencies are not modelled"),
    ("bogus", "[run_presets] UseRamulatorTrace must be True or False; got 'bogus'")])
def test_ramulator_flag_read_like_the_other_flags(tmp_path, value, message):
    """SCALE-Sim reads only the exact word 'True' as on: 'true', 'yes' or a typo ran silently without the trace
    the user asked for. accelsim reads the flag as its other booleans and refuses what it does not model."""
    path = write_cfg(tmp_path)
    path.write_text(path.read_text().replace("UseRamulatorTrace: False", f"UseRamulatorTrace: {value}"))
    with pytest.raises(ConfigError) as info:
        load_arch(str(path))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_conv_geometry_refuses_a_filter_larger_than_the_input():
    """SCALE-Sim asserts on such a row; a hand-built geometry is refused in one line, not a ZeroDivisionError
    in the closed form."""
    from accelsim.errors import SimulationError
    from accelsim.hw.systolic.model import Geometry

    for args in [(2, 2, 3, 3, 4, 4, 1), (5, 2, 1, 3, 4, 4, 1), (4, 4, 3, 3, 0, 4, 1), (4, 4, 3, 3, 4, 4, 0)]:
        with pytest.raises(SimulationError, match="filter no larger than the input"):
            Geometry.conv(*args)
    assert Geometry.conv(3, 3, 3, 3, 1, 1, 1).npx == 1
