import pytest

from accelsim.errors import ShapeError
from accelsim.workload.layers import (
    BatchNorm, Concat, Conv2d, Eltwise, Embedding, LSTMCell, Linear, MatMul, Pool2d, Reshape, Slice,
)


def test_conv_gemm_view_is_im2col():
    conv = Conv2d(name="c", input_shapes=((64, 56, 56),), out_channels=128, kernel=3, stride=2, padding=1, bias=False)
    assert conv.output_shape == (128, 28, 28)
    g = conv.gemm(batch=4)
    assert g.as_tuple() == (4 * 28 * 28, 128, 64 * 9, 1)
    assert g.macs == 4 * conv.macs
    assert conv.params == 128 * 64 * 9
    assert conv.weight_matrix_shape == (128, 576)


def test_depthwise_is_groups_equal_channels():
    dw = Conv2d(name="dw", input_shapes=((32, 112, 112),), out_channels=32, kernel=3, padding=1, groups=32, bias=False)
    assert dw.is_depthwise
    assert dw.gemm().as_tuple() == (112 * 112, 1, 9, 32)
    assert dw.macs == 112 * 112 * 9 * 32
    assert dw.weight_matrix_shape == (32, 9)


def test_ceil_mode_matches_scalesim_output_size():
    # SCALE-Sim: E = ceil((H - FH + s) / s): 224, 7x7, s2 -> 110; 64, 11x11, s4 -> 15
    assert Conv2d(name="a", input_shapes=((3, 224, 224),), out_channels=1, kernel=7, stride=2, ceil_mode=True).output_shape[1] == 110
    assert Conv2d(name="b", input_shapes=((3, 64, 64),), out_channels=1, kernel=11, stride=4, ceil_mode=True).output_shape[1] == 15


def test_linear_on_tokens_and_matmul_batched():
    fc = Linear(name="q", input_shapes=((128, 768),), out_features=768)
    assert fc.gemm(2).as_tuple() == (256, 768, 768, 1)
    att = MatMul(name="qk", input_shapes=((12, 128, 64), (12, 64, 128)))
    assert att.output_shape == (12, 128, 128)
    assert att.gemm(2).as_tuple() == (128, 128, 64, 24)
    assert att.params == 0


def test_lstm_folds_bias_as_input_column():
    lstm = LSTMCell(name="nt", input_shapes=((600,),), hidden_size=600)
    assert lstm.weight_shape == (2400, 1201)  # EIE NT-LSTM: 1201 x 2400
    assert lstm.macs == 2400 * 1201


def test_misc_shapes():
    assert Pool2d(name="p", input_shapes=((64, 112, 112),), kind="max", kernel=3, stride=2, padding=1).output_shape == (64, 56, 56)
    assert Pool2d(name="p", input_shapes=((96, 55, 55),), kind="max", kernel=3, stride=2, ceil_mode=True).output_shape == (96, 27, 27)
    assert Pool2d(name="g", input_shapes=((2048, 7, 7),), kind="avg", global_pool=True).output_shape == (2048, 1, 1)
    assert Concat(name="c", input_shapes=((64, 8, 8), (32, 8, 8))).output_shape == (96, 8, 8)
    assert Eltwise(name="e", input_shapes=((64, 8, 8), (64, 8, 8))).output_shape == (64, 8, 8)
    assert Reshape(name="r", input_shapes=((128, 768),), shape=(128, 12, -1)).output_shape == (128, 12, 64)
    assert Slice(name="s", input_shapes=((116, 28, 28),), start=58, stop=116).output_shape == (58, 28, 28)
    assert BatchNorm(name="bn", input_shapes=((64, 8, 8),)).params == 128
    assert Embedding(name="emb", input_shapes=((128,),), num_embeddings=30522, embedding_dim=768).output_shape == (128, 768)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Conv2d(name="c", input_shapes=((0, 8, 8),), out_channels=4),
        lambda: Conv2d(name="c", input_shapes=((6, 8, 8),), out_channels=4, groups=4),
        lambda: Conv2d(name="c", input_shapes=((3, 4, 4),), out_channels=4, kernel=7),
        lambda: Conv2d(name="c", input_shapes=((3, 8, 8),), out_channels=-1),
        lambda: Linear(name="l", input_shapes=((10,),), out_features=0),
        lambda: MatMul(name="m", input_shapes=((4, 8), (9, 4))),
        lambda: Eltwise(name="e", input_shapes=((4, 8), (5, 8))),
        lambda: Concat(name="c", input_shapes=((4, 8, 8), (4, 9, 8))),
        lambda: Reshape(name="r", input_shapes=((10,),), shape=(3, -1)),
    ],
)
def test_bad_shapes_raise_shape_error(make):
    with pytest.raises(ShapeError):
        make()
