"""Defects a held-out round of hand-packed Hugging Face checkpoints found (2026-12-06; a helper that read none of
the tests packed GPTQ / AWQ / compressed-tensors / FP8 layers with its own code and checked what accelsim reads)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import test_hf_checkpoint as H  # noqa: E402

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload.hf import load_hf  # noqa: E402
from accelsim.workload.hf.checkpoint import Checkpoint, attach_weights  # noqa: E402
from accelsim.workload.weights import load_checkpoint  # noqa: E402

GPTQ = {"quant_method": "gptq", "bits": 4, "group_size": 8, "desc_act": False}


def _gptq(layer: str, codes: np.ndarray, zeros: np.ndarray, scales: np.ndarray) -> dict:
    """GPTQ v1 tensors of ``codes`` (N, K) with per-group ``zeros`` / ``scales`` (N, K / 8)."""
    return {f"{layer}.qweight": ("I32", H._pack_along_last(codes, 4).T.copy()),
            f"{layer}.qzeros": ("I32", H._pack_along_last(((zeros.T.astype(np.int32) - 1) & 15).astype(np.uint8), 4)),
            f"{layer}.scales": ("F16", scales.T.astype(np.float16).copy()),
            f"{layer}.g_idx": ("I32", (np.arange(codes.shape[1]) // 8).astype(np.int32))}


def _folder(tmp_path, config: dict, tensors: dict) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(config))
    H.write_safetensors(tmp_path / "model.safetensors", tensors)
    return tmp_path


def test_a_packed_layers_bias_is_attached_not_reported_stray(tmp_path):
    # Qwen2 GPTQ / AWQ files store q / k / v biases dense beside the packed weights: the bias was dropped and listed
    # as a tensor that matches no layer
    cfg = {**H.TINY, "model_type": "qwen2", "quantization_config": GPTQ}
    g = load_hf(cfg, phase="decode", context=8)
    q = "model.layers.0.self_attn.q_proj"
    rng = np.random.default_rng(0)
    bias = rng.standard_normal(16).astype(np.float32)
    tensors = {**_gptq(q, rng.integers(0, 16, (16, 16), dtype=np.uint8), rng.integers(1, 16, (16, 2), dtype=np.uint8),
                       rng.uniform(0.01, 0.1, (16, 2))), f"{q}.bias": ("F32", bias)}
    out = attach_weights(g, Checkpoint(_folder(tmp_path, cfg, tensors)))
    assert q in out.metadata["hf"]["packed"]
    np.testing.assert_array_equal(out.biases[q], bias)
    assert out.metadata["hf"]["weights_unused"] == []


def test_packed_weights_that_dequantize_to_zero_count_as_zeros(tmp_path):
    # the same values saved dense had density 0.47; saved GPTQ-packed they were costed at 1.0
    from accelsim.compress.compressed import CompressedLayer

    layer = H.LAYER  # (16 outputs, 32 inputs)
    rng = np.random.default_rng(1)
    codes, zeros = rng.integers(0, 16, (16, 32), dtype=np.uint8), rng.integers(1, 16, (16, 4), dtype=np.uint8)
    pruned = rng.random((16, 32)) < 0.5
    codes[pruned] = np.repeat(zeros, 8, axis=1)[pruned]
    cfg = {**H.TINY, "quantization_config": GPTQ}
    g = load_checkpoint(load_hf(cfg, phase="decode", context=8),
                        _folder(tmp_path, cfg, _gptq(layer, codes, zeros, rng.uniform(0.01, 0.1, (16, 4)))))
    cl = CompressedLayer.dense(g.layer(layer), g)
    expected = 1.0 - np.count_nonzero(codes == np.repeat(zeros, 8, axis=1)) / codes.size
    assert cl.weight_density == pytest.approx(expected) and cl.weight_density < 0.6
    assert cl.effective_macs == round(g.layer(layer).macs * expected)


def test_compressed_tensors_stored_bits_leave_out_the_weight_shape(tmp_path):
    layer = H.LAYER
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 16, (16, 32), dtype=np.uint8)
    tensors = {f"{layer}.weight_packed": ("I32", H._pack_along_last(codes, 4)),
               f"{layer}.weight_scale": ("F16", rng.uniform(0.01, 0.1, (16, 4)).astype(np.float16)),
               f"{layer}.weight_shape": ("I64", np.array([16, 32], np.int64))}
    cfg = {"quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {
        "group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "symmetric": True,
                                                       "strategy": "group", "group_size": 8}}}}}
    p = Checkpoint(_folder(tmp_path, cfg, tensors)).packed(layer)
    assert p.stored_bits == 16 * 32 * 4 + 16 * 4 * 16  # codes and scales; not the two int64 sizes


def test_a_nan_in_a_shard_names_the_shard_file(tmp_path):
    a = np.ones((4, 4), np.float32)
    b = a.copy()
    b[1, 2] = np.nan
    H.write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {"x": ("F32", a)})
    H.write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"y": ("F32", b)})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}}))
    from accelsim.workload.hf.checkpoint import _dense

    with pytest.raises(WorkloadError, match=r"model-00002-of-00002\.safetensors: tensor 'y' contains NaN"):
        _dense(Checkpoint(tmp_path), "y", (4, 4))


def test_f64_weights_beyond_float32_are_refused_in_range_narrowed(tmp_path):
    big = np.array([[1e300, 1.0]], np.float64)
    small = np.array([[1e-3, 2.0]], np.float64)
    H.write_safetensors(tmp_path / "model.safetensors", {"big": ("F64", big), "small": ("F64", small)})
    ck = Checkpoint(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(ck.float32("small"), small.astype(np.float32))
    with pytest.raises(WorkloadError, match="'big' is F64 with values beyond float32's range"):
        ck.float32("big")
