"""PyTorch modules through torch.export (issue 12 item 5): torchvision-like and transformers-like modules built here
with random weights import with the layer types and MACs of their ONNX export, and conv / linear / matmul MACs equal
torch.utils.flop_counter.FlopCounterMode on the same module and input."""

import collections
import io
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload import layers as L  # noqa: E402
from accelsim.workload.io_torch import load_torch  # noqa: E402
from accelsim.workload.onnx import load_onnx  # noqa: E402

GEMM = (L.Conv2d, L.Linear, L.MatMul, L.RecurrentCell)
#: layers that move data only: exporters spell them differently (nn.Flatten: Flatten or a view)
GLUE = {"reshape", "flatten", "transpose", "identity", "slice", "concat", "generic"}


def _flop_macs(module, args) -> int:
    """FLOPs / 2 with SDPA on its math kernel and the fused MHA path off (both hide their matmuls from the counter)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            module(*args)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return counter.get_total_flops() // 2


def _macs(graph) -> int:
    return sum(layer.macs for layer in graph.compute_layers() if isinstance(layer, GEMM))


def _types(graph) -> collections.Counter:
    return collections.Counter(layer.op for layer in graph.compute_layers() if layer.op not in GLUE)


def _onnx_export(module, args):
    """torch's own ONNX export of the module (dynamo exporter, its default onnxscript optimization)."""
    with warnings.catch_warnings(), __import__("contextlib").redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return load_onnx(torch.onnx.export(module, args, dynamo=True, verbose=False).model_proto)


class BasicBlock(nn.Module):  # torchvision's ResNet basic block with a projection shortcut, then a classifier
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.down = nn.Sequential(nn.Conv2d(3, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        y = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + self.down(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


class InvertedResidual(nn.Module):  # MobileNet-v3 style: expand, depthwise, squeeze-excite, project; hardswish
    def __init__(self):
        super().__init__()
        self.expand, self.dw = nn.Conv2d(8, 32, 1), nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.se1, self.se2, self.project = nn.Conv2d(32, 8, 1), nn.Conv2d(8, 32, 1), nn.Conv2d(32, 8, 1)
        self.act = nn.Hardswish()

    def forward(self, x):
        y = self.act(self.dw(self.act(self.expand(x))))
        scale = torch.sigmoid(self.se2(torch.relu(self.se1(y.mean((2, 3), keepdim=True)))))
        return x + self.project(y * scale)


class TinyViT(nn.Module):  # patch embedding + one pre-norm encoder layer (math attention) + head
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 8, stride=8)
        self.encoder = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        return self.head(self.encoder(tokens).mean(1))


def _hf(kind):
    transformers = pytest.importorskip("transformers")
    common = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                  max_position_embeddings=64)
    if kind == "bert":
        model = transformers.BertModel(transformers.BertConfig(**common, attn_implementation="eager"), add_pooling_layer=False)
    else:
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**common, num_key_value_heads=2, attn_implementation="eager"))

    class Wrapped(nn.Module):  # the tensor a user costs: hidden states or logits
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, ids):
            out = self.m(input_ids=ids, use_cache=False) if kind == "llama" else self.m(input_ids=ids)
            return out.logits if kind == "llama" else out.last_hidden_state

    return Wrapped().eval(), (torch.randint(0, 100, (1, 16)),)


CASES = {
    "resnet-block": lambda: (BasicBlock().eval(), (torch.randn(1, 3, 32, 32),)),
    "mobilenet-v3-block": lambda: (InvertedResidual().eval(), (torch.randn(1, 8, 16, 16),)),
    "vit": lambda: (TinyViT().eval(), (torch.randn(1, 3, 32, 32),)),
    "llama": lambda: _hf("llama"),
    "bert": lambda: _hf("bert"),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in ("vit", "bert") else n for n in CASES])
def test_module_imports_like_its_onnx_export_with_flop_counter_macs(name):
    module, args = CASES[name]()
    graph = load_torch(module, args[0])
    assert graph.metadata["torch"]["exporter"] == "export"
    reference = _onnx_export(module, args)
    assert _types(graph) == _types(reference)
    assert _macs(graph) == _macs(reference) == _flop_macs(module, args)
    if name == "resnet-block":  # BatchNorm folded into the convolutions, named by module path as before
        assert {"conv1", "conv2", "down.0", "fc"} <= {layer.name for layer in graph.layers}
        assert len(graph.metadata["onnx"]["folded_batchnorm"]) == 3
        traced = load_torch(module, args[0], exporter="torchscript")
        assert _types(traced) == _types(graph) and _macs(traced) == _macs(graph)
    if name == "llama":  # RMSNorm, SiLU fused; grouped-query K / V projections of 2 heads
        assert _types(graph)["layernorm"] == 5 and _types(graph)["activation"] == 2
        assert graph.layer("m.model.layers.0.self_attn.k_proj").out_features == 16


def test_fallback_to_torchscript_and_bad_exporter():
    class DataDependent(nn.Module):  # Python control flow on a tensor value: torch.export cannot capture it
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else -self.fc(x)

    graph = load_torch(DataDependent(), torch.ones(1, 4))
    assert graph.metadata["torch"]["exporter"] == "torchscript"
    assert any("torch.export could not capture or lower DataDependent" in n for n in graph.metadata["notes"])
    assert [layer.op for layer in graph.compute_layers()] == ["linear"]
    with pytest.raises(WorkloadError, match="cannot export DataDependent"):
        load_torch(DataDependent(), torch.ones(1, 4), exporter="export")
    with pytest.raises(WorkloadError, match="exporter must be one of auto, export, torchscript"):
        load_torch(DataDependent(), torch.ones(1, 4), exporter="fx")


class _LowRankUpdate(nn.Module):
    """A weight parametrized as ``W + A @ B`` (LoRA-style): the product of two parameters is a constant."""

    def __init__(self):
        super().__init__()
        self.w, self.a, self.b = (nn.Parameter(torch.randn(*s)) for s in ((16, 12), (16, 4), (4, 12)))

    def forward(self, x):
        return x @ (self.w + self.a @ self.b)


def test_constant_products_are_reported_not_lost():
    """A product of constants is evaluated once at import and its MACs reported (``folded_macs`` and a note);
    the export route used to fold it before the importer saw it, so those MACs vanished without a word."""
    module, x = _LowRankUpdate().eval(), torch.randn(1, 5, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = load_torch(module, x)
    in_graph = sum(layer.macs for layer in graph.compute_layers() if isinstance(layer, GEMM))
    assert in_graph == 5 * 16 * 12 and graph.metadata["onnx"]["folded_macs"] == {"MatMul": 16 * 4 * 12}
    assert in_graph + 16 * 4 * 12 == _flop_macs(module, (x,))
