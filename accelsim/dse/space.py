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

A spec file's shape is declared on :mod:`accelsim.config` (:class:`SpecFields`: the top-level keys;
:class:`SpaceFields`: an entry of ``spaces``; :class:`RandomFields` / :class:`RandomAxis`: the
``random`` block; :class:`ReportFields`: the ``report`` section) and checked as a whole before any
space is built: one SweepError names every problem with its path, e.g. ``examples/x.yaml:
spaces[1].grid must be a mapping of axis -> list of values; got 3``. Axis names are free dotted keys:
the schema checks the spec's shape, the evaluator what each point means. The Python classes above
check their arguments against the same declarations (:func:`accelsim.config.check_field`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random as _random
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from accelsim.accuracy.spec import EvaluateFields
from accelsim.config import check_field, collect, given, param, to_dict
from accelsim.errors import SweepError
from accelsim.report.pareto import DIRECTIONS

_SCALARS = (str, int, float, bool, type(None))
_AXIS_LISTS = "mapping of axis -> list of values"
_DISTRIBUTIONS = "mapping of axis -> {choices: [...]} or {low: x, high: y}"
BLOCKS = ("grid", "zip", "zips", "random", "points")
#: points one sweep may hold: its count (the product of the axis lengths) is checked before any point is built
MAX_POINTS = 10**6


def _fail(problems: Sequence[str], source: str = "") -> None:
    """Raise one SweepError listing every problem (after ``source: `` when given); nothing if none."""
    if problems:
        raise SweepError((f"{source}: " if source else "") + "; ".join(problems))




def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _plain(value: Any, where: str, problems: list[str]) -> Any:
    """A JSON-able copy of an axis value (NumPy scalars become Python scalars); problems appended."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"{where} must be finite; got {value!r}")
        return value
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}", problems) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    problems.append(f"{where} must be a number, string, boolean, list or mapping; got {value!r}")
    return value


_ATOMS = frozenset({str, int, bool, type(None)})


def _canon(value: Any) -> Any:
    """``value`` as the field it sets compares it: a float with an integral value as the int (an int field converts
    8.0 to 8, a float field 8 to 8.0: either way one value), inside lists and mappings too; booleans stay booleans.
    A value with nothing to change is returned itself (the same object), so a caller can tell by identity that its
    JSON text is already the canonical one (:func:`_number`: a sweep numbers up to :data:`MAX_POINTS` points)."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is float:
        return int(value) if math.isfinite(value) and value.is_integer() else value
    if kind is dict or isinstance(value, Mapping):
        out, changed = {}, kind is not dict
        for k, v in value.items():
            ck, cv = str(k), _canon(v)
            changed = changed or ck is not k or cv is not v
            out[ck] = cv
        return out if changed else value
    if kind is list or isinstance(value, (list, tuple)):
        items = [_canon(v) for v in value]
        return value if kind is list and all(c is v for c, v in zip(items, value)) else items
    return value


def same_text(value: Any) -> str:
    """The text two axis values or settings share when they set the same thing (:func:`_canon`): what duplicate
    values and points are found by (``[8, 8.0, 16]`` is two values, not three)."""
    return json.dumps(_canon(value), sort_keys=True, separators=(",", ":"), default=str)


def _check_key(key: Any, where: str, problems: list[str]) -> Any:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        problems.append(f"{where} axis names must be dotted paths such as arch.array.rows; got {key!r}")
    return key


def _as_list(values: Any) -> Any:
    """A value list given to the Python API as a list (ranges, tuples, NumPy arrays); other values as given."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        return values
    return list(values)


# --- the rules of each block beyond its declared shape (shared by the spec schema and the Python API) -----
def _setting(data: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    """A partial setting: dotted axis names, JSON-able values."""
    return {_check_key(k, where, problems): _plain(v, f"{where}.{k}", problems) for k, v in data.items()}


def _axis_values(axes: Mapping[str, list] | None, where: str, problems: list[str], lockstep: bool = False) -> dict:
    """A grid / zip block: at least one axis, dotted names, non-empty lists of JSON-able values
    (equal lengths when the lists are taken in ``lockstep``)."""
    if not axes:
        problems.append(f"{where} must be a non-empty {_AXIS_LISTS}; got {axes!r}")
        return {}
    out = {}
    for key, values in axes.items():
        _check_key(key, where, problems)
        if not values:
            problems.append(f"{where}.{key} must be a non-empty list of values; got {values!r}")
        out[key] = [_plain(v, f"{where}.{key}[{i}]", problems) for i, v in enumerate(values)]
        if not lockstep:  # a grid axis value given twice would run once: the axis the user wrote is not what runs
            texts = [same_text(v) for v in out[key]]  # 8 and 8.0 set the same value
            twice = next((i for i, t in enumerate(texts) if t in texts[:i]), None)
            if twice is not None:
                first = out[key][texts.index(texts[twice])]
                shown = [json.dumps(v, sort_keys=True) for v in (first, out[key][twice])]
                problems.append(f"{where}.{key} lists {shown[0]} more than once; each value of a grid axis is one point"
                                if shown[0] == shown[1] else
                                f"{where}.{key} lists {shown[0]} and {shown[1]}, the same value; each value of a grid "
                                "axis is one point")
    lengths = {k: len(v) for k, v in out.items()}
    if lockstep and len(set(lengths.values())) > 1:
        text = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        problems.append(f"{where} axes must have equal lengths (taken in lockstep); got {text}")
    return out


def _random_axes(axes: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, dict[str, Any]]:
    """The axes of a random block (values :class:`RandomAxis` or a list of choices), normalized to
    ``{choices: [...]}`` or ``{low, high, log, int}``."""
    if not axes:
        problems.append(f"{where} must be a non-empty {_DISTRIBUTIONS}; got {axes!r}")
    out: dict[str, dict[str, Any]] = {}
    for key, dist in axes.items():
        _check_key(key, where, problems)
        path = f"{where}.{key}"
        if isinstance(dist, list):
            if not dist:
                problems.append(f"{path} must be a non-empty list of values; got []")
            out[key] = {"choices": [_plain(v, f"{path}[{i}]", problems) for i, v in enumerate(dist)]}
        elif dist.choices is not None:
            out[key] = {"choices": [_plain(v, f"{path}.choices[{i}]", problems) for i, v in enumerate(dist.choices)]}
        else:
            out[key] = {"low": dist.low, "high": dist.high, "log": dist.log, "int": dist.int}
    return out


def _point_list(points: Sequence[Mapping[str, Any]] | None, where: str, problems: list[str]) -> list[dict]:
    """A points block: at least one point, each a partial setting."""
    if not points:
        problems.append(f"{where} must be a non-empty list of mappings of axis -> value; got {points!r}")
        return []
    out = [_setting(p, f"{where}[{i}]", problems) for i, p in enumerate(points)]
    # a point given twice would run once (as a grid value given twice): what the user wrote is not what runs
    texts = [same_text(p) for p in out]  # {rows: 8} and {rows: 8.0} are one point
    for i, t in enumerate(texts):
        if t in texts[:i]:
            shown = json.dumps(out[i], sort_keys=True, default=str)
            problems.append(f"{where}[{i}] repeats {where}[{texts.index(t)}] ({shown}); each listed point runs once")
    return out


def _one_block_per_axis(blocks: Iterable[tuple[str, Iterable[str]]], problems: list[str]) -> None:
    """Each axis may vary in one block: ``[(block path, its axis names), ...]``."""
    seen: dict[str, str] = {}
    for where, keys in blocks:
        for key in keys:
            if key in seen:
                problems.append(f"{where}.{key}: axis also set in {seen[key]}; each key may vary in one block")
            else:
                seen[key] = where


# --- the declared shape of a sweep spec -----------------------------------------------------------------
@dataclass(frozen=True)
class RandomAxis:
    """One axis of a ``random`` block: ``choices`` drawn with equal probability, or a uniform
    (``log``: log-uniform) range from ``low`` to ``high``. A list ``[a, b]`` is short for ``{choices: [a, b]}``."""

    choices: list[Any] | None = param(None, doc="values drawn with equal probability")
    # |low|, |high| <= 1e18: over any physical setting (1 TiB = 1.1e12 B, 1e15 B/s); the field an axis sets checks its own
    low: float | None = param(None, ge=-1e18, le=1e18, doc="lower end of the range, in the axis's unit (required without choices)")
    high: float | None = param(None, ge=-1e18, le=1e18, doc="upper end of the range, in the axis's unit (required without choices)")
    log: bool = param(False, doc="draw log-uniformly (needs low > 0)")
    # declared last: from here on in the class body the name ``int`` is this field's default, not the builtin
    int: bool = param(False, doc="round each draw to an integer")

    def validate(self) -> list[str]:
        if self.choices is not None:
            out = [] if self.choices else ["choices must be a non-empty list of values; got []"]
            return out + [f"{k}: give choices or low and high, not both" for k in ("low", "high")
                          if getattr(self, k) is not None]
        missing = [f"{k} is required (or give choices)" for k in ("low", "high") if getattr(self, k) is None]
        if missing:
            return missing
        if self.high < self.low:
            return [f"high must be >= low ({_num(self.low)}); got {_num(self.high)}"]
        if self.log and self.low <= 0:
            return [f"low must be > 0 for a log range; got {_num(self.low)}"]
        return []


@dataclass(frozen=True)
class RandomFields:
    """The ``random`` block: ``n`` points drawn with ``seed``, each taking one draw of every axis."""

    n: int = param(ge=1, le=MAX_POINTS, unit="points", doc="number of points drawn (<= MAX_POINTS, the sweep bound)")
    axes: dict[str, RandomAxis | list[Any]] = param(
        expect=f"a {_DISTRIBUTIONS}",
        doc="axis -> its distribution (RandomAxis) or a list of choices")
    seed: int = param(0, ge=0, le=2**63 - 1, doc="seed of the draws: the same seed gives the same points (0 to 2^63 - 1)")

    def validate(self) -> list[str]:
        problems: list[str] = []
        _random_axes(self.axes, "axes", problems)
        return problems


@dataclass(frozen=True)
class SpaceFields:
    """One space: a ``base`` setting and the axes blocks crossed over it (an entry of ``spaces``).

    Axis names are free dotted keys (``arch.<path>``, ``recipe.<step>.<param>``, ``tag.<label>``,
    ``workload``, ...): the schema checks the shape, the evaluator what each point means.
    """

    name: str | None = param(None, doc="label of the space (free text)")
    base: dict[str, Any] | None = param(None, expect="a mapping of axis -> value",
                                        doc="setting every point starts from (over the spec's base)")
    grid: dict[str, list[Any]] | None = param(None, expect=f"a {_AXIS_LISTS}",
                                              doc="axis -> values: the cartesian product (first axis slowest)")
    zip: dict[str, list[Any]] | None = param(None, expect=f"a {_AXIS_LISTS}",
                                             doc="axis -> values of equal length, taken in lockstep")
    zips: dict[str, dict[str, list[Any]]] | None = param(
        None, expect=f"a mapping of name -> zip block (a {_AXIS_LISTS})",
        doc="several named zip blocks, each taken in lockstep and crossed with the others and the other blocks")
    random: RandomFields | None = param(None, expect="a mapping with n, seed and axes",
                                        doc="n points drawn with a fixed seed")
    points: list[dict[str, Any]] | None = param(None, expect="a list of mappings of axis -> value",
                                                doc="explicit partial settings")

    def validate(self) -> list[str]:
        problems: list[str] = []
        _setting(self.base or {}, "base", problems)
        blocks = [(name, list(_axis_values(getattr(self, name), name, problems, lockstep=name == "zip")))
                  for name in ("grid", "zip") if getattr(self, name) is not None]
        if self.zips is not None and not self.zips:
            problems.append("zips must name at least one zip block; got {}")
        for zname, block in (self.zips or {}).items():
            blocks.append((f"zips.{zname}", list(_axis_values(block, f"zips.{zname}", problems, lockstep=True))))
        if self.random is not None:
            blocks.append(("random", list(self.random.axes)))
        if self.points is not None:
            blocks.append(("points", dict.fromkeys(k for p in _point_list(self.points, "points", problems) for k in p)))
        _one_block_per_axis(blocks, problems)
        return problems


@dataclass(frozen=True)
class ParetoOptions:
    """``report.pareto``: the axes and colour of the Pareto scatter."""

    x: str | None = param(None, doc="result column on the x axis (default: the first objective)")
    y: str | None = param(None, doc="result column on the y axis (default: the second objective)")
    color: str | None = param(None, doc="column colouring the points (default: the first axis that varies)")


@dataclass(frozen=True)
class TradeoffOptions:
    """``report.tradeoff``: the columns of the compression-ratio-vs-speedup figure."""

    group: str | None = param(None, doc="column naming the hardware of each curve (default: family or arch_name)")
    ratio: str | None = param(None, doc="column of the compression level, e.g. a ratio tag (default: recipe)")


@dataclass(frozen=True)
class ReportFields:
    """The ``report`` section: options of ``accelsim report`` (:mod:`accelsim.dse.report`)."""

    pareto: ParetoOptions | None = param(None, expect="a mapping with x, y and color",
                                         doc="axes and colour of the Pareto scatter")
    top_k: int = param(5, ge=1, le=MAX_POINTS, unit="points", doc="rows of each objective's top-k table (<= MAX_POINTS)")
    tradeoff: TradeoffOptions | bool = param(True, expect="a mapping with group and ratio, or true or false",
                                             doc="columns of the compression-ratio-vs-speedup figure; false: no figure")
    breakdown_point: str | None = param(None, doc="id of the point in the per-layer breakdown (default: the fastest)")
    group_by: list[str] | None = param(None, expect="a list of result columns ([] for no groups)",
                                       doc="columns whose groups get their own front, top-k and effects "
                                           "(default: workload and batch where they vary)")


@dataclass(frozen=True)
class SpecFields(SpaceFields):
    """A sweep spec file (``docs/tutorial.md``): one space (``base`` and blocks), or ``spaces`` whose
    points are concatenated, each merged over the spec's ``base``; plus how to run and report it."""

    name: str | None = param(None, doc="name of the sweep (the report's title; default: the file name)")
    description: str | None = param(None, doc="free text shown under the report's title")
    spaces: list[SpaceFields] | None = param(None,
                                             expect="a list of spaces (each with base and grid/zip/random/points)",
                                             doc="spaces whose points are concatenated (e.g. one per hardware family)")
    detail: bool = param(False, doc="also record per-layer rows (layers.csv): roofline and breakdown figures")
    evaluate: str | EvaluateFields | None = param(
        None, expect="'package.module:function' or a mapping with data (and model, metrics, batch_size, seq_len)",
        doc="'package.module:function' evaluating a setting (default: simulate it); a mapping: also the accuracy "
            "of each point's compressed model (accelsim.accuracy.spec.EvaluateFields, docs/accuracy.md)")
    objectives: dict[str, str] | None = param(None, choices=DIRECTIONS, expect="a mapping of column -> min|max",
                                              doc="result column -> min | max: Pareto front, top-k and sensitivity")
    report: ReportFields | None = param(None,
                                        expect="a mapping of report options (pareto, top_k, tradeoff, breakdown_point, group_by)",
                                        doc="options of accelsim report")

    def validate(self) -> list[str]:
        problems = super().validate()
        if self.spaces is not None:
            if not self.spaces:
                problems.append("spaces must be a non-empty list of spaces; got []")
            problems += [f"{name}: put the axes inside each entry of spaces, not beside it"
                         for name in BLOCKS if getattr(self, name) is not None]
        if self.objectives is not None and not self.objectives:
            problems.append("objectives must name at least one column (column: min | max); got {} "
                            "(leave the key out for no Pareto front)")
        if isinstance(self.evaluate, str) and ":" not in self.evaluate:
            problems.append(f"evaluate must be 'package.module:function'; got {self.evaluate!r}")
        return problems


SPEC_KEYS = tuple(f.name for f in fields(SpecFields))  # the top-level keys of a spec


def fold_workload_params(setting: dict[str, Any], where: str = "space") -> dict[str, Any]:
    """Workload parameters as axes: ``workload.<key>`` entries (``workload.context: [1024, 4096]``,
    ``workload.seq``, ``workload.image``, ``workload.phase``, ...) folded into the workload's parametric name
    (``llama.json?phase=decode&context=4096``, :func:`accelsim.workload.zoo.split_params`), in key order."""
    keys = sorted(k for k in setting if k.startswith("workload.") and k.count(".") == 1)
    if not keys:
        return setting
    if not isinstance(setting.get("workload"), str):
        _fail([f"{where}: {', '.join(keys)} need a workload given by name or path; got {setting.get('workload')!r}"])
    name = setting["workload"]
    sep = "&" if "?" in name else "?"
    for k in keys:
        value = setting[k]
        if not isinstance(value, (int, str)) or isinstance(value, bool) or not str(value) or "&" in str(value):
            _fail([f"{where}: {k} must be an int or a word; got {given(value)}"])
        name += f"{sep}{k[len('workload.'):]}={value}"
        sep = "&"
    out = {k: v for k, v in setting.items() if k not in keys}
    out["workload"] = name
    return out


def _id_text(setting: Mapping[str, Any]) -> str:
    """The JSON text a setting's id is the digest of (sorted keys, no spaces)."""
    return json.dumps(setting, sort_keys=True, separators=(",", ":"))


def _id_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def point_id(setting: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit id of a setting: SHA-256 of its canonical JSON (sorted keys)."""
    return _id_of(_id_text(setting))


@dataclass(frozen=True)
class Point:
    """One design point: its position in the space, its id and its full setting."""

    index: int
    id: str
    setting: dict[str, Any]
    source: str = ""  # where in the spec the point came from, for error messages


class Axes:
    """A block of axes producing a list of partial settings."""

    where = "axes"

    def settings(self) -> list[dict[str, Any]]:  # pragma: no cover - interface
        raise NotImplementedError

    def count(self) -> int:
        """Settings this block yields; blocks override it to count without building them."""
        return len(self.settings())

    @property
    def keys(self) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError


def _axes_block(block: str, axes: Any, where: str) -> dict[str, list[Any]]:
    """A grid / zip block given to the Python API, checked as a spec's ``SpaceFields.<block>``."""
    if isinstance(axes, Mapping):
        axes = {k: _as_list(v) for k, v in axes.items()}
    problems: list[str] = []
    axes = check_field(SpaceFields, block, axes, problems, where)
    out = {} if problems else _axis_values(axes, where, problems, lockstep=block == "zip")
    _fail(problems)
    return out


class Grid(Axes):
    """Cartesian product of ``{dotted key: [values]}`` (first key varies slowest)."""

    def __init__(self, axes: Mapping[str, Sequence[Any]], where: str = "grid"):
        self.where = where
        self.axes = _axes_block("grid", axes, where)

    @property
    def keys(self) -> list[str]:
        return list(self.axes)

    def count(self) -> int:
        """Settings this block yields (the product of the axis lengths), without building them."""
        return math.prod(len(v) for v in self.axes.values())

    def settings(self) -> list[dict[str, Any]]:
        keys = list(self.axes)
        return [dict(zip(keys, combo)) for combo in itertools.product(*self.axes.values())]


class Zip(Axes):
    """Value lists of equal length, taken in lockstep (point i uses the i-th value of every key)."""

    def __init__(self, axes: Mapping[str, Sequence[Any]], where: str = "zip"):
        self.where = where
        self.axes = _axes_block("zip", axes, where)

    @property
    def keys(self) -> list[str]:
        return list(self.axes)

    def count(self) -> int:
        return min((len(v) for v in self.axes.values()), default=0)

    def settings(self) -> list[dict[str, Any]]:
        keys = list(self.axes)
        return [dict(zip(keys, combo)) for combo in zip(*self.axes.values())]


def _distribution(dist: Any) -> Any:
    """A random-axis distribution given to the Python API in the form a spec declares."""
    if isinstance(dist, RandomAxis):
        return {k: v for k, v in to_dict(dist).items() if v is not None}
    if isinstance(dist, Mapping):
        return {k: (_as_list(v) if k == "choices" else v) for k, v in dist.items()}
    return _as_list(dist)


class Random(Axes):
    """``n`` points sampled with ``seed``; each axis is ``{choices: [...]}`` or ``{low, high[, log][, int]}``
    (:class:`RandomAxis`; a list is short for its choices).

    ``log: true`` samples log-uniformly (``low`` > 0); ``int: true`` rounds to an integer. The same
    seed always yields the same points.
    """

    def __init__(self, axes: Mapping[str, Any], n: int, seed: int = 0, where: str = "random"):
        self.where = where
        if isinstance(axes, Mapping):
            axes = {k: _distribution(d) for k, d in axes.items()}
        problems: list[str] = []
        block = check_field(SpaceFields, "random", {"n": n, "seed": seed, "axes": axes}, problems, where)
        _fail(problems)
        self.n, self.seed = block.n, block.seed
        self.axes: dict[str, dict[str, Any]] = _random_axes(block.axes, f"{where}.axes", problems)

    @property
    def keys(self) -> list[str]:
        return list(self.axes)

    def count(self) -> int:
        return self.n

    def distinct(self) -> float:
        """How many distinct points the axes hold (inf with a continuous range)."""
        size = 1.0
        for dist in self.axes.values():
            if "choices" in dist:
                size *= len({same_text(c) for c in dist["choices"]})
            elif dist["int"]:
                size *= max(1, math.floor(dist["high"] + 0.5) - math.ceil(dist["low"] - 0.5) + 1)
            else:
                size = math.inf
        return size

    def settings(self) -> list[dict[str, Any]]:
        """``n`` distinct points: a draw equal to an earlier one is drawn again (the same seed, the same points);
        axes holding fewer than ``n`` distinct points are refused."""
        distinct = self.distinct()
        if distinct < self.n:
            raise SweepError(f"{self.where}: n is {self.n} but its axes hold {int(distinct)} distinct points; "
                             "lower n or list them in a grid")
        rng = _random.Random(self.seed)
        out, seen = [], set()
        for _ in range(100 * self.n + 10_000):  # (edge values a rounded range reaches with probability ~0)
            if len(out) == self.n:
                break
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
            drawn = same_text(point)
            if drawn not in seen:
                seen.add(drawn)
                out.append(point)
        if len(out) < self.n:
            raise SweepError(f"{self.where}: {100 * self.n + 10_000} draws gave {len(out)} distinct points of the "
                             f"{self.n} asked; lower n or widen the axes")
        return out


class Points(Axes):
    """An explicit list of partial settings (``[{dotted key: value}, ...]``)."""

    def __init__(self, points: Sequence[Mapping[str, Any]], where: str = "points"):
        self.where = where
        points = _as_list(points)
        if isinstance(points, list):
            points = [dict(p) if isinstance(p, Mapping) else p for p in points]
        problems: list[str] = []
        points = check_field(SpaceFields, "points", points, problems, where)
        self.points = [] if problems else _point_list(points, where, problems)
        _fail(problems)

    @property
    def keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for p in self.points:
            keys.update(dict.fromkeys(p))
        return list(keys)

    def count(self) -> int:
        return len(self.points)

    def settings(self) -> list[dict[str, Any]]:
        return [dict(p) for p in self.points]


@dataclass
class Space:
    """``base`` setting x the cross product of ``axes`` blocks (see module docstring)."""

    base: dict[str, Any] = field(default_factory=dict)
    axes: list[Axes] = field(default_factory=list)
    where: str = "space"

    def __post_init__(self):
        problems: list[str] = []
        base = dict(self.base) if isinstance(self.base, Mapping) else self.base
        base = check_field(SpaceFields, "base", base, problems, f"{self.where}.base")
        self.base = {} if problems else _setting(base or {}, f"{self.where}.base", problems)
        if isinstance(self.axes, Axes):
            self.axes = [self.axes]
        problems += [f"{self.where} axes must be Grid, Zip, Random or Points blocks; got {type(block).__name__}"
                     for block in self.axes if not isinstance(block, Axes)]
        _one_block_per_axis([(b.where, b.keys) for b in self.axes if isinstance(b, Axes)], problems)
        _fail(problems)

    @property
    def axis_keys(self) -> list[str]:
        keys: list[str] = []
        for block in self.axes:
            keys.extend(block.keys)
        return keys

    def count(self) -> int:
        """Points before duplicates are merged: the product of the blocks' counts (nothing is built)."""
        return math.prod(block.count() for block in self.axes)

    def settings(self) -> Iterator[tuple[dict[str, Any], str]]:
        _check_count(self.count(), self.where)
        blocks = [block.settings() for block in self.axes] or [[{}]]
        for combo in itertools.product(*blocks):
            setting = dict(self.base)
            for part in combo:
                setting.update(part)
            yield fold_workload_params(setting, self.where), self.where

    def points(self, normalize: Callable | None = None) -> list[Point]:
        """The space's points, numbered, duplicates dropped (:func:`_number`, ``normalize`` applied first)."""
        return _number(self.settings(), normalize)

    def __len__(self) -> int:
        return self.count()

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
        _fail([f"{self.where} must be a non-empty list of spaces; got []"] if not flat else [])
        self.spaces = flat

    @property
    def axis_keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for s in self.spaces:
            keys.update(dict.fromkeys(s.axis_keys))
        return list(keys)

    def count(self) -> int:
        return sum(s.count() for s in self.spaces)

    def settings(self) -> Iterator[tuple[dict[str, Any], str]]:
        _check_count(self.count(), self.where)
        for s in self.spaces:
            yield from s.settings()

    def points(self, normalize: Callable | None = None) -> list[Point]:
        """The space's points, numbered, duplicates dropped (:func:`_number`, ``normalize`` applied first)."""
        return _number(self.settings(), normalize)

    def __len__(self) -> int:
        return len(self.points())

    def __or__(self, other) -> "Union":
        return Union([self, other])


def _check_count(count: int, where: str) -> None:
    """Refuse a space of more than MAX_POINTS points before any is built (one line naming the count)."""
    if count > MAX_POINTS:
        raise SweepError(f"{where}: {count} points (the product of the axis lengths) is over the limit of "
                         f"{MAX_POINTS} points per sweep; split the sweep or sample it with a random block")


def _number(settings: Iterable[tuple[dict[str, Any], str]], normalize: Callable | None = None) -> list[Point]:
    """Points of the settings (each passed through ``normalize`` first when given: an evaluator's defaults made
    explicit), each kept once: a setting equal to an earlier one (:func:`same_text`: 8 and 8.0 alike, as in the
    spaces of a union) is dropped. One JSON text a point serves both its id and the duplicate test where the
    setting is already canonical (the common case: about 3x faster on a grid of :data:`MAX_POINTS` points)."""
    points, seen = [], set()
    for setting, where in settings:
        if normalize is not None:
            setting = normalize(setting)
        canon = _canon(setting)
        text = _id_text(setting)
        same = text if canon is setting else same_text(canon)  # (same_text of a canonical value: its own text)
        if same in seen:
            continue
        seen.add(same)
        points.append(Point(len(points), _id_of(text), setting, where))
    return points


# --- spec files -------------------------------------------------------------------------------

def spec_fields(spec: Any, source: str = "spec") -> SpecFields:
    """Check a parsed spec against its declaration (:class:`SpecFields`); one SweepError names every
    problem with its path (``examples/x.yaml: spaces[1].grid must be a mapping of axis -> list of values; got 3``)."""
    if not isinstance(spec, Mapping):
        _fail([f"a sweep spec must be a mapping with base and grid/zip/random/points/spaces; got {spec!r}"], source)
    problems: list[str] = []
    checked = collect(SpecFields, spec, problems)
    _fail(problems, source)
    return checked


def _space(data: SpaceFields, base: Mapping[str, Any], where: str, source: str = "") -> Space:
    """The space of one checked spec (or entry of ``spaces``), its base merged over ``base``."""
    prefix = f"{where}." if where != "spec" else ""
    blocks: list[Axes] = []
    if data.grid is not None:
        blocks.append(Grid(data.grid, where=f"{prefix}grid"))
    if data.zip is not None:
        blocks.append(Zip(data.zip, where=f"{prefix}zip"))
    for zname, block in (data.zips or {}).items():  # several named zips: each in lockstep, crossed with the rest
        blocks.append(Zip(block, where=f"{prefix}zips.{zname}"))
    if data.random is not None:
        blocks.append(Random(data.random.axes, data.random.n, data.random.seed, where=f"{prefix}random"))
    if data.points is not None:
        blocks.append(Points(data.points, where=f"{prefix}points"))
    # a key of this space's own base that a grid / zip / random axis of it also sets is never used (a points block
    # may set a key in some points only: the base holds for the others)
    own = data.base or {}
    shadowed = [(b.where, key) for b in blocks if not isinstance(b, Points) for key in b.keys if key in own]
    if shadowed:
        block, key = shadowed[0]
        _fail([f"{prefix}base.{key}: also an axis of this space ({block}.{key}), whose values every point takes; "
               f"the base's {json.dumps(own[key])} would never be used: remove it from one of the two"], source)
    return Space(base={**base, **(data.base or {})}, axes=blocks, where=where)


def space_from_spec(spec: Mapping[str, Any], source: str = "spec") -> Space | Union:
    """Build a space from a parsed spec mapping (see ``docs/tutorial.md`` for the format), checked
    first as a whole against :class:`SpecFields`."""
    checked = spec_fields(spec, source)
    base = checked.base or {}
    if checked.spaces is not None:
        return Union([_space(sub, base, f"spaces[{i}]", source) for i, sub in enumerate(checked.spaces)])
    return _space(checked, base, "spec", source)


def read_spec(path: str | Path) -> dict[str, Any]:
    """Read a sweep spec YAML file and check it against :class:`SpecFields` (errors name the file)."""
    from accelsim.config import read_yaml_file

    data = read_yaml_file(path, error=SweepError)
    spec_fields(data, str(path))
    return data


def as_space(space: Any) -> tuple[Space | Union, dict[str, Any], str]:
    """Accept a Space, Union, spec mapping or spec path; return (space, spec mapping, source label)."""
    if isinstance(space, (Space, Union)):
        return space, {}, "space"
    if isinstance(space, (str, Path)):
        spec = read_spec(space)
        built = space_from_spec(spec, str(space))
        _check_count(built.count(), str(space))  # named by the file (expanding it names the block)
        return built, spec, str(space)
    if isinstance(space, Mapping):
        return space_from_spec(space, "spec"), dict(space), "spec"
    raise SweepError(f"a sweep space must be a Space, a spec mapping or a spec file path; got {type(space).__name__}")
