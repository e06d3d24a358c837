"""Validation of the NPU family against published measurements; backs ``accelsim validate --only npu``.

Three sources (docs/validation.md, NPU section, has the tables):

* **TPU v4 per-operator times** (1,580 XLA fusions measured on a TPU v4 by the SCALE-Sim TPU authors,
  :mod:`accelsim.hw.npu.tpu_v4_measured`): GEMMs of every shape from 32^3 to 4096^3 and element-wise
  mul / sub / div, all of ``float16`` operands. Halves (issue 15: calibrate on one half, report the
  other untouched) are fixed by the shapes alone (:func:`tpu_points`: a checkerboard over each set's
  dimension values), chosen before any error was computed. Three constants were fitted on the
  calibration half only (:func:`fit_calibration`, docs/models/npu.md section 9): the per-fusion
  overhead ``vector.op_overhead_cycles`` and the achievable MXU fraction ``matrix.efficiency`` of
  ``tpu-v4`` (device-wide: written into ``arch_configs/npu/tpu-v4.yaml``) and the lane-ops of one
  float16 conversion (:data:`F16_CONVERT_OPS`: a property of these float16 programs, used only
  here). The held-out half's errors are asserted against the 15 % goal.
* **Coral Edge TPU whole networks** (12 points: six zoo networks x two hosts, Coral's benchmark
  table): halves fixed by a rule on parameter bytes (:func:`edge_halves`), two constants per config
  fitted on the calibration half (:func:`edge_fit`: the per-inference overhead and the host link's
  efficiency), the held-out half asserted against 15 %. The compiler's own parameter plans of two of them
  (Coral's compiled models, :data:`EDGE_COMPILED`) are compared with the model's (reported).
* **Gemmini on an FPGA under Linux** (three points, ``reported`` only): the measured system adds
  RoCC command issue, Linux and the FPGA's DRAM, so nothing is fitted on them.

Gemmini reference: the ``resnet50-linux`` and ``mobilenet-linux`` programs of gemmini-rocc-tests
(``imagenet/resnet50.c``: four images, expected predictions 75, 900, 641, 897) run on a
Gemmini + Rocket SoC on a Digilent Nexys Video FPGA under Linux, console output published by
Luffca (luffca.com/2022/06/dnn-accelerator-gemmini-part2, 2022). Cycle counts are Rocket
``rdcycle`` deltas, so they include RoCC command issue, Linux and the FPGA's DRAM as seen at the
SoC clock; the Gemmini configuration of that build is not published (assumed: default 16x16).
Their halves: ResNet-50 calibration, MobileNet-v2 held-out (both untouched: nothing fitted).

No TPU v5e measurement was found in a form that can be checked against the modelled conditions
(the MLPerf Inference v3.1 GPT-J result on 4 v5e chips uses beam search 4, int8 weights and
4-way tensor parallelism over a data set of variable lengths; docs/validation.md).
"""

from __future__ import annotations

import functools
import math

from accelsim.checks import Check
from accelsim.hw.npu import tpu_v4_measured as MEASURED

AREA = "npu"
ARCH = "gemmini-edge"
SOURCE = ("gemmini-rocc-tests resnet50-linux / mobilenet-linux on a Gemmini+Rocket FPGA SoC, "
          "console output in Luffca, 'Running ResNet-50 on FPGA with Gemmini SoC' (2022)")
BATCH = 4  # the programs classify four images (four predictions printed; resnet50.c correct[] has four)

# Total cycles and per-class cycles printed by the programs (batch of four images).
RESNET50_TOTAL_CYCLES = 1_358_733_049
RESNET50_RES_ADD_CYCLES = 32_258_198
RESNET50_OTHER_CYCLES = 197_878
MOBILENET_TOTAL_CYCLES = 1_045_338_662

# calibration half / held-out half (module docstring)
HALF = {"resnet50": "calibration", "mobilenet-v2": "held-out"}

# non-GEMM layer types that Gemmini's int8 networks fold into the convolutions (batch norm folded
# into weights and bias, ReLU on the accumulator read-out): excluded from the comparable share
FOLDED_OPS = ("batchnorm", "activation")


@functools.lru_cache(maxsize=4)
def _layers(workload: str, batch: int):
    """Per-layer results of the dense ``workload`` on ``gemmini-edge`` at ``batch``."""
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.hw.registry import build_model, load_arch
    from accelsim.workload.zoo import load_workload

    model = build_model(load_arch(ARCH))
    return tuple(model.simulate(cl, batch) for cl in CompressedGraph.dense(load_workload(workload)))


def non_gemm_share(results, exclude=()) -> float:
    """Fraction of cycles (0..1) spent in layers off the matrix unit, leaving out ``exclude`` op types."""
    kept = [r for r in results if r.op not in exclude]
    total = sum(r.cycles for r in kept)
    off = sum(r.cycles for r in kept if not r.extra.get("on_matrix_unit"))
    return off / total if total else 0.0


# --- TPU v4 per-operator times (SCALE-Sim TPU artifact, tpu_v4_measured.py) ----------------------------
TPU_ARCH = "tpu-v4"
#: lane-ops of one float16 <-> float32 / bfloat16 conversion on the TPU v4 vector unit, calibrated on the
#: calibration half (docs/models/npu.md §9): float16 is not a TPU number format ("FP16 is only for XLA GPU.
#: Like BF16 is only for XLA TPU", pytorch/xla PR 1937, 2020), so XLA converts every float16 operand and
#: result with integer lane-ops inside the fusion. A property of the float16 harness, not of the chip's
#: bfloat16 path: it is applied here only, never in arch_configs.
F16_CONVERT_OPS = 18.0
#: whether the float16 conversions overlap the fusion's DMA and units (the larger of the two per fusion) or follow
#: the layer (their sum, kept). The overlapped form, refitted on the same calibration half (:data:`F16_OVERLAP_FIT`),
#: fits it worse (loss 0.104 against 0.066) and every held-out set and the normalisation programs with it
#: (docs/models/npu.md §9): it is kept as the tested alternative, not used.
F16_OVERLAP = False
#: ``(op_overhead_cycles, matrix.efficiency, f16 convert lane-ops)`` fitted with ``overlap=True`` by
#: :func:`fit_calibration` (three starts: 437.6 / 437.9 cycles, 0.516 / 0.515, 31.50 / 31.53 lane-ops)
F16_OVERLAP_FIT = (438, 0.515, 31.5)
#: the calibrated device-wide constants (docs/models/npu.md §9), as written in arch_configs/npu/tpu-v4.yaml
CALIBRATED = {"vector.op_overhead_cycles": 420, "matrix.efficiency": 0.65}
TOLERANCE = 0.15  # issue 15: within 15 %
TPU_SOURCE = MEASURED.SOURCE


def _index_parity(values) -> dict:
    return {v: i for i, v in enumerate(sorted(set(values)))}


def tpu_points() -> list[dict]:
    """Every TPU v4 measurement as ``{set, kind, shape, us, half}``. The halves are fixed by the
    shapes alone (a checkerboard): a point of a GEMM or element-wise set is in the calibration half
    when the sum of the indices of its dimensions among the distinct values its set uses is even,
    else in the held-out half; so both halves span every size of every set, and no error was looked
    at to choose them. The activation sets (relu, sigmoid, tanh) are held out whole: added after the
    calibration, as op classes (transcendentals) it never saw."""
    out = []
    for name in MEASURED.GEMM_SETS:
        rows = MEASURED.gemm_rows(name)
        idx = _index_parity([d for m, n, k, _ in rows for d in (m, n, k)])
        for m, n, k, us in rows:
            half = "calibration" if (idx[m] + idx[n] + idx[k]) % 2 == 0 else "held-out"
            out.append({"set": name, "kind": "gemm", "shape": (m, n, k), "us": us, "half": half})
    rows = MEASURED.eltwise_rows()
    for rank in (1, 2):
        sub = [r for r in rows if len(r[1]) == rank]
        idx = _index_parity([d for _, shape, _ in sub for d in shape])
        for op, shape, us in sub:
            half = "calibration" if sum(idx[d] for d in shape) % 2 == 0 else "held-out"
            out.append({"set": f"eltwise-{rank}d", "kind": op, "shape": shape, "us": us, "half": half})
    for op, shape, us in MEASURED.eltwise_rows(MEASURED.ACTIVATIONS):   # never calibrated on: all held out
        out.append({"set": f"activation-{len(shape)}d", "kind": op, "shape": shape, "us": us, "half": "held-out"})
    return out


#: the normalisation-program sets (whole jitted programs of several fusions, tpu_v4_measured.NORM_PROGRAMS):
#: compared, never calibrated on (not in :func:`tpu_points`, so the fit above never sees them)
PROGRAM_SETS = ("layernorm-program", "rmsnorm-program")


#: why the held-out normalisation programs miss 15 % (docs/validation.md, NPU section)
PROGRAM_MISS = ("the float16 harness adds its conversions after the layer (not overlapped with the DMA, as for the "
                "single fusions it was calibrated on): programs streaming 8-17 MB per pass are over-predicted by "
                "up to +42%, the smallest under-predicted by up to -21%; split reductions took them from -53% / -31% "
                "(summed) to +21% / +23%. Overlapping the conversions with the DMA instead (F16_OVERLAP, refitted on "
                "the single-fusion calibration half) fits the single fusions worse and leaves the programs at "
                "+26% / +22%")


def program_points() -> list[dict]:
    """Every measured normalisation program as ``{set, kind, shape, us, half}``. Halves by the same
    checkerboard as :func:`tpu_points` over each op's (N, L, H) index values, fixed by the shapes
    alone; nothing is fitted on either half (docs/models/npu.md §9)."""
    out = []
    rows = MEASURED.norm_program_rows()
    for op in ("layernorm", "rmsnorm"):
        sub = [r for r in rows if r[0] == op]
        idx = [_index_parity([r[1][i] for r in sub]) for i in range(3)]
        for _, shape, us in sub:
            half = "calibration" if sum(idx[i][d] for i, d in enumerate(shape)) % 2 == 0 else "held-out"
            out.append({"set": f"{op}-program", "kind": op, "shape": shape, "us": us, "half": half})
    return out


def tpu_model(overrides: dict | None = None):
    """The ``tpu-v4`` model, with ``overrides`` (dotted config keys) when fitting."""
    from accelsim.hw.registry import build_model, load_arch

    return build_model(load_arch(TPU_ARCH, overrides or None))


@functools.lru_cache(maxsize=8)
def _standalone(model):
    """``model`` with no op fused into its producer (``fusion.fused_ops`` empty), for standalone fusions."""
    from dataclasses import replace

    from accelsim.hw.registry import build_model

    cfg = model.config
    return build_model(replace(cfg, fusion=replace(cfg.fusion, fused_ops=[])))


def predict_us(model, point: dict, f16_convert_ops: float = F16_CONVERT_OPS, overlap: bool | None = None) -> float:
    """Model time (us) of one measured float16 XLA fusion on ``model`` (docs/models/npu.md §9): the layer
    (a linear whose weight is the K x N operand, or an element-wise op of two tensors) plus, on the
    vector unit and not overlapped, the float16 conversions of its operands and result."""
    from accelsim.compress.compressed import CompressedLayer
    from accelsim.hw.npu.vector import VectorWork
    from accelsim.workload.layers import Activation, Eltwise, LayerNorm, Linear

    if point["set"] in PROGRAM_SETS:
        # a whole normalisation program: the layer (split into its fusions by fusion.split_reductions,
        # §4.2) plus the float16 conversion of the input by every fusion that streams it
        model = _standalone(model)
        layer = LayerNorm(name="norm", input_shapes=(point["shape"],), rms=point["kind"] == "rmsnorm")
        result = model.simulate(CompressedLayer.dense(layer), 1)
        streams = 1 + (int(result.extra.get("fusions", 1)) - 1) // 2
        cycles, _ = model._vector_cycles(VectorWork(ops={"convert": streams * math.prod(point["shape"]) * f16_convert_ops}), 32)
        return _with_conversions(model, result, cycles, int(result.extra.get("fusions", 1)), overlap)
    if point["kind"] == "gemm":
        m, n, k = point["shape"]
        layer = Linear(name="gemm", input_shapes=((m, k),), out_features=n, bias=False)
        converted = m * k + k * n + m * n
    elif point["set"].startswith("activation"):
        # a standalone activation is its own fusion: it reads and writes HBM (not fused into a producer)
        model = _standalone(model)
        layer = Activation(name="activation", input_shapes=(point["shape"],), func=point["kind"])
        converted = 2 * math.prod(point["shape"])
    else:
        shape = point["shape"]
        layer = Eltwise(name="eltwise", input_shapes=(shape, shape), func=point["kind"])
        converted = 3 * math.prod(shape)
    result = model.simulate(CompressedLayer.dense(layer), 1)
    cycles, _ = model._vector_cycles(VectorWork(ops={"convert": converted * f16_convert_ops}), 32)
    return _with_conversions(model, result, cycles, 1, overlap)


def _with_conversions(model, result, convert_cycles: float, fusions: int, overlap: bool | None) -> float:
    """Time (us) of a measured fusion (or program of ``fusions`` fusions) from the model's layer result and
    the cycles of its float16 conversions: in series (``overlap`` False: the layer, then the conversions) or
    overlapped with the layer's DMA and units (True: the larger of the layer and the conversions plus the
    fusions' fixed overheads)."""
    if overlap is None:
        overlap = F16_OVERLAP
    layer_us = result.latency_s * 1e6
    conv_us = convert_cycles / model.clock_hz * 1e6
    if not overlap:
        return layer_us + conv_us
    o_us = fusions * model.config.vector.op_overhead_cycles / model.clock_hz * 1e6
    return max(layer_us, conv_us + o_us)


def tpu_errors(overrides: dict | None = None, f16_convert_ops: float = F16_CONVERT_OPS, half: str | None = None,
               points: list[dict] | None = None, overlap: bool | None = None) -> list[tuple[dict, float]]:
    """``(point, relative error)`` of the TPU v4 points (of one ``half`` if given) on the model with ``overrides``."""
    model = tpu_model(overrides)
    pts = [p for p in (points if points is not None else tpu_points()) if half in (None, p["half"])]
    return [(p, predict_us(model, p, f16_convert_ops, overlap) / p["us"] - 1) for p in pts]


def calibration_loss(params, points: list[dict] | None = None, overlap: bool | None = None) -> float:
    """Mean over the sets of the mean |log(model / measured)| of the calibration half's points at
    ``params = (op_overhead_cycles, matrix.efficiency, f16 convert lane-ops)``: every set weighs the same."""
    o, eff, conv = params
    if not (0 <= o <= 1e5 and 0.05 <= eff <= 1 and 0 <= conv <= 1000):
        return math.inf
    errs = tpu_errors({"vector.op_overhead_cycles": int(round(o)), "matrix.efficiency": float(eff)}, float(conv),
                      "calibration", points, overlap)
    by_set: dict = {}
    for p, e in errs:
        by_set.setdefault(p["set"], []).append(abs(math.log1p(e)))
    return sum(sum(v) / len(v) for v in by_set.values()) / len(by_set)


def fit_calibration(start=(300.0, 1.0, 8.0), max_evals: int = 400, overlap: bool | None = None) -> tuple[float, float, float]:
    """The calibration (docs/models/npu.md §9): Nelder-Mead on :func:`calibration_loss` over the
    calibration half only; returns ``(op_overhead_cycles, matrix.efficiency, f16 convert lane-ops)``.
    About 10 s (one model per evaluation): run by hand when the model or the data change, then write
    the rounded values into ``arch_configs/npu/tpu-v4.yaml`` (and :data:`CALIBRATED`) and
    :data:`F16_CONVERT_OPS`."""
    from scipy.optimize import minimize

    pts = [p for p in tpu_points() if p["half"] == "calibration"]
    res = minimize(lambda x: calibration_loss(x, pts, overlap), list(start), method="Nelder-Mead",
                   options={"maxfev": max_evals, "xatol": 1e-3, "fatol": 1e-6,
                            "initial_simplex": [list(start), [start[0] + 600, start[1], start[2]],
                                                [start[0], start[1] * 0.6, start[2]], [start[0], start[1], start[2] * 3]]})
    return tuple(float(v) for v in res.x)


def _median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def tpu_checks() -> list[Check]:
    """Per set and half of the TPU v4 points: the summed time of its fusions (asserted within 15 % on the
    held-out half, reported on the calibration half it was fitted on), and the median |error| of a
    single fusion (pass/fail against 15 % on the held-out half, reported on the calibration half)."""
    out: list[Check] = []
    by: dict = {}
    for p, e in tpu_errors(points=tpu_points() + program_points()):
        by.setdefault((p["half"], p["set"]), []).append((p, e))
    for half in ("calibration", "held-out"):
        held = half == "held-out"
        for name in [*MEASURED.GEMM_SETS, "eltwise-1d", "eltwise-2d", "activation-1d", "activation-2d", *PROGRAM_SETS]:
            rows = by.get((half, name))
            if not rows:
                continue
            program = name in PROGRAM_SETS
            known = PROGRAM_MISS if program and held else None
            what = "whole programs (several fusions each)" if program else "fusions"
            ref = sum(p["us"] for p, _ in rows)
            pred = sum(p["us"] * (1 + e) for p, e in rows)
            out.append(Check(AREA, f"[{half} half] TPU v4 {name}: summed time of {len(rows)} float16 {what}",
                             ref, pred, "us", TOLERANCE if held else None, TPU_SOURCE, known=known))
            med = _median([abs(e) for _, e in rows])
            out.append(Check(AREA, f"[{half} half] TPU v4 {name}: median |error| of one {'program' if program else 'fusion'} "
                             f"(goal <= {TOLERANCE:.0%}; {sum(abs(e) <= TOLERANCE for _, e in rows)}/{len(rows)} within)",
                             TOLERANCE, med, "fraction", None, TPU_SOURCE, (med <= TOLERANCE) if held else None,
                             known=known))
    return out


# --- Coral Edge TPU whole networks (coral.ai benchmarks) -----------------------------------------------
#: the published measurements: Coral, "Edge TPU performance benchmarks" (coral.ai/docs/edgetpu/benchmarks),
#: Table 1 "Time per inference, in milliseconds": the model only (no input pre-processing), C++ benchmarks,
#: TensorFlow Lite models fully quantized to 8 bits and compiled by the Edge TPU Compiler
EDGE_SOURCE = ("Coral, 'Edge TPU performance benchmarks' (coral.ai/docs/edgetpu/benchmarks), Table 1, "
               "time per inference (ms)")
#: (zoo workload, the row of Table 1, USB Accelerator on a desktop CPU over USB 3.0, Dev Board) in ms;
#: every row of Table 1 whose network the zoo has at the table's input size (ResNet-50 V1 at 299x299;
#: "SqueezeNet" is taken as the zoo's SqueezeNet 1.1, the version is not stated)
EDGE_NETWORKS = (
    ("squeezenet1.1", "SqueezeNet (224x224)", 2.1, 2.0),
    ("mobilenet-v1", "MobileNet v1 (224x224)", 2.4, 2.4),
    ("mobilenet-v2", "MobileNet v2 (224x224)", 2.6, 2.6),
    ("googlenet", "Inception v1 (224x224)", 3.4, 4.1),
    ("resnet50?image=299", "ResNet-50 V1 (299x299)", 49.0, 56.0),
    ("vgg16", "VGG16 (224x224)", 296.0, 343.0),
)
#: platform (column of Table 1) -> config
EDGE_ARCHS = {"usb": "edge-tpu-usb", "dev-board": "edge-tpu"}
#: the two device-wide constants fitted per config on the calibration half (:func:`edge_fit`), as written
#: in arch_configs/npu/edge-tpu*.yaml
EDGE_CALIBRATED = {
    "edge-tpu": {"dram.invoke_overhead_us": 1390.0, "dram.efficiency": 0.73},
    "edge-tpu-usb": {"dram.invoke_overhead_us": 1540.0, "dram.efficiency": 0.84},
}
#: the Edge TPU Compiler's own plans of two of the benchmark's networks: bytes of the executables inside Coral's
#: compiled models (``*_edgetpu.tflite``, schema libedgetpu ``executable/executable.fbs``), as parsed by
#: RingCanary/coral-usb-oxidized @ 39a9760, docs/usb_executable_transport_correlation.md ("Cross-model executable
#: matrix"): the PARAMETER_CACHING executable's parameters (loaded once, cached on chip), the EXECUTION_ONLY
#: executable's parameters (sent at every inference: streamed) and its instruction bitstreams (sent at every
#: inference). The same project's USB packet captures (docs/WORKLOG.archive.md, 2026-02-21) show these sizes
#: crossing the link in every inference loop: MobileNet v1 ``Bo 225824, Bo 150528, Bi 1008``; Inception v1
#: ``Bo 254656, Bo 150528, Bo 393664, Bo 103200, Bi 1008``. Compiled parameter bytes include the compiler's
#: own layout (biases, quantization data, padding): 4-6 % more than the int8 weights.
EDGE_COMPILED_SOURCE = ("Coral's compiled mobilenet_v1_1.0_224_quant_edgetpu.tflite and inception_v1_224_quant_edgetpu.tflite, "
                        "executables parsed by RingCanary/coral-usb-oxidized @ 39a9760 "
                        "(docs/usb_executable_transport_correlation.md; usbmon loops in docs/WORKLOG.archive.md)")
EDGE_COMPILED = {
    "mobilenet-v1": {"cached": 4_464_000, "streamed": 0, "instructions": 225_824},
    "googlenet": {"cached": 6_581_440, "streamed": 393_664, "instructions": 254_656 + 103_200},
}
#: why held-out points miss 15 %, by workload (docs/validation.md, NPU section); filled only from held-out errors
#: explained by a mechanism, never used to change a constant
_GOOGLENET_MISS = ("Inception v1 is measured slower than the model has it, and slower on the Dev Board (4.1 ms) than "
                   "on the desktop USB host (3.4 ms) where the cache-resident MobileNets take the same time on both: "
                   "host-link traffic the model does not have. The compiler's own plan (Coral's compiled model) "
                   "caches 6.58 MB and streams 393,664 B of parameters at every inference (5.6%); the model caches "
                   "all 6.61 MB (budget 7.59 MB: 8 MiB less the largest activation tensor). Those bytes over the "
                   "link at the calibrated efficiency would add 0.94 / 1.08 ms (USB / Dev Board: -23% / -39% to +4% "
                   "/ -12%, reported as a diagnostic); no single rule of the budget that reproduces the compiler's "
                   "choice from the graph was found (the compiler's logs show budgets of 1.1-8.2 MiB, not a function "
                   "of the largest tensor or of the peak of live activations, 1.0 MB here)")
EDGE_MISS: dict[str, str] = {"edge-tpu:googlenet": _GOOGLENET_MISS, "edge-tpu-usb:googlenet": _GOOGLENET_MISS}


def edge_parameter_bytes(workload: str) -> int:
    """Parameter bytes of ``workload`` at 8 bits (one byte per weight of its matrix layers)."""
    from accelsim.workload.zoo import load_workload

    return int(sum(math.prod(layer.weight_matrix_shape) for layer in load_workload(workload).layers
                   if layer.has_weights))


def edge_halves() -> dict[str, str]:
    """Workload -> half, fixed by a rule written before any error was computed: the networks ranked by
    parameter bytes, alternately calibration (smallest first) and held-out, so each half spans networks
    whose parameters fit the parameter cache and networks that stream most of theirs. Both platforms of
    a network are in the same half."""
    ranked = sorted((edge_parameter_bytes(w), w) for w, *_ in EDGE_NETWORKS)
    return {w: ("calibration" if i % 2 == 0 else "held-out") for i, (_, w) in enumerate(ranked)}


def edge_points() -> list[dict]:
    """Every Edge TPU measurement as ``{workload, label, platform, arch, ms, half}``."""
    halves = edge_halves()
    out = []
    for workload, label, usb, board in EDGE_NETWORKS:
        for platform, ms in (("usb", usb), ("dev-board", board)):
            out.append({"workload": workload, "label": label, "platform": platform, "arch": EDGE_ARCHS[platform],
                        "ms": ms, "half": halves[workload]})
    return out


@functools.lru_cache(maxsize=16)
def _edge_graph(workload: str):
    """The dense graph of ``workload``: on the int8-only Edge TPU config every operand runs at 8 bits,
    as a full-integer (``w8a8-int8``) model does (test: same latency as the recipe within 0.5 %)."""
    from accelsim.compress.compressed import CompressedGraph
    from accelsim.workload.zoo import load_workload

    return CompressedGraph.dense(load_workload(workload))


def edge_model(arch: str, overrides: dict | None = None):
    from accelsim.hw.registry import build_model, load_arch

    return build_model(load_arch(arch, overrides or None))


def edge_predict_ms(model, workload: str) -> float:
    """Model time (ms) of one inference of ``workload``: the whole network with its parameter-cache plan,
    network input and output over the host link and the per-inference overhead (docs/models/npu.md §4.4)."""
    return sum(r.latency_s for r in model.simulate_network(_edge_graph(workload), 1)) * 1e3


def edge_errors(arch: str, overrides: dict | None = None, half: str | None = None) -> list[tuple[dict, float]]:
    """``(point, relative error)`` of the Edge TPU points of ``arch`` (of one ``half`` if given)."""
    model = edge_model(arch, overrides)
    pts = [p for p in edge_points() if p["arch"] == arch and half in (None, p["half"])]
    return [(p, edge_predict_ms(model, p["workload"]) / p["ms"] - 1) for p in pts]


def edge_loss(arch: str, invoke_us: float, efficiency: float) -> float:
    """Mean |log(model / measured)| of the calibration half of ``arch`` at the two constants."""
    if not (0 <= invoke_us <= 1e5 and 0.05 <= efficiency <= 1):
        return math.inf
    errs = edge_errors(arch, {"dram.invoke_overhead_us": float(invoke_us), "dram.efficiency": float(efficiency)},
                       "calibration")
    return sum(abs(math.log1p(e)) for _, e in errs) / len(errs)


def edge_fit(arch: str, efficiencies=None) -> tuple[float, float]:
    """The calibration of ``arch`` (docs/models/npu.md §9): for each link efficiency on a grid (0.30 to
    1.00 step 0.01), the invoke overhead (us, step 10) that minimises :func:`edge_loss` on the calibration
    half only; returns the best ``(invoke_overhead_us, efficiency)``. Run by hand when the model or the
    data change; write the values into the config and :data:`EDGE_CALIBRATED`."""
    pts = [p for p in edge_points() if p["arch"] == arch and p["half"] == "calibration"]
    best = (math.inf, 0.0, 1.0)
    for eff in efficiencies or [i / 100 for i in range(30, 101)]:
        model = edge_model(arch, {"dram.invoke_overhead_us": 0.0, "dram.efficiency": eff})
        base = [(edge_predict_ms(model, p["workload"]), p["ms"]) for p in pts]
        for f10 in range(0, 1001):          # the overhead is additive: time = base + f (ms)
            f = f10 * 0.01
            loss = sum(abs(math.log((b + f) / m)) for b, m in base) / len(base)
            if loss < best[0]:
                best = (loss, round(f * 1e3), eff)
    return float(best[1]), best[2]


def edge_checks() -> list[Check]:
    """One check per Edge TPU point: asserted within 15 % on the held-out half (a known miss where
    :data:`EDGE_MISS` explains it), reported on the calibration half the two constants were fitted on."""
    out: list[Check] = []
    for arch in EDGE_ARCHS.values():
        for p, e in edge_errors(arch):
            held = p["half"] == "held-out"
            platform = "USB Accelerator (USB 3.0)" if p["platform"] == "usb" else "Dev Board (PCIe)"
            known = EDGE_MISS.get(f"{arch}:{p['workload']}") if held and abs(e) > TOLERANCE else None
            out.append(Check(AREA, f"[{p['half']} half] Edge TPU {platform}: {p['label']}, time per inference "
                             f"({arch})", p["ms"], p["ms"] * (1 + e), "ms", TOLERANCE if held else None, EDGE_SOURCE,
                             known=known))
    return out


def edge_plan_checks() -> list[Check]:
    """The compiler's own plans (:data:`EDGE_COMPILED`) against the model's (reported only, never fitted): the
    parameter bytes cached on chip and streamed at every inference (the plan is the same on both configs: same
    SRAM); and, for a network the compiler streams from, the model's time with the compiled plan's streamed
    bytes added over the host link at the calibrated efficiency, in series (a diagnostic of the recorded miss,
    not the model)."""
    out: list[Check] = []
    halves = edge_halves()
    for workload, plan in EDGE_COMPILED.items():
        label = next(lab for w, lab, *_ in EDGE_NETWORKS if w == workload)
        half = halves[workload]
        params = edge_parameter_bytes(workload)
        model = edge_model("edge-tpu")
        cached = model.plan_network(_edge_graph(workload), 1).cached_bytes
        out.append(Check(AREA, f"[{half} half] Edge TPU compiler plan: {label}, parameter bytes cached on chip "
                         f"(compiled layout vs the model's int8 weights)", plan["cached"], cached, "B", None,
                         EDGE_COMPILED_SOURCE))
        out.append(Check(AREA, f"[{half} half] Edge TPU compiler plan: {label}, parameter bytes streamed at every "
                         f"inference", plan["streamed"], params - cached, "B", None, EDGE_COMPILED_SOURCE))
        if not plan["streamed"]:
            continue
        for arch in EDGE_ARCHS.values():
            model = edge_model(arch)
            ms = edge_predict_ms(model, workload) + edge_link_ms(model, plan["streamed"])
            measured = next(p["ms"] for p in edge_points() if p["workload"] == workload and p["arch"] == arch)
            out.append(Check(AREA, f"[{half} half] Edge TPU diagnostic: {label} plus the compiled plan's "
                             f"{plan['streamed']:,} streamed bytes over the link ({arch}; reported only)",
                             measured, ms, "ms", None, EDGE_SOURCE + "; " + EDGE_COMPILED_SOURCE))
    return out


def edge_link_ms(model, nbytes: float) -> float:
    """Time (ms) of ``nbytes`` over the host link of ``model`` at its calibrated efficiency, in series."""
    d = model.config.dram
    return nbytes / (d.bandwidth_gbs * 1e9 * d.efficiency) * 1e3


def checks(quick: bool = False) -> list[Check]:
    """The TPU v4 per-operator measurements (held-out half asserted) and the Gemmini FPGA
    measurements (reported); ``quick`` changes nothing (the TPU points take about a second)."""
    out: list[Check] = tpu_checks() + edge_checks() + edge_plan_checks()
    rn = _layers("resnet50", BATCH)
    rn_cycles = sum(r.cycles for r in rn) / BATCH
    out.append(Check(AREA, f"[{HALF['resnet50']} half] ResNet-50 cycles per image, batch {BATCH} "
                     "(reported only: conditions differ, docs/validation.md NPU)",
                     RESNET50_TOTAL_CYCLES / BATCH, rn_cycles, "cycles", None, SOURCE))
    measured_share = (RESNET50_RES_ADD_CYCLES + RESNET50_OTHER_CYCLES) / RESNET50_TOTAL_CYCLES
    out.append(Check(AREA, f"[{HALF['resnet50']} half] ResNet-50 non-GEMM share of cycles, BN and ReLU "
                     "folded (reported only)",
                     measured_share, non_gemm_share(rn, FOLDED_OPS), "fraction", None, SOURCE + ", Res add + Other"))
    mb = _layers("mobilenet-v2", BATCH)
    out.append(Check(AREA, f"[{HALF['mobilenet-v2']} half] MobileNet-v2 cycles per image, batch {BATCH} "
                     "(reported only: conditions differ, docs/validation.md NPU)",
                     MOBILENET_TOTAL_CYCLES / BATCH, sum(r.cycles for r in mb) / BATCH, "cycles", None, SOURCE))
    return out
