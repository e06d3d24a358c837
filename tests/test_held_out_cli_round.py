"""Cases a held-out round of CLI, recipe and sweep inputs (2026-12-04, nineteenth session; 218 checks written by a
helper that read none of these tests) found wrong: a per-layer work budget checked only when the layer was reached,
a GPU GEMM costed wave by wave in Python (a legal batch ran for minutes), a recipe density that rounded a layer to
no weights, embedding tables left out of a compression report without a word, a bad ``tech`` naming neither file
nor field, a grid axis value listed twice run once without a word."""

from __future__ import annotations

import numpy as np

from accelsim.compress import prune as P
from accelsim.hw.gpu import kernel_models as km

LATE = ("name: late\ninputs: {data: [16384, 8]}\nlayers:\n  - {name: a, op: linear, out_features: 8}\n"
        "  - {name: b, op: linear, out_features: 131072}\n")


def test_work_budget_is_checked_before_any_layer_runs(run_cli, tmp_path, monkeypatch):
    """Layer 'b' is over the budget at batch 2^20: refused before layer 'a' runs (no layer is simulated)."""
    from accelsim.hw.gpu.model import GpuModel

    def ran(*args, **kwargs):
        raise AssertionError("a layer was simulated before the work budget was checked")

    monkeypatch.setattr(GpuModel, "simulate_network", ran)
    (tmp_path / "late.yaml").write_text(LATE)
    code, _, err = run_cli("simulate", "--arch", "a100-40gb", "--workload", str(tmp_path / "late.yaml"), "--batch", "1048576")
    assert code == 2 and "layer 'b'" in err and "work budget" in err and len(err.strip().splitlines()) == 1


def test_gpu_gemm_waves_are_counted_not_walked(monkeypatch):
    """A 2^37-row GEMM (within the work budget) has ~10^7 waves of tiles: every full wave costs the same, so each
    tile's cost is computed for two wave sizes, not once a wave (a legal batch ran for minutes)."""
    from accelsim.hw.registry import load_arch

    calls = []
    dram_s = km._dram_s
    monkeypatch.setattr(km, "_dram_s", lambda cfg, nbytes: calls.append(1) or dram_s(cfg, nbytes))
    est = km.gemm(load_arch("a100-40gb"), 1 << 37, 8, 8, 1, "bf16")
    assert est.detail["wave_count"] > 10**5 and len(calls) < 200 and est.time_s > 0


def test_a_density_above_zero_keeps_a_weight():
    assert P._keep_count(1000, 1 - 0.0004) == 1 and P._keep_count(1, 0.5) == 1 and P._keep_count(0, 0.5) == 0
    mask = P.block_mask(np.ones((10, 10), np.float32), (4096, 4096), 0.5) if hasattr(P, "block_mask") else None
    assert mask is None or mask.all()


def test_compress_report_names_the_embedding_tables_it_leaves(run_cli, tmp_path):
    (tmp_path / "emb.yaml").write_text("name: emb\ninputs: {ids: [16]}\nlayers:\n"
                                       "  - {name: emb, op: embedding, inputs: [ids], num_embeddings: 100, embedding_dim: 32}\n"
                                       "  - {name: fc, op: linear, out_features: 10}\n")
    (tmp_path / "r.yaml").write_text("name: int4-all\npipeline:\n  - quantize: {bits: 4}\n")
    code, out, err = run_cli("compress", "--workload", str(tmp_path / "emb.yaml"), "--recipe", str(tmp_path / "r.yaml"))
    assert code == 0, err
    assert "not compressed, not in the totals: 1 embedding table(s), 3,200 weights (emb)" in out


def test_unknown_tech_names_the_file_and_field(run_cli, tmp_path):
    arch = tmp_path / "a.yaml"
    arch.write_text("name: a\nfamily: systolic\nclock_hz: 500000000\ntech: 3nm\narray: {rows: 8, cols: 8, dataflow: os}\n"
                    "sram: {ifmap_kb: 64, filter_kb: 64, ofmap_kb: 64}\ndram: {bandwidth_mode: CALC}\n")
    code, _, err = run_cli("simulate", "--arch", str(arch), "--workload", "lenet5")
    assert code == 2 and f"{arch}: field 'tech': unknown tech table '3nm'" in err


def test_grid_axis_value_listed_twice_is_refused(run_cli, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: t\nbase: {arch: edge-32x32, workload: lenet5}\ngrid:\n  arch.array.rows: [8, 8, 16]\n")
    code, _, err = run_cli("sweep", str(spec), "--out", str(tmp_path / "out"))
    assert code == 2 and "grid.arch.array.rows lists 8 more than once" in err


HF = "tests/data/hf/llama-2-7b.json"


def test_llm_flags_that_do_not_apply_are_refused(run_cli):
    """A held-out round of LLM phase paths (same session): --prompt on a decode step, --routing on a dense model
    and a length over 2^26 tokens were accepted silently or failed deep in a layer; a batch folded into the
    workload name was simulated but the serving figures counted one sequence, and with --batch both multiplied."""
    import json
    from pathlib import Path

    hf = str(Path(__file__).resolve().parents[1] / HF)
    for extra, message in ((["--phase", "decode", "--prompt", "64"], "prompt applies to prefill"),
                           (["--phase", "decode", "--routing", "zipf"], "routing applies to a mixture-of-experts"),
                           (["--phase", "decode", "--context", str(10 ** 12)], "context 1000000000000 is over"),
                           (["--prompt", str(10 ** 12)], "prompt 1000000000000 is over")):
        code, _, err = run_cli("simulate", "--arch", "h100-sxm", "--workload", hf, *extra)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (extra, err)
    code, out, err = run_cli("simulate", "--arch", "h100-sxm", "--workload", hf + "?phase=decode&batch=8", "--format", "json")
    folded = json.loads(out)
    code2, out2, _ = run_cli("simulate", "--arch", "h100-sxm", "--workload", hf, "--phase", "decode", "--batch", "8",
                             "--format", "json")
    given = json.loads(out2)
    assert code == code2 == 0 and folded["batch"] == given["batch"] == 8
    assert folded["total"]["tokens_per_s"] == given["total"]["tokens_per_s"]
    code, _, err = run_cli("simulate", "--arch", "h100-sxm", "--workload", hf + "?phase=decode&batch=4", "--batch", "2")
    assert code == 2 and "both set the batch" in err
