"""Defects a held-out round of 2026-12-07 (forty-second session) found, each a check.

Invariant of every family: a layer that reads its weights from DRAM reads at least the bytes it stores
(``weight_storage_bits``), and a pruned, unquantized layer moves its values at the width it is stored at
(the hardware's native width), not at the float32 the compression step kept them in.
"""

from __future__ import annotations

import pytest

import accelsim

M2Q8 = {"name": "m2q8", "pipeline": [{"prune": {"method": "magnitude", "density": 0.5}},
                                     {"quantize": {"bits": 8, "symmetric": True, "per_channel": True}},
                                     {"activations": {"bits": 8}}, {"encode": {"format": "csr"}}]}


def test_npu_moves_unquantized_pruned_values_at_the_run_width():
    # the same mask, values left unquantized (native int8 on gemmini-edge) and quantized to int8: the same bytes
    plain = accelsim.simulate("gemmini-edge", "lenet5", recipe="magnitude-2").summary()
    q8 = accelsim.simulate("gemmini-edge", "lenet5", recipe=M2Q8).summary()
    assert plain["dram_read_bytes"] == pytest.approx(q8["dram_read_bytes"], rel=0.01)  # was 1,130,069 vs 486,639
    assert plain["dram_read_bytes"] >= plain["weight_storage_bits"] / 8
    assert plain["energy_saving_vs_dense"] > 0.8  # was 0.394: pruning priced as 32-bit values


@pytest.mark.parametrize("arch", ["l4", "h100-sxm"])
def test_gpu_csr_values_at_the_math_width(arch):
    r = accelsim.simulate(arch, "lenet-300-100", recipe="magnitude-8", dense_baseline=False)
    fc1 = r.layer("fc1")
    assert fc1.extra["sparse_format"].startswith("CSR (16-bit values")
    assert fc1.weight_storage_bits / 8 <= fc1.dram_read_bytes < 1.1 * fc1.weight_storage_bits / 8  # was 1.63x


def test_nm_array_reads_the_scales_and_padding_it_stores():
    ov = {"sparsity.support": True, "sparsity.nm": [2, 4], "sparsity.metadata_bits": 2}
    r = accelsim.simulate("scalesim-32x32-os", "lenet-300-100", recipe="2of4-int8", overrides=ov,
                          dense_baseline=False)
    for name, inputs in (("fc1", 784), ("fc2", 300), ("fc3", 100)):
        layer = r.layer(name)  # CALC mode, everything fits: each operand read once
        assert layer.dram_read_bytes == layer.weight_storage_bits // 8 + inputs, name  # fc1 read 147,000 of 148,200


@pytest.mark.parametrize("recipe", ["int8", "fp8-e4m3"])
def test_gpu_quantized_weights_read_their_scales(recipe):
    r = accelsim.simulate("h100-sxm", "lenet-300-100", recipe=recipe, dense_baseline=False)
    for layer in r.layers:
        if layer.weight_storage_bits:
            assert layer.dram_read_bytes >= layer.weight_storage_bits / 8, (layer.name, recipe)  # int8 fc1 235,984


# ---- sweeps: workers, bad spec files, resume ---------------------------------------------------------------------
def test_pool_workers_die_on_sigterm_under_the_command_lines_handler():
    """A forked worker inherited the CLI's SIGTERM -> exception handler; the pool's worker loop caught the exception,
    so a worker told to stop lived on (orphans holding the sweep's lock after the driver was killed, a driver hung
    after another worker died). The worker initializer puts SIGTERM back to its default and ignores SIGINT."""
    import subprocess
    import sys

    code = """
import os, signal
from concurrent.futures import ProcessPoolExecutor
from accelsim.cli import _raise_terminated
from accelsim.dse.executors import die_with_parent
signal.signal(signal.SIGTERM, _raise_terminated)
def handlers(_):
    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, signal.getsignal(signal.SIGINT) == signal.SIG_IGN
with ProcessPoolExecutor(1, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
    print(*pool.submit(handlers, 0).result())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


def test_a_text_input_is_read_within_a_bound(tmp_path):
    from accelsim.config import MAX_TEXT_FILE_BYTES, read_text_file
    from accelsim.errors import ConfigError

    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:  # sparse: no disk used
        fh.truncate(MAX_TEXT_FILE_BYTES + 1)
    with pytest.raises(ConfigError, match="more than 64 MiB"):
        read_text_file(big)


def test_a_base_key_every_axis_value_overrides_is_refused():
    from accelsim.dse.space import space_from_spec
    from accelsim.errors import SweepError

    with pytest.raises(SweepError, match=r"base\.batch: also an axis of this space \(grid\.batch\)"):
        space_from_spec({"base": {"workload": "lenet5", "arch": "eie", "batch": 4}, "grid": {"batch": [1, 2]}})
    # a nested space's base over the top level's, and a points block's base, stay legal
    space_from_spec({"base": {"workload": "lenet5", "batch": 4},
                     "spaces": [{"base": {"arch": "eie", "batch": 2}, "grid": {"recipe": ["int8"]}},
                                {"base": {"arch": "eie"}, "grid": {"batch": [1, 8]}},
                                {"base": {"arch": "eie", "batch": 2}, "points": [{"batch": 1}, {"recipe": "int8"}]}]})


def test_resume_moves_malformed_rows_aside_and_a_header_alone_is_empty(tmp_path, capsys):
    import math

    from accelsim.dse.space import Grid, Space
    from accelsim.dse.store import read_rows

    def toy(setting):
        return {"latency_s": setting["x"] / 10, "energy_j": setting["x"] * 0.5, "score": math.log(setting["x"])}

    space = Space(axes=[Grid({"x": [1, 2, 3, 4, 5, 6]})])
    ref = tmp_path / "ref"
    accelsim.sweep(space, evaluate=toy, store=ref, progress=False)
    out = tmp_path / "out"
    accelsim.sweep(space, evaluate=toy, store=out, progress=False)
    lines = (out / "results.csv").read_text().split("\n")
    lines[2] = lines[2][: lines[2].rfind(",")]  # a cell short
    lines[4] = lines[4] + ",extra"  # a cell too many
    (out / "results.csv").write_text("\n".join(lines))
    capsys.readouterr()
    accelsim.sweep(space, evaluate=toy, store=out, resume=True, progress=False)
    err = capsys.readouterr().err
    assert "moved 2 malformed rows" in err and "resuming" not in err  # (progress off: problems only)
    assert (out / "results.csv").read_text() == (ref / "results.csv").read_text()
    assert len(read_rows(out / "results.stale.csv")[1]) == 2
    lines = (out / "results.csv").read_text().split("\n")  # with progress on, the resume is said
    (out / "results.csv").write_text("\n".join(lines[:4]) + "\n")
    accelsim.sweep(space, evaluate=toy, store=out, resume=True, progress=True)
    assert "accelsim: space: resuming: 3 of 6 points already done, 3 to run" in capsys.readouterr().err
    # a run killed before its first point finished leaves a header alone: the same call runs again
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "results.csv").write_text((ref / "results.csv").read_text().split("\n")[0] + "\n")
    accelsim.sweep(space, evaluate=toy, store=fresh, progress=False)
    assert (fresh / "results.csv").read_text() == (ref / "results.csv").read_text()


def test_an_interrupted_sweep_says_what_it_saved(tmp_path, capsys):
    calls = []

    def flaky(setting):
        calls.append(setting)
        if len(calls) > 2:
            raise KeyboardInterrupt  # Ctrl-C during the third point
        return {"latency_s": 1.0, "energy_j": 1.0}

    from accelsim.dse.space import Grid, Space

    with pytest.raises(KeyboardInterrupt):
        accelsim.sweep(Space(axes=[Grid({"x": [1, 2, 3, 4]})]), evaluate=flaky, store=tmp_path / "s", progress=True)
    err = capsys.readouterr().err
    assert f"stopped with 2 of 4 points saved in {tmp_path / 's'}; the same command with --resume runs the rest" in err


# ---- ONNX: onnxruntime-quantized exports of real patterns ----------------------------------------------------------
def _heldout(name):
    from pathlib import Path

    from accelsim.workload.onnx import load_onnx

    return load_onnx(Path(__file__).parent / "data" / "onnx" / "heldout" / f"{name}.onnx")


@pytest.mark.parametrize("name", ["parallel-norms-opset13", "parallel-norms-opset13-dynamic-int8",
                                  "parallel-norms-opset13-qdq"])
def test_two_norms_of_one_tensor_fuse_when_a_quantizer_interleaves_them(name):
    """A parallel-residual block (GPT-NeoX, GPT-J, Phi, Falcon: ``x + a(n1(x)) + b(n2(x))``) exported at opset 13
    writes each LayerNorm out; onnxruntime's quantize_dynamic / quantize_static reorder the file so the two norms'
    nodes interleave, and the fusion took a file-order prefix: generic ReduceMeans, an element-wise Sub and a
    LayerNorm marked RMS, the shifts lost (params 8,320 / 8,448 against 8,576)."""
    graph = _heldout(name)
    norms = [layer for layer in graph.compute_layers() if layer.op == "layernorm"]
    assert len(norms) == 2 and not any(n.rms for n in norms)
    assert not graph.metadata["onnx"]["generic_ops"]
    assert graph.total_params == 8576  # 2 x (64 x 64 + 64) + 2 x 2 x 64


def test_dynamic_int8_layers_keep_their_bias():
    """quantize_dynamic writes MatMulInteger -> Cast -> Mul(scale) -> Add(bias): the Add came after the scale, so the
    bias was not folded into the Linear (bias=False, params 8,192 against 8,320)."""
    graph = _heldout("mlp-dynamic-int8")
    linears = [layer for layer in graph.compute_layers() if layer.op == "linear"]
    assert len(linears) == 2 and all(layer.bias for layer in linears)
    assert graph.total_params == 8320


# ---- a verification round of this session's fixes -------------------------------------------------------------------
def _wo(arch, stack, m, bits):
    from accelsim.compress.compressed import CompressedLayer
    from accelsim.hw.registry import build_model, load_arch
    from accelsim.workload.layers import Linear

    layer = Linear(name="fc", input_shapes=((m, 4096),) if m > 1 else ((4096,),), out_features=4096)
    r = build_model(load_arch(arch, {"stack": stack, "launch": "cuda-graph"})).simulate(
        CompressedLayer(layer=layer, weight_bits=bits, activation_bits=16, transforms=("quantize",)), 1)
    return r.latency_s, r.extra["kernel"]


def test_gemv_kernels_run_where_their_library_does():
    """AutoAWQ's kernels are int4 on sm75+, TensorRT-LLM's batched GEMV sm75+: elsewhere the layer dequantizes and
    runs cuBLAS (an 'AWQ GEMV' ran int8 weights and on a V100; TensorRT on a V100 jumped 6.4x at 4 -> 5 rows)."""
    assert _wo("v100", "tensorrt", 4, 4)[1].startswith("dequant+cublas")
    assert _wo("h100-sxm", "tensorrt", 4, 8)[1].startswith("gemv")
    assert _wo("h100-sxm", "autoawq", 2, 8)[1].startswith("dequant+cublas")  # AutoAWQ has no int8 kernel


def test_best_takes_the_fastest_gemv_of_any_library():
    """``best`` had TensorRT-LLM's kind alone and lost AutoAWQ's 5-8-row GEMV where it is the faster kernel."""
    for arch in ("a10", "l4", "h100-sxm", "rtx4090"):
        for m in range(1, 9):
            best = _wo(arch, "best", m, 4)[0]
            assert best <= 1.0001 * min(_wo(arch, s, m, 4)[0] for s in ("tensorrt", "autoawq", "torch-compile", "vllm"))


def test_24_int8_reads_its_scales():
    r = accelsim.simulate("h100-sxm", "eie-benchmarks", recipe="2of4-int8", dense_baseline=False)
    for layer in r.layers:  # NT-Wd read 3,315,825 of its 3,331,789 stored bytes
        if layer.weight_storage_bits:
            assert layer.dram_read_bytes >= layer.weight_storage_bits / 8, layer.name


@pytest.mark.parametrize("recipe", ["mxfp4", "nvfp4", "w4a16-g128"])
def test_weight_only_streams_count_a_last_partial_group(recipe):
    """A row of K = 600 holds ceil(600 / 32) = 19 scale groups, not 18.75: NeuralTalk's NT-Wd read 998-3,200 bytes
    less than it stores."""
    r = accelsim.simulate("h100-sxm", "eie-benchmarks", recipe=recipe, dense_baseline=False)
    for layer in r.layers:
        if layer.weight_storage_bits:
            assert layer.dram_read_bytes >= layer.weight_storage_bits / 8, (layer.name, recipe)


def test_a_malformed_layer_row_is_copied_aside(tmp_path):
    from accelsim.dse.store import read_rows

    spec = {"name": "lm", "base": {"workload": "lenet-300-100", "arch": "edge-32x32", "recipe": "int8"},
            "grid": {"arch.array.rows": [8, 16]}, "detail": True}
    accelsim.sweep(spec, store=tmp_path / "ref", progress=False)
    accelsim.sweep(spec, store=tmp_path / "o", progress=False)
    path = tmp_path / "o" / "layers.csv"
    lines = path.read_text().split("\n")
    cut = lines[2][: lines[2].rfind(",")]
    lines[2] = cut
    path.write_text("\n".join(lines))
    accelsim.sweep(spec, store=tmp_path / "o", resume=True, progress=False)
    assert path.read_text() == (tmp_path / "ref" / "layers.csv").read_text()
    stale = read_rows(tmp_path / "o" / "layers.stale.csv")[1]
    assert any(row[: len(cut.split(","))] == cut.split(",") for row in stale)  # the damaged row kept, not dropped
