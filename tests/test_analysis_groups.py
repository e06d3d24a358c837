"""Fair analysis (issue 17 item 4 and the plot / what-if side of item 6): fronts, top-k and sensitivity
per (workload, batch); sensitivity only over balanced axes; one panel per group; error bands from the
families' validation error; a what-if run that names the conclusions that flip."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from accelsim.errors import SweepError
from accelsim.report import plots
from accelsim.report.pareto import group_columns, groups, pareto_front, sensitivity, top_k


def _union_table():
    """Systolic shapes at batch 1 only, GPUs at batch 1 and 8, for a small CNN and a big transformer.

    BERT is 5x slower and costlier than MobileNet everywhere, so an ungrouped front holds only MobileNet."""
    rows = []
    for wl, scale in (("mobilenet-v2", 1.0), ("bert-base", 5.0)):
        for r, c in itertools.product([16, 64], [16, 64]):
            rows.append({"id": f"{wl}-s{r}x{c}", "status": "ok", "family": "systolic", "workload": wl, "batch": 1,
                         "arch": "edge-32x32", "arch.array.rows": r, "arch.array.cols": c, "arch_name": "edge-32x32",
                         "latency_s": scale * 100 / (r * c) ** 0.5, "energy_j": scale * (r * c) ** 0.3})
        for b, gpu in itertools.product([1, 8], ["a100-40gb", "h100-sxm"]):
            rows.append({"id": f"{wl}-{gpu}-b{b}", "status": "ok", "family": "gpu", "workload": wl, "batch": b,
                         "arch": gpu, "arch.array.rows": np.nan, "arch.array.cols": np.nan, "arch_name": gpu,
                         "latency_s": scale * (0.1 if gpu == "h100-sxm" else 0.2) * b ** 0.5, "energy_j": scale * 50 * b})
    return pd.DataFrame(rows)


OBJ = {"latency_s": "min", "energy_j": "min"}


def test_one_front_per_workload_and_batch():
    df = _union_table()
    assert group_columns(df) == ["workload", "batch"]
    front = pareto_front(df, OBJ)
    ungrouped = pareto_front(df, OBJ, group_by=None)
    assert set(ungrouped["workload"]) == {"mobilenet-v2"}  # the unfair front of the issue
    assert set(map(tuple, front[["workload", "batch"]].drop_duplicates().to_numpy())) == {
        ("mobilenet-v2", 1), ("mobilenet-v2", 8), ("bert-base", 1), ("bert-base", 8)}
    # each group's front is exactly the front of that group alone, and the table order is kept
    for key, part in groups(df):
        alone = pareto_front(part, OBJ, group_by=None)
        assert set(front[front.index.isin(part.index)]["id"]) == set(alone["id"]), key
    assert list(front.index) == sorted(front.index)
    assert pareto_front(df, OBJ, group_by="none")["id"].tolist() == ungrouped["id"].tolist()


def test_top_k_per_group():
    df = _union_table()
    best = top_k(df, "latency_s", k=2)
    assert len(best) == 8 and best.groupby(["workload", "batch"]).size().eq(2).all()
    assert top_k(df, "latency_s", k=2, group_by=None)["workload"].eq("mobilenet-v2").all()
    sub = best[(best["workload"] == "bert-base") & (best["batch"] == 1)]
    assert sub["latency_s"].is_monotonic_increasing


def test_sensitivity_refuses_unbalanced_axes_and_says_why():
    df = _union_table()
    flat = sensitivity(df, {"latency_s": "min"}, ["batch", "arch", "arch.array.rows"], log=True, group_by=None)
    batch = flat[flat["axis"] == "batch"].iloc[0]
    # batch 8 exists only on GPUs: no effect, no "best value", a note naming the confounder
    assert np.isnan(batch["effect"]) and batch["rank"] is None and batch["best_value"] is None
    assert "batch=8 occurs only with arch in {a100-40gb, h100-sxm}" in batch["note"]
    rows = flat[flat["axis"] == "arch.array.rows"].iloc[0]
    assert rows["note"] == "" and rows["effect"] > 0 and rows["rank"] == 1  # balanced inside the systolic space
    grouped = sensitivity(df, {"latency_s": "min"}, ["batch", "arch", "arch.array.rows"], log=True)
    assert "batch" not in set(grouped["axis"])  # a group column is not an axis
    assert list(grouped.columns[:2]) == ["workload", "batch"]
    b8 = grouped[(grouped["batch"] == 8) & (grouped["axis"] == "arch")].iloc[0]
    assert b8["note"] == "" and b8["best_value"] == "h100-sxm"  # GPUs only: balanced
    b1 = grouped[(grouped["batch"] == 1) & (grouped["axis"] == "arch")].iloc[0]
    assert "does not apply to arch=" in b1["note"] and np.isnan(b1["effect"])
    none = grouped[(grouped["batch"] == 8) & (grouped["axis"] == "arch.array.rows")].iloc[0]  # GPUs only: no rows
    assert none["note"] == "not swept in this group" and none["effect"] == 0.0 and none["levels"] == 0


def test_unbalanced_by_missing_points():
    rows = [{"a": a, "b": b, "y": float(a + b)} for a, b in itertools.product([1, 2], [1, 2, 3])]
    df = pd.DataFrame(rows[:-1])  # (a=2, b=3) failed
    sens = sensitivity(df, {"y": "min"}, ["a", "b"])
    assert sens.set_index("axis").loc["a", "note"].startswith("unbalanced: a=2 occurs only with b in {1, 2}")


def test_group_by_errors_and_forms():
    df = _union_table()
    with pytest.raises(SweepError, match="group_by: 'workloads' is not a column.*did you mean workload"):
        pareto_front(df, OBJ, group_by=["workloads"])
    assert group_columns(df, "workload") == ["workload"] and group_columns(df, "none") == []
    assert group_columns(df, "workload, batch") == ["workload", "batch"]
    assert group_columns(df[df["workload"] == "bert-base"]) == ["batch"]  # auto: only what varies


def _capture(monkeypatch):
    figs = []
    real = plots._save

    def keep(fig, path):
        figs.append([ax for ax in fig.axes if ax.get_visible()])
        return real(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return figs


def test_pareto_scatter_one_panel_per_group_with_bands(tmp_path, monkeypatch):
    figs = _capture(monkeypatch)
    df = _union_table()
    plots.pareto_scatter(df, tmp_path / "p.png", x="latency_s", y="energy_j", color="arch")
    panels = figs[-1]
    assert sorted(ax.get_title() for ax in panels) == sorted(
        f"workload={w}, batch={b}" for w in ("mobilenet-v2", "bert-base") for b in (1, 8))
    labels = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert any(lbl.startswith("Pareto front (") for lbl in labels)
    assert any("latency validation error" in lbl for lbl in labels)  # the stored GPU band is drawn
    plots.pareto_scatter(df, tmp_path / "q.png", x="latency_s", y="energy_j", group_by=None, uncertainty=False)
    assert len(figs[-1]) == 1
    assert not any("validation error" in t.get_text() for t in figs[-1][0].get_legend().get_texts())


def test_band_fractions_sources():
    df = _union_table().head(6)  # 4 systolic rows, 2 gpu rows
    med, worst = plots.band_fractions(df, "latency_s", {"gpu": {"median_error": 0.05, "worst_error": 0.5}})
    assert np.isnan(med[:4]).all() and med[4] == 0.05 and worst[5] == 0.5
    med, _ = plots.band_fractions(df, "energy_j", {"gpu": {"median_error": 0.05, "worst_error": 0.5}})
    assert np.isnan(med).all()  # a flat band is a latency band
    med, worst = plots.band_fractions(df, "energy_j", {"gpu": {"energy_j": {"median_error": 0.2, "worst_error": 0.3}}})
    assert med[4] == 0.2 and worst[4] == 0.3
    cols = df.assign(latency_error_median=0.01, latency_error_worst=-0.02)
    med, worst = plots.band_fractions(cols, "latency_s")
    assert (med == 0.01).all() and (worst == 0.02).all()
    assert np.isnan(plots.band_fractions(cols, "macs")[0]).all()  # no band for a count
    assert np.isnan(plots.band_fractions(cols, "latency_s", False)[0]).all()


def test_tradeoff_table_and_figure_per_group(tmp_path, monkeypatch):
    figs = _capture(monkeypatch)
    rows = []
    for wl, fam, rec, seed in itertools.product(["lenet", "alexnet"], ["gpu", "eie"], ["m2", "m8"], [0, 1]):
        ratio = 2.0 if rec == "m2" else 8.0
        rows.append({"status": "ok", "workload": wl, "batch": 1, "family": fam, "recipe": rec, "seed": seed,
                     "compression_ratio": ratio, "theoretical_speedup": ratio,
                     "speedup_vs_dense": ratio / (2 if fam == "gpu" else 1) + 0.1 * seed,
                     "latency_error_median": 0.02 if fam == "gpu" else 0.07,
                     "latency_error_worst": 0.7 if fam == "gpu" else 0.18})
    df = pd.DataFrame(rows)
    table = plots.tradeoff_table(df, uncertainty=None)
    assert list(table.columns[:3]) == ["workload", "hardware", "level"] and len(table) == 8
    assert set(table["error_worst"]) == {0.7, 0.18}
    assert "error_median" not in plots.tradeoff_table(df).columns  # the table adds bands only when asked
    plots.tradeoff(df, tmp_path / "t.png")
    panels = figs[-1]
    assert sorted(ax.get_title() for ax in panels) == ["workload=alexnet", "workload=lenet"]
    labels = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert "gpu: worst latency validation error (70%)" in labels


def test_report_sections_are_per_group(tmp_path):
    from accelsim.dse.report import write_report

    df = _union_table()
    spec = {"name": "u", "spaces": [
        {"base": {"arch": "edge-32x32"}, "grid": {"workload": ["mobilenet-v2", "bert-base"],
                                                  "arch.array.rows": [16, 64], "arch.array.cols": [16, 64]}},
        {"grid": {"workload": ["mobilenet-v2", "bert-base"], "batch": [1, 8], "arch": ["a100-40gb", "h100-sxm"]}}],
        "objectives": OBJ, "report": {"top_k": 2, "tradeoff": False}}
    text = write_report(spec, df, tmp_path).read_text()
    assert "compared within groups of equal `workload`, `batch` (4 groups)" in text
    assert "workload=bert-base, batch=8: 1 of 2" in text
    assert "### Top 2 by latency_s (min) per group" in text
    assert "batch=8 occurs only with" not in text and "does not apply to arch=" in text
    flat = write_report({**spec, "report": {"top_k": 2, "tradeoff": False, "group_by": []}}, df,
                        tmp_path / "flat").read_text()
    assert "compared within groups" not in flat and "batch=8 occurs only with arch in" in flat


# --- what-if -----------------------------------------------------------------------------------------

WHATIF_SPEC = {"name": "wi", "base": {"workload": "lenet-300-100", "recipe": "int8"},
               "spaces": [{"base": {"arch": "edge-32x32"}, "grid": {"arch.array.rows": [8, 32]}},
                          {"grid": {"arch": ["a100-40gb", "h100-sxm"]}}],
               "objectives": OBJ, "report": {"top_k": 2}}


@pytest.fixture(scope="module")
def whatif_run(tmp_path_factory):
    from accelsim.dse.sweep import sweep
    from accelsim.dse.whatif import what_if

    folder = tmp_path_factory.mktemp("wi")
    base = sweep(WHATIF_SPEC, progress=False)
    return base, what_if(WHATIF_SPEC, base, 0.5, folder), folder


def test_what_if_perturbs_each_constant_both_ways(whatif_run):
    base, result, folder = whatif_run
    runs = result.runs
    assert (runs["status"] == "ok").all()
    labels = set(runs["tag.whatif"])
    for constant in ("launch_overhead", "compute_efficiency", "dram_efficiency", "dram_energy", "sram_energy"):
        assert {f"{constant} -50%", f"{constant} +50%"} <= labels
    # GPU-only constants touch only the GPU points; energy constants touch every point
    assert set(runs.loc[runs["tag.whatif"] == "launch_overhead +50%", "family"]) == {"gpu"}
    assert set(runs.loc[runs["tag.whatif"] == "dram_energy +50%", "family"]) == {"gpu", "systolic"}
    by_id = base.set_index("id")
    for label, sign in (("dram_energy +50%", 1), ("dram_energy -50%", -1)):
        sub = runs[runs["tag.whatif"] == label]
        for _, r in sub.iterrows():
            b = by_id.loc[r["tag.base_id"]]
            assert np.sign(r["energy_j"] - b["energy_j"]) == sign and r["latency_s"] == pytest.approx(b["latency_s"])
    slow = runs[runs["tag.whatif"] == "launch_overhead +50%"]
    assert all(r["latency_s"] > by_id.loc[r["tag.base_id"], "latency_s"] for _, r in slow.iterrows())
    # efficiencies are fractions of a peak: +50% is clipped at 1.0
    assert (runs.loc[runs["tag.whatif"] == "compute_efficiency +50%", "arch.efficiency.tensor"] == 1.0).all()
    assert any(p.name.endswith("-dram-x1.5.yaml") for p in (folder / "tech").iterdir())


def test_what_if_conclusions_and_report(whatif_run, tmp_path):
    from accelsim.dse.whatif import write_whatif

    _, result, _ = whatif_run
    c = result.conclusions
    assert set(c["conclusion"]) == {"Pareto front", "best latency_s", "best energy_j", "top 2 by latency_s",
                                    "top 2 by energy_j"}
    assert len(c) == 5 * 2 * 5 and c["flipped"].dtype == bool
    assert (c.loc[c["flipped"], "perturbed"] != "").all() and (c.loc[~c["flipped"], "perturbed"] == "").all()
    text = write_whatif(result, tmp_path).read_text()
    assert text.startswith("# What-if: modelling constants +-50%") and "## Per constant" in text
    assert (tmp_path / "whatif.csv").exists() and (tmp_path / "whatif_runs.csv").exists()


def test_what_if_flip_is_detected():
    from accelsim.dse.whatif import _conclusions

    ok = pd.DataFrame([{"id": "a", "status": "ok", "arch_name": "x", "latency_s": 1.0, "energy_j": 2.0},
                       {"id": "b", "status": "ok", "arch_name": "y", "latency_s": 2.0, "energy_j": 1.0}])
    runs = pd.DataFrame([{"id": "r", "status": "ok", "tag.whatif": "dram_energy +30%", "tag.base_id": "a",
                          "latency_s": 1.0, "energy_j": 0.5}])
    c = _conclusions({"objectives": OBJ}, ok, runs, ["dram_energy"], 0.3, OBJ, None)
    flips = c[c["flipped"]]
    assert set(flips["conclusion"]) == {"Pareto front", "best energy_j", "top 5 by energy_j"}
    front = flips[flips["conclusion"] == "Pareto front"].iloc[0]
    assert front["perturbed"] == "- y" and front["change"] == "+30%"


def test_what_if_names_a_front_in_the_tables_order():
    from accelsim.dse.whatif import _conclusions

    ok = pd.DataFrame([{"id": "b", "status": "ok", "arch_name": "x", "latency_s": 1.0, "energy_j": 2.0},
                       {"id": "a", "status": "ok", "arch_name": "y", "latency_s": 2.0, "energy_j": 1.0}])
    runs = pd.DataFrame([{"id": "r", "status": "ok", "tag.whatif": "dram_energy +30%", "tag.base_id": "a",
                          "latency_s": 2.0, "energy_j": 1.0}])
    c = _conclusions({"objectives": OBJ}, ok, runs, ["dram_energy"], 0.3, OBJ, None)
    assert c.loc[c["conclusion"] == "Pareto front", "baseline"].iloc[0] == "x; y"  # (ids sorted: "y; x")


@pytest.mark.parametrize("bad", [0, -0.1, 0.95, True])
def test_what_if_refuses_bad_fractions(bad, tmp_path):
    from accelsim.dse.whatif import what_if

    with pytest.raises(SweepError, match="--what-if must be a fraction"):
        what_if(WHATIF_SPEC, pd.DataFrame({"id": [], "status": []}), bad, tmp_path)


def test_cli_what_if_and_group_by(tmp_path, run_cli):
    import yaml

    spec = tmp_path / "wi.yaml"
    spec.write_text(yaml.safe_dump(WHATIF_SPEC))
    code, out, err = run_cli("report", spec, "--out", tmp_path / "o", "--quiet", "--what-if", "0.5",
                             "--group-by", "none")
    assert code == 0, err
    assert "What-if +-50%:" in out and "wrote" in out and (tmp_path / "o" / "whatif.md").exists()
    assert "## What-if: modelling constants +-50%" in (tmp_path / "o" / "report.md").read_text()
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o", "--quiet", "--resume", "--what-if", "2")
    assert code == 2 and "--what-if must be a fraction in (0, 0.9]; got 2.0" in err
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o", "--quiet", "--resume", "--group-by", "nope")
    assert code == 2 and "group_by: 'nope' is not a column" in err
