"""Issue 13 item 5 scale goals: Llama-2-7B (Hugging Face config) with ``w4a16-g128`` on a GPU arch, each case a
cold process (imports included), wall time and peak RSS measured from the parent.

Cases:

* ``stub`` - the previous way: the zoo's one Llama-2-7B decoder block (``llama2-7b-decoder``, batch-1 decode
  at context 2048) compressed for real (202M synthesized weights) and simulated; its latency x 32 stands for
  the model (no embedding / lm_head);
* ``decode`` - the whole model from its config: ``accelsim simulate --workload llama-2-7b.json --recipe
  w4a16-g128 --phase decode --context 2048 --arch a100-80gb`` (the statistics path: formats from shapes);
  goal < 10 s and < 2 GB;
* ``generate`` - ``--phase generate --prompt 512 --generate 512`` (one prefill + 512 decode steps, midpoint
  rule over 8 runs); goal < 30 s.

Printed: seconds, peak RSS (MB, ``resource.getrusage(RUSAGE_CHILDREN)`` of a per-case wrapper process, so each
case's own peak) and their ratios against the stub, plus the simulated latencies. ``--skip-stub`` leaves
the (slow, memory-hungry) stub out. Run: ``python benchmarks/bench_llm_scale.py [--arch a100-80gb] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LLAMA = ROOT / "tests" / "data" / "hf" / "llama-2-7b.json"
GOALS = {"decode": (10.0, 2e9), "generate": (30.0, 2e9)}


def _case_args(case: str, arch: str) -> list[str]:
    if case == "stub":
        return ["simulate", "--arch", arch, "--workload", "llama2-7b-decoder", "--recipe", "w4a16-g128", "--format", "json"]
    common = ["simulate", "--arch", arch, "--workload", str(LLAMA), "--recipe", "w4a16-g128", "--format", "json"]
    if case == "decode":
        return common + ["--phase", "decode", "--context", "2048"]
    return common + ["--phase", "generate", "--prompt", "512", "--generate", "512"]


def measure(case: str, arch: str) -> dict:
    """Run one case in a fresh interpreter (``python -m accelsim ...``); wall seconds, own peak RSS, total."""
    cmd = [sys.executable, "-m", "accelsim", *_case_args(case, arch)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: kB
    if proc.returncode != 0:
        return {"case": case, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    total = json.loads(proc.stdout)["total"]
    return {"case": case, "seconds": wall, "peak_rss_bytes": rss, "latency_s": total["latency_s"],
            "speedup_vs_dense": total.get("speedup_vs_dense"), "ttft_s": total.get("ttft_s"),
            "tpot_s": total.get("tpot_s"), "tokens_per_s": total.get("tokens_per_s")}


def _run_isolated(case: str, arch: str) -> dict:
    """:func:`measure` in a wrapper process, so RUSAGE_CHILDREN holds only this case's peak."""
    out = subprocess.run([sys.executable, __file__, "--measure", case, "--arch", arch], capture_output=True, text=True,
                         cwd=ROOT)
    if out.returncode != 0:
        return {"case": case, "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="a100-80gb")
    ap.add_argument("--skip-stub", action="store_true", help="leave out the zoo-block stub (slow, ~GBs)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.arch)))
        return 0
    cases = ["decode", "generate"] + ([] if args.skip_stub else ["stub"])
    rows = {c: _run_isolated(c, args.arch) for c in cases}
    stub = rows.get("stub", {})
    if "latency_s" in stub:
        stub["latency_x32_s"] = stub["latency_s"] * 32
    ok = True
    for case in ("decode", "generate"):
        r = rows[case]
        if "error" in r:
            ok = False
            continue
        wall_goal, rss_goal = GOALS[case]
        r["meets_goal"] = r["seconds"] < wall_goal and r["peak_rss_bytes"] < rss_goal
        ok &= r["meets_goal"]
        if "seconds" in stub:
            r["seconds_vs_stub"] = r["seconds"] / stub["seconds"]
            r["rss_vs_stub"] = r["peak_rss_bytes"] / stub["peak_rss_bytes"]
        if case == "decode" and "latency_x32_s" in stub:
            r["latency_vs_stub_x32"] = r["latency_s"] / stub["latency_x32_s"]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0 if ok else 1
    print(f"Llama-2-7B w4a16-g128 on {args.arch}, cold processes (goal: decode < 10 s / 2 GB, generate 512+512 < 30 s)")
    for case in cases:
        r = rows[case]
        if "error" in r:
            print(f"  {case:9s} error: {r['error']}")
            continue
        line = f"  {case:9s} {r['seconds']:7.2f} s  {r['peak_rss_bytes'] / 1e6:8.0f} MB  latency {r['latency_s'] * 1e3:9.3f} ms"
        if case == "stub":
            line += f"  (x32: {r['latency_x32_s'] * 1e3:.3f} ms)"
        if "seconds_vs_stub" in r:
            line += f"  time {r['seconds_vs_stub']:.3f}x stub, RSS {r['rss_vs_stub']:.3f}x stub"
        if "latency_vs_stub_x32" in r:
            line += f", model latency {r['latency_vs_stub_x32']:.3f}x stub x32"
        if r.get("ttft_s") is not None:
            line += f"  ttft {r['ttft_s'] * 1e3:.2f} ms, tpot {r['tpot_s'] * 1e3:.3f} ms, {r['tokens_per_s']:.1f} tok/s"
        if "meets_goal" in r:
            line += "  [goal met]" if r["meets_goal"] else "  [GOAL MISSED]"
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
