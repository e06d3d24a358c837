"""Knobs in an architect's units that expand into a family's own config keys (issue 18 item 6).

One DRAM bandwidth beside the systolic family's three per-stream USER-mode bandwidths
(``dram.ifmap_bw``, ``dram.filter_bw``, ``dram.ofmap_bw``, words per cycle, integers):

- ``dram.bandwidth``: the total in words per cycle;
- ``dram.bandwidth_gbps``: the total in GB/s (1e9 bytes/s), converted with the point's clock
  (``clock_hz``) and word size (``sram.word_bytes``): words/cycle = GB/s x 1e9 / (clock x word bytes).

Policy: the total is split across the three streams in proportion to the arch's own per-stream values
(after the point's other overrides; equal thirds when they are equal, as in every bundled systolic
config), each rounded to the nearest integer; a total whose smallest share is below 1 word/cycle (the
least a stream carries) is refused naming the minimum (1e-30 GB/s ran as 1.5 GB/s); the knob also sets
``dram.bandwidth_mode: USER`` (in CALC mode SCALE-Sim sizes bandwidth so nothing stalls, and a
bandwidth would have no effect). A point may not set the knob and a per-stream key together, nor
both knobs. The same keys work in a sweep spec (``arch.dram.bandwidth_gbps: [6.4, 12.8, 25.6]``) and
on the command line (``--set dram.bandwidth_gbps=25.6``) and in the Python API (``load_arch`` and ``simulate``
``overrides``); the sweep's table keeps the knob's column
and adds the per-stream values that ran.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from accelsim.errors import ConfigError

STREAMS = ("ifmap_bw", "filter_bw", "ofmap_bw")
KNOBS = {"dram.bandwidth": "words/cycle", "dram.bandwidth_gbps": "GB/s"}
MAX_WORDS_PER_CYCLE = 1 << 20  # the schema's bound on one stream (SystolicConfig dram.*_bw)


def split_bandwidth(total_words: float, current: Sequence[float]) -> list[int]:
    """``total_words`` (words/cycle) split in proportion to ``current`` (the per-stream values),
    each rounded to the nearest integer, at least 1."""
    weight = [max(float(c), 0.0) for c in current]
    s = sum(weight) or float(len(weight))
    shares = [w / s for w in weight] if sum(weight) else [1.0 / len(weight)] * len(weight)
    return [max(1, int(round(total_words * share))) for share in shares]


def expand_overrides(arch: Any, overrides: Mapping[str, Any], where: str = "--set", load=None) -> dict[str, Any]:
    """``overrides`` (dotted config keys without ``arch.``) with a bandwidth knob replaced by the
    per-stream keys and ``dram.bandwidth_mode: USER`` (see the module doc); unchanged without a knob.
    A knob on a family without per-stream bandwidths, two knobs, a knob beside a per-stream key or a
    non-positive value raise a :class:`ConfigError` naming ``where``."""
    knobs = [k for k in KNOBS if k in overrides]
    if not knobs:
        return dict(overrides)
    if len(knobs) > 1:
        raise ConfigError(f"{where}: give one of {', '.join(knobs)}, not both")
    knob = knobs[0]
    streams = [f"dram.{s}" for s in STREAMS if f"dram.{s}" in overrides]
    if streams:
        raise ConfigError(f"{where}: {knob} sets the per-stream bandwidths; it cannot be combined with "
                          f"{', '.join(streams)}")
    value = overrides[knob]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
        raise ConfigError(f"{where}: {knob} must be a positive finite number ({KNOBS[knob]}); got {value!r}")
    rest = {k: v for k, v in overrides.items() if k != knob}
    config = load(arch, rest)  # registry.load_arch, passed in (the registry imports this module)
    dram = getattr(config, "dram", None)
    if getattr(config, "family", None) != "systolic" or not all(hasattr(dram, s) for s in STREAMS):
        raise ConfigError(f"{where}: {knob} applies to systolic archs (their per-stream USER-mode DRAM "
                          f"bandwidths); arch family '{getattr(config, 'family', '?')}' has none")
    if knob == "dram.bandwidth":
        total = float(value)
    else:
        total = float(value) * 1e9 / (float(config.clock_hz) * int(config.sram.word_bytes))
    if not total <= MAX_WORDS_PER_CYCLE:  # (also catches a GB/s figure whose words/cycle overflow to inf)
        raise ConfigError(f"{where}: {knob} {value:.6g} {KNOBS[knob]} is {total:.3g} words/cycle in all; at most "
                          f"{MAX_WORDS_PER_CYCLE:,} words/cycle is accepted (the per-stream limit, dram.ifmap_bw)")
    current = [max(float(getattr(dram, s)), 0.0) for s in STREAMS]
    least = min(c for c in current if c > 0) / sum(current) if any(current) else 1.0 / len(STREAMS)
    minimum = 1.0 / least  # words/cycle in all for the smallest stream's share to be one whole word per cycle
    if total < minimum * (1 - 1e-9):  # the model's streams carry whole words per cycle, at least 1 each
        scale = 1.0 if knob == "dram.bandwidth" else 1e9 / (float(config.clock_hz) * int(config.sram.word_bytes))
        raise ConfigError(f"{where}: {knob} must be at least {minimum / scale:.6g} {KNOBS[knob]} on this arch (1 word "
                          f"per cycle on each DRAM stream, the least the systolic model carries); got {value:.6g}")
    split = split_bandwidth(total, [getattr(dram, s) for s in STREAMS])
    out = dict(rest)
    out["dram.bandwidth_mode"] = "USER"
    out.update({f"dram.{s}": v for s, v in zip(STREAMS, split)})
    return out


__all__ = ["KNOBS", "STREAMS", "expand_overrides", "split_bandwidth"]
