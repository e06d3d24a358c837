"""Technology tables: energy (pJ) and area (um^2 / mm^2) of ops, SRAM, registers, DRAM and wires.

A table is a YAML file in ``arch_configs/tech/`` (``45nm.yaml`` is the Horowitz ISSCC 2014 table;
``28nm.yaml`` ... ``5nm.yaml`` declare ``base: 45nm`` and a ``node_nm`` and are scaled). Every
number carries a ``status`` (published / secondary / derived / assumed) and a ``source`` or
``rule``; docs/models/energy.md lists them all with the equations used here.

    tech = load_tech("45nm")
    tech.op_energy_pj("mac", "int8")            # pJ per MAC (mult int8 + add int32)
    tech.sram_energy_pj(128 * 1024, 64)         # pJ per 64-bit read of a 128 kB SRAM
    tech.dram_energy_pj_per_bit("hbm2")         # pJ per bit
    load_tech("7nm").op_energy_pj("mult", "fp16")

Bad files raise :class:`~accelsim.errors.ConfigError` naming the file and every bad field; unknown
names (table, op, dtype, DRAM type) raise :class:`~accelsim.errors.UnknownNameError`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from accelsim.config import read_yaml_file
from accelsim.energy.sram import SramModel, SramPoint
from accelsim.errors import ConfigError, UnknownNameError
from accelsim.paths import TECH_DIR, bundled

DTYPES = ("int4", "int8", "int16", "int32", "fp8", "fp16", "bf16", "fp32")
BASIC_OPS = ("add", "mult")
OPS = ("add", "mult", "mac")
DRAM_TYPES = ("ddr3", "ddr4", "lpddr2", "lpddr4", "lpddr5", "gddr5", "gddr6", "hbm2", "hbm2e", "hbm3")
STATUSES = ("published", "secondary", "derived", "assumed")
SCALING_KEYS = ("energy", "area", "leakage", "wire")
SRAM_ACTIONS = ("read", "write")


@dataclass(frozen=True, eq=False)
class TechTable:
    """One technology node's prices. Energies in pJ per op / access; areas in um^2 unless named mm2.

    Build it with :func:`load_tech`; ``scaled(node_nm)`` gives another node. Hashable by identity
    and picklable (it travels to dask workers inside a model).
    """

    name: str
    node_nm: float
    op_energy: Mapping[tuple[str, str], float]
    op_area: Mapping[tuple[str, str], float]
    mac_accumulator: Mapping[str, str]
    sram: SramModel
    register_pj_per_bit: float
    register_um2_per_bit: float
    dram: Mapping[str, float]
    wire_pj_per_bit_mm: float
    logic_leakage_w_per_um2: float
    node_scaling: Mapping[float, Mapping[str, float]] = field(default_factory=dict)
    source: str = ""
    description: str = ""

    # ----- arithmetic ------------------------------------------------------------------------
    def _dtype(self, dtype: str) -> str:
        if dtype not in DTYPES:
            raise UnknownNameError("dtype", str(dtype), DTYPES)
        return dtype

    def op_energy_pj(self, op: str, dtype: str) -> float:
        """Energy of one ``op`` (add | mult | mac) on ``dtype`` operands (pJ).

        ``mac`` = ``mult(dtype) + add(mac_accumulator[dtype])`` (e.g. int8 MAC accumulates in int32).
        """
        return self._per_op(self.op_energy, op, dtype)

    def op_area_um2(self, op: str, dtype: str) -> float:
        """Area of one ``op`` unit (um^2); ``mac`` = multiplier + accumulator adder."""
        return self._per_op(self.op_area, op, dtype)

    def _per_op(self, table, op: str, dtype: str) -> float:
        """Look ``op`` up in a per-(op, dtype) table; ``mac`` = mult + add at the accumulator type."""
        dtype = self._dtype(dtype)
        if op == "mac":
            return table[("mult", dtype)] + table[("add", self.mac_accumulator[dtype])]
        if op not in BASIC_OPS:
            raise UnknownNameError("op", str(op), OPS)
        return table[(op, dtype)]

    def op_leakage_w(self, op: str, dtype: str) -> float:
        """Static power of one ``op`` unit (W) = its area x logic leakage density."""
        return self.op_area_um2(op, dtype) * self.logic_leakage_w_per_um2

    # ----- storage ---------------------------------------------------------------------------
    def sram_energy_pj(self, capacity_bytes: float, width_bits: float, action: str = "read") -> float:
        """Energy of one ``width_bits`` access to a ``capacity_bytes`` SRAM (pJ); action read | write."""
        if action == "read":
            return self.sram.read_pj(capacity_bytes, width_bits)
        if action == "write":
            return self.sram.write_pj(capacity_bytes, width_bits)
        raise UnknownNameError("SRAM action", str(action), SRAM_ACTIONS)

    def sram_area_mm2(self, capacity_bytes: float, width_bits: float = 64) -> float:
        """Area of one ``capacity_bytes`` SRAM macro with a ``width_bits`` port (mm^2)."""
        return self.sram.area_um2(capacity_bytes, width_bits) * 1e-6

    def sram_leakage_w(self, capacity_bytes: float) -> float:
        """Static power of a ``capacity_bytes`` SRAM (W)."""
        return self.sram.leakage_w(capacity_bytes)

    def register_energy_pj(self, width_bits: float, action: str = "read") -> float:
        """Energy of one ``width_bits`` register(-file) access (pJ); reads and writes cost the same."""
        if action not in SRAM_ACTIONS:
            raise UnknownNameError("register action", str(action), SRAM_ACTIONS)
        _positive("register width_bits", width_bits)
        return self.register_pj_per_bit * width_bits

    def register_area_mm2(self, bits: float) -> float:
        """Area of ``bits`` of register storage (mm^2)."""
        _positive("register bits", bits)
        return self.register_um2_per_bit * bits * 1e-6

    def dram_energy_pj_per_bit(self, dram_type: str) -> float:
        """Energy per bit moved to / from off-chip DRAM of ``dram_type`` (pJ/bit)."""
        key = str(dram_type).lower()
        if key not in self.dram:
            raise UnknownNameError("DRAM type", str(dram_type), tuple(self.dram))
        return self.dram[key]

    def wire_energy_pj_per_bit_mm(self) -> float:
        """Energy to move one bit over 1 mm of on-chip wire (pJ/bit/mm)."""
        return self.wire_pj_per_bit_mm

    # ----- node scaling ----------------------------------------------------------------------
    def scaling_factors(self, node_nm: float) -> dict[str, float]:
        """Factors (energy, area, leakage, wire) from this table's node to ``node_nm``.

        Tabulated nodes are used as is; a node between two tabulated ones is interpolated
        geometrically (log factor linear in log node). Outside the table: :class:`ConfigError`.
        """
        _positive("node_nm", node_nm)
        if not self.node_scaling:
            raise ConfigError(f"tech table '{self.name}' has no node_scaling; cannot scale to {node_nm} nm")
        here = _interp_factors(self.node_scaling, float(self.node_nm), self.name)
        there = _interp_factors(self.node_scaling, float(node_nm), self.name)
        return {k: there[k] / here[k] for k in SCALING_KEYS}

    def scaled(self, node_nm: float, name: str | None = None) -> "TechTable":
        """This table moved to ``node_nm`` with the documented node factors (DRAM is not scaled)."""
        f = self.scaling_factors(node_nm)
        return replace(
            self,
            name=name or f"{self.name}->{_fmt(node_nm)}nm",
            node_nm=float(node_nm),
            op_energy={k: v * f["energy"] for k, v in self.op_energy.items()},
            op_area={k: v * f["area"] for k, v in self.op_area.items()},
            sram=self.sram.scaled(f["energy"], f["area"], f["leakage"]),
            register_pj_per_bit=self.register_pj_per_bit * f["energy"],
            register_um2_per_bit=self.register_um2_per_bit * f["area"],
            wire_pj_per_bit_mm=self.wire_pj_per_bit_mm * f["wire"],
            # static power per unit = area * density must scale by the leakage factor
            logic_leakage_w_per_um2=self.logic_leakage_w_per_um2 * f["leakage"] / f["area"],
        )

    def summary(self) -> dict[str, Any]:
        """The table's values as plain data (for reports and docs)."""
        return {
            "name": self.name,
            "node_nm": self.node_nm,
            "ops_pj": {f"{op}.{dt}": self.op_energy_pj(op, dt) for op in OPS for dt in DTYPES},
            "sram": {
                "energy_pj_ref": self.sram.energy_pj_ref,
                "beta": self.sram.beta,
                "alpha": self.sram.alpha,
                "reference_capacity_bytes": self.sram.reference_capacity_bytes,
                "reference_width_bits": self.sram.reference_width_bits,
                "write_read_ratio": self.sram.write_read_ratio,
                "area_um2_per_byte": self.sram.area_um2_per_byte,
                "area_um2_per_bit_width": self.sram.area_um2_per_bit_width,
                "leakage_w_per_byte": self.sram.leakage_w_per_byte,
            },
            "register_pj_per_bit": self.register_pj_per_bit,
            "dram_pj_per_bit": dict(self.dram),
            "wire_pj_per_bit_mm": self.wire_pj_per_bit_mm,
        }


# --------------------------------------------------------------------------------------------
# loading


def tech_names() -> list[str]:
    """Bundled technology table names (file stems in ``arch_configs/tech/``)."""
    return sorted(bundled(TECH_DIR))


_CACHE: dict[tuple[str, float], TechTable] = {}


def load_tech(source: "str | Path | TechTable") -> TechTable:
    """A :class:`TechTable` from a bundled name (``45nm``), a YAML path, or a table (returned as is)."""
    if isinstance(source, TechTable):
        return source
    path = _resolve(source)
    try:
        key = (str(path.resolve()), path.stat().st_mtime)
    except OSError:
        raise ConfigError(f"{path}: file not found") from None
    if key not in _CACHE:
        _CACHE[key] = _load_path(path, chain=())
    return _CACHE[key]


def _resolve(source: "str | Path") -> Path:
    if not isinstance(source, (str, Path)):
        raise ConfigError(f"tech table must be a name, a path or a TechTable; got {source!r}")
    text = str(source)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or "/" in text or "\\" in text:
        if not path.is_file():
            raise ConfigError(f"{path}: file not found")
        return path
    found = bundled(TECH_DIR)
    if text not in found:
        raise UnknownNameError("tech table", text, list(found))
    return found[text]


def _load_path(path: Path, chain: tuple[str, ...]) -> TechTable:
    data = read_yaml_file(path)
    src = str(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: a tech table must be a mapping; got {type(data).__name__}")
    if "base" in data:
        return _load_derived(path, data, chain)
    return _parse_table(data, src)


_DERIVED_KEYS = ("name", "base", "node_nm", "description", "dram")


def _load_derived(path: Path, data: dict, chain: tuple[str, ...]) -> TechTable:
    src = str(path)
    problems: list[str] = []
    for key in data:
        if key not in _DERIVED_KEYS:
            problems.append(f"{key}: unknown key for a derived table; valid keys: {', '.join(_DERIVED_KEYS)}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name:
        problems.append(f"name must be a non-empty string; got {name!r}")
    base = data.get("base")
    if not isinstance(base, str) or not base:
        problems.append(f"base must be a tech table name or path; got {base!r}")
    node = data.get("node_nm")
    if not _is_pos_number(node):
        problems.append(f"node_nm must be a number > 0; got {node!r}")
    dram_over = _parse_dram(data.get("dram", {}), problems, required=False)
    if problems:
        raise ConfigError(f"{src}: " + "; ".join(problems), [f"{src}: {p}" for p in problems])
    resolved = str(path.resolve())
    if resolved in chain:
        raise ConfigError(f"{src}: base: circular reference through {' -> '.join(chain + (resolved,))}")
    base_path = Path(base)
    if not base_path.suffix and "/" not in base:
        try:
            base_path = _resolve(base)
        except UnknownNameError as exc:
            raise ConfigError(f"{src}: base: {exc}") from None
    elif not base_path.is_absolute():
        base_path = path.parent / base_path
    if not base_path.is_file():
        raise ConfigError(f"{src}: base: file not found: {base_path}")
    parent = _load_path(base_path, chain + (resolved,))
    try:
        table = parent.scaled(float(node), name=name)
    except ConfigError as exc:
        raise ConfigError(f"{src}: node_nm: {exc}") from None
    desc = data.get("description") or f"{parent.name} scaled to {_fmt(node)} nm"
    if dram_over:
        table = replace(table, dram={**table.dram, **dram_over})
    return replace(table, source=src, description=str(desc))


def _parse_table(data: dict, src: str) -> TechTable:
    problems: list[str] = []
    known = ("name", "node_nm", "vdd_v", "description", "ops", "mac_accumulator", "sram", "register", "dram",
             "wire", "logic", "node_scaling")
    for key in data:
        if key not in known:
            problems.append(f"{key}: unknown key; valid keys: {', '.join(known)}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"name must be a non-empty string; got {name!r}")
    node = data.get("node_nm")
    if not _is_pos_number(node):
        problems.append(f"node_nm must be a number > 0; got {node!r}")

    op_energy: dict[tuple[str, str], float] = {}
    op_area: dict[tuple[str, str], float] = {}
    ops = _mapping(data, "ops", "ops", problems)
    for op in ops:
        if op not in BASIC_OPS:
            problems.append(f"ops.{op}: unknown op; expected one of {', '.join(BASIC_OPS)}")
    for op in BASIC_OPS:
        entries = _mapping(ops, op, f"ops.{op}", problems) if ops else {}
        for dt in entries:
            if dt not in DTYPES:
                problems.append(f"ops.{op}.{dt}: unknown dtype; expected one of {', '.join(DTYPES)}")
        for dt in DTYPES:
            path = f"ops.{op}.{dt}"
            if dt not in entries:
                if ops and op in ops:
                    problems.append(f"{path} is required")
                continue
            entry = entries[dt]
            if not isinstance(entry, dict):
                problems.append(f"{path} must be a mapping with energy_pj; got {entry!r}")
                continue
            e = _number(entry, "energy_pj", path, problems)
            a = _number(entry, "area_um2", path, problems)
            _provenance(entry, path, problems)
            if e is not None and a is not None:
                op_energy[(op, dt)] = e
                op_area[(op, dt)] = a

    acc = _mapping(data, "mac_accumulator", "mac_accumulator", problems)
    for dt, value in acc.items():
        if dt not in DTYPES:
            problems.append(f"mac_accumulator.{dt}: unknown dtype; expected one of {', '.join(DTYPES)}")
        elif value not in DTYPES:
            problems.append(f"mac_accumulator.{dt} must be one of {', '.join(DTYPES)}; got {value!r}")
    if acc:
        for dt in DTYPES:
            if dt not in acc:
                problems.append(f"mac_accumulator.{dt} is required")

    scaling = _parse_scaling(data.get("node_scaling"), node, problems)
    sram = _parse_sram(_mapping(data, "sram", "sram", problems), node, scaling, data.get("name"), problems)

    reg = _mapping(data, "register", "register", problems)
    reg_e = _valued(reg, "energy_pj_per_bit", "register", problems) if reg else None
    reg_a = _valued(reg, "area_um2_per_bit", "register", problems) if reg else None

    dram = _parse_dram(data.get("dram"), problems, required=True)

    wire = _mapping(data, "wire", "wire", problems)
    wire_e = _valued(wire, "pj_per_bit_mm", "wire", problems) if wire else None
    logic = _mapping(data, "logic", "logic", problems)
    leak = _valued(logic, "leakage_w_per_um2", "logic", problems) if logic else None

    if problems:
        raise ConfigError(f"{src}: " + "; ".join(problems), [f"{src}: {p}" for p in problems])
    return TechTable(
        name=name,
        node_nm=float(node),
        op_energy=op_energy,
        op_area=op_area,
        mac_accumulator=dict(acc),
        sram=sram,
        register_pj_per_bit=reg_e,
        register_um2_per_bit=reg_a,
        dram=dram,
        wire_pj_per_bit_mm=wire_e,
        logic_leakage_w_per_um2=leak,
        node_scaling=scaling,
        source=src,
        description=str(data.get("description", "")).strip(),
    )


def _parse_sram(sram: dict, node: Any, scaling: dict, name: Any, problems: list[str]) -> SramModel | None:
    if not sram:
        return None
    start = len(problems)
    known = ("energy_fit_points", "energy_check_points", "write_read_ratio", "area_fit_points",
             "area_check_points", "leakage_w_per_byte")
    for key in sram:
        if key not in known:
            problems.append(f"sram.{key}: unknown key; valid keys: {', '.join(known)}")
    here = float(node) if _is_pos_number(node) else None
    norm = {"scaling": scaling, "node": here, "name": str(name)}
    energy = _points(sram, "energy_fit_points", "read_pj", "energy", norm, problems, fit=True)
    e_check = _points(sram, "energy_check_points", "read_pj", "energy", norm, problems, fit=False)
    area = _points(sram, "area_fit_points", "area_um2", "area", norm, problems, fit=True)
    a_check = _points(sram, "area_check_points", "area_um2", "area", norm, problems, fit=False)
    ratio = _valued(sram, "write_read_ratio", "sram", problems)
    leak = _valued(sram, "leakage_w_per_byte", "sram", problems)
    if len(problems) > start:
        return None
    try:
        return SramModel.fitted(energy, area, ratio, leak, e_check, a_check)
    except ConfigError as exc:
        problems.append(f"sram: {exc}")
        return None


def _points(sram: dict, key: str, value_key: str, kind: str, norm: dict, problems: list[str], fit: bool) -> list[SramPoint]:
    """SRAM points of ``sram[key]``, values normalised to this table's node (energy or area factor)."""
    raw = sram.get(key)
    if raw is None:
        if fit:
            problems.append(f"sram.{key} is required")
        return []
    if not isinstance(raw, list):
        problems.append(f"sram.{key} must be a list of points; got {raw!r}")
        return []
    out: list[SramPoint] = []
    for i, p in enumerate(raw):
        path = f"sram.{key}[{i}]"
        if not isinstance(p, dict):
            problems.append(f"{path} must be a mapping; got {p!r}")
            continue
        ok = True
        allowed_keys = ("capacity_bytes", "width_bits", value_key, "status", "source", "rule", "node_nm")
        for k in p:
            if k not in allowed_keys:
                problems.append(f"{path}.{k}: unknown key; valid keys: {', '.join(allowed_keys)}")
                ok = False
        for k in ("capacity_bytes", "width_bits", value_key):
            if not _is_pos_number(p.get(k)):
                problems.append(f"{path}.{k} must be a number > 0; got {p.get(k)!r}")
                ok = False
        status = p.get("status")
        allowed = STATUSES if fit else STATUSES + ("unverified",)
        if status not in allowed:
            problems.append(f"{path}.status must be one of {', '.join(allowed)}; got {status!r}")
            ok = False
        if not p.get("source"):
            problems.append(f"{path}.source is required")
            ok = False
        value = float(p[value_key]) if ok else 0.0
        point_node = p.get("node_nm")
        if ok and point_node is not None and norm["node"] is not None and float(point_node) != norm["node"]:
            if not _is_pos_number(point_node):
                problems.append(f"{path}.node_nm must be a number > 0; got {point_node!r}")
                continue
            if not norm["scaling"]:
                problems.append(f"{path}.node_nm: normalising from {_fmt(point_node)} nm needs node_scaling")
                continue
            try:
                there = _interp_factors(norm["scaling"], float(point_node), norm["name"])[kind]
                here = _interp_factors(norm["scaling"], norm["node"], norm["name"])[kind]
            except ConfigError as exc:
                problems.append(f"{path}.node_nm: {exc}")
                continue
            value = value * here / there
        if ok:
            out.append(SramPoint(float(p["capacity_bytes"]), float(p["width_bits"]), value, str(status),
                                 str(p.get("source", "")), float(point_node) if point_node is not None else None,
                                 float(p[value_key])))
    if fit and len(out) < 2 and len(out) == len(raw):
        problems.append(f"sram.{key} needs at least two points; got {len(out)}")
    return out


def _parse_dram(raw: Any, problems: list[str], required: bool) -> dict[str, float]:
    if raw is None:
        if required:
            problems.append("dram is required")
        return {}
    if not isinstance(raw, dict):
        problems.append(f"dram must be a mapping of DRAM type -> {{pj_per_bit, source}}; got {raw!r}")
        return {}
    out = {}
    for key, entry in raw.items():
        path = f"dram.{key}"
        if key not in DRAM_TYPES:
            problems.append(f"{path}: unknown DRAM type; expected one of {', '.join(DRAM_TYPES)}")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{path} must be a mapping with pj_per_bit and source; got {entry!r}")
            continue
        v = entry.get("pj_per_bit")
        if not _is_pos_number(v):
            problems.append(f"{path}.pj_per_bit must be a number > 0; got {v!r}")
            continue
        if not entry.get("source"):
            problems.append(f"{path}.source is required")
            continue
        out[key] = float(v)
    if required:
        for key in DRAM_TYPES:
            if key not in raw:
                problems.append(f"dram.{key} is required")
    return out


def _parse_scaling(raw: Any, node: Any, problems: list[str]) -> dict[float, dict[str, float]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), dict):
        problems.append(f"node_scaling must be a mapping with 'source' and 'nodes'; got {raw!r}")
        return {}
    if not raw.get("source"):
        problems.append("node_scaling.source is required")
    out: dict[float, dict[str, float]] = {}
    for n, factors in raw["nodes"].items():
        path = f"node_scaling.nodes.{n}"
        if not _is_pos_number(n):
            problems.append(f"{path}: node must be a number > 0")
            continue
        if not isinstance(factors, dict):
            problems.append(f"{path} must be a mapping of {', '.join(SCALING_KEYS)}; got {factors!r}")
            continue
        row = {}
        for k in factors:
            if k not in SCALING_KEYS:
                problems.append(f"{path}.{k}: unknown factor; expected one of {', '.join(SCALING_KEYS)}")
        for k in SCALING_KEYS:
            v = factors.get(k)
            if not _is_pos_number(v):
                problems.append(f"{path}.{k} must be a number > 0; got {v!r}")
            else:
                row[k] = float(v)
        if len(row) == len(SCALING_KEYS):
            out[float(n)] = row
    if _is_pos_number(node) and out and float(node) not in out:
        problems.append(f"node_scaling.nodes must include this table's own node {_fmt(node)}")
    return out


def _interp_factors(table: Mapping[float, Mapping[str, float]], node: float, name: str) -> dict[str, float]:
    if node in table:
        return dict(table[node])
    nodes = sorted(table)
    if not nodes[0] <= node <= nodes[-1]:
        raise ConfigError(
            f"tech table '{name}' scales only to nodes in [{_fmt(nodes[0])}, {_fmt(nodes[-1])}] nm; got {_fmt(node)}"
        )
    lo = max(n for n in nodes if n < node)
    hi = min(n for n in nodes if n > node)
    t = (math.log(node) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return {k: math.exp((1 - t) * math.log(table[lo][k]) + t * math.log(table[hi][k])) for k in SCALING_KEYS}


# ----- small validation helpers ---------------------------------------------------------------


_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)\s*$")


def _as_number(v: Any) -> float | None:
    """``v`` as a float if it is a number, or a string YAML 1.1 left unparsed such as ``1e-9``."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and _NUMBER.match(v):
        return float(v)
    return None


def _is_pos_number(v: Any) -> bool:
    x = _as_number(v)
    return x is not None and math.isfinite(x) and x > 0


def _positive(what: str, v: Any) -> None:
    if not _is_pos_number(v):
        raise ConfigError(f"{what} must be a number > 0; got {v!r}")


def _fmt(x: Any) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _mapping(parent: dict, key: str, path: str, problems: list[str]) -> dict:
    value = parent.get(key)
    if value is None:
        problems.append(f"{path} is required")
        return {}
    if not isinstance(value, dict):
        problems.append(f"{path} must be a mapping; got {value!r}")
        return {}
    return value


def _number(entry: dict, key: str, path: str, problems: list[str]) -> float | None:
    v = entry.get(key)
    if v is None:
        problems.append(f"{path}.{key} is required")
        return None
    x = _as_number(v)
    if x is None or not math.isfinite(x) or x < 0:
        problems.append(f"{path}.{key} must be a number >= 0; got {v!r}")
        return None
    return x


def _provenance(entry: dict, path: str, problems: list[str]) -> None:
    status = entry.get("status")
    if status not in STATUSES:
        problems.append(f"{path}.status must be one of {', '.join(STATUSES)}; got {status!r}")
    elif status in ("published", "secondary") and not entry.get("source"):
        problems.append(f"{path}.source is required for a {status} value")
    elif status in ("derived", "assumed") and not entry.get("rule"):
        problems.append(f"{path}.rule is required for a {status} value")


def _valued(parent: dict, key: str, path: str, problems: list[str]) -> float | None:
    """A ``{value, status, source|rule}`` entry -> its value (number >= 0)."""
    entry = parent.get(key)
    full = f"{path}.{key}"
    if entry is None:
        problems.append(f"{full} is required")
        return None
    if not isinstance(entry, dict):
        problems.append(f"{full} must be a mapping with value, status and source or rule; got {entry!r}")
        return None
    value = _number(entry, "value", full, problems)
    _provenance(entry, full, problems)
    return value


__all__ = ["DRAM_TYPES", "DTYPES", "OPS", "TechTable", "load_tech", "tech_names"]
