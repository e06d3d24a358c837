"""The GPU model against kernels timed on a real GPU (``benchmarks/gpu_measure.py``): predict, compare.

Package data (this folder, so an installed package needs nothing from ``tests/``): one JSON file per
measuring session (``h200-2026-12-04.json``: an NVIDIA H200), a byte-identical copy of
``tests/data/gpu_measured/`` (``tests/test_gpu_measured.py`` checks they stay identical). Each file holds
the environment, the ``kernels`` grid, a held-out ``kernels_wide`` grid and whole-network LLM runs.

Per kernel row (:func:`predict`): accelsim's seconds under the ``pytorch-eager`` stack with its eager
launch (against ``measured_s``: calls back to back, host dispatch included) and with
``launch=cuda-graph`` (against ``measured_graph_s``: the calls replayed from a CUDA graph, the GPU
alone). ``accelsim validate --only gpu`` reports every row (reported, never asserted here: the bands
are asserted by the tests), every speedup direction against the dense GEMM of the same shape (pass /
fail) and, after the table, the per-family median and worst error (:func:`validate_summary_lines`).
docs/validation.md, section "Measured on an NVIDIA H200", holds the tables.
"""

from __future__ import annotations

import json
import statistics
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
AREA = "gpu"
#: case kinds of ``benchmarks/gpu_measure.py`` and the dense dtype a kind's speedup is taken against
SPEEDUP_BASE = {"semi24": "fp16", "int4": "bf16", "fp8": "bf16"}
#: CUDA device-name substrings -> the bundled config a measurement is predicted with (first match wins)
ARCH_BY_NAME = (("h100", "h100-sxm"), ("h800", "h100-sxm"), ("h200", "h200"), ("b200", "b200"), ("a100", "a100-80gb"),
                ("a10g", "a10"), ("a10", "a10"), ("l40s", "l40s"), ("l4", "l4"), ("4090", "rtx4090"), ("v100", "v100"),
                ("mi300x", "mi300x"), ("orin", "jetson-agx-orin"), ("titan x", "titan-x-maxwell"))
FAMILIES = (("dense", "bf16"), ("dense", "fp16"), ("dense", "fp32"), ("csr", "fp32"), ("semi24", "fp16"),
            ("int4", "bf16"), ("fp8", "fp8"), ("sdpa_flash", "bf16"), ("sdpa_math", "bf16"))


def case_layer(kind: str, m: int, n: int, k: int, dtype: str, param: float, seed: int = 0):
    """The accelsim CompressedLayer of one measured case: ``m`` tokens, ``n`` outputs, ``k`` inputs
    (attention: ``m`` queries, ``n`` keys, ``k`` head dim, ``param`` heads; ``param``: density for
    ``csr``, group size for ``int4``)."""
    import numpy as np
    import scipy.sparse as sp

    from accelsim.compress.compressed import CompressedLayer
    from accelsim.compress.formats import ActivationFormat
    from accelsim.workload.layers import Attention, Linear

    if kind.startswith("sdpa"):
        heads = int(param)
        layer = Attention(name=kind, input_shapes=((m, heads * k), (n, heads * k), (n, heads * k)), heads=heads,
                          kv_heads=heads)
        return CompressedLayer(layer=layer)
    fc = Linear(name=kind, input_shapes=((k,),) if m == 1 else ((m, k),), out_features=n)
    if kind == "csr":
        w = sp.random(n, k, density=param, format="csr", random_state=seed, dtype=np.float32)
        return CompressedLayer(layer=fc, weight=w, weight_bits=32, activation_bits=32, transforms=("prune",))
    if kind == "semi24":
        return CompressedLayer(layer=fc, nm=(2, 4), transforms=("nm",), activation_bits=16)
    if kind == "int4":
        return CompressedLayer(layer=fc, weight_bits=4, activation_bits=16, transforms=("quantize",))
    if kind == "fp8":
        return CompressedLayer(layer=fc, weight_bits=8, activation_bits=8, activation_format=ActivationFormat("e4m3"))
    return CompressedLayer(layer=fc, activation_bits={"fp32": 32, "fp16": 16, "bf16": 16}[dtype])


def predict(arch: str, kind: str, m: int, n: int, k: int, dtype: str, param: float = 1.0, seed: int = 0,
            launch: str = "auto", how: str = "") -> tuple[float, str]:
    """accelsim's seconds and kernel for one case under the ``pytorch-eager`` stack (``launch``: ``auto``
    = the stack's eager launch, ``cuda-graph`` = the GPU alone). ``how``: what the measurement called;
    an ``aten.`` op called directly has no tensor-subclass dispatch."""
    from accelsim.hw.registry import build_model, load_arch

    overrides = {"stack": "pytorch-eager", "launch": launch}
    if how.startswith("aten."):
        overrides["subclass_host_us"] = 0.0
    if kind == "sdpa_math":
        overrides["kernels.attention"] = "sdpa-math"
    if kind == "dense" and dtype in ("fp16", "fp32"):
        overrides["native_dtype"] = dtype
    r = build_model(load_arch(arch, overrides)).simulate(case_layer(kind, m, n, k, dtype, param, seed), 1)
    return r.latency_s, r.extra["kernel"]


def sessions() -> list[Path]:
    """The measured files bundled, oldest first."""
    return sorted(DATA_DIR.glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def pick_arch(device_name: str) -> str:
    """The bundled accelsim config for a CUDA device name (H100 when unknown)."""
    name = device_name.lower()
    return next((arch for key, arch in ARCH_BY_NAME if key in name), "h100-sxm")


def device_of(doc: dict, default: str = "") -> str:
    """The measured device's name in a measured file."""
    return doc.get("environment", {}).get("device", doc.get("device", default))


@lru_cache(maxsize=None)
def evaluate(path: str, grid: str = "kernels") -> tuple[dict, ...]:
    """Every row of one file's ``grid`` with ``pred`` (eager) and ``pred_graph`` seconds and the kernel."""
    doc = load(Path(path))
    arch = pick_arch(device_of(doc))
    out = []
    for r in doc.get(grid, []):
        case = (r["kind"], r["m"], r["n"], r["k"], r["dtype"], r["param"])
        eager, kernel = predict(arch, *case, how=r.get("how") or "")
        graph, _ = predict(arch, *case, launch="cuda-graph", how=r.get("how") or "")
        out.append({**r, "pred": eager, "pred_graph": graph, "kernel": kernel, "arch": arch})
    return tuple(out)


def speedups(rows, kind: str, graph: bool = True) -> list[tuple[tuple[int, int, int], float, float]]:
    """``(shape, measured, predicted)`` speedups of ``kind`` over the dense GEMM of the same shape."""
    key, pkey = ("measured_graph_s", "pred_graph") if graph else ("measured_s", "pred")
    dense = {(r["m"], r["n"], r["k"]): r for r in rows if r["kind"] == "dense" and r["dtype"] == SPEEDUP_BASE[kind]}
    return [((r["m"], r["n"], r["k"]), dense[(r["m"], r["n"], r["k"])][key] / r[key],
             dense[(r["m"], r["n"], r["k"])][pkey] / r[pkey])
            for r in rows if r["kind"] == kind and (r["m"], r["n"], r["k"]) in dense and r.get(key)]


def family_lines(rows) -> list[str]:
    """Per kernel family: rows, and the median / worst absolute error with and without CUDA graphs."""
    lines = []
    for kind, dtype in FAMILIES:
        sel = [r for r in rows if r["kind"] == kind and r["dtype"] == dtype]
        if not sel:
            continue
        graph = [abs(r["pred_graph"] / r["measured_graph_s"] - 1) for r in sel if r.get("measured_graph_s")]
        eager = [abs(r["pred"] / r["measured_s"] - 1) for r in sel]
        g = f"{statistics.median(graph):.0%} / {max(graph):.0%}" if graph else "-"
        lines.append(f"  {kind:10s} {dtype:4s} {len(sel):3d} rows  CUDA graph median / worst {g:>11s}  "
                     f"eager {statistics.median(eager):.0%} / {max(eager):.0%}")
    return lines


def checks(quick: bool = False) -> list:
    """Every measured kernel row as a reported check (CUDA-graph time, the GPU alone), and every speedup
    direction against dense under CUDA graphs as a pass / fail check. ``quick``: the main grid only."""
    from accelsim.checks import Check

    out = []
    for path in sessions():
        doc = load(path)
        device = device_of(doc, path.stem)
        for grid in ("kernels",) if quick else ("kernels", "kernels_wide"):
            rows = evaluate(str(path), grid)
            for r in rows:
                if r.get("measured_graph_s"):
                    out.append(Check(AREA, f"measured {device} [{grid}] {r['kind']} {r['dtype']} "
                                           f"{r['m']}x{r['n']}x{r['k']} CUDA graph", r["measured_graph_s"] * 1e6,
                                     r["pred_graph"] * 1e6, "us", None, f"{path.name}: {doc.get('source', '')[:80]}"))
            for kind in SPEEDUP_BASE:
                for shape, measured, predicted in speedups(rows, kind):
                    if abs(measured - 1.0) < 0.05:  # a tie on the device: no direction to get right
                        continue
                    out.append(Check(AREA, f"measured {device} [{grid}] {kind} vs dense {'x'.join(map(str, shape))} "
                                           "speedup direction", measured, predicted, "x",
                                     ok_override=(measured > 1.0) == (predicted > 1.0), source=path.name))
    return out


def validate_summary_lines(quick: bool = False) -> list[str]:
    """Per bundled measuring session and grid: the per-family error table."""
    lines = []
    for path in sessions():
        doc = load(path)
        for grid in ("kernels",) if quick else ("kernels", "kernels_wide"):
            rows = evaluate(str(path), grid)
            if rows:
                lines.append(f"GPU measured on {device_of(doc, path.stem)} ({path.name}, {grid}, "
                             f"predicted with {rows[0]['arch']}):")
                lines.extend(family_lines(rows))
    return lines
