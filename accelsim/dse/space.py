"""Design spaces: a base setting plus axes of dotted overrides, expanded into points.

A *setting* is a flat mapping of dotted keys to values. For the default evaluator (see
:mod:`accelsim.dse.evaluate`) the keys are ``arch`` (bundled name, path or inline mapping),
``arch.<dotted config path>`` (an override such as ``arch.array.rows``), ``workload``, ``recipe``,
``recipe.<step>.<param>`` (a parameter of the recipe's pipeline step, such as ``recipe.prune.density``),
``batch`` and ``seed``; keys under ``tag.`` are free labels carried into the results. A custom
evaluate callable may use any keys.

A :class:`Space` is ``base`` plus a list of *axes blocks*; its points are the cross product of the
blocks' point lists, each merged over ``base``:

- :class:`Grid` - the cartesian product of its value lists;
- :class:`Zip` - value lists of equal length taken in lockstep;
- :class:`Random` - ``n`` points sampled with a fixed seed (choices, or uniform / log-uniform ranges);
- :class:`Points` - an explicit list of settings.

:class:`Union` concatenates spaces (e.g. one per hardware family, whose override keys differ).
Each point has a stable id: a hash of its full setting, so a resumed sweep recognizes finished
points whatever their order.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random as _random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from accelsim.errors import SweepError

_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any, where: str) -> Any:
    """A JSON-able copy of an axis value (NumPy scalars become Python scalars)."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise SweepError(f"{where}: values must be finite; got {value!r}")
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise SweepError(f"{where}: values must be numbers, strings, booleans, lists or mappings; got {type(value).__name__}")


def point_id(setting: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit id of a setting: SHA-256 of its canonical JSON (sorted keys)."""
    text = json.dumps(setting, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Point:
    """One design point: its position in the space, its id and its full setting."""

    index: int
    id: str
    setting: dict[str, Any]
    source: str = ""  # where in the spec the point came from, for error messages


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise SweepError(f"{where}: axis names must be dotted paths such as arch.array.rows; got {key!r}")
    return key


def _check_values(key: str, values: Any, where: str) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable) or isinstance(values, Mapping):
        raise SweepError(f"{where}.{key}: expected a list of values; got {values!r}")
    values = list(values)
    if not values:
        raise SweepError(f"{where}.{key}: the axis is empty; give at least one value")
    return [_plain(v, f"{where}.{key}") for v in values]


class Axes:
    """A block of axes producing a list of partial settings."""

    where = "axes"

    def settings(self) -> list[dict[str, Any]]:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def keys(self) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError


class Grid(Axes):
    """Cartesian product of ``{dotted key: [values]}`` (first key varies slowest)."""

    def __init__(self, axes: Mapping[str, Sequence[Any]], where: str = "grid"):
        if not isinstance(axes, Mapping) or not axes:
            raise SweepError(f"{where}: expected a mapping of dotted key -> list of values; got {axes!r}")
        self.where = where
        self.axes = {_check_key(k, where): _check_values(k, v, where) for k, v in axes.items()}

    @property
    def keys(self) -> list[str]:
        return list(self.axes)

    def settings(self) -> list[dict[str, Any]]:
        keys = list(self.axes)
        return [dict(zip(keys, combo)) for combo in itertools.product(*self.axes.values())]


class Zip(Axes):
    """Value lists of equal length, taken in lockstep (point i uses the i-th value of every key)."""

    def __init__(self, axes: Mapping[str, Sequence[Any]], where: str = "zip"):
        if not isinstance(axes, Mapping) or not axes:
            raise SweepError(f"{where}: expected a mapping of dotted key -> list of values; got {axes!r}")
        self.where = where
        self.axes = {_check_key(k, where): _check_values(k, v, where) for k, v in axes.items()}
        lengths = {k: len(v) for k, v in self.axes.items()}
        if len(set(lengths.values())) > 1:
            text = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise SweepError(f"{where}: zipped axes must have equal lengths; {text}")

    @property
    def keys(self) -> list[str]:
        return list(self.axes)

    def settings(self) -> list[dict[str, Any]]:
        keys = list(self.axes)
        return [dict(zip(keys, combo)) for combo in zip(*self.axes.values())]


class Random(Axes):
    """``n`` points sampled with ``seed``; each axis is ``{choices: [...]}`` or ``{low, high[, log][, int]}``.

    ``log: true`` samples log-uniformly (``low`` > 0); ``int: true`` rounds to an integer. The same
    seed always yields the same points.
    """

    def __init__(self, axes: Mapping[str, Any], n: int, seed: int = 0, where: str = "random"):
        self.where = where
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SweepError(f"{where}.n must be an int >= 1; got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise SweepError(f"{where}.seed must be an int; got {seed!r}")
        if not isinstance(axes, Mapping) or not axes:
            raise SweepError(f"{where}.axes: expected a mapping of dotted key -> distribution; got {axes!r}")
        self.n, self.seed = n, seed
        self.axes: dict[str, dict[str, Any]] = {}
        for key, dist in axes.items():
            _check_key(key, f"{where}.axes")
            path = f"{where}.axes.{key}"
            if isinstance(dist, (list, tuple)):
                dist = {"choices": dist}
            if not isinstance(dist, Mapping):
                raise SweepError(f"{path}: expected {{choices: [...]}} or {{low: x, high: y}}; got {dist!r}")
            unknown = set(dist) - {"choices", "low", "high", "log", "int"}
            if unknown:
                raise SweepError(f"{path}: unknown key {sorted(unknown)[0]!r}; valid keys: choices, high, int, log, low")
            if "choices" in dist:
                self.axes[key] = {"choices": _check_values("choices", dist["choices"], path)}
                continue
            lo, hi = dist.get("low"), dist.get("high")
            for name, v in (("low", lo), ("high", hi)):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise SweepError(f"{path}.{name} must be a number; got {v!r}")
            if hi < lo:
                raise SweepError(f"{path}: high ({hi}) must be >= low ({lo})")
            log, as_int = dist.get("log", False), dist.get("int", False)
            for name, v in (("log", log), ("int", as_int)):
                if not isinstance(v, bool):
                    raise SweepError(f"{path}.{name} must be true or false; got {v!r}")
            if log and lo <= 0:
                raise SweepError(f"{path}.low must be > 0 for a log range; got {lo!r}")
            self.axes[key] = {"low": lo, "high": hi, "log": log, "int": as_int}

    @property
    def keys(self) -> list[str]:
        return list(self.axes)

    def settings(self) -> list[dict[str, Any]]:
        rng = _random.Random(self.seed)
        out = []
        for _ in range(self.n):
            point = {}
            for key, dist in self.axes.items():
                if "choices" in dist:
                    point[key] = dist["choices"][rng.randrange(len(dist["choices"]))]
                    continue
                lo, hi = dist["low"], dist["high"]
                if dist["log"]:
                    value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
                else:
                    value = rng.uniform(lo, hi)
                point[key] = int(round(value)) if dist["int"] else float(value)
            out.append(point)
        return out


class Points(Axes):
    """An explicit list of partial settings (``[{dotted key: value}, ...]``)."""

    def __init__(self, points: Sequence[Mapping[str, Any]], where: str = "points"):
        self.where = where
        if isinstance(points, (str, bytes, Mapping)) or not isinstance(points, Iterable):
            raise SweepError(f"{where}: expected a list of mappings; got {points!r}")
        points = list(points)
        if not points:
            raise SweepError(f"{where}: the list is empty; give at least one point")
        self.points = []
        for i, p in enumerate(points):
            if not isinstance(p, Mapping):
                raise SweepError(f"{where}[{i}]: expected a mapping of dotted key -> value; got {p!r}")
            self.points.append({_check_key(k, f"{where}[{i}]"): _plain(v, f"{where}[{i}].{k}") for k, v in p.items()})

    @property
    def keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for p in self.points:
            keys.update(dict.fromkeys(p))
        return list(keys)

    def settings(self) -> list[dict[str, Any]]:
        return [dict(p) for p in self.points]


@dataclass
class Space:
    """``base`` setting x the cross product of ``axes`` blocks (see module docstring)."""

    base: dict[str, Any] = field(default_factory=dict)
    axes: list[Axes] = field(default_factory=list)
    where: str = "space"

    def __post_init__(self):
        if not isinstance(self.base, Mapping):
            raise SweepError(f"{self.where}.base: expected a mapping of dotted key -> value; got {self.base!r}")
        self.base = {_check_key(k, f"{self.where}.base"): _plain(v, f"{self.where}.base.{k}") for k, v in self.base.items()}
        if isinstance(self.axes, Axes):
            self.axes = [self.axes]
        seen: dict[str, str] = {}
        for block in self.axes:
            if not isinstance(block, Axes):
                raise SweepError(f"{self.where}: axes must be Grid, Zip, Random or Points; got {type(block).__name__}")
            for key in block.keys:
                if key in seen:
                    raise SweepError(f"{block.where}.{key}: axis also set in {seen[key]}; each key may vary in one block")
                seen[key] = block.where

    @property
    def axis_keys(self) -> list[str]:
        keys: list[str] = []
        for block in self.axes:
            keys.extend(block.keys)
        return keys

    def settings(self) -> Iterator[tuple[dict[str, Any], str]]:
        blocks = [block.settings() for block in self.axes] or [[{}]]
        for combo in itertools.product(*blocks):
            setting = dict(self.base)
            for part in combo:
                setting.update(part)
            yield setting, self.where

    def points(self) -> list[Point]:
        return _number(self.settings())

    def __len__(self) -> int:
        n = 1
        for block in self.axes:
            n *= len(block.settings())
        return n

    def __or__(self, other: "Space | Union") -> "Union":
        return Union([self, other])


@dataclass
class Union:
    """The points of several spaces, one after another (duplicates, by id, kept once)."""

    spaces: list[Any]
    where: str = "spaces"

    def __post_init__(self):
        flat = []
        for s in self.spaces:
            flat.extend(s.spaces if isinstance(s, Union) else [s])
        if not flat:
            raise SweepError(f"{self.where}: the list of spaces is empty")
        self.spaces = flat

    @property
    def axis_keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for s in self.spaces:
            keys.update(dict.fromkeys(s.axis_keys))
        return list(keys)

    def settings(self) -> Iterator[tuple[dict[str, Any], str]]:
        for s in self.spaces:
            yield from s.settings()

    def points(self) -> list[Point]:
        return _number(self.settings())

    def __len__(self) -> int:
        return len(self.points())

    def __or__(self, other) -> "Union":
        return Union([self, other])


def _number(settings: Iterable[tuple[dict[str, Any], str]]) -> list[Point]:
    points, seen = [], set()
    for setting, where in settings:
        pid = point_id(setting)
        if pid in seen:
            continue
        seen.add(pid)
        points.append(Point(len(points), pid, setting, where))
    return points


# --- spec files -------------------------------------------------------------------------------

SPEC_KEYS = ("name", "description", "base", "grid", "zip", "random", "points", "spaces", "detail", "evaluate",
             "objectives", "report")
_SPACE_KEYS = ("base", "grid", "zip", "random", "points", "name")


def _space_from_dict(data: Mapping[str, Any], base: Mapping[str, Any], where: str) -> Space:
    own_base = data.get("base", {}) or {}
    if not isinstance(own_base, Mapping):
        raise SweepError(f"{where}.base: expected a mapping of dotted key -> value; got {own_base!r}")
    blocks: list[Axes] = []
    prefix = f"{where}." if where != "spec" else ""
    if "grid" in data:
        blocks.append(Grid(data["grid"], where=f"{prefix}grid"))
    if "zip" in data:
        blocks.append(Zip(data["zip"], where=f"{prefix}zip"))
    if "random" in data:
        r = data["random"]
        if not isinstance(r, Mapping):
            raise SweepError(f"{prefix}random: expected {{n: N, seed: S, axes: {{...}}}}; got {r!r}")
        unknown = set(r) - {"n", "seed", "axes"}
        if unknown:
            raise SweepError(f"{prefix}random: unknown key {sorted(unknown)[0]!r}; valid keys: axes, n, seed")
        blocks.append(Random(r.get("axes"), r.get("n"), r.get("seed", 0), where=f"{prefix}random"))
    if "points" in data:
        blocks.append(Points(data["points"], where=f"{prefix}points"))
    return Space(base={**base, **own_base}, axes=blocks, where=where)


def space_from_spec(spec: Mapping[str, Any], source: str = "spec") -> Space | Union:
    """Build a space from a parsed spec mapping (see ``docs/tutorial.md`` for the format)."""
    import difflib

    if not isinstance(spec, Mapping):
        raise SweepError(f"{source}: a sweep spec must be a mapping with base and grid/zip/random/points/spaces")
    for key in spec:
        if key not in SPEC_KEYS:
            close = difflib.get_close_matches(str(key), SPEC_KEYS, n=2, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}?" if close else f"valid keys: {', '.join(SPEC_KEYS)}"
            raise SweepError(f"{source}: {key}: unknown key; {hint}")
    base = spec.get("base", {}) or {}
    if not isinstance(base, Mapping):
        raise SweepError(f"{source}: base: expected a mapping of dotted key -> value; got {base!r}")
    try:
        if "spaces" in spec:
            subs = spec["spaces"]
            if not isinstance(subs, list) or not subs:
                raise SweepError("spaces: expected a non-empty list of spaces (each with base and grid/zip/random/points)")
            for key in ("grid", "zip", "random", "points"):
                if key in spec:
                    raise SweepError(f"{key}: put axes inside each entry of 'spaces', not beside it")
            spaces = []
            for i, sub in enumerate(subs):
                if not isinstance(sub, Mapping):
                    raise SweepError(f"spaces[{i}]: expected a mapping; got {sub!r}")
                for key in sub:
                    if key not in _SPACE_KEYS:
                        close = difflib.get_close_matches(str(key), _SPACE_KEYS, n=2, cutoff=0.5)
                        hint = f"did you mean {' or '.join(close)}?" if close else f"valid keys: {', '.join(_SPACE_KEYS)}"
                        raise SweepError(f"spaces[{i}].{key}: unknown key; {hint}")
                spaces.append(_space_from_dict(sub, base, f"spaces[{i}]"))
            return Union(spaces)
        return _space_from_dict(spec, base, "spec")
    except SweepError as exc:
        msg = str(exc)
        if msg.startswith("spec."):
            msg = msg[5:]
        raise SweepError(f"{source}: {msg}") from None


def read_spec(path: str | Path) -> dict[str, Any]:
    """Read a sweep spec YAML file (errors name the file)."""
    from accelsim.config import read_yaml_file

    data = read_yaml_file(path, error=SweepError)
    if not isinstance(data, dict):
        raise SweepError(f"{path}: a sweep spec must be a mapping with base and grid/zip/random/points/spaces")
    return data


def as_space(space: Any) -> tuple[Space | Union, dict[str, Any], str]:
    """Accept a Space, Union, spec mapping or spec path; return (space, spec mapping, source label)."""
    if isinstance(space, (Space, Union)):
        return space, {}, "space"
    if isinstance(space, (str, Path)):
        spec = read_spec(space)
        return space_from_spec(spec, str(space)), spec, str(space)
    if isinstance(space, Mapping):
        return space_from_spec(space, "spec"), dict(space), "spec"
    raise SweepError(f"a sweep space must be a Space, a spec mapping or a spec file path; got {type(space).__name__}")
