"""The published-measurement harness of the GPU model (issue 14 item 5): data, mapping, arithmetic.

Most tests run without simulating (synthetic results or a stand-in for the simulator), so they check
the harness, not the GPU model's accuracy; ``test_kernel_rows_simulate`` runs a few rows for real.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from accelsim.hw.gpu import published as P
from accelsim.hw.gpu.published import formats as PF

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "gpu_published"


# ---- data: the package copy, the split -------------------------------------------------------------
@pytest.mark.parametrize("name", ["measurements.yaml", "split.yaml"])
def test_package_copy_is_the_published_data(name):
    """The package carries the research data verbatim: no measured value is restated or changed."""
    assert (P.DATA_DIR / name).read_bytes() == (DATA / name).read_bytes()


def test_split_covers_every_row_once():
    rows = P.measurements()
    sp = P.split()
    assert set(sp) == set(rows) and len(rows) == 114  # 113 split by the seeded method + one calibration row added
    halves = {h: [r for r, v in sp.items() if v == h] for h in P.HALVES}
    assert len(halves["calibration"]) == 62 and len(halves["untouched"]) == 52
    # evaluate() respects the split: each half only returns its own rows
    for half in P.HALVES:
        got = P.evaluate(ids=[r for r in rows if "unmapped" in P.mapping()[r]], half=half)
        assert got and all(r.half == half and sp[r.id] == half for r in got)


# ---- mapping: every row maps or says why -------------------------------------------------------------
def test_every_row_maps_or_has_a_reason():
    rows, mapping = P.measurements(), P.mapping()
    assert set(mapping) == set(rows)
    mapped = 0
    for rid, spec in mapping.items():
        if "unmapped" in spec:
            assert isinstance(spec["unmapped"], str) and len(spec["unmapped"]) > 20, rid
            assert set(spec) <= {"unmapped", "note"}, rid
            continue
        mapped += 1
        assert isinstance(spec["arch"], str), rid
        assert spec["recipe"] in PF.NAMES, rid
        assert spec["metric"] in P.METRICS, rid
        kind, _ = P._one(spec["workload"])
        assert kind in ("gemm", "attention", "model", "generate"), rid
        if spec["metric"] == "tokens_per_s":
            assert spec.get("tokens") in ("step", "prompt", "output", "total"), rid
        if spec["metric"] not in P._TIME_SCALE and spec["metric"] != "speedup":
            assert P.work(spec["workload"], spec["metric"], spec.get("tokens")) > 0, rid
        base = spec.get("baseline")
        if spec["metric"] == "speedup":
            assert base is not None, rid
        if base is not None:  # the measured side of every simulated speedup exists
            ms = P.measured_speedup(rows[rid], base, spec["metric"])
            assert ms is not None and ms > 0, rid
            assert set(base) <= {"recipe", "set", "workload", "attention", "measured"}, rid
    assert mapped >= 80


def test_every_mapped_workload_builds_in_its_format():
    """Every mapped row's workload builds and every distinct layer takes the recipe's format (no weights)."""
    import dataclasses

    for rid, spec in P.mapping().items():
        if "unmapped" in spec:
            continue
        for side in (spec, {**spec, **(spec.get("baseline") or {})}):
            seen = set()
            for layers, repeat in P.steps(side["workload"], side.get("attention", "fused")):
                assert repeat > 0
                for layer in layers:
                    key = dataclasses.replace(layer, name="_")
                    if key in seen:
                        continue
                    seen.add(key)
                    cl = PF.compressed(layer, side["recipe"])
                    if cl.weight is not None:
                        assert cl.view.matrix is None and cl.view.bits_per_element > 0, rid


def test_length_mix_runs_each_sequence_at_its_own_length():
    """A ``lengths`` workload: token-wise layers over batch x the mean length (packed), and per length L
    one attention over that length's sequences, weighted so the weights add up to the batch."""
    from accelsim.workload.layers import Attention, Linear

    mix = P.length_mix("squad-v1.1-384")
    assert sum(c for _, c in mix) == 88641 and mix[-1] == (384, 1054)  # the source's count and its cap
    mean = P.mean_length("squad-v1.1-384")
    assert 171 < mean < 173
    wl = {"model": {"config": "bert-large", "phase": "prefill", "batch": 256, "lengths": "squad-v1.1-384"}}
    st = P.steps(wl)
    packed, repeat = st[0]
    assert repeat == 1 and not any(isinstance(x, Attention) for x in packed)
    q = next(x for x in packed if isinstance(x, Linear) and x.name.endswith("attention.self.query"))
    assert q.input_shapes[0][0] == 256 * round(mean)
    seqs = 0.0
    for layers, w in st[1:]:
        assert len(layers) == 24 and all(isinstance(x, Attention) for x in layers)
        b, length, _ = layers[0].input_shapes[0]
        assert (length, b) in mix
        seqs += b * w
    assert seqs == pytest.approx(256) and len(st) == 1 + len(mix)
    assert P.work(wl, "samples_per_s", None) == 256
    # the same batch padded to 384 costs more than twice as much (the padding is 55 % of the tokens)
    t_mix = P.simulate("h100-sxm", {"stack": "tensorrt"}, wl, "w8a8-int8").seconds
    padded = {"model": {"config": "bert-large", "phase": "prefill", "batch": 256, "prompt": 384}}
    assert P.simulate("h100-sxm", {"stack": "tensorrt"}, padded, "w8a8-int8").seconds > 2.0 * t_mix
    with pytest.raises(P.ConfigError, match="not in lengths.yaml"):
        P.steps({"model": {**wl["model"], "lengths": "nope"}})
    with pytest.raises(P.ConfigError, match="without prompt"):
        P.steps({"model": {**wl["model"], "prompt": 384}})


def test_kv_bits_reach_the_decode_attention_only():
    """``kv_bits`` (an FP8 KV cache): decode-step attention reads the cache at that width; a prefill's
    attention reads K / V from the projections and is unchanged; the decode step gets faster."""
    from accelsim.workload.layers import Attention

    wl = {"generate": {"config": "llama-2-7b", "batch": 8, "prompt": 128, "generate": 64, "kv_bits": 8}}
    st = P.steps(wl)
    pre = [x for x in st[0][0] if isinstance(x, Attention)]
    dec = [x for layers, _ in st[1:] for x in layers if isinstance(x, Attention)]
    assert pre and dec and all(x.kv_bits == 0 for x in pre) and all(x.kv_bits == 8 for x in dec)
    step = {"model": {"config": "llama-2-7b", "phase": "decode", "batch": 64, "context": 4096}}
    t16 = P.simulate("h100-sxm", {"stack": "tensorrt"}, step, "fp8-e4m3").seconds
    t8 = P.simulate("h100-sxm", {"stack": "tensorrt"}, {"model": {**step["model"], "kv_bits": 8}}, "fp8-e4m3").seconds
    assert t8 < 0.8 * t16


# ---- formats: the format-only layers read like the real recipe's -------------------------------------------
@pytest.mark.parametrize("recipe", sorted(PF.RECIPES))
def test_format_only_view_matches_a_real_compression(recipe):
    """At a shape other than the template's, the format-only view answers what a real compression does."""
    from accelsim.compress.recipe import compress
    from accelsim.workload import layers as L
    from accelsim.workload.graph import LayerGraph

    k, n = 1024, 96
    g = LayerGraph("real")
    g.add(L.Input(name="x", shape=(8, k)))
    lin = L.Linear(name="fc", input_shapes=((8, k),), out_features=n, bias=False)
    g.add(lin, ["x"])
    real = compress(g, PF.RECIPES[recipe])["fc"]
    fake = PF.compressed(lin, recipe)
    rv, fv = real.view, fake.view
    for name in ("layout", "value_bits", "element_format", "scale_format", "scale_bits", "group_size", "scale_block",
                 "zero_point_bits", "nm"):
        assert getattr(fv, name) == getattr(rv, name), (recipe, name)
    assert fv.bits_per_element == pytest.approx(rv.bits_per_element, rel=1e-9), recipe
    assert (fake.weight_bits, fake.activation_bits, fake.nm, fake.activation_format) == \
        (real.weight_bits, real.activation_bits, real.nm, real.activation_format)
    assert fake.quant_ops == real.quant_ops, recipe


def test_format_only_has_no_values_and_known_storage():
    lin = P.gemm_layer(1, 4096, 4096)
    cl = PF.compressed(lin, "w4a16-g128")
    assert cl.view.bits_per_element == pytest.approx(4 + 16 / 128 + 4 / 128)
    assert PF.compressed(lin, "2of4-w4a16").view.bits_per_element == pytest.approx(0.5 * (4 + 2) + 16 / 128)
    with pytest.raises(Exception, match="no values"):
        cl.weight.to_dense()
    assert PF.compressed(lin, "dense").weight is None
    with pytest.raises(Exception, match="recipe must be one of"):
        PF.compressed(lin, "int3")


# ---- arithmetic on synthetic rows ----------------------------------------------------------------------
def _row(rid, half="untouched", cat="x", measured=1.0, predicted=1.0, sm=None, sp=None):
    return P.RowResult(id=rid, category=cat, half=half, mapped=True, arch="a", metric="latency_ms", unit="ms",
                       measured=measured, predicted=predicted, speedup_measured=sm, speedup_predicted=sp)


def test_errors_medians_and_directions_on_a_tiny_case():
    rows = [_row("a", measured=2.0, predicted=2.2),      # +10 %
            _row("b", measured=4.0, predicted=3.0),      # -25 %
            _row("c", measured=1.0, predicted=1.05, sm=1.4, sp=1.2),   # +5 %, direction right
            _row("d", measured=10.0, predicted=4.0, sm=0.6, sp=1.3),   # -60 %, direction wrong
            P.RowResult(id="e", category="x", half="untouched", mapped=False, reason="no config")]
    assert rows[0].error == pytest.approx(0.1) and rows[1].error == pytest.approx(-0.25)
    s = P.summarize_rows(rows)
    assert (s.n, s.unmapped) == (4, 1)
    assert s.median_abs_error == pytest.approx((0.1 + 0.25) / 2)
    assert s.worst_abs_error == pytest.approx(0.6) and s.worst_id == "d"
    assert (s.directions, s.directions_right, s.wrong_directions) == (2, 1, ["d"])
    assert P.goals(s) == {"median": False, "worst": False, "directions": False}
    by_half = P.summarize(rows + [_row("f", half="calibration", cat="y")])
    assert set(by_half) == {"calibration", "untouched"} and by_half["calibration"]["all"].n == 1


def test_the_harness_can_fail_and_pass():
    good = [_row("a", measured=1.0, predicted=1.05, sm=2.0, sp=1.8), _row("b", measured=1.0, predicted=0.97)]
    lines = "\n".join(P.goal_lines(good))
    assert lines.count(": met") == 3 and "NOT MET" not in lines
    bad = good + [_row("c", measured=1.0, predicted=1.02, sm=0.5, sp=1.5)]  # a wrong direction only
    lines = "\n".join(P.goal_lines(bad))
    assert "every speedup direction right (1/2): NOT MET" in lines and "wrong directions: c" in lines
    far = good + [_row("d", measured=1.0, predicted=1.5)]
    assert "worst |error| 50% <= 35% (d): NOT MET" in "\n".join(P.goal_lines(far))


def test_metric_conversions_and_measured_speedups():
    assert P.metric_value("latency_ms", 2e-3, None) == pytest.approx(2.0)
    assert P.metric_value("latency_us", 2e-3, None) == pytest.approx(2000.0)
    assert P.metric_value("tflops", 1e-3, 2e12) == pytest.approx(2000.0)
    assert P.metric_value("tokens_per_s", 0.5, 8) == pytest.approx(16.0)
    assert P.work({"gemm": {"m": 2, "n": 3, "k": 4}}, "tflops", None) == 48
    assert P.work({"attention": {"batch": 1, "heads": 2, "seqlen": 8, "headdim": 4, "causal": True}}, "tflops", None) == \
        4 * 8 * 8 * 4 * 2 / 2
    gen = {"generate": {"config": "llama-2-7b", "batch": 4, "prompt": 10, "generate": 5}}
    assert [P.work(gen, "tokens_per_s", t) for t in ("output", "prompt", "total")] == [20, 40, 60]
    rows = P.measurements()
    # time metric: baseline / value (2:4 at 0.63 ms against 0.87 ms dense = 1.38x)
    assert P.measured_speedup(rows["sp24-tutorial-quickstart-a100"], {}, "latency_ms") == pytest.approx(0.87 / 0.63)
    # throughput metric: value / baseline
    assert P.measured_speedup(rows["f8-vllm17126-llama8b-6144x4096-bs64"], {}, "tflops") == \
        pytest.approx(396.96291 / 160.586644)
    assert P.measured_speedup(rows["i4-marlin-pr2497-bs1"], {"measured": "field"}, "latency_us") == 3.12
    assert P.measured_speedup(rows["d1-gptfast-a100-llama2-7b-int8"], {"measured": "row:d1-gptfast-a100-llama2-7b-bf16"},
                              "tokens_per_s") == pytest.approx(155.58 / 104.9)
    assert P.measured_speedup(rows["i4-marlin-readme-claim"], {}, "speedup") == 3.87
    # a speedup metric over two times of an unstated unit: baseline time / row time
    assert P.measured_speedup(rows["sp24-ao1460-bs1280"], {"measured": "times"}, "speedup") == pytest.approx(4.596 / 3.408)
    with pytest.raises(Exception, match="baseline.measured must be"):
        P.measured_speedup(rows["sp24-ao1460-bs1280"], {"measured": "guess"}, "speedup")
    assert P.rel_error(0.0, 0.0) == 0.0 and math.isinf(P.rel_error(1.0, 0.0))


def test_evaluate_row_with_a_stand_in_simulator(monkeypatch):
    """evaluate_row turns simulated seconds into the row's metric, error and speedup direction."""
    monkeypatch.setattr(P, "split_overrides", lambda arch, o: (dict(o), {}))
    times = {"2of4": 1.0e-3, "dense": 0.5e-3}
    monkeypatch.setattr(P, "simulate", lambda arch, sets, wl, recipe, att="fused": P.SimResult(times[recipe], f"k_{recipe}"))
    r = P.evaluate_row("sp24-cusparselt57-a100")  # 0.545792 ms 2:4 against 0.607959 ms dense
    assert r.mapped and r.predicted == pytest.approx(1.0) and r.unit == "ms"
    assert r.error == pytest.approx(1.0 / 0.545792 - 1)
    assert r.speedup_predicted == pytest.approx(0.5) and r.speedup_measured == pytest.approx(0.607959 / 0.545792)
    assert r.direction_ok is False and r.kernel == "k_2of4" and r.baseline_kernel == "k_dense"
    times["2of4"] = 0.25e-3
    assert P.evaluate_row("sp24-cusparselt57-a100").direction_ok is True
    u = P.evaluate_row("csr-sputnik-v100-crossover")
    assert not u.mapped and "Sputnik" in u.reason and u.error is None


def test_unknown_overrides_are_ignored_and_listed():
    known, ignored = P.split_overrides("a100-80gb", {"tdp_w": 330, "no_such_field": 1, "kernels_x.y": "z"})
    assert known == {"tdp_w": 330} and ignored == {"no_such_field": 1, "kernels_x.y": "z"}


def test_checks_are_reported_never_asserted(monkeypatch):
    rows = (_row("a", measured=1.0, predicted=3.0, sm=0.5, sp=2.0),
            P.RowResult(id="b", category="x", half="calibration", mapped=False, reason="why"))
    monkeypatch.setattr(P, "_all_results", lambda: rows)
    checks = P.checks()
    assert len(checks) == 2 and all(c.kind == "reported" and c.ok is None for c in checks)
    assert "direction WRONG" in checks[1].item
    text = "\n".join(P.validate_summary_lines())
    assert "NOT MET" in text and "b [calibration]: why" in text


def test_validate_gpu_prints_the_harness():
    from accelsim import validate

    assert validate.siblings("accelsim.hw.gpu.validation") == ["accelsim.hw.gpu.published", "accelsim.hw.gpu.measured"]
    assert validate.siblings("accelsim.compress.validation") == []
    assert validate._with_extras({"gpu": "accelsim.hw.gpu.validation", "zoo": "accelsim.workload.validation"}) == \
        ["accelsim.hw.gpu.validation", "accelsim.hw.gpu.published", "accelsim.hw.gpu.measured",
         "accelsim.workload.validation"]


# ---- a few rows against the current model -------------------------------------------------------------
@pytest.mark.parametrize("rid", ["dg-cusparselt57-a100-cutlass-4096", "sp24-cusparselt57-a100", "i4-ao1606-a100-4096x4096",
                                 "d1-gptfast-a100-llama2-7b-bf16", "at-fa2-a100-fwd-hd128-16k"])
def test_kernel_rows_simulate(rid):
    r = P.evaluate_row(rid)
    assert r.mapped, r.reason
    assert math.isfinite(r.predicted) and r.predicted > 0 and r.kernel


def test_every_untouched_miss_has_its_mechanism_written_down():
    """Issue 14's goal on the untouched half (median |error| <= 10 %) is met or each miss is explained by mechanism,
    not fitted away: every untouched row off by more than 10 % is named in docs/validation.md's list "Where the
    untouched half misses, and why". A change of the model that makes a new row miss fails here until its mechanism
    is found and written down (or the row comes back within 10 %)."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "validation.md").read_text()
    start = text.index("Where the untouched half misses, and why")
    listed = text[start:text.index("Sixth change (issue 14", start)]  # the list, not the changes after it
    missing = [f"{r.id} ({r.error:+.0%})" for r in P.evaluate(half="untouched")
               if r.mapped and abs(r.error) > 0.10 and f"`{r.id}`" not in listed]
    assert not missing, f"untouched rows off by more than 10 % with no mechanism in docs/validation.md: {missing}"
