"""Figures: each kind writes a real PNG and SVG; tables behind them compute what they claim."""

import numpy as np
import pandas as pd
import pytest

from accelsim.errors import AccelsimError
from accelsim.report import plots
from accelsim.report.results import LayerResult, NetworkResult


def _layers():
    rows = []
    for pid, arch, peak, bw in (("p1", "edge", 1e12, 1e10), ("p2", "big", 1e14, 1e12)):
        for i in range(5):
            macs = 10 ** (5 + i)
            cycles = 1000 * (i + 1)
            rows.append({"id": pid, "arch_name": arch, "layer": f"l{i}", "op": "conv2d" if i % 2 else "linear",
                         "macs": macs, "effective_macs": macs // 2, "cycles": cycles, "compute_cycles": cycles - 100 * i,
                         "stall_cycles": 100 * i, "latency_s": cycles * 1e-9, "energy_j": 1e-6 * (i + 1),
                         "energy.compute": 0.6e-6 * (i + 1), "energy.dram": 0.4e-6 * (i + 1),
                         "dram_read_bytes": 1000 * (i + 1), "dram_write_bytes": 0 if i == 4 else 100,
                         "peak_macs_per_s": peak, "dram_bytes_per_s": bw, "status": "ok"})
    return pd.DataFrame(rows)


def _tradeoff_rows():
    rows = []
    for fam, eff in (("systolic", 0.0), ("eie", 0.8), ("gpu", 0.1)):
        for ratio in (2, 4, 8, 16, 32):
            for seed in range(3):
                cr = ratio * (1 + 0.01 * seed)
                rows.append({"family": fam, "recipe": f"magnitude-{ratio}", "seed": seed, "status": "ok",
                             "compression_ratio": cr, "theoretical_speedup": cr * 0.9,
                             "speedup_vs_dense": 1 + eff * (cr - 1) + 0.01 * seed})
    return pd.DataFrame(rows)


def _check_files(paths):
    for p in paths:
        data = p.read_bytes()
        if p.suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        else:
            assert b"<svg" in data[:500] and len(data) > 5000


def test_roofline_and_breakdown_png_and_svg(tmp_path):
    layers = _layers()
    _check_files(plots.save_both(plots.roofline, layers, out_stem=tmp_path / "roof"))
    _check_files(plots.save_both(plots.breakdown, layers, out_stem=tmp_path / "bd", point="p2"))
    # roofs missing: drawn from observed maxima
    _check_files([plots.roofline(layers.drop(columns=["peak_macs_per_s", "dram_bytes_per_s"]), tmp_path / "obs.png")])


def test_pareto_and_tradeoff_figures(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"latency_s": rng.uniform(1e-3, 1, 40), "energy_j": rng.uniform(1e-3, 1, 40),
                       "arch": rng.choice(["a", "b"], 40)})
    _check_files(plots.save_both(plots.pareto_scatter, df, out_stem=tmp_path / "par", x="latency_s", y="energy_j",
                                 color="arch"))
    _check_files(plots.save_both(plots.tradeoff, _tradeoff_rows(), out_stem=tmp_path / "trade"))


def test_tradeoff_table_means_and_stds_over_seeds():
    table = plots.tradeoff_table(_tradeoff_rows())
    assert len(table) == 15 and set(table["n"]) == {3}
    row = table[(table["hardware"] == "eie") & (table["level"] == "magnitude-8")].iloc[0]
    crs = np.array([8 * (1 + 0.01 * s) for s in range(3)])
    real = 1 + 0.8 * (crs - 1) + 0.01 * np.arange(3)
    np.testing.assert_allclose([row.ratio_mean, row.ratio_std], [crs.mean(), crs.std()])
    np.testing.assert_allclose([row.real_mean, row.real_std], [real.mean(), real.std()])
    np.testing.assert_allclose(row.theoretical_mean, (crs * 0.9).mean())
    # sorted by compression ratio within each hardware
    sub = table[table["hardware"] == "gpu"]
    assert sub["ratio_mean"].is_monotonic_increasing


def test_layers_frame_from_network_results():
    lr = LayerResult(name="fc", op="linear", macs=100, effective_macs=50, cycles=10, compute_cycles=8, stall_cycles=2,
                     latency_s=1e-8, energy_j=1e-9, energy_breakdown_j={"compute": 1e-9}, dram_read_bytes=64)
    res = NetworkResult(arch={"name": "x", "family": "systolic"}, workload="w", layers=[lr, lr])
    df = plots.layers_frame(res)
    assert df["layer"].tolist() == ["fc", "fc"] and df["energy.compute"].tolist() == [1e-9, 1e-9]
    assert df["arch_name"].iloc[0] == "x"


def test_plot_bad_inputs(tmp_path):
    with pytest.raises(AccelsimError, match=r"must end in .png or .svg"):
        plots.roofline(_layers(), tmp_path / "x.pdf")
    with pytest.raises(AccelsimError, match="does not exist"):
        plots.roofline(_layers(), tmp_path / "nope" / "x.png")
    with pytest.raises(AccelsimError, match="needs column.*compression_ratio"):
        plots.tradeoff(pd.DataFrame({"a": [1]}), tmp_path / "t.png")
    with pytest.raises(AccelsimError, match="point 'zz' is not in the per-layer table"):
        plots.breakdown(_layers(), tmp_path / "b.png", point="zz")
    with pytest.raises(AccelsimError, match="no points with both"):
        plots.pareto_scatter(pd.DataFrame({"x": [np.nan], "y": [1.0]}), tmp_path / "p.png", x="x", y="y")
