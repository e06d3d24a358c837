"""``accelsim simulate`` of a Hugging Face config at one prefill or decode step (issue 13 item 1, CLI side).

The dense step is simulated from shapes alone (no weight is synthesized), so a whole Llama-2-7B step costs
well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path

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


def test_moe_batch_refused_and_context_warning(run_cli):
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", HF / "mixtral-8x7b-v0.1.json",
                             "--phase", "decode", "--batch", "4")
    assert code == 2 and out == "" and err.count("\n") == 1 and "MoE" in err
    code, _, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", LLAMA, "--phase", "decode",
                           "--context", "8192", "--format", "json")
    assert code == 0
    assert "accelsim: warning: " in err and "max_position_embeddings 4096" in err and err.count("\n") == 1


def test_recipe_on_a_7b_config_refused_before_allocating(run_cli, monkeypatch):
    """A recipe would synthesize 6.6e9 weights: one line, exit 2, nothing allocated (was a MemoryError)."""
    code, out, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", LLAMA, "--phase", "decode",
                             "--recipe", "w4a16-g128")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "6,607,077,376 weights" in err and "ACCELSIM_MAX_GRAPH_WEIGHTS" in err
    monkeypatch.setenv("ACCELSIM_MAX_GRAPH_WEIGHTS", "many")
    code, _, err = run_cli("simulate", "--arch", "a100-80gb", "--workload", "lenet5", "--recipe", "int8")
    assert code == 2 and "ACCELSIM_MAX_GRAPH_WEIGHTS must be an int" in err
