"""Read a SCALE-Sim 3.0.0 ``.cfg`` into a systolic config dict (registered for the ``.cfg`` suffix).

Keys are read as SCALE-Sim's ``scale_config.read_conf_file`` reads them (configparser: option
names case-insensitive, section names not). Every missing section or key and every value that is
not an integer where SCALE-Sim calls ``int()`` raises one :class:`~accelsim.errors.ConfigError`
naming the file, section and key. Range and choice checks (zero array dimensions, unknown
dataflow - which SCALE-Sim itself only warns about and then runs as ``os`` -, a bandwidth mode
other than CALC / USER) are done by the config validation, which names the mapped field.

Mapping (docs/models/systolic.md §6): ArrayHeight/ArrayWidth -> array.rows/cols, Dataflow ->
array.dataflow, *SramSzkB -> sram.*_kb, *Offset -> sram.*_offset, InterfaceBandwidth ->
dram.bandwidth_mode, Bandwidth (first value) -> dram.ofmap_bw, IfmapSRAMBankBandwidth /
FilterSRAMBankBandwidth -> dram.ifmap_bw / filter_bw, Read/WriteRequestBuffer and
UseRamulatorTrace -> dram.*, the other [layout] keys -> layout.*, [sparsity] -> sparsity.*.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from accelsim.errors import ConfigError


def read_scalesim_cfg(path: str | Path) -> dict:
    path = Path(path)
    parser = configparser.ConfigParser()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read as a SCALE-Sim .cfg ({exc})") from None
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: malformed SCALE-Sim .cfg: {first}") from None

    def get(section: str, key: str) -> str:
        if not parser.has_section(section):
            raise ConfigError(f"{path}: missing section [{section}] (SCALE-Sim 3.0.0 requires it)")
        if not parser.has_option(section, key):
            raise ConfigError(f"{path}: [{section}] is missing the key '{key}'")
        return parser.get(section, key).strip()

    def integer(section: str, key: str) -> int:
        raw = get(section, key)
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{path}: [{section}] {key} must be an integer; got {raw!r}") from None

    def boolean(section: str, key: str) -> bool:
        raw = get(section, key)
        low = raw.lower()
        if low in ("1", "yes", "true", "on"):
            return True
        if low in ("0", "no", "false", "off"):
            return False
        raise ConfigError(f"{path}: [{section}] {key} must be True or False; got {raw!r}")

    ap = "architecture_presets"
    mode = get("run_presets", "InterfaceBandwidth")
    ramulator = get("run_presets", "UseRamulatorTrace") == "True"
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
            "read_request_buffer": integer(ap, "ReadRequestBuffer"),
            "write_request_buffer": integer(ap, "WriteRequestBuffer"),
            "use_ramulator_trace": ramulator,
        },
    }
    lay = "layout"
    data["layout"] = {
        "ifmap_custom_layout": boolean(lay, "IfmapCustomLayout"),
        "filter_custom_layout": boolean(lay, "FilterCustomLayout"),
        "ifmap_bank_num": integer(lay, "IfmapSRAMBankNum"), "ifmap_bank_port": integer(lay, "IfmapSRAMBankPort"),
        "filter_bank_num": integer(lay, "FilterSRAMBankNum"), "filter_bank_port": integer(lay, "FilterSRAMBankPort"),
    }
    data["dram"]["ifmap_bw"] = integer(lay, "IfmapSRAMBankBandwidth")
    data["dram"]["filter_bw"] = integer(lay, "FilterSRAMBankBandwidth")
    if mode == "USER":
        raw = get(ap, "Bandwidth")
        try:
            data["dram"]["ofmap_bw"] = [int(x.strip()) for x in raw.split(",")][0]
        except ValueError:
            raise ConfigError(f"{path}: [{ap}] Bandwidth must be a comma list of integers; got {raw!r}") from None
    sp = "sparsity"
    support = get(sp, "SparsitySupport").lower() == "true"
    sparsity: dict = {"support": support}
    if support:
        sparsity["representation"] = get(sp, "SparseRep")
        sparsity["optimized_mapping"] = get(sp, "OptimizedMapping").lower() == "true"
        if sparsity["optimized_mapping"]:
            sparsity["block_size"] = integer(sp, "BlockSize")
        sparsity["seed"] = integer(sp, "RandomNumberGeneratorSeed")
    data["sparsity"] = sparsity
    return data
