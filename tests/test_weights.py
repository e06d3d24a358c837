"""Weight synthesis, .npz loading and activation sampling (accelsim.workload.weights)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import ShapeError, UnknownNameError, WorkloadError
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Conv2d, Embedding, Input, Linear, LSTMCell
from accelsim.workload.weights import (
    fan_in,
    init_std,
    load_npz,
    sample_activations,
    sample_graph_activations,
    save_npz,
    synthesize_weights,
)
from accelsim.workload.zoo import load_workload


def small_graph(extra: bool = False) -> LayerGraph:
    """conv (grouped) -> flatten -> fc1 -> fc2, plus an optional side layer fed by the input."""
    g = LayerGraph("small")
    g.add(Input(name="x", shape=(4, 8, 8)))
    g.add(Conv2d(name="conv", input_shapes=((4, 8, 8),), out_channels=6, kernel=3, padding=1, groups=2), ["x"])
    if extra:
        g.add(Conv2d(name="side", input_shapes=((4, 8, 8),), out_channels=2, kernel=1), ["x"])
    from accelsim.workload.layers import Activation, Flatten

    g.add(Activation(name="relu", input_shapes=((6, 8, 8),)), ["conv"])
    g.add(Flatten(name="flat", input_shapes=((6, 8, 8),)), ["relu"])
    g.add(Linear(name="fc1", input_shapes=((384,),), out_features=32), ["flat"])
    g.add(Linear(name="fc2", input_shapes=((32,),), out_features=10, bias=False), ["fc1"])
    return g


# --- synthesis -----------------------------------------------------------------------------------
def test_every_weighted_layer_gets_weights_of_its_shape_and_zero_bias():
    g = synthesize_weights(small_graph())
    assert set(g.weights) == {"conv", "fc1", "fc2"}
    for name in g.weights:
        layer = g.layer(name)
        assert g.weights[name].shape == layer.weight_shape
        assert g.weights[name].dtype == np.float32
        assert np.count_nonzero(g.weights[name]) == g.weights[name].size
    assert g.weight_matrix("conv").shape == (6, 18)  # (N * groups, K) with K = 4/2 * 3 * 3
    assert set(g.biases) == {"conv", "fc1"}
    assert all(not np.any(b) and b.size == g.layer(n).bias_size for n, b in g.biases.items())


def test_synthesis_returns_a_copy():
    g = small_graph()
    out = synthesize_weights(g)
    assert g.weights == {} and out is not g and out.order == g.order


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (synthesize_weights(small_graph(), seed=s) for s in (7, 7, 8))
    for name in a.weights:
        np.testing.assert_array_equal(a.weights[name], b.weights[name])
        assert not np.array_equal(a.weights[name], c.weights[name])


def test_adding_a_layer_does_not_change_the_others():
    a = synthesize_weights(small_graph(extra=False), seed=3)
    b = synthesize_weights(small_graph(extra=True), seed=3)
    assert "side" in b.weights
    for name in ("conv", "fc1", "fc2"):
        np.testing.assert_array_equal(a.weights[name], b.weights[name])


def test_layers_do_not_share_a_stream():
    g = LayerGraph("twins")
    g.add(Input(name="x", shape=(64,)))
    g.add(Linear(name="a", input_shapes=((64,),), out_features=64), ["x"])
    g.add(Linear(name="b", input_shapes=((64,),), out_features=64), ["x"])
    out = synthesize_weights(g)
    assert not np.array_equal(out.weights["a"], out.weights["b"])


def test_he_normal_std_follows_fan_in_of_the_weight_matrix():
    # AlexNet conv2: 2 groups, K = 96/2 * 5 * 5 = 1200 -> std = sqrt(2/1200); only that layer is drawn
    alex = load_workload("alexnet")
    g = synthesize_weights(alex, layers=["conv2"])
    assert set(g.weights) == {"conv2"}
    assert fan_in(alex.layer("conv2")) == 1200
    w = g.weights["conv2"].astype(np.float64)
    assert w.std() == pytest.approx(math.sqrt(2 / 1200), rel=0.01)
    assert abs(w.mean()) < 0.01 * w.std()
    # normal: excess kurtosis ~ 0
    kurt = ((w - w.mean()) ** 4).mean() / w.var() ** 2 - 3
    assert abs(kurt) < 0.1


def test_laplace_has_the_same_variance_and_heavier_tails():
    lenet = load_workload("lenet5")
    g = synthesize_weights(lenet, init="laplace", layers=["ip1"])
    w = g.weights["ip1"].astype(np.float64)  # 400,000 draws, fan_in 800
    assert init_std(lenet.layer("ip1")) == pytest.approx(math.sqrt(2 / 800))
    assert w.std() == pytest.approx(math.sqrt(2 / 800), rel=0.01)
    kurt = ((w - w.mean()) ** 4).mean() / w.var() ** 2 - 3
    assert kurt == pytest.approx(3.0, abs=0.3)  # Laplace excess kurtosis is 3
    # Laplace: mean |w| = b = std / sqrt(2); a normal would give std * sqrt(2/pi)
    assert np.abs(w).mean() == pytest.approx(math.sqrt(2 / 800) / math.sqrt(2), rel=0.01)


def test_recurrent_cell_bias_column_is_drawn_like_the_weights():
    nt = load_workload("neuraltalk")
    g = synthesize_weights(nt, layers=["NT-LSTM"])
    w = g.weight_matrix("NT-LSTM")
    assert w.shape == (2400, 1201)
    assert np.count_nonzero(w[:, -1]) == 2400
    assert "NT-LSTM" not in g.biases


def test_whole_zoo_network_and_embeddings_are_left_alone():
    g = synthesize_weights(load_workload("lenet5"))
    assert set(g.weights) == {"conv1", "conv2", "ip1", "ip2"}
    emb = LayerGraph("emb")
    emb.add(Input(name="ids", shape=(4,)))
    emb.add(Embedding(name="table", input_shapes=((4,),), num_embeddings=10, embedding_dim=8), ["ids"])
    emb.add(Linear(name="proj", input_shapes=((4, 8),), out_features=3), ["table"])
    assert set(synthesize_weights(emb).weights) == {"proj"}


def test_overwrite_false_keeps_attached_weights():
    g = small_graph()
    g.set_weight("fc2", np.ones((10, 32)))
    out = synthesize_weights(g, overwrite=False)
    np.testing.assert_array_equal(out.weights["fc2"], np.ones((10, 32)))
    assert "fc1" in out.weights
    assert not np.all(synthesize_weights(g).weights["fc2"] == 1)


def test_float64_dtype():
    g = synthesize_weights(small_graph(), dtype=np.float64, init="laplace")
    assert all(w.dtype == np.float64 for w in g.weights.values())


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"init": "xavier"}, WorkloadError, "init must be one of he_normal, laplace; got 'xavier'"),
        ({"seed": -1}, WorkloadError, "seed must be an int >= 0; got -1"),
        ({"seed": 2**32}, WorkloadError, "seed must be <= 4294967295"),
        ({"seed": 1.5}, WorkloadError, "seed must be an int >= 0"),
        ({"seed": True}, WorkloadError, "seed must be an int >= 0"),
        ({"dtype": np.int32}, WorkloadError, "dtype must be a floating-point type"),
        ({"layers": ["relu"]}, WorkloadError, "layer 'relu' (activation) has no weights"),
        ({"layers": ["fc3"]}, UnknownNameError, "unknown layer 'fc3'"),
    ],
)
def test_synthesis_bad_arguments(kwargs, error, text):
    with pytest.raises(error) as info:
        synthesize_weights(small_graph(), **kwargs)
    assert text in str(info.value)
    assert "\n" not in str(info.value)


# --- .npz ------------------------------------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path):
    src = synthesize_weights(small_graph(), seed=5)
    path = tmp_path / "w.npz"
    save_npz(src, path)
    out = load_npz(small_graph(), path, strict=True)
    for name in src.weights:
        np.testing.assert_array_equal(out.weights[name], src.weights[name])
    assert set(out.biases) == {"conv", "fc1"}


def test_load_state_dict_keys_and_matrix_layout(tmp_path):
    path = tmp_path / "sd.npz"
    rng = np.random.default_rng(0)
    conv_matrix = rng.standard_normal((6, 18))  # (N * groups, K) instead of (6, 2, 3, 3)
    np.savez(path, **{"conv.weight": conv_matrix, "conv.bias": np.arange(6.0), "fc2": rng.standard_normal((10, 32))})
    g = load_npz(small_graph(), path)
    assert g.weights["conv"].shape == (6, 2, 3, 3)
    np.testing.assert_array_equal(g.weight_matrix("conv"), conv_matrix)
    np.testing.assert_array_equal(g.biases["conv"], np.arange(6.0))
    assert "fc1" not in g.weights  # not strict: missing layers are fine


def test_load_into_dotted_layer_names(tmp_path):
    graph = load_workload("resnet18")
    path = tmp_path / "r.npz"
    w = np.full((64, 64, 3, 3), 0.5, dtype=np.float32)
    np.savez(path, **{"layer1.0.conv1.weight": w})
    g = load_npz(graph, path)
    np.testing.assert_array_equal(g.weights["layer1.0.conv1"], w)


def _npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, error, text",
    [
        ({"fc9": np.zeros((10, 32))}, WorkloadError, "array 'fc9': unknown layer 'fc9'; did you mean"),
        ({"relu": np.zeros(3)}, WorkloadError, "layer 'relu' (activation) has no weights"),
        ({"fc2": np.zeros((32, 10))}, ShapeError, "layer 'fc2': weight shape [32, 10]; expected [10, 32]"),
        ({"conv": np.zeros((6, 4, 3, 3))}, ShapeError, "layer 'conv': weight shape [6, 4, 3, 3]; expected [6, 2, 3, 3] or [6, 18]"),
        ({"fc2": np.full((10, 32), np.nan)}, WorkloadError, "layer 'fc2': weight contains NaN or infinite values"),
        ({"fc2": np.full((10, 32), np.inf)}, WorkloadError, "layer 'fc2': weight contains NaN or infinite values"),
        ({"fc2": np.full((10, 32), "a")}, WorkloadError, "layer 'fc2': weight must be real numbers"),
        ({"fc2": np.ones((10, 32), dtype=bool)}, WorkloadError, "layer 'fc2': weight must be real numbers"),
        ({"fc1": np.zeros((32, 384)), "fc1.bias": np.zeros(31)}, ShapeError, "layer 'fc1': bias has 31 values; expected 32"),
        ({"fc1": np.zeros((32, 384)), "fc1.bias": np.full(32, np.nan)}, WorkloadError, "layer 'fc1': bias contains NaN"),
        ({"fc2": np.zeros((10, 32)), "fc2.bias": np.zeros(10)}, WorkloadError, "layer 'fc2' (linear) has no bias"),
        ({"fc1.bias": np.zeros(32)}, WorkloadError, "layer 'fc1': has a bias but no weight"),
    ],
)
def test_load_npz_bad_contents(tmp_path, arrays, error, text):
    path = _npz(tmp_path, **arrays)
    with pytest.raises(error) as info:
        load_npz(small_graph(), path)
    message = str(info.value)
    assert message.startswith(str(path)) and text in message and "\n" not in message


def test_load_npz_strict_names_missing_layers(tmp_path):
    path = _npz(tmp_path, fc2=np.zeros((10, 32)))
    with pytest.raises(WorkloadError, match=r"strict load: no weights for layer\(s\) conv, fc1"):
        load_npz(small_graph(), path, strict=True)


def test_load_npz_bad_files(tmp_path):
    with pytest.raises(WorkloadError, match="missing.npz: weight file not found"):
        load_npz(small_graph(), tmp_path / "missing.npz")
    text = tmp_path / "text.npz"
    text.write_text("not an archive")
    # a text file is named as what it is, not as "pickled (object) data" (NumPy reads any non-array file as a pickle)
    with pytest.raises(WorkloadError, match=r"text.npz: not a .npz file: neither a zip archive of arrays nor a .npy "
                                            r"array \(starts with b'not an a'\)$"):
        load_npz(small_graph(), text)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(WorkloadError, match=r"empty.npz: not a .npz file: .* \(empty\)$"):
        load_npz(small_graph(), empty)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(WorkloadError, match="single.npy: expected an .npz archive"):
        load_npz(small_graph(), single)
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, fc2=np.array([{"a": 1}], dtype=object))
    with pytest.raises(WorkloadError, match="obj.npz: layer 'fc2': cannot read array 'fc2'"):
        load_npz(small_graph(), pickled)


def test_save_npz_without_weights():
    with pytest.raises(WorkloadError, match="no weights attached"):
        save_npz(small_graph(), "/tmp/never-written.npz")


# --- activations -----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 3000), density=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_sample_has_exactly_round_density_times_size_nonzeros(size, density, seed):
    a = sample_activations(size, density, np.random.default_rng(seed))
    assert a.shape == (size,)
    assert np.count_nonzero(a) == round(density * size)
    assert np.all(a >= 0)


def test_sample_shapes_seeds_and_dtype():
    a = sample_activations((3, 5, 5), 0.4, 11)
    assert a.shape == (3, 5, 5) and np.count_nonzero(a) == 30 and a.dtype == np.float32
    np.testing.assert_array_equal(a, sample_activations((3, 5, 5), 0.4, 11))
    assert not np.array_equal(a, sample_activations((3, 5, 5), 0.4, 12))
    assert np.count_nonzero(sample_activations(10, 1.0, 0)) == 10
    assert np.count_nonzero(sample_activations(10, 0.0, 0)) == 0
    assert sample_activations(4, 0.5, 0, dtype=np.float64).dtype == np.float64


def test_sample_positions_are_uniform():
    rng = np.random.default_rng(0)
    hits = sum((sample_activations(50, 0.2, rng) > 0).astype(int) for _ in range(4000))
    # each position is non-zero with probability 0.2: 800 +- 25 (1 sigma) over 4000 draws
    assert hits.min() > 800 - 6 * 25 and hits.max() < 800 + 6 * 25
    # a chi-square over the 50 positions stays well within its 49 degrees of freedom
    chi2 = ((hits - 800) ** 2 / 800).sum()
    assert chi2 < 100


@pytest.mark.parametrize(
    "size, density, rng, text",
    [
        (10, -0.1, 0, "density must be a number in [0, 1]; got -0.1"),
        (10, 1.5, 0, "density must be a number in [0, 1]; got 1.5"),
        (10, float("nan"), 0, "density must be a number in [0, 1]; got nan"),
        (10, "dense", 0, "density must be a number in [0, 1]; got 'dense'"),
        (0, 0.5, 0, "size must be positive; got 0"),
        (-3, 0.5, 0, "size must be positive"),
        (2.5, 0.5, 0, "size must be a positive int or a shape tuple; got 2.5"),
        (True, 0.5, 0, "size must be a positive int or a shape tuple"),
        ((), 0.5, 0, "size must be a positive int or a shape tuple"),
        ((3, 0), 0.5, 0, "size must be positive"),
        (10, 0.5, "seed", "rng must be a numpy Generator or an int seed; got str"),
        (10, 0.5, -1, "seed must be an int >= 0"),
    ],
)
def test_sample_bad_arguments(size, density, rng, text):
    with pytest.raises(WorkloadError) as info:
        sample_activations(size, density, rng)
    assert text in str(info.value)


def test_graph_activation_samples_follow_recorded_densities():
    g = sample_graph_activations(load_workload("eie-benchmarks"), seed=1)
    assert set(g.activation_samples) == {layer.name for layer in g.compute_layers()}
    alex6 = g.activation_samples["Alex-6"]
    assert alex6.shape == (9216,) and np.count_nonzero(alex6) == round(0.351 * 9216)
    assert np.count_nonzero(g.activation_samples["NT-LSTM"]) == 600
    again = sample_graph_activations(load_workload("eie-benchmarks"), seed=1)
    np.testing.assert_array_equal(again.activation_samples["VGG-6"], g.activation_samples["VGG-6"])
    with pytest.raises(WorkloadError, match="graph input"):
        sample_graph_activations(load_workload("eie-benchmarks"), layers=["Alex-6.in"])
