"""Measure a Hugging Face decoder's prefill and decode steps on a real GPU and compare with accelsim.

The companion of ``gpu_measure.py`` for whole networks: a transformers model built from a config (random
bf16 weights on the GPU, nothing downloaded; default Llama-2-7B), run the way ``model.generate`` runs it
in eager PyTorch (SDPA attention, a dynamic KV cache, logits of the last position only), timed with CUDA
events:

  * ``prefill``: one forward pass over ``P`` prompt tokens at batch ``B`` (median of the timed passes);
  * ``decode``: one-token steps on a cache already holding ``C`` tokens, each step timed on its own and
    synchronised (the host needs the sampled token before the next step), median over the steps.

accelsim predicts each case with ``accelsim simulate --phase prefill|decode --attention fused --set
stack=pytorch-eager`` on the config matching the device.

    python benchmarks/gpu_measure_llm.py --measure-only --out llm_m.json     # on the GPU machine
    python benchmarks/gpu_measure_llm.py --predict llm_m.json --out llm.json # predictions added here

No GPU -> exit 3 with one line. The module imports without torch or transformers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "tests" / "data" / "hf" / "llama-2-7b.json"
# (phase, batch, tokens): prefill tokens = prompt length, decode tokens = KV-cache length
CASES = (("prefill", 1, 128), ("prefill", 1, 2048), ("prefill", 8, 512), ("decode", 1, 128), ("decode", 1, 2048),
         ("decode", 16, 512), ("decode", 64, 512))


def _events_time(fn) -> float:
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3


def build_model(config_path: Path):
    """A transformers causal LM of the config, random bf16 weights on ``cuda``, in eval mode."""
    import torch
    import transformers

    cfg_dict = json.loads(Path(config_path).read_text())
    cfg = transformers.AutoConfig.for_model(cfg_dict.pop("model_type"), **cfg_dict)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device("cuda"):
        torch.set_default_dtype(torch.bfloat16)
        try:
            model = transformers.AutoModelForCausalLM.from_config(cfg)
        finally:
            torch.set_default_dtype(torch.float32)
    return model.to(torch.bfloat16).eval(), cfg


def _static_cache(cfg, batch: int, length: int):
    """A transformers StaticCache of ``length`` tokens (its constructor changed across versions)."""
    import torch
    import transformers

    try:
        return transformers.StaticCache(config=cfg, max_cache_len=length)
    except TypeError:
        return transformers.StaticCache(config=cfg, max_batch_size=batch, max_cache_len=length, device="cuda",
                                        dtype=torch.bfloat16)


def measure(model, cfg, phase: str, batch: int, tokens: int, steps: int, profile: bool = False,
            cache_kind: str = "dynamic") -> dict:
    """Median seconds of a prefill pass or a decode step (and the spread of the timed runs)."""
    import torch
    from gpu_measure import profile_call

    vocab = cfg.vocab_size
    g = torch.Generator(device="cuda").manual_seed(batch * 100_003 + tokens)
    with torch.no_grad():
        if phase == "prefill":
            ids = torch.randint(0, vocab, (batch, tokens), device="cuda", generator=g)
            run = lambda: model(ids, use_cache=True, logits_to_keep=1)  # noqa: E731
            for _ in range(2):
                run()
            times = [_events_time(run) for _ in range(max(3, steps // 2))]
            prof = profile_call(run) if profile else None
        else:
            ids = torch.randint(0, vocab, (batch, tokens), device="cuda", generator=g)
            if cache_kind == "static":
                cache = _static_cache(cfg, batch, tokens + steps + 8)
                model(ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
            else:
                cache = model(ids, use_cache=True, logits_to_keep=1).past_key_values
            times = []
            for i in range(steps + 3):
                tok = torch.randint(0, vocab, (batch, 1), device="cuda", generator=g)
                box = {}

                def step():
                    box["out"] = model(tok, past_key_values=cache, use_cache=True)
                t = _events_time(step)
                cache = box["out"].past_key_values if cache_kind == "dynamic" else cache
                if i >= 3:  # the first steps warm the allocator
                    times.append(t)
            prof = None
            if profile:
                tok = torch.randint(0, vocab, (batch, 1), device="cuda", generator=g)
                # two steps (profile_call runs one unprofiled first); the cache grows by two tokens
                prof = profile_call(lambda: model(tok, past_key_values=cache, use_cache=True))
            del cache
    torch.cuda.empty_cache()
    out = {"measured_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(times)}
    if prof:
        out["profile"] = prof
    return out


def predict(arch: str, config: str, phase: str, batch: int, tokens: int, launch: str = "auto",
            stack: str = "pytorch-eager", kv_cache: str = "auto", attention: str = "auto") -> tuple[float, dict]:
    """accelsim's predicted seconds of one case (and a few of its totals), through the CLI; ``launch``:
    ``auto`` (the stack's eager launch) or ``cuda-graph`` (the GPU's time alone); ``stack``, ``kv_cache``
    (``kernels.kv_cache``: ``inplace`` for a StaticCache) and ``attention`` (``kernels.attention``) as
    accelsim's settings."""
    args = [sys.executable, "-m", "accelsim", "simulate", "--arch", arch, "--workload", config, "--phase", phase,
            "--batch", str(batch), "--attention", "fused", "--set", f"stack={stack}", "--set", f"launch={launch}",
            "--set", f"kernels.kv_cache={kv_cache}", "--set", f"kernels.attention={attention}", "--format", "json"]
    args += ["--prompt", str(tokens)] if phase == "prefill" else ["--context", str(tokens)]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}")
    total = json.loads(proc.stdout)["total"]
    kernels = sum(int((layer.get("extra") or {}).get("kernels") or 0) for layer in json.loads(proc.stdout)["layers"])
    return total["latency_s"], {"dram_bytes": total["dram_read_bytes"] + total["dram_write_bytes"], "kernels": kernels}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="Hugging Face config.json (default Llama-2-7B)")
    p.add_argument("--out", default="gpu_measure_llm.json")
    p.add_argument("--arch", help="accelsim config to predict with (default: from the device name)")
    p.add_argument("--steps", type=int, default=12, help="timed decode steps per case")
    p.add_argument("--measure-only", action="store_true")
    p.add_argument("--profile", action="store_true", help="also profile one pass per case (kernels, GPU busy time)")
    p.add_argument("--cases", help="comma-separated phase:batch:tokens (default: the built-in list)")
    p.add_argument("--cache", choices=("dynamic", "static"), default="dynamic", help="transformers KV cache class")
    p.add_argument("--no-cudnn-sdpa", action="store_true", help="keep SDPA off cuDNN's attention backend")
    p.add_argument("--predict", metavar="MEASURED_JSON", help="add predictions to a --measure-only file")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_measure import cuda_missing, environment, pick_arch

    if args.predict:
        try:
            doc = json.loads(Path(args.predict).read_text())
            rows = doc["rows"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            sys.stderr.write(f"gpu_measure_llm: {args.predict}: not a measured file ({type(exc).__name__})\n")
            return 2
        doc["arch"] = args.arch or pick_arch(doc.get("device", ""))
        config = str(REPO / doc["config"]) if not Path(doc["config"]).is_absolute() else doc["config"]
        for row in rows:
            try:
                row["predicted_s"], row["predicted"] = predict(doc["arch"], config, row["phase"], row["batch"],
                                                               row["tokens"])
                row["pred_over_meas"] = row["predicted_s"] / row["measured_s"] if row.get("measured_s") else None
                row["predicted_graph_s"], _ = predict(doc["arch"], config, row["phase"], row["batch"], row["tokens"],
                                                      launch="cuda-graph")
                busy = (row.get("profile") or {}).get("gpu_busy_s")
                row["graph_pred_over_gpu_busy"] = row["predicted_graph_s"] / busy if busy else None
            except RuntimeError as exc:
                row["predicted_s"], row["note"] = None, str(exc)
            print(json.dumps(row), flush=True)
        Path(args.out).write_text(json.dumps(doc, indent=1))
        return 0
    try:
        cases = [(c.split(":")[0], int(c.split(":")[1]), int(c.split(":")[2])) for c in args.cases.split(",")] \
            if args.cases else list(CASES)
        if any(phase not in ("prefill", "decode") or batch < 1 or tokens < 1 for phase, batch, tokens in cases):
            raise ValueError
    except (IndexError, ValueError):
        sys.stderr.write(f"gpu_measure_llm: --cases: expected prefill|decode:batch:tokens,...; got {args.cases!r}\n")
        return 2
    missing = cuda_missing()
    if missing:
        sys.stderr.write(f"gpu_measure_llm: {missing}\n")
        return 3
    import torch
    if args.no_cudnn_sdpa:
        torch.backends.cuda.enable_cudnn_sdp(False)
    env = environment()
    model, cfg = build_model(Path(args.config))
    try:
        import transformers
        env["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover - build_model needed it
        pass
    config = Path(args.config).resolve()
    doc = {"device": env["device"], "environment": env, "stack": "pytorch-eager (transformers eager, sdpa)",
           "cache": args.cache, "cudnn_sdpa": not args.no_cudnn_sdpa,
           "config": str(config.relative_to(REPO)) if config.is_relative_to(REPO) else str(config), "rows": []}
    for phase, batch, tokens in cases:
        row = {"phase": phase, "batch": batch, "tokens": tokens}
        try:
            row.update(measure(model, cfg, phase, batch, tokens, args.steps, args.profile, args.cache))
        except Exception as exc:  # out of memory, an API change of transformers
            row["note"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
            torch.cuda.empty_cache()
        doc["rows"].append(row)
        print(json.dumps(row), flush=True)
        Path(args.out).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
