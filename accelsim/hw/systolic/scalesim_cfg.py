"""Read a SCALE-Sim 3.0.0 ``.cfg`` into a systolic config dict (registered for the ``.cfg`` suffix).

Keys are read as SCALE-Sim's ``scale_config.read_conf_file`` reads them (configparser: option
names case-insensitive, section names not). SCALE-Sim 2 files (no ``[layout]`` / ``[sparsity]``
sections, which 3.0.0 would refuse) are read with their v2 meaning: the first ``Bandwidth`` value
feeds all three DRAM interfaces. Every other missing section or key and every value that is
not an integer where SCALE-Sim calls ``int()`` raises one :class:`~accelsim.errors.ConfigError`
naming the file, section and key. Range and choice checks (zero array dimensions, unknown
dataflow - which SCALE-Sim itself only warns about and then runs as ``os`` -, a bandwidth mode
other than CALC / USER) are done by the config validation; its messages name the file's section and key
with the mapped field after them (:func:`cfg_field_names`).

Mapping (docs/models/systolic.md §6): ArrayHeight/ArrayWidth -> array.rows/cols, Dataflow ->
array.dataflow, *SramSzkB -> sram.*_kb, *Offset -> sram.*_offset, InterfaceBandwidth ->
dram.bandwidth_mode, Bandwidth (first value) -> dram.ofmap_bw, IfmapSRAMBankBandwidth /
FilterSRAMBankBandwidth -> dram.ifmap_bw / filter_bw, Read/WriteRequestBuffer and
UseRamulatorTrace -> dram.*, the other [layout] keys -> layout.*, [sparsity] -> sparsity.*.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from accelsim.config import read_text_file
from accelsim.errors import ConfigError, close_names


#: the sections and keys SCALE-Sim 3.0.0's configs hold (configparser lowers option names) -> as written
KNOWN_KEYS: dict[str, dict[str, str]] = {sec: {k.lower(): k for k in keys} for sec, keys in {
    "general": ("run_name",),
    "architecture_presets": ("ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB",
                             "IfmapOffset", "FilterOffset", "OfmapOffset", "Bandwidth", "Dataflow", "MemoryBanks",
                             "OnChipMemoryBanks", "OnChipMemoryBankPorts", "ReadRequestBuffer", "WriteRequestBuffer"),
    "run_presets": ("InterfaceBandwidth", "UseRamulatorTrace"),
    "network_presets": ("TopologyCsvLoc",),
    "layout": ("IfmapCustomLayout", "FilterCustomLayout", "IfmapSRAMBankBandwidth", "IfmapSRAMBankNum",
               "IfmapSRAMBankPort", "FilterSRAMBankBandwidth", "FilterSRAMBankNum", "FilterSRAMBankPort"),
    "sparsity": ("SparsitySupport", "SparseRep", "OptimizedMapping", "BlockSize", "RandomNumberGeneratorSeed",
                 "NonZeroElems"),
}.items()}


#: config field -> (section, key) of the SCALE-Sim 3.0.0 .cfg that sets it (docs/models/systolic.md §6)
FIELD_KEYS: dict[str, tuple[str, str]] = {
    "run_name": ("general", "run_name"),
    "array.rows": ("architecture_presets", "ArrayHeight"), "array.cols": ("architecture_presets", "ArrayWidth"),
    "array.dataflow": ("architecture_presets", "Dataflow"),
    **{f"sram.{op}_{what}": ("architecture_presets", f"{op.capitalize()}{key}")
       for op in ("ifmap", "filter", "ofmap") for what, key in (("kb", "SramSzkB"), ("offset", "Offset"))},
    "dram.bandwidth_mode": ("run_presets", "InterfaceBandwidth"),
    "dram.use_ramulator_trace": ("run_presets", "UseRamulatorTrace"),
    "dram.ofmap_bw": ("architecture_presets", "Bandwidth"),
    "dram.ifmap_bw": ("layout", "IfmapSRAMBankBandwidth"), "dram.filter_bw": ("layout", "FilterSRAMBankBandwidth"),
    "dram.read_request_buffer": ("architecture_presets", "ReadRequestBuffer"),
    "dram.write_request_buffer": ("architecture_presets", "WriteRequestBuffer"),
    **{f"layout.{op}_{what}": ("layout", f"{op.capitalize()}{key}") for op in ("ifmap", "filter")
       for what, key in (("custom_layout", "CustomLayout"), ("bank_num", "SRAMBankNum"), ("bank_port", "SRAMBankPort"))},
    "sparsity.support": ("sparsity", "SparsitySupport"), "sparsity.representation": ("sparsity", "SparseRep"),
    "sparsity.optimized_mapping": ("sparsity", "OptimizedMapping"), "sparsity.block_size": ("sparsity", "BlockSize"),
    "sparsity.seed": ("sparsity", "RandomNumberGeneratorSeed"),
}


def cfg_field_names(path: str | Path) -> dict[str, str]:
    """How a ``.cfg`` spells each config field it sets (``array.rows`` -> ``[architecture_presets] ArrayHeight``), for
    messages about a value the config validation refuses. A SCALE-Sim 2 file (no ``[layout]``) sets the ifmap and
    filter bandwidths from its ``Bandwidth``; a key the file leaves out (a default) is not named."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(read_text_file(Path(path), ConfigError, "a SCALE-Sim .cfg"), source=str(path))
    except configparser.Error:
        return {}
    keys = dict(FIELD_KEYS)
    if not parser.has_section("layout"):
        keys["dram.ifmap_bw"] = keys["dram.filter_bw"] = ("architecture_presets", "Bandwidth")
    return {field: f"[{section}] {key}" for field, (section, key) in keys.items() if parser.has_option(section, key)}


def read_scalesim_cfg(path: str | Path) -> dict:
    """The systolic config dict of a SCALE-Sim ``.cfg`` (UTF-8, BOM and CRLF accepted).

    Values are read raw (no ``%`` interpolation, so ``run_name = 50%`` is just text); a section or
    key given twice is an error, as in SCALE-Sim's configparser.
    """
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None)
    text = read_text_file(path, ConfigError, "a SCALE-Sim .cfg")
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: malformed SCALE-Sim .cfg: {first}") from None

    for section in parser.sections():  # a misspelled key or section is refused, not skipped (SCALE-Sim skips it)
        known = KNOWN_KEYS.get(section)
        if known is None:
            close = close_names(section, KNOWN_KEYS, n=1)
            hint = f"; did you mean [{close[0]}]?" if close else f"; known: {', '.join(f'[{k}]' for k in KNOWN_KEYS)}"
            raise ConfigError(f"{path}: unknown section [{section}]{hint}")
        for option in parser.options(section):
            if option not in known:
                close = close_names(option, known, n=1)
                hint = f"; did you mean {known[close[0]]}?" if close else f"; known: {', '.join(known.values())}"
                raise ConfigError(f"{path}: [{section}] unknown key '{option}'{hint}")

    def get(section: str, key: str, default: str | None = None) -> str:
        if not parser.has_section(section):
            if default is not None:
                return default
            raise ConfigError(f"{path}: missing section [{section}]")
        if not parser.has_option(section, key):
            if default is not None:
                return default
            raise ConfigError(f"{path}: [{section}] is missing the key '{key}'")
        return parser.get(section, key).strip()

    def integer(section: str, key: str, default: str | None = None) -> int:
        raw = get(section, key, default)
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{path}: [{section}] {key} must be an integer; got {raw!r}") from None

    def boolean(section: str, key: str, default: str | None = None) -> bool:
        raw = get(section, key, default)
        low = raw.lower()
        if low in ("1", "yes", "true", "on"):
            return True
        if low in ("0", "no", "false", "off"):
            return False
        raise ConfigError(f"{path}: [{section}] {key} must be True or False; got {raw!r}")

    ap = "architecture_presets"
    # keys SCALE-Sim 3.0.0 does not read, nor this model: older files' MemoryBanks, the v3 repository's eyeriss.cfg's
    # OnChipMemoryBanks / OnChipMemoryBankPorts; an int >= 1, above 1 a warning
    for key, modelled in (("MemoryBanks", ": each SRAM is one bank"), ("OnChipMemoryBanks", ""),
                          ("OnChipMemoryBankPorts", "")):
        if parser.has_option(ap, key):
            count = integer(ap, key)
            if count < 1:
                raise ConfigError(f"{path}: [{ap}] {key} must be an int >= 1; got {count}")
            if count > 1:
                import warnings

                warnings.warn(f"{path}: [{ap}] {key} {count} is not modelled (SCALE-Sim 3.0.0 does not read it)"
                              f"{modelled}", stacklevel=2)
    mode = get("run_presets", "InterfaceBandwidth")
    # True / False as for the other flags: `true` or `yes` was read as False, any other word too (silently not asked)
    ramulator = boolean("run_presets", "UseRamulatorTrace", "False")
    # SCALE-Sim 2 files have no [layout] / [sparsity] sections and no request-buffer keys; there the
    # single Bandwidth value fed all three DRAM interfaces. Read them with those v2 meanings.
    v2 = not parser.has_section("layout")
    bw_default = None
    if v2:
        raw_bw = get(ap, "Bandwidth", "10")
        try:
            bw_default = str([int(x.strip()) for x in raw_bw.split(",")][0])
        except ValueError:
            raise ConfigError(f"{path}: [{ap}] Bandwidth must be a comma list of integers; got {raw_bw!r}") from None
    data: dict = {
        "name": path.stem,
        "family": "systolic",
        "run_name": get("general", "run_name"),
        "description": f"SCALE-Sim 3.0.0 config {path.name}",
        "source": str(path),
        "array": {"rows": integer(ap, "ArrayHeight"), "cols": integer(ap, "ArrayWidth"), "dataflow": get(ap, "Dataflow")},
        "sram": {
            "ifmap_kb": integer(ap, "IfmapSramSzkB"), "filter_kb": integer(ap, "FilterSramSzkB"),
            "ofmap_kb": integer(ap, "OfmapSramSzkB"), "ifmap_offset": integer(ap, "IfmapOffset"),
            "filter_offset": integer(ap, "FilterOffset"), "ofmap_offset": integer(ap, "OfmapOffset"),
        },
        "dram": {
            "bandwidth_mode": mode,
            "read_request_buffer": integer(ap, "ReadRequestBuffer", "32"),
            "write_request_buffer": integer(ap, "WriteRequestBuffer", "32"),
            "use_ramulator_trace": ramulator,
        },
    }
    lay = "layout"
    dflt = "False" if v2 else None
    data["layout"] = {
        "ifmap_custom_layout": boolean(lay, "IfmapCustomLayout", dflt),
        "filter_custom_layout": boolean(lay, "FilterCustomLayout", dflt),
        "ifmap_bank_num": integer(lay, "IfmapSRAMBankNum", "1" if v2 else None),
        "ifmap_bank_port": integer(lay, "IfmapSRAMBankPort", "2" if v2 else None),
        "filter_bank_num": integer(lay, "FilterSRAMBankNum", "1" if v2 else None),
        "filter_bank_port": integer(lay, "FilterSRAMBankPort", "2" if v2 else None),
    }
    data["dram"]["ifmap_bw"] = integer(lay, "IfmapSRAMBankBandwidth", bw_default)
    data["dram"]["filter_bw"] = integer(lay, "FilterSRAMBankBandwidth", bw_default)
    if v2:
        data["description"] += " (SCALE-Sim 2 format: no [layout] section; Bandwidth feeds all three interfaces)"
    if mode == "USER":
        raw = get(ap, "Bandwidth")
        try:
            data["dram"]["ofmap_bw"] = [int(x.strip()) for x in raw.split(",")][0]
        except ValueError:
            raise ConfigError(f"{path}: [{ap}] Bandwidth must be a comma list of integers; got {raw!r}") from None
    sp = "sparsity"
    support = boolean(sp, "SparsitySupport", "false")
    sparsity: dict = {"support": support}
    if support:
        sparsity["representation"] = get(sp, "SparseRep")
        sparsity["optimized_mapping"] = boolean(sp, "OptimizedMapping")
        if sparsity["optimized_mapping"]:
            sparsity["block_size"] = integer(sp, "BlockSize")
        sparsity["seed"] = integer(sp, "RandomNumberGeneratorSeed")
    data["sparsity"] = sparsity
    return data
