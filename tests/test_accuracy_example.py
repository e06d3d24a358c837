"""The must-show of examples/digits (slow: trains three small CNNs, ~15 s): dense accuracy near 0.98,
random pruning below magnitude pruning at high sparsity, accuracy falling as compression grows,
and error bars from three seeds."""

import copy
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import accelsim  # noqa: E402
from accelsim.dse.space import read_spec  # noqa: E402
from accelsim.report.shrinkbench import summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "examples" / "digits"


@pytest.mark.slow
def test_digits_example_curves(tmp_path, monkeypatch):
    sys.path.insert(0, str(HERE))
    try:
        import digits
    finally:
        sys.path.remove(str(HERE))
    torch.set_num_threads(1)
    models = tmp_path / "models"
    digits.main(["--out", str(models)])
    spec = read_spec(HERE / "shrinkbench.yaml")
    spaces = [copy.deepcopy(s) for s in spec["spaces"] if s["name"] in ("random", "magnitude")]
    for s in spaces:
        s["grid"] = {"arch": ["edge-32x32"]}
        for pt in s["points"]:
            pt["workload"] = str(models / Path(pt["workload"]).name)
    small = {"base": {"batch": 1}, "spaces": spaces,
             "evaluate": {**spec["evaluate"], "data": str(models / "test.npz")}}
    df = accelsim.sweep(small, progress=False)
    assert (df["status"] == "ok").all() and len(df) == 2 * 5 * 3
    assert 0.97 <= df["dense_accuracy.top1"].mean() <= 1.0
    s = summary(df, columns=["shrinkbench.compression_ratio"], by=())
    assert (s["n"] == 3).all() and (s["accuracy.top1.std"] > 0).any()  # error bars from three seeds
    acc = s.pivot(index="tag.level", columns="tag.method", values="accuracy.top1.mean")
    for method in acc.columns:  # accuracy falls as compression grows (ties at chance level allowed)
        assert acc[method].iloc[0] > acc[method].iloc[-1] + 0.3
        assert all(a >= b - 0.02 for a, b in zip(acc[method], acc[method].iloc[1:]))
    assert (acc["random"].iloc[:3] < acc["magnitude (per layer)"].iloc[:3] - 0.1).all()  # random below magnitude
