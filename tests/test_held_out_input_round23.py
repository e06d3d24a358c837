"""Cases a held-out round of hostile inputs (2026-12-05, twenty-third session; about 330 bad inputs written by a helper
that read none of these tests) found wrong: a DRAM bandwidth knob of 1e308 GB/s was an internal error, misspelled
keys of two config maps were ignored, a topology CSV overflow error named no file, ``--timeout`` and ``--param``
were unchecked, ``--set`` turned quoted strings into numbers, a weights file matching no layer ran dense, a point
listed twice ran once, a density under 1e-16 was refused with a message about a sparsity of 1.0."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import WorkloadError


def _one_line(code, err, *words):
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)


@pytest.mark.parametrize("setting, words", [
    ("dram.bandwidth_gbps=1e308", ["dram.bandwidth_gbps", "words/cycle in all; at most 1,048,576"]),
    ("dram.bandwidth_gbps=.inf", ["dram.bandwidth_gbps must be a positive finite number (GB/s)"]),
    ("dram.bandwidth=.inf", ["dram.bandwidth must be a positive finite number (words/cycle)"]),
    ("dram.bandwidth=2e9", ["at most 1,048,576"]),
])
def test_bandwidth_knob_out_of_range_is_one_line(run_cli, setting, words):
    code, _, err = run_cli("simulate", "--arch", "edge-32x32", "--workload", "lenet5", "--set", setting)
    _one_line(code, err, "--set", *words)


def test_bandwidth_knob_in_range_still_runs(run_cli):
    code, out, err = run_cli("simulate", "--arch", "edge-32x32", "--workload", "lenet5", "--set", "dram.bandwidth_gbps=25.6")
    assert code == 0, err


def test_misspelled_keys_of_config_maps_are_refused(run_cli, tmp_path):
    """The GPU's per-dtype tensor efficiencies and the NPU's fused ops are keyed by names the model looks up:
    a name it never looks up was silently ignored (fp8 ran at the general efficiency; activations unfused)."""
    code, _, err = run_cli("simulate", "--arch", "h100-sxm", "--workload", "lenet5", "--set", "efficiency.tensor_dtype.fp_8=0.5")
    _one_line(code, err, "efficiency.tensor_dtype.fp_8: unknown data type", "fp8")
    code, _, err = run_cli("simulate", "--arch", "tpu-v4", "--workload", "lenet5", "--set", "fusion.fused_ops=[activaton]")
    _one_line(code, err, "fusion.fused_ops: unknown layer op 'activaton'; did you mean activation?")
    code, _, err = run_cli("simulate", "--arch", "h100-sxm", "--workload", "lenet5", "--set", "efficiency.tensor_dtype.fp8=0.5")
    assert code == 0, err


def test_topology_overflow_names_file_and_line(run_cli, tmp_path):
    (tmp_path / "t.csv").write_text("Layer name, M, N, K,\ng, 100000000, 100000000, 100000000,\n")
    code, _, err = run_cli("stats", "--workload", tmp_path / "t.csv")
    _one_line(code, err, "t.csv: line 2: layer 'g' (linear)", "exceed int64")


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "0"])
def test_sweep_timeout_is_checked_before_anything_runs(run_cli, tmp_path, value):
    (tmp_path / "s.yaml").write_text("name: s\nbase: {workload: lenet5, arch: edge-32x32}\npoints:\n  - {batch: 1}\n")
    code, _, err = run_cli("sweep", tmp_path / "s.yaml", "--out", tmp_path / "o", "--quiet", "--timeout", value)
    _one_line(code, err, "--timeout must be a positive number of seconds")
    assert not (tmp_path / "o").exists()


def test_sweep_api_timeout_is_checked():
    import accelsim
    from accelsim.errors import SweepError

    with pytest.raises(SweepError, match="timeout must be a positive number of seconds; got -1"):
        accelsim.sweep({"name": "s", "base": {"workload": "lenet5", "arch": "edge-32x32"}, "points": [{"batch": 1}]},
                       progress=False, timeout=-1)


def test_a_point_listed_twice_is_refused(run_cli, tmp_path):
    (tmp_path / "s.yaml").write_text("name: s\nbase: {workload: lenet5, arch: edge-32x32}\npoints:\n"
                                     "  - {batch: 1}\n  - {batch: 2}\n  - {batch: 1}\n")
    code, _, err = run_cli("sweep", tmp_path / "s.yaml", "--out", tmp_path / "o", "--quiet")
    _one_line(code, err, "points[2] repeats points[0]")


def test_set_keeps_quoted_strings_and_reads_bare_numbers():
    from accelsim.config import parse_override

    assert parse_override('description="1e3"') == ("description", "1e3")
    assert parse_override("name=inf") == ("name", "inf")
    assert parse_override('array.rows="16"') == ("array.rows", "16")  # refused by the schema, as in a YAML file
    assert parse_override("clock_hz=2e9") == ("clock_hz", 2e9)  # YAML 1.1 leaves 2e9 a string
    assert parse_override("x=1e-3") == ("x", 1e-3) and parse_override("x=16") == ("x", 16)


def test_set_quoted_number_for_an_int_field_is_refused(run_cli):
    code, _, err = run_cli("show", "arch", "edge-32x32", "--set", 'array.rows="16"')
    _one_line(code, err, "array.rows must be an int", "got '16'")


def test_accuracy_param_needs_a_recipe_and_seed_is_checked(run_cli, tmp_path):
    code, _, err = run_cli("accuracy", tmp_path / "none.onnx", "--data", tmp_path / "d.npz", "--param", "prune.density=0.5")
    _one_line(code, err, "--param prune.density=0.5 sets a recipe step's parameter; give --recipe too")
    code, _, err = run_cli("simulate", "--arch", "edge-32x32", "--workload", "lenet5", "--seed", "-1")
    _one_line(code, err, "--seed: seed must be an int >= 0; got -1")


def test_tiny_density_keeps_one_weight_per_layer():
    from accelsim.compress.recipe import compress, recipe_from_dict
    from accelsim.workload.zoo import load_workload

    cg = compress(load_workload("lenet5"), recipe_from_dict({"name": "t", "pipeline": [
        {"prune": {"method": "magnitude", "density": 1e-300}}]}))
    assert [cl.weight_nnz for cl in cg if cl.layer.weight_shape is not None] == [1] * 4


def test_workload_of_the_wrong_type_is_named():
    import accelsim

    for bad in (None, 5, [1]):
        with pytest.raises(WorkloadError, match="workload must be a zoo name, a file path"):
            accelsim.simulate("edge-32x32", bad)


def test_weights_matching_no_layer_are_refused(tmp_path):
    """A checkpoint of another model (GPT-NeoX tensors for a Llama config): 0 layers matched ran dense with a
    footnote; it is refused, naming what was expected and what the file holds."""
    from accelsim.workload.hf import load_hf
    from accelsim.workload.hf.checkpoint import attach_weights
    from tests.test_hf_checkpoint import write_safetensors

    g = load_hf({"model_type": "llama", "vocab_size": 32, "hidden_size": 16, "num_hidden_layers": 1,
                 "num_attention_heads": 2, "intermediate_size": 24})
    write_safetensors(tmp_path / "model.safetensors", {"gpt_neox.embed_in.weight": ("F32", np.zeros((32, 16), np.float32))})
    with pytest.raises(WorkloadError, match=r"no tensor matches a layer of the config \(0 of \d+ weighted layers; "
                                            r"expected names such as 'model.embed_tokens.weight', the file holds "
                                            r"'gpt_neox.embed_in.weight'\)"):
        attach_weights(g, tmp_path / "model.safetensors")


def test_a_directory_named_cfg_is_said_to_be_one(run_cli, tmp_path):
    (tmp_path / "a.cfg").mkdir()
    code, _, err = run_cli("simulate", "--arch", tmp_path / "a.cfg", "--workload", "lenet5")
    _one_line(code, err, "a.cfg: is a directory, expected a .cfg file")


def test_number_formats_refuse_non_finite_input():
    """A second held-out round (compression formats against ml_dtypes and the OCP MX spec, everything else bit
    for bit): NaN / inf given to the format functions came out as finite garbage (an inf's block decoded to
    zeros, a NaN MX block scaled to 2^-127); compress cannot reach them (the graph refuses such weights), the
    API refuses them now."""
    from accelsim.compress import formats as F
    from accelsim.errors import CompressionError

    x = np.full((2, 32), 0.5, np.float32)
    for bad in (np.nan, np.inf, -np.inf):
        x[1, 3] = bad
        for call in (lambda: F.quantize_mx(x, "mxfp4"), lambda: F.quantize_float(x, "e4m3", (1, 32)),
                     lambda: F.quantize_nvfp4(x), lambda: F.quantize_int(x, 4, 32, symmetric=False),
                     lambda: F.ELEMENT_FORMATS["e4m3"].encode(x),
                     lambda: F.ActivationFormat(element="e4m3").quantize(x),
                     lambda: F.KVFormat(format="int4").quantize(x, "key")):
            with pytest.raises(CompressionError, match="holds NaN or infinite values"):
                call()
    x[1, 3] = 0.25
    assert F.quantize_mx(x, "mxfp4").to_dense().shape == (2, 32)


def test_keep_count_ties_follow_round_of_density_times_size():
    """density 0.013 of 500 weights is 6.5, a tie Python's round sends to 6; as 1 - (1 - 0.013) it read
    6.500000000000006 and kept 7 (global scope alike). A count within float noise of a half is a tie (to the
    even count, whichever side the noise of 1 - density or of density x size put it); one truly above the
    half still rounds up."""
    from fractions import Fraction

    from accelsim.compress.prune import _keep_count

    assert _keep_count(500, 1 - 0.013) == round(0.013 * 500) == 6
    assert _keep_count(500, 1 - 0.015) == 8 and _keep_count(10, 0.75) == 2
    assert _keep_count(500, 1 - 0.0130000002) == 7
    rng = np.random.default_rng(0)
    for _ in range(2000):
        size = int(rng.integers(1, 10**6))
        j = int(rng.integers(0, size))
        tie = (2 * j + 1) / (2 * size)  # density x size meant as a half: a tie, to the even count
        assert _keep_count(size, 1 - tie) == max(1, round(Fraction(2 * j + 1, 2))), (size, tie)
        density = float(rng.uniform(0.0, 1.0))
        if density > 0 and abs(density * size - round(density * size * 2) / 2) > 1e-6:  # away from ties
            assert _keep_count(size, 1 - density) == max(1, round(density * size)), (size, density)
