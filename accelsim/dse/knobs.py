"""The DRAM bandwidth knobs of :mod:`accelsim.hw.knobs` where a sweep setting or ``--set`` strings carry them
(the expansion itself is the hardware layer's, which ``load_arch`` applies to its overrides)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from accelsim.hw import knobs as _knobs
from accelsim.hw.knobs import KNOBS, STREAMS, split_bandwidth
from accelsim.hw.registry import load_arch


def expand_overrides(arch: Any, overrides: Mapping[str, Any], where: str = "--set") -> dict[str, Any]:
    """:func:`accelsim.hw.knobs.expand_overrides` with the registry's ``load_arch``."""
    return _knobs.expand_overrides(arch, overrides, where, load_arch)


def has_knob(setting: Mapping[str, Any]) -> bool:
    """True when a sweep setting sets a knob (``arch.dram.bandwidth`` or ``arch.dram.bandwidth_gbps``)."""
    return any(f"arch.{k}" in setting for k in KNOBS)


def expand_setting(setting: Mapping[str, Any], where: str = "point") -> dict[str, Any]:
    """A sweep setting with its knob replaced by ``arch.*`` per-stream keys (the setting's arch and
    its other ``arch.*`` overrides resolve the clock, word size and current per-stream values)."""
    if not has_knob(setting):
        return dict(setting)
    overrides = {k[len("arch."):]: v for k, v in setting.items() if k.startswith("arch.")}
    expanded = expand_overrides(setting.get("arch"), overrides, where)
    out = {k: v for k, v in setting.items() if not k.startswith("arch.")}
    out.update({f"arch.{k}": v for k, v in expanded.items()})
    return out


def expand_cli_sets(arch: Any, sets: Sequence[str]) -> list[str]:
    """``--set KEY=VALUE`` strings with a knob expanded (values parsed as YAML, as ``--set`` does)."""
    if not any(item.partition("=")[0].strip().removeprefix("arch.") in KNOBS for item in sets):
        return list(sets)
    import json

    from accelsim.config import parse_override

    parsed = {k.removeprefix("arch."): v for k, v in (parse_override(item) for item in sets)}
    expanded = expand_overrides(arch, parsed, "--set")
    return [f"{k}={json.dumps(v)}" for k, v in expanded.items()]  # JSON is YAML: parsed back as given


__all__ = ["KNOBS", "STREAMS", "expand_cli_sets", "expand_overrides", "expand_setting", "has_knob", "split_bandwidth"]
