"""Sweeps through the real pipeline (default evaluator): rows agree with accelsim.simulate, bad specs
fail before anything runs with the nearest valid keys, executors agree with the serial run."""

import filecmp

import numpy as np
import pandas as pd
import pytest

import accelsim
from accelsim.dse import Grid, Space, load_layers
from accelsim.dse.evaluate import SimulateEvaluator
from accelsim.errors import SweepError

WL = "lenet-300-100"


def small_space():
    return Space(base={"arch": "edge-32x32", "workload": WL},
                 axes=[Grid({"arch.array.rows": [8, 32], "arch.array.dataflow": ["os", "ws"], "batch": [1, 4]})])


def test_rows_equal_simulate_totals():
    df = accelsim.sweep(small_space(), progress=False)
    assert len(df) == 8 and (df["status"] == "ok").all()
    for _, row in df.iterrows():
        ref = accelsim.simulate("edge-32x32", WL, batch=int(row["batch"]),
                                overrides={"array.rows": int(row["arch.array.rows"]),
                                           "array.dataflow": row["arch.array.dataflow"]})
        tot = ref.total
        assert row["cycles"] == tot["cycles"] and row["latency_s"] == tot["latency_s"]
        assert row["energy_j"] == pytest.approx(tot["energy_j"], rel=1e-12)
        assert row["dram_read_bytes"] == tot["dram_read_bytes"]
        for cat, joules in tot["energy_breakdown_j"].items():
            assert row[f"energy.{cat}"] == pytest.approx(joules, rel=1e-12)
        assert row["family"] == "systolic" and row["arch_name"] == "edge-32x32"
        assert row["theoretical_speedup"] == 1.0 and row["compression_ratio"] == 1.0
    # bigger batch, more work
    a = df[(df["batch"] == 1)]["cycles"].to_numpy()
    b = df[(df["batch"] == 4)]["cycles"].to_numpy()
    assert (b >= a).all()


def test_shrinkbench_columns_count_the_original_weights_after_channel_pruning():
    """Channel pruning shrinks the layers: the theoretical speedup and nnz ratio still compare with the
    original model's MACs and weights (ShrinkBench's counts, as `accelsim compress` reports them), not 1.0."""
    from accelsim.simulate import compress_workload
    from accelsim.workload.zoo import load_workload

    recipe = {"name": "channel", "pipeline": [{"channel_prune": {"sparsity": 0.75}}]}
    df = accelsim.sweep(Space(base={"arch": "edge-32x32", "workload": "lenet5", "recipe": recipe}, axes=[]),
                        progress=False)
    assert (df["status"] == "ok").all()
    stats = compress_workload(load_workload("lenet5"), recipe).stats
    row = df.iloc[0]
    assert stats["theoretical_speedup"] > 4
    assert row["theoretical_speedup"] == pytest.approx(stats["theoretical_speedup"], rel=1e-12)
    assert row["nnz_ratio"] == pytest.approx(stats["nnz_ratio"], rel=1e-12)
    assert row["params"] == stats["params"]


def test_per_layer_detail_sums_to_the_point(tmp_path):
    df = accelsim.sweep(small_space(), store=tmp_path, detail=True, progress=False)
    layers = load_layers(tmp_path)
    assert layers["id"].nunique() == len(df)
    for _, row in df.iterrows():
        sub = layers[layers["id"] == row["id"]]
        assert len(sub) == row["num_layers"]
        assert sub["cycles"].sum() == row["cycles"]
        assert sub["latency_s"].sum() == pytest.approx(row["latency_s"], rel=1e-12)
        assert (sub["arch.array.rows"] == row["arch.array.rows"]).all()  # settings joined in
    pd.testing.assert_frame_equal(df.attrs["layers"], layers)
    mem = accelsim.sweep(small_space(), detail=True, progress=False)
    pd.testing.assert_frame_equal(mem.attrs["layers"], layers)


@pytest.mark.parametrize("setting, fragment", [
    ({"arch.array.rwos": 8}, "arch.array.rwos: unknown config key for family 'systolic'; nearest valid keys: arch.array.rows"),
    ({"arch.arary.rows": 8}, "nearest valid keys: arch.array.rows"),
    ({"arch.array.rows": "many"}, "arch.array.rows must be an int"),
    ({"arch.array.rows": 0}, "arch.array.rows must be an int in [1, 65536]; got 0"),
    ({"arch.array.dataflow": "xs"}, "arch.array.dataflow must be one of os, ws, is; got 'xs'"),
    ({"arch": "edge-32x23"}, "unknown arch 'edge-32x23'; did you mean edge-32x32"),
    ({"workload": "resnet-50"}, "unknown workload 'resnet-50'; did you mean"),
    ({"batch": 0}, "batch must be an int >= 1; got 0"),
    ({"batch": 2.5}, "batch must be an int >= 1; got 2.5"),
    ({"batch": True}, "batch must be an int >= 1; got true"),  # quoted as YAML wrote it (docs/cli.md)
    ({"seed": None}, "seed must be an int >= 0; got null"),
    ({"seed": 99999999999999999999999}, "seed must be <= 4294967295 (2^32 - 1: a 32-bit seed, as a recipe's seed)"),
    ({"worklaod": WL}, "worklaod: unknown key; did you mean workload?"),
])
def test_bad_settings_are_rejected_before_anything_runs(setting, fragment):
    calls = []

    class Spy(SimulateEvaluator):
        def __call__(self, s):
            calls.append(s)
            return super().__call__(s)

    space = Space(base={"arch": "edge-32x32", "workload": WL}, axes=[Grid({"arch.array.cols": [8, 16]})])
    bad = Space(base={"arch": "edge-32x32", "workload": WL, **setting})
    with pytest.raises(SweepError) as err:
        accelsim.sweep(space | bad, evaluate=Spy(), progress=False)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)
    assert calls == []


def test_missing_required_keys():
    problems = SimulateEvaluator().validate({"batch": 1})
    assert "arch is required (a bundled name or a path)" in problems
    assert "workload is required (a bundled name or a path)" in problems


def test_unsupported_point_is_an_error_row_not_a_crash():
    space = Space(base={"workload": WL}, axes=[Grid({"arch": ["edge-32x32", "eie"]})])
    df = accelsim.sweep(space, progress=False)
    assert df["status"].tolist() == ["ok", "error"]
    assert "uncompressed" in df["error"].iloc[1]
    assert np.isnan(df["latency_s"].iloc[1])


def test_cli_typo_in_dotted_path_exits_2_with_nearest_keys(tmp_path, run_cli):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base: {{arch: edge-32x32, workload: {WL}}}\ngrid:\n  arch.array.rwos: [8, 16]\n")
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"accelsim: error: {spec}: arch.array.rwos: unknown config key")
    assert "arch.array.rows" in err
    assert not (tmp_path / "o" / "results.csv").exists()
    spec.write_text(f"base: {{arch: edge-32x32, workload: {WL}}}\ngrid:\n  arch.array.rows: [8, sixteen]\n")
    code, out, err = run_cli("sweep", spec, "--out", tmp_path / "o")
    assert code == 2 and "arch.array.rows must be an int" in err and "'sixteen'" in err


def test_process_pool_and_local_cluster_match_serial(tmp_path):
    distributed = pytest.importorskip("distributed")
    space = small_space()
    serial = accelsim.sweep(space, store=tmp_path / "serial", progress=False)
    pool = accelsim.sweep(space, executor=2, store=tmp_path / "pool", progress=False)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            dask = accelsim.sweep(space, executor=client, store=tmp_path / "dask", progress=False)
    pd.testing.assert_frame_equal(pool, serial)
    pd.testing.assert_frame_equal(dask, serial)
    for name in ("pool", "dask"):
        assert filecmp.cmp(tmp_path / "serial" / "results.csv", tmp_path / name / "results.csv", shallow=False)


def test_cli_plot_every_kind_from_a_sweep_and_from_simulate_json(tmp_path, run_cli):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"base: {{workload: {WL}}}\ndetail: true\n"
        "grid:\n  arch: [edge-32x32, h100-sxm]\n  recipe: [magnitude-2, magnitude-8]\n  seed: [0, 1]\n"
        "objectives: {latency_s: min, energy_j: min}\n")
    out = tmp_path / "run"
    code, _, err = run_cli("sweep", spec, "--out", out, "--quiet")
    assert code == 0, err
    for kind, ext in (("roofline", "png"), ("breakdown", "svg"), ("pareto", "png"), ("tradeoff", "svg")):
        fig = tmp_path / f"{kind}.{ext}"
        code, stdout, err = run_cli("plot", out, "--kind", kind, "--out", fig)
        assert code == 0, err
        assert fig.stat().st_size > 2000 and f"wrote {fig}" in stdout
    df = accelsim.dse.load_results(out)
    assert set(df["theoretical_speedup"].round(6)) == {2.0, 8.0}
    assert df["speedup_vs_dense"].notna().all()
    # from a single simulation's JSON
    js = tmp_path / "r.json"
    code, _, err = run_cli("simulate", "--arch", "edge-32x32", "--workload", WL, "--format", "json", "--out", js)
    assert code == 0, err
    code, _, err = run_cli("plot", js, "--kind", "roofline", "--out", tmp_path / "sim.png")
    assert code == 0, err
    # bad inputs: one line, exit 2
    code, _, err = run_cli("plot", out, "--kind", "roofline", "--out", tmp_path / "x.jpg")
    assert code == 2 and "must end in .png, .svg or .pdf" in err and err.count("\n") == 1
    code, _, err = run_cli("plot", tmp_path / "nowhere", "--kind", "pareto", "--out", tmp_path / "x.png")
    assert code == 2 and "not found" in err
    (tmp_path / "run" / "layers.csv").unlink()
    code, _, err = run_cli("plot", out, "--kind", "breakdown", "--out", tmp_path / "x.png")
    assert code == 2 and "needs per-layer results" in err
    code, _, err = run_cli("plot", out, "--kind", "pareto", "--x", "latency", "--out", tmp_path / "x.png")
    assert code == 2 and "--x latency: not a column of the results table; did you mean latency_s" in err


def test_progress_bar_is_quiet_off_a_terminal(capsys):
    accelsim.sweep(small_space(), progress=True)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_cli_objective_typo_fails_before_running(tmp_path, run_cli):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base: {{arch: edge-32x32, workload: {WL}}}\ngrid: {{batch: [1, 2]}}\n"
                    "objectives: {latency: min}\n")
    code, _, err = run_cli("sweep", spec, "--out", tmp_path / "o")
    assert code == 2 and "objectives.latency: not a result column; did you mean latency_s" in err
    assert not (tmp_path / "o").exists()
    spec.write_text(f"base: {{arch: edge-32x32, workload: {WL}}}\ngrid: {{batch: [1]}}\nobjectives: {{latency_s: low}}\n")
    code, _, err = run_cli("sweep", spec, "--out", tmp_path / "o")
    assert code == 2 and f"{spec}: objectives.latency_s must be one of min, max; got 'low'" in err
    spec.write_text(f"base: {{arch: edge-32x32, workload: {WL}}}\ngrid: {{batch: [1]}}\n")
    code, _, err = run_cli("sweep", spec, "--out", tmp_path / "o", "--workers", "0")
    assert code == 2 and "--workers must be >= 1; got 0" in err


def test_compressed_graph_is_cached_per_workload_recipe_seed(monkeypatch):
    import accelsim.compress.recipe as rc
    from accelsim.dse.evaluate import clear_caches

    calls = []
    real = rc.compress

    def counting(graph, recipe, seed=0):
        calls.append((graph.name, seed))
        return real(graph, recipe, seed=seed)

    monkeypatch.setattr(rc, "compress", counting)
    clear_caches()
    space = Space(base={"arch": "edge-32x32", "workload": WL, "recipe": "magnitude-4"},
                  axes=[Grid({"arch.array.rows": [8, 16, 32], "arch.array.dataflow": ["os", "ws"], "seed": [0, 1]})])
    df = accelsim.sweep(space, progress=False)
    assert len(df) == 12 and (df["status"] == "ok").all()
    assert sorted(calls) == [(WL, 0), (WL, 1)]  # once per seed, not once per point
    clear_caches()
