from dataclasses import dataclass, field

import pytest

from accelsim.config import apply_overrides, from_dict, param, parse_override
from accelsim.errors import ConfigError


@dataclass(frozen=True)
class _PE:
    index_bits: int = param(4, ge=1, le=16)
    mode: str = param("fast", choices=["fast", "slow"])


@dataclass(frozen=True)
class _Cfg:
    name: str = param()
    family: str = param("eie")
    clock_hz: float = param(1e9, gt=0)
    pe: _PE = param(_PE())


def test_defaults_and_nesting():
    cfg = from_dict(_Cfg, {"name": "x", "pe": {"index_bits": 8}})
    assert cfg.pe.index_bits == 8 and cfg.pe.mode == "fast" and cfg.clock_hz == 1e9


def test_every_problem_reported_with_path():
    with pytest.raises(ConfigError) as info:
        from_dict(_Cfg, {"name": "x", "clock_hz": -1, "pe": {"index_bits": 0, "mdoe": "x"}}, "eie.yaml")
    msg = str(info.value)
    assert msg.startswith("eie.yaml: ")
    assert "pe.index_bits must be an int in [1, 16]; got 0" in msg
    assert "clock_hz must be a number > 0; got -1" in msg
    assert "pe.mdoe: unknown key; did you mean mode?" in msg
    assert len(info.value.problems) == 3


def test_overrides():
    data = apply_overrides({"name": "x", "pe": {"index_bits": 4}}, ["pe.index_bits=6", "clock_hz=2e9"])
    assert from_dict(_Cfg, data).pe.index_bits == 6
    assert parse_override("a.b=true") == ("a.b", True)
    with pytest.raises(ConfigError):
        parse_override("novalue")
    with pytest.raises(ConfigError, match="required"):
        from_dict(_Cfg, {})
