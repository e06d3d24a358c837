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


def test_user_files_read_exponents_as_numbers(tmp_path, run_cli):
    """`1e-3` in a recipe or an arch file is the number `--set` reads (YAML 1.1 left it a string: refused)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pipeline:\n  - prune: {density: 1e-3}\n")
    code, out, err = run_cli("compress", "--workload", "lenet-300-100", "--recipe", str(recipe), "--format", "json")
    assert code == 0, err
    arch = tmp_path / "a.yaml"
    arch.write_text("name: a\nfamily: eie\nclock_hz: 8e8\n")
    from accelsim.config import read_yaml_file
    assert read_yaml_file(arch)["clock_hz"] == 8e8
    assert read_yaml_file(recipe)["pipeline"][0]["prune"]["density"] == 1e-3


def test_booleans_and_null_quoted_as_written():
    with pytest.raises(ConfigError) as info:
        from_dict(_Cfg, {"name": "x", "clock_hz": True, "pe": {"index_bits": None}}, "eie.yaml")
    msg = str(info.value)
    assert "clock_hz must be a number > 0; got true" in msg
    assert "pe.index_bits must be an int in [1, 16]; got null" in msg
