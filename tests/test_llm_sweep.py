"""Workload parameters as sweep axes and parametric workload names (issue 13 item 6), the phase sweep with
the memory that fits, and the speedup-vs-batch plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.dse.space import Grid, Space, fold_workload_params
from accelsim.dse.serving import phase_sweep, plot_speedup_vs_batch
from accelsim.errors import SweepError, WorkloadError
from accelsim.workload.zoo import load_workload, split_params

LLAMA = str(Path(__file__).parent / "data" / "hf" / "llama-2-7b.json")
TINY = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 384, "num_attention_heads": 4,
        "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 320, "max_position_embeddings": 4096}


def test_parametric_names():
    assert split_params("bert-base?seq=512") == ("bert-base", {"seq": 512})
    assert split_params("x.json?phase=decode&context=4096&batch=8") == ("x.json", {"phase": "decode", "context": 4096,
                                                                                   "batch": 8})
    base = load_workload("bert-base")
    long = load_workload("bert-base?seq=512")
    assert long.total_params == base.total_params and long.total_macs > 4 * base.total_macs
    small = load_workload("resnet50?image=160")
    assert small.total_params == load_workload("resnet50").total_params
    g = load_workload(f"{LLAMA}?phase=decode&context=4096&batch=8")
    hf = g.metadata["hf"]
    assert (hf["phase"], hf["kv_length"], hf["batch"]) == ("decode", 4096, 8)
    for bad, what in (("alexnet?image=160", "weights change"), ("bert-base?seq=1024", "512 learned positions"),
                      ("bert-base?size=3", "unknown workload parameter"), (f"{LLAMA}?seq=3", "unknown workload parameter"),
                      ("bert-base?seq", "key=value"), ("lenet5?seq=3", "token-sequence")):
        with pytest.raises(WorkloadError, match=what) as exc:
            load_workload(bad)
        assert "\n" not in str(exc.value)


def test_workload_axes_fold_into_the_name():
    space = Space(base={"arch": "a100-80gb", "workload": LLAMA, "workload.phase": "decode"},
                  axes=[Grid({"workload.context": [1024, 4096], "batch": [1, 8]})])
    names = [s["workload"] for s, _ in space.settings()]
    assert names == [f"{LLAMA}?context=1024&phase=decode"] * 2 + [f"{LLAMA}?context=4096&phase=decode"] * 2
    assert fold_workload_params({"workload": "bert-base", "workload.seq": 256}) == {"workload": "bert-base?seq=256"}
    with pytest.raises(SweepError, match="workload.seq must be"):
        fold_workload_params({"workload": "bert-base", "workload.seq": 2.5})


def test_phase_sweep_speedup_and_fit(tmp_path):
    rows = phase_sweep("a100-80gb", TINY, batches=(1, 64), phases=("decode",), recipes=("w4a16-g128",),
                       contexts=(1024,), capacity_bytes=50e6)
    assert [r["batch"] for r in rows] == [1, 64]
    assert all(r["speedup_vs_dense"] > 0 and r["tokens_per_s"] > 0 for r in rows)
    assert rows[0]["fits"] and not rows[1]["fits"] and 1 <= rows[0]["max_batch"] < 64
    out = tmp_path / "speedup.png"
    plot_speedup_vs_batch(rows, out)
    assert out.stat().st_size > 1000


def test_sweep_over_workload_axes(tmp_path):
    import json

    from accelsim.dse.sweep import sweep

    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    space = Space(base={"arch": "a100-80gb", "workload": str(cfg), "recipe": "w4a16-g128"},
                  axes=[Grid({"workload.phase": ["prefill", "decode"], "workload.context": [256, 1024]})])
    df = sweep(space, progress=False)
    assert len(df) == 4 and set(df["status"]) == {"ok"}
    lat = {w.split("?", 1)[1]: v for w, v in zip(df["workload"], df["latency_s"])}
    assert lat["context=1024&phase=decode"] > lat["context=256&phase=decode"]
    assert all(df["speedup_vs_dense"] > 0)


def test_sweep_batches_a_step_as_simulate_does(tmp_path):
    """A ``workload.batch`` axis reports the folded batch (was 1: per-sample figures 2x), ``batch`` beside it is
    refused in one line, and a mixture of experts at ``batch: 4`` routes the batch's tokens: every row equals
    ``accelsim.simulate`` of the same setting (held-out checks)."""
    import json

    import accelsim
    from accelsim.dse.sweep import sweep

    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    mixtral = str(Path(LLAMA).parent / "mixtral-8x7b-v0.1.json")
    df = sweep(Space(base={"arch": "h100-sxm", "workload": str(cfg)},
                     axes=[Grid({"workload.batch": [2], "workload.phase": ["decode"], "workload.context": [64]})]),
               progress=False)
    one = accelsim.simulate("h100-sxm", f"{cfg}?batch=2&context=64&phase=decode").to_dict()
    assert list(df["batch"]) == [2]
    assert df["latency_per_sample_s"][0] == pytest.approx(one["total"]["latency_per_sample_s"], rel=1e-12)
    with pytest.raises(SweepError, match="both set the batch"):
        sweep(Space(base={"arch": "h100-sxm", "workload": str(cfg)},
                    axes=[Grid({"workload.batch": [2], "batch": [4]})]), progress=False)
    assert df["tokens_per_s"][0] == pytest.approx(2 / one["total"]["latency_s"], rel=1e-12)  # serving figures
    assert df["tpot_s"][0] == pytest.approx(one["total"]["latency_s"], rel=1e-12)
    assert "ttft_s" not in df or df["ttft_s"].isna().all()  # a decode step has no time to first token
    moe = sweep(Space(base={"arch": "a100-80gb", "workload": f"{mixtral}?phase=decode&context=512"},
                      axes=[Grid({"batch": [4]})]), progress=False)
    api = accelsim.simulate("a100-80gb", f"{mixtral}?phase=decode&context=512", batch=4).to_dict()["total"]
    assert list(moe["batch"]) == [4]
    for key in ("latency_s", "dram_read_bytes", "latency_per_sample_s"):
        assert moe[key][0] == pytest.approx(api[key], rel=1e-12), key


def test_largest_batch_that_fits_the_device_memory_of_a_gpu_config():
    """Llama-2-7B bf16 on an A100 80 GB (80 GiB): weights 6,738,415,616 params x 2 B; KV per sequence at 4096
    tokens = 2 (K, V) x 32 layers x 4096 tokens x 4096 channels x 2 B = 2 GiB; (80 GiB - weights) / 2 GiB =
    33.7, so 33 sequences fit (no reserve); with w4a16-g128 weights (4.15625 bits per element on the 7 matrices
    of every block) 38."""
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.compress.recipe import compress
    from accelsim.dse.serving import device_memory_bytes, max_batch
    from accelsim.workload.hf import load_hf, model_spec

    assert device_memory_bytes("a100-80gb") == 80 * 2 ** 30
    assert device_memory_bytes("h200") == pytest.approx(140.4 * 2 ** 30)
    g = load_hf(LLAMA, phase="decode", context=4096)
    spec = model_spec(LLAMA)
    dense = CompressedGraph.dense(g)
    assert max_batch(dense, spec, 4096, device_memory_bytes("a100-80gb")) == 33
    int4 = compress(g, "w4a16-g128")
    weights = 6_476_005_376 * 4.15625 / 8 + (6_738_415_616 - 6_476_005_376) * 2  # blocks int4; lm_head, embeddings, norms bf16
    expected = int((80 * 2 ** 30 - weights) // 2 ** 31)
    assert max_batch(int4, spec, 4096, device_memory_bytes("a100-80gb")) == expected


def test_moe_memory_holds_every_expert_at_any_batch():
    """Mixtral-8x7B: a decode step's graph holds the experts its tokens reach (2 of 8 a block at batch 1), but all
    46.7B parameters sit in device memory: about 87 GiB in bf16 at every batch, over an A100 80 GB (held-out
    check: 24.0 GiB at batch 1, 55.5 at 4, with a max batch of 224); w4a16-g128 stores the untouched experts as
    the touched ones are."""
    from accelsim.dse.serving import simulate_phase

    mixtral = str(Path(LLAMA).parent / "mixtral-8x7b-v0.1.json")
    total = 46_702_792_704
    for batch in (1, 4):
        m = simulate_phase("a100-80gb", mixtral, "decode", context=2048, batch=batch, dense_baseline=False).extra["memory"]
        assert m["weights"] == total * 2 and not m["fits"] and m["max_batch"] == 0
    q = simulate_phase("a100-80gb", mixtral, "decode", context=2048, batch=1, recipe="w4a16-g128",
                       dense_baseline=False).extra["memory"]
    assert 0.25 * total * 2 < q["weights"] < 0.3 * total * 2 and q["fits"] and q["max_batch"] > 0


@pytest.mark.parametrize("config", ["gpt2.json", "gemma-2b.json", "llama-2-7b.json", "mixtral-8x7b-v0.1.json",
                                    "qwen1.5-moe-a2.7b.json", "deepseek-v2-lite.json"])
def test_dense_weights_in_memory_are_the_published_parameter_count(config):
    """bf16 weights in device memory = 2 bytes x the model's parameters, exactly: a tied lm_head is the embedding
    table, counted once (GPT-2 counted 162.9M parameters for 124.4M), norm scales and biases are counted, and a
    mixture of experts holds every expert."""
    from accelsim.dse.serving import simulate_phase

    path = str(Path(LLAMA).parent / config)
    r = simulate_phase("a100-80gb", path, "decode", context=512, batch=1, dense_baseline=False)
    total = load_workload(f"{path}?phase=decode&context=512").metadata["hf"]["params"]["total"]
    assert r.extra["memory"]["weights"] == 2 * total
