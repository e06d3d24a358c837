"""ONNX initializers accelsim cannot model are refused in one line naming the initializer and its node."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload.io_onnx import load_onnx  # noqa: E402


def _matmul_model(w: np.ndarray, node_name: str = "fc", wtype=TensorProto.FLOAT):
    x = helper.make_tensor_value_info("x", wtype, [1, w.shape[0]])
    y = helper.make_tensor_value_info("y", wtype, [1, w.shape[1]])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name=node_name)], "g", [x], [y],
                              initializer=[numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("dtype, wtype", [(np.complex64, TensorProto.COMPLEX64), (np.complex128, TensorProto.COMPLEX128)])
def test_complex_initializer_is_refused_by_name(tmp_path, dtype, wtype):
    w = (np.ones((4, 3)) + 1j * np.ones((4, 3))).astype(dtype)
    path = tmp_path / "cplx.onnx"
    onnx.save(_matmul_model(w, wtype=wtype), str(path))
    with pytest.raises(WorkloadError) as info:
        load_onnx(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: initializer 'w' has complex values ({np.dtype(dtype).name})")
    assert "read by node 'fc'" in msg


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_initializer_names_the_node_and_count(bad):
    w = np.ones((4, 3), np.float32)
    w[1, 2] = bad
    w[3, 0] = bad
    with pytest.raises(WorkloadError, match=r"initializer 'w' contains NaN or infinite values \(2 of 12\); "
                                            r"read by node 'proj'$"):
        load_onnx(_matmul_model(w, node_name="proj"))


def test_float16_infinity_is_refused_too():
    w = np.ones((2, 2), np.float16)
    w[0, 0] = np.inf
    with pytest.raises(WorkloadError, match=r"initializer 'w' contains NaN or infinite values \(1 of 4\)"):
        load_onnx(_matmul_model(w, wtype=TensorProto.FLOAT16))


def test_finite_real_initializer_still_imports():
    g = load_onnx(_matmul_model(np.ones((4, 3), np.float32)))
    assert len(g.compute_layers()) == 1


def test_cli_reports_complex_initializer_in_one_line(tmp_path, run_cli):
    w = np.ones((4, 3), np.complex64)
    path = tmp_path / "c.onnx"
    onnx.save(_matmul_model(w, wtype=TensorProto.COMPLEX64), str(path))
    code, out, err = run_cli("stats", "--workload", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "initializer 'w' has complex values" in err and "node 'fc'" in err
