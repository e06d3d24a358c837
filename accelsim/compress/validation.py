"""Deep Compression reproduced: total compression ratios and per-layer sizes vs the paper.

Reference figures copied from Han, Mao, Dally, "Deep Compression", ICLR 2016 (arXiv:1510.00149v5),
Tables 1-5 ("Size % of orig" per layer and the total rates). The recipes ``deep-compression-<net>``
(P+Q+H) and ``deep-compression-<net>-pq`` (P+Q) carry the paper's per-layer kept fractions and
weight bits; weights are synthesized (He-normal, seed 0). Tolerances: 5% for P+Q, 10% for P+Q+H
(issue 3). ``checks(quick=True)`` runs the two LeNets only.
"""

from __future__ import annotations

from functools import lru_cache

from accelsim.checks import Check

SOURCE = "Han, Mao, Dally, Deep Compression, ICLR 2016 (arXiv:1510.00149v5)"

# net key -> (workload, table, P+Q rate, P+Q+H rate, {layer: (size % P+Q, size % P+Q+H)})
PAPER = {
    "lenet300": ("lenet-300-100", "Table 2", 32.0, 40.0,
                 {"fc1": (3.1, 2.32), "fc2": (3.8, 3.04), "fc3": (15.7, 12.7)}),
    "lenet5": ("lenet5", "Table 3", 33.0, 39.0,
               {"conv1": (78.5, 67.45), "conv2": (6.0, 5.28), "ip1": (2.7, 2.45), "ip2": (6.9, 6.13)}),
    "alexnet": ("alexnet", "Table 4", 27.0, 35.0,
                {"conv1": (32.6, 20.53), "conv2": (14.5, 9.43), "conv3": (13.1, 8.44), "conv4": (14.1, 9.11),
                 "conv5": (14.0, 9.43), "fc6": (3.0, 2.39), "fc7": (3.0, 2.46), "fc8": (7.3, 5.85)}),
    "vgg16": ("vgg16", "Table 5", 31.0, 49.0,
              {"conv1_1": (40.0, 29.97), "conv1_2": (9.8, 6.99), "conv2_1": (14.3, 8.91), "conv2_2": (14.7, 9.31),
               "conv3_1": (21.7, 11.15), "conv3_2": (9.7, 5.67), "conv3_3": (17.0, 8.96), "conv4_1": (13.1, 7.29),
               "conv4_2": (10.9, 5.93), "conv4_3": (14.0, 7.47), "conv5_1": (14.3, 8.0), "conv5_2": (11.7, 6.52),
               "conv5_3": (14.8, 7.79), "fc6": (1.6, 1.1), "fc7": (1.5, 1.25), "fc8": (7.1, 5.24)}),
}
TOL_PQ = 0.05
TOL_PQH = 0.10


@lru_cache(maxsize=8)
def run(net: str, huffman: bool, seed: int = 0) -> dict:
    """Compress one net with its Deep Compression recipe; returns totals and per-layer size %."""
    from accelsim.compress.recipe import compress
    from accelsim.workload.zoo import load_workload

    workload = PAPER[net][0]
    recipe = f"deep-compression-{net}" + ("" if huffman else "-pq")
    cg = compress(load_workload(workload), recipe, seed=seed)
    layers = {cl.name: {"size_pct": 100.0 / cl.stats["compression_ratio"], "index_bits": cl.stats["index_bits"],
                        "density": cl.stats["density"], "payload_mean_bits": cl.stats.get("huffman_payload_mean_bits"),
                        "index_mean_bits": cl.stats.get("huffman_index_mean_bits")}
              for cl in cg if "compression_ratio" in cl.stats}
    return {"ratio": cg.stats["compression_ratio"], "layers": layers, "stats": cg.stats}


def checks(quick: bool = False) -> list[Check]:
    nets = ("lenet300", "lenet5") if quick else tuple(PAPER)
    out = []
    for net in nets:
        workload, table, pq, pqh = PAPER[net][:4]
        for huffman, ref, tol, label in ((False, pq, TOL_PQ, "P+Q"), (True, pqh, TOL_PQH, "P+Q+H")):
            out.append(Check(area="compress", item=f"{workload} Deep Compression {label} ratio", reference=ref,
                             predicted=run(net, huffman)["ratio"], unit="x", rel_tol=tol, source=f"{SOURCE}, {table}"))
    return out


def layer_table(net: str) -> list[dict]:
    """Per-layer rows: paper vs accelsim size % of the original for P+Q and P+Q+H."""
    paper = PAPER[net][4]
    pq, pqh = run(net, False), run(net, True)
    rows = []
    for name, (p_pq, p_pqh) in paper.items():
        a, b = pq["layers"][name], pqh["layers"][name]
        rows.append({"layer": name, "density": a["density"], "paper_pq_pct": p_pq, "accelsim_pq_pct": a["size_pct"],
                     "index_bits_pq": a["index_bits"], "paper_pqh_pct": p_pqh, "accelsim_pqh_pct": b["size_pct"],
                     "index_bits_pqh": b["index_bits"], "huffman_weight_bits": b["payload_mean_bits"],
                     "huffman_index_bits": b["index_mean_bits"]})
    return rows
