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
    # roofs missing: none drawn, unless observed=True asks for one at the observed maxima
    bare = layers.drop(columns=["peak_macs_per_s", "dram_bytes_per_s"])
    _check_files([plots.roofline(bare, tmp_path / "none.png"), plots.roofline(bare, tmp_path / "obs.png", observed=True)])


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
    assert df["arch_name"].iloc[0] == "x" and df["family"].iloc[0] == "systolic"  # the breakdown's "stall" label


def test_plot_bad_inputs(tmp_path):
    with pytest.raises(AccelsimError, match=r"must end in .png, .svg or .pdf"):
        plots.roofline(_layers(), tmp_path / "x.jpg")
    with pytest.raises(AccelsimError, match="does not exist"):
        plots.roofline(_layers(), tmp_path / "nope" / "x.png")
    with pytest.raises(AccelsimError, match="needs column.*theoretical_speedup"):
        plots.tradeoff(pd.DataFrame({"a": [1]}), tmp_path / "t.png")
    with pytest.raises(AccelsimError, match="point 'zz' is not in the per-layer table"):
        plots.breakdown(_layers(), tmp_path / "b.png", point="zz")
    with pytest.raises(AccelsimError, match="no points with both"):
        plots.pareto_scatter(pd.DataFrame({"x": [np.nan], "y": [1.0]}), tmp_path / "p.png", x="x", y="y")


# --- issue 18 item 3: plots a paper can use ------------------------------------------------------

@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the plot functions save (still open), in order."""
    saved = []
    real = plots._save

    def keep(fig, path):
        saved.append(fig)
        fig.savefig(path)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    yield saved
    monkeypatch.setattr(plots, "_save", real)
    import matplotlib.pyplot as plt

    for fig in saved:
        plt.close(fig)


def _roof_lines(ax):
    return [ln for ln in ax.get_lines() if str(ln.get_label()).startswith("roof")]


def test_roofline_draws_one_roof_per_configuration(tmp_path, figures):
    """Two configurations under one arch name (a sweep over array sizes): each gets its own roof, and
    every point sits under the roof of its own configuration."""
    layers = _layers()
    layers["arch_name"] = "edge"  # p1 and p2 share the name, not the configuration
    plots.roofline(layers, tmp_path / "r.png")
    (ax,) = [a for a in figures[0].axes if a.get_visible()]
    roofs = _roof_lines(ax)
    assert len(roofs) == 2
    peaks = sorted(float(np.max(r.get_ydata())) for r in roofs)
    assert peaks[1] / peaks[0] == pytest.approx(100.0)  # 1e14 vs 1e12 MAC/s, same unit
    # one configuration: one black roof, points coloured by op
    plots.roofline(_layers()[lambda d: d["id"] == "p1"], tmp_path / "one.png")
    (ax,) = [a for a in figures[1].axes if a.get_visible()]
    assert len(_roof_lines(ax)) == 1 and ax.get_ylabel() == "Performance (TMAC/s)"  # peak 1e12 MAC/s


def test_roofline_never_observed_unless_asked(tmp_path, figures):
    bare = _layers().drop(columns=["peak_macs_per_s", "dram_bytes_per_s"])
    plots.roofline(bare, tmp_path / "r.png")
    assert all(not _roof_lines(ax) for ax in figures[0].axes)
    assert any("no roof" in str(t.get_text()) for ax in figures[0].axes if ax.get_legend()
               for t in ax.get_legend().get_texts())
    plots.roofline(bare, tmp_path / "o.png", observed=True)
    labels = [str(r.get_label()) for ax in figures[1].axes for r in _roof_lines(ax)]
    assert labels and all("observed" in lab for lab in labels)


def _two_gpus():
    rows = []
    for arch, eff, energy in (("a100-40gb", 0.1, 0.5), ("h100-sxm", 0.3, 0.7)):
        for ratio in (2, 8, 32):
            rows.append({"arch_name": arch, "family": "gpu", "recipe": f"magnitude-{ratio}", "seed": 0, "status": "ok",
                         "compression_ratio": float(ratio), "theoretical_speedup": float(ratio),
                         "speedup_vs_dense": 1 + eff * ratio, "energy_saving_vs_dense": energy * ratio})
    return pd.DataFrame(rows)


def test_tradeoff_groups_by_arch_name_and_takes_y(tmp_path, figures):
    table = plots.tradeoff_table(_two_gpus())
    assert sorted(set(table["hardware"])) == ["a100-40gb", "h100-sxm"]  # one family, never pooled
    assert (table["real_std"] == 0).all()
    energy = plots.tradeoff_table(_two_gpus(), y="energy_saving_vs_dense")
    a100 = energy[energy["hardware"] == "a100-40gb"]
    np.testing.assert_allclose(a100["real_mean"], [1.0, 4.0, 16.0])
    default = plots.tradeoff(_two_gpus(), tmp_path / "s.png", uncertainty=False)
    saving = plots.tradeoff(_two_gpus(), tmp_path / "e.png", y="energy_saving_vs_dense", uncertainty=False)
    assert default.read_bytes() != saving.read_bytes()
    ax = figures[1].axes[0]
    assert ax.get_ylabel() == "Energy saving over the baseline (x)"
    assert "energy saving" in ax.get_title()
    curves = {str(ln.get_label()) for ln in ax.get_lines()} | {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"a100-40gb", "h100-sxm"} <= curves  # one point per level: no "mean +/- std" claim


def test_tradeoff_refuses_one_level_and_unknown_columns(tmp_path):
    one = _two_gpus()[lambda d: d["recipe"] == "magnitude-8"]
    with pytest.raises(AccelsimError, match="at least two compression levels.*has 1: magnitude-8"):
        plots.tradeoff(one, tmp_path / "t.png")
    with pytest.raises(AccelsimError, match=r"--y energy_saving: not a column.*did you mean energy_saving_vs_dense"):
        plots.tradeoff(_two_gpus(), tmp_path / "t.png", y="energy_saving")


def test_check_column_suggests_the_name_with_its_unit():
    df = pd.DataFrame(columns=["latency_error_median", "latency_per_sample_s", "latency_s", "energy_j"])
    with pytest.raises(AccelsimError, match=r"^--x latency: not a column of the results table; did you mean latency_s"):
        plots.check_column(df, "latency", "--x", "results")
    assert plots.check_column(df, "energy_j", "--y", "results") == "energy_j"


@pytest.mark.parametrize("column, values, expected", [
    ("latency_s", [2e-3, 5e-3], (1e3, "Latency (ms)")),
    ("energy_j", [3e-6], (1e6, "Energy (µJ)")),
    ("dram_read_bytes", [2e6], (1e-6, "DRAM read (MB)")),
    ("utilization", [0.5], (100.0, "Utilization (%)")),
    ("speedup_vs_dense", [2.0], (1.0, "Speedup over the baseline (x)")),
    ("arch.array.rows", [8], (1.0, "arch.array.rows")),
])
def test_axis_labels_carry_units(column, values, expected):
    scale, label = plots.axis_label(column, pd.Series(values))
    assert label == expected[1] and scale == pytest.approx(expected[0])


def test_pareto_directions_units_and_pdf(tmp_path, figures):
    df = pd.DataFrame({"utilization": [0.2, 0.5, 0.9, 0.4], "energy_j": [1e-3, 2e-3, 3e-3, 4e-3],
                       "latency_s": [1e-3] * 4, "arch_name": ["a", "b", "a", "b"]})
    out = plots.pareto_scatter(df, tmp_path / "p.pdf", x="utilization", y="energy_j",
                               objectives={"utilization": "max", "energy_j": "min"}, color="arch_name")
    assert out.read_bytes()[:5] == b"%PDF-"
    ax = figures[0].axes[0]
    assert ax.get_xlabel() == "Utilization (%), higher is better"
    assert ax.get_ylabel() == "Energy (mJ), lower is better"
    front = [ln for ln in ax.get_lines() if str(ln.get_label()).startswith("Pareto front")][0]
    # maximising utilization: 0.2 @ 1 mJ, 0.5 @ 2 mJ and 0.9 @ 3 mJ are the front; 0.4 @ 4 mJ is dominated
    assert sorted(front.get_xdata()) == pytest.approx([20.0, 50.0, 90.0])


def _many_layers(n=60, family="systolic"):
    rows = []
    for i in range(n):
        rows.append({"id": "p", "layer": f"l{i}", "op": ("conv2d", "relu", "linear")[i % 3], "latency_s": (i + 1) * 1e-6,
                     "cycles": (i + 1) * 1000, "compute_cycles": (i + 1) * 600, "stall_cycles": (i + 1) * 400,
                     "energy_j": 1e-6, "energy.compute": 1e-6, "family": family, "dram_read_bytes": 100.0 * i})
    return pd.DataFrame(rows)


def _bar_labels(fig):
    return [t.get_text() for t in fig.axes[-1].get_xticklabels()]


def test_breakdown_top_n_per_op_and_launch_label(tmp_path, figures):
    plots.breakdown(_many_layers(), tmp_path / "auto.png")  # 60 layers: the 40 slowest and "other"
    labels = _bar_labels(figures[0])
    assert len(labels) == plots.BREAKDOWN_AUTO_TOP + 1 and labels[-1] == "other (20 layers)"
    assert "l59" in labels and "l0" not in labels
    plots.breakdown(_many_layers(), tmp_path / "top.png", top=5)
    assert _bar_labels(figures[1]) == ["l55", "l56", "l57", "l58", "l59", "other (55 layers)"]
    heights = [p.get_height() for p in figures[1].axes[0].patches]
    assert sum(heights) == pytest.approx(sum(range(1, 61)) * 1.0)  # us: nothing dropped, only summed
    plots.breakdown(_many_layers(), tmp_path / "op.png", by="op")
    assert sorted(_bar_labels(figures[2])) == ["conv2d (20)", "linear (20)", "relu (20)"]
    legend = [t.get_text() for t in figures[2].axes[0].get_legend().get_texts()]
    assert legend == ["compute", "stall"]
    plots.breakdown(_many_layers(family="gpu"), tmp_path / "gpu.png", top=3)
    legend = [t.get_text() for t in figures[3].axes[0].get_legend().get_texts()]
    assert legend[1] == "not compute: memory, launch overhead, fixed latency"
    plots.breakdown(_many_layers(), tmp_path / "y.png", top=3, y="dram_read_bytes")
    assert figures[4].axes[0].get_ylabel().startswith("DRAM read (")
    with pytest.raises(AccelsimError, match="--y dram: not a column"):
        plots.breakdown(_many_layers(), tmp_path / "y.png", y="dram")


def test_legends_show_inline_recipes_by_name(tmp_path, figures):
    spec = '{"name":"half","pipeline":[{"prune":{"density":0.5}}]}'
    assert plots.display_value(spec) == "half"
    assert plots.display_value("int8") == "int8" and plots.display_value("{not json") == "{not json"
    df = pd.DataFrame({"latency_s": [1e-3, 2e-3], "energy_j": [2e-3, 1e-3], "recipe": [spec, "int8"]})
    plots.pareto_scatter(df, tmp_path / "p.png", x="latency_s", y="energy_j", color="recipe", uncertainty=False)
    legend = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert "recipe=half" in legend and not any("pipeline" in t for t in legend)


def test_one_roof_per_operand_precision(tmp_path, figures):
    """A GPU point's roofline has its native roof (solid, named) and one dashed roof per other peak."""
    from accelsim.hw.base import Roof

    roof = Roof(macs_per_s={"fp32": 1e13, "bf16": 1e14, "fp16": 1e14, "int8": 2e14}, bytes_per_s={"dram": 1e12},
                native_dtype="bf16")
    peaks = plots.precision_peaks(roof)
    assert peaks == [("int8", 2e14), ("bf16/fp16", 1e14), ("fp32", 1e13)]
    layers = _layers()[lambda d: d["id"] == "p2"]  # peak 1e14 MAC/s: the bf16/fp16 roof
    plots.roofline(layers, tmp_path / "r.png", precision_roofs={"p2": peaks})
    labels = [str(r.get_label()) for r in _roof_lines(figures[0].axes[0])]
    assert labels[0].startswith("roof bf16/fp16: 100 TMAC/s")
    assert [lab.split(":")[0] for lab in labels[1:]] == ["roof int8", "roof fp32"]
