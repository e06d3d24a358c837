"""Action counts and their energy reference table for the systolic array (docs/models/systolic.md §5).

Actions (component, action, variant):

* ``("pe", "mac", <dtype>)`` - MACs performed at the executed operand width (``int8``, ``int4``, ...);
* ``("pe", "mac_gated", <dtype>)`` - MACs whose weight is zero, clock-gated: multiplier and adder
  do not toggle (0 pJ); the operands still march through the array and are counted as ``pe_reg``
  and ``pe_link`` actions like every issued slot;
* ``("pe_reg", "write", "<b>b")`` - operand pipeline registers written as operands march through
  the array: two per issued MAC slot in os (both operands move), one in ws / is (one is stationary);
* ``("acc_reg", "write", "<a>b")`` - partial-sum register updates (one per issued slot; in ws / is
  the partial sum is the value passed on to the next PE);
* ``("pe_link", "transfer", "<b>b" | "<a>b")`` - hops between neighbouring PEs over a wire of
  ``pe.pitch_um``: os moves two operands per slot; ws / is move one operand and one partial sum;
* ``("<buffer>_sram", "read" | "write", "<w>b")`` - SRAM word accesses of ``word_bytes * 8`` bits to a
  buffer of its configured size;
* ``("dram", "read" | "write", <type>)`` - bits moved to / from DRAM.

Static power: ``static_power_w`` if set, else the leakage of the three SRAMs plus the MAC units.
The SRAM and DRAM entries, the SRAM leakage and the DRAM bandwidth come from the shared blocks
(:class:`accelsim.hw.blocks.SramBuffer`, :class:`accelsim.hw.blocks.DramChannel`);
:class:`accelsim.hw.base.HardwareModel` prices the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.energy.actions import ActionCounts, is_action_key
from accelsim.energy.tables import load_tech
from accelsim.hw.blocks import DramChannel, SramBuffer

#: the three SRAMs, in the order of their action keys: (result buffer key, config field)
BUFFERS = (("ifmap", "ifmap_kb"), ("filter", "filter_kb"), ("ofmap", "ofmap_kb"))


def _dtype(kind: str, bits: int) -> str:
    if kind == "fp":
        return {8: "fp8", 16: "fp16", 32: "fp32"}.get(bits, "fp16" if bits < 16 else "fp32")
    return {4: "int4", 8: "int8", 16: "int16", 32: "int32"}.get(bits, "int4" if bits < 4 else "int32")


def mac_variant(config, width: int) -> str:
    """The variant of MAC action keys (and the data type of peak rates) at operand ``width``: ``int8``, ``fp16``, ..."""
    return f"{config.pe.dtype}{width}"


def sram_buffers(config) -> tuple[SramBuffer, ...]:
    """The ifmap, filter and ofmap SRAMs: ``<kb> x 1024`` words of ``word_bytes``, accessed a word at a time.

    Components ``ifmap_sram``, ``filter_sram``, ``ofmap_sram`` (action keys ``(<name>, read | write, <w>b)``)."""
    s = config.sram
    return tuple(SramBuffer(f"{buf}_sram", getattr(s, kb) * 1024 * s.word_bytes, s.word_bytes * 8) for buf, kb in BUFFERS)


def dram_bytes_per_s(config) -> float | None:
    """DRAM bandwidth (bytes/s): the USER-mode words/cycle of the three streams x word bytes x clock;
    None in CALC mode (SCALE-Sim sizes bandwidth so that nothing stalls) or at zero bandwidth."""
    d = config.dram
    if d.bandwidth_mode != "USER":
        return None
    bw = (d.ifmap_bw + d.filter_bw + d.ofmap_bw) * config.sram.word_bytes * float(config.clock_hz)
    return float(bw) if bw else None


def dram_channel(config) -> DramChannel:
    """The off-chip memory (action keys ``("dram", read | write, <type>)``, counted in bits)."""
    return DramChannel(config.dram.type, dram_bytes_per_s(config))


def energy_reference_table(config, tech=None) -> dict:
    """``{action key: (pJ, category)}`` of every action :func:`count_actions` emits, priced by the
    technology table ``tech`` (default: the config's)."""
    tech = tech or load_tech(config.tech)
    pe = config.pe
    ert: dict = {}
    widths = sorted(set(pe.precision_modes) | {pe.bits})
    for w in widths:
        dt = _dtype(pe.dtype, w)
        mac = tech.op_energy_pj("mac", dt)
        if pe.dtype == "int" and w < 4:
            mac = mac * (w / 4) ** 2  # below the table's int4: multiplier energy ~ bits^2 (§5)
        v = mac_variant(config, w)
        ert[("pe", "mac", v)] = (mac, "compute")
        ert[("pe", "mac_gated", v)] = (0.0, "compute")  # gated: multiplier/adder idle; operand moves counted below
        ert[("pe_reg", "write", f"{w}b")] = (tech.register_energy_pj(w, "write"), "register")
        ert[("pe_link", "transfer", f"{w}b")] = (w * tech.wire_energy_pj_per_bit_mm() * pe.pitch_um / 1000.0, "noc")
    a = pe.accumulator_bits
    ert[("acc_reg", "write", f"{a}b")] = (tech.register_energy_pj(a, "write"), "register")
    ert[("pe_link", "transfer", f"{a}b")] = (a * tech.wire_energy_pj_per_bit_mm() * pe.pitch_um / 1000.0, "noc")
    for buf in sram_buffers(config):
        ert.update(buf.energy_entries(tech))
    ert.update(dram_channel(config).tech_energy_entries(tech))
    return ert


def static_power(config, tech=None) -> float:
    """Static power (W): ``static_power_w`` if set, else the leakage of the three SRAMs (one law
    over their summed capacity) plus one multiplier (native width) and one accumulator adder per PE,
    from the technology table ``tech`` (default: the config's)."""
    if config.static_power_w is not None:
        return float(config.static_power_w)
    tech = tech or load_tech(config.tech)
    pe = config.pe
    dt = _dtype(pe.dtype, pe.bits)
    acc = "int32" if pe.dtype == "int" else "fp32"
    leak = tech.sram_leakage_w(sum(buf.capacity_bytes for buf in sram_buffers(config)))
    return leak + config.rows * config.cols * (tech.op_leakage_w("mult", dt) + tech.op_leakage_w("add", acc))


@dataclass(frozen=True)
class ActionKeys:
    """The action keys :func:`count_actions` fills at one operand width, in its order, and the
    operands moving per issued slot (2 in os, where both operands march; 1 in ws / is). A model
    builds one per precision it runs (:class:`~accelsim.hw.systolic.model.SystolicModel`)."""

    keys: tuple
    moving: int


def action_keys(config, width: int) -> ActionKeys:
    """The :class:`ActionKeys` of ``config`` at ``width``-bit operands (keys checked once, here)."""
    v = mac_variant(config, width)
    acc = f"{config.pe.accumulator_bits}b"
    ifmap, filt, ofmap = sram_buffers(config)
    dram = dram_channel(config).key_variant
    keys = (
        ("pe", "mac", v),
        ("pe", "mac_gated", v),
        ("pe_reg", "write", f"{width}b"),
        ("acc_reg", "write", acc),
        ("pe_link", "transfer", f"{width}b"),
        ("pe_link", "transfer", acc),
        ifmap.key("read"),
        filt.key("read"),
        ofmap.key("write"),
        ("dram", "read", dram),
        ("dram", "write", dram),
    )
    for key in keys:  # checked here once, so count_actions can skip the per-call check
        if not is_action_key(key):
            raise TypeError(f"action key must be (component, action, variant) strings; got {key!r}")
    out = ActionKeys(keys, 2 if config.dataflow == "os" else 1)
    # not a field (equality, hash and repr are the keys' and moves'): no two keys equal, so count_actions
    # need not add equal keys up (32-bit operands on 32-bit sums have two equal keys)
    object.__setattr__(out, "_distinct", len(set(keys)) == len(keys))
    return out


def count_actions(keys: ActionKeys, *, active_macs, gated_macs, slots, sram_reads, sram_writes, dram_read_bytes,
                  dram_write_bytes) -> ActionCounts:
    """Action counts of one layer (§5) under ``keys``; equal keys (e.g. 32-bit operands and sums) add up."""
    moving = keys.moving
    moved = moving * slots
    values = (
        active_macs,
        gated_macs,
        moved,
        slots,
        moved,
        0 if moving == 2 else slots,
        sram_reads.get("ifmap", 0),
        sram_reads.get("filter", 0),
        sram_writes.get("ofmap", 0),
        dram_read_bytes * 8,
        dram_write_bytes * 8,
    )
    if keys.__dict__.get("_distinct"):
        # every key once: the constructor's sum over equal keys is 0.0 + float(v), which is float(v)
        return ActionCounts._of_dict({k: float(v) for k, v in zip(keys.keys, values) if v})
    return ActionCounts.from_pairs(keys.keys, values)

