"""Cases a held-out round of accuracy evaluation and sweeps (2026-12-05, twentieth session; 212 checks written by a
helper that read none of these tests) found wrong: a corrupt .npz crashed with an internal error, a model whose
weight tensor two layers share was refused (even with no recipe), an export with its batch fixed failed on any
other batch, and a random block silently returned fewer points than asked when its draws repeated."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.accuracy import AccuracyError, evaluate, evaluate_dense  # noqa: E402
from accelsim.accuracy.evaluation import written_weights  # noqa: E402
from accelsim.compress.recipe import compress  # noqa: E402
from accelsim.dse.space import Random  # noqa: E402
from accelsim.errors import SweepError  # noqa: E402
from accelsim.workload.onnx import load_onnx  # noqa: E402


def _mlp(path, batch=None, tied=False):
    """x (batch, 16) -> MatMul W1 (16, 16) -> Relu -> MatMul W2 (16, 10); ``tied``: W2's place takes W1 again,
    then a 16 -> 10 head."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((16, 16)).astype(np.float32)
    head = rng.standard_normal((16, 10)).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(head, "head")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"])]
    if tied:
        nodes += [helper.make_node("MatMul", ["r", "w1"], ["h2"]), helper.make_node("MatMul", ["h2", "head"], ["y"])]
    else:
        nodes += [helper.make_node("MatMul", ["r", "head"], ["y"])]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch or "N", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch or "N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _data(path, n=40):
    rng = np.random.default_rng(1)
    np.savez(path, x=rng.standard_normal((n, 16)).astype(np.float32), y=rng.integers(0, 10, n))
    return path


def test_a_corrupt_or_truncated_npz_is_one_line(tmp_path):
    good = _data(tmp_path / "d.npz")
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:200])
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04notazip")
    model = _mlp(tmp_path / "m.onnx")
    for name in ("cut.npz", "bad.npz"):
        with pytest.raises(AccuracyError, match=rf"{name}: not a readable .npz file"):
            evaluate_dense(model, tmp_path / name)


def test_tied_weights_evaluate_and_compress_together(tmp_path):
    model, data = _mlp(tmp_path / "tied.onnx", tied=True), _data(tmp_path / "d.npz")
    assert 0 <= evaluate_dense(model, data)["accuracy.top1"] <= 1  # refused: "no weight tensor ... equals"
    graph = load_onnx(model)
    cg = compress(graph, "int8")
    assert 0 <= evaluate(model, cg, data, graph=graph)["accuracy.top1"] <= 1
    written = written_weights(model, cg, graph)
    tied = [w for name, w in written.items() if w.shape == (16, 16)]
    assert len(tied) == 2 and np.array_equal(tied[0], tied[1])  # one tensor, one compression
    first = next(layer.name for layer in graph.compute_layers() if layer.has_weights)
    pruned_one = {"name": "r", "pipeline": [{"quantize": {"bits": 8}}], "overrides": {first: {"quantize": {"bits": 4}}}}
    with pytest.raises(AccuracyError, match="share the weight tensor 'w1' .* compresses them differently"):
        evaluate(model, compress(graph, pruned_one), data, graph=graph)


def test_a_fixed_batch_export_runs_in_runs_of_its_batch(tmp_path):
    data = _data(tmp_path / "d.npz", n=37)
    free = evaluate_dense(_mlp(tmp_path / "free.onnx"), data, batch_size=16)
    fixed = evaluate_dense(_mlp(tmp_path / "fixed.onnx", batch=4), data, batch_size=16)
    assert fixed == free


def test_random_points_are_distinct_or_refused():
    pts = Random({"batch": [1, 2, 4], "x": {"low": 0, "high": 1}}, n=5, seed=0).settings()
    assert len({repr(sorted(p.items())) for p in pts}) == 5
    assert len(Random({"batch": [1, 2, 4]}, n=3, seed=7).settings()) == 3  # every choice once, in the seed's order
    with pytest.raises(SweepError, match="n is 6 but its axes hold 2 distinct points"):
        Random({"batch": [1, 2]}, n=6).settings()


def test_a_file_that_is_not_an_array_file_is_named_as_such(tmp_path):
    """A text file given as .npz / .npy data is 'not a .npz file', not 'pickled Python objects' (NumPy reads any
    file that is not an array file as a pickle); a real object array keeps its own message."""
    from accelsim.accuracy.data import load_npz, load_tokens

    text = tmp_path / "g.npz"
    text.write_text("not a zip")
    with pytest.raises(AccuracyError, match=r"g.npz: not a .npz file: neither a zip archive of arrays nor a .npy array "
                                            r"\(starts with b'not a zi'\)$"):
        load_npz(text)
    tokens = tmp_path / "t.npy"
    tokens.write_text("1 2 3 4")
    with pytest.raises(AccuracyError, match=r"t.npy: not a .npy file: "):
        load_tokens(tokens, 2)
    obj = tmp_path / "o.npz"
    np.savez(obj, x=np.array([{}], dtype=object))
    with pytest.raises(AccuracyError, match="o.npz: holds an object array"):
        load_npz(obj)
