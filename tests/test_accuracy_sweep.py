"""Accuracy in sweeps: one evaluation per (workload, recipe, seed) whatever the number of hardware
points, the spec's evaluate: mapping, failed evaluations recorded per point, seeds -> mean / std,
and the ShrinkBench figures."""

import warnings

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import accelsim  # noqa: E402
import accelsim.dse.accuracy as dacc  # noqa: E402
from accelsim.dse.accuracy import AccuracyEvaluator, seed_stats  # noqa: E402
from accelsim.errors import SweepError  # noqa: E402

ARCHS = ["edge-32x32", "a100-40gb", "h100-sxm"]


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 12), torch.nn.ReLU(), torch.nn.Linear(12, 4)).eval()
    d = tmp_path_factory.mktemp("mlp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 1, 4, 4),), str(d / "mlp.onnx"), dynamo=False, opset_version=17,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    x = np.random.default_rng(0).normal(0, 3, (30, 1, 4, 4)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).argmax(1).numpy()
    np.savez(d / "data.npz", x=x, y=y)
    np.savez(d / "bad.npz", x=x[:, :, :3], y=y)
    np.savez(d / "nolabels.npz", x=x)
    return {"onnx": str(d / "mlp.onnx"), "dir": d, "net": net}


def _spec(mlp, data="data.npz", **evaluate):
    return {"base": {"workload": mlp["onnx"], "recipe": {"name": "mag", "pipeline": [{"prune": {"sparsity": 0.5}}]}},
            "grid": {"arch": ARCHS, "recipe.prune.sparsity": [0.5, 0.9], "seed": [0, 1]},
            "evaluate": {"data": str(mlp["dir"] / data), "metrics": ["top1", "top5", "kl"], **evaluate}}


def test_one_evaluation_per_recipe_and_seed_whatever_the_hardware_points(mlp, monkeypatch):
    calls = []
    real = dacc._accuracy

    def counting(model, cg, data, **kw):
        calls.append((cg.recipe["name"], kw["graph"].name))
        return real(model, cg, data, **kw)

    monkeypatch.setattr(dacc, "_accuracy", counting)
    df = accelsim.sweep(_spec(mlp), progress=False)
    assert len(df) == 3 * 2 * 2 and (df["status"] == "ok").all()
    assert len(calls) == 2 * 2  # 2 recipes x 2 seeds, not 12 points
    assert {"accuracy.top1", "accuracy.top5", "dense_accuracy.top1", "shrinkbench.compression_ratio"} <= set(df.columns)
    assert (df["dense_accuracy.top1"] == 1.0).all()
    per = df.groupby(["recipe.prune.sparsity", "seed"])["accuracy.top1"].nunique()
    assert (per == 1).all()  # the same evaluation on every hardware point
    assert df.loc[df["recipe.prune.sparsity"] == 0.9, "accuracy.top1"].max() < 1.0
    assert (df["accuracy.kl"] > 0).all() and (df["dense_accuracy.kl"] == 0).all()
    # accuracy is a Pareto axis like any column: the most accurate point is always on the front
    from accelsim.report.pareto import pareto_front

    front = pareto_front(df, {"accuracy.top1": "max", "latency_s": "min"}, group_by=None)
    assert df["accuracy.top1"].max() in set(front["accuracy.top1"]) and len(front) < len(df)
    # twice the hardware points: still 4 evaluations; the evaluator travels to worker processes
    import pickle

    clone = pickle.loads(pickle.dumps(AccuracyEvaluator(data=str(mlp["dir"] / "data.npz"))))
    assert clone.evaluations == 0 and len(clone._cache) == 0
    calls.clear()
    spec = _spec(mlp)
    spec["grid"]["batch"] = [1, 2]
    df = accelsim.sweep(spec, progress=False)
    assert len(df) == 24 and len(calls) == 4


def test_failed_evaluation_is_a_failed_point_and_the_sweep_goes_on(mlp):
    spec = _spec(mlp, data="bad.npz")
    df = accelsim.sweep(spec, progress=False)
    assert len(df) == 12 and (df["status"] == "error").all()
    assert df["error"].str.contains(r"accuracy evaluation failed: .*data samples have shape \[1, 3, 4\]").all()
    # a metric that raises (API): every point fails with its one line; each graph is tried once
    ev = AccuracyEvaluator(data=str(mlp["dir"] / "data.npz"), metrics=["top1", _broken])
    df = accelsim.sweep(_spec(mlp), evaluate=ev, progress=False)
    assert len(df) == 12 and (df["status"] == "error").all()
    assert df["error"].str.contains("metric '_broken' raised ValueError: no score").all()
    assert ev.evaluations == 4


def _broken(outputs, labels):
    raise ValueError("no score")


def test_spec_problems_stop_the_sweep_before_it_runs(mlp, run_cli, tmp_path):
    with pytest.raises(SweepError, match="labels missing"):
        accelsim.sweep(_spec(mlp, data="nolabels.npz"), progress=False)
    with pytest.raises(SweepError, match=r"evaluate\.metrics.*top3"):
        accelsim.sweep(_spec(mlp, metrics=["top3"]), progress=False)
    spec = _spec(mlp)
    spec["base"]["workload"] = "lenet-300-100"
    with pytest.raises(SweepError, match="evaluate.model is required"):
        accelsim.sweep(spec, progress=False)
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_spec(mlp, data="nolabels.npz")))
    code, out, err = run_cli("sweep", path, "--out", tmp_path / "r", "--quiet")
    assert code == 2 and "labels missing" in err and err.count("\n") == 1


def test_seed_stats_and_shrinkbench_figures(mlp, tmp_path):
    spec = _spec(mlp)
    spec["base"]["tag.method"] = "magnitude"
    spec["grid"]["seed"] = [0, 1, 2]
    spec["grid"]["arch"] = ["edge-32x32", "a100-40gb"]
    spec["base"]["recipe"]["pipeline"][0]["prune"]["method"] = "random"  # seeds change the masks
    spec["grid"]["tag.level"] = [1]
    df = accelsim.sweep(spec, progress=False)
    st = seed_stats(df, ["accuracy.top1"])
    assert len(st) == 2 * 2 and (st["n_seeds"] == 3).all()
    one = df[(df["arch"] == "edge-32x32") & (df["recipe.prune.sparsity"] == 0.9)]["accuracy.top1"]
    row = st[(st["arch"] == "edge-32x32") & (st["recipe.prune.sparsity"] == 0.9)].iloc[0]
    assert row["accuracy.top1.mean"] == pytest.approx(one.mean()) and row["accuracy.top1.std"] == pytest.approx(one.std())
    from accelsim.report import shrinkbench as S

    df["tag.level"] = df["recipe.prune.sparsity"]
    for fn in (S.accuracy_vs_compression, S.accuracy_vs_speedup, S.shrinkbench):
        out = fn(df, tmp_path / f"{fn.__name__}.png")
        assert out.stat().st_size > 10_000
    s = S.summary(df, columns=["speedup_vs_dense"])
    assert set(s["n"]) == {3}
    with pytest.raises(accelsim.AccelsimError, match="needs column"):
        S.accuracy_vs_compression(df.drop(columns=["accuracy.top1"]), tmp_path / "x.png")
