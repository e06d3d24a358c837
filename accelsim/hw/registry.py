"""Hardware families, discovered; loading a hardware config by name or path.

A family is one folder: every subpackage of ``accelsim.hw`` (``accelsim/hw/<family>/``) is a family
package, and so is any module another distribution names under the entry-point group
``accelsim.families`` (``name = "package.module"``). Importing the package registers the family
with :func:`register_family` (its config class, its model class - a subclass of
:class:`accelsim.hw.base.HardwareModel` - and the module of its published reproductions) and any
config-file reader with :func:`register_reader` (e.g. SCALE-Sim ``.cfg``). Nothing outside a family
package names a family: ``dse``, ``validate`` and the CLI ask this registry.

YAML configs say ``family: <name>``; every config class has ``name`` and ``family`` fields and is
built by :func:`accelsim.config.from_dict`.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from accelsim.config import (YamlRefused, apply_overrides, from_dict, given, parse_override, parse_value, read_yaml_file,
                             to_dict)
from accelsim.errors import AccelsimError, ConfigError, ModelNotAvailableError, UnknownNameError, api_arguments
from accelsim.hw.knobs import KNOBS, expand_overrides
from accelsim.paths import ARCH_DIR, bundled, refuse_long_name

ENTRY_POINT_GROUP = "accelsim.families"


@dataclass(frozen=True)
class Family:
    """A registered hardware family.

    ``validation``: module path of the family's reproductions (a ``checks(quick) -> list[Check]``
    function), or None.
    """

    name: str
    config_cls: type
    model_cls: type | None
    validation: str | None = None


_FAMILIES: dict[str, Family] = {}
_READERS: dict[str, Callable[[Path], dict]] = {}
#: suffix -> a function giving, for a file of that type, how it spells each config field it sets
_FIELD_NAMES: dict[str, Callable[[Path], dict[str, str]]] = {}


def register_family(name: str, config_cls: type, model_cls: type | None = None, validation: str | None = None) -> None:
    """Register a family (called by the family package on import)."""
    _FAMILIES[name] = Family(name, config_cls, model_cls, validation)


def register_reader(suffix: str, reader: Callable[[Path], dict],
                    field_names: Callable[[Path], dict[str, str]] | None = None) -> None:
    """Register a reader turning a non-YAML config file (e.g. ``.cfg``) into a config dict; ``field_names(path)``,
    where given, maps each dotted config field the file sets to the file's own name for it (``array.rows`` ->
    ``[architecture_presets] ArrayHeight``), so that a value the validation refuses is named as the file spells it."""
    _READERS[suffix.lower()] = reader
    if field_names is not None:
        _FIELD_NAMES[suffix.lower()] = field_names


@lru_cache(maxsize=1)
def _discovered() -> dict[str, str]:
    """family name -> module path: the subpackages of ``accelsim.hw`` and the entry points."""
    package = __name__.rsplit(".", 1)[0]  # accelsim.hw, scanned as a folder (no import of the package)
    found = {m.name: f"{package}.{m.name}" for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.ispkg}
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            found.setdefault(ep.name, ep.value.split(":", 1)[0])
    except Exception:  # pragma: no cover - broken metadata of another distribution must not stop accelsim
        pass
    return dict(sorted(found.items()))


def family_names() -> list[str]:
    """Every family that can be loaded (discovered or registered), sorted."""
    return sorted(set(_discovered()) | set(_FAMILIES))


def family(name: str) -> Family:
    """The registered family ``name``, importing its package on first use."""
    if name not in _FAMILIES and name in _discovered():
        try:
            importlib.import_module(_discovered()[name])
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("accelsim.hw"):
                raise ModelNotAvailableError(f"no hardware model for family '{name}' is available yet") from None
            raise
    if name not in _FAMILIES:
        raise UnknownNameError("hardware family", name, family_names())
    return _FAMILIES[name]


def families() -> list[Family]:
    """Every family, imported and registered."""
    return [family(n) for n in family_names()]


def _bundled_archs() -> dict[str, Path]:
    """Bundled hardware configs (technology tables in ``arch_configs/tech/`` are not archs)."""
    return {k: v for k, v in bundled(ARCH_DIR).items() if v.parent.name != "tech"}


def arch_names() -> list[str]:
    return sorted(_bundled_archs())


def arch_path(source: str | Path) -> Path:
    """The file a bundled arch name or a path refers to (the file need not exist yet for a path)."""
    text = str(source)
    if not text.strip():
        raise ConfigError(f"arch: expected a bundled arch name or a config file (.yaml or a SCALE-Sim .cfg); got "
                          f"{text!r}")
    refuse_long_name(text, ConfigError, "a bundled arch name or a config file")
    path = Path(text)
    found = _bundled_archs()
    if text in found and not path.is_file():
        return found[text]
    if path.suffix:
        return path
    if text not in found:
        if path.is_dir():  # named as a directory (a path), not an unknown bundled name
            raise ConfigError(f"{path}: is a directory; expected a bundled arch name or a config file (.yaml or a "
                              "SCALE-Sim .cfg)")
        raise UnknownNameError("arch", text, list(found))
    return found[text]


def _reader(suffix: str) -> Callable[[Path], dict] | None:
    if suffix not in _READERS:
        families()  # readers register when their family package is imported
    return _READERS.get(suffix)


def load_arch_dict(source: str | Path) -> tuple[dict[str, Any], str]:
    """The raw config dict of a bundled name or file, and the source label for messages."""
    path = arch_path(source)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        data = read_yaml_file(path)
    else:
        reader = _reader(suffix)
        if reader is None:
            known = ", ".join([".yaml", *sorted(_READERS)])
            raise ConfigError(f"{path}: unknown config file type '{suffix}'; expected one of {known}")
        if not path.is_file():
            raise ConfigError(f"{path}: is a directory, expected a {suffix} file" if path.is_dir() else f"{path}: file not found")
        data = reader(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a hardware config must be a mapping with at least 'name' and 'family'")
    return data, str(path)


def _in_file_terms(exc: ConfigError, label: str, overridden: Iterable[str]) -> ConfigError:
    """``exc`` with each config field a non-YAML file set (not an override) named as that file spells it, the field
    after it: ``[architecture_presets] ArrayHeight (array.rows) must be ...``; ``exc`` itself for other sources."""
    names_of = _FIELD_NAMES.get(Path(label).suffix.lower())
    if names_of is None or not Path(label).is_file():
        return exc
    try:
        names = names_of(Path(label))
    except AccelsimError:
        return exc
    skip = tuple(overridden)
    names = {field: spelled for field, spelled in names.items()
             if not any(field == key or field.startswith(f"{key}.") for key in skip)}
    if not names:
        return exc
    pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(f) for f in sorted(names, key=len, reverse=True))
                         + r")(?![\w.])")

    def spell(text: str) -> str:
        return pattern.sub(lambda m: f"{names[m.group(1)]} ({m.group(1)})", text)

    return ConfigError(spell(str(exc)), [spell(p) for p in exc.problems])


def config_from_dict(data: Mapping[str, Any], label: str, overridden: Iterable[str] = ()):
    """Validate a raw config dict against its family's config class (``overridden``: the dotted fields overrides
    set, named as fields in messages even where the file has a name of its own for them)."""
    fam = data.get("family")
    names = family_names()
    if "family" not in data:
        raise ConfigError(f"{label}: missing field 'family' (one of {', '.join(names)})")
    if not isinstance(fam, str) or fam not in names:
        raise ConfigError(f"{label}: family must be one of {', '.join(names)}; got {given(fam)}")
    try:
        config = from_dict(family(fam).config_cls, data, label)
    except ConfigError as exc:
        raise _in_file_terms(exc, label, overridden) from None
    tech = getattr(config, "tech", None)
    if isinstance(tech, str):  # a technology table the model will price with: named here, with the file and field
        from accelsim.energy.tables import load_tech

        try:
            load_tech(tech)
        except AccelsimError as exc:
            raise ConfigError(f"{label}: field 'tech': {exc}") from None
    return config


def _names_override(key: str, message: str) -> bool:
    """Whether a config error is about the override ``key``: it names the dotted key, or (a cross-field rule of a
    section, ``encoding.codebook_entries (16) must be <= 2**weight_index_bits (2)``) the key's section and its
    field name as a word."""
    if key in message:
        return True
    parts = key.split(".")  # a misspelled section the override made: "arrayy: unknown key" for arrayy.rows
    if any(re.search(rf"(?<![\w.]){re.escape('.'.join(parts[:i]))}: unknown key", message) for i in range(1, len(parts))):
        return True
    section, _, leaf = key.rpartition(".")
    return bool(section) and bool(re.search(rf"(?<![\w.]){re.escape(section)}\.", message)) and bool(
        re.search(rf"(?<![\w.]){re.escape(leaf)}(?!\w)", message))


def override_items(overrides: Mapping[str, Any] | Iterable[str]) -> list[tuple[str, Any]]:
    """The ``(dotted key, value)`` pairs of a config's overrides, as the API (a mapping of dotted keys, or
    ``key=value`` strings) and ``--set`` give them: a key may carry a sweep spec's ``arch.`` prefix
    (``arch.array.rows`` is ``array.rows``); a key that is not a dotted name, an item that is not a string,
    and two keys that set the same field (``array.rows`` twice, or ``array`` and ``array.rows``, whose result
    would depend on their order) raise :class:`ConfigError` naming them."""
    if isinstance(overrides, Mapping):
        raw = list(overrides.items())
    else:
        raw = []
        for item in overrides:
            if not isinstance(item, str):
                raise ConfigError(f"overrides: each item of a list must be a 'key=value' string such as "
                                  f"'array.rows=64'; got {given(item)}")
            raw.append(parse_override(item))
    items: list[tuple[str, Any]] = []
    seen: dict[str, str] = {}
    for key, value in raw:
        if not isinstance(key, str) or not key.strip() or any(not part for part in key.strip().split(".")):
            raise ConfigError(f"overrides: a key must be a dotted field path such as 'array.rows'; got {given(key)}")
        path = key.strip()
        path = path[len("arch."):] if path.startswith("arch.") else path
        for other, first in seen.items():
            if other == path:
                spelled = f" (as {given(first)} and {given(key)})" if first != key else ""
                raise ConfigError(f"overrides (--set): {path} given twice{spelled}; give it once")
            if other.startswith(path + ".") or path.startswith(other + "."):
                raise ConfigError(f"overrides (--set): {given(first)} and {given(key)} both set "
                                  f"{max(other, path, key=len)}; give it once")
        seen[path] = key
        items.append((path, value))
    return items


@api_arguments
def load_arch(source: Any, overrides: Mapping[str, Any] | Iterable[str] | None = None):
    """Load and validate a hardware config (bundled name, .yaml, .cfg, dict or config object)."""
    if overrides is not None and not isinstance(overrides, Mapping) and (
            isinstance(overrides, (str, bytes)) or not isinstance(overrides, Iterable)):
        raise ConfigError(f"overrides must be a mapping of dotted keys to values or a list of 'key=value' strings; "
                          f"got {given(overrides)}")
    if hasattr(source, "family") and not isinstance(source, (str, Path, dict)):
        if not dataclasses.is_dataclass(source):
            raise ConfigError(f"a hardware config must be a bundled name, a file path, a mapping or a config object; "
                              f"got {type(source).__name__}")
        # validated again: a config object may have been changed (dataclasses.replace) since it was loaded
        data, label = to_dict(source), f"config '{getattr(source, 'name', '?')}'"
    elif isinstance(source, dict):
        data, label = dict(source), "<dict>"
    else:
        data, label = load_arch_dict(source)
    if not overrides:
        return config_from_dict(data, label)
    items = override_items(overrides)
    if any(k in KNOBS for k, _ in items):  # a DRAM bandwidth knob: the per-stream keys, as --set and sweeps expand it
        items = list(expand_overrides(source, dict(items), "overrides", load_arch).items())
    try:
        return config_from_dict(apply_overrides(data, dict(items)), label, [k for k, _ in items])
    except ConfigError as exc:
        # a value an override (--set) gave is named as given there, not as if the file held it
        named = [f"{k}={_echo(v)}" for k, v in items if _names_override(str(k), str(exc))]
        if not named or not str(exc).startswith(f"{label}: "):
            raise
        text = str(exc)[len(label) + 2:]
        raise ConfigError(f"{label} with override {', '.join(named)}: {text}", exc.problems) from None


def _echo(value: Any) -> str:
    """An override's value as ``--set`` spells it: a string plain unless it reads as something else unquoted
    (``array.rows="16"`` echoed ``array.rows=16`` looked like the int the message says it is not), else quoted."""
    if not (isinstance(value, str) and value.isprintable()):
        return given(value)
    try:
        plain = parse_value(value) == value  # as --set reads it (YAML 1.2 numbers: 1:04 stays text)
    except (AccelsimError, YamlRefused):  # text --set would refuse unquoted (a duplicate key): it was quoted
        plain = False
    return value if plain else json.dumps(value)


def build_model(config):
    """Instantiate the hardware model for a validated config."""
    fam = family(config.family)
    if fam.model_cls is None:
        raise ModelNotAvailableError(f"the '{config.family}' hardware model is not implemented yet")
    return fam.model_cls(config)
