"""Family name -> (config class, model class), and loading a hardware config by name or path.

A family registers itself when its package is imported (``accelsim/hw/<family>/__init__.py``
calls :func:`register_family`). YAML configs say ``family: systolic | eie | gpu``; a file reader
for another format (SCALE-Sim ``.cfg``) registers with :func:`register_reader`. Every config class
has ``name`` and ``family`` fields and is built by :func:`accelsim.config.from_dict`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from accelsim.config import apply_overrides, from_dict, read_yaml_file
from accelsim.errors import ConfigError, ModelNotAvailableError, UnknownNameError
from accelsim.paths import ARCH_DIR, bundled

FAMILY_MODULES = {
    "systolic": "accelsim.hw.systolic",
    "eie": "accelsim.hw.eie",
    "gpu": "accelsim.hw.gpu",
}


@dataclass(frozen=True)
class Family:
    name: str
    config_cls: type
    model_cls: type | None


_FAMILIES: dict[str, Family] = {}
_READERS: dict[str, Callable[[Path], dict]] = {}


def register_family(name: str, config_cls: type, model_cls: type | None = None) -> None:
    _FAMILIES[name] = Family(name, config_cls, model_cls)


def register_reader(suffix: str, reader: Callable[[Path], dict]) -> None:
    """Register a reader turning a non-YAML config file (e.g. ``.cfg``) into a config dict."""
    _READERS[suffix.lower()] = reader


def family(name: str) -> Family:
    if name not in _FAMILIES and name in FAMILY_MODULES:
        try:
            importlib.import_module(FAMILY_MODULES[name])
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("accelsim.hw"):
                raise ModelNotAvailableError(f"no hardware model for family '{name}' is available yet") from None
            raise
    if name not in _FAMILIES:
        raise UnknownNameError("hardware family", name, list(FAMILY_MODULES))
    return _FAMILIES[name]


def _bundled_archs() -> dict[str, Path]:
    """Bundled hardware configs (technology tables in ``arch_configs/tech/`` are not archs)."""
    return {k: v for k, v in bundled(ARCH_DIR).items() if v.parent.name != "tech"}


def arch_names() -> list[str]:
    return sorted(_bundled_archs())


def _arch_source(source: str | Path) -> Path:
    text = str(source)
    path = Path(text)
    found = _bundled_archs()
    if text in found and not path.is_file():
        return found[text]
    if path.suffix:
        return path
    if text not in found:
        raise UnknownNameError("arch", text, list(found))
    return found[text]


def load_arch_dict(source: str | Path) -> tuple[dict[str, Any], str]:
    """The raw config dict of a bundled name or file, and the source label for messages."""
    path = _arch_source(source)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        data = read_yaml_file(path)
    elif suffix in _READERS or suffix == ".cfg":
        if suffix not in _READERS:
            family("systolic")  # the systolic package registers the SCALE-Sim .cfg reader
        if suffix not in _READERS:
            raise ConfigError(f"{path}: no reader for '{suffix}' files")
        if not path.is_file():
            raise ConfigError(f"{path}: file not found")
        data = _READERS[suffix](path)
    else:
        raise ConfigError(f"{path}: unknown config file type '{suffix}'; expected .yaml or .cfg")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a hardware config must be a mapping with at least 'name' and 'family'")
    return data, str(path)


def load_arch(source: Any, overrides: Mapping[str, Any] | Iterable[str] | None = None):
    """Load and validate a hardware config (bundled name, .yaml, .cfg, dict or config object)."""
    if hasattr(source, "family") and not isinstance(source, (str, Path, dict)):
        if overrides:
            from accelsim.config import to_dict

            return load_arch(to_dict(source), overrides)
        return source
    if isinstance(source, dict):
        data, label = dict(source), "<dict>"
    else:
        data, label = load_arch_dict(source)
    data = apply_overrides(data, overrides)
    fam = data.get("family")
    if not isinstance(fam, str):
        raise ConfigError(f"{label}: family must be one of {', '.join(FAMILY_MODULES)}; got {fam!r}")
    if fam not in FAMILY_MODULES and fam not in _FAMILIES:
        raise ConfigError(f"{label}: family must be one of {', '.join(FAMILY_MODULES)}; got {fam!r}")
    return from_dict(family(fam).config_cls, data, label)


def build_model(config):
    """Instantiate the hardware model for a validated config."""
    fam = family(config.family)
    if fam.model_cls is None:
        raise ModelNotAvailableError(f"the '{config.family}' hardware model is not implemented yet")
    return fam.model_cls(config)
