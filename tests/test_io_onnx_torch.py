"""torch.onnx exports (TorchScript exporter) of zoo networks and a transformer block, read back by io_onnx."""

import io
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from torch import nn  # noqa: E402

from accelsim.workload.io_onnx import load_onnx  # noqa: E402
from accelsim.workload.layers import Conv2d, Linear  # noqa: E402
from accelsim.workload.zoo import load_workload  # noqa: E402


def _export(module, *args, opset=17):
    buffer = io.BytesIO()
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset, input_names=["x"])
    return onnx.load_from_string(buffer.getvalue())


# --- mirrors of zoo entries (torchvision / Caffe definitions, written here since torchvision is absent) ---

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = [64, 128, 256, 512]
        cin = 64
        for i, c in enumerate(chans):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, c, stride), BasicBlock(c, c, 1)))
            cin = c
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class CaffeAlexNet(nn.Module):
    """BVLC AlexNet: grouped conv2/4/5, LRN omitted (identity in the zoo), ceil-mode pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, 4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.fc6 = nn.Linear(9216, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, 1000)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.relu(self.conv4(torch.relu(self.conv3(x))))
        x = self.pool(torch.relu(self.conv5(x)))
        x = torch.flatten(x, 1)
        x = self.drop(torch.relu(self.fc6(x)))
        x = self.drop(torch.relu(self.fc7(x)))
        return torch.softmax(self.fc8(x), dim=1)


def _gemm_layers(graph):
    return {layer.name: layer for layer in graph.compute_layers() if isinstance(layer, (Conv2d, Linear))}


def _assert_same_gemms(zoo, imported, rename=lambda name: name):
    zoo_layers = _gemm_layers(zoo)
    got = {rename(name): layer for name, layer in _gemm_layers(imported).items()}
    assert sorted(got) == sorted(zoo_layers)
    for name, layer in zoo_layers.items():
        assert got[name].gemm(1).as_tuple() == layer.gemm(1).as_tuple(), name
        assert got[name].macs == layer.macs, name
        assert got[name].weight_matrix_shape == layer.weight_matrix_shape, name
    assert sum(layer.macs for layer in got.values()) == sum(layer.macs for layer in zoo_layers.values())


def test_resnet18_export_matches_zoo():
    torch.manual_seed(0)
    model = _export(ResNet18(), torch.randn(1, 3, 224, 224))
    graph = load_onnx(model)
    _assert_same_gemms(load_workload("resnet18"), graph, rename=lambda n: n.replace("downsample.0", "downsample"))
    # the exporter folds every BatchNorm into its conv; weights come along in (out, in, kh, kw) layout
    assert not [layer for layer in graph.layers if layer.op == "batchnorm"]
    assert graph.weights["layer2.0.conv1"].shape == (128, 64, 3, 3)
    assert graph.layer("fc").input_shape == (512,)
    pools = [layer for layer in graph.layers if layer.op == "pool"]
    assert [p.global_pool for p in pools] == [False, True]


@pytest.mark.slow  # exporting 61M parameters takes ~10 s on a small machine
def test_alexnet_export_matches_zoo():
    torch.manual_seed(0)
    net = CaffeAlexNet()
    graph = load_onnx(_export(net, torch.randn(1, 3, 227, 227)))
    _assert_same_gemms(load_workload("alexnet"), graph)
    assert graph.layer("conv2").groups == 2
    np.testing.assert_array_equal(graph.weights["fc6"], net.fc6.weight.detach().numpy())
    np.testing.assert_array_equal(graph.biases["conv4"], net.conv4.bias.detach().numpy())


def test_small_cnn_batchnorm_folded_by_exporter_numerics():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    net[1].running_mean.uniform_(-1, 1)
    net[1].running_var.uniform_(0.5, 2)
    graph = load_onnx(_export(net, torch.randn(1, 3, 8, 8)))
    conv = graph.layer("0")
    assert conv.bias and conv.gemm(1).as_tuple() == (64, 4, 27, 1)
    assert graph.layer("4").gemm(1).as_tuple() == (16, 2, 18, 2)
    assert graph.layer("6").gemm(1).as_tuple() == (1, 5, 64, 1)
    bn = net[1]
    s = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    np.testing.assert_allclose(graph.weights["0"], net[0].weight.detach().numpy() * s[:, None, None, None], rtol=1e-5)
    x = torch.randn(1, 3, 8, 8)
    # the imported conv weight and bias reproduce conv+bn
    ref = net[1](net[0](x)).detach().numpy()
    out = torch.nn.functional.conv2d(x, torch.from_numpy(graph.weights["0"]), torch.from_numpy(graph.biases["0"]), padding=1)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-5)


class Block(nn.Module):
    """A pre-built transformer encoder block (batch first), as BERT's."""

    def __init__(self, d=32, heads=4, ff=64):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attn_out = nn.Linear(d, d)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.act = nn.GELU()

    def forward(self, x):
        b, s, d = x.shape
        h = self.heads

        def split(t):
            return t.view(b, s, h, d // h).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.softmax(q @ k.transpose(-2, -1) / (d // h) ** 0.5, dim=-1)
        ctx = (scores @ v).transpose(1, 2).reshape(b, s, d)
        x = self.ln1(x + self.attn_out(ctx))
        return self.ln2(x + self.ff2(self.act(self.ff1(x))))


def test_transformer_block_export():
    torch.manual_seed(2)
    block = Block()
    graph = load_onnx(_export(block, torch.randn(1, 16, 32)))
    gemms = {layer.name: layer.gemm(1).as_tuple() for layer in graph.compute_layers() if layer.gemm(1) is not None}
    assert gemms["query"] == gemms["key"] == gemms["value"] == gemms["attn_out"] == (16, 32, 32, 1)
    assert gemms["ff1"] == (16, 64, 32, 1) and gemms["ff2"] == (16, 32, 64, 1)
    matmuls = [layer for layer in graph.compute_layers() if layer.op == "matmul"]
    assert [m.gemm(1).as_tuple() for m in matmuls] == [(16, 16, 8, 4), (16, 8, 16, 4)]
    assert [layer.func for layer in graph.layers if layer.op == "activation"] == ["gelu"]
    assert [layer.op for layer in graph.layers].count("layernorm") == 2
    assert [layer.op for layer in graph.layers].count("softmax") == 1
    for name in ("query", "ff1"):
        np.testing.assert_array_equal(graph.weights[name], getattr(block, name).weight.detach().numpy())
        np.testing.assert_array_equal(graph.biases[name], getattr(block, name).bias.detach().numpy())
    # same MACs as the equivalent BERT layer list, per token
    expected = 16 * (4 * 32 * 32 + 2 * 32 * 64) + 2 * 4 * 16 * 16 * 8
    assert graph.total_macs == expected


def test_lstm_export_batch_first():
    torch.manual_seed(3)
    net = nn.LSTM(10, 20, batch_first=True)
    graph = load_onnx(_export(net, torch.randn(1, 7, 10)))
    (cell,) = [layer for layer in graph.layers if layer.op == "lstm"]
    assert cell.gemm(1).as_tuple() == (7, 80, 31, 1)
    weight = graph.weights[cell.name]
    np.testing.assert_allclose(weight[:, :10], net.weight_ih_l0.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(weight[:, 10:30], net.weight_hh_l0.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(weight[:, 30], (net.bias_ih_l0 + net.bias_hh_l0).detach().numpy(), rtol=1e-5)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = cin * t
        layers = [] if t == 1 else [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision mobilenet_v2 (width 1.0) layer for layer; the head pools with x.mean([2, 3])."""

    def __init__(self):
        super().__init__()
        setting = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        layers = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
        cin = 32
        for t, c, n, s in setting:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x):
        return self.classifier(self.features(x).mean([2, 3]))


class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3x3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)


class SqueezeNet11(nn.Module):
    def __init__(self):
        super().__init__()
        pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2), nn.ReLU(), pool, Fire(64, 16, 64), Fire(128, 16, 64), pool, Fire(128, 32, 128),
            Fire(256, 32, 128), pool, Fire(256, 48, 192), Fire(384, 48, 192), Fire(384, 64, 256), Fire(512, 64, 256))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, 1000, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        half = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                                         nn.Conv2d(cin, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())
        first = cin if stride > 1 else half
        self.branch2 = nn.Sequential(
            nn.Conv2d(first, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(),
            nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False), nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        b, c, h, w = out.shape
        return out.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, c, h, w)  # channel shuffle


class ShuffleNetV2(nn.Module):
    """torchvision shufflenet_v2_x1_0: chunk -> Split/Slice, channel shuffle -> Reshape/Transpose/Reshape."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], 24
        for repeats, cout in zip([4, 8, 4], [116, 232, 464]):
            stages.append(nn.Sequential(ShuffleUnit(cin, cout, 2), *[ShuffleUnit(cout, cout, 1) for _ in range(repeats - 1)]))
            cin = cout
        self.stage2, self.stage3, self.stage4 = stages
        self.conv5 = nn.Sequential(nn.Conv2d(cin, 1024, 1, bias=False), nn.BatchNorm2d(1024), nn.ReLU())
        self.fc = nn.Linear(1024, 1000)

    def forward(self, x):
        x = self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x)))))
        return self.fc(self.conv5(x).mean([2, 3]))


def _gemm_sequence(graph):
    return [(layer.gemm(1).as_tuple(), layer.macs) for layer in graph.compute_layers() if isinstance(layer, (Conv2d, Linear))]


_EXPORTS = {}


def _exported(net):
    if net not in _EXPORTS:
        torch.manual_seed(0)
        _EXPORTS[net] = load_onnx(_export(net(), torch.randn(1, 3, 224, 224)))
    return _EXPORTS[net]


_SLOW = pytest.mark.slow  # full-size exports take several seconds each on a shared machine


@pytest.mark.parametrize("net,zoo_name", [(SqueezeNet11, "squeezenet1.1"),
                                          pytest.param(MobileNetV2, "mobilenet-v2", marks=_SLOW),
                                          pytest.param(ShuffleNetV2, "shufflenet-v2", marks=_SLOW)])
def test_export_matches_zoo_in_order(net, zoo_name):
    """Every conv / linear of the export, in forward order, has the zoo layer's GEMM view and MACs."""
    assert _gemm_sequence(_exported(net)) == _gemm_sequence(load_workload(zoo_name))


def test_shufflenet_units_split_and_shuffle():
    net = nn.Sequential(ShuffleUnit(24, 48, 2), ShuffleUnit(48, 48, 1), ShuffleUnit(48, 48, 1))
    graph = load_onnx(_export(net, torch.randn(1, 24, 16, 16)))
    slices = [layer for layer in graph.layers if layer.op == "slice"]
    assert [(s.axis, s.start, s.stop) for s in slices] == [(0, 0, 24), (0, 24, 48)] * 2  # chunk(2) of the stride-1 units
    transposes = [layer for layer in graph.layers if layer.op == "transpose"]
    assert len(transposes) == 3 and all(t.perm == (1, 0, 2, 3) for t in transposes)
    assert [layer.output_shape for layer in graph.layers if layer.op == "concat"] == [(48, 8, 8)] * 3
    assert graph.layer("0.branch1.0").is_depthwise and graph.layer("0.branch1.0").gemm(1).as_tuple() == (64, 1, 9, 24)


def test_mobilenet_v2_block_ops():
    net = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(), InvertedResidual(16, 16, 1, 6),
                        InvertedResidual(16, 24, 2, 6))

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.fc = net, nn.Linear(24, 10)

        def forward(self, x):
            return self.fc(self.body(x).mean([2, 3]))

    graph = load_onnx(_export(Head(), torch.randn(1, 3, 32, 32)))
    assert {layer.func for layer in graph.layers if layer.op == "activation"} == {"relu6"}  # Clip(0, 6)
    (gap,) = [layer for layer in graph.layers if layer.op == "pool"]  # ReduceMean over H, W
    assert gap.global_pool and gap.kind == "avg"
    assert graph.layer("fc").input_shape == (24,)
    assert [layer.op for layer in graph.layers].count("eltwise") == 1  # the one residual
    assert not [layer for layer in graph.layers if layer.op == "batchnorm"]


@pytest.mark.parametrize("opset", [14, 17])
def test_decomposed_layernorm_gelu_silu_are_fused(opset):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln, self.fc1, self.fc2 = nn.LayerNorm(16), nn.Linear(16, 32), nn.Linear(32, 16)
            self.gelu, self.silu = nn.GELU(approximate="tanh"), nn.SiLU()

        def forward(self, x):
            return self.silu(self.fc2(self.gelu(self.fc1(self.ln(x)))))

    graph = load_onnx(_export(Net(), torch.randn(1, 5, 16), opset=opset))
    assert [(layer.op, getattr(layer, "func", None)) for layer in graph.compute_layers()] == [
        ("layernorm", None), ("linear", None), ("activation", "gelu"), ("linear", None), ("activation", "silu")]


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_export(batch_first):
    torch.manual_seed(4)
    mha = nn.MultiheadAttention(32, 4, batch_first=batch_first)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    x = torch.randn(1, 10, 32) if batch_first else torch.randn(10, 1, 32)
    graph = load_onnx(_export(Wrap(), x))
    linears = [layer for layer in graph.compute_layers() if layer.op == "linear"]
    assert [layer.gemm(1).as_tuple() for layer in linears] == [(10, 96, 32, 1), (10, 32, 32, 1)]
    np.testing.assert_array_equal(graph.weights[linears[0].name], mha.in_proj_weight.detach().numpy())
    matmuls = [layer.gemm(1).as_tuple() for layer in graph.compute_layers() if layer.op == "matmul"]
    assert matmuls == [(10, 10, 8, 4), (10, 8, 10, 4)]
    # a sequence-first input has no batch axis 0: the import keeps whole tensors
    assert graph.metadata["onnx"]["batch"] == (1 if batch_first else None)


def test_conv1d_pad_and_mask_export():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 8, 5, stride=2, padding=2)
            self.pool = nn.MaxPool1d(2)
            self.conv2d = nn.Conv2d(8, 8, 3)
            self.register_buffer("mask", torch.tril(torch.ones(6, 6)).bool())

        def forward(self, x, y):
            a = self.pool(torch.relu(self.conv(x)))
            b = self.conv2d(nn.functional.pad(y, (1, 1, 1, 1)))  # explicit Pad folded into the conv
            scores = (a.transpose(1, 2) @ a).masked_fill(~self.mask, float("-inf"))
            return b, scores.softmax(-1)

    net = Net()
    graph = load_onnx(_export(net, torch.randn(1, 4, 24), torch.randn(1, 8, 10, 10)))
    conv = graph.layer("conv")
    assert conv.kernel == (1, 5) and conv.stride == (1, 2) and conv.padding == (0, 2)
    assert conv.gemm(1).as_tuple() == (12, 8, 20, 1) and graph.weights["conv"].shape == (8, 4, 1, 5)
    assert graph.layer("pool/as_1d").output_shape == (8, 6)
    assert graph.layer("conv2d").padding == (1, 1) and graph.layer("conv2d").output_shape == (8, 10, 10)
    (mm,) = [layer for layer in graph.layers if layer.op == "matmul"]
    assert mm.gemm(1).as_tuple() == (6, 6, 8, 1)
    assert [graph.layer(s).op for s in graph.successors(mm.name)] == ["identity"]  # masked_fill with a constant mask


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class LlamaBlock(nn.Module):
    """A Llama-style decoder block: RMSNorm, rotary embeddings, SwiGLU MLP, no biases."""

    def __init__(self, d=32, heads=4, ff=64, seq=8):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = RMSNorm(d), RMSNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up, self.down = nn.Linear(d, ff, bias=False), nn.Linear(d, ff, bias=False), nn.Linear(ff, d, bias=False)
        self.register_buffer("cos", torch.randn(seq, d // heads))
        self.register_buffer("sin", torch.randn(seq, d // heads))

    @staticmethod
    def rotate(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def forward(self, x):
        b, s, d = x.shape
        h = self.heads
        y = self.norm1(x)
        q, k, v = (proj(y).view(b, s, h, d // h).transpose(1, 2) for proj in (self.q, self.k, self.v))
        q = q * self.cos + self.rotate(q) * self.sin
        k = k * self.cos + self.rotate(k) * self.sin
        attn = torch.softmax(q @ k.transpose(-1, -2) / (d // h) ** 0.5, dim=-1) @ v
        x = x + self.o(attn.transpose(1, 2).reshape(b, s, d))
        y = self.norm2(x)
        return x + self.down(nn.functional.silu(self.gate(y)) * self.up(y))


@pytest.mark.parametrize("opset", [14, 17])
def test_llama_block_export(opset):
    graph = load_onnx(_export(LlamaBlock(), torch.randn(1, 8, 32), opset=opset))
    norms = [layer for layer in graph.layers if layer.op == "layernorm"]
    assert [(n.name, n.rms) for n in norms] == [("norm1", True), ("norm2", True)]
    assert [layer.func for layer in graph.layers if layer.op == "activation"] == ["silu"]
    gemms = {layer.name: layer.gemm(1).as_tuple() for layer in graph.compute_layers() if layer.op == "linear"}
    assert gemms == {"q": (8, 32, 32, 1), "k": (8, 32, 32, 1), "v": (8, 32, 32, 1), "o": (8, 32, 32, 1),
                     "gate": (8, 64, 32, 1), "up": (8, 64, 32, 1), "down": (8, 32, 64, 1)}
    assert [layer.gemm(1).as_tuple() for layer in graph.layers if layer.op == "matmul"] == [(8, 8, 8, 4), (8, 8, 8, 4)]
