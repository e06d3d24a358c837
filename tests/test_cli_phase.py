"""``accelsim simulate`` of a Hugging Face config at one prefill or decode step (issue 13 item 1, CLI side).

The dense step is simulated from shapes alone (no weight is synthesized), so a whole Llama-2-7B step costs
well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HF = Path(__file__).parent / "data" / "hf"
LLAMA = HF / "llama-2-7b.json"


def _latency(run_cli, *flags):
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", LLAMA, *flags, "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    return result["total"]["latency_s"], result


def test_decode_and_prefill_steps(run_cli):
    decode_2k, result = _latency(run_cli, "--phase", "decode", "--context", "2048")
    decode_4k, _ = _latency(run_cli, "--phase", "decode", "--context", "4096")
    prefill, _ = _latency(run_cli, "--phase", "prefill", "--prompt", "2048")
    fused, _ = _latency(run_cli, "--phase", "prefill", "--prompt", "2048", "--attention", "fused")
    # batch-1 decode streams every weight once: at least 13.5 GB of bf16 over 2.039 TB/s
    assert 6738415616 * 2 / 2.039e12 < decode_2k < decode_4k
    assert prefill > 10 * decode_2k  # 2048 tokens of GEMMs against one
    assert fused < prefill  # causal half of the scores, no score matrix through memory
    assert sum(layer["macs"] for layer in result["layers"]) > 6.4e9  # every block, one token
    assert result["total"]["tpot_s"] == decode_2k and result["total"]["ttft_s"] is None
    assert result["total"]["tokens_per_s"] == 1 / decode_2k


def test_moe_batch_routes_the_batch_and_context_warning(run_cli):
    mixtral = HF / "mixtral-8x7b-v0.1.json"
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", mixtral, "--phase", "decode",
                             "--context", "512", "--batch", "4", "--format", "json")
    assert code == 0, err
    four = json.loads(out)
    assert four["batch"] == 4
    experts = [layer for layer in four["layers"] if layer["op"] == "grouped_linear" and "experts.g" in layer["name"]]
    assert experts  # 4 tokens x top-2 of 8 experts: more experts touched than one token's 2
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", mixtral, "--phase", "decode",
                             "--context", "512", "--format", "json")
    single = json.loads(out)
    assert four["total"]["dram_read_bytes"] > 1.5 * single["total"]["dram_read_bytes"]  # more experts' weights read
    assert four["total"]["latency_per_sample_s"] < single["total"]["latency_s"]
    code, _, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", LLAMA, "--phase", "decode",
                           "--context", "8192", "--format", "json")
    assert code == 0
    assert "accelsim: warning: " in err and "max_position_embeddings 4096" in err and err.count("\n") == 1


def test_moe_batch_is_the_same_through_the_api_and_the_cli(run_cli):
    """``accelsim.simulate(config, batch=B)`` on a mixture of experts routes the batch's tokens as ``--batch B``
    does, and ``config?batch=B`` reports batch B (a held-out check: the API kept batch 1's routing, reading 40%
    fewer expert bytes, and the folded name reported batch 1)."""
    import accelsim
    from accelsim.errors import WorkloadError
    from accelsim.workload.zoo import load_workload

    name = f"{HF / 'mixtral-8x7b-v0.1.json'}?phase=decode&context=512"
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", HF / "mixtral-8x7b-v0.1.json",
                             "--phase", "decode", "--context", "512", "--batch", "4", "--format", "json")
    assert code == 0, err
    cli = json.loads(out)
    for result in (accelsim.simulate("a100-80gb", name, batch=4), accelsim.simulate("a100-80gb", name + "&batch=4")):
        assert result.batch == 4
        total = result.to_dict()["total"]
        for key in ("latency_s", "dram_read_bytes", "macs", "weight_storage_bits", "latency_per_sample_s"):
            assert total[key] == pytest.approx(cli["total"][key], rel=1e-12), key
    # the phase in the name, --batch on the command line: built at the batch too (was refused by the API's rule)
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", name, "--batch", "4", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["total"]["dram_read_bytes"] == cli["total"]["dram_read_bytes"]
    with pytest.raises(WorkloadError, match="built at batch 1"):
        accelsim.simulate("a100-80gb", load_workload(name), batch=4)
    with pytest.raises(WorkloadError, match="both set the batch"):
        accelsim.simulate("a100-80gb", name + "&batch=4", batch=2)
    dense = accelsim.simulate("a100-80gb", f"{LLAMA}?phase=decode&context=512", batch=4)  # not routed: as before
    assert dense.batch == 4


def test_recipe_on_a_7b_config_takes_the_statistics_path(run_cli, monkeypatch):
    """w4a16-g128 on Llama-2-7B: formats from shapes (was refused: 6.6e9 weights to synthesize)."""
    int4, result = _latency(run_cli, "--phase", "decode", "--context", "2048", "--recipe", "w4a16-g128")
    assert result["total"]["weight_storage_bits"] >= 6607077376 * 4.15625
    assert result["total"]["speedup_vs_dense"] > 1.5  # batch-1 decode streams 4.16-bit weights instead of 16
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", LLAMA, "--phase", "decode",
                             "--recipe", "magnitude-4")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "6,607,077,376 weights" in err and "ACCELSIM_MAX_GRAPH_WEIGHTS" in err and "prune method magnitude" in err
    monkeypatch.setenv("ACCELSIM_MAX_GRAPH_WEIGHTS", "many")
    code, _, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", "lenet5", "--recipe", "int8")
    assert code == 2 and "ACCELSIM_MAX_GRAPH_WEIGHTS must be an int" in err


def test_generate_phase(run_cli):
    total, result = _latency(run_cli, "--phase", "generate", "--prompt", "256", "--generate", "64")
    t = result["total"]
    assert t["ttft_s"] > 0 and t["tpot_s"] > 0
    assert total == pytest.approx(t["ttft_s"] + 64 * t["tpot_s"], rel=1e-9)
    assert t["tokens_per_s"] == pytest.approx(65 / total, rel=1e-9)
    phases = {layer["name"].split("/")[0] for layer in result["layers"]}
    assert phases == {"prefill", "decode"}
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", LLAMA, "--generate", "8")
    assert code == 2 and out == "" and "--phase generate" in err and err.count("\n") == 1
    pythia = HF / "pythia-160m.json"
    code, out, _ = run_cli("simulate", "--arch", "a100-80gb", "--workload", pythia, "--phase", "generate", "--prompt", "32",
                           "--generate", "5", "--decode-points", "0")
    assert code == 0 and "(exact):" in out and "ttft" in out and "tokens/s" in out
    code, out, err = run_cli("stats", "--workload", LLAMA, "--phase", "generate")
    assert code == 2 and out == "" and "use --phase prefill or decode" in err and err.count("\n") == 1


def test_kv_format_on_an_encoder_refused(run_cli):
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", HF / "bert-base-uncased.json",
                             "--recipe", "kv-int4")
    assert code == 2 and out == "" and err.count("\n") == 1 and "encoder" in err


def test_a_context_past_the_positions_is_a_result_warning(run_cli):
    """The warning a step's graph raises (a context past max_position_embeddings) is in the result's warnings, so a
    JSON reader sees it too; the table lists it once (not also on stderr)."""
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", LLAMA, "--phase", "decode",
                             "--context", "8192", "--format", "json")
    assert code == 0 and any("max_position_embeddings 4096" in w for w in json.loads(out)["warnings"])
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", LLAMA, "--phase", "decode",
                             "--context", "8192")
    # the table wraps long lines at spaces, and where depends on the workload path's length (a checkout under a
    # longer temporary folder split "max_position_embeddings 4096"): count in the text with its line breaks undone
    assert code == 0 and " ".join((out + err).split()).count("max_position_embeddings 4096") == 1
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", LLAMA, "--phase", "generate",
                             "--prompt", "4090", "--generate", "12", "--decode-points", "2", "--format", "json")
    said = [w for w in json.loads(out)["warnings"] if "max_position_embeddings" in w]
    assert code == 0 and said == ["generate: prompt 4090 + 12 tokens is over the model's max_position_embeddings 4096"]


def test_generate_table_says_its_warning_once_and_its_serving_figures_first(run_cli):
    """A fresh-user round (2026-12-07): ``--phase generate`` printed the over-``max_position_embeddings`` warning on
    stderr and again in the table, and the serving figures (ttft, tpot, tokens/s) only under the last layer row."""
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", LLAMA, "--phase", "generate",
                             "--prompt", "4090", "--generate", "12", "--decode-points", "2")
    assert code == 0 and " ".join((out + err).split()).count("max_position_embeddings 4096") == 1
    assert out.splitlines()[1].startswith("generate 4090 + 12 tokens, batch 1") and "ttft" in out.splitlines()[1]


def test_csv_output_says_the_results_warnings_on_stderr(run_cli, tmp_path):
    """A held-out check (2026-12-07): with ``--format csv`` a result's own warnings (over capacity, DRAM refetch,
    precision) appeared nowhere; the CSV has no place for them, so they go to stderr."""
    out = tmp_path / "l.csv"
    code, _, err = run_cli("simulate", "--arch", "edge-32x32-2of4", "--workload", "lenet5", "--recipe", "2of4-int8",
                           "--format", "csv", "--out", out)
    assert code == 0 and out.read_text() and "DRAM refetch: ip1 reads its ifmap" in " ".join(err.split())
