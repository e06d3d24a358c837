"""Cases a held-out round of every user file loader (2026-12-05, twenty-first session; 6,334 mutated inputs written
by a helper that read none of these tests) found taken or failing: workload YAML layer fields not checked against
their types (``bias: maybe``, ``act_density: true``, ``out_features: true`` then a TypeError, ``num_embeddings:
.nan`` giving NaN parameters, a stride beyond int64), a topology stride beyond int64, a work-budget refusal not
naming the file, a SCALE-Sim .cfg's misspelled keys and sections and a non-boolean SparsitySupport ignored, a
Hugging Face config nested past Python's recursion limit (an internal error) or naming a key twice (the last won),
a workload's ``published`` figures unchecked, a sweep point's batch over the bound refused only as error rows, and
``evaluate:`` refusals not naming the spec."""

from __future__ import annotations

from pathlib import Path

import pytest

CFG = Path(__file__).parent / "data" / "scalesim" / "inputs" / "a8_is_calc.cfg"
NET = """name: t
inputs: {data: [3, 16, 16]}
layers:
  - {name: conv1, op: conv2d, out_channels: 8, kernel: 3, padding: 1}
  - {name: pool1, op: maxpool, kernel: 2, stride: 2}
  - {name: flat, op: flatten}
  - {name: fc, op: linear, out_features: 10}
"""


@pytest.mark.parametrize("edit, message", [
    (("kernel: 3, padding: 1}", "kernel: 3, padding: 1, bias: maybe}"), "layers[0] (conv1).bias must be true or false; got 'maybe'"),
    (("out_features: 10}", "out_features: 10, act_density: true}"), "layers[3] (fc).act_density must be a number in (0, 1]; got true"),
    (("out_features: 10}", "out_features: 10, act_density: '0.5'}"), "act_density must be a number in (0, 1]; got '0.5'"),
    (("out_features: 10}", "out_features: true}"), "layers[3] (fc).out_features must be an int; got true"),
    (("out_features: 10}", "out_features: .nan}"), "out_features must be an int; got nan"),
    (("stride: 2}", "stride: 9223372036854775808}"), "layers[1] (pool1).stride must be an int or a list of ints"),
])
def test_workload_layer_fields_are_checked_against_their_types(run_cli, tmp_path, edit, message):
    (tmp_path / "w.yaml").write_text(NET.replace(*edit))
    code, _, err = run_cli("stats", "--workload", str(tmp_path / "w.yaml"))
    assert code == 2 and message in err and "w.yaml" in err and len(err.strip().splitlines()) == 1


def test_workload_numbers_and_published_figures(run_cli, tmp_path):
    (tmp_path / "ok.yaml").write_text(NET.replace("out_features: 10", "out_features: 10.0"))  # an integral float is the int
    assert run_cli("stats", "--workload", str(tmp_path / "ok.yaml"))[0] == 0
    (tmp_path / "p.yaml").write_text(NET + "published: {params: -5, macs: 10}\n")
    code, _, err = run_cli("stats", "--workload", str(tmp_path / "p.yaml"))
    assert code == 2 and "p.yaml: published.params must be an int >= 0; got -5" in err
    (tmp_path / "big.yaml").write_text(NET.replace("out_features: 10", "out_features: 1000000000000"))
    code, _, err = run_cli("simulate", "--arch", "edge-32x32", "--workload", str(tmp_path / "big.yaml"))
    assert code == 2 and "big.yaml: layer 'fc' (linear)" in err and "work budget" in err


def test_topology_stride_beyond_int64(run_cli, tmp_path):
    (tmp_path / "t.csv").write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                                    "Num Filter, Strides,\nconv1, 16, 16, 3, 3, 3, 8, 9223372036854775808,\n")
    code, _, err = run_cli("stats", "--workload", str(tmp_path / "t.csv"))
    assert code == 2 and "column 'Strides': must be a positive integer within int64" in err


@pytest.mark.parametrize("edit, message", [
    (("Bandwidth : 10", "Bnadwidth : 10"), "[architecture_presets] unknown key 'bnadwidth'; did you mean Bandwidth?"),
    (("[sparsity]", "[bogus]\nx = 1\n\n[sparsity]"), "unknown section [bogus]"),
    (("SparsitySupport : false", "SparsitySupport : maybe"), "[sparsity] SparsitySupport must be True or False; got 'maybe'"),
    (("MemoryBanks:   1", "MemoryBanks: banana"), "[architecture_presets] MemoryBanks must be an integer; got 'banana'"),
])
def test_scalesim_cfg_refuses_what_it_does_not_know(run_cli, tmp_path, edit, message):
    (tmp_path / "c.cfg").write_text(CFG.read_text().replace(*edit))
    code, _, err = run_cli("show", "arch", str(tmp_path / "c.cfg"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_hugging_face_json_nesting_and_duplicate_keys(run_cli, tmp_path):
    (tmp_path / "deep.json").write_text('{"model_type": "llama", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, _, err = run_cli("stats", "--workload", str(tmp_path / "deep.json"))
    assert code == 2 and "nested too deeply" in err
    (tmp_path / "dup.json").write_text('{"model_type": "llama", "hidden_size": 64, "hidden_size": 128}')
    code, _, err = run_cli("stats", "--workload", str(tmp_path / "dup.json"))
    assert code == 2 and "key 'hidden_size' is given twice" in err


def test_sweep_bounds_and_evaluate_named_with_the_spec(run_cli, tmp_path):
    (tmp_path / "b.yaml").write_text("name: b\nbase: {arch: edge-32x32, workload: lenet5}\npoints:\n"
                                     "  - {batch: 9223372036854775808}\n")
    code, _, err = run_cli("sweep", str(tmp_path / "b.yaml"), "--out", str(tmp_path / "o"), "--quiet")
    assert code == 2 and "b.yaml: batch must be <= 1048576" in err and not (tmp_path / "o").exists()
    (tmp_path / "e.yaml").write_text("name: e\nbase: {arch: edge-32x32, workload: lenet5}\nevaluate: os:system\n")
    code, _, err = run_cli("sweep", str(tmp_path / "e.yaml"), "--out", str(tmp_path / "o2"), "--quiet")
    assert code == 2 and "e.yaml: evaluate: os:system is outside accelsim" in err


@pytest.mark.parametrize("field, value", [("rope_theta", '"abc"'), ("rms_norm_eps", "-1"), ("layer_norm_eps", "0"),
                                          ("rope_theta", "true")])
def test_hugging_face_numbers_the_graph_does_not_read_are_still_checked(run_cli, tmp_path, field, value):
    (tmp_path / "c.json").write_text('{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, '
                                     '"num_attention_heads": 4, "num_hidden_layers": 1, "vocab_size": 100, '
                                     f'"{field}": {value}}}')
    code, _, err = run_cli("stats", "--workload", str(tmp_path / "c.json"))
    assert code == 2 and f"field '{field}' must be a positive number" in err


@pytest.mark.parametrize("field, value, message", [
    ("rope_scaling", "[1, 2]", "field 'rope_scaling' must be an object"),
    ("rope_scaling", '{"rope_type": "linear", "factor": -2.0}', "field 'rope_scaling.factor' must be a positive number"),
    ("rope_scaling", '{"rope_type": "yarn", "factor": "x"}', "field 'rope_scaling.factor' must be a positive number"),
    ("torch_dtype", '"float7"', "field 'torch_dtype' must name a torch dtype"),
    ("dtype", "16", "field 'dtype' must name a torch dtype")])
def test_hugging_face_rope_scaling_and_dtype_are_checked(run_cli, tmp_path, field, value, message):
    """Not read by the cost model, but nonsense there is not a model (a held-out LLM round found them accepted);
    the forms real configs use pass (Llama-3.1's llama3 scaling, Phi-3's lists of factors, bfloat16)."""
    base = ('{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, '
            '"num_hidden_layers": 1, "vocab_size": 100, ')
    (tmp_path / "c.json").write_text(base + f'"{field}": {value}}}')
    code, _, err = run_cli("stats", "--workload", str(tmp_path / "c.json"))
    assert code == 2 and message in err and err.count("\n") == 1
    (tmp_path / "ok.json").write_text(base + '"torch_dtype": "bfloat16", "rope_scaling": {"rope_type": "llama3", '
                                      '"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, '
                                      '"original_max_position_embeddings": 8192, "long_factor": [1.0, 1.1]}}')
    code, _, err = run_cli("stats", "--workload", str(tmp_path / "ok.json"))
    assert code == 0, err
