"""Regenerate the SCALE-Sim 3.0.0 reference reports used by tests/test_systolic_scalesim.py.

Run with a Python that has ``scalesim==3.0.0`` installed (numpy < 2.4), e.g.::

    /work/ssvenv/bin/python tests/data/scalesim/make_reference.py

It writes the cfg and topology inputs under ``inputs/`` and, for every case, SCALE-Sim's
COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv under ``reports/<case>/``.
Traces are not written (``save_disk_space=True``); the reports are identical to a traced run.
accelsim never imports scalesim: the tests read only the committed CSVs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "inputs"
REPORTS = HERE / "reports"

# name, ifmap h, ifmap w, filter h, filter w, channels, filters, stride
CONV_SMALL = [
    ("basic", 8, 8, 3, 3, 4, 8, 1),
    ("odd_s2", 13, 11, 3, 3, 3, 5, 2),        # (H-FH) not divisible by stride: SCALE-Sim's extra row/col
    ("pw_wide", 7, 7, 1, 1, 16, 40, 1),       # 1x1, more filters than columns
    ("fc_as_conv", 1, 1, 1, 1, 100, 10, 1),   # fully connected layer as a 1x1 conv
    ("big_filter", 9, 9, 5, 5, 8, 3, 1),      # window (200) far larger than the array
    ("tiny", 3, 3, 3, 3, 1, 1, 1),
    ("medium", 16, 16, 3, 3, 16, 32, 1),
    ("alex_s4", 27, 27, 11, 11, 3, 8, 4),
]
# name, M, N, K
GEMM_SMALL = [
    ("g_20x12x30", 20, 12, 30),
    ("g_64x5x7", 64, 5, 7),
    ("g_3x70x17", 3, 70, 17),
]
# one ResNet-50-like layer on a 32x32 array (the "huge" end: ~1.6M-element operand matrices)
CONV_LARGE = [
    ("res_3x3_28", 30, 30, 3, 3, 128, 128, 1),
    ("res_1x1_14", 14, 14, 1, 1, 256, 1024, 1),
]


def cfg_text(run_name, rows, cols, df, kb, mode, bw=(10, 10, 10)):
    """A SCALE-Sim 3.0.0 .cfg; ``bw`` = (ifmap, filter, ofmap) DRAM words/cycle for USER mode."""
    ifmap_kb, filter_kb, ofmap_kb = kb
    ibw, fbw, obw = bw
    return f"""[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    {ifmap_kb}
FilterSramSzkB:   {filter_kb}
OfmapSramSzkB:    {ofmap_kb}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {obw}
Dataflow : {df}
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {ibw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {fbw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""


def cases():
    out = []
    for df in ("os", "ws", "is"):
        out.append((f"a8_{df}_calc", cfg_text(f"a8_{df}_calc", 8, 8, df, (64, 64, 64), "CALC"), "conv_small", False))
        out.append((f"a8_{df}_calc_gemm", cfg_text(f"a8_{df}_calc_gemm", 8, 8, df, (64, 64, 64), "CALC"), "gemm_small", True))
        out.append((f"a8_{df}_user_tiny", cfg_text(f"a8_{df}_user_tiny", 8, 8, df, (1, 1, 1), "USER", (4, 4, 4)), "conv_small", False))
        out.append((f"r4x12_{df}_user", cfg_text(f"r4x12_{df}_user", 4, 12, df, (2, 1, 1), "USER", (10, 6, 3)), "conv_small", False))
        out.append((f"r4x12_{df}_user_gemm", cfg_text(f"r4x12_{df}_user_gemm", 4, 12, df, (1, 2, 1), "USER", (5, 2, 8)), "gemm_small", True))
        out.append((f"r12x4_{df}_calc_small", cfg_text(f"r12x4_{df}_calc_small", 12, 4, df, (1, 1, 2), "CALC"), "conv_small", False))
    # arrays longer than an SRAM buffer half (512 words of 1 kB): a demand row does not fit one half
    out.append(("long_1x600_os_calc", cfg_text("long_1x600_os_calc", 1, 600, "os", (1, 1, 1), "CALC"), "conv_small", False))
    out.append(("long_600x4_ws_user", cfg_text("long_600x4_ws_user", 600, 4, "ws", (1, 1, 1), "USER", (2, 1, 3)),
                "conv_small", False))
    out.append(("long_4x520_is_user_gemm", cfg_text("long_4x520_is_user_gemm", 4, 520, "is", (1, 2, 1), "USER", (1, 4, 2)),
                "gemm_small", True))
    out.append(("long_700x700_is_calc", cfg_text("long_700x700_is_calc", 700, 700, "is", (1, 1, 2), "CALC"), "conv_small",
                False))
    out.append(("a32_os_calc_large", cfg_text("a32_os_calc_large", 32, 32, "os", (64, 64, 64), "CALC"), "conv_large", False))
    out.append(("a32_ws_user_large", cfg_text("a32_ws_user_large", 32, 32, "ws", (64, 64, 64), "USER", (10, 10, 10)), "conv_large", False))
    return out


def random_cases(seed: int = 2026, n: int = 16):
    """Seeded random small cases: any dataflow, CALC or USER, odd arrays, 1-5 kB SRAMs, conv or GEMM.

    Returns (name, cfg text, topology name, gemm) and writes each case's topology CSV.
    """
    import random

    rng = random.Random(seed)
    out = []
    for n_case in range(n):
        name = f"rnd_{n_case:02d}"
        df = rng.choice(["os", "ws", "is"])
        mode = rng.choice(["CALC", "USER"])
        rows, cols = rng.choice([2, 3, 4, 5, 7, 8, 16]), rng.choice([2, 3, 4, 6, 8, 9, 16])
        kb = tuple(rng.choice([1, 1, 2, 3, 5]) for _ in range(3))
        bw = tuple(rng.choice([1, 2, 3, 5, 8, 10, 16]) for _ in range(3))
        gemm = rng.random() < 0.3
        layers = []
        for i in range(3):
            if gemm:
                layers.append((f"g{i}", rng.randint(1, 40), rng.randint(1, 40), rng.randint(1, 60)))
            else:
                h, w = rng.randint(1, 14), rng.randint(1, 14)
                layers.append((f"l{i}", h, w, rng.randint(1, h), rng.randint(1, w), rng.randint(1, 8),
                               rng.randint(1, 20), rng.randint(1, 3)))
        header = "Layer, M, N, K,\n" if gemm else (
            "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n")
        INPUTS.mkdir(parents=True, exist_ok=True)
        (INPUTS / f"{name}_topo.csv").write_text(header + "".join(", ".join(str(v) for v in layer) + ",\n" for layer in layers))
        out.append((name, cfg_text(name, rows, cols, df, kb, mode, bw), f"{name}_topo", gemm))
    return out


def write_inputs():
    INPUTS.mkdir(parents=True, exist_ok=True)
    header = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    for name, layers in (("conv_small", CONV_SMALL), ("conv_large", CONV_LARGE)):
        rows = "".join(", ".join(str(v) for v in layer) + ",\n" for layer in layers)
        (INPUTS / f"{name}.csv").write_text(header + rows)
    rows = "".join(", ".join(str(v) for v in layer) + ",\n" for layer in GEMM_SMALL)
    (INPUTS / "gemm_small.csv").write_text("Layer, M, N, K,\n" + rows)
    # SCALE-Sim always opens a layout file; a header-only one is enough when custom layouts are off
    (INPUTS / "layout_none.csv").write_text("Layer name, layout factors (unused without custom layouts),\n")


def run_case(name, cfg, topo, gemm):
    from scalesim.scale_sim import scalesim

    cfg_path = INPUTS / f"{name}.cfg"
    cfg_path.write_text(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg_path),
                       topology=str(INPUTS / f"{topo}.csv"), layout=str(INPUTS / "layout_none.csv"),
                       input_type_gemm=gemm)
        with contextlib.redirect_stdout(io.StringIO()):
            sim.run_scale(top_path=tmp)
        dest = REPORTS / name
        dest.mkdir(parents=True, exist_ok=True)
        for rep in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
            shutil.copy(Path(tmp) / name / rep, dest / rep)
        (dest / "case.txt").write_text(f"cfg=inputs/{name}.cfg\ntopology=inputs/{topo}.csv\ngemm={gemm}\n")


TRACE_CASES = [  # (case, dataflow, mode, kB, bw): SRAM traces of the first two conv_small layers
    ("trace_os_user", "os", "USER", (1, 1, 1), (4, 4, 4)),
    ("trace_ws_calc", "ws", "CALC", (1, 1, 1), (10, 10, 10)),
    ("trace_is_user", "is", "USER", (1, 1, 1), (3, 5, 2)),
]


def run_traces():
    """SCALE-Sim's per-cycle SRAM and DRAM traces (traces on) for two small layers."""
    from scalesim.scale_sim import scalesim

    topo = INPUTS / "trace_layers.csv"
    header = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    topo.write_text(header + "".join(", ".join(str(v) for v in layer) + ",\n" for layer in CONV_SMALL[:2]))
    for name, df, mode, kb, bw in TRACE_CASES:
        cfg_path = INPUTS / f"{name}.cfg"
        cfg_path.write_text(cfg_text(name, 8, 8, df, kb, mode, bw))
        with tempfile.TemporaryDirectory() as tmp:
            sim = scalesim(save_disk_space=False, verbose=False, config=str(cfg_path), topology=str(topo),
                           layout=str(INPUTS / "layout_none.csv"), input_type_gemm=False)
            with contextlib.redirect_stdout(io.StringIO()):
                sim.run_scale(top_path=tmp)
            for layer in (0, 1):
                dest = HERE / "traces" / name / f"layer{layer}"
                dest.mkdir(parents=True, exist_ok=True)
                for tr in ("IFMAP_SRAM_TRACE.csv", "FILTER_SRAM_TRACE.csv", "OFMAP_SRAM_TRACE.csv",
                           "IFMAP_DRAM_TRACE.csv", "FILTER_DRAM_TRACE.csv", "OFMAP_DRAM_TRACE.csv"):
                    shutil.copy(Path(tmp) / name / f"layer{layer}" / tr, dest / tr)
        print(f"{name}: traces written", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="substring of the case names to run")
    ap.add_argument("--traces", action="store_true", help="only (re)generate the SRAM trace references")
    args = ap.parse_args(argv)
    write_inputs()
    if args.traces:
        run_traces()
        return 0
    for name, cfg, topo, gemm in cases() + random_cases():
        if args.only and args.only not in name:
            continue
        t0 = time.time()
        run_case(name, cfg, topo, gemm)
        print(f"{name}: {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
