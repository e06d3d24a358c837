"""YAML / dict -> frozen dataclasses, validated once, every problem reported with its path.

A config class is a frozen dataclass whose fields are declared with :func:`param`, which records
the allowed type and range. :func:`from_dict` walks nested dataclasses, collects every problem
(wrong type, out of range, not one of the choices, unknown key with the nearest valid keys) and
raises one :class:`~accelsim.errors.ConfigError` whose message names the source and each dotted
path, e.g. ``arch_configs/eie/eie.yaml: pe.index_bits must be an int in [1, 16]; got 0``.
Cross-field rules go in the class's ``validate()`` method, which returns a list of problems, each
starting with the field it is about (``"n must be <= m; got 5 > 4"``); the path is prefixed.
A class may set ``key_kind`` (e.g. ``"dtype"``) to name what its keys are in unknown-key
problems (``ops.mult.int9: unknown dtype; did you mean int8?``). A field whose shape the type
spells poorly may name it with ``expect`` (``grid must be a mapping of axis -> list of values; got 3``).

:func:`collect` builds into a caller's problem list (to check many sections with different paths
in one pass); ``partial=True`` checks only the keys given (per-layer recipe overrides).
:func:`check_field` checks one value as a declared field of a class, at any path (an API object
built from the same declaration as its file form).

:func:`apply_overrides` applies dotted ``key=value`` settings (``--set array.rows=64``) to the raw
dict before validation, so overrides are checked exactly like file contents.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import numbers
import re
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from accelsim.errors import ConfigError

_MISSING = dataclasses.MISSING


def param(
    default: Any = _MISSING,
    *,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    choices: Iterable[Any] | None = None,
    unit: str = "",
    doc: str = "",
    expect: str = "",
) -> Any:
    """Declare a config field with its constraints (``ge``/``le`` closed and ``gt``/``lt`` open
    bounds, ``choices``), its ``unit`` and a one-line ``doc``.

    Bounds and choices of a list / tuple field apply to each item, of a mapping field to each value.
    ``expect`` words what the value must be when its type does not fit (default: derived from the
    type, e.g. ``a mapping``), for shapes such as ``a mapping of axis -> list of values``.
    """
    meta = {"ge": ge, "le": le, "gt": gt, "lt": lt, "choices": tuple(choices) if choices is not None else None,
            "unit": unit, "doc": doc, "expect": expect}
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    if dataclasses.is_dataclass(default) and not isinstance(default, type):
        value = default
        return dataclasses.field(default_factory=lambda: value, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# Every YAML input (arch configs, technology tables, workloads, recipes, sweep specs, ``--set``
# values) is read by :func:`read_yaml_file` / :func:`load_yaml_text` with these rules:
# * the text is UTF-8 (a leading BOM is dropped; CRLF and CR line ends read as LF); any other byte
#   is refused naming the file and the byte offset;
# * a key given twice in one mapping is an error naming both lines (PyYAML would keep the last);
# * size is bounded: a document of more than ``MAX_YAML_NODES`` nodes as written is refused from the parser's
#   events before it is built; one with more than ``MAX_YAML_ALIASES`` alias uses or whose aliases expand to
#   more than ``MAX_YAML_NODES`` nodes ("billion laughs") is refused, as is an alias inside the node it names
#   (a recursive structure).
MAX_YAML_ALIASES = 10_000
MAX_YAML_NODES = 1_000_000

# libyaml's safe loader when PyYAML was built with it (about 10x faster on the zoo files), else PyYAML's
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlRefused(Exception):
    """A YAML document that parses but is refused (duplicate key, alias bomb); the message has no file."""


class YamlLoader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader (libyaml's when available) that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        first: dict[Any, tuple[int, int]] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:  # ``<<: *base`` merges; explicit keys may override it
                continue
            key = self.construct_object(key_node, deep=True)
            mark = key_node.start_mark
            try:
                if key in first:
                    line, column = first[key]
                    where = f"column {column + 1}" if line == mark.line else f"line {line + 1}"
                    at = f", column {mark.column + 1}" if line == mark.line else ""
                    raise YamlRefused(f"duplicate key {key!r} at line {mark.line + 1}{at} (first at {where})")
            except TypeError:  # unhashable key: the base constructor words that error
                break
            first[key] = (mark.line, mark.column)
        return super().construct_mapping(node, deep=deep)


_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
# Booleans by the YAML 1.2 core schema too: ``true`` / ``false`` (any of its three casings). YAML 1.1 also reads
# ``yes`` / ``no`` / ``on`` / ``off`` as booleans (``country: NO`` is false); here they are strings, which a
# boolean field refuses naming the field.
_YAML12_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
# Numbers by the YAML 1.2 core schema (PyYAML implements YAML 1.1, which reads ``010`` as octal 8 and ``1:04`` as
# base-60 64): decimal ``[-+]?[0-9]+`` (``010`` is 10), ``0o`` octal, ``0x`` hex; floats with a point and / or an
# exponent (``1e-3`` too, which YAML 1.1 leaves a string), ``.inf`` / ``.nan``. Underscores between digits group
# them (``1_000_000``), as YAML 1.1 and Python allow. ``1:04``, ``0b101`` and ``1:30.5`` are strings (a field
# that wants a number refuses them naming the field).
_D = r"[0-9](?:_?[0-9])*"
_YAML12_INT = re.compile(rf"^(?:[-+]?{_D}|0o[0-7]+|0x[0-9a-fA-F]+)$")
_YAML12_FLOAT = re.compile(
    rf"^(?:[-+]?(?:\.{_D}|{_D}(?:\.(?:{_D})?)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


def _construct_int(loader: Any, node: Any) -> int:
    text = loader.construct_scalar(node)
    value = str(text).replace("_", "") if _YAML12_INT.match(str(text)) else ""
    try:
        if value.startswith(("0o", "0x")):
            return int(value[2:], 8 if value[1] == "o" else 16)
        return int(value, 10)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"{text!r} is not an integer (YAML 1.2: decimal, 0o octal or 0x hex)", node.start_mark) from None


def _construct_float(loader: Any, node: Any) -> float:
    text = str(loader.construct_scalar(node))
    value = text.replace("_", "").lower()
    special = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}
    if value in special:
        return special[value]
    if not _YAML12_FLOAT.match(text) and not _YAML12_INT.match(text):
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a number", node.start_mark)
    try:
        return float(int(value[2:], 8 if value[1] == "o" else 16)) if value.startswith(("0o", "0x")) else float(value)
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a number", node.start_mark) from None


# the one place YAML numbers and booleans are resolved: YAML 1.1's int / float / bool resolvers replaced by the 1.2
# core ones
YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT_TAG, _FLOAT_TAG, _BOOL_TAG)]
    for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()}
YamlLoader.add_implicit_resolver(_BOOL_TAG, _YAML12_BOOL, list("tTfF"))
YamlLoader.add_implicit_resolver(_INT_TAG, _YAML12_INT, list("-+0123456789"))
YamlLoader.add_implicit_resolver(_FLOAT_TAG, _YAML12_FLOAT, list("-+0123456789."))
YamlLoader.add_constructor(_INT_TAG, _construct_int)
YamlLoader.add_constructor(_FLOAT_TAG, _construct_float)

# kept under its old name
SAFE_LOADER = YamlLoader


class NumberLoader(YamlLoader):
    """:class:`YamlLoader` under its former name (the default of :func:`read_yaml_file` and :func:`load_yaml_text`).

    Every loader reads numbers by the YAML 1.2 core schema (see ``_YAML12_INT``): ``density: 1e-3`` is the
    number ``--set`` reads (quote it for a string), ``rows: 010`` is 10, ``1:04`` a string.
    """


def decode_text(data: bytes, source: str, error: type[Exception] = ConfigError) -> str:
    """UTF-8 ``data`` as text: a leading BOM dropped, CRLF / CR line ends turned into LF.

    Other bytes raise ``error``: ``<source>: not UTF-8 text (byte 0xff at offset 123)`` (offset in
    bytes from the start of the file).
    """
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        raise error(f"{source}: not UTF-8 text (byte 0x{data[offset]:02x} at offset {offset})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


#: the largest text input file read (a config, recipe, workload, sweep spec, SCALE-Sim .cfg / .csv): 64 MiB
MAX_TEXT_FILE_BYTES = 64 << 20


def read_text_file(path: str | Path, error: type[Exception] = ConfigError, what: str = "") -> str:
    """A text input file through :func:`decode_text`; a missing or unreadable file raises ``error``.

    ``what`` names the expected kind in the directory message (``a SCALE-Sim .cfg``).
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:  # (bounded: /dev/zero or a runaway pipe must not fill the memory)
            data = fh.read(MAX_TEXT_FILE_BYTES + 1)
        if len(data) > MAX_TEXT_FILE_BYTES:
            raise error(f"{path}: more than {MAX_TEXT_FILE_BYTES >> 20} MiB; expected a text input file"
                        f"{f' ({what})' if what else ''}")
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory{f', expected {what}' if what else ''}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    return decode_text(data, str(path), error)


def _children(node: Any) -> list:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _check_aliases(root: Any) -> None:
    """Refuse a composed document whose aliases go too far (see ``MAX_YAML_*``).

    The composer shares a node between its anchor and every alias, so an alias is a second
    reference to a node already walked. The expanded size of a node (1 + the expanded sizes of its
    children) is computed once per distinct node, depth first without recursion, so the walk costs
    the distinct nodes, not the expansion.
    """
    size: dict[int, int] = {}
    aliases = 0
    on_path = {id(root)}
    stack = [(root, iter(_children(root)))]
    while stack:
        node, pending = stack[-1]
        for child in pending:
            key = id(child)
            if key in on_path:
                raise YamlRefused(f"alias at line {child.start_mark.line + 1} refers to a node that contains it")
            if key in size:
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    raise YamlRefused(f"more than {MAX_YAML_ALIASES:,} aliases; refused")
                continue
            on_path.add(key)
            stack.append((child, iter(_children(child))))
            break
        else:
            stack.pop()
            on_path.discard(id(node))
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_YAML_NODES:
                if not aliases:  # (the count of _count_nodes refuses such a document first)
                    raise YamlRefused(f"more than {MAX_YAML_NODES:,} YAML nodes (keys, values, lists and mappings; "
                                      f"at line {node.start_mark.line + 1}); refused")
                raise YamlRefused(f"aliases expand to more than {MAX_YAML_NODES:,} nodes "
                                  f"(at line {node.start_mark.line + 1}); refused as an alias bomb")
            size[id(node)] = total


_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)


def _count_nodes(text: str, loader: type) -> None:
    """Refuse a document with more than ``MAX_YAML_NODES`` nodes as written (before any alias is expanded) from
    the parser's events, stopping at the first node over: composing a 10^6-layer workload took most of a minute
    before the expansion walk refused it (about 1 s of events per 1.5 million nodes)."""
    ld = loader(text)
    try:
        nodes = 0
        while ld.check_event():
            event = ld.get_event()
            if isinstance(event, _NODE_EVENTS):
                nodes += 1
                if nodes > MAX_YAML_NODES:
                    raise YamlRefused(f"more than {MAX_YAML_NODES:,} YAML nodes (keys, values, lists and mappings; "
                                      f"the limit is passed at line {event.start_mark.line + 1}); refused")
    finally:
        ld.dispose()


def _load(text: str, loader: type) -> Any:
    """One YAML document; yaml.YAMLError for syntax, YamlRefused for what the rules refuse."""
    # one shorter than a quarter of MAX_YAML_NODES characters has fewer nodes than that (every node but an
    # empty value takes a character): counted only when longer (a zoo network's file is under 20 kB)
    long_text = len(text) >= MAX_YAML_NODES // 4
    if long_text:
        _count_nodes(text, loader)
    ld = loader(text)
    try:
        node = ld.get_single_node()
        if node is None:
            return None
        # an alias is written `*name`: a text without `*` has none, and a short one has too few nodes for the
        # walk to refuse (a zoo network's file: 11 ms of a 41 ms load)
        if "*" in text or long_text:
            _check_aliases(node)
        return ld.construct_document(node)
    finally:
        ld.dispose()


def _yaml_error_text(exc: Exception) -> str:
    """One line for a PyYAML error: the problem and, when known, where."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
    return f"malformed YAML{where}: {problem}"


def load_yaml_text(text: str, source: str = "<text>", error: type[Exception] = ConfigError,
                   loader: type = NumberLoader) -> Any:
    """Parse YAML ``text`` read from ``source`` with the rules above; problems raise ``error`` (one line)."""
    text = (text[1:] if text.startswith("\ufeff") else text).replace("\r\n", "\n").replace("\r", "\n")
    try:
        return _load(text, loader)
    except YamlRefused as exc:
        raise error(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: {_yaml_error_text(exc)}") from None


def read_yaml_file(path: str | Path, error: type[Exception] = ConfigError, loader: type = NumberLoader) -> Any:
    """Read a YAML file (UTF-8, duplicate keys and alias bombs refused); every problem raises ``error``
    naming the file and, for syntax errors and duplicates, the line.

    ``loader`` is :class:`NumberLoader` (the default: ``1e-3`` is a number in every user file, as in ``--set``)
    or :class:`YamlLoader` (YAML 1.1's strings for exponents without a dot).
    """
    return load_yaml_text(read_text_file(path, error), str(path), error, loader)


def given(value: Any) -> str:
    """A value as a message quotes it: YAML's spelling for booleans and null (what the user wrote), else repr."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value)


#: the largest seed: 2^32 - 1, a 32-bit seed (a recipe's ``seed`` field, ``compress`` / ``simulate(seed=...)``,
#: ``--seed`` and a sweep point's ``seed`` all take this limit)
MAX_SEED = 2**32 - 1


def seed_problem(value: Any, what: str = "seed") -> str | None:
    """Why ``value`` is not a seed (an int in ``[0, MAX_SEED]``), in one line; None when it is one."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return f"{what} must be an int >= 0; got {given(value)}"
    if value > MAX_SEED:
        return f"{what} must be <= {MAX_SEED} (2^32 - 1: a 32-bit seed, as a recipe's seed); got {given(value)}"
    return None


def check_seed(seed: Any, what: str = "seed") -> int:
    """``seed`` (a NumPy integer too) as an int in ``[0, MAX_SEED]``, else a one-line ConfigError."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, int)):  # a NumPy integer
        seed = int(seed)
    problem = seed_problem(seed, what)
    if problem:
        raise ConfigError(problem)
    return seed


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(tp, "__name__", str(tp))


def _range_text(meta: Mapping[str, Any]) -> str:
    """``" in [0, 1)"``, ``" >= 1"``, ... for the bounds in ``meta`` ("" when unbounded)."""
    lo, hi, gt, lt = meta.get("ge"), meta.get("le"), meta.get("gt"), meta.get("lt")
    low = f"[{_num(lo)}" if lo is not None else (f"({_num(gt)}" if gt is not None else None)
    high = f"{_num(hi)}]" if hi is not None else (f"{_num(lt)})" if lt is not None else None)
    if low is not None and high is not None:
        return f" in {low}, {high}"
    if low is not None:
        return f" {'>=' if lo is not None else '>'} {low[1:]}"
    if high is not None:
        return f" {'<=' if hi is not None else '<'} {high[:-1]}"
    return ""


def _in_range(value: float, meta: Mapping[str, Any]) -> bool:
    lo, hi, gt, lt = meta.get("ge"), meta.get("le"), meta.get("gt"), meta.get("lt")
    return not ((lo is not None and value < lo) or (hi is not None and value > hi)
                or (gt is not None and value <= gt) or (lt is not None and value >= lt))


def _expected(tp: Any, meta: Mapping[str, Any]) -> str:
    """What a value of type ``tp`` with constraints ``meta`` must be, in words (for union types)."""
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is typing.Literal:
        args = typing.get_args(tp)
        return repr(args[0]) if len(args) == 1 else f"one of {', '.join(map(str, args))}"
    if meta.get("choices"):
        return f"one of {', '.join(map(str, meta['choices']))}"
    if tp is int:
        return "an int" + _range_text(meta)
    if tp is float:
        return "a number" + _range_text(meta)
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if origin in (list, tuple):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return _type_name(tp)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _item_meta(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    """The constraints of a list item / mapping value: the field's, less its ``expect`` wording."""
    return {k: v for k, v in meta.items() if k != "expect"} if meta.get("expect") else meta


def _is_mapping_type(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) or typing.get_origin(tp) is dict


def _convert(value: Any, tp: Any, path: str, meta: Mapping[str, Any], problems: list[str]) -> Any:
    """Check ``value`` against type ``tp`` and ``meta``; append problems; return the converted value."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    expect = meta.get("expect")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        candidates = [a for a in args if a is not type(None)]
        for cand in candidates:
            trial: list[str] = []
            out = _convert(value, cand, path, meta, trial)
            if not trial:
                return out
        mappings = [a for a in candidates if _is_mapping_type(a)]
        if len(candidates) == 1 or (isinstance(value, Mapping) and len(mappings) == 1):
            # one candidate of the value's kind: its own problems say more than "must be X or Y"
            return _convert(value, candidates[0] if len(candidates) == 1 else mappings[0], path, meta, problems)
        words = [expect] if expect else [_expected(a, meta) for a in args]
        text = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
        problems.append(f"{path} must be {text}; got {given(value)}")
        return value
    if origin is typing.Literal:
        if value not in args:
            problems.append(f"{path} must be one of {', '.join(map(str, args))}; got {given(value)}")
        return value
    if dataclasses.is_dataclass(tp):
        if expect and not isinstance(value, Mapping):
            problems.append(f"{path} must be {expect}; got {given(value)}")
            return None
        return _build(tp, value, f"{path}.", problems)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path} must be {expect or 'a list'}; got {given(value)}")
            return value
        meta = _item_meta(meta)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                problems.append(f"{path} must be a list of {len(args)} items; got {given(value)}")
                return tuple(value)
            return tuple(_convert(v, a, f"{path}[{i}]", meta, problems) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{path}[{i}]", meta, problems) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{path} must be {expect or 'a mapping'}; got {given(value)}")
            return value
        vt = args[1] if len(args) == 2 else Any
        meta = _item_meta(meta)
        return {k: _convert(v, vt, f"{path}.{key_text(k)}", meta, problems) for k, v in value.items()}
    if tp is Any:
        return value

    raw, ok = value, True  # problems quote the value as given (2, not 2.0)
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)  # numpy integers too
        if ok:
            value = int(value)
        elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value, ok = int(value), True
    elif tp is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)  # numpy numbers too
        if ok:
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                ok = False
    elif tp is str:
        ok = isinstance(value, str)
    choices = meta.get("choices")
    if not ok:
        expected = f"a {tp.__name__}" if tp in (int, float, str, bool) else _type_name(tp)
        if tp is int:
            expected = "an int"
        elif tp is bool:
            expected = "a bool (true or false)"
        elif tp is float:
            expected = "a number"
        if choices:
            expected = f"one of {', '.join(map(str, choices))}"
        rng = "" if expect or choices else _range_text(meta)
        if expect:
            expected = expect
        problems.append(f"{path} must be {expected}{rng}; got {given(raw)}")
        return value
    if choices is not None and value not in choices:
        problems.append(f"{path} must be one of {', '.join(map(str, choices))}; got {given(raw)}")
    if tp in (int, float) and not _in_range(value, meta):
        kind = "an int" if tp is int else "a number"
        problems.append(f"{path} must be {kind}{_range_text(meta)}; got {given(raw)}")
    return value


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict:
    """``typing.get_type_hints`` of a config class, resolved once (it re-evaluates annotations)."""
    return typing.get_type_hints(cls)


def key_text(key: Any) -> str:
    """A mapping key as it appears in a problem's path: as written when printable, else quoted
    (a key with a line break or a control character must not break the one-line message)."""
    text = str(key)
    return text if text and text.isprintable() else repr(key)


def _unknown_keys(cls: type, data: Mapping, fields: Mapping[str, Any], prefix: str, problems: list[str]) -> None:
    kind = getattr(cls, "key_kind", "key")
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=3, cutoff=0.5)
            if close:
                hint = f"; did you mean {' or '.join(close)}?"
            elif fields:
                hint = f"; valid {kind}s: {', '.join(sorted(fields))}"
            else:
                hint = f"; {prefix.rstrip('.') or 'it'} takes none"
            problems.append(f"{prefix}{key_text(key)}: unknown {kind}{hint}")


def _build(cls: type, data: Any, prefix: str, problems: list[str], partial: bool = False) -> Any:
    if not isinstance(data, Mapping):
        problems.append(f"{prefix.rstrip('.') or 'config'} must be a mapping; got {given(data)}")
        return {} if partial else None
    start = len(problems)
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    _unknown_keys(cls, data, fields, prefix, problems)
    if partial:
        return {name: _convert(data[name], hints[name], f"{prefix}{name}", f.metadata, problems)
                for name, f in fields.items() if name in data}
    for name, f in fields.items():
        path = f"{prefix}{name}"
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], path, f.metadata, problems)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            problems.append(f"{path} is required")
        elif dataclasses.is_dataclass(hints[name]) and f.default_factory is not _MISSING:
            kwargs[name] = f.default_factory()
    if any(p.startswith(prefix) for p in problems[start:]):
        return None
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        problems.append(f"{prefix or ''}{exc}")
        return None
    check = getattr(obj, "validate", None)
    if callable(check):
        for problem in check() or ():
            problems.append(f"{prefix}{problem}")
    return obj


def collect(cls: type, data: Any, problems: list[str], prefix: str = "", partial: bool = False) -> Any:
    """Build ``cls`` from ``data`` appending every problem (paths start with ``prefix``) to ``problems``.

    Returns the instance, or None when there were problems. ``partial=True`` checks only the keys
    present (type, range, choices; no required keys, defaults or ``validate()``) and returns a dict
    of the converted values (the valid ones).
    """
    return _build(cls, data, prefix, problems, partial)


def check_field(cls: type, name: str, value: Any, problems: list[str], path: str | None = None) -> Any:
    """Check ``value`` as the declared field ``name`` of config class ``cls`` (type, bounds, choices,
    ``expect``, nested sections and their ``validate()``), appending problems whose path is ``path``
    (default ``name``); return the converted value (as :func:`collect` would store it)."""
    f = next((f for f in dataclasses.fields(cls) if f.name == name), None)
    if f is None:
        raise KeyError(f"{cls.__name__} declares no field {name!r}")
    return _convert(value, _type_hints(cls)[name], path or name, f.metadata, problems)


def from_dict(cls: type, data: Any, source: str = "<config>") -> Any:
    """Build and validate a config dataclass; raise one ConfigError listing every problem."""
    problems: list[str] = []
    obj = _build(cls, data, "", problems)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems), [f"{source}: {p}" for p in problems])
    return obj


class _NotDerived(Exception):
    """derive(): the change needs the full build (its problems, or what derive does not handle)."""


@functools.lru_cache(maxsize=None)
def _leaf_type_ok(tp: Any) -> bool:
    """A field a dotted override may set by derive(): no mapping or section inside its type (once per type)."""
    return not _is_mapping_type(tp) and not any(_is_mapping_type(a) for a in typing.get_args(tp))


@functools.lru_cache(maxsize=None)
def _init_fields(cls: type) -> dict:
    """A config class's ``__init__`` fields by name (once per class)."""
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _derive(obj: Any, changes: dict, prefix: str) -> Any:
    cls = type(obj)
    hints = _type_hints(cls)
    fields = _init_fields(cls)
    kwargs: dict[str, Any] = {}
    for name, change in changes.items():
        f = fields.get(name)
        if f is None:
            raise _NotDerived
        tp = hints[name]
        if type(change) is _Changes:
            sub = getattr(obj, name)
            if not dataclasses.is_dataclass(tp) or type(sub) is not tp:
                raise _NotDerived
            kwargs[name] = _derive(sub, change, f"{prefix}{name}.")
        else:
            if not _leaf_type_ok(tp):
                raise _NotDerived
            problems: list[str] = []
            kwargs[name] = _convert(change, tp, f"{prefix}{name}", f.metadata, problems)
            if problems:
                raise _NotDerived
    try:
        new = dataclasses.replace(obj, **kwargs)
    except (TypeError, ValueError):
        raise _NotDerived from None
    check = getattr(new, "validate", None)
    if callable(check) and check():
        raise _NotDerived
    return new


class _Changes(dict):
    """derive(): the overrides of one section, by field name."""


def derive(base: Any, overrides: Mapping[str, Any]) -> Any:
    """``base`` (a config built by :func:`from_dict` from ``data``) with the dotted ``overrides`` set,
    equal to ``from_dict(type(base), apply_overrides(data, overrides))`` where that succeeds, built
    without re-checking the fields the overrides leave alone: each overridden leaf is checked as the
    full build checks it, and every section on its path is rebuilt and ``validate()``-d. Returns
    None where the full build must decide (any problem, so that its error message is the one
    reported; an override that names a section, a mapping field or an unknown key)."""
    tree = _Changes()
    if "tech" in overrides:  # a technology table is checked by the full build (hw.registry.config_from_dict)
        return None
    for key, value in overrides.items():
        parts = str(key).split(".")
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, _Changes())
            if type(child) is not _Changes:
                return None
            node = child
        if parts[-1] in node:
            return None
        node[parts[-1]] = value
    try:
        return _derive(base, tree, "")
    except _NotDerived:
        return None


def unknown_source_keys(config: Any, sources: Mapping[str, Any]) -> list[str]:
    """The keys of a config's ``sources`` table (citation per field) that name no field of ``config``: a dotted path
    through its sections and mapping fields (``efficiency.tensor``, ``tensor_flops_per_clk_per_sm.fp8``), one
    problem line each (a misspelled citation key would otherwise cite nothing)."""
    problems = []
    for key in sources:
        node: Any = config
        for part in str(key).split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif dataclasses.is_dataclass(node) and not isinstance(node, type) and part in _init_fields(type(node)):
                node = getattr(node, part)
            else:
                problems.append(f"sources.{key_text(key)}: names no field of this config (a citation must name the "
                                f"field it sources, e.g. sources.clock_mhz)")
                break
    return problems


def to_dict(obj: Any) -> Any:
    """A config as plain dicts / lists (the echo in results)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def parse_override(text: str) -> tuple[str, Any]:
    """``"array.rows=64"`` -> ``("array.rows", 64)``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. array.rows=64")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: the key must be a dotted path such as array.rows")
    try:
        return key, parse_value(raw)
    except YamlRefused as exc:
        raise ConfigError(f"--set {text!r}: {exc}") from None


def parse_value(raw: str) -> Any:
    """A command-line value read as YAML with the numbers of every YAML input (YAML 1.2 core: ``64``, ``2e9``,
    ``010`` is 10, ``0x40``; ``true``, ``[1, 2]``; text YAML cannot read stays text; a quoted value is a string:
    ``"1e3"``, ``"16"``). Used by ``--set`` and ``--param``."""
    try:
        return _load(raw, YamlLoader) if raw.strip() else ""
    except YamlRefused:
        raise
    except yaml.YAMLError:
        return raw


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    """Return a deep copy of ``data`` with dotted overrides applied (creating missing mappings)."""
    import copy

    out = copy.deepcopy(dict(data))
    if not overrides:
        return out
    items = overrides.items() if isinstance(overrides, Mapping) else (parse_override(o) for o in overrides)
    for key, value in items:
        node = out
        parts = str(key).split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {key}: '{part}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def declared(cls: type, prefix: str = "") -> list[tuple[str, Any, Mapping[str, Any], Any]]:
    """``(dotted path, type, constraints, default)`` of every leaf field of a config class
    (constraints: ``ge``/``le``/``gt``/``lt``/``choices``/``unit``/``doc``; default ``MISSING`` when
    required). Nested config classes are walked, as in :func:`field_paths`."""
    hints = _type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.extend(declared(tp, f"{prefix}{f.name}."))
        else:
            default = f.default if f.default is not _MISSING else (
                f.default_factory() if f.default_factory is not _MISSING else _MISSING)
            out.append((f"{prefix}{f.name}", tp, f.metadata, default))
    return out


def field_paths(cls: type, prefix: str = "") -> list[str]:
    """Every dotted field path of a config class (for 'did you mean' hints in sweeps)."""
    return [path for path, *_ in declared(cls, prefix)]