"""Calibrated activation densities (issue 17 item 9): a torch ResNet run on a batch with forward hooks,
the same network exported to ONNX and run with onnxruntime; densities below 1 after ReLUs and an EIE
result that changes with them."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
from torch import nn  # noqa: E402

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload.calibrate import apply_densities, calibrate_onnx, torch_input_densities  # noqa: E402
from accelsim.workload.io_torch import load_torch  # noqa: E402
from accelsim.workload.zoo import load_workload  # noqa: E402

RECIPE = {"name": "eie-demo", "seed": 0, "pipeline": [
    {"prune": {"method": "magnitude", "density": 0.3}},
    {"share": {"bits": 4, "init": "linear", "table_bits": 16}},
    {"encode": {"format": "interleaved_csc", "n_pe": 64, "index_bits": 4, "pointer_bits": 16}}]}


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + idt)


class ResNet6(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1, self.relu = nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU()
        self.layer1, self.layer2 = Block(8, 8, 1), Block(8, 16, 2)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


@pytest.fixture(scope="module")
def net_and_batch():
    torch.manual_seed(0)
    net, batch = ResNet6(), torch.randn(16, 3, 16, 16)
    with torch.no_grad():  # batch-norm statistics of the data, so that ReLUs cut about half
        net.train()(batch)
    return net.eval(), batch


def _expected(net, batch):
    """Input densities computed by hand from the module's own intermediate tensors."""
    with torch.no_grad():
        x0 = net.relu(net.bn1(net.conv1(batch)))
        b = net.layer1
        h1 = b.relu(b.bn1(b.conv1(x0)))
        x1 = b(x0)
        h2 = net.layer2.relu(net.layer2.bn1(net.layer2.conv1(x1)))
    d = lambda t: float((t != 0).sum()) / t.numel()  # noqa: E731
    return {"conv1": d(batch), "layer1.conv1": d(x0), "layer1.conv2": d(h1), "layer2.conv1": d(x1),
            "layer2.downsample.0": d(x1), "layer2.conv2": d(h2)}


def test_torch_calibration_measures_input_density_after_relu(net_and_batch):
    net, batch = net_and_batch
    plain = load_torch(net, torch.zeros(1, 3, 16, 16))
    graph = load_torch(net, torch.zeros(1, 3, 16, 16), calibration=batch)
    assert not net.training
    expected = _expected(net, batch)
    for name, value in expected.items():
        assert graph.input_density(name) == pytest.approx(value, abs=1e-12), name
        assert plain.input_density(name) == 1.0
    # after a ReLU, about half the activations are zero; the image input is dense
    assert graph.input_density("conv1") == 1.0
    assert all(0.2 < graph.input_density(n) < 0.8 for n in expected if n != "conv1")
    cal = graph.metadata["calibration"]
    assert cal["batch"] == 16 and cal["layers"] >= len(expected) and cal["unmatched"] == 0


def test_eie_result_changes_with_calibrated_densities(net_and_batch):
    import accelsim

    net, batch = net_and_batch
    plain = load_torch(net, torch.zeros(1, 3, 16, 16), name="resnet6")
    graph = load_torch(net, torch.zeros(1, 3, 16, 16), name="resnet6", calibration=batch)
    a = accelsim.simulate("eie", plain, recipe=RECIPE, dense_baseline=False)
    b = accelsim.simulate("eie", graph, recipe=RECIPE, dense_baseline=False)
    ta, tb = a.total, b.total
    # EIE skips zero activations: fewer broadcast columns, less time and energy
    assert tb["latency_s"] < 0.8 * ta["latency_s"] and tb["energy_j"] < 0.8 * ta["energy_j"]
    lat_a = {r.name: r.latency_s for r in a.layers}
    lat_b = {r.name: r.latency_s for r in b.layers}
    assert lat_b["conv1"] == lat_a["conv1"]  # dense image input: unchanged
    assert lat_b["layer1.conv2"] < lat_a["layer1.conv2"]


def test_onnx_calibration_agrees_with_torch_hooks(net_and_batch, tmp_path):
    pytest.importorskip("onnxruntime")
    net, batch = net_and_batch
    path = tmp_path / "resnet6.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 16, 16),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    np.save(tmp_path / "inputs.npy", batch.numpy())
    graph = calibrate_onnx(load_workload(path), path, tmp_path / "inputs.npy")
    expected = _expected(net, batch)
    for name, value in expected.items():
        assert graph.input_density(name) == pytest.approx(value, abs=1e-6), name
    assert graph.metadata["calibration"]["batch"] == 16


def test_cli_calibrate(net_and_batch, tmp_path, run_cli):
    pytest.importorskip("onnxruntime")
    import json
    import warnings

    net, batch = net_and_batch
    path = tmp_path / "r.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(2, 3, 16, 16),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    np.save(tmp_path / "x.npy", batch.numpy())
    code, out, err = run_cli("stats", "--workload", path, "--calibrate", tmp_path / "x.npy", "--format", "json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)["layers"]}
    assert rows["layer1.conv2"]["activation_density"] < 0.8 and rows["conv1"]["activation_density"] == 1.0
    code, _, err = run_cli("stats", "--workload", "lenet-300-100", "--calibrate", tmp_path / "x.npy")
    assert code == 2 and "not a .onnx file" in err
    code, _, err = run_cli("stats", "--workload", path, "--calibrate", tmp_path / "missing.npy")
    assert code == 2 and "calibration inputs not found" in err


def test_bad_batches_and_graphs_are_refused(net_and_batch):
    net, _ = net_and_batch
    with pytest.raises(WorkloadError, match="must be a tensor or a tuple of tensors"):
        torch_input_densities(net, [1, 2, 3])
    with pytest.raises(WorkloadError, match="running ResNet6 on the batch failed"):
        torch_input_densities(net, torch.zeros(2, 5, 16, 16))
    with pytest.raises(WorkloadError, match="needs a graph imported from ONNX"):
        calibrate_onnx(load_workload("lenet-300-100"), "x.onnx", np.zeros((1, 784)))


def test_apply_densities_clips_zero_and_ignores_unknown_names():
    graph = load_workload("lenet-300-100")
    apply_densities(graph, {"fc2": 0.0, "fc3": 0.25, "nope": 0.5}, source="test", batch=4)
    assert 0 < graph.input_density("fc2") < 1e-300 and graph.input_density("fc3") == 0.25
    assert graph.metadata["calibration"] == {"source": "test", "batch": 4, "layers": 2, "unmatched": 1}
