"""Zoo checks for ``accelsim validate``: published vs computed parameter and MAC counts.

Two groups of asserted :class:`accelsim.checks.Check` rows (area ``zoo``):

* ``<net> total params`` / ``<net> total MACs`` for every zoo network, against the ``published``
  entry of its YAML file, tolerance 1 %.
* ``<net> <layer> weights`` / ``<net> <layer> FLOP`` for the four networks whose per-layer counts
  Han et al. print (NIPS 2015 Tables 1-4 = Deep Compression Tables 2-5). ``#Weights`` counts weight
  elements without biases (AlexNet conv5 prints 442K: 442,368 weights, 442,624 with biases). The
  figures are cut to 1-3 digits (``35K``, ``3.7B``), some rounded and some truncated (conv4's
  663,552 weights print as 663K), so the tolerance of each is one unit of its last printed digit,
  relative to the printed value. FLOP counts a multiply and an add, so FLOP = 2 x MACs.

Conventions (``docs/workloads.md``): MACs are per sample and count only the products of a GEMM view
(conv, linear, matmul, recurrent gates); parameters are weights and biases plus BatchNorm /
LayerNorm scale and shift and embedding tables (no running statistics).
"""

from __future__ import annotations

import math
import re

from accelsim.checks import Check
from accelsim.workload.zoo import load_workload, zoo_names

TOTAL_TOL = 0.01
QUICK_NETWORKS = ("resnet50", "alexnet", "lenet5", "eie-benchmarks")

_HAN = "Han et al. NIPS 2015 / Deep Compression ICLR 2016"
# (zoo layer name, printed #weights, printed FLOP) per network, with the table they come from.
PER_LAYER: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "lenet-300-100": (f"{_HAN}, LeNet-300-100 table", [
        ("fc1", "235K", "470K"), ("fc2", "30K", "60K"), ("fc3", "1K", "2K"),
    ]),
    "lenet5": (f"{_HAN}, LeNet-5 table", [
        ("conv1", "0.5K", "576K"), ("conv2", "25K", "3200K"), ("ip1", "400K", "800K"), ("ip2", "5K", "10K"),
    ]),
    "alexnet": (f"{_HAN}, AlexNet table (fc1..fc3 = fc6..fc8)", [
        ("conv1", "35K", "211M"), ("conv2", "307K", "448M"), ("conv3", "885K", "299M"), ("conv4", "663K", "224M"),
        ("conv5", "442K", "150M"), ("fc6", "38M", "75M"), ("fc7", "17M", "34M"), ("fc8", "4M", "8M"),
    ]),
    "vgg16": (f"{_HAN}, VGG-16 table", [
        ("conv1_1", "2K", "0.2B"), ("conv1_2", "37K", "3.7B"), ("conv2_1", "74K", "1.8B"), ("conv2_2", "148K", "3.7B"),
        ("conv3_1", "295K", "1.8B"), ("conv3_2", "590K", "3.7B"), ("conv3_3", "590K", "3.7B"),
        ("conv4_1", "1M", "1.8B"), ("conv4_2", "2M", "3.7B"), ("conv4_3", "2M", "3.7B"),
        ("conv5_1", "2M", "925M"), ("conv5_2", "2M", "925M"), ("conv5_3", "2M", "925M"),
        ("fc6", "103M", "206M"), ("fc7", "17M", "34M"), ("fc8", "4M", "8M"),
    ]),
}

_SCALE = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9}


def parse_rounded(text: str) -> tuple[float, float]:
    """``'3.7B'`` -> (3.7e9, one unit of the last printed digit relative to the value = 0.1/3.7)."""
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?([KMB]?)", text)
    if not match:
        raise ValueError(f"not a rounded count: {text!r}")
    whole, frac, unit = match.groups()
    value = float(f"{whole}.{frac or 0}") * _SCALE[unit]
    last_digit = 10.0 ** -(len(frac) if frac else 0) * _SCALE[unit]
    return value, last_digit / value


def _total_checks(name: str) -> list[Check]:
    graph = load_workload(name)
    pub = graph.metadata.get("published") or {}
    source = str(pub.get("source", ""))
    out = []
    for what, predicted, unit in (("params", graph.total_params, "params"), ("macs", graph.total_macs, "MACs")):
        if what in pub:
            out.append(Check("zoo", f"{name} total {'params' if what == 'params' else 'MACs'}", float(pub[what]),
                             float(predicted), unit, TOTAL_TOL, source))
    return out


def _weight_elements(layer) -> int:
    shape = layer.weight_shape
    return 0 if shape is None else int(math.prod(shape))


def _layer_checks(name: str) -> list[Check]:
    source, rows = PER_LAYER[name]
    graph = load_workload(name)
    out = []
    for layer_name, weights, flop in rows:
        layer = graph.layer(layer_name)
        for label, text, predicted, unit in (("weights", weights, _weight_elements(layer), "weights"),
                                            ("FLOP", flop, 2 * layer.macs, "FLOP")):
            value, tol = parse_rounded(text)
            out.append(Check("zoo", f"{name} {layer_name} {label}", value, float(predicted), unit, tol, source))
    return out


def checks(quick: bool = False) -> list[Check]:
    """Published vs computed counts (see the module docstring); ``quick`` = four networks, totals only."""
    names = [n for n in zoo_names() if not quick or n in QUICK_NETWORKS]
    out: list[Check] = []
    for name in names:
        out.extend(_total_checks(name))
    if not quick:
        for name in PER_LAYER:
            out.extend(_layer_checks(name))
    return out
