"""Top-k expert routing of a mixture-of-experts layer: which experts a step touches and how many tokens each gets.

A load distribution gives every expert ``e`` a share ``w_e`` of the routed token slots (``sum w_e = 1``):

* ``uniform``: ``w_e = 1 / E``;
* ``zipf`` or ``zipf:S``: ``w_e`` proportional to ``1 / rank^S`` (``S = 1`` by default), expert 0 the most loaded;
* a file (``.json`` / ``.yaml``): measured counts, a list of ``E`` numbers (every MoE block) or a list of such
  lists, one per MoE block in order; ``w_e = c_e / sum c``.

Each of ``T`` tokens picks ``k`` distinct experts, so expert ``e`` is picked by one token with probability
``p_e = min(1, k w_e)`` (water-filled: shares over ``1 / k`` are capped at 1 and the excess spread over the
others in proportion to ``w``, keeping ``sum p_e = k``). Over ``T`` independent tokens the expected number of
distinct experts touched is ``D = sum_e 1 - (1 - p_e)^T``. :func:`route` turns this into whole numbers:
``round(D)`` experts (at least ``k``, at most ``min(E, T k)``), the most probable ones, sharing the ``T k``
token slots in proportion to ``p_e`` (largest remainder, each between 1 and ``T`` tokens). One token (decode at
batch 1) touches exactly ``k`` experts; a long prefill touches all ``E``.
"""

from __future__ import annotations

import math
from pathlib import Path

from accelsim.errors import WorkloadError

#: largest counts file read
MAX_COUNTS_BYTES = 1 << 22


def load_shares(distribution, experts: int, blocks: int) -> list[list[float]]:
    """Per MoE block, the share ``w_e`` of routed slots of each of ``experts`` experts (see module docstring)."""
    if not isinstance(distribution, (str, Path, list, tuple)):
        raise WorkloadError(f"routing must be 'uniform', 'zipf[:S]', a counts file or a list of counts; got {distribution!r}")
    if isinstance(distribution, str) and distribution == "uniform":
        return [[1.0 / experts] * experts] * blocks
    if isinstance(distribution, str) and (distribution == "zipf" or distribution.startswith("zipf:")):
        text = distribution[5:] or "1"
        try:
            s = float(text)
        except ValueError:
            s = -1.0
        if not math.isfinite(s) or s < 0:
            raise WorkloadError(f"routing 'zipf:S' needs an exponent S >= 0; got {text!r}")
        raw = [1.0 / (r + 1) ** s for r in range(experts)]
        total = sum(raw)
        return [[v / total for v in raw]] * blocks
    if isinstance(distribution, (list, tuple)):
        data, where = list(distribution), "routing counts"
    elif isinstance(distribution, str) and not Path(distribution).suffix and not Path(distribution).exists():
        from accelsim.errors import close_names

        close = close_names(distribution, ["uniform", "zipf"], n=1)  # a misspelled name, not a file
        raise WorkloadError(f"unknown routing {distribution!r}{f'; did you mean {close[0]!r}?' if close else ''} "
                            "(expected uniform, zipf[:S] or a .json / .yaml counts file)")
    else:
        data, where = _read_counts(Path(distribution)), str(distribution)
    rows = data if data and all(isinstance(r, (list, tuple)) for r in data) else [data]
    if len(rows) not in (1, blocks):
        raise WorkloadError(f"{where}: {len(rows)} lists of counts; expected 1 (every MoE block) or {blocks} (one per MoE block)")
    out = []
    for i, row in enumerate(rows):
        if len(row) != experts or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c)
                                          and c >= 0 for c in row):
            raise WorkloadError(f"{where}: counts[{i}] must be {experts} non-negative numbers (one per expert); "
                                f"got {len(row)} entries")
        total = float(sum(row))
        if total <= 0:
            raise WorkloadError(f"{where}: counts[{i}] are all zero")
        out.append([c / total for c in row])
    return out * blocks if len(out) == 1 else out


def _read_counts(path: Path) -> list:
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise WorkloadError(f"{path}: routing counts file must be .json or .yaml; got '{suffix or path.name}'")
    try:
        if path.stat().st_size > MAX_COUNTS_BYTES:
            raise WorkloadError(f"{path}: routing counts file is over {MAX_COUNTS_BYTES} bytes")
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot read routing counts ({exc.strerror or exc})") from None
    if suffix == ".json":
        import json

        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WorkloadError(f"{path}: not a JSON list of counts ({exc})") from None
    else:
        from accelsim.config import read_yaml_file

        data = read_yaml_file(path, WorkloadError)
    if isinstance(data, dict) and "counts" in data:
        data = data["counts"]
    if not isinstance(data, list) or not data:
        raise WorkloadError(f"{path}: expected a list of per-expert counts (or a list of lists, one per MoE block)")
    return data


def pick_probabilities(shares: list[float], top_k: int) -> list[float]:
    """``p_e``: probability that one token's top-k picks expert ``e`` (water-filled ``min(1, k w_e)``)."""
    nonzero = sum(1 for w in shares if w > 0)
    if nonzero < top_k:
        raise WorkloadError(f"routing: only {nonzero} experts have load but every token picks {top_k}")
    p = [0.0] * len(shares)
    free = [i for i, w in enumerate(shares) if w > 0]
    budget = float(top_k)
    while True:
        total = sum(shares[i] for i in free)
        capped = [i for i in free if budget * shares[i] / total >= 1.0]
        if not capped:
            for i in free:
                p[i] = budget * shares[i] / total
            return p
        for i in capped:
            p[i] = 1.0
        budget -= len(capped)
        free = [i for i in free if i not in capped]
        if not free:
            return p


def expected_distinct(p: list[float], tokens: int) -> float:
    """``D = sum_e 1 - (1 - p_e)^T``: expected experts touched by ``tokens`` tokens."""
    return sum(1.0 - (1.0 - pe) ** tokens for pe in p)


def route(shares: list[float], top_k: int, tokens: int) -> dict[int, int]:
    """``{expert: tokens routed}`` for one MoE block and one step of ``tokens`` tokens (module docstring)."""
    if top_k > len(shares):
        raise WorkloadError(f"routing: top_k {top_k} exceeds the {len(shares)} experts")
    p = pick_probabilities(shares, top_k)
    slots = tokens * top_k
    nonzero = sum(1 for pe in p if pe > 0)
    d = round(expected_distinct(p, tokens))
    d = max(top_k, min(d, nonzero, slots))
    chosen = sorted(range(len(p)), key=lambda e: (-p[e], e))[:d]  # d >= k, so d * tokens >= slots fit
    return dict(sorted(_apportion(slots, {e: p[e] for e in chosen}, lo=1, hi=tokens).items()))


def _apportion(total: int, weights: dict[int, float], lo: int, hi: int) -> dict[int, int]:
    """Split ``total`` into integers in ``[lo, hi]`` in proportion to ``weights``: entries whose share falls outside
    the bounds are fixed at the bound and the rest re-split (an expert every token picks gets all ``hi`` tokens),
    then the largest remainders take the units left. (Until 2026-12-06 every entry got ``lo`` first and only the
    rest was split in proportion, which flattened a skewed load: zipf:1.5 over 8 tokens gave 7, 3, 2, 2, 2, not
    8, 4, 2, 1, 1.)"""
    out: dict[int, int] = {}
    open_, left = dict(weights), total
    while open_:
        wsum = sum(open_.values())
        share = {e: left * w / wsum for e, w in open_.items()}
        high = [e for e in open_ if share[e] >= hi]
        low = [] if high else [e for e in open_ if share[e] <= lo]
        if high or low:
            for e in high or low:
                out[e] = hi if high else lo
                left -= out[e]
                del open_[e]
            continue
        base = {e: int(math.floor(share[e])) for e in open_}
        out.update(base)
        left -= sum(base.values())
        for e in sorted(open_, key=lambda e: (-(share[e] - base[e]), e))[:left]:
            out[e] += 1
        break
    return {e: out[e] for e in weights}


#: most buckets (grouped GEMMs) per MoE block; more distinct token counts are merged (see :func:`buckets`)
MAX_BUCKETS = 32


def buckets(counts: dict[int, int], max_buckets: int = MAX_BUCKETS) -> list[tuple[int, list[int]]]:
    """Experts grouped by the tokens they got: ``[(tokens, [experts...]), ...]``, most tokens first (one grouped
    GEMM per bucket). Exact while there are at most ``max_buckets`` distinct counts; beyond that (a skewed load
    over hundreds of experts) the experts, sorted by tokens, are cut into ``max_buckets`` runs of equal size,
    each run at its mean count rounded (so the graph's routed tokens differ from ``sum(counts)`` by at most
    half a token per expert; ``graph.metadata['hf']['routing']`` keeps the exact counts)."""
    by: dict[int, list[int]] = {}
    for e, n in counts.items():
        by.setdefault(n, []).append(e)
    if len(by) <= max_buckets:
        return [(n, sorted(by[n])) for n in sorted(by, reverse=True)]
    order = sorted(counts, key=lambda e: (-counts[e], e))
    runs = [order[i * len(order) // max_buckets:(i + 1) * len(order) // max_buckets] for i in range(max_buckets)]
    merged: dict[int, list[int]] = {}
    for run in runs:
        if run:
            mean = max(1, round(sum(counts[e] for e in run) / len(run)))
            merged.setdefault(mean, []).extend(run)
    return [(n, sorted(merged[n])) for n in sorted(merged, reverse=True)]
