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
"""

from __future__ import annotations

from accelsim.energy.actions import ActionCounts, _is_key
from accelsim.energy.estimate import EnergyTable, estimate
from accelsim.energy.tables import load_tech


def _dtype(kind: str, bits: int) -> str:
    if kind == "fp":
        return {8: "fp8", 16: "fp16", 32: "fp32"}.get(bits, "fp16" if bits < 16 else "fp32")
    return {4: "int4", 8: "int8", 16: "int16", 32: "int32"}.get(bits, "int4" if bits < 4 else "int32")


def mac_variant(config, width: int) -> str:
    return f"{config.pe.dtype}{width}"


def build_ert(config):
    """``(EnergyTable {action key: (pJ, category)}, static power W)`` for a config, priced by its tech table."""
    tech = load_tech(config.tech)
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
    word_bits = config.sram.word_bytes * 8
    for buf, kb in (("ifmap", config.sram.ifmap_kb), ("filter", config.sram.filter_kb), ("ofmap", config.sram.ofmap_kb)):
        for action in ("read", "write"):
            ert[(f"{buf}_sram", action, f"{word_bits}b")] = (tech.sram_energy_pj(kb * 1024 * config.sram.word_bytes, word_bits, action), "sram")
    per_bit = tech.dram_energy_pj_per_bit(config.dram.type)
    ert[("dram", "read", config.dram.type)] = (per_bit, "dram")
    ert[("dram", "write", config.dram.type)] = (per_bit, "dram")
    if config.static_power_w is not None:
        static = config.static_power_w
    else:
        sram_bytes = (config.sram.ifmap_kb + config.sram.filter_kb + config.sram.ofmap_kb) * 1024 * config.sram.word_bytes
        dt = _dtype(pe.dtype, pe.bits)
        acc = "int32" if pe.dtype == "int" else "fp32"
        static = tech.sram_leakage_w(sram_bytes) + config.rows * config.cols * (
            tech.op_leakage_w("mult", dt) + tech.op_leakage_w("add", acc))
    return EnergyTable(ert), static


_KEYS: dict[tuple, tuple] = {}  # (id(config), width, type(width)) -> (config, keys, moving)
_KEYS_MAX = 1024


def _action_keys(config, width: int) -> tuple[tuple, int]:
    """The action keys :func:`count_actions` fills, in its order, and the operands moving per slot.

    Built once per (config, width): configs are frozen but not hashable (they hold lists), so the
    memo is keyed by ``id(config)`` and keeps the config itself, which pins the id to that object.
    """
    memo_key = (id(config), width, type(width))
    hit = _KEYS.get(memo_key)
    if hit is not None and hit[0] is config:
        return hit[1], hit[2]
    v = mac_variant(config, width)
    word = f"{config.sram.word_bytes * 8}b"
    acc = f"{config.pe.accumulator_bits}b"
    dram = config.dram.type
    keys = (
        ("pe", "mac", v),
        ("pe", "mac_gated", v),
        ("pe_reg", "write", f"{width}b"),
        ("acc_reg", "write", acc),
        ("pe_link", "transfer", f"{width}b"),
        ("pe_link", "transfer", acc),
        ("ifmap_sram", "read", word),
        ("filter_sram", "read", word),
        ("ofmap_sram", "write", word),
        ("dram", "read", dram),
        ("dram", "write", dram),
    )
    for key in keys:  # checked here once, so count_actions can skip the per-call check
        if not _is_key(key):
            raise TypeError(f"action key must be (component, action, variant) strings; got {key!r}")
    moving = 2 if config.dataflow == "os" else 1
    if len(_KEYS) >= _KEYS_MAX:
        _KEYS.clear()
    _KEYS[memo_key] = (config, keys, moving)
    return keys, moving


def count_actions(config, *, width, active_macs, gated_macs, slots, sram_reads, sram_writes, dram_read_bytes,
                  dram_write_bytes) -> ActionCounts:
    """Action counts of one layer (§5); equal keys (e.g. 32-bit operands and sums) add up."""
    keys, moving = _action_keys(config, width)
    values = (
        active_macs,
        gated_macs,
        moving * slots,
        slots,
        moving * slots,
        0 if moving == 2 else slots,
        sram_reads.get("ifmap", 0),
        sram_reads.get("filter", 0),
        sram_writes.get("ofmap", 0),
        dram_read_bytes * 8,
        dram_write_bytes * 8,
    )
    return ActionCounts.from_pairs(keys, values)


def price(actions: ActionCounts, ert, static_w: float, seconds: float):
    return estimate(actions, ert, static_power_w=static_w, seconds=seconds)
