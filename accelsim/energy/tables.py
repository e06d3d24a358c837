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

The file format is declared as config classes (:class:`TechFile`, :class:`DerivedTechFile` and their
sections: every number with its unit and range, every status with its choices) and checked by
:mod:`accelsim.config`, so bad files raise one :class:`~accelsim.errors.ConfigError` naming the file
and every bad field (``45nm.yaml: ops.add.int8.energy_pj must be a number >= 0; got 'cheap'``);
unknown names (table, op, dtype, DRAM type) raise :class:`~accelsim.errors.UnknownNameError`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, make_dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from accelsim.config import NumberLoader, from_dict, param, read_yaml_file
from accelsim.energy.sram import SramModel, SramPoint
from accelsim.errors import ConfigError, UnknownNameError
from accelsim.paths import TECH_DIR, bundled, refuse_long_name

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
# file schema: every field declared with accelsim.config.param (type, range, choices, unit, doc),
# checked by accelsim.config, so a bad value reads "45nm.yaml: ops.add.int8.energy_pj must be a
# number >= 0; got 'cheap'". What needs the whole table (SRAM law fits, points published at another
# node) is checked after the fields, in _parse_table.


def _provenance(entry: Any) -> list[str]:
    """A published / secondary value names its source; a derived / assumed one its rule."""
    if entry.status in ("published", "secondary") and not entry.source:
        return [f"source is required for a {entry.status} value"]
    if entry.status in ("derived", "assumed") and not entry.rule:
        return [f"rule is required for a {entry.status} value"]
    return []


def _non_empty(entry: Any, *names: str) -> list[str]:
    return [f"{k} must be a non-empty string; got ''" for k in names if getattr(entry, k) == ""]


@dataclass(frozen=True)
class OpPrice:
    """``ops.<op>.<dtype>``: one arithmetic unit."""

    energy_pj: float = param(ge=0, le=1e6, unit="pJ", doc="energy of one operation (<= 1 uJ)")
    area_um2: float = param(ge=0, le=1e10, unit="um^2", doc="area of one unit (<= 100 cm^2, over any die)")
    status: str = param(choices=STATUSES, doc="provenance: published | secondary | derived | assumed")
    source: str = param("", doc="citation (required for published / secondary)")
    rule: str = param("", doc="how the value was obtained (required for derived / assumed)")

    def validate(self) -> list[str]:
        return _provenance(self)


@dataclass(frozen=True)
class Valued:
    """A ``{value, status, source | rule}`` entry; the unit is in the key that holds it (``*_pj_per_bit``)."""

    value: float = param(ge=0, le=1e6, unit="as the key names it",
                         doc="the number (<= 1e6: no ratio, per-bit, per-byte or per-um^2 figure comes near)")
    status: str = param(choices=STATUSES, doc="provenance: published | secondary | derived | assumed")
    source: str = param("", doc="citation (required for published / secondary)")
    rule: str = param("", doc="how the value was obtained (required for derived / assumed)")

    def validate(self) -> list[str]:
        return _provenance(self)


@dataclass(frozen=True, kw_only=True)
class _SramFigure:
    capacity_bytes: float = param(gt=0, le=2**40, unit="bytes", doc="SRAM capacity (<= 1 TiB)")
    width_bits: float = param(gt=0, le=65536, unit="bits", doc="port width of one access (<= 65536)")
    source: str = param(doc="citation of the figure")
    rule: str = param("", doc="how a derived figure was obtained")
    node_nm: float | None = param(None, gt=0, le=1e4, unit="nm",
                                   doc="node the figure was published at (default: the table's; <= 10 um)")

    def validate(self) -> list[str]:
        return _non_empty(self, "source")


@dataclass(frozen=True, kw_only=True)
class EnergyFitPoint(_SramFigure):
    """``sram.energy_fit_points[i]``: a read energy the SRAM energy law is fitted to."""

    read_pj: float = param(gt=0, le=1e6, unit="pJ", doc="energy of one read of width_bits (<= 1 uJ)")
    status: str = param(choices=STATUSES, doc="provenance: published | secondary | derived | assumed")


@dataclass(frozen=True, kw_only=True)
class EnergyCheckPoint(_SramFigure):
    """``sram.energy_check_points[i]``: a read energy only compared with the law."""

    read_pj: float = param(gt=0, le=1e6, unit="pJ", doc="energy of one read of width_bits (<= 1 uJ)")
    status: str = param(choices=STATUSES + ("unverified",), doc="provenance (unverified allowed: never fitted)")


@dataclass(frozen=True, kw_only=True)
class AreaFitPoint(_SramFigure):
    """``sram.area_fit_points[i]``: a macro area the SRAM area law is fitted to."""

    area_um2: float = param(gt=0, le=1e10, unit="um^2", doc="macro area (<= 100 cm^2)")
    status: str = param(choices=STATUSES, doc="provenance: published | secondary | derived | assumed")


@dataclass(frozen=True, kw_only=True)
class AreaCheckPoint(_SramFigure):
    """``sram.area_check_points[i]``: a macro area only compared with the law."""

    area_um2: float = param(gt=0, le=1e10, unit="um^2", doc="macro area (<= 100 cm^2)")
    status: str = param(choices=STATUSES + ("unverified",), doc="provenance (unverified allowed: never fitted)")


@dataclass(frozen=True, kw_only=True)
class SramSection:
    """``sram``: the points the SRAM laws are fitted to (and checked against) and two constants."""

    energy_fit_points: list[EnergyFitPoint] = param(doc="read energies the energy law is fitted to (>= 2)")
    energy_check_points: list[EnergyCheckPoint] | None = param(None, doc="read energies only compared")
    write_read_ratio: Valued = param(doc="write energy / read energy (dimensionless)")
    area_fit_points: list[AreaFitPoint] = param(doc="macro areas the area law is fitted to (>= 2)")
    area_check_points: list[AreaCheckPoint] | None = param(None, doc="macro areas only compared")
    leakage_w_per_byte: Valued = param(doc="static power per byte of capacity (W/B)")

    def validate(self) -> list[str]:
        return [f"{k} needs at least two points; got {len(getattr(self, k))}"
                for k in ("energy_fit_points", "area_fit_points") if len(getattr(self, k)) < 2]


@dataclass(frozen=True)
class RegisterSection:
    """``register``: register-file-class storage."""

    energy_pj_per_bit: Valued = param(doc="access energy per bit (pJ/bit)")
    area_um2_per_bit: Valued = param(doc="area per bit (um^2/bit)")


@dataclass(frozen=True)
class WireSection:
    """``wire``: on-chip wires."""

    pj_per_bit_mm: Valued = param(doc="energy to move one bit 1 mm (pJ/bit/mm)")


@dataclass(frozen=True)
class LogicSection:
    """``logic``: standard-cell logic."""

    leakage_w_per_um2: Valued = param(doc="static power density (W/um^2)")


@dataclass(frozen=True)
class DramPrice:
    """``dram.<type>``: off-chip access energy per bit, whole access incl. I/O."""

    pj_per_bit: float = param(gt=0, le=1e6, unit="pJ/bit", doc="energy per bit transferred (<= 1 uJ)")
    source: str = param(doc="citation or derivation")
    confidence: str | None = param(None, choices=("high", "medium", "low"), doc="how much the figure is trusted")

    def validate(self) -> list[str]:
        return _non_empty(self, "source")


@dataclass(frozen=True)
class NodeFactors:
    """``node_scaling.nodes.<node>``: factors relative to the table's reference node."""

    energy: float = param(gt=0, le=1e6, unit="x", doc="dynamic energy per op / access (factor <= 1e6)")
    area: float = param(gt=0, le=1e6, unit="x", doc="logic and SRAM area (factor <= 1e6)")
    leakage: float = param(gt=0, le=1e6, unit="x", doc="static power (factor <= 1e6)")
    wire: float = param(gt=0, le=1e6, unit="x", doc="on-chip wire energy per bit-mm (factor <= 1e6)")


@dataclass(frozen=True)
class NodeScaling:
    """``node_scaling``: node (nm) -> factors, and where they come from."""

    source: str = param(doc="citation of the factors")
    nodes: dict[float, NodeFactors] = param(doc="node (nm) -> factors")

    def validate(self) -> list[str]:
        return [f"nodes.{n}: node must be a number > 0" for n in self.nodes if not _is_pos_number(n)] + \
            _non_empty(self, "source")


def _keyed(name: str, keys: tuple[str, ...], tp: Any, doc: str, kind: str, required: bool, **meta: Any) -> type:
    """A config class with one field per key (``ops.add.<dtype>``, ``dram.<type>``); unknown keys
    are reported as unknown ``kind`` (``dram.ddr9: unknown DRAM type``)."""
    spec = [(k, tp, param(doc=f"{doc} {k}", **meta)) if required else (k, tp | None, param(None, doc=f"{doc} {k}", **meta))
            for k in keys]
    return make_dataclass(name, spec, frozen=True, namespace={"key_kind": kind, "__doc__": f"{doc} <{kind}>"})


OpsByDtype = _keyed("OpsByDtype", DTYPES, OpPrice, "unit for", "dtype", True)
MacAccumulator = _keyed("MacAccumulator", DTYPES, str, "accumulator dtype of a MAC on", "dtype", True, choices=DTYPES)
DramTable = _keyed("DramTable", DRAM_TYPES, DramPrice, "energy per bit of", "DRAM type", True)
DramOverrides = _keyed("DramOverrides", DRAM_TYPES, DramPrice, "replaces the base table's", "DRAM type", False)


@dataclass(frozen=True)
class OpTable:
    """``ops``: adders and multipliers per operand type (a MAC = mult + add at the accumulator type)."""

    add: OpsByDtype = param(doc="adder per operand dtype")  # type: ignore[valid-type]
    mult: OpsByDtype = param(doc="multiplier per operand dtype")  # type: ignore[valid-type]

    key_kind = "op"


@dataclass(frozen=True, kw_only=True)
class TechFile:
    """A base technology table file (see the module docstring and ``arch_configs/tech/45nm.yaml``)."""

    name: str = param(doc="table name")
    node_nm: float = param(gt=0, le=1e4, unit="nm", doc="technology node of the numbers (<= 10 um)")
    vdd_v: float | None = param(None, gt=0, le=100, unit="V", doc="supply voltage of the numbers (documentation; <= 100 V)")
    description: str = param("", doc="where the numbers come from")
    ops: OpTable = param(doc="arithmetic units")
    mac_accumulator: MacAccumulator = param(doc="accumulator dtype of a MAC per operand dtype")  # type: ignore[valid-type]
    sram: SramSection = param(doc="SRAM law fit points")
    register: RegisterSection = param(doc="register storage")
    dram: DramTable = param(doc="off-chip DRAM energy per type")  # type: ignore[valid-type]
    wire: WireSection = param(doc="on-chip wires")
    logic: LogicSection = param(doc="logic leakage")
    node_scaling: NodeScaling | None = param(None, doc="factors for scaled(node_nm)")

    def validate(self) -> list[str]:
        out = _non_empty(self, "name")
        if self.node_scaling is not None and float(self.node_nm) not in {float(n) for n in self.node_scaling.nodes}:
            out.append(f"node_scaling.nodes must include this table's own node {_fmt(self.node_nm)}")
        return out


@dataclass(frozen=True, kw_only=True)
class DerivedTechFile:
    """A table derived from another: ``base`` scaled to ``node_nm`` (e.g. ``arch_configs/tech/7nm.yaml``)."""

    name: str | None = param(None, doc="table name (default: the file name)")
    base: str = param(doc="tech table name or path (relative to this file) to scale")
    node_nm: float = param(gt=0, le=1e4, unit="nm", doc="node to scale the base table to (<= 10 um)")
    description: str = param("", doc="free text (default: '<base> scaled to <node> nm')")
    dram: DramOverrides | None = param(None, doc="DRAM entries replacing the base table's")  # type: ignore[valid-type]

    def validate(self) -> list[str]:
        return _non_empty(self, "name", "base")


# --------------------------------------------------------------------------------------------
# loading


def tech_names() -> list[str]:
    """Bundled technology table names (file stems in ``arch_configs/tech/``)."""
    return sorted(bundled(TECH_DIR))


# keyed by the file's identity (device, inode) and its mtime and size, from one stat: a path's
# resolve() costs ten stats, and a sweep builds a model per point
_CACHE: dict[tuple[int, int, int, int], TechTable] = {}


def load_tech(source: "str | Path | TechTable") -> TechTable:
    """A :class:`TechTable` from a bundled name (``45nm``), a YAML path, or a table (returned as is)."""
    if isinstance(source, TechTable):
        return source
    path = _resolve(source)
    try:
        st = path.stat()
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        raise ConfigError(f"{path}: file not found") from None
    if key not in _CACHE:
        _CACHE[key] = _load_path(path, chain=())
    return _CACHE[key]


def names_file(text: str) -> bool:
    """Whether a tech table source is a file path (else a bundled table's name, resolved in the package)."""
    return Path(text).suffix in (".yaml", ".yml") or "/" in text or "\\" in text


def _resolve(source: "str | Path") -> Path:
    if not isinstance(source, (str, Path)):
        raise ConfigError(f"tech table must be a name, a path or a TechTable; got {source!r}")
    text = str(source)
    refuse_long_name(text, ConfigError, "a bundled tech table name or a .yaml file")
    path = Path(text)
    if names_file(text):
        if not path.is_file():
            raise ConfigError(f"{path}: file not found")
        return path
    found = bundled(TECH_DIR)
    if text not in found:
        raise UnknownNameError("tech table", text, list(found))
    return found[text]


def tech_files(source: "str | Path") -> list[Path]:
    """The files a tech table named by ``source`` (a bundled name or a YAML path) is read from: the file, then its
    ``base`` chain, as :func:`load_tech` resolves them (what a result computed with it depends on; a sweep's
    ``inputs_hash`` digests them). Empty for a name or path that does not resolve (loading reports it)."""
    out: list[Path] = []
    try:
        path = _resolve(source)
    except (ConfigError, UnknownNameError):
        return out
    while path.is_file() and path.resolve() not in out:
        out.append(path.resolve())
        try:
            data = read_yaml_file(path, loader=NumberLoader)
        except ConfigError:
            break
        base = data.get("base") if isinstance(data, dict) else None
        if not isinstance(base, str):
            break
        try:
            path = _base_path(path, base)
        except (ConfigError, UnknownNameError):
            break
    return out


def _base_path(path: Path, base: str) -> Path:
    """The file a derived table at ``path`` names as its ``base``: a bundled name, or a path relative to ``path``'s
    folder (UnknownNameError for an unknown name)."""
    base_path = Path(base)
    if not base_path.suffix and "/" not in base:
        return _resolve(base)
    return base_path if base_path.is_absolute() else path.parent / base_path


def _load_path(path: Path, chain: tuple[str, ...]) -> TechTable:
    # NumberLoader: 1e-9 is a number (YAML 1.1 would leave it a string)
    data = read_yaml_file(path, loader=NumberLoader)
    src = str(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: a tech table must be a mapping; got {type(data).__name__}")
    if "base" in data:
        return _load_derived(path, data, chain)
    if "node_nm" in data and "ops" not in data:  # a derived file whose `base` is misspelled or missing
        from accelsim.errors import misspelling_of

        stray = misspelling_of("base", data)
        hint = f"'{stray}': unknown key; did you mean base?" if stray else "missing field 'base'"
        raise ConfigError(f"{src}: {hint} (a tech file with node_nm derives from a base table: base: 45nm)")
    return _parse_table(data, src)


def _raise(src: str, problems: list[str]) -> None:
    if problems:
        raise ConfigError(f"{src}: " + "; ".join(problems), [f"{src}: {p}" for p in problems])


def _load_derived(path: Path, data: dict, chain: tuple[str, ...]) -> TechTable:
    src = str(path)
    spec = from_dict(DerivedTechFile, data, src)
    name, base, node = spec.name or path.stem, spec.base, spec.node_nm
    dram_over = {k: getattr(spec.dram, k).pj_per_bit for k in (data.get("dram") or {})}
    resolved = str(path.resolve())
    if resolved in chain:
        raise ConfigError(f"{src}: base: circular reference through {' -> '.join(chain + (resolved,))}")
    try:
        base_path = _base_path(path, base)
    except UnknownNameError as exc:
        raise ConfigError(f"{src}: base: {exc}") from None
    if not base_path.is_file():
        raise ConfigError(f"{src}: base: file not found: {base_path}")
    parent = _load_path(base_path, chain + (resolved,))
    try:
        table = parent.scaled(node, name=name)
    except ConfigError as exc:
        raise ConfigError(f"{src}: node_nm: {exc}") from None
    desc = spec.description or f"{parent.name} scaled to {_fmt(node)} nm"
    if dram_over:
        table = replace(table, dram={**table.dram, **dram_over})
    return replace(table, source=src, description=str(desc))


def _parse_table(data: dict, src: str) -> TechTable:
    spec = from_dict(TechFile, data, src)  # every field problem at once
    scaling = {} if spec.node_scaling is None else {
        float(n): {k: getattr(f, k) for k in SCALING_KEYS} for n, f in spec.node_scaling.nodes.items()}
    problems: list[str] = []
    sram = _sram_model(spec.sram, spec.node_nm, scaling, spec.name, problems)
    _raise(src, problems)
    ops = spec.ops
    prices = {(op, dt): getattr(getattr(ops, op), dt) for op in BASIC_OPS for dt in DTYPES}
    return TechTable(
        name=spec.name,
        node_nm=spec.node_nm,
        op_energy={k: p.energy_pj for k, p in prices.items()},
        op_area={k: p.area_um2 for k, p in prices.items()},
        mac_accumulator={dt: getattr(spec.mac_accumulator, dt) for dt in data["mac_accumulator"]},
        sram=sram,
        register_pj_per_bit=spec.register.energy_pj_per_bit.value,
        register_um2_per_bit=spec.register.area_um2_per_bit.value,
        dram={k: getattr(spec.dram, k).pj_per_bit for k in data["dram"]},
        wire_pj_per_bit_mm=spec.wire.pj_per_bit_mm.value,
        logic_leakage_w_per_um2=spec.logic.leakage_w_per_um2.value,
        node_scaling=scaling,
        source=src,
        description=spec.description.strip(),
    )


def _sram_model(sram: SramSection, node: float, scaling: dict, name: str, problems: list[str]) -> SramModel | None:
    """Fit the SRAM laws to the section's points, each first normalised to this table's node."""
    norm = {"scaling": scaling, "node": node, "name": name}
    start = len(problems)
    energy = _points(sram.energy_fit_points, "energy_fit_points", "read_pj", "energy", norm, problems)
    e_check = _points(sram.energy_check_points or [], "energy_check_points", "read_pj", "energy", norm, problems)
    area = _points(sram.area_fit_points, "area_fit_points", "area_um2", "area", norm, problems)
    a_check = _points(sram.area_check_points or [], "area_check_points", "area_um2", "area", norm, problems)
    if len(problems) > start:
        return None
    try:
        return SramModel.fitted(energy, area, sram.write_read_ratio.value, sram.leakage_w_per_byte.value, e_check, a_check)
    except ConfigError as exc:
        problems.append(f"sram: {exc}")
        return None


def _points(points: list, key: str, value_key: str, kind: str, norm: dict, problems: list[str]) -> list[SramPoint]:
    """SRAM points, values normalised to this table's node (energy or area factor)."""
    out: list[SramPoint] = []
    for i, p in enumerate(points):
        raw = getattr(p, value_key)
        value = raw
        if p.node_nm is not None and p.node_nm != norm["node"]:
            path = f"sram.{key}[{i}].node_nm"
            if not norm["scaling"]:
                problems.append(f"{path}: normalising from {_fmt(p.node_nm)} nm needs node_scaling")
                continue
            try:
                there = _interp_factors(norm["scaling"], p.node_nm, norm["name"])[kind]
                here = _interp_factors(norm["scaling"], norm["node"], norm["name"])[kind]
            except ConfigError as exc:
                problems.append(f"{path}: {exc}")
                continue
            value = value * here / there
        out.append(SramPoint(p.capacity_bytes, p.width_bits, value, p.status, p.source, p.node_nm, raw))
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


__all__ = ["DRAM_TYPES", "DTYPES", "OPS", "DerivedTechFile", "TechFile", "TechTable", "load_tech", "tech_names"]
